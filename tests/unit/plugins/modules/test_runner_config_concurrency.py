# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runner_config: parallel runs on the same config.toml lose no update.

Eight OS processes run the module at the same time on one file, each changing a different runner, or each
adding a different environment entry to the same runner. The module plans without the lock and plans
again under the lock before it writes, so every process must succeed and the file must hold all eight
changes. A start gate (a file the processes wait for after their imports) makes the runs overlap instead
of being spread out by interpreter start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

import ansible_collections.runnerkit.gitlab_runner.plugins.modules.runner_config as runner_config_module

pytestmark = pytest.mark.skipif(tomllib is None, reason="tomllib needs Python >= 3.11")

MODULE = runner_config_module.__name__
PROCESSES = 8
ROUNDS = 3
TIMEOUT = 120
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
GOCHECK = os.path.join(REPO_ROOT, "tests", "gocheck", "gocheck")
GOCHECK_FILES = os.path.join(REPO_ROOT, "tests", "output", "gocheck-files")

# Waits for the gate, then runs the module exactly as `python -m MODULE ARGS.json` would.
GATED = """\
import os, runpy, sys, time
import ansible.module_utils.basic, tomlkit  # import before the gate: the runs should overlap
gate, module, args = sys.argv[1:4]
deadline = time.monotonic() + 60
while not os.path.exists(gate) and time.monotonic() < deadline:
    time.sleep(0.001)
sys.argv = [module, args]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def runner_table(index):
    return (
        "[[runners]]\n"
        "  name = \"runner-%d\"\n"
        "  url = \"https://gitlab.example.com\"\n"
        "  id = %d\n"
        "  token = \"glrt-CONCURRENTtok3n%06d\"\n"
        "  token_obtained_at = 2024-05-01T10:00:00Z\n"
        "  token_expires_at = 0001-01-01T00:00:00Z\n"
        "  executor = \"docker\"\n"
        "  environment = [\"BASE=%d\"]\n"
        "  [runners.docker]\n"
        "    image = \"alpine:3.19\"\n"
        "    volumes = [\"/cache\"]\n" % (index, 1000 + index, index, index)
    )


def initial_config():
    return "concurrent = 8\ncheck_interval = 0\n\n" + "\n".join(runner_table(i) for i in range(PROCESSES))


def child_env():
    env = dict(os.environ)
    # The child imports the collection the way this process does.
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_parallel(tmp_path, all_args, gated):
    """Start one module process per args dict; return [(returncode, result, stderr)]."""
    gate = tmp_path / "gate"
    if gate.exists():
        gate.unlink()
    procs = []
    for index, args in enumerate(all_args):
        args_file = tmp_path / ("args-%d.json" % index)
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        if gated:
            cmd = [sys.executable, "-c", GATED, str(gate), MODULE, str(args_file)]
        else:
            cmd = [sys.executable, "-m", MODULE, str(args_file)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
                                      cwd=str(tmp_path)))
    if gated:
        time.sleep(0.5)  # let every child finish its imports
        gate.write_text("go")
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=TIMEOUT)
        try:
            result = json.loads(out)
        except ValueError:
            result = {"unparsable_stdout": out.decode(errors="replace")}
        results.append((proc.returncode, result, err.decode(errors="replace")))
    return results


def check_results(results):
    for returncode, result, stderr in results:
        assert returncode == 0, (result, stderr)
        assert result.get("failed") is not True, result
        assert result["changed"] is True, result  # every process had something to change


def load(path):
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def check_with_gocheck(path, name):
    """Keep the file for tests/gocheck/run_tests.sh and decode it now when the checker is built."""
    os.makedirs(GOCHECK_FILES, exist_ok=True)
    with open(path, "rb") as src, open(os.path.join(GOCHECK_FILES, name), "wb") as dst:
        dst.write(src.read())
    if os.access(GOCHECK, os.X_OK):
        done = subprocess.run([GOCHECK, str(path)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr


def no_leftovers(directory):
    names = os.listdir(directory)
    assert [n for n in names if n.endswith(".tmp") or n.endswith("~")] == []


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(initial_config())
    os.chmod(path, 0o600)
    return path


@pytest.mark.parametrize("gated", [True, False], ids=["gated", "python-m"])
def test_parallel_runs_on_different_runners_lose_nothing(tmp_path, config, gated):
    for round_no in range(ROUNDS):
        all_args = [{
            "path": str(config),
            "runners": [{"name": "runner-%d" % i,
                         "docker": {"image": "registry.example.com/ci/img-%d:round-%d" % (i, round_no)},
                         "environment": {"ROUND_%d" % round_no: "runner-%d" % i}}],
        } for i in range(PROCESSES)]
        check_results(run_parallel(tmp_path, all_args, gated))

        data = load(config)
        assert [r["name"] for r in data["runners"]] == ["runner-%d" % i for i in range(PROCESSES)]
        for i, runner in enumerate(data["runners"]):
            assert runner["docker"]["image"] == "registry.example.com/ci/img-%d:round-%d" % (i, round_no)
            assert runner["environment"] == ["BASE=%d" % i] + ["ROUND_%d=runner-%d" % (r, i) for r in range(round_no + 1)]
            assert runner["token"] == "glrt-CONCURRENTtok3n%06d" % i and runner["id"] == 1000 + i
            assert runner["docker"]["volumes"] == ["/cache"]
        assert os.stat(config).st_mode & 0o777 == 0o600
        no_leftovers(tmp_path)
    check_with_gocheck(config, "concurrency-runners-%s.toml" % ("gated" if gated else "python-m"))


@pytest.mark.parametrize("gated", [True, False], ids=["gated", "python-m"])
def test_parallel_runs_on_one_runner_lose_no_environment_entry(tmp_path, config, gated):
    expected = ["BASE=0"]
    for round_no in range(ROUNDS):
        keys = ["R%d_K%d" % (round_no, i) for i in range(PROCESSES)]
        all_args = [{
            "path": str(config),
            "global": {"concurrent": 8},
            "runners": [{"name": "runner-0", "environment": {key: "value-%s" % key}}],
        } for key in keys]
        check_results(run_parallel(tmp_path, all_args, gated))

        data = load(config)
        environment = data["runners"][0]["environment"]
        assert environment[:len(expected)] == expected  # earlier entries kept, in order
        added = environment[len(expected):]
        assert sorted(added) == sorted("%s=value-%s" % (key, key) for key in keys)  # in any order, none lost
        expected = environment
        assert [r["environment"] for r in data["runners"][1:]] == [["BASE=%d" % i] for i in range(1, PROCESSES)]
        no_leftovers(tmp_path)
    check_with_gocheck(config, "concurrency-environment-%s.toml" % ("gated" if gated else "python-m"))


def test_parallel_identical_runs_change_the_file_once(tmp_path, config):
    """Eight processes asking for the same change: exactly one writes, the others find it done."""
    args = {"path": str(config), "runners": [{"name": "runner-3", "docker": {"image": "alpine:3.20"}}]}
    results = run_parallel(tmp_path, [args] * PROCESSES, gated=True)
    for returncode, result, stderr in results:
        assert returncode == 0, (result, stderr)
    changed = [result["changed"] for dummy, result, dummy_err in results]
    # Each process plans again under the lock, so only the first one to get the lock reports (and makes) the change.
    assert changed.count(True) == 1, changed
    assert load(config)["runners"][3]["docker"]["image"] == "alpine:3.20"
    no_leftovers(tmp_path)
