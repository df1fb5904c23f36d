# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runner_auth_info and playbooks/audit.yml against a real registry (distribution 2.8, htpasswd, TLS).

The module runs as a real Ansible module process (args file, AnsibleModule); audit.yml runs through
ansible-playbook. What the registry received is read from its header-logging proxy.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

import pytest

import registry as reg
from conftest import COLLECTIONS_DIR, USERS

MODULE = "ansible_collections.runnerkit.gitlab_runner.plugins.modules.runner_auth_info"
RUNNER_TOKEN = "glrt-functional-test-token-0001"
HELPER = "rktest"


def config_toml(path, image, services=(), environment=()):
    lines = ["concurrent = 1", "", "[[runners]]", '  name = "build"', '  url = "https://gitlab.example.com"',
             '  token = "%s"' % RUNNER_TOKEN, '  executor = "docker"']
    if environment:
        lines.append("  environment = %s" % json.dumps(list(environment)))
    lines += ["  [runners.docker]", '    image = "%s"' % image]
    for service in services:
        lines += ["    [[runners.docker.services]]", '      name = "%s"' % service]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run_module(tmp_path, _wait=120, **args):
    """Run runner_auth_info as Ansible runs a module (given up after _wait s); returns (result, raw stdout)."""
    args_file = tmp_path / ("args-%s.json" % hashlib.sha1(json.dumps(args, sort_keys=True).encode()).hexdigest()[:8])
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS_DIR, NO_PROXY="*", no_proxy="*")
    proc = subprocess.run([sys.executable, "-m", MODULE, str(args_file)], capture_output=True, text=True, env=env,
                          timeout=_wait, check=False)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("module output is not JSON:\n%s\n%s" % (proc.stdout, proc.stderr))
    return result, proc.stdout


def base_args(registry, config_path, docker_config, **more):
    args = {"path": config_path, "user": "root", "docker_config": str(docker_config), "probe": True,
            "ca_file": registry.ca_file, "service": "runnerkit-no-such-unit"}
    args.update(more)
    return args


def assert_no_secret(text, *secrets):
    for secret in secrets:
        assert secret not in text
        assert base64.b64encode(secret.encode()).decode() not in text
    assert RUNNER_TOKEN not in text


def manifest_requests(registry, mark, repository):
    return [s for s in registry.received(since=mark) if "/v2/%s/manifests/" % repository in s.path]


def test_static_auths_ok(registry, tmp_path):
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"))
    docker_config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", USERS["ci"])})
    mark = registry.log_mark()
    result, raw = run_module(tmp_path, **base_args(registry, config, docker_config))
    assert not result.get("failed"), result
    (row,) = result["images"]
    assert {k: row[k] for k in ("runner", "image", "origin", "registry_path", "source", "key", "kind", "username")} == {
        "runner": "build", "image": registry.ref("ns/app:1"), "origin": "docker.image",
        "registry_path": registry.host + "/ns/app", "source": "home_config", "key": registry.host, "kind": "static",
        "username": "ci"}
    assert row["problems"] == []
    assert row["probe"]["status"] == "ok" and row["probe"]["authenticated"] is True
    assert row["probe"]["digest"] == registry.images["ns/app:1"]
    assert row["probe"]["auth_scheme"] == "basic"
    # The registry got user ci's Basic credentials with the HEAD of the manifest, and nothing else.
    heads = manifest_requests(registry, mark, "ns/app")
    assert [(s.method, s.scheme, s.user, s.status) for s in heads] == [("HEAD", "Basic", "ci", 200)]
    accept = heads[0].headers.get("Accept", "")
    assert "application/vnd.oci.image.manifest.v1+json" in accept
    assert "application/vnd.docker.distribution.manifest.v2+json" in accept
    assert any(line.split()[:6] == ["build", registry.ref("ns/app:1"), "home_config", registry.host, "static", "ok"]
               for line in result["table"])
    assert_no_secret(raw, USERS["ci"])


