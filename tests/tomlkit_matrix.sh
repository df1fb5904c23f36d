#!/usr/bin/env bash
# The config.toml core under every tomlkit a runner host may give it (`make tomlkit-matrix`).
#
# runner_config runs on the runner host with the tomlkit found there: the distribution package
# (Debian 12: 0.11.7, Debian 13: 0.13.2) or the runner role's pip fallback (the newest release).
# Each cell installs one tomlkit into .build/tomlkit-matrix/<version> (no venv: pytest and the rest
# come from the project venv, tomlkit from PYTHONPATH, which wins) and runs the pure-core tests:
# the fixture corpus, the exact-text layout tests and the runner-rewrite idempotence property.
# One more cell proves that a tomlkit below the floor is refused with a clear message.
#
# Usage: tests/tomlkit_matrix.sh PYTHON COLLECTIONS_DIR FLOOR DEBIAN12 DEBIAN13 PINNED TOO_OLD
set -euo pipefail

python=$1 collections=$2
floor=$3 debian12=$4 debian13=$5 pinned=$6 too_old=$7
root=.build/tomlkit-matrix
tests=tests/unit/plugins/module_utils/test__config_toml.py
summary=()
failed=0

install() { # VERSION -> prints the directory holding that tomlkit
    local dir="${root}/$1"
    if [ ! -f "${dir}/tomlkit/__init__.py" ]; then
        rm -rf "${dir}"
        "${python}" -m pip install -q --no-deps --no-compile --target "${dir}" "tomlkit==$1" >&2
    fi
    echo "${dir}"
}

imports() { # DIR VERSION: true when that directory's tomlkit is the one Python imports
    PYTHONPATH="$1:${collections}" "${python}" -c \
        "import sys, tomlkit; sys.exit(tomlkit.__version__ != '$2')"
}

cell() { # LABEL VERSION
    local label=$1 version=$2 dir start result
    dir=$(install "${version}")
    start=$(date +%s%N)
    echo "== tomlkit ${version} (${label})"
    if imports "${dir}" "${version}" \
        && PYTHONPATH="${dir}:${collections}" "${python}" -m pytest -q -p no:cacheprovider "${tests}"; then
        result=pass
    else
        result=FAIL
        failed=1
    fi
    local tenths=$(( ($(date +%s%N) - start) / 100000000 ))
    summary+=("$(printf 'tomlkit %-8s %-22s %s in %d.%d s' "${version}" "(${label})" "${result}" \
        $((tenths / 10)) $((tenths % 10)))")
}

refused_cell() { # VERSION: runner_config's gate names the floor and the version found
    local version=$1 dir result=FAIL
    dir=$(install "${version}")
    echo "== tomlkit ${version} (below the floor: refused)"
    if PYTHONPATH="${dir}:${collections}" "${python}" - "${version}" <<'EOF'
import sys
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as core
assert core.tomlkit_too_old() == sys.argv[1], core.tomlkit_too_old()
assert core.TOMLKIT_REQUIREMENT == "tomlkit >= 0.11.4", core.TOMLKIT_REQUIREMENT
print("refused: tomlkit %s < %s" % (sys.argv[1], core.TOMLKIT_REQUIREMENT))
EOF
    then result=pass; else failed=1; fi
    summary+=("$(printf 'tomlkit %-8s %-22s %s' "${version}" "(below the floor)" "${result}: refused")")
}

cell "floor" "${floor}"
cell "Debian 12 package" "${debian12}"
cell "Debian 13 package" "${debian13}"
cell "pinned newest" "${pinned}"
refused_cell "${too_old}"

echo
echo "tomlkit matrix (${tests}):"
printf '  %s\n' "${summary[@]}"
exit "${failed}"
