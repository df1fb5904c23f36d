# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runner's credential resolution, table-driven after the runner's own tests.

The cases named Test* mirror gitlab-runner helpers/docker/auth/auth_test.go (TestGetConfigForImage,
TestCredsForImagesWithDifferentPaths, TestResolver_AllConfigs, TestGetConfigs_DuplicatedRegistryCredentials,
TestDockerImagePathNormalization, TestConvertToRegistryPath) with the same fixtures; the helper script
testdata/docker-credential-bin.sh becomes the fake helper `bin.sh` below.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _docker_auth as auth
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _report as report
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _resolve as resolve


def b64(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def config(auths=None, **other):
    data = dict(other)
    if auths is not None:
        data["auths"] = {key: {"auth": b64(*value)} for key, value in auths.items()}
    return json.dumps(data)


# The runner's fixtures (auth_test.go).
FILE_AUTH = config({"https://registry.domain.tld:5005/v1/": ("test_user_1", "test_password_1"),
                    "registry2.domain.tld:5005": ("test_user_2", "test_password_2")})
DOCKER_AUTH = config({"https://registry.domain.tld:5005/v1/": ("test_user_1", "test_password_1")})
GITLAB_CREDS = [{"url": "registry.gitlab.tld:1234", "username": "test_user_3", "password": "test_password_3"}]
IMAGE_1 = "registry.domain.tld:5005/image/name:version"
IMAGE_2 = "registry2.domain.tld:5005/image/name:version"
IMAGE_GITLAB = "registry.gitlab.tld:1234/image/name:version"
TRAVERSAL = "../../../../usr/bin/sudo"
HOME_FILE = "/home/runner/.dockercfg"


class FakeHelpers:
    """docker-credential-* programs as callables: {name: {action: (rc, stdout) or callable(stdin)}}.

    A name that is not configured raises HelperUnavailable like a missing binary. Calls are logged.
    """

    def __init__(self, programs=None):
        self.programs = programs or {}
        self.calls = []

    def __call__(self, name, action, data):
        self.calls.append((name, action, data))
        if name not in self.programs:
            raise resolve.HelperUnavailable('exec: "docker-credential-%s": executable file not found in $PATH' % name)
        answer = self.programs[name].get(action, (1, "unknown action"))
        return answer(data) if callable(answer) else answer

    def check(self, name):
        if name not in self.programs:
            return 'exec: "docker-credential-%s": executable file not found in $PATH' % name
        return None


# testdata/docker-credential-bin.sh
BIN_SH = {
    "get": (0, json.dumps({"username": "script_user_1", "secret": "script_password_1",
                           "serveraddress": "https://registry2.domain.tld:5005/v1/"})),
    "list": (0, json.dumps({"https://registry2.domain.tld:5005/v1/": "script_user_1"})),
}
NOT_FOUND = (1, resolve.NOT_FOUND + "\n")


def resolve_image(image, docker_auth=None, home=None, job=None, helpers=None, static=False):
    """The runner's ConfigForImage with the given sources; returns (match, merged, sources)."""
    helpers = helpers if helpers is not None else FakeHelpers({"bin.sh": BIN_SH})
    run, check = (None, helpers.check) if static else (helpers, None)
    sources = []
    if docker_auth is not None:
        sources.append(resolve.read_source(resolve.SOURCE_ENV, "$DOCKER_AUTH_CONFIG", docker_auth, run, check))
    if home is not None:
        sources.append(resolve.read_source(resolve.SOURCE_HOME, HOME_FILE, home, run, check))
    sources.append(resolve.job_source(job))
    merged = resolve.all_configs(sources)
    return resolve.config_for_image(merged, image), merged, sources


def summary(match):
    if match is None:
        return None
    return match["path"], match["source"], match["username"], match["password"]


# ---------------------------------------------------------------- TestGetConfigForImage


GET_CONFIG_FOR_IMAGE = {
    "registry1 from file only": dict(
        home=FILE_AUTH, image=IMAGE_1,
        want=("registry.domain.tld:5005", resolve.SOURCE_HOME, "test_user_1", "test_password_1")),
    "registry2 from file only": dict(
        home=FILE_AUTH, image=IMAGE_2,
        want=("registry2.domain.tld:5005", resolve.SOURCE_HOME, "test_user_2", "test_password_2")),
    "registry2 from file only overrides credential store with path traversal attempt": dict(
        home=json.dumps(dict(json.loads(FILE_AUTH), credsStore=TRAVERSAL)), image=IMAGE_2, abort=True),
    "registry2 from file only overrides credential helper with path traversal attempt": dict(
        home=json.dumps(dict(json.loads(FILE_AUTH), credHelpers={IMAGE_2: TRAVERSAL})), image=IMAGE_2, abort=True),
    "missing credentials, file only": dict(home=FILE_AUTH, image=IMAGE_GITLAB, want=None),
    "no file and gitlab credentials, image in gitlab credentials": dict(
        job=GITLAB_CREDS, image=IMAGE_GITLAB,
        want=("registry.gitlab.tld:1234", resolve.SOURCE_JOB, "test_user_3", "test_password_3")),
    "both file and gitlab credentials, image in gitlab credentials": dict(
        home=FILE_AUTH, job=GITLAB_CREDS, image=IMAGE_GITLAB,
        want=("registry.gitlab.tld:1234", resolve.SOURCE_JOB, "test_user_3", "test_password_3")),
    "DOCKER_AUTH_CONFIG only": dict(
        docker_auth=DOCKER_AUTH, image=IMAGE_1,
        want=("registry.domain.tld:5005", resolve.SOURCE_ENV, "test_user_1", "test_password_1")),
    "DOCKER_AUTH_CONFIG overrides home dir": dict(
        docker_auth=DOCKER_AUTH, home=FILE_AUTH, image=IMAGE_1,
        want=("registry.domain.tld:5005", resolve.SOURCE_ENV, "test_user_1", "test_password_1")),
    "DOCKER_AUTH_CONFIG overrides credential store": dict(
        docker_auth='{"credsStore" : "bin.sh"}', image=IMAGE_2,
        want=("registry2.domain.tld:5005", resolve.SOURCE_ENV, "script_user_1", "script_password_1"),
        key="https://registry2.domain.tld:5005/v1/", runs_helper=True),
    "DOCKER_AUTH_CONFIG overrides credential helper path": dict(
        docker_auth=json.dumps({"credHelpers": {IMAGE_2: "bin.sh"}}), image=IMAGE_2,
        want=("registry2.domain.tld:5005/image/name", resolve.SOURCE_ENV, "script_user_1", "script_password_1"),
        key=IMAGE_2, runs_helper=True),
    "DOCKER_AUTH_CONFIG overrides credential store with path traversal": dict(
        docker_auth=json.dumps({"credsStore": TRAVERSAL}), image=IMAGE_2, abort=True),
    "DOCKER_AUTH_CONFIG overrides credentials helper with path traversal entry": dict(
        docker_auth=json.dumps({"credHelpers": {"registry2.domain.tld:5005": TRAVERSAL}}), image=IMAGE_2, abort=True),
    "DOCKER_AUTH_CONFIG overrides credentials helper with path traversal entry and falls back to config file": dict(
        docker_auth=json.dumps({"credHelpers": {"registry.domain.tld:5005": TRAVERSAL}}), home=FILE_AUTH,
        image=IMAGE_1, abort=True),
    "DOCKER_AUTH_CONFIG overrides credentials helper with path traversal entry and another valid entry": dict(
        docker_auth=json.dumps({"credHelpers": {"registry.domain.tld:5006": TRAVERSAL,
                                                "registry2.domain.tld:5005": "bin.sh"}}),
        image=IMAGE_2, abort=True),
    "DOCKER_AUTH_CONFIG with missing credsStore binary logs warning and continues": dict(
        docker_auth='{"credsStore": "nonexistent-helper"}', image=IMAGE_1, want=None,
        discarded="nonexistent-helper"),
    "DOCKER_AUTH_CONFIG with missing credHelpers binary logs warning and continues": dict(
        docker_auth=json.dumps({"credHelpers": {"https://registry.domain.tld:5005/v1/": "nonexistent-helper"}}),
        image=IMAGE_1, want=None, discarded="nonexistent-helper"),
}


@pytest.mark.parametrize("static", [False, True], ids=["helpers run", "helpers checked"])
@pytest.mark.parametrize("name", sorted(GET_CONFIG_FOR_IMAGE))
def test_get_config_for_image(name, static):
    case = GET_CONFIG_FOR_IMAGE[name]
    match, merged, sources = resolve_image(case["image"], case.get("docker_auth"), case.get("home"), case.get("job"),
                                           static=static)
    if case.get("abort"):
        assert match is None and merged["abort"] is not None
        assert "path traversal is not allowed" in merged["abort"]["error"]
        _match, problems = resolve.explain_image(case["image"], merged, sources, time.time())
        assert "the runner aborts and the pull fails" in problems[0]
        return
    assert merged["abort"] is None
    if case.get("discarded"):
        env = sources[0]
        assert env["status"] == "discarded" and case["discarded"] in env["error"]
    if static and case.get("runs_helper"):
        # without running helpers their answers are unknown: a credHelpers entry matches with unknown
        # credentials, a credsStore lists nothing yet (see test_static_mode_*)
        assert match is None or (match["kind"], match["known"]) == (resolve.KIND_HELPER, False)
        return
    assert summary(match) == case["want"]
    if "key" in case:
        assert match["key"] == case["key"]


# ---------------------------------------------------------------- TestCredsForImagesWithDifferentPaths


PATHS_AUTH = config({"registry.local": ("test_user_1", "test_password_1"),
                     "registry.local/ns": ("test_user_2", "test_password_2"),
                     "registry.local/ns/some/image": ("test_user_3", "test_password_3")})


@pytest.mark.parametrize("image, job, want", [
    ("registry.local/foo/image:3", None, (resolve.SOURCE_ENV, "test_user_1")),
    ("registry.local/ns/image:5", None, (resolve.SOURCE_ENV, "test_user_2")),
    ("registry.local/ns/some/image:l", None, (resolve.SOURCE_ENV, "test_user_3")),
    ("no_auth_configured/image:l", None, None),
    # job creds for the same path: $DOCKER_AUTH_CONFIG wins
    ("registry.local/ns/blipp/image:foo", [{"url": "registry.local/ns", "username": "job-cred-user",
                                           "password": "job-cred-pass"}], (resolve.SOURCE_ENV, "test_user_2")),
    # job creds more specific than the auths in $DOCKER_AUTH_CONFIG: the job payload wins
    ("registry.local/ns/blipp/image:bar", [{"url": "registry.local/ns/blipp", "username": "job-cred-user",
                                           "password": "job-cred-pass"}], (resolve.SOURCE_JOB, "job-cred-user")),
])
def test_creds_for_images_with_different_paths(image, job, want):
    match, merged, _sources = resolve_image(image, PATHS_AUTH, job=job)
    assert (match["source"], match["username"]) == want if want else match is None
    # "hostnames = [registry.local registry.local/ns registry.local/ns/some/image]"
    assert [i["path"] for i in merged["infos"] if i["source"] == resolve.SOURCE_ENV] == [
        "registry.local", "registry.local/ns", "registry.local/ns/some/image"]
    if job and want[0] == resolve.SOURCE_ENV:
        assert [(d["path"], d["source"]) for d in merged["dropped"]] == [("registry.local/ns", resolve.SOURCE_JOB)]


# ---------------------------------------------------------------- TestResolver_AllConfigs and duplicates


def test_resolver_all_configs():
    _match, merged, _sources = resolve_image(IMAGE_1, DOCKER_AUTH, FILE_AUTH, GITLAB_CREDS)
    assert [(i["path"], i["source"], i["username"], i["password"], i["key"]) for i in merged["infos"]] == [
        ("registry.domain.tld:5005", resolve.SOURCE_ENV, "test_user_1", "test_password_1",
         "https://registry.domain.tld:5005/v1/"),
        ("registry2.domain.tld:5005", resolve.SOURCE_HOME, "test_user_2", "test_password_2", "registry2.domain.tld:5005"),
        ("registry.gitlab.tld:1234", resolve.SOURCE_JOB, "test_user_3", "test_password_3", "registry.gitlab.tld:1234"),
    ]
    # Not adding Docker credentials: credentials for "registry.domain.tld:5005" already set from "$DOCKER_AUTH_CONFIG"
    assert [(d["path"], d["source"], d["kept"]["source"]) for d in merged["dropped"]] == [
        ("registry.domain.tld:5005", resolve.SOURCE_HOME, resolve.SOURCE_ENV)]


def test_get_configs_duplicated_registry_credentials():
    job = [{"url": "registry.domain.tld:5005", "username": "test_user_1", "password": "test_password_1"}]
    _match, merged, _sources = resolve_image(IMAGE_1, None, FILE_AUTH, job)
    assert [(i["path"], i["source"], i["username"]) for i in merged["infos"]] == [
        ("registry.domain.tld:5005", resolve.SOURCE_HOME, "test_user_1"),
        ("registry2.domain.tld:5005", resolve.SOURCE_HOME, "test_user_2"),
    ]
    assert [(d["path"], d["source"]) for d in merged["dropped"]] == [("registry.domain.tld:5005", resolve.SOURCE_JOB)]


def test_duplicated_keys_in_one_source_smallest_key_wins():
    text = config({"reg.tld": ("plain", "p1"), "https://reg.tld": ("scheme", "p2"), "REG.tld/": ("upper", "p3")})
    match, merged, _sources = resolve_image("reg.tld/app:1", None, text)
    # withStableOrder: keys sorted as strings; "REG.tld/" < "https://reg.tld" < "reg.tld"
    assert match["key"] == "REG.tld/" and match["username"] == "upper"
    assert sorted(d["key"] for d in merged["dropped"]) == ["https://reg.tld", "reg.tld"]


# ---------------------------------------------------------------- normalization (the runner's maps)


@pytest.mark.parametrize("image, path", sorted({
    "tutum.co/user/ubuntu": "tutum.co/user/ubuntu",
    "tutum.co/user/ubuntu:latest": "tutum.co/user/ubuntu",
    "cr.internal:5000/user/ubuntu": "cr.internal:5000/user/ubuntu",
    "user/ubuntu": "docker.io/user/ubuntu",
    "index.docker.io/user/ubuntu": "docker.io/user/ubuntu",
    "docker.io/user/ubuntu": "docker.io/user/ubuntu",
    "foo.bar:123/asdf/baz:latest": "foo.bar:123/asdf/baz",
    "foo.bar/asdf/baz:latest": "foo.bar/asdf/baz",
    "foo.bar/asdf/baz": "foo.bar/asdf/baz",
    "registry.local/ns/image": "registry.local/ns/image",
    "foo.bar:123/asdf/baz": "foo.bar:123/asdf/baz",
    "FOO.BAR:123/With/Case": "foo.bar:123/With/Case",
    "DOCKER.io/user/ubuntu": "docker.io/user/ubuntu",
    "index.DOCKER.io/user/ubuntu": "docker.io/user/ubuntu",
    "InDex.DOCKER.io/user/ubuntu": "docker.io/user/ubuntu",
    "localhost/test:xxx": "localhost/test",
    "LOCALHOST/test:xxx": "localhost/test",
    "notLocalhost/test": "docker.io/notLocalhost/test",
    "localhost:1234/test": "localhost:1234/test",
}.items()))
def test_docker_image_path_normalization(image, path):
    assert auth.image_registry_path(image) == path
    # and the resolver matches on exactly that path
    match, _merged, _sources = resolve_image(image, json.dumps({"auths": {path: {"auth": b64("u", "p")}}}))
    assert match["path"] == path


@pytest.mark.parametrize("key, path", sorted({
    "my.hostname": "my.hostname",
    "my.hostname/with/path": "my.hostname/with/path",
    "my.HOSTNAME/With/Path/CASE": "my.hostname/With/Path/CASE",
    "my.hostname/with/tag/image:latest": "my.hostname/with/tag/image",
    "my.hostname:5000/with/tag/image:latest": "my.hostname:5000/with/tag/image",
    "http://index.docker.io/v1/": "docker.io",
    "https://index.docker.io/v1/": "docker.io",
    "HTTP://INDEX.DOCKER.IO/V1/": "docker.io",
    "HTTPS://INDEX.DOCKER.IO/V1/": "docker.io",
    "HTTPS://INDEX.DOCKER.IO/V1/blibb": "docker.io",
    "https://my.hostname/v1/something": "my.hostname",
}.items()))
def test_convert_to_registry_path(key, path):
    assert auth.key_registry_path(key) == path


# ---------------------------------------------------------------- credsStore and credHelpers


STORE_AND_STATIC = json.dumps({"auths": {"reg.tld": {"auth": b64("static", "static-pw")},
                                         "other.tld": {"auth": b64("other", "other-pw")}},
                               "credsStore": "store"})


def store_helper(listed, answers):
    def get(server):
        return answers.get(server, NOT_FOUND)
    return {"list": (0, json.dumps(listed)), "get": get}


def test_creds_store_lists_then_gets_and_overwrites_identical_keys():
    helpers = FakeHelpers({"store": store_helper({"reg.tld": "s"}, {
        "reg.tld": (0, json.dumps({"ServerURL": "reg.tld", "Username": "from-store", "Secret": "store-pw"}))})})
    source = resolve.read_source(resolve.SOURCE_HOME, HOME_FILE, STORE_AND_STATIC, helpers)
    assert [(e["key"], e["kind"], e["username"]) for e in source["entries"]] == [
        ("other.tld", "static", "other"), ("reg.tld", "store", "from-store")]
    assert helpers.calls == [("store", "list", "unused"), ("store", "get", "reg.tld")]


def test_creds_store_failing_list_discards_the_whole_source_static_auths_too():
    helpers = FakeHelpers({"store": {"list": (1, "dbus: no session"), "get": NOT_FOUND}})
    match, _merged, sources = resolve_image("other.tld/app:1", None, STORE_AND_STATIC,
                                            [{"url": "other.tld", "username": "job", "password": "j"}], helpers)
    assert sources[0]["status"] == "discarded"
    assert "error listing credentials - err: exit status 1, out: `16 bytes not shown" in sources[0]["error"]
    assert summary(match) == ("other.tld", resolve.SOURCE_JOB, "job", "j")


def test_creds_store_not_found_for_a_static_key_is_an_empty_entry_that_shadows():
    helpers = FakeHelpers({"store": store_helper({"reg.tld": "s"}, {})})
    match, _merged, sources = resolve_image("reg.tld/app:1", None, STORE_AND_STATIC,
                                            [{"url": "reg.tld", "username": "job", "password": "j"}], helpers)
    assert summary(match) == ("reg.tld", resolve.SOURCE_HOME, "", "")
    _m, problems = resolve.explain_image("reg.tld/app:1", resolve.all_configs(sources), sources, time.time())
    assert any("has no credentials" in p and "shadowed" in p for p in problems)


def test_creds_store_not_found_for_an_unlisted_key_has_no_path():
    helpers = FakeHelpers({"store": store_helper({"new.tld": "s"}, {})})
    source = resolve.read_source(resolve.SOURCE_HOME, HOME_FILE, STORE_AND_STATIC, helpers)
    assert [(e["key"], e["path"]) for e in source["entries"] if e["kind"] == "store"] == [("new.tld", "")]


def test_cred_helper_not_found_gives_an_entry_without_path_and_drops_the_static_one():
    text = json.dumps({"auths": {"reg.tld": {"auth": b64("static", "static-pw")}}, "credHelpers": {"reg.tld": "h"}})
    helpers = FakeHelpers({"h": {"get": NOT_FOUND}})
    match, merged, sources = resolve_image("reg.tld/app:1", None, text,
                                           [{"url": "reg.tld", "username": "job", "password": "j"}], helpers)
    helper_entry = sources[0]["entries"][0]
    assert (helper_entry["key"], helper_entry["path"], helper_entry["kind"]) == ("reg.tld", "", "helper")
    # The static entry of the same key is gone, and "" never matches: the job payload is used.
    assert summary(match) == ("reg.tld", resolve.SOURCE_JOB, "job", "j")
    assert [i["path"] for i in merged["infos"]] == ["", "reg.tld"]
    _m, problems = resolve.explain_image("reg.tld/app:1", merged, sources, 0)
    assert any('docker-credential-h answered "credentials not found" for \'reg.tld\'' in p for p in problems)


def test_cred_helper_exit_zero_with_empty_credentials_shadows():
    """docker-credential-pass <= 0.6.4 (Debian) answers unknown servers with empty credentials and exit 0."""
    helpers = FakeHelpers({"pass": {"get": (0, '{"ServerURL":"reg.tld","Username":"","Secret":""}')}})
    match, merged, sources = resolve_image("reg.tld/app:1", None, json.dumps({"credHelpers": {"reg.tld": "pass"}}),
                                           [{"url": "reg.tld", "username": "job", "password": "j"}], helpers)
    assert summary(match) == ("reg.tld", resolve.SOURCE_HOME, "", "")
    _m, problems = resolve.explain_image("reg.tld/app:1", merged, sources, time.time())
    assert any("has no credentials" in p for p in problems)


def test_helper_identity_token():
    helpers = FakeHelpers({"h": {"get": (0, '{"Username":"<token>","Secret":"refresh-token"}')}})
    match, _merged, _sources = resolve_image("reg.tld/app:1", json.dumps({"credHelpers": {"reg.tld": "h"}}),
                                             helpers=helpers)
    assert (match["username"], match["password"], match["identitytoken"]) == ("", "", "refresh-token")


@pytest.mark.parametrize("answer, error", [
    ((1, "some failure"), "error getting credentials - err: exit status 1, out: `12 bytes not shown"),
    ((1, '{"Username":"u","Secret":"helper-s3cret"}'), "out: `41 bytes not shown: a helper's output may hold a secret`"),
    ((1, "no credentials username\n"), "out: `no credentials username`"),
    ((0, "not json"), "invalid JSON answer"),
    ((0, "[1]"), "not a JSON object"),
])
def test_helper_errors_discard_the_whole_source(answer, error):
    text = json.dumps({"auths": {"other.tld": {"auth": b64("u", "p")}}, "credHelpers": {"reg.tld": "h"}})
    helpers = FakeHelpers({"h": {"get": answer}})
    match, _merged, sources = resolve_image("other.tld/app:1", text, helpers=helpers)
    assert sources[0]["status"] == "discarded" and error in sources[0]["error"]
    assert match is None and "s3cret" not in json.dumps(resolve.source_problems(sources[0]))


def test_missing_helper_binary_discards_the_whole_source():
    text = json.dumps({"auths": {"reg.tld": {"auth": b64("static", "pw")}}, "credHelpers": {"ecr.tld": "ecr-login"}})
    for static in (False, True):
        match, _merged, sources = resolve_image("reg.tld/app:1", text, FILE_AUTH, helpers=FakeHelpers(), static=static)
        assert sources[0]["status"] == "discarded"
        assert 'exec: "docker-credential-ecr-login": executable file not found in $PATH' in sources[0]["error"]
        assert match is None  # the static auths of that source are not used either
        problems = resolve.source_problems(sources[0])
        assert "discarded whole" in problems[0] and "static auths included" in problems[0]
        _m, row_problems = resolve.explain_image("reg.tld/app:1", resolve.all_configs(sources), sources, 0)
        assert any("its key 'reg.tld' for this image is not used" in p for p in row_problems)


def test_static_mode_reports_helpers_without_running_them():
    helpers = FakeHelpers({"ecr-login": {}})
    text = json.dumps({"credHelpers": {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}})
    match, _merged, _sources = resolve_image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1", None, text,
                                             helpers=helpers, static=True)
    assert (match["kind"], match["helper"], match["known"]) == ("helper", "ecr-login", False)
    assert helpers.calls == []


