-- points.grant of 1 to 100 stars to a random customer, expiry by the type's policy.
\set c random(1, :ncust)
\set amt random(1, 100)
SELECT points.grant('stars', 'c' || :c, :amt);
