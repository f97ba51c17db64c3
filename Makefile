# obsfs — one non-recursive Makefile.
#
#   make            build libobs, obsfsd and the tools into build/
#   make run        install dependencies, build, mount obsfs at ./mnt (data in ./data)
#   make stop       unmount ./mnt
#   make test       install test dependencies, run every test, print "N passed, N failed"
#   make asan       the same suite built with AddressSanitizer + UBSan
#   make tsan       ThreadSanitizer: the unit tests and a concurrent mount workload
#   make fuzz       build the libFuzzer harnesses (clang) and run each briefly
#   make bench      benchmarks against the peers (not part of make test)
#   make bench-compare REV=r   obsfs at git revision r against this tree, same bench
#   make crash      kill -9 rounds under a mixed workload, nothing acknowledged may be
#                   lost (not part of make test; ROUNDS=100 SEED=...)
#   make conformance  Prometheus' PromQL test files (../shared/conformance/promql) through obs-query test
#   make lint       mandoc -Tlint on the man pages
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc

PKGS     := fuse3 libzstd libpcre2-8 libxxhash yaml-0.1 jansson libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lroaring

WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS   ?= -O2 -g
# CFLAGS is the user's (make asan sets it); the project's flags are always added
ALL_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(WARN) -Ilib $(PKG_CFLAGS) -pthread
LDLIBS   += $(PKG_LIBS) -lm -pthread

