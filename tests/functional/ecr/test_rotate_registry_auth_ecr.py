# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/rotate_registry_auth.yml with an ECR registry (moto) beside a looked-up one: each is renewed within its
own window only, and what docker_config recorded in the same state file stays.

No Vault server runs here: ``ansible.builtin.file`` stands in for the secret store's lookup.
"""

from __future__ import annotations

import datetime
import json
import os
import pwd

import moto_harness as mh

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = "- import_playbook: %s\n" % os.path.join(REPO_ROOT, "playbooks", "rotate_registry_auth.yml")
UTC = datetime.timezone.utc
HARBOR = "harbor.example.com"
STATIC = {"/root/.docker/config.json": {"deploy.example.com": {"fingerprint": "sha256:00",
                                                               "expires_at": "2030-01-01T00:00:00Z"}}}


def test_each_registry_is_renewed_in_its_own_window(moto, aws_certs, run_playbook, tmp_path):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    secret_file = tmp_path / "harbor.txt"
    secret_file.write_text("harbor-Secret-0001\n")
    config_json = tmp_path / "home" / ".docker" / "config.json"
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"version": 1, "static": STATIC}))  # what docker_config recorded
    extra_vars = {
        "rotate_registry_hosts": "localhost",
        "rotate_registry_credentials": [
            {"registry": mh.ECR_HOST, "source": "ecr"},
            {"registry": HARBOR, "source": "lookup", "lookup": "ansible.builtin.file", "terms": [str(secret_file)],
             "username": "robot$ci", "valid_for": "30d", "renew_before": "7d"}],
        "rotate_registry_docker_config_path": str(config_json),
        "rotate_registry_state_file": str(state_file),
        "rotate_registry_endpoint_url": moto.url,
        "docker_config_user": pwd.getpwuid(os.getuid()).pw_name,
    }
    env = mh.boto_env(aws_certs.ca_file)

    def rotate():
        run = run_playbook(PLAYBOOK, extra_vars, env=env)
        assert run.rc == 0, run.output
        assert "harbor-Secret" not in run.output and "ecr-token" not in run.output
        return run

    moto.set_ecr_token(mh.ACCOUNT, "ecr-token-one", now + datetime.timedelta(hours=12))
    mark = moto.mark()
    rotate()
    assert len(moto.calls(mark, "GetAuthorizationToken")) == 1
    state = json.loads(state_file.read_text())
    assert state["static"] == STATIC
    assert state["registries"][mh.ECR_HOST]["expires_at"] == mh.iso_utc(now + datetime.timedelta(hours=12))
    harbor_expiry = mh.iso_utc(now + datetime.timedelta(days=30))
    assert state["registries"][HARBOR]["expires_at"][:13] == harbor_expiry[:13]  # valid_for from the renewal
    auths = json.loads(config_json.read_text())["auths"]
    assert auths == {mh.ECR_HOST: {"auth": mh.token_auth("ecr-token-one")},
                     HARBOR: {"auth": mh.token_auth("harbor-Secret-0001", "robot$ci")}}

    # Three hours later, as far as ECR is concerned: only the ECR token is renewed, the file is not read.
    state["registries"][mh.ECR_HOST]["expires_at"] = mh.iso_utc(now + datetime.timedelta(hours=1))
    state_file.write_text(json.dumps(state))
    secret_file.write_text("harbor-Secret-0002\n")
    moto.set_ecr_token(mh.ACCOUNT, "ecr-token-two", now + datetime.timedelta(hours=13))
    mark = moto.mark()
    run = rotate()
    assert len(moto.calls(mark, "GetAuthorizationToken")) == 1
    assert run.status("runnerkit.gitlab_runner.registry_tokens : "
                      "Read the new secrets of the other registries due from their lookups") == "skipped"
    auths = json.loads(config_json.read_text())["auths"]
    assert auths[mh.ECR_HOST] == {"auth": mh.token_auth("ecr-token-two")}
    assert auths[HARBOR] == {"auth": mh.token_auth("harbor-Secret-0001", "robot$ci")}
    state = json.loads(state_file.read_text())
    assert state["static"] == STATIC and state["registries"][HARBOR]["expires_at"][:13] == harbor_expiry[:13]

    # A rerun: no call, nothing changes.
    before = (config_json.read_text(), state_file.read_text())
    mark = moto.mark()
    run = rotate()
    assert moto.calls(mark) == [] and [r for r in run.results if r["status"] == "changed"] == []
    assert (config_json.read_text(), state_file.read_text()) == before


def test_rotate_ecr_auth_keeps_what_docker_config_recorded(moto, aws_certs, run_playbook, tmp_path):
    config_json = tmp_path / "config.json"
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"version": 1, "static": STATIC}))
    moto.set_ecr_token(mh.ACCOUNT, "ecr-token-three", datetime.datetime.now(UTC) + datetime.timedelta(hours=12))
    extra_vars = {"rotate_ecr_hosts": "localhost", "rotate_ecr_registries": [mh.ECR_HOST],
                  "rotate_ecr_docker_config_path": str(config_json), "rotate_ecr_state_file": str(state_file),
                  "rotate_ecr_endpoint_url": moto.url, "docker_config_user": pwd.getpwuid(os.getuid()).pw_name}
    playbook = "- import_playbook: %s\n" % os.path.join(REPO_ROOT, "playbooks", "rotate_ecr_auth.yml")
    run = run_playbook(playbook, extra_vars, env=mh.boto_env(aws_certs.ca_file), verbosity=0)
    assert run.rc == 0, run.output
    state = json.loads(state_file.read_text())
    assert state["static"] == STATIC and state["auths"] == {mh.ECR_HOST: {"auth": mh.token_auth("ecr-token-three")}}
