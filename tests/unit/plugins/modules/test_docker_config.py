# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_config in process: keep_auths with exclusive, private_directory (skopeo checks the files it
writes in tests/functional/test_docker_config.py)."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _rotation as rotation
from ansible_collections.runnerkit.gitlab_runner.plugins.modules import docker_config

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
TOKEN_AUTH = base64.b64encode(b"AWS:rotatedEcrTok3n-0001").decode()
OTHER_AUTH = base64.b64encode(b"ci:otherPa55word").decode()


def run(args, capsys, check=False, diff=False):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises(SystemExit) as exc:
            docker_config.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def config_json(tmp_path):
    directory = tmp_path / ".docker"
    directory.mkdir()
    os.chmod(directory, 0o755)
    path = directory / "config.json"
    path.write_text(json.dumps({"auths": {ECR_HOST: {"auth": TOKEN_AUTH}, "other.example.com": {"auth": OTHER_AUTH}},
                                "credHelpers": {"gcr.io": "gcloud"}}))
    os.chmod(path, 0o600)
    return path


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_exclusive_keeps_the_entries_of_keep_auths(config_json, capsys):
    args = {"path": str(config_json), "exclusive": True, "keep_auths": ["https://" + ECR_HOST],
            "registries": [{"registry": "registry.example.com", "username": "ci", "password": "newPa55word"}]}
    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["changed"] is True
    assert result["changes"] == {"registry.example.com": "added", "other.example.com": "removed",
                                 "gcr.io": "removed", ECR_HOST: "unchanged"}
    data = json.loads(config_json.read_text())
    assert set(data["auths"]) == {ECR_HOST, "registry.example.com"} and data["auths"][ECR_HOST] == {"auth": TOKEN_AUTH}
    assert "rotatedEcrTok3n" not in json.dumps(result) and TOKEN_AUTH not in json.dumps(result)
    assert run(args, capsys)[1]["changed"] is False


def test_bad_keep_auths_fails_and_writes_nothing(config_json, capsys):
    before = config_json.read_bytes()
    code, result = run({"path": str(config_json), "exclusive": True, "keep_auths": ["https://x.example.com/ns"]}, capsys)
    assert code == 1 and "keep_auths[0]" in result["msg"] and result["msg"].endswith("the file was left unchanged")
    assert config_json.read_bytes() == before


def test_private_directory_fixes_an_existing_directory_and_check_mode_does_not(config_json, capsys):
    args = {"path": str(config_json), "private_directory": True,
            "registries": [{"registry": ECR_HOST, "auth": TOKEN_AUTH}]}
    code, result = run(args, capsys, check=True)
    assert code == 0 and result["changed"] is True and mode(config_json.parent) == 0o755
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is True and result["changes"] == {ECR_HOST: "unchanged"}
    assert mode(config_json.parent) == 0o700
    assert run(args, capsys)[1]["changed"] is False
    os.chmod(config_json.parent, 0o755)
    assert run(dict(args, private_directory=False), capsys)[1]["changed"] is False
    assert mode(config_json.parent) == 0o755


def test_a_created_directory_is_private(tmp_path, capsys):
    path = tmp_path / "home" / ".docker" / "config.json"
    code, result = run({"path": str(path), "registries": [{"registry": ECR_HOST, "helper": "ecr-login"}]}, capsys)
    assert code == 0 and result["changed"] is True
    assert mode(path.parent) == 0o700 and mode(path) == 0o600


def test_absent_removes_every_spelling_of_a_registry_and_reports_changed(config_json, capsys):
    hub = base64.b64encode(b"hub:hubPa55word").decode()
    config_json.write_text(json.dumps({"auths": {"docker.io": {"auth": hub}, "https://index.docker.io/v1/": {"auth": hub},
                                                 "Other.Example.com": {"auth": OTHER_AUTH}},
                                       "credHelpers": {"index.docker.io": "desktop", "https://other.example.com/": "pass"}}))
    args = {"path": str(config_json), "registries": [{"registry": "https://index.docker.io/v1/", "state": "absent"},
                                                     {"registry": "other.example.com", "state": "absent"}]}
    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["changed"] is True
    assert result["changes"] == {"https://index.docker.io/v1/": "removed", "other.example.com": "removed"}
    assert json.loads(config_json.read_text()) == {"auths": {}, "credHelpers": {}}
    assert "hubPa55word" not in json.dumps(result) and hub not in json.dumps(result)
    assert run(args, capsys)[1]["changed"] is False


