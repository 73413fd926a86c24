#!/usr/bin/env python3
"""Model-based test of the points ledger.

A small reference model of the SQL contract (DESIGN.md, README "How the
ledger works"), written independently of the C code, is run side by side
with a real database: random operations (seeded) go to both, and after every
step every outcome (returned id or SQLSTATE) and every figure of every
account (balance(), account(): available, held, pending, debt, next expiry,
lifetime earned/spent/expired; balances at later and earlier times) must
agree.  On a mismatch the sequence is shrunk (shortest failing prefix, then
delta debugging) and printed as runnable SQL.

stdlib only: psql is driven as a subprocess over a persistent connection.

  model.py --host SOCKETDIR --port N --db DB [--seed N] [--ops N] [--long]
"""
import argparse
import collections
import datetime
import os
import queue
import random
import re
import subprocess
import sys
import threading
import time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

INF = 1 << 62
DAY = 86400
HOUR = 3600
BASE = 1420070400          # 2015-01-01 00:00:00 UTC: business times stay behind now()
NOID = 999999999           # an id nothing has
INT64_MAX = (1 << 63) - 1

TYPES_SQL = """INSERT INTO points.types (code, name, name_plural, scale, validity, expiry_rounding,
    consume_order, clawback_policy, hold_timeout)
VALUES ('ma', 'a point', 'a points', 0, '36 hours', 'none', 'expiry', 'reject', '1 hour'),
       ('mb', 'b credit', 'b credits', 2, '7 days', 'day', 'fifo', 'debt', '2 hours');
INSERT INTO points.types (code, name, name_plural, scale, validity, expiry_rounding,
    time_zone, consume_order, clawback_policy, hold_timeout)
VALUES ('mc', 'c star', 'c stars', 1, '1 month', 'day', 'America/New_York', 'expiry', 'partial', '3 hours');"""

# validity -> (months, days, seconds): months and days count on the type's
# local calendar, seconds as elapsed time
VALIDITIES = {'36 hours': (0, 0, 36 * HOUR), '3 days': (0, 3, 0), '12 hours': (0, 0, 12 * HOUR),
              '7 days': (0, 7, 0), '2 days': (0, 2, 0), '20 hours': (0, 0, 20 * HOUR),
              '1 month': (0 + 1, 0, 0), '10 days': (0, 10, 0), '30 hours': (0, 0, 30 * HOUR),
              '1 day 12 hours': (0, 1, 12 * HOUR), '2 months': (2, 0, 0), None: None}
MC_VALIDITIES = ['1 month', '10 days', '30 hours', '1 day 12 hours', '2 months']
ROUNDINGS = ['none', 'day', 'week', 'month', 'year']
TYPE_CODES = ['ma', 'mb', 'mc']

CUSTOMERS = ['c1', 'c2', 'c3', "d'Ö ☃"]
ALL_CUSTOMERS = CUSTOMERS + ['c5']


def ts(t):
    if t >= INF:
        return 'infinity'
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S+00')


def q(s):
    return "'" + s.replace("'", "''") + "'"


