--
-- hold(), capture() and release(): points reserved for a pending order in
-- consumption order, neither spendable nor lost while held; captured fully
-- or partly (the rest goes back), or released; a hold resolves once.  A
-- capture succeeds after a reserved grant expired; points released into an
-- expired grant expire at once.  Every error, each with its SQLSTATE and the
-- proof that it changed nothing.
-- Type codes of this file start with lc_hold_; grants are labelled by their
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

-- lc_hold_pts: whole points, holds time out after 15 minutes (the default).
-- lc_hold_exp: points valid 30 days, holds time out after 2 hours.
-- lc_hold_cred: credits with two decimals.  lc_hold_off: to be disabled.
INSERT INTO points.types (code, name, name_plural) VALUES ('lc_hold_pts', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, validity, hold_timeout)
    VALUES ('lc_hold_exp', 'point', 'points', '30 days', '2 hours');
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('lc_hold_cred', 'credit', 'credits', 2);
INSERT INTO points.types (code, name, name_plural) VALUES ('lc_hold_off', 'point', 'points');

--
-- hold(type, customer, amount, ref, until, note, at) returns the hold id.
-- ann has G1 (50, expires 2023-06-01) and G2 (100, never expires).
--
SELECT points.grant('lc_hold_pts', 'ann', 50, note => 'G1', expires_at => '2023-06-01 00:00+00',
                    at => '2023-01-01 10:00+00') AS g1 \gset
SELECT points.grant('lc_hold_pts', 'ann', 100, note => 'G2', at => '2023-01-01 10:00+00') AS g2 \gset

-- Order 1001 reserves 70 points.  Consumption order takes the grant that
-- expires first: all 50 of G1, then 20 of G2.  until defaults to at plus
-- the type's hold_timeout (15 minutes).
SELECT points.hold('lc_hold_pts', 'ann', 70, ref => 'lc-hold-1001', note => 'order 1001',
                   at => '2023-02-01 10:00+00') AS h1 \gset
SELECT type, customer, amount, captured, status, until, at, ref, note, resolved_at
  FROM points.holds WHERE id = :h1;
-- The hold is an entry of kind hold: 70 leave the balance (150 -> 80) and
-- become held.
SELECT * FROM pg_temp.journal('lc_hold_pts', 'ann');
SELECT * FROM pg_temp.draws('lc_hold_pts', 'ann');
SELECT * FROM pg_temp.lots('lc_hold_pts', 'ann');
-- 80 available, 70 held: nothing is spent or expired.
SELECT * FROM pg_temp.acct('lc_hold_pts', 'ann', '2023-02-01 10:00+00');
SELECT points.balance('lc_hold_pts', 'ann', '2023-02-01 10:00+00') AS balance;
SELECT available, held FROM points.balances WHERE type = 'lc_hold_pts' AND customer = 'ann';

-- Held points are not spendable: 80 are, 81 are not.
SELECT pg_temp.try($$points.consume('lc_hold_pts', 'ann', 81, at => '2023-02-01 10:01+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', 81, at => '2023-02-01 10:01+00')$$);
SELECT * FROM pg_temp.acct('lc_hold_pts', 'ann', '2023-02-01 10:01+00');

-- A retry with the same ref and arguments returns the same hold and
-- changes nothing; other arguments with that ref are PT003.
SELECT pg_temp.ledger() AS before \gset
SELECT points.hold('lc_hold_pts', 'ann', 70, ref => 'lc-hold-1001', note => 'order 1001',
                   at => '2023-02-01 10:00+00') = :h1 AS same_hold;
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', 71, ref => 'lc-hold-1001', note => 'order 1001',
                   at => '2023-02-01 10:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', 70, ref => 'lc-hold-1001', note => 'order 1002',
                   at => '2023-02-01 10:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'bob', 70, ref => 'lc-hold-1001', note => 'order 1001',
                   at => '2023-02-01 10:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', 70, ref => 'lc-hold-1001', note => 'order 1001',
                   until => '2023-02-01 11:00+00', at => '2023-02-01 10:00+00')$$);

--
-- capture(hold_id, amount, at): payment for order 1001 succeeds for 30
-- points only.  The capture spends 30 of the held points (amount 0: they
-- had already left the balance; held -30) and the other 40 are released
-- back to the grants newest-drawn first: 20 to G2, then 20 to G1.
--
SELECT points.capture(:h1, 30, at => '2023-02-01 10:05+00') AS c1 \gset
SELECT amount, captured, status, resolved_at, settled_entry_id = :c1 AS settled_by_capture
  FROM points.holds WHERE id = :h1;
