# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The rotation state file: expiries of static registry credentials, and which of them to renew.

One JSON file per host (default /var/lib/runnerkit/rotate_ecr_auth.json, 0600 in a 0700 directory), read by
runner_auth_info. Two writers share it, each owning its own keys:

* the rotation (roles ecr_tokens and registry_tokens): ``targets``, ``expires_at``, ``registries``
  ({key: {expires_at, ...}}), ``auths`` ({key: {auth}}: the credentials it wrote, as it always held them)
  and ``docker_config_registries`` (ecr_tokens only);
* the docker_config module: ``static`` ({config.json path: {key: {fingerprint, expires_at}}}) for entries given
  with an ``expires_at`` or whose password is a JWT. Only a fingerprint of the password is kept there, never the
  password: the audit recognizes the credential in use by it.

Everything here is pure (plain data in, plain data out) but `record_static_expiries`, the one place that writes
docker_config's records (through _files, under the link rules of docs/security.md).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _ecr as ecr
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files

STATE_VERSION = 1
STATE_MODE, STATE_DIR_MODE = 0o600, 0o700
STATIC = "static"
# The keys the rotation writes; a rotation replaces them and keeps every other key (docker_config's `static`).
ROTATION_KEYS = ("version", "targets", "expires_at", "registries", "auths", "docker_config_registries")
SOURCES = ("ecr", "lookup")
VALUE_FIELDS = ("username", "password", "auth", "expires_at")


class RotationError(Exception):
    """Bad input; the message names the registry or option."""


# ---------------------------------------------------------------- expiry of one credential


