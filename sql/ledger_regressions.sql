-- Regressions: each block pins a defect found by the ledger suites.
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

-- 1. verify() compares units of scaled types correctly (it used to see
--    "spent 12, journal gives 0" for a 0.12 debit of a scale-2 type).
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('rg_c2', 'credit', 'credits', 2);
SELECT points.grant('rg_c2', 'bob', 1, at => '2023-01-01') > 0 AS granted;
SELECT points.consume('rg_c2', 'bob', 0.12, at => '2023-01-02') > 0 AS consumed;
SELECT points.adjust('rg_c2', 'bob', -0.05, 'fix', at => '2023-01-03') > 0 AS adjusted;
SELECT available, lifetime_spent FROM points.account('rg_c2', 'bob', '2023-01-04');
SELECT * FROM points.verify();

-- 2. expire(at, batch) expires at most batch grants, even of one customer.
INSERT INTO points.types (code, name, name_plural) VALUES ('rg_b', 'star', 'stars');
SELECT count(points.grant('rg_b', 'carol', 1, expires_at => d, at => '2020-01-01'))
FROM (VALUES (timestamptz '2020-02-01'), ('2020-02-02'), ('2020-02-03')) v(d);
SELECT points.expire(at => '2020-03-01', batch => 1) AS first;
SELECT points.expire(at => '2020-03-01', batch => 1) AS second;
SELECT points.expire(at => '2020-03-01', batch => 5) AS rest;
SELECT points.expire(at => '2020-03-01', batch => 5) AS none_left;
SELECT count(*) FILTER (WHERE kind = 'expire') AS expire_entries FROM points.entries WHERE type = 'rg_b';

-- 3. A swept grant reads "expired" in points.grants, as it did before the sweep;
--    a grant spent to zero before its expiry reads "used".
SELECT points.grant('rg_b', 'dave', 5, expires_at => '2021-01-01', at => '2020-06-01') AS g \gset
SELECT points.grant('rg_b', 'dave', 5, expires_at => '2021-01-01', at => '2020-06-01') AS h \gset
SELECT points.consume('rg_b', 'dave', 5, at => '2020-06-02') > 0 AS consumed;
SELECT CASE id WHEN :g THEN 'spent' ELSE 'left to expire' END AS grant_, remaining, status
FROM points.grants WHERE type = 'rg_b' AND customer = 'dave' ORDER BY id;
SELECT points.expire(at => '2021-02-01') AS swept;
SELECT CASE id WHEN :g THEN 'spent' ELSE 'left to expire' END AS grant_, remaining, status
FROM points.grants WHERE type = 'rg_b' AND customer = 'dave' ORDER BY id;

-- 4. A retry compares times whatever the session's TimeZone and DateStyle.
SELECT points.grant('rg_b', 'erin', 5, ref => 'rg-r1', expires_at => '2030-01-01 00:00+00', at => '2023-01-01') AS first \gset
SET timezone = 'Asia/Tokyo';
SET datestyle = 'SQL, DMY';
SELECT points.grant('rg_b', 'erin', 5, ref => 'rg-r1', expires_at => '2030-01-01 00:00+00', at => '2023-01-01') = :first AS same_grant;
SELECT points.hold('rg_b', 'erin', 1, ref => 'rg-h1', until => '2023-01-02 00:00+00', at => '2023-01-01 12:00+00') AS hold \gset
RESET timezone;
SET datestyle = 'ISO, YMD';
SELECT points.hold('rg_b', 'erin', 1, ref => 'rg-h1', until => '2023-01-02 00:00+00', at => '2023-01-01 12:00+00') = :hold AS same_hold;
SELECT count(*) AS grants FROM points.lots WHERE type = 'rg_b' AND customer = 'erin';
SET timezone = 'UTC';

-- 5. A validity in hours is elapsed time, also across a DST change in the
--    type's zone (New York springs forward on 2022-03-13); days and months
--    keep the local wall-clock time.
INSERT INTO points.types (code, name, name_plural, validity, time_zone)
VALUES ('rg_h', 'point', 'points', '24 hours', 'America/New_York'),
       ('rg_d', 'point', 'points', '1 day', 'America/New_York');
SELECT points.grant('rg_h', 'fay', 1, at => '2022-03-12 12:00-05') AS h \gset
SELECT points.grant('rg_d', 'fay', 1, at => '2022-03-12 12:00-05') AS d \gset
SELECT type, expires_at - at AS lasts, expires_at AT TIME ZONE 'America/New_York' AS local_expiry
FROM points.grants WHERE customer = 'fay' ORDER BY type;

-- 6. A debit that needs more grants than the first batch the draw reads
--    (32) walks the rest: 70 one-point grants for one debit.
INSERT INTO points.types (code, name, name_plural) VALUES ('rg_many', 'point', 'points');
SELECT count(points.grant('rg_many', 'gus', 1, at => '2024-01-01')) AS grants FROM generate_series(1, 100);
SELECT points.consume('rg_many', 'gus', 70, at => '2024-01-02') > 0 AS consumed;
SELECT points.balance('rg_many', 'gus', '2024-01-03') AS left,
       (SELECT count(*) FROM points.allocations a JOIN points.lots l ON l.id = a.lot_id
         WHERE l.type = 'rg_many') AS grants_drawn;

SELECT * FROM points.verify();
