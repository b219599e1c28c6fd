# shellcheck shell=bash
# selftests/netns/follow_lib.sh — the topology and helpers the NIC-follower
# suites share (netns_follow.sh: `xmasq follow`; netns_xmasqd_follow.sh:
# xmasqd). Source it after lib.sh and xm_init, with NS_R NS_C NS_B NS_B2
# named by the suite and FOLLOW_LOG the follower's log:
#
#   client C 192.0.2.2 ── wan 192.0.2.1  router R  lan 198.18.8.1 ── backend B 198.18.8.2
#                                                  vf0 198.18.9.1 ── backend B2 198.18.9.2
#
# RULES: forwards wan tcp 8080 and udp 5000 to B, tcp 8081 to B2, and
# masquerade 198.18.8.0/24 out wan. Servers from py/follow_peer.py.

R_WAN=192.0.2.1 C=192.0.2.2 LAN1=198.18.8.1 LAN2=198.18.8.7 LAN3=198.18.8.9 B=198.18.8.2
VF=198.18.9.1 B2=198.18.9.2

peer() { local ns=$1; shift; nsx "$ns" timeout 20 "$XM_PY" "$XM_DATA/follow_peer.py" "$@"; }

vf0_up() {
	ip -n "$NS_R" link add vf0 type veth peer name eth0 netns "$NS_B2" || return 1
	ip -n "$NS_R" addr add $VF/24 dev vf0 && ip -n "$NS_B2" addr add $B2/24 dev eth0 || return 1
	ip -n "$NS_R" link set vf0 up && ip -n "$NS_B2" link set eth0 up
}

follow_topo() {
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

# follow_up: the topology, its servers and RULES; bails out when it cannot
follow_up() {
	if ! follow_topo || ! start_server "$NS_B" $B || ! start_server "$NS_B2" $B2 ||
		! start_server "$NS_C" $C; then
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
}

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

# streams_up: the traffic the changes happen under (UDP through the forward
# and the masquerade, TCP through the forward, each writing its counts to
# XM_TMP/NAME.json), checked running
streams_up() {
	nsx "$NS_C" timeout 300 "$XM_PY" "$XM_DATA/follow_peer.py" udp-stream $R_WAN 5000 "$XM_TMP/fwd.json" &
	XM_PIDS+=("$!")
	nsx "$NS_B" timeout 300 "$XM_PY" "$XM_DATA/follow_peer.py" udp-stream $C 5000 "$XM_TMP/masq.json" &
	XM_PIDS+=("$!")
	nsx "$NS_C" timeout 300 "$XM_PY" "$XM_DATA/follow_peer.py" tcp-stream $R_WAN 8080 "$XM_TMP/tcp.json" &
	XM_PIDS+=("$!")
	stream_grows fwd recv && stream_grows masq recv && stream_grows tcp echoed
	tap_result $? "streams running: UDP through the forward and the masquerade, TCP through the forward" \
		"$(cat "$XM_TMP"/fwd.json "$XM_TMP"/masq.json "$XM_TMP"/tcp.json 2>&1)"
}
