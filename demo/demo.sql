-- points demo: what a shop's database does with the extension.
--
-- scripts/demo.sh runs this file in a fresh database points_demo, after
--   CREATE EXTENSION pg_cron; CREATE EXTENSION points;
-- and prints each query with what it returns. Every statement here must run
-- with the extension as it is today: a section is filled in when its feature
-- lands (the SQL contract is shared/DESIGN.md), in this order:
--   1. the extension           what is installed
--   2. point types             INSERT INTO points.types ...
--   3. earning                 points.grant(...), points.earn(...)
--   4. spending                points.consume(...), hold/capture/release, refund
--   5. expiry                  points.expire(...), points.schedule() with pg_cron
--   6. reports                 points.balances, points.statement(...), points.liability
--   7. checks                  points.verify() returns no rows

\set ON_ERROR_STOP on

\echo
\echo '== 1. The extension =='
\echo

-- Installed extensions: points at 0.1.0 in its own schema; pg_cron for the
-- maintenance job.
SELECT extname, extversion, extnamespace::regnamespace AS schema, extrelocatable
  FROM pg_extension
 WHERE extname IN ('points', 'pg_cron')
 ORDER BY extname;

-- What the extension is made of, by kind.
SELECT o.type AS kind, count(*) AS n,
       string_agg(regexp_replace(o.identity, '^points\.|\(.*$', '', 'g'), ', '
                  ORDER BY o.identity) AS names
  FROM pg_depend d, pg_identify_object(d.classid, d.objid, d.objsubid) AS o
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
   AND d.deptype = 'e'
 GROUP BY o.type
 ORDER BY o.type;

-- pg_cron runs its jobs in this database.
SELECT current_setting('cron.database_name') AS cron_database;

\echo
\echo '== 2. Point types =='
\echo

-- A coffee chain in Kuala Lumpur: whole stars that last 12 months, to the end
-- of the local day; 100 stars = MYR 1.00.  A coaching business: session
-- credits that never expire, half credits allowed.
INSERT INTO points.types (code, name, name_plural, scale, validity, expiry_rounding,
                          time_zone, redeem_points, redeem_value, currency, hold_timeout)
VALUES ('stars', 'star', 'stars', 0, '12 months', 'day',
        'Asia/Kuala_Lumpur', 100, 1.00, 'MYR', '30 minutes'),
       ('sessions', 'session credit', 'session credits', 1, NULL, 'none',
        'UTC', NULL, NULL, NULL, '1 day');
SELECT code, name_plural, scale, validity, expiry_rounding, time_zone FROM points.types ORDER BY code;

\echo
\echo '== 3. Earning =='
\echo

-- Grants: each with its own expiry, computed once from the policy in force.
-- The ref makes a webhook retry harmless: the second call returns the first
-- grant's id and changes nothing.
SELECT points.grant('stars', 'aisyah', 500, reason => 'purchase', ref => 'order-1001',
                    at => now() - interval '13 months') AS old_grant;
SELECT points.grant('stars', 'aisyah', 1200, reason => 'purchase', ref => 'order-1042',
                    at => now() - interval '2 months') AS grant_id;
SELECT points.grant('stars', 'aisyah', 1200, reason => 'purchase', ref => 'order-1042',
                    at => now() - interval '2 months') AS same_grant_id;
SELECT points.grant('stars', 'ben', 300, reason => 'signup', at => now() - interval '10 days');
-- Points that vest after the returns window, and points pending payment.
SELECT points.grant('stars', 'ben', 250, reason => 'purchase',
                    available_at => now() + interval '14 days') AS vesting;
SELECT points.grant('stars', 'chen', 800, reason => 'purchase', pending => true) AS pending_grant \gset
SELECT points.grant('sessions', 'dana', 10, reason => 'package of 10', at => now() - interval '1 month');

-- Earn rules: MYR 1 = 100 stars on the pre-tax subtotal (gift cards excluded),
-- a signup bonus once ever, a Gold tier earning 1.5x from 5,000 stars.
INSERT INTO points.earn_rules (type, event, name, points, spend, per)
VALUES ('stars', 'purchase', 'MYR 1 = 100 stars', 100, 1, NULL),
       ('stars', 'signup', 'welcome bonus', 200, NULL, 'ever');
