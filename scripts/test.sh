#!/usr/bin/env bash
# The test command: bash scripts/test.sh [regress] [isolation] [pgtap] [e2e] [reliability]
#
# Installs what is missing (Debian packages), builds with warnings as errors,
# installs the extension, then runs the suites (all three by default):
#   regress    pg_regress: sql/*.sql vs expected/*.out (make installcheck)
#   isolation  isolation specs: test/specs/*.spec vs test/expected/*.out
#   pgtap      pgTAP: test/pgtap/*.sql with pg_prove against a throwaway cluster
#   reliability  the model-based test (3 seeds x 1,000 random operations against
#              a reference model), 10 s of concurrent chaos and 3 crash cycles:
#              test/model, test/chaos, test/crash (longer runs: docs/reliability.md)
#   e2e        end-to-end scripts: test/e2e/*.sh (pg_cron's scheduler, LISTEN),
#              each with a throwaway server of its own
# The suites run in parallel, as a non-root user: PostgreSQL refuses to run as
# root, so root copies the tree to a temp directory owned by postgres and runs
# them there as postgres. Every server is a throwaway one with pg_cron
# preloaded; all of them are stopped and removed at the end, also on failure.
#
# Counting: each pg_regress test and each isolation spec counts 1, each pgTAP
# assertion (each "ok"/"not ok" line) counts 1, and so does each check of an
# e2e script (its "ok"/"not ok" lines). A suite that cannot run or
# dies counts its tests that did not report as failed (at least 1). The last
# line is "N passed, N failed"; the exit status is 0 only when nothing failed.
#
# After the run, results/, regression.diffs, output_iso/ and log/ are copied
# back into the tree (all gitignored) for inspection; a failing run prints the
# diffs and the failing pgTAP output.
#
# Environment: POINTS_CFLAGS=-DUSE_ASSERT_CHECKING for a debug build (see
# scripts/common.sh); POINTS_TEST_SERIAL=1 runs the suites one after another;
# POINTS_KEEP_TMP=1 keeps the temp directory.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ALL_SUITES=(regress isolation pgtap e2e reliability)
if [ "$#" -eq 0 ]; then
	SUITES=("${ALL_SUITES[@]}")
else
	SUITES=()
	for s in "$@"; do
		case "$s" in
		regress | isolation | pgtap | e2e | reliability) SUITES+=("$s") ;;
		-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) die "unknown suite '$s' (regress, isolation, pgtap, e2e, reliability)" ;;
		esac
	done
fi

started=$SECONDS
points_install_deps
points_build
points_install

# The pgTAP cluster listens only on a unix socket in its own directory, so
# this port cannot clash with anything.
POINTS_PORT=5498
PGTAP_DB=points_test

work=$(mktemp -d /tmp/points-test.XXXXXX)
tree=$work/tree
bg_pids=()

cleanup() {
	local rc=$? d pid
	trap - EXIT INT TERM
	# Stop every server this run may have left behind (pg_regress stops its
	# own unless it was interrupted), then the suites still running.
	for d in "$work/pgtap" "$tree/tmp_check" "$tree/tmp_check_iso"; do
		points_cluster_stop "$d" 2>/dev/null || true
	done
	for pid in "${bg_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	if [ "${POINTS_KEEP_TMP:-}" = 1 ]; then
		say "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The tree the suites run in: the checkout without git metadata, the demo
# cluster or earlier test output.
mkdir -p "$tree" "$work/tmp"
shopt -s nullglob dotglob
for f in "$POINTS_ROOT"/*; do
	case "${f##*/}" in
	.git | .demo | results | log | output_iso | tmp_check | tmp_check_iso | regression.diffs | regression.out) ;;
	*) cp -a "$f" "$tree/" ;;
	esac
