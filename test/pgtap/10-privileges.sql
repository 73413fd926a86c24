-- Roles and privileges as the catalog has them (src/sql/90_privileges.sql,
-- docs/security.md "Roles"): the three roles, their nesting, and the
-- privileges of PUBLIC and of each role on every object of the extension.
--
-- The matrix below lists every function, table, view and sequence of the
-- extension: an object added without a line here fails this file, so that
-- nobody adds a function and forgets to decide who may call it.  Columns:
-- what a role with no membership (PUBLIC), points_reader, points_app and
-- points_admin may do; "" is nothing.  has_*_privilege counts inherited
-- privileges, so the nesting shows as columns that only grow to the right.
-- Types are left out: USAGE on a composite type is PUBLIC and harmless.
BEGIN;
SELECT plan(12);
SET LOCAL search_path = public;

CREATE ROLE tap_nobody;

-- The privileges role r holds on one object, in a fixed order, separated
-- by spaces; SELECT on
-- some columns only shows as SELECT(col,...).
CREATE FUNCTION pg_temp.privs(r name, cls regclass, obj oid) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(p, ' ' ORDER BY i), '')
      FROM (SELECT i, p FROM unnest(CASE
              WHEN cls = 'pg_proc'::regclass THEN ARRAY['EXECUTE']
              WHEN cls = 'pg_namespace'::regclass THEN ARRAY['USAGE', 'CREATE']
              WHEN (SELECT relkind FROM pg_class WHERE oid = obj) = 'S' THEN ARRAY['USAGE', 'SELECT', 'UPDATE']
              ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']
            END) WITH ORDINALITY AS x(p, i)
             WHERE CASE
              WHEN cls = 'pg_proc'::regclass THEN has_function_privilege(r, obj, p)
              WHEN cls = 'pg_namespace'::regclass THEN has_schema_privilege(r, obj, p)
              WHEN (SELECT relkind FROM pg_class WHERE oid = obj) = 'S' THEN has_sequence_privilege(r, obj, p)
              ELSE has_table_privilege(r, obj, p)
            END
            UNION ALL
            SELECT 1, 'SELECT(' || string_agg(attname, ',' ORDER BY attnum) || ')'
              FROM pg_attribute
             WHERE cls = 'pg_class'::regclass AND attrelid = obj AND attnum > 0 AND NOT attisdropped
               AND NOT has_table_privilege(r, obj, 'SELECT')
               AND has_column_privilege(r, obj, attnum, 'SELECT')
            HAVING count(*) > 0) s
$$;

-- 1-3: the roles, bare NOLOGIN roles (the install refuses anything else).
SELECT is(
    (SELECT concat_ws(' ', CASE WHEN rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
                      CASE WHEN rolsuper THEN 'SUPERUSER' END, CASE WHEN rolcreaterole THEN 'CREATEROLE' END,
                      CASE WHEN rolcreatedb THEN 'CREATEDB' END, CASE WHEN rolreplication THEN 'REPLICATION' END,
                      CASE WHEN rolbypassrls THEN 'BYPASSRLS' END, CASE WHEN rolinherit THEN 'INHERIT' END)
       FROM pg_roles WHERE rolname = r),
    'NOLOGIN INHERIT',
    format('role %s exists, NOLOGIN, no other attribute', r))
  FROM unnest(ARRAY['points_reader', 'points_app', 'points_admin']) AS r;

-- 4: nested: points_admin in points_app in points_reader, and nothing else.
SELECT set_eq(
    $$SELECT g.rolname::text AS role, m.rolname::text AS member
        FROM pg_auth_members a
        JOIN pg_roles g ON g.oid = a.roleid
        JOIN pg_roles m ON m.oid = a.member
       WHERE m.rolname LIKE 'points\_%' OR g.rolname LIKE 'points\_%'$$,
    $$VALUES ('points_reader', 'points_app'), ('points_app', 'points_admin')$$,
    'points_admin is a member of points_app, points_app of points_reader; no other memberships');

