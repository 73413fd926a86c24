-- points install script, part 30: earning by rules, tiers, redemption,
-- the rewards catalogue and volume prices (src/earn.c, src/redeem.c,
-- src/money.c, src/settings.c).
\echo Use "CREATE EXTENSION points" to load this file. \quit

/*
 * Design decisions
 * ================
 *
 * earn(type, customer, event, amount, ref, at, pending, exclude, note)
 *   - Applies every enabled rule of (type, event) that is in force at `at`
 *     (starts_at <= at < ends_at), whose tier is NULL or the customer's tier
 *     at `at` (before this award), and whose cap (`per`) is not reached.
 *   - The awards of all those rules are SUMMED INTO ONE GRANT (reason: the
 *     event), so the app gets one id to confirm or claw back; what each rule
 *     awarded, with the rate in force, is a row of points.earnings.  Rules
 *     that award 0 leave no row and do not use up their cap.  The grant
 *     vests after the longest delay of the rules that awarded, is pending
 *     when the `pending` argument says so (NULL: when any of those rules
 *     is pending), and expires at the latest expiry those rules give (each
 *     rule's validity, NULL meaning the type's, counted from the vesting
 *     time).  Give the rules of one event the same timing to keep it simple.
 *   - A rule with `spend` is a ratio: floor(eligible x points / spend x
 *     multiplier) in the type's scale: one floor per rule, exact numeric.
 *     eligible = amount - exclude: `exclude` is the part of the pre-tax
 *     amount that earns nothing (gift cards, excluded products), summed by
 *     the app.  multiplier = the tier's multiplier x the customer's personal
 *     multiplier (points.customers); it applies to ratio rules only.
 *   - A rule without `spend` is a fixed award of `points` (signup,
 *     birthday, review, daily check-in, follow, any app event).
 *   - min_amount: below it (on the eligible amount) the rule awards nothing;
 *     a fixed award with a min_amount ("100 bonus points on orders of 50 or
 *     more") needs the amount.  max_points caps one award of the rule.
 *   - per: at most one award of the rule per customer per period: ever, or
 *     the calendar day/week (ISO, from Monday)/month/year containing `at`
 *     in the type's time zone.  earn() locks the account before it checks
 *     the cap, so concurrent earns of one customer cannot both award.  An
 *     award counts even when it was later revoked or voided.
 *   - The rate is recorded when earn() runs: confirming a pending grant
 *     later activates exactly the points recorded, whatever the rules say
 *     by then.  Limitation: confirm() recomputes the expiry of a pending
 *     grant from the type's validity only; a grant whose rule has its own
 *     validity keeps the expiry computed at earn time.
 *   - A disabled type earns nothing: earn() returns NULL and records
 *     nothing (not even the ref), so admin grants are the only way to credit
 *     it.  So does an event without rules.  A ratio rule without an amount
 *     is 22004.  Idempotent by ref (operation 'earn').
 *
 * clawback(grant_id, refunded, ref, note, at, policy)
 *   - For an order that was refunded: `refunded` is the part of the
 *     eligible amount given back (cumulative over calls; NULL: everything).
 *     Each rule that awarded the grant is applied again, at its recorded
 *     rate and multiplier, to the eligible amount left; the grant is
 *     revoked (points.revoke(), under `policy` or the type's) by the
 *     difference less what was already revoked from it (manual revokes
 *     count).  A full refund revokes all that is left.  A pending grant
 *     can only be voided whole (PT004 otherwise).  Returns the revoke
 *     entry, NULL when nothing more is due.  Idempotent by ref ('clawback').
 *
 * Tiers
 *   - A customer's tier is the one with the highest qualify_points reached:
 *     lifetime earned points (accounts.earned: grants, confirmed grants,
 *     positive adjustments) for a tier without period, or the points those
 *     entries earned in (at - period, at] for one with a period.  Revoked
 *     points do not demote.  points.customers pins a tier (until tier_until)
 *     and sets a personal multiplier (0 earns nothing by ratio rules).
 *     account() shows the tier; tier() returns it.
 *
 * value(type, points): floor(points x redeem_value / redeem_points) to the
 *   currency's minor unit (ISO 4217: 2 decimals by default, 0 for JPY, KRW,
 *   VND, CLP, ISK, ..., 3 for BHD, KWD, OMR, JOD, TND, ...).  No rate: 22023.
 *
 * quote(type, customer, subtotal, tax, want, at) -> (points, discount)
 *   - points <= min(available at `at`, want, max_redeem_points); discount
 *     <= subtotal, + tax only when the type is tax_payable; of the points
 *     that give the largest discount the fewest are quoted, so discount =
 *     value(points) exactly and no point is spent that buys nothing.
 *     Fewer points than min_redeem_points (a minimum per redemption, so
 *     also a minimum balance): (0, 0).  A disabled type: (0, 0).  The app
 *     then hold()s exactly those points.
 *
 * Rewards: redeem(type, customer, reward, ref, at, note)
 *   - Spends the reward's cost in consumption order (entry kind 'redeem'),
 *     takes one unit of stock and issues a code of 16 characters of
 *     Crockford base32 from 80 strongly random bits (pg_strong_random),
 *     unique.  Returns the points.redemptions row.
 *   - Lock order: the account, then the reward row (FOR NO KEY UPDATE):
 *     concurrent redemptions of the last unit serialize and only one gets
 *     it.  per_customer counts the customer's redemptions not cancelled.
 *   - Errors: PT002 disabled type; 42704 unknown reward; PT004 disabled
 *     reward, out of stock, or per-customer limit reached (a wrong state of
 *     the reward, not of the customer's balance); PT001 too few points.
 *   - cancel_redemption(id, note, at) gives the points back to the grants
 *     they came from (a refund entry; points of grants expired meanwhile
 *     expire at once) and the unit back to the stock.  Cancelling twice is
 *     a no-op.
 *
 * price(type, quantity, currency): unit price of the highest tier whose
 *   min_quantity <= quantity, x quantity, rounded half up to the currency's
 *   minor unit.  currency NULL: the type's (22023 when it has none).  No
 *   prices in that currency: 42704.  Below the smallest tier: 22023.
 *
 * Settings are validated by C triggers (22023; unknown type 42704).
 * points.earnings and points.redemptions are ledger tables: written only by
 * these functions (guard_state), kept by pg_dump.
 */

