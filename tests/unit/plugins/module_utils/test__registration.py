# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_registration, runner_registration's decisions: finding the table, what is written after a create or reset,
and the runner_config desired state the module hands to the one write path. GitLab itself is exercised in
tests/functional/test_runner_registration.py against the stand-in."""

from __future__ import annotations

import datetime
import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as core
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _gitlab_api as api
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _registration as reg

TOKEN = "glrt-t1_" + "Abc123" * 4
TEXT = """# managed in part by hand
concurrent = 2

[[runners]]
  name = "build"
  url = "https://gitlab.example.com"
  id = 12
  token = "%s"
  token_obtained_at = 2026-01-01T00:00:00Z
  token_expires_at = 2026-04-01T00:00:00Z
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
""" % TOKEN


def desired_of(params_, table, action, settings):
    """The runner_config desired state the module writes with, or None when the file stays as it is."""
    spec = reg.desired_spec(params_, table, action, settings)
    return core.build_desired(None, [spec])[0] if spec else None


def params(**more):
    base = {"name": "build", "state": "present", "api_url": "https://gitlab.example.com", "executor": "docker"}
    return dict(base, **more)


def test_find_table_and_its_owned_keys():
    table = reg.find_table(core.parse(TEXT), "build")
    assert reg.table_id(table) == 12 and table["token"] == TOKEN
    assert reg.file_expiry(table) == datetime.datetime(2026, 4, 1, tzinfo=datetime.timezone.utc)
    assert reg.find_table(core.parse(TEXT), "other") is None
    assert reg.table_id({"id": True}) is None and reg.table_id({"id": 0}) is None


def test_two_tables_of_one_name_are_refused():
    with pytest.raises(reg.RegistrationError, match="2 runners named 'build'"):
        reg.find_table(core.parse(TEXT + TEXT.split("concurrent = 2\n")[1]), "build")


def test_new_token_is_written_in_place_and_nothing_else_changes():
    settings = reg.token_settings(13, {"token": "glrt-t1_newtokenvalue0000", "token_expires_at": None})
    assert settings["token_expires_at"] == api.ZERO_TIME
    desired = desired_of(params(), {"name": "build"}, "reset", settings)
    planned = core.plan(TEXT, desired)
    new_text = core.render_checked(planned, desired)
    assert planned["changes"] == {"runners": {"build": ["id", "token", "token_obtained_at", "token_expires_at"]}}
    assert new_text.startswith("# managed in part by hand\nconcurrent = 2\n")
    runner = core.parse(new_text)["runners"][0]
    assert runner["id"] == 13 and runner["token"] == "glrt-t1_newtokenvalue0000"
    assert runner["docker"] == {"image": "alpine:3.20"} and runner["url"] == "https://gitlab.example.com"
    assert TOKEN not in core.masked_text(new_text, {TOKEN}) and TOKEN not in new_text


def test_missing_table_is_created_with_url_token_and_executor():
    settings = reg.token_settings(9171, {"token": TOKEN, "token_expires_at": "2027-01-01T00:00:00.000Z"})
    desired = desired_of(params(), None, "created", settings)
    new_text = core.render_checked(core.plan("", desired), desired)
    runner = core.parse(new_text)["runners"][0]
    assert (runner["name"], runner["url"], runner["executor"], runner["id"]) == (
        "build", "https://gitlab.example.com", "docker", 9171)
    assert runner["token_expires_at"] == datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)


def test_nothing_to_write_when_nothing_happened_or_no_table_to_remove():
    assert desired_of(params(), {"name": "build"}, "none", None) is None
    assert desired_of(params(state="absent"), None, "deleted", None) is None
    removal = desired_of(params(state="absent"), {"name": "build"}, "deleted", None)
    assert core.plan(TEXT, removal)["changes"] == {"runners": {"build": ["(removed)"]}}


def test_check_mode_preview_holds_no_token():
    preview = reg.token_settings(None, None)
    assert preview["token"] == reg.PREVIEW_TOKEN and preview["id"] == 0


def test_iso_of_expiry():
    assert reg.iso(api.ZERO_TIME) is None
    assert reg.iso(datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)) == "2027-01-01T00:00:00Z"


def test_settings_diff_shows_old_and_new_values_of_changed_settings_only():
    diff = reg.settings_diff(12, {"paused": (False, True), "tag_list": (["a"], ["a", "b"])})
    assert diff["before"] == 'paused: false\ntag_list: ["a"]\n'
    assert diff["after"] == 'paused: true\ntag_list: ["a", "b"]\n'
    assert diff["before_header"] == diff["after_header"] == "GitLab runner 12 settings"


class Client:
    """GitLab's answers to the GET requests the decisions make (find by description, get by id)."""

    def __init__(self, known=(), found=(), api_token="glpat-x"):
        self.known, self.found, self.api_token = set(known), list(found), api_token

    def find_runners(self, *_args):
        return [{"id": runner_id} for runner_id in self.found]

    def get_runner(self, runner_id):
        return {"id": runner_id} if runner_id in self.known else None


def test_absent_deletes_by_id_or_token_and_removes_a_table_gitlab_forgot():
    table, absent = {"name": "build", "id": 12, "token": TOKEN}, params(state="absent")
    assert reg.plan_absent(Client(known={12}), absent, table) == ("deleted", 12, "id")
    assert reg.plan_absent(Client(), absent, table) == ("removed", 12, None)
    assert reg.plan_absent(Client(api_token=None), absent, table) == ("deleted", 12, "token")
    lost = params(state="absent", description="build", runner_type="instance_type", group_id=None, project_id=None)
    assert reg.plan_absent(Client(found=[7], known={7}), lost, None) == ("deleted", 7, "id")
    assert reg.plan_absent(Client(), lost, None) == ("none", None, None)


def test_kept_runner_with_changed_settings_is_updated():
    assert reg.done("none", {"paused": (False, True)}) == "updated"
    assert reg.done("none", {}) == "none" and reg.done("reset", {"paused": (False, True)}) == "reset"


def test_a_missing_table_needs_an_executor_and_a_system_id_its_shape():
    with pytest.raises(reg.RegistrationError, match="give executor"):
        reg.runner_table(core.parse(TEXT), params(name="other", executor=None))
    assert reg.runner_table(core.parse(TEXT), params(state="absent", name="other", executor=None)) is None
    assert reg.system_id("s_0123456789ab\n") == "s_0123456789ab" and reg.system_id("not a system id") is None


def test_arguments_are_checked_in_order_and_name_the_option():
    base = dict({key: None for key in api.SETTINGS}, name="build", description=None, rotate_within=None,
                timeout=30, return_token=False, token=None, state="present")
    checked, error = reg.check_params(base, no_log=False)
    assert error is None and checked["description"] == "build" and checked["declared_settings"]["description"] is None
    assert reg.check_params(dict(base, rotate_within="soon"), False)[1].startswith("rotate_within: ")
    assert reg.check_params(dict(base, timeout=0), False)[1].startswith("timeout: ")
    assert reg.check_params(dict(base, return_token=True), False)[1].startswith("return_token: ")
    assert reg.check_params(dict(base, return_token=True), True)[1] is None
    assert reg.check_params(dict(base, token=TOKEN, state="absent"), False)[1].startswith("token: ")
