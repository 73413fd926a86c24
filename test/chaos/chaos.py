#!/usr/bin/env python3
"""Concurrent chaos test of the points ledger.

N clients (default 8), each a psql subprocess over its own connection, run
random operations for a while on a few dozen customers at business time
now(): grant (some pending, some vesting), consume, adjust, hold, capture,
release, refund, revoke, confirm, transfer between random customers, the
sweeps (expire, release_holds, run_maintenance), reads (balance, account,
points.balances, verify()), idempotent retries of shared refs racing each
other, and now and then a change of a type's policy.  Validities are
seconds long, so grants expire while they are being drawn from.

Afterwards: no client saw an error other than the expected ones (PT001,
PT002, PT004, and 42704 for ids picked at random), no deadlock was
detected (client errors and the server log), every shared ref gave every
client the same result and made at most one grant, concurrent verify()
calls found nothing, and points.verify() returns no rows.

stdlib only.  chaos.py --host SOCKETDIR --port N --db DB [--clients 8]
[--seconds 60] [--seed N] [--log SERVERLOG]
"""
import argparse
import collections
import os
import queue
import random
import re
import subprocess
import sys
import threading
import time

TYPES_SQL = """INSERT INTO points.types (code, name, name_plural, scale, validity, consume_order,
    clawback_policy, hold_timeout)
VALUES ('ca', 'a point', 'a points', 0, '20 seconds', 'expiry', 'reject', '4 seconds'),
       ('cb', 'b credit', 'b credits', 2, '45 seconds', 'fifo', 'debt', '6 seconds'),
       ('cc', 'c point', 'c points', 0, NULL, 'expiry', 'partial', '1 hour');"""

TYPES = ['ca', 'cb', 'cc']
SCALE = {'ca': 0, 'cb': 2, 'cc': 0}
# errors a correct ledger gives these random operations
EXPECTED = {'PT001', 'PT002', 'PT004', '42704'}
ERR_RE = re.compile(r'^(?:psql:[^ ]* )?(?:ERROR|FATAL|PANIC):\s+([0-9A-Z]{5}):\s*(.*)$')


class Psql:
    END = '@@points-chaos-end@@'

    isolation = None

    def __init__(self, conn):
        env = dict(os.environ)
        if Psql.isolation:
            env['PGOPTIONS'] = (env.get('PGOPTIONS', '') + ' -c default_transaction_isolation='
                                + Psql.isolation.replace(' ', '\\ ')).strip()
        self.p = subprocess.Popen(
            ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=0'] + conn,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.run("\\set VERBOSITY verbose")

    def run(self, sql):
        self.p.stdin.write(sql + '\n\\echo ' + self.END + '\n')
        self.p.stdin.flush()
        out = []
        while True:
            try:
                line = self.lines.get(timeout=300)
            except queue.Empty:
                self.p.kill()
                raise RuntimeError('psql did not answer within 300s: ' + sql[:300])
            if line is None:
                raise RuntimeError('psql exited: ' + '\n'.join(out[-10:]))
            line = line.rstrip('\n')
            if line == self.END:
                return out
            out.append(line)

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=30)
        except Exception:
            self.p.kill()


def outcome(lines):
    for line in lines:
        m = ERR_RE.match(line)
        if m:
            return ('error', m.group(1), m.group(2))
    for line in lines:
        if 'server closed the connection' in line or 'connection to server' in line:
            return ('error', 'CONN', line)
    vals = [l for l in lines if l and not l.startswith(('NOTICE:', 'WARNING:', 'DETAIL:', 'HINT:',
                                                        'LOCATION:', 'CONTEXT:', 'LOG:', 'INFO:'))]
    return ('ok', vals[0] if vals else '')


def amount(rng, code, hi=30):
    if SCALE[code] == 0:
        return str(rng.randint(1, hi))
    return '%d.%02d' % (rng.randint(0, hi), rng.randint(1, 99))


