# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""runner_auth_info's core: read the host as the runner process sees it, resolve every image with _resolve,
probe the registries, and collect the problems and every secret seen (for no_log).

Audit.run() is the audit; check_helpers() is the credential_helpers role's check of installed helpers.
Nothing here writes to the host.
"""

from __future__ import annotations

import json
import os
import pwd
import time

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as toml
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _ecr as ecr
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _gitlab_ci as gitlab_ci
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _helpers as helpers
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _host as host
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _registry_client as registry
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _report as report
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _resolve as resolve
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _rotation as rotation
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets


class AuditError(Exception):
    """Bad input the module reports as its failure message."""


# ---------------------------------------------------------------- probing


class Prober:
    def __init__(self, params):
        self.transport = registry.Transport(ca_file=params["ca_file"], validate_certs=params["validate_certs"],
                                            timeout=params["timeout"])
        self.cache = {}

    def probe(self, image, match):
        creds = registry.Credentials()
        if match is not None:
            creds = registry.Credentials(match["username"], match["password"], match["identitytoken"],
                                         match["registrytoken"])
        key = (image, creds.username, creds.password, creds.identity_token, creds.registry_token)
        if key not in self.cache:
            self.cache[key] = registry.probe(image, creds, self.transport, follow_tag=True)
        return dict(self.cache[key])


def certificate_problem(registry_host, expires, now, warn_seconds):
    """The registry's own TLS certificate running out (an expired one fails the handshake: the probe says so)."""
    left = expires - now
    if left >= warn_seconds:
        return None
    return ("the TLS certificate of %s expires at %s (in %d days); renew it before the daemon refuses pulls from it"
            % (registry_host, ecr.format_time(expires), max(left, 0) // 86400))


def skipped(message):
    return {"status": "skipped", "digest": None, "reachable": None, "authenticated": None, "auth_scheme": None,
            "message": message}


def timed_out(source):
    """The probe result of an image whose credentials are unknown because a helper hung: the runner would hang
    on it too, and probing anonymously instead would tell nothing."""
    return {"status": registry.TIMEOUT, "digest": None, "reachable": None, "authenticated": None, "auth_scheme": None,
            "message": "%s: %s" % (resolve.source_label(source), source["error"])}


# ---------------------------------------------------------------- the report


def public_source(source):
    entries = [{"key": e["key"], "registry_path": e["path"], "kind": e["kind"], "helper": e["helper"],
                "username": e["username"] or None} for e in source["entries"]]
    return {"source": source["source"], "origin": source["origin"], "status": source["status"],
            "error": source["error"], "entries": entries}


def secrets_of(sources):
    found = set()
    for source in sources:
        for entry in source["entries"]:
            found.update(entry[k] for k in ("password", "identitytoken", "registrytoken") if entry[k])
        for entry in ((source.get("config") or {}).get("auths") or {}).values():
            found.update(entry.get(k) for k in ("password", "identitytoken", "registrytoken") if entry.get(k))
    return found


def json_secrets(text):
    """Every secret of a Docker config file (HttpHeaders and proxies too), as far as it parses."""
    try:
        return secrets.collect(json.loads(text))
    except ValueError:
        return secrets.shape_secrets(text)


def legacy_layout(text):
    """Whether a Docker config file holds registry entries at the top level (old .dockercfg)."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and any(isinstance(v, dict) and "auth" in v for v in data.values())


def ecr_expiries(path):
    """{(host, password or its fingerprint): epoch} of the credentials the rotation state file records an expiry
    for: the rotations' (rotate_ecr_auth.yml, rotate_registry_auth.yml) and docker_config's (best effort)."""
    try:
        text, _stat = files.read_text(path)
        return rotation.recorded_expiries(json.loads(text) if text else {})
    except (files.FileError, ValueError):
        return {}


def helper_env(unit, runner_path, home, user):
    """The environment the runner gives a helper: the module's, the unit's Environment=, PATH, HOME, user."""
    env = dict(os.environ)
    env.update(unit["environment"] if unit else {})
    env.update(PATH=runner_path, HOME=home, USER=user["name"], LOGNAME=user["name"])
    return env


class Audit:
    """One audit run over the module's parameters; `secrets` holds every secret read, also after a failure."""

    def __init__(self, params):
        self.params = params
        self.problems = []
        self.secrets = set()
        self.now = time.time()

    def setup(self):
        params = self.params
        unit, self.unit_name = host.read_unit(params["service"])
        self.service = host.runner_service(unit) if unit else None
        name = params["user"] or (self.service["process_user"] if self.service else "root")
        self.user = host.user_info(name)
        home = self.user["home"]
        if self.service and self.service["home"] and self.service["process_user"] == name:
            home = self.service["home"]
        self.home = home
        self.runner_path = (params["runner_path"] or (self.service or {}).get("path") or params["default_runner_path"]
                            or host.SYSTEMD_DEFAULT_PATH)
        self.helpers = helpers.HelperRunner(self.user, self.runner_path, params["timeout"],
                                            helper_env(unit, self.runner_path, home, self.user))
        self.run_helper = self.helpers.run if params["probe"] else None
        if self.run_helper is not None and not host.can_run_as(self.user):
            self.run_helper = None
            self.problems.append("credential helpers are not run: running them as user %s needs root and runuser "
                                 "(use become); images whose credentials come from a helper are not probed"
                                 % self.user["name"])
        self.prober = Prober(params) if params["probe"] else None
        if self.service:
            self.service_problems(name)

    def service_problems(self, name):
        service, unit = self.service, self.unit_name
        if self.params["user"] and service["process_user"] != name:
            self.problems.append("%s runs the runner as %s, not as %s: the runner reads ~%s/.docker/config.json"
                                 % (unit, service["process_user"], name, service["process_user"]))
        config = service["config"]
        if config and service["working_directory"] and not config.startswith("/"):
            config = os.path.join(service["working_directory"], config)
        if config and os.path.realpath(config) != files.real_path(self.params["path"]):
            self.problems.append("%s reads %s, not %s" % (unit, config, self.params["path"]))

    def home_source(self):
        problems = []
        path, text = host.read_home_config(self.user, self.home, self.params["docker_config"], problems)
        self.problems.extend(problems)
        self.docker_config = path
        self.other_homes(path)
        if text is None:
            return {"source": resolve.SOURCE_HOME, "origin": path, "status": "missing", "error": None,
                    "entries": [], "config": None}
        self.secrets |= json_secrets(text)
        source = resolve.read_source(resolve.SOURCE_HOME, path, text, self.run_helper, self.helpers.check)
        self.problems.extend(resolve.source_problems(source))
        if source["status"] == "empty" and legacy_layout(text):
            self.problems.append("%s is in the legacy .dockercfg layout (registry keys at the top level); the runner "
                                 "reads it as a config.json and finds no credentials in it" % path)
        self.secrets |= secrets_of([source])
        return source

    def other_homes(self, used):
        """config.json files in homes the runner does not read: --user, the Ansible user, gitlab-runner."""
        candidates = []
        if self.service and self.service["shell_user"]:
            candidates.append((self.service["shell_user"], "the --user of %s, which does not change that"
                               % self.unit_name))
        for env in ("SUDO_USER",):
            if os.environ.get(env):
                candidates.append((os.environ[env], "the Ansible user"))
        try:
            candidates.append((pwd.getpwuid(os.getuid()).pw_name, "the user this module runs as"))
        except KeyError:
            pass
        candidates.append(("gitlab-runner", "the user the package creates"))
        seen = {os.path.realpath(used)}
        for name, why in candidates:
            try:
                home = pwd.getpwnam(name).pw_dir
            except KeyError:
                continue
            path = os.path.join(home, ".docker", "config.json")
            if os.path.realpath(path) in seen or not os.path.isfile(path):
                continue
            seen.add(os.path.realpath(path))
            try:
                text, _stat = files.read_text(path)
                config = resolve.load_config(text or "")
            except (files.FileError, resolve.SourceError):
                continue
            if resolve.contains_auth(config):
                self.secrets |= {e.get("password") for e in config["auths"].values() if e.get("password")}
                self.secrets |= json_secrets(text or "")
                self.problems.append("%s (user %s, %s) has registry credentials, but the runner process (%s) reads "
                                     "%s" % (path, name, why, self.user["name"], used))

    def runner_rows(self, name, runner, home, job, ci_rows):
        rows = []
        env_text, problems = resolve.runner_auth_config(runner, name)
        self.problems.extend(problems)
        env_source = None
        if env_text is not None:
            env_source = resolve.read_source(resolve.SOURCE_ENV, "DOCKER_AUTH_CONFIG of runner %s" % name, env_text,
                                             self.run_helper, self.helpers.check)
            self.problems.extend(resolve.source_problems(env_source))
            self.secrets |= secrets_of([env_source])
        self.problems.extend(resolve.runner_problems(runner, name, env_source))
        if self.params["images"] is not None:
            images = [("images", image) for image in self.params["images"]]
        else:
            images = resolve.runner_images(runner)
        targets = [(origin, image, env_source, []) for origin, image in images]
        for ci in ci_rows:
            source = env_source
            if ci["docker_auth_config"] is not None:
                label = "DOCKER_AUTH_CONFIG of job %s in %s" % (ci["job"], ci["file"])
                source = resolve.read_source(resolve.SOURCE_ENV, label, ci["docker_auth_config"], self.run_helper,
                                             self.helpers.check)
                self.secrets |= secrets_of([source])
            extra = []
            if ci["unresolved"]:
                extra.append("the image name uses %s, set by GitLab at run time; not resolved"
                             % ", ".join("$" + v for v in ci["unresolved"]))
            targets.append(("gitlab_ci:%s:%s:%s" % (ci["file"], ci["job"], ci["kind"]), ci["image"], source, extra))
        sources_cache = {}
        for origin, image, source, extra in targets:
            rows.append(self.row(name, origin, image, source, home, job, extra, sources_cache))
        return rows, env_source

    def row(self, name, origin, image, env_source, home, job, extra, cache):
        row = {"runner": name, "image": image, "origin": origin, "registry_path": None, "source": resolve.SOURCE_NONE,
               "source_origin": None, "key": None, "kind": None, "helper": None, "helper_path": None,
               "username": None, "problems": list(extra), "probe": None}
        if extra:
            row["probe"] = skipped(extra[0]) if self.prober else None
            return row
        try:
            row["registry_path"] = auth.image_registry_path(image)
        except auth.AuthConfigError as exc:
            row["problems"].append(str(exc))
            row["probe"] = skipped(str(exc)) if self.prober else None
            return row
        invalid = None
        try:
            registry.split_image(image)
        except registry.ImageRefError as exc:
            invalid = "%s; Docker refuses it" % exc
            row["problems"].append(invalid)
        sources = [s for s in (env_source, home, job) if s is not None]
        key = id(env_source)
        if key not in cache:
            cache[key] = resolve.all_configs(sources)
        merged = cache[key]
        match, problems = resolve.explain_image(image, merged, sources, self.now, self.params["gitlab_registries"],
                                                self.expiries, self.params["expiry_warn_days"] * 86400)
        row["problems"].extend(problems)
        if match is not None:
            row.update(source=match["source"], source_origin=match["origin"], key=match["key"], kind=match["kind"],
                       helper=match["helper"], username=match["username"] or None)
            if match["helper"]:
                row["helper_path"] = self.helpers.find(match["helper"])
        if self.prober is not None:
            if invalid:
                row["probe"] = skipped(invalid)
            elif merged["abort"] is not None:
                row["probe"] = dict(skipped(problems[0]), status="error")
            elif match is not None and match["kind"] == resolve.KIND_JOB:
                row["probe"] = skipped("GitLab sends these credentials per job; they cannot be checked from the host")
            elif match is not None and not match["known"]:
                row["probe"] = skipped("the helper was not run, so its credentials are unknown")
            elif resolve.timed_out_source(image, sources) is not None:
                row["probe"] = timed_out(resolve.timed_out_source(image, sources))
            else:
                row["probe"] = self.prober.probe(image, match)
                self.note_certificate(row)
                moved = row["probe"].get("tag_digest")
                if moved and moved != row["probe"]["digest"]:
                    row["probe"]["message"] = ("the tag now points to %s, not to the pinned digest" % moved)
        return row

    def note_certificate(self, row):
        expires = row["probe"].pop("certificate_expires", None)
        if expires is None:
            return
        row["probe"]["certificate_expires_at"] = ecr.format_time(expires)
        problem = certificate_problem(row["registry_path"].split("/")[0], expires, self.now,
                                      self.params["expiry_warn_days"] * 86400)
        if problem and problem not in row["problems"]:
            row["problems"].append(problem)

    @staticmethod
    def note_private_services(rows):
        credentialed = {row["registry_path"].split("/")[0] for row in rows
                        if row["source"] != resolve.SOURCE_NONE and row["registry_path"]}
        for row in rows:
            problem = resolve.private_service_problem(row, credentialed)
            if problem:
                row["problems"].append(problem)

    def run(self):
        params = self.params
        self.setup()
        path = files.real_path(params["path"])
        text, _stat = files.read_text(path)
        if text is None:
            self.problems.append("%s does not exist; the runner starts with no runners" % path)
            data = {}
        else:
            data = toml.parse(text)
            self.secrets |= toml.text_secrets(text, data)
        self.expiries = ecr_expiries(params["ecr_state_file"])
        home = self.home_source()
        job = resolve.job_source(params["gitlab_registries"])
        ci_rows = gitlab_ci.load_gitlab_ci(params["gitlab_ci"])
        runners = data.get("runners") if isinstance(data.get("runners"), list) else []
        by_name = {}
        for runner in runners:
            if isinstance(runner, dict):
                by_name.setdefault(runner.get("name"), runner)
        wanted = params["runners"]
        if wanted is None:
            wanted = [r.get("name") for r in runners if isinstance(r, dict)]
        rows, runner_info, env_sources = [], [], []
        for name in wanted:
            runner = by_name.get(name)
            if runner is None:
                self.problems.append("runner %s is not in %s" % (name, path))
                continue
            info = {"name": name, "executor": runner.get("executor"),
                    "docker_auth_config": any(toml.env_split(e)[0] == toml.AUTH_ENV
                                              for e in runner.get("environment") or [])}
            runner_info.append(info)
            if not resolve.uses_docker_resolver(runner):
                self.problems.append("runner %s: executor %s does not pull images through the Docker executor's "
                                     "credential resolution; skipped" % (name, runner.get("executor")))
                continue
            more, env_source = self.runner_rows(name, runner, home, job, ci_rows)
            rows.extend(more)
            private = [row["image"] for row in more if row["source"] != resolve.SOURCE_NONE]
            self.note_private_services(more)
            self.problems.extend(resolve.pull_policy_problems(runner, name, private))
            self.problems.extend(resolve.registry_allowlist_problems(runner, name, params["allowed_registries"]))
            if env_source is not None:
                env_sources.append(env_source)
        sources = [public_source(s) for s in env_sources + [home]]
        if job["entries"]:
            sources.append(public_source(job))
        return dict(changed=False, images=rows, problems=self.problems, sources=sources, runners=runner_info,
                    table=report.format_table(rows, self.problems),
                    user={"name": self.user["name"], "uid": self.user["uid"], "home": self.home},
                    docker_config=self.docker_config, runner_path=self.runner_path)


# ---------------------------------------------------------------- the credential_helpers role's check


def helpers_path(params, unit):
    """(PATH the runner service runs with, where that came from): runner_path, the running service's
    environment, the unit's Environment=, else systemd's default (or default_runner_path)."""
    service, fallback = params["service"], params["default_runner_path"] or host.SYSTEMD_DEFAULT_PATH
    if params["runner_path"]:
        return params["runner_path"], "runner_path"
    if unit is None:
        return fallback, "the default, as no %s service was found" % service
    path, pid = host.running_service_path(service, params["timeout"])
    if path:
        return path, "the environment of the running %s service (pid %s)" % (service, pid)
    if unit["environment"].get("PATH"):
        return unit["environment"]["PATH"], "Environment= of the %s unit" % service
    return fallback, "the %s unit, which sets no PATH: systemd's default" % service


def check_helpers(params):
    """The `helpers` check: each docker-credential-NAME is on the runner's PATH, executable by the runner
    process user, and answers `version` or `list` when run as that user with only HOME, PATH, USER, LOGNAME."""
    name = params["user"] or "root"
    try:
        user = host.user_info(name)
    except host.HostError:
        raise AuditError("the runner process user '%s' does not exist on this host" % name)
    unit, _unit_name = host.read_unit(params["service"])
    path, source = helpers_path(params, unit)
    env = {"HOME": user["home"], "PATH": path, "USER": name, "LOGNAME": name}
    runner = helpers.HelperRunner(user, path, params["timeout"], env, exact_env=True)
    results = [runner.verify(helper, params["helpers_install_dir"], source) for helper in params["helpers"]]
    return dict(changed=False, helpers=results, user={"name": name, "uid": user["uid"], "home": user["home"]},
                runner_path=path, runner_path_source=source)
