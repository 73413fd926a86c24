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

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/itemptr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "points.h"

/* Rows fetched at a time while walking an account's open lots. */
#define DRAW_BATCH 32

/*
 * Every statement the extension runs is parsed, planned and executed with
 * search_path = pg_catalog, pg_temp, so that nothing in a caller's search
 * path (a schema a less trusted role can create objects in) can stand in
 * for an operator, function or table it uses: the functions run as the
 * extension's owner.  Most functions pin it with their SET clause.  The
 * reads and writes that run no statement on their common path (balance,
 * account, quote; grant, consume, transfer) have none, since the clause
 * costs a GUC save and restore at every call and the caller a search-path
 * lookup after it (about 10 % of a balance() and 4 % of a grant or a
 * consume at 8 clients): they pin it here, for each statement they run.
 *
 * Returns 0 when it is pinned already (by a SET clause, or an enclosing
 * statement), else the GUC nest level for points_unpin_search_path(); an
 * error unwinds it with its (sub)transaction.
 */
int
points_pin_search_path(void)
{
	int			level;

	if (namespace_search_path != NULL &&
		strcmp(namespace_search_path, POINTS_SEARCH_PATH) == 0)
		return 0;
	level = NewGUCNestLevel();
	(void) set_config_option("search_path", POINTS_SEARCH_PATH, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * Pin search_path for the rest of a write with a ref, which runs at least
 * two statements (the claim of the ref and its result): pinned once, not
 * once for each.  Returns what points_unpin_search_path() takes.
 */
int
points_pin_request(const char *ref)
{
	return ref != NULL ? points_pin_search_path() : 0;
}

void
points_unpin_search_path(int level)
{
	if (level > 0)
		AtEOXact_GUC(true, level);
}

/*
 * The kept plan of `sql`, prepared on first use.  Plans are generic: each
 * query's shape and indexes fit every parameter value, and a custom plan
 * would be planned again at every call (the plan cache keeps choosing them
 * for these small queries, at a cost larger than the query's own).
 */
SPIPlanPtr
points_plan(SPIPlanPtr *cache, const char *sql, int nargs, const Oid *argtypes)
{
	if (*cache == NULL)
	{
		int			pin = points_pin_search_path();
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, (Oid *) argtypes,
											  CURSOR_OPT_GENERIC_PLAN);

		points_unpin_search_path(pin);
		if (plan == NULL)
			elog(ERROR, "points: SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "points: SPI_keepplan failed");
		*cache = plan;
	}
	return *cache;
}

/* SPI_execute_plan(), search_path pinned. */
int
points_execute(SPIPlanPtr plan, Datum *values, const char *nulls,
			   bool read_only, long count)
{
	int			pin = points_pin_search_path();
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, count);

	points_unpin_search_path(pin);
	return rc;
}

/* Execute a kept plan; any result other than `expected` can't happen. */
void
points_run(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	int			rc = points_execute(plan, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "points: query failed: %s", SPI_result_code_string(rc));
}

/* Column `column` (from 1) of row `row` of the last result. */
Datum
points_col(int row, int column, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 column, isnull);
}

int64
points_col_int64(int row, int column)
{
	bool		isnull;
	Datum		d = points_col(row, column, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

Numeric
points_col_numeric(int row, int column)
{
	bool		isnull;
	Datum		d = points_col(row, column, &isnull);

	return isnull ? NULL : DatumGetNumeric(d);
}

char *
points_col_text(int row, int column)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column);
}

/* ---------------------------------------------------------------------
 * Point types (loading and caching: typecache.c)
 * --------------------------------------------------------------------- */

ClawbackPolicy
points_parse_clawback(const char *s)
{
	if (strcmp(s, "reject") == 0)
		return CLAWBACK_REJECT;
	if (strcmp(s, "partial") == 0)
		return CLAWBACK_PARTIAL;
	if (strcmp(s, "debt") == 0)
		return CLAWBACK_DEBT;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("clawback policy \"%s\" is not valid", s),
			 errhint("Use reject, partial or debt.")));
	return CLAWBACK_REJECT;		/* keep compiler quiet */
}

/* ---------------------------------------------------------------------
 * Accounts
 * --------------------------------------------------------------------- */

/* Read columns POINTS_ACCOUNT_COLUMNS of row `row` of the last result. */
void
points_read_account(int row, Account *acct)
{
	bool		isnull;

	acct->id = points_col_int64(row, 1);
	acct->balance = points_col_int64(row, 2);
	acct->held = points_col_int64(row, 3);
	acct->pending = points_col_int64(row, 4);
	acct->debt = points_col_int64(row, 5);
	acct->earned = points_col_int64(row, 6);
	acct->spent = points_col_int64(row, 7);
	acct->expired = points_col_int64(row, 8);
	acct->next_expiry_at = DatumGetTimestampTz(points_col(row, 9, &isnull));
	acct->vested_at = DatumGetTimestampTz(points_col(row, 10, &isnull));
	acct->last_at = DatumGetTimestampTz(points_col(row, 11, &isnull));
	acct->last_activity_at = DatumGetTimestampTz(points_col(row, 12, &isnull));
	acct->inactive_at = DatumGetTimestampTz(points_col(row, 13, &isnull));
	acct->tid = *(ItemPointer) DatumGetPointer(points_col(row, 14, &isnull));
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
	int			found = points_account_find(type->code, customer, lock, acct);

	if (found >= 0)
		return found == 1;
	if (lock)
		plan = points_plan(&lock_plan,
						   "SELECT " POINTS_ACCOUNT_COLUMNS " FROM points.accounts"
						   " WHERE type = $1 AND customer = $2 FOR NO KEY UPDATE",
						   2, argtypes);
	else
		plan = points_plan(&read_plan,
						   "SELECT " POINTS_ACCOUNT_COLUMNS " FROM points.accounts"
						   " WHERE type = $1 AND customer = $2",
						   2, argtypes);
	values[0] = CStringGetTextDatum(type->code);
	values[1] = CStringGetTextDatum(customer);
	points_run(plan, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	points_read_account(0, acct);
	return true;
}

/*
 * Lock the account for an operation at business time `at`.  Points that have
 * lapsed by then (grants past their expiry, or the whole balance when the
 * type's inactivity policy has lapsed the account) are expired first, with
 * their expire entries: so the journal's running balance is always the
 * balance the customer had, and new activity cannot revive lapsed points.
 * The check is O(1) on the cached bounds.  Returns false when the customer
 * has no account.
 */
bool
points_lock_account(const PointsType *type, const char *customer,
					TimestampTz at, Account *acct)
{
	if (!points_get_account(type, customer, true, acct))
		return false;
	if (acct->inactive_at <= at || acct->next_expiry_at <= at)
		(void) points_expire_due(type, customer, acct, at, PG_INT32_MAX, NULL);
	return true;
}

/* Lock the account as points_lock_account() does, creating it on first use. */
void
points_lock_or_create_account(const PointsType *type, const char *customer,
							  TimestampTz at, Account *acct)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {TEXTOID, TEXTOID};
	Datum		values[2];

	if (points_lock_account(type, customer, at, acct))
		return;
	values[0] = CStringGetTextDatum(type->code);
	values[1] = CStringGetTextDatum(customer);
	points_run(points_plan(&plan,
					"INSERT INTO points.accounts (type, customer) VALUES ($1, $2)"
					" ON CONFLICT (type, customer) DO NOTHING",
					2, argtypes),
		values, NULL, SPI_OK_INSERT);
	if (!points_lock_account(type, customer, at, acct))
		elog(ERROR, "points: account of \"%s\" vanished", customer);
}

