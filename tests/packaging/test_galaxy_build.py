# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Galaxy artifact: what it holds, that it installs offline, and that the installed copy works.

The demo playbook (make demo) runs twice from the installed copy with ANSIBLE_COLLECTIONS_PATH set
to the install directory only: the first run changes the file (masked diff), the second changes
nothing. Every playbook of playbooks/ passes --syntax-check from the installed copy by its FQCN.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile

import pytest
import yaml

from packaging_support import REPO_ROOT, clean_env, run, tool

DEMO_PASSWORD = "demo-registry-password"


def members(artifact):
    with tarfile.open(str(artifact)) as tar:
        return {m.name[2:] if m.name.startswith("./") else m.name: m for m in tar.getmembers()}


def test_artifact_holds_the_execution_environment_metadata(artifact):
    names = members(artifact)
    for path in ("meta/execution-environment.yml", "meta/ee-requirements.txt", "meta/ee-bindep.txt",
                 "meta/runtime.yml", "MANIFEST.json", "FILES.json", "README.md", "LICENSE"):
        assert path in names, "%s missing from %s" % (path, artifact.name)


def test_artifact_holds_every_plugin_playbook_and_doc(artifact):
    names = members(artifact)
    expected = []
    for top in ("plugins", "playbooks", "docs", "demo", "roles", "meta", "changelogs"):
        base = os.path.join(REPO_ROOT, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for filename in filenames:
                if filename.endswith(".pyc") or filename == ".plugin-cache.yaml":
                    continue
                expected.append(os.path.relpath(os.path.join(dirpath, filename), REPO_ROOT))
    missing = sorted(p for p in expected if p not in names)
    assert not missing, "not in the artifact: %s" % missing


def test_artifact_leaves_development_leftovers_out(artifact):
    leftovers = re.compile(r"(^|/)(\.venv|\.build|\.git|\.hypothesis|\.pytest_cache|__pycache__|\.cache)(/|$)"
                           r"|^scripts/|^mk/|^Makefile$"
                           r"|\.pyc$|^tests/output(/|$)|^tests/gocheck/gocheck$|\.tar\.gz$"
                           r"|^changelogs/\.plugin-cache\.yaml$")
    found = sorted(n for n in members(artifact) if leftovers.search(n))
    assert not found, found


def test_artifact_is_small(artifact):
    assert artifact.stat().st_size < 2 * 1024 * 1024, "%d bytes: something big slipped into the build" % (
        artifact.stat().st_size)


def test_manifest_matches_galaxy_yml(artifact):
    with open(os.path.join(REPO_ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    with tarfile.open(str(artifact)) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == (galaxy["namespace"], galaxy["name"],
                                                                  galaxy["version"])
    assert artifact.name == "runnerkit-gitlab_runner-%s.tar.gz" % galaxy["version"]


def test_installed_copy_is_what_ansible_finds(installed, installed_root):
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(installed))
    proc = run([tool("ansible-galaxy"), "collection", "list", "runnerkit.gitlab_runner", "--format", "json"],
               env=env, cwd=str(installed))
    listed = json.loads(proc.stdout)
    assert list(listed) == [str(installed / "ansible_collections")], listed
    proc = run([tool("ansible-doc"), "-t", "module", "runnerkit.gitlab_runner.runner_config"], env=env,
               cwd=str(installed))
    assert str(installed_root / "plugins" / "modules" / "runner_config.py") in proc.stdout


def test_demo_playbook_runs_twice_from_the_installed_copy(installed, installed_root, tmp_path):
    """make demo's playbook from the artifact: changed with a masked diff, then unchanged."""
    demo = installed_root / "demo"
    config = tmp_path / "config.toml"
    shutil.copyfile(str(demo / "config.toml"), str(config))
    config.chmod(0o600)
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(installed))
    argv = [tool("ansible-playbook"), "-i", "localhost,", str(demo / "site.yml"), "--diff",
            "-e", "demo_config_path=%s" % config, "-e", "ansible_python_interpreter=%s" % tool("python")]

    first = run(argv + ["-vvv"], env=env, cwd=str(tmp_path))
    assert re.search(r"localhost\s*:\s*ok=1\s+changed=1\s", first.stdout), first.stdout[-3000:]
    # -vvv names the module file it sends: the installed copy's, not the repository's.
    used = set(re.findall(r"Using module file (\S+)", first.stdout))
    assert used == {str(installed_root / "plugins" / "modules" / "runner_config.py")}, used
    assert "DOCKER_AUTH_CONFIG" in first.stdout  # the diff ...
    assert DEMO_PASSWORD not in first.stdout + first.stderr  # ... with the secret masked
    text = config.read_text()
    assert "docker-build" in text and "DOCKER_AUTH_CONFIG" in text

    second = run(argv, env=env, cwd=str(tmp_path))
    assert re.search(r"localhost\s*:\s*ok=1\s+changed=0\s", second.stdout), second.stdout[-3000:]
    assert config.read_text() == text


PLAYBOOKS = sorted(n[:-4] for n in os.listdir(os.path.join(REPO_ROOT, "playbooks")) if n.endswith(".yml"))


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbooks_resolve_from_the_installed_copy(installed, tmp_path, playbook):
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(installed))
    run([tool("ansible-playbook"), "-i", "localhost,", "runnerkit.gitlab_runner.%s" % playbook, "--syntax-check"],
        env=env, cwd=str(tmp_path))
