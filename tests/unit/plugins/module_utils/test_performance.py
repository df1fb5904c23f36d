# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The speed promise of runner_config on a generated 500-runner config.toml (issue: < 2 s edit, < 0.5 s no-op).

scripts/bench_runner_config.py measures the same calls for 10 to 2000 runners (docs: make bench).
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[4]
spec = importlib.util.spec_from_file_location("bench_runner_config", ROOT / "scripts" / "bench_runner_config.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_500_runners_edit_under_2s_and_noop_under_half_a_second(tmp_path):
    # CPU time of this process: what the module costs, not what other processes on a busy machine take.
    # The generated file is about twice the ~280 KB the promise was made for.
    row = bench.measure(500, 3, str(tmp_path))
    assert row["kbytes"] > 280
    assert row["edit_cpu"] < 2.0, row
    assert row["noop_cpu"] < 0.5, row


# Importing boto3 costs about 0.13 s per process. Only ecr_authorization and the ECR parts of the audit call AWS;
# the modules of every site.yml run, and every collection filter (the controller's workers load all filter files
# of the collection for the first filter a task uses), must not pay for it on each host and each task.
NEVER_CALL_AWS = [
    "plugins.modules.runner_config", "plugins.modules.docker_config", "plugins.modules.docker_daemon_config",
    "plugins.modules.runner_auth_info", "plugins.filter.roles", "plugins.filter.pin", "plugins.filter.report",
    "plugins.filter.rotation", "plugins.filter.docker_auth", "plugins.module_utils._ecr",
]


def test_boto3_is_imported_only_when_aws_is_called():
    prefix = "ansible_collections.runnerkit.gitlab_runner."
    code = ("import importlib, sys\n"
            "for name in sys.argv[1:]:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code] + [prefix + name for name in NEVER_CALL_AWS],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    # ... and the ECR calls still find it.
    proc = subprocess.run([sys.executable, "-c", code + "from %splugins.module_utils import _ecr\n"
                           "print(_ecr.sdk_import_error(), _ecr.sdk().Config.__module__)\n" % prefix],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[1] == "None botocore.config"


BLOCK_BOTO3 = (
    "import importlib.abc, runpy, sys\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('boto3', 'botocore'):\n"
    "            raise ImportError('No module named %r (blocked by the test)' % name)\n"
    "sys.meta_path.insert(0, Block())\n"
    "runpy.run_module(sys.argv.pop(1), run_name='__main__')\n")


def test_ecr_authorization_without_boto3_says_what_is_missing(tmp_path):
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"registries": ["123456789012.dkr.ecr.eu-west-1.amazonaws.com"]}}))
    proc = subprocess.run([sys.executable, "-c", BLOCK_BOTO3,
                           "ansible_collections.runnerkit.gitlab_runner.plugins.modules.ecr_authorization", str(args)],
                          capture_output=True, text=True, timeout=60, check=False)
    result = json.loads(proc.stdout)
    assert proc.returncode == 1 and result["failed"], result
    assert "Failed to import the required Python library (boto3)" in result["msg"]
