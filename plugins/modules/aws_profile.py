#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aws_profile
short_description: Manage one profile of a user's AWS shared config and credentials files in place
version_added: 0.2.0
description:
  - Sets or removes the settings of one profile in an AWS shared config file (such as C(~/.aws/config)) and its
    static keys in the credentials file (such as C(~/.aws/credentials)), for example of the user the GitLab Runner
    process and so the ECR credential helper run as.
  - Edits both files in place. Other profiles, comments, blank lines and keys it is not told about stay as they
    were, byte for byte; only the lines of the keys it sets or removes change. Keys are matched without regard
    to case, as the AWS CLI reads them.
  - Follows the AWS CLI's naming of sections. In the config file the default profile is C([default]) and any
    other C([profile NAME]); in the credentials file a profile is C([NAME]).
  - Writes atomically under a lock, with mode C(0600), owned by O(owner), in a C(0700) directory that it creates
    when missing, through the same write path as M(runnerkit.gitlab_runner.docker_config). No path is followed
    through a symlink or hard link that another user planted (see C(docs/security.md)).
author:
  - runnerkit contributors (@runnerkit)
attributes:
  diff_mode:
    support: full
    description:
      - Before and after text of each file that changes, with the values of C(aws_access_key_id),
        C(aws_secret_access_key), C(aws_session_token) and other keys named like secrets replaced by C(********),
        in every profile and in commented-out lines. The same values are hidden in results and C(-vvv) output.
options:
  config_path:
    description:
      - The AWS shared config file, such as C(~runner/.aws/config). Needed for O(settings).
      - Left alone (not even read) when O(settings) is not given and O(state=present). Links are handled as the
        notes say.
    type: path
  credentials_path:
    description:
      - The AWS shared credentials file, such as C(~runner/.aws/credentials). Needed for O(access_key_id). Links
        are handled as the notes say.
      - Left alone (not even read) when no key is given and O(state=present).
    type: path
  profile:
    description:
      - The profile. Its section is C([default]) or C([profile NAME]) in the config file, C([NAME]) in the
        credentials file. No white space, C([) or C(]).
    type: str
    default: default
  credentials_profile:
    description:
      - The section of the credentials file the keys go to, when it is not O(profile); for role chaining through
        C(source_profile) the keys belong to the source profile.
    type: str
  settings:
    description:
      - Keys of the profile in the config file, such as C(region), C(role_arn), C(credential_source),
        C(source_profile), C(web_identity_token_file), C(output). A key set to V(null) is removed; keys not
        listed stay as they are.
      - Values are strings, numbers or booleans (written V(true)/V(false)), on one line, without white space at
        either end. The static keys are refused here; they go into O(access_key_id) and friends.
    type: dict
  access_key_id:
    description:
      - Static access key id, written as C(aws_access_key_id) into the credentials file. Needs
        O(secret_access_key).
      - When the keys are given, C(aws_session_token) is written with O(session_token) or removed without it, so
        that a stale token does not outlive its keys. Other keys of the section stay.
    type: str
  secret_access_key:
    description: Static secret access key, written as C(aws_secret_access_key).
    type: str
  session_token:
    description: Session token of temporary keys, written as C(aws_session_token). Needs O(access_key_id).
    type: str
  state:
    description:
      - V(absent) removes the section of O(profile) from O(config_path) and of O(credentials_profile) (default
        O(profile)) from O(credentials_path), with their keys. It takes no O(settings) or keys.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - runnerkit.gitlab_runner.private_files
  - runnerkit.gitlab_runner.private_files.private_directory
notes:
  - The AWS SDKs and CLI read a named profile only when C(AWS_PROFILE) names it; without it they use C(default).
seealso:
  - module: runnerkit.gitlab_runner.docker_config
  - module: runnerkit.gitlab_runner.ecr_authorization
"""

EXAMPLES = r"""
---
- name: Region and static keys of the runner user's default profile
  runnerkit.gitlab_runner.aws_profile:
    config_path: ~gitlab-runner/.aws/config
    credentials_path: ~gitlab-runner/.aws/credentials
    owner: gitlab-runner
    private_directory: true
    settings:
      region: eu-west-1
    access_key_id: "{{ vault_runner_aws_access_key_id }}"
    secret_access_key: "{{ vault_runner_aws_secret_access_key }}"

- name: A role assumed with the instance profile, in profile ecr; no credentials file
  runnerkit.gitlab_runner.aws_profile:
    config_path: /root/.aws/config
    profile: ecr
    settings:
      region: eu-west-1
      role_arn: arn:aws:iam::123456789012:role/ecr-pull
      credential_source: Ec2InstanceMetadata
      source_profile: null

- name: Role chaining from static keys that belong to the source profile
  runnerkit.gitlab_runner.aws_profile:
    config_path: /root/.aws/config
    credentials_path: /root/.aws/credentials
    profile: ecr
    credentials_profile: base
    settings:
      region: eu-west-1
      role_arn: arn:aws:iam::123456789012:role/ecr-pull
      source_profile: base
    access_key_id: "{{ vault_base_access_key_id }}"
    secret_access_key: "{{ vault_base_secret_access_key }}"

- name: Remove the profile old from both files
  runnerkit.gitlab_runner.aws_profile:
    config_path: /root/.aws/config
    credentials_path: /root/.aws/credentials
    profile: old
    state: absent
"""

RETURN = r"""
changes:
  description:
    - Per file (C(config), C(credentials)) that changes, per key V(added), V(updated) or V(removed), and the
      section itself (C([profile NAME]), C([NAME])) when it is added or removed. Never a value.
  returned: always
  type: dict
  sample: {"config": {"[profile ecr]": "added", "region": "added"}, "credentials": {"aws_access_key_id": "updated"}}
