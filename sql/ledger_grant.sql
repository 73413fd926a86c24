--
-- grant(), balance(), account() and format(): arguments and their defaults,
-- scale 0 and scale 2 amounts, and every error a grant can raise, each
-- followed by the proof that it changed nothing.  Type codes of this file
-- start with gr_.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
-- Errors show their SQLSTATE only.
\set VERBOSITY sqlstate

-- The ledger of one type as a single row: what a failing call must not change.
CREATE FUNCTION pg_temp.state(t text)
RETURNS TABLE (accounts bigint, grants bigint, remaining numeric, entries bigint,
               allocations bigint, requests bigint, violations bigint)
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM points.accounts a WHERE a.type = t),
           (SELECT count(*) FROM points.grants g WHERE g.type = t),
           (SELECT coalesce(sum(g.remaining), 0) FROM points.grants g WHERE g.type = t),
           (SELECT count(*) FROM points.entries e WHERE e.type = t),
           (SELECT count(*) FROM points.allocations x
              JOIN points.entries e ON e.id = x.entry_id WHERE e.type = t),
           (SELECT count(*) FROM points.requests r WHERE r.type = t),
           (SELECT count(*) FROM points.verify())
$$;

-- gr_pts: whole points that never expire.  gr_cred: credits with two
-- decimals.  gr_month: points valid for one month.
INSERT INTO points.types (code, name, name_plural) VALUES ('gr_pts', 'point', 'points');
INSERT INTO points.types (code, name, name_plural, scale) VALUES ('gr_cred', 'credit', 'credits', 2);
INSERT INTO points.types (code, name, name_plural, validity) VALUES ('gr_month', 'point', 'points', '1 month');

--
-- grant() with only the required arguments (and at): reason 'manual', no
-- ref or note, available at once, never expires.  It returns the grant id.
--
SELECT points.grant('gr_pts', 'alice', 100, at => '2023-01-01 10:00+00') AS g1 \gset
SELECT amount, remaining, reason, ref, note, status, available_at, expires_at, at
  FROM points.grants WHERE id = :g1;
-- Its journal entry, by the calling role.
SELECT kind, amount, balance_after, at, ref, note, actor = current_user AS by_caller
  FROM points.entries WHERE lot_id = :g1;

-- Every argument by name: it vests a day later and expires in 2024.
SELECT points.grant(type => 'gr_pts', customer => 'alice', amount => 50,
                    reason => 'signup', ref => 'gr-signup-alice', note => 'welcome',
                    expires_at => '2024-01-01 00:00+00',
                    available_at => '2023-01-02 10:00+00', pending => false,
                    at => '2023-01-01 12:00+00') AS g2 \gset
SELECT amount, remaining, reason, ref, note, available_at, expires_at, at
  FROM points.grants WHERE id = :g2;
SELECT kind, amount, balance_after, at, ref, note
  FROM points.entries WHERE lot_id = :g2;

-- With a validity and no expires_at, the expiry is computed from
-- available_at, or from at when available_at is NULL.
SELECT points.grant('gr_month', 'alice', 5, at => '2023-01-10 08:00+00') AS g3 \gset
SELECT points.grant('gr_month', 'alice', 5, available_at => '2023-02-15 08:00+00',
                    at => '2023-01-10 08:00+00') AS g4 \gset
SELECT id = :g3 AS first, available_at, expires_at
  FROM points.grants WHERE id IN (:g3, :g4) ORDER BY id;

--
-- balance(type, customer, at): the points available at that time.
--
SELECT t AS at, points.balance('gr_pts', 'alice', t) AS balance
  FROM unnest(ARRAY['2023-01-01 09:59:59+00',   -- before any grant
                    '2023-01-01 10:00+00',      -- the first grant
                    '2023-01-02 10:00+00',      -- the second one vests
                    '2023-12-31 23:59:59+00',   -- the last second before it expires
                    '2024-01-01 00:00+00'       -- expired
                   ]::timestamptz[]) AS t;
