# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark: runnerkit.gitlab_runner.site against the ping floor and two role styles, on sandbox hosts.

    python scripts/bench_fleet.py [--hosts 2] [--runners 4] [--forks 5] [--attempts 3] [--write-docs] [--keep]
    python scripts/bench_fleet.py --smoke      # 2 hosts x 2 runners, one attempt; fails unless every rerun is a no-op

Every attempt starts fresh sandbox hosts (tests/sandbox/sandbox.py: mount namespaces + sshd on 127.0.0.1)
for each contender, so that each has a real first run, and runs them one after the other, side by side
in the same minute (the machine's load shifts; ratios of one attempt compare like with like):

* ``ping``      ``ansible -m ping`` on the site hosts, right before the site rerun: the floor, what Ansible
  cannot avoid (connect to each host and run one module there);
* ``site``      ``runnerkit.gitlab_runner.site``, first run then the no-op rerun;
* ``per-key``   scripts/bench_fleet/per_key.yml, written the way riemers/ansible-gitlab-runner does it by
  default: one ``lineinfile`` per key of every runner, section files assembled into config.toml;
* ``template``  scripts/bench_fleet/template.yml, written the way template-based roles do it (riemers'
  by_template mode): config.toml read and split into runner sections, runner-owned keys kept, config.toml
  and config.json rendered whole with ``ansible.builtin.template``.

All get the same variables (M docker runners per host, global settings, one registry login in
config.json), the same forks, pipelining, SSH ControlPersist (per benchmark directory; the masters end
with the hosts) and minimal facts where they gather any.  Seconds are wall time of the whole command,
best of the attempts (the median beside it); tasks per host are taken from the PLAY RECAP: ok + skipped +
failed (Ansible's ``ok`` already counts the ``changed`` tasks).  The profile of the site rerun (seconds per
task, scripts/bench_fleet/callback_plugins/bench_profile.py) says where they go.  Markdown goes to stdout;
``--write-docs`` appends it to docs/performance.md.  Needs root and openssh-server; ansible-playbook from the
venv (``make bench-fleet``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "sandbox"))

import sandbox  # noqa: E402  pylint: disable=wrong-import-position

BENCH_DIR = os.path.join(HERE, "bench_fleet")
COLLECTIONS_DIR = os.path.join(REPO_ROOT, ".build", "collections")
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.M)
PING_OK = re.compile(r"^(?P<host>\S+) \| SUCCESS => ", re.M)
SITE_PLAYBOOK = "---\n- name: Site\n  ansible.builtin.import_playbook: runnerkit.gitlab_runner.site\n"
PLAYBOOKS = {"site": None, "per-key": os.path.join(BENCH_DIR, "per_key.yml"),
             "template": os.path.join(BENCH_DIR, "template.yml")}
LABELS = {"ping": "floor: `ansible -m ping`", "site": "`runnerkit.gitlab_runner.site`",
          "per-key": "per-key `lineinfile` (riemers style)", "template": "whole-file `template` (template-role style)"}
# ansible's own default ssh_args, with the control socket in the benchmark directory instead of ~/.ansible/cp.
PERSIST_ARGS = "-C -o ControlMaster=auto -o ControlPersist=60s -o ControlPath=%s/%%C"


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


def persistent_inventory(root, names):
    """The sandbox inventory with SSH ControlPersist, as fleets run (the sandbox default turns it off)."""
    control_dir = os.path.join(root, "cp")
    os.makedirs(control_dir, exist_ok=True)
    text = sandbox.inventory(root, names)
    common = sandbox.SSH_COMMON_ARGS.replace(" -o ControlMaster=no -o ControlPersist=no", "")
    persisted = text.replace(sandbox.SSH_COMMON_ARGS, common).replace(sandbox.SSH_ARGS, PERSIST_ARGS % control_dir)
    if persisted.count(control_dir) != 1 or "ControlPersist=no" in persisted:
        raise sandbox.SandboxError("the sandbox inventory's SSH arguments changed; update bench_fleet.persistent_inventory")
    return persisted


def ansible_env(profile=None):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_DIR, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_PIPELINING="True", ANSIBLE_RETRY_FILES_ENABLED="False")
    if profile:
        env.update(ANSIBLE_CALLBACK_PLUGINS=os.path.join(BENCH_DIR, "callback_plugins"),
                   ANSIBLE_CALLBACKS_ENABLED="bench_profile", RUNNERKIT_BENCH_PROFILE=profile)
    return env


def timed(argv, env, cwd):
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    return proc, time.monotonic() - started


