#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: runner_registration
short_description: Create, find again, rotate and delete a GitLab runner through the REST API and keep its token in config.toml
version_added: 0.2.0
description:
  - Manages one runner in GitLab with the authentication-token workflow (GitLab 16+, C(glrt-) tokens) and its
    C(id), C(token), C(token_obtained_at) and C(token_expires_at) in the runner's C([[runners]]) table of
    C(config.toml), found by O(name). Talks to the GitLab REST API v4 with ansible-core's own HTTP client, so
    nothing has to be installed for it.
  - "O(state=present): a table that holds an C(id) and a C(token) of a runner GitLab knows (C(GET /api/v4/runners/:id))
    is left alone, so a token the runner rotated itself is never overwritten. Otherwise the runner is looked up
    by O(description) and O(runner_type) (a host rebuilt, its table lost) and gets a new token with
    C(POST /api/v4/runners/:id/reset_authentication_token) instead of a second runner; only when GitLab has none
    is one created with C(POST /api/v4/user/runners)."
  - "O(state=absent): deletes the runner in GitLab (C(DELETE /api/v4/runners/:id) with O(api_token), or
    C(DELETE /api/v4/runners) with the runner's own token when no O(api_token) is given), then removes its table."
  - C(POST /api/v4/runners/verify) is never called; it is not read-only (it marks the runner as contacted and
    creates a runner manager record).
  - config.toml is written by the same code as M(runnerkit.gitlab_runner.runner_config) (in place, atomically,
    under a lock; comments and other keys kept; a new file gets mode C(0600)).
author:
  - runnerkit contributors (@runnerkit)
requirements:
  - tomlkit >= 0.11.4 on the target host
attributes:
  check_mode:
    support: full
    description: Reads from GitLab (C(GET) only), sends no write request at all and reports what it would do.
  diff_mode:
    support: full
    description:
      - Before and after text of C(config.toml) with every token and other secret replaced by C(********).
      - Before and after values of the runner's settings in GitLab that change (RV(updated_settings)).
  idempotent:
    support: full
    description: A second run with the same arguments sends no write request and reports no change.
