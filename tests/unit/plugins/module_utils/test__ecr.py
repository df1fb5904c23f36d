# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_ecr: ECR host forms, durations and times, the renewal decision, tokens through botocore's Stubber,
and botocore errors turned into messages that name the registry."""

from __future__ import annotations

import base64
import datetime
import json

import boto3
import botocore.exceptions as bx
import pytest
from botocore.stub import Stubber

from ansible.module_utils.testing import patch_module_args

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _ecr as ecr
from ansible_collections.runnerkit.gitlab_runner.plugins.modules import ecr_authorization

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
ID = "123456789012"


def token(password, user="AWS"):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


# ----------------------------------------------------------------------------------- host forms

# Every form of reference §3.2 (helper 0.6.0 ... 0.12.0): key, service, id, region, partition, fips, dual-stack.
@pytest.mark.parametrize("host, expected", [
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com",
     ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ecr", ID, "eu-west-1", "aws", False, False)),
    ("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
     ("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", "ecr", ID, "us-east-1", "aws", True, False)),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
     ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "ecr", ID, "cn-north-1", "aws-cn", False, False)),
    ("123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn",
     ("123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn", "ecr", ID, "cn-northwest-1", "aws-cn", False, False)),
    ("123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
     ("123456789012.dkr.ecr.us-gov-west-1.amazonaws.com", "ecr", ID, "us-gov-west-1", "aws-us-gov", False, False)),
    ("123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com",
     ("123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com", "ecr", ID, "us-gov-east-1", "aws-us-gov", True,
      False)),
    ("123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
     ("123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", "ecr", ID, "us-iso-east-1", "aws-iso", False, False)),
    ("123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
     ("123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", "ecr", ID, "us-isob-east-1", "aws-iso-b", False, False)),
    ("123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
     ("123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", "ecr", ID, "eu-isoe-west-1", "aws-iso-e", False, False)),
    ("123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
     ("123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", "ecr", ID, "us-isof-south-1", "aws-iso-f", False,
      False)),
    ("123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
     ("123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", "ecr", ID, "eusc-de-east-1", "aws-eusc", False, False)),
    # dual-stack (0.10.0+): dkr-ecr separator and the on.aws domains
    ("123456789012.dkr-ecr.eu-west-1.on.aws",
     ("123456789012.dkr-ecr.eu-west-1.on.aws", "ecr", ID, "eu-west-1", "aws", False, True)),
    ("123456789012.dkr-ecr-fips.us-east-1.on.aws",
     ("123456789012.dkr-ecr-fips.us-east-1.on.aws", "ecr", ID, "us-east-1", "aws", True, True)),
    ("123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
     ("123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn", "ecr", ID, "cn-north-1", "aws-cn", False,
      True)),
    ("123456789012.dkr-ecr.us-gov-west-1.on.aws",
     ("123456789012.dkr-ecr.us-gov-west-1.on.aws", "ecr", ID, "us-gov-west-1", "aws-us-gov", False, True)),
    # ECR Public and its dual-stack host (0.12.0)
    ("public.ecr.aws", ("public.ecr.aws", "ecr-public", None, "us-east-1", "aws", False, False)),
    ("ecr-public.aws.com", ("ecr-public.aws.com", "ecr-public", None, "us-east-1", "aws", False, True)),
    # what clients write around a host
    ("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
     ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ecr", ID, "eu-west-1", "aws", False, False)),
    ("HTTPS://123456789012.DKR.ECR.EU-WEST-1.AMAZONAWS.COM/v2/",
     ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ecr", ID, "eu-west-1", "aws", False, False)),
    ("  123456789012.dkr.ecr.eu-west-1.amazonaws.com:443 ",
     ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ecr", ID, "eu-west-1", "aws", False, False)),
    ("https://public.ecr.aws/", ("public.ecr.aws", "ecr-public", None, "us-east-1", "aws", False, False)),
])
def test_host_forms(host, expected):
    assert tuple(ecr.parse_registry(host)) == expected


@pytest.mark.parametrize("value, message", [
    ("docker.io", "registry 'docker.io' is not an Amazon ECR registry host"),
    ("12345678901.dkr.ecr.eu-west-1.amazonaws.com", "is not an Amazon ECR registry host"),  # 11 digits
    ("abc.dkr.ecr.eu-west-1.amazonaws.com", "is not an Amazon ECR registry host"),  # 0.6.0 took any label
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example", "is not an Amazon ECR registry host"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com:5000", "is not an Amazon ECR registry host"),
    ("123456789012.ecr.eu-west-1.amazonaws.com", "is not an Amazon ECR registry host"),
    ("123456789012.dkr.ecr.amazonaws.com", "is not an Amazon ECR registry host"),
    ("*.dkr.ecr.eu-west-1.amazonaws.com", "is not an Amazon ECR registry host"),
    ("gallery.ecr.aws", "is not an Amazon ECR registry host"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app",
     "ECR tokens are per registry, give the host only (for an image reference use the "
     "runnerkit.gitlab_runner.image_registry filter)"),
    ("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/team", "give the registry host only, without a path"),
    ("http://123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ECR is only served over https"),
    ("", "is empty or not a string"),
    (None, "is empty or not a string"),
    (42, "is empty or not a string"),
])
def test_not_ecr_hosts(value, message):
    with pytest.raises(ecr.ECRError) as caught:
        ecr.parse_registry(value)
    assert message in str(caught.value)


def test_registries_deduplicated_and_partition_mismatch_warned():
    registries, warnings = ecr.parse_registries([
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "123456789012.dkr.ecr.cn-north-1.amazonaws.com"])
    assert [r.partition for r in registries] == ["aws", "aws"]
    assert warnings == ["registry '123456789012.dkr.ecr.cn-north-1.amazonaws.com': region cn-north-1 belongs to "
                        "partition aws-cn, but the host's domain belongs to aws; check the host (the ECR console "
                        "shows the registry URI)"]
    with pytest.raises(ecr.ECRError, match="'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com' and "
                                           "'123456789012.dkr.ecr.eu-west-1.amazonaws.com' are the same registry"):
        ecr.parse_registries(["https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                              "123456789012.dkr.ecr.eu-west-1.amazonaws.com"])
    with pytest.raises(ecr.ECRError, match="give at least one"):
        ecr.parse_registries([])


def test_one_call_per_account_and_region_with_the_strongest_endpoint_variant():
    registries, _warnings = ecr.parse_registries([
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "210987654321.dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
        "123456789012.dkr-ecr.us-east-1.on.aws",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "public.ecr.aws",
        "ecr-public.aws.com",
    ])
    groups = ecr.request_groups(registries)
    assert [(key, fips, dual, [r.key for r in members]) for key, (fips, dual, members) in groups.items()] == [
        (("ecr", ID, "us-east-1"), True, True, ["123456789012.dkr.ecr.us-east-1.amazonaws.com",
                                                "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
                                                "123456789012.dkr-ecr.us-east-1.on.aws"]),
        (("ecr", "210987654321", "us-east-1"), False, False, ["210987654321.dkr.ecr.us-east-1.amazonaws.com"]),
        (("ecr", ID, "eu-west-1"), False, False, ["123456789012.dkr.ecr.eu-west-1.amazonaws.com"]),
        (("ecr-public", None, "us-east-1"), False, True, ["public.ecr.aws", "ecr-public.aws.com"]),
    ]


# ----------------------------------------------------------------------------------- times


@pytest.mark.parametrize("value, seconds", [
    ("3h", 10800), ("90m", 5400), ("1h30m", 5400), ("1d", 86400), ("45s", 45), ("600", 600), (600, 600),
    ("2d 3h", 183600), ("0", 0), (" 3h ", 10800),
])
def test_durations(value, seconds):
    assert ecr.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "3 hours", "h", "-1h", "1.5h", "3x", True, None, -5])
def test_bad_durations(value):
    with pytest.raises(ecr.ECRError, match="renew_before"):
        ecr.parse_duration(value)


@pytest.mark.parametrize("value, expected", [
    ("2026-11-25T22:00:00Z", "2026-11-25T22:00:00Z"),
    ("2026-11-25T23:00:00+01:00", "2026-11-25T22:00:00Z"),
    ("2026-11-25T22:00:00.123456+00:00", "2026-11-25T22:00:00Z"),
    ("2026-11-25T22:00:00", "2026-11-25T22:00:00Z"),  # naive: UTC
    (1795644000, "2026-11-25T22:00:00Z"),
    (1795644000.5, "2026-11-25T22:00:00Z"),
    (datetime.datetime(2026, 11, 25, 22, 0, tzinfo=UTC), "2026-11-25T22:00:00Z"),
    (datetime.datetime(2026, 11, 25, 23, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
     "2026-11-25T22:00:00Z"),
])
def test_times(value, expected):
    assert ecr.format_time(value) == expected


def test_bad_time():
    with pytest.raises(ecr.ECRError, match="is not an ISO 8601 time"):
        ecr.to_utc("tomorrow")


def test_renewal_decision():
    registries, _w = ecr.parse_registries(["123456789012.dkr.ecr.eu-west-1.amazonaws.com", "public.ecr.aws"])
    hours = datetime.timedelta(hours=1)
    later = {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": ecr.format_time(NOW + 10 * hours),
             "https://public.ecr.aws": {"expires_at": ecr.format_time(NOW + 5 * hours)},
             "999999999999.dkr.ecr.eu-west-1.amazonaws.com": ecr.format_time(NOW)}  # not asked for: ignored
    assert ecr.renewal(registries, later, None, NOW) == (True, "no renew_before given", None)
    assert ecr.renewal(registries, later, 3 * 3600, NOW) == (
        False, "the current tokens are valid until 2026-11-25T15:00:00Z", NOW + 5 * hours)
    assert ecr.renewal(registries, later, 5 * 3600, NOW)[:2] == (
        True, "the current tokens expire at 2026-11-25T15:00:00Z, within 18000s of now")
    partial = {"public.ecr.aws": ecr.format_time(NOW + 10 * hours)}
    assert ecr.renewal(registries, partial, 3600, NOW)[:2] == (
        True, "no current expiry for 123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    assert ecr.renewal(registries, {}, 3600, NOW) == (
        True, "no current expiry for 123456789012.dkr.ecr.eu-west-1.amazonaws.com, public.ecr.aws", None)
    with pytest.raises(ecr.ECRError, match=r"current_expires_at\[public.ecr.aws\]: 'soon' is not an ISO 8601"):
        ecr.renewal(registries, {"public.ecr.aws": "soon"}, 3600, NOW)


# ----------------------------------------------------------------------------------- tokens (Stubber)


def stubbed(responses):
    """A client_factory whose clients answer from `responses`: {(service, region): [("ok"|"error", ...)]}."""
    made = []

    def factory(session, registry, options):
        client = session.client(registry.service, region_name=registry.region,
                                config=ecr.client_config(registry.fips, registry.dual_stack))
        stub = Stubber(client)
        for kind, *args in responses[(registry.service, registry.region)]:
            if kind == "ok":
                stub.add_response("get_authorization_token", *args)
            else:
                stub.add_client_error("get_authorization_token", **args[0])
        stub.activate()
        made.append((registry.key, registry.fips, registry.dual_stack, client.meta.endpoint_url))
        return client

    factory.made = made
    return factory


SESSION = boto3.session.Session(aws_access_key_id="AKIAUNITTEST", aws_secret_access_key="unit-secret",
                                region_name="eu-west-1")
OPTIONS = ecr.connection_options({})


def test_tokens_for_private_and_public_registries():
    registries, _w = ecr.parse_registries([
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "123456789012.dkr-ecr.eu-west-1.on.aws", "public.ecr.aws"])
    factory = stubbed({
        ("ecr", "eu-west-1"): [("ok", {"authorizationData": [{
            "authorizationToken": token("private-token"), "expiresAt": NOW + datetime.timedelta(hours=12),
            "proxyEndpoint": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"}]},
            {"registryIds": [ID]})],
        ("ecr-public", "us-east-1"): [("ok", {"authorizationData": {
            "authorizationToken": token("public-token"), "expiresAt": NOW + datetime.timedelta(hours=1)}}, {})],
    })
    result = ecr.fetch_tokens(registries, OPTIONS, session=SESSION, client_factory=factory, now=NOW)
    assert result["auths"] == {
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com": {"auth": token("private-token")},
        "123456789012.dkr-ecr.eu-west-1.on.aws": {"auth": token("private-token")},
        "public.ecr.aws": {"auth": token("public-token")},
    }
    assert result["calls"] == 2 and result["expires_at"] == "2026-11-25T11:00:00Z"
    assert result["registries"]["public.ecr.aws"] == dict(
        service="ecr-public", registry_id=None, region="us-east-1", partition="aws", fips=False, dual_stack=False,
        username="AWS", expires_at="2026-11-25T11:00:00Z", proxy_endpoint=None, expires_in=3600)
    assert result["registries"]["123456789012.dkr-ecr.eu-west-1.on.aws"]["expires_in"] == 43200
    # The shared call went to the dual-stack endpoint (one of its hosts is dual-stack).
    assert factory.made == [("123456789012.dkr.ecr.eu-west-1.amazonaws.com", False, True,
                             "https://ecr.eu-west-1.api.aws"),
                            ("public.ecr.aws", False, False, "https://api.ecr-public.us-east-1.amazonaws.com")]
    assert ecr.expiry_warnings(result, 3 * 3600, NOW) == [
        "the token ECR returned for public.ecr.aws expires at 2026-11-25T11:00:00Z, within renew_before (10800s): "
        "every run will renew it; lower renew_before below the token lifetime"]
    assert ecr.expiry_warnings(result, 1800, NOW + datetime.timedelta(hours=2)) == [
        "the token ECR returned for public.ecr.aws already expired at 2026-11-25T11:00:00Z; check the clock of the "
        "host that ran the request"]


def test_bad_or_missing_token():
    registries, _w = ecr.parse_registries(["123456789012.dkr.ecr.eu-west-1.amazonaws.com"])
    bad = base64.b64encode(b"no-colon-here").decode()
    factory = stubbed({("ecr", "eu-west-1"): [("ok", {"authorizationData": [
        {"authorizationToken": bad, "expiresAt": NOW, "proxyEndpoint": "https://x"}]}, {"registryIds": [ID]})]})
    with pytest.raises(ecr.ECRError) as caught:
        ecr.fetch_tokens(registries, OPTIONS, session=SESSION, client_factory=factory, now=NOW)
    assert str(caught.value) == ("GetAuthorizationToken for 123456789012.dkr.ecr.eu-west-1.amazonaws.com returned a "
                                 "token that must decode to 'user:password' with a non-empty user")
    assert bad not in str(caught.value)
    factory = stubbed({("ecr", "eu-west-1"): [("ok", {"authorizationData": []}, {"registryIds": [ID]})]})
    with pytest.raises(ecr.ECRError, match="failed: ValueError: the response carries no authorization token"):
        ecr.fetch_tokens(registries, OPTIONS, session=SESSION, client_factory=factory, now=NOW)


HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.mark.parametrize("error, message", [
    (dict(service_error_code="AccessDeniedException", http_status_code=400,
          service_message="User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
                          "ecr:GetAuthorizationToken"),
     "GetAuthorizationToken for %s failed: access denied (AccessDeniedException: User: arn:aws:iam::123456789012:user/"
     "ci is not authorized to perform: ecr:GetAuthorizationToken). The AWS identity needs ecr:GetAuthorizationToken"
     % HOST),
    (dict(service_error_code="UnrecognizedClientException", http_status_code=400,
          service_message="The security token included in the request is invalid."),
     "GetAuthorizationToken for %s failed: AWS rejected the credentials (UnrecognizedClientException: The security "
     "token included in the request is invalid.). Either the access key or secret is wrong, or region eu-west-1 "
     "(taken from the host) is not enabled for this account or is the wrong region for these credentials" % HOST),
    (dict(service_error_code="ExpiredTokenException", http_status_code=400,
          service_message="The security token included in the request is expired"),
     "GetAuthorizationToken for %s failed: the AWS credentials have expired (ExpiredTokenException: The security "
     "token included in the request is expired)" % HOST),
    (dict(service_error_code="InvalidParameterException", http_status_code=400,
          service_message="Invalid parameter at 'registryIds' failed to satisfy constraint"),
     "GetAuthorizationToken for %s failed: InvalidParameterException: Invalid parameter at 'registryIds' failed to "
     "satisfy constraint" % HOST),
    (dict(service_error_code="ServerException", http_status_code=500, service_message=""),
     "GetAuthorizationToken for %s failed: ServerException: HTTP 500" % HOST),
    (dict(service_error_code="403", http_status_code=403,
          service_message='<?xml version="1.0"?><ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>'
                          'nope</Message></Error></Errors></ErrorResponse>'),
     "GetAuthorizationToken for %s failed: access denied (AccessDenied: nope). The AWS identity needs "
     "ecr:GetAuthorizationToken" % HOST),
    (dict(service_error_code="403", http_status_code=403, service_message="<html><body>Forbidden</body></html>"),
     "GetAuthorizationToken for %s failed: access denied (HTTP 403: unexpected response body). The AWS identity "
     "needs ecr:GetAuthorizationToken" % HOST),
])
def test_client_errors_through_the_api(error, message):
    registries, _w = ecr.parse_registries([HOST])
    factory = stubbed({("ecr", "eu-west-1"): [("error", error)]})
    with pytest.raises(ecr.ECRError) as caught:
        ecr.fetch_tokens(registries, OPTIONS, session=SESSION, client_factory=factory, now=NOW)
    assert str(caught.value) == message


def _registries(*hosts):
    return ecr.parse_registries(list(hosts))[0]


@pytest.mark.parametrize("exc, registries, expected", [
    (bx.NoCredentialsError(), _registries(HOST),
     "GetAuthorizationToken for %s failed: no AWS credentials found. Give access_key and secret_key, a profile or a "
     "role_arn, or run where the AWS SDK finds credentials (AWS_* environment variables, ~/.aws/credentials, an "
     "instance profile or web identity)" % HOST),
    (bx.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), _registries(HOST),
     "GetAuthorizationToken for %s failed: incomplete AWS credentials (Partial credentials found in env, missing: "
     "AWS_SECRET_ACCESS_KEY)" % HOST),
    (bx.EndpointConnectionError(endpoint_url="https://api.ecr.eu-west-1.amazonaws.com/"), _registries(HOST),
     "GetAuthorizationToken for %s failed: the endpoint is unreachable (Could not connect to the endpoint URL: "
     "\"https://api.ecr.eu-west-1.amazonaws.com/\"). Check the network, the proxy settings (HTTPS_PROXY/NO_PROXY) "
     "and endpoint_url" % HOST),
    (bx.EndpointConnectionError(endpoint_url="https://api.ecr.eu-west-9.amazonaws.com/"),
     _registries("123456789012.dkr.ecr.eu-west-9.amazonaws.com"),
     "GetAuthorizationToken for 123456789012.dkr.ecr.eu-west-9.amazonaws.com failed: Could not connect to the "
     "endpoint URL: \"https://api.ecr.eu-west-9.amazonaws.com/\". Region eu-west-9 taken from the host is not a "
     "region this botocore knows for ecr; check the host for a wrong region"),
    (bx.ProxyConnectionError(proxy_url="http://proxy:3128", error="refused"), _registries(HOST),
     "GetAuthorizationToken for %s failed: the endpoint is unreachable (Failed to connect to proxy URL: "
     "\"http://proxy:3128\"). Check the network, the proxy settings (HTTPS_PROXY/NO_PROXY) and endpoint_url" % HOST),
    (bx.ConnectTimeoutError(endpoint_url="https://api.ecr.eu-west-1.amazonaws.com/"), _registries(HOST),
     "GetAuthorizationToken for %s failed: the endpoint is unreachable (Connect timeout on endpoint URL: "
     "\"https://api.ecr.eu-west-1.amazonaws.com/\"). Check the network, the proxy settings (HTTPS_PROXY/NO_PROXY) and "
     "endpoint_url" % HOST),
    (bx.ReadTimeoutError(endpoint_url="https://api.ecr.eu-west-1.amazonaws.com/"), _registries(HOST),
     "GetAuthorizationToken for %s failed: the endpoint did not answer in time (Read timeout on endpoint URL: "
     "\"https://api.ecr.eu-west-1.amazonaws.com/\"). Every attempt waits `timeout` seconds for an answer and "
     "`retries` attempts follow the first; raise them only for a slow endpoint" % HOST),
    (bx.SSLError(endpoint_url="https://vpce.example/", error="certificate verify failed"), _registries(HOST),
     "GetAuthorizationToken for %s failed: TLS verification of the endpoint failed (SSL validation failed for "
     "https://vpce.example/ certificate verify failed). Give aws_ca_bundle (or AWS_CA_BUNDLE) when a proxy or VPC "
     "endpoint presents a private CA" % HOST),
    (bx.InvalidRegionError(region_name="eu-west-"), _registries("123456789012.dkr.ecr.eu-west-.amazonaws.com"),
     "GetAuthorizationToken for 123456789012.dkr.ecr.eu-west-.amazonaws.com failed: region 'eu-west-' taken from the "
     "host is not a valid region name"),
    (bx.ProfileNotFound(profile="ecr"), _registries(HOST),
     "GetAuthorizationToken for %s failed: The config profile (ecr) could not be found" % HOST),
    (RuntimeError("boom"), _registries(HOST), "GetAuthorizationToken for %s failed: RuntimeError: boom" % HOST),
])
def test_error_messages(exc, registries, expected):
    assert ecr.describe_error(exc, registries, "GetAuthorizationToken") == expected


def test_access_denied_for_ecr_public_names_its_permissions():
    exc = bx.ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"},
                          "ResponseMetadata": {"HTTPStatusCode": 400}}, "GetAuthorizationToken")
    assert ecr.describe_error(exc, _registries("public.ecr.aws"), "GetAuthorizationToken").endswith(
        "needs ecr:GetAuthorizationToken (ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken for ECR "
        "Public)")


def test_real_botocore_without_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    registries, _w = ecr.parse_registries([HOST])
    options = ecr.connection_options({"endpoint_url": "https://127.0.0.1:9"})
    with pytest.raises(ecr.ECRError, match="failed: no AWS credentials found"):
        ecr.fetch_tokens(registries, options, now=NOW)
    with pytest.raises(ecr.ECRError, match="AWS profile 'nope' was not found"):
        ecr.fetch_tokens(registries, ecr.connection_options({"profile": "nope"}), now=NOW)


def test_real_botocore_unreachable_endpoint(monkeypatch):
    monkeypatch.setattr(ecr, "client_config", lambda *a, **k: ecr.sdk().Config(retries={"max_attempts": 1},
                                                                               connect_timeout=2))
    registries, _w = ecr.parse_registries([HOST])
    options = ecr.connection_options({"endpoint_url": "https://127.0.0.1:9", "access_key": "a", "secret_key": "b"})
    with pytest.raises(ecr.ECRError) as caught:
        ecr.fetch_tokens(registries, options, now=NOW)
    assert str(caught.value) == (
        "GetAuthorizationToken for %s failed: the endpoint is unreachable (Could not connect to the endpoint URL: "
        "\"https://127.0.0.1:9/\"). Check the network, the proxy settings (HTTPS_PROXY/NO_PROXY) and endpoint_url"
        % HOST)


def test_timeout_and_retries_bound_every_client():
    options = ecr.connection_options({"timeout": 3, "retries": 1, "access_key": "a", "secret_key": "b"})
    client = ecr.make_client(ecr.make_session(options), _registries(HOST)[0], options)
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (3, 3)
    assert config.retries["mode"] == "standard" and config.retries["total_max_attempts"] == 2
    defaults = ecr.connection_options({})
    assert (defaults.timeout, defaults.retries) == (ecr.DEFAULT_TIMEOUT, ecr.DEFAULT_RETRIES) == (10, 2)
    with pytest.raises(ecr.ECRError, match="timeout must be at least 1 second"):
        ecr.connection_options({"timeout": 0})
    with pytest.raises(ecr.ECRError, match="retries must not be negative"):
        ecr.connection_options({"retries": -1})


def test_endpoint_url_applies_to_private_ecr_only_and_drops_endpoint_variants():
    options = ecr.connection_options({"endpoint_url": "https://vpce.example", "access_key": "a", "secret_key": "b"})
    session = ecr.make_session(options)
    fips, public = _registries("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", "public.ecr.aws")
    client = ecr.make_client(session, fips, options)
    assert client.meta.endpoint_url == "https://vpce.example"
    assert client.meta.config.use_fips_endpoint is None
    client = ecr.make_client(session, public, options)
    assert client.meta.endpoint_url == "https://api.ecr-public.us-east-1.amazonaws.com"
    assert ecr.make_client(session, fips, ecr.connection_options({})).meta.config.use_fips_endpoint is True


# ----------------------------------------------------------------------------------- the module


def run_main(args, monkeypatch, factory=None):
    if factory is not None:
        monkeypatch.setattr(ecr, "make_client", factory)
        monkeypatch.setattr(ecr, "make_session", lambda options: SESSION)
    with patch_module_args(args), pytest.raises(SystemExit):
        ecr_authorization.main()


def test_module_result_and_skip(monkeypatch, capsys):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    factory = stubbed({("ecr", "eu-west-1"): [("ok", {"authorizationData": [{
        "authorizationToken": token("module-token"), "expiresAt": now + datetime.timedelta(hours=12),
        "proxyEndpoint": "https://%s" % HOST}]}, {"registryIds": [ID]})]})
    run_main({"registries": [HOST], "renew_before": "3h"}, monkeypatch, factory)
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] is False and result["renewed"] is True
    assert result["auths"] == {HOST: {"auth": token("module-token")}}  # returned, not masked
    assert result["docker_config_registries"] == [{"registry": HOST, "auth": token("module-token")}]
    assert result["renew_after"] == ecr.format_time(now + datetime.timedelta(hours=9))
    assert "warnings" not in result

    run_main({"registries": [HOST], "renew_before": "3h",
              "current_expires_at": result["registries"]}, monkeypatch, stubbed({}))
    again = json.loads(capsys.readouterr().out)
    assert (again["renewed"], again["calls"], again["auths"]) == (False, 0, {})
    assert again["expires_at"] == result["expires_at"]


def test_module_failures(monkeypatch, capsys):
    run_main({"registries": ["docker.io"]}, monkeypatch)
    failed = json.loads(capsys.readouterr().out)
    assert failed["failed"] is True and failed["msg"].startswith("registry 'docker.io' is not an Amazon ECR")
    run_main({"registries": [HOST], "renew_before": "soon"}, monkeypatch)
    assert "renew_before: 'soon' is not a duration" in json.loads(capsys.readouterr().out)["msg"]
    denied = dict(service_error_code="AccessDeniedException", service_message="denied", http_status_code=400)
    run_main({"registries": [HOST], "access_key": "AKIA", "secret_key": "very-secret-key"}, monkeypatch,
             stubbed({("ecr", "eu-west-1"): [("error", denied)]}))
    out = capsys.readouterr().out
    assert "access denied (AccessDeniedException: denied)" in json.loads(out)["msg"]
    assert "very-secret-key" not in out


# ------------------------------------------------------------------------------------ static tokens in use


def _token(expiration):
    return base64.b64encode(json.dumps({"payload": "x", "expiration": expiration}).encode()).decode()


@pytest.mark.parametrize("host, password, expiries, want", [
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", _token(1000 - 60), None,
     "static ECR token for 123456789012.dkr.ecr.eu-west-1.amazonaws.com expired at 1970-01-01T00:15:40Z; pulls fail "
     "until it is refreshed"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", _token(1000 + 600), None,
     "static ECR token for 123456789012.dkr.ecr.eu-west-1.amazonaws.com expires at 1970-01-01T00:26:40Z (in 10 min)"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", _token(1000 + 86400), None, None),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "opaque",
     {("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "opaque"): 990}, "expired at 1970-01-01T00:16:30Z"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "opaque", None, "their expiry cannot be read"),
    ("reg.example.com", _token(1000 - 60), None, None),  # not ECR: static_expiry_problem's job
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "", None, None),
])
def test_static_token_problem(host, password, expiries, want):
    problem = ecr.static_token_problem(host, password, 1000, expiries)
    assert (want in problem) if want else problem is None
