# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runner_config: main() run in-process on tmp_path files.

Check mode writes nothing, a second run reports no change, a failure leaves the file byte for byte as it
was, and no result (diff included) carries a secret of the file or of the arguments.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import os
import pwd
import re
import shutil
import stat

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

from ansible.module_utils.testing import patch_module_args

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _rotation as rotation
from ansible_collections.runnerkit.gitlab_runner.plugins.modules import runner_config

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "fixtures", "configs")
MASK = "********"

RUNNER_WRITTEN = """\
concurrent = 4
check_interval = 0

[session_server]
  session_timeout = 1800

# first runner
[[runners]]
  name = "docker-a"
  url = "https://gitlab.example.com"
  id = 11
  token = "glrt-AAAAtok3nAAAAAAAAAAAA"
  token_obtained_at = 2024-05-01T10:00:00Z
  token_expires_at = 2024-07-30T10:00:00Z
  executor = "docker"
  environment = ["LANG=C.UTF-8", "API_TOKEN=envTok3nValue99"]
  [runners.cache]
    Type = "s3"
    [runners.cache.s3]
      AccessKey = "AKIAUNITTESTEXAMPLE1"
      SecretKey = "unitTestSecretKey/EXAMPLE+KEY"
  [runners.docker]
    image = "alpine:3.19" # default image
    volumes = ["/cache"]

# second runner
[[runners]]
  name = "shell-b"
  url = "https://gitlab.example.com"
  id = 12
  token = "glrt-BBBBtok3nBBBBBBBBBBBB"
  token_obtained_at = 2024-05-01T10:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "shell"
"""
FILE_SECRETS = ["glrt-AAAAtok3nAAAAAAAAAAAA", "glrt-BBBBtok3nBBBBBBBBBBBB", "envTok3nValue99",
                "AKIAUNITTESTEXAMPLE1", "unitTestSecretKey/EXAMPLE+KEY"]
PASSWORD = "Unit-Pa55w0rd-zz"
AUTH = base64.b64encode(("ci-bot:" + PASSWORD).encode()).decode()


