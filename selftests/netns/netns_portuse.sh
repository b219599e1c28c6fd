#!/bin/bash
# Masquerade ports in use, visible before they run out (lib.sh's topology,
# xmasq only):
#
#  - `set port-range 20000-20015` (16 ports); client C0 holds 13 TCP
#    connections from 198.19.0.10:20000-20012 through eth0:8080 to the
#    backend's :82 (kept ports, all in the range) and sends one UDP
#    datagram to :5000: status and stats (text, --json, --prometheus) show
#    2 peers, the busiest 198.18.0.1 -> 198.18.0.2:82/tcp 13 of 16 (81 %)
#    and a WARNING; in_use equals the flows `conntrack list` shows for it;
#  - 3 more connections fill the range; connections from 192.0.2.2 with the
#    same ports (taken: a random port is needed, none is free) are refused:
#    drop_no_port, and the exhausted peer with as many drops everywhere
#    (text, JSON, xmasq_port_exhausted_drops_total); the Prometheus text
#    passes py/promcheck.py and promtool check metrics;
#  - stats --watch --json carries the ports too;
#  - a router attached by a build without the map port_exhausted: status
#    works without it, and attach again adds it, flows kept.
#
# TAP output; exit 1 when a check fails. Env: XMASQ, PROMTOOL (empty: skip it).
. "$(dirname "$0")/lib.sh"
xm_init
need_xmasq
PROMTOOL=${PROMTOOL-promtool}
PORT_LO=20000 PORT_HI=20015 BPORT=82

if ! topo_up plain portuse; then
	echo "Bail out! cannot build the namespace topology"
	exit 1
fi
nsx "$NS_B" "$XM_PY" "$XM_DATA/portuse.py" serve $B_ADDR $BPORT >"$XM_TMP/serve.log" 2>&1 &
XM_PIDS+=("$!")
wait_port "$NS_B" tcp $B_ADDR $BPORT || { echo "Bail out! the backend did not start: $(cat "$XM_TMP/serve.log")"; exit 1; }
XM_RULES="set port-range $PORT_LO-$PORT_HI
forward eth0 tcp 8080 to $B_ADDR:$BPORT
forward eth0 udp 5000 to $B_ADDR:5000"
router_xmasq_vars
if ! router_xmasq_up; then
	echo "Bail out! xmasq did not attach"
	exit 1
fi

# hold LO HI: connections from C0_SRC:LO..HI kept open; 0 when all connected
hold() {
	local ready="$XM_TMP/hold-$1"
	nsx "$NS_C0" "$XM_PY" "$XM_DATA/portuse.py" hold --src $C0_SRC --sports "$1-$2" \
		--ready "$ready" $R_ADDR0 8080 2>>"$XM_TMP/hold.err" &
	XM_PIDS+=("$!")
	wait_for 20 test -s "$ready" && [ "$(cat "$ready")" = $(($2 - $1 + 1)) ]
}

# the group of the TCP forward in a JSON file: "IN_USE CAPACITY SHARE"
tcp_group() {
	json_get "$1" "' '.join(str(g[k]) for g in d['ports']['busiest'] if g['proto'] == 'tcp' and g['peer'] == '$B_ADDR' and g['port'] == $BPORT and g['addr'] == '$R_ADDR2' for k in ('in_use', 'capacity', 'share'))"
}

# flows `conntrack list` shows for the TCP forward's backend
listed_flows() {
	xm conntrack list --json >"$XM_TMP/list.json" &&
		json_get "$XM_TMP/list.json" "sum(1 for c in d if c['proto'] == 'tcp' and c['reply'].startswith('$B_ADDR:$BPORT -> $R_ADDR2:'))"
}

# ---- 1. 13 of 16 ---------------------------------------------------------------
hold $PORT_LO $((PORT_LO + 12))
tap_result $? "13 TCP connections from $C0_SRC:$PORT_LO-$((PORT_LO + 12)) through the router" \
	"$(cat "$XM_TMP/hold.err" 2>/dev/null)"
nsx "$NS_C0" "$XM_PY" "$XM_DATA/portuse.py" udp --src $C0_SRC --sport $PORT_LO $R_ADDR0 5000
sleep 0.3

