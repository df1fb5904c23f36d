# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one list of secrets: every secret position of config.toml and config.json is found and masked.

The property tests put random secrets into every secret-bearing string position of a generated
config.toml (every executor section) and config.json, run the core plan/render, and look for the
secrets in the masked diff text in every spelling they could take.
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
import string

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as core
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

PLUGINS = pathlib.Path(__file__).parents[4] / "plugins"


def forms(secret):
    """The raw, JSON-escaped, escaped-twice, HTML-escaped and base64 forms a secret could leak in."""
    escaped = json.dumps(secret)[1:-1]
    html = escaped.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return {secret, escaped, json.dumps(escaped)[1:-1], html, base64.b64encode(secret.encode()).decode()}


def assert_hidden(text, placed):
    for secret in placed:
        for form in forms(secret):
            assert form not in text, "secret %r leaked as %r in:\n%s" % (secret, form, text)


# ---------------------------------------------------------------- the field list, one by one

@pytest.mark.parametrize("toml, secret", [
    ('sentry_dsn = "https://k3yk3yk3y@sentry.example.com/1"', "https://k3yk3yk3y@sentry.example.com/1"),
    ('[[runners]]\ntoken = "glrt-t0ken"', "glrt-t0ken"),
    ('[[runners]]\n[runners.ssh]\npassword = "sshPass"', "sshPass"),
    ('[[runners]]\n[runners.kubernetes]\nbearer_token = "k8sBearer"', "k8sBearer"),
    ('[[runners]]\n[runners.cache.s3]\nAccessKey = "AKIA1"\nSecretKey = "s3secret"\nSessionToken = "s3sess"', "s3secret"),
    ('[[runners]]\n[runners.cache.s3]\nSessionToken = "s3sess"', "s3sess"),
    ('[[runners]]\n[runners.cache.gcs]\nPrivateKey = "-----BEGIN PRIVATE KEY-----\\nabc"', "-----BEGIN PRIVATE KEY-----\nabc"),
    ('[[runners]]\n[runners.cache.azure]\nAccountKey = "azureKey"', "azureKey"),
    ('[[runners]]\n[runners.autoscaler.connector_config]\nusername = "u"\npassword = "connPass"', "connPass"),
    ('[[runners]]\n[runners.autoscaler.vm_isolation.connector_config]\npassword = "nestPass"', "nestPass"),
    ('[[runners]]\n[runners.autoscaler.plugin_config]\nclient_secret = "pluginSecret"', "pluginSecret"),
    ('[[runners]]\n[runners.docker]\nvolume_driver_ops = {password = "volPass"}', "volPass"),
    ('[[runners]]\n[runners.machine]\nMachineOptions = ["amazonec2-secret-key=awsMachineKey"]', "awsMachineKey"),
    ('[[runners]]\n[runners.machine]\nMachineOptions = ["--digitalocean-access-token=doTok"]', "doTok"),
    ('[[runners]]\n[runners.machine]\nMachineOptionsWithName = ["vsphere-password=vsPass"]', "vsPass"),
    ('[[runners]]\nenvironment = ["GITHUB_PAT=patValue"]', "patValue"),
    ('[[runners]]\nenvironment = ["DATABASE_URL=postgres://u:pgPass@h/db"]', "pgPass"),
    ('[[runners]]\n[[runners.docker.services]]\nname = "pg"\nenvironment = ["POSTGRES_PASSWORD=svcPass"]', "svcPass"),
    ('[[runners]]\n[runners.kubernetes.container_lifecycle.post_start.http_get]\n'
     'http_headers = [{name = "Authorization", value = "hdrValue"}]', "hdrValue"),
    ('[[runners]]\npre_build_script = "export NPM_TOKEN=npmTok3n && npm ci"', "npmTok3n"),
    ('[[runners]]\nclone_url = "https://oauth2:cloneTok@gitlab.example.com"', "cloneTok"),
])
def test_every_secret_field_is_found_and_masked(toml, secret):
    assert secret in core.text_secrets(toml)
    masked = core.masked_text(toml)
    assert secret not in masked and json.dumps(secret)[1:-1] not in masked and "********" in masked


@pytest.mark.parametrize("name", ["API_TOKEN", "DB_PASSWORD", "DB_PASSWD", "GITHUB_PAT", "SENTRY_DSN", "SSH_KEY",
                                  "MY_CREDENTIALS", "BASIC_AUTH", "aws-secret-key", "NPM_AUTHTOKEN", "APIKEY",
                                  "OAUTH_CLIENT", "CI_JOB_JWT", "AWS_SECRET_ACCESS_KEY", "GCP_PRIVATE_KEY"])
def test_secret_names(name):
    assert secrets.secret_name(name)


