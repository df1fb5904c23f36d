# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""GitLab Runner's registry credential resolution, as the Docker executor does it. Pure: no I/O.

Facts: shared/reference/gitlab-runner-config-and-auth.md §3, §5, §7.5, checked against the runner's
helpers/docker/auth/auth.go (AllConfigs, ConfigForImage) and docker/cli v29.7.2, which the runner
links (configfile.LoadFromReader, credentials.nativeStore):

* Sources in order: $DOCKER_AUTH_CONFIG, the runner process's home config file, the job payload.
  Inside one source: static `auths`, then what `credsStore` lists (list + get) overwrites identical
  keys, then each `credHelpers` get overwrites identical keys; the entries are ordered by key.
* Every entry gets the registry path of its *server address*; across the merged list the first entry
  of a path wins, later ones are dropped.
* A source that fails (bad JSON, bad base64, missing helper, helper error) is discarded whole and
  resolution goes on; a helper name with a path aborts resolution (every pull fails).
* The image is matched longest path prefix first on `/` boundaries.
* A helper's "credentials not found" is no error. docker/cli then leaves the server address empty,
  so the entry gets the path "" and never matches; but it has replaced a static `auths` entry of the
  identical key. A credsStore entry that is "not found" keeps the address of an `auths` entry of
  the same key, so it is an empty entry that shadows every later source for that path.

Helpers are never run here: `run_helper(name, action, stdin) -> (rc, stdout)` is injected (it
raises HelperUnavailable when the binary cannot be started). Without it, helpers are checked with
the injected `check_helper(name) -> problem or None` and their answers are unknown.
"""

from __future__ import annotations

import json
import re

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _ecr as ecr
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _rotation as rotation
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils._config_toml import AUTH_ENV, NETWORK_FLAG, env_split

SOURCE_ENV = "DOCKER_AUTH_CONFIG"
SOURCE_HOME = "home_config"
SOURCE_JOB = "job_payload"
SOURCE_NONE = "none"
KIND_STATIC, KIND_HELPER, KIND_STORE, KIND_JOB = "static", "helper", "store", "job"
NOT_FOUND = "credentials not found in native keychain"
# Messages of the helper protocol (docker-credential-helpers credentials/error.go and Serve): no secret.
PROTOCOL_MESSAGES = (NOT_FOUND, "no credentials server URL", "no credentials username")
PROTOCOL_USAGE = re.compile(r"^(Usage: \S+ <store\|get\|erase\|list\|version>|\S+: unknown action: \S+)$")
DOCKER_EXECUTORS = ("docker", "docker-windows", "docker+machine", "docker-autoscaler")
EXPIRY_WARN_SECONDS = 14 * 86400  # other static credentials: deploy tokens, robot accounts, JWT access tokens
# Fields of docker/cli's ConfigFile and AuthConfig this resolver reads (Go's JSON matches names
# case-insensitively when there is no exact match).
CONFIG_FIELDS = ("auths", "credsStore", "credHelpers")
AUTH_FIELDS = ("auth", "username", "password", "email", "serveraddress", "identitytoken", "registrytoken")


class HelperUnavailable(Exception):
    """The helper binary cannot be run (not on PATH, not executable, cannot switch user)."""


class HelperTimeout(HelperUnavailable):
    """The helper did not answer within the timeout and was killed (the runner would wait forever)."""


class SourceError(Exception):
    """The source is discarded whole by the runner; the message says why."""


class PathTraversal(SourceError):
    """A helper name with a path: the runner aborts resolution, so every pull fails."""


class SourceTimeout(SourceError):
    """A helper of the source timed out: the source is discarded, its images are reported as timeout."""


# ---------------------------------------------------------------- small Go semantics


def go_base(name):
    """Go's filepath.Base on Unix: "" -> ".", trailing slashes dropped, last element."""
    if name == "":
        return "."
    stripped = name.rstrip("/")
    if stripped == "":
        return "/"
    return stripped.rsplit("/", 1)[-1]


