--
-- Points that are not spendable yet.  A pending grant (grant(...,
-- pending => true)) waits for confirm(): shown in pending, never spendable
-- before; its validity runs from the confirmation unless expires_at was
-- explicit; confirming twice is a no-op, confirming a voided grant PT004.
-- A grant with available_at in the future vests by itself at that time.
-- Every error, each with its SQLSTATE and the proof that it changed nothing.
-- Type codes of this file start with lc_pend_; grants are labelled by their
-- note (P1, G1, ...); ids never appear in the output (they depend on the
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
               pending numeric, debt numeric, grant_note text, origin bigint,
               at timestamptz, note text)
LANGUAGE sql AS $$
    SELECT row_number() OVER (ORDER BY h.id), h.kind, h.amount, h.balance, h.held,
           h.pending, h.debt, l.note,
           CASE WHEN h.origin_id IS NOT NULL THEN
               (SELECT count(*) FROM points.history o
                 WHERE o.type = t AND o.customer = c AND o.id <= h.origin_id) END,
           h.at, h.note
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

-- lc_pend_pts: points that never expire.  lc_pend_exp: valid 30 days.
INSERT INTO points.types (code, name, name_plural) VALUES ('lc_pend_pts', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, validity) VALUES ('lc_pend_exp', 'point', 'points', '30 days');

--
-- ann's order 4001 earns P1 (100 points) when it is paid; until it ships,
-- the grant is pending: a pending entry (amount 0, pending +100).
--
SELECT points.grant('lc_pend_pts', 'ann', 100, reason => 'purchase', ref => 'lc-pend-4001',
                    note => 'P1', pending => true, at => '2023-01-01 00:00+00') AS p1 \gset
SELECT * FROM pg_temp.journal('lc_pend_pts', 'ann');
SELECT * FROM pg_temp.lots('lc_pend_pts', 'ann');
-- Shown in pending, not available, not yet earned.
SELECT * FROM pg_temp.acct('lc_pend_pts', 'ann', '2023-01-02 00:00+00');
SELECT points.balance('lc_pend_pts', 'ann', '2023-01-02 00:00+00') AS balance;
SELECT pending FROM points.balances WHERE type = 'lc_pend_pts' AND customer = 'ann';
SELECT pending FROM points.outstanding WHERE type = 'lc_pend_pts' AND customer = 'ann';
-- Never spendable before the confirmation.
SELECT pg_temp.try($$points.consume('lc_pend_pts', 'ann', 1, at => '2023-01-02 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_pend_pts', 'ann', 1, at => '2023-01-02 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_pend_pts', 'ann', 'bo', 1, at => '2023-01-02 00:00+00')$$);
SELECT pg_temp.try($$points.adjust('lc_pend_pts', 'ann', -1, at => '2023-01-02 00:00+00')$$);

-- The webhook retries the grant: same ref and arguments, same grant and no
-- change.  With pending => false, or another amount, it is PT003.
SELECT pg_temp.ledger() AS before \gset
SELECT points.grant('lc_pend_pts', 'ann', 100, reason => 'purchase', ref => 'lc-pend-4001',
                    note => 'P1', pending => true, at => '2023-01-01 00:00+00') = :p1 AS same_grant;
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
SELECT pg_temp.try($$points.grant('lc_pend_pts', 'ann', 100, reason => 'purchase', ref => 'lc-pend-4001',
                   note => 'P1', at => '2023-01-01 00:00+00')$$);
SELECT pg_temp.try($$points.grant('lc_pend_pts', 'ann', 99, reason => 'purchase', ref => 'lc-pend-4001',
                   note => 'P1', pending => true, at => '2023-01-01 00:00+00')$$);

