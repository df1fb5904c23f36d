#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecr_authorization
short_description: Get Amazon ECR registry tokens as static Docker C(auths) entries, with their expiry
version_added: 0.1.0
description:
  - Calls the ECR C(GetAuthorizationToken) API with boto3 for one or more ECR registries and returns the
    tokens as C(auths) entries that M(runnerkit.gitlab_runner.docker_config),
    M(runnerkit.gitlab_runner.runner_config) and the P(runnerkit.gitlab_runner.docker_auth_config#filter)
    filter take as they are, with the earliest and the per-registry expiry.
  - For hosts where the C(ecr-login) credential helper cannot run. ECR tokens are valid for 12 hours, so
    static entries must be refreshed; C(playbooks/rotate_ecr_auth.yml) does that on a schedule.
  - The account id, the region and the endpoint variant (FIPS, dual-stack, partition) are taken from each
    registry host, in every form the C(ecr-login) helper accepts up to 0.12.0, for example
    C(123456789012.dkr.ecr.eu-west-1.amazonaws.com), C(123456789012.dkr.ecr-fips.us-east-1.amazonaws.com),
    C(123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn), C(123456789012.dkr-ecr.eu-west-1.on.aws); ECR Public
    C(public.ecr.aws) (and C(ecr-public.aws.com)) is served from C(us-east-1).
  - Several registries in several regions and accounts in one call, one API call per account and region. Hosts
    of one account and region share it; it goes to the FIPS endpoint if one of them is a FIPS host, and to the
    dual-stack endpoint if one of them is a dual-stack host.
  - With O(renew_before) and O(current_expires_at) the call is skipped while the tokens in use are still
    valid for longer than O(renew_before); RV(renewed) tells whether tokens were fetched.
  - The tokens are in RV(auths) and RV(docker_config_registries) only. The action plugin marks a successful
    result as C(no_log), so no callback (stdout at any verbosity, AWX job events, log files) shows it, while
    C(register) keeps the full result for later tasks. Failure messages never contain a token and stay visible.
  - Nothing on the host is changed; the result's C(changed) is always V(false).
author:
  - runnerkit contributors (@runnerkit)
requirements:
  - boto3 and botocore on the host that runs the module (for O(registries) in dual-stack or FIPS form a
    botocore recent enough to know these endpoints).
attributes:
  check_mode:
    support: full
    description: Tokens are fetched in check mode too (a read-only API call), as C(docker_login) authenticates.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to show.
  idempotent:
    support: full
    description: Never changes anything. The tokens themselves differ from call to call.
  action:
    support: full
    description: An action plugin of the same name runs the module and hides its successful result from output.
options:
  registries:
    description:
      - ECR registry hosts, as images name them. A leading C(https://) and a trailing C(/v2/) are accepted; a
        path or another port is refused (tokens are per registry).
      - The registry id is the 12-digit account id of the host; the region is the host's region.
    type: list
    elements: str
    required: true
  renew_before:
    description:
      - Fetch tokens only when a registry in O(registries) has no entry in O(current_expires_at) or the earliest
        of them expires within this duration from now. Without it tokens are always fetched.
      - A duration such as V(3h), V(90m), V(1h30m), V(1d), or seconds.
      - Warns when a token ECR just returned already expires within this duration.
    type: str
  current_expires_at:
    description:
      - When the tokens in use expire, per registry host, as ISO 8601 times; also accepts the RV(registries)
        result of an earlier call (host to a mapping with C(expires_at)). Only used with O(renew_before).
    type: dict
  endpoint_url:
    description:
      - The ECR API endpoint to use instead of the one of each registry's region, for example an interface VPC
        endpoint or a test server. Applies to every private registry in O(registries), not to ECR Public.
      - The AWS SDK also honours C(AWS_ENDPOINT_URL_ECR), C(AWS_ENDPOINT_URL_ECR_PUBLIC) and
        C(AWS_ENDPOINT_URL_STS) in the environment.
    type: str
    aliases: [aws_endpoint_url]
  aws_ca_bundle:
    description: A CA bundle to verify the endpoints with. The SDK also reads C(AWS_CA_BUNDLE).
    type: path
  validate_certs:
    description: Verify the TLS certificates of the endpoints. Only turn this off for tests.
    type: bool
    default: true
    aliases: [aws_validate_certs]
  profile:
    description:
      - A profile of the AWS shared config and credentials files. Without credentials options the SDK's default
        chain applies (C(AWS_*) environment variables, C(AWS_PROFILE), shared files, web identity, the
        container or instance role).
    type: str
    aliases: [aws_profile]
  access_key:
    description: AWS access key id. The SDK also reads C(AWS_ACCESS_KEY_ID).
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description: AWS secret access key. The SDK also reads C(AWS_SECRET_ACCESS_KEY).
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description: AWS session token for temporary credentials. The SDK also reads C(AWS_SESSION_TOKEN).
    type: str
    aliases: [aws_session_token, security_token]
  role_arn:
    description:
      - A role to assume with STS (in the region of the first registry) before asking ECR for tokens, for
        example a role in the account that owns the registries.
    type: str
  role_session_name:
    description: The session name for O(role_arn), shown in CloudTrail.
    type: str
    default: runnerkit-ecr-authorization
  timeout:
    description:
      - Seconds to wait for a connection to an AWS endpoint (ECR, ECR Public, STS), and for each answer on it
        (the botocore C(connect_timeout) and C(read_timeout)).
      - An endpoint that never answers makes the module fail after about O(timeout) * (O(retries) + 1) seconds,
        plus a few seconds of backoff between the attempts.
    type: int
    default: 10
  retries:
    description:
      - How many times a failed or timed-out request is tried again (botocore's C(standard) retry mode, with
        C(total_max_attempts) of O(retries) + 1). V(0) tries once.
    type: int
    default: 2
notes:
  - The user name of private ECR and ECR Public tokens is C(AWS). The token is valid for 12 hours, for every
    registry in that region the AWS identity may read; it is not bound to a host.
  - The identity needs C(ecr:GetAuthorizationToken); ECR Public also needs C(ecr-public:GetAuthorizationToken)
    and C(sts:GetServiceBearerToken).
  - "Run it on the controller (C(delegate_to: localhost)) to keep AWS credentials off the runner hosts, as
    C(playbooks/rotate_ecr_auth.yml) does by default."
seealso:
  - module: runnerkit.gitlab_runner.docker_config
  - module: runnerkit.gitlab_runner.runner_config
  - plugin: runnerkit.gitlab_runner.docker_auth_config
    plugin_type: filter
  - name: ECR GetAuthorizationToken
    description: The API this module calls.
    link: https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetAuthorizationToken.html
"""

EXAMPLES = r"""
---
- name: Tokens for two registries in two regions, fetched on the controller
  runnerkit.gitlab_runner.ecr_authorization:
    registries:
      - 123456789012.dkr.ecr.eu-west-1.amazonaws.com
      - 210987654321.dkr.ecr.us-east-1.amazonaws.com
  delegate_to: localhost
  register: ecr

- name: Static credentials in the runner user's config.json (only the ECR entries change)
  runnerkit.gitlab_runner.docker_config:
    path: /home/gitlab-runner/.docker/config.json
    owner: gitlab-runner
    registries: "{{ ecr.docker_config_registries }}"

- name: The same tokens in a runner's DOCKER_AUTH_CONFIG
  runnerkit.gitlab_runner.runner_config:
    runners:
      - name: docker-build
        docker_auth_config:
          auths: "{{ ecr.auths }}"

- name: A DOCKER_AUTH_CONFIG value for a CI/CD variable
  ansible.builtin.set_fact:
    ci_docker_auth_config: "{{ ecr | runnerkit.gitlab_runner.docker_auth_config }}"
  no_log: true

- name: Through an assumed role and a VPC endpoint
  runnerkit.gitlab_runner.ecr_authorization:
    registries: [123456789012.dkr.ecr.eu-west-1.amazonaws.com]
    role_arn: arn:aws:iam::123456789012:role/ecr-pull
    endpoint_url: https://vpce-0123456789abcdef0-abcdefgh.api.ecr.eu-west-1.vpce.amazonaws.com
  register: ecr

- name: Only when the tokens in use expire within 3 hours
  runnerkit.gitlab_runner.ecr_authorization:
    registries: [123456789012.dkr.ecr.eu-west-1.amazonaws.com]
    renew_before: 3h
    current_expires_at:
      123456789012.dkr.ecr.eu-west-1.amazonaws.com: "2026-11-25T22:00:00Z"
  register: ecr
"""

RETURN = r"""
auths:
  description:
    - Registry host to C({"auth" base64 of AWS:token}), the C(auths) of a Docker C(config.json) or
      C(DOCKER_AUTH_CONFIG). Empty when RV(renewed) is V(false).
    - Hidden from every callback by the action plugin; use it through C(register).
  returned: success
  type: dict
  sample: {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": {"auth": "QVdTOmV5SndZWGxzYjJGa0lqb2lXbWx..."}}
docker_config_registries:
  description:
    - The same tokens as a M(runnerkit.gitlab_runner.docker_config) O(runnerkit.gitlab_runner.docker_config#module:registries)
      list (also the C(docker_config_registries) role variable). Empty when RV(renewed) is V(false).
    - Hidden from every callback by the action plugin; use it through C(register).
  returned: success
  type: list
  elements: dict
  sample: [{"registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "auth": "QVdTOmV5SndZWGxzYjJGa0lqb2lXbWx..."}]
expires_at:
  description:
    - When the earliest of the tokens expires, ISO 8601 in UTC. When RV(renewed) is V(false), the earliest of
      O(current_expires_at).
  returned: success
  type: str
  sample: "2026-11-25T22:01:02Z"
renewed:
  description: Whether tokens were fetched (always V(true) without O(renew_before)).
  returned: success
  type: bool
  sample: true
reason:
  description: Why tokens were or were not fetched.
  returned: success
  type: str
  sample: the current tokens expire at 2026-11-25T22:00:00Z, within 10800s of now
renew_after:
  description: From when on a call with the same O(renew_before) fetches new tokens (RV(expires_at) minus it).
  returned: success and O(renew_before) given
  type: str
  sample: "2026-11-25T19:01:02Z"
calls:
  description: How many C(GetAuthorizationToken) calls were made.
  returned: success
  type: int
  sample: 2
registries:
  description: Per registry host, what the host means and when its token expires. Never a secret.
  returned: success
  type: dict
  contains:
    service:
      description: V(ecr) or V(ecr-public).
      type: str
    registry_id:
      description: The account id (null for ECR Public).
      type: str
    region:
      description: The API region.
      type: str
    partition:
      description: The AWS partition (V(aws), V(aws-cn), V(aws-us-gov), ...).
      type: str
    fips:
      description: Whether the host is a FIPS form (C(dkr.ecr-fips)).
      type: bool
    dual_stack:
      description: Whether the host is a dual-stack form (C(dkr-ecr), C(on.aws)).
      type: bool
    expires_at:
      description: When this registry's token expires (ISO 8601, UTC).
      type: str
    expires_in:
      description: Seconds from now until then (negative when already expired). Only when RV(renewed).
      type: int
    username:
      description: The user name of the token (V(AWS)). Only when RV(renewed).
      type: str
    proxy_endpoint:
      description: The registry endpoint ECR named in its answer. Only when RV(renewed).
      type: str
  sample:
    123456789012.dkr.ecr.eu-west-1.amazonaws.com:
      service: ecr
      registry_id: "123456789012"
      region: eu-west-1
      partition: aws
      fips: false
      dual_stack: false
      expires_at: "2026-11-25T22:01:02Z"
      expires_in: 43199
      username: AWS
      proxy_endpoint: https://123456789012.dkr.ecr.eu-west-1.amazonaws.com
"""

import datetime

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _ecr as ecr

ARGUMENT_SPEC = dict(
    registries=dict(type="list", elements="str", required=True),
    renew_before=dict(type="str"),
    current_expires_at=dict(type="dict"),
    endpoint_url=dict(type="str", aliases=["aws_endpoint_url"]),
    aws_ca_bundle=dict(type="path"),
    validate_certs=dict(type="bool", default=True, aliases=["aws_validate_certs"]),
    profile=dict(type="str", aliases=["aws_profile"]),
    access_key=dict(type="str", aliases=["aws_access_key_id", "aws_access_key"], no_log=False),
    secret_key=dict(type="str", aliases=["aws_secret_access_key", "aws_secret_key"], no_log=True),
    session_token=dict(type="str", aliases=["aws_session_token", "security_token"], no_log=True),
    role_arn=dict(type="str"),
    role_session_name=dict(type="str", default="runnerkit-ecr-authorization"),
    timeout=dict(type="int", default=10),
    retries=dict(type="int", default=2),
)


def not_renewed(registries, current, earliest, reason):
    known = ecr.current_expiry(current, registries)
    infos = {}
    for registry in registries:
        infos[registry.key] = dict(service=registry.service, registry_id=registry.registry_id, region=registry.region,
                                   partition=registry.partition, fips=registry.fips, dual_stack=registry.dual_stack,
                                   expires_at=ecr.format_time(known[registry.key]))
    return dict(renewed=False, reason=reason, auths={}, docker_config_registries=[], registries=infos,
                expires_at=ecr.format_time(earliest), calls=0)


def run(params, now=None):
    """(result, warnings) for the module params; raises ecr.ECRError."""
    now = now or ecr.utc_now()
    registries, warnings = ecr.parse_registries(params["registries"])
    renew_before = None
    if params.get("renew_before") is not None:
        renew_before = ecr.parse_duration(params["renew_before"])
    due, reason, earliest = ecr.renewal(registries, params.get("current_expires_at"), renew_before, now)
    if due:
        result = ecr.fetch_tokens(registries, ecr.connection_options(params), now=now)
        result.update(renewed=True, reason=reason, docker_config_registries=[
            dict(registry=key, auth=entry["auth"]) for key, entry in result["auths"].items()])
        warnings.extend(ecr.expiry_warnings(result, renew_before, now))
    else:
        result = not_renewed(registries, params.get("current_expires_at"), earliest, reason)
    if renew_before is not None:
        result["renew_after"] = ecr.format_time(ecr.to_utc(result["expires_at"])
                                                - datetime.timedelta(seconds=renew_before))
    return result, warnings


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_together=[("access_key", "secret_key")],
        required_by={"session_token": ("access_key", "secret_key")},
        mutually_exclusive=[("profile", "access_key")],
    )
    boto3_error = ecr.sdk_import_error()
    if boto3_error is not None:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(boto3_error))
    try:
        result, warnings = run(module.params)
    except ecr.ECRError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
