-- The benchmark's schema (test/bench/run.sh and profile.sh run it once, as
-- superuser, after CREATE EXTENSION points): the point type, an earn rule
-- and a reward when the installed extension has them, the plain tables of
-- the baselines, and the procedures that load the dataset.  Not a pgbench
-- script.

SET client_min_messages = warning;
CREATE SCHEMA bench;

-- Whole stars that last 12 months to the end of the UTC day; 100 stars = 1.00.
INSERT INTO points.types (code, name, name_plural, validity, expiry_rounding,
                          redeem_points, redeem_value, currency)
VALUES ('stars', 'star', 'stars', '12 months', 'day', 100, 1.00, 'USD');
-- The expiry sweep's grants, apart from the others.
INSERT INTO points.types (code, name, name_plural) VALUES ('sweep', 'point', 'points');

-- "1 star per 1.00 spent" and a 10-star coupon, where the extension has them.
DO $$
BEGIN
    IF to_regclass('points.earn_rules') IS NOT NULL THEN
        INSERT INTO points.earn_rules (type, event, points, spend)
        VALUES ('stars', 'purchase', 1, 1);
    END IF;
    IF to_regclass('points.rewards') IS NOT NULL THEN
        INSERT INTO points.rewards (type, code, name, kind, cost, value)
        VALUES ('stars', 'coupon', '1.00 off', 'coupon', 10, 1.00);
    END IF;
END
$$;

-- Baseline of the writes: a one-row INSERT into a plain table about as wide
-- as a journal entry (bigserial key, no triggers, one index).
CREATE TABLE bench.plain (
    id            bigserial PRIMARY KEY,
    account_id    bigint NOT NULL,
    type          text NOT NULL,
    customer      text NOT NULL,
    kind          text NOT NULL,
    amount        numeric NOT NULL,
    balance_after numeric NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    ref           text,
    note          text,
    actor         text NOT NULL
);

-- Customers of the "consume from 5 grants" pool are taken in turn.
CREATE SEQUENCE bench.mseq;
-- PT001 errors caught by bench.hot().
CREATE SEQUENCE bench.pt001;

-- The main dataset, session j of jobs: customers c<i>, i = lo+j, lo+j+jobs,
-- ... up to hi; each has 1 to 4 grants of 500 to 1300 stars expiring 30 to 730
-- days from now (one in ten never); one in three has spent 50 to 149 stars
-- (with a ref, as an app would), one in five has a captured hold of 10, one
-- in seven a released hold of 5, one in four has earned by a purchase and
-- one in ten has redeemed a coupon (where the extension has earn and
-- redeem): so that no table a benchmark reads starts empty.
CREATE PROCEDURE bench.load_customers(lo integer, hi integer, j integer, jobs integer)
LANGUAGE plpgsql AS $$
DECLARE
    i integer := lo + j;
    k integer;
    done integer := 0;
    has_earn boolean := EXISTS (SELECT FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace
                                WHERE s.nspname = 'points' AND p.proname = 'earn');
    has_redeem boolean := EXISTS (SELECT FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace
                                  WHERE s.nspname = 'points' AND p.proname = 'redeem');
BEGIN
    WHILE i <= hi LOOP
        FOR k IN 1 .. 1 + i % 4 LOOP
            PERFORM points.grant('stars', 'c' || i, 500 + (i * 37 + k * 101) % 801,
                reason => 'purchase',
                expires_at => CASE WHEN (i + k) % 10 = 0 THEN 'infinity'::timestamptz
                                   ELSE now() + make_interval(days => 30 + (i * 13 + k * 71) % 700) END);
        END LOOP;
        IF i % 3 = 0 THEN
            PERFORM points.consume('stars', 'c' || i, 50 + i % 100, ref => 'load-' || i);
        END IF;
        IF i % 5 = 0 THEN
            PERFORM points.capture(points.hold('stars', 'c' || i, 10, ref => 'order-' || i));
        END IF;
        IF i % 7 = 0 THEN
            PERFORM points.release(points.hold('stars', 'c' || i, 5));
        END IF;
        IF has_earn AND i % 4 = 1 THEN
            PERFORM points.earn('stars', 'c' || i, 'purchase', 20 + i % 100);
        END IF;
        IF has_redeem AND i % 10 = 0 THEN
            PERFORM points.redeem('stars', 'c' || i, 'coupon');
        END IF;
        i := i + jobs;
        done := done + 1;
        IF done % 2000 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