/* Attribute numbers of columns of lots. */
#define LOT_AMOUNT 5
#define LOT_REMAINING 6
#define LOT_STATUS 7
#define LOT_OPEN 12

/* The account's figures written to the row version read under its lock. */
static bool
store_account_direct(Account *acct)
{
	static const int16 cols[] = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	PointsTable *t = points_table(POINTS_ACCOUNTS);
	Datum		values[lengthof(cols)];

	if (t == NULL || !ItemPointerIsValid(&acct->tid))
		return false;
	values[0] = Int64GetDatum(acct->balance);
	values[1] = Int64GetDatum(acct->held);
	values[2] = Int64GetDatum(acct->pending);
	values[3] = Int64GetDatum(acct->debt);
	values[4] = Int64GetDatum(acct->earned);
	values[5] = Int64GetDatum(acct->spent);
	values[6] = Int64GetDatum(acct->expired);
	values[7] = TimestampTzGetDatum(acct->next_expiry_at);
	values[8] = TimestampTzGetDatum(acct->vested_at);
	values[9] = TimestampTzGetDatum(acct->last_at);
	values[10] = TimestampTzGetDatum(acct->last_activity_at);
	values[11] = TimestampTzGetDatum(acct->inactive_at);
	(void) points_table_fetch(t, &acct->tid, acct->id, NULL);
	points_table_update(t, &acct->tid, lengthof(cols), cols, values, NULL);
	return true;
}

/* Write the cached figures back; `at` advances the account's last_at. */
void
points_store_account(Account *acct, TimestampTz at)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
		INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[13];

	if (at > acct->last_at)
		acct->last_at = at;
	if (store_account_direct(acct))
		return;
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
	values[11] = TimestampTzGetDatum(acct->last_activity_at);
	values[12] = TimestampTzGetDatum(acct->inactive_at);
	points_run(points_plan(&plan,
					"UPDATE points.accounts SET balance = $2, held = $3, pending = $4,"
					" debt = $5, earned = $6, spent = $7, expired = $8,"
					" next_expiry_at = $9, vested_at = $10, last_at = $11,"
					" last_activity_at = $12, inactive_at = $13"
					" WHERE id = $1",
					13, argtypes),
		values, NULL, SPI_OK_UPDATE);
	ItemPointerSetInvalid(&acct->tid);	/* the next store goes this way too */
}

/*
 * Points available at `at`: the remaining points of active lots with
 * available_at <= at < expires_at; none once the account is inactive.
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

	if (at >= acct->inactive_at)
		return 0;				/* lapsed for inactivity */
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
	points_run(plan, values, NULL, SPI_OK_SELECT);
	return points_col_int64(0, 1);
}

/*
 * Recompute the cached bounds of the open lots after one was exhausted: the
 * earliest expiry and the latest availability of the account's open lots.
 * One walk of them through lots_account (direct.c), or a query.
 */
void
points_refresh_open_bounds(Account *acct)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID};
	Datum		values[1];
	bool		isnull;
	Draw	   *lots;
	int			n;

	n = points_scan_lots(acct->id, LOTS_OPEN, DT_NOEND, 0, 0, &lots);
	if (n >= 0)
	{
		int			i;

		acct->next_expiry_at = DT_NOEND;
		acct->vested_at = DT_NOBEGIN;
		for (i = 0; i < n; i++)
		{
			acct->next_expiry_at = Min(acct->next_expiry_at, lots[i].expires_at);
			acct->vested_at = Max(acct->vested_at, lots[i].available_at);
		}
		pfree(lots);
		return;
	}
	values[0] = Int64GetDatum(acct->id);
	points_run(points_plan(&plan,
					"SELECT coalesce(min(expires_at), 'infinity'),"
					" coalesce(max(available_at), '-infinity')"
					" FROM points.lots WHERE account_id = $1 AND open",
					1, argtypes),
		values, NULL, SPI_OK_SELECT);
	acct->next_expiry_at = DatumGetTimestampTz(points_col(0, 1, &isnull));
	acct->vested_at = DatumGetTimestampTz(points_col(0, 2, &isnull));
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

/* Text datum of a nullable string. */
static Datum
text_datum(const char *s, bool *isnull)
{
	*isnull = s == NULL;
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* Insert a lot through SQL (a table with triggers of a DBA's own). */
static int64
insert_lot_sql(const Datum *v, const bool *n)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID, TEXTOID, TEXTOID, INT8OID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, BOOLOID, INTERVALOID};
	/* the lot columns of the parameters */
	static const int from[] = {1, 2, 3, 4, 6, 12, 13, 14, 15, 16, 17, 9, 10};
	Datum		values[lengthof(from)];
	char		nulls[lengthof(from)];
	int			i;

	for (i = 0; i < (int) lengthof(from); i++)
	{
		values[i] = v[from[i]];
		nulls[i] = n[from[i]] ? 'n' : ' ';
	}
	points_run(points_plan(&plan,
					"INSERT INTO points.lots (account_id, type, customer, amount,"
					" remaining, status, reason, ref, note, available_at,"
					" expires_at, at, fixed_expiry, validity)"
					" VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
					" RETURNING id",
					lengthof(argtypes), argtypes),
		values, nulls, SPI_OK_INSERT_RETURNING);
	return points_col_int64(0, 1);
}