-- An unknown customer has 0.
SELECT points.balance('gr_pts', 'nobody', '2023-06-01 00:00+00') AS balance;
-- Without at, the balance is now()'s: alice's grants are in the past and
-- the second one expired, so 100.
SELECT points.balance('gr_pts', 'alice') AS balance_now,
       points.balance('gr_pts', 'alice') = points.balance('gr_pts', 'alice', now()) AS same_as_now;

--
-- account(type, customer, at): every figure of one account.
--
SELECT type, customer, available, held, pending, debt, next_expiry_at,
       next_expiry_amount, lifetime_earned, lifetime_spent, lifetime_expired
  FROM points.account('gr_pts', 'alice', '2023-06-01 00:00+00');
-- After the 2024 expiry (expire() has not run): the 50 count as expired.
SELECT available, next_expiry_at, next_expiry_amount, lifetime_earned,
       lifetime_expired
  FROM points.account('gr_pts', 'alice', '2024-06-01 00:00+00');
-- An unknown customer: zeros, no next expiry.
SELECT type, customer, available, held, pending, debt, next_expiry_at,
       next_expiry_amount, lifetime_earned, lifetime_spent, lifetime_expired
  FROM points.account('gr_pts', 'nobody', '2023-06-01 00:00+00');

-- at defaults to now() for grant() too (inside one transaction now() is fixed).
BEGIN;
SELECT points.grant('gr_pts', 'dora', 7) AS g5 \gset
SELECT at = now() AS at_is_now, available_at = now() AS available_now,
       expires_at = 'infinity' AS never_expires
  FROM points.grants WHERE id = :g5;
SELECT points.balance('gr_pts', 'dora') AS balance;
COMMIT;

--
-- format(type, amount): the amount at the type's scale with its name.
--
SELECT points.format('gr_pts', 1) AS one, points.format('gr_pts', 25) AS many,
       points.format('gr_pts', 0) AS zero, points.format('gr_pts', -1) AS minus_one,
       points.format('gr_pts', 1.0) AS one_point_zero;
SELECT points.format('gr_cred', 1) AS one, points.format('gr_cred', 10.5) AS ten_fifty,
       points.format('gr_cred', 0.01) AS a_cent;
-- More decimals than the scale, unknown type, NULL.
SELECT points.format('gr_pts', 1.5);
SELECT points.format('gr_nosuch', 1);
SELECT points.format('gr_pts', NULL);
SELECT points.format(NULL, 1);

--
-- Scale 2: 10.50 credits, spent in 0.01 steps.
--
SELECT points.grant('gr_cred', 'bob', 10.5, at => '2023-03-01 09:00+00') AS c1 \gset
SELECT points.grant('gr_cred', 'bob', 0.01, at => '2023-03-01 09:00+00') AS c2 \gset
SELECT points.grant('gr_cred', 'bob', 1.500, at => '2023-03-01 09:00+00') AS c3 \gset
SELECT amount, remaining FROM points.grants WHERE id IN (:c1, :c2, :c3) ORDER BY id;
-- The spending is rolled back afterwards: verify() miscounts the lifetime
-- spent of types with a scale above 0 (reported as a bug).
BEGIN;
SELECT points.consume('gr_cred', 'bob', 0.01, at => '2023-03-02 09:00+00') IS NOT NULL AS consumed;
SELECT points.consume('gr_cred', 'bob', 0.01, at => '2023-03-02 09:01+00') IS NOT NULL AS consumed;
SELECT points.consume('gr_cred', 'bob', 0.10, at => '2023-03-02 09:02+00') IS NOT NULL AS consumed;
SELECT kind, amount, balance_after, at FROM points.entries
 WHERE type = 'gr_cred' AND customer = 'bob' ORDER BY id;
SELECT points.balance('gr_cred', 'bob', '2023-03-03 00:00+00') AS balance,
       points.format('gr_cred', points.balance('gr_cred', 'bob', '2023-03-03 00:00+00')) AS shown;