----------------------------------------------------------------------
-- Configuration
----------------------------------------------------------------------

CREATE TABLE @extschema@.tiers (
    type           text NOT NULL REFERENCES @extschema@.types (code)
                   ON UPDATE RESTRICT ON DELETE RESTRICT,
    code           text NOT NULL,
    name           text NOT NULL,
    qualify_points numeric NOT NULL DEFAULT 0,
    period         interval,
    multiplier     numeric NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (type, code)
);
COMMENT ON TABLE @extschema@.tiers IS 'Membership tiers: reached by points earned (lifetime, or within period), each with an earn multiplier';
-- Whether a type has tiers is cached with the type (src/typecache.c), so
-- that a type without tiers runs no tier query: a change of the tiers
-- invalidates the cache as a change of the types does.
CREATE TRIGGER tiers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.tiers
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.types_changed();

-- Per-customer settings: a pinned tier and a personal multiplier.
CREATE TABLE @extschema@.customers (
    type        text NOT NULL REFERENCES @extschema@.types (code)
                ON UPDATE RESTRICT ON DELETE RESTRICT,
    customer    text NOT NULL,
    tier        text,
    tier_until  timestamptz,
    multiplier  numeric NOT NULL DEFAULT 1,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (type, customer),
    FOREIGN KEY (type, tier) REFERENCES @extschema@.tiers (type, code)
        ON UPDATE CASCADE ON DELETE RESTRICT
);
COMMENT ON TABLE @extschema@.customers IS 'Per-customer settings: tier pinned until tier_until (NULL: until unpinned), personal earn multiplier';
-- Whether a type has customer settings is cached with the type, as tiers are.
CREATE TRIGGER customers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.customers
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.types_changed();

CREATE TABLE @extschema@.earn_rules (
    id          bigserial PRIMARY KEY,
    type        text NOT NULL REFERENCES @extschema@.types (code)
                ON UPDATE RESTRICT ON DELETE RESTRICT,
    event       text NOT NULL,
    name        text,
    points      numeric NOT NULL,
    spend       numeric,
    min_amount  numeric,
    max_points  numeric,
    tier        text,
    per         text,
    validity    interval,
    delay       interval,
    pending     boolean NOT NULL DEFAULT false,
    starts_at   timestamptz,
    ends_at     timestamptz,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    FOREIGN KEY (type, tier) REFERENCES @extschema@.tiers (type, code)
        ON UPDATE CASCADE ON DELETE RESTRICT
);
COMMENT ON TABLE @extschema@.earn_rules IS 'How events earn points: fixed awards (spend NULL) or points per spend, with caps, tiers, validity, delay and pending';
CREATE INDEX earn_rules_event ON @extschema@.earn_rules (type, event) WHERE enabled;
-- The events with an enabled rule are cached with the type, as tiers are.
CREATE TRIGGER earn_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.earn_rules
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.types_changed();

CREATE TABLE @extschema@.rewards (
    type         text NOT NULL REFERENCES @extschema@.types (code)
                 ON UPDATE RESTRICT ON DELETE RESTRICT,
    code         text NOT NULL,
    name         text NOT NULL,
    kind         text NOT NULL,
    cost         numeric NOT NULL,
    value        numeric,
    stock        integer,
    per_customer integer,
    description  text,
    enabled      boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (type, code)
);
COMMENT ON TABLE @extschema@.rewards IS 'The rewards catalogue: what a fixed cost in points buys; stock and per_customer NULL: unlimited';

