/*
 * ledger.c
 *		The ledger core: point types, accounts, lots (grants), journal entries,
 *		FIFO allocation of debits and idempotency by ref.
 *
 * Every query is prepared once per backend and kept (SPI_keepplan); values
 * are always passed as parameters.  Callers are inside SPI_connect() and,
 * for writes, inside points_write_begin()/points_write_end().
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "points.h"

/* Rows fetched at a time while walking an account's open lots. */
#define DRAW_BATCH 32

SPIPlanPtr
points_plan(SPIPlanPtr *cache, const char *sql, int nargs, const Oid *argtypes)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);

		if (plan == NULL)
			elog(ERROR, "points: SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "points: SPI_keepplan failed");
		*cache = plan;
	}
	return *cache;
}

static void
run(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "points: query failed: %s", SPI_result_code_string(rc));
}

static Datum
col(int row, int column, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 column, isnull);
}

static int64
col_int64(int row, int column)
{
	bool		isnull;
	Datum		d = col(row, column, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static char *
col_text(int row, int column)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column);
}

/* ---------------------------------------------------------------------
 * Point types
 * --------------------------------------------------------------------- */

PointsType *
points_load_type(const char *code)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {TEXTOID};
	Datum		values[1];
	PointsType *t;
	bool		isnull;
	Datum		d;
	char	   *s;

	values[0] = CStringGetTextDatum(code);
	run(points_plan(&plan,
					"SELECT code, name, name_plural, scale, validity, expiry_rounding,"
					" time_zone, consume_order, enabled"
					" FROM points.types WHERE code = $1",
					1, argtypes),
		values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("point type \"%s\" does not exist", code),
				 errhint("Point types are rows of points.types.")));

	t = palloc0(sizeof(PointsType));
	t->code = col_text(0, 1);
	t->name = col_text(0, 2);
	t->name_plural = col_text(0, 3);
	t->scale = DatumGetInt32(col(0, 4, &isnull));
	d = col(0, 5, &isnull);
	t->has_validity = !isnull;
	if (!isnull)
		t->validity = *DatumGetIntervalP(d);
	t->rounding = points_parse_rounding(col_text(0, 6));
	t->time_zone = col_text(0, 7);
	s = col_text(0, 8);
	t->consume_order = strcmp(s, "fifo") == 0 ? CONSUME_FIFO : CONSUME_EXPIRY;
	t->enabled = DatumGetBool(col(0, 9, &isnull));
	return t;
}

/* ---------------------------------------------------------------------
 * Accounts
 * --------------------------------------------------------------------- */

#define ACCOUNT_COLUMNS \
	"id, balance, held, pending, debt, earned, spent, expired," \
	" next_expiry_at, vested_at, last_at"

static void
read_account(Account *acct)
{
	bool		isnull;

	acct->id = col_int64(0, 1);
	acct->balance = col_int64(0, 2);
	acct->held = col_int64(0, 3);
	acct->pending = col_int64(0, 4);
	acct->debt = col_int64(0, 5);
	acct->earned = col_int64(0, 6);
	acct->spent = col_int64(0, 7);
	acct->expired = col_int64(0, 8);
	acct->next_expiry_at = DatumGetTimestampTz(col(0, 9, &isnull));
	acct->vested_at = DatumGetTimestampTz(col(0, 10, &isnull));
	acct->last_at = DatumGetTimestampTz(col(0, 11, &isnull));
}

/*
 * Read the account of (type, customer); with lock, take FOR NO KEY UPDATE,
 * which serializes every operation on the account.  Returns false when the
 * customer has no account yet.
 */