class Client(threading.Thread):
    def __init__(self, n, conn, deadline, seed, customers, shared):
        super().__init__(name='client-%d' % n)
        self.n = n
        self.conn = conn
        self.deadline = deadline
        self.rng = random.Random(seed)
        self.customers = customers
        self.shared = shared
        self.ops = collections.Counter()
        self.errors = collections.Counter()
        self.unexpected = []
        self.holds = []
        self.entries = []
        self.lots = []
        self.pending = []
        self.shared_results = collections.defaultdict(set)
        self.verify_rows = []
        self.seq = 0
        self.crashed = None

    def ref(self):
        self.seq += 1
        return "'k%d-%d'" % (self.n, self.seq)

    def pick(self, lst, table):
        if lst and self.rng.random() < 0.9:
            return str(self.rng.choice(lst[-50:]))
        # someone else's: an id that may or may not exist
        return "(SELECT coalesce(max(id), 0) - %d FROM points.%s)" % (self.rng.randint(0, 30), table)

    def op(self):
        r = self.rng
        x = r.random()
        code = r.choice(TYPES)
        c = "'%s'" % r.choice(self.customers)
        a = amount(r, code)
        if x < 0.22:
            extra = ''
            y = r.random()
            if y < 0.1:
                extra = ', pending => true'
            elif y < 0.2:
                extra = ", available_at => now() + interval '%d seconds'" % r.randint(1, 8)
            elif y < 0.25:
                extra = ", expires_at => now() + interval '%d seconds'" % r.randint(1, 10)
            ref = ', ref => ' + self.ref() if r.random() < 0.5 else ''
            return 'grant', 'SELECT points."grant"(%s, %s, %s%s%s)' % (q(code), c, a, ref, extra), \
                ('lot', 'pending' if 'pending' in extra else None)
        if x < 0.25:
            # a webhook retried by several clients at once: same ref, same arguments
            k = r.randrange(len(self.shared))
            code, cust, amt = self.shared[k]
            return 'grant(shared ref)', "SELECT points.\"grant\"(%s, '%s', %s, ref => 'shared-%d')" % (
                q(code), cust, amt, k), ('shared', k)
        if x < 0.40:
            ref = ', ref => ' + self.ref() if r.random() < 0.3 else ''
            return 'consume', 'SELECT points.consume(%s, %s, %s%s)' % (q(code), c, amount(r, code, 12), ref), ('entry',)
        if x < 0.44:
            d = a if r.random() < 0.5 else '-' + amount(r, code, 8)
            return 'adjust', 'SELECT points.adjust(%s, %s, %s)' % (q(code), c, d), ('entry',)
        if x < 0.52:
            return 'hold', 'SELECT points.hold(%s, %s, %s)' % (q(code), c, amount(r, code, 10)), ('hold',)
        if x < 0.58:
            h = self.pick(self.holds, 'holds')
            part = ''
            if r.random() < 0.3:
                part = ', amount => 1'
            return 'capture', 'SELECT points.capture(%s%s)' % (h, part), ('entry',)
        if x < 0.62:
            return 'release', 'SELECT points.release(%s)' % self.pick(self.holds, 'holds'), None
        if x < 0.68:
            e = self.pick(self.entries, 'entries')
            part = ', amount => 1' if r.random() < 0.4 else ''
            return 'refund', 'SELECT points.refund(%s%s)' % (e, part), ('entry',)
        if x < 0.73:
            g = self.pick(self.lots, 'lots')
            part = ''
            y = r.random()
            if y < 0.3:
                part = ', amount => 1'
            pol = r.choice(['', '', ", policy => 'partial'", ", policy => 'debt'"])
            return 'revoke', 'SELECT points.revoke(%s%s%s)' % (g, part, pol), None
        if x < 0.76:
            g = str(self.pending.pop()) if self.pending else self.pick(self.lots, 'lots')
            return 'confirm', 'SELECT points.confirm(%s)' % g, None
        if x < 0.88:
            frm, to = r.sample(self.customers, 2)
            return 'transfer', "SELECT points.transfer(%s, '%s', '%s', %s)" % (
                q(code), frm, to, amount(r, code, 10)), None
        if x < 0.90:
            return 'expire', 'SELECT points.expire(batch => %d)' % r.choice([5, 50, 10000]), None
        if x < 0.915:
            return 'release_holds', 'SELECT points.release_holds()', None
        if x < 0.92:
            return 'run_maintenance', 'CALL points.run_maintenance(%d)' % r.choice([3, 100]), None
        if x < 0.96:
            return 'read', ("SELECT points.balance(%s, %s) + (SELECT available FROM points.account(%s, %s))"
                            " + (SELECT count(*) FROM points.balances WHERE customer = %s)") % (
                q(code), c, q(code), c, c), None
        if x < 0.975:
            return 'verify()', "SELECT 'V|' || check_name || '|' || coalesce(detail, '') FROM points.verify()", ('verify',)
        if x < 0.985:
            # an order transaction: hold and capture in one transaction
            return 'hold+capture', ("BEGIN;\nSELECT points.capture(points.hold(%s, %s, %s));\nCOMMIT;"
                                    % (q(code), c, amount(r, code, 5))), ('entry',)
        # admin: a policy change (new grants only) or a type switched off and on
        y = r.random()
        if y < 0.5:
            v = r.choice(["'20 seconds'", "'12 seconds'", "'30 seconds'"]) if code != 'cc' else 'NULL'
            return 'policy', 'UPDATE points.types SET validity = %s WHERE code = %s' % (v, q(code)), None
        if y < 0.6:
            return 'policy', "UPDATE points.types SET enabled = false WHERE code = 'cc'", None
        return 'policy', "UPDATE points.types SET enabled = true WHERE code = 'cc'", None

    def run(self):
        try:
            db = Psql(self.conn)
        except Exception as e:
            self.crashed = str(e)
            return
        try:
            while time.time() < self.deadline:
                name, sql, keep = self.op()
                lines = db.run(sql + ';')
                if name == 'hold+capture':
                    # BEGIN/COMMIT print nothing with -q; an error aborts it
                    res = outcome(lines)
                    if res[0] == 'error':
                        db.run('ROLLBACK;')
                else:
                    res = outcome(lines)
                self.ops[name] += 1
                if res[0] == 'error':
                    self.errors[(name, res[1])] += 1
                    if res[1] not in EXPECTED:
                        self.unexpected.append((name, res[1], res[2], sql))
                    if res[1] == 'CONN':
                        self.crashed = res[2]
                        return
                    continue
                if keep is None:
                    continue
                v = res[1]
                if keep[0] == 'verify':
                    rows = [l for l in lines if l.startswith('V|')]
                    if rows:
                        self.verify_rows.extend(rows)
                    continue
                if not v.isdigit():
                    continue
                if keep[0] == 'lot':
                    self.lots.append(int(v))
                    if keep[1] == 'pending':
                        self.pending.append(int(v))
                elif keep[0] == 'entry':
                    self.entries.append(int(v))
                elif keep[0] == 'hold':
                    self.holds.append(int(v))
                elif keep[0] == 'shared':
                    self.shared_results[keep[1]].add(v)
        except Exception as e:
            self.crashed = str(e)
        finally:
            db.close()


