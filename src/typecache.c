/*
 * typecache.c
 *		Point types, loaded from points.types and cached per backend.
 *
 * Every operation needs its type's settings; reading points.types each time
 * costs a statement.  Whether the type has tiers and customer settings,
 * and the events with an enabled earn rule, are cached with them, so that
 * reads and awards of a type without tiers or settings run no query for
 * them, and earn() of an event without rules none at all.  The cache is
 * invalidated through the relcache: a statement trigger on points.types,
 * points.tiers, points.customers and points.earn_rules
 * (points_types_changed) queues a relcache invalidation of the table, which
 * every backend receives when the change commits (and the changing backend
 * at once).  Invalidation only marks the cache stale, since it can arrive in
 * the middle of an operation (while a lock is taken); the cache is rebuilt
 * by the next lookup, which first takes in the invalidations that have
 * arrived (so that a call sees the changes committed before it began, but
 * for the instant between a commit becoming visible and its invalidation
 * being sent, which the catalog caches close with locks that configuration
 * changes here do not take), and lookups hand out copies.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "points.h"

typedef struct TypeCacheEntry
{
	char		code[NAMEDATALEN * 2];	/* hash key; longer codes are not cached */
	PointsType	type;
} TypeCacheEntry;

static MemoryContext cache_cxt = NULL;
static HTAB *cache = NULL;
static bool cache_stale = true;
/* the tables whose changes invalidate the cache */
static const char *const watched_names[] = {"types", "tiers", "customers", "earn_rules"};
static Oid	watched[lengthof(watched_names)];

static void
types_invalidated(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < (int) lengthof(watched); i++)
		if (relid == InvalidOid || relid == watched[i])
		{
			cache_stale = true;
			/* the extension may have been recreated */
			memset(watched, 0, sizeof(watched));
			return;
		}
}

void
points_typecache_init(void)
{
	CacheRegisterRelcacheCallback(types_invalidated, (Datum) 0);
}

static void
reset_cache(void)
{
	HASHCTL		ctl;
	int			i;

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "points type cache",
										  ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(cache_cxt);
	ctl.keysize = sizeof(((TypeCacheEntry *) 0)->code);
	ctl.entrysize = sizeof(TypeCacheEntry);
	ctl.hcxt = cache_cxt;
	cache = hash_create("points types", 16, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (i = 0; i < (int) lengthof(watched); i++)
		watched[i] = get_relname_relid(watched_names[i],
									   get_namespace_oid("points", false));
	cache_stale = false;
}

static char *
col_text(int column)
{
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column);
}

static Datum
col(int column, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, isnull);
}

/* A copy of a numeric in `cxt`; NULL stays NULL. */
static Numeric
copy_numeric(Numeric n, MemoryContext cxt)
{
	Numeric		copy;

	if (n == NULL)
		return NULL;
	copy = MemoryContextAlloc(cxt, VARSIZE(n));
	memcpy(copy, n, VARSIZE(n));
	return copy;
}

static char *
copy_string(const char *s, MemoryContext cxt)
{
	return s ? MemoryContextStrdup(cxt, s) : NULL;
}

