/*
 * redeem.c
 *		Spending points for money and rewards, and selling points: value()
 *		(points to money, floored to the currency's minor unit), quote()
 *		(the most points usable on an order and the discount they give),
 *		redeem() and cancel_redemption() (the rewards catalogue, with stock
 *		and per-customer limits and unguessable codes) and price() (volume
 *		price tiers).
 *
 * All math is exact numeric.  The design is described at the top of
 * src/sql/30_earn.sql.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "port.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "earn.h"

/* The redemption settings of a point type. */
typedef struct RedeemPolicy
{
	Numeric		redeem_points;	/* "redeem_points points ... */
	Numeric		redeem_value;	/* ... are worth redeem_value" */
	char	   *currency;
	int			exponent;		/* decimals of the currency's minor unit */
	bool		tax_payable;
	Numeric		min_points;		/* NULL: no minimum */
	Numeric		max_points;		/* NULL: no maximum */
} RedeemPolicy;

/* Crockford's base32: no I, L, O or U, so codes read back unambiguously. */
static const char code_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#define CODE_BYTES 10			/* 80 random bits: 16 characters */
#define CODE_LENGTH 16


/* The type's redemption settings (cached with it); 22023 when it has no rate. */
static void
load_policy(const PointsType *type, RedeemPolicy *p)
{
	p->redeem_points = type->redeem_points;
	p->redeem_value = type->redeem_value;
	p->currency = type->currency;
	p->exponent = points_currency_exponent(p->currency);
	p->tax_payable = type->tax_payable;
	p->min_points = type->min_redeem_points;
	p->max_points = type->max_redeem_points;
	if (p->redeem_points == NULL || p->redeem_value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("point type \"%s\" has no redemption rate", type->code),
				 errhint("Set redeem_points and redeem_value in points.types, e.g. 100 and 1.00 for \"100 points = 1.00\".")));
}

/*
 * The value of `units` points in minor units of the currency (cents):
 * floor(points x redeem_value / redeem_points x 10^exponent), exactly.
 */
static Numeric
value_minor(const PointsType *type, const RedeemPolicy *p, Numeric units)
{
	Numeric		n = points_num_mul(points_num_mul(units, p->redeem_value),
								   points_num_pow10(p->exponent));
	Numeric		d = points_num_mul(p->redeem_points, points_num_pow10(type->scale));

	return points_num_div_floor(n, d);
}

/*
 * The fewest points (units) worth at least `minor` minor units: the inverse
 * of value_minor(), so that no point is spent that buys nothing.
 */
static Numeric
points_for_minor(const PointsType *type, const RedeemPolicy *p, Numeric minor)
{
	Numeric		n = points_num_mul(points_num_mul(minor, p->redeem_points),
								   points_num_pow10(type->scale));
	Numeric		d = points_num_mul(p->redeem_value, points_num_pow10(p->exponent));

	return points_num_div_ceil(n, d);
}

/*
 * points.value(type, points) returns numeric
 *		The money value of points at the type's redemption rate, floored to
 *		the currency's minor unit: 387 points at "100 points = 1.00" are 3.87.
 */
PG_FUNCTION_INFO_V1(points_value);
Datum
points_value(PG_FUNCTION_ARGS)
{
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	PointsType *type;
	RedeemPolicy policy;
	int64		units;
	Numeric		result;

	if (PG_ARGISNULL(1))
		points_null_argument("points");
	SPI_connect();
	type = points_load_type(code);
	units = points_numeric_to_units(PG_GETARG_NUMERIC(1), type, "points");
	if (units < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("points must not be negative, got %s",
						points_units_to_cstring(units, type->scale))));
	load_policy(type, &policy);
	result = points_minor_to_money(value_minor(type, &policy, points_num(units)),
								   policy.exponent);
	result = DatumGetNumeric(SPI_datumTransfer(NumericGetDatum(result), false, -1));
	SPI_finish();
	PG_RETURN_NUMERIC(result);
}

/*
 * points.quote(type, customer, subtotal, tax, want, at,
 *				OUT points numeric, OUT discount numeric)
 *		The most points the customer can use on an order now and the money
 *		off they give.  The points are bounded by the balance available at
 *		`at`, by want and by max_redeem_points; the discount by the subtotal,
 *		plus the tax where the type is tax_payable.  Of the points giving the
 *		largest discount the fewest are quoted, so none is spent that buys
 *		nothing, and the discount is exactly what they are worth.  Fewer
 *		than min_redeem_points, or a disabled type: (0, 0).
 */
