--
-- Selling points: price(type, quantity, currency) is the unit price of
-- the highest volume tier whose min_quantity the quantity reaches, times
-- the quantity, rounded half up to the currency's minor unit; below the
-- smallest tier 22023; a currency without prices 42704.  A subscription
-- sells points as one grant per renewal, idempotent by ref.
-- Type codes of this file start with ep_.
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

-- Credits sold in USD: $0.05 each from 100, $0.04 from 1000, $0.03 from
-- 10000; and in MYR from 500 at MYR 0.20.
INSERT INTO points.types (code, name, name_plural, currency)
VALUES ('ep_pts', 'credit', 'credits', 'USD');
INSERT INTO points.prices (type, currency, min_quantity, unit_price)
VALUES ('ep_pts', 'USD', 100, 0.05),
       ('ep_pts', 'USD', 1000, 0.04),
       ('ep_pts', 'USD', 10000, 0.03),
       ('ep_pts', 'MYR', 500, 0.20);

-- The tier reached, just below and at each threshold; currency NULL is
-- the type's (USD).
SELECT q AS quantity, points.price('ep_pts', q) AS usd
  FROM unnest(ARRAY[100, 101, 999, 1000, 9999, 10000, 12345, 1000000]::numeric[]) AS q;
SELECT points.price('ep_pts', 500, 'MYR') AS myr, points.price('ep_pts', 500, 'USD') AS usd;
-- Below the smallest tier: 22023; no prices in EUR: 42704.
SELECT pg_temp.try($$points.price('ep_pts', 99)$$);
SELECT pg_temp.try($$points.price('ep_pts', 499, 'MYR')$$);
SELECT pg_temp.try($$points.price('ep_pts', 100, 'EUR')$$);

-- Rounded half up to the currency's minor unit: 150.5 credits at 0.333
-- is 50.1165, so 50.12; in yen, 3 at 4.5 is 13.5, so 14.
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('ep_cred', 'credit', 'credits', 2);
INSERT INTO points.prices (type, currency, min_quantity, unit_price)
VALUES ('ep_cred', 'USD', 0.01, 0.333),
       ('ep_cred', 'JPY', 1, 4.5);
SELECT points.price('ep_cred', 150.5, 'USD') AS usd, points.price('ep_cred', 3, 'JPY') AS jpy,
       points.price('ep_cred', 0.01, 'USD') AS one_hundredth;
-- A type without a currency needs one passed: 22023.
SELECT pg_temp.try($$points.price('ep_cred', 10)$$);

-- Errors: 22004, 42704, 22023.
SELECT pg_temp.try($$points.price(NULL, 100)$$);
SELECT pg_temp.try($$points.price('ep_pts', NULL)$$);
SELECT pg_temp.try($$points.price('ep_nope', 100)$$);
SELECT pg_temp.try($$points.price('ep_pts', 0)$$);
SELECT pg_temp.try($$points.price('ep_pts', -100)$$);
SELECT pg_temp.try($$points.price('ep_pts', 100.5)$$);
SELECT pg_temp.try($$points.price('ep_pts', 100, '')$$);

-- Selling: the app charges price() and grants the points; a subscription
-- grants once per renewal, its ref making a retried webhook harmless.
SELECT points.price('ep_pts', 1000) AS monthly_price;
SELECT points.grant('ep_pts', 'sub', 1000, reason => 'subscription', ref => 'sub-7-2024-01',
                    at => '2024-01-01 00:00+00') AS g \gset
SELECT points.grant('ep_pts', 'sub', 1000, reason => 'subscription', ref => 'sub-7-2024-01',
                    at => '2024-01-01 00:05+00') = :g AS retried_same_grant;
SELECT points.grant('ep_pts', 'sub', 1000, reason => 'subscription', ref => 'sub-7-2024-02',
                    at => '2024-02-01 00:00+00') <> :g AS next_renewal;
SELECT reason, amount, ref FROM points.grants WHERE type = 'ep_pts' AND customer = 'sub' ORDER BY at;
SELECT points.balance('ep_pts', 'sub', '2024-02-02 00:00+00') AS balance;

SELECT * FROM points.verify();
