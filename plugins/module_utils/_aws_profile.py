# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""One profile of an AWS shared config or credentials file, edited in place (pure text in, text out).

The files are INI as botocore reads them (configparser): `[default]` and `[profile NAME]` in the
config file, `[NAME]` in the credentials file; `key = value` (or `key: value`) lines, keys matched
without regard to case, values stripped; indented lines continue the key above them; lines starting
with `#` or `;` are comments. Only the lines of the keys being set or removed change: every other
profile, comment, blank line and key stays as it was, byte for byte.
"""

from __future__ import annotations

import re

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

CONFIG = "config"
CREDENTIALS = "credentials"
MASK = secrets.MASK
# Credentials-file keys of the module's key options, in the order they are written.
KEY_OPTIONS = (("access_key_id", "aws_access_key_id"), ("secret_access_key", "aws_secret_access_key"),
               ("session_token", "aws_session_token"))
# Keys whose value is a secret in either file (aws_security_token: the boto2 spelling of the session token).
SECRET_KEYS = frozenset(("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token"))
# Keys whose names look secret to _secrets.secret_name but hold a setting, not a secret.
PUBLIC_KEYS = frozenset(("credential_source", "credential_process", "web_identity_token_file"))
KEY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# Everything Python's str.splitlines() breaks on: none of it may reach a line of the file.
LINE_BREAK = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
HEADER = re.compile(r"\[(?P<name>.+)\]")  # configparser's SECTCRE
KEY_LINE = re.compile(r"(?P<lead>(?P<key>[^=:\s][^=:]*?)\s*[=:][ \t]*)(?P<value>.*?)\s*$")


class ProfileError(Exception):
    """Bad input or a file the AWS CLI could not read either; the message names the option or section."""


# --------------------------------------------------------------------------- input checks

def check_profile(option, profile):
    """A profile name that makes exactly one section header botocore finds again."""
    if not isinstance(profile, str) or not profile:
        raise ProfileError("%s: must be a non-empty name" % option)
    if re.search(r"[\s\[\]]", profile):
        raise ProfileError("%s: %r must not hold white space, line breaks, '[' or ']'" % (option, profile))
    return profile


def _text_value(option, value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise ProfileError("%s: must be a string, a number or a boolean, not %s" % (option, type(value).__name__))
    if LINE_BREAK.search(value):
        raise ProfileError("%s: must not hold a line break" % option)
    if not value.strip():
        raise ProfileError("%s: must not be empty (null removes the key)" % option)
    if value != value.strip():
        raise ProfileError("%s: must not start or end with white space (the AWS CLI strips it)" % option)
    return value


def check_settings(settings):
    """{key: text or None} of the config-file settings; None removes the key."""
    checked = {}
    for key, value in (settings or {}).items():
        option = "settings.%s" % key
        if not isinstance(key, str) or not KEY_NAME.match(key):
            raise ProfileError("settings: %r is not a key name (letters, digits, '_', '.', '-')" % (key,))
        if key.lower() in SECRET_KEYS:
            raise ProfileError("%s: keys go into the credentials file: use access_key_id, secret_access_key "
                               "and session_token (they are kept out of logs)" % option)
        if key.lower() in {k.lower() for k in checked}:
            raise ProfileError("%s: given twice (keys are matched without regard to case)" % option)
        checked[key.lower()] = None if value is None else _text_value(option, value)
    return checked


def check_keys(keys):
    """{credentials key: text} of the given key options ({} when none is given)."""
    checked = {}
    for option, key in KEY_OPTIONS:
        value = keys.get(option)
        if value is None:
            continue
        if not isinstance(value, str) or not value or re.search(r"\s", value):
            raise ProfileError("%s: must be a non-empty string without white space or line breaks" % option)
        checked[key] = value
    if ("aws_access_key_id" in checked) != ("aws_secret_access_key" in checked):
        raise ProfileError("access_key_id and secret_access_key: give both or neither")
    if "aws_session_token" in checked and "aws_access_key_id" not in checked:
        raise ProfileError("session_token: needs access_key_id and secret_access_key")
    return checked


# --------------------------------------------------------------------------- reading the lines

def section_name(kind, profile):
    """The section header of a profile: [default], [profile NAME] (config) or [NAME] (credentials)."""
    return profile if kind == CREDENTIALS or profile == "default" else "profile %s" % profile


def _is_section_of(kind, header, profile):
    """botocore's reading: a config section `profile NAME` (any spacing), or the name itself."""
    if kind == CONFIG and profile != "default":
        return header.split() == ["profile", profile]
    return header == profile


