#!/bin/bash
# 802.1Q-tagged IPv6, end to end: a client on VLAN 100 of the router's
# public NIC, the backend untagged behind it.
#
#   C eth0 2001:db8:7::10, 192.0.2.10 ── (tag 100) ── wan 2001:db8:7::1, 192.0.2.1
#                                                      router R
#   B eth0 fd00:7::2, 198.18.7.2     ── (untagged) ── lan fd00:7::1, 198.18.7.1
#
# The test kernels have no 802.1Q devices (CONFIG_VLAN_8021Q unset), so
# the client's VLAN edge is a tc program on its eth0 (build/tests/
# vlan_edge.bpf.o: tag 100 pushed on what it sends, popped off what it
# receives); its stack and its programs (curl, ab, socat) are the usual
# ones. The router's kernel cannot take tag 100 (a tagged frame is
# another host's to it), so the client knows the router's MAC statically
# and xmasq must do it all: tagged IPv6 goes from XDP to tc (the kernel
# has the tag off there), whose flow remembers the tag, and the answers
# leave wan tagged again (tc pushes it). Through the tag, each router: a
# 50 MB download with its SHA-256 (curl, nginx on the backend), 200 short
# connections (ab), UDP request/response (socat), the backend seeing the
# router's fd00:7::1; xmasq's own: 6->4 (an IPv6 client of the IPv4
# backend), IPv4 over the same tag beside, the tagged flows by tc and the
# answers not by XDP (counters), the flow listed. Routers: ip6tables
# (DNAT + MASQUERADE, with the same VLAN edge on wan standing in for the
# kernel's wan.100: the yardstick), xmasq --mode xdp (GRO veth peers),
# xmasq auto (tc on a veth). Where ip6tables passes and xmasq fails,
# xmasq is wrong.
#
# Env: ROUTERS="ip6tables xdp auto"  XMASQ=build/xmasq  BIG_MB=50  AB_N=200
# TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init ip6tables curl ab socat nginx
[ -d /proc/sys/net/ipv6 ] || skip_all "the kernel has no IPv6 (ipv6.disable=1)"

AB_N=${AB_N:-200}
ID=${XM_TMP##*.}
NS_C="xmvl-c-$ID" NS_R="xmvl-r-$ID" NS_B="xmvl-b-$ID"
PUB6=2001:db8:7::1 C6=2001:db8:7::10 LAN6=fd00:7::1 B6=fd00:7::2
PUB4=192.0.2.1 C4=192.0.2.10 LAN4=198.18.7.1 B4=198.18.7.2
VLAN_EDGE=${VLAN_EDGE:-$XM_ROOT/build/tests/vlan_edge.bpf.o}
[ -f "$VLAN_EDGE" ] || skip_all "$VLAN_EDGE not built (make check-build)"

# vlan_edge NS DEV: VLAN 100 on DEV's wire, the host untagged
vlan_edge() {
	tc -n "$1" qdisc add dev "$2" clsact &&
		tc -n "$1" filter add dev "$2" ingress bpf da obj "$VLAN_EDGE" sec tc &&
		tc -n "$1" filter add dev "$2" egress bpf da obj "$VLAN_EDGE" sec tc
}

# topo VARIANT ROUTER: the three namespaces (VARIANT gro: GRO on the veth
# peers, for XDP's redirects; ROUTER ip6tables: the VLAN edge on wan too)
topo() {
	local variant=$1 router=$2 l wan_mac
	ns_add "$NS_C" "$NS_R" "$NS_B" || return 1
	ip -n "$NS_R" link add wan type veth peer name eth0 netns "$NS_C" || return 1
	ip -n "$NS_R" link add lan type veth peer name eth0 netns "$NS_B" || return 1
	ns_ipv6 "$NS_C" "$NS_R" "$NS_B" || return 1
	nsx "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	ip -n "$NS_C" addr add $C6/64 dev eth0 nodad && ip -n "$NS_C" addr add $C4/24 dev eth0 &&
		ip -n "$NS_R" addr add $PUB6/64 dev wan nodad && ip -n "$NS_R" addr add $PUB4/24 dev wan &&
		ip -n "$NS_R" addr add $LAN6/64 dev lan nodad && ip -n "$NS_R" addr add $LAN4/24 dev lan &&
		ip -n "$NS_B" addr add $B6/64 dev eth0 nodad && ip -n "$NS_B" addr add $B4/24 dev eth0 || return 1
	for l in "$NS_C eth0" "$NS_R wan" "$NS_R lan" "$NS_B eth0"; do
		set -- $l
		ip -n "$1" link set "$2" up || return 1
	done
	vlan_edge "$NS_C" eth0 || return 1
	# the tag in the frame, as on a wire (a veth would carry it beside
	# the frame, in the skb, where XDP does not see it)
	nsx "$NS_C" ethtool -K eth0 txvlan off >/dev/null || return 1
	# the router's kernel takes no tagged frame (xmasq's does): the
	# client knows its MAC
	wan_mac=$(ip -n "$NS_R" link show wan | awk '/link\/ether/ { print $2 }')
	ip -n "$NS_C" neigh add $PUB6 lladdr "$wan_mac" dev eth0 nud permanent &&
		ip -n "$NS_C" neigh add $PUB4 lladdr "$wan_mac" dev eth0 nud permanent || return 1
	if [ "$router" = ip6tables ]; then
		vlan_edge "$NS_R" wan || return 1
	fi
	# no default route on the backend: what it answers goes to the router's
	# own addresses only (masquerade shows itself)
	if [ "$variant" = gro ]; then
		nsx "$NS_C" ethtool -K eth0 gro on >/dev/null && nsx "$NS_B" ethtool -K eth0 gro on >/dev/null || return 1
	fi
	return 0
}

# servers: nginx on [B6]:80 and B4:80 (/whoami: the peer it saw), socat's
# UDP echo on [B6]:5000 ("echo:[PEER]:PAYLOAD")
servers() {
	local dir="$XM_TMP/nginx"
	nginx_www_up "$NS_B" "$dir" server_port "[$B6]:80" "$B4:80"
	# shellcheck disable=SC2016 # expanded by socat's shell
	nsx "$NS_B" socat "UDP6-RECVFROM:5000,bind=[$B6],fork" \
		SYSTEM:'echo "echo:$SOCAT_PEERADDR:$(cat)"' >"$dir/udp.out" 2>&1 &
	XM_PIDS+=($!)
	wait_port "$NS_B" tcp "[$B6]" 80 && wait_port "$NS_B" tcp $B4 80 && wait_port "$NS_B" udp "[$B6]" 5000
}

# check_tagged L: through the tag, the 6->6 forward: whoami, the big
# download, ab, UDP
check_tagged() {
	local L=$1 out rc payload="hello-$RANDOM"
	out=$(ccurl "$NS_C" $C6 --max-time 5 "http://[$PUB6]:8080/whoami" 2>&1)
	[ "$out" = "$LAN6" ]
	tap_result $? "$L: tagged client [$C6] -> [$PUB6]:8080: the backend saw the router's $LAN6" "whoami: $out"
	check_big "$L: tagged client" ccurl "$NS_C" $C6 --max-time 40 "http://[$PUB6]:8080/big.bin"
	check_ab "$L: tagged client: $AB_N short connections" "$NS_C" $C6 "http://[$PUB6]:8080/index.html" 60
	out=$(udp6 "$NS_C" $C6 $PUB6 5000 "$payload")
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "echo:[$(v6x $LAN6)]:$payload" ] && rc=1
	tap_result $rc "$L: tagged client: UDP request/response, the backend saw $LAN6" "got: ${out:-nothing}"
}

