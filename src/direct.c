/*
 * direct.c
 *		Writes of the ledger's hot rows without the executor: the journal
 *		entry, the grant, the allocations and the account row that every
 *		operation writes; and the index scans that find and lock them (an
 *		account, its open lots, the expiry sweep's batch).
 *
 * An INSERT or UPDATE through SPI costs an executor start and shutdown, the
 * table's row triggers (the extension's own guards, which exist to refuse
 * writers other than these functions), its generated column and CHECK
 * constraints compiled again at each statement: several times the cost of
 * the row itself.  Here a row goes through the table access method and the
 * table's indexes directly, as catalog updates do (CatalogTupleInsert), with
 * the checks of those triggers and constraints made in C by the callers.
 * The heap and indexes are written and WAL-logged exactly as the executor
 * would, so replication, logical decoding, statistics and autovacuum see
 * the same changes.
 *
 * The direct path is taken only for a table that has exactly the columns,
 * NOT NULL and CHECK constraints this version created and no triggers but
 * the extension's own.  A table that a DBA gave a trigger of their own (an
 * audit trigger, say) or a constraint is written through SQL, so that the
 * trigger fires and the constraint holds: points_table() returns NULL and
 * the caller runs its SQL statement instead.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_index.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type_d.h"
#include "commands/defrem.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "points.h"

/*
 * OIDs of the relations used here, by name in schema points, looked up once
 * and forgotten at any relcache invalidation of one of them (DROP or ALTER,
 * the extension dropped and created again) or of all.
 */
static const char *const rel_names[] = {
	"accounts", "lots", "entries", "allocations", "lots_id_seq",
	"entries_id_seq", "holds_id_seq",
	/* from here on: the indexes this version created (own_index()) */
	"accounts_pkey", "accounts_customer_type_key", "accounts_inactive",
	"lots_pkey", "lots_account", "lots_due", "entries_pkey", "entries_at",
	"entries_origin", "entries_account", "allocations_pkey", "allocations_lot"
};
#define FIRST_OWN_INDEX 7
static Oid	rel_oids[lengthof(rel_names)];
static bool rel_callback = false;

/*
 * Whether each table written here may be written directly (direct_ok()),
 * known for the table of OID verdict_relid (InvalidOid: not known).  A
 * DBA's trigger, column, constraint or index changes the table's relcache
 * entry, whose invalidation forgets it.  A verdict is kept only when no
 * invalidation arrived while it was made (inval_count unchanged).
 */
static bool direct_verdict[POINTS_ALLOCATIONS + 1];
static Oid	verdict_relid[POINTS_ALLOCATIONS + 1];
static uint64 inval_count = 0;

static void
rel_invalidated(Datum arg, Oid relid)
{
	size_t		i;

	inval_count++;
	for (i = 0; i < lengthof(verdict_relid); i++)
		if (relid == InvalidOid || relid == verdict_relid[i])
			verdict_relid[i] = InvalidOid;
	for (i = 0; i < lengthof(rel_names); i++)
		if (relid == InvalidOid || relid == rel_oids[i])
		{
			memset(rel_oids, 0, sizeof(rel_oids));
			memset(verdict_relid, 0, sizeof(verdict_relid));
			return;
		}
}

/* The OID of points.<rel_names[i]>, InvalidOid when missing. */
static Oid
rel_oid_at(size_t i)
{
	if (!OidIsValid(rel_oids[i]))
	{
		if (!rel_callback)
		{
			CacheRegisterRelcacheCallback(rel_invalidated, (Datum) 0);
			rel_callback = true;
		}
		rel_oids[i] = get_relname_relid(rel_names[i],
										get_namespace_oid("points", false));
	}
	return rel_oids[i];
}

/* The OID of points.<name> (one of rel_names), InvalidOid when missing. */
static Oid
rel_oid(const char *name)
{
	size_t		i;

	for (i = 0; i < lengthof(rel_names); i++)
		if (strcmp(name, rel_names[i]) == 0)
			break;
	Assert(i < lengthof(rel_names));
	return rel_oid_at(i);
}

/* Is `indexid` one of the indexes this version created? */
static bool
own_index(Oid indexid)
{
	size_t		i;

	StaticAssertStmt(FIRST_OWN_INDEX < lengthof(rel_names), "rel_names");
	for (i = FIRST_OWN_INDEX; i < lengthof(rel_names); i++)
		if (rel_oid_at(i) == indexid)
			return true;
	return false;
}

/* The default B-tree operator family of a built-in type, looked up once. */
static Oid
btree_family(Oid type)
{
	static Oid	types[4];
	static Oid	families[4];
	static int	n = 0;
	Oid			opclass;
	Oid			family;
	int			i;

	for (i = 0; i < n; i++)
		if (types[i] == type)
			return families[i];
	opclass = GetDefaultOpClass(type, BTREE_AM_OID);
	family = OidIsValid(opclass) ? get_opclass_family(opclass) : InvalidOid;
	if (n < (int) lengthof(types))
	{
		types[n] = type;
		families[n++] = family;
	}
	return family;
}

/*
 * May a direct read walk this index of `rel`, found by its name?  It must
 * be one the planner would use (valid, and not waiting for older snapshots
 * to go, as after CREATE INDEX over broken HOT chains), not left half-built
 * by a failed CREATE INDEX CONCURRENTLY, nor a DBA's rebuild of another
 * shape under the name: a B-tree on these key columns, in this order, each
 * ascending with its type's default operators, partial only on the column
 * `pred` (none when 0), so that the scan keys mean what they say and the
 * walk comes in the order the caller counts on.
 */
