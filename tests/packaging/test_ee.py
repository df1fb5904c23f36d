# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment: meta/execution-environment.yml and what ansible-builder makes of it.

No container engine is needed: ``ansible-builder create`` writes the build context for the
documented consumer definition (docs/awx/execution-environment.yml) with the Galaxy artifact, then
the two steps of the build that concern the collection run here exactly as the Containerfile runs
them: the galaxy stage installs the collection from the context's requirements.yml (working
directory = the context's _build, which the Containerfile copies to /build), and the builder stage
runs the context's own introspect.py over the installed collections. Its pip and bindep output
must name tomlkit, boto3 and the system packages, attributed to runnerkit.gitlab_runner.
"""

from __future__ import annotations

import os
import re
import shutil

import yaml
from packaging.requirements import Requirement

from packaging_support import REPO_ROOT, clean_env, run, tool

COLLECTION = "runnerkit.gitlab_runner"
CONSUMER_EE = os.path.join(REPO_ROOT, "docs", "awx", "execution-environment.yml")


def read_meta():
    with open(os.path.join(REPO_ROOT, "meta", "execution-environment.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def requirement_lines(path):
    with open(os.path.join(REPO_ROOT, path), encoding="utf-8") as handle:
        return [line.split("#", 1)[0].strip() for line in handle if line.split("#", 1)[0].strip()]


def test_meta_points_at_the_dependency_files():
    meta = read_meta()
    assert meta["version"] in (1, 3)
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "meta/ee-bindep.txt"}
    for path in meta["dependencies"].values():
        assert not os.path.isabs(path) and os.path.isfile(os.path.join(REPO_ROOT, path))


def test_python_requirements_have_lower_bounds_only():
    names = []
    for line in requirement_lines("meta/ee-requirements.txt"):
        req = Requirement(line)
        names.append(req.name.lower())
        for spec in req.specifier:
            assert spec.operator == ">=", "%s: only lower bounds (>=), no pins or caps" % line
    assert {"tomlkit", "boto3"} <= set(names), names


def test_bindep_file_parses():
    from bindep.depends import Depends  # installed with ansible-builder

    with open(os.path.join(REPO_ROOT, "meta", "ee-bindep.txt"), encoding="utf-8") as handle:
        depends = Depends(handle.read())
    debian = {rule[0] for rule in depends.active_rules(["platform:dpkg", "platform:debian"])}
    fedora = {rule[0] for rule in depends.active_rules(["platform:rpm", "platform:redhat"])}
    assert {"ca-certificates", "openssh-client"} <= debian, debian
    assert {"ca-certificates", "openssh-clients"} <= fedora, fedora


def test_builder_context_installs_the_collection_and_names_its_dependencies(tmp_path, artifact):
    # The consumer definition of the docs, next to the artifact under the name it expects.
    shutil.copyfile(CONSUMER_EE, str(tmp_path / "execution-environment.yml"))
    shutil.copyfile(str(artifact), str(tmp_path / "runnerkit-gitlab_runner.tar.gz"))
    context = tmp_path / "context"
    env = clean_env()
    run([tool("ansible-builder"), "create", "-f", "execution-environment.yml", "-c", str(context),
         "--output-filename", "Containerfile", "-v", "3"], cwd=str(tmp_path), env=env)

    build = context / "_build"
    containerfile = (context / "Containerfile").read_text()
    assert "COPY _build /build" in containerfile and "WORKDIR /build" in containerfile
    assert re.search(r"ansible-galaxy collection install .*-r requirements\.yml", containerfile)
    assert "introspect.py introspect" in containerfile
    with open(str(build / "requirements.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    assert galaxy["collections"] == [{"name": "collections/runnerkit-gitlab_runner.tar.gz", "type": "file"}]
    assert (build / "collections" / "runnerkit-gitlab_runner.tar.gz").is_file()

    # Galaxy stage: RUN ansible-galaxy collection install -r requirements.yml (WORKDIR /build).
    collections = tmp_path / "usr-share-ansible-collections"
    run([tool("ansible-galaxy"), "collection", "install", "--offline", "-r", "requirements.yml",
         "--collections-path", str(collections)], cwd=str(build),
        env=clean_env(ANSIBLE_GALAXY_DISABLE_GPG_VERIFY="1"))
    assert (collections / "ansible_collections" / "runnerkit" / "gitlab_runner" / "meta"
            / "execution-environment.yml").is_file()

    # Builder stage: RUN $PYCMD /output/scripts/introspect.py introspect --write-bindep=... --write-pip=...
    pip_out, bindep_out = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    proc = run([tool("python"), str(build / "scripts" / "introspect.py"), "introspect", str(collections),
                "--write-pip", str(pip_out), "--write-bindep", str(bindep_out)], env=env)
    marker = "# from collection %s" % COLLECTION
    report = yaml.safe_load(proc.stdout)  # what the build log shows: the annotated lines
    assert report["python"] and all(line.endswith(marker) for line in report["python"]), report
    assert report["system"] and all(line.endswith(marker) for line in report["system"]), report
    pip_lines = [line for line in pip_out.read_text().splitlines() if line.strip()]
    assert all(line.endswith(marker) for line in pip_lines), pip_lines
    pip_names = {Requirement(line.split("#", 1)[0].strip()).name.lower() for line in pip_lines}
    assert {"tomlkit", "boto3"} <= pip_names, pip_lines
    bindep_lines = bindep_out.read_text()
    for package in ("ca-certificates", "openssh-clients [platform:rpm]", "openssh-client [platform:dpkg]"):
        assert "%s  %s" % (package, marker) in bindep_lines, bindep_lines
