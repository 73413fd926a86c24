--
-- Idempotency by ref: a retry with the same ref and the same arguments
-- returns the original id and changes nothing; other arguments fail with
-- PT003; refs are scoped per (type, operation).  Type codes of this file
-- start with id_.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
-- Errors show their SQLSTATE only.
\set VERBOSITY sqlstate

-- The ledger of one type as a single row: what a retry must not change.
CREATE FUNCTION pg_temp.state(t text)
RETURNS TABLE (accounts bigint, grants bigint, remaining numeric, entries bigint,
               allocations bigint, requests bigint, violations bigint)
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM points.accounts a WHERE a.type = t),
           (SELECT count(*) FROM points.grants g WHERE g.type = t),
           (SELECT coalesce(sum(g.remaining), 0) FROM points.grants g WHERE g.type = t),
           (SELECT count(*) FROM points.entries e WHERE e.type = t),
           (SELECT count(*) FROM points.allocations x
              JOIN points.entries e ON e.id = x.entry_id WHERE e.type = t),
           (SELECT count(*) FROM points.requests r WHERE r.type = t),
           (SELECT count(*) FROM points.verify())
$$;

INSERT INTO points.types (code, name, name_plural) VALUES ('id_pts', 'point', 'points');
INSERT INTO points.types (code, name, name_plural) VALUES ('id_other', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('id_cred', 'credit', 'credits', 2);

--
-- grant() with a ref.
--
SELECT points.grant('id_pts', 'alice', 100, reason => 'purchase', ref => 'order-1',
                    note => 'order 1', at => '2023-01-01 00:00+00') AS g1 \gset
SELECT * FROM pg_temp.state('id_pts');
-- The same call again: the same grant id, nothing new.
SELECT points.grant('id_pts', 'alice', 100, reason => 'purchase', ref => 'order-1',
                    note => 'order 1', at => '2023-01-01 00:00+00') = :g1 AS same_grant;
SELECT * FROM pg_temp.state('id_pts');
-- A retry comes later: at is not compared.
SELECT points.grant('id_pts', 'alice', 100, reason => 'purchase', ref => 'order-1',
                    note => 'order 1', at => '2023-01-02 09:30+00') = :g1 AS same_grant;
-- The same amount written differently is the same amount.
SELECT points.grant('id_pts', 'alice', 100.00, reason => 'purchase', ref => 'order-1',
                    note => 'order 1', at => '2023-01-01 00:00+00') = :g1 AS same_grant;
SELECT * FROM pg_temp.state('id_pts');
SELECT points.balance('id_pts', 'alice', '2023-01-03 00:00+00') AS balance;

-- The same ref with any other argument: PT003, and nothing changes.
SELECT points.grant('id_pts', 'alice', 101, reason => 'purchase', ref => 'order-1',
                    note => 'order 1', at => '2023-01-01 00:00+00');
SELECT * FROM pg_temp.state('id_pts');
SELECT points.grant('id_pts', 'bob', 100, reason => 'purchase', ref => 'order-1',
                    note => 'order 1', at => '2023-01-01 00:00+00');
SELECT * FROM pg_temp.state('id_pts');
SELECT points.grant('id_pts', 'alice', 100, reason => 'signup', ref => 'order-1',
                    note => 'order 1', at => '2023-01-01 00:00+00');
SELECT * FROM pg_temp.state('id_pts');
SELECT points.grant('id_pts', 'alice', 100, reason => 'purchase', ref => 'order-1',
                    note => 'order one', at => '2023-01-01 00:00+00');
SELECT * FROM pg_temp.state('id_pts');
SELECT points.grant('id_pts', 'alice', 100, reason => 'purchase', ref => 'order-1',
                    at => '2023-01-01 00:00+00');
SELECT * FROM pg_temp.state('id_pts');
SELECT points.grant('id_pts', 'alice', 100, reason => 'purchase', ref => 'order-1',
                    note => 'order 1', expires_at => '2030-01-01 00:00+00',
                    at => '2023-01-01 00:00+00');
SELECT * FROM pg_temp.state('id_pts');
SELECT points.grant('id_pts', 'alice', 100, reason => 'purchase', ref => 'order-1',
                    note => 'order 1', available_at => '2023-01-05 00:00+00',
                    at => '2023-01-01 00:00+00');
SELECT * FROM pg_temp.state('id_pts');
SELECT points.grant('id_pts', 'alice', 100, reason => 'purchase', ref => 'order-1',
                    note => 'order 1', pending => true, at => '2023-01-01 00:00+00');
SELECT * FROM pg_temp.state('id_pts');
SELECT points.balance('id_pts', 'alice', '2023-01-03 00:00+00') AS balance;

-- A retry that repeats an explicit expires_at and available_at is the same.
SELECT points.grant('id_pts', 'alice', 5, ref => 'order-2', expires_at => '2030-01-01 00:00+00',
                    available_at => '2023-01-05 00:00+00', at => '2023-01-01 00:00+00') AS g2 \gset
SELECT points.grant('id_pts', 'alice', 5, ref => 'order-2', expires_at => '2030-01-01 00:00+00',
                    available_at => '2023-01-05 00:00+00', at => '2023-01-01 00:00+00') = :g2 AS same_grant;
-- Without a ref there is no idempotency: two calls, two grants.
SELECT points.grant('id_pts', 'alice', 1, at => '2023-01-01 00:00+00') AS g3 \gset
SELECT points.grant('id_pts', 'alice', 1, at => '2023-01-01 00:00+00') <> :g3 AS new_grant;
-- An empty ref is refused: 22023.
SELECT points.grant('id_pts', 'alice', 1, ref => '', at => '2023-01-01 00:00+00');

--
-- consume() with a ref: a retry returns the original entry even when the
-- balance could not pay for it again.
--
SELECT points.grant('id_pts', 'carol', 50, at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('id_pts', 'carol', 50, ref => 'pay-1', note => 'basket',
                      at => '2023-01-02 00:00+00') AS c1 \gset
SELECT * FROM pg_temp.state('id_pts');
SELECT points.consume('id_pts', 'carol', 50, ref => 'pay-1', note => 'basket',
                      at => '2023-01-02 00:00+00') = :c1 AS same_entry;
SELECT * FROM pg_temp.state('id_pts');
SELECT points.balance('id_pts', 'carol', '2023-01-03 00:00+00') AS balance;
-- Other arguments: PT003 (not PT001), nothing changes.
SELECT points.consume('id_pts', 'carol', 40, ref => 'pay-1', note => 'basket',
                      at => '2023-01-02 00:00+00');
SELECT points.consume('id_pts', 'carol', 50, ref => 'pay-1', at => '2023-01-02 00:00+00');
SELECT points.consume('id_pts', 'alice', 50, ref => 'pay-1', note => 'basket',
                      at => '2023-01-02 00:00+00');
SELECT * FROM pg_temp.state('id_pts');
-- A call that fails does not use up its ref: after PT001, the same ref
-- goes through once there are points.
SELECT points.consume('id_pts', 'carol', 10, ref => 'pay-2', at => '2023-01-03 00:00+00');
SELECT count(*) AS pay_2_requests FROM points.requests WHERE ref = 'pay-2';
SELECT points.grant('id_pts', 'carol', 10, at => '2023-01-03 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('id_pts', 'carol', 10, ref => 'pay-2', at => '2023-01-03 00:00+00') AS c2 \gset
SELECT points.consume('id_pts', 'carol', 10, ref => 'pay-2', at => '2023-01-03 00:00+00') = :c2 AS same_entry;
SELECT points.balance('id_pts', 'carol', '2023-01-04 00:00+00') AS balance;

--
-- adjust() with a ref.
--
SELECT points.adjust('id_pts', 'dave', 30, note => 'migration', ref => 'adj-1',
                     at => '2023-01-01 00:00+00') AS a1 \gset
SELECT points.adjust('id_pts', 'dave', 30, note => 'migration', ref => 'adj-1',
                     at => '2023-01-01 00:00+00') = :a1 AS same_entry;
SELECT points.adjust('id_pts', 'dave', 31, note => 'migration', ref => 'adj-1',
                     at => '2023-01-01 00:00+00');
SELECT points.adjust('id_pts', 'dave', -30, note => 'migration', ref => 'adj-1',
                     at => '2023-01-01 00:00+00');
SELECT points.adjust('id_pts', 'dave', -10, note => 'fix', ref => 'adj-2',
                     at => '2023-01-02 00:00+00') AS a2 \gset
SELECT points.adjust('id_pts', 'dave', -10, note => 'fix', ref => 'adj-2',
                     at => '2023-01-02 00:00+00') = :a2 AS same_entry;
SELECT points.balance('id_pts', 'dave', '2023-01-03 00:00+00') AS balance;

--
-- Refs are per (type, operation): the ref order-1 of the grant above is
-- new for consume, for adjust and for another type.
--
SELECT points.consume('id_pts', 'alice', 10, ref => 'order-1', at => '2023-01-04 00:00+00') IS NOT NULL AS consumed;
SELECT points.adjust('id_pts', 'alice', 5, ref => 'order-1', at => '2023-01-04 00:00+00') IS NOT NULL AS adjusted;
SELECT points.grant('id_other', 'alice', 100, reason => 'purchase', ref => 'order-1',
                    note => 'order 1', at => '2023-01-01 00:00+00') <> :g1 AS new_grant;
SELECT points.balance('id_pts', 'alice', '2023-01-05 00:00+00') AS id_pts_balance,
       points.balance('id_other', 'alice', '2023-01-05 00:00+00') AS id_other_balance;
-- What is remembered: the first use of each ref, and the id it returned:
-- a grant's id for grant(), an entry's id for consume() and adjust().
SELECT r.type, r.op, r.ref, r.customer, l.reason, l.amount
  FROM points.requests r JOIN points.grants l ON l.id = r.result
 WHERE r.type LIKE 'id\_%' AND r.op = 'grant' ORDER BY r.type, r.ref;
SELECT r.type, r.op, r.ref, r.customer, e.kind, e.amount, e.ref = r.ref AS same_ref
  FROM points.requests r JOIN points.entries e ON e.id = r.result
 WHERE r.type LIKE 'id\_%' AND r.op <> 'grant' ORDER BY r.type, r.op, r.ref;

--
-- Amounts are compared at the type's scale: 10.5 and 10.50 are the same.
--
SELECT points.grant('id_cred', 'erin', 10.5, ref => 'top-up-1', at => '2023-01-01 00:00+00') AS t1 \gset
SELECT points.grant('id_cred', 'erin', 10.50, ref => 'top-up-1', at => '2023-01-01 00:00+00') = :t1 AS same_grant;
SELECT points.grant('id_cred', 'erin', 10.500, ref => 'top-up-1', at => '2023-01-01 00:00+00') = :t1 AS same_grant;
SELECT points.grant('id_cred', 'erin', 10.51, ref => 'top-up-1', at => '2023-01-01 00:00+00');
SELECT points.balance('id_cred', 'erin', '2023-01-02 00:00+00') AS balance;
SELECT * FROM pg_temp.state('id_cred');

-- The ledger is consistent.
SELECT * FROM points.verify();