-- 5: the matrix.
SELECT set_eq(
    $$SELECT pg_describe_object(o.classid, o.objid, 0) AS object,
       pg_temp.privs('tap_nobody', o.classid, o.objid) AS public,
       pg_temp.privs('points_reader', o.classid, o.objid) AS reader,
       pg_temp.privs('points_app', o.classid, o.objid) AS app,
       pg_temp.privs('points_admin', o.classid, o.objid) AS admin
  FROM (SELECT classid, objid FROM pg_depend
         WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
           AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
           AND classid IN ('pg_proc'::regclass, 'pg_class'::regclass)
        UNION ALL
        SELECT 'pg_namespace'::regclass, 'points'::regnamespace) o
$$,
    $$VALUES
    ('function points."grant"(text,text,numeric,text,text,text,timestamp with time zone,timestamp with time zone,boolean,timestamp with time zone)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.account(text,text,timestamp with time zone)', '', 'EXECUTE', 'EXECUTE', 'EXECUTE'),
    ('function points.adjust(text,text,numeric,text,text,timestamp with time zone)', '', '', '', 'EXECUTE'),
    ('function points.balance(text,text,timestamp with time zone)', '', 'EXECUTE', 'EXECUTE', 'EXECUTE'),
    ('function points.cancel_redemption(bigint,text,timestamp with time zone)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.capture(bigint,numeric,timestamp with time zone)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.check_customer()', '', '', '', ''),
    ('function points.check_earn_rule()', '', '', '', ''),
    ('function points.check_lot()', '', '', '', ''),
    ('function points.check_price()', '', '', '', ''),
    ('function points.check_reward()', '', '', '', ''),
    ('function points.check_tier()', '', '', '', ''),
    ('function points.check_type()', '', '', '', ''),
    ('function points.clawback(bigint,numeric,text,text,timestamp with time zone,text)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.confirm(bigint,timestamp with time zone)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.consume(text,text,numeric,text,text,timestamp with time zone)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.cron_target()', '', '', '', 'EXECUTE'),
    ('function points.earn(text,text,text,numeric,text,timestamp with time zone,boolean,numeric,text)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.expire(timestamp with time zone,integer)', '', '', '', 'EXECUTE'),
    ('function points.expire_batch(timestamp with time zone,integer,timestamp with time zone,bigint)', '', '', '', 'EXECUTE'),
    ('function points.expiring(text,interval,timestamp with time zone)', '', 'EXECUTE', 'EXECUTE', 'EXECUTE'),
    ('function points.format(text,numeric)', '', 'EXECUTE', 'EXECUTE', 'EXECUTE'),
    ('function points.from_units(bigint,integer)', 'EXECUTE', 'EXECUTE', 'EXECUTE', 'EXECUTE'),
    ('function points.guard_journal()', '', '', '', ''),
    ('function points.guard_state()', '', '', '', ''),
    ('function points.hold(text,text,numeric,text,timestamp with time zone,text,timestamp with time zone)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.maintenance_job_name()', '', '', '', 'EXECUTE'),
    ('function points.price(text,numeric,text)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.quote(text,text,numeric,numeric,numeric,timestamp with time zone)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.redeem(text,text,text,text,timestamp with time zone,text)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.refund(bigint,numeric,text,text,timestamp with time zone,boolean)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.release(bigint,timestamp with time zone)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.release_holds(timestamp with time zone,integer)', '', '', '', 'EXECUTE'),
    ('function points.revoke(bigint,numeric,text,text,text,timestamp with time zone)', '', '', '', 'EXECUTE'),
    ('function points.run_maintenance(integer)', '', '', '', 'EXECUTE'),
    ('function points.schedule(text)', '', '', '', 'EXECUTE'),
    ('function points.statement(text,text,timestamp with time zone,timestamp with time zone)', '', 'EXECUTE', 'EXECUTE', 'EXECUTE'),
    ('function points.tier(text,text,timestamp with time zone)', '', 'EXECUTE', 'EXECUTE', 'EXECUTE'),
    ('function points.transfer(text,text,text,numeric,text,text,timestamp with time zone)', '', '', 'EXECUTE', 'EXECUTE'),
    ('function points.types_changed()', '', '', '', ''),
    ('function points.unschedule()', '', '', '', 'EXECUTE'),
    ('function points.value(text,numeric)', '', 'EXECUTE', 'EXECUTE', 'EXECUTE'),
    ('function points.verify()', '', '', '', 'EXECUTE'),
    ('schema points', '', 'USAGE', 'USAGE', 'USAGE'),
    ('sequence points.accounts_id_seq', '', '', '', ''),
    ('sequence points.earn_rules_id_seq', '', '', '', 'USAGE'),
    ('sequence points.earnings_id_seq', '', '', '', ''),
    ('sequence points.entries_id_seq', '', '', '', ''),
    ('sequence points.holds_id_seq', '', '', '', ''),
    ('sequence points.lots_id_seq', '', '', '', ''),
    ('sequence points.redemptions_id_seq', '', '', '', ''),
    ('table points.accounts', '', '', '', ''),
    ('table points.allocations', '', 'SELECT', 'SELECT', 'SELECT'),
    ('table points.customers', '', 'SELECT', 'SELECT', 'SELECT INSERT UPDATE DELETE'),
    ('table points.earn_rules', '', 'SELECT', 'SELECT', 'SELECT INSERT UPDATE DELETE'),
    ('table points.earnings', '', 'SELECT', 'SELECT', 'SELECT'),
    ('table points.entries', '', 'SELECT', 'SELECT', 'SELECT'),
    ('table points.holds', '', 'SELECT', 'SELECT', 'SELECT'),
    ('table points.lots', '', '', '', ''),
    ('table points.prices', '', 'SELECT', 'SELECT', 'SELECT INSERT UPDATE DELETE'),
    ('table points.redemptions', '', 'SELECT(id,type,customer,reward,status,cost,value,kind,name,at,cancelled_at,entry_id,refund_entry_id,account_id,ref,note,recorded_at)', 'SELECT', 'SELECT'),
    ('table points.requests', '', '', '', ''),
    ('table points.rewards', '', 'SELECT', 'SELECT', 'SELECT INSERT UPDATE DELETE'),
    ('table points.tiers', '', 'SELECT', 'SELECT', 'SELECT INSERT UPDATE DELETE'),
    ('table points.types', '', 'SELECT', 'SELECT', 'SELECT INSERT UPDATE DELETE'),
    ('view points.balances', '', 'SELECT', 'SELECT', 'SELECT'),
    ('view points.grants', '', 'SELECT', 'SELECT', 'SELECT'),
    ('view points.history', '', 'SELECT', 'SELECT', 'SELECT'),
    ('view points.liability', '', 'SELECT', 'SELECT', 'SELECT'),
    ('view points.outstanding', '', 'SELECT', 'SELECT', 'SELECT')$$,
    'privileges of PUBLIC, points_reader, points_app and points_admin on every object');

