# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runner_registration through real ansible-playbook runs (-vvv --diff) against a GitLab stand-in.

No GitLab can run here: gitlab_standin.GitLabStandIn is a stand-in of the REST endpoints the module
uses, written from GitLab's public API documentation (shared/reference/gitlab-runner-api.md), on
127.0.0.1 with TLS from a throwaway CA. It records every request, so the tests can say which were
sent. Every run's whole output (and what callbacks got) is scanned for the access token and for
every runner token GitLab ever issued in the test.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
import tomllib

import pytest

import registry as reg
import slow_servers
from gitlab_standin import GitLabStandIn

TASK = "Register the runner"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return reg.make_ca_and_cert(tmp_path_factory.mktemp("gitlab-pki"))


@pytest.fixture
def gitlab(pki):
    with GitLabStandIn(pki) as server:
        yield server


@pytest.fixture
def register(run_playbook, gitlab, pki, tmp_path):
    """register(api_token=..., check=False, **options) -> PlaybookRun of one runner_registration task,
    at -vvv --diff, its output scanned for every token."""
    config = tmp_path / "etc" / "config.toml"

    def run(check=False, **options):
        args = {"api_url": gitlab.url, "config_path": str(config), "name": "build", "executor": "docker",
                "ca_path": pki.ca_file, "timeout": 20}
        args.update(options)
        args = {key: value for key, value in args.items() if value is not None}
        play = [{"hosts": "localhost", "gather_facts": False,
                 "tasks": [{"name": TASK, "runnerkit.gitlab_runner.runner_registration": args}]}]
        result = run_playbook(play, check=check, diff=True, env={"NO_PROXY": "*", "no_proxy": "*"})
        assert_no_token(result, gitlab, options.get("api_token"))
        return result

    run.config = config
    return run


def assert_no_token(result, gitlab, api_token):
    recorded = json.dumps(result.results)
    tokens = [runner["token"] for runner in gitlab.runners().values()] + list(gitlab.issued)
    for token in tokens + ([api_token] if api_token else []):
        assert token not in result.output, "a token leaked into the -vvv --diff output"
        assert token not in recorded, "a token leaked into what callbacks get"


def runner_table(path, name="build"):
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    tables = [table for table in data.get("runners", []) if table.get("name") == name]
    return tables[0] if tables else None


def writes(gitlab, since):
    return [(r.method, r.path) for r in gitlab.writes(since)]


# ---------------------------------------------------------------- lifecycle


def test_create_then_rerun_sends_one_post(gitlab, register):
    """A new runner is created once; the file gets id, token, token_obtained_at and token_expires_at;
    a rerun reads (GET by id) and writes nothing, in GitLab or in the file."""
    token = gitlab.add_token(scopes=("create_runner", "manage_runner", "read_api"), groups={42})
    gitlab.token_lifetime = 30 * 86400
    first = register(api_token=token, runner_type="group_type", group_id=42, tag_list=["docker"],
                     description="build on host1")
    assert first.rc == 0, first.output
    assert first.status(TASK) == "changed"
    assert first.result(TASK)["action"] == "created"
    assert writes(gitlab, 0) == [("POST", "/api/v4/user/runners")]
    (runner,) = gitlab.runners().values()
    assert runner["token"].startswith("glrt-t2_") and runner["description"] == "build on host1"
    table = runner_table(register.config)
    assert table["id"] == runner["id"] and table["token"] == runner["token"]
    assert table["url"] == gitlab.url and table["executor"] == "docker"
    assert table["token_expires_at"] > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=29)
    assert isinstance(table["token_obtained_at"], datetime.datetime)
    mark, text = gitlab.mark(), register.config.read_text()
    second = register(api_token=token, runner_type="group_type", group_id=42, tag_list=["docker"],
                      description="build on host1")
    assert second.status(TASK) == "ok" and second.result(TASK)["action"] == "none"
    assert writes(gitlab, mark) == [] and [r.method for r in gitlab.requests(mark)] == ["GET"]
    assert register.config.read_text() == text
    assert len(gitlab.runners()) == 1


def test_host_rebuilt_resets_instead_of_creating(gitlab, register):
    """The runner exists in GitLab but the host's config.toml lost its table: the runner is found by
    description and type and its token reset; no second runner."""
    token = gitlab.add_token()
    existing = gitlab.add_runner("build")
    register.config.parent.mkdir(parents=True)
    register.config.write_text("# kept comment\nconcurrent = 4\n")
    result = register(api_token=token)
    assert result.rc == 0, result.output
    assert result.result(TASK)["action"] == "reset"
    assert writes(gitlab, 0) == [("POST", "/api/v4/runners/%d/reset_authentication_token" % existing["id"])]
    (runner,) = gitlab.runners().values()
    assert runner["token"] != existing["token"]
    table = runner_table(register.config)
    assert table["id"] == existing["id"] and table["token"] == runner["token"]
    assert register.config.read_text().startswith("# kept comment\nconcurrent = 4\n")


