#!/bin/bash
# make profile (tools/bench/profile.sh): where a prog-ns scenario's time
# goes, by BPF source line.
#
#  - profile.py on made-up samples: each sample goes to the source line
#    whose code starts last at or before it (a line's first byte included,
#    the byte past a function's end not), the bench's wrapper and the test
#    loop to the harness, idle samples left out, any other to its kernel
#    function; shares and ns add up; no samples is an error;
#  - on the bench's topology, for real: fastpath (xmasq_xdp's lines: the
#    flow table's, the parser's), fastpath6 (the tail-called xmasq_xdp6 is
#    read as well) and newflow (xm_ct_claim, and the FIB lookup among the
#    kernel functions it calls); the report is written where make profile
#    says.
#
# TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init perf
need_xmasq
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JL=$ROOT/build/bench/jitlines

# ---- profile.py on made-up samples ----
cat >"$XM_TMP/jitlines" <<'JIT'
F	ffffffffc0000000	256	xmasq_xdp	xmasq_xdp
F	ffffffffc0000100	80	xmasq_xdp	xm_ct_claim
F	ffffffffc0001000	64	xb_wrap	xb_wrap
L	ffffffffc0000000	xmasq_xdp	xmasq.bpf.c:222	int xmasq_xdp(struct xdp_md *ctx)
L	ffffffffc0000040	xmasq_xdp	ct.h:95	if (sw1 == live)
L	ffffffffc0000100	xmasq_xdp	ct.h:152	if (sw1 == live && XM_CT_W0(s) == w0)
JIT
cat >"$XM_TMP/samples" <<'SAMPLES'
ffffffffc0000010 bpf_prog_1_xmasq_xdp
ffffffffc000003f bpf_prog_1_xmasq_xdp
ffffffffc0000040 bpf_prog_1_xmasq_xdp
ffffffffc0000041 bpf_prog_1_xmasq_xdp
ffffffffc00000ff bpf_prog_1_xmasq_xdp
ffffffffc000014f bpf_prog_2_xm_ct_claim
ffffffffc0000150 bpf_test_run
ffffffffc0001010 bpf_prog_3_xb_wrap
ffffffff81000000 bpf_ipv4_fib_lookup
ffffffff81000100 pv_native_safe_halt
SAMPLES
if python3 "$ROOT/tools/bench/profile.py" "$XM_TMP/samples" "$XM_TMP/jitlines" 90 test >"$XM_TMP/made-up.md" 2>&1; then
	r=$XM_TMP/made-up.md
	# 10 samples, 1 idle: 9 busy; BPF 6, harness 2, kernel 1; 90 ns a repetition
	grep -q '^| xmasq.s BPF code | 66.7 % | 60.0 |$' "$r" &&
		grep -q '^| the harness .* | 22.2 % | 20.0 |$' "$r" &&
		grep -q '^| kernel functions .* | 11.1 % | 10.0 |$' "$r"
	tap_result $? "profile.py: shares of the busy samples (idle left out) and their ns"
	grep -q '^| xmasq.bpf.c:222 | 22.2 % | 20.0 |' "$r" && grep -q '^| ct.h:95 | 33.3 % | 30.0 |' "$r" &&
		grep -q '^| ct.h:152 | 11.1 % | 10.0 |' "$r"
	tap_result $? "profile.py: a sample belongs to the line whose code starts last at or before it"
	grep -q '^| ct.h | 44.4 % | 40.0 |$' "$r" && grep -q '^| xmasq.bpf.c | 22.2 % | 20.0 |$' "$r" &&
		grep -q '^| xm_ct_claim (xmasq_xdp) | 11.1 % | 10.0 |$' "$r" &&
		grep -q '^| xmasq_xdp (xmasq_xdp) | 55.6 % | 50.0 |$' "$r"
	tap_result $? "profile.py: by source file and by BPF function; the byte past a function is not its"
	grep -q '^| bpf_ipv4_fib_lookup | 11.1 % | 10.0 |$' "$r" && ! grep -q 'pv_native_safe_halt\|xb_wrap' "$r"
	tap_result $? "profile.py: kernel functions by name; neither idle nor the wrapper among them"
else
	tap_not_ok "profile.py on made-up samples: $(cat "$XM_TMP/made-up.md")"