def go_parse_bool(text):
    """Go's strconv.ParseBool: True, False or None (unparsable)."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _shell_name(text):
    """Go os.Expand's getShellName: (name, width)."""
    special = "*#$@!?-0123456789"
    if text[0] == "{":
        if len(text) > 2 and text[1] in special and text[2] == "}":
            return text[1], 3
        end = text.find("}")
        if end == 1:
            return "", 2
        if end == -1:
            return "", 1
        return text[1:end], end + 1
    if text[0] in special:
        return text[0], 1
    match = re.match(r"[A-Za-z0-9_]*", text)
    return match.group(0), len(match.group(0))


def expand(text, lookup):
    """Go os.Expand with the runner's variable lookup (`$$` is a literal `$`). Returns (text, names)."""
    out, names, start, index = [], [], 0, 0
    while index < len(text):
        if text[index] == "$" and index + 1 < len(text):
            out.append(text[start:index])
            name, width = _shell_name(text[index + 1:])
            if name == "" and width > 0:
                pass  # invalid syntax: Go eats it
            elif name == "":
                out.append("$")
            else:
                names.append(name)
                out.append("$" if name == "$" else (lookup(name) or ""))
            index += width
            start = index + 1
        index += 1
    out.append(text[start:])
    return "".join(out), [n for n in names if n != "$"]


# ---------------------------------------------------------------- docker/cli config parsing


def _fields(mapping, names):
    """Keys of a decoded JSON object mapped onto Go struct fields (exact name first, then any case)."""
    out = {}
    lowered = {name.lower(): name for name in names}
    for key in sorted(mapping, key=lambda k: k in names):  # exact names last, so they win
        field = key if key in names else lowered.get(key.lower())
        if field is not None:
            out[field] = mapping[key]
    return out


def _first_json_value(text):
    """json.NewDecoder(r).Decode: the first JSON value of the text; trailing text is not read. Like Go, a
    BOM, NaN and Infinity are errors."""
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        return None
    if stripped.startswith(auth.BOM):
        raise SourceError("invalid JSON: %s" % auth.GO_JSON_BOM)
    try:
        value, _end = auth.go_json_decoder().raw_decode(stripped)
    except auth.AuthConfigError as exc:
        raise SourceError("invalid JSON: %s" % str(exc).replace("cannot parse JSON: ", ""))
    except ValueError as exc:
        raise SourceError("invalid JSON: %s" % exc)
    return value


def load_config(text):
    """docker/cli ConfigFile.LoadFromReader: {auths: {key: entry}, credsStore, credHelpers}.

    `auth` is decoded into username/password and must be base64 of "user:password" with a
    non-empty user; anything else makes the whole source fail (SourceError).
    """
    value = _first_json_value(text or "")
    if value is None:
        return {"auths": {}, "credsStore": "", "credHelpers": {}}
    if not isinstance(value, dict):
        raise SourceError("invalid JSON: the top level is %s, not an object" % type(value).__name__)
    data = _fields(value, CONFIG_FIELDS)
    data = {k: v for k, v in data.items() if v is not None}  # JSON null leaves a Go field empty
    try:
        data = auth.parse_config_json(json.dumps(data))
    except auth.AuthConfigError as exc:
        raise SourceError("invalid JSON: %s" % exc)
    helpers = data.get("credHelpers") or {}
    for key, name in helpers.items():
        if not isinstance(name, str):
            raise SourceError("invalid JSON: credHelpers[%s] is not a string" % key)
    entries = {}
    for key, entry in (data.get("auths") or {}).items():
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise SourceError("invalid JSON: auths[%s] is not an object" % key)
        fields = {k: v for k, v in _fields(entry, AUTH_FIELDS).items() if v is not None}
        for name, field_value in fields.items():
            if not isinstance(field_value, str):
                raise SourceError("invalid JSON: auths[%s].%s is not a string" % (key, name))
        if fields.get("auth"):
            try:
                fields["username"], fields["password"] = auth.decode_auth(fields["auth"])
            except auth.AuthConfigError as exc:
                raise SourceError("auths[%s].auth %s" % (key, exc))
        fields.pop("auth", None)
        fields["serveraddress"] = key
        entries[key] = fields
    return {"auths": entries, "credsStore": data.get("credsStore") or "", "credHelpers": helpers}


def contains_auth(config):
    return bool(config["credsStore"] or config["credHelpers"] or config["auths"])


