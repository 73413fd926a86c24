/*
 * points.h
 *		Shared declarations of the points extension: the in-memory shape of a
 *		point type and an account, amount conversion, expiry math, the ledger
 *		core and the write guard used by the triggers.
 */
#ifndef POINTS_H
#define POINTS_H

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/itemptr.h"
#include "utils/numeric.h"

/* SQLSTATEs of the contract that PostgreSQL does not define. */
#define ERRCODE_POINTS_INSUFFICIENT		MAKE_SQLSTATE('P','T','0','0','1')
#define ERRCODE_POINTS_TYPE_DISABLED	MAKE_SQLSTATE('P','T','0','0','2')
#define ERRCODE_POINTS_REF_MISMATCH		MAKE_SQLSTATE('P','T','0','0','3')
#define ERRCODE_POINTS_WRONG_STATE		MAKE_SQLSTATE('P','T','0','0','4')

#define POINTS_MAX_SCALE 4

/* Longest validity, timeout or delay accepted in a setting, in years. */
#define POINTS_MAX_YEARS 1000

typedef enum ExpiryRounding
{
	ROUND_NONE,
	ROUND_DAY,
	ROUND_WEEK,
	ROUND_MONTH,
	ROUND_YEAR
} ExpiryRounding;

typedef enum ConsumeOrder
{
	CONSUME_EXPIRY,				/* soonest expiry, then older grant, then id */
	CONSUME_FIFO				/* older grant, then id */
} ConsumeOrder;

typedef enum ClawbackPolicy
{
	CLAWBACK_REJECT,
	CLAWBACK_PARTIAL,
	CLAWBACK_DEBT
} ClawbackPolicy;

/* A row of points.types, as the ledger needs it. */
typedef struct PointsType
{
	char	   *code;
	char	   *name;
	char	   *name_plural;
	int			scale;
	bool		has_validity;
	Interval	validity;
	ExpiryRounding rounding;
	char	   *time_zone;
	ConsumeOrder consume_order;
	Interval	hold_timeout;
	bool		has_inactivity;
	Interval	inactivity;		/* all points lapse after this long idle */
	ClawbackPolicy clawback_policy;
	bool		enabled;
	bool		has_tiers;		/* points.tiers has a row of this type */
	bool		has_settings;	/* points.customers has a row of this type */
	int			n_earn_events;	/* events with an enabled earn rule */
	char	  **earn_events;
	/* redemption at a rate (value, quote); NULL: not set */
	Numeric		redeem_points;
	Numeric		redeem_value;
	char	   *currency;
	bool		tax_payable;
	Numeric		min_redeem_points;
	Numeric		max_redeem_points;
} PointsType;

/* A row of points.accounts: the cached figures of one (type, customer). */
typedef struct Account
{
	int64		id;
	int64		balance;		/* sum of remaining of active lots, minus debt */
	int64		held;
	int64		pending;
	int64		debt;
	int64		earned;
	int64		spent;
	int64		expired;
	TimestampTz next_expiry_at; /* min expires_at of open active lots */
	TimestampTz vested_at;		/* max available_at of open active lots */
	TimestampTz last_at;		/* latest business time of any operation */
	TimestampTz last_activity_at;	/* latest earning or spending */
	TimestampTz inactive_at;	/* all points lapse then (inactivity policy) */
	ItemPointerData tid;		/* the row version read (and locked) */
} Account;

/* One journal entry to append: the changes it records, in units. */
typedef struct EntryRow
{
	const char *kind;
	int64		amount;			/* change of the balance (balance_after) */
	int64		held;			/* change of held points */
	int64		pending;		/* change of pending points */
	int64		debt;			/* change of debt */
	int64		lot_id;			/* 0: none */
	int64		hold_id;		/* 0: none */
	int64		origin_id;		/* 0: none */
	TimestampTz at;
	const char *ref;
	const char *note;
} EntryRow;

/* One lot drawn by a debit. */
typedef struct Draw
{
	int64		lot_id;
	int64		amount;
	TimestampTz expires_at;
	TimestampTz available_at;	/* known when chosen by points_draw() or read
								 * by points_scan_lots() */
	bool		exhausted;		/* the draw took the lot's last point */
	ItemPointerData tid;		/* the lot's row version; invalid: unknown */
} Draw;

