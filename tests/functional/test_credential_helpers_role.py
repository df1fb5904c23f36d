# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credential_helpers role's check, through ansible-playbook on localhost (helpers shipped as files).

The role installs each helper and then runs runner_auth_info with helpers=...: the helper must be on
the runner's PATH (here credential_helpers_default_path: no systemd service), executable by the
runner user, and answer `version` or `list` as that user. Each failure names the reason, then the
runner user and PATH used. The same cases run in molecule against real hosts.
"""

from __future__ import annotations

import json
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
    for name in ("bin", "hidden", "src", "facts"):
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
    """The record of the last verification goes to the test's own facts directory, not /etc/ansible/facts.d."""
    return dict({"credential_helpers_list": entries, "credential_helpers_install_dir": dirs["bin"],
                 "credential_helpers_default_path": dirs["bin"] + ":/usr/bin:/bin",
                 "credential_helpers_facts_dir": dirs["facts"]}, **over)


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


def test_a_rerun_with_nothing_changed_skips_the_verification_and_any_change_brings_it_back(run_playbook, dirs):
    """Verified on the first run (the record written), skipped on a rerun with nothing changed, verified again
    when the helper itself changed, when the runner's PATH changed, and on every run when asked to."""
    extra = role_vars(dirs, [helper(dirs, "rk-ok", "echo rk-ok 1.0\n")])
    first = run_playbook(PLAY, extra, verbosity=0)
    assert first.rc == 0, first.output
    assert [h["ok"] for h in first.result(VERIFY)["helpers"]] == [True]
    with open(os.path.join(dirs["facts"], "runnerkit_credential_helpers.fact"), encoding="utf-8") as handle:
        record = json.load(handle)
    assert record["passed"] is True and record["dir"] == dirs["facts"] and set(record) == {"fingerprint", "passed", "dir"}
    again = run_playbook(PLAY, extra, verbosity=0)
    assert again.rc == 0 and again.status(VERIFY) == "skipped"
    assert [r["task"] for r in again.results if r["status"] == "changed"] == []
    # The helper changed (the file the role installs): installed, then verified again.
    extra = role_vars(dirs, [helper(dirs, "rk-ok", "echo rk-ok 2.0\n")])
    changed = run_playbook(PLAY, extra, verbosity=0)
    assert changed.rc == 0 and changed.status(ROLE + "Install helpers shipped as files") == "changed"
    assert changed.result(VERIFY)["helpers"][0]["msg"].endswith(": rk-ok 2.0")
    # Something the verification depends on changed (the runner's PATH): verified again, the record rewritten.
    moved = run_playbook(PLAY, dict(extra, credential_helpers_default_path=dirs["bin"] + ":/bin"), verbosity=0)
    assert moved.rc == 0 and moved.status(VERIFY) == "ok"
    with open(os.path.join(dirs["facts"], "runnerkit_credential_helpers.fact"), encoding="utf-8") as handle:
        assert json.load(handle)["fingerprint"] != record["fingerprint"]
    always = run_playbook(PLAY, dict(extra, credential_helpers_default_path=dirs["bin"] + ":/bin",
                                     credential_helpers_verify_always=True), verbosity=0)
    assert always.rc == 0 and always.status(VERIFY) == "ok"


def test_a_rerun_after_a_failed_verification_verifies_again(run_playbook, dirs):
    """The failure is recorded too: after a verified helper is replaced by one the runner cannot use (the install
    changed it, the verification fails), the rerun, where the install changes nothing and every input is the same,
    still verifies and fails."""
    assert run_playbook(PLAY, role_vars(dirs, [helper(dirs, "rk-flaky", "echo 1\n")]), verbosity=0).rc == 0
    extra = role_vars(dirs, [helper(dirs, "rk-flaky", "exit 3\n")])
    broken = run_playbook(PLAY, extra, verbosity=0)
    assert broken.rc != 0 and broken.status(ROLE + "Install helpers shipped as files") == "changed"
    assert broken.status(FAIL) == "failed"
    rerun = run_playbook(PLAY, extra, verbosity=0)
    assert rerun.rc != 0 and rerun.status(ROLE + "Install helpers shipped as files") == "ok"
    assert rerun.status(VERIFY) == "ok" and rerun.status(FAIL) == "failed"


def test_no_helper_listed_is_one_skipped_task(run_playbook, dirs):
    run = run_playbook(PLAY, role_vars(dirs, []), verbosity=0)
    assert run.rc == 0, run.output
    assert [(r["task"], r["status"]) for r in run.results if r["task"].startswith(ROLE)] == [
        (ROLE + "Validating arguments against arg spec 'main' - Install docker-credential-* helpers and verify the "
                "runner can use them", "ok"),
        (ROLE + "Install and verify the credential helpers", "skipped")]


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