/*
 * Insert a lot (a grant) and account for it in memory: an active lot adds to
 * the balance, a pending one to pending.  The caller writes the entry,
 * counts lifetime earned and stores the account.
 */
int64
points_insert_lot(const PointsType *type, const char *customer, Account *acct,
				  int64 amount, const char *reason, const char *ref,
				  const char *note, TimestampTz available_at,
				  TimestampTz expires_at, bool fixed_expiry,
				  const Interval *validity, bool pending, TimestampTz at)
{
	Datum		v[POINTS_LOT_NATTS];
	bool		n[POINTS_LOT_NATTS];
	PointsTable *t;
	int64		id;

	/* what check_lot would refuse */
	if (amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("a grant's amount must be positive")));
	memset(n, false, sizeof(n));
	v[1] = Int64GetDatum(acct->id);
	v[2] = CStringGetTextDatum(type->code);
	v[3] = CStringGetTextDatum(customer);
	v[4] = Int64GetDatum(amount);
	v[5] = Int64GetDatum(amount);
	v[6] = CStringGetTextDatum(pending ? "pending" : "active");
	v[7] = Int64GetDatum(0);
	v[8] = Int64GetDatum(0);
	v[9] = BoolGetDatum(fixed_expiry);
	v[10] = PointerGetDatum(validity);
	n[10] = validity == NULL;
	v[11] = BoolGetDatum(!pending); /* open: active with points left */
	v[12] = CStringGetTextDatum(reason);
	v[13] = text_datum(ref, &n[13]);
	v[14] = text_datum(note, &n[14]);
	v[15] = TimestampTzGetDatum(available_at);
	v[16] = TimestampTzGetDatum(expires_at);
	v[17] = TimestampTzGetDatum(at);
	v[18] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	v[19] = (Datum) 0;
	n[19] = true;
	if ((t = points_table(POINTS_LOTS)) != NULL)
	{
		id = points_next_id("lots_id_seq");
		v[0] = Int64GetDatum(id);
		points_table_insert(t, v, n);
	}
	else
		id = insert_lot_sql(v, n);

	if (pending)
		acct->pending = points_add(acct->pending, amount);
	else
	{
		acct->balance = points_add(acct->balance, amount);
		if (expires_at < acct->next_expiry_at)
			acct->next_expiry_at = expires_at;
		if (available_at > acct->vested_at)
			acct->vested_at = available_at;
	}
	return id;
}

/*
 * Announce an entry on channel "points".  NOTIFY is transactional: the
 * payload goes out when the transaction commits, and never if it aborts.
 */
static void
announce(const PointsType *type, const char *customer, const Account *acct,
		 const EntryRow *row, int64 entry_id)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"type\": ");
	escape_json(&buf, type->code);
	appendStringInfoString(&buf, ", \"customer\": ");
	escape_json(&buf, customer);
	appendStringInfoString(&buf, ", \"kind\": ");
	escape_json(&buf, row->kind);
	appendStringInfo(&buf, ", \"amount\": %s, \"balance\": %s, \"entry_id\": " INT64_FORMAT "}",
					 points_units_to_cstring(row->amount, type->scale),
					 points_units_to_cstring(acct->balance, type->scale),
					 entry_id);
	Async_Notify("points", buf.data);
	pfree(buf.data);
}

/* Earning or spending: what keeps an account active. */
static bool
is_activity(const char *kind)
{
	static const char *const kinds[] = {"grant", "confirm", "adjust", "consume",
	"capture", "redeem"};
	size_t		i;

	for (i = 0; i < lengthof(kinds); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return true;
	return false;
}

/* Insert an entry through SQL (a table with triggers of a DBA's own). */
static int64
insert_entry_sql(const Datum *v, const bool *n)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID, TEXTOID, TEXTOID, TEXTOID,
		NUMERICOID, NUMERICOID, NUMERICOID, NUMERICOID, NUMERICOID,
		INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID,
	TEXTOID};
	/* the entry columns of the parameters */
	static const int from[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17};
	Datum		values[lengthof(from)];
	char		nulls[lengthof(from)];
	int			i;

	for (i = 0; i < (int) lengthof(from); i++)
	{
		values[i] = v[from[i]];
		nulls[i] = n[from[i]] ? 'n' : ' ';
	}
	points_run(points_plan(&plan,
					"INSERT INTO points.entries (account_id, type, customer, kind,"
					" amount, balance_after, held, pending, debt, lot_id, hold_id,"
					" origin_id, at, ref, note, actor)"
					" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
					" $13, $14, $15, $16)"
					" RETURNING id",
					lengthof(argtypes), argtypes),
		values, nulls, SPI_OK_INSERT_RETURNING);
	return points_col_int64(0, 1);
}

/*
 * Append an entry to the journal.  The caller has already applied the
 * entry's changes to acct, so its balance_after is acct->balance.  An
 * earning or spending entry moves the account's inactivity deadline.
 */
