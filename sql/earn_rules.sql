--
-- earn(type, customer, event, amount, ref, at, pending, exclude, note):
-- spend ratios (every worked example of the contract, and the rounding
-- edges just below and at each threshold), exclusions, min_amount,
-- max_points, fixed awards, several rules of one event, caps per period in
-- the type's time zone, rule windows, delay, validity and pending, the rate
-- recorded at earn time, a disabled type, idempotency by ref, and every
-- error with its SQLSTATE and the proof that it changed nothing.
-- Type codes of this file start with er_; ids never appear in the output.
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
        (SELECT string_agg(x::text, ';' ORDER BY x.type, x.op, x.ref) FROM points.requests x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.accounts x), '|',
        (SELECT string_agg(x::text, ';' ORDER BY x.id) FROM points.earnings x)))
$$;

-- try(call): evaluate `call`; show its error as "SQLSTATE: message" and
-- whether the ledger is unchanged afterwards.
CREATE FUNCTION pg_temp.try(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.ledger();
BEGIN
    EXECUTE 'SELECT ' || call;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '(rule|grant) \d+', '\1 #', 'g')
        || CASE WHEN pg_temp.ledger() = before THEN ' [nothing changed]'
                ELSE ' [LEDGER CHANGED]' END;
END $$;

-- The points of the grant earn() returned (NULL: nothing earned).
CREATE FUNCTION pg_temp.pts(grant_id bigint) RETURNS numeric LANGUAGE sql AS $$
    SELECT amount FROM points.grants WHERE id = grant_id
$$;

-- What each rule awarded to a grant, by rule name.
CREATE FUNCTION pg_temp.earned(grant_id bigint)
RETURNS TABLE (rule text, amount numeric, excluded numeric, basis numeric,
               rate text, multiplier numeric, points numeric)
LANGUAGE sql AS $$
    SELECT r.name, e.amount, e.excluded, e.basis,
           e.rate_points || coalesce(' per ' || e.rate_spend, ' fixed'),
           e.multiplier, e.points
      FROM points.earnings e JOIN points.earn_rules r ON r.id = e.rule_id
     WHERE e.lot_id = grant_id ORDER BY e.id
$$;

-- A grant's timing and state.
CREATE FUNCTION pg_temp.lot(grant_id bigint)
RETURNS TABLE (amount numeric, reason text, status text, available_at timestamptz,
               expires_at timestamptz, at timestamptz, note text)
LANGUAGE sql AS $$
    SELECT g.amount, g.reason, l.status, g.available_at, g.expires_at, g.at, g.note
      FROM points.grants g JOIN points.lots l ON l.id = g.id WHERE g.id = grant_id
$$;

--
-- Spend ratios: the worked examples.  "MYR 1 = 100 points": MYR 30.98
-- earns 3098.  "$10 spent = 1 point": $19 earns 1, $22 earns 2.  "$100 =
-- 1 point": $90 earns nothing, and earn() returns NULL.
--
INSERT INTO points.types (code, name, name_plural, currency)
VALUES ('er_myr', 'point', 'points', 'MYR'),
       ('er_usd', 'point', 'points', 'USD'),
       ('er_hund', 'point', 'points', 'USD');
INSERT INTO points.earn_rules (type, event, name, points, spend)
VALUES ('er_myr', 'purchase', 'MYR 1 = 100 points', 100, 1),
       ('er_usd', 'purchase', '$10 = 1 point', 1, 10),
       ('er_hund', 'purchase', '$100 = 1 point', 1, 100);

SELECT pg_temp.pts(points.earn('er_myr', 'ali', 'purchase', 30.98, at => '2024-01-01 10:00+00')) AS myr_30_98;
SELECT pg_temp.pts(points.earn('er_usd', 'ann', 'purchase', 19, at => '2024-01-01 10:00+00')) AS usd_19;
SELECT pg_temp.pts(points.earn('er_usd', 'ann', 'purchase', 22, at => '2024-01-01 10:00+00')) AS usd_22;
SELECT points.earn('er_hund', 'ann', 'purchase', 90, at => '2024-01-01 10:00+00') AS usd_90;