-- Order 4001 ships on 2023-01-10: the confirm entry moves the 100 from
-- pending to the balance; they are earned and available from then.
SELECT points.confirm(:p1, at => '2023-01-10 00:00+00');
SELECT * FROM pg_temp.journal('lc_pend_pts', 'ann');
SELECT * FROM pg_temp.lots('lc_pend_pts', 'ann');
SELECT * FROM pg_temp.acct('lc_pend_pts', 'ann', '2023-01-10 00:00+00');
-- Confirming again is a no-op, even at another time.
SELECT pg_temp.ledger() AS before \gset
SELECT points.confirm(:p1, at => '2023-01-11 00:00+00');
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
-- So is confirming a grant that was never pending.
SELECT points.grant('lc_pend_pts', 'ann', 5, note => 'G1', at => '2023-01-12 00:00+00') AS g1 \gset
SELECT pg_temp.ledger() AS before \gset
SELECT points.confirm(:g1, at => '2023-01-13 00:00+00');
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
-- Now they spend.
SELECT points.consume('lc_pend_pts', 'ann', 105, at => '2023-01-14 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.acct('lc_pend_pts', 'ann', '2023-01-14 00:00+00');

--
-- Validity runs from the confirmation.  bo's P1 (50, granted 2023-01-01,
-- valid 30 days) shows expires_at 2023-01-31 while pending; confirmed on
-- 2023-01-20 it is available from then and expires 30 days later, on
-- 2023-02-19.
--
SELECT points.grant('lc_pend_exp', 'bo', 50, note => 'P1', pending => true, at => '2023-01-01 00:00+00') AS bo_p1 \gset
-- P2 (50) has an explicit expires_at, 2023-03-01: it stays.
SELECT points.grant('lc_pend_exp', 'bo', 50, note => 'P2', pending => true, expires_at => '2023-03-01 00:00+00',
                    at => '2023-01-01 00:00+00') AS bo_p2 \gset
-- P3 (50) expires 2023-02-01, explicitly, before it is confirmed.
SELECT points.grant('lc_pend_exp', 'bo', 50, note => 'P3', pending => true, expires_at => '2023-02-01 00:00+00',
                    at => '2023-01-01 00:00+00') AS bo_p3 \gset
SELECT * FROM pg_temp.lots('lc_pend_exp', 'bo');
SELECT points.confirm(:bo_p1, at => '2023-01-20 00:00+00'), points.confirm(:bo_p2, at => '2023-01-20 00:00+00');
SELECT * FROM pg_temp.lots('lc_pend_exp', 'bo');
-- P3 cannot be confirmed after it expired: PT004.
SELECT pg_temp.try(format($$points.confirm(%s, at => '2023-02-05 00:00+00')$$, :bo_p3));
-- 100 available from the confirmation, P1's 50 expire on 2023-02-19, P2's
-- 50 on 2023-03-01; P3 is still pending.
SELECT t AS at, a.available, a.pending, a.next_expiry_at, a.next_expiry_amount
  FROM unnest(ARRAY['2023-01-20 00:00+00', '2023-02-18 23:59:59+00',
                    '2023-02-19 00:00+00', '2023-03-01 00:00+00']::timestamptz[]) AS t,
       points.account('lc_pend_exp', 'bo', t) AS a;

--
-- A pending grant that also vests later: cy's P1 (40, available
-- 2023-02-01, granted 2023-01-01) is confirmed on 2023-01-15.  It is still
-- not spendable before 2023-02-01, and its validity runs from then: it
-- expires 2023-03-03.
--
SELECT points.grant('lc_pend_exp', 'cy', 40, note => 'P1', pending => true, available_at => '2023-02-01 00:00+00',
                    at => '2023-01-01 00:00+00') AS cy_p1 \gset
