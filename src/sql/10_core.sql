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
    LANGUAGE c SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_check_type';
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
    -- customer first: every operation looks its account up by both, and a
    -- customer's accounts of every type (points.history by customer) are
    -- one range of it
    UNIQUE (customer, type)
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
    forgiven     bigint NOT NULL DEFAULT 0,
    fixed_expiry boolean NOT NULL DEFAULT false,
    validity     interval,     -- for a pending grant: the validity its confirmation starts
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
-- An account's lots: debits walk its open ones (account_id, true) in the
-- expiry order, however many closed ones its history holds; listings and
-- past balances read them all.  One index for both, so that a grant
-- updates one index fewer.
CREATE INDEX lots_account ON @extschema@.lots (account_id, open, expires_at, at, id);
-- The expiry sweep finds due lots across accounts.
CREATE INDEX lots_due ON @extschema@.lots (expires_at, id) WHERE open;

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
-- Reports over a period (a time range alone).  BRIN: entries are appended
-- in about the order of their business time, so block ranges summarize
-- them well, and an append costs no B-tree descent (the journal is the
-- table every operation writes).
CREATE INDEX entries_at ON @extschema@.entries USING brin (at);
-- An account's journal in business-time order: its history and statement,
-- and rolling-period tiers.  Keyed by account_id, not by (customer, type):
-- every operation adds an entry at a random place of this index, and a key
-- of three 8-byte columns is half as wide (more entries per page, fewer
-- page splits) and compares without collation.  Filters on customer reach
-- it through points.history, which takes type and customer from accounts.
CREATE INDEX entries_account ON @extschema@.entries (account_id, at, id);
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

