# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Digest pinning against a real registry: the image_digest lookup and playbooks/pin_images.yml.

pin, rerun (unchanged), push a new image under the same tag, pin again (the digest changes), and
skopeo pulls the new image by the pinned reference.
"""

from __future__ import annotations

import json
import secrets
import tomllib

import registry as reg
from conftest import USERS

NO_PROXY = {"NO_PROXY": "*", "no_proxy": "*"}
RUNNER_TOKEN = "glrt-pin-test-token-0002"
SERVICE_SECRET = "service-db-password-0003"


def test_image_digest_lookup(registry, tmp_path, run_playbook):
    docker_config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host + "/ns": ("ci", USERS["ci"])})
    image = registry.ref("ns/app:1")
    digest = registry.images["ns/app:1"]
    playbook = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: given credentials
      ansible.builtin.debug:
        msg: "{{ lookup('runnerkit.gitlab_runner.image_digest', image, username='ci', password=password,
                        ca_file=ca_file) }}"
    - name: from config.json, keeping the tag
      ansible.builtin.debug:
        msg: "{{ query('runnerkit.gitlab_runner.image_digest', image, image ~ '@' ~ digest, image | regex_replace(':1$', '@' ~ digest),
                       keep_tag=true, docker_config=docker_config, ca_file=ca_file) }}"
    - name: wrong password
      ansible.builtin.debug:
        msg: "{{ lookup('runnerkit.gitlab_runner.image_digest', image, username='ci', password='wrong',
                        ca_file=ca_file) }}"
      ignore_errors: true
    - name: missing image
      ansible.builtin.debug:
        msg: "{{ lookup('runnerkit.gitlab_runner.image_digest', image ~ '0', docker_config=docker_config,
                        ca_file=ca_file) }}"
      ignore_errors: true
"""
    run = run_playbook(playbook, {"image": image, "digest": digest, "password": USERS["ci"],
                                  "docker_config": str(docker_config), "ca_file": registry.ca_file},
                       env=NO_PROXY, verbosity=0)
    assert run.rc == 0, run.output
    assert run.result("given credentials")["msg"] == registry.ref("ns/app@" + digest)
    assert run.result("from config.json, keeping the tag")["msg"] == [image + "@" + digest] * 2 + [
        registry.ref("ns/app@" + digest)]
    assert run.status("wrong password") == "failed"
    assert "image_digest: %s: unauthorized" % image in run.result("wrong password")["msg"]
    assert "not_found (manifest 10 not found" in run.result("missing image")["msg"]
    assert USERS["ci"] not in run.output


def write_config(path, image, service):
    path.write_text(
        "concurrent = 1\n"
        "\n"
        "[[runners]]\n"
        '  name = "build"\n'
        '  url = "https://gitlab.example.com"\n'
        '  token = "%s"\n'
        '  executor = "docker"\n'
        "  [runners.docker]\n"
        "    # the build image: pinned by playbooks/pin_images.yml\n"
        '    image = "%s"\n'
        '    pull_policy = ["always"]\n'
        "    [[runners.docker.services]]\n"
        '      name = "%s"\n'
        '      alias = "db"\n'
        '      environment = ["POSTGRES_PASSWORD=%s"]\n' % (RUNNER_TOKEN, image, service, SERVICE_SECRET))


def pin_task(run):
    return [r for r in run.results if r["task"].startswith("Write the digest references")][-1]


def test_pin_images(registry, tmp_path, run_playbook, oci_image_factory, cert_dir):
    repo = "pin%s/app" % secrets.token_hex(3)
    first = reg.push(registry, repo + ":1", oci_image_factory(repo + " v1"), "ci", USERS["ci"])
    service_digest = reg.push(registry, repo + "-db:16", oci_image_factory(repo + " db"), "ci", USERS["ci"])
    config = tmp_path / "config.toml"
    write_config(config, registry.ref(repo + ":1"), registry.ref(repo + "-db:16"))
    docker_config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", USERS["ci"])})
    extra = {"pin_images_hosts": "localhost", "pin_images_become": False, "pin_images_config_path": str(config),
             "pin_images_user": "root", "pin_images_docker_config": str(docker_config),
             "pin_images_ca_file": registry.ca_file}

    def pin(**more):
        run = run_playbook("- ansible.builtin.import_playbook: runnerkit.gitlab_runner.pin_images\n",
                           dict(extra, **more.pop("extra", {})), env=NO_PROXY, verbosity=1, diff=True, **more)
        assert run.rc == 0, run.output
        for secret in (USERS["ci"], RUNNER_TOKEN, SERVICE_SECRET):
            assert secret not in run.output
        return run

    # 1. pin
    run = pin()
    assert pin_task(run)["status"] == "changed"
    data = tomllib.loads(config.read_text())
    docker = data["runners"][0]["docker"]
    assert docker["image"] == registry.ref("%s:1@%s" % (repo, first))
    assert docker["services"] == [{"name": registry.ref("%s-db:16@%s" % (repo, service_digest)), "alias": "db",
                                   "environment": ["POSTGRES_PASSWORD=" + SERVICE_SECRET]}]
    assert docker["pull_policy"] == ["always"] and data["runners"][0]["token"] == RUNNER_TOKEN
    assert "# the build image: pinned by playbooks/pin_images.yml" in config.read_text()
    lines = run.result("Show the pins")["msg"]
    assert "build docker.image: %s -> %s" % (registry.ref(repo + ":1"), docker["image"]) in lines

    # 2. rerun with the same registry state: nothing changes
    text = config.read_text()
    run = pin()
    assert pin_task(run)["status"] == "ok"
    assert config.read_text() == text
    assert "build docker.image: %s (unchanged)" % docker["image"] in run.result("Show the pins")["msg"]

    # 3. a new image under the same tag; the check-mode diff of the strict form shows it, writes nothing
    second = reg.push(registry, repo + ":1", oci_image_factory(repo + " v2"), "ci", USERS["ci"])
    assert second != first
    run = pin(check=True, extra={"pin_images_keep_tag": False})
    assert pin_task(run)["status"] == "changed"
    assert registry.ref("%s@%s" % (repo, second)) in run.output  # the diff, name@sha256 form
    assert config.read_text() == text

    # 4. pin again: the digest follows the tag
    run = pin()
    assert pin_task(run)["status"] == "changed"
    pinned = tomllib.loads(config.read_text())["runners"][0]["docker"]["image"]
    assert pinned == registry.ref("%s:1@%s" % (repo, second))

    # 5. what a client pulls by the pinned reference is the new image. Docker pulls name:tag@digest by
    # the digest; skopeo 1.9 (containers/image) refuses the two together, so it is given name@digest.
    by_digest = pinned.replace(":1@", "@")
    assert by_digest == registry.ref("%s@%s" % (repo, second))
    rc, out, err = reg.inspect(by_digest, docker_config, cert_dir)
    assert rc == 0, err
    inspected = json.loads(out)
    assert inspected["Digest"] == second
    assert inspected["Labels"]["io.runnerkit.test.marker"] == repo + " v2"