def test_static_mode_creds_store_is_pending():
    helpers = FakeHelpers({"desktop": {}})
    image = "nginx:1"
    match, merged, sources = resolve_image(image, None, json.dumps({"credsStore": "desktop"}), helpers=helpers,
                                           static=True)
    assert match is None and helpers.calls == []
    _m, problems = resolve.explain_image(image, merged, sources, 0)
    assert any("credsStore 'desktop' may list credentials" in p for p in problems)
    assert any("global credsStore 'desktop'" in p and "Docker Hub included" in p
               for p in resolve.source_problems(sources[0]))


def test_creds_store_entry_for_docker_hub_is_reported():
    helpers = FakeHelpers({"desktop": store_helper({"https://index.docker.io/v1/": "me"}, {
        "https://index.docker.io/v1/": (0, '{"Username":"me","Secret":"hub-pw"}')})})
    match, merged, sources = resolve_image("alpine:3", None, json.dumps({"credsStore": "desktop"}), helpers=helpers)
    assert (match["kind"], match["path"], match["username"]) == ("store", "docker.io", "me")
    _m, problems = resolve.explain_image("alpine:3", merged, sources, 0)
    assert any("Docker Hub credentials come from the global credsStore 'desktop'" in p for p in problems)


@pytest.mark.parametrize("name", ["../x", "/usr/bin/x", "x/", "", "a/b"])
def test_path_traversal_in_helper_names(name):
    for text in (json.dumps({"credHelpers": {"reg.tld": name}}), json.dumps({"credsStore": name})):
        if not name and "credsStore" in text:
            continue  # an empty credsStore is no store at all
        source = resolve.read_source(resolve.SOURCE_ENV, "$DOCKER_AUTH_CONFIG", text, FakeHelpers())
        assert source["status"] == "aborts" and "path traversal is not allowed" in source["error"]


