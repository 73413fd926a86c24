--
-- CALL points.run_maintenance(batch): releases the holds past their until,
-- then expires the due grants, in batches with a COMMIT after each; a
-- second run finds nothing.  pg_regress runs this file in one session in
-- autocommit mode, so CALL may COMMIT.  The run sweeps the whole database
-- (what other files left due too): only this file's types are shown.
-- Type codes of this file start with mr_; grants are labelled by their note.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- An error as its SQLSTATE and message.
CREATE FUNCTION pg_temp.try(q text, OUT state text, OUT message text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    state := '00000';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
END
$$;

-- This file's grants, holds and journal.
CREATE VIEW pg_temp.lots AS
    SELECT g.customer, g.note, g.amount, g.remaining, g.status, g.expires_at
      FROM points.grants g WHERE g.type LIKE 'mr\_%';
CREATE VIEW pg_temp.holds AS
    SELECT h.customer, h.note, h.amount, h.captured, h.status, h.until, h.resolved_at
      FROM points.holds h WHERE h.type LIKE 'mr\_%';
CREATE VIEW pg_temp.journal AS
    SELECT e.customer, e.kind, e.amount, e.balance_after, e.held, e.at, l.note AS "grant"
      FROM points.entries e LEFT JOIN points.lots l ON l.id = e.lot_id
     WHERE e.type LIKE 'mr\_%';

INSERT INTO points.types (code, name, name_plural) VALUES ('mr_pts', 'point', 'points');

-- ann: A and B are due (B first), C is not.  bob: D is due.
SELECT points.grant('mr_pts', 'ann', 100, note => 'A', at => '2024-01-01 10:00+00',
                    expires_at => '2024-03-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('mr_pts', 'ann', 50, note => 'B', at => '2024-01-02 10:00+00',
                    expires_at => '2024-02-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('mr_pts', 'ann', 25, note => 'C', at => '2024-01-03 10:00+00',
                    expires_at => '2099-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('mr_pts', 'bob', 30, note => 'D', at => '2024-01-01 10:00+00',
                    expires_at => '2024-04-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('mr_pts', 'bob', 10, at => '2024-01-15 10:00+00') IS NOT NULL AS consumed;
-- carl: a hold that timed out on 2024-01-10 09:30, drawn from E, which
-- expires only in 2099; and a hold that is still open until 2099.
SELECT points.grant('mr_pts', 'carl', 60, note => 'E', at => '2024-01-01 10:00+00',
                    expires_at => '2099-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.hold('mr_pts', 'carl', 20, note => 'timed out', at => '2024-01-10 09:00+00',
                   until => '2024-01-10 09:30+00') IS NOT NULL AS held;
SELECT points.hold('mr_pts', 'carl', 5, note => 'open', at => '2024-01-10 10:00+00',
                   until => '2099-01-01 00:00+00') IS NOT NULL AS held;
-- dave: a hold that timed out on 2024-02-10 09:30, drawn from F, which
-- expired on 2024-03-01: released as of its until, its points go back to
-- F in time to expire with the rest of F, in the same run.
SELECT points.grant('mr_pts', 'dave', 40, note => 'F', at => '2024-02-01 10:00+00',
                    expires_at => '2024-03-01 00:00+00') IS NOT NULL AS granted;
SELECT points.hold('mr_pts', 'dave', 15, note => 'timed out', at => '2024-02-10 09:00+00',
                   until => '2024-02-10 09:30+00') IS NOT NULL AS held;

-- Before: balances already leave out what is due; nothing is recorded yet.
SELECT * FROM pg_temp.lots ORDER BY customer, note;
SELECT * FROM pg_temp.holds ORDER BY customer, note;
SELECT customer, available, held, lifetime_expired
  FROM points.balances WHERE type = 'mr_pts' ORDER BY customer;

-- Batches of one: one short transaction after another.
CALL points.run_maintenance(1);

-- After: the due grants expired, each with one expire entry dated at its
-- expiry (B before A); the timed-out holds released as of their until,
-- dave's 15 points back in F and expired with it; C, E and the open hold
-- untouched.
SELECT * FROM pg_temp.lots ORDER BY customer, note;
SELECT * FROM pg_temp.holds ORDER BY customer, note;
SELECT * FROM pg_temp.journal WHERE kind IN ('expire', 'release') ORDER BY customer, at, kind;
SELECT customer, available, held, lifetime_expired
  FROM points.balances WHERE type = 'mr_pts' ORDER BY customer;
SELECT * FROM points.verify();

-- Nothing is due any more: a second run (default batch) records nothing.
SELECT count(*) AS entries FROM pg_temp.journal;
CALL points.run_maintenance();
SELECT count(*) AS entries FROM pg_temp.journal;

-- Errors: batch not positive (22023) or NULL (22004).  A procedure can
-- COMMIT only when CALLed on its own: not inside a transaction block, not
-- from a function (2D000); the batch it started is rolled back.
SELECT * FROM pg_temp.try('CALL points.run_maintenance(0)');
SELECT * FROM pg_temp.try('CALL points.run_maintenance(NULL)');
SELECT * FROM pg_temp.try('CALL points.run_maintenance()');
\set VERBOSITY terse
BEGIN;
CALL points.run_maintenance();
ROLLBACK;
\set VERBOSITY default

-- It takes no SET clause and is not SECURITY DEFINER (either would forbid
-- the COMMITs).
SELECT p.prokind, p.prosecdef, p.proconfig, pg_get_function_arguments(p.oid) AS arguments
  FROM pg_proc p WHERE p.oid = 'points.run_maintenance(integer)'::regprocedure;

-- Not executable by PUBLIC (REVOKE ... ON ALL FUNCTIONS skips procedures).
SELECT has_function_privilege('public', 'points.run_maintenance(integer)', 'EXECUTE') AS public_may_call;

-- Each batch of a run walks the due grants from where the batch before it
-- ended: expire_batch(at, batch, from_expires_at, from_id) returns how many
-- it expired and where the next starts.  A run's batches therefore never
-- walk again the index entries of the grants expired before them.  The
-- grants of type mr_old fell due in 1990, before any other file's.
INSERT INTO points.types (code, name, name_plural) VALUES ('mr_old', 'point', 'points');
SELECT points.grant('mr_old', c, n, note => note, at => '1990-01-01 00:00+00',
                    expires_at => e) IS NOT NULL AS granted
  FROM (VALUES ('fay', 1, 'F1', timestamptz '1990-01-15 00:00+00'),
               ('eve', 2, 'E1', '1990-02-01 00:00+00'),
               ('gus', 3, 'G1', '1990-02-15 00:00+00'),
               ('xav', 4, 'X1', '1990-02-20 00:00+00'),
               ('eve', 5, 'E2', '1990-03-01 00:00+00'),
               ('eve', 6, 'E3', '1990-04-01 00:00+00'),
               ('eve', 8, 'E4', '1990-04-15 00:00+00')) AS g (c, n, note, e);
CREATE TABLE pg_temp.position (expires_at timestamptz, id bigint);
INSERT INTO pg_temp.position VALUES (NULL, NULL);
-- A batch from the position, which it moves on: how many it expired, and
-- the grant it says the next batch starts at.
CREATE FUNCTION pg_temp.next_batch(batch integer,
    OUT expired integer, OUT next_expires_at timestamptz, OUT next_grant text)
LANGUAGE plpgsql AS $$
DECLARE
    p pg_temp.position;
    b record;
BEGIN
    SELECT * INTO p FROM pg_temp.position;
    SELECT * INTO b FROM points.expire_batch('1990-06-01 00:00+00', batch, p.expires_at, p.id);
    UPDATE pg_temp.position SET expires_at = b.next_expires_at, id = b.next_id;
    expired := b.expired;
    next_expires_at := b.next_expires_at;
    next_grant := (SELECT l.note FROM points.lots l WHERE l.id = b.next_id);
END
$$;
-- A run from the start: `n` batches of `batch`, a row each.
CREATE FUNCTION pg_temp.run(n integer, batch integer)
    RETURNS TABLE (step integer, expired integer, next_expires_at timestamptz, next_grant text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE pg_temp.position SET expires_at = NULL, id = NULL;
    FOR i IN 1..n LOOP
        step := i;
        SELECT * INTO expired, next_expires_at, next_grant FROM pg_temp.next_batch(batch);
        RETURN NEXT;
    END LOOP;
END
$$;
-- A batch of 4 walks F1, E1, G1 and X1 and locks their accounts.  fay's
-- F1 expires, then eve's E1, E2 and E3 use up the batch and leave her E4
-- due: gus and xav are left, so the next batch starts at G1, gus's first,
-- not after X1.
SELECT * FROM pg_temp.next_batch(4);
-- The next walks G1, X1 and E4 and expires them: next at E4, the last.
SELECT * FROM pg_temp.next_batch(4);
-- hal's grant falls due before that position: the run's next batches do
-- not go back for it (as for an account busy when they passed it).
SELECT points.grant('mr_old', 'hal', 9, note => 'H1', at => '1990-01-01 00:00+00',
                    expires_at => '1990-01-20 00:00+00') IS NOT NULL AS granted;
SELECT * FROM pg_temp.next_batch(4);
SELECT note, remaining, status FROM points.grants WHERE type = 'mr_old' ORDER BY note;
-- The next run, or expire(), starts from the beginning and finds H1; a
-- batch of 2^31 - 1 is as good as any.
SELECT points.expire('1990-06-01 00:00+00', 2147483647) AS expired;
SELECT e.customer, e.amount, e.balance_after, e.at, l.note AS "grant"
  FROM points.entries e LEFT JOIN points.lots l ON l.id = e.lot_id
 WHERE e.type = 'mr_old' AND e.kind = 'expire' ORDER BY e.id;

-- Grants that expire at the same instant (a rounded expiry) are walked in
-- the order of their ids: each batch starts at the grant where the one
-- before ended, not at the first of that instant.  A batch that ends with
-- an account's last due grant does not come back to it.
INSERT INTO points.types (code, name, name_plural) VALUES ('mr_tie', 'point', 'points');
SELECT points.grant('mr_tie', c, 1, note => c, at => '1990-01-01 00:00+00',
                    expires_at => '1990-05-01 00:00+00') IS NOT NULL AS granted
  FROM unnest(ARRAY['t1', 't2', 't3', 't4', 't5']) AS c;
SELECT * FROM pg_temp.run(4, 2);
SELECT note, remaining FROM points.grants WHERE type = 'mr_tie' ORDER BY note;
-- An account with more due grants than a batch: each batch starts at the
-- first grant the one before left (or where its walk ended, if before),
-- not again at the account's first.
INSERT INTO points.types (code, name, name_plural) VALUES ('mr_big', 'point', 'points');
SELECT points.grant('mr_big', 'big', 1, note => 'B' || i, at => '1990-01-01 00:00+00',
                    expires_at => '1990-05-09 00:00+00'::timestamptz + i * interval '1 day') IS NOT NULL AS granted
  FROM generate_series(1, 5) AS i;
SELECT * FROM pg_temp.run(4, 2);
SELECT note, remaining FROM points.grants WHERE type = 'mr_big' ORDER BY note;
-- Nothing due from the start: no position (NULL), as it came.
SELECT * FROM pg_temp.run(1, 2);
-- One of the two without the other is an error (22023).
SELECT * FROM pg_temp.try($$SELECT points.expire_batch('1990-06-01', 2, '1990-05-01', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT points.expire_batch('1990-06-01', 2, NULL, 1)$$);
SELECT * FROM points.verify();
-- Not for PUBLIC or the app: run_maintenance() calls it as the admin role.
SELECT has_function_privilege('public', 'points.expire_batch(timestamptz, integer, timestamptz, bigint)', 'EXECUTE') AS public_may_call,
       has_function_privilege('points_app', 'points.expire_batch(timestamptz, integer, timestamptz, bigint)', 'EXECUTE') AS app_may_call,
       has_function_privilege('points_admin', 'points.expire_batch(timestamptz, integer, timestamptz, bigint)', 'EXECUTE') AS admin_may_call;
