# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Apply a desired state to a GitLab Runner config.toml, in place.

The runner rewrites config.toml itself (comments dropped, keys reordered), so "changed" is decided
by comparing parsed values of the managed keys, never text. Deciding uses the fast stdlib parser;
the comment-preserving tomlkit document is built only when there is something to write.

Flow: build_desired(params) -> plan(text, desired) -> [render(plan) -> text] -> module writes.
"""

from __future__ import annotations

import copy
import re

try:
    import tomllib as _fast_toml
except ImportError:  # Python < 3.11 on the target: tomlkit does the fast parse too
    _fast_toml = None

try:
    import tomlkit
    from tomlkit.container import Container
    from tomlkit.exceptions import ParseError as TomlkitParseError
    from tomlkit.items import AoT, Array, Comment, InlineTable, Table, Whitespace
    HAS_TOMLKIT = True
    TOMLKIT_IMPORT_ERROR = None
except ImportError as exc:  # reported by the module with missing_required_lib()
    HAS_TOMLKIT = False
    TOMLKIT_IMPORT_ERROR = exc

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _runner_schema as schema
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

# The oldest tomlkit the layout tests pass on (make tomlkit-matrix): 0.11.0 and 0.11.1 keep array
# values in another shape, 0.11.2 and 0.11.3 are several times slower on large files.
TOMLKIT_MIN = (0, 11, 4)
TOMLKIT_REQUIREMENT = "tomlkit >= %s" % ".".join(str(part) for part in TOMLKIT_MIN)


def tomlkit_too_old():
    """The version of an importable tomlkit older than TOMLKIT_MIN, else None."""
    if not HAS_TOMLKIT:
        return None
    version = getattr(tomlkit, "__version__", "0")
    parts = []
    for part in version.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return version if tuple(parts) < TOMLKIT_MIN else None


MISSING = object()
# Characters a TOML literal string cannot hold (tab excepted): such a value is written as a basic string.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
AUTH_ENV = "DOCKER_AUTH_CONFIG"
NETWORK_FLAG = "FF_NETWORK_PER_BUILD"
# Options of a runner that map to their own place in the file (not allowed inside `settings`).
DEDICATED = ("name", "docker", "environment", "feature_flags", "url", "executor")
# The indentation GitLab Runner itself writes for [[runners]] content.
RUNNER_STEP = "  "
BOM = "\ufeff"


class ConfigError(Exception):
    """Bad input or a file that cannot be used; nothing is written."""


# ---------------------------------------------------------------- parsing


def split_bom(text):
    """(BOM or "", rest of the text). GitLab Runner's TOML decoder (BurntSushi/toml >= 1.3; the runner pins
    1.6.0) skips a UTF-8 BOM at the start; tomllib and tomlkit refuse it, so it is cut off for them and put
    back when the file is rewritten."""
    if text.startswith(BOM):
        return BOM, text[len(BOM):]
    return "", text


def parse(text):
    """Plain data of a TOML text (fast parser), or ConfigError naming line and column."""
    text = split_bom(text)[1]
    try:
        if _fast_toml is not None:
            return _fast_toml.loads(text)
        return tomlkit.parse(text).unwrap()
    except ValueError as exc:  # tomllib.TOMLDecodeError and tomlkit's ParseError are ValueErrors
        raise ConfigError("cannot parse TOML: %s" % exc) from exc


def same(a, b):
    """Deep equality that, unlike ==, tells booleans from integers (TOML does)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return a == b


def _paths(pairs):
    return [pair[0] for pair in pairs]


def _dotted(pairs):
    return [".".join(path) for path in _paths(pairs)]


def get_path(data, path):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return MISSING
        data = data[key]
    return data


def flatten(values, prefix=()):
    """[(path, value)] of the leaves of nested mappings; lists (e.g. services) are leaves."""
    out = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out.extend(flatten(value, prefix + (key,)))
        elif not isinstance(value, dict):
            out.append((prefix + (key,), value))
    return out


def env_split(entry):
    """KEY, value of an environment entry split at the first '=' like the runner (None when no '=')."""
    if not isinstance(entry, str) or "=" not in entry:
        return None, None
    key, value = entry.split("=", 1)
    return key, value


# ---------------------------------------------------------------- desired state


def _strip_none(mapping):
    return {k: v for k, v in mapping.items() if v is not None}


