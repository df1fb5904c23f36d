# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the packaging tests (make packaging): the Galaxy artifact and its installed copy.

* ``artifact``: the tarball ``ansible-galaxy collection build`` makes of the repository (once per
  session), as users and the execution environment build get it.
* ``installed``: a collections directory holding only that artifact, installed offline with
  ``ansible-galaxy collection install --offline -p``; ``installed_root`` is the collection in it.
Helpers (run, tool, clean_env, REPO_ROOT) are in packaging_support.py.
"""

from __future__ import annotations

import pytest

from packaging_support import REPO_ROOT, run, tool


@pytest.fixture(scope="session")
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("artifact")
    run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), REPO_ROOT], cwd=str(out))
    built = sorted(out.glob("runnerkit-gitlab_runner-*.tar.gz"))
    assert len(built) == 1, built
    return built[0]


@pytest.fixture(scope="session")
def installed(tmp_path_factory, artifact):
    dest = tmp_path_factory.mktemp("installed")
    run([tool("ansible-galaxy"), "collection", "install", "--offline", "-p", str(dest), str(artifact)],
        cwd=str(dest))
    return dest


@pytest.fixture(scope="session")
def installed_root(installed):
    root = installed / "ansible_collections" / "runnerkit" / "gitlab_runner"
    assert (root / "MANIFEST.json").is_file()
    return root
