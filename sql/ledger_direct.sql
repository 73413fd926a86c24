--
-- The hot rows (entries, grants, allocations, the account) are written
-- without the executor (src/direct.c).  Proof that the tables and their
-- indexes end up as SQL would leave them, and that a table a DBA gave a
-- trigger or a column of their own is written through SQL instead, so that
-- the trigger fires and the column gets its default.
-- Type codes of this file start with di_.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS points;
CREATE EXTENSION IF NOT EXISTS amcheck;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

INSERT INTO points.types (code, name, name_plural, validity)
VALUES ('di_pts', 'point', 'points', '1 year');

-- Every B-tree index of the ledger's tables, checked against its table:
-- each heap row has its index entry (heapallindexed), in order.
CREATE FUNCTION pg_temp.indexes_ok() RETURNS TABLE (index text, ok boolean)
LANGUAGE sql AS $$
    SELECT i.indexrelid::regclass::text,
           (SELECT true FROM (SELECT bt_index_check(i.indexrelid, true)) c)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree'
    WHERE i.indrelid IN ('points.accounts'::regclass, 'points.lots'::regclass,
                         'points.entries'::regclass, 'points.allocations'::regclass)
    ORDER BY 1
$$;

-- A mix of every path that writes directly: grants, debits over several
-- grants, grants used up (partial index entries gone), a hold and its
-- capture, lazy expiry, a transfer.
SELECT points.grant('di_pts', 'ann', 10, at => '2026-01-01', note => 'a') > 0 AS granted;
SELECT points.grant('di_pts', 'ann', 20, at => '2026-02-01', note => 'b') > 0 AS granted;
SELECT points.grant('di_pts', 'ann', 30, at => '2026-03-01', note => 'c') > 0 AS granted;
SELECT points.consume('di_pts', 'ann', 25, at => '2026-03-02') > 0 AS consumed;
SELECT points.hold('di_pts', 'ann', 3, at => '2026-03-03') > 0 AS held;
SELECT points.capture(h.id, at => '2026-03-04') > 0 AS captured
FROM points.holds h JOIN points.accounts a ON a.id = h.account_id
WHERE a.type = 'di_pts' AND a.customer = 'ann';
SELECT points.transfer('di_pts', 'ann', 'bob', 1, at => '2026-03-05') > 0 AS transferred;
-- a year on, the point left of grant b has lapsed: the next debit journals
-- its expiry first
SELECT points.balance('di_pts', 'ann', at => '2027-02-15') AS ann, points.balance('di_pts', 'bob', at => '2027-02-15') AS bob;
SELECT points.consume('di_pts', 'ann', 1, at => '2027-02-15') > 0 AS consumed;

SELECT g.note, g.amount, g.remaining, g.status FROM points.grants g
WHERE g.type = 'di_pts' ORDER BY g.id;
SELECT e.customer, e.kind, e.amount, e.balance_after, e.held, e.actor = current_user AS actor
FROM points.entries e WHERE e.type = 'di_pts' ORDER BY e.id;
-- the generated column of every grant is what its definition gives
SELECT count(*) AS wrong_open FROM points.lots
WHERE type = 'di_pts' AND open IS DISTINCT FROM (status = 'active' AND remaining > 0);
SELECT * FROM pg_temp.indexes_ok();
SELECT * FROM points.verify();

-- Index scans find what was written: by key, and in the partial indexes.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS open_lots FROM points.lots l JOIN points.accounts a ON a.id = l.account_id
WHERE a.type = 'di_pts' AND l.open;
SELECT count(*) AS entries_by_key FROM points.entries e
WHERE e.id IN (SELECT id FROM points.entries WHERE type = 'di_pts');
-- entries_at (BRIN) by a time range
SELECT count(*) AS entries_in_march FROM points.entries
WHERE at >= '2026-03-01' AND at < '2026-04-01' AND type = 'di_pts';
RESET enable_seqscan;
RESET enable_bitmapscan;

-- A DBA's own audit trigger on the journal and on the grants: the writes go
-- through SQL, and the trigger sees every row.
CREATE TABLE pg_temp.audit (tab text, kind text);
CREATE FUNCTION pg_temp.audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pg_temp.audit VALUES (TG_TABLE_NAME, coalesce(to_jsonb(NEW) ->> 'kind', to_jsonb(NEW) ->> 'reason'));
    RETURN NULL;