def _env_value(option, key, value):
    """The desired state of one environment entry: None (remove), ("auth", data) or ("text", str).

    `option` names where the value came from, for error messages.
    """
    if value is None:
        return None, []
    if key == AUTH_ENV:
        data = value
        if isinstance(value, str):
            data = auth.parse_auth_config(value)
            if data is None:
                raise ConfigError("%s: is not a JSON object" % option)
        try:
            data, warnings = auth.build_auth_config(data, option)
        except auth.AuthConfigError as exc:
            raise ConfigError(str(exc)) from exc
        return ("auth", data), warnings
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError("%s: got %r, expected a string" % (option, value))
    return ("text", str(value)), []


def _runner_values(where, spec):
    """The nested [[runners]] values a runner spec manages (environment and token excluded)."""
    values = {}
    settings = dict(spec.get("settings") or {})
    clash = sorted(set(settings) & set(DEDICATED))
    if clash:
        raise ConfigError("%s.settings: set %s through the runner options of that name, not settings"
                          % (where, ", ".join(clash)))
    values.update(settings)
    for key in ("url", "executor"):
        if spec.get(key) is not None:
            values[key] = spec[key]
    docker = dict(spec.get("docker") or {})
    if "services" in docker and isinstance(docker["services"], list):
        docker["services"] = [_strip_none(s) if isinstance(s, dict) else s for s in docker["services"]] or None
    if docker:
        values["docker"] = docker
    flags = dict(spec.get("feature_flags") or {})
    if spec.get("network_per_build") is not None:
        if NETWORK_FLAG in flags and flags[NETWORK_FLAG] != spec["network_per_build"]:
            raise ConfigError("%s: network_per_build and feature_flags.%s disagree" % (where, NETWORK_FLAG))
        flags[NETWORK_FLAG] = spec["network_per_build"]
    if flags:
        values["feature_flags"] = flags
    return values


def build_runner(index, spec):
    """Validate one entry of the `runners` option; return (desired runner, warnings)."""
    where = "runners[%d]" % index
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("%s.name: every runner needs a non-empty name (runners are found by name)" % where)
    where = "runners[%s]" % name
    runner = {"name": name, "state": spec.get("state") or "present", "env": {}, "values": {}, "create": {},
              "keep_auths": []}
    if runner["state"] == "absent":
        return runner, []
    values = _runner_values(where, spec)
    try:
        warnings = schema.check_table(where, values, schema.RUNNER)
    except schema.SchemaError as exc:
        raise ConfigError(str(exc)) from exc
    runner["values"] = values
    env = {key: (value, "%s.environment.%s" % (where, key)) for key, value in (spec.get("environment") or {}).items()}
    if spec.get("docker_auth_config"):
        if AUTH_ENV in env:
            raise ConfigError("%s: give DOCKER_AUTH_CONFIG either as docker_auth_config or in environment, not both"
                              % where)
        auth_spec = _strip_none(spec["docker_auth_config"])
        try:
            runner["keep_auths"] = auth.normalize_keep(auth_spec.pop("keep_auths", None),
                                                       where + ".docker_auth_config.keep_auths")
        except auth.AuthConfigError as exc:
            raise ConfigError(str(exc)) from exc
        env[AUTH_ENV] = (auth_spec, where + ".docker_auth_config")
    for key, (value, option) in env.items():
        if not isinstance(key, str) or not key or "=" in key or key != key.strip():
            raise ConfigError("%s.environment: %r is not a variable name (no '=' or surrounding spaces)" % (where, key))
        runner["env"][key], more = _env_value(option, key, value)
        warnings.extend(more)
    runner["create"] = {k: spec.get(k) for k in ("url", "token", "executor")}
    return runner, warnings


def build_global(values):
    values = dict(values or {})
    if "runners" in values:
        raise ConfigError("global.runners: manage runners with the runners option")
    try:
        warnings = schema.check_table("global", values, schema.GLOBAL)
    except schema.SchemaError as exc:
        raise ConfigError(str(exc)) from exc
    concurrent = values.get("concurrent")
    if concurrent is not None and concurrent < 1:
        raise ConfigError("global.concurrent: got %d; the runner exits when concurrent is below 1" % concurrent)
    return values, warnings


def build_desired(global_values, runners):
    """Validate module input into a plain desired state; return (desired, warnings)."""
    desired_global, warnings = build_global(global_values)
    desired_runners, seen = [], set()
    for index, spec in enumerate(runners or []):
        if not isinstance(spec, dict):
            raise ConfigError("runners[%d]: expected a mapping, got %r" % (index, spec))
        runner, more = build_runner(index, spec)
        if runner["name"] in seen:
            raise ConfigError("runners: the name %r is given twice" % runner["name"])
        seen.add(runner["name"])
        desired_runners.append(runner)
        warnings.extend(more)
    return {"global": desired_global, "runners": desired_runners}, warnings


