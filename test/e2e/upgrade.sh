#!/usr/bin/env bash
# End-to-end: an upgraded install equals a fresh one.
#
#   bash test/e2e/upgrade.sh
#
# Starts a throwaway server of its own (see test/e2e/lib.sh for PG_BINDIR,
# E2E_KEEP; port E2E_PORT, default 5595, socket only).  The versions are
# those PostgreSQL finds installed (pg_available_extension_versions): the
# released install scripts src/points--X.Y.Z.sql, frozen, and the one of
# the version in development, built from src/sql/*.sql (docs/security.md,
# "Upgrading").  Then:
#  1. a fresh install of the default version, in its own database, is the
#     reference;
#  2. for every released version, oldest first: install it, put a small
#     ledger in it, ALTER EXTENSION points UPDATE along the chain of
#     upgrade scripts, and compare the catalog's description of the
#     extension with the reference: every member object with its
#     definition (function definitions with their settings, columns,
#     defaults, constraints, indexes, triggers and whether they fire
#     always, view definitions, sequences), comments, owners, ACLs and
#     initial privileges, what pg_dump keeps (extconfig), the roles and
#     their nesting.  Any difference fails, and is shown.  The ledger must
#     pass verify() after the upgrade;
#  3. shows that the comparison sees differences: three small changes to
#     a fresh install (a function setting, a grant, a column default) must
#     each be reported.
# When no version has been released yet, step 2 walks from the current
# version to itself and says so: the check is then of the machinery only.
# Prints one "ok"/"not ok" line per check, then PASS or FAIL; exits 0 only
# on PASS.  Removes the server and its directory on exit.
E2E_PORT=${E2E_PORT:-5595}
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init
e2e_start

# describe DB: the extension as the catalog has it, one item per line, no
# OIDs, in a fixed order.
describe() {
	e2e_psql "$1" -At -F ' | ' <<'SQL'
SET search_path = pg_catalog;
CREATE TEMP VIEW m AS
SELECT d.classid, d.objid, pg_describe_object(d.classid, d.objid, 0) AS name
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points');
SELECT 'extension', extversion, extrelocatable, extnamespace::regnamespace, extowner::regrole
  FROM pg_extension WHERE extname = 'points';
SELECT 'extconfig', c::regclass, x
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(c, x)
 WHERE e.extname = 'points' ORDER BY 2::text;
SELECT 'schema', nspname, nspowner::regrole, nspacl FROM pg_namespace WHERE nspname = 'points';
SELECT 'member', name FROM m ORDER BY 2;
SELECT 'not a member', pg_describe_object(d.classid, d.objid, 0)
  FROM pg_depend d
 WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = 'points'::regnamespace
   AND d.classid <> 'pg_extension'::regclass
   AND NOT EXISTS (SELECT FROM m WHERE m.classid = d.classid AND m.objid = d.objid)
 ORDER BY 2;
-- Routines: the whole definition (arguments, defaults, result, language,
-- volatility, strictness, parallel safety, SECURITY DEFINER, SET clauses,
-- body or symbol), owner, ACL, initial privileges, comment.
SELECT 'routine', m.name, pg_get_functiondef(p.oid), p.proowner::regrole, p.proacl,
       i.initprivs, obj_description(p.oid, 'pg_proc'), p.procost, p.prorows, p.proleakproof
  FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
  LEFT JOIN pg_init_privs i ON i.classoid = m.classid AND i.objoid = m.objid AND i.objsubid = 0
 ORDER BY 2;
-- Relations.
SELECT 'relation', m.name, c.relkind, c.relpersistence, c.reloptions, c.relowner::regrole, c.relacl,
       i.initprivs, c.relrowsecurity, c.relforcerowsecurity, c.relreplident,
       obj_description(c.oid, 'pg_class')
  FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  LEFT JOIN pg_init_privs i ON i.classoid = m.classid AND i.objoid = m.objid AND i.objsubid = 0
 ORDER BY 2;
SELECT 'column', m.name, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), a.attgenerated, a.attidentity, a.attcollation::regcollation,
       a.attstorage, a.attacl, i.initprivs, col_description(c.oid, a.attnum)
  FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  LEFT JOIN pg_init_privs i ON i.classoid = 'pg_class'::regclass AND i.objoid = c.oid AND i.objsubid = a.attnum
 WHERE c.relkind <> 'S'
 ORDER BY 2, 3;
SELECT 'constraint', m.name, co.conname, pg_get_constraintdef(co.oid), co.condeferrable, co.condeferred
  FROM m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
 ORDER BY 2, 3;
SELECT 'index', m.name, pg_get_indexdef(x.indexrelid), ic.reloptions
  FROM m JOIN pg_index x ON m.classid = 'pg_class'::regclass AND x.indrelid = m.objid
  JOIN pg_class ic ON ic.oid = x.indexrelid
 ORDER BY 2, 3;
SELECT 'trigger', m.name, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
  FROM m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid AND NOT t.tgisinternal
 ORDER BY 2, 3;
SELECT 'view', m.name, pg_get_viewdef(m.objid, true)
  FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid AND c.relkind IN ('v', 'm')
 ORDER BY 2;
SELECT 'sequence', m.name, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin,
       s.seqcache, s.seqcycle,
       (SELECT pg_describe_object(o.refclassid, o.refobjid, o.refobjsubid) FROM pg_depend o
         WHERE o.classid = 'pg_class'::regclass AND o.objid = m.objid AND o.deptype IN ('a', 'i')
           AND o.refclassid = 'pg_class'::regclass) AS owned_by
  FROM m JOIN pg_sequence s ON m.classid = 'pg_class'::regclass AND s.seqrelid = m.objid
 ORDER BY 2;
