#!/bin/bash
# ICMPv6 errors about IPv6 flows (6->6), end to end with real stacks: path
# MTU discovery through a router beyond xmasq whose next link is smaller,
# and a UDP port unreachable from the backend itself. (6->4's, across the
# families both ways: netns_ipv6_v4.sh.)
#
#   C 2001:db8:70::10 ── pub0 2001:db8:70::1 [R] bk0 fd00:70::1
#                                                 │
#                                  M r0 fd00:70::3 (forwarding)
#                                  M mid0 fd00:71::1, MTU 1280
#                                                 │
#                                  B eth0 fd00:71::2, MTU 1500
#
# The rules (ip6tables: the same with DNAT and MASQUERADE):
#   forward pub0 tcp 8080 to [fd00:71::2]:8080              6->6
#   forward pub0 udp 5300 to [fd00:71::2]:5300              6->6, nothing listens
#
# C uploads a file to B; B's MSS is 1440 (its link is 1500), so C's
# segments make 1500-byte packets that M cannot send on: M tells the
# packets' source, R's fd00:70::1 (ICMPv6 Packet Too Big, MTU 1280). The
# upload completes only if R hands that on to C as about C's own packets;
# C's route cache then holds the MTU. A UDP datagram to
# 5300: B answers port unreachable, C's connected socket gets
# ECONNREFUSED only if R hands that on too.
#
# Routers: ip6tables (the yardstick, 6->6), xmasq xdp (GRO on the peers),
# xmasq auto (tc on a veth). Where ip6tables passes and xmasq fails, xmasq
# is wrong.
#
# Env: ROUTERS="ip6tables xdp auto"  XMASQ=build/xmasq  UP_MB=4
# TAP output; exit 1 when a check fails.
UP_MB=${UP_MB:-4}
. "$(dirname "$0")/lib.sh"
xm_init ip6tables socat
[ -d /proc/sys/net/ipv6 ] || skip_all "the kernel has no IPv6 (ipv6.disable=1)"