# ---------------------------------------------------------------- planning


def _env_entry_text(key, state):
    kind, value = state
    return "%s=%s" % (key, auth.compact_json(value) if kind == "auth" else value)


def _env_entry_equal(entry_value, state):
    kind, value = state
    if kind == "auth":
        return same(auth.parse_auth_config(entry_value), value)
    return entry_value == value


def plan_environment(current, desired_env):
    """(changed keys, edits, new list) for the environment array.

    Entries of other keys keep their value and order; a managed key keeps the place of its first
    entry, later duplicates are dropped (the last one would win). `edits` are ("replace", index,
    text), ("delete", index) and ("append", text), so the array can be edited in place.
    """
    current = list(current) if isinstance(current, list) else []
    changed, edits, result, placed = [], [], [], set()
    for index, entry in enumerate(current):
        key, value = env_split(entry)
        if key not in desired_env:
            result.append(entry)
            continue
        state = desired_env[key]
        if state is None or key in placed:
            edits.append(("delete", index))
            if key not in changed:
                changed.append(key)
            continue
        placed.add(key)
        if _env_entry_equal(value, state):
            result.append(entry)
        else:
            edits.append(("replace", index, _env_entry_text(key, state)))
            result.append(_env_entry_text(key, state))
            changed.append(key)
    for key, state in desired_env.items():
        if state is not None and key not in placed:
            edits.append(("append", _env_entry_text(key, state)))
            result.append(_env_entry_text(key, state))
            changed.append(key)
    return changed, edits, result


def _env_with_kept_auths(current, runner):
    """The runner's desired environment, its DOCKER_AUTH_CONFIG extended by the keep_auths entries of
    the one in the file (the last entry, which is the one the runner uses)."""
    state = runner["env"].get(AUTH_ENV)
    if not runner["keep_auths"] or state is None or state[0] != "auth":
        return runner["env"]
    entries = current.get("environment") if isinstance(current.get("environment"), list) else []
    in_file = [value for key, value in map(env_split, entries) if key == AUTH_ENV]
    merged = auth.with_kept_auths(state[1], auth.parse_auth_config(in_file[-1]) if in_file else None,
                                  runner["keep_auths"])
    if merged is state[1]:
        return runner["env"]
    return dict(runner["env"], **{AUTH_ENV: ("auth", merged)})


def _find_runners(data):
    """{name: [indexes]} of the [[runners]] in parsed data."""
    found = {}
    runners = data.get("runners", [])
    if not isinstance(runners, list):
        raise ConfigError("[runners] must be an array of tables ([[runners]]); the runner rejects this file")
    for index, runner in enumerate(runners):
        if isinstance(runner, dict):
            found.setdefault(runner.get("name"), []).append(index)
    return found


def _plan_values(current, values):
    """[(path, value)] of the managed leaves whose parsed value differs from the desired one."""
    return [(path, value) for path, value in flatten(values)
            if not (value is None and get_path(current, path) is MISSING)
            and not same(get_path(current, path), value)]


def _runner_warnings(name, current, runner):
    warnings = []
    values = runner["values"]
    flags = values.get("feature_flags", {})
    network_mode = get_path(values, ("docker", "network_mode"))
    if network_mode is MISSING:
        network_mode = get_path(current, ("docker", "network_mode"))
    if flags.get(NETWORK_FLAG) and network_mode not in (MISSING, None, ""):
        warnings.append("runners[%s]: docker.network_mode '%s' is set, so the runner creates no network per build "
                        "even with %s on" % (name, network_mode, NETWORK_FLAG))
    if NETWORK_FLAG in flags:
        env = current.get("environment") if isinstance(current.get("environment"), list) else []
        if any(env_split(e)[0] == NETWORK_FLAG for e in env) or runner["env"].get(NETWORK_FLAG):
            warnings.append("runners[%s]: environment also sets %s; [runners.feature_flags] wins and jobs cannot "
                            "override it" % (name, NETWORK_FLAG))
    return warnings


