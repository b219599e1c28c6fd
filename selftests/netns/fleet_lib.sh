# shellcheck shell=bash
# selftests/netns/fleet_lib.sh — a fleet on this machine (source it after
# lib.sh): etcd members from Debian's etcd-server, each in its own
# namespace (never the packaged service), and routers running xmasqd
# --etcd, each in its own namespace with a client and a backend.
#
#   management net 198.18.100.0/24 on a bridge in $FL_SW (which holds
#   .1 and runs etcdctl and xmasq publish); member i at 198.18.100.1i,
#   router i at 198.18.100.2i (mgmt0)
#
#   client C_i 192.0.2.2 ─ eth0 [router R_i 192.0.2.1 | 198.18.0.1] eth1 ─ backend B_i 198.18.0.2
#                                        (echo server on tcp 9000)
#
#   fleet_up N_MEMBERS         the switch and the members, started and healthy
#   member_start I / member_kill I / member_pid I
#   fleet_ctl ARGS...          etcdctl against every member
#   router_up I RULES_FILE     R_i, C_i, B_i and xmasqd (pin dir registered)
#   router_xmasqd I [EXTRA...] (re)start xmasqd on R_i (FL_XPID[I] its pid)
#   fleet_status_field I EXPR  python EXPR on d = R_i's status in the store
#   publish ARGS...            xmasq publish --etcd $FL_URLS ... from $FL_SW

XMASQD="${XMASQD:-$XM_ROOT/build/xmasqd}"
FL_SW="xf-sw-$$"
FL_NET=198.18.100
FL_URLS=""
FL_MEMBERS=0
declare -a FL_EPID FL_XPID FL_XLOG

fl_link() { # NS ADDR: a veth from NS (mgmt0, ADDR/24) to the bridge
	local ns=$1 addr=$2 peer="p$RANDOM$RANDOM"
	ip -n "$FL_SW" link add "$peer" type veth peer name mgmt0 netns "$ns" &&
		ip -n "$FL_SW" link set "$peer" master br0 up &&
		ip -n "$ns" addr add "$addr/24" dev mgmt0 &&
		ip -n "$ns" link set mgmt0 up
}

member_ns() { echo "xf-e$1-$$"; }

member_start() {
	local i=$1 a=$FL_NET.1$1 cluster="" k
	for k in $(seq 1 "$FL_MEMBERS"); do
		cluster="$cluster${cluster:+,}m$k=http://$FL_NET.1$k:2380"
	done
	# Elections as etcd's defaults (heartbeat 100 ms, election 1 s); rule
	# sets of 100,000 rules are about 4 MB, over the 1.5 MiB etcd takes by
	# default in one request.
	nsenter --net="/run/netns/$(member_ns "$i")" etcd --name "m$i" --data-dir "$XM_TMP/etcd$i" \
		--listen-client-urls "http://$a:2379" --advertise-client-urls "http://$a:2379" \
		--listen-peer-urls "http://$a:2380" --initial-advertise-peer-urls "http://$a:2380" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token "xf-$$" --heartbeat-interval 100 --election-timeout 1000 \
		--max-request-bytes 33554432 \
		>>"$XM_TMP/etcd$i.log" 2>&1 &
	FL_EPID[i]=$!
	XM_PIDS+=($!)
}

member_kill() {
	kill -9 "${FL_EPID[$1]}" 2>/dev/null
	wait "${FL_EPID[$1]}" 2>/dev/null
	FL_EPID[$1]=""
}

fleet_ctl() { timeout 20 nsenter --net="/run/netns/$FL_SW" etcdctl --endpoints "$FL_URLS" --command-timeout=3s "$@"; }

fleet_healthy() { fleet_ctl endpoint health >/dev/null 2>&1; }

fleet_up() {
	local n=$1 i
	FL_MEMBERS=$n
	ns_add "$FL_SW" || return 1
	ip -n "$FL_SW" link add br0 type bridge && ip -n "$FL_SW" link set br0 up &&
		ip -n "$FL_SW" addr add "$FL_NET.1/24" dev br0 || return 1
	for i in $(seq 1 "$n"); do
		ns_add "$(member_ns "$i")" && fl_link "$(member_ns "$i")" "$FL_NET.1$i" || return 1
		FL_URLS="$FL_URLS${FL_URLS:+,}http://$FL_NET.1$i:2379"
	done
	for i in $(seq 1 "$n"); do member_start "$i"; done
	wait_for 30 fleet_healthy
}

# The member that leads now (its number), from etcdctl endpoint status.
fleet_leader() {
	fleet_ctl endpoint status -w json 2>/dev/null | "$XM_PY" -c '
import json, sys
for e in json.load(sys.stdin):
    s = e["Status"]
    if s["leader"] == s["header"]["member_id"]:
        print(e["Endpoint"].split(":")[1].split(".")[-1][-1])
        break
'
}

publish() { timeout 60 nsenter --net="/run/netns/$FL_SW" "$XMASQ" publish --etcd "$FL_URLS" "$@"; }

