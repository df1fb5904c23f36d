# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Amazon ECR registry tokens: host parsing, boto3 clients, GetAuthorizationToken, expiry, errors.

Facts: shared/reference/docker-config-and-credential-helpers.md §3.2 (host forms, by helper
version) and §5 (the API and moto). Host parsing, durations, times and the renewal decision are
pure functions; only `fetch_tokens` and the client helpers touch boto3.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime
import json
import re

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as docker_auth

# ------------------------------------------------------------------------------------ host forms

# The union of every private-ECR form the helper accepts up to 0.12.0 (ecrPattern of
# ecr-login/api/client.go); the account id is 12 digits as since 0.8.0. `dkr-ecr` and the
# `on.aws` domains are the dual-stack forms.
PRIVATE_HOST = re.compile(
    r"^(?P<registry_id>[0-9]{12})\.dkr(?P<separator>[.-])ecr(?P<fips>-fips)?\."
    r"(?P<region>[a-z0-9][a-z0-9-]*)\."
    r"(?P<domain>amazonaws\.com(?:\.cn)?|amazonaws\.eu|on\.aws|on\.amazonwebservices\.com\.cn"
    r"|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$"
)
# ECR Public: the API lives in us-east-1 only; `ecr-public.aws.com` is its dual-stack host (0.12.0).
PUBLIC_HOSTS = {"public.ecr.aws": False, "ecr-public.aws.com": True}
PUBLIC_REGION = "us-east-1"
# Paths clients put after a scheme; they carry no meaning for a registry key.
IGNORED_PATHS = ("", "/", "/v1", "/v1/", "/v2", "/v2/")

# Partition of each domain; `amazonaws.com` and `on.aws` also serve GovCloud (told by the region).
DOMAIN_PARTITION = {
    "amazonaws.com": "aws",
    "on.aws": "aws",
    "amazonaws.com.cn": "aws-cn",
    "on.amazonwebservices.com.cn": "aws-cn",
    "amazonaws.eu": "aws-eusc",
    "c2s.ic.gov": "aws-iso",
    "sc2s.sgov.gov": "aws-iso-b",
    "cloud.adc-e.uk": "aws-iso-e",
    "csp.hci.ic.gov": "aws-iso-f",
}
# Region prefixes that belong to another partition than `aws` (longest first).
REGION_PARTITION = (
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-iso-", "aws-iso"),
    ("eusc-", "aws-eusc"),
    ("cn-", "aws-cn"),
)

Registry = collections.namedtuple(
    "Registry", "key service registry_id region partition fips dual_stack")
Registry.__doc__ = """One ECR registry as named by a host.

key: the registry key to write (lower-case host, no scheme); service: `ecr` or `ecr-public`;
registry_id: the 12-digit account id (None for ECR Public); region: the API region;
partition: aws, aws-cn, aws-us-gov, ...; fips / dual_stack: which API endpoint variant to use.
"""


class ECRError(Exception):
    """Anything that keeps a token from being returned; the message names the registry."""


def region_partition(region):
    for prefix, partition in REGION_PARTITION:
        if region.startswith(prefix):
            return partition
    return "aws"


def _host_of(value):
    """The host part of a registry given as host, https://host or https://host/v2/."""
    if not isinstance(value, str) or not value.strip():
        raise ECRError("registry %r is empty or not a string" % (value,))
    text = value.strip()
    lowered = text.lower()
    if lowered.startswith("http://"):
        raise ECRError("registry '%s': ECR is only served over https; give the host without a scheme" % text)
    if lowered.startswith("https://"):
        text = text[len("https://"):]
        host, slash, path = text.partition("/")
        if (slash + path) not in IGNORED_PATHS:
            raise ECRError("registry '%s': give the registry host only, without a path" % value.strip())
        text = host
    elif "/" in text:
        raise ECRError("registry '%s': ECR tokens are per registry, give the host only (for an image reference "
                       "use the runnerkit.gitlab_runner.image_registry filter)" % text)
    host = text.lower()
    if host.endswith(":443"):
        host = host[:-len(":443")]
    return host


