# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runners_keep_auths (runner role) and aws_settings_problems (docker_config role)."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerkit.gitlab_runner.plugins.filter.roles import aws_settings_problems, runners_keep_auths

ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def test_keep_auths_are_added_to_the_runners_that_manage_docker_auth_config():
    runners = [{"name": "a", "docker_auth_config": {"auths": {"r": {"auth": "x"}}, "keep_auths": ["own", ECR]}},
               {"name": "b", "docker": {"image": "alpine"}},
               {"name": "c", "docker_auth_config": {}},
               {"name": "d", "docker_auth_config": {"auths": {}}}]
    out = runners_keep_auths(runners, {"a": [ECR, "new", "new"], "b": [ECR], "c": [ECR]})
    assert out[0] == {"name": "a",
                      "docker_auth_config": {"auths": {"r": {"auth": "x"}}, "keep_auths": ["own", ECR, "new"]}}
    assert out[1] is runners[1] and out[3] is runners[3]
    assert out[2] == {"name": "c", "docker_auth_config": {"keep_auths": [ECR]}}
    assert runners[0]["docker_auth_config"]["keep_auths"] == ["own", ECR]  # the input is not changed
    assert runners_keep_auths(runners, {}) == runners


def test_keep_auths_bad_input():
    with pytest.raises(AnsibleFilterError, match="runner_keep_auths must be a dict"):
        runners_keep_auths([], [ECR])
    with pytest.raises(AnsibleFilterError, match="expected the runner_runners list"):
        runners_keep_auths({}, {})


SETTINGS = {"region": "eu-west-1", "profile": "", "role_arn": "", "credential_source": "", "source_profile": "",
            "web_identity_token_file": ""}


def problems(mode="files", service="gitlab-runner", keys_given=False, **settings):
    return aws_settings_problems(dict(SETTINGS, **settings), mode, service, keys_given)


def test_good_settings_have_no_problem():
    assert problems() == []
    assert problems(role_arn="arn:aws:iam::1:role/r", credential_source="Ec2InstanceMetadata") == []
    assert problems("environment", role_arn="arn:aws:iam::1:role/r", web_identity_token_file="/var/run/token") == []


@pytest.mark.parametrize("kwargs, message", [
    ({"region": ""}, "docker_config_aws_region is required with docker_config_aws_mode=files"),
    ({"role_arn": "arn"}, "docker_config_aws_role_arn needs exactly one of docker_config_aws_credential_source, "
                          "docker_config_aws_source_profile, docker_config_aws_web_identity_token_file, got none"),
    ({"role_arn": "arn", "credential_source": "Environment", "source_profile": "p"},
     "docker_config_aws_role_arn needs exactly one of docker_config_aws_credential_source, "
     "docker_config_aws_source_profile, docker_config_aws_web_identity_token_file, got "
     "docker_config_aws_credential_source, docker_config_aws_source_profile"),
    ({"source_profile": "p"}, "docker_config_aws_source_profile needs docker_config_aws_role_arn"),
    ({"role_arn": "arn", "web_identity_token_file": "token"},
     "docker_config_aws_web_identity_token_file must be an absolute path, got 'token'"),
    ({"mode": "environment", "role_arn": "arn", "credential_source": "Environment"},
     "docker_config_aws_credential_source exists only in ~/.aws/config: it needs docker_config_aws_mode=files, "
     "not environment"),
    ({"role_arn": "arn", "web_identity_token_file": "/t", "keys_given": True},
     "docker_config_aws_web_identity_token_file does not go with static keys (docker_config_aws_access_key_id)"),
    ({"service": "gitlab runner"}, "docker_config_aws_service must be a systemd unit name (letters, digits, :_.@-), "
                                   "got 'gitlab runner'"),
    ({"profile": "a$b"}, "docker_config_aws_profile must not hold white space, quotes, backslashes, % or $"),
    ({"region": "eu west"}, "docker_config_aws_region must not hold white space, quotes, backslashes, % or $"),
])
def test_each_rule_has_its_own_message_naming_the_variable(kwargs, message):
    assert problems(**kwargs) == [message]


def test_settings_must_be_a_dict():
    with pytest.raises(AnsibleFilterError, match="expected a dict of settings"):
        aws_settings_problems(["eu-west-1"], "files", "gitlab-runner")
