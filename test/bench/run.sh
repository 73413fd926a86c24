#!/usr/bin/env bash
# The benchmark suite of points (not part of the test command).
#
#   bash test/bench/run.sh            # full run, about 30 minutes
#   bash test/bench/run.sh --quick    # smoke run of the script, about 2 minutes
#
# Starts a throwaway server of its own (port 5640, unix socket only, in a
# temporary directory, removed at the end; synchronous_commit on, fsync on,
# shared_buffers 1GB), loads a dataset of CUSTOMERS customers with points.grant
# and points.consume, and measures with pgbench and the scripts in test/bench/
# (random customers), each figure against its baseline in the same run, runs
# of subject and baseline interleaved, medians printed:
#   - writes (grant, grant with a ref, consume from 1 and from 5 grants,
#     hold + capture, earn by a ratio rule, transfer, redeem) as a ratio of
#     the throughput of a bare one-row INSERT into a plain table as wide as a
#     journal entry, at 1 and 8 clients;
#   - reads (balance, account, quote) as a ratio of a primary-key SELECT;
#   - consume on a customer with 10,000 past entries against a fresh one
#     (latency ratio, 1 client);
#   - one hot customer at 8 clients: throughput, PT001 counted, any other
#     error aborts, and the server log is searched for deadlocks;
#   - the expiry sweep (CALL points.run_maintenance()) of EXPIRE_GRANTS due
#     grants against one UPDATE of as many rows (as test/bench/expire.sh);
#   - points.outstanding and points.liability over all customers (median of
#     5, EXPLAIN (ANALYZE, BUFFERS) in BENCH_OUT/explain-reports.log);
#   - bytes on disk per grant and per entry, indexes included.
# Functions the installed extension lacks (earn, redeem, quote, liability)
# are reported as n/a.  Ends with points.verify() over everything written.
#
# Environment (defaults: full / --quick):
#   BENCH_SECONDS    seconds per pgbench run (10 / 2)
#   BENCH_RUNS       runs of each subject and of its baseline (3 / 1)
#   BENCH_CLIENTS    client counts of the writes and reads ("1 8")
#   BENCH_CUSTOMERS  customers of the dataset (100000 / 5000)
#   BENCH_HISTORY    past entries of the history customer (10000)
#   BENCH_WARMUP     seconds of untimed warm-up after the load (30 / 3)
#   BENCH_EXPIRE=0   skip the expiry sweep (it loads EXPIRE_GRANTS grants)
#   EXPIRE_GRANTS    due grants of the sweep (1000000 / 20000)
#   EXPIRE_CUSTOMERS customers they belong to (100000 / 2000)
#   BENCH_MODE       pgbench query mode (prepared)
#   BENCH_ONLY       run only these sections (words of: reports writes reads
#                    history hot expire verify), e.g. BENCH_ONLY="writes"
#   BENCH_OPS        only these write/read operations, e.g. "grant consume1"
#   BENCH_VERIFY_TIMEOUT  seconds points.verify() may take at the end (300 / 60)
# and PG_BINDIR, BENCH_PORT, BENCH_OUT, BENCH_KEEP, BENCH_JOBS (lib.sh).
# The machine is shared with whatever else runs on it: interleaving and
# medians reduce drift, not noise; compare ratios, not absolute figures.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

QUICK=0
for arg in "$@"; do
	case $arg in
		--quick) QUICK=1 ;;
		-h | --help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) bench_say "unknown argument $arg"; exit 2 ;;
	esac
done
if [ "$QUICK" = 1 ]; then
	SECONDS_=${BENCH_SECONDS:-2}
	RUNS=${BENCH_RUNS:-1}
	CUSTOMERS=${BENCH_CUSTOMERS:-5000}
	EXPIRE_GRANTS=${EXPIRE_GRANTS:-20000}
	EXPIRE_CUSTOMERS=${EXPIRE_CUSTOMERS:-2000}
