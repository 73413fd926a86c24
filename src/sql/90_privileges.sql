-- points install script, part 90: roles and privileges, after every object
-- exists.  docs/security.md explains the roles to users.

----------------------------------------------------------------------
-- Roles
----------------------------------------------------------------------

-- Three NOLOGIN roles, nested so that each can do what the one below does:
--   points_reader  reads the views, reports and configuration
--   points_app     + changes balances the way an application does
--   points_admin   + configuration, manual adjustments, revoke, maintenance
-- Users get them with GRANT points_app TO shop_backend, etc.
--
-- Roles belong to the whole server, not to one database: installing points
-- in a second database, or again after DROP EXTENSION, finds them already
-- there and keeps them with their members.  A role of one of these names
-- that someone else made for another purpose would hand the extension's
-- privileges to whoever can use that role, so an existing role is accepted
-- only when it is as bare as the ones created here: NOLOGIN, no SUPERUSER,
-- CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, and a member of no role
-- but the points_* roles below it.  Otherwise CREATE EXTENSION fails (42501)
-- and changes nothing.  (Its existing members are kept: granting these
-- roles is the DBA's business.  In PostgreSQL 15 a CREATEROLE role can join
-- any non-superuser role anyway, so it is trusted like a superuser here.)
DO LANGUAGE plpgsql $roles$
DECLARE
    -- Each role with the points_* roles it may be a member of.
    want   text[] := ARRAY['points_reader', 'points_app', 'points_admin'];
    above  text[] := ARRAY['', 'points_reader', 'points_app,points_reader'];
    i      integer;
    r      record;
    extra  text;
BEGIN
    FOR i IN 1 .. 3 LOOP
        SELECT * INTO r FROM pg_catalog.pg_roles
         WHERE rolname OPERATOR(pg_catalog.=) want[i]::pg_catalog.name;
        IF NOT FOUND THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', want[i]);
            CONTINUE;
        END IF;
        IF r.rolcanlogin OR r.rolsuper OR r.rolcreaterole OR r.rolcreatedb
           OR r.rolreplication OR r.rolbypassrls THEN
            RAISE EXCEPTION 'role "%" exists and is not a bare NOLOGIN role', want[i]
                USING ERRCODE = '42501',
                      DETAIL = pg_catalog.format('It has %s.', pg_catalog.concat_ws(', ',
                          CASE WHEN r.rolcanlogin THEN 'LOGIN' END,
                          CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
                          CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
                          CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                          CASE WHEN r.rolreplication THEN 'REPLICATION' END,
                          CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END)),
                      HINT = 'The extension grants its privileges to this role. If it is yours, '
                             'ALTER ROLE ... NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS; '
                             'if not, find out who made it and drop it. Then CREATE EXTENSION points again.';
        END IF;
        SELECT pg_catalog.string_agg(pg_catalog.quote_ident(g.rolname), ', ' ORDER BY g.rolname)
          INTO extra
          FROM pg_catalog.pg_auth_members m
          JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
         WHERE m.member OPERATOR(pg_catalog.=) r.oid
           AND NOT g.rolname::text OPERATOR(pg_catalog.=) ANY (pg_catalog.string_to_array(above[i], ','));
        IF extra IS NOT NULL THEN
            RAISE EXCEPTION 'role "%" exists and is a member of %', want[i], extra
                USING ERRCODE = '42501',
                      DETAIL = 'Whoever is granted this role would get those roles'' privileges too.',
                      HINT = pg_catalog.format('REVOKE %s FROM %I, then CREATE EXTENSION points again.',
                                               extra, want[i]);
        END IF;
    END LOOP;

    -- The nesting, unless it is already there (an earlier install).
    FOR i IN 2 .. 3 LOOP
        IF NOT EXISTS (
            SELECT FROM pg_catalog.pg_auth_members m
             WHERE m.roleid OPERATOR(pg_catalog.=) pg_catalog.to_regrole(want[i - 1])
               AND m.member OPERATOR(pg_catalog.=) pg_catalog.to_regrole(want[i])) THEN
            EXECUTE pg_catalog.format('GRANT %I TO %I', want[i - 1], want[i]);
        END IF;
    END LOOP;
END
$roles$;

----------------------------------------------------------------------
-- Start from nothing: no privileges for anyone but the owner.
----------------------------------------------------------------------

-- Default privileges (ALTER DEFAULT PRIVILEGES) of the installing role may
-- have granted something on the objects just created: take it back, so
-- that the grants below are all there is, whatever the server's defaults.
DO LANGUAGE plpgsql $reset$
DECLARE
    o record;