-- grant(), consume() and transfer() have no SET clause, as balance(),
-- account() and quote(): on their common path (no ref, an account that
-- exists, ledger tables without columns of a DBA's own) they run no
-- statement, and they pin search_path = pg_catalog, pg_temp in C around
-- those they do run (src/ledger.c; once for the whole call when it has a
-- ref).  The clause cost about 4 % of a grant or a consume at 8 clients:
-- a GUC save, parse and restore at every call, and a search-path lookup
-- for the caller's next statement.  The functions that run statements at
-- every call keep it.
CREATE FUNCTION @extschema@."grant"(
    type text, customer text, amount numeric,
    reason text DEFAULT 'manual', ref text DEFAULT NULL, note text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL, available_at timestamptz DEFAULT NULL,
    pending boolean DEFAULT false, at timestamptz DEFAULT pg_catalog.now())
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    AS 'MODULE_PATHNAME', 'points_grant';
COMMENT ON FUNCTION @extschema@."grant"(text, text, numeric, text, text, text, timestamptz, timestamptz, boolean, timestamptz)
    IS 'Credit a new grant; returns its id';

CREATE FUNCTION @extschema@.consume(
    type text, customer text, amount numeric,
    ref text DEFAULT NULL, note text DEFAULT NULL,
    at timestamptz DEFAULT pg_catalog.now())
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
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
    AS 'MODULE_PATHNAME', 'points_transfer';
COMMENT ON FUNCTION @extschema@.transfer(text, text, text, numeric, text, text, timestamptz)
    IS 'Move points between customers, keeping their expiry; returns the sender''s entry id';

-- No SET clause: it runs no statement on its common path, and pins
-- search_path in C around each one it does run (src/ledger.c).
CREATE FUNCTION @extschema@.balance(
    type text, customer text, at timestamptz DEFAULT pg_catalog.now())
    RETURNS numeric
    LANGUAGE c STABLE SECURITY DEFINER
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

-- No SET clause: it runs no statement on its common path, and pins
-- search_path in C around each one it does run (src/ledger.c).
CREATE FUNCTION @extschema@.account(
    type text, customer text, at timestamptz DEFAULT pg_catalog.now())
    RETURNS @extschema@.account_summary
    LANGUAGE c STABLE SECURITY DEFINER
    AS 'MODULE_PATHNAME', 'points_account';
COMMENT ON FUNCTION @extschema@.account(text, text, timestamptz)
    IS 'Every figure of one account at a time';

CREATE FUNCTION @extschema@.format(type text, amount numeric) RETURNS text
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_format';
COMMENT ON FUNCTION @extschema@.format(text, numeric)
    IS '"1 point", "25 points": an amount with the type''s names';

-- The sweep's functions run without JIT.  Their queries of due rows
-- take LIMIT batch, which a generic plan costs as a tenth of the candidate
-- rows: over a few hundred thousand open grants that passes
-- jit_above_cost, and every batch compiled its query again (7% of a sweep
-- of a million grants) to fetch ten thousand rows by index.
CREATE FUNCTION @extschema@.expire(
    at timestamptz DEFAULT pg_catalog.now(), batch integer DEFAULT 10000)
    RETURNS integer
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    AS 'MODULE_PATHNAME', 'points_expire';
COMMENT ON FUNCTION @extschema@.expire(timestamptz, integer)
    IS 'Expire up to batch due grants in this transaction; returns how many';

-- A batch of run_maintenance(): expire(), walking the due grants from where
-- the run's batch before it ended (from the start when NULL) rather than
-- walking again the index entries of the grants the batches before it
-- expired.  Returns where the next batch starts.
CREATE FUNCTION @extschema@.expire_batch(
    at timestamptz, batch integer,
    from_expires_at timestamptz DEFAULT NULL, from_id bigint DEFAULT NULL,
    OUT expired integer, OUT next_expires_at timestamptz, OUT next_id bigint)
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    AS 'MODULE_PATHNAME', 'points_expire_batch';
COMMENT ON FUNCTION @extschema@.expire_batch(timestamptz, integer, timestamptz, bigint)
    IS 'A batch of run_maintenance(): expire() from where its batch before ended';

CREATE FUNCTION @extschema@.release_holds(
    at timestamptz DEFAULT pg_catalog.now(), batch integer DEFAULT 10000)
    RETURNS integer
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
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
           -- lapsed with points left, swept (an expire entry took them) or not
           WHEN (l.expires_at <= pg_catalog.now() OR a.inactive_at <= pg_catalog.now())
                AND (l.remaining > 0 OR EXISTS (
                    SELECT 1 FROM @extschema@.allocations x
                    JOIN @extschema@.entries e ON e.id = x.entry_id
                    WHERE x.lot_id = l.id AND e.kind = 'expire'))
               THEN 'expired'
           WHEN l.remaining = 0 THEN 'used'
           WHEN l.available_at > pg_catalog.now() THEN 'vesting'
           ELSE 'active'
       END AS status,
       l.available_at, l.expires_at, l.at, l.note, l.recorded_at
FROM @extschema@.lots l
JOIN @extschema@.types t ON t.code = l.type
JOIN @extschema@.accounts a ON a.id = l.account_id;
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
       @extschema@.from_units(a.pending + v.vesting, t.scale) AS pending,
       @extschema@.from_units(a.debt, t.scale) AS debt,
       @extschema@.from_units(a.earned, t.scale) AS lifetime_earned,
       @extschema@.from_units(a.spent, t.scale) AS lifetime_spent,
       @extschema@.from_units(a.expired + x.unswept, t.scale) AS lifetime_expired,
       n.next_expiry_at,
       @extschema@.from_units(n.next_expiry_amount, t.scale) AS next_expiry_amount
FROM @extschema@.accounts a
JOIN @extschema@.types t ON t.code = a.type
-- points still vesting count as pending: on their way, not yet spendable
CROSS JOIN LATERAL (
    SELECT coalesce(sum(l.remaining), 0)::bigint AS vesting
    FROM @extschema@.lots l
    WHERE l.account_id = a.id AND l.open AND l.available_at > pg_catalog.now()
      AND l.expires_at > pg_catalog.now() AND a.vested_at > pg_catalog.now()
      AND a.inactive_at > pg_catalog.now()) v
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
SELECT e.id, a.type, a.customer, e.kind, e.amount, e.balance_after AS balance,
       e.held, e.pending, e.debt, e.at, e.recorded_at,
       e.lot_id AS grant_id, e.hold_id, e.origin_id, e.ref, e.note, e.actor, e.meta
FROM @extschema@.entries e
JOIN @extschema@.accounts a ON a.id = e.account_id;
COMMENT ON VIEW @extschema@.history IS 'The journal with its running balance per account';

CREATE VIEW @extschema@.outstanding AS
SELECT b.type, b.customer, b.available, b.held, b.pending,
       b.next_expiry_at, b.next_expiry_amount
FROM @extschema@.balances b
WHERE b.available > 0 OR b.held > 0 OR b.pending > 0;
COMMENT ON VIEW @extschema@.outstanding IS 'Customers holding unused points';
