# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The runner's host as the runner process sees it: users and homes, the systemd unit, its PATH, permissions.

parse_systemd_unit, runner_service, permitted and look_path are pure; the rest reads the host
(passwd, group, stat, unit files) and never writes.
"""

from __future__ import annotations

import glob
import grp
import os
import pwd
import re
import stat as stat_module

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _process as process

# What systemd's system manager gives a service without Environment=PATH (systemd.exec(5), "Environment
# variables": a fixed value; ":/sbin:/bin" is appended only by builds for an unmerged /usr, where /bin is not
# a link to /usr/bin - on merged hosts those directories are the same ones again).
SYSTEMD_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system",
             "/usr/lib/systemd/system")
RUNUSER = ("/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser")
READ, EXECUTE = 4, 1


class HostError(Exception):
    """The host lacks what was asked for (an unknown user)."""


# ---------------------------------------------------------------- the runner service (systemd)


def parse_systemd_unit(texts):
    """User=, Environment= and the ExecStart= arguments of a unit and its drop-ins (in order)."""
    unit = {"user": None, "environment": {}, "exec_start": None}
    for text in texts:
        section = None
        for raw in re.sub(r"\\\n", " ", text or "").splitlines():  # backslash-newline continues a line
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
                continue
            if section != "[Service]" or "=" not in line:
                continue
            key, value = [part.strip() for part in line.split("=", 1)]
            if key == "User":
                unit["user"] = value or None
            elif key == "Environment":
                for item in _unit_words(value):
                    name, sep, val = item.partition("=")
                    if sep:
                        unit["environment"][name] = val
            elif key == "ExecStart":
                unit["exec_start"] = _unit_words(value.lstrip("@-:+!")) if value else None
    return unit


def _unit_words(value):
    words, current, quote, escaped, started = [], [], None, False, False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote:
            if char == quote:
                quote = None
            else:
                current.append(char)
        elif char in "\"'":
            quote, started = char, True
        elif char.isspace():
            if current or started:
                words.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
    if current or started:
        words.append("".join(current))
    return words


def runner_service(unit):
    """What the unit tells about the runner process: user, --user, --config, HOME, PATH."""
    args = unit.get("exec_start") or []
    flags = {"user": ("--user", "-u"), "config": ("--config", "-c"), "working-directory": ("--working-directory", "-d")}
    options = {}
    index = 0
    while index < len(args):
        arg = args[index]
        for name, spellings in flags.items():
            for flag in spellings:
                if arg == flag and index + 1 < len(args):
                    options[name] = args[index + 1]
                    index += 1
                elif arg.startswith(flag + "="):
                    options[name] = arg[len(flag) + 1:]
        index += 1
    return {
        "process_user": unit.get("user") or "root",
        "shell_user": options.get("user"),
        "config": options.get("config"),
        "working_directory": options.get("working-directory"),
        "home": unit["environment"].get("HOME"),
        "path": unit["environment"].get("PATH"),
    }


def read_unit(service):
    """(parsed unit and drop-ins or None, unit name)."""
    texts = []
    name = service if service.endswith(".service") else service + ".service"
    for directory in UNIT_DIRS:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            texts.append(files.read_text(path)[0])
            break
    if not texts:
        return None, name
    for directory in UNIT_DIRS:
        for path in sorted(glob.glob(os.path.join(directory, name + ".d", "*.conf"))):
            texts.append(files.read_text(path)[0])
    return parse_systemd_unit(texts), name


# ---------------------------------------------------------------- file permissions (pure, from stat values)


def permitted(mode, owner_uid, owner_gid, uid, gids, bit):
    """Whether a user may read (bit 4) or execute (bit 1) a file with these stat values."""
    if uid == 0:
        return bit != 1 or bool(mode & 0o111)
    if owner_uid == uid:
        return bool(mode & (bit << 6))
    if owner_gid in gids:
        return bool(mode & (bit << 3))
    return bool(mode & bit)


def look_path(name, path_value, stat_of):
    """Go exec.LookPath over a PATH string: the first regular file with an execute bit, or None.

    `stat_of(path)` returns (is_regular_file, mode, uid, gid) or None. Relative PATH entries are
    refused by Go >= 1.19 (ErrDot) and skipped here.
    """
    for directory in (path_value or "").split(":"):
        if not directory.startswith("/"):
            continue
        candidate = directory.rstrip("/") + "/" + name
        found = stat_of(candidate)
        if found and found[0] and found[1] & 0o111:
            return candidate, found
    return None, None


# ---------------------------------------------------------------- users and files (reads the host)


def user_info(name):
    """{name, uid, gids, home} of a passwd user; HostError when there is none."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise HostError("user %r does not exist on this host" % name)
    gids = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
    return {"name": name, "uid": entry.pw_uid, "gids": gids, "home": entry.pw_dir}