def plan(text, desired):
    """Compare the file with the desired state; return a plan (plain data, no tomlkit)."""
    data = parse(text or "")
    result = {"data": data, "text": text or "", "global": [], "runners": [], "warnings": [], "changes": {}}
    result["global"] = _plan_values(data, desired["global"])
    if result["global"]:
        result["changes"]["global"] = _dotted(result["global"])
    found = _find_runners(data)
    runner_changes = {}
    for runner in desired["runners"]:
        name = runner["name"]
        indexes = found.get(name, [])
        if len(indexes) > 1:
            raise ConfigError("runners[%s]: the file has %d runners named %r; rename one so it can be managed"
                              % (name, len(indexes), name))
        if runner["state"] == "absent":
            if indexes:
                result["runners"].append({"name": name, "action": "remove", "index": indexes[0]})
                runner_changes[name] = ["(removed)"]
            continue
        current = data["runners"][indexes[0]] if indexes else {}
        if not indexes:
            missing = [k for k in ("url", "token", "executor") if not runner["create"].get(k)]
            if missing:
                raise ConfigError("runners[%s]: no runner of that name in the file; to add it give %s"
                                  % (name, ", ".join(missing)))
        changes = _plan_values(current, runner["values"])
        if runner["env"] and "environment" in current and not isinstance(current["environment"], list):
            raise ConfigError("runners[%s]: environment in the file is a %s, not an array of \"KEY=value\" strings; "
                              "the runner rejects this file; fix it by hand first"
                              % (name, type(current["environment"]).__name__))
        env_changed, env_edits, env_list = plan_environment(current.get("environment"),
                                                            _env_with_kept_auths(current, runner))
        env_plan = {"edits": env_edits, "entries": env_list}
        result["warnings"].extend(_runner_warnings(name, current, runner))
        if not indexes:
            result["runners"].append({"name": name, "action": "add", "runner": runner,
                                      "changes": changes, "environment": env_plan if runner["env"] else None})
            runner_changes[name] = ["(added)"] + _dotted(changes) + [
                "environment." + k for k in env_changed]
        elif changes or env_changed:
            result["runners"].append({"name": name, "action": "update", "index": indexes[0], "runner": runner,
                                      "changes": changes, "environment": env_plan if env_changed else None})
            runner_changes[name] = _dotted(changes) + ["environment." + k for k in env_changed]
    if runner_changes:
        result["changes"]["runners"] = runner_changes
    result["changed"] = bool(result["changes"])
    return result


# ---------------------------------------------------------------- tomlkit version differences
# Every place where the tomlkit releases a runner host may have (0.11.4 to 0.15.3, make tomlkit-matrix)
# behave differently is handled here and only here:
#   _insert_plain_key         0.15.3 removed Container._insert_after; Container._insert_at is the same in all
#   _pin_trailing_whitespace  0.11.x appends a table before the trailing blank lines of a document
#   _is_inline                0.11.x gives a bare Container for an entry of an inline array


def _insert_plain_key(body, key, value):
    """Insert a plain key right after the last plain key of a container's body; False when it has none
    or that is the end of the body (the caller then appends). tomlkit has no public insert:
    Container._insert_at is the same from 0.11 to 0.15.3 and the only private tomlkit call here
    (0.15.3 removed the _insert_after used before)."""
    position = _after_last_plain_key(body.body)
    if position is None or position >= len(body.body):
        return False
    body._insert_at(position, key, value)
    return True


def _after_last_plain_key(body):
    """The body position just after its last key that is not a table (None when it has none)."""
    after = None
    for position, (key, item) in enumerate(body):
        if isinstance(item, (Table, AoT)):
            break
        if key is not None:
            after = position + 1
    return after


def _pin_trailing_whitespace(body):
    """Mark the blank lines that end a body as fixed, so a table appended to it goes after them:
    tomlkit 0.11.x inserts a new table before trailing (unfixed) whitespace, 0.12 and newer after it."""
    for position in range(_trivia_start(body), len(body)):
        item = body[position][1]
        if isinstance(item, Whitespace) and not item.is_fixed():
            body[position] = (None, Whitespace(item.s, fixed=True))


def _is_inline(container):
    """Whether new keys of this container must be written inline: an inline table, or what tomlkit < 0.12
    returns for an entry of an inline array (`runners = [{...}]`), a bare Container."""
    return isinstance(container, InlineTable) or (
        isinstance(container, Container) and not isinstance(container, tomlkit.TOMLDocument))


# ---------------------------------------------------------------- rendering (tomlkit)


def _body(container):
    """The (key, item) list of a table or document; empty for tomlkit's proxy of a table written with
    dotted keys (`docker.image = ...`), whose layout tomlkit keeps by itself."""
    if isinstance(container, (Table, InlineTable)):
        return container.value.body
    return getattr(container, "body", [])


def _header_indent(container):
    trivia = getattr(container, "trivia", None)
    return trivia.indent.replace("\n", "") if trivia is not None else ""


def _key_indent(container):
    """Indentation of the plain keys already in a table (None when it has none)."""
    for key, item in _body(container):
        if key is not None and not isinstance(item, (Table, AoT)):
            return item.trivia.indent
    return None