-- Rounding edges, just below and at each threshold: one floor, exact.
SELECT a AS amount,
       pg_temp.pts(points.earn('er_usd', 'edge', 'purchase', a, at => '2024-01-01 10:00+00')) AS points
  FROM unnest(ARRAY[9.99, 10, 19.99, 20, 0, 0.01]::numeric[]) AS a;
SELECT a AS amount,
       pg_temp.pts(points.earn('er_hund', 'edge', 'purchase', a, at => '2024-01-01 10:00+00')) AS points
  FROM unnest(ARRAY[99.99, 100, 199.99, 200]::numeric[]) AS a;
SELECT a AS amount,
       pg_temp.pts(points.earn('er_myr', 'edge', 'purchase', a, at => '2024-01-01 10:00+00')) AS points
  FROM unnest(ARRAY[0.01, 0.009, 0.019, 1234567.89]::numeric[]) AS a;

-- The grant: reason is the event; the earnings record the rate in force.
SELECT points.earn('er_myr', 'ali', 'purchase', 12.50, note => 'order 1001',
                   at => '2024-01-02 10:00+00') AS g \gset
SELECT * FROM pg_temp.lot(:g);
SELECT * FROM pg_temp.earned(:g);
SELECT kind, amount, balance_after, ref, note FROM points.entries WHERE lot_id = :g;
SELECT available, lifetime_earned FROM points.account('er_myr', 'ali', '2024-01-03 00:00+00');

-- Points in the type's scale: a type with 2 decimals earns hundredths.
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('er_cred', 'credit', 'credits', 2);
INSERT INTO points.earn_rules (type, event, name, points, spend)
VALUES ('er_cred', 'purchase', '$10 = 1 credit', 1, 10);
SELECT a AS amount,
       pg_temp.pts(points.earn('er_cred', 'cat', 'purchase', a, at => '2024-01-01 10:00+00')) AS credits
  FROM unnest(ARRAY[19, 0.99, 0.1, 0.09, 123.456]::numeric[]) AS a;

--
-- Excluded amounts: `exclude` is the part of the pre-tax amount that earns
-- nothing (gift cards, excluded products).  $45 with $20 of gift cards
-- excluded earns on $25: 2 points.
--
SELECT points.earn('er_usd', 'exa', 'purchase', 45, exclude => 20, at => '2024-01-01 10:00+00') AS g \gset
SELECT * FROM pg_temp.earned(:g);
-- Everything excluded: nothing.
SELECT points.earn('er_usd', 'exa', 'purchase', 45, exclude => 45, at => '2024-01-01 10:00+00') AS all_excluded;

--
-- min_amount and max_points.  "$1 = 1 point on orders of $20 or more, at
-- most 500 points an order" (min_amount is on the eligible amount).
--
INSERT INTO points.types (code, name, name_plural) VALUES ('er_lim', 'point', 'points');
INSERT INTO points.earn_rules (type, event, name, points, spend, min_amount, max_points)
VALUES ('er_lim', 'purchase', '$1 = 1, min $20, max 500', 1, 1, 20, 500);
SELECT a AS amount,
       pg_temp.pts(points.earn('er_lim', 'lim', 'purchase', a, at => '2024-01-01 10:00+00')) AS points
  FROM unnest(ARRAY[19.99, 20, 499.99, 500, 500.01, 10000]::numeric[]) AS a;
-- $25 with $10 excluded is $15 eligible: below the minimum.
SELECT points.earn('er_lim', 'lim', 'purchase', 25, exclude => 10, at => '2024-01-01 10:00+00') AS below_min;