END
$$;
CREATE TRIGGER dba_audit AFTER INSERT ON points.entries
    FOR EACH ROW EXECUTE FUNCTION pg_temp.audit();
CREATE TRIGGER dba_audit AFTER INSERT ON points.lots
    FOR EACH ROW EXECUTE FUNCTION pg_temp.audit();
SELECT points.grant('di_pts', 'cy', 7, reason => 'welcome') > 0 AS granted;
SELECT points.consume('di_pts', 'cy', 3) > 0 AS consumed;
SELECT * FROM pg_temp.audit ORDER BY tab, kind;
DROP TRIGGER dba_audit ON points.entries;
DROP TRIGGER dba_audit ON points.lots;
SELECT points.grant('di_pts', 'cy', 1) > 0 AS granted;
SELECT count(*) AS audited FROM pg_temp.audit;

-- A column of the DBA's own: rows written through SQL get its default.
-- (Rolled back: a dropped column would keep the table on the SQL path.)
BEGIN;
ALTER TABLE points.entries ADD COLUMN channel text DEFAULT 'pos';
SELECT points.consume('di_pts', 'cy', 1) > 0 AS consumed;
SELECT kind, amount, channel FROM points.entries
WHERE type = 'di_pts' AND customer = 'cy' ORDER BY id DESC LIMIT 1;
ROLLBACK;
SELECT points.consume('di_pts', 'cy', 1) > 0 AS consumed;
SELECT points.balance('di_pts', 'cy') AS cy;
SELECT * FROM pg_temp.indexes_ok();
SELECT * FROM points.verify();

-- A constraint of the DBA's own is enforced: the writes go through SQL.
-- (NOT VALID: the journal already holds rows without a note.)
BEGIN;
ALTER TABLE points.entries ADD CONSTRAINT short_note
  CHECK (length(note) < 10) NOT VALID;
SELECT points.grant('di_pts', 'cy', 1, note => 'a note far too long') > 0 AS granted;
ROLLBACK;
BEGIN;
ALTER TABLE points.lots ADD CONSTRAINT noted CHECK (note IS NOT NULL) NOT VALID;
SELECT points.grant('di_pts', 'cy', 1) > 0 AS granted;
ROLLBACK;
-- A NOT NULL the rows already satisfy: the SQL path writes the same rows.
BEGIN;
ALTER TABLE points.lots ALTER COLUMN open SET NOT NULL;
SELECT points.grant('di_pts', 'cy', 2, note => 'nn') > 0 AS granted;
SELECT points.consume('di_pts', 'cy', 1) > 0 AS consumed;
SELECT amount, remaining, open, note FROM points.lots
WHERE type = 'di_pts' AND customer = 'cy' ORDER BY id DESC LIMIT 1;
SELECT points.balance('di_pts', 'cy') AS cy;
ROLLBACK;
SELECT points.balance('di_pts', 'cy') AS cy;
SELECT * FROM pg_temp.indexes_ok();
SELECT * FROM points.verify();

-- account() walks the open lots directly, or reads them through SQL when
-- the table has a column of a DBA's own: the same figures either way, at
-- times that cover each of them (points expiring next, two lots expiring
-- together, points past expiry not swept yet, points still vesting).
SELECT points.grant('di_pts', 'dee', 5, at => '2026-01-01',
                    expires_at => '2026-03-01') > 0 AS granted;
SELECT points.grant('di_pts', 'dee', 7, at => '2026-01-01',
                    expires_at => '2026-06-01') > 0 AS granted;
SELECT points.grant('di_pts', 'dee', 8, at => '2026-01-02',
                    expires_at => '2026-06-01') > 0 AS granted;
SELECT points.grant('di_pts', 'dee', 9, at => '2026-01-03',
                    available_at => '2026-04-01', expires_at => '2026-09-01') > 0 AS granted;
CREATE TEMP TABLE dee_at (at timestamptz);
INSERT INTO dee_at VALUES ('2026-02-01'), ('2026-03-15'), ('2026-05-01'),
  ('2026-07-01'), ('2026-10-01');