def run(args, capsys, check=False, diff=False):
    """(exit code, result) of one in-process run of the module."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            runner_config.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out)


def parse(path):
    if tomllib is None:
        pytest.skip("tomllib needs Python >= 3.11")
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def snapshot(path):
    st = os.stat(path)
    with open(path, "rb") as handle:
        return handle.read(), st.st_ino, st.st_mtime_ns, stat.S_IMODE(st.st_mode)


def leftovers(directory):
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp") or n.endswith("~"))


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(RUNNER_WRITTEN)
    os.chmod(path, 0o600)
    return str(path)


def docker_a(**options):
    return {"name": "docker-a", **options}


# ------------------------------------------------------------------ check mode, changed, unchanged


def test_check_mode_writes_nothing(config, capsys):
    before = snapshot(config)
    code, result = run({"path": config, "global": {"concurrent": 9},
                        "runners": [docker_a(docker={"image": "alpine:3.20"})]}, capsys, check=True)
    assert code == 0 and result["changed"] is True
    assert result["changes"] == {"global": ["concurrent"], "runners": {"docker-a": ["docker.image"]}}
    assert snapshot(config) == before
    assert os.listdir(os.path.dirname(config)) == ["config.toml"]  # not even a lock file


def test_check_mode_does_not_create_a_new_file(tmp_path, capsys):
    path = tmp_path / "etc" / "gitlab-runner" / "config.toml"
    code, result = run({"path": str(path), "global": {"concurrent": 2}}, capsys, check=True)
    assert code == 0 and result["changed"] is True
    assert not (tmp_path / "etc").exists()


def test_new_file_is_created_0600_in_a_0700_directory(tmp_path, capsys):
    path = tmp_path / "etc" / "config.toml"
    old = os.umask(0)
    try:
        code, result = run({"path": str(path), "global": {"concurrent": 2}}, capsys)
    finally:
        os.umask(old)
    assert code == 0 and result["changed"] is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert parse(path) == {"concurrent": 2}


def test_change_then_no_change(config, capsys):
    args = {"path": config, "global": {"concurrent": 9},
            "runners": [docker_a(docker={"image": "alpine:3.20", "pull_policy": ["always", "if-not-present"]},
                                 network_per_build=True, environment={"HTTP_PROXY": "http://proxy:3128"})]}
    code, first = run(args, capsys)
    assert code == 0 and first["changed"] is True
    assert sorted(first["changes"]["runners"]["docker-a"]) == [
        "docker.image", "docker.pull_policy", "environment.HTTP_PROXY", "feature_flags.FF_NETWORK_PER_BUILD"]
    after_first = snapshot(config)
    assert after_first[3] == 0o600
    code, second = run(args, capsys)
    assert code == 0 and second["changed"] is False and second["changes"] == {}
    code, third = run(args, capsys, check=True)
    assert code == 0 and third["changed"] is False
    assert snapshot(config) == after_first  # not rewritten, not even touched

    data = parse(config)
    runner = data["runners"][0]
    assert data["concurrent"] == 9
    assert runner["docker"]["image"] == "alpine:3.20"
    assert runner["docker"]["pull_policy"] == ["always", "if-not-present"]
    assert runner["docker"]["volumes"] == ["/cache"]
    assert runner["feature_flags"] == {"FF_NETWORK_PER_BUILD": True}
    assert runner["environment"] == ["LANG=C.UTF-8", "API_TOKEN=envTok3nValue99", "HTTP_PROXY=http://proxy:3128"]
    assert runner["token"] == "glrt-AAAAtok3nAAAAAAAAAAAA" and runner["id"] == 11
    assert data["runners"][1] == parse_text(RUNNER_WRITTEN)["runners"][1]
    text = open(config).read()
    assert "# first runner" in text and "# second runner" in text and "# default image" in text


def parse_text(text):
    if tomllib is None:
        pytest.skip("tomllib needs Python >= 3.11")
    return tomllib.loads(text)


def test_symlink_target_is_edited(config, tmp_path, capsys):
    link = tmp_path / "link.toml"
    link.symlink_to("config.toml")
    code, result = run({"path": str(link), "runners": [docker_a(docker={"image": "alpine:3.20"})]}, capsys)
    assert code == 0 and result["changed"] is True and result["path"] == os.path.realpath(config)
    assert link.is_symlink() and os.readlink(link) == "config.toml"
    assert parse(config)["runners"][0]["docker"]["image"] == "alpine:3.20"


def test_backup_keeps_the_old_content(config, capsys):
    before = snapshot(config)
    code, result = run({"path": config, "global": {"concurrent": 9}, "backup": True}, capsys)
    assert code == 0 and result["changed"] is True
    backup = result["backup_file"]
    assert os.path.dirname(backup) == os.path.dirname(config) and backup.endswith("~")
    assert snapshot(backup)[0] == before[0] and snapshot(backup)[3] == 0o600
    code, result = run({"path": config, "global": {"concurrent": 9}, "backup": True}, capsys)
    assert code == 0 and result["changed"] is False and "backup_file" not in result


# ------------------------------------------------------------------ failures leave the file alone

EVIL_HELPER = {"registry": "r.example.com", "helper": "/usr/bin/evil"}
SAME_REGISTRY_TWICE = [{"registry": "R.example.com", "helper": "pass"}, {"registry": "https://r.example.com/", "helper": "pass"}]
BAD_ARGS = [
    pytest.param({"runners": [docker_a(docker={"privileged": "true"})]},
                 ["runners[docker-a].docker.privileged", "got string 'true'", "boolean"], id="privileged-string"),
    pytest.param({"runners": [docker_a(docker={"image": 5})]},
                 ["runners[docker-a].docker.image", "got integer 5", "string"], id="image-int"),
    pytest.param({"runners": [docker_a(feature_flags={"FF_NETWORK_PER_BUILD": "true"})]},
                 ["runners[docker-a].feature_flags.FF_NETWORK_PER_BUILD", "got string 'true', expected a boolean"], id="feature-flag-string"),
    pytest.param({"global": {"concurrent": 0}}, ["global.concurrent", "got 0"], id="concurrent-zero"),
    pytest.param({"global": {"connection_max_age": "15 minutes"}},
                 ["global.connection_max_age", "'15 minutes'", "duration"], id="duration"),
    pytest.param({"runners": [{"name": "docker-new", "docker": {"image": "alpine"}}]},
                 ["runners[docker-new]", "url, token, executor"], id="unknown-runner"),
    pytest.param({"runners": [docker_a(docker={"services": [{"alias": "db"}]})]},
                 ["runners[docker-a].docker.services[0]", "needs a name"], id="service-without-name"),
    pytest.param({"runners": [docker_a(docker_auth_config={"auths": {"r.example.com": {"auth": "%%%"}}})]},
                 ["auths[r.example.com].auth", "not valid base64"], id="auth-not-base64"),
    pytest.param({"runners": [docker_a(docker_auth_config={"auths": {"r.example.com": {"auth": "OnB3"}}})]},
                 ["auths[r.example.com].auth", "non-empty user"], id="auth-empty-user"),
    pytest.param({"runners": [docker_a(docker_auth_config={"credHelpers": {"r.example.com": "/usr/bin/evil"}})]},
                 ["credHelpers[r.example.com]", "'/usr/bin/evil'"], id="helper-path"),
    pytest.param({"runners": [docker_a(docker_auth_config={"credsStore": "../x"})]},
                 ["credsStore", "'../x'"], id="helper-dotdot"),
    pytest.param({"runners": [docker_a(docker_auth_config={"credHelpers": {"r.example.com": "docker-credential-pass"}})]},
                 ["credHelpers[r.example.com]", "must not repeat the 'docker-credential-' prefix"], id="helper-prefix"),
    pytest.param({"runners": [docker_a(settings={"docker": {"image": "x"}})]},
                 ["runners[docker-a].settings", "docker"], id="settings-clash"),
    pytest.param({"runners": [docker_a(docker_auth_config={"keep_auths": ["https://r.example.com/ns"]})]},
                 ["runners[docker-a].docker_auth_config.keep_auths[0]", "has a scheme and a path"], id="keep-auths-key"),
    pytest.param({"runners": [docker_a(docker_auth_config={"registries": [{"registry": "r.example.com", "auth": "%%%"}]})]},
                 ["runners[docker-a].docker_auth_config.registries[r.example.com].auth is not valid base64"],
                 id="registries-auth-not-base64"),
    pytest.param({"runners": [docker_a(docker_auth_config={"registries": [EVIL_HELPER]})]},
                 ["runners[docker-a].docker_auth_config.registries[r.example.com].helper", "'/usr/bin/evil'"],
                 id="registries-helper-path"),
    pytest.param({"runners": [docker_a(docker_auth_config={"registries": [{"registry": "r.example.com"}]})]},
                 ["registries[r.example.com]", "give username and password, auth, or helper"], id="registries-no-creds"),
    pytest.param({"runners": [docker_a(docker_auth_config={"registries": SAME_REGISTRY_TWICE})]},
                 ["runners[docker-a].docker_auth_config.registries", "are the same registry key 'r.example.com'"],
                 id="registries-duplicate"),
    pytest.param({"runners": [docker_a(docker_auth_config={"registries": [{"registry": "r.example.com", "helper": "pass"}],
                                                           "auths": {"https://R.example.com/": {"auth": AUTH}}})]},
                 ["runners[docker-a].docker_auth_config: registry 'r.example.com' is in both registries and the older "
                  "auths/credHelpers mapping"], id="registries-and-mapping-one-registry"),
]


@pytest.mark.parametrize("args, expect", BAD_ARGS)
def test_bad_arguments_fail_and_leave_the_file_alone(config, capsys, args, expect):
    before = snapshot(config)
    code, result = run(dict(args, path=config), capsys)
    assert code == 1 and result["failed"] is True and not result.get("changed")
    assert result["msg"].startswith(config + ": ") and result["msg"].endswith("; the file was left unchanged")
    for part in expect:
        assert part in result["msg"]
    assert snapshot(config) == before
    assert leftovers(os.path.dirname(config)) == []


@pytest.mark.parametrize("text, expect", [
    pytest.param("concurrent = 4\n[[runners]]\n  name = \"docker-a\"\n  image = \n", ["cannot parse TOML", "line 4"],
                 id="syntax"),
    pytest.param("concurrent = 4\nconcurrent = 5\n", ["cannot parse TOML", "line 2"], id="duplicate-key"),
    pytest.param("[runners]\n  name = \"docker-a\"\n", ["[runners] must be an array of tables"], id="plain-runners"),
    pytest.param(RUNNER_WRITTEN.replace('"shell-b"', '"docker-a"'), ["has 2 runners named 'docker-a'"],
                 id="duplicate-names"),
])
def test_unusable_file_fails_and_is_left_alone(tmp_path, capsys, text, expect):
    path = tmp_path / "config.toml"
    path.write_text(text)
    before = snapshot(path)
    code, result = run({"path": str(path), "runners": [docker_a(docker={"image": "x"})]}, capsys)
    assert code == 1
    for part in expect:
        assert part in result["msg"]
    assert snapshot(path) == before


def test_file_that_is_not_utf8_is_left_alone(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_bytes(b"# M\xfcnchen\nconcurrent = 4\n")
    before = snapshot(path)
    code, result = run({"path": str(path), "global": {"concurrent": 5}}, capsys)
    assert code == 1 and "not UTF-8 text (byte 3)" in result["msg"]
    assert snapshot(path) == before


def test_directory_at_path_fails(tmp_path, capsys):
    code, result = run({"path": str(tmp_path), "global": {"concurrent": 5}}, capsys)
    assert code == 1 and "Is a directory" in result["msg"]


def test_failed_rename_leaves_the_file_and_no_temp_file(config, capsys, monkeypatch):
    before = snapshot(config)

    def no_space(src, dst, **dir_fds):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "rename", no_space)
    code, result = run({"path": config, "global": {"concurrent": 9}}, capsys)
    assert code == 1 and "no space left on device" in result["msg"]
    assert snapshot(config) == before
    assert leftovers(os.path.dirname(config)) == []


# ------------------------------------------------------------------ secrets


def secrets_of(data):
    """Secret strings of parsed config data, collected independently of the module's own helpers."""
    found = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("token", "SecretKey", "AccessKey", "SessionToken", "PrivateKey", "AccountKey") \
                    and isinstance(value, str):
                found.add(value)
            elif key == "environment" and isinstance(value, list):
                for entry in value:
                    name, dummy, text = str(entry).partition("=")
                    if name == "DOCKER_AUTH_CONFIG":
                        found |= auth_secrets(text)
                    elif re.search("PASS|SECRET|TOKEN", name) and text:
                        found.add(text)
            else:
                found |= secrets_of(value)
    elif isinstance(data, list):
        for value in data:
            found |= secrets_of(value)
    return {s for s in found if len(s) >= 4}