else
	SECONDS_=${BENCH_SECONDS:-10}
	RUNS=${BENCH_RUNS:-3}
	CUSTOMERS=${BENCH_CUSTOMERS:-100000}
	EXPIRE_GRANTS=${EXPIRE_GRANTS:-1000000}
	EXPIRE_CUSTOMERS=${EXPIRE_CUSTOMERS:-100000}
fi
HISTORY=${BENCH_HISTORY:-10000}
CLIENTS=${BENCH_CLIENTS:-1 8}
ONLY=${BENCH_ONLY:-reports writes reads history hot expire verify}
[ "${BENCH_EXPIRE:-1}" = 0 ] && ONLY=${ONLY//expire/}
OPS=${BENCH_OPS:-}
VERIFY_TIMEOUT=${BENCH_VERIFY_TIMEOUT:-$([ "$QUICK" = 1 ] && echo 60 || echo 300)}

section() { [[ " $ONLY " == *" $1 "* ]]; }
op_wanted() { [ -z "$OPS" ] || [[ " $OPS " == *" $1 "* ]]; }
progress() { printf '  %s\n' "$*" >&2; }

# The figure table, printed at the end: one line per figure.
TABLE=()
row() { TABLE+=("$(printf '%-30s %7s %15s %15s %7s %17s  %s' "$@")"); }
# target RATIO OP LIMIT: PASS or MISS
target() {
	awk -v r="$1" -v op="$2" -v lim="$3" 'BEGIN {
		if (r == "" || r == "n/a" || r == "ERR") { print "-"; exit }
		ok = (op == ">=") ? (r >= lim) : (r <= lim)
		printf "%s %s %s", (ok ? "PASS" : "MISS"), op, lim }'
}
ERRORS=0

# pair NAME CLIENTS SUBJECT BASELINE [PGBENCH ARGS]: RUNS runs of each, in
# turn (baseline first on odd runs, subject first on even ones); sets
# SUBJ_TPS, BASE_TPS (medians), RATIO (their ratio), SUBJ_CPU, BASE_CPU
# (median server CPU per transaction), CPU_RATIO (baseline CPU / subject
# CPU: the throughput ratio the server would reach on CPUs of its own) and
# PAIR_ERR.
pair() {
	local name=$1 clients=$2 subj=$3 base=$4
	shift 4
	local r which st=() bt=() sc=() bc=()
	PAIR_ERR=0
	for ((r = 1; r <= RUNS; r++)); do
		for which in $([ $((r % 2)) = 1 ] && echo base subj || echo subj base); do
			if [ "$which" = base ]; then
				bench_pgbench "$clients" "$SECONDS_" "$base" "$@"
				bt+=("$PGB_TPS")
				bc+=("$PGB_CPU_US")
			else
				bench_pgbench "$clients" "$SECONDS_" "$subj" "$@"
				st+=("$PGB_TPS")
				sc+=("$PGB_CPU_US")
			fi
			if [ "$PGB_FAILED" != 0 ] || [ "$PGB_ABORTED" != 0 ]; then
				PAIR_ERR=1
				bench_say "$name ($which, $clients clients): $PGB_FAILED failed, $PGB_ABORTED aborted; see $PGB_LOG"
			fi
		done
	done
	SUBJ_TPS=$(median "${st[@]}")
	BASE_TPS=$(median "${bt[@]}")
	RATIO=$(awk -v s="$SUBJ_TPS" -v b="$BASE_TPS" 'BEGIN { if (b > 0) printf "%.2f", s / b; else print "n/a" }')
	SUBJ_CPU=$(median "${sc[@]}")
	BASE_CPU=$(median "${bc[@]}")
	CPU_RATIO=$(awk -v s="$SUBJ_CPU" -v b="$BASE_CPU" 'BEGIN { if (s > 0) printf "%.2f", b / s; else print "n/a" }')
	progress "$name, $clients clients: $SUBJ_TPS/s against $BASE_TPS/s (runs: ${st[*]} / ${bt[*]}); server CPU $SUBJ_CPU us against $BASE_CPU us per transaction (runs: ${sc[*]} / ${bc[*]})"
}

