/*
 * lifecycle.c
 *		The order lifecycle: holds with capture and release, refunds,
 *		clawback of grants (revoke) under the reject/partial/debt policies,
 *		confirmation of pending grants, and transfers between customers.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "points.h"

typedef struct Hold
{
	int64		id;
	char	   *type_code;
	char	   *customer;
	int64		amount;
	int64		captured;
	char	   *status;
	int64		entry_id;
	int64		settled_entry_id;
	TimestampTz at;
} Hold;

/* Read a hold; 42704 when there is none. */
static void
read_hold(int64 hold_id, Hold *hold)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID};
	Datum		values[1];
	bool		isnull;

	values[0] = Int64GetDatum(hold_id);
	points_run(points_plan(&plan,
					"SELECT type, customer, amount, captured, status, entry_id,"
					" settled_entry_id, at FROM points.holds WHERE id = $1",
					1, argtypes),
		values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("hold " INT64_FORMAT " does not exist", hold_id)));
	hold->id = hold_id;
	hold->type_code = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	hold->customer = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	hold->amount = points_col_int64(0, 3);
	hold->captured = points_col_int64(0, 4);
	hold->status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5);
	hold->entry_id = points_col_int64(0, 6);
	hold->settled_entry_id = points_col_int64(0, 7);
	hold->at = DatumGetTimestampTz(points_col(0, 8, &isnull));
}

static void
settle_hold(const Hold *hold, const char *status, int64 captured,
			int64 settled_entry_id, TimestampTz at)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID, TEXTOID, INT8OID, INT8OID,
	TIMESTAMPTZOID};
	Datum		values[5];

	values[0] = Int64GetDatum(hold->id);
	values[1] = CStringGetTextDatum(status);
	values[2] = Int64GetDatum(captured);
	values[3] = Int64GetDatum(settled_entry_id);
	values[4] = TimestampTzGetDatum(at);
	points_run(points_plan(&plan,
					"UPDATE points.holds SET status = $2, captured = $3,"
					" settled_entry_id = $4, resolved_at = $5 WHERE id = $1",
					5, argtypes),
		values, NULL, SPI_OK_UPDATE);
}

static void wrong_state(const char *what, int64 id, const char *state) pg_attribute_noreturn();

static void
wrong_state(const char *what, int64 id, const char *state)
{
	ereport(ERROR,
			(errcode(ERRCODE_POINTS_WRONG_STATE),
			 errmsg("%s " INT64_FORMAT " is %s", what, id, state)));
}

/*
 * points.hold(type, customer, amount, ref, until, note, at) returns bigint
 *		Reserve points for a pending order: drawn from lots in consumption
 *		order, neither spendable nor lost until captured or released.
 */
