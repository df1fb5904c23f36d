# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The speed promise of runner_config on a generated 500-runner config.toml (issue: < 2 s edit, < 0.5 s no-op).

scripts/bench_runner_config.py measures the same calls for 10 to 2000 runners (docs: make bench).
"""

from __future__ import annotations

import importlib.util
import pathlib

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
