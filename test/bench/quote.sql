-- points.quote for an order of 25.00 of a random customer.
\set c random(1, :ncust)
SELECT * FROM points.quote('stars', 'c' || :c, 25.00);