PG_FUNCTION_INFO_V1(points_quote);
Datum
points_quote(PG_FUNCTION_ARGS)
{
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *customer = points_arg_key(fcinfo, 1, "customer", true);
	Numeric		subtotal = points_arg_money(fcinfo, 2, "subtotal", true);
	Numeric		tax = points_arg_money(fcinfo, 3, "tax", true);
	TimestampTz at = points_arg_time(fcinfo, 5, "at");
	PointsType *type;
	RedeemPolicy policy;
	TupleDesc	desc;
	Account		acct;
	Numeric		limit;
	Numeric		use = points_num(0);
	Numeric		minor = points_num(0);
	Datum		values[2];
	bool		nulls[2] = {false, false};
	HeapTuple	tuple;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "points: quote() must return a composite type");
	desc = BlessTupleDesc(desc);

	SPI_connect();
	type = points_load_type(code);
	load_policy(type, &policy);
	limit = points_num(0);
	if (points_get_account(type, customer, false, &acct))
		limit = points_num(points_available(&acct, at, false));
	if (!PG_ARGISNULL(4))
	{
		Numeric		want = points_num(points_arg_amount(fcinfo, 4, "want", type));

		if (points_num_cmp(want, limit) < 0)
			limit = want;
	}
	if (policy.max_points)
	{
		Numeric		max = points_num_div_floor(points_num_mul(policy.max_points,
															  points_num_pow10(type->scale)),
											   points_num(1));

		if (points_num_cmp(max, limit) < 0)
			limit = max;
	}

	if (type->enabled && points_num_sign(policy.redeem_value) > 0)
	{
		Numeric		cap = subtotal;
		Numeric		most;

		if (policy.tax_payable && tax)
			cap = points_num_add(cap, tax);
		/* the cap in whole minor units */
		cap = points_num_div_floor(points_num_mul(cap, points_num_pow10(policy.exponent)),
								   points_num(1));
		/*
		 * The most points worth no more than the cap: value(p) <= cap exactly
		 * when p x rate < cap + 1 minor unit, p < (cap + 1) / rate.
		 */
		most = points_num_sub(points_for_minor(type, &policy,
											   points_num_add(cap, points_num(1))),
							  points_num(1));
		if (points_num_cmp(most, limit) < 0)
			limit = most;
		minor = value_minor(type, &policy, limit);
		/* the fewest points worth that much: none is spent for nothing */
		if (points_num_sign(minor) > 0)
			use = points_for_minor(type, &policy, minor);
		/* below the minimum nothing can be used */
		if (policy.min_points &&
			points_num_cmp(points_num_mul(use, points_num_pow10(-type->scale)),
						   policy.min_points) < 0)
		{
			use = points_num(0);
			minor = points_num(0);
		}
	}

	values[0] = NumericGetDatum(points_units_to_numeric(points_num_int64(use, "points"),
														type->scale));
	values[1] = NumericGetDatum(points_minor_to_money(minor, policy.exponent));
	tuple = SPI_copytuple(heap_form_tuple(desc, values, nulls));
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/* ---------------------------------------------------------------------
 * Rewards
 * --------------------------------------------------------------------- */