static bool
scan_index_ok(Relation rel, Relation index, const AttrNumber *keys,
			  int nkeys, AttrNumber pred)
{
	Form_pg_index form = index->rd_index;
	List	   *predicate;
	int			i;

	if (form->indrelid != RelationGetRelid(rel) || !form->indisvalid ||
		index->rd_rel->relam != BTREE_AM_OID || form->indnkeyatts != nkeys)
		return false;
	if (form->indcheckxmin &&
		!TransactionIdPrecedes(HeapTupleHeaderGetXmin(index->rd_indextuple->t_data),
							   TransactionXmin))
		return false;
	for (i = 0; i < nkeys; i++)
		if (form->indkey.values[i] != keys[i] || index->rd_indoption[i] != 0 ||
			index->rd_opfamily[i] !=
			btree_family(TupleDescAttr(RelationGetDescr(rel), keys[i] - 1)->atttypid))
			return false;
	predicate = RelationGetIndexPredicate(index);
	if (pred == 0)
		return predicate == NIL;
	return list_length(predicate) == 1 && IsA(linitial(predicate), Var) &&
		((Var *) linitial(predicate))->varattno == pred;
}

/* The key columns of the indexes the direct reads walk. */
static const AttrNumber accounts_key_cols[] = {3, 2};	/* customer, type */
static const AttrNumber accounts_pkey_cols[] = {1};	/* id */
static const AttrNumber lots_account_cols[] = {2, 12, 17, 18, 1};	/* account_id, open,
																	 * expires_at, at, id */
static const AttrNumber lots_due_cols[] = {17, 1};	/* expires_at, id */
#define LOTS_OPEN_ATTNO 12		/* lots_due's predicate: WHERE open */

/*
 * Do the relation's indexes evaluate nothing a DBA wrote?  An index of a
 * DBA's own with expressions or a predicate is left to the executor's
 * write through SQL: building and evaluating them can inline and call
 * functions, which resolve their names by the search path, and grant(),
 * consume() and transfer() pin it only around the statements they run.
 * Plain indexes of a DBA's own stay on the direct path.
 */
static bool
indexes_ok(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		ok = true;

	foreach(lc, indexes)
	{
		Oid			indexid = lfirst_oid(lc);
		HeapTuple	tuple;

		if (own_index(indexid))
			continue;
		tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for index %u", indexid);
		ok = heap_attisnull(tuple, Anum_pg_index_indexprs, NULL) &&
			heap_attisnull(tuple, Anum_pg_index_indpred, NULL);
		ReleaseSysCache(tuple);
		if (!ok)
			break;
	}
	list_free(indexes);
	return ok;
}

/* The extension's own triggers on the tables written here. */
static const char *const own_triggers[] = {
	"guard_journal", "guard_journal_truncate", "guard_state",
	"guard_state_truncate", "check_lot"
};

static bool
own_trigger(const char *name)
{
	size_t		i;

	for (i = 0; i < lengthof(own_triggers); i++)
		if (strcmp(name, own_triggers[i]) == 0)
			return true;
	return false;
}

/* The type of a column, by its letter in the tables' type strings. */
static Oid
column_type(char code)
{
	switch (code)
	{
		case 'i':
			return INT8OID;
		case 't':
			return TEXTOID;
		case 'n':
			return NUMERICOID;
		case 'T':
			return TIMESTAMPTZOID;
		case 'b':
			return BOOLOID;
		case 'v':
			return INTERVALOID;
		case 'j':
			return JSONBOID;
	}
	elog(ERROR, "points: unknown column type code '%c'", code);
	return InvalidOid;			/* keep the compiler quiet */
}

/*
 * Does the relation have exactly `columns`, in order, of the types `types`
 * (a letter each, see column_type(), no type modifier)?  The direct reads
 * and writes take each column's datum as that type: a column whose type a
 * DBA changed (ALTER COLUMN ... TYPE, a domain) is read and written through
 * SQL.
 */
static bool
columns_ok(Relation rel, const char *const *columns, const char *types,
		   int ncolumns)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	Assert(strlen(types) == ncolumns);
	if (desc->natts != ncolumns)
		return false;
	for (i = 0; i < ncolumns; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), columns[i]) != 0 ||
			att->atttypid != column_type(types[i]) || att->atttypmod != -1)
			return false;
	}
	return true;
}

/*
 * Does the relation have exactly `columns`, in order, with the NOT NULL
 * columns `notnull` ('N' each), the defaults `defaults` ('D' each) and
 * `nchecks` CHECK constraints, no rule and no triggers to fire but the
 * extension's own, and indexes that evaluate nothing a DBA wrote?  Of a
 * table whose rows are only updated
 * (`update_only`: accounts), and never in a key, triggers that do not fire
 * on UPDATE and foreign-key triggers (which act only when a key changes)
 * are no reason to go through SQL.
 */
