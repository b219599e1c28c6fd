#!/bin/bash
# IPv6 forwards, slice 1: IPv6 clients to an IPv6 backend (6->6), TCP and
# UDP, end to end in the two-NIC topology of netns_e2e.sh with IPv6 added:
#
#   C0 2001:db8:0:1::2 ── eth0 2001:db8:0:1::1 ┐
#   src 2001:db8:ff00::10 on lo                ├ router R ── eth2 fd00:8::1 ── B fd00:8::2
#   C1 2001:db8:0:2::2 ── eth1 2001:db8:0:2::1 ┘
#   src 2001:db8:ff01::10 on lo
#
# R: IPv6 default route via C0 (eth0) only, no ip -6 rules (and netns_e2e.sh's
# IPv4 beside). B: no default route, routes to the two client sources only
# (for keep-source).
#
# Each client's source lives on its lo, off every router link: a reply to
# C1 reaches it only if the router sends it out of eth1 although its
# routing table says eth0.
#
# The same checks run against three routers, each in a fresh topology:
#   ip6tables  DNAT + MASQUERADE, the IPv4 seed's `ip -6 rule from
#              2001:db8:0:2::1` (shown failing C1, as in IPv4), then the
#              connmark/fwmark return path it needs; the yardstick
#   xdp        xmasq attached --mode xdp, GRO veth peers (known flows at
#              XDP, new ones too: fwd_xdp; ICMPv6 by tc: pass_ipv6_to_tc)
#   auto       xmasq attached without --mode (tc on a veth), plain peers
# Through each public NIC: a 50 MB download with its SHA-256 (curl, nginx
# on the backend), 200 short connections (ab), UDP request/response
# (socat), the backend seeing the router's fd00:8::1 (and the client with
# keep-source), no reply leaking out of the other NIC. xmasq's own: no
# ip -6 rule on the router, IPv6 forwarding on for the managed NICs, the
# flow in `conntrack list` while open, counters, and a live apply dropping
# the IPv6 forwards (new connections refused, the file's IPv4 forward
# of the same port carrying on) and adding them back; the
# IPv6 forwards' rule stats and Prometheus; `as` on an IPv6 forward (the
# backend sees the list's addresses). The ip6tables router does the
# same live change with ip6tables -D / -A. Where ip6tables passes and
# xmasq fails, xmasq is wrong.
#
# Env: ROUTERS="ip6tables xdp auto"  XMASQ=build/xmasq  BIG_MB=50  AB_N=200
# TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init iptables ip6tables curl ab socat nginx
[ -d /proc/sys/net/ipv6 ] || skip_all "the kernel has no IPv6 (ipv6.disable=1)"

