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
        helpers = rotation_helper_conflicts([by_name[name]], list(auths))
        if helpers:
            raise AnsibleFilterError("rotation_runners: runner %s maps %s to a credential helper, which would win "
                                     "over the rotated credential" % (name, ", ".join(helpers)))
        out.append({"name": name, "docker_auth_config": _with_rotated(name, own, auths)})
    return out


def _with_rotated(name, own, auths):
    """A runner's docker_auth_config with the rotated auths: a registry of its `registries` list is replaced
    there (runner_config refuses a registry in both the list and `auths`), every other one is added to `auths`."""
    listed, rotated = _listed_with_rotated(name, own.get("registries"), auths)
    added = {key: dict(value) for key, value in auths.items() if key not in rotated}
    out = dict(own)
    if listed is not None:
        out["registries"] = listed
    if added or listed is None or "auths" in own:
        out["auths"] = dict(own.get("auths") or {}, **added)
    return out


def _listed_with_rotated(name, registries, auths):
    """(the runner's registries list with each rotated registry's entry replaced by its new auth, rotated keys
    found in it). The expiry of the new credential is the rotation's to record, not the entry's expires_at."""
    if registries is None:
        return None, set()
    if not isinstance(registries, list):
        raise AnsibleFilterError("rotation_runners: runner %s: docker_auth_config.registries must be a list" % name)
    listed, found = [], set()
    for entry in registries:
        where = "runner %s: docker_auth_config.registries" % name
        if not isinstance(entry, Mapping) or not isinstance(entry.get("registry"), str):
            raise AnsibleFilterError("rotation_runners: %s: every entry needs a registry" % where)
        key = _checked("rotation_runners", auth.normalize_registry_key, entry["registry"],
                       "%s[%s]" % (where, entry["registry"]))
        if key not in auths:
            listed.append(entry)
            continue
        listed.append({"registry": entry["registry"], "auth": auths[key]["auth"]})
        found.add(key)
    return listed, found


def rotation_helper_conflicts(runners, registries):
    """The registry keys of `registries` that one of `runners` maps to a credential helper, in its credHelpers or
    in a present entry of its registries list (the helper would win over the rotated credential), sorted."""
    if not isinstance(runners, list) or not isinstance(registries, list):
        raise AnsibleFilterError("rotation_helper_conflicts: expected a list of runners and a list of registries")
    wanted = {_checked("rotation_helper_conflicts", auth.normalize_registry_key, r, "registries[%s]" % r)
              for r in registries}
    found = set()
    for runner in runners:
        own = runner.get("docker_auth_config") if isinstance(runner, Mapping) else None
        if not isinstance(own, Mapping):
            continue
        helpers = list(own.get("credHelpers") or {}) if isinstance(own.get("credHelpers"), Mapping) else []
        listed = own.get("registries") if isinstance(own.get("registries"), list) else []
        helpers += [e.get("registry") for e in listed if isinstance(e, Mapping) and e.get("helper") is not None
                    and e.get("state", "present") != "absent"]
        where = "runner %s: docker_auth_config" % runner.get("name")
        found |= {_checked("rotation_helper_conflicts", auth.normalize_registry_key, r, "%s[%s]" % (where, r))
                  for r in helpers} & wanted
    return sorted(found)


class FilterModule:
    """runnerkit.gitlab_runner filters of the credential rotation."""

    def filters(self):
        return {"registry_rotation_plan": registry_rotation_plan, "registry_rotation_result": registry_rotation_result,
                "rotation_state": rotation_state, "rotation_runners": rotation_runners,
                "rotation_helper_conflicts": rotation_helper_conflicts}
