# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The config.toml core against real-world shaped files: plan, render, verify, rerun."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import random
import re
import tomllib

import pytest
import tomlkit

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as core
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils._docker_auth import encode_auth

FIXTURES = pathlib.Path(__file__).parents[3] / "unit" / "fixtures" / "configs"
GOCHECK_OUT = pathlib.Path(__file__).parents[4] / "tests" / "output" / "gocheck-files"
# Files the tests treat separately: duplicate names and a runner environment of the wrong type.
SPECIAL = ("duplicate-runner-names", "runner-type-errors")
VALID = sorted(p for p in FIXTURES.glob("*.toml") if not any(s in p.name for s in SPECIAL))
# Inputs GitLab Runner already rejects in a runner these tests do not manage (a legacy string-array
# `services`): the edit leaves that runner alone, so its output is not handed to the Go decoder.
RUNNER_REJECTS_INPUT = ("24-unknown-and-deprecated-keys.toml",)
INVALID = sorted((FIXTURES / "invalid").glob("*.toml"))

PASSWORD = 'pa"ss$wo\\rd:x'
DESIRED_RUNNER = {
    "docker": {
        "image": "my.registry.tld:5000/ns/image:tag",
        "pull_policy": ["always", "if-not-present"],
        "services": [{"name": "postgres:16", "alias": "db"}, {"name": "redis:7", "alias": "cache"}],
    },
    "network_per_build": True,
    "feature_flags": {"FF_USE_FASTZIP": True},
    "docker_auth_config": {
        "auths": {"my.registry.tld:5000": {"username": "ci", "password": PASSWORD}},
        "credHelpers": {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"},
    },
    "environment": {"HTTP_PROXY": "http://proxy:3128"},
}


def desired_only(global_values, runners):
    return core.build_desired(global_values, runners)[0]


def desired_for(name, **extra):
    spec = dict(DESIRED_RUNNER, name=name, **extra)
    return desired_only({"concurrent": 8}, [spec])


def apply(text, desired):
    planned = core.plan(text, desired)
    if not planned["changed"]:
        return planned, text
    new_text = core.render(planned)
    core.verify(planned, desired, new_text)
    return planned, new_text


def keep_for_gocheck(name, text):
    """Every file the tests write is decoded by the Go checker afterwards (tests/gocheck)."""
    GOCHECK_OUT.mkdir(parents=True, exist_ok=True)
    (GOCHECK_OUT / name).write_text(text)


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_config", pathlib.Path(__file__).parents[4] / "scripts" / "gen_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def first_runner(text):
    runners = tomllib.loads(text).get("runners", [])
    return runners[0]["name"] if runners else None


def runner_rewrite(text, seed=0):
    """What the runner's own SaveConfig does: comments gone, keys reordered, values the same."""
    rng = random.Random(seed)

    def is_table(value):
        return isinstance(value, dict) or (isinstance(value, list) and value and all(isinstance(x, dict) for x in value))

    def shuffle(value):
        if isinstance(value, dict):
            items = [(k, shuffle(v)) for k, v in value.items()]
            rng.shuffle(items)
            return dict([i for i in items if not is_table(i[1])] + [i for i in items if is_table(i[1])])
        if isinstance(value, list):
            return [shuffle(v) for v in value]
        return value

    return tomlkit.dumps(shuffle(tomllib.loads(text)))


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_fixture_edit_is_idempotent_and_keeps_everything_else(path):
    text = path.read_text()
    name = first_runner(text) or "added-runner"
    desired = desired_for(name, url="https://gitlab.example.com", token="glrt-new-token-value", executor="docker")
    planned, new_text = apply(text, desired)
    assert planned["changed"]
    # verify() inside apply() already proved: managed keys as desired, all other content equal.
    assert core.plan(new_text, desired)["changed"] is False
    # Comments survive an edit.
    for line in text.splitlines():
        comment = re.search(r"#\s*(\S.*)$", line)
        if comment and '"' not in line and "'" not in line:
            assert comment.group(1) in new_text
    # The runner's own rewrite of our output is not a change either.
    assert core.plan(runner_rewrite(new_text), desired)["changed"] is False
    if path.name not in RUNNER_REJECTS_INPUT:
        keep_for_gocheck(path.name, new_text)


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_unparsable_files_fail_with_line_and_column(path):
    with pytest.raises(core.ConfigError, match=r"line \d+"):
        core.plan(path.read_text(), desired_for("x"))


def test_runner_owned_keys_are_never_rewritten():
    text = (
        '[[runners]]\n  name = "a"\n  url = "https://g"\n  id = 7\n  token = "glrt-old"\n'
        "  token_obtained_at = 2024-05-01T10:00:00Z\n  token_expires_at = 0001-01-01T00:00:00Z\n"
        '  executor = "docker"\n'
    )
    new_text = apply(text, desired_for("a", token="glrt-other", url="https://g"))[1]
    for line in text.splitlines()[3:7]:
        assert line in new_text.splitlines()


def test_settings_token_forces_the_token():
    text = '[[runners]]\n  name = "a"\n  token = "glrt-old"\n'
    desired = desired_only(None, [{"name": "a", "settings": {"token": "glrt-forced"}}])
    new_text = apply(text, desired)[1]
    assert tomllib.loads(new_text)["runners"][0]["token"] == "glrt-forced"


def test_docker_auth_config_is_one_compact_sorted_entry():
    text = '[[runners]]\n  name = "a"\n  environment = ["DOCKER_AUTH_CONFIG={}", "X=1", "DOCKER_AUTH_CONFIG=old"]\n'
    new_text = apply(text, desired_for("a"))[1]
    env = tomllib.loads(new_text)["runners"][0]["environment"]
    entries = [e for e in env if e.startswith("DOCKER_AUTH_CONFIG=")]
    assert len(entries) == 1 and env.index(entries[0]) == 0 and "X=1" in env
    value = entries[0].split("=", 1)[1]
    data = json.loads(value)
    assert value == json.dumps(data, separators=(",", ":"), sort_keys=True)
    assert data["auths"]["my.registry.tld:5000"] == {"auth": encode_auth("ci", PASSWORD)}
    assert data["credHelpers"] == {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}


def test_docker_auth_config_holds_one_key_per_registry():
    """Every spelling of Docker Hub and of a kept registry in the file becomes one canonical key."""
    old = {"auths": {k: {"auth": encode_auth("u", k)} for k in ("docker.io", "index.docker.io", "https://index.docker.io/v1/",
                                                                "https://1.dkr.ecr.eu-west-1.amazonaws.com",
                                                                "1.dkr.ecr.eu-west-1.amazonaws.com/")}}
    text = "[[runners]]\n  name = \"a\"\n  environment = [%s]\n" % json.dumps("DOCKER_AUTH_CONFIG=" + json.dumps(old))
    desired = desired_only(None, [{"name": "a", "docker_auth_config": {
        "auths": {"Index.Docker.IO": {"username": "hub", "password": "pw"}},
        "keep_auths": ["HTTPS://1.dkr.ecr.eu-west-1.amazonaws.com/"]}}])
    new_text = apply(text, desired)[1]
    value = tomllib.loads(new_text)["runners"][0]["environment"][0].split("=", 1)[1]
    assert json.loads(value)["auths"] == {"https://index.docker.io/v1/": {"auth": encode_auth("hub", "pw")},
                                          "1.dkr.ecr.eu-west-1.amazonaws.com": old["auths"]["https://1.dkr.ecr.eu-west-1.amazonaws.com"]}
    assert not core.plan(new_text, desired)["changed"]


def test_existing_auth_entry_with_other_json_layout_is_equal():
    data = {"credHelpers": {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"},
            "auths": {"my.registry.tld:5000": {"auth": encode_auth("ci", PASSWORD)}}}
    spaced = json.dumps(data, indent=2).replace("\n", " ")
    text = "[[runners]]\n  name = \"a\"\n  environment = ['DOCKER_AUTH_CONFIG=%s']\n" % spaced
    planned = core.plan(text, desired_for("a"))
    assert "environment.DOCKER_AUTH_CONFIG" not in planned["changes"]["runners"]["a"]


def test_only_changed_paths_are_reported():
    text = '[[runners]]\n  name = "a"\n  [runners.docker]\n    image = "old"\n    privileged = true\n'
    desired = desired_only(None, [{"name": "a", "docker": {"image": "new", "privileged": True}}])
    planned = core.plan(text, desired)
    assert planned["changes"] == {"runners": {"a": ["docker.image"]}}


def test_bool_and_int_are_different_values():
    text = '[[runners]]\n  name = "a"\n  [runners.docker]\n    cpu_shares = 1\n'
    desired = desired_only(None, [{"name": "a", "docker": {"cpu_shares": 1}}])
    assert not core.plan(text, desired)["changed"]
    desired = desired_only(None, [{"name": "a", "feature_flags": {"FF_X": True}}])
    text2 = '[[runners]]\n  name = "a"\n  [runners.feature_flags]\n    FF_X = 1\n'
    assert core.plan(text2, desired)["changed"]


def test_new_keys_and_tables_follow_the_sibling_indentation():
    text = '[[runners]]\n  name = "a"\n  [runners.docker]\n    image = "old"\n'
    desired = desired_only(None, [{"name": "a", "settings": {"limit": 2},
                                  "docker": {"privileged": False, "services": [{"name": "pg"}]},
                                   "network_per_build": True}])
    new_text = apply(text, desired)[1]
    lines = new_text.splitlines()
    assert "  limit = 2" in lines
    assert "    privileged = false" in lines
    assert "    [[runners.docker.services]]" in lines and '      name = "pg"' in lines
    assert "  [runners.feature_flags]" in lines and "    FF_NETWORK_PER_BUILD = true" in lines


def test_flat_files_stay_flat():
    text = '[[runners]]\nname = "a"\n[runners.docker]\nimage = "old"\n'
    desired = desired_only(None, [{"name": "a", "docker": {"privileged": False}, "settings": {"limit": 1}}])
    new_text = apply(text, desired)[1]
    assert "privileged = false" in new_text.splitlines() and "limit = 1" in new_text.splitlines()


def test_new_file_gets_runner_style():
    desired = desired_for("a", url="https://g", token="glrt-t", executor="docker")
    new_text = apply("", desired)[1]
    data = tomllib.loads(new_text)
    assert data["concurrent"] == 8 and data["runners"][0]["docker"]["services"][1]["alias"] == "cache"
    assert '  name = "a"' in new_text.splitlines()
    keep_for_gocheck("new-file.toml", new_text)


def test_absent_removes_only_that_runner():
    text = '[[runners]]\n  name = "a"\n[[runners]]\n  name = "b"  # keep me\n[[runners]]\n  name = "c"\n'
    desired = desired_only(None, [{"name": "b", "state": "absent"}, {"name": "zz", "state": "absent"}])
    planned, new_text = apply(text, desired)
    assert planned["changes"] == {"runners": {"b": ["(removed)"]}}
    assert [r["name"] for r in tomllib.loads(new_text)["runners"]] == ["a", "c"]
    assert not core.plan(new_text, desired)["changed"]


def test_null_removes_a_key_and_environment_entry():
    text = '[[runners]]\n  name = "a"\n  environment = ["A=1", "B=2"]\n  [runners.docker]\n    network_mode = "host"\n'
    desired = desired_only(None, [{"name": "a", "docker": {"network_mode": None},
                                  "environment": {"A": None}}])
    planned, new_text = apply(text, desired)
    runner = tomllib.loads(new_text)["runners"][0]
    assert runner["environment"] == ["B=2"] and "network_mode" not in runner["docker"]
    assert sorted(planned["changes"]["runners"]["a"]) == ["docker.network_mode", "environment.A"]


def test_global_tables_merge_key_by_key():
    text = 'concurrent = 1\n[session_server]\n  session_timeout = 1800\n'
    desired = desired_only({"session_server": {"listen_address": "[::]:8093"}}, [])
    new_text = apply(text, desired)[1]
    assert tomllib.loads(new_text)["session_server"] == {"session_timeout": 1800, "listen_address": "[::]:8093"}


@pytest.mark.parametrize("global_values, runners, message", [
    ({"concurrent": 0}, [], "global.concurrent: got 0"),
    ({"concurrent": "4"}, [], "global.concurrent: got string '4', expected a integer"),
    ({"connection_max_age": "15 minutes"}, [], "duration string"),
    (None, [{"name": "a", "docker": {"privileged": "true"}}], r"runners\[a\].docker.privileged: got string 'true', expected a boolean"),
    (None, [{"name": "a", "docker": {"image": 5}}], r"runners\[a\].docker.image: got integer 5, expected a string"),
    (None, [{"name": "a", "docker": {"Image": "x"}}], "spells this key 'image'"),
    (None, [{"name": "a", "docker": {"services": [{"alias": "db"}]}}], r"services\[0\]: every service needs a name"),
    (None, [{"name": "a", "docker": {"services": ["postgres"]}}], r"services\[0\]: got string"),
    (None, [{"name": "a", "feature_flags": {"FF_NETWORK_PER_BUILD": "true"}}], r"feature_flags.FF_NETWORK_PER_BUILD: got string .true., expected a boolean"),
    (None, [{"name": "a", "network_per_build": True, "feature_flags": {"FF_NETWORK_PER_BUILD": False}}], "disagree"),
    (None, [{"name": "a", "environment": {"A=B": "x"}}], "is not a variable name"),
    (None, [{"name": "a", "settings": {"docker": {}}}], "through the runner options"),
    (None, [{"name": "a"}, {"name": "a"}], "given twice"),
    (None, [{"name": ""}], "non-empty name"),
    (None, [{"name": "a", "docker_auth_config": {"credHelpers": {"reg.tld": "/usr/bin/evil"}}}], "bare name"),
    (None, [{"name": "a", "docker_auth_config": {"credHelpers": {"reg.tld": "../x"}}}], "bare name"),
    (None, [{"name": "a", "docker_auth_config": {"auths": {"reg.tld": {"auth": "!!notbase64"}}}}], "not valid base64"),
    (None, [{"name": "a", "docker_auth_config": {"auths": {"reg.tld": {"auth": encode_auth("", "pw")}}}}], "non-empty user"),
    (None, [{"name": "a", "docker_auth_config": {"auths": {"ftp://reg.tld": {"auth": encode_auth("u", "p")}}}}], "not a registry"),
    (None, [{"name": "a", "docker_auth_config": {"auths": {"*.reg.tld": {"auth": encode_auth("u", "p")}}}}], "no wildcards"),
    (None, [{"name": "a", "environment": {"DOCKER_AUTH_CONFIG": "{not json"}}], "is not a JSON object"),
])
def test_bad_input_names_option_value_and_type(global_values, runners, message):
    with pytest.raises(core.ConfigError, match=message):
        core.build_desired(global_values, runners)


def test_missing_runner_needs_url_token_executor():
    with pytest.raises(core.ConfigError, match="no runner of that name in the file; to add it give url, token, executor"):
        core.plan('[[runners]]\n  name = "b"\n', desired_for("a"))


def test_duplicate_runner_names_in_file_fail():
    text = '[[runners]]\n  name = "a"\n[[runners]]\n  name = "a"\n'
    with pytest.raises(core.ConfigError, match="has 2 runners named 'a'"):
        core.plan(text, desired_for("a"))


def test_environment_of_the_wrong_type_is_refused_not_repaired():
    text = next(FIXTURES.glob("*runner-type-errors.toml")).read_text()
    with pytest.raises(core.ConfigError, match=r"environment in the file is a str, not an array"):
        core.plan(text, desired_for(first_runner(text)))


def test_wrong_types_of_managed_keys_in_the_file_are_replaced():
    text = '[[runners]]\n  name = "a"\n  [runners.docker]\n    privileged = "false"\n    services = ["pg"]\n'
    desired = desired_only(None, [{"name": "a", "docker": {"privileged": False, "services": [{"name": "pg"}]}}])
    new_text = apply(text, desired)[1]
    assert tomllib.loads(new_text)["runners"][0]["docker"] == {"privileged": False, "services": [{"name": "pg"}]}


def test_services_are_edited_in_place_and_keep_comments():
    text = ('[[runners]]\n  name = "a"\n  [runners.docker]\n    image = "x"\n'
            '    # the database\n    [[runners.docker.services]]\n      name = "postgres:15"\n      alias = "db"\n'
            '    # the cache\n    [[runners.docker.services]]\n      name = "redis:6"\n'
            '    [[runners.docker.services]]\n      name = "gone:1"\n')
    desired = desired_only(None, [{"name": "a", "docker": {"services": [
        {"name": "postgres:16", "alias": "db"}, {"name": "redis:7", "alias": "cache"}]}}])
    new_text = apply(text, desired)[1]
    assert "# the database" in new_text and "# the cache" in new_text and "gone:1" not in new_text
    assert tomllib.loads(new_text)["runners"][0]["docker"]["services"] == [
        {"name": "postgres:16", "alias": "db"}, {"name": "redis:7", "alias": "cache"}]


def test_inline_services_stay_inline():
    text = '[[runners]]\n  name = "a"\n  docker = { image = "x", services = [{ name = "pg" }] }\n'
    desired = desired_only(None, [{"name": "a", "docker": {"services": [{"name": "pg", "alias": "db"}],
                                                           "privileged": False}}])
    new_text = apply(text, desired)[1]
    assert "[[runners.docker.services]]" not in new_text and "[runners.docker]" not in new_text
    assert tomllib.loads(new_text)["runners"][0]["docker"]["services"] == [{"name": "pg", "alias": "db"}]


def test_empty_services_list_removes_the_services():
    text = '[[runners]]\n  name = "a"\n  [runners.docker]\n    [[runners.docker.services]]\n      name = "pg"\n'
    desired = desired_only(None, [{"name": "a", "docker": {"services": []}}])
    new_text = apply(text, desired)[1]
    assert "services" not in tomllib.loads(new_text)["runners"][0].get("docker", {})


def test_plain_runners_table_is_refused():
    with pytest.raises(core.ConfigError, match=r"array of tables"):
        core.plan('[runners]\n  name = "a"\n', desired_for("a"))


def test_network_mode_and_environment_flag_warnings():
    text = ('[[runners]]\n  name = "a"\n  environment = ["FF_NETWORK_PER_BUILD=1"]\n'
            '  [runners.docker]\n    network_mode = "host"\n')
    warnings = core.plan(text, desired_for("a"))["warnings"]
    assert any("network_mode 'host'" in w for w in warnings)
    assert any("environment also sets FF_NETWORK_PER_BUILD" in w for w in warnings)


def test_unknown_keys_warn_and_never_matching_registry_keys_warn():
    warnings = core.build_desired(None, [{"name": "a", "docker": {"environment": ["A=1"]},
                                         "docker_auth_config": {"auths": {"index.docker.io": {"auth": encode_auth("u", "p")}}}}])[1]
    assert any("docker.environment is not a key GitLab Runner knows" in w for w in warnings)
    assert any("never matches Docker Hub" in w for w in warnings)


def test_masked_text_hides_every_secret():
    text = (
        '[[runners]]\n  name = "a"\n  token = "glrt-secret-token"\n'
        '  environment = ["AWS_SECRET_ACCESS_KEY=awssecret", "PLAIN=visible"]\n'
        '  [runners.cache.s3]\n    SecretKey = "s3-secret"\n    AccessKey = "s3-access"\n'
    )
    desired = desired_for("a")
    new_text = apply(text, desired)[1]
    masked = core.masked_text(new_text)
    secrets = core.text_secrets(new_text)
    assert {"glrt-secret-token", "awssecret", "s3-secret", PASSWORD, encode_auth("ci", PASSWORD)} <= secrets
    for secret in secrets:
        assert secret not in masked
    assert "PLAIN=visible" in masked and "ecr-login" in masked and "********" in masked


def test_masking_keeps_the_layout():
    text = '# top\n[[runners]]\n  name = "a"  # note\n  token = "glrt-x"\n'
    assert core.masked_text(text) == '# top\n[[runners]]\n  name = "a"  # note\n  token = "********"\n'


def test_big_file_noop_uses_the_fast_parser_only(monkeypatch):
    text = load_generator().generate(50)
    name = first_runner(text)
    desired = desired_only(None, [{"name": name, "docker": {"image": "x:1"}}])
    new_text = apply(text, desired)[1]

    def no_tomlkit(*args, **kwargs):
        raise AssertionError("tomlkit used on a no-op")

    monkeypatch.setattr(core.tomlkit, "parse", no_tomlkit)
    assert not core.plan(new_text, desired)["changed"]


def test_same_tells_types_apart():
    assert core.same({"a": [1, True]}, {"a": [1, True]})
    assert not core.same(1, True) and not core.same(0, False) and not core.same([1], (1,))


def test_environment_other_entries_keep_order():
    changed, edits, entries = core.plan_environment(["B=1", "A=old", "C=3", "noequals"],
                                                    {"A": ("text", "new"), "D": ("text", "4")})
    assert entries == ["B=1", "A=new", "C=3", "noequals", "D=4"] and changed == ["A", "D"]
    assert edits == [("replace", 1, "A=new"), ("append", "D=4")]


def test_environment_entry_split_at_first_equals():
    assert core.env_split("A=b=c") == ("A", "b=c") and core.env_split("junk") == (None, None)


class _EnvironTripwire(dict):
    """Stands in for os.environ: any read fails the test, so a core that looks at it cannot pass."""

    def _read(self, *args, **kwargs):
        raise AssertionError("the core read the process environment")

    __getitem__ = __contains__ = __iter__ = __len__ = get = keys = items = values = copy = _read


def test_os_env_is_not_read(monkeypatch):
    # The core is pure: plan, render, verify and masking of a real-world file never read the environment
    # (a DOCKER_AUTH_CONFIG there must not leak into what the module writes or compares).
    text = (FIXTURES / VALID[0].name).read_text(encoding="utf-8")
    desired = desired_only({"concurrent": 3}, [dict(DESIRED_RUNNER, name="env-check", url="https://gitlab.example.com",
                                                    token="glrt-env-check", executor="docker")])
    expected = apply(text, desired)[1]
    monkeypatch.setattr(os, "environ", _EnvironTripwire())
    with pytest.raises(AssertionError):  # the tripwire itself works
        os.getenv("DOCKER_AUTH_CONFIG")
    assert apply(text, desired)[1] == expected
    assert core.masked_text(expected)


# ---------------------------------------------------------------- properties

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _runner_schema as schema  # noqa: E402

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)
VALUE_OF = {
    schema.STR: TEXT,
    schema.INT: st.integers(min_value=-2**31, max_value=2**31),
    schema.BOOL: st.booleans(),
    schema.STR_LIST: st.lists(TEXT, max_size=3),
}
DOCKER_KEYS = sorted(k for k, t in schema.DOCKER.items() if t in VALUE_OF)
DOCKER_VALUES = st.dictionaries(st.sampled_from(DOCKER_KEYS), st.none(), max_size=6).flatmap(
    lambda keys: st.fixed_dictionaries({k: VALUE_OF[schema.DOCKER[k]] for k in keys}))
ENV = st.dictionaries(st.from_regex(r"\A[A-Z][A-Z0-9_]{0,8}\Z"), st.one_of(st.none(), TEXT), max_size=4)
SERVICES = st.lists(st.fixed_dictionaries({"name": TEXT.filter(bool)}, optional={"alias": TEXT}), max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docker=DOCKER_VALUES, env=ENV, services=SERVICES, flag=st.booleans(),
       fixture=st.sampled_from(VALID), seed=st.integers(0, 3))
def test_any_valid_desired_state_applies_once_and_survives_a_runner_rewrite(docker, env, services, flag, fixture, seed):
    text = fixture.read_text()
    name = first_runner(text) or "added"
    spec = {"name": name, "docker": dict(docker, services=services), "environment": env,
            "network_per_build": flag, "url": "https://g", "token": "glrt-t", "executor": "docker"}
    desired = desired_only(None, [spec])
    new_text = apply(text, desired)[1]
    assert not core.plan(new_text, desired)["changed"]
    assert not core.plan(runner_rewrite(new_text, seed), desired)["changed"]


def test_crlf_files_keep_crlf_line_endings():
    # Built at run time: the repository keeps LF only (sanity line-endings).
    text = (FIXTURES / "31-windows-paths.toml").read_text().replace("\n", "\r\n")
    desired = desired_for(first_runner(text))
    new_text = apply(text, desired)[1]
    assert not core.plan(new_text, desired)["changed"]
    assert text.count("\r\n") > 10 and new_text.count("\n") == new_text.count("\r\n")


@pytest.mark.parametrize("removed, kept", [
    ("a", ["# top", "# ---- b ----", "# ---- c ----"]),
    ("b", ["# top", "# ---- a ----", "# ---- c ----"]),
    ("c", ["# top", "# ---- a ----", "# ---- b ----"]),
])
def test_removing_a_runner_takes_its_own_comments_and_keeps_the_others(removed, kept):
    text = ('concurrent = 1  # top\n\n# ---- a ----\n[[runners]]\n  name = "a"\n  [runners.docker]\n    image = "x"\n\n'
            '# ---- b ----\n[[runners]]\n  name = "b"\n\n# ---- c ----\n[[runners]]\n  name = "c"\n')
    new_text = apply(text, desired_only(None, [{"name": removed, "state": "absent"}]))[1]
    assert "# ---- %s ----" % removed not in new_text
    assert [line for line in new_text.splitlines() if line.startswith("#") or "# top" in line] == [
        "concurrent = 1  # top" if k == "# top" else k for k in kept]
    assert [r["name"] for r in tomllib.loads(new_text)["runners"]] == [n for n in "abc" if n != removed]


def test_removing_the_first_runner_after_a_table_moves_the_comment_of_the_next():
    text = ('[session_server]\n  session_timeout = 1800\n\n# ---- a ----\n[[runners]]\n  name = "a"\n\n'
            '# ---- b ----\n[[runners]]\n  name = "b"\n')
    new_text = apply(text, desired_only(None, [{"name": "a", "state": "absent"}]))[1]
    assert "# ---- a ----" not in new_text and "# ---- b ----\n[[runners]]\n  name = \"b\"" in new_text


def test_new_keys_go_before_the_comment_of_the_next_table():
    text = 'concurrent = 2\n# The runner added this one itself.\n[[runners]]\n  name = "a"\n  # about docker\n  [runners.docker]\n    image = "x"\n'
    new_text = apply(text, desired_only({"check_interval": 3}, [{"name": "a", "settings": {"limit": 3}}]))[1]
    assert new_text == ('concurrent = 2\ncheck_interval = 3\n# The runner added this one itself.\n[[runners]]\n  name = "a"\n'
                        '  limit = 3\n  # about docker\n  [runners.docker]\n    image = "x"\n')


def test_tables_appended_to_a_runner_go_before_the_next_runner_header():
    """The blank line and comments above the next [[runners]] end the previous runner's text in
    tomlkit; new tables must not push them away from that header."""
    text = ('[[runners]]\n  name = "a"\n  [runners.docker]\n    image = "x"\n\n'
            '# ---- b ----\n[[runners]]\n  name = "b"\n  [runners.docker]\n    image = "y"\n\n# end of file\n')
    desired = desired_only(None, [
        {"name": "a", "network_per_build": True, "docker": {"services": [{"name": "pg", "alias": "db"}, {"name": "redis"}]}},
        {"name": "b", "network_per_build": True}])
    new_text = apply(text, desired)[1]
    assert new_text == (
        '[[runners]]\n  name = "a"\n  [runners.docker]\n    image = "x"\n'
        '    [[runners.docker.services]]\n      name = "pg"\n      alias = "db"\n'
        '    [[runners.docker.services]]\n      name = "redis"\n'
        '  [runners.feature_flags]\n    FF_NETWORK_PER_BUILD = true\n\n'
        '# ---- b ----\n[[runners]]\n  name = "b"\n  [runners.docker]\n    image = "y"\n'
        '  [runners.feature_flags]\n    FF_NETWORK_PER_BUILD = true\n\n# end of file\n')
    # A third entry appended to the existing services sits right under the others, too.
    desired = desired_only(None, [{"name": "a", "docker": {"services": [
        {"name": "pg", "alias": "db"}, {"name": "redis"}, {"name": "minio"}]}}])
    assert '      name = "redis"\n    [[runners.docker.services]]\n      name = "minio"\n  [runners.feature_flags]' \
        in apply(new_text, desired)[1]


@pytest.mark.parametrize("text, expected_start", [
    pytest.param("", '[[runners]]\n  name = "new"', id="empty-file"),
    pytest.param("concurrent = 1\n", 'concurrent = 1\n\n[[runners]]\n  name = "new"', id="globals-only"),
    pytest.param("concurrent = 1\n\n", 'concurrent = 1\n\n[[runners]]\n  name = "new"', id="globals-and-blank-line"),
    pytest.param('concurrent = 1\n\n[[runners]]\n  name = "a"\n  [runners.docker]\n    image = "x"\n',
                 'concurrent = 1\n\n[[runners]]\n  name = "a"\n  [runners.docker]\n    image = "x"\n\n[[runners]]\n'
                 '  name = "new"', id="after-a-runner"),
])
def test_a_new_runner_gets_one_blank_line_before_it_and_none_inside(text, expected_start):
    desired = desired_only(None, [{"name": "new", "url": "https://gitlab.example.com", "token": "glrt-new",
                                   "executor": "docker", "docker": {"image": "alpine", "services": [{"name": "pg"}]}}])
    new_text = apply(text, desired)[1]
    assert new_text.startswith(expected_start)
    assert new_text.endswith('  [runners.docker]\n    image = "alpine"\n    [[runners.docker.services]]\n'
                             '      name = "pg"\n')


def test_a_value_with_quotes_and_control_characters_is_written_as_a_basic_string():
    value = 'a"b\x1fc\nd'
    desired = desired_only(None, [{"name": "a", "environment": {"NOTE": value}}])
    new_text = apply('[[runners]]\n  name = "a"\n', desired)[1]
    assert tomllib.loads(new_text)["runners"][0]["environment"] == ["NOTE=" + value]


# ---------------------------------------------------------------- BOM, inline runners, dotted keys (issue 12, point 6)

INLINE_RUNNERS = ('concurrent = 2\n'
                  'runners = [\n'
                  '  # the build runner\n'
                  '  {name = "a", url = "https://gitlab.example.com", token = "glrt-a", executor = "docker",'
                  ' environment = ["X=1"], docker = {image = "alpine:3"}},\n'
                  '  {name = "c", url = "https://gitlab.example.com", token = "glrt-c", executor = "shell"},\n'
                  ']\n')
DOTTED_RUNNER = ('concurrent = 2\n'
                 '[[runners]]\n  name = "a"\n  url = "https://gitlab.example.com"\n  token = "glrt-a"\n'
                 '  executor = "docker"\n  docker.image = "alpine:3"\n  cache.s3.ServerAddress = "s3.example.com"\n'
                 '  [runners.feature_flags]\n    FF_USE_FASTZIP = true\n')
RUNNER_WRITTEN_LIKE = ('concurrent = 2\n\n[[runners]]\n  name = "a"\n  url = "https://gitlab.example.com"\n'
                       '  token = "glrt-a"\n  executor = "docker"\n  [runners.docker]\n    image = "alpine:3"\n')
FULL_EDIT = [dict(DESIRED_RUNNER, name="a"),
             {"name": "n", "url": "https://gitlab.example.com", "token": "glrt-n", "executor": "docker",
              "docker": {"image": "alpine:3", "services": [{"name": "pg"}, {"name": "redis"}]}},
             {"name": "c", "state": "absent"}]


def edit_and_rerun(text, runners):
    """Plan and render through the core as the module does, then a rerun must find nothing to change."""
    desired = desired_only(None, runners)
    planned = core.plan(text, desired)
    new_text = core.render_checked(planned, desired)
    assert not core.plan(new_text, desired)["changed"]
    return new_text


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_utf8_bom_is_read_past_like_the_runner_and_kept(newline):
    # GitLab Runner's BurntSushi/toml 1.6.0 skips a UTF-8 BOM (tomllib and tomlkit refuse it)
    text = core.BOM + RUNNER_WRITTEN_LIKE.replace("\n", newline)
    assert core.parse(text)["runners"][0]["name"] == "a"
    new_text = edit_and_rerun(text, [{"name": "a", "docker": {"image": "alpine:4"}}])
    assert new_text.startswith(core.BOM + "concurrent = 2" + newline) and new_text.count(core.BOM) == 1
    assert new_text == text.replace("alpine:3", "alpine:4")
    assert core.masked_text(text).startswith(core.BOM + "concurrent")
    keep_for_gocheck("bom-%s.toml" % ("crlf" if newline == "\r\n" else "lf"), new_text)


def test_inline_runners_array_is_edited_in_place():
    new_text = edit_and_rerun(INLINE_RUNNERS, FULL_EDIT)
    data = tomllib.loads(new_text)
    assert [r["name"] for r in data["runners"]] == ["a", "n"]
    a, n = data["runners"]
    assert a["docker"]["services"] == [{"name": "postgres:16", "alias": "db"}, {"name": "redis:7", "alias": "cache"}]
    assert a["environment"][:2] == ["X=1", "HTTP_PROXY=http://proxy:3128"]
    assert a["feature_flags"] == {"FF_NETWORK_PER_BUILD": True, "FF_USE_FASTZIP": True}
    assert (n["token"], n["docker"]["services"]) == ("glrt-n", [{"name": "pg"}, {"name": "redis"}])
    # still the user's layout: one inline array, the comment kept, no [[runners]] header
    assert new_text.startswith("concurrent = 2\nrunners = [\n  # the build runner\n  {name = \"a\"")
    assert "[[runners" not in new_text and "[runners" not in new_text
    keep_for_gocheck("inline-runners.toml", new_text)


def test_runner_with_dotted_keys_is_edited_in_place():
    new_text = edit_and_rerun(DOTTED_RUNNER, FULL_EDIT[:2])
    data = tomllib.loads(new_text)
    a, n = data["runners"]
    assert a["docker"]["image"] == DESIRED_RUNNER["docker"]["image"]
    assert a["docker"]["services"] == [{"name": "postgres:16", "alias": "db"}, {"name": "redis:7", "alias": "cache"}]
    assert a["cache"] == {"s3": {"ServerAddress": "s3.example.com"}}
    assert a["feature_flags"] == {"FF_USE_FASTZIP": True, "FF_NETWORK_PER_BUILD": True}
    assert n["docker"]["services"] == [{"name": "pg"}, {"name": "redis"}]
    # A dotted-key table has no header to put [[runners.docker.services]] under: an inline array instead
    assert "  docker.services = [" in new_text and "[[docker.services]]" not in new_text
    assert "  cache.s3.ServerAddress = " in new_text
    keep_for_gocheck("dotted-keys.toml", new_text)


def test_layout_note_tells_what_to_change():
    assert "runners = [{...}]" in core.layout_note(INLINE_RUNNERS)
    assert "rewrite them as [[runners]] tables" in core.layout_note(INLINE_RUNNERS)
    assert "dotted keys (docker.image = ...)" in core.layout_note(DOTTED_RUNNER)
    assert core.layout_note(RUNNER_WRITTEN_LIKE) == ""
