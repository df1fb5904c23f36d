# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark: runnerkit.gitlab_runner.site vs a per-key playbook, on sandbox hosts.

    python scripts/bench_fleet.py [--hosts 10] [--runners 5] [--write-docs] [--keep]
    python scripts/bench_fleet.py --smoke      # 2 hosts x 2 runners; fails unless both reruns are no-ops

Starts 2 x N sandbox hosts (tests/sandbox/sandbox.py: mount namespaces + sshd on 127.0.0.1), N for
each contender so that both have a real first run.  Both playbooks get the same variables (M docker
runners per host, global settings, one registry login in config.json):

* ``site``     ``runnerkit.gitlab_runner.site`` (credential_helpers, docker_config, runner roles);
* ``per-key``  scripts/bench_fleet/per_key.yml, written the way riemers/ansible-gitlab-runner does it:
  one ``lineinfile`` per key of every runner, section files assembled into config.toml.

Each runs twice (first run, then the no-op rerun) with the same forks.  Tasks per host are taken from
the PLAY RECAP: ok + skipped + failed (Ansible's ``ok`` already counts the ``changed`` tasks).
Markdown goes to stdout; ``--write-docs`` appends it to docs/performance.md.  Needs root and
openssh-server; ansible-playbook from the venv (``make bench-fleet``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "sandbox"))

import sandbox  # noqa: E402  pylint: disable=wrong-import-position

PER_KEY = os.path.join(HERE, "bench_fleet", "per_key.yml")
COLLECTIONS_DIR = os.path.join(REPO_ROOT, ".build", "collections")
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.M)
SITE_PLAYBOOK = "---\n- name: Site\n  ansible.builtin.import_playbook: runnerkit.gitlab_runner.site\n"


def bench_vars(runners):
    runner_list = []
    for index in range(runners):
        runner_list.append({
            "name": "bench-%02d" % index,
            "url": "https://gitlab.example.com",
            "token": "glrt-bench-token-%02d" % index,
            "executor": "docker",
            "settings": {"limit": 2},
            "environment": {"GIT_DEPTH": "10", "BENCH_INDEX": str(index)},
            "network_per_build": True,
            "docker": {"image": "registry.example.com/ci/build:%d" % index, "privileged": False,
                       "volumes": ["/cache"], "pull_policy": ["always", "if-not-present"]},
        })
    return {
        "runner_config_path": "/etc/gitlab-runner/config.toml",
        "runner_global": {"concurrent": 4, "check_interval": 3, "log_level": "info"},
        "runner_runners": runner_list,
        "docker_config_user": "root",
        "docker_config_registries": [{"registry": "registry.example.com", "username": "ci",
                                      "password": "bench-password"}],
        "credential_helpers_list": [],
    }


def run_playbook(workdir, inventory, playbook, forks):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_DIR, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_PIPELINING="True", ANSIBLE_RETRY_FILES_ENABLED="False")
    argv = [shutil.which("ansible-playbook") or "ansible-playbook", "-i", inventory, "-f", str(forks),
            "-e", "@" + os.path.join(workdir, "bench_vars.json"), playbook]
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False)
    elapsed = time.monotonic() - started
    hosts = {m.group("host"): {k: int(v) for k, v in m.groupdict().items() if k != "host"}
             for m in RECAP.finditer(proc.stdout)}
    return {"rc": proc.returncode, "seconds": elapsed, "hosts": hosts, "output": proc.stdout}


def summarize(run):
    per_host = [h["ok"] + h["skipped"] + h["failed"] for h in run["hosts"].values()]
    return {"tasks": max(per_host) if per_host else 0, "tasks_min": min(per_host) if per_host else 0,
            "changed": sum(h["changed"] for h in run["hosts"].values()), "seconds": run["seconds"]}


