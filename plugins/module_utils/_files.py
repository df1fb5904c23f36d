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

The modules run as root in directories that a runner user controls (~/.docker, an --init-user
config.toml), so no path is handed to the kernel in one piece (docs/security.md). Every path is
walked from / one component at a time with directory descriptors and O_NOFOLLOW; a symlink is
followed only when root or the user running the module owns it and no other non-root user can
write to the directory holding it. Everything beside the target is opened relative to its
directory's descriptor, new files are created with O_EXCL, and only descriptors this code created
(or a lone empty lock file) are chowned or chmodded.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import os
import pwd
import random
import shutil
import stat as stat_module
import time

NEW_FILE_MODE = 0o600
MAX_LINKS = 40  # the kernel's own limit of symlinks in one lookup
# tempfile's name alphabet and length: leftovers of versions that used tempfile.mkstemp match too
TEMP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
TEMP_RANDOM_LENGTH = 8
TRIES = 100  # attempts when a name is taken or vanishes meanwhile (a race, or names planted on purpose)
# O_PATH: walking needs search permission only, like the kernel's own lookup of a whole path
DIR_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK|O_NOCTTY: a FIFO or device planted under a file's name cannot hang or take over the run
FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
NOT_FOLLOWED = (errno.ELOOP, errno.ENOTDIR)  # what O_NOFOLLOW (with O_DIRECTORY) gives for a symlink
SELINUX_XATTR = "security.selinux"  # where the kernel keeps a file's SELinux context


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


def attributes_differ(stat, mode, uid, gid):
    """Whether an existing file or directory lacks the mode or owner it must have (None: nothing exists)."""
    if stat is None:
        return False
    return stat_module.S_IMODE(stat.st_mode) != mode or owner_differs(stat, uid, gid)


def directory_differs(private, directory, mode, uid, gid):
    """Whether a private directory (a module's private_directory) exists with the wrong mode or owner;
    a missing one is created right."""
    if not private or not os.path.isdir(directory):
        return False
    return attributes_differ(os.stat(directory), mode, uid, gid)


# --------------------------------------------------------------------------- the rule

def _passwd_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _user(uid):
    """'ci (uid 1001)' for a message; 'uid 1001' for a uid without a passwd entry."""
    name = _passwd_name(uid)
    return "%s (uid %d)" % (name, uid) if name else "uid %d" % uid


def _user_name(uid):
    return _passwd_name(uid) or "uid %d" % uid


def _group_name(gid):
    try:
        return "%s (gid %d)" % (grp.getgrgid(gid).gr_name, gid)
    except KeyError:
        return "gid %d" % gid


def _writers(dir_stat):
    """Who, other than root and the user running the module, can add, remove or rename entries of a
    directory, in words for a message ("ci controls"); None when nobody can."""
    if dir_stat.st_uid not in (0, os.geteuid()):
        return "%s controls" % _user_name(dir_stat.st_uid)  # an owner can chmod it writable at will
    if dir_stat.st_mode & stat_module.S_IWOTH:
        return "every user can write to"  # also with the sticky bit: new names can be planted
    if dir_stat.st_mode & stat_module.S_IWGRP and dir_stat.st_gid != 0:
        return "group %s can write to" % _group_name(dir_stat.st_gid)
    return None


def _check_link(shown, link_stat, dir_stat):
    """Raise unless a symlink may be followed: owned by root or by the user running the module, in a
    directory no other non-root user can write to (stricter than fs.protected_symlinks)."""
    writers = _writers(dir_stat)
    if link_stat.st_uid in (0, os.geteuid()) and writers is None:
        return
    reason = "a symlink owned by %s" % _user(link_stat.st_uid)
    if writers:
        reason += " in a directory %s" % writers
    raise FileError("refusing to follow %s: %s" % (shown, reason))


def _check_hard_link(shown, file_stat, dir_stat):
    """A file with more than one name in a directory another user controls may be a second name of a
    file of root: its content must not be read into, nor its inode written for, that user."""
    writers = _writers(dir_stat)
    if file_stat.st_nlink > 1 and writers:
        raise FileError("refusing to use %s: a hard link (%d names) owned by %s in a directory %s"
                        % (shown, file_stat.st_nlink, _user(file_stat.st_uid), writers))


