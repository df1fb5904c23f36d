# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ecr_authorization in real ansible-playbook runs against moto (TLS), through the real endpoint names.

boto3 reaches moto either under the ECR/STS endpoint names botocore derives from each host (through
the CONNECT proxy, which logs the names) or at ``endpoint_url``.  Tokens and expiries of accounts
the tests care about are set with ``moto.set_ecr_token``; others are moto's own (2015 expiry).
"""

from __future__ import annotations

import datetime
import json
import ssl
import textwrap

import boto3

import moto_harness as mh
import registry as reg

ECR_ACCOUNT, ECR_HOST = mh.ACCOUNT, mh.ECR_HOST

UTC = datetime.timezone.utc
FIPS_HOST = "%s.dkr.ecr-fips.us-east-1.amazonaws.com" % ECR_ACCOUNT
CN_HOST = "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn"
DUAL_HOST = "%s.dkr-ecr.us-east-2.on.aws" % ECR_ACCOUNT
EAST2_HOST = "%s.dkr.ecr.us-east-2.amazonaws.com" % ECR_ACCOUNT
OTHER_HOST = "333333333333.dkr.ecr.eu-west-1.amazonaws.com"
# The machine's CA bundle (Debian), which does not hold the test CA.
SYSTEM_CA_BUNDLE = ssl.get_default_verify_paths().cafile or ssl.get_default_verify_paths().openssl_cafile


def test_every_host_form_one_call_per_account_and_region(moto, aws_proxy, aws_env, run_playbook, tmp_path):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    moto.set_ecr_token(ECR_ACCOUNT, "token-of-123", now + datetime.timedelta(hours=12))
    moto.set_ecr_token("333333333333", "token-of-333", now + datetime.timedelta(hours=6))
    registries = [ECR_HOST, "https://%s/" % FIPS_HOST, CN_HOST, DUAL_HOST, EAST2_HOST, OTHER_HOST]
    out = tmp_path / "out.json"
    mark, proxied = moto.mark(), aws_proxy.mark()
    playbook = textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Get the tokens
              runnerkit.gitlab_runner.ecr_authorization:
                registries: "{{ registries }}"
              register: ecr
        """) + mh.KEEP_RESULTS_TASK % (
        "{'ecr': '{{ ecr }}', 'from_result': '{{ ecr | runnerkit.gitlab_runner.docker_auth_config }}', "
        "'from_list': '{{ ecr.docker_config_registries | runnerkit.gitlab_runner.docker_auth_config }}'}")
    run = run_playbook(playbook, {"registries": registries, "out": str(out)}, env=aws_env)
    assert run.rc == 0, run.output
    kept = json.loads(out.read_text())
    ecr = kept["ecr"]
    token_123, token_333 = mh.token_auth("token-of-123"), mh.token_auth("token-of-333")
    assert ecr["auths"] == {
        ECR_HOST: {"auth": token_123}, FIPS_HOST: {"auth": token_123}, DUAL_HOST: {"auth": token_123},
        EAST2_HOST: {"auth": token_123}, OTHER_HOST: {"auth": token_333},
        CN_HOST: {"auth": mh.token_auth(mh.moto_password("210987654321"))},
    }
    assert ecr["docker_config_registries"] == [{"registry": key, "auth": ecr["auths"][key]["auth"]}
                                               for key in [ECR_HOST, FIPS_HOST, CN_HOST, DUAL_HOST, EAST2_HOST,
                                                           OTHER_HOST]]
    assert (ecr["changed"], ecr["renewed"], ecr["calls"]) == (False, True, 5)
    # The earliest expiry is moto's own for the China account (2015), which is also warned about.
    assert ecr["expires_at"] == "2015-01-01T00:00:00Z"
    assert ecr["warnings"] == ["the token ECR returned for %s already expired at 2015-01-01T00:00:00Z; check the "
                               "clock of the host that ran the request" % CN_HOST]
    info = ecr["registries"]
    assert info[ECR_HOST]["expires_at"] == mh.iso_utc(now + datetime.timedelta(hours=12))
    assert info[OTHER_HOST]["expires_at"] == mh.iso_utc(now + datetime.timedelta(hours=6))
    assert {k: (v["region"], v["registry_id"], v["partition"], v["fips"], v["dual_stack"], v["username"])
            for k, v in info.items()} == {
        ECR_HOST: ("eu-west-1", ECR_ACCOUNT, "aws", False, False, "AWS"),
        FIPS_HOST: ("us-east-1", ECR_ACCOUNT, "aws", True, False, "AWS"),
        CN_HOST: ("cn-north-1", "210987654321", "aws-cn", False, False, "AWS"),
        DUAL_HOST: ("us-east-2", ECR_ACCOUNT, "aws", False, True, "AWS"),
        EAST2_HOST: ("us-east-2", ECR_ACCOUNT, "aws", False, False, "AWS"),
        OTHER_HOST: ("eu-west-1", "333333333333", "aws", False, False, "AWS"),
    }
    # One call per account and region, each to the endpoint botocore derives from the host: FIPS for
    # the FIPS host, China's domain, and dual-stack for us-east-2 (two hosts there, one call).
    calls = moto.calls(mark, "GetAuthorizationToken")
    assert sorted((c.region, tuple(c.registry_ids), c.host) for c in calls) == sorted([
        ("eu-west-1", (ECR_ACCOUNT,), "api.ecr.eu-west-1.amazonaws.com"),
        ("us-east-1", (ECR_ACCOUNT,), "api.ecr-fips.us-east-1.amazonaws.com"),
        ("cn-north-1", ("210987654321",), "api.ecr.cn-north-1.amazonaws.com.cn"),
        ("us-east-2", (ECR_ACCOUNT,), "ecr.us-east-2.api.aws"),
        ("eu-west-1", ("333333333333",), "api.ecr.eu-west-1.amazonaws.com"),
    ])
    assert all(status == 200 for _host, status in aws_proxy.hosts(proxied))
    # The docker_auth_config filter takes the result and the list form alike.
    expected = json.dumps({"auths": ecr["auths"]}, separators=(",", ":"), sort_keys=True)
    assert kept["from_result"] == kept["from_list"] == expected
    # The task's output is censored by the action plugin; register kept everything.
    shown = run.result("Get the tokens")
    assert sorted(shown) == ["_ansible_no_log", "censored", "changed", "warnings"]
    assert shown["censored"].startswith("the output has been hidden") and shown["warnings"] == ecr["warnings"]
    mh.assert_hidden(run, mh.secret_forms("token-of-123") | mh.secret_forms("token-of-333"))


