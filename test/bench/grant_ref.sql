-- points.grant with a ref (idempotency), as a webhook would call it.
\set c random(1, :ncust)
\set amt random(1, 100)
\set r random(1, 1000000000000)
SELECT points.grant('stars', 'c' || :c, :amt, ref => 'order-' || :client_id || '-' || :r);
