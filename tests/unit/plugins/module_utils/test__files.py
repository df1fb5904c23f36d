# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_files: atomic, locked writes that keep mode and owner and never expose a secret file."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_is_0600_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        files.atomic_write(str(tmp_path / "c.toml"), "a = 1\n")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "c.toml") == 0o600
    assert (tmp_path / "c.toml").read_text() == "a = 1\n"


def test_existing_mode_and_owner_are_kept(tmp_path):
    target = tmp_path / "c.toml"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    os.chown(target, os.getuid(), os.getgid())
    st = files.read_text(str(target))[1]
    files.atomic_write(str(target), "new\n", stat=st)
    assert mode_of(target) == 0o640 and target.read_text() == "new\n"
    assert os.stat(target).st_uid == st.st_uid and os.stat(target).st_ino != st.st_ino  # renamed, not rewritten


def test_temp_file_is_never_readable_by_others(tmp_path, monkeypatch):
    seen = []
    real_rename = os.rename

    def spy(src, dst, **dir_fds):
        seen.append(stat.S_IMODE(os.stat(src, dir_fd=dir_fds.get("src_dir_fd")).st_mode))
        real_rename(src, dst, **dir_fds)

    monkeypatch.setattr(os, "rename", spy)
    target = tmp_path / "secret.json"
    target.write_text("{}")
    os.chmod(target, 0o644)
    st = files.read_text(str(target))[1]
    files.atomic_write(str(target), "{}", stat=st, mode=0o600)
    assert seen == [0o600] and mode_of(target) == 0o600


def test_backup_keeps_the_old_content(tmp_path):
    target = tmp_path / "c.toml"
    target.write_text("old\n")
    st = files.read_text(str(target))[1]
    backup = files.atomic_write(str(target), "new\n", stat=st, backup=True)
    assert backup.startswith(str(target) + ".") and backup.endswith("~")
    assert open(backup).read() == "old\n" and target.read_text() == "new\n"


def test_failure_leaves_the_file_and_no_temp_behind(tmp_path, monkeypatch):
    target = tmp_path / "c.toml"
    target.write_text("old\n")
    st = files.read_text(str(target))[1]

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(files.FileError, match="no space left on device"):
        files.atomic_write(str(target), "new\n", stat=st)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


def test_symlinks_are_followed_to_the_real_file(tmp_path):
    real = tmp_path / "real.toml"
    real.write_text("x\n")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    assert files.real_path(str(link)) == str(real)


def test_missing_file_reads_as_none_and_bad_text_fails(tmp_path):
    assert files.read_text(str(tmp_path / "nope")) == (None, None)
    (tmp_path / "bin").write_bytes(b"\xff\xfe")
    with pytest.raises(files.FileError, match="not UTF-8"):
        files.read_text(str(tmp_path / "bin"))
    with pytest.raises(files.FileError, match="cannot read"):
        files.read_text(str(tmp_path))


def test_lock_file_sits_beside_the_target_and_is_0600(tmp_path):
    target = str(tmp_path / "config.toml")
    with files.locked(target):
        assert os.path.exists(files.lock_path(target))
    assert files.lock_path(target) == str(tmp_path / ".config.toml.lock")
    assert mode_of(files.lock_path(target)) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_lock_file_belongs_to_the_owner_of_the_target(tmp_path):
    """Root runs the modules for the runner user: a root-owned 0600 lock in that user's directory
    would make every later run as the user fail with 'Permission denied'."""
    target = tmp_path / "config.json"
    target.write_text("{}")
    os.chown(target, 65534, 65534)
    with files.locked(str(target)):
        pass
    lock = os.stat(files.lock_path(str(target)))
    assert (lock.st_uid, lock.st_gid, stat.S_IMODE(lock.st_mode)) == (65534, 65534, 0o600)
    with files.locked(str(tmp_path / "new.toml"), 65534, 0):  # a new file: the owner the module was given
        pass
    lock = os.stat(files.lock_path(str(tmp_path / "new.toml")))
    assert (lock.st_uid, lock.st_gid) == (65534, 0)
