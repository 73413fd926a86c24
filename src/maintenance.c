/*
 * maintenance.c
 *		The expiry sweep: expire(at, batch) expires the due grants (past
 *		their expiry, or in an account lapsed for inactivity), one expire
 *		entry per account and instant at which points lapse, skipping
 *		accounts that a running operation holds; expire_batch() does the
 *		same from where a run's batch before ended, for run_maintenance().
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "points.h"

/* POINTS_ACCOUNT_COLUMNS of accounts a, then its type and customer. */
#define DUE_COLUMNS \
	"a.id, a.balance, a.held, a.pending, a.debt, a.earned, a.spent, a.expired," \
	" a.next_expiry_at, a.vested_at, a.last_at, a.last_activity_at," \
	" a.inactive_at, a.ctid, a.type, a.customer"

/* The accounts of the batch, each once, in the order they were locked. */
typedef struct DueList
{
	HTAB	   *seen;
	DueAccount *due;
	int			n;
	int			cap;
} DueList;

/* A place for the account `id` at the end of the list, NULL if it is in. */
static DueAccount *
due_add(DueList *list, int64 id)
{
	bool		found;

	(void) hash_search(list->seen, &id, HASH_ENTER, &found);
	if (found)
		return NULL;
	if (list->n == list->cap)
	{
		list->cap = Max(list->cap * 2, 16);
		list->due = list->due ? repalloc(list->due, list->cap * sizeof(DueAccount)) :
			palloc(list->cap * sizeof(DueAccount));
	}
	return &list->due[list->n++];
}

/*
 * Run `plan`, a query of DUE_COLUMNS that locks the accounts FOR NO KEY
 * UPDATE SKIP LOCKED (the sweep's way to make progress without waiting for,
 * or deadlocking with, running operations), and append the accounts not
 * in the list yet, in the query's order.
 */
static void
collect(SPIPlanPtr plan, Datum *values, DueList *list)
{
	uint64		i;

	points_run(plan, values, NULL, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		DueAccount *d = due_add(list, points_col_int64(i, 1));

		if (d == NULL)
			continue;
		points_read_account(i, &d->acct);
		d->type = points_col_text(i, 15);
		d->customer = points_col_text(i, 16);
	}
}

/* The start of lots_due's order: before every lot. */
static const DuePosition due_start = {DT_NOBEGIN, PG_INT64_MIN};

/* Whether `a` comes before `b` in lots_due's order. */
static bool
due_before(const DuePosition *a, const DuePosition *b)
{
	return a->expires_at < b->expires_at ||
		(a->expires_at == b->expires_at && a->id < b->id);
}

/*
 * One batch of the sweep: expire up to `batch` lots due at `at` (oldest due
 * first), one expire entry per account and instant, in the caller's
 * transaction.  Accounts locked by a running operation are skipped (SKIP
 * LOCKED) and left to the next run; running it twice, or twice at once,
 * expires nothing twice.
 *
 * With `from` (a run's batch after the first), the due lots are walked from
 * there, and *next is where the run's next batch may start: every due lot
 * before it in lots_due's order was expired by this batch or the ones
 * before, or belongs to an account that was busy (left to the next run).
 * That is where the walk ended; or, when the batch ran out before the
 * accounts it locked, the first of theirs; or, when it ran out in the middle
 * of an account's due lots, the first of those it left (by its expiry).
 * Through SQL (a column of a DBA's own) the walk starts at the beginning
 * and *next is `from`.  Returns the number of lots expired.
 */