SELECT * FROM pg_temp.journal('lc_hold_pts', 'ann');
SELECT * FROM pg_temp.draws('lc_hold_pts', 'ann');
SELECT * FROM pg_temp.lots('lc_hold_pts', 'ann');
-- 150 - 30 = 120 available, nothing held, 30 spent.
SELECT * FROM pg_temp.acct('lc_hold_pts', 'ann', '2023-02-01 10:05+00');

-- The same capture again returns the same entry and changes nothing.
SELECT pg_temp.ledger() AS before \gset
SELECT points.capture(:h1, 30, at => '2023-02-01 10:06+00') = :c1 AS same_entry;
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
-- A hold resolves once: another amount, the whole hold (NULL), or a
-- release of the captured hold are PT004.
SELECT pg_temp.try(format($$points.capture(%s, 20, at => '2023-02-01 10:06+00')$$, :h1));
SELECT pg_temp.try(format($$points.capture(%s, at => '2023-02-01 10:06+00')$$, :h1));
SELECT pg_temp.try(format($$points.release(%s, at => '2023-02-01 10:06+00')$$, :h1));
SELECT * FROM pg_temp.acct('lc_hold_pts', 'ann', '2023-02-01 10:06+00');

-- A capture without amount spends the whole hold: no release entry.
-- Repeating it, with or without the amount, returns the same entry.
SELECT points.hold('lc_hold_pts', 'ann', 20, note => 'order 1002', at => '2023-02-02 10:00+00') AS h2 \gset
SELECT points.capture(:h2, at => '2023-02-02 10:01+00') AS c2 \gset
SELECT points.capture(:h2, at => '2023-02-02 10:02+00') = :c2 AS same_entry,
       points.capture(:h2, 20, at => '2023-02-02 10:02+00') = :c2 AS same_entry_by_amount;
SELECT amount, captured, status FROM points.holds WHERE id = :h2;
-- 120 - 20 = 100 available, 30 + 20 = 50 spent.
SELECT * FROM pg_temp.acct('lc_hold_pts', 'ann', '2023-02-02 10:02+00');

--
-- release(hold_id, at): payment for order 1003 fails.  All 40 held points
-- go back, newest-drawn first.  Releasing again is a no-op; capturing a
-- released hold is PT004.
--
SELECT points.hold('lc_hold_pts', 'ann', 40, note => 'order 1003', at => '2023-02-03 10:00+00') AS h3 \gset
SELECT * FROM pg_temp.acct('lc_hold_pts', 'ann', '2023-02-03 10:00+00');
SELECT points.release(:h3, at => '2023-02-03 10:10+00');
SELECT amount, captured, status, resolved_at FROM points.holds WHERE id = :h3;
SELECT * FROM pg_temp.acct('lc_hold_pts', 'ann', '2023-02-03 10:10+00');
SELECT pg_temp.ledger() AS before \gset
SELECT points.release(:h3, at => '2023-02-03 10:11+00');
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
SELECT pg_temp.try(format($$points.capture(%s, at => '2023-02-03 10:11+00')$$, :h3));
SELECT pg_temp.try(format($$points.capture(%s, 40, at => '2023-02-03 10:11+00')$$, :h3));
-- Capturing more than the hold reserves is PT001.
SELECT points.hold('lc_hold_pts', 'ann', 10, note => 'order 1004', at => '2023-02-04 10:00+00') AS h4 \gset
SELECT pg_temp.try(format($$points.capture(%s, 11, at => '2023-02-04 10:01+00')$$, :h4));
SELECT * FROM pg_temp.acct('lc_hold_pts', 'ann', '2023-02-04 10:01+00');
SELECT points.release(:h4, at => '2023-02-04 10:02+00');

-- ann's whole story, as points.history shows it.
SELECT * FROM pg_temp.journal('lc_hold_pts', 'ann');
SELECT * FROM pg_temp.lots('lc_hold_pts', 'ann');
SELECT * FROM pg_temp.acct('lc_hold_pts', 'ann', '2023-02-05 00:00+00');

