#!/usr/bin/env bash
# Benchmark: the expiry sweep against a bare set-based UPDATE.
#
#   bash test/bench/expire.sh
#
# Starts a throwaway server of its own (unix socket only, in a temporary
# directory; removed at the end), loads GRANTS due grants (default
# 1,000,000) spread over CUSTOMERS customers (default 100,000) with
# points.grant() in JOBS parallel sessions (default: the number of CPUs),
# committing every 10,000 grants, then in the same run times
#   1. CALL points.run_maintenance(): an allocation and a lot update per
#      grant, an expire entry and an account update per account (and
#      instant), in batches of BATCH (default 10,000) with a COMMIT after
#      each;
#   2. one UPDATE of as many rows of a plain table with the same columns as
#      points.lots (a copy, primary key only), setting remaining to 0;
# and prints rows/second for both and their ratio.  A benchmark, not a
# test: it prints numbers and checks only that everything due expired.
#
# Environment: PG_BINDIR, E2E_KEEP=1 (see test/e2e/lib.sh); BENCH_PORT
# (default 5593); GRANTS, CUSTOMERS, JOBS, BATCH as above.  Needs the points
# extension installed (make install) and a few GB of disk for the WAL.
E2E_PORT=${BENCH_PORT:-5593}
GRANTS=${GRANTS:-1000000}
CUSTOMERS=${CUSTOMERS:-100000}
JOBS=${JOBS:-$(nproc)}
BATCH=${BATCH:-10000}
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
E2E_NAME=bench-expire

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

e2e_init
e2e_conf <<CONF
shared_buffers = 1GB
max_wal_size = 20GB
checkpoint_timeout = 1h
fsync = on
CONF
e2e_start
DB=points_bench
e2e_psql postgres -c "CREATE DATABASE $DB"
e2e_psql "$DB" -c 'CREATE EXTENSION points' \
	-c "INSERT INTO points.types (code, name, name_plural) VALUES ('bench', 'point', 'points')"

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "server:  $(e2e_value "$DB" 'SELECT version()')"
echo "loading $GRANTS due grants over $CUSTOMERS customers in $JOBS sessions"

# Session j of JOBS grants i = j, j + JOBS, ...: to customer i % CUSTOMERS,
# each due at its own time in 2024 (oldest due first is an index order).
t0=$(now)
pids=()
for ((j = 0; j < JOBS; j++)); do
	e2e_psql "$DB" >"$E2E_DIR/load.$j.log" 2>&1 <<SQL &
SET synchronous_commit = off;
SET points.notify = off;
DO \$\$
DECLARE
    i bigint := $j;
BEGIN
    WHILE i < $GRANTS LOOP
        PERFORM points.grant('bench', 'c' || (i % $CUSTOMERS), 10,
                             at => '2024-01-01 00:00+00',
                             expires_at => '2024-02-01 00:00+00'::timestamptz + (i % 100000) * interval '1 minute');
        i := i + $JOBS;
        IF i % 10000 < $JOBS THEN
            COMMIT;
        END IF;
    END LOOP;
END
\$\$;
SQL
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || { cat "$E2E_DIR"/load.*.log; e2e_say "load failed"; exit 1; }
done
t1=$(now)
loaded=$(e2e_value "$DB" 'SELECT count(*) FROM points.lots')
echo "loaded:  $loaded grants in $(secs "$t0" "$t1") s ($(rate "$loaded" "$(secs "$t0" "$t1")") grants/s)"

# The plain table: the same columns as points.lots, the same rows.
e2e_psql "$DB" -c 'CREATE TABLE plain AS SELECT * FROM points.lots' \
	-c 'ALTER TABLE plain ADD PRIMARY KEY (id)' \
	-c 'VACUUM (ANALYZE)' -c 'CHECKPOINT'
echo "sizes:   points.lots $(e2e_value "$DB" "SELECT pg_size_pretty(pg_table_size('points.lots'))"), plain $(e2e_value "$DB" "SELECT pg_size_pretty(pg_table_size('plain'))")"

# 1. the sweep, as pg_cron runs it (notify off, synchronous_commit on)
t0=$(now)
e2e_psql "$DB" -c "CALL points.run_maintenance($BATCH)"
t1=$(now)
sweep=$(secs "$t0" "$t1")
expired=$(e2e_value "$DB" "SELECT count(*) FROM points.lots WHERE NOT open")
left=$(e2e_value "$DB" "SELECT count(*) FROM points.lots WHERE open")
e2e_psql "$DB" -c 'CHECKPOINT'

# 2. the bare set-based UPDATE of as many rows
t0=$(now)
e2e_psql "$DB" -c 'UPDATE plain SET remaining = 0'
t1=$(now)
update=$(secs "$t0" "$t1")

echo
printf '%-36s %10s %12s %14s\n' "" rows seconds rows/s
printf '%-36s %10d %12s %14s\n' "CALL points.run_maintenance($BATCH)" "$expired" "$sweep" "$(rate "$expired" "$sweep")"
printf '%-36s %10d %12s %14s\n' "UPDATE plain SET remaining = 0" "$loaded" "$update" "$(rate "$loaded" "$update")"
echo "ratio:   the sweep takes $(awk -v a="$sweep" -v b="$update" 'BEGIN { printf "%.1f", a / b }')x the time of the bare UPDATE"
e2e_check "every due grant expired, once" test "$expired" = "$loaded" -a "$left" = 0
e2e_finish
