--
-- revoke(grant_id, amount, policy, ref, note, at): claw back a grant.  Its
-- own remaining points go first, then the customer's other available
-- points; what is still missing follows the policy: reject (PT001, nothing
-- changes), partial (forgiven, noted in the entry) or debt (recorded, and
-- repaid first by the next grant or confirm, each repayment a repay
-- entry).  Repeated partial revokes add up to at most the grant's amount.
-- A pending grant is voided.  Every error, each with its SQLSTATE and the
-- proof that it changed nothing.
-- Type codes of this file start with lc_rev_; grants are labelled by their
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

-- One type per clawback policy: lc_rev_reject (the default), lc_rev_partial,
-- lc_rev_debt.
INSERT INTO points.types (code, name, name_plural) VALUES ('lc_rev_reject', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, clawback_policy) VALUES ('lc_rev_partial', 'point', 'points', 'partial');
INSERT INTO points.types (code, name, name_plural, clawback_policy) VALUES ('lc_rev_debt', 'point', 'points', 'debt');

--
-- A grant nothing was spent from: ann earned G1 (100) with order 3001 and
-- has G2 (50).  Order 3001 is cancelled: all of G1 is revoked, from G1.
--
SELECT points.grant('lc_rev_reject', 'ann', 100, reason => 'purchase', note => 'G1',
                    at => '2023-01-01 00:00+00') AS ann_g1 \gset
SELECT points.grant('lc_rev_reject', 'ann', 50, note => 'G2', at => '2023-01-02 00:00+00') IS NOT NULL AS granted;
SELECT points.revoke(:ann_g1, ref => 'lc-rev-3001', note => 'order 3001 cancelled',
                     at => '2023-02-01 00:00+00') AS r1 \gset
SELECT * FROM pg_temp.journal('lc_rev_reject', 'ann');
SELECT * FROM pg_temp.draws('lc_rev_reject', 'ann');
SELECT * FROM pg_temp.lots('lc_rev_reject', 'ann');
-- 50 available.
SELECT * FROM pg_temp.acct('lc_rev_reject', 'ann', '2023-02-01 00:00+00');

-- A retry with the same ref and arguments returns the same entry and
-- changes nothing; other arguments with that ref are PT003.
SELECT pg_temp.ledger() AS before \gset
SELECT points.revoke(:ann_g1, ref => 'lc-rev-3001', note => 'order 3001 cancelled',
                     at => '2023-02-01 00:00+00') = :r1 AS same_entry;
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
SELECT pg_temp.try(format($$points.revoke(%s, 100, ref => 'lc-rev-3001', note => 'order 3001 cancelled',
                   at => '2023-02-01 00:00+00')$$, :ann_g1));
SELECT pg_temp.try(format($$points.revoke(%s, policy => 'reject', ref => 'lc-rev-3001',
                   note => 'order 3001 cancelled', at => '2023-02-01 00:00+00')$$, :ann_g1));
SELECT pg_temp.try(format($$points.revoke(%s, ref => 'lc-rev-3001', note => 'cancelled',
                   at => '2023-02-01 00:00+00')$$, :ann_g1));
-- Without the ref, a second revoke finds nothing left to revoke: without an
-- amount it does nothing (NULL), with one it is PT004.
SELECT pg_temp.try(format($$points.revoke(%s, at => '2023-02-02 00:00+00')$$, :ann_g1));
SELECT pg_temp.try(format($$points.revoke(%s, 1, at => '2023-02-02 00:00+00')$$, :ann_g1));
SELECT * FROM pg_temp.acct('lc_rev_reject', 'ann', '2023-02-02 00:00+00');

