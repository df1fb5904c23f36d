#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: runner_config
short_description: Manage the image-related parts of a GitLab Runner config.toml in place
version_added: 0.1.0
description:
  - Manages global keys and any number of C([[runners]]) of one GitLab Runner C(config.toml) in a single call
    (the default image, services, network per build, feature flags, C([runners.docker]) keys, C(environment)
    entries and a structured C(DOCKER_AUTH_CONFIG)).
  - Edits the file in place. Comments, blank lines, key order, other runners, other C(environment) entries and
    keys it does not manage stay as they were. Runner-owned keys (C(id), C(token), C(token_obtained_at),
    C(token_expires_at)) are never rewritten unless set explicitly.
  - Decides whether something changed by comparing parsed values of the managed keys, never text, so a file
    the runner rewrote itself (comments dropped, keys reordered) reports no change on rerun.
  - Every value it writes is type-checked against the types GitLab Runner decodes, because one mistyped value
    makes the runner reject the whole file.
  - A new file is created with mode C(0600); the mode of an existing file is kept, and its owner too unless
    O(owner) or O(group) say otherwise.
author:
  - runnerkit contributors (@runnerkit)
requirements:
  - tomlkit >= 0.11.4 on the target host (Python >= 3.11 also uses the standard library C(tomllib) for speed)
attributes:
  diff_mode:
    support: full
    description:
      - Before and after text of the file with every secret replaced by C(********) - every password, token,
        key and credential field of the runner's config sections, C(MachineOptions) and plugin settings named
        like secrets, C(environment) values by name (C(*TOKEN*), C(*PASSWORD*), C(*_KEY), ...) and by shape (URL
        user info, C(Bearer ...), known token prefixes, long base64 or hex strings), C(DOCKER_AUTH_CONFIG)
        credentials, and secrets in commented-out lines. The same values are hidden in results and C(-vvv) output.
