# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The docker_config role in mode files through ansible-playbook, as root, for a real user (useradd) whose
~/.aws already holds another profile: check mode writes nothing, the run changes only the role's profile,
the rerun changes nothing, and neither the role's keys nor the other profile's show at -vvv with --diff."""

from __future__ import annotations

import json
import os
import stat

import planted_links
import pytest

PLAY = [{"hosts": "localhost", "gather_facts": False, "roles": ["runnerkit.gitlab_runner.docker_config"]}]
KEY_ID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OTHER_SECRET = "otherSecretKey/0000000000000000000000000"
CONFIG = "# the user's own settings\n[profile other]\nregion = ap-south-1\noutput = json\n"
CREDENTIALS = "[other]\naws_access_key_id = AKIAOTHERKEY00000000\naws_secret_access_key = %s\n" % OTHER_SECRET


@pytest.fixture
def box():
    with planted_links.planted_user() as sandbox:
        yield sandbox


def changed(run):
    return [record["task"] for record in run.results if record["status"] == "changed"]


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def test_role_edits_only_its_profile_and_shows_no_key(box, run_playbook):
    aws = os.path.join(box.home, ".aws")
    box.as_user("mkdir", "-m", "0700", aws)
    box.user_file(os.path.join(aws, "config"), CONFIG)
    box.user_file(os.path.join(aws, "credentials"), CREDENTIALS)
    aws_vars = {"docker_config_user": box.user, "docker_config_aws_mode": "files",
                "docker_config_aws_region": "eu-west-1", "docker_config_aws_access_key_id": KEY_ID,
                "docker_config_aws_secret_access_key": SECRET}

    check = run_playbook(json.dumps(PLAY), aws_vars, verbosity=3, check=True, diff=True)
    assert check.rc == 0 and changed(check), check.output
    assert (read(os.path.join(aws, "config")), read(os.path.join(aws, "credentials"))) == (CONFIG, CREDENTIALS)
    assert sorted(os.listdir(aws)) == ["config", "credentials"]

    applied = run_playbook(json.dumps(PLAY), aws_vars, verbosity=3, diff=True)
    assert applied.rc == 0, applied.output
    assert read(os.path.join(aws, "config")) == CONFIG + "\n[default]\nregion = eu-west-1\n"
    assert read(os.path.join(aws, "credentials")) == CREDENTIALS + (
        "\n[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (KEY_ID, SECRET))
    for name in ("config", "credentials"):
        info = os.stat(os.path.join(aws, name))
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (box.uid, 0o600), name

    again = run_playbook(json.dumps(PLAY), aws_vars, verbosity=3, diff=True)
    assert again.rc == 0 and changed(again) == [], again.output
    for run in (check, applied, again):
        for secret in (KEY_ID, SECRET, OTHER_SECRET, "AKIAOTHERKEY"):
            assert secret not in run.output
    assert "aws_secret_access_key = ********" in applied.output  # the diff is shown, masked
