# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback for the functional tests: every task result, as JSON lines, in $RUNNERKIT_RECORD_FILE.

Enabled by the ``run_playbook`` fixture (tests/functional/conftest.py) next to the default stdout
callback, so one run gives both the -vvv text and each task's result dict.  One line per result:
``{"task", "action", "host", "status", "ignored", "result"}``; status is ok, changed, failed, skipped or
unreachable.  The result is what callbacks get, already censored for ``no_log``.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: record_results
type: aggregate
short_description: Record each task result as JSON lines (functional tests only)
description:
  - Writes one JSON object per task result to the file named by E(RUNNERKIT_RECORD_FILE).
"""


class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, (set, frozenset, tuple)):
            return list(o)
        if isinstance(o, bytes):
            return o.decode("utf-8", "replace")
        return str(o)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("RUNNERKIT_RECORD_FILE")

    def _record(self, result, status, ignored=False):
        if not self._path:
            return
        data = result.result if hasattr(type(result), "result") else result._result
        host = result.host if hasattr(type(result), "host") else result._host
        task = result.task if hasattr(type(result), "task") else result._task
        if status == "ok" and data.get("changed"):
            status = "changed"
        line = {"task": task.get_name(), "action": task.action, "host": host.get_name(), "status": status,
                "ignored": ignored, "result": data}
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, cls=_Encoder, sort_keys=True) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed", ignored=bool(ignore_errors))

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
