# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS for functional tests: a real moto server with TLS on 127.0.0.1, and a loopback CONNECT proxy.

* :class:`MotoServer` runs moto's own WSGI app (the one ``moto_server`` serves) in a thread of this
  process with TLS, on 127.0.0.1 and a free port.  Every request is recorded (:meth:`calls`), and
  two switches act on real moto without replacing it:

  - :meth:`set_ecr_token` makes moto's ``GetAuthorizationToken`` answer carry a token and an expiry
    the test chooses for one registry id (moto's own tokens are ``AWS:<id>-auth-token`` with an
    expiry in 2015, which no expiry logic can be tested with).  Only those two values of moto's
    answer are rewritten; signature check, routing, JSON and the rest are moto's.
  - :meth:`enforce_iam` turns on moto's IAM authorization (its ``/moto-api/reset-auth``), so
    unknown keys and identities without ``ecr:GetAuthorizationToken`` get moto's real errors.

* :class:`ConnectProxy` is an HTTP CONNECT proxy on 127.0.0.1 that tunnels by host name: the AWS
  API names on the test certificate go to moto, hosts given to :meth:`ConnectProxy.route` go to
  their loopback port, anything else is refused (502, as for a name that does not resolve).  With
  ``HTTPS_PROXY`` pointing at it, Debian's ``docker-credential-ecr-login`` 0.6.0 (no endpoint
  override) and boto3 both reach moto under the real endpoint names, and skopeo reaches a local
  registry under a real ECR registry name (reference/tooling-notes.md, §3.5 of the helper
  reference).

* :func:`make_certs` makes one throwaway CA and one server certificate naming 127.0.0.1,
  localhost, the ECR/STS API endpoints of :data:`REGIONS` and any extra names (an ECR registry
  host for a local registry): clients get the CA through ``AWS_CA_BUNDLE`` or skopeo's
  ``--cert-dir``.

Facts relied on (moto 5.2.5): moto picks the service and region from the SigV4 credential scope,
so any host name works; ``GetAuthorizationToken`` sends ``proxyEndpoint``
``https://<id>.dkr.ecr.<region>.amazonaws.com``; ``ecr-public`` is not implemented (HTTP 500).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import io
import json
import logging
import os
import re
import select
import shutil
import socket
import ssl
import threading
import time
import urllib.request

import registry as reg

LOOPBACK = "127.0.0.1"
ACCOUNT = "123456789012"  # moto's default account for any access key
ECR_HOST = "%s.dkr.ecr.eu-west-1.amazonaws.com" % ACCOUNT  # the ECR name a local registry answers to
REGIONS = ("eu-west-1", "us-east-1", "us-east-2")
CN_REGIONS = ("cn-north-1",)
ECR_TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
HELPER = shutil.which("docker-credential-ecr-login") or "/usr/bin/docker-credential-ecr-login"


def aws_api_names(regions=REGIONS, cn_regions=CN_REGIONS):
    """Host names botocore and the AWS SDK for Go use for ECR, ECR FIPS, dual-stack ECR and STS."""
    names = []
    for region in regions:
        names += ["api.ecr.%s.amazonaws.com" % region, "api.ecr-fips.%s.amazonaws.com" % region,
                  "ecr.%s.api.aws" % region, "sts.%s.amazonaws.com" % region]
    for region in cn_regions:
        names += ["api.ecr.%s.amazonaws.com.cn" % region, "sts.%s.amazonaws.com.cn" % region]
    return names + ["sts.amazonaws.com"]


def make_certs(directory, extra_names=()):
    """A throwaway CA and one server certificate for loopback, the AWS API names and ``extra_names``."""
    names = ("127.0.0.1", "localhost") + tuple(aws_api_names()) + tuple(extra_names)
    return reg.make_ca_and_cert(directory, names=names)


def token_auth(password, username="AWS"):
    """The base64 ``auth`` of a token (what ECR returns as ``authorizationToken``)."""
    return base64.b64encode(("%s:%s" % (username, password)).encode()).decode()


# A task appended to a test playbook: the registered results (a Jinja mapping, %s) into the file
# `out`, 0600 and no_log, so that the test can read the tokens the output must not show.
KEEP_RESULTS_TASK = """
    - name: Keep the registered results for the test
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ kept | to_json }}"
        mode: "0600"
      vars:
        kept: %s
      no_log: true
"""


def iso_utc(moment):
    """An expiry as ecr_authorization reports it: ISO 8601 UTC, whole seconds."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def secret_forms(password):
    """A token as it could leak: raw, its auth string, base64, JSON-escaped."""
    auth = token_auth(password)
    return {password, auth, base64.b64encode(password.encode()).decode(), json.dumps(auth)[1:-1]}


def assert_hidden(run, secrets):
    """No form of any secret in a PlaybookRun's -vvv output or in what its callbacks got."""
    recorded = json.dumps(run.results)
    for secret in secrets:
        assert secret not in run.output, "a token leaked into the -vvv output"
        assert secret not in recorded, "a token leaked into what callbacks get"


