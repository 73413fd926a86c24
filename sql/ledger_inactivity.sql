-- Inactivity expiry (Smile.io's model): with types.inactivity set, all of a
-- customer's points lapse once that long has passed without earning or
-- spending.  Balances are right at any instant; the next operation or the
-- sweep journals the lapse (expire entries noted 'inactivity'); new activity
-- never revives lapsed points.
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

INSERT INTO points.types (code, name, name_plural, inactivity)
VALUES ('in_pts', 'point', 'points', '1 year');
-- a negative or zero inactivity is refused
INSERT INTO points.types (code, name, name_plural, inactivity) VALUES ('in_bad', 'p', 'ps', '-1 day');
INSERT INTO points.types (code, name, name_plural, inactivity) VALUES ('in_bad', 'p', 'ps', '0');

-- ann earns, spends: her deadline is a year after her last activity.
SELECT points.grant('in_pts', 'ann', 100, at => '2024-01-01') > 0 AS granted;
SELECT points.consume('in_pts', 'ann', 10, at => '2024-06-01') > 0 AS spent;
SELECT points.balance('in_pts', 'ann', '2025-05-31 23:59') AS day_before,
       points.balance('in_pts', 'ann', '2025-06-01') AS lapsed;
SELECT available, lifetime_expired FROM points.account('in_pts', 'ann', '2025-06-02');
-- A grant after the lapse journals the lapse first and does not revive the
-- 90 points.
SELECT points.grant('in_pts', 'ann', 5, at => '2025-07-01') > 0 AS granted;
SELECT points.balance('in_pts', 'ann', '2025-07-02') AS balance;
SELECT kind, amount, balance_after, at, note FROM points.entries
 WHERE type = 'in_pts' AND customer = 'ann' ORDER BY id;

-- bob never comes back: the sweep lapses him (one entry per grant), once.
SELECT points.grant('in_pts', 'bob', 30, at => '2024-01-01') > 0 AS g1;
SELECT points.grant('in_pts', 'bob', 20, at => '2024-02-01') > 0 AS g2;
-- (the sweep is global: other files' due grants go too, so no counts here)
SELECT points.expire(at => '2025-03-01') >= 2 AS swept;
SELECT points.expire(at => '2025-03-01') AS again;
SELECT kind, amount, at, note FROM points.entries
 WHERE type = 'in_pts' AND customer = 'bob' ORDER BY id;
SELECT customer, available, lifetime_expired FROM points.balances WHERE type = 'in_pts' ORDER BY customer;

SELECT * FROM points.verify();
