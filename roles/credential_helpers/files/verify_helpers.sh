#!/bin/sh
# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# verify_helpers.sh USER SERVICE DEFAULT_PATH INSTALL_DIR TIMEOUT NAME...
#
# Checks each credential helper the way GitLab Runner will find it: docker-credential-NAME must be
# an executable file on the PATH of the runner service, runnable by USER (the runner process user),
# and answer the helper protocol (`version`, else `list`).  The service's PATH is read from the
# environment of the running service, else from the unit's Environment= (systemd), else
# DEFAULT_PATH is used.  Prints one line per helper; exits 1 when any helper is not usable, with
# the reason (not on that PATH, not executable by USER, no answer).  Runs as root or as USER.
set -u

if [ "$#" -lt 6 ]; then
    echo "usage: $0 USER SERVICE DEFAULT_PATH INSTALL_DIR TIMEOUT NAME..." >&2
    exit 2
fi
user=$1 service=$2 default_path=$3 install_dir=$4 timeout=$5
shift 5

entry=$(getent passwd "$user" 2>/dev/null) || entry=
if [ -z "$entry" ]; then
    echo "FAILED: the runner process user '$user' does not exist on this host"
    exit 1
fi
home=$(printf '%s\n' "$entry" | cut -d: -f6)

# The PATH the runner service runs with, and where that came from.
path=
source=
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && systemctl cat "$service" >/dev/null 2>&1; then
    pid=$(systemctl show -p MainPID --value "$service" 2>/dev/null) || pid=
    if [ -n "$pid" ] && [ "$pid" != 0 ] && [ -r "/proc/$pid/environ" ]; then
        path=$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^PATH=//p' | head -n 1)
        source="the environment of the running $service service (pid $pid)"
    fi
    if [ -z "$path" ]; then
        path=$(systemctl show -p Environment --value "$service" 2>/dev/null | tr ' ' '\n' | sed -n 's/^PATH=//p' | tail -n 1)
        source="Environment= of the $service unit"
    fi
    if [ -z "$path" ]; then
        source="the $service unit, which sets no PATH: systemd's default"
    fi
fi
if [ -z "$path" ]; then
    path=$default_path
    [ -n "$source" ] || source="credential_helpers_default_path, as no $service service was found"
fi

# Run a command as the runner user, with the service's PATH and the user's HOME and nothing else.
as_user() {
    if [ "$(id -u)" -ne 0 ]; then
        if [ "$(id -un)" != "$user" ]; then
            echo "cannot run as $user: not root" >&2
            return 126
        fi
        env -i HOME="$home" PATH="$path" USER="$user" LOGNAME="$user" "$@"
    elif [ "$user" = root ]; then
        env -i HOME="$home" PATH="$path" USER=root LOGNAME=root "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$user" -- env -i HOME="$home" PATH="$path" USER="$user" LOGNAME="$user" "$@"
    else
        # shellcheck disable=SC2016  # expanded by the shell su starts
        su -s /bin/sh "$user" -c 'h=$0 p=$1 u=$2; shift 2; exec env -i HOME="$h" PATH="$p" USER="$u" LOGNAME="$u" "$@"' \
            "$home" "$path" "$user" "$@"
    fi
}

describe() {
    stat -c '%A %U:%G' "$1" 2>/dev/null
}

failed=0
for name in "$@"; do
    bin=docker-credential-$name
    found=
    blocked=
    old_ifs=$IFS
    IFS=:
    set -f
    for dir in $path; do
        IFS=$old_ifs
        [ -n "$dir" ] || dir=.
        candidate=$dir/$bin
        if [ -e "$candidate" ] && [ ! -d "$candidate" ]; then
            if as_user test -x "$candidate"; then
                found=$candidate
                break
            fi
            [ -n "$blocked" ] || blocked=$candidate
        fi
    done
    IFS=$old_ifs
    set +f

    if [ -z "$found" ]; then
        failed=1
        if [ -n "$blocked" ]; then
            echo "FAILED: $bin: $blocked is on the runner's PATH but user $user cannot execute it" \
                "($(describe "$blocked")); the runner process runs as $user"
            continue
        fi
        elsewhere=
        for dir in "$install_dir" /usr/local/bin /usr/local/sbin /usr/bin /usr/sbin /bin /sbin /opt/*/bin /snap/bin; do
            if [ -f "$dir/$bin" ]; then
                elsewhere=$dir/$bin
                break
            fi
        done
        if [ -n "$elsewhere" ]; then
            echo "FAILED: $bin: installed at $elsewhere, but $(dirname "$elsewhere") is not on the PATH of the" \
                "runner ($path, from $source)"
        else
            echo "FAILED: $bin: not found on the PATH of the runner ($path, from $source) nor in $install_dir"
        fi
        continue
    fi

    if answer=$(as_user timeout "$timeout" "$found" version </dev/null 2>&1); then
        echo "ok: $bin ($found) answers 'version' as $user: $(printf '%s\n' "$answer" | head -n 1)"
        continue
    fi
    version_answer=$answer
    if answer=$(echo unused | as_user timeout "$timeout" "$found" list 2>&1); then
        echo "ok: $bin ($found) answers 'list' as $user"
        continue
    fi
    failed=1
    echo "FAILED: $bin ($found) runs as $user but answers neither 'version'" \
        "($(printf '%s' "$version_answer" | head -n 3 | tr '\n' ' ')) nor 'list'" \
        "($(printf '%s' "$answer" | head -n 3 | tr '\n' ' '))"
done
echo "runner user: $user (home $home); runner PATH: $path (from $source)"
exit "$failed"