bool
points_get_account(const PointsType *type, const char *customer, bool lock,
				   Account *acct)
{
	static SPIPlanPtr read_plan = NULL;
	static SPIPlanPtr lock_plan = NULL;
	static const Oid argtypes[] = {TEXTOID, TEXTOID};
	Datum		values[2];
	SPIPlanPtr	plan;

	if (lock)
		plan = points_plan(&lock_plan,
						   "SELECT " ACCOUNT_COLUMNS " FROM points.accounts"
						   " WHERE type = $1 AND customer = $2 FOR NO KEY UPDATE",
						   2, argtypes);
	else
		plan = points_plan(&read_plan,
						   "SELECT " ACCOUNT_COLUMNS " FROM points.accounts"
						   " WHERE type = $1 AND customer = $2",
						   2, argtypes);
	values[0] = CStringGetTextDatum(type->code);
	values[1] = CStringGetTextDatum(customer);
	run(plan, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	read_account(acct);
	return true;
}

/* Lock the account, creating it on first use. */
void
points_lock_or_create_account(const PointsType *type, const char *customer,
							  Account *acct)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {TEXTOID, TEXTOID};
	Datum		values[2];

	if (points_get_account(type, customer, true, acct))
		return;
	values[0] = CStringGetTextDatum(type->code);
	values[1] = CStringGetTextDatum(customer);
	run(points_plan(&plan,
					"INSERT INTO points.accounts (type, customer) VALUES ($1, $2)"
					" ON CONFLICT (type, customer) DO NOTHING",
					2, argtypes),
		values, NULL, SPI_OK_INSERT);
	if (!points_get_account(type, customer, true, acct))
		elog(ERROR, "points: account of \"%s\" vanished", customer);
}

/* Write the cached figures back; `at` advances the account's last_at. */
void
points_store_account(Account *acct, TimestampTz at)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
		INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID};
	Datum		values[11];

	if (at > acct->last_at)
		acct->last_at = at;
	values[0] = Int64GetDatum(acct->id);
	values[1] = Int64GetDatum(acct->balance);
	values[2] = Int64GetDatum(acct->held);
	values[3] = Int64GetDatum(acct->pending);
	values[4] = Int64GetDatum(acct->debt);
	values[5] = Int64GetDatum(acct->earned);
	values[6] = Int64GetDatum(acct->spent);
	values[7] = Int64GetDatum(acct->expired);
	values[8] = TimestampTzGetDatum(acct->next_expiry_at);
	values[9] = TimestampTzGetDatum(acct->vested_at);
	values[10] = TimestampTzGetDatum(acct->last_at);
	run(points_plan(&plan,
					"UPDATE points.accounts SET balance = $2, held = $3, pending = $4,"
					" debt = $5, earned = $6, spent = $7, expired = $8,"
					" next_expiry_at = $9, vested_at = $10, last_at = $11"
					" WHERE id = $1",
					11, argtypes),
		values, NULL, SPI_OK_UPDATE);
}

/*
 * Points available at `at`: the remaining points of active lots with
 * available_at <= at < expires_at.
 *
 * O(1) when `at` is not before the account's last operation and no open lot
 * expires or vests by then: the cached balance is the answer.  Otherwise the
 * account's open lots are summed (partial index; bounded by open lots, never
 * by history).  With `past`, for a time before the account's last operation,
 * the lots' state at that time is rebuilt from their allocations (a balance
 * as of then); without it, the lots' current remaining is what counts (what
 * a debit dated `at` could draw now).
 */
int64
points_available(const Account *acct, TimestampTz at, bool past)
{
	static SPIPlanPtr open_plan = NULL;
	static SPIPlanPtr past_plan = NULL;
	static const Oid argtypes[] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2];
	SPIPlanPtr	plan;

	if (acct->next_expiry_at > at && acct->vested_at <= at &&
		(!past || at >= acct->last_at))
		return acct->balance + acct->debt;
	if (!past || at >= acct->last_at)
		plan = points_plan(&open_plan,
						   "SELECT coalesce(sum(remaining), 0)::bigint FROM points.lots"
						   " WHERE account_id = $1 AND open"
						   " AND available_at <= $2 AND expires_at > $2",
						   2, argtypes);
	else
		plan = points_plan(&past_plan,
						   "SELECT coalesce(sum(l.amount - coalesce(("
						   "   SELECT sum(a.amount) FROM points.allocations a"
						   "   WHERE a.lot_id = l.id AND a.at <= $2), 0)), 0)::bigint"
						   " FROM points.lots l"
						   " WHERE l.account_id = $1 AND l.status = 'active'"
						   " AND l.at <= $2 AND l.available_at <= $2 AND l.expires_at > $2",
						   2, argtypes);
	values[0] = Int64GetDatum(acct->id);
	values[1] = TimestampTzGetDatum(at);
	run(plan, values, NULL, SPI_OK_SELECT);
	return col_int64(0, 1);
}

