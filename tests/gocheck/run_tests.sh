#!/usr/bin/env bash
# Build gocheck, prove it is not vacuous with the fixtures in testdata/, decode
# what runner_config's core makes of the unit-test fixtures (render_edits.py,
# rendered here: nothing depends on an earlier unit-test run), then check the
# extra config files given.
#
# Usage: run_tests.sh [FILE_OR_DIR...]
#   Extra files come from the arguments and from GOCHECK_FILES (paths separated
#   by whitespace or ':'); a directory means every *.toml below it, such as
#   tests/output/gocheck-files/ that the unit tests write.
#   GOCHECK_STRICT=1 also fails extra files on undecoded (unknown) keys.
#   PYTHON is the interpreter with tomlkit for render_edits.py (python3).
# Exit status: 0 when every expectation holds, 1 otherwise.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/gocheck"
td="$here/testdata"

bash "$here/build.sh" || { echo "run_tests: build failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
out="$(mktemp)"
err="$(mktemp)"
trap 'rm -f "$out" "$err"' EXIT

ok()  { passed=$((passed + 1)); echo "PASS $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; sed 's/^/    | /' "$err" | head -20; }

# expect_ok FILE [gocheck options...]: gocheck must exit 0.
expect_ok() {
    local f="$1"; shift
    if "$bin" "$@" "$f" >"$out" 2>"$err"; then
        ok "accepted: $f $*"
    else
        bad "expected OK, got exit $?: $f $*"
    fi
}

# expect_fail FILE [gocheck options...]: gocheck must exit 1 and, if the file
# has a '# expect-error: TEXT' line, print TEXT on stderr.
expect_fail() {
    local f="$1"; shift
    local want rc
    want="$(sed -n 's/^# expect-error: //p' "$f" | head -1)"
    "$bin" "$@" "$f" >"$out" 2>"$err"; rc=$?
    if [ "$rc" -ne 1 ]; then
        bad "expected exit 1, got $rc: $f $*"
    elif [ -n "$want" ] && ! grep -qF -- "$want" "$err"; then
        bad "rejected, but not for the expected reason '$want': $f $*"
    else
        ok "rejected: $f $*${want:+ ($want)}"
    fi
}

echo "== good fixtures (must pass, also with --strict)"
for f in "$td"/good/*.toml; do
    expect_ok "$f" --strict
done

echo "== bad fixtures (must fail for the stated reason)"
for f in "$td"/bad/*.toml; do
    expect_fail "$f"
done

echo "== unknown keys: pass by default, fail with --strict"
for f in "$td"/strict-bad/*.toml; do
    expect_ok "$f"
    expect_fail "$f" --strict
done

echo "== several files in one call: one bad file fails the call"
"$bin" "$td/good/02-minimal.toml" "$td/bad/image-int.toml" >"$out" 2>"$err"; rc=$?
if [ "$rc" -eq 1 ] && grep -q "image-int.toml: " "$err"; then ok "mixed call exits 1"; else bad "mixed call exit $rc"; fi

echo "== -v summary"
if "$bin" -v "$td/good/01-full-docker-runners.toml" >"$out" 2>"$err" \
    && grep -qF 'runners=3 [name="docker-main" executor="docker" image="alpine:3.20" services=2 FF_NETWORK_PER_BUILD=true(feature_flags)]' "$out"; then
    ok "-v summary line"
else
    cp "$out" "$err"; bad "-v summary line"
fi

echo "== --json shows what the runner would decode"
if ! command -v python3 >/dev/null 2>&1; then
    bad "--json: python3 not found"
elif "$bin" --json "$td/good/01-full-docker-runners.toml" "$td/bad/image-int.toml" "$td/good/02-minimal.toml" >"$out" 2>"$err"; then
    bad "--json: expected exit 1 for the bad file"
elif python3 - "$out" >"$err" 2>&1 <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 3, lines
good, badr, minimal = (json.loads(l) for l in lines)
assert good["ok"] is True and good["errors"] == [] and good["undecoded"] == [], good
c = good["config"]
assert c["concurrent"] == 4 and c["connection_max_age"] == 15 * 60 * 10**9
assert c["session_server"]["session_timeout"] == 1800
r0, r1, r2 = c["runners"]
assert [r["name"] for r in c["runners"]] == ["docker-main", "docker-literal-auth", "shell-deploy"]
assert r0["docker"]["image"] == "alpine:3.20"
assert [(s["name"], s["alias"]) for s in r0["docker"]["services"]] == [("postgres:16-alpine", "db"), ("redis:7", "cache,redis-cache")]
assert r0["docker"]["services"][1]["command"] == ["redis-server", "--appendonly", "no"]
auth = [e for e in r0["environment"] if e.startswith("DOCKER_AUTH_CONFIG=")][0]
assert json.loads(auth.split("=", 1)[1]) == {"auths": {"registry.example.com:5000": {"auth": "dXNlcjpwYXNz"}}}
assert json.loads(r1["environment"][0].split("=", 1)[1])["auths"]["harbor.example.net"]["auth"] == "dXNlcjpwYXNz"
assert r0["feature_flags"] == {"FF_NETWORK_PER_BUILD": True, "FF_USE_FASTZIP": False}
assert r0["token_obtained_at"] == "2024-05-01T10:00:00Z" and r0["token_expires_at"] == "0001-01-01T00:00:00Z"
assert r1["token_obtained_at"] == "2024-05-01T10:00:00Z" and r1["token_expires_at"] == "2025-05-01T10:00:00+02:00"
assert r0["prepare_timeout"] == 5 * 60 * 10**9 and r0["get_sources_timeout"] == 90 * 60 * 10**9
assert r0["docker"]["pull_policy"] == ["always", "if-not-present"] and r1["docker"]["pull_policy"] == ["if-not-present"]
assert r0["custom_build_dir"]["enabled"] is True and r0["cache"]["s3"]["PathStyle"] is True
assert r0["post_get_sources_script"] == "echo post-get\ngit log -1\n"
assert r2["docker"] is None and r2["shell"] == "bash"
m = minimal["config"]
assert minimal["ok"] is True and m["concurrent"] == 1 and m["session_server"]["session_timeout"] == 1800, m
assert m["runners"][0]["environment"] is None and m["runners"][0]["feature_flags"] is None
assert badr["ok"] is False and badr["config"] is None and "destination has type string" in badr["errors"][0], badr
PY
then
    ok "--json content (names, image, services, environment, feature flags, times, durations)"
else
    bad "--json content"
fi

# ---- what runner_config's core writes, rendered now ---------------------------
echo "== files runner_config's core writes (render_edits.py)"
rendered="$(mktemp -d)"
trap 'rm -f "$out" "$err"; rm -rf "$rendered"' EXIT
if "${PYTHON:-python3}" "$here/render_edits.py" "$rendered" >"$out" 2>"$err"; then
    n=0
    while IFS= read -r -d '' f; do
        expect_ok "$f"; n=$((n + 1))
    done < <(find "$rendered" -type f -name '*.toml' -print0 | sort -z)
    [ "$n" -gt 0 ] || { echo "render_edits.py wrote nothing" >"$err"; bad "render_edits.py wrote no files"; }
else
    bad "render_edits.py failed (PYTHON=${PYTHON:-python3} needs tomlkit)"
fi

# ---- extra files given ----------------------------------------------------------
sources=("$@")
if [ -n "${GOCHECK_FILES:-}" ]; then
    IFS=$' \t\n:' read -r -d '' -a env_sources <<<"$GOCHECK_FILES" || true
    sources+=("${env_sources[@]}")
fi
extra_opts=()
[ "${GOCHECK_STRICT:-0}" = "1" ] && extra_opts=(--strict)
if [ "${#sources[@]}" -gt 0 ]; then
    echo "== extra files (must all pass${extra_opts[*]:+, ${extra_opts[*]}})"
    for s in "${sources[@]}"; do
        [ -n "$s" ] || continue
        if [ -d "$s" ]; then
            n=0
            while IFS= read -r -d '' f; do
                expect_ok "$f" "${extra_opts[@]}"; n=$((n + 1))
            done < <(find "$s" -type f -name '*.toml' -print0 | sort -z)
            [ "$n" -gt 0 ] || echo "note: no *.toml files under $s"
        elif [ -f "$s" ]; then
            expect_ok "$s" "${extra_opts[@]}"
        else
            echo "missing: $s" >"$err"; bad "extra path does not exist: $s"
        fi
    done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
