#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_config
short_description: Manage registry credentials in a Docker client config.json, without a Docker daemon
version_added: 0.1.0
description:
  - Manages the C(auths) and C(credHelpers) entries and the global C(credsStore) of a Docker client
    C(config.json), such as C(~/.docker/config.json) of the user the GitLab Runner process runs as.
  - Merges into the existing file. Every key it does not manage (C(proxies), C(HttpHeaders), C(detachKeys),
    formats, entries of other registries, unknown keys) stays. Whether something changed is decided on the
    parsed JSON, so a file rewritten by C(docker login) is unchanged on rerun.
  - Writes in the Docker CLI's own layout (tab indent, sorted maps), atomically under a lock, with mode
    C(0600) in a C(0700) directory that it creates when missing; no moment is world-readable.
  - Registry keys are normalized the way the runner, the Docker CLI and skopeo match them. Docker Hub
    (C(docker.io), C(index.docker.io), C(registry-1.docker.io), with or without scheme) becomes
    C(https://index.docker.io/v1/); C(https://host:port/) (also with C(/v1/) or C(/v2/)) becomes C(host:port);
    the host is lower-cased; a port is kept as given (C(host:443) and C(host) are different registries to the
    runner); C(host:port/namespace) keys are kept (namespace-scoped credentials).
  - One registry, one entry. An update replaces every entry of C(auths) and C(credHelpers) whose key is another
    spelling of the same registry; V(absent) removes all of them.
  - Needs no Docker daemon, no C(docker login) and no network access.
author:
  - runnerkit contributors (@runnerkit)
attributes:
  diff_mode:
    support: full
    description:
      - Before and after JSON with every secret replaced by C(********) - C(auth), C(password),
        C(identitytoken) and C(registrytoken) of C(auths), every C(HttpHeaders) value, and user info in
        C(proxies) URLs. The same values are hidden in results and C(-vvv) output.
options:
  path:
    description:
      - The C(config.json) to manage. Links are handled as the notes say.
    type: path
    required: true
  registries:
    description:
      - One entry per registry. Static credentials (O(registries[].username) and O(registries[].password), or
        O(registries[].auth)) become an C(auths) entry holding the base64 C(auth); O(registries[].helper) becomes
        a C(credHelpers) entry. Registries not listed are left alone unless O(exclusive=true).
    type: list
    elements: dict
    default: []
    suboptions:
      registry:
        description: C(host[:port]) or C(host[:port]/namespace), exactly as images name it (ports must match).
        type: str
        required: true
      username:
        description: User name for static credentials.
        type: str
      password:
        description: Password or token for static credentials.
        type: str
      auth:
        description: The base64 of C(user:password), instead of O(registries[].username)/O(registries[].password).
        type: str
      helper:
        description:
          - A credential helper name such as C(ecr-login); the binary C(docker-credential-<helper>) must be on the
            PATH of the process that reads this file.
        type: str
      state:
        description: V(absent) removes the registry from C(auths) and C(credHelpers).
        type: str
        choices: [present, absent]
        default: present
      expires_at:
        description:
          - When these static credentials stop working (ISO 8601, such as C(2027-03-01T00:00:00Z); a time without
            zone is UTC), for robot accounts, deploy and access tokens that expire.
          - Recorded with a fingerprint of the password (never the password) in O(expiry_state_file), where
            M(runnerkit.gitlab_runner.runner_auth_info) (and C(playbooks/audit.yml)) reads it to report credentials
            that expire within its C(expiry_warn_days) and to fail a host whose credentials expired.
          - Unset, the C(exp) of a password that is a JWT is recorded; nothing is recorded otherwise.
        type: str
        version_added: 0.2.0
  creds_store:
    description:
      - The global C(credsStore). Omitted leaves it alone; an empty string removes it.
      - A global store is used for every registry without a C(credHelpers) entry, Docker Hub included, which
        breaks Docker Hub pulls for GitLab Runner. Setting one needs O(allow_creds_store=true) and still warns;
        C(ecr-login) is refused because it cannot store credentials.
    type: str
  allow_creds_store:
    description: Allow setting O(creds_store).
    type: bool
    default: false
  exclusive:
    description:
      - Remove C(auths) and C(credHelpers) entries of registries not listed in O(registries), except the C(auths)
        entries of O(keep_auths).
    type: bool
    default: false
  keep_auths:
    description:
      - Registries whose C(auths) entry stays as it is when O(registries) does not list them, also with
        O(exclusive=true), such as tokens another job renews (C(playbooks/rotate_ecr_auth.yml)).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - runnerkit.gitlab_runner.private_files
  - runnerkit.gitlab_runner.private_files.private_directory
  - runnerkit.gitlab_runner.expiry_state
notes:
  - GitLab Runner's Docker executor reads C(config.json) from the home directory of the user the runner process
    runs as (root for a package install), even when jobs run with C(--user).
  - skopeo and podman read C(auths) and C(credHelpers) of this file too, but ignore C(credsStore).
  - The file is read as Go's JSON decoder (Docker's and the runner's) reads it. C(NaN) and C(Infinity), which
    Python would accept, are refused with a message. A UTF-8 byte order mark (BOM) at the start makes Docker and
    the runner ignore the whole file, so it is read past and the file is written without it (a change, with a
    warning).
seealso:
  - module: runnerkit.gitlab_runner.runner_config
  - plugin: runnerkit.gitlab_runner.docker_auth_config
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Registry credentials for the runner process user
  runnerkit.gitlab_runner.docker_config:
    path: /root/.docker/config.json
    registries:
      - registry: "my.registry.tld:5000"
        username: ci
        password: "{{ vault_ci_password }}"
      - registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
        helper: ecr-login
      - registry: old.registry.tld
        state: absent

- name: Exactly these registries and nothing else, owned by the runner user
  runnerkit.gitlab_runner.docker_config:
    path: /home/gitlab-runner/.docker/config.json
    owner: gitlab-runner
    exclusive: true
    registries:
      - {registry: "registry.example.com/team-a", auth: "{{ team_a_auth }}"}

- name: A Harbor robot account that expires (runner_auth_info warns 14 days before and audit.yml can fail after)
  runnerkit.gitlab_runner.docker_config:
    path: /home/gitlab-runner/.docker/config.json
    owner: gitlab-runner
    registries:
      - registry: harbor.example.com
        username: robot$ci
        password: "{{ vault_harbor_robot_secret }}"
        expires_at: "2027-03-01T00:00:00Z"

- name: The same, but keep the ECR token another job renews, and make an existing ~/.docker private
  runnerkit.gitlab_runner.docker_config:
    path: /home/gitlab-runner/.docker/config.json
    owner: gitlab-runner
    exclusive: true
    keep_auths: [123456789012.dkr.ecr.eu-west-1.amazonaws.com]
    private_directory: true
    registries:
      - {registry: "registry.example.com/team-a", auth: "{{ team_a_auth }}"}
"""

RETURN = r"""
changes:
  description: Per registry key, V(added), V(updated), V(removed) or V(unchanged). Never a secret.
  returned: always
  type: dict
  sample: {"my.registry.tld:5000": "added", "123456789012.dkr.ecr.eu-west-1.amazonaws.com": "unchanged"}
expires_at:
  description:
    - Per registry key, the expiry recorded for its static credentials in O(expiry_state_file) (from
      O(registries[].expires_at) or a JWT password's C(exp)), ISO 8601 UTC. Registries without one are not listed.
  returned: always
  type: dict
  sample: {"harbor.example.com": "2027-03-01T00:00:00Z"}
  version_added: 0.2.0
path:
  description: The file that was managed, after following symlinks.
  returned: always
  type: str
  sample: /root/.docker/config.json
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _rotation as rotation
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

FILE_MODE = 0o600
DIR_MODE = 0o700

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    registries=dict(type="list", elements="dict", default=[], options=auth.REGISTRY_ENTRY_OPTIONS),
    expiry_state_file=dict(type="path", default="/var/lib/runnerkit/rotate_ecr_auth.json"),
    creds_store=dict(type="str"),
    allow_creds_store=dict(type="bool", default=False),
    exclusive=dict(type="bool", default=False),
    keep_auths=dict(type="list", elements="str", default=[], no_log=False),
    private_directory=dict(type="bool", default=False),
    owner=dict(type="str"),
    group=dict(type="str"),
)


def needs_writing(text, current, new, stat, uid, gid):
    """A missing file, new content, a BOM to drop, or the wrong mode or owner."""
    return (text is None or new != current or auth.strip_bom(text)[1]
            or files.attributes_differ(stat, FILE_MODE, uid, gid))


def run(module, path):
    params = module.params
    entries, warnings = auth.build_registry_entries(params["registries"])
    records = rotation.static_records(params["registries"])  # a bad expires_at fails before anything is written
    keep = auth.normalize_keep(params["keep_auths"], "keep_auths")
    uid, gid = files.resolve_ids(params["owner"], params["group"])

    def plan(text, stat):
        current = auth.parse_config_json(auth.strip_bom(text)[0])
        new, changes, more = auth.plan_config_json(current, entries, params["creds_store"],
                                                   params["allow_creds_store"], params["exclusive"], keep)
        return (current, new, changes, more), needs_writing(text, current, new, stat, uid, gid)

    def write(_text, stat, planned):
        files.atomic_write(path, auth.dump_config_json(planned[1]), stat=stat, mode=FILE_MODE, owner=uid, group=gid,
                           selinux=module.selinux_enabled())

    update = files.update_locked(path, plan, write, module.check_mode, DIR_MODE, uid, gid,
                                 params["private_directory"])
    current, new, changes, more = update.planned
    if auth.strip_bom(update.text)[1]:
        more.append(auth.BOM_DROPPED % path)
    return dict(changed=update.changed, changes=changes, before=current if update.text is not None else None,
                after=new, warnings=warnings + more, records=records)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    path = module.params["path"]
    try:
        path = files.real_path(path)
        outcome = run(module, path)
    except (auth.AuthConfigError, rotation.RotationError, files.FileError) as exc:
        module.fail_json(msg="%s: %s; the file was left unchanged" % (path, exc), path=path)
    try:
        expiry_changed, recorded = rotation.record_static_expiries(
            module.params["expiry_state_file"], {path: outcome["records"]}, module.check_mode,
            module.selinux_enabled())
    except (rotation.RotationError, files.FileError) as exc:
        module.fail_json(msg="expiry_state_file: %s; %s was %s" % (
            exc, path, "written" if outcome["changed"] and not module.check_mode else "left unchanged"), path=path)
    found = secrets.collect(outcome["before"] or {}) | secrets.collect(outcome["after"])
    secrets.no_log(module, found)
    for warning in outcome["warnings"]:
        module.warn(warning)
    result = dict(changed=outcome["changed"] or expiry_changed, changes=outcome["changes"], path=path,
                  expires_at=recorded.get(path, {}))
    if module._diff and outcome["changed"]:
        result["diff"] = dict(before=auth.masked_config_json(outcome["before"], found),
                              after=auth.masked_config_json(outcome["after"], found),
                              before_header=path, after_header=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
