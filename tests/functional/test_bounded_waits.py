# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every wait is bounded (issue 12, point 4): real sockets on 127.0.0.1 that trickle or never answer.

The registry probe (runner_auth_info, the image_digest lookup) has one deadline over the whole probe
of an image; ecr_authorization waits `timeout` per attempt and tries `retries` more times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _registry_client as client

import slow_servers
from conftest import COLLECTIONS_DIR

ECR_MODULE = "ansible_collections.runnerkit.gitlab_runner.plugins.modules.ecr_authorization"
ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def timed_probe(port, timeout, ca_file=None):
    transport = client.Transport(ca_file=ca_file, timeout=timeout, certs_dirs=())
    started = time.monotonic()
    result = client.probe("127.0.0.1:%d/ns/app:1" % port, None, transport)
    return result, time.monotonic() - started


def test_probe_of_a_registry_that_trickles_its_answer_ends_at_the_timeout(certs):
    # TLS is set up at once, then the HTTP answer comes one byte a second: each read gets its byte well
    # within the socket timeout, so only a deadline over the whole probe ends it.
    with slow_servers.TrickleServer(tls=(certs.cert_file, certs.key_file)) as server:
        result, elapsed = timed_probe(server.port, 3, certs.ca_file)
    assert result["status"] == "timeout", result
    assert elapsed < 3 + 2
    assert "127.0.0.1:%d did not answer in time" % server.port in result["message"]
    assert server.accepted == 1


def test_probe_of_a_server_that_trickles_bytes_ends_at_the_timeout():
    # A plain TCP server sending one byte a second: the TLS handshake waits for a 16 KiB record.
    with slow_servers.TrickleServer() as server:
        result, elapsed = timed_probe(server.port, 2)
    assert (result["status"], result["reachable"]) == ("timeout", False), result
    assert elapsed < 2 + 2


def test_probe_of_a_server_that_never_answers_ends_at_the_timeout():
    with slow_servers.SilentServer() as server:
        result, elapsed = timed_probe(server.port, 2)
    assert result["status"] == "timeout", result
    assert elapsed < 2 + 2


def run_ecr_module(tmp_path, **args):
    """ecr_authorization as Ansible runs a module, with throwaway keys and no AWS config of the machine."""
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.lower() not in (
        "http_proxy", "https_proxy", "all_proxy")}
    env.update(PYTHONPATH=COLLECTIONS_DIR, NO_PROXY="*", no_proxy="*", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", ECR_MODULE, str(args_file)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    return json.loads(proc.stdout), time.monotonic() - started


def test_ecr_authorization_against_an_endpoint_that_never_answers_fails_within_the_bound(tmp_path):
    timeout, retries = 2, 1
    with slow_servers.SilentServer() as server:
        result, elapsed = run_ecr_module(tmp_path, registries=[ECR_HOST], endpoint_url="http://127.0.0.1:%d"
                                         % server.port, access_key="AKIAEXAMPLE", secret_key="example-secret",
                                         timeout=timeout, retries=retries)
    assert result.get("failed") is True, result
    assert result["msg"].startswith("GetAuthorizationToken for %s failed: the endpoint did not answer in time"
                                    % ECR_HOST), result["msg"]
    assert "`timeout`" in result["msg"] and "`retries`" in result["msg"]
    # timeout * (retries + 1), a second of backoff at most between two attempts, and the module's start
    assert elapsed < timeout * (retries + 1) + 1 + 3
    assert server.accepted == retries + 1
    assert "example-secret" not in json.dumps(result)