@pytest.mark.parametrize("name", ["PATH", "PWD", "GIT_AUTHOR_NAME", "BYPASS_CACHE", "KEYBOARD", "LANG", "HTTP_PROXY",
                                  "FF_NETWORK_PER_BUILD", "DOCKER_AUTH_CONFIG", "COMPASS_HOME", "MONKEY",
                                  "amazonec2-use-private-address", "amazonec2-keypair-name"])
def test_names_that_are_not_secret(name):
    assert not secrets.secret_name(name)


@pytest.mark.parametrize("text, secret", [
    ("postgres://user:p4ss@db:5432/app", "p4ss"),
    ("https://glpat-abcdefgh12345678@gitlab.example.com/g/p.git", "glpat-abcdefgh12345678"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "eyJhbGciOiJIUzI1NiJ9.payload"),
    ("runner glrt-t1_AbCdEfGh1234 registered", "glrt-t1_AbCdEfGh1234"),
    ("ghp_0123456789abcdefABCDEF", "ghp_0123456789abcdefABCDEF"),
    ("key " + "aB3" * 11, "aB3" * 11),
    ("OPAQUE=" + "aB3" * 11 + "==", "aB3" * 11 + "=="),
    ("hex 0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
])
def test_secrets_by_shape(text, secret):
    assert secret in secrets.shape_secrets(text)
    assert secret not in secrets.mask(text, secrets.shape_secrets(text))


@pytest.mark.parametrize("text", [
    "alpine@sha256:" + "0123456789abcdef" * 4,  # digests are public
    "ssh://git@gitlab.example.com/group/project.git",  # a plain user is no secret
    "/var/lib/gitlab-runner/builds/group/project/subdir",
    "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v17.0.0",
    "https://gitlab.example.com", "unix:///var/run/docker.sock",
    "# Basic configuration of the Bearer authentication",
])
def test_public_strings_are_not_taken_for_secrets(text):
    assert not secrets.shape_secrets(text)
    assert secrets.mask(text, set()) == text


def test_commented_out_secrets_are_masked():
    text = ('[[runners]]\n  name = "a"\n  # token = "glrt-old-commented-token"\n'
            '  # environment = ["API_TOKEN=commentedEnvValue", "X=1"]\n  url = "https://g.example.com" # was ghp_OldGitHubToken12345\n'
            "  # password = 'literalPass'\n")
    found = secrets.comment_secrets(text)
    assert {"glrt-old-commented-token", "commentedEnvValue", "ghp_OldGitHubToken12345", "literalPass"} <= found
    assert_hidden(core.masked_text(text), found)
    assert "X=1" in core.masked_text(text)


def test_a_registries_list_has_the_secrets_of_auths_entries():
    listed = [{"registry": "reg.tld", "username": "u", "password": "listPass", "helper": None},
              {"registry": "b.tld", "auth": auth.encode_auth("v", "listAuthPass")}, {"registry": "c.tld", "helper": "pass"}]
    assert secrets.collect(listed) == {"listPass", auth.encode_auth("u", "listPass"), "listAuthPass",
                                       auth.encode_auth("v", "listAuthPass")}


class FakeModule:
    def __init__(self, hidden):
        self.no_log_values = set(hidden)


def test_user_names_of_an_auths_mapping_are_shown_unless_they_are_secrets_too():
    auths = {"a.tld": {"username": "ci", "password": "ciPassword"}, "b.tld": {"username": "same", "password": "same"},
             "c.tld": {"username": "bot", "email": "bot@example.com", "auth": auth.encode_auth("bot", "botPass")},
             "d.tld": "junk"}
    assert secrets.auth_names(auths) == {"ci", "bot", "bot@example.com"}
    assert secrets.auth_names(None) == set() and secrets.auth_names(["x"]) == set()
    # AnsibleModule hid every value of the no_log mapping; one elsewhere is a secret (an env token named "bot")
    module = FakeModule({"ci", "ciPassword", "same", "bot", "bot@example.com", "botPass"})
    secrets.no_log(module, {"ciPassword", "botPass", "bot", "ab"}, shown=secrets.auth_names(auths))
    assert module.no_log_values == {"ciPassword", "same", "bot", "botPass"}


def test_words_that_say_nothing_are_no_secret_even_under_a_secret_name():
    """SKIP_AUTH=true would otherwise put "true" into no_log_values, which masks every "true" of the output."""
    text = ('[[runners]]\n  environment = ["SKIP_AUTH=true", "USE_TOKEN=False"]\n  [runners.machine]\n'
            '    MachineOptions = ["amazonec2-use-private-address=true"]\n  [runners.docker]\n    privileged = true\n')
    assert not core.text_secrets(text)
    assert core.masked_text(text) == text


def test_short_whole_values_are_masked_but_never_as_substrings():
    text = '[[runners]]\n  name = "ci-runner"\n  [runners.ssh]\n    user = "ci"\n    password = "pw"\n'
    masked = core.masked_text(text)
    assert 'password = "********"' in masked and 'name = "ci-runner"' in masked and 'user = "ci"' in masked


def test_docker_auth_config_in_environment_keeps_its_shape():
    data = {"auths": {"reg.tld": {"auth": auth.encode_auth("ci", "regPass1")}}, "credHelpers": {"x.tld": "ecr-login"}}
    text = "[[runners]]\n  environment = [%s]\n" % json.dumps("DOCKER_AUTH_CONFIG=" + json.dumps(data))
    masked = core.masked_text(text)
    value = tomlkit.parse(masked)["runners"][0]["environment"][0].split("=", 1)[1]
    assert json.loads(value) == {"auths": {"reg.tld": {"auth": "********"}}, "credHelpers": {"x.tld": "ecr-login"}}
    broken = '[[runners]]\n  environment = ["DOCKER_AUTH_CONFIG={not json: regPass2}"]\n'
    assert "regPass2" not in core.masked_text(broken)


def test_docker_files_of_every_layout():
    legacy = {"reg.tld": {"auth": auth.encode_auth("u", "legacyPass"), "email": "a@b"}}
    assert {"legacyPass", auth.encode_auth("u", "legacyPass")} <= secrets.collect(legacy)
    assert "junkEntry" in secrets.collect({"auths": {"reg.tld": "junkEntry"}})
    plain = {"auths": {"reg.tld": {"username": "u", "password": "plainPass"}}}
    assert secrets.collect(plain) == {"plainPass", auth.encode_auth("u", "plainPass")}


def test_the_smallest_masked_length_is_defined_once():
    """MIN_SECRET_LENGTH lives in _secrets only; no module or module_util keeps its own."""
    offenders = [str(path) for path in PLUGINS.rglob("*.py") if path.name != "_secrets.py"
                 and re.search(r"MIN_MASKED|len\(s\) >= \d", path.read_text())]
    assert not offenders


# ---------------------------------------------------------------- property tests

FREE = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)  # quotes, \, unicode, controls
URL_SAFE = st.text(string.ascii_letters + string.digits + "-._~!$&()*+;=%", min_size=1, max_size=12)
WORD = st.text(string.ascii_letters + string.digits + "-._~+=%", min_size=1, max_size=12)
BEARER = st.text(string.ascii_letters + string.digits + "._~+/=-", min_size=2, max_size=12)
BLOB = st.binary(min_size=20, max_size=48).map(lambda b: base64.b64encode(b).decode())