/* Recompute the cached bounds of the open lots after one was exhausted. */
void
points_refresh_open_bounds(Account *acct)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID};
	Datum		values[1];
	bool		isnull;

	values[0] = Int64GetDatum(acct->id);
	run(points_plan(&plan,
					"SELECT coalesce(min(expires_at), 'infinity'),"
					" coalesce(max(available_at), '-infinity')"
					" FROM points.lots WHERE account_id = $1 AND open",
					1, argtypes),
		values, NULL, SPI_OK_SELECT);
	acct->next_expiry_at = DatumGetTimestampTz(col(0, 1, &isnull));
	acct->vested_at = DatumGetTimestampTz(col(0, 2, &isnull));
}

void
points_insufficient(const PointsType *type, const char *customer,
					int64 wanted, int64 available, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_POINTS_INSUFFICIENT),
			 errmsg("customer \"%s\" has %s %s available, %s needed",
					customer,
					points_units_to_cstring(available, type->scale),
					available == 1 ? type->name : type->name_plural,
					points_units_to_cstring(wanted, type->scale)),
			 errdetail("Operation: %s of type \"%s\".", what, type->code)));
}

/* ---------------------------------------------------------------------
 * Lots and entries
 * --------------------------------------------------------------------- */

static Datum
text_or_null(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * Insert a lot (a grant) and account for it in memory: an active lot adds to
 * the balance, a pending one to pending.  The caller writes the entry and
 * stores the account.
 */
int64
points_insert_lot(const PointsType *type, const char *customer, Account *acct,
				  int64 amount, const char *reason, const char *ref,
				  const char *note, TimestampTz available_at,
				  TimestampTz expires_at, bool pending, TimestampTz at)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID, TEXTOID, TEXTOID, INT8OID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID};
	Datum		values[11];
	char		nulls[11];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(acct->id);
	values[1] = CStringGetTextDatum(type->code);
	values[2] = CStringGetTextDatum(customer);
	values[3] = Int64GetDatum(amount);
	values[4] = CStringGetTextDatum(pending ? "pending" : "active");
	values[5] = CStringGetTextDatum(reason);
	values[6] = text_or_null(ref, &nulls[6]);
	values[7] = text_or_null(note, &nulls[7]);
	values[8] = TimestampTzGetDatum(available_at);
	values[9] = TimestampTzGetDatum(expires_at);
	values[10] = TimestampTzGetDatum(at);
	run(points_plan(&plan,
					"INSERT INTO points.lots (account_id, type, customer, amount,"
					" remaining, status, reason, ref, note, available_at,"
					" expires_at, at)"
					" VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $11)"
					" RETURNING id",
					11, argtypes),
		values, nulls, SPI_OK_INSERT_RETURNING);

	if (pending)
		acct->pending = points_add(acct->pending, amount);
	else
	{
		acct->balance = points_add(acct->balance, amount);
		acct->earned = points_add(acct->earned, amount);
		if (expires_at < acct->next_expiry_at)
			acct->next_expiry_at = expires_at;
		if (available_at > acct->vested_at)
			acct->vested_at = available_at;
	}
	return col_int64(0, 1);
}

/*
 * Append an entry to the journal.  `amount` is the signed change of the
 * account's balance, already applied to acct->balance by the caller, so the
 * entry's balance_after is acct->balance.
 */
int64
points_insert_entry(const PointsType *type, const char *customer,
					Account *acct, const char *kind, int64 amount,
					int64 lot_id, TimestampTz at, const char *ref,
					const char *note)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID, TEXTOID, TEXTOID, TEXTOID,
		NUMERICOID, NUMERICOID, INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID,
	TEXTOID};
	Datum		values[11];
	char		nulls[11];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(acct->id);
	values[1] = CStringGetTextDatum(type->code);
	values[2] = CStringGetTextDatum(customer);
	values[3] = CStringGetTextDatum(kind);
	values[4] = NumericGetDatum(points_units_to_numeric(amount, type->scale));
	values[5] = NumericGetDatum(points_units_to_numeric(acct->balance,
														type->scale));
	values[6] = Int64GetDatum(lot_id);
	nulls[6] = lot_id ? ' ' : 'n';
	values[7] = TimestampTzGetDatum(at);
	values[8] = text_or_null(ref, &nulls[8]);
	values[9] = text_or_null(note, &nulls[9]);
	values[10] = CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
	run(points_plan(&plan,
					"INSERT INTO points.entries (account_id, type, customer, kind,"
					" amount, balance_after, lot_id, at, ref, note, actor)"
					" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
					" RETURNING id",
					11, argtypes),
		values, nulls, SPI_OK_INSERT_RETURNING);
	return col_int64(0, 1);
}

