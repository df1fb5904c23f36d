# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_daemon_config in process: merged in place (other keys, order and indentation kept), reload
versus restart, insecure registries only when allowed, NaN/Infinity refused, check/diff/idempotence."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _daemon_json as daemon_json
from ansible_collections.runnerkit.gitlab_runner.plugins.modules import docker_daemon_config

TAB_FILE = '{\n\t"data-root": "/srv/docker",\n\t"log-driver": "json-file",\n\t"max-concurrent-downloads": 3\n}\n'


def run(args, capsys, check=False, diff=False):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises(SystemExit) as exc:
            docker_daemon_config.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def daemon_file(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(TAB_FILE)
    os.chmod(path, 0o640)
    return path


def test_mirrors_are_merged_keeping_keys_order_indent_and_mode_then_unchanged(daemon_file, capsys):
    args = {"path": str(daemon_file), "registry_mirrors": ["https://mirror.example.com"],
            "settings": {"max-concurrent-downloads": 6}}
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is True
    assert result["changes"] == {"registry-mirrors": "added", "max-concurrent-downloads": "updated"}
    assert result["reload_needed"] is True and result["restart_needed"] is False
    assert daemon_file.read_text() == ('{\n\t"data-root": "/srv/docker",\n\t"log-driver": "json-file",\n'
                                       '\t"max-concurrent-downloads": 6,\n\t"registry-mirrors": [\n'
                                       '\t\t"https://mirror.example.com"\n\t]\n}\n')
    assert stat.S_IMODE(os.stat(daemon_file).st_mode) == 0o640
    code, result = run(args, capsys, diff=True)
    assert result["changed"] is False and result["reload_needed"] is False and "diff" not in result


def test_a_key_dockerd_does_not_reload_needs_a_restart(daemon_file, capsys):
    code, result = run({"path": str(daemon_file), "settings": {"log-opts": {"max-size": "10m"}},
                        "registry_mirrors": ["https://m.example.com:5000"]}, capsys)
    assert result["restart_needed"] is True and result["reload_needed"] is False
    assert json.loads(daemon_file.read_text())["log-opts"] == {"max-size": "10m"}


def test_check_mode_and_diff_write_nothing(daemon_file, capsys):
    code, result = run({"path": str(daemon_file), "registry_mirrors": ["https://mirror.example.com"]}, capsys,
                       check=True, diff=True)
    assert result["changed"] is True and result["reload_needed"] is True
    assert '"registry-mirrors"' in result["diff"]["after"] and result["diff"]["before"] == TAB_FILE
    assert daemon_file.read_text() == TAB_FILE


def test_new_file_two_spaces_mode_0644_and_empty_list_removes(tmp_path, capsys):
    path = tmp_path / "etc" / "docker" / "daemon.json"
    args = {"path": str(path), "registry_mirrors": ["https://mirror.example.com"]}
    assert run(args, capsys)[1]["changed"] is True
    assert path.read_text() == '{\n  "registry-mirrors": [\n    "https://mirror.example.com"\n  ]\n}\n'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    code, result = run(dict(args, registry_mirrors=[]), capsys)
    assert result["changes"] == {"registry-mirrors": "removed"} and json.loads(path.read_text()) == {}
    assert run({"path": str(tmp_path / "none.json")}, capsys)[1]["changed"] is False
    assert not (tmp_path / "none.json").exists()


def test_one_line_file_stays_one_line_and_null_setting_removes(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true, "labels": ["a"]}')
    code, result = run({"path": str(path), "settings": {"debug": None, "live-restore": True}}, capsys)
    assert result["changes"] == {"debug": "removed", "live-restore": "added"} and result["reload_needed"] is True
    assert path.read_text() == '{"labels": ["a"], "live-restore": true}'


def test_insecure_registries_need_allow_insecure_and_warn(daemon_file, capsys):
    code, result = run({"path": str(daemon_file), "insecure_registries": ["10.0.0.5:5000"]}, capsys)
    assert code == 1 and "set allow_insecure: true" in result["msg"] and daemon_file.read_text() == TAB_FILE
    plan = daemon_json.plan(TAB_FILE, None, ["10.0.0.5:5000"], True, {})
    assert plan["new"]["insecure-registries"] == ["10.0.0.5:5000"] and plan["reload_needed"] is True
    assert "without verifying TLS" in plan["warnings"][0]


@pytest.mark.parametrize("text, args, message", [
    ('{"max-concurrent-downloads": NaN}', {}, "NaN is not a JSON value"),
    ('{"a": 1', {}, "cannot parse JSON"),
    ("[]", {}, "not a JSON object"),
    (TAB_FILE, {"settings": {"max-download-attempts": float("inf")}}, "dockerd refuses NaN and Infinity"),
    (TAB_FILE, {"settings": {"registry-mirrors": []}}, "set registry-mirrors with the registry_mirrors option"),
    (TAB_FILE, {"registry_mirrors": ["mirror.example.com"]}, "registry_mirrors[0]"),
    (TAB_FILE, {"registry_mirrors": ["https://u:p@mirror.example.com"]}, "without user info"),
])
def test_refusals_leave_the_file_unchanged(tmp_path, capsys, text, args, message):
    path = tmp_path / "daemon.json"
    path.write_text(text)
    code, result = run(dict(args, path=str(path), registry_mirrors=args.get("registry_mirrors", ["https://m.example.com"])),
                       capsys)
    assert code == 1 and message in result["msg"] and result["msg"].endswith("the file was left unchanged"), result
    assert path.read_text() == text


def test_a_mirror_with_user_info_is_refused_without_showing_its_password(daemon_file, capsys):
    code, result = run({"path": str(daemon_file), "registry_mirrors": ["https://u:M1rrorPassw0rd@m.example.com"]},
                       capsys)
    assert code == 1 and "https://u:********@m.example.com" in result["msg"], result
    assert "M1rrorPassw0rd" not in json.dumps(result) and daemon_file.read_text() == TAB_FILE


def test_diff_masks_proxy_credentials(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    path.write_text('{"proxies": {"http-proxy": "http://proxyuser:Pr0xyPassw0rd@proxy.example.com:3128"}}\n')
    code, result = run({"path": str(path), "registry_mirrors": ["https://mirror.example.com"]}, capsys, diff=True)
    assert code == 0 and "Pr0xyPassw0rd" not in json.dumps(result)
    assert "Pr0xyPassw0rd" in path.read_text()
