-- points install script, part 10: the core ledger.
-- src/sql/*.sql are concatenated in name order into points--VERSION.sql.
\echo Use "CREATE EXTENSION points" to load this file. \quit

-- Every name is qualified: @extschema@ is the fixed schema points.

----------------------------------------------------------------------
-- Configuration
----------------------------------------------------------------------

CREATE TABLE @extschema@.types (
    code              text PRIMARY KEY,
    name              text NOT NULL,
    name_plural       text NOT NULL,
    scale             integer NOT NULL DEFAULT 0,
    validity          interval,
    expiry_rounding   text NOT NULL DEFAULT 'none',
    time_zone         text NOT NULL DEFAULT 'UTC',
    consume_order     text NOT NULL DEFAULT 'expiry',
    redeem_points     numeric CHECK (redeem_points > 0),
    redeem_value      numeric CHECK (redeem_value >= 0),
    currency          text,
    tax_payable       boolean NOT NULL DEFAULT false,
    min_redeem_points numeric CHECK (min_redeem_points >= 0),
    max_redeem_points numeric CHECK (max_redeem_points > 0),
    hold_timeout      interval NOT NULL DEFAULT '15 minutes',
    inactivity        interval,
    clawback_policy   text NOT NULL DEFAULT 'reject',
    enabled           boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.types IS 'Kinds of points a merchant issues, each with its own scale and policies';

CREATE FUNCTION @extschema@.check_type() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'points_check_type';
CREATE TRIGGER check_type BEFORE INSERT OR UPDATE ON @extschema@.types
    FOR EACH ROW EXECUTE FUNCTION @extschema@.check_type();
-- Backends cache types; a change tells them all to reload at commit.
CREATE FUNCTION @extschema@.types_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'points_types_changed';
CREATE TRIGGER types_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.types
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.types_changed();

----------------------------------------------------------------------
-- Ledger storage.  Amounts are bigint units of 10^-scale of the type.
----------------------------------------------------------------------

-- One account per (type, customer), created on first credit.  It holds the
-- cached figures that make a balance read O(1); verify() re-derives them.
CREATE TABLE @extschema@.accounts (
    id             bigserial PRIMARY KEY,
    type           text NOT NULL REFERENCES @extschema@.types (code)
                   ON UPDATE RESTRICT ON DELETE RESTRICT,
    customer       text NOT NULL,
    balance        bigint NOT NULL DEFAULT 0,
    held           bigint NOT NULL DEFAULT 0,
    pending        bigint NOT NULL DEFAULT 0,
    debt           bigint NOT NULL DEFAULT 0,
    earned         bigint NOT NULL DEFAULT 0,
    spent          bigint NOT NULL DEFAULT 0,
    expired        bigint NOT NULL DEFAULT 0,
    next_expiry_at timestamptz NOT NULL DEFAULT 'infinity',
    vested_at      timestamptz NOT NULL DEFAULT '-infinity',
    last_at        timestamptz NOT NULL DEFAULT '-infinity',
    last_activity_at timestamptz NOT NULL DEFAULT '-infinity',
    inactive_at    timestamptz NOT NULL DEFAULT 'infinity',
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (type, customer)
) WITH (fillfactor = 80);
COMMENT ON TABLE @extschema@.accounts IS 'Cached figures of each (type, customer), in units; read points.balances';
-- The sweep finds accounts lapsed for inactivity (types with an inactivity policy).
CREATE INDEX accounts_inactive ON @extschema@.accounts (inactive_at) WHERE inactive_at < 'infinity';

-- Lots: every credit is a lot with its own amount, remaining and validity.
-- "open" is derived, so updates that leave a lot open stay HOT.
CREATE TABLE @extschema@.lots (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL,
    type         text NOT NULL,
    customer     text NOT NULL,
    amount       bigint NOT NULL,
    remaining    bigint NOT NULL,
    status       text NOT NULL CHECK (status IN ('pending', 'active', 'voided')),
    revoked      bigint NOT NULL DEFAULT 0,
    fixed_expiry boolean NOT NULL DEFAULT false,
    open         boolean GENERATED ALWAYS AS (status = 'active' AND remaining > 0) STORED,
    reason       text NOT NULL,
    ref          text,
    note         text,
    available_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    at           timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    meta         jsonb
) WITH (fillfactor = 80);
COMMENT ON TABLE @extschema@.lots IS 'Grants, in units; read points.grants';
-- Debits walk an account's open lots in consumption order.
CREATE INDEX lots_open ON @extschema@.lots (account_id, expires_at, at, id) WHERE open;
-- The expiry sweep finds due lots across accounts.
CREATE INDEX lots_due ON @extschema@.lots (expires_at, id) WHERE open;
CREATE INDEX lots_account ON @extschema@.lots (account_id, id);

-- The journal: every change of a balance, never updated or deleted.
-- Amounts are numeric in points, so it reads without knowing the scale.
-- amount is the change of the available balance and balance_after the
-- running balance; held, pending and debt are the changes of those figures
-- (a capture spends held points: amount 0, held negative).  origin_id links
-- a capture, release or refund to the debit it settles.
CREATE TABLE @extschema@.entries (
    id            bigserial PRIMARY KEY,
    account_id    bigint NOT NULL,
    type          text NOT NULL,
    customer      text NOT NULL,
    kind          text NOT NULL,
    amount        numeric NOT NULL,
    balance_after numeric NOT NULL,
    held          numeric NOT NULL DEFAULT 0,
    pending       numeric NOT NULL DEFAULT 0,
    debt          numeric NOT NULL DEFAULT 0,
    lot_id        bigint,
    hold_id       bigint,
    origin_id     bigint,
    at            timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    ref           text,
    note          text,
    actor         text NOT NULL,
    meta          jsonb
);
COMMENT ON TABLE @extschema@.entries IS 'The append-only journal of every balance change, in points';
CREATE INDEX entries_account ON @extschema@.entries (account_id, id);
CREATE INDEX entries_at ON @extschema@.entries (at);
-- Refunds and releases find what was already given back for a debit.
CREATE INDEX entries_origin ON @extschema@.entries (origin_id) WHERE origin_id IS NOT NULL;

-- Which lots each debit drew from (positive) or returned to (negative).
CREATE TABLE @extschema@.allocations (
    entry_id   bigint NOT NULL,
    lot_id     bigint NOT NULL,
    account_id bigint NOT NULL,
    amount     bigint NOT NULL CHECK (amount <> 0),
    at         timestamptz NOT NULL,
    PRIMARY KEY (entry_id, lot_id)
);
COMMENT ON TABLE @extschema@.allocations IS 'The grants each debit drew from, in units; append-only';
CREATE INDEX allocations_lot ON @extschema@.allocations (lot_id);

-- Holds: points reserved for a pending order, drawn from lots like a debit.
CREATE TABLE @extschema@.holds (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL,
    type        text NOT NULL,
    customer    text NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    captured    bigint NOT NULL DEFAULT 0,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'captured', 'released')),
    until       timestamptz NOT NULL,
    at          timestamptz NOT NULL,
    entry_id    bigint NOT NULL,
    settled_entry_id bigint,
    resolved_at timestamptz,
    ref         text,
    note        text,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.holds IS 'Points reserved for pending orders, in units';
CREATE INDEX holds_account ON @extschema@.holds (account_id, id);
-- Maintenance releases open holds past their until.
CREATE INDEX holds_open ON @extschema@.holds (until) WHERE status = 'open';

-- Idempotency: the first use of a ref for (type, operation), its arguments
-- and its result.
CREATE TABLE @extschema@.requests (
    type        text NOT NULL,
    op          text NOT NULL,
    ref         text NOT NULL,
    args        text[] NOT NULL,
    customer    text NOT NULL,
    result      bigint,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (type, op, ref)
);
COMMENT ON TABLE @extschema@.requests IS 'Refs already used, for idempotent retries';

----------------------------------------------------------------------
-- Guards: the ledger changes only through the functions below.
----------------------------------------------------------------------

CREATE FUNCTION @extschema@.guard_journal() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'points_guard_journal';
CREATE FUNCTION @extschema@.guard_state() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'points_guard_state';
CREATE FUNCTION @extschema@.check_lot() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'points_check_lot';

CREATE TRIGGER guard_journal BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.entries
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_journal();
CREATE TRIGGER guard_journal_truncate BEFORE TRUNCATE ON @extschema@.entries
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.guard_journal();
CREATE TRIGGER guard_journal BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.allocations
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_journal();
CREATE TRIGGER guard_journal_truncate BEFORE TRUNCATE ON @extschema@.allocations
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.guard_journal();

CREATE TRIGGER guard_state BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.accounts
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_state();
CREATE TRIGGER guard_state_truncate BEFORE TRUNCATE ON @extschema@.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.guard_state();
CREATE TRIGGER guard_state BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.lots
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_state();
CREATE TRIGGER guard_state_truncate BEFORE TRUNCATE ON @extschema@.lots
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.guard_state();
CREATE TRIGGER check_lot BEFORE INSERT OR UPDATE ON @extschema@.lots
    FOR EACH ROW EXECUTE FUNCTION @extschema@.check_lot();
CREATE TRIGGER guard_state BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.holds
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_state();
CREATE TRIGGER guard_state_truncate BEFORE TRUNCATE ON @extschema@.holds
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.guard_state();
CREATE TRIGGER guard_state BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.requests
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_state();
CREATE TRIGGER guard_state_truncate BEFORE TRUNCATE ON @extschema@.requests
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.guard_state();

-- Fire even under session_replication_role = replica: only an explicit
-- ALTER TABLE ... DISABLE TRIGGER by the owner or a superuser turns them off.
ALTER TABLE @extschema@.entries ENABLE ALWAYS TRIGGER guard_journal;
ALTER TABLE @extschema@.entries ENABLE ALWAYS TRIGGER guard_journal_truncate;
ALTER TABLE @extschema@.allocations ENABLE ALWAYS TRIGGER guard_journal;
ALTER TABLE @extschema@.allocations ENABLE ALWAYS TRIGGER guard_journal_truncate;
ALTER TABLE @extschema@.accounts ENABLE ALWAYS TRIGGER guard_state;
ALTER TABLE @extschema@.accounts ENABLE ALWAYS TRIGGER guard_state_truncate;
ALTER TABLE @extschema@.lots ENABLE ALWAYS TRIGGER guard_state;
ALTER TABLE @extschema@.lots ENABLE ALWAYS TRIGGER guard_state_truncate;
ALTER TABLE @extschema@.lots ENABLE ALWAYS TRIGGER check_lot;
ALTER TABLE @extschema@.holds ENABLE ALWAYS TRIGGER guard_state;
ALTER TABLE @extschema@.holds ENABLE ALWAYS TRIGGER guard_state_truncate;
ALTER TABLE @extschema@.requests ENABLE ALWAYS TRIGGER guard_state;
ALTER TABLE @extschema@.requests ENABLE ALWAYS TRIGGER guard_state_truncate;

----------------------------------------------------------------------
-- pg_dump keeps user data of extension tables only when told to.
----------------------------------------------------------------------

SELECT pg_catalog.pg_extension_config_dump('@extschema@.types', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.accounts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.accounts_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.lots', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.lots_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.entries', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.entries_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.allocations', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.holds', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.holds_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.requests', '');

----------------------------------------------------------------------
-- Functions
----------------------------------------------------------------------

CREATE FUNCTION @extschema@.from_units(units bigint, scale integer) RETURNS numeric
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'points_from_units';
COMMENT ON FUNCTION @extschema@.from_units(bigint, integer) IS 'Stored units to points: units * 10^-scale';

CREATE FUNCTION @extschema@."grant"(
    type text, customer text, amount numeric,
    reason text DEFAULT 'manual', ref text DEFAULT NULL, note text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL, available_at timestamptz DEFAULT NULL,
    pending boolean DEFAULT false, at timestamptz DEFAULT pg_catalog.now())
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_grant';
COMMENT ON FUNCTION @extschema@."grant"(text, text, numeric, text, text, text, timestamptz, timestamptz, boolean, timestamptz)
    IS 'Credit a new grant; returns its id';

CREATE FUNCTION @extschema@.consume(
    type text, customer text, amount numeric,
    ref text DEFAULT NULL, note text DEFAULT NULL,
    at timestamptz DEFAULT pg_catalog.now())
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_consume';
COMMENT ON FUNCTION @extschema@.consume(text, text, numeric, text, text, timestamptz)
    IS 'Debit points in consumption order; returns the entry id';

CREATE FUNCTION @extschema@.adjust(
    type text, customer text, delta numeric,
    note text DEFAULT NULL, ref text DEFAULT NULL,
    at timestamptz DEFAULT pg_catalog.now())
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_adjust';
COMMENT ON FUNCTION @extschema@.adjust(text, text, numeric, text, text, timestamptz)
    IS 'Manual correction: a positive delta grants, a negative one consumes; returns the entry id';

CREATE FUNCTION @extschema@.hold(
    type text, customer text, amount numeric,
    ref text DEFAULT NULL, until timestamptz DEFAULT NULL, note text DEFAULT NULL,
    at timestamptz DEFAULT pg_catalog.now())
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_hold';
COMMENT ON FUNCTION @extschema@.hold(text, text, numeric, text, timestamptz, text, timestamptz)
    IS 'Reserve points for a pending order; returns the hold id';

CREATE FUNCTION @extschema@.capture(
    hold_id bigint, amount numeric DEFAULT NULL,
    at timestamptz DEFAULT pg_catalog.now())
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_capture';
COMMENT ON FUNCTION @extschema@.capture(bigint, numeric, timestamptz)
    IS 'Spend all or part of a hold, releasing the rest; returns the capture entry id';

CREATE FUNCTION @extschema@.release(
    hold_id bigint, at timestamptz DEFAULT pg_catalog.now())
    RETURNS void
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_release';
COMMENT ON FUNCTION @extschema@.release(bigint, timestamptz)
    IS 'Give a hold''s points back to their grants';

CREATE FUNCTION @extschema@.refund(
    entry_id bigint, amount numeric DEFAULT NULL,
    ref text DEFAULT NULL, note text DEFAULT NULL,
    at timestamptz DEFAULT pg_catalog.now(), reissue boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_refund';
COMMENT ON FUNCTION @extschema@.refund(bigint, numeric, text, text, timestamptz, boolean)
    IS 'Return spent points to the grants they came from; returns the refund entry id';

CREATE FUNCTION @extschema@.revoke(
    grant_id bigint, amount numeric DEFAULT NULL, policy text DEFAULT NULL,
    ref text DEFAULT NULL, note text DEFAULT NULL,
    at timestamptz DEFAULT pg_catalog.now())
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_revoke';
COMMENT ON FUNCTION @extschema@.revoke(bigint, numeric, text, text, text, timestamptz)
    IS 'Claw back a grant (void it while pending); returns the entry id';

CREATE FUNCTION @extschema@.confirm(
    grant_id bigint, at timestamptz DEFAULT pg_catalog.now())
    RETURNS void
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_confirm';
COMMENT ON FUNCTION @extschema@.confirm(bigint, timestamptz)
    IS 'Activate a pending grant';

CREATE FUNCTION @extschema@.transfer(
    type text, from_customer text, to_customer text, amount numeric,
    ref text DEFAULT NULL, note text DEFAULT NULL,
    at timestamptz DEFAULT pg_catalog.now())
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_transfer';
COMMENT ON FUNCTION @extschema@.transfer(text, text, text, numeric, text, text, timestamptz)
    IS 'Move points between customers, keeping their expiry; returns the sender''s entry id';

CREATE FUNCTION @extschema@.balance(
    type text, customer text, at timestamptz DEFAULT pg_catalog.now())
    RETURNS numeric
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_balance';
COMMENT ON FUNCTION @extschema@.balance(text, text, timestamptz)
    IS 'Points available at a time; 0 for an unknown customer';

CREATE TYPE @extschema@.account_summary AS (
    type             text,
    customer         text,
    available        numeric,
    held             numeric,
    pending          numeric,
    debt             numeric,
    next_expiry_at   timestamptz,
    next_expiry_amount numeric,
    lifetime_earned  numeric,
    lifetime_spent   numeric,
    lifetime_expired numeric,
    tier             text
);

CREATE FUNCTION @extschema@.account(
    type text, customer text, at timestamptz DEFAULT pg_catalog.now())
    RETURNS @extschema@.account_summary
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_account';
COMMENT ON FUNCTION @extschema@.account(text, text, timestamptz)
    IS 'Every figure of one account at a time';

CREATE FUNCTION @extschema@.format(type text, amount numeric) RETURNS text
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_format';
COMMENT ON FUNCTION @extschema@.format(text, numeric)
    IS '"1 point", "25 points": an amount with the type''s names';

CREATE FUNCTION @extschema@.expire(
    at timestamptz DEFAULT pg_catalog.now(), batch integer DEFAULT 10000)
    RETURNS integer
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_expire';
COMMENT ON FUNCTION @extschema@.expire(timestamptz, integer)
    IS 'Expire up to batch due grants in this transaction; returns how many';

CREATE FUNCTION @extschema@.release_holds(
    at timestamptz DEFAULT pg_catalog.now(), batch integer DEFAULT 10000)
    RETURNS integer
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_release_holds';
COMMENT ON FUNCTION @extschema@.release_holds(timestamptz, integer)
    IS 'Release up to batch holds past their until, each as of its until; returns how many';

CREATE FUNCTION @extschema@.verify()
    RETURNS TABLE (check_name text, type text, customer text, id bigint, detail text)
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_verify';
COMMENT ON FUNCTION @extschema@.verify()
    IS 'Every violation of a ledger invariant, one row each; no rows when consistent';

----------------------------------------------------------------------
-- Readable relations, amounts in points
----------------------------------------------------------------------

CREATE VIEW @extschema@.grants AS
SELECT l.id, l.type, l.customer,
       @extschema@.from_units(l.amount, t.scale) AS amount,
       @extschema@.from_units(l.remaining, t.scale) AS remaining,
       @extschema@.from_units(l.revoked, t.scale) AS revoked,
       l.reason, l.ref,
       CASE
           WHEN l.status <> 'active' THEN l.status
           WHEN l.remaining = 0 THEN 'used'
           WHEN l.expires_at <= pg_catalog.now() THEN 'expired'
           WHEN l.available_at > pg_catalog.now() THEN 'vesting'
           ELSE 'active'
       END AS status,
       l.available_at, l.expires_at, l.at, l.note, l.recorded_at
FROM @extschema@.lots l
JOIN @extschema@.types t ON t.code = l.type;
COMMENT ON VIEW @extschema@.grants IS 'Every grant, amounts in points';

-- Available is the cached balance unless a lot expired or is still vesting
-- at now(): then the account's open lots are summed.
CREATE VIEW @extschema@.balances AS
SELECT a.type, a.customer,
       @extschema@.from_units(
           CASE WHEN a.inactive_at <= pg_catalog.now() THEN 0
                WHEN a.next_expiry_at > pg_catalog.now() AND a.vested_at <= pg_catalog.now()
                THEN a.balance + a.debt
                ELSE (SELECT coalesce(sum(l.remaining), 0)::bigint FROM @extschema@.lots l
                      WHERE l.account_id = a.id AND l.open
                      AND l.available_at <= pg_catalog.now() AND l.expires_at > pg_catalog.now())
           END, t.scale) AS available,
       @extschema@.from_units(a.held, t.scale) AS held,
       @extschema@.from_units(a.pending, t.scale) AS pending,
       @extschema@.from_units(a.debt, t.scale) AS debt,
       @extschema@.from_units(a.earned, t.scale) AS lifetime_earned,
       @extschema@.from_units(a.spent, t.scale) AS lifetime_spent,
       @extschema@.from_units(a.expired + x.unswept, t.scale) AS lifetime_expired,
       n.next_expiry_at,
       @extschema@.from_units(n.next_expiry_amount, t.scale) AS next_expiry_amount
FROM @extschema@.accounts a
JOIN @extschema@.types t ON t.code = a.type
CROSS JOIN LATERAL (
    SELECT coalesce(sum(l.remaining), 0)::bigint AS unswept
    FROM @extschema@.lots l
    WHERE l.account_id = a.id AND l.open
      AND (l.expires_at <= pg_catalog.now() OR a.inactive_at <= pg_catalog.now())
      AND (a.next_expiry_at <= pg_catalog.now() OR a.inactive_at <= pg_catalog.now())) x
LEFT JOIN LATERAL (
    SELECT l.expires_at AS next_expiry_at, sum(l.remaining)::bigint AS next_expiry_amount
    FROM @extschema@.lots l
    WHERE l.account_id = a.id AND l.open AND l.available_at <= pg_catalog.now()
      AND l.expires_at > pg_catalog.now() AND l.expires_at < 'infinity'
      AND a.inactive_at > pg_catalog.now()
    GROUP BY l.expires_at ORDER BY l.expires_at LIMIT 1) n ON true;
COMMENT ON VIEW @extschema@.balances IS 'Every account''s figures now, in points';

CREATE VIEW @extschema@.history AS
SELECT e.id, e.type, e.customer, e.kind, e.amount, e.balance_after AS balance,
       e.held, e.pending, e.debt, e.at, e.recorded_at,
       e.lot_id AS grant_id, e.hold_id, e.origin_id, e.ref, e.note, e.actor, e.meta
FROM @extschema@.entries e;
COMMENT ON VIEW @extschema@.history IS 'The journal with its running balance per account';

CREATE VIEW @extschema@.outstanding AS
SELECT b.type, b.customer, b.available, b.held, b.pending,
       b.next_expiry_at, b.next_expiry_amount
FROM @extschema@.balances b
WHERE b.available > 0 OR b.held > 0 OR b.pending > 0;
COMMENT ON VIEW @extschema@.outstanding IS 'Customers holding unused points';
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
-- in for them.  The work itself is done by expire() and release_holds(),
-- which are SECURITY DEFINER with a pinned search_path; the caller needs
-- EXECUTE on them (the admin role has it).
--
-- Every batch is one transaction of expire() (or release_holds()) followed
-- by a COMMIT: locks are held for one batch only, a crash loses at most one
-- batch, and a concurrent consume() waits for one batch at most.  Accounts
-- locked by a running operation are skipped by expire()/release_holds()
-- (SKIP LOCKED) and left to the next run.  The cutoff is the start of the
-- run: grants that fall due while it runs wait for the next one, so a run
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
BEGIN
    IF batch IS NULL THEN
        RAISE EXCEPTION 'batch must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF batch OPERATOR(pg_catalog.<=) 0 THEN
        RAISE EXCEPTION 'batch must be positive, got %', batch
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Due grants, oldest due first, one batch per transaction.
    LOOP
        done := @extschema@.expire(cutoff, batch);
        COMMIT;
        batches := batches OPERATOR(pg_catalog.+) 1;
        expired := expired OPERATOR(pg_catalog.+) done;
        EXIT WHEN done OPERATOR(pg_catalog.=) 0;
    END LOOP;

    -- Then the holds whose until has passed, each released as of its until.
    LOOP
        done := @extschema@.release_holds(cutoff, batch);
        COMMIT;
        batches := batches OPERATOR(pg_catalog.+) 1;
        released := released OPERATOR(pg_catalog.+) done;
        EXIT WHEN done OPERATOR(pg_catalog.=) 0;
    END LOOP;

    -- LOG goes to the server log (pg_cron's runs included), not to clients
    -- at the default client_min_messages; a run with nothing to do says so
    -- only at DEBUG1.
    IF expired OPERATOR(pg_catalog.>) 0 OR released OPERATOR(pg_catalog.>) 0 THEN
        RAISE LOG 'points.run_maintenance: % grants expired, % holds released in % transactions (%)',
            expired, released, batches,
            pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started;
    ELSE
        RAISE DEBUG 'points.run_maintenance: nothing due';
    END IF;
END
$$;
COMMENT ON PROCEDURE @extschema@.run_maintenance(integer)
    IS 'Expire due grants, then release timed-out holds, in batches with a COMMIT after each';

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
        RAISE EXCEPTION 'pg_cron is in database "%", not in "%"', target.cron_db, current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Run in database %I: %s; or CREATE EXTENSION dblink in this database '
                                'and call points.schedule() again.', target.cron_db, remote);
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
                  HINT = format('Run in database %I: %s', target.cron_db, remote);
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
        RAISE EXCEPTION 'pg_cron is in database "%", not in "%"', target.cron_db, current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Run in database %I: %s; or CREATE EXTENSION dblink in this database '
                                'and call points.unschedule() again.', target.cron_db, remote);
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
                  HINT = format('Run in database %I: %s', target.cron_db, remote);
    END;
    RETURN found_;
END
$$;
COMMENT ON FUNCTION @extschema@.unschedule()
    IS 'Remove this database''s run_maintenance job from pg_cron; false when there was none';
-- points install script, part 50: reports.
-- src/sql/*.sql are concatenated in name order into points--VERSION.sql.
\echo Use "CREATE EXTENSION points" to load this file. \quit

----------------------------------------------------------------------
-- Indexes the reports need
----------------------------------------------------------------------

-- points.history exposes the journal by type, customer and time, not by
-- account_id: filters on customer (alone or with type) and a time range,
-- and statement(), read this index; a time range alone reads entries_at.
-- Customer first, so that one customer's history across all types is one
-- index range too.
CREATE INDEX entries_customer ON @extschema@.entries (customer, type, at, id);

----------------------------------------------------------------------
-- statement(type, customer, from, to)
----------------------------------------------------------------------

-- One customer's statement for the period ["from", "to"): an opening row
-- (line 0), every entry whose business time falls in the period, in
-- business-time order (at, then entry id) with its running figures, and a
-- closing row.  The figures are those of the journal: balance is the
-- points on the account (vesting points included, held points not, debt
-- subtracted), held the points reserved by open holds, pending the points
-- of grants awaiting confirm().  Each row's balance is the opening balance
-- plus the amounts of the rows up to it, so opening + sum(amount) =
-- closing whatever order the entries were recorded in (points.history
-- shows balance_after in recording order instead).
--
-- A grant that has expired by now() but that the expiry sweep has not yet
-- recorded shows as an expire row with no entry_id, at its expires_at: the
-- row the sweep will write.  A statement is the same before and after the
-- sweep, as balances are.
--
-- Cost: the rows of the period come from entries_customer; the opening
-- figures are the account's cached ones minus what the journal recorded
-- from "from" on, so a recent period costs the same however long the
-- history before it.
CREATE FUNCTION @extschema@.statement(
    type text, customer text,
    "from" timestamptz DEFAULT '-infinity', "to" timestamptz DEFAULT pg_catalog.now())
    RETURNS TABLE (line integer, at timestamptz, kind text, amount numeric,
                   balance numeric, held numeric, pending numeric,
                   entry_id bigint, grant_id bigint, hold_id bigint,
                   ref text, note text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    t       text := statement.type;
    c       text := statement.customer;
    t_from  timestamptz := statement."from";
    t_to    timestamptz := statement."to";
    cutoff  timestamptz := now();
    sc      integer;
    acct    bigint;
    o_bal   numeric := 0;
    o_held  numeric := 0;
    o_pend  numeric := 0;
BEGIN
    IF t IS NULL OR c IS NULL OR t_from IS NULL OR t_to IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
                CASE WHEN t IS NULL THEN 'type' WHEN c IS NULL THEN 'customer'
                     WHEN t_from IS NULL THEN 'from' ELSE 'to' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT ty.scale INTO sc FROM @extschema@.types ty WHERE ty.code = t;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'point type "%" does not exist', t
            USING ERRCODE = 'undefined_object', HINT = 'Point types are rows of points.types.';
    END IF;
    IF t_from > t_to THEN
        RAISE EXCEPTION 'from % is after to %', t_from, t_to
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Opening figures: the account's whole journal (its cached figures),
    -- plus the expiries not yet swept before "from", minus the journal
    -- from "from" on.  An unknown customer has none: all zero.
    SELECT a.id,
           @extschema@.from_units(a.balance, sc),
           @extschema@.from_units(a.held, sc),
           @extschema@.from_units(a.pending, sc)
      INTO acct, o_bal, o_held, o_pend
      FROM @extschema@.accounts a
     WHERE a.type = t AND a.customer = c;
    IF NOT FOUND THEN
        o_bal := 0; o_held := 0; o_pend := 0;
    END IF;
    SELECT o_bal - coalesce(sum(e.amount), 0),
           o_held - coalesce(sum(e.held), 0),
           o_pend - coalesce(sum(e.pending), 0)
      INTO o_bal, o_held, o_pend
      FROM @extschema@.entries e
     WHERE e.customer = c AND e.type = t AND e.at >= t_from;
    SELECT o_bal - @extschema@.from_units(coalesce(sum(l.remaining), 0)::bigint, sc)
      INTO o_bal
      FROM @extschema@.lots l
     WHERE l.account_id = acct AND l.open
       AND l.expires_at <= cutoff AND l.expires_at < t_from;

    RETURN QUERY
    WITH period AS (
        SELECT e.at, e.kind, e.amount, e.held, e.pending, e.id AS entry_id,
               e.lot_id AS grant_id, e.hold_id, e.ref, e.note
          FROM @extschema@.entries e
         WHERE e.customer = c AND e.type = t AND e.at >= t_from AND e.at < t_to
        UNION ALL
        -- expiries the sweep has not recorded yet
        SELECT l.expires_at, 'expire', -@extschema@.from_units(l.remaining, sc), 0, 0,
               NULL, l.id, NULL, NULL, NULL
          FROM @extschema@.lots l
         WHERE l.account_id = acct AND l.open
           AND l.expires_at <= cutoff AND l.expires_at >= t_from AND l.expires_at < t_to
    ), running AS (
        SELECT (row_number() OVER w)::integer AS line, p.at, p.kind, p.amount,
               o_bal + sum(p.amount) OVER w AS balance,
               o_held + sum(p.held) OVER w AS held,
               o_pend + sum(p.pending) OVER w AS pending,
               p.entry_id, p.grant_id, p.hold_id, p.ref, p.note
          FROM period p
        WINDOW w AS (ORDER BY p.at, p.entry_id NULLS LAST, p.grant_id
                     ROWS UNBOUNDED PRECEDING)
    )
    SELECT 0, t_from, 'opening'::text, NULL::numeric, o_bal, o_held, o_pend,
           NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::text
    UNION ALL
    SELECT r.line, r.at, r.kind, r.amount, r.balance, r.held, r.pending,
           r.entry_id, r.grant_id, r.hold_id, r.ref, r.note
      FROM running r
    UNION ALL
    SELECT (SELECT count(*) FROM period)::integer + 1, t_to, 'closing', NULL,
           o_bal + (SELECT coalesce(sum(p.amount), 0) FROM period p),
           o_held + (SELECT coalesce(sum(p.held), 0) FROM period p),
           o_pend + (SELECT coalesce(sum(p.pending), 0) FROM period p),
           NULL, NULL, NULL, NULL, NULL
    ORDER BY 1;
END
$$;
COMMENT ON FUNCTION @extschema@.statement(text, text, timestamptz, timestamptz)
    IS 'A customer''s statement for [from, to): opening balance, each entry with running balance, closing balance';

----------------------------------------------------------------------
-- expiring(type, within, at)
----------------------------------------------------------------------

-- The grants of a type with points left that expire in (at, at + within],
-- soonest first: the list behind "your points expire soon" e-mails.  at
-- defaults to now(); pass it to ask about another time.  remaining is what
-- is left of the grant now (points held by an open hold are not in it).
-- Reads lots_due: an index range of the window.
CREATE FUNCTION @extschema@.expiring(
    type text, within interval, at timestamptz DEFAULT pg_catalog.now())
    RETURNS TABLE (customer text, grant_id bigint, remaining numeric,
                   expires_at timestamptz, amount numeric, reason text,
                   granted_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    t   text := expiring.type;
    w   interval := expiring.within;
    t0  timestamptz := expiring.at;
    sc  integer;
BEGIN
    IF t IS NULL OR w IS NULL OR t0 IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
                CASE WHEN t IS NULL THEN 'type' WHEN w IS NULL THEN 'within' ELSE 'at' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT ty.scale INTO sc FROM @extschema@.types ty WHERE ty.code = t;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'point type "%" does not exist', t
            USING ERRCODE = 'undefined_object', HINT = 'Point types are rows of points.types.';
    END IF;
    IF NOT isfinite(t0) THEN
        RAISE EXCEPTION 'at must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT (t0 + w > t0) THEN
        RAISE EXCEPTION 'within must be a positive interval, got %', w
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN QUERY
    SELECT l.customer, l.id, @extschema@.from_units(l.remaining, sc), l.expires_at,
           @extschema@.from_units(l.amount, sc), l.reason, l.at
      FROM @extschema@.lots l
     WHERE l.open AND l.expires_at > t0 AND l.expires_at <= t0 + w AND l.type = t
     ORDER BY l.expires_at, l.id;
END
$$;
COMMENT ON FUNCTION @extschema@.expiring(text, interval, timestamptz)
    IS 'Grants with points left that expire within the window after at (default now()), soonest first';

----------------------------------------------------------------------
-- liability: per type, what the points outstanding are worth
----------------------------------------------------------------------

-- One row per point type, as of now():
--   customers    customers with points outstanding
--   available    points customers can spend now (points.balances)
--   held         points reserved by open holds: still owed until captured
--   outstanding  available + held: the points the merchant owes
--   value        their money value at the type's redemption rate
--                (redeem_value per redeem_points), each customer's floored
--                to cents, then summed; NULL when the type has no rate
--   pending      points of grants awaiting confirm(): not owed yet
--   issued       lifetime points earned (grants, positive adjustments,
--                confirmed pending grants; transfers between customers and
--                refunds are not new points)
--   redeemed     lifetime points spent (consumed, captured, redeemed, net
--                of refunds)
--   expired      lifetime points expired, including grants due but not yet
--                swept
--   breakage     expired / issued, to 4 places: the share of the points
--                issued that lapsed unused (NULL before any are issued)
-- Points still vesting (available_at in the future) count in none of
-- available, held or pending; revoked points count in issued only.
CREATE VIEW @extschema@.liability AS
SELECT t.code AS type, t.currency,
       count(b.customer) FILTER (WHERE b.available + b.held > 0) AS customers,
       coalesce(sum(b.available), 0) AS available,
       coalesce(sum(b.held), 0) AS held,
       coalesce(sum(b.available + b.held), 0) AS outstanding,
       CASE WHEN t.redeem_points IS NOT NULL AND t.redeem_value IS NOT NULL THEN
           coalesce(sum(trunc((b.available + b.held) * t.redeem_value / t.redeem_points, 2)), 0)
       END AS value,
       coalesce(sum(b.pending), 0) AS pending,
       coalesce(sum(b.lifetime_earned), 0) AS issued,
       coalesce(sum(b.lifetime_spent), 0) AS redeemed,
       coalesce(sum(b.lifetime_expired), 0) AS expired,
       round(sum(b.lifetime_expired) / nullif(sum(b.lifetime_earned), 0), 4) AS breakage
FROM @extschema@.types t
LEFT JOIN @extschema@.balances b ON b.type = t.code
GROUP BY t.code, t.currency, t.redeem_points, t.redeem_value;
COMMENT ON VIEW @extschema@.liability
    IS 'Per point type: customers and points outstanding, their money value, issued, redeemed, expired, breakage';
-- points install script, part 90: privileges, after every object exists.

----------------------------------------------------------------------
-- Privileges: nothing that changes the ledger is executable by PUBLIC.
----------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
-- Pure arithmetic on its arguments: harmless, and the views need it.
GRANT EXECUTE ON FUNCTION @extschema@.from_units(bigint, integer) TO PUBLIC;
