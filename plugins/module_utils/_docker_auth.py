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

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

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


DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
# Paths docker login and old clients put after a scheme; they carry no meaning.
IGNORED_SCHEME_PATHS = ("", "/", "/v1", "/v1/", "/v2", "/v2/")


def _without_tag(path):
    """A `:tag` after the last `/` is dropped, as the runner's convertToRegistryPath does."""
    head, sep, last = path.rpartition("/")
    return head + sep + last.split(":", 1)[0]


def normalize_registry_key(key, where, strict=True):
    """The one key every spelling of a registry is written and compared as.

    Follows how the runner (reference gitlab-runner §5.5) and the Docker CLI (docker-config §1.4)
    match keys: Docker Hub (`docker.io`, `index.docker.io`, `registry-1.docker.io`, with or without
    scheme, `/v1/`, `/v2/`) becomes the CLI's own key `https://index.docker.io/v1/`; `http(s)://`
    and a trailing `/`, `/v1/` or `/v2/` are dropped; the host is lower-cased, the port kept as given
    (both compare host:port exactly, so `host:443` stays apart from `host`); `host[:port]/namespace`
    keys keep their path (namespace-scoped credentials), a `:tag` after its last `/` is dropped, and
    a Hub alias in front of a namespace becomes `docker.io`.
    `strict=False` is for keys found in a file: a scheme followed by a path counts as its host,
    which is how the runner and the CLI read it, instead of being refused.
    """
    validate_registry_key(key, where)
    match = REGISTRY_KEY.match(key)
    host, path = match.group("host").lower(), (match.group("path") or "")
    if match.group("scheme"):
        if strict and path not in IGNORED_SCHEME_PATHS:
            raise AuthConfigError(
                "%s: registry key %r has a scheme and a path; the runner drops the path after a scheme, so write "
                "%r for the whole registry or %r for that namespace only"
                % (where, key, host, host + path.rstrip("/")))
        return DOCKER_HUB_KEY if host in DOCKER_HUB_HOSTS else host
    path = _without_tag(path.rstrip("/")) if path.rstrip("/") else ""
    if host in DOCKER_HUB_HOSTS:
        return "docker.io" + path if path else DOCKER_HUB_KEY
    return host + path


def rewritten_key_warnings(given, key):
    """A Docker Hub alias the runner would never have matched, written as the key that works."""
    host = given.split("/", 1)[0].lower()
    if "://" not in given and host in DOCKER_HUB_HOSTS[1:]:
        return ["registry key '%s' is written as '%s': as given, it never matches Docker Hub images in the runner"
                % (given, key)]
    return []


def equivalent_keys(keys, key):
    """The keys of a file that mean the same registry as the normalized `key` (itself included)."""
    return [k for k in keys if _normalized_or_none(k) == key]


def validate_helper_name(name, where):
    if not isinstance(name, str) or not HELPER_NAME.match(name):
        raise AuthConfigError(
            "%s: helper %r must be a bare name such as 'ecr-login' (the runner runs docker-credential-<name> "
            "from its PATH and refuses path characters)" % (where, name))
    if name.startswith("docker-credential-"):
        raise AuthConfigError(
            "%s: helper %r must not repeat the 'docker-credential-' prefix; use %r"
            % (where, name, name[len("docker-credential-"):]))


def _auth_entry(label, entry):
    """One `auths` entry: {username, password} or {auth} -> {"auth": base64}. `label` names it in errors."""
    if not isinstance(entry, dict):
        raise AuthConfigError("%s: must be a mapping with username/password or auth" % label)
    unknown = sorted(set(entry) - {"username", "password", "auth", "email"})
    if unknown:
        raise AuthConfigError("%s: unsupported keys %s (use username/password or auth)" % (label, ", ".join(unknown)))
    if entry.get("auth") is not None:
        if entry.get("username") is not None or entry.get("password") is not None:
            raise AuthConfigError("%s: give either auth or username/password, not both" % label)
        if not isinstance(entry["auth"], str):
            raise AuthConfigError("%s.auth: must be a string" % label)
        try:
            decode_auth(entry["auth"])
        except AuthConfigError as exc:
            raise AuthConfigError("%s.auth %s" % (label, exc))
        return {"auth": entry["auth"]}
    username, password = entry.get("username"), entry.get("password")
    if not isinstance(username, str) or not username or ":" in username:
        raise AuthConfigError("%s.username: must be a non-empty string without ':'" % label)
    if not isinstance(password, str):
        raise AuthConfigError("%s.password: must be a string" % label)
    return {"auth": encode_auth(username, password)}


