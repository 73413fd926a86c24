/*
 * api.c
 *		SQL-callable functions of the core ledger: grant, consume, adjust,
 *		balance, account, format and expire.
 *
 * The functions are not STRICT: a NULL where a value is required is an error
 * (22004) rather than a silent NULL result.  Each one runs inside a single
 * SPI connection; writes run inside points_write_begin()/end().
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "earn.h"

void
points_null_argument(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("%s must not be NULL", name)));
}

/* A key (type code, customer, reason, ref): not empty, not huge. */
char *
points_arg_key(FunctionCallInfo fcinfo, int n, const char *name, bool required)
{
	char	   *s;

	if (PG_ARGISNULL(n))
	{
		if (required)
			points_null_argument(name);
		return NULL;
	}
	s = text_to_cstring(PG_GETARG_TEXT_PP(n));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name)));
	if (strlen(s) > POINTS_MAX_KEY_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is longer than %d bytes", name, POINTS_MAX_KEY_LENGTH)));
	return s;
}

char *
points_arg_note(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

int64
points_arg_id(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		points_null_argument(name);
	return PG_GETARG_INT64(n);
}

TimestampTz
points_arg_time(FunctionCallInfo fcinfo, int n, const char *name)
{
	TimestampTz t;

	if (PG_ARGISNULL(n))
		points_null_argument(name);
	t = PG_GETARG_TIMESTAMPTZ(n);
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite time", name)));
	return t;
}

/* A batch size of the maintenance: positive. */
int32
points_arg_batch(FunctionCallInfo fcinfo, int n)
{
	int32		batch;

	if (PG_ARGISNULL(n))
		points_null_argument("batch");
	batch = PG_GETARG_INT32(n);
	if (batch <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch must be positive, got %d", batch)));
	return batch;
}

/* A positive amount in units of the type's scale. */
int64
points_arg_amount(FunctionCallInfo fcinfo, int n, const char *name,
				  const PointsType *type)
{
	int64		units;

	if (PG_ARGISNULL(n))
		points_null_argument(name);
	units = points_numeric_to_units(PG_GETARG_NUMERIC(n), type, name);
	if (units <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive, got %s", name,
						points_units_to_cstring(units, type->scale))));
	return units;
}

void
points_require_enabled(const PointsType *type, const char *what)
{
	if (!type->enabled)
		ereport(ERROR,
				(errcode(ERRCODE_POINTS_TYPE_DISABLED),
				 errmsg("point type \"%s\" is disabled", type->code),
				 errdetail("Customers cannot %s points of a disabled type.", what),
				 errhint("Admin grants and adjustments still work; enable the type with UPDATE points.types SET enabled = true.")));
}

/*
 * An operation on something (a grant, a hold, an entry, a redemption) cannot
 * be dated before that thing was made: 22023.  Returns the operation's time.
 * The default `at`, now(), is the start of the caller's transaction: when
 * that precedes something another transaction made meanwhile, it still
 * means "now", and the operation is dated when the thing was made.
 */
TimestampTz
points_not_before(TimestampTz at, TimestampTz made, const char *what, int64 id)
{
	if (at >= made)
		return at;
	if (at == GetCurrentTransactionStartTimestamp())
		return made;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("at %s is before %s " INT64_FORMAT " was made, at %s",
					points_timestamp_text(at), what, id,
					points_timestamp_text(made))));
	return at;					/* keep compiler quiet */
}

/*
 * A time as a request argument: ISO 8601 in UTC, whatever the session's
 * TimeZone and DateStyle, so that a retry from another session compares
 * equal.
 */
char *
points_timestamp_key(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		buf[MAXDATELEN + 1];

	if (TIMESTAMP_NOT_FINITE(t))
		EncodeSpecialTimestamp(t, buf);
	else if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) == 0)
		EncodeDateTime(&tm, fsec, false, 0, NULL, USE_ISO_DATES, buf);
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return psprintf("%s+00", buf);
}

char *
points_timestamp_text(TimestampTz t)
{
	return DatumGetCString(DirectFunctionCall1(timestamptz_out,
											   TimestampTzGetDatum(t)));
}

