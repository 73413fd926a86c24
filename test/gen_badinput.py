#!/usr/bin/env python3
"""Generate the bad-input pg_regress tests: sql/badinput_*.sql.

    python3 test/gen_badinput.py          # (re)write sql/badinput_*.sql
    python3 test/gen_badinput.py --list   # print the cases, write nothing
    python3 test/gen_badinput.py --check  # exit 1 if the files are out of date

Every function and procedure of the extension (read from the install
script's parts, src/sql/*.sql) is called with bad values in each argument,
one argument at a time, the other arguments valid:

  text         NULL, '', ' ', a 1 MB string, an unknown key
  numeric      NULL, NaN, Infinity, -Infinity, 0, -1, too many decimals,
               1e30 (out of range), 9223372036854775808
  bigint       NULL, 0, -1, 9223372036854775807 (ids that do not exist)
  integer      NULL, 0, -1, 2147483647
  timestamptz  NULL, infinity, -infinity, 4713 BC, 294276 AD
  interval     NULL, 0, -1 day, -178000000 years, 178000000 years
  boolean      NULL

and the configuration tables get rows with bad values in each column
(unknown time zones, negative intervals, NaN rates...).  What each call
must do: fail with a clear error with its own SQLSTATE (22004 for a NULL
where a value is needed, 22023 for a bad value, 22003 out of range, 42704
unknown object, ...), or succeed with a documented meaning (a NULL where
the function documents one, e.g. amount => NULL in capture() is the whole
hold).  Never XX000, never a crash, never a NULL result for a required
argument.

Each call runs in a subtransaction that is always rolled back, so every
case starts from the same ledger; each file shows the ledger's size before
and after and that verify() finds nothing.  The output shows the SQLSTATE
of each error, not its message (messages are for people, and a fix that
rewords one must not break this test); a line flagged "!!" is a bug:
XX000, or a NULL result for a required argument.  Run the files with
\\set messages on to see the messages (psql -v messages=on).

Cases that show a bug today are not in the generated files' expected
outputs as they behave: they go to sql/badinput_known_bugs.sql, whose
expected output says what they must do once fixed (KNOWN_BUGS below).

Re-run after adding a function: its cases appear; a function that this
script does not know how to call valid arguments for makes it stop with a
message naming it (add it to VALID).  The files check that every function
of the extension has cases (a function added without re-running this
script shows in the output).  Then run the tests and review the new output
line by line before copying results/badinput_*.out to expected/.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTS = os.path.join(ROOT, "src", "sql")
OUT = os.path.join(ROOT, "sql")

MB = "repeat('x', 1048576)"

# Bad values per SQL type: (label, SQL expression).
BAD = {
    "text": [("NULL", "NULL::text"), ("''", "''"), ("' '", "' '"),
             ("<1MB>", MB), ("'no-such'", "'no-such'")],
    "numeric": [("NULL", "NULL::numeric"), ("NaN", "'NaN'::numeric"),
                ("Infinity", "'Infinity'::numeric"),
                ("-Infinity", "'-Infinity'::numeric"), ("0", "0"),
                ("-1", "-1"), ("0.00001", "0.00001"), ("1e30", "1e30"),
                ("2^63", "9223372036854775808")],
    "bigint": [("NULL", "NULL::bigint"), ("0", "0"), ("-1", "-1"),
               ("2^63-1", "9223372036854775807")],
    "integer": [("NULL", "NULL::integer"), ("0", "0"), ("-1", "-1"),
                ("2^31-1", "2147483647")],
    "timestamptz": [("NULL", "NULL::timestamptz"),
                    ("infinity", "'infinity'::timestamptz"),
                    ("-infinity", "'-infinity'::timestamptz"),
                    ("4713 BC", "'4713-01-01 00:00:00+00 BC'::timestamptz"),
                    ("294276 AD", "'294276-12-31 23:59:59+00'::timestamptz")],
    "interval": [("NULL", "NULL::interval"), ("0", "'0'::interval"),
                 ("-1 day", "'-1 day'::interval"),
                 ("-178000000 years", "'-178000000 years'::interval"),
                 ("178000000 years", "'178000000 years'::interval")],
    "boolean": [("NULL", "NULL::boolean")],
}
TYPE_ALIASES = {"timestamp with time zone": "timestamptz", "int": "integer",
                "int4": "integer", "int8": "bigint", "bool": "boolean"}

# A valid value for each argument, by name (and function where it
# matters).  The ids come from the setup in each file (pg_temp.id()).
VALID_BY_NAME = {
    "type": "'bi_pts'",
    "customer": "'ann'",
    "from_customer": "'ann'",
    "to_customer": "'bob'",
    "amount": "10",
    "delta": "5",
    "reason": "'manual'",
    "ref": "'bi-ref'",
    "note": "'a note'",
    "expires_at": "'2999-01-01 00:00+00'::timestamptz",
    "available_at": "'2024-01-01 00:00+00'::timestamptz",
    "pending": "false",
    "at": "'2024-06-01 00:00+00'::timestamptz",
    "until": "'2999-01-01 00:00+00'::timestamptz",
    "hold_id": "pg_temp.id('hold')",
    "entry_id": "pg_temp.id('debit')",
    "grant_id": "pg_temp.id('grant')",
    "redemption_id": "pg_temp.id('redemption')",
    "policy": "'reject'",
    "reissue": "false",
    "batch": "10",
    "event": "'purchase'",
    "exclude": "0",
    "refunded": "5",
    "subtotal": "20",
    "tax": "0",
    "want": "100",
    "points": "100",
    "reward": "'mug'",
    "quantity": "100",
    "currency": "'MYR'",
    "within": "'30 days'::interval",
    "from": "'2024-01-01 00:00+00'::timestamptz",
    "from_expires_at": "'2024-01-01 00:00+00'::timestamptz",
    "from_id": "0",
    "to": "'2025-01-01 00:00+00'::timestamptz",
    "units": "150",
    "scale": "2",
    "cron": "'*/5 * * * *'",
}
VALID = {
    ("confirm", "grant_id"): "pg_temp.id('pending')",
    ("clawback", "grant_id"): "pg_temp.id('earned')",
    ("earn", "amount"): "50",
    ("refund", "amount"): "5",
    ("revoke", "amount"): "5",
    ("capture", "amount"): "5",
}

# Optional arguments given a valid value in every call all the same (the
# call would fail for another reason without them): revoke() of the whole
# grant fails under the reject policy once some of it is spent; the
# purchase rule of earn() needs an amount; expire_batch() takes its two
# from_ arguments together.
BASE_EXTRA = {"revoke": ["amount"], "earn": ["amount"],
              "expire_batch": ["from_expires_at", "from_id"]}

# Arguments whose NULL has a documented meaning although they are not
# declared DEFAULT NULL: none so far.  (A NULL for an argument declared
# DEFAULT NULL is that default and always fine.)
NULL_MEANS = {}

# Functions not called here, and why.
SKIP = {
    # Called by the ones below with what they check; no arguments.
    "maintenance_job_name": "no arguments",
    "cron_target": "no arguments",
    "unschedule": "no arguments",
    "verify": "no arguments",
}
# Values a call must not get because it would not roll back: a
# run_maintenance() with a valid batch COMMITs.
ONLY = {("run_maintenance", "batch"): {"NULL", "0", "-1"}}

# The files: which functions go where.
FILES = [
    ("badinput_ledger", "grant, consume, adjust, transfer, refund, revoke, confirm",
     ["grant", "consume", "adjust", "transfer", "refund", "revoke", "confirm"]),
    ("badinput_holds", "hold, capture, release",
     ["hold", "capture", "release"]),
    ("badinput_reads", "balance, account, format, from_units, statement, expiring, tier, value, price, quote",
     ["balance", "account", "format", "from_units", "statement", "expiring",
      "tier", "value", "price", "quote"]),
    ("badinput_earn", "earn, clawback, redeem, cancel_redemption",
     ["earn", "clawback", "redeem", "cancel_redemption"]),
    ("badinput_maintenance", "expire, expire_batch, release_holds, run_maintenance, schedule",
     ["expire", "expire_batch", "release_holds", "run_maintenance", "schedule"]),
]

# Configuration tables: (table, a valid row as column => SQL, the bad
# values per column as (label, SQL)).  Each case inserts the valid row
# with one column replaced, then updates an existing row the same way.
TZ = [("'Mars/Olympus'", "'Mars/Olympus'"), ("''", "''"), ("<1MB>", MB),
      ("'+25:00'", "'+25:00'"), ("NULL", "NULL")]
NUM_BAD = [("NaN", "'NaN'"), ("Infinity", "'Infinity'"), ("-1", "-1"),
           ("0", "0"), ("1e30", "1e30")]
IV_BAD = [("0", "'0'"), ("-1 day", "'-1 day'"), ("1 mon -30 days", "'1 mon -30 days'"),
          ("178000000 years", "'178000000 years'")]
CONFIG = [
    ("types",
     {"code": "'bi_new'", "name": "'pt'", "name_plural": "'pts'"},
     {"code": [("NULL", "NULL"), ("''", "''"), ("<1MB>", MB)],
      "name": [("NULL", "NULL"), ("''", "''")],
      "name_plural": [("''", "''")],
      "scale": [("NULL", "NULL"), ("-1", "-1"), ("5", "5")],
      "validity": IV_BAD,
      "expiry_rounding": [("'fortnight'", "'fortnight'"), ("''", "''")],
      "time_zone": TZ,
      "consume_order": [("'lifo'", "'lifo'")],
      "redeem_points": NUM_BAD,
      "redeem_value": NUM_BAD,
      "currency": [("''", "''"), ("'XXXX'", "'XXXX'")],
      "min_redeem_points": NUM_BAD,
      "max_redeem_points": NUM_BAD,
      "hold_timeout": IV_BAD + [("NULL", "NULL")],
      "inactivity": IV_BAD,
      "clawback_policy": [("'maybe'", "'maybe'"), ("NULL", "NULL")]}),
    ("tiers",
     {"type": "'bi_pts'", "code": "'bi_new'", "name": "'New'", "qualify_points": "10"},
     {"type": [("'no-such'", "'no-such'"), ("NULL", "NULL")],
      "code": [("''", "''"), ("NULL", "NULL")],
      "qualify_points": NUM_BAD + [("NULL", "NULL"), ("0.5", "0.5")],
      "period": IV_BAD,
      "multiplier": NUM_BAD + [("NULL", "NULL")]}),
    ("customers",
     {"type": "'bi_pts'", "customer": "'bi_new'"},
     {"type": [("'no-such'", "'no-such'")],
      "customer": [("''", "''"), ("NULL", "NULL"), ("<1MB>", MB)],
      "tier": [("'no-such'", "'no-such'")],
      "multiplier": NUM_BAD + [("NULL", "NULL")]}),
    ("earn_rules",
     {"type": "'bi_pts'", "event": "'bi_new'", "points": "1", "spend": "10"},
     {"type": [("'no-such'", "'no-such'"), ("NULL", "NULL")],
      "event": [("''", "''"), ("NULL", "NULL")],
      "points": NUM_BAD + [("NULL", "NULL"), ("0.5", "0.5")],
      "spend": NUM_BAD,
      "min_amount": NUM_BAD,
      "max_points": NUM_BAD,
      "tier": [("'no-such'", "'no-such'")],
      "per": [("'hour'", "'hour'"), ("''", "''")],
      "validity": IV_BAD,
      "delay": IV_BAD[1:],
      "starts_at": [("infinity", "'infinity'")],
      "ends_at": [("-infinity", "'-infinity'")]}),
    ("rewards",
     {"type": "'bi_pts'", "code": "'bi_new'", "name": "'New'", "kind": "'custom'", "cost": "10"},
     {"type": [("'no-such'", "'no-such'")],
      "code": [("''", "''")],
      "kind": [("'car'", "'car'"), ("NULL", "NULL")],
      "cost": NUM_BAD + [("NULL", "NULL"), ("0.5", "0.5")],
      "value": NUM_BAD,
      "stock": [("-1", "-1")],
      "per_customer": [("-1", "-1"), ("0", "0")]}),
    ("prices",
     {"type": "'bi_pts'", "currency": "'MYR'", "min_quantity": "5000", "unit_price": "0.01"},
     {"type": [("'no-such'", "'no-such'")],
      "currency": [("''", "''"), ("NULL", "NULL")],
      "min_quantity": NUM_BAD + [("NULL", "NULL")],
      "unit_price": NUM_BAD + [("NULL", "NULL")]}),
]

# Cases that show a bug today: (function, argument, value label) -> the
# outcome they must have.  They are left out of their own file and go to
# sql/badinput_known_bugs.sql, whose expected output is that outcome: that
# test fails until the bug is fixed.  Each is in the report of issue 7.
KNOWN_BUGS = {
}

# Cases that crash the server today: not run at all (a crash would take
# the tests after it down too).  Each is in the report of issue 7; once
# fixed, move it to KNOWN_BUGS or simply delete it here.
CRASHES = set()


def split_top(s, sep=","):
    """Split s at sep outside parentheses and quotes."""
    out, depth, cur, q = [], 0, [], None
    for ch in s:
        if q:
            cur.append(ch)
            if ch == q:
                q = None
            continue
        if ch in "'\"":
            q = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur))
    return out


def read_functions():
    """Every CREATE FUNCTION/PROCEDURE of src/sql/*.sql: name, kind,
    arguments (mode, name, type, default or None), returns."""
    funcs = []
    for part in sorted(os.listdir(PARTS)):
        if not part.endswith(".sql"):
            continue
        text = open(os.path.join(PARTS, part)).read()
        text = re.sub(r"--[^\n]*", "", text)
        for m in re.finditer(r"CREATE\s+(FUNCTION|PROCEDURE)\s+@extschema@\.(\"?\w+\"?)\s*\(", text):
            kind, name = m.group(1), m.group(2).strip('"')
            i, depth = m.end(), 1
            while depth:
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            argtext = text[m.end():i - 1]
            rest = text[i:i + 400]
            rm = re.match(r"\s*RETURNS\s+(SETOF\s+|TABLE\s*\()?\s*([\w@.]+)", rest)
            returns = "void" if kind == "PROCEDURE" else None
            setof = False
            if rm:
                setof = bool(rm.group(1))
                returns = rm.group(2)
            args = []
            for a in split_top(argtext):
                a = " ".join(a.split())
                mode = "IN"
                am = re.match(r"(IN|OUT|INOUT|VARIADIC)\s+(.*)", a)
                if am:
                    mode, a = am.group(1), am.group(2)
                dm = re.match(r"(.*?)\s+DEFAULT\s+(.*)", a, re.S)
                default = None
                if dm:
                    a, default = dm.group(1), dm.group(2)
                an = re.match(r"(\"?\w+\"?)\s+(.*)", a)
                aname, atype = an.group(1).strip('"'), an.group(2).strip()
                atype = TYPE_ALIASES.get(atype, atype)
                args.append((mode, aname, atype, default))
            if returns is None and any(a[0] == "OUT" for a in args):
                returns = "record"
            funcs.append({"name": name, "kind": kind, "args": args,
                          "returns": returns, "setof": setof,
                          "strict": bool(re.search(r"\bSTRICT\b", text[i:i + 300].split(";")[0]))})
    return funcs


def quote_ident(name):
    return '"%s"' % name if name in ("grant", "from", "to") else name


def lit(s):
    return "'" + s.replace("'", "''") + "'"


SHAPES = {
    "call": "CALL %s",
    "rows": "SELECT count(*)::text || ' rows' FROM %s",
    # An id: which one depends on what ran before.
    "id": "SELECT CASE WHEN r IS NULL THEN NULL ELSE 'an id' END FROM %s AS r",
    "row": "SELECT CASE WHEN r IS NULL THEN NULL ELSE 'a row' END FROM (SELECT %s AS r) s",
    "void": "SELECT 'void' FROM (SELECT %s) s",
    "value": "SELECT %s::text",
}


def shape(f):
    """How a call of f is run and its result shown (SHAPES)."""
    if f["kind"] == "PROCEDURE":
        return "call"
    if f["setof"]:
        return "rows"
    if f["returns"] == "bigint":
        return "id"
    if f["returns"] in ("record", "@extschema@.account_summary", "@extschema@.redemptions"):
        return "row"
    if f["returns"] == "void":
        return "void"
    return "value"


def valid(f, aname):
    return VALID.get((f["name"], aname), VALID_BY_NAME.get(aname))


def function_cases(f):
    """(argument, value label, required, SQL expression) for every bad
    value of every input argument of f."""
    ins = [a for a in f["args"] if a[0] in ("IN", "INOUT", "VARIADIC")]
    missing = [a[1] for a in ins if valid(f, a[1]) is None]
    if missing:
        sys.exit("gen_badinput.py: no valid value for %s(%s): add it to VALID or VALID_BY_NAME"
                 % (f["name"], ", ".join(missing)))
    cases = []
    for mode, aname, atype, default in ins:
        if atype not in BAD:
            sys.exit("gen_badinput.py: no bad values for type %s (%s.%s)" % (atype, f["name"], aname))
        for label, expr in BAD[atype]:
            if (f["name"], aname) in ONLY and label not in ONLY[(f["name"], aname)]:
                continue
            # A NULL where the declared default is NULL is that default;
            # elsewhere a NULL needs a documented meaning (NULL_MEANS),
            # or an error (STRICT functions return NULL, as SQL says).
            null_ok = (default is not None and default.upper().startswith("NULL")) or \
                (f["name"], aname) in NULL_MEANS or f["strict"]
            cases.append((aname, label, label == "NULL" and not null_ok, expr))
    return cases


def base_args(f):
    """The valid value of every argument that has no default, and of
    those in BASE_EXTRA."""
    return [(a[1], valid(f, a[1])) for a in f["args"]
            if a[0] in ("IN", "INOUT", "VARIADIC")
            and (a[3] is None or a[1] in BASE_EXTRA.get(f["name"], []))]


def config_cases():
    cases = []
    for table, row, bad in CONFIG:
        for col, values in bad.items():
            for label, expr in values:
                r = dict(row)
                r[col] = expr
                ins = "INSERT INTO points.%s (%s) VALUES (%s)" % (
                    table, ", ".join(r), ", ".join(r.values()))
                cases.append(("%s.%s" % (table, col), "insert " + label, False, ins))
                upd = "UPDATE points.%s SET %s = %s WHERE %s" % (
                    table, col, expr, CONFIG_EXISTING[table])
                cases.append(("%s.%s" % (table, col), "update " + label, False, upd))
    return cases


# The row of each configuration table the setup creates, for UPDATEs.
CONFIG_EXISTING = {
    "types": "code = 'bi_pts'",
    "tiers": "type = 'bi_pts' AND code = 'base'",
    "customers": "type = 'bi_pts' AND customer = 'ann'",
    "earn_rules": "type = 'bi_pts' AND event = 'purchase'",
    "rewards": "type = 'bi_pts' AND code = 'mug'",
    "prices": "type = 'bi_pts' AND currency = 'MYR'",
}

HEADER = """--
-- Bad input: {what}.
-- GENERATED by test/gen_badinput.py: edit that script, not this file.
--
-- Each call has one argument bad and the others valid, and runs in a
-- subtransaction that is rolled back, so every case starts from the same
-- ledger.  Columns: the call, the argument, the value given, and what
-- happened: "ERROR <SQLSTATE>", or "returns <what>" (NULL when it returned
-- NULL).  "!!" marks a bug: an internal error (XX000), or NULL returned
-- for a required argument.  psql -v messages=on shows the messages too.
-- Type codes of this file start with bi_.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
\\if :{{?messages}}
\\else
\\set messages off
\\endif
-- Everything in one transaction, rolled back at the end: the next file
-- starts from the same database.
BEGIN;
"""

SETUP = r"""
-- The ledger the calls run against: a type of whole points (no expiry, a
-- redemption rate), one of cents, a disabled one; ann with points, a
-- debit, an open hold, a pending grant; where this version has them, a
-- tier, earn rules, a reward, a redemption, a price.
INSERT INTO points.types (code, name, name_plural, redeem_points, redeem_value, currency)
VALUES ('bi_pts', 'point', 'points', 100, 1, 'MYR');
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('bi_cents', 'credit', 'credits', 2);
INSERT INTO points.types (code, name, name_plural, enabled) VALUES ('bi_off', 'off', 'offs', false);
CREATE TEMP TABLE bi_ids (name text PRIMARY KEY, id bigint);
INSERT INTO bi_ids
SELECT 'grant', points.grant('bi_pts', 'ann', 1000, at => '2024-01-01 00:00+00')
UNION ALL SELECT 'bob', points.grant('bi_pts', 'bob', 100, at => '2024-01-01 00:00+00')
UNION ALL SELECT 'pending', points.grant('bi_pts', 'ann', 40, pending => true, at => '2024-01-02 00:00+00');
INSERT INTO bi_ids SELECT 'debit', points.consume('bi_pts', 'ann', 100, ref => 'bi-order-1', at => '2024-02-01 00:00+00');
INSERT INTO bi_ids SELECT 'hold', points.hold('bi_pts', 'ann', 50, ref => 'bi-order-2', until => '2999-01-01 00:00+00', at => '2024-03-01 00:00+00');
SELECT to_regproc('points.earn') IS NOT NULL AS has_earn \gset
\if :has_earn
INSERT INTO points.tiers (type, code, name, qualify_points) VALUES ('bi_pts', 'base', 'Base', 0);
INSERT INTO points.customers (type, customer, multiplier) VALUES ('bi_pts', 'ann', 1);
INSERT INTO points.earn_rules (type, event, name, points, spend) VALUES ('bi_pts', 'purchase', 'MYR 1 = 1 point', 1, 1);
INSERT INTO points.rewards (type, code, name, kind, cost) VALUES ('bi_pts', 'mug', 'Mug', 'product', 100);
INSERT INTO points.prices (type, currency, min_quantity, unit_price) VALUES ('bi_pts', 'MYR', 1, 0.01);
INSERT INTO bi_ids SELECT 'earned', points.earn('bi_pts', 'ann', 'purchase', 50, at => '2024-03-02 00:00+00');
INSERT INTO bi_ids SELECT 'redemption', id FROM points.redeem('bi_pts', 'ann', 'mug', at => '2024-03-03 00:00+00');
\endif
CREATE FUNCTION pg_temp.id(what text) RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT id FROM bi_ids WHERE name = what $$;

-- statement(call, arg, expr): call with arg => expr and the valid values
-- of its other arguments (bi_base), shown as bi_calls.shape says; a
-- configuration case ("config") is its own statement.
CREATE TEMP TABLE bi_calls (fn text PRIMARY KEY, shape text NOT NULL);
CREATE TEMP TABLE bi_base (fn text, arg text, expr text, PRIMARY KEY (fn, arg));
CREATE FUNCTION pg_temp.statement(call text, arg text, expr text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN call = 'config' THEN expr ELSE
           format((SELECT shape FROM bi_calls c WHERE c.fn = call),
                  format('points.%I(%s)', call,
                         (SELECT string_agg(format('%I => %s', a, e), ', ' ORDER BY o)
                            FROM (SELECT 1 AS o, b.arg AS a, b.expr AS e FROM bi_base b
                                   WHERE b.fn = call AND b.arg <> statement.arg
                                  UNION ALL SELECT 2, statement.arg, statement.expr) x)))
           END
$$;

-- The size of the ledger: what no case may change.
CREATE FUNCTION pg_temp.ledger() RETURNS text LANGUAGE sql AS $$
    SELECT format('entries %s, grants %s, holds %s, accounts %s, requests %s, points %s',
        (SELECT count(*) FROM points.entries), (SELECT count(*) FROM points.lots),
        (SELECT count(*) FROM points.holds), (SELECT count(*) FROM points.accounts),
        (SELECT count(*) FROM points.requests), (SELECT sum(amount) FROM points.entries))
$$;

-- try(call, required): run call in a subtransaction, always rolled back;
-- say what happened.
CREATE FUNCTION pg_temp.try(call text, required boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
    state text;
    msg text;
BEGIN
    BEGIN
        IF call LIKE 'SELECT %' THEN
            EXECUTE call INTO result;
        ELSE
            EXECUTE call;
            result := 'ok';
        END IF;
        -- Undo whatever it did.
        RAISE EXCEPTION USING ERRCODE = 'P0999', MESSAGE = coalesce(result, '<NULL>');
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    IF state = 'P0999' THEN
        RETURN CASE WHEN msg = '<NULL>' AND required THEN '!! returns NULL for a required argument'
                    WHEN msg = '<NULL>' THEN 'returns NULL'
                    ELSE 'returns ' || left(msg, 60) END;
    END IF;
    RETURN CASE WHEN state = 'XX000' THEN '!! ' ELSE '' END || 'ERROR ' || state
        || CASE WHEN current_setting('bi.messages') = 'on' THEN ': ' || left(msg, 200) ELSE '' END;
END
$$;
SELECT set_config('bi.messages', :'messages', false) IS NOT NULL AS ok;

SELECT pg_temp.ledger() AS before \gset
SELECT :'before' AS ledger_before;
"""

FOOTER = r"""
-- Nothing changed, and the ledger is consistent.
SELECT pg_temp.ledger() = :'before' AS unchanged, pg_temp.ledger() AS ledger_after;
SELECT * FROM points.verify();
ROLLBACK;
"""

COVERAGE = r"""
-- Every function of the extension has cases in one of the badinput files
-- (trigger functions cannot be called; the rest are listed in
-- test/gen_badinput.py).  A function added since the files were
-- generated shows here: re-run python3 test/gen_badinput.py.
SELECT p.proname AS function_without_cases
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'points'
 WHERE p.prorettype <> 'trigger'::regtype
   AND p.proname NOT IN ({names})
 ORDER BY 1;
"""


def render(what, cases, funcs, coverage=None):
    """A test file: the setup, how each function is called, the cases."""
    lines = [HEADER.format(what=what), SETUP]
    names = []
    for c in cases:
        if c[0] != "config" and c[0] not in names:
            names.append(c[0])
    if names:
        lines.append("\n-- How each function is called: its result shown as SHAPE, and a valid\n"
                     "-- value for each argument without a default (the case replaces one).\n"
                     "INSERT INTO bi_calls (fn, shape) VALUES\n")
        lines.append(",\n".join("    (%s, %s)" % (lit(n), lit(SHAPES[shape(funcs[n])]))
                                 for n in names) + ";\n")
        base = [(n, a, e) for n in names for a, e in base_args(funcs[n])]
        if base:
            lines.append("INSERT INTO bi_base (fn, arg, expr) VALUES\n")
            lines.append(",\n".join("    (%s, %s, %s)" % (lit(n), lit(a), lit(e))
                                     for n, a, e in base) + ";\n")
    lines.append("\nSELECT c.call, c.arg, c.value, pg_temp.try(pg_temp.statement(c.call, c.arg, c.expr), c.required) AS outcome\n"
                 "  FROM (VALUES\n")
    rows = []
    for i, (fn, arg, label, required, expr) in enumerate(cases, 1):
        rows.append("    (%d, %s, %s, %s, %s, %s)" % (
            i, lit(fn), lit(arg), lit(label), "true" if required else "false", lit(expr)))
    lines.append(",\n".join(rows))
    lines.append("\n  ) AS c(n, call, arg, value, required, expr)\n ORDER BY c.n;\n")
    lines.append(FOOTER)
    if coverage:
        lines.append(COVERAGE.format(names=", ".join(lit(n) for n in coverage)))
    return "".join(lines)


def main():
    listing = "--list" in sys.argv[1:]
    checking = "--check" in sys.argv[1:]
    funcs = {f["name"]: f for f in read_functions()}
    placed = {n for _, _, names in FILES for n in names}
    unplaced = sorted(n for n, f in funcs.items()
                      if f["returns"] != "trigger" and n not in placed and n not in SKIP)
    if unplaced:
        sys.exit("gen_badinput.py: functions in no file: %s (add them to FILES or SKIP)"
                 % ", ".join(unplaced))
    covered = sorted(placed | set(SKIP))
    bugs = []
    outputs = {}
    for fname, what, names in FILES:
        cases = []
        for n in names:
            if n not in funcs:
                continue  # not in this version yet
            for arg, label, required, expr in function_cases(funcs[n]):
                case = (n, arg, label, required, expr)
                if (n, arg, label) in CRASHES:
                    continue
                if (n, arg, label) in KNOWN_BUGS:
                    bugs.append(case)
                else:
                    cases.append(case)
        outputs[fname] = render(what, cases, funcs,
                                coverage=covered if fname == FILES[0][0] else None)
    cases = []
    for arg, label, required, sql in config_cases():
        table = arg.split(".")[0]
        if table not in {t for t, _, _ in CONFIG}:
            continue
        case = ("config", arg, label, required, sql)
        if ("config", arg, label) in KNOWN_BUGS:
            bugs.append(case)
        else:
            cases.append(case)
    outputs["badinput_config"] = render(
        "rows of the configuration tables (INSERT and UPDATE)", cases, funcs)
    if bugs:
        outputs["badinput_known_bugs"] = render(
            "the cases that show a bug today (KNOWN_BUGS in test/gen_badinput.py); "
            "the expected output is what they must do once fixed", bugs, funcs)
    if listing:
        for name, text in outputs.items():
            print("%s: %d cases" % (name, len(re.findall(r"^    \(\d+, '", text, re.M))))
        return
    if checking:
        stale = [n for n, text in outputs.items()
                 if not os.path.exists(os.path.join(OUT, n + ".sql"))
                 or open(os.path.join(OUT, n + ".sql")).read() != text]
        stale += [f[:-4] for f in os.listdir(OUT)
                  if f.startswith("badinput_") and f.endswith(".sql") and f[:-4] not in outputs]
        if stale:
            sys.exit("gen_badinput.py: out of date: %s (run python3 test/gen_badinput.py)"
                     % ", ".join("sql/%s.sql" % n for n in sorted(stale)))
        print("sql/badinput_*.sql are up to date")
        return
    for old in os.listdir(OUT):
        if old.startswith("badinput_") and old.endswith(".sql") and old[:-4] not in outputs:
            os.remove(os.path.join(OUT, old))
    for name, text in outputs.items():
        with open(os.path.join(OUT, name + ".sql"), "w") as fh:
            fh.write(text)
        print("wrote sql/%s.sql" % name)


if __name__ == "__main__":
    main()
