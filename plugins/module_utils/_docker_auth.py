# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The Docker auth data model shared by DOCKER_AUTH_CONFIG, config.json and the filters.

Pure functions on plain data. Facts: shared/reference/gitlab-runner-config-and-auth.md §5 and
docker-config-and-credential-helpers.md §1-2.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

MASK = "********"
# Keys of an `auths` entry that hold a secret (docker/cli types.AuthConfig).
SECRET_AUTH_KEYS = frozenset(("auth", "password", "identitytoken", "registrytoken"))
# A helper is run as docker-credential-<name>; the runner refuses path characters in it.
HELPER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
# host[:port] followed by an optional /path; lower-case is not required (the runner lower-cases).
REGISTRY_KEY = re.compile(
    r"^(?P<scheme>https?://)?(?P<host>[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?)"
    r"(?P<path>/[A-Za-z0-9._/:-]*)?$",
    re.IGNORECASE,
)
DOCKER_HUB_KEY = "https://index.docker.io/v1/"


class AuthConfigError(ValueError):
    """Invalid Docker auth data; the message names the offending key."""


def encode_auth(username, password):
    """The base64 `auth` string docker/cli and the runner decode."""
    return base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")


def decode_auth(auth):
    """Return (username, password) of an `auth` string, or raise AuthConfigError like the runner."""
    try:
        raw = base64.b64decode(auth.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise AuthConfigError("is not valid base64 of 'user:password'")
    username, sep, password = raw.partition(":")
    if not sep or not username:
        raise AuthConfigError("must decode to 'user:password' with a non-empty user")
    return username, password


def registry_key_warnings(key):
    """Keys the runner accepts but never matches the way users expect (reference §5.5)."""
    lowered = key.lower()
    if lowered in ("index.docker.io", "index.docker.io/v1", "index.docker.io/v1/"):
        return ["registry key '%s' never matches Docker Hub images without a scheme; use 'docker.io' or '%s'"
                % (key, DOCKER_HUB_KEY)]
    if lowered.split("/")[0] == "registry-1.docker.io":
        return ["registry key '%s' never matches Docker Hub images; use 'docker.io' or '%s'" % (key, DOCKER_HUB_KEY)]
    match = REGISTRY_KEY.match(key)
    if match and match.group("scheme") and (match.group("path") or "/") != "/" and lowered != DOCKER_HUB_KEY:
        return ["registry key '%s' has a scheme, so the runner drops its path '%s' and applies it to the whole host"
                % (key, match.group("path"))]
    return []


def validate_registry_key(key, where):
    if not isinstance(key, str) or not REGISTRY_KEY.match(key):
        raise AuthConfigError(
            "%s: registry key %r is not a registry host[:port] or host[:port]/path (no wildcards, no other "
            "schemes than http:// or https://)" % (where, key))


def validate_helper_name(name, where):
    if not isinstance(name, str) or not HELPER_NAME.match(name):
        raise AuthConfigError(
            "%s: helper %r must be a bare name such as 'ecr-login' (the runner runs docker-credential-<name> "
            "from its PATH and refuses path characters)" % (where, name))
    if name.startswith("docker-credential-"):
        raise AuthConfigError(
            "%s: helper %r must not repeat the 'docker-credential-' prefix; use %r"
            % (where, name, name[len("docker-credential-"):]))


def _auth_entry(registry, entry, where):
    """One `auths` entry: {username, password} or {auth} -> {"auth": base64}."""
    if not isinstance(entry, dict):
        raise AuthConfigError("%s.auths[%s]: must be a mapping with username/password or auth" % (where, registry))
    unknown = sorted(set(entry) - {"username", "password", "auth", "email"})
    if unknown:
        raise AuthConfigError("%s.auths[%s]: unsupported keys %s (use username/password or auth)"
                              % (where, registry, ", ".join(unknown)))
    if entry.get("auth") is not None:
        if entry.get("username") is not None or entry.get("password") is not None:
            raise AuthConfigError("%s.auths[%s]: give either auth or username/password, not both" % (where, registry))
        if not isinstance(entry["auth"], str):
            raise AuthConfigError("%s.auths[%s].auth: must be a string" % (where, registry))
        try:
            decode_auth(entry["auth"])
        except AuthConfigError as exc:
            raise AuthConfigError("%s.auths[%s].auth %s" % (where, registry, exc))
        return {"auth": entry["auth"]}
    username, password = entry.get("username"), entry.get("password")
    if not isinstance(username, str) or not username or ":" in username:
        raise AuthConfigError("%s.auths[%s].username: must be a non-empty string without ':'" % (where, registry))
    if not isinstance(password, str):
        raise AuthConfigError("%s.auths[%s].password: must be a string" % (where, registry))
    return {"auth": encode_auth(username, password)}


def build_auth_config(spec, where="docker_auth_config"):
    """Validated DOCKER_AUTH_CONFIG data from {auths, credHelpers, credsStore}.

    Returns (data, warnings). username/password become the base64 `auth` the runner expects.
    """
    if not isinstance(spec, dict):
        raise AuthConfigError("%s: must be a mapping with auths, credHelpers or credsStore" % where)
    unknown = sorted(set(k for k, v in spec.items() if v is not None) - {"auths", "credHelpers", "credsStore"})
    if unknown:
        raise AuthConfigError("%s: unsupported keys %s (use auths, credHelpers, credsStore)" % (where, ", ".join(unknown)))
    data, warnings = {}, []
    auths = spec.get("auths") or {}
    helpers = spec.get("credHelpers") or {}
    for name, value in (("auths", auths), ("credHelpers", helpers)):
        if not isinstance(value, dict):
            raise AuthConfigError("%s.%s: must be a mapping of registry to entry" % (where, name))
    if auths:
        data["auths"] = {}
        for registry, entry in auths.items():
            validate_registry_key(registry, where + ".auths")
            warnings.extend(registry_key_warnings(registry))
            data["auths"][registry] = _auth_entry(registry, entry, where)
    if helpers:
        data["credHelpers"] = {}
        for registry, helper in helpers.items():
            validate_registry_key(registry, where + ".credHelpers")
            warnings.extend(registry_key_warnings(registry))
            validate_helper_name(helper, "%s.credHelpers[%s]" % (where, registry))
            data["credHelpers"][registry] = helper
    store = spec.get("credsStore")
    if store is not None:
        validate_helper_name(store, where + ".credsStore")
        warnings.append("%s.credsStore '%s' is used for every registry the helper lists, Docker Hub included; "
                        "prefer credHelpers per registry" % (where, store))
        data["credsStore"] = store
    return data, warnings


def compact_json(data):
    """The DOCKER_AUTH_CONFIG form: compact JSON with sorted keys (stable, so reruns compare equal)."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def parse_auth_config(text):
    """Parsed DOCKER_AUTH_CONFIG JSON, or None when it is not a JSON object (the runner discards it)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def redact_auth_config(data):
    """A copy of auth data with every secret replaced by MASK (usernames are not secret)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    auths = data.get("auths")
    if isinstance(auths, dict):
        out["auths"] = {
            key: ({k: (MASK if k in SECRET_AUTH_KEYS else v) for k, v in entry.items()}
                  if isinstance(entry, dict) else MASK)
            for key, entry in auths.items()
        }
    return out


def auth_config_secrets(data):
    """Every secret string in auth data, including the password decoded from `auth`."""
    secrets = set()
    auths = data.get("auths") if isinstance(data, dict) else None
    for entry in (auths or {}).values():
        if not isinstance(entry, dict):
            continue
        for key in SECRET_AUTH_KEYS:
            if isinstance(entry.get(key), str) and entry[key]:
                secrets.add(entry[key])
        if isinstance(entry.get("auth"), str):
            try:
                secrets.add(decode_auth(entry["auth"])[1])
            except AuthConfigError:
                pass
    secrets.discard("")
    return secrets


def redact_auth_config_text(text):
    """Mask the secrets of a DOCKER_AUTH_CONFIG string; unparsable text is masked whole."""
    data = parse_auth_config(text)
    if data is None:
        return MASK
    return compact_json(redact_auth_config(data))