--
-- Fixed awards for events: signup, birthday, review, daily check-in,
-- social follow, any app event.  The amount is not needed; a fixed award
-- with a min_amount ("100 bonus points on orders of 50 or more") needs it.
--
INSERT INTO points.types (code, name, name_plural) VALUES ('er_fix', 'point', 'points');
INSERT INTO points.earn_rules (type, event, name, points, min_amount)
VALUES ('er_fix', 'signup', 'welcome', 50, NULL),
       ('er_fix', 'review', 'review', 10, NULL),
       ('er_fix', 'follow_instagram', 'follow', 5, NULL),
       ('er_fix', 'app_quiz_done', 'quiz', 7, NULL),
       ('er_fix', 'purchase', 'big order bonus', 100, 50);
SELECT e AS event, pg_temp.pts(points.earn('er_fix', 'fay', e, at => '2024-01-01 10:00+00')) AS points
  FROM unnest(ARRAY['signup', 'review', 'follow_instagram', 'app_quiz_done']) AS e;
SELECT a AS amount,
       pg_temp.pts(points.earn('er_fix', 'fay', 'purchase', a, at => '2024-01-01 10:00+00')) AS points
  FROM unnest(ARRAY[49.99, 50]::numeric[]) AS a;
-- Without the amount, the bonus with a minimum does not apply.
SELECT points.earn('er_fix', 'fay', 'purchase', at => '2024-01-01 10:00+00') AS no_amount;
-- An amount passed to a fixed award without minimum is ignored.
SELECT pg_temp.pts(points.earn('er_fix', 'fay', 'review', 999, at => '2024-01-01 10:00+00')) AS review;
-- An event without rules, and a disabled rule, award nothing.
SELECT points.earn('er_fix', 'fay', 'no_such_event', at => '2024-01-01 10:00+00') AS unknown_event;
UPDATE points.earn_rules SET enabled = false WHERE type = 'er_fix' AND event = 'review';
SELECT points.earn('er_fix', 'fay', 'review', at => '2024-01-01 10:00+00') AS disabled_rule;
SELECT available FROM points.account('er_fix', 'fay', '2024-01-02 00:00+00');
-- The events with an enabled rule are cached with the type: a new rule,
-- and one enabled again, apply to this session's next call; a rolled-back
-- one never does.  An event without rules opens no account.
SELECT points.earn('er_fix', 'fred', 'newsletter', at => '2024-01-01 10:00+00') AS no_rule_yet,
       EXISTS (SELECT FROM points.accounts WHERE type = 'er_fix' AND customer = 'fred') AS has_account;
BEGIN;
INSERT INTO points.earn_rules (type, event, name, points) VALUES ('er_fix', 'newsletter', 'newsletter', 3);
SELECT pg_temp.pts(points.earn('er_fix', 'fred', 'newsletter', at => '2024-01-01 10:00+00')) AS in_transaction;
ROLLBACK;
SELECT points.earn('er_fix', 'fred', 'newsletter', at => '2024-01-01 10:00+00') AS rolled_back,
       EXISTS (SELECT FROM points.accounts WHERE type = 'er_fix' AND customer = 'fred') AS has_account;
INSERT INTO points.earn_rules (type, event, name, points) VALUES ('er_fix', 'newsletter', 'newsletter', 3);
SELECT pg_temp.pts(points.earn('er_fix', 'fred', 'newsletter', at => '2024-01-01 10:00+00')) AS new_rule;
UPDATE points.earn_rules SET enabled = true WHERE type = 'er_fix' AND event = 'review';
SELECT pg_temp.pts(points.earn('er_fix', 'fred', 'review', at => '2024-01-01 10:00+00')) AS enabled_again;
UPDATE points.earn_rules SET enabled = false WHERE type = 'er_fix' AND event = 'newsletter';
SELECT points.earn('er_fix', 'fred', 'newsletter', at => '2024-01-01 10:00+00') AS disabled_again;

