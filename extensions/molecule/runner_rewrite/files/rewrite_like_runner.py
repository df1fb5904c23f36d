# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rewrite a config.toml the way GitLab Runner saves it (molecule scenario runner_rewrite).

    rewrite_like_runner.py CONFIG_TOML COPY

GitLab Runner saves the whole file itself on register, unregister, reset-token and token rotation
(`SaveConfig`: its Go structs through the BurntSushi TOML encoder, written in place with
os.WriteFile).  Such a save drops every comment, writes keys in struct order (plain keys first, then
tables, two spaces of indentation per level), adds what the runner owns (`token_obtained_at`,
`token_expires_at`, `id`) and zero values of keys nobody set (`shutdown_timeout`,
`connection_max_age`, `[session_server]`, `tls_verify`, `shm_size`, the `[runners.cache]` tables ...).
This script does the same to CONFIG_TOML (in place: same inode, mode and owner), keeps a copy of
the result in COPY, and prints what it added as JSON.  Needs Python >= 3.11 (tomllib).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
import tomllib

GLOBAL_ORDER = ["listen_address", "concurrent", "check_interval", "log_level", "log_format", "user",
                "sentry_dsn", "connection_max_age", "shutdown_timeout", "session_server", "runners"]
RUNNER_ORDER = ["name", "limit", "output_limit", "request_concurrency", "url", "id", "token", "token_obtained_at",
                "token_expires_at", "tls-ca-file", "tls-cert-file", "tls-key-file", "executor", "builds_dir",
                "cache_dir", "clone_url", "environment", "shell", "custom_build_dir", "cache", "docker",
                "feature_flags"]
DOCKER_ORDER = ["host", "hostname", "image", "tls_verify", "privileged", "disable_entrypoint_overwrite",
                "oom_kill_disable", "disable_cache", "volumes", "shm_size", "network_mtu", "pull_policy",
                "services"]
ORDERS = {(): GLOBAL_ORDER, ("runners",): RUNNER_ORDER, ("runners", "docker"): DOCKER_ORDER}

ZERO_TIME = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)


def ordered(path, table):
    order = ORDERS.get(path, [])
    known = [key for key in order if key in table]
    return known + sorted((key for key in table if key not in order), reverse=True)


def is_table(value):
    return isinstance(value, dict)


def is_table_array(value):
    return isinstance(value, list) and value and all(isinstance(item, dict) for item in value)


def scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime.datetime):
        value = value.astimezone(datetime.timezone.utc) if value.tzinfo else value
        return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (value.year, value.month, value.day, value.hour, value.minute,
                                                   value.second)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(scalar(item) for item in value) + "]"
    raise TypeError("cannot write %r" % (value,))


def write_table(lines, path, table, depth):
    pad = "  " * depth
    keys = ordered(path, table)
    for key in keys:
        value = table[key]
        if not is_table(value) and not is_table_array(value):
            lines.append("%s%s = %s" % (pad, key, scalar(value)))
    for key in keys:
        value = table[key]
        sub_path = path + (key,)
        name = ".".join(sub_path)
        if is_table(value):
            lines.append("")
            lines.append("%s[%s]" % (pad, name))
            write_table(lines, sub_path, value, depth + 1)
        elif is_table_array(value):
            for item in value:
                lines.append("")
                lines.append("%s[[%s]]" % (pad, name))
                write_table(lines, sub_path, item, depth + 1)


def main(path, copy):
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    added = {"global": [], "runners": {}}
    for key, value in (("shutdown_timeout", 0), ("connection_max_age", "15m0s"),
                       ("session_server", {"session_timeout": 1800})):
        if key not in data:
            data[key] = value
            added["global"].append(key)
    for index, runner in enumerate(data.get("runners", [])):
        mine = added["runners"].setdefault(runner.get("name", str(index)), [])
        for key, value in (("id", 4000 + index), ("token_obtained_at", now), ("token_expires_at", ZERO_TIME)):
            if key not in runner:
                runner[key] = value
                mine.append(key)
        cache = runner.setdefault("cache", {})
        for key in ("s3", "gcs", "azure"):
            cache.setdefault(key, {})
        cache.setdefault("MaxUploadedArchiveSize", 0)
        docker = runner.get("docker")
        if docker is not None:
            for key, value in (("tls_verify", False), ("privileged", False), ("disable_entrypoint_overwrite", False),
                               ("oom_kill_disable", False), ("disable_cache", False), ("shm_size", 0),
                               ("network_mtu", 0)):
                if key not in docker:
                    docker[key] = value
                    mine.append("docker." + key)
    lines = []
    write_table(lines, (), data, 0)
    text = "\n".join(lines).lstrip("\n") + "\n"
    with open(path, "w", encoding="utf-8") as handle:  # in place, like os.WriteFile
        handle.write(text)
    os.makedirs(os.path.dirname(copy), mode=0o700, exist_ok=True)
    shutil.copyfile(path, copy)
    json.dump(added, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write("usage: rewrite_like_runner.py CONFIG_TOML COPY\n")
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