/* A lot (grant) as operations on it need it. */
typedef struct Lot
{
	int64		id;
	int64		amount;
	int64		remaining;
	int64		revoked;
	int64		forgiven;		/* revoked but forgiven (partial policy) */
	bool		pending;
	bool		voided;
	bool		fixed_expiry;
	bool		has_validity;	/* validity for confirmation, else the type's */
	Interval	validity;
	TimestampTz available_at;
	TimestampTz expires_at;
	TimestampTz at;				/* when it was granted */
} Lot;

/* Longest customer, type code, reason or ref accepted (bytes). */
#define POINTS_MAX_KEY_LENGTH 1000

/* api.c: arguments */
extern void points_null_argument(const char *name) pg_attribute_noreturn();
extern char *points_arg_key(FunctionCallInfo fcinfo, int n, const char *name,
							bool required);
extern char *points_arg_note(FunctionCallInfo fcinfo, int n);
extern int64 points_arg_id(FunctionCallInfo fcinfo, int n, const char *name);
extern int32 points_arg_batch(FunctionCallInfo fcinfo, int n);
extern TimestampTz points_arg_time(FunctionCallInfo fcinfo, int n,
								   const char *name);
extern int64 points_arg_amount(FunctionCallInfo fcinfo, int n, const char *name,
							   const struct PointsType *type);
extern void points_require_enabled(const struct PointsType *type,
								   const char *what);
extern char *points_timestamp_text(TimestampTz t);
extern char *points_timestamp_key(TimestampTz t);
extern TimestampTz points_not_before(TimestampTz at, TimestampTz made,
									 const char *what, int64 id);

/* points.c: settings and the write guard */
extern bool points_notify;
extern void points_write_begin(void);
extern void points_write_end(void);
extern bool points_writing(void);

/* amount.c */
extern int64 points_numeric_to_units(Numeric num, const PointsType *type,
									 const char *what);
extern Numeric points_units_to_numeric(int64 units, int scale);
extern char *points_units_to_cstring(int64 units, int scale);
extern int64 points_add(int64 a, int64 b);
extern int64 points_sub(int64 a, int64 b);

/* expiry.c */
extern TimestampTz points_expiry(const PointsType *type, TimestampTz from);
extern TimestampTz points_inactive_at(const PointsType *type, TimestampTz from);
extern ExpiryRounding points_parse_rounding(const char *s);
extern bool points_valid_time_zone(const char *zone);
extern bool points_interval_positive(const Interval *iv);

/* direct.c: writes of the hot rows without the executor */
typedef struct PointsTable
{
	struct RelationData *rel;
	struct EState *estate;
	struct ResultRelInfo *rri;
	struct TupleTableSlot *slot;	/* the row written */
	struct TupleTableSlot *old;	/* the version an update replaces */
	int			natts;
	bool		indexes_open;
	bool		indexes_plain;	/* no exclusion or deferrable constraint */
} PointsTable;

/* Columns of the tables written directly. */
#define POINTS_ACCOUNT_NATTS 16
#define POINTS_LOT_NATTS 20
#define POINTS_ENTRY_NATTS 19
#define POINTS_ALLOCATION_NATTS 5

typedef enum PointsTableId
{
	POINTS_ACCOUNTS,
	POINTS_LOTS,
	POINTS_ENTRIES,
	POINTS_ALLOCATIONS
} PointsTableId;

extern PointsTable *points_table(PointsTableId which);
extern void points_tables_close(void);
extern void points_tables_forget(void);
extern int	points_account_find(const char *type, const char *customer,
								bool lock, Account *acct);
/* What points_scan_lots() reads of an account's open lots. */
typedef enum LotScan
{
	LOTS_DEBIT,					/* `amount` from the lots available at `at` */
	LOTS_DUE,					/* up to `limit` lots expired at `at` */
	LOTS_OPEN,					/* every open lot, read only */
	LOTS_NEXT					/* those up to the next expiry after `at` */
} LotScan;

extern int	points_scan_lots(int64 account_id, LotScan what, TimestampTz at,
							 int64 amount, int limit, Draw **draws);
/* A place in lots_due's order (expires_at, id), for a run of the sweep. */
typedef struct DuePosition
{
	TimestampTz expires_at;
	int64		id;
} DuePosition;

/* An account the expiry sweep locked, as read then. */
typedef struct DueAccount
{
	Account		acct;
	char	   *type;
	char	   *customer;
	DuePosition first;			/* its first due lot in lots_due's order */
} DueAccount;

extern int	points_lock_due_accounts(TimestampTz at, int limit,
									 const DuePosition *from,
									 DueAccount **due, DuePosition *last);
extern int64 points_next_id(const char *seqname);
extern void points_table_insert(PointsTable *t, const Datum *values,
								const bool *nulls);
