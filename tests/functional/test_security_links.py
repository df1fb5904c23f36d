# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_config and runner_config through ansible-playbook, as root, in the home of a real user
(useradd) who planted symlinks and hard links at the directory, file, lock and temp names.

One playbook run covers every planting (each task in its own directory, ignore_errors): refused
tasks fail naming the path and the owner, the others write without following what was planted, a
root-owned symlink of the admin is still followed, a stale temp file is removed, and afterwards no
file or directory of root in the sandbox changed owner, mode or content (docs/security.md).
"""

from __future__ import annotations

import json
import os
import stat

import planted_links
import pytest

REGISTRY = {"registry": "reg.example.com", "username": "ci", "password": "ci-Pa55word"}


@pytest.fixture
def box():
    with planted_links.planted_user() as sandbox:
        yield sandbox


def docker_task(name, path, owner):
    return {"name": name, "ignore_errors": True,
            "runnerkit.gitlab_runner.docker_config": {"path": path, "owner": owner, "private_directory": True,
                                                      "registries": [REGISTRY]}}


def runner_task(name, path, owner):
    return {"name": name, "ignore_errors": True,
            "runnerkit.gitlab_runner.runner_config": {"path": path, "owner": owner, "global": {"concurrent": 3}}}


def user_dir(box, name):
    """A directory of the test user in its home, made by the user."""
    path = os.path.join(box.home, name)
    box.as_user("mkdir", "-m", "0700", "-p", path)
    return path


def plant_everything(box):
    """Plant one case per directory; return (tasks, {task: (path the refusal names, owner) or None})."""
    tasks, expect = [], {}

    docker = os.path.join(user_dir(box, "a"), ".docker")
    box.plant_symlink(box.root_dir, docker)
    tasks.append(docker_task("docker directory is a symlink", os.path.join(docker, "config.json"), box.user))
    expect["docker directory is a symlink"] = (docker, box.user)

    docker = user_dir(box, "b/.docker")
    box.plant_symlink(box.secret, os.path.join(docker, ".config.json.lock"))
    tasks.append(docker_task("lock is a symlink", os.path.join(docker, "config.json"), box.user))
    expect["lock is a symlink"] = (os.path.join(docker, ".config.json.lock"), box.user)

    docker = user_dir(box, "c/.docker")
    box.plant_symlink(os.path.join(box.root, "made-by-root.json"), os.path.join(docker, "config.json"))
    tasks.append(docker_task("file is a dangling symlink", os.path.join(docker, "config.json"), box.user))
    expect["file is a dangling symlink"] = (os.path.join(docker, "config.json"), box.user)

    runner = user_dir(box, "d")
    box.plant_symlink(box.root_toml, os.path.join(runner, "config.toml"))
    tasks.append(runner_task("config.toml is a symlink to root's", os.path.join(runner, "config.toml"), box.user))
    expect["config.toml is a symlink to root's"] = (os.path.join(runner, "config.toml"), box.user)

    runner = user_dir(box, "e")
    os.link(box.root_toml, os.path.join(runner, "config.toml"))  # what fs.protected_hardlinks=0 lets the user do
    tasks.append(runner_task("config.toml is a hard link", os.path.join(runner, "config.toml"), box.user))
    expect["config.toml is a hard link"] = (os.path.join(runner, "config.toml"), "root")

    docker = user_dir(box, "f/.docker")
    box.plant_symlink(box.secret, os.path.join(docker, ".config.json.aaaaaaaa.tmp"))
    box.user_file(os.path.join(docker, ".config.json.st4le000.tmp"), '{"auths": {}}')  # left by a killed run
    tasks.append(docker_task("temp names planted", os.path.join(docker, "config.json"), box.user))
    expect["temp names planted"] = None
    return tasks, expect


def test_playbook_run_as_root_changes_nothing_of_root(box, run_playbook):
    tasks, expect = plant_everything(box)
    admin_target = os.path.join(box.base, "srv", "config.toml")  # an admin's own link: still followed
    os.makedirs(os.path.dirname(admin_target), 0o755)
    os.mkdir(os.path.join(box.base, "etc"), 0o755)
    admin_link = os.path.join(box.base, "etc", "config.toml")
    os.symlink(admin_target, admin_link)
    tasks.append(runner_task("root's symlink", admin_link, None))
    expect["root's symlink"] = None
    before = box.snapshot()

    result = run_playbook(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]), verbosity=1)

    assert box.snapshot() == before, "a file or directory of root changed"
    assert box.files_of_user_holding(planted_links.ROOT_SECRET) == []
    assert box.files_of_user_holding(planted_links.ROOT_AUTH) == []
    for task, refusal in expect.items():
        if refusal is None:
            assert result.status(task) == "changed", result.result(task)
            continue
        path, owner = refusal
        message = result.result(task)["msg"]
        assert result.status(task) == "failed", message
        assert path in message and "owned by %s (uid " % owner in message, message
        assert "refusing to" in message and message.endswith("the file was left unchanged"), message
    docker = os.path.join(box.home, "f", ".docker")
    assert sorted(os.listdir(docker)) == [".config.json.aaaaaaaa.tmp", ".config.json.lock", "config.json"]
    written = os.stat(os.path.join(docker, "config.json"))
    assert (written.st_uid, stat.S_IMODE(written.st_mode)) == (box.uid, 0o600)
    lock = os.stat(os.path.join(docker, ".config.json.lock"))
    assert (lock.st_uid, lock.st_gid) == (box.uid, box.gid)
    assert os.path.islink(admin_link) and "concurrent = 3" in open(admin_target).read()


# The docker_config role in mode files, for a user who planted a link in ~/.aws: before the role used
# the aws_profile module, ansible.builtin.file and template followed these links as root.
AWS_ROLE_PLAY = [{"hosts": "localhost", "gather_facts": False, "roles": ["runnerkit.gitlab_runner.docker_config"]}]


def aws_dir_is_a_symlink_to_a_root_directory(box):
    aws = os.path.join(box.home, ".aws")
    box.plant_symlink(box.root_dir, aws)
    return aws, box.user


def aws_credentials_is_a_symlink_to_a_root_file(box):
    aws = os.path.join(box.home, ".aws")
    box.as_user("mkdir", "-m", "0700", aws)
    box.plant_symlink(box.secret, os.path.join(aws, "credentials"))
    return os.path.join(aws, "credentials"), box.user


AWS_PLANTINGS = [aws_dir_is_a_symlink_to_a_root_directory, aws_credentials_is_a_symlink_to_a_root_file]


@pytest.mark.parametrize("plant", AWS_PLANTINGS, ids=[p.__name__ for p in AWS_PLANTINGS])
def test_docker_config_role_aws_files_refuses_planted_links(box, run_playbook, plant):
    path, owner = plant(box)
    before = box.snapshot()
    aws_vars = {"docker_config_user": box.user, "docker_config_aws_mode": "files",
                "docker_config_aws_region": "eu-west-1", "docker_config_aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
                "docker_config_aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}

    result = run_playbook(json.dumps(AWS_ROLE_PLAY), aws_vars, verbosity=1)

    assert box.snapshot() == before, "a file or directory of root changed"
    assert box.files_of_user_holding(planted_links.ROOT_SECRET) == []
    failed = [record for record in result.results if record["status"] == "failed"]
    assert result.rc != 0 and len(failed) == 1, result.output
    assert failed[0]["action"] == "runnerkit.gitlab_runner.aws_profile", failed[0]
    message = failed[0]["result"]["msg"]
    assert path in message and "owned by %s (uid " % owner in message, message
    assert "refusing to" in message and message.endswith("the file was left unchanged"), message
    assert "wJalrXUtnFEMI" not in result.output
