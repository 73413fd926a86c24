-- Regressions of the order lifecycle: each block pins a defect found by the
-- lifecycle suites.  Whatever points an account with debt gets back (a
-- release, a refund, a vesting grant) repay the debt first, so an account
-- never holds points and debt at once.
CREATE EXTENSION IF NOT EXISTS points;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate
INSERT INTO points.types (code, name, name_plural, clawback_policy)
VALUES ('lr_debt', 'point', 'points', 'debt');
CREATE VIEW pg_temp.journal AS
    SELECT customer, kind, amount, balance_after, debt
      FROM points.entries WHERE type = 'lr_debt' ORDER BY id;

-- A. A hold released after a revoke recorded debt: the released 80 repay it.
SELECT points.grant('lr_debt', 'ann', 100, at => '2023-01-01') AS g \gset
SELECT points.hold('lr_debt', 'ann', 80, at => '2023-01-02') AS h \gset
SELECT points.revoke(:g, at => '2023-01-03') > 0 AS revoked;
SELECT available, held, debt FROM points.account('lr_debt', 'ann', '2023-01-03');
SELECT points.release(:h, at => '2023-01-04');
SELECT available, held, debt FROM points.account('lr_debt', 'ann', '2023-01-04');

-- B. A refund after a revoke recorded debt: the refunded 100 repay it.
SELECT points.grant('lr_debt', 'bea', 100, at => '2023-01-01') AS g \gset
SELECT points.consume('lr_debt', 'bea', 100, at => '2023-01-02') AS c \gset
SELECT points.revoke(:g, at => '2023-01-03') > 0 AS revoked;
SELECT points.refund(:c, at => '2023-01-04') > 0 AS refunded;
SELECT available, debt FROM points.account('lr_debt', 'bea', '2023-01-04');

-- C. A debt recorded while another grant is still vesting takes the vesting
--    points; 50 of the debt remain for the next grants.
SELECT points.grant('lr_debt', 'cy', 100, at => '2023-01-01') AS g \gset
SELECT points.consume('lr_debt', 'cy', 100, at => '2023-01-02') > 0 AS consumed;
SELECT points.grant('lr_debt', 'cy', 50, available_at => '2023-02-01', at => '2023-01-02') > 0 AS vesting;
SELECT points.revoke(:g, at => '2023-01-03') > 0 AS revoked;
SELECT available, debt FROM points.account('lr_debt', 'cy', '2023-02-02');
SELECT points.grant('lr_debt', 'cy', 70, at => '2023-03-01') > 0 AS granted;
SELECT available, debt FROM points.account('lr_debt', 'cy', '2023-03-01');

-- D. Partial policy: a revoke that found the points spent forgave them; a
--    later refund of that spend puts points back into the grant, and they are
--    reclaimed at once instead of reaching the customer.
INSERT INTO points.types (code, name, name_plural, clawback_policy)
VALUES ('lr_part', 'point', 'points', 'partial');
SELECT points.grant('lr_part', 'dee', 100, at => '2023-01-01') AS g \gset
SELECT points.grant('lr_part', 'dee', 10, note => 'other', at => '2023-01-01') > 0 AS other;
SELECT points.consume('lr_part', 'dee', 100, at => '2023-01-02') AS c \gset
SELECT points.revoke(:g, at => '2023-01-03') > 0 AS revoked;
SELECT available FROM points.account('lr_part', 'dee', '2023-01-03');
SELECT points.refund(:c, at => '2023-01-04') > 0 AS refunded;
SELECT available FROM points.account('lr_part', 'dee', '2023-01-04');
SELECT kind, amount, balance_after, note FROM points.entries WHERE type = 'lr_part' ORDER BY id;
SELECT amount, remaining, revoked, forgiven FROM points.lots WHERE type = 'lr_part' ORDER BY id;

-- E. An operation cannot be dated before what it acts on (22023): a grant
--    confirmed before it was made, a hold captured before it was placed.
SELECT points.grant('lr_debt', 'eve', 10, pending => true, at => '2024-01-02') AS p \gset
SELECT points.confirm(:p, at => '2020-01-01');
SELECT points.grant('lr_debt', 'eve', 10, at => '2024-01-02') > 0 AS granted;
SELECT points.hold('lr_debt', 'eve', 5, at => '2024-01-03') AS h \gset
SELECT points.capture(:h, at => '2024-01-02');
SELECT available, held, pending FROM points.account('lr_debt', 'eve', '2024-01-04');

-- F. Revoking a grant whose points expired unspent takes nothing from the
--    customer's other grants: expired points were never spent, so they are
--    not owed (found by the model test).
INSERT INTO points.types (code, name, name_plural, clawback_policy)
VALUES ('lr_exp', 'point', 'points', 'reject');
SELECT points.grant('lr_exp', 'fin', 10, expires_at => '2024-01-02', at => '2024-01-01') AS a \gset
SELECT points.grant('lr_exp', 'fin', 10, at => '2024-01-01') > 0 AS granted_b;
SELECT points.consume('lr_exp', 'fin', 4, at => '2024-01-01 12:00') > 0 AS spent_4_of_a;
SELECT points.revoke(:a, at => '2024-01-03') > 0 AS revoked_the_spent_4;
SELECT available, lifetime_expired FROM points.account('lr_exp', 'fin', '2024-01-03');
SELECT points.revoke(:a, at => '2024-01-03') IS NULL AS nothing_left;
SELECT points.revoke(:a, 1, at => '2024-01-03');

-- G. A refund with reissue into two expired grants, in an account with debt:
--    every returned point lapses first, then the fresh grants repay the debt
--    (it used to fail with 23514; found by the model test).
SELECT points.grant('lr_debt', 'gil', 10, expires_at => '2024-01-05', at => '2024-01-01') > 0 AS a;
SELECT points.grant('lr_debt', 'gil', 10, expires_at => '2024-01-05', at => '2024-01-01') > 0 AS b;
SELECT points.consume('lr_debt', 'gil', 20, at => '2024-01-02') AS spent \gset
SELECT points.grant('lr_debt', 'gil', 5, at => '2024-01-03') AS g \gset
SELECT points.consume('lr_debt', 'gil', 5, at => '2024-01-03') > 0 AS consumed;
SELECT points.revoke(:g, at => '2024-01-03') > 0 AS revoked;
SELECT points.refund(:spent, reissue => true, at => '2024-01-06') > 0 AS refunded;
SELECT available, debt, lifetime_expired FROM points.account('lr_debt', 'gil', '2024-01-06');

-- H. A pending grant keeps the validity in force when it was granted: a
--    policy change before the confirmation does not shorten it.
INSERT INTO points.types (code, name, name_plural, validity)
VALUES ('lr_conf', 'point', 'points', '10 days');
SELECT points.grant('lr_conf', 'hal', 10, pending => true, at => '2024-01-01') AS p \gset
UPDATE points.types SET validity = '1 day' WHERE code = 'lr_conf';
SELECT points.confirm(:p, at => '2024-01-01');
SELECT expires_at FROM points.grants WHERE id = :p;

SELECT * FROM pg_temp.journal;
SELECT * FROM points.verify();
