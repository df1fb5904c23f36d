#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_daemon_config
short_description: Docker Hub mirrors and other keys of the Docker daemon's daemon.json, merged in place
version_added: 0.2.0
description:
  - Sets C(registry-mirrors), C(insecure-registries) (only with O(allow_insecure=true)) and any other keys given in
    O(settings) in the Docker daemon's C(daemon.json), merged into the existing file. Every other key keeps its value
    and its place; the file keeps its indentation (tabs, spaces, or one line). Whether something changed is decided on
    the parsed JSON.
  - Written atomically, under a lock, through the collection's one write path (see C(docs/security.md)); a new file is
    C(0644), an existing one keeps its mode and owner.
  - Does not signal the daemon. It returns RV(reload_needed) when only keys that dockerd applies on C(SIGHUP) changed,
    and RV(restart_needed) when any other key changed; the M(runnerkit.gitlab_runner.registry_trust) role
    acts on them.
author:
  - runnerkit contributors (@runnerkit)
attributes:
  check_mode:
    support: full
    description: Reports what would change, RV(reload_needed) and RV(restart_needed), and writes nothing.
  diff_mode:
    support: full
    description: Before and after text of C(daemon.json), with URL user info and token-shaped values replaced by C(********).
  idempotent:
    support: full
    description: A second run with the same arguments reports no change.
options:
  path:
    description: The daemon's configuration file (C(dockerd --config-file)).
    type: path
    default: /etc/docker/daemon.json
  registry_mirrors:
    description:
      - Pull-through mirrors, as C(https://host[:port]) URLs, tried in order before Docker Hub.
      - B(Docker Hub only.) dockerd uses mirrors for images of Docker Hub (C(alpine:3), C(library/alpine),
        C(docker.io/...)); it never uses them for another registry. A mirror with an internal CA also needs its CA in
        C(certs.d) (M(runnerkit.gitlab_runner.registry_trust)), otherwise dockerd silently falls back to Docker Hub.
      - Omitted leaves the key alone; an empty list removes it.
    type: list
    elements: str
  insecure_registries:
    description:
      - Registries (C(host[:port]) or CIDR) that dockerd reaches without verifying TLS, or over plain HTTP. Needs
        O(allow_insecure=true) and gives a warning; trust the registry's CA with
        M(runnerkit.gitlab_runner.registry_trust) instead where possible.
      - Omitted leaves the key alone; an empty list removes it.
    type: list
    elements: str
  allow_insecure:
    description: Allow writing a non-empty O(insecure_registries).
    type: bool
    default: false
  settings:
    description:
      - Other C(daemon.json) keys, spelled as dockerd spells them (C(max-concurrent-downloads), C(log-opts),
        C(live-restore), ...). A value replaces the key's whole value (C(log-opts) is not merged key by key); a
        C(null) value removes the key. C(registry-mirrors) and C(insecure-registries) are refused here (use their
        options).
    type: dict
    default: {}
notes:
  - Keys dockerd applies on C(SIGHUP) (dockerd reference, "Configuration reload behavior") - C(debug), C(labels),
    C(live-restore), C(max-concurrent-downloads), C(max-concurrent-uploads), C(max-download-attempts),
    C(default-runtime), C(runtimes), C(authorization-plugins), C(insecure-registries), C(registry-mirrors),
    C(shutdown-timeout), C(features). A change of any other key (C(log-level), C(log-opts), C(data-root), ...) sets
    RV(restart_needed).
  - C(NaN) and C(Infinity), which dockerd's JSON decoder refuses, are refused in the file and in O(settings).
seealso:
  - module: runnerkit.gitlab_runner.registry_trust
"""

EXAMPLES = r"""
---
- name: A Docker Hub pull-through mirror and parallel downloads
  runnerkit.gitlab_runner.docker_daemon_config:
    registry_mirrors: [https://mirror.example.com]
    settings:
      max-concurrent-downloads: 6
  register: daemon_json

- name: Reload dockerd when only reloadable keys changed
  ansible.builtin.command: pkill -HUP -x dockerd
  when: daemon_json.reload_needed
  changed_when: true
"""

RETURN = r"""
changes:
  description: Per key asked for, V(added), V(updated), V(removed) or V(unchanged).
  returned: always
  type: dict
  sample: {"registry-mirrors": "added", "max-concurrent-downloads": "unchanged"}
reload_needed:
  description: Something changed and every changed key is applied by dockerd on C(SIGHUP).
  returned: always
  type: bool
  sample: true
restart_needed:
  description: A changed key is not applied on C(SIGHUP); dockerd must restart for it.
  returned: always
  type: bool
  sample: false
path:
  description: The file that was managed, after following symlinks.
  returned: always
  type: str
  sample: /etc/docker/daemon.json
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _daemon_json as daemon_json
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

NEW_FILE_MODE = 0o644
DIR_MODE = 0o755

ARGUMENT_SPEC = dict(
    path=dict(type="path", default="/etc/docker/daemon.json"),
    registry_mirrors=dict(type="list", elements="str"),
    insecure_registries=dict(type="list", elements="str"),
    allow_insecure=dict(type="bool", default=False),
    settings=dict(type="dict", default={}),
)


def run(module, path):
    params = module.params

    def plan(text, _stat):
        outcome = daemon_json.plan(text, params["registry_mirrors"], params["insecure_registries"],
                                   params["allow_insecure"], params["settings"])
        return outcome, outcome["changed"]

    def write(_text, stat, outcome):
        files.atomic_write(path, outcome["text"], stat=stat, mode=None if stat else NEW_FILE_MODE,
                           selinux=module.selinux_enabled())

    update = files.update_locked(path, plan, write, module.check_mode, DIR_MODE)
    outcome = update.planned
    outcome["before"] = update.text or ""
    return outcome


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    # a mirror or proxy URL with user info is masked in every result, failures included
    secrets.no_log(module, secrets.shape_secrets(json.dumps(module.params, ensure_ascii=False)))
    path = module.params["path"]
    try:
        path = files.real_path(path)
        outcome = run(module, path)
    except (daemon_json.DaemonConfigError, files.FileError) as exc:
        module.fail_json(msg="%s: %s; the file was left unchanged" % (path, exc), path=path)
    # proxies with user info, tokens in labels: masked by shape, as in every other module's output
    found = secrets.shape_secrets(outcome["before"]) | secrets.shape_secrets(outcome["text"])
    secrets.no_log(module, found)
    for warning in outcome["warnings"]:
        module.warn(warning)
    result = dict(changed=outcome["changed"], changes=outcome["changes"], path=path,
                  reload_needed=outcome["reload_needed"], restart_needed=outcome["restart_needed"])
    if module._diff and outcome["changed"]:
        result["diff"] = dict(before=secrets.mask(outcome["before"], found), after=secrets.mask(outcome["text"], found),
                              before_header=path, after_header=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
