-- points.transfer of 1 star between two different random customers.
\set a random(1, :ncust)
\set b 1 + (:a + random(0, :ncust - 2)) % :ncust
SELECT points.transfer('stars', 'c' || :a, 'c' || :b, 1);
