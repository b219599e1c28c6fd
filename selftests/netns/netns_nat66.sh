#!/bin/bash
# IPv6 masquerade (NAT66), end to end: hosts of a private IPv6 prefix behind
# the router reach an outside server with the router's wan0 address, as
# `ip6tables -t nat -A POSTROUTING -s fd00:1::/64 -o wan0 -j MASQUERADE`
# does. The rules file:
#
#   masquerade 198.18.9.0/24 out wan0     (IPv4 beside: both families live)
#   masquerade fd00:1::/64 out wan0
#
#   H0 fd00:1::10, 198.18.9.10 ─┐
#                               ├ br0 (switch SW) ─ lan0 fd00:1::1 ┐
#   H1 fd00:1::11, 198.18.9.11 ─┘                  198.18.9.1      │ router R
#                                                                  │
#   S 2001:db8:50::99, 192.0.2.99 ─────────────── wan0 2001:db8:50::1, 192.0.2.1
#
# H0, H1: default routes via lan0. R: default routes via S. S: its link
# routes only, no route to fd00:1::/64 (nor to 198.18.9.0/24): a reply
# comes back only if the router masqueraded the request.
#
# The same checks run against three routers, each in a fresh topology:
#   ip6tables  MASQUERADE (and iptables' for IPv4), forwarding on; the yardstick
#   xdp        xmasq attached --mode xdp, GRO on the peers of lan0 and wan0
#              (flows made and forwarded at XDP: few packets to tc)
#   auto       xmasq attached without --mode (tc on a veth), plain peers
# Each: the server saw the router's 2001:db8:50::1 (nginx's /whoami, the
# access log, socat's UDP echo of the peer), a 20 MB download with its
# SHA-256 (curl, nginx), 200 short connections (ab), UDP request/response
# (socat), IPv4 masquerade beside; H0 and H1 from the same source port to
# the same server port, TCP held open at once and UDP, both answered, the
# second given another port; H0 from the port of a UDP socket the router
# itself holds towards the server: another port, the router's socket
# still answered; coturn's natdiscovery (RFC 5780) reporting the same
# mapping and filtering as for ip6tables, and for xmasq each `set
# nat-filtering` mode applied live (address-dependent,
# endpoint-independent, address-port-dependent again); H0's UDP socket
# held open to the server (its mapping): a datagram from another outside
# address and port to its public port does not reach H0 with the default
# filtering (xmasq: pass_nat_filtered), and for xmasq with
# endpoint-independent reaches it from its sender's own address, H0's
# answer going back (flow_nat_inbound), and H1 from the same port to
# another peer leaves with another public port; two further addresses of wan0
# as the masquerade's list (xmasq `as`, ip6tables SNAT to the range
# --persistent): each host from one of them, TCP and UDP, then the NIC's
# address again; the rule's counters (ip6tables -v, xmasq
# stats); xmasq: the open flow in `conntrack list` with bracketed
# addresses, flow_new_ipv6; a live change: the IPv6 masquerade removed
# (xmasq apply / ip6tables -D): new IPv6 connections fail within the
# bound, the IPv4 masquerade carries on; put back: they work again.
# Then `set conntrack6-max 1024` (attach --fresh --rules): status shows
# the size; 3000 UDP flows from H0 fill the table, the rest are refused
# (drop_ct_full); a later attach asking 2048 keeps the table and says so.
# Where ip6tables passes and xmasq fails, xmasq is wrong.
#
# Env: ROUTERS="ip6tables xdp auto"  XMASQ=build/xmasq  BIG_MB=20  AB_N=200
# TAP output; exit 1 when a check fails.
BIG_MB=${BIG_MB:-20}
. "$(dirname "$0")/lib.sh"
xm_init iptables ip6tables curl ab socat nginx ss turnserver turnutils_natdiscovery
[ -d /proc/sys/net/ipv6 ] || skip_all "the kernel has no IPv6 (ipv6.disable=1)"

