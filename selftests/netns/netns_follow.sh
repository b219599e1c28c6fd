#!/bin/bash
# xmasq follows the NICs (issue 11, item 6), in network namespaces:
#
#   client C 192.0.2.2 ── wan 192.0.2.1  router R  lan 198.18.8.1 ── backend B 198.18.8.2
#                                                  vf0 198.18.9.1 ── backend B2 198.18.9.2
#   forward wan tcp 8080 -> B:80, wan udp 5000 -> B:5000, wan tcp 8081 -> B2:80
#   masquerade 198.18.8.0/24 out wan (B -> C:5000)
#
#  1. without a follower: lan's address changes (198.18.8.1 -> .7) and the
#     forward stops (control); `xmasq apply` alone reads the NIC afresh and
#     new connections work, the backend seeing .7;
#  then with `xmasq follow` in the background and traffic running (a UDP
#  stream through the forward, one through the masquerade, a TCP stream
#  through the forward), each change in the maps within a second, logged
#  by `xmasq follow` and counted (nic_* counters):
#  (c) vf0 deleted: status says gone (text and --json), the streams through
#      lan and wan carry on; vf0 created again (same name, new ifindex):
#      attached again automatically, tcp/8081 works again;
#  (d) lan down and up: logged; the streams carry on after it;
#  (b) lan's MTU lowered to 1280: the maps have it and a client's path MTU
#      through the forward becomes 1280 (frag-needed from the router);
#  (a) lan's address changed (.7 -> .9): the maps have it, the UDP stream
#      through the forward goes on with the new address, new connections
#      work.
# TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init
need_xmasq
ensure_bpffs || exit 1

NS_R="xmfol-r-$$" NS_C="xmfol-c-$$" NS_B="xmfol-b-$$" NS_B2="xmfol-b2-$$"
XM_PIN="/sys/fs/bpf/xmasq-follow-$$"
XM_PINS+=("$NS_R $XM_PIN")
R_WAN=192.0.2.1 C=192.0.2.2 LAN1=198.18.8.1 LAN2=198.18.8.7 LAN3=198.18.8.9 B=198.18.8.2
VF=198.18.9.1 B2=198.18.9.2
FOLLOW_LOG="$XM_TMP/follow.log"
peer() { local ns=$1; shift; nsx "$ns" timeout 20 "$XM_PY" "$XM_DATA/follow_peer.py" "$@"; }

vf0_up() {
	ip -n "$NS_R" link add vf0 type veth peer name eth0 netns "$NS_B2" || return 1
	ip -n "$NS_R" addr add $VF/24 dev vf0 && ip -n "$NS_B2" addr add $B2/24 dev eth0 || return 1
	ip -n "$NS_R" link set vf0 up && ip -n "$NS_B2" link set eth0 up
}

topo() {
	ns_add "$NS_R" "$NS_C" "$NS_B" "$NS_B2" || return 1
	ip -n "$NS_R" link add wan type veth peer name eth0 netns "$NS_C" || return 1
	ip -n "$NS_R" link add lan type veth peer name eth0 netns "$NS_B" || return 1
	ip -n "$NS_R" addr add $R_WAN/24 dev wan && ip -n "$NS_R" addr add $LAN1/24 dev lan &&
		ip -n "$NS_C" addr add $C/24 dev eth0 && ip -n "$NS_B" addr add $B/24 dev eth0 || return 1
	ip -n "$NS_R" link set wan up && ip -n "$NS_R" link set lan up &&
		ip -n "$NS_C" link set eth0 up && ip -n "$NS_B" link set eth0 up || return 1
	ip -n "$NS_C" route add default via $R_WAN && ip -n "$NS_B" route add default via $LAN1 || return 1
	vf0_up
}

start_server() { # NS ADDR
	local ready="$XM_TMP/ready-$1"
	nsx "$1" "$XM_PY" "$XM_DATA/follow_peer.py" serve "$2" "$ready" >"$XM_TMP/serve-$1.log" 2>&1 &
	XM_PIDS+=("$!")
	wait_for 10 test -e "$ready"
}

if ! topo || ! start_server "$NS_B" $B || ! start_server "$NS_B2" $B2 || ! start_server "$NS_C" $C; then
	echo "Bail out! cannot build the namespace topology"
	exit 1
fi
RULES="$XM_TMP/rules.conf"
cat >"$RULES" <<RULES
forward wan tcp 8080 to $B:80
forward wan udp 5000 to $B:5000
forward wan tcp 8081 to $B2:80
masquerade 198.18.8.0/24 out wan
RULES
# vf0 in native XDP (a VF would be): it must come back in that mode
if ! out=$(xm attach wan lan 2>&1 && xm attach --mode xdp vf0 2>&1 && xm apply "$RULES" 2>&1); then
	echo "Bail out! attach/apply failed: $out"
	exit 1
