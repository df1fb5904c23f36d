# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker auth data model: image and key normalization, DOCKER_AUTH_CONFIG, config.json."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given, strategies as st

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets
from ansible_collections.runnerkit.gitlab_runner.plugins.filter.docker_auth import FilterModule

FILTERS = FilterModule().filters()


# Every rule of reference §5.5 (runner TestDockerImagePathNormalization and friends).
@pytest.mark.parametrize("image, path, registry", [
    ("nginx", "docker.io/nginx", "docker.io"),
    ("nginx:1.27", "docker.io/nginx", "docker.io"),
    ("user/ubuntu", "docker.io/user/ubuntu", "docker.io"),
    ("library/alpine:3", "docker.io/library/alpine", "docker.io"),
    ("notLocalhost/test", "docker.io/notLocalhost/test", "docker.io"),
    ("localhost/test:xxx", "localhost/test", "localhost"),
    ("LOCALHOST/test", "localhost/test", "localhost"),
    ("localhost:1234/test", "localhost:1234/test", "localhost:1234"),
    ("index.docker.io/library/x:1", "docker.io/library/x", "docker.io"),
    ("Index.Docker.IO/user/x", "docker.io/user/x", "docker.io"),
    ("docker.io/user/x:tag", "docker.io/user/x", "docker.io"),
    ("My.Registry.tld:5000/NS/Image:tag", "my.registry.tld:5000/NS/Image", "my.registry.tld:5000"),
    ("registry.local/ns/blipp/image:bar", "registry.local/ns/blipp/image", "registry.local"),
    ("host:5000/a/b:tag", "host:5000/a/b", "host:5000"),
    ("reg.tld/ns/img@sha256:" + "a" * 64, "reg.tld/ns/img@sha256", "reg.tld"),
    ("reg.tld/ns/img:1.0@sha256:" + "b" * 64, "reg.tld/ns/img", "reg.tld"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
     "123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
    ("public.ecr.aws/ns/app:latest", "public.ecr.aws/ns/app", "public.ecr.aws"),
])
def test_image_normalization_matches_the_runner(image, path, registry):
    assert auth.image_registry_path(image) == path
    assert auth.image_registry(image) == registry
    assert FILTERS["image_registry_path"](image) == path and FILTERS["image_registry"](image) == registry


@pytest.mark.parametrize("key, path", [
    ("https://index.docker.io/v1/", "docker.io"),
    ("HTTP://Index.Docker.io/v1/", "docker.io"),
    ("https://my.hostname/v1/something", "my.hostname"),
    ("https://reg.tld:5000", "reg.tld:5000"),
    ("registry.local/ns/", "registry.local/ns"),
    ("Registry.Local/NS", "registry.local/NS"),
    ("host/ns/img:tag", "host/ns/img"),
    ("reg.tld:5000", "reg.tld:5000"),
    ("index.docker.io", "index.docker.io"),
])
def test_key_to_registry_path_matches_the_runner(key, path):
    assert auth.key_registry_path(key) == path


@pytest.mark.parametrize("key, normalized", [
    ("docker.io", "https://index.docker.io/v1/"),
    ("https://index.docker.io/v1/", "https://index.docker.io/v1/"),
    ("https://registry-1.docker.io", "https://index.docker.io/v1/"),
    ("https://Reg.tld:5000/", "reg.tld:5000"),
    ("http://reg.tld/v2/", "reg.tld"),
    ("Reg.tld:5000", "reg.tld:5000"),
    ("reg.tld/ns/", "reg.tld/ns"),
    ("docker.io/team", "docker.io/team"),
    ("index.docker.io", "https://index.docker.io/v1/"),
    ("Index.Docker.IO/", "https://index.docker.io/v1/"),
    ("registry-1.docker.io", "https://index.docker.io/v1/"),
    ("HTTP://DOCKER.IO/v2", "https://index.docker.io/v1/"),
    ("index.docker.io/team/", "docker.io/team"),
    ("reg.tld:443", "reg.tld:443"),
    ("https://reg.tld:443/", "reg.tld:443"),
    ("https://reg.tld:80/v1/", "reg.tld:80"),
    ("reg.tld/NS/img:tag", "reg.tld/NS/img"),
])
def test_registry_keys_are_written_the_way_every_client_matches_them(key, normalized):
    assert auth.normalize_registry_key(key, "k") == normalized


HUB_SPELLINGS = ["docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/",
                 "http://index.docker.io/v1", "https://docker.io", "https://registry-1.docker.io/v2/", "Docker.IO/"]


@given(st.sampled_from(["reg.tld", "Reg.Example.COM:5000", "10.0.0.1:5000", "localhost:1234"]),
       st.sampled_from(["", "http://", "https://", "HTTPS://"]), st.sampled_from(["", "/", "/v1/", "/v2", "/v2/"]),
       st.booleans())
def test_every_spelling_of_a_registry_is_one_key(host, scheme, suffix, upper):
    spelled = scheme + (host.upper() if upper else host) + (suffix if scheme or suffix in ("", "/") else "")
    assert auth.normalize_registry_key(spelled, "k") == host.lower()


def test_every_spelling_of_docker_hub_is_the_cli_key_and_ports_stay_apart():
    assert {auth.normalize_registry_key(k, "k") for k in HUB_SPELLINGS} == {auth.DOCKER_HUB_KEY}
    # The runner and the CLI compare host:port exactly; a default port is not dropped (reference §5.5).
    assert auth.normalize_registry_key("reg.tld:443", "k") != auth.normalize_registry_key("reg.tld", "k")


def test_a_scheme_with_a_path_in_a_file_counts_as_its_host():
    assert auth.equivalent_keys(["https://reg.tld/ns/app", "reg.tld", "reg.tld:5000", "*bad*"], "reg.tld") == [
        "https://reg.tld/ns/app", "reg.tld"]


@pytest.mark.parametrize("key, message", [
    ("https://reg.tld/ns/app", "has a scheme and a path"),
    ("ftp://reg.tld", "not a registry"),
    ("*.reg.tld", "no wildcards"),
    ("reg tld", "not a registry"),
    ("", "not a registry"),
])
def test_bad_registry_keys_are_refused(key, message):
    with pytest.raises(auth.AuthConfigError, match=message):
        auth.normalize_registry_key(key, "k")


@pytest.mark.parametrize("key", ["index.docker.io", "registry-1.docker.io/ns"])
def test_keys_the_runner_never_matches_warn(key):
    assert any("never matches Docker Hub" in w for w in auth.registry_key_warnings(key))


@pytest.mark.parametrize("password", ['plain', 'with"quote', 'dollar$HOME', 'back\\slash', 'co:lon:s', 'ünï', "'single'"])
def test_docker_auth_config_round_trip_with_awkward_passwords(password):
    value = FILTERS["docker_auth_config"]([{"registry": "reg.tld:5000", "username": "ci", "password": password}])
    data = json.loads(value)
    assert base64.b64decode(data["auths"]["reg.tld:5000"]["auth"]).decode() == "ci:" + password
    assert "$" not in value and value == json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def test_filter_output_is_what_runner_config_writes():
    registries = [{"registry": "b.tld", "username": "u", "password": "p"},
                  {"registry": "a.tld", "helper": "ecr-login"}, {"registry": "docker.io", "auth": auth.encode_auth("h", "p")}]
    from_list = FILTERS["docker_auth_config"](registries)
    from_dict = FILTERS["docker_auth_config"]({"auths": {"b.tld": {"username": "u", "password": "p"},
                                                         "docker.io": {"auth": auth.encode_auth("h", "p")}},
                                               "credHelpers": {"a.tld": "ecr-login"}})
    runner_side = auth.compact_json(auth.build_auth_config({"registries": registries})[0])
    assert from_list == from_dict == runner_side
    assert list(json.loads(from_list)) == ["auths", "credHelpers"]
    assert "https://index.docker.io/v1/" in json.loads(from_list)["auths"]


def test_one_registries_entry_is_one_auths_or_credhelpers_entry():
    data, warnings = auth.build_auth_config({"registries": [
        {"registry": "https://Reg.tld/", "username": "u", "password": "p", "state": "present"},
        {"registry": "index.docker.io", "helper": "pass"},
        {"registry": "gone.tld", "state": "absent"}], "credsStore": "desktop"}, "runners[a].docker_auth_config")
    assert data == {"auths": {"reg.tld": {"auth": auth.encode_auth("u", "p")}},
                    "credHelpers": {"https://index.docker.io/v1/": "pass"}, "credsStore": "desktop"}
    assert any("never matches Docker Hub" in w for w in warnings) and any("credsStore" in w for w in warnings)
    assert auth.build_auth_config({"registries": []}) == ({}, [])
    # next to the older mapping (rotate_ecr_auth.yml adds its tokens as auths), one registry once
    both = auth.build_auth_config({"registries": [{"registry": "a.tld", "helper": "pass"}],
                                   "auths": {"ecr.tld": {"auth": auth.encode_auth("AWS", "t")}}})[0]
    assert both == {"auths": {"ecr.tld": {"auth": auth.encode_auth("AWS", "t")}}, "credHelpers": {"a.tld": "pass"}}


@pytest.mark.parametrize("spec, message", [
    ({"registries": [{"registry": "r.tld", "helper": "x"}], "credHelpers": {"R.tld": "y"}},
     r"^d: registry 'r.tld' is in both registries and the older auths/credHelpers mapping"),
    ({"registries": {"r.tld": {"helper": "x"}}}, r"^d\.registries: must be a list of registry entries"),
    ({"registries": [{"registry": "r.tld", "username": "u:x", "password": "p"}]},
     r"^d\.registries\[r\.tld\]\.username: must be a non-empty string"),
])
def test_registries_in_docker_auth_config_errors_name_the_entry(spec, message):
    with pytest.raises(auth.AuthConfigError, match=message):
        auth.build_auth_config(spec, "d")


def test_filter_accepts_a_registered_result_with_auths():
    result = {"changed": False, "auths": {"1.dkr.ecr.eu-west-1.amazonaws.com": {"auth": auth.encode_auth("AWS", "tok")}},
              "expires_at": "2026-11-25T23:00:00Z"}
    assert json.loads(FILTERS["docker_auth_config"](result)) == {"auths": dict(result["auths"])}


@pytest.mark.parametrize("data, message", [
    ([{"registry": "r.tld", "helper": "/usr/bin/x"}], "bare name"),
    ([{"registry": "r.tld", "helper": "docker-credential-ecr-login"}], "must not repeat"),
    ([{"registry": "r.tld", "auth": "bm9jb2xvbg=="}], "user:password"),
    ([{"registry": "r.tld", "username": "", "password": "p"}], "non-empty string"),
    ("just a string", "expected a registries list"),
])
def test_filter_errors_name_the_problem(data, message):
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS["docker_auth_config"](data)


# ---------------------------------------------------------------- config.json


def entries(*registries):
    return auth.build_registry_entries(list(registries))[0]


CURRENT = {
    "auths": {"other.tld": {"auth": auth.encode_auth("o", "p")}, "reg.tld:5000": {"auth": auth.encode_auth("old", "x"),
                                                                                  "email": "a@b"}},
    "proxies": {"default": {"httpProxy": "http://p:3128"}}, "detachKeys": "ctrl-e,e", "unknown": [1, 2],
    "credHelpers": {"gone.tld": "gcloud"},
}


def test_merge_keeps_everything_it_does_not_manage():
    new, changes, warnings = auth.plan_config_json(CURRENT, entries(
        {"registry": "reg.tld:5000", "username": "ci", "password": "pw"},
        {"registry": "1.dkr.ecr.eu-west-1.amazonaws.com", "helper": "ecr-login"},
        {"registry": "gone.tld", "state": "absent"}, {"registry": "never.tld", "state": "absent"}))
    assert changes == {"reg.tld:5000": "updated", "1.dkr.ecr.eu-west-1.amazonaws.com": "added", "gone.tld": "removed",
                       "never.tld": "unchanged"}
    assert new["auths"]["reg.tld:5000"] == {"auth": auth.encode_auth("ci", "pw"), "email": "a@b"}
    assert new["auths"]["other.tld"] == CURRENT["auths"]["other.tld"]
    assert new["credHelpers"] == {"1.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}
    for key in ("proxies", "detachKeys", "unknown"):
        assert new[key] == CURRENT[key]
    assert not warnings
    again = auth.plan_config_json(new, entries({"registry": "reg.tld:5000", "username": "ci", "password": "pw"}))
    assert again[0] == new and again[1] == {"reg.tld:5000": "unchanged"}


def test_exclusive_removes_unlisted_registries():
    new, changes, _warnings = auth.plan_config_json(CURRENT, entries({"registry": "other.tld", "auth": auth.encode_auth("o", "p")}),
                                                    exclusive=True)
    assert set(new["auths"]) == {"other.tld"} and new["credHelpers"] == {}
    assert changes == {"other.tld": "unchanged", "reg.tld:5000": "removed", "gone.tld": "removed"}


def test_exclusive_keeps_the_auths_entries_of_keep():
    keep = auth.normalize_keep(["https://reg.tld:5000", "absent.tld"], "keep_auths")
    assert keep == ["reg.tld:5000", "absent.tld"]
    new, changes, _warnings = auth.plan_config_json(CURRENT, entries({"registry": "other.tld", "auth": auth.encode_auth("o", "p")}),
                                                    exclusive=True, keep=keep)
    assert new["auths"] == {k: CURRENT["auths"][k] for k in ("other.tld", "reg.tld:5000")}
    assert new["credHelpers"] == {} and "absent.tld" not in new["auths"]
    assert changes == {"other.tld": "unchanged", "reg.tld:5000": "unchanged", "gone.tld": "removed"}


@pytest.mark.parametrize("keep, message", [("reg.tld", "must be a list"), (["reg tld"], "keep_auths[0]")])
def test_bad_keep_lists_are_refused(keep, message):
    with pytest.raises(auth.AuthConfigError, match=re.escape(message)):
        auth.normalize_keep(keep, "keep_auths")


def test_kept_auths_join_the_desired_ones_and_never_override_them():
    token, static = {"auth": auth.encode_auth("AWS", "tok3n")}, {"auth": auth.encode_auth("ci", "pw")}
    current = {"auths": {"https://1.dkr.ecr.eu-west-1.amazonaws.com": token, "2.dkr.ecr.eu-west-1.amazonaws.com": token,
                         "reg.tld": {"auth": "old"}, "other.tld": token}}
    desired = {"auths": {"reg.tld": static}, "credHelpers": {"2.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}}
    keep = ["1.dkr.ecr.eu-west-1.amazonaws.com", "2.dkr.ecr.eu-west-1.amazonaws.com", "reg.tld", "gone.tld"]
    merged = auth.with_kept_auths(desired, current, keep)
    assert merged == {"auths": {"reg.tld": static, "1.dkr.ecr.eu-west-1.amazonaws.com": token},
                      "credHelpers": desired["credHelpers"]}
    assert desired == {"auths": {"reg.tld": static}, "credHelpers": {"2.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}}
    for nothing in (None, {}, {"auths": "x"}, {"auths": {"other.tld": token}}):
        assert auth.with_kept_auths(desired, nothing, keep) is desired


def test_helper_replaces_stale_static_credentials_and_vice_versa():
    new = auth.plan_config_json(CURRENT, entries({"registry": "reg.tld:5000", "helper": "ecr-login"}))[0]
    assert "reg.tld:5000" not in new["auths"] and new["credHelpers"]["reg.tld:5000"] == "ecr-login"
    back = auth.plan_config_json(new, entries({"registry": "reg.tld:5000", "username": "u", "password": "p"}))[0]
    assert "reg.tld:5000" not in back["credHelpers"] and back["auths"]["reg.tld:5000"]["auth"] == auth.encode_auth("u", "p")


def test_creds_store_guard():
    with pytest.raises(auth.AuthConfigError, match="allow_creds_store"):
        auth.plan_config_json({}, [], creds_store="pass")
    with pytest.raises(auth.AuthConfigError, match="cannot store credentials"):
        auth.plan_config_json({}, [], creds_store="ecr-login", allow_creds_store=True)
    new, _changes, warnings = auth.plan_config_json(CURRENT, [], creds_store="pass", allow_creds_store=True)
    assert new["credsStore"] == "pass"
    assert any("Docker Hub included" in w and "other.tld" in w for w in warnings)
    assert "credsStore" not in auth.plan_config_json(new, [], creds_store="")[0]


def test_existing_creds_store_is_reported_with_what_it_shadows():
    warnings = auth.plan_config_json({"credsStore": "desktop", "auths": {"a.tld": {"auth": auth.encode_auth("u", "p")}}}, [])[2]
    assert warnings and "'desktop'" in warnings[0] and "a.tld" in warnings[0]


ALL_HUB = {"auths": {k: {"auth": auth.encode_auth("old", k)} for k in HUB_SPELLINGS[:4]},
           "credHelpers": {"docker.io": "desktop", "index.docker.io": "pass", "other.tld": "ecr-login"}}


def test_an_update_replaces_every_equivalent_entry_with_the_one_key():
    new, changes, _warnings = auth.plan_config_json(ALL_HUB, entries({"registry": "docker.io", "username": "ci",
                                                                      "password": "pw"}))
    assert new["auths"] == {auth.DOCKER_HUB_KEY: {"auth": auth.encode_auth("ci", "pw")}}
    assert new["credHelpers"] == {"other.tld": "ecr-login"} and changes == {auth.DOCKER_HUB_KEY: "updated"}
    helper = auth.plan_config_json(ALL_HUB, entries({"registry": "index.docker.io", "helper": "desktop"}))[0]
    assert helper["auths"] == {} and helper["credHelpers"] == {auth.DOCKER_HUB_KEY: "desktop", "other.tld": "ecr-login"}
    again = auth.plan_config_json(new, entries({"registry": "https://registry-1.docker.io/v2/", "username": "ci",
                                                "password": "pw"}))
    assert again[0] == new and again[1] == {auth.DOCKER_HUB_KEY: "unchanged"}


def test_removal_removes_every_spelling_and_reports_it():
    current = {"auths": {"https://Reg.Example.com": {"auth": auth.encode_auth("u", "1")},
                         "reg.example.com/": {"auth": auth.encode_auth("u", "2")},
                         "reg.example.com:5000": {"auth": auth.encode_auth("u", "3")}},
               "credHelpers": {"REG.EXAMPLE.COM": "ecr-login"}}
    new, changes, _warnings = auth.plan_config_json(current, entries({"registry": "reg.example.com", "state": "absent"}))
    assert new["auths"] == {"reg.example.com:5000": current["auths"]["reg.example.com:5000"]}
    assert new["credHelpers"] == {} and changes == {"reg.example.com": "removed"}


def test_duplicate_registries_after_normalization_are_refused():
    with pytest.raises(auth.AuthConfigError, match="same registry key 'https://index.docker.io/v1/'"):
        entries({"registry": "docker.io", "auth": auth.encode_auth("u", "p")},
                {"registry": "https://index.docker.io/v1/", "auth": auth.encode_auth("u", "p")})


def test_config_json_is_written_in_the_docker_cli_layout():
    text = auth.dump_config_json({"proxies": {"default": {}}, "zzz": 1, "credHelpers": {"b": "x", "a": "y"},
                                  "HttpHeaders": {"X-A": "<&>"}})
    assert text.startswith('{\n\t"auths": {},\n\t"HttpHeaders": {\n\t\t"X-A": "\\u003c\\u0026\\u003e"\n\t},')
    assert text.index('"credHelpers"') < text.index('"proxies"') < text.index('"zzz"')
    assert text.index('"a"') < text.index('"b"') and not text.endswith("\n")


@pytest.mark.parametrize("text, message", [
    ('{"auths": {', "line 1 column"),
    ("[]", "not a JSON object"),
    ('{"auths": []}', "auths is a list"),
    ('{"credsStore": 1}', "credsStore is not a string"),
])
def test_unusable_config_json_is_refused(text, message):
    with pytest.raises(auth.AuthConfigError, match=message):
        auth.parse_config_json(text)


def test_redaction_hides_every_secret_and_keeps_usernames():
    data = {"auths": {"a": {"auth": "QQ==", "identitytoken": "tok", "username": "me", "password": "pw"}}}
    redacted = json.loads(auth.masked_config_json(data, secrets.collect(data)))["auths"]["a"]
    assert redacted == {"auth": "********", "identitytoken": "********", "username": "me", "password": "********"}


@given(st.text(min_size=1).filter(lambda s: ":" not in s), st.text())
def test_auth_encoding_round_trips(username, password):
    assert auth.decode_auth(auth.encode_auth(username, password)) == (username, password)


@pytest.mark.parametrize("name, expected", [
    ("alpine", ("docker.io", ["alpine"])),
    ("ns/app", ("docker.io", ["ns", "app"])),
    ("index.docker.io/ns/app", ("docker.io", ["ns", "app"])),
    ("Registry.Example:5000/ns/app", ("registry.example:5000", ["ns", "app"])),
    ("LOCALHOST/app", ("localhost", ["app"])),
    ("registry.example", ("docker.io", ["registry.example"])),  # one part: a Hub image, whatever it looks like
])
def test_split_registry_is_the_rule_docker_and_the_runner_share(name, expected):
    assert auth.split_registry(name.split("/")) == expected


def test_json_object_names_what_is_wrong_and_takes_names_literally():
    assert auth.json_object('{"a": 1}', ValueError, "x", "y") == {"a": 1}
    with pytest.raises(KeyError, match="{p} is no JSON"):
        auth.json_object("{", KeyError, "{p} is no JSON ({exc})", "-", p="{p}")
    with pytest.raises(KeyError, match="50% list: no object"):
        auth.json_object("[]", KeyError, "-", "{p} list: no object", p="50%")
