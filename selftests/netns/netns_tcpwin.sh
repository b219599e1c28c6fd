#!/bin/bash
# TCP window checks end to end (bpf/tcp_window.h): an established
# connection through the router, forged RSTs that know its tuple but not its
# sequence numbers (2^31 away, from raw sockets on both ends' links, in
# both directions) must not end it, with xmasq at XDP, at tc, and with the
# iptables recipe (netfilter's tcp_in_window) in the same topology. The
# tcp-close timeout is 1 s in both routers, so a flow wrongly closed by a
# forged RST would be gone by the time the connection is tried again.
# Control: a forged RST at exactly the sequence number the backend expects
# does end the connection. TAP output; exit 1 when a check fails.
#
# The same for IPv6 clients (client 0's 2001:db8:ff00::10 to the router's
# 2001:db8:0:1::1 on eth0, lib.sh's topo6_pub_up): to an IPv6 backend
# (6->6, tcp 9108 to [fd00:8::2], the router's fd00:8::1 on eth2, as
# netns_ipv6.sh) and to the IPv4 backend (6->4, tcp 9109, `family ipv6`:
# the client-side RST is IPv6, the backend-side one IPv4, to the router's
# 198.18.0.1), with xmasq at XDP and at tc; 6->6 with the ip6tables recipe
# too. Where ip(6)tables passes and xmasq fails, xmasq is wrong. On a host
# without IPv6 (ipv6.disable=1) the IPv6 checks are skipped, the IPv4 ones run.
. "$(dirname "$0")/lib.sh"
xm_init iptables ip6tables
need_xmasq
HAVE_IPV6=1
[ -d /proc/sys/net/ipv6 ] || HAVE_IPV6=

PORT=9107   # IPv4 client, IPv4 backend
PORT6=9108  # IPv6 client, IPv6 backend (6->6)
PORT64=9109 # IPv6 client, IPv4 backend (6->4)
R6_2=fd00:8::1 # router eth2 (towards the backend), as in netns_ipv6.sh
B6=fd00:8::2   # the backend's IPv6 address
RULES_EXTRA="forward eth0 tcp $PORT to $B_ADDR:$PORT
set timeout tcp-close 1"
[ -n "$HAVE_IPV6" ] && RULES_EXTRA="$RULES_EXTRA
forward eth0 tcp $PORT6 to [$B6]:$PORT6
forward eth0 tcp $PORT64 to $B_ADDR:$PORT64 family ipv6"

# topo_tcpwin_up VARIANT TAG: topo_up's topology with IPv6 on the public
# side (topo6_pub_up) and between the router's eth2 and the backend; the
# backend reaches the router's fd00:8::1 on its link (the flows are
# masqueraded to it), so it needs no other route. IPv4 only without IPv6.
topo_tcpwin_up() {
	[ -z "$HAVE_IPV6" ] && { topo_up "$1" "$2"; return; }
	topo6_pub_up "$1" "$2" &&
		ns_ipv6 "$NS_B" &&
		ip -n "$NS_R" -6 addr add $R6_2/64 dev eth2 nodad &&
		ip -n "$NS_B" -6 addr add $B6/64 dev eth0 nodad
}

# tcpwin MODE [FLOW]: the story of selftests/netns/py/tcpwin.py through
# client 0; FLOW 4to4 (the default), 6to6 or 6to4
tcpwin() {
	local dst=$R_ADDR0:$PORT src=$C0_SRC backend=$B_ADDR
	case ${2:-4to4} in
	6to6) dst="[$R6_0]:$PORT6" src=$C0_SRC6 backend=$B6 ;;
	6to4) dst="[$R6_0]:$PORT64" src=$C0_SRC6 ;;
	esac
	timeout --kill-after=3 40 "$XM_PY" "$XM_DATA/tcpwin.py" --client-ns "$NS_C0" \
		--backend-ns "$NS_B" --dst "$dst" --src "$src" --backend "$backend" \
		--mode "$1" --wait 2.5
}

# iptables_up: the recipe (lib.sh) plus this suite's forward and timeout
iptables_up() {
	router_iptables_up connmark &&
		nsx "$NS_R" iptables -w -t nat -A PREROUTING -i eth0 -p tcp --dport $PORT \
			-j DNAT --to-destination "$B_ADDR:$PORT" &&
		nsx "$NS_R" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_close=1
}

