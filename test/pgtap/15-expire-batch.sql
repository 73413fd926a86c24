-- run_maintenance()'s batches, as a property: a run of expire_batch() calls
-- of random sizes, each from where the one before ended, expires every
-- grant due at its cutoff exactly once when nothing else runs (no account
-- busy, no grant falling due behind it), and its position never goes back.
-- Random ledgers (fixed seeds): 300 grants over 40 customers, expiring on 20
-- days (many at the same instant, several per customer), and customers of
-- a type with an inactivity period, whose grants lapse with the account
-- (found apart from lots_due), some of which also expire by date.  All of
-- it in 1980: no other test's grant is due at the cutoff.
BEGIN;
SELECT plan(10);

INSERT INTO points.types (code, name, name_plural) VALUES ('eb_due', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, inactivity)
    VALUES ('eb_idle', 'point', 'points', '30 days');

CREATE FUNCTION pg_temp.load(run text, seed float8) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
BEGIN
    PERFORM setseed(seed);
    FOR i IN 1..300 LOOP
        PERFORM points.grant('eb_due', run || 'c' || (1 + floor(random() * 40))::int,
                             1 + floor(random() * 9)::int, at => '1980-01-01 00:00+00',
                             expires_at => timestamptz '1980-02-01 00:00+00'
                                           + floor(random() * 20)::int * interval '1 day');
    END LOOP;
    FOR i IN 1..40 LOOP
        PERFORM points.grant('eb_idle', run || 'i' || (1 + floor(random() * 10))::int, 5,
                             at => '1980-01-01 00:00+00',
                             expires_at => CASE WHEN random() < 0.5
                                           THEN timestamptz '1980-02-10 00:00+00' END);
    END LOOP;
END
$$;

-- The grants due at the cutoff: open, and past their expiry or in an
-- account lapsed for inactivity.
CREATE FUNCTION pg_temp.due() RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM points.lots l JOIN points.accounts a ON a.id = l.account_id
     WHERE l.type IN ('eb_due', 'eb_idle') AND l.open
       AND (l.expires_at <= '1980-06-01 00:00+00' OR a.inactive_at <= '1980-06-01 00:00+00')
$$;

-- A run: batches of 1 to 7 until one expires nothing.
CREATE FUNCTION pg_temp.run(seed float8, OUT batches integer, OUT expired integer,
                            OUT backwards integer)
LANGUAGE plpgsql AS $$
DECLARE
    b record;
    from_at timestamptz;
    from_id bigint;
BEGIN
    PERFORM setseed(seed);
    batches := 0;
    expired := 0;
    backwards := 0;
    LOOP
        SELECT * INTO b FROM points.expire_batch('1980-06-01 00:00+00', 1 + floor(random() * 7)::int,
                                                 from_at, from_id);
        batches := batches + 1;
        expired := expired + b.expired;
        IF from_at IS NOT NULL AND (b.next_expires_at, b.next_id) < (from_at, from_id) THEN
            backwards := backwards + 1;
        END IF;
        from_at := b.next_expires_at;
        from_id := b.next_id;
        EXIT WHEN b.expired = 0;
    END LOOP;
END
$$;

CREATE TEMP TABLE outcome (run text, due bigint, batches integer, expired integer,
                           backwards integer, left_due bigint);
CREATE FUNCTION pg_temp.measure(run text, seed float8) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_temp.load(run, seed);
    INSERT INTO outcome (run, due) VALUES (run, pg_temp.due());
    UPDATE outcome o SET (batches, expired, backwards) = (SELECT * FROM pg_temp.run(seed + 0.01))
     WHERE o.run = measure.run;
    UPDATE outcome o SET left_due = pg_temp.due() WHERE o.run = measure.run;
END
$$;
SELECT pg_temp.measure('r1', 0.11);
SELECT pg_temp.measure('r2', 0.21);
SELECT pg_temp.measure('r3', 0.31);

SELECT diag(format('%s: %s grants due, %s batches', run, due, batches)) FROM outcome ORDER BY run;
SELECT is(expired::bigint, due, run || ': the run expired every grant due, each once')
  FROM outcome ORDER BY run;
SELECT is(left_due, 0::bigint, run || ': nothing due is left')
  FROM outcome ORDER BY run;
SELECT is(backwards, 0, run || ': no batch started before the one before it')
  FROM outcome ORDER BY run;
SELECT is_empty('SELECT * FROM points.verify()', 'verify() finds nothing');

SELECT * FROM finish();
ROLLBACK;
