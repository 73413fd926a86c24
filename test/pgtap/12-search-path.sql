-- search_path: every function of the extension that looks names up runs
-- with search_path = pg_catalog, pg_temp, so that nothing in a caller's
-- search path (a schema a less trusted role can create objects in) can
-- stand in for an operator, function or table it uses.
--   - SECURITY DEFINER functions run as the extension's owner, a
--     superuser: a hijacked name would run as superuser.  All of them.
--   - SQL and PL/pgSQL functions: all of them, except procedures that
--     COMMIT (PostgreSQL forbids a SET clause there): run_maintenance(),
--     which qualifies every name and operator instead.
--   - Trigger functions fire with the privileges and search path of
--     whoever writes the table.  Those that run SQL (the check_* triggers
--     of the configuration tables look the point type up) must pin it; the
--     guards that fire on every ledger row and run none need not (pinning
--     costs a GUC save/restore per row: about 7% on grant()).
BEGIN;
SELECT plan(7);
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
                         to_regprocedure('points.release_holds(timestamptz, integer)'))$$,
    'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp (and sets nothing else)');

-- The sweep's functions also turn JIT off: the generic plans of their
-- LIMIT batch queries are costed above jit_above_cost on a large ledger.
SELECT is((SELECT proconfig FROM routines
            WHERE oid = to_regprocedure('points.expire(timestamptz, integer)')),
          ARRAY['search_path=pg_catalog, pg_temp', 'jit=off'],
          'expire() pins search_path and runs without JIT');
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

SELECT * FROM finish();
ROLLBACK;