extern Datum *points_table_fetch(PointsTable *t, ItemPointer tid, int64 id,
								 bool **isnull);
extern void points_table_update(PointsTable *t, ItemPointer tid, int ncols,
								const int16 *cols, const Datum *values,
								const bool *nulls);

/* ledger.c: queries, types, accounts, lots, entries */
#define POINTS_SEARCH_PATH "pg_catalog, pg_temp"
extern int	points_pin_search_path(void);
extern int	points_pin_request(const char *ref);
extern void points_unpin_search_path(int level);
extern SPIPlanPtr points_plan(SPIPlanPtr *cache, const char *sql, int nargs,
							  const Oid *argtypes);
extern int	points_execute(SPIPlanPtr plan, Datum *values, const char *nulls,
						   bool read_only, long count);
extern void points_run(SPIPlanPtr plan, Datum *values, const char *nulls,
					   int expected);
extern Datum points_col(int row, int column, bool *isnull);
extern int64 points_col_int64(int row, int column);
extern Numeric points_col_numeric(int row, int column);
extern char *points_col_text(int row, int column);
/* typecache.c */
extern void points_typecache_init(void);
extern PointsType *points_load_type(const char *code);
/* The columns points_read_account() reads, in its order. */
#define POINTS_ACCOUNT_COLUMNS \
	"id, balance, held, pending, debt, earned, spent, expired," \
	" next_expiry_at, vested_at, last_at, last_activity_at, inactive_at, ctid"
extern void points_read_account(int row, Account *acct);
extern bool points_get_account(const PointsType *type, const char *customer,
							   bool lock, Account *acct);
extern bool points_lock_account(const PointsType *type, const char *customer,
								TimestampTz at, Account *acct);
extern void points_lock_or_create_account(const PointsType *type,
										  const char *customer, TimestampTz at,
										  Account *acct);
extern int	points_expire_due(const PointsType *type, const char *customer,
							  Account *acct, TimestampTz at, int limit,
							  TimestampTz *left_at);
extern void points_store_account(Account *acct, TimestampTz at);
extern int64 points_available(const Account *acct, TimestampTz at, bool past);
extern int64 points_insert_lot(const PointsType *type, const char *customer,
							   Account *acct, int64 amount, const char *reason,
							   const char *ref, const char *note,
							   TimestampTz available_at, TimestampTz expires_at,
							   bool fixed_expiry, const Interval *validity,
							   bool pending, TimestampTz at);
extern void points_settle_debt(const PointsType *type, const char *customer,
							   Account *acct, TimestampTz at);
extern int64 points_credit(const PointsType *type, const char *customer,
						   Account *acct, int64 amount, const char *reason,
						   EntryRow *row, TimestampTz available_at,
						   TimestampTz expires_at, bool fixed_expiry,
						   const Interval *validity, bool pending,
						   bool earned, int64 *lot_id);
extern int64 points_debit(const PointsType *type, const char *customer,
						  Account *acct, int64 amount, EntryRow *row,
						  Draw **draws_out, int *ndraws_out);
extern int64 points_return(const PointsType *type, const char *customer,
						   Account *acct, int64 origin, int64 amount,
						   EntryRow *row, bool reissue);
extern void points_find_lot(int64 lot_id, char **type_code, char **customer);
extern void points_read_lot(int64 lot_id, Lot *lot);
extern void points_store_lot(const Lot *lot, int64 remaining);

/* lifecycle.c */
extern int64 points_lapsed_points(int64 lot_id);
extern int64 points_insert_entry(const PointsType *type, const char *customer,
								 Account *acct, const EntryRow *row);
extern ClawbackPolicy points_parse_clawback(const char *s);
extern int	points_draw(const PointsType *type, Account *acct, int64 amount,
						TimestampTz at, Draw **draws);
extern void points_apply_draws(Account *acct, int64 entry_id, Draw *draws,
							   int ndraws, TimestampTz at);
extern void points_refresh_open_bounds(Account *acct);
extern void points_insufficient(const PointsType *type, const char *customer,
								int64 wanted, int64 available,
								const char *what) pg_attribute_noreturn();

/* ledger.c: idempotency by ref */
extern bool points_request_begin(const PointsType *type, const char *op,
								 const char *ref, const char *customer,
								 Datum args, int64 *result);
extern void points_request_end(const PointsType *type, const char *op,
							   const char *ref, int64 result);
extern Datum points_request_args(int nargs, const char **values);

#endif							/* POINTS_H */