static bool
direct_ok(Relation rel, const char *const *columns, const char *types,
		  int ncolumns, const char *notnull, const char *defaults, int nchecks,
		  bool update_only)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (!columns_ok(rel, columns, types, ncolumns) || !indexes_ok(rel))
		return false;
	/* a rule of a DBA's own is applied by the rewriter, to statements */
	if (rel->rd_rules != NULL)
		return false;

	/*
	 * The constraints this version created, and no others: a NOT NULL or
	 * CHECK constraint a DBA added is enforced by the executor's write.
	 */
	if ((desc->constr ? desc->constr->num_check : 0) != nchecks)
		return false;
	for (i = 0; i < ncolumns; i++)
		if (TupleDescAttr(desc, i)->attnotnull != (notnull[i] == 'N'))
			return false;

	/*
	 * The columns with a default (or generated) are those this version
	 * created, and none is an identity column: the direct write supplies
	 * the ids from the tables' sequences and the other values itself, where
	 * an INSERT leaves them to the table.  (A default a DBA changed to
	 * another expression is not seen here.)
	 */
	for (i = 0; i < ncolumns; i++)
		if (TupleDescAttr(desc, i)->atthasdef != (defaults[i] == 'D') ||
			TupleDescAttr(desc, i)->attidentity != '\0')
			return false;
	for (i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &rel->trigdesc->triggers[i];

		if (own_trigger(trigger->tgname))
			continue;
		if (update_only && (!TRIGGER_FOR_UPDATE(trigger->tgtype) ||
							(trigger->tgisinternal &&
							 RI_FKey_trigger_type(trigger->tgfoid) != RI_TRIGGER_NONE)))
			continue;
		return false;
	}
	return true;
}

/* The tables written directly, with the columns this version created. */
static const char *const account_columns[] = {
	"id", "type", "customer", "balance", "held", "pending", "debt", "earned",
	"spent", "expired", "next_expiry_at", "vested_at", "last_at",
	"last_activity_at", "inactive_at", "created_at"
};
static const char *const lot_columns[] = {
	"id", "account_id", "type", "customer", "amount", "remaining", "status",
	"revoked", "forgiven", "fixed_expiry", "validity", "open", "reason", "ref",
	"note", "available_at", "expires_at", "at", "recorded_at", "meta"
};
static const char *const entry_columns[] = {
	"id", "account_id", "type", "customer", "kind", "amount", "balance_after",
	"held", "pending", "debt", "lot_id", "hold_id", "origin_id", "at",
	"recorded_at", "ref", "note", "actor", "meta"
};
static const char *const allocation_columns[] = {
	"entry_id", "lot_id", "account_id", "amount", "at"
};
/*
 * Their types (column_type()): i bigint, t text, n numeric, T timestamptz,
 * b boolean, v interval, j jsonb.
 */
#define ACCOUNT_TYPES "ittiiiiiiiTTTTTT"
#define LOT_TYPES "iittiitiibvbtttTTTTj"
#define ENTRY_TYPES "iitttnnnnniiiTTtttj"
#define ALLOCATION_TYPES "iiiiT"

StaticAssertDecl(lengthof(account_columns) == POINTS_ACCOUNT_NATTS, "accounts");
StaticAssertDecl(lengthof(lot_columns) == POINTS_LOT_NATTS, "lots");
StaticAssertDecl(lengthof(entry_columns) == POINTS_ENTRY_NATTS, "entries");
StaticAssertDecl(lengthof(allocation_columns) == POINTS_ALLOCATION_NATTS, "allocations");
StaticAssertDecl(sizeof(ACCOUNT_TYPES) == POINTS_ACCOUNT_NATTS + 1, "account types");
StaticAssertDecl(sizeof(LOT_TYPES) == POINTS_LOT_NATTS + 1, "lot types");
StaticAssertDecl(sizeof(ENTRY_TYPES) == POINTS_ENTRY_NATTS + 1, "entry types");
StaticAssertDecl(sizeof(ALLOCATION_TYPES) == POINTS_ALLOCATION_NATTS + 1, "allocation types");

static const struct
{
	const char *name;
	const char *const *columns;
	const char *types;			/* by column: see column_type() */
	int			ncolumns;
	const char *notnull;		/* by column: N for NOT NULL */
	const char *defaults;		/* by column: D for a default or generated */
	int			nchecks;		/* CHECK constraints */
}			tables[] = {
	[POINTS_ACCOUNTS] = {"accounts", account_columns, ACCOUNT_TYPES,
	lengthof(account_columns), "NNNNNNNNNNNNNNNN", "D--DDDDDDDDDDDDD", 0},
	[POINTS_LOTS] = {"lots", lot_columns, LOT_TYPES,
	lengthof(lot_columns), "NNNNNNNNNN--N--NNNN-", "D------DDD-D------D-", 1},
	[POINTS_ENTRIES] = {"entries", entry_columns, ENTRY_TYPES,
	lengthof(entry_columns), "NNNNNNNNNN---NN--N-", "D------DDD----D----", 0},
	[POINTS_ALLOCATIONS] = {"allocations", allocation_columns,
	ALLOCATION_TYPES, lengthof(allocation_columns), "NNNNN",
	"-----", 1},
};

/*
 * The tables opened by the write in progress (points_write_begin/end): a
 * write that touches many rows (the expiry sweep) opens each table and its
 * indexes once.  `opened` says which entries are valid, `sql_only` which
 * tables must be written through SQL.
 */
static PointsTable open_tables[lengthof(tables)];
static bool opened[lengthof(tables)];
static bool sql_only[lengthof(tables)];

