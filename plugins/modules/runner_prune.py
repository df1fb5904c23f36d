#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: runner_prune
short_description: List, and on request delete, GitLab runners of a fleet that no host declares any more
version_added: 0.2.0
description:
  - Lists the runners of one type (and group or project) in GitLab whose description matches O(description_pattern)
    and is not one of O(keep) - the runners a fleet created and no host declares any more, such as the
    C(never_contacted) ones left by hosts that were rebuilt or retired.
  - Deletes them (C(DELETE /api/v4/runners/:id)) only with O(delete=true), and never in check mode.
  - Talks to GitLab only; no file is read or written. Run it once for the fleet, for example with C(run_once) and
    C(delegate_to=localhost).
author:
  - runnerkit contributors (@runnerkit)
attributes:
  check_mode:
    support: full
    description: Lists (C(GET) only) and reports what O(delete=true) would delete.
  diff_mode:
    support: none
    description: No file is changed; the result lists the runners found.
  idempotent:
    support: full
    description: Once the orphans are deleted, a second run finds none and reports no change.
options:
  api_url:
    description: The GitLab base URL, for example C(https://gitlab.example.com).
    type: str
    required: true
  api_token:
    description:
      - An access token with C(read_api) (to list) and C(manage_runner) (to delete), or C(api). Listing instance
        runners needs an administrator.
    type: str
    required: true
  runner_type:
    description: The kind of runners to look at.
    type: str
    choices: [instance_type, group_type, project_type]
    default: instance_type
  group_id:
    description: The group of O(runner_type=group_type) runners.
    type: int
  project_id:
    description: The project of O(runner_type=project_type) runners.
    type: int
  description_pattern:
    description:
      - A Python regular expression the whole description of a fleet runner matches, for example
        C(docker-build .*). Runners whose description does not match are never touched.
    type: str
    required: true
  keep:
    description: The descriptions the fleet declares (its hosts' runners); these runners are kept.
    type: list
    elements: str
    default: []
  delete:
    description: Delete the runners found. V(false) only lists them.
    type: bool
    default: false
  timeout:
    default: 60
extends_documentation_fragment:
  - runnerkit.gitlab_runner.gitlab_api
seealso:
  - module: runnerkit.gitlab_runner.runner_registration
"""

EXAMPLES = r"""
---
- name: Delete the fleet's runners that no host declares any more
  runnerkit.gitlab_runner.runner_prune:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_runner_admin_token }}"
    runner_type: group_type
    group_id: 42
    description_pattern: "docker-build .*"
    keep: "{{ groups['gitlab_runners'] | map('regex_replace', '^', 'docker-build ') | list }}"
    delete: true
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
orphans:
  description: The runners found (id, description, status), deleted or not.
  returned: always
  type: list
  elements: dict
  sample: [{id: 9171, description: docker-build old-host, status: never_contacted}]
deleted:
  description: The ids deleted (or that would be deleted in check mode).
  returned: always
  type: list
  elements: int
  sample: [9171]
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _gitlab_api as api

ARGUMENT_SPEC = dict(
    api_url=dict(type="str", required=True),
    api_token=dict(type="str", required=True, no_log=True),
    runner_type=dict(type="str", choices=list(api.RUNNER_TYPES), default="instance_type"),
    group_id=dict(type="int"),
    project_id=dict(type="int"),
    description_pattern=dict(type="str", required=True),
    keep=dict(type="list", elements="str", default=[], no_log=False),
    delete=dict(type="bool", default=False),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    timeout=dict(type="int", default=60),
)
REQUIRED_IF = [("runner_type", "group_type", ["group_id"]), ("runner_type", "project_type", ["project_id"])]


def find_orphans(client, params, pattern):
    """The runners of the fleet's pattern that no host declares, with the fields a user decides on."""
    keep = set(params["keep"])
    orphans = []
    for entry in client.list_runners(params["runner_type"]):
        description = entry.get("description") or ""
        if description in keep or not pattern.fullmatch(description):
            continue
        if params["runner_type"] != "instance_type" and not client.belongs(entry.get("id"), params["group_id"],
                                                                           params["project_id"]):
            continue
        orphans.append({"id": entry.get("id"), "description": description, "status": entry.get("status")})
    return orphans


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF, supports_check_mode=True)
    params = module.params
    try:
        pattern = re.compile(params["description_pattern"])
    except re.error as exc:
        module.fail_json(msg="description_pattern: not a regular expression: %s" % exc)
    client = api.Client(params["api_url"], params["api_token"], params["validate_certs"], params["ca_path"],
                        params["timeout"])
    try:
        orphans = find_orphans(client, params, pattern)
        deleted = []
        if params["delete"]:
            for orphan in orphans:
                if module.check_mode or client.delete_runner(orphan["id"]):
                    deleted.append(orphan["id"])
    except api.GitLabError as exc:
        module.fail_json(msg=api.mask(str(exc), module.no_log_values))
    module.exit_json(changed=bool(deleted), orphans=orphans, deleted=deleted)


if __name__ == "__main__":
    main()
