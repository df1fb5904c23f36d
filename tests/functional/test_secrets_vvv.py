# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real ansible-playbook run at -vvv --diff over a config.toml holding every kind of secret the runner's
config can hold, and a config.json with auths, HttpHeaders and proxies: runner_config (a change, a
rerun and a failing call), docker_config and runner_auth_info. No secret, in any spelling, appears in
the output or in any registered result."""

from __future__ import annotations

import base64
import getpass
import json
import textwrap

SECRETS = {
    "sentry_dsn": "S3cr3t-sentry-dsn-key",
    "token": "glrt-S3cr3t-runner-token-01",
    "commented token": "glrt-S3cr3t-commented-token",
    "ssh password": "S3cr3t-ssh-password",
    "kubernetes bearer_token": "S3cr3t-k8s-bearer-token",
    "s3 AccessKey": "S3cr3tAKIAEXAMPLEKEY",
    "s3 SecretKey": "S3cr3t-s3-secret/key+value",
    "s3 SessionToken": "S3cr3t-s3-session-token",
    "gcs PrivateKey": "S3cr3t-gcs-private-key",
    "azure AccountKey": "S3cr3t-azure-account-key==",
    "connector password": "S3cr3t-connector-password",
    "plugin_config secret": "S3cr3t-plugin-client-secret",
    "machine secret key": "S3cr3t-amazonec2-secret-key",
    "machine token": "S3cr3t-digitalocean-token",
    "env by name": "S3cr3t-github-pat-value",
    "env URL userinfo": "S3cr3t-postgres-password",
    "env Bearer": "S3cr3t.bearer-value_123",
    "env blob": "S3cr3tQm9sZFNlY3JldEJsb2JWYWx1ZTEyMzQ1Ng",
    "service env": "S3cr3t-service-db-password",
    "DOCKER_AUTH_CONFIG password": 'S3cr3t-"registry$pass\\',
    "new password": "S3cr3t-new-registry-password",
    "config.json auth": "S3cr3t-config-json-password",
    "config.json Authorization": "S3cr3t-http-header-token",
    "config.json proxy": "S3cr3t-proxy-password",
    "config.json new password": "S3cr3t-hub-password",
}
S = SECRETS


def auth(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def forms(secret):
    """The raw, JSON-escaped, TOML-in-JSON-escaped and base64 forms a secret could leak in."""
    escaped = json.dumps(secret)[1:-1]
    return {secret, escaped, json.dumps(escaped)[1:-1], base64.b64encode(secret.encode()).decode()}


def config_toml():
    docker_auth = json.dumps({"auths": {"registry.example.com:5000": {
        "auth": auth("ci-puller", S["DOCKER_AUTH_CONFIG password"])}}})
    environment = [
        "GITHUB_PAT=" + S["env by name"],
        "DATABASE_URL=postgres://app:%s@db:5432/app" % S["env URL userinfo"],
        "CUSTOM_HEADER=Bearer " + S["env Bearer"],
        "OPAQUE=" + S["env blob"],
        "DOCKER_AUTH_CONFIG=" + docker_auth,
        "LANG=C.UTF-8",
    ]
    return textwrap.dedent("""\
        concurrent = 1
        sentry_dsn = "https://%(sentry_dsn)s@sentry.example.com/4"

        [[runners]]
          name = "build"
          url = "https://gitlab.example.com"
          token = "%(token)s"
          # token = "%(commented token)s"
          executor = "docker"
          environment = %(environment)s
          [runners.ssh]
            user = "ci"
            password = "%(ssh password)s"
          [runners.kubernetes]
            bearer_token = "%(kubernetes bearer_token)s"
          [runners.cache]
            Type = "s3"
            [runners.cache.s3]
              AccessKey = "%(s3 AccessKey)s"
              SecretKey = "%(s3 SecretKey)s"
              SessionToken = "%(s3 SessionToken)s"
            [runners.cache.gcs]
              PrivateKey = "%(gcs PrivateKey)s"
            [runners.cache.azure]
              AccountKey = "%(azure AccountKey)s"
          [runners.autoscaler]
            plugin = "aws"
            [runners.autoscaler.plugin_config]
              client_secret = "%(plugin_config secret)s"
            [runners.autoscaler.connector_config]
              username = "ec2-user"
              password = "%(connector password)s"
          [runners.machine]
            MachineDriver = "amazonec2"
            MachineOptions = ["amazonec2-secret-key=%(machine secret key)s", "digitalocean-access-token=%(machine token)s"]
          [runners.docker]
            image = "alpine:3.19"
            [[runners.docker.services]]
              name = "postgres:16"
              environment = ["POSTGRES_PASSWORD=%(service env)s"]
        """) % dict(S, environment=json.dumps(environment))


def config_json():
    return json.dumps({
        "auths": {"https://Registry.Example.com/": {"auth": auth("ci", S["config.json auth"])},
                  "docker.io": {"auth": auth("hub", "old-hub-password")},
                  "https://index.docker.io/v1/": {"auth": auth("hub", "older-hub-password")}},
        "HttpHeaders": {"Authorization": "Bearer " + S["config.json Authorization"]},
        "proxies": {"default": {"httpProxy": "http://proxy-user:%s@proxy:3128" % S["config.json proxy"]}},
    })


PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: runner_config changes a file holding every kind of secret, twice
      runnerkit.gitlab_runner.runner_config:
        path: "{{ toml }}"
        global: {concurrent: 4}
        runners:
          - name: build
            docker: {image: "registry.example.com:5000/ci/image:2"}
            docker_auth_config:
              auths: {"registry.example.com:5000": {username: ci-puller, password: "{{ new_password }}"}}
      loop: [1, 2]
      register: changed_runner

    - name: runner_config fails on a bad value
      runnerkit.gitlab_runner.runner_config:
        path: "{{ toml }}"
        runners:
          - name: build
            docker: {privileged: "yes"}
      ignore_errors: true
      register: failed_runner

    - name: docker_config updates Docker Hub spelled two ways, keeping HttpHeaders and proxies
      runnerkit.gitlab_runner.docker_config:
        path: "{{ json }}"
        registries:
          - {registry: index.docker.io, username: hub, password: "{{ hub_password }}"}
      register: docker

    - name: runner_auth_info reads both files
      runnerkit.gitlab_runner.runner_auth_info:
        path: "{{ toml }}"
        user: "{{ user }}"
        docker_config: "{{ json }}"
        service: runnerkit-no-such-unit
      register: audit

    - name: Show what was registered
      ansible.builtin.debug:
        var: item
      loop: "{{ [changed_runner, failed_runner, docker, audit] }}"
"""


