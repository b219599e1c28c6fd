# xmasq — build, test, demo, bench, install.
# `make` builds build/xmasq with the BPF object embedded (bpftool skeleton).

CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
BUILD    := build
ARCH_INC := /usr/include/$(shell uname -m)-linux-gnu
PREFIX   ?= /usr/local

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Iinclude -Iloader/lib -I$(BUILD)
LDLIBS   := -lxdp -lbpf -lelf -lz -lmnl -lcurl -ljansson -lgnutls
BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -Wall -Werror -Iinclude -I$(ARCH_INC)
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

BPF_SRC  := $(wildcard bpf/*.c)
BPF_HDR  := $(wildcard bpf/*.h) include/xmasq_abi.h
# loader/lib: libxmasq; loader/cli: the xmasq CLI on top of it.
LIB_SRC  := $(wildcard loader/lib/*.c)
CLI_SRC  := $(wildcard loader/cli/*.c)
LIB_HDR  := $(wildcard loader/lib/*.h) include/xmasq_abi.h
CLI_HDR  := $(wildcard loader/cli/*.h)
LIB_OBJ  := $(patsubst loader/%.c,$(BUILD)/obj/%.o,$(LIB_SRC))
CLI_OBJ  := $(patsubst loader/%.c,$(BUILD)/obj/%.o,$(CLI_SRC))
# loader/xmasqd: the daemon, with the page under www/ embedded.
XMASQD_SRC := $(wildcard loader/xmasqd/*.c)
XMASQD_HDR := $(wildcard loader/xmasqd/*.h)
XMASQD_OBJ := $(patsubst loader/%.c,$(BUILD)/obj/%.o,$(XMASQD_SRC)) $(BUILD)/obj/xmasqd/www_data.o
XMASQD_LDLIBS := -lmicrohttpd -lgnutls -ljansson -lm
WWW_FILES := $(shell find loader/xmasqd/www -type f ! -name '.*' 2>/dev/null | LC_ALL=C sort)
SKEL     := $(BUILD)/xmasq.skel.h
# The flow census (bpf/census.bpf.c): an object of its own on the same maps
CENSUS_SKEL := $(BUILD)/census.skel.h

# C test programs: selftests/c/test_*.c, each a standalone TAP program
# linked with libxmasq; also built with ASan/UBSan (build/san/).
TEST_SRC := $(wildcard selftests/c/test_*.c)
TEST_HDR := $(wildcard selftests/c/*.h)
TEST_BIN := $(patsubst selftests/c/%.c,$(BUILD)/tests/%,$(TEST_SRC))
SAN_BIN  := $(patsubst selftests/c/%.c,$(BUILD)/san/%,$(TEST_SRC))
SAN_LIB_OBJ := $(patsubst loader/%.c,$(BUILD)/san/obj/%.o,$(LIB_SRC))

.PHONY: all deps check check-build format format-check demo demo-sites bench profile bench-xmasqd bench-fleet soak install uninstall clean \
	fuzz fuzz-build
# Keep the sanitizer objects between builds.
.SECONDARY:
all: $(BUILD)/xmasq $(BUILD)/xmasqd

deps:
	@tools/deps.sh

$(BUILD)/xmasq.bpf.o: $(filter-out bpf/census.bpf.c,$(BPF_SRC)) $(BPF_HDR) | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c bpf/xmasq.bpf.c -o $@

$(SKEL): $(BUILD)/xmasq.bpf.o
	$(BPFTOOL) gen skeleton $< name xmasq_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/census.bpf.o: bpf/census.bpf.c bpf/ct_maps.h include/xmasq_abi.h | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c bpf/census.bpf.c -o $@

$(CENSUS_SKEL): $(BUILD)/census.bpf.o
	$(BPFTOOL) gen skeleton $< name census_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: loader/%.c $(LIB_HDR) $(CLI_HDR) $(XMASQD_HDR) $(SKEL) $(CENSUS_SKEL) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libxmasq.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/xmasq: $(CLI_OBJ) $(BUILD)/libxmasq.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The page: regenerated when a file under www/ changes, is added or goes
# (the list of names is a prerequisite too, rewritten only when it differs).
$(BUILD)/www/www.list: FORCE
	@mkdir -p $(dir $@)
	@echo "$(WWW_FILES)" | cmp -s - $@ || echo "$(WWW_FILES)" >$@

$(BUILD)/www/www_data.c: loader/xmasqd/embed_www.sh $(BUILD)/www/www.list $(WWW_FILES)
	loader/xmasqd/embed_www.sh loader/xmasqd/www $@

$(BUILD)/obj/xmasqd/www_data.o: $(BUILD)/www/www_data.c $(XMASQD_HDR) $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iloader/xmasqd -c $< -o $@

$(BUILD)/xmasqd: $(XMASQD_OBJ) $(BUILD)/libxmasq.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(XMASQD_LDLIBS)

.PHONY: FORCE
FORCE:

$(BUILD)/tests/%: selftests/c/%.c $(TEST_HDR) $(BUILD)/libxmasq.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iselftests/c -o $@ $< $(BUILD)/libxmasq.a $(LDLIBS)

$(BUILD)/san/obj/%.o: loader/%.c $(LIB_HDR) $(SKEL) $(CENSUS_SKEL)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(BUILD)/san/%: selftests/c/%.c $(TEST_HDR) $(SAN_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -Iselftests/c -o $@ $< $(SAN_LIB_OBJ) $(LDLIBS)

$(BUILD):
	mkdir -p $@

check-build: $(BUILD)/xmasq $(BUILD)/xmasqd $(TEST_BIN) $(SAN_BIN) check-headers \
	$(BUILD)/tests/vlan_edge.bpf.o $(BUILD)/bench/xbench $(BUILD)/bench/jitlines

# A VLAN edge for the netns tests (selftests/netns/netns_ipv6_vlan.sh)
$(BUILD)/tests/vlan_edge.bpf.o: selftests/netns/bpf/vlan_edge.bpf.c
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# Every header compiles on its own (includes what it uses): bpf/*.h with
# the BPF flags, the ABI header with both, the library's and xmasqd's with
# the userspace flags (unused static functions are expected in a header
# alone).
# One stamp per header, remade when any header changes.
HDR_STAMP := $(BUILD)/hdrcheck
BPF_HDR_STAMPS := $(patsubst %,$(HDR_STAMP)/%.bpf,$(BPF_HDR))
LIB_HDR_STAMPS := $(patsubst %,$(HDR_STAMP)/%.user,$(LIB_HDR) $(XMASQD_HDR))
.PHONY: check-headers
check-headers: $(BPF_HDR_STAMPS) $(LIB_HDR_STAMPS)

$(HDR_STAMP)/%.bpf: % $(BPF_HDR)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -Wno-unused-function -fsyntax-only -x c -include $< /dev/null
	@touch $@

$(HDR_STAMP)/%.user: % $(LIB_HDR) $(XMASQD_HDR) $(SKEL) $(CENSUS_SKEL)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-unused-function -fsyntax-only -x c -include $< /dev/null
	@touch $@

# Fuzzing (selftests/fuzz): libFuzzer harnesses built by clang with ASan
# and UBSan under build/fuzz/: fuzz_rules (the rules parser) and
# fuzz_dataplane (XDP and tc through BPF_PROG_TEST_RUN). `make fuzz` builds
# them and runs each for FUZZ_SECONDS (600) over a copy of its corpus in
# build/fuzz/corpus/; `make check` replays selftests/fuzz/corpus/ and
# fuzzes each briefly (selftests/fuzz/run_fuzz.sh).
FUZZ       := $(BUILD)/fuzz
FUZZ_CC    ?= clang
FUZZ_FLAGS := -g -O1 -std=gnu11 -Wall -Wextra -Werror -fno-omit-frame-pointer \
	      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	      -Iinclude -Iloader/lib -I$(BUILD) -Iselftests/c
FUZZ_BIN   := $(FUZZ)/fuzz_rules $(FUZZ)/fuzz_dataplane
# (here, not on check-build's line above: a prerequisite list is expanded
# where it is read, and FUZZ_BIN was empty there)
check-build: $(FUZZ_BIN)
FUZZ_SECONDS ?= 600

$(FUZZ)/fuzz_rules: selftests/fuzz/fuzz_rules.c loader/lib/rules.c loader/lib/rules.h loader/lib/text.h \
		loader/lib/parse_text.c loader/lib/parse_text.h include/xmasq_abi.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ selftests/fuzz/fuzz_rules.c loader/lib/rules.c loader/lib/parse_text.c

$(FUZZ)/fuzz_dataplane: selftests/fuzz/fuzz_dataplane.c $(TEST_HDR) $(BUILD)/libxmasq.a $(SKEL) $(CENSUS_SKEL)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(BUILD)/libxmasq.a $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz:
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) selftests/fuzz/run_fuzz.sh --long

# Everything: unit, sanitizer, BPF_PROG_TEST_RUN and namespace tests.
# Ends with one line "N passed, N failed".
check:
	@tools/deps.sh --if-missing
	@$(MAKE) --no-print-directory -j$$(nproc) check-build
	@selftests/run.sh

# The C sources in kernel style (.clang-format); CI runs format-check.
C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(C_FILES)
format-check:
	@clang-format --dry-run -Werror $(C_FILES) && echo "format-check: $(words $(C_FILES)) files in kernel style"

demo:
	@tools/deps.sh --if-missing
	@$(MAKE) --no-print-directory all
	@tools/demo.sh

# demo-sites: three sites' routers in namespaces, one network file, services
# reached both ways through private addresses, a non-member refused, a
# change applied at every site (tools/demo_sites.sh, under a minute).
demo-sites:
	@tools/deps.sh --if-missing
	@$(MAKE) --no-print-directory all
	@tools/demo_sites.sh

# bench: xmasq against iptables, nftables and a bare XDP redirect on one
# namespace topology (tools/bench/bench.sh), then xmasqd's API timings,
# idle CPU and memory (tools/bench/xmasqd_bench.sh, under a minute; alone:
# make bench-xmasqd), then the fleet's publish-to-live latency on a local
# 3-member etcd (tools/bench/fleet_bench.sh, about 2 minutes; alone: make
# bench-fleet); results in build/bench/.
# QUICK=1: fewer repetitions, shorter runs, fewer scenarios (< 3 minutes).
BENCH     := $(BUILD)/bench
QUICK     ?=

$(BENCH):
	mkdir -p $@

$(BENCH)/bench.bpf.o: tools/bench/bench.bpf.c tools/bench/bench.h | $(BENCH)
	$(CLANG) $(BPF_CFLAGS) -Itools/bench -c $< -o $@

$(BENCH)/bench.skel.h: $(BENCH)/bench.bpf.o
	$(BPFTOOL) gen skeleton $< name bench_bpf > $@.tmp && mv $@.tmp $@

$(BENCH)/xbench: tools/bench/xbench.c tools/bench/bench.h $(BENCH)/bench.skel.h $(BUILD)/libxmasq.a
	$(CC) $(CFLAGS) -Itools/bench -I$(BENCH) -o $@ $< $(BUILD)/libxmasq.a $(LDLIBS)

# jitlines: the JIT's address of every BPF source line (make profile)
$(BENCH)/jitlines: tools/bench/jitlines.c | $(BENCH)
	$(CC) $(CFLAGS) -o $@ $< -lbpf

bench:
	@tools/deps.sh --if-missing
	@command -v gnuplot >/dev/null && command -v iperf3 >/dev/null || tools/deps.sh
	@$(MAKE) --no-print-directory all $(BENCH)/xbench
	@QUICK=$(QUICK) tools/bench/bench.sh
	@tools/bench/xmasqd_bench.sh
	@QUICK=$(QUICK) tools/bench/fleet_bench.sh

# profile SCENARIO=fastpath (or reply, newflow, fastpath6, newflow6,
# newflow6to4): where that prog-ns scenario's time goes on this CPU, by BPF
# source line (tools/bench/profile.sh; build/bench/profile-SCENARIO.md).
SCENARIO ?= fastpath
profile:
	@tools/deps.sh --if-missing
	@command -v perf >/dev/null || tools/deps.sh
	@$(MAKE) --no-print-directory all $(BENCH)/xbench $(BENCH)/jitlines
	@tools/bench/profile.sh $(SCENARIO) $(REPEAT)

bench-xmasqd:
	@tools/deps.sh --if-missing
	@$(MAKE) --no-print-directory all
	@tools/bench/xmasqd_bench.sh

bench-fleet:
	@tools/deps.sh --if-missing
	@$(MAKE) --no-print-directory all $(BENCH)/xbench
	@QUICK=$(QUICK) tools/bench/fleet_bench.sh

# soak: a mixed load through xmasq (the tcp-cps churn of new TCP
# connections to nginx, new UDP flows, a ping flood, applies, expiry sweeps)
# for SOAK_SECONDS (600) or MINUTES=N, in SOAK_MODE (tc; or xdp); per-minute
# lines; then every flow must expire, every port be free, no slot stay
# marked and memory stay flat; fails when a connection or an end check did
# (tools/bench/soak.sh). Not part of check; CI runs SOAK_SECONDS=60.
SOAK_SECONDS ?= 600
SOAK_MODE    ?= tc
soak:
	@tools/deps.sh --if-missing
	@$(MAKE) --no-print-directory all $(BENCH)/xbench
	@SOAK_SECONDS=$(SOAK_SECONDS) MINUTES=$(MINUTES) SOAK_MODE=$(SOAK_MODE) SOAK_FAILED_PER_MILLION=$(SOAK_FAILED_PER_MILLION) tools/bench/soak.sh

# install: the binary, the man page and the systemd unit under PREFIX; the
# operator's files under /etc only when absent (never overwritten, and left
# by uninstall). The unit goes to PREFIX/lib/systemd/system: systemd reads
# both /usr/local/lib/systemd/system and /usr/lib/systemd/system. The
# configuration stays in /etc whatever PREFIX is: the binary and the unit
# look for it there.
SBINDIR  ?= $(PREFIX)/sbin
MAN8DIR  ?= $(PREFIX)/share/man/man8
MAN5DIR  ?= $(PREFIX)/share/man/man5
UNITDIR  ?= $(PREFIX)/lib/systemd/system
ETCDIR   := /etc

install: $(BUILD)/xmasq $(BUILD)/xmasqd
	install -D -m 0755 $(BUILD)/xmasq $(DESTDIR)$(SBINDIR)/xmasq
	install -D -m 0755 $(BUILD)/xmasqd $(DESTDIR)$(SBINDIR)/xmasqd
	install -D -m 0644 doc/xmasq.8 $(DESTDIR)$(MAN8DIR)/xmasq.8
	install -D -m 0644 doc/xmasqd.8 $(DESTDIR)$(MAN8DIR)/xmasqd.8
	install -D -m 0644 doc/xmasq-sites.5 $(DESTDIR)$(MAN5DIR)/xmasq-sites.5
	install -d $(DESTDIR)$(UNITDIR)
	for u in xmasq xmasqd; do \
		sed 's|/usr/local/sbin/|$(SBINDIR)/|g' etc/$$u.service >$(DESTDIR)$(UNITDIR)/$$u.service.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.service.tmp && \
		mv $(DESTDIR)$(UNITDIR)/$$u.service.tmp $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	done
	install -d -m 0755 $(DESTDIR)$(ETCDIR)/xmasq $(DESTDIR)$(ETCDIR)/default
	@if [ -e $(DESTDIR)$(ETCDIR)/xmasq/rules.conf ]; then \
		echo "kept $(DESTDIR)$(ETCDIR)/xmasq/rules.conf (exists; the example is etc/rules.conf.example)"; \
	else \
		echo "install -m 0644 etc/rules.conf.example $(DESTDIR)$(ETCDIR)/xmasq/rules.conf"; \
		install -m 0644 etc/rules.conf.example $(DESTDIR)$(ETCDIR)/xmasq/rules.conf; \
	fi
	@if [ -e $(DESTDIR)$(ETCDIR)/default/xmasq ]; then \
		echo "kept $(DESTDIR)$(ETCDIR)/default/xmasq (exists; the example is etc/default.example)"; \
	else \
		echo "install -m 0644 etc/default.example $(DESTDIR)$(ETCDIR)/default/xmasq"; \
		install -m 0644 etc/default.example $(DESTDIR)$(ETCDIR)/default/xmasq; \
	fi
	@if [ -e $(DESTDIR)$(ETCDIR)/default/xmasqd ]; then \
		echo "kept $(DESTDIR)$(ETCDIR)/default/xmasqd (exists; the example is etc/default-xmasqd.example)"; \
	else \
		echo "install -m 0644 etc/default-xmasqd.example $(DESTDIR)$(ETCDIR)/default/xmasqd"; \
		install -m 0644 etc/default-xmasqd.example $(DESTDIR)$(ETCDIR)/default/xmasqd; \
	fi

# uninstall: what install put under PREFIX; the operator's /etc files stay.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/xmasq $(DESTDIR)$(MAN8DIR)/xmasq.8 $(DESTDIR)$(UNITDIR)/xmasq.service
	rm -f $(DESTDIR)$(SBINDIR)/xmasqd $(DESTDIR)$(MAN8DIR)/xmasqd.8 $(DESTDIR)$(UNITDIR)/xmasqd.service
	rm -f $(DESTDIR)$(MAN5DIR)/xmasq-sites.5
	@echo "kept $(DESTDIR)$(ETCDIR)/xmasq/rules.conf, $(DESTDIR)$(ETCDIR)/default/xmasq and $(DESTDIR)$(ETCDIR)/default/xmasqd (yours; remove them by hand if unwanted)"

clean:
	rm -rf $(BUILD)
