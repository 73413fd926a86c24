/*
 * maintenance.c
 *		The expiry sweep: expire(at, batch) expires the due grants (past
 *		their expiry, or in an account lapsed for inactivity), one expire
 *		entry per account and instant at which points lapse, skipping
 *		accounts that a running operation holds.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "points.h"

/* An account the sweep locked, as read then. */
typedef struct DueAccount
{
	Account		acct;
	char	   *type;
	char	   *customer;
} DueAccount;

/* POINTS_ACCOUNT_COLUMNS of accounts a, then its type and customer. */
#define DUE_COLUMNS \
	"a.id, a.balance, a.held, a.pending, a.debt, a.earned, a.spent, a.expired," \
	" a.next_expiry_at, a.vested_at, a.last_at, a.last_activity_at," \
	" a.inactive_at, a.ctid, a.type, a.customer"

/*
 * Run `plan`, a query of DUE_COLUMNS that locks the accounts FOR NO KEY
 * UPDATE SKIP LOCKED (the sweep's way to make progress without waiting for,
 * or deadlocking with, running operations), and append the accounts not
 * seen yet to *due, in the query's order.
 */
static void
collect(SPIPlanPtr plan, Datum *values, HTAB *seen, DueAccount **due, int *n,
		int *cap)
{
	uint64		i;

	points_run(plan, values, NULL, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		int64		id = points_col_int64(i, 1);
		bool		found;
		DueAccount *d;

		(void) hash_search(seen, &id, HASH_ENTER, &found);
		if (found)
			continue;
		if (*n == *cap)
		{
			*cap = Max(*cap * 2, 16);
			*due = *due ? repalloc(*due, *cap * sizeof(DueAccount)) :
				palloc(*cap * sizeof(DueAccount));
		}
		d = &(*due)[(*n)++];
		points_read_account(i, &d->acct);
		d->type = points_col_text(i, 15);
		d->customer = points_col_text(i, 16);
	}
}

/*
 * points.expire(at, batch) returns integer
 *		Expire up to `batch` lots due at `at` (oldest due first), one expire
 *		entry per account and instant, in the caller's transaction.  Accounts locked by a running
 *		operation are skipped (SKIP LOCKED) and left to the next run; running
 *		it twice, or twice at once, expires nothing twice.
 */
PG_FUNCTION_INFO_V1(points_expire);
Datum
points_expire(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr due_plan = NULL;
	static SPIPlanPtr idle_plan = NULL;
	static const Oid due_types[] = {TIMESTAMPTZOID, INT4OID};
	TimestampTz at;
	int32		batch;
	Datum		values[2];
	HASHCTL		ctl;
	HTAB	   *seen;
	DueAccount *due = NULL;
	int			ndue = 0;
	int			cap = 0;
	int			i;
	int			expired = 0;

	at = points_arg_time(fcinfo, 0, "at");
	batch = points_arg_batch(fcinfo, 1);

	SPI_connect();
	points_write_begin();

	/*
	 * The accounts of the oldest due lots, then of the accounts lapsed for
	 * inactivity, each locked unless a running operation holds it: busy
	 * accounts are left to the next run and do not use up the batch (the
	 * LIMIT counts rows locked).  Each account is read as it was locked.
	 */
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("points due accounts", 1024, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	values[0] = TimestampTzGetDatum(at);
	values[1] = Int32GetDatum(batch);
	collect(points_plan(&due_plan,
						"SELECT " DUE_COLUMNS " FROM points.lots l"
						" JOIN points.accounts a ON a.id = l.account_id"
						" WHERE l.open AND l.expires_at <= $1"
						" ORDER BY l.expires_at, l.id LIMIT $2"
						" FOR NO KEY UPDATE OF a SKIP LOCKED",
						2, due_types),
			values, seen, &due, &ndue, &cap);
	collect(points_plan(&idle_plan,
						"SELECT " DUE_COLUMNS " FROM points.accounts a"
						" WHERE a.inactive_at <= $1 AND a.inactive_at < 'infinity'"
						" ORDER BY a.inactive_at, a.id LIMIT $2"
						" FOR NO KEY UPDATE SKIP LOCKED",
						2, due_types),
			values, seen, &due, &ndue, &cap);
	for (i = 0; i < ndue && expired < batch; i++)
		expired += points_expire_due(points_load_type(due[i].type),
									 due[i].customer, &due[i].acct, at,
									 batch - expired);

	points_write_end();
	SPI_finish();
	PG_RETURN_INT32(expired);
}