PG_FUNCTION_INFO_V1(points_hold);
Datum
points_hold(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr insert_plan = NULL;
	static const Oid insert_types[] = {INT8OID, INT8OID, TEXTOID, TEXTOID,
		INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, TEXTOID,
	TEXTOID};
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *customer = points_arg_key(fcinfo, 1, "customer", true);
	char	   *ref = points_arg_key(fcinfo, 3, "ref", false);
	char	   *note = points_arg_note(fcinfo, 5);
	TimestampTz at = points_arg_time(fcinfo, 6, "at");
	TimestampTz until;
	PointsType *type;
	int64		amount;
	int64		hold_id;
	Account		acct;
	const char *args[4];

	SPI_connect();
	type = points_load_type(code);
	amount = points_arg_amount(fcinfo, 2, "amount", type);
	points_require_enabled(type, "spend");
	if (PG_ARGISNULL(4))
		until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														TimestampTzGetDatum(at),
														IntervalPGetDatum(&type->hold_timeout)));
	else
		until = points_arg_time(fcinfo, 4, "until");
	if (until <= at)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("until %s is not after at %s",
						points_timestamp_text(until), points_timestamp_text(at))));

	args[0] = customer;
	args[1] = points_units_to_cstring(amount, type->scale);
	args[2] = PG_ARGISNULL(4) ? NULL : points_timestamp_key(until);
	args[3] = note;
	points_write_begin();
	if (!points_request_begin(type, "hold", ref, customer,
							  points_request_args(4, args), &hold_id))
	{
		EntryRow	row = {0};
		Datum		values[10];
		char		nulls[10];
		int64		entry_id;

		if (!points_lock_account(type, customer, at, &acct))
			points_insufficient(type, customer, amount, 0, "hold");
		hold_id = points_next_id("holds_id_seq");

		row.kind = "hold";
		row.held = amount;
		row.hold_id = hold_id;
		row.at = at;
		row.ref = ref;
		row.note = note;
		acct.held = points_add(acct.held, amount);
		entry_id = points_debit(type, customer, &acct, amount, &row, NULL, NULL);
		points_store_account(&acct, at);

		memset(nulls, ' ', sizeof(nulls));
		values[0] = Int64GetDatum(hold_id);
		values[1] = Int64GetDatum(acct.id);
		values[2] = CStringGetTextDatum(type->code);
		values[3] = CStringGetTextDatum(customer);
		values[4] = Int64GetDatum(amount);
		values[5] = TimestampTzGetDatum(until);
		values[6] = TimestampTzGetDatum(at);
		values[7] = Int64GetDatum(entry_id);
		values[8] = ref ? CStringGetTextDatum(ref) : (Datum) 0;
		nulls[8] = ref ? ' ' : 'n';
		values[9] = note ? CStringGetTextDatum(note) : (Datum) 0;
		nulls[9] = note ? ' ' : 'n';
		if (points_execute(points_plan(&insert_plan,
									   "INSERT INTO points.holds (id, account_id, type, customer,"
									   " amount, until, at, entry_id, ref, note)"
									   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
									   10, insert_types),
						   values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "points: hold insert failed");
		points_request_end(type, "hold", ref, hold_id);
	}
	points_write_end();
	SPI_finish();
	PG_RETURN_INT64(hold_id);
}

/*
 * Settle an open hold: spend `capture` of its points (0 for a release) and
 * give the rest back.  Returns the capture entry, or the release entry when
 * nothing is captured.
 */
static int64
settle(const PointsType *type, Account *acct, const Hold *hold, int64 capture,
	   TimestampTz at)
{
	int64		rest = hold->amount - capture;
	int64		capture_id = 0;
	int64		release_id = 0;

	acct->held = points_sub(acct->held, hold->amount);
	if (capture > 0)
	{
		EntryRow	row = {0};

		row.kind = "capture";
		row.held = -capture;
		row.hold_id = hold->id;
		row.origin_id = hold->entry_id;
		row.at = at;
		acct->spent = points_add(acct->spent, capture);
		capture_id = points_insert_entry(type, hold->customer, acct, &row);
	}
	if (rest > 0)
	{
		EntryRow	row = {0};

		row.kind = "release";
		row.held = -rest;
		row.hold_id = hold->id;
		row.at = at;
		release_id = points_return(type, hold->customer, acct, hold->entry_id,
								   rest, &row, false);
	}
	points_store_account(acct, at);
	settle_hold(hold, capture > 0 ? "captured" : "released", capture,
				capture > 0 ? capture_id : release_id, at);
	return capture > 0 ? capture_id : release_id;
}

/* Lock the hold's account, then read the hold as it is under the lock. */
static PointsType *
lock_hold(int64 hold_id, TimestampTz *at, Hold *hold, Account *acct)
{
	PointsType *type;

	read_hold(hold_id, hold);
	type = points_load_type(hold->type_code);
	if (!points_lock_account(type, hold->customer, *at, acct))
		elog(ERROR, "points: account of hold " INT64_FORMAT " vanished", hold_id);
	read_hold(hold_id, hold);
	*at = points_not_before(*at, hold->at, "hold", hold_id);
	return type;
}

/*
 * points.capture(hold_id, amount, at) returns bigint (the capture entry)
 *		Spend all (NULL) or part of an open hold; the rest goes back.  Repeating
 *		a capture with the same amount returns the same entry.
 */
