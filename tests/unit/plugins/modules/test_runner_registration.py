# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runner_registration's own parts: the masked --diff and the host's runner manager id. Its decisions are tested
in tests/unit/plugins/module_utils/test__registration.py, GitLab itself in
tests/functional/test_runner_registration.py against the stand-in."""

from __future__ import annotations

import json

from ansible_collections.runnerkit.gitlab_runner.plugins.modules import runner_registration as module

TOKEN = "glrt-t1_" + "Abc123" * 4
TEXT = """# managed in part by hand
concurrent = 2

[[runners]]
  name = "build"
  url = "https://gitlab.example.com"
  id = 12
  token = "%s"
  token_obtained_at = 2026-01-01T00:00:00Z
  token_expires_at = 2026-04-01T00:00:00Z
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
""" % TOKEN


def test_masked_diff_holds_the_file_and_the_settings_and_no_token():
    new_text = TEXT.replace("id = 12", "id = 13")
    both = module.masked_diff("/etc/gitlab-runner/config.toml", TEXT, new_text, 13, {"paused": (False, True)},
                              {TOKEN})
    assert [d["before_header"] for d in both] == ["/etc/gitlab-runner/config.toml", "GitLab runner 13 settings"]
    assert TOKEN not in json.dumps(both) and "id = 13" in both[0]["after"]
    settings_only = module.masked_diff("/x", TEXT, None, 13, {"paused": (False, True)}, {TOKEN})
    assert settings_only["after"] == "paused: true\n"


def test_host_system_id_is_read_next_to_config_toml_and_checked(tmp_path):
    config = tmp_path / "config.toml"
    assert module.host_system_id(str(config)) is None
    (tmp_path / ".runner_system_id").write_text("s_0123456789ab\n")
    assert module.host_system_id(str(config)) == "s_0123456789ab"
    (tmp_path / ".runner_system_id").write_text("not a system id")
    assert module.host_system_id(str(config)) is None