# ---------------------------------------------------------------- what Go's JSON decoder refuses (issue 12, point 6)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_naming_the_file(config_json, capsys, constant):
    config_json.write_text('{"auths": {"other.example.com": {"auth": "%s"}}, "x": %s}' % (OTHER_AUTH, constant))
    before = config_json.read_bytes()
    code, result = run({"path": str(config_json), "registries": [{"registry": "r.example.com", "helper": "h"}]},
                       capsys)
    assert code == 1 and result["msg"] == (
        "%s: cannot parse JSON: %s is not a JSON value; Go's JSON decoder (Docker's and the runner's) rejects NaN and "
        "Infinity, so the runner cannot read this file; the file was left unchanged" % (config_json, constant))
    assert config_json.read_bytes() == before


def test_a_bom_is_dropped_because_docker_and_the_runner_cannot_read_it(config_json, capsys):
    # Go's encoding/json (docker/cli configfile.LoadFromReader, which the runner uses) fails on a BOM:
    # "invalid character 'ï' looking for beginning of value", and the runner ignores the whole file.
    data = json.loads(config_json.read_text())
    config_json.write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())
    args = {"path": str(config_json), "registries": [{"registry": "gcr.io", "helper": "gcloud"}]}
    code, result = run(args, capsys, check=True)
    assert code == 0 and result["changed"] is True
    assert config_json.read_bytes().startswith(b"\xef\xbb\xbf")  # check mode writes nothing
    # run() itself: where module.warn() sends a warning depends on what else the test process imported
    with patch_module_args(args):
        module = AnsibleModule(argument_spec=docker_config.ARGUMENT_SPEC, supports_check_mode=True)
        outcome = docker_config.run(module, str(config_json))
    assert outcome["changed"] is True and outcome["changes"] == {"gcr.io": "unchanged"}
    assert outcome["warnings"] == [docker_config.auth.BOM_DROPPED % config_json]
    assert "started with a UTF-8 byte order mark (BOM)" in outcome["warnings"][0]
    assert not config_json.read_bytes().startswith(b"\xef\xbb\xbf")
    assert json.loads(config_json.read_text()) == data
    assert run(args, capsys)[1]["changed"] is False


# ------------------------------------------------------------------ expires_at: recorded in the rotation state file

ROBOT_SECRET = "harborRobotS3cret-77"


def _jwt(exp):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return "%s.%s.sig" % (part({"alg": "none"}), part({"exp": exp}))


def test_expires_at_is_recorded_with_a_fingerprint_never_the_password(config_json, tmp_path, capsys):
    state = tmp_path / "state" / "rotate.json"
    jwt = _jwt(1900000000)
    args = {"path": str(config_json), "expiry_state_file": str(state), "registries": [
        {"registry": "https://Harbor.example.com/", "username": "robot$ci", "password": ROBOT_SECRET,
         "expires_at": "2027-03-01T01:00:00+01:00"},
        {"registry": "acr.example.com", "username": "00000000-0000-0000-0000-000000000000", "password": jwt},
        {"registry": "plain.example.com", "username": "u", "password": "no-expiry"}]}
    code, result = run(args, capsys, check=True)
    assert code == 0 and result["changed"] is True and not state.exists()
    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["expires_at"] == {"harbor.example.com": "2027-03-01T00:00:00Z",
                                                  "acr.example.com": "2030-03-17T17:46:40Z"}
    assert mode(state) == 0o600 and mode(state.parent) == 0o700
    text = state.read_text()
    assert ROBOT_SECRET not in text and jwt not in text and "no-expiry" not in text
    data = json.loads(text)
    assert set(data["static"]) == {str(config_json)}
    assert set(data["static"][str(config_json)]) == {"harbor.example.com", "acr.example.com"}

    expiries = rotation.recorded_expiries(data)
    assert expiries[("harbor.example.com", rotation.fingerprint("harbor.example.com", ROBOT_SECRET))] == 1803859200
    assert ROBOT_SECRET not in json.dumps(result) and jwt not in json.dumps(result)
    assert run(args, capsys)[1]["changed"] is False
    # Only the expiry changes: a change of the state file alone; removing the entry drops its record.
    args["registries"][0]["expires_at"] = "2027-04-01T00:00:00Z"
    code, result = run(args, capsys)
    assert result["changed"] is True and result["changes"]["harbor.example.com"] == "unchanged"
    recorded = json.loads(state.read_text())["static"][str(config_json)]
    assert recorded["harbor.example.com"]["expires_at"] == "2027-04-01T00:00:00Z"
    args["registries"][0] = {"registry": "harbor.example.com", "state": "absent"}
    assert run(args, capsys)[1]["changed"] is True
    assert set(json.loads(state.read_text())["static"][str(config_json)]) == {"acr.example.com"}


