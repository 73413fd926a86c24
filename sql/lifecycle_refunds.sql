--
-- refund(entry_id, amount, ref, note, at, reissue): spent points (a
-- consume, a capture, a negative adjust) go back to the grants they came
-- from, newest-drawn first; partial refunds add up to at most what was
-- spent.  Points returned to an expired grant expire at once, or with
-- reissue come back as a fresh grant.  Every error, each with its SQLSTATE
-- and the proof that it changed nothing.
-- Type codes of this file start with lc_ref_; grants are labelled by their
-- note (G1, G2, ...); ids never appear in the output (they depend on the
-- files run before this one), entries are numbered per customer instead.
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

-- A customer's grants, labelled by their note.
CREATE FUNCTION pg_temp.lots(t text, c text)
RETURNS TABLE (grant_note text, amount numeric, remaining numeric, expires_at timestamptz)
LANGUAGE sql AS $$
    SELECT g.note, g.amount, g.remaining, g.expires_at
      FROM points.grants g WHERE g.type = t AND g.customer = c ORDER BY g.id
$$;

-- A customer's journal from points.history, entries numbered 1, 2, ... per
-- customer; origin is the number of the entry it settles or refunds.
CREATE FUNCTION pg_temp.journal(t text, c text)
RETURNS TABLE (n bigint, kind text, amount numeric, balance numeric, held numeric,
               grant_note text, origin bigint, at timestamptz, ref text, note text)
LANGUAGE sql AS $$
    SELECT row_number() OVER (ORDER BY h.id), h.kind, h.amount, h.balance, h.held,
           l.note,
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

-- lc_ref_pts: whole points, earliest expiry first.  lc_ref_fifo: oldest
-- grant first.  lc_ref_exp: points valid 30 days.
INSERT INTO points.types (code, name, name_plural) VALUES ('lc_ref_pts', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, consume_order) VALUES ('lc_ref_fifo', 'point', 'points', 'fifo');
INSERT INTO points.types (code, name, name_plural, validity) VALUES ('lc_ref_exp', 'point', 'points', '30 days');
-- lc_ref_cred: credits with two decimals.
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('lc_ref_cred', 'credit', 'credits', 2);

--
-- ann has G1 (30, expires 2023-12-01), G2 (50, expires 2024-06-01) and G3
-- (100, never expires).  Order 2001 spends 60: all 30 of G1, then 30 of G2.
--
SELECT points.grant('lc_ref_pts', 'ann', 30, note => 'G1', expires_at => '2023-12-01 00:00+00',
                    at => '2023-01-01 00:00+00') AS g1 \gset
SELECT points.grant('lc_ref_pts', 'ann', 50, note => 'G2', expires_at => '2024-06-01 00:00+00',
                    at => '2023-01-01 00:00+00') AS g2 \gset
SELECT points.grant('lc_ref_pts', 'ann', 100, note => 'G3', at => '2023-01-01 00:00+00') AS g3 \gset
SELECT points.consume('lc_ref_pts', 'ann', 60, note => 'order 2001', at => '2023-02-01 00:00+00') AS c1 \gset
SELECT * FROM pg_temp.lots('lc_ref_pts', 'ann');
-- 180 - 60 = 120 available, 60 spent.
SELECT * FROM pg_temp.acct('lc_ref_pts', 'ann', '2023-02-01 00:00+00');

-- One item of order 2001 comes back: 10 points are refunded.  The newest
-- drawn go back first: G2's (it expires after G1).
SELECT points.refund(:c1, 10, ref => 'lc-ref-2001-a', note => 'item A returned',
                     at => '2023-02-10 00:00+00') AS r1 \gset
SELECT * FROM pg_temp.lots('lc_ref_pts', 'ann');
-- 130 available, 50 spent.
SELECT * FROM pg_temp.acct('lc_ref_pts', 'ann', '2023-02-10 00:00+00');

-- The webhook retries: same ref, same arguments, the same entry and no
-- change.  The same ref with anything else is PT003.
SELECT pg_temp.ledger() AS before \gset
SELECT points.refund(:c1, 10, ref => 'lc-ref-2001-a', note => 'item A returned',
                     at => '2023-02-10 00:00+00') = :r1 AS same_entry;
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
SELECT pg_temp.try(format($$points.refund(%s, 11, ref => 'lc-ref-2001-a', note => 'item A returned',
                   at => '2023-02-10 00:00+00')$$, :c1));
SELECT pg_temp.try(format($$points.refund(%s, 10, ref => 'lc-ref-2001-a', note => 'item B returned',
                   at => '2023-02-10 00:00+00')$$, :c1));
