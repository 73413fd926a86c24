/*
 * settings.c
 *		Validation triggers of the earning and redemption settings:
 *		points.earn_rules, tiers, customers, rewards and prices.  A bad
 *		setting is refused with 22023 (invalid_parameter_value) and a message
 *		naming the type, the row and the setting; an unknown type is 42704.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "earn.h"

/* The row being written, after checking the trigger protocol. */
static HeapTuple
checked_row(FunctionCallInfo fcinfo, const char *name, TupleDesc *desc)
{
	TriggerData *td;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: not called by trigger manager", name)));
	td = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be fired BEFORE INSERT OR UPDATE FOR EACH ROW", name)));
	*desc = RelationGetDescr(td->tg_relation);
	return TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
}

static Datum
attr(TupleDesc desc, HeapTuple row, const char *name, bool *isnull)
{
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		elog(ERROR, "points: column \"%s\" missing", name);
	return heap_getattr(row, attnum, desc, isnull);
}

static char *
text_attr(TupleDesc desc, HeapTuple row, const char *name)
{
	bool		isnull;
	Datum		d = attr(desc, row, name, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static Numeric
numeric_attr(TupleDesc desc, HeapTuple row, const char *name)
{
	bool		isnull;
	Datum		d = attr(desc, row, name, &isnull);

	return isnull ? NULL : DatumGetNumeric(d);
}

static Interval *
interval_attr(TupleDesc desc, HeapTuple row, const char *name)
{
	bool		isnull;
	Datum		d = attr(desc, row, name, &isnull);

	return isnull ? NULL : DatumGetIntervalP(d);
}

static void bad(const char *what, const char *type, const char *key,
				const char *problem, const char *hint) pg_attribute_noreturn();

static void
bad(const char *what, const char *type, const char *key, const char *problem,
	const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s \"%s\" of point type \"%s\": %s", what, key ? key : "",
					type, problem),
			 hint ? errhint("%s", hint) : 0));
}

/* The point type a setting belongs to: 42704 when it does not exist. */
static PointsType *
setting_type(const char *code)
{
	PointsType *type = palloc0(sizeof(PointsType));

	if (code == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("type must not be NULL")));
	type->code = pstrdup(code);
	SPI_connect();
	type->scale = points_load_type(code)->scale;
	SPI_finish();
	return type;
}

static void
require_key(const char *what, const char *type, const char *column,
			const char *value)
{
	if (value == NULL || value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s of point type \"%s\": %s must not be empty",
						what, type, column)));
}

/*
 * A numeric setting: NULL passes unless required; otherwise finite, and
 * positive (min 1), not negative (min 0); with a scale, no more decimals
 * than the type's.
 */
static void
check_number(const char *what, const PointsType *type, const char *key,
			 const char *column, Numeric n, int min, bool with_scale)
{
	if (n == NULL)
		return;
	if (numeric_is_nan(n) || numeric_is_inf(n))
		bad(what, type->code, key, psprintf("%s must be a finite number", column),
			NULL);
	if (points_num_sign(n) < min)
		bad(what, type->code, key,
			psprintf("%s must be %s, got %s", column,
					 min > 0 ? "positive" : "zero or more", points_num_text_out(n)),
			NULL);
	if (with_scale && !points_num_fits_scale(n, type->scale))
		bad(what, type->code, key,
			psprintf("%s %s has more decimal places than the type's scale (%d)",
					 column, points_num_text_out(n), type->scale),
			"Points are exact: a fixed number of points must fit the scale.");
}

static char *
interval_text(Interval *iv)
{
	return DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(iv)));
}

static Datum
proceed(FunctionCallInfo fcinfo)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ?
						   td->tg_newtuple : td->tg_trigtuple);
}

/*
 * points.check_earn_rule(): BEFORE INSERT OR UPDATE FOR EACH ROW on
 * earn_rules.
 */