fi
: >"$XM_TMP/none"
if python3 "$ROOT/tools/bench/profile.py" "$XM_TMP/none" "$XM_TMP/jitlines" 90 test >"$XM_TMP/none.out" 2>&1; then
	tap_not_ok "profile.py without samples: should fail"
else
	grep -q 'no samples' "$XM_TMP/none.out"
	tap_result $? "profile.py without samples: fails saying so"
fi

# call chains (perf record -g): only what ran inside the test run counts
printf '\tffffffffc0000010 bpf_prog_1_xmasq_xdp\n\tffffffff81100000 bpf_test_run\n\n' >"$XM_TMP/chains"
printf '\tffffffff81000000 htab_map_alloc\n\tffffffff81200000 map_create\n\n' >>"$XM_TMP/chains"
printf '\tffffffffc0000040 bpf_prog_1_xmasq_xdp\n\tffffffff81100000 bpf_test_run\n' >>"$XM_TMP/chains"
if python3 "$ROOT/tools/bench/profile.py" "$XM_TMP/chains" "$XM_TMP/jitlines" 90 test >"$XM_TMP/chains.md" 2>&1; then
	grep -q '^| xmasq.s BPF code | 100.0 % | 90.0 |$' "$XM_TMP/chains.md" &&
		grep -q '^| ct.h:95 | 50.0 % | 45.0 |' "$XM_TMP/chains.md" && ! grep -q htab_map_alloc "$XM_TMP/chains.md"
	tap_result $? "profile.py with call chains: the samples inside bpf_test_run, the last without a blank line after it too"
else
	tap_not_ok "profile.py with call chains: $(cat "$XM_TMP/chains.md")"
fi

# ---- the real thing, on the bench's topology ----
[ -x "$JL" ] && [ -x "$ROOT/build/bench/xbench" ] || {
	tap_not_ok "build/bench/jitlines and build/bench/xbench not built (make check-build)"
	tap_done
	exit 1
}
# profile SCENARIO REPEAT: runs it; the report in $XM_TMP/SCENARIO.md
profile() {
	rm -f "$ROOT/build/bench/profile-$1.md"
	if ! "$ROOT/tools/bench/profile.sh" "$1" "$2" >"$XM_TMP/$1.out" 2>&1; then
		tap_not_ok "make profile SCENARIO=$1: failed"
		diag "$(tail -20 "$XM_TMP/$1.out")"
		return 1
	fi
	cp "$ROOT/build/bench/profile-$1.md" "$XM_TMP/$1.md" 2>/dev/null
	tap_result $? "profile $1: written to build/bench/profile-$1.md"
}
# row_share REPORT ROW: the share (a number) of the first row starting so
row_share() { grep -m1 "^| $2" "$1" | awk -F'|' '{ sub(/ %/, "", $3); print $3 + 0 }'; }
# more_than REPORT ROW MIN: that row's share above MIN %
more_than() { awk -v s="$(row_share "$1" "$2")" -v m="$3" 'BEGIN { exit !(s > m) }'; }

if profile fastpath 2000000; then
	r=$XM_TMP/fastpath.md
	more_than "$r" "xmasq's BPF code" 10 && more_than "$r" "xmasq_xdp (xmasq_xdp)" 10
	tap_result $? "fastpath: xmasq_xdp's own code is read as such ($(row_share "$r" "xmasq's BPF code") %)"
	more_than "$r" "ct.h |" 0 && more_than "$r" "parse.h |" 0 && more_than "$r" "stats.h |" 0
	tap_result $? "fastpath: its source files (the flow table, the parser, the counters)"
	[ "$(awk -F'|' '/^\| (xmasq.s BPF code|kernel functions|the harness)/ { s += $3 } END { printf "%.0f", s }' "$r")" = 100 ]
	tap_result $? "fastpath: the parts add up to 100 %"
fi
if profile fastpath6 2000000; then
	more_than "$XM_TMP/fastpath6.md" "xmasq_xdp6 (xmasq_xdp6)" 10 && more_than "$XM_TMP/fastpath6.md" "ct6.h |" 0
	tap_result $? "fastpath6: the tail-called xmasq_xdp6 and its flow table are read too"
fi
if profile newflow 200000; then
	r=$XM_TMP/newflow.md
	more_than "$r" "xm_ct_claim (xmasq_xdp)" 1 && grep -q '^| .*fib.*lookup' "$r"
	tap_result $? "newflow: xm_ct_claim, and the kernel's FIB lookup it calls"
fi
tap_done
