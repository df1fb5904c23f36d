# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of the GitLab API client: durations, times, expiry windows, request bodies and the
error messages a user acts on (bodies as the reference gitlab-runner-api.md §3, §5 and §9 gives them),
with every token masked."""

from __future__ import annotations

import datetime
import json
import ssl
import time
import urllib.error

import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _gitlab_api as api

UTC = datetime.timezone.utc
ACCESS_TOKEN = "glpat-Abcdefghij1234567890"
RUNNER_TOKEN = "glrt-t2_Zyxwvutsrq0987654321abc"


@pytest.mark.parametrize("text, seconds", [("7d", 7 * 86400), ("12h", 43200), ("90m", 5400), ("3600s", 3600),
                                           ("2w", 1209600), ("3", 3 * 86400), (5, 5 * 86400), (" 1d ", 86400)])
def test_parse_duration(text, seconds):
    assert api.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7 days", "-1d", "1.5h", None, True, "d"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        api.parse_duration(text)


def test_parse_time_gitlab_forms():
    expected = datetime.datetime(2026, 12, 4, 17, 0, 0, tzinfo=UTC)
    assert api.parse_time("2026-12-04T17:00:00.000Z") == expected
    assert api.parse_time("2026-12-04T17:00:00Z") == expected
    assert api.parse_time("2026-12-04T18:00:00.123456+01:00") == expected
    assert api.parse_time(None) == api.ZERO_TIME
    assert api.parse_time(datetime.datetime(2026, 12, 4, 17, 0, 0, 500)) == expected


def test_parse_time_refuses_garbage():
    with pytest.raises(api.GitLabError):
        api.parse_time("next tuesday")


def test_expires_within():
    now = datetime.datetime(2026, 12, 4, tzinfo=UTC)
    assert api.expires_within(now + datetime.timedelta(days=2), 3 * 86400, now)
    assert not api.expires_within(now + datetime.timedelta(days=4), 3 * 86400, now)
    assert not api.expires_within(api.ZERO_TIME, 10 ** 9, now), "the zero time means: never expires"
    assert not api.expires_within(None, 10 ** 9, now)


def test_create_body_leaves_unset_parameters_out():
    params = dict.fromkeys(api.CREATE_PARAMETERS)
    params.update(runner_type="group_type", group_id=42, tag_list=["a"], run_untagged=False, name="build")
    assert api.create_body(params) == {"runner_type": "group_type", "group_id": 42, "tag_list": ["a"],
                                       "run_untagged": False}


@pytest.mark.parametrize("body, words", [
    ('{"message":"401 Unauthorized"}', ["HTTP 401", "401 Unauthorized", "unknown, expired or revoked"]),
    ('{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}',
     ["HTTP 401", "Token was revoked", "api_token"]),
])
def test_401(body, words):
    message = api.error_message(401, body, "create a instance_type runner")
    for word in words:
        assert word in message


def test_403_missing_scope_names_the_scopes():
    body = json.dumps({"error": "insufficient_scope", "scope": "api create_runner",
                       "error_description": "The request requires higher privileges than provided by the access token."})
    message = api.error_message(403, body, "create a group_type runner")
    assert "required scope: api create_runner" in message and "manage_runner" in message


def test_403_missing_role_names_who_may():
    message = api.error_message(403, '{"message":"403 Forbidden - Insufficient permissions"}',
                                "create a group_type runner")
    assert "Insufficient permissions" in message and "Owner" in message and "administrator" in message


def test_403_runner_token_unknown_suggests_api_token():
    message = api.error_message(403, '{"message":"403 Forbidden"}', "delete runner with its own token")
    assert "api_token" in message


def test_400_missing_invalid_group_is_not_a_generic_400():
    message = api.error_message(400, '{"message":"400 Bad request - Missing/invalid group"}', "create")
    assert "Missing/invalid group" in message and "check group_id" in message
    project = api.error_message(400, '{"message":"400 Bad request - Missing/invalid project"}', "create")
    assert "check project_id" in project


def test_400_grape_and_model_errors():
    assert "group_id is missing" in api.error_message(400, '{"error":"group_id is missing"}', "create")
    update = api.error_message(400, '{"message":{"maximum_timeout":["needs to be at least 10 minutes"]}}', "update")
    assert "maximum_timeout needs to be at least 10 minutes" in update


def test_404_stale_runner_says_what_to_do():
    message = api.error_message(404, '{"message":"404 Runner Not Found"}', "read runner 5")
    assert "stale" in message and "recreate_stale" in message and "state=absent" in message
    route = api.error_message(404, '{"error":"404 Not Found"}', "create")
    assert "api_url" in route


def test_server_errors_and_rate_limits():
    assert "later" in api.error_message(500, "<html>oops</html>", "create")
    assert "rate limiting" in api.error_message(429, "", "create")


def test_tokens_in_gitlab_messages_are_masked():
    """GitLab echoes parameters in some errors: known tokens and token-shaped strings never come through."""
    body = json.dumps({"message": "400 Bad request - token %s is invalid for %s and glrt-t1_someotherrunner99"
                       % (RUNNER_TOKEN, ACCESS_TOKEN)})
    message = api.error_message(400, body, "create", {ACCESS_TOKEN})
    assert RUNNER_TOKEN not in message and ACCESS_TOKEN not in message
    assert "glrt-t1_someotherrunner99" not in message and "********" in message


def test_gitlab_message_of_non_json_is_cut_short():
    assert len(api.gitlab_message("x" * 1000)) == 200
    assert api.gitlab_message("") == "no message"


def test_transport_messages():
    tls = api.transport_message(urllib.error.URLError(ssl.SSLCertVerificationError("CERTIFICATE_VERIFY_FAILED")),
                                "https://gitlab.example.com")
    assert "not trusted" in tls and "ca_path" in tls
    refused = api.transport_message(urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")),
                                    "https://gitlab.example.com")
    assert "cannot reach GitLab" in refused and "api_url" in refused
    slow = api.transport_message(urllib.error.URLError(TimeoutError("timed out")), "https://gitlab.example.com")
    assert "did not answer in time" in slow


def test_client_deadline_is_over_all_requests(monkeypatch):
    client = api.Client("https://gitlab.example.com/", ACCESS_TOKEN, timeout=5)
    assert client.api_url == "https://gitlab.example.com"
    client.deadline = 0
    with pytest.raises(api.GitLabError, match="within timeout=5 s"):
        client.request("GET", "/runners/1", "read runner 1")
    assert ACCESS_TOKEN in client.known_secrets


def test_alarm_ends_a_wait_that_no_socket_timeout_ends():
    started = time.monotonic()
    with pytest.raises(api._Deadline):  # pylint: disable=protected-access
        with api._alarm(0.1):  # pylint: disable=protected-access
            time.sleep(5)
    assert time.monotonic() - started < 2
    time.sleep(0.2)  # the alarm was cancelled: nothing fires later


def test_settings_changes_compare_only_declared_settings():
    current = {"description": "build", "tag_list": ["linux", "docker"], "run_untagged": True, "locked": False,
               "paused": False, "access_level": "not_protected", "maximum_timeout": None, "maintenance_note": None}
    assert api.settings_changes({key: None for key in api.SETTINGS}, current) == {}
    same = {"tag_list": ["docker, linux"], "paused": False, "description": "build", "maintenance_note": ""}
    assert api.settings_changes(same, current) == {}
    changed = {"tag_list": ["docker"], "paused": True, "maximum_timeout": 3600, "maintenance_note": "rack 4"}
    assert api.settings_changes(changed, current) == {
        "tag_list": (["docker", "linux"], ["docker"]), "paused": (False, True), "maximum_timeout": (None, 3600),
        "maintenance_note": ("", "rack 4")}
    assert api.settings_changes({"tag_list": []}, current) == {"tag_list": (["docker", "linux"], [])}


def test_normal_tags_split_on_commas_as_gitlab_does():
    assert api.normal_tags(["b, a", "c", " ", "a"]) == ["a", "b", "c"]
    assert api.normal_tags(None) == []


NOW = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def manager(system_id, status):
    return {"id": 1, "system_id": system_id, "status": status, "contacted_at": "2026-12-05T08:00:00.000Z"}


def test_token_health_expired_is_certain_and_needs_no_manager():
    health = api.token_health(NOW - datetime.timedelta(seconds=1), "s_000000000001", None, now=NOW)
    assert health["state"] == "expired" and "2026-12-05T11:59:59Z" in health["reason"]
    assert api.token_health(api.ZERO_TIME, None, None, now=NOW)["state"] == "unknown"  # never expires
    assert api.token_health(NOW + datetime.timedelta(days=1), None, None, now=NOW)["state"] == "unknown"


@pytest.mark.parametrize("managers, state, words", [
    (None, "unknown", "managers"),
    ([], "unknown", "no runner manager with this host's system_id"),
    ([manager("s_000000000001", "online")], "ok", "within the last 2 hours"),
    ([manager("s_000000000001", "offline"), manager("s_000000000002", "online")], "suspect", "s_000000000002"),
    ([manager("s_000000000001", "stale"), manager("s_000000000002", "offline")], "unknown", "look the same"),
])
def test_token_health_from_this_hosts_manager(managers, state, words):
    health = api.token_health(api.ZERO_TIME, "s_000000000001", managers, now=NOW)
    assert health["state"] == state and words in health["reason"]
    if state in ("ok", "suspect"):
        assert health["manager"]["system_id"] == "s_000000000001"


def test_token_health_without_system_id_says_so():
    assert ".runner_system_id" in api.token_health(None, None, None, now=NOW)["reason"]