-- 6: whatever a role may do, the roles above it may do too.
SELECT is_empty(
    $$SELECT pg_describe_object(o.classid, o.objid, 0), p.priv
        FROM pg_depend o
       CROSS JOIN LATERAL (VALUES ('points_reader', 'points_app'), ('points_app', 'points_admin')) AS n(lower, upper)
       CROSS JOIN LATERAL unnest(string_to_array(pg_temp.privs(n.lower, o.classid, o.objid), ' ')) AS p(priv)
       WHERE o.refclassid = 'pg_extension'::regclass AND o.deptype = 'e'
         AND o.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
         AND o.classid IN ('pg_proc'::regclass, 'pg_class'::regclass)
         AND NOT p.priv = ANY (string_to_array(pg_temp.privs(n.upper, o.classid, o.objid), ' '))
         AND NOT (p.priv LIKE 'SELECT(%' AND
                  'SELECT' = ANY (string_to_array(pg_temp.privs(n.upper, o.classid, o.objid), ' ')))$$,
    'each role may do all that the role below it may');

-- 7: PUBLIC appears in one ACL only: EXECUTE on from_units.
SELECT set_eq(
    $$SELECT pg_describe_object(o.classid, o.objid, 0), a.privilege_type
        FROM pg_depend o
        LEFT JOIN pg_class c ON o.classid = 'pg_class'::regclass AND c.oid = o.objid
        LEFT JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND p.oid = o.objid
       CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, p.proacl,
                  acldefault(CASE WHEN p.oid IS NOT NULL THEN 'f' ELSE 'r' END::"char",
                             coalesce(p.proowner, c.relowner)))) a
       WHERE o.refclassid = 'pg_extension'::regclass AND o.deptype = 'e'
         AND o.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
         AND a.grantee = 0$$,
    $$VALUES ('function points.from_units(bigint,integer)', 'EXECUTE')$$,
    'PUBLIC may only execute points.from_units (ACLs, defaults included)');

