# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""A small Docker Registry HTTP API v2 client (standard library and _docker_auth): is an image there, and its digest.

GET /v2/ -> 401 challenge -> Basic credentials or a Bearer token from the realm (GET with Basic,
POST refresh_token for identity tokens, anonymous GET) -> HEAD of the manifest, accepting Docker and
OCI manifests and manifest lists/indexes, digest from Docker-Content-Digest (or sha256 of the body).

Results are plain dicts: status ok | unauthorized | not_found | unreachable | timeout | error,
digest, reachable, authenticated, auth_scheme and a message that never holds a secret.

Every wait is bounded by one deadline over the whole probe of an image (all its requests): the
socket timeout is set to the time left before the connect, the TLS handshake (Python bounds a
handshake as a whole) and every single read and send, so a server that trickles one byte a second
cannot stretch it. Only a proxy's answer to CONNECT is read with a per-read timeout (the time left
at connect), as http.client reads it inside connect().
"""

from __future__ import annotations

import base64
import contextlib
import glob
import hashlib
import http.client
import io
import json
import os
import re
import socket
import ssl
import time
import urllib.parse
import urllib.request

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth

OK, UNAUTHORIZED, NOT_FOUND, UNREACHABLE, ERROR = "ok", "unauthorized", "not_found", "unreachable", "error"
TIMEOUT = "timeout"
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DOCKER_HUB_API = "registry-1.docker.io"
DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
USER_AGENT = "runnerkit.gitlab_runner (registry probe)"
MAX_REDIRECTS = 5
# Where the Docker daemon (the one that really pulls for the runner) finds extra registry CAs.
DOCKER_CERTS_DIR = "/etc/docker/certs.d"


class ImageRefError(ValueError):
    """Not an image reference this client can ask a registry about."""


def split_image(image):
    """(registry host[:port], API host[:port], repository, tag or None, digest or None) of a reference.

    The registry is the first component when it has '.' or ':' or is `localhost` (as Docker and the
    runner decide); Docker Hub names get `library/` when they have no namespace.
    """
    if not isinstance(image, str) or not image or image != image.strip():
        raise ImageRefError("image reference %r is empty or has surrounding spaces" % (image,))
    name, _sep, digest = image.partition("@")
    if digest and not DIGEST.match(digest):
        raise ImageRefError("image reference %r has an invalid digest" % image)
    parts = name.split("/")
    tag = None
    if ":" in parts[-1]:
        parts[-1], tag = parts[-1].split(":", 1)
    registry, repo = auth.split_registry(parts)
    if registry == "docker.io" and len(repo) == 1:
        repo = ["library"] + repo
    repository = "/".join(repo)
    if not repository or any(not p for p in repo) or not re.match(r"^[a-z0-9._/-]+$", repository):
        raise ImageRefError("image reference %r has an invalid repository name %r" % (image, repository))
    if tag is not None and not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", tag):
        raise ImageRefError("image reference %r has an invalid tag %r" % (image, tag))
    api = DOCKER_HUB_API if registry == "docker.io" else registry
    return registry, api, repository, tag, digest or None


def with_digest(image, digest, keep_tag=False):
    """`name@digest`, or `name:tag@digest` with keep_tag (an untagged name gets its implied `latest`)."""
    head, slash, last = image.partition("@")[0].rpartition("/")
    last, _colon, tag = last.partition(":")
    bare = head + slash + last
    tag = tag or "latest"
    return "%s:%s@%s" % (bare, tag, digest) if keep_tag else "%s@%s" % (bare, digest)


def parse_challenge(header):
    """(scheme lower-cased, {param: value}) of the first challenge of a WWW-Authenticate header."""
    if not header:
        return None, {}
    scheme, _sep, rest = header.strip().partition(" ")
    params = {}
    for match in re.finditer(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))', rest):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body


class ProbeFailure(Exception):
    def __init__(self, status, message, reachable=True):
        super().__init__(message)
        self.status, self.message, self.reachable = status, message, reachable


class DeadlinePassed(socket.timeout):
    """The probe's deadline passed before or during a socket operation."""