def _table_indent(container):
    """Indentation of the sub-table headers already in a table (None when it has none)."""
    for key, item in _body(container):
        if isinstance(item, Table):
            return item.trivia.indent
        if isinstance(item, AoT) and item.body:
            return item.body[0].trivia.indent
    return None


class _Style:
    """Indentation of the file, learnt from its runners: GitLab Runner indents by two spaces."""

    def __init__(self, doc):
        self.step = RUNNER_STEP
        runners = doc.get("runners")
        if isinstance(runners, AoT) and runners.body:
            first = runners.body[0]
            keys = _key_indent(first) or ""
            header = first.trivia.indent.replace("\n", "")
            self.step = keys[len(header):] if keys.startswith(header) else ""

    def keys_of(self, container, is_root):
        if is_root:
            return ""
        found = _key_indent(container)
        return found if found is not None else _header_indent(container) + self.step

    def tables_of(self, container, is_root):
        if is_root:
            return ""
        found = _table_indent(container)
        return found if found is not None else self.keys_of(container, is_root)


def _to_toml(value):
    if isinstance(value, str) and '"' in value and "'" not in value and not _CONTROL.search(value):
        return tomlkit.string(value, literal=True)  # JSON stays readable instead of \" escaped
    return value


def _new_table(values, header_indent, step, inline=False):
    """A tomlkit table for a mapping, indented like its siblings (inline inside inline tables)."""
    table = tomlkit.inline_table() if inline else tomlkit.table()
    if not inline:
        table.trivia.indent = header_indent
    for key, value in values.items():
        _set_item(table, key, value, header_indent + step, header_indent + step, step)
    return table


def _is_table_list(value):
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _set_item(container, key, value, key_indent, table_indent, step):
    inline = _is_inline(container)
    if isinstance(value, dict):
        container[key] = _new_table(value, table_indent, step, inline)
        return
    if _is_table_list(value):
        if not (isinstance(container, Table) and container.is_super_table()):
            _set_tables(container, key, value, table_indent, step)
            return
        # A table written with dotted keys (`docker.image = ...`) or only through its sub-tables has no
        # header of its own to put [[...]] entries under: tomlkit would write them at the wrong path.
        value = _inline_tables(value, multiline=False)
    existed = key in container
    if existed or inline or not isinstance(container, (Table, tomlkit.TOMLDocument)):
        container[key] = _to_toml(value)
        return
    body = container.value if isinstance(container, Table) else container
    # Right after the last plain key: a comment between it and the next table belongs to that table.
    if not _insert_plain_key(body, key, _to_toml(value)):
        container[key] = _to_toml(value)
    body.item(key).trivia.indent = key_indent


def _inline_tables(values, multiline):
    """An array of inline tables, one per line when multiline and there is more than one."""
    array = tomlkit.array()
    array.extend(_new_table(v, "", "", inline=True) for v in values)
    if multiline and len(values) > 1:
        array.multiline(True)
    return array


def _set_tables(container, key, values, table_indent, step):
    """An array of tables (services), edited entry by entry so comments of kept entries survive."""
    existing = container.get(key) if key in container else None
    if isinstance(existing, Array) or _is_inline(container):
        # an inline table stays on its line
        container[key] = _inline_tables(values, multiline=not _is_inline(container))
        return
    if not isinstance(existing, AoT):
        array = tomlkit.aot()
        for entry in values:
            _append_table(array, _new_table(entry, table_indent, step))
        container[key] = array
        first = container[key].body[0]
        first.trivia.indent = first.trivia.indent.lstrip("\n")  # tomlkit's blank line before a new array
        return
    if existing.body:
        table_indent = existing.body[0].trivia.indent.replace("\n", "")
    for index, entry in enumerate(values):
        if index >= len(existing):
            _append_table(existing, _new_table(entry, table_indent, step))
            continue
        table = existing[index]
        for old_key in [k for k in table if k not in entry]:
            del table[old_key]
        for new_key, new_value in entry.items():
            if not same(table.get(new_key).unwrap() if new_key in table else MISSING, new_value):
                _set_item(table, new_key, new_value, table_indent + step, table_indent + step, step)
    while len(existing) > len(values):
        del existing[len(existing) - 1]


def _append_table(array, table):
    """Append to an array of tables without the blank line tomlkit puts before a new entry: the runner
    writes [[runners.docker.services]] entries one after the other."""
    array.append(table)
    array.body[-1].trivia.indent = array.body[-1].trivia.indent.lstrip("\n")


