#!/bin/bash
# Runs every test and ends with one line "N passed, N failed".
# Tests print TAP ("ok N - ..." / "not ok N - ..."); a test program that exits
# non-zero without reporting a failure counts as one failure itself.
# Usage: selftests/run.sh [PATTERN]   (only tests whose name contains PATTERN)
cd "$(dirname "$0")/.." || exit 2
pattern="${1:-}"
pass=0
fail=0
skip=0
# Every failed check, repeated just above the summary: CI's report shows
# only the end of the log.
FAILED=()

run_one() {
	local name="$1"; shift
	[ -n "$pattern" ] && [[ "$name" != *"$pattern"* ]] && return
	echo "# ---- $name"
	local out rc started
	out=$(mktemp)
	started=$SECONDS
	timeout --kill-after=10 900 "$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	# How long each suite took: CI must stay under 25 minutes in all.
	echo "# ---- $name: $((SECONDS - started)) s"
	count_one "$name" "$out" "$rc"
}

# The VM suites boot a kernel under emulation, minutes of one CPU's time
# that wait on nothing here: they run beside the unit tests and the fuzzers
# (which time nothing), and are waited for before the namespace suites,
# whose streams and timers must have the machine to themselves.
BG_NAMES=() BG_OUTS=() BG_PIDS=() BG_STARTS=()
start_bg() {
	local name="$1"; shift
	[ -n "$pattern" ] && [[ "$name" != *"$pattern"* ]] && return
	BG_NAMES+=("$name") BG_OUTS+=("$(mktemp)") BG_STARTS+=("$SECONDS")
	timeout --kill-after=10 900 "$@" >"${BG_OUTS[-1]}" 2>&1 &
	BG_PIDS+=("$!")
}
join_bg() {
	local i rc
	for i in "${!BG_PIDS[@]}"; do
		wait "${BG_PIDS[$i]}"
		rc=$?
		echo "# ---- ${BG_NAMES[$i]} (ran beside the unit tests and fuzzers)"
		cat "${BG_OUTS[$i]}"
		echo "# ---- ${BG_NAMES[$i]}: $((SECONDS - BG_STARTS[$i])) s"
		count_one "${BG_NAMES[$i]}" "${BG_OUTS[$i]}" "$rc"
	done
	BG_PIDS=()
}

# count_one NAME OUT RC: add NAME's TAP results in file OUT to the totals
count_one() {
	local name="$1" out="$2" rc="$3"
	local p f s
	p=$(grep -cE '^ok [0-9]+' "$out" | tr -d ' ')
	s=$(grep -cE '^ok [0-9]+ .*# SKIP' "$out" | tr -d ' ')
	f=$(grep -cE '^not ok [0-9]+' "$out" | tr -d ' ')
	p=$((p - s))
	local line
	while IFS= read -r line; do
		FAILED+=("$name: $line")
	done < <(grep -E '^not ok [0-9]+' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc"
		FAILED+=("$name: exited with status $rc")
		f=1
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	rm -f "$out"
}

for t in selftests/vm/vm_*.sh; do
	[ -x "$t" ] && start_bg "$(basename "$t")" "$t"
done
for t in build/tests/test_*; do
	[ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
for t in build/san/test_*; do
	[ -x "$t" ] && run_one "asan+ubsan $(basename "$t")" env ASAN_OPTIONS=detect_leaks=1 "$t"
done
# Each program's deepest call chain within 6.1's 512 bytes of stack (the VM
# suite finds an overflow only after minutes of emulation).
run_one "bpf_stack (selftests/bpf_stack.py)" python3 selftests/bpf_stack.py build/xmasq.bpf.o
# The fuzz harnesses: their corpora replayed, then a short fuzz of each.
run_one "fuzz (selftests/fuzz/run_fuzz.sh)" selftests/fuzz/run_fuzz.sh
# Namespace suites that time no stream and wait on no deadline shorter than
# seconds (command-line behaviour, port-use reports, the sites' rules, the
# xmasqd API) use the VM's wait too: the VM takes one CPU, as it did beside
# the unit tests.
BESIDE_VM="netns_cli.sh netns_portuse.sh netns_sites.sh netns_xmasqd.sh"
for n in $BESIDE_VM; do
	[ -x "selftests/netns/$n" ] && run_one "$n" "selftests/netns/$n"
done
join_bg
for t in selftests/netns/netns_*.sh; do
	case " $BESIDE_VM " in *" $(basename "$t") "*) continue ;; esac
	[ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
# The end-to-end suite again in the other attach modes. Generic XDP with
# GRO veth peers only: with plain peers the sender's checksum-partial
# packets go to tc, which the tc mode's run covers.
run_one "netns_e2e.sh --mode tc" env XM_MODE=tc selftests/netns/netns_e2e.sh
run_one "netns_e2e.sh --mode xdp-generic" env XM_MODE=xdp-generic VARIANTS=gro selftests/netns/netns_e2e.sh

if [ "${#FAILED[@]}" -gt 0 ]; then
	echo "# failed:"
	printf '#   %s\n' "${FAILED[@]}"
fi
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
