#!/bin/bash
# tools/bench/soak.sh — `make soak [MINUTES=N]`: a mixed load through xmasq
# for SOAK_SECONDS (600; MINUTES=N: N*60), all at once:
#  - churn: bench.sh's tcp-cps load (ab from CPS_CLIENTS client addresses,
#    a new TCP connection per request, to nginx behind
#    `forward eth0 tcp 8080 to S:80`), as fast as the clients go;
#  - UDP churn: SOAK_UDP_RATE (300) new flows a second (a fresh source port
#    each) through `forward eth0 udp 5000-5255` to an echo server on S;
#  - ICMP: a ping flood from S to G through `masquerade ... out eth0`, and
#    a new echo flow (a new ping id) every second;
#  - applies: `xmasq apply` every 5 s, alternating between two rule sets;
#  - sweeps: short timeouts (`set timeout ...` below) keep the expiry sweep
#    removing flows all the time; `conntrack list` reads the whole table
#    once a minute;
#  - `xmasq stats --watch` and `xmasq follow` run throughout (their RSS is
#    watched).
# In SOAK_MODE (tc: the mode for veth; or xdp; iptables or nftables put the
# kernel's NAT there instead, for reference: the load, without the xmasq
# checks). One line a minute (connections, conn/s, failed, slower than 1 s,
# UDP sent/echoed, flows in the table, drops), then the totals and the
# counters; ab's reports of a minute with failures are kept in
# build/bench/soak-fail-*.
# At the end the load stops and, for xmasq: every flow expires (flows 0
# within SOAK_DRAIN s), every masquerade port is free (status: no peers),
# no slot of the flow table is left live or half-written (xbench ct-slots
# reads them all), memory is flat (the anonymous RSS of `stats --watch` and
# `follow` at the end within 1 MiB of the end of the first minute; the maps' memlock
# not more than 4 KiB above the start's).
# Exit 1 when any connection failed (refused, reset, timed out, non-2xx), a
# minute completed none, an apply failed, no UDP echo came back, or an end
# check failed (the line names it and its counter).
# Same topology, namespaces and cleanup as bench.sh (sourced for them).
set -u
BENCH_LIB=1 . "$(dirname "${BASH_SOURCE[0]}")/bench.sh"

SOAK_SECONDS=${SOAK_SECONDS:-600}
if [ -n "${MINUTES:-}" ]; then
	case "$MINUTES" in *[!0-9]*) die "MINUTES is a number of minutes" ;; esac
	SOAK_SECONDS=$((MINUTES * 60))
fi
SOAK_UDP_RATE=${SOAK_UDP_RATE:-300}
SOAK_DRAIN=${SOAK_DRAIN:-120} # s for every flow to expire at the end
SOAK_MODE=${SOAK_MODE:-tc}
case "$SOAK_MODE" in
xdp | tc) SYS=xmasq-$SOAK_MODE ;;
iptables | nftables) SYS=$SOAK_MODE ;;
*) die "SOAK_MODE is tc, xdp, iptables or nftables" ;;
esac
case "$SOAK_SECONDS" in '' | *[!0-9]* | 0) die "SOAK_SECONDS is a number of seconds" ;; esac

# counters: xmasq's stats as "flows flows_max flow_new flow_port_reused
# drop_no_port drop_ct_full flow_ts_shifted"; for the kernel's NAT, its
# conntrack entries and limit (the rest: -)
counters() {
	if [ "$SYS" = "$SOAK_MODE" ]; then
		echo "$(nsx "$NS_R" cat /proc/sys/net/netfilter/nf_conntrack_count) $(cat /proc/sys/net/netfilter/nf_conntrack_max) - - - - -"
		return
	fi
	nsx "$NS_R" "$XMASQ" --pin-dir "$PIN" stats --json 2>/dev/null | python3 -c 'import json,sys
d = json.load(sys.stdin)
c = d["counters"]
print(d["flows"], d["flows_max"], *(c[k]["packets"] for k in ("flow_new", "flow_port_reused", "drop_no_port", "drop_ct_full", "flow_ts_shifted")))'
}

# the two rule sets the applies alternate between: the same forwards,
# timeouts short enough that the end's drain is quick, and one forward that
# comes and goes
SOAK_RULES_A=$TMP/soak-a.conf SOAK_RULES_B=$TMP/soak-b.conf
cat >"$SOAK_RULES_A" <<RULES
set timeout tcp-syn 10
set timeout tcp-established 30
set timeout tcp-fin 10
set timeout tcp-close 2
set timeout udp 5
set timeout udp-assured 10
set timeout icmp 5
forward eth0 udp 5000-5255 to $S_IP:5000-5255
forward eth0 tcp $CPS_PORT to $S_IP:80
masquerade 198.18.0.0/24 out eth0
RULES
{ cat "$SOAK_RULES_A"; echo "forward eth0 tcp 7001 to $S_IP:7001"; } >"$SOAK_RULES_B"

