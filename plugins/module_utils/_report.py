# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""runner_auth_info rows as a fixed-width text table (CLI and AWX job output), Markdown or HTML (audit reports)."""

from __future__ import annotations

COLUMNS = (("runner", "RUNNER"), ("image", "IMAGE"), ("source", "SOURCE"), ("key", "KEY"), ("kind", "KIND"),
           ("status", "STATUS"), ("problem", "PROBLEM"))
MAX_WIDTH = {"image": 60, "key": 40, "runner": 30}


def _cell(value, width=None):
    text = "-" if value in (None, "") else str(value)
    if width and len(text) > width:
        text = text[:width - 1] + "~"
    return text


def table_rows(rows):
    """One dict of cells per row; a row with several problems continues on extra lines."""
    out = []
    for row in rows:
        probe = row.get("probe") or {}
        kind = row.get("kind")
        if kind in ("helper", "store") and row.get("helper"):
            kind = "%s:%s" % (kind, row["helper"])
        problems = list(row.get("problems") or [])
        if probe.get("status") not in (None, "ok") and probe.get("message"):
            problems.insert(0, probe["message"])
        first = {"runner": row.get("runner"), "image": row.get("image"), "source": row.get("source"),
                 "key": row.get("key"), "kind": kind, "status": probe.get("status") or "not probed",
                 "problem": problems[0] if problems else ""}
        out.append(first)
        for problem in problems[1:]:
            out.append({"problem": problem})
    return out


def format_table(rows, problems=()):
    """Lines of a table (runner, image, source, key, kind, status, problem), then the other problems."""
    cells = table_rows(rows)
    widths = {}
    for name, title in COLUMNS[:-1]:
        widths[name] = max([len(title)] + [len(_cell(c.get(name), MAX_WIDTH.get(name))) for c in cells if c.get(name)
                                           or "runner" in c])
    lines = []
    header = "  ".join(title.ljust(widths.get(name, 0)) for name, title in COLUMNS).rstrip()
    lines.append(header)
    lines.append("  ".join("-" * (widths.get(name) or len(title)) for name, title in COLUMNS))
    for cell in cells:
        continuation = "runner" not in cell
        parts = []
        for name, _title in COLUMNS[:-1]:
            value = "" if continuation else _cell(cell.get(name), MAX_WIDTH.get(name))
            parts.append(value.ljust(widths[name]))
        parts.append(cell.get("problem") or "")
        lines.append("  ".join(parts).rstrip())
    if not cells:
        lines.append("(no images)")
    for problem in problems:
        lines.append("! " + problem)
    return lines


# --------------------------------------------------------------------------- audit reports (Markdown, HTML)
# The audit playbook's reports of several hosts: {generated_at, check_mode, hosts: {host: runner_auth_info
# result, or {failed, msg} for a host that could not be audited}}.

TITLE = "GitLab Runner registry credentials"
REPORT_COLUMNS = ("Runner", "Image", "Source", "Key", "Kind", "Status", "Digest", "Problems")
HTML_HEAD = (
    '<!DOCTYPE html>\n'
    '<html lang="en"><head><meta charset="utf-8"><title>%s</title>\n'
    '<style>\n'
    'body { font-family: sans-serif; margin: 2em; }\n'
    'table { border-collapse: collapse; margin-bottom: 1em; }\n'
    'th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }\n'
    'td.ok { background: #e6f4e6; } td.bad { background: #fbe3e3; } code { font-size: 90%%; }\n'
    '</style></head><body>\n' % TITLE)
_HTML_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("'", "&#39;"))


def escape_html(value):
    """Text for HTML content and attribute values (the same entities as Jinja's `e` filter)."""
    text = str(value)
    for char, entity in _HTML_ESCAPES:
        text = text.replace(char, entity)
    return text