config_path:
  description: The config file that was managed, after following symlinks.
  returned: when the module edits that file (O(settings) given, or O(state=absent))
  type: str
  sample: /home/gitlab-runner/.aws/config
credentials_path:
  description: The credentials file that was managed, after following symlinks.
  returned: when the module edits that file (keys given, or O(state=absent))
  type: str
  sample: /home/gitlab-runner/.aws/credentials
"""

import contextlib

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _aws_profile as profiles
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

FILE_MODE = 0o600
DIR_MODE = 0o700

ARGUMENT_SPEC = dict(
    config_path=dict(type="path"),
    credentials_path=dict(type="path"),
    profile=dict(type="str", default="default"),
    credentials_profile=dict(type="str"),
    settings=dict(type="dict"),
    access_key_id=dict(type="str", no_log=True),
    secret_access_key=dict(type="str", no_log=True),
    session_token=dict(type="str", no_log=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    private_directory=dict(type="bool", default=False),
    owner=dict(type="str"),
    group=dict(type="str"),
)
ARGUMENT_RULES = dict(
    required_one_of=[("config_path", "credentials_path")],
    required_together=[("access_key_id", "secret_access_key")],
    required_by={"settings": "config_path", "access_key_id": "credentials_path", "session_token": "access_key_id"},
)


def wanted_edits(params):
    """[(kind, path option, section profile, {key: value or None})] of the files this run edits: a file
    is left alone when nothing is given for it, unless the profile is to be removed."""
    state = params["state"]
    keys = profiles.check_keys(params)
    settings = profiles.check_settings(params["settings"])
    profile = profiles.check_profile("profile", params["profile"])
    key_profile = profile
    if params["credentials_profile"] is not None:
        key_profile = profiles.check_profile("credentials_profile", params["credentials_profile"])
    if state == "absent" and (settings or keys):
        raise profiles.ProfileError("state=absent removes the whole profile: it takes no settings or keys")
    if keys and "aws_session_token" not in keys:
        keys["aws_session_token"] = None  # a token of older keys must not outlive them
    edits = []
    if params["config_path"] is not None and (params["settings"] is not None or state == "absent"):
        edits.append((profiles.CONFIG, "config_path", profile, settings))
    if params["credentials_path"] is not None and (keys or state == "absent"):
        edits.append((profiles.CREDENTIALS, "credentials_path", key_profile, keys))
    return edits


def apply(module, kind, path, profile, settings, uid, gid):
    """Edit one file (or only plan it in check mode); return (before, after, changes, changed)."""
    state = module.params["state"]

    def plan(text, stat):
        new, changes = profiles.edit(text, kind, profile, settings, state)
        if state == "absent":
            return (new, changes), bool(changes)
        return (new, changes), text is None or new != text or files.attributes_differ(stat, FILE_MODE, uid, gid)

    def write(_text, stat, planned):
        files.atomic_write(path, planned[0], stat=stat, mode=FILE_MODE, owner=uid, group=gid,
                           selinux=module.selinux_enabled())

    update = files.update_locked(path, plan, write, module.check_mode, DIR_MODE, uid, gid,
                                 module.params["private_directory"] and state == "present")
    new, changes = update.planned
    return update.text, new, changes, update.changed


def run(module, edits, paths):
    uid, gid = files.resolve_ids(module.params["owner"], module.params["group"])
    outcome = dict(changed=False, changes={}, diff=[], secrets=set())
    for kind, option, profile, settings in edits:
        path = paths[option]
        with named(path):
            before, after, changes, changed = apply(module, kind, path, profile, settings, uid, gid)
        outcome["secrets"] |= profiles.secret_values(before or "") | profiles.secret_values(after)
        if changes:
            outcome["changes"][kind] = changes
        if changed:
            outcome["changed"] = True
            outcome["diff"].append(dict(before=before or "", after=after, before_header=path, after_header=path))
    return outcome


@contextlib.contextmanager
def named(path):
    """Prefix the path of the file at hand to a failure's message (two files are edited)."""
    try:
        yield
    except (files.FileError, profiles.ProfileError) as exc:  # a refused link, or a file the AWS CLI cannot read
        raise files.FileError("%s: %s; the file was left unchanged" % (path, exc)) from exc


def resolved(edits, params):
    """{path option: the real file} of the files to edit; the rule of docs/security.md refuses planted links."""
    paths = {}
    for _kind, option, _profile, _settings in edits:
        with named(params[option]):
            paths[option] = files.real_path(params[option])
    if len(set(paths.values())) < len(paths):
        raise profiles.ProfileError("config_path and credentials_path: both name the file %s" % paths["config_path"])
    return paths


def masked_diff(diff, found):
    return [dict(entry, before=profiles.masked(entry["before"], found), after=profiles.masked(entry["after"], found))
            for entry in diff]


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    params = module.params
    given = {v for v in (params["access_key_id"], params["secret_access_key"], params["session_token"]) if v}
    secrets.no_log(module, given)
    try:
        edits = wanted_edits(params)
        paths = resolved(edits, params)
        outcome = run(module, edits, paths)
    except profiles.ProfileError as exc:
        module.fail_json(msg="%s; nothing was written" % exc)
    except files.FileError as exc:
        module.fail_json(msg=str(exc))
    found = outcome["secrets"] | given
    secrets.no_log(module, found)
    result = dict(changed=outcome["changed"], changes=outcome["changes"], **paths)
    if module._diff and outcome["changed"]:
        result["diff"] = masked_diff(outcome["diff"], found)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