def _describe(dir_fd, name):
    """What is under `name` now, with its owner, for a refusal message."""
    try:
        entry = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return "something that is gone again"
    kind = "a symlink" if stat_module.S_ISLNK(entry.st_mode) else "a file"
    writers = _writers(os.fstat(dir_fd))
    return "%s owned by %s%s" % (kind, _user(entry.st_uid), " in a directory %s" % writers if writers else "")


# --------------------------------------------------------------------------- walking a path

def _absolute(path):
    path = os.path.expanduser(path)
    return path if path.startswith("/") else os.path.join(os.getcwd(), path)


def _parts(path):
    return [part for part in path.split("/") if part not in ("", ".")]


def _shown(names, name=None):
    """The real path of directory names walked from / (and of `name` in that directory)."""
    return "/" + "/".join(names + ([name] if name else []))


def _split(path):
    """(directory, name) of a file path; the name must be a real name."""
    head, name = os.path.split(_absolute(path).rstrip("/"))
    if name in ("", ".", ".."):
        raise FileError("%s is not a file name" % path)
    return head or "/", name


def _reopen_root(fd):
    os.close(fd)
    return os.open("/", DIR_FLAGS)


def _set_dir_attributes(fd, mode, uid, gid):
    """chown and chmod the directory behind a descriptor opened with O_NOFOLLOW|O_DIRECTORY."""
    handle = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)  # "." is never a link
    try:
        if uid is not None or gid is not None:
            os.fchown(handle, -1 if uid is None else uid, -1 if gid is None else gid)
        os.fchmod(handle, mode)  # after fchown, which may clear mode bits
    finally:
        os.close(handle)


def _make_directory(parent, name, mode, uid, gid):
    """mkdir `name` in `parent` and give it mode and owner through its own descriptor. None when the
    name was taken meanwhile: the caller then opens whatever is there, by the rule."""
    try:
        os.mkdir(name, mode & 0o700, dir_fd=parent)  # never wider than the owner's bits until fchmod
    except FileExistsError:
        return None
    fd = os.open(name, DIR_FLAGS, dir_fd=parent)
    try:
        if os.fstat(fd).st_uid == os.geteuid():  # still the one made here, not one swapped in
            _set_dir_attributes(fd, mode, uid, gid)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _enter(parent, names, name, make):
    """The descriptor of directory `name` in `parent`, or the target (str) of a symlink the rule allows."""
    for _attempt in range(TRIES):
        try:
            return os.open(name, DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if make is None:
                raise
            made = _make_directory(parent, name, *make)
            if made is not None:
                return made
        except OSError as exc:
            if exc.errno not in NOT_FOLLOWED:
                raise
            link = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if not stat_module.S_ISLNK(link.st_mode):
                raise  # a file where a directory should be: "Not a directory"
            _check_link(_shown(names, name), link, os.fstat(parent))
            return os.readlink(name, dir_fd=parent)
    raise FileError("%s keeps appearing and disappearing" % _shown(names, name))


def _walk(path, make=None, partial=False):
    """Open the directory `path` by walking from / with O_NOFOLLOW, following only the symlinks the
    rule allows; return (descriptor, real path, components not found).

    A missing directory is created when `make` is (mode, uid, gid); otherwise FileNotFoundError is
    raised, or with `partial` the walk ends there and the components not found are returned."""
    pending = _parts(_absolute(path))
    names = []
    links = 0
    fd = os.open("/", DIR_FLAGS)
    try:
        while pending:
            name = pending.pop(0)
            if name == "..":  # down again from /: what was walked may have been moved since
                pending[:0] = names[:-1]
                names = []
                fd = _reopen_root(fd)
                continue
            try:
                entered = _enter(fd, names, name, make)
            except FileNotFoundError:
                if not partial:
                    raise
                return fd, _shown(names), [name] + pending
            if isinstance(entered, int):
                os.close(fd)
                fd = entered
                names.append(name)
                continue
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
            if entered.startswith("/"):
                names = []
                fd = _reopen_root(fd)
            pending[:0] = _parts(entered)
        return fd, _shown(names), []
    except BaseException:
        os.close(fd)
        raise


def _last(fd, real, name):
    """(lstat or None, target of a symlink the rule allows or None) of `name` in directory `fd`."""
    try:
        entry = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None, None
    if not stat_module.S_ISLNK(entry.st_mode):
        return entry, None
    _check_link(os.path.join(real, name), entry, os.fstat(fd))
    return entry, os.path.join(real, os.readlink(name, dir_fd=fd))


def _locate(path):
    """(directory descriptor, real directory, name, lstat or None) of the file `path`, a symlink as
    the last component followed when the rule allows it. FileNotFoundError: a directory is missing."""
    for _link in range(MAX_LINKS):
        head, name = _split(path)
        fd, real, _missing = _walk(head)
        try:
            entry, target = _last(fd, real, name)
        except BaseException:
            os.close(fd)
            raise
        if target is None:
            return fd, real, name, entry
        os.close(fd)
        path = target
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))


