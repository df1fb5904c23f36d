# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write what runner_config's core makes of the config.toml fixtures, for run_tests.sh to decode like the runner.

Usage: render_edits.py OUT_DIR

Every fixture of tests/unit/fixtures/configs that GitLab Runner can read gets the same runner edit (image, pull
policy, services, feature flags, DOCKER_AUTH_CONFIG, environment), and an empty file gets a new runner. run_tests.sh
renders these itself, so gocheck does not depend on files a unit-test run left behind.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "configs"
# Duplicate runner names and wrong value types are refused by the core; 24 holds a legacy string-array `services`
# the runner itself rejects in a runner the edit leaves alone.
SKIPPED = ("duplicate-runner-names", "runner-type-errors", "24-unknown-and-deprecated-keys")
RUNNER = {
    "url": "https://gitlab.example.com", "token": "glrt-new-token-value", "executor": "docker",
    "docker": {
        "image": "my.registry.tld:5000/ns/image:tag",
        "pull_policy": ["always", "if-not-present"],
        "services": [{"name": "postgres:16", "alias": "db"}, {"name": "redis:7", "alias": "cache"}],
    },
    "network_per_build": True,
    "feature_flags": {"FF_USE_FASTZIP": True},
    "docker_auth_config": {
        "auths": {"my.registry.tld:5000": {"username": "ci", "password": 'pa"ss$wo\\rd:x'}},
        "credHelpers": {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"},
    },
    "environment": {"HTTP_PROXY": "http://proxy:3128"},
}


def import_core():
    """_config_toml by its collection name, through a throwaway ansible_collections tree that links to this repo."""
    root = tempfile.mkdtemp(prefix="gocheck-collections-")
    link = pathlib.Path(root, "ansible_collections", "runnerkit")
    link.mkdir(parents=True)
    os.symlink(REPO, link / "gitlab_runner")
    sys.path.insert(0, root)
    from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml  # pylint: disable=import-outside-toplevel
    return _config_toml


def edited(core, text, name):
    desired = core.build_desired({"concurrent": 8}, [dict(RUNNER, name=name)])[0]
    return core.render_checked(core.plan(text, desired), desired)


def first_runner_name(core, text):
    runners = core.parse(text).get("runners") or []
    return runners[0].get("name") if runners and isinstance(runners[0], dict) else None


def main(out_dir):
    core = import_core()
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(FIXTURES.glob("*.toml")):
        if any(s in path.name for s in SKIPPED):
            continue
        text = path.read_text()
        (out / path.name).write_text(edited(core, text, first_runner_name(core, text) or "added-runner"))
    (out / "new-file.toml").write_text(edited(core, "", "a"))


if __name__ == "__main__":
    main(sys.argv[1])
