#!/bin/bash
# NAT behaviour a masqueraded host's applications rely on (RFC 4787, 5382):
# endpoint-independent mapping, the three filtering modes, hairpinning,
# proved with clients no one here wrote (coturn's turnserver and its RFC
# 5780 client turnutils_natdiscovery), beside the iptables recipe in the
# same topology; a TCP mapping from one bound port to two servers; UDP
# hole punching between hosts behind two xmasq routers.
#
#   H1 198.18.9.2 (.3)          S ("the internet")                H2 198.18.10.2
#     │ eth0                    e1 192.0.2.10, .11 (STUN, two       │ eth0
#   lan 198.18.9.1                 addresses), rendezvous      lan 198.18.10.1
#   R1 (xdp)                    e2 198.51.100.10                R2 (tc)
#   wan 192.0.2.1 ───────────── e1    e2 ─────────────────────── wan 198.51.100.1
#
# R1: masquerade 198.18.9.0/24 out wan; R2: masquerade 198.18.10.0/24 out
# wan. TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init turnserver turnutils_natdiscovery iptables ss
need_xmasq

NS_H1=xmnh1-$$ NS_R1=xmnr1-$$ NS_S=xmns-$$ NS_R2=xmnr2-$$ NS_H2=xmnh2-$$
PIN1=/sys/fs/bpf/xmasq-test-$$-nat1
PIN2=/sys/fs/bpf/xmasq-test-$$-nat2
H1=198.18.9.2 H1B=198.18.9.3 R1_PUB=192.0.2.1 S1=192.0.2.10 S1B=192.0.2.11
H2=198.18.10.2 R2_PUB=198.51.100.1 S2=198.51.100.10
RDV_PORT=5999 SEEN_PORT=7000

# tap_is DESC ACTUAL EXPECTED
tap_is() {
	[ "$2" = "$3" ]
	tap_result $? "$1" "got '$2', expected '$3'"
}

# link NS_A IF_A NS_B IF_B ADDR_A/LEN ADDR_B/LEN
link() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" || return 1
	ip -n "$1" addr add "$5" dev "$2" && ip -n "$3" addr add "$6" dev "$4" &&
		ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

topo() {
	ns_add "$NS_H1" "$NS_R1" "$NS_S" "$NS_R2" "$NS_H2" || return 1
	link "$NS_H1" eth0 "$NS_R1" lan $H1/24 198.18.9.1/24 &&
		ip -n "$NS_H1" addr add $H1B/24 dev eth0 &&
		link "$NS_R1" wan "$NS_S" e1 $R1_PUB/24 $S1/24 &&
		ip -n "$NS_S" addr add $S1B/24 dev e1 &&
		link "$NS_R2" wan "$NS_S" e2 $R2_PUB/24 $S2/24 &&
		link "$NS_H2" eth0 "$NS_R2" lan $H2/24 198.18.10.1/24 || return 1
	ip -n "$NS_H1" route add default via 198.18.9.1 &&
		ip -n "$NS_H2" route add default via 198.18.10.1 &&
		ip -n "$NS_R1" route add default via $S1 &&
		ip -n "$NS_R2" route add default via $S2 || return 1
	nsx "$NS_S" sysctl -qw net.ipv4.ip_forward=1 || return 1
	# R1 runs XDP: the peers of its NICs take redirected frames (GRO)
	peers_gro "$NS_H1:eth0" "$NS_S:e1"
}

stun_up() {
	nsx "$NS_S" turnserver -S -n -L $S1 -L $S1B --no-cli --no-tls --no-dtls \
		--log-file stdout --simple-log >"$XM_TMP/turnserver.log" 2>&1 &
	XM_PIDS+=($!)
	wait_port "$NS_S" udp $S1 3478 && wait_port "$NS_S" udp $S1B 3479
}

x1() { timeout --kill-after=5 60 nsenter --net="/run/netns/$NS_R1" "$XMASQ" --pin-dir "$PIN1" "$@"; }
x2() { timeout --kill-after=5 60 nsenter --net="/run/netns/$NS_R2" "$XMASQ" --pin-dir "$PIN2" "$@"; }

# rules_r1 [SET-LINES...]: R1's masquerade and settings, applied
apply_r1() {
	printf 'masquerade 198.18.9.0/24 out wan\n%s\n' "$*" >"$XM_TMP/r1.conf"
	x1 apply "$XM_TMP/r1.conf" >/dev/null
}
apply_r2() {
	printf 'masquerade 198.18.10.0/24 out wan\n%s\n' "$*" >"$XM_TMP/r2.conf"
	x2 apply "$XM_TMP/r2.conf" >/dev/null
}

