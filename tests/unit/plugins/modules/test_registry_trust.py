# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""registry_trust in process, with certificates this test makes with the openssl CLI: what is refused
(not a CA, expired, a key of another certificate, no PEM), what is written (modes, normalized
directory, containers certs.d), check mode, diff without key material, idempotence, absent, exclusive."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.runnerkit.gitlab_runner.plugins.modules import registry_trust

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

CA_CONFIG = """[ca]
default_ca = c
[c]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
[v3]
basicConstraints = critical,CA:TRUE
"""


def openssl(directory, *args):
    subprocess.run(["openssl"] + list(args), cwd=directory, check=True, capture_output=True,
                   env=dict(os.environ, OPENSSL_CONF="/dev/null"))


def new_key_and_csr(directory, name, subject):
    openssl(directory, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", subject)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """PEM texts: a CA, a leaf it signed (CA:FALSE), a client pair, another key, an expired CA."""
    directory = tmp_path_factory.mktemp("pki")
    openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=Test Registry CA", "-days", "3650",
            "-addext", "basicConstraints=critical,CA:TRUE")
    openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "soon.key", "-out", "soon.crt", "-subj", "/CN=Short Lived CA", "-days", "5",
            "-addext", "basicConstraints=critical,CA:TRUE")
    for name, subject in (("leaf", "/CN=registry.example.com"), ("client", "/CN=runner-client")):
        new_key_and_csr(directory, name, subject)
        openssl(directory, "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "365", "-out", name + ".crt")
    openssl(directory, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "other.key")
    (directory / "ca.cnf").write_text(CA_CONFIG)
    (directory / "index.txt").write_text("")
    (directory / "serial").write_text("01\n")
    new_key_and_csr(directory, "old", "/CN=Expired CA")
    openssl(directory, "ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", "old.key", "-in", "old.csr",
            "-out", "old.crt", "-startdate", "20200101000000Z", "-enddate", "20210101000000Z", "-extensions", "v3",
            "-notext")
    return {path.stem + path.suffix.replace(".", "_"): path.read_text() for path in directory.iterdir()
            if path.suffix in (".crt", ".key")}


def run(args, capsys, check=False, diff=False):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises(SystemExit) as exc:
            registry_trust.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def roots(tmp_path):
    return {"certs_d_root": str(tmp_path / "docker" / "certs.d"),
            "containers_certs_d_root": str(tmp_path / "containers" / "certs.d")}


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_normalized_directory_with_modes_and_is_idempotent(pki, roots, capsys):
    args = dict(roots, registries=[{"registry": "https://Reg.Example.com:5000/", "ca_cert": pki["ca_crt"],
                                    "client_cert": pki["client_crt"], "client_key": pki["client_key"],
                                    "containers": True}])
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is True, result
    for root in roots.values():
        directory = os.path.join(root, "reg.example.com:5000")
        assert sorted(os.listdir(directory)) == ["ca.crt", "client.cert", "client.key"]
        assert mode(os.path.join(directory, "client.key")) == 0o600
        assert mode(os.path.join(directory, "ca.crt")) == 0o644 and mode(directory) == 0o755
        assert open(os.path.join(directory, "ca.crt")).read().strip() == pki["ca_crt"].strip()
    facts = result["certificates"]["reg.example.com:5000"]
    assert facts["ca_cert"][0]["subject"] == "CN=Test Registry CA"
    assert facts["client_cert"]["subject"] == "CN=runner-client" and facts["client_cert"]["expires_in_days"] >= 363
    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["changed"] is False and "diff" not in result
    assert set(result["changes"].values()) == {"unchanged"}


def test_check_mode_writes_nothing_and_diff_shows_no_key_material(pki, roots, capsys):
    key_body = "".join(pki["client_key"].strip().splitlines()[1:-1])
    args = dict(roots, registries=[{"registry": "reg.example.com", "ca_cert": pki["ca_crt"],
                                    "client_cert": pki["client_crt"], "client_key": pki["client_key"]}])
    code, result = run(args, capsys, check=True, diff=True)
    assert code == 0 and result["changed"] is True
    assert not os.path.exists(roots["certs_d_root"])
    after = result["diff"]["after"]
    assert "client.key (0600): private key, public key sha256" in after
    assert "ca.crt (0644): subject=CN=Test Registry CA sha256=" in after
    assert key_body[:40] not in json.dumps(result) and "PRIVATE KEY" not in json.dumps(result)


@pytest.mark.parametrize("entry, message", [
    ({"ca_cert": "leaf_crt"}, "registries[0] (reg.example.com:5000): ca_cert (CN=registry.example.com) is not a CA"),
    ({"ca_cert": "old_crt"}, "registries[0] (reg.example.com:5000): ca_cert (CN=Expired CA) expired on 2021-01-01"),
    ({"ca_cert": "ca_crt", "client_cert": "client_crt", "client_key": "other_key"},
     "client_key does not match client_cert (CN=runner-client)"),
    ({"ca_cert": "ca_crt", "client_cert": "client_crt"}, "client_cert and client_key go together"),
    ({"ca_cert": "not a certificate"}, "ca_cert holds no PEM certificate"),
])
def test_invalid_certificates_are_refused_before_anything_is_written(pki, roots, capsys, entry, message):
    entry = {name: pki.get(value, value) for name, value in entry.items()}
    good = {"registry": "first.example.com", "ca_cert": pki["ca_crt"]}
    args = dict(roots, registries=[dict(entry, registry="REG.example.com:5000"), good])
    if "ca_cert (CN" not in message:
        args["registries"] = args["registries"][:1]
    code, result = run(args, capsys)
    assert code == 1 and message in result["msg"] and result["msg"].endswith("nothing was written")
    assert not os.path.exists(roots["certs_d_root"])


def test_garbage_inside_pem_markers_is_not_a_valid_certificate(roots, capsys):
    bogus = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    code, result = run(dict(roots, registries=[{"registry": "reg.example.com", "ca_cert": bogus}]), capsys)
    assert code == 1 and "ca_cert is not a valid PEM certificate" in result["msg"]


def test_namespace_docker_hub_and_duplicates_are_refused(pki, roots, capsys):
    for registries, message in (
            ([{"registry": "reg.example.com/team", "ca_cert": pki["ca_crt"]}], "names a namespace"),
            ([{"registry": "docker.io", "ca_cert": pki["ca_crt"]}], "is Docker Hub"),
            ([{"registry": "reg.example.com", "ca_cert": pki["ca_crt"]},
              {"registry": "https://REG.example.com/", "ca_cert": pki["ca_crt"]}], "one registry, one directory")):
        code, result = run(dict(roots, registries=registries), capsys)
        assert code == 1 and message in result["msg"], result


def test_expiring_soon_warns(pki):
    # the core, not main(): where module.warn() sends a warning depends on what the test process imported
    openssl_cli = registry_trust.trust.OpenSSL(shutil.which("openssl"))
    entries, warnings = registry_trust.trust.build_entries(
        openssl_cli, [{"registry": "reg.example.com", "ca_cert": pki["soon_crt"]}], time.time(), 30)
    assert entries["reg.example.com"]["certificates"]["ca_cert"][0]["expires_in_days"] in (4, 5)
    assert len(warnings) == 1 and warnings[0].startswith("reg.example.com: ca_cert (CN=Short Lived CA) expires in ")


def test_dropping_the_client_pair_absent_and_exclusive(pki, roots, capsys):
    docker = roots["certs_d_root"]
    full = {"registry": "a.example.com", "ca_cert": pki["ca_crt"], "client_cert": pki["client_crt"],
            "client_key": pki["client_key"], "containers": True}
    other = {"registry": "b.example.com", "ca_cert": pki["ca_crt"]}
    assert run(dict(roots, registries=[full, other]), capsys)[1]["changed"] is True
    code, result = run(dict(roots, registries=[{"registry": "a.example.com", "ca_cert": pki["ca_crt"]}]), capsys)
    assert result["changes"] == {os.path.join(docker, "a.example.com"): "updated"}
    assert os.listdir(os.path.join(docker, "a.example.com")) == ["ca.crt"]
    code, result = run(dict(roots, registries=[{"registry": "a.example.com", "state": "absent"}]), capsys)
    assert code == 0 and set(result["changes"].values()) == {"removed"} and len(result["changes"]) == 2
    assert not os.path.exists(os.path.join(docker, "a.example.com"))
    assert not os.path.exists(os.path.join(roots["containers_certs_d_root"], "a.example.com"))
    os.makedirs(os.path.join(docker, "c.example.com"))
    open(os.path.join(docker, "c.example.com", "ca.crt"), "w").write(pki["ca_crt"])
    open(os.path.join(docker, "c.example.com", "mirror.crt"), "w").write(pki["ca_crt"])
    code, result = run(dict(roots, exclusive=True, registries=[other]), capsys)
    assert result["changes"] == {os.path.join(docker, "b.example.com"): "unchanged",
                                 os.path.join(docker, "c.example.com"): "removed"}
    assert os.listdir(os.path.join(docker, "c.example.com")) == ["mirror.crt"]
    assert run(dict(roots, exclusive=True, registries=[other]), capsys)[1]["changed"] is False
