# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""aws_profile in process on real files: check mode, masked diffs, bad input, and, as root in the home of a
real non-root user (useradd) who planted links in ~/.aws, refusals that leave every file of root as it was."""

from __future__ import annotations

import json
import os
import pwd
import stat

import planted_links
import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.runnerkit.gitlab_runner.plugins.modules import aws_profile

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEBYaDSessionTok3nExample"
OTHER_SECRET = "otherSecretKey/0000000000000000000000000"
CONFIG = "# written by hand\n[default]\nregion = us-east-1\noutput = json\n\n[profile other]\nregion = ap-south-1\n"
CREDENTIALS = "[other]\naws_access_key_id = AKIAOTHERKEY00000000\naws_secret_access_key = %s\n" % OTHER_SECRET


def run(args, capsys, check=False, diff=False):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises(SystemExit) as exc:
            aws_profile.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def aws_dir(tmp_path):
    directory = tmp_path / ".aws"
    directory.mkdir(mode=0o700)
    (directory / "config").write_text(CONFIG)
    (directory / "credentials").write_text(CREDENTIALS)
    for name in ("config", "credentials"):
        os.chmod(directory / name, 0o600)
    return directory


def args_for(directory, **more):
    return dict({"config_path": str(directory / "config"), "credentials_path": str(directory / "credentials"),
                 "settings": {"region": "eu-west-1", "role_arn": None},
                 "access_key_id": KEY_ID, "secret_access_key": SECRET, "session_token": TOKEN}, **more)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_check_mode_writes_nothing_then_apply_then_rerun_is_unchanged(aws_dir, capsys):
    args = args_for(aws_dir)
    before = {name: (aws_dir / name).read_bytes() for name in ("config", "credentials")}
    code, result = run(args, capsys, check=True)
    assert code == 0 and result["changed"] is True
    assert result["changes"] == {"config": {"region": "updated"},
                                 "credentials": {"[default]": "added", "aws_access_key_id": "added",
                                                 "aws_secret_access_key": "added", "aws_session_token": "added"}}
    assert {name: (aws_dir / name).read_bytes() for name in ("config", "credentials")} == before
    assert sorted(os.listdir(aws_dir)) == ["config", "credentials"]  # no lock file either
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is True
    assert (aws_dir / "config").read_text() == CONFIG.replace("us-east-1", "eu-west-1")
    assert (aws_dir / "credentials").read_text() == CREDENTIALS + (
        "\n[default]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n"
        % (KEY_ID, SECRET, TOKEN))
    assert mode(aws_dir / "credentials") == 0o600 and mode(aws_dir / "config") == 0o600
    assert run(args, capsys) == (0, {"changed": False, "changes": {}, "config_path": str(aws_dir / "config"),
                                     "credentials_path": str(aws_dir / "credentials"),
                                     "invocation": result["invocation"]})
    assert run(args, capsys, check=True, diff=True)[1]["changed"] is False


def test_diff_and_results_hold_no_secret(aws_dir, capsys):
    code, result = run(args_for(aws_dir), capsys, diff=True)
    assert code == 0
    shown = json.dumps(result)
    for secret in (KEY_ID, SECRET, TOKEN, OTHER_SECRET, "AKIAOTHERKEY00000000"):
        assert secret not in shown
    config_diff, credentials_diff = result["diff"]
    assert config_diff["before"] == CONFIG and config_diff["after"] == CONFIG.replace("us-east-1", "eu-west-1")
    assert config_diff["after_header"] == str(aws_dir / "config")
    assert credentials_diff["after"] == (
        "[other]\naws_access_key_id = ********\naws_secret_access_key = ********\n\n[default]\n"
        "aws_access_key_id = ********\naws_secret_access_key = ********\naws_session_token = ********\n")
    # New keys, old token: the token line goes, nothing of either pair shows.
    code, result = run(args_for(aws_dir, access_key_id="AKIANEWKEY0000000000", session_token=None,
                                secret_access_key="newSecretKey/000000000000000000000000"), capsys, diff=True)
    assert result["changes"] == {"credentials": {"aws_access_key_id": "updated", "aws_secret_access_key": "updated",
                                                 "aws_session_token": "removed"}}
    assert "aws_session_token" not in (aws_dir / "credentials").read_text()
    assert "AKIANEWKEY" not in json.dumps(result) and "newSecretKey" not in json.dumps(result)


def test_without_keys_the_credentials_file_is_left_alone(aws_dir, capsys):
    os.chmod(aws_dir / "credentials", 0o644)
    args = args_for(aws_dir, access_key_id=None, secret_access_key=None, session_token=None)
    code, result = run(args, capsys)
    assert code == 0 and set(result["changes"]) == {"config"} and "credentials_path" not in result
    assert (aws_dir / "credentials").read_text() == CREDENTIALS and mode(aws_dir / "credentials") == 0o644


def test_without_settings_the_config_file_is_left_alone(aws_dir, capsys):
    os.chmod(aws_dir / "config", 0o644)
    code, result = run(args_for(aws_dir, settings=None), capsys)
    assert code == 0 and set(result["changes"]) == {"credentials"} and "config_path" not in result
    assert (aws_dir / "config").read_text() == CONFIG and mode(aws_dir / "config") == 0o644


def test_named_profile_source_profile_keys_and_absent(aws_dir, capsys):
    args = args_for(aws_dir, profile="ecr", credentials_profile="base", session_token=None,
                    settings={"region": "eu-west-1", "role_arn": "arn:aws:iam::1:role/ecr", "source_profile": "base"})
    assert run(args, capsys)[0] == 0
    assert (aws_dir / "config").read_text() == CONFIG + (
        "\n[profile ecr]\nregion = eu-west-1\nrole_arn = arn:aws:iam::1:role/ecr\nsource_profile = base\n")
    assert (aws_dir / "credentials").read_text().endswith("\n[base]\naws_access_key_id = %s\n"
                                                          "aws_secret_access_key = %s\n" % (KEY_ID, SECRET))
    gone = {"config_path": args["config_path"], "credentials_path": args["credentials_path"], "profile": "ecr",
            "credentials_profile": "base", "state": "absent"}
    code, result = run(gone, capsys)
    assert code == 0 and result["changes"]["config"]["[profile ecr]"] == "removed"
    assert (aws_dir / "config").read_text() == CONFIG and (aws_dir / "credentials").read_text() == CREDENTIALS
    assert run(gone, capsys)[1]["changed"] is False


def test_new_files_are_0600_in_a_new_0700_directory(tmp_path, capsys):
    directory = tmp_path / "home" / ".aws"
    code, result = run(args_for(directory), capsys, check=True)
    assert code == 0 and result["changed"] is True and not (tmp_path / "home").exists()
    code, result = run(args_for(directory), capsys)
    assert code == 0 and result["changed"] is True
    assert mode(directory) == 0o700 and mode(directory / "config") == 0o600 and mode(directory / "credentials") == 0o600
    assert (directory / "config").read_text() == "[default]\nregion = eu-west-1\n"


def test_private_directory_fixes_an_existing_directory_and_file_modes(aws_dir, capsys):
    os.chmod(aws_dir, 0o755)
    os.chmod(aws_dir / "config", 0o644)
    args = args_for(aws_dir, settings={"region": "us-east-1"}, access_key_id=None, secret_access_key=None,
                    session_token=None, private_directory=True)
    code, result = run(args, capsys, check=True)
    assert result["changed"] is True and mode(aws_dir) == 0o755 and mode(aws_dir / "config") == 0o644
    code, result = run(args, capsys)
    assert result["changed"] is True and result["changes"] == {}
    assert mode(aws_dir) == 0o700 and mode(aws_dir / "config") == 0o600
    assert (aws_dir / "config").read_text() == CONFIG
    assert run(args, capsys)[1]["changed"] is False


@pytest.mark.parametrize("more, message", [
    ({"profile": "a b"}, "profile: 'a b' must not hold white space, line breaks, '[' or ']'; nothing was written"),
    ({"profile": "[x]"}, "profile: '[x]' must not hold white space"),
    ({"credentials_profile": "a\nb"}, "credentials_profile: 'a\\nb' must not hold white space"),
    ({"settings": {"region": "eu-west-1\n[profile evil]"}}, "settings.region: must not hold a line break"),
    ({"settings": {"aws_secret_access_key": "x"}}, "settings.aws_secret_access_key: keys go into the credentials"),
    ({"secret_access_key": "two words"}, "secret_access_key: must be a non-empty string without white space"),
    ({"state": "absent"}, "state=absent removes the whole profile: it takes no settings or keys"),
    ({"secret_access_key": None}, "access_key_id and secret_access_key: give both or neither"),
    ({"access_key_id": None, "secret_access_key": None}, "missing parameter(s) required by 'session_token': access_key_id"),
    ({"credentials_path": None}, "missing parameter(s) required by 'access_key_id': credentials_path"),
])
def test_bad_input_fails_naming_the_option_and_writes_nothing(aws_dir, capsys, more, message):
    before = {name: (aws_dir / name).read_bytes() for name in ("config", "credentials")}
    code, result = run(args_for(aws_dir, **more), capsys)
    assert code == 1 and message in result["msg"], result["msg"]
    assert SECRET not in json.dumps(result) and TOKEN not in json.dumps(result)
    assert {name: (aws_dir / name).read_bytes() for name in ("config", "credentials")} == before


def test_a_file_with_the_profile_twice_is_refused_with_its_path(aws_dir, capsys):
    (aws_dir / "config").write_text("[default]\nregion = a\n[default]\nregion = b\n")
    code, result = run(args_for(aws_dir), capsys)
    assert code == 1 and result["msg"].startswith(str(aws_dir / "config") + ": the section [default] appears 2 times")
    assert (aws_dir / "config").read_text() == "[default]\nregion = a\n[default]\nregion = b\n"


# --------------------------------------------------------------------------- planted links, as root

@pytest.fixture
def box():
    with planted_links.planted_user() as sandbox:
        yield sandbox


def user_args(box):
    aws = os.path.join(box.home, ".aws")
    return {"config_path": os.path.join(aws, "config"), "credentials_path": os.path.join(aws, "credentials"),
            "owner": box.user, "private_directory": True, "settings": {"region": "eu-west-1"},
            "access_key_id": KEY_ID, "secret_access_key": SECRET}


def aws_dir_to_root_dir(box, aws):
    box.plant_symlink(box.root_dir, aws)
    return aws


def credentials_to_root_file(box, aws):
    box.as_user("mkdir", "-m", "0700", aws)
    credentials = os.path.join(aws, "credentials")
    box.plant_symlink(box.secret, credentials)
    return credentials


def config_dangling_into_root_dir(box, aws):
    box.as_user("mkdir", "-m", "0700", aws)
    config = os.path.join(aws, "config")
    box.plant_symlink(os.path.join(box.root, "created-by-root"), config)
    return config


def credentials_hard_linked_to_root_file(box, aws):
    box.as_user("mkdir", "-m", "0700", aws)
    credentials = os.path.join(aws, "credentials")
    os.link(box.secret, credentials)  # what fs.protected_hardlinks=0 lets the user do
    return credentials


PLANTED = [aws_dir_to_root_dir, credentials_to_root_file, config_dangling_into_root_dir,
           credentials_hard_linked_to_root_file]


@pytest.mark.parametrize("plant", PLANTED, ids=[case.__name__ for case in PLANTED])
@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
def test_planted_links_are_refused_and_nothing_of_root_changes(box, capsys, plant, check):
    args = user_args(box)
    refused = plant(box, os.path.dirname(args["config_path"]))
    owner = "root" if plant is credentials_hard_linked_to_root_file else box.user
    before = box.snapshot()
    code, result = run(args, capsys, check=check)
    assert box.snapshot() == before, "a file or directory of root changed"
    assert box.files_of_user_holding(planted_links.ROOT_SECRET) == []
    assert code == 1, result
    assert refused in result["msg"] and "owned by %s (uid %d)" % (owner, pwd.getpwnam(owner).pw_uid) in result["msg"]
    assert result["msg"].endswith("the file was left unchanged")
    assert not os.path.exists(os.path.join(box.root, "created-by-root"))
    assert SECRET not in json.dumps(result)


def test_in_the_users_own_directory_the_files_are_written_for_the_user(box, capsys):
    args = user_args(box)
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is True
    aws = os.path.dirname(args["config_path"])
    for path, wanted in ((aws, 0o700), (args["config_path"], 0o600), (args["credentials_path"], 0o600)):
        info = os.stat(path)
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (box.uid, box.gid, wanted), path
    assert run(args, capsys)[1]["changed"] is False
