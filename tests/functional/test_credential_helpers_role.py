# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credential_helpers role's check, through ansible-playbook on localhost (helpers shipped as files).

The role installs each helper and then runs runner_auth_info with helpers=...: the helper must be on
the runner's PATH (here credential_helpers_default_path: no systemd service), executable by the
runner user, and answer `version` or `list` as that user. Each failure names the reason, then the
runner user and PATH used. The same cases run in molecule against real hosts.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

PLAY = """\
- hosts: localhost
  gather_facts: true
  gather_subset: ["!all", "min"]
  roles:
    - runnerkit.gitlab_runner.credential_helpers
"""
ROLE = "runnerkit.gitlab_runner.credential_helpers : "
VERIFY = ROLE + "Verify that the runner user finds and can run every helper"
FAIL = ROLE + "Fail for the helpers the runner cannot use"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the role installs helpers owned by root")


@pytest.fixture
def dirs():
    """An install directory on the runner's PATH, one off it, and the helpers' sources, all searchable by any user
    (pytest's tmp_path sits in a 0700 directory)."""
    base = tempfile.mkdtemp(prefix="runnerkit-helpers-role.")
    os.chmod(base, 0o755)
    made = {}
    for name in ("bin", "hidden", "src"):
        made[name] = os.path.join(base, name)
        os.mkdir(made[name], 0o755)
    yield made
    shutil.rmtree(base)


def helper(dirs, name, body):
    path = os.path.join(dirs["src"], "docker-credential-" + name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("#!/bin/sh\n" + body)
    return {"name": name, "source": "file", "src": path}


def role_vars(dirs, entries, **over):
    return dict({"credential_helpers_list": entries, "credential_helpers_install_dir": dirs["bin"],
                 "credential_helpers_default_path": dirs["bin"] + ":/usr/bin:/bin"}, **over)


def test_a_helper_the_runner_finds_and_runs_passes_and_is_left_alone_on_the_rerun(run_playbook, dirs):
    extra = role_vars(dirs, [helper(dirs, "rk-ok", "echo rk-ok 1.0\n")])
    run = run_playbook(PLAY, extra, verbosity=0)
    assert run.rc == 0, run.output
    binary = os.path.join(dirs["bin"], "docker-credential-rk-ok")
    assert run.result(VERIFY)["helpers"] == [{"name": "rk-ok", "path": binary, "ok": True,
                                              "msg": "docker-credential-rk-ok (%s) answers 'version' as root: rk-ok 1.0"
                                                     % binary}]
    assert run.result(VERIFY)["runner_path_source"] == "the default, as no gitlab-runner service was found"
    assert run.status(FAIL) == "skipped"
    again = run_playbook(PLAY, extra, verbosity=0)
    assert again.rc == 0 and [r["task"] for r in again.results if r["status"] == "changed"] == []


@pytest.mark.parametrize("case", ["off-path", "not-executable", "mute"])
def test_the_role_fails_naming_why_the_runner_cannot_use_a_helper(run_playbook, dirs, case):
    path = dirs["bin"] + ":/usr/bin:/bin"
    if case == "off-path":
        extra = role_vars(dirs, [helper(dirs, "rk-hidden", "echo 1\n")], credential_helpers_install_dir=dirs["hidden"])
        want = ("docker-credential-rk-hidden: installed at %s/docker-credential-rk-hidden, but %s is not on the PATH "
                "of the runner (%s, from the default, as no gitlab-runner service was found)"
                % (dirs["hidden"], dirs["hidden"], path))
    elif case == "not-executable":
        extra = role_vars(dirs, [helper(dirs, "rk-private", "echo 1\n")], credential_helpers_install_mode="0700",
                          credential_helpers_runner_user="nobody")
        want = ("docker-credential-rk-private: %s/docker-credential-rk-private is on the runner's PATH but user nobody "
                "cannot execute it (-rwx------ root:root); the runner process runs as nobody" % dirs["bin"])
    else:
        extra = role_vars(dirs, [helper(dirs, "rk-mute", "echo 'cannot reach the key store' >&2\nexit 3\n")])
        want = ("docker-credential-rk-mute (%s/docker-credential-rk-mute) runs as root but answers neither 'version' "
                "(cannot reach the key store) nor 'list' (cannot reach the key store)" % dirs["bin"])
    run = run_playbook(PLAY, extra, verbosity=0)
    assert run.rc != 0
    user = extra.get("credential_helpers_runner_user", "root")
    home = os.path.expanduser("~" + user)
    assert run.result(FAIL)["msg"] == "%s; runner user: %s (home %s); runner PATH: %s (from the default, as no " \
                                      "gitlab-runner service was found)" % (want, user, home, path)


def test_an_unknown_runner_user_fails_the_check(run_playbook, dirs):
    extra = role_vars(dirs, [helper(dirs, "rk-ok", "echo 1\n")], credential_helpers_runner_user="rk-no-such-user")
    run = run_playbook(PLAY, extra, verbosity=0)
    assert run.rc != 0
    assert run.result(VERIFY)["msg"] == "the runner process user 'rk-no-such-user' does not exist on this host"