def parse_registry(value):
    """Parse an ECR registry host (any form of reference §3.2) into a Registry; ECRError if it is not one."""
    host = _host_of(value)
    if host in PUBLIC_HOSTS:
        return Registry(host, "ecr-public", None, PUBLIC_REGION, "aws", False, PUBLIC_HOSTS[host])
    match = PRIVATE_HOST.match(host)
    if not match:
        raise ECRError(
            "registry '%s' is not an Amazon ECR registry host: expected <12-digit account id>.dkr.ecr.<region>."
            "amazonaws.com (also .amazonaws.com.cn, -fips, dual-stack <id>.dkr-ecr.<region>.on.aws and the other "
            "AWS partitions) or public.ecr.aws" % value.strip())
    domain, region = match.group("domain"), match.group("region")
    partition = DOMAIN_PARTITION[domain]
    if partition == "aws" and region_partition(region) == "aws-us-gov":
        partition = "aws-us-gov"  # GovCloud shares the commercial domains
    dual_stack = match.group("separator") == "-" or domain in ("on.aws", "on.amazonwebservices.com.cn")
    return Registry(host, "ecr", match.group("registry_id"), region, partition, bool(match.group("fips")), dual_stack)


def host_warnings(registry):
    """Hosts the helper and the API accept but that are probably not what the user meant."""
    if registry.service != "ecr":
        return []
    expected = region_partition(registry.region)
    if expected != registry.partition:
        return ["registry '%s': region %s belongs to partition %s, but the host's domain belongs to %s; check the "
                "host (the ECR console shows the registry URI)"
                % (registry.key, registry.region, expected, registry.partition)]
    return []


def parse_registries(values):
    """Parse and de-duplicate a list of registries: ([Registry], warnings). Duplicates are refused."""
    if not values:
        raise ECRError("registries: give at least one ECR registry host")
    seen, registries, warnings = {}, [], []
    for value in values:
        registry = parse_registry(value)
        if registry.key in seen:
            raise ECRError("registries: '%s' and '%s' are the same registry '%s'"
                           % (seen[registry.key], value, registry.key))
        seen[registry.key] = value
        registries.append(registry)
        warnings.extend(host_warnings(registry))
    return registries, warnings


def request_groups(registries):
    """One GetAuthorizationToken call per (service, account, region), in first-seen order.

    Returns an ordered mapping {(service, registry_id, region): (fips, dual_stack, [Registry, ...])}.
    A token is valid for the registry whichever API endpoint issued it, so hosts of one account and
    region share a call; it goes to the FIPS endpoint if any of them names FIPS, and to the
    dual-stack endpoint if any of them is dual-stack (which also serves IPv4).
    """
    groups = collections.OrderedDict()
    for registry in registries:
        key = (registry.service, registry.registry_id, registry.region)
        fips, dual_stack, members = groups.get(key, (False, False, []))
        groups[key] = (fips or registry.fips, dual_stack or registry.dual_stack, members + [registry])
    return groups


# ------------------------------------------------------------------------------------ times

UTC = datetime.timezone.utc
DURATION = re.compile(r"^\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s?)?\s*$")


def parse_duration(value, where="renew_before"):
    """Seconds of a duration: an int (seconds), '90', '45m', '3h', '1d', '1h30m'. ECRError otherwise."""
    if isinstance(value, bool):
        raise ECRError("%s: %r is not a duration" % (where, value))
    if isinstance(value, int):
        seconds = value
    else:
        match = DURATION.match(str(value)) if value is not None else None
        if not match or not any(match.groupdict().values()):
            raise ECRError("%s: %r is not a duration such as 3h, 90m, 1h30m or 10800 (seconds)" % (where, value))
        parts = {k: int(v or 0) for k, v in match.groupdict().items()}
        seconds = parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    if seconds < 0:
        raise ECRError("%s: %r must not be negative" % (where, value))
    return seconds


