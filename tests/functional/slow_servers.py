# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Servers on 127.0.0.1 that make a client wait: real sockets in a thread, for the bounded-wait tests.

* ``TrickleServer``: accepts and sends one byte a second for as long as the client listens. With
  ``tls=(cert_file, key_file)`` it completes the TLS handshake, reads the request head and trickles an
  HTTP answer (the case a per-read socket timeout never ends); without, it trickles the start of a
  TLS record that announces 16 KiB, so a TLS client waits in its handshake.
* ``SilentServer``: accepts and never answers.

Both count the connections they accepted, stop by themselves after ``max_seconds`` and on ``stop()``
(use them as context managers), and never talk to anything but the loopback address.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

TLS_RECORD_START = b"\x16\x03\x03\x40\x00"  # handshake record, TLS 1.2, 16384 bytes follow
HTTP_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n" + b" " * 1000000


class _Server:
    def __init__(self, max_seconds=60):
        self.max_seconds = max_seconds
        self.accepted = 0
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._threads = []

    def __enter__(self):
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _stopped(self, started):
        return self._stop.is_set() or time.monotonic() - started > self.max_seconds

    def _accept_loop(self):
        started = time.monotonic()
        while not self._stopped(started):
            try:
                conn, _addr = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            thread = threading.Thread(target=self._serve_and_close, args=(conn, started), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve_and_close(self, conn, started):
        try:
            self.serve(conn, started)
        except (OSError, ssl.SSLError):
            pass  # the client gave up: what the tests expect
        finally:
            conn.close()

    def serve(self, conn, started):
        raise NotImplementedError


class TrickleServer(_Server):
    """Accepts and sends one byte a second."""

    def __init__(self, tls=None, max_seconds=60):
        super().__init__(max_seconds)
        self.context = None
        if tls is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(*tls)

    def serve(self, conn, started):
        payload = TLS_RECORD_START + b"\x00" * 16384
        if self.context is not None:
            conn.settimeout(5)
            conn = self.context.wrap_socket(conn, server_side=True)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            payload = HTTP_ANSWER
        for byte in payload:
            if self._stopped(started):
                return
            conn.sendall(bytes((byte,)))
            time.sleep(1)


class SilentServer(_Server):
    """Accepts and never answers; keeps the connection open until the client closes it."""

    def serve(self, conn, started):
        conn.settimeout(0.2)
        while not self._stopped(started):
            try:
                if not conn.recv(4096):
                    return  # the client closed
            except socket.timeout:
                continue
