# PGXS build of the points extension.
EXTENSION = points
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/p" $(EXTENSION).control)

MODULE_big = points
OBJS = \
	src/points.o \
	src/amount.o \
	src/expiry.o \
	src/ledger.o \
	src/api.o \
	src/triggers.o \
	src/verify.o \
	src/maintenance.o \
	src/lifecycle.o

# Install script of every version and every upgrade script: src/points--*.sql.
# A released script is frozen; a new version ships points--OLD--NEW.sql.
DATA = $(wildcard src/$(EXTENSION)--*.sql)

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