def to_utc(value):
    """An aware UTC datetime from a datetime (naive = UTC), epoch seconds or an ISO 8601 string."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ECRError("%r is not an ISO 8601 time such as 2026-11-25T22:00:00Z" % value)
        return to_utc(parsed)
    raise ECRError("%r is not a time" % (value,))


def format_time(value):
    """ISO 8601 in UTC with a Z, to the second: 2026-11-25T22:00:00Z."""
    return to_utc(value).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now():
    return datetime.datetime.now(UTC)


# ------------------------------------------------------------------------------------ static tokens in use

# Any registry the audit treats as ECR for token expiry (looser than PRIVATE_HOST: a near-miss host still
# carries a 12-hour token).
ECR_HOST = re.compile(r"^[0-9a-z]+\.dkr[.-]ecr(-fips)?\.[a-z0-9-]+\.", re.IGNORECASE)
ECR_WARN_SECONDS = 2 * 3600


def _token_expiration(password):
    """The `expiration` (epoch seconds) inside an ECR token, or None."""
    try:
        padded = password + "=" * (-len(password) % 4)
        data = json.loads(base64.b64decode(padded.encode("ascii")).decode("utf-8"))
        return float(data["expiration"]) if isinstance(data, dict) else None
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
        return None


def static_token_problem(host, password, now, expiries=None):
    """Expired or soon-expiring static ECR tokens (a password in `auths`), or None.

    The expiry comes from `expiries` ({(host, password): epoch seconds}, e.g. from the state file of
    rotate_ecr_auth.yml) or from the token itself (an ECR password is base64 JSON with `expiration`).
    """
    if not ECR_HOST.match(host) or not password:
        return None
    expiration = (expiries or {}).get((host, password))
    if expiration is None:
        expiration = _token_expiration(password)
    if expiration is None:
        return ("static credentials for the ECR registry %s: their expiry cannot be read; ECR tokens live "
                "12 hours - refresh them (rotate_ecr_auth.yml) or use the ecr-login helper" % host)
    when = format_time(expiration)
    left = expiration - now
    if left <= 0:
        return "static ECR token for %s expired at %s; pulls fail until it is refreshed" % (host, when)
    if left < ECR_WARN_SECONDS:
        return "static ECR token for %s expires at %s (in %d min)" % (host, when, left // 60)
    return None


def current_expiry(current, registries):
    """{key: datetime} from a `current_expires_at` mapping (registry -> time, or -> {expires_at: time}).

    Keys are normalized like registries; entries of registries not asked for are ignored.
    """
    wanted = set(r.key for r in registries)
    found = {}
    for name, value in (current or {}).items():
        try:
            key = _host_of(name)
        except ECRError:
            continue
        if key not in wanted:
            continue
        if isinstance(value, dict):
            value = value.get("expires_at")
        if value in (None, ""):
            continue
        try:
            found[key] = to_utc(value)
        except ECRError as exc:
            raise ECRError("current_expires_at[%s]: %s" % (name, exc))
    return found


def renewal(registries, current, renew_before, now):
    """Decide whether tokens must be fetched: (due, reason, earliest current expiry or None).

    Due when no `renew_before` is given, when a registry has no current expiry, or when the earliest
    current expiry is within `renew_before` seconds of `now`.
    """
    if renew_before is None:
        return True, "no renew_before given", None
    known = current_expiry(current, registries)
    missing = [r.key for r in registries if r.key not in known]
    earliest = min(known.values()) if known else None
    if missing:
        return True, "no current expiry for %s" % ", ".join(missing), earliest
    if earliest <= now + datetime.timedelta(seconds=renew_before):
        return True, "the current tokens expire at %s, within %ss of now" % (format_time(earliest), renew_before), \
            earliest
    return False, "the current tokens are valid until %s" % format_time(earliest), earliest


# ------------------------------------------------------------------------------------ boto3


SDK = collections.namedtuple("SDK", "boto3 Config errors")


def sdk():
    """boto3, botocore's Config and botocore.exceptions, imported on first use. runner_config, docker_config and
    every filter of the collection import this file (through _rotation and _resolve) and never call AWS: a module
    level import of boto3 cost them about 0.13 s per process, on each host and in each worker of the controller."""
    import boto3  # pylint: disable=import-outside-toplevel
    from botocore import config, exceptions  # pylint: disable=import-outside-toplevel
    return SDK(boto3, config.Config, exceptions)


def sdk_import_error():
    """The ImportError of boto3 or botocore; None when both import."""
    try:
        sdk()
    except ImportError as exc:
        return exc
    return None


def _require_boto3():
    try:
        return sdk()
    except ImportError as exc:
        raise ECRError("boto3 and botocore are required on the host that runs this module: %s" % exc)


USER_AGENT_EXTRA = "runnerkit.gitlab_runner/ecr_authorization"


# Seconds botocore waits to connect and for each read, and retries after the first attempt: an endpoint
# that never answers fails after about TIMEOUT * (RETRIES + 1) seconds plus a few seconds of backoff.
DEFAULT_TIMEOUT = 10
DEFAULT_RETRIES = 2


def client_config(fips=False, dual_stack=False, custom_endpoint=False, timeout=DEFAULT_TIMEOUT,
                  retries=DEFAULT_RETRIES):
    """botocore Config: FIPS / dual-stack endpoint variants (not with a custom endpoint), bounded waits."""
    # botocore's `max_attempts` counts retries only (the old 3 meant 4 attempts of 30 s: two minutes)
    kwargs = dict(user_agent_extra=USER_AGENT_EXTRA, connect_timeout=timeout, read_timeout=timeout,
                  retries={"mode": "standard", "total_max_attempts": retries + 1})
    if not custom_endpoint:
        kwargs.update(use_fips_endpoint=fips, use_dualstack_endpoint=dual_stack)
    return sdk().Config(**kwargs)


ConnectionOptions = collections.namedtuple(
    "ConnectionOptions",
    "profile access_key secret_key session_token role_arn role_session_name endpoint_url ca_bundle validate_certs "
    "timeout retries")


def connection_options(params):
    """ConnectionOptions from module params (missing keys are None; validate_certs defaults to True,
    timeout and retries to DEFAULT_TIMEOUT and DEFAULT_RETRIES)."""
    values = {name: params.get(name) for name in ConnectionOptions._fields}
    values["ca_bundle"] = params.get("aws_ca_bundle", values.get("ca_bundle"))
    if values["validate_certs"] is None:
        values["validate_certs"] = True
    if values["timeout"] is None:
        values["timeout"] = DEFAULT_TIMEOUT
    if values["retries"] is None:
        values["retries"] = DEFAULT_RETRIES
    if values["timeout"] <= 0 or values["retries"] < 0:
        raise ECRError("timeout must be at least 1 second and retries must not be negative (got %s and %s)"
                       % (values["timeout"], values["retries"]))
    return ConnectionOptions(**values)


def options_config(options, fips=False, dual_stack=False, custom_endpoint=False):
    """client_config with the timeout and retries of the module options."""
    return client_config(fips, dual_stack, custom_endpoint, options.timeout, options.retries)


def _verify(options):
    if not options.validate_certs:
        return False
    return options.ca_bundle or None


def make_session(options):
    """A boto3 Session from a profile or explicit keys; otherwise the SDK's default chain."""
    aws = _require_boto3()
    kwargs = {}
    if options.profile:
        kwargs["profile_name"] = options.profile
    if options.access_key:
        kwargs.update(aws_access_key_id=options.access_key, aws_secret_access_key=options.secret_key,
                      aws_session_token=options.session_token)
    try:
        return aws.boto3.session.Session(**kwargs)
    except aws.errors.ProfileNotFound:
        raise ECRError("AWS profile '%s' was not found in the shared config or credentials file" % options.profile)