# ip6tables_up: the 6->6 forward as netns_ipv6.sh's recipe makes one (DNAT
# on eth0, MASQUERADE towards the backend); the tcp close timeout is one
# for both families, set here too in case iptables was skipped
ip6tables_up() {
	nsx "$NS_R" sysctl -qw net.ipv6.conf.all.forwarding=1 \
		net.netfilter.nf_conntrack_tcp_timeout_close=1 &&
		nsx "$NS_R" ip6tables -w -t nat -A PREROUTING -i eth0 -p tcp --dport $PORT6 \
			-j DNAT --to-destination "[$B6]:$PORT6" &&
		nsx "$NS_R" ip6tables -w -t nat -A POSTROUTING -d $B6 -j MASQUERADE
}

# counter_at_least NAME N
counter_at_least() { [ "$(counter "$1")" -ge "$2" ] 2>/dev/null; }

# xmasq_window_checks LABEL FLOW: through xmasq, FLOW's connection survives
# RSTs forged far outside the window (both counted as dropped), and one at
# the exact sequence number ends it
xmasq_window_checks() {
	local L=$1 flow=$2 before out
	before=$(counter drop_tcp_rst_out_of_window)
	out=$(tcpwin far "$flow" 2>&1)
	tap_result $? "$L: a connection survives RSTs forged 2^31 outside the window both ways"
	diag "$out"
	tap_result "$(counter_at_least drop_tcp_rst_out_of_window $((before + 2)); echo $?)" \
		"$L: both forged RSTs counted in drop_tcp_rst_out_of_window" \
		"drop_tcp_rst_out_of_window: $before before, $(counter drop_tcp_rst_out_of_window) after"
	out=$(tcpwin exact "$flow" 2>&1)
	tap_result $? "$L: control: a RST forged at the exact sequence number ends the connection"
	diag "$out"
}

# router_window_checks LABEL FLOW: the same without xmasq's counter (the
# ip(6)tables routers)
router_window_checks() {
	local L=$1 flow=$2 out
	out=$(tcpwin far "$flow" 2>&1)
	tap_result $? "$L: a connection survives RSTs forged 2^31 outside the window both ways"
	diag "$out"
	out=$(tcpwin exact "$flow" 2>&1)
	tap_result $? "$L: control: a RST forged at the exact sequence number ends the connection"
	diag "$out"
}

for mode in xdp tc; do
	variant=gro
	[ "$mode" = tc ] && variant=plain
	diag "==== xmasq at $mode ($variant veth peers)"
	if ! topo_tcpwin_up "$variant" "tw$mode"; then
		tap_not_ok "$mode: build topology"
		topo_down
		continue
	fi
	XM_RULES="$XM_RULES
$RULES_EXTRA"
	router_xmasq_vars
	tap_check "$mode: xmasq attached ($mode) with forwards of tcp $PORT${HAVE_IPV6:+, $PORT6 (6->6), $PORT64 (6->4)} and tcp-close 1 s" \
		router_xmasq_up "$mode"
	xmasq_window_checks "$mode" 4to4
	if [ -n "$HAVE_IPV6" ]; then
		xmasq_window_checks "$mode: 6->6" 6to6
		xmasq_window_checks "$mode: 6->4" 6to4
	else
		tap_skip "$mode: 6->6 and 6->4" "the kernel has no IPv6 (ipv6.disable=1)"
	fi
	XM_RULES=${XM_RULES%"
$RULES_EXTRA"}
	topo_down
done

diag "==== the iptables and ip6tables recipes, same topology"
if topo_tcpwin_up plain twipt; then
	if ! out=$(nsx "$NS_R" iptables -w -t nat -S 2>&1); then
		tap_skip "iptables" "no iptables nat table in this kernel: $out"
	else
		tap_check "iptables router set up, DNAT of tcp $PORT, tcp close timeout 1 s" \
			iptables_up
		router_window_checks iptables 4to4
	fi
	if [ -z "$HAVE_IPV6" ]; then
		tap_skip "ip6tables" "the kernel has no IPv6 (ipv6.disable=1)"
	elif ! out=$(nsx "$NS_R" ip6tables -w -t nat -S 2>&1); then
		tap_skip "ip6tables" "no ip6tables nat table in this kernel: $out"
	else
		tap_check "ip6tables router set up, DNAT of tcp $PORT6 to [$B6]:$PORT6 + MASQUERADE, tcp close timeout 1 s" \
			ip6tables_up
		router_window_checks "ip6tables: 6->6" 6to6
	fi
else
	tap_not_ok "iptables: build topology"
fi
topo_down
tap_done
