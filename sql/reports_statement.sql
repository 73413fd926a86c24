--
-- statement(type, customer, from, to): opening balance, each entry of the
-- period with its running balance, closing balance; on a known ledger with
-- a hold, a capture, a pending grant, a refund to an expired grant and a
-- backdated adjustment, before and after the expiry sweep.
-- Type codes of this file start with rs_; grants are labelled by their note.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- An error as its SQLSTATE, message and hint.
CREATE FUNCTION pg_temp.try(q text, OUT state text, OUT message text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    state := '00000';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            hint = PG_EXCEPTION_HINT;
END
$$;

-- The statement with ids shown as what they point at: recorded tells an
-- entry of the journal from an expiry the sweep has not written yet, grant
-- is the note of the grant the row is about.
CREATE FUNCTION pg_temp.stmt(c text, f timestamptz, t timestamptz)
RETURNS TABLE (line integer, at timestamptz, kind text, amount numeric, balance numeric,
               held numeric, pending numeric, recorded boolean, "grant" text, ref text, note text)
LANGUAGE sql AS $$
    SELECT s.line, s.at, s.kind, s.amount, s.balance, s.held, s.pending,
           CASE WHEN s.line > 0 AND s.kind <> 'closing' THEN s.entry_id IS NOT NULL END,
           l.note, s.ref, s.note
      FROM points.statement('rs_pts', c, f, t) s
      LEFT JOIN points.lots l ON l.id = s.grant_id
     ORDER BY s.line
$$;

INSERT INTO points.types (code, name, name_plural) VALUES ('rs_pts', 'point', 'points');

-- ann's ledger, in the order it is recorded.
SELECT points.grant('rs_pts', 'ann', 100, ref => 'g-A', note => 'A',
                    at => '2024-01-01 10:00+00', expires_at => '2024-03-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('rs_pts', 'ann', 50, note => 'B',
                    at => '2024-01-15 10:00+00', expires_at => '2099-01-01 00:00+00') IS NOT NULL AS granted;
-- draws from A, the earliest expiry
SELECT points.consume('rs_pts', 'ann', 30, ref => 'order-1', note => 'order 1',
                      at => '2024-02-01 12:00+00') AS order1 \gset
SELECT points.hold('rs_pts', 'ann', 20, ref => 'order-2', note => 'order 2',
                   at => '2024-02-10 09:00+00', until => '2024-02-10 09:30+00') AS hold2 \gset
-- 15 of the 20 held are spent, 5 go back to A
SELECT points.capture(:hold2, 15, at => '2024-02-10 09:10+00') IS NOT NULL AS captured;
SELECT points.grant('rs_pts', 'ann', 10, note => 'P', pending => true,
                    at => '2024-02-12 08:00+00') AS pgrant \gset
SELECT points.confirm(:pgrant, at => '2024-02-20 08:00+00');
-- A expired on 2024-03-01; order 1 is refunded in April: the refund
-- first journals A's expiry (operations journal their account's due
-- expiries first), then its 10 points go back to A and expire at once
SELECT points.refund(:order1, 10, note => 'order 1 returned', at => '2024-04-01 15:00+00') IS NOT NULL AS refunded;
-- E expires on 2024-06-01, and no operation after that journals it
SELECT points.grant('rs_pts', 'ann', 20, note => 'E', at => '2024-04-10 10:00+00',
                    expires_at => '2024-06-01 00:00+00') IS NOT NULL AS granted;
-- recorded last, dated in January
SELECT points.adjust('rs_pts', 'ann', 5, note => 'goodwill', at => '2024-01-20 10:00+00') IS NOT NULL AS adjusted;
-- bob has his own ledger
SELECT points.grant('rs_pts', 'bob', 40, note => 'C', at => '2024-01-05 10:00+00',
                    expires_at => '2099-01-01 00:00+00') IS NOT NULL AS granted;

-- The journal in recording order, with its own balance_after.
SELECT h.kind, h.amount, h.balance, h.held, h.pending, h.at, l.note AS "grant", h.note
  FROM points.history h LEFT JOIN points.lots l ON l.id = h.grant_id
 WHERE h.type = 'rs_pts' AND h.customer = 'ann' ORDER BY h.id;

-- The whole history, in business-time order.  The goodwill adjustment
-- sits in January where it belongs; the 20 points of E show as expired on
-- 2024-06-01, an expiry the sweep has not recorded yet (recorded false).
SELECT * FROM pg_temp.stmt('ann', '-infinity', 'infinity');

-- February: opening balance on 2024-02-01 (A 100 + B 50 + goodwill 5),
-- the hold (balance down, held up), the capture (held down), the pending
-- grant and its confirmation.  The expiry at 2024-03-01 is outside
-- [from, to).
SELECT * FROM pg_temp.stmt('ann', '2024-02-01', '2024-03-01');

-- From March on: A's expiry at its time, the refund and its immediate
-- expiry, E and its expiry.
SELECT * FROM pg_temp.stmt('ann', '2024-03-01', '2025-01-01');

-- A period without entries: the opening row and the closing row agree.
SELECT * FROM pg_temp.stmt('ann', '2025-01-01', '2025-02-01');

-- Periods chain: each closing balance is the next opening balance, and
-- opening + the amounts of the period = closing.
WITH bounds(f, t) AS (
    VALUES ('-infinity'::timestamptz, '2024-01-20 10:00+00'::timestamptz),
           ('2024-01-20 10:00+00', '2024-02-10 09:00+00'),
           ('2024-02-10 09:00+00', '2024-03-01 00:00+00'),
           ('2024-03-01 00:00+00', '2024-05-01 00:00+00'),
           ('2024-05-01 00:00+00', 'infinity'))
