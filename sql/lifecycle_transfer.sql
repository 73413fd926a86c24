--
-- transfer(type, from_customer, to_customer, amount, ref, note, at): points
-- move from one customer to another in the sender's consumption order; the
-- receiver gets one new grant per expiry moved, so the points keep their
-- expires_at; a receiver in debt repays it first.  Every error, each with
-- its SQLSTATE and the proof that it changed nothing.  (Both accounts are
-- locked in customer order: test/specs/lifecycle-transfer-crossed.spec.)
-- Type codes of this file start with lc_xfer_; grants are labelled by their
-- note; ids never appear in the output (they depend on the files run before
-- this one), entries are numbered per customer instead.
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

-- A customer's grants, labelled by their note, with their reason.
CREATE FUNCTION pg_temp.lots(t text, c text)
RETURNS TABLE (grant_note text, reason text, amount numeric, remaining numeric,
               available_at timestamptz, expires_at timestamptz)
LANGUAGE sql AS $$
    SELECT l.note, l.reason, g.amount, g.remaining, g.available_at, g.expires_at
      FROM points.grants g JOIN points.lots l ON l.id = g.id
     WHERE g.type = t AND g.customer = c ORDER BY g.id
$$;

-- A customer's journal from points.history, entries numbered 1, 2, ... per
-- customer; origin names the entry it comes from as customer#number (a
-- transfer_in's origin is the sender's transfer_out).
CREATE FUNCTION pg_temp.journal(t text, c text)
RETURNS TABLE (n bigint, kind text, amount numeric, balance numeric, debt numeric,
               grant_note text, origin text, at timestamptz, ref text, note text)
LANGUAGE sql AS $$
    SELECT row_number() OVER (ORDER BY h.id), h.kind, h.amount, h.balance, h.debt,
           l.note,
           (SELECT o.customer || '#' || (SELECT count(*) FROM points.history p
                                          WHERE p.type = o.type AND p.customer = o.customer
                                            AND p.id <= o.id)
              FROM points.history o WHERE o.id = h.origin_id),
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

-- lc_xfer_pts: whole points.  lc_xfer_debt: clawback policy debt.
-- lc_xfer_off: to be disabled.
INSERT INTO points.types (code, name, name_plural) VALUES ('lc_xfer_pts', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, clawback_policy) VALUES ('lc_xfer_debt', 'point', 'points', 'debt');
INSERT INTO points.types (code, name, name_plural) VALUES ('lc_xfer_off', 'point', 'points');

--
-- ann has G1 (30, expires 2023-03-01), G2 (50, expires 2023-06-01) and G3
-- (40, never expires).  She gives 60 to bo, who has no account yet: all 30
-- of G1 and 30 of G2 leave her account, and bo gets two grants, 30
-- expiring 2023-03-01 and 30 expiring 2023-06-01.
--
SELECT points.grant('lc_xfer_pts', 'ann', 30, note => 'G1', expires_at => '2023-03-01 00:00+00',
                    at => '2023-01-01 00:00+00') IS NOT NULL AS g1,
       points.grant('lc_xfer_pts', 'ann', 50, note => 'G2', expires_at => '2023-06-01 00:00+00',
                    at => '2023-01-01 00:00+00') IS NOT NULL AS g2,
       points.grant('lc_xfer_pts', 'ann', 40, note => 'G3', at => '2023-01-01 00:00+00') IS NOT NULL AS g3;
SELECT points.transfer('lc_xfer_pts', 'ann', 'bo', 60, ref => 'lc-xfer-1', note => 'birthday gift',
                       at => '2023-02-01 00:00+00') AS t1 \gset
-- The sender's transfer_out entry (the id transfer() returns) and the
-- receiver's transfer_in entries, one per expiry, pointing back to it.
SELECT * FROM pg_temp.journal('lc_xfer_pts', 'ann');
SELECT * FROM pg_temp.journal('lc_xfer_pts', 'bo');
SELECT kind, customer FROM points.entries WHERE id = :t1;
SELECT * FROM pg_temp.draws('lc_xfer_pts', 'ann');
SELECT * FROM pg_temp.lots('lc_xfer_pts', 'ann');
SELECT * FROM pg_temp.lots('lc_xfer_pts', 'bo');
-- 60 each.  A transfer is neither spent by the sender nor earned by the
-- receiver.
SELECT * FROM pg_temp.acct('lc_xfer_pts', 'ann', '2023-02-01 00:00+00');
SELECT * FROM pg_temp.acct('lc_xfer_pts', 'bo', '2023-02-01 00:00+00');
-- The points keep their expiry: on 2023-03-01 30 of bo's are gone, on
-- 2023-06-01 all of them.
SELECT t AS at, points.balance('lc_xfer_pts', 'bo', t) AS bo, points.balance('lc_xfer_pts', 'ann', t) AS ann
  FROM unnest(ARRAY['2023-02-28 23:59:59+00', '2023-03-01 00:00+00', '2023-06-01 00:00+00']::timestamptz[]) AS t;

