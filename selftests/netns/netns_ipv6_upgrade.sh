#!/bin/bash
# Upgrading a router whose IPv6 flows are in the previous build's table:
# until 2026-12-02 flows6 was the kernel's hash map; now it is xmasq's own
# table (bpf/ct6.h), and `xmasq attach` carries the pinned hash map's
# flows into it. The previous build (da03d92, built from this repository's
# history by old_xmasq.sh) attaches and forwards two IPv6 TCP connections,
# one to an IPv6 backend (6->6, tcp 9110 to [fd00:8::2]) and one to the
# IPv4 backend (6->4, tcp 9111, `family ipv6`), each echoing a line every
# 0.1 s; this build then attaches over it, in XDP mode and in tc mode
# (each on a fresh topology). Both connections must lose no line, be
# listed by this build's `conntrack list`, and new connections must work;
# flows6 is then an array. Before the attach this build's `conntrack
# flush` is refused whole (IPv4's table kept: the 6->4 flow's stub).
# Then the same from this build's own code with one more entry in each
# prog array (grown_xmasq.sh), in tc mode: attach replaces pinned prog
# arrays of another size, and the kernel empties one whose last pin or fd
# goes while the older program still tail-calls through it (the 6->4
# connection's replies reached the router's kernel, which reset it); attach
# holds the old arrays open until every NIC has the new programs. TAP
# output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init bpftool
need_xmasq
[ -d /proc/sys/net/ipv6 ] || skip_all "the kernel has no IPv6 (ipv6.disable=1)"

PREV_COMMIT=da03d92
PORT6=9110
PORT64=9111
R6_2=fd00:8::1 # router eth2 (towards the backend), as in netns_ipv6.sh
B6=fd00:8::2
RULES_EXTRA="forward eth0 tcp $PORT6 to [$B6]:$PORT6
forward eth0 tcp $PORT64 to $B_ADDR:$PORT64 family ipv6"

if ! prev=$(selftests/netns/old_xmasq.sh $PREV_COMMIT prevflows6 "flows6 as the kernel's hash map" 2>&1); then
	skip_all "no build of $PREV_COMMIT: $prev"
fi
if ! grown=$(selftests/netns/grown_xmasq.sh 2>&1); then
	skip_all "no build of HEAD with grown prog arrays: $grown"
fi
old=$prev

# old_xm ARGS / old_xmasq_up MODE: xm and router_xmasq_up with the
# previous build
old_xm() { local XMASQ=$old; xm "$@"; }
old_xmasq_up() { local XMASQ=$old; router_xmasq_up "$1"; }

# upgrade MODE [grown]: the previous build (old_xm's: da03d92, or with
# grown this tree's with larger prog arrays) attached in MODE with the
# traffic running, then this build's attach over it
upgrade() {
	local mode=$1 L=$1 variant=gro out pid ready=$XM_TMP/ready-$1 stop=$XM_TMP/stop-$1 json
	local grown=${2:-} what=$PREV_COMMIT
	[ -n "$grown" ] && L="$mode, from grown prog arrays" what="HEAD with grown prog arrays" \
		ready=$ready-grown stop=$stop-grown
	[ "$mode" = tc ] && variant=plain
	if ! { topo6_pub_up "$variant" "up$mode" && ns_ipv6 "$NS_B" &&
		ip -n "$NS_R" -6 addr add $R6_2/64 dev eth2 nodad &&
		ip -n "$NS_B" -6 addr add $B6/64 dev eth0 nodad; }; then
		tap_not_ok "$L: build topology"
		topo_down
		return
	fi
	XM_RULES="$XM_RULES
$RULES_EXTRA"
	router_xmasq_vars
	tap_check "$L: the previous build ($what) attached ($mode), forwards of tcp $PORT6 (6->6) and $PORT64 (6->4)" \
		old_xmasq_up "$mode"
	XM_RULES=${XM_RULES%"
$RULES_EXTRA"}
	"$XM_PY" "$XM_DATA/upgrade6.py" --client-ns "$NS_C0" --backend-ns "$NS_B" --src "$C0_SRC6" \
		--pair "[$R6_0]:$PORT6=$B6" --pair "[$R6_0]:$PORT64=$B_ADDR" \
		--ready "$ready" --stop "$stop" >"$XM_TMP/upgrade-$mode.json" 2>&1 &
	pid=$!
	for _ in $(seq 100); do [ -e "$ready" ] || ! kill -0 $pid 2>/dev/null && break; sleep 0.1; done
	tap_result "$([ -e "$ready" ]; echo $?)" "$L: both connections echo through the previous build" \
		"$(cat "$XM_TMP/upgrade-$mode.json")"
	out=$(old_xm conntrack count --json 2>&1)
	json_get <(echo "$out") "d['flows6'] == 2 or exit(1)" >/dev/null
	tap_result $? "$L: the previous build counts the two IPv6 flows" "$out"
	# this build's flush before the attach: refused whole, the IPv4 table
	# too (it holds the 6->4 flow's stub: emptied, that connection's
	# replies would find no flow and the no-line-lost check below fails)
	if [ -z "$grown" ]; then
		out=$(xm conntrack flush 2>&1)
		[ $? -ne 0 ] && grep -q "run xmasq attach to convert it" <<<"$out"
		tap_result $? "$L: this build's conntrack flush before attach is refused, naming the fix, and flushes nothing" "$out"
	fi
	out=$(xm attach --mode "$mode" eth0 eth1 eth2 2>&1)
	tap_result $? "$L: this build attaches over it" "$out"
	if [ -z "$grown" ]; then
		grep -q "flows6: 4 IPv6 flow entries carried" <<<"$out"
		tap_result $? "$L: attach carried the 4 entries (2 flows) into the new table" "$out"
	else
		for m in progs46 progs4 progs6_xdp; do
			bpftool map show pinned "$XM_PIN/$m" 2>/dev/null | grep -q "max_entries $(prog_array_size $m) "
			tap_result $? "$L: $m has this build's size again" "$(bpftool map show pinned "$XM_PIN/$m" 2>&1)"
		done
	fi
	bpftool map show pinned "$XM_PIN/flows6" 2>/dev/null | grep -q ": array "
	tap_result $? "$L: flows6 is an array now" "$(bpftool map show pinned "$XM_PIN/flows6" 2>&1)"
	# the connections go on over the new program and table for a while
	sleep 1
	out=$(xm conntrack list --json 2>&1)
	json_get <(echo "$out") "sum(1 for c in d if c.get('family') == 6) == 2 or exit(1)" >/dev/null
	tap_result $? "$L: this build lists both IPv6 flows (6->6 and 6->4)" "$out"
	touch "$stop"
	wait $pid
	tap_result $? "$L: no line lost or changed on either connection across the upgrade, and new connections work" \
		"$(cat "$XM_TMP/upgrade-$mode.json")"
	diag "$(cat "$XM_TMP/upgrade-$mode.json")"
	cp "$XM_TMP/upgrade-$mode.json" "$XM_TMP/upgrade-$mode${grown:+-grown}.json"
	topo_down
}

# prog_array_size NAME: max_entries of prog array NAME in this build's
# bpf/maps.h
prog_array_size() {
	awk -v name="$1" '/max_entries/ { n = $2 } $0 ~ "} " name " SEC" { sub(/\);/, "", n); print n; exit }' bpf/maps.h
}

upgrade xdp
upgrade tc
old=$grown
upgrade tc grown
tap_done
