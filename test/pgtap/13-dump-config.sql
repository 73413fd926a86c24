-- pg_dump keeps the rows of an extension's tables only when the table is
-- registered with pg_extension_config_dump(), and the position of its
-- sequences likewise (an unregistered sequence restarts at 1 and the next
-- id collides with a restored row).  Every table and sequence of points
-- holds user data, so every one must be registered, with no filter:
-- a new table or sequence without its pg_extension_config_dump() line
-- fails here.  test/e2e/dump_restore.sh checks the same with a real
-- pg_dump and pg_restore.
BEGIN;
SELECT plan(3);
SET LOCAL search_path = public;

SELECT set_eq(
    $$SELECT c.oid::regclass::text
        FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
       WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
         AND d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
         AND c.relkind IN ('r', 'p', 'S')$$,
    $$SELECT unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'points'$$,
    'every table and sequence of the extension is registered with pg_extension_config_dump');

SELECT is_empty(
    $$SELECT c.oid::regclass
        FROM pg_class c
       WHERE c.relnamespace = 'points'::regnamespace AND c.relkind IN ('r', 'p', 'S')
         AND NOT EXISTS (SELECT FROM pg_depend d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                            AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e')$$,
    'schema points has no table or sequence outside the extension');

SELECT is_empty(
    $$SELECT x.cfg::regclass, x.cond
        FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(cfg, cond)
       WHERE e.extname = 'points' AND x.cond <> ''$$,
    'no filter: pg_dump keeps every row');

SELECT * FROM finish();
ROLLBACK;