/*
 * points.grant(type, customer, amount, reason, ref, note, expires_at,
 *				available_at, pending, at) returns bigint (the grant id)
 */
PG_FUNCTION_INFO_V1(points_grant);
Datum
points_grant(PG_FUNCTION_ARGS)
{
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *customer = points_arg_key(fcinfo, 1, "customer", true);
	char	   *reason = points_arg_key(fcinfo, 3, "reason", true);
	char	   *ref = points_arg_key(fcinfo, 4, "ref", false);
	char	   *note = points_arg_note(fcinfo, 5);
	TimestampTz at = points_arg_time(fcinfo, 9, "at");
	TimestampTz available_at = at;
	TimestampTz expires_at;
	bool		fixed_expiry = !PG_ARGISNULL(6);
	bool		pending;
	PointsType *type;
	int64		amount;
	int64		lot_id;
	Account		acct;
	const char *args[7];
	int			pin;

	if (PG_ARGISNULL(8))
		points_null_argument("pending");
	pending = PG_GETARG_BOOL(8);
	if (!PG_ARGISNULL(7))
	{
		available_at = points_arg_time(fcinfo, 7, "available_at");
		if (available_at < at)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("available_at %s is before the grant's time %s",
							points_timestamp_text(available_at),
							points_timestamp_text(at)),
					 errhint("Pass an earlier at to record a grant in the past.")));
	}

	SPI_connect();
	type = points_load_type(code);
	amount = points_arg_amount(fcinfo, 2, "amount", type);
	if (!fixed_expiry)
		expires_at = points_expiry(type, available_at);
	else
	{
		expires_at = PG_GETARG_TIMESTAMPTZ(6);
		if (expires_at == DT_NOBEGIN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expires_at must not be -infinity")));
	}
	if (expires_at <= available_at)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at %s is not after available_at %s",
						points_timestamp_text(expires_at),
						points_timestamp_text(available_at))));

	args[0] = customer;
	args[1] = points_units_to_cstring(amount, type->scale);
	args[2] = reason;
	args[3] = note;
	args[4] = fixed_expiry ? points_timestamp_key(expires_at) : NULL;
	args[5] = PG_ARGISNULL(7) ? NULL : points_timestamp_key(available_at);
	args[6] = pending ? "pending" : "active";
	pin = points_pin_request(ref);
	points_write_begin();
	if (!points_request_begin(type, "grant", ref, customer,
							  points_request_args(7, args), &lot_id))
	{
		EntryRow	row = {0};

		row.kind = pending ? "pending" : "grant";
		row.at = at;
		row.ref = ref;
		row.note = note;
		points_lock_or_create_account(type, customer, at, &acct);
		/*
		 * A pending grant keeps the policy in force now: its validity
		 * restarts at confirmation (never expiring stays never expiring).
		 */
		if (pending && !fixed_expiry && !type->has_validity)
			fixed_expiry = true;
		(void) points_credit(type, customer, &acct, amount, reason, &row,
							 available_at, expires_at, fixed_expiry,
							 pending && !fixed_expiry ? &type->validity : NULL,
							 pending, true, &lot_id);
		points_request_end(type, "grant", ref, lot_id);
	}
	points_write_end();
	points_unpin_search_path(pin);
	SPI_finish();
	PG_RETURN_INT64(lot_id);
}

/*
 * points.consume(type, customer, amount, ref, note, at) returns bigint
 * (the entry id)
 */
