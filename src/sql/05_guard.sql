-- points install script, part 05: refuse a hostile schema before anything
-- is created in it.
\echo Use "CREATE EXTENSION points" to load this file. \quit

-- The control file names schema points.  PostgreSQL 15 creates it when it is
-- missing but silently installs into it when it already exists, whoever owns
-- it and whatever it holds.  An attacker who could create schema points
-- first (CREATE on the database is enough) would own the schema the
-- extension lives in: able to drop or add objects next to the extension's,
-- e.g. an overload points.consume(text, text, integer) that a caller's
-- points.consume('t', 'c', 5) would pick instead of the real one (the
-- CVE-2022-2625 pattern).  So the install goes on only when schema points
--   1. is owned by a superuser (the installing role, or the one that ran
--      CREATE SCHEMA points in a dump being restored),
--   2. lets no one but its owner create objects in it, and
--   3. holds nothing but members of this extension: at install time,
--      nothing at all (a schema left behind by DROP EXTENSION is empty).
-- Default privileges (ALTER DEFAULT PRIVILEGES ... IN SCHEMA points) may
-- be there: part 90 takes back whatever they grant.
-- Each upgrade script starts with a copy of this block (docs/security.md,
-- "Upgrading"): between versions the same three things must still hold.
-- Every operator is written OPERATOR(pg_catalog.x): while this runs, the
-- search path is the schema under suspicion.
DO LANGUAGE plpgsql $guard$
DECLARE
    ext    pg_catalog.oid;
    nsp    pg_catalog.oid;
    owner  pg_catalog.name;
    super  boolean;
    who    text;
    stray  text;
    nstray bigint;
BEGIN
    SELECT e.oid, e.extnamespace INTO ext, nsp
      FROM pg_catalog.pg_extension e
     WHERE e.extname OPERATOR(pg_catalog.=) 'points'::pg_catalog.name;
    SELECT r.rolname, r.rolsuper INTO owner, super
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.oid OPERATOR(pg_catalog.=) nsp;

    IF NOT super THEN
        RAISE EXCEPTION 'schema points is owned by role "%", not by a superuser', owner
            USING ERRCODE = '42501',
                  DETAIL = 'The extension would live in a schema another role controls.',
                  HINT = 'Drop or rename that schema (look at its contents first), then CREATE EXTENSION points again.';
    END IF;

    SELECT pg_catalog.string_agg(DISTINCT
               CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                    ELSE pg_catalog.quote_ident(r.rolname::text) END, ', ')
      INTO who
      FROM pg_catalog.pg_namespace n
     CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
      LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
     WHERE n.oid OPERATOR(pg_catalog.=) nsp
       AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner;
    IF who IS NOT NULL THEN
        RAISE EXCEPTION 'schema points lets other roles create objects in it: %', who
            USING ERRCODE = '42501',
                  DETAIL = 'They could add objects next to the extension''s, e.g. overloads of its functions.',
                  HINT = 'REVOKE CREATE ON SCHEMA points FROM those roles, then CREATE EXTENSION points again.';
    END IF;

    SELECT pg_catalog.count(*),
           pg_catalog.string_agg(o.what, ', ' ORDER BY o.what)
               FILTER (WHERE o.n OPERATOR(pg_catalog.<=) 10)
      INTO nstray, stray
      FROM (SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS what,
                   pg_catalog.row_number() OVER (ORDER BY d.classid, d.objid) AS n
              FROM pg_catalog.pg_depend d
             WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
               AND d.refobjid OPERATOR(pg_catalog.=) nsp
               AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass
               -- Default privileges in the schema are not objects in it;
               -- part 90 takes back whatever they grant.
               AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_default_acl'::pg_catalog.regclass
               AND NOT EXISTS (
                   SELECT FROM pg_catalog.pg_depend m
                    WHERE m.classid OPERATOR(pg_catalog.=) d.classid
                      AND m.objid OPERATOR(pg_catalog.=) d.objid
                      AND m.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                      AND m.refobjid OPERATOR(pg_catalog.=) ext
                      AND m.deptype OPERATOR(pg_catalog.=) 'e')) o;
    IF stray IS NOT NULL THEN
        RAISE EXCEPTION 'schema points holds objects that are not part of extension points'
            USING ERRCODE = '42P06',
                  DETAIL = pg_catalog.format('%s object(s), among them: %s.', nstray, stray),
                  HINT = 'Move or drop them (ALTER ... SET SCHEMA, DROP ...), then try again: schema points holds the extension only.';
    END IF;
END
$guard$;
