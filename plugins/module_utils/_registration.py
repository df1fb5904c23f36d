# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""runner_registration's decisions: what to do with a runner given its config.toml table and GitLab's answers.

Pure but for the GET requests of the client handed in (find, get, managers): the module makes every write
request (create, reset, update, delete) and writes config.toml through runner_config's path. Here: the arguments
checked, the runner's table and its owned keys, the plan (create, keep, reset, rotate, adopt, update settings, delete), the settings
diff, the health of the kept token, the keys written after a create or reset, the runner_config spec of the
runner and the result. Plain data in, plain data out (no tomlkit): importable on the targets' Python 3.9.
"""

from __future__ import annotations

import datetime
import json

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _gitlab_api as api

DONE = {"none": "none", "create": "created", "reset": "reset", "rotate": "rotated", "adopt": "adopted",
        "update": "updated"}
PREVIEW_TOKEN = "(new token)"  # what check mode shows for a token it did not ask for


class RegistrationError(Exception):
    """Bad input or a state the module will not guess about; nothing was written."""


def check_params(module_params, no_log):
    """(params with declared_settings and defaults filled in, the first error message or None)."""
    params = dict(module_params)
    # Settings compared with an existing runner: only those the task sets (description before its default).
    params["declared_settings"] = {key: module_params[key] for key in api.SETTINGS}
    params["description"] = params["description"] or params["name"]
    try:
        params["rotate_within"] = (api.parse_duration(params["rotate_within"])
                                   if params["rotate_within"] is not None else None)
    except ValueError as exc:
        return params, "rotate_within: %s" % exc
    if params["timeout"] <= 0:
        return params, "timeout: must be a positive number of seconds"
    if params["return_token"] and not no_log:
        return params, "return_token: set no_log: true on the task, so that the token shows in no output"
    if params["token"] and params["state"] == "absent":
        return params, "token: not used with state=absent (the token in the file is used)"
    return params, None


# ---------------------------------------------------------------- the runner's table in config.toml


def find_table(data, name):
    """The [[runners]] table named `name` in parsed config.toml, or None."""
    runners = data.get("runners", [])
    if not isinstance(runners, list):
        raise RegistrationError("[runners] must be an array of tables ([[runners]]); the runner rejects this file")
    tables = [table for table in runners if isinstance(table, dict) and table.get("name") == name]
    if len(tables) > 1:
        raise RegistrationError("the file has %d runners named %r; rename one so it can be managed"
                                % (len(tables), name))
    return tables[0] if tables else None


def runner_table(data, params):
    """find_table's answer, refused when state=present must create the table and has no executor for it."""
    table = find_table(data, params["name"])
    if params["state"] == "present" and table is None and not params["executor"]:
        raise RegistrationError("config.toml has no runner named %r; give executor so that its table can be "
                                "created" % params["name"])
    return table


def system_id(text):
    """The runner manager id in the text of .runner_system_id, or None when it holds none."""
    value = (text or "").strip()
    return value if api.SYSTEM_ID.match(value) else None


def table_id(table):
    runner_id = (table or {}).get("id")
    return runner_id if isinstance(runner_id, int) and not isinstance(runner_id, bool) and runner_id > 0 else None


def file_expiry(table):
    value = (table or {}).get("token_expires_at")
    try:
        return api.parse_time(value)
    except api.GitLabError:
        return api.ZERO_TIME


# ---------------------------------------------------------------- deciding what to do in GitLab


def lookup(client, params):
    """The id of the one runner GitLab has with this description and type, or None."""
    matches = client.find_runners(params["description"], params["runner_type"], params["group_id"],
                                  params["project_id"])
    if len(matches) > 1:
        raise RegistrationError(
            "GitLab has %d %s runners described %r (ids %s); delete the extra ones in GitLab or give this runner a "
            "unique description" % (len(matches), params["runner_type"], params["description"],
                                    ", ".join(str(m.get("id")) for m in matches)))
    return matches[0]["id"] if matches else None


def plan_present(client, params, table):
    """(action, runner id, details) for state=present: none or rotate (id and GET /runners/:id details), reset
    (id found by description; details not read yet) or create (None)."""
    runner_id = table_id(table)
    if runner_id and (table or {}).get("token"):
        details = client.get_runner(runner_id)
        if details is not None:
            window = params["rotate_within"]
            if window is not None and api.expires_within(file_expiry(table), window):
                return "rotate", runner_id, details
            return "none", runner_id, details
        if not params["recreate_stale"]:
            raise RegistrationError(
                "runner id %d in the table %r is stale: GitLab no longer knows it (HTTP 404 Runner Not Found); set "
                "recreate_stale=true to register the runner again, or state=absent to remove the table"
                % (runner_id, params["name"]))
    found = lookup(client, params)
    return ("reset", found, None) if found else ("create", None, None)


