--
-- points.types: every setting is validated by the check_type trigger on
-- INSERT and UPDATE (SQLSTATE 22023), and a type's scale is frozen once it
-- has accounts.  Type codes of this file start with ty_.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
-- Errors show their SQLSTATE only.
\set VERBOSITY sqlstate

-- A good insert with only the required columns: the defaults.
INSERT INTO points.types (code, name, name_plural) VALUES ('ty_stars', 'star', 'stars');
SELECT code, name, name_plural, scale, validity, expiry_rounding, time_zone,
       consume_order, hold_timeout, clawback_policy, enabled
  FROM points.types WHERE code = 'ty_stars';

-- A good insert with every policy set.
INSERT INTO points.types (code, name, name_plural, scale, validity, expiry_rounding,
                          time_zone, consume_order, hold_timeout, clawback_policy)
VALUES ('ty_credits', 'credit', 'credits', 2, '6 months', 'day',
        'Asia/Kuala_Lumpur', 'fifo', '30 minutes', 'debt');
SELECT code, scale, validity, expiry_rounding, time_zone, consume_order,
       hold_timeout, clawback_policy
  FROM points.types WHERE code = 'ty_credits';

-- Every accepted value of the enumerated settings.
INSERT INTO points.types (code, name, name_plural, scale, expiry_rounding, consume_order, clawback_policy)
VALUES ('ty_ok_1', 'p', 'ps', 0, 'none', 'expiry', 'reject'),
       ('ty_ok_2', 'p', 'ps', 1, 'day', 'fifo', 'partial'),
       ('ty_ok_3', 'p', 'ps', 3, 'week', 'expiry', 'debt'),
       ('ty_ok_4', 'p', 'ps', 4, 'month', 'expiry', 'reject'),
       ('ty_ok_5', 'p', 'ps', 4, 'year', 'expiry', 'reject');
SELECT code, scale, expiry_rounding, consume_order, clawback_policy
  FROM points.types WHERE code LIKE 'ty_ok_%' ORDER BY code;

-- scale must be 0 to 4.
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('ty_bad', 'p', 'ps', -1);
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('ty_bad', 'p', 'ps', 5);
-- The time zone must be known.
INSERT INTO points.types (code, name, name_plural, time_zone) VALUES ('ty_bad', 'p', 'ps', 'Mars/Olympus_Mons');
-- expiry_rounding: none, day, week, month or year.
INSERT INTO points.types (code, name, name_plural, expiry_rounding) VALUES ('ty_bad', 'p', 'ps', 'hour');
INSERT INTO points.types (code, name, name_plural, expiry_rounding) VALUES ('ty_bad', 'p', 'ps', 'Day');
-- consume_order: expiry or fifo.
INSERT INTO points.types (code, name, name_plural, consume_order) VALUES ('ty_bad', 'p', 'ps', 'lifo');
-- clawback_policy: reject, partial or debt.
INSERT INTO points.types (code, name, name_plural, clawback_policy) VALUES ('ty_bad', 'p', 'ps', 'forgive');
-- validity: positive, or NULL for never.
INSERT INTO points.types (code, name, name_plural, validity) VALUES ('ty_bad', 'p', 'ps', '-1 day');
INSERT INTO points.types (code, name, name_plural, validity) VALUES ('ty_bad', 'p', 'ps', '0');
INSERT INTO points.types (code, name, name_plural, validity) VALUES ('ty_bad', 'p', 'ps', '1 month -40 days');
-- hold_timeout: positive.
INSERT INTO points.types (code, name, name_plural, hold_timeout) VALUES ('ty_bad', 'p', 'ps', '-5 minutes');
INSERT INTO points.types (code, name, name_plural, hold_timeout) VALUES ('ty_bad', 'p', 'ps', '0');
-- The code must not be empty.
INSERT INTO points.types (code, name, name_plural) VALUES ('', 'p', 'ps');
-- None of them was stored.
SELECT count(*) AS bad_types FROM points.types WHERE code IN ('ty_bad', '');

-- The same checks apply to UPDATE; a refused UPDATE leaves the row as it was.
UPDATE points.types SET scale = 5 WHERE code = 'ty_stars';
UPDATE points.types SET time_zone = 'Nowhere/Special' WHERE code = 'ty_stars';
UPDATE points.types SET expiry_rounding = 'fortnight' WHERE code = 'ty_stars';
UPDATE points.types SET consume_order = 'random' WHERE code = 'ty_stars';
UPDATE points.types SET clawback_policy = 'ignore' WHERE code = 'ty_stars';
UPDATE points.types SET validity = '-6 months' WHERE code = 'ty_stars';
UPDATE points.types SET hold_timeout = '0 seconds' WHERE code = 'ty_stars';
SELECT code, scale, validity, expiry_rounding, time_zone, consume_order,
       hold_timeout, clawback_policy
  FROM points.types WHERE code = 'ty_stars';

-- Good updates go through; validity back to NULL means "never expires".
UPDATE points.types SET validity = '1 year', expiry_rounding = 'month',
       time_zone = 'Europe/Paris' WHERE code = 'ty_stars';
UPDATE points.types SET validity = NULL, expiry_rounding = 'none',
       time_zone = 'UTC' WHERE code = 'ty_stars';
SELECT code, validity, expiry_rounding, time_zone FROM points.types WHERE code = 'ty_stars';

-- The scale may change while the type has no accounts...
UPDATE points.types SET scale = 2 WHERE code = 'ty_stars';
UPDATE points.types SET scale = 0 WHERE code = 'ty_stars';
SELECT code, scale FROM points.types WHERE code = 'ty_stars';

-- ...but not once an account exists: stored amounts are units of the scale.
SELECT points.grant('ty_stars', 'alice', 10, at => '2023-01-01 10:00+00') IS NOT NULL AS granted;
UPDATE points.types SET scale = 2 WHERE code = 'ty_stars';
SELECT code, scale FROM points.types WHERE code = 'ty_stars';
SELECT points.balance('ty_stars', 'alice', '2023-01-02 00:00+00') AS balance;
-- Other settings of a type with accounts still change.
UPDATE points.types SET name = 'gold star', name_plural = 'gold stars' WHERE code = 'ty_stars';
SELECT points.format('ty_stars', 2) AS two, points.format('ty_stars', 1) AS one;
-- A type with accounts cannot be deleted or renamed (foreign key, 23503).
DELETE FROM points.types WHERE code = 'ty_stars';
UPDATE points.types SET code = 'ty_renamed' WHERE code = 'ty_stars';
-- A type without accounts can be deleted.
DELETE FROM points.types WHERE code LIKE 'ty_ok_%';
SELECT count(*) AS ok_types_left FROM points.types WHERE code LIKE 'ty_ok_%';

-- The ledger is consistent.
SELECT * FROM points.verify();