PG_FUNCTION_INFO_V1(points_capture);
Datum
points_capture(PG_FUNCTION_ARGS)
{
	int64		hold_id = points_arg_id(fcinfo, 0, "hold_id");
	TimestampTz at = points_arg_time(fcinfo, 2, "at");
	PointsType *type;
	Hold		hold;
	Account		acct;
	int64		amount;
	int64		entry_id;

	SPI_connect();
	points_write_begin();
	type = lock_hold(hold_id, &at, &hold, &acct);
	amount = PG_ARGISNULL(1) ? hold.amount :
		points_arg_amount(fcinfo, 1, "amount", type);
	if (amount > hold.amount)
		ereport(ERROR,
				(errcode(ERRCODE_POINTS_INSUFFICIENT),
				 errmsg("hold " INT64_FORMAT " reserves %s %s, %s cannot be captured",
						hold_id, points_units_to_cstring(hold.amount, type->scale),
						hold.amount == 1 ? type->name : type->name_plural,
						points_units_to_cstring(amount, type->scale))));
	if (strcmp(hold.status, "captured") == 0 && hold.captured == amount)
		entry_id = hold.settled_entry_id;
	else if (strcmp(hold.status, "open") != 0)
		wrong_state("hold", hold_id, hold.status);
	else
		entry_id = settle(type, &acct, &hold, amount, at);
	points_write_end();
	SPI_finish();
	PG_RETURN_INT64(entry_id);
}

/*
 * points.release(hold_id, at) returns void
 *		Give an open hold's points back to their grants; points of grants
 *		expired meanwhile expire at once.  Releasing twice is a no-op.
 */
PG_FUNCTION_INFO_V1(points_release);
Datum
points_release(PG_FUNCTION_ARGS)
{
	int64		hold_id = points_arg_id(fcinfo, 0, "hold_id");
	TimestampTz at = points_arg_time(fcinfo, 1, "at");
	PointsType *type;
	Hold		hold;
	Account		acct;

	SPI_connect();
	points_write_begin();
	type = lock_hold(hold_id, &at, &hold, &acct);
	if (strcmp(hold.status, "captured") == 0)
		wrong_state("hold", hold_id, "captured");
	if (strcmp(hold.status, "open") == 0)
		(void) settle(type, &acct, &hold, 0, at);
	points_write_end();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * points.refund(entry_id, amount, ref, note, at, reissue) returns bigint
 *		Return spent points (a consume, capture, negative adjust) to the
 *		grants they came from, newest-drawn first.  Partial refunds add up to
 *		at most what was spent.
 */
PG_FUNCTION_INFO_V1(points_refund);
Datum
points_refund(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr entry_plan = NULL;
	static SPIPlanPtr refunded_plan = NULL;
	static const Oid argtypes[] = {INT8OID};
	int64		debit_id = points_arg_id(fcinfo, 0, "entry_id");
	char	   *ref = points_arg_key(fcinfo, 2, "ref", false);
	char	   *note = points_arg_note(fcinfo, 3);
	TimestampTz at = points_arg_time(fcinfo, 4, "at");
	bool		reissue;
	PointsType *type;
	Account		acct;
	Datum		values[1];
	char	   *code;
	char	   *customer;
	char	   *kind;
	int64		spent;
	int64		origin;
	int64		refunded;
	int64		amount;
	int64		entry_id;
	const char *args[4];
	char		idbuf[32];
	bool		isnull;

	if (PG_ARGISNULL(5))
		points_null_argument("reissue");
	reissue = PG_GETARG_BOOL(5);

	SPI_connect();
	values[0] = Int64GetDatum(debit_id);
	points_run(points_plan(&entry_plan,
					"SELECT e.type, e.customer, e.kind,"
					" ((e.amount + e.held) * -pg_catalog.power(10::numeric, t.scale))::bigint,"
					" CASE WHEN e.kind = 'capture' THEN e.origin_id ELSE e.id END, e.at"
					" FROM points.entries e JOIN points.types t ON t.code = e.type"
					" WHERE e.id = $1",
					1, argtypes),
		values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("entry " INT64_FORMAT " does not exist", debit_id)));
	code = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	customer = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	spent = points_col_int64(0, 4);
	origin = points_col_int64(0, 5);
	at = points_not_before(at, DatumGetTimestampTz(points_col(0, 6, &isnull)),
						   "entry", debit_id);
	if (strcmp(kind, "redeem") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_POINTS_WRONG_STATE),
				 errmsg("entry " INT64_FORMAT " is a redemption", debit_id),
				 errhint("Cancel the redemption with points.cancel_redemption(): it also restores the reward's stock.")));
	if (!(strcmp(kind, "consume") == 0 || strcmp(kind, "capture") == 0 ||
		  (strcmp(kind, "adjust") == 0 && spent > 0)))
		ereport(ERROR,
				(errcode(ERRCODE_POINTS_WRONG_STATE),
				 errmsg("entry " INT64_FORMAT " (%s) is not a debit that can be refunded",
						debit_id, kind),
				 errhint("Refund consume, capture or negative adjust entries.")));

	type = points_load_type(code);
	amount = PG_ARGISNULL(1) ? 0 : points_arg_amount(fcinfo, 1, "amount", type);
	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, debit_id);
	args[0] = idbuf;
	args[1] = PG_ARGISNULL(1) ? NULL : points_units_to_cstring(amount, type->scale);
	args[2] = note;
	args[3] = reissue ? "reissue" : "expire";
	points_write_begin();
	if (!points_request_begin(type, "refund", ref, customer,
							  points_request_args(4, args), &entry_id))
	{
		EntryRow	row = {0};

		if (!points_lock_account(type, customer, at, &acct))
			elog(ERROR, "points: account of entry " INT64_FORMAT " vanished", debit_id);
		values[0] = Int64GetDatum(origin);
		points_run(points_plan(&refunded_plan,
						"SELECT coalesce(sum(e.amount * pg_catalog.power(10::numeric, t.scale)), 0)::bigint"
						" FROM points.entries e JOIN points.types t ON t.code = e.type"
						" WHERE e.origin_id = $1 AND e.kind = 'refund'",
						1, argtypes),
			values, NULL, SPI_OK_SELECT);
		refunded = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
		if (PG_ARGISNULL(1))
			amount = spent - refunded;
		if (amount <= 0 || amount > spent - refunded)
			ereport(ERROR,
					(errcode(ERRCODE_POINTS_WRONG_STATE),
					 errmsg("entry " INT64_FORMAT " spent %s %s, %s already refunded: %s more cannot be refunded",
							debit_id, points_units_to_cstring(spent, type->scale),
							spent == 1 ? type->name : type->name_plural,
							points_units_to_cstring(refunded, type->scale),
							points_units_to_cstring(amount, type->scale))));

		row.kind = "refund";
		row.at = at;
		row.ref = ref;
		row.note = note;
		acct.spent = points_sub(acct.spent, amount);
		entry_id = points_return(type, customer, &acct, origin, amount, &row,
								 reissue);
		points_store_account(&acct, at);
		points_request_end(type, "refund", ref, entry_id);
	}
	points_write_end();
	SPI_finish();
	PG_RETURN_INT64(entry_id);
}