int64
points_insert_entry(const PointsType *type, const char *customer,
					Account *acct, const EntryRow *row)
{
	Datum		v[POINTS_ENTRY_NATTS];
	bool		n[POINTS_ENTRY_NATTS];
	int			scale = type->scale;
	PointsTable *t;
	int64		entry_id;

	if (is_activity(row->kind) && row->at > acct->last_activity_at)
	{
		acct->last_activity_at = row->at;
		acct->inactive_at = points_inactive_at(type, row->at);
	}

	memset(n, false, sizeof(n));
	v[1] = Int64GetDatum(acct->id);
	v[2] = CStringGetTextDatum(type->code);
	v[3] = CStringGetTextDatum(customer);
	v[4] = CStringGetTextDatum(row->kind);
	v[5] = NumericGetDatum(points_units_to_numeric(row->amount, scale));
	v[6] = NumericGetDatum(points_units_to_numeric(acct->balance, scale));
	v[7] = NumericGetDatum(points_units_to_numeric(row->held, scale));
	v[8] = NumericGetDatum(points_units_to_numeric(row->pending, scale));
	v[9] = NumericGetDatum(points_units_to_numeric(row->debt, scale));
	v[10] = Int64GetDatum(row->lot_id);
	n[10] = row->lot_id == 0;
	v[11] = Int64GetDatum(row->hold_id);
	n[11] = row->hold_id == 0;
	v[12] = Int64GetDatum(row->origin_id);
	n[12] = row->origin_id == 0;
	v[13] = TimestampTzGetDatum(row->at);
	v[14] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	v[15] = text_datum(row->ref, &n[15]);
	v[16] = text_datum(row->note, &n[16]);
	v[17] = CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
	v[18] = (Datum) 0;
	n[18] = true;
	if ((t = points_table(POINTS_ENTRIES)) != NULL)
	{
		entry_id = points_next_id("entries_id_seq");
		v[0] = Int64GetDatum(entry_id);
		points_table_insert(t, v, n);
	}
	else
		entry_id = insert_entry_sql(v, n);
	if (points_notify)
		announce(type, customer, acct, row, entry_id);
	return entry_id;
}

/*
 * Choose the lots a debit of `amount` draws from at `at`, in the type's
 * consumption order, without changing anything.  The caller has checked that
 * enough points are available.  Returns the number of draws.
 */
/* Take from the rows of the last result, in order, until `*left` is drawn. */
static void
take_rows(Draw **d, int *n, int *cap, int64 *left)
{
	uint64		i;

	for (i = 0; i < SPI_processed && *left > 0; i++)
	{
		int64		remaining = points_col_int64(i, 2);
		int64		take = Min(remaining, *left);
		bool		isnull;

		if (*n == *cap)
		{
			*cap *= 2;
			*d = repalloc(*d, *cap * sizeof(Draw));
		}
		(*d)[*n].lot_id = points_col_int64(i, 1);
		(*d)[*n].amount = take;
		(*d)[*n].expires_at = DatumGetTimestampTz(points_col(i, 3, &isnull));
		(*d)[*n].available_at = DatumGetTimestampTz(points_col(i, 5, &isnull));
		(*d)[*n].exhausted = take == remaining;
		(*d)[*n].tid = *(ItemPointer) DatumGetPointer(points_col(i, 4, &isnull));
		*left -= take;
		(*n)++;
	}
}

int
points_draw(const PointsType *type, Account *acct, int64 amount,
			TimestampTz at, Draw **draws)
{
	/* [order][0]: the first DRAW_BATCH lots; [order][1]: all, by cursor */
	static SPIPlanPtr plans[2][2];
	static const char *const orders[2] = {
		" ORDER BY expires_at, at, id", " ORDER BY at, id"
	};
	static const Oid argtypes[] = {INT8OID, TIMESTAMPTZOID};
	int			order = type->consume_order == CONSUME_FIFO ? 1 : 0;
	Datum		values[2];
	SPIPlanPtr	plan;
	int			n = 0;
	int			cap = 4;
	int64		left = amount;
	Draw	   *d = palloc(cap * sizeof(Draw));
	int			rc;

#define OPEN_LOTS \
	"SELECT id, remaining, expires_at, ctid, available_at FROM points.lots" \
	" WHERE account_id = $1 AND open AND available_at <= $2 AND expires_at > $2"

	/* the expiry order is lots_account's: walk it only as far as needed */
	if (type->consume_order == CONSUME_EXPIRY &&
		(n = points_scan_lots(acct->id, LOTS_DEBIT, at, amount, 0, &d)) >= 0)
	{
		int64		drawn = 0;
		int			i;

		for (i = 0; i < n; i++)
			drawn += d[i].amount;
		if (drawn < amount)
			elog(ERROR, "points: open lots of account " INT64_FORMAT
				 " hold less than the cached balance", acct->id);
		*draws = d;
		return n;
	}
	n = 0;

	/*
	 * The LIMIT lets the planner walk the index in order (lots_account, for the
	 * expiry order) and stop, where it would otherwise collect and sort all
	 * the open lots.
	 */
	if (plans[order][0] == NULL)
		(void) points_plan(&plans[order][0],
						   psprintf(OPEN_LOTS "%s LIMIT %d", orders[order], DRAW_BATCH),
						   2, argtypes);
	plan = plans[order][0];
	values[0] = Int64GetDatum(acct->id);
	values[1] = TimestampTzGetDatum(at);

	/* the first lots nearly always cover the debit: no cursor for them */
	rc = points_execute(plan, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "points: query failed: %s", SPI_result_code_string(rc));
	take_rows(&d, &n, &cap, &left);
	if (left > 0 && SPI_processed == DRAW_BATCH)
	{
		/* many small lots: walk them all with a cursor, from the start */
		Portal		portal;
		int			pin;

		if (plans[order][1] == NULL)
			(void) points_plan(&plans[order][1],
							   psprintf(OPEN_LOTS "%s", orders[order]),
							   2, argtypes);
		pin = points_pin_search_path();
		portal = SPI_cursor_open(NULL, plans[order][1], values, NULL, false);

		n = 0;
		left = amount;
		while (left > 0)
		{
			SPI_cursor_fetch(portal, true, DRAW_BATCH);
			if (SPI_processed == 0)
				break;
			take_rows(&d, &n, &cap, &left);
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
		points_unpin_search_path(pin);
	}
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

static bool apply_draws(Account *acct, int64 entry_id, Draw *draws,
						int ndraws, TimestampTz at);

/*
 * points_apply_draws() on the lot versions the draws were chosen from
 * (direct.c), when all of them are known: false when it must be SQL.
 */
static bool
apply_draws_direct(Account *acct, int64 entry_id, const Draw *draws,
				   int ndraws, TimestampTz at)
{
	static const int16 cols[] = {LOT_REMAINING, LOT_OPEN};
	PointsTable *lots = points_table(POINTS_LOTS);
	PointsTable *allocations = points_table(POINTS_ALLOCATIONS);
	int			i;

	if (lots == NULL || allocations == NULL)
		return false;
	for (i = 0; i < ndraws; i++)
		if (!ItemPointerIsValid(&draws[i].tid))
			return false;
	for (i = 0; i < ndraws; i++)
	{
		ItemPointerData tid = draws[i].tid;
		Datum	   *old = points_table_fetch(lots, &tid, draws[i].lot_id, NULL);
		int64		amount = DatumGetInt64(old[LOT_AMOUNT - 1]);
		int64		remaining = points_sub(DatumGetInt64(old[LOT_REMAINING - 1]),
										   draws[i].amount);
		char	   *status = TextDatumGetCString(old[LOT_STATUS - 1]);
		Datum		values[2];
		Datum		row[POINTS_ALLOCATION_NATTS];
		bool		nulls[POINTS_ALLOCATION_NATTS] = {0};

		/* what check_lot and the allocations' CHECK would refuse */
		if (remaining < 0 || remaining > amount)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("a grant's remaining must stay between 0 and its amount")));
		if (draws[i].amount == 0)
			elog(ERROR, "points: empty draw from grant " INT64_FORMAT,
				 draws[i].lot_id);
		values[0] = Int64GetDatum(remaining);
		values[1] = BoolGetDatum(strcmp(status, "active") == 0 && remaining > 0);
		points_table_update(lots, &tid, lengthof(cols), cols, values, NULL);

		row[0] = Int64GetDatum(entry_id);
		row[1] = Int64GetDatum(draws[i].lot_id);
		row[2] = Int64GetDatum(acct->id);
		row[3] = Int64GetDatum(draws[i].amount);
		row[4] = TimestampTzGetDatum(at);
		points_table_insert(allocations, row, nulls);
	}
	return true;
}

