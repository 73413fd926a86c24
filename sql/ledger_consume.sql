--
-- consume() and adjust(): debits in consumption order (earliest expiry
-- first, or strict FIFO), the allocations they record, a disabled type,
-- and every error, each followed by the proof that it changed nothing.
-- Type codes of this file start with co_; grants are labelled by their note.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
-- Errors show their SQLSTATE only.
\set VERBOSITY sqlstate

-- The ledger of one type as a single row: what a failing call must not change.
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

-- Each grant of a customer (by note) with what remains of it.
CREATE FUNCTION pg_temp.lots(t text, c text)
RETURNS TABLE (note text, amount numeric, remaining numeric, at timestamptz,
               expires_at timestamptz)
LANGUAGE sql AS $$
    SELECT g.note, g.amount, g.remaining, g.at, g.expires_at
      FROM points.grants g WHERE g.type = t AND g.customer = c ORDER BY g.id
$$;

-- The grants one debit drew from, and how much from each.
CREATE FUNCTION pg_temp.drawn(entry bigint)
RETURNS TABLE (grant_note text, amount bigint)
LANGUAGE sql AS $$
    SELECT l.note, a.amount FROM points.allocations a
      JOIN points.lots l ON l.id = a.lot_id
     WHERE a.entry_id = entry ORDER BY l.note
$$;

-- co_pts: earliest expiry first (the default).  co_fifo: oldest grant first.
-- co_off: to be disabled.  co_month: points valid one month.
INSERT INTO points.types (code, name, name_plural) VALUES ('co_pts', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, consume_order) VALUES ('co_fifo', 'point', 'points', 'fifo');
INSERT INTO points.types (code, name, name_plural) VALUES ('co_off', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, validity) VALUES ('co_month', 'point', 'points', '1 month');

--
-- consume(type, customer, amount, ref, note, at) returns the entry id.
--
SELECT points.grant('co_pts', 'alice', 100, note => 'A', at => '2023-01-01 10:00+00') IS NOT NULL AS granted;
SELECT points.consume('co_pts', 'alice', 30, note => 'order 1', at => '2023-01-05 10:00+00') AS e1 \gset
SELECT kind, amount, balance_after, lot_id, at, ref, note, actor = current_user AS by_caller
  FROM points.entries WHERE id = :e1;
SELECT * FROM pg_temp.drawn(:e1);
SELECT * FROM pg_temp.lots('co_pts', 'alice');
-- Before the debit 100, from its time on 70.
SELECT points.balance('co_pts', 'alice', '2023-01-05 09:59+00') AS before,
       points.balance('co_pts', 'alice', '2023-01-05 10:00+00') AS after;
-- Spending everything leaves the grant used up.
SELECT points.consume('co_pts', 'alice', 70, at => '2023-01-06 10:00+00') AS e2 \gset
SELECT kind, amount, balance_after FROM points.entries WHERE id = :e2;
SELECT note, remaining, status FROM points.grants WHERE type = 'co_pts' AND customer = 'alice';
SELECT available, lifetime_earned, lifetime_spent
  FROM points.account('co_pts', 'alice', '2023-01-07 00:00+00');
