-- A checkout: points.hold of 1 to 5 stars, then points.capture of the hold,
-- in two transactions (one pgbench "transaction" is the pair).
\set c random(1, :ncust)
\set amt random(1, 5)
SELECT points.hold('stars', 'c' || :c, :amt) AS hold_id \gset
SELECT points.capture(:hold_id);