/*
 * The table `which` ready for direct writes, or NULL when it must be
 * written through SQL (a trigger, a column or an index expression of a
 * DBA's own), or when no write is in progress.
 */
PointsTable *
points_table(PointsTableId which)
{
	PointsTable *t = &open_tables[which];
	MemoryContext old;
	Oid			relid;
	Relation	rel;

	if (opened[which])
		return sql_only[which] ? NULL : t;
	if (!points_writing())
		return NULL;
	relid = rel_oid(tables[which].name);
	if (!OidIsValid(relid))
		elog(ERROR, "points: table points.%s is missing", tables[which].name);
	rel = table_open(relid, RowExclusiveLock);
	opened[which] = true;
	/* after table_open(), which takes in the invalidations that arrived */
	if (verdict_relid[which] != relid)
	{
		uint64		before = inval_count;
		bool		ok = direct_ok(rel, tables[which].columns, tables[which].types,
								   tables[which].ncolumns, tables[which].notnull,
								   tables[which].defaults, tables[which].nchecks,
								   which == POINTS_ACCOUNTS);

		if (inval_count == before)
		{
			verdict_relid[which] = relid;
			direct_verdict[which] = ok;
		}
		sql_only[which] = !ok;
	}
	else
		sql_only[which] = !direct_verdict[which];
	if (sql_only[which])
	{
		table_close(rel, NoLock);
		return NULL;
	}
	/*
	 * Until the write ends, or its transaction aborts; all of it in the
	 * EState's memory, which closing frees.
	 */
	old = MemoryContextSwitchTo(TopTransactionContext);
	memset(t, 0, sizeof(PointsTable));
	t->rel = rel;
	t->natts = tables[which].ncolumns;
	t->estate = CreateExecutorState();
	MemoryContextSwitchTo(t->estate->es_query_cxt);
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, rel, 0, NULL, 0);
	/* the indexes are opened by the first write that needs them */
	t->slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	t->old = table_slot_create(rel, NULL);
	MemoryContextSwitchTo(old);
	return t;
}

/* The write is over: close what it opened (the locks stay until commit). */
void
points_tables_close(void)
{
	size_t		i;

	for (i = 0; i < lengthof(tables); i++)
	{
		PointsTable *t = &open_tables[i];

		if (opened[i] && !sql_only[i])
		{
			ExecDropSingleTupleTableSlot(t->slot);
			ExecDropSingleTupleTableSlot(t->old);
			if (t->indexes_open)
				ExecCloseIndices(t->rri);
			FreeExecutorState(t->estate);
			table_close(t->rel, NoLock);
		}
		opened[i] = false;
	}
}

/*
 * The (sub)transaction aborted: its resource owner released the relations
 * and its memory is going; forget them.
 */
void
points_tables_forget(void)
{
	memset(opened, 0, sizeof(opened));
}

/* The next value of the sequence of points.<table>.id (a bigserial). */
int64
points_next_id(const char *seqname)
{
	Oid			seq = rel_oid(seqname);

	if (!OidIsValid(seq))
		elog(ERROR, "points: sequence points.%s is missing", seqname);
	return nextval_internal(seq, false);
}

/*
 * Whether the update that wrote t->slot, which changed the columns
 * `changed` (attribute numbers), left the key of the index `ii` as it was:
 * an index on those columns only (no expression), not partial.
 */
static bool
index_key_unchanged(IndexInfo *ii, const int16 *changed, int nchanged)
{
	int			k;
	int			c;

	if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL)
		return false;
	for (k = 0; k < ii->ii_NumIndexAttrs; k++)
		for (c = 0; c < nchanged; c++)
			if (ii->ii_IndexAttrNumbers[k] == changed[c])
				return false;
	return true;
}

/*
 * May the new version's entry go in `index` unchecked when its key is
 * unchanged?  Only in the extension's own unique indexes, and only when
 * valid.  The argument below needs the old version to have its entry in
 * the index: an index being built by CREATE UNIQUE INDEX CONCURRENTLY
 * (ready, not yet valid) lacks those of rows inserted while it was built,
 * and its validation checks only the rows it adds; a DBA's index is the
 * one that could be built so.
 */
static bool
unchecked_ok(Relation index)
{
	return index->rd_index->indisvalid && own_index(RelationGetRelid(index));
}

/*
 * Insert the indexes' entries of the row in t->slot: a new row (`changed`
 * NULL), or the new version of a row whose update could not be HOT, which
 * changed the columns `changed`.
 *
 * For an update, an own unique index whose key it left as it was gets its
 * entry without a uniqueness check: the version replaced holds the same key
 * under the same row lock, so the new one cannot duplicate another row's
 * unless the old one did (see unchecked_ok()).  PostgreSQL 15 checks
 * anyway: the check visits the old version in the heap, and on a full leaf
 * page, having found that duplicate, tries a bottom-up deletion of the
 * row's older versions, which are still visible to running transactions,
 * before it splits.  That is
 * what closing a lot (whose `open` changes, so that its update cannot be
 * HOT) cost in lots_pkey.  The entries go in without the hint that the row
 * is logically unchanged, which asks for the same bottom-up deletion:
 * alternated runs of the expiry sweep measured it slower.  A table with an
 * exclusion constraint or a deferrable unique index is left to the
 * executor's ExecInsertIndexTuples(), as are inserts.
 */
