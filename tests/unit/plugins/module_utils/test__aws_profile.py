# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure INI editor of aws_profile: one profile changes, every other byte of the file stays."""

from __future__ import annotations

import configparser

import pytest

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _aws_profile as aws

CONFIG = """\
# AWS CLI settings of the runner user; keep this comment
[default]
region = us-east-1
output=json

; profile ci assumes a role
[profile ci]
Region: eu-central-1
s3 =
  max_concurrent_requests = 20
role_arn = arn:aws:iam::123456789012:role/ci

[profile other]
region = ap-south-1
"""

CREDENTIALS = """\
[default]
aws_access_key_id = AKIAOTHERKEY00000000
aws_secret_access_key = otherSecretKey/0000000000000000000000000

[ci]
aws_access_key_id = AKIACIKEY00000000000
aws_secret_access_key = ciSecretKey/00000000000000000000000000000
"""


def parsed(text):
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return {section: dict(parser[section]) for section in parser.sections()}


def test_updating_one_key_changes_that_line_only():
    new, changes = aws.edit(CONFIG, aws.CONFIG, "default", {"region": "eu-west-1"})
    assert changes == {"region": "updated"}
    assert new == CONFIG.replace("region = us-east-1", "region = eu-west-1")


def test_key_spelling_and_delimiter_are_kept_and_keys_match_without_case():
    new, changes = aws.edit(CONFIG, aws.CONFIG, "ci", {"region": "eu-west-1"})
    assert changes == {"region": "updated"}
    assert new == CONFIG.replace("Region: eu-central-1", "Region: eu-west-1")


def test_new_keys_go_below_the_last_key_of_the_section_above_blank_lines_and_comments():
    new, changes = aws.edit(CONFIG, aws.CONFIG, "default", {"role_arn": "arn:aws:iam::1:role/x", "region": "us-east-1"})
    assert changes == {"role_arn": "added"}
    assert new == CONFIG.replace("output=json\n", "output=json\nrole_arn = arn:aws:iam::1:role/x\n")


def test_null_removes_a_key_with_its_continuation_lines():
    new, changes = aws.edit(CONFIG, aws.CONFIG, "ci", {"s3": None, "source_profile": None})
    assert changes == {"s3": "removed"}
    assert new == CONFIG.replace("s3 =\n  max_concurrent_requests = 20\n", "")


def test_named_profile_is_profile_name_in_config_and_name_in_credentials():
    assert aws.section_name(aws.CONFIG, "default") == "default"
    assert aws.section_name(aws.CONFIG, "ci") == "profile ci"
    assert aws.section_name(aws.CREDENTIALS, "ci") == "ci"
    # [ci] in a config file is no profile ci: the section [profile ci] is edited, [ci] stays.
    text = "[ci]\nregion = a\n"
    new, changes = aws.edit(text, aws.CONFIG, "ci", {"region": "b"})
    assert new == "[ci]\nregion = a\n\n[profile ci]\nregion = b\n"
    assert changes == {"[profile ci]": "added", "region": "added"}
    # and [profile ci] in a credentials file is no section ci.
    new, _changes = aws.edit("[profile ci]\nx = 1\n", aws.CREDENTIALS, "ci", {"aws_access_key_id": "AKIA1"})
    assert new == "[profile ci]\nx = 1\n\n[ci]\naws_access_key_id = AKIA1\n"


def test_profile_header_with_extra_spaces_is_found_as_botocore_finds_it():
    new, changes = aws.edit("[profile   ci]\nregion = a\n", aws.CONFIG, "ci", {"region": "b"})
    assert (new, changes) == ("[profile   ci]\nregion = b\n", {"region": "updated"})


def test_new_section_is_appended_after_a_blank_line_in_exact_text():
    new, changes = aws.edit(CREDENTIALS, aws.CREDENTIALS, "runner",
                            {"aws_access_key_id": "AKIARUNNER0000000000", "aws_secret_access_key": "s3cret",
                             "aws_session_token": None})
    assert changes == {"[runner]": "added", "aws_access_key_id": "added", "aws_secret_access_key": "added"}
    assert new == CREDENTIALS + "\n[runner]\naws_access_key_id = AKIARUNNER0000000000\naws_secret_access_key = s3cret\n"


def test_new_file_and_file_without_final_newline():
    assert aws.edit(None, aws.CONFIG, "default", {"region": "eu-west-1", "role_arn": None}) == (
        "[default]\nregion = eu-west-1\n", {"[default]": "added", "region": "added"})
    new, _changes = aws.edit("[default]\nregion = a", aws.CONFIG, "default", {"output": "json"})
    assert new == "[default]\nregion = a\noutput = json\n"
    new, _changes = aws.edit("[default]\nregion = a", aws.CONFIG, "x", {"region": "b"})
    assert new == "[default]\nregion = a\n\n[profile x]\nregion = b\n"


def test_crlf_files_keep_their_line_endings():
    new, _changes = aws.edit("[default]\r\nregion = a\r\n", aws.CONFIG, "default", {"region": "b", "output": "json"})
    assert new == "[default]\r\nregion = b\r\noutput = json\r\n"