options:
  api_url:
    description:
      - The GitLab base URL, for example C(https://gitlab.example.com) (without C(/api/v4)). Also written as the
        runner's C(url) when its table is created.
    type: str
    required: true
  api_token:
    description:
      - A personal, group or project access token. Creating needs the scope C(create_runner); reading, resetting
        and deleting by id C(manage_runner); finding a runner again by description C(read_api). C(api) covers all.
      - Needed for O(state=present) unless O(token) is given. Without it O(state=absent) deletes the runner with
        its own token from the file.
    type: str
  config_path:
    description: The C(config.toml) holding the runner's table.
    type: path
    default: /etc/gitlab-runner/config.toml
  name:
    description: The C(name) of the runner's C([[runners]]) table; it must be unique in the file.
    type: str
    required: true
  executor:
    description: The runner's C(executor), needed only when the table does not exist yet and is created.
    type: str
  state:
    description: Whether the runner exists (in GitLab and in the file).
    type: str
    choices: [present, absent]
    default: present
  runner_type:
    description: The kind of runner; C(instance_type) needs an administrator token.
    type: str
    choices: [instance_type, group_type, project_type]
    default: instance_type
  group_id:
    description: The group of a O(runner_type=group_type) runner (its number).
    type: int
  project_id:
    description: The project of a O(runner_type=project_type) runner (its number).
    type: int
  description:
    description:
      - The runner's description in GitLab; defaults to O(name). A runner whose table was lost is found again
        by it, so it should be unique among the runners of that type and group or project.
      - Set, it is also kept on an existing runner, like the other settings (O(tag_list) to O(maintenance_note)).
    type: str
  tag_list:
    description: The runner's tags (the whole list; GitLab splits each on commas, their order does not matter).
    type: list
    elements: str
  run_untagged:
    description: Whether the runner picks jobs without tags (GitLab's default for a new runner is true).
    type: bool
  locked:
    description: Whether a project runner is locked to its project.
    type: bool
  paused:
    description: Whether the runner is paused.
    type: bool
  access_level:
    description: Which refs the runner runs jobs for.
    type: str
    choices: [not_protected, ref_protected]
  maximum_timeout:
    description: Maximum job timeout of the runner in seconds (at least 600).
    type: int
  maintenance_note:
    description: Free-form maintenance note of the runner.
    type: str
  rotate_within:
    description:
      - Reset the runner's token when the C(token_expires_at) in the file is within this time from now, for
        example C(7d), C(12h), C(90m), C(3600s), or a number of days. Unset, a working token is never rotated
        by the module (the runner rotates it itself unless C(FF_DISABLE_AUTOMATIC_TOKEN_ROTATION) is on).
    type: str
  token:
    description:
      - The token of a runner that another task created or found, for the other hosts of a runner that serves many
        hosts (the C(token) that O(return_token) returned on the first one). Written with O(runner_id) and
        O(token_expires_at) when the table holds another id or token; nothing is sent to GitLab but a C(GET) of the
        runner by id when O(api_token) is given.
    type: str
  runner_id:
    description: The id in GitLab of the runner whose O(token) is given.
    type: int
  token_expires_at:
    description: When the given O(token) expires (ISO 8601, as O(return_token) returns it); unset, never.
    type: str
  return_token:
    description:
      - Return the runner token as C(token), to write it on the other hosts of a runner that serves many hosts with
        O(token). Only allowed when the task sets C(no_log) to V(true), so that it shows in no output.
    type: bool
    default: false
  recreate_stale:
    description:
      - What to do when the table's C(id) is a runner GitLab no longer knows (HTTP 404). V(false) fails and says so;
        V(true) finds the runner by O(description) or creates a new one, as for a table without a token.
    type: bool
    default: false
  timeout:
    default: 30
extends_documentation_fragment:
  - runnerkit.gitlab_runner.gitlab_api
notes:
  - One GitLab runner can serve many hosts (runner managers); declare it on each host with the same O(name) and
    O(description) and run the task with C(run_once) first to create it, then write the same token everywhere
    (see C(docs/guide.md)). Automatic token rotation must then be off on those hosts
    (C(FF_DISABLE_AUTOMATIC_TOKEN_ROTATION)), because GitLab hands a rotated token only to the host that asked.
  - "Runner settings in GitLab (O(description), O(tag_list), O(run_untagged), O(locked), O(paused), O(access_level),
    O(maximum_timeout), O(maintenance_note)) are sent when a runner is created, and on an existing runner those
    the task sets are compared with C(GET /api/v4/runners/:id) and the differing ones changed with
    C(PUT /api/v4/runners/:id) (before any token reset). An option left unset leaves GitLab's value alone. With
    O(token) (the other hosts of a shared runner) settings are not compared: the task that created it does that.
    Changing settings needs the same rights as deleting (instance runner: administrator; group runner: Owner;
    project runner: Maintainer) and C(manage_runner) or C(api)."
seealso:
  - module: runnerkit.gitlab_runner.runner_config
  - name: GitLab REST API, runners
    description: Endpoints, scopes and answers.
    link: https://docs.gitlab.com/api/runners/
"""

EXAMPLES = r"""
---
- name: A group runner, created once, its token kept in config.toml
  runnerkit.gitlab_runner.runner_registration:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_runner_admin_token }}"
    name: docker-build
    executor: docker
    runner_type: group_type
    group_id: 42
    description: "docker-build {{ inventory_hostname }}"
    tag_list: [docker, linux]
    run_untagged: false
    rotate_within: 7d

- name: One runner for every host of a group - created (or rotated) once, from the first host
  runnerkit.gitlab_runner.runner_registration:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_runner_admin_token }}"
    name: shared-docker
    executor: docker
    description: shared-docker
    rotate_within: 7d
    return_token: true
  run_once: true
  no_log: true
  register: shared_runner

- name: The same token on every host
  runnerkit.gitlab_runner.runner_registration:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_runner_admin_token }}"
    name: shared-docker
    executor: docker
    token: "{{ shared_runner.token }}"
    runner_id: "{{ shared_runner.runner_id }}"
    token_expires_at: "{{ shared_runner.token_expires_at }}"

- name: Remove the runner in GitLab and its table
  runnerkit.gitlab_runner.runner_registration:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_runner_admin_token }}"
    name: docker-build
    state: absent
"""

RETURN = r"""
action:
  description:
    - What was done (or would be done in check mode) - V(none), V(created) (a new runner), V(updated) (only
      settings of the runner in GitLab changed, see RV(updated_settings)),
      V(reset) (a runner found again got a new token), V(rotated) (a token expiring within O(rotate_within)),
      V(adopted) (a given O(token) written), V(deleted) (in GitLab and the table) or V(removed) (the table only;
      GitLab did not know the runner).
  returned: always
  type: str
  sample: created
runner_id:
  description: The runner's id in GitLab (V(0) for one that check mode would create).
  returned: when known
  type: int
  sample: 9171
token_expires_at:
  description: When the runner's token expires (ISO 8601 UTC), V(null) when it never does.
  returned: state=present
  type: str
  sample: "2027-03-04T17:00:00Z"
