# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""TOML types of the config.toml keys the runner decodes (reference §2), and a checker.

The runner decodes config.toml into typed Go structs; one mistyped value makes it reject the
whole file, so every value this collection writes is checked here first.
"""

from __future__ import annotations

import datetime
import re

STR, INT, BOOL, DUR, DT = "string", "integer", "boolean", "duration string", "date-time"
STR_LIST, STR_MAP, BOOL_MAP = "list of strings", "table of strings", "table of booleans"
STR_OR_LIST = "string or list of strings"
STR_LIST_MAP = "table of lists of strings"
SERVICES = "list of service tables"

SERVICE = {
    "name": STR, "alias": STR, "command": STR_LIST, "entrypoint": STR_LIST,
    "environment": STR_LIST, "suspend_data_path": STR,
}

DOCKER = {
    "host": STR, "tls_cert_path": STR, "tls_verify": BOOL, "hostname": STR, "image": STR, "runtime": STR,
    "memory": STR, "memory_swap": STR, "memory_reservation": STR, "cgroup_parent": STR,
    "cpuset_cpus": STR, "cpuset_mems": STR, "cpus": STR, "cpu_shares": INT,
    "dns": STR_LIST, "dns_search": STR_LIST, "privileged": BOOL, "services_privileged": BOOL,
    "disable_entrypoint_overwrite": BOOL, "user": STR, "allowed_users": STR_LIST,
    "group_add": STR_LIST, "cap_add": STR_LIST, "cap_drop": STR_LIST, "security_opt": STR_LIST,
    "services_security_opt": STR_LIST, "devices": STR_LIST, "device_cgroup_rules": STR_LIST,
    "userns_mode": STR, "oom_kill_disable": BOOL, "oom_score_adjust": INT, "gpus": STR, "service_gpus": STR,
    "services_devices": STR_LIST_MAP, "disable_cache": BOOL, "volumes": STR_LIST, "volume_keep": BOOL,
    "volume_driver": STR, "volume_driver_ops": STR_MAP, "cache_dir": STR, "extra_hosts": STR_LIST,
    "volumes_from": STR_LIST, "links": STR_LIST, "network_mode": STR, "pid_mode": STR, "ipcmode": STR,
    "mac_address": STR, "services": SERVICES, "services_limit": INT, "service_memory": STR,
    "service_memory_swap": STR, "service_memory_reservation": STR, "service_cpuset_cpus": STR,
    "service_cpus": STR, "service_cgroup_parent": STR, "service_slot_cgroup_template": STR,
    "service_cpu_shares": INT, "wait_for_services_timeout": INT, "allowed_images": STR_LIST,
    "allowed_privileged_images": STR_LIST, "allowed_privileged_services": STR_LIST,
    "allowed_services": STR_LIST, "allowed_pull_policies": STR_LIST, "pull_policy": STR_OR_LIST,
    "isolation": STR, "shm_size": INT, "tmpfs": STR_MAP, "services_tmpfs": STR_MAP, "sysctls": STR_MAP,
    "ulimit": STR_MAP, "container_labels": STR_MAP, "log_options": STR_MAP, "helper_image": STR,
    "helper_image_flavor": STR, "enable_ipv6": BOOL, "network_mtu": INT,
}

CACHE = {
    "Type": STR, "Path": STR, "Shared": BOOL, "MaxUploadedArchiveSize": INT,
    "s3": {
        "ServerAddress": STR, "AccessKey": STR, "SecretKey": STR, "SessionToken": STR, "BucketName": STR,
        "BucketLocation": STR, "Insecure": BOOL, "AuthenticationType": STR, "ServerSideEncryption": STR,
        "ServerSideEncryptionKeyID": STR, "DualStack": BOOL, "PathStyle": BOOL, "Accelerate": BOOL,
        "RoleARN": STR, "UploadRoleARN": STR, "AssumeRoleMaxConcurrency": INT,
        "DisableAssumeRoleCredentialsCaching": BOOL,
    },
    "gcs": {"AccessID": STR, "PrivateKey": STR, "CredentialsFile": STR, "BucketName": STR, "UniverseDomain": STR},
    "azure": {"AccountName": STR, "AccountKey": STR, "ContainerName": STR, "StorageDomain": STR},
}

# Tables the runner knows but whose keys this collection does not type-check (passed through).
OPEN = None

RUNNER = {
    "name": STR, "url": STR, "id": INT, "token": STR, "token_obtained_at": DT, "token_expires_at": DT,
    "tls-ca-file": STR, "tls-cert-file": STR, "tls-key-file": STR, "limit": INT, "output_limit": INT,
    "request_concurrency": INT, "strict_check_interval": BOOL, "unhealthy_requests_limit": INT,
    "unhealthy_interval": DUR, "job_status_final_update_retry_limit": INT, "executor": STR, "shell": STR,
    "builds_dir": STR, "cache_dir": STR, "clone_url": STR, "environment": STR_LIST,
    "pre_get_sources_script": STR, "post_get_sources_script": STR, "pre_build_script": STR,
    "post_build_script": STR, "prepare_timeout": DUR, "get_sources_timeout": DUR, "debug_trace_disabled": BOOL,
    "safe_directory_checkout": BOOL, "clean_git_config": BOOL, "proxy_exec": BOOL, "use_slot_cgroups": BOOL,
    "slot_cgroup_template": STR, "step_runner_image": STR, "labels": STR_MAP, "feature_flags": BOOL_MAP,
    "custom_build_dir": {"enabled": BOOL}, "cache": CACHE,
    "artifact": {"upload_timeout": DUR, "response_header_timeout": DUR},
    "docker": DOCKER,
    "referees": OPEN, "monitoring": OPEN, "experimental": OPEN, "ssh": OPEN, "parallels": OPEN,
    "virtualbox": OPEN, "machine": OPEN, "kubernetes": OPEN, "custom": OPEN, "autoscaler": OPEN, "instance": OPEN,
}

GLOBAL = {
    "concurrent": INT, "check_interval": INT, "log_level": STR, "log_format": STR, "listen_address": STR,
    "shutdown_timeout": INT, "sentry_dsn": STR, "connection_max_age": DUR, "user": STR,
    "session_server": {"listen_address": STR, "advertise_address": STR, "session_timeout": INT},
    "labels": STR_MAP, "machine": OPEN, "experimental": OPEN,
}

# Keys the runner itself writes and rotates: never rewritten unless the user sets them.
RUNNER_OWNED = ("id", "token", "token_obtained_at", "token_expires_at")

# Go time.ParseDuration syntax: "15m", "1h30m", "1.5s", "-2m", "0".
GO_DURATION = re.compile(r"^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_list(value):
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_map_of(value, check):
    return isinstance(value, dict) and all(isinstance(k, str) and check(v) for k, v in value.items())


CHECKS = {
    STR: lambda v: isinstance(v, str),
    INT: _is_int,
    BOOL: lambda v: isinstance(v, bool),
    DUR: lambda v: isinstance(v, str) and bool(GO_DURATION.match(v)),
    DT: lambda v: isinstance(v, (datetime.datetime, datetime.date)) or isinstance(v, str),
    STR_LIST: _is_str_list,
    STR_MAP: lambda v: _is_map_of(v, lambda x: isinstance(x, str)),
    BOOL_MAP: lambda v: _is_map_of(v, lambda x: isinstance(x, bool)),
    STR_LIST_MAP: lambda v: _is_map_of(v, _is_str_list),
    STR_OR_LIST: lambda v: isinstance(v, str) or _is_str_list(v),
}


# Tables of one value type: an entry of the wrong type is reported by its own name.
MAP_ENTRY = {STR_MAP: STR, BOOL_MAP: BOOL, STR_LIST_MAP: STR_LIST}


class SchemaError(ValueError):
    """A value the runner would refuse to decode; the message names option, value and type."""


def _describe(value):
    if isinstance(value, bool):
        return "boolean %s" % ("true" if value else "false")
    if _is_int(value):
        return "integer %d" % value
    if isinstance(value, str):
        return "string %r" % value
    if isinstance(value, list):
        return "list %r" % (value,)
    if isinstance(value, dict):
        return "mapping"
    return "%s %r" % (type(value).__name__, value)


def canonical_key(key, schema):
    """The canonical spelling of `key` when it differs only in case (the runner matches case-insensitively)."""
    if not isinstance(schema, dict) or key in schema:
        return None
    for known in schema:
        if known.lower() == key.lower():
            return known
    return None


def check_value(option, value, kind):
    """Raise SchemaError unless `value` has TOML type `kind`; return warnings of nested tables.

    None (remove the key) is always fine.
    """
    if value is None or kind is OPEN:
        return []
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            raise SchemaError("%s: got %s, expected a table (mapping)" % (option, _describe(value)))
        return check_table(option, value, kind)
    if kind == SERVICES:
        check_services(option, value)
        return []
    if kind in MAP_ENTRY and isinstance(value, dict):
        for key, entry in value.items():
            check_value("%s.%s" % (option, key), entry, MAP_ENTRY[kind])
        return []
    if not CHECKS[kind](value):
        hint = " such as \"15m\" or \"1h30m\"" if kind == DUR else ""
        raise SchemaError("%s: got %s, expected a %s%s" % (option, _describe(value), kind, hint))
    return []


def check_table(option, table, schema):
    """Type-check the known keys of `table`; return warnings for keys the runner will ignore."""
    warnings = []
    for key, value in table.items():
        path = "%s.%s" % (option, key)
        canonical = canonical_key(key, schema)
        if canonical:
            raise SchemaError("%s: the runner spells this key '%s'; use that spelling" % (path, canonical))
        if isinstance(schema, dict) and key in schema:
            warnings.extend(check_value(path, value, schema[key]))
        elif isinstance(schema, dict):
            warnings.append("%s is not a key GitLab Runner knows; it will be ignored by the runner" % path)
    return warnings


def check_services(option, services):
    if not isinstance(services, list):
        raise SchemaError("%s: got %s, expected a list of mappings with name and alias" % (option, _describe(services)))
    for index, service in enumerate(services):
        path = "%s[%d]" % (option, index)
        if not isinstance(service, dict):
            raise SchemaError("%s: got %s, expected a mapping with name and alias" % (path, _describe(service)))
        if not service.get("name"):
            raise SchemaError("%s: every service needs a name (the image to run)" % path)
        unknown = sorted(set(service) - set(SERVICE))
        if unknown:
            raise SchemaError("%s: unknown service keys %s (known: %s)" % (path, ", ".join(unknown), ", ".join(SERVICE)))
        for key, value in service.items():
            check_value("%s.%s" % (path, key), value, SERVICE[key])