def runner_with_secrets(s):
    """A [[runners]] table with a secret in each secret-bearing position; `s(kind)` draws one."""
    hub_user = "hub"
    docker_auth = {"auths": {"reg.tld": {"auth": auth.encode_auth(hub_user, s("free"))},
                             "plain.tld": {"username": "u", "password": s("free")},
                             "id.tld": {"identitytoken": s("free"), "registrytoken": s("free")}},
                   "credHelpers": {"ecr.tld": "ecr-login"}}
    return {
        "name": "build", "url": "https://gitlab-ci-token:%s@gitlab.example.com" % s("url"),
        "token": s("free"), "executor": "docker+machine",
        "clone_url": "https://oauth2:%s@gitlab.example.com" % s("url"),
        "pre_build_script": "export NPM_TOKEN=%s\nnpm ci" % s("word"),
        "environment": ["API_TOKEN=" + s("free"), "DB_PASSWORD=" + s("free"), "GITHUB_PAT=" + s("free"),
                        "SENTRY_DSN=" + s("free"), "MY_CREDENTIALS=" + s("free"), "AWS_SECRET_ACCESS_KEY=" + s("free"),
                        "DATABASE_URL=postgres://app:%s@db:5432/app" % s("url"),
                        "HTTPS_PROXY=http://proxy-user:%s@proxy:3128" % s("url"),
                        "CUSTOM_HEADER=Bearer " + s("bearer"), "OPAQUE=" + s("blob"), "LANG=C.UTF-8",
                        "DOCKER_AUTH_CONFIG=" + json.dumps(docker_auth)],
        "ssh": {"user": "ci", "password": s("free"), "host": "build-host", "identity_file": "/root/.ssh/id_ed25519"},
        "kubernetes": {"host": "https://k8s.example.com", "bearer_token": s("free"),
                       "container_lifecycle": {"post_start": {"http_get": {
                           "port": 8080, "http_headers": [{"name": "Authorization", "value": s("free")}]}}}},
        "cache": {"Type": "s3",
                  "s3": {"AccessKey": s("free"), "SecretKey": s("free"), "SessionToken": s("free"), "BucketName": "b"},
                  "gcs": {"AccessID": "cache@p.iam.gserviceaccount.com", "PrivateKey": s("free")},
                  "azure": {"AccountName": "acct", "AccountKey": s("free")}},
        "autoscaler": {"plugin": "aws", "plugin_config": {"name": "asg", "api_token": s("free")},
                       "connector_config": {"username": "ec2-user", "password": s("free")},
                       "vm_isolation": {"enabled": True, "connector_config": {"password": s("free")}},
                       "policy": [{"idle_count": 1, "periods": ["* * * * *"]}]},
        "machine": {"MachineDriver": "amazonec2", "MachineName": "ci-%s",
                    "MachineOptions": ["amazonec2-access-key=" + s("word"), "amazonec2-secret-key=" + s("free"),
                                       "digitalocean-access-token=" + s("free"), "amazonec2-region=eu-west-1"],
                    "MachineOptionsWithName": ["--vsphere-password=" + s("free")]},
        "docker": {"image": "alpine@sha256:" + "ab" * 32, "host": "tcp://docker:%s@dind:2376" % s("url"),
                   "volume_driver_ops": {"password": s("free")},
                   "services": [{"name": "postgres:16", "environment": ["POSTGRES_PASSWORD=" + s("free")]}]},
    }