def _set_path(root, path, value, style, is_root):
    """Set (or remove, for None) one managed leaf, creating parent tables in the sibling style."""
    container = root
    for depth, key in enumerate(path[:-1]):
        root_level = is_root and depth == 0
        if key not in container or not isinstance(container[key], (Table, dict)):
            if value is None:
                return
            container[key] = _new_table({}, style.tables_of(container, root_level), style.step,
                                        inline=_is_inline(container))
        container = container[key]
    leaf_is_root = is_root and len(path) == 1
    key = path[-1]
    if value is None:
        if key in container:
            del container[key]
        return
    _set_item(container, key, value, style.keys_of(container, leaf_is_root),
              style.tables_of(container, leaf_is_root), style.step)


def _edit_array(array, edits):
    for edit in edits:
        if edit[0] == "replace":
            array[edit[1]] = _to_toml(edit[2])
    for edit in sorted((e for e in edits if e[0] == "delete"), key=lambda e: -e[1]):
        del array[edit[1]]
    appends = [edit[1] for edit in edits if edit[0] == "append"]
    if appends:
        _comma_after_last_value(array)
    for entry in appends:
        array.append(_to_toml(entry))


def _comma_after_last_value(array):
    """tomlkit forgets the comma after the last value when a comment line follows it; add it first."""
    groups = getattr(array, "_value", None) or []
    for group in reversed(groups):
        if getattr(group, "value", None) is not None and not isinstance(group.value, tomlkit.items.Null):
            if group.comma is None:
                group.comma = tomlkit.items.Whitespace(",")
            return


def _array_reads_as(array, entries):
    try:
        return parse("x = " + array.as_string()).get("x") == entries
    except ConfigError:
        return False


def _set_environment(table, planned_env, style):
    """Edit the environment array in place, so comments inside it survive."""
    entries = planned_env["entries"]
    if "environment" not in table or not isinstance(table["environment"], list):
        _set_item(table, "environment", entries, style.keys_of(table, False), None, style.step)
        return
    array = table["environment"]
    _edit_array(array, planned_env["edits"])
    if not _array_reads_as(array, entries):
        # tomlkit cannot append after a trailing comment line without a comma; rewrite the array.
        table["environment"] = [_to_toml(e) for e in entries]


def _add_runner(doc):
    runners = doc.get("runners")
    if isinstance(runners, Array):  # runners = [{...}]: the new runner is one more inline table there
        _comma_after_last_value(runners)
        runners.append(tomlkit.inline_table())
        return runners[len(runners) - 1]
    header = ""
    if runners is None:
        header = "\n" if doc.body and not _ends_with_blank_line(_last_body(doc)) else ""
        runners = tomlkit.aot()
        _pin_trailing_whitespace(doc.body)
        doc.append("runners", runners)
    if runners.body:
        header = runners.body[0].trivia.indent.replace("\n", "")
        if not _ends_with_blank_line(_body(_deepest_last(runners.body[-1]))):
            header = "\n" + header  # a blank line between runners, as the runner writes them
    table = tomlkit.table()
    table.trivia.indent = header
    runners.append(table)
    return doc["runners"][len(runners) - 1]


def _last_body(doc):
    """The body whose end is the end of the document's text."""
    last = doc.body[-1][1] if doc.body else None
    if isinstance(last, AoT) and last.body:
        last = last.body[-1]
    return _body(_deepest_last(last)) if isinstance(last, Table) else doc.body


def _ends_with_blank_line(body):
    return any(not line.strip() for line in _tail_text(body).split("\n")[:-1])


def render(planned):
    """The new file text for a plan, built on the comment-preserving tomlkit document."""
    bom, text = split_bom(planned["text"])
    try:
        doc = tomlkit.parse(text)
    except TomlkitParseError as exc:
        raise ConfigError("cannot parse TOML: %s" % exc) from exc
    style = _Style(doc)
    for path, value in planned["global"]:
        _set_path(doc, path, value, style, True)
    removals = []
    for item in planned["runners"]:
        if item["action"] == "remove":
            removals.append(item["index"])
            continue
        if item["action"] == "add":
            table = _add_runner(doc)
            create = item["runner"]["create"]
            for key in ("name", "url", "token", "executor"):
                value = item["runner"]["name"] if key == "name" else create[key]
                _set_item(table, key, value, style.keys_of(table, False), None, style.step)
        else:
            table = doc["runners"][item["index"]]
        tail = _detach_tail(table)
        for path, value in item["changes"]:
            _set_path(table, path, value, style, False)
        if item["environment"] is not None:
            _set_environment(table, item["environment"], style)
        _body(_deepest_last(table)).append((None, Whitespace(tail)))
    for index in sorted(removals, reverse=True):
        _remove_runner(doc, index)
    return bom + _line_endings_like(text, tomlkit.dumps(doc))