--
-- Several rules of one event are summed into one grant; each rule's share
-- is recorded.  Rules that award nothing leave no record.
--
INSERT INTO points.types (code, name, name_plural) VALUES ('er_sum', 'point', 'points');
INSERT INTO points.earn_rules (type, event, name, points, spend, min_amount, max_points, per, starts_at, ends_at)
VALUES ('er_sum', 'purchase', 'base $1 = 1', 1, 1, NULL, NULL, NULL, NULL, NULL),
       ('er_sum', 'purchase', 'first order 100', 100, NULL, NULL, NULL, 'ever', NULL, NULL),
       ('er_sum', 'purchase', 'over $100: 50', 50, NULL, 100, NULL, NULL, NULL, NULL),
       ('er_sum', 'purchase', 'extra $10 = 1, max 5', 1, 10, NULL, 5, NULL, NULL, NULL),
       ('er_sum', 'purchase', 'January double', 1, 1, NULL, NULL, NULL,
        '2024-01-01 00:00+00', '2024-02-01 00:00+00');
SELECT points.earn('er_sum', 'sam', 'purchase', 120, at => '2024-01-15 10:00+00') AS g \gset
SELECT pg_temp.pts(:g) AS total;
SELECT * FROM pg_temp.earned(:g);
-- Later: no first-order bonus, under $100, outside January.
SELECT points.earn('er_sum', 'sam', 'purchase', 80, at => '2024-02-01 00:00+00') AS g \gset
SELECT pg_temp.pts(:g) AS total;
SELECT * FROM pg_temp.earned(:g);
-- The promotion window: starts_at is in, ends_at is out.
SELECT t AS at, pg_temp.pts(points.earn('er_sum', 'win', 'purchase', 3, at => t)) AS points
  FROM unnest(ARRAY['2023-12-31 23:59:59+00', '2024-01-01 00:00+00',
                    '2024-01-31 23:59:59+00', '2024-02-01 00:00+00']::timestamptz[]) AS t;

--
-- Caps: at most one award of a rule per customer per period, periods in
-- the type's time zone (Kuala Lumpur, UTC+8): ever, the calendar day, the
-- ISO week (from Monday; 2024-01-01 is a Monday), month and year.
--
INSERT INTO points.types (code, name, name_plural, time_zone)
VALUES ('er_cap', 'point', 'points', 'Asia/Kuala_Lumpur');
INSERT INTO points.earn_rules (type, event, name, points, per)
VALUES ('er_cap', 'signup', 'signup once', 50, 'ever'),
       ('er_cap', 'checkin', 'daily check-in', 5, 'day'),
       ('er_cap', 'review', 'weekly review', 10, 'week'),
       ('er_cap', 'newsletter', 'monthly newsletter', 20, 'month'),
       ('er_cap', 'birthday', 'yearly birthday', 100, 'year');
SELECT e AS event, t AS local_time,
       pg_temp.pts(points.earn('er_cap', 'kim', e, at => t::timestamp AT TIME ZONE 'Asia/Kuala_Lumpur')) AS points
  FROM (VALUES (1, 'signup', '2024-01-01 09:00'),
               (2, 'signup', '2025-06-01 09:00'),
               (3, 'checkin', '2024-01-01 00:00'),
               (4, 'checkin', '2024-01-01 23:59:59'),
               (5, 'checkin', '2024-01-02 00:00'),
               (6, 'checkin', '2023-12-31 23:59:59'),
               (7, 'review', '2024-01-07 23:59'),
               (8, 'review', '2024-01-01 00:00'),
               (9, 'review', '2024-01-08 00:00'),
               (10, 'newsletter', '2024-01-31 23:59:59'),
               (11, 'newsletter', '2024-01-01 00:00'),
               (12, 'newsletter', '2024-02-01 00:00'),
               (13, 'birthday', '2024-06-15 12:00'),
               (14, 'birthday', '2024-12-31 23:59:59'),
               (15, 'birthday', '2025-01-01 00:00')) AS c(n, e, t)
 ORDER BY n;
-- Caps are per customer.
SELECT pg_temp.pts(points.earn('er_cap', 'lee', 'checkin', at => '2024-01-01 12:00+08')) AS other_customer;
-- A rule that awards nothing does not use its cap: "first order of the
-- day: $10 = 1 point".
INSERT INTO points.earn_rules (type, event, name, points, spend, per)
VALUES ('er_cap', 'purchase', 'first order of the day', 1, 10, 'day');
SELECT a AS amount,
       pg_temp.pts(points.earn('er_cap', 'kim', 'purchase', a, at => '2024-03-01 12:00+08')) AS points
  FROM unnest(ARRAY[5, 20, 30]::numeric[]) AS a;

