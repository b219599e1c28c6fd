#!/bin/bash
# netns_xmasqd_follow.sh — xmasqd follows the NICs by itself (issue 11,
# items 6 and 7): no `xmasq follow`, no apply, traffic running.
#
#   client C 192.0.2.2 ── wan 192.0.2.1  router R  lan 198.18.8.1 ── backend B 198.18.8.2
#                                                  vf0 198.18.9.1 ── backend B2 198.18.9.2
#   forward wan tcp 8080 -> B:80, wan udp 5000 -> B:5000, wan tcp 8081 -> B2:80
#   masquerade 198.18.8.0/24 out wan
#
# xmasqd attaches wan lan vf0, serves HTTPS (for /metrics) and /healthz.
#  1. vf0 deleted: /healthz 503 naming vf0, status says gone, the streams
#     through lan and wan carry on; /metrics counts nic_gone
#  2. vf0 created again: re-attached by xmasqd (logged), tcp/8081 works
#     again, /healthz 200
#  3. lan's address changed (.1 -> .7): in the maps within a bounded wait,
#     logged by xmasqd; the UDP stream through the forward goes on with the
#     new address and a new connection works (flows masqueraded with the
#     old address, the TCP stream's, are dropped by design)
#  4. `xmasq attach --fresh` replaces the maps under xmasqd: it takes the
#     new ones (logged) and lan's next address change reaches them
# TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/netns/xmasqd_lib.sh
source "$(dirname "$0")/xmasqd_lib.sh"
xm_init curl openssl unshare
need_xmasq
[ -x "$XMASQD" ] || skip_all "$XMASQD not built (make)"
ensure_bpffs || exit 1

NS_R="xmdf-r-$$" NS_C="xmdf-c-$$" NS_B="xmdf-b-$$" NS_B2="xmdf-b2-$$"
XM_PIN="/sys/fs/bpf/xmasqd-follow-$$"
XM_PINS+=("$NS_R $XM_PIN")
PORT=8443 URL="https://router.test:8443"
# shellcheck source=selftests/netns/follow_lib.sh
. "$(dirname "$0")/follow_lib.sh"

XMD_CERTS="$XM_TMP/certs"
xmasqd_certs "$XMD_CERTS" || skip_all "openssl could not make the test certificates"
follow_up

xmasqd_bg "$NS_R" --pin-dir "$XM_PIN" --rules "$RULES" --listen 127.0.0.1:$PORT \
	--cert "$XMD_CERTS/server.pem" --key "$XMD_CERTS/server.key" --client-ca "$XMD_CERTS/ca.pem" \
	--origin "$URL" --health 127.0.0.1:8080 wan lan vf0
LOG="$XMD_LOG.out" FOLLOW_LOG="$XMD_LOG.out"
if ! wait_port "$NS_R" tcp 127.0.0.1 8080 20 || ! wait_port "$NS_R" tcp 127.0.0.1 $PORT; then
	tap_not_ok "xmasqd starts, attaches wan lan vf0 and listens" "$(cat "$XMD_LOG".*)"
	tap_done
fi
grep -q "following the managed NICs" "$LOG"
tap_result $? "xmasqd starts, attaches wan lan vf0 and follows their NICs (no xmasq follow)" "$(cat "$XMD_LOG".*)"

