# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real ansible-playbook run at -vvv --diff: no secret in any form anywhere in its output.

A playbook run, so a functional test (it lived in tests/unit, which is for the pure core)."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]
PASSWORD = 'S3cr3t-"pass$word\\'
TOKEN = "glrt-existing-runner-token-0042"
NEW_TOKEN = "glrt-brand-new-runner-token-77"
S3_SECRET = "s3-secret-key-value-9911"


def forms(secret):
    """The raw, base64, JSON-escaped and TOML-escaped forms a secret could leak in."""
    escaped = json.dumps(secret)[1:-1]
    return {secret, escaped, escaped.replace("\\", "\\\\"), base64.b64encode(secret.encode()).decode()}


def run_playbook(tmp_path, playbook, extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-vvv",
               "--diff", str(playbook), "-e", "ansible_python_interpreter=%s" % sys.executable] + extra
    return subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path, check=False)


def run_change_twice_then_fail(tmp_path, playbook, extra_vars):
    """The output of a playbook whose first task changes on item 1 and not on item 2, and whose last fails
    on a bad value (ignored)."""
    path = tmp_path / "vars.json"
    path.write_text(json.dumps(extra_vars))
    result = run_playbook(tmp_path, playbook, ["-e", "@%s" % path])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "changed: [localhost] => (item=1)" in output and "ok: [localhost] => (item=2)" in output
    assert "expected a boolean" in output and "********" in output
    return output


def assert_not_leaked(output, secrets):
    for secret in secrets:
        for form in forms(secret):
            assert form not in output, "secret leaked in the form %r" % form


def test_no_secret_in_vvv_diff_output(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(textwrap.dedent("""\
        concurrent = 1
        [[runners]]
          name = "build"
          url = "https://gitlab.example.com"
          token = "%s"
          executor = "docker"
          [runners.cache.s3]
            SecretKey = "%s"
          [runners.docker]
            image = "alpine:3.18"
        """ % (TOKEN, S3_SECRET)))
    playbook = tmp_path / "pb.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          connection: local
          gather_facts: false
          tasks:
            - name: Change everything, with secrets, twice
              runnerkit.gitlab_runner.runner_config:
                path: "{{ config }}"
                global: {concurrent: 4}
                runners:
                  - name: build
                    docker: {image: "registry.example.com:5000/ci/image:2"}
                    docker_auth_config:
                      auths: {"registry.example.com:5000": {username: ci-puller, password: "{{ pw }}"}}
                  - name: added
                    url: https://gitlab.example.com
                    token: "{{ new_token }}"
                    executor: docker
              loop: [1, 2]
            - name: A failing call must not leak either
              runnerkit.gitlab_runner.runner_config:
                path: "{{ config }}"
                runners:
                  - name: build
                    docker: {privileged: "yes"}
                    docker_auth_config:
                      auths: {"registry.example.com:5000": {username: ci-puller, password: "{{ pw }}"}}
              ignore_errors: true
        """))
    output = run_change_twice_then_fail(tmp_path, playbook, {"config": str(config), "pw": PASSWORD,
                                                             "new_token": NEW_TOKEN})
    auth = base64.b64encode(("ci-puller:" + PASSWORD).encode()).decode()
    assert_not_leaked(output, (PASSWORD, TOKEN, NEW_TOKEN, S3_SECRET, auth))
    written = config.read_text()
    assert auth in written and NEW_TOKEN in written  # the secrets went where they belong


def test_no_secret_of_the_registries_list_in_vvv_diff_output(tmp_path):
    """The same with docker_auth_config given as the registries list: username/password, auth and a helper."""
    config = tmp_path / "config.toml"
    config.write_text('concurrent = 1\n[[runners]]\n  name = "build"\n  url = "https://gitlab.example.com"\n'
                      '  token = "%s"\n  executor = "docker"\n  [runners.docker]\n    image = "alpine:3.18"\n' % TOKEN)
    other_password = "listed-auth-pa55word-31"
    other_auth = base64.b64encode(("deployer:" + other_password).encode()).decode()
    playbook = tmp_path / "pb.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          connection: local
          gather_facts: false
          tasks:
            - name: Write the registries list, twice
              runnerkit.gitlab_runner.runner_config:
                path: "{{ config }}"
                runners:
                  - name: build
                    docker: {image: "registry.example.com:5000/ci-puller/image:2"}
                    docker_auth_config:
                      registries:
                        - {registry: "registry.example.com:5000", username: ci-puller, password: "{{ pw }}"}
                        - {registry: other.example.com, auth: "{{ other_auth }}"}
                        - {registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com, helper: ecr-login}
              loop: [1, 2]
            - name: A failing call must not leak either
              runnerkit.gitlab_runner.runner_config:
                path: "{{ config }}"
                runners:
                  - name: build
                    docker: {privileged: "yes"}
                    docker_auth_config:
                      registries:
                        - {registry: "registry.example.com:5000", username: ci-puller, password: "{{ pw }}"}
                        - {registry: other.example.com, auth: "{{ other_auth }}"}
              ignore_errors: true
        """))
    output = run_change_twice_then_fail(tmp_path, playbook, {"config": str(config), "pw": PASSWORD,
                                                             "other_auth": other_auth})
    assert '"username": "ci-puller"' in output and "registry.example.com:5000/ci-puller/image:2" in output
    auth = base64.b64encode(("ci-puller:" + PASSWORD).encode()).decode()
    assert_not_leaked(output, (PASSWORD, TOKEN, auth, other_password, other_auth))
    written = config.read_text()
    assert auth in written and other_auth in written and "ecr-login" in written
