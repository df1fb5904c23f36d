# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_files: atomic, locked writes that keep mode and owner and never expose a secret file."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import time

import planted_links
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


# ------------------------------------------------------------------ links planted by a runner user
# Root runs the modules in directories a runner user controls; tests/planted_links.py makes a real user
# who plants links with ln, and a root-owned tree whose every owner, mode and byte must stay as it was.


@pytest.fixture
def box():
    with planted_links.planted_user() as sandbox:
        yield sandbox


def refused(box, before, excinfo, path):
    """The write failed naming the path and the link's owner, and nothing of root changed."""
    assert box.snapshot() == before
    message = str(excinfo.value)
    assert path in message and "%s (uid %d)" % (box.user, box.uid) in message, message


def test_a_lock_symlinked_to_a_root_file_is_refused_and_the_file_keeps_its_owner(box):
    target = os.path.join(box.docker, "config.json")
    box.plant_symlink(box.secret, os.path.join(box.docker, ".config.json.lock"))
    before = box.snapshot()
    with pytest.raises(files.FileError, match="refusing to follow") as excinfo:
        with files.locked(target, box.uid, box.gid):
            pass
    refused(box, before, excinfo, os.path.join(box.docker, ".config.json.lock"))


def test_a_dangling_lock_symlink_creates_nothing(box):
    target = os.path.join(box.docker, "config.json")
    box.plant_symlink(os.path.join(box.root, "new-lock"), os.path.join(box.docker, ".config.json.lock"))
    before = box.snapshot()
    with pytest.raises(files.FileError, match="refusing to follow"):
        with files.locked(target, box.uid, box.gid):
            pass
    assert box.snapshot() == before and not os.path.exists(os.path.join(box.root, "new-lock"))


def test_a_lock_that_is_a_hard_link_is_refused(box):
    """A hard link to a root file (fs.protected_hardlinks=0 would let the user make it; root makes it here)."""
    os.link(box.secret, os.path.join(box.docker, ".config.json.lock"))
    before = box.snapshot()
    with pytest.raises(files.FileError, match="hard link"):
        with files.locked(os.path.join(box.docker, "config.json"), box.uid, box.gid):
            pass
    assert box.snapshot() == before


def test_a_lock_of_another_user_is_refused(box):
    lock = os.path.join(box.docker, ".config.json.lock")
    box.user_file(lock, "")
    with pytest.raises(files.FileError, match="owned by %s" % box.user):
        with files.locked(os.path.join(box.docker, "config.json"), 0, 0):
            pass
    assert os.stat(lock).st_uid == box.uid


def test_an_empty_lock_left_by_root_is_handed_to_the_owner(box):
    """An older version left root's 0600 lock: the owner must get it, or its own later runs fail."""
    lock = os.path.join(box.docker, ".config.json.lock")
    os.close(os.open(lock, os.O_CREAT | os.O_WRONLY, 0o600))
    with files.locked(os.path.join(box.docker, "config.json"), box.uid, box.gid):
        pass
    assert (os.stat(lock).st_uid, os.stat(lock).st_gid) == (box.uid, box.gid)
    box.as_user("flock", lock, "true")  # what the owner's own run does first: no "Permission denied"


def test_a_directory_symlinked_to_a_root_directory_is_neither_entered_nor_chowned(box):
    os.rmdir(box.docker)
    box.plant_symlink(box.root_dir, box.docker)
    before = box.snapshot()
    target = os.path.join(box.docker, "config.json")
    for attempt in (lambda: files.real_path(target),
                    lambda: files.ensure_directory(box.docker, 0o700, box.uid, box.gid),
                    lambda: files.set_attributes(box.docker, 0o700, box.uid, box.gid),
                    lambda: files.atomic_write(target, "{}", owner=box.uid, group=box.gid),
                    lambda: files.read_text(target)):
        with pytest.raises(files.FileError, match="refusing to follow") as excinfo:
            attempt()
        refused(box, before, excinfo, box.docker)
    assert "in a directory %s controls" % box.user in str(excinfo.value)


