-- points install script, part 40: maintenance and scheduling with pg_cron.
-- src/sql/*.sql are concatenated in name order into points--VERSION.sql.
\echo Use "CREATE EXTENSION points" to load this file. \quit

----------------------------------------------------------------------
-- run_maintenance(batch): the whole sweep, in short transactions
----------------------------------------------------------------------

-- A procedure that COMMITs between batches can be neither SECURITY DEFINER
-- nor carry a SET clause (PostgreSQL refuses transaction control in both),
-- so, unlike the other functions, it runs as its caller with the caller's
-- search_path.  Every name in it is therefore qualified, operators included
-- (OPERATOR(pg_catalog.=)): nothing a caller's search_path holds can stand
-- in for them.  The work itself is done by release_holds() and
-- expire_batch() (expire() from where the batch before ended), which are
-- SECURITY DEFINER with a pinned search_path; the caller needs EXECUTE on
-- them (the admin role has it).
--
-- Every batch is one transaction of release_holds() or expire_batch()
-- followed by a COMMIT: locks are held for one batch only, a crash loses
-- at most one batch, and a concurrent consume() waits for one batch at
-- most.  Accounts locked by a running operation are skipped (SKIP LOCKED)
-- and left to the next run.  The cutoff is the start of the run: grants
-- that fall due while it runs wait for the next one, so a run
-- always ends.  CALL it on its own, not inside BEGIN ... COMMIT.
CREATE PROCEDURE @extschema@.run_maintenance(batch integer DEFAULT 10000)
    LANGUAGE plpgsql
    AS $$
DECLARE
    cutoff   timestamptz := pg_catalog.now();
    started  timestamptz := pg_catalog.clock_timestamp();
    done     integer;
    expired  bigint := 0;
    released bigint := 0;
    batches  integer := 0;
    from_at  timestamptz;
    from_id  bigint;
BEGIN
    IF batch IS NULL THEN
        RAISE EXCEPTION 'batch must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF batch OPERATOR(pg_catalog.<=) 0 THEN
        RAISE EXCEPTION 'batch must be positive, got %', batch
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Holds whose until has passed first, each released as of its until:
    -- a release gives points back to the grants the hold drew from, and
    -- when one of those has expired since, its points are due again.
    -- Releasing first leaves them to the expiry loop below, so that one
    -- run leaves nothing due (but on accounts busy meanwhile).
    LOOP
        done := @extschema@.release_holds(cutoff, batch);
        COMMIT;
        batches := batches OPERATOR(pg_catalog.+) 1;
        released := released OPERATOR(pg_catalog.+) done;
        EXIT WHEN done OPERATOR(pg_catalog.=) 0;
    END LOOP;

    -- Then the due grants, oldest due first, one batch per transaction,
    -- each from where the one before ended: the grants that the batches
    -- before expired are not walked again, nor are those of accounts busy
    -- meanwhile (left to the next run).
    LOOP
        SELECT b.expired, b.next_expires_at, b.next_id
          INTO done, from_at, from_id
          FROM @extschema@.expire_batch(cutoff, batch, from_at, from_id) b;
        COMMIT;
        batches := batches OPERATOR(pg_catalog.+) 1;
        expired := expired OPERATOR(pg_catalog.+) done;
        EXIT WHEN done OPERATOR(pg_catalog.=) 0;
    END LOOP;

    -- LOG goes to the server log (pg_cron's runs included), not to clients
    -- at the default client_min_messages; a run with nothing to do says so
    -- only at DEBUG1.
    IF expired OPERATOR(pg_catalog.>) 0 OR released OPERATOR(pg_catalog.>) 0 THEN
        RAISE LOG 'points.run_maintenance: holds released: %, grants expired: %, transactions: %, time: %',
            released, expired, batches,
            pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started;
    ELSE
        RAISE DEBUG 'points.run_maintenance: nothing due';
    END IF;
END
$$;
COMMENT ON PROCEDURE @extschema@.run_maintenance(integer)
    IS 'Release timed-out holds, then expire due grants, in batches with a COMMIT after each';
-- REVOKE ... ON ALL FUNCTIONS IN SCHEMA does not cover procedures.
REVOKE ALL ON PROCEDURE @extschema@.run_maintenance(integer) FROM PUBLIC;

----------------------------------------------------------------------
-- schedule(cron), unschedule(): run_maintenance as a pg_cron job
----------------------------------------------------------------------

-- The job's name: one job per database, so that points in several
-- databases of one server get one job each in pg_cron's database.  A name
-- longer than pg_cron's name type (63 bytes) would be cut short and could
-- collide: then the database name is replaced by its md5.
CREATE FUNCTION @extschema@.maintenance_job_name() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE WHEN octet_length('points-maintenance-' || current_database()) <= 63
                THEN 'points-maintenance-' || current_database()
                ELSE 'points-maintenance-' || md5(current_database())
           END
$$;
COMMENT ON FUNCTION @extschema@.maintenance_job_name()
    IS 'The pg_cron job name schedule() uses in this database (see cron.job, cron.job_run_details)';

-- Where pg_cron is, for schedule() and unschedule(): cron_db is NULL when
-- pg_cron's schema is in this database; else cron_db is pg_cron's database,
-- dblink_schema the schema of dblink when dblink is installed here (NULL
-- when not), and conninfo the libpq connection string that reaches
-- cron_db on this same server (its first unix socket directory, or
-- localhost, this port) as the current role.  Raises 55000 with a hint
-- saying what to do where pg_cron is not usable at all.
CREATE FUNCTION @extschema@.cron_target(
    OUT cron_db text, OUT dblink_schema name, OUT conninfo text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    package text := 'postgresql-' || (current_setting('server_version_num')::integer / 10000) || '-cron';
BEGIN
    -- pg_cron defines cron.database_name when it is loaded, and it can be
    -- loaded only through shared_preload_libraries.
    cron_db := current_setting('cron.database_name', true);
    IF cron_db IS NULL OR cron_db = '' THEN
        RAISE EXCEPTION 'pg_cron is not loaded in this server'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_cron')
                                THEN 'pg_cron is installed but not in shared_preload_libraries.'
                                ELSE 'pg_cron is not installed.' END,
                  HINT = format('Install the Debian package %s, set shared_preload_libraries = ''pg_cron'' '
                                'and cron.database_name = %L in postgresql.conf, restart the server, '
                                'run CREATE EXTENSION pg_cron in database %I, then call points.schedule() again.',
                                package, current_database(), current_database());
    END IF;

    IF cron_db = current_database() THEN
        IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
            RAISE EXCEPTION 'pg_cron is loaded but its extension is not created in database "%"', cron_db
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Run CREATE EXTENSION pg_cron in this database, then call points.schedule() again.';
        END IF;
        IF to_regprocedure('cron.schedule_in_database(text,text,text,text,text,boolean)') IS NULL THEN
            RAISE EXCEPTION 'pg_cron % in this database has no cron.schedule_in_database()',
                    (SELECT extversion FROM pg_extension WHERE extname = 'pg_cron')
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'points needs pg_cron 1.4 or later: run ALTER EXTENSION pg_cron UPDATE.';
        END IF;
        cron_db := NULL;
        RETURN;
    END IF;

    -- pg_cron lives in another database of this server.
    SELECT n.nspname INTO dblink_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'dblink';
    -- libpq quoting: each value in single quotes, with \ and ' escaped.
    SELECT string_agg(format('%s=''%s''', k, replace(replace(v, '\', '\\'), '''', '\''')), ' ' ORDER BY i)
      INTO conninfo
      FROM (VALUES (1, 'dbname', cron_db),
                   (2, 'user', current_user::text),
                   (3, 'host', coalesce(nullif(btrim(split_part(
                                   current_setting('unix_socket_directories'), ',', 1)), ''),
                               'localhost')),
                   (4, 'port', current_setting('port'))) AS p(i, k, v);
END
$$;
COMMENT ON FUNCTION @extschema@.cron_target()
    IS 'Where pg_cron is, for schedule() and unschedule(); 55000 when it cannot be used';

-- Like run_maintenance() this runs as its caller: pg_cron records the
-- calling role as the job's owner and runs the job as that role, and
-- cron.schedule_in_database() is executable only by roles a superuser
-- granted it to.
CREATE FUNCTION @extschema@.schedule(cron text DEFAULT '*/5 * * * *')
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    job     text := @extschema@.maintenance_job_name();
    command text := 'CALL @extschema@.run_maintenance()';
    target  record;
    remote  text;
    jobid   bigint;
    msg     text;
    state   text;
