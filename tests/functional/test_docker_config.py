# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_config against real parts: the config.json it writes is read by skopeo against a real
distribution registry with htpasswd and TLS; idempotence, permissions and secrets through ansible-playbook."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat

import registry as reg

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: write
      runnerkit.gitlab_runner.docker_config:
        path: "{{ path }}"
        registries: "{{ registries }}"
"""

FOUR_STEPS = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: check
      runnerkit.gitlab_runner.docker_config: &args
        path: "{{ path }}"
        registries: "{{ registries }}"
      check_mode: true
    - name: run
      runnerkit.gitlab_runner.docker_config: *args
    - name: rerun
      runnerkit.gitlab_runner.docker_config: *args
    - name: check rerun
      runnerkit.gitlab_runner.docker_config: *args
      check_mode: true
"""


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def write(run_playbook, path, registries, **kwargs):
    result = run_playbook(PLAY, {"path": str(path), "registries": registries}, **kwargs)
    assert result.rc == 0, result.output
    return result


def test_skopeo_pulls_with_what_the_module_wrote_and_fails_after_a_wrong_password(registry, cert_dir, run_playbook,
                                                                                  tmp_path):
    config = tmp_path / "home" / ".docker" / "config.json"
    write(run_playbook, config, [{"registry": registry.host, "username": "ci", "password": "ci-password"}])
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(config.parent).st_mode) == 0o700
    assert reg.get_digest(registry.ref("ns/app:1"), str(config), cert_dir) == registry.images["ns/app:1"]

    write(run_playbook, config, [{"registry": registry.host, "username": "ci", "password": "not-the-password"}])
    rc, _out, err = reg.inspect(registry.ref("ns/app:1"), str(config), cert_dir)
    assert rc != 0 and reg.SKOPEO_UNAUTHORIZED in err


def test_namespace_scoped_key_is_used_for_that_namespace_only(registry, cert_dir, run_playbook, tmp_path):
    config = tmp_path / "config.json"
    write(run_playbook, config, [{"registry": registry.host + "/ns", "username": "ci", "password": "ci-password"}])
    assert json.loads(config.read_text())["auths"] == {registry.host + "/ns": {"auth": reg.auth_entry("ci", "ci-password")["auth"]}}
    mark = registry.log_mark()
    assert reg.get_digest(registry.ref("ns/app:1"), str(config), cert_dir) == registry.images["ns/app:1"]
    assert ("Basic", "ci", "ci-password", 200) in [(s.scheme, s.user, s.password, s.status)
                                                   for s in registry.received(since=mark) if "/ns/app/manifests/" in s.path]
    rc, _out, err = reg.inspect(registry.ref("other/app:1"), str(config), cert_dir)
    assert rc != 0 and reg.SKOPEO_UNAUTHORIZED in err


def test_four_steps_keep_unmanaged_keys_and_show_no_secret(registry, run_playbook, tmp_path):
    config = tmp_path / "config.json"
    unmanaged = {"proxies": {"default": {"httpProxy": "http://proxy:3128"}}, "HttpHeaders": {"X-Team": "ci"},
                 "detachKeys": "ctrl-e,e", "psFormat": "table {{.ID}}", "someFutureKey": {"a": [1, 2]},
                 "auths": {"keep.example.com": {"auth": base64.b64encode(b"keeper:keeper-secret-1").decode()}}}
    config.write_text(json.dumps(unmanaged, indent=2))
    os.chmod(config, 0o644)
    registries = [{"registry": registry.host, "username": "ci", "password": "ci-password"},
                  {"registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "helper": "ecr-login"}]
    before = digest(config)
    result = run_playbook(FOUR_STEPS, {"path": str(config), "registries": registries}, diff=True)
    assert result.rc == 0, result.output
    assert [result.status(t) for t in ("check", "run", "rerun", "check rerun")] == ["changed", "changed", "ok", "ok"]
    assert result.result("run")["changes"] == {registry.host: "added",
                                               "123456789012.dkr.ecr.eu-west-1.amazonaws.com": "added"}
    data = json.loads(config.read_text())
    for key in ("proxies", "HttpHeaders", "detachKeys", "psFormat", "someFutureKey"):
        assert data[key] == unmanaged[key]
    assert data["auths"]["keep.example.com"] == unmanaged["auths"]["keep.example.com"]
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600 and digest(config) != before
    for secret in ("ci-password", reg.auth_entry("ci", "ci-password")["auth"], "keeper-secret-1",
                   unmanaged["auths"]["keep.example.com"]["auth"]):
        assert secret not in result.output
    assert "********" in result.output


def test_a_file_rewritten_by_the_docker_cli_is_unchanged(registry, run_playbook, tmp_path):
    config = tmp_path / "config.json"
    registries = [{"registry": registry.host, "username": "ci", "password": "ci-password"}]
    write(run_playbook, config, registries)
    data = json.loads(config.read_text())
    config.write_text(json.dumps(data, indent=4, sort_keys=False) + "\n")  # other layout, same data
    result = write(run_playbook, config, registries)
    assert result.status("write") == "ok"


def test_bad_input_leaves_the_file_byte_identical(registry, run_playbook, tmp_path):
    config = tmp_path / "config.json"
    write(run_playbook, config, [{"registry": registry.host, "username": "ci", "password": "ci-password"}])
    before = digest(config)
    cases = [
        ([{"registry": registry.host, "helper": "../../bin/evil"}], "bare name"),
        ([{"registry": registry.host, "auth": "not base64!"}], "not valid base64"),
        ([{"registry": "https://" + registry.host + "/ns/app", "username": "u", "password": "pass-word-1"}], "has a scheme and a path"),
        ([{"registry": registry.host, "username": "ci", "password": "x-password", "helper": "ecr-login"}], "not both"),
        ([{"registry": registry.host, "username": {"not": "a string"}, "password": "x-password"}], "username: must be a non-empty string"),
        ([{"registry": registry.host, "username": "ci", "password": "x-password", "state": "gone"}], "one of: present, absent"),
    ]
    for registries, message in cases:
        result = run_playbook(PLAY, {"path": str(config), "registries": registries})
        assert result.rc != 0 and message in result.result("write")["msg"], result.output
        if "one of" not in message:  # argument errors come from ansible-core itself
            assert "the file was left unchanged" in result.result("write")["msg"]
        assert digest(config) == before
    config.write_text('{"auths": {')
    result = run_playbook(PLAY, {"path": str(config), "registries": []})
    assert result.rc != 0 and "line 1 column" in result.result("write")["msg"]
    assert config.read_text() == '{"auths": {'