--
-- until: the type's hold_timeout (2 hours for lc_hold_exp), or explicit;
-- it must be after at.
--
SELECT points.grant('lc_hold_exp', 'cy', 10, note => 'G1', at => '2023-01-01 10:00+00') IS NOT NULL AS granted;
SELECT points.hold('lc_hold_exp', 'cy', 1, at => '2023-01-02 10:00+00') AS hx \gset
SELECT points.hold('lc_hold_exp', 'cy', 1, until => '2023-01-09 00:00+00', at => '2023-01-02 10:00+00') AS hy \gset
SELECT id = :hx AS default_until, at, until FROM points.holds WHERE id IN (:hx, :hy) ORDER BY id;
SELECT pg_temp.try($$points.hold('lc_hold_exp', 'cy', 1, until => '2023-01-02 10:00+00', at => '2023-01-02 10:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_exp', 'cy', 1, until => '2023-01-01 10:00+00', at => '2023-01-02 10:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_exp', 'cy', 1, until => 'infinity', at => '2023-01-02 10:00+00')$$);
SELECT points.release(:hx, at => '2023-01-02 10:01+00'), points.release(:hy, at => '2023-01-02 10:01+00');
SELECT * FROM pg_temp.acct('lc_hold_exp', 'cy', '2023-01-02 10:01+00');

--
-- Held points are not lost when their grant expires meanwhile.  Each of
-- dee, eve and fay has G1 (40, granted 2023-03-01, expires 2023-03-31) and
-- G2 (60, granted 2023-03-20, expires 2023-04-19), and holds 50 on
-- 2023-03-30 until 2023-04-05: all 40 of G1 (it expires first) and 10 of G2.
-- On 2023-04-01 G1 has expired.
--
SELECT points.grant('lc_hold_exp', c, 40, note => 'G1', at => '2023-03-01 00:00+00') IS NOT NULL AS g1,
       points.grant('lc_hold_exp', c, 60, note => 'G2', at => '2023-03-20 00:00+00') IS NOT NULL AS g2
  FROM unnest(ARRAY['dee', 'eve', 'fay']) AS c;
SELECT points.hold('lc_hold_exp', 'dee', 50, until => '2023-04-05 00:00+00', at => '2023-03-30 12:00+00') AS hd \gset
SELECT points.hold('lc_hold_exp', 'eve', 50, until => '2023-04-05 00:00+00', at => '2023-03-30 12:00+00') AS he \gset
SELECT points.hold('lc_hold_exp', 'fay', 50, until => '2023-04-05 00:00+00', at => '2023-03-30 12:00+00') AS hf \gset
SELECT * FROM pg_temp.lots('lc_hold_exp', 'dee');
SELECT * FROM pg_temp.draws('lc_hold_exp', 'dee');
-- On 2023-04-01: 50 available (G2), 50 still held, nothing expired (G1 has
-- nothing left: its 40 are held).
SELECT * FROM pg_temp.acct('lc_hold_exp', 'dee', '2023-04-01 00:00+00');

-- dee: the whole hold is captured after G1 expired.  It succeeds; nothing
-- expires.
SELECT points.capture(:hd, at => '2023-04-01 12:00+00') IS NOT NULL AS captured;
SELECT * FROM pg_temp.journal('lc_hold_exp', 'dee');
SELECT * FROM pg_temp.acct('lc_hold_exp', 'dee', '2023-04-01 12:00+00');

-- eve: 30 are captured; the 20 released go back newest-drawn first, 10 to
-- G2 and 10 to G1.  G1 has expired: those 10 expire at once, an expire
-- entry right after the release.  60 available, 30 spent, 10 expired.
SELECT points.capture(:he, 30, at => '2023-04-01 12:00+00') IS NOT NULL AS captured;
SELECT * FROM pg_temp.journal('lc_hold_exp', 'eve');
SELECT * FROM pg_temp.draws('lc_hold_exp', 'eve');
SELECT * FROM pg_temp.lots('lc_hold_exp', 'eve');
SELECT * FROM pg_temp.acct('lc_hold_exp', 'eve', '2023-04-01 12:00+00');

-- fay: the hold is released.  10 go back to G2; the 40 of G1 expire at once.
SELECT points.release(:hf, at => '2023-04-01 12:00+00');
SELECT * FROM pg_temp.journal('lc_hold_exp', 'fay');
SELECT * FROM pg_temp.lots('lc_hold_exp', 'fay');
SELECT * FROM pg_temp.acct('lc_hold_exp', 'fay', '2023-04-01 12:00+00');

-- The expired G1 is gone for good: on 2023-04-01 fay has G2's 60 points,
-- no more.
SELECT pg_temp.try($$points.hold('lc_hold_exp', 'fay', 61, at => '2023-04-01 13:00+00')$$);

