-- The roles at work (docs/security.md "Roles"): login roles that are
-- members of points_reader, points_app and points_admin, and one that is a
-- member of nothing (PUBLIC), each SET ROLE in turn and
--   - doing what its role allows, for real (the calls succeed), and
--   - failing with 42501 at everything else: every routine of the
--     extension it may not execute (called with NULL arguments: the
--     privilege check comes first), every table and view it may not read,
--     every write it may not make, every sequence it may not advance.
-- The forbidden list is derived from the catalog, so a new object is
-- tested too; 10-privileges.sql says which privileges each role should have.
-- Direct writes to the ledger tables fail for app and admin as for anyone.
-- Type codes of this file start with tap_.
BEGIN;
SET LOCAL search_path = public;
SET LOCAL client_min_messages = warning;

CREATE ROLE tap_nobody LOGIN;
CREATE ROLE tap_reader LOGIN IN ROLE points_reader;
CREATE ROLE tap_app LOGIN IN ROLE points_app;
CREATE ROLE tap_admin LOGIN IN ROLE points_admin;

-- Every statement a role may not run, with what it tries: derived from
-- has_*_privilege, computed here as the superuser.  Trigger functions are
-- left out (they cannot be called directly at all), and so are writes to
-- views (PostgreSQL refuses them as "cannot update view" before checking
-- privileges; no role may write any view).
CREATE TEMP TABLE forbidden AS
WITH members AS (
    SELECT classid, objid FROM pg_depend
     WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
       AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
), roles(r) AS (VALUES ('tap_nobody'), ('tap_reader'), ('tap_app'), ('tap_admin'))
SELECT r AS role,
       CASE p.prokind WHEN 'p' THEN 'CALL ' ELSE 'SELECT ' END
       || format('%I.%I(', n.nspname, p.proname)
       || coalesce((SELECT string_agg('NULL::' || format_type(t, NULL), ', ' ORDER BY i)
                      FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i)), '')
       || ')' AS stmt
  FROM members m
  JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
  JOIN pg_namespace n ON n.oid = p.pronamespace
 CROSS JOIN roles
 WHERE p.prorettype <> 'trigger'::regtype
   AND NOT has_function_privilege(r, p.oid, 'EXECUTE')
UNION ALL
SELECT r, format(s.fmt, c.oid::regclass,
                 (SELECT quote_ident(attname) FROM pg_attribute
                   WHERE attrelid = c.oid AND attnum = 1))
  FROM members m
  JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
 CROSS JOIN roles
 CROSS JOIN LATERAL (VALUES
        ('SELECT', 'SELECT * FROM %s', 'rvS'),
        ('INSERT', 'INSERT INTO %s DEFAULT VALUES', 'r'),
        ('UPDATE', 'UPDATE %s SET %s = NULL', 'r'),
        ('DELETE', 'DELETE FROM %s', 'r'),
        ('TRUNCATE', 'TRUNCATE %s', 'r'),
        ('USAGE', 'SELECT nextval(''%s'')', 'S'),
        ('UPDATE', 'SELECT setval(''%s'', 1)', 'S')) AS s(priv, fmt, kinds)
 WHERE strpos(s.kinds, c.relkind::text) > 0
   AND CASE
        WHEN c.relkind = 'S' AND s.priv = 'USAGE'
            THEN NOT has_sequence_privilege(r, c.oid, 'USAGE') AND NOT has_sequence_privilege(r, c.oid, 'UPDATE')
        WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(r, c.oid, s.priv)
        ELSE NOT has_table_privilege(r, c.oid, s.priv)
       END;
GRANT SELECT ON forbidden TO PUBLIC;

SELECT plan(70 + (SELECT count(*)::integer FROM forbidden));

-- pgTAP keeps its state in temporary tables of the superuser that
-- started it: let the test roles record their results.
GRANT ALL ON __tcache__ TO tap_nobody, tap_reader, tap_app, tap_admin;
GRANT ALL ON SEQUENCE __tcache___id_seq, __tresults___numb_seq
    TO tap_nobody, tap_reader, tap_app, tap_admin;

-- Configuration, as the superuser: a type with a redemption rate, a tier,
-- an earn rule, a reward, a price.
INSERT INTO points.types (code, name, name_plural, redeem_points, redeem_value, currency)
VALUES ('tap_pts', 'point', 'points', 100, 1, 'MYR');
INSERT INTO points.tiers (type, code, name, qualify_points) VALUES ('tap_pts', 'base', 'Base', 0);
INSERT INTO points.earn_rules (type, event, name, points) VALUES ('tap_pts', 'signup', 'welcome', 50);
INSERT INTO points.rewards (type, code, name, kind, cost) VALUES ('tap_pts', 'mug', 'Mug', 'product', 100);
INSERT INTO points.prices (type, currency, min_quantity, unit_price) VALUES ('tap_pts', 'MYR', 1, 0.01);

