--
-- CREATE EXTENSION points: catalog entry, schema, drop and recreate, and
-- what the control file forbids (relocation, non-superusers).
--
-- No role or user names in the output: pg_regress connects as whoever runs it.
SET client_min_messages = warning;

-- pg_regress created pg_cron and points before the first test (Makefile
-- REGRESS_OPTS --load-extension): start from a database without points.
DROP EXTENSION points;
DROP SCHEMA points;

-- Available before it is created, at version 0.1.0.
SELECT name, default_version, installed_version
  FROM pg_available_extensions WHERE name = 'points';

CREATE EXTENSION points;

-- Installed at 0.1.0 in its fixed schema points, not relocatable.
SELECT e.extname, e.extversion, e.extrelocatable, e.extnamespace::regnamespace AS schema
  FROM pg_extension e WHERE e.extname = 'points';

-- The schema exists and belongs to the user who created the extension.
SELECT n.nspname, n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AS owned_by_creator
  FROM pg_namespace n WHERE n.nspname = 'points';

-- Created once only.
CREATE EXTENSION points;
CREATE EXTENSION IF NOT EXISTS points;

-- Not relocatable: no SET SCHEMA, no other schema.
ALTER EXTENSION points SET SCHEMA public;

-- Dropped: the catalog entry goes. The schema that CREATE EXTENSION made
-- is not a member of the extension: it stays, empty.
DROP EXTENSION points;
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'points';
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname = 'points';
SELECT count(*) AS objects_left FROM pg_class WHERE relnamespace = 'points'::regnamespace;
SELECT count(*) AS functions_left FROM pg_proc WHERE pronamespace = 'points'::regnamespace;

-- It must go in schema points.
CREATE EXTENSION points SCHEMA public;

-- Recreated after the drop in the schema left behind, the same again.
CREATE EXTENSION points;
SELECT e.extname, e.extversion, e.extrelocatable, e.extnamespace::regnamespace AS schema
  FROM pg_extension e WHERE e.extname = 'points';

-- superuser = true, trusted = false: an ordinary user cannot create it.
DROP EXTENSION points;
CREATE ROLE regress_points_nobody;
SET ROLE regress_points_nobody;
CREATE EXTENSION points;
RESET ROLE;
DROP ROLE regress_points_nobody;

-- Left installed for the next tests.
CREATE EXTENSION points;
SELECT extversion FROM pg_extension WHERE extname = 'points';