def test_credsstore_failure_comes_before_a_traversal_in_credhelpers():
    text = json.dumps({"credsStore": "missing", "credHelpers": {"reg.tld": "../x"}})
    source = resolve.read_source(resolve.SOURCE_ENV, "$DOCKER_AUTH_CONFIG", text, FakeHelpers())
    assert source["status"] == "discarded"


# ---------------------------------------------------------------- parsing like docker/cli


@pytest.mark.parametrize("text, error", [
    ("{not json", "invalid JSON"),
    ("[]", "the top level is list"),
    ('{"auths": []}', "auths is a list"),
    ('{"auths": {"reg.tld": "x"}}', "auths[reg.tld] is not an object"),
    ('{"auths": {"reg.tld": {"auth": "%%%"}}}', "is not valid base64"),
    ('{"auths": {"reg.tld": {"auth": "%s"}}}' % base64.b64encode(b"nocolon").decode(), "non-empty user"),
    ('{"auths": {"reg.tld": {"auth": "%s"}}}' % base64.b64encode(b":pw").decode(), "non-empty user"),
    ('{"credHelpers": {"reg.tld": 1}}', "credHelpers[reg.tld] is not a string"),
    ('{"credsStore": 1}', "credsStore is not a string"),
    ('{"auths": {"reg.tld": {"username": 1}}}', "auths[reg.tld].username is not a string"),
])
def test_bad_sources_are_discarded(text, error):
    source = resolve.read_source(resolve.SOURCE_ENV, "$DOCKER_AUTH_CONFIG", text)
    assert source["status"] == "discarded" and error in source["error"]