# ---- addresses (RFC 3849 documentation prefix, RFC 4193 private) ---------------
# (the public side's, R6_0 R6_1 C6_0 C6_1 C0_SRC6 C1_SRC6: lib.sh)
R6_2=fd00:8::1            # router eth2 (towards the backend)
B6=fd00:8::2              # backend
V4_PORT=8080              # the IPv4 forward of the IPv6 ones' port (families do not overlap)
AB_N=${AB_N:-200}
FWD_OK=() # FWD_OK[N]: client N's TCP forward answered (check6_client)
# In names shared with other test runs on this host (namespaces, bpffs pin
# directories), beside $$: runs in other PID namespaces share /run/netns
# and /sys/fs/bpf and may have the same $$ (seen: another run's teardown
# removed this run's pins). The temp dir's random part.
XM6_ID=${XM_TMP##*.}

R6_2_X=$(v6x $R6_2)

# ---- topology ---------------------------------------------------------------------
# topo6_up VARIANT TAG: netns_e2e.sh's topology (IPv4 too) with IPv6 on top
# (lib.sh's topo6_pub_up) and on the backend's side
topo6_up() {
	topo6_pub_up "$1" "$2" || return 1
	ns_ipv6 "$NS_B" || return 1
	ip -n "$NS_R" -6 addr add $R6_2/64 dev eth2 nodad || return 1
	ip -n "$NS_B" -6 addr add $B6/64 dev eth0 nodad || return 1
	# no default route on the backend: routes to the two clients only, for
	# keep-source (masquerade shows itself in what the backend saw)
	ip -n "$NS_B" -6 route add $C0_SRC6/128 via $R6_2 dev eth0 || return 1
	ip -n "$NS_B" -6 route add $C1_SRC6/128 via $R6_2 dev eth0 || return 1
}

# backend6_up: nginx on [B6]:80 and :81 (81 for keep-source) and on the
# IPv4 backend's :80, serving index.html, big.bin ($BIG_MB MB) and /whoami
# (the peer address it saw); socat's UDP echo on [B6]:5000 answering
# "echo:[PEER]:PAYLOAD". Sets BIG_SHA, NGX_LOG.
backend6_up() {
	local dir="$XM_TMP/nginx-$NS_B"
	nginx_www_up "$NS_B" "$dir" server_port "[$B6]:80" "[$B6]:81" "$B_ADDR:80"
	# shellcheck disable=SC2016 # expanded by socat's shell
	nsx "$NS_B" socat "UDP6-RECVFROM:5000,bind=[$B6],fork" \
		SYSTEM:'echo "echo:$SOCAT_PEERADDR:$(cat)"' >"$dir/udp.out" 2>&1 &
	XM_PIDS+=($!)
	wait_port "$NS_B" tcp "[$B6]" 80 && wait_port "$NS_B" tcp "[$B6]" 81 &&
		wait_port "$NS_B" tcp $B_ADDR 80 && wait_port "$NS_B" udp "[$B6]" 5000 ||
		{ cat "$dir/stdout" "$dir/error.log" "$dir/udp.out" >&2; return 1; }
}

# ---- clients ----------------------------------------------------------------------
# (ccurl, client6_vars, whoami, udp6, udp6_refused: lib.sh)

# check6_client LABEL N: whoami, the big download, ab, UDP through client N;
# nothing of it out of the other NIC. Sets FWD_OK[N].
check6_client() {
	local L=$1 out rc other0
	client6_vars "$2"
	other0=$(link_stat "$OTHER_NS" eth0 rx_packets)

	out=$(whoami "$2" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "$R6_2" ] && rc=1
	tap_result $rc "$L: $CLABEL: backend saw the router's $R6_2 (masquerade)" "whoami: $out" \
		"the backend's last requests (peer, port, path):" "$(tail -n 3 "$NGX_LOG" 2>&1)"
	FWD_OK[$2]=$([ $rc -eq 0 ] && echo 1 || echo 0)
	if [ "${FWD_OK[$2]}" = 1 ]; then
		check6_tcp_load "$L" "$2"
	else
		# not forwarded at all: the download and ab would only time out
		tap_not_ok "$L: $CLABEL: ${BIG_MB} MB download, sha256 matches"
		diag "not tried: this forward does not work (above)"
		tap_not_ok "$L: $CLABEL: $AB_N short connections (ab)"
		diag "not tried: this forward does not work (above)"
	fi

	local payload="hello-$2-$RANDOM"
	out=$(udp6 "$CNS" "$CSRC" "$CR" 5000 "$payload")
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "echo:[$R6_2_X]:$payload" ] && rc=1
	tap_result $rc "$L: C$2 [$CSRC] -> [$CR]:5000 ($CIF): UDP request/response, backend saw $R6_2" \
		"got: ${out:-nothing}" "want: echo:[$R6_2_X]:$payload"

	# ICMPv6 through this NIC: nothing listens on the backend's udp/5001,
	# its port unreachable comes back to the client by the NIC it came in
	# on, about the datagram the client sent
	out=$(udp6_refused "$CNS" "$CSRC" "$CR" 5001)
	[ "$out" = refused ]
	tap_result $? "$L: C$2 [$CSRC] -> [$CR]:5001 ($CIF), no listener at the backend: its ICMPv6 port unreachable refused the client's socket (${out:-nothing})" \
		"$out"

	check6_other_quiet "$L" "$2" "$other0"
}