# ---------------------------------------------------------------- the helper protocol (client side)


def _shown_output(out):
    """A helper's output as an error may show it: only the protocol's own messages, never other text,
    which may hold the very secret (a helper that fails after printing its answer)."""
    text = out.strip()
    if text in PROTOCOL_MESSAGES or PROTOCOL_USAGE.match(text):
        return text
    return "%d bytes not shown: a helper's output may hold a secret" % len(out.encode("utf-8", "replace"))


def _helper_error(action, rc, out):
    return SourceError("error %s credentials - err: exit status %s, out: `%s`"
                       % ("listing" if action == "list" else "getting", rc, _shown_output(out)))


def helper_get(run_helper, name, server):
    """docker-credential-helpers client.Get plus docker/cli's not-found rule: dict or None."""
    rc, out = run_helper(name, "get", server)
    if rc != 0:
        if out.strip() == NOT_FOUND:
            return None
        raise _helper_error("get", rc, out)
    try:
        value = json.loads(out)
    except ValueError as exc:
        raise SourceError("docker-credential-%s get %s: invalid JSON answer: %s" % (name, server, exc))
    if not isinstance(value, dict):
        raise SourceError("docker-credential-%s get %s: the answer is not a JSON object" % (name, server))
    fields = _fields(value, ("ServerURL", "Username", "Secret"))
    for field in ("Username", "Secret"):
        if fields.get(field) is not None and not isinstance(fields[field], str):
            raise SourceError("docker-credential-%s get %s: %s is not a string" % (name, server, field))
    return {"username": fields.get("Username") or "", "secret": fields.get("Secret") or ""}


def helper_list(run_helper, name):
    """client.List: {server URL: username}."""
    rc, out = run_helper(name, "list", "unused")
    if rc != 0:
        raise _helper_error("list", rc, out)
    return auth.json_object(out, SourceError, "docker-credential-{name} list: invalid JSON answer: {exc}",
                            "docker-credential-{name} list: the answer is not a JSON object", name=name)


def _creds(answer):
    """nativeStore: the user name `<token>` means the secret is an identity token."""
    if answer["username"] == "<token>":
        return {"username": "", "password": "", "identitytoken": answer["secret"]}
    return {"username": answer["username"], "password": answer["secret"], "identitytoken": ""}


# ---------------------------------------------------------------- one source


def _entry(key, server_address, kind, helper=None, creds=None, known=True):
    creds = creds or {}
    return {
        "key": key,
        "path": auth.key_registry_path(server_address),
        "kind": kind,
        "helper": helper,
        "username": creds.get("username") or "",
        "password": creds.get("password") or "",
        "identitytoken": creds.get("identitytoken") or "",
        "registrytoken": creds.get("registrytoken") or "",
        "known": known,
    }


def _check(check_helper, name):
    problem = check_helper(name) if check_helper is not None else None
    if problem:
        raise SourceError(problem)


def _store_entries(config, run_helper, check_helper):
    """readConfigsFromCredentialsStore: list, then get for every listed server (nativeStore.GetAll)."""
    store = config["credsStore"]
    if go_base(store) != store:
        raise PathTraversal("credsStore %r: path traversal is not allowed" % store)
    if run_helper is None:
        _check(check_helper, store)
        return {}
    try:
        listed = helper_list(run_helper, store)
        out = {}
        for server in listed:
            answer = helper_get(run_helper, store, server)
            static = config["auths"].get(server)
            creds = _creds(answer) if answer else {}
            address = static["serveraddress"] if static else (server if answer else "")
            out[server] = _entry(server, address, KIND_STORE, store, creds)
    except HelperTimeout as exc:
        raise SourceTimeout(str(exc))
    except HelperUnavailable as exc:
        raise SourceError(str(exc))
    return out