static void
insert_index_entries(PointsTable *t, const int16 *changed, int nchanged)
{
	ResultRelInfo *rri = t->rri;
	ExprContext *econtext;
	int			i;

	if (!t->indexes_open)
	{
		/*
		 * Not before: most updates are HOT (no index changes), and each index
		 * opened is one more lock, beyond the backend's fast-path slots.
		 */
		MemoryContext old = MemoryContextSwitchTo(t->estate->es_query_cxt);

		ExecOpenIndices(rri, false);
		t->indexes_open = true;
		t->indexes_plain = true;
		for (i = 0; i < rri->ri_NumIndices; i++)
			if (rri->ri_IndexRelationInfo[i]->ii_ExclusionOps != NULL ||
				!rri->ri_IndexRelationDescs[i]->rd_index->indimmediate)
				t->indexes_plain = false;
		MemoryContextSwitchTo(old);
	}
	ResetPerTupleExprContext(t->estate);
	if (changed == NULL || !t->indexes_plain)
	{
		list_free(ExecInsertIndexTuples(rri, t->slot, t->estate, false, false,
										NULL, NIL));
		return;
	}

	econtext = GetPerTupleExprContext(t->estate);
	econtext->ecxt_scantuple = t->slot;
	for (i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];
		Datum		values[INDEX_MAX_KEYS];
		bool		isnull[INDEX_MAX_KEYS];

		if (index == NULL || !ii->ii_ReadyForInserts)
			continue;
		if (ii->ii_Predicate != NIL)
		{
			if (ii->ii_PredicateState == NULL)
				ii->ii_PredicateState = ExecPrepareQual(ii->ii_Predicate, t->estate);
			if (!ExecQual(ii->ii_PredicateState, econtext))
				continue;
		}
		FormIndexDatum(ii, t->slot, t->estate, values, isnull);
		(void) index_insert(index, values, isnull, &t->slot->tts_tid, t->rel,
							index->rd_index->indisunique &&
							!(unchecked_ok(index) &&
							  index_key_unchanged(ii, changed, nchanged)) ?
							UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
							false, ii);
	}
}

/*
 * Insert a row: values[i] and nulls[i] are the table's column i + 1.  The
 * row is visible to the next command of the transaction.
 */
void
points_table_insert(PointsTable *t, const Datum *values, const bool *nulls)
{
	TupleTableSlot *slot = t->slot;

	CommandCounterIncrement();
	ExecClearTuple(slot);
	memcpy(slot->tts_values, values, t->natts * sizeof(Datum));
	memcpy(slot->tts_isnull, nulls, t->natts * sizeof(bool));
	ExecStoreVirtualTuple(slot);
	table_tuple_insert(t->rel, slot, GetCurrentCommandId(true), 0, NULL);
	insert_index_entries(t, NULL, 0);
	CommandCounterIncrement();
}

/*
 * Read the row version at *tid, which the caller found under the lock of
 * its account, to update it: its column 1 (the id) must be `id`.  Returns
 * its values, by column (from 0), valid until the update.
 */
Datum *
points_table_fetch(PointsTable *t, ItemPointer tid, int64 id, bool **isnull)
{
	CommandCounterIncrement();
	if (!table_tuple_fetch_row_version(t->rel, tid, SnapshotAny, t->old))
		elog(ERROR, "points: row (%u,%u) of %s is missing",
			 ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid),
			 RelationGetRelationName(t->rel));
	slot_getallattrs(t->old);
	if (t->old->tts_isnull[0] || DatumGetInt64(t->old->tts_values[0]) != id)
		elog(ERROR, "points: row (%u,%u) of %s is not row " INT64_FORMAT,
			 ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid),
			 RelationGetRelationName(t->rel), id);
	if (isnull)
		*isnull = t->old->tts_isnull;
	return t->old->tts_values;
}

/*
 * Replace the version read by points_table_fetch() at *tid: `ncols` columns
 * (attribute numbers `cols`) take new values, the others keep theirs.  *tid
 * becomes the new version's.  A version that another transaction changed
 * since (possible only at REPEATABLE READ or above, as the account lock
 * keeps other writers out) is a serialization failure, as for an UPDATE.
 */
void
points_table_update(PointsTable *t, ItemPointer tid, int ncols,
					const int16 *cols, const Datum *values, const bool *nulls)
{
	TupleTableSlot *slot = t->slot;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	result;
	int			i;

	Assert(t->old && !TTS_EMPTY(t->old));
	ExecClearTuple(slot);
	memcpy(slot->tts_values, t->old->tts_values, t->natts * sizeof(Datum));
	memcpy(slot->tts_isnull, t->old->tts_isnull, t->natts * sizeof(bool));
	for (i = 0; i < ncols; i++)
	{
		slot->tts_values[cols[i] - 1] = values[i];
		slot->tts_isnull[cols[i] - 1] = nulls ? nulls[i] : false;
	}
	ExecStoreVirtualTuple(slot);

	result = table_tuple_update(t->rel, tid, slot, GetCurrentCommandId(true),
								ActiveSnapshotSet() ? GetActiveSnapshot() : InvalidSnapshot,
								InvalidSnapshot, true,
								&tmfd, &lockmode, &update_indexes);
	switch (result)
	{
		case TM_Ok:
			break;
		case TM_Updated:
		case TM_Deleted:
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update")));
			break;
		default:
			elog(ERROR, "points: unexpected result %d updating %s",
				 (int) result, RelationGetRelationName(t->rel));
	}
	if (update_indexes)
		insert_index_entries(t, cols, ncols);
	*tid = slot->tts_tid;
	ExecClearTuple(t->old);
	CommandCounterIncrement();
}

