# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the roles' data: runners_keep_auths (runner role), aws_settings_problems (docker_config role)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.@-]+$")
# These values land in an INI file and in systemd Environment= lines.
UNSAFE_VALUE = re.compile(r"[\s\"\\%$]")
ROLE_SOURCES = ("credential_source", "source_profile", "web_identity_token_file")
FILE_ONLY = ("credential_source", "source_profile")


def runners_keep_auths(runners, keep_auths):
    """runner_runners with keep_auths[name] added to docker_auth_config.keep_auths of runners that manage
    DOCKER_AUTH_CONFIG (a mapping); the runner's own entries first, each registry once; others unchanged."""
    if not isinstance(runners, list):
        raise AnsibleFilterError("runners_keep_auths: expected the runner_runners list, got %s" % type(runners).__name__)
    if not isinstance(keep_auths, Mapping):
        raise AnsibleFilterError("runners_keep_auths: runner_keep_auths must be a dict of runner name to registries, "
                                 "got %s" % type(keep_auths).__name__)
    out = []
    for runner in runners:
        keep = list(keep_auths.get(runner.get("name") or "") or [])
        auth = runner.get("docker_auth_config")
        if not keep or not isinstance(auth, Mapping):
            out.append(runner)
            continue
        merged = list(auth.get("keep_auths") or [])
        merged += [registry for index, registry in enumerate(keep)
                   if registry not in merged and registry not in keep[:index]]
        out.append(dict(runner, docker_auth_config=dict(auth, keep_auths=merged)))
    return out


def aws_settings_problems(settings, mode, service, keys_given=False, prefix="docker_config_aws_"):
    """One message per broken rule of the AWS settings ({region, profile, role_arn, credential_source,
    source_profile, web_identity_token_file}, "" when unset), each naming its variable; [] when they are fine."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError("aws_settings_problems: expected a dict of settings, got %s" % type(settings).__name__)
    value = {name: str(settings.get(name) or "") for name in settings}
    given = [name for name in ROLE_SOURCES if value.get(name)]
    problems = []
    if not value.get("region"):
        problems.append("%sregion is required with %smode=%s" % (prefix, prefix, mode))
    if value.get("role_arn") and len(given) != 1:
        problems.append("%srole_arn needs exactly one of %s, got %s" % (
            prefix, ", ".join(prefix + name for name in ROLE_SOURCES),
            ", ".join(prefix + name for name in given) or "none"))
    if not value.get("role_arn"):
        problems += ["%s%s needs %srole_arn" % (prefix, name, prefix) for name in given]
    token_file = value.get("web_identity_token_file")
    if token_file and not os.path.isabs(token_file):
        problems.append("%sweb_identity_token_file must be an absolute path, got %r" % (prefix, token_file))
    if mode != "files":
        problems += ["%s%s exists only in ~/.aws/config: it needs %smode=files, not %s" % (prefix, name, prefix, mode)
                     for name in FILE_ONLY if value.get(name)]
    if token_file and keys_given:
        problems.append("%sweb_identity_token_file does not go with static keys (%saccess_key_id)" % (prefix, prefix))
    if not UNIT_NAME.match(str(service or "")):
        problems.append("%sservice must be a systemd unit name (letters, digits, :_.@-), got %r" % (prefix, service))
    problems += ["%s%s must not hold white space, quotes, backslashes, %% or $" % (prefix, name)
                 for name in sorted(value) if UNSAFE_VALUE.search(value[name])]
    return problems


class FilterModule:
    """runnerkit.gitlab_runner filters of the roles' data."""

    def filters(self):
        return {"runners_keep_auths": runners_keep_auths, "aws_settings_problems": aws_settings_problems}
