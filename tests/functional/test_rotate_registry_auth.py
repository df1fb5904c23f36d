# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/rotate_registry_auth.yml on its non-ECR path, against the real test registry.

No Vault server (or Secrets Manager) runs here, so ``ansible.builtin.file`` stands in for the secret store's lookup:
the test "rotates" the secret by rewriting the file (a JSON object with username, password and expires_at, as a
Vault KV secret would hold them) and the registry's htpasswd with it. Time is moved through the expiry recorded in
the host's state file, as in the ECR rotation test; runner_auth_info then reports the recorded expiry.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import tomllib

import registry as reg
from conftest import COLLECTIONS_DIR

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = "- import_playbook: %s\n" % os.path.join(REPO_ROOT, "playbooks", "rotate_registry_auth.yml")
SITE = "- import_playbook: %s\n" % os.path.join(REPO_ROOT, "playbooks", "site.yml")
UTC = datetime.timezone.utc
ROLE = "runnerkit.gitlab_runner.registry_tokens : "
FIRST, SECOND = "robot-Secret-first-1111", "robot-Secret-second-2222"
KEEP_SECRET = "other-registry-Secret-33"

CONFIG_TOML = """\
concurrent = 2

[[runners]]
  name = "docker-build"
  url = "https://gitlab.example.com"
  token = "glrt-build-runner-token"
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
"""


def _b64(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _docker_auth_config(config_toml):
    runner = tomllib.loads(config_toml.read_text())["runners"][0]
    values = [v.split("=", 1)[1] for v in runner.get("environment", []) if v.startswith("DOCKER_AUTH_CONFIG=")]
    return json.loads(values[0])


def _audit(tmp_path, registry, config_json, state_file, warn_days):
    """runner_auth_info (as Ansible runs it) on a runner that pulls from the registry with config_json: the problems."""
    config = tmp_path / "audit-config.toml"
    config.write_text('concurrent = 1\n\n[[runners]]\n  name = "build"\n  url = "https://gitlab.example.com"\n'
                      '  token = "glrt-audit"\n  executor = "docker"\n  [runners.docker]\n    image = "%s"\n'
                      % registry.ref("ns/app:1"))
    return _audit_config(tmp_path, config, config_json, state_file, warn_days)


def _audit_config(tmp_path, config, config_json, state_file, warn_days):
    """runner_auth_info (as Ansible runs it, no probe) on the runners of `config`: the problems, the raw output."""
    args = {"path": str(config), "user": "root", "docker_config": str(config_json), "probe": False,
            "service": "runnerkit-no-such-unit", "ecr_state_file": str(state_file), "expiry_warn_days": warn_days}
    result, raw = _run_module(tmp_path, "runner_auth_info", args)
    return [problem for row in result["images"] for problem in row["problems"]], raw


def _run_module(tmp_path, name, args):
    """One module run in its own process, as Ansible runs it: (result, raw output); a failure fails the test."""
    args_file = tmp_path / ("%s-args.json" % name)
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.runnerkit.gitlab_runner.plugins.modules."
                           + name, str(args_file)], capture_output=True, text=True, timeout=120,
                          check=False, env=dict(os.environ, PYTHONPATH=COLLECTIONS_DIR))
    result = json.loads(proc.stdout)
    assert not result.get("failed"), result
    return result, proc.stdout


def _forms(secret):
    return {secret, base64.b64encode(secret.encode()).decode(), _b64("ci", secret)}


