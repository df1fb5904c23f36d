#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: runner_auth_info
short_description: Explain which registry credentials GitLab Runner uses for each image, and check them live
version_added: 0.1.0
description:
  - Answers "it pulls on the host but the job says access forbidden" from the runner's point of view. For each
    runner of a C(config.toml) and each image it pulls, reports the normalized registry path, the source the
    Docker executor takes credentials from (C(DOCKER_AUTH_CONFIG) of the runner's environment, the runner
    process user's C(~/.docker/config.json), the GitLab job payload, or none), the key that matched, whether it
    is static, a credential helper (and which binary) or the global C(credsStore), and the problems that make a
    pull fail or leak credentials.
  - Follows the runner's own rules - sources in order, the longest registry path prefix wins, a source that
    fails (bad JSON, bad base64, a missing or failing helper) is discarded whole, a helper name with a path
    aborts every pull.
  - With O(probe=true) it uses the resolved credentials against the registry over the Docker Registry HTTP API
    v2 (challenge, Basic or Bearer token, HEAD of the manifest with Docker and OCI media types) and reports per
    image whether the registry is reachable, the credentials are accepted, the manifest exists, and its digest.
    Helpers are then run as the runner user with the runner's PATH, as the runner would run them. No Docker
    daemon or skopeo is needed.
  - Never returns a secret. Usernames may show; passwords, tokens and C(auth) strings never do.
  - Changes nothing on the host.
author:
  - runnerkit contributors (@runnerkit)
attributes:
  check_mode:
    support: full
    description: Runs as usual (it changes nothing), including the probe.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to show.
  idempotent:
    support: full
    description: Never changes anything.
options:
  path:
    description: The runner's C(config.toml).
    type: path
    default: /etc/gitlab-runner/config.toml
  user:
    description:
      - The user the runner B(process) runs as; its home directory comes from the passwd database.
      - The Docker executor reads C(~/.docker/config.json) of this user and runs helpers with its PATH. The
        C(--user) option of C(gitlab-runner run) changes neither (it only affects shell-executor jobs), so with
        the package's service (C(--user gitlab-runner), no C(User=)) this is V(root).
      - Default is the C(User=) of the O(service) unit when the unit is found, else V(root).
    type: str
  docker_config:
    description:
      - The Docker client config file the runner process reads. Default is C(<home of user>/.docker/config.json),
        falling back to C(<home>/.dockercfg) when that cannot be opened, like the runner (C($HOME) from the
        unit's C(Environment=) counts when set; C(DOCKER_CONFIG) is not honoured by the runner).
    type: path
  runners:
    description: Names of the runners to report. Default is all runners of the file.
    type: list
    elements: str
  images:
    description:
      - Images to resolve for each runner. Default is each runner's C(docker.image), C(services) and
        C(helper_image).
    type: list
    elements: str
  gitlab_ci:
    description:
      - C(.gitlab-ci.yml) files (on the host) whose images and services are resolved too, for every runner.
        Covers C(image) and C(services) in string and mapping form, C(default), the old top-level form,
        C(extends), C(inherit) and C(variables); a C(DOCKER_AUTH_CONFIG) set in C(variables) replaces the
        runner's for that job. Needs PyYAML on the host.
    type: list
    elements: path
    default: []
  probe:
    description: Talk to the registries with the resolved credentials, running helpers as O(user).
    type: bool
    default: false
  runner_path:
    description:
      - The PATH of the runner process, where C(docker-credential-*) helpers are looked up.
      - Default is C(PATH) of the O(service) unit's C(Environment=), else systemd's default
        C(/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin).
    type: str
  service:
    description:
      - The systemd unit of the runner, read (with its drop-ins) for C(User=), C(Environment=) and the
        C(--user) and C(--config) arguments of C(ExecStart=). Not finding it is no error.
    type: str
    default: gitlab-runner
  gitlab_registries:
    description:
      - Registries (C(host[:port])) GitLab sends C(CI_JOB_TOKEN) credentials for with every job (its integrated
        container registry). They are the last source; an entry of another source for the same path shadows
        them, which is reported.
    type: list
    elements: str
    default: []
  ecr_state_file:
    description:
      - The state file of C(playbooks/rotate_ecr_auth.yml) on the host. When a static ECR token in use is the one
        recorded there, its recorded expiry is used to report expired or soon-expiring tokens (otherwise the
        expiry inside the token is used, when it can be read). A missing file is no error.
    type: path
    default: /var/lib/runnerkit/rotate_ecr_auth.json
  allowed_registries:
    description:
      - The registries jobs may take images and services from (C(host[:port]), C(docker.io) for Docker Hub). When
        given, a runner whose C(docker.allowed_images) or C(docker.allowed_services) is unset, has a pattern that
        matches any registry (C(*/*), C(**)), or allows another registry is reported, with the patterns to set.
      - Empty (the default) checks nothing.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  expiry_warn_days:
    description:
      - Report static credentials of registries other than ECR that expire within this many days, and those that
        have expired. The expiry is the one recorded for that password in O(ecr_state_file), else the C(exp) of a
        password or token that is a JWT (Azure Container Registry tokens, OIDC access tokens). Deploy tokens and
        robot accounts whose expiry is not recorded and that are not JWTs cannot be checked.
      - With C(audit_fail_on_problems) in C(playbooks/audit.yml), an expired credential fails the host.
    type: int
    default: 14
    version_added: 0.2.0
  ca_file:
    description:
      - A PEM file of CA certificates to trust for the probe, in addition to the system store and to
        C(/etc/docker/certs.d/<registry>/*.crt), where the Docker daemon looks.
      - Like the daemon, the probe also presents the client certificate of C(/etc/docker/certs.d/<registry>/)
        (every C(X.cert) with its C(X.key), as M(runnerkit.gitlab_runner.registry_trust) writes them).
    type: path
  validate_certs:
    description: Verify registry TLS certificates during the probe.
    type: bool
    default: true
  timeout:
    description:
      - Seconds one helper run may take, and seconds the probe of one image may take in all (every registry
        request of it together, however slowly the registry sends its answer).
      - A helper still running then is killed with its whole process group; its images get the probe status
        V(timeout), the helper is not run again in this audit, and the audit goes on with the other images and
        runners. A probe past its time gets the status V(timeout) too.
    type: int
    default: 10
notes:
  - CI/CD variables named C(DOCKER_AUTH_CONFIG) set in GitLab (project, group, instance) replace the runner's for
    the jobs that see them; they are not visible on the host. Use O(gitlab_ci) for those set in a pipeline file.
  - Helpers are looked up like Go's C(exec.LookPath) on O(runner_path) and must be executable by O(user). During
    the probe they get the environment of the O(service) unit plus C(PATH) and C(HOME); the rest of the module's
    environment is passed through as well.
  - The output of a failing helper is never shown (it may hold the secret), only its exit status and the helper
    protocol's own messages such as C(credentials not found in native keychain).
  - Docker config files and C(DOCKER_AUTH_CONFIG) values are read as Go's JSON decoder reads them - a UTF-8 byte
    order mark (BOM), C(NaN) or C(Infinity) makes the runner discard that source, and is reported. A
    C(config.toml) may start with a BOM (the runner's TOML decoder skips it).
seealso:
  - module: runnerkit.gitlab_runner.runner_config
  - module: runnerkit.gitlab_runner.docker_config
  - name: Access an image from a private container registry
    description: GitLab's documentation of the sources the runner reads.
    link: https://docs.gitlab.com/ci/docker/using_docker_images/#access-an-image-from-a-private-container-registry
"""

EXAMPLES = r"""
---
- name: Which credentials does each runner use, and do they work?
  runnerkit.gitlab_runner.runner_auth_info:
    path: /etc/gitlab-runner/config.toml
    user: root
    probe: true
  register: auth

- name: Show the table
  ansible.builtin.debug:
    msg: "{{ auth.table }}"

- name: Check the images of a pipeline too, for one runner
  runnerkit.gitlab_runner.runner_auth_info:
    runners: [build-amd64]
    gitlab_ci: [/srv/app/.gitlab-ci.yml]
    images: [my.registry.tld:5000/ns/app:1]
    probe: true
    ca_file: /etc/ssl/certs/internal-ca.pem
  register: auth
"""

RETURN = r"""
images:
  description: One entry per runner and image.
  returned: always
  type: list
  elements: dict
  contains:
    runner:
      description: The runner's name.
      type: str
    image:
      description: The image reference.
      type: str
    origin:
      description:
        - Where the image comes from - C(docker.image), C(docker.services[N]), C(docker.helper_image), C(images), or
          C(gitlab_ci:<file>:<job>:image|service).
      type: str
    registry_path:
      description: The path the runner matches keys on (tag cut, C(docker.io/) added, host lower-cased).
      type: str
    source:
      description: The source of the credentials; V(none) means an anonymous pull.
      type: str
      choices: [DOCKER_AUTH_CONFIG, home_config, job_payload, none]
    source_origin:
      description: Which C(DOCKER_AUTH_CONFIG) or which file, in words.
      type: str
    key:
      description: The key that matched, as written in the source.
      type: str
    kind:
      description: V(static) (C(auths)), V(helper) (C(credHelpers)), V(store) (C(credsStore)), V(job) (job payload).
      type: str
    helper:
      description: The helper name, for V(helper) and V(store).
      type: str
    helper_path:
      description: The helper binary found on O(runner_path).
      type: str
    username:
      description: The user name the credentials carry, when known.
      type: str
    problems:
      description: What will make this pull fail, pull anonymously, or use other credentials than meant.
      type: list
      elements: str
    probe:
      description:
        - With O(probe=true) - C(status) (V(ok), V(unauthorized), V(not_found), V(unreachable), V(timeout), V(error),
          or V(skipped) when the image cannot be checked from the host), C(digest), C(tag_digest) (what the tag points
          to now, for C(name:tag@digest) references), C(reachable), C(authenticated), C(auth_scheme), C(message).
        - V(null) without probe.
      type: dict
  sample:
    - runner: build-amd64
      image: my.registry.tld:5000/ns/app:1
      origin: docker.image
      registry_path: my.registry.tld:5000/ns/app
      source: home_config
      source_origin: /root/.docker/config.json
      key: my.registry.tld:5000/ns
      kind: static
      helper: null
      helper_path: null
      username: ci-puller
      problems: []
      probe: {status: ok, digest: "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
              reachable: true, authenticated: true, auth_scheme: basic, message: ""}
problems:
  description: Problems of the files and runners (not of one image), such as a discarded source or a config.json in
    the wrong home.
  returned: always
  type: list
  elements: str
  sample:
    - "/home/gitlab-runner/.docker/config.json has registry credentials, but the runner process (root) reads
      /root/.docker/config.json: the --user of gitlab-runner.service does not change that"
sources:
  description: Each credential source that was read, with its status (V(used), V(empty), V(discarded), V(aborts),
    V(missing)) and its entries (key, registry_path, kind, helper, username; no secrets).
  returned: always
  type: list
  elements: dict
runners:
  description: The runners reported, with C(name), C(executor) and whether their environment sets C(DOCKER_AUTH_CONFIG).
  returned: always
  type: list
  elements: dict
table:
  description: A fixed-width table of RV(images) (runner, image, source, key, kind, status, problem) and then the
    other problems, one line per element, for logs.
  returned: always
  type: list
  elements: str
user:
  description: The runner process user, its uid and home.
  returned: always
  type: dict
  sample: {name: root, uid: 0, home: /root}
docker_config:
  description: The Docker config file the runner process reads (it may not exist).
  returned: always
  type: str
  sample: /root/.docker/config.json
runner_path:
  description: The PATH helpers were looked up on.
  returned: always
  type: str
"""

import datetime
import glob
import grp
import json
import os
import pwd
import stat as stat_module
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as toml
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _process as process
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _registry_client as registry
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _report as report
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _resolve as resolve
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

try:
    import yaml
    HAS_YAML, YAML_IMPORT_ERROR = True, None
except ImportError as exc:  # only needed for gitlab_ci
    HAS_YAML, YAML_IMPORT_ERROR = False, exc

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system",
             "/usr/lib/systemd/system")
RUNUSER = ("/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser")

ARGUMENT_SPEC = dict(
    path=dict(type="path", default="/etc/gitlab-runner/config.toml"),
    user=dict(type="str"),
    docker_config=dict(type="path"),
    runners=dict(type="list", elements="str"),
    images=dict(type="list", elements="str"),
    gitlab_ci=dict(type="list", elements="path", default=[]),
    probe=dict(type="bool", default=False),
    runner_path=dict(type="str"),
    service=dict(type="str", default="gitlab-runner"),
    gitlab_registries=dict(type="list", elements="str", default=[]),
    ecr_state_file=dict(type="path", default="/var/lib/runnerkit/rotate_ecr_auth.json"),
    expiry_warn_days=dict(type="int", default=14),
    allowed_registries=dict(type="list", elements="str", default=[]),
    ca_file=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=10),
)


class InfoError(Exception):
    pass


# ---------------------------------------------------------------- the host: users, files, unit


def user_info(name):
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise InfoError("user %r does not exist on this host" % name)
    gids = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
    return {"name": name, "uid": entry.pw_uid, "gids": gids, "home": entry.pw_dir}


def stat_of(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return stat_module.S_ISREG(st.st_mode), stat_module.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def may(user, path, bit):
    """Whether the user may read (4) or execute (1) path, its directories included (search bit)."""
    found = stat_of(path)
    if found is None:
        return False
    directory = os.path.dirname(path)
    while directory and directory != "/":
        try:
            st = os.stat(directory)
        except OSError:
            return False
        if not resolve.permitted(st.st_mode, st.st_uid, st.st_gid, user["uid"], user["gids"], 1):
            return False
        directory = os.path.dirname(directory)
    return resolve.permitted(found[1], found[2], found[3], user["uid"], user["gids"], bit)


def read_unit(service):
    texts, names = [], []
    name = service if service.endswith(".service") else service + ".service"
    for directory in UNIT_DIRS:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            texts.append(files.read_text(path)[0])
            names.append(path)
            break
    if not texts:
        return None, name
    for directory in UNIT_DIRS:
        for path in sorted(glob.glob(os.path.join(directory, name + ".d", "*.conf"))):
            texts.append(files.read_text(path)[0])
            names.append(path)
    return resolve.parse_systemd_unit(texts), name


def read_home_config(user, home, explicit, problems):
    """(path, text) of the file the runner reads: config.json, else .dockercfg (like the runner)."""
    if explicit:
        text, _stat = files.read_text(explicit)
        return explicit, text
    candidates = [os.path.join(home, ".docker", "config.json"), os.path.join(home, ".dockercfg")]
    for path in candidates:
        if not os.path.exists(path):
            continue
        if not may(user, path, 4):
            problems.append("%s exists but user %s cannot read it, so the runner does not use it"
                            % (path, user["name"]))
            continue
        text, _stat = files.read_text(path)
        return path, text
    return candidates[0], None


# ---------------------------------------------------------------- helpers


class Helpers:
    """Find docker-credential-* on the runner's PATH and run them as the runner user (cached)."""

    def __init__(self, module, user, runner_path, unit_env, home):
        self.module, self.user, self.runner_path = module, user, runner_path
        self.timeout = module.params["timeout"]
        self.env = dict(unit_env or {})
        self.env.update(PATH=runner_path, HOME=home, USER=user["name"], LOGNAME=user["name"])
        self.cache = {}
        self.timed_out = set()

    def find(self, name):
        return resolve.look_path("docker-credential-" + name, self.runner_path, stat_of)[0]

    def check(self, name):
        binary = self.find(name)
        if binary is None:
            return ('exec: "docker-credential-%s": executable file not found in $PATH (runner PATH %s)'
                    % (name, self.runner_path))
        if not may(self.user, binary, 1):
            return "%s is not executable by user %s" % (binary, self.user["name"])
        return None

    def run(self, name, action, data):
        key = (name, action, data)
        if key not in self.cache:
            self.cache[key] = self._run(name, action, data)
        outcome = self.cache[key]
        if isinstance(outcome, resolve.HelperUnavailable):
            raise outcome
        return outcome

    def _run(self, name, action, data):
        problem = self.check(name)
        if problem:
            return resolve.HelperUnavailable(problem)
        command = [self.find(name), action]
        if self.user["uid"] != os.geteuid():
            runuser = next((p for p in RUNUSER if os.access(p, os.X_OK)), None)
            if os.geteuid() != 0 or runuser is None:
                return resolve.HelperUnavailable("cannot run docker-credential-%s as user %s: that needs root and "
                                                 "runuser (use become)" % (name, self.user["name"]))
            command = [runuser, "-u", self.user["name"], "--"] + command
        if name in self.timed_out:  # one hanging helper costs one timeout, not one per registry
            return resolve.HelperTimeout("docker-credential-%s %s: not run again, it timed out before"
                                         % (name, action))
        try:
            rc, out = process.run_bounded(command, data.encode("utf-8"), self.timeout, env=dict(os.environ, **self.env),
                                          cwd=self.env["HOME"] if os.path.isdir(self.env["HOME"]) else "/")
        except process.ProcessTimeout as exc:
            self.timed_out.add(name)
            return resolve.HelperTimeout("docker-credential-%s %s %s" % (name, action, exc))
        except OSError as exc:
            return resolve.HelperUnavailable("cannot run docker-credential-%s: %s" % (name, exc.strerror or exc))
        return rc, out.decode("utf-8", "replace")


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
    """{(host, password): epoch} of the tokens rotate_ecr_auth.yml recorded (best effort)."""
    try:
        text, _stat = files.read_text(path)
        state = json.loads(text) if text else {}
    except (files.FileError, ValueError):
        return {}
    out = {}
    auths = state.get("auths") if isinstance(state, dict) else None
    registries = state.get("registries") if isinstance(state, dict) else None
    for host, entry in (auths or {}).items() if isinstance(auths, dict) and isinstance(registries, dict) else ():
        info = registries.get(host)
        expires = info.get("expires_at") if isinstance(info, dict) else None
        try:
            password = auth.decode_auth(entry["auth"])[1]
            when = datetime.datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        except (auth.AuthConfigError, KeyError, TypeError, ValueError, AttributeError):
            continue
        out[(host.lower(), password)] = when.timestamp()
    return out


def load_gitlab_ci(paths):
    rows = []
    for path in paths:
        if not HAS_YAML:
            raise InfoError(missing_required_lib("PyYAML") + " (for gitlab_ci)")
        text, _stat = files.read_text(path)
        if text is None:
            raise InfoError("gitlab_ci: %s does not exist" % path)

        class Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
            pass

        Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
        try:
            data = yaml.load(text, Loader=Loader)  # nosec - SafeLoader subclass
        except yaml.YAMLError as exc:
            raise InfoError("gitlab_ci: cannot parse %s: %s" % (path, exc))
        for row in resolve.gitlab_ci_images(data):
            rows.append(dict(row, file=path))
    return rows


class Audit:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.problems = []
        self.secrets = set()
        self.now = time.time()

    def setup(self):
        params = self.params
        unit, self.unit_name = read_unit(params["service"])
        self.service = resolve.runner_service(unit) if unit else None
        name = params["user"] or (self.service["process_user"] if self.service else "root")
        self.user = user_info(name)
        home = self.user["home"]
        if self.service and self.service["home"] and self.service["process_user"] == name:
            home = self.service["home"]
        self.home = home
        self.runner_path = params["runner_path"] or (self.service or {}).get("path") or resolve.SYSTEMD_DEFAULT_PATH
        self.helpers = Helpers(self.module, self.user, self.runner_path, unit["environment"] if unit else {}, home)
        self.run_helper = self.helpers.run if params["probe"] else None
        if self.run_helper is not None and self.user["uid"] != os.geteuid() and (
                os.geteuid() != 0 or not any(os.access(p, os.X_OK) for p in RUNUSER)):
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
        path, text = read_home_config(self.user, self.home, self.params["docker_config"], problems)
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
                moved = row["probe"].get("tag_digest")
                if moved and moved != row["probe"]["digest"]:
                    row["probe"]["message"] = ("the tag now points to %s, not to the pinned digest" % moved)
        return row

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
        ci_rows = load_gitlab_ci(params["gitlab_ci"])
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


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if toml._fast_toml is None and not toml.HAS_TOMLKIT:  # pylint: disable=protected-access
        module.fail_json(msg=missing_required_lib("tomlkit (or Python >= 3.11)"), exception=str(toml.TOMLKIT_IMPORT_ERROR))
    audit = Audit(module)
    try:
        result = audit.run()
    except (InfoError, toml.ConfigError, files.FileError, auth.AuthConfigError) as exc:
        secrets.no_log(module, audit.secrets)
        module.fail_json(msg=str(exc))
    secrets.no_log(module, audit.secrets)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
