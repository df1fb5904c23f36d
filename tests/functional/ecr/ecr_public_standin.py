# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local HTTPS stand-in for the one ECR Public API operation the collection calls.

moto (5.2.5, the version in the venv) has no ``ecr-public`` backend: a request signed for
``ecr-public`` gets HTTP 500 from ``moto_server`` ("Unable to find appropriate backend").  This
module serves ``GetAuthorizationToken`` of the ``ecr-public`` API (botocore service model
``ecr-public`` 2020-10-30) the way AWS does, for the functional tests only:

* AWS JSON 1.1: ``POST /``, ``Content-Type: application/x-amz-json-1.1``,
  ``X-Amz-Target: SpencerFrontendService.GetAuthorizationToken``, an empty JSON object as input;
  the answer is ``{"authorizationData": {"authorizationToken": <base64 of AWS:password>,
  "expiresAt": <epoch seconds, fractional>}}`` (no ``proxyEndpoint``, unlike private ECR).
* SigV4 is checked independently of botocore: the credential scope must be ``us-east-1`` /
  ``ecr-public`` (AWS answers ``InvalidSignatureException`` otherwise), the access key must be
  a known identity (``UnrecognizedClientException``) and the signature must match the canonical
  request rebuilt from what arrived (``InvalidSignatureException``).
* An identity can be denied: it gets ``400`` with ``{"__type": "...#AccessDeniedException",
  "Message": "User: ... is not authorized to perform: ecr-public:GetAuthorizationToken ..."}``
  as AWS sends it.
* Every request is recorded (:meth:`EcrPublicStandIn.requests`), with the Host header, the SigV4
  scope, whether the signature was valid, the body, the status and the token handed out.  Each
  successful answer carries a new token, so a result can be traced back to the request that
  produced it.

:func:`make_leaf_cert` signs a certificate for the ECR Public endpoint names (and loopback) with an
existing test CA, so clients trusting that CA (``AWS_CA_BUNDLE`` of the moto tests) trust it too.
"""

from __future__ import annotations

import collections
import datetime
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
import uuid

import moto_harness as mh
import registry as reg

LOOPBACK = "127.0.0.1"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
SERVICE = "ecr-public"
REGION = "us-east-1"
TARGET = "SpencerFrontendService.GetAuthorizationToken"
CONTENT_TYPE = "application/x-amz-json-1.1"
ACCOUNT = "123456789012"
# The names botocore uses for ecr-public in us-east-1: the standard and the dual-stack endpoint.
ENDPOINT_NAMES = ("api.ecr-public.us-east-1.amazonaws.com", "ecr-public.us-east-1.api.aws")

Received = collections.namedtuple(
    "Received",
    "time method path host target content_type access_key date region service signed_headers signature_valid "
    "security_token body status error auth")
Received.__doc__ = """One request the stand-in received.

