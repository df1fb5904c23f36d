# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Which strings of a runner's config.toml, a Docker config.json or a DOCKER_AUTH_CONFIG are secrets,
and how they are masked in diffs, results and -vvv output.

The one list of secret positions, derived from the runner's config structs (reference
gitlab-runner-config-and-auth.md §2; gitlab-runner common/config.go and cache/cacheconfig), plus
secrets recognised by the name of their variable and by their shape. Stdlib only: every module,
filter and module_util may import it.

collect(data) -> the secret strings of parsed data; mask(text, secrets) -> text with them replaced;
mask_data(data, secrets) -> a copy of parsed data with them replaced; comment_secrets(text) ->
secrets in the comments of a config.toml; no_log(module, secrets) -> hide them in every result.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

MASK = "********"
# Shorter strings garble unrelated output when masked as substrings ("ci" in every "ci-runner");
# a value that is a secret as a whole is still masked whatever its length.
MIN_SECRET_LENGTH = 4

# config.toml keys whose string value is a secret wherever they appear (the runner's structs):
SECRET_KEYS = frozenset((
    "token",  # [[runners]] RunnerCredentials.Token
    "password",  # [runners.ssh]; connector_config of [runners.autoscaler] and of its vm_isolation
    "bearer_token",  # [runners.kubernetes]
    "sentry_dsn",  # global: the DSN carries the Sentry key
    "AccessKey", "SecretKey", "SessionToken",  # [runners.cache.s3]
    "PrivateKey",  # [runners.cache.gcs]
    "AccountKey",  # [runners.cache.azure]
))
# Tables of free-form settings handed to a plugin or driver: a key whose name says secret holds one.
FREE_FORM_TABLES = frozenset(("plugin_config", "nesting_config", "volume_driver_ops"))
# [runners.machine] lists of "name=value" options for the docker-machine driver.
OPTION_LISTS = frozenset(("MachineOptions", "MachineOptionsWithName"))
AUTH_ENV = "DOCKER_AUTH_CONFIG"
# Fields of a Docker `auths` entry that hold a secret (docker/cli types.AuthConfig).
SECRET_AUTH_KEYS = frozenset(("auth", "password", "identitytoken", "registrytoken"))
# Fields of a Docker `auths` entry that say who logs in: no secret.
PUBLIC_AUTH_KEYS = frozenset(("username", "email"))

# A variable, option, header or setting name that says its value is a secret. Short words only
# as whole words, so that PATH, AUTHOR, BYPASS or KEYBOARD are not taken for PAT, AUTH, PASS, KEY.
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|PRIVATEKEY|APIKEY|ACCESSKEY|AUTHORIZATION|COOKIE|OAUTH"
    r"|(?:^|[_.-])(?:KEY|PAT|DSN|AUTH|PASS|CREDS|JWT)(?:$|[_.-])", re.IGNORECASE)
# Values that say nothing even under a secret name (SKIP_AUTH=true): hiding them in -vvv would mask
# every "true" of the output, the diff's `privileged = true` included.
PUBLIC_VALUES = frozenset(("true", "false", "yes", "no", "on", "off", "none", "null", "nil"))
# scheme://user:password@host; a user alone is a secret only when it looks like a token.
URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s\"'?#]*)"
                          r"(?::(?P<password>[^@/\s\"'?#]*))?@")
# A credential has a digit; "Basic configuration" in a comment is no credential.
AUTH_SCHEME = re.compile(r"\b(?:Bearer|Basic)\s+(?P<secret>(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{8,})",
                         re.IGNORECASE)
# Tokens recognisable by their prefix: GitLab (runner, PAT, deploy, trigger, CI job, OAuth, feed...),
# the legacy registration token, GitHub, Slack, AWS access key ids.
PREFIXED_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?:gl(?:rt|rtr|pat|dt|ptt|cbt|oas|ft|imt|agent|soat|wt)-|GR1348941|gh[pousr]_|github_pat_"
    r"|xox[abprs]-|AKIA|ASIA)[A-Za-z0-9_.-]{8,}")
# NAME=value in free text (scripts, comments, options): the value of a secret name.
ASSIGNMENT = re.compile(r"(?<![A-Za-z0-9_.-])(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>[^\s\"'`;&|,]+)")
BLOB = re.compile(r"(?<![A-Za-z0-9+/])(?P<blob>[A-Za-z0-9+/]{32,}={0,2})(?![A-Za-z0-9+/=])")
# Digests are public: `sha256:<hex>` is no secret.
DIGEST_PREFIX = re.compile(r"(?:sha\d+|md5|blake\w*):$", re.IGNORECASE)
# key = "value" or key = 'value' inside a comment line of config.toml.
COMMENTED_PAIR = re.compile(r"(?P<key>[A-Za-z0-9_.-]+)\s*=\s*(?:\"(?P<basic>(?:[^\"\\]|\\.)*)\"|'(?P<literal>[^']*)')")
QUOTED = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'([^']*)'")