def fmt_units(u, scale):
    if scale == 0:
        return str(u)
    sign = '-' if u < 0 else ''
    u = abs(u)
    p = 10 ** scale
    return '%s%d.%0*d' % (sign, u // p, scale, u % p)


class ModelError(Exception):
    def __init__(self, sqlstate, why=''):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate
        self.why = why


# ---------------------------------------------------------------------------
# The reference model
# ---------------------------------------------------------------------------

class PType:
    def __init__(self, code, scale, validity, rounding, order, policy, hold_timeout, zone='UTC'):
        self.tz = ZoneInfo(zone)
        self.code = code
        self.scale = scale
        self.validity = validity        # text or None
        self.rounding = rounding
        self.order = order
        self.policy = policy
        self.hold_timeout = hold_timeout  # seconds
        self.enabled = True

    def local(self, t):
        return datetime.datetime.fromtimestamp(t, self.tz).replace(tzinfo=None)

    def utc(self, local):
        """A local wall-clock time as PostgreSQL reads it: in a
        spring-forward gap with the offset before it, an ambiguous fall-back
        time with the offset after it (both: the later instant)."""
        u0 = local.replace(tzinfo=self.tz, fold=0).timestamp()
        u1 = local.replace(tzinfo=self.tz, fold=1).timestamp()
        return int(max(u0, u1))

    @staticmethod
    def add_months(local, months):
        y, m = divmod(local.month - 1 + months, 12)
        y += local.year
        m += 1
        last = [31, 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28,
                31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
        return local.replace(year=y, month=m, day=min(local.day, last))

    def expiry(self, frm, validity=None):
        """The expiry of points valid from `frm`: the type's validity (or
        `validity`) in its time zone, rounded up to the period's end."""
        v = VALIDITIES[self.validity if validity is None else validity]
        if v is None:
            return INF
        months, days, secs = v
        e = frm
        if months or days:
            local = self.add_months(self.local(frm), months) + datetime.timedelta(days=days)
            e = self.utc(local)
        e += secs
        if self.rounding == 'none':
            return e
        local = self.local(e)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.rounding == 'day':
            end = midnight + datetime.timedelta(days=1)
        elif self.rounding == 'week':
            end = midnight - datetime.timedelta(days=midnight.weekday()) + datetime.timedelta(days=7)
        elif self.rounding == 'month':
            end = self.add_months(midnight.replace(day=1), 1)
        else:
            end = midnight.replace(month=1, day=1, year=midnight.year + 1)
        return self.utc(end)


class Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class Model:
    def __init__(self):
        self.types = {
            'ma': PType('ma', 0, '36 hours', 'none', 'expiry', 'reject', HOUR),
            'mb': PType('mb', 2, '7 days', 'day', 'fifo', 'debt', 2 * HOUR),
            'mc': PType('mc', 1, '1 month', 'day', 'expiry', 'partial', 3 * HOUR, 'America/New_York'),
        }
        self.accounts = {}      # (type, customer) -> account
        self.lots = []          # every lot, in creation (= id) order
        self.lot_by_db = {}
        self.holds = {}         # db hold id -> hold
        self.entries = {}       # db entry id -> entry the model knows
        self.requests = {}      # (type, op, ref) -> (args, op index)
        self.undo = None
        self.created = []       # lots created by the current operation

    # -- undo log: a failing operation changes nothing ----------------------
    def set(self, obj, attr, value):
        if attr in ('remaining', 'held', 'debt', 'forgiven') and value < 0:
            raise AssertionError('model: %s would be %s' % (attr, value))
        self.undo.append(('attr', obj, attr, getattr(obj, attr)))
        setattr(obj, attr, value)
        if isinstance(obj, Obj) and getattr(obj, 'is_lot', False):
            self._live(obj)

    def dset(self, d, key, value):
        self.undo.append(('dict', d, key, d.get(key, Obj), key in d))
        d[key] = value

    def lappend(self, lst, value):
        self.undo.append(('list', lst, len(lst)))
        lst.append(value)

    def begin(self):
        self.undo = []
        self.created = []
        self.touched = set()

    def rollback(self):
        touched = []
        for rec in reversed(self.undo):
            if rec[0] == 'attr':
                setattr(rec[1], rec[2], rec[3])
                if getattr(rec[1], 'is_lot', False):
                    touched.append(rec[1])
            elif rec[0] == 'dict':
                if rec[4]:
                    rec[1][rec[2]] = rec[3]
                else:
                    rec[1].pop(rec[2], None)
            else:
                del rec[1][rec[2]:]
        for lot in touched:
            if lot.idx < len(self.lots) and self.lots[lot.idx] is lot:
                self._live(lot)
        self.undo = None
        self.created = []

    def commit(self):
        self.undo = None

    @staticmethod
    def _live(lot):
        live = lot.acct.live
        if lot.status == 'pending' or (lot.status == 'active' and lot.remaining > 0):
            live[lot.idx] = lot
        else:
            live.pop(lot.idx, None)

    # -- helpers -------------------------------------------------------------
    def ptype(self, code):
        t = self.types.get(code)
        if t is None:
            raise ModelError('42704', 'unknown type')
        return t

    @staticmethod
    def units(text, ty, signed=False):
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise ModelError('22P02')
        if d.is_nan():
            raise ModelError('22023', 'NaN')
        if d.is_infinite():
            raise ModelError('22003', 'infinite')
        scaled = d * (10 ** ty.scale)
        if scaled != scaled.to_integral_value():
            raise ModelError('22023', 'decimals')
        u = int(scaled)
        if u > INT64_MAX or u < -INT64_MAX:
            raise ModelError('22003', 'range')
        if not signed and u <= 0:
            raise ModelError('22023', 'not positive')
        return u

    def request(self, ty, op, ref, args, index):
        """None: a new request (claimed); else the op index of the original."""
        if ref is None:
            return None
        key = (ty.code, op, ref)
        if key in self.requests:
            oargs, oindex = self.requests[key]
            if oargs != args:
                raise ModelError('PT003', 'ref reused')
            return oindex
        self.dset(self.requests, key, (args, index))
        return None

    def account(self, code, customer):
        return self.accounts.get((code, customer))

    def create_account(self, code, customer):
        a = self.accounts.get((code, customer))
        if a is None:
            a = Obj(type=code, customer=customer, seq=len(self.accounts), held=0, debt=0,
                    earned=0, spent=0, expired=0, live={})
            self.dset(self.accounts, (code, customer), a)
        return a

    def lock(self, acct, at):
        """An operation first expires the account's grants due by its at."""
        self.touched.add((acct.type, acct.customer))
        for lot in sorted(acct.live.values(), key=lambda l: l.idx):
            if lot.status == 'active' and lot.remaining > 0 and lot.exp <= at:
                self.set(acct, 'expired', acct.expired + lot.remaining)
                self.set(lot, 'lapsed', lot.lapsed + lot.remaining)
                self.set(lot, 'remaining', 0)

    def new_lot(self, acct, amount, status, avail, exp, at, fixed):
        lot = Obj(is_lot=True, idx=len(self.lots), db=None, acct=acct, type=acct.type,
                  amount=amount, remaining=amount, status=status, revoked=0, forgiven=0, lapsed=0,
                  validity=None,
                  avail=avail, exp=exp, at=at, fixed=fixed)
        self.lappend(self.lots, lot)
        self.created.append(lot)
        self._live(lot)
        self.undo.append(('dict', acct.live, lot.idx, Obj, False))
        return lot

    @staticmethod
    def eligible(lot, at):
        return lot.status == 'active' and lot.remaining > 0 and lot.avail <= at < lot.exp

    def available(self, acct, at):
        if acct is None:
            return 0
        return sum(l.remaining for l in acct.live.values() if self.eligible(l, at))

    def draw(self, acct, amount, at):
        ty = self.types[acct.type]
        lots = [l for l in acct.live.values() if self.eligible(l, at)]
        if ty.order == 'fifo':
            lots.sort(key=lambda l: (l.at, l.idx))
        else:
            lots.sort(key=lambda l: (l.exp, l.at, l.idx))
        draws = []
        left = amount
        for lot in lots:
            if left <= 0:
                break
            take = min(lot.remaining, left)
            self.set(lot, 'remaining', lot.remaining - take)
            draws.append((lot, take))
            left -= take
        assert left == 0, 'draw short'
        return draws

    def settle_debt(self, acct):
        if acct.debt <= 0:
            return
        lots = [l for l in acct.live.values() if l.status == 'active' and l.remaining > 0]
        lots.sort(key=lambda l: (l.exp, l.avail, l.idx))
        left = acct.debt
        for lot in lots:
            if left <= 0:
                break
            take = min(lot.remaining, left)
            self.set(lot, 'remaining', lot.remaining - take)
            left -= take
        self.set(acct, 'debt', left)

    def credit(self, acct, amount, avail, exp, at, fixed, pending=False, earned=True):
        lot = self.new_lot(acct, amount, 'pending' if pending else 'active', avail, exp, at, fixed)
        if not pending:
            if earned:
                self.set(acct, 'earned', acct.earned + amount)
            self.settle_debt(acct)
        return lot

    def new_debit(self, acct, draws):
        d = Obj(acct=acct, net={}, refunded=0)
        for lot, amt in draws:
            d.net[lot.idx] = d.net.get(lot.idx, 0) + amt
        return d

    def give_back(self, acct, debit, amount, at, reissue):
        """Points drawn by a debit go back to their grants, newest-drawn
        first; points of grants expired by `at` expire at once."""
        ty = self.types[acct.type]
        drawn = [(self.lots[i], n) for i, n in debit.net.items() if n > 0]
        if ty.order == 'fifo':
            drawn.sort(key=lambda x: (x[0].at, x[0].idx), reverse=True)
        else:
            drawn.sort(key=lambda x: (x[0].exp, x[0].at, x[0].idx), reverse=True)
        back = []
        left = amount
        for lot, n in drawn:
            if left <= 0:
                break
            x = min(n, left)
            back.append((lot, x))
            left -= x
        if left > 0:
            raise ModelError('XX000', 'debit drew fewer points than returned')
        net = dict(debit.net)
        for lot, x in back:
            self.set(lot, 'remaining', lot.remaining + x)
            net[lot.idx] -= x
        self.set(debit, 'net', net)
        # points that come back to a grant whose clawback was partly
        # forgiven are clawed back now (grants expired meanwhile lapse)
        for lot, x in back:
            if lot.exp > at and lot.forgiven > 0:
                y = min(lot.forgiven, x)
                self.set(lot, 'forgiven', lot.forgiven - y)
                self.set(lot, 'remaining', lot.remaining - y)
        # every returned point of an expired grant lapses; then, with
        # reissue, comes back as a fresh grant (which repays debt first)
        lapsed = []
        for lot, x in back:
            if lot.exp <= at:
                self.set(lot, 'remaining', lot.remaining - x)
                self.set(lot, 'lapsed', lot.lapsed + x)
                self.set(acct, 'expired', acct.expired + x)
                lapsed.append(x)
        if reissue:
            for x in lapsed:
                self.credit(acct, x, at, ty.expiry(at), at, False, earned=False)
        self.settle_debt(acct)

    # -- operations ----------------------------------------------------------
    # Each returns an outcome: ('lot', lot) | ('entry', kind, customer, record)
    # | ('hold', hold) | ('replay', op index) | ('void',) | ('count', n).

    def op_grant(self, o, index):
        at = o['at']
        avail = o['avail'] if o['avail'] is not None else at
        if o['avail'] is not None and o['avail'] < at:
            raise ModelError('22023', 'available_at before at')
        ty = self.ptype(o['t'])
        amount = self.units(o['amount'], ty)
        fixed = o['exp'] is not None
        exp = o['exp'] if fixed else ty.expiry(avail)
        if exp <= avail:
            raise ModelError('22023', 'expires_at not after available_at')
        args = (o['c'], amount, exp if fixed else None, o['avail'], o['pending'])
        orig = self.request(ty, 'grant', o['ref'], args, index)
        if orig is not None:
            return ('replay', orig)
        acct = self.create_account(ty.code, o['c'])
        self.lock(acct, at)
        # a pending grant keeps the validity in force now; it restarts at
        # confirmation (never expiring stays never expiring)
        if o['pending'] and not fixed and ty.validity is None:
            fixed = True
        lot = self.credit(acct, amount, avail, exp, at, fixed, pending=o['pending'])
        if o['pending'] and not fixed:
            lot.validity = ty.validity
        return ('lot', lot)

    def op_consume(self, o, index):
        ty = self.ptype(o['t'])
        amount = self.units(o['amount'], ty)
        if not ty.enabled:
            raise ModelError('PT002', 'disabled')
        orig = self.request(ty, 'consume', o['ref'], (o['c'], amount), index)
        if orig is not None:
            return ('replay', orig)
        acct = self.account(ty.code, o['c'])
        if acct is None:
            raise ModelError('PT001', 'no account')
        self.lock(acct, o['at'])
        if self.available(acct, o['at']) < amount:
            raise ModelError('PT001', 'insufficient')
        debit = self.new_debit(acct, self.draw(acct, amount, o['at']))
        self.set(acct, 'spent', acct.spent + amount)
        return ('entry', 'consume', o['c'], Obj(kind='consume', debit=debit, spent=amount))

    def op_adjust(self, o, index):
        ty = self.ptype(o['t'])
        delta = self.units(o['delta'], ty, signed=True)
        if delta == 0:
            raise ModelError('22023', 'zero delta')
        orig = self.request(ty, 'adjust', o['ref'], (o['c'], delta), index)
        if orig is not None:
            return ('replay', orig)
        at = o['at']
        if delta > 0:
            acct = self.create_account(ty.code, o['c'])
            self.lock(acct, at)
            self.credit(acct, delta, at, ty.expiry(at), at, False)
            return ('entry', 'adjust', o['c'], Obj(kind='adjust', debit=None, spent=-delta))
        acct = self.account(ty.code, o['c'])
        if acct is None:
            raise ModelError('PT001', 'no account')
        self.lock(acct, at)
        if self.available(acct, at) < -delta:
            raise ModelError('PT001', 'insufficient')
        debit = self.new_debit(acct, self.draw(acct, -delta, at))
        self.set(acct, 'spent', acct.spent - delta)
        return ('entry', 'adjust', o['c'], Obj(kind='adjust', debit=debit, spent=-delta))

    def op_hold(self, o, index):
        ty = self.ptype(o['t'])
        amount = self.units(o['amount'], ty)
        if not ty.enabled:
            raise ModelError('PT002', 'disabled')
        at = o['at']
        until = o['until'] if o['until'] is not None else at + ty.hold_timeout
        if until <= at:
            raise ModelError('22023', 'until not after at')
        orig = self.request(ty, 'hold', o['ref'], (o['c'], amount, o['until']), index)
        if orig is not None:
            return ('replay', orig)
        acct = self.account(ty.code, o['c'])
        if acct is None:
            raise ModelError('PT001', 'no account')
        self.lock(acct, at)
        if self.available(acct, at) < amount:
            raise ModelError('PT001', 'insufficient')
        debit = self.new_debit(acct, self.draw(acct, amount, at))
        self.set(acct, 'held', acct.held + amount)
        hold = Obj(acct=acct, amount=amount, debit=debit, status='open', captured=0,
                   settled=None, until=until, db=None)
        return ('hold', hold)

    def settle(self, hold, capture, at, index):
        acct = hold.acct
        self.set(acct, 'held', acct.held - hold.amount)
        if capture > 0:
            self.set(acct, 'spent', acct.spent + capture)
        rest = hold.amount - capture
        if rest > 0:
            self.give_back(acct, hold.debit, rest, at, False)
        self.set(hold, 'status', 'captured' if capture > 0 else 'released')
        self.set(hold, 'captured', capture)
        self.set(hold, 'settled', index)

    def op_capture(self, o, index):
        # As README says: a hold past its until stays open (held, capturable) until
        # release_holds() runs (test/model/repros/hold_timed_out.sql)
        hold = self.holds.get(o['hold_db'])
        if hold is None:
            raise ModelError('42704', 'no hold')
        ty = self.types[hold.acct.type]
        self.lock(hold.acct, o['at'])
        amount = hold.amount if o['amount'] is None else self.units(o['amount'], ty)
        if amount > hold.amount:
            raise ModelError('PT001', 'capture beyond the hold')
        if hold.status == 'captured' and hold.captured == amount:
            return ('replay', hold.settled)
        if hold.status != 'open':
            raise ModelError('PT004', 'hold ' + hold.status)
        self.settle(hold, amount, o['at'], index)
        return ('entry', 'capture', hold.acct.customer,
                Obj(kind='capture', debit=hold.debit, spent=amount))

    def op_release(self, o, index):
        hold = self.holds.get(o['hold_db'])
        if hold is None:
            raise ModelError('42704', 'no hold')
        self.lock(hold.acct, o['at'])
        if hold.status == 'captured':
            raise ModelError('PT004', 'hold captured')
        if hold.status == 'open':
            self.settle(hold, 0, o['at'], index)
        return ('void',)

    def op_refund(self, o, index):
        e = self.entries.get(o['entry_db'])
        if e is None:
            raise ModelError('42704', 'no entry')
        if not (e.kind in ('consume', 'capture') or (e.kind == 'adjust' and e.spent > 0)):
            raise ModelError('PT004', 'not a refundable debit')
        acct = e.debit.acct
        ty = self.types[acct.type]
        amount = None if o['amount'] is None else self.units(o['amount'], ty)
        orig = self.request(ty, 'refund', o['ref'], (o['entry_db'], amount, o['reissue']), index)
        if orig is not None:
            return ('replay', orig)
        self.lock(acct, o['at'])
        left = e.spent - e.debit.refunded
        if amount is None:
            amount = left
        if amount <= 0 or amount > left:
            raise ModelError('PT004', 'refund more than spent')
        self.set(acct, 'spent', acct.spent - amount)
        self.set(e.debit, 'refunded', e.debit.refunded + amount)
        self.give_back(acct, e.debit, amount, o['at'], o['reissue'])
        return ('entry', 'refund', acct.customer, Obj(kind='refund', debit=None, spent=0))

    def op_revoke(self, o, index):
        lot = self.lot_by_db.get(o['lot_db'])
        if lot is None:
            raise ModelError('42704', 'no grant')
        acct = lot.acct
        ty = self.types[acct.type]
        at = o['at']
        self.lock(acct, at)
        if o['policy'] is not None and o['policy'] not in ('reject', 'partial', 'debt'):
            raise ModelError('22023', 'bad policy')
        policy = o['policy'] or ty.policy
        amount = None if o['amount'] is None else self.units(o['amount'], ty)
        orig = self.request(ty, 'revoke', o['ref'], (o['lot_db'], amount, o['policy']), index)
        if orig is not None:
            return ('replay', orig)
        if lot.status == 'voided':
            raise ModelError('PT004', 'voided')
        # points that expired from the grant were never spent: not owed
        revocable = lot.amount - lot.revoked - (0 if lot.status == 'pending' else lot.lapsed)
        if amount is None:
            amount = revocable
            if amount == 0:
                return ('null',)        # nothing left to claw back
        if amount <= 0 or amount > revocable or \
                (lot.status == 'pending' and amount != lot.amount):
            raise ModelError('PT004', 'revoke more than granted')
        if lot.status == 'pending':
            self.set(lot, 'status', 'voided')
            self.set(lot, 'revoked', lot.amount)
            self.set(lot, 'remaining', 0)
            return ('entry', 'void', acct.customer, Obj(kind='void', debit=None, spent=0))
        eligible = lot.avail <= at < lot.exp
        from_lot = min(amount, lot.remaining)
        short = amount - from_lot
        other = self.available(acct, at) - (lot.remaining if eligible else 0)
        from_other = min(short, max(other, 0))
        missing = short - from_other
        if missing > 0 and policy == 'reject':
            raise ModelError('PT001', 'revoke under reject')
        if policy == 'debt':
            self.set(acct, 'debt', acct.debt + missing)
        if policy == 'partial':
            self.set(lot, 'forgiven', lot.forgiven + missing)
        self.set(lot, 'revoked', lot.revoked + amount)
        self.set(lot, 'remaining', lot.remaining - from_lot)
        if from_other > 0:
            self.draw(acct, from_other, at)
        self.settle_debt(acct)
        return ('entry', 'revoke', acct.customer, Obj(kind='revoke', debit=None, spent=0))

    def op_confirm(self, o, index):
        lot = self.lot_by_db.get(o['lot_db'])
        if lot is None:
            raise ModelError('42704', 'no grant')
        acct = lot.acct
        ty = self.types[acct.type]
        at = o['at']
        self.lock(acct, at)
        if lot.status == 'voided':
            raise ModelError('PT004', 'voided')
        if lot.status == 'pending':
            avail = max(lot.avail, at)
            exp = lot.exp if lot.fixed else ty.expiry(avail, lot.validity)
            if exp <= avail:
                raise ModelError('PT004', 'expired before confirmed')
            self.set(lot, 'avail', avail)
            self.set(lot, 'exp', exp)
            self.set(lot, 'status', 'active')
            self.set(acct, 'earned', acct.earned + lot.amount)
            self.settle_debt(acct)
        return ('void',)

    def op_transfer(self, o, index):
        if o['from'] == o['to']:
            raise ModelError('22023', 'to itself')
        ty = self.ptype(o['t'])
        amount = self.units(o['amount'], ty)
        if not ty.enabled:
            raise ModelError('PT002', 'disabled')
        orig = self.request(ty, 'transfer', o['ref'], (o['from'], o['to'], amount), index)
        if orig is not None:
            return ('replay', orig)
        at = o['at']
        sender = self.account(ty.code, o['from'])
        # both accounts are locked (and the receiver's created) in customer order
        if o['from'] < o['to']:
            if sender is not None:
                self.lock(sender, at)
            receiver = self.create_account(ty.code, o['to'])
            self.lock(receiver, at)
        else:
            receiver = self.create_account(ty.code, o['to'])
            self.lock(receiver, at)
            if sender is not None:
                self.lock(sender, at)
        if sender is None or self.available(sender, at) < amount:
            raise ModelError('PT001', 'insufficient')
        draws = self.draw(sender, amount, at)
        i = 0
        while i < len(draws):
            exp = draws[i][0].exp
            moved = 0
            while i < len(draws) and draws[i][0].exp == exp:
                moved += draws[i][1]
                i += 1
            self.credit(receiver, moved, at, exp, at, True, earned=False)
        return ('entry', 'transfer_out', o['from'], Obj(kind='transfer_out', debit=None, spent=0))

    def op_expire(self, o, index):
        at = o['at']
        due = [l for a in self.accounts.values() for l in a.live.values()
               if l.status == 'active' and l.remaining > 0 and l.exp <= at]
        due.sort(key=lambda l: (l.exp, l.idx))
        # the accounts of the oldest due grants, in that order
        accts = []
        for l in due[:o['batch']]:
            if l.acct not in accts:
                accts.append(l.acct)
        n = 0
        for acct in accts:
            mine = sorted((l for l in due if l.acct is acct), key=lambda l: (l.exp, l.idx))
            for lot in mine:
                if n >= o['batch']:
                    break
                self.set(acct, 'expired', acct.expired + lot.remaining)
                self.set(lot, 'lapsed', lot.lapsed + lot.remaining)
                self.set(lot, 'remaining', 0)
                n += 1
        return ('count', n)

    def op_release_holds(self, o, index):
        at = o['at']
        due = sorted(((h.until, hid, h) for hid, h in self.holds.items()
                      if h.status == 'open' and h.until <= at))
        accts = {id(h.acct) for _, _, h in due[:o['batch']]}
        todo = [(u, hid, h) for u, hid, h in due if id(h.acct) in accts][:o['batch']]
        for until, hid, hold in todo:
            self.lock(hold.acct, until)
            self.settle(hold, 0, until, index)
        return ('count', len(todo), [u for u, _, _ in todo])

    def op_policy(self, o, index):
        ty = self.types[o['t']]
        for k, v in o['set'].items():
            self.set(ty, k, v)
        return ('void',)

    def apply(self, o, index):
        self.begin()
        try:
            out = getattr(self, 'op_' + o['op'])(o, index)
        except ModelError as e:
            self.rollback()
            return ('error', e.sqlstate, e.why)
        self.commit()
        return out

    # -- figures -------------------------------------------------------------
    def figures(self, code, customer, at):
        """balance, and account(): available, held, pending, debt,
        next_expiry_at, next_expiry_amount, earned, spent, expired."""
        a = self.account(code, customer)
        sc = self.types[code].scale
        if a is None:
            z = fmt_units(0, sc)
            return [z, z, z, z, z, '', '', z, z, z]
        avail = 0
        pending = 0
        unswept = 0
        nxt = None
        nxt_amt = 0
        for l in a.live.values():
            if l.status == 'pending':
                pending += l.amount
                continue
            if l.remaining <= 0:
                continue
            if l.exp <= at:
                unswept += l.remaining
            elif l.avail > at:
                pending += l.remaining
            else:
                avail += l.remaining
                if l.exp < INF:
                    if nxt is None or l.exp < nxt:
                        nxt, nxt_amt = l.exp, l.remaining
                    elif l.exp == nxt:
                        nxt_amt += l.remaining
        f = lambda u: fmt_units(u, sc)
        return [f(avail), f(avail), f(a.held), f(pending), f(a.debt),
                '' if nxt is None else str(nxt), '' if nxt is None else f(nxt_amt),
                f(a.earned), f(a.spent), f(a.expired + unswept)]


FIELDS = ['balance', 'available', 'held', 'pending', 'debt', 'next_expiry_at',
          'next_expiry_amount', 'lifetime_earned', 'lifetime_spent', 'lifetime_expired']


# ---------------------------------------------------------------------------
# The database side
# ---------------------------------------------------------------------------

class Psql:
    END = '@@points-model-end@@'
    TIMEOUT = 300               # seconds for one round trip: a hang fails the run

    def __init__(self, conn, log=None):
        self.p = subprocess.Popen(
            ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=0'] + conn,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1, encoding='utf-8', errors='replace')
        self.log = log
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.run('\\set VERBOSITY verbose\nSET TimeZone = \'UTC\';\nSET client_encoding = \'UTF8\';')

    def run(self, sql):
        if self.log:
            self.log.write(sql + '\n')
        self.p.stdin.write(sql + '\n\\echo ' + self.END + '\n')
        self.p.stdin.flush()
        out = []
        while True:
            try:
                line = self.lines.get(timeout=self.TIMEOUT)
            except queue.Empty:
                self.p.kill()
                raise RuntimeError('psql did not answer within %ds; the statement: %s' % (self.TIMEOUT, sql[:500]))
            if line is None:
                raise RuntimeError('psql exited: ' + '\n'.join(out[-20:]))
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
            self.p.wait(timeout=10)
        except Exception:
            self.p.kill()


ERR_RE = re.compile(r'^(?:psql:[^ ]* )?ERROR:\s+([0-9A-Z]{5}):\s*(.*)$')


def parse_result(lines):
    """('ok', value) or ('error', sqlstate, message)."""
    for line in lines:
        m = ERR_RE.match(line)
        if m:
            return ('error', m.group(1), m.group(2))
    for line in lines:
        if 'server closed the connection' in line or 'terminated abnormally' in line:
            return ('error', 'CRASH', line)
    vals = [l for l in lines if not l.startswith(('NOTICE:', 'WARNING:', 'DETAIL:', 'HINT:',
                                                  'LOCATION:', 'CONTEXT:', 'LOG:'))]
    return ('ok', vals[0] if vals else '')


def lit_amount(s):
    return s if re.match(r'^-?[0-9.]+$', s) else q(s) + '::numeric'


def op_sql(o, ids):
    """The SQL of an operation; ids(sym) -> the db id of a symbolic target."""
    k = o['op']
    at = q(ts(o['at']))
    ref = '' if o.get('ref') is None else ', ref => %s' % q(o['ref'])
    if k == 'grant':
        s = 'SELECT points."grant"(%s, %s, %s%s' % (q(o['t']), q(o['c']), lit_amount(o['amount']), ref)
        if o['exp'] is not None:
            s += ', expires_at => %s' % q(ts(o['exp']))
        if o['avail'] is not None:
            s += ', available_at => %s' % q(ts(o['avail']))
        if o['pending']:
            s += ', pending => true'
        return s + ', at => %s)' % at
    if k == 'consume':
        return 'SELECT points.consume(%s, %s, %s%s, at => %s)' % (q(o['t']), q(o['c']), lit_amount(o['amount']), ref, at)
    if k == 'adjust':
        return 'SELECT points.adjust(%s, %s, %s%s, at => %s)' % (q(o['t']), q(o['c']), lit_amount(o['delta']), ref, at)
    if k == 'hold':
        s = 'SELECT points.hold(%s, %s, %s%s' % (q(o['t']), q(o['c']), lit_amount(o['amount']), ref)
        if o['until'] is not None:
            s += ', until => %s' % q(ts(o['until']))
        return s + ', at => %s)' % at
    if k == 'capture':
        amt = '' if o['amount'] is None else ', amount => %s' % lit_amount(o['amount'])
        return 'SELECT points.capture(%s%s, at => %s)' % (ids(o['hold']), amt, at)
    if k == 'release':
        return 'SELECT points.release(%s, at => %s)' % (ids(o['hold']), at)
    if k == 'refund':
        amt = '' if o['amount'] is None else ', amount => %s' % lit_amount(o['amount'])
        rei = ', reissue => true' if o['reissue'] else ''
        return 'SELECT points.refund(%s%s%s%s, at => %s)' % (ids(o['entry']), amt, ref, rei, at)
    if k == 'revoke':
        amt = '' if o['amount'] is None else ', amount => %s' % lit_amount(o['amount'])
        pol = '' if o['policy'] is None else ', policy => %s' % q(o['policy'])
        return 'SELECT points.revoke(%s%s%s%s, at => %s)' % (ids(o['lot']), amt, pol, ref, at)
    if k == 'confirm':
        return 'SELECT points.confirm(%s, at => %s)' % (ids(o['lot']), at)
    if k == 'transfer':
        return 'SELECT points.transfer(%s, %s, %s, %s%s, at => %s)' % (
            q(o['t']), q(o['from']), q(o['to']), lit_amount(o['amount']), ref, at)
    if k == 'expire':
        return 'SELECT points.expire(%s, %d)' % (at, o['batch'])
    if k == 'release_holds':
        return 'SELECT points.release_holds(%s, %d)' % (at, o['batch'])
    if k == 'policy':
        sets = []
        for c, v in o['set'].items():
            if c == 'validity':
                sets.append('validity = %s' % ('NULL' if v is None else q(v)))
            elif c == 'enabled':
                sets.append('enabled = %s' % ('true' if v else 'false'))
            elif c == 'rounding':
                sets.append('expiry_rounding = %s' % q(v))
            elif c in ('policy', 'order'):
                sets.append('%s = %s' % ('clawback_policy' if c == 'policy' else 'consume_order', q(v)))
        return 'UPDATE points.types SET %s WHERE code = %s' % (', '.join(sets), q(o['t']))
    raise ValueError(k)


# ---------------------------------------------------------------------------
# Random operations
# ---------------------------------------------------------------------------

class Gen:
    def __init__(self, rng, base=None):
        self.rng = rng
        self.t = BASE if base is None else base
        self.no_reissue = False
        self.nref = 0
        self.refops = []        # indexes of ops that carried a ref
        # what earlier operations made, kept up to date by observe()
        self.seen = 0
        self.nlots = 0
        self.holds = []         # op indexes of holds
        self.open_holds = []    # ... that may still be open
        self.entries = []       # op indexes of operations that returned an entry
        self.refundable = []    # ... of debits that may have points left to refund
        self.lots = []          # lots with a db id
        self.pending = []       # ... that may still be pending
        self.ids = set()

    def observe(self, m, ops, results):
        for j in range(self.seen, len(ops)):
            v = results[j]
            if v in (None, '') or not v.isdigit():
                continue
            k = ops[j]['op']
            if k == 'hold' and ('h', v) not in self.ids:
                self.ids.add(('h', v))
                self.holds.append(j)
                self.open_holds.append(j)
            elif k in ('consume', 'adjust', 'capture', 'transfer', 'revoke', 'refund') and ('e', v) not in self.ids:
                self.ids.add(('e', v))
                self.entries.append(j)
                rec = m.entries.get(int(v))
                if rec is not None and rec.spent > 0:
                    self.refundable.append(j)
        self.seen = len(ops)
        for lot in m.lots[self.nlots:]:
            if lot.db is not None:
                self.lots.append(lot)
                if lot.status == 'pending':
                    self.pending.append(lot)
        self.nlots = len(m.lots)

    def live(self, lst, ok):
        """Drop the entries of lst that are no longer ok (they never are again)."""
        if self.rng.random() < 0.1:
            lst[:] = [x for x in lst if ok(x)]
        return lst

    def amount(self, ty, lo=1, hi=40):
        r = self.rng
        if ty.scale == 0:
            return str(r.randint(lo, hi))
        p = 10 ** ty.scale
        u = r.randint(lo * p, hi * p)
        if r.random() < 0.3:
            u = (u // p) * p
        return fmt_units(u, ty.scale)

    def bad_amount(self, ty):
        r = self.rng
        return r.choice(['0', '-3', '1.234', '12.5' if ty.scale == 0 else '0.001',
                         '99999999999999999999', 'NaN', 'Infinity', '-Infinity', '0.0', '1e1', ' 7 '])

    def near(self, ty, units):
        """An amount around `units` (so both outcomes happen)."""
        r = self.rng
        if units <= 0 or r.random() < 0.15:
            return self.amount(ty, 1, 30)
        u = max(1, int(units * r.choice([0.1, 0.2, 0.3, 0.5, 0.5, 0.7, 0.9, 1.0, 1.0, 1.1, 1.5])))
        if ty.scale > 0 and r.random() < 0.5:
            u = max(1, u - r.randint(0, 10 ** ty.scale - 1))
        return fmt_units(u, ty.scale)

    def dst_avail(self, ty, at):
        """An available_at from which the type's validity ends at a local
        time that does not exist (spring forward) or exists twice (fall
        back), or None."""
        v = VALIDITIES[ty.validity]
        if v is None:
            return None
        months, days, secs = v
        year = ty.local(at).year
        for y in (year, year + 1):
            march = datetime.datetime(y, 3, 8)
            spring = march + datetime.timedelta(days=(6 - march.weekday()) % 7)
            nov = datetime.datetime(y, 11, 1)
            fall = nov + datetime.timedelta(days=(6 - nov.weekday()) % 7)
            for target in self.rng.sample([spring.replace(hour=2, minute=30), fall.replace(hour=1, minute=30)], 2):
                if months or days:
                    local = ty.add_months(target - datetime.timedelta(days=days), -months)
                    avail = ty.utc(local) - secs
                else:
                    avail = ty.utc(target) - secs
                if avail >= at:
                    return avail
        return None

    def ref(self):
        if self.rng.random() < 0.35:
            self.nref += 1
            return 'r%d' % self.nref
        return None

    def advance(self):
        r = self.rng.random()
        if r < 0.3:
            d = 0
        elif r < 0.6:
            d = self.rng.randint(1, HOUR)
        elif r < 0.88:
            d = self.rng.randint(HOUR, 12 * HOUR)
        else:
            d = self.rng.randint(12 * HOUR, 3 * DAY)
        self.t += d
        return self.t

    def next(self, m, ops, results):
        """A random operation, chosen with the model's state in view."""
        r = self.rng
        at = self.advance()
        tcode = r.choice(TYPE_CODES)
        ty = m.types[tcode]
        c = r.choice(CUSTOMERS) if r.random() < 0.97 else 'c5'
        x = r.random()
        self.observe(m, ops, results)
        known_holds = self.holds
        open_holds = self.live(self.open_holds, lambda i: m.holds[int(results[i])].status == 'open')
        if open_holds and r.random() < 0.8:
            known_holds = open_holds
        known_entries = self.entries
        # replays of earlier requests with a ref
        if x < 0.05 and self.refops:
            i = r.choice(self.refops)
            o = dict(ops[i])
            o['at'] = at
            o['now'] = at
            o['cs'] = r.randrange(1 << 30)
            if r.random() < 0.3:
                # the same ref with other arguments
                if 'amount' in o and o['amount'] is not None:
                    o['amount'] = self.amount(m.types.get(o.get('t', 'ma'), ty), 1, 60)
                elif 'delta' in o:
                    o['delta'] = self.amount(m.types[o['t']], 1, 60)
                else:
                    o['amount'] = self.amount(m.types.get(o.get('t', 'ma'), ty), 1, 5)
            return o
        if x < 0.30:
            o = dict(op='grant', t=tcode, c=c, amount=self.amount(ty), ref=self.ref(), at=at,
                     exp=None, avail=None, pending=False)
            y = r.random()
            if y < 0.12:
                o['exp'] = at + r.randint(1, 3 * DAY)
            elif y < 0.16:
                o['exp'] = INF
            elif y < 0.18:
                o['exp'] = at - r.randint(0, DAY)          # not after available_at
            if r.random() < 0.12:
                o['avail'] = at + r.randint(1, DAY)
                if o['exp'] is not None and o['exp'] < INF and r.random() < 0.8:
                    o['exp'] = o['avail'] + r.randint(1, 3 * DAY)
            elif r.random() < 0.02:
                o['avail'] = at - 60                       # before at
            if tcode == 'mc' and o['exp'] is None and o['avail'] is None and r.random() < 0.15:
                o['avail'] = self.dst_avail(ty, at)
            if r.random() < 0.12:
                o['pending'] = True
            if r.random() < 0.03:
                o['amount'] = self.bad_amount(ty)
            if r.random() < 0.01:
                o['t'] = 'nope'
        elif x < 0.46:
            a = m.account(tcode, c)
            o = dict(op='consume', t=tcode, c=c, amount=self.near(ty, m.available(a, at)),
                     ref=self.ref(), at=at)
            if r.random() < 0.03:
                o['amount'] = self.bad_amount(ty)
        elif x < 0.51:
            a = m.account(tcode, c)
            if r.random() < 0.5:
                d = self.amount(ty, 1, 20)
            else:
                d = '-' + self.near(ty, m.available(a, at))
            if r.random() < 0.03:
                d = '0'
            o = dict(op='adjust', t=tcode, c=c, delta=d, ref=self.ref(), at=at)
        elif x < 0.59:
            a = m.account(tcode, c)
            o = dict(op='hold', t=tcode, c=c, amount=self.near(ty, m.available(a, at)),
                     ref=self.ref(), at=at, until=None)
            y = r.random()
            if y < 0.3:
                o['until'] = at + r.randint(60, DAY)
            elif y < 0.32:
                o['until'] = at
        elif x < 0.65:
            h = ('op', r.choice(known_holds)) if known_holds and r.random() < 0.95 else ('none',)
            amt = None
            if r.random() < 0.4 and h[0] == 'op':
                hold = m.holds.get(results[h[1]])
                if hold is not None:
                    sc = m.types[hold.acct.type].scale
                    u = r.randint(1, hold.amount + (1 if r.random() < 0.2 else 0))
                    amt = fmt_units(u, sc)
            o = dict(op='capture', hold=h, amount=amt, at=at)
        elif x < 0.69:
            h = ('op', r.choice(known_holds)) if known_holds and r.random() < 0.95 else ('none',)
            o = dict(op='release', hold=h, at=at)
        elif x < 0.77:
            refundable = self.live(self.refundable, lambda i: m.entries[int(results[i])].spent
                                   > m.entries[int(results[i])].debit.refunded)
            if refundable and r.random() < 0.75:
                known_entries = refundable
            e = ('op', r.choice(known_entries)) if known_entries and r.random() < 0.97 else ('none',)
            amt = None
            if e[0] == 'op' and r.random() < 0.5:
                rec = m.entries.get(int(results[e[1]]))
                if rec is not None and rec.spent > 0:
                    sc = m.types[rec.debit.acct.type].scale
                    left = rec.spent - rec.debit.refunded
                    u = r.randint(1, max(1, left + (1 if r.random() < 0.15 else 0)))
                    amt = fmt_units(u, sc)
            o = dict(op='refund', entry=e, amount=amt, reissue=r.random() < 0.25 and not self.no_reissue,
                     ref=self.ref(), at=at)
        elif x < 0.84:
            lots = self.lots
            if lots and r.random() < 0.97:
                lot = r.choice(lots[-40:] if r.random() < 0.7 else lots)
                sym = lot.sym
            else:
                lot, sym = None, ('none',)
            amt = None
            if lot is not None and r.random() < 0.4:
                sc = m.types[lot.type].scale
                u = r.randint(1, max(1, lot.amount - lot.revoked + (1 if r.random() < 0.1 else 0)))
                amt = fmt_units(u, sc)
            pol = r.choice([None, None, 'reject', 'partial', 'debt', 'bogus' if r.random() < 0.05 else None])
            o = dict(op='revoke', lot=sym, amount=amt, policy=pol, ref=self.ref(), at=at)
        elif x < 0.88:
            pend = self.live(self.pending, lambda l: l.status == 'pending')
            if pend and r.random() < 0.85:
                sym = r.choice(pend).sym
            else:
                sym = r.choice(self.lots).sym if self.lots else ('none',)
            o = dict(op='confirm', lot=sym, at=at)
        elif x < 0.94:
            frm = c
            to = r.choice([x for x in ALL_CUSTOMERS if x != frm] if r.random() < 0.97 else [frm])
            a = m.account(tcode, frm)
            o = dict(op='transfer', t=tcode, **{'from': frm, 'to': to},
                     amount=self.near(ty, m.available(a, at)), ref=self.ref(), at=at)
        elif x < 0.965:
            back = r.choice([0, 0, 0, r.randint(0, DAY)])
            o = dict(op='expire', at=at - back, batch=r.choice([10000, 10000, 1, 2, 3]))
        elif x < 0.975:
            o = dict(op='release_holds', at=at, batch=10000)
        else:
            col = r.choice(['validity', 'validity', 'enabled', 'policy', 'order', 'rounding'])
            if col == 'rounding' and tcode != 'mc':
                col = 'validity'
            if col == 'validity':
                v = r.choice(['36 hours', '3 days', '12 hours', None] if tcode == 'ma'
                             else ['7 days', '2 days', '20 hours', None] if tcode == 'mb'
                             else MC_VALIDITIES + [None])
            elif col == 'rounding':
                v = r.choice(ROUNDINGS)
            elif col == 'enabled':
                v = True if not ty.enabled else r.random() < 0.6
            elif col == 'policy':
                v = r.choice(['reject', 'partial', 'debt'])
            else:
                v = r.choice(['expiry', 'fifo'])
            o = dict(op='policy', t=tcode, set={col: v}, at=at)
        if o.get('ref') is not None and o['op'] != 'replay':
            self.refops.append(len(ops))
        o['now'] = at
        o['cs'] = r.randrange(1 << 30)
        return o


# ---------------------------------------------------------------------------
# Running a sequence against both
# ---------------------------------------------------------------------------

class Mismatch(Exception):
    def __init__(self, step, sig, detail, accounts=None):
        super().__init__(detail)
        self.step = step
        self.sig = sig
        self.detail = detail
        self.accounts = accounts or set()   # the accounts it is about


class Runner:
    def __init__(self, conn, verbose=False, log=None):
        self.conn = conn
        self.verbose = verbose
        self.log = log

    def reset(self):
        admin = Psql(self.conn)
        out = admin.run('DROP EXTENSION IF EXISTS points CASCADE;\nCREATE EXTENSION points;\n' + TYPES_SQL)
        admin.close()
        for line in out:
            if 'ERROR' in line:
                raise RuntimeError('reset failed: ' + '\n'.join(out))

    def run(self, ops, rng=None, nops=None, gen=None, verify_every=200, check_every=1,
            stop_on_first=True, progress=False):
        """Run `ops` (or generate nops new ones with gen) against a fresh
        database and the model.  Returns (ops, results); raises Mismatch."""
        self.reset()
        db = Psql(self.conn, self.log)
        admin = Psql(self.conn)
        m = Model()
        results = []
        self.results = results
        self.lot_db = {}            # (op index, k) -> db lot id
        max_lot = 0
        max_entry = 0
        pending_past = []           # (due step, t, at, customer, expected)
        generated = ops is None
        if generated:
            ops = []
        self.ops = ops
        self.stats = collections.Counter()
        self.outcomes = []
        self.touched = []
        total = nops if generated else len(ops)
        started = time.time()

        def ids(sym):
            if sym[0] == 'none':
                return NOID
            if sym[0] == 'op':
                v = results[sym[1]]
                return int(v) if v not in (None, '') else NOID
            v = self.lot_db.get((sym[1], sym[2]))
            return NOID if v is None else v

        try:
            for i in range(total):
                if generated:
                    o = gen.next(m, ops, results)
                    ops.append(o)
                else:
                    o = ops[i]
                crng = random.Random(o['cs'])
                # past balances: the state before this step, at a time
                # between the previous operation and this one
                if i > 0 and crng.random() < 0.2:
                    prev = ops[i - 1]['now']
                    if o['now'] > prev:
                        tp = crng.randint(prev, o['now'] - 1)
                        code = crng.choice(TYPE_CODES)
                        cust = crng.choice(CUSTOMERS)
                        exp = m.figures(code, cust, tp)[0]
                        pending_past.append([i + crng.randint(1, 15), code, cust, tp, exp])
                # resolve targets for the model
                o2 = dict(o)
                for key, dbkey in (('hold', 'hold_db'), ('entry', 'entry_db'), ('lot', 'lot_db')):
                    if key in o:
                        o2[dbkey] = ids(o[key])
                sql = op_sql(o, ids)
                if o['op'] == 'policy':
                    lines = admin.run(sql + ';')
                else:
                    lines = db.run(sql + ';')
                got = parse_result(lines)
                want = m.apply(o2, i)
                self.stats[(o['op'], want[1] if want[0] == 'error' else want[0])] += 1
                self.outcomes.append(want)
                self.touched.append(set(m.touched) if want[0] != 'error' else set())
                # what the operation left behind
                probe = db.run(
                    "SELECT 'L' || coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM points.lots WHERE id > %d;\n"
                    "SELECT 'E' || coalesce(string_agg(id || ':' || kind || ':' || customer, ',' ORDER BY id), '') FROM points.entries WHERE id > %d;"
                    % (max_lot, max_entry))
                new_lots = [int(v) for v in probe[0][1:].split(',') if v]
                new_entries = [v.split(':') for v in probe[1][1:].split(',') if v]
                if new_lots:
                    max_lot = new_lots[-1]
                if new_entries:
                    max_entry = int(new_entries[-1][0])
                self.compare(i, o, want, got, m, new_lots, new_entries, results)
                if want[0] == 'count' and o['op'] == 'release_holds' and want[1] > 0:
                    first = min(want[2])
                    pending_past = [p for p in pending_past if p[3] < first]
                # figures of every account
                if i % check_every == 0 or i == total - 1:
                    self.check_figures(i, o, m, db, crng, pending_past)
                if verify_every and (i + 1) % verify_every == 0:
                    self.check_verify(i, o, db)
                    self.check_view(i, o, db)
                if progress and (i + 1) % 1000 == 0:
                    print('# %d ops, %.1fs' % (i + 1, time.time() - started), flush=True)
            self.check_verify(total - 1, ops[-1] if ops else {'op': 'none'}, db)
        finally:
            db.close()
            admin.close()
        return ops, results

    def compare(self, i, o, want, got, m, new_lots, new_entries, results):
        def fail(field, detail):
            accts = set(m.touched)
            if 't' in o and 'c' in o:
                accts.add((o['t'], o['c']))
            raise Mismatch(i, (o['op'], field), detail, accts)

        results.append(None)
        if want[0] == 'error':
            if got[0] != 'error' or got[1] != want[1]:
                fail('outcome', 'model: error %s (%s); database: %s' % (want[1], want[2], got[1:] if got[0] == 'error' else 'ok ' + got[1]))
            if new_lots or new_entries:
                fail('atomicity', 'failed call left lots %s entries %s' % (new_lots, new_entries))
            return
        if got[0] == 'error':
            fail('outcome', 'model: ok %s; database: error %s: %s' % (want[0], got[1], got[2]))
        value = got[1]
        results[i] = value
        # the lots the operation created
        if len(new_lots) != len(m.created):
            fail('lots', 'model created %d grants, database %s' % (len(m.created), new_lots))
        for k, (lot, dbid) in enumerate(zip(m.created, new_lots)):
            lot.db = dbid
            lot.sym = ('lot', i, k)
            m.lot_by_db[dbid] = lot
            self.lot_db[(i, k)] = dbid
        kind = want[0]
        if kind == 'replay':
            if value != results[want[1]]:
                fail('result', 'model: the result of op %d (%s); database: %s' % (want[1], results[want[1]], value))
            # a capture or revoke replay comes after the account's lock,
            # which journals the expiries due by then; nothing else
            if [e for e in new_entries if e[1] != 'expire' or o['op'] not in ('capture', 'revoke')]:
                fail('atomicity', 'a replay wrote entries %s' % new_entries)
        elif kind == 'lot':
            if value != str(want[1].db):
                fail('result', 'grant returned %s, new grant is %s' % (value, want[1].db))
        elif kind == 'entry':
            ent = [e for e in new_entries if e[0] == value]
            if not ent or ent[0][1] != want[1] or ent[0][2] != want[2]:
                fail('result', 'expected a new %s entry of %s, got %s (new: %s)' % (want[1], want[2], value, new_entries))
            m.entries[int(value)] = want[3]
        elif kind == 'hold':
            want[1].db = int(value)
            m.holds[int(value)] = want[1]
        elif kind == 'count':
            if value != str(want[1]):
                fail('result', 'model: %d; database: %s' % (want[1], value))
        elif kind == 'void':
            pass
        elif kind == 'null':
            if value != '':
                fail('result', 'model: NULL (nothing to claw back); database: %s' % value)
            if [e for e in new_entries if e[1] != 'expire']:
                fail('atomicity', 'a revoke of nothing wrote entries %s' % new_entries)

    def check_figures(self, i, o, m, db, crng, pending_past):
        at = o['now']
        later = at + crng.choice([1, HOUR, 13 * HOUR, 2 * DAY, 9 * DAY])
        rows = []
        for code in TYPE_CODES:
            for c in ALL_CUSTOMERS + ['zz']:
                rows.append('(%s, %s)' % (q(code), q(c)))
        sql = ("SELECT v.t || '/' || v.c || '|' || concat_ws('|', points.balance(v.t, v.c, %s), s.available, s.held, s.pending, s.debt,"
               " coalesce(extract(epoch FROM s.next_expiry_at)::bigint::text, ''), coalesce(s.next_expiry_amount::text, ''),"
               " s.lifetime_earned, s.lifetime_spent, s.lifetime_expired, points.balance(v.t, v.c, %s))"
               " FROM (VALUES %s) v(t, c), LATERAL points.account(v.t, v.c, %s) s ORDER BY 1;"
               % (q(ts(at)), q(ts(later)), ', '.join(rows), q(ts(at))))
        due = [p for p in pending_past if p[0] <= i]
        for p in due:
            pending_past.remove(p)
        if due:
            sql += '\n' + '\n'.join("SELECT %s || points.balance(%s, %s, %s);" % (
                q('P|%s|%s|%d|' % (p[1], p[2], p[3])), q(p[1]), q(p[2]), q(ts(p[3]))) for p in due)
        out = db.run(sql)
        got = {}
        for line in out:
            if line.startswith('P|'):
                _, code, c, tp, val = line.split('|')
                p = [p for p in due if p[1] == code and p[2] == c and str(p[3]) == tp][0]
                self.stats[('checks', 'past balance')] += 1
                if val != p[4]:
                    raise Mismatch(i, (o['op'], 'past_balance'),
                                   'balance(%s, %s, %s) (a time before the last operation): model %s, database %s'
                                   % (code, c, ts(p[3]), p[4], val), {(code, c)})
                continue
            if '|' not in line:
                raise Mismatch(i, (o['op'], 'figures'), 'figures query failed: %s' % '\n'.join(out))
            key, rest = line.split('|', 1)
            got[key] = rest.split('|')
        for code in TYPE_CODES:
            for c in ALL_CUSTOMERS + ['zz']:
                want = m.figures(code, c, at)
                want_later = m.figures(code, c, later)[0]
                g = got.get('%s/%s' % (code, c))
                if g is None:
                    raise Mismatch(i, (o['op'], 'figures'), 'no figures for %s/%s: %s' % (code, c, out))
                for f, w, v in zip(FIELDS + ['balance_later'], want + [want_later], g):
                    if w != v:
                        raise Mismatch(i, (o['op'], f),
                                       '%s of %s/%s at %s: model %s, database %s'
                                       % (f if f != 'balance_later' else 'balance at ' + ts(later), code, c, ts(at), w, v),
                                       {(code, c)})

    def check_view(self, i, o, db):
        """points.balances (figures at now()) agrees with account(now()),
        while every operation is dated before now()."""
        if o['now'] > time.time() - DAY:
            return
        self.stats[('checks', 'balances view')] += 1
        out = db.run("SELECT 'B|' || b.type || '|' || b.customer || '|' || concat_ws(',', b.available, b.held, b.pending, b.debt,"
                     " b.lifetime_earned, b.lifetime_spent, b.lifetime_expired, b.next_expiry_at, b.next_expiry_amount)"
                     " || ' <> ' || concat_ws(',', s.available, s.held, s.pending, s.debt, s.lifetime_earned, s.lifetime_spent,"
                     " s.lifetime_expired, s.next_expiry_at, s.next_expiry_amount)"
                     " FROM points.balances b, LATERAL points.account(b.type, b.customer, now()) s"
                     " WHERE (b.available, b.held, b.pending, b.debt, b.lifetime_earned, b.lifetime_spent, b.lifetime_expired)"
                     " IS DISTINCT FROM (s.available, s.held, s.pending, s.debt, s.lifetime_earned, s.lifetime_spent, s.lifetime_expired)"
                     " OR (b.next_expiry_at, b.next_expiry_amount) IS DISTINCT FROM (s.next_expiry_at, s.next_expiry_amount);")
        bad = [l for l in out if l.startswith('B|') or 'ERROR' in l]
        if bad:
            p = bad[0].split('|')
            raise Mismatch(i, ('view', 'balances'), 'points.balances disagrees with account(now()): ' + '; '.join(bad[:3]),
                           {(p[1], p[2])} if len(p) > 2 else set())

    def check_verify(self, i, o, db):
        out = db.run("SELECT 'V|' || check_name || '|' || coalesce(type, '') || '|' || coalesce(customer, '') || '|' || coalesce(id::text, '') || '|' || detail FROM points.verify();")
        bad = [l for l in out if l.startswith('V|') or 'ERROR' in l]
        if bad:
            name = bad[0].split('|')[1] if bad[0].startswith('V|') else 'error'
            accts = set()
            for l in bad:
                p = l.split('|')
                if len(p) > 3 and p[2] and p[3]:
                    accts.add((p[2], p[3]))
            raise Mismatch(i, ('verify', name), 'points.verify(): ' + '; '.join(bad[:5]), accts)


# ---------------------------------------------------------------------------
# Shrinking and repro printing
# ---------------------------------------------------------------------------

def subsequence(ops, keep):
    """The operations at indexes `keep`, their targets renumbered (a target
    that is not kept becomes an id nothing has)."""
    pos = {j: n for n, j in enumerate(keep)}
    out = []
    for j in keep:
        o = dict(ops[j])
        for key in ('hold', 'entry', 'lot'):
            if key in o and o[key][0] != 'none':
                s = o[key]
                o[key] = (s[0], pos[s[1]]) + tuple(s[2:]) if s[1] in pos else ('none',)
        out.append(o)
    return out


def fails(runner, ops, sig):
    # an outcome is compared at every step anyway; figures only when needed
    quick = sig[1] in ('outcome', 'result', 'atomicity', 'lots')
    try:
        runner.run(ops, verify_every=1 if sig[0] in ('verify', 'view') else 0,
                   check_every=10 ** 9 if quick else 1)
    except Mismatch as e:
        return e if e.sig == sig else None
    return None


def shrink(runner, ops, first, budget):
    """Shrink a failing sequence within `budget` s: first drop what cannot
    matter (calls that failed, operations on other accounts), then delta
    debugging (ddmin).  Each accepted candidate is cut after the step where
    it failed."""
    sig = first.sig
    deadline = time.time() + budget
    runs = 0
    outcomes = list(runner.outcomes)
    touched = list(runner.touched)
    last = len(ops) - 1
    accts = set(first.accounts)
    types = {a[0] for a in accts}

    def relevant(j):
        o = ops[j]
        if j == last or o['op'] in ('expire', 'release_holds'):
            return True
        if o['op'] == 'policy':
            return o['t'] in types
        return bool(touched[j] & accts) if j < len(touched) else True

    for name, pick in (
            ('failed calls', lambda j: j == last or j >= len(outcomes) or outcomes[j][0] != 'error'),
            ('other accounts', relevant)):
        keep = [j for j in range(len(ops)) if pick(j)]
        if len(keep) == len(ops):
            continue
        cand = subsequence(ops, keep)
        runs += 1
        e = fails(runner, cand, sig)
        if e is not None:
            ops = cand[:e.step + 1]
            outcomes = list(runner.outcomes)
            touched = list(runner.touched)
            last = len(ops) - 1
            print('# shrinking: without %s, %d operations' % (name, len(ops)), flush=True)
    n = 2
    while len(ops) >= 2 and time.time() < deadline:
        chunk = -(-len(ops) // n)
        starts = list(range(0, len(ops), chunk))
        reduced = False
        # complements first (drop one chunk), from the end: later operations
        # are more often irrelevant
        for s in reversed(starts):
            if time.time() >= deadline:
                break
            keep = [j for j in range(len(ops)) if not (s <= j < s + chunk)]
            if not keep:
                continue
            cand = subsequence(ops, keep)
            runs += 1
            e = fails(runner, cand, sig)
            if e is not None:
                ops = cand[:e.step + 1]
                n = max(n - 1, 2)
                reduced = True
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(ops), n * 2)
    print('# shrinking: %d runs, %d operations left%s' % (
        runs, len(ops), '' if time.time() < deadline else ' (time budget spent)'), flush=True)
    return ops


def repro_sql(runner, ops, mismatch, seed, total):
    """Runnable SQL of a failing sequence; ids go through psql's \\gset."""
    try:
        runner.run(ops, verify_every=0)
    except Mismatch:
        pass
    lot_db = runner.lot_db
    results = runner.results
    used = set()
    for o in ops:
        for key in ('hold', 'entry', 'lot'):
            if key in o and o[key][0] != 'none':
                used.add(tuple(o[key]))
    names = {}

    def ids(sym):
        if sym[0] == 'none':
            return str(NOID)
        n = names.get(tuple(sym))
        return ':' + n if n else str(NOID)

    lines = ['-- points model repro: seed %s, %d of %d operations' % (seed, len(ops), total),
             '-- ' + mismatch.detail.replace('\n', ' '),
             "SET TimeZone = 'UTC';",
             TYPES_SQL]
    for j, o in enumerate(ops):
        s = op_sql(o, ids)
        if ('op', j) in used and j < len(results) and results[j] not in (None, ''):
            names[('op', j)] = 'v%d' % j
            s += ' AS v%d \\gset' % j
        else:
            s += ';'
        lines.append(s)
        created = sorted(k for (oi, k) in lot_db if oi == j)
        for k in created:
            if ('lot', j, k) in used:
                n = 'g%d_%d' % (j, k)
                names[('lot', j, k)] = n
                lines.append('SELECT id AS %s FROM points.lots ORDER BY id DESC LIMIT 1 OFFSET %d \\gset'
                             % (n, len(created) - 1 - k))
    at = ops[-1]['now']
    lines.append('-- every account at the last operation''s time, and verify()')
    lines.append("SELECT a.type, a.customer, points.balance(a.type, a.customer, %s) AS balance, s.*"
                 " FROM points.accounts a, LATERAL points.account(a.type, a.customer, %s) s"
                 " ORDER BY a.type, a.customer;" % (q(ts(at)), q(ts(at))))
    lines.append('SELECT * FROM points.verify();')
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--host', required=True, help='socket directory')
    ap.add_argument('--port', default='5620')
    ap.add_argument('--db', default='points_rel')
    ap.add_argument('--seed', type=int, action='append',
                    help='seed of a run (repeatable; default: one random seed)')
    ap.add_argument('--ops', type=int, default=3000, help='operations per seed (default 3000)')
    ap.add_argument('--long', action='store_true', help='100000 operations per seed')
    ap.add_argument('--shrink-budget', type=int, default=300, help='seconds for shrinking (default 300)')
    ap.add_argument('--no-shrink', action='store_true')
    ap.add_argument('--repro-dir', help='also write each shrunk repro there as seed-N.sql')
    ap.add_argument('--sql-log', help='write every statement sent to this file')
    ap.add_argument('--base', help='business time of the first operation (default 2015-01-01)')
    ap.add_argument('--no-reissue', action='store_true',
                    help='no refunds with reissue (to look past repros/refund_reissue_debt.sql)')
    args = ap.parse_args()
    if args.long:
        args.ops = 100000
    base = None
    if args.base:
        base = int(datetime.datetime.fromisoformat(args.base).replace(
            tzinfo=datetime.timezone.utc).timestamp())
    seeds = args.seed or [random.SystemRandom().randrange(1, 10 ** 9)]
    conn = ['-h', args.host, '-p', str(args.port), '-U', 'postgres', '-d', args.db]
    log = open(args.sql_log, 'w', encoding='utf-8', buffering=1) if args.sql_log else None
    runner = Runner(conn, log=log)
    passed = failed = 0
    for seed in seeds:
        print('# model: seed %d, %d operations (rerun: --seed %d --ops %d)' % (seed, args.ops, seed, args.ops), flush=True)
        rng = random.Random(seed)
        started = time.time()
        try:
            gen = Gen(rng, base)
            gen.no_reissue = args.no_reissue
            runner.run(None, rng=rng, nops=args.ops, gen=gen, progress=True)
            print('ok %d - seed %d: %d operations, every outcome and figure agrees, verify() clean (%.1fs)'
                  % (passed + failed + 1, seed, args.ops, time.time() - started), flush=True)
            by_op = collections.defaultdict(list)
            for (op, outcome), n in sorted(runner.stats.items()):
                by_op[op].append('%s %d' % (outcome, n))
            print('#   ' + '; '.join('%s: %s' % (op, ', '.join(v)) for op, v in sorted(by_op.items())))
            passed += 1
            continue
        except RuntimeError as e:
            failed += 1
            print('not ok %d - seed %d: the run broke: %s' % (passed + failed, seed, e), flush=True)
            continue
        except Mismatch as e:
            failed += 1
            first = e
            ops = runner.ops[:e.step + 1]
        print('not ok %d - seed %d: step %d %s: %s' % (passed + failed, seed, first.step, first.sig, first.detail), flush=True)
        runner.log = None
        if args.no_shrink:
            small = ops
        else:
            small = shrink(runner, ops, first, args.shrink_budget)
        final = fails(runner, small, first.sig) or first
        sql = repro_sql(runner, small, final, seed, len(ops))
        print('# shortest failing sequence found (%d operations):' % len(small))
        for line in sql.splitlines():
            print('#   ' + line)
        if args.repro_dir:
            os.makedirs(args.repro_dir, exist_ok=True)
            path = os.path.join(args.repro_dir, 'seed-%d.sql' % seed)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(sql)
            print('# written to %s' % path)
    print('%d passed, %d failed' % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
