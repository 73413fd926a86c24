# PGXS build of the points extension.
EXTENSION = points
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/p" $(EXTENSION).control)

MODULE_big = points
OBJS = \
	src/points.o \
	src/typecache.o \
	src/amount.o \
	src/expiry.o \
	src/ledger.o \
	src/direct.o \
	src/api.o \
	src/triggers.o \
	src/verify.o \
	src/maintenance.o \
	src/lifecycle.o \
	src/money.o \
	src/earn.o \
	src/redeem.o \
	src/settings.o

# The install script of the version in development is built from the parts
# in src/sql/, concatenated in name order.  Released install scripts and all
# upgrade scripts are frozen files src/points--*.sql: never edited, and every
# version bump ships points--OLD--NEW.sql.
DATA_built = src/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built), $(wildcard src/$(EXTENSION)--*.sql))
SQL_PARTS = $(sort $(wildcard src/sql/*.sql))

PG_CPPFLAGS += -Isrc -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers

# Tests (README "Running the tests"; bash scripts/test.sh runs them all).
# These must come before the PGXS include, which reads them with ifdef.
# Each suite starts its own throwaway server (--temp-instance) with pg_cron
# preloaded (--temp-config), so run `make installcheck` as a non-root user
# after `make install`; it runs pg_regress first, then the isolation specs.
# pg_regress: sql/NAME.sql, output compared with expected/NAME.out, in
# alphabetical order in one database, contrib_regression (see
# test/regress.conf), where pg_regress first creates pg_cron and points.
REGRESS = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --temp-instance=tmp_check --temp-config=test/regress.conf \
	--no-locale --encoding=UTF8 --load-extension=pg_cron --load-extension=$(EXTENSION)
# Isolation specs: test/specs/NAME.spec, output compared with
# test/expected/NAME.out, in database isolation_regression (see
# test/isolation.conf); each spec's setup creates what it needs.
ISOLATION = $(sort $(basename $(notdir $(wildcard test/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test --temp-instance=tmp_check_iso \
	--temp-config=test/isolation.conf --no-locale --encoding=UTF8

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: every object depends on the headers.
$(OBJS): $(wildcard src/*.h)

$(DATA_built): $(SQL_PARTS) $(EXTENSION).control
	cat $(SQL_PARTS) > $@
