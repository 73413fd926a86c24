-- One hot customer: grant, consume, transfers both ways, hold + capture,
-- through bench.hot(), which counts PT001 and lets any other error abort.
\set op random(1, 5)
SELECT bench.hot(:op);