def test_lookup_rotation_renews_only_inside_the_window(registry, cert_dir, run_playbook, tmp_path):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    secret_file = tmp_path / "store" / "harbor-robot.json"  # what a Vault KV secret would hold
    secret_file.parent.mkdir()

    def store(password, expires):
        secret_file.write_text(json.dumps({"username": "ci", "password": password, "expires_at": _iso(expires)}))

    config_toml = tmp_path / "gitlab-runner" / "config.toml"
    config_toml.parent.mkdir()
    config_toml.write_text(CONFIG_TOML)
    config_json = tmp_path / "home" / ".docker" / "config.json"
    state_file = tmp_path / "state" / "rotate.json"
    extra_vars = {
        "rotate_registry_hosts": "localhost",
        "rotate_registry_credentials": [{
            "registry": registry.host, "source": "lookup", "lookup": "ansible.builtin.file",
            "terms": [str(secret_file)], "kwargs": {"rstrip": True}, "renew_before": "7d"}],
        "rotate_registry_runners": ["docker-build"],
        "rotate_registry_docker_config_path": str(config_json),
        "rotate_registry_state_file": str(state_file),
        "docker_config_user": pwd.getpwuid(os.getuid()).pw_name,
        "runner_config_path": str(config_toml),
        "runner_runners": [{"name": "docker-build", "docker_auth_config": {
            "auths": {"other.example.com": {"username": "ci", "password": KEEP_SECRET}}}}],
    }
    runs = []

    def rotate(**kwargs):
        run = run_playbook(PLAYBOOK, extra_vars, **kwargs)
        assert run.rc == 0, run.output
        runs.append(run)
        return run

    def changed(run):
        return sorted(r["task"].split(" | ")[0] for r in run.results if r["status"] == "changed")

    def files():
        return tuple(p.read_text() if p.exists() else None for p in (config_toml, config_json, state_file))

    def pulls(password):
        """A pull (skopeo inspect) with what the rotation wrote works; the registry accepts only `password`."""
        registry.set_users({"ci": password})
        return reg.get_digest(registry.ref("ns/app:1"), str(config_json), cert_dir) == registry.images["ns/app:1"]

    writes = ["Put the credentials into the runner user's config.json",
              "Put the credentials into the runners' DOCKER_AUTH_CONFIG",
              ROLE + "Remember the credentials in use, their expiry and the targets (0600)"]

    # 1. Check mode first: the secret is read, nothing is written anywhere.
    store(FIRST, now + datetime.timedelta(days=30))
    run = rotate(check=True)
    assert changed(run) == sorted(writes + [ROLE + "Create the state directory (0700)"])
    assert files() == (CONFIG_TOML, None, None)

    # 2. The first run writes the credential to both places and records it with its expiry.
    run = rotate(diff=True)
    assert changed(run) == sorted(writes + [ROLE + "Create the state directory (0700)"])
    auth = _b64("ci", FIRST)
    assert json.loads(config_json.read_text()) == {"auths": {registry.host: {"auth": auth}}}
    assert _docker_auth_config(config_toml)["auths"] == {registry.host: {"auth": auth},
                                                         "other.example.com": {"auth": _b64("ci", KEEP_SECRET)}}
    state = json.loads(state_file.read_text())
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state_file.parent).st_mode) == 0o700
    assert state["registries"][registry.host]["expires_at"] == _iso(now + datetime.timedelta(days=30))
    assert state["registries"][registry.host]["source"] == "lookup"
    assert state["auths"] == {registry.host: {"auth": auth}}
    assert str(secret_file) not in state_file.read_text()  # lookup terms and options are not recorded
    assert pulls(FIRST)
    first = files()

    # 3. The store rotated the secret, but the one in use is valid for longer than renew_before: no lookup runs
    #    (the file now holds something that is no secret at all), nothing changes.
    secret_file.write_text("{not json")
    run = rotate()
    assert changed(run) == [] and files() == first
    assert run.status(ROLE + "Read the new secrets of the other registries due from their lookups") == "skipped"

    # 4. A day before the recorded expiry (inside the 7-day window): the new secret is read and written, in check
    #    mode only reported.
    store(SECOND, now + datetime.timedelta(days=60))
    state["registries"][registry.host]["expires_at"] = _iso(now + datetime.timedelta(days=1))
    state_file.write_text(json.dumps(state))
    moved = files()
    run = rotate(check=True)
    assert changed(run) == sorted(writes) and files() == moved
    run = rotate(diff=True)
    assert changed(run) == sorted(writes)
    auth_two = _b64("ci", SECOND)
    assert config_json.read_text() == first[1].replace(auth, auth_two)
    assert _docker_auth_config(config_toml)["auths"][registry.host] == {"auth": auth_two}
    state = json.loads(state_file.read_text())
    assert state["registries"][registry.host]["expires_at"] == _iso(now + datetime.timedelta(days=60))
    assert pulls(SECOND)

    # 5. Rerun: unchanged.
    second = files()
    run = rotate()
    assert changed(run) == [] and files() == second

    # 5b. site.yml from the same variables keeps the rotated credential in both places (its wiring of
    #     rotate_registry_* into keep_auths), even with docker_config_exclusive: no change.
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("gitlab_runners:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    run = run_playbook(SITE, dict(extra_vars, docker_config_path=str(config_json), docker_config_exclusive=True),
                       args=("-i", str(inventory)), diff=True)
    assert run.rc == 0, run.output
    runs.append(run)
    assert changed(run) == [] and files() == second

    # 6. The audit reads the recorded expiry of this (non-ECR) credential: nothing to say with 14 days of warning,
    #    a warning within 90, and an expired credential once the recorded date is past.
    problems, raw = _audit(tmp_path, registry, config_json, state_file, 14)
    assert problems == [] and SECOND not in raw
    problems, raw = _audit(tmp_path, registry, config_json, state_file, 90)
    assert len(problems) == 1 and re.fullmatch(r"static credentials for %s expire at %s \(in (59|60) days\); renew them"
                                               % (re.escape(registry.host), _iso(now + datetime.timedelta(days=60))),
                                               problems[0]), problems
    state["registries"][registry.host]["expires_at"] = _iso(now - datetime.timedelta(hours=1))
    state_file.write_text(json.dumps(state))
    problems, raw = _audit(tmp_path, registry, config_json, state_file, 14)
    assert problems == ["static credentials for %s expired at %s; pulls fail until they are renewed"
                        % (registry.host, _iso(now - datetime.timedelta(hours=1)))] and SECOND not in raw

    # No secret in any form in any run's -vvv (--diff) output or in what callbacks got.
    for run in runs:
        recorded = json.dumps(run.results)
        for secret in _forms(FIRST) | _forms(SECOND) | _forms(KEEP_SECRET):
            assert secret not in run.output and secret not in recorded