options:
  path:
    description:
      - The C(config.toml) to manage; created when it does not exist. Links are handled as the notes say.
    type: path
    default: /etc/gitlab-runner/config.toml
  global:
    description:
      - Top-level keys such as C(concurrent), C(check_interval), C(log_level), and tables such as
        C(session_server) (merged key by key). A key set to V(null) is removed.
      - C(concurrent) must be at least 1.
    type: dict
  runners:
    description:
      - The runners of the file to manage, found by O(runners[].name). Runners not listed are left alone.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The runner's C(name); runners are found by it, so it must be unique in the file.
        type: str
        required: true
      state:
        description: V(absent) removes the runner's C([[runners]]) table.
        type: str
        choices: [present, absent]
        default: present
      docker:
        description:
          - Any C([runners.docker]) keys, for example C(image), C(pull_policy), C(volumes), C(privileged).
            Keys not given are left alone; a key set to V(null) is removed.
          - C(services) is a list of mappings with C(name) (required), C(alias), C(command), C(entrypoint),
            C(environment); it replaces all C([[runners.docker.services]]) of the runner, in order.
        type: dict
      network_per_build:
        description:
          - Sets C(FF_NETWORK_PER_BUILD) in C([runners.feature_flags]), which jobs cannot override.
          - Has no effect when C(docker.network_mode) is set; the module warns about that.
        type: bool
      feature_flags:
        description: C([runners.feature_flags]) entries; values must be booleans.
        type: dict
      docker_auth_config:
        description:
          - Registry credentials written as exactly one C(DOCKER_AUTH_CONFIG=) entry of C(environment), holding
            compact JSON with sorted keys. An existing entry counts as equal when its JSON means the same.
          - Give the registries as O(runners[].docker_auth_config.registries), the list
            M(runnerkit.gitlab_runner.docker_config) takes. The older form, a mapping in
            O(runners[].docker_auth_config.auths) and O(runners[].docker_auth_config.credHelpers), keeps working,
            also next to the list (C(playbooks/rotate_ecr_auth.yml) adds its tokens as C(auths)); a registry may be
            in only one of them.
          - Note that runner-level C(environment) entries are visible to every job of the runner.
        type: dict
        suboptions:
          registries:
            description:
              - One entry per registry, the same entries as O(runnerkit.gitlab_runner.docker_config#module:registries)
                with the same checks and registry key normalization. Static credentials become an C(auths) entry
                holding the base64 C(auth), a helper a C(credHelpers) entry.
              - The variable is written whole, so an entry with O(runners[].docker_auth_config.registries[].state=absent)
                is simply left out of it.
            type: list
            elements: dict
            suboptions:
              registry:
                description: The registry, see O(runnerkit.gitlab_runner.docker_config#module:registries[].registry).
                type: str
                required: true
              username:
                description: See O(runnerkit.gitlab_runner.docker_config#module:registries[].username); shown in output.
                type: str
              password:
                description: See O(runnerkit.gitlab_runner.docker_config#module:registries[].password).
                type: str
              auth:
                description: See O(runnerkit.gitlab_runner.docker_config#module:registries[].auth).
                type: str
              helper:
                description:
                  - See O(runnerkit.gitlab_runner.docker_config#module:registries[].helper); the helper must be on the
                    PATH of the runner process.
                type: str
              state:
                description: V(absent) leaves the registry out.
                type: str
                choices: [present, absent]
                default: present
              expires_at:
                description:
                  - When these static credentials stop working (ISO 8601, such as C(2027-03-01T00:00:00Z); a time
                    without zone is UTC), see O(runnerkit.gitlab_runner.docker_config#module:registries[].expires_at).
                  - Recorded per runner with a fingerprint of the password (never the password) in
                    O(expiry_state_file), where M(runnerkit.gitlab_runner.runner_auth_info) reads it to warn within its
                    C(expiry_warn_days) and to fail a host whose credentials expired.
                  - Unset, the C(exp) of a password that is a JWT is recorded; nothing is recorded otherwise. Only
                    the O(runners[].docker_auth_config.registries) list records expiries, the older mappings do not.
                type: str
                version_added: 0.2.0
          auths:
            description:
              - The older form of O(runners[].docker_auth_config.registries) for static credentials.
              - Registry (C(host[:port]) or C(host[:port]/namespace)) to C({username, password}) or C({auth}).
                C(username)/C(password) become the base64 C(auth) the runner expects.
            type: dict
          credHelpers:
            description:
              - The older form of O(runners[].docker_auth_config.registries) for helpers.
              - Registry to helper name, for example C(ecr-login) for C(docker-credential-ecr-login).
            type: dict
          credsStore:
            description:
              - One helper for every registry it lists, Docker Hub included. Prefer O(runners[].docker_auth_config.credHelpers).
            type: str
          keep_auths:
            description:
              - Registries whose C(auths) entry in the C(DOCKER_AUTH_CONFIG) already in the file is kept as it is
                when neither O(runners[].docker_auth_config.registries) nor
                O(runners[].docker_auth_config.auths) and O(runners[].docker_auth_config.credHelpers) set it,
                for tokens another job renews
                (C(playbooks/rotate_ecr_auth.yml)). Nothing is kept for a registry the file does not hold.
            type: list
            elements: str
      environment:
        description:
          - C(KEY=value) entries of the runner's C(environment) array, given as a mapping. Entries of other keys
            are kept in their order. A key set to V(null) is removed.
          - C(DOCKER_AUTH_CONFIG) may be given here as a JSON string instead of O(runners[].docker_auth_config).
          - The runner expands C($NAME) in these values; write C($$) for a literal C($).
        type: dict
      settings:
        description:
          - Any other C([[runners]]) keys or tables, for example C(limit), C(output_limit), C(request_concurrency),
            C(cache), C(custom_build_dir). Tables are merged key by key; a key set to V(null) is removed.
        type: dict
      url:
        description: The GitLab URL. Needed to add a runner that is not in the file yet.
        type: str
      token:
        description:
          - The runner authentication token, written only when the runner is added. Afterwards the runner owns
            it (automatic token rotation rewrites it); set C(token) in O(runners[].settings) to force a value.
        type: str
      executor:
        description: The executor, for example C(docker). Needed to add a runner that is not in the file yet.
        type: str
  backup:
    description: Keep a timestamped copy of the file before changing it, as M(ansible.builtin.copy) does.
    type: bool
    default: false
extends_documentation_fragment:
  - runnerkit.gitlab_runner.private_files
  - runnerkit.gitlab_runner.expiry_state
notes:
  - GitLab Runner reloads C(config.toml) within about 3 seconds of a change for most keys; no restart is needed
    except for C(listen_address) and C(session_server).
seealso:
  - name: GitLab Runner advanced configuration
    description: Every key of C(config.toml).
    link: https://docs.gitlab.com/runner/configuration/advanced-configuration/
"""

EXAMPLES = r"""
---
- name: Manage the docker runners of a host in one call
  runnerkit.gitlab_runner.runner_config:
    path: /etc/gitlab-runner/config.toml
    global:
      concurrent: 8
      check_interval: 3
    runners:
      - name: docker-build
        docker:
          image: my.registry.tld:5000/ns/image:tag
          pull_policy: [always, if-not-present]
          services:
            - {name: "postgres:16", alias: db}
            - {name: "redis:7", alias: cache}
        network_per_build: true
        feature_flags:
          FF_USE_FASTZIP: true
        docker_auth_config:
          registries:
            - registry: "my.registry.tld:5000"
              username: ci
              password: "{{ vault_registry_password }}"
            - registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
              helper: ecr-login
        environment:
          HTTP_PROXY: "http://proxy:3128"

- name: Add a runner that is not registered in the file yet
  runnerkit.gitlab_runner.runner_config:
    runners:
      - name: docker-new
        url: https://gitlab.example.com
        token: "{{ vault_runner_token }}"
        executor: docker
        docker:
          image: alpine:3.20

- name: A Harbor robot account that expires (runner_auth_info warns 14 days before and audit.yml can fail after)
  runnerkit.gitlab_runner.runner_config:
    runners:
      - name: docker-build
        docker_auth_config:
          registries:
            - registry: harbor.example.com
              username: robot$ci
              password: "{{ vault_harbor_robot_secret }}"
              expires_at: "2027-03-01T00:00:00Z"

- name: Keep the static ECR token that playbooks/rotate_ecr_auth.yml renews in the same DOCKER_AUTH_CONFIG
  runnerkit.gitlab_runner.runner_config:
    runners:
      - name: docker-build
        docker_auth_config:
          registries:
            - {registry: "my.registry.tld:5000", username: ci, password: "{{ vault_registry_password }}"}
          keep_auths: [123456789012.dkr.ecr.eu-west-1.amazonaws.com]

- name: The older form of the same credentials, a mapping of registry to entry (keeps working)
  runnerkit.gitlab_runner.runner_config:
    runners:
      - name: docker-build
        docker_auth_config:
          auths:
            "my.registry.tld:5000": {username: ci, password: "{{ vault_registry_password }}"}
          credHelpers:
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com": ecr-login

- name: Remove a runner
  runnerkit.gitlab_runner.runner_config:
    runners:
      - name: old-runner
        state: absent
"""

RETURN = r"""
changes:
  description:
    - What changed (or would change in check mode), as dotted key paths. C(global) lists top-level keys;
      C(runners) maps each changed runner's name to its paths, with C((added)) or C((removed)) for whole runners.
  returned: always
  type: dict
  sample:
    global: [concurrent]
    runners:
      docker-build: [docker.image, docker.services, feature_flags.FF_NETWORK_PER_BUILD,
                     environment.DOCKER_AUTH_CONFIG]
expires_at:
  description:
    - Per runner given a O(runners[].docker_auth_config.registries) list, per registry key, the expiry recorded for
      its static credentials in O(expiry_state_file) (from O(runners[].docker_auth_config.registries[].expires_at) or
      a JWT password's C(exp)), ISO 8601 UTC. Registries without one are not listed.
  returned: always
  type: dict
  sample: {"docker-build": {"harbor.example.com": "2027-03-01T00:00:00Z"}}
  version_added: 0.2.0
path:
  description: The file that was managed, after following symlinks.
  returned: always
  type: str
  sample: /etc/gitlab-runner/config.toml
backup_file:
  description: The backup copy, when O(backup=true) and the file changed.
  returned: changed and backup requested
  type: str
  sample: /etc/gitlab-runner/config.toml.2301.2026-11-25@10:01:02~
"""

import json

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as core
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _rotation as rotation
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

RUNNER_OPTIONS = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    docker=dict(type="dict"),
    network_per_build=dict(type="bool"),
    feature_flags=dict(type="dict"),
    docker_auth_config=dict(type="dict", options=dict(
        registries=dict(type="list", elements="dict", options=auth.REGISTRY_ENTRY_OPTIONS),
        auths=dict(type="dict", no_log=True),
        credHelpers=dict(type="dict"),
        credsStore=dict(type="str"),
        keep_auths=dict(type="list", elements="str", no_log=False),
    )),
    environment=dict(type="dict"),
    settings=dict(type="dict"),
    url=dict(type="str"),
    token=dict(type="str", no_log=True),
    executor=dict(type="str"),
)

ARGUMENT_SPEC = {
    "path": dict(type="path", default="/etc/gitlab-runner/config.toml"),
    "global": dict(type="dict"),
    "runners": dict(type="list", elements="dict", default=[], options=RUNNER_OPTIONS),
    "backup": dict(type="bool", default=False),
    "expiry_state_file": dict(type="path", default="/var/lib/runnerkit/rotate_ecr_auth.json"),
    "owner": dict(type="str"),
    "group": dict(type="str"),
}


def param_secrets(params):
    """Secrets inside options that are not no_log as a whole (environment, settings, docker, global, the
    passwords of registries and auths with the `auth` strings made of them), found the way they are found
    in the file: masked before anything can fail and echo the arguments."""
    found = secrets.collect(params["global"] or {})
    for runner in params["runners"] or []:
        shaped = dict(runner)
        environment = runner.get("environment") or {}
        shaped["environment"] = ["%s=%s" % (k, v if isinstance(v, str) else json.dumps(v))
                                 for k, v in environment.items() if v is not None]
        found |= secrets.collect(shaped)
    return found


def auth_names(params):
    """The user names of the older `auths` mappings: no_log as a whole, so AnsibleModule hides them too."""
    names = set()
    for runner in params["runners"] or []:
        names |= secrets.auth_names((runner.get("docker_auth_config") or {}).get("auths"))
    return names


def expiry_scope(path, name):
    """Where a runner's records are kept in the state file: each runner's apart, so two do not flap."""
    return "%s#%s" % (path, name)


def expiry_records(path, runners):
    """{expiry_scope: static_records} of each present runner given a registries list. RotationError (naming the
    entry) for a bad expires_at."""
    records = {}
    for runner in runners or []:
        entries = (runner.get("docker_auth_config") or {}).get("registries")
        if runner["state"] == "present" and entries is not None:
            where = "runners[%s].docker_auth_config.registries" % runner["name"]
            records[expiry_scope(path, runner["name"])] = rotation.static_records(entries, where=where)
    return records


def record_expiries(module, records, check_mode):
    """rotation.record_static_expiries for the runners' records; nothing is read or written without any."""
    if not records:
        return False, {}
    return rotation.record_static_expiries(module.params["expiry_state_file"], records, check_mode,
                                           module.selinux_enabled())


def apply(module, path, desired):
    """Decide from a fast unlocked parse; build the tomlkit document only to write or to show a diff.

    A change is planned again under the lock on what is on disk then, so concurrent calls lose nothing.
    """
    uid, gid = files.resolve_ids(module.params["owner"], module.params["group"])

    def plan(text, stat):
        planned = core.plan(text, desired)
        note_owner(planned, stat, uid, gid)
        return planned, planned["changed"]

    def write(text, stat, planned):
        new_text = text if planned["owner_only"] else core.render_checked(planned, desired)
        backup_file = files.atomic_write(path, new_text, stat=stat, owner=uid, group=gid,
                                         backup=module.params["backup"] and not planned["owner_only"],
                                         selinux=module.selinux_enabled())
        return new_text, backup_file

    update = files.update_locked(path, plan, write, module.check_mode, 0o700, uid, gid)
    new_text, backup_file = update.written or (None, None)
    if update.needed and module.check_mode and module._diff:
        new_text = core.render_checked(update.planned, desired)
    return update.text, update.planned, new_text, backup_file


def note_owner(planned, stat, uid, gid):
    """A file whose content is right but whose owner is not is a change too (rewritten as it is)."""
    planned["owner_only"] = False
    if files.owner_differs(stat, uid, gid):
        if not planned["changed"]:
            planned["owner_only"] = True
            planned["changed"] = True
        planned["changes"]["file"] = ["owner"]


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not core.HAS_TOMLKIT:
        module.fail_json(msg=missing_required_lib(core.TOMLKIT_REQUIREMENT), exception=str(core.TOMLKIT_IMPORT_ERROR))
    if core.tomlkit_too_old():
        module.fail_json(msg="%s; found tomlkit %s" % (missing_required_lib(core.TOMLKIT_REQUIREMENT),
                                                       core.tomlkit_too_old()))
    secrets.no_log(module, param_secrets(module.params), shown=auth_names(module.params))
    path = module.params["path"]
    try:
        path = files.real_path(path)
        desired, warnings = core.build_desired(module.params["global"], module.params["runners"])
        records = expiry_records(path, module.params["runners"])
    except (core.ConfigError, rotation.RotationError, files.FileError) as exc:
        module.fail_json(msg="%s: %s; the file was left unchanged" % (path, exc), path=path)
    try:  # a state file that cannot take the records fails before config.toml is written
        record_expiries(module, records, check_mode=True)
    except (rotation.RotationError, files.FileError) as exc:
        module.fail_json(msg="expiry_state_file: %s; %s was left unchanged" % (exc, path), path=path)
    try:
        text, planned, new_text, backup_file = apply(module, path, desired)
    except (core.ConfigError, files.FileError) as exc:
        module.fail_json(msg="%s: %s; the file was left unchanged" % (path, exc), path=path)
    try:
        changed_expiries, recorded = record_expiries(module, records, module.check_mode)
    except (rotation.RotationError, files.FileError) as exc:
        module.fail_json(msg="expiry_state_file: %s; %s was %s" % (
            exc, path, "written" if planned["changed"] and not module.check_mode else "left unchanged"), path=path)
    found = core.text_secrets(text, planned["data"]) | core.text_secrets(new_text) | param_secrets(module.params)
    secrets.no_log(module, found)
    for warning in warnings + planned["warnings"]:
        module.warn(warning)
    result = dict(changed=planned["changed"] or changed_expiries, changes=planned["changes"], path=path,
                  expires_at={runner["name"]: recorded[expiry_scope(path, runner["name"])]
                              for runner in module.params["runners"] if expiry_scope(path, runner["name"]) in recorded})
    if backup_file:
        result["backup_file"] = backup_file
    if module._diff and planned["changed"]:
        result["diff"] = dict(before=core.masked_text(text, found), after=core.masked_text(new_text, found),
                              before_header=path, after_header=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
