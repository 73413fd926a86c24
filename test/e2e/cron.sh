#!/usr/bin/env bash
# End-to-end: pg_cron itself runs points.run_maintenance().
#
#   bash test/e2e/cron.sh
#
# Starts a throwaway server of its own (see test/e2e/lib.sh for PG_BINDIR,
# E2E_KEEP; port E2E_PORT, default 5591, socket only), then:
#  1. without pg_cron loaded, points.schedule() fails with SQLSTATE 55000
#     and a hint naming the Debian package, shared_preload_libraries,
#     cron.database_name and CREATE EXTENSION pg_cron;
#  2. restarted with pg_cron preloaded (cron.database_name = points_e2e,
#     jobs in background workers), two databases get due grants and a
#     timed-out hold: points_e2e, where pg_cron lives, and points_e2e_other,
#     which schedules through dblink.  Both schedule run_maintenance every
#     minute ('* * * * *': pg_cron 1.4, as Debian ships it, has no seconds
#     syntax), and the script polls, up to E2E_TIMEOUT seconds (default
#     150), until the scheduler itself has expired the grants and released
#     the holds in both.
# Prints one "ok"/"not ok" line per check, then PASS or FAIL; exits 0 only
# on PASS.  Removes the server and its directory on exit.
E2E_PORT=${E2E_PORT:-5591}
E2E_TIMEOUT=${E2E_TIMEOUT:-150}
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=points_e2e
OTHER=points_e2e_other

e2e_init
e2e_start
e2e_psql postgres -c "CREATE DATABASE $DB" -c "CREATE DATABASE $OTHER"
e2e_psql "$DB" -c 'CREATE EXTENSION points'

# --- 1. no pg_cron -----------------------------------------------------------

err=$(e2e_psql "$DB" -v VERBOSITY=verbose -c 'SELECT points.schedule()' 2>&1 || true)
printf '%s\n' "$err" | sed 's/^/    /'
pg_major=$(e2e_value "$DB" "SELECT current_setting('server_version_num')::int / 10000")
has() { printf '%s\n' "$err" | grep -qF -- "$1"; }
e2e_check "without pg_cron: SQLSTATE 55000" has 'ERROR:  55000:'
e2e_check "the hint names the package postgresql-$pg_major-cron" has "postgresql-$pg_major-cron"
e2e_check "the hint names shared_preload_libraries" has "shared_preload_libraries = 'pg_cron'"
e2e_check "the hint names cron.database_name" has "cron.database_name = '$DB'"
e2e_check "the hint names CREATE EXTENSION pg_cron" has "CREATE EXTENSION pg_cron"

# --- 2. the scheduler runs the maintenance ----------------------------------

e2e_stop
e2e_conf <<CONF
shared_preload_libraries = 'pg_cron'
cron.database_name = '$DB'
cron.use_background_workers = on
max_worker_processes = 20
CONF
e2e_start
e2e_psql "$DB" -c 'CREATE EXTENSION pg_cron'
e2e_psql "$OTHER" -c 'CREATE EXTENSION points' -c 'CREATE EXTENSION dblink'

# In each database: ann's A is due since yesterday, B never expires; bob's
# hold timed out half an hour ago.
setup_ledger() {
	e2e_psql "$1" >/dev/null <<'SQL'
INSERT INTO points.types (code, name, name_plural) VALUES ('e2e', 'point', 'points');
SELECT points.grant('e2e', 'ann', 10, note => 'A', at => now() - interval '30 days',
                    expires_at => now() - interval '1 day');
SELECT points.grant('e2e', 'ann', 5, note => 'B', at => now() - interval '30 days');
SELECT points.grant('e2e', 'bob', 20, note => 'C', at => now() - interval '2 hours');
SELECT points.hold('e2e', 'bob', 8, at => now() - interval '1 hour',
                   until => now() - interval '30 minutes');
SQL
}
setup_ledger "$DB"
setup_ledger "$OTHER"

e2e_check "nothing expired or released before the jobs are scheduled" \
	test "$(e2e_value "$DB" "SELECT count(*) FROM points.entries WHERE kind IN ('expire', 'release')")" = 0

job=$(e2e_value "$DB" "SELECT points.schedule('* * * * *')")
job_other=$(e2e_value "$OTHER" "SELECT points.schedule('* * * * *')")
e2e_psql "$DB" -c "SELECT jobid, schedule, command, database, jobname FROM cron.job ORDER BY jobid"
e2e_check "scheduled in $DB (job $job) and $OTHER (job $job_other)" \
	test "$(e2e_value "$DB" "SELECT count(*) FROM cron.job WHERE jobid IN ($job, $job_other)")" = 2

# Done when the due grant is expired and the hold released.
done_in() {
	[ "$(e2e_value "$1" "SELECT (SELECT count(*) FROM points.entries WHERE kind = 'expire')
	                          + (SELECT count(*) FROM points.holds WHERE status = 'released')")" = 2 ]
}

e2e_say "waiting up to ${E2E_TIMEOUT}s for pg_cron to run the jobs"
start=$SECONDS
until { done_in "$DB" && done_in "$OTHER"; } || [ $((SECONDS - start)) -ge "$E2E_TIMEOUT" ]; do
	sleep 2
done
e2e_say "waited $((SECONDS - start))s"

e2e_psql "$DB" -c "SELECT jobid, database, status, return_message, start_time IS NOT NULL AS started
                     FROM cron.job_run_details ORDER BY runid"
for db in "$DB" "$OTHER"; do
	e2e_psql "$db" -c "SELECT e.kind, e.customer, e.amount, e.actor, l.note AS grant_note
	                     FROM points.entries e LEFT JOIN points.lots l ON l.id = e.lot_id
	                    WHERE e.kind IN ('expire', 'release') ORDER BY e.id"
	e2e_check "$db: the scheduler expired A" \
		test "$(e2e_value "$db" "SELECT count(*) FROM points.entries e JOIN points.lots l ON l.id = e.lot_id
		                          WHERE e.kind = 'expire' AND l.note = 'A' AND e.amount = -10")" = 1
	e2e_check "$db: the scheduler released the timed-out hold" \
		test "$(e2e_value "$db" "SELECT string_agg(status, ',') FROM points.holds")" = released
	e2e_check "$db: B and bob's points untouched" \
		test "$(e2e_value "$db" "SELECT string_agg(customer || '=' || available, ',' ORDER BY customer)
		                          FROM points.balances WHERE type = 'e2e'")" = "ann=5,bob=20"
	e2e_check "$db: verify() finds nothing" \
		test "$(e2e_value "$db" "SELECT count(*) FROM points.verify()")" = 0
done
e2e_check "pg_cron recorded successful runs of both jobs" \
	test "$(e2e_value "$DB" "SELECT count(DISTINCT jobid) FROM cron.job_run_details
	                          WHERE jobid IN ($job, $job_other) AND status = 'succeeded'")" = 2

# unschedule() removes both jobs.
e2e_check "unschedule() in $DB" test "$(e2e_value "$DB" 'SELECT points.unschedule()')" = t
e2e_check "unschedule() in $OTHER, through dblink" test "$(e2e_value "$OTHER" 'SELECT points.unschedule()')" = t
e2e_check "no job left" test "$(e2e_value "$DB" 'SELECT count(*) FROM cron.job')" = 0

e2e_finish
