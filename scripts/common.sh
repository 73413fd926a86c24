# shellcheck shell=bash
# Shared by scripts/test.sh and scripts/demo.sh (sourced, not run):
# installs what the build and the tests need, builds and installs the
# extension, and starts or stops a throwaway PostgreSQL cluster.
#
# Environment:
#   PG_MAJOR       PostgreSQL major version (default 15, the one supported).
#   PG_CONFIG      pg_config to build against (default that version's).
#   POINTS_CFLAGS  extra C flags for a debug build, e.g. -DUSE_ASSERT_CHECKING
#                  (the tree is rebuilt from clean whenever these change).

PG_MAJOR=${PG_MAJOR:-15}
PG_BINDIR=/usr/lib/postgresql/$PG_MAJOR/bin
export PG_CONFIG=${PG_CONFIG:-$PG_BINDIR/pg_config}
POINTS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
POINTS_CFLAGS=${POINTS_CFLAGS:-}

# Debian packages needed: the server, its PGXS headers (which pull clang-14
# and llvm-14-dev for the JIT bitcode PGXS builds), pgTAP, pg_prove, pg_cron,
# the C toolchain, and Python 3 for the reliability suites (test/model,
# test/chaos, test/crash: standard library only).
POINTS_PACKAGES=(
	"postgresql-$PG_MAJOR"
	"postgresql-server-dev-$PG_MAJOR"
	"postgresql-$PG_MAJOR-pgtap"
	"postgresql-$PG_MAJOR-cron"
	libtap-parser-sourcehandler-pgtap-perl
	make
	gcc
	python3
)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as root: directly, or through sudo for a developer.
as_root() {
	if is_root; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root for: $* (no sudo found)"
	fi
}

# Run a command as the user that owns the clusters: PostgreSQL refuses to
# run as root, so root hands over to the postgres OS user; anyone else runs
# the servers as themselves. The environment (PG_CONFIG, PATH) is kept.
as_pg() {
	if is_root; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# The user as_pg runs as.
pg_os_user() {
	if is_root; then echo postgres; else id -un; fi
}

# Make a directory owned by the as_pg user (root chowns it to postgres).
pg_owned_dir() {
	mkdir -p "$1"
	if is_root; then chown postgres:postgres "$1"; fi
}

points_missing_packages() {
	local pkg
	for pkg in "${POINTS_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null |
			grep -q '^install ok installed$' || echo "$pkg"
	done
}

# Install the missing Debian packages, quietly (the log is shown on failure).
points_install_deps() {
	local missing log
	command -v dpkg-query >/dev/null 2>&1 || die "not a Debian system: install ${POINTS_PACKAGES[*]} by hand"
	mapfile -t missing < <(points_missing_packages)
	if [ "${#missing[@]}" -eq 0 ]; then
		return 0
	fi
	say "installing ${missing[*]}"
	if ! dpkg-query -W -f='${Status}\n' "postgresql-$PG_MAJOR" 2>/dev/null | grep -q '^install ok installed$'; then
		# No default cluster on port 5432: every server here is a throwaway
		# one that these scripts start themselves.
		as_root mkdir -p /etc/postgresql-common/createcluster.d
		echo 'create_main_cluster = false' |
			as_root tee /etc/postgresql-common/createcluster.d/points-no-main-cluster.conf >/dev/null
	fi
	log=$(mktemp)
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get -q update >"$log" 2>&1 ||
		! as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends \
			install "${missing[@]}" >>"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		die "apt-get failed"
	fi
	rm -f "$log"
	[ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found after install"
}

# Build with the Makefile's warnings-as-errors flags. POINTS_CFLAGS goes in
# through PGXS's COPT; a change of flags since the last build cleans first.
points_build() {
	local stamp="$POINTS_ROOT/.build-flags"
	local before=""
	[ -f "$stamp" ] && before=$(cat "$stamp")
	if [ "$before" != "$POINTS_CFLAGS" ]; then
		say "build flags changed ('$before' -> '$POINTS_CFLAGS'): make clean"
		make -s -C "$POINTS_ROOT" clean >/dev/null
	fi
	say "building${POINTS_CFLAGS:+ with $POINTS_CFLAGS}"
	make -s -C "$POINTS_ROOT" -j"$(nproc)" COPT="$POINTS_CFLAGS" || die "build failed"
	printf '%s' "$POINTS_CFLAGS" >"$stamp"
}

# make install: as root directly; a developer gets sudo only where the
# install directories are not writable.
points_install() {
	local libdir extdir
	libdir=$("$PG_CONFIG" --pkglibdir)
	extdir=$("$PG_CONFIG" --sharedir)/extension
	say "installing into $libdir"
	if is_root || { [ -w "$libdir" ] && [ -w "$extdir" ]; }; then
		make -s -C "$POINTS_ROOT" install COPT="$POINTS_CFLAGS" >/dev/null || die "make install failed"
	else
		as_root env PG_CONFIG="$PG_CONFIG" make -s -C "$POINTS_ROOT" install COPT="$POINTS_CFLAGS" >/dev/null ||
			die "make install failed"
	fi
}

# The settings of every throwaway cluster: pg_cron preloaded, its jobs run in
# background workers (no TCP needed), scheduled from database $1.
points_pg_cron_conf() {
	cat <<EOF
shared_preload_libraries = 'pg_cron'
cron.database_name = '$1'
cron.use_background_workers = on
max_worker_processes = 20
EOF
}

# points_cluster_init DIR DBNAME [EXTRA_CONF]: a new cluster in DIR/data with
# superuser postgres, trust authentication and no TCP: it listens only on a
# unix socket in DIR, on port POINTS_PORT (default 5499), which is then just
# the socket's name and cannot clash with another server.
points_cluster_init() {
	local dir=$1 db=$2 extra=${3:-}
	pg_owned_dir "$dir"
	as_pg "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C -N \
		>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
	{
		echo
		echo "# added by scripts/common.sh"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		echo "port = ${POINTS_PORT:-5499}"
		points_pg_cron_conf "$db"
		if [ -n "$extra" ]; then printf '%s\n' "$extra"; fi
	} | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
}

points_cluster_start() {
	local dir=$1
	as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
		{ tail -n 30 "$dir/postgres.log" >&2; die "could not start the cluster in $dir"; }
}

points_cluster_running() {
	[ -f "$1/data/postmaster.pid" ] && as_pg "$PG_BINDIR/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

points_cluster_stop() {
	if points_cluster_running "$1"; then
		as_pg "$PG_BINDIR/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 ||
			as_pg "$PG_BINDIR/pg_ctl" -D "$1/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
}

# psql against the cluster in DIR as superuser postgres: points_psql DIR DB ARGS...
points_psql() {
	local dir=$1 db=$2
	shift 2
	as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "${POINTS_PORT:-5499}" -U postgres -d "$db" "$@"
}