# check6_tcp_load LABEL N: the big download (sha256) and AB_N short
# connections through client N (client6_vars N done)
check6_tcp_load() {
	local L=$1
	check_big "$L: $CLABEL" ccurl "$CNS" "$CSRC" --max-time 40 "http://[$CR]:8080/big.bin"
	check_ab "$L: $CLABEL: $AB_N short connections" "$CNS" "$CSRC" "http://[$CR]:8080/index.html" 60
}

# check6_keep_source LABEL: tcp/8081 (keep-source) through each NIC: the
# backend saw the client's own address
check6_keep_source() {
	local L=$1 i out rc
	for i in 0 1; do
		client6_vars $i
		out=$(whoami $i 8081 2>&1)
		rc=$?
		[ $rc -eq 0 ] && [ "$out" != "$CSRC" ] && rc=1
		tap_result $rc "$L: C$i [$CSRC] -> [$CR]:8081 ($CIF) keep-source: backend saw the client's $CSRC" \
			"whoami: $out"
	done
}

# check6_v4 DESC: C0's HTTP to the IPv4 forward R_ADDR0:V4_PORT answers,
# the backend saw the router's IPv4 address
check6_v4() {
	local out rc
	out=$(timeout 10 nsenter --net="/run/netns/$NS_C0" curl -sS --interface $C0_SRC --connect-timeout 3 \
		--max-time 5 "http://$R_ADDR0:$V4_PORT/whoami" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "$R_ADDR2" ] && rc=1
	tap_result $rc "$1 (backend saw $out)" "$out"
}

# check6_live LABEL DROP_CMD ADD_CMD: DROP_CMD takes the IPv6 forwards
# away: new IPv6 connections through either NIC fail at once (refused or
# timed out within 3 s) and UDP gets no answer, while the IPv4 forward
# (C0 -> 192.0.2.1:8090) carries on; ADD_CMD puts them back: they work again
check6_live() {
	local L=$1 drop=$2 add=$3 out rc i t0 ok
	check6_v4 "$L: the IPv4 forward $R_ADDR0:$V4_PORT works beside the IPv6 ones"
	out=$($drop 2>&1)
	tap_result $? "$L: live change: the IPv6 forwards removed ($drop)" "$out"
	for i in 0 1; do
		client6_vars $i
		t0=$SECONDS
		out=$(whoami $i 8080 3 2>&1)
		rc=$?
		local u
		u=$(udp6 "$CNS" "$CSRC" "$CR" 5000 gone)
		ok=1
		[ $rc -ne 0 ] && [ -z "$u" ] && [ $((SECONDS - t0)) -le 12 ] && ok=0
		# "no longer": it must have been forwarded before
		[ "${FWD_OK[$i]:-0}" = 1 ] || ok=1
		tap_result $ok "$L: live change: C$i -> [$CR] tcp/8080 and udp/5000 no longer forwarded (curl: ${out:-?})" \
			"tcp: rc=$rc $out" "udp: ${u:-no answer}" "forwarded before the change: ${FWD_OK[$i]:-0}"
	done
	check6_v4 "$L: live change: the IPv4 forward $R_ADDR0:$V4_PORT still works meanwhile"
	out=$($add 2>&1)
	tap_result $? "$L: live change: the IPv6 forwards back ($add)" "$out"
	for i in 0 1; do
		client6_vars $i
		out=$(whoami $i 2>&1)
		rc=$?
		[ $rc -eq 0 ] && [ "$out" != "$R6_2" ] && rc=1
		tap_result $rc "$L: live change: C$i -> [$CR]:8080 forwarded again (backend saw $out)" "$out"
	done
}

