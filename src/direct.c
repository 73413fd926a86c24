/*
 * direct.c
 *		Writes of the ledger's hot rows without the executor: the journal
 *		entry, the grant, the allocations and the account row that every
 *		operation writes.
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
 * The direct path is taken only for a table that has exactly the columns
 * this version created and no triggers but the extension's own.  A table
 * that a DBA gave a trigger of their own (an audit trigger, say) is written
 * through SQL, so that the trigger fires: points_table() returns NULL
 * and the caller runs its SQL statement instead.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "points.h"

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

/* Does the relation have exactly `columns`, in order, and only our triggers? */
static bool
direct_ok(Relation rel, const char *const *columns, int ncolumns)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (desc->natts != ncolumns)
		return false;
	for (i = 0; i < ncolumns; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), columns[i]) != 0)
			return false;
	}
	if (rel->trigdesc)
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
			if (!own_trigger(rel->trigdesc->triggers[i].tgname))
				return false;
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

StaticAssertDecl(lengthof(account_columns) == POINTS_ACCOUNT_NATTS, "accounts");
StaticAssertDecl(lengthof(lot_columns) == POINTS_LOT_NATTS, "lots");
StaticAssertDecl(lengthof(entry_columns) == POINTS_ENTRY_NATTS, "entries");
StaticAssertDecl(lengthof(allocation_columns) == POINTS_ALLOCATION_NATTS, "allocations");

static const struct
{
	const char *name;
	const char *const *columns;
	int			ncolumns;
}			tables[] = {
	[POINTS_ACCOUNTS] = {"accounts", account_columns, lengthof(account_columns)},
	[POINTS_LOTS] = {"lots", lot_columns, lengthof(lot_columns)},
	[POINTS_ENTRIES] = {"entries", entry_columns, lengthof(entry_columns)},
	[POINTS_ALLOCATIONS] = {"allocations", allocation_columns,
	lengthof(allocation_columns)},
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
 * written through SQL (a trigger or a column of a DBA's own), or when no
 * write is in progress.
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
	relid = get_relname_relid(tables[which].name, get_namespace_oid("points", false));
	if (!OidIsValid(relid))
		elog(ERROR, "points: table points.%s is missing", tables[which].name);
	rel = table_open(relid, RowExclusiveLock);
	opened[which] = true;
	sql_only[which] = !direct_ok(rel, tables[which].columns, tables[which].ncolumns);
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
	ExecOpenIndices(t->rri, false);
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
	Oid			seq = get_relname_relid(seqname, get_namespace_oid("points", false));

	if (!OidIsValid(seq))
		elog(ERROR, "points: sequence points.%s is missing", seqname);
	return nextval_internal(seq, false);
}

/* Insert the indexes' entries of the row in t->slot. */
static void
insert_index_entries(PointsTable *t)
{
	List	   *recheck;

	ResetPerTupleExprContext(t->estate);
	recheck = ExecInsertIndexTuples(t->rri, t->slot, t->estate, false, false,
									NULL, NIL);
	list_free(recheck);
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
	insert_index_entries(t);
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
		insert_index_entries(t);
	*tid = slot->tts_tid;
	ExecClearTuple(t->old);
	CommandCounterIncrement();
}