/*
 * Take the drawn points out of their lots (a negative draw gives points
 * back) and record the allocations of entry `entry_id`: directly, or in
 * two statements whatever the number of lots.
 */
void
points_apply_draws(Account *acct, int64 entry_id, Draw *draws, int ndraws,
				   TimestampTz at)
{
	if (apply_draws(acct, entry_id, draws, ndraws, at))
		points_refresh_open_bounds(acct);
}

/*
 * The account's open bounds after a debit's draws (from open lots, as
 * points_draw() chose them: each lot's availability known) closed some
 * lots, without a walk of all its open lots where the draws tell.  The
 * bounds must be exact before the debit (points_lock_account() has swept
 * the account's due lots and every change of a lot keeps them so): they
 * are carried over, not derived again.
 *
 * - the latest availability stays when every lot closed became available
 *   before it, or a lot drawn from and left open has it: the lot that has
 *   it is still open;
 * - the earliest expiry stays when no lot closed had it, or a lot drawn
 *   from and left open has it; else it is the first open lot's, in
 *   lots_account's order (a lot closed may have shared it with others).
 */
static void
close_lots_bounds(Account *acct, const Draw *draws, int ndraws)
{
	/* [0]: a lot closed has the bound; [1]: a lot left open has it */
	bool		vested[2] = {false, false};
	bool		expiry[2] = {false, false};
	Draw	   *lots;
	int			n;
	int			i;

	for (i = 0; i < ndraws; i++)
	{
		int			open = draws[i].exhausted ? 0 : 1;

		vested[open] |= draws[i].available_at >= acct->vested_at;
		expiry[open] |= draws[i].expires_at <= acct->next_expiry_at;
	}
	if (vested[0] && !vested[1])
		points_refresh_open_bounds(acct);
	else if (expiry[0] && !expiry[1])
	{
		n = points_scan_lots(acct->id, LOTS_OPEN, DT_NOEND, 0, 1, &lots);
		if (n < 0)
		{
			points_refresh_open_bounds(acct);
			return;
		}
		acct->next_expiry_at = n > 0 ? lots[0].expires_at : DT_NOEND;
		pfree(lots);
	}
}

/*
 * points_apply_draws() for the draws of points_draw() (each lot's
 * availability known), on an account whose open bounds are exact: they
 * follow from the draws (close_lots_bounds()).
 */
static void
apply_debit(Account *acct, int64 entry_id, Draw *draws, int ndraws,
			TimestampTz at)
{
	if (apply_draws(acct, entry_id, draws, ndraws, at))
		close_lots_bounds(acct, draws, ndraws);
}

