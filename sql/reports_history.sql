--
-- points.history filtered by customer, by type and by time range, as a
-- loyalty points report does, with an index for each filter; and the CSV
-- export of docs/reports.md.
-- Type codes of this file start with rh_.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- How a query reads the journal: "index" when every scan of entries (and
-- of accounts, when rels names it too) is an index scan with an index
-- condition (a range of the index, not all of it), else "seq scan" or
-- "whole index".  Sequential scans are disabled so that the planner takes
-- an index wherever one applies, however few rows the test has; which
-- index it takes depends on its statistics.
CREATE FUNCTION pg_temp.access(q text, rels text[] DEFAULT '{entries}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    plan jsonb;
    node jsonb;
    result text := 'index';
BEGIN
    EXECUTE 'EXPLAIN (COSTS OFF, FORMAT JSON) ' || q INTO plan;
    FOR node IN SELECT n FROM jsonb_path_query(plan, 'strict $.** ? (exists (@."Relation Name"))') n
                 WHERE n ->> 'Relation Name' = ANY (rels) LOOP
        IF node ->> 'Node Type' = 'Seq Scan' THEN
            RETURN 'seq scan';
        ELSIF node ->> 'Node Type' IN ('Index Scan', 'Index Only Scan') AND NOT node ? 'Index Cond'
           OR node ->> 'Node Type' = 'Bitmap Heap Scan'
              AND NOT jsonb_path_exists(node, 'strict $.Plans.** ? (exists (@."Index Cond"))') THEN
            result := 'whole index';
        END IF;
    END LOOP;
    RETURN result;
END
$$;

INSERT INTO points.types (code, name, name_plural) VALUES ('rh_pts', 'point', 'points');
INSERT INTO points.types (code, name, name_plural) VALUES ('rh_credit', 'credit', 'credits');
SELECT points.grant('rh_pts', 'ann', 100, reason => 'purchase', ref => 'order-1', at => '2024-05-01 09:00+00') IS NOT NULL AS granted;
SELECT points.grant('rh_pts', 'bob', 40, reason => 'signup', at => '2024-05-02 09:00+00') IS NOT NULL AS granted;
SELECT points.consume('rh_pts', 'ann', 30, ref => 'order-2', note => 'discount', at => '2024-05-10 12:00+00') IS NOT NULL AS consumed;
SELECT points.grant('rh_credit', 'ann', 5, reason => 'package', at => '2024-05-11 09:00+00') IS NOT NULL AS granted;
SELECT points.consume('rh_credit', 'ann', 1, note => 'session', at => '2024-06-03 17:00+00') IS NOT NULL AS consumed;
SELECT points.adjust('rh_pts', 'bob', -10, note => 'correction', at => '2024-06-05 08:00+00') IS NOT NULL AS adjusted;

-- A report as a loyalty points page shows it: one type, one month, every
-- customer, newest first.
SELECT h.at, h.customer, h.kind, h.amount, h.balance, h.ref, h.note
  FROM points.history h
 WHERE h.type = 'rh_pts' AND h.at >= '2024-05-01' AND h.at < '2024-06-01'
 ORDER BY h.at DESC, h.id DESC;

-- One customer, every type.
SELECT h.type, h.at, h.kind, h.amount, h.balance
  FROM points.history h WHERE h.customer = 'ann' AND h.type LIKE 'rh\_%'
 ORDER BY h.type, h.at, h.id;

-- One customer and type in a time range.
SELECT h.at, h.kind, h.amount, h.balance
  FROM points.history h
 WHERE h.customer = 'bob' AND h.type = 'rh_pts' AND h.at >= '2024-06-01' AND h.at < '2024-07-01'
 ORDER BY h.at, h.id;

-- The same filters read a range of an index: customer (with type and time
-- range when given) the account's key (customer, type), then
-- entries_account (account_id, at, id); a time range entries_at.
SET enable_seqscan = off;
SELECT pg_temp.access($$SELECT * FROM points.history WHERE customer = 'ann'$$, '{entries,accounts}') AS by_customer;
SELECT pg_temp.access($$SELECT * FROM points.history WHERE customer = 'ann' AND type = 'rh_pts'$$, '{entries,accounts}') AS by_customer_and_type;
SELECT pg_temp.access($$SELECT * FROM points.history WHERE customer = 'ann' AND type = 'rh_pts'
                          AND at >= '2024-05-01' AND at < '2024-06-01'$$, '{entries,accounts}') AS by_customer_type_and_time;
SELECT pg_temp.access($$SELECT * FROM points.history WHERE at >= '2024-05-01' AND at < '2024-06-01'$$) AS by_time;
SELECT pg_temp.access($$SELECT * FROM points.history WHERE type = 'rh_pts'
                          AND at >= '2024-05-01' AND at < '2024-06-01'$$) AS by_type_and_time;
-- The check can fail: without the journal's index by account, the
-- customer filter reads the whole journal.
BEGIN;
DROP INDEX points.entries_account;
SELECT pg_temp.access($$SELECT * FROM points.history WHERE customer = 'ann'$$) AS by_customer_without_index;
ROLLBACK;
RESET enable_seqscan;

-- CSV export (docs/reports.md): psql's \copy writes it on the client.
\copy (SELECT h.at, h.customer, h.kind, h.amount, h.balance, h.ref, h.note FROM points.history h WHERE h.type = 'rh_pts' AND h.at >= '2024-05-01' AND h.at < '2024-07-01' ORDER BY h.at, h.id) TO STDOUT WITH (FORMAT csv, HEADER)