def build_auth_config(spec, where="docker_auth_config"):
    """Validated DOCKER_AUTH_CONFIG data from {registries | auths, credHelpers; credsStore}.

    Returns (data, warnings). `registries` is the list docker_config takes (registries_auth_config);
    `auths`/`credHelpers` is the older mapping form, username/password becoming the base64 `auth`. Both may
    come together (playbooks/rotate_ecr_auth.yml adds its tokens as `auths`), but not for one registry.
    """
    if not isinstance(spec, dict):
        raise AuthConfigError("%s: must be a mapping with registries, auths, credHelpers or credsStore" % where)
    known = {"registries", "auths", "credHelpers", "credsStore"}
    unknown = sorted(set(k for k, v in spec.items() if v is not None) - known)
    if unknown:
        raise AuthConfigError("%s: unsupported keys %s (use registries, auths, credHelpers, credsStore)"
                              % (where, ", ".join(unknown)))
    data, warnings = _mapping_auth_config(spec, where)
    if spec.get("registries") is not None:
        listed, more = registries_auth_config(spec["registries"], where + ".registries")
        mapped = set(data.get("auths") or {}) | set(data.get("credHelpers") or {})
        for section, entries in listed.items():
            for key, value in entries.items():
                if key in mapped:
                    raise AuthConfigError("%s: registry %r is in both registries and the older auths/credHelpers "
                                          "mapping; give it once" % (where, key))
                data.setdefault(section, {})[key] = value
        warnings.extend(more)
    store = spec.get("credsStore")
    if store is not None:
        validate_helper_name(store, where + ".credsStore")
        warnings.append("%s.credsStore '%s' is used for every registry the helper lists, Docker Hub included; "
                        "prefer credHelpers per registry" % (where, store))
        data["credsStore"] = store
    return data, warnings


def _mapping_auth_config(spec, where):
    """(data, warnings) of the older {auths: {registry: entry}, credHelpers: {registry: helper}} form."""
    data, warnings = {}, []
    auths = spec.get("auths") or {}
    helpers = spec.get("credHelpers") or {}
    for name, value in (("auths", auths), ("credHelpers", helpers)):
        if not isinstance(value, dict):
            raise AuthConfigError("%s.%s: must be a mapping of registry to entry" % (where, name))
    for section, values in (("auths", auths), ("credHelpers", helpers)):
        for registry, entry in values.items():
            key = normalize_registry_key(registry, "%s.%s" % (where, section))
            warnings.extend(registry_key_warnings(key) + rewritten_key_warnings(registry, key))
            if key in data.get(section, {}):
                raise AuthConfigError("%s.%s: %r and another key both mean %r" % (where, section, registry, key))
            if section == "auths":
                value = _auth_entry("%s.auths[%s]" % (where, registry), entry)
            else:
                validate_helper_name(entry, "%s.credHelpers[%s]" % (where, registry))
                value = entry
            data.setdefault(section, {})[key] = value
    return data, warnings


def normalize_keep(registries, where):
    """The normalized registry keys of a keep_auths list."""
    if registries is None:
        return []
    if not isinstance(registries, list):
        raise AuthConfigError("%s: must be a list of registries, got %r" % (where, registries))
    return [normalize_registry_key(r, "%s[%d]" % (where, i)) for i, r in enumerate(registries)]


def _normalized_or_none(key):
    """The normalized form of a key found in a file, or None when no client could match it."""
    try:
        return normalize_registry_key(key, "key", strict=False)
    except AuthConfigError:
        return None


def with_kept_auths(desired, current, keep):
    """`desired` auth data plus the `auths` entries that `current` has for the `keep` registries and
    `desired` neither sets nor hands to a helper: tokens another job renews stay (rotate_ecr_auth.yml)."""
    found = (current or {}).get("auths") if isinstance(current, dict) else None
    if not keep or not isinstance(found, dict):
        return desired
    taken = set(desired.get("auths") or {}) | set(desired.get("credHelpers") or {})
    kept = {}
    for key, entry in found.items():
        normalized = _normalized_or_none(key)
        if normalized in keep and normalized not in taken and normalized not in kept:
            kept[normalized] = entry
    if not kept:
        return desired
    merged = dict(desired)
    merged["auths"] = dict(desired.get("auths") or {}, **kept)
    return merged


