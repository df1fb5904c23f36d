# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""A fixed-width text table of runner_auth_info rows, for logs (CLI and AWX job output)."""

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