fmt() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }

# measure NAME SCRIPT BASELINE UNIT TARGET_OP TARGET_LIMIT TARGET_CLIENTS [ARGS]
measure() {
	local name=$1 script=$2 base=$3 unit=$4 top=$5 tlim=$6 tclients=$7
	shift 7
	local c t
	for c in $CLIENTS; do
		pair "$name" "$c" "$script" "$base" "$@"
		t=-
		if [ "$PAIR_ERR" = 1 ]; then
			ERRORS=$((ERRORS + 1))
			RATIO=ERR
		fi
		if [ -n "$top" ] && [ "$c" = "$tclients" ]; then
			t="$(target "$RATIO" "$top" "$tlim"); by CPU: $(target "$CPU_RATIO" "$top" "$tlim" | cut -d' ' -f1)"
		fi
		row "$name" "$c" "$(fmt "$SUBJ_TPS") $unit" "$(fmt "$BASE_TPS") $unit" "${RATIO}x" \
			"$(fmt "$SUBJ_CPU")/$(fmt "$BASE_CPU") ${CPU_RATIO}x" "$t"
		eval "TPS_${script%.sql}_$c=$SUBJ_TPS"
	done
}

na_row() { row "$1" - - - n/a - "(points.$2 not in the installed extension)"; }

# ---------------------------------------------------------------------------

echo "points benchmark ($([ "$QUICK" = 1 ] && echo quick || echo full)): $SECONDS_ s x $RUNS runs per figure, clients: $CLIENTS"
bench_server
bench_create
bench_machine
echo "output:   $BENCH_OUT"
bench_load "$CUSTOMERS" "$HISTORY"
NCUST=$CUSTOMERS

# Bytes on disk per row, indexes and TOAST included.
sizes() {
	bench_value "SELECT string_agg(format('%s %s B/row (%s rows, %s)', label, round(pg_total_relation_size(rel) / greatest(n, 1)),
	                                      n, pg_size_pretty(pg_total_relation_size(rel))), E'\n' ORDER BY ord)
	FROM (VALUES (1, 'grant (points.lots):       ', 'points.lots'::regclass, (SELECT count(*) FROM points.lots)),
	             (2, 'entry (points.entries):    ', 'points.entries'::regclass, (SELECT count(*) FROM points.entries)),
	             (3, 'allocation:                ', 'points.allocations'::regclass, (SELECT count(*) FROM points.allocations)),
	             (4, 'account (points.accounts): ', 'points.accounts'::regclass, (SELECT count(*) FROM points.accounts))) v(ord, label, rel, n)"
}
echo "size on disk after the load (table + indexes + TOAST, divided by rows):"
sizes | sed 's/^/  /'
GRANT_BYTES=$(bench_value "SELECT round(pg_total_relation_size('points.lots') / greatest(count(*), 1)) FROM points.lots")
ENTRY_BYTES=$(bench_value "SELECT round(pg_total_relation_size('points.entries') / greatest(count(*), 1)) FROM points.entries")
WARMUP=${BENCH_WARMUP:-$([ "$QUICK" = 1 ] && echo 3 || echo 30)}
bench_warmup "$WARMUP" "$CUSTOMERS"

# ---------------------------------------------------------------------------
# Reports over all customers: median of 5, EXPLAIN (ANALYZE, BUFFERS) logged.
if section reports; then
	echo "reports..." >&2
	for rel in outstanding liability; do
		if ! bench_has_relation "$rel"; then
			na_row "SELECT * FROM $rel" "$rel"
			continue
		fi
		{
			echo "=== SELECT * FROM points.$rel ($CUSTOMERS customers)"
			bench_psql -c "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM points.$rel"
		} >>"$BENCH_OUT/explain-reports.log"
		ms=()
		for r in 1 2 3 4 5; do
			ms+=("$(bench_value "SELECT round(bench.time_query('SELECT * FROM points.$rel')::numeric, 1)")")
		done
		m=$(median "${ms[@]}")
		progress "points.$rel: $m ms (runs: ${ms[*]})"
		row "SELECT * FROM $rel" 1 "$m ms" - - - "$(bench_value "SELECT count(*) FROM points.$rel") rows; median of 5"
	done
