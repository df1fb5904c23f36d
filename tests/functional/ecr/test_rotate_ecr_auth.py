# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/rotate_ecr_auth.yml, run as AWX would run it, against moto with tokens and expiries the test sets.

The test controls time through the two expiries the playbook reads: the one moto's answer carries
(``moto.set_ecr_token``) and the one in the host's state file (edited to say "expires in 1 hour").
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import pwd
import stat
import tomllib

import moto_harness as mh

ECR_ACCOUNT, ECR_HOST = mh.ACCOUNT, mh.ECR_HOST

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "rotate_ecr_auth.yml")
UTC = datetime.timezone.utc
OTHER_HELPER_HOST = "999999999999.dkr.ecr.us-east-1.amazonaws.com"
CI_SECRET = "ci-registry-Secret-42"
ECR_TOKENS = "runnerkit.gitlab_runner.ecr_tokens : "  # the role that reads, fetches and remembers the tokens

# site.yml itself, on localhost as a member of gitlab_runners: the wiring of the rotation's variables into the
# roles (keep_auths) is the playbook's, not the roles' defaults.
SITE = "- import_playbook: %s\n" % os.path.join(REPO_ROOT, "playbooks", "site.yml")
INVENTORY = "gitlab_runners:\n  hosts:\n    localhost:\n      ansible_connection: local\n"


CONFIG_TOML = """\
concurrent = 4
# A comment the runner does not write; it must survive.

[[runners]]
  name = "docker-build"
  url = "https://gitlab.example.com"
  token = "glrt-build-runner-token"
  executor = "docker"
  environment = ["HTTP_PROXY=http://proxy.example.com:3128"]
  [runners.docker]
    image = "alpine:3.20"  # pinned by hand

[[runners]]
  name = "untouched"
  url = "https://gitlab.example.com"
  token = "glrt-untouched-token"
  executor = "docker"
  environment = ["A=1"]
  [runners.docker]
    image = "debian:12"
"""


