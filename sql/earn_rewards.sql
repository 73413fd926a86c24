--
-- The rewards catalogue: redeem(type, customer, reward, ref, at, note)
-- spends a reward's cost in consumption order and issues a unique
-- unguessable code, within stock and per-customer limits;
-- cancel_redemption(id, note, at) gives the points and the unit of stock
-- back.  Every error with its SQLSTATE and the proof that it changed
-- nothing.  Type codes of this file start with ew_; codes and ids never
-- appear in the output.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Every row of every ledger table and the rewards' stock, hashed.
CREATE FUNCTION pg_temp.ledger() RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat(
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.entries x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.entry_id, x.lot_id) FROM points.allocations x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.lots x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.type, x.op, x.ref) FROM points.requests x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.accounts x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.redemptions x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.type, x.code) FROM points.rewards x)))
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
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '(redemption|entry) -?\d+', '\1 #', 'g')
        || CASE WHEN pg_temp.ledger() = before THEN ' [nothing changed]'
                ELSE ' [LEDGER CHANGED]' END;
END $$;

-- A redemption as the app sees it, without its id and random code: is
-- the code 16 characters of Crockford's base32?
CREATE FUNCTION pg_temp.shown(r points.redemptions)
RETURNS TABLE (customer text, reward text, kind text, name text, cost numeric,
               value numeric, status text, good_code boolean, at timestamptz,
               cancelled_at timestamptz, ref text, note text)
LANGUAGE sql AS $$
    SELECT r.customer, r.reward, r.kind, r.name, r.cost, r.value, r.status,
           r.code ~ '^[0-9A-HJKMNP-TV-Z]{16}$', r.at, r.cancelled_at, r.ref, r.note
$$;

CREATE FUNCTION pg_temp.stock(t text)
RETURNS TABLE (reward text, stock integer) LANGUAGE sql AS $$
    SELECT code, stock FROM points.rewards WHERE type = t ORDER BY code
$$;

INSERT INTO points.types (code, name, name_plural, redeem_points, redeem_value, currency)
VALUES ('ew_pts', 'point', 'points', 100, 1, 'USD');
INSERT INTO points.rewards (type, code, name, kind, cost, value, stock, per_customer, enabled)
VALUES ('ew_pts', 'ship', 'Free shipping', 'shipping', 500, 5.00, 2, 1, true),
       ('ew_pts', 'mug', 'Coffee mug', 'product', 300, NULL, NULL, NULL, true),
       ('ew_pts', 'gift10', '$10 gift card', 'gift_card', 1000, 10.00, NULL, NULL, true),
       ('ew_pts', 'off15', '15% off', 'coupon', 800, NULL, NULL, NULL, false);

