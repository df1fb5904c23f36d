# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_host: the runner's systemd unit, PATH lookup and permissions."""

from __future__ import annotations

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