PG_FUNCTION_INFO_V1(points_consume);
Datum
points_consume(PG_FUNCTION_ARGS)
{
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *customer = points_arg_key(fcinfo, 1, "customer", true);
	char	   *ref = points_arg_key(fcinfo, 3, "ref", false);
	char	   *note = points_arg_note(fcinfo, 4);
	TimestampTz at = points_arg_time(fcinfo, 5, "at");
	PointsType *type;
	int64		amount;
	int64		entry_id;
	Account		acct;
	const char *args[3];
	int			pin;

	SPI_connect();
	type = points_load_type(code);
	amount = points_arg_amount(fcinfo, 2, "amount", type);
	points_require_enabled(type, "spend");

	args[0] = customer;
	args[1] = points_units_to_cstring(amount, type->scale);
	args[2] = note;
	pin = points_pin_request(ref);
	points_write_begin();
	if (!points_request_begin(type, "consume", ref, customer,
							  points_request_args(3, args), &entry_id))
	{
		EntryRow	row = {0};

		row.kind = "consume";
		row.at = at;
		row.ref = ref;
		row.note = note;
		if (!points_lock_account(type, customer, at, &acct))
			points_insufficient(type, customer, amount, 0, "consume");
		entry_id = points_debit(type, customer, &acct, amount, &row, NULL, NULL);
		acct.spent = points_add(acct.spent, amount);
		points_store_account(&acct, at);
		points_request_end(type, "consume", ref, entry_id);
	}
	points_write_end();
	points_unpin_search_path(pin);
	SPI_finish();
	PG_RETURN_INT64(entry_id);
}

/*
 * points.adjust(type, customer, delta, note, ref, at) returns bigint
 *		A manual correction: a positive delta is a grant under the type's
 *		policy, a negative one a debit in consumption order.  Works on a
 *		disabled type.  Returns the entry id.
 */
