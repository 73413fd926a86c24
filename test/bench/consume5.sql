-- points.consume of 5 stars from the next customer of the pool, whose grants
-- of 1, 1, 1, 1 and 5 stars make it draw from 5 grants (4 of them exhausted).
SELECT points.consume('stars', 'm' || nextval('bench.mseq'), 5);
