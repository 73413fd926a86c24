#!/usr/bin/env bash
# Concurrent chaos test (issue 9): 8 clients run random ledger operations
# on a few dozen customers for a while (test/chaos/chaos.py), then: no
# deadlock (server log and clients), no error but the expected PT00x/42704,
# idempotent shared refs, and points.verify() returns no rows.  Prints the
# figures and "N passed, N failed"; exits non-zero on failure.
#
#   bash test/chaos/run.sh                 # 60 seconds (the long run)
#   bash test/chaos/run.sh --seconds 10    # the short run of the test command
# Other options go to chaos.py (--clients N, --customers N, --seed N).
# The extension must be installed (make install).  Environment: REL_PORT
# (default 5624), REL_KEEP=1 keeps the cluster's directory, PYTHON.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REL_NAME=chaos
REL_PORT=${REL_PORT:-5624}
# shellcheck source=test/model/lib.sh
source "$here/../model/lib.sh"

rel_init "fsync = off" "synchronous_commit = off" "deadlock_timeout = '200ms'" \
	"log_lock_waits = on" "log_min_messages = warning" "log_min_error_statement = panic"
rel_start
rel_createdb
py=$(rel_python)
rc=0
"$py" "$here/chaos.py" --host "$REL_DIR" --port "$REL_PORT" --db "$REL_DB" \
	--log "$REL_DIR/postgres.log" "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
	rel_say "server log (last 30 lines):"
	tail -n 30 "$REL_DIR/postgres.log" >&2
fi
exit "$rc"
