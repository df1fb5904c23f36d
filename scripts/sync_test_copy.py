# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mirror the collection's files into a directory ansible-test accepts.

ansible-test wants to run from a directory whose real path ends in
``ansible_collections/<namespace>/<name>`` (it calls ``os.getcwd()``, which resolves
symlinks), so the repository is copied, not linked:

    python3 scripts/sync_test_copy.py SRC DEST

copies every file ``git ls-files -co --exclude-standard`` lists in SRC (tracked files
plus untracked files that are not ignored) to DEST, removes from DEST whatever is no
longer listed, and leaves DEST's ``.git`` and ``tests/output`` alone.  Unchanged files
(same size and mtime) are not copied again, so a rerun takes milliseconds.

DEST gets a git repository of its own (``git init``, nothing committed), so
ansible-test lists the copy's files with ``git ls-files --others --exclude-standard``
in DEST and never climbs up to the enclosing repository, for which DEST is an
ignored directory.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

KEEP = (".git", "tests/output")


def listed_files(src: str) -> set[str]:
    """Return the paths git lists for SRC (tracked + untracked, not ignored)."""
    # safe.directory: CI may check the repository out as another user than the one testing.
    git = ["git", "-c", "safe.directory=*", "-C", src, "ls-files", "-z"]
    out = subprocess.run(git + ["--cached", "--others", "--exclude-standard"],
                         check=True, stdout=subprocess.PIPE).stdout
    deleted = subprocess.run(git + ["--deleted"], check=True, stdout=subprocess.PIPE).stdout
    paths = set(out.decode().split("\0")) - set(deleted.decode().split("\0"))
    paths.discard("")
    return {p for p in paths if os.path.lexists(os.path.join(src, p))}


def kept(rel: str) -> bool:
    """Return True for paths in DEST this script must not touch."""
    return any(rel == k or rel.startswith(k + "/") for k in KEEP)


def same(src: str, dst: str) -> bool:
    """Return True when DST already mirrors SRC."""
    try:
        s, d = os.lstat(src), os.lstat(dst)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(s.st_mode) or stat.S_ISLNK(d.st_mode):
        return (stat.S_ISLNK(s.st_mode) and stat.S_ISLNK(d.st_mode)
                and os.readlink(src) == os.readlink(dst))
    return (stat.S_ISREG(d.st_mode) and s.st_size == d.st_size
            and int(s.st_mtime) == int(d.st_mtime) and s.st_mode == d.st_mode)


def remove(path: str) -> None:
    """Remove a file, symlink or directory tree."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def sync(src: str, dest: str) -> int:
    """Make DEST mirror the listed files of SRC; return the number of files copied."""
    wanted = listed_files(src)
    wanted_dirs = {os.path.dirname(p) for p in wanted}
    for p in list(wanted_dirs):
        while p:
            p = os.path.dirname(p)
            wanted_dirs.add(p)

    os.makedirs(dest, exist_ok=True)

    # Remove what is no longer listed (top-down, pruning kept and removed trees).
    for root, dirs, files in os.walk(dest):
        rel_root = os.path.relpath(root, dest)
        rel_root = "" if rel_root == "." else rel_root
        for name in list(dirs):
            rel = os.path.join(rel_root, name)
            full = os.path.join(root, name)
            if kept(rel):
                dirs.remove(name)
            elif os.path.islink(full):
                dirs.remove(name)
                if rel not in wanted:
                    os.unlink(full)
            elif rel not in wanted_dirs:
                dirs.remove(name)
                shutil.rmtree(full)
        for name in files:
            rel = os.path.join(rel_root, name)
            if not kept(rel) and rel not in wanted:
                os.unlink(os.path.join(root, name))

    copied = 0
    for rel in sorted(wanted):
        s, d = os.path.join(src, rel), os.path.join(dest, rel)
        if same(s, d):
            continue
        if os.path.lexists(d):
            remove(d)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if os.path.islink(s):
            os.symlink(os.readlink(s), d)
        else:
            shutil.copy2(s, d)
        copied += 1

    if not os.path.isdir(os.path.join(dest, ".git")):
        subprocess.run(["git", "init", "-q", dest], check=True)
    # ansible-test's own output must never count as a content file.
    with open(os.path.join(dest, ".git", "info", "exclude"), "w", encoding="utf-8") as f:
        f.write("/tests/output/\n__pycache__/\n*.pyc\n")
    return copied


def main() -> int:
    """Command line entry point."""
    if len(sys.argv) != 3:
        print("usage: sync_test_copy.py SRC DEST", file=sys.stderr)
        return 2
    src, dest = (os.path.abspath(a) for a in sys.argv[1:])
    copied = sync(src, dest)
    print(f"synced {src} -> {dest} ({copied} file(s) copied)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