SELECT pg_temp.try(format($$points.refund(%s, 10, ref => 'lc-ref-2001-a', note => 'item A returned',
                   at => '2023-02-10 00:00+00', reissue => true)$$, :c1));
SELECT pg_temp.try(format($$points.refund(%s, ref => 'lc-ref-2001-a', note => 'item A returned',
                   at => '2023-02-10 00:00+00')$$, :c1));

-- A second item: 25 more.  G2 still has 20 drawn by the order: they go
-- back, then 5 to G1.
SELECT points.refund(:c1, 25, note => 'item B returned', at => '2023-02-11 00:00+00') IS NOT NULL AS refunded;
SELECT * FROM pg_temp.lots('lc_ref_pts', 'ann');
-- 155 available, 25 spent.
SELECT * FROM pg_temp.acct('lc_ref_pts', 'ann', '2023-02-11 00:00+00');

-- 35 of 60 are refunded: 26 more cannot be (PT004), the rest can.
SELECT pg_temp.try(format($$points.refund(%s, 26, at => '2023-02-12 00:00+00')$$, :c1));
SELECT * FROM pg_temp.acct('lc_ref_pts', 'ann', '2023-02-12 00:00+00');
-- Without an amount, the rest: 25, all to G1.
SELECT points.refund(:c1, note => 'order cancelled', at => '2023-02-12 00:00+00') IS NOT NULL AS refunded;
SELECT * FROM pg_temp.lots('lc_ref_pts', 'ann');
-- Back to 180 available, nothing spent.
SELECT * FROM pg_temp.acct('lc_ref_pts', 'ann', '2023-02-12 00:00+00');
-- Nothing is left to refund, with or without an amount.
SELECT pg_temp.try(format($$points.refund(%s, at => '2023-02-13 00:00+00')$$, :c1));
SELECT pg_temp.try(format($$points.refund(%s, 1, at => '2023-02-13 00:00+00')$$, :c1));

-- The whole story in points.history: each refund points back (origin) to
-- the consume it refunds.
SELECT * FROM pg_temp.journal('lc_ref_pts', 'ann');
SELECT * FROM pg_temp.draws('lc_ref_pts', 'ann');

--
-- A capture is refunded like a consume.  Order 2002 holds 40 (30 of G1,
-- 10 of G2) and captures 25: the 15 released go back to G2 (10) and G1 (5),
-- so the capture spent 25 of G1.  Refunding it gives those 25 back to G1.
--
SELECT points.hold('lc_ref_pts', 'ann', 40, note => 'order 2002', at => '2023-03-01 00:00+00') AS h2 \gset
SELECT points.capture(:h2, 25, at => '2023-03-01 00:05+00') AS c2 \gset
SELECT * FROM pg_temp.lots('lc_ref_pts', 'ann');
SELECT * FROM pg_temp.acct('lc_ref_pts', 'ann', '2023-03-01 00:05+00');
SELECT points.refund(:c2, note => 'order 2002 refunded', at => '2023-03-02 00:00+00') IS NOT NULL AS refunded;
SELECT * FROM pg_temp.lots('lc_ref_pts', 'ann');
-- 180 available again, nothing spent.
SELECT * FROM pg_temp.acct('lc_ref_pts', 'ann', '2023-03-02 00:00+00');
SELECT pg_temp.try(format($$points.refund(%s, 1, at => '2023-03-02 00:00+00')$$, :c2));
-- The hold's journal: the refund's origin is the hold (entry 8), like
-- the capture's and the release's.
SELECT n, kind, amount, balance, held, origin, note FROM pg_temp.journal('lc_ref_pts', 'ann') WHERE n > 7;

-- A negative adjust is a debit too: 20 taken by hand (from G1), 5 refunded.
SELECT points.adjust('lc_ref_pts', 'ann', -20, note => 'manual correction', at => '2023-03-03 00:00+00') AS a1 \gset
SELECT points.refund(:a1, 5, at => '2023-03-04 00:00+00') IS NOT NULL AS refunded;
SELECT * FROM pg_temp.lots('lc_ref_pts', 'ann');
-- 180 - 20 + 5 = 165 available, 15 spent.
SELECT * FROM pg_temp.acct('lc_ref_pts', 'ann', '2023-03-04 00:00+00');

-- Only debits are refunded: a grant, a positive adjust, a hold, a
-- release, a refund are PT004.
SELECT points.adjust('lc_ref_pts', 'ann', 7, note => 'G4', at => '2023-03-05 00:00+00') AS a2 \gset
SELECT points.hold('lc_ref_pts', 'ann', 1, at => '2023-03-06 00:00+00') AS h3 \gset
SELECT points.release(:h3, at => '2023-03-06 00:01+00');
SELECT pg_temp.try(format($$points.refund(%s, at => '2023-03-07 00:00+00')$$,
                          (SELECT id FROM points.entries WHERE lot_id = :g3 AND kind = 'grant')));
