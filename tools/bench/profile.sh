#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# profile.sh SCENARIO [REPEAT]: where one prog-ns scenario's time goes, by
# BPF source line, on this CPU.
#
# SCENARIO: fastpath, reply, newflow, fastpath6, newflow6 or newflow6to4,
# the prog-ns scenarios of bench.sh on the same topology and tables. The
# program runs REPEAT times (BPF_PROG_TEST_RUN through the bench's wrapper)
# on CPU 1 while `perf record` samples its task's clock; jitlines
# tells which source line each sampled JIT address is (bpftool cannot show
# the JIT's code on Debian: no libbfd), profile.py sums them up.
#
# Writes build/bench/profile-SCENARIO.md (tables: xmasq's code, the kernel
# functions it calls and the harness; BPF functions; source files; kernel
# functions; the busiest source lines, each with its share and its ns a
# packet) and prints it. Needs root, perf (linux-perf) and `make
# build/bench/xbench build/bench/jitlines` (make profile does all that).
# A sample says where the CPU was, not why: a line that waits on memory
# (a flow table's cache miss) collects the wait.
set -u
SCEN=${1:-}
REPEAT=${2:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
JL=$ROOT/build/bench/jitlines
case "$SCEN" in
fastpath | reply | fastpath6) REPEAT=${REPEAT:-20000000} ;;
newflow | newflow6 | newflow6to4) REPEAT=${REPEAT:-1000000} ;;
*)
	echo "usage: profile.sh fastpath|reply|newflow|fastpath6|newflow6|newflow6to4 [REPEAT]" >&2
	exit 2
	;;
esac
command -v perf >/dev/null || { echo "profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
[ -x "$JL" ] || { echo "profile.sh: $JL is missing (make build/bench/jitlines)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "profile.sh: needs 2 CPUs (the test runs on CPU 1)" >&2; exit 1; }

BENCH_LIB=1 . "$ROOT/tools/bench/bench.sh"

orig="--dev eth0 --dmac $R0_MAC --smac $G_MAC --src $FLOW_SRC --dst $R0_IP"
orig6="--dev eth0 --dmac $R0_MAC --smac $G_MAC --src $FLOW_SRC6 --dst $R0_IP6"
newflows="--flows 0 --first 16777216 --dport-bits 8"
topo_up udp6 >"$TMP/up.log" 2>&1 || { cat "$TMP/up.log" >&2; die "topology"; }
# tables as bench.sh's prog phase sizes them: 10^6 new flows fit
case "$SCEN" in
newflow) ct="$CT_1M" ct6="" ;;
newflow6) ct="$CT_DEFAULT" ct6="$CT_1M" ;;
newflow6to4) ct="$CT_1M" ct6="$CT_1M" ;;
*) ct="$CT_DEFAULT" ct6="" ;;
esac
xmasq_up xdp "$ct" "" "" $ct6 >>"$TMP/up.log" 2>&1 || { cat "$TMP/up.log" >&2; die "xmasq attach"; }
case "$SCEN" in
fastpath) args="$orig" prime=1 ;;
reply) args="--dev eth1 --dmac $R1_MAC --smac $S_MAC --src $S_IP --dst $R1_IP --sport 5000 --dport 10000" prime=1 ;;
fastpath6) args="$orig6" prime=1 ;;
newflow) args="$orig $newflows" prime= ;;
newflow6) args="$orig6 $newflows" prime= ;;
newflow6to4) args="$orig6 --dport 7000 $newflows" prime= ;;
esac
# an established flow's scenarios: the flow first (reply: the original
# direction's packet makes the flow the reply belongs to)
if [ -n "$prime" ]; then
	case "$SCEN" in reply) p="$orig" ;; *) p="$args" ;; esac
	nsx "$NS_R" "$XB" prog --repeat 1 --target "$PIN/prog_xdp" $p >/dev/null || die "the first packet"
fi
# every program's lines now: the JIT addresses of the ones perf will see
"$JL" >"$TMP/jitlines" || die "jitlines"
# the test's own task, with call chains: profile.py keeps the samples
# taken inside the test run (not the harness's setup), and the kernel's
# background work on that CPU (freeing an earlier run's maps) is none of
# the program's
perf record -q -g -e cpu-clock -F 10000 -o "$TMP/perf.data" -- \
	taskset -c 1 nsenter --net="/run/netns/$NS_R" "$XB" prog --repeat "$REPEAT" \
	--target "$PIN/prog_xdp" $args >"$TMP/run.json" 2>"$TMP/perf.err" ||
	{ cat "$TMP/perf.err" >&2; die "perf record"; }
ns=$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(d["ns"])' "$TMP/run.json") ||
	die "no result from xbench prog"
perf script -i "$TMP/perf.data" -F ip,sym >"$TMP/samples" 2>/dev/null || die "perf script"
report=$OUT/profile-$SCEN.md
python3 "$ROOT/tools/bench/profile.py" "$TMP/samples" "$TMP/jitlines" "$ns" \
	"prog-ns-$SCEN: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), $(date -u +%F)" \
	>"$report.tmp" || die "profile.py"
mv "$report.tmp" "$report"
cat "$report"
log "written to $report"