--
-- Partial revokes add up to at most the grant's amount.  bo's G1 (100) is
-- revoked in parts as order 3002 is refunded in parts: 30, 50, then the
-- rest (20); 21 more than the 80 already revoked, or anything after the
-- whole grant, is PT004.  G2 (10) is untouched: each part comes from G1.
--
SELECT points.grant('lc_rev_reject', 'bo', 100, note => 'G1', at => '2023-01-01 00:00+00') AS bo_g1 \gset
SELECT points.grant('lc_rev_reject', 'bo', 10, note => 'G2', at => '2023-01-02 00:00+00') IS NOT NULL AS granted;
SELECT points.revoke(:bo_g1, 30, note => 'refund 1 of order 3002', at => '2023-02-01 00:00+00') IS NOT NULL AS revoked;
SELECT points.revoke(:bo_g1, 50, note => 'refund 2 of order 3002', at => '2023-02-02 00:00+00') IS NOT NULL AS revoked;
SELECT pg_temp.try(format($$points.revoke(%s, 21, at => '2023-02-03 00:00+00')$$, :bo_g1));
SELECT * FROM pg_temp.lots('lc_rev_reject', 'bo');
SELECT points.revoke(:bo_g1, note => 'order 3002 refunded in full', at => '2023-02-03 00:00+00') IS NOT NULL AS revoked;
SELECT pg_temp.try(format($$points.revoke(%s, 1, at => '2023-02-04 00:00+00')$$, :bo_g1));
SELECT * FROM pg_temp.journal('lc_rev_reject', 'bo');
SELECT * FROM pg_temp.lots('lc_rev_reject', 'bo');
-- 10 available: G2's.
SELECT * FROM pg_temp.acct('lc_rev_reject', 'bo', '2023-02-04 00:00+00');