def test_lost_runner_found_on_a_later_page(gitlab, register):
    """The lookup follows GitLab's pagination (x-next-page) to find the runner again."""
    gitlab.per_page_max = 2
    token = gitlab.add_token()
    for index in range(5):
        gitlab.add_runner("other %d" % index)
    lost = gitlab.add_runner("build")
    result = register(api_token=token)
    assert result.rc == 0, result.output
    assert result.result(TASK)["action"] == "reset" and result.result(TASK)["runner_id"] == lost["id"]
    assert len([r for r in gitlab.requests() if r.path == "/api/v4/runners/all"]) == 3
    assert len(gitlab.runners()) == 6


def test_two_runners_with_the_description_fail_without_guessing(gitlab, register):
    token = gitlab.add_token()
    first, second = gitlab.add_runner("build"), gitlab.add_runner("build")
    result = register(api_token=token)
    message = result.result(TASK)["msg"]
    assert result.rc != 0 and "%d, %d" % (first["id"], second["id"]) in message and "unique description" in message
    assert gitlab.writes() == []


def test_token_rotated_by_runner_is_kept(gitlab, register):
    """The runner rotated its token itself and rewrote config.toml: the module leaves the newer token."""
    token = gitlab.add_token()
    assert register(api_token=token).rc == 0
    old = runner_table(register.config)["token"]
    rotated = gitlab.rotate_as_runner(old)["token"]
    register.config.write_text(register.config.read_text().replace(old, rotated))
    mark = gitlab.mark()
    result = register(api_token=token)
    assert result.status(TASK) == "ok" and result.result(TASK)["action"] == "none"
    assert writes(gitlab, mark) == []
    assert runner_table(register.config)["token"] == rotated


def test_rotation_inside_the_window(gitlab, register):
    """rotate_within: a token expiring within the window is reset and the new one written; outside the
    window nothing happens."""
    token = gitlab.add_token()
    gitlab.token_lifetime = 3 * 86400
    assert register(api_token=token).rc == 0
    before = runner_table(register.config)
    mark = gitlab.mark()
    outside = register(api_token=token, rotate_within="1d")
    assert outside.result(TASK)["action"] == "none" and writes(gitlab, mark) == []
    inside = register(api_token=token, rotate_within="7d")
    assert inside.rc == 0, inside.output
    assert inside.result(TASK)["action"] == "rotated"
    assert writes(gitlab, mark) == [("POST", "/api/v4/runners/%d/reset_authentication_token" % before["id"])]
    after = runner_table(register.config)
    assert after["token"] == gitlab.runners()[before["id"]]["token"] != before["token"]


def test_absent_deletes_in_gitlab_then_removes_the_table(gitlab, register):
    token = gitlab.add_token()
    assert register(api_token=token).rc == 0
    runner_id = runner_table(register.config)["id"]
    mark = gitlab.mark()
    gone = register(api_token=token, state="absent")
    assert gone.rc == 0, gone.output
    assert gone.result(TASK)["action"] == "deleted"
    assert writes(gitlab, mark) == [("DELETE", "/api/v4/runners/%d" % runner_id)]
    assert gitlab.runners() == {} and runner_table(register.config) is None
    mark = gitlab.mark()
    again = register(api_token=token, state="absent")
    assert again.status(TASK) == "ok" and writes(gitlab, mark) == []


def test_absent_without_access_token_uses_the_runner_token(gitlab, register):
    token = gitlab.add_token()
    assert register(api_token=token).rc == 0
    mark = gitlab.mark()
    gone = register(state="absent")
    assert gone.rc == 0, gone.output
    assert writes(gitlab, mark) == [("DELETE", "/api/v4/runners")]
    assert gitlab.runners() == {} and runner_table(register.config) is None


def test_check_mode_sends_no_write_request(gitlab, register):
    """Check mode for create, reset and delete: GET only, the file untouched, the diff masked."""
    token = gitlab.add_token()
    planned = register(api_token=token, check=True)
    assert planned.status(TASK) == "changed" and planned.result(TASK)["action"] == "created"
    assert "(added)" in planned.output and not register.config.exists()
    assert writes(gitlab, 0) == [] and gitlab.runners() == {}
    assert register(api_token=token).rc == 0
    text = register.config.read_text()
    mark = gitlab.mark()
    deleting = register(api_token=token, state="absent", check=True)
    assert deleting.result(TASK)["action"] == "deleted" and "(removed)" in deleting.output
    lost = gitlab.add_runner("lost")
    resetting = register(api_token=token, name="lost", check=True)
    assert resetting.result(TASK)["action"] == "reset"
    assert writes(gitlab, mark) == [] and register.config.read_text() == text
    assert gitlab.runners()[lost["id"]]["token"] == lost["token"]


# ---------------------------------------------------------------- settings of an existing runner