/* The account's figures in the row in `slot` (a version of points.accounts). */
static void
account_from_slot(TupleTableSlot *slot, Account *acct)
{
	Datum	   *v;

	slot_getallattrs(slot);
	v = slot->tts_values;
	acct->id = DatumGetInt64(v[0]);
	acct->balance = DatumGetInt64(v[3]);
	acct->held = DatumGetInt64(v[4]);
	acct->pending = DatumGetInt64(v[5]);
	acct->debt = DatumGetInt64(v[6]);
	acct->earned = DatumGetInt64(v[7]);
	acct->spent = DatumGetInt64(v[8]);
	acct->expired = DatumGetInt64(v[9]);
	acct->next_expiry_at = DatumGetTimestampTz(v[10]);
	acct->vested_at = DatumGetTimestampTz(v[11]);
	acct->last_at = DatumGetTimestampTz(v[12]);
	acct->last_activity_at = DatumGetTimestampTz(v[13]);
	acct->inactive_at = DatumGetTimestampTz(v[14]);
	acct->tid = slot->tts_tid;
}

/*
 * Lock the account version in `slot` FOR NO KEY UPDATE, following its
 * update chain at READ COMMITTED, as SELECT ... FOR NO KEY UPDATE does:
 * waiting for a running operation that holds it, or with `skip_locked`
 * skipping it, as SKIP LOCKED does.  Returns true when locked (the slot
 * then holds the version locked), false when skipped (held, or deleted
 * meanwhile).  An update that a snapshot transaction cannot follow is a
 * serialization failure.
 */
static bool
lock_account_version(Relation rel, Snapshot snapshot, TupleTableSlot *slot,
					 bool skip_locked)
{
	ItemPointerData tid = slot->tts_tid;
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_lock(rel, &tid, snapshot, slot,
							  GetCurrentCommandId(true),
							  LockTupleNoKeyExclusive,
							  skip_locked ? LockWaitSkip : LockWaitBlock,
							  IsolationUsesXactSnapshot() ? 0 :
							  TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							  &tmfd);
	switch (result)
	{
		case TM_Ok:
			return true;
		case TM_WouldBlock:		/* held by a running operation */
		case TM_SelfModified:	/* as ExecLockRows: skipped */
			if (skip_locked)
				return false;
			break;
		case TM_Updated:
		case TM_Deleted:
			/* at READ COMMITTED, only a deletion: skipped when skipping */
			if (skip_locked && !IsolationUsesXactSnapshot())
				return false;
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update")));
			break;
		default:
			break;
	}
	elog(ERROR, "points: unexpected result %d locking account row (%u,%u)",
		 (int) result, ItemPointerGetBlockNumber(&tid),
		 ItemPointerGetOffsetNumber(&tid));
	return false;				/* keep the compiler quiet */
}

/*
 * Find the account of (type, customer) by its unique key, as the SQL read
 * of points_get_account() would (a snapshot taken now, at READ COMMITTED);
 * with `lock`, lock its latest version FOR NO KEY UPDATE, waiting for a
 * running operation on it to end, as SELECT ... FOR NO KEY UPDATE does.
 * Returns 0 when there is none, 1 when found, -1 when the table must be
 * read through SQL (a column of a DBA's own).
 */
int
points_account_find(const char *type, const char *customer, bool lock,
					Account *acct)
{
	Oid			relid = rel_oid("accounts");
	Oid			indexid = rel_oid("accounts_customer_type_key");
	Relation	rel;
	Relation	index;
	Snapshot	snapshot;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData keys[2];
	int			found;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		return -1;
	/* a locked account is written next: its lock covers both */
	rel = table_open(relid, lock ? RowExclusiveLock : AccessShareLock);
	index = index_open(indexid, AccessShareLock);
	if (!columns_ok(rel, account_columns, ACCOUNT_TYPES, POINTS_ACCOUNT_NATTS) ||
		!scan_index_ok(rel, index, accounts_key_cols,
					   lengthof(accounts_key_cols), 0))
	{
		index_close(index, NoLock);
		table_close(rel, NoLock);
		return -1;
	}

	/* what a statement of a volatile function would see */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], F_TEXTEQ,
						   CStringGetTextDatum(customer));
	ScanKeyEntryInitialize(&keys[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[1], F_TEXTEQ,
						   CStringGetTextDatum(type));
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, index, snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot) ? 1 : 0;
	index_endscan(scan);

	if (found && lock)
		(void) lock_account_version(rel, snapshot, slot, false);
	if (found)
		account_from_slot(slot, acct);

	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return found;
}

/*
 * Walk the account's open lots in the expiry order through lots_account,
 * only as far as needed: what the SQL of points_draw() (expiry order),
 * points_expire_due() and account() read, without their executor.
 *
 * A debit (LOTS_DEBIT) draws `amount` at `at` from lots available then and
 * not expired; the sweep (LOTS_DUE) takes whole lots with expires_at <=
 * `at`, at most `limit` of them; LOTS_OPEN returns every open lot (the
 * first `limit` when `limit` > 0), each draw its remaining points
 * (account(), and the cached bounds of points_refresh_open_bounds()), and
 * LOTS_NEXT those up to the first expiry
 * after `at` of the lots available at `at`, and all that expire then (what
 * account() needs when nothing is vesting).  Returns
 * the number of draws (a debit's draws cover less than `amount` when the
 * open lots hold less), or -1 when the table must be read through SQL.
 */