/* points_apply_draws(); true when the account's open bounds may have moved. */
static bool
apply_draws(Account *acct, int64 entry_id, Draw *draws, int ndraws,
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
		/* a lot closing or reopening moves the account's open bounds */
		exhausted |= draws[i].exhausted || draws[i].amount < 0;
	}
	if (apply_draws_direct(acct, entry_id, draws, ndraws, at))
		return exhausted;
	values[0] = int64_array(ids, ndraws);
	values[1] = int64_array(amounts, ndraws);
	points_run(points_plan(&update_plan,
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
	points_run(points_plan(&alloc_plan,
					"INSERT INTO points.allocations (entry_id, lot_id, account_id,"
					" amount, at)"
					" SELECT $1, d.id, $4, d.amount, $5 FROM unnest($2, $3) AS d(id, amount)",
					5, alloc_types),
		values, NULL, SPI_OK_INSERT);

	return exhausted;
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

	/*
	 * Claim first: a new ref (the usual case) costs one statement.  The
	 * INSERT waits for a concurrent request of the same ref to commit or
	 * abort; when the ref is taken, the request that took it is read and
	 * compared (a retry costs two statements).  A ref that was taken but
	 * is gone when read (deleted in between) is claimed again.
	 */
	for (;;)
	{
		bool		isnull;

		points_run(points_plan(&claim_plan,
						"INSERT INTO points.requests (type, op, ref, args, customer)"
						" VALUES ($1, $2, $3, $4, $5)"
						" ON CONFLICT (type, op, ref) DO NOTHING",
						5, claim_types),
			values, NULL, SPI_OK_INSERT);
		if (SPI_processed > 0)
			return false;
		points_run(points_plan(&find_plan,
						"SELECT result, args = $4 FROM points.requests"
						" WHERE type = $1 AND op = $2 AND ref = $3",
						4, find_types),
			values, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			if (!DatumGetBool(points_col(0, 2, &isnull)))
				ereport(ERROR,
						(errcode(ERRCODE_POINTS_REF_MISMATCH),
						 errmsg("ref \"%s\" was already used for %s of type \"%s\" with other arguments",
								ref, op, type->code),
						 errhint("A retry must repeat the original arguments; use a new ref for a new request.")));
			*result = points_col_int64(0, 1);
			return true;
		}
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
	points_run(points_plan(&plan,
					"UPDATE points.requests SET result = $4"
					" WHERE type = $1 AND op = $2 AND ref = $3",
					4, argtypes),
		values, NULL, SPI_OK_UPDATE);
}

/* ---------------------------------------------------------------------
 * Operations shared by the SQL functions.  The account is locked; each one
 * journals what it does and stores the account.
 * --------------------------------------------------------------------- */

static void
update_lot(SPIPlanPtr *cache, const char *sql, int nargs, const Oid *argtypes,
		   Datum *values)
{
	points_run(points_plan(cache, sql, nargs, argtypes), values, NULL, SPI_OK_UPDATE);
	if (SPI_processed != 1)
		elog(ERROR, "points: grant update touched " UINT64_FORMAT " rows",
			 SPI_processed);
}

/*
 * Repay the account's debt from its open lots, vesting ones included:
 * whatever points the account gets (a grant, a confirmation, a release or a
 * refund) go to its debt first, so that an account with debt has nothing
 * left in any lot.  One repay entry; the balance (remaining less debt) does
 * not change.
 */
void
points_settle_debt(const PointsType *type, const char *customer, Account *acct,
				   TimestampTz at)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID};
	Datum		values[1];
	EntryRow	row = {0};
	Draw	   *draws;
	int			ndraws = 0;
	int64		left = acct->debt;
	int64		entry_id;
	uint64		i;

	if (acct->debt <= 0)
		return;
	values[0] = Int64GetDatum(acct->id);
	points_run(points_plan(&plan,
					"SELECT id, remaining, expires_at, ctid FROM points.lots"
					" WHERE account_id = $1 AND open"
					" ORDER BY expires_at, available_at, id",
					1, argtypes),
		values, NULL, SPI_OK_SELECT);
	draws = palloc(Max(SPI_processed, 1) * sizeof(Draw));
	for (i = 0; i < SPI_processed && left > 0; i++)
	{
		bool		isnull;
		int64		remaining = points_col_int64(i, 2);

		draws[ndraws].lot_id = points_col_int64(i, 1);
		draws[ndraws].amount = Min(remaining, left);
		draws[ndraws].expires_at = DatumGetTimestampTz(points_col(i, 3, &isnull));
		draws[ndraws].exhausted = draws[ndraws].amount == remaining;
		draws[ndraws].tid = *(ItemPointer) DatumGetPointer(points_col(i, 4, &isnull));
		left -= draws[ndraws].amount;
		ndraws++;
	}
	if (ndraws == 0)
		return;

	row.kind = "repay";
	row.debt = -(acct->debt - left);
	row.lot_id = ndraws == 1 ? draws[0].lot_id : 0;	/* else: see allocations */
	row.at = at;
	acct->debt = left;
	entry_id = points_insert_entry(type, customer, acct, &row);
	points_apply_draws(acct, entry_id, draws, ndraws, at);
}

/*
 * Credit a lot to the locked account and journal it (kind from `row`,
 * whose amount/pending are filled in here); an active lot repays debt
 * first (points_settle_debt).  `earned` counts the lot in lifetime earned.  Returns the entry id
 * of the credit; *lot_id gets the lot's.
 */
int64
points_credit(const PointsType *type, const char *customer, Account *acct,
			  int64 amount, const char *reason, EntryRow *row,
			  TimestampTz available_at, TimestampTz expires_at,
			  bool fixed_expiry, const Interval *validity, bool pending,
			  bool earned, int64 *lot_id)
{
	int64		entry_id;

	*lot_id = points_insert_lot(type, customer, acct, amount, reason, row->ref,
								row->note, available_at, expires_at,
								fixed_expiry, validity, pending, row->at);
	if (earned && !pending)
		acct->earned = points_add(acct->earned, amount);
	row->amount = pending ? 0 : amount;
	row->pending = pending ? amount : 0;
	row->lot_id = *lot_id;
	entry_id = points_insert_entry(type, customer, acct, row);
	if (!pending)
		points_settle_debt(type, customer, acct, row->at);
	points_store_account(acct, row->at);
	return entry_id;
}

/*
 * Debit `amount` from the locked account in consumption order, journaled
 * as `row` (its amount is set here; held/hold_id are the caller's).  PT001
 * when fewer points are available at row->at.  With draws_out, the lots
 * drawn are handed back.  Returns the entry id; the caller stores the
 * account.
 */
int64
points_debit(const PointsType *type, const char *customer, Account *acct,
			 int64 amount, EntryRow *row, Draw **draws_out, int *ndraws_out)
{
	int64		available = points_available(acct, row->at, false);
	Draw	   *draws;
	int			ndraws;
	int64		entry_id;

	if (available < amount)
		points_insufficient(type, customer, amount, available, row->kind);
	ndraws = points_draw(type, acct, amount, row->at, &draws);
	acct->balance = points_sub(acct->balance, amount);
	row->amount = -amount;
	entry_id = points_insert_entry(type, customer, acct, row);
	apply_debit(acct, entry_id, draws, ndraws, row->at);
	if (draws_out)
	{
		*draws_out = draws;
		*ndraws_out = ndraws;
	}
	return entry_id;
}

/*
 * Net points still drawn from each lot by the debit `origin` (its own
 * allocations, less what its releases and refunds returned), newest-drawn
 * first: the order in which points go back.
 */
