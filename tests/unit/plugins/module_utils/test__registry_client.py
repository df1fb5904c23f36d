# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry client: references, challenges, and the Basic and Bearer flows against a fake registry.

The Basic flow is also tested against a real distribution registry in tests/functional; the Bearer
(token service) flow has no local server there, so it is checked here request by request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import urllib.parse

import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _registry_client as client

DIGEST = "sha256:" + "c" * 64


@pytest.mark.parametrize("image, want", [
    ("alpine", ("docker.io", "registry-1.docker.io", "library/alpine", None, None)),
    ("alpine:3.20", ("docker.io", "registry-1.docker.io", "library/alpine", "3.20", None)),
    ("index.docker.io/user/app:1", ("docker.io", "registry-1.docker.io", "user/app", "1", None)),
    ("Reg.TLD:5000/ns/app:1", ("reg.tld:5000", "reg.tld:5000", "ns/app", "1", None)),
    ("localhost/app@" + DIGEST, ("localhost", "localhost", "app", None, DIGEST)),
    ("reg.tld/ns/app:1@" + DIGEST, ("reg.tld", "reg.tld", "ns/app", "1", DIGEST)),
])
def test_split_image(image, want):
    assert client.split_image(image) == want


@pytest.mark.parametrize("image", ["", " x", "reg.tld/NS/app", "reg.tld//app", "app@sha256:short", "app:bad tag"])
def test_split_image_refuses(image):
    with pytest.raises(client.ImageRefError):
        client.split_image(image)


@pytest.mark.parametrize("image, keep, want", [
    ("reg.tld:5000/ns/app:1", False, "reg.tld:5000/ns/app@" + DIGEST),
    ("reg.tld:5000/ns/app:1", True, "reg.tld:5000/ns/app:1@" + DIGEST),
    ("reg.tld:5000/ns/app", True, "reg.tld:5000/ns/app:latest@" + DIGEST),
    ("reg.tld:5000/ns/app:1@sha256:" + "d" * 64, True, "reg.tld:5000/ns/app:1@" + DIGEST),
    ("alpine", False, "alpine@" + DIGEST),
])
def test_with_digest(image, keep, want):
    assert client.with_digest(image, DIGEST, keep_tag=keep) == want


