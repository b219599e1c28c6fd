#!/bin/bash
# Port capacity of a forward under real load: nginx behind
# `forward eth0 tcp 8080 to 198.18.0.2:80`, Apache's ab opening short
# connections (no keep-alive, as load and health checkers do), first from
# one client (60,000 connections, 64 at a time), then from four client
# addresses at once (40,000 each). Every connection leaves a lingering
# flow (the backend closes first: its side keeps TIME_WAIT), so a router
# that hoards ports while flows linger stalls after a few thousand. Before
# them, a smaller four-client load (check_time_waits) counts the SYNs the
# backend refuses on a tuple another client left in TIME_WAIT.
#
# xmasq runs in xdp mode (veth peers with GRO, so redirected frames are
# delivered) and in tc mode (plain veth peers). When one of its loads
# fails, the same loads run through the iptables recipe in the same
# topology: where it passes and xmasq fails, xmasq has a bug
# (XM_PORTS_YARDSTICK=1: iptables first, always).
#
# Then which port a forwarded flow leaves with (check_port_choice): the
# client's own where it is free, inside the router's ephemeral range too
# for TCP; never one the router's own sockets hold; a TCP flow closed by
# FINs both ways and the last ACK gives its port up to the router's own
# connection. TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init ab nginx
need_xmasq

AB_ONE=${AB_ONE:-60000}  # connections from one client
AB_EACH=${AB_EACH:-40000} # connections from each of four clients
AB_CONC=64
AB_TW=${AB_TW:-2500} # connections from each of four clients, below 64 k in 60 s
# four client addresses on C0's link, each with its own ephemeral ports
FOUR_SRC="192.0.2.10 192.0.2.11 192.0.2.12 192.0.2.13"

# nginx_up: nginx on the backend's tcp/80 answering every request with a
# short body, its files under this run's temp dir
nginx_up() {
	local dir="$XM_TMP/nginx-$TOPO_VARIANT"
	mkdir -p "$dir"
	cat >"$dir/nginx.conf" <<EOF
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log;
daemon off;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path $dir;
	proxy_temp_path $dir;
	fastcgi_temp_path $dir;
	uwsgi_temp_path $dir;
	scgi_temp_path $dir;
	server {
		listen $B_ADDR:80 backlog=4096;
		location / { return 200 "ok\n"; }
	}
}
EOF
	nsx "$NS_B" nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/stdout" 2>&1 &
	XM_PIDS+=($!)
	wait_port "$NS_B" tcp $B_ADDR 80 || { cat "$dir/stdout" "$dir/error.log" >&2; return 1; }
}

# ab_run N [SRC]: N connections from C0 (bound to SRC when given) to the
# forward; prints "complete failed exit" of ab
ab_run() {
	local n=$1 src=${2:-} out bind=()
	[ -n "$src" ] && bind=(-B "$src")
	out=$(timeout --kill-after=5 180 nsenter --net="/run/netns/$NS_C0" \
		ab -q -n "$n" -c $AB_CONC -s 10 -r "${bind[@]}" "http://$R_ADDR0:8080/" 2>&1)
	local rc=$?
	local done failed
	done=$(awk '/^Complete requests:/ { print $3 }' <<<"$out")
	failed=$(awk '/^Failed requests:/ { print $3 }' <<<"$out")
	echo "${done:-0} ${failed:-?} $rc"
	[ "$rc" -eq 0 ] || printf '%s\n' "$out" | tail -n 5 >&2
}

