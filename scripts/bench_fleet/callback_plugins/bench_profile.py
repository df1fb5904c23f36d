# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback for scripts/bench_fleet.py: where the seconds of a run go, task by task, as JSON.

Enabled by the benchmark next to the default stdout callback (like ``profile_tasks``, which lives in
ansible.posix and is not installed here).  At the end of the run it writes to $RUNNERKIT_BENCH_PROFILE
one JSON object: ``{"tasks": [{"name", "action", "seconds", "hosts": {"ok": n, "skipped": n, ...}}]}``,
in the order the tasks started; a task's seconds run from its start to the start of the next one
(or the end of the play), as ``profile_tasks`` counts them.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_profile
type: aggregate
short_description: Seconds and per-host results of each task, as JSON (scripts/bench_fleet.py only)
description:
  - Writes the task timings of a run to the file named by E(RUNNERKIT_BENCH_PROFILE).
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("RUNNERKIT_BENCH_PROFILE")
        self._tasks = []
        self._started = time.monotonic()

    def _close_last(self):
        if self._tasks and self._tasks[-1]["seconds"] is None:
            self._tasks[-1]["seconds"] = round(time.monotonic() - self._tasks[-1].pop("_start"), 4)

    def _start(self, task, kind):
        self._close_last()
        self._tasks.append({"name": task.get_name(), "action": task.action, "kind": kind, "seconds": None,
                            "hosts": {}, "_start": time.monotonic()})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task, "task")

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task, "handler")

    def _count(self, status):
        if self._tasks:
            hosts = self._tasks[-1]["hosts"]
            hosts[status] = hosts.get(status, 0) + 1

    def v2_runner_on_ok(self, result):
        self._count("changed" if result._result.get("changed") else "ok")

    def v2_runner_on_skipped(self, result):
        self._count("skipped")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count("failed")

    def v2_runner_on_unreachable(self, result):
        self._count("unreachable")

    def v2_playbook_on_stats(self, stats):
        self._close_last()
        if not self._path:
            return
        with open(self._path, "w", encoding="utf-8") as handle:
            json.dump({"seconds": round(time.monotonic() - self._started, 4), "tasks": self._tasks}, handle, indent=1)
