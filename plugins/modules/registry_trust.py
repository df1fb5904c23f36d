#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry_trust
short_description: CA and client certificates of private registries in the Docker daemon's certs.d
version_added: 0.2.0
description:
  - Writes, for every registry listed, C(ca.crt) and optionally C(client.cert) and C(client.key) into
    C(/etc/docker/certs.d/<host[:port]>/), the directory the Docker daemon reads at every pull (no reload needed), and
    with O(registries[].containers=true) also into C(/etc/containers/certs.d/<host[:port]>/), which podman, skopeo and
    buildah read. All registries in one call.
  - "Fixes C(x509: certificate signed by unknown authority) and C(remote error: tls: bad certificate) on pulls from a
    registry with an internal CA or one that requires a client certificate."
  - Validates everything before writing anything, with a message naming the registry and the problem. Every
    certificate of the CA bundle must parse as PEM, be a CA (basicConstraints C(CA:TRUE)) and be valid now; the client
    certificate must be valid now and match the client key; a certificate that expires within O(warn_days) days
    gives a warning.
  - Certificates are read with the C(openssl) command line (on the managed host), which Debian, Ubuntu and Red Hat
    install with their CA store; python C(cryptography) is not needed. The client key reaches C(openssl) on standard
    input only.
  - Registry names are normalized the way credential keys are (M(runnerkit.gitlab_runner.docker_config)), so one
    registry has one directory C(host[:port]) - C(https://Reg.Example.com:5000/) is C(reg.example.com:5000). A port is
    kept as given, as the daemon looks up the directory by the image's C(host:port).
  - Files are written atomically through the collection's one write path (see C(docs/security.md)); C(client.key) is
    C(0600), the certificates C(0644), created directories C(0755).
author:
  - runnerkit contributors (@runnerkit)
attributes:
  check_mode:
    support: full
    description: Validates and reports what would change, and writes nothing.
  diff_mode:
    support: full
    description:
      - Before and after list, per directory, the managed files with their mode and the subject, SHA-256 fingerprint
        and expiry of each certificate; a key is shown only as the SHA-256 of its public key. Never key material.
  idempotent:
    support: full
    description: A second run with the same arguments reports no change.
options:
  registries:
    description:
      - One entry per registry. Registries not listed are left alone unless O(exclusive=true).
    type: list
    elements: dict
    default: []
    suboptions:
      registry:
        description:
          - C(host[:port]) of the registry, exactly as images name it (C(registry.example.com:5000/team/app) needs
            C(registry.example.com:5000)). A scheme and a trailing C(/) are dropped, the host lower-cased.
          - Docker Hub and namespaces (C(host/path)) are refused.
        type: str
        required: true
      ca_cert:
        description:
          - The PEM CA certificate (or bundle) that signed the registry's TLS certificate, written as C(ca.crt).
            Required when O(registries[].state=present).
        type: str
      client_cert:
        description:
          - PEM client certificate for a registry that requires one (mutual TLS), written as C(client.cert).
            Needs O(registries[].client_key).
          - Without O(registries[].client_cert) and O(registries[].client_key), existing C(client.cert) and
            C(client.key) files of the registry are removed.
        type: str
      client_key:
        description:
          - The unencrypted PEM private key of O(registries[].client_cert), written as C(client.key) with mode C(0600).
            Masked in every output.
        type: str
      containers:
        description: Also write the files into O(containers_certs_d_root) for podman, skopeo and buildah.
        type: bool
        default: false
      state:
        description:
          - V(absent) removes C(ca.crt), C(client.cert) and C(client.key) of the registry in O(certs_d_root) and in
            O(containers_certs_d_root), and the directory when nothing else is left in it.
        type: str
        choices: [present, absent]
        default: present
  exclusive:
    description:
      - Also remove the managed files (C(ca.crt), C(client.cert), C(client.key)) of every directory in O(certs_d_root)
        and O(containers_certs_d_root) whose registry O(registries) does not list. Other files stay.
    type: bool
    default: false
  warn_days:
    description: Warn when a certificate expires within this many days.
    type: int
    default: 30
  certs_d_root:
    description:
      - The Docker daemon's certs.d directory. The daemon's path is fixed; change it only for tests or a chroot.
    type: path
    default: /etc/docker/certs.d
  containers_certs_d_root:
    description: The certs.d directory of podman, skopeo and buildah (containers-certs.d(5)).
    type: path
    default: /etc/containers/certs.d
notes:
  - The daemon reads certs.d at every pull, so no reload or restart is needed after a change.
  - A registry on C(127.0.0.0/8), or listed in C(insecure-registries), is not verified by the daemon at all.
  - Not the system trust store - the daemon uses certs.d for registries, and C(update-ca-certificates) would make the
    whole host trust the registry's CA.
requirements:
  - The C(openssl) command on the managed host.
seealso:
  - module: runnerkit.gitlab_runner.docker_config
  - module: runnerkit.gitlab_runner.docker_daemon_config
"""

EXAMPLES = r"""
---
- name: Trust the internal CA of two registries, one of them with a client certificate
  runnerkit.gitlab_runner.registry_trust:
    registries:
      - registry: registry.example.com:5000
        ca_cert: "{{ lookup('ansible.builtin.file', 'files/internal-ca.pem') }}"
        containers: true
      - registry: harbor.example.com
        ca_cert: "{{ lookup('ansible.builtin.file', 'files/internal-ca.pem') }}"
        client_cert: "{{ lookup('ansible.builtin.file', 'files/runner-client.pem') }}"
        client_key: "{{ vault_runner_client_key }}"
      - registry: old.example.com
        state: absent
"""

RETURN = r"""
changes:
  description: Per certs.d directory, V(added), V(updated), V(removed) or V(unchanged).
  returned: always
  type: dict
  sample: {"/etc/docker/certs.d/registry.example.com:5000": "added"}
certificates:
  description: Per registry, the subject, SHA-256 fingerprint, expiry date and days left of each certificate written.
  returned: always
  type: dict
  sample:
    registry.example.com:5000:
      ca_cert:
        - {subject: "CN=Example Internal CA", fingerprint_sha256: "1D:10:...:2B", not_after: "2030-01-01T00:00:00Z",
           expires_in_days: 1123}
"""

import os
import stat as stat_module
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _trust as trust

ARGUMENT_SPEC = dict(
    registries=dict(type="list", elements="dict", default=[], options=dict(
        registry=dict(type="str", required=True),
        ca_cert=dict(type="str"),
        client_cert=dict(type="str"),
        client_key=dict(type="str", no_log=True),
        containers=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )),
    exclusive=dict(type="bool", default=False),
    warn_days=dict(type="int", default=30),
    certs_d_root=dict(type="path", default="/etc/docker/certs.d"),
    containers_certs_d_root=dict(type="path", default="/etc/containers/certs.d"),
)
# client.key before client.cert: the daemon refuses a client certificate whose key is not there yet
WRITE_ORDER = (trust.KEY_FILE, trust.CERT_FILE, trust.CA_FILE)


def read_managed(directory):
    """{name: (text, mode)} of the managed files present in a certs.d directory."""
    found = {}
    for name in trust.MANAGED_FILES:
        text, stat = files.read_text(os.path.join(directory, name))
        if text is not None:
            found[name] = (text, stat_module.S_IMODE(stat.st_mode))
    return found


def directory_targets(params, entries):
    """[(directory, wanted files)] for every certs.d directory this run manages."""
    roots = [params["certs_d_root"], params["containers_certs_d_root"]]
    targets = []
    for key, entry in sorted(entries.items()):
        if entry["state"] == "absent":
            targets.extend((os.path.join(root, key), {}) for root in roots)
            continue
        targets.append((os.path.join(roots[0], key), entry["files"]))
        if entry["containers"]:
            targets.append((os.path.join(roots[1], key), entry["files"]))
    if params["exclusive"]:
        for root in roots:
            targets.extend((os.path.join(root, name), {}) for name in files.list_directory(root)
                           if not name.startswith(".") and name not in entries)
    return targets


def status(current, wanted):
    if current == wanted:
        return "unchanged"
    if not current:
        return "added"
    return "removed" if not wanted else "updated"


def apply(directory, wanted, selinux):
    """Write and remove under a lock beside the directory (in certs.d itself: nothing the daemon reads)."""
    files.ensure_directory(os.path.dirname(directory), trust.DIR_MODE)
    with files.locked(directory):
        current = read_managed(directory)
        writes, removals = trust.plan_directory(current, wanted)
        if writes:
            files.ensure_directory(directory, trust.DIR_MODE)
        for name, text, mode in sorted(writes, key=lambda item: WRITE_ORDER.index(item[0])):
            files.atomic_write(os.path.join(directory, name), text, mode=mode, selinux=selinux)
        for name in sorted(removals, key=WRITE_ORDER.index, reverse=True):
            files.remove(os.path.join(directory, name))
        if not wanted:
            files.remove_empty_directory(directory)


def run(module, openssl):
    params = module.params
    entries, warnings = trust.build_entries(openssl, params["registries"], time.time(), params["warn_days"])
    changes, before, after = {}, [], []
    for directory, wanted in directory_targets(params, entries):
        current = read_managed(directory)
        if not current and not wanted:
            continue
        changes[directory] = status(current, wanted)
        if changes[directory] == "unchanged":
            continue
        if module._diff:
            before.append("%s/\n%s" % (directory, trust.describe_files(openssl, current)))
            after.append("%s/\n%s" % (directory, trust.describe_files(openssl, wanted)))
        if not module.check_mode:
            apply(directory, wanted, module.selinux_enabled())
    certificates = {key: entry["certificates"] for key, entry in entries.items() if entry["state"] == "present"}
    return dict(changes=changes, certificates=certificates, warnings=warnings, before=before, after=after)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    binary = module.get_bin_path("openssl")
    if binary is None:
        module.fail_json(msg="registry_trust needs the openssl command on the host to check certificates; install "
                             "the openssl package. Nothing was written")
    try:
        outcome = run(module, trust.OpenSSL(binary))
    except trust.TrustError as exc:
        module.fail_json(msg="%s; nothing was written" % exc)
    except files.FileError as exc:
        module.fail_json(msg=str(exc))
    for warning in outcome["warnings"]:
        module.warn(warning)
    changed = any(value != "unchanged" for value in outcome["changes"].values())
    result = dict(changed=changed, changes=outcome["changes"], certificates=outcome["certificates"])
    if module._diff and changed:
        result["diff"] = dict(before="\n".join(outcome["before"]), after="\n".join(outcome["after"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