/* A new redemption code: 16 characters from 80 strongly random bits. */
static char *
new_code(void)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {TEXTOID};
	int			attempt;

	for (attempt = 0; attempt < 8; attempt++)
	{
		unsigned char bytes[CODE_BYTES];
		char	   *code = palloc(CODE_LENGTH + 1);
		uint32		acc = 0;
		int			bits = 0;
		int			n = 0;
		int			i;
		Datum		values[1];

		if (!pg_strong_random(bytes, sizeof(bytes)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random redemption code")));
		for (i = 0; i < CODE_BYTES; i++)
		{
			acc = (acc << 8) | bytes[i];
			bits += 8;
			while (bits >= 5)
			{
				bits -= 5;
				code[n++] = code_alphabet[(acc >> bits) & 31];
			}
		}
		code[n] = '\0';
		Assert(n == CODE_LENGTH);

		values[0] = CStringGetTextDatum(code);
		points_run(points_plan(&plan, "SELECT 1 FROM points.redemptions WHERE code = $1",
						1, argtypes),
			values, NULL, SPI_OK_SELECT);
		if (SPI_processed == 0)
			return code;
	}
	elog(ERROR, "points: no unused redemption code after 8 attempts");
	return NULL;				/* keep compiler quiet */
}

/* A redemption as the function's result row; inside SPI. */
static Datum
redemption_row(FunctionCallInfo fcinfo, int64 id)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID};
	TupleDesc	desc;
	Datum		values[1];
	Datum	   *cols;
	bool	   *nulls;
	HeapTuple	tuple;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "points: a redemption function must return a composite type");
	values[0] = Int64GetDatum(id);
	points_run(points_plan(&plan, "SELECT * FROM points.redemptions WHERE id = $1",
					1, argtypes),
		values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1 || SPI_tuptable->tupdesc->natts != desc->natts)
		elog(ERROR, "points: redemption " INT64_FORMAT " vanished", id);
	cols = palloc(desc->natts * sizeof(Datum));
	nulls = palloc(desc->natts * sizeof(bool));
	heap_deform_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, cols, nulls);
	desc = BlessTupleDesc(desc);
	tuple = heap_form_tuple(desc, cols, nulls);
	/* in the caller's memory, TOASTed values inlined: SPI_finish() follows */
	return PointerGetDatum(SPI_returntuple(tuple, desc));
}

/* A reward as redeem() needs it. */
typedef struct Reward
{
	char	   *name;
	char	   *kind;
	Numeric		cost;
	Numeric		value;			/* NULL: none */
	bool		enabled;
	bool		limited;		/* has a stock */
	int32		stock;
	bool		has_limit;		/* has a limit per customer */
	int32		per_customer;
} Reward;

/* The columns of REWARD_COLUMNS in the last result's first row. */
#define REWARD_COLUMNS "name, kind, cost, value, enabled, stock, per_customer"

static void
read_reward(Reward *rw)
{
	bool		isnull;

	rw->name = points_col_text(0, 1);
	rw->kind = points_col_text(0, 2);
	rw->cost = points_col_numeric(0, 3);
	rw->value = points_col_numeric(0, 4);
	rw->enabled = DatumGetBool(points_col(0, 5, &isnull));
	rw->stock = DatumGetInt32(points_col(0, 6, &isnull));
	rw->limited = !isnull;
	rw->per_customer = DatumGetInt32(points_col(0, 7, &isnull));
	rw->has_limit = !isnull;
}

/*
 * points.redeem(type, customer, reward, ref, at, note) returns
 * points.redemptions
 *		Spend a reward's cost in consumption order (an entry of kind redeem)
 *		and issue a unique code.  Redemptions of a reward with limited stock
 *		serialize on its row, so stock is never oversold; a reward without a
 *		stock limit is only read, so its redemptions run in parallel (an
 *		admin's change of it applies to those that start after it commits).
 *		per_customer counts the customer's
 *		redemptions that are not cancelled.  An unknown reward is 42704, a
 *		disabled reward, no stock left or the customer's limit reached PT004,
 *		too few points PT001, a disabled type PT002.
 */
