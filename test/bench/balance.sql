-- points.balance of a random customer.
\set c random(1, :ncust)
SELECT points.balance('stars', 'c' || :c);