def _b64(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def _docker_auth_config(config_toml, runner):
    for entry in tomllib.loads(config_toml.read_text())["runners"]:
        if entry["name"] == runner:
            values = [v.split("=", 1)[1] for v in entry.get("environment", []) if v.startswith("DOCKER_AUTH_CONFIG=")]
            return json.loads(values[0]) if values else None
    raise KeyError(runner)


def _forms(secret):
    return {secret, base64.b64encode(secret.encode()).decode(), _b64("AWS", secret), _b64("ci", secret)}


def test_rotation_only_near_expiry_only_the_tokens_change(moto, aws_certs, run_playbook, tmp_path):
    user = pwd.getpwuid(os.getuid()).pw_name
    config_toml = tmp_path / "gitlab-runner" / "config.toml"
    config_toml.parent.mkdir()
    config_toml.write_text(CONFIG_TOML)
    config_json = tmp_path / "home" / ".docker" / "config.json"
    config_json.parent.mkdir(parents=True, mode=0o700)
    config_json.write_text(json.dumps({"auths": {"other.example.com": {"auth": _b64("u", "p")}},
                                       "proxies": {"default": {"httpsProxy": "http://proxy:3128"}}}, indent="\t"))
    os.chmod(config_json, 0o600)
    state_file = tmp_path / "state" / "rotate_ecr_auth.json"
    extra_vars = {
        "rotate_ecr_hosts": "localhost",
        "rotate_ecr_registries": [ECR_HOST],
        "rotate_ecr_runners": ["docker-build"],
        "rotate_ecr_docker_config_path": str(config_json),
        "rotate_ecr_state_file": str(state_file),
        "rotate_ecr_endpoint_url": moto.url,
        "docker_config_user": user,
        "runner_config_path": str(config_toml),
        "runner_runners": [
            {"name": "docker-build", "docker": {"image": "alpine:3.20"}, "docker_auth_config": {
                "auths": {"registry.example.com:5000": {"username": "ci", "password": CI_SECRET}},
                "credHelpers": {OTHER_HELPER_HOST: "ecr-login"}}},
            {"name": "untouched", "docker": {"image": "debian:12"}},
        ],
    }
    env = mh.boto_env(aws_certs.ca_file)  # the controller's AWS credentials (AWX injects them the same way)
    playbook = "- import_playbook: %s\n" % PLAYBOOK
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    runs = []

    def rotate(**kwargs):
        run = run_playbook(playbook, extra_vars, env=env, **kwargs)
        assert run.rc == 0, run.output
        runs.append(run)
        return run

    def changed(run):
        return sorted(r["task"].split(" | ")[0] for r in run.results if r["status"] == "changed")

    # 1. No state yet: tokens are fetched and written to both places, the state is recorded.
    moto.set_ecr_token(ECR_ACCOUNT, "token-one", now + datetime.timedelta(hours=12))
    mark = moto.mark()
    run = rotate(diff=True)
    assert len(moto.calls(mark, "GetAuthorizationToken")) == 1
    assert changed(run) == ["Put the tokens into the runner user's config.json",
                            "Put the tokens into the runners' DOCKER_AUTH_CONFIG",
                            ECR_TOKENS + "Create the state directory (0700)",
                            ECR_TOKENS + "Remember the tokens in use, their expiry and the targets (0600)"]
    token_one = mh.token_auth("token-one")
    assert json.loads(config_json.read_text()) == {
        "auths": {"other.example.com": {"auth": _b64("u", "p")}, ECR_HOST: {"auth": token_one}},
        "proxies": {"default": {"httpsProxy": "http://proxy:3128"}}}
    assert stat.S_IMODE(os.stat(config_json).st_mode) == 0o600
    assert _docker_auth_config(config_toml, "docker-build") == {
        "auths": {"registry.example.com:5000": {"auth": _b64("ci", CI_SECRET)}, ECR_HOST: {"auth": token_one}},
        "credHelpers": {OTHER_HELPER_HOST: "ecr-login"}}
    toml_text = config_toml.read_text()
    assert "# A comment the runner does not write; it must survive." in toml_text
    assert '"HTTP_PROXY=http://proxy.example.com:3128"' in toml_text and 'image = "alpine:3.20"  # pinned by hand' in toml_text
    assert toml_text.split('name = "untouched"')[1] == CONFIG_TOML.split('name = "untouched"')[1]
    state = json.loads(state_file.read_text())
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state_file.parent).st_mode) == 0o700
    assert state["expires_at"] == state["registries"][ECR_HOST]["expires_at"] == mh.iso_utc(now + datetime.timedelta(hours=12))
    assert state["auths"] == {ECR_HOST: {"auth": token_one}}
    first = (config_toml.read_text(), config_json.read_text(), state_file.read_text())

    # 2. A rerun inside the window: no API call, nothing changes.
    mark = moto.mark()
    run = rotate()
    assert moto.calls(mark) == [] and changed(run) == []
    assert run.result(ECR_TOKENS + "Fetch fresh ECR tokens when those in use expire within renew_before")["changed"] is False
    assert (config_toml.read_text(), config_json.read_text(), state_file.read_text()) == first

    # 3. An hour before the stored tokens expire (per the state file): new tokens, and only they change.
    state["registries"][ECR_HOST]["expires_at"] = mh.iso_utc(now + datetime.timedelta(hours=1))
    state_file.write_text(json.dumps(state))
    moto.set_ecr_token(ECR_ACCOUNT, "token-two", now + datetime.timedelta(hours=12, minutes=30))
    # In check mode (an AWX check job) the rotation is reported and nothing is written.
    before = (config_toml.read_text(), config_json.read_text(), state_file.read_text())
    run = rotate(check=True)
    assert changed(run) == ["Put the tokens into the runner user's config.json",
                            "Put the tokens into the runners' DOCKER_AUTH_CONFIG",
                            ECR_TOKENS + "Remember the tokens in use, their expiry and the targets (0600)"]
    assert (config_toml.read_text(), config_json.read_text(), state_file.read_text()) == before
    mark = moto.mark()
    run = rotate(diff=True)
    assert len(moto.calls(mark, "GetAuthorizationToken")) == 1
    assert changed(run) == ["Put the tokens into the runner user's config.json",
                            "Put the tokens into the runners' DOCKER_AUTH_CONFIG",
                            ECR_TOKENS + "Remember the tokens in use, their expiry and the targets (0600)"]
    token_two = mh.token_auth("token-two")
    assert config_toml.read_text() == first[0].replace(token_one, token_two)
    assert config_json.read_text() == first[1].replace(token_one, token_two)
    assert json.loads(state_file.read_text())["expires_at"] == mh.iso_utc(now + datetime.timedelta(hours=12, minutes=30))

    # 4. Someone removed the entry from config.json: the stored tokens are put back, without an API call.
    second = config_toml.read_text()
    data = json.loads(config_json.read_text())
    del data["auths"][ECR_HOST]
    config_json.write_text(json.dumps(data))
    mark = moto.mark()
    run = rotate()
    assert moto.calls(mark) == []
    assert changed(run) == ["Put the tokens into the runner user's config.json"]
    assert json.loads(config_json.read_text())["auths"][ECR_HOST] == {"auth": token_two}
    assert config_toml.read_text() == second

    # 5. site.yml, run from the same inventory, keeps the rotated tokens
    #    (even with docker_config_exclusive) and report no change; told to keep nothing, they drop them,
    #    and the next rotation puts them back.
    third = (config_toml.read_text(), config_json.read_text())
    site_vars = dict(extra_vars, docker_config_path=str(config_json), docker_config_exclusive=True,
                     docker_config_registries=[{"registry": "other.example.com", "auth": _b64("u", "p")}])

    inventory = tmp_path / "inventory.yml"
    inventory.write_text(INVENTORY)

    def site(**overrides):
        run = run_playbook(SITE, dict(site_vars, **overrides), args=("-i", str(inventory)), diff=True)
        assert run.rc == 0, run.output
        runs.append(run)
        return run

    run = site()
    assert changed(run) == [] and (config_toml.read_text(), config_json.read_text()) == third
    run = site(runner_keep_auths={}, docker_config_keep_auths=[])
    assert changed(run) == [
        "runnerkit.gitlab_runner.docker_config : Write the registry credentials into config.json of the runner user",
        "runnerkit.gitlab_runner.runner : Manage the global keys and the runners of config.toml"]
    assert ECR_HOST not in json.loads(config_json.read_text())["auths"]
    assert ECR_HOST not in _docker_auth_config(config_toml, "docker-build")["auths"]
    mark = moto.mark()
    run = rotate()
    assert moto.calls(mark) == [] and (config_toml.read_text(), config_json.read_text()) == third
    # The same told by the inventory (below the role parameters site.yml wires): the inventory's value wins.
    inventory.write_text(INVENTORY + "      runner_keep_auths: {}\n      docker_config_keep_auths: []\n")
    run = site()
    assert ECR_HOST not in json.loads(config_json.read_text())["auths"]
    assert ECR_HOST not in _docker_auth_config(config_toml, "docker-build")["auths"]
    run = rotate()
    assert (config_toml.read_text(), config_json.read_text()) == third

    # No token or password in any form, in any run's -vvv (--diff) output or in what callbacks got.
    for run in runs:
        recorded = json.dumps(run.results)
        for secret in _forms("token-one") | _forms("token-two") | _forms(CI_SECRET):
            assert secret not in run.output and secret not in recorded


