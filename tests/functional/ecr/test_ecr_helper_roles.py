# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The helper path end to end as the runner process user, with the files the roles wrote.

Real: a local user made with useradd (the runner process user, home under /tmp); ansible-playbook
running the roles credential_helpers (Debian's amazon-ecr-credential-helper package, verified as that
user) and docker_config (~user/.docker/config.json with credHelpers, ~user/.aws/config and
~user/.aws/credentials, docker_config_aws_mode files); Debian's docker-credential-ecr-login 0.6.0 run
as that user with only network settings in its environment, reaching moto (TLS) through the loopback
CONNECT proxy with the keys and region of the role-written files; skopeo 1.9.3 as that user pushing to
and pulling from a distribution registry that answers as the ECR host (htpasswd user AWS, moto's
token), and pulling from a second registry that no entry names, which gets no Authorization header.
Stand-ins: moto for the ECR API, the proxy for DNS, the test CA for the public PKI.
"""

from __future__ import annotations

import collections
import configparser
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import tempfile

import pytest

import moto_harness as mh
import registry as reg

ECR_ACCOUNT, ECR_HOST = mh.ACCOUNT, mh.ECR_HOST
# credential_helpers_default_path: the runner's PATH where no gitlab-runner service tells its own.
RUNNER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
VERIFY_TASK = "runnerkit.gitlab_runner.credential_helpers : Verify that the runner user finds and can run every helper"

PLAY = """\
- hosts: localhost
  gather_facts: true
  gather_subset: ["!all", "min"]
  roles:
    - runnerkit.gitlab_runner.credential_helpers
    - runnerkit.gitlab_runner.docker_config
"""

RunnerUser = collections.namedtuple("RunnerUser", "name uid gid home shared tmp")
RunnerUser.__doc__ = """A throwaway local user; shared: a root-owned world-readable directory for the
CA copies, the image layout and skopeo's settings (pytest's tmp_path is 0700 root); tmp: the user's
own directory for skopeo's --tmpdir (outside its home, so the roles find the home as useradd made it)."""


