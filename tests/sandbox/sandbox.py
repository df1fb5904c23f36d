# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sandbox hosts for tests: mount namespaces, overlays and sshd on 127.0.0.1, no container engine.

A host NAME is a directory ROOT/NAME with an ``up/`` and ``work/`` folder for each of ``etc home root
usr opt var``, and an ``unshare --mount --uts --fork`` process that mounts an overlay on each of
those directories (the machine's directory below, the host's ``up/`` above), sets the hostname, puts
the test public key into ``/root/.ssh/authorized_keys`` and runs ``sshd -D`` on 127.0.0.1:PORT.
What one host writes under those directories (users, packages, /usr/local/bin, config files) is seen
neither by the machine nor by the other hosts.  ``/tmp``, ``/run``, ``/proc`` and the network are
shared with the machine.  Recipe: /work/shared/reference/sandbox-fleet.md.

    sandbox.py [--root DIR] up NAME...      start hosts (each on a free port); prints JSON
    sandbox.py [--root DIR] down NAME...    stop hosts and delete their directories
    sandbox.py [--root DIR] down --all      the same for every host under DIR
    sandbox.py [--root DIR] status          JSON list of hosts and whether they answer
    sandbox.py [--root DIR] inventory [NAME...]   an INI inventory (group gitlab_runners)

The inventory reaches the hosts as root over SSH with ``ControlPersist=no`` (an SSH master left
behind would keep a stopped host's namespace alive) and sets ``ansible_become=false`` (the hosts have
no sudo, and the connection is root already).

ROOT defaults to ``$RUNNERKIT_SANDBOX_ROOT`` or ``<repository>/.build/sandbox``; it must not lie
under one of the overlaid directories.  The key pair ``ROOT/id_ed25519`` is made on first use.
Needs root, ``unshare`` (util-linux), ``sshd`` (Debian package openssh-server) and ``ssh-keygen``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

OVERLAID = ("etc", "home", "root", "usr", "opt", "var")
LOOPBACK = "127.0.0.1"
SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# No ControlPersist: a master connection left behind would keep a stopped host's namespace alive.
SSH_COMMON_ARGS = ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "
                   "-o ControlMaster=no -o ControlPersist=no -o IdentitiesOnly=yes")

# Replaces ansible's default ssh_args, whose ControlPersist=60s would win (ssh takes the first value).
SSH_ARGS = "-C -o ControlMaster=no -o ControlPersist=no"

# Runs inside the new mount namespace: overlays, hostname, key, then sshd in the foreground.
INNER = r"""
set -eu
base=$1 name=$2 port=$3 pubkey=$4
for d in __OVERLAID__; do
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$base/$d/up,workdir=$base/$d/work" "/$d"
done
hostname "$name"
mkdir -p /run/sshd
install -d -m 0700 /root/.ssh
install -m 0600 "$pubkey" /root/.ssh/authorized_keys
exec __SSHD__ -D -e -p "$port" -o ListenAddress=__LOOPBACK__ -o PermitRootLogin=prohibit-password \
    -o PidFile="/run/runnerkit-sshd-$name.pid" -o StrictModes=no -o UseDNS=no -o MaxStartups=64:30:128 \
    -o AuthorizedKeysFile=/root/.ssh/authorized_keys -o PasswordAuthentication=no
""".replace("__OVERLAID__", " ".join(OVERLAID)).replace("__SSHD__", SSHD).replace("__LOOPBACK__", LOOPBACK)


class SandboxError(RuntimeError):
    pass


def default_root():
    return os.environ.get("RUNNERKIT_SANDBOX_ROOT") or os.path.join(REPO_ROOT, ".build", "sandbox")


def check_root(root):
    real = os.path.realpath(root)
    for name in OVERLAID:
        if real == "/" + name or real.startswith("/" + name + "/"):
            raise SandboxError("sandbox root %s lies under /%s, which every host overlays; choose another "
                               "(--root or RUNNERKIT_SANDBOX_ROOT)" % (root, name))
    return real


def ensure_key(root):
    key = os.path.join(root, "id_ed25519")
    if not os.path.exists(key):
        os.makedirs(root, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "runnerkit-sandbox", "-f", key],
                       check=True, stdin=subprocess.DEVNULL)
    return key


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def banner(port, timeout=1.0):
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def host_dir(root, name):
    if not name or "/" in name or name.startswith("."):
        raise SandboxError("bad host name %r" % name)
    return os.path.join(root, name)


