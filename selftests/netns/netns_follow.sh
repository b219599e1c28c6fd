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
FOLLOW_LOG="$XM_TMP/follow.log"
# shellcheck source=selftests/netns/follow_lib.sh
. "$(dirname "$0")/follow_lib.sh"
follow_up
# vf0 in native XDP (a VF would be): it must come back in that mode
if ! out=$(xm attach wan lan 2>&1 && xm attach --mode xdp vf0 2>&1 && xm apply "$RULES" 2>&1); then
	echo "Bail out! attach/apply failed: $out"
	exit 1
fi

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
streams_up

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