SELECT pg_temp.try(format($$points.refund(%s, at => '2023-03-07 00:00+00')$$, :a2));
SELECT pg_temp.try(format($$points.refund(%s, at => '2023-03-07 00:00+00')$$,
                          (SELECT id FROM points.entries WHERE hold_id = :h3 AND kind = 'hold')));
SELECT pg_temp.try(format($$points.refund(%s, at => '2023-03-07 00:00+00')$$,
                          (SELECT id FROM points.entries WHERE hold_id = :h3 AND kind = 'release')));
SELECT pg_temp.try(format($$points.refund(%s, at => '2023-03-07 00:00+00')$$, :r1));
SELECT * FROM pg_temp.acct('lc_ref_pts', 'ann', '2023-03-07 00:00+00');

--
-- Strict FIFO: bo's G1 (50, never expires) is older than G2 (50, expires
-- 2023-06-01), so a consume of 70 takes G1's 50 and 20 of G2, and a refund
-- gives the newest drawn back first: G2's 20, then 10 of G1.
--
SELECT points.grant('lc_ref_fifo', 'bo', 50, note => 'G1', at => '2023-01-01 00:00+00') IS NOT NULL AS g1,
       points.grant('lc_ref_fifo', 'bo', 50, note => 'G2', expires_at => '2023-06-01 00:00+00',
                    at => '2023-01-02 00:00+00') IS NOT NULL AS g2;
SELECT points.consume('lc_ref_fifo', 'bo', 70, at => '2023-02-01 00:00+00') AS cb \gset
SELECT points.refund(:cb, 30, at => '2023-02-02 00:00+00') IS NOT NULL AS refunded;
SELECT * FROM pg_temp.draws('lc_ref_fifo', 'bo');
SELECT * FROM pg_temp.lots('lc_ref_fifo', 'bo');

--
-- Refunds into expired grants.  cy, dee and eve each have G1 (40, granted
-- 2023-03-01, expires 2023-03-31) and G2 (60, granted 2023-03-20, expires
-- 2023-04-19) and spend 50 on 2023-03-25: all 40 of G1 and 10 of G2.  The
-- refunds come on 2023-04-05, after G1 expired.
--
SELECT points.grant('lc_ref_exp', c, 40, note => 'G1', at => '2023-03-01 00:00+00') IS NOT NULL AS g1,
       points.grant('lc_ref_exp', c, 60, note => 'G2', at => '2023-03-20 00:00+00') IS NOT NULL AS g2
  FROM unnest(ARRAY['cy', 'dee', 'eve']) AS c;
SELECT points.consume('lc_ref_exp', 'cy', 50, at => '2023-03-25 00:00+00') AS ccy \gset
SELECT points.consume('lc_ref_exp', 'dee', 50, at => '2023-03-25 00:00+00') AS cdee \gset
SELECT points.consume('lc_ref_exp', 'eve', 50, at => '2023-03-25 00:00+00') AS ceve \gset
SELECT * FROM pg_temp.lots('lc_ref_exp', 'cy');
-- On 2023-04-05: G2's 50 available; G1 has nothing left to expire.
SELECT * FROM pg_temp.acct('lc_ref_exp', 'cy', '2023-04-05 00:00+00');

-- cy: the whole 50 are refunded.  10 go back to G2; the 40 of G1 expire at
-- once, an expire entry right after the refund.
SELECT points.refund(:ccy, note => 'order refunded', at => '2023-04-05 00:00+00') IS NOT NULL AS refunded;
SELECT * FROM pg_temp.journal('lc_ref_exp', 'cy');
SELECT * FROM pg_temp.draws('lc_ref_exp', 'cy');
-- 60 available, nothing spent, 40 expired.
SELECT * FROM pg_temp.acct('lc_ref_exp', 'cy', '2023-04-05 00:00+00');

