# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_helpers: one way to find and run a docker-credential-* helper, for the audit, the lookup and the role's check.

The helpers are small shell scripts in tmp_path, run as the user running the tests; another user
appears only where no process is started (permissions are computed from stat values).
"""

from __future__ import annotations

import os
import pathlib
import pwd
import shutil
import tempfile

import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _helpers as helpers
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _resolve as resolve

SOURCE = "the test"


@pytest.fixture
def me():
    return helpers.current_user()


@pytest.fixture
def open_dir():
    """A directory every user may search (pytest's tmp_path sits in a 0700 directory)."""
    path = tempfile.mkdtemp(prefix="runnerkit-helpers.")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path)


def install(directory, name, body, mode=0o755):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ("docker-credential-" + name)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(mode)
    return str(path)


def runner(user, path, timeout=5):
    env = {"HOME": user["home"], "PATH": path, "USER": user["name"], "LOGNAME": user["name"]}
    return helpers.HelperRunner(user, path, timeout, env, exact_env=True)


def test_a_helper_that_answers_version_is_usable_and_its_first_line_shown(tmp_path, me):
    binary = install(tmp_path / "bin", "x", 'echo "v1.2.3"; echo "more"\n')
    result = runner(me, str(tmp_path / "bin")).verify("x", "/nonexistent", SOURCE)
    assert result == {"name": "x", "path": binary, "ok": True,
                      "msg": "docker-credential-x (%s) answers 'version' as %s: v1.2.3" % (binary, me["name"])}


def test_a_helper_without_version_is_usable_when_list_answers(tmp_path, me):
    install(tmp_path / "bin", "x", '[ "$1" = list ] || exit 1\nread input; [ "$input" = unused ] && echo "{}"\n')
    result = runner(me, str(tmp_path / "bin")).verify("x", "/nonexistent", SOURCE)
    assert result["ok"] and result["msg"].endswith("answers 'list' as %s" % me["name"])


def test_a_helper_that_answers_neither_shows_what_it_said(tmp_path, me):
    binary = install(tmp_path / "bin", "x", "echo 'cannot reach the key store' >&2\nexit 3\n")
    result = runner(me, str(tmp_path / "bin")).verify("x", "/nonexistent", SOURCE)
    assert result == {"name": "x", "path": binary, "ok": False, "msg": (
        "docker-credential-x (%s) runs as %s but answers neither 'version' (cannot reach the key store) nor 'list' "
        "(cannot reach the key store)" % (binary, me["name"]))}


def test_the_helper_gets_only_home_path_user_and_logname(tmp_path, me, monkeypatch):
    monkeypatch.setenv("RUNNERKIT_LEAK", "from the module's environment")
    install(tmp_path / "bin", "x", 'echo "$(/usr/bin/env | /bin/grep -v "^PWD=" | /usr/bin/sort | /usr/bin/tr "\\n" " ")"\n')
    result = runner(me, str(tmp_path / "bin")).verify("x", "/nonexistent", SOURCE)
    assert result["ok"], result
    assert result["msg"].endswith(": HOME=%s LOGNAME=%s PATH=%s USER=%s " % (
        me["home"], me["name"], tmp_path / "bin", me["name"]))


def test_a_hanging_helper_is_killed_and_reported(tmp_path, me):
    install(tmp_path / "bin", "x", "/bin/sleep 30\n")
    result = runner(me, str(tmp_path / "bin"), timeout=1).verify("x", "/nonexistent", SOURCE)
    assert not result["ok"] and "answers neither 'version' (did not finish within 1 s" in result["msg"]


def test_installed_outside_the_path(tmp_path, me):
    binary = install(tmp_path / "hidden", "x", "echo v1\n")
    result = runner(me, "/nonexistent-dir").verify("x", str(tmp_path / "hidden"), SOURCE)
    assert result["msg"] == ("docker-credential-x: installed at %s, but %s is not on the PATH of the runner "
                             "(/nonexistent-dir, from the test)" % (binary, tmp_path / "hidden"))
    assert not result["ok"] and result["path"] is None


def test_not_installed_at_all(tmp_path, me):
    result = runner(me, str(tmp_path)).verify("runnerkit-none", str(tmp_path / "inst"), SOURCE)
    assert result["msg"] == ("docker-credential-runnerkit-none: not found on the PATH of the runner (%s, from the test) "
                             "nor in %s" % (tmp_path, tmp_path / "inst"))


