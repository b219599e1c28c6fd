#!/bin/bash
# IPv6 clients of an IPv4-only backend (6->4: RFC 7915 header translation,
# RFC 6146's state), end to end in the two-NIC topology of netns_ipv6.sh
# whose backend side stays IPv4 only:
#
#   C0 2001:db8:0:1::2 ── eth0 2001:db8:0:1::1, ::3 ┐
#   src 2001:db8:ff00::10, 198.19.0.10 on lo        ├ router R ── eth2 198.18.0.1 ── B 198.18.0.2
#   C1 2001:db8:0:2::2 ── eth1 2001:db8:0:2::1      ┘                                (no IPv6 at all)
#   src 2001:db8:ff01::10, 198.19.1.10 on lo        └ eth3 198.18.2.1 ── M ══(MTU 1280)══ B2 198.18.3.2
#   C2 2001:db8:0:3::2 ══(MTU 1400)══ C0 (its eth1 2001:db8:0:3::1, IPv6 forwarding)
#
# R: IPv6 default route via C0 (eth0) only, no ip -6 rules; IPv4 as
# netns_e2e.sh. B: IPv6 disabled (no address, no route, IPv4 sockets
# only): nothing reaches it untranslated. M: an IPv4 router whose link to
# B2 has an MTU of 1280 (B2's own is 1500). B2: IPv4 only too.
#
# The rules file (the forwards of tcp 8080 and udp 5000 serve both
# families, `family any`):
#
#   forward eth0 tcp 8080 to 198.18.0.2:80 family any      (and eth1)
#   forward eth0 udp 5000 to 198.18.0.2:5000 family any    (and eth1)
#   forward eth0 tcp 7000 to 198.18.0.2:7000 family any    (echo)
#   forward eth0 tcp 9000 to 198.18.0.2:9000 family any    (upload sink)
#   forward eth0 udp 5001 to 198.18.0.2:5001 family any    (closed on B)
#   forward eth0 udp 5002 to 198.18.0.2:5002 family any    (exact echo, big datagrams)
#   forward eth0 udp 5003 to 198.18.0.2:5003 family any    (echo with IPv4 options)
#   forward eth0 tcp 9001 to 198.18.3.2:9000 family any    (B2's upload sink)
#   forward eth0 tcp 9003 to 198.18.3.2:9002 family any    (B2 sends big.bin)
#   forward eth1 tcp 8083 to 198.18.0.2:80 family ipv6     (IPv6 clients only)
#   forward eth0 tcp 8084 to 198.18.0.2:80 family any from 2001:db8:ff00::10
#   forward eth0 tcp 8085 to 198.18.0.2:80 family any from 198.19.0.10/32
#   forward eth0:[2001:db8:0:1::1] tcp 8082 to 198.18.0.2:80   (that address only)
#   forward eth1 tcp 8086 to 198.18.0.2:80 family any as 198.18.0.9 (R's second on eth2)
#
# Each mode (xdp: XDP on the router's NICs, GRO veth peers, XDP
# translating known flows' packets both ways itself, fwd_xdp, and handing
# new flows and ICMP to tc; auto: tc on veth, plain
# peers), in a fresh topology: the backend IPv4 only; through each public
# NIC over IPv6 a 50 MB download with its SHA-256 (curl, nginx) while an
# IPv4 client downloads the same through the same forward, 200 short
# connections (ab), UDP request/response (socat, 3 datagrams each
# answered), the backend seeing the router's 198.18.0.1 (nginx's
# /whoami and access log, socat's peer), no reply out of the other NIC and
# no ip -6 rule; the flow in `conntrack list` and `--json` (IPv6 original
# tuple, IPv4 reply tuple, backend_family 4; its IPv4 stub not listed, the
# flow counted among the IPv6 flows), flow_new_6to4 (in xdp mode most
# packets by XDP: fwd_xdp); the backend's ICMP port unreachable reaching the IPv6 client
# as ICMPv6 (icmp_error, the router's own stack silent); 20 UDP datagrams
# of 3000 bytes echoed intact, fragmented both ways (IPv6 fragments from
# the client, IPv4 ones from the backend, whose route to the router has
# an MTU of 1472 for it), and without that route its 1500-byte fragments,
# too big as IPv6 for the client's side, dropped (drop_too_big);
# `family ipv6` (IPv4 clients not forwarded), `eth0:[ADDR]` (another
# address of eth0 not forwarded), a `family any` from list of one family
# (the other family's clients refused: drop_not_allowed); a live apply to `family ipv4` (IPv6 no
# longer forwarded through either NIC, an IPv4 TCP connection opened before
# used again after, a new one too) and back; path MTU: an IPv4 egress MTU
# of 1280 (the IPv6 client gets a Packet Too Big of 1300 and its upload
# completes), a 1280 IPv4 link to the backend (the download completes),
# an IPv6 egress MTU of 1280 (the backend gets a frag-needed of 1260
# and the download completes), and a 1280 IPv4 hop M before a second
# backend B2 (M's frag-needed reaches the client as a Packet Too Big of
# 1300, the upload completes; B2's link at 1280 too: the download), and a
# 1400 IPv6 hop (C0, routing for a client C2 behind it: its Packet Too Big
# reaches the backend as a frag-needed of 1380, the download completes);
# `apply --check` refusing `family ipv4` on an IPv6 backend with
# FILE:LINE:COL.
#
# No yardstick router here: Linux has no NAT64 of its own.
#
# Env: MODES="xdp auto"  XMASQ=build/xmasq  BIG_MB=50  AB_N=200  UP_MB=10
# TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init curl ab socat nginx ss sha256sum
[ -d /proc/sys/net/ipv6 ] || skip_all "the kernel has no IPv6 (ipv6.disable=1)"
need_xmasq