/* Lock a lot's account, then read the lot as it is under the lock. */
static PointsType *
lock_lot(int64 lot_id, TimestampTz *at, Lot *lot, Account *acct, char **customer)
{
	PointsType *type;
	char	   *code;

	points_find_lot(lot_id, &code, customer);
	type = points_load_type(code);
	if (!points_lock_account(type, *customer, *at, acct))
		elog(ERROR, "points: account of grant " INT64_FORMAT " vanished", lot_id);
	points_read_lot(lot_id, lot);
	*at = points_not_before(*at, lot->at, "grant", lot_id);
	return type;
}

/* The points of a lot that lapsed (expire entries drew them). */
int64
points_lapsed_points(int64 lot_id)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {INT8OID};
	Datum		values[1];

	values[0] = Int64GetDatum(lot_id);
	points_run(points_plan(&plan,
						   "SELECT coalesce(sum(a.amount), 0)::bigint FROM points.allocations a"
						   " JOIN points.entries e ON e.id = a.entry_id"
						   " WHERE a.lot_id = $1 AND e.kind = 'expire'",
						   1, argtypes),
			   values, NULL, SPI_OK_SELECT);
	return points_col_int64(0, 1);
}

/*
 * points.revoke(grant_id, amount, policy, ref, note, at) returns bigint
 *		Claw back a grant (all that is left of it when amount is NULL; NULL
 *		when nothing is: points that expired from it are not owed).  Its
 *		remaining points go first; points the customer already spent come
 *		from the rest of the balance, and what is still missing follows the
 *		policy: reject (PT001), partial (forgiven) or debt.  A pending grant
 *		is voided.
 */