PG_FUNCTION_INFO_V1(points_redeem);
Datum
points_redeem(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr find_plan = NULL;
	static SPIPlanPtr lock_plan = NULL;
	static SPIPlanPtr count_plan = NULL;
	static SPIPlanPtr stock_plan = NULL;
	static SPIPlanPtr insert_plan = NULL;
	static const Oid key_types[] = {TEXTOID, TEXTOID};
	static const Oid count_types[] = {INT8OID, TEXTOID};
	static const Oid insert_types[] = {INT8OID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, NUMERICOID, NUMERICOID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
	INT8OID, TEXTOID, TEXTOID};
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *customer = points_arg_key(fcinfo, 1, "customer", true);
	char	   *reward = points_arg_key(fcinfo, 2, "reward", true);
	char	   *ref = points_arg_key(fcinfo, 3, "ref", false);
	TimestampTz at = points_arg_time(fcinfo, 4, "at");
	char	   *note = points_arg_note(fcinfo, 5);
	PointsType *type;
	Datum		keys[2];
	Reward		rw;
	int64		id;
	Datum		result;
	const char *args[3];

	SPI_connect();
	type = points_load_type(code);
	points_require_enabled(type, "redeem");
	keys[0] = CStringGetTextDatum(type->code);
	keys[1] = CStringGetTextDatum(reward);
	points_run(points_plan(&find_plan,
					"SELECT " REWARD_COLUMNS " FROM points.rewards"
					" WHERE type = $1 AND code = $2",
					2, key_types),
		keys, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("reward \"%s\" of point type \"%s\" does not exist",
						reward, type->code),
				 errhint("Rewards are rows of points.rewards.")));
	read_reward(&rw);

	args[0] = customer;
	args[1] = reward;
	args[2] = note;
	points_write_begin();
	if (!points_request_begin(type, "redeem", ref, customer,
							  points_request_args(3, args), &id))
	{
		Account		acct;
		EntryRow	row = {0};
		Numeric		cost;
		Numeric		value;
		char	   *kind;
		char	   *name;
		int32		per_customer = 0;
		bool		has_limit;
		int64		units;
		int64		entry_id;
		Datum		values[13];
		char		nulls[13];

		/* lock order: the account, then (limited stock) the reward */
		if (!points_lock_account(type, customer, at, &acct))
			memset(&acct, 0, sizeof(acct));
		if (!rw.enabled)
			ereport(ERROR,
					(errcode(ERRCODE_POINTS_WRONG_STATE),
					 errmsg("reward \"%s\" of point type \"%s\" is disabled",
							reward, type->code)));
		if (rw.limited)
		{
			/*
			 * Lock the reward and read it again: a redemption or cancellation
			 * in progress decides what is left.
			 */
			points_run(points_plan(&lock_plan,
							"SELECT " REWARD_COLUMNS " FROM points.rewards"
							" WHERE type = $1 AND code = $2 FOR NO KEY UPDATE",
							2, key_types),
				keys, NULL, SPI_OK_SELECT);
			if (SPI_processed == 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("reward \"%s\" of point type \"%s\" does not exist",
								reward, type->code)));
			read_reward(&rw);
			if (!rw.enabled)
				ereport(ERROR,
						(errcode(ERRCODE_POINTS_WRONG_STATE),
						 errmsg("reward \"%s\" of point type \"%s\" is disabled",
								reward, type->code)));
			if (rw.limited && rw.stock <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_POINTS_WRONG_STATE),
						 errmsg("reward \"%s\" of point type \"%s\" is out of stock",
								reward, type->code)));
		}
		name = rw.name;
		kind = rw.kind;
		cost = rw.cost;
		value = rw.value;
		per_customer = rw.per_customer;
		has_limit = rw.has_limit;
		if (has_limit && acct.id != 0)
		{
			int64		taken;

			values[0] = Int64GetDatum(acct.id);
			values[1] = CStringGetTextDatum(reward);
			points_run(points_plan(&count_plan,
							"SELECT pg_catalog.count(*) FROM points.redemptions"
							" WHERE account_id = $1 AND reward = $2 AND status = 'issued'",
							2, count_types),
				values, NULL, SPI_OK_SELECT);
			taken = points_col_int64(0, 1);
			if (taken >= per_customer)
				ereport(ERROR,
						(errcode(ERRCODE_POINTS_WRONG_STATE),
						 errmsg("customer \"%s\" has reached the limit of reward \"%s\" of point type \"%s\": %d per customer",
								customer, reward, type->code, per_customer),
						 errhint("Cancelled redemptions do not count.")));
		}

		units = points_numeric_to_units(cost, type, "cost");
		if (acct.id == 0)
			points_insufficient(type, customer, units, 0, "redeem");
		row.kind = "redeem";
		row.at = at;
		row.ref = ref;
		row.note = note ? note : psprintf("reward %s", reward);
		entry_id = points_debit(type, customer, &acct, units, &row, NULL, NULL);
		acct.spent = points_add(acct.spent, units);
		points_store_account(&acct, at);

		if (rw.limited)
			points_run(points_plan(&stock_plan,
							"UPDATE points.rewards SET stock = stock - 1"
							" WHERE type = $1 AND code = $2",
							2, key_types),
				keys, NULL, SPI_OK_UPDATE);

		memset(nulls, ' ', sizeof(nulls));
		values[0] = Int64GetDatum(acct.id);
		values[1] = CStringGetTextDatum(type->code);
		values[2] = CStringGetTextDatum(customer);
		values[3] = CStringGetTextDatum(reward);
		values[4] = CStringGetTextDatum(new_code());
		values[5] = NumericGetDatum(points_units_to_numeric(units, type->scale));
		values[6] = value ? NumericGetDatum(value) : (Datum) 0;
		nulls[6] = value ? ' ' : 'n';
		values[7] = CStringGetTextDatum(kind);
		values[8] = CStringGetTextDatum(name);
		values[9] = TimestampTzGetDatum(at);
		values[10] = Int64GetDatum(entry_id);
		values[11] = ref ? CStringGetTextDatum(ref) : (Datum) 0;
		nulls[11] = ref ? ' ' : 'n';
		values[12] = note ? CStringGetTextDatum(note) : (Datum) 0;
		nulls[12] = note ? ' ' : 'n';
		points_run(points_plan(&insert_plan,
						"INSERT INTO points.redemptions (account_id, type, customer,"
						" reward, code, cost, value, kind, name, at, entry_id, ref, note)"
						" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
						" RETURNING id",
						13, insert_types),
			values, nulls, SPI_OK_INSERT_RETURNING);
		id = points_col_int64(0, 1);
		points_request_end(type, "redeem", ref, id);
	}
	points_write_end();
	result = redemption_row(fcinfo, id);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * points.cancel_redemption(redemption_id, note, at) returns
 * points.redemptions
 *		Give a redemption's points back to the grants they came from (points
 *		of grants expired meanwhile expire at once) and its unit back to the
 *		reward's stock.  Cancelling twice is a no-op.  Works on a disabled
 *		type: it is an admin correction.
 */
