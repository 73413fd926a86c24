#!/usr/bin/env bash
# End-to-end: pg_dump and pg_restore keep the whole ledger.
#
#   bash test/e2e/dump_restore.sh
#
# Starts a throwaway server of its own (see test/e2e/lib.sh for PG_BINDIR,
# E2E_KEEP; port E2E_PORT, default 5594, socket only), then:
#  1. builds a realistic ledger in database points_src: three point types;
#     grants active, vesting, pending, confirmed, voided, expired and swept,
#     expired and not yet swept; debits, refunds, transfers, adjustments, a
#     revoke into debt; holds open, captured and released; and, where
#     points.earn() exists, tiers, customers, earn rules, earnings, rewards,
#     redemptions (one cancelled) and prices; plus a DBA's own grants: a
#     login role in points_app and SELECT on points.liability for a BI role;
#  2. dumps it three ways and restores each into a new database:
#       pg_dump -Fc  | pg_restore -d            (points_fc)
#       pg_dump -Fd  | pg_restore -j 4 -d       (points_fd, parallel: schema
#                                                points' data first, alone)
#       pg_dump -Fp  | psql                      (points_fp)
#     each must restore without a single error, the guarded ledger tables
#     included (their triggers let COPY by a superuser or the owner through);
#  3. compares each restored database with the source: every row of every
#     table of the extension, every sequence's position, the views and
#     reports (balances, grants, history, outstanding, liability, account(),
#     statement(), expiring()), every ACL, the configuration of
#     pg_extension_config_dump; and verify() finds nothing;
#  4. keeps operating in the restored database: new grants, debits, holds,
#     earn rules and redemptions get fresh ids above the restored ones, the
#     guards still refuse direct writes, verify() still finds nothing;
#  5. shows that a dump made with pg_dump --inserts cannot be restored: the
#     ledger's guards refuse INSERTs that are not the extension's own
#     (42501); restore from the default COPY format (docs/security.md).
# Prints one "ok"/"not ok" line per check, then PASS or FAIL; exits 0 only
# on PASS.  Removes the server and its directory on exit.
E2E_PORT=${E2E_PORT:-5594}
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC=points_src

e2e_init
e2e_start

pg_tool() { # pg_tool PROGRAM ARGS...: a client program against this server
	local prog=$1
	shift
	e2e_as_pg "$PG_BINDIR/$prog" -h "$E2E_DIR" -p "$E2E_PORT" -U postgres "$@"
}

# --- 1. the ledger -------------------------------------------------------------

e2e_psql postgres -c "CREATE DATABASE $SRC" \
	-c 'CREATE ROLE e2e_shop LOGIN' -c 'CREATE ROLE e2e_bi LOGIN'
e2e_psql "$SRC" -v VERBOSITY=verbose -o /dev/null <<'SQL'
CREATE EXTENSION points;
SET timezone = 'UTC';

-- What a DBA adds after installing: memberships, an extra grant.
GRANT points_app TO e2e_shop;
GRANT USAGE ON SCHEMA points TO e2e_bi;
GRANT SELECT ON points.liability TO e2e_bi;

INSERT INTO points.types (code, name, name_plural, scale, validity, expiry_rounding, time_zone,
                          clawback_policy, redeem_points, redeem_value, currency)
VALUES ('stars', 'star', 'stars', 0, '1 year', 'day', 'Asia/Kuala_Lumpur', 'debt', 100, 1, 'MYR'),
       ('credit', 'credit', 'credits', 2, NULL, 'none', 'UTC', 'partial', NULL, NULL, NULL);
INSERT INTO points.types (code, name, name_plural, consume_order, hold_timeout)
VALUES ('visits', 'visit', 'visits', 'fifo', '1 hour');

-- Customers c01..c30 in stars: a grant long ago (expired by now; the
-- debit below records that), a recent one, a debit.  c31..c40: only a
-- grant long ago, expired; the sweep records five of them, the other five
-- are due but not yet swept.
SELECT count(points.grant('stars', format('c%s', lpad(i::text, 2, '0')), 100 + i,
                          ref => 'old-' || i, at => now() - interval '400 days'))
  FROM generate_series(1, 40) i;
SELECT count(points.grant('stars', format('c%s', lpad(i::text, 2, '0')), 50 * i,
                          reason => 'purchase', ref => 'new-' || i, at => now() - interval '10 days'))
  FROM generate_series(1, 30) i;