fi

# iface_json NAME FIELD: the field of interface NAME in status --json
iface_json() {
	xm status --json >"$XM_TMP/st.json" 2>/dev/null &&
		json_get "$XM_TMP/st.json" "[i['$2'] for i in d['interfaces'] if i['name'] == '$1'][0]"
}
iface_is() { [ "$(iface_json "$1" "$2")" = "$3" ]; }
stream_val() { json_get "$XM_TMP/$1.json" "d['$2']" 2>/dev/null; }
# stream_at_least NAME FIELD N
stream_at_least() { local v; v=$(stream_val "$1" "$2") && [ "${v:-0}" -ge "$3" ]; }
# stream_grows NAME FIELD: NAME's FIELD grows by 5 within 5 s (it carries on)
stream_grows() {
	local v0
	v0=$(stream_val "$1" "$2") || v0=0
	wait_for 5 stream_at_least "$1" "$2" $((v0 + 5))
}
stream_seen() { [ "$(stream_val "$1" seen)" = "$2" ]; }
logged() { grep -q -- "$1" "$FOLLOW_LOG"; }
who() { peer "$NS_C" who $R_WAN "$1"; }

out=$(who 8080)
tap_result $? "before: tcp/8080 through the forward, the backend sees $LAN1" "$out" &&
	[ "$out" = "$LAN1" ] || tap_not_ok "before: the backend saw $LAN1 (got: $out)"

# ---- 1. the bug: apply alone picks up a changed address ------------------
ip -n "$NS_R" addr del $LAN1/24 dev lan && ip -n "$NS_R" addr add $LAN2/24 dev lan &&
	ip -n "$NS_B" route replace default via $LAN2 && ip -n "$NS_B" neigh flush dev eth0
out=$(who 8080)
rc=0
[ "$out" = "$LAN2" ] && rc=1
tap_result $rc "control: lan changed to $LAN2, not applied: the forward masquerades with $LAN1, which lan no longer has (${out:-no answer})" "$out"
out=$(xm apply "$RULES" 2>&1)
rc=$?
grep -q "lan: address $LAN1 -> $LAN2" <<<"$out" || rc=1
tap_result $rc "xmasq apply reads lan afresh: 'lan: address $LAN1 -> $LAN2'" "$out"
out=$(who 8080)
[ "$out" = "$LAN2" ]
tap_result $? "after apply: tcp/8080 works again, the backend sees $LAN2" "got: $out"
iface_is lan addr $LAN2
tap_result $? "status: lan's address is $LAN2" "$(cat "$XM_TMP/st.json")"

# ---- the follower, under traffic -------------------------------------------
timeout --kill-after=3 300 nsenter --net="/run/netns/$NS_R" "$XMASQ" --pin-dir "$XM_PIN" follow >"$FOLLOW_LOG" 2>&1 &
XM_PIDS+=("$!")
wait_for 5 logged "following the managed NICs"
tap_result $? "xmasq follow runs" "$(cat "$FOLLOW_LOG")"
nsx "$NS_C" timeout 300 "$XM_PY" "$XM_DATA/follow_peer.py" udp-stream $R_WAN 5000 "$XM_TMP/fwd.json" &
XM_PIDS+=("$!")
nsx "$NS_B" timeout 300 "$XM_PY" "$XM_DATA/follow_peer.py" udp-stream $C 5000 "$XM_TMP/masq.json" &
XM_PIDS+=("$!")
nsx "$NS_C" timeout 300 "$XM_PY" "$XM_DATA/follow_peer.py" tcp-stream $R_WAN 8080 "$XM_TMP/tcp.json" &
XM_PIDS+=("$!")
stream_grows fwd recv && stream_grows masq recv && stream_grows tcp echoed
tap_result $? "streams running: UDP through the forward and the masquerade, TCP through the forward" \
	"$(cat "$XM_TMP"/fwd.json "$XM_TMP"/masq.json "$XM_TMP"/tcp.json 2>&1)"