BEGIN
    IF cron IS NULL THEN
        RAISE EXCEPTION 'cron must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    target := @extschema@.cron_target();

    IF target.cron_db IS NULL THEN
        -- pg_cron is here.  A job of the same name and role is updated in
        -- place (pg_cron's ON CONFLICT): re-scheduling replaces.
        RETURN cron.schedule_in_database(job, cron, command, current_database());
    END IF;

    -- pg_cron is in another database.  The same call, to run there.
    remote := format('SELECT cron.schedule_in_database(%L, %L, %L, %L)',
                     job, cron, command, current_database());
    IF target.dblink_schema IS NULL THEN
        RAISE EXCEPTION 'pg_cron keeps its jobs in database "%" (cron.database_name), not in "%"',
                target.cron_db, current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Either CREATE EXTENSION dblink in this database and call points.schedule() '
                                'again, or run this in database %I: %s;', target.cron_db, remote);
    END IF;
    BEGIN
        EXECUTE format('SELECT j FROM %I.dblink($1, $2) AS t(j bigint)', target.dblink_schema)
            INTO jobid
            USING target.conninfo, remote;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
        RAISE EXCEPTION 'could not schedule through dblink in database "%"', target.cron_db
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('%s (SQLSTATE %s)', msg, state),
                  HINT = format('Run this in database %I: %s;', target.cron_db, remote);
    END;
    RETURN jobid;
