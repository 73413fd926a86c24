/*
 * amount.c
 *		Exact amounts: conversion between numeric (points, as users see them)
 *		and bigint units of 10^-scale (as the ledger stores them), checked
 *		64-bit arithmetic, and format().
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

#include "points.h"

static const int64 pow10_table[POINTS_MAX_SCALE + 1] = {1, 10, 100, 1000, 10000};

/*
 * Convert a user's amount to units of the type's scale.  An amount with more
 * decimals than the scale is an error (22023), never rounded; one that does
 * not fit in 64 bits is 22003.
 */
int64
points_numeric_to_units(Numeric num, const PointsType *type, const char *what)
{
	Datum		scaled;
	Datum		truncated;
	char	   *shown;

	if (numeric_is_nan(num))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a number, not NaN", what)));
	shown = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
	if (numeric_is_inf(num))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s %s is out of range", what, shown)));

	scaled = DirectFunctionCall2(numeric_mul, NumericGetDatum(num),
								 NumericGetDatum(int64_to_numeric(pow10_table[type->scale])));
	truncated = DirectFunctionCall2(numeric_trunc, scaled, Int32GetDatum(0));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, scaled, truncated)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s has more decimal places than point type \"%s\" allows (%d)",
						what, shown, type->code, type->scale),
				 errhint("Amounts are exact: round them in the application before passing them.")));

	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, scaled,
										  NumericGetDatum(int64_to_numeric(PG_INT64_MAX)))) > 0 ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, scaled,
										  NumericGetDatum(int64_to_numeric(PG_INT64_MIN + 1)))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s %s is out of range for point type \"%s\"",
						what, shown, type->code)));

	return DatumGetInt64(DirectFunctionCall1(numeric_int8, scaled));
}

Numeric
points_units_to_numeric(int64 units, int scale)
{
	return int64_div_fast_to_numeric(units, scale);
}

char *
points_units_to_cstring(int64 units, int scale)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out,
											   NumericGetDatum(points_units_to_numeric(units, scale))));
}

int64
points_add(int64 a, int64 b)
{
	int64		r;

	if (pg_add_s64_overflow(a, b, &r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("points total out of range")));
	return r;
}

int64
points_sub(int64 a, int64 b)
{
	int64		r;

	if (pg_sub_s64_overflow(a, b, &r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("points total out of range")));
	return r;
}

/*
 * points.from_units(units bigint, scale int) returns numeric
 *		The views' conversion of stored units to points.
 */
PG_FUNCTION_INFO_V1(points_from_units);
Datum
points_from_units(PG_FUNCTION_ARGS)
{
	int64		units = PG_GETARG_INT64(0);
	int32		scale = PG_GETARG_INT32(1);

	if (scale < 0 || scale > POINTS_MAX_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scale %d is out of range 0 to %d", scale, POINTS_MAX_SCALE)));
	PG_RETURN_NUMERIC(points_units_to_numeric(units, scale));
}
