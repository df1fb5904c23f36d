# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_host: the runner's systemd unit, PATH lookup and permissions."""

from __future__ import annotations

import os

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _host as host


def test_systemd_unit_of_the_package():
    unit = host.parse_systemd_unit([
        "[Unit]\nDescription=GitLab Runner\n[Service]\nStartLimitInterval=5\n"
        'ExecStart=/usr/bin/gitlab-runner "run" "--config" "/etc/gitlab-runner/config.toml" "--working-directory" '
        '"/home/gitlab-runner" "--service" "gitlab-runner" "--user" "gitlab-runner"\n'
        "Restart=always\n",
        '[Service]\nEnvironment="AWS_REGION=eu-west-1" PATH=/opt/bin:/usr/bin\n',
    ])
    service = host.runner_service(unit)
    assert service == {"process_user": "root", "shell_user": "gitlab-runner",
                       "config": "/etc/gitlab-runner/config.toml", "working_directory": "/home/gitlab-runner",
                       "home": None, "path": "/opt/bin:/usr/bin"}
    assert unit["environment"]["AWS_REGION"] == "eu-west-1"
    unit = host.parse_systemd_unit(["[Service]\nUser=ci\nExecStart=/x run -c=/c.toml\nEnvironment=HOME=/srv/ci\n"])
    assert host.runner_service(unit) == {
        "process_user": "ci", "shell_user": None, "config": "/c.toml", "working_directory": None,
        "home": "/srv/ci", "path": None}


def test_look_path_and_permissions():
    files = {"/opt/bin/docker-credential-x": (True, 0o700, 0, 0), "/usr/bin/docker-credential-x": (True, 0o755, 0, 0),
             "/usr/bin/docker-credential-d": (False, 0o755, 0, 0), "/usr/bin/docker-credential-n": (True, 0o644, 0, 0)}
    assert host.look_path("docker-credential-x", ".:/opt/bin:/usr/bin", files.get)[0] == "/opt/bin/docker-credential-x"
    assert host.look_path("docker-credential-d", "/usr/bin", files.get)[0] is None
    assert host.look_path("docker-credential-n", "/usr/bin", files.get)[0] is None
    assert host.permitted(0o700, 0, 0, 0, {0}, 1)
    assert not host.permitted(0o700, 0, 0, 999, {999}, 1)
    assert host.permitted(0o750, 0, 999, 999, {999}, 1)
    assert host.permitted(0o755, 0, 0, 999, {999}, 4)
    assert not host.permitted(0o644, 0, 0, 0, {0}, 1)  # root needs one execute bit too


def test_systemd_default_path_is_the_system_managers_fixed_value():
    """systemd.exec(5): the system manager's fixed PATH; the role's default leaves it to this constant."""
    assert host.SYSTEMD_DEFAULT_PATH == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"


def test_describe_shows_mode_and_owner_like_ls(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(0o640)
    owner = host.pwd.getpwuid(os.stat(path).st_uid).pw_name
    group = host.grp.getgrgid(os.stat(path).st_gid).gr_name
    assert host.describe(str(path)) == "-rw-r----- %s:%s" % (owner, group)
    assert host.describe(str(tmp_path / "missing")) == "cannot stat it"


def test_running_service_path_needs_systemd(monkeypatch):
    monkeypatch.setattr(host.os.path, "isdir", lambda path: False if path == "/run/systemd/system" else True)
    assert host.running_service_path("gitlab-runner", 5) == (None, None)


def test_running_service_path_reads_the_main_process_environment(monkeypatch, tmp_path):
    """systemctl's MainPID, then that process's PATH from /proc (here: this test's own process)."""
    systemctl = tmp_path / "systemctl"
    systemctl.write_text("#!/bin/sh\necho %d\n" % os.getpid())
    systemctl.chmod(0o755)
    real_isdir, real_access = os.path.isdir, os.access
    monkeypatch.setattr(host.os.path, "isdir", lambda path: path == "/run/systemd/system" or real_isdir(path))
    monkeypatch.setattr(host.os, "access", lambda path, mode: real_access(
        str(systemctl) if path == "/usr/bin/systemctl" else path, mode))
    monkeypatch.setattr(host, "process", _Redirect(str(systemctl)))
    with open("/proc/self/environ", "rb") as handle:
        own = [item[5:].decode() for item in handle.read().split(b"\0") if item.startswith(b"PATH=")]
    assert host.running_service_path("gitlab-runner", 5) == (own[0] if own else None, str(os.getpid()))


class _Redirect:
    """_process with the systemctl binary replaced by a script."""

    def __init__(self, script):
        from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _process
        self.process, self.script = _process, script
        self.ProcessTimeout = _process.ProcessTimeout

    def run_bounded(self, command, *args, **kwargs):
        return self.process.run_bounded([self.script] + command[1:], *args, **kwargs)
