/*
 * maintenance.c
 *		The expiry sweep: expire(at, batch) writes one expire entry per due
 *		grant (past its expiry, or in an account lapsed for inactivity),
 *		skipping accounts that a running operation holds.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "points.h"

/* Expire up to `limit` lots due at `at` in one account, locked by the caller. */
static int
expire_account(int64 account_id, TimestampTz at, int limit)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID};
	Datum		values[1];
	Account		acct;
	PointsType *type;
	char	   *customer;

	values[0] = Int64GetDatum(account_id);
	if (SPI_execute_plan(points_plan(&plan,
									 "SELECT type, customer FROM points.accounts WHERE id = $1",
									 1, argtypes),
						 values, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "points: account " INT64_FORMAT " vanished", account_id);
	customer = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	type = points_load_type(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	if (!points_get_account(type, customer, true, &acct))
		elog(ERROR, "points: account " INT64_FORMAT " vanished", account_id);
	return points_expire_due(type, customer, &acct, at, limit);
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
	static SPIPlanPtr idle_plan = NULL;
	static const Oid due_types[] = {TIMESTAMPTZOID, INT4OID};
	TimestampTz at;
	int32		batch;
	Datum		values[2];
	int64	   *accounts = NULL;
	int			naccounts = 0;
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
	 * accounts are left to the next run and do not use up the batch.
	 */
	values[0] = TimestampTzGetDatum(at);
	values[1] = Int32GetDatum(batch);
	points_collect_accounts(points_plan(&due_plan,
										"SELECT a.id FROM points.lots l"
										" JOIN points.accounts a ON a.id = l.account_id"
										" WHERE l.open AND l.expires_at <= $1"
										" ORDER BY l.expires_at, l.id LIMIT $2"
										" FOR NO KEY UPDATE OF a SKIP LOCKED",
										2, due_types),
							values, &accounts, &naccounts, &cap);
	points_collect_accounts(points_plan(&idle_plan,
										"SELECT id FROM points.accounts"
										" WHERE inactive_at <= $1"
										" ORDER BY inactive_at, id LIMIT $2"
										" FOR NO KEY UPDATE SKIP LOCKED",
										2, due_types),
							values, &accounts, &naccounts, &cap);
	for (i = 0; i < naccounts && expired < batch; i++)
		expired += expire_account(accounts[i], at, batch - expired);

	points_write_end();
	SPI_finish();
	PG_RETURN_INT32(expired);
}
