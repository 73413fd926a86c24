-- Status: fixed in e2e76ad (regression: sql/lifecycle_regressions.sql); kept as found.
-- A pending grant made by points.grant() gets its expiry at confirmation
-- from the validity in force THEN, not from the one in force when it was
-- granted.  DESIGN.md: "expires_at (computed once, at grant time, from the
-- type's policy then in force; later policy changes never touch existing
-- grants)".  Commit 688b558 keeps an earn rule's validity on the lot, but a
-- plain grant stores none (lots.validity NULL), so confirm() falls back to
-- the type's current validity.
-- Here: validity 10 days when granted (pending) at 2024-01-01; the type is
-- changed to 1 day; confirm() at the same instant gives expires_at
-- 2024-01-02 instead of 2024-01-11.
-- Expected: 2024-01-11 00:00 (the grant's own validity, restarted at
-- confirmation as README says).  Fix idea: store the type's validity on the
-- lot at grant time too (lots.validity), not only an earn rule's.
SET TimeZone = 'UTC';
INSERT INTO points.types (code, name, name_plural, validity)
VALUES ('rp_confirm', 'point', 'points', '10 days');
SELECT points."grant"('rp_confirm', 'c1', 10, pending => true, at => '2024-01-01 00:00+00') AS g \gset
SELECT expires_at FROM points.grants WHERE id = :g;
UPDATE points.types SET validity = '1 day' WHERE code = 'rp_confirm';
SELECT points.confirm(:g, at => '2024-01-01 00:00+00');
-- expected 2024-01-11 00:00:00+00; got 2024-01-02 00:00:00+00
SELECT expires_at FROM points.grants WHERE id = :g;
SELECT * FROM points.verify();
