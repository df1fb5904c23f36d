# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate a large, realistic GitLab Runner ``config.toml`` for tests and benchmarks.

The output imitates what ``gitlab-runner`` itself writes (global keys, ``[session_server]``,
then one ``[[runners]]`` block per runner with 2-space indented sub-tables and 4-space
indented keys, unquoted token date-times, empty cache sub-tables), plus a few hand-written
comments so that comment-preserving editors have something to preserve.

All tokens, registry credentials and hostnames are fake. Output is deterministic for a
given ``(n, seed)`` pair.

Usage::

    python scripts/gen_config.py --runners 500 [--seed 0] > config.toml

or, from Python::

    from gen_config import generate
    text = generate(500, seed=0)
"""

import argparse
import base64
import datetime
import json
import random
import string
import sys

_TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"
_BASE_TIME = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)

_URLS = (
    "https://gitlab.example.com",
    "https://gitlab.example.com/",
    "https://gitlab.corp.example.net",
)
_IMAGES = (
    "alpine:3.20",
    "alpine:latest",
    "debian:bookworm-slim",
    "ubuntu:24.04",
    "python:3.12-slim",
    "node:20-alpine",
    "registry.example.com/ci/base:2024.06",
    "registry.example.com:5000/ci/builder:latest",
    "docker:27.1-cli",
)
_REGISTRIES = (
    "registry.example.com",
    "registry.example.com:5000",
    "harbor.example.net",
    "https://index.docker.io/v1/",
    "docker.io",
)
_USERS = ("ci-puller", "deploy-bot", "robot-ci", "svc-runner", "reader")
_SERVICES = (
    {"name": "postgres:16-alpine", "alias": "db"},
    {"name": "redis:7", "alias": "cache", "command": ["redis-server", "--appendonly", "no"]},
    {"name": "mysql:8.4", "alias": "mysql"},
    {"name": "docker:27.1-dind", "alias": "docker", "entrypoint": ["dockerd-entrypoint.sh"],
     "command": ["--tls=false"]},
    {"name": "registry.example.com/mocks/wiremock:3", "alias": "mock api"},
    {"name": "rabbitmq:3-management", "alias": "mq"},
)
_EXTRA_ENV = (
    "GIT_DEPTH=10",
    "GIT_STRATEGY=fetch",
    "DOCKER_DRIVER=overlay2",
    "FF_NETWORK_PER_BUILD=1",
    "HTTP_PROXY=http://proxy.example.com:3128",
    "NO_PROXY=localhost,127.0.0.1,.example.com",
    "TZ=UTC",
    "LANG=C.UTF-8",
)
_COMMENTS = (
    "# managed by the platform team -- see the CI runbook",
    "# do not change the name: dashboards use it",
    "# temporary runner for the migration, remove after Q3",
    "# registered with an authentication token (glrt-)",
)


def _toml_basic(value):
    """Quote ``value`` as a TOML basic string (ASCII-only input expected)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_str_array(values):
    return "[" + ", ".join(_toml_basic(v) for v in values) + "]"