int
points_scan_lots(int64 account_id, LotScan what, TimestampTz at,
				 int64 amount, int limit, Draw **draws)
{
	Oid			relid = rel_oid("lots");
	Oid			indexid = rel_oid("lots_account");
	Relation	rel;
	Relation	index;
	Snapshot	snapshot;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData keys[3];
	int			nkeys = what == LOTS_DUE || what == LOTS_DEBIT ? 3 : 2;
	bool		has_next = false;
	TimestampTz next_at = 0;
	int			n = 0;
	int			cap = 4;
	int64		left = amount;
	Draw	   *d;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		return -1;
	/* the lots a debit or the sweep read are written next */
	rel = table_open(relid, what == LOTS_DUE || what == LOTS_DEBIT ?
					 RowExclusiveLock : AccessShareLock);
	index = index_open(indexid, AccessShareLock);
	if (!columns_ok(rel, lot_columns, LOT_TYPES, POINTS_LOT_NATTS) ||
		!scan_index_ok(rel, index, lots_account_cols,
					   lengthof(lots_account_cols), 0))
	{
		index_close(index, NoLock);
		table_close(rel, NoLock);
		return -1;
	}

	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(account_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_BOOLEQ,
				BoolGetDatum(true));
	if (what == LOTS_DUE)
		ScanKeyInit(&keys[2], 3, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE,
					TimestampTzGetDatum(at));
	else if (what == LOTS_DEBIT)
		ScanKeyInit(&keys[2], 3, BTGreaterStrategyNumber, F_TIMESTAMPTZ_GT,
					TimestampTzGetDatum(at));
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, index, snapshot, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	d = palloc(cap * sizeof(Draw));
	while ((what == LOTS_DUE || (what == LOTS_OPEN && limit > 0) ? n < limit :
			what != LOTS_DEBIT || left > 0) &&
		   index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		Datum	   *v;
		int64		remaining;
		int64		take;
		TimestampTz available_at;
		TimestampTz expires_at;

		slot_getallattrs(slot);
		v = slot->tts_values;
		remaining = DatumGetInt64(v[5]);
		available_at = DatumGetTimestampTz(v[15]);
		expires_at = DatumGetTimestampTz(v[16]);
		/* open, and due or available at `at`: as of this version */
		if (!DatumGetBool(v[11]) || remaining <= 0 ||
			(what == LOTS_DUE && expires_at > at) ||
			(what == LOTS_DEBIT && (available_at > at || expires_at <= at)))
			continue;
		if (what == LOTS_NEXT)
		{
			/* in the expiry order: past the next expiry, nothing is needed */
			if (has_next && expires_at > next_at)
				break;
			if (!has_next && available_at <= at && expires_at > at &&
				expires_at < DT_NOEND)
			{
				has_next = true;
				next_at = expires_at;
			}
		}
		if (n == cap)
		{
			cap *= 2;
			d = repalloc(d, cap * sizeof(Draw));
		}
		take = what == LOTS_DEBIT ? Min(remaining, left) : remaining;
		d[n].lot_id = DatumGetInt64(v[0]);
		d[n].amount = take;
		d[n].expires_at = expires_at;
		d[n].available_at = available_at;
		d[n].exhausted = take == remaining;
		d[n].tid = slot->tts_tid;
		left -= take;
		n++;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, NoLock);
	table_close(rel, NoLock);
	*draws = d;
	return n;
}

/* An account the sweep tried to lock, and whether it did. */
typedef struct TriedAccount
{
	int64		id;
	bool		locked;
} TriedAccount;

/*
 * Lock the account of id `account_id` FOR NO KEY UPDATE SKIP LOCKED through
 * its primary key, and read it into `due`.  Returns false when a running
 * operation holds it (or it is gone).
 */
static bool
lock_due_account(Relation rel, Relation pkey, Snapshot snapshot,
				 TupleTableSlot *slot, int64 account_id, DueAccount *due)
{
	IndexScanDesc scan;
	ScanKeyData key;
	bool		found;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(account_id));
	scan = index_beginscan(rel, pkey, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	if (!found)
		return false;
	if (!lock_account_version(rel, snapshot, slot, true))
		return false;
	account_from_slot(slot, &due->acct);
	due->type = TextDatumGetCString(slot->tts_values[1]);
	due->customer = TextDatumGetCString(slot->tts_values[2]);
	return true;
}

/*
 * The sweep's batch: the accounts of the oldest lots due at `at` (the order
 * of lots_due: expires_at, id), each locked FOR NO KEY UPDATE unless a
 * running operation holds it, until the lots of the accounts locked number
 * `limit`.  What "SELECT ... FROM lots JOIN accounts ... ORDER BY
 * expires_at, id LIMIT limit FOR NO KEY UPDATE OF accounts SKIP LOCKED"
 * returns, with each account locked and read once rather than once per
 * lot.  Returns the number of accounts in *due, in the order of their
 * first due lot, or -1 when the tables must be read through SQL.
 *
 * With `from`, the walk starts there rather than at the start of the
 * index: a run of the sweep passes where its last batch ended, so that no
 * batch walks again the entries of the lots the batches before it closed
 * (dead, and left in lots_due until VACUUM).  *last is the last due lot
 * walked, unchanged when none was.
 */