/*
 * Choose the lots a debit of `amount` draws from at `at`, in the type's
 * consumption order, without changing anything.  The caller has checked that
 * enough points are available.  Returns the number of draws.
 */
int
points_draw(const PointsType *type, Account *acct, int64 amount,
			TimestampTz at, Draw **draws)
{
	static SPIPlanPtr expiry_plan = NULL;
	static SPIPlanPtr fifo_plan = NULL;
	static const Oid argtypes[] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2];
	SPIPlanPtr	plan;
	Portal		portal;
	int			n = 0;
	int			cap = 4;
	int64		left = amount;
	Draw	   *d = palloc(cap * sizeof(Draw));

#define OPEN_LOTS \
	"SELECT id, remaining, expires_at FROM points.lots" \
	" WHERE account_id = $1 AND open AND available_at <= $2 AND expires_at > $2"

	if (type->consume_order == CONSUME_FIFO)
		plan = points_plan(&fifo_plan, OPEN_LOTS " ORDER BY at, id",
						   2, argtypes);
	else
		plan = points_plan(&expiry_plan,
						   OPEN_LOTS " ORDER BY expires_at, at, id",
						   2, argtypes);
	values[0] = Int64GetDatum(acct->id);
	values[1] = TimestampTzGetDatum(at);
	portal = SPI_cursor_open(NULL, plan, values, NULL, false);

	while (left > 0)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, DRAW_BATCH);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed && left > 0; i++)
		{
			int64		remaining = col_int64(i, 2);
			int64		take = Min(remaining, left);
			bool		isnull;

			if (n == cap)
			{
				cap *= 2;
				d = repalloc(d, cap * sizeof(Draw));
			}
			d[n].lot_id = col_int64(i, 1);
			d[n].amount = take;
			d[n].expires_at = DatumGetTimestampTz(col(i, 3, &isnull));
			d[n].exhausted = take == remaining;
			left -= take;
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	if (left > 0)
		elog(ERROR, "points: open lots of account " INT64_FORMAT
			 " hold less than the cached balance", acct->id);
	*draws = d;
	return n;
}