def jwt_expiration(token):
    """The `exp` (epoch seconds) of a JWT (header.payload.signature, base64url JSON), or None. The signature
    is not checked: only when the token stops working matters here."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode((parts[1] + "=" * (-len(parts[1]) % 4)).encode("ascii"))
        data = json.loads(payload.decode("utf-8"))
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        return None
    exp = data.get("exp") if isinstance(data, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def state_host(key):
    """The registry host (host[:port], docker.io for Docker Hub) the audit looks a credential up by."""
    return auth.key_registry_path(key).split("/", 1)[0]


def fingerprint(host, secret):
    """What the state file keeps instead of a password: sha256 over the host and the secret."""
    digest = hashlib.sha256(("%s\0%s" % (host.lower(), secret)).encode("utf-8")).hexdigest()
    return "sha256:" + digest


def parse_time(value, where):
    try:
        return ecr.to_utc(value)
    except ecr.ECRError as exc:
        raise RotationError("%s: %s" % (where, exc))


def _epoch(moment):
    return moment.timestamp()


# ---------------------------------------------------------------- docker_config's records


def _secret_of(entry, label):
    """The password of a docker_config static entry (from password or the base64 auth)."""
    if entry.get("password") is not None:
        return entry["password"]
    try:
        return auth.decode_auth(entry["auth"])[1]
    except auth.AuthConfigError as exc:
        raise RotationError("%s.auth: %s" % (label, exc))


def static_records(registries, where="registries"):
    """{key: {fingerprint, expires_at} or None} for docker_config's registries parameter.

    A static entry gets a record from its `expires_at`, else from the `exp` of a JWT password; an entry
    with neither, a helper entry and an absent entry get None (any record of that key is dropped).
    Keys are normalized like config.json's; bad input raises RotationError naming the entry.
    """
    records = {}
    for entry in registries or []:
        key = auth.normalize_registry_key(entry["registry"], "%s[%s]" % (where, entry["registry"]))
        label = "%s[%s]" % (where, entry["registry"])
        given = entry.get("expires_at")
        static = (entry.get("state") or "present") == "present" and entry.get("helper") is None
        if given is not None and not static:
            raise RotationError("%s.expires_at: only static credentials (username/password or auth) expire here"
                                % label)
        if not static:
            records[key] = None
            continue
        secret = _secret_of(entry, label)
        if given is not None:
            expires = _epoch(parse_time(given, label + ".expires_at"))
        else:
            expires = jwt_expiration(secret)
        records[key] = None if expires is None else {
            "fingerprint": fingerprint(state_host(key), secret), "expires_at": ecr.format_time(expires)}
    return records


def plan_static(state, records, scope):
    """(new state, {key: expires_at recorded}) with `records` applied to the `static` records of `scope` (the file
    the credentials are in: each writer's records stay apart, so two files with one registry do not flap); the
    other keys of the state are kept as they are."""
    new = dict(state or {})
    static = dict(new.get(STATIC)) if isinstance(new.get(STATIC), dict) else {}
    section = dict(static.get(scope)) if isinstance(static.get(scope), dict) else {}
    for key, record in sorted(records.items()):
        if record is None:
            section.pop(key, None)
        else:
            section[key] = record
    if section:
        static[scope] = section
    else:
        static.pop(scope, None)
    if static:
        new[STATIC] = static
    else:
        new.pop(STATIC, None)
    new.setdefault("version", STATE_VERSION)
    return new, {key: record["expires_at"] for key, record in records.items() if record}


def parse_state(text, path):
    """The state file's data ({} for a missing or empty file); RotationError for one that is no JSON object."""
    if not text or not text.strip():
        return {}
    return auth.json_object(text, RotationError, "{path} is no JSON ({exc}); fix or remove it",
                            "{path} holds no JSON object; fix or remove it", path=path)


def dump_state(state):
    return json.dumps(state, indent=4, sort_keys=True) + "\n"


def record_static_expiries(path, records_by_scope, check_mode=False, selinux=False):
    """Apply static_records' records, per file they are in ({scope: records}, such as {config.json path: ...}), to
    the state file `path` (root's, 0600 in 0700), in one locked write: (changed, {scope: {key: expires_at}}).

    Written only when a record changes, never in check mode. With nothing to record, a missing file stays missing
    and a broken one is left alone (the rotation reports it); with records, a broken one raises RotationError.
    FileError where the link rules refuse the path.
    """
    path = files.real_path(path)

    def plan(text, _stat):
        current = parse_state(text, path)
        new, recorded = current, {}
        for scope, records in sorted(records_by_scope.items()):
            new, recorded[scope] = plan_static(new, records, scope)
        return (new, recorded), new.get(STATIC) != current.get(STATIC)

    def write(_text, stat, planned):
        files.atomic_write(path, dump_state(planned[0]), stat=stat, mode=STATE_MODE, selinux=selinux)

    try:
        update = files.update_locked(path, plan, write, check_mode, STATE_DIR_MODE)
    except RotationError:
        if any(any(records.values()) for records in records_by_scope.values()):
            raise
        return False, {}
    return update.needed, update.planned[1]


def recorded_expiries(state):
    """{(host, password or fingerprint): epoch} of every credential the state records an expiry for."""
    out = {}
    if not isinstance(state, dict):
        return out
    auths, registries = state.get("auths"), state.get("registries")
    if isinstance(auths, dict) and isinstance(registries, dict):
        for key, entry in auths.items():
            info = registries.get(key)
            try:
                password = auth.decode_auth(entry["auth"])[1]
                out[(state_host(key), password)] = _epoch(ecr.to_utc(info["expires_at"]))
            except (auth.AuthConfigError, ecr.ECRError, KeyError, TypeError, AttributeError):
                continue
    static = state.get(STATIC)
    for section in (static.values() if isinstance(static, dict) else ()):
        for key, record in (section.items() if isinstance(section, dict) else ()):
            try:
                out[(state_host(key), record["fingerprint"])] = _epoch(ecr.to_utc(record["expires_at"]))
            except (ecr.ECRError, KeyError, TypeError, AttributeError):
                continue
    return out


def merge_state(on_disk, rotation_state):
    """The state a rotation writes: its own keys from `rotation_state`, every other key as on disk."""
    kept = {k: v for k, v in (on_disk or {}).items() if k not in ROTATION_KEYS} if isinstance(on_disk, dict) else {}
    kept.update(rotation_state or {})
    return kept


# ---------------------------------------------------------------- the general rotation


def credential_definitions(credentials):
    """Checked copies of the rotation's credential entries, keyed by their normalized registry key."""
    out = {}
    for index, entry in enumerate(credentials or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("registry"), str) or not entry["registry"]:
            raise RotationError("credentials[%d]: every entry needs a registry" % index)
        label = "credentials[%s]" % entry["registry"]
        key = auth.normalize_registry_key(entry["registry"], label)
        if key in out:
            raise RotationError("credentials: %r is listed twice (as registry key %r)" % (entry["registry"], key))
        source = entry.get("source")
        if source not in SOURCES:
            raise RotationError("%s.source: expected one of %s, got %r" % (label, ", ".join(SOURCES), source))
        if source == "lookup" and not entry.get("lookup"):
            raise RotationError("%s.lookup: give the lookup plugin's name (source=lookup)" % label)
        if source == "ecr":
            try:
                ecr.parse_registry(entry["registry"])
            except ecr.ECRError as exc:
                raise RotationError("%s: %s" % (label, exc))
        if entry.get("expires_at") is not None and entry.get("valid_for") is not None:
            raise RotationError("%s: give expires_at or valid_for, not both" % label)
        for name in ("renew_before", "valid_for"):
            if entry.get(name) is not None:
                _duration(entry[name], "%s.%s" % (label, name))
        if entry.get("expires_at") is not None:
            parse_time(entry["expires_at"], label + ".expires_at")
        out[key] = dict(entry, key=key)
    return out


def _duration(value, where):
    try:
        return ecr.parse_duration(value, where)
    except ecr.ECRError as exc:
        raise RotationError(str(exc))


def rotation_targets(credentials, targets):
    """What the credentials are written to, plus where each comes from: stored credentials are reused only
    for equal targets. Lookup terms and options are left out (they may hold secrets)."""
    definitions = credential_definitions(credentials)
    sources = [{"registry": key, "source": d["source"], "lookup": d.get("lookup") or None}
               for key, d in sorted(definitions.items())]
    return dict(targets or {}, credentials=sources)


def renewal_plan(credentials, state, targets, renew_before, now=None):
    """Which credentials to renew now: {ecr: [hosts], lookups: [entries], due: [keys], reasons: {key: why}}.

    A credential is due when the state was written for other targets, records no credential or expiry
    for it, or its recorded expiry is within its renew_before (the entry's, else `renew_before`) of now.
    """
    now = ecr.to_utc(now) if now is not None else ecr.utc_now()
    definitions = credential_definitions(credentials)
    default_before = _duration(renew_before, "renew_before")
    state = state if isinstance(state, dict) else {}
    same_targets = state.get("targets") == rotation_targets(credentials, targets)
    auths = state.get("auths") if isinstance(state.get("auths"), dict) else {}
    infos = state.get("registries") if isinstance(state.get("registries"), dict) else {}
    plan = {"ecr": [], "lookups": [], "due": [], "reasons": {}}
    for key, definition in sorted(definitions.items()):
        before = default_before
        if definition.get("renew_before") is not None:
            before = _duration(definition["renew_before"], "credentials[%s].renew_before" % definition["registry"])
        recorded = (infos.get(key) or {}).get("expires_at") if isinstance(infos.get(key), dict) else None
        if "targets" in state and not same_targets:
            reason = "the state was written for other targets"
        elif not same_targets or key not in auths or recorded is None:
            reason = "no credential in use is recorded"
        else:
            expires = parse_time(recorded, "state registries[%s].expires_at" % key)
            if expires > now + datetime.timedelta(seconds=before):
                plan["reasons"][key] = "valid until %s" % ecr.format_time(expires)
                continue
            reason = "expires at %s, within %ss" % (ecr.format_time(expires), before)
        plan["reasons"][key] = reason
        plan["due"].append(key)
        if definition["source"] == "ecr":
            plan["ecr"].append(key)
        else:
            plan["lookups"].append({k: v for k, v in definition.items() if k in (
                "registry", "key", "lookup", "terms", "kwargs")})
    return plan


def _value_fields(value, label):
    """{username, password, auth, expires_at} of one lookup value: a mapping, a JSON object or a bare secret."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise RotationError("%s: the lookup returned %d values; it must return exactly one" % (label, len(value)))
        value = value[0]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                raise RotationError("%s: the lookup returned text that starts like JSON but is none" % label)
        else:
            return {"password": text}
    if not isinstance(value, dict):
        raise RotationError("%s: the lookup returned a %s; expected a secret or a mapping with password (or auth) "
                            "and optionally username and expires_at" % (label, type(value).__name__))
    if isinstance(value.get("data"), dict) and "password" not in value and "auth" not in value:
        value = value["data"]  # a Vault KV v2 answer (community.hashi_vault.vault_kv2_get)
    fields = {k: value[k] for k in VALUE_FIELDS if value.get(k) not in (None, "")}
    if "password" not in fields and "auth" not in fields:
        raise RotationError("%s: the lookup's mapping has no password or auth (keys: %s)"
                            % (label, ", ".join(sorted(str(k) for k in value)) or "none"))
    return fields


def looked_up_credential(definition, value, now):
    """(auth, expires_at datetime) of a looked-up secret; the expiry from the value, the JWT, valid_for or the
    entry's expires_at, in that order. RotationError naming the registry when there is none."""
    label = "credentials[%s]" % definition["registry"]
    fields = _value_fields(value, label)
    username = fields.get("username") or definition.get("username")
    if "auth" in fields:
        try:
            username, password = auth.decode_auth(fields["auth"])
        except auth.AuthConfigError as exc:
            raise RotationError("%s: the looked-up auth %s" % (label, exc))
    else:
        password = fields["password"]
        if not username:
            raise RotationError("%s.username: the looked-up value carries no username; give one" % label)
    token = base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
    if "expires_at" in fields:
        return token, parse_time(fields["expires_at"], label + " (the looked-up expires_at)")
    exp = jwt_expiration(password)
    if exp is not None:
        return token, ecr.to_utc(exp)
    if definition.get("valid_for") is not None:
        return token, now + datetime.timedelta(seconds=_duration(definition["valid_for"], label + ".valid_for"))
    if definition.get("expires_at") is not None:
        return token, parse_time(definition["expires_at"], label + ".expires_at")
    raise RotationError("%s: the looked-up secret carries no expiry (no expires_at, no JWT exp); give expires_at or "
                        "valid_for" % label)


def rotation_result(credentials, state, targets, plan, ecr_fetched=None, looked_up=None, now=None):
    """The credentials to write now and the state to remember.

    {renewed: [keys], auths: {key: {auth}}, docker_config_registries: [{registry, auth}], expires_at: {key: iso},
    state: {...}}. `ecr_fetched` is ecr_authorization's result (or None), `looked_up` {key: lookup value}.
    Credentials not due are those of `state`.
    """
    now = ecr.to_utc(now) if now is not None else ecr.utc_now()
    definitions = credential_definitions(credentials)
    state = state if isinstance(state, dict) else {}
    old_auths = state.get("auths") if isinstance(state.get("auths"), dict) else {}
    old_infos = state.get("registries") if isinstance(state.get("registries"), dict) else {}
    due = set(plan.get("due") or [])
    fetched = ecr_fetched or {}
    auths, infos = {}, {}
    for key, definition in sorted(definitions.items()):
        label = "credentials[%s]" % definition["registry"]
        if key not in due:
            auths[key], infos[key] = old_auths[key], old_infos[key]
            continue
        if definition["source"] == "ecr":
            try:
                token = fetched["auths"][key]["auth"]
                expires = parse_time(fetched["registries"][key]["expires_at"], label)
            except (KeyError, TypeError):
                raise RotationError("%s: ecr_authorization returned no token for it" % label)
        else:
            if key not in (looked_up or {}):
                raise RotationError("%s: its lookup was not run" % label)
            token, expires = looked_up_credential(definition, looked_up[key], now)
        if expires <= now:
            raise RotationError("%s: the new credential already expired at %s; renew it at its source"
                                % (label, ecr.format_time(expires)))
        auths[key] = {"auth": token}
        infos[key] = {"expires_at": ecr.format_time(expires), "source": definition["source"],
                      "renewed_at": ecr.format_time(now)}
    expires_at = {key: info["expires_at"] for key, info in infos.items()}
    new_state = {"version": STATE_VERSION, "targets": rotation_targets(credentials, targets),
                 "expires_at": min(expires_at.values()) if expires_at else None,
                 "registries": infos, "auths": auths}
    return {"renewed": sorted(due), "auths": auths, "expires_at": expires_at, "state": new_state,
            "docker_config_registries": [{"registry": key, "auth": entry["auth"]} for key, entry in sorted(auths.items())]}