def _exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture
def runner_user(aws_certs, cert_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root: makes a local user (useradd) to run the helper and skopeo as the runner user")
    # /tmp and a fresh 0755 directory: the user reaches its home (pytest's tmp_path parents are 0700 root).
    base = tempfile.mkdtemp(prefix="runnerkit-ecr-user.")
    name = "rk-ecr-%s" % secrets.token_hex(4)
    try:
        os.chmod(base, 0o755)
        shared = os.path.join(base, "shared")
        for sub in ("ecr-certs.d", "certs.d", "registries.d"):
            os.makedirs(os.path.join(shared, sub))
        shutil.copyfile(aws_certs.ca_file, os.path.join(shared, "aws-ca.crt"))
        shutil.copyfile(aws_certs.ca_file, os.path.join(shared, "ecr-certs.d", "ca.crt"))
        shutil.copyfile(os.path.join(cert_dir, "ca.crt"), os.path.join(shared, "certs.d", "ca.crt"))
        with open(os.path.join(shared, "registries.conf"), "w", encoding="utf-8") as handle:
            handle.write("unqualified-search-registries = []\nshort-name-mode = \"disabled\"\n")
        with open(os.path.join(shared, "policy.json"), "w", encoding="utf-8") as handle:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, handle)
        _world_readable(shared)
        home = os.path.join(base, "home")
        subprocess.run(["useradd", "--create-home", "--home-dir", home, "--user-group", "--shell",
                        "/usr/sbin/nologin", name], check=True, capture_output=True, text=True)
        entry = pwd.getpwnam(name)
        tmp = os.path.join(base, "tmp")
        os.mkdir(tmp, 0o700)
        os.chown(tmp, entry.pw_uid, entry.pw_gid)
        yield RunnerUser(name, entry.pw_uid, entry.pw_gid, entry.pw_dir, shared, tmp)
    finally:
        if _exists(name):
            subprocess.run(["userdel", "--force", "--remove", name], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
        assert not _exists(name), "userdel left user %s behind" % name


def _world_readable(top):
    for root, dirs, files in os.walk(top):
        os.chmod(root, 0o755)
        for entry in files:
            os.chmod(os.path.join(root, entry), 0o644)
        for entry in dirs:
            os.chmod(os.path.join(root, entry), 0o755)


def _as_user(user, argv, env, stdin=None, timeout=90):
    """Run ``argv`` as ``user`` with exactly ``env`` (env -i): HOME from passwd, the runner's PATH."""
    full = dict(env, HOME=user.home, PATH=RUNNER_PATH)
    command = ["runuser", "-u", user.name, "--", "env", "-i"] + ["%s=%s" % item for item in sorted(full.items())]
    streams = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    proc = subprocess.run(command + list(argv), capture_output=True, text=True, timeout=timeout, check=False,
                          env={"PATH": RUNNER_PATH}, **streams)
    return proc.returncode, proc.stdout, proc.stderr


def _network_env(aws_proxy, ca_file):
    """Network settings only: no AWS keys or region (those must come from ~/.aws)."""
    return {"HTTPS_PROXY": aws_proxy.url, "NO_PROXY": "127.0.0.1,localhost", "AWS_CA_BUNDLE": ca_file,
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_ECR_DISABLE_CACHE": "1"}


def _skopeo_as(user, args, env):
    """skopeo as ``user`` with the test's registries.conf and policy (world-readable copies)."""
    argv = [reg.SKOPEO, "--registries-conf", os.path.join(user.shared, "registries.conf"),
            "--registries.d", os.path.join(user.shared, "registries.d"),
            "--policy", os.path.join(user.shared, "policy.json"), "--tmpdir", user.tmp,
            "--command-timeout", "%ds" % reg.SKOPEO_TIMEOUT]
    return _as_user(user, argv + list(args), env, timeout=reg.SKOPEO_TIMEOUT + 10)


def _mode_owner(path):
    info = os.stat(path)
    return stat.S_IMODE(info.st_mode), info.st_uid


@pytest.fixture
def provisioned(runner_user, run_playbook, tmp_path):
    """site.yml's first two roles for the runner user, run once: (user, that run, its extra vars)."""
    extra_vars = {
        "credential_helpers_list": [{"name": "ecr-login", "source": "package"}],
        # The record of the verification stays in the test's directory, not in this machine's /etc/ansible.
        "credential_helpers_facts_dir": str(tmp_path / "facts.d"),
        # The package is installed by `make deps`; no apt-get update (offline, and no change on the rerun).
        "credential_helpers_apt_cache_valid_time": 0,
        # As site.yml passes it: the roles read no variables of each other.
        "credential_helpers_runner_user": runner_user.name,
        "docker_config_user": runner_user.name,
        "docker_config_registries": [{"registry": ECR_HOST, "helper": "ecr-login"}],
        "docker_config_aws_mode": "files",
        "docker_config_aws_region": "eu-west-1",
        "docker_config_aws_access_key_id": "testing",
        "docker_config_aws_secret_access_key": "testing",
    }
    run = run_playbook(PLAY, extra_vars, verbosity=0)
    assert run.rc == 0, run.output
    return runner_user, run, extra_vars


def test_roles_write_the_runner_users_files_and_verify_the_helper_as_that_user(provisioned, run_playbook):
    user, run, extra_vars = provisioned
    verified = run.result(VERIFY_TASK)
    assert [(h["name"], h["ok"]) for h in verified["helpers"]] == [("ecr-login", True)], verified
    # `version` prints the version of the docker-credential-helpers library (0.6.4 in Debian 12), not the helper's.
    assert re.fullmatch(r"docker-credential-ecr-login \(/usr/bin/docker-credential-ecr-login\) answers 'version' "
                        r"as %s: \S+" % re.escape(user.name), verified["helpers"][0]["msg"]), verified["helpers"]
    assert verified["user"] == {"name": user.name, "uid": user.uid, "home": user.home}
    # The verification really ran the helper as the user with its passwd home: the helper made its log dir there.
    assert _mode_owner(os.path.join(user.home, ".ecr", "log")) == (0o700, user.uid)

    docker_dir = os.path.join(user.home, ".docker")
    config = os.path.join(docker_dir, "config.json")
    assert _mode_owner(docker_dir) == (0o700, user.uid)
    assert _mode_owner(config) == (0o600, user.uid) and os.stat(config).st_gid == user.gid
    with open(config, encoding="utf-8") as handle:
        assert json.load(handle) == {"auths": {}, "credHelpers": {ECR_HOST: "ecr-login"}}
    # The module's lock file is the user's too, or a later run as the user could not take the lock.
    assert _mode_owner(os.path.join(docker_dir, ".config.json.lock")) == (0o600, user.uid)

    aws = os.path.join(user.home, ".aws")
    assert _mode_owner(aws) == (0o700, user.uid)
    parsed = {}
    for name in ("config", "credentials"):
        assert _mode_owner(os.path.join(aws, name)) == (0o600, user.uid), name
        parser = configparser.ConfigParser()
        parser.read(os.path.join(aws, name))
        parsed[name] = {section: dict(parser[section]) for section in parser.sections()}
    assert parsed == {"config": {"default": {"region": "eu-west-1"}},
                      "credentials": {"default": {"aws_access_key_id": "testing",
                                                  "aws_secret_access_key": "testing"}}}

    again = run_playbook(PLAY, extra_vars, verbosity=0)
    assert again.rc == 0, again.output
    assert [r["task"] for r in again.results if r["status"] == "changed"] == []


def test_helper_and_skopeo_as_the_runner_user_use_only_the_role_written_files(
        provisioned, moto, aws_proxy, ecr_registry, anon_registry, oci_image_factory):
    user, _run, _vars = provisioned
    env = _network_env(aws_proxy, os.path.join(user.shared, "aws-ca.crt"))
    config = os.path.join(user.home, ".docker", "config.json")

    # The helper alone: keys from ~/.aws/credentials (nothing else offers any), moto through the proxy.
    mark, proxied = moto.mark(), aws_proxy.mark()
    rc, out, err = _as_user(user, [mh.HELPER, "get"], env, stdin=ECR_HOST)
    assert rc == 0, err
    assert json.loads(out) == {"ServerURL": ECR_HOST, "Username": "AWS", "Secret": mh.moto_password(ECR_ACCOUNT)}
    calls = moto.calls(mark, "GetAuthorizationToken")
    assert [(c.region, c.registry_ids, c.access_key) for c in calls] == [("eu-west-1", [ECR_ACCOUNT], "testing")]
    assert moto.calls(mark) == calls
    assert aws_proxy.hosts(proxied) == [("api.ecr.eu-west-1.amazonaws.com:443", 200)]
    assert not os.path.exists(os.path.join(user.home, ".ecr", "cache.json"))

    # skopeo with the role-written config.json: push, pull back, inspect.  The reference
    # (docker-config-and-credential-helpers.md §6) says --authfile turns the other files off; skopeo 1.9.3
    # still reads ~/.docker/config.json (registry.py), so with HOME set both routes lead to the same file.
    source = os.path.join(user.shared, "image")
    image = oci_image_factory("ns/app:1 in ECR, pushed by the runner user")
    shutil.copytree(image.path, source)
    _world_readable(source)
    ref = "docker://%s/ns/app:1" % ECR_HOST
    ecr_certs = os.path.join(user.shared, "ecr-certs.d")
    mark, seen = moto.mark(), ecr_registry.log_mark()
    rc, _out, err = _skopeo_as(user, ["copy", "--quiet", "--retry-times", "0", "--authfile", config,
                                      "--dest-cert-dir", ecr_certs, "oci:%s:%s" % (source, image.tag), ref], env)
    assert rc == 0, err
    pulled = os.path.join(user.home, "pulled")
    rc, _out, err = _skopeo_as(user, ["copy", "--quiet", "--retry-times", "0", "--authfile", config,
                                      "--src-cert-dir", ecr_certs, ref, "oci:%s:1" % pulled], env)
    assert rc == 0, err
    with open(os.path.join(pulled, "index.json"), encoding="utf-8") as handle:
        assert [m["digest"] for m in json.load(handle)["manifests"]] == [image.digest]
    assert _mode_owner(pulled)[1] == user.uid
    rc, out, err = _skopeo_as(user, ["inspect", "--retry-times", "0", "--authfile", config, "--cert-dir", ecr_certs,
                                     "--format", "{{.Digest}}", ref], env)
    assert (rc, out.strip()) == (0, image.digest), err

    received = ecr_registry.received(since=seen)
    authorized = {(s.scheme, s.user, s.password) for s in received if s.authorization}
    assert authorized == {("Basic", "AWS", mh.moto_password(ECR_ACCOUNT))}
    assert any(s.method == "PUT" and "/manifests/1" in s.path and s.status == 201 for s in received)
    calls = moto.calls(mark, "GetAuthorizationToken")
    assert calls and {(c.region, tuple(c.registry_ids), c.access_key) for c in calls} == {
        ("eu-west-1", (ECR_ACCOUNT,), "testing")}

    # A registry no entry names: no Authorization header at all, no helper run, nothing through the proxy.
    mark, proxied, seen = moto.mark(), aws_proxy.mark(), anon_registry.log_mark()
    rc, out, err = _skopeo_as(user, ["inspect", "--retry-times", "0", "--authfile", config, "--cert-dir",
                                     os.path.join(user.shared, "certs.d"), "--format", "{{.Digest}}",
                                     "docker://" + anon_registry.ref("ns/app:1")], env)
    assert (rc, out.strip()) == (0, anon_registry.images["ns/app:1"]), err
    received = anon_registry.received(since=seen)
    assert received and all(s.authorization is None for s in received)
    assert all(r.auth is None for r in anon_registry.requests(since=seen))
    assert moto.calls(mark) == [] and aws_proxy.hosts(proxied) == []