def run_playbook(workdir, inventory, playbook, forks, profile=None):
    argv = [shutil.which("ansible-playbook") or "ansible-playbook", "-i", inventory, "-f", str(forks),
            "-e", "@" + os.path.join(workdir, "bench_vars.json"), playbook]
    proc, elapsed = timed(argv, ansible_env(profile), workdir)
    hosts = {m.group("host"): {k: int(v) for k, v in m.groupdict().items() if k != "host"}
             for m in RECAP.finditer(proc.stdout)}
    return {"rc": proc.returncode, "seconds": elapsed, "hosts": hosts, "output": proc.stdout}


def run_ping(workdir, inventory, forks):
    argv = [shutil.which("ansible") or "ansible", "-i", inventory, "-f", str(forks), "gitlab_runners",
            "-m", "ansible.builtin.ping"]
    proc, elapsed = timed(argv, ansible_env(), workdir)
    hosts = {m.group("host"): {"ok": 1, "changed": 0, "unreachable": 0, "failed": 0, "skipped": 0}
             for m in PING_OK.finditer(proc.stdout)}
    return {"rc": proc.returncode, "seconds": elapsed, "hosts": hosts, "output": proc.stdout}


def summarize(run):
    per_host = [h["ok"] + h["skipped"] + h["failed"] for h in run["hosts"].values()]
    return {"tasks": max(per_host) if per_host else 0, "tasks_min": min(per_host) if per_host else 0,
            "changed": sum(h["changed"] for h in run["hosts"].values()), "seconds": run["seconds"]}


def best(runs, key="seconds"):
    return min(run[key] for run in runs)


def median(runs, key="seconds"):
    return statistics.median(run[key] for run in runs)


def seconds_cell(runs):
    if len(runs) == 1:
        return "%.2f s" % runs[0]["seconds"]
    return "%.2f s (%.2f s)" % (best(runs), median(runs))


