# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter: auth_report (runner_auth_info results as a text table, Markdown or HTML)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _report as report

FORMATS = ("table", "markdown", "html")


def auth_report(data, format="table"):  # pylint: disable=redefined-builtin
    """table: lines of one runner_auth_info result; markdown, html: one text for the audit report of every host."""
    if format not in FORMATS:
        raise AnsibleFilterError("auth_report: format must be one of %s, got %r" % (", ".join(FORMATS), format))
    if not isinstance(data, Mapping):
        raise AnsibleFilterError("auth_report: expected a dict, got %s" % type(data).__name__)
    if format == "table":
        return report.format_table(list(data.get("images") or []), list(data.get("problems") or []))
    if not isinstance(data.get("hosts"), Mapping):
        raise AnsibleFilterError("auth_report: format %s needs the audit report {generated_at, check_mode, hosts}"
                                 % format)
    return report.format_markdown(data) if format == "markdown" else report.format_html(data)


class FilterModule:
    """runnerkit.gitlab_runner report filter."""

    def filters(self):
        return {"auth_report": auth_report}
