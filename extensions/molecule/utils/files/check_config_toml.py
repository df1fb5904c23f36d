# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check one host's config.toml against what the inventory declared (molecule verify, on the controller).

    check_config_toml.py < request.json

The request: ``{"path": the fetched config.toml, "gocheck": path of tests/gocheck/gocheck,
"global": runner_global, "runners": runner_runners, "survivors": [text that must still be in the
file], "registry": {"cert_dir", "image", "digest"} or null}``.

The file is decoded by the Go checker (BurntSushi/toml into structs typed like GitLab Runner's), so
a value of a wrong TOML type fails here as it would fail the runner.  Then: every declared global
key and every declared runner key has the declared value as the runner sees it (image, services,
FF_NETWORK_PER_BUILD, feature flags, environment entries, settings); exactly one
DOCKER_AUTH_CONFIG entry per runner that declares registry credentials, with the declared
``auths`` (base64 of user:password) and ``credHelpers``; text that was there before converge is
still there.  With ``registry`` given, each such DOCKER_AUTH_CONFIG is also used as skopeo's
auth file against the real registry and must pull the image's manifest (tests/functional/registry.py).
Prints ``{"ok", "problems", "checked"}``; exits 1 when something is wrong.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
# [runners.docker] keys the runner decodes from a string or an array of strings.
STRING_OR_ARRAY = ("pull_policy", "allowed_pull_policies")


def gocheck(binary, path):
    proc = subprocess.run([binary, "--json", path], capture_output=True, text=True, check=False)
    try:
        return json.loads(proc.stdout.splitlines()[0])
    except (IndexError, ValueError):
        return {"ok": False, "errors": ["gocheck gave no JSON (rc %s): %s" % (proc.returncode, proc.stderr)],
                "config": None}


def env_map(entries):
    found = {}
    for entry in entries or []:
        key, _sep, value = entry.partition("=")
        found.setdefault(key, []).append(value)
    return found


def same(got, want):
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    return got == want


def check_auth_config(name, raw, want, problems):
    try:
        data = json.loads(raw)
    except ValueError as exc:
        problems.append("%s: DOCKER_AUTH_CONFIG is not JSON: %s" % (name, exc))
        return None
    for registry, entry in (want.get("auths") or {}).items():
        got = ((data.get("auths") or {}).get(registry) or {}).get("auth")
        if "auth" in entry:
            expected = entry["auth"]
        else:
            expected = base64.b64encode(("%s:%s" % (entry.get("username"), entry.get("password")))
                                        .encode("utf-8")).decode("ascii")
        if got != expected:
            problems.append("%s: DOCKER_AUTH_CONFIG auths[%s] is not the declared user:password" % (name, registry))
    if want.get("credHelpers") is not None and data.get("credHelpers") != want["credHelpers"]:
        problems.append("%s: DOCKER_AUTH_CONFIG credHelpers %r, declared %r"
                        % (name, data.get("credHelpers"), want["credHelpers"]))
    if want.get("credsStore") is not None and data.get("credsStore") != want["credsStore"]:
        problems.append("%s: DOCKER_AUTH_CONFIG credsStore %r, declared %r"
                        % (name, data.get("credsStore"), want["credsStore"]))
    return data


def check_runner(want, runners, problems):
    name = want["name"]
    found = [runner for runner in runners if runner.get("name") == name]
    if len(found) != 1:
        problems.append("%s: %d [[runners]] with this name" % (name, len(found)))
        return None
    got = found[0]
    if want.get("state", "present") == "absent":
        problems.append("%s: declared absent but present" % name)
        return None
    docker = got.get("docker") or {}
    for key, value in (want.get("docker") or {}).items():
        if key == "services":
            got_services = docker.get("services") or []
            if len(got_services) != len(value):
                problems.append("%s: %d services, declared %d" % (name, len(got_services), len(value)))
                continue
            for index, (have, service) in enumerate(zip(got_services, value)):
                for skey, sval in service.items():
                    if not same(have.get(skey), sval):
                        problems.append("%s: services[%d].%s = %r, declared %r"
                                        % (name, index, skey, have.get(skey), sval))
        elif key in STRING_OR_ARRAY and isinstance(value, str) and docker.get(key) == [value]:
            continue  # the runner decodes a string as a one-element list
        elif not same(docker.get(key), value):
            problems.append("%s: docker.%s = %r, declared %r" % (name, key, docker.get(key), value))
    flags = dict(want.get("feature_flags") or {})
    if want.get("network_per_build") is not None:
        flags["FF_NETWORK_PER_BUILD"] = want["network_per_build"]
    for key, value in flags.items():
        have = (got.get("feature_flags") or {}).get(key)
        if not same(have, value):
            problems.append("%s: feature_flags.%s = %r, declared %r" % (name, key, have, value))
    environment = env_map(got.get("environment"))
    for key, value in (want.get("environment") or {}).items():
        if environment.get(key) != [value]:
            problems.append("%s: environment %s = %r, declared %r" % (name, key, environment.get(key), value))
    for key, value in (want.get("settings") or {}).items():
        if not isinstance(value, dict) and not same(got.get(key), value):
            problems.append("%s: %s = %r, declared %r" % (name, key, got.get(key), value))
    auth_entries = environment.get("DOCKER_AUTH_CONFIG", [])
    if want.get("docker_auth_config"):
        if len(auth_entries) != 1:
            problems.append("%s: %d DOCKER_AUTH_CONFIG entries, want 1" % (name, len(auth_entries)))
            return None
        return check_auth_config(name, auth_entries[0], want["docker_auth_config"], problems)
    return None


def pull_with(name, auth_config, registry, problems):
    """skopeo inspect with the runner's DOCKER_AUTH_CONFIG as the only auth file."""
    sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "functional"))
    import registry as reg  # pylint: disable=import-outside-toplevel

    with tempfile.TemporaryDirectory(prefix="runnerkit-verify-") as tmp:
        authfile = os.path.join(tmp, "auth.json")
        with open(authfile, "w", encoding="utf-8") as handle:
            json.dump(auth_config, handle)
        rc, out, err = reg.inspect(registry["image"], authfile, registry["cert_dir"])
    if rc != 0:
        problems.append("%s: skopeo with DOCKER_AUTH_CONFIG as auth file failed: %s" % (name, reg.skopeo_message(err)))
    elif json.loads(out).get("Digest") != registry["digest"]:
        problems.append("%s: skopeo saw digest %s, registry has %s" % (name, json.loads(out).get("Digest"),
                                                                       registry["digest"]))


