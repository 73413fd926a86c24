-- Baseline of the reads: a primary-key SELECT of one account-wide row.
\set c random(1, :ncust)
SELECT balance FROM bench.kv WHERE customer = 'c' || :c;
