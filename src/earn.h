/*
 * earn.h
 *		Private declarations of the earning and redemption features (earn.c,
 *		redeem.c, money.c, settings.c): exact numeric helpers, currency minor
 *		units and the customer's tier.
 */
#ifndef POINTS_EARN_H
#define POINTS_EARN_H

#include "points.h"

/* money.c: exact numeric arithmetic (never float) */
extern Numeric points_num(int64 v);
extern Numeric points_num_text(const char *s);
extern Numeric points_num_add(Numeric a, Numeric b);
extern Numeric points_num_sub(Numeric a, Numeric b);
extern Numeric points_num_mul(Numeric a, Numeric b);
extern Numeric points_num_div_floor(Numeric a, Numeric b);
extern Numeric points_num_div_ceil(Numeric a, Numeric b);
extern Numeric points_num_pow10(int exponent);
extern int	points_num_cmp(Numeric a, Numeric b);
extern int	points_num_sign(Numeric a);
extern bool points_num_fits_scale(Numeric a, int scale);
extern int64 points_num_int64(Numeric integral, const char *what);
extern char *points_num_text_out(Numeric a);
extern Numeric points_arg_money(FunctionCallInfo fcinfo, int n, const char *name,
								bool required);
extern int	points_currency_exponent(const char *currency);
extern Numeric points_minor_to_money(Numeric minor, int exponent);

/* earn.c: the customer's tier */
typedef struct CustomerTier
{
	char	   *code;			/* NULL: no tier */
	bool		pinned;			/* set in points.customers, not qualified */
	Numeric		tier_multiplier;	/* 1 without a tier */
	Numeric		personal_multiplier;	/* 1 without a setting */
} CustomerTier;

extern void points_customer_tier(const PointsType *type, const char *customer,
								 const Account *acct, TimestampTz at,
								 CustomerTier *tier);

#endif							/* POINTS_EARN_H */