fi

# settle: VACUUM (ANALYZE) the tables a section reads and writes, so that
# the autovacuum work the load or the section before left (millions of new
# journal rows after the writes) does not run during its measurements, on
# the same CPUs as the server.
settle() {
	bench_psql -c 'VACUUM (ANALYZE) points.lots, points.accounts, points.entries, points.allocations, bench.plain, bench.kv'
}

# ---------------------------------------------------------------------------
# Writes against one bare INSERT (hold + capture: against two).
if section writes; then
	echo "writes..." >&2
	settle
	D=(-D "ncust=$NCUST")
	op_wanted grant && measure "grant" grant.sql base_insert.sql tx/s ">=" 0.7 8 "${D[@]}"
	op_wanted grant_ref && measure "grant with ref" grant_ref.sql base_insert.sql tx/s "" "" "" "${D[@]}"
	op_wanted consume1 && measure "consume (1 grant)" consume1.sql base_insert.sql tx/s ">=" 0.6 8 "${D[@]}"
	op_wanted hold_capture && measure "hold + capture (2 tx)" hold_capture.sql base_insert2.sql pairs/s "" "" "" "${D[@]}"
	if op_wanted earn; then
		if bench_has_function earn; then
			measure "earn (ratio rule)" earn.sql base_insert.sql tx/s "" "" "" "${D[@]}"
		else
			na_row "earn (ratio rule)" earn
		fi
	fi
	op_wanted transfer && measure "transfer" transfer.sql base_insert.sql tx/s "" "" "" "${D[@]}"
	if op_wanted redeem; then
		if bench_has_function redeem; then
			measure "redeem" redeem.sql base_insert.sql tx/s "" "" "" "${D[@]}"
		else
			na_row redeem redeem
		fi
	fi
fi

# ---------------------------------------------------------------------------
# Reads against a primary-key SELECT.
if section reads; then
	echo "reads..." >&2
	settle
	D=(-D "ncust=$NCUST")
	op_wanted balance && measure "balance" balance.sql base_select.sql tx/s ">=" 0.8 8 "${D[@]}"
	op_wanted account && measure "account" account.sql base_select.sql tx/s "" "" "" "${D[@]}"
	if op_wanted quote; then
		if bench_has_function quote; then
			measure "quote" quote.sql base_select.sql tx/s "" "" "" "${D[@]}"
		else
			na_row quote quote
		fi
	fi
fi

# ---------------------------------------------------------------------------
# History: consume on h1 (HISTORY past entries) against f1 (none), 1 client.
if section history; then
	echo "history..." >&2
	hl=()
	fl=()
	hc=()
	fc=()
	for ((r = 1; r <= RUNS; r++)); do
		for who in $([ $((r % 2)) = 1 ] && echo f1 h1 || echo h1 f1); do
			bench_pgbench 1 "$SECONDS_" history.sql -D "cust=$who"
			if [ "$PGB_FAILED" != 0 ] || [ "$PGB_ABORTED" != 0 ]; then
				ERRORS=$((ERRORS + 1))
				bench_say "history ($who) failed; see $PGB_LOG"
			fi
			if [ "$who" = h1 ]; then hl+=("$PGB_LAT"); hc+=("$PGB_CPU_US"); else fl+=("$PGB_LAT"); fc+=("$PGB_CPU_US"); fi
		done
	done
	hm=$(median "${hl[@]}")
	fm=$(median "${fl[@]}")
	hr=$(awk -v h="$hm" -v f="$fm" 'BEGIN { printf "%.2f", h / f }')
	progress "consume latency: h1 $hm ms (runs: ${hl[*]}), f1 $fm ms (runs: ${fl[*]})"
	hcr=$(awk -v h="$(median "${hc[@]}")" -v f="$(median "${fc[@]}")" 'BEGIN { if (f > 0) printf "%.2f", h / f; else print "n/a" }')
	row "consume, $HISTORY-entry history" 1 "$hm ms" "$fm ms" "${hr}x" "$(fmt "$(median "${hc[@]}")")/$(fmt "$(median "${fc[@]}")") ${hcr}x" \
		"$(target "$hr" "<=" 1.1) (latency vs a fresh customer); by CPU: $(target "$hcr" "<=" 1.1 | cut -d' ' -f1)"
