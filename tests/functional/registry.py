# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real private image registry and a real client for functional tests (no pytest needed).

* :func:`make_ca_and_cert` makes a throwaway CA and a server certificate for 127.0.0.1/localhost
  with the ``openssl`` CLI.
* :class:`Registry` runs Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1 and a free
  port, with TLS, htpasswd (bcrypt) auth or none, its own storage and a log file that records,
  per request, whether an ``Authorization`` header came and for which user (see
  :meth:`Registry.requests`).
* :func:`build_oci_image` writes a tiny OCI image layout in pure Python; :func:`push`,
  :func:`inspect` and :func:`get_digest` drive ``skopeo`` 1.9 against the registry.

Facts this module relies on, seen with distribution 2.8.2+ds1 and skopeo 1.9.3 (Debian 12):

* distribution logs no request headers.  Its log tells "no Basic ``Authorization`` header"
  (``invalid authorization credential``) from "wrong user or password" (``error authenticating
  user "NAME": authentication failure``), but names no user for successful reads.  Hence the
  ``log_headers=True`` option: a TLS-terminating Python proxy in front of the registry logs every
  request's headers (:class:`HeaderLoggingProxy`, :meth:`Registry.received`).
* distribution re-reads the htpasswd file whenever its mtime changes (checked on each request),
  so :meth:`Registry.set_users` needs no restart.
* distribution reads ``REGISTRY_*`` environment variables as configuration overrides: they are
  removed from its environment (``REGISTRY_AUTH_FILE`` is a containers/image variable too).
* skopeo's ``--authfile FILE`` does NOT turn the other auth files off: it still falls back to
  ``$XDG_CONFIG_HOME/containers/auth.json``, ``$DOCKER_CONFIG/config.json`` (or
  ``~/.docker/config.json``) and ``~/.dockercfg``.  Every skopeo call here therefore runs with
  HOME, XDG_CONFIG_HOME, XDG_RUNTIME_DIR and DOCKER_CONFIG pointing into an empty sandbox
  (:func:`skopeo_env`), its own registries.conf / registries.d / policy.json, and no proxy.
* skopeo sends an ``Authorization`` header only after a 401 challenge (so never to a registry
  without auth), and after a challenge it sends one even with no credentials: ``Basic`` of ``:``
  (empty user and password).
"""

from __future__ import annotations

import atexit
import base64
import collections
import ctypes
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request

DOCKER_REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"
HTPASSWD = shutil.which("htpasswd") or "/usr/bin/htpasswd"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 15.0
SKOPEO_TIMEOUT = 60

# What skopeo 1.9.3 prints (in its fatal message on stderr) for the registry's answers.
SKOPEO_UNAUTHORIZED = "unauthorized: authentication required"
SKOPEO_MANIFEST_UNKNOWN = "manifest unknown: manifest unknown"
SKOPEO_UNKNOWN_CA = "x509: certificate signed by unknown authority"

_LIVE = set()
_LIVE_LOCK = threading.Lock()


class HarnessError(RuntimeError):
    """The harness itself could not do what it was asked (a tool failed, a server did not start)."""


class SkopeoError(HarnessError):
    """A skopeo command failed; ``rc``, ``stdout`` and ``stderr`` are kept."""

    def __init__(self, argv, rc, stdout, stderr):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        super().__init__("%s exited %s:\n%s%s" % (shlex.join(argv), rc, stdout, stderr))


def tools_missing():
    """Return the names of the external programs this module needs that are not installed."""
    return [name for name in (DOCKER_REGISTRY, SKOPEO, HTPASSWD, OPENSSL) if not os.access(name, os.X_OK)]


# --------------------------------------------------------------------------- processes

def _die_with_parent():
    """preexec_fn: have the kernel send SIGTERM to the child when the process that started it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _stop_all():
    with _LIVE_LOCK:
        live = list(_LIVE)
    for server in live:
        server.stop()


atexit.register(_stop_all)