# ---- addresses (lib.sh: R6_0 R6_1 C6_0 C6_1 C0_SRC6 C1_SRC6, the IPv4 ones) -------
R6_0B=2001:db8:0:1::3 # a second IPv6 address of eth0 (not the address-specific forward's)
R_ADDR2_AS=198.18.0.9 # a second IPv4 address of eth2: the `as` of the forward of tcp 8086
# the second backend B2, behind the IPv4 router M and its 1280-byte link
R_ADDR3=198.18.2.1 M_ADDR0=198.18.2.2 M_ADDR1=198.18.3.1 B2_ADDR=198.18.3.2
# the IPv6 client C2 behind C0, which routes for it over a link of 1400
C0_6_3=2001:db8:0:3::1 C2_6=2001:db8:0:3::2
AB_N=${AB_N:-200}
UP_MB=${UP_MB:-10}
FWD_OK=() # FWD_OK[N]: IPv6 client N's TCP forward answered (check64_client)
# In names shared with other runs on this host (namespaces, bpffs pin
# directories), beside $$ (other PID namespaces may have the same): the
# temp dir's random part.
XM64_ID=${XM_TMP##*.}

# ---- topology ---------------------------------------------------------------------
# topo64_up VARIANT TAG: lib.sh's topo6_pub_up (IPv6 on the public side),
# eth0's second IPv6 address; the backend side IPv4 only (ns_add left
# IPv6 disabled in B)
topo64_up() {
	topo6_pub_up "$1" "$2" || return 1
	ip -n "$NS_R" -6 addr add $R6_0B/64 dev eth0 nodad || return 1
	# the `as` address of the forward of tcp 8086: a second IPv4 address
	# of eth2, on the backend's subnet
	ip -n "$NS_R" addr add $R_ADDR2_AS/32 dev eth2 || return 1
	# R eth3 ── eth0 M eth1 (MTU 1280) ── eth0 B2 (MTU 1500): a hop of
	# 1280 between the router and B2 that neither end's MTU tells of
	NS_M="xm-m-$$-$2" NS_B2="xm-b2-$$-$2"
	ns_add "$NS_M" "$NS_B2" || return 1
	ip -n "$NS_R" link add eth3 type veth peer name eth0 netns "$NS_M" || return 1
	ip -n "$NS_M" link add eth1 type veth peer name eth0 netns "$NS_B2" || return 1
	ip -n "$NS_R" addr add $R_ADDR3/24 dev eth3 || return 1
	ip -n "$NS_M" addr add $M_ADDR0/24 dev eth0 || return 1
	ip -n "$NS_M" addr add $M_ADDR1/24 dev eth1 || return 1
	ip -n "$NS_B2" addr add $B2_ADDR/24 dev eth0 || return 1
	ip -n "$NS_M" link set eth1 mtu 1280 || return 1
	local l
	for l in "$NS_R:eth3" "$NS_M:eth0" "$NS_M:eth1" "$NS_B2:eth0"; do
		ip -n "${l%%:*}" link set "${l#*:}" up || return 1
	done
	[ "$1" = gro ] && { peers_gro "$NS_M:eth0" || return 1; }
	nsx "$NS_M" sysctl -qw net.ipv4.ip_forward=1 || return 1
	ip -n "$NS_R" route add $B2_ADDR/32 via $M_ADDR0 dev eth3 || return 1
	ip -n "$NS_B2" route add $R_ADDR3/32 via $M_ADDR1 dev eth0 || return 1
	# C0 eth1 (MTU 1400) ── eth0 C2 (MTU 1500): C0 forwards IPv6 for C2;
	# C2's MSS lets the backend send more than C0's link carries
	NS_C2="xm-c2-$$-$2"
	ns_add "$NS_C2" && ns_ipv6 "$NS_C2" || return 1
	ip -n "$NS_C0" link add eth1 type veth peer name eth0 netns "$NS_C2" || return 1
	ip -n "$NS_C0" link set eth1 mtu 1400 up || return 1
	ip -n "$NS_C2" link set eth0 up || return 1
	nsx "$NS_C0" sysctl -qw net.ipv6.conf.eth1.accept_dad=0 net.ipv6.conf.all.forwarding=1 || return 1
	ip -n "$NS_C0" -6 addr add $C0_6_3/64 dev eth1 nodad || return 1
	ip -n "$NS_C2" -6 addr add $C2_6/64 dev eth0 nodad || return 1
	ip -n "$NS_C2" -6 route add default via $C0_6_3 dev eth0
}

# backend64_up: nginx on B_ADDR:80 (index.html, big.bin, /whoami: the peer
# address it saw), socat on B_ADDR: udp/5000 answering "echo:PEER:PAYLOAD",
# tcp/7000 echoing lines, tcp/9000 writing what it gets to up.bin. All
# IPv4. Sets BIG_SHA, NGX_LOG, B_DIR.
backend64_up() {
	local dir="$XM_TMP/backend-$NS_B"
	nginx_www_up "$NS_B" "$dir" server_port "$B_ADDR:80"
	[ -f "$XM_TMP/up.src" ] || head -c $((UP_MB * 1024 * 1024)) "$WWW/big.bin" >"$XM_TMP/up.src"
	B_DIR=$dir
	# the socats in sessions of their own too (setsid, as nginx_www_up's nginx)
	# shellcheck disable=SC2016 # expanded by socat's shell
	nsx "$NS_B" setsid socat "UDP4-RECVFROM:5000,bind=$B_ADDR,fork" \
		SYSTEM:'echo "echo:$SOCAT_PEERADDR:$(cat)"' >"$dir/udp.out" 2>&1 &
	XM_PIDS+=($!)
	nsx "$NS_B" setsid socat "TCP4-LISTEN:7000,bind=$B_ADDR,reuseaddr,fork" EXEC:cat >"$dir/echo.out" 2>&1 &
	XM_PIDS+=($!)
	nsx "$NS_B" setsid socat -u "TCP4-LISTEN:9000,bind=$B_ADDR,reuseaddr,fork" \
		SYSTEM:"cat >$dir/up.bin" >"$dir/up.out" 2>&1 &
	XM_PIDS+=($!)
	# B2: an upload sink on tcp/9000, and big.bin to whoever connects to tcp/9002
	nsx "$NS_B2" setsid socat -u "TCP4-LISTEN:9000,bind=$B2_ADDR,reuseaddr,fork" \
		SYSTEM:"cat >$dir/up2.bin" >"$dir/up2.out" 2>&1 &
	XM_PIDS+=($!)
	nsx "$NS_B2" setsid socat "TCP4-LISTEN:9002,bind=$B2_ADDR,reuseaddr,fork" \
		SYSTEM:"cat $WWW/big.bin" >"$dir/dl2.out" 2>&1 &
	XM_PIDS+=($!)
	# udp/5002: an exact echo of datagrams bigger than the MTU (check_frag64)
	pyrun_bg "$NS_B" 0 udp_big.py serve $B_ADDR 5002
	wait_port "$NS_B" udp $B_ADDR 5002 || return 1
	# udp/5003: an echo whose replies carry IPv4 options (check_ext64)
	pyrun_bg "$NS_B" 0 ext64.py serve $B_ADDR 5003
	wait_port "$NS_B" udp $B_ADDR 5003 || return 1
	wait_port "$NS_B2" tcp $B2_ADDR 9000 && wait_port "$NS_B2" tcp $B2_ADDR 9002 || return 1
	wait_port "$NS_B" tcp $B_ADDR 80 && wait_port "$NS_B" udp $B_ADDR 5000 &&
		wait_port "$NS_B" tcp $B_ADDR 7000 && wait_port "$NS_B" tcp $B_ADDR 9000 ||
		{ cat "$dir/stdout" "$dir/error.log" "$dir/udp.out" "$dir/echo.out" "$dir/up.out" >&2; return 1; }
}

# ---- the rules ----------------------------------------------------------------------
# xm_rules64 FAMILY: the rules file, FAMILY on the forwards that serve both
xm_rules64() {
	local ifc
	for ifc in eth0 eth1; do
		echo "forward $ifc tcp 8080 to $B_ADDR:80 family $1"
		echo "forward $ifc udp 5000 to $B_ADDR:5000 family $1"
	done
	echo "forward eth0 tcp 7000 to $B_ADDR:7000 family $1"
	echo "forward eth0 tcp 9000 to $B_ADDR:9000 family $1"
	echo "forward eth0 udp 5001 to $B_ADDR:5001 family $1"
	echo "forward eth0 udp 5002 to $B_ADDR:5002 family $1"
	echo "forward eth0 udp 5003 to $B_ADDR:5003 family $1"
	echo "forward eth0 tcp 9001 to $B2_ADDR:9000 family $1"
	echo "forward eth0 tcp 9003 to $B2_ADDR:9002 family $1"
	echo "forward eth1 tcp 8083 to $B_ADDR:80 family ipv6"
	echo "forward eth0 tcp 8084 to $B_ADDR:80 family any from $C0_SRC6"
	echo "forward eth0 tcp 8085 to $B_ADDR:80 family any from $C0_SRC/32"
	echo "forward eth0:[$R6_0] tcp 8082 to $B_ADDR:80"
	echo "forward eth1 tcp 8086 to $B_ADDR:80 family any as $R_ADDR2_AS"
}
xm_apply_any() { xm apply "$XM_TMP/rules64-any.conf"; }
xm_apply_v4() { xm apply "$XM_TMP/rules64-ipv4.conf"; }

# stat64 JSON NAME: packets of counter NAME in a saved stats --json (0 when absent)
stat64() { json_get "$1" "d['counters'].get('$2', {}).get('packets', 0)" 2>/dev/null || echo 0; }

# ---- clients ----------------------------------------------------------------------
# (ccurl, client6_vars, whoami, udp6: lib.sh)
# client4_vars N: CNS4 CSRC4 CR4 for client N's IPv4 side
client4_vars() {
	if [ "$1" = 0 ]; then
		CNS4=$NS_C0 CSRC4=$C0_SRC CR4=$R_ADDR0
	else
		CNS4=$NS_C1 CSRC4=$C1_SRC CR4=$R_ADDR1
	fi
}

# whoami4 N [PORT]: the address the backend saw for IPv4 client N
whoami4() {
	client4_vars "$1"
	ccurl "$CNS4" "$CSRC4" --max-time 5 "http://$CR4:${2:-8080}/whoami"
}

# download NS SRC URL OUT: curl URL to OUT, prints "BYTES SECONDS SHA256"
download() {
	local out rc sha
	rm -f "$4"
	out=$(ccurl "$1" "$2" --max-time 60 -o "$4" -w '%{size_download} %{time_total}' "$3" 2>&1)
	rc=$?
	sha=$(sha256sum "$4" 2>/dev/null | cut -d' ' -f1)
	rm -f "$4"
	echo "$out ${sha:-none}"
	return $rc
}

# upload6 ADDR6 PORT SINK: C0's UP_MB MB (up.src) over IPv6, from
# C0_SRC6 to [ADDR6]:PORT, whose listener writes it to B_DIR/SINK; waits
# (up to 20 s) for all of it there. Fails where socat failed or SINK's
# sha256 is not up.src's. Sets UP_OUT (socat's output), UP_MTU (C0's
# route to ADDR6: "mtu N", or empty).
upload6() {
	local want sz rc
	want=$(sha256sum "$XM_TMP/up.src" | cut -d' ' -f1)
	rm -f "$B_DIR/$3"
	UP_OUT=$(timeout --kill-after=3 60 nsenter --net="/run/netns/$NS_C0" \
		socat -u "OPEN:$XM_TMP/up.src" "TCP6:[$1]:$2,bind=[$C0_SRC6]" 2>&1)
	rc=$?
	sz=$((UP_MB * 1024 * 1024))
	wait_for 20 test "$(stat -c %s "$B_DIR/$3" 2>/dev/null)" = "$sz"
	[ $rc -eq 0 ] && [ "$(sha256sum "$B_DIR/$3" 2>/dev/null | cut -d' ' -f1)" != "$want" ] && rc=1
	UP_MTU=$(nsx "$NS_C0" ip -6 route get "$1" from $C0_SRC6 2>&1 | grep -o 'mtu [0-9]*')
	return $rc
}

# check_backend_v4only L: the backend has no IPv6 address, no IPv6 route,
# and listens on IPv4 only
check_backend_v4only() {
	local L=$1 a r s bad
	a=$(nsx "$NS_B" ip -6 addr show 2>&1)
	r=$(nsx "$NS_B" ip -6 route show 2>&1)
	s=$(nsx "$NS_B" ss -H -ltnu 2>&1)
	bad=$(awk '$5 !~ /^198\.18\.0\.2:[0-9]+$/' <<<"$s")
	[ -z "$a" ] && [ -z "$r" ] && [ -n "$s" ] && [ -z "$bad" ]
	tap_result $? "$L: the backend is IPv4 only: no IPv6 address, no IPv6 route, every listening socket on $B_ADDR" \
		"ip -6 addr: ${a:-none}" "ip -6 route: ${r:-none}" "listening: $s"
}

# check64_client L N: through IPv6 client N: whoami (the router's IPv4
# address), the big download while IPv4 client N downloads it through the
# same forward, ab, UDP; nothing out of the other NIC. Sets FWD_OK[N].
check64_client() {
	local L=$1 n=$2 out rc other0 i ok got
	client6_vars "$n"
	client4_vars "$n"
	other0=$(link_stat "$OTHER_NS" eth0 rx_packets)

	out=$(whoami "$n" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "$R_ADDR2" ] && rc=1
	tap_result $rc "$L: $CLABEL: backend saw the router's $R_ADDR2 (/whoami: ${out:-nothing})" \
		"whoami: $out" "the backend's last requests (peer, port, path):" "$(tail -n 3 "$NGX_LOG" 2>&1)"
	FWD_OK[$n]=$([ $rc -eq 0 ] && echo 1 || echo 0)

	if [ "${FWD_OK[$n]}" = 1 ]; then
		# the IPv4 client's download through the same forward, at the same time
		download "$CNS4" "$CSRC4" "http://$CR4:8080/big.bin" "$XM_TMP/dl4-$n.bin" >"$XM_TMP/dl4.out" 2>&1 &
		local bg=$! b6 s6 sha6 b4 s4 sha4 rc4
		out=$(download "$CNS" "$CSRC" "http://[$CR]:8080/big.bin" "$XM_TMP/dl6-$n.bin")
		rc=$?
		wait "$bg"
		rc4=$?
		read -r b6 s6 sha6 <<<"$out"
		read -r b4 s4 sha4 <<<"$(cat "$XM_TMP/dl4.out")"
		[ $rc -eq 0 ] && [ "$sha6" != "$BIG_SHA" ] && rc=1
		tap_result $rc "$L: $CLABEL: ${BIG_MB} MB download over IPv6, sha256 matches (${b6:-0} bytes, ${s6:-?} s)" \
			"curl: $out" "want sha256 $BIG_SHA"
		[ $rc4 -eq 0 ] && [ "$sha4" != "$BIG_SHA" ] && rc4=1
		tap_result $rc4 "$L: C$n $CSRC4 -> $CR4:8080 (same forward, IPv4) meanwhile: ${BIG_MB} MB, sha256 matches (${b4:-0} bytes, ${s4:-?} s)" \
			"curl: $(cat "$XM_TMP/dl4.out")" "want sha256 $BIG_SHA"

		check_ab "$L: $CLABEL: $AB_N short connections over IPv6" "$CNS" "$CSRC" \
			"http://[$CR]:8080/index.html" 60
	else
		for i in "${BIG_MB} MB download over IPv6" "IPv4 download meanwhile" "$AB_N short connections over IPv6 (ab)"; do
			tap_not_ok "$L: $CLABEL: $i"
			diag "not tried: this forward does not work (above)"
		done
	fi

	# a few datagrams, each answered, the backend seeing the router's IPv4
	ok=0 got=""
	for i in 1 2 3; do
		local payload="hello-$n-$i-$RANDOM"
		out=$(udp6 "$CNS" "$CSRC" "$CR" 5000 "$payload")
		got="$got${got:+ | }${out:-nothing}"
		[ "$out" = "echo:$R_ADDR2:$payload" ] && ok=$((ok + 1))
	done
	[ $ok = 3 ]
	tap_result $? "$L: C$n [$CSRC] -> [$CR]:5000 ($CIF): UDP over IPv6, $ok of 3 datagrams answered, backend saw $R_ADDR2" \
		"got: $got" "want: echo:$R_ADDR2:hello-$n-..."

	check6_other_quiet "$L" "$n" "$other0"
}

# check_ngx_log L: nginx logged the IPv6 clients' requests with the
# router's IPv4 address as peer, and no other peer at all
check_ngx_log() {
	local L=$1 n others
	n=$(grep -c "^$R_ADDR2 80 " "$NGX_LOG" 2>/dev/null)
	others=$(grep -v "^$R_ADDR2 80 " "$NGX_LOG" 2>/dev/null | head -n 3)
	[ "${n:-0}" -ge "$AB_N" ] && [ -z "$others" ]
	tap_result $? "$L: nginx's access log: ${n:-0} requests, every one from $R_ADDR2" \
		"others: ${others:-none}" "$(tail -n 3 "$NGX_LOG" 2>&1)"
}

# check_ct64 L: a slow IPv6 download from C1 listed by conntrack list
# (original tuple IPv6, reply tuple IPv4) and by conntrack --json list
check_ct64() {
	local L=$1 bg rc
	if [ "${FWD_OK[1]:-0}" != 1 ]; then
		tap_not_ok "$L: conntrack list shows the open 6->4 flow"
		diag "not tried: C1's IPv6 forward does not work (above)"
		tap_not_ok "$L: conntrack --json list shows the open 6->4 flow"
		diag "not tried: C1's IPv6 forward does not work (above)"
		return
	fi
	timeout --kill-after=2 20 nsenter --net="/run/netns/$NS_C1" curl -sS -g --interface $C1_SRC6 \
		--connect-timeout 3 --limit-rate 256k -o /dev/null "http://[$R6_1]:8080/big.bin" >/dev/null 2>&1 &
	bg=$!
	XM_PIDS+=("$bg")
	# "[2001:db8:ff01::10]:P -> [2001:db8:0:2::1]:8080" then "198.18.0.2:80 -> 198.18.0.1:P'"
	flow_listed() {
		xm conntrack list >"$XM_TMP/ct64.txt" 2>&1 &&
			grep -E "^tcp .*\[$C1_SRC6\]:[0-9]+ -> \[$R6_1\]:8080 +${B_ADDR//./\\.}:80 -> ${R_ADDR2//./\\.}:[0-9]+ " "$XM_TMP/ct64.txt" | grep -q .
	}
	listed_or_gone() { flow_listed || ! kill -0 "$bg" 2>/dev/null; }
	wait_for 6 listed_or_gone
	flow_listed
	tap_result $? "$L: conntrack list shows the open flow [$C1_SRC6]:* -> [$R6_1]:8080, reply $B_ADDR:80 -> $R_ADDR2:*" \
		"$(head -n 20 "$XM_TMP/ct64.txt")"
	xm conntrack --json list >"$XM_TMP/ct64.json" 2>&1
	json_get "$XM_TMP/ct64.json" "[c for c in d if c.get('family') == 6 and c.get('backend_family') == 4
 and c['proto'] == 'tcp' and c['original'].startswith('[$C1_SRC6]:')
 and c['original'].endswith(' -> [$R6_1]:8080') and c['reply'].startswith('$B_ADDR:80 -> $R_ADDR2:')
 and c['reply_entry']][0]" >"$XM_TMP/ct64.entry" 2>&1
	rc=$?
	tap_result $rc "$L: conntrack --json list: the flow with family 6, backend_family 4, original [$C1_SRC6]:* -> [$R6_1]:8080, reply $B_ADDR:80 -> $R_ADDR2:*" \
		"$(cat "$XM_TMP/ct64.entry")" "$(head -c 1500 "$XM_TMP/ct64.json")"
	# its stub in the IPv4 table (the reply tuple's port) is no IPv4 flow
	# of the list; the flow counts among the IPv6 flows
	local reply stubs cnt
	reply=$(json_get "$XM_TMP/ct64.entry" "d['reply']" 2>/dev/null)
	stubs=$(json_get "$XM_TMP/ct64.json" "[c for c in d if c.get('family') == 4 and '$reply' in (c['original'], c['reply'])]" 2>&1)
	cnt=$(xm conntrack count 2>&1)
	[ $rc -eq 0 ] && [ "$stubs" = "[]" ] && grep -qE ' [1-9][0-9]* IPv6 flows of ' <<<"$cnt"
	tap_result $? "$L: conntrack: the flow's IPv4 stub not listed as an IPv4 flow, the flow counted among the IPv6 flows ($cnt)" \
		"IPv4 entries with the reply tuple ${reply:-?}: $stubs" "count: $cnt"
	kill "$bg" 2>/dev/null
	wait "$bg" 2>/dev/null
	pid_reaped "$bg"
}

