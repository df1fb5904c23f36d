# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make ``ansible_collections.runnerkit.gitlab_runner`` importable for plain pytest runs.

``make unit`` already puts ``.build/collections`` on PYTHONPATH; this file does the same
when pytest is started by hand (``.venv/bin/python -m pytest tests/unit``).  The
directory ``.build/collections/ansible_collections/runnerkit/gitlab_runner`` is a
symlink to the repository root.  Nothing happens when the repository already sits in an
``ansible_collections/runnerkit/gitlab_runner`` directory (ansible-test's copy).
"""

from __future__ import annotations

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS_DIR = os.path.join(REPO_ROOT, ".build", "collections")
LINK = os.path.join(COLLECTIONS_DIR, "ansible_collections", "runnerkit", "gitlab_runner")


def _collection_path() -> str:
    """Return the directory to put on sys.path so the collection imports by its FQCN."""
    parts = REPO_ROOT.split(os.sep)
    if parts[-3:] == ["ansible_collections", "runnerkit", "gitlab_runner"]:
        return os.sep.join(parts[:-3]) or os.sep
    if not (os.path.islink(LINK) and os.readlink(LINK) == REPO_ROOT):
        os.makedirs(os.path.dirname(LINK), exist_ok=True)
        tmp = "%s.%d" % (LINK, os.getpid())
        os.symlink(REPO_ROOT, tmp)
        os.replace(tmp, LINK)
    return COLLECTIONS_DIR


_PATH = _collection_path()
if _PATH not in sys.path:
    sys.path.insert(0, _PATH)