def _trivia_start(body):
    """Index where the trailing comments and blank lines of a body begin."""
    start = len(body)
    while start and body[start - 1][0] is None and isinstance(body[start - 1][1], (Whitespace, Comment)):
        start -= 1
    return start


def _tail_text(body):
    """The text of the comments and blank lines that end a body."""
    return "".join(item.as_string() for _key, item in body[_trivia_start(body):])


def _deepest_last(table):
    """The table whose body ends the text of `table` (its last sub-table, recursively)."""
    body = _body(table)
    while body and isinstance(body[-1][1], (Table, AoT)):
        last = body[-1][1]
        table = last if isinstance(last, Table) else last.body[-1]
        body = _body(table)
    return table


def _detach_tail(table):
    """Take the blank lines and comments that end a runner's text (the next runner's header) out of it,
    so that they can go back at its end once new tables were appended to it."""
    body = _body(_deepest_last(table))
    tail = _tail_text(body)
    for position in range(_trivia_start(body), len(body)):  # replace in place, never delete: tomlkit indexes positions
        body[position] = (None, Whitespace(""))
    return tail


def _header_trivia(doc, index):
    """The body that holds the comments above runner `index`, and where they start and end in it.

    tomlkit keeps the comments above a table at the end of whatever precedes the table."""
    runners = doc["runners"]
    if index:
        body = _body(_deepest_last(runners.body[index - 1]))
        return body, _trivia_start(body), len(body)
    position = [k for k, (key, _item) in enumerate(doc.body) if key is not None and key.key == "runners"][0]
    before = doc.body[:position]
    if before and isinstance(before[-1][1], (Table, AoT)):
        tail = before[-1][1] if isinstance(before[-1][1], Table) else before[-1][1].body[-1]
        body = _body(_deepest_last(tail))
        return body, _trivia_start(body), len(body)
    return doc.body, _trivia_start(before), position


def _remove_runner(doc, index):
    """Delete a [[runners]] table and move the comments above the next runner (kept by tomlkit at the
    end of the deleted one) to where the deleted runner's own comments were."""
    runners = doc["runners"]
    if isinstance(runners, Array):  # runners = [{...}]: comments stay where they are
        del runners[index]
        return
    own_body, own_start, own_end = _header_trivia(doc, index)
    tail = _body(_deepest_last(runners.body[index]))
    moved = _tail_text(tail)
    # Replace in place, never insert: tomlkit indexes body positions.
    for position in range(own_start, own_end):
        own_body[position] = (None, Whitespace(moved if position == own_start else ""))
    if own_start == own_end and moved and own_body is not doc.body:
        own_body.append((None, Whitespace(moved)))
    del runners[index]


def _line_endings_like(old_text, new_text):
    """tomlkit writes new lines as LF; a CRLF file (Windows runners) stays CRLF throughout."""
    if old_text.count("\r\n") * 2 > old_text.count("\n"):
        return new_text.replace("\r\n", "\n").replace("\n", "\r\n")
    return new_text


# ---------------------------------------------------------------- layouts tomlkit edits less well

LAYOUT_HINT = ("this file writes runners as %s; rewrite them as [[runners]] tables with [runners.docker], "
               "[[runners.docker.services]] ... headers (the layout GitLab Runner itself writes) and run again")


def _dotted_or_inline(table):
    """Whether a runner table (or a table inside it) holds dotted keys or inline tables."""
    for key, item in _body(table):
        if key is not None and (key.is_dotted() or isinstance(item, InlineTable)):
            return True
        if isinstance(item, Table) and _dotted_or_inline(item):
            return True
    return False


def layout_note(text):
    """What to change when a runner layout could not be edited, or "" for the usual layout."""
    try:
        runners = tomlkit.parse(split_bom(text)[1]).get("runners")
    except TomlkitParseError:
        return ""
    if isinstance(runners, Array):
        return LAYOUT_HINT % "an inline array (runners = [{...}])"
    if isinstance(runners, AoT) and any(_dotted_or_inline(table) for table in runners.body):
        return LAYOUT_HINT % "dotted keys (docker.image = ...) or inline tables"
    return ""


