-- points.earn of a purchase of 10 to 200 under the ratio rule "1 star per 1.00".
\set c random(1, :ncust)
\set amount random(10, 200)
SELECT points.earn('stars', 'c' || :c, 'purchase', :amount);