def secret_name(name):
    """Whether a variable, option, header or setting name says its value is a secret."""
    return isinstance(name, str) and name != AUTH_ENV and bool(SECRET_NAME.search(name))


def _is_blob(blob):
    if blob.startswith("/"):
        return False  # a path
    bare = blob.rstrip("=")
    if re.match(r"^[0-9a-fA-F]+$", bare):
        return bool(re.search(r"[0-9]", bare) and re.search(r"[a-fA-F]", bare))
    return bool(re.search(r"[0-9]", bare) and re.search(r"[a-z]", bare) and re.search(r"[A-Z]", bare))


def _blobs(text):
    for match in BLOB.finditer(text):
        if not DIGEST_PREFIX.search(text[max(0, match.start() - 16):match.start()]) and _is_blob(match.group("blob")):
            yield match.group("blob")


def _url_secret(match):
    """The secret part of URL userinfo, or None (`git@` or `ci-user@` alone is no secret)."""
    if match.group("password"):
        return match.group("password")
    user = match.group("user")
    if user and (len(user) >= 16 or PREFIXED_TOKEN.match(user)):
        return user
    return None


def shape_secrets(text):
    """Secrets recognisable by their shape in any string: URL userinfo, `Bearer ...`, prefixed tokens,
    NAME=value of a secret name, long base64 or hex blobs (digests excepted)."""
    found = set()
    if not isinstance(text, str) or not text:
        return found
    for match in URL_USERINFO.finditer(text):
        found.add(_url_secret(match))
    found.update(m.group("secret") for m in AUTH_SCHEME.finditer(text))
    found.update(m.group(0) for m in PREFIXED_TOKEN.finditer(text))
    found.update(m.group("value") for m in ASSIGNMENT.finditer(text) if secret_name(m.group("name")))
    found.update(_blobs(text))
    found.discard(None)
    found.discard("")
    return found