SELECT points.confirm(:cy_p1, at => '2023-01-15 00:00+00');
SELECT * FROM pg_temp.lots('lc_pend_exp', 'cy');
SELECT pg_temp.try($$points.consume('lc_pend_exp', 'cy', 1, at => '2023-01-31 23:59:59+00')$$);
SELECT points.consume('lc_pend_exp', 'cy', 40, at => '2023-02-01 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.acct('lc_pend_exp', 'cy', '2023-02-01 00:00+00');

--
-- Vesting without a confirm: dee's G1 (100) is earned on 2023-01-01 but
-- only available after a 7-day returns window, on 2023-01-08; valid 30
-- days from then (2023-02-07).  G2 (10) is available at once.
--
SELECT points.grant('lc_pend_exp', 'dee', 100, reason => 'purchase', note => 'G1',
                    available_at => '2023-01-08 00:00+00', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('lc_pend_exp', 'dee', 10, note => 'G2', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT * FROM pg_temp.lots('lc_pend_exp', 'dee');
SELECT t AS at, points.balance('lc_pend_exp', 'dee', t) AS balance
  FROM unnest(ARRAY['2023-01-01 00:00+00', '2023-01-07 23:59:59+00', '2023-01-08 00:00+00',
                    '2023-01-30 23:59:59+00', '2023-01-31 00:00+00', '2023-02-07 00:00+00']::timestamptz[]) AS t;
-- Before 2023-01-08 only G2's 10 are spendable or holdable.
SELECT pg_temp.try($$points.consume('lc_pend_exp', 'dee', 11, at => '2023-01-05 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_pend_exp', 'dee', 11, at => '2023-01-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_pend_exp', 'dee', 'eve', 11, at => '2023-01-05 00:00+00')$$);
SELECT available, held FROM points.account('lc_pend_exp', 'dee', '2023-01-05 00:00+00');
-- From 2023-01-08, G1 spends too; G2 expires first (2023-01-31), so it
-- goes first.
SELECT points.consume('lc_pend_exp', 'dee', 30, at => '2023-01-08 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.draws('lc_pend_exp', 'dee');
SELECT * FROM pg_temp.acct('lc_pend_exp', 'dee', '2023-01-08 00:00+00');

--
-- Every other error of confirm() and of a pending or vesting grant().
-- Each changes nothing.
--
SELECT points.grant('lc_pend_pts', 'fay', 10, note => 'P1', pending => true, at => '2023-01-01 00:00+00') AS fay_p1 \gset
SELECT points.revoke(:fay_p1, at => '2023-01-02 00:00+00') IS NOT NULL AS voided;
SELECT pg_temp.try(format($$points.confirm(%s, at => '2023-01-03 00:00+00')$$, :fay_p1));
SELECT pg_temp.try($$points.confirm(-1, at => '2023-01-03 00:00+00')$$);
SELECT pg_temp.try($$points.confirm(NULL, at => '2023-01-03 00:00+00')$$);
SELECT pg_temp.try(format($$points.confirm(%s, at => NULL)$$, :fay_p1));
SELECT pg_temp.try(format($$points.confirm(%s, at => 'infinity')$$, :fay_p1));
SELECT pg_temp.try($$points.grant('lc_pend_pts', 'fay', 10, pending => NULL, at => '2023-01-03 00:00+00')$$);
SELECT pg_temp.try($$points.grant('lc_pend_pts', 'fay', 10, available_at => '2023-01-02 00:00+00',
                   at => '2023-01-03 00:00+00')$$);
SELECT pg_temp.try($$points.grant('lc_pend_pts', 'fay', 10, available_at => '2023-02-01 00:00+00',
                   expires_at => '2023-02-01 00:00+00', at => '2023-01-03 00:00+00')$$);
SELECT pg_temp.try($$points.grant('lc_pend_pts', 'fay', 10, pending => true, expires_at => '2023-01-02 00:00+00',
                   at => '2023-01-03 00:00+00')$$);
SELECT * FROM pg_temp.lots('lc_pend_pts', 'fay');
SELECT * FROM pg_temp.acct('lc_pend_pts', 'fay', '2023-01-03 00:00+00');

-- The ledger is consistent.
SELECT * FROM points.verify();