def moto_password(registry_id=ACCOUNT):
    """The password part of moto's own token for a registry id."""
    return "%s-auth-token" % registry_id


Call = collections.namedtuple("Call", "time service region action host access_key registry_ids status")
Call.__doc__ = """One request moto received: service/region/access_key from the SigV4 scope, action
from X-Amz-Target or the query protocol's Action, host from the Host header."""

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


class _Middleware:
    """Records each request and rewrites token/expiry in GetAuthorizationToken answers on request."""

    def __init__(self, app, server):
        self.app, self.server = app, server

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        access_key, region, service = scope.groups() if scope else (None, None, None)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        action = target.rsplit(".", 1)[-1] if target else None
        registry_ids = None
        if target.startswith(ECR_TARGET_PREFIX):
            try:
                registry_ids = json.loads(body or b"{}").get("registryIds")
            except ValueError:
                pass
        elif body and not action:
            match = re.search(rb"(?:^|&)Action=([A-Za-z]+)", body)
            action = match.group(1).decode() if match else None
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = self.app(environ, capture)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, headers = captured["status"], list(captured["headers"])
        if target == ECR_TARGET_PREFIX + "GetAuthorizationToken" and status.startswith("200"):
            data = self.server.rewrite_tokens(data)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(data))))
        self.server.record(Call(time.time(), service, region, action, environ.get("HTTP_HOST"), access_key,
                                registry_ids, int(status.split()[0])))
        start_response(status, headers)
        return [data]


class MotoServer:
    """moto's WSGI app with TLS in a thread: ``url`` is ``https://127.0.0.1:<port>``."""

    def __init__(self, certs):
        self.certs = certs
        self._tokens = {}
        self._calls = []
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self.port = None

    @property
    def url(self):
        return "https://%s:%d" % (LOOPBACK, self.port)

    @property
    def ca_file(self):
        return self.certs.ca_file

    def start(self):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on stderr
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certs.cert_file, self.certs.key_file)
        app = _Middleware(DomainDispatcherApplication(create_backend_app), self)
        self._server = make_server(LOOPBACK, 0, app, threaded=True, request_handler=MotoRequestHandler,
                                   ssl_context=context)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-%d" % self.port, daemon=True)
        self._thread.start()
        self._wait_ready()
        return self

    def _wait_ready(self):
        context = ssl.create_default_context(cafile=self.ca_file)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(self.url + "/moto-api/data.json", context=context, timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- what moto received
    def record(self, call):
        with self._lock:
            self._calls.append(call)

    def mark(self):
        with self._lock:
            return len(self._calls)

    def calls(self, since=0, action=None):
        """Requests received after ``since`` (a :meth:`mark`), optionally only those of ``action``."""
        with self._lock:
            found = self._calls[since:]
        return [c for c in found if action is None or c.action == action]

    # -- tokens the test controls
    def set_ecr_token(self, registry_id, password, expires_at):
        """Answer GetAuthorizationToken for ``registry_id`` with ``AWS:password`` expiring at ``expires_at``
        (an aware datetime or epoch seconds).  ``password=None`` restores moto's own answer."""
        with self._lock:
            if password is None:
                self._tokens.pop(registry_id, None)
            else:
                if isinstance(expires_at, datetime.datetime):
                    expires_at = expires_at.timestamp()
                self._tokens[registry_id] = (password, float(expires_at))

    def clear_ecr_tokens(self):
        with self._lock:
            self._tokens.clear()

    def rewrite_tokens(self, data):
        with self._lock:
            tokens = dict(self._tokens)
        if not tokens:
            return data
        answer = json.loads(data)
        for entry in answer.get("authorizationData", []):
            match = re.match(r"https://([^.]+)\.", entry.get("proxyEndpoint", ""))
            if match and match.group(1) in tokens:
                password, expires_at = tokens[match.group(1)]
                entry["authorizationToken"] = token_auth(password)
                entry["expiresAt"] = expires_at
        return json.dumps(answer).encode()

    # -- moto's IAM enforcement
    def _post(self, path, data=b""):
        context = ssl.create_default_context(cafile=self.ca_file)
        request = urllib.request.Request(self.url + path, data=data, method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.read()

    def enforce_iam(self, enabled=True):
        """Make moto check IAM users and policies (on) or accept any request (off, the default)."""
        self._post("/moto-api/reset-auth", b"0" if enabled else b"inf")

    def reset(self):
        """Forget every resource moto holds (IAM users, repositories ...)."""
        self._post("/moto-api/reset")


ProxyConnect = collections.namedtuple("ProxyConnect", "time host port target status")


class ConnectProxy:
    """A loopback HTTP CONNECT proxy routing by host name (see the module docstring)."""

    def __init__(self, moto_port, moto_names=None):
        self.moto_port = moto_port
        self.moto_names = set(moto_names if moto_names is not None else aws_api_names())
        self.routes = {}
        self.connects = []
        self._lock = threading.Lock()
        self._sock = None
        self._thread = None
        self._closing = threading.Event()
        self.port = None

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)

    def route(self, host, port):
        """Tunnel CONNECTs to ``host`` (any port) to 127.0.0.1:``port``."""
        with self._lock:
            self.routes[host.lower()] = port

    def _target(self, host):
        with self._lock:
            if host in self.routes:
                return self.routes[host]
        return self.moto_port if host in self.moto_names else None

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="connect-proxy-%d" % self.port, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._closing.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept(); close() does not
            self._sock.close()
            self._thread.join(5)
            self._sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def mark(self):
        with self._lock:
            return len(self.connects)

    def hosts(self, since=0):
        """The ``host:port`` of each CONNECT after ``since``, with the status answered."""
        with self._lock:
            return [("%s:%s" % (c.host, c.port), c.status) for c in self.connects[since:]]

    def _accept(self):
        while not self._closing.is_set():
            try:
                client, _addr = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client):
        upstream = None
        try:
            client.settimeout(30)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
                if len(head) > 65536:
                    return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split()
            if len(parts) != 3 or parts[0].upper() != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, _sep, port = parts[1].rpartition(":")
            host = host.strip("[]").lower()
            target = self._target(host)
            status = 200 if target else 502
            with self._lock:
                self.connects.append(ProxyConnect(time.time(), host, port, target, status))
            if target is None:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            upstream = socket.create_connection((LOOPBACK, target), timeout=10)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                upstream.sendall(rest)
            self._pipe(client, upstream)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    try:
                        sock.close()
                    except OSError:
                        pass

    def _pipe(self, client, upstream):
        sockets = [client, upstream]
        for sock in sockets:
            sock.settimeout(None)
        while not self._closing.is_set():
            readable, _w, _x = select.select(sockets, [], [], 1.0)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)


