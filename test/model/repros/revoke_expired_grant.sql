-- Status: fixed in e2e76ad (regression: sql/lifecycle_regressions.sql); kept as found.
-- Revoking a grant whose points lapsed unspent claws the same amount back
-- from the customer's OTHER grants.  The sweep (or the revoke's own lock)
-- leaves the expired grant with remaining 0, and revoke() treats every
-- point that is not in the grant as spent ("its remaining first, then the
-- rest of the balance, then the policy").  Expired points were never
-- spent: the customer loses them twice.
-- Here: grant A (10, expires 2024-01-02) and grant B (10, never expires);
-- nothing is spent; A lapses; revoke(A) at 2024-01-03 takes B's 10 points.
-- Balance 0, lifetime expired 10: 20 points gone for a 10-point clawback.
-- Under 'partial' or 'debt' the same happens (or a debt is recorded when
-- B is empty).  Expected: the points of A that expired count as gone, not
-- as owed: revoke(A) takes nothing (balance stays 10).  The same holds for
-- the part of a partly spent, partly expired grant: only the spent part is
-- owed.  (A grant's spent part is amount - remaining - expired points -
-- earlier revokes; its allocations tell.)
SET TimeZone = 'UTC';
INSERT INTO points.types (code, name, name_plural, clawback_policy)
VALUES ('rp_revoke', 'point', 'points', 'reject');
SELECT points."grant"('rp_revoke', 'c1', 10, expires_at => '2024-01-02 00:00+00',
                      at => '2024-01-01 00:00+00') AS a \gset
SELECT points."grant"('rp_revoke', 'c1', 10, at => '2024-01-01 00:00+00') > 0 AS granted_b;
SELECT points.balance('rp_revoke', 'c1', '2024-01-03 00:00+00');   -- 10: A lapsed
SELECT points.revoke(:a, at => '2024-01-03 00:00+00') > 0 AS revoked;
-- expected 10 and 10; got 0 and 10
SELECT points.balance('rp_revoke', 'c1', '2024-01-03 00:00+00') AS balance,
       lifetime_expired
FROM points.account('rp_revoke', 'c1', '2024-01-03 00:00+00');
SELECT * FROM points.verify();
