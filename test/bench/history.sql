-- points.consume of 1 star from one customer (-D cust=...): the one with a
-- long history or the fresh one.
SELECT points.consume('stars', :cust, 1);