CREATE TABLE @extschema@.prices (
    type         text NOT NULL REFERENCES @extschema@.types (code)
                 ON UPDATE RESTRICT ON DELETE RESTRICT,
    currency     text NOT NULL,
    min_quantity numeric NOT NULL,
    unit_price   numeric NOT NULL,
    PRIMARY KEY (type, currency, min_quantity)
);
COMMENT ON TABLE @extschema@.prices IS 'Volume prices of points sold: the unit price of the highest min_quantity reached';

CREATE FUNCTION @extschema@.check_earn_rule() RETURNS trigger
    LANGUAGE c SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_check_earn_rule';
CREATE FUNCTION @extschema@.check_tier() RETURNS trigger
    LANGUAGE c SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_check_tier';
CREATE FUNCTION @extschema@.check_customer() RETURNS trigger
    LANGUAGE c SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_check_customer';
CREATE FUNCTION @extschema@.check_reward() RETURNS trigger
    LANGUAGE c SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_check_reward';
CREATE FUNCTION @extschema@.check_price() RETURNS trigger
    LANGUAGE c SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_check_price';

CREATE TRIGGER check_earn_rule BEFORE INSERT OR UPDATE ON @extschema@.earn_rules
    FOR EACH ROW EXECUTE FUNCTION @extschema@.check_earn_rule();
CREATE TRIGGER check_tier BEFORE INSERT OR UPDATE ON @extschema@.tiers
    FOR EACH ROW EXECUTE FUNCTION @extschema@.check_tier();
CREATE TRIGGER check_customer BEFORE INSERT OR UPDATE ON @extschema@.customers
    FOR EACH ROW EXECUTE FUNCTION @extschema@.check_customer();
CREATE TRIGGER check_reward BEFORE INSERT OR UPDATE ON @extschema@.rewards
    FOR EACH ROW EXECUTE FUNCTION @extschema@.check_reward();
CREATE TRIGGER check_price BEFORE INSERT OR UPDATE ON @extschema@.prices
    FOR EACH ROW EXECUTE FUNCTION @extschema@.check_price();

----------------------------------------------------------------------
-- Ledger tables of this part, written only by its functions.
----------------------------------------------------------------------

-- What each rule awarded to a grant made by earn(), with the rate in force
-- then; clawback() re-applies it to what is left of a refunded order.
-- Amounts are in points (numeric), like the journal.
CREATE TABLE @extschema@.earnings (
    id          bigserial PRIMARY KEY,
    lot_id      bigint NOT NULL,
    account_id  bigint NOT NULL,
    type        text NOT NULL,
    customer    text NOT NULL,
    rule_id     bigint NOT NULL,
    event       text NOT NULL,
    amount      numeric,
    excluded    numeric NOT NULL DEFAULT 0,
    basis       numeric,
    rate_points numeric NOT NULL,
    rate_spend  numeric,
    min_amount  numeric,
    max_points  numeric,
    multiplier  numeric NOT NULL,
    tier        text,
    points      numeric NOT NULL,
    refunded    numeric NOT NULL DEFAULT 0,
    clawed_back numeric NOT NULL DEFAULT 0,
    at          timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.earnings IS 'What each earn rule awarded to a grant, at the rate in force; in points';
COMMENT ON COLUMN @extschema@.earnings.basis IS 'The eligible amount: amount - excluded';
COMMENT ON COLUMN @extschema@.earnings.refunded IS 'Part of the basis refunded so far (clawback)';
COMMENT ON COLUMN @extschema@.earnings.clawed_back IS 'Points of this award the refunds so far take back';
CREATE INDEX earnings_lot ON @extschema@.earnings (lot_id);
-- Caps: an account's awards of a rule in a period.
CREATE INDEX earnings_cap ON @extschema@.earnings (account_id, rule_id, at);

CREATE TABLE @extschema@.redemptions (
    id              bigserial PRIMARY KEY,
    type            text NOT NULL,
    customer        text NOT NULL,
    reward          text NOT NULL,
    code            text NOT NULL UNIQUE,
    status          text NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'cancelled')),
    cost            numeric NOT NULL,
    value           numeric,
    kind            text NOT NULL,
    name            text NOT NULL,
    at              timestamptz NOT NULL,
    cancelled_at    timestamptz,
    entry_id        bigint NOT NULL,
    refund_entry_id bigint,
    account_id      bigint NOT NULL,
    ref             text,
    note            text,
    recorded_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    FOREIGN KEY (type, reward) REFERENCES @extschema@.rewards (type, code)
        ON UPDATE RESTRICT ON DELETE RESTRICT
);
COMMENT ON TABLE @extschema@.redemptions IS 'Rewards redeemed: the code issued, the points spent (entry_id) and any cancellation';
CREATE INDEX redemptions_account ON @extschema@.redemptions (account_id, reward);