def markdown(args, results):
    site, key = results["site"], results["per-key"]
    header = "## Fleet benchmark: %d hosts x %d runners (%s)" % (args.hosts, args.runners, time.strftime("%Y-%m-%d"))
    how = ("`python scripts/bench_fleet.py --hosts %d --runners %d` on sandbox hosts (sshd on 127.0.0.1, forks %d). "
           "Tasks per host from the play recap (ok + skipped + failed)." % (args.hosts, args.runners, args.forks))
    lines = ["", header, "", how, "",
             "| Playbook | Tasks/host (first run) | Tasks/host (rerun) | First run | No-op rerun | Changed on rerun |",
             "|---|---:|---:|---:|---:|---:|"]
    labels = (("site", "`runnerkit.gitlab_runner.site`"), ("per-key", "per-key `lineinfile` (riemers style)"))
    for name, label in labels:
        first, rerun = results[name]
        row = (label, first["tasks"], rerun["tasks"], first["seconds"], rerun["seconds"], rerun["changed"])
        lines.append("| %s | %d | %d | %.1f s | %.1f s | %d |" % row)
    ratios = (key[0]["tasks"] / max(site[0]["tasks"], 1), key[1]["tasks"] / max(site[1]["tasks"], 1),
              key[0]["seconds"] / site[0]["seconds"], key[1]["seconds"] / site[1]["seconds"])
    lines += ["", "Per-key / site: tasks per host %.1fx (first run) and %.1fx (rerun); wall time %.1fx (first run), "
                  "%.1fx (no-op rerun)." % ratios, ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--runners", type=int, default=5)
    parser.add_argument("--forks", type=int, default=0, help="default: the number of hosts")
    parser.add_argument("--smoke", action="store_true", help="2 hosts x 2 runners, fail unless reruns change nothing")
    parser.add_argument("--write-docs", action="store_true", help="append the table to docs/performance.md")
    parser.add_argument("--root", default=None, help="sandbox root (default: a new directory under /tmp)")
    parser.add_argument("--keep", action="store_true", help="leave the hosts running (sandbox.py down --all --root ...)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.hosts, args.runners = 2, 2
    args.forks = args.forks or max(args.hosts, 5)
    if os.geteuid() != 0:
        sys.stderr.write("bench_fleet: sandbox hosts need root\n")
        return 2
    root = sandbox.check_root(args.root or tempfile.mkdtemp(prefix="runnerkit-bench-"))
    workdir = os.path.join(root, "work")
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "bench_vars.json"), "w", encoding="utf-8") as handle:
        json.dump(bench_vars(args.runners), handle, indent=1)
    with open(os.path.join(workdir, "site.yml"), "w", encoding="utf-8") as handle:
        handle.write(SITE_PLAYBOOK)
    contenders = {"site": os.path.join(workdir, "site.yml"), "per-key": PER_KEY}
    names = {name: ["bench-%s-%02d" % ("s" if name == "site" else "k", i) for i in range(args.hosts)]
             for name in contenders}
    results, failures = {}, []
    try:
        started = time.monotonic()
        for group in names.values():
            for host in group:
                sandbox.up(root, host)
        sys.stderr.write("bench_fleet: %d sandbox hosts up in %.1f s under %s\n"
                         % (2 * args.hosts, time.monotonic() - started, root))
        for name, playbook in contenders.items():
            inventory = os.path.join(workdir, "hosts-%s.ini" % name)
            with open(inventory, "w", encoding="utf-8") as handle:
                handle.write(sandbox.inventory(root, names[name]))
            runs = []
            for attempt in ("first run", "rerun"):
                run = run_playbook(workdir, inventory, playbook, args.forks)
                summary = summarize(run)
                sys.stderr.write("bench_fleet: %-7s %-9s rc=%d %.1f s, %d tasks/host, %d changed\n"
                                 % (name, attempt, run["rc"], run["seconds"], summary["tasks"], summary["changed"]))
                if run["rc"] != 0 or len(run["hosts"]) != args.hosts:
                    failures.append("%s %s: rc=%d\n%s" % (name, attempt, run["rc"], run["output"][-4000:]))
                runs.append(summary)
            if runs[1]["changed"]:
                failures.append("%s: the rerun changed %d task results (not a no-op)" % (name, runs[1]["changed"]))
            results[name] = runs
    finally:
        if not args.keep:
            for group in names.values():
                for host in group:
                    try:
                        sandbox.down(root, host)
                    except (sandbox.SandboxError, OSError) as exc:
                        failures.append(str(exc))
            shutil.rmtree(root, ignore_errors=True)
    if failures:
        sys.stderr.write("bench_fleet: FAILED\n%s\n" % "\n".join(failures))
        return 1
    text = markdown(args, results)
    sys.stdout.write(text + "\n")
    if args.write_docs:
        path = os.path.join(REPO_ROOT, "docs", "performance.md")
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
        sys.stderr.write("bench_fleet: appended to %s\n" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
