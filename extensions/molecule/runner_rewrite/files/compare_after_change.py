# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare a runner-rewritten config.toml with the file after one managed change (molecule runner_rewrite).

    compare_after_change.py BEFORE AFTER RUNNER IMAGE

BEFORE is the file as GitLab Runner saved it; AFTER the same file after the runner role changed
the image of runner RUNNER to IMAGE.  Parsed, AFTER must equal BEFORE with only that one value
changed: every runner-owned key (id, token, token_obtained_at, token_expires_at), every key the
runner added, every other runner and environment entry still there with its value.
Prints {"ok", "problems"}; exits 1 on a difference.  Needs Python >= 3.11 (tomllib).
"""

from __future__ import annotations

import json
import sys
import tomllib


def differences(before, after, path=""):
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after)):
            where = "%s.%s" % (path, key) if path else key
            if key not in after:
                found.append("%s: lost" % where)
            elif key not in before:
                found.append("%s: added" % where)
            else:
                found += differences(before[key], after[key], where)
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        found = []
        for index, (old, new) in enumerate(zip(before, after)):
            found += differences(old, new, "%s[%d]" % (path, index))
        return found
    return [] if before == after and type(before) is type(after) else ["%s: %r -> %r" % (path, before, after)]


def main(before_path, after_path, runner, image):
    with open(before_path, "rb") as handle:
        before = tomllib.load(handle)
    with open(after_path, "rb") as handle:
        after = tomllib.load(handle)
    problems = []
    targets = [item for item in before.get("runners", []) if item.get("name") == runner]
    if len(targets) != 1:
        problems.append("runner %s: %d in the file" % (runner, len(targets)))
    else:
        targets[0].setdefault("docker", {})["image"] = image
        problems = differences(before, after)
    json.dump({"ok": not problems, "problems": problems}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.stderr.write("usage: compare_after_change.py BEFORE AFTER RUNNER IMAGE\n")
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
