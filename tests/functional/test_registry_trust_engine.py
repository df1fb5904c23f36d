# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daemon side of a private pull, proven with a real Docker engine (shared/reference/docker-engine-daemon-side.md).

- Two distribution registries with TLS from a test CA serve from a network namespace this test makes, on
  a /32 test address that the machine does not use (not 127.0.0.0/8: dockerd verifies nothing there): a
  private one with htpasswd on :5000, a Docker Hub mirror on :5001 that holds library/alpine:3, and one on
  :5002 that requires a client certificate signed by the test CA.
- dockerd (tests/containers/docker_engine.sh) runs in its own mount namespace with a test directory over
  /etc/docker (its certs.d and daemon.json; the machine's /etc/docker is left alone) and an /etc/hosts
  that sends Docker Hub to a closed loopback port, so only the mirror can serve a Hub image.
- playbooks/site.yml: the registry_trust role (certs.d and daemon.json, SIGHUP) and the docker_config role (credentials)
  run through ansible-playbook; the pulls are the Docker CLI's, with DOCKER_CONFIG as a user checks it.

Skipped only when not root, or when docker_engine.sh cannot start a daemon (docker.io not installable).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

import registry as reg
from conftest import REPO_ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINE_SH = os.path.join(HERE, "..", "containers", "docker_engine.sh")
DOCKER = "/usr/bin/docker"  # Debian's client, the daemon's own version
USERS = {"ci": "engineTestPa55word"}
PRIVATE_PORT, MIRROR_PORT, MTLS_PORT = 5000, 5001, 5002
# TEST-NET-3: documentation addresses, none of them expected on a machine; each is checked anyway.
CANDIDATES = ["203.0.113.%d" % last for last in range(200, 250)]
ROLE = "runnerkit.gitlab_runner.registry_trust : "
RELOAD = ROLE + "Reload dockerd (SIGHUP) for the reloadable keys that changed"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespace, mount namespace, dockerd")


def run(argv, check=True, env=None, timeout=120):
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (" ".join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc


def free_test_address():
    """A /32 that no interface has, that is not the default gateway, and that the machine routes only by
    its default route (so no network of the machine holds it)."""
    used = set(re.findall(r"inet ([0-9.]+)/", run(["ip", "-o", "addr"]).stdout))
    gateways = set(re.findall(r"default via ([0-9.]+)", run(["ip", "-4", "route"]).stdout))
    networks = [ipaddress.ip_network(net, strict=False)
                for net in re.findall(r"^([0-9.]+/[0-9]+) ", run(["ip", "-4", "route"]).stdout, re.MULTILINE)]
    for address in CANDIDATES:
        if address in used or address in gateways:
            continue
        if any(ipaddress.ip_address(address) in net for net in networks):
            continue
        return address
    pytest.skip("no free test address in %s..%s" % (CANDIDATES[0], CANDIDATES[-1]))
    return None


class NetnsRegistry(reg.Registry):
    """A registry served inside the test's network namespace, on the test address."""

    def __init__(self, workdir, certs, netns, address, port, users=None):
        super().__init__(workdir, certs, users=users, port=port)
        self.listen_host = address
        self.command_prefix = ("ip", "netns", "exec", netns)


class ClientCertRegistry(NetnsRegistry):
    """A NetnsRegistry that requires a client certificate of the test CA (distribution's tls.clientcas).

    ``client_dir`` holds ca.crt, client.cert and client.key: skopeo's --cert-dir for the pushes."""

    def __init__(self, workdir, certs, netns, address, port, client_dir):
        super().__init__(workdir, certs, netns, address, port)
        self.client_dir = client_dir

    @property
    def cert_dir(self):
        return self.client_dir

    def _write_config(self):
        super()._write_config()
        with open(self.config_file, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        at = next(index for index, line in enumerate(lines) if line.startswith("    key: "))
        lines[at + 1:at + 1] = ["    clientcas:", "      - %s" % self.certs.ca_file]
        with open(self.config_file, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")

    def _wait_ready(self):
        """Until the port takes connections: a /v2/ probe without the client certificate cannot succeed."""
        deadline = time.monotonic() + reg.START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise reg.HarnessError("docker-registry exited %s:\n%s" % (self.process.returncode, self.log_text()))
            try:
                socket.create_connection((self.listen_host, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise reg.HarnessError("docker-registry on %s did not listen" % self.host)


def make_client_pair(certs, directory):
    """client.cert (clientAuth, signed by the test CA) and client.key, beside a copy of ca.crt."""
    os.makedirs(directory)
    env = dict(os.environ, OPENSSL_CONF="/dev/null")
    key, csr, cert = (os.path.join(directory, name) for name in ("client.key", "client.csr", "client.cert"))
    ext = os.path.join(directory, "client.ext")
    with open(ext, "w", encoding="ascii") as handle:
        handle.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                     "extendedKeyUsage=clientAuth\n")
    run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/CN=runner engine test client"], env=env)
    run(["openssl", "x509", "-req", "-sha256", "-days", "30", "-in", csr, "-CA", certs.ca_file, "-CAkey",
         certs.ca_key, "-CAcreateserial", "-out", cert, "-extfile", ext], env=env)
    os.unlink(csr)
    os.unlink(ext)
    shutil.copyfile(certs.ca_file, os.path.join(directory, "ca.crt"))
    return directory


@pytest.fixture(scope="module")
def netns():
    """(namespace name, address): a namespace whose only address is a /32, reached by a host route."""
    for tool in ("ip", "unshare", DOCKER):
        if not shutil.which(tool):
            pytest.skip("needs %s" % tool)
    address = free_test_address()
    tag = "%d" % (os.getpid() % 100000)
    name, host_end, ns_end = "rk-trust-" + tag, "rkth" + tag, "rktn" + tag
    run(["ip", "netns", "add", name])
    try:
        run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end])
        run(["ip", "link", "set", ns_end, "netns", name])
        run(["ip", "-n", name, "addr", "add", address + "/32", "dev", ns_end])
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        run(["ip", "-n", name, "link", "set", ns_end, "up"])
        run(["ip", "-n", name, "route", "add", "default", "dev", ns_end])  # answers go back over the veth only
        run(["ip", "link", "set", host_end, "up"])
        run(["ip", "route", "add", address + "/32", "dev", host_end])  # no address on the host end
        yield name, address
    finally:
        run(["ip", "link", "del", host_end], check=False)
        run(["ip", "netns", "del", name], check=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory, netns):
    """The registries' CA (IP SAN: the test address) and another CA that signed nothing here."""
    good = reg.make_ca_and_cert(tmp_path_factory.mktemp("engine-pki"), names=(netns[1],), days=30)
    wrong = reg.make_ca_and_cert(tmp_path_factory.mktemp("engine-pki-wrong"), names=(netns[1],), days=30)
    return good, wrong


@pytest.fixture(scope="module")
def registries(tmp_path_factory, netns, pki, oci_image_factory):
    name, address = netns
    private = NetnsRegistry(tmp_path_factory.mktemp("private"), pki[0], name, address, PRIVATE_PORT, users=USERS)
    mirror = NetnsRegistry(tmp_path_factory.mktemp("mirror"), pki[0], name, address, MIRROR_PORT)
    client_dir = make_client_pair(pki[0], str(tmp_path_factory.mktemp("client") / "certs.d"))
    mtls = ClientCertRegistry(tmp_path_factory.mktemp("mtls"), pki[0], name, address, MTLS_PORT, client_dir)
    try:
        for server in (private, mirror, mtls):
            server.start()
        reg.push(private, "ns/app:1", oci_image_factory("ns/app:1 behind the engine test's CA"), "ci", USERS["ci"])
        reg.push(mirror, "library/alpine:3", oci_image_factory("alpine:3 from the engine test's mirror"))
        reg.push(mtls, "ns/tls:1", oci_image_factory("ns/tls:1 behind a client certificate"))
        yield private, mirror, mtls
    finally:
        for server in (private, mirror, mtls):
            server.stop()


@pytest.fixture(scope="module")
def engine(tmp_path_factory, registries):
    """A private dockerd with the test's /etc/docker and /etc/hosts: (etc dir, env for the CLI, pid file)."""
    work = tmp_path_factory.mktemp("engine")
    etc = work / "etc-docker"
    etc.mkdir()
    hosts = work / "hosts"
    hosts.write_text("127.0.0.1 localhost\n" + "".join(
        "127.0.0.1 %s\n" % host for host in ("registry-1.docker.io", "index.docker.io", "auth.docker.io",
                                             "production.cloudflare.docker.com")))
    run_dir = "/run/rk-trust-%d" % os.getpid()
    env = dict(os.environ, RUNNERKIT_DOCKER_DIR=str(work / "engine"), RUNNERKIT_DOCKER_RUN=run_dir,
               RUNNERKIT_DOCKER_ETC=str(etc), RUNNERKIT_DOCKER_HOSTS=str(hosts))
    started = run(["bash", ENGINE_SH, "start"], check=False, env=env, timeout=600)
    try:
        if started.returncode != 0:
            pytest.skip("docker_engine.sh could not start a Docker daemon (docker.io not installable?):\n%s"
                        % started.stderr[-2000:])
        cli_env = dict(os.environ, DOCKER_HOST="unix://%s/docker.sock" % run_dir,
                       DOCKER_CONFIG=str(work / "no-credentials"))
        yield etc, cli_env, os.path.join(run_dir, "dockerd.pid"), work
    finally:
        run(["bash", ENGINE_SH, "stop"], check=False, env=env, timeout=300)


def docker(engine, *args, config=None, check=False):
    env = dict(engine[1], DOCKER_CONFIG=str(config)) if config else engine[1]
    return run([DOCKER] + list(args), check=check, env=env)


def pull(engine, ref, config=None):
    docker(engine, "rmi", "-f", ref)  # a pull must reach the registry, not only find the image here
    return docker(engine, "pull", ref, config=config)


def daemon_pid(engine):
    with open(engine[2], encoding="ascii") as handle:
        return int(handle.read().strip())


# site.yml itself, on localhost as a member of gitlab_runners: registry_trust runs where registry_trust_* is set,
# docker_config writes the credentials where a user would check them with DOCKER_CONFIG.
PLAY = "- import_playbook: %s\n" % os.path.join(REPO_ROOT, "playbooks", "site.yml")
INVENTORY = "gitlab_runners:\n  hosts:\n    localhost:\n      ansible_connection: local\n"


def site(run_playbook, engine, extra_vars, **kwargs):
    inventory = engine[3] / "inventory.yml"
    inventory.write_text(INVENTORY)
    return run_playbook(PLAY, extra_vars, args=("-i", str(inventory)), **kwargs)


def read(path):
    with open(path, encoding="ascii") as handle:
        return handle.read()


def play_vars(engine, registries, ca_file, client_pair=True):
    private, mirror, mtls = registries
    ca_text = read(ca_file)
    mtls_entry = {"registry": mtls.host, "ca_cert": ca_text}
    if client_pair:
        mtls_entry.update(client_cert=read(os.path.join(mtls.client_dir, "client.cert")),
                          client_key=read(os.path.join(mtls.client_dir, "client.key")))
    etc, _env, pidfile, work = engine
    return {
        "registry_trust_certs_d_root": str(etc / "certs.d"),
        "registry_trust_containers_certs_d_root": str(work / "containers-certs.d"),
        "registry_trust_daemon_json": str(etc / "daemon.json"),
        "registry_trust_dockerd_pidfile": pidfile,
        "registry_trust_registries": [{"registry": "https://%s/" % private.host, "ca_cert": ca_text},
                                      {"registry": mirror.host, "ca_cert": ca_text}, mtls_entry],
        "registry_trust_mirrors": [mirror.url],
        "docker_config_path": str(work / "docker-config" / "config.json"),
        "docker_config_registries": [{"registry": private.host, "username": "ci", "password": USERS["ci"]}],
        "runner_config_path": str(work / "gitlab-runner" / "config.toml"),
    }


def changed(playbook_run):
    return [record["task"] for record in playbook_run.results if record["status"] == "changed"]


def test_1_the_daemon_does_not_trust_the_registry_before_the_collection_runs(engine, registries):
    result = pull(engine, registries[0].ref("ns/app:1"))
    assert result.returncode != 0 and "x509: certificate signed by unknown authority" in result.stderr, result.stderr


def test_2_trust_mirror_and_credentials_make_the_pulls_work_without_a_restart(engine, registries, pki, run_playbook):
    private, mirror, mtls = registries
    pid = daemon_pid(engine)
    playbook = site(run_playbook, engine, play_vars(engine, registries, pki[0].ca_file), verbosity=0)
    assert playbook.rc == 0, playbook.output
    assert playbook.status(RELOAD) == "changed" and USERS["ci"] not in playbook.output
    without = pull(engine, private.ref("ns/app:1"))
    assert without.returncode != 0 and "no basic auth credentials" in without.stderr, without.stderr
    config_dir = engine[3] / "docker-config"
    pulled = pull(engine, private.ref("ns/app:1"), config=config_dir)
    assert pulled.returncode == 0, pulled.stderr
    assert private.images["ns/app:1"] in pulled.stdout
    assert daemon_pid(engine) == pid, "dockerd restarted: a SIGHUP was enough"
    with_client = pull(engine, mtls.ref("ns/tls:1"))
    assert with_client.returncode == 0 and mtls.images["ns/tls:1"] in with_client.stdout, with_client.stderr
    assert mirror.url in docker(engine, "info", "--format", "{{json .RegistryConfig.Mirrors}}", check=True).stdout
    mark = mirror.log_mark()
    hub = pull(engine, "library/alpine:3")
    assert hub.returncode == 0, hub.stderr
    assert mirror.images["library/alpine:3"] in hub.stdout
    assert any("/v2/library/alpine/manifests/3" in (request.uri or "") for request in mirror.requests(mark))
    rerun = site(run_playbook, engine, play_vars(engine, registries, pki[0].ca_file), verbosity=0)
    assert rerun.rc == 0 and changed(rerun) == [], rerun.output
    assert daemon_pid(engine) == pid


def test_3_a_wrong_ca_makes_the_pull_fail_again(engine, registries, pki, run_playbook):
    private = registries[0]
    config_dir = engine[3] / "docker-config"
    wrong = site(run_playbook, engine, play_vars(engine, registries, pki[1].ca_file), verbosity=0)
    assert wrong.rc == 0 and changed(wrong) == [ROLE + "Write the registries' CA and client certificates into certs.d"]
    failed = pull(engine, private.ref("ns/app:1"), config=config_dir)
    assert failed.returncode != 0 and "x509: certificate signed by unknown authority" in failed.stderr, failed.stderr
    right = site(run_playbook, engine, play_vars(engine, registries, pki[0].ca_file), verbosity=0)
    assert right.rc == 0, right.output
    assert pull(engine, private.ref("ns/app:1"), config=config_dir).returncode == 0
    again = site(run_playbook, engine, play_vars(engine, registries, pki[0].ca_file), verbosity=0)
    assert again.rc == 0 and changed(again) == [], again.output


def test_4_without_its_client_certificate_the_registry_refuses_the_daemon(engine, registries, pki, run_playbook):
    mtls = registries[2]
    key_line = read(os.path.join(mtls.client_dir, "client.key")).splitlines()[1]
    dropped = site(run_playbook, engine, play_vars(engine, registries, pki[0].ca_file, client_pair=False),
                   verbosity=0, diff=True)
    assert dropped.rc == 0 and key_line not in dropped.output, dropped.output
    assert sorted(os.listdir(engine[0] / "certs.d" / mtls.host)) == ["ca.crt"]
    refused = pull(engine, mtls.ref("ns/tls:1"))
    assert refused.returncode != 0 and "remote error: tls: bad certificate" in refused.stderr, refused.stderr
    restored = site(run_playbook, engine, play_vars(engine, registries, pki[0].ca_file), verbosity=0, diff=True)
    assert restored.rc == 0 and key_line not in restored.output, restored.output
    assert pull(engine, mtls.ref("ns/tls:1")).returncode == 0
    again = site(run_playbook, engine, play_vars(engine, registries, pki[0].ca_file), verbosity=0)
    assert again.rc == 0 and changed(again) == [], again.output