host: the Host header; access_key/date/region/service: the SigV4 credential scope (None without one);
signature_valid: the signature matched the request as received, for a known access key (None when the key
is unknown or the header unparsable); body: the decoded JSON body; status: the HTTP status answered; error:
the error code answered (None on success); auth: the authorizationToken answered (None on error).
"""

Identity = collections.namedtuple("Identity", "secret user allowed")

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$")


token_auth = mh.token_auth  # the base64 ``authorizationToken`` for a password, as ECR hands it out


def _hmac(key, text):
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def sigv4_signature(secret, amz_date, date, region, service, canonical_request):
    """The SigV4 signature (hex) of a canonical request, computed from the AWS documentation."""
    scope = "%s/%s/%s/aws4_request" % (date, region, service)
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def canonical_request(method, path, query, headers, signed_headers, body):
    """The SigV4 canonical request of a request as received (``headers``: an email.message.Message)."""
    lines = []
    for name in signed_headers:
        values = headers.get_all(name) or []
        lines.append("%s:%s\n" % (name, ",".join(" ".join(value.split()) for value in values)))
    return "\n".join([method, path or "/", query, "".join(lines), ";".join(signed_headers),
                      hashlib.sha256(body).hexdigest()])


class EcrPublicStandIn:
    """The ``ecr-public`` GetAuthorizationToken stand-in over TLS on 127.0.0.1 (see the module docstring).

    ``certs``: an object with ``cert_file`` and ``key_file`` (see :func:`make_leaf_cert`).
    Known identities start as ``testing``/``testing`` (allowed), the keys of the moto tests.
    """

    def __init__(self, certs):
        self.certs = certs
        self._lock = threading.Lock()
        self._received = []
        self._identities = {}
        self._expires_at = None
        self._prefix = None
        self._counter = 0
        self._server = None
        self.port = None
        self.reset()

    @property
    def url(self):
        return "https://%s:%d" % (LOOPBACK, self.port)

    # -- what the stand-in answers
    def reset(self):
        """Back to the start: no requests recorded, only identity testing/testing (allowed), tokens valid for
        12 hours from each request."""
        with self._lock:
            self._received = []
            self._identities = {"testing": Identity("testing", "ci", True)}
            self._expires_at = None
            self._prefix = "ecr-public-%s" % secrets.token_hex(8)
            self._counter = 0

    def add_identity(self, access_key, secret, user, allowed=True):
        """Know ``access_key`` (IAM user ``user``); ``allowed=False`` answers it with AccessDeniedException."""
        with self._lock:
            self._identities[access_key] = Identity(secret, user, allowed)

    def set_expiry(self, expires_at):
        """Answer with this ``expiresAt`` (aware datetime or epoch seconds); None: 12 hours after each request."""
        if isinstance(expires_at, datetime.datetime):
            expires_at = expires_at.timestamp()
        with self._lock:
            self._expires_at = expires_at

    def password(self, number):
        """The password in the token of the ``number``-th successful answer since :meth:`reset` (from 1)."""
        with self._lock:
            return "%s-%d" % (self._prefix, number)

    def _next_token(self):
        with self._lock:
            self._counter += 1
            password = "%s-%d" % (self._prefix, self._counter)
            expires_at = self._expires_at if self._expires_at is not None else time.time() + 12 * 3600
        return token_auth(password), expires_at

    # -- what it received
    def _record(self, entry):
        with self._lock:
            self._received.append(entry)

    def mark(self):
        with self._lock:
            return len(self._received)

    def requests(self, since=0):
        with self._lock:
            return list(self._received[since:])

    # -- the operation
    def handle(self, method, path, headers, body):
        """(status, answer dict, Received) for one request; the protocol and auth checks of the docstring."""
        target = headers.get("X-Amz-Target")
        content_type = headers.get("Content-Type")
        match = _AUTHORIZATION.match(headers.get("Authorization", "").strip())
        scope = match.groupdict() if match else {}
        try:
            decoded = json.loads(body or b"null")
        except ValueError:
            decoded = None
        path_only, _sep, query = path.partition("?")
        signature_valid = None
        with self._lock:
            identity = self._identities.get(scope.get("key"))
        if match and identity is not None:
            signed = scope["signed"].split(";")
            expected = sigv4_signature(identity.secret, headers.get("X-Amz-Date", ""), scope["date"],
                                       scope["region"], scope["service"],
                                       canonical_request(method, path_only, query, headers, signed, body))
            signature_valid = hmac.compare_digest(expected, scope["signature"])

        if method != "POST" or path_only != "/" or target != TARGET:
            error = ("UnknownOperationException", "Unknown operation %s" % target)
        elif content_type != CONTENT_TYPE or not isinstance(decoded, dict):
            error = ("SerializationException", "Start of structure or map found where not expected")
        elif not match:
            error = ("MissingAuthenticationTokenException", "Missing Authentication Token")
        elif scope["region"] != REGION:
            error = ("InvalidSignatureException", "Credential should be scoped to a valid region.")
        elif scope["service"] != SERVICE:
            error = ("InvalidSignatureException", "Credential should be scoped to correct service: '%s'." % SERVICE)
        elif identity is None:
            error = ("UnrecognizedClientException", "The security token included in the request is invalid.")
        elif not signature_valid:
            error = ("InvalidSignatureException", "The request signature we calculated does not match the signature "
                                                  "you provided. Check your AWS Secret Access Key and signing method.")
        elif not identity.allowed:
            error = ("AccessDeniedException",
                     "User: arn:aws:iam::%s:user/%s is not authorized to perform: ecr-public:GetAuthorizationToken on "
                     "resource: * because no identity-based policy allows the ecr-public:GetAuthorizationToken action"
                     % (ACCOUNT, identity.user))
        else:
            error = None

        if error:
            status, auth = 400, None
            answer = {"__type": "com.amazon.coral.service#%s" % error[0], "Message": error[1]}
        else:
            auth, expires_at = self._next_token()
            status, answer = 200, {"authorizationData": {"authorizationToken": auth, "expiresAt": expires_at}}
        entry = Received(time.time(), method, path, headers.get("Host"), target, content_type, scope.get("key"),
                         scope.get("date"), scope.get("region"), scope.get("service"),
                         scope["signed"].split(";") if match else None, signature_valid,
                         headers.get("X-Amz-Security-Token"), decoded, status, error and error[0], auth)
        self._record(entry)
        return status, answer, entry

    # -- the server
    def start(self):
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # pylint: disable=arguments-differ
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, answer, _entry = standin.handle(self.command, self.path, self.headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

        self._server = reg.TlsServer(Handler, self.certs.cert_file, self.certs.key_file, "ecr-public-standin")
        self.port = self._server.port
        return self

    def stop(self):
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


LeafCert = collections.namedtuple("LeafCert", "cert_file key_file ca_file")


def make_leaf_cert(ca, directory, names=ENDPOINT_NAMES + (LOOPBACK, "localhost"), days=2):
    """A server certificate for ``names`` signed by the test CA ``ca`` (``ca_file``, ``ca_key``: registry.Certs).

    Everything is written to ``directory``; the CA's own directory is left as it is (random serial, no
    ``.srl`` file).
    """
    directory = os.path.abspath(os.fspath(directory))
    os.makedirs(directory, exist_ok=True)
    key_file, csr_file = os.path.join(directory, "server.key"), os.path.join(directory, "server.csr")
    cert_file, ext_file = os.path.join(directory, "server.crt"), os.path.join(directory, "server.ext")
    env = dict(os.environ, OPENSSL_CONF=os.devnull)
    sans = ",".join(("IP:%s" if re.fullmatch(r"[0-9.]+", name) else "DNS:%s") % name for name in names)
    with open(ext_file, "w", encoding="ascii") as ext:
        ext.write("subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                  "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\n" % sans)
    for argv in (
            [OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key_file, "-out", csr_file, "-subj", "/CN=%s" % names[0]],
            [OPENSSL, "x509", "-req", "-sha256", "-days", str(days), "-in", csr_file, "-CA", ca.ca_file,
             "-CAkey", ca.ca_key, "-set_serial", "0x%s" % secrets.token_hex(16), "-out", cert_file,
             "-extfile", ext_file]):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
        if proc.returncode != 0:
            raise RuntimeError("%s exited %s: %s%s" % (" ".join(argv), proc.returncode, proc.stdout, proc.stderr))
    os.chmod(key_file, 0o600)
    return LeafCert(cert_file, key_file, ca.ca_file)