ROLLBACK;
SELECT points.balance('gr_cred', 'bob', '2023-03-03 00:00+00') AS balance_after_rollback;
-- The biggest amount of a scale-2 type: 2^63-1 units.
SELECT points.grant('gr_cred', 'whale', 92233720368547758.07, at => '2023-03-01 09:00+00') IS NOT NULL AS granted;
SELECT points.balance('gr_cred', 'whale', '2023-03-02 00:00+00') AS balance;

--
-- Errors of grant(); after each one, the ledger is unchanged.
--
SELECT * FROM pg_temp.state('gr_pts');
-- Unknown type: 42704.
SELECT points.grant('gr_nosuch', 'alice', 10, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
-- Amount not positive: 22023.
SELECT points.grant('gr_pts', 'alice', 0, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', -5, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
-- More decimals than the scale: 22023, never rounded.
SELECT points.grant('gr_pts', 'alice', 1.5, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', 0.001, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
-- Not a number: 22023.
SELECT points.grant('gr_pts', 'alice', 'NaN', at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
-- Out of range: 22003.
SELECT points.grant('gr_pts', 'alice', 1e30, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', 'Infinity', at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', 9223372036854775808, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
-- expires_at not after available_at: 22023.
SELECT points.grant('gr_pts', 'alice', 10, expires_at => '2023-02-01 00:00+00',
                    at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', 10, expires_at => '2023-01-01 00:00+00',
                    at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', 10, expires_at => '2023-02-10 00:00+00',
                    available_at => '2023-02-10 00:00+00', at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', 10, expires_at => '-infinity',
                    at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
-- available_at before the grant's time, or a time that is not finite: 22023.
SELECT points.grant('gr_pts', 'alice', 10, available_at => '2023-01-31 00:00+00',
                    at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', 10, at => 'infinity');
SELECT * FROM pg_temp.state('gr_pts');
-- Empty customer, type or reason: 22023.
SELECT points.grant('gr_pts', '', 10, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('', 'alice', 10, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', 10, reason => '', at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
-- NULL where a value is required: 22004.
SELECT points.grant(NULL, 'alice', 10, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', NULL, 10, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', NULL, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', 10, reason => NULL, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', 10, pending => NULL, at => '2023-02-01 00:00+00');
SELECT * FROM pg_temp.state('gr_pts');
SELECT points.grant('gr_pts', 'alice', 10, at => NULL);
SELECT * FROM pg_temp.state('gr_pts');
-- A grant that would take the account past 2^63-1 units: 22003, and the
-- whale keeps what it had.
SELECT * FROM pg_temp.state('gr_cred');
SELECT points.grant('gr_cred', 'whale', 0.01, at => '2023-03-01 10:00+00');
SELECT * FROM pg_temp.state('gr_cred');
SELECT points.balance('gr_cred', 'whale', '2023-03-02 00:00+00') AS balance;
-- A failing first grant creates no account.
SELECT points.grant('gr_pts', 'erin', 1.5, at => '2023-02-01 00:00+00');
SELECT count(*) AS erin_accounts FROM points.accounts WHERE customer = 'erin';

--
-- Errors of balance() and account(): unknown type 42704, NULL 22004,
-- empty 22023.
--
SELECT points.balance('gr_nosuch', 'alice', '2023-02-01 00:00+00');
SELECT points.balance(NULL, 'alice', '2023-02-01 00:00+00');
SELECT points.balance('gr_pts', NULL, '2023-02-01 00:00+00');
SELECT points.balance('gr_pts', 'alice', NULL);
SELECT points.balance('gr_pts', '', '2023-02-01 00:00+00');
SELECT * FROM points.account('gr_nosuch', 'alice', '2023-02-01 00:00+00');
SELECT * FROM points.account('gr_pts', NULL, '2023-02-01 00:00+00');
SELECT * FROM points.account('gr_pts', 'alice', NULL);

-- The ledger is consistent.
SELECT * FROM points.verify();
