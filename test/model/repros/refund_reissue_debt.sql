-- Status: fixed in e2e76ad (regression: sql/lifecycle_regressions.sql); kept as found.
-- refund(..., reissue => true) of a debit that drew from two grants that
-- have both expired since, in an account with debt, fails with 23514 ("a
-- grant's remaining must stay between 0 and its amount") from the
-- check_lot trigger: an internal error for a valid call.
-- points_return() first puts the refunded points back into every grant
-- they came from, then lapses them grant by grant; the fresh grant that
-- `reissue` credits for the first expired grant repays the debt at once
-- (points_credit -> points_settle_debt), and the repayment draws from the
-- NEXT expired grant, whose returned points are still waiting to lapse.
-- Its lapse then takes more than is left.  (Without the trigger the
-- debt would be repaid with expired points.)
-- Expected: the refund succeeds: 20 points return, lapse (expire entries
-- of 10 and 10), come back as fresh grants, and 5 of them repay the debt:
-- balance 15, debt 0.  Fix idea: lapse every returned expired point first,
-- then reissue (or settle the debt only once, at the end).
-- Found by the model test (seed 31, step 3654 of 6000, base 2024-01-01).
SET TimeZone = 'UTC';
INSERT INTO points.types (code, name, name_plural, clawback_policy)
VALUES ('rp_reissue', 'point', 'points', 'debt');
SELECT points."grant"('rp_reissue', 'c1', 10, expires_at => '2024-01-05 00:00+00',
                      at => '2024-01-01 00:00+00') > 0 AS granted_a;
SELECT points."grant"('rp_reissue', 'c1', 10, expires_at => '2024-01-05 00:00+00',
                      at => '2024-01-01 00:00+00') > 0 AS granted_b;
SELECT points.consume('rp_reissue', 'c1', 20, at => '2024-01-02 00:00+00') AS spent \gset
-- a debt of 5: a grant spent, then revoked under the debt policy
SELECT points."grant"('rp_reissue', 'c1', 5, at => '2024-01-03 00:00+00') AS g \gset
SELECT points.consume('rp_reissue', 'c1', 5, at => '2024-01-03 00:00+00') > 0 AS consumed;
SELECT points.revoke(:g, at => '2024-01-03 00:00+00') > 0 AS revoked;
SELECT debt FROM points.account('rp_reissue', 'c1', '2024-01-03 00:00+00');
-- both grants have expired: the refund reissues their points
SELECT points.refund(:spent, reissue => true, at => '2024-01-06 00:00+00') > 0 AS refunded;
-- expected 15 and debt 0
SELECT available, debt FROM points.account('rp_reissue', 'c1', '2024-01-06 00:00+00');
SELECT * FROM points.verify();