INSERT INTO points.tiers (type, code, name, qualify_points, multiplier)
VALUES ('stars', 'gold', 'Gold', 5000, 1.5);
-- MYR 30.98 of which 10.00 a gift card: 2098 stars.
SELECT points.earn('stars', 'farah', 'purchase', 30.98, exclude => 10.00, ref => 'order-2001') AS earned_grant;
SELECT points.earn('stars', 'farah', 'signup') AS signup_bonus;
SELECT points.earn('stars', 'farah', 'signup') AS second_signup;   -- capped: NULL
SELECT e.event, r.name AS rule, e.amount, e.excluded, e.basis, e.multiplier, e.points
  FROM points.earnings e JOIN points.earn_rules r ON r.id = e.rule_id ORDER BY e.id;

SELECT id, customer, amount, remaining, status, expires_at FROM points.grants ORDER BY id;

\echo
\echo '== 4. Spending =='
\echo

-- A redemption draws the earliest-expiring grants first.
SELECT points.consume('stars', 'aisyah', 300, ref => 'order-1077') AS consume_entry;
-- Checkout: hold points while the payment runs, then capture part of them.
SELECT points.hold('stars', 'aisyah', 400, ref => 'order-1080') AS hold_id \gset
SELECT points.capture(:hold_id, 350) AS capture_entry \gset
-- A returned item: refund the spent points to the grants they came from.
SELECT points.refund(:capture_entry, 100, ref => 'return-1080-1');
-- The payment for chen's order went through.
SELECT points.confirm(:pending_grant);
-- Half a coaching session used; a credit passed to a colleague keeps its expiry.
SELECT points.consume('sessions', 'dana', 1.5);
SELECT points.transfer('sessions', 'dana', 'eli', 2);
-- At checkout: how many stars farah can use on a MYR 12.50 order, and what they take off.
SELECT * FROM points.quote('stars', 'farah', 12.50);
-- A catalogue reward: a free drink for 1000 stars, with a unique code.
INSERT INTO points.rewards (type, code, name, kind, cost, value, stock)
VALUES ('stars', 'drink', 'Any drink', 'product', 1000, 12.00, 50);
SELECT reward, code IS NOT NULL AS has_code, cost, status FROM points.redeem('stars', 'farah', 'drink');

\echo
\echo '== 5. Expiry =='
\echo

-- aisyah's first grant lapsed a month ago: balances never counted it, and
-- her consume journaled its expiry before spending (see her history below).
-- The sweep writes the expiries of accounts nobody touches; pg_cron runs it
-- as points.run_maintenance().
SELECT points.expire() AS grants_expired;
-- pg_cron runs the maintenance every 5 minutes from now on.
SELECT points.schedule() > 0 AS scheduled;
SELECT jobname, schedule, command FROM cron.job;

\echo
\echo '== 6. Reports =='
\echo

SELECT type, customer, available, held, pending, lifetime_earned, lifetime_spent,
       lifetime_expired, next_expiry_at::date, next_expiry_amount
  FROM points.balances ORDER BY type, customer;
SELECT type, customer, points.format(type, available) AS balance
  FROM points.outstanding ORDER BY type, customer;
SELECT customer, kind, amount, balance, note
  FROM points.history WHERE type = 'stars' AND customer = 'aisyah' ORDER BY id;
SELECT * FROM points.account('stars', 'aisyah');
-- aisyah's statement for the last 90 days: opening, each entry, closing.
SELECT line, at::date, kind, amount, balance
  FROM points.statement('stars', 'aisyah', now() - interval '90 days', now() + interval '1 second');
-- For the accountant: what the program owes.
SELECT type, customers, outstanding, value, issued, redeemed, expired, breakage FROM points.liability;

\echo
\echo '== 7. Checks =='
\echo

-- Every invariant of the ledger, re-derived from grants and entries: no rows.
SELECT * FROM points.verify();
