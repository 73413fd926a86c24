# shellcheck shell=bash
# Shared by test/model/run.sh, test/chaos/run.sh and test/crash/run.sh
# (sourced, not run): a throwaway PostgreSQL 15 cluster of their own, in a
# temporary directory, listening only on a unix socket there (the port is
# just the socket's name), stopped and removed on exit whatever happened.
#
# Run as root, the server runs as the postgres OS user (PostgreSQL refuses
# root) and the directory is chowned to it; run as anyone else, as that
# user.  The extension must be installed already (make install).
#
# Environment (all optional):
#   PG_BINDIR   server binaries (default: $PG_CONFIG --bindir, else
#               /usr/lib/postgresql/15/bin)
#   REL_KEEP=1  keep the temporary directory (data directory and log)

set -euo pipefail

if [ -z "${PG_BINDIR:-}" ]; then
	if [ -n "${PG_CONFIG:-}" ] && [ -x "${PG_CONFIG}" ]; then
		PG_BINDIR=$("$PG_CONFIG" --bindir)
	else
		PG_BINDIR=/usr/lib/postgresql/15/bin
	fi
fi
REL_NAME=${REL_NAME:-$(basename "$(dirname "$0")")}
REL_DIR=
REL_PORT=${REL_PORT:-5620}
REL_DB=${REL_DB:-points_rel}

rel_say() { printf '%s: %s\n' "$REL_NAME" "$*" >&2; }

rel_as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

rel_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if declare -F rel_before_cleanup >/dev/null; then rel_before_cleanup || true; fi
	if [ -n "$REL_DIR" ]; then
		if [ -f "$REL_DIR/data/postmaster.pid" ]; then
			rel_as_pg "$PG_BINDIR/pg_ctl" -D "$REL_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
		fi
		if [ "${REL_KEEP:-}" = 1 ]; then
			rel_say "kept $REL_DIR"
		else
			rm -rf "$REL_DIR"
		fi
	fi
	exit "$rc"
}

# rel_init [EXTRA_CONF_LINE...]: a new cluster in a temporary directory
# /tmp/t7NAME.XXXXXX (TMPDIR is not used: the socket path must stay short).
rel_init() {
	trap rel_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	[ -x "$PG_BINDIR/initdb" ] || { rel_say "no initdb in $PG_BINDIR (set PG_BINDIR)"; exit 2; }
	REL_DIR=$(mktemp -d "/tmp/t7$REL_NAME.XXXXXX")
	chmod 755 "$REL_DIR"
	if [ "$(id -u)" -eq 0 ]; then chown postgres: "$REL_DIR"; fi
	rel_as_pg "$PG_BINDIR/initdb" -D "$REL_DIR/data" -U postgres -A trust -E UTF8 --locale=C -N \
		>"$REL_DIR/initdb.log" 2>&1 || { cat "$REL_DIR/initdb.log" >&2; exit 2; }
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$REL_DIR'"
		echo "port = $REL_PORT"
		echo "max_connections = 40"
		echo "log_min_messages = warning"
		echo "log_line_prefix = '%m [%p] '"
		for line in "$@"; do echo "$line"; done
	} | rel_as_pg tee -a "$REL_DIR/data/postgresql.conf" >/dev/null
}

rel_start() {
	rel_as_pg "$PG_BINDIR/pg_ctl" -D "$REL_DIR/data" -l "$REL_DIR/postgres.log" -w -t 60 start >/dev/null ||
		{ tail -n 30 "$REL_DIR/postgres.log" >&2; rel_say "the server did not start"; exit 2; }
}

# rel_psql DB ARGS...: psql as superuser postgres, stop on the first error.
rel_psql() {
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -h "$REL_DIR" -p "$REL_PORT" -U postgres -d "$db" "$@"
}

# rel_createdb: the database REL_DB with the points extension.
rel_createdb() {
	rel_psql postgres -c "CREATE DATABASE $REL_DB" >/dev/null
	rel_psql "$REL_DB" -c "CREATE EXTENSION points" >/dev/null
}

# The python3 to run the drivers with (stdlib only).
rel_python() {
	local p
	for p in "${PYTHON:-}" python3 /usr/bin/python3; do
		if [ -n "$p" ] && command -v "$p" >/dev/null 2>&1; then
			echo "$p"
			return 0
		fi
	done
	rel_say "python3 not found"
	exit 2
}
