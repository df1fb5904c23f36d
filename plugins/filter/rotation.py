# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the registry_tokens role (the rotation of registry credentials): what is due, what to write, what
to remember. The logic lives in module_utils/_rotation.py."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _rotation as rotation


def _checked(name, function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except (rotation.RotationError, auth.AuthConfigError) as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc))


def registry_rotation_plan(credentials, state, targets, renew_before, now=None):
    """The credentials to renew now: {ecr: [hosts], lookups: [entries], due: [keys], reasons: {key: why}}."""
    return _checked("registry_rotation_plan", rotation.renewal_plan, credentials, state, targets, renew_before, now)


def registry_rotation_result(credentials, state, targets, plan, ecr_fetched=None, lookup_results=None, now=None):
    """What to write and remember: {renewed, auths, docker_config_registries, expires_at, state}.
    `lookup_results`: the registered results of the loop that ran the lookups (item.key, ansible_facts)."""
    looked_up = {}
    for result in lookup_results or []:
        if isinstance(result, dict) and isinstance(result.get("item"), dict) and "ansible_facts" in result:
            looked_up[result["item"]["key"]] = result["ansible_facts"].get("_registry_tokens_value")
    fetched = ecr_fetched if isinstance(ecr_fetched, dict) and ecr_fetched.get("auths") else None
    return _checked("registry_rotation_result", rotation.rotation_result, credentials, state, targets, plan,
                    fetched, looked_up, now)


def rotation_state(on_disk, new_state):
    """The state file's content after a rotation: the rotation's keys from new_state, every other key (such as
    docker_config's expiry records) as on disk."""
    return rotation.merge_state(on_disk, new_state)


def rotation_runners(runners, names, auths):
    """[{name, docker_auth_config}] for runner_config: each named runner of runner_runners (not absent) with the
    rotated `auths` added to its docker_auth_config; fails naming what does not fit."""
    if not isinstance(runners, list) or not isinstance(names, list) or not isinstance(auths, Mapping):
        raise AnsibleFilterError("rotation_runners: expected the runner_runners list, a list of names and auths")
    by_name = {r.get("name"): r for r in runners if isinstance(r, Mapping) and r.get("state", "present") != "absent"}
    missing = sorted(set(names) - set(by_name))
    if missing:
        raise AnsibleFilterError("rotation_runners: %s not in runner_runners (or absent there); the rotation rebuilds "
                                 "a runner's DOCKER_AUTH_CONFIG from its docker_auth_config" % ", ".join(missing))
    out = []
    for name in sorted(set(names)):
        own = by_name[name].get("docker_auth_config") or {}
        if not isinstance(own, Mapping):
            raise AnsibleFilterError("rotation_runners: runner %s: docker_auth_config must be a mapping for the "
                                     "rotation to add its credentials" % name)
        helpers = sorted(set(own.get("credHelpers") or {}) & set(auths))
        if helpers:
            raise AnsibleFilterError("rotation_runners: runner %s maps %s to a credential helper, which would win "
                                     "over the rotated credential" % (name, ", ".join(helpers)))
        out.append({"name": name, "docker_auth_config": dict(
            own, auths=dict(own.get("auths") or {}, **{key: dict(value) for key, value in auths.items()}))})
    return out


class FilterModule:
    """runnerkit.gitlab_runner filters of the credential rotation."""

    def filters(self):
        return {"registry_rotation_plan": registry_rotation_plan, "registry_rotation_result": registry_rotation_result,
                "rotation_state": rotation_state, "rotation_runners": rotation_runners}