fi

# ---------------------------------------------------------------------------
# One hot customer, 8 clients.
if section hot; then
	echo "hot customer..." >&2
	deadlocks_before=$(grep -c 'deadlock detected' "$BENCH_TMP/postgres.log" || true)
	ht=()
	hfail=0
	htx=0
	for ((r = 1; r <= RUNS; r++)); do
		bench_pgbench 8 "$SECONDS_" hot.sql
		ht+=("$PGB_TPS")
		hfail=$((hfail + PGB_FAILED + PGB_ABORTED))
		htx=$((htx + PGB_TX))
		[ "$PGB_ABORTED" = 0 ] || bench_say "hot customer: a client aborted; see $PGB_LOG"
	done
	deadlocks=$(($(grep -c 'deadlock detected' "$BENCH_TMP/postgres.log" || true) - deadlocks_before))
	pt001=$(bench_value "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM bench.pt001")
	hm=$(median "${ht[@]}")
	progress "hot customer: $hm tx/s (runs: ${ht[*]}); $htx transactions, $pt001 PT001, $hfail other errors, $deadlocks deadlocks"
	verdict=PASS
	if [ "$hfail" != 0 ] || [ "$deadlocks" != 0 ]; then verdict=MISS; ERRORS=$((ERRORS + 1)); fi
	row "hot customer (mixed ops)" 8 "$(fmt "$hm") tx/s" - - - "$verdict: $htx tx, $pt001 PT001, $hfail other errors, $deadlocks deadlocks"
fi

# ---------------------------------------------------------------------------
# Consume from 5 grants, last of the pgbench figures: its pool of customers
# (5 grants for every transaction) would otherwise enlarge the tables that
# the figures after it read.
if section writes && op_wanted consume5; then
	echo "writes (consume from 5 grants)..." >&2
	D=(-D "ncust=$NCUST")
	# the pool: every consume takes a customer of its own; sized from the
	# consume of one grant (faster than from five), as measured above or,
	# when it was not (BENCH_OPS), by a 3-second probe, with a margin
	need=0
	for c in $CLIENTS; do
		v=TPS_consume1_$c
		if [ -z "${!v:-}" ]; then
			bench_pgbench "$c" 3 consume1.sql "${D[@]}"
			printf -v "$v" '%s' "$PGB_TPS"
		fi
		need=$(awk -v n="$need" -v t="${!v}" -v s="$SECONDS_" -v r="$RUNS" 'BEGIN { printf "%d", n + t * s * r * 1.3 + 500 }')
	done
	t0=$(now)
	bench_parallel pool "CALL bench.load_pool(1, $need, @J@, @JOBS@)"
	progress "consume (5 grants): pool of $need customers with 5 grants each loaded in $(secs "$t0" "$(now)") s"
	settle
	measure "consume (5 grants)" consume5.sql base_insert.sql tx/s ">=" 0.6 8 "${D[@]}"
fi

