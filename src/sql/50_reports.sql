-- points install script, part 50: reports.
-- src/sql/*.sql are concatenated in name order into points--VERSION.sql.
\echo Use "CREATE EXTENSION points" to load this file. \quit

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
-- A grant that has lapsed by now() (past its expires_at, or its account
-- idle past the type's inactivity) but that the expiry sweep has not yet
-- recorded shows as an expire row with no entry_id, at the time it lapsed:
-- the row the sweep will write (grants that lapse at the same instant
-- share it).  A statement is the same before and after the sweep, as
-- balances are.
--
-- Cost: the rows of the period come from entries_account; the opening
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
    idle_at timestamptz;
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
    SELECT a.id, a.inactive_at,
           @extschema@.from_units(a.balance, sc),
           @extschema@.from_units(a.held, sc),
           @extschema@.from_units(a.pending, sc)
      INTO acct, idle_at, o_bal, o_held, o_pend
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
     WHERE e.account_id = acct AND e.at >= t_from;
    SELECT o_bal - @extschema@.from_units(coalesce(sum(l.remaining), 0)::bigint, sc)
      INTO o_bal
      FROM @extschema@.lots l
     WHERE l.account_id = acct AND l.open
       AND least(l.expires_at, idle_at) <= cutoff AND least(l.expires_at, idle_at) < t_from;

    RETURN QUERY
    WITH period AS (
        SELECT e.at, e.kind, e.amount, e.held, e.pending, e.id AS entry_id,
               e.lot_id AS grant_id, e.hold_id, e.ref, e.note
          FROM @extschema@.entries e
         WHERE e.account_id = acct AND e.at >= t_from AND e.at < t_to
        UNION ALL
        -- expiries the sweep has not recorded yet, as it will: one row per
        -- instant (and cause) at which grants lapse
        SELECT least(l.expires_at, idle_at), 'expire',
               -@extschema@.from_units(sum(l.remaining)::bigint, sc),
               0, 0, NULL, CASE WHEN count(*) = 1 THEN min(l.id) END, NULL, NULL,
               CASE WHEN l.expires_at > idle_at THEN 'inactivity' END
          FROM @extschema@.lots l
         WHERE l.account_id = acct AND l.open
           AND least(l.expires_at, idle_at) <= cutoff
           AND least(l.expires_at, idle_at) >= t_from AND least(l.expires_at, idle_at) < t_to
         GROUP BY least(l.expires_at, idle_at), l.expires_at > idle_at
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

-- The grants of a type with points left that lapse in (at, at + within],
-- soonest first: the list behind "your points expire soon" e-mails.  A
-- grant lapses at its expires_at, or earlier when the type has an
-- inactivity policy and the account stays idle until then (cause
-- 'inactivity'; any activity moves that date).  at defaults to now();
-- pass it to ask about another time.  remaining is what is left of the
-- grant now (points reserved by an open hold are not in it).  Reads
-- lots_due and accounts_inactive: index ranges of the window.
CREATE FUNCTION @extschema@.expiring(
    type text, within interval, at timestamptz DEFAULT pg_catalog.now())
    RETURNS TABLE (customer text, grant_id bigint, remaining numeric,
                   expires_at timestamptz, cause text, amount numeric,
                   reason text, granted_at timestamptz)
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
    WITH candidate AS (
        SELECT l.id FROM @extschema@.lots l
         WHERE l.open AND l.expires_at > t0 AND l.expires_at <= t0 + w AND l.type = t
        UNION
        SELECT l.id FROM @extschema@.accounts a
          JOIN @extschema@.lots l ON l.account_id = a.id AND l.open
         WHERE a.inactive_at > t0 AND a.inactive_at <= t0 + w AND a.type = t
    )
    SELECT l.customer, l.id, @extschema@.from_units(l.remaining, sc),
           least(l.expires_at, a.inactive_at),
           CASE WHEN a.inactive_at < l.expires_at THEN 'inactivity' ELSE 'expiry' END,
           @extschema@.from_units(l.amount, sc), l.reason, l.at
      FROM candidate
      JOIN @extschema@.lots l ON l.id = candidate.id
      JOIN @extschema@.accounts a ON a.id = l.account_id
     WHERE least(l.expires_at, a.inactive_at) > t0
       AND least(l.expires_at, a.inactive_at) <= t0 + w
     ORDER BY 4, l.id;
END
$$;
COMMENT ON FUNCTION @extschema@.expiring(text, interval, timestamptz)
    IS 'Grants with points left that lapse within the window after at (default now()), soonest first';

----------------------------------------------------------------------
-- liability: per type, what the points outstanding are worth
----------------------------------------------------------------------

-- One row per point type, as of now():
--   customers    customers with points outstanding
--   available    points customers can spend now (points.balances)
--   held         points reserved by open holds: still owed until captured
--   outstanding  available + held: the points the merchant owes
--   value        their money value at the type's redemption rate,
--                points.value(type, outstanding): floored once, to the
--                currency's minor unit; NULL when the type has no rate
--                (querying the view needs EXECUTE on points.value)
--   pending      points of grants awaiting confirm() or still vesting
--                (points.balances): not spendable yet, not counted as owed
--   issued       lifetime points earned (grants, positive adjustments,
--                confirmed pending grants; transfers between customers and
--                refunds are not new points)
--   redeemed     lifetime points spent (consumed, captured, redeemed, net
--                of refunds)
--   expired      lifetime points expired, including grants due but not yet
--                swept
--   breakage     expired / issued, to 4 places: the share of the points
--                issued that lapsed unused (NULL before any are issued)
-- Revoked points count in issued only, so issued - redeemed - expired is
-- not outstanding in general.
CREATE VIEW @extschema@.liability AS
SELECT t.code AS type, t.currency,
       count(b.customer) FILTER (WHERE b.available + b.held > 0) AS customers,
       coalesce(sum(b.available), 0) AS available,
       coalesce(sum(b.held), 0) AS held,
       coalesce(sum(b.available + b.held), 0) AS outstanding,
       CASE WHEN t.redeem_points IS NOT NULL AND t.redeem_value IS NOT NULL THEN
           @extschema@.value(t.code, coalesce(sum(b.available + b.held), 0))
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