static int
drawn_by(const PointsType *type, int64 origin, Draw **draws)
{
	static SPIPlanPtr expiry_plan = NULL;
	static SPIPlanPtr fifo_plan = NULL;
	static const Oid argtypes[] = {INT8OID};
	Datum		values[1];
	Draw	   *d;
	uint64		i;

#define DRAWN_BY \
	"SELECT a.lot_id, sum(a.amount)::bigint, l.expires_at" \
	" FROM points.allocations a JOIN points.lots l ON l.id = a.lot_id" \
	" WHERE a.entry_id = $1 OR a.entry_id IN (" \
	"   SELECT e.id FROM points.entries e" \
	"   WHERE e.origin_id = $1 AND e.kind IN ('release', 'refund'))" \
	" GROUP BY a.lot_id, l.expires_at, l.at HAVING sum(a.amount) > 0"

	values[0] = Int64GetDatum(origin);
	points_run(type->consume_order == CONSUME_FIFO ?
		points_plan(&fifo_plan, DRAWN_BY " ORDER BY l.at DESC, a.lot_id DESC",
					1, argtypes) :
		points_plan(&expiry_plan,
					DRAWN_BY " ORDER BY l.expires_at DESC, l.at DESC, a.lot_id DESC",
					1, argtypes),
		values, NULL, SPI_OK_SELECT);
	d = palloc0(Max(SPI_processed, 1) * sizeof(Draw));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		d[i].lot_id = points_col_int64(i, 1);
		d[i].amount = points_col_int64(i, 2);
		d[i].expires_at = DatumGetTimestampTz(points_col(i, 3, &isnull));
		d[i].exhausted = false;
	}
	*draws = d;
	return (int) SPI_processed;
}

/*
 * Points that come back to a grant whose clawback was partly forgiven (the
 * partial policy found them spent) are clawed back now: a revoke entry per
 * grant, up to what was forgiven.  Grants already expired lapse instead.
 */
static void
reclaim_forgiven(const PointsType *type, const char *customer, Account *acct,
				 const Draw *back, int nback, int64 origin, TimestampTz at)
{
	int			i;

	for (i = 0; i < nback; i++)
	{
		Lot			lot;
		EntryRow	row = {0};
		Draw		draw = back[i];
		int64		entry_id;

		if (back[i].expires_at <= at)
			continue;
		points_read_lot(back[i].lot_id, &lot);
		if (lot.forgiven <= 0)
			continue;
		draw.amount = Min(lot.forgiven, -back[i].amount);
		draw.exhausted = draw.amount == lot.remaining;
		lot.forgiven -= draw.amount;
		points_store_lot(&lot, lot.remaining);

		acct->balance = points_sub(acct->balance, draw.amount);
		row.kind = "revoke";
		row.amount = -draw.amount;
		row.lot_id = lot.id;
		row.origin_id = origin;
		row.at = at;
		row.note = "forgiven points reclaimed";
		entry_id = points_insert_entry(type, customer, acct, &row);
		points_apply_draws(acct, entry_id, &draw, 1, at);
	}
}

/*
 * Give `amount` points drawn by the debit `origin` back to the lots they
 * came from, newest-drawn first, journaled as `row` (a release or refund;
 * its amount is set here).  Points that go back to a lot expired by
 * row->at expire at once, with an expire entry of their own; with
 * `reissue` they come back instead as a fresh lot under the type's current
 * policy.  Returns the entry id; the caller stores the account.
 */
int64
points_return(const PointsType *type, const char *customer, Account *acct,
			  int64 origin, int64 amount, EntryRow *row, bool reissue)
{
	Draw	   *drawn;
	int			ndrawn = drawn_by(type, origin, &drawn);
	Draw	   *back = palloc(Max(ndrawn, 1) * sizeof(Draw));
	int			nback = 0;
	int64		left = amount;
	int64		entry_id;
	int			i;

	for (i = 0; i < ndrawn && left > 0; i++)
	{
		back[nback] = drawn[i];
		back[nback].amount = -Min(drawn[i].amount, left);
		left += back[nback].amount;
		nback++;
	}
	if (left > 0)
		elog(ERROR, "points: entry " INT64_FORMAT " drew fewer points than are returned",
			 origin);

	acct->balance = points_add(acct->balance, amount);
	row->amount = amount;
	row->origin_id = origin;
	entry_id = points_insert_entry(type, customer, acct, row);
	points_apply_draws(acct, entry_id, back, nback, row->at);

	reclaim_forgiven(type, customer, acct, back, nback, entry_id, row->at);

	/*
	 * Points returned to a lot that has expired lapse now; all of them
	 * first, so that a reissued grant (which repays debt) cannot take
	 * returned points still waiting to lapse.
	 */
	for (i = 0; i < nback; i++)
	{
		EntryRow	lapse = {0};
		Draw		again = back[i];
		int64		lapse_id;

		if (back[i].expires_at > row->at)
			continue;
		again.amount = -back[i].amount;
		again.exhausted = true;
		acct->balance = points_sub(acct->balance, again.amount);
		acct->expired = points_add(acct->expired, again.amount);
		lapse.kind = "expire";
		lapse.amount = -again.amount;
		lapse.lot_id = again.lot_id;
		lapse.origin_id = entry_id;
		lapse.at = row->at;
		lapse_id = points_insert_entry(type, customer, acct, &lapse);
		points_apply_draws(acct, lapse_id, &again, 1, row->at);
	}
	for (i = 0; i < nback && reissue; i++)
	{
		EntryRow	fresh = {0};
		int64		lot_id;

		if (back[i].expires_at > row->at)
			continue;
		fresh.kind = "reissue";
		fresh.origin_id = entry_id;
		fresh.at = row->at;
		fresh.ref = row->ref;
		fresh.note = row->note;
		(void) points_credit(type, customer, acct, -back[i].amount, "refund",
							 &fresh, row->at, points_expiry(type, row->at),
							 false, NULL, false, false, &lot_id);
	}
	points_settle_debt(type, customer, acct, row->at);
	return entry_id;
}

/* Read a lot for an operation on it; 42704 when there is none. */
void
points_find_lot(int64 lot_id, char **type_code, char **customer)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID};
	Datum		values[1];

	values[0] = Int64GetDatum(lot_id);
	points_run(points_plan(&plan, "SELECT type, customer FROM points.lots WHERE id = $1",
					1, argtypes),
		values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("grant " INT64_FORMAT " does not exist", lot_id)));
	*type_code = points_col_text(0, 1);
	*customer = points_col_text(0, 2);
}