LIB_SRC   := $(sort $(wildcard lib/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIBOBS    := $(BUILD)/libobs.a

FS_SRC    := $(sort $(wildcard fs/*.c))
FS_OBJ    := $(FS_SRC:%.c=$(BUILD)/%.o)

TOOL_COMMON_SRC := $(sort $(wildcard tools/tool_*.c))
TOOL_COMMON_OBJ := $(TOOL_COMMON_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC  := $(sort $(wildcard tools/obs-*.c))
TOOLS     := $(TOOL_SRC:tools/%.c=$(BUILD)/bin/%)

UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNITS     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

BINS := $(BUILD)/bin/obsfsd $(TOOLS)

.PHONY: all run stop test unit asan tsan fuzz bench bench-compare crash conformance lint install deps test-deps san-deps clean
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBOBS): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/obsfsd: $(FS_OBJ) $(LIBOBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(FS_OBJ) $(LIBOBS) $(LDLIBS)

# obs-query's promqltest runner (tools/query_*.c) is linked into obs-query only
QUERY_TOOL_SRC := $(sort $(wildcard tools/query_*.c))
QUERY_TOOL_OBJ := $(QUERY_TOOL_SRC:%.c=$(BUILD)/%.o)
$(BUILD)/bin/obs-query: $(BUILD)/tools/obs-query.o $(QUERY_TOOL_OBJ) $(TOOL_COMMON_OBJ) $(LIBOBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(QUERY_TOOL_OBJ) $(TOOL_COMMON_OBJ) $(LIBOBS) $(LDLIBS)

# obs-alert's Alertmanager and rule subcommands (tools/alert_*.c) are linked into obs-alert only
ALERT_TOOL_SRC := $(sort $(wildcard tools/alert_*.c))
ALERT_TOOL_OBJ := $(ALERT_TOOL_SRC:%.c=$(BUILD)/%.o)
$(BUILD)/bin/obs-alert: $(BUILD)/tools/obs-alert.o $(ALERT_TOOL_OBJ) $(TOOL_COMMON_OBJ) $(LIBOBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(ALERT_TOOL_OBJ) $(TOOL_COMMON_OBJ) $(LIBOBS) $(LDLIBS)

# obs-ship's parts (tools/ship_*.c: files, scrape, targets, statsd, policy, spool) are linked into obs-ship only
SHIP_TOOL_SRC := $(sort $(wildcard tools/ship_*.c))
SHIP_TOOL_OBJ := $(SHIP_TOOL_SRC:%.c=$(BUILD)/%.o)
$(BUILD)/bin/obs-ship: $(BUILD)/tools/obs-ship.o $(SHIP_TOOL_OBJ) $(TOOL_COMMON_OBJ) $(LIBOBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(SHIP_TOOL_OBJ) $(TOOL_COMMON_OBJ) $(LIBOBS) $(LDLIBS)

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(TOOL_COMMON_OBJ) $(LIBOBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(TOOL_COMMON_OBJ) $(LIBOBS) $(LDLIBS)

# make tsan builds the unit tests against tests/tsan/criterion/criterion.h
# (Criterion itself cannot start under ThreadSanitizer)
TEST_CFLAGS  ?=
CRITERION_LIB ?= -lcriterion
$(BUILD)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBOBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBOBS) $(LDLIBS) $(CRITERION_LIB)

# ---- set-up -------------------------------------------------------------------
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEPS := build-essential pkg-config libfuse3-dev fuse3 libzstd-dev libroaring-dev \
        libpcre2-dev libxxhash-dev zstd libyaml-dev libjansson-dev libcurl4-openssl-dev
TEST_DEPS := $(DEPS) libcriterion-dev bats bats-assert bats-support mandoc procps psmisc \
             python3 util-linux prometheus prometheus-alertmanager prometheus-node-exporter \
             python3-statsd
SAN_DEPS := clang libclang-rt-14-dev

deps:
	@./contrib/install-deps.sh $(DEPS)

test-deps:
	@./contrib/install-deps.sh $(TEST_DEPS)

san-deps:
	@./contrib/install-deps.sh $(SAN_DEPS)

MNT  ?= $(CURDIR)/mnt
DATA ?= $(CURDIR)/data

run: deps
	@$(MAKE) --no-print-directory all
	@./contrib/run-mount.sh $(BUILD)/bin/obsfsd "$(DATA)" "$(MNT)"

stop:
	@./contrib/stop-mount.sh "$(MNT)" "$(DATA)"

# test helpers (git's test-tool idea): programs the shell suites drive
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPERS    := $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(subst _,-,$(HELPER_SRC)))
$(BUILD)/tests/helpers/am-drive: $(BUILD)/tests/helpers/am_drive.o $(LIBOBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBOBS) $(LDLIBS)

unit: $(UNITS) $(HELPERS)

test: test-deps
	@$(MAKE) --no-print-directory -j$$(nproc) all unit
	@./tests/run.sh $(BUILD)

asan: test-deps san-deps
	@$(MAKE) --no-print-directory BUILD=build-asan CC=clang \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" all unit
	@rm -rf build-asan/reports && mkdir -p build-asan/reports
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(CURDIR)/build-asan/reports/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/build-asan/reports/ubsan \
	  ./tests/run.sh build-asan; rc=$$?; \
	  if ls build-asan/reports/* >/dev/null 2>&1; then \
	    echo "sanitizer reports (the daemon's stderr is detached, so they are kept as files):"; \
	    head -40 build-asan/reports/*; exit 1; fi; exit $$rc

# TSAN_OPTIONS: reports go to files (the daemon's stderr is detached);
# tests/tsan/run.sh fails when any was written
tsan: test-deps san-deps
	@$(MAKE) --no-print-directory BUILD=build-tsan CC=clang \
	  CFLAGS="-O1 -g -fsanitize=thread -fno-omit-frame-pointer" LDFLAGS="-fsanitize=thread" \
	  TEST_CFLAGS=-Itests/tsan CRITERION_LIB= all unit
	@rm -rf build-tsan/reports && mkdir -p build-tsan/reports
	@TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1:log_path=$(CURDIR)/build-tsan/reports/tsan \
	  ./tests/tsan/run.sh build-tsan

fuzz: san-deps
	@./tests/fuzz/run.sh

bench: all $(BUILD)/bench_query
	@./tests/bench/run.sh $(BUILD)

# obsfs at REV against this tree, same bench, one invocation (no peers)
bench-compare:
	@./tests/bench/compare.sh $(or $(REV),$(error set REV=git-revision)) $(BUILD)

# the query engine's bench helper (tests/bench/query.sh, run.sh's query part)
$(BUILD)/bench_query: $(BUILD)/tests/bench/bench_query.o $(LIBOBS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBOBS) $(LDLIBS)

crash: all
	@python3 tests/crash/crash.py $(BUILD)

CONFORMANCE_DIR ?= ../shared/conformance/promql
conformance: all
	@if ls $(CONFORMANCE_DIR)/*.test >/dev/null 2>&1; then \
	  $(BUILD)/bin/obs-query test $(CONFORMANCE_DIR)/*.test; \
	else echo "conformance: no PromQL test files in $(CONFORMANCE_DIR) (they are kept out of the repository)"; fi

lint:
	@mandoc -Tlint -W warning man/*.[0-9]

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	for p in man/*.1; do [ -e "$$p" ] && install -m 644 $$p $(DESTDIR)$(PREFIX)/share/man/man1/; done; true
	for p in man/*.5; do [ -e "$$p" ] && install -m 644 $$p $(DESTDIR)$(PREFIX)/share/man/man5/; done; true
	for p in man/*.7; do [ -e "$$p" ] && install -m 644 $$p $(DESTDIR)$(PREFIX)/share/man/man7/; done; true
	for p in man/*.8; do [ -e "$$p" ] && install -m 644 $$p $(DESTDIR)$(PREFIX)/share/man/man8/; done; true

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
