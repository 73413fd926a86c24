/*
 * triggers.c
 *		Triggers that enforce the ledger's invariants inside the database:
 *		the journal and allocations are append-only, lots keep their amount
 *		and a remaining within [0, amount], ledger rows are written only by
 *		the extension's functions, and point types are validated.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "points.h"

static TriggerData *
trigger_data(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: not called by trigger manager", name)));
	return (TriggerData *) fcinfo->context;
}

static void
require_before(TriggerData *td, const char *name)
{
	if (!TRIGGER_FIRED_BEFORE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be fired BEFORE", name)));
}

/* The row a BEFORE trigger returns to let the operation proceed. */
static Datum
proceed(TriggerData *td)
{
	if (TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		return PointerGetDatum(td->tg_newtuple);
	return PointerGetDatum(td->tg_trigtuple);
}

/*
 * A restore: COPY into the table by its owner or a superuser, the way
 * pg_restore and psql's \copy load data.  Ledger rows may then be inserted
 * outside the extension's functions; points.verify() checks what was loaded.
 */
static bool
restoring(Relation rel)
{
	return ActivePortal != NULL &&
		ActivePortal->commandTag == CMDTAG_COPY &&
		(superuser() || pg_class_ownercheck(RelationGetRelid(rel), GetUserId()));
}

static const char *
event_name(TriggerEvent event)
{
	if (TRIGGER_FIRED_BY_INSERT(event))
		return "INSERT";
	if (TRIGGER_FIRED_BY_UPDATE(event))
		return "UPDATE";
	if (TRIGGER_FIRED_BY_DELETE(event))
		return "DELETE";
	return "TRUNCATE";
}

static void
refuse(TriggerData *td, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s on %s is not allowed: %s",
					event_name(td->tg_event),
					RelationGetRelationName(td->tg_relation), why),
			 errhint("Change the ledger through the functions of schema points; correct mistakes with new entries.")));
}

/*
 * points.guard_journal(): BEFORE INSERT OR UPDATE OR DELETE (row) and
 * BEFORE TRUNCATE (statement) on entries and allocations.  Rows are only
 * ever appended, by the extension's functions or by a restore.
 */
PG_FUNCTION_INFO_V1(points_guard_journal);
Datum
points_guard_journal(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "points_guard_journal");

	require_before(td, "points_guard_journal");
	if (!TRIGGER_FIRED_BY_INSERT(td->tg_event))
		refuse(td, "the journal is append-only");
	if (!points_writing() && !restoring(td->tg_relation))
		refuse(td, "ledger rows are written only by the points functions");
	return proceed(td);
}

/*
 * points.guard_state(): BEFORE INSERT OR UPDATE OR DELETE (row) and BEFORE
 * TRUNCATE (statement) on accounts, lots and requests.  They change only
 * through the extension's functions and are never deleted.
 */
PG_FUNCTION_INFO_V1(points_guard_state);
Datum
points_guard_state(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "points_guard_state");

	require_before(td, "points_guard_state");
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event) ||
		TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		refuse(td, "ledger rows are never removed");
	if (!points_writing() &&
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) && restoring(td->tg_relation)))
		refuse(td, "ledger rows are written only by the points functions");
	return proceed(td);
}

static int64
int64_attr(TriggerData *td, HeapTuple tuple, const char *attname)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			attnum = SPI_fnumber(desc, attname);
	bool		isnull;
	Datum		d;

	if (attnum <= 0)
		elog(ERROR, "points: column \"%s\" missing", attname);
	d = heap_getattr(tuple, attnum, desc, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * points.check_lot(): BEFORE INSERT OR UPDATE (row) on lots.  A lot's amount
 * is positive and never changes; its remaining stays within [0, amount].
 */
PG_FUNCTION_INFO_V1(points_check_lot);
Datum
points_check_lot(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "points_check_lot");
	HeapTuple	row;
	int64		amount;
	int64		remaining;

	require_before(td, "points_check_lot");
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("points_check_lot: must be fired for each row on INSERT or UPDATE")));

	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	amount = int64_attr(td, row, "amount");
	remaining = int64_attr(td, row, "remaining");
	if (amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("a grant's amount must be positive")));
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event) &&
		int64_attr(td, td->tg_trigtuple, "amount") != amount)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("a grant's amount never changes")));
	if (remaining < 0 || remaining > amount)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("a grant's remaining must stay between 0 and its amount")));
	return proceed(td);
}

static void
bad_setting(const char *code, const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("point type \"%s\": %s", code, what),
			 hint ? errhint("%s", hint) : 0));
}