is_xmasq() { [ "$SYS" != "$SOAK_MODE" ]; }
xm() { nsx "$NS_R" "$XMASQ" --pin-dir "$PIN" "$@"; }
# anonymous memory only: what a leak grows (the flow table the tools map
# while they read it counts in VmRSS as shared pages, 56 MB at a time)
rss_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# memlock of every map pinned in PIN, in bytes
memlock() {
	local f sum=0 m
	for f in "$PIN"/*; do
		m=$(bpftool -j map show pinned "$f" 2>/dev/null |
			python3 -c 'import json,sys; print(json.load(sys.stdin).get("bytes_memlock", 0))' 2>/dev/null) || continue
		sum=$((sum + ${m:-0}))
	done
	echo $sum
}

# applies every 5 s, alternating; failures written to TMP/apply-fail
applies() {
	local k=0 f
	while :; do
		sleep 5
		k=$((k + 1))
		f=$SOAK_RULES_A
		[ $((k % 2)) -eq 1 ] && f=$SOAK_RULES_B
		if ! xm apply "$f" >"$TMP/apply.log" 2>&1; then
			echo "apply $k: $(cat "$TMP/apply.log")" >>"$TMP/apply-fail"
		fi
		echo $k >"$TMP/applies"
	done
}
# a new ICMP echo flow (a new ping id) every second
ping_churn() {
	while :; do
		nsx "$NS_S" ping -q -c 1 -W 1 $G_IP >/dev/null 2>&1 && echo ok >>"$TMP/pings"
		sleep 1
	done
}

mkdir -p "$OUT"
rm -f "$OUT"/soak-fail-*
topo_up tcp || die "topology"
if is_xmasq; then
	# xbench's attach (the flow table's default size), the rules by `xmasq apply`
	system_up "$SYS" "" "$SOAK_RULES_A" || die "$SYS up"
else
	system_up "$SYS" || die "$SYS up"
fi
cps_up || die "nginx"
# started by nsenter itself (which execs them), not nsx: $! is their pid
nsenter --net="/run/netns/$NS_S" python3 "$ROOT/tools/bench/soak_load.py" echo $S_IP 5000 5255 >"$TMP/echo.log" 2>&1 &
PIDS+=($!)
nsenter --net="/run/netns/$NS_G" python3 "$ROOT/tools/bench/soak_load.py" churn $R0_IP 5000 5255 $((SOAK_SECONDS * 2)) "$SOAK_UDP_RATE" "$TMP/udp.json" >"$TMP/churn.log" 2>&1 &
UDP_PID=$!
PIDS+=($!)
nsenter --net="/run/netns/$NS_S" ping -q -f $G_IP >"$TMP/flood.log" 2>&1 &
FLOOD_PID=$!
PIDS+=($!)
ping_churn &
PIDS+=($!)
LOAD_PIDS=("$UDP_PID" "$FLOOD_PID" "$!")
# SOAK_CAPTURE=DIR: every TCP RST and ICMP error seen by the clients and by
# the backend, to pcap files in DIR (a failed connection ends in one of
# them; the rest of the load is not captured)
if [ -n "${SOAK_CAPTURE:-}" ]; then
	mkdir -p "$SOAK_CAPTURE" || die "SOAK_CAPTURE=$SOAK_CAPTURE: cannot create it"
	for ns in "$NS_G" "$NS_S"; do
		nsenter --net="/run/netns/$ns" tcpdump -i eth0 -s 200 -U -w "$SOAK_CAPTURE/${ns%-*}.pcap" \
			'tcp[tcpflags] & tcp-rst != 0 or (icmp and icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply)' \
			>/dev/null 2>&1 &
		PIDS+=($!)
	done
fi
WATCH_PID= FOLLOW_PID= MEMLOCK0=0
if is_xmasq; then
	applies &
	PIDS+=($!)
	LOAD_PIDS+=("$!")
	nsenter --net="/run/netns/$NS_R" "$XMASQ" --pin-dir "$PIN" stats --watch 1 --json >/dev/null 2>"$TMP/watch.log" &
	WATCH_PID=$!
	PIDS+=($!)
	nsenter --net="/run/netns/$NS_R" "$XMASQ" --pin-dir "$PIN" follow >"$TMP/follow.log" 2>&1 &
	FOLLOW_PID=$!
	PIDS+=($!)
	MEMLOCK0=$(memlock)
fi
log "soak: $SYS, $SOAK_SECONDS s, $CPS_CLIENTS clients, $CPS_CONC connections open at once; UDP $SOAK_UDP_RATE new flows/s, a ping flood, applies every 5 s"

udp() { python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(d["sent"], d["echoed"])' "$TMP/udp.json" 2>/dev/null || echo "0 0"; }
total=0 failed=0 slow=0 longest=0 stalled=0 left=$SOAK_SECONDS k=0 start=$(date +%s)
rss_watch0=0 rss_follow0=0
while [ "$left" -gt 0 ]; do
	t=$((left < 60 ? left : 60))
	k=$((k + 1))
	f=$TMP/soak-$k
	if cps_run "$t" "$f"; then
		read -r n cps fl sl lg <<<"$(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(d["connections"], d["cps"], d["failed"], d["slow"], int(d["longest_ms"]))' "$f.json")"
	else
		n=0 cps=0 fl=1 sl=0 lg=0 stalled=1 # not one connection in a minute: a failure
	fi
	if [ "$fl" -gt 0 ]; then
		cps_why "$f.json" "minute $k" >&2
		for i in $(seq "$CPS_CLIENTS"); do cp "$f.$i.txt" "$OUT/soak-fail-minute$k-ab$i.txt"; done
	fi
	total=$((total + n)) failed=$((failed + fl)) slow=$((slow + sl))
	[ "$lg" -gt "$longest" ] && longest=$lg
	read -r flows fmax new reused noport ctfull shifted <<<"$(counters)"
	read -r usent uecho <<<"$(udp)"
	more=
	if is_xmasq; then
		xm conntrack list --json >/dev/null 2>&1 || log "minute $k: conntrack list failed"
		rw=$(rss_kb "$WATCH_PID") rf=$(rss_kb "$FOLLOW_PID")
		[ "$k" -eq 1 ] && rss_watch0=$rw rss_follow0=$rf
		more="; RSS stats --watch $rw kB, follow $rf kB; applies $(cat "$TMP/applies" 2>/dev/null || echo 0)"
	fi
	log "minute $k ($t s): $n connections, $cps conn/s, $fl failed, $sl over 1 s (longest $lg ms); UDP $uecho of $usent echoed; flows $flows of $fmax, drop_no_port $noport, drop_ct_full $ctfull$more"
	left=$((left - t))
done

secs=$(($(date +%s) - start))
read -r flows fmax new reused noport ctfull shifted <<<"$(counters)"
log "soak done: $total connections in $secs s ($((total / (secs > 0 ? secs : 1))) conn/s), $failed failed, $slow over 1 s (longest $longest ms)"
log "$SYS counters: flow_new $new, flow_port_reused $reused, flow_ts_shifted $shifted, drop_no_port $noport, drop_ct_full $ctfull; conntrack use: $flows of $fmax flows"
# The backend's TIME_WAITs, and the new SYNs it refused on one (PAWS: a
# client's timestamp older than the last one seen on that tuple; such a
# client waits for its SYN to be resent, or fails).
read -r tw_made tw_paws <<<"$(nsx "$NS_S" awk 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i }
	NR == 2 { print $h["TW"], ("PAWSTimewait" in h) ? $h["PAWSTimewait"] : "-" }' /proc/net/netstat)"
log "backend: $tw_made connections closed into TIME_WAIT, $tw_paws new SYNs refused on one (PAWSTimewait)"

# ---- the end: the load stops; everything it held must be given back ----------
kill -INT "$FLOOD_PID" 2>/dev/null # ping's summary
wait "$FLOOD_PID" 2>/dev/null
for p in "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null; done
for p in "${LOAD_PIDS[@]}"; do wait "$p" 2>/dev/null; done
read -r usent uecho <<<"$(udp)"
log "UDP: $uecho of $usent new flows echoed; single pings answered: $(cat "$TMP/pings" 2>/dev/null | wc -l); ping flood: $(grep -m1 transmitted "$TMP/flood.log")"
checks_failed=0
check() { # STATUS WHAT
	if [ "$1" = 0 ]; then
		log "end check ok: $2"
	else
		log "FAIL end check: $2"
		checks_failed=$((checks_failed + 1))
	fi
}
[ "${uecho:-0}" -gt 0 ]
check $? "UDP echoes came back ($uecho of $usent)"
applies_n=0 drain_s=- ports=- slots=- rss_w=0 rss_f=0 memlock1=0
if is_xmasq; then
	applies_n=$(cat "$TMP/applies" 2>/dev/null || echo 0)
	[ ! -s "$TMP/apply-fail" ]
	check $? "every apply succeeded ($applies_n applies; failures: $(head -c 400 "$TMP/apply-fail" 2>/dev/null))"
	t0=$(date +%s)
	while :; do
		read -r flows _ <<<"$(counters)"
		[ "$flows" = 0 ] && break
		[ $(($(date +%s) - t0)) -ge "$SOAK_DRAIN" ] && break
		sleep 1
	done
	drain_s=$(($(date +%s) - t0))
	[ "$flows" = 0 ]
	check $? "every flow expired (flows $flows after $drain_s s)"
	xm status --json >"$TMP/status.json" 2>&1
	ports=$(python3 -c 'import json,sys
p = json.load(open(sys.argv[1]))["ports"]
print(p["peers"], sum(g["in_use"] for g in p["busiest"]))' "$TMP/status.json" 2>&1)
	[ "$ports" = "0 0" ]
	check $? "every masquerade port free (peers, ports in use: $ports)"
	slots=$(nsx "$NS_R" "$XB" ct-slots "$PIN" 2>&1)
	python3 -c 'import json,sys; d = json.loads(sys.argv[1]); sys.exit(1 if d["live"] or d["writing"] or d["other"] else 0)' "$slots" 2>/dev/null
	check $? "no slot left live or half-written ($slots)"
	rss_w=$(rss_kb "$WATCH_PID") rss_f=$(rss_kb "$FOLLOW_PID")
	[ "${rss_w:-0}" -gt 0 ] && [ "$rss_w" -le $((rss_watch0 + 1024)) ]
	check $? "stats --watch RSS flat ($rss_watch0 kB after minute 1, $rss_w kB at the end)"
	[ "${rss_f:-0}" -gt 0 ] && [ "$rss_f" -le $((rss_follow0 + 1024)) ]
	check $? "follow RSS flat ($rss_follow0 kB after minute 1, $rss_f kB at the end)"
	memlock1=$(memlock)
	# Maps allocated as they fill (the allow-list trie's nodes, the
	# kernel's accounting of hash elements) move by an element or two
	# between two moments with the same rules and no flows: seen +176 B
	# after 2 minutes and -176 B after 30. A leak grows with the run; 4 KiB
	# is a few elements and far below one per flow or apply.
	[ "$memlock1" -le $((MEMLOCK0 + 4096)) ]
	check $? "maps' memlock not grown beyond 4 KiB ($MEMLOCK0 B at the start, $memlock1 B at the end)"
fi

num() { case "$1" in '' | *[!0-9]*) echo null ;; *) echo "$1" ;; esac; }
printf '{"mode": "%s", "seconds": %d, "connections": %d, "failed": %d, "slow": %d, "longest_ms": %d, "flow_new": %s, "flow_port_reused": %s, "flow_ts_shifted": %s, "drop_no_port": %s, "drop_ct_full": %s, "flows": %s, "flows_max": %s, "udp_sent": %s, "udp_echoed": %s, "applies": %s, "drain_seconds": %s, "rss_watch_kb": [%s, %s], "rss_follow_kb": [%s, %s], "memlock": [%s, %s], "backend_time_waits": %s, "backend_paws_timewait": %s, "end_checks_failed": %d}\n' \
	"$SOAK_MODE" "$secs" "$total" "$failed" "$slow" "$longest" "$(num "${new:-}")" "$(num "${reused:-}")" "$(num "${shifted:-}")" "$(num "${noport:-}")" "$(num "${ctfull:-}")" "$(num "${flows:-}")" "$(num "${fmax:-}")" \
	"$(num "$usent")" "$(num "$uecho")" "$(num "$applies_n")" "$(num "$drain_s")" "$(num "$rss_watch0")" "$(num "$rss_w")" "$(num "$rss_follow0")" "$(num "$rss_f")" "$(num "$MEMLOCK0")" "$(num "$memlock1")" "$(num "${tw_made:-}")" "$(num "${tw_paws:-}")" "$checks_failed" >"$OUT/soak.json"
# SOAK_FAILED_PER_MILLION (0): failed connections tolerated per million.
# CI's short soak sets it: the churn runs far beyond what one address's
# ports hold for the backend's 60 s of TIME_WAIT, so SYNs meet TIME_WAITs
# other clients left (README, "Free at the backend too"), and on a
# loaded machine a few connections in a million have failed that way (3
# in 1.6M in a 2-minute CI soak); that must not turn CI red by chance,
# while a regression (one in ten thousand) still does.
allowed=$((total * ${SOAK_FAILED_PER_MILLION:-0} / 1000000))
[ "$stalled" -eq 0 ] || allowed=0 # a minute without one connection is never tolerated
if [ "$failed" -gt "$allowed" ]; then
	log "FAIL: $failed failed connections (at most $allowed allowed)"
	exit 1
fi
[ "$failed" -eq 0 ] || log "$failed failed connections, tolerated (SOAK_FAILED_PER_MILLION=$SOAK_FAILED_PER_MILLION)"
[ "$checks_failed" -eq 0 ] || { log "FAIL: $checks_failed end checks failed"; exit 1; }
exit 0