def auth_secrets(text):
    try:
        data = json.loads(text)
    except ValueError:
        return {text}
    found = set()
    for entry in (data.get("auths") or {}).values() if isinstance(data, dict) else ():
        for key in ("auth", "password", "identitytoken", "registrytoken"):
            if isinstance(entry.get(key), str):
                found.add(entry[key])
        if isinstance(entry.get("auth"), str):
            try:
                found.add(base64.b64decode(entry["auth"], validate=True).decode().partition(":")[2])
            except (binascii.Error, UnicodeError):
                pass
    return found


SECRET_FIXTURES = ["04-env-docker-auth-escaped-basic-string.toml", "05-env-docker-auth-literal-string.toml",
                   "10-runner-written-token-datetimes.toml", "22-cache-s3-gcs-azure-secrets.toml",
                   "29-env-docker-auth-credhelpers-credsstore.toml", "30-env-var-expansion-and-dollars.toml"]


@pytest.mark.parametrize("check", [True, False], ids=["check", "run"])
@pytest.mark.parametrize("fixture", SECRET_FIXTURES)
def test_no_secret_of_the_file_in_the_result(tmp_path, capsys, fixture, check):
    path = tmp_path / "config.toml"
    shutil.copy(os.path.join(FIXTURES, fixture), path)
    secrets = secrets_of(parse(path))
    assert secrets, "the fixture has secrets"
    first = parse(path)["runners"][0]["name"]
    code, result = run({"path": str(path), "global": {"concurrent": 17},
                        "runners": [{"name": first, "settings": {"limit": 3}}]}, capsys, check=check, diff=True)
    assert code == 0 and result["changed"] is True
    shown = json.dumps(result)
    assert sorted(s for s in secrets if s in shown) == []
    assert MASK in result["diff"]["before"] and MASK in result["diff"]["after"]
    assert "concurrent = 17" in result["diff"]["after"]