xm status >"$XM_TMP/status.txt" 2>&1
xm status --json >"$XM_TMP/status.json" 2>&1
rc=1
grep -q "^port use    2 peers; busiest $R_ADDR2 -> $B_ADDR:$BPORT/tcp 13 of 16 (81 %)$" "$XM_TMP/status.txt" &&
	grep -q "^            $R_ADDR2 -> $B_ADDR:5000/udp 1 of 16 (6 %)$" "$XM_TMP/status.txt" &&
	grep -q "^WARNING     $R_ADDR2 -> $B_ADDR:$BPORT/tcp uses 81 % of its masquerade ports" "$XM_TMP/status.txt" &&
	[ "$(grep -c '^WARNING' "$XM_TMP/status.txt")" = 1 ] && ! grep -q '^drop_no_port' "$XM_TMP/status.txt" && rc=0
tap_result $rc "status: 2 peers, the busiest $B_ADDR:$BPORT/tcp 13 of 16 (81 %), the UDP peer, one WARNING, no drop_no_port" \
	"$(cat "$XM_TMP/status.txt")"

got=$(tcp_group "$XM_TMP/status.json")
peers=$(json_get "$XM_TMP/status.json" "d['ports']['peers']")
n=$(listed_flows)
rc=1
[ "$got" = "13 16 0.8125" ] && [ "$peers" = 2 ] && [ "$n" = 13 ] && rc=0
tap_result $rc "status --json: ports.peers 2, the TCP peer in_use 13 of capacity 16, share 0.8125; conntrack list shows 13 flows for it" \
	"group: '$got', peers: '$peers', listed: '$n'"

xm stats >"$XM_TMP/stats.txt" 2>&1
rc=1
grep -q "^port use    2 peers; busiest $R_ADDR2 -> $B_ADDR:$BPORT/tcp 13 of 16 (81 %)$" "$XM_TMP/stats.txt" &&
	grep -q "^WARNING     $R_ADDR2 -> $B_ADDR:$BPORT/tcp uses 81 %" "$XM_TMP/stats.txt" && rc=0
tap_result $rc "stats: the busiest peer 13 of 16 (81 %) and its WARNING" "$(grep -A3 '^port use' "$XM_TMP/stats.txt")"

# ---- 2. full, then refused ---------------------------------------------------------
hold $((PORT_LO + 13)) $PORT_HI
tap_result $? "3 more connections fill the range" "$(cat "$XM_TMP/hold.err" 2>/dev/null)"
failed=$(nsx "$NS_C0" "$XM_PY" "$XM_DATA/portuse.py" try --src $C0_ADDR --sports "$PORT_LO-$((PORT_LO + 3))" \
	--timeout 1.5 $R_ADDR0 8080)
[ "$failed" = 4 ]
tap_result $? "4 connections from $C0_ADDR:$PORT_LO-$((PORT_LO + 3)) (ports taken, none free) fail" "failed: '$failed'"

xm stats --json >"$XM_TMP/stats.json" 2>&1
xm status >"$XM_TMP/status.txt" 2>&1
drops=$(json_get "$XM_TMP/stats.json" "d['counters']['drop_no_port']['packets']")
exh=$(json_get "$XM_TMP/stats.json" "' '.join('%s %s %s %s %d' % (e['proto'], e['addr'], e['peer'], e['port'], e['drops']) for e in d['ports']['exhausted'])")
ago=$(json_get "$XM_TMP/stats.json" "d['ports']['exhausted'][0]['last_s_ago']")
got=$(tcp_group "$XM_TMP/stats.json")
n=$(listed_flows)
rc=1
[ "${drops:-0}" -ge 4 ] && [ "$exh" = "tcp $R_ADDR2 $B_ADDR $BPORT $drops" ] && [ "$ago" -le 3 ] &&
	[ "$got" = "16 16 1.0" ] && [ "$n" = 16 ] && rc=0
tap_result $rc "stats --json: drop_no_port $drops, all of them for the exhausted peer tcp $B_ADDR:$BPORT (last ${ago}s ago); 16 of 16 in use, as conntrack list shows" \
	"exhausted: '$exh', ago '$ago', group '$got', listed '$n'"

fmt_drops=$(printf "%'d" "$drops" 2>/dev/null || echo "$drops")
rc=1
grep -q "^port use    2 peers; busiest $R_ADDR2 -> $B_ADDR:$BPORT/tcp 16 of 16 (100 %)$" "$XM_TMP/status.txt" &&
	grep -q "^WARNING     $R_ADDR2 -> $B_ADDR:$BPORT/tcp uses 100 %" "$XM_TMP/status.txt" &&
	grep -Eq "^drop_no_port $B_ADDR:$BPORT/tcp via $R_ADDR2: $fmt_drops \(last [0-3] s ago\)$" "$XM_TMP/status.txt" && rc=0