def main():
    request = json.load(sys.stdin)
    problems = []
    checked = 0
    result = gocheck(request["gocheck"], request["path"])
    if not result.get("ok") or result.get("config") is None:
        problems.append("gocheck rejects the file as GitLab Runner would: %s" % "; ".join(result.get("errors") or []))
        config = {}
    else:
        config = result["config"]
    for key, value in (request.get("global") or {}).items():
        checked += 1
        have = config.get(key)
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                if not same((have or {}).get(sub), subvalue):
                    problems.append("global %s.%s = %r, declared %r" % (key, sub, (have or {}).get(sub), subvalue))
        elif not same(have, value):
            problems.append("global %s = %r, declared %r" % (key, have, value))
    runners = config.get("runners") or []
    for want in request.get("runners") or []:
        checked += 1
        if want.get("state") == "absent":
            if any(runner.get("name") == want["name"] for runner in runners):
                problems.append("%s: declared absent but present" % want["name"])
            continue
        auth_config = check_runner(want, runners, problems)
        registry = request.get("registry")
        if auth_config is not None and registry and registry["host"] in (auth_config.get("auths") or {}):
            pull_with(want["name"], auth_config, registry, problems)
    with open(request["path"], encoding="utf-8") as handle:
        text = handle.read()
    for survivor in request.get("survivors") or []:
        checked += 1
        if survivor not in text:
            problems.append("no longer in the file: %r" % survivor)
    json.dump({"ok": not problems, "problems": problems, "checked": checked}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