def test_no_secret_of_the_arguments_in_the_result(config, capsys):
    args = {"path": config, "runners": [
        docker_a(docker_auth_config={"auths": {"registry.example.com": {"username": "ci-bot", "password": PASSWORD}}},
                 environment={"DEPLOY_TOKEN": "argDeployTok3n77"},
                 settings={"cache": {"s3": {"SecretKey": "argSecretKey/ABC+123"}}}),
        {"name": "docker-new", "url": "https://gitlab.example.com", "token": "glrt-ARGtok3nNEWNEWNEWNEW",
         "executor": "docker"},
    ]}
    secrets = [PASSWORD, AUTH, "argDeployTok3n77", "argSecretKey/ABC+123", "glrt-ARGtok3nNEWNEWNEWNEW"] + FILE_SECRETS
    for check in (True, False):
        code, result = run(args, capsys, check=check, diff=True)
        assert code == 0 and result["changed"] is True
        shown = json.dumps(result)
        assert [s for s in secrets if s in shown] == []
        assert 'DOCKER_AUTH_CONFIG={"auths":{"registry.example.com":{"auth":"********"}}}' in result["diff"]["after"]
    text = open(config).read()
    # they were written (the password inside AUTH; the new SecretKey replaced the old one)
    assert [s for s in secrets[1:] if s not in text] == ["unitTestSecretKey/EXAMPLE+KEY"]
    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["changed"] is False
    assert [s for s in secrets if s in json.dumps(result)] == []


def test_usernames_are_not_masked(config, capsys):
    """Only the password is secret; masking the user name would garble every 'ci-bot' in the output."""
    code, result = run({"path": config, "runners": [docker_a(
        docker={"image": "registry.example.com/ci-bot/base:1"},
        docker_auth_config={"auths": {"registry.example.com": {"username": "ci-bot", "password": PASSWORD}}})]},
        capsys, diff=True)
    assert code == 0
    assert 'image = "registry.example.com/ci-bot/base:1"' in result["diff"]["after"]


def test_no_secret_of_the_registries_list_in_the_result(config, capsys):
    """The list form: password and auth are no_log suboptions, the auth made of them is found like the file's."""
    other_auth = base64.b64encode(b"deployer:listAuthPa55-w0rd").decode()
    args = {"path": config, "runners": [docker_a(docker_auth_config={"registries": [
        {"registry": "registry.example.com", "username": "ci-bot", "password": PASSWORD},
        {"registry": "other.example.com:5000", "auth": other_auth},
        {"registry": ECR_HOST, "helper": "ecr-login"}]})]}
    secrets = [PASSWORD, AUTH, other_auth, "listAuthPa55-w0rd"] + FILE_SECRETS
    for check in (True, False):
        code, result = run(args, capsys, check=check, diff=True)
        assert code == 0 and result["changed"] is True
        assert "invocation" in result  # what -vvv shows of the arguments
        shown = json.dumps(result)
        assert [s for s in secrets if s in shown] == []
        assert ('DOCKER_AUTH_CONFIG={"auths":{"other.example.com:5000":{"auth":"********"},"registry.example.com":'
                '{"auth":"********"}},"credHelpers":{"%s":"ecr-login"}}' % ECR_HOST) in result["diff"]["after"]
    assert docker_auth_config_of(config, "docker-a") == {
        "auths": {"registry.example.com": {"auth": AUTH}, "other.example.com:5000": {"auth": other_auth}},
        "credHelpers": {ECR_HOST: "ecr-login"}}
    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["changed"] is False
    assert [s for s in secrets if s in json.dumps(result)] == []


def test_usernames_of_the_registries_list_are_not_masked(config, capsys):
    code, result = run({"path": config, "runners": [docker_a(
        docker={"image": "registry.example.com/ci-bot/base:1"},
        docker_auth_config={"registries": [{"registry": "registry.example.com", "username": "ci-bot",
                                            "password": PASSWORD}]})]}, capsys, diff=True)
    assert code == 0
    assert 'image = "registry.example.com/ci-bot/base:1"' in result["diff"]["after"]
    assert result["invocation"]["module_args"]["runners"][0]["docker_auth_config"]["registries"][0]["username"] == "ci-bot"


