-- Baseline of hold + capture: two one-row INSERTs, each its own transaction.
\set c random(1, :ncust)
\set amt random(1, 5)
INSERT INTO bench.plain (account_id, type, customer, kind, amount, balance_after, actor)
VALUES (:c, 'stars', 'c' || :c, 'hold', :amt, :amt, 'app');
INSERT INTO bench.plain (account_id, type, customer, kind, amount, balance_after, actor)
VALUES (:c, 'stars', 'c' || :c, 'capture', :amt, :amt, 'app');
