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
 * through SQL, so that the trigger fires: points_table_open() returns false
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

/*
 * Open points.<name>, whose columns must be `columns`, for direct writes.
 * Returns false (nothing open) when the table must be written through SQL.
 */
bool
points_table_open(PointsTable *t, const char *name, const char *const *columns,
				  int ncolumns)
{
	Oid			nsp = get_namespace_oid("points", false);
	Oid			relid = get_relname_relid(name, nsp);
	Relation	rel;

	if (!OidIsValid(relid))
		elog(ERROR, "points: table points.%s is missing", name);
	rel = table_open(relid, RowExclusiveLock);
	if (!direct_ok(rel, columns, ncolumns))
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}
	memset(t, 0, sizeof(PointsTable));
	t->rel = rel;
	t->natts = ncolumns;
	t->estate = CreateExecutorState();
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, rel, 0, NULL, 0);
	ExecOpenIndices(t->rri, false);
	t->slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	return true;
}

void
points_table_close(PointsTable *t)
{
	if (t->rel == NULL)
		return;
	ExecDropSingleTupleTableSlot(t->slot);
	if (t->old)
		ExecDropSingleTupleTableSlot(t->old);
	ExecCloseIndices(t->rri);
	FreeExecutorState(t->estate);
	table_close(t->rel, NoLock);
	t->rel = NULL;
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
	if (t->old == NULL)
		t->old = table_slot_create(t->rel, NULL);
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
