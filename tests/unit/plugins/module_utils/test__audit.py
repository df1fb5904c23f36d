# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_audit: the credential_helpers role's check (runner_auth_info helpers=...): user and PATH rules; the expiries
read from the rotation state file.

The audit itself is tested through the module in tests/unit/plugins/modules/test_runner_auth_info.py.
"""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _audit as audit
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _host as host
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _rotation as rotation


def params(**over):
    base = {"user": None, "service": "gitlab-runner", "runner_path": None, "default_runner_path": None,
            "timeout": 5, "helpers": [], "helpers_install_dir": "/usr/local/bin"}
    base.update(over)
    return base


UNIT = {"user": None, "environment": {"PATH": "/opt/unit/bin:/usr/bin"}, "exec_start": None}


@pytest.mark.parametrize("over, unit, running, want", [
    ({"runner_path": "/given"}, UNIT, ("/running", "12"), ("/given", "runner_path")),
    ({}, UNIT, ("/running", "12"), ("/running", "the environment of the running gitlab-runner service (pid 12)")),
    ({}, UNIT, (None, None), ("/opt/unit/bin:/usr/bin", "Environment= of the gitlab-runner unit")),
    ({}, dict(UNIT, environment={}), (None, None),
     (host.SYSTEMD_DEFAULT_PATH, "the gitlab-runner unit, which sets no PATH: systemd's default")),
    ({}, None, ("/never-asked", "1"), (host.SYSTEMD_DEFAULT_PATH, "the default, as no gitlab-runner service was found")),
    ({"default_runner_path": "/usr/bin:/bin"}, None, (None, None),
     ("/usr/bin:/bin", "the default, as no gitlab-runner service was found")),
])
def test_helpers_path_order(monkeypatch, over, unit, running, want):
    monkeypatch.setattr(host, "running_service_path", lambda service, timeout: running)
    assert audit.helpers_path(params(**over), unit) == want


def test_an_unknown_runner_user_fails_with_the_roles_message(monkeypatch):
    def unknown(name):
        raise KeyError(name)

    monkeypatch.setattr(host.pwd, "getpwnam", unknown)
    with pytest.raises(audit.AuditError, match="^the runner process user 'rk-nobody' does not exist on this host$"):
        audit.check_helpers(params(user="rk-nobody", helpers=["x"]))


def test_check_helpers_reports_each_helper_with_the_user_and_path(monkeypatch, tmp_path):
    monkeypatch.setattr(host, "UNIT_DIRS", (str(tmp_path / "none"),))
    result = audit.check_helpers(params(user="root", helpers=["runnerkit-none"], default_runner_path=str(tmp_path),
                                        helpers_install_dir=str(tmp_path / "inst")))
    assert result["changed"] is False and result["runner_path"] == str(tmp_path)
    assert result["runner_path_source"] == "the default, as no gitlab-runner service was found"
    assert result["user"]["name"] == "root"
    assert result["helpers"] == [{"name": "runnerkit-none", "path": None, "ok": False, "msg": (
        "docker-credential-runnerkit-none: not found on the PATH of the runner (%s, from the default, as no "
        "gitlab-runner service was found) nor in %s" % (tmp_path, tmp_path / "inst"))}]


def test_certificate_problem_only_inside_the_window():
    now = 1_800_000_000
    day = 86400
    assert audit.certificate_problem("reg.example.com", now + 15 * day, now, 14 * day) is None
    assert audit.certificate_problem("reg.example.com", now + 3 * day + 5, now, 14 * day) == (
        "the TLS certificate of reg.example.com expires at 2027-01-18T08:00:05Z (in 3 days); renew it before the "
        "daemon refuses pulls from it")
    # Past its end (a probe that still got through, e.g. a clock skew): never a negative count.
    assert "(in 0 days)" in audit.certificate_problem("reg.example.com", now - day, now, 14 * day)


def test_ecr_expiries_reads_the_rotations_and_docker_configs_records(tmp_path):
    state = tmp_path / "rotate.json"
    state.write_text(json.dumps({
        "auths": {"harbor.example.com": {"auth": base64.b64encode(b"robot:rotated").decode()}},
        "registries": {"harbor.example.com": {"expires_at": "2027-01-01T00:00:00Z"}},
        "static": {"/root/.docker/config.json": {
            "deploy.example.com": {"fingerprint": rotation.fingerprint("deploy.example.com", "gldt"),
                                   "expires_at": "2027-02-01T00:00:00Z"}}}}))
    assert audit.ecr_expiries(str(state)) == {
        ("harbor.example.com", "rotated"): 1798761600.0,
        ("deploy.example.com", rotation.fingerprint("deploy.example.com", "gldt")): 1801440000.0}
    state.write_text("{broken")
    assert audit.ecr_expiries(str(state)) == {} and audit.ecr_expiries(str(tmp_path / "missing")) == {}