@pytest.mark.parametrize("text, status, users", [
    ("", "empty", []),
    ("  \n", "empty", []),
    ("{}", "empty", []),
    ("null", "empty", []),
    ('{"auths": {}}', "empty", []),
    ('{"auths": null, "credHelpers": null}', "empty", []),
    # json.NewDecoder(...).Decode reads the first value only: trailing text is ignored
    ('{"auths": {"reg.tld": {"auth": "%s"}}}}}garbage' % b64("u", "p"), "used", ["u"]),
    # Go matches struct fields case-insensitively
    ('{"AUTHS": {"reg.tld": {"Auth": "%s"}}}' % b64("u", "p"), "used", ["u"]),
    # username/password fields without auth are used as they are; an empty entry is an empty credential
    ('{"auths": {"reg.tld": {"username": "u", "password": "p"}}}', "used", ["u"]),
    ('{"auths": {"reg.tld": {}}}', "used", [""]),
])
def test_sources_parse_like_docker_cli(text, status, users):
    source = resolve.read_source(resolve.SOURCE_ENV, "$DOCKER_AUTH_CONFIG", text)
    assert source["status"] == status
    assert [e["username"] for e in source["entries"]] == users


# ---------------------------------------------------------------- keys that never match


@pytest.mark.parametrize("image, key, words", [
    ("reg.tld:5000/ns/app:1", "reg.tld", "host and port must match exactly"),
    ("reg.tld/ns/app:1", "reg.tld:5000", "host and port must match exactly"),
    ("alpine:3", "index.docker.io", "never matches Docker Hub"),
    ("reg.tld/ns/app@sha256:" + "a" * 64, "reg.tld/ns/app", "never matches"),
    ("reg.tld/ns/app:1", "reg.tld/NS", "only in case"),
])
def test_near_misses_explain_anonymous_pulls(image, key, words):
    match, merged, sources = resolve_image(image, json.dumps({"auths": {key: {"auth": b64("u", "p")}}}))
    assert match is None
    _m, problems = resolve.explain_image(image, merged, sources, 0)
    assert any(words in p for p in problems), problems


