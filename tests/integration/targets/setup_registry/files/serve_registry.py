"""Run the functional tests' registry (tests/functional/registry.py) for an integration target, with a deadline.

Usage: serve_registry.py FUNCTIONAL_DIR WORKDIR STATE_FILE SECONDS

Starts Debian's docker-registry on 127.0.0.1 with TLS (a throwaway CA) and htpasswd, pushes ns/app:1 with skopeo,
then writes STATE_FILE (JSON: host, ca_file, user, password, digests, pid). Serves until STATE_FILE.stop exists or
SECONDS have passed, then stops the registry and removes STATE_FILE.
"""

import json
import os
import sys
import time

functional_dir, workdir, state_file, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
sys.path.insert(0, functional_dir)
import registry as reg  # noqa: E402  pylint: disable=wrong-import-position,import-error

USER, PASSWORD = "ci", "setup-registry-Pa55-w0rd"
deadline = time.monotonic() + seconds
certs = reg.make_ca_and_cert(os.path.join(workdir, "pki"))
server = reg.Registry(os.path.join(workdir, "registry"), certs, users={USER: PASSWORD})
server.start()
try:
    image = reg.build_oci_image(os.path.join(workdir, "oci"), "setup_registry ns/app:1", tag="1")
    digest = reg.push(server, "ns/app:1", image, USER, PASSWORD)
    state = {"host": server.host, "ca_file": server.ca_file, "user": USER, "password": PASSWORD,
             "digests": {"ns/app:1": digest}, "pid": os.getpid()}
    with open(state_file + ".tmp", "w") as handle:
        json.dump(state, handle)
    os.rename(state_file + ".tmp", state_file)
    while time.monotonic() < deadline and not os.path.exists(state_file + ".stop"):
        time.sleep(0.5)
finally:
    server.stop()
    for leftover in (state_file, state_file + ".stop"):
        if os.path.exists(leftover):
            os.remove(leftover)