def test_registry_certificate_expiring_inside_the_window(registry, tmp_path):
    """The test CA signs the registry's certificate for 90 days: outside the default 14-day window (the test
    above has no problem), inside a 120-day one, per image and with the date the certificate presents."""
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"))
    docker_config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", USERS["ci"])})
    result, _raw = run_module(tmp_path, **base_args(registry, config, docker_config, expiry_warn_days=120))
    (row,) = result["images"]
    expires = datetime.datetime.strptime(row["probe"]["certificate_expires_at"], "%Y-%m-%dT%H:%M:%SZ")
    left = expires.replace(tzinfo=datetime.timezone.utc) - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=88) < left <= datetime.timedelta(days=90), row["probe"]
    assert row["probe"]["status"] == "ok"
    (problem,) = row["problems"]
    assert re.fullmatch(r"the TLS certificate of %s expires at %s \(in (88|89) days\); renew it before the daemon "
                        r"refuses pulls from it" % (re.escape(registry.host), row["probe"]["certificate_expires_at"]),
                        problem), problem
    # Without verification the certificate is not known, so nothing is claimed about it.
    result, _raw = run_module(tmp_path, **base_args(registry, config, docker_config, expiry_warn_days=120,
                                                    validate_certs=False))
    (row,) = result["images"]
    assert "certificate_expires_at" not in row["probe"] and row["problems"] == []


def test_wrong_password_is_unauthorized(registry, tmp_path):
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"))
    docker_config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", "wrong-password")})
    result, raw = run_module(tmp_path, **base_args(registry, config, docker_config))
    probe = result["images"][0]["probe"]
    assert probe["status"] == "unauthorized" and probe["reachable"] is True
    assert "refused the credentials of user 'ci'" in probe["message"]
    assert_no_secret(raw, "wrong-password")


def test_namespace_scoped_key_only_for_images_under_it(registry, tmp_path):
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"))
    docker_config = reg.write_docker_config(tmp_path / "config.json",
                                            auths={registry.host + "/ns": ("ci", USERS["ci"])})
    mark = registry.log_mark()
    result, _raw = run_module(tmp_path, **base_args(registry, config, docker_config,
                                                    images=[registry.ref("ns/app:1"), registry.ref("other/app:1")]))
    under, other = result["images"]
    assert (under["key"], under["source"], under["probe"]["status"]) == (registry.host + "/ns", "home_config", "ok")
    assert (other["key"], other["source"], other["probe"]["status"]) == (None, "none", "unauthorized")
    assert "anonymous access" in other["probe"]["message"]
    # user ci's credentials went only with ns/app; other/app was asked for without any
    assert {(s.scheme, s.user) for s in manifest_requests(registry, mark, "ns/app")} == {("Basic", "ci")}
    assert {s.authorization for s in manifest_requests(registry, mark, "other/app")} == {None}


def test_service_from_the_private_registry_without_credentials(registry, tmp_path):
    """The key covers ns/ only: the service other/app comes from the same registry with no credentials, which the
    audit says, with the key to add; with probe the registry's anonymous refusal is the reason, without probe the
    runner's other image using credentials there is."""
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"), services=[registry.ref("other/app:1")])
    docker_config = reg.write_docker_config(tmp_path / "config.json",
                                            auths={registry.host + "/ns": ("ci", USERS["ci"])})
    for probe in (True, False):
        result, _raw = run_module(tmp_path, **base_args(registry, config, docker_config, probe=probe))
        image, service = result["images"]
        assert image["problems"] == []
        assert (service["origin"], service["source"]) == ("docker.services[0]", "none")
        assert service["problems"] == [
            "service %s is pulled without credentials from %s, a private registry (other images of this runner use "
            "credentials there); add credentials whose key matches %s/other/app (the registry or a namespace above "
            "it)" % (registry.ref("other/app:1"), registry.host, registry.host)]
    # A service from a registry the runner has no credentials for at all, refused anonymously.
    docker_config = reg.write_docker_config(tmp_path / "none.json", auths={})
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"), services=[registry.ref("other/app:1")])
    result, _raw = run_module(tmp_path, **base_args(registry, config, docker_config))
    service = [row for row in result["images"] if row["origin"] == "docker.services[0]"][0]
    assert service["probe"]["status"] == "unauthorized"
    assert "a private registry (it refused anonymous access)" in service["problems"][-1]


def test_missing_image_is_not_found(registry, tmp_path):
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"), services=[registry.ref("ns/app:404")])
    docker_config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", USERS["ci"])})
    result, _raw = run_module(tmp_path, **base_args(registry, config, docker_config))
    image, service = result["images"]
    assert image["probe"]["status"] == "ok"
    assert (service["origin"], service["probe"]["status"]) == ("docker.services[0]", "not_found")
    assert service["probe"]["message"] == "manifest 404 not found in %s/ns/app" % registry.host


