# telemt - one hand-written GNU Makefile.
#
#   make            build ./telemt, the daemon only (no test libraries)
#   make all        the daemon, the test tools, the unit tests, the bench
#   make install    binary, unit and README under DESTDIR/PREFIX
#   make test       unit tests + integration tests against ./telemt
#   make check      the same, built with AddressSanitizer + UBSan (build-san/),
#                   then make fuzz-smoke
#   make fuzz       each libFuzzer target for FUZZ_SECONDS (build-fuzz/);
#                   fuzz-smoke: FUZZ_SMOKE_SECONDS (5) each
#   make tsan       unit tests + lifecycle scenarios under ThreadSanitizer
#   make check-layers   common/ includes no other folder; worker/ never master/
#   make clean
#
# O= selects the object directory; SAN=1 adds the sanitizers.  V=1 shows
# full command lines.

SHELL   := bash
O       ?= build
SAN     ?= 0
TSAN    ?= 0
CC      ?= cc
PKGS    := libcrypto libconfig libmicrohttpd libqrencode libcurl libssl
VERSION := 0.1.0

WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
           -Wmissing-prototypes -Wmissing-declarations -Wcast-qual \
           -Wformat=2 -Wno-format-nonliteral
# What the build needs lives in TELEMT_*; CFLAGS, LDFLAGS and LDLIBS are
# the caller's (a distribution's, or `make CFLAGS=-O0`) and only add.
CFLAGS  ?= -O2 -g
TELEMT_CFLAGS  := -std=c11 -D_GNU_SOURCE -pthread $(WARN) -MMD -MP \
                  -DTELEMT_VERSION='"$(VERSION)"' \
                  $(shell pkg-config --cflags $(PKGS))
TELEMT_LDFLAGS := -pthread
TELEMT_LDLIBS  := $(shell pkg-config --libs $(PKGS)) -pthread
ifeq ($(SAN),1)
TELEMT_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer \
                  -fno-sanitize-recover=undefined