@pytest.mark.parametrize("dangling", [True, False], ids=["dangling", "to-a-root-file"])
def test_a_file_symlink_is_not_written_through(box, dangling):
    target = os.path.join(box.docker, "config.json")
    box.plant_symlink(os.path.join(box.root, "new.json") if dangling else box.secret, target)
    before = box.snapshot()
    with pytest.raises(files.FileError, match="refusing to follow") as excinfo:
        files.real_path(target)
    refused(box, before, excinfo, target)
    with pytest.raises(files.FileError, match="refusing to follow"):
        files.atomic_write(target, "{}", owner=box.uid, group=box.gid)
    assert box.snapshot() == before and not os.path.exists(os.path.join(box.root, "new.json"))


def test_a_file_that_is_a_hard_link_in_a_user_directory_is_not_read(box):
    target = os.path.join(box.docker, "config.json")
    os.link(box.root_config, target)  # what fs.protected_hardlinks=0 lets the user do
    with pytest.raises(files.FileError, match="hard link") as excinfo:
        files.read_text(target)
    assert "in a directory %s controls" % box.user in str(excinfo.value)
    os.unlink(target)
    box.user_file(os.path.join(box.home, "mine"), "{}")
    box.plant_hard_link(os.path.join(box.home, "mine"), target)  # the user may link its own files
    with pytest.raises(files.FileError, match=r"hard link \(2 names\) owned by %s" % box.user):
        files.read_text(target)


def test_a_planted_backup_name_stops_the_write_and_names_the_owner(box):
    target = os.path.join(box.docker, "config.json")
    box.user_file(target, "{}")
    now = time.time()
    for second in range(4):  # the names a backup made in the next seconds would take
        stamp = time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime(now + second))
        box.plant_symlink(box.secret, "%s.%d.%s~" % (target, os.getpid(), stamp))
    before = box.snapshot()
    with pytest.raises(files.FileError, match="refusing to write the backup") as excinfo:
        files.atomic_write(target, '{"a": 1}', stat=files.read_text(target)[1], backup=True)
    refused(box, before, excinfo, target)
    assert open(target).read() == "{}"
    assert [n for n in os.listdir(box.docker) if n.endswith(".tmp")] == []


def test_a_planted_temp_name_is_skipped_and_kept(box, monkeypatch):
    target = os.path.join(box.docker, "config.json")
    planted = os.path.join(box.docker, ".config.json.aaaaaaaa.tmp")
    box.plant_symlink(box.secret, planted)
    before = box.snapshot()
    picks = iter("a" * files.TEMP_RANDOM_LENGTH + "b" * files.TEMP_RANDOM_LENGTH)
    monkeypatch.setattr(files.random.SystemRandom, "choice", lambda self, chars: next(picks))
    with files.locked(target, box.uid, box.gid):
        files.atomic_write(target, "{}", owner=box.uid, group=box.gid)
    assert box.snapshot() == before and os.path.islink(planted)
    assert open(target).read() == "{}" and os.stat(target).st_uid == box.uid


def test_a_root_symlink_in_a_root_directory_is_still_followed(box):
    real = os.path.join(box.root, "runner", "config.toml")
    os.mkdir(os.path.dirname(real), 0o700)
    link_dir = os.path.join(box.base, "etc")
    os.mkdir(link_dir, 0o755)
    os.symlink(real, os.path.join(link_dir, "config.toml"))
    assert files.real_path(os.path.join(link_dir, "config.toml")) == real
    files.atomic_write(os.path.join(link_dir, "config.toml"), "a = 1\n")
    assert open(real).read() == "a = 1\n" and os.path.islink(os.path.join(link_dir, "config.toml"))


# ------------------------------------------------------------------ leftovers of a killed run