def compact_json(data):
    """The DOCKER_AUTH_CONFIG form: compact JSON with sorted keys (stable, so reruns compare equal)."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def json_object(text, error, no_json, no_object, **names):
    """The JSON object in `text`; else `error` with the message `no_json` (no JSON; {exc} is the parser's
    complaint) or `no_object` (JSON of another kind), both str.format templates filled with `names`."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise error(no_json.format(exc=exc, **names)) from exc
    if not isinstance(value, dict):
        raise error(no_object.format(**names))
    return value


def parse_auth_config(text):
    """Parsed DOCKER_AUTH_CONFIG JSON, or None when it is not a JSON object (the runner discards it)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------- image references (runner §5.5)


def image_registry_path(image):
    """The registry path the runner matches credentials on for an image reference.

    Exactly the runner's normalizeImageRef (>= 18.3): the tag is cut at the first ':' of the last
    path element (so `img@sha256:...` keeps `img@sha256`, as the runner does); a first component
    with '.' or ':' or equal to `localhost` is the registry, otherwise `docker.io/` is prepended
    (no `library/`); `index.docker.io` becomes `docker.io`; the host is lower-cased.
    """
    if not isinstance(image, str) or not image.strip():
        raise AuthConfigError("image reference %r is empty or not a string" % (image,))
    parts = image.strip().split("/")
    parts[-1] = parts[-1].split(":", 1)[0]
    host, rest = split_registry(parts)
    return "/".join([host] + rest)


def split_registry(parts):
    """(registry host, the other path parts) of an image name split at '/'; the one rule Docker and the runner share.

    The first part is the registry when there are more and it has '.' or ':' or is `localhost` (lower-cased);
    otherwise the image is Docker Hub's, `docker.io` (`index.docker.io` is the same).
    """
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first.lower() == "localhost"):
        host, rest = first.lower(), list(parts[1:])
    else:
        host, rest = "docker.io", list(parts)
    return ("docker.io" if host == "index.docker.io" else host), rest


def image_registry(image):
    """The registry host[:port] of an image reference, as the runner sees it (`docker.io` for Hub)."""
    return image_registry_path(image).split("/", 1)[0]


def key_registry_path(key):
    """The registry path the runner makes of an auths/credHelpers key (convertToRegistryPath)."""
    lowered = key.lower()
    for scheme in ("https://", "http://"):
        if lowered.startswith(scheme):
            host = key[len(scheme):].split("/", 1)[0].lower()
            return "docker.io" if host == "index.docker.io" else host
    path = key.rstrip("/")
    if "/" in path:
        head, last = path.rsplit("/", 1)
        path = head + "/" + last.split(":", 1)[0]
    host, sep, rest = path.partition("/")
    return host.lower() + sep + rest


# ---------------------------------------------------------------- config.json (docker/cli layout)

# Top-level keys in the order docker/cli's ConfigFile struct writes them.
CONFIG_JSON_ORDER = (
    "auths", "HttpHeaders", "psFormat", "imagesFormat", "networksFormat", "pluginsFormat", "volumesFormat",
    "statsFormat", "detachKeys", "credsStore", "credHelpers", "serviceInspectFormat", "servicesFormat",
    "tasksFormat", "secretFormat", "configFormat", "nodesFormat", "pruneFilters", "proxies", "currentContext",
    "cliPluginsExtraDirs", "plugins", "aliases", "features", "experimental",
)
STATIC_FIELDS = ("auth", "username", "password", "identitytoken", "registrytoken")
# A helper cannot store: as credsStore it would break docker login and Docker Hub pulls.
NON_STORE_HELPERS = ("ecr-login",)


def _sorted_maps(value):
    if isinstance(value, dict):
        return {k: _sorted_maps(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_maps(v) for v in value]
    return value


def dump_config_json(data):
    """config.json as the Docker CLI writes it: tabs, struct key order, sorted maps, HTML escaped,
    no trailing newline, `auths` always present. Keys the CLI does not know follow, as they were."""
    ordered = {"auths": {}}
    for key in CONFIG_JSON_ORDER:
        if key in data:
            ordered[key] = _sorted_maps(data[key])
    for key, value in data.items():
        if key not in ordered:
            ordered[key] = value
    text = json.dumps(ordered, indent="\t", ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


BOM = "\ufeff"
GO_JSON_BOM = ("it starts with a UTF-8 byte order mark (BOM), which Go's JSON decoder (Docker's and the runner's) "
               "rejects (invalid character 'ï' looking for beginning of value)")


BOM_DROPPED = ("%s started with a UTF-8 byte order mark (BOM): Docker and the runner cannot read such a file (Go's "
               "JSON decoder rejects it, so the runner used none of its credentials); it is written without it")


def strip_bom(text):
    """(text without a leading BOM, whether it had one). docker_config writes config.json as the Docker CLI
    does, which is without one: the only form Docker and the runner can read."""
    if text is not None and text.startswith(BOM):
        return text[len(BOM):], True
    return text, False


def _refuse_constant(name):
    raise AuthConfigError("cannot parse JSON: %s is not a JSON value; Go's JSON decoder (Docker's and the runner's) "
                          "rejects NaN and Infinity, so the runner cannot read this file" % name)


def go_json_decoder():
    """A JSONDecoder that refuses NaN, Infinity and -Infinity like Go's encoding/json (Python reads them)."""
    return json.JSONDecoder(parse_constant=_refuse_constant)