int
points_lock_due_accounts(TimestampTz at, int limit, const DuePosition *from,
						 DueAccount **due, DuePosition *last)
{
	Oid			lots_id = rel_oid("lots");
	Oid			due_id = rel_oid("lots_due");
	Oid			accounts_id = rel_oid("accounts");
	Oid			pkey_id = rel_oid("accounts_pkey");
	Relation	lots;
	Relation	lots_due;
	Relation	accounts;
	Relation	pkey;
	Snapshot	snapshot;
	IndexScanDesc scan;
	TupleTableSlot *lot;
	TupleTableSlot *acct;
	ScanKeyData keys[2];
	ScanKeyData row[2];
	int			nkeys = 1;
	HASHCTL		ctl;
	HTAB	   *tried;
	int			nlots = 0;
	int			n = 0;
	int			cap = 16;

	if (!OidIsValid(lots_id) || !OidIsValid(due_id) ||
		!OidIsValid(accounts_id) || !OidIsValid(pkey_id))
		return -1;
	/* both are written next */
	lots = table_open(lots_id, RowExclusiveLock);
	accounts = table_open(accounts_id, RowExclusiveLock);
	lots_due = index_open(due_id, AccessShareLock);
	pkey = index_open(pkey_id, AccessShareLock);
	if (!columns_ok(lots, lot_columns, LOT_TYPES, POINTS_LOT_NATTS) ||
		!columns_ok(accounts, account_columns, ACCOUNT_TYPES, POINTS_ACCOUNT_NATTS) ||
		!scan_index_ok(lots, lots_due, lots_due_cols, lengthof(lots_due_cols),
					   LOTS_OPEN_ATTNO) ||
		!scan_index_ok(accounts, pkey, accounts_pkey_cols,
					   lengthof(accounts_pkey_cols), 0))
	{
		index_close(pkey, NoLock);
		index_close(lots_due, NoLock);
		table_close(accounts, NoLock);
		table_close(lots, NoLock);
		return -1;
	}

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(TriedAccount);
	ctl.hcxt = CurrentMemoryContext;
	tried = hash_create("points due accounts", 1024, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	ScanKeyInit(&keys[0], 1, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE,
				TimestampTzGetDatum(at));
	if (from)
	{
		/*
		 * (expires_at, id) >= (from): a row comparison, which the B-tree
		 * starts at, where a key of expires_at alone would walk again every
		 * lot of that expiry (a rounded one is shared by many).  Its
		 * members take the B-tree's comparison functions, as the executor
		 * gives them (ExecIndexBuildScanKeys).
		 */
		ScanKeyEntryInitialize(&row[0], SK_ROW_MEMBER, 1,
							   BTGreaterEqualStrategyNumber, TIMESTAMPTZOID,
							   InvalidOid, F_TIMESTAMPTZ_CMP,
							   TimestampTzGetDatum(from->expires_at));
		ScanKeyEntryInitialize(&row[1], SK_ROW_MEMBER | SK_ROW_END, 2,
							   BTGreaterEqualStrategyNumber, INT8OID,
							   InvalidOid, F_BTINT8CMP, Int64GetDatum(from->id));
		ScanKeyEntryInitialize(&keys[nkeys++], SK_ROW_HEADER, 1,
							   BTGreaterEqualStrategyNumber, InvalidOid,
							   InvalidOid, InvalidOid, PointerGetDatum(row));
	}
	lot = table_slot_create(lots, NULL);
	acct = table_slot_create(accounts, NULL);
	*due = palloc(cap * sizeof(DueAccount));
	scan = index_beginscan(lots, lots_due, snapshot, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	while (nlots < limit && index_getnext_slot(scan, ForwardScanDirection, lot))
	{
		DuePosition here;
		int64		account_id;
		bool		found;
		TriedAccount *tried_acct;

		slot_getsomeattrs(lot, 17);
		here.expires_at = DatumGetTimestampTz(lot->tts_values[16]);
		here.id = DatumGetInt64(lot->tts_values[0]);
		/* open and due, as of this version */
		if (!DatumGetBool(lot->tts_values[11]) || here.expires_at > at)
			continue;
		*last = here;
		account_id = DatumGetInt64(lot->tts_values[1]);
		tried_acct = hash_search(tried, &account_id, HASH_ENTER, &found);
		if (!found)
		{
			if (n == cap)
			{
				cap *= 2;
				*due = repalloc(*due, cap * sizeof(DueAccount));
			}
			tried_acct->locked = lock_due_account(accounts, pkey, snapshot,
												  acct, account_id, &(*due)[n]);
			if (tried_acct->locked)
				(*due)[n++].first = here;
		}
		if (tried_acct->locked)
			nlots++;			/* a lot of an account locked */
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(acct);
	ExecDropSingleTupleTableSlot(lot);
	UnregisterSnapshot(snapshot);
	hash_destroy(tried);
	index_close(pkey, NoLock);
	index_close(lots_due, NoLock);
	table_close(accounts, NoLock);
	table_close(lots, NoLock);
	return n;
}