C6=2001:db8:70::10 R_PUB6=2001:db8:70::1
R_BK6=fd00:70::1 M_R6=fd00:70::3 M_B6=fd00:71::1 B6=fd00:71::2
XMI_ID=${XM_TMP##*.}

# topo_icmp_up VARIANT(gro|plain) TAG: sets NS_R NS_C NS_M NS_B
topo_icmp_up() {
	local variant=$1 tag=$2 a
	NS_R="xmi-r-$$-$tag" NS_C="xmi-c-$$-$tag" NS_M="xmi-m-$$-$tag" NS_B="xmi-b-$$-$tag"
	ns_add "$NS_R" "$NS_C" "$NS_M" "$NS_B" || return 1
	ip -n "$NS_R" link add pub0 type veth peer name eth0 netns "$NS_C" || return 1
	ip -n "$NS_R" link add bk0 type veth peer name r0 netns "$NS_M" || return 1
	ip -n "$NS_M" link add mid0 type veth peer name eth0 netns "$NS_B" || return 1
	ns_ipv6 "$NS_R" "$NS_C" "$NS_M" "$NS_B" || return 1
	for a in "$NS_C eth0 $C6" "$NS_R pub0 $R_PUB6" "$NS_R bk0 $R_BK6" "$NS_M r0 $M_R6" \
		"$NS_M mid0 $M_B6" "$NS_B eth0 $B6"; do
		set -- $a
		ip -n "$1" -6 addr add "$3/64" dev "$2" nodad || return 1
		ip -n "$1" link set "$2" up || return 1
	done
	# the smaller link: M's side only (B's stays 1500, so B's MSS is 1440)
	ip -n "$NS_M" link set mid0 mtu 1280 || return 1
	nsx "$NS_M" sysctl -qw net.ipv6.conf.all.forwarding=1 || return 1
	ip -n "$NS_C" -6 route add default via $R_PUB6 dev eth0 || return 1
	ip -n "$NS_R" -6 route add fd00:71::/64 via $M_R6 dev bk0 || return 1
	ip -n "$NS_B" -6 route add default via $M_B6 dev eth0 || return 1
	if [ "$variant" = gro ]; then
		peers_gro "$NS_C:eth0" "$NS_M:r0" || return 1
	fi
}

# upload NAME ADDR PORT: UP_MB MB from C to B's listener on PORT (through
# R's ADDR:PORT); 0 when B got it all, SHA-256 matching. Sets UP_OUT.
upload() {
	local name=$1 addr=$2 port=$3 got="$XM_TMP/got-$1" lpid out want have
	[ -f "$XM_TMP/up.bin" ] || head -c $((UP_MB * 1024 * 1024)) /dev/urandom >"$XM_TMP/up.bin"
	want=$(sha256sum "$XM_TMP/up.bin" | cut -d' ' -f1)
	rm -f "$got"
	nsx "$NS_B" timeout --kill-after=2 40 socat -u "TCP6-LISTEN:$port,bind=[$B6],reuseaddr" \
		"OPEN:$got,creat,trunc" \
		>"$XM_TMP/listen-$name.out" 2>&1 &
	lpid=$! # waited for below (timeout ends it): not left for topo_down to kill by number
	wait_port "$NS_B" tcp "[$B6]" "$port"
	out=$(timeout --kill-after=2 30 nsenter --net="/run/netns/$NS_C" \
		socat -u "OPEN:$XM_TMP/up.bin" "TCP6:[$addr]:$port,connect-timeout=3" 2>&1)
	wait "$lpid" 2>/dev/null
	have=$(sha256sum "$got" 2>/dev/null | cut -d' ' -f1)
	UP_OUT="client: ${out:-ok}; received $(stat -c %s "$got" 2>/dev/null || echo 0) bytes"
	[ "$have" = "$want" ]
}

# route_mtu: the MTU C's route cache holds towards R's public address
route_mtu() {
	nsx "$NS_C" ip -6 route get $R_PUB6 2>/dev/null | sed -n 's/.* mtu \([0-9]*\).*/\1/p'
}


check_6to6() {
	local L=$1 rc mtu out
	nsx "$NS_C" ip -6 route flush cache >/dev/null 2>&1
	upload 66 $R_PUB6 8080
	rc=$?
	tap_result $rc "$L: 6->6: $UP_MB MB upload from C through [$R_PUB6]:8080 to [$B6]:8080 past M's 1280-byte link, SHA-256 matches" \
		"$UP_OUT" "$(cat "$XM_TMP/listen-66.out" 2>/dev/null)"
	mtu=$(route_mtu)
	[ "$mtu" = 1280 ]
	tap_result $? "$L: 6->6: C learnt MTU 1280 towards $R_PUB6 (its route cache: ${mtu:-none}): M's Packet Too Big reached it" \
		"$(nsx "$NS_C" ip -6 route get $R_PUB6 2>&1)"
	out=$(udp6_refused "$NS_C" $C6 $R_PUB6 5300)
	[ "$out" = refused ]
	tap_result $? "$L: 6->6: UDP to [$R_PUB6]:5300, no listener at B: C's socket refused (${out:-nothing}): B's port unreachable reached it" \
		"$out"
}

run_ip6tables() {
	local L=ip6tables
	ipt() { nsx "$NS_R" ip6tables -w -t nat "$@"; }
	tap_check "$L: router set up (DNAT pub0 tcp 8080 and udp 5300 to [$B6], MASQUERADE out of bk0, forwarding on)" \
		eval 'nsx "$NS_R" sysctl -qw net.ipv6.conf.all.forwarding=1 &&
			ipt -A PREROUTING -i pub0 -p tcp --dport 8080 -j DNAT --to-destination "[$B6]:8080" &&
			ipt -A PREROUTING -i pub0 -p udp --dport 5300 -j DNAT --to-destination "[$B6]:5300" &&
			ipt -A POSTROUTING -o bk0 -j MASQUERADE'
	check_6to6 "$L"
}

run_xmasq() {
	local mode=$1 L="xmasq $1" out n
	XM_PIN="/sys/fs/bpf/xmasq-test-$$-$XMI_ID-icmp-$mode"
	XM_RULES_FILE="$XM_TMP/rules-icmp-$mode.conf"
	XM_PINS+=("$NS_R $XM_PIN")
	cat >"$XM_RULES_FILE" <<EOF
forward pub0 tcp 8080 to [$B6]:8080
forward pub0 udp 5300 to [$B6]:5300
EOF
	ensure_bpffs
	out=$(xm_attach "$mode" pub0 bk0 2>&1)
	tap_result $? "$L: attach pub0 bk0" "$out" || return
	out=$(xm apply "$XM_RULES_FILE" 2>&1)
	tap_result $? "$L: apply the forwards" "$out" "$(cat "$XM_RULES_FILE")" || return
	check_6to6 "$L"
	n=$(xm stats --json 2>/dev/null | json_get /dev/stdin "d['counters'].get('icmp_error', {}).get('packets', 0)" 2>/dev/null)
	[ "${n:-0}" -ge 2 ] 2>/dev/null
	tap_result $? "$L: counters: icmp_error ${n:-none} (at least 2: Packet Too Big, port unreachable)" \
		"$(xm stats 2>&1 | grep -iE 'icmp|frag|untrans' | head -n 8)"
}

# icmp_up VARIANT ROUTER: the topology (each_router6)
icmp_up() { topo_icmp_up "$1" "$2-$XMI_ID"; }

each_router6 topology icmp_up
tap_done