# check_counters64 L S0 S1 MODE: flow_new_6to4 from S0 to now (saved in S1);
# in xdp mode, XDP's share
check_counters64() {
	local L=$1 S0=$2 S1=$3 mode=$4 n0 n1 i0 i1 p
	xm stats --json >"$S1" 2>&1
	n0=$(stat64 "$S0" flow_new_6to4)
	n1=$(stat64 "$S1" flow_new_6to4)
	i0=$(stat64 "$S0" flow_new_ipv6)
	i1=$(stat64 "$S1" flow_new_ipv6)
	# about 2 x (1 + 1 + AB_N + 3 UDP) + 1: not exactly, a tuple's closed
	# flow may be taken up again
	[ $((n1 - n0)) -ge "$AB_N" ] && [ $((i1 - i0)) -ge $((n1 - n0)) ]
	tap_result $? "$L: counters: flow_new_6to4 +$((n1 - n0)) (about $((2 * (AB_N + 5) + 1)), at least $AB_N), of flow_new_ipv6 +$((i1 - i0))" \
		"$(json_get "$S1" '" ".join("%s=%s" % (k, v["packets"]) for k, v in sorted(d["counters"].items()) if v.get("packets"))' 2>&1 | head -c 2000)"
	if [ "$mode" = xdp ]; then
		# XDP translates known flows' packets itself both ways (xmasq_xdp6,
		# xmasq_xdp46); tc what XDP does not (new flows, ICMP, too big)
		local p0 t0 t1 x0 x1
		p0=$(stat64 "$S0" pass_6to4_to_tc) p=$(stat64 "$S1" pass_6to4_to_tc)
		t0=$(stat64 "$S0" pass_ipv6_to_tc) t1=$(stat64 "$S1" pass_ipv6_to_tc)
		x0=$(stat64 "$S0" fwd_xdp) x1=$(stat64 "$S1" fwd_xdp)
		[ $((x1 - x0)) -gt $((10 * (p - p0 + t1 - t0))) ]
		tap_result $? "$L: counters: XDP translated the 6->4 packets itself both ways: fwd_xdp +$((x1 - x0)), to tc pass_6to4_to_tc +$((p - p0)) and pass_ipv6_to_tc +$((t1 - t0))"
	fi
}