def test_changed_settings_are_updated_with_put_once(gitlab, register):
    """Declared settings that differ from GitLab's (GET /runners/:id) are changed with one PUT, only those the
    task sets; check mode sends none and shows old and new values; a rerun sends none."""
    token = gitlab.add_token()
    assert register(api_token=token, tag_list=["docker"], maintenance_note="rack 4").rc == 0
    runner_id = runner_table(register.config)["id"]
    text = register.config.read_text()
    wanted = dict(api_token=token, tag_list=["linux", "docker"], paused=True, maximum_timeout=3600,
                  description="build on rack 5", access_level="ref_protected")
    mark = gitlab.mark()
    planned = register(check=True, **wanted)
    assert planned.status(TASK) == "changed" and planned.result(TASK)["action"] == "updated"
    assert planned.result(TASK)["updated_settings"] == ["access_level", "description", "maximum_timeout", "paused",
                                                        "tag_list"]
    assert writes(gitlab, mark) == [] and gitlab.runners()[runner_id]["paused"] is False
    assert "GitLab runner %d settings" % runner_id in planned.output
    assert "-paused: false" in planned.output and "+paused: true" in planned.output
    assert '+tag_list: ["docker", "linux"]' in planned.output
    updated = register(**wanted)
    assert updated.status(TASK) == "changed" and updated.result(TASK)["action"] == "updated"
    assert writes(gitlab, mark) == [("PUT", "/api/v4/runners/%d" % runner_id)]
    runner = gitlab.runners()[runner_id]
    assert (runner["paused"], sorted(runner["tag_list"]), runner["maximum_timeout"], runner["description"],
            runner["access_level"]) == (True, ["docker", "linux"], 3600, "build on rack 5", "ref_protected")
    assert runner["maintenance_note"] == "rack 4" and runner["run_untagged"] is True  # not declared: left alone
    assert register.config.read_text() == text
    mark = gitlab.mark()
    again = register(**dict(wanted, tag_list=["docker,linux"]))
    assert again.status(TASK) == "ok" and again.result(TASK)["updated_settings"] == []
    assert writes(gitlab, mark) == []
    unset = register(api_token=token)
    assert unset.status(TASK) == "ok" and writes(gitlab, mark) == []


def test_settings_updated_before_a_rotation(gitlab, register):
    token = gitlab.add_token()
    gitlab.token_lifetime = 3 * 86400
    assert register(api_token=token).rc == 0
    runner_id = runner_table(register.config)["id"]
    mark = gitlab.mark()
    result = register(api_token=token, rotate_within="7d", paused=True)
    assert result.rc == 0, result.output
    assert result.result(TASK)["action"] == "rotated" and result.result(TASK)["updated_settings"] == ["paused"]
    assert writes(gitlab, mark) == [("PUT", "/api/v4/runners/%d" % runner_id),
                                    ("POST", "/api/v4/runners/%d/reset_authentication_token" % runner_id)]
    assert runner_table(register.config)["token"] == gitlab.runners()[runner_id]["token"]


def test_refused_update_writes_nothing(gitlab, register):
    """A PUT GitLab refuses (a model check, a user who may not change an instance runner) fails with GitLab's
    words, before any token reset, and leaves the file alone."""
    admin = gitlab.add_token()
    gitlab.token_lifetime = 3 * 86400
    assert register(api_token=admin).rc == 0
    runner_id, text = runner_table(register.config)["id"], register.config.read_text()
    mark = gitlab.mark()
    bad = register(api_token=admin, maximum_timeout=60, rotate_within="7d")
    message = bad.result(TASK)["msg"]
    assert bad.rc != 0 and "HTTP 400" in message and "maximum_timeout needs to be at least 10 minutes" in message
    assert writes(gitlab, mark) == [("PUT", "/api/v4/runners/%d" % runner_id)]
    denied = register(api_token=gitlab.add_token(admin=False), paused=True)
    message = denied.result(TASK)["msg"]
    assert denied.rc != 0 and "HTTP 403" in message and "update the settings of runner %d" % runner_id in message
    assert "administrator" in message
    assert register.config.read_text() == text and gitlab.runners()[runner_id]["paused"] is False


# ---------------------------------------------------------------- dead tokens, read-only


def test_expired_token_in_the_file_is_reported_without_a_write(gitlab, register):
    """A token_expires_at in config.toml already past: GitLab rejects the token. Reported as a warning and as
    token_health, with GET requests only (verify is never called), also in check mode."""
    token = gitlab.add_token()
    gitlab.token_lifetime = 3 * 86400
    assert register(api_token=token).rc == 0
    text = register.config.read_text()
    expiry = "token_expires_at = %s" % runner_table(register.config)["token_expires_at"].strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert expiry in text
    register.config.write_text(text.replace(expiry, "token_expires_at = 2026-01-02T03:04:05Z"))
    mark = gitlab.mark()
    for check in (True, False):
        result = register(api_token=token, check=check)
        assert result.rc == 0 and result.status(TASK) == "ok", result.output
        health = result.result(TASK)["token_health"]
        assert health["state"] == "expired" and "2026-01-02T03:04:05Z" in health["reason"]
        assert "[WARNING]" in result.output and "GitLab no longer accepts the token" in result.output
    assert {r.method for r in gitlab.requests(mark)} == {"GET"}