def test_no_secret_of_the_registries_list_in_a_failed_result(config, capsys):
    code, result = run({"path": config, "runners": [docker_a(
        docker={"image": 5},
        docker_auth_config={"registries": [{"registry": "registry.example.com", "username": "ci-bot",
                                            "password": PASSWORD}, {"registry": "b.example.com", "auth": AUTH}]},
        environment={"DEPLOY_TOKEN": "argDeployTok3n77"})]}, capsys)
    assert code == 1 and "docker.image" in result["msg"]
    shown = json.dumps(result)
    assert [s for s in (PASSWORD, AUTH, "argDeployTok3n77") if s in shown] == []


def test_the_list_and_the_older_mapping_write_the_same_variable(config, capsys):
    older = {"auths": {"Registry.Example.com": {"username": "ci-bot", "password": PASSWORD}},
             "credHelpers": {ECR_HOST: "ecr-login"}, "credsStore": "pass"}
    listed = {"registries": [{"registry": "https://registry.example.com/", "username": "ci-bot", "password": PASSWORD},
                             {"registry": ECR_HOST, "helper": "ecr-login"},
                             {"registry": "gone.example.com", "state": "absent"}], "credsStore": "pass"}
    code, result = run({"path": config, "runners": [docker_a(docker_auth_config=older)]}, capsys)
    assert code == 0 and result["changed"] is True
    written = docker_auth_config_of(config, "docker-a")
    assert written == {"auths": {"registry.example.com": {"auth": AUTH}}, "credHelpers": {ECR_HOST: "ecr-login"},
                       "credsStore": "pass"}
    for check in (True, False):
        code, result = run({"path": config, "runners": [docker_a(docker_auth_config=listed)]}, capsys, check=check)
        assert code == 0 and result["changed"] is False, result
    assert docker_auth_config_of(config, "docker-a") == written


def test_the_list_and_the_older_mapping_together_as_the_rotation_playbook_gives_them(config, capsys):
    listed = [{"registry": "registry.example.com", "username": "ci-bot", "password": PASSWORD}]
    args = {"path": config, "runners": [docker_a(docker_auth_config={"registries": listed,
                                                                     "auths": {ECR_HOST: {"auth": ECR_AUTH}}})]}
    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["changed"] is True
    assert docker_auth_config_of(config, "docker-a") == {
        "auths": {"registry.example.com": {"auth": AUTH}, ECR_HOST: {"auth": ECR_AUTH}}}
    assert [s for s in (PASSWORD, AUTH, ECR_AUTH, "rotatedEcrTok3n-0001") if s in json.dumps(result)] == []
    assert run(args, capsys)[1]["changed"] is False


def test_keep_auths_with_the_registries_list(config, capsys):
    rotated = {"auths": {ECR_HOST: {"auth": ECR_AUTH}, "stale.example.com": {"auth": AUTH}}}
    with open(config) as handle:
        text = handle.read().replace('"LANG=C.UTF-8"', "'DOCKER_AUTH_CONFIG=%s', \"LANG=C.UTF-8\"" % json.dumps(rotated))
    with open(config, "w") as handle:
        handle.write(text)
    args = {"path": config, "runners": [docker_a(docker_auth_config={
        "registries": [{"registry": "registry.example.com", "username": "ci-bot", "password": PASSWORD}],
        "keep_auths": [ECR_HOST]})]}
    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["changed"] is True
    assert docker_auth_config_of(config, "docker-a") == {
        "auths": {"registry.example.com": {"auth": AUTH}, ECR_HOST: {"auth": ECR_AUTH}}}
    assert "rotatedEcrTok3n" not in json.dumps(result) and ECR_AUTH not in json.dumps(result)
    assert run(args, capsys)[1]["changed"] is False


def test_no_secret_in_a_failed_result(config, capsys):
    code, result = run({"path": config, "runners": [docker_a(
        docker={"image": 5},
        environment={"DOCKER_AUTH_CONFIG": json.dumps({"auths": {"registry.example.com": {"auth": AUTH}}}),
                     "DEPLOY_TOKEN": "argDeployTok3n77"},
        settings={"cache": {"s3": {"SecretKey": "argSecretKey/ABC+123"}}})]}, capsys)
    assert code == 1
    shown = json.dumps(result)
    assert [s for s in (AUTH, "argDeployTok3n77", "argSecretKey/ABC+123") if s in shown] == []


# ------------------------------------------------------------------ keep_auths: tokens another job renews


ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
ECR_AUTH = base64.b64encode(b"AWS:rotatedEcrTok3n-0001").decode()


def docker_auth_config_of(path, name):
    runner = next(r for r in parse(path)["runners"] if r["name"] == name)
    found = [e.split("=", 1)[1] for e in runner.get("environment", []) if e.startswith("DOCKER_AUTH_CONFIG=")]
    return json.loads(found[-1]) if found else None