def test_other_keys_of_the_state_file_are_kept(config_json, tmp_path, capsys):
    state = tmp_path / "rotate.json"
    rotation_state = {"version": 1, "targets": {"a": 1}, "auths": {ECR_HOST: {"auth": TOKEN_AUTH}},
                      "registries": {ECR_HOST: {"expires_at": "2026-01-01T00:00:00Z"}}}
    state.write_text(json.dumps(rotation_state))
    os.chmod(state, 0o600)
    args = {"path": str(config_json), "expiry_state_file": str(state), "registries": [
        {"registry": "harbor.example.com", "username": "robot", "password": ROBOT_SECRET, "expires_at": "2027-01-01"}]}
    assert run(args, capsys)[0] == 0
    data = json.loads(state.read_text())
    assert {k: data[k] for k in rotation_state} == rotation_state
    assert data["static"][str(config_json)]["harbor.example.com"]["expires_at"] == "2027-01-01T00:00:00Z"


def test_two_files_with_one_registry_keep_their_own_records(config_json, tmp_path, capsys):
    state = tmp_path / "rotate.json"
    other = tmp_path / "other" / ".docker" / "config.json"
    entry = {"registry": "harbor.example.com", "username": "robot", "password": ROBOT_SECRET}
    first = {"path": str(config_json), "expiry_state_file": str(state),
             "registries": [dict(entry, expires_at="2027-01-01")]}
    second = {"path": str(other), "expiry_state_file": str(state),
              "registries": [dict(entry, password="anotherRobotS3cret", expires_at="2027-06-01")]}
    assert run(first, capsys)[1]["changed"] is True and run(second, capsys)[1]["changed"] is True
    assert run(first, capsys)[1]["changed"] is False and run(second, capsys)[1]["changed"] is False
    expiries = rotation.recorded_expiries(json.loads(state.read_text()))
    assert expiries[("harbor.example.com", rotation.fingerprint("harbor.example.com", ROBOT_SECRET))] == 1798761600
    assert expiries[("harbor.example.com", rotation.fingerprint("harbor.example.com", "anotherRobotS3cret"))] == 1811808000


def test_a_bad_expires_at_fails_and_writes_nothing(config_json, tmp_path, capsys):
    state = tmp_path / "rotate.json"
    before = config_json.read_bytes()
    for entry, words in (({"registry": "harbor.example.com", "username": "u", "password": "plainPa55word",
                           "expires_at": "next tuesday"}, "registries[harbor.example.com].expires_at"),
                         ({"registry": "h.example.com", "helper": "pass", "expires_at": "2027-01-01"},
                          "only static credentials")):
        code, result = run({"path": str(config_json), "expiry_state_file": str(state), "registries": [entry]}, capsys)
        assert code == 1 and words in result["msg"] and "left unchanged" in result["msg"]
        assert config_json.read_bytes() == before and not state.exists()


def test_no_expiring_credentials_leave_a_missing_or_broken_state_file_alone(config_json, tmp_path, capsys):
    state = tmp_path / "rotate.json"
    args = {"path": str(config_json), "expiry_state_file": str(state),
            "registries": [{"registry": "plain.example.com", "username": "u", "password": "plainPa55word"}]}
    assert run(args, capsys)[1]["changed"] is True and not state.exists()
    state.write_text("{broken")
    assert run(args, capsys)[1]["changed"] is False and state.read_text() == "{broken"
    code, result = run(dict(args, registries=[dict(args["registries"][0], expires_at="2027-01-01")]), capsys)
    assert code == 1 and result["msg"].startswith("expiry_state_file: ") and "is no JSON" in result["msg"]
