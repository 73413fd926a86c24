--
-- Expiry: expires_at computed once at grant time from the type's policy
-- (validity, calendar rounding in the type's time zone), policy changes that
-- spare old grants, grants not yet available or already expired (never
-- counted, never drawn, whether or not expire() has run), balances as of
-- past times, and expire() itself: one entry per grant, never twice, in
-- batches.  Type codes of this file start with ex_.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
-- Errors show their SQLSTATE only.
\set VERBOSITY sqlstate

-- expire() sweeps every type.  First sweep whatever earlier files left due
-- by the end of 2020, so that the counts below are this file's own; the
-- expire() calls of this file stay within 2020.
SELECT points.expire(at => '2020-12-31 00:00+00') >= 0 AS swept_earlier_files;

-- The ledger of one type as a single row: what a failing call must not change.
CREATE FUNCTION pg_temp.state(t text)
RETURNS TABLE (accounts bigint, grants bigint, remaining numeric, entries bigint,
               allocations bigint, requests bigint, violations bigint)
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM points.accounts a WHERE a.type = t),
           (SELECT count(*) FROM points.grants g WHERE g.type = t),
           (SELECT coalesce(sum(g.remaining), 0) FROM points.grants g WHERE g.type = t),
           (SELECT count(*) FROM points.entries e WHERE e.type = t),
           (SELECT count(*) FROM points.allocations x
              JOIN points.entries e ON e.id = x.entry_id WHERE e.type = t),
           (SELECT count(*) FROM points.requests r WHERE r.type = t),
           (SELECT count(*) FROM points.verify())
$$;

-- The grants one debit drew from, and how much from each.
CREATE FUNCTION pg_temp.drawn(entry bigint)
RETURNS TABLE (grant_note text, amount bigint)
LANGUAGE sql AS $$
    SELECT l.note, a.amount FROM points.allocations a
      JOIN points.lots l ON l.id = a.lot_id
     WHERE a.entry_id = entry ORDER BY l.note
$$;

--
-- The end-of-day example: valid 6 months, rounded to the end of the day in
-- Kuala Lumpur (UTC+8).  Granted 2022-04-01 13:21 local, it expires at
-- 2022-10-02 00:00 local, shown as "expires 2022-10-01 23:59".
--
INSERT INTO points.types (code, name, name_plural, validity, expiry_rounding, time_zone)
VALUES ('ex_eod', 'point', 'points', '6 months', 'day', 'Asia/Kuala_Lumpur');
SELECT points.grant('ex_eod', 'kim', 100, at => '2022-04-01 13:21+08') AS k1 \gset
SELECT expires_at,
       expires_at AT TIME ZONE 'Asia/Kuala_Lumpur' AS local_expiry,
       to_char((expires_at - interval '1 minute') AT TIME ZONE 'Asia/Kuala_Lumpur',
               'YYYY-MM-DD HH24:MI') AS shown_as
  FROM points.grants WHERE id = :k1;
-- Counted until the last minute of 2022-10-01 local, gone at midnight.
SELECT points.balance('ex_eod', 'kim', '2022-10-01 23:59+08') AS at_2359,
       points.balance('ex_eod', 'kim', '2022-10-01 23:59:59.999999+08') AS last_instant,
       points.balance('ex_eod', 'kim', '2022-10-02 00:00+08') AS at_midnight;
-- The day is the local one: 2022-04-01 16:30 UTC is already April 2nd in
-- Kuala Lumpur, so those points last one day longer.
SELECT points.grant('ex_eod', 'kim', 1, at => '2022-04-01 16:30+00') AS k2 \gset
SELECT expires_at, expires_at AT TIME ZONE 'Asia/Kuala_Lumpur' AS local_expiry
  FROM points.grants WHERE id = :k2;

--
-- Week, month and year rounding (weeks end on Sunday: the expiry is the
-- following Monday 00:00), and no rounding.
--
INSERT INTO points.types (code, name, name_plural, validity, expiry_rounding)
VALUES ('ex_week', 'point', 'points', '10 days', 'week'),
       ('ex_month', 'point', 'points', '1 month', 'month'),
       ('ex_year', 'point', 'points', '1 year', 'year'),
       ('ex_none', 'point', 'points', '90 minutes', 'none');
