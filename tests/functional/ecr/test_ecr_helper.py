# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The helper path end to end, with real parts only.

Debian's docker-credential-ecr-login 0.6.0 gets its AWS credentials and region from ~/.aws of the
user it runs as and reaches moto (TLS) through the loopback CONNECT proxy; skopeo reads the
config.json that docker_config wrote (credHelpers: ECR host -> ecr-login), pushes to and pulls from
a local distribution registry that answers as the ECR host and whose htpasswd user is AWS with
moto's token; a registry no entry names is sent no credentials at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

import moto_harness as mh
import registry as reg

ECR_ACCOUNT, ECR_HOST = mh.ACCOUNT, mh.ECR_HOST


def _helper(args, stdin, env):
    full = dict(os.environ)
    for key, value in env.items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    proc = subprocess.run([mh.HELPER] + list(args), input=stdin, capture_output=True, text=True, env=full,
                          timeout=60, check=False)
    return proc.returncode, proc.stdout.strip(), proc.stderr.strip()


@pytest.fixture
def runner_home(tmp_path):
    """The runner user's home with ~/.aws/config (region) and ~/.aws/credentials (0600)."""
    home = tmp_path / "home"
    home.mkdir()
    mh.write_aws_files(str(home))
    return home


@pytest.fixture
def helper_env(runner_home, aws_proxy, aws_certs, tmp_path):
    return mh.helper_env(runner_home, aws_proxy.url, aws_certs.ca_file, tmp_path / "ecr-cache")


def test_helper_reaches_moto_through_the_proxy(moto, aws_proxy, helper_env, runner_home):
    assert oct(os.stat(runner_home / ".aws" / "credentials").st_mode & 0o777) == "0o600"
    mark, proxied = moto.mark(), aws_proxy.mark()
    rc, out, err = _helper(["get"], ECR_HOST, helper_env)
    assert rc == 0, err
    assert json.loads(out) == {"ServerURL": ECR_HOST, "Username": "AWS", "Secret": mh.moto_password(ECR_ACCOUNT)}
    calls = moto.calls(mark, "GetAuthorizationToken")
    assert [(c.service, c.region, c.registry_ids, c.access_key) for c in calls] == [
        ("ecr", "eu-west-1", [ECR_ACCOUNT], "testing")]
    assert aws_proxy.hosts(proxied) == [("api.ecr.eu-west-1.amazonaws.com:443", 200)]
    # A host that is not ECR: "not found", exit 1 (so clients go on anonymously), no API call.
    mark = moto.mark()
    rc, out, _err = _helper(["get"], "127.0.0.1:5000", helper_env)
    assert (rc, out) == (1, "credentials not found in native keychain")
    # 0.6.0 predates the dual-stack forms (0.10.0); FIPS and China hosts it knows.
    rc, out, _err = _helper(["get"], "%s.dkr-ecr.eu-west-1.on.aws" % ECR_ACCOUNT, helper_env)
    assert (rc, out) == (1, "credentials not found in native keychain")
    assert moto.calls(mark) == []
    rc, out, err = _helper(["get"], "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn", helper_env)
    assert rc == 0 and json.loads(out)["Secret"] == mh.moto_password("210987654321"), err
    assert aws_proxy.hosts(proxied)[-1] == ("api.ecr.cn-north-1.amazonaws.com.cn:443", 200)


def test_skopeo_pushes_and_pulls_with_cred_helper_and_nothing_reaches_other_registries(
        moto, aws_proxy, ecr_registry, ecr_cert_dir, anon_registry, registry, cert_dir, oci_image_factory,
        helper_env, run_playbook, tmp_path):
    config = tmp_path / "docker" / "config.json"
    run = run_playbook(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Map the ECR registry to the ecr-login helper
              runnerkit.gitlab_runner.docker_config:
                path: "{{ path }}"
                registries:
                  - {registry: "%s", helper: ecr-login}
        """ % ECR_HOST), {"path": str(config)}, verbosity=0)
    assert run.rc == 0, run.output
    assert json.loads(config.read_text()) == {"auths": {}, "credHelpers": {ECR_HOST: "ecr-login"}}

    image = oci_image_factory("ns/app:1 in ECR")
    ref = "docker://%s/ns/app:1" % ECR_HOST
    mark, seen = moto.mark(), ecr_registry.log_mark()
    rc, out, err = reg.skopeo(["copy", "--quiet", "--retry-times", "0", "--authfile", str(config),
                               "--dest-cert-dir", ecr_cert_dir, "oci:%s:%s" % (image.path, image.tag), ref],
                              env=helper_env)
    assert rc == 0, err
    pulled = tmp_path / "pulled"
    rc, out, err = reg.skopeo(["copy", "--quiet", "--retry-times", "0", "--authfile", str(config),
                               "--src-cert-dir", ecr_cert_dir, ref, "oci:%s:1" % pulled], env=helper_env)
    assert rc == 0, err
    rc, out, err = reg.inspect(ref, config, ecr_cert_dir, extra_args=["--format", "{{.Digest}}"], env=helper_env)
    assert (rc, out.strip()) == (0, image.digest), err

    # The registry got moto's token as user AWS on the requests it challenged, and nothing else.
    authorized = [(s.scheme, s.user, s.password) for s in ecr_registry.received(since=seen) if s.authorization]
    assert authorized and set(authorized) == {("Basic", "AWS", mh.moto_password(ECR_ACCOUNT))}
    assert any(s.method == "PUT" and "/manifests/1" in s.path and s.status == 201
               for s in ecr_registry.received(since=seen))
    # Each token came from moto, for the registry's account and region (the helper caches nothing here).
    calls = moto.calls(mark, "GetAuthorizationToken")
    assert calls and {(c.region, tuple(c.registry_ids)) for c in calls} == {("eu-west-1", (ECR_ACCOUNT,))}

    # With another token in htpasswd the same file no longer works: the token is what authenticates.
    ecr_registry.set_users({"AWS": "not-the-token"})
    try:
        rc, _out, err = reg.inspect(ref, config, ecr_cert_dir, env=helper_env)
        assert rc == 1 and reg.SKOPEO_UNAUTHORIZED in err
    finally:
        ecr_registry.set_users({"AWS": mh.moto_password(ECR_ACCOUNT)})

    # A registry that no entry names: pulled anonymously, no Authorization header at all, no helper run.
    mark, proxied, seen = moto.mark(), aws_proxy.mark(), anon_registry.log_mark()
    rc, out, err = reg.inspect(anon_registry.ref("ns/app:1"), config, cert_dir, extra_args=["--format", "{{.Digest}}"],
                               env=helper_env)
    assert (rc, out.strip()) == (0, anon_registry.images["ns/app:1"]), err
    received = anon_registry.received(since=seen)
    assert received and all(s.authorization is None for s in received)
    assert all(r.auth is None for r in anon_registry.requests(since=seen))
    # The same for a registry with auth that no entry names: it challenges, and gets an empty Basic
    # (what skopeo sends without credentials), never the ECR token.
    seen = registry.log_mark()
    rc, _out, err = reg.inspect(registry.ref("ns/app:1"), config, cert_dir, env=helper_env)
    assert rc == 1 and reg.SKOPEO_UNAUTHORIZED in err
    assert {(s.user, s.password) for s in registry.received(since=seen) if s.authorization} == {("", "")}
    assert moto.calls(mark) == [] and aws_proxy.hosts(proxied) == []