# ---- addresses (RFC 3849 documentation prefix outside, RFC 4193 inside) ----------
LAN6=fd00:1::/64
R_LAN6=fd00:1::1          # router lan0
H0_6=fd00:1::10           # LAN host 0
H1_6=fd00:1::11           # LAN host 1
R_WAN6=2001:db8:50::1     # router wan0: the masquerade address
S6=2001:db8:50::99        # outside server
S6B=2001:db8:50::98       # its second address (the STUN server's alternate)
R_AS1=2001:db8:50::2      # router wan0's further addresses, for `as` (check_as)
R_AS2=2001:db8:50::3
LAN4=198.18.9.0/24
R_LAN4=198.18.9.1 H0_4=198.18.9.10 H1_4=198.18.9.11
R_WAN4=192.0.2.1 S4=192.0.2.99
# H0 and H1 both from SAME_TCP_PORT to [S6]:7000 and from SAME_UDP_PORT to
# [S6]:5000: below the router's ephemeral range (ip_local_port_range,
# 32768-60999), where a masquerade keeps the first host's own port
SAME_TCP_PORT=20000
SAME_UDP_PORT=20001
# the router's own UDP socket [R_WAN6]:ROUTER_UDP_PORT -> [S6]:5000, and H0
# from the same port to the same server (check_router_port)
ROUTER_UDP_PORT=20003
# H0's held UDP socket [H0_6]:INBOUND_PORT -> [S6]:5000, and the outside
# endpoint [S6B]:STRANGER_PORT that sends to its public port (check_inbound)
INBOUND_PORT=20005
STRANGER_PORT=6101
AB_N=${AB_N:-200}
# In names shared with other runs on this host (namespaces, bpffs pin
# directories), beside $$ (other PID namespaces may have the same): the
# temp dir's random part.
XM66_ID=${XM_TMP##*.}

R_WAN6_X=$(v6x $R_WAN6)

# ---- topology ---------------------------------------------------------------------
# topo66_up VARIANT(gro|plain) TAG: sets NS_R NS_SW NS_H0 NS_H1 NS_S
topo66_up() {
	local variant=$1 tag=$2 a
	NS_R="xm66-r-$$-$tag" NS_SW="xm66-sw-$$-$tag" NS_H0="xm66-h0-$$-$tag"
	NS_H1="xm66-h1-$$-$tag" NS_S="xm66-s-$$-$tag"
	ns_add "$NS_R" "$NS_SW" "$NS_H0" "$NS_H1" "$NS_S" || return 1
	# the LAN: a bridge in its own namespace (two hosts and the router)
	ip -n "$NS_SW" link add br0 type bridge mcast_snooping 0 || return 1
	ip -n "$NS_R" link add lan0 type veth peer name r0 netns "$NS_SW" || return 1
	ip -n "$NS_H0" link add eth0 type veth peer name h0 netns "$NS_SW" || return 1
	ip -n "$NS_H1" link add eth0 type veth peer name h1 netns "$NS_SW" || return 1
	for a in r0 h0 h1; do
		ip -n "$NS_SW" link set "$a" master br0 up || return 1
	done
	ip -n "$NS_SW" link set br0 up || return 1
	ip -n "$NS_R" link add wan0 type veth peer name eth0 netns "$NS_S" || return 1
	ns_ipv6 "$NS_R" "$NS_H0" "$NS_H1" "$NS_S" || return 1
	for a in "$NS_R $R_LAN6/64 $R_LAN4/24 lan0" "$NS_R $R_WAN6/64 $R_WAN4/24 wan0" \
		"$NS_H0 $H0_6/64 $H0_4/24 eth0" "$NS_H1 $H1_6/64 $H1_4/24 eth0" \
		"$NS_S $S6/64 $S4/24 eth0"; do
		set -- $a
		ip -n "$1" -6 addr add "$2" dev "$4" nodad || return 1
		ip -n "$1" addr add "$3" dev "$4" || return 1
		ip -n "$1" link set "$4" up || return 1
	done
	ip -n "$NS_S" -6 addr add $S6B/64 dev eth0 nodad || return 1
	if [ "$variant" = gro ]; then
		# xmasq's XDP redirects into lan0 and wan0: their peers take them
		peers_gro "$NS_SW:r0" "$NS_S:eth0" || return 1
	fi
	ip -n "$NS_R" -6 route add default via $S6 dev wan0 || return 1
	ip -n "$NS_R" route add default via $S4 dev wan0 || return 1
	for a in "$NS_H0" "$NS_H1"; do
		ip -n "$a" -6 route add default via $R_LAN6 dev eth0 || return 1
		ip -n "$a" route add default via $R_LAN4 dev eth0 || return 1
	done
	# S: link routes only, nothing back to the LAN's prefixes
}

# server_up: nginx on [S6]:80 and S4:80 serving index.html, big.bin ($BIG_MB
# MB) and /whoami (the peer address); socat on [S6]:5000/udp and
# [S6B]:5000/udp answering "echo:[PEER]:PEERPORT:PAYLOAD" and on
# [S6]:7000/tcp saying "peer:[PEER]:PEERPORT" and holding the connection
# until the client's EOF.
# Sets BIG_SHA, NGX_LOG.
server_up() {
	local dir="$XM_TMP/srv-$NS_S"
	nginx_www_up "$NS_S" "$dir" remote_port "[$S6]:80" "$S4:80"
	# the socats in sessions of their own too (setsid, as nginx_www_up's nginx)
	# shellcheck disable=SC2016 # expanded by socat's shell
	nsx "$NS_S" setsid socat "UDP6-RECVFROM:5000,bind=[$S6],fork" \
		SYSTEM:'echo "echo:$SOCAT_PEERADDR:$SOCAT_PEERPORT:$(cat)"' >"$dir/udp.out" 2>&1 &
	XM_PIDS+=($!)
	# the same echo on the second address: another peer for the same
	# source port (check_inbound)
	# shellcheck disable=SC2016
	nsx "$NS_S" setsid socat "UDP6-RECVFROM:5000,bind=[$S6B],fork" \
		SYSTEM:'echo "echo:$SOCAT_PEERADDR:$SOCAT_PEERPORT:$(cat)"' >"$dir/udpb.out" 2>&1 &
	XM_PIDS+=($!)
	# shellcheck disable=SC2016
	nsx "$NS_S" setsid socat "TCP6-LISTEN:7000,bind=[$S6],reuseaddr,fork" \
		SYSTEM:'echo "peer:$SOCAT_PEERADDR:$SOCAT_PEERPORT"; cat >/dev/null' >"$dir/tcp7000.out" 2>&1 &
	XM_PIDS+=($!)
	# an RFC 5780 STUN server on both addresses (coturn), for natdiscovery
	nsx "$NS_S" setsid turnserver -S -n -L $S6 -L $S6B --no-cli --no-tls --no-dtls \
		--log-file stdout --simple-log >"$dir/turnserver.log" 2>&1 &
	XM_PIDS+=($!)
	wait_port "$NS_S" tcp "[$S6]" 80 && wait_port "$NS_S" tcp $S4 80 &&
		wait_port "$NS_S" udp "[$S6]" 5000 && wait_port "$NS_S" udp "[$S6B]" 5000 &&
		wait_port "$NS_S" tcp "[$S6]" 7000 &&
		wait_port "$NS_S" udp "[$S6]" 3478 && wait_port "$NS_S" udp "[$S6B]" 3479 ||
		{ cat "$dir/stdout" "$dir/error.log" "$dir/udp.out" "$dir/udpb.out" "$dir/tcp7000.out" "$dir/turnserver.log" >&2; return 1; }
}

# (v6x, pid_reaped: lib.sh)

# ---- clients ----------------------------------------------------------------------
# host_vars N: HNS HSRC HSRC4 HLABEL for LAN host N (0|1)
host_vars() {
	if [ "$1" = 0 ]; then
		HNS=$NS_H0 HSRC=$H0_6 HSRC4=$H0_4
	else
		HNS=$NS_H1 HSRC=$H1_6 HSRC4=$H1_4
	fi
	HLABEL="H$1 [$HSRC] -> [$S6]"
}

# hcurl N ARGS...: curl from LAN host N's IPv6 address, connect within 3 s, bounded
hcurl() {
	host_vars "$1"
	shift
	timeout --kill-after=3 40 nsenter --net="/run/netns/$HNS" \
		curl -sS -g --interface "$HSRC" --connect-timeout 3 "$@"
}

# whoami6 N [MAXTIME]: the address the server saw for host N's request
whoami6() { hcurl "$1" --max-time "${2:-5}" "http://[$S6]/whoami"; }

# whoami4 N: the same over IPv4
whoami4() {
	host_vars "$1"
	timeout --kill-after=3 10 nsenter --net="/run/netns/$HNS" curl -sS --interface "$HSRC4" \
		--connect-timeout 3 --max-time 5 "http://$S4/whoami"
}

# hudp6 N PAYLOAD [SPORT]: lib.sh's udp6 from host N to [S6]:5000 (from
# port SPORT where given)
hudp6() {
	host_vars "$1"
	udp6 "$HNS" "$HSRC" "$S6" 5000 "$2" "${3:-}"
}

# ---- checks shared by the three routers ---------------------------------------------
# check_basic L: whoami, the download, ab, UDP from H0; IPv4 beside.
# Sets V6_OK (H0's TCP answered) and UDP_OK (its UDP). Where these fail,
# later checks of the protocol are not tried (they would only time out):
# not ok at once.
check_basic() {
	local L=$1 out rc payload
	host_vars 0
	out=$(whoami6 0 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "$R_WAN6" ] && rc=1
	tap_result $rc "$L: $HLABEL:80: server saw the router's $R_WAN6 (masquerade; /whoami: ${out:-nothing})" \
		"whoami: $out" "the server's last requests (peer, port, path):" "$(tail -n 3 "$NGX_LOG" 2>&1)"
	V6_OK=$([ $rc -eq 0 ] && echo 1 || echo 0)

	if [ "$V6_OK" = 1 ]; then
		check_big "$L: $HLABEL:80" hcurl 0 --max-time 30 "http://[$S6]/big.bin"
		check_ab "$L: $HLABEL:80: $AB_N short connections" "$NS_H0" "$H0_6" "http://[$S6]/index.html" 40
	else
		# not masqueraded at all: the download and ab would only time out
		tap_not_ok "$L: $HLABEL:80: ${BIG_MB} MB download, sha256 matches"
		diag "not tried: H0's IPv6 TCP is not answered (above)"
		tap_not_ok "$L: $HLABEL:80: $AB_N short connections (ab)"
		diag "not tried: H0's IPv6 TCP is not answered (above)"
	fi

	payload="hello-$RANDOM"
	out=$(hudp6 0 "$payload")
	rc=$?
	[ $rc -eq 0 ] && [[ "$out" != "echo:[$R_WAN6_X]:"*":$payload" ]] && rc=1
	tap_result $rc "$L: $HLABEL:5000: UDP request/response, the server saw $R_WAN6" \
		"got: ${out:-nothing}" "want: echo:[$R_WAN6_X]:PORT:$payload"
	UDP_OK=$([ $rc -eq 0 ] && echo 1 || echo 0)

	check_v4 "$L: IPv4 beside: H0 $H0_4 -> $S4:80, the server saw the router's $R_WAN4"
}

# check_v4 DESC: H0's IPv4 HTTP answered, the server saw R_WAN4
check_v4() {
	local out rc
	out=$(whoami4 0 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "$R_WAN4" ] && rc=1
	tap_result $rc "$1 (saw ${out:-nothing})" "$out"
}

# check_same_port L: H0, then H1, from the same TCP source port to
# [S6]:7000, both connections held open at once and answered, the server
# seeing the router's address, H0's own port and another for H1; the same
# with UDP
check_same_port() {
	local L=$1 i rc out o0 o1 a0 a1 p0 p1 nest pids=()
	local tdesc="$L: H0 and H1 both from tcp port $SAME_TCP_PORT to [$S6]:7000, open at once"
	local udesc="$L: H0 and H1 both from udp port $SAME_UDP_PORT to [$S6]:5000"
	if [ "${V6_OK:-0}" != 1 ]; then
		tap_not_ok "$tdesc"
		diag "not tried: H0's IPv6 TCP is not answered (above)"
	else
		check_same_port_tcp
	fi
	if [ "${UDP_OK:-0}" != 1 ]; then
		tap_not_ok "$udesc"
		diag "not tried: H0's IPv6 UDP is not answered (above)"
	else
		check_same_port_udp
	fi
}

# (check_same_port's halves: its locals)
check_same_port_tcp() {
	for i in 0 1; do
		host_vars $i
		rm -f "$XM_TMP/same$i.out"
		# stdin open for 3 s (H0) and 2 s (H1): the connection is held
		# that long, then closed
		sleep $((3 - i)) | timeout --kill-after=2 10 nsenter --net="/run/netns/$HNS" \
			socat -T 8 - "TCP6:[$S6]:7000,bind=[$HSRC]:$SAME_TCP_PORT,reuseaddr,connect-timeout=3" \
			>"$XM_TMP/same$i.out" 2>&1 &
		pids+=($!)
		XM_PIDS+=($!)
		# H0 first
		[ $i = 0 ] && wait_for 4 grep -q '^peer:' "$XM_TMP/same0.out"
	done
	both_answered() { grep -q '^peer:' "$XM_TMP/same0.out" && grep -q '^peer:' "$XM_TMP/same1.out"; }
	wait_for 5 both_answered
	# both still open: the server holds two connections from the router
	est_count() {
		nsx "$NS_S" ss -Htn state established "( sport = :7000 )" | grep -cF "[$R_WAN6]:"
	}
	nest=$(est_count)
	for i in "${pids[@]}"; do
		wait "$i" 2>/dev/null
		pid_reaped "$i"
	done
	o0=$(head -n 1 "$XM_TMP/same0.out") o1=$(head -n 1 "$XM_TMP/same1.out")
	a0=${o0#peer:} p0=${a0##*:} a0=${a0%:*}
	a1=${o1#peer:} p1=${a1##*:} a1=${a1%:*}
	rc=1
	[[ "$o0" == peer:* ]] && [[ "$o1" == peer:* ]] && [ "$a0" = "[$R_WAN6_X]" ] && [ "$a1" = "[$R_WAN6_X]" ] &&
		[ "$p0" = $SAME_TCP_PORT ] && [ "$p0" != "$p1" ] && [ "$nest" = 2 ] && rc=0
	tap_result $rc "$tdesc: both answered, from $R_WAN6 ports ${p0:-?} (H0's own) and ${p1:-?} ($nest connections at the server)" \
		"H0 got: ${o0:-nothing} $(tail -n +2 "$XM_TMP/same0.out" | head -n 3)" \
		"H1 got: ${o1:-nothing} $(tail -n +2 "$XM_TMP/same1.out" | head -n 3)" \
		"want: peer:[$R_WAN6_X]:$SAME_TCP_PORT for H0, peer:[$R_WAN6_X]:ANOTHER for H1, 2 established at the server"
}

check_same_port_udp() {
	o0=$(hudp6 0 same0 $SAME_UDP_PORT)
	o1=$(hudp6 1 same1 $SAME_UDP_PORT)
	a0=${o0#echo:} a0=${a0%:same0} p0=${a0##*:} a0=${a0%:*}
	a1=${o1#echo:} a1=${a1%:same1} p1=${a1##*:} a1=${a1%:*}
	rc=1
	[[ "$o0" == echo:*:same0 ]] && [[ "$o1" == echo:*:same1 ]] && [ "$a0" = "[$R_WAN6_X]" ] &&
		[ "$a1" = "[$R_WAN6_X]" ] && [ "$p0" = $SAME_UDP_PORT ] && [ "$p0" != "$p1" ] && rc=0
	tap_result $rc "$udesc: both answered, from $R_WAN6 ports ${p0:-?} (H0's own) and ${p1:-?}" \
		"H0 got: ${o0:-nothing}" "H1 got: ${o1:-nothing}" \
		"want: echo:[$R_WAN6_X]:$SAME_UDP_PORT:same0 for H0, echo:[$R_WAN6_X]:ANOTHER:same1 for H1"
}

# check_router_port L: the router's own UDP socket from [R_WAN6]:20003 to
# [S6]:5000 has had its answer; H0 then sends from port 20003 to the same
# server: H0 is answered from another port (the router's tuple is taken),
# and the router's socket still gets the server's next answer, not H0. As
# the kernel's NAT, which sees the router's flow in conntrack.
check_router_port() {
	local L=$1 out rc a p mine="$XM_TMP/router-udp.out" go="$XM_TMP/router-udp.go"
	local desc="$L: H0 from udp port $ROUTER_UDP_PORT to [$S6]:5000, where the router has a socket of its own"
	if [ "${UDP_OK:-0}" != 1 ]; then
		tap_not_ok "$desc"
		diag "not tried: H0's IPv6 UDP is not answered (above)"
		return
	fi
	rm -f "$mine" "$go"
	nsx "$NS_R" timeout 20 "$XM_PY" -c '
import os, socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.connect((sys.argv[3], 5000))
s.settimeout(3)
out = open(sys.argv[4], "w", buffering=1)
for word in ("router1", "router2"):
    if word == "router2":
        while not os.path.exists(sys.argv[5]):
            time.sleep(0.05)
    got = ""
    for _ in range(3):
        s.send(word.encode())
        try:
            got = s.recv(200).decode().strip()
            break
        except socket.timeout:
            pass
    print(got or "nothing:" + word, file=out)
' "$R_WAN6" $ROUTER_UDP_PORT "$S6" "$mine" "$go" 2>"$mine.err" &
	XM_PIDS+=($!)
	wait_for 10 grep -q . "$mine"
	out=$(hudp6 0 h0r $ROUTER_UDP_PORT)
	touch "$go"
	wait_for 10 test "$(wc -l <"$mine")" -ge 2
	a=${out#echo:} a=${a%:h0r} p=${a##*:} a=${a%:*}
	rc=1
	[ "$(sed -n 1p "$mine")" = "echo:[$R_WAN6_X]:$ROUTER_UDP_PORT:router1" ] &&
		[ "$(sed -n 2p "$mine")" = "echo:[$R_WAN6_X]:$ROUTER_UDP_PORT:router2" ] &&
		[[ "$out" == echo:*:h0r ]] && [ "$a" = "[$R_WAN6_X]" ] && [ "$p" != $ROUTER_UDP_PORT ] && rc=0
	tap_result $rc "$desc: H0 answered from another port of $R_WAN6 (${p:-?}), the router's socket keeps its answers" \
		"H0 got: ${out:-nothing}" "the router's socket got: $(tr '\n' ' ' <"$mine") $(cat "$mine.err")" \
		"want: H0 echo:[$R_WAN6_X]:ANOTHER:h0r, the router echo:[$R_WAN6_X]:$ROUTER_UDP_PORT:router1 and :router2"
}

# check_stun L: coturn's RFC 5780 client from H0 against the server's two
# addresses: the mapping and filtering it reports, as the kernel's NAT66
# gives them (the ip6tables run): one public port for a host port towards
# every destination while free reads as endpoint-independent mapping
# (natdiscovery's port is one of Linux's ephemeral ones, which xmasq does
# not keep: it takes the endpoint's own start, bpf/v6_flow.h); only the
# address and port a flow went to get in (nothing else opens a flow)
check_stun() {
	local L=$1 m f
	m=$(natdiscovery -m)
	f=$(natdiscovery -f)
	[ "$m" = "Endpoint Independent Mapping" ] && [ "$f" = "Address and Port Dependent Filtering" ]
	tap_result $? "$L: turnutils_natdiscovery from H0 via [$S6] and [$S6B]: $m, $f" \
		"want: Endpoint Independent Mapping, Address and Port Dependent Filtering" \
		"mapping (-m): $(tail -n 12 "$XM_TMP/stun-m.log")" "filtering (-f): $(tail -n 12 "$XM_TMP/stun-f.log")"
}

# natdiscovery -m|-f: coturn's RFC 5780 client from H0 against [S6] (its
# alternate [S6B]): the verdict ("Endpoint Independent Mapping", "Address
# Dependent Filtering", ...) or "no answer"; its output in stun-m.log or
# stun-f.log
natdiscovery() {
	local out
	out=$(nsx "$NS_H0" timeout 60 turnutils_natdiscovery "$1" $S6 2>&1)
	printf '%s\n' "$out" >"$XM_TMP/stun$1.log"
	sed -n 's/^NAT with \(.*\)!$/\1/p' <<<"$out" | tail -n 1 | grep . || echo "no answer"
}

# check_stun_filtering L (xmasq): each `set nat-filtering` mode applied
# live (xmasq apply) is what natdiscovery -f from H0 then reports; the
# default (address-port-dependent) last, for the checks after
check_stun_filtering() {
	local L=$1 m mode want got out
	for m in "address-dependent:Address Dependent Filtering" \
		"endpoint-independent:Endpoint Independent Filtering" \
		"address-port-dependent:Address and Port Dependent Filtering"; do
		mode=${m%%:*} want=${m#*:}
		if ! out=$(xm_apply_filtering "$mode" 2>&1); then
			tap_not_ok "$L: set nat-filtering $mode (xmasq apply, live): natdiscovery -f reports $want"
			diag "apply failed: $out"
			continue
		fi
		got=$(natdiscovery -f)
		[ "$got" = "$want" ]
		tap_result $? "$L: set nat-filtering $mode (xmasq apply, live): natdiscovery -f from H0 reports $got" \
			"want: $want" "filtering (-f): $(tail -n 12 "$XM_TMP/stun-f.log")"
	done
}

# check_stun_hairpin L (xmasq): natdiscovery -H from H0: its request to
# its own mapping comes back through the router (hairpinning), counted
# flow_hairpin
check_stun_hairpin() {
	local L=$1 out n0 n1
	n0=$(counter flow_hairpin)
	out=$(nsx "$NS_H0" timeout 60 turnutils_natdiscovery -H $S6 2>&1)
	printf '%s\n' "$out" >"$XM_TMP/stun-H.log"
	n1=$(counter flow_hairpin)
	grep -q 'successful hairpinning' <<<"$out" && [ "${n1:-0}" -gt "${n0:-0}" ]
	tap_result $? "$L: turnutils_natdiscovery -H from H0: its request to its own mapping comes back through the router (flow_hairpin +$((${n1:-0} - ${n0:-0})))" \
		"$(tail -n 12 "$XM_TMP/stun-H.log")"
}

# check_inbound L ROUTER(ip6tables|xmasq): H0's UDP socket from
# [H0_6]:INBOUND_PORT to [S6]:5000, held open (a helper in H0: it logs
# every datagram it gets with its sender, answers "h0:PAYLOAD" to any but
# the server, and on request sends a word to the server until its echo is
# back); its public port is the one the echo server saw. While it lives:
#   - xmasq: H1 from the same port to another peer ([S6B]:5000) leaves
#     with another public port: H0's mapping holds its port towards every
#     peer (the kernel's NAT lets H1 have it: only shown)
#   - address-port-dependent filtering (the default; the kernel's): a
#     datagram from [S6B]:STRANGER_PORT to the public port does not reach
#     H0 (the echo of a word H0 sent after it came back, and it is not in
#     the log), xmasq counts pass_nat_filtered
#   - xmasq, endpoint-independent (applied live): the same datagram
#     reaches H0 with its sender's own address and port, H0's answer
#     reaches the sender from the public port, flow_nat_inbound counts it;
#     then the default again
check_inbound() {
	local L=$1 router=$2 line pub rc out h1 h1p n0 n1 holder
	local desc="$L: H0 [$H0_6]:$INBOUND_PORT -> [$S6]:5000 held open"
	if [ "${UDP_OK:-0}" != 1 ]; then
		tap_not_ok "$desc: its public port"
		diag "not tried: H0's IPv6 UDP is not answered (above)"
		return
	fi
	INB_LOG="$XM_TMP/inbound.log" INB_CTL="$XM_TMP/inbound.ctl"
	rm -f "$INB_LOG" "$INB_CTL"
	echo map >"$INB_CTL"
	nsx "$NS_H0" timeout 150 "$XM_PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
server = (sys.argv[3], 5000)
log = open(sys.argv[4], "w", buffering=1)
s.settimeout(0.1)
word, echoed, sent = "", False, 0.0
end = time.time() + 120
while time.time() < end:
    try:
        w = open(sys.argv[5]).read().strip()
    except OSError:
        w = word
    if w != word:
        word, echoed, sent = w, False, 0.0
    if word == "end":
        break
    if word and not echoed and time.time() - sent >= 1:
        s.sendto(word.encode(), server)
        sent = time.time()
    try:
        data, peer = s.recvfrom(2000)
    except socket.timeout:
        continue
    text = data.decode(errors="replace").strip()
    print("[%s]:%d %s" % (peer[0], peer[1], text), file=log)
    if peer[:2] == server:
        echoed = echoed or text.endswith(":" + word)
    else:
        s.sendto(("h0:" + text).encode(), peer[:2])
' "$H0_6" $INBOUND_PORT "$S6" "$INB_LOG" "$INB_CTL" 2>"$INB_LOG.err" &
	holder=$!
	XM_PIDS+=("$holder")
	inbound_ask map
	line=$(grep -m 1 ':map$' "$INB_LOG" 2>/dev/null)
	pub=${line%:map} pub=${pub##*:}
	[[ "$line" == "[$S6]:5000 echo:[$R_WAN6_X]:"*":map" ]]
	if ! tap_result $? "$desc: the server saw it from [$R_WAN6]:${pub:-?}" \
		"got: $(cat "$INB_LOG" "$INB_LOG.err" 2>&1 | head -n 5)"; then
		inbound_end "$holder"
		return
	fi

	h1=$(udp6 "$NS_H1" "$H1_6" "$S6B" 5000 h1other $INBOUND_PORT)
	h1p=${h1%:h1other} h1p=${h1p##*:}
	if [ "$router" = xmasq ]; then
		[[ "$h1" == "echo:[$R_WAN6_X]:"*":h1other" ]] && [ "$h1p" != "$pub" ]
		tap_result $? "$desc: H1 from the same port to [$S6B]:5000 leaves with another public port (${h1p:-no answer}; H0's mapping: $pub)" \
			"H1 got: ${h1:-nothing}" "want: echo:[$R_WAN6_X]:NOT-$pub:h1other" "$(xm conntrack list 2>&1 | head -n 20)"
	else
		diag "$L: H1 from the same port to [$S6B]:5000 left with public port ${h1p:-?} (H0's: $pub; the kernel reserves a port per 5-tuple only)"
	fi

	[ "$router" = xmasq ] && n0=$(counter pass_nat_filtered)
	out=$(stranger_send "$pub" stranger-apdf)
	inbound_ask mark-apdf
	rc=$?
	[ "$router" = xmasq ] && n1=$(counter pass_nat_filtered)
	! grep -q 'stranger-apdf' "$INB_LOG" && [ -z "$out" ] && [ $rc -eq 0 ] &&
		{ [ "$router" != xmasq ] || [ "${n1:-0}" -gt "${n0:-0}" ]; }
	tap_result $? "$L: address-port-dependent filtering: [$S6B]:$STRANGER_PORT -> [$R_WAN6]:$pub does not reach H0${n1:+ (pass_nat_filtered +$((n1 - n0)))}" \
		"H0 got (want no stranger-apdf, and the echo of mark-apdf): $(cat "$INB_LOG")" \
		"the sender got: ${out:-nothing} (want nothing)" \
		"pass_nat_filtered: ${n0:-?} -> ${n1:-?}" "$([ "$router" = xmasq ] && xm conntrack list 2>&1 | head -n 20)"

	if [ "$router" = xmasq ]; then
		if ! out=$(xm_apply_filtering endpoint-independent 2>&1); then
			tap_not_ok "$L: endpoint-independent filtering: [$S6B]:$STRANGER_PORT -> [$R_WAN6]:$pub reaches H0"
			diag "apply failed: $out"
		else
			n0=$(counter flow_nat_inbound)
			out=$(stranger_send "$pub" stranger-eif)
			wait_for 10 grep -qxF "[$S6B]:$STRANGER_PORT stranger-eif" "$INB_LOG"
			rc=$?
			n1=$(counter flow_nat_inbound)
			[ $rc -eq 0 ] && [ "$out" = h0:stranger-eif ] && [ "${n1:-0}" -gt "${n0:-0}" ]
			tap_result $? "$L: endpoint-independent filtering (applied live): [$S6B]:$STRANGER_PORT -> [$R_WAN6]:$pub reaches H0 from [$S6B]:$STRANGER_PORT, H0's answer comes back from the public port (${out:-no answer}), flow_nat_inbound +$((n1 - n0))" \
				"H0 got (want: [$S6B]:$STRANGER_PORT stranger-eif): $(cat "$INB_LOG")" \
				"the sender got: ${out:-nothing} (want h0:stranger-eif)" "flow_nat_inbound: $n0 -> $n1" \
				"$(xm conntrack list 2>&1 | head -n 20)"
		fi
		out=$(xm_apply_filtering address-port-dependent 2>&1)
		tap_result $? "$L: set nat-filtering address-port-dependent again (xmasq apply)" "$out"
	fi
	inbound_end "$holder"
}

# inbound_ask WORD: check_inbound's helper in H0 sends WORD to [S6]:5000
# (again every second) until the echo is back: 0 when it is within 10 s
inbound_ask() {
	echo "$1" >"$INB_CTL.new" && mv "$INB_CTL.new" "$INB_CTL"
	wait_for 10 grep -q ":$1\$" "$INB_LOG"
}

# inbound_end PID: check_inbound's helper told to stop, reaped
inbound_end() {
	echo end >"$INB_CTL.new" && mv "$INB_CTL.new" "$INB_CTL"
	wait "$1" 2>/dev/null
	pid_reaped "$1"
}

# stranger_send PUB PAYLOAD: one datagram from [S6B]:STRANGER_PORT to
# [R_WAN6]:PUB, an answer within 3 s printed (its socket connected: from
# [R_WAN6]:PUB only)
stranger_send() {
	printf %s "$2" | timeout --kill-after=2 10 nsenter --net="/run/netns/$NS_S" \
		socat -t 3 -T 3 - "UDP6:[$R_WAN6]:$1,bind=[$S6B]:$STRANGER_PORT,reuseaddr" 2>/dev/null | head -n 1
}

# check_as L SET_CMD UNSET_CMD: SET_CMD masquerades the LAN with the list
# R_AS1,R_AS2 (further addresses of wan0, added here: xmasq's `as`,
# ip6tables' SNAT to that range --persistent): H0's and H1's requests
# (three each, new connections) reach the server from an address of the
# list, each host always from the same one (paired, RFC 4787 REQ-2), and
# H0's UDP too; UNSET_CMD puts the NIC's address back, the addresses go,
# and H0 reaches the server from R_WAN6 again.
check_as() {
	local L=$1 set=$2 unset=$3 out rc h i a first log="" u ua
	local desc="$L: masquerade $LAN6 out wan0 as $R_AS1,$R_AS2"
	if [ "${V6_OK:-0}" != 1 ] || [ "${UDP_OK:-0}" != 1 ]; then
		tap_not_ok "$desc"
		diag "not tried: H0's IPv6 is not masqueraded without a list either (above)"
		return
	fi
	nsx "$NS_R" ip -6 addr add $R_AS1/64 dev wan0 nodad &&
		nsx "$NS_R" ip -6 addr add $R_AS2/64 dev wan0 nodad
	out=$($set 2>&1)
	tap_result $? "$desc: set ($set)" "$out" || { $unset >/dev/null 2>&1; as_addrs_del; return; }
	rc=0
	for h in 0 1; do
		first=""
		for i in 1 2 3; do
			a=$(whoami6 $h 2>&1)
			log+="H$h: ${a:-nothing}; "
			[ -n "$first" ] || first=$a
			[ "$a" = "$first" ] || rc=1
		done
		[ "$first" = $R_AS1 ] || [ "$first" = $R_AS2 ] || rc=1
	done
	tap_result $rc "$desc: H0's and H1's requests reach the server from the list, each host from one address ($log)" \
		"want: $R_AS1 or $R_AS2, the same for a host's three requests"
	u=$(hudp6 0 as0)
	ua=${u#echo:} ua=${ua%:as0} ua=${ua%:*}
	[ "$ua" = "[$(v6x $R_AS1)]" ] || [ "$ua" = "[$(v6x $R_AS2)]" ]
	tap_result $? "$desc: H0's UDP answered through an address of the list (${u:-no answer})"
	# the list goes while its addresses are still on wan0, which the
	# kernel lists before R_WAN6: the apply must keep R_WAN6 as wan0's
	# (until 2026-12-03 it took the newest, gone a moment later)
	out=$($unset 2>&1)
	tap_result $? "$desc: the NIC's address back ($unset)" "$out"
	as_addrs_del
	a=$(whoami6 0 2>&1)
	[ "$a" = $R_WAN6 ]
	tap_result $? "$desc: removed: H0 reaches the server from $R_WAN6 again (${a:-nothing})"
}

as_addrs_del() {
	nsx "$NS_R" ip -6 addr del $R_AS1/64 dev wan0 2>/dev/null
	nsx "$NS_R" ip -6 addr del $R_AS2/64 dev wan0 2>/dev/null
}

# check_server_log L: every request nginx logged came from the router's
# addresses, none from the LAN's
check_server_log() {
	local n n6 bad
	n=$(wc -l <"$NGX_LOG" 2>/dev/null || echo 0)
	n6=$(grep -c "^$R_WAN6 " "$NGX_LOG" 2>/dev/null)
	bad=$(grep -vE "^($R_WAN6|$R_WAN4) " "$NGX_LOG" 2>/dev/null | head -n 5)
	[ "${n6:-0}" -gt 0 ] && [ -z "$bad" ]
	tap_result $? "$1: the server's access log: $n requests, ${n6:-0} of them from $R_WAN6, the rest from $R_WAN4, none from $LAN6 or $LAN4" \
		"not from the router: ${bad:-none}" "$(tail -n 3 "$NGX_LOG" 2>&1)"
}

# check_live L DROP_CMD ADD_CMD: DROP_CMD takes the IPv6 masquerade away:
# H0's new IPv6 connections fail (within 3 s each, the whole probe 12 s)
# and UDP gets no answer, while IPv4 masquerade carries on; ADD_CMD puts it
# back: IPv6 works again
check_live() {
	local L=$1 drop=$2 add=$3 out rc u t0 ok
	out=$($drop 2>&1)
	tap_result $? "$L: live change: the IPv6 masquerade removed ($drop)" "$out"
	if [ "${V6_OK:-0}" != 1 ] && [ "${UDP_OK:-0}" != 1 ]; then
		tap_not_ok "$L: live change: H0's new IPv6 connections fail"
		diag "not tried: H0's IPv6 was not masqueraded before the change either (above)"
		check_v4 "$L: live change: IPv4 masquerade still works meanwhile"
		out=$($add 2>&1)
		tap_result $? "$L: live change: the IPv6 masquerade back ($add)" "$out"
		tap_not_ok "$L: live change: H0's IPv6 masqueraded again"
		diag "not tried: H0's IPv6 was not masqueraded before the change either (above)"
		return
	fi
	t0=$SECONDS
	out=$(whoami6 0 3 2>&1)
	rc=$?
	u=$(hudp6 0 gone)
	ok=1
	[ $rc -ne 0 ] && [ -z "$u" ] && [ $((SECONDS - t0)) -le 12 ] && ok=0
	# "no longer": it must have worked before
	[ "${V6_OK:-0}" = 1 ] || ok=1
	tap_result $ok "$L: live change: H0's new IPv6 connections fail in $((SECONDS - t0)) s (tcp: ${out:-?}; udp: ${u:-no answer})" \
		"tcp: rc=$rc $out" "udp: ${u:-no answer}" "worked before the change: ${V6_OK:-0}"
	check_v4 "$L: live change: IPv4 masquerade still works meanwhile"
	out=$($add 2>&1)
	tap_result $? "$L: live change: the IPv6 masquerade back ($add)" "$out"
	t0=$SECONDS
	out=$(whoami6 0 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "$R_WAN6" ] && rc=1
	u=$(hudp6 0 back)
	[ $rc -eq 0 ] && [[ "$u" != "echo:[$R_WAN6_X]:"*":back" ]] && rc=1
	tap_result $rc "$L: live change: H0's IPv6 masqueraded again in $((SECONDS - t0)) s (tcp: server saw ${out:-nothing}; udp: ${u:-no answer})" \
		"tcp: $out" "udp: $u"
}

# ---- the ip6tables router -----------------------------------------------------------
IPT6=(ip6tables -w)
ipt6_masq() { nsx "$NS_R" "${IPT6[@]}" -t nat "$1" POSTROUTING -s $LAN6 -o wan0 -j MASQUERADE; }
ipt6_drop() { ipt6_masq -D; }
ipt6_add() { ipt6_masq -A; }
ipt6_snat_as() {
	nsx "$NS_R" "${IPT6[@]}" -t nat "$1" POSTROUTING -s $LAN6 -o wan0 -j SNAT \
		--to-source $R_AS1-$R_AS2 --persistent
}
ipt6_as_set() { ipt6_snat_as -I; }
ipt6_as_unset() { ipt6_snat_as -D; }

router_ip6tables_up() {
	nsx "$NS_R" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1 || return 1
	ipt6_add || return 1
	nsx "$NS_R" iptables -w -t nat -A POSTROUTING -s $LAN4 -o wan0 -j MASQUERADE
}

run_ip6tables() {
	local L=ip6tables out n
	if ! out=$(nsx "$NS_R" ip6tables -w -t nat -S 2>&1); then
		tap_skip "$L: ip6tables router" "no ip6tables nat table in this kernel: $out"
		return
	fi
	tap_check "$L: router set up (ip6tables -t nat -A POSTROUTING -s $LAN6 -o wan0 -j MASQUERADE, iptables' for $LAN4, forwarding on)" \
		router_ip6tables_up
	check_basic "$L"
	check_same_port "$L"
	check_router_port "$L"
	check_stun "$L"
	check_inbound "$L" ip6tables
	out=$(nsx "$NS_R" "${IPT6[@]}" -t nat -L POSTROUTING -v -x -n 2>&1)
	n=$(awk '/MASQUERADE/ && index($0, "fd00:1::/64") { print $1; exit }' <<<"$out")
	[ "${n:-0}" -ge "$AB_N" ] 2>/dev/null
	tap_result $? "$L: the MASQUERADE rule counted ${n:-no} connections (at least $AB_N)" "$out"
	check_server_log "$L"
	check_as "$L" ipt6_as_set ipt6_as_unset
	check_live "$L" ipt6_drop ipt6_add
}

# ---- the xmasq router ----------------------------------------------------------------
xm_apply_full() { xm apply "$XM_RULES_FILE"; }
xm_apply_v4only() { xm apply "$XM_TMP/rules-v4only.conf"; }
xm_apply_as() { xm apply "$XM_TMP/rules-as.conf"; }
# xm_apply_filtering MODE: the full rules with `set nat-filtering MODE`
xm_apply_filtering() {
	{ echo "set nat-filtering $1"; cat "$XM_RULES_FILE"; } >"$XM_TMP/rules66-filtering.conf"
	xm apply "$XM_TMP/rules66-filtering.conf"
}

# stat66 JSON NAME: packets of counter NAME in a saved stats --json (0 when absent)
stat66() { json_get "$1" "d['counters'].get('$2', {}).get('packets', 0)" 2>/dev/null || echo 0; }

run_xmasq() {
	local mode=$1 L="xmasq $1" out rc
	local S0="$XM_TMP/stats66-0.json" S1="$XM_TMP/stats66-1.json"
	# a pin directory only this run can name
	XM_PIN="/sys/fs/bpf/xmasq-test-$$-$XM66_ID-nat66-$mode"
	XM_RULES_FILE="$XM_TMP/rules66-$mode.conf"
	XM_PINS+=("$NS_R $XM_PIN")
	printf 'masquerade %s out wan0\nmasquerade %s out wan0\n' $LAN4 $LAN6 >"$XM_RULES_FILE"
	printf 'masquerade %s out wan0\n' $LAN4 >"$XM_TMP/rules-v4only.conf"
	printf 'masquerade %s out wan0\nmasquerade %s out wan0 as %s,%s\n' $LAN4 $LAN6 $R_AS1 $R_AS2 \
		>"$XM_TMP/rules-as.conf"
	ensure_bpffs
	out=$(xm_attach "$mode" lan0 wan0 2>&1)
	tap_result $? "$L: attach lan0 wan0" "$out" || return
	out=$(xm apply "$XM_RULES_FILE" 2>&1)
	tap_result $? "$L: apply the IPv4 and the IPv6 masquerade" "$out" "$(cat "$XM_RULES_FILE")"

	xm stats --json >"$S0" 2>&1
	check_basic "$L"
	check_same_port "$L"
	check_router_port "$L"
	check_stun "$L"
	check_stun_filtering "$L"
	check_stun_hairpin "$L"
	check_inbound "$L" xmasq

	# the flow in conntrack list while its connection is open: a slow
	# download from H1
	if [ "${V6_OK:-0}" != 1 ]; then
		tap_not_ok "$L: conntrack list shows the open flow [$H1_6]:* -> [$S6]:80"
		diag "not tried: H0's IPv6 TCP is not answered (above)"
	else
		check_ct_listed "$L"
	fi
	xm_counters "$L" "$S0" "$S1" "$mode"
	check_server_log "$L"
	check_as "$L" xm_apply_as xm_apply_full
	check_live "$L" xm_apply_v4only xm_apply_full
	check_capacity "$L" "$mode"
}

# check_capacity L MODE: `set conntrack6-max 1024` sizes the IPv6 table of
# a fresh attach; H0's UDP from 3000 source ports (to a port nothing
# listens on: no answers needed) fills it: new flows are refused
# (drop_ct_full) once about 1024-1823 are in (3.5 slots a flow, probing
# bounded), the flows already in stay; a later attach asking another size
# keeps the table and says so.
check_capacity() {
	local L=$1 mode=$2 out max n full f2
	local capf="$XM_TMP/rules66-cap.conf" cap2="$XM_TMP/rules66-cap2.conf"
	{ echo "set conntrack6-max 1024"; cat "$XM_RULES_FILE"; } >"$capf"
	{ echo "set conntrack6-max 2048"; cat "$XM_RULES_FILE"; } >"$cap2"
	out=$(xm_attach "$mode" --fresh --rules "$capf" lan0 wan0 2>&1)
	tap_result $? "$L: attach --fresh --rules with set conntrack6-max 1024" "$out" || return
	xm status --json >"$XM_TMP/cap.json" 2>&1
	max=$(json_get "$XM_TMP/cap.json" "d['flows6_max']")
	[ "$max" = 1024 ]
	tap_result $? "$L: status: flows6_max ${max:-?} (the file's conntrack6-max)" \
		"$(cat "$XM_TMP/cap.json")"
	host_vars 0
	out=$(nsx "$HNS" timeout 60 "$XM_PY" -c '
import socket, sys
sent = 0
for port in range(20000, 23000):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], port))
    s.sendto(b"fill", (sys.argv[2], 6000))
    s.close()
    sent += 1
print(sent)' "$HSRC" "$S6" 2>&1)
	n=$(xm status --json 2>/dev/null | "$XM_PY" -c 'import json,sys; print(json.load(sys.stdin)["flows6"])')
	full=$(counter drop_ct_full)
	[ "${n:-0}" -ge 1024 ] && [ "${n:-0}" -le 1823 ] && [ "${full:-0}" -ge 1 ]
	tap_result $? "$L: $out datagrams from 3000 ports: ${n:-?} IPv6 flows in a table of 1024, ${full:-no} refused (drop_ct_full)" \
		"$(xm stats 2>&1 | head -n 40)"
	out=$(xm_attach "$mode" --rules "$cap2" lan0 wan0 2>&1)
	f2=$(xm status --json 2>/dev/null | "$XM_PY" -c 'import json,sys; d = json.load(sys.stdin); print(d["flows6"], d["flows6_max"])')
	grep -q "conntrack6-max stays 1024 while flows are kept (attach --fresh to resize)" <<<"$out" &&
		[ "$f2" = "$n 1024" ]
	tap_result $? "$L: attach asking conntrack6-max 2048 keeps the table and its flows, and says so (flows6, max: ${f2:-?})" "$out"
}

# check_ct_listed L: a slow download from H1 listed by conntrack list
# (bracketed addresses, the masquerade address in the reply tuple)
check_ct_listed() {
	local L=$1
	timeout --kill-after=2 20 nsenter --net="/run/netns/$NS_H1" curl -sS -g --interface $H1_6 \
		--connect-timeout 3 --limit-rate 256k -o /dev/null "http://[$S6]/big.bin" >/dev/null 2>&1 &
	local bg=$!
	XM_PIDS+=("$bg")
	flow_listed() {
		xm conntrack list >"$XM_TMP/ct66.txt" 2>&1 &&
			grep -F "[$H1_6]:" "$XM_TMP/ct66.txt" | grep -F "[$S6]:80" | grep -qF "[$R_WAN6]:"
	}
	listed_or_gone() { flow_listed || ! kill -0 "$bg" 2>/dev/null; }
	wait_for 6 listed_or_gone
	flow_listed
	tap_result $? "$L: conntrack list shows the open flow [$H1_6]:* -> [$S6]:80, reply [$S6]:80 -> [$R_WAN6]:*" \
		"$(head -n 20 "$XM_TMP/ct66.txt")"
	kill "$bg" 2>/dev/null
	wait "$bg" 2>/dev/null
	pid_reaped "$bg"
}

# xm_counters L S0 S1 MODE: flow_new_ipv6 from S0 (saved before the
# traffic) to now, pass_ipv6_to_tc (xdp), the masquerade rule's line in
# `xmasq stats`
xm_counters() {
	local L=$1 S0=$2 S1=$3 mode=$4
	xm stats --json >"$S1" 2>&1
	xm stats >"$XM_TMP/stats66.txt" 2>&1
	local n0 n1 p line fl pin pback
	n0=$(stat66 "$S0" flow_new_ipv6)
	n1=$(stat66 "$S1" flow_new_ipv6)
	# about 1 + AB_N + 1 (UDP) + 2 x 2 (same port) + 1 (conntrack), not
	# exactly (a tuple's closed flow may be taken up again)
	[ $((n1 - n0)) -ge "$AB_N" ]
	tap_result $? "$L: counters: flow_new_ipv6 +$((n1 - n0)) (about $((AB_N + 7)), at least $AB_N)" \
		"$(json_get "$S1" '" ".join("%s=%s" % (k, v["packets"]) for k, v in sorted(d["counters"].items()) if v.get("packets"))' 2>&1 | head -c 2000)"
	if [ "$mode" = xdp ]; then
		# the masqueraded flows made at XDP (xmasq_xdp6_new): fewer
		# packets handed to tc (NDP, ICMPv6 errors) than flows made
		local p0
		p0=$(stat66 "$S0" pass_ipv6_to_tc)
		p=$(stat66 "$S1" pass_ipv6_to_tc)
		[ $((p - p0)) -lt $((n1 - n0)) ]
		tap_result $? "$L: counters: XDP made the masqueraded flows itself: pass_ipv6_to_tc +$((p - p0)) for $((n1 - n0)) new flows"
	fi
	# the rule's line in `xmasq stats`: ID LINE RULE... FLOWS PKTS-IN BYTES-IN PKTS-BACK BYTES-BACK REFUSED
	line=$(grep -F "fd00:1::" "$XM_TMP/stats66.txt" | grep -F masquerade | head -n 1)
	[ -n "$line" ] && read -r fl pin pback <<<"$(awk 'NF >= 6 { print $(NF-5), $(NF-4), $(NF-2) }' <<<"$line")"
	[ -n "$line" ] && [ "${fl:-0}" -ge "$AB_N" ] 2>/dev/null && [ "${pin:-0}" -gt 0 ] && [ "${pback:-0}" -gt 0 ]
	tap_result $? "$L: stats: the rule 'masquerade $LAN6 out wan0' counted ${fl:-no} flows, ${pin:-no} packets out and ${pback:-no} back" \
		"${line:-no such rule line}" "$(sed -n '/^ *ID /,/^$/p' "$XM_TMP/stats66.txt" | head -n 10)"
}

# nat66_up VARIANT ROUTER: the topology and the server (each_router6)
nat66_up() { topo66_up "$1" "$2-$XM66_ID" && server_up; }

each_router6 "NAT66 topology and server" nat66_up
tap_done