def test_runner_docker_auth_config_wins_over_the_home_config(registry, tmp_path):
    auth = json.dumps({"auths": {registry.host: {"auth": base64.b64encode(b"other:other-password").decode()}}})
    config = config_toml(tmp_path / "config.toml", registry.ref("other/app:1"),
                         environment=["DOCKER_AUTH_CONFIG=" + auth])
    docker_config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", USERS["ci"])})
    result, raw = run_module(tmp_path, **base_args(registry, config, docker_config))
    (row,) = result["images"]
    assert (row["source"], row["username"], row["probe"]["status"]) == ("DOCKER_AUTH_CONFIG", "other", "ok")
    assert any("is ignored" in p and "DOCKER_AUTH_CONFIG of runner build" in p for p in row["problems"])
    assert any("exports it to every job" in p for p in result["problems"])
    assert_no_secret(raw, "other-password", USERS["ci"])


@pytest.fixture
def helper_dir():
    """A world-readable directory (the runner user must reach the helper) with our own helper script."""
    directory = tempfile.mkdtemp(prefix="runnerkit-helper-", dir="/tmp")
    os.chmod(directory, 0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


HELPER_SCRIPT = r"""#!/bin/sh
# A docker-credential helper of the test's own: the protocol of docker/docker-credential-helpers.
action="$1"
read -r server || true
echo "$action $server $(id -un)" >> "$(dirname "$0")/calls.log"
case "$action" in
  get)
    if [ "$server" = "%(host)s" ]; then
      if [ "$(id -un)" = nobody ]; then user=nobody; secret=%(nobody)s; else user=ci; secret=%(ci)s; fi
      printf '{"ServerURL":"%%s","Username":"%%s","Secret":"%%s"}\n' "$server" "$user" "$secret"
      exit 0
    fi
    echo "credentials not found in native keychain"
    exit 1;;
  list)
    printf '{"%(host)s":"ci"}\n'
    exit 0;;
  *)
    echo "%(name)s: unknown action: $action"
    exit 1;;
esac
"""


def install_helper(directory, registry):
    path = os.path.join(directory, "docker-credential-" + HELPER)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(HELPER_SCRIPT % {"host": registry.host, "ci": USERS["ci"], "nobody": "nobody-password",
                                      "name": HELPER})
    os.chmod(path, 0o755)
    log = os.path.join(directory, "calls.log")
    open(log, "w", encoding="utf-8").close()
    os.chmod(log, 0o666)
    return path, log


def calls(log):
    with open(log, encoding="utf-8") as handle:
        return [line.split() for line in handle.read().splitlines()]


def test_credential_helper_of_our_own(registry, tmp_path, helper_dir):
    binary, log = install_helper(helper_dir, registry)
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"), services=[registry.ref("other/app:1")])
    docker_config = tmp_path / "config.json"
    docker_config.write_text(json.dumps({"credHelpers": {registry.host: HELPER}}))
    runner_path = helper_dir + ":/usr/bin:/bin"

    # Without probe the helper is found on the runner's PATH and checked, never run.
    result, _raw = run_module(tmp_path, **base_args(registry, config, docker_config, probe=False,
                                                    runner_path=runner_path))
    row = result["images"][0]
    assert (row["source"], row["key"], row["kind"], row["helper"], row["helper_path"]) == (
        "home_config", registry.host, "helper", HELPER, binary)
    assert row["probe"] is None and calls(log) == []
    assert result["runner_path"] == runner_path

    # With probe it is run (once per server, as the current user), and its credentials work.
    result, raw = run_module(tmp_path, **base_args(registry, config, docker_config, runner_path=runner_path))
    app, other = result["images"]
    assert (app["username"], app["probe"]["status"], app["probe"]["digest"]) == (
        "ci", "ok", registry.images["ns/app:1"])
    assert (other["username"], other["probe"]["status"]) == ("ci", "ok")  # htpasswd: every user reads everything
    assert calls(log) == [["get", registry.host, "root"]]
    assert_no_secret(raw, USERS["ci"])

    # Not on the runner's PATH: the whole source is discarded.
    result, _raw = run_module(tmp_path, **base_args(registry, config, docker_config, runner_path="/usr/bin:/bin"))
    row = result["images"][0]
    assert (row["source"], row["probe"]["status"]) == ("none", "unauthorized")
    assert any('"docker-credential-%s": executable file not found in $PATH' % HELPER in p and "discarded whole" in p
               for p in result["problems"])


def test_credential_store_of_our_own(registry, tmp_path, helper_dir):
    _binary, log = install_helper(helper_dir, registry)
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"))
    docker_config = tmp_path / "config.json"
    docker_config.write_text(json.dumps({"credsStore": HELPER}))
    result, _raw = run_module(tmp_path, **base_args(registry, config, docker_config,
                                                    runner_path=helper_dir + ":/usr/bin:/bin"))
    row = result["images"][0]
    assert (row["kind"], row["helper"], row["key"], row["probe"]["status"]) == ("store", HELPER, registry.host, "ok")
    assert calls(log) == [["list", "unused", "root"], ["get", registry.host, "root"]]
    assert any("global credsStore '%s'" % HELPER in p for p in result["problems"])


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root and runuser")
def test_helper_runs_as_the_runner_user(registry, tmp_path, helper_dir):
    registry.set_users(dict(USERS, nobody="nobody-password"))
    _binary, log = install_helper(helper_dir, registry)
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"))
    docker_config = tmp_path / "config.json"
    docker_config.write_text(json.dumps({"credHelpers": {registry.host: HELPER}}))
    args = base_args(registry, config, docker_config, user="nobody", runner_path=helper_dir + ":/usr/bin:/bin")
    result, raw = run_module(tmp_path, **args)
    row = result["images"][0]
    assert result["user"]["name"] == "nobody"
    assert calls(log) == [["get", registry.host, "nobody"]]
    assert (row["username"], row["probe"]["status"]) == ("nobody", "ok")
    assert_no_secret(raw, "nobody-password")

    # A helper the runner user may not execute discards the source, like the runner's exec failure.
    os.chmod(os.path.join(helper_dir, "docker-credential-" + HELPER), stat.S_IRWXU)
    result, _raw = run_module(tmp_path, **base_args(registry, config, docker_config, user="nobody",
                                                    runner_path=helper_dir + ":/usr/bin:/bin"))
    assert result["images"][0]["source"] == "none"
    assert any("is not executable by user nobody" in p for p in result["problems"])


def test_missing_helper_binary_discards_the_static_auths_too(registry, tmp_path):
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"))
    docker_config = tmp_path / "config.json"
    docker_config.write_text(json.dumps({"auths": {registry.host: reg.auth_entry("ci", USERS["ci"])},
                                         "credHelpers": {"elsewhere.example": "rk-not-installed"}}))
    result, _raw = run_module(tmp_path, **base_args(registry, config, docker_config))
    row = result["images"][0]
    assert (row["source"], row["probe"]["status"]) == ("none", "unauthorized")
    assert any("its key '%s' for this image is not used" % registry.host in p for p in row["problems"])
    assert [s["status"] for s in result["sources"]] == ["discarded"]


def test_audit_playbook_table_and_reports(registry, tmp_path, run_playbook):
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"), services=[registry.ref("ns/missing:1")])
    before = (tmp_path / "config.toml").read_bytes()
    docker_config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", USERS["ci"])})
    report_dir = tmp_path / "report"
    extra = {"audit_hosts": "localhost", "audit_become": False, "audit_config_path": config, "audit_user": "root",
             "audit_docker_config": str(docker_config), "audit_ca_file": registry.ca_file,
             "audit_report_dir": str(report_dir)}
    # One run in check mode: the audit answers the same there (it changes nothing), and writes its reports.
    for check in (True,):
        run = run_playbook("- ansible.builtin.import_playbook: runnerkit.gitlab_runner.audit\n", extra, check=check,
                           env={"NO_PROXY": "*", "no_proxy": "*"}, verbosity=1)
        assert run.rc == 0, run.output
        # Only the reports on the controller change (on the first run); nothing on the host.
        changed = {r["task"] for r in run.results if r["status"] == "changed"}
        assert changed <= {"Create the report directory", "Write audit.json", "Write audit.md", "Write audit.html"}
        assert run.status("Resolve the credentials of each runner and image, and probe the registries") == "ok"
        table = run.result("Show the credentials table")["msg"]
        assert table[0].split() == ["RUNNER", "IMAGE", "SOURCE", "KEY", "KIND", "STATUS", "PROBLEM"]
        assert table[2].split()[:6] == ["build", registry.ref("ns/app:1"), "home_config", registry.host, "static", "ok"]
        assert table[3].split()[5] == "not_found" and "manifest 1 not found" in table[3]
        assert "RUNNER  IMAGE" in run.output
        report = json.loads((report_dir / "audit.json").read_text())
        rows = report["hosts"]["localhost"]["images"]
        assert [r["probe"]["status"] for r in rows] == ["ok", "not_found"]
        assert report["check_mode"] is check
        markdown = (report_dir / "audit.md").read_text()
        assert "## localhost" in markdown and "| Runner | Image | Source |" in markdown
        assert "| build | `%s` | home_config | `%s` | static | ok | `%s` |" % (
            registry.ref("ns/app:1"), registry.host, registry.images["ns/app:1"]) in markdown
        html = (report_dir / "audit.html").read_text()
        assert html.startswith("<!DOCTYPE html>") and "<td>build</td>" in html and 'class="bad">not_found' in html
        for text in (run.output, markdown, html, json.dumps(report)):
            assert_no_secret(text, USERS["ci"])
        assert stat.S_IMODE(os.stat(report_dir / "audit.json").st_mode) == 0o600
    assert (tmp_path / "config.toml").read_bytes() == before


def test_gitlab_ci_images_and_job_docker_auth_config(registry, tmp_path):
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"))
    docker_config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host + "/ns": ("ci", USERS["ci"])})
    job_auth = json.dumps({"auths": {registry.host + "/other": {"auth": base64.b64encode(b"other:other-password")
                                                                .decode()}}})
    (tmp_path / ".gitlab-ci.yml").write_text(
        "variables:\n"
        "  REG: %(host)s\n"
        "default:\n"
        "  image: $REG/ns/app:1\n"
        ".deploy: &deploy\n"
        "  script: [deploy]\n"
        "build:\n"
        "  script: [make]\n"
        "  services:\n"
        "    - name: $REG/ns/app:404\n"
        "      alias: db\n"
        "deploy:\n"
        "  extends: .deploy\n"
        "  image:\n"
        "    name: $REG/other/app:1\n"
        "    entrypoint: ['']\n"
        "  variables:\n"
        "    DOCKER_AUTH_CONFIG: '%(auth)s'\n"
        "  rules:\n"
        "    - if: !reference [.rules, deploy]\n"
        "release:\n"
        "  image: $CI_REGISTRY_IMAGE/release:$CI_COMMIT_TAG\n"
        "  script: [release]\n" % {"host": registry.host, "auth": job_auth})
    ci_file = str(tmp_path / ".gitlab-ci.yml")
    result, raw = run_module(tmp_path, **base_args(registry, config, docker_config, gitlab_ci=[ci_file]))
    rows = {(r["origin"].rsplit(":", 2)[-2:][0] if r["origin"].startswith("gitlab_ci:") else r["origin"],
             r["image"]): r for r in result["images"]}
    assert rows[("docker.image", registry.ref("ns/app:1"))]["probe"]["status"] == "ok"
    assert rows[("build", registry.ref("ns/app:1"))]["probe"]["status"] == "ok"
    assert rows[("build", registry.ref("ns/app:404"))]["probe"]["status"] == "not_found"
    deploy = rows[("deploy", registry.ref("other/app:1"))]
    # the job's DOCKER_AUTH_CONFIG replaces the runner's for that job; the home config has no key for other/
    assert (deploy["source"], deploy["source_origin"], deploy["username"], deploy["probe"]["status"]) == (
        "DOCKER_AUTH_CONFIG", "DOCKER_AUTH_CONFIG of job deploy in %s" % ci_file, "other", "ok")
    release = rows[("release", "$CI_REGISTRY_IMAGE/release:$CI_COMMIT_TAG")]
    assert release["probe"]["status"] == "skipped" and "set by GitLab at run time" in release["problems"][0]
    assert_no_secret(raw, "other-password", USERS["ci"])