# ---------------------------------------------------------------------------
# The expiry sweep against a set-based UPDATE (as test/bench/expire.sh).
if section expire; then
	echo "expiry sweep: loading $EXPIRE_GRANTS due grants..." >&2
	t0=$(now)
	bench_parallel due "CALL bench.load_due($EXPIRE_GRANTS, $EXPIRE_CUSTOMERS, @J@, @JOBS@)"
	t1=$(now)
	loaded=$(bench_value "SELECT count(*) FROM points.lots WHERE type = 'sweep'")
	echo "load:     $loaded due grants over $EXPIRE_CUSTOMERS customers in $(secs "$t0" "$t1") s"
	bench_psql -c "CREATE TABLE bench.sweep_plain AS SELECT * FROM points.lots WHERE type = 'sweep'" \
		-c 'ALTER TABLE bench.sweep_plain ADD PRIMARY KEY (id)' \
		-c 'VACUUM (ANALYZE)' -c 'CHECKPOINT'
	t0=$(now)
	bench_psql -c 'CALL points.run_maintenance(10000)'
	t1=$(now)
	sweep=$(secs "$t0" "$t1")
	expired=$(bench_value "SELECT count(*) FROM points.lots WHERE type = 'sweep' AND NOT open")
	left=$(bench_value "SELECT count(*) FROM points.lots WHERE type = 'sweep' AND open")
	bench_psql -c 'CHECKPOINT'
	t0=$(now)
	bench_psql -c 'UPDATE bench.sweep_plain SET remaining = 0'
	t1=$(now)
	update=$(secs "$t0" "$t1")
	srate=$(awk -v n="$expired" -v s="$sweep" 'BEGIN { printf "%.0f", n / s }')
	urate=$(awk -v n="$loaded" -v s="$update" 'BEGIN { printf "%.0f", n / s }')
	sratio=$(awk -v a="$srate" -v b="$urate" 'BEGIN { printf "%.2f", a / b }')
	progress "sweep: $expired expired in $sweep s, $left left; UPDATE of $loaded rows in $update s"
	[ "$expired" = "$loaded" ] && [ "$left" = 0 ] || { ERRORS=$((ERRORS + 1)); bench_say "the sweep left $left due grants"; }
	row "expiry sweep (run_maintenance)" 1 "$srate grants/s" "$urate rows/s" "${sratio}x" - \
		"$(target "$srate" ">=" 100000) grants/s; $expired grants in $sweep s"
fi

# ---------------------------------------------------------------------------
row "bytes per grant (lots)" - "$GRANT_BYTES B" - - - "table + indexes / rows, after the load"
row "bytes per entry (entries)" - "$ENTRY_BYTES B" - - - "table + indexes / rows, after the load"

if section verify; then
	echo "verify..." >&2
	t0=$(now)
	if violations=$(bench_psql -At -c "SET statement_timeout = '${VERIFY_TIMEOUT}s'" -c "SELECT count(*) FROM points.verify()" 2>"$BENCH_OUT/verify.err"); then
		echo "verify:   points.verify() found $violations violations in $(secs "$t0" "$(now)") s"
		row "points.verify()" 1 "$(secs "$t0" "$(now)") s" - - - "$violations violations over $(bench_value 'SELECT count(*) FROM points.entries') entries"
		[ "$violations" = 0 ] || { ERRORS=$((ERRORS + 1)); bench_psql -c 'SELECT * FROM points.verify() LIMIT 20'; }
	else
		echo "verify:   points.verify() did not finish within ${VERIFY_TIMEOUT} s (BENCH_VERIFY_TIMEOUT): $(head -n 1 "$BENCH_OUT/verify.err")"
		row "points.verify()" 1 ">${VERIFY_TIMEOUT} s" - - - "timed out over $(bench_value 'SELECT count(*) FROM points.entries') entries"
	fi
fi

deadlocks=$(grep -c 'deadlock detected' "$BENCH_TMP/postgres.log" || true)
echo
echo "Figures (medians of $RUNS x $SECONDS_ s; ratio = subject / baseline throughput; baseline of writes: one-row"
echo "INSERT, of hold + capture: two one-row INSERTs in two transactions, of reads: primary-key SELECT; cpu us/tx ="
echo "server CPU per transaction, subject/baseline, and baseline/subject: the throughput ratio on CPUs of its own):"
printf '%-30s %7s %15s %15s %7s %17s  %s\n' operation clients subject baseline ratio "cpu us/tx, ratio" "target / notes"
printf '%s\n' "${TABLE[@]}"
echo
echo "server log: $deadlocks deadlocks; errors during the measurements: $ERRORS; logs in $BENCH_OUT"
[ "$ERRORS" = 0 ]
