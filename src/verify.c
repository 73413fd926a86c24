/*
 * verify.c
 *		points.verify(): re-derive every cached figure of the ledger from
 *		lots, allocations and entries and report each violation of an
 *		invariant as a row.  No rows: the ledger is consistent.
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "points.h"

typedef struct Check
{
	const char *name;
	/* a query returning (type text, customer text, id bigint, detail text) */
	const char *query;
} Check;

/* An entry's amount in units of its type's scale. */
#define UNITS(col) "((" col ") * pg_catalog.power(10::numeric, t.scale))::bigint"

static const Check checks[] = {
	{"lot_remaining_range",
		"SELECT type, customer, id, format('remaining %s outside [0, %s]', remaining, amount)"
		" FROM points.lots WHERE remaining < 0 OR remaining > amount OR amount <= 0"},
	{"lot_open_flag",
		"SELECT type, customer, id, format('open is %s, status %s, remaining %s', open, status, remaining)"
		" FROM points.lots WHERE open IS DISTINCT FROM (status = 'active' AND remaining > 0)"},
	{"lot_allocations",
		"SELECT l.type, l.customer, l.id,"
		" format('remaining %s, but amount %s less allocations %s', l.remaining, l.amount, coalesce(a.drawn, 0))"
		" FROM points.lots l LEFT JOIN (SELECT lot_id, sum(amount) AS drawn"
		"   FROM points.allocations GROUP BY lot_id) a ON a.lot_id = l.id"
		" WHERE l.status = 'active' AND l.remaining <> l.amount - coalesce(a.drawn, 0)"},
	{"inactive_lot_untouched",
		"SELECT l.type, l.customer, l.id, format('%s grant with remaining %s has been drawn from', l.status, l.remaining)"
		" FROM points.lots l WHERE l.status <> 'active'"
		" AND (l.remaining <> CASE l.status WHEN 'pending' THEN l.amount ELSE 0 END"
		"      OR EXISTS (SELECT 1 FROM points.allocations a WHERE a.lot_id = l.id))"},
	{"lot_revoked_range",
		"SELECT type, customer, id, format('revoked %s outside [0, %s]', revoked, amount)"
		" FROM points.lots WHERE revoked < 0 OR revoked > amount"
		" OR forgiven < 0 OR forgiven > revoked"
		" OR (status = 'voided' AND revoked <> amount)"},
	{"lot_times",
		"SELECT type, customer, id, format('available_at %s, expires_at %s, at %s', available_at, expires_at, at)"
		" FROM points.lots WHERE NOT (at <= available_at AND available_at < expires_at)"},
	{"entry_allocations",
		"SELECT e.type, e.customer, e.id,"
		" format('%s of %s (debt %s) drew %s units from grants', e.kind, e.amount, e.debt, coalesce(a.drawn, 0))"
		" FROM points.entries e JOIN points.types t ON t.code = e.type"
		" LEFT JOIN (SELECT entry_id, sum(amount) AS drawn FROM points.allocations GROUP BY entry_id) a"
		"   ON a.entry_id = e.id"
		" WHERE coalesce(a.drawn, 0) <> CASE"
		"   WHEN e.kind IN ('grant', 'pending', 'confirm', 'void', 'transfer_in', 'reissue')"
		"     OR (e.kind = 'adjust' AND e.amount > 0) THEN 0"
		"   ELSE -" UNITS("(e.amount + e.debt)") " END"},
	{"allocation_account",
		"SELECT e.type, e.customer, a.entry_id, format('allocation against grant %s of another account', a.lot_id)"
		" FROM points.allocations a JOIN points.entries e ON e.id = a.entry_id"
		" JOIN points.lots l ON l.id = a.lot_id"
		" WHERE l.account_id <> e.account_id OR a.account_id <> e.account_id"},
	{"allocation_orphan",
		"SELECT NULL::text, NULL::text, a.entry_id, format('allocation of grant %s without its entry or grant', a.lot_id)"
		" FROM points.allocations a"
		" WHERE NOT EXISTS (SELECT 1 FROM points.entries e WHERE e.id = a.entry_id)"
		" OR NOT EXISTS (SELECT 1 FROM points.lots l WHERE l.id = a.lot_id)"},
	{"allocation_eligible",
		"SELECT e.type, e.customer, e.id,"
		" format('drew from grant %s, not eligible at %s', l.id, e.at)"
		" FROM points.allocations a JOIN points.entries e ON e.id = a.entry_id"
		" JOIN points.lots l ON l.id = a.lot_id"
		" WHERE e.kind IN ('consume', 'adjust', 'hold', 'transfer_out', 'redeem') AND a.amount > 0"
		" AND NOT (l.status = 'active' AND l.available_at <= e.at AND e.at < l.expires_at)"},
	{"entry_account",
		"SELECT e.type, e.customer, e.id, 'entry does not match its account'"
		" FROM points.entries e LEFT JOIN points.accounts c ON c.id = e.account_id"
		" WHERE c.id IS NULL OR c.type <> e.type OR c.customer <> e.customer"},
	{"entry_scale",
		"SELECT e.type, e.customer, e.id, format('amount %s or balance %s exceeds scale %s', e.amount, e.balance_after, t.scale)"
		" FROM points.entries e JOIN points.types t ON t.code = e.type"
		" WHERE pg_catalog.trunc(e.amount, t.scale) <> e.amount"
		" OR pg_catalog.trunc(e.balance_after, t.scale) <> e.balance_after"},
	{"entry_running_balance",
		"SELECT type, customer, id, format('balance_after %s, but the entries up to it sum to %s', balance_after, running)"
		" FROM (SELECT e.*, sum(e.amount) OVER (PARTITION BY e.account_id ORDER BY e.id) AS running"
		"       FROM points.entries e) x WHERE balance_after <> running"},
	{"account_balance",
		"SELECT c.type, c.customer, c.id,"
		" format('balance %s, but grants remaining %s less debt %s', c.balance, coalesce(l.remaining, 0), c.debt)"
		" FROM points.accounts c LEFT JOIN (SELECT account_id, sum(remaining) AS remaining"
		"   FROM points.lots WHERE status = 'active' GROUP BY account_id) l ON l.account_id = c.id"
		" WHERE c.balance <> coalesce(l.remaining, 0) - c.debt"},
	{"account_journal",
		"SELECT c.type, c.customer, c.id, format('balance %s units, but the journal sums to %s', c.balance, coalesce(j.total, 0))"
		" FROM points.accounts c JOIN points.types t ON t.code = c.type"
		" LEFT JOIN (SELECT account_id, sum(amount) AS total FROM points.entries GROUP BY account_id) j"
		"   ON j.account_id = c.id"
		" WHERE c.balance <> " UNITS("coalesce(j.total, 0)")},
	{"account_pending",
		"SELECT c.type, c.customer, c.id, format('pending %s, but pending grants sum to %s', c.pending, coalesce(l.pending, 0))"
		" FROM points.accounts c LEFT JOIN (SELECT account_id, sum(amount) AS pending"
		"   FROM points.lots WHERE status = 'pending' GROUP BY account_id) l ON l.account_id = c.id"
		" WHERE c.pending <> coalesce(l.pending, 0)"},
	{"account_open_bounds",
		"SELECT c.type, c.customer, c.id,"
		" format('next_expiry_at %s and vested_at %s, but open grants give %s and %s',"
		"        c.next_expiry_at, c.vested_at, l.next_expiry_at, l.vested_at)"
		" FROM points.accounts c CROSS JOIN LATERAL ("
		"   SELECT coalesce(min(expires_at), 'infinity') AS next_expiry_at,"
		"          coalesce(max(available_at), '-infinity') AS vested_at"
		"   FROM points.lots WHERE account_id = c.id AND open) l"
		" WHERE c.next_expiry_at <> l.next_expiry_at OR c.vested_at <> l.vested_at"},
	{"account_figures",
		"SELECT c.type, c.customer, c.id,"
		" format('held/debt/earned/spent/expired %s/%s/%s/%s/%s, but the journal gives %s/%s/%s/%s/%s',"
		"        c.held, c.debt, c.earned, c.spent, c.expired,"
		"        j.held, j.debt, j.earned, j.spent, j.expired)"
		" FROM points.accounts c JOIN points.types t ON t.code = c.type"
		/* one pass over the journal, grouped: never a scan per account */
		" LEFT JOIN (SELECT e.account_id,"
		"   sum(e.held) AS held, sum(e.debt) AS debt,"
		"   sum(e.amount) FILTER (WHERE e.kind IN ('grant', 'confirm')"
		"     OR (e.kind = 'adjust' AND e.amount > 0)) AS earned,"
		"   coalesce(-sum(e.amount) FILTER (WHERE e.kind IN ('consume', 'redeem')"
		"     OR (e.kind = 'adjust' AND e.amount < 0)), 0)"
		"   - coalesce(sum(e.held) FILTER (WHERE e.kind = 'capture'), 0)"
		"   - coalesce(sum(e.amount) FILTER (WHERE e.kind = 'refund'), 0) AS spent,"
		"   -sum(e.amount) FILTER (WHERE e.kind = 'expire') AS expired"
		"   FROM points.entries e GROUP BY e.account_id) s ON s.account_id = c.id"
		" CROSS JOIN LATERAL (SELECT"
		"   " UNITS("coalesce(s.held, 0)") " AS held,"
		"   " UNITS("coalesce(s.debt, 0)") " AS debt,"
		"   " UNITS("coalesce(s.earned, 0)") " AS earned,"
		"   " UNITS("coalesce(s.spent, 0)") " AS spent,"
		"   " UNITS("coalesce(s.expired, 0)") " AS expired) j"
		" WHERE (c.held, c.debt, c.earned, c.spent, c.expired)"
		"   <> (j.held, j.debt, j.earned, j.spent, j.expired)"},
	{"account_holds",
		"SELECT c.type, c.customer, c.id, format('held %s, but open holds sum to %s', c.held, coalesce(h.held, 0))"
		" FROM points.accounts c LEFT JOIN (SELECT account_id, sum(amount) AS held"
		"   FROM points.holds WHERE status = 'open' GROUP BY account_id) h ON h.account_id = c.id"
		" WHERE c.held <> coalesce(h.held, 0)"},
	{"hold_state",
		"SELECT type, customer, id, format('status %s, captured %s of %s', status, captured, amount)"
		" FROM points.holds"
		" WHERE captured < 0 OR captured > amount"
		" OR (status = 'captured') <> (captured > 0)"
		" OR (status = 'open') <> (settled_entry_id IS NULL)"},
	{"account_negative",
		"SELECT type, customer, id, format('balance %s, held %s, pending %s, debt %s', balance, held, pending, debt)"
		" FROM points.accounts"
		" WHERE balance < -debt OR held < 0 OR pending < 0 OR debt < 0"
		" OR (debt > 0 AND balance <> -debt)"},
	{"earnings_sum",
		"SELECT l.type, l.customer, l.id,"
		" format('grant of %s units, but its earnings sum to %s points', l.amount, e.total)"
		" FROM points.lots l JOIN (SELECT lot_id, sum(points) AS total FROM points.earnings"
		"   GROUP BY lot_id) e ON e.lot_id = l.id"
		" JOIN points.types t ON t.code = l.type"
		" WHERE l.amount <> " UNITS("e.total")},
	{"redemption_entry",
		"SELECT r.type, r.customer, r.id,"
		" format('redemption of %s points, but its entry is a %s of %s', r.cost, e.kind, e.amount)"
		" FROM points.redemptions r LEFT JOIN points.entries e ON e.id = r.entry_id"
		" WHERE e.id IS NULL OR e.kind <> 'redeem' OR e.amount <> -r.cost"
		" OR e.account_id <> r.account_id"},
	{"redemption_cancelled",
		"SELECT r.type, r.customer, r.id,"
		" format('%s redemption of %s points, %s refunded', r.status, r.cost, coalesce(f.refunded, 0))"
		" FROM points.redemptions r LEFT JOIN (SELECT origin_id, sum(amount) AS refunded"
		"   FROM points.entries WHERE kind = 'refund' GROUP BY origin_id) f"
		"   ON f.origin_id = r.entry_id"
		" WHERE r.status = 'cancelled' AND coalesce(f.refunded, 0) <> r.cost"},
};

/*
 * points.verify() returns table (check text, type text, customer text,
 * id bigint, detail text)
 */
PG_FUNCTION_INFO_V1(points_verify);
Datum
points_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	size_t		i;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	for (i = 0; i < lengthof(checks); i++)
	{
		uint64		row;
		int			pin = points_pin_search_path();
		int			rc = SPI_execute(checks[i].query, true, 0);

		points_unpin_search_path(pin);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "points: check %s failed", checks[i].name);
		for (row = 0; row < SPI_processed; row++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[row];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			Datum		values[5];
			bool		nulls[5];
			int			c;

			values[0] = CStringGetTextDatum(checks[i].name);
			nulls[0] = false;
			for (c = 1; c <= 4; c++)
				values[c] = SPI_getbinval(tuple, desc, c, &nulls[c]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	SPI_finish();
	return (Datum) 0;
}
