-- Baseline of the writes: one INSERT of a journal-wide row into a plain table, one transaction.
\set c random(1, :ncust)
\set amt random(1, 100)
INSERT INTO bench.plain (account_id, type, customer, kind, amount, balance_after, actor)
VALUES (:c, 'stars', 'c' || :c, 'grant', :amt, :amt, 'app');
