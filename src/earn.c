/*
 * earn.c
 *		Earning by rules: earn() applies the enabled earn rules of an event
 *		(fixed awards and spend ratios, with minimum spend, exclusions, tier
 *		and personal multipliers, per-award maxima and per-period caps) and
 *		records what each rule awarded in points.earnings; clawback() takes
 *		back what a refunded part of an order earned, at the recorded rate;
 *		tier() says which membership tier a customer is in.
 *
 * The math is exact: numeric throughout, one floor per rule.  The design
 * is described at the top of src/sql/30_earn.sql.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "earn.h"

/* An earn rule as earn() applies it, or as clawback() re-applies it. */
typedef struct Rule
{
	int64		id;
	Numeric		points;			/* the award, or the points per spend */
	Numeric		spend;			/* NULL: a fixed award */
	Numeric		min_amount;		/* NULL: no minimum */
	Numeric		max_points;		/* NULL: no maximum */
	bool		has_validity;
	Interval	validity;
	bool		has_delay;
	Interval	delay;
	bool		pending;
	Numeric		multiplier;		/* applied to spend ratios only */
	int64		award;			/* units awarded */
} Rule;

static Datum
col(SPITupleTable *tt, uint64 row, int column, bool *isnull)
{
	return SPI_getbinval(tt->vals[row], tt->tupdesc, column, isnull);
}

static Numeric
col_numeric(SPITupleTable *tt, uint64 row, int column)
{
	bool		isnull;
	Datum		d = col(tt, row, column, &isnull);

	return isnull ? NULL : DatumGetNumeric(d);
}

static Datum
numeric_or_null(Numeric n, char *null)
{
	*null = n ? ' ' : 'n';
	return n ? NumericGetDatum(n) : (Datum) 0;
}

static Datum
text_or_null(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* A number as idempotency arguments compare it: 30.980 and 30.98 alike. */
static char *
normalized(Numeric n)
{
	return n ? numeric_normalize(n) : NULL;
}

/* `from` plus an interval on the local calendar of the type's time zone. */
static TimestampTz
local_plus(const PointsType *type, TimestampTz from, const Interval *iv)
{
	Datum		zone = CStringGetTextDatum(type->time_zone);
	Datum		local = DirectFunctionCall2(timestamptz_zone, zone,
											TimestampTzGetDatum(from));

	local = DirectFunctionCall2(timestamp_pl_interval, local, IntervalPGetDatum(iv));
	return DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, zone, local));
}

/* ---------------------------------------------------------------------
 * Tiers
 * --------------------------------------------------------------------- */

/*
 * The customer's tier at `at`: the tier pinned in points.customers while
 * the pin lasts, else the tier with the highest qualify_points that the
 * customer reached (ties: the lower code).  A tier without a period counts
 * lifetime earned points (acct->earned); one with a period counts the
 * points earned in (at - period, at], from the account's grant, confirm
 * and positive adjust entries.  acct NULL: the customer has no account.
 * The type's cached flags skip the queries that cannot find anything: the
 * settings' without customer settings of the type, the tiers' without
 * tiers (a pinned tier references one).
 */