# check_load LABEL: the one-client and four-client loads through the
# router set up now, each completing with no failure. The iptables recipe
# is the yardstick, not the code under test: when it fails, the router's
# netfilter counters are shown and the load runs once more (a failure of
# the second run fails the check); xmasq's loads run once.
check_load() {
	local label=$1 rc tries=1
	[ "$label" = iptables ] && tries=2
	rc=1
	for _ in $(seq $tries); do
		one_client_load "$label" && rc=0 && break
		[ "$label" = iptables ] && diag "iptables: netfilter after the failed run: $(nf_stats)"
	done
	tap_result $rc "$label: one client, $AB_ONE connections ($AB_CONC at a time): all complete, none failed"
	rc=1
	local paws0 paws1
	paws0=$(backend_paws_refused)
	for _ in $(seq $tries); do
		four_client_load && rc=0 && break
		[ "$label" = iptables ] && diag "iptables: netfilter after the failed run: $(nf_stats)"
	done
	tap_result $rc "$label: four clients at once, $AB_EACH connections each: all complete, none failed"
	paws1=$(backend_paws_refused)
	if [ "$paws0" = - ] || [ "$paws1" = - ]; then
		[ "$label" = iptables ] ||
			tap_skip "$label: beyond the ports' capacity, SYNs the backend refused on a TIME_WAIT tuple" "this kernel does not count TcpExtPAWSTimewait (newer kernels do)"
		return
	fi
	local n=$((paws1 - paws0)) most=$((4 * AB_EACH / 200))
	if [ "$label" = iptables ]; then
		diag "iptables: four clients, $((4 * AB_EACH)) connections, beyond what 64 k ports hold for 60 s: the backend refused $n SYNs on a TIME_WAIT tuple (PAWSTimewait)"
		return
	fi
	# Ports go round while the backend still holds them in TIME_WAIT for
	# other clients: their timestamps are shifted past the old
	# connection's (bpf/ts_shift.h), so the backend takes the SYNs
	# (without the shift it refused about 5,500 here; iptables about 55,000).
	# With it, 92 to 214 of 160,000 in runs on one machine (the most after
	# a full make check): the bound, 1 in 200, is four times the most seen
	# and still a seventh of what a lost shift gives.
	[ "$n" -le "$most" ]
	tap_result $? "$label: four clients, $((4 * AB_EACH)) connections, beyond what 64 k ports hold for 60 s: the backend refused $n SYNs on a TIME_WAIT tuple (PAWSTimewait; at most $most; flow_ts_shifted $(counter flow_ts_shifted))"
}

# backend_paws_refused: the SYNs the backend refused on a TIME_WAIT tuple
# (PAWS: the SYN's timestamp older than the last one seen on that tuple)
backend_paws_refused() {
	nsx "$NS_B" awk 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i }
		NR == 2 { print ("PAWSTimewait" in h) ? $h["PAWSTimewait"] : "-" }' /proc/net/netstat
}

# check_time_waits LABEL: four clients at once, AB_TW connections each,
# twice, fewer than one address's 64 k ports hold for the backend's 60 s
# of TIME_WAIT. Between the two rounds xmasq's flows go (conntrack flush,
# as their tcp-close expiry would 10 s on): their ports are free in the
# table, and the backend still holds them in TIME_WAIT. The clients' ports
# overlap, so a client's own port is often one another client left there;
# a SYN on it comes with another client's timestamps and the backend may
# refuse it (PAWS: the client waits for its SYN to be resent, or fails).
# xmasq notes those tuples and gives them to other clients only when no
# other port is free: the backend refuses at most 1 in 1,000 (without the
# notes, about a tenth). iptables' figure is shown, not judged (netfilter
# keeps a closed tuple 120 s).
check_time_waits() {
	local label=$1 paws0 paws1 n most=$((8 * AB_TW / 1000)) rc=0
	paws0=$(backend_paws_refused)
	four_client_load "$AB_TW" || rc=1
	[ "$label" = iptables ] || xm conntrack flush >/dev/null || rc=1
	four_client_load "$AB_TW" || rc=1
	tap_result $rc "$label: four clients at once, $AB_TW connections each, twice: all complete, none failed"
	paws1=$(backend_paws_refused)
	if [ "$paws0" = - ] || [ "$paws1" = - ]; then
		tap_skip "$label: SYNs the backend refused on a TIME_WAIT tuple" "this kernel does not count TcpExtPAWSTimewait (newer kernels do)"
		return
	fi
	n=$((paws1 - paws0))
	if [ "$label" = iptables ]; then
		diag "iptables: four clients, $((8 * AB_TW)) connections: the backend refused $n SYNs on a TIME_WAIT tuple (PAWSTimewait)"
		return
	fi
	[ "$n" -le "$most" ]
	tap_result $? "$label: the backend refused $n of $((8 * AB_TW)) SYNs on a TIME_WAIT tuple (PAWSTimewait; at most $most; flow_port_time_wait $(counter flow_port_time_wait))"
}

# one_client_load: AB_ONE connections from C0, none failed (diag otherwise)
one_client_load() {
	local res done failed rc
	res=$(ab_run "$AB_ONE" 2>"$XM_TMP/ab-err")
	read -r done failed rc <<<"$res"
	[ "$rc" -eq 0 ] && [ "$done" -eq "$AB_ONE" ] && [ "$failed" = 0 ] && return 0
	diag "$1: one client: ab $done complete, $failed failed, exit $rc" "$(cat "$XM_TMP/ab-err")"
	return 1
}