# discover OPT: turnutils_natdiscovery OPT from H1 against S; prints the
# verdict ("Endpoint Independent Mapping", "Address Dependent Filtering",
# "hairpinning", or "no answer")
discover() {
	local out
	out=$(nsx "$NS_H1" timeout 60 turnutils_natdiscovery "$1" $S1 2>&1)
	printf '%s\n' "$out" >>"$XM_TMP/natdiscovery.log"
	if [ "$1" = -H ]; then
		grep -q 'successful hairpinning' <<<"$out" && echo hairpinning || echo "no answer"
		return
	fi
	sed -n 's/^NAT with \(.*\)!$/\1/p' <<<"$out" | tail -n 1 | grep . || echo "no answer"
}

# tcp_map LABEL: H1 from $H1:40000 to S's two addresses, while H1B (the
# other host) holds public port 40000 towards the first: prints what the
# two servers saw
tcp_map() {
	pyrun "$NS_H1" 20 nat.py tcp-map --src $H1B --lport 40000 $S1:$SEEN_PORT &&
		pyrun "$NS_H1" 20 nat.py tcp-map --src $H1 --lport 40000 $S1:$SEEN_PORT $S1B:$SEEN_PORT
}

# punch LPORT MODE: H1 and H2 meet at the rendezvous and send to each
# other; MODE both (each greets, a few greetings before listening) or
# h1-only (H2 only answers): prints "ok" or "failed"
punch() {
	local lport=$1 mode=$2 h2opt=(--outbound-first) rc1 rc2
	[ "$mode" = h1-only ] && h2opt=(--listen-only)
	# names of this round only: the rendezvous still knows earlier rounds'
	pyrun "$NS_H2" 12 nat.py punch h2-$lport h1-$lport $S2:$RDV_PORT --lport "$lport" --timeout 6 "${h2opt[@]}" \
		>"$XM_TMP/punch-h2" 2>&1 &
	local p2=$!
	pyrun "$NS_H1" 12 nat.py punch h1-$lport h2-$lport $S1:$RDV_PORT --lport "$lport" --timeout 6 \
		--outbound-first >"$XM_TMP/punch-h1" 2>&1
	rc1=$?
	wait $p2
	rc2=$?
	if [ $rc1 = 0 ] && [ $rc2 = 0 ]; then echo ok; else echo failed; fi
}

# punch_diag: what the punchers and the routers saw
punch_diag() {
	cat "$XM_TMP/punch-h1" "$XM_TMP/punch-h2"
	echo "R1:"
	x1 conntrack list
	echo "R2:"
	x2 conntrack list
	x2 stats | grep -E 'nat|pass_not_ours|drop'
}

topo || { tap_not_ok "topology"; tap_done; }
stun_up || { tap_not_ok "turnserver listens on $S1:3478 and $S1B:3479" "$(cat "$XM_TMP/turnserver.log")"; tap_done; }
pyrun_bg "$NS_S" 0 nat.py seen-server 0.0.0.0 $SEEN_PORT
pyrun_bg "$NS_S" 0 nat.py rendezvous 0.0.0.0 $RDV_PORT
wait_port "$NS_S" tcp 0.0.0.0 $SEEN_PORT && wait_port "$NS_S" udp 0.0.0.0 $RDV_PORT ||
	{ tap_not_ok "test servers listen"; tap_done; }
nsx "$NS_R1" sysctl -qw net.ipv4.ip_forward=1
nsx "$NS_R2" sysctl -qw net.ipv4.ip_forward=1

# ---- 1. the iptables recipe: the reference ----------------------------------
nsx "$NS_R1" iptables -w -t nat -A POSTROUTING -s 198.18.9.0/24 -o wan -j MASQUERADE
ipt_m=$(discover -m) ipt_f=$(discover -f) ipt_h=$(discover -H)
ipt_tcp=$(tcp_map | tr '\n' ' ')
[ "$ipt_m" != "no answer" ]
tap_result $? "iptables recipe: turnutils_natdiscovery answers through it (mapping: $ipt_m)" \
	"$(tail -n 30 "$XM_TMP/natdiscovery.log")"
nsx "$NS_R1" iptables -w -t nat -F
nsx "$NS_R1" conntrack -F >/dev/null 2>&1

# ---- 2. xmasq: mapping, filtering modes, hairpinning ------------------------
ensure_bpffs
XM_PINS+=("$NS_R1 $PIN1" "$NS_R2 $PIN2")
x1 attach --mode xdp lan wan >/dev/null && apply_r1 || { tap_not_ok "R1: xmasq attach (xdp) and apply"; tap_done; }
x2 attach --mode tc lan wan >/dev/null && apply_r2 || { tap_not_ok "R2: xmasq attach (tc) and apply"; tap_done; }

