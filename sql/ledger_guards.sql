--
-- Guards: the journal (points.entries, points.allocations) is append-only
-- and the ledger's state tables (points.lots, points.accounts,
-- points.requests) change only through the extension's functions.  Every
-- direct write is refused with 42501, even for a superuser, even under
-- session_replication_role = replica, and even from a caller that has just
-- run a points function.  Type codes of this file start with gu_.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
-- Errors show their SQLSTATE only.
\set VERBOSITY sqlstate

-- The ledger of one type as a single row: what a refused write must not change.
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

-- These tests run as a superuser.
SELECT rolsuper FROM pg_roles WHERE rolname = current_user;

-- A small ledger: a grant, and a debit with a ref.
INSERT INTO points.types (code, name, name_plural) VALUES ('gu_pts', 'point', 'points');
SELECT points.grant('gu_pts', 'alice', 100, at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('gu_pts', 'alice', 30, ref => 'order-1', at => '2023-01-02 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.state('gu_pts');

-- points.entries: no UPDATE, DELETE, TRUNCATE, nor INSERT outside the functions.
UPDATE points.entries SET amount = 1000 WHERE type = 'gu_pts';
DELETE FROM points.entries WHERE type = 'gu_pts';
TRUNCATE points.entries;
INSERT INTO points.entries (account_id, type, customer, kind, amount, balance_after, at, actor)
SELECT account_id, type, customer, 'grant', 1000, 1070, at, actor
  FROM points.entries WHERE type = 'gu_pts' AND kind = 'grant';
SELECT * FROM pg_temp.state('gu_pts');

-- points.allocations: the same.
UPDATE points.allocations SET amount = 1 WHERE account_id IN (SELECT id FROM points.accounts WHERE type = 'gu_pts');
DELETE FROM points.allocations WHERE account_id IN (SELECT id FROM points.accounts WHERE type = 'gu_pts');
TRUNCATE points.allocations;
INSERT INTO points.allocations (entry_id, lot_id, account_id, amount, at)
SELECT e.id, l.id, l.account_id, 1, e.at FROM points.entries e JOIN points.lots l ON l.account_id = e.account_id
 WHERE e.type = 'gu_pts' AND e.kind = 'grant';
SELECT * FROM pg_temp.state('gu_pts');

-- points.lots: no INSERT, UPDATE, DELETE or TRUNCATE outside the functions.
INSERT INTO points.lots (account_id, type, customer, amount, remaining, status, reason,
                         available_at, expires_at, at)
SELECT id, type, customer, 1000, 1000, 'active', 'forged', '2023-01-01', 'infinity', '2023-01-01'
  FROM points.accounts WHERE type = 'gu_pts';
UPDATE points.lots SET remaining = 100 WHERE type = 'gu_pts';
UPDATE points.lots SET expires_at = '2023-01-01' WHERE type = 'gu_pts';
DELETE FROM points.lots WHERE type = 'gu_pts';
TRUNCATE points.lots;
SELECT * FROM pg_temp.state('gu_pts');

-- points.accounts: the same.
INSERT INTO points.accounts (type, customer, balance) VALUES ('gu_pts', 'mallory', 1000);
UPDATE points.accounts SET balance = 1000 WHERE type = 'gu_pts';
DELETE FROM points.accounts WHERE type = 'gu_pts';
TRUNCATE points.accounts;
SELECT * FROM pg_temp.state('gu_pts');

-- points.requests: the same (a retry must find its ref).
INSERT INTO points.requests (type, op, ref, args, customer) VALUES ('gu_pts', 'grant', 'forged', '{}', 'mallory');
UPDATE points.requests SET args = '{}' WHERE type = 'gu_pts';
DELETE FROM points.requests WHERE type = 'gu_pts';
TRUNCATE points.requests;
SELECT * FROM pg_temp.state('gu_pts');

-- TRUNCATE of the types with CASCADE reaches the accounts: refused too.
TRUNCATE points.types CASCADE;
SELECT count(*) AS gu_types FROM points.types WHERE code = 'gu_pts';

-- The triggers fire even under session_replication_role = replica.
SET session_replication_role = replica;
UPDATE points.entries SET amount = 1000 WHERE type = 'gu_pts';
DELETE FROM points.allocations WHERE account_id IN (SELECT id FROM points.accounts WHERE type = 'gu_pts');
UPDATE points.lots SET remaining = 100 WHERE type = 'gu_pts';
DELETE FROM points.accounts WHERE type = 'gu_pts';
DELETE FROM points.requests WHERE type = 'gu_pts';
RESET session_replication_role;
SELECT * FROM pg_temp.state('gu_pts');

-- Running a points function does not open the gate for the caller: not
-- right after it in the same transaction...
CREATE FUNCTION pg_temp.grant_then_forge() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM points.grant('gu_pts', 'mallory', 1, at => '2023-01-03 00:00+00');
    UPDATE points.lots SET remaining = 1 WHERE type = 'gu_pts' AND customer = 'alice';
END
$$;
SELECT pg_temp.grant_then_forge();
-- (the grant went with the failed statement)
SELECT count(*) AS mallory_accounts FROM points.accounts WHERE customer = 'mallory';
-- ...nor after a points function failed inside a savepoint.
BEGIN;
SAVEPOINT s;
SELECT points.consume('gu_pts', 'alice', 1000, at => '2023-01-03 00:00+00');
ROLLBACK TO SAVEPOINT s;
UPDATE points.lots SET remaining = 100 WHERE type = 'gu_pts';
ROLLBACK;
-- ...nor after one failed inside a PL/pgSQL exception block.
CREATE FUNCTION pg_temp.fail_then_forge() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM points.consume('gu_pts', 'alice', 1000, at => '2023-01-03 00:00+00');
    EXCEPTION WHEN OTHERS THEN
        NULL;  -- PT001, ignored
    END;
    DELETE FROM points.entries WHERE type = 'gu_pts';
END
$$;
SELECT pg_temp.fail_then_forge();

-- Nothing changed, and the functions still work.
SELECT * FROM pg_temp.state('gu_pts');
SELECT points.consume('gu_pts', 'alice', 10, at => '2023-01-04 00:00+00') IS NOT NULL AS consumed;
SELECT points.balance('gu_pts', 'alice', '2023-01-05 00:00+00') AS balance;

-- The ledger is consistent.
SELECT * FROM points.verify();