tap_result $rc "status: 16 of 16 (100 %), the WARNING, and drop_no_port $B_ADDR:$BPORT/tcp via $R_ADDR2: $drops" \
	"$(cat "$XM_TMP/status.txt")"

xm stats >"$XM_TMP/stats.txt" 2>&1
rc=1
grep -Eq "^drop_no_port $B_ADDR:$BPORT/tcp via $R_ADDR2: $fmt_drops \(last [0-9]+ s ago\)$" "$XM_TMP/stats.txt" &&
	grep -q "^WARNING     $R_ADDR2 -> $B_ADDR:$BPORT/tcp uses 100 %" "$XM_TMP/stats.txt" && rc=0
tap_result $rc "stats: the WARNING and the exhausted peer with its drops" "$(grep -A4 '^port use' "$XM_TMP/stats.txt")"

# ---- 3. Prometheus ---------------------------------------------------------------
PROM="$XM_TMP/metrics.prom"
xm stats --prometheus >"$PROM" 2>"$XM_TMP/prom.err"
labels="proto=\"tcp\",addr=\"$R_ADDR2\",peer=\"$B_ADDR\",port=\"$BPORT\""
sample() { awk -v m="$1{$labels}" '$1 == m { print $2 }' "$PROM"; }
rc=1
[ "$(sample xmasq_ports_in_use)" = 16 ] && [ "$(sample xmasq_ports_capacity)" = 16 ] &&
	[ "$(sample xmasq_ports_used_ratio)" = 1.0000 ] &&
	[ "$(sample xmasq_port_exhausted_drops_total)" = "$drops" ] &&
	[ "$(awk '$1 == "xmasq_port_peers" { print $2 }' "$PROM")" = 2 ] && rc=0
tap_result $rc "stats --prometheus: in use 16, capacity 16, ratio 1, $drops drops for {$labels}, 2 peers" \
	"$(grep -E '^xmasq_port' "$PROM")" "$(cat "$XM_TMP/prom.err")"
out=$("$XM_PY" "$XM_DATA/promcheck.py" <"$PROM" 2>&1)
tap_result $? "stats --prometheus with the port families passes the strict text-format checker" "$out"
if [ -n "$PROMTOOL" ] && command -v "$PROMTOOL" >/dev/null 2>&1; then
	out=$("$PROMTOOL" check metrics <"$PROM" 2>&1)
	rc=$?
	[ -z "$out" ] || rc=1
	tap_result $rc "stats --prometheus with the port families: promtool check metrics reports no problem" "$out"
else
	tap_skip "promtool check metrics" "promtool not installed"
fi

# ---- 4. --watch ----------------------------------------------------------------------
timeout -s INT 1.5 nsenter --net="/run/netns/$NS_R" "$XMASQ" --pin-dir "$XM_PIN" stats --watch 0.2 --json \
	>"$XM_TMP/watch.jsonl" 2>&1
lines=$(wc -l <"$XM_TMP/watch.jsonl")
good=$("$XM_PY" -c 'import json,sys
n = 0
for l in open(sys.argv[1]):
    d = json.loads(l)
    n += any(g["in_use"] == 16 and g["port"] == int(sys.argv[2]) for g in d["ports"]["busiest"])
print(n)' "$XM_TMP/watch.jsonl" $BPORT 2>&1)
rc=1
[ "$lines" -ge 4 ] && [ "$good" = "$lines" ] && rc=0
tap_result $rc "stats --watch 0.2 --json: every line carries the ports in use ($lines lines)" "good: $good; $(head -c 600 "$XM_TMP/watch.jsonl")"

# ---- 5. a router attached by a build without port_exhausted ---------------------
rm -f "$XM_PIN/port_exhausted"
xm status >"$XM_TMP/status.txt" 2>&1
rc=$?
grep -q "^port use    2 peers; busiest $R_ADDR2 -> $B_ADDR:$BPORT/tcp 16 of 16" "$XM_TMP/status.txt" &&
	! grep -q '^drop_no_port' "$XM_TMP/status.txt" || rc=1
tap_result $rc "status without the map port_exhausted (an older build's router): exit 0, the ports in use, no exhausted peers" 	"$(cat "$XM_TMP/status.txt")"
xm attach eth0 eth1 eth2 >"$XM_TMP/reattach.log" 2>&1 && test -e "$XM_PIN/port_exhausted" &&
	[ "$(tcp_group <(xm status --json))" = "16 16 1.0" ]
tap_result $? "attach again pins port_exhausted and keeps the flows (16 of 16)" "$(cat "$XM_TMP/reattach.log")"

tap_done