def _helper_entries(config, run_helper, check_helper):
    """readConfigsFromCredentialsHelper: get for each credHelpers key (nativeStore.Get)."""
    helpers = config["credHelpers"]
    for key in sorted(helpers):  # Go's map order is random: report the traversal whenever there is one
        if go_base(helpers[key]) != helpers[key]:
            raise PathTraversal("credHelpers[%s] %r: path traversal is not allowed" % (key, helpers[key]))
    out = {}
    for key in sorted(helpers):
        name = helpers[key]
        if run_helper is None:
            _check(check_helper, name)
            out[key] = _entry(key, key, KIND_HELPER, name, known=False)
            continue
        try:
            answer = helper_get(run_helper, name, key)
        except HelperTimeout as exc:
            raise SourceTimeout(str(exc))
        except HelperUnavailable as exc:
            raise SourceError(str(exc))
        out[key] = _entry(key, key if answer else "", KIND_HELPER, name, _creds(answer) if answer else {})
    return out


def read_source(source, origin, text, run_helper=None, check_helper=None):
    """readConfigsFromReader for one source: a dict with status used|empty|discarded|aborts.

    `entries` are ordered by key like the runner's withStableOrder; `config` is the parsed file
    (no secrets needed from it afterwards, but it holds them: never return it).
    """
    result = {"source": source, "origin": origin, "status": "empty", "error": None, "entries": [],
              "config": None}
    try:
        config = load_config(text)
        result["config"] = config
        if not contains_auth(config):
            return result
        merged = {}
        for key, entry in config["auths"].items():
            merged[key] = _entry(key, entry["serveraddress"], KIND_STATIC, creds=entry)
        if config["credsStore"]:
            merged.update(_store_entries(config, run_helper, check_helper))
        if config["credHelpers"]:
            merged.update(_helper_entries(config, run_helper, check_helper))
    except PathTraversal as exc:
        result.update(status="aborts", error=str(exc))
        return result
    except SourceError as exc:
        result.update(status="discarded", error=str(exc), timed_out=isinstance(exc, SourceTimeout))
        return result
    result["status"] = "used"
    result["entries"] = [merged[key] for key in sorted(merged)]
    return result


def job_source(credentials):
    """The job payload: GitLab sends CI_JOB_TOKEN credentials for its own registry with each job.

    `credentials` are registry URLs (credentials unknown on the host) or {url, username, password}.
    """
    entries = []
    for item in credentials or []:
        if isinstance(item, dict):
            entries.append(_entry(item["url"], item["url"], KIND_JOB, creds=item))
        else:
            entries.append(_entry(item, item, KIND_JOB, known=False))
    return {"source": SOURCE_JOB, "origin": "job payload (GitLab Registry)", "status": "used" if entries else "empty",
            "error": None, "entries": entries, "config": None}


# ---------------------------------------------------------------- all sources, one image


def all_configs(sources):
    """AllConfigs: the merged list (first entry of a path wins) or, on path traversal, the abort."""
    infos, dropped = [], []
    for source in sources:
        if source["status"] == "aborts":
            return {"infos": [], "dropped": dropped, "abort": source}
        if source["status"] != "used":
            continue
        for entry in source["entries"]:
            kept = next((i for i in infos if i["path"] == entry["path"]), None)
            if kept is not None:
                dropped.append({"path": entry["path"], "key": entry["key"], "source": source["source"],
                                "origin": source["origin"], "kept": kept})
                continue
            infos.append(dict(entry, source=source["source"], origin=source["origin"]))
    return {"infos": infos, "dropped": dropped, "abort": None}


def parent_paths(path):
    """reg/ns/img, reg/ns, reg: the paths ConfigForImage tries, most specific first."""
    out = []
    while path:
        out.append(path)
        path = path.rsplit("/", 1)[0] if "/" in path else ""
    return out


def config_for_image(merged, image):
    """ConfigForImage: the entry the runner uses for an image, or None (anonymous pull)."""
    for path in parent_paths(auth.image_registry_path(image)):
        for info in merged["infos"]:
            if info["path"] == path:
                return info
    return None


# ---------------------------------------------------------------- explanations


def _path_host(path):
    return path.split("/", 1)[0]


def _no_port(host):
    return host.rsplit(":", 1)[0] if re.search(r":[0-9]+$", host) else host


