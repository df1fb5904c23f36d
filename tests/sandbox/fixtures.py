# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Long-lived test services for the sandbox fleet, started and stopped by molecule playbooks.

    fixtures.py start --workdir DIR     start (or find running) the services; prints the state JSON
    fixtures.py stop --workdir DIR      stop them (SIGTERM to the daemon) and delete DIR

One daemon process serves, on 127.0.0.1:

* a real private registry: Debian's ``docker-registry`` with htpasswd (bcrypt) and TLS, started
  through ``tests/functional/registry.py`` (the functional tests' harness), with the image
  ``ns/app:1`` pushed by skopeo;
* a plain HTTP file server for credential-helper downloads: ``/<arch>/docker-credential-runnerkit-test``
  for ``amd64`` and ``arm64``, a shell script that speaks the docker-credential-helpers protocol
  (``version``, ``list``, ``get``) and answers ``get`` with the registry's credentials for
  ``localhost:<registry port>`` only.

``DIR/state.json`` (written when everything answers) holds: ``registry`` (``127.0.0.1:PORT``),
``registry_localhost`` (``localhost:PORT``), ``username``, ``password``, ``image`` (``ns/app:1``),
``digest``, ``cert_dir`` (holds only ``ca.crt``; readable by every user), ``http`` (base URL),
``helper_name``, ``helper_sha256``, ``pid``.  Every directory below DIR is world-readable, so
sandbox hosts can use ``cert_dir`` as any user; DIR must not lie under an overlaid directory.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import json
import os
import secrets
import shutil
import signal
import tempfile
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "functional"))

import registry as reg  # noqa: E402  pylint: disable=wrong-import-position

HELPER_NAME = "runnerkit-test"
ARCHES = ("amd64", "arm64")
IMAGE = "ns/app:1"
USERNAME = "ci"
START_TIMEOUT = 60.0

HELPER_TEMPLATE = r"""#!/bin/sh
# docker-credential-__NAME__: a credential helper for tests (docker-credential-helpers protocol).
# Answers `get` for __SERVER__ only; every other server is "not found", as real helpers do.
case "$1" in
version)
    echo "__NAME__ (runnerkit tests) 1.0.0" ;;
list)
    cat >/dev/null
    printf '{"%s":"%s"}\n' "__SERVER__" "__USER__" ;;
get)
    read -r server
    case "$server" in
    __SERVER__ | https://__SERVER__ | https://__SERVER__/)
        printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "$server" "__USER__" "__SECRET__" ;;
    *)
        echo "credentials not found in native keychain"
        exit 1 ;;
    esac ;;
*)
    echo "Usage: docker-credential-__NAME__ <store|get|erase|list|version>"
    exit 1 ;;
esac
"""


def state_path(workdir):
    return os.path.join(workdir, "state.json")


