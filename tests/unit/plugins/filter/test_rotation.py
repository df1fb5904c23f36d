# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the registry_tokens role and rotate_registry_auth.yml (their core is tested in test__rotation.py)."""

from __future__ import annotations

import base64

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerkit.gitlab_runner.plugins.filter import rotation as filters
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as docker_auth

HARBOR = "harbor.example.com"
CREDENTIALS = [{"registry": HARBOR, "source": "lookup", "lookup": "ansible.builtin.file", "terms": ["f"],
                "username": "robot", "valid_for": "30d"}]


def test_plan_and_result_from_the_registered_lookup_loop():
    plan = filters.registry_rotation_plan(CREDENTIALS, {}, {}, "3h", "2027-01-10T00:00:00Z")
    assert plan["due"] == [HARBOR]
    looked_up = {"results": [{"item": plan["lookups"][0], "ansible_facts": {"_registry_tokens_value": ["s3cret"]}}]}
    skipped_ecr = {"skipped": True, "changed": False}
    result = filters.registry_rotation_result(CREDENTIALS, {}, {}, plan, skipped_ecr, looked_up["results"],
                                              "2027-01-10T00:00:00Z")
    assert result["expires_at"] == {HARBOR: "2027-02-09T00:00:00Z"} and result["renewed"] == [HARBOR]


def test_bad_input_is_a_filter_error_naming_the_filter():
    with pytest.raises(AnsibleFilterError, match="registry_rotation_plan: credentials.*source"):
        filters.registry_rotation_plan([{"registry": HARBOR}], {}, {}, "3h")
    with pytest.raises(AnsibleFilterError, match="registry_rotation_plan: .*is not a registry host"):
        filters.registry_rotation_plan([{"registry": "https://", "source": "ecr"}], {}, {}, "3h")


def test_rotation_state_keeps_what_others_recorded():
    assert filters.rotation_state({"static": {"a": 1}, "auths": {"old": 1}}, {"auths": {}}) == {
        "static": {"a": 1}, "auths": {}}


def test_rotation_runners_add_the_credentials_to_the_named_runners_only():
    own = {"auths": {"own.example.com": {"auth": "o"}}, "credHelpers": {"gcr.io": "gcloud"}}
    runners = [{"name": "a", "docker": {"image": "x"}, "docker_auth_config": own},
               {"name": "b"}, {"name": "gone", "state": "absent"}]
    auths = {HARBOR: {"auth": "n"}}
    assert filters.rotation_runners(runners, ["b", "a"], auths) == [
        {"name": "a", "docker_auth_config": {"auths": {"own.example.com": {"auth": "o"}, HARBOR: {"auth": "n"}},
                                             "credHelpers": {"gcr.io": "gcloud"}}},
        {"name": "b", "docker_auth_config": {"auths": {HARBOR: {"auth": "n"}}}}]
    assert runners[0]["docker_auth_config"]["auths"] == {"own.example.com": {"auth": "o"}}  # input unchanged


@pytest.mark.parametrize("runners, names, words", [
    ([{"name": "a"}], ["a", "missing"], "missing not in runner_runners"),
    ([{"name": "gone", "state": "absent"}], ["gone"], "gone not in runner_runners"),
    ([{"name": "a", "docker_auth_config": "{}"}], ["a"], "must be a mapping"),
    ([{"name": "a", "docker_auth_config": {"credHelpers": {HARBOR: "pass"}}}], ["a"], "credential helper"),
])
def test_rotation_runners_refuse_what_does_not_fit(runners, names, words):
    with pytest.raises(AnsibleFilterError, match=words):
        filters.rotation_runners(runners, names, {HARBOR: {"auth": "n"}})


def test_rotation_runners_replace_a_rotated_registry_of_the_registries_list_there():
    """runner_config refuses a registry in both the list and auths: a listed one is replaced in the list (any
    spelling of its key, its stale expires_at dropped), the others still go to auths, other entries stay."""
    new, other = base64.b64encode(b"robot:new").decode(), base64.b64encode(b"ci:other").decode()
    listed = [{"registry": "https://%s/" % HARBOR.upper(), "username": "robot", "password": "old",
               "expires_at": "2027-01-01"},
              {"registry": "own.example.com", "username": "u", "password": "p"}]
    runners = [{"name": "a", "docker_auth_config": {"registries": listed, "keep_auths": ["x.example.com"]}}]
    auths = {HARBOR: {"auth": new}, "other.example.com": {"auth": other}}
    out = filters.rotation_runners(runners, ["a"], auths)
    assert out == [{"name": "a", "docker_auth_config": {
        "registries": [{"registry": "https://%s/" % HARBOR.upper(), "auth": new},
                       {"registry": "own.example.com", "username": "u", "password": "p"}],
        "auths": {"other.example.com": {"auth": other}}, "keep_auths": ["x.example.com"]}}]
    assert runners[0]["docker_auth_config"]["registries"] == listed  # input unchanged
    # what runner_config builds of it: every registry once, the rotated one with the new credential
    written = {k: v for k, v in out[0]["docker_auth_config"].items() if k != "keep_auths"}
    data, _warnings = docker_auth.build_auth_config(written)
    assert data["auths"] == {HARBOR: {"auth": new}, "other.example.com": {"auth": other},
                             "own.example.com": {"auth": base64.b64encode(b"u:p").decode()}}
    only_listed = filters.rotation_runners(runners, ["a"], {HARBOR: {"auth": new}})
    assert "auths" not in only_listed[0]["docker_auth_config"]


@pytest.mark.parametrize("registries, words", [
    ([{"registry": HARBOR, "helper": "pass"}], "maps %s to a credential helper" % HARBOR),
    ("harbor", "registries must be a list"),
    ([{"username": "u"}], "every entry needs a registry"),
])
def test_rotation_runners_refuse_a_registries_list_that_does_not_fit(registries, words):
    with pytest.raises(AnsibleFilterError, match=words):
        filters.rotation_runners([{"name": "a", "docker_auth_config": {"registries": registries}}], ["a"],
                                 {HARBOR: {"auth": "n"}})


def test_rotation_helper_conflicts_find_helpers_in_both_forms_by_registry_key():
    ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    runners = [{"name": "a", "docker_auth_config": {"credHelpers": {"https://%s/" % ecr: "ecr-login"}}},
               {"name": "b", "docker_auth_config": {"registries": [
                   {"registry": HARBOR.upper(), "helper": "pass"},
                   {"registry": "gone.example.com", "helper": "pass", "state": "absent"},
                   {"registry": "static.example.com", "username": "u", "password": "p"}]}},
               {"name": "c"}, {"name": "d", "docker_auth_config": None}]
    rotated = [ecr, HARBOR, "gone.example.com", "static.example.com", "other.example.com"]
    assert filters.rotation_helper_conflicts(runners, rotated) == [ecr, HARBOR]
    assert filters.rotation_helper_conflicts(runners[1:], ["https://%s/" % HARBOR]) == [HARBOR]
    assert filters.rotation_helper_conflicts(runners[2:], rotated) == []
    with pytest.raises(AnsibleFilterError, match="expected a list of runners"):
        filters.rotation_helper_conflicts({"name": "a"}, rotated)