END
$$;
COMMENT ON FUNCTION @extschema@.schedule(text)
    IS 'Register CALL points.run_maintenance() with pg_cron (replacing this database''s job); returns the job id';

CREATE FUNCTION @extschema@.unschedule()
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    job    text := @extschema@.maintenance_job_name();
    target record;
    remote text;
    found_ boolean;
    msg    text;
    state  text;
BEGIN
    target := @extschema@.cron_target();
    -- cron.job shows a role its own jobs only (row level security): this
    -- removes the job the current role scheduled.
    remote := format('SELECT coalesce(bool_or(cron.unschedule(jobid)), false) FROM cron.job'
                     ' WHERE jobname = %L AND username = current_user', job);
    IF target.cron_db IS NULL THEN
        EXECUTE remote INTO found_;
        RETURN found_;
    END IF;
    IF target.dblink_schema IS NULL THEN
        RAISE EXCEPTION 'pg_cron keeps its jobs in database "%" (cron.database_name), not in "%"',
                target.cron_db, current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Either CREATE EXTENSION dblink in this database and call points.unschedule() '
                                'again, or run this in database %I: %s;', target.cron_db, remote);
    END IF;
    BEGIN
        EXECUTE format('SELECT u FROM %I.dblink($1, $2) AS t(u boolean)', target.dblink_schema)
            INTO found_
            USING target.conninfo, remote;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
        RAISE EXCEPTION 'could not unschedule through dblink in database "%"', target.cron_db
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('%s (SQLSTATE %s)', msg, state),
                  HINT = format('Run this in database %I: %s;', target.cron_db, remote);
    END;
    RETURN found_;
END
$$;
COMMENT ON FUNCTION @extschema@.unschedule()
    IS 'Remove this database''s run_maintenance job from pg_cron; false when there was none';