def _decoded_password(auth):
    """The password inside a Docker `auth` string (base64 of user:password), or None."""
    try:
        raw = base64.b64decode(auth.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    return raw.partition(":")[2] or None


def _auth_entry_secrets(entry):
    """The secrets of one Docker `auths` entry, the base64 `auth` docker writes for it included."""
    found = set()
    if not isinstance(entry, dict):
        return found
    found.update(v for k, v in entry.items() if k in SECRET_AUTH_KEYS and isinstance(v, str))
    if isinstance(entry.get("auth"), str):
        found.add(_decoded_password(entry["auth"]))
    username, password = entry.get("username"), entry.get("password")
    if isinstance(username, str) and isinstance(password, str) and password:
        found.add(base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii"))
    return found


def _entry_secrets(entry, split_options=False):
    """The secrets of one `NAME=value` environment entry (or machine option): by name, by shape,
    and those of a DOCKER_AUTH_CONFIG (an unparsable one is a secret as a whole)."""
    if not isinstance(entry, str):
        return set()
    found = shape_secrets(entry)
    name, sep, value = entry.partition("=")
    if not sep or not value:
        return found
    if split_options:
        name = name.lstrip("-")
    if name == AUTH_ENV:
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        found.update(collect(data) if isinstance(data, dict) else {value})
    elif secret_name(name):
        found.add(value)
    return found


def _header_secret(table):
    """A {name, value} header table ([runners.kubernetes] lifecycle http_headers)."""
    if isinstance(table.get("name"), str) and isinstance(table.get("value"), str) and secret_name(table["name"]):
        return {table["value"]}
    return set()


def _collect_mapping(data, free_form):
    found = _header_secret(data)
    if isinstance(data.get("auth"), str) or isinstance(data.get("registry"), str):
        # an entry of the legacy ~/.dockercfg (registries at the top), or of a `registries` list
        found |= _auth_entry_secrets(data)
    for key, value in data.items():
        if isinstance(value, str):
            if key in SECRET_KEYS or (free_form and secret_name(key)):
                found.add(value)
            found |= shape_secrets(value)
        elif key == "auths" and isinstance(value, dict):
            for entry in value.values():
                found |= _auth_entry_secrets(entry) if isinstance(entry, dict) else {entry}
        elif key == "HttpHeaders" and isinstance(value, dict):
            found.update(v for v in value.values() if isinstance(v, str))  # Authorization and friends
        elif key in ("environment",) + tuple(OPTION_LISTS) and isinstance(value, list):
            for entry in value:
                found |= _entry_secrets(entry, split_options=key in OPTION_LISTS)
        else:
            found |= _collect(value, free_form or key in FREE_FORM_TABLES)
    return found


def _collect(data, free_form=False):
    if isinstance(data, dict):
        return _collect_mapping(data, free_form)
    if isinstance(data, list):
        found = set()
        for value in data:
            found |= _collect(value, free_form)
        return found
    return shape_secrets(data) if isinstance(data, str) else set()


def collect(data):
    """Every secret string in parsed config.toml, config.json or DOCKER_AUTH_CONFIG data.

    By position (SECRET_KEYS, `auths` entries, `HttpHeaders` values), by name (environment entries,
    machine options, free-form plugin tables, header tables) and by shape (shape_secrets) anywhere.
    """
    return {s for s in _collect(data) if isinstance(s, str) and s and s.lower() not in PUBLIC_VALUES}


def comment_secrets(text):
    """Secrets in the comments of a config.toml (a commented-out `# token = "glrt-..."` too)."""
    found = set()
    for line in (text or "").splitlines():
        if "#" not in line:
            continue
        body = line.split("#", 1)[1]
        for match in COMMENTED_PAIR.finditer(body):
            value = match.group("basic") if match.group("basic") is not None else match.group("literal")
            key = match.group("key").rsplit(".", 1)[-1]
            if value and (key in SECRET_KEYS or secret_name(key)):
                found.update((value, _unescaped(value)) if match.group("basic") is not None else (value,))
        for match in QUOTED.finditer(body):
            found |= _entry_secrets(match.group(1) if match.group(1) is not None else match.group(2))
        found |= shape_secrets(body)
    return {s for s in found if s and s.lower() not in PUBLIC_VALUES}


def _unescaped(value):
    """A basic string's value as written in a comment, unescaped (TOML and JSON escapes agree)."""
    try:
        return json.loads('"%s"' % value)
    except ValueError:
        return value


def _forms(secret):
    """How a secret may be spelled in TOML, JSON and JSON inside TOML text."""
    forms = {secret}
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms.add(escaped)
        forms.add(json.dumps(escaped, ensure_ascii=ascii_only)[1:-1])
    return forms


def _mask_shapes(text):
    """Mask what looks like a secret even when it was not collected (too short, or only in this text)."""
    def userinfo(match):
        secret = _url_secret(match)
        if secret is None:
            return match.group(0)
        if match.group("password"):
            return "%s%s:%s@" % (match.group("scheme"), match.group("user"), MASK)
        return "%s%s@" % (match.group("scheme"), MASK)

    text = URL_USERINFO.sub(userinfo, text)
    return AUTH_SCHEME.sub(lambda m: m.group(0)[:m.start("secret") - m.start(0)] + MASK, text)


def mask(text, secrets):
    """Text with every secret (in its raw, JSON- and TOML-escaped forms) and every secret-shaped
    string replaced by ********. Secrets shorter than MIN_SECRET_LENGTH are left to mask_data."""
    if not text:
        return text or ""
    for secret in sorted((s for s in secrets if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True):
        for form in sorted(_forms(secret), key=len, reverse=True):
            if form in text:
                text = text.replace(form, MASK)
    return _mask_shapes(text)


def mask_value(value, secrets):
    """One string value: ******** when it is a secret as a whole (any length), else mask()."""
    if value in secrets:
        return MASK
    return mask(value, secrets)


def mask_data(data, secrets):
    """A copy of parsed data with every string value masked; keys stay (they are registries, names)."""
    if isinstance(data, dict):
        return {key: mask_data(value, secrets) for key, value in data.items()}
    if isinstance(data, list):
        return [mask_data(value, secrets) for value in data]
    if isinstance(data, str):
        return mask_value(data, secrets)
    return data


def auth_names(auths):
    """The user names and e-mails of a Docker `auths` mapping ({registry: entry}) that are none of its
    other values: who logs in is no secret."""
    entries = [e for e in auths.values() if isinstance(e, dict)] if isinstance(auths, dict) else []
    names = {v for e in entries for k, v in e.items() if k in PUBLIC_AUTH_KEYS and isinstance(v, str)}
    others = {v for e in entries for k, v in e.items() if k not in PUBLIC_AUTH_KEYS and isinstance(v, str)}
    return names - others


def no_log(module, secrets, shown=()):
    """Hide secrets in every result, warning and -vvv output of an AnsibleModule.

    `shown`: values AnsibleModule hides only because a no_log option holds them next to secrets (the user
    names of an `auths` mapping, see auth_names); masked as substrings they would garble the whole output
    ("ci" in every "ci-runner"), so they are shown again unless they are secrets too. Also a value the user asked
    to get back (runner_registration's return_token, under the task's own no_log).
    """
    secrets = {s for s in secrets if isinstance(s, str)}
    module.no_log_values.update(s for s in secrets if len(s) >= MIN_SECRET_LENGTH)
    module.no_log_values.difference_update(set(shown) - secrets)