def real_path(path):
    """The file that is really edited: symlinks followed where the rule allows (like lineinfile with
    follow), components that do not exist yet kept as given; FileError where the rule refuses."""
    try:
        for _link in range(MAX_LINKS):
            head, name = _split(path)
            fd, real, missing = _walk(head, partial=True)
            try:
                if missing:
                    return os.path.normpath(os.path.join(real, *(missing + [name])))
                _entry, target = _last(fd, real, name)
            finally:
                os.close(fd)
            if target is None:
                return os.path.join(real, name)
            path = target
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
    except OSError as exc:
        raise FileError("cannot resolve %s: %s" % (path, exc.strerror or exc)) from exc


# --------------------------------------------------------------------------- files beside the target

def _open_unfollowed(dir_fd, real, name, flags, mode=0o777):
    """os.open of `name` in `dir_fd` (`flags` hold O_NOFOLLOW); FileError when `name` is a symbolic link."""
    try:
        return os.open(name, flags, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise FileError("refusing to follow %s: %s" % (os.path.join(real, name), _describe(dir_fd, name))) from exc


def _open_regular(dir_fd, real, name, access=os.O_RDONLY):
    """(descriptor, fstat) of the regular file `name` in `dir_fd`, never through a link."""
    fd = _open_unfollowed(dir_fd, real, name, access | FILE_FLAGS)
    try:
        entry = os.fstat(fd)
        if stat_module.S_ISDIR(entry.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat_module.S_ISREG(entry.st_mode):
            raise FileError("refusing to use %s: not a regular file" % os.path.join(real, name))
        _check_hard_link(os.path.join(real, name), entry, os.fstat(dir_fd))
    except BaseException:
        os.close(fd)
        raise
    return fd, entry


def read_text(path):
    """Return (text, stat) of `path`, or (None, None) when it does not exist; read by the rule."""
    try:
        dir_fd, real, name, entry = _locate(path)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise FileError("cannot read %s: %s" % (path, exc.strerror or exc)) from exc
    try:
        if entry is None:
            return None, None
        fd, entry = _open_regular(dir_fd, real, name)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise FileError("cannot read %s: %s" % (path, exc.strerror or exc)) from exc
    finally:
        os.close(dir_fd)
    try:
        return data.decode("utf-8"), entry
    except UnicodeDecodeError as exc:
        raise FileError("cannot read %s: not UTF-8 text (byte %d)" % (path, exc.start)) from exc


def lock_path(path):
    directory, name = os.path.split(path)
    return os.path.join(directory, ".%s.lock" % name)


def _check_lock(shown, entry, owners):
    """An existing lock file must be a lone regular file of root, the module's user or the file's owner."""
    if not stat_module.S_ISREG(entry.st_mode):
        raise FileError("refusing to use lock file %s: not a regular file" % shown)
    if entry.st_nlink != 1:
        raise FileError("refusing to use lock file %s: a hard link (%d names) owned by %s"
                        % (shown, entry.st_nlink, _user(entry.st_uid)))
    if entry.st_uid not in owners:
        raise FileError("refusing to use lock file %s: owned by %s, not by root or the file's owner"
                        % (shown, _user(entry.st_uid)))


def _open_lock(dir_fd, real, name, uid, gid, owners):
    """Descriptor of the lock file of `name`, created 0600 with O_EXCL|O_NOFOLLOW when missing.

    It is handed to uid/gid when this run created it, or when it is empty (a lock never holds data,
    so no secret moves with it): a lock left by root earlier must not lock the owner out."""
    lock = ".%s.lock" % name
    flags = os.O_RDONLY | FILE_FLAGS  # flock needs no write access
    try:
        fd = _open_unfollowed(dir_fd, real, lock, flags | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
        created = True
    except FileExistsError:
        fd = _open_unfollowed(dir_fd, real, lock, flags)
        created = False
    try:
        entry = os.fstat(fd)
        if not created:
            _check_lock(os.path.join(real, lock), entry, owners)
        if (created or entry.st_size == 0) and owner_differs(entry, uid, gid):
            with contextlib.suppress(OSError):  # only root may give files away; then the lock is ours anyway
                os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
    except BaseException:
        os.close(fd)
        raise
    return fd


def is_temp_name(entry, name):
    """Whether `entry` is a temp file name of `name`: .<name>.XXXXXXXX.tmp, X from TEMP_CHARS."""
    prefix = ".%s." % name
    if not (entry.startswith(prefix) and entry.endswith(".tmp")):
        return False
    middle = entry[len(prefix):-len(".tmp")]
    return len(middle) == TEMP_RANDOM_LENGTH and all(char in TEMP_CHARS for char in middle)


def remove_stale_temps(dir_fd, name, owners):
    """Remove temp files of `name` that a killed run left (they may hold the new secrets). Called under
    the lock, so no write is under way; only lone regular files of `owners`, nothing else planted."""
    removed = []
    with contextlib.suppress(OSError):  # best effort: a leftover never stops a write
        listing = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            entries = os.listdir(listing)
        finally:
            os.close(listing)
        for entry in sorted(entries):
            if not is_temp_name(entry, name):
                continue
            with contextlib.suppress(OSError):
                found = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
                if stat_module.S_ISREG(found.st_mode) and found.st_nlink == 1 and found.st_uid in owners:
                    os.unlink(entry, dir_fd=dir_fd)
                    removed.append(entry)
    return removed


@contextlib.contextmanager
def locked(path, uid=None, gid=None):
    """Hold an exclusive flock on the lock file beside `path` (created 0600 if missing), then remove
    temp files a killed run left beside it.

    The lock file belongs to `uid`/`gid`, else to the owner of `path`: a 0600 lock file of root in the
    runner user's directory would lock that user out of its own file."""
    try:
        dir_fd, real, name, target = _locate(path)
    except OSError as exc:
        raise FileError("cannot create lock file %s: %s" % (lock_path(path), exc.strerror or exc)) from exc
    try:
        target_uid = target.st_uid if target is not None and stat_module.S_ISREG(target.st_mode) else None
        if uid is None and gid is None and target_uid is not None:
            uid, gid = target.st_uid, target.st_gid
        owners = {0, os.geteuid(), uid, target_uid} - {None}
        try:
            fd = _open_lock(dir_fd, real, name, uid, gid, owners)
        except OSError as exc:
            lock = os.path.join(real, ".%s.lock" % name)
            raise FileError("cannot create lock file %s: %s" % (lock, exc.strerror or exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            remove_stale_temps(dir_fd, name, owners)
            yield
        finally:
            os.close(fd)  # closing releases the lock
    finally:
        os.close(dir_fd)


def backup_name(path):
    """The name ansible-core's backup_local() uses: path.PID.YYYY-MM-DD@HH:MM:SS~."""
    return "%s.%s.%s~" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime()))


def _copy_private(dir_fd, real, source, target, created):
    """Copy a file that may hold secrets within one directory: the copy is created 0600 with
    O_EXCL|O_NOFOLLOW (a name planted there stops the write), then gets the source's mode and times."""
    src, entry = _open_regular(dir_fd, real, source)
    try:
        try:
            out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                          NEW_FILE_MODE, dir_fd=dir_fd)
        except FileExistsError as exc:
            raise FileError("refusing to write the backup %s: the name is taken by %s"
                            % (os.path.join(real, target), _describe(dir_fd, target))) from exc
        created.append(target)
        with os.fdopen(out, "wb") as handle, os.fdopen(src, "rb", closefd=False) as data:
            shutil.copyfileobj(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), stat_module.S_IMODE(entry.st_mode))
            os.utime(handle.fileno(), ns=(entry.st_atime_ns, entry.st_mtime_ns))
    finally:
        os.close(src)


def _create_temp(dir_fd, name):
    """(name, descriptor) of a new 0600 temp file .<name>.XXXXXXXX.tmp beside the target, created with
    O_EXCL|O_NOFOLLOW: nothing planted under a temp name is ever opened."""
    chooser = random.SystemRandom()
    for _attempt in range(TRIES):
        tmp = ".%s.%s.tmp" % (name, "".join(chooser.choice(TEMP_CHARS) for _i in range(TEMP_RANDOM_LENGTH)))
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                NEW_FILE_MODE, dir_fd=dir_fd)
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "no free temporary file name")