# four_client_load [N]: N (AB_EACH) connections from each of FOUR_SRC at
# once, none failed (diag otherwise)
four_client_load() {
	local res done failed rc=0 i=0 pids=() f src each=${1:-$AB_EACH}
	for src in $FOUR_SRC; do
		ab_run "$each" "$src" >"$XM_TMP/ab-$i" 2>"$XM_TMP/ab-err-$i" &
		pids+=($!)
		i=$((i + 1))
	done
	wait "${pids[@]}"
	for f in "$XM_TMP"/ab-[0-9]; do
		read -r done failed res <<<"$(cat "$f")"
		if [ "$res" != 0 ] || [ "$done" != "$each" ] || [ "$failed" != 0 ]; then
			rc=1
			diag "$(basename "$f"): ab $done complete, $failed failed, exit $res" "$(cat "${f/ab-/ab-err-}")"
		fi
	done
	rm -f "$XM_TMP"/ab-[0-9] "$XM_TMP"/ab-err-[0-9]
	return $rc
}

# nf_stats: the router namespace's conntrack counters that explain a
# failed connection (summed over CPUs), and its table's size
nf_stats() {
	nsx "$NS_R" python3 -c '
rows = [l.split() for l in open("/proc/net/stat/nf_conntrack")]
s = {k: sum(int(r[i], 16) for r in rows[1:]) for i, k in enumerate(rows[0])}
print("entries %d, insert_failed %d, drop %d, early_drop %d, invalid %d, clashres %d" % (
    int(rows[1][0], 16), s["insert_failed"], s["drop"], s["early_drop"], s["invalid"], s["clashres"]))' 2>&1
}

four_clients_up() {
	local a
	for a in $FOUR_SRC; do
		ip -n "$NS_C0" addr add "$a/24" dev eth0 || return 1
	done
}

# iptables keeps every connection in its conntrack table (TIME_WAIT 120 s):
# the host's nf_conntrack_max must hold both loads
ipt_room() {
	local max
	modprobe nf_conntrack 2>/dev/null
	max=$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo 0)
	[ "$max" -ge $((AB_ONE + 4 * AB_EACH + 10000)) ]
}

# port_seen_udp: the source port the backend saw on its last UDP datagram
port_seen_udp() { tail -n 1 "$BACKEND_LOG/udp.log" | sed -E 's/^[0-9.]+:([0-9]+) .*/\1/'; }

# flow_state SPORT: the state of the forwarded flow from C0's port SPORT
flow_state() {
	xm conntrack list --json >"$XM_TMP/ct.json" 2>/dev/null &&
		json_get "$XM_TMP/ct.json" "[c['state'] for c in d if c['original'].startswith('$C0_SRC:$1 ')]"
}