PG_FUNCTION_INFO_V1(points_check_earn_rule);
Datum
points_check_earn_rule(PG_FUNCTION_ARGS)
{
	static const char *const pers[] = {"ever", "day", "week", "month", "year"};
	const char *what = "earn rule";
	TupleDesc	desc;
	HeapTuple	row = checked_row(fcinfo, "points_check_earn_rule", &desc);
	PointsType *type = setting_type(text_attr(desc, row, "type"));
	char	   *event = text_attr(desc, row, "event");
	Numeric		spend = numeric_attr(desc, row, "spend");
	char	   *per = text_attr(desc, row, "per");
	Interval   *iv;
	bool		null_start;
	bool		null_end;
	Datum		starts;
	Datum		ends;

	require_key(what, type->code, "event", event);
	if (numeric_attr(desc, row, "points") == NULL)
		bad(what, type->code, event, "points must not be NULL", NULL);
	check_number(what, type, event, "points", numeric_attr(desc, row, "points"),
				 1, spend == NULL);
	check_number(what, type, event, "spend", spend, 1, false);
	check_number(what, type, event, "min_amount",
				 numeric_attr(desc, row, "min_amount"), 0, false);
	check_number(what, type, event, "max_points",
				 numeric_attr(desc, row, "max_points"), 1, true);
	if (per != NULL)
	{
		size_t		i;

		for (i = 0; i < lengthof(pers); i++)
			if (strcmp(per, pers[i]) == 0)
				break;
		if (i == lengthof(pers))
			bad(what, type->code, event, psprintf("per \"%s\" is not valid", per),
				"Use ever, day, week, month or year; NULL for no cap.");
	}
	iv = interval_attr(desc, row, "validity");
	if (iv && !points_interval_positive(iv))
		bad(what, type->code, event,
			psprintf("validity %s is not a positive interval", interval_text(iv)),
			"NULL: the type's validity.");
	iv = interval_attr(desc, row, "delay");
	if (iv && (iv->month < 0 || iv->day < 0 || iv->time < 0))
		bad(what, type->code, event,
			psprintf("delay %s must not be negative", interval_text(iv)), NULL);
	starts = attr(desc, row, "starts_at", &null_start);
	ends = attr(desc, row, "ends_at", &null_end);
	if (!null_start && !null_end &&
		DatumGetTimestampTz(starts) >= DatumGetTimestampTz(ends))
		bad(what, type->code, event, "starts_at must be before ends_at", NULL);
	return proceed(fcinfo);
}

/* points.check_tier(): BEFORE INSERT OR UPDATE FOR EACH ROW on tiers. */
PG_FUNCTION_INFO_V1(points_check_tier);
Datum
points_check_tier(PG_FUNCTION_ARGS)
{
	const char *what = "tier";
	TupleDesc	desc;
	HeapTuple	row = checked_row(fcinfo, "points_check_tier", &desc);
	PointsType *type = setting_type(text_attr(desc, row, "type"));
	char	   *code = text_attr(desc, row, "code");
	Interval   *period = interval_attr(desc, row, "period");

	require_key(what, type->code, "code", code);
	require_key(what, type->code, "name", text_attr(desc, row, "name"));
	check_number(what, type, code, "qualify_points",
				 numeric_attr(desc, row, "qualify_points"), 0, false);
	check_number(what, type, code, "multiplier",
				 numeric_attr(desc, row, "multiplier"), 0, false);
	if (period && !points_interval_positive(period))
		bad(what, type->code, code,
			psprintf("period %s is not a positive interval", interval_text(period)),
			"NULL: points earned over the customer's lifetime.");
	return proceed(fcinfo);
}

