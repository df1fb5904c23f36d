# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runner_registration's pure parts: finding the table, what is written after a create or reset, and the
runner_config desired state it hands to the one write path. GitLab itself is exercised in
tests/functional/test_runner_registration.py against the stand-in."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as core
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _gitlab_api as api
from ansible_collections.runnerkit.gitlab_runner.plugins.modules import runner_registration as module

TOKEN = "glrt-t1_" + "Abc123" * 4
TEXT = """# managed in part by hand
concurrent = 2

[[runners]]
  name = "build"
  url = "https://gitlab.example.com"
  id = 12
  token = "%s"
  token_obtained_at = 2026-01-01T00:00:00Z
  token_expires_at = 2026-04-01T00:00:00Z
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
""" % TOKEN


def params(**more):
    base = {"name": "build", "state": "present", "api_url": "https://gitlab.example.com", "executor": "docker"}
    return dict(base, **more)


def test_find_table_and_its_owned_keys():
    table = module.find_table(core.parse(TEXT), "build")
    assert module.table_id(table) == 12 and table["token"] == TOKEN
    assert module.file_expiry(table) == datetime.datetime(2026, 4, 1, tzinfo=datetime.timezone.utc)
    assert module.find_table(core.parse(TEXT), "other") is None
    assert module.table_id({"id": True}) is None and module.table_id({"id": 0}) is None


def test_two_tables_of_one_name_are_refused():
    with pytest.raises(module.RegistrationError, match="2 runners named 'build'"):
        module.find_table(core.parse(TEXT + TEXT.split("concurrent = 2\n")[1]), "build")


def test_new_token_is_written_in_place_and_nothing_else_changes():
    settings = module.token_settings(13, {"token": "glrt-t1_newtokenvalue0000", "token_expires_at": None})
    assert settings["token_expires_at"] == api.ZERO_TIME
    desired = module.desired_state(params(), {"name": "build"}, "reset", settings)
    planned = core.plan(TEXT, desired)
    new_text = core.render_checked(planned, desired)
    assert planned["changes"] == {"runners": {"build": ["id", "token", "token_obtained_at", "token_expires_at"]}}
    assert new_text.startswith("# managed in part by hand\nconcurrent = 2\n")
    runner = core.parse(new_text)["runners"][0]
    assert runner["id"] == 13 and runner["token"] == "glrt-t1_newtokenvalue0000"
    assert runner["docker"] == {"image": "alpine:3.20"} and runner["url"] == "https://gitlab.example.com"
    assert TOKEN not in core.masked_text(new_text, {TOKEN}) and TOKEN not in new_text


def test_missing_table_is_created_with_url_token_and_executor():
    settings = module.token_settings(9171, {"token": TOKEN, "token_expires_at": "2027-01-01T00:00:00.000Z"})
    desired = module.desired_state(params(), None, "created", settings)
    new_text = core.render_checked(core.plan("", desired), desired)
    runner = core.parse(new_text)["runners"][0]
    assert (runner["name"], runner["url"], runner["executor"], runner["id"]) == (
        "build", "https://gitlab.example.com", "docker", 9171)
    assert runner["token_expires_at"] == datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)


def test_nothing_to_write_when_nothing_happened_or_no_table_to_remove():
    assert module.desired_state(params(), {"name": "build"}, "none", None) is None
    assert module.desired_state(params(state="absent"), None, "deleted", None) is None
    removal = module.desired_state(params(state="absent"), {"name": "build"}, "deleted", None)
    assert core.plan(TEXT, removal)["changes"] == {"runners": {"build": ["(removed)"]}}


def test_check_mode_preview_holds_no_token():
    preview = module.token_settings(None, None)
    assert preview["token"] == module.PREVIEW_TOKEN and preview["id"] == 0


def test_iso_of_expiry():
    assert module.iso(api.ZERO_TIME) is None
    assert module.iso(datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)) == "2027-01-01T00:00:00Z"


def test_settings_diff_shows_old_and_new_values_of_changed_settings_only():
    diff = module.settings_diff(12, {"paused": (False, True), "tag_list": (["a"], ["a", "b"])})
    assert diff["before"] == 'paused: false\ntag_list: ["a"]\n'
    assert diff["after"] == 'paused: true\ntag_list: ["a", "b"]\n'
    assert diff["before_header"] == diff["after_header"] == "GitLab runner 12 settings"


def test_masked_diff_holds_the_file_and_the_settings_and_no_token():
    new_text = TEXT.replace("id = 12", "id = 13")
    both = module.masked_diff("/etc/gitlab-runner/config.toml", TEXT, new_text, 13, {"paused": (False, True)},
                              {TOKEN})
    assert [d["before_header"] for d in both] == ["/etc/gitlab-runner/config.toml", "GitLab runner 13 settings"]
    assert TOKEN not in json.dumps(both) and "id = 13" in both[0]["after"]
    settings_only = module.masked_diff("/x", TEXT, None, 13, {"paused": (False, True)}, {TOKEN})
    assert settings_only["after"] == "paused: true\n"


def test_host_system_id_is_read_next_to_config_toml_and_checked(tmp_path):
    config = tmp_path / "config.toml"
    assert module.host_system_id(str(config)) is None
    (tmp_path / ".runner_system_id").write_text("s_0123456789ab\n")
    assert module.host_system_id(str(config)) == "s_0123456789ab"
    (tmp_path / ".runner_system_id").write_text("not a system id")
    assert module.host_system_id(str(config)) is None
