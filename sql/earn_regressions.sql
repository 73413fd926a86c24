-- Regressions of earning: each block pins a defect found by the suites.
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

-- A. A pending award under a rule with its own validity keeps that validity
--    from its confirmation (it used to be fixed at earn time, so the points
--    lost the days they spent pending).  The type's own validity is a year.
INSERT INTO points.types (code, name, name_plural, validity)
VALUES ('eg_pts', 'point', 'points', '1 year');
INSERT INTO points.earn_rules (type, event, name, points, validity, pending)
VALUES ('eg_pts', 'review', 'review: 50 points for 30 days, once approved', 50, '30 days', true);
SELECT points.earn('eg_pts', 'ivy', 'review', at => '2024-01-01 00:00+00') AS g \gset
SELECT status, expires_at FROM points.grants WHERE id = :g;
SELECT points.confirm(:g, at => '2024-01-20 00:00+00');
SELECT status, available_at, expires_at FROM points.grants WHERE id = :g;
SELECT points.balance('eg_pts', 'ivy', '2024-02-18 23:59+00') AS on_feb_18,
       points.balance('eg_pts', 'ivy', '2024-02-19 00:00+00') AS on_feb_19;
SELECT * FROM points.verify();
