# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_config and runner_config run in process as root in a runner user's home where that user
(a real one, made with useradd) planted symlinks and hard links at every name the write path touches.

Each run either fails naming the path and the owner of the link, or writes without following what
was planted; either way no file or directory of root changes owner, mode or content, and no root
secret lands in a file of the user (docs/security.md).
"""

from __future__ import annotations

import json
import os
import pwd
import time

import planted_links
import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.runnerkit.gitlab_runner.plugins.modules import docker_config, runner_config

REGISTRY = {"registry": "reg.example.com", "username": "ci", "password": "ci-Pa55word"}
TOML = '[[runners]]\n  name = "shell"\n  url = "https://gitlab.example.com"\n  token = "glrt-user-token"\n' \
       '  executor = "shell"\n'


@pytest.fixture
def box():
    with planted_links.planted_user() as sandbox:
        yield sandbox


def run(module, args, capsys):
    with patch_module_args(dict(args, _ansible_check_mode=False, _ansible_diff=True)):
        with pytest.raises(SystemExit) as exc:
            module.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def docker_args(box):
    return {"path": os.path.join(box.docker, "config.json"), "owner": box.user, "private_directory": True,
            "registries": [REGISTRY]}


def runner_args(box):
    return {"path": os.path.join(box.home, ".gitlab-runner", "config.toml"), "owner": box.user, "backup": True,
            "global": {"concurrent": 2}}


def backup_names(path, seconds=4):
    now = time.time()
    return ["%s.%d.%s~" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime(now + s)))
            for s in range(seconds)]


# Each planting returns the path the refusal must name and the owner it must name
# (None: the run must succeed around what was planted).

def docker_directory_to_root_dir(box, path):
    os.rmdir(box.docker)
    box.plant_symlink(box.root_dir, box.docker)
    return box.docker, box.user


def file_dangling_into_root_dir(box, path):
    box.plant_symlink(os.path.join(box.root, "created-by-root.json"), path)
    return path, box.user


def file_to_root_file(box, path):
    box.plant_symlink(box.root_config_like(path), path)
    return path, box.user


def lock_to_root_file(box, path):
    lock = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".lock")
    box.plant_symlink(box.secret, lock)
    return lock, box.user


def temp_name_to_root_file(box, path):
    box.plant_symlink(box.secret, os.path.join(os.path.dirname(path), ".%s.aaaaaaaa.tmp" % os.path.basename(path)))
    return None


def backup_names_to_root_file(box, path):
    box.user_file(path, TOML)
    for name in backup_names(path):
        box.plant_symlink(box.secret, name)
    return path, box.user


def file_hard_linked_to_root_file(box, path):
    os.link(box.root_config_like(path), path)  # what fs.protected_hardlinks=0 lets the user do
    return path, "root"


def file_hard_linked_by_the_user(box, path):
    box.user_file(os.path.join(box.home, "mine"), "{}")
    box.plant_hard_link(os.path.join(box.home, "mine"), path)
    return path, box.user


def runner_directory_to_root_dir(box, path):
    box.plant_symlink(box.root_dir, os.path.dirname(path))
    return os.path.dirname(path), box.user


def user_directory(box, path):
    box.as_user("mkdir", "-p", os.path.dirname(path))


DOCKER_CASES = [docker_directory_to_root_dir, file_dangling_into_root_dir, file_to_root_file, lock_to_root_file,
                temp_name_to_root_file, file_hard_linked_to_root_file, file_hard_linked_by_the_user]
RUNNER_CASES = [runner_directory_to_root_dir, file_dangling_into_root_dir, file_to_root_file, lock_to_root_file,
                temp_name_to_root_file, backup_names_to_root_file, file_hard_linked_to_root_file]


def check_outcome(box, before, refusal, code, result):
    assert box.snapshot() == before, "a file or directory of root changed"
    assert box.files_of_user_holding(planted_links.ROOT_SECRET) == []
    assert box.files_of_user_holding(planted_links.ROOT_AUTH) == []
    if refusal is None:
        assert code == 0, result
        return
    path, owner = refusal
    assert code == 1, result
    assert path in result["msg"] and "owned by %s (uid %d)" % (owner, pwd.getpwnam(owner).pw_uid) in result["msg"], \
        result["msg"]
    assert result["msg"].endswith("the file was left unchanged")


@pytest.mark.parametrize("plant", DOCKER_CASES, ids=[case.__name__ for case in DOCKER_CASES])
def test_docker_config_writes_nothing_of_root(box, capsys, plant):
    args = docker_args(box)
    refusal = plant(box, args["path"])
    before = box.snapshot()
    code, result = run(docker_config, args, capsys)
    check_outcome(box, before, refusal, code, result)
    if refusal is None:
        written = os.stat(args["path"])
        assert (written.st_uid, written.st_nlink) == (box.uid, 1)
        assert json.load(open(args["path"]))["auths"].keys() == {"reg.example.com"}


@pytest.mark.parametrize("plant", RUNNER_CASES, ids=[case.__name__ for case in RUNNER_CASES])
def test_runner_config_writes_nothing_of_root(box, capsys, plant):
    args = runner_args(box)
    if plant is not runner_directory_to_root_dir:
        user_directory(box, args["path"])
    refusal = plant(box, args["path"])
    before = box.snapshot()
    code, result = run(runner_config, args, capsys)
    check_outcome(box, before, refusal, code, result)
    if refusal is None:
        assert os.stat(args["path"]).st_uid == box.uid and "concurrent = 2" in open(args["path"]).read()