def test_digest_references_still_match_namespace_and_tag_forms():
    text = json.dumps({"auths": {"reg.tld/ns": {"auth": b64("ns", "p")}, "reg.tld/ns/app": {"auth": b64("repo", "p")}}})
    digest = "@sha256:" + "b" * 64
    assert resolve_image("reg.tld/ns/app" + digest, text)[0]["username"] == "ns"
    assert resolve_image("reg.tld/ns/app:1" + digest, text)[0]["username"] == "repo"


def test_namespace_scoped_key_only_for_images_under_it():
    text = json.dumps({"auths": {"reg.tld:5000/ns": {"auth": b64("ns-user", "p")}}})
    assert resolve_image("reg.tld:5000/ns/app:1", text)[0]["username"] == "ns-user"
    assert resolve_image("reg.tld:5000/ns/sub/app:1", text)[0]["username"] == "ns-user"
    assert resolve_image("reg.tld:5000/other/app:1", text)[0] is None
    assert resolve_image("reg.tld:5000/nsx/app:1", text)[0] is None


def test_job_payload_shadowed_by_home_config_is_reported():
    text = config({"registry.gitlab.tld:1234": ("personal", "pat")})
    match, merged, sources = resolve_image(IMAGE_GITLAB, None, text, ["registry.gitlab.tld:1234"])
    _m, problems = resolve.explain_image(IMAGE_GITLAB, merged, sources, 0, ["registry.gitlab.tld:1234"])
    assert match["source"] == resolve.SOURCE_HOME
    assert any("shadow the CI_JOB_TOKEN credentials" in p for p in problems)
    assert any("is ignored" in p and "job payload" in p for p in problems)