-- at defaults to now().
BEGIN;
SELECT points.grant('co_pts', 'ann', 5, at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('co_pts', 'ann', 2) AS e3 \gset
SELECT at = now() AS at_is_now, amount FROM points.entries WHERE id = :e3;
COMMIT;

--
-- Errors of consume(); after each one, the ledger is unchanged.
--
SELECT * FROM pg_temp.state('co_pts');
-- Not enough points: PT001.
SELECT points.consume('co_pts', 'alice', 1, at => '2023-01-07 00:00+00');
SELECT * FROM pg_temp.state('co_pts');
-- A customer without an account has none: PT001, and no account is made.
SELECT points.consume('co_pts', 'nobody', 1, at => '2023-01-07 00:00+00');
SELECT * FROM pg_temp.state('co_pts');
-- Before the grant existed: PT001.
SELECT points.consume('co_pts', 'ann', 1, at => '2022-12-31 23:59+00');
SELECT * FROM pg_temp.state('co_pts');
-- Unknown type: 42704.
SELECT points.consume('co_nosuch', 'alice', 1, at => '2023-01-07 00:00+00');
SELECT * FROM pg_temp.state('co_pts');
-- Amount not positive, or more decimals than the scale: 22023.
SELECT points.consume('co_pts', 'ann', 0, at => '2023-01-07 00:00+00');
SELECT * FROM pg_temp.state('co_pts');
SELECT points.consume('co_pts', 'ann', -1, at => '2023-01-07 00:00+00');
SELECT * FROM pg_temp.state('co_pts');
SELECT points.consume('co_pts', 'ann', 0.5, at => '2023-01-07 00:00+00');
SELECT * FROM pg_temp.state('co_pts');
-- Out of range: 22003.
SELECT points.consume('co_pts', 'ann', 1e30, at => '2023-01-07 00:00+00');
SELECT * FROM pg_temp.state('co_pts');
-- Empty customer, time not finite: 22023.
SELECT points.consume('co_pts', '', 1, at => '2023-01-07 00:00+00');
SELECT * FROM pg_temp.state('co_pts');
SELECT points.consume('co_pts', 'ann', 1, at => '-infinity');
SELECT * FROM pg_temp.state('co_pts');
-- NULL arguments: 22004.
SELECT points.consume(NULL, 'ann', 1, at => '2023-01-07 00:00+00');
SELECT * FROM pg_temp.state('co_pts');
SELECT points.consume('co_pts', NULL, 1, at => '2023-01-07 00:00+00');
SELECT * FROM pg_temp.state('co_pts');
SELECT points.consume('co_pts', 'ann', NULL, at => '2023-01-07 00:00+00');
SELECT * FROM pg_temp.state('co_pts');
SELECT points.consume('co_pts', 'ann', 1, at => NULL);
SELECT * FROM pg_temp.state('co_pts');

--
-- A disabled type: consume() fails with PT002, while grant(), adjust(),
-- balance() and account() still work.
--
SELECT points.grant('co_off', 'bob', 50, note => 'B', at => '2023-02-01 00:00+00') IS NOT NULL AS granted;
UPDATE points.types SET enabled = false WHERE code = 'co_off';
SELECT * FROM pg_temp.state('co_off');
SELECT points.consume('co_off', 'bob', 10, at => '2023-02-02 00:00+00');
SELECT * FROM pg_temp.state('co_off');
-- PT002 even when the customer has too few points or none.
SELECT points.consume('co_off', 'bob', 1000, at => '2023-02-02 00:00+00');
SELECT points.consume('co_off', 'nobody', 1, at => '2023-02-02 00:00+00');
SELECT * FROM pg_temp.state('co_off');
SELECT points.grant('co_off', 'bob', 5, note => 'B2', at => '2023-02-03 00:00+00') IS NOT NULL AS granted;
SELECT points.adjust('co_off', 'bob', 7, note => 'goodwill', at => '2023-02-04 00:00+00') IS NOT NULL AS adjusted;
SELECT points.adjust('co_off', 'bob', -2, note => 'correction', at => '2023-02-05 00:00+00') IS NOT NULL AS adjusted;
SELECT points.balance('co_off', 'bob', '2023-02-06 00:00+00') AS balance;
SELECT available, lifetime_earned, lifetime_spent
  FROM points.account('co_off', 'bob', '2023-02-06 00:00+00');
-- Enabled again, consume() works.
UPDATE points.types SET enabled = true WHERE code = 'co_off';
SELECT points.consume('co_off', 'bob', 10, at => '2023-02-07 00:00+00') IS NOT NULL AS consumed;
SELECT kind, amount, balance_after, note FROM points.entries
 WHERE type = 'co_off' AND customer = 'bob' ORDER BY id;

--
-- adjust(type, customer, delta, note, ref, at) returns the entry id: a
-- positive delta is a grant under the type's policy (here one month), a
-- negative one a debit in consumption order.
--
SELECT points.adjust('co_month', 'carl', 20, note => 'migrated', at => '2023-01-10 08:00+00') AS a1 \gset
SELECT kind, amount, balance_after, at, note FROM points.entries WHERE id = :a1;
SELECT g.reason, g.amount, g.remaining, g.available_at, g.expires_at, g.note
  FROM points.grants g JOIN points.entries e ON e.lot_id = g.id WHERE e.id = :a1;
SELECT points.adjust('co_month', 'carl', -5, note => 'fix', at => '2023-01-11 08:00+00') AS a2 \gset
SELECT kind, amount, balance_after, at, note FROM points.entries WHERE id = :a2;
SELECT * FROM pg_temp.drawn(:a2);
SELECT available, lifetime_earned, lifetime_spent
  FROM points.account('co_month', 'carl', '2023-01-12 00:00+00');
-- Errors of adjust(); after each one, the ledger is unchanged.
SELECT * FROM pg_temp.state('co_month');
-- Zero or more decimals than the scale: 22023.
SELECT points.adjust('co_month', 'carl', 0, at => '2023-01-12 00:00+00');
SELECT * FROM pg_temp.state('co_month');
SELECT points.adjust('co_month', 'carl', -0.5, at => '2023-01-12 00:00+00');
SELECT * FROM pg_temp.state('co_month');
-- Taking more than is available: PT001, also for an unknown customer.
SELECT points.adjust('co_month', 'carl', -16, at => '2023-01-12 00:00+00');
SELECT * FROM pg_temp.state('co_month');
SELECT points.adjust('co_month', 'nobody', -1, at => '2023-01-12 00:00+00');
SELECT * FROM pg_temp.state('co_month');
-- After the points expired (one month): PT001.
SELECT points.adjust('co_month', 'carl', -1, at => '2023-02-10 08:00+00');
SELECT * FROM pg_temp.state('co_month');
-- Out of range: 22003.  Unknown type: 42704.  NULL: 22004.
SELECT points.adjust('co_month', 'carl', -1e30, at => '2023-01-12 00:00+00');
SELECT * FROM pg_temp.state('co_month');
SELECT points.adjust('co_nosuch', 'carl', 1, at => '2023-01-12 00:00+00');
SELECT * FROM pg_temp.state('co_month');
SELECT points.adjust('co_month', 'carl', NULL, at => '2023-01-12 00:00+00');
SELECT * FROM pg_temp.state('co_month');
SELECT points.adjust('co_month', NULL, 1, at => '2023-01-12 00:00+00');
SELECT * FROM pg_temp.state('co_month');

--
-- Consumption order 'expiry': an older grant that never expires and a
-- newer one that does.  The expiring one is drawn first.
--
SELECT points.grant('co_pts', 'dina', 10, note => 'old, never expires', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_pts', 'dina', 10, note => 'new, expires', expires_at => '2023-06-01 00:00+00',
                    at => '2023-02-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('co_pts', 'dina', 5, at => '2023-03-01 00:00+00') AS d1 \gset
SELECT * FROM pg_temp.drawn(:d1);
SELECT * FROM pg_temp.lots('co_pts', 'dina');
-- A debit bigger than one grant spans several, one allocation each.
SELECT points.consume('co_pts', 'dina', 8, at => '2023-03-02 00:00+00') AS d2 \gset
SELECT * FROM pg_temp.drawn(:d2);
SELECT * FROM pg_temp.lots('co_pts', 'dina');

-- Consumption order 'fifo': the same two grants; the older one goes first.
SELECT points.grant('co_fifo', 'dina', 10, note => 'old, never expires', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_fifo', 'dina', 10, note => 'new, expires', expires_at => '2023-06-01 00:00+00',
                    at => '2023-02-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('co_fifo', 'dina', 5, at => '2023-03-01 00:00+00') AS f1 \gset
SELECT * FROM pg_temp.drawn(:f1);
SELECT * FROM pg_temp.lots('co_fifo', 'dina');

-- Ties under 'expiry': the earliest expiry first; among equal expiries the
-- older grant (by at), then the lower id.  Recorded in this order:
--   C  at Jan 2, expires Dec 31   (lowest id, but the newest grant)
--   D  at Jan 1, expires Dec 31
--   E  at Jan 1, expires Dec 31   (same at as D, higher id)
--   F  at Jan 1, expires Nov 30   (earliest expiry, highest id)
-- so the draws go F, D, E, C.
SELECT points.grant('co_pts', 'eve', 10, note => 'C', expires_at => '2023-12-31 00:00+00', at => '2023-01-02 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_pts', 'eve', 10, note => 'D', expires_at => '2023-12-31 00:00+00', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_pts', 'eve', 10, note => 'E', expires_at => '2023-12-31 00:00+00', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_pts', 'eve', 10, note => 'F', expires_at => '2023-11-30 00:00+00', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('co_pts', 'eve', 15, at => '2023-02-01 00:00+00') AS t1 \gset
SELECT * FROM pg_temp.drawn(:t1);
SELECT points.consume('co_pts', 'eve', 10, at => '2023-02-02 00:00+00') AS t2 \gset
SELECT * FROM pg_temp.drawn(:t2);
SELECT points.consume('co_pts', 'eve', 10, at => '2023-02-03 00:00+00') AS t3 \gset
SELECT * FROM pg_temp.drawn(:t3);
SELECT * FROM pg_temp.lots('co_pts', 'eve');

-- Ties under 'fifo': the older grant, then the lower id; expiry plays no
-- part.  Recorded in this order:
--   G  at Jan 2, never expires    (lowest id, but the newest grant)
--   H  at Jan 1, expires Dec 31
--   I  at Jan 1, expires Jun 30   (same at as H, higher id, expires sooner)
-- so the draws go H, I, G.
SELECT points.grant('co_fifo', 'eve', 10, note => 'G', at => '2023-01-02 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_fifo', 'eve', 10, note => 'H', expires_at => '2023-12-31 00:00+00', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_fifo', 'eve', 10, note => 'I', expires_at => '2023-06-30 00:00+00', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('co_fifo', 'eve', 15, at => '2023-02-01 00:00+00') AS u1 \gset
SELECT * FROM pg_temp.drawn(:u1);
SELECT points.consume('co_fifo', 'eve', 10, at => '2023-02-02 00:00+00') AS u2 \gset
SELECT * FROM pg_temp.drawn(:u2);
SELECT * FROM pg_temp.lots('co_fifo', 'eve');

-- The account's cached bounds (its open grants' earliest expiry and latest
-- availability) after debits that close grants, and what the grants
-- themselves give: the two must agree at each step.
CREATE FUNCTION pg_temp.bounds(t text, c text)
RETURNS TABLE (next_expiry_at timestamptz, vested_at timestamptz, agree boolean)
LANGUAGE sql AS $$
    SELECT a.next_expiry_at, a.vested_at,
           (a.next_expiry_at, a.vested_at) =
           (SELECT coalesce(min(l.expires_at), 'infinity'), coalesce(max(l.available_at), '-infinity')
              FROM points.lots l WHERE l.account_id = a.id AND l.open)
      FROM points.accounts a WHERE a.type = t AND a.customer = c
$$;
INSERT INTO points.types (code, name, name_plural) VALUES ('co_bound', 'point', 'points');
-- J, K and P expire together, L later; M vests last.
SELECT points.grant('co_bound', 'flo', 2, note => 'J', expires_at => '2023-06-30 00:00+00', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_bound', 'flo', 2, note => 'K', expires_at => '2023-06-30 00:00+00', at => '2023-01-02 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_bound', 'flo', 2, note => 'P', expires_at => '2023-06-30 00:00+00', at => '2023-01-02 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_bound', 'flo', 2, note => 'L', expires_at => '2023-09-30 00:00+00', at => '2023-01-03 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_bound', 'flo', 2, note => 'M', expires_at => '2023-12-31 00:00+00', available_at => '2023-03-01 00:00+00', at => '2023-01-04 00:00+00') IS NOT NULL AS granted;
SELECT * FROM pg_temp.bounds('co_bound', 'flo');
-- J closes, K is drawn from and left open: K keeps the earliest expiry.
SELECT points.consume('co_bound', 'flo', 3, at => '2023-02-01 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.bounds('co_bound', 'flo');
-- K closes alone: P, not drawn from, shares its expiry.
SELECT points.consume('co_bound', 'flo', 1, at => '2023-02-02 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.bounds('co_bound', 'flo');
-- P closes and L is drawn from, left open: L's expiry is the earliest.
SELECT points.consume('co_bound', 'flo', 3, at => '2023-02-03 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.bounds('co_bound', 'flo');
-- L closes (M is still vesting): the earliest expiry is M's.
SELECT points.consume('co_bound', 'flo', 1, at => '2023-02-04 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.bounds('co_bound', 'flo');
-- M closes, the grant that vested last: no open grant is left.
SELECT points.consume('co_bound', 'flo', 2, at => '2023-03-02 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.bounds('co_bound', 'flo');
SELECT * FROM pg_temp.lots('co_bound', 'flo');
-- A grant past its expiry lapses first (the debit journals it); N and O
-- share their availability, and O, drawn from and left open, keeps it.
SELECT points.grant('co_bound', 'gil', 5, note => 'lapsed', expires_at => '2023-02-01 00:00+00', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_bound', 'gil', 1, note => 'N', expires_at => '2023-06-30 00:00+00', available_at => '2023-01-10 00:00+00', at => '2023-01-05 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_bound', 'gil', 4, note => 'O', expires_at => '2023-07-31 00:00+00', available_at => '2023-01-10 00:00+00', at => '2023-01-05 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('co_bound', 'gil', 2, at => '2023-03-01 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.bounds('co_bound', 'gil');
SELECT * FROM pg_temp.lots('co_bound', 'gil');

-- In FIFO order (drawn through SQL): R, the oldest grant but the last to
-- vest and the last to expire, closes while S stays open.
INSERT INTO points.types (code, name, name_plural, consume_order) VALUES ('co_bfifo', 'point', 'points', 'fifo');
SELECT points.grant('co_bfifo', 'hal', 2, note => 'R', expires_at => '2023-12-31 00:00+00', available_at => '2023-02-01 00:00+00', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('co_bfifo', 'hal', 2, note => 'S', expires_at => '2023-06-30 00:00+00', at => '2023-01-02 00:00+00') IS NOT NULL AS granted;
SELECT * FROM pg_temp.bounds('co_bfifo', 'hal');
SELECT points.consume('co_bfifo', 'hal', 2, at => '2023-03-01 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.bounds('co_bfifo', 'hal');
SELECT * FROM pg_temp.lots('co_bfifo', 'hal');

-- Every debit's allocations add up to its amount.
SELECT e.kind, count(*) AS debits,
       bool_and(-e.amount = (SELECT sum(a.amount) FROM points.allocations a WHERE a.entry_id = e.id)) AS balanced
  FROM points.entries e WHERE e.type LIKE 'co\_%' AND e.amount < 0 GROUP BY e.kind ORDER BY e.kind;

-- The ledger is consistent.
SELECT * FROM points.verify();