/* The current state of a lot, read under its account's lock. */
void
points_read_lot(int64 lot_id, Lot *lot)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID};
	Datum		values[1];
	bool		isnull;
	Datum		d;
	char	   *status;

	values[0] = Int64GetDatum(lot_id);
	points_run(points_plan(&plan,
					"SELECT amount, remaining, revoked, status, available_at,"
					" expires_at, fixed_expiry, forgiven, validity, at"
					" FROM points.lots WHERE id = $1",
					1, argtypes),
		values, NULL, SPI_OK_SELECT);
	lot->id = lot_id;
	lot->amount = points_col_int64(0, 1);
	lot->remaining = points_col_int64(0, 2);
	lot->revoked = points_col_int64(0, 3);
	status = points_col_text(0, 4);
	lot->pending = strcmp(status, "pending") == 0;
	lot->voided = strcmp(status, "voided") == 0;
	lot->available_at = DatumGetTimestampTz(points_col(0, 5, &isnull));
	lot->expires_at = DatumGetTimestampTz(points_col(0, 6, &isnull));
	lot->fixed_expiry = DatumGetBool(points_col(0, 7, &isnull));
	lot->forgiven = points_col_int64(0, 8);
	d = points_col(0, 9, &isnull);
	lot->has_validity = !isnull;
	if (!isnull)
		lot->validity = *DatumGetIntervalP(d);
	lot->at = DatumGetTimestampTz(points_col(0, 10, &isnull));
}

/* Write back a lot's status, times and revoked and forgiven totals. */
void
points_store_lot(const Lot *lot, int64 remaining)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID, TEXTOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID};
	Datum		values[7];

	values[0] = Int64GetDatum(lot->id);
	values[1] = CStringGetTextDatum(lot->pending ? "pending" :
									lot->voided ? "voided" : "active");
	values[2] = TimestampTzGetDatum(lot->available_at);
	values[3] = TimestampTzGetDatum(lot->expires_at);
	values[4] = Int64GetDatum(lot->revoked);
	values[5] = Int64GetDatum(remaining);
	values[6] = Int64GetDatum(lot->forgiven);
	update_lot(&plan,
			   "UPDATE points.lots SET status = $2, available_at = $3,"
			   " expires_at = $4, revoked = $5, remaining = $6, forgiven = $7"
			   " WHERE id = $1",
			   7, argtypes, values);
}

/*
 * Expire up to `limit` of the locked account's lots that are due at `at`:
 * past their own expiry, or all of them once the account is inactive.  One
 * expire entry per instant at which points lapse, dated then: lots that
 * lapse together (the same rounded expiry, or the account's inactivity)
 * share it, and its allocations say how much each lost; its grant_id is the
 * lot's when there is one.  Returns the number of lots expired; with
 * `left_at`, the expiry of the first lot that the limit left due, or
 * DT_NOBEGIN when it left none.
 */
int
points_expire_due(const PointsType *type, const char *customer, Account *acct,
				  TimestampTz at, int limit, TimestampTz *left_at)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID, TIMESTAMPTZOID, INT4OID};
	bool		inactive = acct->inactive_at <= at;
	Datum		values[3];
	Draw	   *due;
	int			ndue;
	int			i;
	int			j;
	int			n;

	/* one more than the limit: is anything left? */
	limit = Min(limit, PG_INT32_MAX - 1);
	n = points_scan_lots(acct->id, LOTS_DUE, inactive ? DT_NOEND : at, 0,
						 limit + 1, &due);
	if (n < 0)
	{
		values[0] = Int64GetDatum(acct->id);
		values[1] = TimestampTzGetDatum(inactive ? DT_NOEND : at);
		values[2] = Int32GetDatum(limit + 1);
		points_run(points_plan(&plan,
						"SELECT id, remaining, expires_at, ctid FROM points.lots"
						" WHERE account_id = $1 AND open AND expires_at <= $2"
						" ORDER BY expires_at, id LIMIT $3",
						3, argtypes),
			values, NULL, SPI_OK_SELECT);
		n = (int) SPI_processed;
		due = palloc(Max(n, 1) * sizeof(Draw));
		for (i = 0; i < n; i++)
		{
			bool		isnull;

			due[i].lot_id = points_col_int64(i, 1);
			due[i].amount = points_col_int64(i, 2);
			due[i].expires_at = DatumGetTimestampTz(points_col(i, 3, &isnull));
			due[i].exhausted = true;
			due[i].tid = *(ItemPointer) DatumGetPointer(points_col(i, 4, &isnull));
		}
	}
	ndue = Min(n, limit);
	if (n > limit)
		inactive = false;		/* more to lapse: keep the deadline */
	if (left_at)
		*left_at = n > limit ? due[limit].expires_at : DT_NOBEGIN;

	/* one entry per instant at which points lapse (and per cause) */
	for (i = 0; i < ndue; i = j)
	{
		EntryRow	row = {0};
		bool		idle = due[i].expires_at > acct->inactive_at;
		int64		lapsed = 0;
		int64		entry_id;

		row.at = Min(due[i].expires_at, acct->inactive_at);
		for (j = i; j < ndue &&
			 Min(due[j].expires_at, acct->inactive_at) == row.at &&
			 (due[j].expires_at > acct->inactive_at) == idle; j++)
			lapsed = points_add(lapsed, due[j].amount);
		row.kind = "expire";
		row.amount = -lapsed;
		row.lot_id = j - i == 1 ? due[i].lot_id : 0;	/* else: see allocations */
		if (idle)
			row.note = "inactivity";
		acct->balance = points_sub(acct->balance, lapsed);
		acct->expired = points_add(acct->expired, lapsed);
		entry_id = points_insert_entry(type, customer, acct, &row);
		(void) apply_draws(acct, entry_id, &due[i], j - i, row.at);
		/* the journal now knows the account up to this lapse */
		if (row.at > acct->last_at)
			acct->last_at = row.at;
	}
	if (ndue > 0 && acct->balance + acct->debt == 0)
	{
		/* nothing left in any lot (the usual case): no lot is open */
		acct->next_expiry_at = DT_NOEND;
		acct->vested_at = DT_NOBEGIN;
	}
	else if (ndue > 0)
		points_refresh_open_bounds(acct);	/* once, for all the lots closed */
	if (inactive)
		acct->inactive_at = DT_NOEND;	/* nothing left to lapse */
	if (ndue > 0 || inactive)
		points_store_account(acct, acct->last_at);
	return ndue;
}