def assume_role(session, options, region, registries):
    """A Session with the credentials of `role_arn`, assumed through STS in `region`."""
    sts = session.client("sts", region_name=region, verify=_verify(options), config=options_config(options))
    try:
        response = sts.assume_role(RoleArn=options.role_arn,
                                   RoleSessionName=options.role_session_name or "runnerkit-ecr-authorization")
    except Exception as exc:  # pylint: disable=broad-except
        raise ECRError(describe_error(exc, registries, "assuming role %s (STS, %s)" % (options.role_arn, region),
                                      permission="sts:AssumeRole on that role, and the role's trust policy must allow "
                                                 "this identity"))
    credentials = response["Credentials"]
    return sdk().boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"],
                                       aws_secret_access_key=credentials["SecretAccessKey"],
                                       aws_session_token=credentials["SessionToken"])


def make_client(session, registry, options):
    """The ecr or ecr-public client for a registry: region from the host, endpoint variant from the host."""
    custom = bool(options.endpoint_url) and registry.service == "ecr"
    kwargs = dict(region_name=registry.region, verify=_verify(options),
                  config=options_config(options, registry.fips, registry.dual_stack, custom))
    if custom:
        kwargs["endpoint_url"] = options.endpoint_url
    try:
        return session.client(registry.service, **kwargs)
    except Exception as exc:  # pylint: disable=broad-except
        raise ECRError(describe_error(exc, [registry], "creating the %s client" % registry.service))


# ------------------------------------------------------------------------------------ errors

ACCESS_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException")
BAD_CREDENTIALS = ("UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
                   "SignatureDoesNotMatch", "AuthFailure", "IncompleteSignature", "InvalidAccessKeyId")