# not_fwd6 N PORT [ADDR]: IPv6 client N's TCP to the router's ADDR (its
# NIC's address):PORT neither answered nor seen by the backend. Prints
# what curl said.
not_fwd6() {
	local n0 out rc
	client6_vars "$1"
	n0=$(wc -l <"$NGX_LOG")
	out=$(ccurl "$CNS" "$CSRC" --max-time 3 "http://[${3:-$CR}]:$2/whoami" 2>&1)
	rc=$?
	echo "${out:-no answer} (curl exit $rc)"
	[ $rc -ne 0 ] && [ "$(wc -l <"$NGX_LOG")" -eq "$n0" ]
}

# icmp_out_unreach NS / icmp6_out_unreach NS: the destination unreachables
# NS's stack sent, ICMPv4 / ICMPv6
icmp_out_unreach() {
	nsx "$1" awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "OutDestUnreachs") c = i; h = 1 } else print $c }' /proc/net/snmp
}
icmp6_out_unreach() { nsx "$1" awk '$1 == "Icmp6OutDestUnreachs" { print $2 }' /proc/net/snmp6; }

# check_from64 L: a `family any` forward's from list admits the clients of
# the prefixes' family only: 8084 C0's IPv6 source, 8085 its IPv4 one
check_from64() {
	local L=$1 out rc d0 d1 S="$XM_TMP/stats-from.json" bad=""
	xm stats --json >"$S" 2>&1
	d0=$(stat64 "$S" drop_not_allowed)
	out=$(whoami 0 8084 2>&1)
	[ "$out" = "$R_ADDR2" ] || bad="$bad [IPv6 to 8084: $out]"
	out=$(whoami4 0 8085 2>&1)
	[ "$out" = "$R_ADDR2" ] || bad="$bad [IPv4 to 8085: $out]"
	out=$(ccurl "$NS_C0" $C0_SRC --max-time 3 "http://$R_ADDR0:8084/whoami" 2>&1) && bad="$bad [IPv4 to 8084 answered: $out]"
	out=$(ccurl "$NS_C0" $C0_SRC6 --max-time 3 "http://[$R6_0]:8085/whoami" 2>&1) && bad="$bad [IPv6 to 8085 answered: $out]"
	xm stats --json >"$S" 2>&1
	d1=$(stat64 "$S" drop_not_allowed)
	[ -z "$bad" ] && [ $((d1 - d0)) -ge 2 ]
	tap_result $? "$L: family any from one family's prefix: C0's IPv6 to 8084 and IPv4 to 8085 forwarded, its IPv4 to 8084 and IPv6 to 8085 refused (drop_not_allowed +$((d1 - d0)))" \
		"${bad:-(every answer as expected)}"
}