void
points_customer_tier(const PointsType *type, const char *customer,
					 const Account *acct, TimestampTz at, CustomerTier *tier)
{
	static SPIPlanPtr setting_plan = NULL;
	static SPIPlanPtr pinned_plan = NULL;
	static SPIPlanPtr qualify_plan = NULL;
	static const Oid setting_types[] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
	static const Oid pinned_types[] = {TEXTOID, TEXTOID};
	static const Oid qualify_types[] = {TEXTOID, NUMERICOID, INT8OID,
	TIMESTAMPTZOID, TEXTOID};
	Datum		values[5];
	bool		isnull;
	char	   *pinned = NULL;

	tier->code = NULL;
	tier->pinned = false;
	tier->tier_multiplier = points_num(1);
	tier->personal_multiplier = points_num(1);

	values[0] = CStringGetTextDatum(type->code);
	values[1] = CStringGetTextDatum(customer);
	values[2] = TimestampTzGetDatum(at);
	if (type->has_settings)
	{
		points_run(points_plan(&setting_plan,
						"SELECT CASE WHEN c.tier_until IS NULL OR $3 < c.tier_until"
						" THEN c.tier END, c.multiplier"
						" FROM points.customers c WHERE c.type = $1 AND c.customer = $2",
						3, setting_types),
			values, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			SPITupleTable *tt = SPI_tuptable;

			(void) col(tt, 0, 1, &isnull);
			if (!isnull)
				pinned = SPI_getvalue(tt->vals[0], tt->tupdesc, 1);
			tier->personal_multiplier = col_numeric(tt, 0, 2);
		}
	}

	/* no tier to reach (and none to pin to: customers.tier references one) */
	if (pinned == NULL && !type->has_tiers)
		return;

	if (pinned)
	{
		values[1] = CStringGetTextDatum(pinned);
		points_run(points_plan(&pinned_plan,
						"SELECT code, multiplier FROM points.tiers"
						" WHERE type = $1 AND code = $2",
						2, pinned_types),
			values, NULL, SPI_OK_SELECT);
		tier->pinned = true;
	}
	else
	{
		values[1] = NumericGetDatum(points_units_to_numeric(acct ? acct->earned : 0,
															type->scale));
		/* no account, no entries: the sum is 0 */
		values[2] = Int64GetDatum(acct ? acct->id : 0);
		values[3] = TimestampTzGetDatum(at);
		values[4] = CStringGetTextDatum(type->time_zone);
		points_run(points_plan(&qualify_plan,
						"SELECT t.code, t.multiplier FROM points.tiers t"
						" WHERE t.type = $1 AND t.qualify_points <= CASE"
						"   WHEN t.period IS NULL THEN $2"
						"   ELSE (SELECT coalesce(pg_catalog.sum(e.amount), 0)"
						"         FROM points.entries e"
						"         WHERE e.account_id = $3 AND e.at <= $4"
						"         AND e.at > pg_catalog.timezone($5,"
						"             pg_catalog.timezone($5, $4) - t.period)"
						"         AND (e.kind IN ('grant', 'confirm')"
						"              OR (e.kind = 'adjust' AND e.amount > 0)))"
						" END"
						" ORDER BY t.qualify_points DESC, t.code LIMIT 1",
						5, qualify_types),
			values, NULL, SPI_OK_SELECT);
	}
	if (SPI_processed > 0)
	{
		SPITupleTable *tt = SPI_tuptable;

		tier->code = SPI_getvalue(tt->vals[0], tt->tupdesc, 1);
		tier->tier_multiplier = col_numeric(tt, 0, 2);
	}
}

/*
 * points.tier(type, customer, at) returns text
 *		The customer's tier code at `at`; NULL when no tier applies.
 */
PG_FUNCTION_INFO_V1(points_tier);
Datum
points_tier(PG_FUNCTION_ARGS)
{
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *customer = points_arg_key(fcinfo, 1, "customer", true);
	TimestampTz at = points_arg_time(fcinfo, 2, "at");
	PointsType *type;
	Account		acct;
	CustomerTier tier;
	Datum		result = (Datum) 0;

	SPI_connect();
	type = points_load_type(code);
	if (points_get_account(type, customer, false, &acct))
		points_customer_tier(type, customer, &acct, at, &tier);
	else
		points_customer_tier(type, customer, NULL, at, &tier);
	if (tier.code)
		result = SPI_datumTransfer(CStringGetTextDatum(tier.code), false, -1);
	SPI_finish();
	if (!tier.code)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/* ---------------------------------------------------------------------
 * Awards
 * --------------------------------------------------------------------- */

/*
 * What a rule awards, in units of the type's scale, on an eligible amount
 * (basis; NULL when earn() was given no amount).  Below min_amount:
 * nothing.  A fixed award is its points.  A ratio awards
 * floor(basis x points / spend x multiplier) at the type's scale, one
 * floor, computed exactly.  max_points caps either.
 */
static int64
rule_award(const PointsType *type, const Rule *rule, Numeric basis,
		   const char *event)
{
	Numeric		scale = points_num_pow10(type->scale);
	int64		units;

	if (rule->min_amount &&
		(basis == NULL || points_num_cmp(basis, rule->min_amount) < 0))
		return 0;
	if (rule->spend == NULL)
		units = points_numeric_to_units(rule->points, type, "points of an earn rule");
	else
	{
		Numeric		n;

		if (basis == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("amount must not be NULL: earn rule " INT64_FORMAT
							" awards points per amount spent on event \"%s\"",
							rule->id, event),
					 errhint("Pass the order's pre-tax amount.")));
		n = points_num_mul(points_num_mul(basis, rule->points),
						   points_num_mul(rule->multiplier, scale));
		units = points_num_int64(points_num_div_floor(n, rule->spend),
								 "points earned");
	}
	if (rule->max_points)
	{
		int64		cap = points_num_int64(points_num_div_floor(points_num_mul(rule->max_points,
																			   scale),
																points_num(1)),
										   "max_points");

		units = Min(units, cap);
	}
	return Max(units, 0);
}

