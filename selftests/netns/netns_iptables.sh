#!/bin/bash
# The baseline: the same topology and the same end-to-end checks as
# netns_e2e.sh, but the router is the seed's recipe (ip_forward, iptables
# DNAT + MASQUERADE, source routing for eth1's address). xmasq must show the
# same observable results: it is a drop-in replacement.
#
# The seed's "ip rule from 198.51.100.1 table 101" alone does not route
# DNAT'd replies (the reply's source becomes 198.51.100.1 only in
# POSTROUTING, after the routing decision), so replies to client1 leave by
# eth0. The baseline therefore adds the usual CONNMARK/fwmark return path;
# XM_IPT_SEED_ONLY=1 runs the bare seed recipe to show that failure.
# TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init iptables

mode=connmark
[ "${XM_IPT_SEED_ONLY:-0}" = 1 ] && mode=seed

for variant in ${VARIANTS:-gro plain}; do
	diag "==== iptables router, $variant veth peers ($mode)"
	if ! topo_up "$variant" || ! backend_up; then
		tap_not_ok "$variant: build topology and backend"
		continue
	fi
	# the nat table is a kernel feature (nf_nat, iptables' backend): without
	# it there is no baseline to compare with, which says nothing of xmasq
	if ! out=$(nsx "$NS_R" iptables -w -t nat -S 2>&1); then
		tap_skip "$variant: iptables router" "no iptables nat table in this kernel: $out"
		topo_down
		continue
	fi
	tap_check "$variant: iptables router (DNAT + MASQUERADE + source routing) set up" \
		router_iptables_up "$mode"
	for c in 0 1; do
		check_client $c
		diag "backend TCP retransmissions during C$c's transfer: $LAST_RETRANS"
	done
	for c in 0 1; do check_udp_split $c; done
	check_unforwarded
	router_iptables_down
	check_not_forwarded "after iptables -t nat -F"
	topo_down
done
tap_done
