#!/usr/bin/env bash
# Crash recovery test (issue 9): clients run ledger operations with unique
# refs and log what the server acknowledged, while the server is killed
# (SIGKILL to every server process, or pg_ctl stop -m immediate) and
# restarted; then every acknowledged operation must be there, nothing may
# be half there and points.verify() must be clean (test/crash/crash.py).
# Prints PASS or FAIL and "N passed, N failed"; exits non-zero on failure.
#
#   bash test/crash/run.sh                      # 3 crash cycles, ~2 s of load each
#   bash test/crash/run.sh --cycles 10 --seconds 8
# Other options go to crash.py (--clients N, --seed N).  The extension and
# amcheck (contrib, in the postgresql-15 package) must be installed.
# Environment: REL_PORT (default 5626), REL_KEEP=1 keeps the directory.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REL_NAME=crash
REL_PORT=${REL_PORT:-5626}
# shellcheck source=test/model/lib.sh
source "$here/../model/lib.sh"

# synchronous_commit stays on: a COMMIT is acknowledged once its WAL is
# written.  fsync is off: the test kills server processes, not the machine,
# so what was written survives in the OS cache (power loss is not simulated;
# with fsync on, the end-of-recovery checkpoint makes each cycle slow).
rel_init "restart_after_crash = off" "fsync = off" "synchronous_commit = on"
rel_start
rel_createdb
logdir=$REL_DIR/clients
mkdir -p "$logdir"
py=$(rel_python)
as_postgres=()
if [ "$(id -u)" -eq 0 ]; then as_postgres=(--as-postgres); fi
rc=0
"$py" "$here/crash.py" --host "$REL_DIR" --port "$REL_PORT" --db "$REL_DB" \
	--data "$REL_DIR/data" --bindir "$PG_BINDIR" --logdir "$logdir" \
	--serverlog "$REL_DIR/postgres.log" "${as_postgres[@]}" "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
	rel_say "server log (last 30 lines):"
	tail -n 30 "$REL_DIR/postgres.log" >&2
fi
exit "$rc"
