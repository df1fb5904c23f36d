# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A non-root user who plants links, and a root-owned sandbox tree to prove nothing of root changed.

Used by tests/unit (in process) and tests/functional (ansible-playbook); tests/conftest.py puts
this directory on sys.path. Everything is real: ``useradd``, ``runuser``, files on disk.

``Sandbox(base, user)``: ``base`` (root 0755) holds ``root/`` (root's files: ``secret`` 0600,
``config.json`` and ``config.toml`` 0600 holding secrets, ``dir/`` 0755 with ``file``) and ``home/<user>/``
(the user's home, with ``.docker/`` 0700 of the user). ``plant_symlink``/``plant_hard_link`` run
``ln`` as the user; ``snapshot()`` is lstat (owner, group, mode) and sha256 of every entry of root's
tree, plus the sandbox directories themselves.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile

import pytest

ROOT_SECRET = "root-only-s3cret-7f3a"
ROOT_AUTH = base64.b64encode(("root:" + ROOT_SECRET).encode()).decode()
ROOT_CONFIG_JSON = '{"auths": {"root.example.com": {"auth": "%s"}}}\n' % ROOT_AUTH
ROOT_CONFIG_TOML = '[[runners]]\n  name = "root-runner"\n  token = "glrt-%s"\n  executor = "shell"\n' % ROOT_SECRET


def need_root():
    if os.geteuid() != 0:
        pytest.skip("planting links as another user needs root (useradd, runuser); run the tests as root")
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed" % tool)


@contextlib.contextmanager
def planted_user():
    """A fresh non-root user rk-sec-<random> with a home under a root-owned sandbox; removed at the end."""
    need_root()
    base = tempfile.mkdtemp(prefix="rk-sec-")
    os.chmod(base, 0o755)  # the user must reach its home below it
    name = "rk-sec-" + secrets.token_hex(3)
    home = os.path.join(base, "home", name)
    os.mkdir(os.path.join(base, "home"), 0o755)
    subprocess.run(["useradd", "--create-home", "--home-dir", home, "--shell", "/bin/sh", name],
                   check=True, capture_output=True)
    try:
        yield Sandbox(base, name)
    finally:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


class Sandbox:
    def __init__(self, base, user):
        self.base = base
        self.user = user
        entry = pwd.getpwnam(user)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.home = os.path.join(base, "home", user)
        self.docker = os.path.join(self.home, ".docker")
        self.root = os.path.join(base, "root")
        os.mkdir(self.root, 0o755)
        self.secret = self._root_file("secret", ROOT_SECRET + "\n", 0o600)
        self.root_config = self._root_file("config.json", ROOT_CONFIG_JSON, 0o600)
        self.root_toml = self._root_file("config.toml", ROOT_CONFIG_TOML, 0o600)
        self.root_dir = os.path.join(self.root, "dir")
        os.mkdir(self.root_dir, 0o755)
        self._root_file(os.path.join("dir", "file"), "root's file\n", 0o644)
        self.as_user("mkdir", "-m", "0700", self.docker)

    def _root_file(self, name, text, mode):
        path = os.path.join(self.root, name)
        with open(path, "w") as handle:
            handle.write(text)
        os.chmod(path, mode)
        return path

    def root_config_like(self, path):
        """Root's secret file of the same kind as `path` (what a leak through a link would expose)."""
        return self.root_toml if path.endswith(".toml") else self.root_config

    def as_user(self, *command):
        """Run a command as the test user; fail the test when it fails."""
        done = subprocess.run(["runuser", "-u", self.user, "--"] + list(command), capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, "as %s: %s: %s" % (self.user, command, done.stderr)

    def plant_symlink(self, target, link):
        self.as_user("ln", "-s", target, link)
        assert os.lstat(link).st_uid == self.uid

    def plant_hard_link(self, target, link):
        self.as_user("ln", target, link)

    def user_file(self, path, text, mode=0o600):
        self.as_user("sh", "-c", 'umask 077 && printf "%s" "$1" > "$2" && chmod "$3" "$2"', "sh", text, path,
                     "%o" % mode)

    def snapshot(self):
        """lstat owner, group, mode and sha256 of everything root owns in the sandbox (names included)."""
        found = {}
        for directory in (self.base, os.path.join(self.base, "home")):
            found[directory] = _entry(directory)
        for top, dirs, names in os.walk(self.root):
            for name in [top] + [os.path.join(top, n) for n in dirs + names]:
                found[name] = _entry(name)
        return found

    def files_of_user_holding(self, text):
        """Files the test user owns in its home whose content holds `text` (a root secret that leaked)."""
        leaked = []
        for top, _dirs, names in os.walk(self.home):
            for name in names:
                path = os.path.join(top, name)
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode) and info.st_uid == self.uid:
                    with open(path, "rb") as handle:
                        if text.encode() in handle.read():
                            leaked.append(path)
        return leaked


def _entry(path):
    info = os.lstat(path)
    digest = None
    if stat.S_ISREG(info.st_mode):
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
    elif stat.S_ISLNK(info.st_mode):
        digest = os.readlink(path)
    return (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), stat.S_IFMT(info.st_mode), digest)
