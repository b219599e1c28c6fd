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
. "$(dirname "$0")/lib.sh"
xm_init iptables
need_xmasq

PORT=9107
RULES_EXTRA="forward eth0 tcp $PORT to $B_ADDR:$PORT
set timeout tcp-close 1"

# tcpwin MODE: the story of selftests/netns/py/tcpwin.py through client 0
tcpwin() {
	timeout --kill-after=3 40 "$XM_PY" "$XM_DATA/tcpwin.py" --client-ns "$NS_C0" \
		--backend-ns "$NS_B" --dst "$R_ADDR0:$PORT" --src "$C0_SRC" --backend "$B_ADDR" \
		--mode "$1" --wait 2.5
}

# iptables_up: the recipe (lib.sh) plus this suite's forward and timeout
iptables_up() {
	router_iptables_up connmark &&
		nsx "$NS_R" iptables -w -t nat -A PREROUTING -i eth0 -p tcp --dport $PORT \
			-j DNAT --to-destination "$B_ADDR:$PORT" &&
		nsx "$NS_R" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_close=1
}

# counter_at_least NAME N
counter_at_least() { [ "$(counter "$1")" -ge "$2" ] 2>/dev/null; }

for mode in xdp tc; do
	variant=gro
	[ "$mode" = tc ] && variant=plain
	diag "==== xmasq at $mode ($variant veth peers)"
	if ! topo_up "$variant" "tw$mode"; then
		tap_not_ok "$mode: build topology"
		topo_down
		continue
	fi
	XM_RULES="$XM_RULES
$RULES_EXTRA"
	router_xmasq_vars
	tap_check "$mode: xmasq attached ($mode) with a forward of tcp $PORT and tcp-close 1 s" \
		router_xmasq_up "$mode"
	before=$(counter drop_tcp_rst_out_of_window)
	out=$(tcpwin far 2>&1)
	tap_result $? "$mode: a connection survives RSTs forged 2^31 outside the window both ways" "$out"
	diag "$out"
	tap_result "$(counter_at_least drop_tcp_rst_out_of_window $((before + 2)); echo $?)" \
		"$mode: both forged RSTs counted in drop_tcp_rst_out_of_window" \
		"drop_tcp_rst_out_of_window: $before before, $(counter drop_tcp_rst_out_of_window) after"
	out=$(tcpwin exact 2>&1)
	tap_result $? "$mode: control: a RST forged at the exact sequence number ends the connection" "$out"
	diag "$out"
	XM_RULES=${XM_RULES%"
$RULES_EXTRA"}
	topo_down
done

diag "==== the iptables recipe, same topology"
if topo_up plain twipt; then
	if ! out=$(nsx "$NS_R" iptables -w -t nat -S 2>&1); then
		tap_skip "iptables" "no iptables nat table in this kernel: $out"
	else
		tap_check "iptables router set up, DNAT of tcp $PORT, tcp close timeout 1 s" \
			iptables_up
		out=$(tcpwin far 2>&1)
		tap_result $? "iptables: a connection survives RSTs forged 2^31 outside the window both ways" "$out"
		diag "$out"
		out=$(tcpwin exact 2>&1)
		tap_result $? "iptables: control: a RST forged at the exact sequence number ends the connection" "$out"
		diag "$out"
	fi
else
	tap_not_ok "iptables: build topology"
fi
topo_down
tap_done