/* points.check_customer(): BEFORE INSERT OR UPDATE FOR EACH ROW on customers. */
PG_FUNCTION_INFO_V1(points_check_customer);
Datum
points_check_customer(PG_FUNCTION_ARGS)
{
	const char *what = "customer";
	TupleDesc	desc;
	HeapTuple	row = checked_row(fcinfo, "points_check_customer", &desc);
	PointsType *type = setting_type(text_attr(desc, row, "type"));
	char	   *customer = text_attr(desc, row, "customer");

	require_key(what, type->code, "customer", customer);
	check_number(what, type, customer, "multiplier",
				 numeric_attr(desc, row, "multiplier"), 0, false);
	return proceed(fcinfo);
}

/* points.check_reward(): BEFORE INSERT OR UPDATE FOR EACH ROW on rewards. */
PG_FUNCTION_INFO_V1(points_check_reward);
Datum
points_check_reward(PG_FUNCTION_ARGS)
{
	static const char *const kinds[] = {"coupon", "gift_card", "shipping",
	"product", "custom"};
	const char *what = "reward";
	TupleDesc	desc;
	HeapTuple	row = checked_row(fcinfo, "points_check_reward", &desc);
	PointsType *type = setting_type(text_attr(desc, row, "type"));
	char	   *code = text_attr(desc, row, "code");
	char	   *kind = text_attr(desc, row, "kind");
	bool		isnull;
	Datum		d;
	size_t		i;

	require_key(what, type->code, "code", code);
	require_key(what, type->code, "name", text_attr(desc, row, "name"));
	for (i = 0; kind && i < lengthof(kinds); i++)
		if (strcmp(kind, kinds[i]) == 0)
			break;
	if (kind == NULL || i == lengthof(kinds))
		bad(what, type->code, code,
			psprintf("kind \"%s\" is not valid", kind ? kind : ""),
			"Use coupon, gift_card, shipping, product or custom.");
	if (numeric_attr(desc, row, "cost") == NULL)
		bad(what, type->code, code, "cost must not be NULL", NULL);
	check_number(what, type, code, "cost", numeric_attr(desc, row, "cost"), 1, true);
	check_number(what, type, code, "value", numeric_attr(desc, row, "value"), 0, false);
	d = attr(desc, row, "stock", &isnull);
	if (!isnull && DatumGetInt32(d) < 0)
		bad(what, type->code, code,
			psprintf("stock must be zero or more, got %d", DatumGetInt32(d)),
			"NULL: unlimited.");
	d = attr(desc, row, "per_customer", &isnull);
	if (!isnull && DatumGetInt32(d) <= 0)
		bad(what, type->code, code,
			psprintf("per_customer must be positive, got %d", DatumGetInt32(d)),
			"NULL: unlimited; disable the reward to stop redemptions.");
	return proceed(fcinfo);
}

/* points.check_price(): BEFORE INSERT OR UPDATE FOR EACH ROW on prices. */
PG_FUNCTION_INFO_V1(points_check_price);
Datum
points_check_price(PG_FUNCTION_ARGS)
{
	const char *what = "price in currency";
	TupleDesc	desc;
	HeapTuple	row = checked_row(fcinfo, "points_check_price", &desc);
	PointsType *type = setting_type(text_attr(desc, row, "type"));
	char	   *currency = text_attr(desc, row, "currency");
	const char *c;

	require_key(what, type->code, "currency", currency);
	for (c = currency; *c; c++)
		if (*c < 'A' || *c > 'Z')
			break;
	if (*c || c - currency != 3)
		bad(what, type->code, currency, "the currency is not an ISO 4217 code",
			"Use three capital letters, such as USD or MYR.");
	if (numeric_attr(desc, row, "min_quantity") == NULL)
		bad(what, type->code, currency, "min_quantity must not be NULL", NULL);
	check_number(what, type, currency, "min_quantity",
				 numeric_attr(desc, row, "min_quantity"), 1, true);
	if (numeric_attr(desc, row, "unit_price") == NULL)
		bad(what, type->code, currency, "unit_price must not be NULL", NULL);
	check_number(what, type, currency, "unit_price",
				 numeric_attr(desc, row, "unit_price"), 0, false);
	return proceed(fcinfo);
}