done
shopt -u dotglob
# A test without an expected output would stop pg_regress at that test: give
# it an empty one in the copy, so it fails with its whole output as the diff
# and the tests after it still run.
for f in "$tree"/sql/*.sql "$tree"/test/specs/*.spec; do
	name=$(basename "${f%.*}")
	case "$f" in
	*.sql) exp=$tree/expected ;;
	*) exp=$tree/test/expected ;;
	esac
	if [ ! -e "$exp/$name.out" ]; then
		say "no expected output for ${f#"$tree"/}: it will fail (results/ gets its output)"
		mkdir -p "$exp"
		: >"$exp/$name.out"
	fi
done
if is_root; then chown -R postgres:postgres "$work"; fi
cd "$work"
# pg_regress makes its socket directory under TMPDIR: keep it ours.
export TMPDIR=$work/tmp

# --- the suites: each writes $work/NAME.log and $work/NAME.rc --------------

suite_regress() {
	as_pg make -C "$tree" installcheck ISOLATION= </dev/null
}

suite_isolation() {
	as_pg make -C "$tree" installcheck REGRESS= </dev/null
}

# pgTAP: one database for all files, made ready with pg_cron, pgtap and
# points already created; each file runs in BEGIN ... ROLLBACK, so every file
# sees that same pristine state (a file that tests CREATE EXTENSION itself
# drops and recreates points inside its transaction). Files run one at a time,
# each with its own pg_prove so that a file that dies is accounted on its own.
suite_pgtap() {
	local dir=$work/pgtap f name rc
	points_cluster_init "$dir" "$PGTAP_DB" "fsync = off"
	points_cluster_start "$dir"
	points_psql "$dir" postgres -c "CREATE DATABASE $PGTAP_DB"
	points_psql "$dir" "$PGTAP_DB" -c 'CREATE EXTENSION pg_cron' \
		-c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION points'
	mkdir -p "$dir/out"
	for f in "$tree"/test/pgtap/*.sql; do
		name=$(basename "$f" .sql)
		rc=0
		as_pg pg_prove --norc --nocolor --verbose -h "$dir" -p "$POINTS_PORT" -U postgres \
			-d "$PGTAP_DB" "$f" >"$dir/out/$name.out" 2>&1 </dev/null || rc=$?
		echo "$name $rc" >>"$dir/files"
	done
}

# End-to-end scripts (test/e2e/*.sh but lib.sh), one after another: each
# starts and removes a server of its own, prints "ok"/"not ok" lines and
# PASS or FAIL, and exits non-zero on failure.  cron.sh waits for pg_cron's
# scheduler (about a minute).
suite_e2e() {
	local f name rc
	mkdir -p "$work/e2e"
	for f in "$tree"/test/e2e/*.sh; do
		name=$(basename "$f" .sh)
		[ "$name" = lib ] && continue
		rc=0
		as_pg env TMPDIR="$TMPDIR" PG_BINDIR="$PG_BINDIR" bash "$f" >"$work/e2e/$name.out" 2>&1 </dev/null || rc=$?
		echo "$name $rc" >>"$work/e2e/files"
	done
}

# Reliability suites (test/model, test/chaos, test/crash), one after
# another: each starts and removes a server of its own and ends with
# "N passed, N failed".
RELIABILITY=("model/run.sh" "chaos/run.sh --seconds 10" "crash/run.sh")
suite_reliability() {
	local r name rc
	mkdir -p "$work/reliability"
	for r in "${RELIABILITY[@]}"; do
		name=${r%%/*}
		rc=0
		# shellcheck disable=SC2086 # the options are words
		as_pg env PG_BINDIR="$PG_BINDIR" bash "$tree"/test/$r >"$work/reliability/$name.out" 2>&1 </dev/null || rc=$?
		echo "$name $rc" >>"$work/reliability/files"
	done
}

run_suite() {
	local rc
	# Not "|| rc=$?": that would switch off set -e inside the suite.
	set +e
	(
		set -e
		"suite_$1"
	) >"$work/$1.log" 2>&1
	rc=$?
	set -e
	echo "$rc" >"$work/$1.rc"
}

count_files() { # count_files GLOB...: how many exist
	local n=0 f
	for f in "$@"; do [ -e "$f" ] && n=$((n + 1)); done
	echo "$n"
}

declare -A EXPECTED=(
	[regress]=$(count_files "$tree"/sql/*.sql)
	[isolation]=$(count_files "$tree"/test/specs/*.spec)
	[pgtap]=$(count_files "$tree"/test/pgtap/*.sql)
	[e2e]=$(count_files "$tree"/test/e2e/*.sh)
	[reliability]=${#RELIABILITY[@]}
)
# test/e2e/lib.sh is sourced by the scripts, not one of them.
if [ -e "$tree/test/e2e/lib.sh" ]; then EXPECTED[e2e]=$((EXPECTED[e2e] - 1)); fi

say "running suites: ${SUITES[*]}"
for s in "${SUITES[@]}"; do
	if [ "${EXPECTED[$s]}" -eq 0 ]; then
		continue
	fi
	if [ "${POINTS_TEST_SERIAL:-}" = 1 ]; then
		run_suite "$s"
	else
		run_suite "$s" &
		bg_pids+=($!)
	fi
done
for pid in "${bg_pids[@]}"; do wait "$pid" || true; done
bg_pids=()

# --- counting and reporting ----------------------------------------------------

total_passed=0
total_failed=0
report=()

# pg_regress and pg_isolation_regress (PG 15) print one line per test:
#   "test NAME   ... ok   12 ms" or "... FAILED" (members of a parallel group
#   start with spaces instead of "test"); PG 16+ prints TAP: "ok 1 - NAME".
count_pg_regress() { # LOG EXPECTED -> "passed failed"
	local log=$1 expected=$2 rc=$3 p f
	p=$(grep -cE '^(test|    ) +[^ ]+ +\.\.\. ok( |$)|^ok [0-9]+ +[-+] ' "$log" || true)
	f=$(grep -cE '^(test|    ) +[^ ]+ +\.\.\. (FAILED|failed)|^not ok [0-9]+ +[-+] ' "$log" || true)
	if [ $((p + f)) -lt "$expected" ]; then f=$((expected - p)); fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	echo "$p $f"
}

print_block() { # TITLE FILE
	[ -s "$2" ] || return 0
	printf '\n----- %s -----\n' "$1"
	cat "$2"
}

# A crash or a failed assertion is only told in the server's log.
print_server_log() { # SUITE LOG
	[ -f "$2" ] || return 0
	if grep -qE 'TRAP:|terminated by signal|PANIC:|server process .* was terminated' "$2"; then
		printf '\n----- %s: server log (last 40 lines) -----\n' "$1"
		tail -n 40 "$2"
	fi
}

for s in "${SUITES[@]}"; do
	expected=${EXPECTED[$s]}
	if [ "$expected" -eq 0 ]; then
		report+=("$(printf '  %-10s no tests' "$s")")
		continue
	fi
	rc=$(cat "$work/$s.rc" 2>/dev/null || echo 99)
	case "$s" in
	regress | isolation)
		read -r p f < <(count_pg_regress "$work/$s.log" "$expected" "$rc")
		grep -E '^(test|    ) +[^ ]+ +\.\.\. |^(not )?ok [0-9]+ +[-+] ' "$work/$s.log" | sed "s/^/  $s: /" || true
		if [ "$f" -gt 0 ]; then
			if [ "$s" = regress ]; then out=.; else out=output_iso; fi
			if [ -s "$tree/$out/regression.diffs" ]; then
				print_block "$s: $out/regression.diffs" "$tree/$out/regression.diffs"
				print_server_log "$s" "$tree/$out/log/postmaster.log"
			else
				# No diffs: the suite itself broke (server did not start...).
				print_block "$s: output (exit status $rc)" "$work/$s.log"
				if [ -s "$tree/$out/log/postmaster.log" ]; then
					printf '\n----- %s: %s/log/postmaster.log (last 20 lines) -----\n' "$s" "$out"
					tail -n 20 "$tree/$out/log/postmaster.log"
				fi
			fi
		fi
		;;
	pgtap)
		p=0 f=0
		files_seen=0
		if [ -f "$work/pgtap/files" ]; then
			while read -r name frc; do
				out=$work/pgtap/out/$name.out
				files_seen=$((files_seen + 1))
				fp=$(grep -cE '^ok [0-9]+|^not ok [0-9]+.*# *TODO' "$out" || true)
				ff=$(grep -E '^not ok [0-9]+' "$out" | grep -cvE '# *TODO' || true)
				plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$out" | head -n 1)
				if [ "$frc" -ne 0 ]; then
					# Assertions planned but never reported failed too.
					if [ -n "$plan" ] && [ "$plan" -gt $((fp + ff)) ]; then
						ff=$((plan - fp))
					fi
					if [ "$ff" -eq 0 ]; then ff=1; fi
				fi
				printf '  pgtap: %-40s %d ok, %d failed\n' "$name" "$fp" "$ff"
				if [ "$ff" -gt 0 ]; then
					# Everything but the passing assertions.
					grep -v '^ok [0-9]' "$out" >"$out.failed" || true
					print_block "pgtap: $name (pg_prove exit status $frc)" "$out.failed"
				fi
				p=$((p + fp)) f=$((f + ff))
			done <"$work/pgtap/files"
		fi
		if [ "$files_seen" -lt "$expected" ]; then
			# The cluster could not start, or the extensions could not be created.
			f=$((f + expected - files_seen))
			print_block "pgtap: output (exit status $rc)" "$work/pgtap.log"
		elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1
			print_block "pgtap: output (exit status $rc)" "$work/pgtap.log"
		fi
		if [ "$f" -gt 0 ]; then print_server_log pgtap "$work/pgtap/postgres.log"; fi
		;;
	e2e)
		p=0 f=0
		files_seen=0
		if [ -f "$work/e2e/files" ]; then
			while read -r name frc; do
				out=$work/e2e/$name.out
				files_seen=$((files_seen + 1))
				fp=$(grep -c '^ok ' "$out" || true)
				ff=$(grep -c '^not ok ' "$out" || true)
				if [ "$frc" -ne 0 ] && [ "$ff" -eq 0 ]; then ff=1; fi
				printf '  e2e: %-42s %d ok, %d failed\n' "$name" "$fp" "$ff"
				if [ "$ff" -gt 0 ]; then
					print_block "e2e: $name (exit status $frc)" "$out"
				fi
				p=$((p + fp)) f=$((f + ff))
			done <"$work/e2e/files"
		fi
		if [ "$files_seen" -lt "$expected" ]; then
			f=$((f + expected - files_seen))
			print_block "e2e: output (exit status $rc)" "$work/e2e.log"
		fi
		;;
	reliability)
		p=0 f=0
		files_seen=0
		if [ -f "$work/reliability/files" ]; then
			while read -r name frc; do
				out=$work/reliability/$name.out
				files_seen=$((files_seen + 1))
				line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
				fp=0 ff=0
				if [ -n "$line" ]; then
					fp=${line%% passed*}
					ff=${line#*, }
					ff=${ff%% failed*}
				fi
				if [ "$frc" -ne 0 ] && [ "$ff" -eq 0 ]; then ff=1; fi
				printf '  reliability: %-34s %d ok, %d failed\n' "$name" "$fp" "$ff"
				if [ "$ff" -gt 0 ]; then
					print_block "reliability: $name (exit status $frc)" "$out"
				fi
				p=$((p + fp)) f=$((f + ff))
			done <"$work/reliability/files"
		fi
		if [ "$files_seen" -lt "$expected" ]; then
			f=$((f + expected - files_seen))
			print_block "reliability: output (exit status $rc)" "$work/reliability.log"
		fi
		;;
	esac
	report+=("$(printf '  %-10s %4d ok, %4d failed' "$s" "$p" "$f")")
	total_passed=$((total_passed + p))
	total_failed=$((total_failed + f))
done

# Keep the outputs in the checkout (gitignored), e.g. to accept a new output:
# cp results/NAME.out expected/NAME.out
copy_back=()
for s in "${SUITES[@]}"; do
	case "$s" in
	regress) copy_back+=(results regression.diffs regression.out log) ;;
	isolation) copy_back+=(output_iso) ;;
	esac
done
for f in "${copy_back[@]}"; do
	rm -rf "${POINTS_ROOT:?}/$f"
	if [ -e "$tree/$f" ]; then cp -r "$tree/$f" "$POINTS_ROOT/$f"; fi
done

echo
echo "suites (in $((SECONDS - started))s):"
printf '%s\n' "${report[@]}"
if [ $((total_passed + total_failed)) -eq 0 ]; then
	echo "no tests found"
	total_failed=1
fi
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