def read_state(workdir):
    try:
        with open(state_path(workdir), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def world_readable(top):
    for directory, _dirs, files in os.walk(top):
        os.chmod(directory, 0o755)
        for name in files:
            if not name.endswith(".key"):
                os.chmod(os.path.join(directory, name), 0o644)


def write_helpers(www, server, password):
    text = (HELPER_TEMPLATE.replace("__NAME__", HELPER_NAME).replace("__SERVER__", server)
            .replace("__USER__", USERNAME).replace("__SECRET__", password))
    data = text.encode("utf-8")
    for arch in ARCHES:
        os.makedirs(os.path.join(www, arch), exist_ok=True)
        with open(os.path.join(www, arch, "docker-credential-" + HELPER_NAME), "wb") as handle:
            handle.write(data)
    return hashlib.sha256(data).hexdigest()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


def serve(workdir):
    """The daemon: start everything, write state.json, wait for SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    certs = reg.make_ca_and_cert(os.path.join(workdir, "pki"))
    password = secrets.token_urlsafe(18)
    server = reg.Registry(os.path.join(workdir, "registry"), certs, users={USERNAME: password}).start()
    httpd = shared_certs = None
    try:
        image = reg.build_oci_image(os.path.join(workdir, "oci"), "runnerkit sandbox fleet image")
        digest = reg.push(server, IMAGE, image, user=USERNAME, password=password)
        localhost = "localhost:%d" % server.port
        www = os.path.join(workdir, "www")
        sha256 = write_helpers(www, localhost, password)
        httpd = http.server.ThreadingHTTPServer((reg.LOOPBACK, 0), functools.partial(QuietHandler, directory=www))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        world_readable(os.path.join(workdir, "pki", "certs.d"))
        world_readable(www)
        os.chmod(workdir, 0o755)
        os.chmod(os.path.join(workdir, "pki"), 0o755)
        # The runner users of the hosts must read the CA whatever the modes above the checkout are
        # (a clone in a 0700 directory hides .build/ from them): a copy in the shared /tmp.
        shared_certs = tempfile.mkdtemp(prefix="runnerkit-sandbox-ca.")
        os.chmod(shared_certs, 0o755)
        shutil.copy(os.path.join(certs.cert_dir, "ca.crt"), os.path.join(shared_certs, "ca.crt"))
        os.chmod(os.path.join(shared_certs, "ca.crt"), 0o644)
        state = {"registry": server.host, "registry_localhost": localhost, "username": USERNAME,
                 "password": password, "image": IMAGE, "digest": digest, "cert_dir": shared_certs,
                 "http": "http://%s:%d" % httpd.server_address[:2],
                 "helper_name": HELPER_NAME, "helper_sha256": sha256, "pid": os.getpid()}
        tmp = state_path(workdir) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, state_path(workdir))
        while not stop.wait(1.0):
            if server.process is None or server.process.poll() is not None:
                sys.stderr.write("fixtures: docker-registry exited:\n%s\n" % server.log_text()[-2000:])
                return 1
        return 0
    finally:
        if httpd is not None:
            httpd.shutdown()
        server.stop()
        if shared_certs:
            shutil.rmtree(shared_certs, ignore_errors=True)


def start(workdir):
    state = read_state(workdir)
    if state and alive(state["pid"]):
        return state
    stop(workdir)
    os.makedirs(workdir, exist_ok=True)
    log = open(os.path.join(workdir, "fixtures.log"), "ab")  # pylint: disable=consider-using-with
    try:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, os.path.abspath(__file__), "serve", "--workdir", workdir],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    finally:
        log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        state = read_state(workdir)
        if state and state["pid"] == process.pid:
            return state
        if process.poll() is not None:
            break
        time.sleep(0.1)
    if process.poll() is None:
        process.terminate()
    with open(os.path.join(workdir, "fixtures.log"), encoding="utf-8", errors="replace") as handle:
        raise RuntimeError("fixtures did not start:\n%s" % handle.read()[-3000:])


def stop(workdir):
    state = read_state(workdir)
    if state and alive(state["pid"]):
        os.kill(state["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 15
        while alive(state["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(state["pid"]):
            os.kill(state["pid"], signal.SIGKILL)
    if os.path.isdir(workdir):
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("command", choices=("start", "stop", "serve"))
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args(argv)
    workdir = os.path.abspath(args.workdir)
    if args.command == "serve":
        return serve(workdir)
    if args.command == "stop":
        stop(workdir)
        json.dump({"stopped": workdir}, sys.stdout)
    else:
        missing = reg.tools_missing()
        if missing:
            sys.stderr.write("fixtures: missing %s (Debian packages docker-registry, skopeo, apache2-utils, "
                             "openssl: make deps)\n" % ", ".join(missing))
            return 1
        try:
            json.dump(start(workdir), sys.stdout, indent=1, sort_keys=True)
        except (RuntimeError, OSError, reg.HarnessError) as exc:
            sys.stderr.write("fixtures: %s\n" % exc)
            return 1
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