CREATE TRIGGER guard_state BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.earnings
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_state();
CREATE TRIGGER guard_state_truncate BEFORE TRUNCATE ON @extschema@.earnings
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.guard_state();
CREATE TRIGGER guard_state BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.redemptions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_state();
CREATE TRIGGER guard_state_truncate BEFORE TRUNCATE ON @extschema@.redemptions
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.guard_state();
ALTER TABLE @extschema@.earnings ENABLE ALWAYS TRIGGER guard_state;
ALTER TABLE @extschema@.earnings ENABLE ALWAYS TRIGGER guard_state_truncate;
ALTER TABLE @extschema@.redemptions ENABLE ALWAYS TRIGGER guard_state;
ALTER TABLE @extschema@.redemptions ENABLE ALWAYS TRIGGER guard_state_truncate;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.tiers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.earn_rules', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.earn_rules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rewards', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.prices', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.earnings', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.earnings_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.redemptions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.redemptions_id_seq', '');

----------------------------------------------------------------------
-- Functions
----------------------------------------------------------------------

CREATE FUNCTION @extschema@.earn(
    type text, customer text, event text, amount numeric DEFAULT NULL,
    ref text DEFAULT NULL, at timestamptz DEFAULT pg_catalog.now(),
    pending boolean DEFAULT NULL, exclude numeric DEFAULT 0,
    note text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_earn';
COMMENT ON FUNCTION @extschema@.earn(text, text, text, numeric, text, timestamptz, boolean, numeric, text)
    IS 'Apply the earn rules of an event; returns the grant id, NULL when nothing was earned';

CREATE FUNCTION @extschema@.clawback(
    grant_id bigint, refunded numeric DEFAULT NULL,
    ref text DEFAULT NULL, note text DEFAULT NULL,
    at timestamptz DEFAULT pg_catalog.now(), policy text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_clawback';
COMMENT ON FUNCTION @extschema@.clawback(bigint, numeric, text, text, timestamptz, text)
    IS 'Revoke what the refunded part of an order earned, at the recorded rate; returns the revoke entry id or NULL';

CREATE FUNCTION @extschema@.tier(
    type text, customer text, at timestamptz DEFAULT pg_catalog.now())
    RETURNS text
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_tier';
COMMENT ON FUNCTION @extschema@.tier(text, text, timestamptz)
    IS 'The customer''s tier code at a time; NULL when none applies';

CREATE FUNCTION @extschema@.value(type text, points numeric)
    RETURNS numeric
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_value';
COMMENT ON FUNCTION @extschema@.value(text, numeric)
    IS 'Money value of points, floored to the currency''s minor unit';

-- No SET clause: it runs no statement on its common path, and pins
-- search_path in C around each one it does run (src/ledger.c).
CREATE FUNCTION @extschema@.quote(
    type text, customer text, subtotal numeric, tax numeric DEFAULT 0,
    want numeric DEFAULT NULL, at timestamptz DEFAULT pg_catalog.now(),
    OUT points numeric, OUT discount numeric)
    LANGUAGE c STABLE SECURITY DEFINER
    AS 'MODULE_PATHNAME', 'points_quote';
COMMENT ON FUNCTION @extschema@.quote(text, text, numeric, numeric, numeric, timestamptz)
    IS 'The most points usable on an order now and the discount they give';

CREATE FUNCTION @extschema@.redeem(
    type text, customer text, reward text, ref text DEFAULT NULL,
    at timestamptz DEFAULT pg_catalog.now(), note text DEFAULT NULL)
    RETURNS @extschema@.redemptions
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_redeem';
COMMENT ON FUNCTION @extschema@.redeem(text, text, text, text, timestamptz, text)
    IS 'Spend points on a catalogue reward; returns the redemption with its code';

CREATE FUNCTION @extschema@.cancel_redemption(
    redemption_id bigint, note text DEFAULT NULL,
    at timestamptz DEFAULT pg_catalog.now())
    RETURNS @extschema@.redemptions
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_cancel_redemption';
COMMENT ON FUNCTION @extschema@.cancel_redemption(bigint, text, timestamptz)
    IS 'Refund a redemption''s points and restore its stock; returns the redemption';

CREATE FUNCTION @extschema@.price(
    type text, quantity numeric, currency text DEFAULT NULL)
    RETURNS numeric
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'points_price';
COMMENT ON FUNCTION @extschema@.price(text, numeric, text)
    IS 'Price of buying points under the volume tiers';