PG_FUNCTION_INFO_V1(points_adjust);
Datum
points_adjust(PG_FUNCTION_ARGS)
{
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *customer = points_arg_key(fcinfo, 1, "customer", true);
	char	   *note = points_arg_note(fcinfo, 3);
	char	   *ref = points_arg_key(fcinfo, 4, "ref", false);
	TimestampTz at = points_arg_time(fcinfo, 5, "at");
	PointsType *type;
	int64		delta;
	int64		entry_id;
	int64		lot_id;
	Account		acct;
	const char *args[3];

	if (PG_ARGISNULL(2))
		points_null_argument("delta");
	SPI_connect();
	type = points_load_type(code);
	delta = points_numeric_to_units(PG_GETARG_NUMERIC(2), type, "delta");
	if (delta == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delta must not be zero")));

	args[0] = customer;
	args[1] = points_units_to_cstring(delta, type->scale);
	args[2] = note;
	points_write_begin();
	if (!points_request_begin(type, "adjust", ref, customer,
							  points_request_args(3, args), &entry_id))
	{
		EntryRow	row = {0};

		row.kind = "adjust";
		row.at = at;
		row.ref = ref;
		row.note = note;
		if (delta > 0)
		{
			points_lock_or_create_account(type, customer, at, &acct);
			entry_id = points_credit(type, customer, &acct, delta, "adjust",
									 &row, at, points_expiry(type, at), false,
									 NULL, false, true, &lot_id);
		}
		else
		{
			if (!points_lock_account(type, customer, at, &acct))
				points_insufficient(type, customer, -delta, 0, "adjust");
			entry_id = points_debit(type, customer, &acct, -delta, &row, NULL, NULL);
			acct.spent = points_add(acct.spent, -delta);
			points_store_account(&acct, at);
		}
		points_request_end(type, "adjust", ref, entry_id);
	}
	points_write_end();
	SPI_finish();
	PG_RETURN_INT64(entry_id);
}

/*
 * points.balance(type, customer, at) returns numeric
 *		Points available at `at`; 0 for an unknown customer.
 */
PG_FUNCTION_INFO_V1(points_balance);
Datum
points_balance(PG_FUNCTION_ARGS)
{
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *customer = points_arg_key(fcinfo, 1, "customer", true);
	TimestampTz at = points_arg_time(fcinfo, 2, "at");
	PointsType *type;
	Account		acct;
	int64		available = 0;
	Numeric		result;

	SPI_connect();
	type = points_load_type(code);
	if (points_get_account(type, customer, false, &acct))
		available = points_available(&acct, at, true);
	result = points_units_to_numeric(available, type->scale);
	result = (Numeric) SPI_datumTransfer(NumericGetDatum(result), false, -1);
	SPI_finish();
	PG_RETURN_NUMERIC(result);
}

/* What account() reports of an account's open lots at a time. */
typedef struct LotFigures
{
	bool		has_next;		/* points that expire next, and when */
	TimestampTz next_at;
	int64		next_amount;
	int64		unswept;		/* expired (or lapsed) but not swept yet */
	int64		vesting;		/* granted, not available yet */
} LotFigures;

/* The lot figures through SQL (a table with a column of a DBA's own). */
static void
lot_figures_sql(const Account *acct, TimestampTz at, LotFigures *f)
{
	static SPIPlanPtr next_plan = NULL;
	static SPIPlanPtr unswept_plan = NULL;
	static SPIPlanPtr vesting_plan = NULL;
	static const Oid argtypes[] = {INT8OID, TIMESTAMPTZOID};
	Datum		args[2];
	bool		isnull;

	args[0] = Int64GetDatum(acct->id);
	args[1] = TimestampTzGetDatum(at);
	points_run(points_plan(&next_plan,
						   "SELECT expires_at, sum(remaining)::bigint FROM points.lots"
						   " WHERE account_id = $1 AND open"
						   " AND available_at <= $2 AND expires_at > $2"
						   " AND expires_at < 'infinity'"
						   " GROUP BY expires_at ORDER BY expires_at LIMIT 1",
						   2, argtypes),
			   args, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		f->has_next = true;
		f->next_at = DatumGetTimestampTz(points_col(0, 1, &isnull));
		f->next_amount = points_col_int64(0, 2);
	}
	args[1] = TimestampTzGetDatum(at >= acct->inactive_at ? DT_NOEND : at);
	points_run(points_plan(&unswept_plan,
						   "SELECT coalesce(sum(remaining), 0)::bigint FROM points.lots"
						   " WHERE account_id = $1 AND open AND expires_at <= $2",
						   2, argtypes),
			   args, NULL, SPI_OK_SELECT);
	f->unswept = points_col_int64(0, 1);
	args[1] = TimestampTzGetDatum(at);
	points_run(points_plan(&vesting_plan,
						   "SELECT coalesce(sum(remaining), 0)::bigint FROM points.lots"
						   " WHERE account_id = $1 AND open AND available_at > $2"
						   " AND expires_at > $2",
						   2, argtypes),
			   args, NULL, SPI_OK_SELECT);
	f->vesting = points_col_int64(0, 1);
}

/*
 * The figures of the account's open lots at `at`: the earliest expiry of
 * the points available then (and how many), the points past their expiry
 * that the sweep has not reached (all of them once the account lapsed for
 * inactivity), the points still vesting.  One walk of the open lots in
 * the expiry order, which stops after the next expiry unless points may be
 * vesting or the account lapsed.
 */
static void
lot_figures(const Account *acct, TimestampTz at, LotFigures *f)
{
	TimestampTz due_at = at >= acct->inactive_at ? DT_NOEND : at;
	Draw	   *lots;
	int			n;
	int			i;

	memset(f, 0, sizeof(LotFigures));
	/* all of them only when some may be vesting, or all lapsed */
	n = points_scan_lots(acct->id,
						 acct->vested_at > at || at >= acct->inactive_at ?
						 LOTS_OPEN : LOTS_NEXT, at, 0, 0, &lots);
	if (n < 0)
		lot_figures_sql(acct, at, f);
	for (i = 0; i < n; i++)
	{
		const Draw *l = &lots[i];

		if (l->available_at <= at && l->expires_at > at &&
			l->expires_at < DT_NOEND)
		{
			if (!f->has_next || l->expires_at < f->next_at)
			{
				f->has_next = true;
				f->next_at = l->expires_at;
				f->next_amount = l->amount;
			}
			else if (l->expires_at == f->next_at)
				f->next_amount = points_add(f->next_amount, l->amount);
		}
		if (l->expires_at <= due_at)
			f->unswept = points_add(f->unswept, l->amount);
		if (l->available_at > at && l->expires_at > at)
			f->vesting = points_add(f->vesting, l->amount);
	}
	/* an inactive account has lapsed whole, swept or not */
	if (at >= acct->inactive_at)
	{
		f->has_next = false;
		f->vesting = 0;
	}
	/* vesting points count only while some are (the cached bound says) */
	else if (acct->vested_at <= at)
		f->vesting = 0;
}

/*
 * points.account(type, customer, at) returns points.account_summary
 *		Every figure of one account at `at`.
 */
PG_FUNCTION_INFO_V1(points_account);
Datum
points_account(PG_FUNCTION_ARGS)
{
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *customer = points_arg_key(fcinfo, 1, "customer", true);
	TimestampTz at = points_arg_time(fcinfo, 2, "at");
	PointsType *type;
	TupleDesc	desc;
	Account		acct;
	Datum		values[12];
	bool		nulls[12];
	HeapTuple	tuple;
	int64		available = 0;
	LotFigures	lots = {0};
	bool		found;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "points: account() must return a composite type");
	desc = BlessTupleDesc(desc);

	SPI_connect();
	type = points_load_type(code);
	memset(&acct, 0, sizeof(acct));
	found = points_get_account(type, customer, false, &acct);
	if (found)
	{
		available = points_available(&acct, at, true);
		lot_figures(&acct, at, &lots);
	}
	memset(nulls, false, sizeof(nulls));
	values[0] = CStringGetTextDatum(type->code);
	values[1] = CStringGetTextDatum(customer);
	values[2] = NumericGetDatum(points_units_to_numeric(available, type->scale));
	values[3] = NumericGetDatum(points_units_to_numeric(acct.held, type->scale));
	values[4] = NumericGetDatum(points_units_to_numeric(points_add(acct.pending, lots.vesting),
														type->scale));
	values[5] = NumericGetDatum(points_units_to_numeric(acct.debt, type->scale));
	values[6] = TimestampTzGetDatum(lots.next_at);
	nulls[6] = !lots.has_next;
	values[7] = NumericGetDatum(points_units_to_numeric(lots.next_amount, type->scale));
	nulls[7] = !lots.has_next;
	values[8] = NumericGetDatum(points_units_to_numeric(acct.earned, type->scale));
	values[9] = NumericGetDatum(points_units_to_numeric(acct.spent, type->scale));
	values[10] = NumericGetDatum(points_units_to_numeric(points_add(acct.expired, lots.unswept),
														 type->scale));
	/* tier: the customer's tier at `at`, as points.tier() finds it */
	nulls[11] = true;
	if (type->has_tiers)
	{
		CustomerTier tier;
		/* its statements under one pin, not one each */
		int			pin = points_pin_search_path();

		points_customer_tier(type, customer, found ? &acct : NULL, at, &tier);
		points_unpin_search_path(pin);
		if (tier.code)
		{
			values[11] = CStringGetTextDatum(tier.code);
			nulls[11] = false;
		}
	}
	tuple = heap_form_tuple(desc, values, nulls);
	tuple = SPI_copytuple(tuple);
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/*
 * points.format(type, amount) returns text
 *		"1 point", "25 points", "2.50 credits": the amount at the type's
 *		scale with its singular or plural name.
 */
PG_FUNCTION_INFO_V1(points_format);
Datum
points_format(PG_FUNCTION_ARGS)
{
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	PointsType *type;
	int64		units;
	int64		one;
	char	   *result;
	int			i;

	if (PG_ARGISNULL(1))
		points_null_argument("amount");
	SPI_connect();
	type = points_load_type(code);
	units = points_numeric_to_units(PG_GETARG_NUMERIC(1), type, "amount");
	for (one = 1, i = 0; i < type->scale; i++)
		one *= 10;
	result = psprintf("%s %s", points_units_to_cstring(units, type->scale),
					  (units == one || units == -one) ? type->name : type->name_plural);
	result = (char *) SPI_datumTransfer(CStringGetTextDatum(result), false, -1);
	SPI_finish();
	PG_RETURN_DATUM(PointerGetDatum(result));
}