SELECT count(points.consume('stars', format('c%s', lpad(i::text, 2, '0')), 20,
                            ref => 'order-' || i, at => now() - interval '5 days'))
  FROM generate_series(1, 30) i;
SELECT points.expire(now(), 5) AS swept;

-- Vesting, pending (one confirmed, one voided), never-expiring.
SELECT points.grant('stars', 'c01', 70, available_at => now() + interval '3 days', ref => 'vest-1');
SELECT points.grant('stars', 'c02', 80, pending => true, ref => 'pend-1') AS p1 \gset
SELECT points.grant('stars', 'c02', 90, pending => true, ref => 'pend-2') AS p2 \gset
SELECT points.grant('stars', 'c03', 60, pending => true, ref => 'pend-3');
SELECT points.confirm(:p1);
SELECT points.revoke(:p2, note => 'order cancelled');
SELECT points.grant('stars', 'c04', 500, expires_at => 'infinity', reason => 'lifetime');

-- Refunds, transfers, adjustments, a revoke into debt.
SELECT points.consume('stars', 'c05', 200, ref => 'order-big') AS big \gset
SELECT points.refund(:big, 50, ref => 'refund-1');
SELECT points.transfer('stars', 'c06', 'c07', 100, ref => 'gift-1');
SELECT points.adjust('stars', 'c08', 25, note => 'goodwill');
SELECT points.adjust('stars', 'c09', -10, note => 'correction');
SELECT points.grant('stars', 'c10', 300, ref => 'order-debt') AS d1 \gset
SELECT points.consume('stars', 'c10', 780, ref => 'spend-all');
SELECT points.revoke(:d1, policy => 'debt', note => 'chargeback');

-- Holds: open, captured (partly), released.
SELECT points.hold('stars', 'c11', 100, ref => 'hold-open', until => now() + interval '1 day');
SELECT points.hold('stars', 'c12', 100, ref => 'hold-cap') AS h2 \gset
SELECT points.capture(:h2, 60);
SELECT points.hold('stars', 'c13', 100, ref => 'hold-rel') AS h3 \gset
SELECT points.release(:h3);

-- Credits with decimals, visits in FIFO order.
SELECT points.grant('credit', 'c01', 12.34, ref => 'topup-1');
SELECT points.consume('credit', 'c01', 0.99, ref => 'coffee-1');
SELECT points.grant('visits', 'c02', 10, at => now() - interval '2 days');
SELECT points.grant('visits', 'c02', 5, at => now() - interval '1 day');
SELECT points.consume('visits', 'c02', 12);

-- Earning, tiers, rewards, prices: where this version has them.
SELECT to_regproc('points.earn') IS NOT NULL AS has_earn \gset
\if :has_earn
INSERT INTO points.tiers (type, code, name, qualify_points, multiplier)
VALUES ('stars', 'silver', 'Silver', 0, 1), ('stars', 'gold', 'Gold', 2000, 2);
INSERT INTO points.customers (type, customer, tier, multiplier) VALUES ('stars', 'c20', 'gold', 1.5);
INSERT INTO points.earn_rules (type, event, name, points, spend, min_amount)
VALUES ('stars', 'purchase', 'MYR 1 = 1 star', 1, 1, 10);
INSERT INTO points.earn_rules (type, event, name, points, per) VALUES ('stars', 'signup', 'welcome', 100, 'ever');
INSERT INTO points.rewards (type, code, name, kind, cost, value, stock)
VALUES ('stars', 'mug', 'Mug', 'product', 150, NULL, 10), ('stars', 'rm5', 'MYR 5 off', 'coupon', 500, 5, NULL);
INSERT INTO points.prices (type, currency, min_quantity, unit_price)
VALUES ('stars', 'MYR', 1, 0.02), ('stars', 'MYR', 1000, 0.015);
SELECT points.earn('stars', 'c20', 'purchase', 123.45, ref => 'earn-1');
SELECT points.earn('stars', 'c21', 'signup', ref => 'earn-2');
SELECT points.earn('stars', 'c22', 'purchase', 80, ref => 'earn-3') AS e3 \gset
SELECT points.clawback(:e3, 30, ref => 'claw-1');
SELECT id FROM points.redeem('stars', 'c20', 'mug', ref => 'redeem-1') \gset r1_
SELECT id FROM points.redeem('stars', 'c04', 'rm5', ref => 'redeem-2') \gset
SELECT points.cancel_redemption(:r1_id);
\endif