# check_icmp64 L: the backend's ICMP port unreachable about a 6->4 UDP
# flow (udp/5001: nothing listens on B) reaches the IPv6 client as ICMPv6
# (RFC 7915 4.2; socat reads ECONNREFUSED), counted by icmp_error
check_icmp64() {
	local L=$1 out i e0 e1 S="$XM_TMP/stats-icmp.json" rc=1 b0 b1 r0 r1
	xm stats --json >"$S" 2>&1
	e0=$(stat64 "$S" icmp_error)
	# the error is the backend's, not the router's own (its stack would
	# answer a datagram it did not forward with its own port unreachable)
	b0=$(icmp_out_unreach "$NS_B")
	r0=$(icmp6_out_unreach "$NS_R")
	for i in 1 2 3; do
		out=$(printf 'x' | timeout --kill-after=2 5 nsenter --net="/run/netns/$NS_C0" \
			socat -T 2 - "UDP6:[$R6_0]:5001,bind=[$C0_SRC6]" 2>&1)
		grep -qi 'connection refused' <<<"$out" && { rc=0; break; }
	done
	xm stats --json >"$S" 2>&1
	e1=$(stat64 "$S" icmp_error)
	b1=$(icmp_out_unreach "$NS_B")
	r1=$(icmp6_out_unreach "$NS_R")
	[ $rc -eq 0 ] && [ $((e1 - e0)) -ge 1 ] && [ $((b1 - b0)) -ge 1 ] && [ "$r1" = "$r0" ]
	tap_result $? "$L: C0 [$C0_SRC6] -> [$R6_0]:5001 (closed on the backend): the backend's port unreachable reaches the client as ICMPv6 (icmp_error +$((e1 - e0)), backend sent $((b1 - b0)), router's stack $((r1 - r0)))" \
		"socat: ${out:-nothing}" "drop_6to4_untranslatable $(stat64 "$S" drop_6to4_untranslatable)"
}

# check_frag64 L: UDP datagrams of 3000 bytes over the 1500-byte links,
# both ways (udp/5002, an exact echo on B): C0's kernel sends each in IPv6
# fragments, which leave as IPv4 fragments (RFC 7915 5.1.1); the backend's
# echo leaves it in IPv4 fragments, which reach C0 as IPv6 ones with a
# fragment header (4.1). B's route to the router carries an MTU of 1472
# meanwhile, so that its fragments, 28 bytes longer as IPv6, fit C0's
# side; every echo comes back intact, the later fragments found through
# frags6 and frags (frag_later), none untranslatable. Without that route
# the backend's 1500-byte fragments are 28 bytes too big for C0's side as
# IPv6: each goes in two IPv6 fragments (RFC 7915 section 4.1,
# frag_split_6to4), and every echo still comes back intact.
check_frag64() {
	local L=$1 out rc l0 l1 u0 u1 t0 t1 rt S="$XM_TMP/stats-frag.json" n=20
	xm stats --json >"$S" 2>&1
	l0=$(stat64 "$S" frag_later)
	u0=$(stat64 "$S" drop_6to4_untranslatable)
	ip -n "$NS_B" route add $R_ADDR2/32 dev eth0 mtu 1472
	out=$(pyrun "$NS_C0" 90 udp_big.py send $R6_0 5002 $C0_SRC6 $n 3000 2>&1)
	rc=$?
	rt=$(nsx "$NS_B" ip route get $R_ADDR2 2>&1)
	ip -n "$NS_B" route del $R_ADDR2/32 dev eth0 mtu 1472
	xm stats --json >"$S" 2>&1
	l1=$(stat64 "$S" frag_later)
	u1=$(stat64 "$S" drop_6to4_untranslatable)
	# 2 later fragments of each datagram each way
	[ $rc -eq 0 ] && [ $((l1 - l0)) -ge $((4 * n)) ] && [ "$u1" = "$u0" ]
	tap_result $? "$L: C0 [$C0_SRC6] -> [$R6_0]:5002: $n UDP datagrams of 3000 bytes, fragmented both ways, echoed intact ($out; frag_later +$((l1 - l0)), drop_6to4_untranslatable +$((u1 - u0)))" \
		"$out" "backend's route: $rt"

	t0=$(stat64 "$S" drop_too_big)
	l0=$(stat64 "$S" frag_split_6to4)
	out=$(pyrun "$NS_C0" 90 udp_big.py send $R6_0 5002 $C0_SRC6 $n 3000 2>&1)
	rc=$?
	xm stats --json >"$S" 2>&1
	t1=$(stat64 "$S" drop_too_big)
	l1=$(stat64 "$S" frag_split_6to4)
	# 2 fragments of each echo too big: 1480 bytes of data each
	[ $rc -eq 0 ] && [ $((l1 - l0)) -ge $((2 * n)) ] && [ "$t1" = "$t0" ]
	tap_result $? "$L: without it, the backend's 1500-byte IPv4 fragments (1528 bytes as IPv6, too big for C0's side) reach C0 in two IPv6 fragments each: $n echoed intact ($out; frag_split_6to4 +$((l1 - l0)), drop_too_big +$((t1 - t0)))" "$out"
}

# capture_one NS FILTER OUT: tcpdump in NS on every NIC until one packet
# matches FILTER (printed to OUT); returns once it listens. Sets BG_PID.
capture_one() {
	timeout 30 nsenter --net="/run/netns/$1" tcpdump -i any -nn -l -c 1 "$2" >"$3" 2>"$3.err" &
	BG_PID=$!
	XM_PIDS+=("$BG_PID")
	wait_for 10 grep -q 'listening on' "$3.err"
}

# check_ext64 L: what RFC 7915 does not translate, with the kernels' own
# sockets: C0 sends 10 UDP datagrams with a hop-by-hop header of padding
# and destination options (IPV6_HOPOPTS, IPV6_DSTOPTS) to udp/5003, whose
# echo on B answers with IPv4 options (IP_OPTIONS); the router sends both
# on without them, every echo comes back intact. tcpdump on R shows that
# both came in with them (the IPv6 next header 0, an IPv4 header longer
# than 20 bytes).
check_ext64() {
	local L=$1 out rc u0 u1 c6 c4 p6 p4 S="$XM_TMP/stats-ext.json" n=10
	xm stats --json >"$S" 2>&1
	u0=$(stat64 "$S" drop_6to4_untranslatable)
	capture_one "$NS_R" 'ip6[6] == 0 and ip6 dst '"$R6_0" "$XM_TMP/ext6.cap"
	c6=$BG_PID
	capture_one "$NS_R" 'ip[0] & 0x0f > 5 and udp src port 5003' "$XM_TMP/ext4.cap"
	c4=$BG_PID
	out=$(pyrun "$NS_C0" 60 ext64.py send $R6_0 5003 $C0_SRC6 $n 2>&1)
	rc=$?
	wait $c6 $c4 2>/dev/null
	pid_reaped $c6
	pid_reaped $c4
	xm stats --json >"$S" 2>&1
	u1=$(stat64 "$S" drop_6to4_untranslatable)
	p6=$(grep -c . "$XM_TMP/ext6.cap")
	p4=$(grep -c . "$XM_TMP/ext4.cap")
	[ $rc -eq 0 ] && [ "$u1" = "$u0" ] && [ "$p6" = 1 ] && [ "$p4" = 1 ]
	tap_result $? "$L: C0 [$C0_SRC6] -> [$R6_0]:5003: $n UDP datagrams with hop-by-hop padding and destination options, echoed with IPv4 options: both removed in translation, every echo back ($out; drop_6to4_untranslatable +$((u1 - u0)); captured in with them: IPv6 $p6, IPv4 $p4)" \
		"$out" "IPv6: $(cat "$XM_TMP/ext6.cap" "$XM_TMP/ext6.cap.err")" "IPv4: $(cat "$XM_TMP/ext4.cap" "$XM_TMP/ext4.cap.err")"
}

