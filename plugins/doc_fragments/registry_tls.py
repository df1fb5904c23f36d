# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The TLS options of the plugins that talk to registries (module_utils/_registry_client.py Transport).

O(timeout) stays with each plugin: what it bounds differs (a helper run too, or one lookup).
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  ca_file:
    description:
      - A PEM file of CA certificates to trust, in addition to the system store and to
        C(/etc/docker/certs.d/<registry>/*.crt), where the Docker daemon looks.
      - Like the daemon, the client also presents the client certificate of C(/etc/docker/certs.d/<registry>/)
        (every C(X.cert) with its C(X.key), as M(runnerkit.gitlab_runner.registry_trust) writes them).
    type: path
  validate_certs:
    description: Verify the registries' TLS certificates. Turn it off for a test registry only.
    type: bool
    default: true
"""