def test_endpoint_url_role_and_renewal_window(moto, aws_proxy, aws_env, run_playbook, tmp_path):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    moto.set_ecr_token(ECR_ACCOUNT, "role-token", now + datetime.timedelta(hours=12))
    out = tmp_path / "out.json"
    mark = moto.mark()
    playbook = textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          module_defaults:
            runnerkit.gitlab_runner.ecr_authorization:
              registries: ["{{ host }}"]
              endpoint_url: "{{ endpoint }}"
              renew_before: 3h
          tasks:
            - name: Through an assumed role and the endpoint URL
              runnerkit.gitlab_runner.ecr_authorization:
                role_arn: arn:aws:iam::123456789012:role/ecr-pull
              register: by_role
            - name: Tokens in use for 10 more hours
              runnerkit.gitlab_runner.ecr_authorization:
                current_expires_at: "{{ {host: later} }}"
              register: fresh
            - name: Tokens in use for 1 more hour
              runnerkit.gitlab_runner.ecr_authorization:
                current_expires_at: "{{ {host: {'expires_at': soon}} }}"
              register: due
        """) + mh.KEEP_RESULTS_TASK % "{'by_role': '{{ by_role }}', 'fresh': '{{ fresh }}', 'due': '{{ due }}'}"
    run = run_playbook(playbook, {"host": ECR_HOST, "endpoint": moto.url, "out": str(out),
                                  "later": mh.iso_utc(now + datetime.timedelta(hours=10)),
                                  "soon": mh.iso_utc(now + datetime.timedelta(hours=1))}, env=aws_env)
    assert run.rc == 0, run.output
    kept = json.loads(out.read_text())
    by_role, fresh, due = kept["by_role"], kept["fresh"], kept["due"]
    assert by_role["auths"] == {ECR_HOST: {"auth": mh.token_auth("role-token")}}
    assert by_role["renewed"] is True and by_role["reason"] == "no current expiry for %s" % ECR_HOST
    assert by_role["renew_after"] == mh.iso_utc(now + datetime.timedelta(hours=9))
    # STS under its regional name (through the proxy), then ECR at endpoint_url with the role's keys.
    calls = [c for c in moto.calls(mark) if c.action]
    assert [(c.service, c.action, c.host) for c in calls] == [
        ("sts", "AssumeRole", "sts.eu-west-1.amazonaws.com"),
        ("ecr", "GetAuthorizationToken", "127.0.0.1:%d" % moto.port),
        ("ecr", "GetAuthorizationToken", "127.0.0.1:%d" % moto.port),
    ]
    assert calls[0].access_key == "testing" and calls[1].access_key.startswith("ASIA")
    # Inside the window: no call, no tokens; near expiry: renewed.
    assert (fresh["renewed"], fresh["calls"], fresh["auths"], fresh["docker_config_registries"]) == (False, 0, {}, [])
    assert fresh["expires_at"] == mh.iso_utc(now + datetime.timedelta(hours=10))
    assert fresh["registries"][ECR_HOST]["expires_at"] == fresh["expires_at"]
    assert fresh["reason"] == "the current tokens are valid until %s" % fresh["expires_at"]
    assert due["renewed"] is True and due["auths"] == by_role["auths"]
    assert due["reason"].startswith("the current tokens expire at %s, within 10800s" % mh.iso_utc(now + datetime.timedelta(hours=1)))
    mh.assert_hidden(run, mh.secret_forms("role-token"))


def test_errors_name_the_registry_and_stay_visible(moto, aws_proxy, aws_certs, run_playbook, tmp_path):
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto.url, verify=aws_certs.ca_file,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    iam.create_user(UserName="no-ecr")
    key = iam.create_access_key(UserName="no-ecr")["AccessKey"]
    closed = reg.free_port()
    wrong_region = "%s.dkr.ecr.eu-west-9.amazonaws.com" % ECR_ACCOUNT
    moto.enforce_iam(True)
    try:
        run = run_playbook(textwrap.dedent("""\
            - hosts: localhost
              gather_facts: false
              tasks:
                - name: No credentials anywhere
                  runnerkit.gitlab_runner.ecr_authorization:
                    registries: ["{{ host }}"]
                  ignore_errors: true
                - name: An identity without ecr:GetAuthorizationToken
                  runnerkit.gitlab_runner.ecr_authorization:
                    registries: ["{{ host }}"]
                    access_key: "{{ key_id }}"
                    secret_key: "{{ key_secret }}"
                  ignore_errors: true
                - name: The same identity may not assume the role
                  runnerkit.gitlab_runner.ecr_authorization:
                    registries: ["{{ host }}"]
                    access_key: "{{ key_id }}"
                    secret_key: "{{ key_secret }}"
                    role_arn: arn:aws:iam::123456789012:role/ecr-pull
                  ignore_errors: true
                - name: Keys AWS does not know
                  runnerkit.gitlab_runner.ecr_authorization:
                    registries: ["{{ host }}"]
                    access_key: AKIAIOSFODNN7EXAMPLE
                    secret_key: "{{ bogus_secret }}"
                  ignore_errors: true
                - name: A region that does not exist
                  runnerkit.gitlab_runner.ecr_authorization:
                    registries: ["{{ wrong_region }}"]
                    access_key: "{{ key_id }}"
                    secret_key: "{{ key_secret }}"
                  ignore_errors: true
                - name: An endpoint nobody listens on
                  runnerkit.gitlab_runner.ecr_authorization:
                    registries: ["{{ host }}"]
                    endpoint_url: "https://127.0.0.1:{{ closed }}"
                    access_key: "{{ key_id }}"
                    secret_key: "{{ key_secret }}"
                  ignore_errors: true
                - name: A CA bundle without the endpoint's CA
                  runnerkit.gitlab_runner.ecr_authorization:
                    registries: ["{{ host }}"]
                    endpoint_url: "{{ endpoint }}"
                    aws_ca_bundle: "{{ system_bundle }}"
                    access_key: "{{ key_id }}"
                    secret_key: "{{ key_secret }}"
                  ignore_errors: true
                - name: Not an ECR host
                  runnerkit.gitlab_runner.ecr_authorization:
                    registries: [docker.io, "{{ host }}"]
                  ignore_errors: true
            """), {"host": ECR_HOST, "key_id": key["AccessKeyId"], "key_secret": key["SecretAccessKey"],
                   "wrong_region": wrong_region, "closed": closed, "endpoint": moto.url,
                   "bogus_secret": "not-a-secret-anyone-knows", "system_bundle": SYSTEM_CA_BUNDLE},
            env=mh.boto_env(aws_certs.ca_file, aws_proxy.url, credentials=None))
    finally:
        moto.enforce_iam(False)
    assert run.rc == 0, run.output

    def msg(task):
        assert run.status(task) == "failed", run.output
        return run.result(task)["msg"]

    assert msg("No credentials anywhere") == (
        "GetAuthorizationToken for %s failed: no AWS credentials found. Give access_key and secret_key, a profile or "
        "a role_arn, or run where the AWS SDK finds credentials (AWS_* environment variables, ~/.aws/credentials, an "
        "instance profile or web identity)" % ECR_HOST)
    # moto answers this JSON-protocol call with an XML error body (AWS: AccessDeniedException in JSON);
    # the code and message are read from it all the same.
    assert msg("An identity without ecr:GetAuthorizationToken") == (
        "GetAuthorizationToken for %s failed: access denied (AccessDenied: User: arn:aws:iam::123456789012:user/no-ecr "
        "is not authorized to perform: ecr:GetAuthorizationToken). The AWS identity needs ecr:GetAuthorizationToken"
        % ECR_HOST)
    role = msg("The same identity may not assume the role")
    assert role.startswith("assuming role arn:aws:iam::123456789012:role/ecr-pull (STS, eu-west-1) for %s failed: "
                           "access denied (AccessDenied: " % ECR_HOST)
    assert "needs sts:AssumeRole on that role" in role
    assert msg("Keys AWS does not know").startswith(
        "GetAuthorizationToken for %s failed: AWS rejected the credentials (" % ECR_HOST)
    assert "or region eu-west-1 (taken from the host) is not enabled" in msg("Keys AWS does not know")
    region = msg("A region that does not exist")
    assert region.startswith("GetAuthorizationToken for %s failed: " % wrong_region)
    assert region.endswith("Region eu-west-9 taken from the host is not a region this botocore knows for ecr; "
                           "check the host for a wrong region")
    unreachable = msg("An endpoint nobody listens on")
    assert unreachable.startswith("GetAuthorizationToken for %s failed: the endpoint is unreachable (Could not "
                                  "connect to the endpoint URL: \"https://127.0.0.1:%d/\")" % (ECR_HOST, closed))
    tls = msg("A CA bundle without the endpoint's CA")
    assert tls.startswith("GetAuthorizationToken for %s failed: TLS verification of the endpoint failed (" % ECR_HOST)
    assert "CERTIFICATE_VERIFY_FAILED" in tls and tls.endswith("Give aws_ca_bundle (or AWS_CA_BUNDLE) when a proxy "
                                                               "or VPC endpoint presents a private CA")
    assert msg("Not an ECR host").startswith("registry 'docker.io' is not an Amazon ECR registry host: expected "
                                             "<12-digit account id>.dkr.ecr.<region>.amazonaws.com")
    # Failures are not censored: the reason is in the -vvv output too; the secret keys are not (a literal
    # in the playbook would be: ansible-core 2.19 shows the task's source lines with an error).
    assert "no AWS credentials found" in run.output and "access denied (AccessDenied: User" in run.output
    assert key["SecretAccessKey"] not in run.output and "not-a-secret-anyone-knows" not in run.output