def markdown(args, results, profile):
    attempts = len(results["site"]["rerun"])
    header = "## Fleet benchmark: %d hosts x %d runners, forks %d (%s)" % (
        args.hosts, args.runners, args.forks, time.strftime("%Y-%m-%d"))
    how = ("`python scripts/bench_fleet.py --hosts %d --runners %d --forks %d --attempts %d` on sandbox hosts (sshd "
           "on 127.0.0.1, pipelining, SSH ControlPersist, minimal facts where a playbook gathers any), %d attempt(s), "
           "each on fresh hosts, the contenders side by side. Seconds: best of the attempts (median); tasks per host "
           "from the play recap (ok + skipped + failed)."
           % (args.hosts, args.runners, args.forks, attempts, attempts))
    lines = ["", header, "", how, "",
             "| Playbook | Tasks/host (first run) | Tasks/host (rerun) | First run | No-op rerun | Changed on rerun "
             "| Rerun / floor |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    floor_best, floor_median = best(results["ping"]["rerun"]), median(results["ping"]["rerun"])
    for name in ("ping", "site", "per-key", "template"):
        first, rerun = results[name]["first"], results[name]["rerun"]
        lines.append("| %s | %d | %d | %s | %s | %d | %.1fx (%.1fx) |" % (
            LABELS[name], max(r["tasks"] for r in first), max(r["tasks"] for r in rerun), seconds_cell(first),
            seconds_cell(rerun), max(r["changed"] for r in rerun), best(rerun) / floor_best,
            median(rerun) / floor_median))
    site = results["site"]
    ratio = {name: (best(results[name]["rerun"]) / best(site["rerun"]),
                    median(results[name]["rerun"]) / median(site["rerun"]),
                    best(results[name]["first"]) / best(site["first"]),
                    median(results[name]["first"]) / median(site["first"])) for name in ("template", "per-key")}
    lines += ["",
              "Site no-op rerun: %.1fx the ping floor (median %.1fx). The whole-file template takes %.1fx as long as "
              "site on the rerun (median %.1fx) and %.1fx on the first run (median %.1fx); per-key %.1fx on the rerun "
              "(median %.1fx) and %.1fx on the first run (median %.1fx)."
              % ((best(site["rerun"]) / floor_best, median(site["rerun"]) / floor_median) + ratio["template"]
                 + ratio["per-key"]), ""]
    if profile:
        lines += ["Where the site rerun's seconds go (the fastest attempt, both hosts per task; the rest of the wall "
                  "time is starting ansible-playbook and loading the play):", "",
                  "| Task | Action | Per host | Seconds |", "|---|---|---|---:|"]
        for task in profile["tasks"]:
            outcome = ", ".join("%s %d" % (k, v) for k, v in sorted(task["hosts"].items()))
            name = task["name"].replace("|", "\\|")
            lines.append("| %s | `%s` | %s | %.3f |" % (name, task["action"], outcome, task["seconds"]))
        together = sum(task["seconds"] for task in profile["tasks"])
        lines += ["", "Tasks together: %.2f s of %.2f s." % (together, profile["wall"]), ""]
    return "\n".join(lines)


def fresh_hosts(root, prefix, count):
    names = ["%s-%02d" % (prefix, i) for i in range(count)]
    for host in names:
        sandbox.up(root, host)
    return names


def one_attempt(args, root, workdir, attempt, results, failures):
    """Fresh hosts for each contender, then first run and rerun of each, one after the other."""
    hosts = {}
    try:
        for name in PLAYBOOKS:
            hosts[name] = fresh_hosts(root, "b%d%s" % (attempt, name[0]), args.hosts)
        for name, playbook in PLAYBOOKS.items():
            inventory = os.path.join(workdir, "hosts-%d-%s.ini" % (attempt, name))
            with open(inventory, "w", encoding="utf-8") as handle:
                handle.write(persistent_inventory(root, hosts[name]))
            for phase in ("first", "rerun"):
                if name == "site" and phase == "rerun":  # the floor right before the run it is compared with
                    ping = summarize(run_ping(workdir, inventory, args.forks))
                    results["ping"]["first"].append(ping)
                    results["ping"]["rerun"].append(ping)
                profile = os.path.join(workdir, "profile-%d-%s-%s.json" % (attempt, name, phase))
                run = run_playbook(workdir, inventory, playbook or os.path.join(workdir, "site.yml"), args.forks,
                                   profile if name == "site" else None)
                summary = summarize(run)
                summary["profile"] = profile if name == "site" else None
                sys.stderr.write("bench_fleet: attempt %d %-8s %-5s rc=%d %.2f s, %d tasks/host, %d changed\n"
                                 % (attempt, name, phase, run["rc"], run["seconds"], summary["tasks"],
                                    summary["changed"]))
                if run["rc"] != 0 or len(run["hosts"]) != args.hosts:
                    failures.append("%s %s: rc=%d\n%s" % (name, phase, run["rc"], run["output"][-4000:]))
                if phase == "rerun" and summary["changed"]:
                    failures.append("%s: the rerun changed %d task results (not a no-op)" % (name, summary["changed"]))
                results[name][phase].append(summary)
        floor = results["ping"]["rerun"][-1]
        sys.stderr.write("bench_fleet: attempt %d ping floor %.2f s\n" % (attempt, floor["seconds"]))
    finally:
        if not args.keep:
            for group in hosts.values():
                for host in group:
                    try:
                        sandbox.down(root, host)
                    except (sandbox.SandboxError, OSError) as exc:
                        failures.append(str(exc))


def site_profile(results):
    fastest = min(results["site"]["rerun"], key=lambda run: run["seconds"])
    try:
        with open(fastest["profile"], encoding="utf-8") as handle:
            profile = json.load(handle)
    except (OSError, ValueError, TypeError):
        return None
    profile["wall"] = fastest["seconds"]
    return profile


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--runners", type=int, default=4)
    parser.add_argument("--forks", type=int, default=5)
    parser.add_argument("--attempts", type=int, default=3, help="fresh hosts and runs per contender (best of them)")
    parser.add_argument("--smoke", action="store_true",
                        help="2 hosts x 2 runners, one attempt; fail unless reruns change nothing")
    parser.add_argument("--write-docs", action="store_true", help="append the tables to docs/performance.md")
    parser.add_argument("--root", default=None, help="sandbox root (default: a new directory under /tmp)")
    parser.add_argument("--keep", action="store_true", help="leave the hosts running (sandbox.py down --all --root ...)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.hosts, args.runners, args.attempts = 2, 2, 1
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
    results = {name: {"first": [], "rerun": []} for name in ("ping",) + tuple(PLAYBOOKS)}
    failures = []
    sys.stderr.write("bench_fleet: %d attempt(s) of %d hosts x %d runners, forks %d, under %s (load %s)\n"
                     % (args.attempts, args.hosts, args.runners, args.forks, root,
                        " ".join("%.2f" % load for load in os.getloadavg())))
    try:
        for attempt in range(1, args.attempts + 1):
            one_attempt(args, root, workdir, attempt, results, failures)
            if failures:
                break
        profile = None if failures else site_profile(results)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    sys.stderr.write("bench_fleet: load after the runs %s\n" % " ".join("%.2f" % load for load in os.getloadavg()))
    if failures:
        sys.stderr.write("bench_fleet: FAILED\n%s\n" % "\n".join(failures))
        return 1
    text = markdown(args, results, profile)
    sys.stdout.write(text + "\n")
    if args.write_docs:
        path = os.path.join(REPO_ROOT, "docs", "performance.md")
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
        sys.stderr.write("bench_fleet: appended to %s\n" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