def time_left(deadline):
    """Seconds until the deadline (a time.monotonic() value); DeadlinePassed when none are left."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlinePassed("deadline passed")
    return left


class _DeadlineReader(io.RawIOBase):
    """What sock.makefile("rb") gives http.client, with the socket timeout set to the time left before
    every read: the per-read timeout alone lets a trickling server keep a response open forever."""

    def __init__(self, sock, deadline):
        super().__init__()
        self._sock, self._deadline = sock, deadline

    def readable(self):
        return True

    def readinto(self, buffer):
        self._sock.settimeout(time_left(self._deadline))
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """The connected socket as http.client uses it (sendall, makefile, close), bounded by a deadline."""

    def __init__(self, sock, deadline):
        self._sock, self._deadline = sock, deadline

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def sendall(self, data, *args):
        self._sock.settimeout(time_left(self._deadline))  # sendall's timeout is over the whole call
        return self._sock.sendall(data, *args)

    def makefile(self, mode="r", **_kwargs):
        if mode != "rb":
            raise ValueError("only binary reads are bounded by the deadline")
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self):
        self._sock.close()


class _DeadlineMixin:
    """Connect with the time left (TCP connect and TLS handshake are each bounded as a whole by the
    socket timeout), then bound every later read and send by the deadline."""

    deadline = None

    def connect(self):
        self.timeout = time_left(self.deadline)
        super().connect()
        self.sock = _DeadlineSocket(self.sock, self.deadline)


class _HTTPConnection(_DeadlineMixin, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineMixin, http.client.HTTPSConnection):
    pass


def load_client_pairs(context, directory):
    """Present the client certificates of a certs.d directory as dockerd does: every X.cert with its X.key
    (a certificate without its key is skipped; dockerd refuses the registry then, the probe says why)."""
    for cert in sorted(glob.glob(os.path.join(directory, "*.cert"))):
        key = cert[:-len(".cert")] + ".key"
        if os.path.exists(key):
            try:
                context.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as exc:
                raise ProbeFailure(ERROR, "cannot use the client certificate %s with %s: %s" % (cert, key, exc))


class Transport:
    """HTTPS requests with TLS verification (system CAs + ca_file + Docker's certs.d), proxies from
    the environment, and redirects (Authorization is dropped when a redirect leaves the host)."""

    def __init__(self, ca_file=None, validate_certs=True, timeout=10.0, certs_dirs=(DOCKER_CERTS_DIR,)):
        self.ca_file, self.validate_certs, self.timeout = ca_file, validate_certs, timeout
        self.certs_dirs = certs_dirs or ()
        self._contexts = {}
        # netloc -> the notAfter (epoch seconds) of the certificate it presented, once verified.
        self.certificate_expiry = {}
        self._deadline = None

    @contextlib.contextmanager
    def deadline(self):
        """All requests inside share one deadline, `timeout` seconds from now (nested: the outer one)."""
        if self._deadline is not None:
            yield
            return
        self._deadline = time.monotonic() + self.timeout
        try:
            yield
        finally:
            self._deadline = None

    def context(self, host):
        if host not in self._contexts:
            if not self.validate_certs:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                context = ssl.create_default_context()
                if self.ca_file:
                    context.load_verify_locations(cafile=self.ca_file)
                for directory in self.certs_dirs:
                    for ca in sorted(glob.glob(os.path.join(directory, host, "*.crt"))):
                        context.load_verify_locations(cafile=ca)
                    load_client_pairs(context, os.path.join(directory, host))
            self._contexts[host] = context
        return self._contexts[host]

    def _connection(self, scheme, netloc, deadline):
        host, port = _split_netloc(netloc, 443 if scheme == "https" else 80)
        proxy = None
        proxies = urllib.request.getproxies()
        if proxies.get(scheme) and not urllib.request.proxy_bypass(host):
            proxy = urllib.parse.urlsplit(proxies[scheme] if "://" in proxies[scheme] else "http://" + proxies[scheme])
        target = (proxy.hostname, proxy.port or 8080) if proxy is not None else (host, port)
        if scheme == "https":
            conn = _HTTPSConnection(target[0], target[1], timeout=self.timeout, context=self.context(netloc))
        else:
            conn = _HTTPConnection(target[0], target[1], timeout=self.timeout)
        conn.deadline = deadline
        if proxy is not None:
            conn.set_tunnel(host, port)
        return conn

    def request(self, method, url, headers=None, body=None):
        headers = dict(headers or {})
        headers.setdefault("User-Agent", USER_AGENT)
        deadline = self._deadline if self._deadline is not None else time.monotonic() + self.timeout
        for _redirect in range(MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("https", "http"):
                raise ProbeFailure(ERROR, "refusing to follow %s (only https and http)" % _safe_url(url))
            conn = self._connection(parts.scheme, parts.netloc, deadline)
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            try:
                conn.request(method, target, body=body, headers=headers)
                self._note_certificate(parts.netloc, conn)
                response = conn.getresponse()
                data = response.read() if method != "HEAD" else b""
                result = Response(response.status, response.getheaders(), data)
            except DeadlinePassed:
                raise self._timed_out(parts.netloc)
            except ssl.SSLCertVerificationError as exc:
                message = ("TLS: the certificate of %s is not trusted (%s); give ca_file or put the CA in %s/%s/ca.crt"
                           % (parts.netloc, exc.verify_message or exc, DOCKER_CERTS_DIR, parts.netloc))
                raise ProbeFailure(UNREACHABLE, message, reachable=False)
            except ssl.SSLError as exc:
                if time.monotonic() >= deadline:
                    raise self._timed_out(parts.netloc)
                raise ProbeFailure(UNREACHABLE, "TLS handshake with %s failed: %s" % (parts.netloc, exc),
                                   reachable=False)
            except (socket.timeout, TimeoutError):
                raise self._timed_out(parts.netloc)
            except (OSError, http.client.HTTPException) as exc:
                if time.monotonic() >= deadline:  # an error the deadline caused (a TLS read cut short)
                    raise self._timed_out(parts.netloc)
                raise ProbeFailure(UNREACHABLE, "cannot connect to %s: %s" % (parts.netloc, exc), reachable=False)
            finally:
                conn.close()
            if result.status in (301, 302, 303, 307, 308) and result.headers.get("location"):
                new = urllib.parse.urljoin(url, result.headers["location"])
                if urllib.parse.urlsplit(new).netloc != parts.netloc:
                    headers.pop("Authorization", None)
                if result.status == 303:
                    method, body = "GET", None
                url = new
                continue
            return result
        raise ProbeFailure(ERROR, "too many redirects from %s" % _safe_url(url))

    def _note_certificate(self, netloc, conn):
        """The verified peer certificate's expiry (an unverified one has no parsed fields: nothing to note)."""
        getpeercert = getattr(conn.sock, "getpeercert", None)  # the TLS socket inside _DeadlineSocket
        peer = getpeercert() if getpeercert is not None else None
        if peer and peer.get("notAfter"):
            self.certificate_expiry[netloc] = ssl.cert_time_to_seconds(peer["notAfter"])

    def _timed_out(self, netloc):
        return ProbeFailure(TIMEOUT, "%s did not answer in time: the probe of an image may take %s s in all"
                            % (netloc, self.timeout), reachable=False)


def _split_netloc(netloc, default_port):
    if netloc.startswith("["):
        host, _sep, rest = netloc[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = netloc.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return netloc, default_port


def _safe_url(url):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _basic(username, password):
    return "Basic " + base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")


class Credentials:
    """What the runner hands to Docker: username/password, an identity token or a registry token."""

    def __init__(self, username="", password="", identity_token="", registry_token=""):
        self.username = username or ""
        self.password = password or ""
        self.identity_token = identity_token or ""
        self.registry_token = registry_token or ""

    def __bool__(self):
        return bool(self.username or self.password or self.identity_token or self.registry_token)

    def who(self):
        if self.identity_token:
            return "an identity token"
        if self.registry_token:
            return "a registry token"
        return "user '%s'" % self.username


def _token(transport, params, repository, creds, registry):
    """The Bearer token flow (distribution token spec and its OAuth2 variant for identity tokens)."""
    realm = params.get("realm")
    if not realm:
        raise ProbeFailure(ERROR, "%s sent a Bearer challenge without realm" % registry)
    if creds.registry_token:
        return creds.registry_token
    scope = "repository:%s:pull" % repository
    query = {"scope": scope}
    if params.get("service"):
        query["service"] = params["service"]
    if creds.identity_token:
        form = dict(query, grant_type="refresh_token", refresh_token=creds.identity_token,
                    client_id="runnerkit.gitlab_runner")
        response = transport.request("POST", realm, {"Content-Type": "application/x-www-form-urlencoded"},
                                     urllib.parse.urlencode(form).encode("ascii"))
    else:
        separator = "&" if "?" in realm else "?"
        headers = {"Authorization": _basic(creds.username, creds.password)} if creds else {}
        response = transport.request("GET", realm + separator + urllib.parse.urlencode(query), headers)
    if response.status in (401, 403):
        raise ProbeFailure(UNAUTHORIZED, "the token service %s refused %s (HTTP %d)"
                           % (_safe_url(realm), creds.who() if creds else "anonymous access", response.status))
    if response.status != 200:
        raise ProbeFailure(ERROR, "the token service %s answered HTTP %d" % (_safe_url(realm), response.status))
    try:
        data = json.loads(response.body.decode("utf-8"))
        token = data.get("token") or data.get("access_token")
    except (ValueError, UnicodeError, AttributeError):
        token = None
    if not token:
        raise ProbeFailure(ERROR, "the token service %s sent no token" % _safe_url(realm))
    return token


def _manifest(transport, base, repository, reference, authorization):
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    if authorization:
        headers["Authorization"] = authorization
    url = "%s/v2/%s/manifests/%s" % (base, repository, reference)
    response = transport.request("HEAD", url, headers)
    if response.status == 200:
        digest = response.headers.get("docker-content-digest")
        if not digest:
            response = transport.request("GET", url, headers)
            if response.status == 200:
                digest = "sha256:" + hashlib.sha256(response.body).hexdigest()
        if digest:
            return digest
    return response


def probe(image, creds=None, transport=None, follow_tag=False):
    """Ask the registry for an image as Docker would pull it; a dict, never raises for registry answers.

    With follow_tag and a `name:tag@digest` reference, `tag_digest` is what the tag points to now.
    """
    creds = creds or Credentials()
    transport = transport or Transport()
    result = {"status": ERROR, "digest": None, "reachable": False, "authenticated": None, "auth_scheme": None,
              "message": ""}
    try:
        registry, api, repository, tag, digest = split_image(image)
    except ImageRefError as exc:
        result["message"] = str(exc)
        return result
    base = "https://" + api
    try:
        with transport.deadline():
            authorization = _authorize(transport, base, registry, repository, creds, result)
            found = _manifest(transport, base, repository, digest or tag or "latest", authorization)
            if isinstance(found, Response):
                raise _manifest_failure(found, registry, repository, digest or tag or "latest", creds)
            result.update(status=OK, digest=found)
            if digest and found != digest:
                result["message"] = "the registry serves %s under %s" % (found, digest)
            if follow_tag and tag and digest:
                moved = _manifest(transport, base, repository, tag, authorization)
                if isinstance(moved, Response):
                    raise _manifest_failure(moved, registry, repository, tag, creds)
                result["tag_digest"] = moved
    except ProbeFailure as exc:
        result.update(status=exc.status, message=exc.message)
    if api in transport.certificate_expiry:
        result["certificate_expires"] = transport.certificate_expiry[api]
    return result


def _authorize(transport, base, registry, repository, creds, result):
    """The ping and the challenge: the Authorization header for the manifest requests (None: anonymous)."""
    ping = transport.request("GET", base + "/v2/")
    result["reachable"] = True
    if ping.status == 200:
        return None
    if ping.status != 401:
        raise ProbeFailure(ERROR, "GET %s/v2/ answered HTTP %d: not a Docker Registry HTTP API v2 endpoint"
                           % (base, ping.status))
    scheme, params = parse_challenge(ping.headers.get("www-authenticate"))
    result["auth_scheme"] = scheme
    if scheme == "basic":
        if not creds or creds.identity_token or creds.registry_token:
            return None
        authorization = _basic(creds.username, creds.password)
        check = transport.request("GET", base + "/v2/", {"Authorization": authorization})
        if check.status == 401:
            raise ProbeFailure(UNAUTHORIZED, "%s refused the credentials of %s (wrong user name or password)"
                               % (registry, creds.who()))
        result["authenticated"] = check.status == 200
        return authorization
    if scheme == "bearer":
        authorization = "Bearer " + _token(transport, params, repository, creds, registry)
        result["authenticated"] = bool(creds)
        return authorization
    raise ProbeFailure(ERROR, "%s asks for an unsupported authentication scheme %r" % (registry, scheme))


def _manifest_failure(response, registry, repository, reference, creds):
    if response.status == 404:
        return ProbeFailure(NOT_FOUND, "manifest %s not found in %s/%s" % (reference, registry, repository))
    if response.status in (401, 403):
        who = creds.who() if creds else "anonymous access"
        return ProbeFailure(UNAUTHORIZED, "%s may not pull %s/%s (HTTP %d)"
                            % (who, registry, repository, response.status))
    return ProbeFailure(ERROR, "HEAD of manifest %s of %s/%s answered HTTP %d"
                        % (reference, registry, repository, response.status))