token_health:
  description:
    - What can be known without writing (C(POST /api/v4/runners/verify) would tell, but it is not read-only) about
      whether the runner token kept in the file still works; V(expired) and V(suspect) are also warnings.
    - C(state) is V(expired) (the file's C(token_expires_at) is past, so GitLab rejects the token; certain),
      V(suspect) (this host's runner manager, found by the C(system_id) in C(.runner_system_id) next to
      C(config.toml) with C(GET /api/v4/runners/:id/managers), is not online while another manager of the same
      runner is, as after a shared token was rotated from another host), V(ok) (this host's manager contacted
      GitLab within the last 2 hours) or V(unknown); C(reason) says why, C(manager) holds this host's
      manager's C(system_id), C(status) and C(contacted_at).
    - "Not detectable read-only: whether the file's token is the one GitLab holds now (no GET returns or checks a
      runner token); a token reset less than about 2 hours ago (a manager stays online for 2 hours after its last
      contact, and GitLab serves C(contacted_at) from a cache written every 40-55 minutes); a dead token on a host
      whose runner is also stopped or cannot reach GitLab, or when no manager of the runner is online (all look
      alike); a host without C(.runner_system_id) (the runner never started there) or a GitLab without the
      managers endpoint."
  returned: state=present when the file's token was kept (RV(action) V(none) or V(updated)) and O(token) is not given
  type: dict
  sample: {state: suspect, reason: "this host's runner manager is offline ...",
           manager: {system_id: s_0123456789ab, status: offline, contacted_at: "2026-12-01T10:00:00.000Z"}}
updated_settings:
  description:
    - The settings of the runner in GitLab that were changed (or would be, in check mode) with
      C(PUT /api/v4/runners/:id), also alongside V(rotated) or V(reset). With C(--diff) their old and new values
      are shown.
  returned: state=present
  type: list
  elements: str
  sample: [tag_list, paused]
changes:
  description: The C(config.toml) changes, as M(runnerkit.gitlab_runner.runner_config) reports them.
  returned: always
  type: dict
  sample: {runners: {docker-build: [id, token, token_obtained_at, token_expires_at]}}
token:
  description: The runner token now in the file; only with O(return_token=true) on a task with C(no_log).
  returned: when O(return_token=true)
  type: str
  sample: glrt-t2_ExampleToken
api_writes:
  description: The write requests sent to GitLab (method and path), none in check mode.
  returned: always
  type: list
  elements: str
  sample: ["POST /user/runners"]
path:
  description: The C(config.toml) that was managed, after following symlinks.
  returned: always
  type: str
  sample: /etc/gitlab-runner/config.toml
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as core
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _gitlab_api as api
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _registration as reg
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