CREATE TEMP TABLE dee_direct AS
SELECT t.at, a.* FROM dee_at t, points.account('di_pts', 'dee', t.at) a;
SELECT at, available, pending, next_expiry_at, next_expiry_amount,
       lifetime_expired FROM dee_direct ORDER BY at;
BEGIN;
ALTER TABLE points.lots ADD COLUMN channel text;
SELECT t.at, (SELECT row(a.*) FROM points.account('di_pts', 'dee', t.at) a)
       IS NOT DISTINCT FROM
       (SELECT row(d.type, d.customer, d.available, d.held, d.pending, d.debt,
                   d.next_expiry_at, d.next_expiry_amount, d.lifetime_earned,
                   d.lifetime_spent, d.lifetime_expired, d.tier)
          FROM dee_direct d WHERE d.at = t.at) AS same
FROM dee_at t ORDER BY t.at;
ROLLBACK;

-- The sweep finds the due lots through lots_due, oldest first, and locks
-- each of their accounts once, through its primary key; or it reads them
-- through SQL when a table has a column of a DBA's own: the same batches
-- (a batch counts the due lots of the accounts it locked) and the same
-- entries either way.
INSERT INTO points.types (code, name, name_plural) VALUES ('di_sw', 'point', 'points');
SELECT count(points.grant('di_sw', g.customer, g.amount, at => '2001-01-01',
                          expires_at => g.expires_at)) AS granted
FROM (VALUES ('ann', 1, '2001-02-01'::timestamptz), ('bo', 2, '2001-02-01'),
             ('bo', 3, '2001-02-01'), ('ann', 4, '2001-02-02'),
             ('cy', 5, '2001-02-15'), ('ann', 6, '2001-03-01'),
             ('cy', 7, '2001-12-01'), ('bo', 8, '2001-04-01')) g (customer, amount, expires_at);
BEGIN;
SELECT string_agg(points.expire(at => '2001-03-15', batch => 2)::text, ',') AS batches
FROM generate_series(1, 5) \gset direct_
SELECT string_agg(format('%s %s %s', customer, amount, at), '; ' ORDER BY id) AS entries
FROM points.entries WHERE type = 'di_sw' AND kind = 'expire' \gset direct_
SELECT :'direct_batches' AS batches, :'direct_entries' AS entries;
SELECT * FROM points.verify();
ROLLBACK;
BEGIN;
ALTER TABLE points.lots ADD COLUMN channel text;
SELECT string_agg(points.expire(at => '2001-03-15', batch => 2)::text, ',') AS batches
FROM generate_series(1, 5) \gset sql_
SELECT string_agg(format('%s %s %s', customer, amount, at), '; ' ORDER BY id) AS entries
FROM points.entries WHERE type = 'di_sw' AND kind = 'expire' \gset sql_
SELECT :'sql_batches' = :'direct_batches' AS same_batches,
       :'sql_entries' = :'direct_entries' AS same_entries;
ROLLBACK;

-- A grant that a debit closes cannot be updated HOT (its open changes):
-- its new version gets entries in lots_pkey and lots_account.  The key of
-- lots_pkey is the same, so that entry goes in without a uniqueness check
-- (insert_index_entries() in src/direct.c).  Hundreds of such updates on
-- the same few leaf pages, in one call, in one transaction and in a
-- transaction each, leave every index with an entry for every row version.
INSERT INTO points.types (code, name, name_plural) VALUES ('di_nh', 'point', 'points');
SELECT count(points.grant('di_nh', 'nh' || (i % 3), 1, at => '2026-01-01')) AS granted
FROM generate_series(1, 600) i;
SELECT points.consume('di_nh', 'nh1', 150, at => '2026-01-02') > 0 AS consumed;
BEGIN;
SELECT count(points.consume('di_nh', 'nh0', 1, at => '2026-01-02')) AS consumed
FROM generate_series(1, 150);
COMMIT;
DO $$
BEGIN
    FOR i IN 1..150 LOOP
        PERFORM points.consume('di_nh', 'nh2', 1, at => '2026-01-02');
        COMMIT;
    END LOOP;
