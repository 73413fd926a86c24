--
-- expiring(type, within, at): the grants with points left that lapse in
-- (at, at + within], soonest first, for "your points expire soon" e-mails;
-- by their own expiry or, for a type with an inactivity policy, when the
-- account has been idle that long.
-- Type codes of this file start with re_; grants are labelled by their note.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- An error as its SQLSTATE, message and hint.
CREATE FUNCTION pg_temp.try(q text, OUT state text, OUT message text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    state := '00000';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            hint = PG_EXCEPTION_HINT;
END
$$;

-- The report with grant ids shown as the grant's note.
CREATE FUNCTION pg_temp.expiring(t text, w interval, a timestamptz)
RETURNS TABLE (customer text, "grant" text, remaining numeric, expires_at timestamptz,
               cause text, amount numeric, reason text, granted_at timestamptz)
LANGUAGE sql AS $$
    SELECT x.customer, l.note, x.remaining, x.expires_at, x.cause, x.amount, x.reason, x.granted_at
      FROM points.expiring(t, w, a) x JOIN points.lots l ON l.id = x.grant_id
     ORDER BY x.expires_at, x.grant_id
$$;

INSERT INTO points.types (code, name, name_plural) VALUES ('re_pts', 'point', 'points');
INSERT INTO points.types (code, name, name_plural) VALUES ('re_other', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, inactivity) VALUES ('re_idle', 'point', 'points', '60 days');

-- ann: A, B and C expire in June or on 1 July, D never.
SELECT points.grant('re_pts', 'ann', 10, note => 'A', reason => 'purchase',
                    at => '2024-03-01 10:00+00', expires_at => '2024-06-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('re_pts', 'ann', 20, note => 'B', reason => 'review',
                    at => '2024-03-02 10:00+00', expires_at => '2024-06-15 12:00+00') IS NOT NULL AS granted;
SELECT points.grant('re_pts', 'ann', 30, note => 'C', reason => 'purchase',
                    at => '2024-03-03 10:00+00', expires_at => '2024-07-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('re_pts', 'ann', 40, note => 'D', at => '2024-03-04 10:00+00') IS NOT NULL AS granted;
-- bob: F is spent whole, E in part, G not at all.
SELECT points.grant('re_pts', 'bob', 8, note => 'F',
                    at => '2024-04-01 10:00+00', expires_at => '2024-06-10 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('re_pts', 'bob', 8, at => '2024-04-02 10:00+00') IS NOT NULL AS consumed;
SELECT points.grant('re_pts', 'bob', 5, note => 'E',
                    at => '2024-04-03 10:00+00', expires_at => '2024-06-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('re_pts', 'bob', 12, note => 'G',
                    at => '2024-04-04 10:00+00', expires_at => '2024-06-20 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('re_pts', 'bob', 2, at => '2024-04-05 10:00+00') IS NOT NULL AS consumed;
-- carl's H is pending, dave's V voided: no points to lose yet, or ever.
SELECT points.grant('re_pts', 'carl', 7, note => 'H', pending => true,
                    at => '2024-04-01 10:00+00', expires_at => '2024-06-05 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('re_pts', 'dave', 9, note => 'V', pending => true,
                    at => '2024-04-01 10:00+00', expires_at => '2024-06-05 00:00+00') AS void_me \gset
SELECT points.revoke(:void_me, at => '2024-04-02 10:00+00') IS NOT NULL AS voided;
-- another type's grant in the same window
SELECT points.grant('re_other', 'ann', 99, note => 'O',
                    at => '2024-03-01 10:00+00', expires_at => '2024-06-02 00:00+00') IS NOT NULL AS granted;

-- June, from its first instant: A and E expire at 2024-06-01 00:00, not
-- after it, so they are not in the window; C, at its very end, is.
SELECT * FROM pg_temp.expiring('re_pts', '30 days', '2024-06-01 00:00+00');

-- The last day of May: A and E (same time: the older grant first).
SELECT * FROM pg_temp.expiring('re_pts', '1 day', '2024-05-31 00:00+00');

-- Three months from 1 May: all of them but the spent F, the pending H, the
-- voided V and D that never expires.
SELECT * FROM pg_temp.expiring('re_pts', '3 months', '2024-05-01 00:00+00');

-- Summed per customer, as a reminder e-mail would put it.
SELECT x.customer, sum(x.remaining) AS points, min(x.expires_at) AS first_expiry
  FROM points.expiring('re_pts', '3 months', '2024-05-01 00:00+00') x
 GROUP BY x.customer ORDER BY x.customer;

-- Nothing after July.
SELECT * FROM pg_temp.expiring('re_pts', '1 year', '2024-07-01 00:00+00');

-- at defaults to now(): a grant expiring in 10 days is listed within 30
-- days, not within 5.
INSERT INTO points.types (code, name, name_plural) VALUES ('re_now', 'point', 'points');
SELECT points.grant('re_now', 'ann', 3, expires_at => now() + interval '10 days') IS NOT NULL AS granted;
SELECT count(*) AS within_30_days, sum(remaining) FROM points.expiring('re_now', '30 days');
SELECT count(*) AS within_5_days FROM points.expiring('re_now', '5 days');

-- Inactivity: re_idle points lapse 60 days after the account's last
-- activity.  ann's last activity is on 2024-01-10: her points lapse on
-- 2024-03-10, before K's own expiry (cause inactivity) but after J's (cause
-- expiry).  bob keeps his account active, so only his own expiry counts.
SELECT points.grant('re_idle', 'ann', 10, note => 'J', at => '2024-01-01 10:00+00',
                    expires_at => '2024-03-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('re_idle', 'ann', 20, note => 'K', at => '2024-01-10 10:00+00',
                    expires_at => '2024-12-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('re_idle', 'bob', 30, note => 'L', at => '2024-02-20 10:00+00',
                    expires_at => '2024-03-05 00:00+00') IS NOT NULL AS granted;
SELECT * FROM pg_temp.expiring('re_idle', '1 month', '2024-02-20 00:00+00');
-- Past 10 March ann's points have lapsed already: not listed.
SELECT * FROM pg_temp.expiring('re_idle', '1 year', '2024-03-11 00:00+00');

-- Errors: unknown type (42704), a window that is not positive, an
-- infinite at (22023), NULL arguments (22004).
SELECT * FROM pg_temp.try($$SELECT points.expiring('re_nope', '30 days')$$);
SELECT * FROM pg_temp.try($$SELECT points.expiring('re_pts', '0 days')$$);
SELECT * FROM pg_temp.try($$SELECT points.expiring('re_pts', '-1 day')$$);
SELECT * FROM pg_temp.try($$SELECT points.expiring('re_pts', '30 days', 'infinity')$$);
SELECT * FROM pg_temp.try($$SELECT points.expiring('re_pts', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT points.expiring(NULL, '30 days')$$);
SELECT * FROM pg_temp.try($$SELECT points.expiring('re_pts', '30 days', NULL)$$);
