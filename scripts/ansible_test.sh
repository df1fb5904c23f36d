#!/usr/bin/env bash
# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Run ansible-test on a fresh copy of the collection.
#
#   scripts/ansible_test.sh sanity --local --requirements --python 3.11
#
# ansible-test must run from a directory whose real path ends in
# ansible_collections/runnerkit/gitlab_runner, so the files git lists (tracked and
# untracked-not-ignored) are mirrored to .build/ac/ansible_collections/runnerkit/gitlab_runner
# first.  ansible-test is taken from PATH (the Makefile puts .venv/bin first).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
copy_root="${ANSIBLE_TEST_COPY_ROOT:-${repo_root}/.build/ac}"
copy="${copy_root}/ansible_collections/runnerkit/gitlab_runner"
python="${PYTHON:-python3}"

"${python}" "${repo_root}/scripts/sync_test_copy.py" "${repo_root}" "${copy}"

cd "${copy}"
exec ansible-test "$@"
