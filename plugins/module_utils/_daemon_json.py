# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The Docker daemon's daemon.json, merged in place: pure functions on text and plain data.

Only the keys asked for change; every other key keeps its value and place, and the file keeps its
indentation (tab, N spaces, or one line). Whether the daemon must reload (SIGHUP) or restart
follows dockerd's documented "configuration reload behavior".
"""

from __future__ import annotations

import json
import math
import re

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

MIRRORS = "registry-mirrors"
INSECURE = "insecure-registries"
# dockerd reference, "Configuration reload behavior": what a SIGHUP applies without a restart
RELOADABLE = frozenset((
    "debug", "labels", "live-restore", "max-concurrent-downloads", "max-concurrent-uploads", "max-download-attempts",
    "default-runtime", "runtimes", "authorization-plugins", "insecure-registries", "registry-mirrors",
    "shutdown-timeout", "features",
))
MIRROR_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")
DEFAULT_INDENT = "  "


class DaemonConfigError(ValueError):
    """daemon.json or the wanted settings cannot be used; the message says which key and why."""


def parse(text):
    """The parsed daemon.json (a dict; {} for a missing or empty file). NaN and Infinity are refused as
    Go's decoder (dockerd's) refuses them."""
    if text is None or not text.strip():
        return {}
    try:
        data = auth.go_json_decoder().decode(auth.strip_bom(text)[0])
    except auth.AuthConfigError as exc:
        raise DaemonConfigError(str(exc)) from exc
    except ValueError as exc:
        raise DaemonConfigError("cannot parse JSON: %s" % exc) from exc
    if not isinstance(data, dict):
        raise DaemonConfigError("the top level is a %s, not a JSON object" % type(data).__name__)
    return data


def indentation(text):
    """The indent unit of a daemon.json: a tab, N spaces, None for a one-line file; two spaces by default."""
    if text and text.strip() and "\n" not in text.strip():
        return None
    match = re.search(r"^([ \t]+)\"", text or "", re.MULTILINE)
    if not match:
        return DEFAULT_INDENT
    return "\t" if match.group(1).startswith("\t") else match.group(1)


def dump(data, indent, original=None):
    """daemon.json text in the layout of `original`; keys keep their order, new ones come last."""
    try:
        text = json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise DaemonConfigError("cannot write NaN or Infinity: dockerd's JSON decoder refuses them") from exc
    newline = original is None or original.endswith("\n") or not original.strip()
    return text + ("\n" if newline else "")


def check_finite(value, where):
    """Refuse NaN and Infinity anywhere in a wanted value (json.dumps would write them, dockerd cannot read them)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise DaemonConfigError("%s: %r is not a JSON number; dockerd refuses NaN and Infinity" % (where, value))
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, "%s.%s" % (where, key))
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_finite(item, "%s[%d]" % (where, index))


def validate_mirrors(mirrors):
    """Mirror URLs as dockerd accepts them: http(s)://host[:port][/path], no credentials, no query."""
    for index, mirror in enumerate(mirrors):
        if not isinstance(mirror, str) or not MIRROR_URL.match(mirror):
            shown = secrets.mask(mirror, secrets.shape_secrets(mirror)) if isinstance(mirror, str) else mirror
            raise DaemonConfigError("registry_mirrors[%d]: %r is not an http(s)://host[:port] URL without user "
                                    "info, query or fragment, which dockerd requires of a mirror" % (index, shown))


def wanted_keys(mirrors, insecure, allow_insecure, settings):
    """{daemon.json key: value or None (remove)} from the module's options, and warnings."""
    warnings = []
    wanted = {}
    for key, value in (settings or {}).items():
        if key in (MIRRORS, INSECURE):
            raise DaemonConfigError("settings: set %s with the %s option" % (key, key.replace("-", "_")))
        check_finite(value, "settings.%s" % key)
        wanted[key] = value
    if mirrors is not None:
        validate_mirrors(mirrors)
        wanted[MIRRORS] = list(mirrors) or None
    if insecure is not None:
        if insecure and not allow_insecure:
            raise DaemonConfigError("insecure_registries: dockerd neither verifies TLS nor requires it for these "
                                    "registries; set allow_insecure: true to write them anyway")
        if insecure:
            warnings.append("insecure-registries %s: the daemon pulls from them without verifying TLS (or over plain "
                            "HTTP); trust their CA with registry_trust instead where you can" % ", ".join(insecure))
        wanted[INSECURE] = list(insecure) or None
    return wanted, warnings


def merge(current, wanted):
    """(new data, {key: added/updated/removed/unchanged}); other keys keep their value and order."""
    new = dict(current)
    changes = {}
    for key, value in wanted.items():
        if value is None:
            changes[key] = "removed" if key in new else "unchanged"
            new.pop(key, None)
        elif key not in new:
            new[key] = value
            changes[key] = "added"
        else:
            changes[key] = "unchanged" if new[key] == value and type(new[key]) is type(value) else "updated"
            new[key] = value
    return new, changes


def apply_needed(changes):
    """(reload_needed, restart_needed): a restart when any changed key is not reloadable on SIGHUP."""
    changed = [key for key, change in changes.items() if change != "unchanged"]
    restart = any(key not in RELOADABLE for key in changed)
    return bool(changed) and not restart, restart


def plan(text, mirrors, insecure, allow_insecure, settings):
    """Everything a run decides from the file's text and the options."""
    current = parse(text)
    wanted, warnings = wanted_keys(mirrors, insecure, allow_insecure, settings)
    new, changes = merge(current, wanted)
    changed = new != current or list(new) != list(current)
    reload_needed, restart_needed = apply_needed(changes)
    rendered = dump(new, indentation(text), text) if changed or text is None else text
    return dict(current=current, new=new, changes=changes, changed=changed or text is None and bool(new),
                reload_needed=reload_needed, restart_needed=restart_needed, warnings=warnings, text=rendered)
