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
	local p f s
	p=$(grep -cE '^ok [0-9]+' "$out" | tr -d ' ')
	s=$(grep -cE '^ok [0-9]+ .*# SKIP' "$out" | tr -d ' ')
	f=$(grep -cE '^not ok [0-9]+' "$out" | tr -d ' ')
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc"
		f=1
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	rm -f "$out"
}

for t in build/tests/test_*; do
	[ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
for t in build/san/test_*; do
	[ -x "$t" ] && run_one "asan+ubsan $(basename "$t")" env ASAN_OPTIONS=detect_leaks=1 "$t"
done
# The fuzz harnesses: their corpora replayed, then a short fuzz of each.
run_one "fuzz (selftests/fuzz/run_fuzz.sh)" selftests/fuzz/run_fuzz.sh
for t in selftests/netns/netns_*.sh; do
	[ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
# The end-to-end suite again in the other attach modes.
for mode in tc xdp-generic; do
	run_one "netns_e2e.sh --mode $mode" env XM_MODE=$mode selftests/netns/netns_e2e.sh
done
for t in selftests/vm/vm_*.sh; do
	[ -x "$t" ] && run_one "$(basename "$t")" "$t"
done

if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