# check6_as L: `as` on an IPv6 forward: tcp 8082 through each NIC to
# [B6]:80 leaving with fd00:8::21 or fd00:8::22 (further addresses of
# eth2, added here): three requests a client, each reaching the backend
# from an address of the list (one a flow, picked at random: which one is
# not checked); then the addresses go and the file goes back.
check6_as() {
	local L=$1 out i n a log="" rc=0 asf="$XM_TMP/rules-as6.conf"
	local list=fd00:8::21,fd00:8::22
	{ cat "$XM_RULES_FILE"; echo "forward eth0 tcp 8082 to [$B6]:80 as $list"
		echo "forward eth1 tcp 8082 to [$B6]:80 as $list"; } >"$asf"
	nsx "$NS_R" ip -6 addr add fd00:8::21/64 dev eth2 nodad &&
		nsx "$NS_R" ip -6 addr add fd00:8::22/64 dev eth2 nodad
	out=$(xm apply "$asf" 2>&1)
	if tap_result $? "$L: apply forward eth0|eth1 tcp 8082 to [$B6]:80 as $list" "$out"; then
		for i in 0 1; do
			for n in 1 2 3; do
				a=$(whoami $i 8082 2>&1)
				log+="C$i: ${a:-nothing}; "
				[ "$a" = fd00:8::21 ] || [ "$a" = fd00:8::22 ] || rc=1
			done
		done
		tap_result $rc "$L: tcp 8082 through eth0 and eth1: the backend saw the list's addresses ($log)"
	fi
	nsx "$NS_R" ip -6 addr del fd00:8::21/64 dev eth2
	nsx "$NS_R" ip -6 addr del fd00:8::22/64 dev eth2
	out=$(xm apply "$XM_RULES_FILE" 2>&1)
	tap_result $? "$L: the file without the list applied again" "$out"
}

# check6_addr_rule L: a forward for one local address (eth0:[R6_0]) works,
# and only a file with such a rule makes new IPv6 flows look rules6 up by
# address: without one the config says so (XM_CFG_NO_ADDR_RULES6, bit 6
# of its flags) and a new flow makes one lookup.
check6_addr_rule() {
	local L=$1 f="$XM_TMP/rules-addr6.conf" out fl
	fl=$(config_flags)
	[ $((fl & 64)) = 64 ]
	tap_result $? "$L: no IPv6 forward names an address: one rules6 lookup a new flow (config flags $fl)"
	{ cat "$XM_RULES_FILE"; echo "forward eth0:[$R6_0] tcp 8083 to [$B6]:80"; } >"$f"
	out=$(xm apply "$f" 2>&1)
	fl=$(config_flags)
	out=$(whoami 0 8083 2>&1)
	[ "$out" = "$R6_2" ] && [ $((fl & 64)) = 0 ]
	tap_result $? "$L: forward eth0:[$R6_0] tcp 8083 (one local address) forwards; address lookups on (flags $fl, backend saw ${out:-nothing})" "$out"
	out=$(xm apply "$XM_RULES_FILE" 2>&1)
	fl=$(config_flags)
	out=$(whoami 0 8083 2 2>&1)
	[ "$out" != "$R6_2" ] && [ $((fl & 64)) = 64 ] && [ "$(whoami 0 2>&1)" = "$R6_2" ]
	tap_result $? "$L: without it tcp/8083 is gone, tcp/8080 still forwarded, one lookup again (flags $fl)" "$out"
}

# ---- the ip6tables router -----------------------------------------------------------
IPT6=(ip6tables -w)
ipt6_dnat() { # -A|-D
	local ifc r
	for ifc in eth0 eth1; do
		for r in tcp:8080:80 udp:5000:5000 udp:5001:5001 tcp:8081:81; do
			IFS=: read -r p from to <<<"$r"
			nsx "$NS_R" "${IPT6[@]}" -t nat "$1" PREROUTING -i $ifc -p "$p" --dport "$from" \
				-j DNAT --to-destination "[$B6]:$to" || return 1
		done
	done
}
ipt6_drop() { ipt6_dnat -D; }
ipt6_add() { ipt6_dnat -A; }