PG_FUNCTION_INFO_V1(points_cancel_redemption);
Datum
points_cancel_redemption(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr find_plan = NULL;
	static SPIPlanPtr read_plan = NULL;
	static SPIPlanPtr refunded_plan = NULL;
	static SPIPlanPtr stock_plan = NULL;
	static SPIPlanPtr cancel_plan = NULL;
	static const Oid id_types[] = {INT8OID};
	static const Oid stock_types[] = {TEXTOID, TEXTOID};
	static const Oid cancel_types[] = {INT8OID, TIMESTAMPTZOID, INT8OID};
	int64		id = points_arg_id(fcinfo, 0, "redemption_id");
	char	   *note = points_arg_note(fcinfo, 1);
	TimestampTz at = points_arg_time(fcinfo, 2, "at");
	PointsType *type;
	Account		acct;
	Datum		values[3];
	char		nulls[3];
	char	   *code;
	char	   *customer;
	char	   *status;
	char	   *reward;
	int64		entry_id;
	int64		cost;
	int64		refunded;
	int64		refund_id = 0;
	Datum		result;

	SPI_connect();
	values[0] = Int64GetDatum(id);
	points_run(points_plan(&find_plan,
					"SELECT type, customer FROM points.redemptions WHERE id = $1",
					1, id_types),
		values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("redemption " INT64_FORMAT " does not exist", id)));
	code = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	customer = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	type = points_load_type(code);

	points_write_begin();
	if (!points_lock_account(type, customer, at, &acct))
		elog(ERROR, "points: account of redemption " INT64_FORMAT " vanished", id);
	points_run(points_plan(&read_plan,
					"SELECT status, reward, entry_id, cost, at FROM points.redemptions"
					" WHERE id = $1",
					1, id_types),
		values, NULL, SPI_OK_SELECT);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	reward = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	entry_id = points_col_int64(0, 3);
	cost = points_numeric_to_units(points_col_numeric(0, 4), type, "cost");
	{
		bool		isnull;

		at = points_not_before(at, DatumGetTimestampTz(points_col(0, 5, &isnull)),
							   "redemption", id);
	}

	if (strcmp(status, "cancelled") != 0)
	{
		/* what refund() already gave back of the redeem entry stays given */
		values[0] = Int64GetDatum(entry_id);
		points_run(points_plan(&refunded_plan,
						"SELECT coalesce(pg_catalog.sum(amount), 0) FROM points.entries"
						" WHERE origin_id = $1 AND kind = 'refund'",
						1, id_types),
			values, NULL, SPI_OK_SELECT);
		refunded = points_numeric_to_units(points_col_numeric(0, 1), type, "refunded");
		if (cost > refunded)
		{
			EntryRow	row = {0};

			row.kind = "refund";
			row.at = at;
			row.note = note ? note : psprintf("cancelled redemption " INT64_FORMAT, id);
			acct.spent = points_sub(acct.spent, cost - refunded);
			refund_id = points_return(type, customer, &acct, entry_id,
									  cost - refunded, &row, false);
			points_store_account(&acct, at);
		}

		values[0] = CStringGetTextDatum(type->code);
		values[1] = CStringGetTextDatum(reward);
		points_run(points_plan(&stock_plan,
						"UPDATE points.rewards SET stock = stock + 1"
						" WHERE type = $1 AND code = $2 AND stock IS NOT NULL",
						2, stock_types),
			values, NULL, SPI_OK_UPDATE);

		memset(nulls, ' ', sizeof(nulls));
		values[0] = Int64GetDatum(id);
		values[1] = TimestampTzGetDatum(at);
		values[2] = Int64GetDatum(refund_id);
		nulls[2] = refund_id ? ' ' : 'n';
		points_run(points_plan(&cancel_plan,
						"UPDATE points.redemptions SET status = 'cancelled',"
						" cancelled_at = $2, refund_entry_id = $3 WHERE id = $1",
						3, cancel_types),
			values, nulls, SPI_OK_UPDATE);
	}
	points_write_end();
	result = redemption_row(fcinfo, id);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/* ---------------------------------------------------------------------
 * Selling points
 * --------------------------------------------------------------------- */

