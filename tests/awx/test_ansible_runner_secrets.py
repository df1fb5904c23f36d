# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml and audit.yml through ansible-runner, the engine AWX runs jobs with, leak no secret.

Two sandbox hosts (tests/sandbox/sandbox.py) and the fleet's test services (tests/sandbox/fixtures.py:
a real registry with htpasswd + TLS, an HTTP server for a credential-helper download).  A private
data dir is laid out the way AWX lays it out for a job:

* ``env/extravars``  what a custom "registry" credential injects as extra vars (registry password,
  a runner authentication token), marked secret in AWX;
* ``env/envvars``    what AWX's AWS credential injects (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
  AWS_SESSION_TOKEN), plus ANSIBLE_COLLECTIONS_PATH (the project's collections);
* ``inventory/``     the sandbox hosts (key path in the inventory) and group_vars that take every
  secret from those extra vars and environment variables;
* ``project/``       site.yml and audit.yml that import ``runnerkit.gitlab_runner.site`` / ``audit``.

Both playbooks run with ``verbosity=3`` and ``--diff`` and ``suppress_env_files=True`` (as AWX
does).  Then every file under the data dir (stdout, job_events/*.json, fact_cache, the audit
reports written on the controller, ...) except the input files themselves and rc/status is searched
for every secret in raw, base64 (also ``user:password`` and at every 3-byte alignment), JSON-escaped
and TOML-escaped form.  The pass mark is zero hits.

Needs root, openssh-server and the Debian packages of ``make deps``; ``make awx-runner`` runs it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "sandbox"))

import fixtures as fleet_fixtures  # noqa: E402  pylint: disable=wrong-import-position
import sandbox  # noqa: E402  pylint: disable=wrong-import-position

ansible_runner = pytest.importorskip("ansible_runner")

HOSTS = ("awx-1", "awx-2")
COLLECTIONS_DIR = os.path.join(REPO_ROOT, ".build", "collections")

# group_vars of the job's inventory: every secret comes from what AWX injected, nothing is literal.
GROUP_VARS = r"""---
registry_ca_dir: "{{ awx_registry_ca_dir }}"
runner_config_path: /etc/gitlab-runner/config.toml
runner_global:
  concurrent: 4
  check_interval: 3
runner_runners:
  - name: docker-build
    url: https://gitlab.example.com
    token: "{{ awx_runner_token }}"
    executor: docker
    docker:
      image: "{{ awx_registry }}/ns/app:1"
      services:
        - name: "{{ awx_registry }}/ns/app:1"
          alias: db
    network_per_build: true
    docker_auth_config:
      auths: "{{ {awx_registry: {'username': awx_registry_username, 'password': awx_registry_password}} }}"
  - name: docker-helper
    url: https://gitlab.example.com
    token: "{{ awx_runner_token }}-2"
    executor: docker
    docker:
      image: "{{ awx_registry_localhost }}/ns/app:1"
    docker_auth_config:
      credHelpers: "{{ {awx_registry_localhost: awx_helper_name} }}"
docker_config_user: root
docker_config_registries:
  - registry: "{{ awx_registry }}"
    username: "{{ awx_registry_username }}"
    password: "{{ awx_registry_password }}"
  - registry: "{{ awx_registry_localhost }}"
    helper: "{{ awx_helper_name }}"
credential_helpers_list:
  - name: "{{ awx_helper_name }}"
    source: url
    url: "{{ awx_helper_url }}/{arch}/docker-credential-{{ awx_helper_name }}"
    sha256:
      amd64: "{{ awx_helper_sha256 }}"
      arm64: "{{ awx_helper_sha256 }}"
# AWX's own AWS credential type injects these as environment variables of the job.
docker_config_aws_mode: environment
docker_config_aws_region: eu-central-1
docker_config_aws_access_key_id: "{{ lookup('ansible.builtin.env', 'AWS_ACCESS_KEY_ID') }}"
docker_config_aws_secret_access_key: "{{ lookup('ansible.builtin.env', 'AWS_SECRET_ACCESS_KEY') }}"
docker_config_aws_session_token: "{{ lookup('ansible.builtin.env', 'AWS_SESSION_TOKEN') }}"
audit_ca_file: "{{ awx_registry_ca_dir }}/ca.crt"
"""

# Files AWX (or the test) wrote as inputs, and runner bookkeeping without content.
INPUT_FILES = {os.path.join("env", name)
               for name in ("extravars", "envvars", "ssh_key", "passwords", "settings", "cmdline")}
BOOKKEEPING = {"rc", "status"}


def secret_forms(secret, user=None):
    """Every form in which ``secret`` could appear in an artifact."""
    forms = {"raw": secret,
             "json": json.dumps(secret)[1:-1],
             # TOML basic string: backslash and quote escaped (tomlkit's and GitLab Runner's form).
             "toml": secret.replace("\\", "\\\\").replace('"', '\\"')}
    data = secret.encode("utf-8")
    plain = [data] + ([("%s:%s" % (user, secret)).encode("utf-8")] if user else [])
    for index, blob in enumerate(plain):
        forms["base64" if index == 0 else "base64 user:password"] = base64.b64encode(blob).decode("ascii")
        forms["base64url" if index == 0 else "base64url user:password"] = \
            base64.urlsafe_b64encode(blob).decode("ascii").rstrip("=")
    # Inside a longer base64 blob the secret starts at any offset mod 3: keep the stable middle.
    for shift in (0, 1, 2):
        encoded = base64.b64encode(b"\0" * shift + data).decode("ascii")
        core = encoded[4 if shift else 0:-4]
        if len(core) >= 12:
            forms["base64+%d" % shift] = core
    return {name: value for name, value in forms.items() if value}


def scanned_files(data_dir):
    for directory, _dirs, files in os.walk(data_dir):
        for name in files:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, data_dir)
            if rel in INPUT_FILES or (rel.startswith("artifacts" + os.sep) and name in BOOKKEEPING):
                continue
            if os.path.islink(path):
                continue
            yield rel, path


def command_without_injected_env(path, content, injected):
    """ansible-runner 2.4 always writes artifacts/<ident>/command: the argv, the cwd and the whole
    environment of the job, so env/envvars (AWX's credential injection) is echoed there whatever
    suppress_env_files says; AWX relies on the data dir being private and short-lived.  That echo of
    the inputs is checked (0600, values identical to env/envvars) and taken out; the rest of the file
    (argv, cwd, every other variable) is scanned like any other artifact."""
    assert os.stat(path).st_mode & 0o077 == 0, "%s is readable by others" % path
    data = json.loads(content)
    for name, value in injected.items():
        assert data["env"].get(name) == value, (name, "not the injected value")
        del data["env"][name]
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Two sandbox hosts and the registry/helper services, torn down by a finalizer."""
    if os.geteuid() != 0:
        pytest.skip("sandbox hosts need root")
    if not os.path.exists(sandbox.SSHD):
        pytest.skip("sshd (openssh-server) missing: make deps")
    missing = fleet_fixtures.reg.tools_missing()
    if missing:
        pytest.skip("missing %s: make deps" % ", ".join(missing))
    # Not under an overlaid directory; /tmp is shared with the hosts (CA file, helper download).
    root = sandbox.check_root(str(tmp_path_factory.mktemp("awx-sandbox")))
    os.chmod(root, 0o755)
    workdir = os.path.join(root, "fixtures")
    hosts = []
    try:
        state = fleet_fixtures.start(workdir)
        for name in HOSTS:
            hosts.append(sandbox.up(root, name))
        yield {"root": root, "state": state, "hosts": hosts, "inventory": sandbox.inventory(root, list(HOSTS))}
    finally:
        errors = []
        for name in HOSTS:
            try:
                sandbox.down(root, name)
            except (sandbox.SandboxError, OSError) as exc:
                errors.append(str(exc))
        fleet_fixtures.stop(workdir)
        assert not errors, errors


@pytest.fixture(scope="module")
def job(fleet, tmp_path_factory):
    """An AWX-like private data dir, and the secrets given to it."""
    state = fleet["state"]
    data_dir = str(tmp_path_factory.mktemp("awx-job"))
    secret_values = {
        "registry password": (state["password"], state["username"]),
        "runner token": ("glrt-awx-" + secrets.token_urlsafe(15), None),
        "AWS_SECRET_ACCESS_KEY": ("awx/" + secrets.token_urlsafe(24).replace("-", "+"), None),
        "AWS_SESSION_TOKEN": ("IQoJawx" + secrets.token_urlsafe(30) + "==", None),
    }
    for sub in ("env", "inventory/group_vars", "project"):
        os.makedirs(os.path.join(data_dir, sub))
    # What a custom credential type injects with `extra_vars:` (AWX writes them to env/extravars).
    extravars = {
        "awx_registry": state["registry"],
        "awx_registry_localhost": state["registry_localhost"],
        "awx_registry_username": state["username"],
        "awx_registry_password": secret_values["registry password"][0],
        "awx_runner_token": secret_values["runner token"][0],
        "awx_registry_ca_dir": state["cert_dir"],
        "awx_helper_name": state["helper_name"],
        "awx_helper_url": state["http"],
        "awx_helper_sha256": state["helper_sha256"],
        "audit_report_dir": os.path.join(data_dir, "audit-report"),
    }
    envvars = {
        "AWS_ACCESS_KEY_ID": "AKIAAWXRUNNERTEST001",
        "AWS_SECRET_ACCESS_KEY": secret_values["AWS_SECRET_ACCESS_KEY"][0],
        "AWS_SESSION_TOKEN": secret_values["AWS_SESSION_TOKEN"][0],
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS_DIR,
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
    }
    with open(os.path.join(data_dir, "env", "extravars"), "w", encoding="utf-8") as handle:
        json.dump(extravars, handle, indent=1)
    with open(os.path.join(data_dir, "env", "envvars"), "w", encoding="utf-8") as handle:
        json.dump(envvars, handle, indent=1)
    with open(os.path.join(data_dir, "inventory", "hosts"), "w", encoding="utf-8") as handle:
        handle.write(fleet["inventory"])
    with open(os.path.join(data_dir, "inventory", "group_vars", "gitlab_runners.yml"), "w", encoding="utf-8") as handle:
        handle.write(GROUP_VARS)
    for name in ("site", "audit"):
        with open(os.path.join(data_dir, "project", name + ".yml"), "w", encoding="utf-8") as handle:
            handle.write("---\n- name: runnerkit.gitlab_runner.%s as an AWX job template runs it\n"
                         "  ansible.builtin.import_playbook: runnerkit.gitlab_runner.%s\n" % (name, name))
    # The SSH private key of the machine credential is a secret too.
    with open(os.path.join(fleet["root"], "id_ed25519"), encoding="ascii") as handle:
        key_body = "".join(line for line in handle.read().splitlines() if not line.startswith("-----"))
    secret_values["ssh private key"] = (key_body, None)
    return {"dir": data_dir, "secrets": secret_values}


def run_job(data_dir, playbook):
    env_path = os.environ.get("PATH", "")
    bindir = os.path.dirname(sys.executable)
    if bindir not in env_path.split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + env_path
    started = time.monotonic()
    result = ansible_runner.run(private_data_dir=data_dir, playbook=playbook, ident=playbook.split(".")[0],
                                verbosity=3, cmdline="--diff", quiet=True, suppress_env_files=True,
                                suppress_ansible_output=True)
    elapsed = time.monotonic() - started
    stdout_path = os.path.join(data_dir, "artifacts", result.config.ident, "stdout")
    with open(stdout_path, encoding="utf-8", errors="replace") as handle:
        tail = handle.read()[-6000:]
    return result, elapsed, tail


def test_site_and_audit_through_ansible_runner_leak_no_secret(job):
    data_dir = job["dir"]
    timings = {}
    for playbook in ("site.yml", "audit.yml"):
        result, elapsed, tail = run_job(data_dir, playbook)
        timings[playbook] = elapsed
        assert result.status == "successful" and result.rc == 0, "%s: %s rc=%s\n%s" % (
            playbook, result.status, result.rc, tail)
        stats = result.stats or {}
        assert set(stats.get("ok", {})) == set(HOSTS), stats
        assert not stats.get("failures") and not stats.get("dark"), stats
        events = list(result.events)
        assert any(event.get("event") == "playbook_on_stats" for event in events)
    sys.stderr.write("ansible-runner: site.yml %.1f s, audit.yml %.1f s\n" % (timings["site.yml"], timings["audit.yml"]))

    # The audit reports were written on the controller, inside the data dir: scanned too.
    with open(os.path.join(data_dir, "audit-report", "audit.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    assert sorted(report["hosts"]) == sorted(HOSTS)
    for host, info in report["hosts"].items():
        probes = [row["probe"]["status"] for row in info["images"] if row.get("probe")]
        assert probes and set(probes) == {"ok"}, (host, info["images"])
    for ident in ("site", "audit"):
        artifact = os.path.join(data_dir, "artifacts", ident)
        assert os.path.getsize(os.path.join(artifact, "stdout")) > 0
        assert os.listdir(os.path.join(artifact, "job_events"))

    needles = []
    for label, (value, user) in job["secrets"].items():
        for form, text in secret_forms(value, user).items():
            needles.append((label, form, text.encode("utf-8")))
    hits = []
    scanned = 0
    with open(os.path.join(data_dir, "env", "envvars"), encoding="utf-8") as handle:
        injected = json.load(handle)
    for rel, path in scanned_files(data_dir):
        with open(path, "rb") as handle:
            content = handle.read()
        if os.path.basename(rel) == "command" and os.path.dirname(os.path.dirname(rel)) == "artifacts":
            content = command_without_injected_env(path, content, injected)
        scanned += 1
        for label, form, needle in needles:
            if needle in content:
                at = content.index(needle)
                context = content[max(0, at - 120):at].decode("utf-8", "replace")
                hits.append("%s: %s (%s) after ...%s" % (rel, label, form, context.replace("\n", "\\n")))
    sys.stderr.write("secret scan: %d files, %d secrets x forms = %d needles\n"
                     % (scanned, len(job["secrets"]), len(needles)))
    assert scanned > 10
    assert not hits, "secrets in the artifacts:\n" + "\n".join(hits)


def test_secret_forms_cover_the_docker_auth_form():
    forms = secret_forms('pa"ss\\word', "ci")
    assert forms["json"] == 'pa\\"ss\\\\word'
    assert forms["toml"] == 'pa\\"ss\\\\word'
    assert base64.b64decode(forms["base64 user:password"]) == b'ci:pa"ss\\word'
    blob = base64.b64encode(b'{"auth":"x","pw":"' + 'a-long-secret-value'.encode() + b'"}').decode()
    assert any(text in blob for name, text in secret_forms("a-long-secret-value").items() if name.startswith("base64"))