def test_parse_challenge():
    assert client.parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                                  'scope="repository:library/alpine:pull"') == (
        "bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                   "scope": "repository:library/alpine:pull"})
    assert client.parse_challenge('Basic realm="runnerkit-test"') == ("basic", {"realm": "runnerkit-test"})
    assert client.parse_challenge(None) == (None, {})


class FakeRegistry:
    """A registry with a token service, answering Transport.request calls. Records every request."""

    def __init__(self, scheme="bearer", users=None, manifests=None, send_digest=True, refresh_tokens=()):
        self.scheme, self.users = scheme, users or {"ci": "pw"}
        self.manifests = manifests or {("ns/app", "1"): b'{"schemaVersion":2}'}
        self.send_digest, self.refresh_tokens = send_digest, set(refresh_tokens)
        self.requests = []
        self.certificate_expiry = {}  # Transport's record of verified certificates, filled by tests that need one

    def deadline(self):
        """Transport.deadline: answers here are instant, so there is nothing to bound."""
        return contextlib.nullcontext()

    def _basic_user(self, headers):
        value = headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _sep, password = base64.b64decode(value[6:]).decode().partition(":")
        return user if self.users.get(user) == password else False

    def request(self, method, url, headers=None, body=None):
        headers = headers or {}
        self.requests.append((method, url, dict(headers), body))
        parts = urllib.parse.urlsplit(url)
        if parts.netloc == "auth.example":
            if method == "POST":
                form = urllib.parse.parse_qs(body.decode())
                if form["refresh_token"][0] not in self.refresh_tokens:
                    return client.Response(401, [], b"")
                return client.Response(200, [], json.dumps({"access_token": "tok-refresh"}).encode())
            user = self._basic_user(headers)
            if user is False:
                return client.Response(401, [], b"")
            return client.Response(200, [], json.dumps({"token": "tok-%s" % (user or "anon")}).encode())
        challenge = ('Bearer realm="https://auth.example/token",service="reg.example"' if self.scheme == "bearer"
                     else 'Basic realm="x"')
        auth = headers.get("Authorization", "")
        if self.scheme == "bearer":
            allowed = auth in ("Bearer tok-ci", "Bearer tok-refresh")
        else:
            allowed = bool(self._basic_user(headers))
        if parts.path == "/v2/":
            return client.Response(200 if allowed else 401, [("WWW-Authenticate", challenge)], b"")
        if not allowed:
            return client.Response(401, [("WWW-Authenticate", challenge)], b"")
        repo, _sep, reference = parts.path[len("/v2/"):].partition("/manifests/")
        body_bytes = self.manifests.get((repo, reference))
        if body_bytes is None:
            return client.Response(404, [], b"")
        digest = "sha256:" + hashlib.sha256(body_bytes).hexdigest()
        headers_out = [("Docker-Content-Digest", digest)] if self.send_digest else []
        return client.Response(200, headers_out, body_bytes if method == "GET" else b"")


MANIFEST_DIGEST = "sha256:" + hashlib.sha256(b'{"schemaVersion":2}').hexdigest()


def test_bearer_flow_with_basic_credentials():
    fake = FakeRegistry()
    result = client.probe("reg.example/ns/app:1", client.Credentials("ci", "pw"), fake)
    assert (result["status"], result["digest"], result["auth_scheme"], result["authenticated"]) == (
        "ok", MANIFEST_DIGEST, "bearer", True)
    token_request = fake.requests[1]
    assert token_request[0] == "GET" and "scope=repository%3Ans%2Fapp%3Apull" in token_request[1]
    assert "service=reg.example" in token_request[1]
    head = fake.requests[2]
    assert head[0] == "HEAD" and head[2]["Authorization"] == "Bearer tok-ci"
    accept = head[2]["Accept"]
    assert all(t in accept for t in ("application/vnd.oci.image.index.v1+json",
                                     "application/vnd.docker.distribution.manifest.list.v2+json",
                                     "application/vnd.oci.image.manifest.v1+json",
                                     "application/vnd.docker.distribution.manifest.v2+json"))


def test_bearer_flow_wrong_password_is_unauthorized_at_the_token_service():
    result = client.probe("reg.example/ns/app:1", client.Credentials("ci", "wrong"), FakeRegistry())
    assert result["status"] == "unauthorized" and "refused user 'ci'" in result["message"]
    assert "wrong" not in json.dumps(result)


def test_bearer_flow_anonymous_token_without_pull_rights():
    result = client.probe("reg.example/ns/app:1", None, FakeRegistry())
    assert result["status"] == "unauthorized" and "anonymous access may not pull" in result["message"]


def test_bearer_flow_identity_token_uses_the_oauth2_refresh_grant():
    fake = FakeRegistry(refresh_tokens=["refresh-1"])
    result = client.probe("reg.example/ns/app:1", client.Credentials(identity_token="refresh-1"), fake)
    assert result["status"] == "ok"
    method, _url, _headers, body = fake.requests[1]
    form = urllib.parse.parse_qs(body.decode())
    assert method == "POST" and form["grant_type"] == ["refresh_token"] and form["scope"] == ["repository:ns/app:pull"]


def test_basic_flow_and_missing_manifest():
    fake = FakeRegistry(scheme="basic")
    assert client.probe("reg.example/ns/app:1", client.Credentials("ci", "pw"), fake)["status"] == "ok"
    missing = client.probe("reg.example/ns/app:2", client.Credentials("ci", "pw"), fake)
    assert missing["status"] == "not_found" and "manifest 2 not found in reg.example/ns/app" == missing["message"]
    wrong = client.probe("reg.example/ns/app:1", client.Credentials("ci", "nope"), fake)
    assert wrong["status"] == "unauthorized" and "wrong user name or password" in wrong["message"]


def test_digest_from_the_body_when_the_header_is_missing():
    result = client.probe("reg.example/ns/app:1", client.Credentials("ci", "pw"), FakeRegistry(send_digest=False))
    assert result["digest"] == MANIFEST_DIGEST


def test_follow_tag_reports_where_the_tag_points_now():
    fake = FakeRegistry(manifests={("ns/app", "1"): b"new", ("ns/app", "sha256:" + hashlib.sha256(b"old").hexdigest()):
                                   b"old"})
    old = "sha256:" + hashlib.sha256(b"old").hexdigest()
    result = client.probe("reg.example/ns/app:1@" + old, client.Credentials("ci", "pw"), fake, follow_tag=True)
    assert result["digest"] == old and result["tag_digest"] == "sha256:" + hashlib.sha256(b"new").hexdigest()


def test_probe_reports_the_expiry_of_the_certificate_the_transport_verified():
    fake = FakeRegistry()
    fake.certificate_expiry["reg.example"] = 1893456000.0
    assert client.probe("reg.example/ns/app:1", client.Credentials("ci", "pw"), fake)["certificate_expires"] == 1893456000.0
    assert "certificate_expires" not in client.probe("reg.example/ns/app:1", client.Credentials("ci", "pw"),
                                                     FakeRegistry())


class Unreachable:
    deadline = FakeRegistry.deadline
    certificate_expiry = {}

    def request(self, method, url, headers=None, body=None):
        raise client.ProbeFailure(client.UNREACHABLE, "cannot connect to reg.example: refused", reachable=False)


def test_unreachable():
    result = client.probe("reg.example/ns/app:1", None, Unreachable())
    assert (result["status"], result["reachable"]) == ("unreachable", False)


def test_real_transport_reports_refused_connections():
    transport = client.Transport(timeout=2, certs_dirs=())
    result = client.probe("127.0.0.1:9/ns/app:1", None, transport)
    assert result["status"] == "unreachable" and "cannot connect to 127.0.0.1:9" in result["message"]