/*
 * points.price(type, quantity, currency) returns numeric
 *		The price of buying `quantity` points: the unit price of the highest
 *		volume tier whose min_quantity the quantity reaches, times the
 *		quantity, rounded half up to the currency's minor unit.  currency
 *		NULL: the type's.  No prices in the currency: 42704; a quantity
 *		below the smallest tier: 22023.
 */
PG_FUNCTION_INFO_V1(points_price);
Datum
points_price(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr currency_plan = NULL;
	static SPIPlanPtr tier_plan = NULL;
	static SPIPlanPtr least_plan = NULL;
	static const Oid currency_types[] = {TEXTOID};
	static const Oid tier_types[] = {TEXTOID, TEXTOID, NUMERICOID};
	static const Oid least_types[] = {TEXTOID, TEXTOID};
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *currency = points_arg_key(fcinfo, 2, "currency", false);
	PointsType *type;
	Numeric		quantity;
	Numeric		result;
	Datum		values[3];

	SPI_connect();
	type = points_load_type(code);
	quantity = points_units_to_numeric(points_arg_amount(fcinfo, 1, "quantity", type),
									   type->scale);
	values[0] = CStringGetTextDatum(type->code);
	if (currency == NULL)
	{
		points_run(points_plan(&currency_plan,
						"SELECT currency FROM points.types WHERE code = $1",
						1, currency_types),
			values, NULL, SPI_OK_SELECT);
		currency = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		if (currency == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("point type \"%s\" has no currency", type->code),
					 errhint("Pass a currency, or set points.types.currency.")));
	}
	values[1] = CStringGetTextDatum(currency);
	values[2] = NumericGetDatum(quantity);
	points_run(points_plan(&tier_plan,
					"SELECT unit_price FROM points.prices"
					" WHERE type = $1 AND currency = $2 AND min_quantity <= $3"
					" ORDER BY min_quantity DESC LIMIT 1",
					3, tier_types),
		values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		points_run(points_plan(&least_plan,
						"SELECT pg_catalog.min(min_quantity) FROM points.prices"
						" WHERE type = $1 AND currency = $2",
						2, least_types),
			values, NULL, SPI_OK_SELECT);
		if (points_col_numeric(0, 1) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("point type \"%s\" has no prices in currency \"%s\"",
							type->code, currency),
					 errhint("Prices are rows of points.prices.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantity %s is below the smallest volume tier of point type \"%s\" in %s",
						points_num_text_out(quantity), type->code, currency),
				 errdetail("The smallest quantity sold is %s.",
						   points_num_text_out(points_col_numeric(0, 1)))));
	}
	result = points_num_mul(points_col_numeric(0, 1), quantity);
	result = DatumGetNumeric(DirectFunctionCall2(numeric_round, NumericGetDatum(result),
												 Int32GetDatum(points_currency_exponent(currency))));
	result = DatumGetNumeric(SPI_datumTransfer(NumericGetDatum(result), false, -1));
	SPI_finish();
	PG_RETURN_NUMERIC(result);
}