--
-- Amounts at the type's scale: gus has 20.50 credits; 12.34 are held,
-- 10.01 captured, the other 2.33 go back.
--
SELECT points.grant('lc_hold_cred', 'gus', 20.50, note => 'G1', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.hold('lc_hold_cred', 'gus', 12.34, at => '2023-01-02 00:00+00') AS hg \gset
-- 20.50 - 12.34 = 8.16 available.
SELECT * FROM pg_temp.acct('lc_hold_cred', 'gus', '2023-01-02 00:00+00');
SELECT pg_temp.try($$points.hold('lc_hold_cred', 'gus', 8.17, at => '2023-01-02 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_cred', 'gus', 1.005, at => '2023-01-02 00:00+00')$$);
SELECT pg_temp.try(format($$points.capture(%s, 0.001, at => '2023-01-02 00:01+00')$$, :hg));
SELECT pg_temp.try(format($$points.capture(%s, 12.35, at => '2023-01-02 00:01+00')$$, :hg));
SELECT points.capture(:hg, 10.01, at => '2023-01-02 00:01+00') IS NOT NULL AS captured;
SELECT * FROM pg_temp.journal('lc_hold_cred', 'gus');
-- 20.50 - 10.01 = 10.49 available, 10.01 spent.
SELECT * FROM pg_temp.acct('lc_hold_cred', 'gus', '2023-01-02 00:01+00');
-- A hold of 1.00 released: 10.49 again.
SELECT points.hold('lc_hold_cred', 'gus', 1, at => '2023-01-03 00:00+00') AS hg2 \gset
SELECT points.release(:hg2, at => '2023-01-03 00:01+00');
SELECT * FROM pg_temp.acct('lc_hold_cred', 'gus', '2023-01-03 00:01+00');

--
-- A disabled type: no new holds (PT002), but a hold placed before can
-- still be released.
--
SELECT points.grant('lc_hold_off', 'hal', 10, note => 'G1', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.hold('lc_hold_off', 'hal', 4, at => '2023-01-02 00:00+00') AS hh \gset
UPDATE points.types SET enabled = false WHERE code = 'lc_hold_off';
SELECT pg_temp.try($$points.hold('lc_hold_off', 'hal', 1, at => '2023-01-03 00:00+00')$$);
SELECT points.release(:hh, at => '2023-01-03 00:00+00');
SELECT * FROM pg_temp.acct('lc_hold_off', 'hal', '2023-01-03 00:00+00');

--
-- Every other error of hold(), capture() and release().  Each changes
-- nothing.
--
-- Unknown type, hold, customer; a customer without enough points.
SELECT pg_temp.try($$points.hold('lc_hold_nope', 'ann', 1, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'nobody', 1, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', 101, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.capture(-1, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.release(-1, at => '2023-03-01 00:00+00')$$);
-- NULL where a value is required.
SELECT pg_temp.try($$points.hold(NULL, 'ann', 1, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', NULL, 1, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', NULL, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', 1, at => NULL)$$);
SELECT pg_temp.try($$points.capture(NULL, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try(format($$points.capture(%s, at => NULL)$$, :h4));
SELECT pg_temp.try($$points.release(NULL, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try(format($$points.release(%s, at => NULL)$$, :h4));
-- Bad values: amounts not positive or out of range, empty keys.
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', 0, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', -5, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', 0.5, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', 1e30, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', '', 1, at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', 1, ref => '', at => '2023-03-01 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_hold_pts', 'ann', 1, at => 'infinity')$$);
SELECT points.hold('lc_hold_pts', 'ann', 5, at => '2023-03-01 00:00+00') AS h5 \gset
SELECT pg_temp.try(format($$points.capture(%s, 0, at => '2023-03-01 00:01+00')$$, :h5));
SELECT pg_temp.try(format($$points.capture(%s, -1, at => '2023-03-01 00:01+00')$$, :h5));
SELECT pg_temp.try(format($$points.capture(%s, 2.5, at => '2023-03-01 00:01+00')$$, :h5));
SELECT pg_temp.try(format($$points.capture(%s, 1, at => '-infinity')$$, :h5));
SELECT pg_temp.try(format($$points.release(%s, at => 'infinity')$$, :h5));
-- The hold is still open and whole after all that.
SELECT amount, captured, status FROM points.holds WHERE id = :h5;
SELECT points.release(:h5, at => '2023-03-01 00:02+00');
SELECT * FROM pg_temp.acct('lc_hold_pts', 'ann', '2023-03-01 00:02+00');

-- The ledger is consistent.
SELECT * FROM points.verify();