static char *
text_attr(TupleDesc desc, HeapTuple row, const char *attname, bool *isnull)
{
	Datum		d = heap_getattr(row, SPI_fnumber(desc, attname), desc, isnull);

	return *isnull ? NULL : TextDatumGetCString(d);
}

/*
 * points.check_type(): BEFORE INSERT OR UPDATE (row) on types.  Validates
 * every setting (22023) and refuses a change of scale once the type has
 * accounts, since stored amounts are in units of the scale.
 */
PG_FUNCTION_INFO_V1(points_check_type);
Datum
points_check_type(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "points_check_type");
	TupleDesc	desc;
	HeapTuple	row;
	bool		isnull;
	char	   *code;
	char	   *s;
	int32		scale;
	Datum		d;
	static const char *const intervals[] = {"validity", "hold_timeout", "inactivity"};
	static const char *const numbers[] = {"redeem_points", "redeem_value",
	"min_redeem_points", "max_redeem_points"};
	size_t		i;

	require_before(td, "points_check_type");
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("points_check_type: must be fired for each row on INSERT or UPDATE")));

	desc = RelationGetDescr(td->tg_relation);
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	code = text_attr(desc, row, "code", &isnull);
	if (code == NULL || code[0] == '\0' || strlen(code) > POINTS_MAX_KEY_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a point type's code must have 1 to %d bytes",
						POINTS_MAX_KEY_LENGTH)));

	scale = DatumGetInt32(heap_getattr(row, SPI_fnumber(desc, "scale"), desc, &isnull));
	if (scale < 0 || scale > POINTS_MAX_SCALE)
		bad_setting(code, psprintf("scale %d is out of range", scale),
					"The scale is the number of decimal places, 0 to 4.");

	for (i = 0; i < lengthof(intervals); i++)
	{
		d = heap_getattr(row, SPI_fnumber(desc, intervals[i]), desc, &isnull);
		if (!isnull && !points_interval_positive(DatumGetIntervalP(d)))
			bad_setting(code,
						psprintf("%s %s is not a positive interval of at most %d years",
								 intervals[i],
								 DatumGetCString(DirectFunctionCall1(interval_out, d)),
								 POINTS_MAX_YEARS),
						NULL);
	}

	for (i = 0; i < lengthof(numbers); i++)
	{
		d = heap_getattr(row, SPI_fnumber(desc, numbers[i]), desc, &isnull);
		if (!isnull && (numeric_is_nan(DatumGetNumeric(d)) ||
						numeric_is_inf(DatumGetNumeric(d))))
			bad_setting(code, psprintf("%s must be a finite number", numbers[i]),
						NULL);
	}

	s = text_attr(desc, row, "expiry_rounding", &isnull);
	if (s != NULL)
		(void) points_parse_rounding(s);

	s = text_attr(desc, row, "time_zone", &isnull);
	if (s != NULL && !points_valid_time_zone(s))
		bad_setting(code, psprintf("time zone \"%s\" is not recognized", s),
					"Use a name from pg_timezone_names, such as Asia/Kuala_Lumpur.");

	s = text_attr(desc, row, "consume_order", &isnull);
	if (s != NULL && strcmp(s, "expiry") != 0 && strcmp(s, "fifo") != 0)
		bad_setting(code, psprintf("consume_order \"%s\" is not valid", s),
					"Use expiry or fifo.");

	s = text_attr(desc, row, "clawback_policy", &isnull);
	if (s != NULL)
		(void) points_parse_clawback(s);

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		bool		oldnull;
		int32		oldscale = DatumGetInt32(heap_getattr(td->tg_trigtuple,
														  SPI_fnumber(desc, "scale"),
														  desc, &oldnull));

		if (oldscale != scale)
		{
			static SPIPlanPtr plan = NULL;
			static const Oid argtypes[] = {TEXTOID};
			Datum		values[1];
			char	   *oldcode = text_attr(desc, td->tg_trigtuple, "code", &oldnull);

			SPI_connect();
			values[0] = CStringGetTextDatum(oldcode);
			if (points_execute(points_plan(&plan,
										   "SELECT 1 FROM points.accounts WHERE type = $1 LIMIT 1",
										   1, argtypes),
							   values, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "points: account lookup failed");
			if (SPI_processed > 0)
				bad_setting(code, "the scale of a type with accounts cannot change",
							"Stored amounts are in units of the scale; create a new type instead.");
			SPI_finish();
		}
	}
	return proceed(td);
}