END
$$;

-- A customer with a past: cycles of (grant 2 at t, consume 1 ten minutes
-- later, the other point expires ten days later), an hour apart, until the
-- journal has `entries` entries; then 10,000,000 stars that never expire.
CREATE PROCEDURE bench.load_history(cust text, entries integer)
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := now() - make_interval(hours => entries / 3 + 200) - interval '30 days';
    n integer := 0;
    k integer;
BEGIN
    WHILE n < entries LOOP
        FOR k IN 1 .. 100 LOOP
            PERFORM points.grant('stars', cust, 2, reason => 'history', at => t,
                                 expires_at => t + interval '10 days');
            PERFORM points.consume('stars', cust, 1, at => t + interval '10 minutes');
            t := t + interval '1 hour';
        END LOOP;
        COMMIT;
        SELECT count(*) INTO n FROM points.entries WHERE type = 'stars' AND customer = cust;
    END LOOP;
    PERFORM points.grant('stars', cust, 10000000, reason => 'bench', expires_at => 'infinity');
END
$$;

-- The pool of "consume from 5 grants": customers m<i>, lo <= i <= hi, in
-- session j of jobs, each with grants of 1, 1, 1, 1 and 5 stars expiring in
-- that order, so that consuming 5 draws from all five.
CREATE PROCEDURE bench.load_pool(lo integer, hi integer, j integer, jobs integer)
LANGUAGE plpgsql AS $$
DECLARE
    i integer := lo + j;
    k integer;
    done integer := 0;
BEGIN
    WHILE i <= hi LOOP
        FOR k IN 1 .. 5 LOOP
            PERFORM points.grant('stars', 'm' || i, CASE WHEN k = 5 THEN 5 ELSE 1 END,
                                 reason => 'pool', expires_at => now() + make_interval(days => 20 + k));
        END LOOP;
        i := i + jobs;
        done := done + 1;
        IF done % 2000 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
END
$$;

-- Baseline of the reads: a primary-key SELECT on a copy of the accounts.
CREATE FUNCTION bench.load_kv() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TABLE bench.kv AS
        SELECT customer, balance, held, pending, debt, earned, spent, expired,
               next_expiry_at, created_at
        FROM points.accounts WHERE type = 'stars';
    ALTER TABLE bench.kv ADD PRIMARY KEY (customer);
    RETURN (SELECT count(*) FROM bench.kv);
END
$$;

-- One hot customer: a mix of operations on 'hot' (and transfers both ways
-- with 'hot2'), where "not enough points" (PT001) is counted and any other
-- error aborts the pgbench client.
CREATE FUNCTION bench.hot(op integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CASE op
        WHEN 1 THEN PERFORM points.grant('stars', 'hot', 3);
        WHEN 2 THEN PERFORM points.consume('stars', 'hot', 2);
        WHEN 3 THEN PERFORM points.transfer('stars', 'hot', 'hot2', 1);
        WHEN 4 THEN PERFORM points.transfer('stars', 'hot2', 'hot', 1);
        ELSE PERFORM points.capture(points.hold('stars', 'hot', 1));
    END CASE;
EXCEPTION WHEN SQLSTATE 'PT001' THEN
    PERFORM nextval('bench.pt001');
END
$$;

-- The expiry sweep's grants, session j of jobs, as test/bench/expire.sh
-- loads them: grant i goes to customer x<i % customers>, 10 points granted
-- on 2024-01-01 and due in 2024, committing every 10,000 grants.
CREATE PROCEDURE bench.load_due(grants integer, customers integer, j integer, jobs integer)
LANGUAGE plpgsql AS $$
DECLARE
    i bigint := j;
BEGIN
    WHILE i < grants LOOP
        PERFORM points.grant('sweep', 'x' || (i % customers), 10,
                             at => '2024-01-01 00:00+00',
                             expires_at => '2024-02-01 00:00+00'::timestamptz + (i % 100000) * interval '1 minute');
        i := i + jobs;
        IF i % 10000 < jobs THEN
            COMMIT;
        END IF;
    END LOOP;
END
$$;

-- Milliseconds a query takes in the server (planning and execution, every
-- output column computed, nothing sent): EXPLAIN ANALYZE without timing.
CREATE FUNCTION bench.time_query(q text) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) ' || q INTO plan;
    RETURN (plan -> 0 ->> 'Planning Time')::float8 + (plan -> 0 ->> 'Execution Time')::float8;
END
$$;