def test_docker_config_role_takes_expires_at_and_check_mode_records_nothing(run_playbook, tmp_path):
    """site.yml's docker_config role passes expires_at through its argument spec to the module; in check mode the
    expiry is reported and neither config.json nor the state file (the module's default path) is written."""
    config_json = tmp_path / "home" / ".docker" / "config.json"
    default_state = "/var/lib/runnerkit/rotate_ecr_auth.json"
    existed = os.path.exists(default_state)
    playbook = [{"hosts": "localhost", "gather_facts": False, "roles": [{
        "role": "runnerkit.gitlab_runner.docker_config", "docker_config_path": str(config_json),
        "docker_config_user": pwd.getpwuid(os.getuid()).pw_name, "docker_config_registries": [{
            "registry": "harbor.example.com", "username": "robot$ci", "password": FIRST,
            "expires_at": "2027-03-01T00:00:00Z"}]}]}]
    run = run_playbook(playbook, check=True, diff=True)
    assert run.rc == 0, run.output
    result = run.result("runnerkit.gitlab_runner.docker_config : Write the registry credentials into config.json of "
                        "the runner user")
    assert result["changed"] is True and result["expires_at"] == {"harbor.example.com": "2027-03-01T00:00:00Z"}
    assert not config_json.exists() and os.path.exists(default_state) == existed
    assert FIRST not in run.output and FIRST not in json.dumps(run.results)


def test_runner_auth_info_warns_for_an_expiry_runner_config_recorded(tmp_path):
    """runner_config records the expiry of a runner's registries entry (a fingerprint, never the password); the
    audit recognizes the credential of that runner's DOCKER_AUTH_CONFIG by it and warns within expiry_warn_days."""
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    expires = now + datetime.timedelta(days=30)
    config, state_file = tmp_path / "config.toml", tmp_path / "state" / "rotate.json"
    config.write_text(CONFIG_TOML)
    image = "harbor.example.com/ns/app:1"
    result, raw = _run_module(tmp_path, "runner_config", {
        "path": str(config), "expiry_state_file": str(state_file), "runners": [{
            "name": "docker-build", "docker": {"image": image}, "docker_auth_config": {"registries": [{
                "registry": "harbor.example.com", "username": "robot$ci", "password": FIRST,
                "expires_at": _iso(expires)}]}}]})
    assert result["changed"] is True and result["expires_at"] == {"docker-build": {"harbor.example.com": _iso(expires)}}
    assert FIRST not in raw and FIRST not in state_file.read_text()
    assert _docker_auth_config(config)["auths"]["harbor.example.com"] == {"auth": _b64("robot$ci", FIRST)}

    no_home_config = tmp_path / "no-home" / "config.json"
    problems, raw = _audit_config(tmp_path, config, no_home_config, state_file, 14)
    assert problems == [] and FIRST not in raw
    problems, raw = _audit_config(tmp_path, config, no_home_config, state_file, 60)
    assert len(problems) == 1 and re.fullmatch(r"static credentials for harbor\.example\.com expire at %s \(in (29|30) "
                                               r"days\); renew them" % re.escape(_iso(expires)), problems[0]), problems
    assert FIRST not in raw
