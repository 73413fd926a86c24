-- points.account of a random customer: every figure.
\set c random(1, :ncust)
SELECT * FROM points.account('stars', 'c' || :c);