# ---------------------------------------------------------------- ECR tokens


def ecr_password(expiration):
    return base64.b64encode(json.dumps({"payload": "x", "expiration": expiration}).encode()).decode()


@pytest.mark.parametrize("offset, words", [
    (-60, "expired at"),
    (600, "expires at"),
    (24 * 3600, None),
    (None, "expiry cannot be read"),
])
def test_static_ecr_tokens(offset, words):
    now = 1700000000
    password = ecr_password(now + offset) if offset is not None else "moto-token"
    host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    match, merged, sources = resolve_image(host + "/app:1", config({host: ("AWS", password)}))
    _m, problems = resolve.explain_image(host + "/app:1", merged, sources, now)
    found = [p for p in problems if "ECR" in p]
    assert (words in found[0]) if words else not found


# ---------------------------------------------------------------- the runner's config.toml side


@pytest.mark.parametrize("text, env, want, names", [
    ("plain", {}, "plain", []),
    ("a$$b", {}, "a$b", []),
    ("x${HOST}y", {"HOST": "h"}, "xhy", ["HOST"]),
    ("$UNSET-", {}, "-", ["UNSET"]),
    ("p$1q", {}, "pq", ["1"]),
    ("end$", {}, "end$", []),
    ("a${}b", {}, "ab", []),
    ('{"x":"$"}', {}, '{"x":"$"}', []),
])
def test_expand_like_go_os_expand(text, env, want, names):
    assert resolve.expand(text, env.get) == (want, names)