BEGIN
    FOR o IN
        SELECT CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
               pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, a.grantee
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
         WHERE n.nspname OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.name
           AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
        UNION
        SELECT 'ROUTINE',
               pg_catalog.format('%I.%I(%s)', n.nspname, p.proname,
                                 pg_catalog.pg_get_function_identity_arguments(p.oid)),
               a.grantee
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
         CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
         WHERE n.nspname OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.name
           AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s', o.kind, o.name,
            CASE WHEN o.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(o.grantee)::text) END);
    END LOOP;
END
$reset$;

-- Tables, views and sequences are private to their owner by default, but
-- functions and procedures are executable by PUBLIC: take that back.
-- ROUTINES, not FUNCTIONS: ALL FUNCTIONS leaves procedures executable.
REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA @extschema@ FROM PUBLIC;

----------------------------------------------------------------------
-- PUBLIC
----------------------------------------------------------------------

-- Pure arithmetic on its arguments: harmless, and the views call it with
-- the privileges of whoever reads them (a role granted one view only, too).
GRANT EXECUTE ON FUNCTION @extschema@.from_units(bigint, integer) TO PUBLIC;

----------------------------------------------------------------------
-- points_reader: reports, read-only.  points_app and points_admin are
-- members of it and get all of this too.
----------------------------------------------------------------------

-- To reach any object of the schema by name.
GRANT USAGE ON SCHEMA @extschema@ TO points_reader;
-- The point types: names, scales, policies; every report needs them.
GRANT SELECT ON @extschema@.types TO points_reader;
-- Every grant with its remaining points, in points.
GRANT SELECT ON @extschema@.grants TO points_reader;
-- Every account's figures now.
GRANT SELECT ON @extschema@.balances TO points_reader;
-- The journal, with its running balance.
GRANT SELECT ON @extschema@.history TO points_reader;
-- Customers holding unused points.
GRANT SELECT ON @extschema@.outstanding TO points_reader;
-- The journal table itself (DESIGN: readable), for audits.
GRANT SELECT ON @extschema@.entries TO points_reader;
-- Which grants each debit drew from: traces any point (audits, refunds).
GRANT SELECT ON @extschema@.allocations TO points_reader;
-- Open and settled holds: the only place they are listed.
GRANT SELECT ON @extschema@.holds TO points_reader;
-- Per type: points outstanding, their value, issued, redeemed, expired.
GRANT SELECT ON @extschema@.liability TO points_reader;
-- A customer's statement with running balance, and grants expiring soon.
GRANT EXECUTE ON FUNCTION @extschema@.statement(text, text, timestamptz, timestamptz) TO points_reader;
GRANT EXECUTE ON FUNCTION @extschema@.expiring(text, interval, timestamptz) TO points_reader;
-- The rest of the configuration: tiers, per-customer settings, earn
-- rules, the rewards catalogue, volume prices.
GRANT SELECT ON @extschema@.tiers, @extschema@.customers, @extschema@.earn_rules,
    @extschema@.rewards, @extschema@.prices TO points_reader;
-- What each rule awarded, at which rate: audits of earning.
GRANT SELECT ON @extschema@.earnings TO points_reader;
-- Redemptions, but not their codes: a code is as good as the coupon or gift
-- card it stands for, so only the app (which hands them out) reads them.
GRANT SELECT (id, type, customer, reward, status, cost, value, kind, name, at,
    cancelled_at, entry_id, refund_entry_id, account_id, ref, note, recorded_at)
    ON @extschema@.redemptions TO points_reader;
-- Reads of one account: read-only.
GRANT EXECUTE ON FUNCTION @extschema@.balance(text, text, timestamptz) TO points_reader;
GRANT EXECUTE ON FUNCTION @extschema@.account(text, text, timestamptz) TO points_reader;
GRANT EXECUTE ON FUNCTION @extschema@.tier(text, text, timestamptz) TO points_reader;
-- Display only: names of amounts, money value of points.
GRANT EXECUTE ON FUNCTION @extschema@.format(text, numeric) TO points_reader;
GRANT EXECUTE ON FUNCTION @extschema@.value(text, numeric) TO points_reader;
-- points.accounts, points.lots (figures in units, cached: read balances and
-- grants instead) and points.requests (idempotency bookkeeping) stay
-- private to the owner; so do the sequences, used only by the functions
-- (but earn_rules_id_seq, below).

----------------------------------------------------------------------
-- points_app: what an application does inside its own transactions.
----------------------------------------------------------------------

