# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback for the molecule scenarios: what a --check run would change, as a JSON list.

molecule's ``check`` step runs the converge playbook with ``--check`` but does not look at what it
reports.  With this callback enabled, every result of a ``--check`` run that reports a change is
written, as it happens, to the JSON file named by ``RUNNERKIT_CHECK_MODE_CHANGES`` (a list of
``{"host", "task"}``; emptied when the run starts).  The last play of the converge playbook reads it
and fails when a converged fleet would change.  Runs without ``--check`` leave the file alone.
"""

from __future__ import annotations

import json
import os

from ansible import context
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: runnerkit_check_mode
type: aggregate
short_description: Record what a check-mode run would change (molecule scenarios only)
description:
  - In runs with C(--check), writes every changed result as C({host, task}) to the JSON list file named by
    E(RUNNERKIT_CHECK_MODE_CHANGES).
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "runnerkit_check_mode"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("RUNNERKIT_CHECK_MODE_CHANGES")
        self._changes = []

    def _active(self):
        return bool(self._path) and bool(context.CLIARGS.get("check"))

    def _write(self):
        tmp = self._path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self._changes, handle, indent=1)
        os.replace(tmp, self._path)

    def v2_playbook_on_start(self, playbook):
        if self._active():
            self._changes = []
            self._write()

    def v2_runner_on_ok(self, result):
        if not self._active():
            return
        data = result.result if hasattr(type(result), "result") else result._result
        if data.get("changed"):
            host = result.host if hasattr(type(result), "host") else result._host
            task = result.task if hasattr(type(result), "task") else result._task
            self._changes.append({"host": host.get_name(), "task": task.get_name()})
            self._write()