-- The retry with the same ref and arguments returns the same entry and
-- changes nothing; other arguments with the ref are PT003.
SELECT pg_temp.ledger() AS before \gset
SELECT points.transfer('lc_xfer_pts', 'ann', 'bo', 60, ref => 'lc-xfer-1', note => 'birthday gift',
                       at => '2023-02-01 00:00+00') = :t1 AS same_entry;
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'bo', 61, ref => 'lc-xfer-1', note => 'birthday gift',
                   at => '2023-02-01 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'cy', 60, ref => 'lc-xfer-1', note => 'birthday gift',
                   at => '2023-02-01 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'bo', 'ann', 60, ref => 'lc-xfer-1', note => 'birthday gift',
                   at => '2023-02-01 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'bo', 60, ref => 'lc-xfer-1', note => 'gift',
                   at => '2023-02-01 00:00+00')$$);

-- bo gives 10 back: they come from his grant that expires first, and ann's
-- new grant expires 2023-03-01 too.
SELECT points.transfer('lc_xfer_pts', 'bo', 'ann', 10, note => 'change', at => '2023-02-02 00:00+00') IS NOT NULL AS transferred;
SELECT * FROM pg_temp.journal('lc_xfer_pts', 'bo');
SELECT * FROM pg_temp.lots('lc_xfer_pts', 'ann');
SELECT * FROM pg_temp.acct('lc_xfer_pts', 'ann', '2023-02-02 00:00+00');
SELECT * FROM pg_temp.acct('lc_xfer_pts', 'bo', '2023-02-02 00:00+00');
-- Not more than the sender has: held points are not available either.
SELECT points.hold('lc_xfer_pts', 'bo', 45, at => '2023-02-03 00:00+00') AS bo_h \gset
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'bo', 'ann', 6, at => '2023-02-03 00:00+00')$$);
SELECT points.release(:bo_h, at => '2023-02-03 00:01+00');
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'bo', 'ann', 51, at => '2023-02-03 00:01+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'nobody', 'ann', 1, at => '2023-02-03 00:01+00')$$);
SELECT * FROM pg_temp.acct('lc_xfer_pts', 'bo', '2023-02-03 00:01+00');
SELECT * FROM pg_temp.acct('lc_xfer_pts', 'ann', '2023-02-03 00:01+00');
-- The receiver of a failed transfer got no account.
SELECT count(*) AS accounts FROM points.accounts WHERE type = 'lc_xfer_pts' AND customer IN ('cy', 'nobody');

--
-- A receiver in debt repays it first: cy owes 100 (G1 spent, then
-- revoked under the debt policy); dee sends her 30, which go to the debt.
--
SELECT points.grant('lc_xfer_debt', 'cy', 100, note => 'G1', at => '2023-01-01 00:00+00') AS cy_g1 \gset
SELECT points.consume('lc_xfer_debt', 'cy', 100, at => '2023-01-02 00:00+00') IS NOT NULL AS consumed;
SELECT points.revoke(:cy_g1, at => '2023-01-03 00:00+00') IS NOT NULL AS revoked;
SELECT points.grant('lc_xfer_debt', 'dee', 50, note => 'G1', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.transfer('lc_xfer_debt', 'dee', 'cy', 30, note => 'help', at => '2023-01-04 00:00+00') IS NOT NULL AS transferred;
SELECT * FROM pg_temp.journal('lc_xfer_debt', 'cy');
SELECT * FROM pg_temp.acct('lc_xfer_debt', 'cy', '2023-01-04 00:00+00');
SELECT * FROM pg_temp.acct('lc_xfer_debt', 'dee', '2023-01-04 00:00+00');
-- A customer in debt has nothing to transfer.
SELECT pg_temp.try($$points.transfer('lc_xfer_debt', 'cy', 'dee', 1, at => '2023-01-05 00:00+00')$$);

--
-- A disabled type: no transfers (PT002).
--
SELECT points.grant('lc_xfer_off', 'eve', 10, note => 'G1', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
UPDATE points.types SET enabled = false WHERE code = 'lc_xfer_off';
SELECT pg_temp.try($$points.transfer('lc_xfer_off', 'eve', 'fay', 1, at => '2023-01-02 00:00+00')$$);
SELECT * FROM pg_temp.acct('lc_xfer_off', 'eve', '2023-01-02 00:00+00');

--
-- Every other error of transfer().  Each changes nothing.
--
SELECT pg_temp.try($$points.transfer('lc_xfer_nope', 'ann', 'bo', 1, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'ann', 1, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer(NULL, 'ann', 'bo', 1, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', NULL, 'bo', 1, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', NULL, 1, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'bo', NULL, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'bo', 1, at => NULL)$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'bo', 0, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'bo', -1, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'bo', 0.5, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'bo', 1e30, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', '', 'bo', 1, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', '', 1, at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'bo', 1, ref => '', at => '2023-02-05 00:00+00')$$);
SELECT pg_temp.try($$points.transfer('lc_xfer_pts', 'ann', 'bo', 1, at => 'infinity')$$);
SELECT * FROM pg_temp.acct('lc_xfer_pts', 'ann', '2023-02-05 00:00+00');
SELECT * FROM pg_temp.acct('lc_xfer_pts', 'bo', '2023-02-05 00:00+00');

-- The ledger is consistent.
SELECT * FROM points.verify();
