#!/usr/bin/env bash
# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# A private Docker engine for the molecule `docker` scenario (extensions/molecule/docker), on a
# machine where no image can be pulled and no engine runs: Debian's docker.io daemon with its own
# data root, exec root and socket, no bridge and no iptables rules (containers use the host's
# network: `network_mode: host`), and an image imported from a debootstrap root.
#
#   docker_engine.sh start        install docker.io/debootstrap if missing (apt, needs root), start
#                                 the daemon (or find it running)
#   docker_engine.sh image        import runnerkit-molecule:SUITE for each Debian release of
#                                 RUNNERKIT_DEBIAN_SUITES unless the daemon has it; each debootstrap
#                                 root is built once and kept as a tarball under .build/
#   docker_engine.sh collections  community.docker and ansible.posix (molecule's docker driver
#                                 needs them) taken from the `ansible` wheel on PyPI, no Galaxy
#   docker_engine.sh env          print `export DOCKER_HOST=...` for the running daemon
#   docker_engine.sh run CMD...   start, image, collections, then CMD with DOCKER_HOST set; the
#                                 daemon is stopped afterwards whatever happens; exits with CMD's status
#   docker_engine.sh stop         remove every container of the daemon, stop it and its containerd,
#                                 unmount and delete what it left in its exec root (safe to repeat)
#   docker_engine.sh purge        stop, then delete the data root (the image) and the cached tarball
#
# Settings (environment): RUNNERKIT_DOCKER_DIR (data root, log: .build/docker-engine),
# RUNNERKIT_DOCKER_RUN (socket, pid file, exec root: /run/runnerkit-docker-<hash of the data dir>),
# RUNNERKIT_DEBIAN_MIRROR (http://deb.debian.org/debian), RUNNERKIT_DEBIAN_SUITES (the releases a
# runner host may run: "bullseye bookworm trixie", Debian 11, 12, 13), PYTHON (.venv/bin/python, else python3).
# RUNNERKIT_DOCKER_ETC (a directory): start dockerd in its own mount namespace with this directory
# bind-mounted over /etc/docker, so that its certs.d, daemon.json and key.json are the test's and the
# machine's /etc/docker is left alone (certs.d is hard-coded in dockerd); RUNNERKIT_DOCKER_HOSTS (a
# file), with it, is bind-mounted over /etc/hosts in that namespace (e.g. Docker Hub to a closed port).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
build_dir="${repo_root}/.build"
engine_dir="${RUNNERKIT_DOCKER_DIR:-${build_dir}/docker-engine}"
data_root="${engine_dir}/data"
log_file="${engine_dir}/dockerd.log"
# Unix socket paths are limited to 107 bytes: socket and exec root live under /run, one per data dir.
run_hash=$(printf '%s' "${engine_dir}" | sha256sum | cut -c1-10)
run_dir="${RUNNERKIT_DOCKER_RUN:-/run/runnerkit-docker-${run_hash}}"
exec_root="${run_dir}/exec"
socket="${run_dir}/docker.sock"
pid_file="${run_dir}/dockerd.pid"
export DOCKER_HOST="unix://${socket}"

cache_dir="${build_dir}/molecule-docker"
suites="${RUNNERKIT_DEBIAN_SUITES:-bullseye bookworm trixie}"
# Only what Ansible needs to reach a host: the roles install python3-tomlkit and the ECR helper.
include_packages=python3
mirror="${RUNNERKIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
label=org.runnerkit.rootfs

# SUITE: sets suite, image, rootfs_key and rootfs_tar for that Debian release. Changing any part of the
# key (or the recipe version) builds a new root; the image carries the key as a label.
select_suite() {
    suite=$1
    image="runnerkit-molecule:${suite}"
    rootfs_key=$(printf '%s\n' "recipe-3" "${suite}" "${include_packages}" "${mirror}" | sha256sum | cut -c1-16)
    rootfs_tar="${cache_dir}/rootfs-${suite}-${rootfs_key}.tar"
}

# The `ansible` package on PyPI carries community.docker (4.x for ansible-core 2.19) and ansible.posix.
ansible_bundle="${RUNNERKIT_ANSIBLE_BUNDLE:-ansible==12.3.0}"
bundle_collections=(community/docker community/library_inventory_filtering_v1 ansible/posix)
collections_dir="${cache_dir}/collections"

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "${repo_root}/.venv/bin/python" ]]; then PYTHON="${repo_root}/.venv/bin/python"; else PYTHON=python3; fi
fi