END
$$;
SELECT customer, count(*) FILTER (WHERE open) AS open, count(*) FILTER (WHERE NOT open) AS closed
FROM points.lots WHERE type = 'di_nh' GROUP BY customer ORDER BY customer;
SELECT * FROM pg_temp.indexes_ok();
SELECT * FROM points.verify();

-- A table with an exclusion constraint of a DBA's own keeps the direct
-- writes, and the index entries of its updates go through the executor's
-- ExecInsertIndexTuples(), which checks the constraint.  Here no two
-- grants with the same note may have the same points remaining (a rule
-- made up for the test, which a debit's update of a grant can break): a
-- consume that would leave the first grant with the second's remaining is
-- refused and changes nothing; one that does not goes through.
INSERT INTO points.types (code, name, name_plural) VALUES ('di_ex', 'point', 'points');
SELECT points.grant('di_ex', 'ex', 5, note => 'di-ex', at => '2026-01-01') > 0 AS granted;
SELECT points.grant('di_ex', 'ex', 3, note => 'di-ex', at => '2026-01-02') > 0 AS granted;
ALTER TABLE points.lots ADD CONSTRAINT di_ex_remaining
    EXCLUDE USING btree (note WITH =, remaining WITH =);
SELECT points.consume('di_ex', 'ex', 2, at => '2026-01-03');
SELECT points.consume('di_ex', 'ex', 1, at => '2026-01-03') > 0 AS consumed;
SELECT points.balance('di_ex', 'ex') AS balance,
       (SELECT count(*) FROM points.entries WHERE type = 'di_ex') AS entries,
       (SELECT string_agg(remaining::text, ',' ORDER BY id) FROM points.lots WHERE type = 'di_ex') AS remaining;
ALTER TABLE points.lots DROP CONSTRAINT di_ex_remaining;
SELECT points.consume('di_ex', 'ex', 4, at => '2026-01-04') > 0 AS consumed;
SELECT points.balance('di_ex', 'ex') AS balance;
SELECT * FROM pg_temp.indexes_ok();
SELECT * FROM points.verify();

-- A column whose type a DBA changed is read and written through SQL: the
-- direct path takes each column's datum as the type this version created
-- (here it would write a bigint into a numeric column).
INSERT INTO points.types (code, name, name_plural) VALUES ('di_ty', 'point', 'points');
SELECT points.grant('di_ty', 'ty', 5, at => '2026-01-01') > 0 AS granted;
BEGIN;
ALTER TABLE points.allocations ALTER COLUMN amount TYPE numeric;
SELECT points.consume('di_ty', 'ty', 2, at => '2026-01-02') > 0 AS consumed;
SELECT a.amount, pg_typeof(a.amount) AS type
FROM points.allocations a JOIN points.lots l ON l.id = a.lot_id WHERE l.type = 'di_ty';
SELECT points.balance('di_ty', 'ty') AS balance;
ROLLBACK;

-- A default a DBA gave a column that had none also sends the table through
-- SQL: the direct write supplies every value itself, an INSERT leaves this
-- one to the table.
INSERT INTO points.types (code, name, name_plural) VALUES ('di_df', 'point', 'points');
BEGIN;
ALTER TABLE points.entries ALTER COLUMN meta SET DEFAULT '{"source": "dba"}';
SELECT points.grant('di_df', 'df', 5, at => '2026-01-01') > 0 AS granted;
SELECT kind, meta FROM points.entries WHERE type = 'di_df';
ROLLBACK;

-- A rule of a DBA's own on a ledger table is applied to the write through
-- SQL: here every journal entry's kind is copied to a table of the DBA's.
INSERT INTO points.types (code, name, name_plural) VALUES ('di_ru', 'point', 'points');
CREATE TABLE public.di_copied (kind text);
BEGIN;
CREATE RULE di_copy AS ON INSERT TO points.entries
    DO ALSO INSERT INTO public.di_copied VALUES (NEW.kind);
SELECT points.grant('di_ru', 'ru', 5, at => '2026-01-01') > 0 AS granted;
SELECT points.consume('di_ru', 'ru', 2, at => '2026-01-02') > 0 AS consumed;
SELECT kind FROM public.di_copied ORDER BY kind;
ROLLBACK;
DROP TABLE public.di_copied;

-- A DBA's index whose expression calls a SQL function that does not
-- qualify the names it uses: PostgreSQL inlines the function when a
-- session first builds the index's expressions, resolving lower() by the
-- search path of that moment, and keeps the result.  grant(), consume()
-- and transfer() have no SET clause (they pin search_path around the
-- statements they run), so a table with an index of a DBA's own that has
-- expressions or a predicate is written through SQL, under the pinned
-- path; a caller's schema cannot stand in for lower() in the extension
-- owner's write.  (A new session, so that it builds the expressions.)
CREATE SCHEMA di_evil;
CREATE FUNCTION di_evil.lower(text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$BEGIN RAISE EXCEPTION 'hijacked'; END$$;
CREATE FUNCTION public.di_norm(t text) RETURNS text
    LANGUAGE sql IMMUTABLE AS 'SELECT lower(t)';
CREATE INDEX di_entries_norm ON points.entries (public.di_norm(note));
INSERT INTO points.types (code, name, name_plural) VALUES ('di_ix', 'point', 'points');
\c
SET client_min_messages = warning;
SET search_path = di_evil, pg_catalog, public;
SELECT points.grant('di_ix', 'ix', 5, note => 'Hello', at => '2026-01-01') > 0 AS granted;
SELECT points.consume('di_ix', 'ix', 2, note => 'Bye', at => '2026-01-02') > 0 AS consumed;
SELECT points.transfer('di_ix', 'ix', 'iy', 1, note => 'Gift', at => '2026-01-03') > 0 AS transferred;
RESET search_path;
SET enable_seqscan = off;
SELECT note, public.di_norm(note) AS key FROM points.entries
WHERE type = 'di_ix' AND public.di_norm(note) IN ('hello', 'bye', 'gift') ORDER BY id;
RESET enable_seqscan;
DROP INDEX points.di_entries_norm;
DROP FUNCTION public.di_norm(text);
DROP SCHEMA di_evil CASCADE;

-- An index the direct reads walk, found by its name, that is not valid:
-- what a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY leaves,
-- built only in part.  Here lots_account is neither valid nor ready, and
-- misses the grant made meanwhile: consume() and balance() read the lots
-- through SQL, whose planner skips the index, and find it.  REINDEX makes
-- it whole.
INSERT INTO points.types (code, name, name_plural) VALUES ('di_iv', 'point', 'points');
UPDATE pg_index SET indisvalid = false, indisready = false
 WHERE indexrelid = 'points.lots_account'::regclass;
SELECT points.grant('di_iv', 'iv', 5, at => '2026-01-01') > 0 AS granted;
SELECT points.consume('di_iv', 'iv', 3, at => '2026-01-02') > 0 AS consumed;
SELECT points.balance('di_iv', 'iv', '2026-01-03') AS balance;
SELECT remaining FROM points.grants WHERE type = 'di_iv';
REINDEX INDEX points.lots_account;
SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = 'points.lots_account'::regclass;
SELECT points.consume('di_iv', 'iv', 2, at => '2026-01-04') > 0 AS consumed;
SELECT remaining FROM points.grants WHERE type = 'di_iv';
SELECT * FROM points.verify();

-- An index of another shape under the name: lots_account with expires_at
-- descending.  Walked directly, it would have a debit draw the grant that
-- expires last; the debit reads through SQL instead, in the expiry order,
-- and draws the one that expires first.
DROP INDEX points.lots_account;
CREATE INDEX lots_account ON points.lots (account_id, open, expires_at DESC, at, id);
SELECT points.grant('di_iv', 'sh', 5, note => 'early', at => '2026-01-01',
                    expires_at => '2026-06-01') > 0 AS granted;
SELECT points.grant('di_iv', 'sh', 5, note => 'late', at => '2026-01-01',
                    expires_at => '2026-12-01') > 0 AS granted;
SELECT points.consume('di_iv', 'sh', 3, at => '2026-01-02') > 0 AS consumed;
SELECT note, remaining FROM points.grants WHERE type = 'di_iv' AND customer = 'sh' ORDER BY note;
DROP INDEX points.lots_account;
CREATE INDEX lots_account ON points.lots (account_id, open, expires_at, at, id);
SELECT * FROM points.verify();