----------------------------------------------------------------------
-- PUBLIC: a role with no membership can do nothing at all.
----------------------------------------------------------------------
SELECT 'points.from_units(bigint,integer)'::regprocedure::oid AS from_units \gset
SET ROLE tap_nobody;

SELECT throws_ok(stmt, '42501', NULL, 'PUBLIC: ' || stmt)
  FROM forbidden WHERE role = 'tap_nobody' ORDER BY stmt;
-- 1-3: from_units is executable by PUBLIC, but the schema is not usable:
-- only the views, with their owner's rights, reach it by name.
SELECT ok(has_function_privilege(:from_units, 'EXECUTE'),
    'PUBLIC: may execute points.from_units');
SELECT throws_ok('SELECT points.from_units(150, 2)', '42501', NULL,
    'PUBLIC: cannot reach schema points by name, not even from_units');
SELECT ok(NOT has_schema_privilege('points', 'USAGE'), 'PUBLIC: no USAGE on schema points');

RESET ROLE;

----------------------------------------------------------------------
-- points_reader: reports, nothing that writes.
----------------------------------------------------------------------

-- Something to read: an account with a grant, a debit and an open hold.
SELECT points.grant('tap_pts', 'alice', 1000, at => now() - interval '1 day') AS g0 \gset
SELECT points.consume('tap_pts', 'alice', 100) AS c0 \gset
SELECT points.hold('tap_pts', 'alice', 50, ref => 'tap-order-0') AS h0 \gset

SET ROLE tap_reader;

SELECT throws_ok(stmt, '42501', NULL, 'reader: ' || stmt)
  FROM forbidden WHERE role = 'tap_reader' ORDER BY stmt;
-- 4-20: what a reader may do.
SELECT is(points.balance('tap_pts', 'alice'), 850::numeric, 'reader: balance()');
SELECT is((points.account('tap_pts', 'alice')).held, 50::numeric, 'reader: account()');
SELECT is(points.format('tap_pts', 850), '850 points', 'reader: format()');
SELECT is(points.value('tap_pts', 850), 8.50, 'reader: value()');
SELECT is(points.tier('tap_pts', 'alice'), 'base', 'reader: tier()');
SELECT is((SELECT count(*) FROM points.statement('tap_pts', 'alice', now() - interval '2 days', now() + interval '1 second')),
    5::bigint, 'reader: statement() (opening, grant, consume, hold, closing)');
SELECT lives_ok($$SELECT * FROM points.expiring('tap_pts', '30 days')$$, 'reader: expiring()');
SELECT is((SELECT available FROM points.balances WHERE type = 'tap_pts' AND customer = 'alice'),
    850::numeric, 'reader: points.balances');
SELECT is((SELECT remaining FROM points.grants WHERE id = :g0), 850::numeric, 'reader: points.grants');
SELECT is((SELECT count(*) FROM points.history WHERE type = 'tap_pts'), 3::bigint, 'reader: points.history');
SELECT is((SELECT count(*) FROM points.entries WHERE type = 'tap_pts'), 3::bigint, 'reader: points.entries');
SELECT is((SELECT count(*) FROM points.outstanding WHERE type = 'tap_pts'), 1::bigint, 'reader: points.outstanding');
SELECT is((SELECT outstanding FROM points.liability WHERE type = 'tap_pts'), 900::numeric, 'reader: points.liability');
SELECT is((SELECT count(*) FROM points.holds WHERE id = :h0), 1::bigint, 'reader: points.holds');
SELECT is((SELECT sum(amount) FROM points.allocations WHERE entry_id = :c0), 100::numeric, 'reader: points.allocations');
SELECT lives_ok($$SELECT t.*, r.*, p.*, e.*, c.*, n.*
                    FROM points.types t, points.tiers r, points.prices p, points.earn_rules e,
                         points.rewards c LEFT JOIN points.customers n ON false
                   WHERE t.code = 'tap_pts'$$,
    'reader: the configuration tables');
SELECT lives_ok($$SELECT id, status, cost FROM points.redemptions$$,
    'reader: points.redemptions without the codes');
-- 21-22: but not the codes, nor anything that spends.
SELECT throws_ok($$SELECT code FROM points.redemptions$$, '42501', NULL,
    'reader: cannot read redemption codes');
