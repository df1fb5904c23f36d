# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry_trust role through ansible-playbook on localhost, on test directories.

The daemon is a stand-in: a copy of sleep(1) named ``dockerd`` with a pid file. SIGHUP ends it, so
its exit status proves that the role signalled exactly the process of the pid file, and only when a
reloadable key changed. The real engine is in test_registry_trust_engine.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import textwrap

import pytest

PLAY = textwrap.dedent("""\
    - hosts: localhost
      gather_facts: true
      gather_subset: ["!all", "min"]
      roles:
        - runnerkit.gitlab_runner.registry_trust
    """)
ROLE = "runnerkit.gitlab_runner.registry_trust : "
TRUST = ROLE + "Write the registries' CA and client certificates into certs.d"
DAEMON = ROLE + "Merge mirrors and daemon settings into daemon.json"
FIND = ROLE + "Find the running dockerd"
RELOAD = ROLE + "Reload dockerd (SIGHUP) for the reloadable keys that changed"
RESTART_NOTE = ROLE + "Say that dockerd needs a restart the role did not do"


@pytest.fixture
def fake_dockerd(tmp_path):
    """A process named dockerd and its pid file; stopped at the end if the test did not end it."""
    binary = tmp_path / "bin" / "dockerd"
    binary.parent.mkdir()
    shutil.copy(shutil.which("sleep"), binary)
    proc = subprocess.Popen([str(binary), "600"])  # pylint: disable=consider-using-with
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text("%d\n" % proc.pid)
    yield proc, pidfile
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.fixture
def role_vars(tmp_path, certs, fake_dockerd):
    return {
        "registry_trust_certs_d_root": str(tmp_path / "docker" / "certs.d"),
        "registry_trust_containers_certs_d_root": str(tmp_path / "containers" / "certs.d"),
        "registry_trust_daemon_json": str(tmp_path / "docker" / "daemon.json"),
        "registry_trust_dockerd_pidfile": str(fake_dockerd[1]),
        "registry_trust_registries": [{
            "registry": "https://Reg.Example.com:5000/", "ca_cert": open(certs.ca_file).read(),
            "client_cert": open(certs.cert_file).read(), "client_key": open(certs.key_file).read(),
            "containers": True}],
        "registry_trust_mirrors": ["https://mirror.example.com"],
        "registry_trust_daemon_settings": {"max-concurrent-downloads": 6},
    }


def changed_tasks(run):
    return [record["task"] for record in run.results if record["status"] == "changed"]


def test_first_run_writes_and_reloads_the_pidfile_daemon_then_nothing_changes(
        run_playbook, role_vars, tmp_path, fake_dockerd, certs):
    run = run_playbook(PLAY, role_vars, verbosity=0, diff=True)
    assert run.rc == 0, run.output
    assert changed_tasks(run) == [TRUST, DAEMON, RELOAD]
    assert fake_dockerd[0].wait(timeout=10) == -signal.SIGHUP
    directory = tmp_path / "docker" / "certs.d" / "reg.example.com:5000"
    assert sorted(os.listdir(directory)) == ["ca.crt", "client.cert", "client.key"]
    assert (tmp_path / "containers" / "certs.d" / "reg.example.com:5000" / "client.key").stat().st_mode & 0o777 == 0o600
    key_line = open(certs.key_file).read().strip().splitlines()[1]
    assert key_line not in run.output
    rerun = run_playbook(PLAY, role_vars, verbosity=0)
    assert rerun.rc == 0 and changed_tasks(rerun) == [], rerun.output
    assert rerun.status(RELOAD) == "skipped"


def test_a_key_read_at_start_is_not_reloaded_and_the_role_says_so(run_playbook, role_vars, fake_dockerd):
    role_vars = dict(role_vars, registry_trust_registries=[], registry_trust_mirrors=None,
                     registry_trust_daemon_settings={"log-opts": {"max-size": "10m"}})
    run = run_playbook(PLAY, role_vars, verbosity=0)
    assert run.rc == 0, run.output
    assert run.status(RELOAD) == "skipped" and run.status(RESTART_NOTE) == "ok"
    assert "dockerd applies only at start" in run.result(RESTART_NOTE)["msg"]
    assert fake_dockerd[0].poll() is None


def test_no_daemon_running_is_skipped_cleanly_and_check_mode_writes_nothing(run_playbook, role_vars, tmp_path):
    role_vars = dict(role_vars, registry_trust_dockerd_pidfile=str(tmp_path / "none.pid"))
    run = run_playbook(PLAY, role_vars, verbosity=0, check=True)
    assert run.rc == 0 and not (tmp_path / "docker").exists(), run.output
    run = run_playbook(PLAY, role_vars, verbosity=0)
    assert run.rc == 0, run.output
    assert run.result(FIND)["rc"] == 3 and run.status(RELOAD) == "skipped"
    assert (tmp_path / "docker" / "daemon.json").exists()


# ---------------------------------------------------------------- through site.yml

SITE = "- import_playbook: %s\n" % os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "playbooks", "site.yml")
SITE_INCLUDE = "Registry CA and client certificates, mirrors and daemon settings"


@pytest.fixture
def site_inventory(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("gitlab_runners:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    return ["-i", str(inventory)]


def site_vars(tmp_path, **more):
    """The other roles of site.yml on test files (no helper, no registry login, an empty config.toml)."""
    return dict({"runner_config_path": str(tmp_path / "runner" / "config.toml"),
                 "docker_config_path": str(tmp_path / "home" / ".docker" / "config.json")}, **more)


def test_site_applies_registry_trust_where_declared(run_playbook, role_vars, tmp_path, fake_dockerd, site_inventory):
    run = run_playbook(SITE, site_vars(tmp_path, **role_vars), args=site_inventory, verbosity=0, diff=True)
    assert run.rc == 0, run.output
    assert [task for task in changed_tasks(run) if task.startswith(ROLE)] == [TRUST, DAEMON, RELOAD]
    assert fake_dockerd[0].wait(timeout=10) == -signal.SIGHUP
    assert sorted(os.listdir(tmp_path / "docker" / "certs.d" / "reg.example.com:5000")) == [
        "ca.crt", "client.cert", "client.key"]
    rerun = run_playbook(SITE, site_vars(tmp_path, **role_vars), args=site_inventory, verbosity=0)
    assert rerun.rc == 0 and changed_tasks(rerun) == [], rerun.output


def test_site_skips_registry_trust_in_one_task_where_nothing_is_declared(run_playbook, tmp_path, site_inventory):
    run = run_playbook(SITE, site_vars(tmp_path), args=site_inventory, verbosity=0)
    assert run.rc == 0, run.output
    assert run.status(SITE_INCLUDE) == "skipped"
    assert [record["task"] for record in run.results if record["task"].startswith(ROLE)] == []
