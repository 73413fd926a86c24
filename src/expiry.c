/*
 * expiry.c
 *		Time math of grants: expiry computed once at grant time from the
 *		type's validity, rounded up to the end of a calendar period in the
 *		type's time zone.
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "points.h"

ExpiryRounding
points_parse_rounding(const char *s)
{
	if (strcmp(s, "none") == 0)
		return ROUND_NONE;
	if (strcmp(s, "day") == 0)
		return ROUND_DAY;
	if (strcmp(s, "week") == 0)
		return ROUND_WEEK;
	if (strcmp(s, "month") == 0)
		return ROUND_MONTH;
	if (strcmp(s, "year") == 0)
		return ROUND_YEAR;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("expiry_rounding \"%s\" is not valid", s),
			 errhint("Use none, day, week, month or year.")));
	return ROUND_NONE;			/* keep compiler quiet */
}

bool
points_valid_time_zone(const char *zone)
{
	return pg_tzset(zone) != NULL;
}

/*
 * An interval usable as a validity, timeout or delay: no negative part, not
 * zero, and no part longer than POINTS_MAX_YEARS (beyond that every grant
 * would fail with a timestamp out of range).
 */
bool
points_interval_positive(const Interval *iv)
{
	if (iv->month < 0 || iv->day < 0 || iv->time < 0)
		return false;
	if (iv->month > POINTS_MAX_YEARS * MONTHS_PER_YEAR ||
		iv->day > POINTS_MAX_YEARS * DAYS_PER_YEAR ||
		iv->time > POINTS_MAX_YEARS * DAYS_PER_YEAR * USECS_PER_DAY)
		return false;
	return iv->month > 0 || iv->day > 0 || iv->time > 0;
}

/*
 * `from` plus `iv` the way timestamptz + interval does it with TimeZone set
 * to the type's zone: months and days on the local calendar (so "6 months"
 * means six calendar months there and a day keeps its wall-clock time
 * across DST changes), then the time part as elapsed time.
 */
static TimestampTz
add_in_zone(Datum zone, TimestampTz from, const Interval *iv)
{
	Interval	calendar = {0, iv->day, iv->month};
	Datum		local;
	TimestampTz result;

	local = DirectFunctionCall2(timestamptz_zone, zone, TimestampTzGetDatum(from));
	local = DirectFunctionCall2(timestamp_pl_interval, local,
								IntervalPGetDatum(&calendar));
	result = DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, zone, local));
	if (pg_add_s64_overflow(result, iv->time, &result) || !IS_VALID_TIMESTAMP(result))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return result;
}

/* The time an account without activity since `from` goes inactive. */
TimestampTz
points_inactive_at(const PointsType *type, TimestampTz from)
{
	Datum		zone;

	if (!type->has_inactivity)
		return DT_NOEND;
	zone = CStringGetTextDatum(type->time_zone);
	return add_in_zone(zone, from, &type->inactivity);
}

/*
 * The expiry of points that become valid at `from` under the type's policy:
 * infinity without a validity; otherwise from + validity in the type's time
 * zone (add_in_zone), then moved to the end of the local day, week (ISO:
 * weeks end on Sunday), month or year that contains it.
 */
TimestampTz
points_expiry(const PointsType *type, TimestampTz from)
{
	Datum		zone;
	Datum		local;
	TimestampTz expiry;
	const char *unit = NULL;
	Interval	step = {0, 0, 0};

	if (!type->has_validity)
		return DT_NOEND;

	zone = CStringGetTextDatum(type->time_zone);
	expiry = add_in_zone(zone, from, &type->validity);
	switch (type->rounding)
	{
		case ROUND_NONE:
			break;
		case ROUND_DAY:
			unit = "day";
			step.day = 1;
			break;
		case ROUND_WEEK:
			unit = "week";
			step.day = 7;
			break;
		case ROUND_MONTH:
			unit = "month";
			step.month = 1;
			break;
		case ROUND_YEAR:
			unit = "year";
			step.month = 12;
			break;
	}
	if (unit == NULL)
		return expiry;
	local = DirectFunctionCall2(timestamptz_zone, zone, TimestampTzGetDatum(expiry));
	local = DirectFunctionCall2(timestamp_trunc, CStringGetTextDatum(unit), local);
	local = DirectFunctionCall2(timestamp_pl_interval, local, IntervalPGetDatum(&step));
	return DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, zone, local));
}
