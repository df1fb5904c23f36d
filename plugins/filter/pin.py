# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter: pinned_runners."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as toml
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _pin as pin


def _kind(value):
    """What a user passed, in YAML words (Ansible's lazy containers have internal type names)."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a %s" % type(value).__name__


def pinned_runners(config_text, rows, keep_tag=True, runners=None):
    """config.toml text + runner_auth_info images (probed) -> {runners, pins, skipped} for runner_config."""
    if not isinstance(config_text, str):
        raise AnsibleFilterError("pinned_runners: expected the config.toml text, got %s (give it the file's text, "
                                 "e.g. from slurp | b64decode)" % _kind(config_text))
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
