# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for functional tests: a real registry (distribution 2.8), a real client (skopeo 1.9),
and real ansible-playbook runs.

Session fixtures (started once, stopped at the end even when tests fail):

* ``certs``: :class:`registry.Certs` of a throwaway CA and a 127.0.0.1/localhost server cert;
  ``cert_dir``: its directory holding only ``ca.crt`` (skopeo ``--cert-dir``).
* ``registry``: :class:`registry.Registry` with htpasswd auth, users ``USERS`` and the images
  ``ns/app:1`` and ``other/app:1`` pushed (``registry.images`` maps them to their digests).
  A test that calls ``registry.set_users()`` gets ``USERS`` back afterwards automatically.
* ``anon_registry``: a registry without auth, with ``ns/app:1`` pushed anonymously.
  Both run behind the header-logging proxy: ``server.received(since=server.log_mark())`` lists
  the headers (decoded Basic user/password) of each request; ``server.requests(...)`` is
  distribution's own view.
* ``oci_image_factory``: ``make(marker, tag="latest") -> registry.OciImage`` (cached per marker).

Function fixture ``run_playbook(playbook_text, extra_vars=None, ...) -> PlaybookRun``.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import subprocess
import sys

import pytest

import registry as reg

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS_DIR = os.path.join(REPO_ROOT, ".build", "collections")

USERS = {"ci": "ci-password", "other": "other-password"}


def _ensure_collection_importable():
    """tests/conftest.py puts the collection on sys.path; load it when pytest did not (rootdir set lower)."""
    try:
        if importlib.util.find_spec("ansible_collections.runnerkit.gitlab_runner") is not None:
            return
    except ModuleNotFoundError:
        pass
    parent_conftest = os.path.join(REPO_ROOT, "tests", "conftest.py")
    spec = importlib.util.spec_from_file_location("_runnerkit_tests_conftest", parent_conftest)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


_ensure_collection_importable()


# --------------------------------------------------------------------------- registry fixtures

@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    missing = reg.tools_missing()
    if missing:
        pytest.fail("functional tests need %s (Debian packages docker-registry, skopeo, apache2-utils, openssl: "
                    "run 'make deps')" % ", ".join(missing))
    # 90 days: outside runner_auth_info's default 14-day warning window for the registry's certificate.
    return reg.make_ca_and_cert(tmp_path_factory.mktemp("pki"), days=90)


@pytest.fixture(scope="session")
def cert_dir(certs):
    return certs.cert_dir


@pytest.fixture(scope="session")
def oci_image_factory(tmp_path_factory):
    built = {}

    def make(marker, tag="latest"):
        key = (marker, tag)
        if key not in built:
            built[key] = reg.build_oci_image(tmp_path_factory.mktemp("oci"), marker, tag=tag)
        return built[key]

    return make


@pytest.fixture(scope="session")
def registry(tmp_path_factory, certs, oci_image_factory):
    server = reg.Registry(tmp_path_factory.mktemp("registry"), certs, users=USERS, log_headers=True)
    try:
        server.start()
        reg.push(server, "ns/app:1", oci_image_factory("ns/app:1 on the auth registry"), "ci", USERS["ci"])
        reg.push(server, "other/app:1", oci_image_factory("other/app:1 on the auth registry"), "other",
                 USERS["other"])
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _restore_registry_users(request):
    """Give the session registry its USERS back after a test that changed them."""
    yield
    if "registry" in request.fixturenames:
        server = request.getfixturevalue("registry")
        if server.users != USERS:
            server.set_users(USERS)


@pytest.fixture(scope="session")
def anon_registry(tmp_path_factory, certs, oci_image_factory):
    server = reg.Registry(tmp_path_factory.mktemp("anon-registry"), certs, users=None, log_headers=True)
    try:
        server.start()
        reg.push(server, "ns/app:1", oci_image_factory("ns/app:1 on the anonymous registry"))
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- ansible-playbook

class PlaybookRun(collections.namedtuple("PlaybookRun", "rc output results")):
    """rc; output: stdout and stderr of the run (default callback, -vvv unless asked otherwise);
    results: one dict per task result {task, action, host, status, ignored, result}, in order.
    """

    __slots__ = ()

    def records(self, task):
        """All records of the task named ``task`` (one per host, or per run of an included task)."""
        return [record for record in self.results if record["task"] == task]

    def result(self, task):
        """The result dict of the task named ``task`` (its last record); KeyError if it did not run."""
        found = self.records(task)
        if not found:
            raise KeyError("no result for task %r; tasks with results: %s"
                           % (task, [record["task"] for record in self.results]))
        return found[-1]["result"]

    def status(self, task):
        """ok, changed, failed, skipped or unreachable for the task named ``task`` (last record)."""
        self.result(task)
        return self.records(task)[-1]["status"]


@pytest.fixture
def run_playbook(tmp_path):
    """Run ``ansible-playbook`` from the venv on localhost with the collection from .build/collections.

    ``run_playbook(playbook_text, extra_vars=None, *, args=(), env=None, verbosity=3, check=False,
    diff=False, timeout=300) -> PlaybookRun``.  ``playbook_text`` is YAML text (or a list of plays,
    written as JSON); ``extra_vars`` a dict passed as ``-e @file``.
    """
    counter = iter(range(1, 1000))

    def run(playbook_text, extra_vars=None, *, args=(), env=None, verbosity=3, check=False, diff=False,
            timeout=300):
        workdir = tmp_path / ("playbook-%d" % next(counter))
        (workdir / "tmp").mkdir(parents=True)
        playbook = workdir / "playbook.yml"
        playbook.write_text(playbook_text if isinstance(playbook_text, str) else json.dumps(playbook_text))
        record_file = workdir / "results.jsonl"
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                   "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable]
        if verbosity:
            command.append("-" + "v" * verbosity)
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        if extra_vars is not None:
            vars_file = workdir / "extra_vars.json"
            vars_file.write_text(json.dumps(extra_vars))
            command += ["-e", "@%s" % vars_file]
        command += list(args) + [str(playbook)]
        run_env = dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_DIR,
            ANSIBLE_STDOUT_CALLBACK="default",
            ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
            ANSIBLE_CALLBACKS_ENABLED="record_results",
            RUNNERKIT_RECORD_FILE=str(record_file),
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_RETRY_FILES_ENABLED="false",
            ANSIBLE_LOCAL_TEMP=str(workdir / "tmp"),
            ANSIBLE_REMOTE_TEMP=str(workdir / "tmp"),
        )
        run_env.pop("ANSIBLE_CONFIG", None)
        for key, value in (env or {}).items():
            if value is None:
                run_env.pop(key, None)
            else:
                run_env[key] = value
        proc = subprocess.run(command, env=run_env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        results = []
        if record_file.exists():
            results = [json.loads(line) for line in record_file.read_text().splitlines() if line.strip()]
        return PlaybookRun(proc.returncode, proc.stdout, results)

    return run
