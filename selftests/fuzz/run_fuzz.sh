#!/bin/bash
# Runs the libFuzzer harnesses of selftests/fuzz (built by `make fuzz-build`
# into build/fuzz/), printing TAP.
#   run_fuzz.sh          (make check) each harness replays its corpus in
#                        selftests/fuzz/corpus/NAME, then fuzzes a fixed
#                        number of inputs from a copy of it, from a fixed
#                        seed (FUZZ_CHECK_RUNS: rules 150,000, dataplane
#                        50,000; about 20 s each here): the same inputs on
#                        every machine. (It fuzzed for 20 s: a faster
#                        machine went further and could fail where a
#                        slower one passed.)
#   run_fuzz.sh --long   (make fuzz) each fuzzes for FUZZ_SECONDS (600) in
#                        build/fuzz/corpus/NAME (seeded from the tree's
#                        corpus, kept between runs), then prints its figures.
# A crash or a broken invariant is a failure; the input that caused it is
# kept as build/fuzz/crash-NAME-* (replay: build/fuzz/fuzz_NAME FILE).
cd "$(dirname "$0")/../.." || exit 2
long=
[ "${1:-}" = --long ] && long=1
check_runs=${FUZZ_CHECK_RUNS:-}
long_s=${FUZZ_SECONDS:-600}
out=build/fuzz
n=0
failed=0

ok() { # ok COND MESSAGE
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}


for name in rules dataplane; do
	bin=$out/fuzz_$name
	corpus=selftests/fuzz/corpus/$name
	if [ "$name" = dataplane ] && [ "$(id -u)" != 0 ]; then
		n=$((n + 1)); echo "ok $n - fuzz_$name # SKIP needs root (BPF_PROG_TEST_RUN)"
		continue
	fi
	if [ ! -x "$bin" ]; then
		ok 1 "fuzz_$name is built ($bin: run make fuzz-build)"
		continue
	fi
	case $name in # extra libFuzzer options
	rules) opts=(-dict=selftests/fuzz/rules.dict -max_len=4096) runs=${check_runs:-150000} ;;
	*) opts=(-max_len=2048) runs=${check_runs:-50000} ;;
	esac
	log=$(mktemp)
	if [ -z "$long" ]; then
		"$bin" "${opts[@]}" -runs=0 "$corpus" >"$log" 2>&1
		rc=$?
		ok $rc "fuzz_$name replays its corpus ($(find "$corpus" -type f | wc -l) inputs) without a crash or broken invariant"
		[ $rc = 0 ] || tail -40 "$log" | sed 's/^/# /'
		work=$(mktemp -d)
		cp "$corpus"/* "$work"/
		"$bin" "${opts[@]}" -seed=1 -runs="$runs" -print_final_stats=1 \
			-artifact_prefix="$out/crash-$name-" "$work" "$corpus" >"$log" 2>&1
		rc=$?
		ok $rc "fuzz_$name fuzzes $runs inputs (seed 1) without a crash or broken invariant"
		[ $rc = 0 ] || tail -40 "$log" | sed 's/^/# /'
		grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$log" | sed 's/^/# /'
		rm -rf "$work"
	else
		work=$out/corpus/$name
		mkdir -p "$work"
		"$bin" "${opts[@]}" -max_total_time="$long_s" -print_final_stats=1 \
			-artifact_prefix="$out/crash-$name-" "$work" "$corpus" >"$log" 2>&1
		rc=$?
		ok $rc "fuzz_$name fuzzed ${long_s}s without a crash or broken invariant"
		[ $rc = 0 ] && grep -E '^stat::|^#[0-9]+.*DONE' "$log" | sed 's/^/# /'
		[ $rc = 0 ] || tail -40 "$log" | sed 's/^/# /'
		echo "# corpus: $work ($(find "$work" -type f | wc -l) inputs); minimize into $corpus with"
		echo "#   $bin -merge=1 NEWDIR $work"
	fi
	rm -f "$log"
done
echo "1..$n"
exit $failed