router_ns() { echo "xf-r$1-$$"; }
client_ns() { echo "xf-c$1-$$"; }
router_pin() { echo "/sys/fs/bpf/xmasq-test-$$-fleet$1"; }

router_up() {
	local i=$1 r c b
	r=$(router_ns "$i") c=$(client_ns "$i") b="xf-b$i-$$"
	ns_add "$r" "$c" "$b" || return 1
	ip -n "$r" link add eth0 type veth peer name eth0 netns "$c" &&
		ip -n "$r" link add eth1 type veth peer name eth0 netns "$b" || return 1
	ip -n "$r" addr add 192.0.2.1/24 dev eth0 && ip -n "$r" addr add 198.18.0.1/24 dev eth1 &&
		ip -n "$c" addr add 192.0.2.2/24 dev eth0 && ip -n "$b" addr add 198.18.0.2/24 dev eth0 || return 1
	ip -n "$r" link set eth0 up && ip -n "$r" link set eth1 up &&
		ip -n "$c" link set eth0 up && ip -n "$b" link set eth0 up || return 1
	ip -n "$c" route add default via 192.0.2.1 || return 1
	peers_gro "$c:eth0" "$b:eth0" || return 1
	fl_link "$r" "$FL_NET.2$i" || return 1
	XM_PINS+=("$r $(router_pin "$i")")
	nsx "$b" "$XM_PY" "$XM_DATA/fleet_probe.py" serve 198.18.0.2 9000 >"$XM_TMP/b$i.log" 2>&1 &
	XM_PIDS+=($!)
	wait_port "$b" tcp 198.18.0.2 9000 || return 1
	cp "$2" "$XM_TMP/r$i.rules"
	router_xmasqd "$i" eth0 eth1
}

# router_xmasqd I [IFACE...]: xmasqd on R_i, following ruleset "web" (or $FL_RULESET)
router_xmasqd() {
	local i=$1
	shift
	FL_XN=$((${FL_XN:-0} + 1))
	FL_XLOG[i]="$XM_TMP/xmasqd$i-$FL_XN.log"
	local page=()
	# FL_TLS (xmasqd_certs' directory): r1 serves the page on 127.0.0.1:8443
	[ "$i" = 1 ] && [ -n "$FL_TLS" ] && page=(--listen 127.0.0.1:8443 --cert "$FL_TLS/server.pem"
		--key "$FL_TLS/server.key" --client-ca "$FL_TLS/ca.pem")
	nsenter --net="/run/netns/$(router_ns "$i")" "$XMASQD" --pin-dir "$(router_pin "$i")" \
		--rules "$XM_TMP/r$i.rules" --cache "$XM_TMP/r$i.cache" --etcd "$FL_URLS" \
		--router-id "r$i" --ruleset "${FL_RULESET:-web}" --audit-log "$XM_TMP/r$i.audit" "${page[@]}" "$@" \
		>"${FL_XLOG[i]}" 2>&1 &
	FL_XPID[i]=$!
	XM_PIDS+=($!)
	wait_for 20 grep -q "^applied" "${FL_XLOG[i]}"
}

# rxm I ARGS...: build/xmasq on R_i
rxm() { timeout 30 nsenter --net="/run/netns/$(router_ns "$1")" "$XMASQ" --pin-dir "$(router_pin "$1")" "${@:2}"; }

# fleet_status_field I EXPR: EXPR with d = R_i's status/ri value (store)
fleet_status_field() {
	fleet_ctl get --print-value-only "/xmasq/v1/status/r$1" 2>/dev/null |
		"$XM_PY" -c 'import json,sys
d = json.loads(sys.stdin.read())
print(eval(sys.argv[1]))' "$2"
}

# local_fleet_field I EXPR: EXPR with d = `xmasq status --json`["fleet"] of R_i
local_fleet_field() {
	rxm "$1" status --json 2>/dev/null | "$XM_PY" -c 'import json,sys
d = json.load(sys.stdin)["fleet"]
print(eval(sys.argv[1]))' "$2"
}

# Conditions for wait_for (evaluated at each try):
local_is() { [ "$(local_fleet_field "$1" "$2")" = "$3" ]; } # I EXPR VALUE
store_is() { [ "$(fleet_status_field "$1" "$2")" = "$3" ]; } # I EXPR VALUE
lines_over() { [ "$(cat "$1" 2>/dev/null | wc -l)" -gt "$2" ]; } # FILE N
key_gone() { [ -z "$(fleet_ctl get --keys-only "$1" 2>/dev/null)" ] && fleet_healthy; }

# connects I PORT: a client of R_i connects to 192.0.2.1:PORT (forwarded)
connects() {
	timeout 10 nsenter --net="/run/netns/$(client_ns "$1")" "$XM_PY" -c 'import socket,sys
s = socket.create_connection(("192.0.2.1", int(sys.argv[1])), timeout=3)
s.sendall(b"x"); sys.exit(0 if s.recv(1) == b"x" else 1)' "$2" 2>/dev/null
}

# The rule set's revision in the store (its mod_revision).
head_rev() {
	fleet_ctl get /xmasq/v1/rulesets/web -w json | "$XM_PY" -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["mod_revision"])'
}