log() { printf 'docker_engine: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The client of Debian's docker.io (the version that matches the daemon), not whatever else is on PATH.
docker=/usr/bin/docker

apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        [[ "$(dpkg-query -W -f '${Status}' "${pkg}" 2>/dev/null)" == "install ok installed" ]] || missing+=("${pkg}")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ "$(id -u)" -eq 0 ]] || die "missing Debian packages ${missing[*]}: run as root or install them"
    command -v apt-get >/dev/null || die "missing Debian packages ${missing[*]} and no apt-get"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        # Fresh machine: no package lists yet (a source that cannot be reached is not fatal here).
        apt-get update -qq || true
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

dockerd_pid() {
    local pid
    [[ -f "${pid_file}" ]] || return 1
    pid=$(<"${pid_file}")
    [[ "${pid}" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/${pid}/comm" 2>/dev/null)" == dockerd ]] || return 1
    printf '%s\n' "${pid}"
}

daemon_answers() { timeout 10 "${docker}" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# With RUNNERKIT_DOCKER_ETC: the command that puts dockerd into a private mount namespace with the
# test's /etc/docker (and /etc/hosts); it execs dockerd, so the pid file still names dockerd itself.
namespace_launcher=()
set_namespace_launcher() {
    local etc=${RUNNERKIT_DOCKER_ETC:-} hosts=${RUNNERKIT_DOCKER_HOSTS:-}
    [[ -n "${etc}" ]] || return 0
    [[ -d "${etc}" ]] || die "RUNNERKIT_DOCKER_ETC=${etc} is not a directory"
    [[ -d /etc/docker ]] || die "/etc/docker is missing: nothing to bind-mount RUNNERKIT_DOCKER_ETC over"
    [[ -z "${hosts}" || -f "${hosts}" ]] || die "RUNNERKIT_DOCKER_HOSTS=${hosts} is not a file"
    # shellcheck disable=SC2016 # expanded by the inner shell, inside the namespace
    namespace_launcher=(unshare --mount --propagation private -- sh -c \
        'mount --bind "$1" /etc/docker && { [ -z "$2" ] || mount --bind "$2" /etc/hosts; } && shift 2 && exec "$@"' \
        sh "${etc}" "${hosts}")
}

cmd_start() {
    apt_install docker.io
    set_namespace_launcher
    if dockerd_pid >/dev/null && daemon_answers; then
        log "daemon already running on ${DOCKER_HOST}"
        return 0
    fi
    cmd_stop
    mkdir -p "${data_root}" "${run_dir}"
    chmod 0700 "${run_dir}"
    log "starting dockerd on ${DOCKER_HOST} (data root ${data_root}, log ${log_file})"
    # setsid: a Ctrl-C in the terminal reaches the test run, not the daemon; stop ends it.
    setsid "${namespace_launcher[@]}" dockerd \
        --data-root "${data_root}" \
        --exec-root "${exec_root}" \
        --host "${DOCKER_HOST}" \
        --pidfile "${pid_file}" \
        --bridge none --iptables=false --ip6tables=false --ip-masq=false \
        >>"${log_file}" 2>&1 </dev/null &
    local waited=0
    until daemon_answers; do
        if ! kill -0 $! 2>/dev/null; then
            tail -n 20 "${log_file}" >&2 || true
            die "dockerd exited while starting (log: ${log_file})"
        fi
        ((waited++ < 120)) || { tail -n 20 "${log_file}" >&2 || true; cmd_stop; die "dockerd did not answer within 120 s"; }
        sleep 1
    done
    log "dockerd $("${docker}" version --format '{{.Server.Version}}') is up"
}

# Processes whose command line names our exec root: the managed containerd and its shims.
engine_children() {
    local proc pid
    for proc in /proc/[0-9]*; do
        pid=${proc#/proc/}
        [[ "${pid}" == "$$" ]] && continue
        tr '\0' ' ' 2>/dev/null <"${proc}/cmdline" | grep -qF -- "${exec_root}/" && printf '%s\n' "${pid}"
    done
    return 0
}

wait_gone() { # PID...: true once none of them is left (waits up to 30 s)
    local pid i alive
    for ((i = 0; i < 60; i++)); do
        alive=0
        for pid in "$@"; do kill -0 "${pid}" 2>/dev/null && alive=1; done
        [[ ${alive} -eq 0 ]] && return 0
        sleep 0.5
    done
    return 1
}

unmount_under() { # DIR: everything mounted on it or below it, deepest first
    local dir=$1 mounts
    mapfile -t mounts < <(awk -v d="${dir}" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r)
    local m
    for m in "${mounts[@]}"; do
        umount -l "${m}" 2>/dev/null || true
    done
}

cmd_stop() {
    local pid pids
    if pid=$(dockerd_pid); then
        if daemon_answers; then
            mapfile -t pids < <(timeout 30 "${docker}" ps -aq 2>/dev/null || true)
            if [[ ${#pids[@]} -gt 0 ]]; then
                log "removing ${#pids[@]} container(s)"
                timeout 60 "${docker}" rm -f "${pids[@]}" >/dev/null 2>&1 || true
            fi
        fi
        log "stopping dockerd (pid ${pid})"
        kill -TERM "${pid}" 2>/dev/null || true
        if ! wait_gone "${pid}"; then
            log "dockerd did not stop within 30 s, killing it"
            kill -KILL "${pid}" 2>/dev/null || true
            wait_gone "${pid}" || true
        fi
    fi
    # After a daemon that died: its containers still run under runc; end them (and their cgroups).
    local runc_root="${exec_root}/runtime-runc/moby" ids id
    if [[ -d "${runc_root}" ]] && command -v runc >/dev/null; then
        mapfile -t ids < <(runc --root "${runc_root}" list -q 2>/dev/null || true)
        for id in "${ids[@]}"; do
            [[ -n "${id}" ]] || continue
            log "removing leftover container ${id:0:12}"
            runc --root "${runc_root}" delete --force "${id}" >/dev/null 2>&1 || true
        done
    fi
    mapfile -t pids < <(engine_children)
    if [[ ${#pids[@]} -gt 0 ]]; then
        log "ending leftover containerd processes: ${pids[*]}"
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait_gone "${pids[@]}" || kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    unmount_under "${data_root}"
    unmount_under "${run_dir}"
    rm -rf "${run_dir}"
}

# debootstrap into WORK/root, then WORK/rootfs.tar; false when a step fails.
make_rootfs() {
    local work=$1
    log "debootstrap --variant=minbase --include=${include_packages} ${suite} ${mirror}"
    if ! debootstrap --variant=minbase --include="${include_packages}" "${suite}" "${work}/root" "${mirror}" \
        >"${work}/debootstrap.log" 2>&1; then
        tail -n 30 "${work}/debootstrap.log" >&2 || true
        cp "${work}/debootstrap.log" "${cache_dir}/debootstrap-failed.log" 2>/dev/null || true
        log "debootstrap failed (log kept as ${cache_dir}/debootstrap-failed.log)"
        return 1
    fi
    unmount_under "${work}/root"
    # The machine's apt proxy settings, if any, so that apt in the containers reaches the mirror the same way.
    local proxy="${work}/root/etc/apt/apt.conf.d/01proxy"
    apt-config dump 2>/dev/null | grep -Ei '^Acquire::[a-z]+::Proxy' >"${proxy}" || true
    [[ -s "${proxy}" ]] || rm -f "${proxy}"
    # Likewise the CA bundle pip trusts here (a machine whose traffic to PyPI passes a TLS proxy has its CA
    # in it), so that the runner role's pip fallback in the Debian 11 container reaches PyPI the same way.
    local cert
    cert=${PIP_CERT:-$("${PYTHON}" -m pip config list 2>/dev/null | sed -n "s/^global[.]cert='\(.*\)'\$/\1/p")}
    if [[ -n "${cert}" && -f "${cert}" ]]; then
        cp "${cert}" "${work}/root/etc/runnerkit-machine-ca.crt" || return 1
        printf '[global]\ncert = /etc/runnerkit-machine-ca.crt\n' >"${work}/root/etc/pip.conf" || return 1
    fi
    # No downloaded packages and no package lists: the roles' apt tasks fetch them as on a fresh host.
    tar -C "${work}/root" --numeric-owner \
        --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/cache/apt/*.bin' \
        --exclude='./var/lib/apt/lists/*_*' \
        -cf "${work}/rootfs.tar" . || return 1
}

build_rootfs() {
    apt_install debootstrap
    mkdir -p "${cache_dir}"
    local work ok=0
    work=$(mktemp -d "${cache_dir}/rootfs.XXXXXX")
    make_rootfs "${work}" && ok=1
    if [[ ${ok} -eq 1 ]]; then
        rm -f "${cache_dir}"/rootfs-"${suite}"-*.tar
        mv "${work}/rootfs.tar" "${rootfs_tar}"
    fi
    # debootstrap mounts /proc and /sys inside the root and may leave them there when it fails.
    unmount_under "${work}"
    rm -rf "${work}"
    [[ ${ok} -eq 1 ]] || die "could not build the root file system"
    log "root file system cached as ${rootfs_tar} ($(du -h "${rootfs_tar}" | cut -f1))"
}

cmd_image() {
    daemon_answers || die "no daemon on ${DOCKER_HOST}: run '$0 start' first"
    local one
    for one in ${suites}; do
        select_suite "${one}"
        import_image
    done
    "${docker}" image prune -f >/dev/null 2>&1 || true
}

import_image() {
    local have
    have=$("${docker}" image inspect --format "{{ index .Config.Labels \"${label}\" }}" "${image}" 2>/dev/null || true)
    if [[ "${have}" == "${rootfs_key}" ]]; then
        log "image ${image} present"
        return 0
    fi
    [[ -f "${rootfs_tar}" ]] || build_rootfs
    log "importing ${rootfs_tar} as ${image}"
    "${docker}" import --change "LABEL ${label}=${rootfs_key}" --change 'CMD ["sleep", "infinity"]' \
        "${rootfs_tar}" "${image}" >/dev/null
}

cmd_collections() {
    local stamp="${collections_dir}/.from-${ansible_bundle}"
    if [[ -f "${stamp}" ]]; then
        log "collections from ${ansible_bundle} present in ${collections_dir}"
        return 0
    fi
    mkdir -p "${cache_dir}/wheels"
    log "pip download ${ansible_bundle} (for ${bundle_collections[*]})"
    "${PYTHON}" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
        --dest "${cache_dir}/wheels" "${ansible_bundle}"
    local wheel
    wheel=$(find "${cache_dir}/wheels" -maxdepth 1 -name "ansible-${ansible_bundle#ansible==}-py3-none-any.whl" | head -n1)
    [[ -n "${wheel}" ]] || die "pip download gave no wheel for ${ansible_bundle} in ${cache_dir}/wheels"
    rm -rf "${collections_dir}.tmp"
    "${PYTHON}" - "${wheel}" "${collections_dir}.tmp" "${bundle_collections[@]}" <<'EOF'
import sys
import zipfile

wheel, dest, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
prefixes = tuple("ansible_collections/%s/" % name for name in wanted)
with zipfile.ZipFile(wheel) as archive:
    members = [name for name in archive.namelist() if name.startswith(prefixes)]
    missing = [p for p in prefixes if not any(name.startswith(p) for name in members)]
    if missing:
        sys.exit("not in %s: %s" % (wheel, ", ".join(missing)))
    archive.extractall(dest, members)
EOF
    rm -rf "${collections_dir}"
    mv "${collections_dir}.tmp" "${collections_dir}"
    touch "${stamp}"
    rm -rf "${cache_dir}/wheels"
    log "collections extracted to ${collections_dir}"
}

cmd_env() {
    printf 'export DOCKER_HOST=%q\n' "${DOCKER_HOST}"
}

run_started=0
run_child=
on_run_exit() {
    local status=$?
    trap - EXIT INT TERM
    cmd_stop || true
    log "exit status ${status} after $(($(date +%s) - run_started)) s"
    exit "${status}"
}

# Interrupted: end the command and everything it started (its own process group), then exit.
on_run_signal() {
    if [[ -n "${run_child}" ]]; then
        log "interrupted, ending the command (process group ${run_child})"
        kill -TERM -- "-${run_child}" 2>/dev/null || true
        wait "${run_child}" 2>/dev/null || true
    fi
    exit "$1"
}

cmd_run() {
    [[ $# -gt 0 ]] || die "run needs a command"
    run_started=$(date +%s)
    # The daemon goes away whatever happens from here on, and the command's status is kept.
    trap on_run_exit EXIT
    trap 'on_run_signal 130' INT
    trap 'on_run_signal 143' TERM
    cmd_start
    cmd_image
    cmd_collections
    log "ready after $(($(date +%s) - run_started)) s, running: $*"
    # In the background (so that a signal is handled at once) and in its own process group.
    setsid "$@" &
    run_child=$!
    local status=0
    wait "${run_child}" || status=$?
    run_child=
    return "${status}"
}

cmd_purge() {
    cmd_stop
    unmount_under "${engine_dir}"
    rm -rf "${engine_dir}" "${cache_dir}"/rootfs-*.tar "${cache_dir}"/rootfs.*
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    image) cmd_image ;;
    collections) cmd_collections ;;
    env) cmd_env ;;
    run) shift; [[ "${1:-}" == "--" ]] && shift; cmd_run "$@" ;;
    purge) cmd_purge ;;
    *) sed -n '5,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
