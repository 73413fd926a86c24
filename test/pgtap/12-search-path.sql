-- search_path: every function of the extension that looks names up runs
-- with search_path = pg_catalog, pg_temp, so that nothing in a caller's
-- search path (a schema a less trusted role can create objects in) can
-- stand in for an operator, function or table it uses.
--   - SECURITY DEFINER functions run as the extension's owner, a
--     superuser: a hijacked name would run as superuser.  All of them:
--     with a SET clause, but for the reads balance(), account() and
--     quote() and the writes grant(), consume() and transfer(), which run
--     no statement on their common path and pin it in C around each
--     statement they do run (points_pin_search_path() in src/ledger.c; the
--     clause cost about 10 % of a balance() and 4 % of a grant or a
--     consume at 8 clients).  Checked below under a search path that puts
--     hostile operators before pg_catalog's.
--   - SQL and PL/pgSQL functions: all of them, except procedures that
--     COMMIT (PostgreSQL forbids a SET clause there): run_maintenance(),
--     which qualifies every name and operator instead.
--   - Trigger functions fire with the privileges and search path of
--     whoever writes the table.  Those that run SQL (the check_* triggers
--     of the configuration tables look the point type up) must pin it; the
--     guards that fire on every ledger row and run none need not (pinning
--     costs a GUC save/restore per row: about 7% on grant()).
BEGIN;
SELECT plan(25);
SET LOCAL search_path = public;

CREATE TEMP VIEW routines AS
SELECT p.oid, pg_describe_object('pg_proc'::regclass, p.oid, 0) AS routine,
       p.prosecdef, p.prokind, l.lanname, p.prorettype = 'trigger'::regtype AS is_trigger,
       p.proconfig
  FROM pg_depend d
  JOIN pg_proc p ON p.oid = d.objid
  JOIN pg_language l ON l.oid = p.prolang
 WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
   AND d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points');

SELECT isnt_empty($$SELECT * FROM routines WHERE prosecdef$$,
    'the extension has SECURITY DEFINER functions (the checks below are not vacuous)');

SELECT is_empty(
    $$SELECT routine, proconfig FROM routines
       WHERE prosecdef AND proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, pg_temp']
         AND oid NOT IN (to_regprocedure('points.expire(timestamptz, integer)'),
                         to_regprocedure('points.expire_batch(timestamptz, integer, timestamptz, bigint)'),
                         to_regprocedure('points.release_holds(timestamptz, integer)'),
                         to_regprocedure('points.balance(text, text, timestamptz)'),
                         to_regprocedure('points.account(text, text, timestamptz)'),
                         to_regprocedure('points.quote(text, text, numeric, numeric, numeric, timestamptz)'),
                         to_regprocedure('points.grant(text, text, numeric, text, text, text, timestamptz, timestamptz, boolean, timestamptz)'),
                         to_regprocedure('points.consume(text, text, numeric, text, text, timestamptz)'),
                         to_regprocedure('points.transfer(text, text, text, numeric, text, text, timestamptz)'))$$,
    'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp (and sets nothing else)');

SELECT is((SELECT array_agg(routine ORDER BY routine COLLATE "C") FROM routines
            WHERE prosecdef AND proconfig IS NULL),
          ARRAY['function points."grant"(text,text,numeric,text,text,text,timestamp with time zone,timestamp with time zone,boolean,timestamp with time zone)',
                'function points.account(text,text,timestamp with time zone)',
                'function points.balance(text,text,timestamp with time zone)',
                'function points.consume(text,text,numeric,text,text,timestamp with time zone)',
                'function points.quote(text,text,numeric,numeric,numeric,timestamp with time zone)',
                'function points.transfer(text,text,text,numeric,text,text,timestamp with time zone)'],
          'the SECURITY DEFINER functions without a SET clause are the reads and writes that pin search_path in C');

-- The sweep's functions also turn JIT off: the generic plans of their
-- LIMIT batch queries are costed above jit_above_cost on a large ledger.
SELECT is((SELECT proconfig FROM routines
            WHERE oid = to_regprocedure('points.expire(timestamptz, integer)')),
          ARRAY['search_path=pg_catalog, pg_temp', 'jit=off'],
          'expire() pins search_path and runs without JIT');
