--
-- Tiers: a customer's tier is the highest whose qualify_points the
-- customer earned, lifetime or within a rolling period; its multiplier
-- applies to the ratio rules; a customer can be pinned to a tier (until a
-- time) and given a personal multiplier; earn rules can be limited to a
-- tier; account() and tier() show the tier.
-- Type codes of this file start with et_; ids never appear in the output.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- The points of the grant earn() returned (NULL: nothing earned).
CREATE FUNCTION pg_temp.pts(grant_id bigint) RETURNS numeric LANGUAGE sql AS $$
    SELECT amount FROM points.grants WHERE id = grant_id
$$;

-- try(call): evaluate `call`; show its error as "SQLSTATE: message".
CREATE FUNCTION pg_temp.try(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'SELECT ' || call;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- A type without tiers: no tier, and earn rules apply at multiplier 1.
INSERT INTO points.types (code, name, name_plural) VALUES ('et_none', 'point', 'points');
SELECT points.tier('et_none', 'nina', '2024-01-01 00:00+00') AS tier,
       (points.account('et_none', 'nina', '2024-01-01 00:00+00')).tier AS account_tier;

--
-- Lifetime tiers: bronze from 0 points (x1), silver from 500 (x1.25),
-- gold from 2000 (x1.5).  "$1 = 1 point" purchases and a fixed 10-point
-- review: the tier's multiplier applies to the ratio only.
--
INSERT INTO points.types (code, name, name_plural) VALUES ('et_life', 'point', 'points');
INSERT INTO points.tiers (type, code, name, qualify_points, multiplier)
VALUES ('et_life', 'bronze', 'Bronze', 0, 1),
       ('et_life', 'silver', 'Silver', 500, 1.25),
       ('et_life', 'gold', 'Gold', 2000, 1.5);
INSERT INTO points.earn_rules (type, event, name, points, spend)
VALUES ('et_life', 'purchase', '$1 = 1 point', 1, 1);
INSERT INTO points.earn_rules (type, event, name, points)
VALUES ('et_life', 'review', 'review', 10);

-- An unknown customer is in the tier that needs no points.
SELECT points.tier('et_life', 'nobody', '2024-01-01 00:00+00') AS tier;

-- 490 points: bronze.  A $100 order earns at bronze's x1 (the tier
-- before the award); the 590 points then reach silver.
SELECT points.grant('et_life', 'lia', 490, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT points.tier('et_life', 'lia', '2024-01-02 00:00+00') AS tier;
SELECT pg_temp.pts(points.earn('et_life', 'lia', 'purchase', 100, at => '2024-01-02 00:00+00')) AS at_bronze;
SELECT points.tier('et_life', 'lia', '2024-01-03 00:00+00') AS tier;
-- Silver: $10 earns 12.5, floored once to 12; $7 earns 8.75, so 8; the
-- review stays 10.
SELECT a AS amount,
       pg_temp.pts(points.earn('et_life', 'lia', 'purchase', a, at => '2024-01-03 00:00+00')) AS at_silver
  FROM unnest(ARRAY[10, 7]::numeric[]) AS a;
SELECT pg_temp.pts(points.earn('et_life', 'lia', 'review', at => '2024-01-03 00:00+00')) AS review;
SELECT tier, multiplier, points FROM points.earnings
 WHERE type = 'et_life' AND customer = 'lia' ORDER BY id;
-- account() shows the tier with the lifetime figures.
SELECT available, lifetime_earned, tier FROM points.account('et_life', 'lia', '2024-01-04 00:00+00');

-- Exactly at the threshold counts; spending does not demote (lifetime
-- earned never falls); pending points count once confirmed; points
-- received by transfer were not earned.
SELECT points.grant('et_life', 'max', 1999, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT points.tier('et_life', 'max', '2024-01-02 00:00+00') AS at_1999;
SELECT points.grant('et_life', 'max', 1, pending => true, at => '2024-01-02 00:00+00') AS p \gset
SELECT points.tier('et_life', 'max', '2024-01-02 00:00+00') AS while_pending;
SELECT points.confirm(:p, '2024-01-03 00:00+00');
SELECT points.tier('et_life', 'max', '2024-01-03 00:00+00') AS confirmed;
SELECT points.consume('et_life', 'max', 2000, at => '2024-01-04 00:00+00') > 0 AS spent_all;
SELECT available, lifetime_earned, tier FROM points.account('et_life', 'max', '2024-01-05 00:00+00');
SELECT points.transfer('et_life', 'lia', 'ned', 200, at => '2024-01-05 00:00+00') > 0 AS moved;
SELECT available, lifetime_earned, tier FROM points.account('et_life', 'ned', '2024-01-06 00:00+00');
-- A positive adjustment is earned; a negative one is spent.
SELECT points.adjust('et_life', 'ned', 600, 'goodwill', at => '2024-01-06 00:00+00') > 0 AS adjusted;
SELECT points.adjust('et_life', 'ned', -700, 'correction', at => '2024-01-06 00:00+00') > 0 AS adjusted;
SELECT available, lifetime_earned, tier FROM points.account('et_life', 'ned', '2024-01-07 00:00+00');

--
-- Rolling tiers: VIP needs 1000 points earned within the last year
-- (x2); members need none.  Only earned points in (at - period, at]
-- count, on the type's calendar.
--
INSERT INTO points.types (code, name, name_plural) VALUES ('et_roll', 'point', 'points');
INSERT INTO points.tiers (type, code, name, qualify_points, period, multiplier)
VALUES ('et_roll', 'member', 'Member', 0, NULL, 1),
       ('et_roll', 'vip', 'VIP', 1000, '1 year', 2);
INSERT INTO points.earn_rules (type, event, name, points, spend)
VALUES ('et_roll', 'purchase', '$1 = 1 point', 1, 1);
-- VIP-only rule: a 50-point birthday gift; everyone gets 5.
INSERT INTO points.earn_rules (type, event, name, points, tier)
VALUES ('et_roll', 'birthday', 'VIP birthday', 50, 'vip');
INSERT INTO points.earn_rules (type, event, name, points)
VALUES ('et_roll', 'birthday', 'birthday', 5);

SELECT points.grant('et_roll', 'rob', 600, at => '2024-03-01 10:00+00') > 0 AS granted;
SELECT pg_temp.pts(points.earn('et_roll', 'rob', 'purchase', 400, at => '2024-05-01 10:00+00')) AS as_member;
SELECT t AS at, points.tier('et_roll', 'rob', t) AS tier
  FROM unnest(ARRAY['2024-05-01 09:59:59+00',   -- before the purchase: 600
                    '2024-05-01 10:00+00',      -- 1000 in the year
                    '2025-03-01 09:59:59+00',   -- the first grant is still in
                    '2025-03-01 10:00+00',      -- a year later it is out: 400
                    '2025-05-01 10:00+00'       -- and so is the purchase: 0
                   ]::timestamptz[]) AS t;
-- While VIP, ratio rules earn double and the VIP rule applies too.
SELECT pg_temp.pts(points.earn('et_roll', 'rob', 'purchase', 10, at => '2024-06-01 00:00+00')) AS as_vip;
SELECT pg_temp.pts(points.earn('et_roll', 'rob', 'birthday', at => '2024-06-02 00:00+00')) AS vip_birthday;
SELECT pg_temp.pts(points.earn('et_roll', 'rob', 'birthday', at => '2025-05-02 00:00+00')) AS member_birthday;

--
-- Pinned tiers and personal multipliers (points.customers).
--
-- Pinned to gold with no points: gold's multiplier applies.
INSERT INTO points.customers (type, customer, tier) VALUES ('et_life', 'pia', 'gold');
SELECT points.tier('et_life', 'pia', '2024-01-01 00:00+00') AS pinned;
SELECT pg_temp.pts(points.earn('et_life', 'pia', 'purchase', 10, at => '2024-01-01 00:00+00')) AS as_gold;
-- A pin until a time: after it, the qualified tier again.
UPDATE points.customers SET tier_until = '2024-02-01 00:00+00' WHERE type = 'et_life' AND customer = 'pia';
SELECT t AS at, points.tier('et_life', 'pia', t) AS tier
  FROM unnest(ARRAY['2024-01-31 23:59:59+00', '2024-02-01 00:00+00']::timestamptz[]) AS t;
-- A pin can also demote: lia qualifies for silver, pinned to bronze.
INSERT INTO points.customers (type, customer, tier) VALUES ('et_life', 'lia', 'bronze');
SELECT points.tier('et_life', 'lia', '2024-01-04 00:00+00') AS pinned_down,
       (points.account('et_life', 'lia', '2024-01-04 00:00+00')).tier AS account_tier;
-- A personal multiplier multiplies the tier's: x2 at silver is x2.5.
UPDATE points.customers SET tier = NULL, multiplier = 2 WHERE type = 'et_life' AND customer = 'lia';
SELECT pg_temp.pts(points.earn('et_life', 'lia', 'purchase', 10, at => '2024-01-04 00:00+00')) AS x2_5;
SELECT tier, multiplier, points FROM points.earnings
 WHERE type = 'et_life' AND customer = 'lia' ORDER BY id DESC LIMIT 1;
-- Multiplier 0 (staff): ratio rules earn nothing; fixed awards still do.
INSERT INTO points.customers (type, customer, multiplier, note) VALUES ('et_life', 'staff', 0, 'employee');
SELECT points.earn('et_life', 'staff', 'purchase', 100, at => '2024-01-01 00:00+00') AS purchase,
       pg_temp.pts(points.earn('et_life', 'staff', 'review', at => '2024-01-01 00:00+00')) AS review;
-- A customer setting without an account yet is fine.
INSERT INTO points.customers (type, customer, tier) VALUES ('et_roll', 'newbie', 'vip');
SELECT points.tier('et_roll', 'newbie', '2024-01-01 00:00+00') AS newbie,
       (points.account('et_roll', 'newbie', '2024-01-01 00:00+00')).tier AS account_tier;

-- Whether a type has tiers is cached with the type: the first tier, its
-- removal and a rolled-back one apply to this session's next call, as
-- they do to the other sessions' once committed (specs/tier-change.spec).
INSERT INTO points.types (code, name, name_plural) VALUES ('et_late', 'point', 'points');
INSERT INTO points.earn_rules (type, event, name, points, spend)
VALUES ('et_late', 'purchase', '$1 = 1 point', 1, 1);
SELECT points.grant('et_late', 'lee', 100, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT points.tier('et_late', 'lee', '2024-01-02 00:00+00') AS no_tiers,
       (points.account('et_late', 'lee', '2024-01-02 00:00+00')).tier AS account_tier,
       pg_temp.pts(points.earn('et_late', 'lee', 'purchase', 10, at => '2024-01-02 00:00+00')) AS at_x1;
INSERT INTO points.tiers (type, code, name, qualify_points, multiplier)
VALUES ('et_late', 'star', 'Star', 100, 2);
SELECT points.tier('et_late', 'lee', '2024-01-02 00:00+00') AS first_tier,
       (points.account('et_late', 'lee', '2024-01-02 00:00+00')).tier AS account_tier,
       pg_temp.pts(points.earn('et_late', 'lee', 'purchase', 10, at => '2024-01-02 00:00+00')) AS at_x2;
DELETE FROM points.tiers WHERE type = 'et_late';
SELECT points.tier('et_late', 'lee', '2024-01-02 00:00+00') AS removed,
       (points.account('et_late', 'lee', '2024-01-02 00:00+00')).tier AS account_tier,
       pg_temp.pts(points.earn('et_late', 'lee', 'purchase', 10, at => '2024-01-02 00:00+00')) AS at_x1;
BEGIN;
INSERT INTO points.tiers (type, code, name, qualify_points, multiplier)
VALUES ('et_late', 'star', 'Star', 100, 2);
SELECT (points.account('et_late', 'lee', '2024-01-02 00:00+00')).tier AS in_transaction;
ROLLBACK;
SELECT points.tier('et_late', 'lee', '2024-01-02 00:00+00') AS rolled_back,
       (points.account('et_late', 'lee', '2024-01-02 00:00+00')).tier AS account_tier,
       pg_temp.pts(points.earn('et_late', 'lee', 'purchase', 10, at => '2024-01-02 00:00+00')) AS at_x1;
-- A personal multiplier applies without tiers.
INSERT INTO points.customers (type, customer, multiplier) VALUES ('et_late', 'lee', 3);
SELECT pg_temp.pts(points.earn('et_late', 'lee', 'purchase', 10, at => '2024-01-02 00:00+00')) AS at_x3;
SELECT tier, multiplier, points FROM points.earnings
 WHERE type = 'et_late' AND customer = 'lee' ORDER BY id;

-- Errors of tier().
SELECT pg_temp.try($$points.tier(NULL, 'x')$$);
SELECT pg_temp.try($$points.tier('et_nope', 'x')$$);
SELECT pg_temp.try($$points.tier('et_life', '')$$);
SELECT pg_temp.try($$points.tier('et_life', 'x', 'infinity')$$);

-- The ledger is consistent.
SELECT * FROM points.verify();
