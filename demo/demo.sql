-- points demo: what a shop's database does with the extension.
--
-- scripts/demo.sh runs this file in a fresh database points_demo, after
--   CREATE EXTENSION pg_cron; CREATE EXTENSION points;
-- and prints each query with what it returns. Every statement here must run
-- with the extension as it is today: a section is filled in when its feature
-- lands (the SQL contract is shared/DESIGN.md), in this order:
--   1. the extension           what is installed
--   2. point types             INSERT INTO points.types ...
--   3. earning                 points.grant(...), points.earn(...)
--   4. spending                points.consume(...), hold/capture/release, refund
--   5. expiry                  points.expire(...), points.schedule() with pg_cron
--   6. reports                 points.balances, points.statement(...), points.liability
--   7. checks                  points.verify() returns no rows

\set ON_ERROR_STOP on

\echo
\echo '== 1. The extension =='
\echo

-- Installed extensions: points at 0.1.0 in its own schema; pg_cron for the
-- maintenance job.
SELECT extname, extversion, extnamespace::regnamespace AS schema, extrelocatable
  FROM pg_extension
 WHERE extname IN ('points', 'pg_cron')
 ORDER BY extname;

-- What the extension is made of, by kind.
SELECT o.type AS kind, count(*) AS n,
       string_agg(regexp_replace(o.identity, '^points\.|\(.*$', '', 'g'), ', '
                  ORDER BY o.identity) AS names
  FROM pg_depend d, pg_identify_object(d.classid, d.objid, d.objsubid) AS o
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
   AND d.deptype = 'e'
 GROUP BY o.type
 ORDER BY o.type;

-- pg_cron runs its jobs in this database.
SELECT current_setting('cron.database_name') AS cron_database;

-- 2. Point types: to come.
-- 3. Earning: to come.
-- 4. Spending: to come.
-- 5. Expiry: to come.
-- 6. Reports: to come.
-- 7. Checks: to come.