# --------------------------------------------------------------------------- environments

def boto_env(ca_file, proxy=None, credentials=("testing", "testing")):
    """Environment for boto3 (and so for the module) talking to moto: CA, no stray AWS settings.

    ``proxy``: an HTTPS_PROXY URL (AWS endpoint names through :class:`ConnectProxy`; loopback
    addresses such as an ``endpoint_url`` of moto itself bypass it), or None.
    ``credentials``: (access key, secret) put in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or None for
    no credentials at all (shared files pointed at /dev/null, no instance metadata).
    """
    env = {key: None for key in os.environ if key.startswith("AWS_")}
    env.update(AWS_CA_BUNDLE=ca_file, AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, NO_PROXY="127.0.0.1,localhost", no_proxy=None,
               HTTPS_PROXY=proxy, https_proxy=None, HTTP_PROXY=None, http_proxy=None)
    if credentials:
        env.update(AWS_ACCESS_KEY_ID=credentials[0], AWS_SECRET_ACCESS_KEY=credentials[1])
    return env


def write_aws_files(home, region="eu-west-1", access_key="testing", secret_key="testing"):
    """``~/.aws/config`` (region) and ``~/.aws/credentials`` (0600) in ``home``, as a runner user has them."""
    aws = os.path.join(home, ".aws")
    os.makedirs(aws, mode=0o700, exist_ok=True)
    with open(os.path.join(aws, "config"), "w", encoding="ascii") as handle:
        handle.write("[default]\nregion = %s\n" % region)
    path = os.path.join(aws, "credentials")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (access_key, secret_key))
    return aws


def helper_env(home, proxy_url, ca_file, cache_dir):
    """What Debian's docker-credential-ecr-login 0.6.0 needs to reach moto (tooling-notes.md).

    AWS credentials and region come from ``home``/.aws (see :func:`write_aws_files`); the helper's
    cache and log go to ``cache_dir``.  Values of None remove a variable (skopeo_env convention).
    """
    env = {key: None for key in os.environ if key.startswith("AWS_")}
    env.update(HOME=os.fspath(home), HTTPS_PROXY=proxy_url, https_proxy=None, NO_PROXY="127.0.0.1,localhost",
               no_proxy=None,
               AWS_CA_BUNDLE=ca_file, AWS_EC2_METADATA_DISABLED="true", AWS_ECR_CACHE_DIR=os.fspath(cache_dir),
               AWS_ECR_DISABLE_CACHE="1")
    return env