EXPIRED_CREDENTIALS = ("ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired")


def _names(registries):
    return ", ".join(r.key for r in registries)


def _regions(registries):
    return ", ".join(sorted(set(r.region for r in registries)))


def known_regions(service, partition):
    """Regions botocore's endpoint data lists for a service in a partition (empty when unknown)."""
    try:  # without boto3 (ImportError) too
        return sdk().boto3.session.Session().get_available_regions(service, partition_name=partition)
    except Exception:  # pylint: disable=broad-except
        return []


def _unknown_regions(registries):
    unknown = []
    for registry in registries:
        regions = known_regions(registry.service, registry.partition)
        if regions and registry.region not in regions:
            unknown.append(registry)
    return unknown


XML_CODE = re.compile(r"<Code>([^<]*)</Code>")
XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")


def client_error_parts(exc):
    """(code, message, HTTP status) of a ClientError. An error body botocore could not parse (an XML
    or HTML page where JSON was expected, as from some proxies and mocks) leaves the status as code
    and the body as message: the code and message are then taken from the XML, or the body dropped."""
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "Unknown")), error.get("Message", "") or ""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code.isdigit() and message.lstrip().startswith("<"):
        found_code, found_message = XML_CODE.search(message), XML_MESSAGE.search(message)
        code = found_code.group(1) if found_code else "HTTP %s" % code
        message = found_message.group(1) if found_message else "unexpected response body"
    return code, message, status


def describe_error(exc, registries, action, permission=None):
    """A message naming the registries for a botocore (or other) exception; it never contains a secret."""
    names = _names(registries)
    if permission is None:
        permission = "ecr:GetAuthorizationToken"
        if any(r.service == "ecr-public" for r in registries):
            permission += " (ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken for ECR Public)"
    try:
        errors = sdk().errors
    except ImportError:  # pragma: no cover
        return "%s for %s failed: %s" % (action, names, exc)
    if isinstance(exc, errors.NoCredentialsError):
        return ("%s for %s failed: no AWS credentials found. Give access_key and secret_key, a profile or a "
                "role_arn, or run where the AWS SDK finds credentials (AWS_* environment variables, "
                "~/.aws/credentials, an instance profile or web identity)" % (action, names))
    if isinstance(exc, errors.PartialCredentialsError):
        return "%s for %s failed: incomplete AWS credentials (%s)" % (action, names, exc)
    if isinstance(exc, errors.ProfileNotFound):
        return "%s for %s failed: %s" % (action, names, exc)
    if isinstance(exc, errors.InvalidRegionError):
        return ("%s for %s failed: region '%s' taken from the host is not a valid region name"
                % (action, names, _regions(registries)))
    if isinstance(exc, errors.ClientError):
        code, message, status = client_error_parts(exc)
        if code in ACCESS_DENIED or (status == 403 and code not in BAD_CREDENTIALS + EXPIRED_CREDENTIALS):
            return ("%s for %s failed: access denied (%s: %s). The AWS identity needs %s"
                    % (action, names, code, message, permission))
        if code in BAD_CREDENTIALS:
            return ("%s for %s failed: AWS rejected the credentials (%s: %s). Either the access key or secret is "
                    "wrong, or region %s (taken from the host) is not enabled for this account or is the wrong "
                    "region for these credentials" % (action, names, code, message, _regions(registries)))
        if code in EXPIRED_CREDENTIALS:
            return "%s for %s failed: the AWS credentials have expired (%s: %s)" % (action, names, code, message)
        return "%s for %s failed: %s: %s" % (action, names, code, message or "HTTP %s" % status)
    if isinstance(exc, errors.SSLError):
        return ("%s for %s failed: TLS verification of the endpoint failed (%s). Give aws_ca_bundle (or "
                "AWS_CA_BUNDLE) when a proxy or VPC endpoint presents a private CA" % (action, names, exc))
    if isinstance(exc, (errors.EndpointConnectionError, errors.ConnectTimeoutError, errors.ProxyConnectionError)):
        unknown = _unknown_regions(registries)
        if unknown:
            return ("%s for %s failed: %s. Region %s taken from the host is not a region this botocore knows for "
                    "%s; check the host for a wrong region" % (action, names, exc, _regions(unknown),
                                                               unknown[0].service))
        return ("%s for %s failed: the endpoint is unreachable (%s). Check the network, the proxy settings "
                "(HTTPS_PROXY/NO_PROXY) and endpoint_url" % (action, names, exc))
    if isinstance(exc, errors.ReadTimeoutError):
        return ("%s for %s failed: the endpoint did not answer in time (%s). Every attempt waits `timeout` seconds "
                "for an answer and `retries` attempts follow the first; raise them only for a slow endpoint"
                % (action, names, exc))
    if isinstance(exc, errors.BotoCoreError):
        return "%s for %s failed: %s" % (action, names, exc)
    return "%s for %s failed: %s: %s" % (action, names, type(exc).__name__, exc)


