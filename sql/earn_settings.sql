--
-- The settings of earning and redemption: earn_rules, tiers, customers,
-- rewards and prices are validated by C triggers (22023 for a bad setting,
-- 42704 for an unknown type, 23503 for an unknown tier); earnings and
-- redemptions are written only by the points functions; every table and
-- sequence with user data is kept by pg_dump.
-- Type codes of this file start with es_.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- try(statement): run it; show its error as "SQLSTATE: message".
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

INSERT INTO points.types (code, name, name_plural) VALUES ('es_pts', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('es_cred', 'credit', 'credits', 2);
INSERT INTO points.tiers (type, code, name) VALUES ('es_pts', 'gold', 'Gold');

--
-- earn_rules
--
SELECT s AS statement, pg_temp.try(s) AS result FROM unnest(ARRAY[
  $$INSERT INTO points.earn_rules (type, event, points) VALUES ('es_pts', 'signup', 50)$$,
  $$INSERT INTO points.earn_rules (type, event, points, spend, min_amount, max_points, tier, per, validity, delay, pending, starts_at, ends_at)
    VALUES ('es_pts', 'purchase', 0.5, 1, 0, 100, 'gold', 'month', '1 year', '0', true, '2024-01-01', '2025-01-01')$$,
  $$INSERT INTO points.earn_rules (type, event, points, spend) VALUES ('es_cred', 'purchase', 1.2345, 10)$$,
  $$INSERT INTO points.earn_rules (type, event, points) VALUES ('es_cred', 'signup', 1.25)$$,
  $$INSERT INTO points.earn_rules (type, event, points) VALUES ('es_nope', 'signup', 50)$$,
  $$INSERT INTO points.earn_rules (type, event, points) VALUES ('es_pts', '', 50)$$,
  $$INSERT INTO points.earn_rules (type, event, points) VALUES ('es_pts', 'signup', 0)$$,
  $$INSERT INTO points.earn_rules (type, event, points) VALUES ('es_pts', 'signup', -5)$$,
  $$INSERT INTO points.earn_rules (type, event, points) VALUES ('es_pts', 'signup', 'NaN')$$,
  $$INSERT INTO points.earn_rules (type, event, points) VALUES ('es_pts', 'signup', 1.5)$$,
  $$INSERT INTO points.earn_rules (type, event, points, spend) VALUES ('es_pts', 'purchase', 1, 0)$$,
  $$INSERT INTO points.earn_rules (type, event, points, spend, min_amount) VALUES ('es_pts', 'purchase', 1, 1, -1)$$,
  $$INSERT INTO points.earn_rules (type, event, points, spend, max_points) VALUES ('es_pts', 'purchase', 1, 1, 0)$$,
  $$INSERT INTO points.earn_rules (type, event, points, spend, max_points) VALUES ('es_pts', 'purchase', 1, 1, 2.5)$$,
  $$INSERT INTO points.earn_rules (type, event, points, per) VALUES ('es_pts', 'checkin', 5, 'hour')$$,
  $$INSERT INTO points.earn_rules (type, event, points, validity) VALUES ('es_pts', 'review', 5, '0')$$,
  $$INSERT INTO points.earn_rules (type, event, points, validity) VALUES ('es_pts', 'review', 5, '-1 day')$$,
  $$INSERT INTO points.earn_rules (type, event, points, delay) VALUES ('es_pts', 'review', 5, '-3 hours')$$,
  $$INSERT INTO points.earn_rules (type, event, points, starts_at, ends_at) VALUES ('es_pts', 'promo', 5, '2024-02-01', '2024-01-01')$$,
  $$INSERT INTO points.earn_rules (type, event, points, tier) VALUES ('es_pts', 'promo', 5, 'platinum')$$,
  $$UPDATE points.earn_rules SET per = 'fortnight' WHERE type = 'es_pts' AND event = 'signup'$$
]) AS s;

--
-- tiers and customers
--
SELECT s AS statement, pg_temp.try(s) AS result FROM unnest(ARRAY[
  $$INSERT INTO points.tiers (type, code, name, qualify_points, period, multiplier) VALUES ('es_pts', 'vip', 'VIP', 1000, '1 year', 2)$$,
  $$INSERT INTO points.tiers (type, code, name) VALUES ('es_nope', 'vip', 'VIP')$$,
  $$INSERT INTO points.tiers (type, code, name) VALUES ('es_pts', '', 'Nameless')$$,
  $$INSERT INTO points.tiers (type, code, name) VALUES ('es_pts', 'blank', '')$$,
  $$INSERT INTO points.tiers (type, code, name, qualify_points) VALUES ('es_pts', 'neg', 'Neg', -1)$$,
  $$INSERT INTO points.tiers (type, code, name, multiplier) VALUES ('es_pts', 'neg', 'Neg', -0.5)$$,
  $$INSERT INTO points.tiers (type, code, name, period) VALUES ('es_pts', 'neg', 'Neg', '0')$$,
  $$INSERT INTO points.customers (type, customer, tier, tier_until, multiplier) VALUES ('es_pts', 'ann', 'gold', '2025-01-01', 1.5)$$,
  $$INSERT INTO points.customers (type, customer) VALUES ('es_nope', 'ann')$$,
  $$INSERT INTO points.customers (type, customer) VALUES ('es_pts', '')$$,
  $$INSERT INTO points.customers (type, customer, multiplier) VALUES ('es_pts', 'bob', -1)$$,
  $$INSERT INTO points.customers (type, customer, tier) VALUES ('es_pts', 'bob', 'platinum')$$,
  $$DELETE FROM points.tiers WHERE type = 'es_pts' AND code = 'gold'$$
]) AS s;
-- Renaming a tier renames it in the rules and customer settings.
UPDATE points.tiers SET code = 'golden' WHERE type = 'es_pts' AND code = 'gold';
SELECT (SELECT tier FROM points.earn_rules WHERE type = 'es_pts' AND event = 'purchase') AS rule_tier,
       (SELECT tier FROM points.customers WHERE type = 'es_pts' AND customer = 'ann') AS pinned;

--
-- rewards and prices
--
SELECT s AS statement, pg_temp.try(s) AS result FROM unnest(ARRAY[
  $$INSERT INTO points.rewards (type, code, name, kind, cost, value, stock, per_customer) VALUES ('es_pts', 'ship', 'Free shipping', 'shipping', 500, 5, 10, 1)$$,
  $$INSERT INTO points.rewards (type, code, name, kind, cost) VALUES ('es_nope', 'x', 'X', 'custom', 1)$$,
  $$INSERT INTO points.rewards (type, code, name, kind, cost) VALUES ('es_pts', '', 'X', 'custom', 1)$$,
  $$INSERT INTO points.rewards (type, code, name, kind, cost) VALUES ('es_pts', 'x', '', 'custom', 1)$$,
  $$INSERT INTO points.rewards (type, code, name, kind, cost) VALUES ('es_pts', 'x', 'X', 'voucher', 1)$$,
  $$INSERT INTO points.rewards (type, code, name, kind, cost) VALUES ('es_pts', 'x', 'X', 'custom', 0)$$,
  $$INSERT INTO points.rewards (type, code, name, kind, cost) VALUES ('es_pts', 'x', 'X', 'custom', 1.5)$$,
  $$INSERT INTO points.rewards (type, code, name, kind, cost, value) VALUES ('es_pts', 'x', 'X', 'custom', 1, -1)$$,
  $$INSERT INTO points.rewards (type, code, name, kind, cost, stock) VALUES ('es_pts', 'x', 'X', 'custom', 1, -1)$$,
  $$INSERT INTO points.rewards (type, code, name, kind, cost, per_customer) VALUES ('es_pts', 'x', 'X', 'custom', 1, 0)$$,
  $$UPDATE points.rewards SET stock = -1 WHERE type = 'es_pts' AND code = 'ship'$$,
  $$INSERT INTO points.prices (type, currency, min_quantity, unit_price) VALUES ('es_pts', 'USD', 100, 0.05)$$,
  $$INSERT INTO points.prices (type, currency, min_quantity, unit_price) VALUES ('es_nope', 'USD', 100, 0.05)$$,
  $$INSERT INTO points.prices (type, currency, min_quantity, unit_price) VALUES ('es_pts', 'usd', 100, 0.05)$$,
  $$INSERT INTO points.prices (type, currency, min_quantity, unit_price) VALUES ('es_pts', 'US', 100, 0.05)$$,
  $$INSERT INTO points.prices (type, currency, min_quantity, unit_price) VALUES ('es_pts', 'USD', 0, 0.05)$$,
  $$INSERT INTO points.prices (type, currency, min_quantity, unit_price) VALUES ('es_pts', 'USD', 1.5, 0.05)$$,
  $$INSERT INTO points.prices (type, currency, min_quantity, unit_price) VALUES ('es_pts', 'USD', 200, -0.05)$$
]) AS s;

--
-- earnings and redemptions are written only by the points functions,
-- never removed, even by their owner.
--
SELECT points.grant('es_pts', 'ann', 1000, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT points.earn('es_pts', 'ann', 'signup', at => '2024-01-01 00:00+00') > 0 AS earned;
SELECT (points.redeem('es_pts', 'ann', 'ship', at => '2024-01-02 00:00+00')).status;
SELECT s AS statement, pg_temp.try(s) AS result FROM unnest(ARRAY[
  $$UPDATE points.earnings SET points = 1000$$,
  $$DELETE FROM points.earnings$$,
  $$TRUNCATE points.earnings$$,
  $$INSERT INTO points.earnings (lot_id, account_id, type, customer, rule_id, event, rate_points, multiplier, points, at)
    VALUES (1, 1, 'es_pts', 'ann', 1, 'signup', 1, 1, 1000, now())$$,
  $$UPDATE points.redemptions SET status = 'cancelled'$$,
  $$DELETE FROM points.redemptions$$,
  $$TRUNCATE points.redemptions$$,
  $$DELETE FROM points.rewards WHERE type = 'es_pts' AND code = 'ship'$$
]) AS s;

-- pg_dump keeps the data of every table and sequence of this part.
SELECT c.relname
  FROM pg_extension e, unnest(e.extconfig) AS t(oid) JOIN pg_class c ON c.oid = t.oid
 WHERE e.extname = 'points'
   AND c.relname IN ('tiers', 'customers', 'earn_rules', 'earn_rules_id_seq', 'rewards',
                     'prices', 'earnings', 'earnings_id_seq', 'redemptions', 'redemptions_id_seq')
 ORDER BY c.relname;

SELECT * FROM points.verify();
