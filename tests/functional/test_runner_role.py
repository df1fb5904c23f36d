# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runner role's restart decision, through ansible-playbook on localhost.

GitLab Runner reloads config.toml by itself except for the keys it reads at start; the role's one
handler restarts only for those. No service manager can restart a runner here, so the restart
itself (ansible.builtin.service) is not run: these tests cover when it is wanted and the message
given when it cannot be done (no binary, check mode, runner_restart false).
"""

from __future__ import annotations

import os
import pwd
import stat
import textwrap

import pytest

PLAY = textwrap.dedent("""\
    - hosts: localhost
      gather_facts: true
      gather_subset: ["!all", "min"]
      roles:
        - runnerkit.gitlab_runner.runner
    """)
ROLE = "runnerkit.gitlab_runner.runner : "
HANDLER = ROLE + "Restart GitLab Runner when a key it reads only at start changed"
REPORT = ROLE + "Report the restart that could not be done here"
RESTART = ROLE + "Restart the GitLab Runner service"
CONFIG = 'concurrent = 2\n\n[[runners]]\n  name = "a"\n  url = "https://gitlab.example.com"\n  token = "glrt-x"\n' \
         '  executor = "docker"\n'


@pytest.fixture
def role_vars(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return {"runner_config_path": str(path), "runner_binary": str(tmp_path / "no-gitlab-runner"),
            "runner_runners": [{"name": "a", "docker": {"image": "alpine:3.20"}}]}


def statuses(run):
    return {task: run.status(task) for task in (HANDLER, REPORT, RESTART) if run.records(task)}


def test_keys_the_runner_reloads_by_itself_need_no_restart(run_playbook, role_vars):
    run = run_playbook(PLAY, dict(role_vars, runner_global={"concurrent": 8}), verbosity=0)
    assert run.rc == 0, run.output
    assert run.status(ROLE + "Manage the global keys and the runners of config.toml") == "changed"
    assert statuses(run) == {HANDLER: "skipped"}


@pytest.mark.parametrize("overrides, check, reason", [
    pytest.param({}, False, "no {binary}", id="no-binary"),
    pytest.param({}, True, "check mode", id="check-mode"),
    pytest.param({"runner_restart": False, "runner_binary": "/bin/true"}, False, "runner_restart is false",
                 id="restart-off"),
])
def test_a_key_read_at_start_asks_for_a_restart_and_says_why_none_was_done(run_playbook, role_vars, overrides,
                                                                           check, reason):
    extra = dict(role_vars, runner_global={"listen_address": "127.0.0.1:9252", "concurrent": 8}, **overrides)
    run = run_playbook(PLAY, extra, check=check, verbosity=0)
    assert run.rc == 0, run.output
    assert statuses(run) == {HANDLER: "ok", REPORT: "ok", RESTART: "skipped"}
    assert run.result(REPORT)["msg"] == (
        "listen_address changed in %s: GitLab Runner reads these only when it starts, so it needs a restart. "
        "Not restarted here: %s." % (role_vars["runner_config_path"], reason.format(binary=extra["runner_binary"])))
    # Unchanged on a rerun: nothing notified, nothing reported.
    if not check:
        run = run_playbook(PLAY, extra, verbosity=0)
        assert run.rc == 0 and statuses(run) == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_file_the_role_creates_belongs_to_runner_config_owner(run_playbook, tmp_path):
    """An --init-user runner must be able to read the config.toml the role creates for it."""
    path = tmp_path / "home" / "config.toml"
    extra = {"runner_config_path": str(path), "runner_config_owner": "nobody", "runner_runners": [
        {"name": "a", "url": "https://gitlab.example.com", "token": "glrt-new-runner-token", "executor": "docker"}]}
    run = run_playbook(PLAY, extra, verbosity=0)
    assert run.rc == 0, run.output
    nobody = pwd.getpwnam("nobody")
    found = os.stat(path)
    assert (found.st_uid, found.st_gid, stat.S_IMODE(found.st_mode)) == (nobody.pw_uid, nobody.pw_gid, 0o600)
    assert os.stat(path.parent).st_uid == nobody.pw_uid
    run = run_playbook(PLAY, extra, verbosity=0)
    assert run.rc == 0 and run.status(ROLE + "Manage the global keys and the runners of config.toml") == "ok"