INSERT INTO points.types (code, name, name_plural, validity, expiry_rounding, time_zone)
VALUES ('ex_month_kl', 'point', 'points', '1 month', 'month', 'Asia/Kuala_Lumpur');
-- Friday 2022-04-01 13:21 + 10 days = Monday 04-11: that week ends Sunday 04-17.
SELECT points.grant('ex_week', 'wes', 1, at => '2022-04-01 13:21+00') AS w1 \gset
-- Thursday 2022-03-31 13:21 + 10 days = Sunday 04-10: that week ends the same day.
SELECT points.grant('ex_week', 'wes', 1, at => '2022-03-31 13:21+00') AS w2 \gset
SELECT at, to_char(at, 'Dy') AS granted_on, expires_at, to_char(expires_at, 'Dy') AS expires_on
  FROM points.grants WHERE id IN (:w1, :w2) ORDER BY id;
-- 2022-01-31 + 1 month = 2022-02-28: expires at the end of February.
SELECT points.grant('ex_month', 'mo', 1, at => '2022-01-31 10:00+00') AS m1 \gset
-- 2022-02-01 00:00 + 1 month = 2022-03-01 00:00, which is in March: end of March.
SELECT points.grant('ex_month', 'mo', 1, at => '2022-02-01 00:00+00') AS m2 \gset
-- 2022-01-31 20:00 UTC is 2022-02-01 04:00 in Kuala Lumpur: + 1 month is
-- March 1st there, so it expires at the end of March, local time.
SELECT points.grant('ex_month_kl', 'mo', 1, at => '2022-01-31 20:00+00') AS m3 \gset
SELECT type, at, expires_at FROM points.grants WHERE id IN (:m1, :m2, :m3) ORDER BY id;
-- 2022-04-01 + 1 year = 2023-04-01: expires at the end of 2023.
SELECT points.grant('ex_year', 'yan', 1, at => '2022-04-01 13:21+00') AS y1 \gset
-- No rounding: exactly 90 minutes.
SELECT points.grant('ex_none', 'yan', 1, at => '2022-04-01 13:21+00') AS n1 \gset
SELECT type, at, expires_at FROM points.grants WHERE id IN (:y1, :n1) ORDER BY id;
-- The validity runs from available_at when the points vest later.
SELECT points.grant('ex_none', 'yan', 1, available_at => '2022-04-02 08:00+00',
                    at => '2022-04-01 13:21+00') AS n2 \gset
-- An explicit expires_at overrides the policy.
SELECT points.grant('ex_none', 'yan', 1, expires_at => '2030-01-01 00:00+00',
                    at => '2022-04-01 13:21+00') AS n3 \gset
SELECT available_at, expires_at FROM points.grants WHERE id IN (:n2, :n3) ORDER BY id;

--
-- A policy change applies to new grants only: existing grants keep the
-- expires_at computed when they were made.
--
INSERT INTO points.types (code, name, name_plural, validity) VALUES ('ex_pol', 'point', 'points', '30 days');
SELECT points.grant('ex_pol', 'pat', 10, note => 'under 30 days', at => '2022-01-01 00:00+00') IS NOT NULL AS granted;
UPDATE points.types SET validity = '90 days' WHERE code = 'ex_pol';
SELECT points.grant('ex_pol', 'pat', 10, note => 'under 90 days', at => '2022-01-01 00:00+00') IS NOT NULL AS granted;
UPDATE points.types SET validity = NULL WHERE code = 'ex_pol';
SELECT points.grant('ex_pol', 'pat', 10, note => 'under no expiry', at => '2022-01-01 00:00+00') IS NOT NULL AS granted;
UPDATE points.types SET validity = '30 days', expiry_rounding = 'month' WHERE code = 'ex_pol';
SELECT points.grant('ex_pol', 'pat', 10, note => 'under 30 days, month', at => '2022-01-01 00:00+00') IS NOT NULL AS granted;
SELECT note, at, expires_at FROM points.grants WHERE type = 'ex_pol' ORDER BY id;
-- The balance follows each grant's own expiry.
SELECT t AS at, points.balance('ex_pol', 'pat', t) AS balance
  FROM unnest(ARRAY['2022-01-30 00:00+00', '2022-01-31 00:00+00', '2022-02-01 00:00+00',
                    '2022-04-01 00:00+00']::timestamptz[]) AS t;