def free_port(host=LOOPBACK):
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _run(argv, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise HarnessError("%s exited %s:\n%s%s" % (shlex.join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc


# --------------------------------------------------------------------------- TLS

Certs = collections.namedtuple("Certs", "ca_file ca_key cert_file key_file cert_dir")
Certs.__doc__ = """Paths made by make_ca_and_cert; cert_dir holds only ca.crt (skopeo --cert-dir)."""


def make_ca_and_cert(directory, names=("127.0.0.1", "localhost"), days=2):
    """Make a throwaway CA and a server certificate for ``names`` (IP or DNS SANs) signed by it.

    Keys are EC P-256 (fast to make).  Returns :class:`Certs`; ``cert_dir`` is ``directory/certs.d``
    and contains only ``ca.crt``, so it can be given to skopeo's ``--cert-dir``/``--src-cert-dir``/
    ``--dest-cert-dir`` (a ``*.cert``/``*.key`` pair there would be used as a client certificate).
    """
    directory = os.path.abspath(os.fspath(directory))
    os.makedirs(directory, exist_ok=True)

    def path(name):
        return os.path.join(directory, name)

    env = dict(os.environ, OPENSSL_CONF="/dev/null")  # no site openssl.cnf defaults
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run([OPENSSL, "req", "-x509", "-sha256", "-days", str(days), *newkey, "-keyout", path("ca.key"), "-out",
          path("ca.crt"), "-subj", "/CN=runnerkit functional test CA %s" % secrets.token_hex(4),
          "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
          "-addext", "subjectKeyIdentifier=hash"], env=env)
    _run([OPENSSL, "req", "-new", *newkey, "-keyout", path("server.key"), "-out", path("server.csr"),
          "-subj", "/CN=%s" % names[0]], env=env)
    sans = ",".join(("IP:%s" if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:]*", name) else "DNS:%s") % name
                    for name in names)
    with open(path("server.ext"), "w", encoding="ascii") as ext:
        ext.write("subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\n"
                  "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                  "authorityKeyIdentifier=keyid\n" % sans)
    _run([OPENSSL, "x509", "-req", "-sha256", "-days", str(days), "-in", path("server.csr"), "-CA", path("ca.crt"),
          "-CAkey", path("ca.key"), "-CAcreateserial", "-out", path("server.crt"), "-extfile", path("server.ext")],
         env=env)
    cert_dir = path("certs.d")
    os.makedirs(cert_dir, exist_ok=True)
    shutil.copyfile(path("ca.crt"), os.path.join(cert_dir, "ca.crt"))
    for key in ("ca.key", "server.key"):
        os.chmod(path(key), 0o600)
    return Certs(path("ca.crt"), path("ca.key"), path("server.crt"), path("server.key"), cert_dir)


# --------------------------------------------------------------------------- registry

def htpasswd_line(user, password):
    """One bcrypt htpasswd line, made by ``htpasswd -Bbn`` (cost 5: fast, still bcrypt)."""
    return _run([HTPASSWD, "-Bbn", "-C", "5", user, password]).stdout.strip() + "\n"


_HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                         "upgrade", "content-length"))

Seen = collections.namedtuple("Seen", "time method path status authorization scheme user password headers")
Seen.__doc__ = """One request as the header-logging proxy received it.

authorization: the raw ``Authorization`` header or None; scheme: its first word ("Basic",
"Bearer") or None; user/password: decoded from a Basic header, else None; headers: all request
headers (dict, last value wins).
"""


class TlsServer:
    """An HTTPS server on 127.0.0.1 in threads of the current process, for a BaseHTTPRequestHandler
    class; port 0 picks a free port (``.port``)."""

    def __init__(self, handler, cert_file, key_file, name, port=0):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address):
                try:
                    request = context.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # a client that refuses our certificate, or goes away
                super().finish_request(request, client_address)

            def handle_error(self, request, client_address):
                pass

        self._server = Server((LOOPBACK, port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="%s-%d" % (name, self.port), daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class HeaderLoggingProxy:
    """A TLS-terminating reverse proxy on 127.0.0.1 that logs every request's headers (JSON lines).

    Runs in threads of the current process.  It forwards to a plain-HTTP backend on 127.0.0.1 with
    ``X-Forwarded-Proto: https`` (so distribution writes https Location URLs), buffering bodies
    (fine for test images), and speaks HTTP/1.1 with keep-alive to the client.
    """

    def __init__(self, port, backend_port, cert_file, key_file, log_file):
        self.port, self.backend_port, self.log_file = port, backend_port, log_file
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # pylint: disable=arguments-differ
                pass

            def _read_body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self):
                body = self._read_body()
                conn = http.client.HTTPConnection(LOOPBACK, proxy.backend_port, timeout=60)
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for key, value in self.headers.items():
                        if key.lower() not in _HOP_BY_HOP and key.lower() != "x-forwarded-proto":
                            conn.putheader(key, value)
                    conn.putheader("X-Forwarded-Proto", "https")
                    if body or self.command in ("POST", "PUT", "PATCH"):
                        conn.putheader("Content-Length", str(len(body)))
                    conn.endheaders(body or None)
                    response = conn.getresponse()
                    data = response.read()
                    status, reason, headers = response.status, response.reason, response.getheaders()
                except (OSError, http.client.HTTPException) as exc:
                    status, reason, headers, data = 502, "Bad Gateway", [], str(exc).encode()
                finally:
                    conn.close()
                proxy.record(self.command, self.path, status, self.headers)
                self.send_response_only(status, reason)
                for key, value in headers:
                    if key.lower() not in _HOP_BY_HOP or (self.command == "HEAD" and key.lower() == "content-length"):
                        self.send_header(key, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD" and data:
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.server = TlsServer(Handler, cert_file, key_file, "header-logging-proxy", port)

    def record(self, method, path, status, headers):
        entry = {"time": time.time(), "method": method, "path": path, "status": status,
                 "headers": dict(headers.items())}
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock, open(self.log_file, "a", encoding="utf-8") as handle:
            handle.write(line)

    def stop(self):
        self.server.stop()


def _seen(entry):
    headers = entry["headers"]
    raw = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    scheme = user = password = None
    if raw is not None:
        scheme, _sep, value = raw.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _sep, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                pass
    return Seen(entry["time"], entry["method"], entry["path"], entry["status"], raw, scheme, user, password, headers)


Mark = collections.namedtuple("Mark", "registry_log header_log")
Mark.__doc__ = """Positions in a Registry's logs (from Registry.log_mark())."""


_LOGFMT = re.compile(r'([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)')
_AUTH_FAILED = re.compile(r'error authenticating user "((?:[^"\\]|\\.)*)"')

Request = collections.namedtuple("Request", "id method uri status auth user")
Request.__doc__ = """One request as distribution logged it.

auth: None (registry without auth), "missing" (no Basic Authorization header), "failed" (a Basic
header with a wrong or empty user or password), "ok" (accepted).  user: the user name of a
"failed" request (distribution logs no user for successful reads; use Registry.received()).
"""


def _parse_logfmt(line):
    fields = {}
    for key, value in _LOGFMT.findall(line):
        if value.startswith('"'):
            value = json.loads(value)
        fields[key] = value
    return fields


class Registry:
    """A ``docker-registry serve`` on 127.0.0.1:<free port>, TLS, htpasswd auth (or none).

    >>> server = Registry(workdir, certs, users={"ci": "pw"}).start()
    >>> server.host            # "127.0.0.1:40123"
    >>> server.stop()

    Also a context manager.  ``users=None`` means no auth at all (anonymous pulls and pushes).
    ``log_headers=True`` puts a :class:`HeaderLoggingProxy` on ``host`` in front of a plain-HTTP
    registry on ``backend_port``: :meth:`received` then lists every request's headers.
    Attributes: ``host``, ``port``, ``url``, ``ca_file``, ``cert_dir``, ``log_file``,
    ``header_log_file``, ``users``, ``auth`` (bool), ``workdir``, ``images`` (ref -> digest of what
    :func:`push` pushed).
    """

    # Subclasses serve elsewhere: another address, and a command that runs the server there (such as
    # `ip netns exec NS`, for an address the Docker daemon verifies: it trusts all of 127.0.0.0/8).
    listen_host = LOOPBACK
    command_prefix = ()

    def __init__(self, workdir, certs, users=None, port=None, realm="runnerkit-test", log_headers=False):
        self.workdir = os.path.abspath(os.fspath(workdir))
        self.certs = certs
        self.auth = users is not None
        self.users = dict(users or {})
        self.realm = realm
        self.log_headers = log_headers
        self._fixed_ports = (port, None)
        self.port = self.backend_port = None
        self.images = {}
        self.process = None
        self.proxy = None
        self._log = None
        self.config_file = os.path.join(self.workdir, "config.yml")
        self.htpasswd_file = os.path.join(self.workdir, "htpasswd")
        self.storage_dir = os.path.join(self.workdir, "storage")
        self.log_file = os.path.join(self.workdir, "registry.log")
        self.header_log_file = os.path.join(self.workdir, "headers.jsonl") if log_headers else None
        os.makedirs(self.storage_dir, exist_ok=True)

    # -- properties
    @property
    def host(self):
        return "%s:%d" % (self.listen_host, self.port)

    @property
    def url(self):
        return "https://%s" % self.host

    @property
    def ca_file(self):
        return self.certs.ca_file

    @property
    def cert_dir(self):
        return self.certs.cert_dir

    def ref(self, name):
        """``host/name`` for a repository[:tag] name such as ``ns/app:1``."""
        return "%s/%s" % (self.host, name)

    def __repr__(self):
        return "<Registry %s auth=%s users=%s>" % (self.host if self.port else "(stopped)", self.auth,
                                                   sorted(self.users))

    # -- lifecycle
    def _write_config(self):
        listen = "%s:%d" % (self.listen_host, self.backend_port or self.port)
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  formatter: text",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            "    rootdirectory: %s" % json.dumps(self.storage_dir),
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            "  addr: %s" % json.dumps(listen),
            "  secret: %s" % json.dumps(secrets.token_hex(16)),
        ]
        if not self.log_headers:
            lines += ["  tls:",
                      "    certificate: %s" % json.dumps(self.certs.cert_file),
                      "    key: %s" % json.dumps(self.certs.key_file)]
        lines += ["health:", "  storagedriver:", "    enabled: false"]
        if self.auth:
            lines += ["auth:", "  htpasswd:", "    realm: %s" % json.dumps(self.realm),
                      "    path: %s" % json.dumps(self.htpasswd_file)]
        with open(self.config_file, "w", encoding="utf-8") as config:
            config.write("\n".join(lines) + "\n")

    def start(self):
        """Start the server and wait until ``GET /v2/`` answers (401 with auth, 200 without)."""
        if self.process is not None:
            return self
        if self.auth:
            self._write_htpasswd()
        fixed = self._fixed_ports[0] is not None
        attempts = 1 if fixed else 3
        for attempt in range(attempts):
            try:
                self._start_once()
                return self
            except HarnessError:
                self.stop()
                if attempt == attempts - 1:
                    raise
        return self  # pragma: no cover

    def _start_once(self):
        port, backend_port = self._fixed_ports
        self.port = port or free_port()
        if self.log_headers:
            self.backend_port = backend_port or free_port()
            while self.backend_port == self.port:
                self.backend_port = free_port()
        self._write_config()
        with _LIVE_LOCK:
            _LIVE.add(self)
        # Keep the server's log across restarts: open for append.
        self._log = open(self.log_file, "ab")  # pylint: disable=consider-using-with
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            list(self.command_prefix) + [DOCKER_REGISTRY, "serve", self.config_file], stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=env, cwd=self.workdir, preexec_fn=_die_with_parent)
        if self.log_headers:
            try:
                self.proxy = HeaderLoggingProxy(self.port, self.backend_port, self.certs.cert_file,
                                                self.certs.key_file, self.header_log_file)
            except OSError as exc:
                raise HarnessError("header-logging proxy cannot listen on %s: %s" % (self.host, exc)) from exc
        self._wait_ready()

    def _wait_ready(self):
        context = ssl.create_default_context(cafile=self.ca_file)
        want = 401 if self.auth else 200
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HarnessError("docker-registry exited %s before answering:\n%s"
                                   % (self.process.returncode, self.log_text()[-3000:]))
            try:
                with urllib.request.urlopen(self.url + "/v2/", context=context, timeout=2) as response:
                    last = response.status
            except urllib.error.HTTPError as exc:
                last = exc.code
            except (urllib.error.URLError, OSError) as exc:
                last = exc
            if last == want:
                return
            time.sleep(0.05)
        raise HarnessError("docker-registry on %s did not answer %s on /v2/ (last: %r):\n%s"
                           % (self.host, want, last, self.log_text()[-3000:]))

    def stop(self):
        """Stop the proxy and the server (SIGTERM, then SIGKILL after 5 s).  Safe to call twice."""
        proxy, self.proxy = self.proxy, None
        if proxy is not None:
            proxy.stop()
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def restart(self):
        """Stop and start again on the same port(s); storage and logs are kept."""
        fixed, self._fixed_ports = self._fixed_ports, (self.port, self.backend_port)
        try:
            self.stop()
            return self.start()
        finally:
            self._fixed_ports = fixed

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- users
    def _write_htpasswd(self):
        data = "".join(htpasswd_line(user, password) for user, password in sorted(self.users.items()))
        before = os.stat(self.htpasswd_file).st_mtime_ns if os.path.exists(self.htpasswd_file) else None
        tmp = self.htpasswd_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(data)
        if before is not None and os.stat(tmp).st_mtime_ns == before:
            os.utime(tmp, ns=(before + 1000, before + 1000))
        os.replace(tmp, self.htpasswd_file)

    def set_users(self, users):
        """Replace the user list.  distribution re-reads htpasswd on its next request (mtime check)."""
        if not self.auth:
            raise HarnessError("set_users() on a registry without auth")
        self.users = dict(users)
        self._write_htpasswd()

    # -- logs
    def log_text(self):
        """Everything the server wrote so far (its log and access log)."""
        try:
            with open(self.log_file, "r", encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def log_mark(self):
        """A :class:`Mark`; give it to :meth:`requests` or :meth:`received` to see only what came after."""
        sizes = []
        for path in (self.log_file, self.header_log_file):
            try:
                sizes.append(os.path.getsize(path) if path else 0)
            except FileNotFoundError:
                sizes.append(0)
        return Mark(*sizes)

    @staticmethod
    def _read_from(path, offset):
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                return handle.read().decode("utf-8", "replace")
        except (FileNotFoundError, TypeError):
            return ""

    def requests(self, since=None):
        """The requests the server logged (after ``since``, a :class:`Mark`), as :class:`Request` tuples.

        Built from distribution's own log lines, which carry no headers: ``auth`` is "missing" (no
        Basic ``Authorization`` header), "failed" (with the user it named) or "ok" (accepted; the user
        is not logged for successful reads).  For the headers themselves use ``log_headers=True``
        and :meth:`received`.
        """
        text = self._read_from(self.log_file, since.registry_log if since else 0)
        by_id = collections.OrderedDict()
        for line in text.splitlines():
            if not line.startswith("time="):
                continue  # the combined-format access log lines carry no request id
            fields = _parse_logfmt(line)
            request_id = fields.get("http.request.id")
            if not request_id:
                continue
            info = by_id.setdefault(request_id, {"auth": "ok" if self.auth else None, "user": None})
            for key in ("http.request.method", "http.request.uri", "http.response.status"):
                if key in fields:
                    info[key] = fields[key]
            msg = fields.get("msg", "")
            failed = _AUTH_FAILED.search(msg)
            if failed:
                info["auth"], info["user"] = "failed", json.loads('"%s"' % failed.group(1))
            elif "invalid authorization credential" in msg:
                info["auth"] = "missing"
            elif "authentication failure" in msg:
                info["auth"] = "failed"
            if fields.get("auth.user.name"):
                info["user"] = fields["auth.user.name"]
        result = []
        for request_id, info in by_id.items():
            status = info.get("http.response.status")
            if status is None and info["auth"] in ("missing", "failed"):
                status = "401"
            result.append(Request(request_id, info.get("http.request.method"), info.get("http.request.uri"),
                                  int(status) if status else None, info["auth"], info["user"]))
        return result

    def received(self, since=None):
        """What the header-logging proxy received (after ``since``), as :class:`Seen` tuples, in order."""
        if not self.log_headers:
            raise HarnessError("received() needs Registry(..., log_headers=True)")
        text = self._read_from(self.header_log_file, since.header_log if since else 0)
        return [_seen(json.loads(line)) for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- OCI image

OciImage = collections.namedtuple("OciImage", "path tag digest marker")
OciImage.__doc__ = """An OCI layout: ``digest`` is its manifest's (kept by a push to distribution)."""


def _arch():
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def _write_blob(directory, data):
    digest = hashlib.sha256(data).hexdigest()
    blobs = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    with open(os.path.join(blobs, digest), "wb") as handle:
        handle.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def build_oci_image(directory, marker, tag="latest"):
    """Write a minimal OCI image layout with one layer holding ``/marker.txt`` (= ``marker``).

    Deterministic: the same marker gives the same digest, different markers different digests.
    ``skopeo copy oci:DIR:TAG docker://HOST/ns/name:tag`` pushes it.  Several tags may share one
    directory (call again with another tag).  Returns :class:`OciImage`.
    """
    directory = os.path.abspath(os.fspath(directory))
    os.makedirs(directory, exist_ok=True)
    content = (marker + "\n").encode("utf-8")
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("marker.txt")
        info.size, info.mtime, info.mode, info.uname, info.gname = len(content), 0, 0o644, "root", "root"
        tar.addfile(info, io.BytesIO(content))
    layer_tar = tar_bytes.getvalue()
    layer_gz = io.BytesIO()
    with gzip.GzipFile(fileobj=layer_gz, mode="wb", mtime=0) as gz:
        gz.write(layer_tar)
    layer = _write_blob(directory, layer_gz.getvalue())
    config = json.dumps({
        "architecture": _arch(),
        "os": "linux",
        "config": {"Labels": {"io.runnerkit.test.marker": marker}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
        "history": [{"created_by": "runnerkit functional test harness"}],
    }, sort_keys=True).encode("utf-8")
    config_desc = _write_blob(directory, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config_desc, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")],
    }, sort_keys=True).encode("utf-8")
    manifest_desc = _write_blob(directory, manifest)
    index_path = os.path.join(directory, "index.json")
    manifests = []
    if os.path.exists(index_path):
        with open(index_path, encoding="utf-8") as handle:
            manifests = [m for m in json.load(handle).get("manifests", [])
                         if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    manifests.append(dict(manifest_desc, mediaType="application/vnd.oci.image.manifest.v1+json",
                          annotations={"org.opencontainers.image.ref.name": tag}))
    with open(index_path, "w", encoding="utf-8") as handle:
        json.dump({"schemaVersion": 2, "manifests": manifests}, handle, sort_keys=True)
    with open(os.path.join(directory, "oci-layout"), "w", encoding="utf-8") as handle:
        json.dump({"imageLayoutVersion": "1.0.0"}, handle)
    return OciImage(directory, tag, manifest_desc["digest"], marker)


# --------------------------------------------------------------------------- skopeo

_SANDBOX = None
_SANDBOX_LOCK = threading.Lock()


def skopeo_sandbox():
    """A per-process directory with skopeo's empty HOME, config dirs, registries.conf and policy."""
    global _SANDBOX  # pylint: disable=global-statement
    with _SANDBOX_LOCK:
        if _SANDBOX is None or not os.path.isdir(_SANDBOX):
            root = tempfile.mkdtemp(prefix="runnerkit-skopeo-")
            for sub in ("home", "config", "run", "docker", "registries.d", "tmp"):
                os.makedirs(os.path.join(root, sub), mode=0o700)
            with open(os.path.join(root, "registries.conf"), "w", encoding="utf-8") as handle:
                handle.write("unqualified-search-registries = []\nshort-name-mode = \"disabled\"\n")
            with open(os.path.join(root, "policy.json"), "w", encoding="utf-8") as handle:
                json.dump({"default": [{"type": "insecureAcceptAnything"}]}, handle)
            atexit.register(shutil.rmtree, root, True)
            _SANDBOX = root
        return _SANDBOX


def skopeo_env(extra=None):
    """The environment every skopeo call gets: no auth file but the ones given, no proxy.

    HOME, XDG_CONFIG_HOME, XDG_RUNTIME_DIR and DOCKER_CONFIG point at empty sandbox directories
    (skopeo 1.9 reads ``$XDG_CONFIG_HOME/containers/auth.json``, ``$DOCKER_CONFIG/config.json`` and
    ``~/.dockercfg`` even with ``--authfile``); REGISTRY_AUTH_FILE and proxy variables are removed.
    ``extra`` entries are applied last (a value of None removes the variable).
    """
    root = skopeo_sandbox()
    env = {k: v for k, v in os.environ.items()
           if k not in ("REGISTRY_AUTH_FILE", "CONTAINERS_REGISTRIES_CONF", "CONTAINERS_CONF")
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(HOME=os.path.join(root, "home"), XDG_CONFIG_HOME=os.path.join(root, "config"),
               XDG_RUNTIME_DIR=os.path.join(root, "run"), DOCKER_CONFIG=os.path.join(root, "docker"),
               TMPDIR=os.path.join(root, "tmp"), CONTAINERS_REGISTRIES_CONF=os.path.join(root, "registries.conf"),
               NO_PROXY="*", no_proxy="*")
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def skopeo(args, env=None, debug=False, timeout=SKOPEO_TIMEOUT):
    """Run ``skopeo [global options] ARGS`` in :func:`skopeo_env`; return (rc, stdout, stderr).

    The global options name the sandbox's registries.conf (hidden ``--registries-conf`` flag of
    skopeo 1.9), registries.d, policy.json and tmpdir, and a command timeout.
    """
    root = skopeo_sandbox()
    argv = [SKOPEO, "--registries-conf", os.path.join(root, "registries.conf"),
            "--registries.d", os.path.join(root, "registries.d"), "--policy", os.path.join(root, "policy.json"),
            "--tmpdir", os.path.join(root, "tmp"), "--command-timeout", "%ds" % timeout]
    if debug:
        argv.append("--debug")
    argv += list(args)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=skopeo_env(env), timeout=timeout + 10,
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError("%s timed out" % shlex.join(argv)) from exc
    return proc.returncode, proc.stdout, proc.stderr


def _docker_ref(ref):
    return ref if ref.startswith("docker://") else "docker://" + ref


def push(registry, image_ref, oci_dir, user=None, password=None, tag=None):
    """``skopeo copy oci:OCI_DIR:TAG docker://REF`` with ``--dest-creds`` and ``--dest-cert-dir``.

    ``image_ref`` is ``ns/name:tag`` (on ``registry``) or a full ``host:port/ns/name:tag``;
    ``oci_dir`` an :class:`OciImage` or a layout directory (then ``tag`` defaults to ``latest``).
    No user: the push is anonymous (``--dest-no-creds``).  Returns the pushed manifest's digest.
    """
    if isinstance(oci_dir, OciImage):
        tag, oci_dir = tag or oci_dir.tag, oci_dir.path
    ref = image_ref if image_ref.startswith(registry.host + "/") else registry.ref(image_ref)
    args = ["copy", "--quiet", "--dest-cert-dir", registry.cert_dir, "--retry-times", "0"]
    args += ["--dest-creds", "%s:%s" % (user, password)] if user is not None else ["--dest-no-creds"]
    args += ["oci:%s:%s" % (oci_dir, tag or "latest"), _docker_ref(ref)]
    rc, out, err = skopeo(args)
    if rc != 0:
        raise SkopeoError(args, rc, out, err)
    digest = get_digest(ref, None, registry.cert_dir, creds=(user, password) if user is not None else None)
    registry.images[ref[len(registry.host) + 1:]] = digest
    return digest


def inspect(image_ref, authfile, cert_dir, extra_args=(), env=None, debug=False, creds=None):
    """``skopeo inspect --authfile FILE --cert-dir DIR docker://REF``; returns (rc, stdout, stderr).

    ``authfile`` None: no auth file; then ``creds=(user, password)`` gives ``--creds``, else the
    call is anonymous (``--no-creds``).  Only the file given is read (see :func:`skopeo_env`);
    ``debug=True`` adds ``--debug`` (use :func:`contacted_urls` / :func:`credential_sources`).
    """
    args = ["inspect", "--retry-times", "0", "--cert-dir", os.fspath(cert_dir)]
    if authfile is not None:
        args += ["--authfile", os.fspath(authfile)]
    elif creds is not None:
        args += ["--creds", "%s:%s" % creds]
    else:
        args += ["--no-creds"]
    args += list(extra_args) + [_docker_ref(image_ref)]
    return skopeo(args, env=env, debug=debug)


def get_digest(image_ref, authfile, cert_dir, env=None, creds=None):
    """The manifest digest of ``image_ref`` as skopeo sees it; :class:`SkopeoError` on failure."""
    rc, out, err = inspect(image_ref, authfile, cert_dir, extra_args=["--format", "{{.Digest}}"], env=env,
                           creds=creds)
    if rc != 0:
        raise SkopeoError(["inspect", image_ref], rc, out, err)
    return out.strip()


def skopeo_message(stderr):
    """The text of skopeo's last ``level=fatal msg="..."`` line (unquoted), else stderr as is."""
    found = re.findall(r'level=fatal msg="((?:[^"\\]|\\.)*)"', stderr)
    return json.loads('"%s"' % found[-1]) if found else stderr.strip()


def contacted_urls(debug_stderr):
    """The URLs a ``--debug`` skopeo run requested (its ``GET``/``HEAD``/``PUT``... debug lines)."""
    return re.findall(r'msg="(?:GET|HEAD|PUT|POST|PATCH|DELETE) (https?://[^ "]+)', debug_stderr)


def credential_sources(debug_stderr):
    """The auth files a ``--debug`` skopeo run looked into, in order (found or not)."""
    found = re.findall(r'msg="(?:No credentials matching \S+ found in|Found credentials for \S+ in credential '
                       r'helper \S+ in file) ([^"]+)"', debug_stderr)
    return found


# --------------------------------------------------------------------------- Docker config.json

def auth_entry(user, password):
    """An ``auths`` entry as ``docker login`` writes it: ``{"auth": base64("user:password")}``."""
    return {"auth": base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii")}


def write_docker_config(path, auths=None, cred_helpers=None, **other):
    """Write a Docker ``config.json``; ``auths`` maps key -> (user, password) or a ready entry dict."""
    data = dict(other)
    if auths is not None:
        data["auths"] = {key: auth_entry(*value) if isinstance(value, (tuple, list)) else value
                         for key, value in auths.items()}
    if cred_helpers is not None:
        data["credHelpers"] = dict(cred_helpers)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    os.chmod(path, 0o600)
    return path