-- ann has two grants: A (600, expires 2024-06-01) and B (600, never).
SELECT points.grant('ew_pts', 'ann', 600, note => 'A', expires_at => '2024-06-01 00:00+00',
                    at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT points.grant('ew_pts', 'ann', 600, note => 'B', at => '2024-01-01 00:00+00') > 0 AS granted;

--
-- Redeem free shipping: the row with its code; the cost is spent from the
-- earliest-expiring grant first (an entry of kind redeem); one unit of
-- stock is taken.
--
SELECT (pg_temp.shown(r)).* FROM points.redeem('ew_pts', 'ann', 'ship', at => '2024-01-02 00:00+00') r;
SELECT kind, amount, balance_after, note FROM points.entries
 WHERE type = 'ew_pts' AND customer = 'ann' AND kind = 'redeem';
SELECT note, remaining FROM points.grants WHERE type = 'ew_pts' AND customer = 'ann' ORDER BY note;
SELECT * FROM pg_temp.stock('ew_pts');
-- The redemption points at its entry.
SELECT e.kind, e.amount = -r.cost AS spent_cost FROM points.redemptions r
  JOIN points.entries e ON e.id = r.entry_id WHERE r.type = 'ew_pts' AND r.customer = 'ann';

-- Once per customer: ann's second free shipping is PT004.
SELECT pg_temp.try($$points.redeem('ew_pts', 'ann', 'ship', at => '2024-01-02 00:00+00')$$);
-- Other customers take the last unit; then it is out of stock (PT004).
SELECT points.grant('ew_pts', c, 1000, at => '2024-01-01 00:00+00') > 0 AS granted
  FROM unnest(ARRAY['bea', 'cid']) AS c;
SELECT (pg_temp.shown(r)).customer, (pg_temp.shown(r)).status
  FROM points.redeem('ew_pts', 'bea', 'ship', at => '2024-01-02 00:00+00') r;
SELECT * FROM pg_temp.stock('ew_pts');
SELECT pg_temp.try($$points.redeem('ew_pts', 'cid', 'ship', at => '2024-01-02 00:00+00')$$);

-- Unlimited stock: a note and a ref are kept.
SELECT (pg_temp.shown(r)).* FROM points.redeem('ew_pts', 'ann', 'mug', ref => 'ew-mug-1',
                                                note => 'order 77', at => '2024-01-03 00:00+00') r;
-- A retry with the ref returns the same redemption, code and all, and
-- changes nothing; another reward with that ref is PT003.
SELECT pg_temp.ledger() AS before \gset
SELECT a.id = b.id AND a.code = b.code AS same_redemption
  FROM points.redemptions a,
       points.redeem('ew_pts', 'ann', 'mug', ref => 'ew-mug-1', note => 'order 77',
                     at => '2024-01-04 00:00+00') b
 WHERE a.ref = 'ew-mug-1';
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
SELECT pg_temp.try($$points.redeem('ew_pts', 'ann', 'gift10', ref => 'ew-mug-1')$$);

-- Not enough points: PT001 (ann has 400 left), and for a customer
-- without an account.
SELECT points.balance('ew_pts', 'ann', '2024-01-05 00:00+00') AS balance;
SELECT pg_temp.try($$points.redeem('ew_pts', 'ann', 'gift10', at => '2024-01-05 00:00+00')$$);
SELECT pg_temp.try($$points.redeem('ew_pts', 'nobody', 'mug', at => '2024-01-05 00:00+00')$$);
-- A disabled reward, an unknown one: PT004, 42704.
SELECT pg_temp.try($$points.redeem('ew_pts', 'cid', 'off15', at => '2024-01-05 00:00+00')$$);
SELECT pg_temp.try($$points.redeem('ew_pts', 'cid', 'nope', at => '2024-01-05 00:00+00')$$);
-- A disabled type: PT002.
UPDATE points.types SET enabled = false WHERE code = 'ew_pts';
SELECT pg_temp.try($$points.redeem('ew_pts', 'cid', 'mug', at => '2024-01-05 00:00+00')$$);
UPDATE points.types SET enabled = true WHERE code = 'ew_pts';
-- Bad arguments: 22004, 22023, 42704.
SELECT pg_temp.try($$points.redeem(NULL, 'cid', 'mug')$$);
SELECT pg_temp.try($$points.redeem('ew_pts', NULL, 'mug')$$);
SELECT pg_temp.try($$points.redeem('ew_pts', 'cid', NULL)$$);
SELECT pg_temp.try($$points.redeem('ew_pts', 'cid', 'mug', at => NULL)$$);
SELECT pg_temp.try($$points.redeem('ew_pts', 'cid', '')$$);
SELECT pg_temp.try($$points.redeem('ew_nope', 'cid', 'mug')$$);

--
-- cancel_redemption(): ann's free shipping goes back: its 500 points to
-- the grants they came from, its unit to the stock.  Then ann may redeem
-- it again (cancelled redemptions do not count toward per_customer).
--
SELECT id AS r FROM points.redemptions WHERE type = 'ew_pts' AND customer = 'ann' AND reward = 'ship' \gset
SELECT (pg_temp.shown(c)).status, (pg_temp.shown(c)).cancelled_at
  FROM points.cancel_redemption(:r, note => 'order cancelled', at => '2024-01-10 00:00+00') c;
SELECT e.kind, e.amount, e.note, e.origin_id = r.entry_id AS refunds_the_redemption
  FROM points.redemptions r JOIN points.entries e ON e.id = r.refund_entry_id WHERE r.id = :r;
SELECT note, remaining FROM points.grants WHERE type = 'ew_pts' AND customer = 'ann' ORDER BY note;
SELECT * FROM pg_temp.stock('ew_pts');
-- Cancelling twice changes nothing.
SELECT pg_temp.ledger() AS before \gset
SELECT (points.cancel_redemption(:r, at => '2024-01-11 00:00+00')).status;
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
SELECT (pg_temp.shown(r)).status FROM points.redeem('ew_pts', 'ann', 'ship', at => '2024-01-12 00:00+00') r;
SELECT * FROM pg_temp.stock('ew_pts');

-- Points that go back to a grant expired meanwhile expire at once: dan
-- spent a grant that expired on 2024-02-01 and cancels after it.
SELECT points.grant('ew_pts', 'dan', 300, expires_at => '2024-02-01 00:00+00',
                    at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT id AS r FROM points.redeem('ew_pts', 'dan', 'mug', at => '2024-01-15 00:00+00') \gset
SELECT (points.cancel_redemption(:r, at => '2024-03-01 00:00+00')).status;
SELECT kind, amount, balance_after FROM points.entries WHERE type = 'ew_pts' AND customer = 'dan' ORDER BY id;
SELECT available, lifetime_spent, lifetime_expired FROM points.account('ew_pts', 'dan', '2024-03-02 00:00+00');

-- refund() refuses a redemption (PT004): cancelling it is the way, since
-- that also restores the reward's stock; cancelling gives back all of it.
SELECT points.grant('ew_pts', 'eva', 300, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT id AS r, entry_id AS e FROM points.redeem('ew_pts', 'eva', 'mug', at => '2024-01-02 00:00+00') \gset
SELECT pg_temp.try(format($$points.refund(%s, 100, at => '2024-01-03 00:00+00')$$, :e));
SELECT (points.cancel_redemption(:r, at => '2024-01-04 00:00+00')).status;
SELECT kind, amount FROM points.entries WHERE type = 'ew_pts' AND customer = 'eva' ORDER BY id;
SELECT available, lifetime_spent FROM points.account('ew_pts', 'eva', '2024-01-05 00:00+00');

-- Cancel errors: 42704 unknown redemption, 22004.
SELECT pg_temp.try($$points.cancel_redemption(-1)$$);
SELECT pg_temp.try($$points.cancel_redemption(NULL)$$);
SELECT pg_temp.try(format($$points.cancel_redemption(%s, at => NULL)$$, :r));

-- Codes are unique: 40 more redemptions, 40 more distinct codes.
SELECT points.grant('ew_pts', 'fox', 12000, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT count(DISTINCT r) AS redeemed
  FROM (SELECT (points.redeem('ew_pts', 'fox', 'mug', at => '2024-01-02 00:00+00')).id
          FROM generate_series(1, 40)) AS x(r);
SELECT count(*) AS redemptions, count(DISTINCT code) AS codes,
       bool_and(code ~ '^[0-9A-HJKMNP-TV-Z]{16}$') AS all_good
  FROM points.redemptions WHERE type = 'ew_pts';

-- The ledger is consistent; redeemed points count as spent.
SELECT customer, available, lifetime_spent FROM points.balances WHERE type = 'ew_pts' ORDER BY customer;
SELECT * FROM points.verify();