# ------------------------------------------------------------------------------------ tokens


def _authorization_data(service, response, registry_id):
    """The authorizationData entry for one registry out of a GetAuthorizationToken response."""
    data = response.get("authorizationData")
    if service == "ecr-public":
        return data if isinstance(data, dict) else None
    for entry in data or []:
        endpoint = entry.get("proxyEndpoint") or ""
        if registry_id and ("//%s." % registry_id) in endpoint:
            return entry
    return (data or [None])[0]


def get_token(client, service, registry_id):
    """Call GetAuthorizationToken once; (base64 auth, expires_at datetime, proxy endpoint or None)."""
    if service == "ecr-public":
        response = client.get_authorization_token()
    else:
        response = client.get_authorization_token(registryIds=[registry_id])
    entry = _authorization_data(service, response, registry_id)
    if not entry or not entry.get("authorizationToken") or not entry.get("expiresAt"):
        raise ValueError("the response carries no authorization token")
    return entry["authorizationToken"], to_utc(entry["expiresAt"]), entry.get("proxyEndpoint")


def _checked_auth(token, registries):
    try:
        username, _password = docker_auth.decode_auth(token)
    except docker_auth.AuthConfigError as exc:
        raise ECRError("GetAuthorizationToken for %s returned a token that %s" % (_names(registries), exc))
    return username


def fetch_tokens(registries, options, session=None, client_factory=None, now=None):
    """GetAuthorizationToken once for each (service, account, region); the result dict.

    {"auths": {key: {"auth": ...}}, "registries": {key: info}, "expires_at": earliest ISO, "calls": n}.
    `session` / `client_factory(session, registry, options)` can be given by tests (botocore Stubber).
    Raises ECRError naming the registry on any failure; no partial result is returned.
    """
    _require_boto3()
    now = now or utc_now()
    session = session or make_session(options)
    if options.role_arn:
        first = registries[0]
        session = assume_role(session, options, first.region, registries)
    client_factory = client_factory or make_client
    auths, infos, calls, expiries = {}, {}, 0, []
    for (service, registry_id, _region), (fips, dual_stack, group) in request_groups(registries).items():
        client = client_factory(session, group[0]._replace(fips=fips, dual_stack=dual_stack), options)
        try:
            token, expires_at, endpoint = get_token(client, service, registry_id)
        except ECRError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            raise ECRError(describe_error(exc, group, "GetAuthorizationToken"))
        calls += 1
        username = _checked_auth(token, group)
        expiries.append(expires_at)
        for registry in group:
            auths[registry.key] = {"auth": token}
            infos[registry.key] = dict(
                service=registry.service, registry_id=registry.registry_id, region=registry.region,
                partition=registry.partition, fips=registry.fips, dual_stack=registry.dual_stack,
                username=username, expires_at=format_time(expires_at), proxy_endpoint=endpoint,
                expires_in=int((expires_at - now).total_seconds()))
    return dict(auths=auths, registries=infos, expires_at=format_time(min(expiries)), calls=calls)


def expiry_warnings(result, renew_before, now):
    """Tokens that are already expired, or that expire within renew_before (so every run would renew)."""
    warnings = []
    for key, info in sorted(result["registries"].items()):
        expires_at = to_utc(info["expires_at"])
        if expires_at <= now:
            warnings.append("the token ECR returned for %s already expired at %s; check the clock of the host that "
                            "ran the request" % (key, info["expires_at"]))
        elif renew_before and expires_at <= now + datetime.timedelta(seconds=renew_before):
            warnings.append("the token ECR returned for %s expires at %s, within renew_before (%ss): every run will "
                            "renew it; lower renew_before below the token lifetime"
                            % (key, info["expires_at"], renew_before))
    return warnings