PG_FUNCTION_INFO_V1(points_revoke);
Datum
points_revoke(PG_FUNCTION_ARGS)
{
	int64		lot_id = points_arg_id(fcinfo, 0, "grant_id");
	char	   *policy_name = points_arg_key(fcinfo, 2, "policy", false);
	char	   *ref = points_arg_key(fcinfo, 3, "ref", false);
	char	   *note = points_arg_note(fcinfo, 4);
	TimestampTz at = points_arg_time(fcinfo, 5, "at");
	PointsType *type;
	ClawbackPolicy policy;
	Account		acct;
	Lot			lot;
	char	   *customer;
	int64		amount;
	int64		lapsed;
	int64		revocable;
	int64		entry_id;
	const char *args[4];
	char		idbuf[32];

	SPI_connect();
	points_write_begin();
	type = lock_lot(lot_id, &at, &lot, &acct, &customer);
	policy = policy_name ? points_parse_clawback(policy_name) : type->clawback_policy;
	amount = PG_ARGISNULL(1) ? 0 : points_arg_amount(fcinfo, 1, "amount", type);

	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, lot_id);
	args[0] = idbuf;
	args[1] = PG_ARGISNULL(1) ? NULL : points_units_to_cstring(amount, type->scale);
	args[2] = policy_name;
	args[3] = note;
	if (!points_request_begin(type, "revoke", ref, customer,
							  points_request_args(4, args), &entry_id))
	{
		EntryRow	row = {0};

		row.kind = "revoke";
		row.lot_id = lot_id;
		row.at = at;
		row.ref = ref;
		row.note = note;
		if (lot.voided)
			wrong_state("grant", lot_id, "voided");
		/* points that expired from the grant were never spent: not owed */
		lapsed = lot.pending ? 0 : points_lapsed_points(lot_id);
		revocable = lot.amount - lot.revoked - lapsed;
		if (PG_ARGISNULL(1))
			amount = revocable;
		if (PG_ARGISNULL(1) && amount == 0)
		{
			/* nothing left to claw back: all revoked or expired already */
			points_request_end(type, "revoke", ref, 0);
			points_write_end();
			SPI_finish();
			PG_RETURN_NULL();
		}
		if (amount <= 0 || amount > revocable ||
			(lot.pending && amount != lot.amount))
			ereport(ERROR,
					(errcode(ERRCODE_POINTS_WRONG_STATE),
					 errmsg("grant " INT64_FORMAT " of %s %s has %s revoked and %s expired: %s more cannot be revoked",
							lot_id, points_units_to_cstring(lot.amount, type->scale),
							lot.amount == 1 ? type->name : type->name_plural,
							points_units_to_cstring(lot.revoked, type->scale),
							points_units_to_cstring(lapsed, type->scale),
							points_units_to_cstring(amount, type->scale)),
					 lot.pending ? errhint("A pending grant is voided whole.") : 0));

		if (lot.pending)
		{
			/* void: the points were never available */
			row.kind = "void";
			row.pending = -lot.amount;
			acct.pending = points_sub(acct.pending, lot.amount);
			lot.pending = false;
			lot.voided = true;
			lot.revoked = lot.amount;
			points_store_lot(&lot, 0);
			entry_id = points_insert_entry(type, customer, &acct, &row);
		}
		else
		{
			bool		eligible = lot.available_at <= at && at < lot.expires_at;
			int64		from_lot = Min(amount, lot.remaining);
			int64		short_by = amount - from_lot;
			int64		other = points_available(&acct, at, false) -
				(eligible ? lot.remaining : 0);
			int64		from_other = Min(short_by, Max(other, 0));
			int64		missing = short_by - from_other;
			Draw		draw = {0};
			Draw	   *draws;
			int			ndraws;

			if (missing > 0 && policy == CLAWBACK_REJECT)
				points_insufficient(type, customer, amount, from_lot + Max(other, 0),
									"revoke");

			row.debt = policy == CLAWBACK_DEBT ? missing : 0;
			row.amount = -(from_lot + from_other + row.debt);
			acct.balance = points_add(acct.balance, row.amount);
			acct.debt = points_add(acct.debt, row.debt);
			if (policy == CLAWBACK_PARTIAL && missing > 0)
				row.note = psprintf("%s%sforgiven: %s", note ? note : "",
									note ? "; " : "",
									points_units_to_cstring(missing, type->scale));
			entry_id = points_insert_entry(type, customer, &acct, &row);

			lot.revoked += amount;
			if (policy == CLAWBACK_PARTIAL)
				lot.forgiven += missing;
			points_store_lot(&lot, lot.remaining);
			/* the grant itself first; it is closed before the others are drawn */
			if (from_lot > 0)
			{
				draw.lot_id = lot_id;
				draw.amount = from_lot;
				draw.expires_at = lot.expires_at;
				draw.exhausted = from_lot == lot.remaining;
				points_apply_draws(&acct, entry_id, &draw, 1, at);
			}
			if (from_other > 0)
			{
				ndraws = points_draw(type, &acct, from_other, at, &draws);
				points_apply_draws(&acct, entry_id, draws, ndraws, at);
			}
			/* a new debt takes what is still vesting */
			points_settle_debt(type, customer, &acct, at);
		}
		points_store_account(&acct, at);
		points_request_end(type, "revoke", ref, entry_id);
	}
	points_write_end();
	SPI_finish();
	if (entry_id == 0)
		PG_RETURN_NULL();		/* a replay of a revoke that found nothing */
	PG_RETURN_INT64(entry_id);
}

