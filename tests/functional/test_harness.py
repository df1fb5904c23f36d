# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The functional-test harness itself, against real parts: distribution 2.8, skopeo 1.9, ansible-playbook."""

from __future__ import annotations

import os
import socket
import textwrap

import pytest

import registry as reg


def _requests_for(server, mark, uri_part):
    """distribution's view of the requests whose URI contains ``uri_part``."""
    return [r for r in server.requests(since=mark) if r.uri and uri_part in r.uri]


def _sent(server, mark, path_part):
    """(scheme, user, password, status) of what the proxy received on paths containing ``path_part``."""
    return [(s.scheme, s.user, s.password, s.status) for s in server.received(since=mark) if path_part in s.path]


def test_push_then_inspect_with_docker_config(registry, cert_dir, oci_image_factory, tmp_path):
    config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", "ci-password")})
    mark = registry.log_mark()
    rc, out, err = reg.inspect(registry.ref("ns/app:1"), config, cert_dir, debug=True)
    assert rc == 0, err
    built = oci_image_factory("ns/app:1 on the auth registry")
    assert '"Digest": "%s"' % built.digest in out
    assert registry.images["ns/app:1"] == built.digest
    # Only our registry was contacted, and only the given file (plus the empty sandbox) was read.
    assert {url.split("/")[2] for url in reg.contacted_urls(err)} == {registry.host}
    sources = reg.credential_sources(err)
    assert sources[0] == config and all(s == config or s.startswith(reg.skopeo_sandbox()) for s in sources)
    assert not any(os.path.exists(s) for s in sources if s != config)
    # The credentials of user ci went with the manifest request, and distribution accepted them.
    assert _sent(registry, mark, "/manifests/1") == [("Basic", "ci", "ci-password", 200)]
    assert [(r.auth, r.status) for r in _requests_for(registry, mark, "/manifests/1")] == [("ok", 200)]
    # skopeo pings /v2/ without credentials first.
    assert _sent(registry, mark, "/v2/")[0] == (None, None, None, 401)
    assert registry.requests(since=mark)[0][1:] == ("GET", "/v2/", 401, "missing", None)
    assert reg.get_digest(registry.ref("ns/app:1"), config, cert_dir) == built.digest


def test_wrong_password_is_unauthorized(registry, cert_dir, tmp_path):
    config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", "wrong")})
    mark = registry.log_mark()
    rc, _out, err = reg.inspect(registry.ref("ns/app:1"), config, cert_dir)
    assert rc == 1
    assert reg.SKOPEO_UNAUTHORIZED in err
    assert reg.skopeo_message(err) == (
        'Error parsing image name "docker://%s/ns/app:1": reading manifest 1 in %s/ns/app: '
        'unauthorized: authentication required' % (registry.host, registry.host))
    manifest = _requests_for(registry, mark, "/v2/ns/app/manifests/1")
    assert [(r.auth, r.user, r.status) for r in manifest] == [("failed", "ci", 401)]
    assert _sent(registry, mark, "/manifests/1") == [("Basic", "ci", "wrong", 401)]


def test_no_credentials_sends_empty_basic_auth(registry, cert_dir, tmp_path):
    config = reg.write_docker_config(tmp_path / "config.json", auths={})
    mark = registry.log_mark()
    rc, _out, err = reg.inspect(registry.ref("ns/app:1"), config, cert_dir)
    assert rc == 1 and reg.SKOPEO_UNAUTHORIZED in err
    # After the 401 challenge skopeo sends "Basic " + base64(":"), not no header at all.
    assert _sent(registry, mark, "/manifests/") == [("Basic", "", "", 401)]
    assert [(r.auth, r.user) for r in _requests_for(registry, mark, "/manifests/")] == [("failed", "")]


def test_username_password_fields_are_ignored_by_skopeo(registry, cert_dir, tmp_path):
    config = reg.write_docker_config(tmp_path / "config.json",
                                     auths={registry.host: {"username": "ci", "password": "ci-password"}})
    rc, _out, err = reg.inspect(registry.ref("ns/app:1"), config, cert_dir)
    assert rc == 1 and reg.SKOPEO_UNAUTHORIZED in err


def test_missing_image_is_manifest_unknown(registry, cert_dir, tmp_path):
    config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", "ci-password")})
    rc, _out, err = reg.inspect(registry.ref("ns/app:404"), config, cert_dir)
    assert rc == 1
    assert reg.skopeo_message(err).endswith(
        "reading manifest 404 in %s/ns/app: manifest unknown: manifest unknown" % registry.host)


def test_unknown_ca_is_refused(registry, tmp_path):
    config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("ci", "ci-password")})
    empty = tmp_path / "no-certs"
    empty.mkdir()
    rc, _out, err = reg.inspect(registry.ref("ns/app:1"), config, empty)
    assert rc == 1 and reg.SKOPEO_UNKNOWN_CA in err