# check_port_choice MODE: the router's own sockets against the ports
# forwarded flows take (the router's ephemeral range is 32768-60999)
check_port_choice() {
	local mode=$1 out rc seen n0 n1
	local pc="ports.py"
	out=$(pyrun "$NS_C0" 10 $pc whoami --src $C0_SRC --sport 40001 "http://$R_ADDR0:8080/whoami" 2>&1)
	[ "$out" = "$R_ADDR2:40001" ]
	tap_result $? "$mode: TCP keeps the client's port 40001 (in the router's ephemeral range)" "backend saw: $out"

	pyrun_bg "$NS_R" 60 $pc hold tcp 0.0.0.0 40002
	wait_port "$NS_R" tcp 0.0.0.0 40002
	out=$(pyrun "$NS_C0" 10 $pc whoami --src $C0_SRC --sport 40002 "http://$R_ADDR0:8080/whoami" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "${out%%:*}" = "$R_ADDR2" ] && [ "${out#*:}" != 40002 ]
	tap_result $? "$mode: TCP does not keep port 40002, the router listens on it (got ${out#*:})" "backend saw: $out"

	out=$(pyrun "$NS_C0" 10 $pc udp --src $C0_SRC --sport 40003 "$R_ADDR0" 5000 p3 2>&1)
	seen=$(port_seen_udp)
	[ "$out" = "echo:$R_ADDR2:p3" ] && [ "$seen" != 40003 ] && { [ "$seen" -lt 32768 ] || [ "$seen" -gt 60999 ]; }
	tap_result $? "$mode: UDP from port 40003 leaves outside the router's ephemeral range (port $seen)" "reply: $out"

	out=$(pyrun "$NS_C0" 10 $pc udp --src $C0_SRC --sport 20001 "$R_ADDR0" 5000 p4 2>&1)
	seen=$(port_seen_udp)
	[ "$out" = "echo:$R_ADDR2:p4" ] && [ "$seen" = 20001 ]
	tap_result $? "$mode: UDP keeps the client's port 20001 (free, outside the ephemeral range)" "reply: $out, backend saw port $seen"

	pyrun_bg "$NS_R" 60 $pc hold udp 0.0.0.0 20002
	wait_port "$NS_R" udp 0.0.0.0 20002
	out=$(pyrun "$NS_C0" 10 $pc udp --src $C0_SRC --sport 20002 "$R_ADDR0" 5000 p5 2>&1)
	seen=$(port_seen_udp)
	[ "$out" = "echo:$R_ADDR2:p5" ] && [ "$seen" != 20002 ]
	tap_result $? "$mode: UDP does not keep port 20002, a router socket is bound to it (port $seen)" "reply: $out"

	out=$(pyrun "$NS_C0" 10 $pc closed --src $C0_SRC --sport 40005 "$R_ADDR0" 8080 2>&1)
	rc=$?
	[ $rc -eq 0 ] && wait_for 3 test "$(flow_state 40005)" = '["close"]'
	tap_result $? "$mode: FINs both ways and the last ACK close the flow at once" \
		"client: $out" "flow state: $(flow_state 40005)"
	n0=$(counter pass_router_port)
	out=$(pyrun "$NS_R" 10 $pc whoami --src $R_ADDR2 --sport 40005 "http://$B_ADDR:80/whoami" 2>&1)
	n1=$(counter pass_router_port)
	[ "$out" = "$R_ADDR2:40005" ] && [ "$((n1 - n0))" -ge 1 ] && [ "$(flow_state 40005)" = '[]' ]
	tap_result $? "$mode: the router's own connection from port 40005 gets its SYN-ACK; the closed flow gives way" \
		"router's GET /whoami: $out" "pass_router_port $n0 -> $n1" "flow: $(flow_state 40005)"
}

# check_as_list MODE: a forward with `as` two of eth2's addresses and a
# 16-port range: 32 UDP flows whose client ports cannot be kept spread
# over both addresses (a forward picks one at random per flow; a flow
# whose address is full takes the other) and all get through, 16 on each
# (by the random picks alone, 1 run in 7); two more are refused; stats,
# diff and the refusal of an address the router does not have.
check_as_list() {
	local mode=$1 out out2 rc n0 n1 n2 a1 a2 rules="$XM_TMP/as-$1.conf"
	ip -n "$NS_R" addr add 198.18.0.3/24 dev eth2
	printf '%s\nforward eth0 udp 6000 to %s:5000 as %s,198.18.0.3\nset port-range 20000-20015\n' \
		"$XM_RULES" "$B_ADDR" "$R_ADDR2" >"$rules"
	out=$(xm apply "$rules" 2>&1 && xm conntrack flush 2>&1)
	tap_result $? "$mode: as: a forward with two addresses applies (flows flushed)" "$out"
	n0=$(counter drop_no_port)
	: >"$BACKEND_LOG/udp.log"
	out=$(pyrun "$NS_C0" 15 ports.py udp-many --src $C0_SRC --sports 40100-40131 "$R_ADDR0" 6000 2>&1)
	n1=$(counter drop_no_port)
	a1=$(grep -c "^$R_ADDR2:" "$BACKEND_LOG/udp.log")
	a2=$(grep -c "^198.18.0.3:" "$BACKEND_LOG/udp.log")
	[ "$a1" = 16 ] && [ "$a2" = 16 ] && [ "$out" = 32 ] && [ $((n1 - n0)) = 0 ]
	tap_result $? "$mode: as: 32 flows over two addresses of 16 ports: all through ($a1 + $a2)" \
		"answered: $out" "backend saw $R_ADDR2 $a1 times, 198.18.0.3 $a2 times" \
		"drop_no_port +$((n1 - n0))"
	out2=$(pyrun "$NS_C0" 5 ports.py udp-many --timeout 2 --src $C0_SRC --sports 40132-40133 "$R_ADDR0" 6000 2>&1)
	n2=$(counter drop_no_port)
	[ "$out2" = 0 ] && [ $((n2 - n1)) = 2 ]
	tap_result $? "$mode: as: with both addresses full, two more flows are refused" \
		"answered: $out2" "drop_no_port +$((n2 - n1))"
	out=$(xm stats 2>&1)
	grep -q "forward eth0 udp 6000 to $B_ADDR:5000 as $R_ADDR2,198.18.0.3" <<<"$out"
	tap_result $? "$mode: as: stats shows the rule with its list" "$out"
	sed -i "s/ as $R_ADDR2,198.18.0.3/ as 198.18.0.3/" "$rules"
	out=$(xm apply --diff "$rules" 2>&1)
	grep -qF "~ forward eth0 udp 6000 to $B_ADDR:5000 as $R_ADDR2,198.18.0.3 => forward eth0 udp 6000 to $B_ADDR:5000 as 198.18.0.3" <<<"$out"
	tap_result $? "$mode: as: apply --diff shows the list's change" "$out"
	sed -i "s/ as 198.18.0.3/ as 198.18.0.9/" "$rules"
	out=$(xm apply "$rules" 2>&1)
	rc=$?
	[ $rc = 2 ] && grep -q "198.18.0.9 is not an address of this router" <<<"$out"
	tap_result $? "$mode: as: an address the router lacks is refused, nothing applied (exit $rc)" "$out"
}