/*
 * points.confirm(grant_id, at) returns void
 *		Activate a pending grant.  Its validity runs from confirmation, unless
 *		it was granted with an explicit expires_at.  Confirming twice is a
 *		no-op; confirming a voided grant is PT004.
 */
PG_FUNCTION_INFO_V1(points_confirm);
Datum
points_confirm(PG_FUNCTION_ARGS)
{
	int64		lot_id = points_arg_id(fcinfo, 0, "grant_id");
	TimestampTz at = points_arg_time(fcinfo, 1, "at");
	PointsType *type;
	Account		acct;
	Lot			lot;
	char	   *customer;

	SPI_connect();
	points_write_begin();
	type = lock_lot(lot_id, &at, &lot, &acct, &customer);
	if (lot.voided)
		wrong_state("grant", lot_id, "voided");
	if (lot.pending)
	{
		EntryRow	row = {0};

		if (at > lot.available_at)
			lot.available_at = at;
		if (!lot.fixed_expiry)
		{
			PointsType	policy = *type;

			/* the validity the grant was given (an earn rule's), or the type's */
			if (lot.has_validity)
			{
				policy.has_validity = true;
				policy.validity = lot.validity;
			}
			lot.expires_at = points_expiry(&policy, lot.available_at);
		}
		if (lot.expires_at <= lot.available_at)
			ereport(ERROR,
					(errcode(ERRCODE_POINTS_WRONG_STATE),
					 errmsg("grant " INT64_FORMAT " expired at %s, before it was confirmed",
							lot_id, points_timestamp_text(lot.expires_at))));
		lot.pending = false;
		points_store_lot(&lot, lot.amount);

		acct.pending = points_sub(acct.pending, lot.amount);
		acct.balance = points_add(acct.balance, lot.amount);
		acct.earned = points_add(acct.earned, lot.amount);
		if (lot.expires_at < acct.next_expiry_at)
			acct.next_expiry_at = lot.expires_at;
		if (lot.available_at > acct.vested_at)
			acct.vested_at = lot.available_at;
		row.kind = "confirm";
		row.amount = lot.amount;
		row.pending = -lot.amount;
		row.lot_id = lot_id;
		row.at = at;
		(void) points_insert_entry(type, customer, &acct, &row);
		points_settle_debt(type, customer, &acct, at);
		points_store_account(&acct, at);
	}
	points_write_end();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * points.transfer(type, from_customer, to_customer, amount, ref, note, at)
 * returns bigint (the sender's entry)
 *		Move points; the receiver's new grants keep the expiry of the points
 *		moved.  Both accounts are locked in customer order, so A->B and B->A
 *		at once never deadlock.
 */
PG_FUNCTION_INFO_V1(points_transfer);
Datum
points_transfer(PG_FUNCTION_ARGS)
{
	char	   *code = points_arg_key(fcinfo, 0, "type", true);
	char	   *from = points_arg_key(fcinfo, 1, "from_customer", true);
	char	   *to = points_arg_key(fcinfo, 2, "to_customer", true);
	char	   *ref = points_arg_key(fcinfo, 4, "ref", false);
	char	   *note = points_arg_note(fcinfo, 5);
	TimestampTz at = points_arg_time(fcinfo, 6, "at");
	PointsType *type;
	int64		amount;
	int64		entry_id;
	Account		sender;
	Account		receiver;
	const char *args[4];
	int			pin;

	if (strcmp(from, to) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot transfer points from customer \"%s\" to itself", from)));
	SPI_connect();
	type = points_load_type(code);
	amount = points_arg_amount(fcinfo, 3, "amount", type);
	points_require_enabled(type, "transfer");

	args[0] = from;
	args[1] = to;
	args[2] = points_units_to_cstring(amount, type->scale);
	args[3] = note;
	pin = points_pin_request(ref);
	points_write_begin();
	if (!points_request_begin(type, "transfer", ref, from,
							  points_request_args(4, args), &entry_id))
	{
		EntryRow	row = {0};
		Draw	   *draws;
		int			ndraws;
		int			i;
		bool		has_sender;

		/* lock in a fixed order: the smaller customer key first */
		if (strcmp(from, to) < 0)
		{
			has_sender = points_lock_account(type, from, at, &sender);
			points_lock_or_create_account(type, to, at, &receiver);
		}
		else
		{
			points_lock_or_create_account(type, to, at, &receiver);
			has_sender = points_lock_account(type, from, at, &sender);
		}
		if (!has_sender)
			points_insufficient(type, from, amount, 0, "transfer");
		row.kind = "transfer_out";
		row.at = at;
		row.ref = ref;
		row.note = note;
		entry_id = points_debit(type, from, &sender, amount, &row, &draws, &ndraws);
		points_store_account(&sender, at);

		/* one new lot per expiry moved: the points keep their expiry */
		for (i = 0; i < ndraws;)
		{
			EntryRow	in = {0};
			int64		moved = 0;
			int64		lot_id;
			TimestampTz expires_at = draws[i].expires_at;

			for (; i < ndraws && draws[i].expires_at == expires_at; i++)
				moved += draws[i].amount;
			in.kind = "transfer_in";
			in.origin_id = entry_id;
			in.at = at;
			in.ref = ref;
			in.note = note;
			(void) points_credit(type, to, &receiver, moved, "transfer", &in,
								 at, expires_at, true, NULL, false, false, &lot_id);
		}
		points_request_end(type, "transfer", ref, entry_id);
	}
	points_write_end();
	points_unpin_search_path(pin);
	SPI_finish();
	PG_RETURN_INT64(entry_id);
}

