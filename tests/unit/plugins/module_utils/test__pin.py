# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Digest pinning plans (config.toml data + runner_auth_info rows -> runner_config runners)."""

from __future__ import annotations

import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.filter.pin import pinned_runners
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _pin as pin

OLD = "sha256:" + "1" * 64
NEW = "sha256:" + "2" * 64
SVC = "sha256:" + "3" * 64

CONFIG = """
[[runners]]
  name = "build"
  executor = "docker"
  token = "glrt-secret"
  [runners.docker]
    image = "reg.tld/ns/app:1"
    [[runners.docker.services]]
      name = "postgres:16"
      alias = "db"
      environment = ["POSTGRES_PASSWORD=pw"]
[[runners]]
  name = "shell"
  executor = "shell"
"""


def row(runner, origin, status="ok", digest=NEW, tag_digest=None):
    probe = {"status": status, "digest": digest, "message": "denied" if status != "ok" else ""}
    if tag_digest:
        probe["tag_digest"] = tag_digest
    return {"runner": runner, "origin": origin, "probe": probe}


@pytest.mark.parametrize("image, probe, keep, want", [
    ("reg.tld/ns/app:1", {"status": "ok", "digest": NEW}, True, ("reg.tld/ns/app:1@" + NEW, None)),
    ("reg.tld/ns/app:1", {"status": "ok", "digest": NEW}, False, ("reg.tld/ns/app@" + NEW, None)),
    ("reg.tld/ns/app", {"status": "ok", "digest": NEW}, True, ("reg.tld/ns/app:latest@" + NEW, None)),
    ("reg.tld/ns/app:1@" + OLD, {"status": "ok", "digest": OLD, "tag_digest": NEW}, True,
     ("reg.tld/ns/app:1@" + NEW, None)),
    ("reg.tld/ns/app@" + OLD, {"status": "ok", "digest": OLD}, True, (None, "pinned without a tag: no tag to follow")),
    ("reg.tld/ns/app:1", {"status": "unauthorized", "message": "no"}, True, (None, "unauthorized: no")),
    ("reg.tld/ns/app:1", None, True, (None, "not probed (run runner_auth_info with probe=true)")),
])
def test_pinned_ref(image, probe, keep, want):
    assert pin.pinned_ref(image, probe, keep) == want


def test_plan_keeps_every_other_service_key_and_skips_other_executors():
    rows = [row("build", "docker.image"), row("build", "docker.services[0]", digest=SVC)]
    plan = pinned_runners(CONFIG, rows)
    assert plan["runners"] == [{"name": "build", "docker": {
        "image": "reg.tld/ns/app:1@" + NEW,
        "services": [{"name": "postgres:16@" + SVC, "alias": "db", "environment": ["POSTGRES_PASSWORD=pw"]}]}}]
    assert plan["skipped"] == []
    assert plan["lines"] == ["build docker.image: reg.tld/ns/app:1 -> reg.tld/ns/app:1@" + NEW,
                             "build docker.services[0]: postgres:16 -> postgres:16@" + SVC]


def test_plan_is_unchanged_when_already_pinned_and_reports_failures():
    config = CONFIG.replace('"reg.tld/ns/app:1"', '"reg.tld/ns/app:1@%s"' % NEW)
    rows = [row("build", "docker.image", digest=NEW, tag_digest=NEW),
            row("build", "docker.services[0]", status="unauthorized")]
    plan = pinned_runners(config, rows, keep_tag=True)
    assert plan["pins"] == [{"runner": "build", "origin": "docker.image", "before": "reg.tld/ns/app:1@" + NEW,
                             "after": "reg.tld/ns/app:1@" + NEW, "changed": False}]
    assert [(s["origin"], s["reason"]) for s in plan["skipped"]] == [("docker.services[0]", "unauthorized: denied")]
    assert plan["runners"][0]["docker"]["services"][0]["name"] == "postgres:16"


def test_plan_for_some_runners_only():
    assert pinned_runners(CONFIG, [row("build", "docker.image")], runners=["other"])["runners"] == []