def near_misses(image, entries):
    """Why entries that look meant for this image never match it (ports, case, digests, Hub keys)."""
    image_path = auth.image_registry_path(image)
    host = _path_host(image_path)
    candidates = set(parent_paths(image_path))
    problems = []
    for entry in entries:
        path, key = entry["path"], entry["key"]
        if not path or path in candidates:
            continue
        entry_host = _path_host(path)
        if entry_host != host and _no_port(entry_host) == _no_port(host):
            problems.append("key '%s' is for %s, the image is on %s: host and port must match exactly"
                            % (key, entry_host, host))
        elif host == "docker.io" and entry_host in ("index.docker.io", "registry-1.docker.io"):
            problems.append("key '%s' never matches Docker Hub images; use 'docker.io' or '%s'"
                            % (key, auth.DOCKER_HUB_KEY))
        elif entry_host == host and image_path.endswith("@sha256") and path == image_path[:-len("@sha256")]:
            problems.append("key '%s' is scoped to the repository, but the runner cuts a digest reference to '%s', "
                            "so it never matches; key the registry or namespace instead, or pin as name:tag@sha256:..."
                            % (key, image_path))
        elif any(c.lower() == path.lower() for c in candidates):
            problems.append("key '%s' differs from the image path '%s' only in case; paths are case-sensitive"
                            % (key, image_path))
    return problems


def source_problems(source):
    """Problems of one parsed source: keys that never match, global credsStore, helper names."""
    label = source_label(source)
    problems = []
    if source["status"] == "aborts":
        problems.append("%s: %s; the runner aborts credential resolution, so every image pull of the job fails"
                        % (label, source["error"]))
    elif source.get("timed_out"):
        problems.append("%s: %s; the runner has no time limit there and would hang every job that pulls through this "
                        "source; the audit goes on as if the source were discarded" % (label, source["error"]))
    elif source["status"] == "discarded":
        problems.append("%s is discarded whole by the runner (%s); none of its credentials, static auths included, "
                        "are used" % (label, source["error"]))
    config = source.get("config")
    if not config:
        return problems
    keys = list(config["auths"]) + list(config["credHelpers"])
    for key in keys:
        for warning in auth.registry_key_warnings(key):
            problems.append("%s: %s" % (label, warning))
    problems.extend(duplicate_key_problems(label, config))
    for key, name in sorted(config["credHelpers"].items()):
        if go_base(name) == name:
            try:
                auth.validate_helper_name(name, "%s: credHelpers[%s]" % (label, key))
            except auth.AuthConfigError as exc:
                problems.append(str(exc))
        if key in config["auths"] and any(config["auths"][key].get(f) for f in ("username", "password")):
            problems.append("%s: credHelpers[%s] replaces the static auths entry of the same key" % (label, key))
    if config["credsStore"]:
        problems.append("%s: global credsStore '%s' - the runner uses every registry `docker-credential-%s list` "
                        "returns for every job, Docker Hub included, and a failing list discards the whole source "
                        "(static auths too); prefer credHelpers per registry"
                        % (label, config["credsStore"], config["credsStore"]))
    return problems


def duplicate_key_problems(label, config):
    """Different keys the runner reduces to one registry path: it keeps only one of them (reference §5.3)."""
    by_path = {}
    for key in sorted(set(config["auths"]) | set(config["credHelpers"])):
        by_path.setdefault(auth.key_registry_path(key), []).append(key)
    return ["%s: keys %s are the same registry '%s' for the runner; it picks one of them (at random before runner "
            "18.3, the first in sort order since) and ignores the others: keep one"
            % (label, ", ".join("'%s'" % k for k in keys), path)
            for path, keys in sorted(by_path.items()) if len(keys) > 1]


def source_label(source):
    return source["origin"]