for mode in xdp:gro tc:plain; do
	router=${mode%%:*} variant=${mode#*:}
	diag "==== port choice, xmasq $router, $variant veth peers"
	if ! topo_up "$variant" "choice-$router" || ! backend_up; then
		tap_not_ok "$router: build topology and backend"
		topo_down
		continue
	fi
	nsx "$NS_R" sysctl -qw net.ipv4.ip_local_port_range="32768 60999"
	router_xmasq_vars
	tap_check "xmasq router set up ($router mode)" router_xmasq_up "$router"
	check_port_choice "xmasq $router"
	check_as_list "xmasq $router"
	topo_down
done

# load_run ROUTER VARIANT: the loads through ROUTER (iptables, xdp, tc) on
# a fresh topology with VARIANT veth peers
LOAD_FAILED=0
load_run() {
	local router=$1 variant=$2 dnp reused t0=$T_FAILED
	diag "==== $router router, $variant veth peers"
	if ! topo_up "$variant" "$router" || ! four_clients_up || ! nginx_up; then
		tap_not_ok "$router: build topology and nginx backend"
		topo_down
		return
	fi
	if [ "$router" = iptables ]; then
		if ! command -v iptables >/dev/null || ! ipt_room; then
			tap_skip "iptables: one client" "needs iptables and nf_conntrack_max >= $((AB_ONE + 4 * AB_EACH + 10000))"
			tap_skip "iptables: four clients" "needs iptables and nf_conntrack_max >= $((AB_ONE + 4 * AB_EACH + 10000))"
			topo_down
			return
		fi
		tap_check "iptables router set up" router_iptables_up connmark
		check_time_waits "iptables"
		check_load "iptables"
	else
		router_xmasq_vars
		tap_check "xmasq router set up ($router mode)" router_xmasq_up "$router"
		check_time_waits "xmasq $router"
		check_load "xmasq $router"
		dnp=$(counter drop_no_port)
		[ "${dnp:-x}" = 0 ]
		tap_result $? "xmasq $router: no new flow was refused for want of a port (drop_no_port ${dnp:-?})"
		reused=$(counter flow_port_reused)
		[ "${reused:-0}" -gt 0 ]
		tap_result $? "xmasq $router: new flows took the ports of closed ones (flow_port_reused ${reused:-?})"
		diag "xmasq $router: flow_new $(counter flow_new), flow_port_reused $reused, drop_stale_segment $(counter drop_stale_segment)" \
			"drop_tcp_rst_out_of_window $(counter drop_tcp_rst_out_of_window), tcp_rst_in_window_inexact $(counter tcp_rst_in_window_inexact), drop_tcp_fin_out_of_window $(counter drop_tcp_fin_out_of_window), tcp_syn_on_established $(counter tcp_syn_on_established)"
		[ "$T_FAILED" = "$t0" ] || LOAD_FAILED=1
	fi
	topo_down
}

# xmasq in both modes; the iptables recipe, the yardstick, when one of
# them failed: where it passes the same loads, xmasq has a bug; where it
# fails too, the machine cannot carry them. (Run always, it took a third
# of this suite, about 40 s of CI, to say nothing when xmasq passed;
# XM_PORTS_YARDSTICK=1 runs it first, as before.)
if [ -n "${XM_PORTS_YARDSTICK:-}" ]; then
	load_run iptables plain
	load_run xdp gro
	load_run tc plain
else
	load_run xdp gro
	load_run tc plain
	if [ "$LOAD_FAILED" = 1 ]; then
		diag "an xmasq load failed: the same loads through the iptables recipe (the yardstick)"
		load_run iptables plain
	fi
fi
tap_done