run_ip6tables() {
	local L=ip6tables
	tap_check "$L: DNAT on wan (behind its VLAN edge), MASQUERADE out of lan" eval \
		"nsx $NS_R ip6tables -w -t nat -A PREROUTING -i wan -p tcp --dport 8080 -j DNAT --to-destination [$B6]:80 &&
		 nsx $NS_R ip6tables -w -t nat -A PREROUTING -i wan -p udp --dport 5000 -j DNAT --to-destination [$B6]:5000 &&
		 nsx $NS_R ip6tables -w -t nat -A POSTROUTING -o lan -j MASQUERADE"
	check_tagged "$L"
}

# flow_listed: a flow of the tagged client listed, answered (packets back)
flow_listed() {
	xm conntrack list 2>/dev/null |
		awk -v c="[$C6]:" 'index($0, c) && $2 != "syn-sent" && $(NF - 1) > 0 { f = 1 } END { exit !f }'
}

run_xmasq() {
	local L=$1 out tc0 xdp_to_tc0 n
	XM_PIN="/sys/fs/bpf/xmasq-vlan-$ID-$L"
	XM_PINS+=("$NS_R $XM_PIN")
	ensure_bpffs || return 1
	cat >"$XM_TMP/rules.conf" <<EOF
forward wan:[$PUB6] tcp 8080 to [$B6]:80
forward wan:[$PUB6] udp 5000 to [$B6]:5000
forward wan:[$PUB6] tcp 8081 to $B4:80
forward wan tcp 8080 to $B4:80
EOF
	tap_check "$L: xmasq on wan and lan" eval \
		"xm_attach $([ "$L" = xdp ] && echo xdp || echo auto) wan lan && xm apply $XM_TMP/rules.conf"
	tc0=$(counter fwd_tc)
	xdp_to_tc0=$(counter pass_ipv6_to_tc)
	check_tagged "$L"
	out=$(ccurl "$NS_C" $C6 --max-time 5 "http://[$PUB6]:8081/whoami" 2>&1)
	[ "$out" = "$LAN4" ]
	tap_result $? "$L: tagged client [$C6] -> [$PUB6]:8081, 6->4: the IPv4 backend saw $LAN4" "whoami: $out"
	out=$(ccurl "$NS_C" $C4 --max-time 5 "http://$PUB4:8080/whoami" 2>&1)
	[ "$out" = "$LAN4" ]
	tap_result $? "$L: the same tag in IPv4 ($C4 -> $PUB4:8080): the backend saw $LAN4" "whoami: $out"
	# the tagged flows went by tc: in xdp mode XDP handed each tagged
	# packet and each answer to a tagged client there
	n=$(counter fwd_tc)
	[ $((n - tc0)) -gt 1000 ]
	tap_result $? "$L: the tagged flows' packets sent by tc ($((n - tc0)))"
	if [ "$L" = xdp ]; then
		n=$(counter pass_ipv6_to_tc)
		[ $((n - xdp_to_tc0)) -gt 1000 ]
		tap_result $? "$L: XDP handed tagged IPv6 and the answers to it to tc ($((n - xdp_to_tc0)))"
	fi
	# a flow held open: listed, answered
	nsx "$NS_C" timeout 10 curl -sS -g --interface $C6 --limit-rate 1M -o /dev/null \
		"http://[$PUB6]:8080/big.bin" &
	XM_PIDS+=($!)
	wait_for 5 flow_listed
	tap_result $? "$L: the tagged client's flow in conntrack list, answered" "$(xm conntrack list 2>&1 | head -n 5)"
	xm detach --all >/dev/null 2>&1
}

# vlan_up VARIANT ROUTER: the topology and its servers (each_router6's UP)
vlan_up() { topo "$1" "$2" && servers; }

each_router6 "topology and servers" vlan_up
tap_done