def test_keep_auths_keeps_a_rotated_token_and_drops_what_it_does_not_name(config, capsys):
    spec = {"auths": {"registry.example.com": {"username": "ci-bot", "password": PASSWORD}}}
    rotated = {"auths": {"registry.example.com": {"auth": AUTH}, ECR_HOST: {"auth": ECR_AUTH},
                         "stale.example.com": {"auth": AUTH}}}
    with open(config) as handle:
        text = handle.read().replace('"LANG=C.UTF-8"', "'DOCKER_AUTH_CONFIG=%s', \"LANG=C.UTF-8\"" % json.dumps(rotated))
    with open(config, "w") as handle:
        handle.write(text)
    args = {"path": config, "runners": [docker_a(docker_auth_config=dict(spec, keep_auths=["https://" + ECR_HOST]))]}
    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["changed"] is True
    assert result["changes"] == {"runners": {"docker-a": ["environment.DOCKER_AUTH_CONFIG"]}}
    assert docker_auth_config_of(config, "docker-a") == {
        "auths": {"registry.example.com": {"auth": AUTH}, ECR_HOST: {"auth": ECR_AUTH}}}
    assert "rotatedEcrTok3n" not in json.dumps(result) and ECR_AUTH not in json.dumps(result)
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is False
    # Without keep_auths the token goes, as before; a credHelpers entry for that registry wins over keeping.
    helper = dict(spec, credHelpers={ECR_HOST: "ecr-login"}, keep_auths=[ECR_HOST])
    code, result = run({"path": config, "runners": [docker_a(docker_auth_config=helper)]}, capsys)
    assert code == 0 and result["changed"] is True
    assert docker_auth_config_of(config, "docker-a") == {
        "auths": {"registry.example.com": {"auth": AUTH}}, "credHelpers": {ECR_HOST: "ecr-login"}}


def test_keep_auths_adds_nothing_when_the_file_has_no_entry(config, capsys):
    args = {"path": config, "runners": [docker_a(docker_auth_config={
        "auths": {"registry.example.com": {"auth": AUTH}}, "keep_auths": [ECR_HOST]})]}
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is True
    assert docker_auth_config_of(config, "docker-a") == {"auths": {"registry.example.com": {"auth": AUTH}}}
    assert run(args, capsys)[1]["changed"] is False


# ------------------------------------------------------------------ regressions of bugs found in review


def test_backup_is_never_readable_by_others(config, capsys, monkeypatch):
    modes = []
    real_copyfileobj = shutil.copyfileobj

    def spy(src, dst, *args):  # the backup's content is copied into an open descriptor
        real_copyfileobj(src, dst, *args)
        modes.append(stat.S_IMODE(os.fstat(dst.fileno()).st_mode))

    monkeypatch.setattr(shutil, "copyfileobj", spy)
    old = os.umask(0o022)
    try:
        code, result = run({"path": config, "global": {"concurrent": 9}, "backup": True}, capsys)
    finally:
        os.umask(old)
    assert code == 0 and modes
    assert [m for m in modes if m & 0o077] == []


def test_write_failure_message_says_it_once(config, capsys, monkeypatch):
    def no_space(src, dst, **dir_fds):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "rename", no_space)
    code, result = run({"path": config, "global": {"concurrent": 9}}, capsys)
    assert code == 1 and result["msg"].count("left unchanged") == 1


def test_removing_a_runner_keeps_the_comments_of_the_others(config, capsys):
    code, result = run({"path": config, "runners": [docker_a(state="absent")]}, capsys)
    assert code == 0 and result["changed"] is True
    text = open(config).read()
    assert "# second runner" in text


def test_feature_flag_message_names_flag_and_value(config, capsys):
    code, result = run({"path": config, "runners": [docker_a(feature_flags={"FF_NETWORK_PER_BUILD": "true"})]},
                       capsys)
    assert code == 1 and "FF_NETWORK_PER_BUILD" in result["msg"] and "'true'" in result["msg"]


