--
-- A shop's checkout, as a story: the order lifecycle end to end, the way
-- Shopline, EasyStore, LoyaltyLion and Open Loyalty run it.  Points that
-- pay for an order are reserved when the order is placed (hold), spent
-- when payment succeeds (capture) and given back when it fails or times
-- out (release).  Points an order earns wait for shipping (pending, then
-- confirm) or for the returns window (available_at).  A refund gives the
-- redeemed points back (refund) and claws back the earned ones (revoke);
-- a cancellation voids the pending ones.  Every webhook may be delivered
-- twice: refs make the retries harmless.  (quote(), the points usable on
-- an order, is not built yet: the amounts here are the shop's.)
-- Type codes of this file start with lc_shop_; grants are labelled by their
-- note; ids never appear in the output, entries are numbered instead.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Every row of every ledger table, hashed: what a failing call must leave
-- exactly as it was.
CREATE FUNCTION pg_temp.ledger() RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat(
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.entries x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.entry_id, x.lot_id) FROM points.allocations x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.lots x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.holds x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.type, x.op, x.ref) FROM points.requests x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.accounts x)))
$$;

-- try(call): evaluate the expression `call`; show its error as
-- "SQLSTATE: message" (ids in the message masked as #) and whether the
-- ledger is unchanged afterwards.
CREATE FUNCTION pg_temp.try(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.ledger();
BEGIN
    EXECUTE 'SELECT ' || call;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '(hold|grant|entry) -?\d+', '\1 #', 'g')
        || CASE WHEN pg_temp.ledger() = before THEN ' [nothing changed]'
                ELSE ' [LEDGER CHANGED]' END;
END $$;

-- The figures of one account at a time.
CREATE FUNCTION pg_temp.acct(t text, c text, at timestamptz)
RETURNS TABLE (available numeric, held numeric, pending numeric, debt numeric,
               earned numeric, spent numeric, expired numeric)
LANGUAGE sql AS $$
    SELECT available, held, pending, debt, lifetime_earned, lifetime_spent, lifetime_expired
      FROM points.account(t, c, at)
$$;

-- A customer's grants, labelled by their note, with their stored status
-- (pending, active or voided: not the view's, which depends on now()).
CREATE FUNCTION pg_temp.lots(t text, c text)
RETURNS TABLE (grant_note text, status text, amount numeric, remaining numeric,
               revoked numeric, available_at timestamptz, expires_at timestamptz)
LANGUAGE sql AS $$
    SELECT l.note, l.status, g.amount, g.remaining, g.revoked, g.available_at, g.expires_at
      FROM points.grants g JOIN points.lots l ON l.id = g.id
     WHERE g.type = t AND g.customer = c ORDER BY g.id
$$;

-- A customer's journal from points.history, entries numbered 1, 2, ... per
-- customer; origin is the number of the entry it settles or refunds.
CREATE FUNCTION pg_temp.journal(t text, c text)
RETURNS TABLE (n bigint, kind text, amount numeric, balance numeric, held numeric,
               pending numeric, grant_note text, origin bigint, at timestamptz,
               ref text, note text)
LANGUAGE sql AS $$
    SELECT row_number() OVER (ORDER BY h.id), h.kind, h.amount, h.balance, h.held,
           h.pending, l.note,
           CASE WHEN h.origin_id IS NOT NULL THEN
               (SELECT count(*) FROM points.history o
                 WHERE o.type = t AND o.customer = c AND o.id <= h.origin_id) END,
           h.at, h.ref, h.note
      FROM points.history h LEFT JOIN points.lots l ON l.id = h.grant_id
     WHERE h.type = t AND h.customer = c ORDER BY h.id
$$;

-- Which grants each of a customer's entries drew from (+) or gave back to (-).
CREATE FUNCTION pg_temp.draws(t text, c text)
RETURNS TABLE (n bigint, kind text, grant_note text, amount numeric)
LANGUAGE sql AS $$
    SELECT j.n, j.kind, l.note, points.from_units(a.amount, ty.scale)
      FROM (SELECT e.id, e.kind, row_number() OVER (ORDER BY e.id) AS n
              FROM points.entries e WHERE e.type = t AND e.customer = c) j
      JOIN points.allocations a ON a.entry_id = j.id
      JOIN points.lots l ON l.id = a.lot_id
      JOIN points.types ty ON ty.code = t
     ORDER BY j.n, l.id
$$;

-- The shop's Reward points: valid 365 days, 100 points = MYR 1.00, a hold
-- lasts 30 minutes (long enough to pay).
INSERT INTO points.types (code, name, name_plural, validity, hold_timeout, currency,
                          redeem_points, redeem_value)
VALUES ('lc_shop_pts', 'Reward point', 'Reward points', '365 days', '30 minutes', 'MYR', 100, 1.00);

--
-- Mei signs up on 2023-01-05 (100 points) and earns 400 with her first
-- order on 2023-02-10.  She has 500 points.
--
SELECT points.grant('lc_shop_pts', 'mei', 100, reason => 'signup', ref => 'shop-signup-mei',
                    note => 'signup', at => '2023-01-05 09:00+00') IS NOT NULL AS granted;
SELECT points.grant('lc_shop_pts', 'mei', 400, reason => 'purchase', ref => 'shop-1000-earn',
                    note => 'order 1000', at => '2023-02-10 12:00+00') IS NOT NULL AS granted;
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-02-10 12:00+00');

--
-- Order 1001, 2023-03-01 10:00: MYR 120.00, of which she pays MYR 3.00
-- with 300 points.  Placing the order reserves them: the signup points
-- first (they expire first), then 200 of order 1000's.  200 are left to
-- spend; the 300 are held, not gone.
--
SELECT points.hold('lc_shop_pts', 'mei', 300, ref => 'shop-1001-redeem', note => 'order 1001',
                   at => '2023-03-01 10:00+00') AS h1001 \gset
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-03-01 10:00+00');
SELECT until FROM points.holds WHERE id = :h1001;

-- 10:05, the payment gateway says "paid": the hold is captured.  The
-- webhook arrives twice; the second capture returns the same entry.
SELECT points.capture(:h1001, at => '2023-03-01 10:05+00') AS cap1001 \gset
SELECT points.capture(:h1001, at => '2023-03-01 10:06+00') = :cap1001 AS same_capture;
-- The order earns 120 points, pending until it ships.
SELECT points.grant('lc_shop_pts', 'mei', 120, reason => 'purchase', ref => 'shop-1001-earn',
                    note => 'order 1001', pending => true, at => '2023-03-01 10:05+00') AS earn1001 \gset
-- 200 available, 300 spent, 120 pending.
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-03-01 10:05+00');

-- 2023-03-03: order 1001 ships; its points are confirmed, valid 365 days
-- from now.  320 available.
SELECT points.confirm(:earn1001, at => '2023-03-03 15:00+00');
SELECT amount, available_at, expires_at FROM points.grants WHERE id = :earn1001;
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-03-03 15:00+00');

--
-- Order 1002, 2023-03-05 10:00: 150 points reserved, then the card is
-- declined.  The hold is released: the 150 go back where they came from.
-- The "payment failed" webhook is retried: releasing twice is a no-op.
--
SELECT points.hold('lc_shop_pts', 'mei', 150, ref => 'shop-1002-redeem', note => 'order 1002',
                   at => '2023-03-05 10:00+00') AS h1002 \gset
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-03-05 10:00+00');
SELECT points.release(:h1002, at => '2023-03-05 10:02+00');
SELECT points.release(:h1002, at => '2023-03-05 10:03+00');
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-03-05 10:03+00');

--
-- Order 1003, 2023-03-07 10:00: 100 points reserved, and Mei never pays.
-- The hold runs until 10:30; the shop's timeout job releases it at 10:31
-- (points.run_maintenance() is to do this by itself, in a later issue).
-- A payment arriving after that finds the hold released: PT004, the
-- order has to be placed again.
--
SELECT points.hold('lc_shop_pts', 'mei', 100, ref => 'shop-1003-redeem', note => 'order 1003',
                   at => '2023-03-07 10:00+00') AS h1003 \gset
SELECT until FROM points.holds WHERE id = :h1003;
SELECT points.release(:h1003, at => '2023-03-07 10:31+00');
SELECT pg_temp.try(format($$points.capture(%s, at => '2023-03-07 10:35+00')$$, :h1003));
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-03-07 10:35+00');

--
-- Order 1004, 2023-03-10 10:00: MYR 50.00, 50 points redeemed and paid at
-- once.  The 30 points it earns are held through a 14-day returns window:
-- they vest on 2023-03-24 10:00, no confirm needed.
--
SELECT points.hold('lc_shop_pts', 'mei', 50, ref => 'shop-1004-redeem', note => 'order 1004',
                   at => '2023-03-10 10:00+00') AS h1004 \gset
SELECT points.capture(:h1004, at => '2023-03-10 10:01+00') AS cap1004 \gset
SELECT points.grant('lc_shop_pts', 'mei', 30, reason => 'purchase', ref => 'shop-1004-earn',
                    note => 'order 1004', available_at => '2023-03-24 10:00+00',
                    at => '2023-03-10 10:01+00') AS earn1004 \gset
-- 320 - 50 = 270 available; the 30 are not, yet.
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-03-10 10:01+00');

--
-- Order 1005, 2023-03-12 10:00: 40 points redeemed, 60 to earn when it
-- ships.  Mei cancels it the next day, before shipping: in one
-- transaction the shop gives the 40 back and voids the pending 60.
--
SELECT points.hold('lc_shop_pts', 'mei', 40, ref => 'shop-1005-redeem', note => 'order 1005',
                   at => '2023-03-12 10:00+00') AS h1005 \gset
SELECT points.capture(:h1005, at => '2023-03-12 10:01+00') AS cap1005 \gset
SELECT points.grant('lc_shop_pts', 'mei', 60, reason => 'purchase', ref => 'shop-1005-earn',
                    note => 'order 1005', pending => true, at => '2023-03-12 10:01+00') AS earn1005 \gset
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-03-12 10:01+00');
BEGIN;
SELECT points.refund(:cap1005, ref => 'shop-1005-cancel', note => 'order 1005 cancelled',
                     at => '2023-03-13 09:00+00') IS NOT NULL AS refunded;
SELECT points.revoke(:earn1005, ref => 'shop-1005-cancel', note => 'order 1005 cancelled',
                     at => '2023-03-13 09:00+00') IS NOT NULL AS voided;
COMMIT;
-- Back to 270 available, nothing pending.
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-03-13 09:00+00');

--
-- 2023-03-15: one item of order 1004, 40% of it, is returned within the
-- window.  The shop refunds 40% of the 50 redeemed points (20) and
-- revokes 40% of the 30 earned (12): they come off the vesting grant,
-- which will vest with 18.
--
BEGIN;
SELECT points.refund(:cap1004, 20, ref => 'shop-1004-return-1', note => 'order 1004, item returned',
                     at => '2023-03-15 14:00+00') IS NOT NULL AS refunded;
SELECT points.revoke(:earn1004, 12, ref => 'shop-1004-return-1', note => 'order 1004, item returned',
                     at => '2023-03-15 14:00+00') IS NOT NULL AS revoked;
COMMIT;
SELECT amount, remaining, revoked, available_at FROM points.grants WHERE id = :earn1004;
-- 270 + 20 = 290 available, 330 spent.
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-03-15 14:00+00');

--
-- 2023-03-20: order 1001 comes back in full.  The 300 redeemed points
-- return to the grants they came from, order 1000's first (drawn last),
-- then the signup's; the 120 it earned are revoked, from its own grant.
-- The refund webhook is delivered twice: the retry changes nothing.
--
BEGIN;
SELECT points.refund(:cap1001, ref => 'shop-1001-return', note => 'order 1001 returned',
                     at => '2023-03-20 16:00+00') AS refund1001 \gset
SELECT points.revoke(:earn1001, ref => 'shop-1001-return', note => 'order 1001 returned',
                     at => '2023-03-20 16:00+00') AS revoke1001 \gset
COMMIT;
SELECT pg_temp.ledger() AS before \gset
SELECT points.refund(:cap1001, ref => 'shop-1001-return', note => 'order 1001 returned',
                     at => '2023-03-20 16:00+00') = :refund1001 AS same_refund,
       points.revoke(:earn1001, ref => 'shop-1001-return', note => 'order 1001 returned',
                     at => '2023-03-20 16:00+00') = :revoke1001 AS same_revoke;
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
-- Nothing more of order 1001 can be refunded or revoked.
SELECT pg_temp.try(format($$points.refund(%s, 1, at => '2023-03-20 16:05+00')$$, :cap1001));
SELECT pg_temp.try(format($$points.revoke(%s, 1, at => '2023-03-20 16:05+00')$$, :earn1001));
-- 290 + 300 - 120 = 470 available, 30 spent (order 1004's 50 less 20).
SELECT * FROM pg_temp.acct('lc_shop_pts', 'mei', '2023-03-20 16:00+00');

--
-- 2023-03-24 10:00: order 1004's returns window closes and its 18 points
-- vest: 488 available.
--
SELECT t AS at, points.balance('lc_shop_pts', 'mei', t) AS balance
  FROM unnest(ARRAY['2023-03-24 09:59:59+00', '2023-03-24 10:00+00']::timestamptz[]) AS t;
SELECT * FROM pg_temp.lots('lc_shop_pts', 'mei');

-- Mei's statement: every step above is an entry of points.history, with
-- the shop's refs.
SELECT * FROM pg_temp.journal('lc_shop_pts', 'mei');
-- And every hold with how it ended.
SELECT note, amount, captured, status, at, until, resolved_at
  FROM points.holds WHERE type = 'lc_shop_pts' AND customer = 'mei' ORDER BY id;

-- The ledger is consistent.
SELECT * FROM points.verify();