--
-- Timing: delay (vesting), a rule's own validity, pending.  Session
-- credits vest 3 hours after the appointment; a review's points expire
-- after 30 days instead of the type's year; a purchase waits for confirm.
--
INSERT INTO points.types (code, name, name_plural, validity)
VALUES ('er_time', 'point', 'points', '1 year');
INSERT INTO points.earn_rules (type, event, name, points, spend, validity, delay, pending)
VALUES ('er_time', 'appointment', 'vest after 3h', 10, NULL, NULL, '3 hours', false),
       ('er_time', 'review', 'valid 30 days', 5, NULL, '30 days', NULL, false),
       ('er_time', 'purchase', 'pending $1 = 1', 1, 1, NULL, NULL, true),
       ('er_time', 'combo', 'combo A: 1 day, 30 days', 1, NULL, '30 days', '1 day', false),
       ('er_time', 'combo', 'combo B: 2 days', 2, NULL, NULL, '2 days', false);
SELECT points.earn('er_time', 'tim', 'appointment', at => '2024-01-01 10:00+00') AS g \gset
SELECT * FROM pg_temp.lot(:g);
SELECT t AS at, points.balance('er_time', 'tim', t) AS balance
  FROM unnest(ARRAY['2024-01-01 12:59:59+00', '2024-01-01 13:00+00']::timestamptz[]) AS t;
SELECT * FROM pg_temp.lot(points.earn('er_time', 'tim', 'review', at => '2024-01-01 10:00+00'));
-- Pending by rule; the pending argument overrides the rules either way.
SELECT * FROM pg_temp.lot(points.earn('er_time', 'tim', 'purchase', 40, at => '2024-01-01 10:00+00'));
SELECT * FROM pg_temp.lot(points.earn('er_time', 'tim', 'purchase', 41, pending => false, at => '2024-01-01 10:00+00'));
SELECT * FROM pg_temp.lot(points.earn('er_time', 'tim', 'appointment', pending => true, at => '2024-01-01 10:00+00'));
-- Rules with different timing in one grant: it vests after the longest
-- delay (2 days) and expires at the latest expiry the rules give (the
-- type's year from vesting, not rule A's 30 days).
SELECT * FROM pg_temp.lot(points.earn('er_time', 'tim', 'combo', at => '2024-01-01 10:00+00'));
SELECT available, pending FROM points.account('er_time', 'tim', '2024-01-05 00:00+00');

--
-- The rate in force when earn() runs is the one that counts: a pending
-- grant confirmed after the rule changed keeps the points recorded.
--
SELECT points.earn('er_time', 'pat', 'purchase', 30, at => '2024-01-01 10:00+00') AS g \gset
UPDATE points.earn_rules SET points = 5 WHERE type = 'er_time' AND event = 'purchase';
SELECT points.confirm(:g, '2024-01-10 00:00+00');
SELECT * FROM pg_temp.lot(:g);
SELECT * FROM pg_temp.earned(:g);
-- New earns use the new rate.
SELECT pg_temp.pts(points.earn('er_time', 'pat', 'purchase', 30, at => '2024-01-11 00:00+00')) AS new_rate;

--
-- A disabled type earns nothing: earn() returns NULL and records nothing,
-- not even an account or the ref; admin grants still work.
--
INSERT INTO points.types (code, name, name_plural, enabled) VALUES ('er_off', 'point', 'points', false);
INSERT INTO points.earn_rules (type, event, name, points) VALUES ('er_off', 'signup', 'welcome', 50);
SELECT pg_temp.ledger() AS before \gset
SELECT points.earn('er_off', 'olga', 'signup', ref => 'er-off-1', at => '2024-01-01 10:00+00') AS disabled;
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
SELECT pg_temp.pts(points.grant('er_off', 'olga', 5, at => '2024-01-01 10:00+00')) AS admin_grant;
UPDATE points.types SET enabled = true WHERE code = 'er_off';
SELECT pg_temp.pts(points.earn('er_off', 'olga', 'signup', ref => 'er-off-1', at => '2024-01-02 10:00+00')) AS enabled_again;