def split_lines(text):
    """Lines with their endings; only \\n ends a line here, as when Python reads the file."""
    return re.findall(r"[^\n]*\n|[^\n]+", text or "")


def _content(line):
    return line.rstrip("\r\n")


def classify(lines):
    """[(kind, name, value)] per line: header (name), key (lower-cased key, value), cont (a line that
    continues the key above it), comment, blank, other (what configparser would refuse)."""
    parsed = []
    key_indent = None  # indent of the key above: a deeper indented line continues its value
    for line in lines:
        content = _content(line)
        stripped = content.strip()
        indent = len(content) - len(content.lstrip())
        if not stripped:
            parsed.append(("blank", None, None))
        elif stripped[0] in "#;":
            parsed.append(("comment", None, None))
        elif key_indent is not None and indent > key_indent:
            parsed.append(("cont", None, None))
        elif HEADER.match(stripped):
            parsed.append(("header", HEADER.match(stripped).group("name"), None))
            key_indent = None
        elif KEY_LINE.match(stripped):
            match = KEY_LINE.match(stripped)
            parsed.append(("key", match.group("key").lower(), match.group("value")))
            key_indent = indent
        else:
            parsed.append(("other", None, None))
    return parsed


def _sections(parsed):
    """[(header index, [indices of the lines below it up to the next header])] of every section."""
    found = []
    for index, (kind, _name, _value) in enumerate(parsed):
        if kind == "header":
            found.append((index, []))
        elif found:
            found[-1][1].append(index)
    return found


def _find_section(kind, profile, parsed):
    matches = [s for s in _sections(parsed) if _is_section_of(kind, parsed[s[0]][1], profile)]
    if len(matches) > 1:
        raise ProfileError("the section [%s] appears %d times; the AWS CLI cannot read such a file either"
                           % (section_name(kind, profile), len(matches)))
    return matches[0] if matches else None


def _key_blocks(parsed, body):
    """{key: [[key line index, continuation indices...], ...]} of one section's body."""
    blocks = {}
    current = None
    for index in body:
        kind, name, _value = parsed[index]
        if kind == "key":
            current = [index]
            blocks.setdefault(name, []).append(current)
        elif kind == "cont" and current is not None:
            current.append(index)
        elif kind != "cont":
            current = None
    return blocks


# --------------------------------------------------------------------------- editing

def _newline(lines):
    return "\r\n" if lines and lines[0].endswith("\r\n") else "\n"


def _ended(line, newline):
    return line if line.endswith("\n") else line + newline


def _replaced_line(line, value):
    """A key line with a new value: indent, key spelling and delimiter style kept."""
    content = _content(line)
    indent = content[:len(content) - len(content.lstrip())]
    lead = KEY_LINE.match(content.lstrip()).group("lead")
    if lead[-1] in "=:" and lead[:-1].endswith((" ", "\t")):
        lead += " "  # "key =" with an empty value: keep "key = value" spacing
    return indent + lead + value + line[len(content):]


def _plan_keys(parsed, blocks, settings):
    """(line replacements {index: text or None}, keys to add, changes) for the settings of one section."""
    replace, add, changes = {}, [], {}
    for key, value in settings.items():
        found = blocks.get(key, [])
        if value is None:
            if found:
                replace.update((index, None) for block in found for index in block)
                changes[key] = "removed"
            continue
        if not found:
            add.append(key)
            changes[key] = "added"
            continue
        first = found[0]
        if parsed[first[0]][2] == value and len(first) == 1 and len(found) == 1:
            continue
        replace[first[0]] = value
        replace.update((index, None) for block in found for index in block if index != first[0])
        changes[key] = "updated"
    return replace, add, changes


