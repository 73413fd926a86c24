--
-- clawback(grant_id, refunded, ref, note, at, policy): an order refunded
-- in part or in full gives back exactly what the refunded part earned,
-- at the rate, tier multiplier, minimum and maximum recorded when it was
-- earned; the type's clawback policy (or the one passed) decides when the
-- customer already spent the points; a pending grant is voided.  Every
-- error with its SQLSTATE and the proof that it changed nothing.
-- Type codes of this file start with ec_; ids never appear in the output.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Every row of every ledger table, hashed.
CREATE FUNCTION pg_temp.ledger() RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat(
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.entries x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.entry_id, x.lot_id) FROM points.allocations x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.lots x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.type, x.op, x.ref) FROM points.requests x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.accounts x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.earnings x)))
$$;

-- try(call): evaluate `call`; show its error as "SQLSTATE: message" (ids
-- masked as #) and whether the ledger is unchanged afterwards.
CREATE FUNCTION pg_temp.try(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.ledger();
BEGIN
    EXECUTE 'SELECT ' || call;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '(grant|entry) -?\d+', '\1 #', 'g')
        || CASE WHEN pg_temp.ledger() = before THEN ' [nothing changed]'
                ELSE ' [LEDGER CHANGED]' END;
END $$;

-- The points a clawback took (its revoke entry: from the balance, or as
-- debt), NULL when none.
CREATE FUNCTION pg_temp.took(entry_id bigint) RETURNS numeric LANGUAGE sql AS $$
    SELECT -amount FROM points.entries WHERE id = entry_id
$$;

-- The grant's state and what each rule's share looks like now.
CREATE FUNCTION pg_temp.state(grant_id bigint)
RETURNS TABLE (rule text, basis numeric, points numeric, refunded numeric,
               clawed_back numeric, grant_revoked numeric, grant_remaining numeric)
LANGUAGE sql AS $$
    SELECT r.name, e.basis, e.points, e.refunded, e.clawed_back, g.revoked, g.remaining
      FROM points.earnings e JOIN points.earn_rules r ON r.id = e.rule_id
      JOIN points.grants g ON g.id = e.lot_id
     WHERE e.lot_id = grant_id ORDER BY e.id
$$;

INSERT INTO points.types (code, name, name_plural) VALUES ('ec_pts', 'point', 'points');
INSERT INTO points.earn_rules (type, event, name, points, spend, min_amount, max_points)
VALUES ('ec_pts', 'purchase', '$1 = 1', 1, 1, NULL, NULL),
       ('ec_pts', 'purchase', 'over $100: 50', 50, NULL, 100, NULL),
       ('ec_pts', 'purchase', '$10 = 1, max 5', 1, 10, NULL, 5),
       ('ec_pts', 'signup', 'welcome', 20, NULL, NULL, NULL);

--
-- A $150 order earned 150 + 50 + 5 = 205.  Refunds of $30, then $25,
-- then the rest: each takes what the refunded part earned.
--
SELECT points.earn('ec_pts', 'amy', 'purchase', 150, at => '2024-01-01 00:00+00') AS g \gset
SELECT * FROM pg_temp.state(:g);
-- $120 left: 120 + 50 + 5 = 175, so 30 go.
SELECT pg_temp.took(points.clawback(:g, 30, note => 'item A returned', at => '2024-01-05 00:00+00')) AS took;
SELECT * FROM pg_temp.state(:g);
-- $95 left: below $100, the bonus goes too: 95 + 0 + 5 = 100, so 75 go.
SELECT pg_temp.took(points.clawback(:g, 25, at => '2024-01-06 00:00+00')) AS took;
SELECT * FROM pg_temp.state(:g);
-- $1 more: $94 left earns 94 + 5 = 99: 1 goes.
SELECT pg_temp.took(points.clawback(:g, 1, at => '2024-01-07 00:00+00')) AS took;
-- The rest (refunded NULL): everything that is left goes.
SELECT pg_temp.took(points.clawback(:g, at => '2024-01-08 00:00+00')) AS took;
SELECT * FROM pg_temp.state(:g);
-- Nothing more is due: NULL.
SELECT points.clawback(:g, at => '2024-01-09 00:00+00') AS nothing_more;
-- The journal: one revoke entry per clawback, with its note.
SELECT kind, amount, balance_after, note FROM points.entries WHERE lot_id = :g ORDER BY id;

--
-- The recorded rate counts, not today's: the "$1 = 1" rule doubles after
-- the order.  A $50 order earned 50 + 5; a $10 refund leaves $40, which
-- earned 40 + 4 at the recorded rates: 11 go (not 20 + 1).
--
SELECT points.earn('ec_pts', 'ben', 'purchase', 50, at => '2024-01-01 00:00+00') AS g \gset
UPDATE points.earn_rules SET points = 2 WHERE type = 'ec_pts' AND name = '$1 = 1';
SELECT pg_temp.took(points.clawback(:g, 10, at => '2024-01-02 00:00+00')) AS took;
UPDATE points.earn_rules SET points = 1 WHERE type = 'ec_pts' AND name = '$1 = 1';

-- A tier multiplier recorded at earn time is applied again, even after
-- the tier is gone: at x1.25, $10 earned 12 (12.5 floored) + 1 (1.25
-- floored); $7 earns 8 (8.75) + 0 (0.875), so a $3 refund takes 5.
INSERT INTO points.tiers (type, code, name, qualify_points, multiplier)
VALUES ('ec_pts', 'silver', 'Silver', 0, 1.25);
SELECT points.earn('ec_pts', 'cal', 'purchase', 10, at => '2024-01-01 00:00+00') AS g \gset
DELETE FROM points.tiers WHERE type = 'ec_pts';
SELECT * FROM pg_temp.state(:g);
SELECT pg_temp.took(points.clawback(:g, 3, at => '2024-01-02 00:00+00')) AS took;

-- Points in hundredths: "$10 = 1 credit", $19 earned 1.90; a $4 refund
-- leaves $15, 1.50: 0.40 go.
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('ec_cred', 'credit', 'credits', 2);
INSERT INTO points.earn_rules (type, event, name, points, spend)
VALUES ('ec_cred', 'purchase', '$10 = 1', 1, 10);
SELECT points.earn('ec_cred', 'dee', 'purchase', 19, at => '2024-01-01 00:00+00') AS g \gset
SELECT pg_temp.took(points.clawback(:g, 4, at => '2024-01-02 00:00+00')) AS took;
SELECT * FROM pg_temp.state(:g);

-- A fixed award without an amount can only be clawed back whole.
SELECT points.earn('ec_pts', 'eve', 'signup', at => '2024-01-01 00:00+00') AS g \gset
SELECT pg_temp.try(format($$points.clawback(%s, 5)$$, :g));
SELECT pg_temp.took(points.clawback(:g, at => '2024-01-02 00:00+00')) AS took;

--
-- Points already spent: the policy decides.  fay earned 100 on a $100
-- order (+ 50 bonus + 5) = 155 and spent 150; a full refund owes 155.
--
SELECT points.earn('ec_pts', 'fay', 'purchase', 100, at => '2024-01-01 00:00+00') AS g \gset
SELECT points.consume('ec_pts', 'fay', 150, at => '2024-01-02 00:00+00') > 0 AS spent;
-- reject (the type's policy): PT001, nothing changes.
SELECT pg_temp.try(format($$points.clawback(%s, at => '2024-01-03 00:00+00')$$, :g));
-- partial, on a $50 refund that owes 100 (50 + the 50 bonus): takes the 5
-- points that are left, the other 95 are forgiven.
SELECT pg_temp.took(points.clawback(:g, 50, policy => 'partial', at => '2024-01-03 00:00+00')) AS took;
SELECT available, debt FROM points.account('ec_pts', 'fay', '2024-01-04 00:00+00');
-- debt, on the rest of the refund, which owes the other 55: all of it
-- becomes debt, repaid by the next grants.
SELECT pg_temp.took(points.clawback(:g, policy => 'debt', at => '2024-01-04 00:00+00')) AS took;
SELECT available, debt FROM points.account('ec_pts', 'fay', '2024-01-05 00:00+00');
SELECT * FROM pg_temp.state(:g);

-- A manual revoke counts toward the clawback: 30 of 155 revoked by hand,
-- then a refund takes only what is still due.
SELECT points.earn('ec_pts', 'gus', 'purchase', 100, at => '2024-01-01 00:00+00') AS g \gset
SELECT points.revoke(:g, 30, note => 'manual', at => '2024-01-02 00:00+00') > 0 AS revoked;
-- $50 refunded: $50 left earns 50 + 0 + 5 = 55, 100 are due, 30 taken: 70.
SELECT pg_temp.took(points.clawback(:g, 50, at => '2024-01-03 00:00+00')) AS took;
SELECT * FROM pg_temp.state(:g);

-- A pending grant can only be voided whole.
SELECT points.earn('ec_pts', 'hal', 'purchase', 40, pending => true, at => '2024-01-01 00:00+00') AS g \gset
SELECT pg_temp.try(format($$points.clawback(%s, 10)$$, :g));
SELECT points.clawback(:g, at => '2024-01-02 00:00+00') > 0 AS voided;
SELECT status, revoked FROM points.grants WHERE id = :g;
SELECT kind, amount, pending FROM points.entries WHERE lot_id = :g ORDER BY id;
-- A partial refund that takes everything the order earned voids it too:
-- $10 earned 10 + 1; $0.50 left earns nothing.
SELECT points.earn('ec_pts', 'hal', 'purchase', 10, pending => true, at => '2024-01-01 00:00+00') AS g \gset
SELECT points.clawback(:g, 9.5, at => '2024-01-02 00:00+00') > 0 AS voided;
SELECT status FROM points.grants WHERE id = :g;

--
-- Idempotency by ref: a retry returns the first result and changes
-- nothing; other arguments with the same ref are PT003.
--
-- $60.50 earned 60 + 5 (6, at most 5); $10 refunded leaves 50 + 5.
SELECT points.earn('ec_pts', 'ivy', 'purchase', 60.5, at => '2024-01-01 00:00+00') AS g \gset
SELECT points.clawback(:g, 10, ref => 'ec-refund-1', at => '2024-01-02 00:00+00') AS e \gset
SELECT pg_temp.took(:e) AS took;
SELECT pg_temp.ledger() AS before \gset
SELECT points.clawback(:g, 10, ref => 'ec-refund-1', at => '2024-01-03 00:00+00') = :e AS same_entry;
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
SELECT pg_temp.try(format($$points.clawback(%s, 11, ref => 'ec-refund-1')$$, :g));
SELECT ref FROM points.entries WHERE id = :e;
-- $0.50 more leaves $50, which earned 50 + 5 too: nothing is due, NULL;
-- and NULL again on a retry.
SELECT points.clawback(:g, 0.5, ref => 'ec-refund-2', at => '2024-01-03 00:00+00') AS nothing,
       points.clawback(:g, 0.5, ref => 'ec-refund-2', at => '2024-01-03 00:00+00') AS nothing_again;

--
-- Errors.
--
SELECT points.grant('ec_pts', 'jon', 10, at => '2024-01-01 00:00+00') AS manual \gset
SELECT pg_temp.try(format($$points.clawback(%s)$$, :manual));
SELECT pg_temp.try($$points.clawback(-1)$$);
SELECT pg_temp.try($$points.clawback(NULL)$$);
SELECT pg_temp.try(format($$points.clawback(%s, 0)$$, :g));
SELECT pg_temp.try(format($$points.clawback(%s, -1)$$, :g));
SELECT pg_temp.try(format($$points.clawback(%s, 'NaN')$$, :g));
SELECT pg_temp.try(format($$points.clawback(%s, 100)$$, :g));
SELECT pg_temp.try(format($$points.clawback(%s, policy => 'maybe')$$, :g));
SELECT pg_temp.try(format($$points.clawback(%s, ref => '')$$, :g));
SELECT pg_temp.try(format($$points.clawback(%s, at => NULL)$$, :g));

-- The ledger is consistent.
SELECT * FROM points.verify();