/*
 * The enabled rules of (type, event) that apply to the customer at `at`:
 * in force then, for every tier or for the customer's, and not capped for
 * the period that contains `at` (in the type's time zone) by an earlier
 * award to the account.  The account is locked, so two earns of one
 * customer cannot both pass the cap.
 */
static int
matching_rules(const PointsType *type, const char *event, const char *tier,
			   const Account *acct, TimestampTz at, Rule **rules)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
	INT8OID, TEXTOID};
	Datum		values[6];
	char		nulls[6];
	SPITupleTable *tt;
	Rule	   *r;
	uint64		i;

#define PERIOD_START "pg_catalog.date_trunc(r.per, pg_catalog.timezone($6, $4))"
	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(type->code);
	values[1] = CStringGetTextDatum(event);
	values[2] = text_or_null(tier, &nulls[2]);
	values[3] = TimestampTzGetDatum(at);
	values[4] = Int64GetDatum(acct->id);
	values[5] = CStringGetTextDatum(type->time_zone);
	points_run(points_plan(&plan,
					"SELECT r.id, r.points, r.spend, r.min_amount, r.max_points,"
					" r.validity, r.delay, r.pending"
					" FROM points.earn_rules r"
					" WHERE r.type = $1 AND r.event = $2 AND r.enabled"
					" AND (r.tier IS NULL OR r.tier = $3)"
					" AND (r.starts_at IS NULL OR r.starts_at <= $4)"
					" AND (r.ends_at IS NULL OR $4 < r.ends_at)"
					" AND (r.per IS NULL OR NOT EXISTS ("
					"   SELECT 1 FROM points.earnings e"
					"   WHERE e.account_id = $5 AND e.rule_id = r.id"
					"   AND (r.per = 'ever' OR ("
					"     e.at >= pg_catalog.timezone($6, " PERIOD_START ")"
					"     AND e.at < pg_catalog.timezone($6, " PERIOD_START " + CASE r.per"
					"       WHEN 'day' THEN '1 day'::pg_catalog.interval"
					"       WHEN 'week' THEN '1 week'::pg_catalog.interval"
					"       WHEN 'month' THEN '1 month'::pg_catalog.interval"
					"       ELSE '1 year'::pg_catalog.interval END)))))"
					" ORDER BY r.id",
					6, argtypes),
		values, nulls, SPI_OK_SELECT);
	tt = SPI_tuptable;
	r = palloc0(Max(SPI_processed, 1) * sizeof(Rule));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d;

		r[i].id = DatumGetInt64(col(tt, i, 1, &isnull));
		r[i].points = col_numeric(tt, i, 2);
		r[i].spend = col_numeric(tt, i, 3);
		r[i].min_amount = col_numeric(tt, i, 4);
		r[i].max_points = col_numeric(tt, i, 5);
		d = col(tt, i, 6, &isnull);
		r[i].has_validity = !isnull;
		if (!isnull)
			r[i].validity = *DatumGetIntervalP(d);
		d = col(tt, i, 7, &isnull);
		r[i].has_delay = !isnull;
		if (!isnull)
			r[i].delay = *DatumGetIntervalP(d);
		r[i].pending = DatumGetBool(col(tt, i, 8, &isnull));
	}
	*rules = r;
	return (int) SPI_processed;
}

/* Whether (type, event) has any enabled rule at all (cached with the type). */
static bool
event_has_rules(const PointsType *type, const char *event)
{
	int			i;

	for (i = 0; i < type->n_earn_events; i++)
		if (strcmp(type->earn_events[i], event) == 0)
			return true;
	return false;
}