static int
expire_batch(TimestampTz at, int batch, const DuePosition *from,
			 DuePosition *next)
{
	static SPIPlanPtr due_plan = NULL;
	static SPIPlanPtr idle_plan = NULL;
	static const Oid due_types[] = {TIMESTAMPTZOID, INT4OID};
	Datum		values[2];
	HASHCTL		ctl;
	DueList		list = {0};
	DueAccount *locked;
	int			nlocked;
	int			i;
	int			expired = 0;

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
	list.seen = hash_create("points due accounts", 1024, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	values[0] = TimestampTzGetDatum(at);
	values[1] = Int32GetDatum(batch);
	/* directly through lots_due, or through SQL (a DBA's own column) */
	nlocked = points_lock_due_accounts(at, batch, from, &locked, next);
	for (i = 0; i < nlocked; i++)
	{
		DueAccount *d = due_add(&list, locked[i].acct.id);

		if (d != NULL)
			*d = locked[i];
	}
	if (nlocked < 0)
		collect(points_plan(&due_plan,
							"SELECT " DUE_COLUMNS " FROM points.lots l"
							" JOIN points.accounts a ON a.id = l.account_id"
							" WHERE l.open AND l.expires_at <= $1"
							" ORDER BY l.expires_at, l.id LIMIT $2"
							" FOR NO KEY UPDATE OF a SKIP LOCKED",
							2, due_types),
				values, &list);
	collect(points_plan(&idle_plan,
						"SELECT " DUE_COLUMNS " FROM points.accounts a"
						" WHERE a.inactive_at <= $1 AND a.inactive_at < 'infinity'"
						" ORDER BY a.inactive_at, a.id LIMIT $2"
						" FOR NO KEY UPDATE SKIP LOCKED",
						2, due_types),
			values, &list);
	/* the accounts of lots_due come first in the list, in its order */
	for (i = 0; i < list.n; i++)
	{
		TimestampTz left_at;

		if (expired == batch)
		{
			/* out before these accounts: the next starts at the first */
			if (i < nlocked)
				*next = list.due[i].first;
			break;
		}
		expired += points_expire_due(points_load_type(list.due[i].type),
									 list.due[i].customer, &list.due[i].acct,
									 at, batch - expired, &left_at);
		if (i < nlocked && left_at != DT_NOBEGIN)
		{
			/*
			 * The batch ran out in this account's due lots: the next starts
			 * at the first it left, or before, at the next account's first
			 * or where the walk ended, but not before `from`.
			 */
			DuePosition left = {left_at, PG_INT64_MIN};

			if (due_before(&left, next))
				*next = left;
			if (i + 1 < nlocked && due_before(&list.due[i + 1].first, next))
				*next = list.due[i + 1].first;
			if (from && due_before(next, from))
				*next = *from;
			break;
		}
	}

	points_write_end();
	SPI_finish();
	return expired;
}

/*
 * points.expire(at, batch) returns integer
 *		Expire up to `batch` lots due at `at` (oldest due first), one expire
 *		entry per account and instant, in the caller's transaction.
 */
PG_FUNCTION_INFO_V1(points_expire);
Datum
points_expire(PG_FUNCTION_ARGS)
{
	TimestampTz at = points_arg_time(fcinfo, 0, "at");
	int32		batch = points_arg_batch(fcinfo, 1);
	DuePosition next = due_start;

	PG_RETURN_INT32(expire_batch(at, batch, NULL, &next));
}

/*
 * points.expire_batch(at, batch, from_expires_at, from_id,
 *					   OUT expired, OUT next_expires_at, OUT next_id)
 *		A batch of run_maintenance(): what expire(at, batch) does, walking
 *		the due lots from (from_expires_at, from_id) in lots_due's order
 *		(from the start when both are NULL), and where the run's next batch
 *		starts.
 */
PG_FUNCTION_INFO_V1(points_expire_batch);
Datum
points_expire_batch(PG_FUNCTION_ARGS)
{
	TimestampTz at = points_arg_time(fcinfo, 0, "at");
	int32		batch = points_arg_batch(fcinfo, 1);
	DuePosition from = due_start;
	DuePosition next;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "points: expire_batch must return a row");
	if (PG_ARGISNULL(2) != PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_expires_at and from_id go together"),
				 errhint("Pass both (where the batch before ended) or neither (from the start).")));
	if (!PG_ARGISNULL(2))
	{
		from.expires_at = PG_GETARG_TIMESTAMPTZ(2);
		from.id = PG_GETARG_INT64(3);
	}
	next = from;
	values[0] = Int32GetDatum(expire_batch(at, batch, &from, &next));
	values[1] = TimestampTzGetDatum(next.expires_at);
	values[2] = Int64GetDatum(next.id);
	/* still at the start: NULL, as it came */
	nulls[1] = nulls[2] = !due_before(&due_start, &next);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc),
													  values, nulls)));
}
