#!/bin/bash
# tools/bench/soak.sh — `make soak`: bench.sh's tcp-cps load (ab from
# CPS_CLIENTS client addresses, a new TCP connection per request, to nginx
# behind `forward eth0 tcp 8080 to S:80`) through xmasq, for SOAK_SECONDS
# (600) as fast as the clients go, in SOAK_MODE (tc: the mode for veth; or
# xdp; iptables or nftables put the kernel's NAT there instead, for
# reference). One line a minute (connections, conn/s, failed, slower than
# 1 s, flows in the table, drops), then the totals and the counters; ab's
# reports of a minute with failures are kept in build/bench/soak-fail-*.
# Exit 1 when any connection failed (refused, reset, timed out, non-2xx)
# or a minute completed none.
# Same topology, namespaces and cleanup as bench.sh (sourced for them).
set -u
BENCH_LIB=1 . "$(dirname "${BASH_SOURCE[0]}")/bench.sh"

SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_MODE=${SOAK_MODE:-tc}
case "$SOAK_MODE" in
xdp | tc) SYS=xmasq-$SOAK_MODE ;;
iptables | nftables) SYS=$SOAK_MODE ;;
*) die "SOAK_MODE is tc, xdp, iptables or nftables" ;;
esac
case "$SOAK_SECONDS" in '' | *[!0-9]* | 0) die "SOAK_SECONDS is a number of seconds" ;; esac

# counters: xmasq's stats as "flows flows_max flow_new flow_port_reused
# drop_no_port drop_ct_full"; for the kernel's NAT, its conntrack entries
# and limit (the rest: -)
counters() {
	if [ "$SYS" = "$SOAK_MODE" ]; then
		echo "$(nsx "$NS_R" cat /proc/sys/net/netfilter/nf_conntrack_count) $(cat /proc/sys/net/netfilter/nf_conntrack_max) - - - -"
		return
	fi
	nsx "$NS_R" "$XMASQ" --pin-dir "$PIN" stats --json 2>/dev/null | python3 -c 'import json,sys
d = json.load(sys.stdin)
c = d["counters"]
print(d["flows"], d["flows_max"], *(c[k]["packets"] for k in ("flow_new", "flow_port_reused", "drop_no_port", "drop_ct_full")))'
}

mkdir -p "$OUT"
rm -f "$OUT"/soak-fail-*
topo_up tcp || die "topology"
system_up "$SYS" || die "$SYS up"
cps_up || die "nginx"
log "soak: $SYS, $SOAK_SECONDS s, $CPS_CLIENTS clients, $CPS_CONC connections open at once"

total=0 failed=0 slow=0 longest=0 left=$SOAK_SECONDS k=0 start=$(date +%s)
while [ "$left" -gt 0 ]; do
	t=$((left < 60 ? left : 60))
	k=$((k + 1))
	f=$TMP/soak-$k
	if cps_run "$t" "$f"; then
		read -r n cps fl sl lg <<<"$(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(d["connections"], d["cps"], d["failed"], d["slow"], int(d["longest_ms"]))' "$f.json")"
	else
		n=0 cps=0 fl=1 sl=0 lg=0 # not one connection in a minute: a failure
	fi
	if [ "$fl" -gt 0 ]; then
		cps_why "$f.json" "minute $k" >&2
		for i in $(seq "$CPS_CLIENTS"); do cp "$f.$i.txt" "$OUT/soak-fail-minute$k-ab$i.txt"; done
	fi
	total=$((total + n)) failed=$((failed + fl)) slow=$((slow + sl))
	[ "$lg" -gt "$longest" ] && longest=$lg
	read -r flows fmax new reused noport ctfull <<<"$(counters)"
	log "minute $k ($t s): $n connections, $cps conn/s, $fl failed, $sl over 1 s (longest $lg ms); flows $flows of $fmax, drop_no_port $noport, drop_ct_full $ctfull"
	left=$((left - t))
done

secs=$(($(date +%s) - start))
read -r flows fmax new reused noport ctfull <<<"$(counters)"
log "soak done: $total connections in $secs s ($((total / (secs > 0 ? secs : 1))) conn/s), $failed failed, $slow over 1 s (longest $longest ms)"
log "$SYS counters: flow_new $new, flow_port_reused $reused, drop_no_port $noport, drop_ct_full $ctfull; conntrack use: $flows of $fmax flows"
num() { case "$1" in '' | *[!0-9]*) echo null ;; *) echo "$1" ;; esac; }
printf '{"mode": "%s", "seconds": %d, "connections": %d, "failed": %d, "slow": %d, "longest_ms": %d, "flow_new": %s, "flow_port_reused": %s, "drop_no_port": %s, "drop_ct_full": %s, "flows": %s, "flows_max": %s}\n' \
	"$SOAK_MODE" "$secs" "$total" "$failed" "$slow" "$longest" "$(num "${new:-}")" "$(num "${reused:-}")" "$(num "${noport:-}")" "$(num "${ctfull:-}")" "$(num "${flows:-}")" "$(num "${fmax:-}")" >"$OUT/soak.json"
[ "$failed" -eq 0 ] || { log "FAIL: $failed failed connections"; exit 1; }
exit 0