def ensure_directory(directory, mode, uid=None, gid=None):
    """Create `directory` and every missing parent with `mode` (not only the last one, as os.makedirs
    does) and the given owner, each with mkdir relative to its parent; existing ones are left alone."""
    try:
        fd, _real, _missing = _walk(directory, make=(mode, uid, gid))
    except OSError as exc:
        raise FileError("cannot create directory %s: %s" % (directory, exc.strerror or exc)) from exc
    os.close(fd)


def set_attributes(path, mode, uid=None, gid=None):
    """Give an existing directory `mode` and, where given, owner and group, through a descriptor
    opened by the rule (never through a link another user planted)."""
    try:
        fd, _real, _missing = _walk(path)
        try:
            _set_dir_attributes(fd, mode, uid, gid)
        finally:
            os.close(fd)
    except OSError as exc:
        raise FileError("cannot set mode and owner of %s: %s" % (path, exc.strerror or exc)) from exc


def _fsync_dir(dir_fd):
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _selinux_context(dir_fd, real, name):
    """The SELinux label of the file being replaced (the security.selinux attribute, what
    lgetfilecon reads), read through a descriptor opened by the rule; None for a new file or a
    file system without labels."""
    try:
        fd, _entry = _open_regular(dir_fd, real, name)
    except FileNotFoundError:
        return None
    try:
        return os.getxattr(fd, SELINUX_XATTR)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP):
            return None
        raise
    finally:
        os.close(fd)