# ---- (c) vf0 deleted, then created again -----------------------------------
out=$(who 8081)
[ "$out" = "$VF" ]
tap_result $? "before: tcp/8081 through vf0, the backend sees $VF" "got: $out"
old_ifindex=$(iface_json vf0 ifindex)
ip -n "$NS_R" link del vf0
wait_for 1 logged "vf0: gone"
tap_result $? "vf0 deleted: 'vf0: gone' logged within a second" "$(cat "$FOLLOW_LOG")"
iface_is vf0 gone true
tap_result $? "status --json: vf0 gone" "$(cat "$XM_TMP/st.json")"
out=$(xm status 2>&1)
grep -Eq "^vf0 +$old_ifindex .*gone \(deleted" <<<"$out"
tap_result $? "status: vf0 named and said gone (no stale #$old_ifindex row)" "$out"
stream_grows fwd recv && stream_grows masq recv && stream_grows tcp echoed
tap_result $? "the streams through lan and wan carry on" "$(cat "$XM_TMP"/fwd.json "$XM_TMP"/masq.json "$XM_TMP"/tcp.json 2>&1)"
vf0_up
wait_for 2 logged "vf0: back"
tap_result $? "vf0 created again: 'vf0: back' (attached again) logged" "$(cat "$FOLLOW_LOG")"
new_ifindex=$(iface_json vf0 ifindex)
rc=0
[ "$new_ifindex" != "$old_ifindex" ] && iface_is vf0 gone false && [ "$(iface_json vf0 tc_prog_id)" -gt 0 ] &&
	iface_is vf0 mode xdp && [ "$(iface_json vf0 xdp_prog_id)" -gt 0 ] || rc=1
tap_result $rc "status: vf0 present again, new ifindex ($old_ifindex -> $new_ifindex), in its mode (xdp + tc) with both programs" "$(cat "$XM_TMP/st.json")"
out=$(who 8081)
[ "$out" = "$VF" ]
tap_result $? "tcp/8081 through vf0 works again (its rule moved to the new ifindex)" "got: $out"

# ---- (d) lan down and up -----------------------------------------------------
ip -n "$NS_R" link set lan down
wait_for 1 logged "lan: down"
tap_result $? "lan down: logged within a second" "$(cat "$FOLLOW_LOG")"
ip -n "$NS_R" link set lan up
wait_for 1 logged "lan: up"
tap_result $? "lan up: logged within a second" "$(cat "$FOLLOW_LOG")"
stream_grows fwd recv && stream_grows masq recv
tap_result $? "the UDP streams carry on after lan came back" "$(cat "$XM_TMP"/fwd.json "$XM_TMP"/masq.json 2>&1)"

# ---- (b) MTU lowered ---------------------------------------------------------
ip -n "$NS_R" link set lan mtu 1280
wait_for 1 iface_is lan mtu 1280
tap_result $? "lan's MTU 1500 -> 1280: in the maps within a second" "$(cat "$XM_TMP/st.json")"
logged "lan: mtu 1500 -> 1280"
tap_result $? "logged: 'lan: mtu 1500 -> 1280'" "$(cat "$FOLLOW_LOG")"
out=$(peer "$NS_C" pmtu $R_WAN 5000 1400 5 2>&1)
[ "$out" = 1280 ]
tap_result $? "a client's path MTU through the forward becomes 1280 (frag-needed from the router)" "got: $out" \
	"$(xm stats 2>&1 | grep -vE ' 0 +0 ')" "$(xm status)" "$(xm conntrack list)"

# ---- (a) lan's address changed ------------------------------------------------
ip -n "$NS_R" addr del $LAN2/24 dev lan && ip -n "$NS_R" addr add $LAN3/24 dev lan &&
	ip -n "$NS_B" route replace default via $LAN3 && ip -n "$NS_B" neigh flush dev eth0
wait_for 1 iface_is lan addr $LAN3
tap_result $? "lan $LAN2 -> $LAN3: in the maps within a second" "$(cat "$XM_TMP/st.json")"
logged "lan: address $LAN2 -> $LAN3"
tap_result $? "logged: 'lan: address $LAN2 -> $LAN3'" "$(cat "$FOLLOW_LOG")"
wait_for 5 stream_seen fwd $LAN3
tap_result $? "the UDP stream through the forward goes on, the backend now sees $LAN3" "$(cat "$XM_TMP/fwd.json")"
stream_grows masq recv
tap_result $? "the UDP stream through the masquerade carries on" "$(cat "$XM_TMP/masq.json")"
out=$(who 8080)
[ "$out" = "$LAN3" ]
tap_result $? "new connections through the forward work, the backend sees $LAN3" "got: $out"

# ---- counted ----------------------------------------------------------------------
rc=0 bad=""
for c in nic_address nic_mtu nic_down nic_up nic_gone nic_back; do
	v=$(counter $c)
	[ "${v:-0}" -ge 1 ] || { rc=1; bad="$bad $c=${v:-?}"; }
done
tap_result $rc "stats counts the events (nic_address, nic_mtu, nic_down, nic_up, nic_gone, nic_back)" "zero:$bad"
out=$(xm follow --once 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -z "$out" ] || rc=1
tap_result $rc "follow --once: nothing left to change, exits 0" "$out"
diag "xmasq follow's log:" "$(cat "$FOLLOW_LOG")"
tap_done