def test_runner_auth_config_last_entry_wins_and_dollars_are_reported():
    runner = {"environment": ['DOCKER_AUTH_CONFIG={"auths":{}}', "PW=pa", 'DOCKER_AUTH_CONFIG={"x":"$PW$$"}']}
    text, problems = resolve.runner_auth_config(runner, "r")
    assert text == '{"x":"pa$"}'
    assert any("2 DOCKER_AUTH_CONFIG entries" in p for p in problems)
    assert any("$PW" in p and "write $$" in p for p in problems)


@pytest.mark.parametrize("runner, words", [
    ({"docker": {"network_mode": "host"}, "feature_flags": {"FF_NETWORK_PER_BUILD": True}}, "no network per build"),
    ({"docker": {"network_mode": "host"}, "environment": ["FF_NETWORK_PER_BUILD=1"]}, "no network per build"),
    ({"docker": {"network_mode": "host"}, "environment": ["FF_NETWORK_PER_BUILD=false"]}, None),
    ({"docker": {}, "feature_flags": {"FF_NETWORK_PER_BUILD": True}}, None),
])
def test_runner_problems_network(runner, words):
    problems = resolve.runner_problems(runner, "r", None)
    assert (words in problems[0]) if words else problems == []


def test_runner_problems_static_docker_auth_config_is_exported():
    source = resolve.read_source(resolve.SOURCE_ENV, "x", config({"reg.tld": ("u", "p")}))
    assert "exports it to every job" in resolve.runner_problems({}, "r", source)[0]
    helper_only = resolve.read_source(resolve.SOURCE_ENV, "x", '{"credHelpers":{"a.tld":"h"}}', check_helper=str.strip)
    assert resolve.runner_problems({}, "r", helper_only) == [] or helper_only["status"] == "discarded"


def test_runner_images():
    runner = {"docker": {"image": "a:1", "services": [{"name": "b:2", "alias": "b"}, {"alias": "no-name"}],
                         "helper_image": "reg.tld/helper:x"}}
    assert resolve.runner_images(runner) == [("docker.image", "a:1"), ("docker.services[0]", "b:2"),
                                             ("docker.helper_image", "reg.tld/helper:x")]


def test_go_base():
    assert [resolve.go_base(n) for n in ("ecr-login", "", "a/b", "a/", "/", "..")] == [
        "ecr-login", ".", "b", "a", "/", ".."]


# ---------------------------------------------------------------- the table


def test_table_has_one_line_per_row_and_continuations():
    rows = [{"runner": "r", "image": "a:1", "source": "home_config", "key": "reg", "kind": "helper", "helper": "h",
             "problems": ["p1", "p2"], "probe": {"status": "unauthorized", "message": "refused"}},
            {"runner": "r", "image": "b:1", "source": "none", "key": None, "kind": None, "problems": [], "probe": None}]
    lines = report.format_table(rows, ["file problem"])
    assert lines[0].split() == ["RUNNER", "IMAGE", "SOURCE", "KEY", "KIND", "STATUS", "PROBLEM"]
    assert lines[2].split()[:6] == ["r", "a:1", "home_config", "reg", "helper:h", "unauthorized"]
    assert lines[2].endswith("refused") and lines[3].strip() == "p1" and lines[4].strip() == "p2"
    assert lines[5].split()[:6] == ["r", "b:1", "none", "-", "-", "not", ] and lines[-1] == "! file problem"


def test_ecr_expiry_recorded_by_rotate_ecr_auth():
    host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    match, merged, sources = resolve_image(host + "/app:1", config({host: ("AWS", "moto-token")}))
    _m, problems = resolve.explain_image(host + "/app:1", merged, sources, 1000, expiries={(host, "moto-token"): 990})
    assert any("expired at 1970-01-01T00:16:30Z" in p for p in problems)
    _m, problems = resolve.explain_image(host + "/app:1", merged, sources, 1000,
                                         expiries={(host, "moto-token"): 1000 + 86400})
    assert not [p for p in problems if "ECR" in p]