def test_host_left_behind_on_a_shared_runner_is_suspect(gitlab, register):
    """With .runner_system_id next to config.toml, this host's runner manager is looked up
    (GET /runners/:id/managers): offline while another manager of the runner is online is suspect;
    online is ok; no manager of this host, or no system id file, is unknown. GET only."""
    token = gitlab.add_token()
    assert register(api_token=token).rc == 0
    runner_id = runner_table(register.config)["id"]
    unread = register(api_token=token)
    assert unread.result(TASK)["token_health"]["state"] == "unknown"
    assert ".runner_system_id" in unread.result(TASK)["token_health"]["reason"]
    (register.config.parent / ".runner_system_id").write_text("s_000000000001\n")
    mark = gitlab.mark()
    never = register(api_token=token)
    assert never.result(TASK)["token_health"]["state"] == "unknown"
    assert "no runner manager with this host's system_id s_000000000001" in never.result(TASK)["token_health"]["reason"]
    gitlab.contact(runner_id, "s_000000000001", ago=3 * 3600)
    alone = register(api_token=token)
    assert alone.result(TASK)["token_health"]["state"] == "unknown"
    assert "look the same" in alone.result(TASK)["token_health"]["reason"]
    gitlab.contact(runner_id, "s_000000000002")  # another host, after a rotation it asked for
    suspect = register(api_token=token)
    health = suspect.result(TASK)["token_health"]
    assert suspect.rc == 0 and suspect.status(TASK) == "ok"
    assert health["state"] == "suspect" and health["manager"]["system_id"] == "s_000000000001"
    assert health["manager"]["status"] == "offline" and "s_000000000002" in health["reason"]
    assert "[WARNING]" in suspect.output and "dead token" in suspect.output
    gitlab.contact(runner_id, "s_000000000001")
    fine = register(api_token=token)
    assert fine.result(TASK)["token_health"]["state"] == "ok" and "[WARNING]" not in fine.output
    assert {r.method for r in gitlab.requests(mark)} == {"GET"}
    assert ("GET", "/api/v4/runners/%d/managers" % runner_id) in [(r.method, r.path) for r in gitlab.requests(mark)]


# ---------------------------------------------------------------- errors a user can act on


def test_unknown_access_token_401(gitlab, register):
    result = register(api_token="glpat-" + "x" * 20)
    assert result.rc != 0
    message = result.result(TASK)["msg"]
    assert "HTTP 401" in message and "unknown, expired or revoked" in message
    assert gitlab.writes() == [] and not register.config.exists()


def test_expired_access_token_401(gitlab, register):
    result = register(api_token=gitlab.add_token(state="expired"))
    message = result.result(TASK)["msg"]
    assert "HTTP 401" in message and "Token is expired" in message


def test_missing_scope_403(gitlab, register):
    result = register(api_token=gitlab.add_token(scopes=("read_api",)))
    message = result.result(TASK)["msg"]
    assert "HTTP 403" in message and "create_runner" in message and "insufficient_scope" in message


def test_not_allowed_403(gitlab, register):
    result = register(api_token=gitlab.add_token(admin=False))
    message = result.result(TASK)["msg"]
    assert "HTTP 403" in message and "administrator" in message


def test_unknown_group_400(gitlab, register):
    """POST /user/runners answers an unknown group with 400 Missing/invalid group, not 404."""
    result = register(api_token=gitlab.add_token(), runner_type="group_type", group_id=999)
    message = result.result(TASK)["msg"]
    assert result.rc != 0 and "HTTP 400" in message and "Missing/invalid group" in message
    assert "check group_id" in message


def test_bad_parameters_400(gitlab, register):
    result = register(api_token=gitlab.add_token(), maximum_timeout=60)
    message = result.result(TASK)["msg"]
    assert "HTTP 400" in message and "at least 10 minutes" in message


def test_stale_runner_id_404(gitlab, register):
    token = gitlab.add_token()
    assert register(api_token=token).rc == 0
    old_id = runner_table(register.config)["id"]
    gitlab.delete_runner(old_id)  # by someone else, in GitLab
    stale = register(api_token=token)
    assert stale.rc != 0
    assert "stale" in stale.result(TASK)["msg"] and "recreate_stale" in stale.result(TASK)["msg"]
    mark = gitlab.mark()
    recreated = register(api_token=token, recreate_stale=True)
    assert recreated.result(TASK)["action"] == "created"
    assert writes(gitlab, mark) == [("POST", "/api/v4/user/runners")]
    assert runner_table(register.config)["id"] != old_id


def test_unreachable_gitlab(gitlab, register):
    port = reg.free_port()
    result = register(api_token=gitlab.add_token(), api_url="https://127.0.0.1:%d" % port)
    message = result.result(TASK)["msg"]
    assert result.rc != 0 and "cannot reach GitLab" in message and "refused" in message.lower()