def _edit_section(lines, parsed, section, settings):
    header, body = section
    blocks = _key_blocks(parsed, body)
    replace, add, changes = _plan_keys(parsed, blocks, settings)
    if not changes:
        return "".join(lines), changes
    newline = _newline(lines)
    content = [i for i in body if parsed[i][0] in ("key", "cont")]
    after = content[-1] if content else header  # new keys go below the last key, above trailing comments
    out = []
    for index, line in enumerate(lines):
        if index in replace:
            if replace[index] is not None:
                out.append(_replaced_line(line, replace[index]))
        else:
            out.append(line)
        if index == after and add:
            if out:
                out[-1] = _ended(out[-1], newline)
            out.extend("%s = %s%s" % (key, settings[key], newline) for key in add)
    return "".join(out), changes


def _new_section(text, lines, name, settings):
    newline = _newline(lines)
    block = "[%s]%s" % (name, newline) + "".join(
        "%s = %s%s" % (key, value, newline) for key, value in settings.items() if value is not None)
    if not text:
        return block
    text = _ended(text, newline)
    if _content(lines[-1]).strip():
        text += newline  # a blank line between profiles
    return text + block


def _removed_section(lines, parsed, section):
    """The text without the section's header and keys; trailing comments and blank lines stay (they
    usually belong to the next section)."""
    header, body = section
    last = header
    for index in body:
        if parsed[index][0] in ("key", "cont", "other"):
            last = index
    drop = set(range(header, last + 1))
    follows = last + 1
    if follows < len(lines) and parsed[follows][0] == "blank" and (header == 0 or parsed[header - 1][0] == "blank"):
        drop.add(follows)  # no double blank line where the section was
    if follows == len(lines):
        before = header - 1
        while before >= 0 and parsed[before][0] == "blank":  # nor blank lines at the end of the file
            drop.add(before)
            before -= 1
    return "".join(line for index, line in enumerate(lines) if index not in drop)


def edit(text, kind, profile, settings, state="present"):
    """(new text, changes) for one profile of a config (kind CONFIG) or credentials file.

    `settings` is {key: value or None}, checked by check_settings/check_keys; None removes the key.
    state absent removes the profile's section. changes: {key: added|updated|removed}, and
    {"[section]": added|removed} when the section itself comes or goes. Never a value."""
    text = text or ""
    lines = split_lines(text)
    parsed = classify(lines)
    section = _find_section(kind, profile, parsed)
    name = section_name(kind, profile)
    if state == "absent":
        if section is None:
            return text, {}
        keys = {parsed[i][1]: "removed" for i in section[1] if parsed[i][0] == "key"}
        return _removed_section(lines, parsed, section), dict({"[%s]" % name: "removed"}, **keys)
    if section is None:
        keys = {key: "added" for key, value in settings.items() if value is not None}
        return _new_section(text, lines, name, settings), dict({"[%s]" % name: "added"}, **keys)
    return _edit_section(lines, parsed, section, settings)


# --------------------------------------------------------------------------- secrets

def secret_key(key):
    """Whether a key's value is a secret: the AWS key names, and names that say secret."""
    key = key.lower()
    return key in SECRET_KEYS or (key not in PUBLIC_KEYS and secrets.secret_name(key))


def _secret_match(line):
    """The KEY_LINE match of a key line, or of a commented-out one, whose key holds a secret."""
    body = _content(line).strip().lstrip("#;").strip()
    match = KEY_LINE.match(body)
    if match and match.group("value") and secret_key(match.group("key").strip()):
        return match
    return None


def secret_values(text):
    """The values of secret keys anywhere in a file's text, commented-out lines included."""
    found = set()
    for line in split_lines(text):
        match = _secret_match(line)
        if match:
            found.add(match.group("value"))
    return found


def masked(text, known=()):
    """The text with the value of every secret key replaced by ********, then every known secret and
    every secret-shaped string (_secrets.mask) too: what a diff may show."""
    out = []
    for line in split_lines(text):
        match = _secret_match(line)
        if match:
            value = match.group("value")
            content = _content(line)
            cut = content.rindex(value)
            line = content[:cut] + MASK + content[cut + len(value):] + line[len(content):]
        out.append(line)
    return secrets.mask("".join(out), set(known) | secret_values(text))