/* Record what one rule awarded, with the rate in force. */
static void
record_earning(const PointsType *type, const char *customer,
			   const Account *acct, int64 lot_id, const Rule *rule,
			   const char *event, Numeric amount, Numeric excluded,
			   Numeric basis, const char *tier, TimestampTz at)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID,
		TEXTOID, NUMERICOID, NUMERICOID, NUMERICOID, NUMERICOID, NUMERICOID,
	NUMERICOID, NUMERICOID, NUMERICOID, TEXTOID, NUMERICOID, TIMESTAMPTZOID};
	Datum		values[17];
	char		nulls[17];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(lot_id);
	values[1] = Int64GetDatum(acct->id);
	values[2] = CStringGetTextDatum(type->code);
	values[3] = CStringGetTextDatum(customer);
	values[4] = Int64GetDatum(rule->id);
	values[5] = CStringGetTextDatum(event);
	values[6] = numeric_or_null(amount, &nulls[6]);
	values[7] = NumericGetDatum(excluded);
	values[8] = numeric_or_null(basis, &nulls[8]);
	values[9] = NumericGetDatum(rule->points);
	values[10] = numeric_or_null(rule->spend, &nulls[10]);
	values[11] = numeric_or_null(rule->min_amount, &nulls[11]);
	values[12] = numeric_or_null(rule->max_points, &nulls[12]);
	values[13] = NumericGetDatum(rule->multiplier);
	values[14] = text_or_null(tier, &nulls[14]);
	values[15] = NumericGetDatum(points_units_to_numeric(rule->award, type->scale));
	values[16] = TimestampTzGetDatum(at);
	points_run(points_plan(&plan,
					"INSERT INTO points.earnings (lot_id, account_id, type, customer,"
					" rule_id, event, amount, excluded, basis, rate_points, rate_spend,"
					" min_amount, max_points, multiplier, tier, points, at)"
					" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
					" $14, $15, $16, $17)",
					17, argtypes),
		values, nulls, SPI_OK_INSERT);
}

/*
 * points.earn(type, customer, event, amount, ref, at, pending, exclude,
 *			   note) returns bigint
 *		Apply the enabled earn rules of an event.  The awards of every rule
 *		that applies are summed into one grant (reason: the event), whose id
 *		is returned; NULL when nothing was earned.  On a disabled type
 *		nothing is earned.
 */
PG_FUNCTION_INFO_V1(points_earn);
Datum
points_earn(PG_FUNCTION_ARGS)
{
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *customer = points_arg_key(fcinfo, 1, "customer", true);
	char	   *event = points_arg_key(fcinfo, 2, "event", true);
	Numeric		amount = points_arg_money(fcinfo, 3, "amount", false);
	char	   *ref = points_arg_key(fcinfo, 4, "ref", false);
	TimestampTz at = points_arg_time(fcinfo, 5, "at");
	Numeric		excluded = points_arg_money(fcinfo, 7, "exclude", true);
	char	   *note = points_arg_note(fcinfo, 8);
	Numeric		basis = NULL;
	PointsType *type;
	int64		lot_id = 0;
	const char *args[6];

	if (excluded == NULL)
		excluded = points_num(0);
	if (amount)
	{
		if (points_num_cmp(excluded, amount) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("exclude %s is more than the amount %s",
							points_num_text_out(excluded), points_num_text_out(amount))));
		basis = points_num_sub(amount, excluded);
	}
	else if (points_num_sign(excluded) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("exclude %s needs an amount to exclude it from",
						points_num_text_out(excluded))));

	SPI_connect();
	type = points_load_type(code);
	/* a disabled type earns nothing; so does an event without rules */
	if (!type->enabled || !event_has_rules(type, event))
	{
		SPI_finish();
		PG_RETURN_NULL();
	}

	args[0] = customer;
	args[1] = event;
	args[2] = normalized(amount);
	args[3] = normalized(excluded);
	args[4] = PG_ARGISNULL(6) ? NULL : PG_GETARG_BOOL(6) ? "pending" : "active";
	args[5] = note;
	points_write_begin();
	if (!points_request_begin(type, "earn", ref, customer,
							  points_request_args(6, args), &lot_id))
	{
		Account		acct;
		CustomerTier tier;
		Rule	   *rules;
		int			nrules;
		int			i;
		int64		total = 0;
		bool		pending = false;
		const Interval *validity = NULL;
		TimestampTz available_at = at;
		TimestampTz expires_at = DT_NOBEGIN;
		Numeric		multiplier;

		points_lock_or_create_account(type, customer, at, &acct);
		points_customer_tier(type, customer, &acct, at, &tier);
		multiplier = points_num_mul(tier.tier_multiplier, tier.personal_multiplier);
		nrules = matching_rules(type, event, tier.code, &acct, at, &rules);

		for (i = 0; i < nrules; i++)
		{
			Rule	   *r = &rules[i];

			r->multiplier = r->spend ? multiplier : points_num(1);
			r->award = rule_award(type, r, basis, event);
			if (r->award == 0)
				continue;
			total = points_add(total, r->award);
			pending |= r->pending;
			if (r->has_delay)
			{
				TimestampTz vest = local_plus(type, at, &r->delay);

				if (vest > available_at)
					available_at = vest;
			}
		}

		if (total > 0)
		{
			EntryRow	row = {0};

			if (!PG_ARGISNULL(6))
				pending = PG_GETARG_BOOL(6);
			/* the latest expiry any awarding rule gives */
			for (i = 0; i < nrules; i++)
			{
				PointsType	policy = *type;
				TimestampTz e;

				if (rules[i].award == 0)
					continue;
				if (rules[i].has_validity)
				{
					policy.has_validity = true;
					policy.validity = rules[i].validity;
				}
				e = points_expiry(&policy, available_at);
				if (e > expires_at)
				{
					/* kept on the grant: a confirmation restarts it */
					expires_at = e;
					validity = rules[i].has_validity ? &rules[i].validity : NULL;
				}
			}

			row.kind = pending ? "pending" : "grant";
			row.at = at;
			row.ref = ref;
			row.note = note;
			(void) points_credit(type, customer, &acct, total, event, &row,
								 available_at, expires_at, false, validity,
								 pending, true, &lot_id);
			for (i = 0; i < nrules; i++)
				if (rules[i].award > 0)
					record_earning(type, customer, &acct, lot_id, &rules[i],
								   event, amount, excluded, basis, tier.code, at);
		}
		points_request_end(type, "earn", ref, lot_id);
	}
	points_write_end();
	SPI_finish();
	if (lot_id == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(lot_id);
}