SELECT is((SELECT proconfig FROM routines
            WHERE oid = to_regprocedure('points.expire_batch(timestamptz, integer, timestamptz, bigint)')),
          ARRAY['search_path=pg_catalog, pg_temp', 'jit=off'],
          'expire_batch() pins search_path and runs without JIT');
SELECT is((SELECT proconfig FROM routines
            WHERE oid = to_regprocedure('points.release_holds(timestamptz, integer)')),
          ARRAY['search_path=pg_catalog, pg_temp', 'jit=off'],
          'release_holds() pins search_path and runs without JIT');

SELECT is_empty(
    $$SELECT routine, proconfig FROM routines
       WHERE lanname IN ('sql', 'plpgsql')
         AND oid IS DISTINCT FROM to_regprocedure('points.run_maintenance(integer)')
         AND NOT 'search_path=pg_catalog, pg_temp' = ANY (coalesce(proconfig, '{}'))$$,
    'every SQL and PL/pgSQL routine pins search_path (but run_maintenance, which COMMITs)');

SELECT is_empty(
    $$SELECT routine FROM routines WHERE prosecdef AND prokind = 'p'$$,
    'no SECURITY DEFINER procedure');

SELECT is_empty(
    $$SELECT routine, proconfig FROM routines
       WHERE is_trigger
         AND routine NOT IN ('function points.guard_journal()', 'function points.guard_state()',
                             'function points.check_lot()', 'function points.types_changed()')
         AND NOT 'search_path=pg_catalog, pg_temp' = ANY (coalesce(proconfig, '{}'))$$,
    'every trigger function that runs SQL pins search_path');

-- The functions that pin search_path in C, under a search path whose
-- first schema has operators = for bigint and for text that raise: every
-- statement they run is prepared and run with pg_catalog's.  The reads:
-- the type read into the cache, the account read through SQL when
-- points.accounts has a column of a DBA's own, the balance at a past time
-- rebuilt from the allocations.  The writes: with a column of a DBA's own
-- in each ledger table every row goes through SQL (the account found,
-- created and locked, the grant and the journal entry inserted, the lots
-- drawn, the allocations inserted, the account written back), and the
-- refs are claimed, recorded and replayed.  The plans are prepared here
-- first (pg_prove runs each file in a session of its own), so both the
-- preparation and the execution are covered; and the caller's search path
-- is the same after each call.
INSERT INTO points.types (code, name, name_plural, redeem_points, redeem_value, currency)
VALUES ('tap_sp', 'point', 'points', 100, 1, 'MYR');
SELECT points.grant('tap_sp', 'eve', 10, at => '2020-01-01') > 0 AS granted;
SELECT points.consume('tap_sp', 'eve', 5, at => '2020-03-01') > 0 AS consumed;
SELECT points.grant('tap_sp', 'eve', 7, at => '2021-01-01') > 0 AS granted;
ALTER TABLE points.accounts ADD COLUMN tap_note text;
ALTER TABLE points.lots ADD COLUMN tap_note text;
ALTER TABLE points.entries ADD COLUMN tap_note text;
ALTER TABLE points.allocations ADD COLUMN tap_note text;
-- the cached type is read again at the next call
UPDATE points.types SET name = name WHERE code = 'tap_sp';
CREATE SCHEMA tap_evil;
CREATE FUNCTION tap_evil.hijacked(bigint, bigint) RETURNS boolean
    LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked'; END$$;
CREATE FUNCTION tap_evil.hijacked(text, text) RETURNS boolean
    LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked'; END$$;
CREATE OPERATOR tap_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = tap_evil.hijacked);
CREATE OPERATOR tap_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = tap_evil.hijacked);
-- pgTAP itself compares with =: what the calls return is kept in a table
-- and checked after the search path is back.
CREATE TEMP TABLE tap_sp_seen (what text PRIMARY KEY, seen text);
CREATE FUNCTION pg_temp.seen(what text) RETURNS text
    LANGUAGE sql AS 'SELECT seen FROM tap_sp_seen WHERE tap_sp_seen.what = seen.what';
SET LOCAL search_path = tap_evil, pg_catalog, public;
DO $$
BEGIN
    PERFORM 1::bigint = 1::bigint;
    INSERT INTO tap_sp_seen VALUES ('unpinned', 'not hijacked');
EXCEPTION WHEN raise_exception THEN
    INSERT INTO tap_sp_seen VALUES ('unpinned', SQLERRM);