def render_checked(planned, desired):
    """The new text of a plan, re-read and verified before anything may write it. A layout tomlkit cannot
    edit gives a ConfigError that says what to change, never an internal error."""
    try:
        new_text = render(planned)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        note = layout_note(planned["text"]) or "edit the file by hand"
        raise ConfigError("cannot edit the file in place (%s: %s); nothing written; %s"
                          % (type(exc).__name__, exc, note)) from exc
    try:
        verify(planned, desired, new_text)
    except ConfigError as exc:  # the file itself parsed: what fails here is the edit
        message = str(exc)
        if not message.startswith("internal check failed"):
            message = "internal check failed: the edited text would not parse (%s); nothing written" % message
        note = layout_note(planned["text"])
        raise ConfigError("%s%s" % (message, "; " + note if note else "")) from exc
    return new_text


# ---------------------------------------------------------------- verification


def _prune(data):
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            value = _prune(value)
            if not (isinstance(value, dict) and not value):
                out[key] = value
        return out
    return data


def _without(data, paths):
    data = copy.deepcopy(data)
    for path in paths:
        parent = get_path(data, path[:-1]) if len(path) > 1 else data
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return data


def _unmanaged_runner(runner_data, desired_runner):
    data = _without(runner_data, _paths(flatten(desired_runner["values"])))
    env = data.get("environment")
    if isinstance(env, list):
        data["environment"] = [e for e in env if env_split(e)[0] not in desired_runner["env"]]
        if not data["environment"]:
            data.pop("environment")
    return _prune(data)


def verify(planned, desired, new_text):
    """Re-read what would be written: managed keys as desired, everything else as before."""
    new = parse(new_text)
    old = planned["data"]
    for path, value in flatten(desired["global"]):
        got = get_path(new, path)
        if not (same(got, value) or (value is None and got is MISSING)):
            raise ConfigError("internal check failed: global %s would not be written as asked; nothing written"
                              % ".".join(path))
    old_runners = list(old.get("runners", []))
    new_runners = list(new.get("runners", []))
    by_name = {r["name"]: r for r in desired["runners"]}
    removed = {i["index"] for i in planned["runners"] if i["action"] == "remove"}
    added = sum(1 for i in planned["runners"] if i["action"] == "add")
    kept_old = [r for i, r in enumerate(old_runners) if i not in removed]
    if len(kept_old) + added != len(new_runners):
        raise ConfigError("internal check failed: runner count would be wrong; nothing written")
    for before, after in zip(kept_old + [{}] * added, new_runners):
        spec = by_name.get(after.get("name"))
        if spec is None or spec["state"] == "absent":
            if not same(before, after):
                raise ConfigError("internal check failed: runner %r would change; nothing written" % after.get("name"))
            continue
        for path, value in flatten(spec["values"]):
            got = get_path(after, path)
            if not (same(got, value) or (value is None and got is MISSING)):
                raise ConfigError("internal check failed: runners[%s].%s would not be written as asked"
                                  % (spec["name"], ".".join(path)))
        if before and not same(_unmanaged_runner(before, spec), _unmanaged_runner(after, spec)):
            raise ConfigError("internal check failed: runners[%s] would lose unmanaged content; nothing written"
                              % spec["name"])
    global_paths = _paths(flatten(desired["global"])) + [("runners",)]
    if not same(_prune(_without(old, global_paths)), _prune(_without(new, global_paths))):
        raise ConfigError("internal check failed: unmanaged global content would change; nothing written")


# ---------------------------------------------------------------- secrets


def _mask_item(item, found):
    """The masked form of one string item, or None when it holds no secret."""
    value = str(item)
    masked = secrets.mask_value(value, found)
    return None if masked == value else _to_toml(masked)


def _mask_strings(container, found):
    """Replace every string in tables, arrays and inline tables that holds a secret, so escapes and
    multi-line strings are masked by value, whatever their spelling in the text."""
    entries = list(container.items()) if isinstance(container, (Table, dict)) else list(enumerate(container))
    for key, item in entries:
        if isinstance(item, str):
            masked = _mask_item(item, found)
            if masked is not None:
                container[key] = masked
        elif isinstance(item, (Table, dict, AoT, list)):
            _mask_strings(item, found)


def text_secrets(text, data=None):
    """Every secret of a config.toml text: its values (_secrets.collect) and its comments.

    `data` is the text parsed already, when the caller has it (saves a parse of a big file)."""
    if not text:
        return set()
    return secrets.collect(parse(text) if data is None else data) | secrets.comment_secrets(text)


def masked_text(text, found=None):
    """The TOML text with every secret replaced by ******** (for diffs), layout kept.

    `found` adds secrets known from elsewhere (the other side of a diff, the arguments).
    """
    if not text:
        return text or ""
    bom, text = split_bom(text)
    found = text_secrets(text) | set(found or ())
    doc = tomlkit.parse(text)
    _mask_strings(doc, found)
    return bom + secrets.mask(tomlkit.dumps(doc), found)
