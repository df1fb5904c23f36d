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
      - Default is C(PATH) of the O(service) unit's C(Environment=), else O(default_runner_path). With O(helpers),
        the C(PATH) of the running service's main process comes first.
    type: str
  default_runner_path:
    description:
      - The PATH of the runner process when neither O(runner_path) nor the O(service) unit gives one.
      - Default is the fixed PATH systemd's system manager gives services (manual page systemd.exec, section 5),
        C(/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin). Builds for an unmerged C(/usr) append C(/sbin:/bin);
        on a merged C(/usr) those are the same directories.
    type: str
    version_added: 0.2.0
  helpers:
    description:
      - Check only these credential helpers (the names after C(docker-credential-)) instead of auditing
        C(config.toml) - what the C(runnerkit.gitlab_runner.credential_helpers) role runs after installing them.
      - Each must be on the runner's PATH (O(runner_path), else the PATH of the running O(service), else its unit's
        C(Environment=), else O(default_runner_path)), executable by O(user) (default V(root)), and answer
        C(version) (or, for helpers without it, C(list)) when run as O(user) with only C(HOME), C(PATH), C(USER)
        and C(LOGNAME) in its environment, within O(timeout) seconds.
      - The result is RV(helpers); a helper that fails the check does not fail the module.
    type: list
    elements: str
    version_added: 0.2.0
  helpers_install_dir:
    description:
      - With O(helpers), where a helper missing from the PATH may have been installed, for the message that says
        its directory is not on the runner's PATH.
    type: path
    default: /usr/local/bin
    version_added: 0.2.0
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
      - The rotation state file on the host (of C(playbooks/rotate_ecr_auth.yml) and
        C(playbooks/rotate_registry_auth.yml), where M(runnerkit.gitlab_runner.docker_config) also records
        C(expires_at) with a fingerprint of the password). When a static credential in use is one recorded there,
        its recorded expiry is used to report expired or soon-expiring credentials (otherwise the expiry inside
        the token is used, when it can be read). A missing file is no error.
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
      - With O(probe=true), also report a registry whose TLS certificate expires within this many days (an
        expired or untrusted one fails the probe with C(status=unreachable) and a message saying so).
      - With C(audit_fail_on_problems) in C(playbooks/audit.yml), an expired credential fails the host.
    type: int
    default: 14
    version_added: 0.2.0
  timeout:
    description:
      - Seconds one helper run may take, and seconds the probe of one image may take in all (every registry
        request of it together, however slowly the registry sends its answer).
      - A helper still running then is killed with its whole process group; its images get the probe status
        V(timeout), the helper is not run again in this audit, and the audit goes on with the other images and
        runners. A probe past its time gets the status V(timeout) too.
    type: int
    default: 10
extends_documentation_fragment:
  - runnerkit.gitlab_runner.registry_tls
notes:
  - O(ca_file) and O(validate_certs) apply to the probe.
  - With O(helpers) only the helpers are checked; RV(images), RV(problems), RV(sources), RV(runners), RV(table) and
    RV(docker_config) are then not returned.
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

- name: Can the runner user find and run these helpers? (the credential_helpers role's check)
  runnerkit.gitlab_runner.runner_auth_info:
    helpers: [ecr-login, gcr]
    user: gitlab-runner
  register: helpers
"""

RETURN = r"""
images:
  description: One entry per runner and image.
  returned: without O(helpers)
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
          to now, for C(name:tag@digest) references), C(reachable), C(authenticated), C(auth_scheme), C(message),
          and C(certificate_expires_at) (the registry's verified TLS certificate, ISO 8601 UTC; with
          O(validate_certs=false) not known).
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
  returned: without O(helpers)
  type: list
  elements: str
  sample:
    - "/home/gitlab-runner/.docker/config.json has registry credentials, but the runner process (root) reads
      /root/.docker/config.json: the --user of gitlab-runner.service does not change that"
sources:
  description: Each credential source that was read, with its status (V(used), V(empty), V(discarded), V(aborts),
    V(missing)) and its entries (key, registry_path, kind, helper, username; no secrets).
  returned: without O(helpers)
  type: list
  elements: dict
runners:
  description: The runners reported, with C(name), C(executor) and whether their environment sets C(DOCKER_AUTH_CONFIG).
  returned: without O(helpers)
  type: list
  elements: dict
table:
  description: A fixed-width table of RV(images) (runner, image, source, key, kind, status, problem) and then the
    other problems, one line per element, for logs.
  returned: without O(helpers)
  type: list
  elements: str
user:
  description: The runner process user, its uid and home.
  returned: always
  type: dict
  sample: {name: root, uid: 0, home: /root}
docker_config:
  description: The Docker config file the runner process reads (it may not exist).
  returned: without O(helpers)
  type: str
  sample: /root/.docker/config.json
runner_path:
  description: The PATH helpers were looked up on.
  returned: always
  type: str
runner_path_source:
  description: Where RV(runner_path) comes from, in words.
  returned: with O(helpers)
  type: str
  sample: the environment of the running gitlab-runner service (pid 812)
  version_added: 0.2.0
helpers:
  description:
    - One entry per helper of O(helpers) - C(name), C(path) (the binary found, or the one the user cannot execute),
      C(ok), and C(msg), which says what answered or why the runner cannot use the helper.
  returned: with O(helpers)
  type: list
  elements: dict
  sample:
    - name: ecr-login
      path: /usr/bin/docker-credential-ecr-login
      ok: true
      msg: "docker-credential-ecr-login (/usr/bin/docker-credential-ecr-login) answers 'version' as root: 0.6.4"
  version_added: 0.2.0
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _audit as audit
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as toml
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _gitlab_ci as gitlab_ci
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _host as host
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

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
    default_runner_path=dict(type="str"),
    helpers=dict(type="list", elements="str"),
    helpers_install_dir=dict(type="path", default="/usr/local/bin"),
)
FAILURES = (audit.AuditError, host.HostError, gitlab_ci.GitlabCiError, toml.ConfigError, files.FileError,
            auth.AuthConfigError)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if module.params["helpers"] is not None:
        try:
            module.exit_json(**audit.check_helpers(module.params))
        except FAILURES as exc:
            module.fail_json(msg=str(exc))
    if toml._fast_toml is None and not toml.HAS_TOMLKIT:  # pylint: disable=protected-access
        module.fail_json(msg=missing_required_lib("tomlkit (or Python >= 3.11)"), exception=str(toml.TOMLKIT_IMPORT_ERROR))
    core = audit.Audit(module.params)
    try:
        result = core.run()
    except FAILURES as exc:
        secrets.no_log(module, core.secrets)
        module.fail_json(msg=str(exc))
    secrets.no_log(module, core.secrets)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
