--
-- The readable relations on a known ledger: points.grants,
-- points.balances, points.outstanding and points.history.  The views are
-- as of now(), so every time here is either long past or far in the
-- future (2999), and the output does not depend on when the test runs.
-- Type codes of this file start with vw_; grants are labelled by their note.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
-- Errors show their SQLSTATE only.
\set VERBOSITY sqlstate

-- expire() below sweeps every type: first sweep what earlier files left
-- due by the end of 2020.
SELECT points.expire(at => '2020-12-31 00:00+00') >= 0 AS swept_earlier_files;

INSERT INTO points.types (code, name, name_plural) VALUES ('vw_pts', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('vw_cred', 'credit', 'credits', 2);

-- alice: 100 that never expire, 30 spent, then 50 that expire in 2999.
SELECT points.grant('vw_pts', 'alice', 100, reason => 'signup', note => 'A1',
                    at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('vw_pts', 'alice', 30, ref => 'order-7', note => 'order 7',
                      at => '2023-01-02 00:00+00') IS NOT NULL AS consumed;
SELECT points.grant('vw_pts', 'alice', 50, reason => 'purchase', ref => 'order-8', note => 'A2',
                    expires_at => '2999-01-01 00:00+00', at => '2023-01-03 00:00+00') IS NOT NULL AS granted;
-- bob: 20 granted and all spent.
SELECT points.grant('vw_pts', 'bob', 20, note => 'B1', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.consume('vw_pts', 'bob', 20, at => '2023-01-04 00:00+00') IS NOT NULL AS consumed;
-- carol: 40 that vest only in 2999.
SELECT points.grant('vw_pts', 'carol', 40, note => 'C1', available_at => '2999-06-01 00:00+00',
                    at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
-- dave: 25 that expired in 2020 (not swept yet) and 5 that never expire.
SELECT points.grant('vw_pts', 'dave', 25, note => 'D1', expires_at => '2020-06-01 00:00+00',
                    at => '2020-01-01 00:00+00') IS NOT NULL AS granted;
SELECT points.grant('vw_pts', 'dave', 5, note => 'D2', at => '2020-01-01 00:00+00') IS NOT NULL AS granted;
-- frank: 15 pending, waiting for confirmation.
SELECT points.grant('vw_pts', 'frank', 15, note => 'F1', pending => true,
                    at => '2023-01-01 00:00+00') IS NOT NULL AS granted;
-- erin: 10.50 credits.
SELECT points.grant('vw_cred', 'erin', 10.5, note => 'E1', at => '2023-01-01 00:00+00') IS NOT NULL AS granted;

-- points.grants: every grant in points, with its status now.
SELECT type, customer, note, amount, remaining, reason, ref, status, available_at, expires_at, at
  FROM points.grants WHERE type LIKE 'vw\_%' ORDER BY type, customer, note;

-- points.balances: every account's figures now.
SELECT type, customer, available, held, pending, debt, lifetime_earned, lifetime_spent,
       lifetime_expired, next_expiry_at, next_expiry_amount
  FROM points.balances WHERE type LIKE 'vw\_%' ORDER BY type, customer;
-- The same figures as balance() and account() give for now.
SELECT b.customer,
       b.available = points.balance(b.type, b.customer) AS same_as_balance,
       (b.available, b.held, b.pending, b.debt, b.lifetime_earned, b.lifetime_spent,
        b.lifetime_expired, b.next_expiry_at, b.next_expiry_amount)
       IS NOT DISTINCT FROM
       (a.available, a.held, a.pending, a.debt, a.lifetime_earned, a.lifetime_spent,
        a.lifetime_expired, a.next_expiry_at, a.next_expiry_amount) AS same_as_account
  FROM points.balances b CROSS JOIN LATERAL points.account(b.type, b.customer, now()) a
 WHERE b.type LIKE 'vw\_%' ORDER BY b.type, b.customer;

-- points.outstanding: who holds unused points (available, held or pending):
-- not bob (all spent) nor carol (nothing available before 2999).
SELECT type, customer, available, held, pending, next_expiry_at, next_expiry_amount
  FROM points.outstanding WHERE type LIKE 'vw\_%' ORDER BY type, customer;

-- points.history: the journal with the running balance of each account.
SELECT h.type, h.customer, h.kind, h.amount, h.balance, h.at, g.note AS grant_note, h.ref, h.note,
       h.actor = current_user AS by_caller
  FROM points.history h LEFT JOIN points.grants g ON g.id = h.grant_id
 WHERE h.type LIKE 'vw\_%' ORDER BY h.type, h.customer, h.id;

-- After expire() has swept dave's expired grant, his balance row is the
-- same, and the journal has the expire entry.
SELECT points.expire(at => '2020-12-31 00:00+00') AS expired;
SELECT type, customer, available, lifetime_earned, lifetime_spent, lifetime_expired,
       next_expiry_at, next_expiry_amount
  FROM points.balances WHERE type = 'vw_pts' AND customer = 'dave';
SELECT note, amount, remaining, expires_at FROM points.grants
 WHERE type = 'vw_pts' AND customer = 'dave' ORDER BY note;
SELECT h.kind, h.amount, h.balance, h.at, g.note AS grant_note
  FROM points.history h LEFT JOIN points.grants g ON g.id = h.grant_id
 WHERE h.type = 'vw_pts' AND h.customer = 'dave' ORDER BY h.id;
SELECT type, customer, available FROM points.outstanding
 WHERE type = 'vw_pts' AND customer = 'dave';

-- The ledger is consistent.
SELECT * FROM points.verify();
