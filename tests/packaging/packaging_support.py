# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the packaging tests: the repository, the venv's tools, a clean environment, run()."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)


def tool(name):
    """Path of a tool of the venv (ansible-galaxy, ansible-builder, antsibull-docs ...)."""
    path = os.path.join(VENV_BIN, name)
    if not os.access(path, os.X_OK):
        pytest.fail("%s is not installed in %s: run 'make packaging' (it installs tests/packaging-requirements.txt)"
                    % (name, VENV_BIN))
    return path


def clean_env(**extra):
    """The environment without anything that points Ansible at the repository."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ANSIBLE_") and k not in ("PYTHONPATH",)}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    env.update(extra)
    return env


def run(argv, check=True, **kwargs):
    kwargs.setdefault("env", clean_env())
    proc = subprocess.run(argv, check=False, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kwargs)
    if check and proc.returncode != 0:
        pytest.fail("%s failed (rc %d)\n--- stdout\n%s\n--- stderr\n%s"
                    % (" ".join(argv), proc.returncode, proc.stdout[-6000:], proc.stderr[-6000:]))
    return proc
