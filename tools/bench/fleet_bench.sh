#!/bin/bash
# Publish-to-live latency of the fleet: a local 3-member etcd (each member
# in its own namespace) and 3 routers running xmasqd --etcd; each round
# publishes a 1-rule change with `xmasq publish --wait`, which returns when
# every router's status says the revision is applied (the status is
# written right after the apply). Prints the median and p99 over ROUNDS
# (default 50). Usage: tools/bench/fleet_bench.sh [ROUNDS]
. "$(dirname "$0")/../../selftests/netns/lib.sh"
. "$(dirname "$0")/../../selftests/netns/fleet_lib.sh"
ROUNDS=${1:-50}
xm_init etcd etcdctl
need_xmasq
ensure_bpffs || exit 1
base="$XM_TMP/base.rules"
"$XM_PY" -c 'for p in range(20000, 21000): print("forward eth0 tcp %d to 198.18.0.2:9000" % p)' >"$base"
fleet_up 3 || { echo "etcd did not start" >&2; exit 1; }
publish --ruleset web "$base" >/dev/null || exit 1
for i in 1 2 3; do router_up "$i" "$base" || { echo "router $i did not start" >&2; exit 1; }; done
publish --ruleset web --wait 30 "$base" >/dev/null || exit 1
: >"$XM_TMP/ms"
for r in $(seq 1 "$ROUNDS"); do
	{ cat "$base"; echo "forward eth0 tcp $((30000 + r)) to 198.18.0.2:9000"; } >"$XM_TMP/r.rules"
	t0=$(date +%s%N)
	publish --ruleset web --wait 30 "$XM_TMP/r.rules" >/dev/null || { echo "round $r failed" >&2; exit 1; }
	echo $((($(date +%s%N) - t0) / 1000)) >>"$XM_TMP/ms"
done
sort -n "$XM_TMP/ms" | "$XM_PY" -c 'import sys
v = [int(x) / 1000 for x in sys.stdin]
print("fleet publish-to-live, 1-rule change on a 1,000-rule set, 3 routers, 3 etcd members: "
      "median %.1f ms, p99 %.1f ms, max %.1f ms (%d rounds; includes the xmasq process start)"
      % (v[len(v) // 2], v[min(len(v) - 1, int(len(v) * 0.99))], v[-1], len(v)))'