# ---------------------------------------------------------------- every wait is bounded (issue 12, point 4)

HANG_SCRIPT = r"""#!/bin/sh
# docker-credential-hang: never answers, and leaves a grandchild that sleeps too.
pids="$(dirname "$0")/pids"
echo $$ > "$pids/helper.pid"
sh -c 'echo $$ > "$1/grandchild.pid"; exec sleep %(marker)s' grandchild "$pids" &
exec sleep %(marker)s
"""

LEAKY_SCRIPT = r"""#!/bin/sh
# docker-credential-leaky: fails, printing the secret on stdout and on stderr.
echo "%(secret)s"
echo "stderr: %(secret)s" >&2
exit 1
"""


def install_script(directory, name, text):
    path = os.path.join(directory, "docker-credential-" + name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o755)
    return path


def alive(pid):
    """Whether a process runs (a zombie waiting for a reaper that is not this test's child does not)."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def read_pid(path):
    with open(path, encoding="utf-8") as handle:
        return int(handle.read())


def processes_with(marker):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and alive(int(entry)):
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def two_runners_toml(path, hung_image, other_image, hung_auth):
    """Runner `hung` takes credentials from a helper in its DOCKER_AUTH_CONFIG, runner `build` from the home config."""
    path.write_text("\n".join([
        "concurrent = 2", "",
        "[[runners]]", '  name = "hung"', '  url = "https://gitlab.example.com"', '  token = "%s"' % RUNNER_TOKEN,
        '  executor = "docker"', "  environment = %s" % json.dumps(["DOCKER_AUTH_CONFIG=" + json.dumps(hung_auth)]),
        "  [runners.docker]", '    image = "%s"' % hung_image, "",
        "[[runners]]", '  name = "build"', '  url = "https://gitlab.example.com"', '  token = "%s"' % RUNNER_TOKEN,
        '  executor = "docker"', "  [runners.docker]", '    image = "%s"' % other_image, ""]))
    return str(path)


@pytest.mark.parametrize("user", [
    "root",
    pytest.param("nobody", marks=pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"),
                                                    reason="needs root and runuser")),
])
def test_hanging_helper_is_killed_with_its_process_group_and_the_audit_goes_on(registry, tmp_path, helper_dir, user):
    # As another user the helper runs under runuser, which stays in the helper's process group.
    marker = str(86400 + os.getpid() % 10000)  # `sleep <marker>`: finds every process the helper left
    install_script(helper_dir, "hang", HANG_SCRIPT % {"marker": marker})
    pids = os.path.join(helper_dir, "pids")
    os.mkdir(pids)
    os.chmod(pids, 0o777)
    config = two_runners_toml(tmp_path / "config.toml", "hang.example.com/ns/app:1", registry.ref("ns/app:1"),
                              {"credHelpers": {"hang.example.com": "hang"}})
    docker_config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", USERS["ci"])})
    args = base_args(registry, config, docker_config, user=user, timeout=3, runner_path=helper_dir + ":/usr/bin:/bin")
    started = time.monotonic()
    try:
        result, _raw = run_module(tmp_path, _wait=30, **args)
        elapsed = time.monotonic() - started
        helper_pid, grandchild_pid = (read_pid(os.path.join(pids, n)) for n in ("helper.pid", "grandchild.pid"))
        left = processes_with("sleep\0" + marker)
    finally:
        for pid in processes_with("sleep\0" + marker):  # only if the test fails: leave nothing behind
            os.kill(pid, 9)
    assert elapsed < 3 + 2, elapsed
    hung, build = result["images"]
    assert (hung["runner"], hung["probe"]["status"]) == ("hung", "timeout")
    assert "docker-credential-hang get did not finish within 3 s; it was killed with its process group" in (
        hung["probe"]["message"])
    assert any("DOCKER_AUTH_CONFIG of runner hung: docker-credential-hang get did not finish within 3 s" in p
               and "would hang every job" in p for p in result["problems"])
    # the other runner's image was still probed, with its own credentials
    assert (build["runner"], build["source"], build["probe"]["status"]) == ("build", "home_config", "ok")
    assert "timeout" in next(line for line in result["table"] if line.startswith("hung"))
    # the helper, its grandchild and every process of its group are gone
    assert not alive(helper_pid) and not alive(grandchild_pid)
    assert left == []


def test_failing_helper_output_never_reaches_the_result(registry, tmp_path, helper_dir):
    secret = "leaked-helper-secret-4711"
    install_script(helper_dir, "leaky", LEAKY_SCRIPT % {"secret": secret})
    config = config_toml(tmp_path / "config.toml", registry.ref("ns/app:1"))
    docker_config = tmp_path / "config.json"
    docker_config.write_text(json.dumps({"credHelpers": {registry.host: "leaky"}}))
    result, raw = run_module(tmp_path, **base_args(registry, config, docker_config,
                                                   runner_path=helper_dir + ":/usr/bin:/bin"))
    assert secret not in raw
    assert any("error getting credentials - err: exit status 1, out: `" in p
               and "bytes not shown: a helper's output may hold a secret" in p for p in result["problems"])
    assert result["images"][0]["source"] == "none"