def _row_cells(row):
    """The report cells of one runner_auth_info row, as plain text (None where the report shows '-')."""
    probe = row.get("probe") or {}
    notes = list(row.get("problems") or [])
    if probe.get("status", "ok") != "ok" and probe.get("message"):
        notes.insert(0, probe["message"])
    kind = (row.get("kind") or "-") + ((" " + row["helper"]) if row.get("helper") else "")
    return {"runner": row.get("runner"), "image": row.get("image"), "source": row.get("source"),
            "key": row.get("key") or None, "kind": kind, "status": probe.get("status", "not probed"),
            "status_seen": probe.get("status"), "digest": probe.get("digest") or None, "notes": notes}


def _generated(report):
    return "Generated %s by runnerkit.gitlab_runner.audit%s." % (
        report.get("generated_at"), " (check mode)" if report.get("check_mode") else "")


def _code(value):
    return "`%s`" % value if value else "-"


def format_markdown(report):
    """The audit report as Markdown: one section per host, a table of its images, its other problems."""
    out = ["# %s\n" % TITLE, "\n", _generated(report) + "\n"]
    for host, info in (report.get("hosts") or {}).items():
        out += ["\n", "## %s\n" % host, "\n"]
        if "images" not in info:
            out.append("**Not audited:** %s\n" % info.get("msg", "unknown error"))
            continue
        out.append("Runner process user `%s`, Docker config `%s`.\n" % (info["user"]["name"], info["docker_config"]))
        out.append("\n")
        out.append("| %s |\n" % " | ".join(REPORT_COLUMNS))
        out.append("|%s\n" % ("---|" * len(REPORT_COLUMNS)))
        for row in info["images"]:
            cells = _row_cells(row)
            values = [cells["runner"], _code(cells["image"]), cells["source"], _code(cells["key"]), cells["kind"],
                      cells["status"], _code(cells["digest"]), "<br>".join(cells["notes"])]
            out.append("| %s |\n" % " | ".join(str(value).replace("|", "\\|") for value in values))
        if info.get("problems"):
            out += ["\n", "Other problems:\n", "\n"]
            out += ["- %s\n" % problem for problem in info["problems"]]
    return "".join(out)


def format_html(report):
    """The audit report as one HTML page; every value from the hosts is escaped."""
    out = [HTML_HEAD, "<h1>%s</h1>\n" % TITLE, "<p>%s</p>\n" % escape_html(_generated(report))]
    for host, info in (report.get("hosts") or {}).items():
        out.append("<h2>%s</h2>\n" % escape_html(host))
        if "images" not in info:
            out.append("<p><strong>Not audited:</strong> %s</p>\n" % escape_html(info.get("msg", "unknown error")))
            continue
        out.append("<p>Runner process user <code>%s</code>, Docker config <code>%s</code>.</p>\n"
                   % (escape_html(info["user"]["name"]), escape_html(info["docker_config"])))
        out.append("<table><tr>%s</tr>\n" % "".join("<th>%s</th>" % title for title in REPORT_COLUMNS))
        for row in info["images"]:
            cells = _row_cells(row)
            status_class = "ok" if cells["status_seen"] == "ok" else ("bad" if cells["status_seen"] else "")
            out.append("<tr>%s</tr>\n" % "".join((
                "<td>%s</td>" % escape_html(cells["runner"]),
                "<td><code>%s</code></td>" % escape_html(cells["image"]),
                "<td>%s</td>" % escape_html(cells["source"]),
                "<td>%s</td>" % escape_html(cells["key"] or "-"),
                "<td>%s</td>" % escape_html(cells["kind"]),
                '<td class="%s">%s</td>' % (status_class, escape_html(cells["status"])),
                "<td><code>%s</code></td>" % escape_html(cells["digest"] or "-"),
                "<td>%s</td>" % "<br>".join(escape_html(note) for note in cells["notes"]))))
        out.append("</table>\n")
        if info.get("problems"):
            out.append("<ul>%s</ul>\n" % "".join("<li>%s</li>" % escape_html(p) for p in info["problems"]))
    out.append("</body></html>\n")
    return "".join(out)