--
-- Idempotency by ref: a retry returns the original grant and changes
-- nothing, even after the rules changed; 30.980 is the same amount as
-- 30.98.  Other arguments with the same ref: PT003.  A ref that earned
-- nothing returns NULL again.
--
SELECT points.earn('er_myr', 'ida', 'purchase', 30.98, ref => 'er-order-1', at => '2024-01-01 10:00+00') AS g \gset
UPDATE points.earn_rules SET points = 200 WHERE type = 'er_myr';
SELECT pg_temp.ledger() AS before \gset
SELECT points.earn('er_myr', 'ida', 'purchase', 30.980, ref => 'er-order-1', at => '2024-01-05 10:00+00') = :g AS same_grant;
SELECT pg_temp.ledger() = :'before' AS nothing_changed;
SELECT pg_temp.try($$points.earn('er_myr', 'ida', 'purchase', 31, ref => 'er-order-1')$$);
SELECT pg_temp.try($$points.earn('er_myr', 'ida', 'purchase', 30.98, ref => 'er-order-1', exclude => 1)$$);
SELECT pg_temp.try($$points.earn('er_myr', 'bob', 'purchase', 30.98, ref => 'er-order-1')$$);
UPDATE points.earn_rules SET points = 100 WHERE type = 'er_myr';
SELECT points.earn('er_hund', 'ida', 'purchase', 90, ref => 'er-order-2', at => '2024-01-01 10:00+00') AS nothing;
SELECT points.earn('er_hund', 'ida', 'purchase', 90, ref => 'er-order-2', at => '2024-01-01 10:00+00') AS nothing_again;

--
-- Errors.
--
-- 22004: a required argument is NULL; a ratio rule needs the amount.
SELECT pg_temp.try($$points.earn(NULL, 'x', 'purchase', 10)$$);
SELECT pg_temp.try($$points.earn('er_usd', NULL, 'purchase', 10)$$);
SELECT pg_temp.try($$points.earn('er_usd', 'x', NULL, 10)$$);
SELECT pg_temp.try($$points.earn('er_usd', 'x', 'purchase', 10, at => NULL)$$);
SELECT pg_temp.try($$points.earn('er_usd', 'x', 'purchase')$$);
-- 42704: unknown type.
SELECT pg_temp.try($$points.earn('er_nope', 'x', 'purchase', 10)$$);
-- 22023: bad amounts and keys.
SELECT pg_temp.try($$points.earn('er_usd', 'x', 'purchase', -1)$$);
SELECT pg_temp.try($$points.earn('er_usd', 'x', 'purchase', 'NaN')$$);
SELECT pg_temp.try($$points.earn('er_usd', 'x', 'purchase', 'Infinity')$$);
SELECT pg_temp.try($$points.earn('er_usd', 'x', 'purchase', 10, exclude => 11)$$);
SELECT pg_temp.try($$points.earn('er_usd', 'x', 'purchase', 10, exclude => -1)$$);
SELECT pg_temp.try($$points.earn('er_usd', 'x', 'signup', exclude => 1)$$);
SELECT pg_temp.try($$points.earn('er_usd', '', 'purchase', 10)$$);
SELECT pg_temp.try($$points.earn('er_usd', 'x', '', 10)$$);
SELECT pg_temp.try($$points.earn('er_usd', 'x', 'purchase', 10, ref => '')$$);
SELECT pg_temp.try($$points.earn('er_usd', 'x', 'purchase', 10, at => 'infinity')$$);
-- 22003: more points than the ledger can hold.
SELECT pg_temp.try($$points.earn('er_myr', 'x', 'purchase', 1e30)$$);

-- The ledger is consistent.
SELECT * FROM points.verify();