def test_stale_temp_files_are_removed_under_the_lock_and_nothing_else(box):
    target = os.path.join(box.docker, "config.json")
    box.user_file(target, "{}")
    for name in (".config.json.root1234.tmp", ".config.json.abcd_xyz.tmp"):
        with open(os.path.join(box.docker, name), "w") as handle:
            handle.write("new secret")
    box.user_file(os.path.join(box.docker, ".config.json.user1234.tmp"), "new secret")
    keep = {
        ".config.json.link1234.tmp": lambda p: box.plant_symlink(box.secret, p),
        ".config.json.hard1234.tmp": lambda p: box.plant_hard_link(target, p),
        ".config.json.toolong99.tmp": lambda p: box.user_file(p, "x"),
        ".other.json.abcd1234.tmp": lambda p: box.user_file(p, "x"),
        ".config.json.abcd1234.tmp.keep": lambda p: box.user_file(p, "x"),
    }
    for name, make in keep.items():
        make(os.path.join(box.docker, name))
    before = box.snapshot()
    with files.locked(target):
        pass
    assert sorted(os.listdir(box.docker)) == sorted([".config.json.lock", "config.json"] + list(keep))
    assert box.snapshot() == before


def test_a_stale_temp_file_of_another_user_stays(tmp_path, box):
    target = tmp_path / "config.toml"
    target.write_text("")
    other = tmp_path / ".config.toml.abcd1234.tmp"
    other.write_text("")
    os.chown(other, box.uid, box.gid)
    with files.locked(str(target)):
        pass
    assert other.exists()