@st.composite
def placed_secrets(draw):
    """(draw function, list of the secrets it placed): every secret is 'S3cr3t' + a random token."""
    placed = []
    strategies = {"free": FREE, "url": URL_SAFE, "word": WORD, "bearer": BEARER, "blob": BLOB}

    def s(kind):
        secret = "S3cr3t" + draw(strategies[kind])
        placed.append(secret)
        return secret
    return s, placed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(placed_secrets())
def test_no_secret_of_any_position_survives_the_masked_diff(drawn):
    s, placed = drawn
    doc = tomlkit.document()
    doc["concurrent"] = 2
    doc["sentry_dsn"] = "https://%s@sentry.example.com/4" % s("url")
    doc["runners"] = tomlkit.aot()
    doc["runners"].append(runner_with_secrets(s))
    commented = s("free")
    text = tomlkit.dumps(doc) + "# token = %s\n" % json.dumps(commented)
    desired = core.build_desired({"concurrent": 4}, [
        {"name": "build", "docker": {"image": "alpine:3.20"},
         "docker_auth_config": {"auths": {"new.tld": {"username": "ci", "password": s("free")}}}},
        {"name": "added", "url": "https://gitlab.example.com", "token": s("free"), "executor": "shell"}])[0]
    planned = core.plan(text, desired)
    new_text = core.render(planned)
    core.verify(planned, desired, new_text)
    found = core.text_secrets(text) | core.text_secrets(new_text)
    for side in (core.masked_text(text), core.masked_text(new_text), core.masked_text(text, found),
                 core.masked_text(new_text, found)):
        assert_hidden(side, placed)
        assert "alpine" in side and "amazonec2-region=eu-west-1" in side and "LANG=C.UTF-8" in side
    # and no_log_values (every found secret that is long enough) would hide each one in -vvv
    long_enough = {x for x in found if len(x) >= secrets.MIN_SECRET_LENGTH}
    for secret in placed:
        assert any(secret in x or x in secret for x in long_enough), (repr(secret), sorted(found, key=len)[-40:])


@settings(max_examples=40, deadline=None)
@given(placed_secrets())
def test_no_secret_of_config_json_survives_the_masked_diff(drawn):
    s, placed = drawn
    current = {
        "auths": {"reg.tld": {"auth": auth.encode_auth("u", s("free"))},
                  "plain.tld": {"username": "u", "password": s("free")},
                  "tok.tld": {"identitytoken": s("free"), "registrytoken": s("free")}},
        "HttpHeaders": {"Authorization": "Bearer " + s("bearer"), "X-Registry-Token": s("free"), "User-Agent": s("free")},
        "proxies": {"default": {"httpProxy": "http://u:%s@proxy:3128" % s("url"),
                                "httpsProxy": "http://%s@proxy:3128" % ("glpat-00" + s("word")),
                                "allProxy": "socks5://u:%s@socks:1080" % s("url"), "noProxy": "localhost"}},
        "credHelpers": {"ecr.tld": "ecr-login"}, "psFormat": "table {{.ID}}",
    }
    entries = auth.build_registry_entries([{"registry": "https://Reg.tld/", "username": "ci", "password": s("free")},
                                           {"registry": "tok.tld", "state": "absent"}])[0]
    new = auth.plan_config_json(current, entries)[0]
    found = secrets.collect(current) | secrets.collect(new)
    for side in (auth.masked_config_json(current, found), auth.masked_config_json(new, found)):
        assert_hidden(side, placed)
        assert "ecr-login" in side and "table {{.ID}}" in side and "localhost" in side