def _rewrite_in_place(dir_fd, real, name, data, mode, uid, gid):
    """EBUSY from rename: `name` is a mount point (a config.toml bind-mounted into a container) that
    can be rewritten but not replaced. It is opened relative to its directory with O_NOFOLLOW, must be
    a lone regular file, gets its mode and owner before the new bytes, then is truncated, written and
    fsynced. Not atomic: a reader may see a short file for a moment (ansible's unsafe_writes)."""
    fd, _entry = _open_regular(dir_fd, real, name, os.O_WRONLY)
    with os.fdopen(fd, "wb") as handle:
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)  # after fchown, which may clear mode bits; before the secrets go in
        handle.truncate(0)
        handle.write(data)
        handle.flush()
        os.fsync(fd)


def _replace(dir_fd, real, name, text, mode, uid, gid, backup, selinux=False):
    """Write the temp file, copy the backup, rename over `name`; on failure remove what was created."""
    try:
        tmp, fd = _create_temp(dir_fd, name)
    except OSError as exc:
        raise FileError("cannot create a temporary file in %s: %s" % (real, exc.strerror or exc)) from exc
    created = [tmp]
    backup_file = None
    data = text.encode("utf-8")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            context = _selinux_context(dir_fd, real, name) if selinux else None
            if context is not None:  # what atomic_move keeps; a new file gets the directory's default
                os.setxattr(handle.fileno(), SELINUX_XATTR, context)
        if backup:
            backup_file = backup_name(name)
            _copy_private(dir_fd, real, name, backup_file, created)
        try:
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            _rewrite_in_place(dir_fd, real, name, data, mode, uid, gid)
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
    except BaseException as exc:
        for leftover in created:
            with contextlib.suppress(OSError):
                os.unlink(leftover, dir_fd=dir_fd)
        if not isinstance(exc, OSError):
            raise
        reason = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise FileError("cannot write %s: %s" % (os.path.join(real, name), reason)) from exc
    with contextlib.suppress(OSError):
        _fsync_dir(dir_fd)
    return os.path.join(real, backup_file) if backup_file else None