-- 8: no role but the owner and the three points_* roles in any ACL.
SELECT is_empty(
    $$SELECT pg_describe_object(o.classid, o.objid, 0), a.grantee::regrole
        FROM pg_depend o
        LEFT JOIN pg_class c ON o.classid = 'pg_class'::regclass AND c.oid = o.objid
        LEFT JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND p.oid = o.objid
       CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, p.proacl)) a
       WHERE o.refclassid = 'pg_extension'::regclass AND o.deptype = 'e'
         AND o.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
         AND a.grantee <> 0 AND a.grantee <> coalesce(c.relowner, p.proowner)
         AND a.grantee::regrole::text NOT IN ('points_reader', 'points_app', 'points_admin')$$,
    'no other role in the ACLs of the extension''s objects');

-- 9: nobody may grant on: no privileges WITH GRANT OPTION but the owner's.
SELECT is_empty(
    $$SELECT pg_describe_object(o.classid, o.objid, 0), a.grantee::regrole, a.privilege_type
        FROM pg_depend o
        LEFT JOIN pg_class c ON o.classid = 'pg_class'::regclass AND c.oid = o.objid
        LEFT JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND p.oid = o.objid
       CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, p.proacl)) a
       WHERE o.refclassid = 'pg_extension'::regclass AND o.deptype = 'e'
         AND o.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
         AND a.is_grantable AND a.grantee <> coalesce(c.relowner, p.proowner)$$,
    'no grant option for anyone but the owner');

-- 10: the install recorded its privileges as the initial ones
-- (pg_init_privs): pg_dump then dumps no GRANT or REVOKE of its own, only
-- what a DBA changed afterwards.
SELECT is_empty(
    $$SELECT pg_describe_object(o.classid, o.objid, 0)
        FROM pg_depend o
        LEFT JOIN pg_class c ON o.classid = 'pg_class'::regclass AND c.oid = o.objid
        LEFT JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND p.oid = o.objid
        LEFT JOIN pg_init_privs i ON i.classoid = o.classid AND i.objoid = o.objid AND i.objsubid = 0
       WHERE o.refclassid = 'pg_extension'::regclass AND o.deptype = 'e'
         AND o.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'points')
         AND o.classid IN ('pg_proc'::regclass, 'pg_class'::regclass)
         AND coalesce(c.relacl, p.proacl)::text IS DISTINCT FROM i.initprivs::text$$,
    'every ACL of the extension is its initial privileges (pg_init_privs)');

-- 11: a login role granted points_app gets what points_app has (INHERIT).
CREATE ROLE tap_member LOGIN IN ROLE points_app;
SELECT ok(has_function_privilege('tap_member', 'points.consume(text,text,numeric,text,text,timestamptz)', 'EXECUTE')
          AND has_table_privilege('tap_member', 'points.balances', 'SELECT')
          AND NOT has_function_privilege('tap_member', 'points.adjust(text,text,numeric,text,text,timestamptz)', 'EXECUTE'),
    'a member of points_app inherits its privileges, and no more');

-- 12: the schema: usable by the roles, not by PUBLIC; only its owner creates in it.
SELECT is_empty(
    $$SELECT a.grantee::regrole, a.privilege_type
        FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
       WHERE n.nspname = 'points' AND a.grantee <> n.nspowner
      EXCEPT
      SELECT r::regrole, 'USAGE' FROM unnest(ARRAY['points_reader']) r$$,
    'schema points: USAGE for points_reader (and so the roles above it), nothing for PUBLIC, CREATE for its owner only');

SELECT * FROM finish();
ROLLBACK;
