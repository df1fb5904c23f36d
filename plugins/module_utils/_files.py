# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The one way this collection writes files.

Lock a sibling lock file, write a temp file in the target's directory, fsync, rename over the
target, fsync the directory. The temp file is created 0600 and gets the final mode and owner
before the rename, so a secret file is never world-readable, not even for a moment. Any failure
removes the temp file and leaves the target exactly as it was.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import os
import pwd
import shutil
import tempfile
import time

NEW_FILE_MODE = 0o600


class FileError(Exception):
    """A file could not be read or written; the message says which and why."""


def resolve_ids(owner, group):
    """Numeric (uid, gid) for owner/group names; the group defaults to the owner's primary group."""
    uid = gid = None
    try:
        if owner is not None:
            entry = pwd.getpwnam(owner)
            uid, gid = entry.pw_uid, entry.pw_gid
        if group is not None:
            gid = grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise FileError("owner/group: no such user or group %s" % exc) from exc
    return uid, gid


def owner_differs(stat, uid, gid):
    """Whether an existing file's owner or group differs from the wanted ids (None: no opinion)."""
    return stat is not None and ((uid is not None and stat.st_uid != uid) or (gid is not None and stat.st_gid != gid))


def real_path(path):
    """Follow symlinks to the file that is really edited (like lineinfile with follow)."""
    return os.path.realpath(os.path.expanduser(path))


def read_text(path):
    """Return (text, stat) of `path`, or (None, None) when it does not exist."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
            stat = os.fstat(handle.fileno())
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise FileError("cannot read %s: %s" % (path, exc.strerror or exc)) from exc
    try:
        return data.decode("utf-8"), stat
    except UnicodeDecodeError as exc:
        raise FileError("cannot read %s: not UTF-8 text (byte %d)" % (path, exc.start)) from exc


def lock_path(path):
    directory, name = os.path.split(path)
    return os.path.join(directory, ".%s.lock" % name)


@contextlib.contextmanager
def locked(path, uid=None, gid=None):
    """Hold an exclusive flock on the lock file beside `path` (created 0600 if missing).

    The lock file belongs to `uid`/`gid`, else to the owner of `path`: a 0600 lock file of root in the
    runner user's directory would lock that user out of its own file."""
    if uid is None and gid is None:
        with contextlib.suppress(OSError):
            target = os.stat(path)
            uid, gid = target.st_uid, target.st_gid
    try:
        fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, NEW_FILE_MODE)
    except OSError as exc:
        raise FileError("cannot create lock file %s: %s" % (lock_path(path), exc.strerror or exc)) from exc
    try:
        if owner_differs(os.fstat(fd), uid, gid):
            with contextlib.suppress(OSError):  # only root may give files away; then the lock is ours anyway
                os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def backup_name(path):
    """The name ansible-core's backup_local() uses: path.PID.YYYY-MM-DD@HH:MM:SS~."""
    return "%s.%s.%s~" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime()))


def copy_private(source, target):
    """Copy a file that may hold secrets: created 0600, content, then the source's mode and times."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, NEW_FILE_MODE)
    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out)
        out.flush()
        os.fsync(out.fileno())
    shutil.copystat(source, target)


def ensure_directory(directory, mode, uid=None, gid=None):
    """Create `directory` and every missing parent with `mode` (not only the last one, as os.makedirs
    does) and the given owner; an existing directory is left as it is."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for path in reversed(missing):
        try:
            os.mkdir(path, mode)
            os.chmod(path, mode)  # mkdir applies the umask
            if uid is not None or gid is not None:
                os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
        except OSError as exc:
            raise FileError("cannot create directory %s: %s" % (path, exc.strerror or exc)) from exc


def set_attributes(path, mode, uid=None, gid=None):
    """Give an existing file or directory `mode` and, where given, owner and group."""
    try:
        if uid is not None or gid is not None:
            os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
        os.chmod(path, mode)
    except OSError as exc:
        raise FileError("cannot set mode and owner of %s: %s" % (path, exc.strerror or exc)) from exc


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, text, stat=None, mode=None, owner=None, group=None, backup=False):
    """Replace `path` with `text` atomically; return the backup file name or None.

    `stat` is the stat of the file being replaced (its mode and owner are kept); a new file gets
    `mode` (default 0600). `owner`/`group` are numeric ids and win over the old ones.
    """
    directory = os.path.dirname(path) or "."
    if mode is None:
        mode = (stat.st_mode & 0o7777) if stat else NEW_FILE_MODE
    uid = owner if owner is not None else (stat.st_uid if stat else -1)
    gid = group if group is not None else (stat.st_gid if stat else -1)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path), suffix=".tmp")
    except OSError as exc:
        raise FileError("cannot create a temporary file in %s: %s" % (directory, exc.strerror or exc)) from exc
    backup_file = None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
        if backup and stat is not None:
            backup_file = backup_name(path)
            copy_private(path, backup_file)
        os.rename(tmp, path)
    except OSError as exc:
        for leftover in (tmp, backup_file):
            if leftover:
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
        reason = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise FileError("cannot write %s: %s" % (path, reason)) from exc
    with contextlib.suppress(OSError):
        _fsync_dir(directory)
    return backup_file