END
$$;
INSERT INTO tap_sp_seen VALUES ('balance past', points.balance('tap_sp', 'eve', '2020-06-01'));
INSERT INTO tap_sp_seen VALUES ('balance past again', points.balance('tap_sp', 'eve', '2020-06-01'));
INSERT INTO tap_sp_seen VALUES ('account past', (points.account('tap_sp', 'eve', '2020-06-01')).available);
INSERT INTO tap_sp_seen VALUES ('quote past', (points.quote('tap_sp', 'eve', 3.00, at => '2020-06-01')).points);
INSERT INTO tap_sp_seen VALUES ('balance now', points.balance('tap_sp', 'eve'));
INSERT INTO tap_sp_seen VALUES ('grant ref', points.grant('tap_sp', 'eve', 3, ref => 'sp-g1', at => '2021-02-01'));
INSERT INTO tap_sp_seen VALUES ('grant ref again', points.grant('tap_sp', 'eve', 3, ref => 'sp-g1', at => '2021-02-01'));
INSERT INTO tap_sp_seen VALUES ('grant new account', points.grant('tap_sp', 'mallory', 4, at => '2021-02-01') > 0);
INSERT INTO tap_sp_seen VALUES ('consume', points.consume('tap_sp', 'eve', 1, at => '2021-03-01') > 0);
INSERT INTO tap_sp_seen VALUES ('consume ref', points.consume('tap_sp', 'eve', 1, ref => 'sp-c1', at => '2021-03-01') > 0);
INSERT INTO tap_sp_seen VALUES ('transfer ref', points.transfer('tap_sp', 'eve', 'trent', 1, ref => 'sp-t1', at => '2021-03-02') > 0);
INSERT INTO tap_sp_seen VALUES ('transfer', points.transfer('tap_sp', 'mallory', 'trent', 2, at => '2021-03-02') > 0);
INSERT INTO tap_sp_seen VALUES ('balances after',
    concat_ws(' ', points.balance('tap_sp', 'eve'), points.balance('tap_sp', 'mallory'), points.balance('tap_sp', 'trent')));
INSERT INTO tap_sp_seen VALUES ('search_path', current_setting('search_path'));
SET LOCAL search_path = public;

SELECT is(pg_temp.seen('unpinned'), 'hijacked',
    'a statement that does not pin search_path resolves = to the hostile operators');
SELECT is(pg_temp.seen('balance past'), '5',
    'balance() at a past time, through SQL, under the hostile search path: pg_catalog''s operators');
SELECT is(pg_temp.seen('balance past again'), '5',
    'and again, on the plans kept');
SELECT is(pg_temp.seen('account past'), '5',
    'account() at a past time, through SQL, under the hostile search path');
SELECT is(pg_temp.seen('quote past'), '5',
    'quote() at a past time, through SQL, under the hostile search path');
SELECT is(pg_temp.seen('balance now'), '12',
    'balance() now, under the hostile search path');
SELECT is(pg_temp.seen('grant new account'), 'true',
    'grant() to a new customer, every row through SQL, under the hostile search path');
SELECT is(pg_temp.seen('grant ref again'),
          pg_temp.seen('grant ref'),
    'grant() with a ref, then its replay, under the hostile search path: the same grant');
SELECT is((SELECT amount FROM points.grants WHERE id = pg_temp.seen('grant ref')::bigint),
          3::numeric, 'the grant with a ref was recorded once, of 3 points');
SELECT is(pg_temp.seen('consume'), 'true',
    'consume(), every row through SQL, under the hostile search path');
SELECT is(pg_temp.seen('consume ref'), 'true',
    'consume() with a ref, under the hostile search path');
SELECT is(pg_temp.seen('transfer ref'), 'true',
    'transfer() with a ref to a new customer, under the hostile search path');
SELECT is(pg_temp.seen('transfer'), 'true',
    'transfer() without a ref, under the hostile search path');
SELECT is(pg_temp.seen('balances after'), '12 2 3',
    'the balances after the writes: eve 12 + 3 - 1 - 1 - 1, mallory 4 - 2, trent 1 + 2');
SELECT is((SELECT count(*) FROM points.verify()), 0::bigint,
    'verify() finds nothing wrong after the writes through SQL');
SELECT is(pg_temp.seen('search_path'), 'tap_evil, pg_catalog, public',
    'the caller''s search path is as it was after the calls');

SELECT * FROM finish();
ROLLBACK;
