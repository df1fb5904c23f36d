#!/usr/bin/env bash
# Build tests/gocheck/gocheck offline (no module proxy) against Debian's
# BurntSushi/toml source. Idempotent: skips the build when the binary is newer
# than main.go and go.mod. Usage: build.sh [--force]
# Env: TOML_SRC (default /usr/share/gocode/src/github.com/BurntSushi/toml), GO (default: go)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/gocheck"
default_src=/usr/share/gocode/src/github.com/BurntSushi/toml
toml_src="${TOML_SRC:-$default_src}"
go_bin="${GO:-go}"

die() { echo "gocheck build: $*" >&2; exit 1; }

if ! command -v "$go_bin" >/dev/null 2>&1; then
    die "'$go_bin' not found. Install it: apt-get install -y --no-install-recommends golang-go golang-github-burntsushi-toml-dev"
fi
if [ ! -f "$toml_src/decode.go" ] || [ ! -f "$toml_src/go.mod" ]; then
    die "BurntSushi/toml source not found in $toml_src. Install it: apt-get install -y --no-install-recommends golang-github-burntsushi-toml-dev (or set TOML_SRC)"
fi

if [ "${1:-}" != "--force" ] && [ -x "$bin" ] && [ "$bin" -nt "$here/main.go" ] && [ "$bin" -nt "$here/go.mod" ]; then
    exit 0
fi

# Strictly offline, module mode, local toolchain only.
export GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=mod GO111MODULE=on GOWORK=off \
       GOSUMDB=off CGO_ENABLED=0
if [ -z "${GOCACHE:-}" ] && { [ -z "${HOME:-}" ] || [ ! -w "${HOME:-/nonexistent}" ]; }; then
    export GOCACHE="${TMPDIR:-/tmp}/gocheck-gocache"
fi

tmpdir="$(mktemp -d)"
trap 'rm -rf "$tmpdir"' EXIT
modflag=()
if [ "$toml_src" != "$default_src" ]; then
    # Point the replace directive at TOML_SRC without touching go.mod.
    sed "s#=> $default_src#=> $toml_src#" "$here/go.mod" > "$tmpdir/go.mod"
    modflag=(-modfile="$tmpdir/go.mod")
fi

( cd "$here" && "$go_bin" build "${modflag[@]}" -trimpath -o "$tmpdir/gocheck" . ) \
    || die "go build failed (toml source: $toml_src)"
mv -f "$tmpdir/gocheck" "$bin"
deb_ver="$(dpkg-query -W -f '${Version}' golang-github-burntsushi-toml-dev 2>/dev/null || true)"
echo "gocheck build: built $bin ($("$go_bin" version | awk '{print $3}'), BurntSushi/toml ${deb_ver:-?} from $toml_src)" >&2
