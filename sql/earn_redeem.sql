--
-- Points to money: value(type, points), floored to the currency's minor
-- unit (ISO 4217), and quote(type, customer, subtotal, tax, want, at):
-- the most points usable on an order now and the discount they give,
-- bounded by the balance, want, max_redeem_points, the subtotal (plus tax
-- only where the type is tax_payable), zero below min_redeem_points, and
-- never a point spent that buys nothing.  The app then holds exactly the
-- quoted points.  Every error with its SQLSTATE.
-- Type codes of this file start with eq_.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- try(call): evaluate `call`; show its error as "SQLSTATE: message".
CREATE FUNCTION pg_temp.try(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'SELECT ' || call;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

INSERT INTO points.types (code, name, name_plural, scale, redeem_points, redeem_value, currency)
VALUES ('eq_myr', 'point', 'points', 0, 100, 1.00, 'MYR'),     -- 100 points = MYR 1.00
       ('eq_cent', 'point', 'points', 0, 1000, 1.00, 'USD'),   -- 1000 points = $1.00
       ('eq_odd', 'point', 'points', 0, 3, 0.10, 'USD'),       -- 3 points = $0.10
       ('eq_jpy', 'point', 'points', 0, 3, 1, 'JPY'),          -- 3 points = 1 yen
       ('eq_bhd', 'point', 'points', 0, 1000, 1, 'BHD'),       -- 1000 points = 1.000 dinar
       ('eq_cred', 'credit', 'credits', 2, 1, 1, 'USD'),       -- 1 credit = $1.00
       ('eq_none', 'point', 'points', 0, 100, 1, NULL),        -- no currency: cents
       ('eq_free', 'point', 'points', 0, 100, 0, 'USD'),       -- worth nothing
       ('eq_norate', 'point', 'points', 0, NULL, NULL, 'USD');

--
-- value(): 387 points at "100 points = 1.00" are 3.87.  Floored to the
-- minor unit of the currency: cents, whole yen, thousandths of a dinar.
--
SELECT t AS type, p AS points, points.value(t, p) AS value
  FROM (VALUES ('eq_myr', 387), ('eq_myr', 0), ('eq_myr', 1), ('eq_myr', 99), ('eq_myr', 100),
               ('eq_cent', 387), ('eq_cent', 9), ('eq_cent', 10),
               ('eq_odd', 10), ('eq_odd', 9), ('eq_odd', 1),
               ('eq_jpy', 10), ('eq_jpy', 2), ('eq_jpy', 3),
               ('eq_bhd', 387), ('eq_bhd', 1),
               ('eq_cred', 2.5), ('eq_cred', 0.01),
               ('eq_none', 387),
               ('eq_free', 387),
               ('eq_myr', 9223372036854775807)) AS v(t, p);
-- Errors: 22004, 42704, 22023 (no rate, too many decimals, negative), 22003.
SELECT pg_temp.try($$points.value(NULL, 1)$$);
SELECT pg_temp.try($$points.value('eq_myr', NULL)$$);
SELECT pg_temp.try($$points.value('eq_nope', 1)$$);
SELECT pg_temp.try($$points.value('eq_norate', 1)$$);
SELECT pg_temp.try($$points.value('eq_myr', 1.5)$$);
SELECT pg_temp.try($$points.value('eq_myr', -1)$$);
SELECT pg_temp.try($$points.value('eq_myr', 1e30)$$);

--
-- quote(): qa has 387 points at "100 points = MYR 1.00".
--
SELECT points.grant('eq_myr', 'qa', 387, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT s AS subtotal, q.*
  FROM unnest(ARRAY[10, 3.87, 3.86, 2.50, 2.509, 0.01, 0]::numeric[]) AS s,
       LATERAL points.quote('eq_myr', 'qa', s, at => '2024-01-02 00:00+00') q;
-- want bounds the points; more than the balance is bounded by it.
SELECT w AS want, q.*
  FROM unnest(ARRAY[100, 386, 387, 1000]::numeric[]) AS w,
       LATERAL points.quote('eq_myr', 'qa', 100, want => w, at => '2024-01-02 00:00+00') q;
-- Tax is not payable with points here: the cap is the subtotal.
SELECT * FROM points.quote('eq_myr', 'qa', 2, tax => 1, at => '2024-01-02 00:00+00');
-- An unknown customer, and a time before any grant: nothing.
SELECT * FROM points.quote('eq_myr', 'nobody', 100, at => '2024-01-02 00:00+00');
SELECT * FROM points.quote('eq_myr', 'qa', 100, at => '2023-12-31 00:00+00');

-- Tax payable: the cap is subtotal + tax.
INSERT INTO points.types (code, name, name_plural, redeem_points, redeem_value, currency, tax_payable)
VALUES ('eq_tax', 'point', 'points', 100, 1, 'MYR', true);
SELECT points.grant('eq_tax', 'qa', 387, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT * FROM points.quote('eq_tax', 'qa', 2, tax => 1, at => '2024-01-02 00:00+00');
SELECT * FROM points.quote('eq_tax', 'qa', 2, tax => 5, at => '2024-01-02 00:00+00');

-- min_redeem_points 100 and max_redeem_points 200 per order.
INSERT INTO points.types (code, name, name_plural, redeem_points, redeem_value, currency,
                          min_redeem_points, max_redeem_points)
VALUES ('eq_lim', 'point', 'points', 100, 1, 'MYR', 100, 200);
SELECT points.grant('eq_lim', 'qa', 387, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT points.grant('eq_lim', 'qb', 99, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT c AS customer, s AS subtotal, w AS want, q.*
  FROM (VALUES (1, 'qa', 100, NULL),   -- the maximum: 200
               (2, 'qa', 1.00, NULL),  -- exactly the minimum
               (3, 'qa', 0.99, NULL),  -- 99 points would do: below the minimum
               (4, 'qa', 100, 99),     -- wants fewer than the minimum
               (5, 'qa', 100, 150),
               (6, 'qb', 100, NULL)    -- a balance below the minimum
       ) AS v(n, c, s, w),
       LATERAL points.quote('eq_lim', c, s, want => w, at => '2024-01-02 00:00+00') q
 ORDER BY n;

-- No point is spent that buys nothing: at "1000 points = $1.00", 387
-- points are worth $0.38, which 380 points buy.
SELECT points.grant('eq_cent', 'qa', 387, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT s AS subtotal, q.*
  FROM unnest(ARRAY[10, 0.20, 0.009]::numeric[]) AS s,
       LATERAL points.quote('eq_cent', 'qa', s, at => '2024-01-02 00:00+00') q;
-- At "3 points = $0.10" the value moves in steps of 3.33 cents: a $0.31
-- cap is met by 9 points ($0.30); 10 points ($0.33) would exceed it.
SELECT points.grant('eq_odd', 'qa', 10, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT s AS subtotal, q.*, points.value('eq_odd', q.points) AS value_of_points
  FROM unnest(ARRAY[1, 0.33, 0.32, 0.31, 0.30, 0.29]::numeric[]) AS s,
       LATERAL points.quote('eq_odd', 'qa', s, at => '2024-01-02 00:00+00') q;
-- Whole yen: 10 points at "3 points = 1 yen" are worth 3 yen, which 9
-- points buy; the subtotal's fraction of a yen does not count.
SELECT points.grant('eq_jpy', 'qa', 10, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT s AS subtotal, q.*
  FROM unnest(ARRAY[1000, 2.9]::numeric[]) AS s,
       LATERAL points.quote('eq_jpy', 'qa', s, at => '2024-01-02 00:00+00') q;
-- The redemption settings are cached with the type: a change applies to
-- this session's next call, and a rolled-back one never does.
SELECT points.value('eq_jpy', 10) AS before,
       (points.quote('eq_jpy', 'qa', 1000, at => '2024-01-02 00:00+00')).points AS quoted;
UPDATE points.types SET redeem_points = 2, max_redeem_points = 4 WHERE code = 'eq_jpy';
SELECT points.value('eq_jpy', 10) AS changed,
       (points.quote('eq_jpy', 'qa', 1000, at => '2024-01-02 00:00+00')).points AS quoted;
BEGIN;
UPDATE points.types SET redeem_points = 3, max_redeem_points = NULL WHERE code = 'eq_jpy';
SELECT points.value('eq_jpy', 10) AS in_transaction;
ROLLBACK;
SELECT points.value('eq_jpy', 10) AS rolled_back,
       (points.quote('eq_jpy', 'qa', 1000, at => '2024-01-02 00:00+00')).points AS quoted;
UPDATE points.types SET redeem_points = 3, max_redeem_points = NULL WHERE code = 'eq_jpy';
-- Points in hundredths: 12.34 credits, capped at a $5.555 subtotal.
SELECT points.grant('eq_cred', 'qa', 12.34, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT * FROM points.quote('eq_cred', 'qa', 100, at => '2024-01-02 00:00+00');
SELECT * FROM points.quote('eq_cred', 'qa', 5.555, at => '2024-01-02 00:00+00');
SELECT * FROM points.quote('eq_cred', 'qa', 100, want => 0.5, at => '2024-01-02 00:00+00');
-- Points worth nothing are never quoted.
SELECT points.grant('eq_free', 'qa', 387, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT * FROM points.quote('eq_free', 'qa', 100, at => '2024-01-02 00:00+00');

--
-- Only points usable at `at` count: not held, vesting or expired ones.
-- Then the app holds exactly the quoted points.
--
SELECT points.grant('eq_myr', 'qc', 300, at => '2024-01-01 00:00+00') > 0 AS granted;
SELECT points.grant('eq_myr', 'qc', 50, available_at => '2024-02-01 00:00+00',
                    at => '2024-01-01 00:00+00') > 0 AS vesting;
SELECT points.grant('eq_myr', 'qc', 40, expires_at => '2024-01-15 00:00+00',
                    at => '2024-01-01 00:00+00') > 0 AS expiring;
SELECT points.hold('eq_myr', 'qc', 100, at => '2024-01-10 00:00+00') > 0 AS held;
SELECT * FROM points.quote('eq_myr', 'qc', 100, at => '2024-01-10 00:00+00');
SELECT * FROM points.quote('eq_myr', 'qc', 100, at => '2024-01-20 00:00+00');
SELECT * FROM points.quote('eq_myr', 'qc', 100, at => '2024-02-01 00:00+00');
SELECT q.points, points.hold('eq_myr', 'qc', q.points, at => '2024-02-01 00:00+00') > 0 AS held
  FROM points.quote('eq_myr', 'qc', 2.22, at => '2024-02-01 00:00+00') q;
SELECT available, held FROM points.account('eq_myr', 'qc', '2024-02-01 00:00+00');

-- A disabled type quotes nothing (and cannot be held).
UPDATE points.types SET enabled = false WHERE code = 'eq_myr';
SELECT * FROM points.quote('eq_myr', 'qa', 100, at => '2024-01-02 00:00+00');
UPDATE points.types SET enabled = true WHERE code = 'eq_myr';

-- Errors: 22004, 42704, 22023.
SELECT pg_temp.try($$points.quote(NULL, 'qa', 10)$$);
SELECT pg_temp.try($$points.quote('eq_myr', NULL, 10)$$);
SELECT pg_temp.try($$points.quote('eq_myr', 'qa', NULL)$$);
SELECT pg_temp.try($$points.quote('eq_myr', 'qa', 10, at => NULL)$$);
SELECT pg_temp.try($$points.quote('eq_nope', 'qa', 10)$$);
SELECT pg_temp.try($$points.quote('eq_norate', 'qa', 10)$$);
SELECT pg_temp.try($$points.quote('eq_myr', 'qa', -1)$$);
SELECT pg_temp.try($$points.quote('eq_myr', 'qa', 'NaN')$$);
SELECT pg_temp.try($$points.quote('eq_myr', 'qa', 10, tax => -1)$$);
SELECT pg_temp.try($$points.quote('eq_myr', 'qa', 10, want => 0)$$);
SELECT pg_temp.try($$points.quote('eq_myr', 'qa', 10, want => 1.5)$$);
SELECT pg_temp.try($$points.quote('eq_myr', '', 10)$$);

-- The ledger is consistent.
SELECT * FROM points.verify();
