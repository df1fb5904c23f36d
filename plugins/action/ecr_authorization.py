# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ecr_authorization: run the module, then keep its tokens out of every callback.

A module cannot hide its own return values: values it adds to ``no_log_values`` are masked in the
result itself, so ``register`` would get ``********`` too, and a ``_ansible_no_log`` key in a
module's return is removed by the controller.  An action plugin may set ``_ansible_no_log`` on
the result (as ``ansible.builtin.include_vars`` does for ``show_content: false``): the task
executor then censors the copy every callback gets (stdout at any verbosity, AWX job events,
``log_path``), keeping ``changed`` and ``warnings``, while the registered variable holds the full
result.  Failed results carry no token and stay visible, so their message can be read.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    """Run runnerkit.gitlab_runner.ecr_authorization and mark a successful result no_log."""

    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # not used (ansible-core >= 2.10 manages the remote tmp dir)
        result.update(self._execute_module(module_args=self._task.args, task_vars=task_vars))
        if not result.get("failed") and not result.get("skipped"):
            result["_ansible_no_log"] = True
        return result