ARGUMENT_SPEC = dict(
    api_url=dict(type="str", required=True),
    api_token=dict(type="str", no_log=True),
    config_path=dict(type="path", default="/etc/gitlab-runner/config.toml"),
    name=dict(type="str", required=True),
    executor=dict(type="str"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    runner_type=dict(type="str", choices=list(api.RUNNER_TYPES), default="instance_type"),
    group_id=dict(type="int"),
    project_id=dict(type="int"),
    description=dict(type="str"),
    tag_list=dict(type="list", elements="str"),
    run_untagged=dict(type="bool"),
    locked=dict(type="bool"),
    paused=dict(type="bool"),
    access_level=dict(type="str", choices=["not_protected", "ref_protected"]),
    maximum_timeout=dict(type="int"),
    maintenance_note=dict(type="str"),
    rotate_within=dict(type="str"),
    token=dict(type="str", no_log=True),
    runner_id=dict(type="int"),
    token_expires_at=dict(type="str", no_log=False),
    return_token=dict(type="bool", default=False),
    recreate_stale=dict(type="bool", default=False),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    timeout=dict(type="int", default=30),
)
REQUIRED_IF = [
    ("runner_type", "group_type", ["group_id"]),
    ("runner_type", "project_type", ["project_id"]),
    ("state", "present", ["api_token", "token"], True),
]
REQUIRED_TOGETHER = [("token", "runner_id")]


# ---------------------------------------------------------------- GitLab's write requests (decided in _registration)


def run_present(module, client, params, table):
    """Do (or in check mode, only decide) the GitLab side; return (action, id, token answer or None, settings
    changes). Settings are updated before a token reset: a failed PUT then leaves the working token alone."""
    action, runner_id, updates = reg.plan_runner(client, params, table)
    if params["token"]:
        return reg.done(action, updates), runner_id, {"token": params["token"],
                                                      "token_expires_at": params["token_expires_at"]}, updates
    if updates and not module.check_mode:
        client.update_runner(runner_id, {key: new for key, (_old, new) in updates.items()})
    if action == "none" or module.check_mode:
        return reg.done(action, updates), runner_id, None, updates
    if action == "create":
        answer = client.create_runner(params)
        return reg.done(action, updates), answer["id"], answer, updates
    return reg.done(action, updates), runner_id, client.reset_token(runner_id), updates


def run_absent(module, client, params, table):
    """Delete the runner in GitLab (unless check mode); return (action, id)."""
    action, runner_id, delete_by = reg.plan_absent(client, params, table)
    if delete_by == "id" and not module.check_mode:
        client.delete_runner(runner_id)
    elif delete_by == "token" and not module.check_mode:
        client.delete_runner_by_token(table["token"])
    return action, runner_id


def host_system_id(path):
    """This host's runner manager id from .runner_system_id next to config.toml, or None."""
    try:
        text, _stat = files.read_text(os.path.join(os.path.dirname(path), ".runner_system_id"))
    except files.FileError:
        return None
    return reg.system_id(text)


# ---------------------------------------------------------------- writing config.toml


def write(module, path, spec):
    """Plan and write like runner_config: decide unlocked, then plan again under the lock and write."""
    desired = core.build_desired(None, [spec])[0]
    text, _stat = files.read_text(path)
    planned = core.plan(text, desired)
    new_text = None
    if planned["changed"] and module.check_mode:
        if module._diff:
            new_text = core.render_checked(planned, desired)
    elif planned["changed"]:
        files.ensure_directory(os.path.dirname(path), 0o700)
        with files.locked(path):
            text, stat = files.read_text(path)
            planned = core.plan(text, desired)
            if planned["changed"]:
                new_text = core.render_checked(planned, desired)
                files.atomic_write(path, new_text, stat=stat)
    return text, planned, new_text


# ---------------------------------------------------------------- the module


def run(module, params, path):
    """Everything between arguments and result; returns the result dict."""
    text, _stat = files.read_text(path)
    table = reg.runner_table(core.parse(text or ""), params)
    secrets.no_log(module, core.text_secrets(text))
    client = api.Client(params["api_url"], params["api_token"], params["validate_certs"], params["ca_path"],
                        params["timeout"], known_secrets=module.no_log_values)
    settings, answer, expiry, updates = None, None, reg.file_expiry(table), {}
    if params["token"]:
        secrets.no_log(module, {params["token"]})
    if params["state"] == "present":
        action, runner_id, answer, updates = run_present(module, client, params, table)
        if action not in ("none", "updated"):
            settings = reg.token_settings(runner_id, answer)
            secrets.no_log(module, {settings["token"]})
            expiry = settings["token_expires_at"]
    else:
        action, runner_id = run_absent(module, client, params, table)
    spec = reg.desired_spec(params, table, action, settings)
    text, planned, new_text = write(module, path, spec) if spec else (text, {"changed": False, "changes": {}}, None)
    found = core.text_secrets(text) | core.text_secrets(new_text) | set(module.no_log_values)
    secrets.no_log(module, found)
    result = reg.result_of(params, path, action, runner_id, planned, client.writes, expiry, updates)
    if params["state"] == "present" and action in ("none", "updated") and not params["token"]:
        result["token_health"] = reg.check_token_health(client, runner_id, expiry, host_system_id(path))
        if result["token_health"]["state"] in ("expired", "suspect"):
            module.warn("runner %r (id %s): %s" % (params["name"], runner_id, result["token_health"]["reason"]))
    if params["return_token"] and params["state"] == "present":
        result["token"] = settings["token"] if settings else table["token"]
        # The task's no_log hides the whole result; the token and its parts found by shape (a long random
        # part is a "blob" too) must not be masked inside it: shown, as secrets.no_log shows what is asked for.
        secrets.no_log(module, (), shown={v for v in module.no_log_values if v in result["token"]})
    if module._diff and (planned["changed"] or updates):
        result["diff"] = masked_diff(path, text, new_text if planned["changed"] else None, runner_id, updates, found)
    return result


def masked_diff(path, text, new_text, runner_id, updates, found):
    """The --diff of config.toml (when it changes) and of the runner's settings in GitLab (when they do),
    every secret masked: one dict, or a list of both."""
    diffs = []
    if new_text is not None:
        diffs.append(dict(before=core.masked_text(text, found), after=core.masked_text(new_text, found),
                          before_header=path, after_header=path))
    if updates:
        diffs.append({key: api.mask(value, found) for key, value in reg.settings_diff(runner_id, updates).items()})
    return diffs if len(diffs) > 1 else diffs[0]


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF, required_together=REQUIRED_TOGETHER,
                           supports_check_mode=True)
    if not core.HAS_TOMLKIT:
        module.fail_json(msg=missing_required_lib(core.TOMLKIT_REQUIREMENT), exception=str(core.TOMLKIT_IMPORT_ERROR))
    params, error = reg.check_params(module.params, module.no_log)
    if error:
        module.fail_json(msg=error)
    path = params["config_path"]
    try:
        path = files.real_path(path)
        result = run(module, params, path)
    except (reg.RegistrationError, api.GitLabError) as exc:
        module.fail_json(msg=api.mask(str(exc), module.no_log_values), path=path)
    except (core.ConfigError, files.FileError) as exc:
        module.fail_json(msg="%s: %s; the file was left unchanged" % (path, exc), path=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