--
-- reject: cy earned G1 (100) with order 3003, got G2 (20) later, and spent
-- 90 from G1.  Revoking G1 would take G1's 10 and G2's 20 and still miss
-- 70: PT001, nothing changes.
--
SELECT points.grant('lc_rev_reject', 'cy', 100, note => 'G1', at => '2023-01-01 00:00+00') AS cy_g1 \gset
SELECT points.grant('lc_rev_reject', 'cy', 20, note => 'G2', at => '2023-01-02 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('lc_rev_reject', 'cy', 90, at => '2023-01-05 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.lots('lc_rev_reject', 'cy');
SELECT pg_temp.try(format($$points.revoke(%s, at => '2023-02-01 00:00+00')$$, :cy_g1));
SELECT pg_temp.try(format($$points.revoke(%s, 31, at => '2023-02-01 00:00+00')$$, :cy_g1));
SELECT * FROM pg_temp.acct('lc_rev_reject', 'cy', '2023-02-01 00:00+00');
-- 30 can be revoked: G1's 10 first, then 20 of G2.
SELECT points.revoke(:cy_g1, 30, at => '2023-02-01 00:00+00') IS NOT NULL AS revoked;
SELECT * FROM pg_temp.draws('lc_rev_reject', 'cy');
SELECT * FROM pg_temp.lots('lc_rev_reject', 'cy');
SELECT * FROM pg_temp.acct('lc_rev_reject', 'cy', '2023-02-01 00:00+00');
-- The policy can be chosen per call: the other 70, forgiven with partial.
-- Nothing is left to take: the entry takes 0 and notes what is forgiven.
SELECT points.revoke(:cy_g1, policy => 'partial', note => 'goodwill', at => '2023-02-02 00:00+00') IS NOT NULL AS revoked;
SELECT n, kind, amount, balance, debt, grant_note, note FROM pg_temp.journal('lc_rev_reject', 'cy') WHERE n > 3;
SELECT * FROM pg_temp.lots('lc_rev_reject', 'cy');
SELECT * FROM pg_temp.acct('lc_rev_reject', 'cy', '2023-02-02 00:00+00');

-- Held points are not available to a revoke either: dan holds 80 of G1's
-- 100, so revoking G1 finds only 20.
SELECT points.grant('lc_rev_reject', 'dan', 100, note => 'G1', at => '2023-01-01 00:00+00') AS dan_g1 \gset
SELECT points.hold('lc_rev_reject', 'dan', 80, until => '2023-03-01 00:00+00', at => '2023-01-02 00:00+00') AS dan_h \gset
SELECT pg_temp.try(format($$points.revoke(%s, at => '2023-01-03 00:00+00')$$, :dan_g1));
SELECT * FROM pg_temp.acct('lc_rev_reject', 'dan', '2023-01-03 00:00+00');
SELECT points.release(:dan_h, at => '2023-01-04 00:00+00');

--
-- partial (the type's policy): dee earned G1 (100), got G2 (20), spent 90
-- from G1.  Revoking G1 takes G1's 10 and G2's 20 and forgives the other
-- 70; the entry's note says so.
--
SELECT points.grant('lc_rev_partial', 'dee', 100, note => 'G1', at => '2023-01-01 00:00+00') AS dee_g1 \gset
SELECT points.grant('lc_rev_partial', 'dee', 20, note => 'G2', at => '2023-01-02 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('lc_rev_partial', 'dee', 90, at => '2023-01-05 00:00+00') IS NOT NULL AS consumed;
SELECT points.revoke(:dee_g1, note => 'order 3004 cancelled', at => '2023-02-01 00:00+00') IS NOT NULL AS revoked;
SELECT * FROM pg_temp.journal('lc_rev_partial', 'dee');
SELECT * FROM pg_temp.draws('lc_rev_partial', 'dee');
SELECT * FROM pg_temp.lots('lc_rev_partial', 'dee');
-- Nothing available, no debt.
SELECT * FROM pg_temp.acct('lc_rev_partial', 'dee', '2023-02-01 00:00+00');

-- Partial revokes add up under partial too: eve's G1 (100), of which she
-- spent 90, is revoked 50 (10 taken, 40 forgiven), then 50 (all forgiven),
-- then nothing more: PT004.
SELECT points.grant('lc_rev_partial', 'eve', 100, note => 'G1', at => '2023-01-01 00:00+00') AS eve_g1 \gset
SELECT points.consume('lc_rev_partial', 'eve', 90, at => '2023-01-05 00:00+00') IS NOT NULL AS consumed;
SELECT points.revoke(:eve_g1, 50, at => '2023-02-01 00:00+00') IS NOT NULL AS revoked;
SELECT points.revoke(:eve_g1, 50, at => '2023-02-02 00:00+00') IS NOT NULL AS revoked;
SELECT pg_temp.try(format($$points.revoke(%s, 1, at => '2023-02-03 00:00+00')$$, :eve_g1));
SELECT n, kind, amount, balance, debt, grant_note, note FROM pg_temp.journal('lc_rev_partial', 'eve');
SELECT * FROM pg_temp.lots('lc_rev_partial', 'eve');
SELECT * FROM pg_temp.acct('lc_rev_partial', 'eve', '2023-02-03 00:00+00');

--
-- debt (the type's policy): fay earned G1 (100) and spent 80 of it.
-- Revoking G1 takes its 20 and records a debt of 80: the balance goes
-- to -80, nothing is available.
--
SELECT points.grant('lc_rev_debt', 'fay', 100, note => 'G1', at => '2023-01-01 00:00+00') AS fay_g1 \gset
SELECT points.consume('lc_rev_debt', 'fay', 80, at => '2023-01-05 00:00+00') IS NOT NULL AS consumed;
SELECT points.revoke(:fay_g1, note => 'order 3005 cancelled', at => '2023-02-01 00:00+00') IS NOT NULL AS revoked;
SELECT * FROM pg_temp.journal('lc_rev_debt', 'fay');
SELECT * FROM pg_temp.draws('lc_rev_debt', 'fay');
SELECT * FROM pg_temp.acct('lc_rev_debt', 'fay', '2023-02-01 00:00+00');
SELECT points.balance('lc_rev_debt', 'fay', '2023-02-01 00:00+00') AS balance;
SELECT available, debt FROM points.balances WHERE type = 'lc_rev_debt' AND customer = 'fay';
-- A customer in debt cannot spend or hold anything.
SELECT pg_temp.try($$points.consume('lc_rev_debt', 'fay', 1, at => '2023-02-02 00:00+00')$$);
SELECT pg_temp.try($$points.hold('lc_rev_debt', 'fay', 1, at => '2023-02-02 00:00+00')$$);

-- The next grants repay the debt first.  G2 (50) goes entirely to it: a
-- repay entry draws G2's 50, the debt falls to 30, nothing is available.
SELECT points.grant('lc_rev_debt', 'fay', 50, note => 'G2', at => '2023-03-01 00:00+00') IS NOT NULL AS granted;
SELECT * FROM pg_temp.acct('lc_rev_debt', 'fay', '2023-03-01 00:00+00');
-- G3 (100) repays the last 30; 70 are available.
SELECT points.grant('lc_rev_debt', 'fay', 100, note => 'G3', at => '2023-04-01 00:00+00') IS NOT NULL AS granted;
SELECT * FROM pg_temp.acct('lc_rev_debt', 'fay', '2023-04-01 00:00+00');
SELECT * FROM pg_temp.journal('lc_rev_debt', 'fay');
SELECT * FROM pg_temp.draws('lc_rev_debt', 'fay');
SELECT * FROM pg_temp.lots('lc_rev_debt', 'fay');
-- Once repaid, the points spend as usual.
SELECT points.consume('lc_rev_debt', 'fay', 70, at => '2023-04-02 00:00+00') IS NOT NULL AS consumed;
SELECT * FROM pg_temp.acct('lc_rev_debt', 'fay', '2023-04-02 00:00+00');

-- A confirm repays a debt too.  gus spent all of G1 (100), which is then
-- revoked (policy debt, chosen per call on the reject type): a debt of
-- 100.  A pending grant P (60) does not repay it; its confirmation does.
SELECT points.grant('lc_rev_reject', 'gus', 100, note => 'G1', at => '2023-01-01 00:00+00') AS gus_g1 \gset
SELECT points.consume('lc_rev_reject', 'gus', 100, at => '2023-01-02 00:00+00') IS NOT NULL AS consumed;
SELECT pg_temp.try(format($$points.revoke(%s, at => '2023-02-01 00:00+00')$$, :gus_g1));
SELECT points.revoke(:gus_g1, policy => 'debt', at => '2023-02-01 00:00+00') IS NOT NULL AS revoked;
SELECT points.grant('lc_rev_reject', 'gus', 60, note => 'P', pending => true, at => '2023-02-02 00:00+00') AS gus_p \gset
SELECT * FROM pg_temp.acct('lc_rev_reject', 'gus', '2023-02-02 00:00+00');
SELECT points.confirm(:gus_p, at => '2023-02-10 00:00+00');
-- 60 of the debt repaid: 40 left, nothing available.
SELECT * FROM pg_temp.acct('lc_rev_reject', 'gus', '2023-02-10 00:00+00');
SELECT * FROM pg_temp.journal('lc_rev_reject', 'gus');
SELECT * FROM pg_temp.lots('lc_rev_reject', 'gus');

--
-- A pending grant is voided, whole: hal's P1 (40) waits for order 3006,
-- which is cancelled.  A void entry takes it out of pending; nothing was
-- ever available, so no debt whatever the policy.
--
SELECT points.grant('lc_rev_debt', 'hal', 40, note => 'P1', pending => true, at => '2023-01-01 00:00+00') AS hal_p1 \gset
SELECT points.grant('lc_rev_debt', 'hal', 40, note => 'P2', pending => true, at => '2023-01-01 00:00+00') AS hal_p2 \gset
SELECT * FROM pg_temp.acct('lc_rev_debt', 'hal', '2023-01-01 00:00+00');
SELECT points.revoke(:hal_p1, ref => 'lc-rev-3006', note => 'order 3006 cancelled', at => '2023-01-02 00:00+00') AS v1 \gset
SELECT * FROM pg_temp.journal('lc_rev_debt', 'hal');
SELECT * FROM pg_temp.lots('lc_rev_debt', 'hal');
SELECT * FROM pg_temp.acct('lc_rev_debt', 'hal', '2023-01-02 00:00+00');
-- The retry returns the void entry; a voided grant can be neither revoked
-- again nor confirmed (PT004).
SELECT points.revoke(:hal_p1, ref => 'lc-rev-3006', note => 'order 3006 cancelled', at => '2023-01-02 00:00+00') = :v1 AS same_entry;
SELECT pg_temp.try(format($$points.revoke(%s, at => '2023-01-03 00:00+00')$$, :hal_p1));
SELECT pg_temp.try(format($$points.confirm(%s, at => '2023-01-03 00:00+00')$$, :hal_p1));
-- A pending grant is voided whole or not at all: part of it is PT004;
-- its whole amount, given explicitly, voids it.
SELECT pg_temp.try(format($$points.revoke(%s, 10, at => '2023-01-03 00:00+00')$$, :hal_p2));
SELECT points.revoke(:hal_p2, 40, at => '2023-01-03 00:00+00') IS NOT NULL AS voided;
SELECT * FROM pg_temp.lots('lc_rev_debt', 'hal');
SELECT * FROM pg_temp.acct('lc_rev_debt', 'hal', '2023-01-03 00:00+00');

--
-- Every other error of revoke().  Each changes nothing.
--
SELECT points.grant('lc_rev_reject', 'ivy', 10, note => 'G1', at => '2023-01-01 00:00+00') AS ivy_g1 \gset
SELECT pg_temp.try($$points.revoke(-1, at => '2023-01-02 00:00+00')$$);
SELECT pg_temp.try($$points.revoke(NULL, at => '2023-01-02 00:00+00')$$);
SELECT pg_temp.try(format($$points.revoke(%s, at => NULL)$$, :ivy_g1));
SELECT pg_temp.try(format($$points.revoke(%s, policy => 'forgive', at => '2023-01-02 00:00+00')$$, :ivy_g1));
SELECT pg_temp.try(format($$points.revoke(%s, policy => '', at => '2023-01-02 00:00+00')$$, :ivy_g1));
SELECT pg_temp.try(format($$points.revoke(%s, 0, at => '2023-01-02 00:00+00')$$, :ivy_g1));
SELECT pg_temp.try(format($$points.revoke(%s, -1, at => '2023-01-02 00:00+00')$$, :ivy_g1));
SELECT pg_temp.try(format($$points.revoke(%s, 0.5, at => '2023-01-02 00:00+00')$$, :ivy_g1));
SELECT pg_temp.try(format($$points.revoke(%s, 1e30, at => '2023-01-02 00:00+00')$$, :ivy_g1));
SELECT pg_temp.try(format($$points.revoke(%s, 11, at => '2023-01-02 00:00+00')$$, :ivy_g1));
SELECT pg_temp.try(format($$points.revoke(%s, ref => '', at => '2023-01-02 00:00+00')$$, :ivy_g1));
SELECT pg_temp.try(format($$points.revoke(%s, at => 'infinity')$$, :ivy_g1));
-- A revoke ref reused for another grant of the type is PT003.
SELECT pg_temp.try(format($$points.revoke(%s, ref => 'lc-rev-3001', note => 'order 3001 cancelled',
                   at => '2023-02-01 00:00+00')$$, :ivy_g1));
SELECT * FROM pg_temp.lots('lc_rev_reject', 'ivy');
SELECT * FROM pg_temp.acct('lc_rev_reject', 'ivy', '2023-01-02 00:00+00');

-- The ledger is consistent.
SELECT * FROM points.verify();
