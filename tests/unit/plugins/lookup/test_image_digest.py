# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""image_digest: credentials from a config.json on the controller, helpers run through _helpers.

The registry side is tested against a real registry in tests/functional/test_digests.py.
"""

from __future__ import annotations

import json

import pytest

from ansible.errors import AnsibleLookupError

from ansible_collections.runnerkit.gitlab_runner.plugins.lookup import image_digest


@pytest.fixture
def config(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-rk-test"
    helper.write_text('#!/bin/sh\nread server\necho "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"u\\",'
                      '\\"Secret\\":\\"s3cret\\"}"\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:/usr/bin:/bin" % bin_dir)
    path = tmp_path / "config.json"
    return path


def test_a_credential_helper_on_the_controllers_path_gives_the_credentials(config):
    config.write_text(json.dumps({"credHelpers": {"reg.tld": "rk-test"}}))
    creds = image_digest.credentials_from(str(config), "reg.tld/ns/app:1")
    assert (creds.username, creds.password) == ("u", "s3cret")
    assert image_digest.credentials_from(str(config), "other.tld/ns/app:1").username == ""


def test_a_missing_helper_makes_the_config_unusable(config):
    config.write_text(json.dumps({"credHelpers": {"reg.tld": "rk-absent"}}))
    with pytest.raises(AnsibleLookupError, match='cannot be used: exec: "docker-credential-rk-absent": executable file '
                                                 'not found in \\$PATH'):
        image_digest.credentials_from(str(config), "reg.tld/ns/app:1")
