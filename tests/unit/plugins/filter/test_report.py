# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""auth_report: the audit reports (Markdown, HTML) and the log table, rendered once in _report.py."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerkit.gitlab_runner.plugins.filter.report import auth_report

OK_ROW = {"runner": "build", "image": "reg:5000/ns/app:1", "source": "home_config", "key": "reg:5000",
          "kind": "static", "helper": None, "problems": [],
          "probe": {"status": "ok", "digest": "sha256:abc", "message": "fine"}}
BAD_ROW = {"runner": "b|x<y>", "image": "reg/a'b\"c&", "source": "none", "key": None, "kind": None, "helper": None,
           "problems": ["p1 | x"], "probe": {"status": "not_found", "message": "manifest <1> not found"}}
HELPER_ROW = {"runner": "h", "image": "i", "source": "s", "key": "k", "kind": "helper", "helper": "ecr-login",
              "probe": None, "problems": []}
REPORT = {"generated_at": "2026-01-01T00:00:00Z", "check_mode": True, "hosts": {
    "runner-01": {"images": [OK_ROW, BAD_ROW, HELPER_ROW], "problems": ["other <x>"], "user": {"name": "root"},
                  "docker_config": "/root/.docker/config.json"},
    "runner-02": {"failed": True, "msg": "host <unreachable>"}}}


def test_markdown_report():
    assert auth_report(REPORT, format="markdown") == (
        "# GitLab Runner registry credentials\n\n"
        "Generated 2026-01-01T00:00:00Z by runnerkit.gitlab_runner.audit (check mode).\n\n"
        "## runner-01\n\n"
        "Runner process user `root`, Docker config `/root/.docker/config.json`.\n\n"
        "| Runner | Image | Source | Key | Kind | Status | Digest | Problems |\n"
        "|---|---|---|---|---|---|---|---|\n"
        "| build | `reg:5000/ns/app:1` | home_config | `reg:5000` | static | ok | `sha256:abc` |  |\n"
        "| b\\|x<y> | `reg/a'b\"c&` | none | - | - | not_found | - | manifest <1> not found<br>p1 \\| x |\n"
        "| h | `i` | s | `k` | helper ecr-login | not probed | - |  |\n"
        "\nOther problems:\n\n- other <x>\n"
        "\n## runner-02\n\n**Not audited:** host <unreachable>\n")


def test_html_report_escapes_every_value():
    html = auth_report(REPORT, format="html")
    assert html.startswith("<!DOCTYPE html>\n") and html.endswith("</body></html>\n")
    assert "<p>Generated 2026-01-01T00:00:00Z by runnerkit.gitlab_runner.audit (check mode).</p>" in html
    assert ("<tr><td>build</td><td><code>reg:5000/ns/app:1</code></td><td>home_config</td><td>reg:5000</td>"
            '<td>static</td><td class="ok">ok</td><td><code>sha256:abc</code></td><td></td></tr>') in html
    assert ("<tr><td>b|x&lt;y&gt;</td><td><code>reg/a&#39;b&#34;c&amp;</code></td><td>none</td><td>-</td><td>-</td>"
            '<td class="bad">not_found</td><td><code>-</code></td>'
            "<td>manifest &lt;1&gt; not found<br>p1 | x</td></tr>") in html
    assert '<td class="">not probed</td>' in html
    assert "<ul><li>other &lt;x&gt;</li></ul>" in html
    assert "<h2>runner-02</h2>\n<p><strong>Not audited:</strong> host &lt;unreachable&gt;</p>" in html
    assert "<unreachable>" not in html and "<x>" not in html


def test_table_is_the_runner_auth_info_table():
    lines = auth_report({"images": [OK_ROW, BAD_ROW], "problems": ["file problem"]})
    assert lines[0].split() == ["RUNNER", "IMAGE", "SOURCE", "KEY", "KIND", "STATUS", "PROBLEM"]
    assert lines[2].split()[:6] == ["build", "reg:5000/ns/app:1", "home_config", "reg:5000", "static", "ok"]
    assert lines[3].split()[5] == "not_found" and lines[3].endswith("manifest <1> not found")
    assert lines[4].strip() == "p1 | x" and lines[-1] == "! file problem"


@pytest.mark.parametrize("data, kwargs, message", [
    (REPORT, {"format": "pdf"}, "format must be one of table, markdown, html"),
    ([], {}, "expected a dict, got list"),
    ({"images": []}, {"format": "html"}, "format html needs the audit report"),
])
def test_bad_input_is_named(data, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        auth_report(data, **kwargs)
