-- CREATE EXTENSION points in a hostile database (docs/security.md,
-- "Installing"): it fails, changing nothing, when
--   - the caller is not a superuser (points is not trusted);
--   - schema points exists and is owned by another role: PostgreSQL 15
--     would silently install into it (the control file's schema = points
--     only creates the schema when it is missing), leaving the extension
--     in a schema its owner controls, e.g. next to an overload
--     points.consume(text, text, integer) that a caller's
--     points.consume('t', 'c', 5) would pick (the CVE-2022-2625 pattern);
--   - other roles may create objects in schema points;
--   - schema points holds objects that are not the extension's;
--   - a role points_reader, points_app or points_admin exists already and
--     can log in, has a role attribute, or is a member of another role.
-- It succeeds, granting nothing to anyone else, when the installing
-- role's default privileges would grant something; it creates the roles
-- when they are missing and keeps them with their members when they are
-- bare.  Everything happens in this file's transaction and is rolled back.
BEGIN;
SELECT plan(34);
SET LOCAL search_path = public;
SET LOCAL client_min_messages = warning;

CREATE ROLE tap_mallory LOGIN;
CREATE ROLE tap_user LOGIN;
SELECT format('GRANT CREATE ON DATABASE %I TO tap_mallory, tap_user', current_database()) AS grant_create \gset
:grant_create;
GRANT ALL ON __tcache__ TO tap_user;
GRANT ALL ON SEQUENCE __tcache___id_seq, __tresults___numb_seq TO tap_user;

-- Start without the extension.  DROP EXTENSION leaves schema points,
-- empty, owned by whoever created the extension.
DROP EXTENSION points;

-- 1-2: not a superuser.
SET ROLE tap_user;
SELECT throws_ok('CREATE EXTENSION points', '42501', 'permission denied to create extension "points"',
    'a role that is not a superuser cannot create points, even with CREATE on the database');
RESET ROLE;
SELECT hasnt_extension('points', 'nothing was created');

-- 3-7: schema points made by an attacker, with an overload in it.
DROP SCHEMA points;
SET ROLE tap_mallory;
CREATE SCHEMA points;
CREATE FUNCTION points.consume(type text, customer text, amount integer) RETURNS bigint
    LANGUAGE sql AS 'SELECT 42::bigint';
RESET ROLE;
SELECT throws_ok('CREATE EXTENSION points', '42501',
    'schema points is owned by role "tap_mallory", not by a superuser',
    'schema points owned by another role: refused');
SELECT hasnt_extension('points', 'nothing was created');
SELECT is((SELECT count(*) FROM pg_proc WHERE pronamespace = 'points'::regnamespace), 1::bigint,
    'the schema holds the attacker''s function only');
-- A superuser takes the schema over, but the attacker's function is still in it.
ALTER SCHEMA points OWNER TO CURRENT_USER;
SELECT throws_ok('CREATE EXTENSION points', '42P06',
    'schema points holds objects that are not part of extension points',
    'schema points with an object that is not the extension''s: refused');
SELECT hasnt_extension('points', 'nothing was created');
DROP FUNCTION points.consume(text, text, integer);

-- 8-11: others may create objects in schema points.
GRANT CREATE ON SCHEMA points TO tap_mallory;
SELECT throws_ok('CREATE EXTENSION points', '42501',
    'schema points lets other roles create objects in it: tap_mallory',
    'CREATE on schema points granted to another role: refused');
REVOKE CREATE ON SCHEMA points FROM tap_mallory;
GRANT CREATE ON SCHEMA points TO PUBLIC;
SELECT throws_ok('CREATE EXTENSION points', '42501',
    'schema points lets other roles create objects in it: PUBLIC',
    'CREATE on schema points granted to PUBLIC: refused');
REVOKE CREATE ON SCHEMA points FROM PUBLIC;
-- USAGE for others is harmless (a dump being restored grants it).
GRANT USAGE ON SCHEMA points TO tap_mallory;
SELECT lives_ok('CREATE EXTENSION points', 'USAGE on schema points for another role: accepted');
DROP EXTENSION points;
REVOKE USAGE ON SCHEMA points FROM tap_mallory;
SELECT hasnt_extension('points', 'and dropped again');

-- 12-20: roles of the same names that are not bare NOLOGIN roles.
ALTER ROLE points_app LOGIN;
SELECT throws_ok('CREATE EXTENSION points', '42501',
    'role "points_app" exists and is not a bare NOLOGIN role',
    'points_app can log in: refused');
ALTER ROLE points_app NOLOGIN;
ALTER ROLE points_reader SUPERUSER;
SELECT throws_ok('CREATE EXTENSION points', '42501',
    'role "points_reader" exists and is not a bare NOLOGIN role',
    'points_reader is a superuser: refused');
ALTER ROLE points_reader NOSUPERUSER;
ALTER ROLE points_admin CREATEROLE;
SELECT throws_ok('CREATE EXTENSION points', '42501',
    'role "points_admin" exists and is not a bare NOLOGIN role',
    'points_admin has CREATEROLE: refused');
ALTER ROLE points_admin NOCREATEROLE;
ALTER ROLE points_app BYPASSRLS;
SELECT throws_ok('CREATE EXTENSION points', '42501',
    'role "points_app" exists and is not a bare NOLOGIN role',
    'points_app has BYPASSRLS: refused');