def q(s):
    return "'" + s + "'"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--host', required=True)
    ap.add_argument('--port', default='5624')
    ap.add_argument('--db', default='points_rel')
    ap.add_argument('--clients', type=int, default=8)
    ap.add_argument('--seconds', type=float, default=60)
    ap.add_argument('--customers', type=int, default=30)
    ap.add_argument('--seed', type=int)
    ap.add_argument('--log', help='the server log, searched for deadlocks and crashes')
    ap.add_argument('--isolation', choices=['read committed', 'repeatable read', 'serializable'],
                    default='read committed',
                    help="the clients' transaction isolation; above read committed, concurrent"
                         " operations on one account may fail with 40001 (the caller retries)")
    args = ap.parse_args()
    Psql.isolation = args.isolation
    if args.isolation != 'read committed':
        EXPECTED.add('40001')
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10 ** 9)
    conn = ['-h', args.host, '-p', str(args.port), '-U', 'postgres', '-d', args.db]
    setup = Psql(conn)
    out = setup.run(TYPES_SQL)
    if any('ERROR' in l for l in out):
        print('not ok - setup failed: %s' % out)
        print('0 passed, 1 failed')
        return 1
    rng = random.Random(seed)
    customers = ['cust-%02d' % i for i in range(args.customers)]
    shared = [(rng.choice(TYPES), rng.choice(customers), str(rng.randint(1, 20))) for _ in range(40)]
    print('# chaos: %d clients, %ds, %d customers, %s, seed %d (rerun: --seed %d)'
          % (args.clients, args.seconds, args.customers, args.isolation, seed, seed), flush=True)
    started = time.time()
    deadline = started + args.seconds
    clients = [Client(n, conn, deadline, rng.randrange(1 << 30), customers, shared) for n in range(args.clients)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    elapsed = time.time() - started

    ops = collections.Counter()
    errors = collections.Counter()
    by_state = collections.Counter()
    unexpected = []
    verify_rows = []
    crashed = []
    shared_results = collections.defaultdict(set)
    for c in clients:
        ops.update(c.ops)
        errors.update(c.errors)
        for (name, state), n in c.errors.items():
            by_state[state] += n
        unexpected.extend(c.unexpected)
        verify_rows.extend(c.verify_rows)
        if c.crashed:
            crashed.append((c.name, c.crashed))
        for k, v in c.shared_results.items():
            shared_results[k] |= v
    total = sum(ops.values())
    print('# %d operations in %.1fs (%.0f/s); errors by SQLSTATE: %s' % (
        total, elapsed, total / elapsed,
        ', '.join('%s %d' % kv for kv in sorted(by_state.items())) or 'none'))
    print('#   by operation: ' + '; '.join(
        '%s %d%s' % (name, n, ''.join(' %s:%d' % (s, m) for (nm, s), m in sorted(errors.items()) if nm == name))
        for name, n in sorted(ops.items())))

    checks = []

    def check(ok, what, detail=''):
        checks.append(ok)
        print('%s %d - %s%s' % ('ok' if ok else 'not ok', len(checks), what, '' if ok or not detail else ': ' + detail), flush=True)

    check(not crashed, 'every client ran to the end', '; '.join('%s: %s' % c for c in crashed))
    check(not unexpected, 'no client saw an unexpected error (expected: %s)' % ', '.join(sorted(EXPECTED)),
          '%d unexpected; first ones:\n%s' % (len(unexpected), '\n'.join('  %s -> %s %s\n    %s' % (n, s, m, sql.replace('\n', ' '))
                                                                         for n, s, m, sql in unexpected[:8])))
    check(not any(s in ('40P01',) for _, s, _, _ in unexpected), 'no client saw a deadlock')
    deadlocks = crashes = []
    if args.log:
        with open(args.log, errors='replace') as f:
            logtext = f.read().splitlines()
        deadlocks = [l for l in logtext if 'deadlock detected' in l]
        crashes = [l for l in logtext if re.search(r'TRAP:|PANIC:|terminated by signal|server process .* was terminated', l)]
        check(not deadlocks, "the server log has no 'deadlock detected'", '\n'.join(deadlocks[:5]))
        check(not crashes, 'the server log shows no crash', '\n'.join(crashes[:5]))
    bad_shared = {k: v for k, v in shared_results.items() if len(v) > 1}
    check(not bad_shared, 'a shared ref gave every client the same grant (%d refs retried)' % len(shared_results),
          str(bad_shared))
    db = Psql(conn)
    dup = db.run("SELECT ref || ' ' || count(*) FROM points.lots WHERE ref LIKE 'shared-%' GROUP BY ref HAVING count(*) > 1;")
    check(not [l for l in dup if l.strip()], 'no shared ref granted twice', ' '.join(dup))
    check(not verify_rows, 'verify() during the run found nothing', '\n'.join(verify_rows[:8]))
    rows = db.run("SELECT 'V|' || check_name || '|' || coalesce(type, '') || '|' || coalesce(customer, '') || '|' || coalesce(id::text, '') || '|' || detail FROM points.verify();")
    bad = [l for l in rows if l.startswith('V|') or 'ERROR' in l]
    check(not bad, 'points.verify() returns no rows after the run', '\n'.join(bad[:10]))
    stats = db.run("SELECT (SELECT count(*) FROM points.entries) || ' entries, ' || (SELECT count(*) FROM points.lots) || ' grants, ' || (SELECT count(*) FROM points.holds) || ' holds, ' || (SELECT count(*) FROM points.accounts) || ' accounts';")
    db.close()
    print('# ledger: %s' % ' '.join(stats))
    failed = checks.count(False)
    print('%d passed, %d failed' % (len(checks) - failed, failed))
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