def read_state(root, name):
    try:
        with open(os.path.join(host_dir(root, name), "host.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def host_record(root, state):
    return {"instance": state["name"], "name": state["name"], "address": LOOPBACK, "port": state["port"], "user": "root",
            "identity_file": os.path.join(root, "id_ed25519"), "pid": state["pid"],
            "running": pid_alive(state["pid"]) and banner(state["port"])}


def up(root, name):
    state = read_state(root, name)
    if state and pid_alive(state["pid"]) and banner(state["port"]):
        return host_record(root, state)
    if state:
        down(root, name)
    base = host_dir(root, name)
    for directory in OVERLAID:
        for sub in ("up", "work"):
            os.makedirs(os.path.join(base, directory, sub), exist_ok=True)
    pubkey = ensure_key(root) + ".pub"
    port = free_port()
    log = open(os.path.join(base, "sshd.log"), "ab")  # pylint: disable=consider-using-with
    try:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            ["unshare", "--mount", "--uts", "--fork", "--propagation", "private",
             "bash", "-c", INNER, "inner", base, name, str(port), pubkey],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    finally:
        log.close()
    state = {"name": name, "port": port, "pid": process.pid}
    with open(os.path.join(base, "host.json"), "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SandboxError("host %s: unshare/sshd exited %s:\n%s" % (name, process.returncode, tail(base)))
        if banner(port, timeout=0.5):
            return host_record(root, state)
        time.sleep(0.05)
    down(root, name)
    raise SandboxError("host %s: sshd did not answer on %s:%d within %ss:\n%s"
                       % (name, LOOPBACK, port, START_TIMEOUT, tail(base)))


def tail(base):
    try:
        with open(os.path.join(base, "sshd.log"), encoding="utf-8", errors="replace") as handle:
            return handle.read()[-2000:]
    except OSError:
        return ""


def down(root, name):
    """SIGTERM the sshd that is unshare's child (unshare ignores SIGTERM while it waits), then clean up."""
    state = read_state(root, name)
    if state:
        pid = state["pid"]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not pid_alive(pid):
                break
            targets = children(pid)
            for child in targets:
                for grandchild in children(child):  # open SSH sessions of this host
                    try:
                        os.kill(grandchild, sig)
                    except ProcessLookupError:
                        pass
                try:
                    os.kill(child, sig)
                except ProcessLookupError:
                    pass
            if not targets:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + STOP_TIMEOUT
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        if pid_alive(pid):
            raise SandboxError("host %s: process %d did not stop" % (name, pid))
    base = host_dir(root, name)
    if os.path.isdir(base):
        shutil.rmtree(base)
    return {"name": name, "running": False}


def all_names(root):
    if not os.path.isdir(root):
        return []
    return sorted(entry for entry in os.listdir(root) if os.path.isfile(os.path.join(root, entry, "host.json")))


def inventory(root, names):
    lines = ["[gitlab_runners]"]
    for name in names:
        state = read_state(root, name)
        if state is None:
            raise SandboxError("host %s does not exist under %s" % (name, root))
        lines.append("%s ansible_host=%s ansible_port=%d" % (name, LOOPBACK, state["port"]))
    lines += ["", "[gitlab_runners:vars]", "ansible_user=root",
              "ansible_ssh_private_key_file=%s" % os.path.join(root, "id_ed25519"),
              "ansible_ssh_common_args='%s'" % SSH_COMMON_ARGS,
              "ansible_ssh_args='%s'" % SSH_ARGS, "ansible_become=false",
              "ansible_python_interpreter=/usr/bin/python3", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", default=default_root(), help="directory of the hosts (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up").add_argument("names", nargs="+")
    down_parser = sub.add_parser("down")
    down_parser.add_argument("names", nargs="*")
    down_parser.add_argument("--all", action="store_true")
    sub.add_parser("status")
    sub.add_parser("inventory").add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    try:
        root = check_root(args.root)
        if args.command == "up":
            if os.geteuid() != 0:
                raise SandboxError("sandbox hosts need root (mount namespaces and overlay mounts)")
            result = [up(root, name) for name in args.names]
        elif args.command == "down":
            result = [down(root, name) for name in (all_names(root) if args.all else args.names)]
        elif args.command == "status":
            result = [host_record(root, read_state(root, name)) for name in all_names(root)]
        else:
            sys.stdout.write(inventory(root, args.names or all_names(root)))
            return 0
    except (SandboxError, OSError, subprocess.CalledProcessError) as exc:
        sys.stderr.write("sandbox: %s\n" % exc)
        return 1
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