def test_a_kill_between_temp_and_rename_leaves_a_temp_file_the_next_run_removes(tmp_path):
    target = tmp_path / "config.json"
    child = os.fork()
    if child == 0:  # a run killed by SIGKILL after writing its temp file, before the rename
        try:
            with files.locked(str(target)):
                fd = os.open(str(tmp_path / ".config.json.kil1ed00.tmp"), os.O_CREAT | os.O_WRONLY, 0o600)
                os.write(fd, b"secret")
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    os.waitpid(child, 0)
    assert (tmp_path / ".config.json.kil1ed00.tmp").exists()
    with files.locked(str(target)):
        files.atomic_write(str(target), "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".config.json.lock", "config.json"]


AS_THE_USER = """
import os, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
path = files.real_path(os.path.expanduser("~/.docker/config.json"))
with files.locked(path):
    files.atomic_write(path, "{}", stat=files.read_text(path)[1])
print(path)
"""


def test_a_user_running_the_module_itself_still_follows_its_own_links(box):
    """The rule trusts links of the user the module runs as: dotfiles (~/.docker -> ~/dotfiles/docker) work."""
    python = next((p for p in (sys.executable, "/usr/bin/python3")
                   if subprocess.run(["runuser", "-u", box.user, "--", p, "-c", "pass"], check=False,
                                     capture_output=True).returncode == 0), None)
    if python is None:
        pytest.skip("no Python the test user may run")
    os.rmdir(box.docker)
    box.as_user("mkdir", "-p", os.path.join(box.home, "dotfiles", "docker"))
    box.plant_symlink(os.path.join(box.home, "dotfiles", "docker"), box.docker)
    collections = files.__file__.rsplit("/ansible_collections/", 1)[0]  # the directory that imported it here
    done = subprocess.run(["runuser", "-u", box.user, "--", python, "-c", AS_THE_USER, collections],
                          capture_output=True, text=True, check=False, cwd="/")
    assert done.returncode == 0, done.stderr
    real = os.path.join(box.home, "dotfiles", "docker", "config.json")
    assert done.stdout.strip() == real and open(real).read() == "{}" and os.stat(real).st_uid == box.uid


# ------------------------------------------------------------------ update_locked: the one write loop

def test_update_locked_in_check_mode_plans_once_and_writes_nothing(tmp_path):
    target = tmp_path / "sub" / "c.toml"
    calls = []
    update = files.update_locked(str(target), lambda text, stat: (calls.append(text) or "planned", True),
                                 lambda text, stat, planned: pytest.fail("written in check mode"), check_mode=True)
    assert (update.changed, update.planned, update.text, calls) == (True, "planned", None, [None])
    assert not (tmp_path / "sub").exists()  # no directory, no lock file


def test_update_locked_plans_again_under_the_lock_on_what_is_on_disk_then(tmp_path):
    target = tmp_path / "c.toml"
    target.write_text("old\n")
    seen = []

    def plan(text, stat):
        seen.append(text)
        if len(seen) == 1:
            target.write_text("another writer was first\n")  # between the unlocked plan and the lock
        return text + "mine\n", True

    def write(text, stat, planned):
        files.atomic_write(str(target), planned, stat=stat)
        return "written"

    update = files.update_locked(str(target), plan, write)
    assert seen == ["old\n", "another writer was first\n"]
    assert target.read_text() == "another writer was first\nmine\n"
    assert (update.written, update.text, update.changed) == ("written", "another writer was first\n", True)


def test_update_locked_fixes_a_private_directory_also_when_the_file_is_right(tmp_path):
    directory = tmp_path / "d"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    (directory / "c").write_text("same\n")
    update = files.update_locked(str(directory / "c"), lambda text, stat: (text, False),
                                 lambda *args: pytest.fail("nothing to write"), private_directory=True)
    assert (update.changed, update.needed, update.directory_fixed) == (True, False, True)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700


# ------------------------------------------------------------------ what atomic_move gives, kept by fd

class FakeModule:
    """Stands in for AnsibleModule: SELinux is not enabled on the test machine, so selinux_enabled()
    is faked; the context itself is the real security.selinux attribute, which root can set on ext4
    and tmpfs also without SELinux (the kernel stores it as any other attribute)."""

    def selinux_enabled(self):
        return True


def _label(path):
    try:
        return os.getxattr(path, files.SELINUX_XATTR, follow_symlinks=False)
    except OSError:
        return None


@pytest.mark.skipif(os.geteuid() != 0, reason="setting a security.* attribute needs root")
def test_the_selinux_context_of_the_replaced_file_is_kept(tmp_path):
    target = tmp_path / "config.toml"
    target.write_text("old\n")
    context = b"system_u:object_r:container_file_t:s0:c1,c2\x00"
    os.setxattr(str(target), files.SELINUX_XATTR, context)
    old_inode = os.stat(target).st_ino
    files.atomic_write(str(target), "new\n", stat=os.stat(target), selinux=FakeModule().selinux_enabled())
    assert target.read_text() == "new\n" and os.stat(target).st_ino != old_inode  # replaced, not rewritten
    assert _label(target) == context
    files.atomic_write(str(target), "newer\n", stat=os.stat(target))  # selinux off: nothing copied
    assert _label(target) is None


def _busy_rename(monkeypatch, before=None):
    """os.rename over an existing name fails with EBUSY, as for a file bind-mounted into a container."""
    real_rename = os.rename

    def rename(src, dst, *args, **kwargs):
        if before:
            before()
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))

    monkeypatch.setattr(os, "rename", rename)
    return real_rename


def test_ebusy_rewrites_the_file_in_place_with_its_content_and_mode(tmp_path, monkeypatch):
    target = tmp_path / "config.toml"
    target.write_text("old and longer than the new text\n")
    os.chmod(target, 0o644)
    inode = os.stat(target).st_ino
    _busy_rename(monkeypatch)
    files.atomic_write(str(target), "new\n", stat=os.stat(target), mode=0o600)
    assert target.read_text() == "new\n"
    assert os.stat(target).st_ino == inode  # the same file, as a bind mount needs
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # the temp file is gone


def test_ebusy_never_rewrites_through_a_link_planted_meanwhile(tmp_path, monkeypatch):
    target = tmp_path / "config.toml"
    target.write_text("old\n")
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    os.chmod(victim, 0o644)

    def plant():
        os.unlink(target)
        os.symlink(victim, target)

    _busy_rename(monkeypatch, before=plant)
    with pytest.raises(files.FileError, match="refusing to follow .*config.toml"):
        files.atomic_write(str(target), "secret\n", stat=os.stat(target), mode=0o600)
    assert victim.read_text() == "root's file\n" and stat.S_IMODE(os.stat(victim).st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "victim"]  # no temp file left
