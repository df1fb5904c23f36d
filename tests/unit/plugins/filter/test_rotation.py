# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the registry_tokens role and rotate_registry_auth.yml (their core is tested in test__rotation.py)."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerkit.gitlab_runner.plugins.filter import rotation as filters

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
