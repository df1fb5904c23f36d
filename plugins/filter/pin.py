# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter: pinned_runners."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as toml
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _pin as pin


def pinned_runners(config_text, rows, keep_tag=True, runners=None):
    """config.toml text + runner_auth_info images (probed) -> {runners, pins, skipped} for runner_config."""
    if not isinstance(config_text, str):
        raise AnsibleFilterError("pinned_runners: expected the config.toml text, got %s" % type(config_text).__name__)
    if not isinstance(rows, list):
        raise AnsibleFilterError("pinned_runners: expected the images list of runner_auth_info")
    try:
        data = toml.parse(config_text)
    except toml.ConfigError as exc:
        raise AnsibleFilterError("pinned_runners: %s" % exc)
    return pin.plan_pins(data, rows, keep_tag=bool(keep_tag), runners=runners)


class FilterModule:
    """runnerkit.gitlab_runner digest pinning filter."""

    def filters(self):
        return {"pinned_runners": pinned_runners}