TELEMT_LDFLAGS += -fsanitize=address,undefined
endif
ALL_CFLAGS  = $(TELEMT_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(TELEMT_LDFLAGS) $(LDFLAGS)
ALL_LDLIBS  = $(TELEMT_LDLIBS) $(LDLIBS)

# TSAN=1: ThreadSanitizer instead (make tsan, build-tsan/).
ifeq ($(TSAN),1)
TELEMT_CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
TELEMT_LDFLAGS += -fsanitize=thread
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

COMMON_SRC := common/log.c common/xmem.c common/util.c common/config.c \
              common/crypto.c common/obfs2.c common/faketls.c common/tlsrec.c \
              common/links.c common/net.c common/stats.c common/replay.c \
              common/tlshello.c common/snapshot.c common/ctl.c \
              common/inherit.c common/handoff_rec.c common/srcguard.c \
              common/userlim.c common/me_proto.c common/mtframe.c \
              common/me_inputs.c common/socks5.c
COMMON_SRC += common/proxyproto.c common/dc_table.c
MASTER_SRC := master/main.c master/loop.c master/listen.c master/spawn.c \
              master/tlsprobe.c master/privs.c master/daemon.c \
              master/reload.c master/upgrade.c master/quota.c \
              master/users_edit.c master/replace.c master/me_fetch.c \
              master/doctor.c
WORKER_SRC := worker/worker.c worker/conn.c worker/handshake.c worker/dc.c \
              worker/mask.c worker/relay.c worker/threads.c \
              worker/keys.c worker/adopt.c worker/handoff.c \
              worker/me_pool.c worker/me_relay.c \
              worker/dc_health.c worker/dc_probe.c \
              worker/proxy_in.c worker/upstream.c
ADMIN_SRC  := admin/admin.c admin/access.c admin/abuf.c admin/admin_snap.c \
              admin/render_json.c admin/render_prom.c admin/render_html.c \
              admin/json_in.c admin/users_api.c admin/render_qr.c
UNIT_SRC   := $(sort $(wildcard tests/unit/*.c))
TOOLS      := fakedc mtclient fakeme
BENCH_SRC  := $(sort $(wildcard tests/bench/*.c))

COMMON_OBJ := $(COMMON_SRC:%.c=$(O)/%.o)
MASTER_OBJ := $(MASTER_SRC:%.c=$(O)/%.o)
WORKER_OBJ := $(WORKER_SRC:%.c=$(O)/%.o)
ADMIN_OBJ  := $(ADMIN_SRC:%.c=$(O)/%.o)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(O)/%.o)
TOOL_BINS  := $(TOOLS:%=$(O)/tests/tools/%)
BENCH_OBJ  := $(BENCH_SRC:%.c=$(O)/%.o)
BENCH_BIN  := $(O)/tests/bench/bench

ifeq ($(O),build)
BIN := telemt
else
BIN := $(O)/telemt
endif
PROXY_OBJ  := $(MASTER_OBJ) $(WORKER_OBJ) $(ADMIN_OBJ) $(O)/admin/page.o \
              $(COMMON_OBJ)
# Two more builds for the upgrade scenario (t_upgrade): one that differs
# only in its version string, one whose hand-over record has another
# version.  Only the objects that differ are compiled again.
UP_DIR     := $(O)/tests/upgrade
ALT_BIN    := $(UP_DIR)/telemt-b
REC2_BIN   := $(UP_DIR)/telemt-rec2

.PHONY: all test unit integration check check-layers check-readme valgrind \
        bench fuzz fuzz-build fuzz-smoke tsan clean install readme
.DEFAULT_GOAL := $(BIN)
all: $(BIN) $(TOOL_BINS) $(BENCH_BIN) $(O)/tests/unit/check_telemt \
     $(ALT_BIN) $(REC2_BIN)

$(BIN): $(PROXY_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(ALT_BIN): $(filter-out $(O)/master/main.o,$(PROXY_OBJ)) $(UP_DIR)/main-b.o
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(REC2_BIN): $(filter-out $(O)/master/upgrade.o $(O)/worker/handoff.o, \
        $(PROXY_OBJ)) $(UP_DIR)/upgrade-rec2.o $(UP_DIR)/handoff-rec2.o
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(UP_DIR)/main-b.o: master/main.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (+b)"
	$(Q)$(CC) $(ALL_CFLAGS) -DTELEMT_BUILD_TAG='"+b"' -Icommon -c -o $@ $<

# The "rec2" binary speaks the next state record version, whatever ours is.
HANDOFF_NEXT := $(shell awk '/^\#define HANDOFF_VERSION / { print $$3 + 1 }' \
                  worker/handoff.h)
$(UP_DIR)/%-rec2.o: */%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (record version $(HANDOFF_NEXT))"
	$(Q)$(CC) $(ALL_CFLAGS) -DHANDOFF_VERSION=$(HANDOFF_NEXT) -Icommon -c -o $@ $<

$(O)/tests/tools/%: $(O)/tests/tools/%.o $(COMMON_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(BENCH_BIN): $(BENCH_OBJ) $(COMMON_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

# The admin's renderers are pure functions of a region, and the relay a
# function of two sockets: unit-tested too.  The replay table is linked
# with its test hooks (TELEMT_TEST_HOOKS), which the daemon never has.
UNIT_COMMON := $(filter-out $(O)/common/replay.o,$(COMMON_OBJ)) \
               $(O)/tests/unit/hooks/replay.o
$(O)/tests/unit/check_telemt: $(UNIT_OBJ) $(UNIT_COMMON) \
        $(O)/admin/abuf.o $(O)/admin/admin_snap.o $(O)/admin/render_json.o \
        $(O)/admin/render_prom.o $(O)/admin/access.o $(O)/admin/json_in.o \
        $(O)/admin/render_qr.o \
        $(O)/worker/relay.o $(O)/worker/threads.o $(O)/worker/dc_health.o \
        $(O)/master/doctor.o $(O)/worker/upstream.o
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS) $(shell pkg-config --libs check)

$(O)/tests/unit/hooks/replay.o: common/replay.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (test hooks)"
	$(Q)$(CC) $(ALL_CFLAGS) -DTELEMT_TEST_HOOKS -Icommon -c -o $@ $<

$(O)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags check) -Icommon -Iworker \
	    -c -o $@ $<

$(O)/tests/tools/%.o: tests/tools/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Icommon -c -o $@ $<

$(O)/tests/bench/%.o: tests/bench/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Icommon -Itests/tools -c -o $@ $<

# The stats page is linked in as data: _binary_page_html_start/_end.
$(O)/admin/page.o: admin/page.html
	@mkdir -p $(dir $@)
	@echo "  EMBED   $<"
	$(Q)cd admin && ld -r -b binary -z noexecstack -o $(abspath $@) page.html

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Icommon -c -o $@ $<

unit: $(O)/tests/unit/check_telemt
	$(O)/tests/unit/check_telemt

integration: $(BIN) $(TOOL_BINS) $(ALT_BIN) $(REC2_BIN)
	TELEMT_BIN=$(abspath $(BIN)) TOOLS_DIR=$(abspath $(O)/tests/tools) \
	    TELEMT_ALT_BIN=$(abspath $(ALT_BIN)) \
	    TELEMT_REC2_BIN=$(abspath $(REC2_BIN)) \
	    TELEMT_PLAIN_BIN=$(abspath telemt) \
	    TELEMT_PLAIN_ALT_BIN=$(abspath build/tests/upgrade/telemt-b) \
	    TELEMT_PLAIN_REC2_BIN=$(abspath build/tests/upgrade/telemt-rec2) \
	    bash tests/integration/run.sh

test: check-layers check-readme all
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory integration

# The plain ./telemt is built too: valgrind runs it (it cannot run ASan),
# and so does t_handoff with its two siblings (its timing is the product's;
# sanitizers multiply what 500 threads cost to start and end).
check:
	$(MAKE) --no-print-directory telemt build/tests/upgrade/telemt-b \
	    build/tests/upgrade/telemt-rec2
	$(MAKE) --no-print-directory O=build-san SAN=1 test
	$(MAKE) --no-print-directory fuzz-smoke

# Figures, not verdicts: the benchmark asserts nothing (README, Performance).
bench: $(BIN) $(BENCH_BIN) $(TOOL_BINS)
	TELEMT_BIN=$(abspath $(BIN)) BENCH_BIN=$(abspath $(BENCH_BIN)) \
	    bash tests/bench/run.sh

# libFuzzer targets for every parser of untrusted bytes (clang): each runs
# FUZZ_SECONDS on its seeds (tests/fuzz/corpus/<target>/) plus a working
# corpus in build-fuzz/, then prints its execs and crashes.  The objects
# are built once with coverage, ASan and UBSan.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
# One target per tests/fuzz/fuzz_<target>.c (seeds in corpus/<target>/).
FUZZ_TARGETS := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_DIR     := build-fuzz
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -pthread -g -O1 -Icommon -Imaster -Iadmin \
                $(WARN) -MMD -MP \
                -fsanitize=address,undefined -fno-sanitize-recover=all \
                $(shell pkg-config --cflags $(PKGS))
FUZZ_OBJ     := $(COMMON_SRC:%.c=$(FUZZ_DIR)/obj/%.o) \
                $(FUZZ_DIR)/obj/master/tlsprobe.o $(FUZZ_DIR)/obj/admin/access.o \
                $(FUZZ_DIR)/obj/admin/json_in.o

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (fuzz)"
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	@echo "  LD      $@"
	@# Only the sources and objects: its .d adds the headers it read.
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $(filter %.c %.o,$^) \
	    $(shell pkg-config --libs $(PKGS))

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

fuzz: fuzz-build
	$(Q)FUZZ_DIR=$(FUZZ_DIR) bash tests/fuzz/run.sh $(FUZZ_SECONDS) \
	    $(FUZZ_TARGETS)

# Part of make check.  Skipped, loudly, only where clang is not installed
# at all (scripts/deps.sh installs it); a clang without libFuzzer fails.
fuzz-smoke:
	$(Q)if command -v clang >/dev/null; then \
	    $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS); \
	else \
	    echo "fuzz-smoke: SKIPPED: clang not found" \
	        "(scripts/deps.sh installs clang and libclang-rt-dev)"; \
	fi

# A ThreadSanitizer build in build-tsan/ (gcc's -fsanitize=thread) runs
# the unit tests and the scenarios whose connections live across worker
# threads, reloads, limits, upgrades and stops.  Too slow for make check.
# Not t_handoff: it holds 500 hand-overs to the product's 2 s, which a
# TSan worker cannot keep (t_upgrade hands connections over too).
TSAN_DIR       := build-tsan
TSAN_SCENARIOS := t_concurrent t_idle t_reload t_flood t_limits t_peraddr \
                  t_stop t_respawn t_modes t_tls t_hostile t_replay \
                  t_admin_life t_upgrade t_users t_users_api
tsan:
	$(MAKE) --no-print-directory O=$(TSAN_DIR) TSAN=1 $(TSAN_DIR)/telemt \
	    $(TSAN_DIR)/tests/tools/fakedc $(TSAN_DIR)/tests/tools/mtclient \
	    $(TSAN_DIR)/tests/unit/check_telemt \
	    $(TSAN_DIR)/tests/upgrade/telemt-b $(TSAN_DIR)/tests/upgrade/telemt-rec2
	TSAN_DIR=$(TSAN_DIR) bash tests/tsan/run.sh $(TSAN_SCENARIOS)

# The files only; scripts/install.sh adds the user, the config and the
# service around it.  The unit names the binary by PREFIX.
PREFIX  ?= /usr/local
DESTDIR ?=
install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/systemd/system \
	    $(DESTDIR)$(PREFIX)/share/doc/telemt
	@# A temporary name, then a rename: a running binary is not touched
	@# (upgrades then go through USR2).
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/.telemt.new
	mv -f $(DESTDIR)$(PREFIX)/bin/.telemt.new $(DESTDIR)$(PREFIX)/bin/telemt
	sed 's|/usr/local/|$(PREFIX)/|g' scripts/telemt.service \
	    >$(DESTDIR)/etc/systemd/system/telemt.service
	chmod 0644 $(DESTDIR)/etc/systemd/system/telemt.service
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/telemt/

check-layers:
	@! grep -nE '#include "\.\./(master|worker|admin)/' common/*.[ch] || \
	    { echo "common/ must not include other folders"; exit 1; }
	@! grep -nE '#include "\.\./master/' worker/*.[ch] admin/*.[ch] || \
	    { echo "worker/ and admin/ must not include master/"; exit 1; }

clean:
	rm -rf build build-san build-fuzz build-tsan telemt

# Keep tool objects between runs.
.SECONDARY:

-include $(shell find $(O) $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null) \
    $(wildcard $(FUZZ_DIR)/*.d)

# The README's generated tables (config keys, counters) must be exactly
# what the binary prints; make readme rewrites them.
check-readme: $(BIN)
	@bash scripts/readme_tables.sh --check ./$(BIN) README.md

readme: $(BIN)
	bash scripts/readme_tables.sh ./$(BIN) README.md

valgrind: $(O)/tests/unit/check_telemt
	CK_FORK=no valgrind -q --error-exitcode=1 --leak-check=full \
	    --errors-for-leak-kinds=definite $(O)/tests/unit/check_telemt
