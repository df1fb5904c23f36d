# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ecr_authorization for ECR Public (``public.ecr.aws``) in real ansible-playbook runs, against a STAND-IN.

The ECR Public API is played by a stand-in (ecr_public_standin.py), because moto has no ``ecr-public``
backend: moto 5.2.5 answers any ``ecr-public`` request with HTTP 500 ("Unable to find appropriate
backend").  The stand-in serves only ``GetAuthorizationToken`` of the ``ecr-public`` API as AWS does
(AWS JSON 1.1, ``X-Amz-Target: SpencerFrontendService.GetAuthorizationToken``, answer
``{"authorizationData": {"authorizationToken", "expiresAt"}}``, AWS-style JSON errors), checks each
request's SigV4 signature itself, and records every request.  It is served over TLS with a certificate
of the same test CA as moto (``aws_certs``), under the real endpoint names
``api.ecr-public.us-east-1.amazonaws.com`` / ``ecr-public.us-east-1.api.aws`` through the tests'
CONNECT proxy, and on 127.0.0.1 for ``AWS_ENDPOINT_URL_ECR_PUBLIC``.

Everything else is real: ansible-playbook and the collection's action plugin (the no_log censoring),
the module and _ecr (host parsing, grouping, expiry, error messages), boto3/botocore (endpoint
resolution, SigV4 signing, the JSON protocol, response and error parsing), and moto for the private
ECR registries asked for in the same module call.
"""

from __future__ import annotations

import datetime
import json
import secrets
import textwrap

import pytest

import moto_harness as mh

from . import ecr_public_standin as eps

ECR_ACCOUNT, ECR_HOST = mh.ACCOUNT, mh.ECR_HOST
PUBLIC_HOST, PUBLIC_DUAL_HOST = "public.ecr.aws", "ecr-public.aws.com"
PUBLIC_API, PUBLIC_DUAL_API = eps.ENDPOINT_NAMES
UTC = datetime.timezone.utc
PUBLIC_PERMISSION = ("The AWS identity needs ecr:GetAuthorizationToken (ecr-public:GetAuthorizationToken and "
                     "sts:GetServiceBearerToken for ECR Public)")


@pytest.fixture(scope="module")
def ecr_public_server(aws_certs, aws_proxy, tmp_path_factory):
    """The stand-in, with a certificate of the moto tests' CA, routed to by the proxy under its endpoint names."""
    leaf = eps.make_leaf_cert(aws_certs, tmp_path_factory.mktemp("ecr-public-pki"))
    server = eps.EcrPublicStandIn(leaf).start()
    try:
        for name in eps.ENDPOINT_NAMES:
            aws_proxy.route(name, server.port)
        yield server
    finally:
        for name in eps.ENDPOINT_NAMES:
            aws_proxy.routes.pop(name, None)
        server.stop()


@pytest.fixture
def ecr_public(ecr_public_server):
    ecr_public_server.reset()
    yield ecr_public_server
    ecr_public_server.reset()


def _assert_signed_for_ecr_public(request, access_key="testing"):
    """The request as botocore sent it: SigV4 scoped to us-east-1/ecr-public, valid, the JSON 1.1 operation."""
    assert (request.access_key, request.region, request.service) == (access_key, "us-east-1", "ecr-public")
    assert request.signature_valid is True
    assert {"host", "x-amz-date", "x-amz-target", "content-type"} <= set(request.signed_headers)
    assert (request.method, request.path, request.target, request.content_type, request.body) == (
        "POST", "/", "SpencerFrontendService.GetAuthorizationToken", "application/x-amz-json-1.1", {})
    assert request.security_token is None


def test_public_and_private_registries_in_one_call(ecr_public, moto, aws_proxy, aws_env, run_playbook, tmp_path):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    public_expiry, private_expiry = now + datetime.timedelta(hours=6), now + datetime.timedelta(hours=12)
    # ECR answers fractional epoch seconds; the module reports whole seconds.
    ecr_public.set_expiry(public_expiry.timestamp() + 0.25)
    private_password = "private-%s" % secrets.token_hex(8)
    moto.set_ecr_token(ECR_ACCOUNT, private_password, private_expiry)
    out = tmp_path / "out.json"
    moto_mark, proxied = moto.mark(), aws_proxy.mark()
    playbook = textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Private and public registries by their endpoint names
              runnerkit.gitlab_runner.ecr_authorization:
                registries: ["{{ private }}", "https://public.ecr.aws/"]
              register: by_name
            - name: Private registries at endpoint_url, ECR Public still at its own endpoint
              runnerkit.gitlab_runner.ecr_authorization:
                registries: [public.ecr.aws, "{{ private }}"]
                endpoint_url: "{{ moto_url }}"
              register: with_endpoint_url
            - name: Both ECR Public names at AWS_ENDPOINT_URL_ECR_PUBLIC
              runnerkit.gitlab_runner.ecr_authorization:
                registries: [public.ecr.aws, ecr-public.aws.com]
              environment:
                AWS_ENDPOINT_URL_ECR_PUBLIC: "{{ public_url }}"
              register: by_env
        """) + mh.KEEP_RESULTS_TASK % (
        "{'by_name': '{{ by_name }}', 'with_endpoint_url': '{{ with_endpoint_url }}', 'by_env': '{{ by_env }}'}")
    # A default region elsewhere must not matter: ECR Public is always us-east-1.
    env = dict(aws_env, AWS_DEFAULT_REGION="eu-west-1", AWS_REGION="eu-west-1")
    run = run_playbook(playbook, {"private": ECR_HOST, "moto_url": moto.url, "public_url": ecr_public.url,
                                  "out": str(out)}, env=env)
    assert run.rc == 0, run.output
    kept = json.loads(out.read_text())
    by_name, with_endpoint_url, by_env = kept["by_name"], kept["with_endpoint_url"], kept["by_env"]

    # Exactly one ecr-public call per task, each signed for us-east-1/ecr-public and answered once: by the
    # real endpoint name through the proxy (also when endpoint_url is given: it is for private ECR only),
    # then at AWS_ENDPOINT_URL_ECR_PUBLIC for both public names (dual-stack or not, one call).
    received = ecr_public.requests()
    assert [(r.host, r.status) for r in received] == [
        (PUBLIC_API, 200), (PUBLIC_API, 200), ("127.0.0.1:%d" % ecr_public.port, 200)]
    for request in received:
        _assert_signed_for_ecr_public(request)
    tokens = [request.auth for request in received]
    assert tokens == [eps.token_auth(ecr_public.password(n)) for n in (1, 2, 3)]

    # Private ECR went to moto (by name, then at endpoint_url); moto saw no ecr-public request.
    moto_calls = moto.calls(moto_mark)
    assert [(c.service, c.region, c.action, c.host, c.registry_ids, c.status) for c in moto_calls] == [
        ("ecr", "eu-west-1", "GetAuthorizationToken", "api.ecr.eu-west-1.amazonaws.com", [ECR_ACCOUNT], 200),
        ("ecr", "eu-west-1", "GetAuthorizationToken", "127.0.0.1:%d" % moto.port, [ECR_ACCOUNT], 200),
    ]
    # CONNECTs: task 1 private then public (the order given), task 2 public only, task 3 none (loopback).
    assert aws_proxy.hosts(proxied) == [("api.ecr.eu-west-1.amazonaws.com:443", 200), (PUBLIC_API + ":443", 200),
                                        (PUBLIC_API + ":443", 200)]

    # The tokens the stand-in gave, as they were given, under the registry key.
    private_auth = mh.token_auth(private_password)
    assert by_name["auths"] == {ECR_HOST: {"auth": private_auth}, PUBLIC_HOST: {"auth": tokens[0]}}
    assert by_name["docker_config_registries"] == [{"registry": ECR_HOST, "auth": private_auth},
                                                   {"registry": PUBLIC_HOST, "auth": tokens[0]}]
    assert with_endpoint_url["auths"] == {PUBLIC_HOST: {"auth": tokens[1]}, ECR_HOST: {"auth": private_auth}}
    assert by_env["auths"] == {PUBLIC_HOST: {"auth": tokens[2]}, PUBLIC_DUAL_HOST: {"auth": tokens[2]}}
    assert [(r["calls"], r["renewed"], r["changed"]) for r in (by_name, with_endpoint_url, by_env)] == [
        (2, True, False), (2, True, False), (1, True, False)]
    assert all(not r.get("warnings") for r in (by_name, with_endpoint_url, by_env))

    # Expiry: the public token's own (6 h, the earliest), fractional seconds dropped; the private one's (12 h).
    for result in (by_name, with_endpoint_url):
        assert result["expires_at"] == mh.iso_utc(public_expiry)
        info = result["registries"]
        assert info[ECR_HOST]["expires_at"] == mh.iso_utc(private_expiry)
        public = dict(info[PUBLIC_HOST])
        assert 6 * 3600 - 120 <= public.pop("expires_in") <= 6 * 3600
        assert public == dict(service="ecr-public", registry_id=None, region="us-east-1", partition="aws",
                              fips=False, dual_stack=False, username="AWS", expires_at=mh.iso_utc(public_expiry),
                              proxy_endpoint=None)
    assert by_env["expires_at"] == mh.iso_utc(public_expiry)
    assert {key: (v["service"], v["region"], v["dual_stack"], v["expires_at"])
            for key, v in by_env["registries"].items()} == {
        PUBLIC_HOST: ("ecr-public", "us-east-1", False, mh.iso_utc(public_expiry)),
        PUBLIC_DUAL_HOST: ("ecr-public", "us-east-1", True, mh.iso_utc(public_expiry)),
    }

    # Shown results are censored by the action plugin; no token in the output or in what callbacks got.
    for task in ("Private and public registries by their endpoint names",
                 "Private registries at endpoint_url, ECR Public still at its own endpoint",
                 "Both ECR Public names at AWS_ENDPOINT_URL_ECR_PUBLIC"):
        shown = run.result(task)
        assert shown["censored"].startswith("the output has been hidden"), shown
        assert "auths" not in shown and "docker_config_registries" not in shown
    hidden = set().union(*(mh.secret_forms(ecr_public.password(n)) for n in (1, 2, 3)))
    mh.assert_hidden(run, hidden | mh.secret_forms(private_password))


def test_access_denied_names_public_registry(ecr_public, moto, aws_env, run_playbook):
    key_secret = "denied-secret-%s" % secrets.token_hex(8)
    ecr_public.add_identity("AKIADENIEDPUBLIC0001", key_secret, "no-ecr-public", allowed=False)
    private_password = "private-%s" % secrets.token_hex(8)
    moto.set_ecr_token(ECR_ACCOUNT, private_password, datetime.datetime.now(UTC) + datetime.timedelta(hours=12))
    moto_mark = moto.mark()
    run = run_playbook(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: An identity without ecr-public:GetAuthorizationToken
              runnerkit.gitlab_runner.ecr_authorization:
                registries: ["{{ private }}", public.ecr.aws]
                access_key: AKIADENIEDPUBLIC0001
                secret_key: "{{ key_secret }}"
              register: denied
              ignore_errors: true
            - name: Nothing of the private token is kept either
              ansible.builtin.assert:
                that:
                  - denied is failed
                  - denied.auths is not defined
                  - denied.docker_config_registries is not defined
        """), {"private": ECR_HOST, "key_secret": key_secret}, env=aws_env)
    assert run.rc == 0, run.output
    assert run.status("An identity without ecr-public:GetAuthorizationToken") == "failed", run.output
    assert run.status("Nothing of the private token is kept either") == "ok", run.output
    msg = run.result("An identity without ecr-public:GetAuthorizationToken")["msg"]
    assert msg == (
        "GetAuthorizationToken for public.ecr.aws failed: access denied (AccessDeniedException: User: "
        "arn:aws:iam::123456789012:user/no-ecr-public is not authorized to perform: ecr-public:GetAuthorizationToken "
        "on resource: * because no identity-based policy allows the ecr-public:GetAuthorizationToken action). "
        + PUBLIC_PERMISSION)
    assert ECR_HOST not in msg
    # One request, properly signed with the given keys, denied, and not retried.
    received = ecr_public.requests()
    assert [(r.host, r.status, r.error, r.auth) for r in received] == [(PUBLIC_API, 400, "AccessDeniedException", None)]
    _assert_signed_for_ecr_public(received[0], access_key="AKIADENIEDPUBLIC0001")
    # The private registry (first in the list) was asked for once and its token is dropped with the failure.
    assert [(c.service, c.status) for c in moto.calls(moto_mark, "GetAuthorizationToken")] == [("ecr", 200)]
    # Failures are not censored: the reason is in the -vvv output; no secret is.
    assert "access denied (AccessDeniedException: User: arn:aws:iam::123456789012:user/no-ecr-public" in run.output
    assert key_secret not in run.output
    mh.assert_hidden(run, mh.secret_forms(private_password))
