--
-- points.liability: per point type, the customers holding points, the
-- points outstanding and their money value, points issued, redeemed and
-- expired, and the breakage ratio (expired / issued); on a known ledger,
-- before and after the expiry sweep.
-- Type codes of this file start with rl_.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

CREATE FUNCTION pg_temp.liability()
RETURNS SETOF points.liability
LANGUAGE sql AS $$
    SELECT * FROM points.liability WHERE type LIKE 'rl\_%' ORDER BY type
$$;

-- rl_eur: 100 points = EUR 1.00.  rl_jpy: 3 points = JPY 1 (no minor
-- unit).  rl_dec: two decimals, no redemption rate.  rl_empty: no
-- customers yet.
INSERT INTO points.types (code, name, name_plural, redeem_points, redeem_value, currency)
VALUES ('rl_eur', 'point', 'points', 100, 1.00, 'EUR'),
       ('rl_jpy', 'point', 'points', 3, 1, 'JPY');
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('rl_dec', 'credit', 'credits', 2);
INSERT INTO points.types (code, name, name_plural) VALUES ('rl_empty', 'point', 'points');

-- Nothing issued yet: zeros, no breakage ratio.
SELECT * FROM pg_temp.liability();

-- rl_eur
-- ann: 1000 points, 250 spent, 100 held for an open order, 500 that
-- expired on 2024-06-01 (journaled by her next operation), 70 pending
-- confirmation.
SELECT points.grant('rl_eur', 'ann', 1000, at => '2024-01-01 10:00+00', expires_at => '2099-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('rl_eur', 'ann', 500, at => '2024-01-02 10:00+00', expires_at => '2024-06-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('rl_eur', 'ann', 250, at => '2024-07-01 10:00+00') IS NOT NULL AS consumed;
SELECT points.hold('rl_eur', 'ann', 100, at => '2024-07-02 10:00+00', until => '2099-01-01 00:00+00') AS hold \gset
SELECT points.grant('rl_eur', 'ann', 70, pending => true, at => '2024-07-03 10:00+00') IS NOT NULL AS granted;
-- bob: 300 points that expired on 2024-03-01, 100 of them spent before.
SELECT points.grant('rl_eur', 'bob', 300, at => '2024-01-01 10:00+00', expires_at => '2024-03-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('rl_eur', 'bob', 100, at => '2024-02-01 10:00+00') IS NOT NULL AS consumed;
-- carl: 45 points, revoked: issued, then taken back.
SELECT points.grant('rl_eur', 'carl', 45, at => '2024-01-01 10:00+00') AS carl \gset
SELECT points.revoke(:carl, at => '2024-01-05 10:00+00') IS NOT NULL AS revoked;
-- dave: 80 points that vest only in 2099: pending until then.
SELECT points.grant('rl_eur', 'dave', 80, at => '2024-01-01 10:00+00', available_at => '2099-01-01 00:00+00',
                    expires_at => '2099-12-31 00:00+00') IS NOT NULL AS granted;

-- rl_jpy: 10 + 11 points, worth 21 / 3 = JPY 7.
SELECT points.grant('rl_jpy', 'ann', 10, at => '2024-01-01 10:00+00') IS NOT NULL AS granted;
SELECT points.grant('rl_jpy', 'bob', 11, at => '2024-01-01 10:00+00') IS NOT NULL AS granted;

-- rl_dec: 12.34 + 0.66 credits, 2.50 of them spent; no rate, no value.
SELECT points.grant('rl_dec', 'ann', 12.34, at => '2024-01-01 10:00+00') IS NOT NULL AS granted;
SELECT points.grant('rl_dec', 'bob', 0.66, at => '2024-01-01 10:00+00') IS NOT NULL AS granted;
SELECT points.consume('rl_dec', 'ann', 2.50, at => '2024-01-02 10:00+00') IS NOT NULL AS consumed;

-- rl_eur: one customer (ann) holds points: 650 available + 100 held = 750
-- outstanding, worth EUR 7.50; pending: ann's 70 + dave's 80 vesting, not
-- owed yet.  Issued: 1000 + 500 + 300 + 45 + 80 = 1925; redeemed: 250 +
-- 100 = 350; expired: 500 + 200 = 700 (bob's 200 not swept yet, counted
-- all the same); breakage 700 / 1925.
-- rl_jpy: JPY 7, nothing expired.  rl_dec: no value.  rl_empty: zeros.
SELECT * FROM pg_temp.liability();

-- The figures against the per-customer ones of points.balances.
SELECT customer, available, held, pending, lifetime_earned, lifetime_spent, lifetime_expired
  FROM points.balances WHERE type = 'rl_eur' ORDER BY customer;

-- The hold is captured in part: 60 redeemed, 40 back to available.
SELECT points.capture(:hold, 60, at => '2024-07-04 10:00+00') IS NOT NULL AS captured;
SELECT type, customers, available, held, outstanding, value, redeemed FROM pg_temp.liability()
 WHERE type = 'rl_eur';

-- The sweep records the expiries: the figures do not change.
CALL points.run_maintenance();
SELECT * FROM pg_temp.liability();
SELECT * FROM points.verify();
