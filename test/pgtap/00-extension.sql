-- The extension as installed by scripts/test.sh: the runner creates pg_cron,
-- pgtap and points in the test database; each file runs in a transaction that
-- it rolls back, so every file starts from that same state.
BEGIN;
SELECT plan(10);

SELECT has_extension('points', 'extension points is installed');
SELECT has_schema('points', 'schema points exists');
SELECT has_extension('points', 'points', 'points lives in schema points');
SELECT is(
	(SELECT extversion FROM pg_extension WHERE extname = 'points'),
	'0.1.0',
	'installed version is 0.1.0');
SELECT is(
	(SELECT default_version FROM pg_available_extensions WHERE name = 'points'),
	'0.1.0',
	'default version is 0.1.0');
SELECT is(
	(SELECT extrelocatable FROM pg_extension WHERE extname = 'points'),
	false,
	'points is not relocatable');
SELECT throws_ok(
	'ALTER EXTENSION points SET SCHEMA public',
	'0A000',
	NULL,
	'SET SCHEMA is refused');

-- Dropped and created again inside this transaction (rolled back below).
-- The schema that CREATE EXTENSION made is not a member of the extension:
-- DROP EXTENSION leaves it (empty), and CREATE EXTENSION reuses it.
DROP EXTENSION points;
SELECT hasnt_extension('points', 'DROP EXTENSION removes points');
SELECT has_schema('points', 'DROP EXTENSION leaves schema points');
CREATE EXTENSION points;
SELECT has_extension('points', 'points', 'CREATE EXTENSION again: back in schema points');

SELECT * FROM finish();
ROLLBACK;