# check_family_addr L: `family ipv6` (IPv4 clients not forwarded) and the
# address-specific forward (eth0's other address not forwarded, while
# `family any` serves that other address)
check_family_addr() {
	local L=$1 out out4 rc n0
	out=$(whoami 1 8083 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "$R_ADDR2" ] && rc=1
	tap_result $rc "$L: family ipv6: C1 [$C1_SRC6] -> [$R6_1]:8083 forwarded (backend saw ${out:-nothing})" "$out"
	client4_vars 1
	n0=$(wc -l <"$NGX_LOG")
	out=$(ccurl "$NS_C1" $C1_SRC --max-time 3 "http://$R_ADDR1:8083/whoami" 2>&1)
	rc=$?
	[ $rc -ne 0 ] && [ "$(wc -l <"$NGX_LOG")" -eq "$n0" ]
	tap_result $? "$L: family ipv6: C1 $C1_SRC -> $R_ADDR1:8083 (IPv4) not forwarded (${out:-no answer})" \
		"curl exit $rc: $out"

	out=$(whoami 0 8082 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "$R_ADDR2" ] && rc=1
	tap_result $rc "$L: eth0:[$R6_0]: C0 -> [$R6_0]:8082 forwarded (backend saw ${out:-nothing})" "$out"
	out=$(not_fwd6 0 8082 $R6_0B)
	tap_result $? "$L: eth0:[$R6_0]: C0 -> [$R6_0B]:8082 (eth0's other address) not forwarded ($out)" "$out"
	out=$(ccurl "$NS_C0" $C0_SRC6 --max-time 5 "http://[$R6_0B]:8080/whoami" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "$R_ADDR2" ] && rc=1
	tap_result $rc "$L: family any: C0 -> [$R6_0B]:8080 (eth0's other address) forwarded too (backend saw ${out:-nothing})" "$out"
	# `as`: both families' flows leave with that address, not eth2's
	out=$(whoami 1 8086 2>&1)
	rc=$?
	out4=$(whoami4 1 8086 2>&1)
	[ $rc -eq 0 ] && [ "$out" = "$R_ADDR2_AS" ] && [ "$out4" = "$R_ADDR2_AS" ]
	tap_result $? "$L: family any as $R_ADDR2_AS: C1 -> [$R6_1]:8086 and $R_ADDR1:8086: the backend saw $R_ADDR2_AS (IPv6 client: ${out:-nothing}; IPv4 client: ${out4:-nothing})" \
		"$out" "$out4"
}

# hold_open ID SOCAT_ADDRESS: a TCP connection from C0 (to the backend's
# echo through tcp/7000) kept open by socat, fed through a FIFO; the echoes
# in hold-ID.out. hold_say ID WORD: one line through it, echoed back.
# hold_close ID: EOF, socat reaped.
declare -A HOLD_FD HOLD_PID
hold_open() {
	local fd
	mkfifo "$XM_TMP/hold-$1.in" || return 1
	: >"$XM_TMP/hold-$1.out"
	timeout --kill-after=3 300 nsenter --net="/run/netns/$NS_C0" \
		socat - "$2" <"$XM_TMP/hold-$1.in" >"$XM_TMP/hold-$1.out" 2>&1 &
	HOLD_PID[$1]=$!
	XM_PIDS+=("$!")
	exec {fd}>"$XM_TMP/hold-$1.in"
	HOLD_FD[$1]=$fd
}
hold_say() {
	# in a subshell: with socat gone, the write's SIGPIPE ends only that
	(echo "$2" >&"${HOLD_FD[$1]}") 2>/dev/null && wait_for 5 grep -qx "$2" "$XM_TMP/hold-$1.out"
}
hold_close() {
	local fd=${HOLD_FD[$1]:-} pid=${HOLD_PID[$1]:-}
	[ -n "$fd" ] && exec {fd}>&-
	HOLD_FD[$1]=""
	[ -n "$pid" ] || return 0
	wait_for 5 bash -c "! kill -0 $pid" || kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid_reaped "$pid"
	rm -f "$XM_TMP/hold-$1.in"
}

# flow7000_listed: conntrack list holds a 6->4 flow from C0's IPv6
# source to [R6_0]:7000
flow7000_listed() {
	xm conntrack list 2>/dev/null | grep -qE "\[$C0_SRC6\]:[0-9]+ -> \[$R6_0\]:7000 +${B_ADDR//./\\.}:7000 -> "
}

# check_live64 L: family any -> ipv4 -> any by xmasq apply; established
# flows keep their translation (an IPv4 and an IPv6 connection opened
# before); then a change with --reset-flows drops the IPv6 one
check_live64() {
	local L=$1 out rc i u w1 w2
	hold_open v4 "TCP4:$R_ADDR0:7000,bind=$C0_SRC"
	hold_open v6 "TCP6:[$R6_0]:7000,bind=[$C0_SRC6]"
	hold_say v4 "before-$RANDOM" && hold_say v6 "before6-$RANDOM"
	tap_result $? "$L: live: TCP connections $C0_SRC -> $R_ADDR0:7000 and [$C0_SRC6] -> [$R6_0]:7000 opened and echoing before the change" \
		"$(cat "$XM_TMP/hold-v4.out" "$XM_TMP/hold-v6.out")"
	out=$(xm_apply_v4 2>&1)
	tap_result $? "$L: live: apply with 'family ipv4' instead of 'family any'" "$out" "$(cat "$XM_TMP/rules64-ipv4.conf")"
	for i in 0 1; do
		client6_vars $i
		out=$(not_fwd6 $i 8080)
		rc=$?
		u=$(udp6 "$CNS" "$CSRC" "$CR" 5000 gone)
		[ $rc -eq 0 ] && [ -z "$u" ] && [ "${FWD_OK[$i]:-0}" = 1 ]
		tap_result $? "$L: live: C$i [$CSRC] -> [$CR] tcp/8080 and udp/5000 no longer forwarded ($out)" \
			"tcp: $out" "udp: ${u:-no answer}" "forwarded before the change: ${FWD_OK[$i]:-0}"
	done
	hold_say v4 "after-$RANDOM"
	tap_result $? "$L: live: the IPv4 connection opened before the change still echoes after it" \
		"$(cat "$XM_TMP/hold-v4.out")"
	hold_close v4
	# apply keeps established flows' translation by default (--reset-flows
	# drops them)
	hold_say v6 "after6-$RANDOM"
	tap_result $? "$L: live: the IPv6 connection opened before the change still echoes after it (flows keep their translation without --reset-flows)" \
		"$(cat "$XM_TMP/hold-v6.out")"
	hold_close v6
	w1=$(whoami4 0 2>&1)
	w2=$(whoami4 1 2>&1)
	[ "$w1" = "$R_ADDR2" ] && [ "$w2" = "$R_ADDR2" ]
	tap_result $? "$L: live: new IPv4 connections through eth0 and eth1 forwarded under 'family ipv4' (backend saw $w1, $w2)"
	out=$(xm_apply_any 2>&1)
	tap_result $? "$L: live: apply with 'family any' again" "$out"
	for i in 0 1; do
		client6_vars $i
		out=$(whoami $i 2>&1)
		rc=$?
		[ $rc -eq 0 ] && [ "$out" != "$R_ADDR2" ] && rc=1
		tap_result $rc "$L: live: C$i [$CSRC] -> [$CR]:8080 forwarded again (backend saw ${out:-nothing})" "$out"
	done

	# --reset-flows: the IPv6 connection's flow (and its stub) dropped, the
	# connection gone with it
	hold_open v6r "TCP6:[$R6_0]:7000,bind=[$C0_SRC6]"
	hold_say v6r "before6r-$RANDOM" && flow7000_listed
	rc=$?
	out=$(xm apply --reset-flows "$XM_TMP/rules64-ipv4.conf" 2>&1) || rc=1
	! flow7000_listed || rc=1
	! hold_say v6r "after6r-$RANDOM" || rc=1
	tap_result $rc "$L: live: apply --reset-flows with 'family ipv4': the open IPv6 connection's 6->4 flow no longer listed and the connection no longer echoes" \
		"apply: $out" "$(cat "$XM_TMP/hold-v6r.out")" "$(xm conntrack list 2>&1 | head -n 12)"
	hold_close v6r
	out=$(xm_apply_any 2>&1)
	tap_result $? "$L: live: apply with 'family any' again" "$out"
}

