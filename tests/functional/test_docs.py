# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every plugin's documentation renders with ansible-doc, and docs/plugins/ is generated from it.

The plugins are listed from the tree (plugins/modules/*.py, the filters each plugins/filter/*.py
returns, plugins/lookup/*.py, ...), so a new plugin is covered without touching this file, and a
plugin that ansible-doc cannot show (no DOCUMENTATION, a filter without its YAML doc) fails here.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_DIR = os.path.join(REPO_ROOT, ".build", "collections")
COLLECTION = "runnerkit.gitlab_runner"
ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
# plugins/<directory> -> ansible-doc type. action plugins belong to their module; module_utils and
# doc_fragments are not plugins users call.
PLUGIN_DIRS = {"modules": "module", "filter": "filter", "test": "test", "lookup": "lookup",
               "inventory": "inventory", "callback": "callback", "connection": "connection", "become": "become",
               "cache": "cache", "vars": "vars", "strategy": "strategy"}
NOT_DOCUMENTED_DIRS = {"action", "module_utils", "doc_fragments"}
# Filter and test plugins: one .py may hold several, each documented in <name>.yml next to it.
JINJA_PLUGIN_CLASSES = {"filter": "FilterModule", "test": "TestModule"}


def _jinja_plugin_names(directory, kind):
    names = []
    for entry in sorted(os.listdir(os.path.join(REPO_ROOT, "plugins", directory))):
        if not entry.endswith(".py") or entry.startswith("_"):
            continue
        module = importlib.import_module("ansible_collections.runnerkit.gitlab_runner.plugins.%s.%s"
                                         % (directory, entry[:-3]))
        holder = getattr(module, JINJA_PLUGIN_CLASSES[kind])()
        names.extend(getattr(holder, "filters" if kind == "filter" else "tests")())
    return names


def plugins_in_tree():
    """[(ansible-doc type, short name)] of every plugin in plugins/."""
    found = []
    for directory in sorted(os.listdir(os.path.join(REPO_ROOT, "plugins"))):
        path = os.path.join(REPO_ROOT, "plugins", directory)
        if not os.path.isdir(path) or directory in NOT_DOCUMENTED_DIRS or directory == "__pycache__":
            continue
        kind = PLUGIN_DIRS.get(directory)
        assert kind, "plugins/%s: a plugin directory this test does not know; add it to PLUGIN_DIRS" % directory
        if kind in JINJA_PLUGIN_CLASSES:
            names = _jinja_plugin_names(directory, kind)
        else:
            names = [e[:-3] for e in os.listdir(path) if e.endswith(".py") and not e.startswith("_")]
        found.extend((kind, name) for name in sorted(names))
    return found


PLUGINS = plugins_in_tree()


def ansible_doc(*args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_DIR, ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="1", ANSIBLE_DEVEL_WARNING="0", PAGER="cat")
    return subprocess.run([ANSIBLE_DOC] + list(args), env=env, check=False, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, cwd=REPO_ROOT)


def test_the_tree_has_the_plugins_this_test_expects():
    kinds = {kind for kind, _name in PLUGINS}
    assert {"module", "filter", "lookup"} <= kinds, PLUGINS


@pytest.mark.parametrize("kind,name", PLUGINS, ids=["%s:%s" % p for p in PLUGINS])
def test_ansible_doc_renders_without_warnings(kind, name):
    fqcn = "%s.%s" % (COLLECTION, name)
    proc = ansible_doc("-t", kind, fqcn)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", "ansible-doc -t %s %s wrote to stderr:\n%s" % (kind, fqcn, proc.stderr)
    assert fqcn in proc.stdout
    for section in ("OPTIONS", "EXAMPLES:", "RETURN VALUES:"):
        assert section in proc.stdout, "ansible-doc -t %s %s shows no %s section" % (kind, fqcn, section)


@pytest.mark.parametrize("kind", sorted({kind for kind, _name in PLUGINS}))
def test_ansible_doc_lists_exactly_the_plugins_of_the_tree(kind):
    proc = ansible_doc("--list", "--json", "-t", kind, COLLECTION)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
    listed = sorted(n.split(".", 2)[2] for n in json.loads(proc.stdout))
    assert listed == sorted(name for k, name in PLUGINS if k == kind)


def test_ansible_doc_json_has_full_documentation():
    """DOCUMENTATION with a description and author, EXAMPLES and RETURN for every plugin."""
    missing = []
    for kind in sorted({k for k, _n in PLUGINS}):
        names = ["%s.%s" % (COLLECTION, n) for k, n in PLUGINS if k == kind]
        proc = ansible_doc("--json", "-t", kind, *names)
        assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
        docs = json.loads(proc.stdout)
        for fqcn in names:
            data = docs.get(fqcn) or {}
            doc = data.get("doc") or {}
            for key in ("short_description", "description", "author", "version_added"):
                if not doc.get(key):
                    missing.append("%s %s: DOCUMENTATION has no %s" % (kind, fqcn, key))
            if not (data.get("examples") or "").strip():
                missing.append("%s %s: no EXAMPLES" % (kind, fqcn))
            if not data.get("return"):
                missing.append("%s %s: no RETURN" % (kind, fqcn))
    assert not missing, "\n".join(missing)


def test_docs_plugins_is_up_to_date():
    """docs/plugins/ is what scripts/gen_plugin_docs.py writes now (run 'make docs' when this fails)."""
    proc = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "scripts", "gen_plugin_docs.py"), "--check"],
                          check=False, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_docs_plugins_has_a_page_for_every_plugin():
    pages = set(os.listdir(os.path.join(REPO_ROOT, "docs", "plugins")))
    expected = {"%s_%s.md" % (name, kind) for kind, name in PLUGINS}
    assert expected <= pages, sorted(expected - pages)
    with open(os.path.join(REPO_ROOT, "docs", "plugins", "README.md"), encoding="utf-8") as handle:
        index = handle.read()
    for kind, name in PLUGINS:
        assert "(%s_%s.md)" % (name, kind) in index