ALTER ROLE points_app NOBYPASSRLS;
GRANT pg_read_server_files TO points_reader;
SELECT throws_ok('CREATE EXTENSION points', '42501',
    'role "points_reader" exists and is a member of pg_read_server_files',
    'points_reader is a member of pg_read_server_files: refused');
REVOKE pg_read_server_files FROM points_reader;
GRANT tap_mallory TO points_app;
SELECT throws_ok('CREATE EXTENSION points', '42501',
    'role "points_app" exists and is a member of tap_mallory',
    'points_app is a member of another role: refused');
REVOKE tap_mallory FROM points_app;
SELECT hasnt_extension('points', 'nothing was created');
-- Bare roles with members (an install in another database, then GRANTs):
-- accepted, and the members stay.
GRANT points_app TO tap_user;
SELECT lives_ok('CREATE EXTENSION points', 'bare roles that have members: accepted');
SELECT ok(pg_has_role('tap_user', 'points_app', 'MEMBER'), 'their members stay members');

-- 21-25: the installing role's default privileges grant nothing.
DROP EXTENSION points;
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO tap_mallory;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO tap_mallory;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON ROUTINES TO tap_mallory;
ALTER DEFAULT PRIVILEGES IN SCHEMA points GRANT SELECT, INSERT ON TABLES TO PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA points GRANT EXECUTE ON ROUTINES TO tap_user;
SELECT lives_ok('CREATE EXTENSION points', 'CREATE EXTENSION under generous default privileges');
SELECT is_empty(
    $$SELECT c.oid::regclass, a.grantee FROM pg_class c, aclexplode(c.relacl) a
       WHERE c.relnamespace = 'points'::regnamespace AND a.grantee <> c.relowner
         AND a.grantee NOT IN ('points_reader'::regrole, 'points_app'::regrole, 'points_admin'::regrole)$$,
    'no table, view or sequence grants anything to PUBLIC or another role');
SELECT set_eq(
    $$SELECT p.oid::regprocedure::text, a.grantee FROM pg_proc p, aclexplode(p.proacl) a
       WHERE p.pronamespace = 'points'::regnamespace AND a.grantee <> p.proowner
         AND a.grantee NOT IN ('points_reader'::regrole, 'points_app'::regrole, 'points_admin'::regrole)$$,
    $$VALUES ('points.from_units(bigint,integer)', 0::oid)$$,
    'no routine is executable by another role; PUBLIC executes from_units only');
SELECT ok(NOT has_function_privilege('tap_mallory', 'points.adjust(text,text,numeric,text,text,timestamptz)', 'EXECUTE')
          AND NOT has_table_privilege('tap_user', 'points.types', 'INSERT'),
    'the default privileges gave nothing away');
ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM tap_mallory;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON SEQUENCES FROM tap_mallory;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON ROUTINES FROM tap_mallory;
ALTER DEFAULT PRIVILEGES IN SCHEMA points REVOKE ALL ON TABLES FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA points REVOKE ALL ON ROUTINES FROM tap_user;
SELECT has_extension('points', 'points', 'installed');

-- 26-34: no roles yet: CREATE EXTENSION makes them, bare and nested.
-- (Roles are shared by the databases of a server: when points is
-- installed in another database too, they cannot be dropped here.)
DROP EXTENSION points;
DROP SCHEMA points;
REVOKE points_app FROM tap_user;
SELECT count(*) = 0 AS roles_free
  FROM pg_shdepend WHERE refclassid = 'pg_authid'::regclass
   AND refobjid IN (SELECT oid FROM pg_roles WHERE rolname IN ('points_reader', 'points_app', 'points_admin')) \gset
\if :roles_free
DROP ROLE points_admin, points_app, points_reader;
SELECT is((SELECT count(*) FROM pg_roles WHERE rolname LIKE 'points\_%'), 0::bigint, 'no points_* role left');
SELECT lives_ok('CREATE EXTENSION points', 'CREATE EXTENSION without the roles');
\else
SELECT skip('points is installed in another database of this server: its roles stay', 2);
CREATE EXTENSION points;
\endif
SELECT is((SELECT string_agg(rolname || CASE WHEN rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb
                                              OR rolreplication OR rolbypassrls OR NOT rolinherit
                                         THEN ' (not bare)' ELSE '' END, ' ' ORDER BY rolname)
             FROM pg_roles WHERE rolname LIKE 'points\_%'),
    'points_admin points_app points_reader',
    'the three roles, NOLOGIN and without attributes');
SELECT ok(pg_has_role('points_admin', 'points_app', 'USAGE'), 'points_admin has the privileges of points_app');
SELECT ok(pg_has_role('points_app', 'points_reader', 'USAGE'), 'points_app has the privileges of points_reader');
SELECT ok(NOT pg_has_role('points_reader', 'points_app', 'MEMBER'), 'points_reader is not a member of points_app');
SELECT ok(NOT pg_has_role('points_app', 'points_admin', 'MEMBER'), 'points_app is not a member of points_admin');
SELECT is((SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'points'), current_user::text,
    'schema points belongs to the installing superuser');
SELECT is_empty('SELECT * FROM points.verify()', 'the new install is consistent');

SELECT * FROM finish();
ROLLBACK;