# set_mtu NS IFACE MTU...: link MTUs (NS:IFACE:MTU triples), then xmasq
# apply (it reads the NICs' MTUs afresh)
set_mtu() {
	local t
	for t in "$@"; do
		IFS=: read -r ns ifc m <<<"$t"
		ip -n "$ns" link set "$ifc" mtu "$m" || return 1
	done
	xm_apply_any >/dev/null
}

# check_pmtu64 L: path MTU across the translation
check_pmtu64() {
	local L=$1 out rc f0 f1 mtu
	local fneed="frag_needed_sent" S="$XM_TMP/stats-pmtu.json"
	if [ "${FWD_OK[0]:-0}" != 1 ]; then
		for out in "IPv4 egress MTU 1280: upload" "IPv4 link MTU 1280: download" "IPv6 egress MTU 1280: download"; do
			tap_not_ok "$L: PMTU: $out"
			diag "not tried: C0's IPv6 forward does not work (above)"
		done
		return
	fi
	# 1. the router's IPv4 egress (eth2) 1280, the backend's side 1500: the
	# backend's MSS lets the client send 1500-byte IPv6 packets, 1480 as
	# IPv4: too big, a Packet Too Big of 1280 + 20 is the client's only way
	xm stats --json >"$S" 2>&1
	f0=$(stat64 "$S" $fneed)
	set_mtu "$NS_R:eth2:1280"
	upload6 $R6_0 9000 up.bin
	rc=$?
	xm stats --json >"$S" 2>&1
	f1=$(stat64 "$S" $fneed)
	[ $rc -eq 0 ] && [ "$UP_MTU" = "mtu 1300" ] && [ $((f1 - f0)) -ge 1 ]
	tap_result $? "$L: PMTU: router's IPv4 egress MTU 1280: C0's ${UP_MB} MB upload over IPv6 complete, sha256 matches, client's route ${UP_MTU:-without mtu} (want 1300), $fneed +$((f1 - f0))" \
		"socat exit $rc: $UP_OUT" "backend got $(stat -c %s "$B_DIR/up.bin" 2>&1) bytes of $((UP_MB * 1024 * 1024))" \
		"$(nsx "$NS_C0" ip -6 route get $R6_0 from $C0_SRC6 2>&1)"

	# 2. the whole IPv4 link at 1280 (the backend's side too): the download
	set_mtu "$NS_B:eth0:1280"
	out=$(download "$NS_C0" $C0_SRC6 "http://[$R6_0]:8080/big.bin" "$XM_TMP/dl-pmtu.bin")
	rc=$?
	read -r _ secs sha <<<"$out"
	[ $rc -eq 0 ] && [ "$sha" != "$BIG_SHA" ] && rc=1
	tap_result $rc "$L: PMTU: IPv4 link to the backend at MTU 1280: C0's ${BIG_MB} MB download over IPv6, sha256 matches (${secs:-?} s)" \
		"curl: $out" "want sha256 $BIG_SHA"

	# 3. back to 1500 there; the router's IPv6 egress to C0 (eth0) 1280, C0's
	# side 1500: the client's MSS lets the backend send 1480-byte IPv4
	# packets, 1500 as IPv6: too big, the backend gets a frag-needed of
	# 1280 - 20
	set_mtu "$NS_B:eth0:1500" "$NS_R:eth2:1500" "$NS_R:eth0:1280"
	xm stats --json >"$S" 2>&1
	f0=$(stat64 "$S" $fneed)
	out=$(download "$NS_C0" $C0_SRC6 "http://[$R6_0]:8080/big.bin" "$XM_TMP/dl-pmtu.bin")
	rc=$?
	read -r _ secs sha <<<"$out"
	[ $rc -eq 0 ] && [ "$sha" != "$BIG_SHA" ] && rc=1
	mtu=$(nsx "$NS_B" ip route get $R_ADDR2 2>&1 | grep -o 'mtu [0-9]*')
	xm stats --json >"$S" 2>&1
	f1=$(stat64 "$S" $fneed)
	[ $rc -eq 0 ] && [ "$mtu" = "mtu 1260" ] && [ $((f1 - f0)) -ge 1 ]
	tap_result $? "$L: PMTU: router's IPv6 egress MTU 1280: C0's ${BIG_MB} MB download over IPv6, sha256 matches (${secs:-?} s), backend's route to $R_ADDR2 ${mtu:-without mtu} (want 1260), $fneed +$((f1 - f0))" \
		"curl: $out" "want sha256 $BIG_SHA" "$(nsx "$NS_B" ip route get $R_ADDR2 2>&1)"
	set_mtu "$NS_R:eth0:1500"
}

# check_client_hop64 L: C2's download through C0's 1400-byte link: the
# router's IPv6 replies (1500 bytes for the backend's 1480-byte IPv4) are
# too big there; C0's Packet Too Big (1400) to the router's address reaches
# the backend as a frag-needed of 1380 (RFC 7915 5.2: 20 less) and the
# download completes. Before check_pmtu64 (whose 1260 would hide it)
check_client_hop64() {
	local L=$1 out rc mtu e0 e1 p0 p1 secs sha S="$XM_TMP/stats-chop.json"
	xm stats --json >"$S" 2>&1
	e0=$(stat64 "$S" icmp_error)
	p0=$(nsx "$NS_C0" awk '$1 == "Icmp6OutPktTooBigs" { print $2 }' /proc/net/snmp6)
	out=$(download "$NS_C2" $C2_6 "http://[$R6_0]:8080/big.bin" "$XM_TMP/dl-c2.bin")
	rc=$?
	read -r _ secs sha <<<"$out"
	[ $rc -eq 0 ] && [ "$sha" != "$BIG_SHA" ] && rc=1
	mtu=$(nsx "$NS_B" ip route get $R_ADDR2 2>&1 | grep -o 'mtu [0-9]*')
	xm stats --json >"$S" 2>&1
	e1=$(stat64 "$S" icmp_error)
	p1=$(nsx "$NS_C0" awk '$1 == "Icmp6OutPktTooBigs" { print $2 }' /proc/net/snmp6)
	[ $rc -eq 0 ] && [ "$mtu" = "mtu 1380" ] && [ $((p1 - p0)) -ge 1 ] && [ $((e1 - e0)) -ge 1 ]
	tap_result $? "$L: PMTU: a 1400 IPv6 hop (C0) before C2: its ${BIG_MB} MB download over IPv6, sha256 matches (${secs:-?} s), C0's Packet Too Big $((p1 - p0)), backend's route to $R_ADDR2 ${mtu:-without mtu} (want 1380), icmp_error +$((e1 - e0))" \
		"curl: $out" "want sha256 $BIG_SHA" "$(nsx "$NS_B" ip route get $R_ADDR2 2>&1)"
}

