# shellcheck shell=bash
# Shared by test/bench/run.sh and test/bench/profile.sh (sourced, not run):
# a throwaway PostgreSQL server of their own, the benchmark dataset, and
# pgbench runs reduced to medians.
#
# Environment (all optional):
#   PG_BINDIR      PostgreSQL binaries (default: $PG_CONFIG --bindir, else
#                  /usr/lib/postgresql/15/bin)
#   BENCH_PORT     port of the server (default 5640); it listens only on a
#                  unix socket in its own temporary directory
#   BENCH_OUT      directory for logs, EXPLAIN output and pgbench output
#                  (default: a new /tmp/points-bench-<time>)
#   BENCH_KEEP=1   keep the server's data directory at the end
#   BENCH_JOBS     parallel sessions that load the dataset (default: nproc)
#   BENCH_SNAPSHOT=0  run the installed PostgreSQL and extension in place;
#                  by default they are copied into the temporary directory
#                  first (50 MB), so that a `make install` by someone else
#                  during the run cannot swap points.so under it
# Run as root, the server, psql and pgbench run as the postgres OS user
# (PostgreSQL refuses root).  The extension must be installed (make install).

set -euo pipefail

if [ -z "${PG_BINDIR:-}" ]; then
	if [ -n "${PG_CONFIG:-}" ] && [ -x "$PG_CONFIG" ]; then
		PG_BINDIR=$("$PG_CONFIG" --bindir)
	else
		PG_BINDIR=/usr/lib/postgresql/15/bin
	fi
fi
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PORT=${BENCH_PORT:-5640}
BENCH_JOBS=${BENCH_JOBS:-$(nproc)}
BENCH_DB=points_bench
BENCH_TMP=
BENCH_NAME=${BENCH_NAME:-$(basename "$0" .sh)}

bench_say() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# median V...: the median of numbers (the mean of the middle two when even).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
		      else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Stop the server and remove its directory, whatever happened.
bench_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$BENCH_TMP" ]; then
		if [ -f "$BENCH_TMP/data/postmaster.pid" ]; then
			as_pg "$PG_BINDIR/pg_ctl" -D "$BENCH_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
		fi
		if [ -f "$BENCH_TMP/postgres.log" ] && [ -n "${BENCH_OUT:-}" ]; then
			cp "$BENCH_TMP/postgres.log" "$BENCH_OUT/postgres.log" 2>/dev/null || true
		fi
		if [ "${BENCH_KEEP:-}" = 1 ]; then
			bench_say "kept $BENCH_TMP"
		else
			rm -rf "$BENCH_TMP"
		fi
	fi
	exit "$rc"
}