/* Read one type from points.types into *t (strings palloc'd by SPI). */
static void
read_type(const char *code, PointsType *t)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	Datum		d;

	values[0] = CStringGetTextDatum(code);
	if (points_execute(points_plan(&plan,
								   "SELECT code, name, name_plural, scale, validity, expiry_rounding,"
								   " time_zone, consume_order, enabled, hold_timeout, clawback_policy,"
								   " inactivity,"
								   " EXISTS (SELECT FROM points.tiers r WHERE r.type = t.code),"
								   " redeem_points, redeem_value, currency, tax_payable,"
								   " min_redeem_points, max_redeem_points,"
								   " ARRAY(SELECT DISTINCT r.event FROM points.earn_rules r"
								   "       WHERE r.type = t.code AND r.enabled),"
								   " EXISTS (SELECT FROM points.customers c WHERE c.type = t.code)"
								   " FROM points.types t WHERE code = $1",
								   1, argtypes),
					   values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "points: type lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("point type \"%s\" does not exist", code),
				 errhint("Point types are rows of points.types.")));

	memset(t, 0, sizeof(PointsType));
	t->code = col_text(1);
	t->name = col_text(2);
	t->name_plural = col_text(3);
	t->scale = DatumGetInt32(col(4, &isnull));
	d = col(5, &isnull);
	t->has_validity = !isnull;
	if (!isnull)
		t->validity = *DatumGetIntervalP(d);
	t->rounding = points_parse_rounding(col_text(6));
	t->time_zone = col_text(7);
	t->consume_order = strcmp(col_text(8), "fifo") == 0 ? CONSUME_FIFO : CONSUME_EXPIRY;
	t->enabled = DatumGetBool(col(9, &isnull));
	t->hold_timeout = *DatumGetIntervalP(col(10, &isnull));
	t->clawback_policy = points_parse_clawback(col_text(11));
	d = col(12, &isnull);
	t->has_inactivity = !isnull;
	if (!isnull)
		t->inactivity = *DatumGetIntervalP(d);
	t->has_tiers = DatumGetBool(col(13, &isnull));
	t->redeem_points = points_col_numeric(0, 14);
	t->redeem_value = points_col_numeric(0, 15);
	t->currency = col_text(16);
	t->tax_payable = DatumGetBool(col(17, &isnull));
	t->min_redeem_points = points_col_numeric(0, 18);
	t->max_redeem_points = points_col_numeric(0, 19);
	{
		Datum	   *events;
		int			i;

		deconstruct_array(DatumGetArrayTypeP(col(20, &isnull)), TEXTOID, -1,
						  false, TYPALIGN_INT, &events, NULL, &t->n_earn_events);
		t->earn_events = palloc(Max(t->n_earn_events, 1) * sizeof(char *));
		for (i = 0; i < t->n_earn_events; i++)
			t->earn_events[i] = TextDatumGetCString(events[i]);
	}
	t->has_settings = DatumGetBool(col(21, &isnull));
}

/* A copy of `t` whose strings live in `cxt`. */
static PointsType *
copy_type(const PointsType *t, MemoryContext cxt, PointsType *into)
{
	int			i;

	if (into == NULL)
		into = MemoryContextAlloc(cxt, sizeof(PointsType));
	*into = *t;
	into->code = MemoryContextStrdup(cxt, t->code);
	into->name = MemoryContextStrdup(cxt, t->name);
	into->name_plural = MemoryContextStrdup(cxt, t->name_plural);
	into->time_zone = MemoryContextStrdup(cxt, t->time_zone);
	into->redeem_points = copy_numeric(t->redeem_points, cxt);
	into->redeem_value = copy_numeric(t->redeem_value, cxt);
	into->currency = copy_string(t->currency, cxt);
	into->min_redeem_points = copy_numeric(t->min_redeem_points, cxt);
	into->max_redeem_points = copy_numeric(t->max_redeem_points, cxt);
	into->earn_events = MemoryContextAlloc(cxt, Max(t->n_earn_events, 1) * sizeof(char *));
	for (i = 0; i < t->n_earn_events; i++)
		into->earn_events[i] = MemoryContextStrdup(cxt, t->earn_events[i]);
	return into;
}

/*
 * The settings of point type `code` (42704 when there is none), as a copy
 * the caller may keep for the rest of the operation.  Called inside SPI.
 */
PointsType *
points_load_type(const char *code)
{
	TypeCacheEntry *entry;
	PointsType	loaded;
	bool		found;

	AcceptInvalidationMessages();
	if (cache_stale || cache == NULL)
		reset_cache();
	if (strlen(code) >= sizeof(entry->code))
	{
		read_type(code, &loaded);
		return copy_type(&loaded, CurrentMemoryContext, NULL);
	}
	entry = hash_search(cache, code, HASH_FIND, &found);
	if (!found)
	{
		read_type(code, &loaded);
		/* the read may have processed an invalidation: start over */
		if (cache_stale)
			reset_cache();
		entry = hash_search(cache, code, HASH_ENTER, &found);
		copy_type(&loaded, cache_cxt, &entry->type);
	}
	return copy_type(&entry->type, CurrentMemoryContext, NULL);
}

/*
 * points.types_changed(): AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
 * (statement) on points.types, points.tiers, points.customers and
 * points.earn_rules.  Tells every backend to drop its cached types when this
 * transaction commits.
 */
PG_FUNCTION_INFO_V1(points_types_changed);
Datum
points_types_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("points_types_changed: not called by trigger manager")));
	td = (TriggerData *) fcinfo->context;
	CacheInvalidateRelcache(td->tg_relation);
	return PointerGetDatum(NULL);
}
