-- points.consume of 1 to 5 stars from a random customer: draws from 1 grant.
\set c random(1, :ncust)
\set amt random(1, 5)
SELECT points.consume('stars', 'c' || :c, :amt);