# bench_server [EXTRA_CONF]: initdb and start a server in a temporary
# directory; synchronous_commit on, fsync on, checkpoints only when asked.
bench_server() {
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	[ -x "$PG_BINDIR/initdb" ] || { bench_say "no initdb in $PG_BINDIR (set PG_BINDIR)"; exit 2; }
	BENCH_OUT=${BENCH_OUT:-/tmp/points-bench-$(date +%Y%m%d-%H%M%S)}
	mkdir -p "$BENCH_OUT"
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/points-bench-data.XXXXXX")
	# pgbench and psql, run as postgres, read the scripts from a copy
	mkdir -p "$BENCH_TMP/scripts"
	cp "$BENCH_DIR"/*.sql "$BENCH_TMP/scripts/"
	if [ "${BENCH_SNAPSHOT:-1}" != 0 ]; then
		# PostgreSQL finds its share and lib directories relative to its
		# binaries: copy all three, keeping their layout
		local d
		for d in "$PG_BINDIR" "$("$PG_BINDIR/pg_config" --sharedir)" "$("$PG_BINDIR/pg_config" --pkglibdir)"; do
			mkdir -p "$BENCH_TMP/pg$d"
			cp -a "$d/." "$BENCH_TMP/pg$d/"
		done
		PG_BINDIR="$BENCH_TMP/pg$PG_BINDIR"
	fi
	if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$BENCH_TMP" "$BENCH_OUT"; fi
	as_pg "$PG_BINDIR/initdb" -D "$BENCH_TMP/data" -U postgres -A trust -E UTF8 --locale=C -N \
		>"$BENCH_TMP/initdb.log" 2>&1 || { cat "$BENCH_TMP/initdb.log" >&2; exit 2; }
	as_pg tee -a "$BENCH_TMP/data/postgresql.conf" >/dev/null <<-CONF
		listen_addresses = ''
		unix_socket_directories = '$BENCH_TMP'
		port = $BENCH_PORT
		max_connections = 40
		shared_buffers = 1GB
		work_mem = 16MB
		maintenance_work_mem = 256MB
		fsync = on
		synchronous_commit = on
		max_wal_size = 20GB
		checkpoint_timeout = 1h
		log_lock_waits = on
		log_line_prefix = '%m [%p] '
		${1:-}
	CONF
	as_pg "$PG_BINDIR/pg_ctl" -D "$BENCH_TMP/data" -l "$BENCH_TMP/postgres.log" -w -t 120 start >/dev/null ||
		{ tail -n 30 "$BENCH_TMP/postgres.log" >&2; exit 2; }
}

# bench_psql ARGS...: psql as superuser postgres into the bench database,
# stopping at the first error.
bench_psql() {
	as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$BENCH_TMP" -p "$BENCH_PORT" \
		-U postgres -d "$BENCH_DB" "$@"
}

# bench_value SQL: the single value a query returns.
bench_value() {
	bench_psql -At -c "$1"
}

# bench_has_function NAME: whether points.NAME exists in the installed extension.
bench_has_function() {
	[ "$(bench_value "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'points' AND p.proname = '$1'")" != 0 ]
}

bench_has_relation() {
	[ "$(bench_value "SELECT to_regclass('points.$1') IS NOT NULL")" = t ]
}

bench_machine() {
	echo "machine:  $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "kernel:   $(uname -sr)"
	echo "server:   $(bench_value 'SELECT version()')"
	echo "points:   $(bench_value "SELECT extversion FROM pg_extension WHERE extname = 'points'"), points.so of $(date -u -r "$(dirname "$PG_BINDIR")/lib/points.so" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo '?'), checkout $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')$([ -n "$(git -C "$BENCH_DIR" status --porcelain -- ../../src 2>/dev/null)" ] && echo ' (src/ modified)')$([ "${BENCH_SNAPSHOT:-1}" != 0 ] && echo '; installation copied for the run')"
	echo "settings: $(bench_value "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings
		WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_level', 'jit', 'max_connections')")"
}

# bench_create: the database, the extension and the bench schema.
bench_create() {
	as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$BENCH_TMP" -p "$BENCH_PORT" -U postgres -d postgres \
		-c "CREATE DATABASE $BENCH_DB"
	bench_psql -c 'CREATE EXTENSION points' -f "$BENCH_TMP/scripts/setup.sql" >/dev/null
}

# bench_parallel NAME SQL_WITH_@J@: run SQL in BENCH_JOBS sessions, @J@ and
# @JOBS@ replaced by the session's number and their count; wait for all.
bench_parallel() {
	local name=$1 sql=$2 j pids=()
	for ((j = 0; j < BENCH_JOBS; j++)); do
		local s=${sql//@J@/$j}
		s=${s//@JOBS@/$BENCH_JOBS}
		bench_psql -c "SET synchronous_commit = off" -c "SET points.notify = off" \
			-c "SET enable_hashjoin = off" -c "SET enable_mergejoin = off" -c "$s" \
			>"$BENCH_OUT/load-$name.$j.log" 2>&1 &
		pids+=($!)
	done
	local failed=0
	for j in "${pids[@]}"; do wait "$j" || failed=1; done
	if [ "$failed" = 1 ]; then
		cat "$BENCH_OUT"/load-"$name".*.log >&2
		bench_say "loading $name failed"
		exit 1
	fi
}

# bench_load CUSTOMERS: the main dataset (bench.load_customers in setup.sql),
# a hot customer, a history customer and a fresh one; prints what it took.
bench_load() {
	local n=$1 history=${2:-10000} t0 t1
	t0=$(now)
	# The functions prepare each statement once per session as a generic
	# plan, and a session inside one long CALL never reports statistics, so
	# nothing analyzes the tables meanwhile: plans made on empty tables
	# (sequential scans) would stay for the whole load and make it
	# quadratic.  So: a first slice in one session, ANALYZE, then the rest
	# in new sessions.  Even so the debit's UPDATE ... FROM unnest() gets a
	# hash join over all of points.lots while the table is small (see
	# docs/benchmarks.md), so the loading sessions turn hash and merge joins
	# off: their plans are made when they first run each statement.
	local seed=$((n < 1000 ? n : 1000))
	bench_psql -c "SET synchronous_commit = off" -c "SET enable_hashjoin = off" -c "SET enable_mergejoin = off" \
		-c "CALL bench.load_customers(1, $seed, 0, 1)" -c 'ANALYZE' >/dev/null
	[ "$n" -gt "$seed" ] && bench_parallel customers "CALL bench.load_customers($((seed + 1)), $n, @J@, @JOBS@)"
	t1=$(now)
	local grants entries
	grants=$(bench_value "SELECT count(*) FROM points.lots")
	entries=$(bench_value "SELECT count(*) FROM points.entries")
	echo "load:     $n customers, $grants grants, $entries entries in $(secs "$t0" "$t1") s" \
		"($(awk -v g="$entries" -v s="$(secs "$t0" "$t1")" 'BEGIN { printf "%.0f", g / s }') entries/s, $BENCH_JOBS sessions, synchronous_commit off)"
	t0=$(now)
	bench_psql -c "SET synchronous_commit = off" -c "SET enable_hashjoin = off" -c "SET enable_mergejoin = off" \
		-c "CALL bench.load_history('h1', $history)" \
		-c "CALL bench.load_history('f1', 0)" -c "CALL bench.load_history('hot', 0)" \
		-c "CALL bench.load_history('hot2', 0)" -c "SELECT bench.load_kv()" >/dev/null
	t1=$(now)
	echo "load:     history customer h1 with $(bench_value "SELECT count(*) FROM points.entries WHERE type = 'stars' AND customer = 'h1'") entries," \
		"fresh customer f1, hot customers, plain tables in $(secs "$t0" "$t1") s"
	bench_psql -c 'VACUUM (ANALYZE)' -c 'CHECKPOINT'
}

# bench_warmup SECONDS CUSTOMERS: an untimed mix of grants, consumes and
# balance reads at 8 clients after the load's checkpoint, so that the
# measurements neither pay for the first touch of each page after it (full
# page writes) nor find cold caches.  No checkpoint runs after it
# (checkpoint_timeout 1h, max_wal_size 20GB) unless a section asks for one.
bench_warmup() {
	local t0
	t0=$(now)
	bench_pgbench 8 "$1" grant.sql -f "$BENCH_TMP/scripts/consume1.sql" -f "$BENCH_TMP/scripts/balance.sql" \
		-f "$BENCH_TMP/scripts/hold_capture.sql" -D "ncust=$2"
	echo "warm-up:  $PGB_TX transactions (grant, consume, balance, hold + capture) at 8 clients in $(secs "$t0" "$(now)") s"
	bench_psql -c 'VACUUM (ANALYZE)'
}

# bench_cpu: CPU time (clock ticks, user + system) the whole server has used
# so far: the postmaster, its live children (backends, WAL writer,
# checkpointer, autovacuum) and the children it has reaped (the backends of
# finished pgbench runs), from /proc.  The difference over a run is what the
# run cost the server, whatever else the machine was doing meanwhile.
bench_cpu() {
	local pm c reaped files=()
	pm=$(head -n 1 "$BENCH_TMP/data/postmaster.pid")
	# children come and go: a file that vanished in between is skipped
	reaped=$(sed 's/^.*) //' "/proc/$pm/stat" | awk '{ print $12 + $13 + $14 + $15 }')
	for c in $(pgrep -P "$pm" || true); do files+=("/proc/$c/stat"); done
	{ [ ${#files[@]} -eq 0 ] || cat "${files[@]}" 2>/dev/null || true; } |
		awk -v t="$reaped" '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

# bench_pgbench CLIENTS SECONDS SCRIPT [PGBENCH ARGS]: one pgbench run; sets
# PGB_TPS, PGB_LAT (ms), PGB_TX (transactions), PGB_FAILED, PGB_ABORTED,
# PGB_CPU_US (server CPU microseconds per transaction: see bench_cpu) and
# PGB_LOG (its full output, in BENCH_OUT).  Not in a subshell: it counts runs.
BENCH_RUN_NO=0
BENCH_TCK=$(getconf CLK_TCK)
bench_pgbench() {
	local clients=$1 seconds=$2 script=$3
	shift 3
	local jobs=$clients rc=0 cpu0 cpu1
	[ "$jobs" -gt "$(nproc)" ] && jobs=$(nproc)
	BENCH_RUN_NO=$((BENCH_RUN_NO + 1))
	PGB_LOG="$BENCH_OUT/pgbench-$(printf '%04d' "$BENCH_RUN_NO")-${script%.sql}-c$clients.log"
	cpu0=$(bench_cpu)
	as_pg "$PG_BINDIR/pgbench" -n -h "$BENCH_TMP" -p "$BENCH_PORT" -U postgres \
		-M "${BENCH_MODE:-prepared}" -c "$clients" -j "$jobs" -T "$seconds" \
		-f "$BENCH_TMP/scripts/$script" "$@" "$BENCH_DB" >"$PGB_LOG" 2>&1 || rc=$?
	sleep 0.3	# let the postmaster reap the run's backends
	cpu1=$(bench_cpu)
	read -r PGB_TPS PGB_LAT PGB_TX PGB_FAILED PGB_ABORTED < <(awk -v rc="$rc" '
		/^tps = / { tps = $3 }
		/^latency average = / { lat = $4 }
		/^number of transactions actually processed: / { split($6, a, "/"); tx = a[1] }
		/^number of failed transactions: / { failed = $5 }
		/client [0-9]+ aborted|Run was aborted/ { aborted++ }
		END { if (tps == "") tps = 0; if (lat == "") lat = 0; if (tx == "") tx = 0;
		      if (failed == "") failed = 0; if (rc != 0 && aborted == 0) aborted = 1;
		      printf "%s %s %s %s %d\n", tps, lat, tx, failed, aborted }' "$PGB_LOG")
	PGB_CPU_US=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$PGB_TX" -v hz="$BENCH_TCK" \
		'BEGIN { if (n > 0) printf "%.1f", (b - a) * 1000000 / hz / n; else print 0 }')
	echo "server CPU per transaction: $PGB_CPU_US us" >>"$PGB_LOG"
}
