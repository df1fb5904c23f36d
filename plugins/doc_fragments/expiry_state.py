# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The option of the modules that record the expiry of static registry credentials (module_utils/_rotation.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  expiry_state_file:
    description:
      - The rotation state file where the expiry of static credentials (the C(expires_at) of a registry entry, or
        the C(exp) of a JWT password) is recorded, beside what C(playbooks/rotate_registry_auth.yml) and
        C(playbooks/rotate_ecr_auth.yml) record there. Owned by root, C(0600) in a C(0700) directory (created when
        missing), written under the same link rules as O(path); never written in check mode, and only when a
        record changes (a host without expiring credentials gets no such file).
      - Only a fingerprint of each password is kept there, never the password.
      - Its default is the default of C(ecr_state_file) of M(runnerkit.gitlab_runner.runner_auth_info).
    type: path
    default: /var/lib/runnerkit/rotate_ecr_auth.json
    version_added: 0.2.0
"""