def test_namespace_key_is_used_for_its_namespace_only(registry, cert_dir, tmp_path):
    # The more specific key wins for ns/app; other/app falls back to the host key (wrong password).
    config = reg.write_docker_config(tmp_path / "config.json", auths={
        registry.host + "/ns": ("ci", "ci-password"),
        registry.host: ("other", "wrong"),
    })
    mark = registry.log_mark()
    assert reg.get_digest(registry.ref("ns/app:1"), config, cert_dir) == registry.images["ns/app:1"]
    rc, _out, err = reg.inspect(registry.ref("other/app:1"), config, cert_dir)
    assert rc == 1 and reg.SKOPEO_UNAUTHORIZED in err
    assert _sent(registry, mark, "/manifests/1") == [("Basic", "ci", "ci-password", 200),
                                                     ("Basic", "other", "wrong", 401)]
    # With only the namespaced key, no credentials are sent for other/app.
    only_ns = reg.write_docker_config(tmp_path / "ns-only.json", auths={registry.host + "/ns": ("ci", "ci-password")})
    mark = registry.log_mark()
    rc, _out, err = reg.inspect(registry.ref("other/app:1"), only_ns, cert_dir)
    assert rc == 1 and reg.SKOPEO_UNAUTHORIZED in err
    assert _sent(registry, mark, "/v2/other/app/manifests/1") == [("Basic", "", "", 401)]
    # A repository key and Docker's URL form of the host key work too.
    for key in (registry.host + "/ns/app", "https://%s/v1/" % registry.host):
        config = reg.write_docker_config(tmp_path / "key.json", auths={key: ("ci", "ci-password")})
        assert reg.get_digest(registry.ref("ns/app:1"), config, cert_dir) == registry.images["ns/app:1"]


def test_authfile_does_not_turn_off_other_files_so_the_harness_hides_them(registry, cert_dir, tmp_path):
    empty = reg.write_docker_config(tmp_path / "empty.json", auths={})
    docker_dir = tmp_path / "docker"
    reg.write_docker_config(docker_dir / "config.json", auths={registry.host: ("ci", "ci-password")})
    # skopeo 1.9 falls back to $DOCKER_CONFIG/config.json despite --authfile ...
    rc, _out, err = reg.inspect(registry.ref("ns/app:1"), empty, cert_dir, env={"DOCKER_CONFIG": str(docker_dir)},
                                debug=True)
    assert rc == 0, err
    assert str(docker_dir / "config.json") in reg.credential_sources(err)
    # ... which is why every harness call points DOCKER_CONFIG, HOME, XDG_* at an empty sandbox.
    rc, _out, err = reg.inspect(registry.ref("ns/app:1"), empty, cert_dir)
    assert rc == 1 and reg.SKOPEO_UNAUTHORIZED in err


def test_set_users_takes_effect_without_restart(registry, cert_dir, tmp_path):
    config = reg.write_docker_config(tmp_path / "config.json", auths={registry.host: ("late", "late-password")})
    pid, users = registry.process.pid, dict(registry.users)
    rc, _out, err = reg.inspect(registry.ref("ns/app:1"), config, cert_dir)
    assert rc == 1 and reg.SKOPEO_UNAUTHORIZED in err
    registry.set_users(dict(users, late="late-password"))
    assert reg.get_digest(registry.ref("ns/app:1"), config, cert_dir) == registry.images["ns/app:1"]
    registry.set_users(users)
    rc, _out, err = reg.inspect(registry.ref("ns/app:1"), config, cert_dir)
    assert rc == 1 and reg.SKOPEO_UNAUTHORIZED in err
    assert registry.process.pid == pid


def test_anonymous_registry_needs_no_credentials(anon_registry, cert_dir, oci_image_factory, tmp_path):
    digest = oci_image_factory("ns/app:1 on the anonymous registry").digest
    mark = anon_registry.log_mark()
    assert reg.get_digest(anon_registry.ref("ns/app:1"), None, cert_dir) == digest
    # Credentials in the file are not sent either: skopeo sends them only after a 401 challenge.
    config = reg.write_docker_config(tmp_path / "config.json", auths={anon_registry.host: ("ci", "ci-password")})
    assert reg.get_digest(anon_registry.ref("ns/app:1"), config, cert_dir) == digest
    requests = anon_registry.requests(since=mark)
    assert requests and all(r.auth is None and r.user is None for r in requests)
    seen = anon_registry.received(since=mark)
    assert len(seen) >= 4 and all(s.authorization is None and s.status == 200 for s in seen)


def test_oci_images_are_deterministic(tmp_path):
    one = reg.build_oci_image(tmp_path / "a", "marker one")
    again = reg.build_oci_image(tmp_path / "b", "marker one")
    two = reg.build_oci_image(tmp_path / "a", "marker two", tag="two")
    assert one.digest == again.digest != two.digest
    assert sorted(os.listdir(tmp_path / "a")) == ["blobs", "index.json", "oci-layout"]


def test_registry_stops_and_restarts(tmp_path, certs, oci_image_factory, cert_dir):
    with reg.Registry(tmp_path / "r", certs, users={"u": "p"}) as server:
        digest = reg.push(server, "x/y:1", oci_image_factory("restart"), "u", "p")
        port = server.port
        server.restart()
        assert server.port == port
        assert reg.get_digest(server.ref("x/y:1"), None, cert_dir, creds=("u", "p")) == digest
    assert server.process is None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_run_playbook_gives_text_and_results(run_playbook, tmp_path):
    config = tmp_path / "config.toml"
    run = run_playbook(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Write a config
              runnerkit.gitlab_runner.runner_config:
                path: "{{ config }}"
                global: {concurrent: 3}
            - name: Say something
              ansible.builtin.debug:
                msg: "hello {{ who }}"
        """), {"config": str(config), "who": "world"})
    assert run.rc == 0, run.output
    assert "ansible-playbook [core " in run.output and "TASK [Write a config]" in run.output
    assert run.status("Write a config") == "changed"
    assert run.result("Write a config")["changed"] is True
    assert run.result("Say something")["msg"] == "hello world"
    assert [r["action"] for r in run.results] == ["runnerkit.gitlab_runner.runner_config", "ansible.builtin.debug"]
    assert "concurrent = 3" in config.read_text()