def atomic_write(path, text, stat=None, mode=None, owner=None, group=None, backup=False, selinux=False):
    """Replace `path` with `text` atomically; return the backup file name or None.

    `stat` is the stat of the file being replaced (its mode and owner are kept); a new file gets
    `mode` (default 0600). `owner`/`group` are numeric ids and win over the old ones. The new file is
    renamed over the name, so nothing is ever written through a link under it. With `selinux`
    (module.selinux_enabled()) the replaced file's SELinux context is kept, as atomic_move keeps it.
    A file that cannot be replaced because it is a mount point is rewritten in place (EBUSY).
    """
    if mode is None:
        mode = (stat.st_mode & 0o7777) if stat else NEW_FILE_MODE
    uid = owner if owner is not None else (stat.st_uid if stat else -1)
    gid = group if group is not None else (stat.st_gid if stat else -1)
    try:
        dir_fd, real, name, _entry = _locate(path)
    except OSError as exc:
        raise FileError("cannot write %s: %s" % (path, exc.strerror or exc)) from exc
    try:
        return _replace(dir_fd, real, name, text, mode, uid, gid, backup and stat is not None, selinux)
    finally:
        os.close(dir_fd)


class Update:
    """What update_locked found and did: the file's text as last read, the last plan, whether the
    file needed writing (`needed`), what `write` returned, and whether the directory was made private."""

    def __init__(self, text, stat, planned, needed):
        self.text, self.stat, self.planned, self.needed = text, stat, planned, needed
        self.written = None
        self.directory_fixed = False

    @property
    def changed(self):
        return self.needed or self.directory_fixed


def update_locked(path, plan, write, check_mode=False, dir_mode=0o700, uid=None, gid=None, private_directory=False):
    """The one plan -> lock -> plan again -> write loop of every module that edits a file.

    plan(text, stat) returns (planned, needed) for the file as it is now (text and stat None when it
    does not exist). When it needs writing and this is no check mode, the directory is created
    (dir_mode, uid/gid), made private when asked, the lock beside `path` is taken, and the file is read
    and planned again on what is on disk then (another writer may have been first, and loses nothing);
    write(text, stat, planned) then writes, usually with atomic_write. A private directory that is
    wrong is a change of its own, fixed even when the file is right."""
    directory = os.path.dirname(path)
    fix_directory = directory_differs(private_directory, directory, dir_mode, uid, gid)
    text, stat = read_text(path)
    update = Update(text, stat, *plan(text, stat))
    if check_mode or not (update.needed or fix_directory):
        update.directory_fixed = fix_directory
        return update
    ensure_directory(directory, dir_mode, uid, gid)
    if fix_directory:
        set_attributes(directory, dir_mode, uid, gid)
        update.directory_fixed = True
    with locked(path, uid, gid):
        text, stat = read_text(path)
        update.text, update.stat = text, stat
        update.planned, update.needed = plan(text, stat)
        if update.needed:
            update.written = write(text, stat, update.planned)
    return update


def remove(path):
    """Remove the file `path` (a symlink under its name is removed, never followed), its directory
    reached by the rule; False when there was nothing to remove."""
    try:
        dir_fd, real, name, entry = _locate(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise FileError("cannot remove %s: %s" % (path, exc.strerror or exc)) from exc
    try:
        if entry is None:
            return False
        if stat_module.S_ISDIR(entry.st_mode):
            raise FileError("refusing to remove %s: a directory" % os.path.join(real, name))
        os.unlink(name, dir_fd=dir_fd)
        _fsync_dir(dir_fd)
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise FileError("cannot remove %s: %s" % (os.path.join(real, name), exc.strerror or exc)) from exc
    finally:
        os.close(dir_fd)


def remove_empty_directory(path):
    """rmdir `path` when it is empty (relative to its parent's descriptor); True when it was removed."""
    head, name = _split(path)
    try:
        fd, _real, _missing = _walk(head)
    except OSError:
        return False
    try:
        os.rmdir(name, dir_fd=fd)  # only an empty real directory: a symlink or a file is ENOTDIR
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def list_directory(path):
    """Names in the directory `path`, reached by the rule; [] when it does not exist."""
    try:
        fd, _real, _missing = _walk(path)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise FileError("cannot list %s: %s" % (path, exc.strerror or exc)) from exc
    try:
        handle = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        try:
            return sorted(os.listdir(handle))
        finally:
            os.close(handle)
    finally:
        os.close(fd)
