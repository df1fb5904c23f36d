# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runner_auth_info: main() in-process, with a fake systemd unit and fake user homes (no probe).

The registry side is tested against a real registry in tests/functional/test_runner_auth_info.py.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import time

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _audit as audit
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _host as host_utils
from ansible_collections.runnerkit.gitlab_runner.plugins.modules import runner_auth_info

PASSWORD = "unit-test-registry-password"
TOKEN = "glrt-unit-test-runner-token"
Passwd = collections.namedtuple("Passwd", "pw_name pw_uid pw_gid pw_dir")

PACKAGE_UNIT = """\
[Unit]
Description=GitLab Runner
[Service]
ExecStart=/usr/bin/gitlab-runner "run" "--config" "%(config)s" "--working-directory" "/home/gitlab-runner" \
"--service" "gitlab-runner" "--user" "gitlab-runner"
Restart=always
"""


def auth(user, password):
    return {"auth": base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A fake host: root's and gitlab-runner's homes, the package's unit, a config.toml."""
    homes = {"root": tmp_path / "root", "gitlab-runner": tmp_path / "home-gitlab-runner"}
    for home in homes.values():
        (home / ".docker").mkdir(parents=True)
    users = {"root": Passwd("root", 0, 0, str(homes["root"])),
             "gitlab-runner": Passwd("gitlab-runner", 999, 999, str(homes["gitlab-runner"]))}

    def getpwnam(name):
        if name not in users:
            raise KeyError(name)
        return users[name]

    assert audit.pwd is host_utils.pwd  # one passwd module: patched once, seen by both
    monkeypatch.setattr(host_utils.pwd, "getpwnam", getpwnam)
    monkeypatch.setattr(host_utils.pwd, "getpwuid", lambda uid: users["root"])
    monkeypatch.setattr(host_utils.grp, "getgrall", lambda: [])
    monkeypatch.delenv("SUDO_USER", raising=False)
    units = tmp_path / "systemd"
    units.mkdir()
    monkeypatch.setattr(host_utils, "UNIT_DIRS", (str(units),))
    config = tmp_path / "config.toml"
    config.write_text('[[runners]]\n  name = "build"\n  token = "%s"\n  executor = "docker"\n'
                      '  [runners.docker]\n    image = "reg.tld:5000/ns/app:1"\n' % TOKEN)
    return {"homes": homes, "units": units, "config": str(config), "tmp": tmp_path}


def run(args, capsys):
    with patch_module_args(dict(args, _ansible_check_mode=True)):
        with pytest.raises(SystemExit):
            runner_auth_info.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def test_the_package_service_reads_roots_home_not_the_user_option(host, capsys):
    (host["units"] / "gitlab-runner.service").write_text(PACKAGE_UNIT % {"config": host["config"]})
    (host["homes"]["gitlab-runner"] / ".docker" / "config.json").write_text(
        json.dumps({"auths": {"reg.tld:5000": auth("ci", PASSWORD)}}))
    result, out = run({"path": host["config"], "user": "gitlab-runner"}, capsys)
    assert not result.get("failed"), result
    problems = result["problems"]
    assert any("runs the runner as root, not as gitlab-runner" in p for p in problems), problems
    # without `user`, the unit decides: root, whose home has no config.json; the --user home is reported
    result, out = run({"path": host["config"]}, capsys)
    assert result["user"]["name"] == "root"
    assert result["docker_config"] == str(host["homes"]["root"] / ".docker" / "config.json")
    assert result["images"][0]["source"] == "none"
    assert any(str(host["homes"]["gitlab-runner"]) in p and "the --user of gitlab-runner.service" in p
               and "the runner process (root) reads" in p for p in result["problems"]), result["problems"]
    assert PASSWORD not in out and TOKEN not in out


def test_unit_config_path_mismatch_and_dockercfg_fallback(host, capsys):
    (host["units"] / "gitlab-runner.service").write_text(PACKAGE_UNIT % {"config": "/etc/other/config.toml"})
    (host["homes"]["root"] / ".dockercfg").write_text(json.dumps({"auths": {"reg.tld:5000": auth("old", PASSWORD)}}))
    result, out = run({"path": host["config"]}, capsys)
    assert not any("legacy" in p for p in result["problems"])
    assert any("gitlab-runner.service reads /etc/other/config.toml" in p for p in result["problems"])
    row = result["images"][0]
    assert result["docker_config"] == str(host["homes"]["root"] / ".dockercfg")
    assert (row["source"], row["username"]) == ("home_config", "old")
    assert PASSWORD not in out


def test_runner_path_and_environment_from_the_unit(host, capsys):
    (host["units"] / "gitlab-runner.service").write_text("[Service]\nExecStart=/usr/bin/gitlab-runner run\n")
    dropins = host["units"] / "gitlab-runner.service.d"
    dropins.mkdir()
    bin_dir = host["tmp"] / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-unit"
    helper.write_text("#!/bin/sh\nexit 1\n")
    os.chmod(helper, 0o755)
    (dropins / "path.conf").write_text('[Service]\nEnvironment="PATH=%s:/usr/bin"\n' % bin_dir)
    (host["homes"]["root"] / ".docker" / "config.json").write_text(json.dumps({"credHelpers": {"reg.tld:5000": "unit"}}))
    result, _out = run({"path": host["config"]}, capsys)
    assert result["runner_path"] == "%s:/usr/bin" % bin_dir
    row = result["images"][0]
    assert (row["kind"], row["helper"], row["helper_path"]) == ("helper", "unit", str(helper))


def test_missing_config_and_unknown_runner(host, capsys):
    result, _out = run({"path": str(host["tmp"] / "nope.toml"), "runners": ["build"]}, capsys)
    assert result["images"] == []
    assert any("does not exist" in p for p in result["problems"])
    assert any("runner build is not in" in p for p in result["problems"])


def test_unknown_user_fails(host, capsys):
    result, _out = run({"path": host["config"], "user": "nosuchuser"}, capsys)
    assert result["failed"] and "user 'nosuchuser' does not exist" in result["msg"]


def test_legacy_dockercfg_layout_gives_no_credentials(host, capsys):
    legacy = {"reg.tld:5000": dict(auth("old", PASSWORD), email="x@example.com")}
    (host["homes"]["root"] / ".dockercfg").write_text(json.dumps(legacy))
    result, out = run({"path": host["config"]}, capsys)
    assert result["images"][0]["source"] == "none"
    assert any("legacy .dockercfg layout" in p for p in result["problems"])
    assert PASSWORD not in out


def test_two_spellings_of_one_registry_are_reported_in_both_sources(host, capsys):
    (host["homes"]["root"] / ".docker" / "config.json").write_text(json.dumps(
        {"auths": {"https://Reg.tld:5000/": auth("a", PASSWORD), "reg.tld:5000": auth("b", PASSWORD)}}))
    env = json.dumps({"auths": {"docker.io": auth("c", PASSWORD), "https://index.docker.io/v1/": auth("d", PASSWORD)}})
    with open(host["config"], "w") as handle:
        handle.write('[[runners]]\n  name = "build"\n  executor = "docker"\n  environment = [%s]\n'
                     % json.dumps("DOCKER_AUTH_CONFIG=" + env))
    result, out = run({"path": host["config"], "user": "root"}, capsys)
    duplicates = [p for p in result["problems"] if "keep one" in p]
    assert len(duplicates) == 2, result["problems"]
    assert any("same registry 'reg.tld:5000'" in p and "config.json" in p for p in duplicates)
    assert any("same registry 'docker.io'" in p and "DOCKER_AUTH_CONFIG of runner build" in p for p in duplicates)
    assert PASSWORD not in out and TOKEN not in out


@pytest.mark.parametrize("text, problem", [
    pytest.param('{"auths": {"reg.tld:5000": %s}, "x": NaN}', "NaN is not a JSON value", id="nan"),
    pytest.param('{"auths": {"reg.tld:5000": %s}, "x": -Infinity}', "-Infinity is not a JSON value", id="infinity"),
    pytest.param('\ufeff{"auths": {"reg.tld:5000": %s}}', "it starts with a UTF-8 byte order mark (BOM)", id="bom"),
])
def test_what_go_json_refuses_discards_the_config_json_naming_it(host, capsys, text, problem):
    path = host["homes"]["root"] / ".docker" / "config.json"
    path.write_text(text % json.dumps(auth("ci", PASSWORD)), encoding="utf-8")
    result, out = run({"path": host["config"]}, capsys)
    assert [s["status"] for s in result["sources"]] == ["discarded"]
    assert any(p.startswith("%s is discarded whole by the runner (invalid JSON: %s" % (path, problem))
               for p in result["problems"]), result["problems"]
    assert result["images"][0]["source"] == "none"
    assert PASSWORD not in out


def test_config_toml_with_a_bom_inline_runners_and_dotted_keys(host, capsys):
    with open(host["config"], "w", encoding="utf-8") as handle:
        handle.write('\ufeffrunners = [{name = "build", token = "%s", executor = "docker", '
                     'docker.image = "reg.tld:5000/ns/app:1"}]\n' % TOKEN)
    (host["homes"]["root"] / ".docker" / "config.json").write_text(
        json.dumps({"auths": {"reg.tld:5000": auth("ci", PASSWORD)}}))
    result, out = run({"path": host["config"]}, capsys)
    assert not result.get("failed"), result
    (row,) = result["images"]
    assert (row["runner"], row["image"], row["source"], row["username"]) == (
        "build", "reg.tld:5000/ns/app:1", "home_config", "ci")
    assert PASSWORD not in out and TOKEN not in out


@pytest.mark.parametrize("docker_keys, flagged", [
    ('    pull_policy = ["always", "if-not-present"]\n',
     "docker.pull_policy (no allowed_pull_policies) lets jobs use pull policy if-not-present"),
    ('    pull_policy = "always"\n    allowed_pull_policies = ["always", "never"]\n',
     "docker.allowed_pull_policies lets jobs use pull policy never"),
    ('    pull_policy = ["always", "if-not-present"]\n    allowed_pull_policies = ["always"]\n', None),
    ("", None),  # the runner's default pull policy is always
])
def test_a_cached_image_pull_policy_is_flagged_for_a_runner_with_private_images(host, capsys, docker_keys, flagged):
    with open(host["config"], "a", encoding="utf-8") as config:
        config.write(docker_keys)
    (host["homes"]["root"] / ".docker" / "config.json").write_text(
        json.dumps({"auths": {"reg.tld:5000": auth("ci", PASSWORD)}}))
    result, out = run({"path": host["config"], "user": "root"}, capsys)
    found = [p for p in result["problems"] if "gitlab-runner issues 37859" in p]
    if flagged is None:
        assert found == [], found
    else:
        assert len(found) == 1 and flagged in found[0] and "reg.tld:5000/ns/app:1" in found[0], result["problems"]
        assert 'set docker.allowed_pull_policies = ["always"]' in found[0]
    assert PASSWORD not in out


def test_a_cached_image_pull_policy_without_private_images_is_not_flagged(host, capsys):
    with open(host["config"], "a", encoding="utf-8") as config:
        config.write('    pull_policy = "if-not-present"\n')
    result, _out = run({"path": host["config"], "user": "root"}, capsys)
    assert not any("gitlab-runner issues 37859" in p for p in result["problems"]), result["problems"]


def jwt_token(exp):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return "%s.%s.c2lnbmF0dXJl" % (part({"alg": "RS256"}), part({"sub": "robot$ci", "exp": exp}))


@pytest.mark.parametrize("left_days, warn_days, expected", [
    (5, 14, "expire at"), (5, 3, None), (-2, 14, "expired at"),
])
def test_a_static_jwt_credential_is_reported_before_and_after_it_expires(
        host, capsys, left_days, warn_days, expected):
    token = jwt_token(int(time.time()) + left_days * 86400)
    (host["homes"]["root"] / ".docker" / "config.json").write_text(
        json.dumps({"auths": {"reg.tld:5000": auth("robot$ci", token)}}))
    result, out = run({"path": host["config"], "user": "root", "expiry_warn_days": warn_days}, capsys)
    found = [p for p in result["images"][0]["problems"] if "static credentials for reg.tld:5000" in p]
    assert (len(found) == 1 and expected in found[0]) if expected else found == [], result["images"][0]["problems"]
    assert token not in out


@pytest.mark.parametrize("docker_keys, expected", [
    ("", ['docker.allowed_images is not set', 'docker.allowed_services is not set']),
    ('    allowed_images = ["*/*", "alpine:*"]\n    allowed_services = ["reg.tld:5000/**"]\n',
     ["pattern '*/*' matches images of any registry", "pattern 'alpine:*' allows images of docker.io"]),
    ('    allowed_images = ["reg.tld:5000/**", "Reg.tld:5000/ns/*"]\n    allowed_services = ["reg.tld:5000/**"]\n', []),
])
def test_allowed_images_outside_the_registry_allowlist_are_flagged(host, capsys, docker_keys, expected):
    with open(host["config"], "a", encoding="utf-8") as config:
        config.write(docker_keys)
    result, _out = run({"path": host["config"], "user": "root", "allowed_registries": ["https://REG.tld:5000/"]},
                       capsys)
    found = [p for p in result["problems"] if "docker.allowed_" in p]
    assert len(found) == len(expected) and all(any(e in p for p in found) for e in expected), found
    if docker_keys == "":
        assert 'set docker.allowed_images = ["reg.tld:5000/**"]' in found[0]


def test_without_an_allowlist_allowed_images_are_not_checked(host, capsys):
    result, _out = run({"path": host["config"], "user": "root"}, capsys)
    assert not any("docker.allowed_" in p for p in result["problems"])


def test_helpers_checks_only_the_helpers_with_the_unit_path(host, capsys, monkeypatch):
    """helpers=: the credential_helpers role's check; config.toml is not read (it may not exist yet)."""
    monkeypatch.setattr(host_utils, "running_service_path", lambda service, timeout: (None, None))  # not running
    helper_dir = host["tmp"] / "unit-bin"
    helper_dir.mkdir()
    helper = helper_dir / "docker-credential-unit"
    helper.write_text("#!/bin/sh\necho unit-helper 1.0\n")
    helper.chmod(0o755)
    (host["units"] / "gitlab-runner.service").write_text(
        PACKAGE_UNIT % {"config": host["config"]} + "Environment=PATH=%s\n" % helper_dir)
    os.remove(host["config"])
    result, _out = run({"path": host["config"], "user": "root", "helpers": ["unit", "absent"]}, capsys)
    assert not result.get("failed"), result
    assert result["runner_path"] == str(helper_dir)
    assert result["runner_path_source"] == "Environment= of the gitlab-runner unit"
    assert [(h["name"], h["ok"]) for h in result["helpers"]] == [("unit", True), ("absent", False)]
    assert result["helpers"][0]["msg"] == "docker-credential-unit (%s) answers 'version' as root: unit-helper 1.0" % helper
    assert "images" not in result and "table" not in result