def parse_config_json(text):
    """Parsed config.json; AuthConfigError with line and column when it is not a JSON object, or for what
    Go's decoder refuses (a BOM, NaN, Infinity): the runner could not read the file."""
    if text is None or not text.strip():
        return {}
    if text.startswith(BOM):
        raise AuthConfigError("cannot parse JSON: %s" % GO_JSON_BOM)
    try:
        data = go_json_decoder().decode(text)
    except AuthConfigError:
        raise
    except ValueError as exc:
        raise AuthConfigError("cannot parse JSON: %s" % exc)
    if not isinstance(data, dict):
        raise AuthConfigError("the top level is a %s, not a JSON object" % type(data).__name__)
    for section in ("auths", "credHelpers"):
        if section in data and not isinstance(data[section], dict):
            raise AuthConfigError("%s is a %s, not an object" % (section, type(data[section]).__name__))
    if "credsStore" in data and not isinstance(data["credsStore"], str):
        raise AuthConfigError("credsStore is not a string")
    return data


# The suboptions of one `registries` entry, shared by the argument specs of docker_config (`registries`)
# and runner_config (`runners[].docker_auth_config.registries`); registry_entry() reads one.
REGISTRY_ENTRY_OPTIONS = dict(
    registry=dict(type="str", required=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    auth=dict(type="str", no_log=True),
    helper=dict(type="str"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    expires_at=dict(type="str"),  # of static credentials; read by _rotation.static_records, not by registry_entry
)


def registry_entry(entry, where, index):
    """One `registries` entry as {key, state, helper | auth}: the key normalized, the helper name
    checked, username/password (or auth) as the base64 `auth`. Returns (entry, warnings)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("registry"), str) or not entry["registry"]:
        raise AuthConfigError("%s[%d]: every entry needs a registry" % (where, index))
    registry = entry["registry"]
    label = "%s[%s]" % (where, registry)
    key = normalize_registry_key(registry, label)
    warnings = registry_key_warnings(key) + rewritten_key_warnings(registry, key)
    if (entry.get("state") or "present") == "absent":
        return {"key": key, "state": "absent"}, warnings
    if entry.get("helper") is not None:
        if any(entry.get(k) is not None for k in ("username", "password", "auth")):
            raise AuthConfigError("%s: give either helper or username/password/auth, not both" % label)
        validate_helper_name(entry["helper"], label + ".helper")
        return {"key": key, "state": "present", "helper": entry["helper"]}, warnings
    creds = {k: entry[k] for k in ("username", "password", "auth") if entry.get(k) is not None}
    if not creds:
        raise AuthConfigError("%s: give username and password, auth, or helper" % label)
    return {"key": key, "state": "present", "auth": _auth_entry(label, creds)["auth"]}, warnings


def build_registry_entries(registries, where="registries"):
    """Validated desired entries: [{key, state, helper | auth}], keys normalized, duplicates refused."""
    if registries is not None and not isinstance(registries, list):
        raise AuthConfigError("%s: must be a list of registry entries, got %s" % (where, type(registries).__name__))
    entries, seen, warnings = [], {}, []
    for index, given in enumerate(registries or []):
        entry, more = registry_entry(given, where, index)
        if entry["key"] in seen:
            raise AuthConfigError("%s: %r and %r are the same registry key %r"
                                  % (where, seen[entry["key"]], given["registry"], entry["key"]))
        seen[entry["key"]] = given["registry"]
        warnings.extend(more)
        entries.append(entry)
    return entries, warnings


def registries_auth_config(registries, where="registries"):
    """The DOCKER_AUTH_CONFIG data {auths, credHelpers} of a `registries` list: (data, warnings).

    An absent entry has no place in it: the variable is written whole, so it is simply left out."""
    entries, warnings = build_registry_entries(registries, where)
    data = {}
    for entry in entries:
        if "auth" in entry:
            data.setdefault("auths", {})[entry["key"]] = {"auth": entry["auth"]}
        elif "helper" in entry:
            data.setdefault("credHelpers", {})[entry["key"]] = entry["helper"]
    return data, warnings


def _static_entry(old, auth):
    """The auths entry for new credentials: other fields kept, stale credential fields dropped."""
    entry = {k: v for k, v in (old or {}).items() if k not in STATIC_FIELDS} if isinstance(old, dict) else {}
    entry["auth"] = auth
    return entry


def plan_config_json(current, entries, creds_store=None, allow_creds_store=False, exclusive=False, keep=()):
    """Merge the desired registries into parsed config.json data: (new data, changes, warnings).

    `changes` maps each registry key to added/updated/removed/unchanged; it never holds a secret.
    `creds_store`: None leaves it alone, "" removes it, a name sets it (needs allow_creds_store).
    `keep`: normalized keys whose `auths` entry `exclusive` leaves in place.
    """
    new = json.loads(json.dumps(current))
    auths = new.setdefault("auths", {})
    helpers = dict(new.get("credHelpers") or {})
    changes, warnings, listed = {}, [], set()

    def snapshot(keys):
        return {k: (auths.get(k), helpers.get(k)) for k in keys if k in auths or k in helpers}

    def note(key, before):
        after = snapshot(set(before) | {key})
        if before == after:
            changes.setdefault(key, "unchanged")
        elif not before:
            changes[key] = "added"
        elif not after:
            changes[key] = "removed"
        else:
            changes[key] = "updated"

    for entry in entries:
        key = entry["key"]
        listed.add(key)
        # One registry, one entry: other spellings of it go, whatever the entry's state.
        spellings = set(equivalent_keys(list(auths) + list(helpers), key)) | {key}
        before = snapshot(spellings)
        old_static = next((auths[k] for k in [key] + sorted(spellings - {key}) if isinstance(auths.get(k), dict)), None)
        for other in spellings - {key}:
            auths.pop(other, None)
            helpers.pop(other, None)
        if entry["state"] == "absent":
            auths.pop(key, None)
            helpers.pop(key, None)
        elif "helper" in entry:
            helpers[key] = entry["helper"]
            if isinstance(auths.get(key), dict) and any(k in auths[key] for k in STATIC_FIELDS):
                auths.pop(key)  # stale static credentials the helper replaces
        else:
            auths[key] = _static_entry(old_static, entry["auth"])
            helpers.pop(key, None)  # a helper would win over the static credentials
        note(key, before)
    if exclusive:
        for key in sorted((set(auths) | set(helpers)) - listed):
            before = snapshot([key])
            if _normalized_or_none(key) not in keep:
                auths.pop(key, None)
            helpers.pop(key, None)
            note(key, before)
    if helpers or "credHelpers" in current:
        new["credHelpers"] = helpers
    if creds_store == "":
        new.pop("credsStore", None)
    elif creds_store is not None:
        validate_helper_name(creds_store, "creds_store")
        if creds_store in NON_STORE_HELPERS:
            raise AuthConfigError("creds_store: %r cannot store credentials and as credsStore breaks Docker Hub pulls; "
                                  "map its registries with helper in registries instead" % creds_store)
        if not allow_creds_store:
            raise AuthConfigError("creds_store: a global credsStore sends every registry, Docker Hub included, to %r; "
                                  "set allow_creds_store: true if that is really wanted" % creds_store)
        new["credsStore"] = creds_store
    store = new.get("credsStore")
    if store:
        shadowed = sorted(k for k in auths if k not in helpers)
        warnings.append("credsStore %r is used for every registry without a credHelpers entry (Docker Hub included)%s"
                        % (store, "; it shadows the static auths of " + ", ".join(shadowed) if shadowed else ""))
    return new, changes, warnings


def masked_config_json(data, found):
    """config.json text for a diff: the Docker CLI layout with every secret in `found` and every
    secret-shaped string masked (empty for no file)."""
    return dump_config_json(secrets.mask_data(data, found)) + "\n" if data is not None else ""
