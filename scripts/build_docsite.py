# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the HTML documentation site of the collection with antsibull-docs, offline (make docsite).

    python scripts/build_docsite.py [--dest .build/docsite] [--artifact runnerkit-gitlab_runner-X.tar.gz]

The site is made from the collection as users get it: the Galaxy artifact (built here unless
--artifact names one) installed offline into DEST/collections; antsibull-docs reads it there with
``--use-current`` (no Galaxy access). Then ``sphinx-init`` writes a Sphinx project into DEST/src,
``antsibull-docs collection`` the RST pages of every module, plugin and role, and sphinx-build the
HTML into DEST/html. Open DEST/html/index.html.

Offline, Sphinx cannot fetch the Ansible docs' object inventory (intersphinx), so references to
ansible-core pages (``M(ansible.builtin.copy)``, "common return values") stay unresolved: those
warnings are expected and listed as such. Any other Sphinx warning, and any antsibull-docs error,
fails the build (exit 1). The site is a build product (.build/ is not committed); docs/plugins/
holds the committed Markdown reference (scripts/gen_plugin_docs.py).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION = "runnerkit.gitlab_runner"
BIN = os.path.dirname(sys.executable)
OWN_LABEL = "ansible_collections.%s." % COLLECTION
UNRESOLVED_LABEL = re.compile(r"WARNING: undefined label: '([^']+)'")


class BuildError(Exception):
    pass


def tool(name):
    path = os.path.join(BIN, name)
    if os.access(path, os.X_OK):
        return path
    found = shutil.which(name)
    if not found:
        raise BuildError("%s not found (pip install -r tests/packaging-requirements.txt)" % name)
    return found


def run(argv, env=None, cwd=None):
    proc = subprocess.run(argv, env=env, cwd=cwd, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    if proc.returncode != 0:
        raise BuildError("%s failed (rc %d):\n%s" % (" ".join(argv), proc.returncode, proc.stdout[-8000:]))
    return proc.stdout


def private_dir(path):
    """antsibull-docs wants its destination owned by the user and writable by nobody else."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o700)


def build(dest, artifact=None):
    """Build the site; return (index.html path, expected offline warnings)."""
    dest = os.path.abspath(dest)
    private_dir(dest)
    for sub in ("artifact", "collections", "src", "html"):
        shutil.rmtree(os.path.join(dest, sub), ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               PATH=BIN + os.pathsep + env.get("PATH", ""))

    if artifact is None:
        os.makedirs(os.path.join(dest, "artifact"))
        run([tool("ansible-galaxy"), "collection", "build", "--output-path", os.path.join(dest, "artifact"),
             REPO_ROOT], env=env, cwd=dest)
        artifact = glob.glob(os.path.join(dest, "artifact", "*.tar.gz"))[0]
    collections = os.path.join(dest, "collections")
    run([tool("ansible-galaxy"), "collection", "install", "--offline", "--force", "-p", collections,
         os.path.abspath(artifact)], env=env, cwd=dest)
    env["ANSIBLE_COLLECTIONS_PATH"] = collections

    src = os.path.join(dest, "src")
    private_dir(src)
    run([tool("antsibull-docs"), "sphinx-init", "--use-current", "--fail-on-error", "--dest-dir", src,
         "--project", COLLECTION, "--copyright", "runnerkit developers",
         "--title", "%s collection documentation" % COLLECTION, "--html-short-title", COLLECTION, COLLECTION],
        env=env, cwd=src)
    with open(os.path.join(src, "conf.py"), "a", encoding="utf-8") as handle:
        handle.write("\n# Offline build (scripts/build_docsite.py): no object inventories to fetch.\n"
                     "intersphinx_mapping = {}\n")
    rst = os.path.join(src, "rst")
    private_dir(rst)
    run([tool("antsibull-docs"), "--config-file", os.path.join(src, "antsibull-docs.cfg"), "collection",
         "--use-current", "--fail-on-error", "--cleanup", "everything", "--dest-dir", rst, COLLECTION],
        env=env, cwd=src)

    html = os.path.join(dest, "html")
    warnings_file = os.path.join(dest, "sphinx-warnings.log")
    run([tool("sphinx-build"), "-b", "html", "-c", src, "-q", "--keep-going", "-w", warnings_file, rst, html],
        env=env, cwd=src)
    with open(warnings_file, encoding="utf-8") as handle:
        warnings = [line.rstrip() for line in handle if "WARNING" in line or "ERROR" in line]
    expected, unexpected = [], []
    for line in warnings:
        label = UNRESOLVED_LABEL.search(line)
        (expected if label and not label.group(1).startswith(OWN_LABEL) else unexpected).append(line)
    if unexpected:
        raise BuildError("sphinx-build warnings (see %s):\n%s" % (warnings_file, "\n".join(unexpected)))
    return os.path.join(html, "index.html"), expected


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dest", default=os.path.join(REPO_ROOT, ".build", "docsite"))
    parser.add_argument("--artifact", help="a runnerkit-gitlab_runner-*.tar.gz to document instead of building one")
    args = parser.parse_args(argv)
    try:
        index, expected = build(args.dest, args.artifact)
    except BuildError as exc:
        print("build_docsite: %s" % exc, file=sys.stderr)
        return 1
    labels = sorted({UNRESOLVED_LABEL.search(line).group(1) for line in expected})
    if labels:
        print("build_docsite: offline, these references into the Ansible docs stay unresolved: %s"
              % ", ".join(labels))
    print("build_docsite: %s" % index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