def test_gitlab_that_trickles_its_answer_is_given_up_at_timeout(gitlab, register, pki):
    """timeout bounds all requests as a whole: a server answering one byte a second is given up on."""
    with slow_servers.TrickleServer(tls=(pki.cert_file, pki.key_file)) as server:
        started = time.monotonic()
        result = register(api_token=gitlab.add_token(), api_url="https://127.0.0.1:%d" % server.port, timeout=3)
        elapsed = time.monotonic() - started
    message = result.result(TASK)["msg"]
    assert result.rc != 0 and "did not finish answering within timeout=3 s" in message
    assert elapsed < 30, "the run took %.0f s" % elapsed


def test_untrusted_tls_without_ca_path(gitlab, register):
    result = register(api_token=gitlab.add_token(), ca_path=None)
    message = result.result(TASK)["msg"]
    assert "not trusted" in message and "ca_path" in message
    assert gitlab.requests() == []


# ---------------------------------------------------------------- one runner, many hosts


FLEET = ("host1", "host2", "host3")


@pytest.fixture
def fleet(run_playbook, gitlab, pki, tmp_path):
    """fleet(api_token, **options) -> PlaybookRun of the shared-runner pattern on three hosts (each its own
    config.toml): created or rotated once with run_once + return_token, the same token adopted everywhere."""
    inventory = tmp_path / "fleet.yml"
    inventory.write_text(json.dumps({"fleet": {"hosts": {name: {"ansible_connection": "local"} for name in FLEET}}}))
    base = {"api_url": gitlab.url, "config_path": str(tmp_path) + "/{{ inventory_hostname }}/config.toml",
            "name": "shared", "executor": "docker", "description": "shared", "ca_path": pki.ca_file}

    def run(api_token, **options):
        first = dict(base, api_token=api_token, return_token=True, **options)
        rest = dict(base, api_token=api_token, token="{{ shared.token }}", runner_id="{{ shared.runner_id }}",
                    token_expires_at="{{ shared.token_expires_at }}")
        play = [{"hosts": "fleet", "gather_facts": False, "tasks": [
            {"name": "Create or rotate the shared runner once", "runnerkit.gitlab_runner.runner_registration": first,
             "run_once": True, "no_log": True, "register": "shared"},
            {"name": "The same token on every host", "runnerkit.gitlab_runner.runner_registration": rest},
        ]}]
        result = run_playbook(play, args=("-i", str(inventory)), diff=True, env={"NO_PROXY": "*", "no_proxy": "*"})
        assert_no_token(result, gitlab, api_token)
        return result

    run.files = {name: tmp_path / name / "config.toml" for name in FLEET}
    return run


def test_one_runner_for_three_hosts(gitlab, fleet):
    """Created once (one POST), the same id and token on all three hosts; a rerun writes nothing."""
    token = gitlab.add_token()
    first = fleet(token)
    assert first.rc == 0, first.output
    assert writes(gitlab, 0) == [("POST", "/api/v4/user/runners")]
    (runner,) = gitlab.runners().values()
    for name, path in fleet.files.items():
        table = runner_table(path, "shared")
        assert (table["id"], table["token"]) == (runner["id"], runner["token"]), name
    assert [r["status"] for r in first.records("The same token on every host")].count("changed") == 2
    mark = gitlab.mark()
    again = fleet(token)
    assert again.rc == 0 and writes(gitlab, mark) == []
    assert {r["status"] for r in again.records("The same token on every host")} == {"ok"}


def test_shared_runner_rotated_once_and_written_everywhere(gitlab, fleet):
    """Rotation of a shared runner: one reset from one place, the new token on every host in the same play."""
    token = gitlab.add_token()
    gitlab.token_lifetime = 3 * 86400
    assert fleet(token).rc == 0
    mark = gitlab.mark()
    rotated = fleet(token, rotate_within="7d")
    assert rotated.rc == 0, rotated.output
    (runner,) = gitlab.runners().values()
    assert writes(gitlab, mark) == [("POST", "/api/v4/runners/%d/reset_authentication_token" % runner["id"])]
    for path in fleet.files.values():
        assert runner_table(path, "shared")["token"] == runner["token"]


def test_host_left_with_a_dead_token_gets_the_current_one(gitlab, fleet):
    token = gitlab.add_token()
    assert fleet(token).rc == 0
    current = runner_table(fleet.files["host1"], "shared")["token"]
    dead = fleet.files["host3"]
    dead.write_text(dead.read_text().replace(current, "glrt-t1_deadtokenfromlastyear"))
    mark = gitlab.mark()
    result = fleet(token)
    assert writes(gitlab, mark) == []
    statuses = {r["host"]: r["status"] for r in result.records("The same token on every host")}
    assert statuses == {"host1": "ok", "host2": "ok", "host3": "changed"}
    assert runner_table(dead, "shared")["token"] == current


def test_return_token_needs_no_log(gitlab, register):
    result = register(api_token=gitlab.add_token(), return_token=True)
    assert result.rc != 0 and "no_log: true" in result.result(TASK)["msg"]
    assert gitlab.writes() == []