def plan_settings(client, params, action, runner_id, details):
    """{key: (GitLab's value, declared value)} of the declared settings an existing runner lacks."""
    if action not in ("none", "rotate", "reset"):
        return {}
    if details is None:
        details = client.get_runner(runner_id)
    return api.settings_changes(params["declared_settings"], details)


def plan_adopt(client, params, table):
    """(action, runner id) for a given token: adopt it when the table holds another id or token."""
    runner_id = params["runner_id"]
    if client.api_token and client.get_runner(runner_id) is None:
        raise RegistrationError("runner id %d is stale: GitLab no longer knows it (HTTP 404 Runner Not Found); "
                                "register the runner again on the first host" % runner_id)
    if table_id(table) == runner_id and (table or {}).get("token") == params["token"]:
        return "none", runner_id
    return "adopt", runner_id


def plan_runner(client, params, table):
    """(action, runner id, settings changes) for state=present; the action is plan_adopt's for a given token,
    else plan_present's."""
    if params["token"]:
        action, runner_id = plan_adopt(client, params, table)
        return action, runner_id, {}
    action, runner_id, details = plan_present(client, params, table)
    return action, runner_id, plan_settings(client, params, action, runner_id, details)


def done(action, updates):
    """The action reported once the GitLab side is done (or, in check mode, only decided): a kept runner whose
    settings change is "updated"."""
    return DONE["update"] if action == "none" and updates else DONE[action]


def plan_absent(client, params, table):
    """(action, runner id, how to delete it in GitLab: "id", "token" or None) for state=absent."""
    runner_id, token = table_id(table), (table or {}).get("token")
    if client.api_token and not runner_id and table is None:
        runner_id = lookup(client, params)
        if runner_id is None:
            return "none", None, None
    if client.api_token and runner_id:
        known = client.get_runner(runner_id) is not None
        return ("deleted", runner_id, "id") if known else ("removed", runner_id, None)
    if token:
        return "deleted", runner_id, "token"
    return ("removed" if table is not None else "none"), runner_id, None


def settings_diff(runner_id, updates):
    """The diff entry of the runner's settings in GitLab: the changed ones, before and after, one per line."""
    def lines(index):
        return "".join("%s: %s\n" % (key, json.dumps(values[index])) for key, values in sorted(updates.items()))
    header = "GitLab runner %s settings" % runner_id
    return dict(before=lines(0), after=lines(1), before_header=header, after_header=header)


def check_token_health(client, runner_id, expiry, system_id):
    """api.token_health of the token kept in the file, from GET requests only; a failed read is reported,
    not fatal (it is a diagnosis, and a settings update may already be done)."""
    health = api.token_health(expiry, system_id, None)
    if health["state"] == "expired" or system_id is None:
        return health
    try:
        managers = client.get_managers(runner_id)
    except api.GitLabError as exc:
        return {"state": "unknown", "manager": None, "reason": "reading the runner's managers failed: %s" % exc}
    return api.token_health(expiry, system_id, managers)


# ---------------------------------------------------------------- what config.toml gets, and the result


def token_settings(runner_id, answer):
    """The runner-owned keys to write after a create or reset, as `gitlab-runner register` writes them."""
    if answer is None:  # check mode: nothing was asked for (a given token is never a preview)
        return {"id": runner_id or 0, "token": PREVIEW_TOKEN, "token_obtained_at": api.now_utc(),
                "token_expires_at": api.ZERO_TIME}
    return {"id": runner_id, "token": answer["token"], "token_obtained_at": api.now_utc(),
            "token_expires_at": api.parse_time(answer.get("token_expires_at"))}


def desired_spec(params, table, action, settings):
    """The runner_config runners[] entry of this runner, or None when the file stays as it is."""
    if action in ("none", "updated") and params["state"] == "present":
        return None
    if params["state"] == "absent":
        if table is None:
            return None
        return {"name": params["name"], "state": "absent"}
    spec = {"name": params["name"], "settings": settings}
    if table is None:
        spec.update(url=params["api_url"], token=settings["token"], executor=params["executor"])
    return spec


def iso(moment):
    if not isinstance(moment, datetime.datetime) or moment <= api.ZERO_TIME:
        return None
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def result_of(params, path, action, runner_id, planned, writes, expiry, updates):
    """The module's result but for token_health, token and diff."""
    result = dict(changed=action != "none" or planned["changed"], action=action, changes=planned["changes"],
                  path=path, api_writes=["%s %s" % write_request for write_request in writes])
    if runner_id is not None:
        result["runner_id"] = runner_id
    if params["state"] == "present":
        result["token_expires_at"] = iso(expiry)
        result["updated_settings"] = sorted(updates)
    return result