SELECT count(*) AS violations FROM points.verify();
SQL
has_earn=$(e2e_value "$SRC" "SELECT to_regproc('points.earn') IS NOT NULL")
if [ "$has_earn" = t ]; then
	e2e_say "points.earn() exists: earning, tiers, rewards and redemptions are in the ledger"
else
	e2e_say "points.earn() does not exist in this version: no earning part"
fi
e2e_check "the source ledger is consistent" \
	test "$(e2e_value "$SRC" 'SELECT count(*) FROM points.verify()')" = 0

# --- what to compare -------------------------------------------------------------

# describe DB: one line per thing compared: every table and sequence of the
# extension (rows of tables hashed in a fixed order; sequences' positions),
# views, reports as of time $T, ACLs, extconfig.  Times are printed in UTC.
# The views show now(): nothing in the ledger is due within the seconds
# between two descriptions.
describe() {
	e2e_psql "$1" -At -F ' ' -v t="$T" <<'SQL'
SET timezone = 'UTC';
SET extra_float_digits = 3;
SELECT format(CASE c.relkind
                WHEN 'S' THEN 'SELECT %1$L, last_value || '' '' || is_called FROM %1$s'
                ELSE 'SELECT %1$L, count(*) || '' '' || coalesce(md5(string_agg(t::text, E''\n'' ORDER BY t::text)), ''-'') FROM %1$s t'
              END, c.oid::regclass)
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
   AND c.relkind IN ('r', 'p', 'S', 'v')
 ORDER BY 1 \gexec
SELECT 'account()', md5(string_agg(points.account(a.type, a.customer, :'t')::text, E'\n' ORDER BY a.type, a.customer))
  FROM (SELECT DISTINCT type, customer FROM points.entries) a;
SELECT 'balance()', md5(string_agg(points.balance(a.type, a.customer, :'t')::text, E'\n' ORDER BY a.type, a.customer))
  FROM (SELECT DISTINCT type, customer FROM points.entries) a;
SELECT 'statement()', md5(string_agg(s::text, E'\n' ORDER BY a.type, a.customer, s.line))
  FROM (SELECT DISTINCT type, customer FROM points.entries) a,
       points.statement(a.type, a.customer, :'t'::timestamptz - interval '2 years', :'t') s;
SELECT 'expiring()', md5(string_agg(x::text, E'\n' ORDER BY t.code, x.grant_id))
  FROM points.types t, points.expiring(t.code, interval '2 years', :'t') x;
SELECT 'acl ' || pg_describe_object(d.classid, d.objid, 0),
       coalesce(c.relacl, p.proacl)::text
  FROM pg_depend d
  LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
  LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
   AND d.classid IN ('pg_class'::regclass, 'pg_proc'::regclass)
 ORDER BY 1;
SELECT 'acl schema points', nspacl::text, nspowner::regrole FROM pg_namespace WHERE nspname = 'points';
SELECT 'extconfig', array_agg(c::regclass::text ORDER BY c::regclass::text)
  FROM pg_extension, unnest(extconfig) c WHERE extname = 'points';
SELECT 'extension', extversion FROM pg_extension WHERE extname = 'points';
SELECT 'verify()', count(*) FROM points.verify();
SQL
}

# The reports are compared as of one time: the source's now.
T=$(e2e_value "$SRC" "SELECT now()")
describe "$SRC" >"$E2E_DIR/src.txt"
# The source must hold something in every table, else the comparison of
# that table proves little.
empty=$(awk '$1 ~ /^points\./ && $2 == "0" {print $1}' "$E2E_DIR/src.txt" | tr '\n' ' ')
e2e_check "every table of the source holds rows${empty:+ (empty: $empty)}" test -z "$empty"

# compare DB: the restored database against the source, line by line.
compare() {
	local db=$1
	describe "$db" >"$E2E_DIR/$db.txt"
	if diff -u "$E2E_DIR/src.txt" "$E2E_DIR/$db.txt" >"$E2E_DIR/$db.diff"; then
		return 0
	fi
	sed 's/^/    /' "$E2E_DIR/$db.diff"
	return 1
}

# --- 2. dump and restore -------------------------------------------------------