def test_null_removes_a_global_key(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text('concurrent = 4\nlog_level = "debug"\n')
    code, result = run({"path": str(path), "global": {"log_level": None}}, capsys)
    assert code == 0 and result["changed"] is True
    assert parse(path) == {"concurrent": 4}


def test_null_removes_a_settings_key(config, capsys):
    with open(config, "a") as handle:
        handle.write("  limit = 3\n")  # appended to the last runner, shell-b
    code, result = run({"path": config, "runners": [{"name": "shell-b", "settings": {"limit": None}}]}, capsys)
    assert code == 0 and result["changed"] is True
    assert "limit" not in parse(config)["runners"][1]


def test_runner_with_dotted_keys_is_edited(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text('[[runners]]\n  name = "d"\n  url = "https://gitlab.example.com"\n  token = "glrt-DOTTEDtok3n"\n'
                    '  executor = "docker"\n  docker.image = "alpine:3.20"\n  docker.volumes = ["/cache"]\n')
    code, result = run({"path": str(path), "runners": [{"name": "d", "docker": {"image": "alpine:3.21"}}]}, capsys)
    assert code == 0 and result["changed"] is True
    assert parse(path)["runners"][0]["docker"] == {"image": "alpine:3.21", "volumes": ["/cache"]}


def test_owner_is_applied_to_new_files_and_enforced_on_existing_ones(tmp_path, capsys):
    path = tmp_path / "runner-home" / "config.toml"
    args = {"path": str(path), "owner": "nobody", "global": {"concurrent": 2}}
    code, result = run(args, capsys)
    nobody = pwd.getpwnam("nobody")
    assert code == 0 and result["changed"] is True
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert os.stat(path.parent).st_uid == nobody.pw_uid and stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert run(args, capsys)[1]["changed"] is False
    os.chown(path, 0, 0)
    before = path.read_text()
    code, result = run(args, capsys, check=True)
    assert result["changed"] is True and result["changes"] == {"file": ["owner"]} and os.stat(path).st_uid == 0
    code, result = run(args, capsys)
    assert result["changed"] is True and os.stat(path).st_uid == nobody.pw_uid and path.read_text() == before
    code, result = run(dict(args, owner="no-such-user-here"), capsys)
    assert code == 1 and "no such user" in result["msg"]


# ---------------------------------------------------------------- BOM, inline runners, dotted keys (issue 12, point 6)


def test_a_bom_is_read_past_like_the_runner_does_and_kept(config, capsys):
    with open(config, "rb") as handle:
        original = handle.read()
    with open(config, "wb") as handle:
        handle.write(b"\xef\xbb\xbf" + original)
    code, result = run({"path": config, "global": {"concurrent": 7}}, capsys)
    assert code == 0 and result["changed"] is True
    with open(config, "rb") as handle:
        written = handle.read()
    assert written.startswith(b"\xef\xbb\xbfconcurrent = 7") and written.count(b"\xef\xbb\xbf") == 1
    assert written[3:] == original.replace(b"concurrent = 4", b"concurrent = 7", 1)
    assert run({"path": config, "global": {"concurrent": 7}}, capsys)[1]["changed"] is False


def test_runners_in_an_inline_array_are_updated_added_and_removed(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text('concurrent = 1\nrunners = [{name = "a", url = "https://gitlab.example.com", token = "glrt-a1", '
                    'executor = "docker", docker = {image = "alpine:3"}}, {name = "c", url = "https://gitlab.example.com"'
                    ', token = "glrt-c1", executor = "shell"}]\n')
    args = {"path": str(path), "runners": [
        {"name": "a", "docker": {"image": "alpine:4", "services": [{"name": "pg"}]},
         "feature_flags": {"FF_USE_FASTZIP": True}},
        {"name": "b", "url": "https://gitlab.example.com", "token": "glrt-b1", "executor": "shell"},
        {"name": "c", "state": "absent"}]}
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is True, result
    data = parse(path)
    assert [r["name"] for r in data["runners"]] == ["a", "b"]
    assert data["runners"][0]["docker"] == {"image": "alpine:4", "services": [{"name": "pg"}]}
    assert path.read_text().startswith("concurrent = 1\nrunners = [{")
    assert run(args, capsys)[1]["changed"] is False


def test_dotted_runners_key_fails_with_what_to_change(tmp_path, capsys):
    # `runners.name = ...` makes runners a table: the runner rejects the file, and the message says why
    path = tmp_path / "config.toml"
    path.write_text('concurrent = 1\nrunners.name = "a"\nrunners.executor = "shell"\n')
    before = snapshot(path)
    code, result = run({"path": str(path), "runners": [docker_a(docker={"image": "x"})]}, capsys)
    assert code == 1 and result["msg"] == (
        "%s: [runners] must be an array of tables ([[runners]]); the runner rejects this file; the file was left "
        "unchanged" % path)
    assert "Traceback" not in json.dumps(result) and snapshot(path) == before


def test_the_runner_role_takes_the_docker_auth_config_the_module_takes():
    """runner_runners[].docker_auth_config is handed to the module as it is: the role's spec must take the same
    keys, and the registries entries with the same types and no_log (the shared _docker_auth spec)."""
    specs = os.path.join(HERE, "..", "..", "..", "..", "roles", "runner", "meta", "argument_specs.yml")
    with open(specs) as handle:
        runner = yaml.safe_load(handle)["argument_specs"]["main"]["options"]["runner_runners"]["options"]
    role, module = runner["docker_auth_config"]["options"], runner_config.RUNNER_OPTIONS["docker_auth_config"]["options"]
    assert sorted(role) == sorted(module)
    for name in module:
        assert role[name]["type"] == module[name]["type"] and bool(role[name].get("no_log")) == bool(module[name].get("no_log")), name
    entry_role, entry_module = role["registries"]["options"], module["registries"]["options"]
    assert sorted(entry_role) == sorted(entry_module)
    for name, spec in entry_module.items():
        assert {k: v for k, v in entry_role[name].items() if k != "description"} == spec, name


# ------------------------------------------------------------------ expires_at of the registries list

ROBOT_SECRET = "Robot-Secret-4711-zz"


def expiring(expires_at="2027-03-01T01:00:00+01:00", **more):
    entry = {"registry": "https://Harbor.example.com/", "username": "robot$ci", "password": ROBOT_SECRET,
             "expires_at": expires_at}
    return dict(entry, **more)


def test_expires_at_is_recorded_per_runner_with_a_fingerprint_never_the_password(config, tmp_path, capsys):
    """The four steps: check mode writes neither file, the run records the expiry under config.toml#runner,
    reruns (also in check mode) change nothing; the state file holds a fingerprint, never the password."""
    state = tmp_path / "state" / "rotate.json"
    args = {"path": config, "expiry_state_file": str(state), "runners": [docker_a(docker_auth_config={"registries": [
        expiring(), {"registry": "plain.example.com", "username": "u", "password": "no-expiry-Pa55"}]})]}
    before = snapshot(config)
    code, result = run(args, capsys, check=True)
    assert code == 0 and result["changed"] is True and snapshot(config) == before and not state.exists()
    assert result["expires_at"] == {"docker-a": {"harbor.example.com": "2027-03-01T00:00:00Z"}}
    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["changed"] is True
    assert result["expires_at"] == {"docker-a": {"harbor.example.com": "2027-03-01T00:00:00Z"}}
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600 and stat.S_IMODE(os.stat(state.parent).st_mode) == 0o700
    text = state.read_text()
    assert ROBOT_SECRET not in text and "no-expiry-Pa55" not in text
    data = json.loads(text)
    assert data["static"] == {config + "#docker-a": {"harbor.example.com": {
        "fingerprint": rotation.fingerprint("harbor.example.com", ROBOT_SECRET), "expires_at": "2027-03-01T00:00:00Z"}}}
    assert ROBOT_SECRET not in json.dumps(result)
    written = snapshot(config), state.read_bytes()
    for check in (False, True):
        code, result = run(args, capsys, check=check)
        assert code == 0 and result["changed"] is False and (snapshot(config), state.read_bytes()) == written
        assert result["expires_at"] == {"docker-a": {"harbor.example.com": "2027-03-01T00:00:00Z"}}


def test_a_changed_or_removed_expiry_is_a_change_of_the_state_file_alone(config, tmp_path, capsys):
    state = tmp_path / "rotate.json"
    args = {"path": config, "expiry_state_file": str(state),
            "runners": [docker_a(docker_auth_config={"registries": [expiring()]})]}
    assert run(args, capsys)[1]["changed"] is True
    written = snapshot(config)
    args["runners"][0]["docker_auth_config"]["registries"] = [expiring("2027-04-01")]
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is True and result["changes"] == {} and snapshot(config) == written
    assert json.loads(state.read_text())["static"][config + "#docker-a"]["harbor.example.com"]["expires_at"] == (
        "2027-04-01T00:00:00Z")
    args["runners"][0]["docker_auth_config"]["registries"] = [expiring(None)]
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is True and result["expires_at"] == {"docker-a": {}}
    assert "static" not in json.loads(state.read_text())


def test_two_runners_with_one_registry_keep_their_own_records(config, tmp_path, capsys):
    state = tmp_path / "rotate.json"
    args = {"path": config, "expiry_state_file": str(state), "runners": [
        docker_a(docker_auth_config={"registries": [expiring("2027-01-01")]}),
        {"name": "shell-b", "docker_auth_config": {"registries": [expiring("2027-06-01", password="anotherRobotS3cret")]}}]}
    code, result = run(args, capsys)
    assert code == 0 and result["expires_at"] == {"docker-a": {"harbor.example.com": "2027-01-01T00:00:00Z"},
                                                  "shell-b": {"harbor.example.com": "2027-06-01T00:00:00Z"}}
    assert run(args, capsys)[1]["changed"] is False
    expiries = rotation.recorded_expiries(json.loads(state.read_text()))
    assert expiries[("harbor.example.com", rotation.fingerprint("harbor.example.com", ROBOT_SECRET))] == 1798761600
    assert expiries[("harbor.example.com", rotation.fingerprint("harbor.example.com", "anotherRobotS3cret"))] == 1811808000


@pytest.mark.parametrize("entry, words", [
    pytest.param(expiring("next tuesday"), "runners[docker-a].docker_auth_config.registries[https://Harbor.example.com/]"
                 ".expires_at", id="not-a-time"),
    pytest.param({"registry": "h.example.com", "helper": "pass", "expires_at": "2027-01-01"},
                 "runners[docker-a].docker_auth_config.registries[h.example.com].expires_at: only static credentials",
                 id="helper"),
])
def test_a_bad_expires_at_fails_naming_the_option_and_writes_nothing(config, tmp_path, capsys, entry, words):
    state = tmp_path / "rotate.json"
    before = snapshot(config)
    code, result = run({"path": config, "expiry_state_file": str(state),
                        "runners": [docker_a(docker_auth_config={"registries": [entry]})]}, capsys)
    assert code == 1 and words in result["msg"] and result["msg"].endswith("the file was left unchanged")
    assert snapshot(config) == before and not state.exists()


def test_a_broken_state_file_fails_before_config_toml_is_written(config, tmp_path, capsys):
    state = tmp_path / "rotate.json"
    state.write_text("{broken")
    before = snapshot(config)
    args = {"path": config, "expiry_state_file": str(state),
            "runners": [docker_a(docker_auth_config={"registries": [expiring()]})]}
    code, result = run(args, capsys)
    assert code == 1 and result["msg"].startswith("expiry_state_file: ") and "is no JSON" in result["msg"]
    assert result["msg"].endswith("%s was left unchanged" % config)
    assert snapshot(config) == before and state.read_text() == "{broken" and ROBOT_SECRET not in json.dumps(result)


def test_without_expiring_credentials_the_state_file_is_not_touched(config, tmp_path, capsys):
    """No registries list, or one without expiries: a missing state file stays missing, a broken one alone."""
    state = tmp_path / "rotate.json"
    plain = {"registry": "plain.example.com", "username": "u", "password": "plainPa55word"}
    for runner in (docker_a(docker={"image": "alpine:3.21"}), docker_a(docker_auth_config={"registries": [plain]})):
        code, result = run({"path": config, "expiry_state_file": str(state), "runners": [runner]}, capsys)
        assert code == 0 and not state.exists()
    assert result["expires_at"] == {"docker-a": {}}
    state.write_text("{broken")
    code, result = run({"path": config, "expiry_state_file": str(state),
                        "runners": [docker_a(docker_auth_config={"registries": [plain]})]}, capsys)
    assert code == 0 and result["changed"] is False and state.read_text() == "{broken"