--
-- Grants not yet available (available_at later than at) are neither counted
-- nor drawn from until then.
--
INSERT INTO points.types (code, name, name_plural) VALUES ('ex_plain', 'point', 'points');
SELECT points.grant('ex_plain', 'vera', 40, note => 'vests May 10', available_at => '2022-05-10 00:00+00',
                    at => '2022-05-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('ex_plain', 'vera', 10, note => 'available', at => '2022-05-01 00:00+00') IS NOT NULL AS granted;
SELECT points.balance('ex_plain', 'vera', '2022-05-09 23:59:59+00') AS before_vesting,
       points.balance('ex_plain', 'vera', '2022-05-10 00:00+00') AS vested;
SELECT available, next_expiry_at FROM points.account('ex_plain', 'vera', '2022-05-05 00:00+00');
-- 20 before May 10: PT001, nothing changes.
SELECT * FROM pg_temp.state('ex_plain');
SELECT points.consume('ex_plain', 'vera', 20, at => '2022-05-05 00:00+00');
SELECT * FROM pg_temp.state('ex_plain');
-- 10 before May 10 come from the available grant only.
SELECT points.consume('ex_plain', 'vera', 10, at => '2022-05-05 00:00+00') AS v1 \gset
SELECT * FROM pg_temp.drawn(:v1);
-- From May 10 on, the vested grant is drawn.
SELECT points.consume('ex_plain', 'vera', 20, at => '2022-05-10 00:00+00') AS v2 \gset
SELECT * FROM pg_temp.drawn(:v2);
SELECT note, remaining FROM points.grants WHERE type = 'ex_plain' AND customer = 'vera' ORDER BY id;

--
-- Grants past their expires_at are neither counted nor drawn from, before
-- expire() has run.
--
SELECT points.grant('ex_plain', 'xena', 50, note => 'expires June 1', expires_at => '2022-06-01 00:00+00',
                    at => '2022-05-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('ex_plain', 'xena', 30, note => 'never expires', at => '2022-05-01 00:00+00') IS NOT NULL AS granted;
SELECT points.balance('ex_plain', 'xena', '2022-05-31 23:59:59+00') AS before_expiry,
       points.balance('ex_plain', 'xena', '2022-06-01 00:00+00') AS at_expiry;
-- 40 on June 1: only 30 are there, PT001, nothing changes.
SELECT * FROM pg_temp.state('ex_plain');
SELECT points.consume('ex_plain', 'xena', 40, at => '2022-06-01 00:00+00');
SELECT * FROM pg_temp.state('ex_plain');
-- 10 on June 2 come from the grant that never expires, although the other
-- one expires first: it has expired.
SELECT points.consume('ex_plain', 'xena', 10, at => '2022-06-02 00:00+00') AS x1 \gset
SELECT * FROM pg_temp.drawn(:x1);
-- The expired points show as expired, not as available: the consume
-- journaled their expiry first (an operation expires its account's due
-- grants before it runs, so the running balance is always right).
SELECT available, next_expiry_at, lifetime_earned, lifetime_spent, lifetime_expired
  FROM points.account('ex_plain', 'xena', '2022-06-02 00:00+00');
SELECT note, remaining FROM points.grants WHERE type = 'ex_plain' AND customer = 'xena' ORDER BY id;

--
-- expire(at, batch): one expire entry per due grant, dated at its
-- expires_at, for what remains of it.  All in 2020.
--
INSERT INTO points.types (code, name, name_plural) VALUES ('ex_sweep', 'point', 'points');
SELECT points.grant('ex_sweep', 'yuri', 50, note => 'Y1', expires_at => '2020-03-01 00:00+00', at => '2020-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('ex_sweep', 'yuri', 20, note => 'Y2', expires_at => '2020-04-01 00:00+00', at => '2020-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('ex_sweep', 'yuri', 30, note => 'Y3', at => '2020-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('ex_sweep', 'zoe', 5, note => 'Z1', expires_at => '2020-02-15 00:00+00', at => '2020-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('ex_sweep', 'walt', 7, note => 'W1', expires_at => '2020-05-01 00:00+00', at => '2020-01-01 00:00+00') IS NOT NULL AS granted;
-- Y1 expires first: a debit on Feb 1 takes 10 of it.
SELECT points.consume('ex_sweep', 'yuri', 10, at => '2020-02-01 00:00+00') AS s1 \gset
SELECT * FROM pg_temp.drawn(:s1);

-- yuri's balance at past times, before expire() has run: before the grants,
-- after them, between the debit and the first expiry, after each expiry.
SELECT t AS at, points.balance('ex_sweep', 'yuri', t) AS balance
  FROM unnest(ARRAY['2019-12-31 23:59+00', '2020-01-01 00:00+00', '2020-02-01 00:00+00',
                    '2020-02-29 23:59+00', '2020-03-01 00:00+00', '2020-04-01 00:00+00']::timestamptz[]) AS t;

-- Due by March 15: Z1 (Feb 15) and what is left of Y1 (Mar 1).  Two grants.
SELECT points.expire(at => '2020-03-15 00:00+00') AS expired;
SELECT e.customer, l.note AS grant_note, e.amount, e.balance_after, e.at
  FROM points.entries e JOIN points.lots l ON l.id = e.lot_id
 WHERE e.type = 'ex_sweep' AND e.kind = 'expire' ORDER BY e.id;
-- Each expire entry draws the grant's remaining points.
SELECT l.note AS grant_note, a.amount FROM points.allocations a
  JOIN points.entries e ON e.id = a.entry_id JOIN points.lots l ON l.id = a.lot_id
 WHERE e.type = 'ex_sweep' AND e.kind = 'expire' ORDER BY l.note;
SELECT note, amount, remaining, expires_at FROM points.grants WHERE type = 'ex_sweep' ORDER BY id;
-- Run again: nothing is expired twice.
SELECT * FROM pg_temp.state('ex_sweep');
SELECT points.expire(at => '2020-03-15 00:00+00') AS expired_again;
SELECT * FROM pg_temp.state('ex_sweep');
-- The balances at past times are the same after the sweep.
SELECT t AS at, points.balance('ex_sweep', 'yuri', t) AS balance
  FROM unnest(ARRAY['2019-12-31 23:59+00', '2020-01-01 00:00+00', '2020-02-01 00:00+00',
                    '2020-02-29 23:59+00', '2020-03-01 00:00+00', '2020-04-01 00:00+00']::timestamptz[]) AS t;
SELECT available, next_expiry_at, next_expiry_amount, lifetime_earned, lifetime_spent, lifetime_expired
  FROM points.account('ex_sweep', 'yuri', '2020-03-15 00:00+00');
-- Swept or not, an expired grant is never drawn from: 51 is too much, 5
-- come from Y2.
SELECT points.consume('ex_sweep', 'yuri', 51, at => '2020-03-15 00:00+00');
SELECT points.consume('ex_sweep', 'yuri', 5, at => '2020-03-15 00:00+00') AS s2 \gset
SELECT * FROM pg_temp.drawn(:s2);

-- Batches: the oldest due grants first, at most `batch` of them per call.
-- Due by the end of 2020: Y2 (Apr 1), W1 (May 1), A1, B1, C1 (Jun 1-3),
-- one per account.
SELECT points.grant('ex_sweep', 'ann', 1, note => 'A1', expires_at => '2020-06-01 00:00+00', at => '2020-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('ex_sweep', 'bea', 2, note => 'B1', expires_at => '2020-06-02 00:00+00', at => '2020-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('ex_sweep', 'cat', 3, note => 'C1', expires_at => '2020-06-03 00:00+00', at => '2020-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.expire(at => '2020-12-31 00:00+00', batch => 2) AS expired;
SELECT l.note AS grant_note, e.amount FROM points.entries e JOIN points.lots l ON l.id = e.lot_id
 WHERE e.type = 'ex_sweep' AND e.kind = 'expire' AND e.at > '2020-03-15' ORDER BY e.id;
SELECT points.expire(at => '2020-12-31 00:00+00', batch => 2) AS expired;
SELECT l.note AS grant_note, e.amount FROM points.entries e JOIN points.lots l ON l.id = e.lot_id
 WHERE e.type = 'ex_sweep' AND e.kind = 'expire' AND e.at > '2020-03-15' ORDER BY e.id;
SELECT points.expire(at => '2020-12-31 00:00+00', batch => 2) AS expired;
SELECT points.expire(at => '2020-12-31 00:00+00', batch => 2) AS expired;
SELECT customer, kind, amount, balance_after, at FROM points.entries
 WHERE type = 'ex_sweep' ORDER BY id;
SELECT customer, points.balance('ex_sweep', customer, '2020-12-31 00:00+00') AS balance
  FROM points.accounts WHERE type = 'ex_sweep' ORDER BY customer;

-- Errors of expire(): NULL 22004, batch not positive or time not finite 22023.
SELECT * FROM pg_temp.state('ex_sweep');
SELECT points.expire(at => NULL);
SELECT points.expire(at => '2020-12-31 00:00+00', batch => NULL);
SELECT points.expire(at => '2020-12-31 00:00+00', batch => 0);
SELECT points.expire(at => '2020-12-31 00:00+00', batch => -1);
SELECT points.expire(at => 'infinity');
SELECT * FROM pg_temp.state('ex_sweep');

-- The ledger is consistent.
SELECT * FROM points.verify();
