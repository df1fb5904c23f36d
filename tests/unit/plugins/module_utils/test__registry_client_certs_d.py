# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe trusts what dockerd trusts: the CA of certs.d/<host:port>/ and its client.cert + client.key,
against a local TLS server that requires a client certificate (keys made with the openssl CLI)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading

import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _registry_client as client

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def openssl(directory, *args):
    subprocess.run(["openssl"] + list(args), cwd=directory, check=True, capture_output=True,
                   env=dict(os.environ, OPENSSL_CONF="/dev/null"))


def signed(directory, name, subject, extensions):
    openssl(directory, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", subject)
    (directory / (name + ".ext")).write_text(extensions)
    openssl(directory, "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", name + ".crt", "-extfile", name + ".ext")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mtls")
    openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=probe test CA", "-days", "2")
    signed(directory, "server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    signed(directory, "client", "/CN=probe client", "extendedKeyUsage=clientAuth\n")
    return directory


@pytest.fixture
def server(pki):
    """An HTTPS server on 127.0.0.1 that answers 200 only to a client certificate of the test CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki / "server.crt"), str(pki / "server.key"))
    context.load_verify_locations(str(pki / "ca.crt"))
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield "127.0.0.1:%d" % listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def certs_d(tmp_path, pki, host, files):
    directory = tmp_path / "certs.d" / host
    directory.mkdir(parents=True)
    for target, source in files.items():
        shutil.copy(pki / source, directory / target)
    return str(tmp_path / "certs.d")


def test_client_certificate_of_certs_d_is_presented(tmp_path, pki, server):
    root = certs_d(tmp_path, pki, server, {"ca.crt": "ca.crt", "client.cert": "client.crt", "client.key": "client.key"})
    transport = client.Transport(timeout=5, certs_dirs=(root,))
    assert transport.request("GET", "https://%s/v2/" % server).status == 200


def test_without_the_client_certificate_the_handshake_fails(tmp_path, pki, server):
    root = certs_d(tmp_path, pki, server, {"ca.crt": "ca.crt", "client.cert": "client.crt"})  # no key: skipped
    transport = client.Transport(timeout=5, certs_dirs=(root,))
    with pytest.raises(client.ProbeFailure) as failure:
        transport.request("GET", "https://%s/v2/" % server)
    assert failure.value.status == client.UNREACHABLE


def test_without_the_ca_the_certificate_is_not_trusted(tmp_path, server):
    transport = client.Transport(timeout=5, certs_dirs=(str(tmp_path),))
    with pytest.raises(client.ProbeFailure) as failure:
        transport.request("GET", "https://%s/v2/" % server)
    assert "is not trusted" in failure.value.message and "ca.crt" in failure.value.message