@pytest.mark.parametrize("keys, path", [
    ({"auths": ["docker.io", "https://index.docker.io/v1/"]}, "docker.io"),
    ({"auths": ["https://Reg.tld/"], "credHelpers": ["reg.tld"]}, "reg.tld"),
    ({"auths": ["reg.tld/ns/", "reg.tld/ns"]}, "reg.tld/ns"),
])
def test_two_keys_for_one_registry_are_a_problem(keys, path):
    data = {"auths": {k: {"auth": b64("u", "p")} for k in keys.get("auths", [])},
            "credHelpers": {k: "ecr-login" for k in keys.get("credHelpers", [])}}
    source = resolve.read_source(resolve.SOURCE_HOME, "/root/.docker/config.json", json.dumps(data),
                                 check_helper=lambda name: None)
    problems = [p for p in resolve.source_problems(source) if "keep one" in p]
    assert len(problems) == 1 and "same registry '%s'" % path in problems[0]
    assert all("'%s'" % k in problems[0] for section in keys.values() for k in section)


def test_keys_of_different_ports_or_namespaces_are_no_duplicates():
    data = {"auths": {k: {"auth": b64("u", "p")} for k in ("reg.tld", "reg.tld:443", "reg.tld/ns", "index.docker.io")},
            "credHelpers": {"docker.io": "desktop"}}
    source = resolve.read_source(resolve.SOURCE_HOME, "f", json.dumps(data), check_helper=lambda name: None)
    assert not [p for p in resolve.source_problems(source) if "keep one" in p]


def _jwt(payload):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return "%s.%s.c2lnbmF0dXJl" % (part({"alg": "RS256", "typ": "JWT"}), part(payload))


def _static(host, password):
    return {"kind": resolve.KIND_STATIC, "path": host, "password": password, "identitytoken": "", "registrytoken": ""}


@pytest.mark.parametrize("left_days, words", [
    (-1, "static credentials for reg.tld expired at"),
    (3, "static credentials for reg.tld expire at"),
    (30, None),
])
def test_static_credentials_with_a_jwt_exp_are_reported_within_the_window(left_days, words):
    now = 1_800_000_000
    entry = _static("reg.tld", _jwt({"sub": "robot", "exp": now + left_days * 86400}))
    problem = resolve.static_expiry_problem(entry, now, warn_seconds=14 * 86400)
    assert (words in problem and entry["password"] not in problem) if words else problem is None


def test_a_recorded_expiry_wins_and_tokens_without_one_are_not_guessed():
    now = 1_800_000_000
    assert resolve.static_expiry_problem(_static("reg.tld", "glpat-notajwt"), now) is None
    assert resolve.static_expiry_problem(_static("reg.tld", "a.b.c"), now) is None  # dotted, not base64 JSON
    recorded = {("reg.tld", "deploy-token-1"): now - 60}
    assert "expired at" in resolve.static_expiry_problem(_static("reg.tld", "deploy-token-1"), now, recorded)
    ecr = _static("123456789012.dkr.ecr.eu-west-1.amazonaws.com", _jwt({"exp": now - 60}))
    assert resolve.static_expiry_problem(ecr, now) is None  # ecr_token_problem's job


@pytest.mark.parametrize("pattern, registry", [
    ("*", "docker.io"), ("alpine:*", "docker.io"), ("library/*", "docker.io"), ("**", None), ("*/*", None),
    ("*.example.com/**", None), ("reg.tld:5000/**", "reg.tld:5000"), ("Reg.Example.com/ns/*", "reg.example.com"),
    ("localhost/app", "localhost"),
])
def test_pattern_registry(pattern, registry):
    assert resolve.pattern_registry(pattern) == registry


def _service_row(image, source=resolve.SOURCE_NONE, status=None, origin="docker.services[0]"):
    return {"origin": origin, "image": image, "source": source, "registry_path": auth.image_registry_path(image),
            "probe": {"status": status} if status else None}


def test_private_service_problem():
    row = _service_row("reg.example.com:5000/other/db:1")
    assert resolve.private_service_problem(row, {"reg.example.com:5000"}).startswith(
        "service reg.example.com:5000/other/db:1 is pulled without credentials from reg.example.com:5000, a private "
        "registry (other images of this runner use credentials there)")
    assert "(it refused anonymous access)" in resolve.private_service_problem(
        _service_row("reg.example.com/db:1", status="unauthorized"), set())
    # Public or unknown registries, services with credentials, and the job image itself are left alone.
    assert resolve.private_service_problem(_service_row("redis:7", status="ok"), {"reg.example.com"}) is None
    assert resolve.private_service_problem(_service_row("reg.example.com/db:1"), {"other.example.com"}) is None
    assert resolve.private_service_problem(
        _service_row("reg.example.com/db:1", source="home_config"), {"reg.example.com"}) is None
    assert resolve.private_service_problem(
        _service_row("reg.example.com/db:1", origin="docker.image"), {"reg.example.com"}) is None