xm_m=$(discover -m) xm_f=$(discover -f) xm_h=$(discover -H)
diag "$(printf '%-18s %-40s %s\n' "natdiscovery" "xmasq" "iptables MASQUERADE" \
	"mapping (-m)" "$xm_m" "$ipt_m" "filtering (-f)" "$xm_f" "$ipt_f" \
	"hairpinning (-H)" "$xm_h" "$ipt_h")"
tap_is "xmasq: natdiscovery reports endpoint-independent mapping" \
	"$xm_m" "Endpoint Independent Mapping"
tap_is "xmasq: natdiscovery reports address- and port-dependent filtering by default" \
	"$xm_f" "Address and Port Dependent Filtering"
tap_is "xmasq: natdiscovery's hairpinning request reaches it through its own mapping" \
	"$xm_h" "hairpinning"
hp=$(x1 stats --json >"$XM_TMP/s.json" && json_get "$XM_TMP/s.json" "d['counters']['flow_hairpin']['packets']")
[ "${hp:-0}" -gt 0 ]
tap_result $? "xmasq: counter flow_hairpin counts the hairpinned flow ($hp)"

apply_r1 "set nat-filtering address-dependent"
tap_is "xmasq: set nat-filtering address-dependent: natdiscovery reports it" \
	"$(discover -f)" "Address Dependent Filtering"
apply_r1 "set nat-filtering endpoint-independent"
tap_is "xmasq: set nat-filtering endpoint-independent: natdiscovery reports it" \
	"$(discover -f)" "Endpoint Independent Filtering"
apply_r1 "set nat-filtering address-port-dependent"
tap_is "xmasq: set nat-filtering address-port-dependent again: natdiscovery reports it" \
	"$(discover -f)" "Address and Port Dependent Filtering"

# ---- 3. TCP: one bound port, two servers -------------------------------------
# H1B holds public port 40000 (its own port, kept); H1 from port 40000 gets
# another port, and keeps it for the second server too.
xm_tcp=$(tcp_map | tr '\n' ' ')
read -r b1 a1 a2 <<<"$xm_tcp"
diag "TCP from $H1:40000 to $S1 and $S1B (after $H1B:40000 took 40000): xmasq saw '$a1 $a2', iptables saw '${ipt_tcp#* }'"
[ -n "$a1" ] && [ "$a1" = "$a2" ] && [ "${a1%%:*}" = $R1_PUB ] && [ "$b1" = "$R1_PUB:40000" ] && [ "$a1" != "$b1" ]
tap_result $? "xmasq: TCP from one bound port to two servers leaves with one public port ($a1, $a2; the other host has $b1)"

# ---- 4. UDP hole punching between two xmasq routers --------------------------
r=$(punch 41001 h1-only)
tap_is "punching, default filtering: H1's packets alone do not reach H2 (H2 sent only to the rendezvous)" "$r" failed
apply_r2 "set nat-filtering endpoint-independent"
r=$(punch 41002 h1-only)
tap_result "$([ "$r" = ok ] && echo 0 || echo 1)" \
	"punching, R2 endpoint-independent filtering: H1 reaches H2 through H2's mapping, H2 sent only to the rendezvous" \
	"$(punch_diag)"
in=$(x2 stats --json >"$XM_TMP/s2.json" && json_get "$XM_TMP/s2.json" "d['counters']['flow_nat_inbound']['packets']")
[ "${in:-0}" -gt 0 ]
tap_result $? "R2: counter flow_nat_inbound counts the flow H1 opened ($in)"
apply_r1 "set nat-filtering address-dependent"
apply_r2 "set nat-filtering address-dependent"
r=$(punch 41003 h1-only)
tap_is "punching, address-dependent filtering: H1's packets alone do not reach H2" "$r" failed
r=$(punch 41004 both)
tap_result "$([ "$r" = ok ] && echo 0 || echo 1)" \
	"punching, address-dependent filtering, both send first: H1 and H2 reach each other" \
	"$(punch_diag)"
filt=$(x2 stats --json >"$XM_TMP/s2.json" && json_get "$XM_TMP/s2.json" "d['counters']['pass_nat_filtered']['packets']")
[ "${filt:-0}" -gt 0 ]
tap_result $? "R2: counter pass_nat_filtered counts what filtering refused ($filt)"

# ---- 5. flush: mappings go with the flows -----------------------------------
mappings() { bpftool map dump pinned "$PIN1/nat_mappings" 2>/dev/null | grep -c '"key"'; }
n=$(mappings)
[ "${n:-0}" -gt 0 ]
tap_result $? "R1 holds mappings before the flush ($n entries)"
x1 conntrack flush >/dev/null
tap_is "conntrack flush removes the mappings too" "$(mappings)" 0

tap_done