SELECT throws_ok($$SELECT points.consume('tap_pts', 'alice', 1)$$, '42501', NULL,
    'reader: cannot consume');

RESET ROLE;

----------------------------------------------------------------------
-- points_app: an application's day, then what it may not do.
----------------------------------------------------------------------
SET ROLE tap_app;

SELECT throws_ok(stmt, '42501', NULL, 'app: ' || stmt)
  FROM forbidden WHERE role = 'tap_app' ORDER BY stmt;

-- 23-45: the order lifecycle.
SELECT points.grant('tap_pts', 'bob', 500, ref => 'tap-g1') AS g1 \gset
SELECT ok(:g1 > 0, 'app: grant()');
SELECT points.grant('tap_pts', 'bob', 200, pending => true) AS g2 \gset
SELECT lives_ok('SELECT points.confirm(' || :g2 || ')', 'app: confirm()');
SELECT points.consume('tap_pts', 'bob', 100, ref => 'tap-c1') AS c1 \gset
SELECT ok(:c1 > 0, 'app: consume()');
SELECT ok(points.refund(:c1, 40) > 0, 'app: refund()');
SELECT points.hold('tap_pts', 'bob', 60) AS h1 \gset
SELECT ok(points.capture(:h1, 50) > 0, 'app: hold() and capture()');
SELECT points.hold('tap_pts', 'bob', 30) AS h2 \gset
SELECT lives_ok('SELECT points.release(' || :h2 || ')', 'app: release()');
SELECT ok(points.transfer('tap_pts', 'bob', 'carol', 90) > 0, 'app: transfer()');
SELECT points.earn('tap_pts', 'dave', 'signup') AS e1 \gset
SELECT is((SELECT amount FROM points.grants WHERE id = :e1), 50::numeric, 'app: earn()');
SELECT ok(points.clawback(:e1) > 0, 'app: clawback()');
SELECT is((points.quote('tap_pts', 'bob', 3.00)).points, 300::numeric, 'app: quote()');
SELECT is(points.price('tap_pts', 1000), 10.00, 'app: price()');
SELECT * FROM points.redeem('tap_pts', 'bob', 'mug') \gset r1_
SELECT is(length(:'r1_code'), 16, 'app: redeem() returns a code');
SELECT is((SELECT code FROM points.redemptions WHERE id = :r1_id), :'r1_code', 'app: reads redemption codes');
SELECT is((points.cancel_redemption(:r1_id)).status, 'cancelled', 'app: cancel_redemption()');
SELECT is(points.balance('tap_pts', 'bob'), 500::numeric, 'app: balance() after it all');
SELECT is((points.account('tap_pts', 'carol')).available, 90::numeric, 'app: account()');
SELECT lives_ok($$SELECT * FROM points.balances, points.history, points.liability LIMIT 1$$,
    'app: reads the reports too (a member of points_reader)');
-- Written as tap_app: the journal records who acted.
SELECT is((SELECT DISTINCT actor FROM points.entries WHERE customer = 'bob' AND kind <> 'redeem' LIMIT 1),
    'tap_app', 'app: entries record the acting role');
-- Direct writes, explicitly (the forbidden list has them all).
SELECT throws_ok($$INSERT INTO points.entries (account_id, type, customer, kind, amount, balance_after, at, actor)
                   VALUES (1, 'tap_pts', 'bob', 'grant', 1000, 1000, now(), 'x')$$,
    '42501', NULL, 'app: cannot INSERT into points.entries');
SELECT throws_ok($$UPDATE points.entries SET amount = 1000 WHERE customer = 'bob'$$,
    '42501', NULL, 'app: cannot UPDATE points.entries');
SELECT throws_ok($$DELETE FROM points.holds$$, '42501', NULL, 'app: cannot DELETE from points.holds');
SELECT throws_ok($$UPDATE points.types SET enabled = false WHERE code = 'tap_pts'$$,
    '42501', NULL, 'app: cannot change a point type');
SELECT throws_ok($$SELECT points.adjust('tap_pts', 'bob', 1000)$$, '42501', NULL, 'app: cannot adjust()');

RESET ROLE;

----------------------------------------------------------------------
-- points_admin: configuration, corrections, maintenance.
----------------------------------------------------------------------
SET ROLE tap_admin;

SELECT throws_ok(stmt, '42501', NULL, 'admin: ' || stmt)
  FROM forbidden WHERE role = 'tap_admin' ORDER BY stmt;

