#!/usr/bin/env bash
# End-to-end: LISTEN points receives a JSON payload for every committed
# balance change, and nothing for what rolls back.
#
#   bash test/e2e/listen.sh
#
# Starts a throwaway server of its own (see test/e2e/lib.sh for PG_BINDIR,
# E2E_KEEP; port E2E_PORT, default 5592, socket only).  One psql session
# LISTENs on channel "points" while another, with points.notify = on, runs:
#   - a committed transaction: grant 100 to ann, consume 30   -> 2 payloads
#   - a rolled-back transaction: grant 7 to ann                -> none
#   - a transaction whose savepoint rolls back a grant of 5 to bob, then
#     grants 6 to bob and commits                              -> 1 payload
#   - a grant to o'neil "jr" \ x (JSON escapes)                -> 1 payload
#   - with points.notify = off: grant 9 to carl               -> none
# The two sessions take turns through an advisory lock: the listener waits
# on it while the writer works, and psql prints the notifications it got
# once the lock is granted.  Each payload must be valid JSON holding the
# entry's type, customer, kind, amount, balance after and entry id, and the
# payloads must be exactly those of the committed entries, in commit order.
# Prints one "ok"/"not ok" line per check, then PASS or FAIL; exits 0 only
# on PASS.  Removes the server and its directory on exit.
E2E_PORT=${E2E_PORT:-5592}
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=points_e2e
LOCK=724301

e2e_init
e2e_start
e2e_psql postgres -c "CREATE DATABASE $DB"
e2e_psql "$DB" -c 'CREATE EXTENSION points' \
	-c "INSERT INTO points.types (code, name, name_plural) VALUES ('ln', 'point', 'points')"

# The writer takes the lock, waits for the listener to queue behind it,
# writes, and lets it go.
e2e_psql "$DB" >"$E2E_DIR/writer.out" 2>&1 <<SQL &
SELECT pg_advisory_lock($LOCK);
DO \$\$
BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN EXISTS (SELECT FROM pg_locks
                           WHERE locktype = 'advisory' AND objid = $LOCK AND NOT granted);
        PERFORM pg_sleep(0.05);
    END LOOP;
    IF NOT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND objid = $LOCK AND NOT granted) THEN
        RAISE EXCEPTION 'the listener never came';
    END IF;
END
\$\$;
SET points.notify = on;
BEGIN;
SELECT points.grant('ln', 'ann', 100, note => 'committed');
SELECT points.consume('ln', 'ann', 30, note => 'committed');
COMMIT;
BEGIN;
SELECT points.grant('ln', 'ann', 7, note => 'rolled back');
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT points.grant('ln', 'bob', 5, note => 'rolled back to savepoint');
ROLLBACK TO SAVEPOINT s;
SELECT points.grant('ln', 'bob', 6, note => 'committed');
COMMIT;
SELECT points.grant('ln', 'o''neil "jr" \ x', 1, note => 'committed');
SET points.notify = off;
SELECT points.grant('ln', 'carl', 9, note => 'notify off');
SELECT pg_advisory_unlock($LOCK);
SQL
writer=$!
# Until the writer holds the lock (up to 30 s).
for _ in $(seq 300); do
	if [ "$(e2e_value "$DB" "SELECT count(*) FROM pg_locks
	                         WHERE locktype = 'advisory' AND objid = $LOCK AND granted")" = 1 ]; then
		break
	fi
	sleep 0.1
done

# The listener: LISTEN, then wait for the writer's lock.
e2e_psql "$DB" >"$E2E_DIR/listener.out" 2>&1 <<SQL
LISTEN points;
SELECT pg_advisory_lock($LOCK);
SELECT pg_advisory_unlock($LOCK);
SELECT pg_sleep(0.5);
SELECT 'done';
SQL
rc=0
wait "$writer" || rc=$?
e2e_check "the writer ran" test "$rc" = 0 || cat "$E2E_DIR/writer.out"

# psql: Asynchronous notification "points" with payload "..." received
# from server process with PID n.
sed -n 's/^Asynchronous notification "points" with payload "\(.*\)" received from server process with PID [0-9]*\.$/\1/p' \
	"$E2E_DIR/listener.out" >"$E2E_DIR/payloads"
sed 's/^/    /' "$E2E_DIR/payloads"
e2e_check "4 notifications received" test "$(wc -l <"$E2E_DIR/payloads")" -eq 4

# Load the payloads, one a line and verbatim (CSV with a delimiter and a
# quote that JSON never holds), and check them against the journal.
e2e_psql "$DB" -c 'CREATE TABLE payloads (n serial, payload text)' \
	-c "\\copy payloads (payload) FROM '$E2E_DIR/payloads' WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
e2e_check "every payload is a JSON object" \
	test "$(e2e_value "$DB" "SELECT bool_and(jsonb_typeof(payload::jsonb) = 'object') FROM payloads")" = t
e2e_check "every payload holds its entry's type, customer, kind, amount, balance and entry id" \
	test "$(e2e_value "$DB" "SELECT count(*) FROM payloads p JOIN points.entries e
	                           ON e.id = (p.payload::jsonb ->> 'entry_id')::bigint
	                         WHERE p.payload::jsonb @> jsonb_build_object(
	                                 'type', e.type, 'customer', e.customer, 'kind', e.kind,
	                                 'amount', e.amount, 'balance', e.balance_after,
	                                 'entry_id', e.id)")" = 4
e2e_check "the payloads are those of the committed entries with notify on, in commit order" \
	test "$(e2e_value "$DB" "SELECT (SELECT string_agg(payload::jsonb ->> 'entry_id', ',' ORDER BY n) FROM payloads)
	                            = (SELECT string_agg(id::text, ',' ORDER BY id) FROM points.entries
	                                WHERE note = 'committed')")" = t
e2e_check "the journal has nothing rolled back, and carl's grant (notify off)" \
	test "$(e2e_value "$DB" "SELECT string_agg(kind || ' ' || amount || ' ' || note, ', ' ORDER BY id)
	                         FROM points.entries WHERE note <> 'committed'")" = "grant 9 notify off"

if [ "$E2E_FAILED" -ne 0 ]; then
	echo "--- listener output ---"
	cat "$E2E_DIR/listener.out"
fi
e2e_finish
