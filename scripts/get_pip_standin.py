# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip bootstrap script ansible-test downloads.

ansible-test builds an empty virtual environment (``python -m venv --without-pip``)
for each sanity test and then runs ``<venv python> get_pip_<version>.py <pip options>
pip==X ...`` to put pip into it.  The real script comes from
https://ci-files.testing.ansible.com, which is not reachable here.

This stand-in does the same job with what Python and PyPI offer:

1. ``python -m ensurepip --upgrade --default-pip`` (pip wheel bundled with Python);
2. ``python -m pip install <the arguments it was given>`` so the requested pip
   version (and anything else asked for) comes from PyPI, ignoring the
   get-pip-only options ``--no-setuptools`` and ``--no-wheel``.

The Makefile copies it to ``~/.ansible/test/cache/get_pip_<version>.py``, where
ansible-test looks for a cached copy before downloading.
"""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = frozenset(("--no-setuptools", "--no-wheel"))


def main() -> int:
    """Bootstrap pip into the interpreter running this script."""
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    python = sys.executable

    subprocess.run([python, "-m", "ensurepip", "--upgrade", "--default-pip"],
                   check=True, stdout=subprocess.DEVNULL)

    packages = [arg for arg in args if not arg.startswith("-")]
    if packages:
        subprocess.run([python, "-m", "pip", "install"] + args, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