SELECT 'type', m.name, t.typtype, t.typowner::regrole, t.typacl,
       (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
          FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
       obj_description(t.oid, 'pg_type')
  FROM m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
 ORDER BY 2;
-- Anything else a future version may add (operators, casts, event
-- triggers...) shows at least as a member above; say which catalogs to
-- describe here when one appears.
SELECT 'undescribed member', m.name FROM m
 WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_type'::regclass)
 ORDER BY 2;
SELECT 'role', rolname, rolcanlogin, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolreplication,
       rolbypassrls,
       (SELECT string_agg(g.rolname, ', ' ORDER BY g.rolname) FROM pg_auth_members a
          JOIN pg_roles g ON g.oid = a.roleid WHERE a.member = r.oid)
  FROM pg_roles r WHERE rolname LIKE 'points\_%' ORDER BY 2;
SQL
}

differs() { # differs DB: DB's description differs from the reference's
	describe "$1" >"$E2E_DIR/$1.txt"
	! diff -u "$E2E_DIR/reference.txt" "$E2E_DIR/$1.txt" >"$E2E_DIR/$1.diff"
}

compare() { # compare DB: the same as the reference; else show the first differences
	if differs "$1"; then
		sed 's/^/    /' "$E2E_DIR/$1.diff" | head -n 80
		return 1
	fi
}

# --- 1. the reference ---------------------------------------------------------------

current=$(e2e_value postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'points'")
e2e_psql postgres -c 'CREATE DATABASE points_fresh'
e2e_psql points_fresh -c 'CREATE EXTENSION points'
describe points_fresh >"$E2E_DIR/reference.txt"
e2e_check "the reference (a fresh install of $current) describes $(grep -c '^member' "$E2E_DIR/reference.txt") member objects" \
	test "$(grep -c '^member' "$E2E_DIR/reference.txt")" -gt 0
e2e_check "every member object is described" \
	test "$(grep -c '^undescribed member' "$E2E_DIR/reference.txt")" = 0

# --- 2. every released version, updated ------------------------------------------------

mapfile -t released < <(e2e_value postgres "
	SELECT version FROM pg_available_extension_versions
	 WHERE name = 'points' AND version <> '$current'
	 ORDER BY string_to_array(version, '.')::int[]")
if [ "${#released[@]}" -eq 0 ]; then
	e2e_say "no released version yet (no frozen src/points--X.Y.Z.sql): walking from the current version $current to itself; this checks the machinery only"
	released=("$current")
else
	e2e_say "released versions: ${released[*]} (oldest first); current: $current"
fi

n=0
for v in "${released[@]}"; do
	n=$((n + 1))
	db=points_from_$n
	e2e_psql postgres -c "CREATE DATABASE $db"
	e2e_check "CREATE EXTENSION points VERSION '$v'" \
		e2e_psql "$db" -c "CREATE EXTENSION points VERSION '$v'"
	if [ "$v" != "$current" ]; then
		e2e_check "an update path from $v to $current exists" \
			test -n "$(e2e_value "$db" "SELECT path FROM pg_extension_update_paths('points') WHERE source = '$v' AND target = '$current' AND path IS NOT NULL")"
	fi
	# A small ledger with the oldest API (grant, consume, hold): it must
	# come through the update intact.
	e2e_psql "$db" -o /dev/null <<'SQL'
INSERT INTO points.types (code, name, name_plural, validity) VALUES ('up', 'point', 'points', '1 year');
SELECT points.grant('up', 'ann', 100, at => now() - interval '400 days');
SELECT points.grant('up', 'ann', 50);
SELECT points.consume('up', 'ann', 20);
SELECT points.grant('up', 'bob', 30);
SELECT points.hold('up', 'bob', 10);
SQL
	before=$(e2e_value "$db" "SELECT string_agg(type || ':' || customer || ':' || points.balance(type, customer), ' ' ORDER BY type, customer) FROM points.accounts")
	e2e_check "ALTER EXTENSION points UPDATE from $v" \
		e2e_psql "$db" -c 'SET client_min_messages = warning' -c 'ALTER EXTENSION points UPDATE'
	e2e_check "now at version $current" \
		test "$(e2e_value "$db" "SELECT extversion FROM pg_extension WHERE extname = 'points'")" = "$current"
	e2e_check "updated from $v: the extension equals a fresh install of $current" compare "$db"
	after=$(e2e_value "$db" "SELECT string_agg(type || ':' || customer || ':' || points.balance(type, customer), ' ' ORDER BY type, customer) FROM points.accounts")
	e2e_check "updated from $v: balances unchanged ($after)" test "$before" = "$after"
	e2e_check "updated from $v: verify() finds nothing" \
		test "$(e2e_value "$db" 'SELECT count(*) FROM points.verify()')" = 0
done

# --- 3. the comparison sees a difference -------------------------------------------------

mutant() { # mutant NAME SQL: a fresh install changed by SQL must differ
	local db=points_mutant_$1
	e2e_psql postgres -c "CREATE DATABASE $db"
	e2e_psql "$db" -c 'CREATE EXTENSION points' -c "$2"
	differs "$db"
}
e2e_check "the comparison sees a changed function setting" \
	mutant setting "ALTER FUNCTION points.balance(text, text, timestamptz) SET search_path = public"
e2e_check "the comparison sees an extra grant" \
	mutant grant "GRANT EXECUTE ON FUNCTION points.consume(text, text, numeric, text, text, timestamptz) TO PUBLIC"
e2e_check "the comparison sees a changed column default" \
	mutant default "ALTER TABLE points.types ALTER COLUMN scale SET DEFAULT 2"

e2e_finish