/*
 * points.release_holds(at, batch) returns integer
 *		Release up to `batch` open holds whose until has passed by `at`, each
 *		as of its until, skipping accounts a running operation holds.  The
 *		maintenance calls it; returns how many holds were released.
 */
PG_FUNCTION_INFO_V1(points_release_holds);
Datum
points_release_holds(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr due_plan = NULL;
	static const Oid due_types[] = {TIMESTAMPTZOID, INT4OID};
	TimestampTz at = points_arg_time(fcinfo, 0, "at");
	int32		batch = points_arg_batch(fcinfo, 1);
	Datum		values[2];
	int64	   *holds;
	TimestampTz *until;
	uint64		nholds;
	uint64		i;
	int			released = 0;
	bool		isnull;

	SPI_connect();
	points_write_begin();
	/* the oldest timed-out holds of accounts no running operation holds */
	values[0] = TimestampTzGetDatum(at);
	values[1] = Int32GetDatum(batch);
	points_run(points_plan(&due_plan,
					"SELECT h.id, h.until FROM points.holds h"
					" JOIN points.accounts a ON a.id = h.account_id"
					" WHERE h.status = 'open' AND h.until <= $1"
					" ORDER BY h.until, h.id LIMIT $2"
					" FOR NO KEY UPDATE OF a SKIP LOCKED",
					2, due_types),
		values, NULL, SPI_OK_SELECT);
	nholds = SPI_processed;
	holds = palloc(Max(nholds, 1) * sizeof(int64));
	until = palloc(Max(nholds, 1) * sizeof(TimestampTz));
	for (i = 0; i < nholds; i++)
	{
		holds[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
											   SPI_tuptable->tupdesc, 1, &isnull));
		until[i] = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 2, &isnull));
	}
	for (i = 0; i < nholds; i++)
	{
		Hold		hold;
		Account		acct;
		PointsType *type = lock_hold(holds[i], &until[i], &hold, &acct);

		if (strcmp(hold.status, "open") != 0)
			continue;
		(void) settle(type, &acct, &hold, 0, until[i]);
		released++;
	}
	points_write_end();
	SPI_finish();
	PG_RETURN_INT32(released);
}
