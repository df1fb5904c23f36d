# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_rotation: docker_config's expiry records, the state the audit reads, and the general rotation's decisions."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _resolve as resolve
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _rotation as rotation

NOW = "2027-01-10T00:00:00Z"
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
HARBOR = "harbor.example.com"


def b64(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def jwt(exp):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return "%s.%s.sig" % (part({"alg": "none"}), part({"exp": exp}))


def epoch(text):
    return rotation.ecr.to_utc(text).timestamp()


# ---------------------------------------------------------------- docker_config's records and the audit


def test_static_records_from_expires_at_or_a_jwt_and_none_otherwise():
    records = rotation.static_records([
        {"registry": "https://Harbor.example.com:5000/v2/", "auth": b64("robot", "s3cret"), "expires_at": "2027-02-01"},
        {"registry": "docker.io", "username": "me", "password": jwt(1900000000)},
        {"registry": "plain.example.com", "username": "u", "password": "forever"},
        {"registry": "helper.example.com", "helper": "pass"},
        {"registry": "gone.example.com", "state": "absent"}])
    assert records["harbor.example.com:5000"] == {
        "fingerprint": rotation.fingerprint("harbor.example.com:5000", "s3cret"), "expires_at": "2027-02-01T00:00:00Z"}
    assert records["https://index.docker.io/v1/"]["expires_at"] == "2030-03-17T17:46:40Z"
    assert {k: v for k, v in records.items() if v is None} == {
        "plain.example.com": None, "helper.example.com": None, "gone.example.com": None}
    assert "s3cret" not in json.dumps(records)


@pytest.mark.parametrize("entry, words", [
    ({"registry": HARBOR, "helper": "pass", "expires_at": NOW}, r"registries\[harbor.example.com\].expires_at: only"),
    ({"registry": HARBOR, "state": "absent", "expires_at": NOW}, "only static credentials"),
    ({"registry": HARBOR, "username": "u", "password": "p", "expires_at": "soon"}, "not an ISO 8601 time"),
])
def test_static_records_refuse_bad_input(entry, words):
    with pytest.raises(rotation.RotationError, match=words):
        rotation.static_records([entry])


def test_plan_static_keeps_other_keys_and_files_and_drops_an_emptied_section():
    state = {"version": 1, "auths": {ECR: {"auth": "x"}},
             "static": {"/root/.docker/config.json": {"a.example.com": {"fingerprint": "f"}}, "/other": {"x": {}}}}
    new, recorded = rotation.plan_static(state, {"b.example.com": {"fingerprint": "g", "expires_at": NOW}},
                                         "/root/.docker/config.json")
    assert new["auths"] == state["auths"] and new["static"]["/other"] == {"x": {}}
    assert set(new["static"]["/root/.docker/config.json"]) == {"a.example.com", "b.example.com"}
    assert recorded == {"b.example.com": NOW}
    assert set(state["static"]["/root/.docker/config.json"]) == {"a.example.com"}  # input unchanged
    new, recorded = rotation.plan_static(new, {"a.example.com": None, "b.example.com": None},
                                         "/root/.docker/config.json")
    assert recorded == {} and new["static"] == {"/other": {"x": {}}}
    new = rotation.plan_static(new, {"x": None}, "/other")[0]
    assert "static" not in new and new["auths"] == state["auths"]


def test_the_audit_finds_a_recorded_expiry_by_password_or_by_fingerprint():
    state = {"auths": {HARBOR: {"auth": b64("robot", "rotated-1")}, "https://index.docker.io/v1/": {"auth": b64("me", "hub")}},
             "registries": {HARBOR: {"expires_at": NOW}, "https://index.docker.io/v1/": {"expires_at": NOW}},
             "static": {"/root/.docker/config.json": {
                 "deploy.example.com/ns": {"fingerprint": rotation.fingerprint("deploy.example.com", "gldt-1"),
                                           "expires_at": "2027-01-12T00:00:00Z"},
                 "broken.example.com": {"expires_at": "never"}}, "/junk": "x"}}
    expiries = rotation.recorded_expiries(state)
    assert expiries[(HARBOR, "rotated-1")] == epoch(NOW) and expiries[("docker.io", "hub")] == epoch(NOW)
    assert len(expiries) == 3
    now = epoch(NOW)
    entry = {"kind": resolve.KIND_STATIC, "path": "deploy.example.com/ns", "password": "gldt-1",
             "identitytoken": "", "registrytoken": ""}
    problem = resolve.static_expiry_problem(entry, now, expiries)
    assert "static credentials for deploy.example.com expire at 2027-01-12T00:00:00Z (in 2 days)" in problem
    assert resolve.static_expiry_problem(dict(entry, password="gldt-2"), now, expiries) is None  # another password
    assert "expired" in resolve.static_expiry_problem(entry, now + 3 * 86400, expiries)
    assert rotation.recorded_expiries("junk") == {} and rotation.recorded_expiries({"auths": []}) == {}


def test_merge_state_replaces_the_rotations_keys_only():
    on_disk = {"version": 1, "targets": {"old": 1}, "docker_config_registries": [], "static": {"a": {}}, "other": 2}
    assert rotation.merge_state(on_disk, {"version": 1, "targets": {"new": 1}, "auths": {}}) == {
        "version": 1, "targets": {"new": 1}, "auths": {}, "static": {"a": {}}, "other": 2}
    assert rotation.merge_state(None, {"version": 1}) == {"version": 1}


def test_parse_state():
    assert rotation.parse_state(None, "f") == {} and rotation.parse_state(" \n", "f") == {}
    with pytest.raises(rotation.RotationError, match="f is no JSON"):
        rotation.parse_state("{", "f")
    with pytest.raises(rotation.RotationError, match="holds no JSON object"):
        rotation.parse_state("[]", "f")


# ---------------------------------------------------------------- the general rotation

CREDENTIALS = [
    {"registry": ECR, "source": "ecr"},
    {"registry": "https://Harbor.example.com/", "source": "lookup", "lookup": "ansible.builtin.file",
     "terms": ["/run/secrets/harbor"], "kwargs": {"token": "vault-token"}, "renew_before": "7d", "username": "robot"},
]
TARGETS = {"runners": ["a"], "docker_config_path": "/root/.docker/config.json"}


def _state(harbor_expires, ecr_expires="2027-01-10T10:00:00Z"):
    return {"version": 1, "targets": rotation.rotation_targets(CREDENTIALS, TARGETS),
            "auths": {ECR: {"auth": b64("AWS", "ecr-1")}, HARBOR: {"auth": b64("robot", "harbor-1")}},
            "registries": {ECR: {"expires_at": ecr_expires}, HARBOR: {"expires_at": harbor_expires}}}


def test_targets_record_sources_but_no_lookup_terms_or_options():
    targets = rotation.rotation_targets(CREDENTIALS, TARGETS)
    assert targets["credentials"] == [{"registry": ECR, "source": "ecr", "lookup": None},
                                      {"registry": HARBOR, "source": "lookup", "lookup": "ansible.builtin.file"}]
    assert "vault-token" not in json.dumps(targets) and "/run/secrets" not in json.dumps(targets)


def test_renewal_plan_per_registry_with_its_own_window():
    plan = rotation.renewal_plan(CREDENTIALS, _state("2027-01-20T00:00:00Z"), TARGETS, "3h", NOW)
    assert plan["due"] == [] and plan["reasons"][HARBOR] == "valid until 2027-01-20T00:00:00Z"
    plan = rotation.renewal_plan(CREDENTIALS, _state("2027-01-16T00:00:00Z"), TARGETS, "3h", NOW)
    assert plan["due"] == [HARBOR] and plan["ecr"] == []
    assert plan["lookups"] == [{"registry": "https://Harbor.example.com/", "key": HARBOR, "lookup": "ansible.builtin.file",
                                "terms": ["/run/secrets/harbor"], "kwargs": {"token": "vault-token"}}]
    plan = rotation.renewal_plan(CREDENTIALS, _state("2027-01-20T00:00:00Z", "2027-01-10T02:00:00Z"), TARGETS, "3h", NOW)
    assert plan["due"] == [ECR] and plan["ecr"] == [ECR] and plan["lookups"] == []
    plan = rotation.renewal_plan(CREDENTIALS, _state("2027-01-20T00:00:00Z"), dict(TARGETS, runners=[]), "3h", NOW)
    assert plan["due"] == [ECR, HARBOR] and plan["reasons"][ECR] == "the state was written for other targets"
    plan = rotation.renewal_plan(CREDENTIALS, {}, TARGETS, "3h", NOW)
    assert plan["reasons"][HARBOR] == "no credential in use is recorded"


@pytest.mark.parametrize("entry, words", [
    ({"registry": HARBOR, "source": "vault"}, "source: expected one of ecr, lookup"),
    ({"registry": HARBOR, "source": "lookup"}, "lookup: give the lookup plugin's name"),
    ({"registry": HARBOR, "source": "ecr"}, "is not an Amazon ECR registry host"),
    ({"registry": HARBOR, "source": "lookup", "lookup": "x", "valid_for": "1d", "expires_at": NOW}, "not both"),
    ({"registry": HARBOR, "source": "lookup", "lookup": "x", "renew_before": "soon"}, "renew_before"),
    ({"source": "ecr"}, r"credentials\[0\]: every entry needs a registry"),
])
def test_bad_credential_entries_are_named(entry, words):
    with pytest.raises(rotation.RotationError, match=words):
        rotation.renewal_plan([entry], {}, TARGETS, "3h", NOW)


def test_a_registry_listed_twice_is_refused():
    with pytest.raises(rotation.RotationError, match="listed twice"):
        rotation.credential_definitions([{"registry": HARBOR, "source": "lookup", "lookup": "x"},
                                         {"registry": "https://harbor.example.com", "source": "lookup", "lookup": "x"}])


@pytest.mark.parametrize("value, definition, expected", [
    (["plain-secret"], {"valid_for": "30d"}, ("robot", "plain-secret", "2027-02-09T00:00:00Z")),
    ('{"username": "r2", "password": "p2", "expires_at": "2027-03-01T00:00:00Z"}', {},
     ("r2", "p2", "2027-03-01T00:00:00Z")),
    ({"data": {"password": jwt(1900000000)}, "metadata": {}}, {}, ("robot", jwt(1900000000), "2030-03-17T17:46:40Z")),
    ({"auth": b64("u3", "p3")}, {"expires_at": "2027-04-01"}, ("u3", "p3", "2027-04-01T00:00:00Z")),
])
def test_looked_up_values_and_where_their_expiry_comes_from(value, definition, expected):
    definition = dict({"registry": HARBOR, "username": "robot"}, **definition)
    token, expires = rotation.looked_up_credential(definition, value, rotation.ecr.to_utc(NOW))
    assert (base64.b64decode(token).decode().split(":", 1) + [rotation.ecr.format_time(expires)]) == list(expected)


@pytest.mark.parametrize("value, definition, words", [
    ("secret", {}, "carries no expiry"),
    (["a", "b"], {"valid_for": "1d"}, "returned 2 values"),
    ("{broken", {"valid_for": "1d"}, "starts like JSON but is none"),
    ({"user": "x"}, {"valid_for": "1d"}, r"no password or auth \(keys: user\)"),
    (42, {"valid_for": "1d"}, "returned a int"),
    ({"password": "p"}, {"username": None, "valid_for": "1d"}, "carries no username"),
])
def test_looked_up_values_that_do_not_fit_name_the_registry(value, definition, words):
    definition = dict({"registry": HARBOR, "username": "robot"}, **definition)
    with pytest.raises(rotation.RotationError, match=r"credentials\[harbor.example.com\].*" + words):
        rotation.looked_up_credential(definition, value, rotation.ecr.to_utc(NOW))


def test_rotation_result_takes_fresh_credentials_for_the_due_and_the_state_for_the_others():
    state = _state("2027-01-16T00:00:00Z", "2027-01-10T02:00:00Z")
    plan = rotation.renewal_plan(CREDENTIALS, state, TARGETS, "3h", NOW)
    fetched = {"auths": {ECR: {"auth": b64("AWS", "ecr-2")}}, "registries": {ECR: {"expires_at": "2027-01-10T12:00:00Z"}}}
    result = rotation.rotation_result(CREDENTIALS, state, TARGETS, plan, fetched,
                                      {HARBOR: {"password": "harbor-2", "expires_at": "2027-04-01T00:00:00Z"}}, NOW)
    assert result["renewed"] == [ECR, HARBOR]
    assert result["auths"] == {ECR: {"auth": b64("AWS", "ecr-2")}, HARBOR: {"auth": b64("robot", "harbor-2")}}
    assert result["docker_config_registries"] == [{"registry": ECR, "auth": b64("AWS", "ecr-2")},
                                                  {"registry": HARBOR, "auth": b64("robot", "harbor-2")}]
    assert result["expires_at"] == {ECR: "2027-01-10T12:00:00Z", HARBOR: "2027-04-01T00:00:00Z"}
    assert result["state"]["expires_at"] == "2027-01-10T12:00:00Z"
    assert result["state"]["registries"][HARBOR] == {"expires_at": "2027-04-01T00:00:00Z", "source": "lookup",
                                                     "renewed_at": NOW}
    # Nothing due: the state's credentials, as they are.
    kept = rotation.rotation_result(CREDENTIALS, state, TARGETS, {"due": []}, None, {}, NOW)
    assert kept["renewed"] == [] and kept["auths"] == state["auths"] and kept["state"]["registries"] == state["registries"]


def test_rotation_result_refuses_a_credential_that_already_expired_or_is_missing():
    plan = rotation.renewal_plan(CREDENTIALS[1:], {}, TARGETS, "3h", NOW)
    with pytest.raises(rotation.RotationError, match="already expired at 2027-01-01T00:00:00Z"):
        rotation.rotation_result(CREDENTIALS[1:], {}, TARGETS, plan, None,
                                 {HARBOR: {"password": "p", "expires_at": "2027-01-01T00:00:00Z"}}, NOW)
    with pytest.raises(rotation.RotationError, match="its lookup was not run"):
        rotation.rotation_result(CREDENTIALS[1:], {}, TARGETS, plan, None, {}, NOW)
    plan = rotation.renewal_plan(CREDENTIALS[:1], {}, TARGETS, "3h", NOW)
    with pytest.raises(rotation.RotationError, match="ecr_authorization returned no token"):
        rotation.rotation_result(CREDENTIALS[:1], {}, TARGETS, plan, {"auths": {}}, {}, NOW)


def test_record_static_expiries_writes_several_files_records_at_once_and_only_on_change(tmp_path):
    state = tmp_path / "state" / "rotate.json"
    record = {"fingerprint": "sha256:1", "expires_at": NOW}
    by_scope = {"/etc/gitlab-runner/config.toml#build": {HARBOR: record}, "/root/.docker/config.json": {HARBOR: None}}
    assert rotation.record_static_expiries(str(state), by_scope, check_mode=True) == (
        True, {"/etc/gitlab-runner/config.toml#build": {HARBOR: NOW}, "/root/.docker/config.json": {}})
    assert not state.exists()
    assert rotation.record_static_expiries(str(state), by_scope)[0] is True
    assert oct(state.stat().st_mode & 0o777) == "0o600" and oct(state.parent.stat().st_mode & 0o777) == "0o700"
    assert json.loads(state.read_text())["static"] == {"/etc/gitlab-runner/config.toml#build": {HARBOR: record}}
    assert rotation.record_static_expiries(str(state), by_scope)[0] is False
    assert rotation.record_static_expiries(str(tmp_path / "none.json"), {"/x": {HARBOR: None}}) == (False, {"/x": {}})
    assert not (tmp_path / "none.json").exists()
