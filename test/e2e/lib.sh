# shellcheck shell=bash
# Shared by the end-to-end scripts in test/e2e (sourced, not run): a
# throwaway PostgreSQL server of their own, started and removed by them.
#
# Environment (all optional):
#   PG_BINDIR   PostgreSQL binaries (default: $PG_CONFIG --bindir, else
#               /usr/lib/postgresql/15/bin)
#   E2E_PORT    port of the server; it listens only on a unix socket in its
#               own temporary directory, so the port cannot clash with a
#               server on TCP (default: set by each script)
#   E2E_KEEP=1  keep the temporary directory (data directory and log)
# Run as root, the server and psql run as the postgres OS user (PostgreSQL
# refuses root); run as anyone else, as that user.  The extensions must be
# installed (make install; pg_cron from postgresql-15-cron).

set -euo pipefail

if [ -z "${PG_BINDIR:-}" ]; then
	if [ -n "${PG_CONFIG:-}" ] && [ -x "$PG_CONFIG" ]; then
		PG_BINDIR=$("$PG_CONFIG" --bindir)
	else
		PG_BINDIR=/usr/lib/postgresql/15/bin
	fi
fi
E2E_NAME=$(basename "$0" .sh)
E2E_DIR=
E2E_FAILED=0

e2e_say() { printf '%s: %s\n' "$E2E_NAME" "$*" >&2; }

e2e_as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# Stop the server and remove its directory, whatever happened.
e2e_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$E2E_DIR" ]; then
		if [ -f "$E2E_DIR/data/postmaster.pid" ]; then
			e2e_as_pg "$PG_BINDIR/pg_ctl" -D "$E2E_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
		fi
		if [ "${E2E_KEEP:-}" = 1 ]; then
			e2e_say "kept $E2E_DIR"
		else
			rm -rf "$E2E_DIR"
		fi
	fi
	exit "$rc"
}

# e2e_init: a new cluster in a temporary directory, not started.
e2e_init() {
	trap e2e_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	[ -x "$PG_BINDIR/initdb" ] || { e2e_say "no initdb in $PG_BINDIR (set PG_BINDIR)"; exit 2; }
	E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/points-$E2E_NAME.XXXXXX")
	if [ "$(id -u)" -eq 0 ]; then chown postgres: "$E2E_DIR"; fi
	e2e_as_pg "$PG_BINDIR/initdb" -D "$E2E_DIR/data" -U postgres -A trust -E UTF8 --locale=C -N \
		>"$E2E_DIR/initdb.log" 2>&1 || { cat "$E2E_DIR/initdb.log" >&2; exit 2; }
	e2e_conf <<-CONF
		listen_addresses = ''
		unix_socket_directories = '$E2E_DIR'
		port = $E2E_PORT
		fsync = off
	CONF
}

# e2e_conf: append stdin to postgresql.conf.
e2e_conf() {
	e2e_as_pg tee -a "$E2E_DIR/data/postgresql.conf" >/dev/null
}

e2e_start() {
	e2e_as_pg "$PG_BINDIR/pg_ctl" -D "$E2E_DIR/data" -l "$E2E_DIR/postgres.log" -w -t 60 start >/dev/null ||
		{ tail -n 30 "$E2E_DIR/postgres.log" >&2; exit 2; }
}

e2e_stop() {
	e2e_as_pg "$PG_BINDIR/pg_ctl" -D "$E2E_DIR/data" -m fast -w stop >/dev/null
}

# e2e_psql DB ARGS...: psql as superuser postgres, stopping at the first error.
e2e_psql() {
	local db=$1
	shift
	e2e_as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$E2E_DIR" -p "$E2E_PORT" \
		-U postgres -d "$db" "$@"
}

# e2e_value DB SQL: the single value a query returns.
e2e_value() {
	e2e_psql "$1" -At -c "$2"
}

# e2e_check DESCRIPTION COMMAND...: run a check, count and report it.
e2e_check() {
	local what=$1
	shift
	if "$@"; then
		printf 'ok - %s\n' "$what"
	else
		printf 'not ok - %s\n' "$what"
		E2E_FAILED=$((E2E_FAILED + 1))
	fi
}

# e2e_finish: PASS or FAIL, and the exit status.
e2e_finish() {
	if [ "$E2E_FAILED" -eq 0 ]; then
		echo "PASS: $E2E_NAME"
		exit 0
	fi
	echo "FAIL: $E2E_NAME ($E2E_FAILED failed)"
	if [ -f "$E2E_DIR/postgres.log" ]; then
		echo "--- last 40 lines of the server log ---"
		tail -n 40 "$E2E_DIR/postgres.log"
	fi
	exit 1
}
