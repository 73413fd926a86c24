#!/usr/bin/env bash
# Where the time of each operation goes (a companion of run.sh, not a test).
#
#   bash test/bench/profile.sh [OP...]     # default: grant consume1 consume5
#                                          #   hold_capture earn transfer redeem
#                                          #   balance account quote expire
#
# Starts a throwaway server like run.sh's (port 5640) with pg_stat_statements
# preloaded and pg_stat_statements.track = all, which records the statements
# that the C functions run through SPI (toplevel = false) with their call
# counts and times; loads PROFILE_CUSTOMERS customers; then for each OP
# (a pgbench script test/bench/OP.sql):
#   1. pgbench at PROFILE_CLIENTS clients for PROFILE_SECONDS, after
#      pg_stat_statements_reset(): BENCH_OUT/pgss-OP.txt lists every
#      statement with calls per operation, mean and total time, share of
#      the operation's time, shared buffers hit/dirtied and WAL bytes;
#   2. the same run again under `perf record -g` on one of its backends:
#      BENCH_OUT/perf-OP.txt has the hottest functions, self time and with
#      their callees (perf must be installed; run as root, or with
#      kernel.perf_event_paranoid low enough);
# and prints a summary line per operation.  OP "expire" is the sweep:
# PROFILE_DUE due grants (100000, 10 per customer) loaded as run.sh does,
# then one CALL points.run_maintenance(10000), under perf, its statements
# per grant expired in BENCH_OUT/pgss-expire.txt.
#
# Environment: PROFILE_CUSTOMERS (20000), PROFILE_SECONDS (10),
# PROFILE_CLIENTS (1), PROFILE_DUE (100000), PROFILE_PERF=0 to skip perf;
# and PG_BINDIR,
# BENCH_PORT, BENCH_OUT, BENCH_KEEP, BENCH_JOBS, BENCH_MODE (lib.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OPS=("$@")
[ ${#OPS[@]} -gt 0 ] || OPS=(grant consume1 consume5 hold_capture earn transfer redeem balance account quote expire)
DUE=${PROFILE_DUE:-100000}
CUSTOMERS=${PROFILE_CUSTOMERS:-20000}
SECONDS_=${PROFILE_SECONDS:-10}
CLIENTS=${PROFILE_CLIENTS:-1}
PERF=${PROFILE_PERF:-1}
command -v perf >/dev/null || PERF=0

bench_server "shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.track_utility = off
pg_stat_statements.max = 5000"
bench_create
bench_psql -c 'CREATE EXTENSION pg_stat_statements' >/dev/null
bench_machine
echo "output:   $BENCH_OUT"
bench_load "$CUSTOMERS" 10000
bench_warmup 5 "$CUSTOMERS"

# pgss_report OP: the statements of the last run, per operation.
pgss_report() {
	bench_psql -P pager=off -c "
	WITH top AS (
	    SELECT sum(calls) AS ops, sum(total_exec_time) AS ms
	    FROM pg_stat_statements
	    WHERE toplevel AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
	      AND query !~* '^(BEGIN|COMMIT|SET|SHOW|SELECT pg_stat_statements_reset)'
	      AND query !~* '^SELECT nextval|pg_stat_statements')
	SELECT CASE WHEN s.toplevel THEN 'top' ELSE 'spi' END AS level,
	       round(s.calls / greatest(top.ops, 1), 2) AS per_op,
	       round(s.mean_exec_time::numeric * 1000, 1) AS mean_us,
	       round((s.total_exec_time / greatest(top.ops, 1))::numeric * 1000, 1) AS us_per_op,
	       round((100 * s.total_exec_time / nullif(top.ms, 0))::numeric, 1) AS pct,
	       round(s.shared_blks_hit::numeric / greatest(top.ops, 1), 1) AS hit_per_op,
	       round(s.shared_blks_dirtied::numeric / greatest(top.ops, 1), 2) AS dirtied_per_op,
	       round(s.wal_bytes / greatest(top.ops, 1)) AS wal_b_per_op,
	       regexp_replace(s.query, '\s+', ' ', 'g') AS query
	FROM pg_stat_statements s, top
	WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
	  AND s.query !~* 'pg_stat_statements'
	ORDER BY s.toplevel DESC, s.total_exec_time DESC"
}

# perf_report OP: hottest functions of the recorded backend.
perf_report() {
	{
		echo "=== $1: perf on one backend; self time"
		perf report -i "$BENCH_OUT/perf-$1.data" --no-children --stdio -g none --percent-limit 0.7 2>/dev/null | grep -v '^#' | grep -v '^$'
		echo
		echo "=== $1: with callees (children)"
		perf report -i "$BENCH_OUT/perf-$1.data" --children --stdio -g none --percent-limit 1.5 2>/dev/null | grep -v '^#' | grep -v '^$'
	} >"$BENCH_OUT/perf-$1.txt"
}

# The expiry sweep: one CALL, its statements per grant expired.
profile_expire() {
	local t0 t1 pid
	echo "profiling expire: loading $DUE due grants..." >&2
	bench_parallel due "CALL bench.load_due($DUE, $((DUE / 10)), @J@, @JOBS@)"
	bench_psql -c 'VACUUM (ANALYZE)' -c 'CHECKPOINT' -c 'SELECT pg_stat_statements_reset()' >/dev/null
	t0=$(now)
	bench_psql -c "SET application_name = 'sweep'" -c 'CALL points.run_maintenance(10000)' &
	local call=$!
	if [ "$PERF" = 1 ]; then
		for _ in $(seq 1 50); do
			pid=$(bench_value "SELECT pid FROM pg_stat_activity WHERE application_name = 'sweep' LIMIT 1")
			[ -n "$pid" ] && break
			sleep 0.1
		done
		[ -n "$pid" ] && perf record -q -g -p "$pid" -o "$BENCH_OUT/perf-expire.data" -- sleep 5 >/dev/null 2>&1 || true
	fi
	wait "$call"
	t1=$(now)
	[ "$PERF" = 1 ] && perf_report expire
	local n
	n=$(bench_value "SELECT count(*) FROM points.lots WHERE type = 'sweep' AND NOT open")
	{
		echo "=== expire: $n grants expired in $(secs "$t0" "$t1") s; per_op = per grant expired"
		bench_psql -P pager=off -c "
		SELECT CASE WHEN s.toplevel THEN 'top' ELSE 'spi' END AS level,
		       round(s.calls / $n::numeric, 3) AS per_grant,
		       round(s.mean_exec_time::numeric * 1000, 1) AS mean_us,
		       round((s.total_exec_time / $n)::numeric * 1000, 1) AS us_per_grant,
		       round(s.shared_blks_hit::numeric / $n, 1) AS hit_per_grant,
		       round(s.wal_bytes / $n) AS wal_b_per_grant,
		       regexp_replace(s.query, '\s+', ' ', 'g') AS query
		FROM pg_stat_statements s
		WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND s.query !~* 'pg_stat_statements|application_name'
		ORDER BY s.toplevel DESC, s.total_exec_time DESC"
	} >"$BENCH_OUT/pgss-expire.txt"
	SUMMARY+=("$(printf '%-14s %8.0f grants/s (%s grants in %s s)' expire "$(awk -v n="$n" -v s="$(secs "$t0" "$t1")" 'BEGIN { print n / s }')" "$n" "$(secs "$t0" "$t1")")")
}

SUMMARY=()
for op in "${OPS[@]}"; do
	if [ "$op" = expire ]; then
		profile_expire
		continue
	fi
	[ -f "$BENCH_TMP/scripts/$op.sql" ] || { bench_say "no test/bench/$op.sql"; exit 2; }
	case $op in
		earn | redeem | quote)
			bench_has_function "$op" || { SUMMARY+=("$(printf '%-14s n/a (points.%s not installed)' "$op" "$op")"); continue; } ;;
		consume5)
			bench_psql -c "SET synchronous_commit = off" -c "CALL bench.load_pool(1, 60000, 0, 1)" >/dev/null ;;
	esac
	echo "profiling $op..." >&2
	D=(-D "ncust=$CUSTOMERS" -D cust=h1)
	bench_psql -c 'SELECT pg_stat_statements_reset()' >/dev/null
	bench_pgbench "$CLIENTS" "$SECONDS_" "$op.sql" "${D[@]}"
	{
		echo "=== $op: $CLIENTS clients, $SECONDS_ s: $PGB_TPS tx/s, latency $PGB_LAT ms"
		pgss_report
	} >"$BENCH_OUT/pgss-$op.txt"
	spi=$(bench_value "SELECT round(sum(calls) / greatest((SELECT sum(calls) FROM pg_stat_statements WHERE toplevel
		AND query !~* '^SELECT nextval|pg_stat_statements|^(BEGIN|COMMIT|SET|SHOW)'), 1), 1)
		FROM pg_stat_statements WHERE NOT toplevel")
	wal=$(bench_value "SELECT round(sum(wal_bytes) / greatest((SELECT sum(calls) FROM pg_stat_statements WHERE toplevel
		AND query !~* '^SELECT nextval|pg_stat_statements|^(BEGIN|COMMIT|SET|SHOW)'), 1))
		FROM pg_stat_statements WHERE toplevel")
	line=$(printf '%-14s %8.0f tx/s  %6.3f ms  %5s SPI statements/op  %6s WAL bytes/op' "$op" "$PGB_TPS" "$PGB_LAT" "$spi" "$wal")
	if [ "$PERF" = 1 ]; then
		# the same run again, perf on one pgbench backend after it connected
		bench_pgbench "$CLIENTS" "$SECONDS_" "$op.sql" "${D[@]}" &
		pgb=$!
		pid=
		for _ in $(seq 1 50); do
			pid=$(bench_value "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND backend_type = 'client backend' LIMIT 1")
			[ -n "$pid" ] && break
			sleep 0.1
		done
		if [ -n "$pid" ]; then
			perf record -q -g -p "$pid" -o "$BENCH_OUT/perf-$op.data" -- sleep $((SECONDS_ > 3 ? SECONDS_ - 2 : 1)) >/dev/null 2>&1 || true
			perf_report "$op"
		fi
		wait "$pgb" || true
	fi
	SUMMARY+=("$line")
done

echo
printf '%s\n' "${SUMMARY[@]}"
echo "per-statement figures: $BENCH_OUT/pgss-*.txt; perf: $BENCH_OUT/perf-*.txt"