# router_ip6tables_up: forwarding, DNAT per ingress NIC, MASQUERADE towards
# the backend (not for tcp/81: keep-source), the IPv4 seed's source routing
# for eth1's address, and an IPv4 forward (tcp/8090) for the live change
router_ip6tables_up() {
	nsx "$NS_R" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1 || return 1
	ipt6_add || return 1
	nsx "$NS_R" "${IPT6[@]}" -t nat -A POSTROUTING -d $B6 -p tcp --dport 80 -j MASQUERADE || return 1
	nsx "$NS_R" "${IPT6[@]}" -t nat -A POSTROUTING -d $B6 -p udp --dport 5000 -j MASQUERADE || return 1
	nsx "$NS_R" "${IPT6[@]}" -t nat -A POSTROUTING -d $B6 -p udp --dport 5001 -j MASQUERADE || return 1
	ip -n "$NS_R" -6 rule add from $R6_1 table 101 || return 1
	ip -n "$NS_R" -6 route add default via $C6_1 dev eth1 table 101 || return 1
	nsx "$NS_R" iptables -w -t nat -A PREROUTING -i eth0 -p tcp --dport $V4_PORT \
		-j DNAT --to-destination $B_ADDR:80 || return 1
	nsx "$NS_R" iptables -w -t nat -A POSTROUTING -d $B_ADDR -j MASQUERADE
}

# router_ip6tables_connmark: the return path DNAT'd replies need (their
# source becomes eth1's address only in POSTROUTING, after routing)
router_ip6tables_connmark() {
	nsx "$NS_R" "${IPT6[@]}" -t mangle -A PREROUTING -i eth1 -m conntrack --ctstate NEW \
		-j CONNMARK --set-mark 101 || return 1
	nsx "$NS_R" "${IPT6[@]}" -t mangle -A PREROUTING -i eth2 -j CONNMARK --restore-mark || return 1
	ip -n "$NS_R" -6 rule add fwmark 101 table 101
}

run_ip6tables() {
	local L=ip6tables out rc c0 c1 o0 o1
	if ! out=$(nsx "$NS_R" ip6tables -w -t nat -S 2>&1); then
		tap_skip "$L: ip6tables router" "no ip6tables nat table in this kernel: $out"
		return
	fi
	tap_check "$L: router set up (DNAT + MASQUERADE + the seed's ip -6 rule from $R6_1)" router_ip6tables_up
	# the seed's recipe alone: C0 works, C1's replies leave by eth0 (C0
	# gets them) and C1 times out
	c0=$(whoami 0 2>&1)
	o0=$(link_stat "$NS_C0" eth0 rx_packets)
	c1=$(whoami 1 8080 4 2>&1)
	rc=$?
	o1=$(link_stat "$NS_C0" eth0 rx_packets)
	[ "$c0" = "$R6_2" ] && [ $rc -ne 0 ] && [ $((o1 - o0)) -gt 0 ]
	tap_result $? "$L: without a return path C0 works and C1's replies leave by eth0 and are lost (as in IPv4: DNAT needs policy routing)" \
		"C0 whoami: $c0" "C1 whoami (rc $rc): $c1" "C0's eth0 received $((o1 - o0)) packets meanwhile"
	tap_check "$L: connmark/fwmark return path for eth1 (ip -6 rule fwmark 101)" router_ip6tables_connmark
	for c in 0 1; do
		check6_client "$L" $c
	done
	check6_keep_source "$L"
	check6_live "$L" ipt6_drop ipt6_add
}

# ---- the xmasq router ----------------------------------------------------------------
# xm_rules_v6 / xm_rules_v4: the rules file's IPv6 and IPv4 forwards
xm_rules_v6() {
	local ifc
	for ifc in eth0 eth1; do
		echo "forward $ifc tcp 8080 to [$B6]:80"
		echo "forward $ifc udp 5000 to [$B6]:5000"
		echo "forward $ifc udp 5001 to [$B6]:5001" # nothing listens: port unreachable
		echo "forward $ifc tcp 8081 to [$B6]:81 keep-source"
	done
}
xm_rules_v4() { echo "forward eth0 tcp $V4_PORT to $B_ADDR:80"; }
xm_apply_full() { xm apply "$XM_RULES_FILE"; }
xm_apply_v4only() { xm apply "$XM_TMP/rules-v4only.conf"; }

# stat6 JSON NAME: packets of counter NAME in a saved stats --json (0 when absent)
stat6() { json_get "$1" "d['counters'].get('$2', {}).get('packets', 0)" 2>/dev/null || echo 0; }