SELECT b.f, b.t,
       (SELECT s.balance FROM points.statement('rs_pts', 'ann', b.f, b.t) s WHERE s.kind = 'opening') AS opening,
       (SELECT coalesce(sum(s.amount), 0) FROM points.statement('rs_pts', 'ann', b.f, b.t) s) AS change,
       (SELECT s.balance FROM points.statement('rs_pts', 'ann', b.f, b.t) s WHERE s.kind = 'closing') AS closing
  FROM bounds b ORDER BY b.f;

-- The closing balance of the whole history is what the account says:
-- B 50 + goodwill 5 + P 10 = 65.
SELECT b.available, b.held, b.pending,
       (SELECT s.balance FROM points.statement('rs_pts', 'ann', '-infinity', 'infinity') s
         WHERE s.kind = 'closing') AS statement_closing
  FROM points.balances b WHERE b.type = 'rs_pts' AND b.customer = 'ann';

-- Other customers' entries never show; an unknown customer has a
-- statement of zeros.
SELECT * FROM pg_temp.stmt('bob', '-infinity', 'infinity');
SELECT * FROM pg_temp.stmt('nobody', '2024-01-01', '2025-01-01');

-- "to" defaults to now(), "from" to the beginning.
SELECT s.line, s.kind, s.amount, s.balance, s.at = now() AS at_now
  FROM points.statement('rs_pts', 'bob') s ORDER BY s.line;

-- The sweep writes E's expiry the statement already showed: the same
-- rows, now all recorded.
CALL points.run_maintenance();
SELECT * FROM pg_temp.stmt('ann', '-infinity', 'infinity');
SELECT * FROM points.verify();

-- Inactivity: rs_idle points lapse 30 days after the account's last
-- activity.  Idle since 2024-01-10, ann's points lapse on 2024-02-09: the
-- statement shows it before the sweep records it, with the sweep's note.
INSERT INTO points.types (code, name, name_plural, inactivity) VALUES ('rs_idle', 'point', 'points', '30 days');
SELECT points.grant('rs_idle', 'ann', 100, note => 'I', at => '2024-01-01 10:00+00',
                    expires_at => '2099-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('rs_idle', 'ann', 30, at => '2024-01-10 10:00+00') IS NOT NULL AS consumed;
SELECT s.line, s.at, s.kind, s.amount, s.balance,
       CASE WHEN s.kind NOT IN ('opening', 'closing') THEN s.entry_id IS NOT NULL END AS recorded, s.note
  FROM points.statement('rs_idle', 'ann', '-infinity', 'infinity') s ORDER BY s.line;
CALL points.run_maintenance();
SELECT s.line, s.at, s.kind, s.amount, s.balance,
       CASE WHEN s.kind NOT IN ('opening', 'closing') THEN s.entry_id IS NOT NULL END AS recorded, s.note
  FROM points.statement('rs_idle', 'ann', '-infinity', 'infinity') s ORDER BY s.line;

-- Two grants with the same expiry lapse together: one expire row, before
-- the sweep and after it (the sweep's entry carries no grant_id; its
-- allocations say what each grant lost).
INSERT INTO points.types (code, name, name_plural) VALUES ('rs_same', 'point', 'points');
SELECT points.grant('rs_same', 'ann', 10, at => '2024-01-01 10:00+00', expires_at => '2024-03-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('rs_same', 'ann', 15, at => '2024-01-02 10:00+00', expires_at => '2024-03-01 00:00+00') IS NOT NULL AS granted;
SELECT s.line, s.at, s.kind, s.amount, s.balance, s.grant_id IS NOT NULL AS one_grant,
       CASE WHEN s.kind NOT IN ('opening', 'closing') THEN s.entry_id IS NOT NULL END AS recorded
  FROM points.statement('rs_same', 'ann', '-infinity', 'infinity') s ORDER BY s.line;
CALL points.run_maintenance();
SELECT s.line, s.at, s.kind, s.amount, s.balance, s.grant_id IS NOT NULL AS one_grant,
       CASE WHEN s.kind NOT IN ('opening', 'closing') THEN s.entry_id IS NOT NULL END AS recorded
  FROM points.statement('rs_same', 'ann', '-infinity', 'infinity') s ORDER BY s.line;
SELECT x.amount FROM points.allocations x JOIN points.entries e ON e.id = x.entry_id
 WHERE e.type = 'rs_same' AND e.kind = 'expire' ORDER BY x.lot_id;
SELECT * FROM points.verify();

-- Errors: unknown type (42704), a period that ends before it starts and
-- NULL arguments (22023, 22004).
SELECT * FROM pg_temp.try($$SELECT points.statement('rs_nope', 'ann', '2024-01-01', '2024-02-01')$$);
SELECT * FROM pg_temp.try($$SELECT points.statement('rs_pts', 'ann', '2024-02-01', '2024-01-01')$$);
SELECT * FROM pg_temp.try($$SELECT points.statement('rs_pts', NULL, '2024-01-01', '2024-02-01')$$);
SELECT * FROM pg_temp.try($$SELECT points.statement(NULL, 'ann', '2024-01-01', '2024-02-01')$$);
SELECT * FROM pg_temp.try($$SELECT points.statement('rs_pts', 'ann', NULL, '2024-02-01')$$);
SELECT * FROM pg_temp.try($$SELECT points.statement('rs_pts', 'ann', '2024-01-01', NULL)$$);