def _toml_datetime(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _token(rng, length=20):
    return "glrt-" + "".join(rng.choice(_TOKEN_ALPHABET) for _index in range(length))


def _docker_auth_entry(rng):
    auths = {}
    for registry in rng.sample(_REGISTRIES, rng.randint(1, 2)):
        user = rng.choice(_USERS)
        secret = "fake-" + "".join(rng.choice(string.ascii_letters + string.digits) for _index in range(12))
        auths[registry] = {"auth": base64.b64encode(("%s:%s" % (user, secret)).encode()).decode()}
    payload = {"auths": auths}
    if rng.random() < 0.25:
        payload["credHelpers"] = {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}
    entry = "DOCKER_AUTH_CONFIG=" + json.dumps(payload, separators=(",", ":"))
    # Most people write the escaped basic-string form; some use a literal string.
    if rng.random() < 0.2:
        return "'" + entry + "'"
    return _toml_basic(entry)


def _runner_block(rng, index):
    lines = []
    name = "runner-%05d" % index
    if rng.random() < 0.12:
        lines.append(rng.choice(_COMMENTS))
    lines.append("[[runners]]")
    lines.append("  name = %s" % _toml_basic(name))
    lines.append("  url = %s" % _toml_basic(rng.choice(_URLS)))
    lines.append("  id = %d" % (40000 + index * 7 + rng.randint(0, 6)))
    lines.append("  token = %s" % _toml_basic(_token(rng)))
    obtained = _BASE_TIME + datetime.timedelta(seconds=rng.randint(0, 180 * 86400))
    lines.append("  token_obtained_at = %s" % _toml_datetime(obtained))
    if rng.random() < 0.3:
        expires = _toml_datetime(obtained + datetime.timedelta(days=90))
    else:
        expires = "0001-01-01T00:00:00Z"
    lines.append("  token_expires_at = %s" % expires)
    lines.append('  executor = "docker"')

    # 2-3 entries; about 40 % of the runners carry a DOCKER_AUTH_CONFIG among them.
    if rng.random() < 0.4:
        env = [_toml_basic(e) for e in rng.sample(_EXTRA_ENV, rng.randint(1, 2))]
        env.insert(rng.randint(0, len(env)), _docker_auth_entry(rng))
    else:
        env = [_toml_basic(e) for e in rng.sample(_EXTRA_ENV, rng.randint(2, 3))]
    lines.append("  environment = [" + ", ".join(env) + "]")

    if rng.random() < 0.15:
        lines.append("  [runners.feature_flags]")
        lines.append("    FF_NETWORK_PER_BUILD = %s" % rng.choice(("true", "false")))
    lines.append("  [runners.custom_build_dir]")
    lines.append("  [runners.cache]")
    lines.append("    MaxUploadedArchiveSize = 0")
    lines.append("    [runners.cache.s3]")
    lines.append("    [runners.cache.gcs]")
    lines.append("    [runners.cache.azure]")

    image = rng.choice(_IMAGES)
    privileged = "true" if image.startswith("docker:") else "false"
    lines.append("  [runners.docker]")
    lines.append("    tls_verify = false")
    if rng.random() < 0.1:
        lines.append("    image = %s # default job image" % _toml_basic(image))
    else:
        lines.append("    image = %s" % _toml_basic(image))
    lines.append("    privileged = %s" % privileged)
    lines.append("    disable_entrypoint_overwrite = false")
    lines.append("    oom_kill_disable = false")
    lines.append("    disable_cache = false")
    volumes = ["/cache"]
    if privileged == "true":
        volumes.append("/certs/client")
    lines.append("    volumes = %s" % _toml_str_array(volumes))
    lines.append("    shm_size = 0")
    lines.append("    network_mtu = 0")
    optional = [
        "    pull_policy = %s" % rng.choice(('"always"', '"if-not-present"', '["always", "if-not-present"]')),
        "    memory = %s" % _toml_basic(rng.choice(("2g", "4g", "8g"))),
        "    cpus = %s" % _toml_basic(rng.choice(("1", "2", "4"))),
        "    dns = [\"10.0.0.2\"]",
        "    services_limit = %d" % rng.randint(1, 4),
        "    wait_for_services_timeout = %d" % rng.choice((30, 60, 120)),
        "    helper_image_flavor = \"alpine\"",
        "    network_mode = \"bridge\"",
        "    cap_drop = [\"NET_RAW\"]",
        "    security_opt = [\"no-new-privileges:true\"]",
        "    allowed_pull_policies = [\"always\", \"if-not-present\"]",
        "    cpu_shares = %d" % rng.choice((512, 1024, 2048)),
        "    extra_hosts = [\"host.docker.internal:host-gateway\"]",
        "    oom_score_adjust = 0",
    ]
    # 9 keys above + 4..8 of these: 13..17 keys per [runners.docker]
    for line in rng.sample(optional, rng.randint(4, 8)):
        lines.append(line)

    for service in rng.sample(_SERVICES, rng.choice((0, 0, 1, 1, 2))):
        lines.append("    [[runners.docker.services]]")
        lines.append("      name = %s" % _toml_basic(service["name"]))
        lines.append("      alias = %s" % _toml_basic(service["alias"]))
        for key in ("entrypoint", "command"):
            if key in service:
                lines.append("      %s = %s" % (key, _toml_str_array(service[key])))
    return "\n".join(lines) + "\n"


def generate(n, seed=0):
    """Return a deterministic config.toml text with ``n`` runners named runner-00001..."""
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    parts = [
        "concurrent = %d\n"
        "check_interval = 0\n"
        "connection_max_age = \"15m0s\"\n"
        "shutdown_timeout = 0\n"
        "\n"
        "[session_server]\n"
        "  session_timeout = 1800\n" % max(1, min(n, 64))
    ]
    for index in range(1, n + 1):
        parts.append("\n" + _runner_block(rng, index))
    return "".join(parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runners", type=int, required=True, help="number of [[runners]] entries")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.runners < 0:
        parser.error("--runners must be >= 0")
    sys.stdout.write(generate(args.runners, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
