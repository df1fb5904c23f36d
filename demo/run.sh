#!/usr/bin/env bash
# make demo: run the main job twice on a scratch copy of demo/config.toml.
# First run: changed, with the masked diff. Second run: ok, nothing changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
scratch=$(mktemp -d "${TMPDIR:-/tmp}/runnerkit-demo.XXXXXX")
cp "$here/config.toml" "$scratch/config.toml"
chmod 0600 "$scratch/config.toml"
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
# The venv python runs the module: it has tomlkit, like a runner host prepared by the runner role.
run() {
  ansible-playbook -i localhost, "$here/site.yml" -e "demo_config_path=$scratch/config.toml" \
    -e "ansible_python_interpreter=$(command -v python3)" "$@"
}
echo "== first run (changes, shown as a diff with secrets masked) =="
run --diff
echo "== second run (nothing to change) =="
run --diff | tee "$scratch/second.log"
grep -q "changed=0" "$scratch/second.log" || { echo "demo: second run changed something" >&2; exit 1; }
echo "== the file now: $scratch/config.toml =="
sed -E 's/(token = ")[^"]*/\1<hidden>/; s/("auth":")[^"]*/\1<hidden>/' "$scratch/config.toml"