def test_runner_role_register_entry_point(gitlab, run_playbook, pki, tmp_path):
    """The runner role's `register` entry point on three hosts: a runner of its own per host and one
    shared by all; a rerun sends no write request; no token in the output (loop items included)."""
    token = gitlab.add_token()
    inventory = tmp_path / "fleet.yml"
    inventory.write_text(json.dumps({"fleet": {"hosts": {name: {"ansible_connection": "local"} for name in FLEET}}}))
    play = [{"hosts": "fleet", "gather_facts": True, "gather_subset": ["!all", "min"], "vars": {
        "runner_gitlab_url": gitlab.url, "runner_gitlab_api_token": token, "runner_gitlab_ca_path": pki.ca_file,
        "runner_config_path": str(tmp_path) + "/{{ inventory_hostname }}/config.toml",
        "runner_registrations": [
            {"name": "own", "executor": "shell", "description": "own {{ inventory_hostname }}"},
            {"name": "shared", "executor": "docker", "shared": True},
        ]}, "tasks": [{"name": "Register", "ansible.builtin.include_role": {
            "name": "runnerkit.gitlab_runner.runner", "tasks_from": "register"}}]}]
    env = {"NO_PROXY": "*", "no_proxy": "*"}
    first = run_playbook(play, args=("-i", str(inventory)), diff=True, env=env)
    assert first.rc == 0, first.output
    assert_no_token(first, gitlab, token)
    assert sorted(r["description"] for r in gitlab.runners().values()) == [
        "own host1", "own host2", "own host3", "shared"]
    shared = [r for r in gitlab.runners().values() if r["description"] == "shared"][0]
    for name in FLEET:
        path = tmp_path / name / "config.toml"
        assert runner_table(path, "shared")["token"] == shared["token"]
        own = runner_table(path, "own")
        assert gitlab.runners()[own["id"]]["description"] == "own %s" % name
    mark = gitlab.mark()
    again = run_playbook(play, args=("-i", str(inventory)), diff=True, env=env)
    assert again.rc == 0 and writes(gitlab, mark) == []
    assert "changed=0" in again.output
    assert_no_token(again, gitlab, token)


def test_site_registers_the_runners_of_hosts_that_declare_them(gitlab, run_playbook, pki, tmp_path):
    """site.yml runs the register entry point on the hosts that declare runner_registrations, before the main
    entry point edits the same tables (the token is there when runner_config writes the other keys); a host
    that declares none skips it in one task; a rerun sends no write request; no token in the output."""
    token = gitlab.add_token()
    hosts = {name: {"ansible_connection": "local"} for name in FLEET}
    for name in FLEET[:2]:
        hosts[name]["runner_registrations"] = [
            {"name": "own", "executor": "shell", "description": "own {{ inventory_hostname }}"}]
        hosts[name]["runner_runners"] = [{"name": "own", "executor": "shell", "settings": {"limit": 3}}]
    inventory = tmp_path / "fleet.yml"
    inventory.write_text(json.dumps({"gitlab_runners": {"hosts": hosts}}))
    site = "- import_playbook: %s\n" % os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "playbooks", "site.yml")
    extra = {"runner_gitlab_url": gitlab.url, "runner_gitlab_api_token": token, "runner_gitlab_ca_path": pki.ca_file,
             "runner_config_path": str(tmp_path) + "/{{ inventory_hostname }}/config.toml",
             "docker_config_path": str(tmp_path) + "/{{ inventory_hostname }}/config.json"}
    env = {"NO_PROXY": "*", "no_proxy": "*"}
    first = run_playbook(site, extra, args=("-i", str(inventory)), diff=True, env=env)
    assert first.rc == 0, first.output
    assert_no_token(first, gitlab, token)
    assert sorted(r["description"] for r in gitlab.runners().values()) == ["own host1", "own host2"]
    for name in FLEET[:2]:
        own = runner_table(tmp_path / name / "config.toml", "own")
        assert own["token"] == gitlab.runners()[own["id"]]["token"] and own["limit"] == 3
    include = "Runners in GitLab and their tokens in config.toml"
    assert {r["host"]: r["status"] for r in first.results if r["task"] == include} == {
        "host1": "ok", "host2": "ok", "host3": "skipped"}
    mark = gitlab.mark()
    again = run_playbook(site, extra, args=("-i", str(inventory)), diff=True, env=env)
    assert again.rc == 0 and writes(gitlab, mark) == []
    assert "changed=0" in again.output
    assert_no_token(again, gitlab, token)


# ---------------------------------------------------------------- prune


