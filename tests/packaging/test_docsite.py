# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The antsibull-docs site builds offline from the installed artifact (into .build/docsite, as
make docsite does), has a page for every plugin and role, and the collection's docs pass
antsibull-docs' own linter (semantic markup, references, role argument specs)."""

from __future__ import annotations

import importlib.util
import os

from packaging_support import REPO_ROOT, clean_env, run, tool

DEST = os.path.join(REPO_ROOT, ".build", "docsite")


def load_builder():
    spec = importlib.util.spec_from_file_location("build_docsite", os.path.join(REPO_ROOT, "scripts",
                                                                                "build_docsite.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docsite_builds_offline_with_a_page_per_plugin_and_role(artifact):
    builder = load_builder()
    try:
        index, expected = builder.build(DEST, str(artifact))
    except builder.BuildError as exc:
        raise AssertionError(str(exc))
    assert os.path.isfile(index)
    # Only references into the Ansible docs stay unresolved offline, never one into this collection.
    assert all(builder.OWN_LABEL not in line for line in expected), expected

    pages = os.path.join(DEST, "html", "collections", "runnerkit", "gitlab_runner")
    wanted = [name[:-3] + ".html" for name in os.listdir(os.path.join(REPO_ROOT, "docs", "plugins"))
              if name.endswith(".md") and name != "README.md"]
    roles_dir = os.path.join(REPO_ROOT, "roles")
    if os.path.isdir(roles_dir):
        wanted += ["%s_role.html" % role for role in os.listdir(roles_dir)
                   if os.path.isdir(os.path.join(roles_dir, role, "meta"))]
    missing = sorted(page for page in wanted if not os.path.isfile(os.path.join(pages, page)))
    assert not missing, missing
    with open(os.path.join(pages, "runner_config_module.html"), encoding="utf-8") as handle:
        html = handle.read()
    assert "docker_auth_config" in html and "credHelpers" in html


def test_antsibull_docs_lint_accepts_the_installed_collection(installed_root):
    proc = run([tool("antsibull-docs"), "lint-collection-docs", "--plugin-docs", "--validate-collection-refs", "self",
                str(installed_root)], check=False,
               env=clean_env(ANSIBLE_COLLECTIONS_PATH=str(installed_root.parent.parent.parent)))
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
