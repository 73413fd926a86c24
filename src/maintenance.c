/*
 * maintenance.c
 *		The expiry sweep: expire(at, batch) writes one expire entry per due
 *		grant, skipping accounts that a running operation holds.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "points.h"

/*
 * Expire the due lots of one locked account.  The lots are re-read under the
 * lock, so points drawn since the candidates were chosen are not expired.
 * Returns the number of lots expired.
 */
static int
expire_account(int64 account_id, TimestampTz at)
{
	static SPIPlanPtr acct_plan = NULL;
	static SPIPlanPtr lots_plan = NULL;
	static const Oid id_types[] = {INT8OID};
	static const Oid lots_types[] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2];
	Account		acct;
	PointsType *type;
	char	   *customer;
	uint64		nlots;
	int64	   *ids;
	int64	   *remaining;
	TimestampTz *expires;
	uint64		i;
	bool		isnull;

	values[0] = Int64GetDatum(account_id);
	if (SPI_execute_plan(points_plan(&acct_plan,
									 "SELECT type, customer FROM points.accounts WHERE id = $1",
									 1, id_types),
						 values, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "points: account " INT64_FORMAT " vanished", account_id);
	customer = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	type = points_load_type(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	if (!points_get_account(type, customer, true, &acct))
		elog(ERROR, "points: account " INT64_FORMAT " vanished", account_id);

	values[1] = TimestampTzGetDatum(at);
	if (SPI_execute_plan(points_plan(&lots_plan,
									 "SELECT id, remaining, expires_at FROM points.lots"
									 " WHERE account_id = $1 AND open AND expires_at <= $2"
									 " ORDER BY expires_at, id",
									 2, lots_types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "points: due lots query failed");
	nlots = SPI_processed;
	ids = palloc(Max(nlots, 1) * sizeof(int64));
	remaining = palloc(Max(nlots, 1) * sizeof(int64));
	expires = palloc(Max(nlots, 1) * sizeof(TimestampTz));
	for (i = 0; i < nlots; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		ids[i] = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
		remaining[i] = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
		expires[i] = DatumGetTimestampTz(SPI_getbinval(row, desc, 3, &isnull));
	}

	for (i = 0; i < nlots; i++)
	{
		Draw		draw;
		EntryRow	row = {0};
		int64		entry_id;

		draw.lot_id = ids[i];
		draw.amount = remaining[i];
		draw.expires_at = expires[i];
		draw.exhausted = true;
		acct.balance = points_sub(acct.balance, remaining[i]);
		acct.expired = points_add(acct.expired, remaining[i]);
		/* dated at the lot's expiry: the business time the points lapsed */
		row.kind = "expire";
		row.amount = -remaining[i];
		row.lot_id = ids[i];
		row.at = expires[i];
		entry_id = points_insert_entry(type, customer, &acct, &row);
		points_apply_draws(&acct, entry_id, &draw, 1, expires[i]);
	}
	/* the journal now knows the account up to the latest expiry */
	if (nlots > 0)
		points_store_account(&acct, expires[nlots - 1]);
	return (int) nlots;
}

/*
 * points.expire(at, batch) returns integer
 *		Expire up to `batch` lots due at `at` (oldest due first), one expire
 *		entry each, in the caller's transaction.  Accounts locked by a running
 *		operation are skipped (SKIP LOCKED) and left to the next run; running
 *		it twice, or twice at once, expires nothing twice.
 */
PG_FUNCTION_INFO_V1(points_expire);
Datum
points_expire(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr due_plan = NULL;
	static const Oid due_types[] = {TIMESTAMPTZOID, INT4OID};
	TimestampTz at;
	int32		batch;
	Datum		values[2];
	int64	   *accounts;
	int			naccounts;
	int			i;
	int			expired = 0;
	bool		isnull;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(0) ? "at" : "batch")));
	at = PG_GETARG_TIMESTAMPTZ(0);
	batch = PG_GETARG_INT32(1);
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("at must be a finite time")));
	if (batch <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch must be positive, got %d", batch)));

	SPI_connect();
	points_write_begin();

	/* the accounts of the oldest due lots, locked unless busy */
	values[0] = TimestampTzGetDatum(at);
	values[1] = Int32GetDatum(batch);
	if (SPI_execute_plan(points_plan(&due_plan,
									 "SELECT array_agg(DISTINCT account_id) FROM ("
									 " SELECT account_id FROM points.lots"
									 " WHERE open AND expires_at <= $1"
									 " ORDER BY expires_at, id LIMIT $2) due",
									 2, due_types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "points: due lots query failed");
	values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		naccounts = points_lock_idle_accounts(values[0], &accounts);
		for (i = 0; i < naccounts; i++)
			expired += expire_account(accounts[i], at);
	}

	points_write_end();
	SPI_finish();
	PG_RETURN_INT32(expired);
}