static Datum
int64_array(const int64 *values, int n)
{
	Datum	   *elems = palloc(n * sizeof(Datum));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(elems, n, INT8OID, 8,
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Take the drawn points out of their lots and record the allocations of
 * entry `entry_id`: two statements whatever the number of lots.
 */
void
points_apply_draws(Account *acct, int64 entry_id, Draw *draws, int ndraws,
				   TimestampTz at)
{
	static SPIPlanPtr update_plan = NULL;
	static SPIPlanPtr alloc_plan = NULL;
	static const Oid update_types[] = {INT8ARRAYOID, INT8ARRAYOID};
	static const Oid alloc_types[] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID,
	INT8OID, TIMESTAMPTZOID};
	int64	   *ids = palloc(ndraws * sizeof(int64));
	int64	   *amounts = palloc(ndraws * sizeof(int64));
	Datum		values[5];
	bool		exhausted = false;
	int			i;

	for (i = 0; i < ndraws; i++)
	{
		ids[i] = draws[i].lot_id;
		amounts[i] = draws[i].amount;
		exhausted |= draws[i].exhausted;
	}
	values[0] = int64_array(ids, ndraws);
	values[1] = int64_array(amounts, ndraws);
	run(points_plan(&update_plan,
					"UPDATE points.lots l SET remaining = l.remaining - d.amount"
					" FROM unnest($1, $2) AS d(id, amount) WHERE l.id = d.id",
					2, update_types),
		values, NULL, SPI_OK_UPDATE);
	if (SPI_processed != (uint64) ndraws)
		elog(ERROR, "points: drew from " UINT64_FORMAT " lots, expected %d",
			 SPI_processed, ndraws);

	values[0] = Int64GetDatum(entry_id);
	values[1] = int64_array(ids, ndraws);
	values[2] = int64_array(amounts, ndraws);
	values[3] = Int64GetDatum(acct->id);
	values[4] = TimestampTzGetDatum(at);
	run(points_plan(&alloc_plan,
					"INSERT INTO points.allocations (entry_id, lot_id, account_id,"
					" amount, at)"
					" SELECT $1, d.id, $4, d.amount, $5 FROM unnest($2, $3) AS d(id, amount)",
					5, alloc_types),
		values, NULL, SPI_OK_INSERT);

	if (exhausted)
		points_refresh_open_bounds(acct);
}

/* ---------------------------------------------------------------------
 * Idempotency
 * --------------------------------------------------------------------- */

/* The arguments of a request, as text[]: what a retry must repeat. */
Datum
points_request_args(int nargs, const char **values)
{
	Datum	   *elems = palloc(nargs * sizeof(Datum));
	bool	   *nulls = palloc(nargs * sizeof(bool));
	int			dims[1] = {nargs};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < nargs; i++)
	{
		nulls[i] = values[i] == NULL;
		elems[i] = values[i] ? CStringGetTextDatum(values[i]) : (Datum) 0;
	}
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Claim `ref` for (type, op).  Returns false when the ref is new (or NULL):
 * the caller performs the operation and then calls points_request_end() with
 * its result.  Returns true with *result set when the same request was
 * already made: the caller returns that result and changes nothing.  A ref
 * reused with other arguments is PT003.  A concurrent request with the same
 * ref waits on the unique key until the first one commits or aborts.
 */
bool
points_request_begin(const PointsType *type, const char *op, const char *ref,
					 const char *customer, Datum args, int64 *result)
{
	static SPIPlanPtr find_plan = NULL;
	static SPIPlanPtr claim_plan = NULL;
	static const Oid find_types[] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID};
	static const Oid claim_types[] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID,
	TEXTOID};
	Datum		values[5];

	if (ref == NULL)
		return false;

	values[0] = CStringGetTextDatum(type->code);
	values[1] = CStringGetTextDatum(op);
	values[2] = CStringGetTextDatum(ref);
	values[3] = args;
	values[4] = CStringGetTextDatum(customer);

	for (;;)
	{
		bool		isnull;

		run(points_plan(&find_plan,
						"SELECT result, args = $4 FROM points.requests"
						" WHERE type = $1 AND op = $2 AND ref = $3",
						4, find_types),
			values, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			if (!DatumGetBool(col(0, 2, &isnull)))
				ereport(ERROR,
						(errcode(ERRCODE_POINTS_REF_MISMATCH),
						 errmsg("ref \"%s\" was already used for %s of type \"%s\" with other arguments",
								ref, op, type->code),
						 errhint("A retry must repeat the original arguments; use a new ref for a new request.")));
			*result = col_int64(0, 1);
			return true;
		}
		run(points_plan(&claim_plan,
						"INSERT INTO points.requests (type, op, ref, args, customer)"
						" VALUES ($1, $2, $3, $4, $5)"
						" ON CONFLICT (type, op, ref) DO NOTHING",
						5, claim_types),
			values, NULL, SPI_OK_INSERT);
		if (SPI_processed > 0)
			return false;
		/* a concurrent request committed the same ref first: compare */
	}
}

/* Record the result of a request claimed by points_request_begin(). */
void
points_request_end(const PointsType *type, const char *op, const char *ref,
				   int64 result)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {TEXTOID, TEXTOID, TEXTOID, INT8OID};
	Datum		values[4];

	if (ref == NULL)
		return;
	values[0] = CStringGetTextDatum(type->code);
	values[1] = CStringGetTextDatum(op);
	values[2] = CStringGetTextDatum(ref);
	values[3] = Int64GetDatum(result);
	run(points_plan(&plan,
					"UPDATE points.requests SET result = $4"
					" WHERE type = $1 AND op = $2 AND ref = $3",
					4, argtypes),
		values, NULL, SPI_OK_UPDATE);
}