/* ---------------------------------------------------------------------
 * Clawback
 * --------------------------------------------------------------------- */

/*
 * points.clawback(grant_id, refunded, ref, note, at, policy) returns bigint
 *		An order that earned grant_id was refunded, in full (refunded NULL)
 *		or in part (refunded: the part of the eligible amount given back,
 *		cumulative over calls).  Each rule that awarded the grant is applied
 *		again, at the rate recorded then, to the eligible amount that is
 *		left; the difference from what it awarded is what the refunds took
 *		back.  The grant is revoked (points.revoke(), under `policy` or the
 *		type's) by that total less what was already revoked from it.
 *		Returns the revoke entry, or NULL when nothing more is due.
 */
PG_FUNCTION_INFO_V1(points_clawback);
Datum
points_clawback(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr earnings_plan = NULL;
	static SPIPlanPtr update_plan = NULL;
	static SPIPlanPtr revoke_plan = NULL;
	static const Oid earnings_types[] = {INT8OID};
	static const Oid update_types[] = {INT8OID, NUMERICOID, NUMERICOID};
	static const Oid revoke_types[] = {INT8OID, NUMERICOID, TEXTOID, TEXTOID,
	TEXTOID, TIMESTAMPTZOID};
	int64		lot_id = points_arg_id(fcinfo, 0, "grant_id");
	Numeric		refunded = points_arg_money(fcinfo, 1, "refunded", false);
	char	   *ref = points_arg_key(fcinfo, 2, "ref", false);
	char	   *note = points_arg_note(fcinfo, 3);
	TimestampTz at = points_arg_time(fcinfo, 4, "at");
	char	   *policy = points_arg_key(fcinfo, 5, "policy", false);
	PointsType *type;
	char	   *code;
	char	   *customer;
	int64		entry_id = 0;
	const char *args[4];
	char		idbuf[32];

	if (refunded && points_num_sign(refunded) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refunded must be positive, got %s", points_num_text_out(refunded))));
	if (policy)
		(void) points_parse_clawback(policy);

	SPI_connect();
	points_find_lot(lot_id, &code, &customer);
	type = points_load_type(code);

	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, lot_id);
	args[0] = idbuf;
	args[1] = normalized(refunded);
	args[2] = policy;
	args[3] = note;
	points_write_begin();
	if (!points_request_begin(type, "clawback", ref, customer,
							  points_request_args(4, args), &entry_id))
	{
		Account		acct;
		Lot			lot;
		SPITupleTable *tt;
		Numeric		basis;
		Numeric		before;
		Numeric		total_refunded;
		Numeric		left = NULL;
		bool		full;
		int64		target = 0;
		int64		due;
		uint64		n;
		uint64		i;
		Datum		values[6];
		char		nulls[6];
		int64	   *ids;
		Numeric    *taken;

		if (!points_lock_account(type, customer, at, &acct))
			elog(ERROR, "points: account of grant " INT64_FORMAT " vanished", lot_id);
		values[0] = Int64GetDatum(lot_id);
		points_run(points_plan(&earnings_plan,
						"SELECT id, basis, rate_points, rate_spend, min_amount,"
						" max_points, multiplier, points, refunded, event"
						" FROM points.earnings WHERE lot_id = $1 ORDER BY id",
						1, earnings_types),
			values, NULL, SPI_OK_SELECT);
		tt = SPI_tuptable;
		n = SPI_processed;
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("grant " INT64_FORMAT " was not awarded by earn()", lot_id),
					 errhint("Claw back other grants with points.revoke().")));

		/* every rule of one earn shares its eligible amount */
		basis = col_numeric(tt, 0, 2);
		before = col_numeric(tt, 0, 9);
		if (refunded && basis == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("grant " INT64_FORMAT " was earned without an amount: it can only be clawed back whole",
							lot_id),
					 errhint("Pass refunded => NULL.")));
		if (refunded == NULL)
			total_refunded = basis ? basis : points_num(0);
		else
		{
			total_refunded = points_num_add(before, refunded);
			if (points_num_cmp(total_refunded, basis) > 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("cannot refund %s more of grant " INT64_FORMAT
								": it was earned on %s, of which %s is already refunded",
								points_num_text_out(refunded), lot_id,
								points_num_text_out(basis), points_num_text_out(before))));
		}
		full = refunded == NULL || points_num_cmp(total_refunded, basis) == 0;
		if (!full)
			left = points_num_sub(basis, total_refunded);

		ids = palloc(n * sizeof(int64));
		taken = palloc(n * sizeof(Numeric));
		for (i = 0; i < n; i++)
		{
			Rule		rule = {0};
			bool		isnull;
			int64		awarded;
			int64		keeps = 0;

			ids[i] = DatumGetInt64(col(tt, i, 1, &isnull));
			rule.points = col_numeric(tt, i, 3);
			rule.spend = col_numeric(tt, i, 4);
			rule.min_amount = col_numeric(tt, i, 5);
			rule.max_points = col_numeric(tt, i, 6);
			rule.multiplier = col_numeric(tt, i, 7);
			rule.id = ids[i];
			awarded = points_numeric_to_units(col_numeric(tt, i, 8), type,
											  "points earned");
			if (!full)
				keeps = Min(rule_award(type, &rule, left,
									   SPI_getvalue(tt->vals[i], tt->tupdesc, 10)),
							awarded);
			taken[i] = points_units_to_numeric(awarded - keeps, type->scale);
			target = points_add(target, awarded - keeps);
		}

		points_read_lot(lot_id, &lot);
		/* points that expired from the grant were never spent: not owed */
		due = Max(Min(target - lot.revoked,
					  lot.amount - lot.revoked -
					  (lot.pending ? 0 : points_lapsed_points(lot_id))), 0);
		if (lot.pending && due > 0 && due != lot.amount - lot.revoked)
			ereport(ERROR,
					(errcode(ERRCODE_POINTS_WRONG_STATE),
					 errmsg("grant " INT64_FORMAT " is pending: it cannot be clawed back in part",
							lot_id),
					 errhint("A pending grant is voided whole: claw it back with refunded => NULL, or confirm it first.")));

		for (i = 0; i < n; i++)
		{
			values[0] = Int64GetDatum(ids[i]);
			values[1] = NumericGetDatum(total_refunded);
			values[2] = NumericGetDatum(taken[i]);
			points_run(points_plan(&update_plan,
							"UPDATE points.earnings SET refunded = $2, clawed_back = $3"
							" WHERE id = $1",
							3, update_types),
				values, NULL, SPI_OK_UPDATE);
		}

		if (due > 0)
		{
			bool		isnull;

			memset(nulls, ' ', sizeof(nulls));
			values[0] = Int64GetDatum(lot_id);
			values[1] = NumericGetDatum(points_units_to_numeric(due, type->scale));
			values[2] = text_or_null(policy, &nulls[2]);
			values[3] = text_or_null(ref, &nulls[3]);
			values[4] = text_or_null(note, &nulls[4]);
			values[5] = TimestampTzGetDatum(at);
			points_run(points_plan(&revoke_plan,
							"SELECT points.revoke($1, $2, $3, $4, $5, $6)",
							6, revoke_types),
				values, nulls, SPI_OK_SELECT);
			entry_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
		}
		points_request_end(type, "clawback", ref, entry_id);
	}
	points_write_end();
	SPI_finish();
	if (entry_id == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(entry_id);
}