run_xmasq() {
	local mode=$1 L="xmasq $1" out rc ifc m f want
	local S0="$XM_TMP/stats6-0.json" S1="$XM_TMP/stats6-1.json"
	# not router_xmasq_vars: a pin directory only this run can name
	XM_PIN="/sys/fs/bpf/xmasq-test-$$-$XM6_ID-$mode"
	XM_RULES_FILE="$XM_TMP/rules-$mode.conf"
	XM_PINS+=("$NS_R $XM_PIN")
	{ xm_rules_v6; xm_rules_v4; } >"$XM_RULES_FILE"
	xm_rules_v4 >"$XM_TMP/rules-v4only.conf"
	ensure_bpffs
	out=$(xm_attach "$mode" eth0 eth1 eth2 2>&1)
	if ! tap_result $? "$L: attach eth0 eth1 eth2" "$out"; then
		return
	fi
	out=$(xm apply "$XM_RULES_FILE" 2>&1)
	tap_result $? "$L: apply $(wc -l <"$XM_RULES_FILE") forwards, IPv6 (to [$B6]) and IPv4" "$out" "$(cat "$XM_RULES_FILE")"
	# status: the mode asked for (auto: tc on a veth); IPv6 forwarding on
	want=$mode
	[ "$mode" = auto ] && want=tc
	xm status --json >"$XM_TMP/status6.json" 2>&1
	for ifc in eth0 eth1 eth2; do
		m=$(json_get "$XM_TMP/status6.json" "[i['mode'] for i in d['interfaces'] if i['name'] == '$ifc'][0]" 2>/dev/null)
		f=$(nsx "$NS_R" sysctl -n "net.ipv6.conf.$ifc.forwarding" 2>&1)
		[ "$m" = "$want" ] && [ "$f" = 1 ]
		tap_result $? "$L: $ifc in $want mode, net.ipv6.conf.$ifc.forwarding on (mode ${m:-?}, forwarding $f)" \
			"$(head -c 2000 "$XM_TMP/status6.json")"
	done
	# the proof below rests on this: the router's own routing sends C1's
	# replies out of eth0, no policy rule says otherwise
	out=$(nsx "$NS_R" ip -6 route get $C1_SRC6 from $R6_1 2>&1)
	local nrules
	nrules=$(nsx "$NS_R" ip -6 rule show | grep -vcE '^(0|32766):')
	[ "$nrules" = 0 ] && grep -q 'dev eth0' <<<"$out"
	tap_result $? "$L: router has no ip -6 rules and routes $C1_SRC6 out of eth0" "$out" "$(nsx "$NS_R" ip -6 rule show)"

	xm stats --json >"$S0" 2>&1
	for c in 0 1; do
		check6_client "$L" $c
	done
	check6_keep_source "$L"

	# a flow in conntrack list while its connection is open: a slow
	# download from C1
	timeout --kill-after=2 20 nsenter --net="/run/netns/$NS_C1" curl -sS -g --interface $C1_SRC6 \
		--connect-timeout 3 --limit-rate 256k -o /dev/null "http://[$R6_1]:8080/big.bin" >/dev/null 2>&1 &
	local bg=$!
	XM_PIDS+=("$bg")
	flow_listed() {
		xm conntrack list >"$XM_TMP/ct6.txt" 2>&1 &&
			grep -F "[$C1_SRC6]:" "$XM_TMP/ct6.txt" | grep -qF "[$B6]:80"
	}
	# until listed, or the download gave up
	listed_or_gone() { flow_listed || ! kill -0 "$bg" 2>/dev/null; }
	wait_for 5 listed_or_gone
	flow_listed
	tap_result $? "$L: conntrack list shows the open IPv6 flow [$C1_SRC6]:* -> [$B6]:80 (bracketed)" \
		"$(head -n 20 "$XM_TMP/ct6.txt")"
	kill "$bg" 2>/dev/null
	wait "$bg" 2>/dev/null

	xm stats --json >"$S1" 2>&1
	local n0 n1 r0 r1 p d
	n0=$(stat6 "$S0" flow_new_ipv6)
	n1=$(stat6 "$S1" flow_new_ipv6)
	r0=$(stat6 "$S0" rx_ipv6)
	r1=$(stat6 "$S1" rx_ipv6)
	# about 2 x (1 + 1 + AB_N TCP + 1 UDP + 1 keep-source) + the slow
	# download, but not exactly: ab's sockets bind before they connect, and
	# a port the last connection to the backend used may come again, a
	# tuple whose closed flow xmasq may take up again
	[ $((n1 - n0)) -ge "$AB_N" ] && [ $((r1 - r0)) -gt 0 ]
	tap_result $? "$L: counters: flow_new_ipv6 +$((n1 - n0)) (about $((2 * (AB_N + 4) + 1)), at least $AB_N), rx_ipv6 +$((r1 - r0))" \
		"$(json_get "$S1" '" ".join("%s=%s" % (k, v["packets"]) for k, v in sorted(d["counters"].items()) if v.get("packets"))' 2>&1 | head -c 2000)"
	p=$(stat6 "$S1" pass_ipv6_to_tc)
	if [ "$mode" = xdp ]; then
		# flows made and forwarded at XDP (xmasq_xdp6, xmasq_xdp6_new);
		# NDP, ICMPv6 errors and the like by tc: before the IPv6 fast
		# path every IPv6 packet went to tc, and before new flows at XDP
		# at least one packet a flow. None is fine too: NDP comes only
		# when a neighbour's entry goes stale, which a quick run may miss.
		local p0
		p0=$(stat6 "$S0" pass_ipv6_to_tc)
		[ "$p" -ge "$p0" ] && [ $((p - p0)) -lt $(((n1 - n0) / 2)) ]
		tap_result $? "$L: counters: XDP made and forwarded the IPv6 flows itself: it handed $((p - p0)) of $((r1 - r0)) packets to tc (pass_ipv6_to_tc), for $((n1 - n0)) new flows"
	fi
	# every IPv6 forward counted under its rule, both ways (rule_stats
	# are shared with IPv4), by its line in the file
	local unused
	unused=$(json_get "$S1" '" ".join("line %d (orig %s, reply %s)" % (r["line"], r.get("packets_orig"), r.get("packets_reply")) for r in d["rules"] if r["line"] <= 6 and not (r.get("packets_orig") and r.get("packets_reply")))' 2>&1)
	[ -z "$unused" ] && [ "$(json_get "$S1" 'len([r for r in d["rules"] if r["line"] <= 6])' 2>/dev/null)" = 6 ]
	tap_result $? "$L: stats: each of the 6 IPv6 forwards counted under its rule, both ways" \
		"not counted: ${unused:-?}" "$(json_get "$S1" 'd["rules"]' 2>&1 | head -c 2000)"
	# the same counters on Prometheus
	xm stats --prometheus >"$XM_TMP/prom6" 2>&1
	m=$(awk 'index($0, "xmasq_packets_total{") == 1 && index($0, "counter=\"flow_new_ipv6\"") { print $NF; exit }' "$XM_TMP/prom6")
	[ "${m:-0}" -gt 0 ] 2>/dev/null
	tap_result $? "$L: Prometheus: xmasq_packets_total{counter=\"flow_new_ipv6\"} ${m:-absent}" \
		"$(grep -i 'ipv6' "$XM_TMP/prom6" | head -n 10)"
	d=$(stat6 "$S1" drop_no_ipv6_addr)
	[ "$d" = 0 ]
	tap_result $? "$L: counters: drop_no_ipv6_addr 0 (every NIC has its IPv6 address: $d)"

	check6_as "$L"
	check6_addr_rule "$L"
	check6_live "$L" xm_apply_v4only xm_apply_full
}

# ipv6_up VARIANT ROUTER: the topology and the backend (each_router6)
ipv6_up() { topo6_up "$1" "6$2-$XM6_ID" && backend6_up; }

each_router6 "IPv6 topology and backend" ipv6_up
tap_done