def test_misconfigured_targets_fail_clearly(moto, aws_certs, run_playbook, tmp_path):
    base = {"rotate_ecr_hosts": "localhost", "rotate_ecr_registries": [ECR_HOST],
            "rotate_ecr_state_file": str(tmp_path / "state.json"), "rotate_ecr_endpoint_url": moto.url}
    playbook = "- import_playbook: %s\n" % PLAYBOOK
    env = mh.boto_env(aws_certs.ca_file)
    cases = [
        dict(base, rotate_ecr_docker_config=False),  # no target at all
        dict(base, rotate_ecr_docker_config=False, rotate_ecr_runners=["missing"], runner_runners=[]),
        dict(base, rotate_ecr_docker_config=False, rotate_ecr_runners=["helper"],
             runner_runners=[{"name": "helper", "docker_auth_config": {"credHelpers": {ECR_HOST: "ecr-login"}}}]),
        # the same helper in the registries list, spelled as a URL: the same registry key
        dict(base, rotate_ecr_docker_config=False, rotate_ecr_runners=["listed"], runner_runners=[{
            "name": "listed", "docker_auth_config": {"registries": [
                {"registry": "https://%s/" % ECR_HOST, "helper": "ecr-login"}]}}]),
    ]
    mark = moto.mark()
    for extra_vars in cases:
        run = run_playbook(playbook, extra_vars, env=env, verbosity=0)
        assert run.rc == 2, run.output
        assert run.status("Check the targets") == "failed"
        assert run.result("Check the targets")["msg"].startswith("rotate_ecr_registries needs a target")
    # A host without registries is left alone.
    run = run_playbook(playbook, {"rotate_ecr_hosts": "localhost"}, env=env, verbosity=0)
    assert run.rc == 0 and [r["task"] for r in run.results] == []
    assert moto.calls(mark) == []