def test_idempotent_on_its_own_output():
    settings = {"region": "eu-west-1", "role_arn": "arn:aws:iam::1:role/x", "credential_source": "Environment",
                "source_profile": None}
    once, _changes = aws.edit(CONFIG, aws.CONFIG, "ci", settings)
    assert aws.edit(once, aws.CONFIG, "ci", settings) == (once, {})
    added, _changes = aws.edit(CONFIG, aws.CONFIG, "new", settings)
    assert aws.edit(added, aws.CONFIG, "new", settings) == (added, {})


def test_other_profiles_parse_exactly_as_before():
    new, _changes = aws.edit(CONFIG, aws.CONFIG, "ci", {"region": "eu-west-1", "output": "text"})
    before, after = parsed(CONFIG), parsed(new)
    assert after.pop("profile ci") == dict(before.pop("profile ci"), region="eu-west-1", output="text")
    assert after == before


def test_absent_removes_the_section_and_keeps_the_comment_of_the_next_one():
    new, changes = aws.edit(CONFIG, aws.CONFIG, "default", {}, state="absent")
    assert changes == {"[default]": "removed", "region": "removed", "output": "removed"}
    assert new == CONFIG.replace("[default]\nregion = us-east-1\noutput=json\n", "")
    new, changes = aws.edit(CREDENTIALS, aws.CREDENTIALS, "ci", {}, state="absent")
    assert new == CREDENTIALS.replace("\n[ci]\naws_access_key_id = AKIACIKEY00000000000\n"
                                      "aws_secret_access_key = ciSecretKey/00000000000000000000000000000\n", "")
    assert set(changes) == {"[ci]", "aws_access_key_id", "aws_secret_access_key"}
    assert aws.edit(new, aws.CREDENTIALS, "ci", {}, state="absent") == (new, {})


def test_duplicate_keys_collapse_into_one_and_duplicate_sections_are_refused():
    new, changes = aws.edit("[default]\nregion = a\nregion = b\n", aws.CONFIG, "default", {"region": "a"})
    assert (new, changes) == ("[default]\nregion = a\n", {"region": "updated"})
    with pytest.raises(aws.ProfileError, match=r"the section \[profile ci\] appears 2 times"):
        aws.edit("[profile ci]\n[profile ci]\n", aws.CONFIG, "ci", {"region": "a"})


@pytest.mark.parametrize("profile, message", [
    ("", "profile: must be a non-empty name"),
    ("a b", "must not hold white space"),
    ("a\nb", "must not hold white space, line breaks"),
    ("x]", "'[' or ']'"),
    ("[x", "'[' or ']'"),
])
def test_bad_profile_names(profile, message):
    with pytest.raises(aws.ProfileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        aws.check_profile("profile", profile)


@pytest.mark.parametrize("settings, message", [
    ({"region": "eu\nwest"}, "settings.region: must not hold a line break"),
    ({"region": "eu\u2028west"}, "settings.region: must not hold a line break"),
    ({"region": " eu"}, "settings.region: must not start or end with white space"),
    ({"region": ""}, "settings.region: must not be empty"),
    ({"region": ["a"]}, "settings.region: must be a string, a number or a boolean, not list"),
    ({"re gion": "a"}, "settings: 're gion' is not a key name"),
    ({"[x]": "a"}, "settings: '[x]' is not a key name"),
    ({"aws_secret_access_key": "a"}, "settings.aws_secret_access_key: keys go into the credentials file"),
    ({"region": "a", "Region": "b"}, "settings.Region: given twice"),
])
def test_bad_settings(settings, message):
    with pytest.raises(aws.ProfileError) as exc:
        aws.check_settings(settings)
    assert message in str(exc.value)


def test_settings_values_become_text():
    assert aws.check_settings({"Region": "a", "max_attempts": 3, "x": True, "gone": None}) == {
        "region": "a", "max_attempts": "3", "x": "true", "gone": None}


def test_bad_keys():
    with pytest.raises(aws.ProfileError, match="secret_access_key: must be a non-empty string without white space"):
        aws.check_keys({"access_key_id": "AKIA1", "secret_access_key": "a\nb"})
    with pytest.raises(aws.ProfileError, match="access_key_id and secret_access_key: give both or neither"):
        aws.check_keys({"secret_access_key": "s"})
    with pytest.raises(aws.ProfileError, match="session_token: needs access_key_id and secret_access_key"):
        aws.check_keys({"session_token": "t"})
    assert aws.check_keys({"access_key_id": "AKIA1", "secret_access_key": "s", "session_token": None}) == {
        "aws_access_key_id": "AKIA1", "aws_secret_access_key": "s"}


def test_masked_hides_every_key_value_in_every_profile_and_in_comments():
    text = CREDENTIALS + "# aws_session_token = oldSessionTok3n\n[x]\nregion = eu-west-1\ncredential_source = Environment\n"
    shown = aws.masked(text)
    for secret in ("AKIAOTHERKEY00000000", "otherSecretKey/", "AKIACIKEY", "ciSecretKey/", "oldSessionTok3n"):
        assert secret not in shown
    assert shown.count("********") == 5
    assert "region = eu-west-1\ncredential_source = Environment\n" in shown
    assert aws.secret_values(text) == {"AKIAOTHERKEY00000000", "otherSecretKey/0000000000000000000000000",
                                       "AKIACIKEY00000000000", "ciSecretKey/00000000000000000000000000000",
                                       "oldSessionTok3n"}
    assert aws.masked("[a]\nregion = x # s3cretValue\n", {"s3cretValue"}) == "[a]\nregion = x # ********\n"
