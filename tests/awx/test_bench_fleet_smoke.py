# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`scripts/bench_fleet.py --smoke` (2 sandbox hosts x 2 runners per contender, one attempt) runs and reports.

The benchmark itself (`make bench-fleet`, best of 3) is not a test; this only proves the script works: the
ping floor, site.yml, the per-key and the whole-file template playbooks succeed, every rerun changes
nothing, the Markdown tables are printed. It holds the task counts of issue 16 (not the seconds, which
depend on the machine's load): on a rerun site.yml runs 10 tasks per host (no fact gathering; per role its
argument check and one module call or one skipped include; one skipped include each for registry_trust and
runner registration, which the bench hosts do not declare); a first run on a host without tomlkit runs 15:
runner_config's own "missing tomlkit" answer brings the install (facts for it, the package, its version
check), the call again and the restart handler.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE_RERUN_TASKS = 10
SITE_FIRST_RUN_TASKS = 15


def row(stdout, label):
    line = next(line for line in stdout.splitlines() if line.startswith("| %s |" % label))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_bench_fleet_smoke():
    if os.geteuid() != 0:
        pytest.skip("sandbox hosts need root")
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "scripts", "bench_fleet.py"), "--smoke"],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-6000:]
    for label in ("floor: `ansible -m ping`", "`runnerkit.gitlab_runner.site`", "per-key `lineinfile` (riemers style)",
                  "whole-file `template` (template-role style)"):
        cells = row(proc.stdout, label)
        assert int(cells[5]) == 0, (label, cells)  # changed on the rerun
    site = row(proc.stdout, "`runnerkit.gitlab_runner.site`")
    assert (int(site[1]), int(site[2])) == (SITE_FIRST_RUN_TASKS, SITE_RERUN_TASKS), site
    assert "Site no-op rerun:" in proc.stdout and "Where the site rerun's seconds go" in proc.stdout
    sys.stderr.write(proc.stdout)
