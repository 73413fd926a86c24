#!/usr/bin/env bash
# Model-based test of the ledger (issue 9): a reference model of the SQL
# contract in Python (test/model/model.py) runs random operations side by
# side with a real database and compares every outcome, SQLSTATE and figure
# after every step; on a mismatch it shrinks the sequence and prints it as
# runnable SQL.  Ends with "N passed, N failed"; exits non-zero on failure.
#
#   bash test/model/run.sh                  # the default: 3 fixed seeds x 1000 operations
#   bash test/model/run.sh --seed 42 --ops 20000
#   bash test/model/run.sh --long           # one random seed, 100000 operations
#   bash test/model/run.sh --random         # one random seed, 3000 operations
# Other options go to model.py (--no-shrink, --shrink-budget S,
# --repro-dir DIR, --sql-log FILE).  The extension must be installed
# (make install).  Environment: REL_PORT (default 5620), REL_KEEP=1 keeps
# the cluster's directory, PYTHON.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REL_NAME=model
# shellcheck source=test/model/lib.sh
source "$here/lib.sh"

args=("$@")
if [ "${#args[@]}" -eq 0 ]; then
	args=(--seed 1 --seed 2 --seed 3 --ops 1000 --shrink-budget 60)
elif [ "${args[0]}" = --random ]; then
	args=("${args[@]:1}")
fi

rel_init "fsync = off" "synchronous_commit = off" "full_page_writes = off"
rel_start
rel_createdb
py=$(rel_python)
rc=0
"$py" "$here/model.py" --host "$REL_DIR" --port "$REL_PORT" --db "$REL_DB" "${args[@]}" || rc=$?
if grep -E 'TRAP:|PANIC:|terminated by signal' "$REL_DIR/postgres.log" >/dev/null 2>&1; then
	rel_say "the server log shows a crash:"
	grep -E -B2 -A5 'TRAP:|PANIC:|terminated by signal' "$REL_DIR/postgres.log" | tail -n 40 >&2
	rc=1
fi
exit "$rc"
