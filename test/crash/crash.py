#!/usr/bin/env python3
"""Crash recovery test of the points ledger.

A few clients (default 4) run grants, consumes, transfers, holds and
two-operation transactions, every one with a unique ref, and log to a file
of their own what they sent and what the server acknowledged (the COMMIT
returned).  Meanwhile the server is killed: every server process with
SIGKILL (odd cycles) or `pg_ctl stop -m immediate` (even cycles), then
restarted, which runs crash recovery.  After each restart:

  * every acknowledged operation is there, by its ref in points.requests,
    with the result the client got (and its grant or entry);
  * an operation that failed with an error left nothing;
  * an operation in flight at the crash is all there or not at all (its
    request, its grant or entry; both operations of a transaction or none);
  * points.verify() returns no rows, and amcheck finds the ledger's
    indexes sound.

Prints PASS or FAIL.  stdlib only.
crash.py --host SOCKETDIR --port N --db DB --data DATADIR --bindir DIR
[--clients 4] [--cycles 3] [--seconds 4] [--seed N] [--as-postgres]
"""
import argparse
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time

TYPES_SQL = """INSERT INTO points.types (code, name, name_plural, scale, validity, hold_timeout)
VALUES ('ka', 'k point', 'k points', 0, NULL, '1 hour'),
       ('kb', 'k credit', 'k credits', 2, '1 hour', '1 hour');"""
ERR_RE = re.compile(r'^(?:psql:[^ ]* )?(?:ERROR|FATAL):\s+([0-9A-Z]{5}):\s*(.*)$')


class Lost(Exception):
    pass


class Psql:
    END = '@@points-crash-end@@'

    def __init__(self, conn):
        self.p = subprocess.Popen(
            ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=0'] + conn,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.run('\\set VERBOSITY verbose')

    def run(self, sql):
        try:
            self.p.stdin.write(sql + '\n\\echo ' + self.END + '\n')
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            raise Lost('psql gone')
        out = []
        while True:
            try:
                line = self.lines.get(timeout=300)
            except queue.Empty:
                self.p.kill()
                raise RuntimeError('psql did not answer within 300s: ' + sql[:300])
            if line is None:
                raise Lost('psql exited: ' + ' '.join(out[-5:]))
            line = line.rstrip('\n')
            if line == self.END:
                break
            out.append(line)
        text = '\n'.join(out)
        if ('server closed the connection' in text or 'connection to server' in text
                or 'not connected' in text or 'terminating connection' in text
                or 'the database system is' in text):
            raise Lost(text)
        return out

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=10)
        except Exception:
            self.p.kill()


def result(lines):
    for line in lines:
        m = ERR_RE.match(line)
        if m:
            return ('error', m.group(1), m.group(2))
    vals = [l for l in lines if l and not l.startswith(('NOTICE:', 'WARNING:', 'DETAIL:', 'HINT:',
                                                        'LOCATION:', 'CONTEXT:'))]
    return ('ok', vals)


