/*
 * money.c
 *		Exact arithmetic for earning and redemption: thin wrappers around
 *		PostgreSQL's numeric (never float), floor and ceiling division, money
 *		arguments, and the minor unit of each ISO 4217 currency.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#include "earn.h"

Numeric
points_num(int64 v)
{
	return int64_to_numeric(v);
}

Numeric
points_num_text(const char *s)
{
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

Numeric
points_num_add(Numeric a, Numeric b)
{
	return DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(a),
											   NumericGetDatum(b)));
}

Numeric
points_num_sub(Numeric a, Numeric b)
{
	return DatumGetNumeric(DirectFunctionCall2(numeric_sub, NumericGetDatum(a),
											   NumericGetDatum(b)));
}

/* Exact: the product's scale is the sum of the factors' scales. */
Numeric
points_num_mul(Numeric a, Numeric b)
{
	return DatumGetNumeric(DirectFunctionCall2(numeric_mul, NumericGetDatum(a),
											   NumericGetDatum(b)));
}

int
points_num_cmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a),
											 NumericGetDatum(b)));
}

int
points_num_sign(Numeric a)
{
	return points_num_cmp(a, points_num(0));
}

/*
 * floor(a / b), exactly: div() truncates toward zero by exact long
 * division; step down when the quotient is negative and inexact.
 */
Numeric
points_num_div_floor(Numeric a, Numeric b)
{
	Numeric		q = DatumGetNumeric(DirectFunctionCall2(numeric_div_trunc,
														NumericGetDatum(a),
														NumericGetDatum(b)));

	if (points_num_cmp(points_num_mul(q, b), a) != 0 &&
		(points_num_sign(a) < 0) != (points_num_sign(b) < 0))
		q = points_num_sub(q, points_num(1));
	return q;
}

/* ceil(a / b), exactly. */
Numeric
points_num_div_ceil(Numeric a, Numeric b)
{
	Numeric		q = DatumGetNumeric(DirectFunctionCall2(numeric_div_trunc,
														NumericGetDatum(a),
														NumericGetDatum(b)));

	if (points_num_cmp(points_num_mul(q, b), a) != 0 &&
		(points_num_sign(a) < 0) == (points_num_sign(b) < 0))
		q = points_num_add(q, points_num(1));
	return q;
}

/* 10^exponent for exponent in [-4, 18], exactly ("0.01", "1000"). */
Numeric
points_num_pow10(int exponent)
{
	char		buf[32];

	Assert(exponent >= -4 && exponent <= 18);
	if (exponent >= 0)
		snprintf(buf, sizeof(buf), "1%.*d", exponent, 0);
	else
		snprintf(buf, sizeof(buf), "0.%0*d", -exponent, 1);
	if (exponent == 0)
		strcpy(buf, "1");
	return points_num_text(buf);
}

/* True when a has no more than `scale` decimal places. */
bool
points_num_fits_scale(Numeric a, int scale)
{
	Datum		t = DirectFunctionCall2(numeric_trunc, NumericGetDatum(a),
										Int32GetDatum(scale));

	return points_num_cmp(DatumGetNumeric(t), a) == 0;
}

/* An integral numeric as int64; 22003 when it does not fit. */
int64
points_num_int64(Numeric integral, const char *what)
{
	if (points_num_cmp(integral, points_num(PG_INT64_MAX)) > 0 ||
		points_num_cmp(integral, points_num(PG_INT64_MIN + 1)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s %s is out of range", what, points_num_text_out(integral))));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(integral)));
}

char *
points_num_text_out(Numeric a)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(a)));
}

/*
 * A money amount argument (an order's amount, subtotal, tax): a finite
 * number, not negative.  NULL is an error when required, else NULL.
 */
Numeric
points_arg_money(FunctionCallInfo fcinfo, int n, const char *name, bool required)
{
	Numeric		num;

	if (PG_ARGISNULL(n))
	{
		if (required)
			points_null_argument(name);
		return NULL;
	}
	num = PG_GETARG_NUMERIC(n);
	if (numeric_is_nan(num) || numeric_is_inf(num))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number, got %s", name,
						points_num_text_out(num))));
	if (points_num_sign(num) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative, got %s", name,
						points_num_text_out(num))));
	return num;
}

/*
 * The number of decimal places of a currency's minor unit (ISO 4217):
 * 0 for currencies without cents (JPY, KRW, ...), 3 for BHD, KWD, ...,
 * 4 for the accounting units CLF and UYW, and 2 for every other code and
 * for NULL.
 */
int
points_currency_exponent(const char *currency)
{
	static const char *const zero[] = {
		"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
		"UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"
	};
	static const char *const three[] = {
		"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"
	};
	static const char *const four[] = {"CLF", "UYW"};
	size_t		i;

	if (currency == NULL)
		return 2;
	for (i = 0; i < lengthof(zero); i++)
		if (strcmp(currency, zero[i]) == 0)
			return 0;
	for (i = 0; i < lengthof(three); i++)
		if (strcmp(currency, three[i]) == 0)
			return 3;
	for (i = 0; i < lengthof(four); i++)
		if (strcmp(currency, four[i]) == 0)
			return 4;
	return 2;
}

/* A count of minor units as money: 387 cents -> 3.87, 300 -> 3.00. */
Numeric
points_minor_to_money(Numeric minor, int exponent)
{
	return points_num_mul(minor, points_num_pow10(-exponent));
}