def prune(run_playbook, gitlab, pki, check=False, **options):
    args = dict({"api_url": gitlab.url, "ca_path": pki.ca_file, "description_pattern": "build .*"}, **options)
    play = [{"hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "Prune", "runnerkit.gitlab_runner.runner_prune": args}]}]
    result = run_playbook(play, check=check, diff=True, env={"NO_PROXY": "*", "no_proxy": "*"})
    assert_no_token(result, gitlab, options.get("api_token"))
    return result


def test_prune_lists_then_deletes_only_undeclared_fleet_runners(gitlab, run_playbook, pki):
    token = gitlab.add_token()
    declared = gitlab.add_runner("build host1")
    orphan = gitlab.add_runner("build old-host")
    other = gitlab.add_runner("someone else's runner")
    listed = prune(run_playbook, gitlab, pki, api_token=token, keep=["build host1"])
    assert listed.status("Prune") == "ok" and gitlab.writes() == []
    assert [o["id"] for o in listed.result("Prune")["orphans"]] == [orphan["id"]]
    checked = prune(run_playbook, gitlab, pki, check=True, api_token=token, keep=["build host1"], delete=True)
    assert checked.status("Prune") == "changed" and checked.result("Prune")["deleted"] == [orphan["id"]]
    assert gitlab.writes() == []
    deleted = prune(run_playbook, gitlab, pki, api_token=token, keep=["build host1"], delete=True)
    assert deleted.status("Prune") == "changed"
    assert writes(gitlab, 0) == [("DELETE", "/api/v4/runners/%d" % orphan["id"])]
    assert sorted(gitlab.runners()) == sorted([declared["id"], other["id"]])
    again = prune(run_playbook, gitlab, pki, api_token=token, keep=["build host1"], delete=True)
    assert again.status("Prune") == "ok" and again.result("Prune")["orphans"] == []


def test_prune_group_runners_of_that_group_only(gitlab, run_playbook, pki):
    token = gitlab.add_token()
    gitlab.groups.add(43)
    mine = gitlab.add_runner("build gone", runner_type="group_type", group_id=42)
    theirs = gitlab.add_runner("build gone", runner_type="group_type", group_id=43)
    result = prune(run_playbook, gitlab, pki, api_token=token, runner_type="group_type", group_id=42, delete=True)
    assert result.rc == 0, result.output
    assert result.result("Prune")["deleted"] == [mine["id"]] and list(gitlab.runners()) == [theirs["id"]]


def prune_playbook(run_playbook, gitlab, pki, tmp_path, api_token, check=False, **extra):
    """playbooks/prune_runners.yml over a fleet of three hosts whose runner_registrations declare `build <host>`
    (templated per host), the shared `shared` runner and one `build gone` entry with state: absent."""
    inventory = tmp_path / "prune-fleet.yml"
    hosts = {name: {"ansible_connection": "local", "runner_registrations": [
        {"name": "own", "executor": "shell", "description": "build {{ inventory_hostname }}"},
        {"name": "shared", "executor": "docker", "shared": True},
        {"name": "old", "description": "build gone", "state": "absent"}]} for name in FLEET}
    inventory.write_text(json.dumps({"gitlab_runners": {"hosts": hosts}}))
    extra_vars = dict({"runner_gitlab_url": gitlab.url, "runner_gitlab_api_token": api_token,
                       "runner_gitlab_ca_path": pki.ca_file, "runner_prune_description_pattern": "build .*|shared"},
                      **extra)
    result = run_playbook("- import_playbook: runnerkit.gitlab_runner.prune_runners\n", extra_vars,
                          args=("-i", str(inventory)), check=check, diff=True, env={"NO_PROXY": "*", "no_proxy": "*"})
    assert_no_token(result, gitlab, api_token)
    return result


PRUNE_TASK = "List (and with runner_prune_delete, delete) the fleet's runners no host declares"


def test_prune_playbook_lists_by_default_and_deletes_only_when_asked(gitlab, run_playbook, pki, tmp_path):
    token = gitlab.add_token()
    descriptions = ("build host1", "build host2", "build host3", "shared")
    declared = [gitlab.add_runner(description) for description in descriptions]
    orphans = [gitlab.add_runner("build old-host"), gitlab.add_runner("build gone")]
    other = gitlab.add_runner("someone else's runner")
    listed = prune_playbook(run_playbook, gitlab, pki, tmp_path, token)
    assert listed.rc == 0, listed.output
    assert listed.status(PRUNE_TASK) == "ok" and gitlab.writes() == []
    assert sorted(o["id"] for o in listed.result(PRUNE_TASK)["orphans"]) == [o["id"] for o in orphans]
    assert len(listed.records(PRUNE_TASK)) == 1  # once for the fleet
    checked = prune_playbook(run_playbook, gitlab, pki, tmp_path, token, check=True, runner_prune_delete=True)
    assert checked.rc == 0, checked.output
    assert sorted(checked.result(PRUNE_TASK)["deleted"]) == [o["id"] for o in orphans]
    assert gitlab.writes() == []
    deleted = prune_playbook(run_playbook, gitlab, pki, tmp_path, token, runner_prune_delete=True)
    assert deleted.rc == 0 and deleted.status(PRUNE_TASK) == "changed"
    assert sorted(writes(gitlab, 0)) == [("DELETE", "/api/v4/runners/%d" % o["id"]) for o in orphans]
    assert sorted(gitlab.runners()) == sorted([r["id"] for r in declared] + [other["id"]])


def test_prune_playbook_refuses_a_limited_run(gitlab, run_playbook, pki, tmp_path):
    """A host left out by --limit would count as declaring nothing: its runners would be pruned."""
    token = gitlab.add_token()
    gitlab.add_runner("build host3")
    result = prune_playbook(run_playbook, gitlab, pki, tmp_path, token, runner_prune_delete=True)
    assert result.rc == 0 and gitlab.writes() == []
    limited = run_playbook("- import_playbook: runnerkit.gitlab_runner.prune_runners\n",
                           {"runner_gitlab_url": gitlab.url, "runner_gitlab_api_token": token,
                            "runner_gitlab_ca_path": pki.ca_file, "runner_prune_description_pattern": "build .*",
                            "runner_prune_delete": True},
                           args=("-i", str(tmp_path / "prune-fleet.yml"), "--limit", "host1,host2"),
                           env={"NO_PROXY": "*", "no_proxy": "*"})
    assert limited.rc != 0 and "without --limit" in limited.output
    assert gitlab.writes() == [] and len(gitlab.runners()) == 1
    assert_no_token(limited, gitlab, token)


# ---------------------------------------------------------------- three sandbox hosts over SSH


@pytest.fixture
def sandbox_fleet(tmp_path):
    """Three sandbox hosts (tests/sandbox/sandbox.py: a mount namespace each with its own /etc, sshd on
    127.0.0.1) -> (inventory path, {name: the host's /etc/gitlab-runner/config.toml as seen from outside}).
    The modules run with the test's Python (run_playbook's ansible_python_interpreter), which has tomlkit."""
    if os.geteuid() != 0:
        pytest.skip("sandbox hosts need root")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sandbox"))
    import sandbox  # pylint: disable=import-outside-toplevel

    root = sandbox.check_root(str(tmp_path / "sandbox"))
    names = ["sbx-%d" % index for index in range(1, 4)]
    try:
        for name in names:
            sandbox.up(root, name)
        inventory = tmp_path / "sandbox.ini"
        # ssh: run_playbook's -c local must not apply (the modules would write this machine's /etc).
        inventory.write_text(sandbox.inventory(root, names) + "ansible_connection=ssh\n")
        yield inventory, {name: tmp_path / "sandbox" / name / "etc" / "up" / "gitlab-runner" / "config.toml"
                          for name in names}
    finally:
        for name in names:
            sandbox.down(root, name)


def test_one_runner_for_three_sandbox_hosts_over_ssh(gitlab, run_playbook, pki, sandbox_fleet):
    """The role's register entry point over SSH on three hosts with their own /etc: one GitLab runner
    serves all three, created once, the same token on each; rotated once (one reset) and the new token
    written on every host in the same play; a rerun sends no write. Every -vvv --diff output is scanned
    for the access token and every runner token GitLab issued."""
    inventory, files = sandbox_fleet
    token = gitlab.add_token()
    gitlab.token_lifetime = 3 * 86400

    def play(**registration):
        spec = dict({"name": "shared", "executor": "docker", "shared": True, "description": "shared fleet"},
                    **registration)
        text = [{"hosts": "gitlab_runners", "gather_facts": True, "gather_subset": ["!all", "min"], "vars": {
            "runner_gitlab_url": gitlab.url, "runner_gitlab_api_token": token, "runner_gitlab_ca_path": pki.ca_file,
            "runner_registrations": [spec]}, "tasks": [{"name": "Register", "ansible.builtin.include_role": {
                "name": "runnerkit.gitlab_runner.runner", "tasks_from": "register"}}]}]
        result = run_playbook(text, args=("-i", str(inventory)), diff=True, env={"NO_PROXY": "*", "no_proxy": "*"})
        assert result.rc == 0, result.output
        assert "ESTABLISH SSH CONNECTION" in result.output and "ESTABLISH LOCAL CONNECTION" not in result.output
        assert_no_token(result, gitlab, token)
        return result

    def tokens_on_hosts():
        return {name: (runner_table(path, "shared")["id"], runner_table(path, "shared")["token"])
                for name, path in files.items()}

    created = play()
    assert writes(gitlab, 0) == [("POST", "/api/v4/user/runners")]
    (runner,) = gitlab.runners().values()
    assert set(tokens_on_hosts().values()) == {(runner["id"], runner["token"])}
    assert "sbx-1" in created.output and "sbx-3" in created.output
    mark = gitlab.mark()
    play(rotate_within="7d")
    assert writes(gitlab, mark) == [("POST", "/api/v4/runners/%d/reset_authentication_token" % runner["id"])]
    rotated = gitlab.runners()[runner["id"]]["token"]
    assert rotated != runner["token"] and set(tokens_on_hosts().values()) == {(runner["id"], rotated)}
    mark = gitlab.mark()
    again = play()
    assert writes(gitlab, mark) == [] and "changed=0" in again.output