restore_ok() { # restore_ok DB LOG: the restore printed no error
	if grep -qE 'ERROR|error:|warning:' "$2"; then
		sed 's/^/    /' "$2"
		return 1
	fi
}

pg_tool pg_dump -Fc -f "$E2E_DIR/points.dump" "$SRC"
pg_tool pg_dump -Fd -f "$E2E_DIR/points.dir" "$SRC"
pg_tool pg_dump -Fp -f "$E2E_DIR/points.sql" "$SRC"

for db in points_fc points_fd points_fp; do
	e2e_psql postgres -c "CREATE DATABASE $db"
done
rc=0
pg_tool pg_restore --exit-on-error -d points_fc "$E2E_DIR/points.dump" >"$E2E_DIR/fc.log" 2>&1 || rc=$?
e2e_check "pg_restore -Fc: exit status 0 ($rc)" test "$rc" = 0
e2e_check "pg_restore -Fc: no error or warning" restore_ok points_fc "$E2E_DIR/fc.log"
# pg_restore -j N loads the data of all tables at once, but the tables of
# an extension keep their foreign keys and check triggers during the load
# (accounts and the configuration tables refer to types): PostgreSQL 15's
# parallel restore does not wait for the referenced table.  The way that
# works (docs/security.md): everything before the data, then the data of
# schema points alone and in order, then the rest in parallel.
rc=0
pg_tool pg_restore -j 4 -d points_fd "$E2E_DIR/points.dir" >"$E2E_DIR/fd0.log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
	e2e_say "as known: pg_restore -j 4 in one go fails ($(grep -c 'error: COPY failed' "$E2E_DIR/fd0.log") tables of points not loaded)"
else
	e2e_say "pg_restore -j 4 in one go worked this time (it need not: see docs/security.md)"
fi
e2e_psql postgres -c 'DROP DATABASE points_fd' -c 'CREATE DATABASE points_fd'
rc=0
{
	pg_tool pg_restore --exit-on-error --section=pre-data -d points_fd "$E2E_DIR/points.dir" &&
		pg_tool pg_restore --exit-on-error --section=data -n points -d points_fd "$E2E_DIR/points.dir" &&
		pg_tool pg_restore --exit-on-error -j 4 --section=data -N points -d points_fd "$E2E_DIR/points.dir" &&
		pg_tool pg_restore --exit-on-error -j 4 --section=post-data -d points_fd "$E2E_DIR/points.dir"
} >"$E2E_DIR/fd.log" 2>&1 || rc=$?
e2e_check "pg_restore -j 4 with points' data first: exit status 0 ($rc)" test "$rc" = 0
e2e_check "pg_restore -j 4 with points' data first: no error or warning" restore_ok points_fd "$E2E_DIR/fd.log"
rc=0
pg_tool psql -X -q -v ON_ERROR_STOP=1 -d points_fp -f "$E2E_DIR/points.sql" >"$E2E_DIR/fp.log" 2>&1 || rc=$?
e2e_check "psql < pg_dump -Fp: exit status 0 ($rc)" test "$rc" = 0
e2e_check "psql < pg_dump -Fp: no error" restore_ok points_fp "$E2E_DIR/fp.log"

# --- 3. the same ledger --------------------------------------------------------

for db in points_fc points_fd points_fp; do
	e2e_check "$db: every table, sequence, view, report and ACL equals the source's" compare "$db"
	e2e_check "$db: verify() finds nothing" \
		test "$(e2e_value "$db" 'SELECT count(*) FROM points.verify()')" = 0
done

# --- 4. life goes on in the restored database ----------------------------------

