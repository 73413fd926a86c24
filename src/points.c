/*
 * points.c
 *		Module entry: magic block, settings (GUCs), and the write guard that
 *		lets the ledger's tables be written only by the extension's own
 *		functions.
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "utils/guc.h"

#include "points.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* points.notify: announce each balance change on channel "points". */
bool		points_notify = false;

/*
 * Depth of ledger writes in progress in this backend.  The guard triggers
 * allow a write to the ledger tables only while it is positive.  An error
 * anywhere inside a write aborts the (sub)transaction, which resets it: a
 * caller that catches the error cannot inherit the permission.
 */
static int	write_depth = 0;

void
points_write_begin(void)
{
	write_depth++;
}

void
points_write_end(void)
{
	Assert(write_depth > 0);
	if (--write_depth == 0)
		points_tables_close();
}

bool
points_writing(void)
{
	return write_depth > 0;
}

static void
points_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		write_depth = 0;
		points_tables_forget();
	}
}

static void
points_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		write_depth = 0;
		points_tables_forget();
	}
}

void
_PG_init(void)
{
	RegisterXactCallback(points_xact_callback, NULL);
	points_typecache_init();
	RegisterSubXactCallback(points_subxact_callback, NULL);
	DefineCustomBoolVariable("points.notify",
							 "Announce every balance change on the NOTIFY channel \"points\".",
							 "Each journal entry sends a JSON payload when its transaction commits. "
							 "Off by default: PostgreSQL serializes the commits of all transactions "
							 "that sent a notification.",
							 &points_notify,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("points");
}
