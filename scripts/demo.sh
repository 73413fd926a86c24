#!/usr/bin/env bash
# The run command: bash scripts/demo.sh        start (or refresh) the demo
#                  bash scripts/demo.sh stop   stop it and remove its cluster
#
# Installs what is missing, builds and installs the extension, starts a
# throwaway cluster in .demo/ (gitignored; owned by postgres when run as
# root; it listens only on a unix socket in .demo/, port 5499), with pg_cron
# preloaded for database points_demo. Then (re)creates points_demo with
# pg_cron and points, runs demo/demo.sql and prints what it selects.
# Re-runnable: a running cluster is kept, the demo database made anew.
#
# Environment: POINTS_DEMO_DIR (default .demo in the checkout),
# POINTS_DEMO_PORT (default 5499), POINTS_CFLAGS (see scripts/common.sh).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DEMO_DIR=${POINTS_DEMO_DIR:-$POINTS_ROOT/.demo}
DEMO_DB=points_demo
POINTS_PORT=${POINTS_DEMO_PORT:-5499}

case "${1:-start}" in
start) ;;
stop)
	if [ -d "$DEMO_DIR" ]; then
		points_cluster_stop "$DEMO_DIR"
		rm -rf "$DEMO_DIR"
		say "demo cluster stopped and $DEMO_DIR removed"
	else
		say "no demo cluster in $DEMO_DIR"
	fi
	exit 0
	;;
*) die "usage: bash scripts/demo.sh [start|stop]" ;;
esac

points_install_deps
points_build
points_install

if [ ! -f "$DEMO_DIR/data/PG_VERSION" ]; then
	rm -rf "$DEMO_DIR"
	mkdir -p "$DEMO_DIR"
	DEMO_DIR=$(cd "$DEMO_DIR" && pwd)
	pg_owned_dir "$DEMO_DIR"
	if ! as_pg test -w "$DEMO_DIR/." 2>/dev/null; then
		rmdir "$DEMO_DIR" 2>/dev/null || true
		die "$(pg_os_user) cannot use $DEMO_DIR: set POINTS_DEMO_DIR to a directory it can reach"
	fi
	say "creating the demo cluster in $DEMO_DIR"
	points_cluster_init "$DEMO_DIR" "$DEMO_DB"
else
	DEMO_DIR=$(cd "$DEMO_DIR" && pwd)
fi
was_running=false
if points_cluster_running "$DEMO_DIR"; then
	was_running=true
else
	say "starting the demo cluster (port $POINTS_PORT, socket in $DEMO_DIR)"
	points_cluster_start "$DEMO_DIR"
fi

say "creating database $DEMO_DB"
# FORCE: pg_cron's launcher stays connected to its database.
points_psql "$DEMO_DIR" postgres -c 'SET client_min_messages = warning' \
	-c "DROP DATABASE IF EXISTS $DEMO_DB WITH (FORCE)" -c "CREATE DATABASE $DEMO_DB"
if $was_running; then
	# Terminated by the DROP, pg_cron's launcher exits for good: a restart
	# brings it back (when the database is missing it retries on its own).
	as_pg "$PG_BINDIR/pg_ctl" -D "$DEMO_DIR/data" -l "$DEMO_DIR/postgres.log" -m fast -w restart >/dev/null ||
		die "could not restart the demo cluster (see $DEMO_DIR/postgres.log)"
fi
points_psql "$DEMO_DIR" "$DEMO_DB" -c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION points'

say "running demo/demo.sql"
echo
# Fed on stdin: the file need not be readable by postgres.
points_psql "$DEMO_DIR" "$DEMO_DB" --echo-queries -f - <"$POINTS_ROOT/demo/demo.sql"

env_prefix=""
[ -n "${POINTS_DEMO_DIR:-}" ] && env_prefix+="POINTS_DEMO_DIR=$DEMO_DIR "
[ -n "${POINTS_DEMO_PORT:-}" ] && env_prefix+="POINTS_DEMO_PORT=$POINTS_PORT "
cat <<EOF

The demo cluster is running. Connect with:
  psql -h $DEMO_DIR -p $POINTS_PORT -U postgres $DEMO_DB
Run the demo again (same cluster, new database): ${env_prefix}bash scripts/demo.sh
Stop it and remove the cluster:                  ${env_prefix}bash scripts/demo.sh stop
EOF