# health: the body, then the status on a line of its own
health() { timeout 10 nsenter --net="/run/netns/$NS_R" curl -sS -w '\n%{http_code}' http://127.0.0.1:8080/healthz 2>&1; }
health_is() { [ "$(health | tail -n 1)" = "$1" ]; }
metrics() { xmasqd_curl "$NS_R" $PORT client "$URL/metrics"; }

out=$(health)
[ "$(tail -n 1 <<<"$out")" = 200 ]
tap_result $? "/healthz: 200 with wan lan vf0 attached" "$out"
out=$(who 8080)
[ "$out" = "$LAN1" ]
tap_result $? "before: tcp/8080 through the forward, the backend sees $LAN1" "got: $out"

streams_up

# ---- 1. vf0 deleted ---------------------------------------------------------------
out=$(who 8081)
[ "$out" = "$VF" ]
tap_result $? "before: tcp/8081 through vf0, the backend sees $VF" "got: $out"
ip -n "$NS_R" link del vf0
wait_for 2 logged "vf0: gone"
tap_result $? "vf0 deleted: xmasqd logs 'vf0: gone'" "$(cat "$LOG")"
wait_for 2 health_is 503
out=$(health)
[ "$(tail -n 1 <<<"$out")" = 503 ] && grep -q "vf0.*gone" <<<"$out"
tap_result $? "/healthz: 503 naming vf0, gone" "$out"
iface_is vf0 gone true
tap_result $? "status --json: vf0 gone" "$(cat "$XM_TMP/st.json")"
out=$(metrics)
v=$(sed -n 's/^xmasq_packets_total{counter="nic_gone"} //p' <<<"$out")
[ "${v:-0}" -ge 1 ]
tap_result $? "/metrics counts it: xmasq_packets_total{counter=\"nic_gone\"} ${v:-missing}" "$(grep nic_ <<<"$out")"
stream_grows fwd recv && stream_grows masq recv && stream_grows tcp echoed
tap_result $? "the streams through lan and wan carry on" "$(cat "$XM_TMP"/fwd.json "$XM_TMP"/masq.json "$XM_TMP"/tcp.json 2>&1)"

# ---- 2. vf0 created again -------------------------------------------------------------
vf0_up
wait_for 3 logged "vf0: back"
tap_result $? "vf0 created again: xmasqd attaches it again ('vf0: back' logged)" "$(cat "$LOG")"
rc=0
iface_is vf0 gone false && [ "$(iface_json vf0 tc_prog_id)" -gt 0 ] || rc=1
tap_result $rc "status: vf0 present again with its programs" "$(cat "$XM_TMP/st.json")"
out=$(who 8081)
[ "$out" = "$VF" ]
tap_result $? "tcp/8081 through vf0 works again" "got: $out"
wait_for 2 health_is 200
out=$(health)
[ "$(tail -n 1 <<<"$out")" = 200 ]
tap_result $? "/healthz: 200 again" "$out"
# ---- 3. lan's address changed ---------------------------------------------------
ip -n "$NS_R" addr del $LAN1/24 dev lan && ip -n "$NS_R" addr add $LAN2/24 dev lan &&
	ip -n "$NS_B" route replace default via $LAN2 && ip -n "$NS_B" neigh flush dev eth0
wait_for 2 iface_is lan addr $LAN2
tap_result $? "lan $LAN1 -> $LAN2: in the maps within 2 s, no apply" "$(cat "$XM_TMP/st.json")"
wait_for 2 logged "lan: address $LAN1 -> $LAN2"
tap_result $? "xmasqd logs 'lan: address $LAN1 -> $LAN2'" "$(cat "$LOG")"
wait_for 5 stream_seen fwd $LAN2
tap_result $? "the UDP stream through the forward goes on, the backend now sees $LAN2" "$(cat "$XM_TMP/fwd.json")"
out=$(who 8080)
[ "$out" = "$LAN2" ]
tap_result $? "a new connection through the forward works, the backend sees $LAN2" "got: $out"

stream_grows masq recv
tap_result $? "the UDP stream through the masquerade carries on" "$(cat "$XM_TMP/masq.json")"
# ---- 4. new maps under it: xmasqd follows them -------------------------------------
out=$(xm attach --fresh --rules "$RULES" wan lan vf0 2>&1)
tap_result $? "xmasq attach --fresh under xmasqd (new maps)" "$out"
# A tick may see the old pins gone before the new ones are pinned: then
# "detached", and "attached again" on the next one.
wait_for 3 grep -Eq "new maps \(attached again with --fresh\): following them|a router is attached again: following its NICs" "$LOG"
tap_result $? "xmasqd takes the new maps within a tick or two" "$(cat "$LOG")"
ip -n "$NS_R" addr del $LAN2/24 dev lan && ip -n "$NS_R" addr add $LAN3/24 dev lan &&
	ip -n "$NS_B" route replace default via $LAN3 && ip -n "$NS_B" neigh flush dev eth0
wait_for 2 iface_is lan addr $LAN3
tap_result $? "lan $LAN2 -> $LAN3 after --fresh: in the new maps within 2 s" "$(cat "$XM_TMP/st.json")" "$(cat "$LOG")"
out=$(who 8080)
[ "$out" = "$LAN3" ]
tap_result $? "a new connection through the forward works, the backend sees $LAN3" "got: $out"

kill -TERM "$XMD_PID"
wait "$XMD_PID"
tap_result $? "SIGTERM: xmasqd exits 0" "$(cat "$XMD_LOG".*)"
diag "xmasqd's log:" "$(cat "$XMD_LOG".*)"
tap_done