def test_a_file_the_user_cannot_execute_is_named_with_its_mode_and_owner(open_dir, me):
    """The runner (Go >= 1.20 asks the kernel) skips a file its user may not execute: say which and why."""
    tmp_path = open_dir
    binary = install(tmp_path / "bin", "x", "echo v1\n", mode=0o700)
    os.chmod(tmp_path / "bin", 0o755)
    other = {"name": "runner", "uid": me["uid"] + 4242, "gids": {me["uid"] + 4242}, "home": "/nonexistent"}
    result = runner(other, str(tmp_path / "bin")).verify("x", "/nonexistent", SOURCE)
    owner = pwd.getpwuid(os.stat(binary).st_uid).pw_name
    assert result["msg"].startswith(
        "docker-credential-x: %s is on the runner's PATH but user runner cannot execute it (-rwx------ %s:"
        % (binary, owner)) and result["msg"].endswith("); the runner process runs as runner")
    # The next one on the PATH that the user may execute is the one the runner runs.
    later = install(tmp_path / "later", "x", "echo v2\n")
    os.chmod(tmp_path / "later", 0o755)
    assert runner(other, "%s:%s" % (tmp_path / "bin", tmp_path / "later"))._locate("docker-credential-x") == (
        later, None)


def test_without_an_execute_bit_root_cannot_execute_either(tmp_path, me):
    binary = install(tmp_path / "bin", "x", "echo v1\n", mode=0o644)
    result = runner(me, str(tmp_path / "bin")).verify("x", "/nonexistent", SOURCE)
    assert result["path"] == binary and "is on the runner's PATH but user %s cannot execute it (-rw-r--r--" % me[
        "name"] in result["msg"]


def test_run_caches_answers_and_a_missing_helper_is_unavailable(tmp_path, me):
    counter = tmp_path / "count"
    install(tmp_path / "bin", "x", 'echo run >> %s\nread server; echo "{\\"Username\\":\\"u\\",\\"Secret\\":\\"s\\"}"\n'
            % counter)
    run = runner(me, str(tmp_path / "bin"))
    assert run.run("x", "get", "reg.tld") == (0, '{"Username":"u","Secret":"s"}\n')
    assert run.run("x", "get", "reg.tld") == (0, '{"Username":"u","Secret":"s"}\n')
    assert counter.read_text() == "run\n"
    with pytest.raises(resolve.HelperUnavailable, match='"docker-credential-y": executable file not found in \\$PATH'):
        run.run("y", "get", "reg.tld")


def test_a_helper_that_timed_out_is_not_started_again(tmp_path, me):
    install(tmp_path / "bin", "x", "/bin/sleep 30\n")
    run = runner(me, str(tmp_path / "bin"), timeout=1)
    with pytest.raises(resolve.HelperTimeout, match="did not finish within 1 s"):
        run.run("x", "get", "a.tld")
    with pytest.raises(resolve.HelperTimeout, match="not run again, it timed out before"):
        run.run("x", "get", "b.tld")


def test_another_user_needs_root_and_runuser(open_dir, me, monkeypatch):
    tmp_path = open_dir
    install(tmp_path / "bin", "x", "echo v1\n")
    os.chmod(tmp_path / "bin", 0o755)
    other = {"name": "runner", "uid": me["uid"] + 4242, "gids": set(), "home": "/nonexistent"}
    monkeypatch.setattr(helpers.os, "geteuid", lambda: me["uid"] + 1)  # neither root nor that user
    needs = "cannot run docker-credential-x as user runner: that needs root and runuser"
    with pytest.raises(resolve.HelperUnavailable, match=needs):
        runner(other, str(tmp_path / "bin")).run("x", "get", "reg.tld")


def test_the_controller_user_needs_no_passwd_entry(monkeypatch):
    """The image_digest lookup runs helpers as whoever runs ansible, also a uid without a passwd entry."""
    def unknown(uid):
        raise KeyError(uid)

    monkeypatch.setattr(helpers.pwd, "getpwuid", unknown)
    monkeypatch.setenv("HOME", "/srv/ci")
    user = helpers.current_user()
    assert user["name"] == str(os.geteuid()) and user["home"] == "/srv/ci" and os.getegid() in user["gids"]