-- Credit points (purchases, sign-ups; an admin's manual grants too).
GRANT EXECUTE ON FUNCTION @extschema@."grant"(text, text, numeric, text, text, text, timestamptz, timestamptz, boolean, timestamptz) TO points_app;
-- Activate a pending grant when the order is paid or shipped.
GRANT EXECUTE ON FUNCTION @extschema@.confirm(bigint, timestamptz) TO points_app;
-- Spend points.
GRANT EXECUTE ON FUNCTION @extschema@.consume(text, text, numeric, text, text, timestamptz) TO points_app;
-- Reserve points for a pending order, then spend or give them back.
GRANT EXECUTE ON FUNCTION @extschema@.hold(text, text, numeric, text, timestamptz, text, timestamptz) TO points_app;
GRANT EXECUTE ON FUNCTION @extschema@.capture(bigint, numeric, timestamptz) TO points_app;
GRANT EXECUTE ON FUNCTION @extschema@.release(bigint, timestamptz) TO points_app;
-- Give spent points back when an order is refunded.
GRANT EXECUTE ON FUNCTION @extschema@.refund(bigint, numeric, text, text, timestamptz, boolean) TO points_app;
-- Customer-to-customer transfers.
GRANT EXECUTE ON FUNCTION @extschema@.transfer(text, text, text, numeric, text, text, timestamptz) TO points_app;
-- Earn by the rules for an event; take back what a refunded order earned.
GRANT EXECUTE ON FUNCTION @extschema@.earn(text, text, text, numeric, text, timestamptz, boolean, numeric, text) TO points_app;
GRANT EXECUTE ON FUNCTION @extschema@.clawback(bigint, numeric, text, text, timestamptz, text) TO points_app;
-- Checkout: points usable on an order, and the price of points sold.
GRANT EXECUTE ON FUNCTION @extschema@.quote(text, text, numeric, numeric, numeric, timestamptz) TO points_app;
GRANT EXECUTE ON FUNCTION @extschema@.price(text, numeric, text) TO points_app;
-- Spend points on a catalogue reward, or undo it when the order is cancelled.
GRANT EXECUTE ON FUNCTION @extschema@.redeem(text, text, text, text, timestamptz, text) TO points_app;
GRANT EXECUTE ON FUNCTION @extschema@.cancel_redemption(bigint, text, timestamptz) TO points_app;
-- The codes of redemptions, to show a customer the coupons they hold.
GRANT SELECT ON @extschema@.redemptions TO points_app;

----------------------------------------------------------------------
-- points_admin: configuration, corrections, maintenance.
----------------------------------------------------------------------

-- Define and change point types, tiers, customers' settings, earn rules,
-- rewards and prices (their check_* triggers validate every row).
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.types, @extschema@.tiers,
    @extschema@.customers, @extschema@.earn_rules, @extschema@.rewards,
    @extschema@.prices TO points_admin;
-- earn_rules.id defaults to nextval() of its sequence.
GRANT USAGE ON SEQUENCE @extschema@.earn_rules_id_seq TO points_admin;
-- Manual corrections, recorded as entries.
GRANT EXECUTE ON FUNCTION @extschema@.adjust(text, text, numeric, text, text, timestamptz) TO points_admin;
-- Claw back or void a grant.
GRANT EXECUTE ON FUNCTION @extschema@.revoke(bigint, numeric, text, text, text, timestamptz) TO points_admin;
-- The expiry sweep and timed-out holds (run_maintenance calls them as its caller).
GRANT EXECUTE ON FUNCTION @extschema@.expire(timestamptz, integer) TO points_admin;
GRANT EXECUTE ON FUNCTION @extschema@.expire_batch(timestamptz, integer, timestamptz, bigint) TO points_admin;
GRANT EXECUTE ON FUNCTION @extschema@.release_holds(timestamptz, integer) TO points_admin;
GRANT EXECUTE ON PROCEDURE @extschema@.run_maintenance(integer) TO points_admin;
-- Register or remove the pg_cron job (they run as their caller, and so do
-- the two helpers they call; pg_cron runs the job as that caller).
GRANT EXECUTE ON FUNCTION @extschema@.schedule(text) TO points_admin;
GRANT EXECUTE ON FUNCTION @extschema@.unschedule() TO points_admin;
GRANT EXECUTE ON FUNCTION @extschema@.maintenance_job_name() TO points_admin;
GRANT EXECUTE ON FUNCTION @extschema@.cron_target() TO points_admin;
-- Check every invariant: reads the whole ledger, can take long.
GRANT EXECUTE ON FUNCTION @extschema@.verify() TO points_admin;