def test_no_secret_of_any_kind_in_vvv_diff_output(run_playbook, tmp_path):
    toml, config = tmp_path / "config.toml", tmp_path / "config.json"
    toml.write_text(config_toml())
    config.write_text(config_json())
    result = run_playbook(PLAYBOOK, {"toml": str(toml), "json": str(config), "user": getpass.getuser(),
                                     "new_password": S["new password"], "hub_password": S["config.json new password"]},
                          diff=True)
    assert result.rc == 0, result.output
    assert result.status("runner_config fails on a bad value") == "failed"
    assert result.status("docker_config updates Docker Hub spelled two ways, keeping HttpHeaders and proxies") == "changed"
    assert "expected a boolean" in result.output and "********" in result.output
    leaked_in = result.output + json.dumps(result.results)
    written = [auth("ci-puller", S["new password"]), auth("ci-puller", S["DOCKER_AUTH_CONFIG password"]),
               auth("ci", S["config.json auth"]), auth("hub", S["config.json new password"])]
    replaced = [("replaced Hub password", p) for p in ("old-hub-password", "older-hub-password")]
    for name, secret in list(S.items()) + [("auth string", a) for a in written] + replaced:
        for form in forms(secret):
            assert form not in leaked_in, "%s leaked as %r" % (name, form)
    data = json.loads(config.read_text())
    assert set(data["auths"]) == {"https://index.docker.io/v1/", "https://Registry.Example.com/"}  # one Hub entry
    assert data["HttpHeaders"] and data["proxies"]  # kept, only masked in the output
    assert S["env by name"] in toml.read_text()  # the secrets stay where they belong
