# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_gitlab_ci: the images a .gitlab-ci.yml names."""

from __future__ import annotations

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _gitlab_ci as gitlab_ci


def test_gitlab_ci_images():
    data = {
        "variables": {"REG": "reg.tld:5000", "DOCKER_AUTH_CONFIG": {"value": '{"auths":{}}'}},
        "default": {"image": {"name": "$REG/ns/base:1", "entrypoint": [""]}, "services": ["postgres:16"]},
        ".tpl": {"image": "reg.tld:5000/ns/tpl:1"},
        "stages": ["build"],
        "build": {"script": ["make"], "services": [{"name": "redis:7", "alias": "cache"}]},
        "from-template": {"extends": ".tpl", "script": ["x"], "variables": {"DOCKER_AUTH_CONFIG": "{}"}},
        "no-default": {"script": ["x"], "inherit": {"default": False, "variables": False}},
        "runtime": {"script": ["x"], "image": "$CI_REGISTRY_IMAGE/app:${CI_COMMIT_SHA}"},
    }
    rows = [(r["job"], r["kind"], r["image"], r["unresolved"], r["docker_auth_config"])
            for r in gitlab_ci.gitlab_ci_images(data)]
    assert rows == [
        ("build", "image", "reg.tld:5000/ns/base:1", [], '{"auths":{}}'),
        ("build", "service", "redis:7", [], '{"auths":{}}'),
        ("from-template", "image", "reg.tld:5000/ns/tpl:1", [], "{}"),
        ("from-template", "service", "postgres:16", [], "{}"),
        ("runtime", "image", "$CI_REGISTRY_IMAGE/app:${CI_COMMIT_SHA}", ["CI_REGISTRY_IMAGE", "CI_COMMIT_SHA"],
         '{"auths":{}}'),
        ("runtime", "service", "postgres:16", [], '{"auths":{}}'),
    ]


def test_gitlab_ci_old_top_level_image():
    rows = gitlab_ci.gitlab_ci_images({"image": "ruby:3", "test": {"script": ["x"]}})
    assert [(r["job"], r["image"]) for r in rows] == [("test", "ruby:3")]
