# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options of the modules that talk to the GitLab API (module_utils/_gitlab_api.py).

The modules differ in their default O(timeout) only, which each one gives next to the fragment.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  validate_certs:
    description: Whether GitLab's TLS certificate is verified. Turn it off for a test instance only.
    type: bool
    default: true
  ca_path:
    description: A PEM file with the CA that signed GitLab's certificate, when the system's CAs do not.
    type: path
  timeout:
    description: Seconds all requests to GitLab of one run may take together.
    type: int
"""