def static_expiry_problem(entry, now, expiries=None, warn_seconds=EXPIRY_WARN_SECONDS):
    """Expired or soon-expiring static credentials of a registry other than ECR (_ecr.static_token_problem
    covers those): the expiry recorded in `expiries` for this password, else the `exp` of a JWT password or token."""
    if entry["kind"] != KIND_STATIC:
        return None
    host = _path_host(entry["path"])
    secret = entry["password"] or entry.get("identitytoken") or entry.get("registrytoken")
    if ecr.ECR_HOST.match(host) or not secret:
        return None
    expiries = expiries or {}
    # Recorded by a rotation (with the password) or by docker_config (with its fingerprint only).
    expiration = expiries.get((host, entry["password"]))
    if expiration is None:
        expiration = expiries.get((host, rotation.fingerprint(host, secret)))
    if expiration is None:
        expiration = rotation.jwt_expiration(secret)
    if expiration is None:
        return None
    when = ecr.format_time(expiration)
    left = expiration - now
    if left <= 0:
        return "static credentials for %s expired at %s; pulls fail until they are renewed" % (host, when)
    if left < warn_seconds:
        return "static credentials for %s expire at %s (in %d days); renew them" % (host, when, left // 86400)
    return None


# ---------------------------------------------------------------- the runner's side of config.toml


def runner_environment(runner):
    """{name: value} of a runner's environment array; the last entry of a name wins (like the runner)."""
    env = {}
    for entry in runner.get("environment") or []:
        key, value = env_split(entry)
        if key is not None:
            env[key] = value
    return env


def runner_auth_config(runner, name):
    """The DOCKER_AUTH_CONFIG text a runner's jobs get from its environment, and problems."""
    entries = [e for e in runner.get("environment") or [] if env_split(e)[0] == AUTH_ENV]
    problems = []
    if not entries:
        return None, problems
    if len(entries) > 1:
        problems.append("runner %s: environment has %d DOCKER_AUTH_CONFIG entries; only the last one is used"
                        % (name, len(entries)))
    env = runner_environment(runner)
    text, names = expand(env[AUTH_ENV], env.get)
    unknown = sorted(set(n for n in names if n not in env))
    if names:
        problems.append("runner %s: DOCKER_AUTH_CONFIG contains '$' references (%s); the runner expands them like "
                        "variables%s - write $$ for a literal $"
                        % (name, ", ".join("$" + n for n in names),
                           " (not set in the runner's environment: %s)" % ", ".join(unknown) if unknown else ""))
    return text, problems


def runner_problems(runner, name, auth_source):
    """Per-runner problems that are not about one image."""
    problems = []
    docker = runner.get("docker") if isinstance(runner.get("docker"), dict) else {}
    env = runner_environment(runner)
    flags = runner.get("feature_flags") if isinstance(runner.get("feature_flags"), dict) else {}
    per_build = flags.get(NETWORK_FLAG)
    if per_build is None and NETWORK_FLAG in env:
        per_build = go_parse_bool(env[NETWORK_FLAG])
    if per_build and docker.get("network_mode"):
        problems.append("runner %s: docker.network_mode '%s' is set, so no network per build is created although "
                        "%s is on" % (name, docker["network_mode"], NETWORK_FLAG))
    if auth_source is not None and auth_source["status"] == "used" and any(
            e["kind"] == KIND_STATIC and (e["password"] or e["identitytoken"]) for e in auth_source["entries"]):
        problems.append("runner %s: DOCKER_AUTH_CONFIG in the runner's environment holds static credentials, and "
                        "the runner exports it to every job script, build container and service container; keep "
                        "them in the runner user's ~/.docker/config.json instead" % name)
    return problems


# Pull policies that let a job run an image already on the host without the registry checking its credentials.
CACHED_POLICIES = ("if-not-present", "never")


def _policies(value):
    if isinstance(value, str):
        return [value] if value else []
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def pull_policy_problems(runner, name, private_images):
    """A runner that pulls images with credentials and lets jobs use a cached-image pull policy: a job
    without those credentials can run a private image an earlier job pulled (gitlab-runner issues 37859,
    38706). Jobs may use allowed_pull_policies, or without it the runner's pull_policy (default always)."""
    if not private_images:
        return []
    docker = runner.get("docker") if isinstance(runner.get("docker"), dict) else {}
    allowed = _policies(docker.get("allowed_pull_policies"))
    usable = allowed or _policies(docker.get("pull_policy")) or ["always"]
    cached = [policy for policy in usable if policy in CACHED_POLICIES]
    if not cached:
        return []
    where = "docker.allowed_pull_policies" if allowed else "docker.pull_policy (no allowed_pull_policies)"
    shown = ", ".join(sorted(set(private_images))[:3]) + (", ..." if len(set(private_images)) > 3 else "")
    return ["runner %s: pulls images with credentials (%s) and %s lets jobs use pull policy %s, so a job without "
            "those credentials can run a private image an earlier job left on the host (gitlab-runner issues 37859 "
            "and 38706); set docker.allowed_pull_policies = [\"always\"] (and docker.pull_policy = \"always\")"
            % (name, shown, where, " and ".join(cached))]


def private_service_problem(row, credentialed_hosts):
    """A service image pulled with no credentials from a registry that is private: the runner's other images use
    credentials there, or the probe was refused anonymously. The job's pull of that service fails (or, with a
    cached-image policy, works only while an earlier job's copy is on the host)."""
    if not row["origin"].startswith("docker.services") or row["source"] != SOURCE_NONE or not row["registry_path"]:
        return None
    host = _path_host(row["registry_path"])
    if host in credentialed_hosts:
        why = "other images of this runner use credentials there"
    elif (row.get("probe") or {}).get("status") == "unauthorized":
        why = "it refused anonymous access"
    else:
        return None
    return ("service %s is pulled without credentials from %s, a private registry (%s); add credentials whose key "
            "matches %s (the registry or a namespace above it)" % (row["image"], host, why, row["registry_path"]))


GLOB_CHARS = "*?[{"


def pattern_registry(pattern):
    """The registry host[:port] an allowed_images / allowed_services pattern confines jobs to, "docker.io" for
    Docker Hub names, None when its first component is a glob (any registry)."""
    first, slash, _rest = pattern.partition("/")
    if any(char in first for char in GLOB_CHARS) and (slash or "**" in first):
        return None  # "*/app", "**": doublestar's * stops at a slash, ** does not
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        return "docker.io"
    return first.lower()


def _allowlist_key(registry):
    key = auth.normalize_registry_key(registry, "allowed_registries")
    return "docker.io" if key == auth.DOCKER_HUB_KEY else key.split("/")[0]


def registry_allowlist_problems(runner, name, allowed_registries):
    """Where a runner lets jobs name images (allowed_images) or services (allowed_services) of registries
    the operator did not allow; nothing when no allowlist was asked for."""
    if not allowed_registries:
        return []
    allowed = sorted({_allowlist_key(registry) for registry in allowed_registries})
    suggestion = ", ".join('"%s/**"' % registry for registry in allowed)
    docker = runner.get("docker") if isinstance(runner.get("docker"), dict) else {}
    problems = []
    for key in ("allowed_images", "allowed_services"):
        patterns = [p for p in docker.get(key) or [] if isinstance(p, str)]
        if not patterns:
            problems.append("runner %s: docker.%s is not set, so jobs may name any image of any registry; set "
                            "docker.%s = [%s]" % (name, key, key, suggestion))
            continue
        for pattern in patterns:
            registry = pattern_registry(pattern)
            if registry is None:
                problems.append("runner %s: docker.%s pattern '%s' matches images of any registry; use patterns "
                                "of the allowed registries (%s)" % (name, key, pattern, suggestion))
            elif registry not in allowed:
                problems.append("runner %s: docker.%s pattern '%s' allows images of %s, which is not one of the "
                                "allowed registries (%s)" % (name, key, pattern, registry, ", ".join(allowed)))
    return problems


def runner_images(runner):
    """[(origin, image)] the runner pulls by default: docker.image, services, helper_image."""
    docker = runner.get("docker") if isinstance(runner.get("docker"), dict) else {}
    out = []
    if isinstance(docker.get("image"), str) and docker["image"]:
        out.append(("docker.image", docker["image"]))
    for index, service in enumerate(docker.get("services") or []):
        name = service.get("name") if isinstance(service, dict) else service
        if isinstance(name, str) and name:
            out.append(("docker.services[%d]" % index, name))
    if isinstance(docker.get("helper_image"), str) and docker["helper_image"]:
        out.append(("docker.helper_image", docker["helper_image"]))
    return out


def uses_docker_resolver(runner):
    executor = runner.get("executor")
    return not executor or executor in DOCKER_EXECUTORS


# ---------------------------------------------------------------- one row per runner and image


def public_entry(info):
    """An entry without secrets (usernames may show)."""
    if info is None:
        return None
    return {"key": info["key"], "registry_path": info["path"], "kind": info["kind"], "helper": info["helper"],
            "username": info["username"] or None, "source": info["source"], "origin": info["origin"]}


def explain_image(image, merged, sources, now, job_registries=(), expiries=None, warn_seconds=EXPIRY_WARN_SECONDS):
    """The runner's choice for one image: (match or None, problems). `merged` comes from all_configs."""
    problems = []
    if merged["abort"] is not None:
        abort = merged["abort"]
        problems.append("%s: %s; the runner aborts and the pull fails" % (source_label(abort), abort["error"]))
        return None, problems
    image_path = auth.image_registry_path(image)
    match = config_for_image(merged, image)
    entries = [dict(e, source=s["source"]) for s in sources if s["status"] == "used" for e in s["entries"]]
    if match is None:
        problems.extend(near_misses(image, entries))
        stores = [s for s in sources if s["status"] == "used" and s["config"] and s["config"]["credsStore"]
                  and not any(e["kind"] == KIND_STORE for e in s["entries"])]
        for source in stores:
            problems.append("%s: credsStore '%s' may list credentials for this registry (its helper is run only with "
                            "probe=true)" % (source_label(source), source["config"]["credsStore"]))
    else:
        if match["kind"] in (KIND_STATIC, KIND_STORE, KIND_HELPER) and match["known"] and not (
                match["username"] or match["password"] or match["identitytoken"] or match["registrytoken"]):
            problems.append("the matching entry '%s' of %s has no credentials (empty username and password), so the "
                            "pull is anonymous and every later source is shadowed for %s"
                            % (match["key"], match["origin"], match["path"]))
        if match["kind"] == KIND_STORE and _path_host(match["path"]) == "docker.io":
            problems.append("Docker Hub credentials come from the global credsStore '%s' and apply to every job"
                            % match["helper"])
        if match["kind"] == KIND_STATIC:
            token = ecr.static_token_problem(_path_host(match["path"]), match["password"], now, expiries)
            expiry = static_expiry_problem(match, now, expiries, warn_seconds)
            problems.extend(problem for problem in (token, expiry) if problem)
        if match["source"] != SOURCE_JOB and any(
                auth.key_registry_path(r) in parent_paths(image_path) for r in job_registries or ()):
            problems.append("credentials from %s shadow the CI_JOB_TOKEN credentials GitLab sends for this registry"
                            % match["origin"])
    for entry in entries:
        if (entry["kind"] in (KIND_HELPER, KIND_STORE) and entry["known"] and not entry["path"]
                and auth.key_registry_path(entry["key"]) in parent_paths(image_path)):
            problems.append("docker-credential-%s answered \"credentials not found\" for '%s', so it gives no "
                            "credentials for this image" % (entry["helper"], entry["key"]))
    for dropped in merged["dropped"]:
        if match is not None and dropped["path"] == match["path"]:
            problems.append("key '%s' of %s is ignored: %s already has credentials from %s"
                            % (dropped["key"], dropped["origin"], dropped["path"], dropped["kept"]["origin"]))
    for source in sources:
        if source["status"] != "discarded":
            continue
        key = _would_match(source, image_path)
        if key is None:
            continue
        problems.append("%s is discarded whole (%s), so %s" % (
            source_label(source), source["error"],
            "its key '%s' for this image is not used" % key if key else "none of its credentials are used"))
    return match, problems


def timed_out_source(image, sources):
    """The discarded source whose helper timed out and that may have held this image's credentials."""
    image_path = auth.image_registry_path(image)
    for source in sources:
        if source.get("timed_out") and _would_match(source, image_path) is not None:
            return source
    return None


def _would_match(source, image_path):
    """The key of a discarded source that would have matched the image; "" when it cannot be told."""
    config = source.get("config")
    if not config:
        return ""
    paths = parent_paths(image_path)
    keys = sorted(set(config["auths"]) | set(config["credHelpers"]))
    matching = [k for k in keys if auth.key_registry_path(k) in paths]
    if matching:
        return max(matching, key=lambda k: len(auth.key_registry_path(k)))
    return "" if config["credsStore"] else None
