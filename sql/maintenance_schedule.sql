--
-- schedule(cron) and unschedule(): run_maintenance as a pg_cron job.  The
-- test server preloads pg_cron with cron.database_name = contrib_regression
-- (test/regress.conf), where pg_regress created pg_cron: the job is
-- scheduled for real.  In another database of the same server, pg_cron is
-- reached through dblink, or the error's hint says what to run.  Jobs are
-- scheduled inside transactions that roll back, or with a schedule that
-- never fires (30 February), so that pg_cron never runs one during the
-- tests.  Where pg_cron is not loaded at all: test/e2e/cron.sh.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;

-- An error as its SQLSTATE, message, detail and hint.
CREATE FUNCTION pg_temp.try(q text, OUT state text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    state := '00000';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$$;

-- This database's job, one per database.
SELECT points.maintenance_job_name();
CREATE VIEW pg_temp.job AS
    SELECT j.jobid, j.schedule, j.command, j.database, j.username = current_user AS mine, j.active
      FROM cron.job j WHERE j.jobname = points.maintenance_job_name();

-- The default schedule is every five minutes.
BEGIN;
SELECT points.schedule() AS job \gset
SELECT jobid = :job AS same_id, schedule, command, database, mine, active FROM pg_temp.job;
-- Scheduling again replaces the job: same id, new schedule, one job.
SELECT points.schedule('0 3 * * *') = :job AS same_id;
SELECT jobid = :job AS same_id, schedule, command, database, mine, active FROM pg_temp.job;
-- unschedule() removes it; a second time there is nothing to remove.
SELECT points.unschedule() AS removed;
SELECT points.unschedule() AS removed;
SELECT count(*) AS jobs FROM pg_temp.job;
ROLLBACK;
SELECT count(*) AS jobs FROM pg_temp.job;

-- A schedule pg_cron does not accept, and NULL.
SELECT * FROM pg_temp.try($$SELECT points.schedule('every minute')$$);
SELECT * FROM pg_temp.try($$SELECT points.schedule(NULL)$$);

-- pg_cron loaded but its extension not created in this database (55000).
BEGIN;
DROP EXTENSION pg_cron CASCADE;
\x on
SELECT * FROM pg_temp.try($$SELECT points.schedule()$$);
\x off
ROLLBACK;

-- Another database of this server: pg_cron is not there.
CREATE DATABASE regress_points_other;
\c regress_points_other
SET client_min_messages = warning;
CREATE EXTENSION points;
CREATE FUNCTION pg_temp.try(q text, OUT state text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    state := '00000';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$$;
SELECT points.maintenance_job_name();
-- Without dblink: 55000, and the hint gives the statement to run in
-- pg_cron's database.
\x on
SELECT * FROM pg_temp.try($$SELECT points.schedule()$$);
SELECT * FROM pg_temp.try($$SELECT points.unschedule()$$);
\x off
SELECT cron_db, dblink_schema FROM points.cron_target();
-- With dblink: schedule() schedules in pg_cron's database a job that runs
-- in this one.
CREATE EXTENSION dblink;
SELECT cron_db, dblink_schema FROM points.cron_target();
SELECT points.schedule('0 0 30 2 *') AS job \gset
SELECT points.schedule('0 12 30 2 *') = :job AS same_id;
\c contrib_regression
SELECT j.schedule, j.command, j.database, j.username = current_user AS mine, j.active
  FROM cron.job j WHERE j.jobname = 'points-maintenance-regress_points_other';
\c regress_points_other
SELECT points.unschedule() AS removed;
SELECT points.unschedule() AS removed;
\c contrib_regression
SELECT count(*) AS jobs FROM cron.job j WHERE j.jobname = 'points-maintenance-regress_points_other';
DROP DATABASE regress_points_other;