DB=points_fc
max_before=$(e2e_value "$DB" "SELECT (SELECT max(id) FROM points.lots) || ' ' || (SELECT max(id) FROM points.entries) || ' ' || (SELECT max(id) FROM points.holds) || ' ' || (SELECT max(id) FROM points.accounts)")
read -r lots0 entries0 holds0 accounts0 <<<"$max_before"
g1=$(e2e_value "$DB" "SET ROLE e2e_shop; SELECT points.grant('stars', 'c30', 10, ref => 'after-restore-1')")
e2e_check "the app's login role grants: a new grant id above the restored ones ($g1 > $lots0)" test "${g1:-0}" -gt "$lots0"
e1=$(e2e_value "$DB" "SET ROLE e2e_shop; SELECT points.consume('stars', 'c30', 5, ref => 'after-restore-2')")
e2e_check "a new debit gets an entry id above the restored ones ($e1 > $entries0)" test "${e1:-0}" -gt "$entries0"
e2e_value "$DB" "SELECT points.grant('stars', 'newcomer', 42)" >/dev/null
acc1=$(e2e_value "$DB" "SELECT max(id) FROM points.accounts")
e2e_check "a new customer gets a fresh account ($acc1 > $accounts0)" test "${acc1:-0}" -gt "$accounts0"
e2e_check "and its balance is right" test "$(e2e_value "$DB" "SELECT points.balance('stars', 'newcomer')")" = 42
hold=$(e2e_value "$DB" "SELECT points.hold('stars', 'c30', 5)")
e2e_check "a new hold gets an id above the restored ones ($hold > $holds0)" test "${hold:-0}" -gt "$holds0"
if [ "$has_earn" = t ]; then
	rules0=$(e2e_value "$DB" 'SELECT max(id) FROM points.earn_rules')
	red0=$(e2e_value "$DB" 'SELECT max(id) FROM points.redemptions')
	rule=$(e2e_value "$DB" "INSERT INTO points.earn_rules (type, event, points) VALUES ('stars', 'review', 20) RETURNING id")
	e2e_check "a new earn rule gets an id above the restored ones ($rule > $rules0)" test "$rule" -gt "$rules0"
	earned=$(e2e_value "$DB" "SELECT points.earn('stars', 'c30', 'review')")
	e2e_check "earn() by the new rule works" \
		test "$(e2e_value "$DB" "SELECT amount FROM points.grants WHERE id = ${earned:-0}")" = 20
	red=$(e2e_value "$DB" "SELECT id FROM points.redeem('stars', 'c04', 'mug')")
	e2e_check "a new redemption gets an id above the restored ones ($red > $red0)" test "$red" -gt "$red0"
	e2e_check "an idempotent retry of a restored ref returns the restored result" \
		test "$(e2e_value "$DB" "SELECT id FROM points.redeem('stars', 'c04', 'rm5', ref => 'redeem-2')")" = \
		"$(e2e_value "$SRC" "SELECT id FROM points.redemptions WHERE ref = 'redeem-2'")"
fi
e2e_check "an idempotent retry of a restored grant returns the restored id" \
	test "$(e2e_value "$DB" "SELECT points.grant('stars', 'c07', 350, reason => 'purchase', ref => 'new-7', at => (SELECT at FROM points.grants WHERE ref = 'new-7'))")" = \
	"$(e2e_value "$SRC" "SELECT id FROM points.grants WHERE ref = 'new-7'")"
refused() { # refused DB SQL: fails with 42501
	local err
	err=$(e2e_psql "$1" -v VERBOSITY=verbose -c "$2" 2>&1 || true)
	printf '%s\n' "$err" | grep -q 'ERROR:  42501'
}
e2e_check "the restored guards refuse UPDATE of the journal (42501)" \
	refused "$DB" "UPDATE points.entries SET amount = amount + 1"
e2e_check "the restored guards refuse INSERT into lots outside the functions (42501)" \
	refused "$DB" "INSERT INTO points.lots (account_id, type, customer, amount, remaining, status, reason, available_at, expires_at, at) VALUES (1, 'stars', 'x', 1, 1, 'active', 'forged', now(), 'infinity', now())"
e2e_check "the restored roles keep their privileges: e2e_bi reads liability, not balances" \
	test "$(e2e_value "$DB" "SELECT has_table_privilege('e2e_bi', 'points.liability', 'SELECT') AND NOT has_table_privilege('e2e_bi', 'points.balances', 'SELECT')")" = t
e2e_check "after all that, verify() finds nothing" \
	test "$(e2e_value "$DB" 'SELECT count(*) FROM points.verify()')" = 0

# --- 5. pg_dump --inserts: refused by the guards --------------------------------

pg_tool pg_dump --inserts -Fp -f "$E2E_DIR/inserts.sql" "$SRC"
e2e_psql postgres -c 'CREATE DATABASE points_ins'
pg_tool psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d points_ins -f "$E2E_DIR/inserts.sql" \
	>"$E2E_DIR/ins.log" 2>&1 || true
e2e_check "a pg_dump --inserts dump stops at the first ledger row: 42501 from the guards" \
	grep -q 'ERROR:  42501: INSERT on [a-z]* is not allowed' "$E2E_DIR/ins.log"

e2e_finish