class Client(threading.Thread):
    """Logs: SENT id op... before sending; ACK id results after the server
    answered; FAIL id sqlstate when it refused; in flight otherwise."""

    def __init__(self, n, conn, logdir, seed, customers, stop, up):
        super().__init__(name='client-%d' % n)
        self.n = n
        self.conn = conn
        self.rng = random.Random(seed)
        self.customers = customers
        self.stop = stop
        self.up = up
        self.log = open(os.path.join(logdir, 'client-%d.log' % n), 'w')
        self.seq = 0
        self.acked = 0
        self.failed = 0
        self.error = None

    def write(self, line):
        self.log.write(line + '\n')
        self.log.flush()

    def next_op(self):
        """(steps, sql): steps are (op, type, ref) in the order of the results."""
        r = self.rng
        self.seq += 1
        tag = '%d-%d' % (self.n, self.seq)
        code = r.choice(['ka', 'kb'])
        c = r.choice(self.customers)
        amt = str(r.randint(1, 40)) if code == 'ka' else '%d.%02d' % (r.randint(0, 40), r.randint(1, 99))
        small = str(r.randint(1, 10))
        x = r.random()
        if x < 0.35:
            return [('grant', code, 'g' + tag)], \
                "SELECT points.\"grant\"('%s', '%s', %s, ref => 'g%s');" % (code, c, amt, tag)
        if x < 0.6:
            return [('consume', code, 'c' + tag)], \
                "SELECT points.consume('%s', '%s', %s, ref => 'c%s');" % (code, c, small, tag)
        if x < 0.7:
            to = r.choice([k for k in self.customers if k != c])
            return [('transfer', code, 't' + tag)], \
                "SELECT points.transfer('%s', '%s', '%s', %s, ref => 't%s');" % (code, c, to, small, tag)
        if x < 0.8:
            return [('hold', code, 'h' + tag)], \
                "SELECT points.hold('%s', '%s', %s, ref => 'h%s');" % (code, c, small, tag)
        # an order transaction: its grant and a consume commit together or not at all
        return [('grant', code, 'xg' + tag), ('consume', code, 'xc' + tag)], \
            ("BEGIN;\nSELECT points.\"grant\"('%s', '%s', %s, ref => 'xg%s');\n"
             "SELECT points.consume('%s', '%s', %s, ref => 'xc%s');\nCOMMIT;"
             % (code, c, amt, tag, code, c, small, tag))

    def run(self):
        while not self.stop.is_set():
            if not self.up.wait(timeout=0.2):
                continue
            try:
                db = Psql(self.conn)
                db.run('SELECT 1;')
            except Lost:
                time.sleep(0.1)
                continue
            try:
                while not self.stop.is_set():
                    steps, sql = self.next_op()
                    opid = '%d-%d' % (self.n, self.seq)
                    self.write('SENT %s %s' % (opid, ' '.join('%s:%s:%s' % s for s in steps)))
                    lines = db.run(sql)
                    res = result(lines)
                    if res[0] == 'error':
                        if len(steps) > 1:
                            db.run('ROLLBACK;')
                        self.write('FAIL %s %s' % (opid, res[1]))
                        self.failed += 1
                        continue
                    vals = res[1]
                    if len(vals) != len(steps) or not all(v.isdigit() for v in vals):
                        self.write('ODD %s %s' % (opid, '|'.join(lines)))
                        continue
                    self.write('ACK %s %s' % (opid, ' '.join(vals)))
                    self.acked += 1
            except Lost:
                pass
            except Exception as e:      # a bug of the test itself
                self.error = repr(e)
                return
            finally:
                db.close()


def read_logs(logdir, n):
    """op id -> dict(steps, state: ack/fail/inflight, results)."""
    ops = {}
    for k in range(n):
        with open(os.path.join(logdir, 'client-%d.log' % k)) as f:
            for line in f:
                parts = line.split()
                if not parts:
                    continue
                if parts[0] == 'SENT':
                    ops[parts[1]] = dict(steps=[tuple(s.split(':')) for s in parts[2:]],
                                         state='inflight', results=None)
                elif parts[0] == 'ACK':
                    ops[parts[1]]['state'] = 'ack'
                    ops[parts[1]]['results'] = parts[2:]
                elif parts[0] == 'FAIL':
                    ops[parts[1]]['state'] = 'fail'
                    ops[parts[1]]['sqlstate'] = parts[2]
                elif parts[0] == 'ODD':
                    ops[parts[1]]['state'] = 'odd'
                    ops[parts[1]]['text'] = ' '.join(parts[2:])
    return ops