-- dee: only 15 are refunded: 10 to G2, 5 to G1, which expire at once.
SELECT points.refund(:cdee, 15, at => '2023-04-05 00:00+00') IS NOT NULL AS refunded;
SELECT n, kind, amount, balance, grant_note, origin FROM pg_temp.journal('lc_ref_exp', 'dee') WHERE n > 3;
-- 50 + 10 = 60 available, 35 spent, 5 expired.
SELECT * FROM pg_temp.acct('lc_ref_exp', 'dee', '2023-04-05 00:00+00');
-- The other 35 with reissue: all to G1, expired; they come back as a fresh
-- grant (reason refund, valid 30 days from the refund, the type's policy)
-- instead of being lost.
SELECT points.refund(:cdee, reissue => true, note => 'goodwill', at => '2023-04-06 00:00+00') IS NOT NULL AS refunded;
SELECT n, kind, amount, balance, grant_note, origin, note FROM pg_temp.journal('lc_ref_exp', 'dee') WHERE n > 5;
SELECT g.note AS grant_note, g.amount, g.remaining, g.reason, g.available_at, g.expires_at
  FROM points.grants g WHERE g.type = 'lc_ref_exp' AND g.customer = 'dee' ORDER BY g.id;
-- 60 + 35 = 95 available, nothing spent.  Lifetime expired counts the 35
-- that lapsed and were reissued too (40), earned only the two grants (100).
SELECT * FROM pg_temp.acct('lc_ref_exp', 'dee', '2023-04-06 00:00+00');

-- eve: reissue when the grant has not expired changes nothing: 10 go back
-- to G2 as a plain refund, no reissue entry.
SELECT points.refund(:ceve, 10, reissue => true, at => '2023-04-05 00:00+00') IS NOT NULL AS refunded;
SELECT n, kind, amount, balance, grant_note, origin FROM pg_temp.journal('lc_ref_exp', 'eve') WHERE n > 3;
SELECT * FROM pg_temp.acct('lc_ref_exp', 'eve', '2023-04-05 00:00+00');

--
-- Amounts at the type's scale: fay spends 7.25 of her 10.00 credits; 2.50
-- are refunded, then the rest, 4.75; not a cent more.
--
SELECT points.grant('lc_ref_cred', 'fay', 10.00, note => 'G1', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('lc_ref_cred', 'fay', 7.25, at => '2023-01-02 00:00+00') AS cfay \gset
SELECT points.refund(:cfay, 2.50, at => '2023-01-03 00:00+00') IS NOT NULL AS refunded;
SELECT pg_temp.try(format($$points.refund(%s, 4.76, at => '2023-01-04 00:00+00')$$, :cfay));
SELECT pg_temp.try(format($$points.refund(%s, 0.001, at => '2023-01-04 00:00+00')$$, :cfay));
SELECT points.refund(:cfay, at => '2023-01-04 00:00+00') IS NOT NULL AS refunded;
SELECT n, kind, amount, balance, origin FROM pg_temp.journal('lc_ref_cred', 'fay');
SELECT * FROM pg_temp.acct('lc_ref_cred', 'fay', '2023-01-04 00:00+00');
SELECT pg_temp.try(format($$points.refund(%s, 0.01, at => '2023-01-05 00:00+00')$$, :cfay));

--
-- Every other error of refund().  Each changes nothing.
--
SELECT pg_temp.try($$points.refund(-1, at => '2023-05-01 00:00+00')$$);
SELECT pg_temp.try($$points.refund(NULL, at => '2023-05-01 00:00+00')$$);
SELECT pg_temp.try(format($$points.refund(%s, at => NULL)$$, :ceve));
SELECT pg_temp.try(format($$points.refund(%s, reissue => NULL, at => '2023-05-01 00:00+00')$$, :ceve));
SELECT pg_temp.try(format($$points.refund(%s, 0, at => '2023-05-01 00:00+00')$$, :ceve));
SELECT pg_temp.try(format($$points.refund(%s, -3, at => '2023-05-01 00:00+00')$$, :ceve));
SELECT pg_temp.try(format($$points.refund(%s, 1.5, at => '2023-05-01 00:00+00')$$, :ceve));
SELECT pg_temp.try(format($$points.refund(%s, 1e30, at => '2023-05-01 00:00+00')$$, :ceve));
SELECT pg_temp.try(format($$points.refund(%s, 41, at => '2023-05-01 00:00+00')$$, :ceve));
SELECT pg_temp.try(format($$points.refund(%s, ref => '', at => '2023-05-01 00:00+00')$$, :ceve));
SELECT pg_temp.try(format($$points.refund(%s, at => 'infinity')$$, :ceve));
-- A ref is per type and operation: a refund ref reused for another entry
-- of the same type is PT003.
SELECT pg_temp.try(format($$points.refund(%s, 10, ref => 'lc-ref-2001-a', note => 'item A returned',
                   at => '2023-05-01 00:00+00')$$,
                   (SELECT id FROM points.entries WHERE type = 'lc_ref_pts' AND kind = 'adjust' AND amount < 0)));
SELECT * FROM pg_temp.acct('lc_ref_exp', 'eve', '2023-05-01 00:00+00');

-- The ledger is consistent.
SELECT * FROM points.verify();