# check_hop64 L: through M's 1280-byte link to B2 (B2's own MTU 1500,
# so its MSS lets the client send 1500-byte IPv6 packets, 1480 as IPv4):
# M's frag-needed (1280) about a translated packet reaches the client as
# a Packet Too Big of 1300 (RFC 7915 4.2: 20 more) from the address it
# used (eth0's second, whose path MTU no check before touched), and its
# upload completes; then B2's side at 1280 too: the download completes
check_hop64() {
	local L=$1 out rc e0 e1 m0 m1 sha S="$XM_TMP/stats-hop.json"
	if [ "${FWD_OK[0]:-0}" != 1 ]; then
		for out in "upload through a 1280 hop" "download through a 1280 link"; do
			tap_not_ok "$L: PMTU: $out"
			diag "not tried: C0's IPv6 forward does not work (above)"
		done
		return
	fi
	xm stats --json >"$S" 2>&1
	e0=$(stat64 "$S" icmp_error)
	m0=$(icmp_out_unreach "$NS_M")
	upload6 $R6_0B 9001 up2.bin
	rc=$?
	xm stats --json >"$S" 2>&1
	e1=$(stat64 "$S" icmp_error)
	m1=$(icmp_out_unreach "$NS_M")
	[ $rc -eq 0 ] && [ "$UP_MTU" = "mtu 1300" ] && [ $((e1 - e0)) -ge 1 ] && [ $((m1 - m0)) -ge 1 ]
	tap_result $? "$L: PMTU: a 1280 IPv4 hop (M) before B2: C0's ${UP_MB} MB upload over IPv6 complete, sha256 matches, client's route to [$R6_0B] ${UP_MTU:-without mtu} (want 1300), M's frag-needed $((m1 - m0)), icmp_error +$((e1 - e0))" \
		"socat exit $rc: $UP_OUT" "B2 got $(stat -c %s "$B_DIR/up2.bin" 2>&1) bytes of $((UP_MB * 1024 * 1024))" \
		"$(nsx "$NS_C0" ip -6 route get $R6_0B from $C0_SRC6 2>&1)"

	ip -n "$NS_B2" link set eth0 mtu 1280
	rm -f "$XM_TMP/dl-hop.bin"
	out=$(timeout --kill-after=3 60 nsenter --net="/run/netns/$NS_C0" \
		socat -u "TCP6:[$R6_0B]:9003,bind=[$C0_SRC6]" "CREATE:$XM_TMP/dl-hop.bin" 2>&1)
	rc=$?
	sha=$(sha256sum "$XM_TMP/dl-hop.bin" 2>/dev/null | cut -d' ' -f1)
	[ $rc -eq 0 ] && [ "$sha" != "$BIG_SHA" ] && rc=1
	tap_result $rc "$L: PMTU: B2's IPv4 link at 1280 behind M: C0's ${BIG_MB} MB download over IPv6 ([$R6_0B]:9003), sha256 matches ($(stat -c %s "$XM_TMP/dl-hop.bin" 2>/dev/null || echo 0) bytes)" \
		"socat exit $rc: $out" "got sha256 ${sha:-none}, want $BIG_SHA"
	rm -f "$XM_TMP/dl-hop.bin"
}

# check_rule_errors L: apply --check refuses `family ipv4` on an IPv6
# backend, naming FILE:LINE:COL
check_rule_errors() {
	local L=$1 f="$XM_TMP/bad64.conf" out rc
	printf '%s\n' "forward eth0 tcp 8080 to $B_ADDR:80 family any" \
		"forward eth0 tcp 8081 to [fd00:8::2]:80 family ipv4" >"$f"
	out=$(xm apply --check "$f" 2>&1)
	rc=$?
	[ $rc -ne 0 ] && grep -qE "^$f:2:[0-9]+: " <<<"$out"
	tap_result $? "$L: apply --check refuses 'family ipv4' on an IPv6 backend (exit $rc, $(head -n 1 <<<"$out"))" "$out"
}

run_xmasq64() {
	local mode=$1 L="xmasq $1" out nrules want m ifc
	local S0="$XM_TMP/stats64-0.json" S1="$XM_TMP/stats64-1.json"
	# a pin directory only this run can name
	XM_PIN="/sys/fs/bpf/xmasq-test-$$-$XM64_ID-v64-$mode"
	XM_PINS+=("$NS_R $XM_PIN")
	xm_rules64 any >"$XM_TMP/rules64-any.conf"
	xm_rules64 ipv4 >"$XM_TMP/rules64-ipv4.conf"
	ensure_bpffs
	out=$(xm_attach "$mode" eth0 eth1 eth2 eth3 2>&1)
	tap_result $? "$L: attach eth0 eth1 eth2 eth3" "$out" || return
	out=$(xm_apply_any 2>&1)
	tap_result $? "$L: apply $(wc -l <"$XM_TMP/rules64-any.conf") forwards to $B_ADDR ('family any', 'family ipv6', eth0:[$R6_0])" \
		"$out" "$(cat "$XM_TMP/rules64-any.conf")"
	# the mode asked for on every NIC (auto: tc on a veth)
	want=$mode
	[ "$mode" = auto ] && want=tc
	xm status --json >"$XM_TMP/status64.json" 2>&1
	for ifc in eth0 eth1 eth2 eth3; do
		m=$(json_get "$XM_TMP/status64.json" "[i['mode'] for i in d['interfaces'] if i['name'] == '$ifc'][0]" 2>/dev/null)
		[ "$m" = "$want" ]
		tap_result $? "$L: $ifc in $want mode (${m:-?})" "$(head -c 2000 "$XM_TMP/status64.json")"
	done
	check_backend_v4only "$L"
	# the return-path proof rests on this: the router's own routing sends
	# C1's replies out of eth0, no policy rule says otherwise
	out=$(nsx "$NS_R" ip -6 route get $C1_SRC6 from $R6_1 2>&1)
	nrules=$(nsx "$NS_R" ip -6 rule show | grep -vcE '^(0|32766):')
	[ "$nrules" = 0 ] && grep -q 'dev eth0' <<<"$out"
	tap_result $? "$L: router has no ip -6 rules and routes $C1_SRC6 out of eth0" "$out" "$(nsx "$NS_R" ip -6 rule show)"

	xm stats --json >"$S0" 2>&1
	check64_client "$L" 0
	check64_client "$L" 1
	check_ngx_log "$L"
	check_ct64 "$L"
	check_counters64 "$L" "$S0" "$S1" "$mode"
	check_icmp64 "$L"
	check_frag64 "$L"
	check_ext64 "$L"
	check_from64 "$L"
	check_family_addr "$L"
	check_live64 "$L"
	check_client_hop64 "$L"
	check_pmtu64 "$L"
	check_hop64 "$L"
	check_rule_errors "$L"
}

for mode in ${MODES:-xdp auto}; do
	case $mode in
	auto) variant=plain ;;
	xdp) variant=gro ;;
	*) echo "unknown mode $mode (xdp|auto)" >&2; exit 2 ;;
	esac
	diag "==== xmasq $mode, $variant veth peers"
	t0=$SECONDS
	# not in a subshell: they set NS_* and register what topo_down undoes
	if ! topo64_up "$variant" "64$mode-$XM64_ID" >"$XM_TMP/topo.out" 2>&1 || ! backend64_up >>"$XM_TMP/topo.out" 2>&1; then
		tap_not_ok "$mode: topology and IPv4-only backend"
		diag "$(cat "$XM_TMP/topo.out")"
		topo_down
		continue
	fi
	run_xmasq64 "$mode"
	topo_down
	diag "xmasq $mode: $((SECONDS - t0)) s"
done
tap_done