def check(conn, logdir, nclients, cycle, amcheck):
    """The ledger after a restart, against what the clients were told."""
    started = time.time()
    ops = read_logs(logdir, nclients)
    db = Psql(conn)
    # what is there: requests with their results, and the rows they made
    rows = db.run("WITH refs AS (SELECT type, ref, count(*) AS n FROM points.entries"
                  "              WHERE ref IS NOT NULL GROUP BY type, ref)"
                  " SELECT r.type || '|' || r.op || '|' || r.ref || '|' || coalesce(r.result::text, '')"
                  " || '|' || CASE r.op"
                  "   WHEN 'grant' THEN (SELECT count(*) FROM points.lots l WHERE l.id = r.result AND l.ref = r.ref)::text"
                  "   WHEN 'hold' THEN (SELECT count(*) FROM points.holds h WHERE h.id = r.result AND h.ref = r.ref)::text"
                  "   ELSE (SELECT count(*) FROM points.entries e WHERE e.id = r.result AND e.ref = r.ref"
                  "         AND e.kind = CASE r.op WHEN 'transfer' THEN 'transfer_out' ELSE r.op END)::text END"
                  " || '|' || coalesce(f.n, 0)"
                  " FROM points.requests r LEFT JOIN refs f ON f.type = r.type AND f.ref = r.ref;")
    present = {}
    for line in rows:
        p = line.split('|')
        if len(p) != 6:
            db.close()
            return ['could not read points.requests: %s' % line]
        present[(p[0], p[1], p[2])] = dict(result=p[3], rows=int(p[4]), entries=int(p[5]))
    problems = []
    counts = dict(ack=0, fail=0, inflight=0, odd=0, inflight_done=0)
    for opid, o in sorted(ops.items()):
        counts[o['state']] += 1
        there = [present.get((s[1], s[0], s[2])) for s in o['steps']]
        for s, p in zip(o['steps'], there):
            if p is not None and (p['rows'] != 1 or p['entries'] < 1):
                problems.append('%s %s: request %s without its %s (rows %d, entries %d)'
                                % (opid, s[2], p['result'], 'grant' if s[0] == 'grant' else 'entry',
                                   p['rows'], p['entries']))
        if o['state'] == 'ack':
            for s, p, v in zip(o['steps'], there, o['results']):
                if p is None:
                    problems.append('%s: acknowledged %s %s (result %s) is missing' % (opid, s[0], s[2], v))
                elif p['result'] != v:
                    problems.append('%s: acknowledged %s %s returned %s, the ledger says %s'
                                    % (opid, s[0], s[2], v, p['result']))
        elif o['state'] == 'fail':
            for s, p in zip(o['steps'], there):
                if p is not None:
                    problems.append('%s: %s %s failed (%s) but is in the ledger' % (opid, s[0], s[2], o['sqlstate']))
        elif o['state'] == 'inflight':
            done = [p is not None for p in there]
            if any(done) and not all(done):
                problems.append('%s: a transaction in flight is half there: %s' % (
                    opid, ', '.join('%s %s' % (s[2], 'there' if d else 'missing') for s, d in zip(o['steps'], done))))
            if all(done):
                counts['inflight_done'] += 1
        else:
            problems.append('%s: odd answer: %s' % (opid, o.get('text')))
    known = {(s[1], s[0], s[2]) for o in ops.values() for s in o['steps']}
    for key in present:
        if key not in known:
            problems.append('request %s was never sent' % (key,))
    bad = db.run("SELECT 'V|' || check_name || '|' || coalesce(type, '') || '|' || coalesce(customer, '')"
                 " || '|' || coalesce(id::text, '') || '|' || detail FROM points.verify();")
    problems.extend('verify(): ' + l for l in bad if l.startswith('V|') or 'ERROR' in l)
    idx = [] if not amcheck else db.run("SELECT 'I|' || c.relname || '|' || bt_index_check(c.oid, true)::text"
                 " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                 " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam"
                 " WHERE n.nspname = 'points' AND a.amname = 'btree';")
    problems.extend('amcheck: ' + l for l in idx if 'ERROR' in l)
    nidx = len([l for l in idx if l.startswith('I|')])
    db.close()
    print('# after cycle %d, all cycles so far: %d operations acknowledged, %d refused, %d in flight at a crash'
          ' (%d of them committed); %d requests in the ledger, %d indexes checked with amcheck (%.1fs)'
          % (cycle, counts['ack'], counts['fail'], counts['inflight'], counts['inflight_done'], len(present), nidx,
             time.time() - started),
          flush=True)
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--host', required=True)
    ap.add_argument('--port', default='5626')
    ap.add_argument('--db', default='points_rel')
    ap.add_argument('--data', required=True, help='data directory')
    ap.add_argument('--bindir', required=True)
    ap.add_argument('--logdir', required=True, help='where the clients write their logs')
    ap.add_argument('--serverlog', required=True)
    ap.add_argument('--as-postgres', action='store_true', help='run pg_ctl through runuser -u postgres')
    ap.add_argument('--clients', type=int, default=4)
    ap.add_argument('--cycles', type=int, default=3)
    ap.add_argument('--seconds', type=float, default=2, help='load before each crash (randomized +-50%%)')
    ap.add_argument('--seed', type=int)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10 ** 9)
    rng = random.Random(seed)
    conn = ['-h', args.host, '-p', str(args.port), '-U', 'postgres', '-d', args.db]
    pre = ['runuser', '-u', 'postgres', '--'] if args.as_postgres else []
    pg_ctl = pre + [os.path.join(args.bindir, 'pg_ctl'), '-D', args.data]

    setup = Psql(conn)
    out = setup.run(TYPES_SQL + '\nCREATE EXTENSION amcheck;')
    setup.close()
    if any('ERROR' in l for l in out):
        print('FAIL: setup: %s' % out)
        return 1
    print('# crash: %d clients, %d cycles, seed %d (rerun: --seed %d)' % (args.clients, args.cycles, seed, seed), flush=True)
    customers = ['k%02d' % i for i in range(12)]
    stop = threading.Event()
    up = threading.Event()
    up.set()
    clients = [Client(n, conn, args.logdir, rng.randrange(1 << 30), customers, stop, up)
               for n in range(args.clients)]
    for c in clients:
        c.start()
    problems = []
    try:
        for cycle in range(1, args.cycles + 1):
            time.sleep(args.seconds * rng.uniform(0.5, 1.5))
            up.clear()
            with open(os.path.join(args.data, 'postmaster.pid')) as f:
                pm = int(f.readline())
            if cycle % 2 == 1:
                how = 'SIGKILL to every server process'
                kids = subprocess.run(['ps', '-o', 'pid=', '--ppid', str(pm)], capture_output=True,
                                      text=True).stdout.split()
                os.kill(pm, signal.SIGKILL)
                for k in kids:
                    try:
                        os.kill(int(k), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                for _ in range(100):
                    alive = [k for k in kids + [str(pm)] if os.path.exists('/proc/%s' % k)]
                    if not alive:
                        break
                    time.sleep(0.05)
            else:
                how = 'pg_ctl stop -m immediate'
                subprocess.run(pg_ctl + ['-m', 'immediate', '-w', 'stop'], capture_output=True)
            acked = sum(c.acked for c in clients)
            print('# cycle %d: %s after %d acknowledged operations' % (cycle, how, acked), flush=True)
            time.sleep(0.3)
            t0 = time.time()
            r = subprocess.run(pg_ctl + ['-l', args.serverlog, '-w', '-t', '120', 'start'],
                               capture_output=True, text=True)
            if r.returncode != 0:
                problems.append('cycle %d: the server did not restart: %s %s' % (cycle, r.stdout, r.stderr))
                break
            print('# cycle %d: restarted in %.1fs' % (cycle, time.time() - t0), flush=True)
            # let the clients notice the crash before looking
            time.sleep(0.5)
            found = check(conn, args.logdir, args.clients, cycle, cycle == args.cycles)
            problems.extend('cycle %d: %s' % (cycle, p) for p in found)
            if found:
                break
            up.set()
    finally:
        stop.set()
        up.set()
        for c in clients:
            c.join(timeout=60)
    for c in clients:
        if c.error:
            problems.append('%s: %s' % (c.name, c.error))
    with open(args.serverlog, errors='replace') as f:
        recovered = sum(1 for l in f if 'database system was not properly shut down' in l
                        or 'redo done' in l)
    if recovered == 0:
        problems.append('the server log shows no crash recovery')
    if problems:
        for p in problems[:30]:
            print('# ' + p)
        print('not ok 1 - crash recovery: %d problems' % len(problems))
        print('FAIL (%d problems)' % len(problems))
        print('0 passed, 1 failed')
        return 1
    print('ok 1 - crash recovery: every acknowledged operation survived %d crashes, nothing is half there,'
          ' verify() and amcheck are clean' % args.cycles)
    print('PASS')
    print('1 passed, 0 failed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
