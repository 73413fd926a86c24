-- points.redeem of the 10-star coupon by a random customer.
\set c random(1, :ncust)
SELECT points.redeem('stars', 'c' || :c, 'coupon');