def stat_of(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return stat_module.S_ISREG(st.st_mode), stat_module.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def may(user, path, bit):
    """Whether the user may read (4) or execute (1) path, its directories included (search bit)."""
    found = stat_of(path)
    if found is None:
        return False
    directory = os.path.dirname(path)
    while directory and directory != "/":
        try:
            st = os.stat(directory)
        except OSError:
            return False
        if not permitted(st.st_mode, st.st_uid, st.st_gid, user["uid"], user["gids"], EXECUTE):
            return False
        directory = os.path.dirname(directory)
    return permitted(found[1], found[2], found[3], user["uid"], user["gids"], bit)


def describe(path):
    """`ls -l` style mode and owner of a file, for messages: -rwx------ root:root."""
    try:
        st = os.stat(path)
    except OSError:
        return "cannot stat it"
    return "%s %s:%s" % (stat_module.filemode(st.st_mode), _name(pwd.getpwuid, st.st_uid),
                         _name(grp.getgrgid, st.st_gid))


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def read_home_config(user, home, explicit, problems):
    """(path, text) of the file the runner reads: config.json, else .dockercfg (like the runner)."""
    if explicit:
        text, _stat = files.read_text(explicit)
        return explicit, text
    candidates = [os.path.join(home, ".docker", "config.json"), os.path.join(home, ".dockercfg")]
    for path in candidates:
        if not os.path.exists(path):
            continue
        if not may(user, path, READ):
            problems.append("%s exists but user %s cannot read it, so the runner does not use it"
                            % (path, user["name"]))
            continue
        text, _stat = files.read_text(path)
        return path, text
    return candidates[0], None


def runuser_binary():
    """The runuser binary root can switch users with, or None."""
    return next((p for p in RUNUSER if os.access(p, os.X_OK)), None)


def can_run_as(user):
    """Whether this process can run a command as the user: it is that user, or root with runuser."""
    return user["uid"] == os.geteuid() or (os.geteuid() == 0 and runuser_binary() is not None)


def running_service_path(service, timeout):
    """(PATH of the running service's main process, its pid), or (None, None) without systemd, without such a
    running service, or when its environment cannot be read."""
    systemctl = next((p for p in ("/usr/bin/systemctl", "/bin/systemctl") if os.access(p, os.X_OK)), None)
    if not os.path.isdir("/run/systemd/system") or systemctl is None:
        return None, None
    try:
        rc, out = process.run_bounded([systemctl, "show", "-p", "MainPID", "--value", service], b"", timeout)
    except (process.ProcessTimeout, OSError):
        return None, None
    pid = out.decode("ascii", "replace").strip()
    if rc != 0 or not pid.isdigit() or pid == "0":
        return None, None
    try:
        with open("/proc/%s/environ" % pid, "rb") as handle:
            environ = handle.read().split(b"\0")
    except OSError:
        return None, None
    for item in environ:
        if item.startswith(b"PATH="):
            return item[5:].decode("utf-8", "replace"), pid
    return None, pid