-- 46-63
SELECT lives_ok($$INSERT INTO points.types (code, name, name_plural, scale) VALUES ('tap_cr', 'credit', 'credits', 2)$$,
    'admin: creates a point type');
SELECT lives_ok($$UPDATE points.types SET validity = '1 year' WHERE code = 'tap_cr'$$,
    'admin: changes a point type');
SELECT lives_ok($$INSERT INTO points.tiers (type, code, name, qualify_points) VALUES ('tap_cr', 'gold', 'Gold', 1000)$$,
    'admin: creates a tier');
SELECT lives_ok($$INSERT INTO points.earn_rules (type, event, points, spend) VALUES ('tap_cr', 'purchase', 1, 10)$$,
    'admin: creates an earn rule (its id from earn_rules_id_seq)');
SELECT lives_ok($$INSERT INTO points.rewards (type, code, name, kind, cost) VALUES ('tap_cr', 'ship', 'Free shipping', 'shipping', 5)$$,
    'admin: creates a reward');
SELECT lives_ok($$INSERT INTO points.prices (type, currency, min_quantity, unit_price) VALUES ('tap_cr', 'MYR', 100, 0.9)$$,
    'admin: creates a price');
SELECT lives_ok($$INSERT INTO points.customers (type, customer, multiplier) VALUES ('tap_cr', 'erin', 2)$$,
    'admin: sets a customer''s multiplier');
SELECT lives_ok($$DELETE FROM points.prices WHERE type = 'tap_cr'$$, 'admin: deletes a price');
SELECT ok(points.adjust('tap_pts', 'bob', 25, note => 'goodwill') > 0, 'admin: adjust() up');
SELECT ok(points.adjust('tap_pts', 'bob', -5, note => 'correction') > 0, 'admin: adjust() down');
SELECT ok(points.revoke(:g1, 10) > 0, 'admin: revoke()');
SELECT ok(points.grant('tap_pts', 'frank', 10, reason => 'manual') > 0, 'admin: manual grant() (as a member of points_app)');
SELECT is(points.expire(now(), 10), 0, 'admin: expire()');
SELECT is(points.release_holds(now() - interval '1 day', 10), 0, 'admin: release_holds()');
SELECT is_empty('SELECT * FROM points.verify()', 'admin: verify(), and the ledger is consistent');
SELECT ok(points.maintenance_job_name() LIKE 'points-maintenance-%', 'admin: maintenance_job_name()');
-- run_maintenance() COMMITs, so it cannot be called inside this test's
-- transaction; schedule() needs pg_cron's own grant as well.
SELECT ok(has_function_privilege('points.run_maintenance(integer)', 'EXECUTE')
          AND has_function_privilege('points.schedule(text)', 'EXECUTE')
          AND has_function_privilege('points.unschedule()', 'EXECUTE'),
    'admin: may run run_maintenance(), schedule() and unschedule()');
SELECT throws_ok($$SELECT points.unschedule()$$, '42501', NULL,
    'admin: unschedule() runs with the caller''s rights (cron.job needs pg_cron''s grant)');
-- 64-69: direct writes to the ledger are refused to the admin too.
SELECT throws_ok($$INSERT INTO points.lots (account_id, type, customer, amount, remaining, status, reason, available_at, expires_at, at)
                   VALUES (1, 'tap_pts', 'bob', 1000, 1000, 'active', 'forged', now(), 'infinity', now())$$,
    '42501', NULL, 'admin: cannot INSERT into points.lots');
SELECT throws_ok($$UPDATE points.accounts SET balance = 1000000$$, '42501', NULL,
    'admin: cannot UPDATE points.accounts');
SELECT throws_ok($$DELETE FROM points.entries$$, '42501', NULL, 'admin: cannot DELETE from points.entries');
SELECT throws_ok($$TRUNCATE points.allocations$$, '42501', NULL, 'admin: cannot TRUNCATE points.allocations');
SELECT throws_ok($$UPDATE points.redemptions SET status = 'cancelled'$$, '42501', NULL,
    'admin: cannot UPDATE points.redemptions');
SELECT throws_ok($$INSERT INTO points.requests (type, op, ref, args, customer) VALUES ('tap_pts', 'grant', 'x', '{}', 'bob')$$,
    '42501', NULL, 'admin: cannot INSERT into points.requests');

RESET ROLE;

-- 70: after all that, as the superuser: the ledger is consistent.
SELECT is_empty('SELECT * FROM points.verify()', 'verify(): no violations after every role''s calls');

SELECT * FROM finish();
ROLLBACK;
