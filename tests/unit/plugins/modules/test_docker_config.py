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
