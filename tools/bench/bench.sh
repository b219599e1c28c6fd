#!/bin/bash
# tools/bench/bench.sh — `make bench`: xmasq (XDP and tc modes) against the
# iptables recipe, the same in nftables, and a bare XDP redirect, on one
# namespace topology, interleaved (every system once per repetition), with
# medians/min/max written to build/bench/results.{json,md,png}.
#
#   generator G eth0 ──── eth0 router R eth1 ──── eth0 sink S
#   192.0.2.2               192.0.2.1  198.18.0.1         198.18.0.2
#   2001:db8:1::2           2001:db8:1::1  fd00:8::1      fd00:8::2
#   (flows from 198.19.0.0/16 and 2001:db8:100::/64)
#
# G sends with xbench's live-frame generator (BPF_PROG_TEST_RUN); S counts
# UDP (IPv4 or IPv6) in an XDP program and drops it.
#
# IPv6 (the UDP topology only; the TCP one has IPv6 off): udp6-* are the
# udp64-* scenarios with the datagram in IPv6 (84-byte frames), 6->6
# through `forward eth0 udp 5000-5255 to [fd00:8::2]` (ip6tables and nft
# ip6: DNAT + MASQUERADE; bare: its redirect of IPv6 frames); udp6to4-*
# the same to ports 7000-7255, which xmasq forwards to S's IPv4 address
# (6->4, `family ipv6`; xmasq only: the kernel has no NAT64). New flows in
# IPv6 (newflows6, newflows6to4) are IPv4's newflows in IPv6: every packet
# a new flow for 0.3 s + 0.7 s, on a fresh router whose IPv6 table (and
# IPv4's: a 6->4 flow has a stub there) holds them (CT_NEW); their
# bursts (newflows6-60k, newflows6to4-60k: BURST new flows rated while
# they flow, xbench gen --packets, as when the IPv6 table held 65,536
# flows at most) have newflows-60k as IPv4's yardstick, and run when
# BENCH_UDP6 names them. The whole path runs in the softirqs
# of the generator's CPU, so a rate is the cost of generator + router +
# sink per packet on one core: the generator and sink costs are the same
# for every system, so differences are the routers'.
#
# tcp-cps: connections per second through a forward to nginx on S, each
# HTTP request its own TCP connection (ab, no keep-alive), from
# CPS_CLIENTS (4) client addresses on G at once: more client tuples than
# the router has masquerade ports towards one backend, as at a busy
# service. Failed connections, non-2xx answers and connections slower than
# 1 s (a lost SYN) are counted and reported with the rate.
#
# Telling noise from change: the UDP scenarios also measure xmasq-xdp a
# second time as if it were another system (xmasq-xdp-aa, the A/A
# control): report.py compares the two and says whether the run can judge
# a difference at all. Systems take turns in short windows, in an order
# rotated every repetition, so drift (a neighbour's load, the clock)
# spreads over all of them instead of favouring one; tables give medians
# and interquartile ranges.
#
# Before and after: BASE=DIR (a build directory of another commit, with
# its xmasq and bench/xbench: `make build/xmasq build/bench/xbench` in a
# worktree of that commit) adds that build to the UDP scenarios as the
# system xmasq-xdp-base, measured in the same rotation as the others, and
# the report pairs it with xmasq-xdp as it pairs the A/A control: the two
# builds compared in one run on one machine. BASE_IPV6=1 says the other
# build has IPv6 and the rules' settings (a build of 2026-12 or later): it
# gets the same rules file and the IPv6 scenarios too (name it in
# BENCH_UDP6_SYSTEMS).
#
# QUICK=1 (~3 min): 3 repetitions of the UDP and prog-ns scenarios with
# 0.3 s warm-up + 0.7 s windows (of IPv6, udp6-1flow alone), one of
# tcp-rr, two of apply-100k, one 2 s tcp-cps; no tcp-bulk, rules-* or
# flows-*. Full (~35 min, IPv6's scenarios ~19 of them): 9 repetitions
# (0.5 s + 1 s; new flows 0.3 s + 0.7 s), 3 of TCP, tcp-cps (10 s) and
# rules-*, 2 of flows-*, 5 of apply-100k.
# Namespaces, pins and processes carry this shell's pid and are removed on
# every exit path. Nothing outside them is touched.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XMASQ=$ROOT/build/xmasq
XB=$ROOT/build/bench/xbench
OUT=$ROOT/build/bench
RAW=$OUT/raw.tsv
ID=$$
NS_G=xb-g-$ID NS_R=xb-r-$ID NS_S=xb-s-$ID
TOPO6=                            # 1: the topology has IPv6 (topo_up)
PIN=/sys/fs/bpf/xmasq-bench-$ID   # xmasq's pins
SPIN=/sys/fs/bpf/xbench-$ID       # the sink's counter
TMP=$(mktemp -d /tmp/xbench.$ID.XXXXXX)
PIDS=()

if [ -n "${QUICK:-}" ]; then
	REPS=3 WARM=0.3 WIN=0.7 NF_WARM=0.3 NF_WIN=0.7 TCP_T=2 TCP_REPS=1 APPLY_REPS=2
	CPS_T=2
	UDP_SCEN="udp64-1flow udp64-10kflows udp64-10kflows-2cpu newflows newflows-masq"
	UDP6_SCEN="udp6-1flow"
	# QUICK's IPv6 stays within 30 s: three systems, no IPv6 gen-sink
	# baseline
	UDP6_SYSTEMS="bare xmasq-xdp iptables" DIRECT6=
	TCP_SCEN="tcp-rr"
	EXTRA=""
else
	REPS=9 WARM=0.5 WIN=1 NF_WARM=0.3 NF_WIN=0.7 TCP_T=3 TCP_REPS=3 APPLY_REPS=5
	CPS_T=10
	UDP_SCEN="udp64-1flow udp64-10kflows udp64-10kflows-2cpu newflows newflows-masq"
	UDP6_SCEN="udp6-1flow udp6-10kflows udp6to4-1flow udp6to4-10kflows newflows6 newflows6to4"
	UDP6_SYSTEMS="bare xmasq-xdp xmasq-tc iptables nftables xmasq-xdp-aa" DIRECT6=1
	TCP_SCEN="tcp-bulk-1 tcp-bulk-8 tcp-rr"
	EXTRA="rules flows"
fi
# BENCH_REPS=N overrides the repetitions (CI's smoke run: 1)
REPS=${BENCH_REPS:-$REPS}
SYSTEMS="bare xmasq-xdp xmasq-tc iptables nftables"
UDP_SYSTEMS="$SYSTEMS xmasq-xdp-aa" # the A/A control: xmasq-xdp measured twice
# BENCH_SMOKE=1 (CI): every system and phase once, at the least that
# proves each still runs and reports: one established-flow and one
# new-flow UDP scenario, no A/A twin (its ratio is not judged there);
# IPv6's udp6-1flow on xmasq-xdp alone (the IPv6 topology, generator and
# report rows; bare's and ip6tables' IPv6 only in QUICK and full runs);
# 1 s TCP windows (tcp-rr, tcp-cps) and prog-ns at 10 rounds of 100,000
# packets.
if [ -n "${BENCH_SMOKE:-}" ]; then
	UDP_SCEN="udp64-1flow newflows"
	UDP6_SCEN="udp6-1flow"
	UDP6_SYSTEMS=xmasq-xdp
	UDP_SYSTEMS=$SYSTEMS
	APPLY_REPS=1
	TCP_T=1 CPS_T=1
	PROG_REPEAT=${PROG_REPEAT:-100000} PROG_ROUNDS=${PROG_ROUNDS:-10}
fi
# BENCH_UDP="..." overrides the IPv4 UDP scenarios ("-": none),
# BENCH_UDP6="..." the IPv6 ones ("-": none),
# BENCH_UDP6_SYSTEMS the systems that run them
UDP_SCEN=${BENCH_UDP:-$UDP_SCEN}
[ "$UDP_SCEN" = - ] && UDP_SCEN=""
UDP6_SCEN=${BENCH_UDP6:-$UDP6_SCEN}
UDP6_SYSTEMS=${BENCH_UDP6_SYSTEMS:-$UDP6_SYSTEMS}
[ "$UDP6_SCEN" = - ] && UDP6_SCEN=""
BASE=${BASE:-}
if [ -n "$BASE" ]; then
	BASE=$(cd "$BASE" && pwd) || exit 1
	UDP_SYSTEMS="$UDP_SYSTEMS xmasq-xdp-base"
fi
# xmasq's flow table: the default (262144 flows) wherever it is big enough.
# Its expiry sweep walks the whole table (every slot, used or not), so a
# bigger table costs more even when nearly empty. Scenarios creating more
# flows than that get the smallest table that holds them, on a fresh
# attach.
CT_DEFAULT=262144
CT_NEW=2097152                     # newflows, rules-*: < 2M flows a run (1.5M seen)
CT_1M=1100000                      # flows-1m, prog-ns-newflow (10^6 flows)
# new flows a burst (newflows-60k, newflows6-60k, newflows6to4-60k): what
# xmasq's default IPv6 flow table holds (65,536 flows) with room to spare
BURST=60000
PROG_REPEAT=${PROG_REPEAT:-1000000}
PROG_ROUNDS=${PROG_ROUNDS:-40}          # alternations of program and wrapper
# tcp-cps: client addresses on G (192.0.2.11...), connections open at
# once over all of them, the forwarded port (to S's nginx on 80)
CPS_CLIENTS=${CPS_CLIENTS:-4} CPS_CONC=${CPS_CONC:-64} CPS_PORT=8080

# Addresses (RFC 5737 / RFC 2544 only) and fixed MACs.
G_IP=192.0.2.2 R0_IP=192.0.2.1 R1_IP=198.18.0.1 S_IP=198.18.0.2
FLOW_SRC=198.19.0.1
# IPv6 (RFC 3849 documentation prefix; RFC 4193 towards the sink)
G_IP6=2001:db8:1::2 R0_IP6=2001:db8:1::1 R1_IP6=fd00:8::1 S_IP6=fd00:8::2
FLOW_SRC6=2001:db8:100::1
NQ=$(nproc)
G_MAC=02:b0:00:00:00:02 R0_MAC=02:b0:00:00:00:01
R1_MAC=02:b0:00:00:01:01 S_MAC=02:b0:00:00:01:02

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
nsx() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

cleanup() {
	trap - EXIT INT TERM
	# (an early exit, before topo_down is defined, has nothing to remove)
	if declare -F topo_down >/dev/null; then topo_down; fi
	case "$TMP" in /tmp/xbench.*) rm -rf "$TMP" ;; esac
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, BPF)"
for c in ip ethtool nsenter iptables iptables-restore nft iperf3 gnuplot python3 bpftool ab nginx; do
	command -v "$c" >/dev/null || die "missing $c (run tools/deps.sh)"
done
[ -x "$XB" ] && [ -x "$XMASQ" ] || die "build first: make build/xmasq build/bench/xbench"
[ -z "$BASE" ] || { [ -x "$BASE/bench/xbench" ] && [ -x "$BASE/xmasq" ]; } ||
	die "BASE=$BASE: no xmasq and bench/xbench there (make build/xmasq build/bench/xbench in that commit)"
grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf || die "no bpffs"

# record SCENARIO SYSTEM VALUE
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RAW"; }

# ---- topology ------------------------------------------------------------------
# topo_up udp|udp6|tcp: udp puts the counting sink on S; tcp gives S GRO
# instead, so S's stack receives (XDP_REDIRECT into a veth delivers only if
# the peer has an XDP program or GRO). udp6 is udp with IPv6 too
# (TOPO6=1), without router solicitations or duplicate address detection
# (nothing the kernels send of their own during a measurement but MLD's
# two reports); udp and tcp have IPv6 off, as before IPv6 was measured.
topo_up() {
	local kind=$1 ns v6off=1
	TOPO6=
	[ "$kind" = udp6 ] && TOPO6=1 v6off=0
	for ns in "$NS_G" "$NS_R" "$NS_S"; do
		ip netns add "$ns" || return 1
		nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=$v6off net.ipv6.conf.default.disable_ipv6=$v6off \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 || return 1
		if [ -n "$TOPO6" ]; then
			nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
				net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0 || return 1
		fi
		ip -n "$ns" link set lo up
	done
	# a queue per CPU, as a multi-queue NIC has: a veth sends redirected
	# frames to its peer's queue (sending CPU mod queues), so with one
	# queue two CPUs would share one ring and one NAPI
	ip -n "$NS_R" link add eth0 address $R0_MAC numtxqueues "$NQ" numrxqueues "$NQ" type veth \
		peer name eth0 address $G_MAC numtxqueues "$NQ" numrxqueues "$NQ" netns "$NS_G" || return 1
	ip -n "$NS_R" link add eth1 address $R1_MAC numtxqueues "$NQ" numrxqueues "$NQ" type veth \
		peer name eth0 address $S_MAC numtxqueues "$NQ" numrxqueues "$NQ" netns "$NS_S" || return 1
	ip -n "$NS_G" addr add $G_IP/24 dev eth0
	ip -n "$NS_R" addr add $R0_IP/24 dev eth0
	ip -n "$NS_R" addr add $R1_IP/24 dev eth1
	ip -n "$NS_S" addr add $S_IP/24 dev eth0
	ip -n "$NS_G" link set eth0 up
	ip -n "$NS_R" link set eth0 up
	ip -n "$NS_R" link set eth1 up
	ip -n "$NS_S" link set eth0 up
	# static neighbours: no ARP in the measurements, and none needed at S
	ip -n "$NS_G" neigh replace $R0_IP lladdr $R0_MAC dev eth0 nud permanent
	ip -n "$NS_R" neigh replace $G_IP lladdr $G_MAC dev eth0 nud permanent
	ip -n "$NS_R" neigh replace $S_IP lladdr $S_MAC dev eth1 nud permanent
	ip -n "$NS_S" neigh replace $R1_IP lladdr $R1_MAC dev eth0 nud permanent
	ip -n "$NS_G" route add default via $R0_IP dev eth0
	ip -n "$NS_S" route add default via $R1_IP dev eth0
	if [ -n "$TOPO6" ]; then
		ip -n "$NS_G" -6 addr add $G_IP6/64 dev eth0 nodad || return 1
		ip -n "$NS_R" -6 addr add $R0_IP6/64 dev eth0 nodad || return 1
		ip -n "$NS_R" -6 addr add $R1_IP6/64 dev eth1 nodad || return 1
		ip -n "$NS_S" -6 addr add $S_IP6/64 dev eth0 nodad || return 1
		ip -n "$NS_G" -6 neigh replace $R0_IP6 lladdr $R0_MAC dev eth0 nud permanent
		ip -n "$NS_R" -6 neigh replace $G_IP6 lladdr $G_MAC dev eth0 nud permanent
		ip -n "$NS_R" -6 neigh replace $S_IP6 lladdr $S_MAC dev eth1 nud permanent
		ip -n "$NS_S" -6 neigh replace $R1_IP6 lladdr $R1_MAC dev eth0 nud permanent
		ip -n "$NS_G" -6 route add default via $R0_IP6 dev eth0
		ip -n "$NS_S" -6 route add default via $R1_IP6 dev eth0
	fi
	# R's eth0 takes the generator's redirected frames with GRO when no
	# XDP program is on it (the kernel routers, xmasq-tc); G and S send
	# complete checksums, as from a wire (TCP runs through xmasq's XDP).
	nsx "$NS_R" ethtool -K eth0 gro on >/dev/null || return 1
	nsx "$NS_G" ethtool -K eth0 gro on tx off >/dev/null || return 1
	nsx "$NS_S" ethtool -K eth0 tx off >/dev/null || return 1
	if [ "$kind" != tcp ]; then
		mkdir -p "$SPIN"
		nsx "$NS_S" "$XB" sink attach eth0 "$SPIN/sink_cnt" >/dev/null || return 1
	else
		nsx "$NS_S" ethtool -K eth0 gro on >/dev/null || return 1
	fi
}

topo_down() {
	local p
	if [ -e "$PIN" ]; then
		[ -e "/run/netns/$NS_R" ] && nsx "$NS_R" "$XMASQ" --pin-dir "$PIN" detach --all >/dev/null 2>&1
		rm -rf "$PIN"
	fi
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	PIDS=()
	for ns in "$NS_G" "$NS_R" "$NS_S"; do
		# anything still running in our own namespaces is ours
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$SPIN"
	# veth teardown is asynchronous: let it finish before the next run
	sleep 0.2
}

# ---- the routers under test ---------------------------------------------------------
RULES=$TMP/rules.conf
cat >"$RULES" <<EOF
forward eth0 udp 5000-5255 to $S_IP:5000-5255
forward eth0 tcp 5201 to $S_IP:5201
forward eth0 tcp 7000 to $S_IP:7000
forward eth0 tcp $CPS_PORT to $S_IP:80
masquerade 198.19.0.0/16 out eth1
# one generator address makes every flow: the quota is checked, never reached
set flows-per-source 16777216
EOF
# the UDP topology's: IPv6 beside (6->6, and 6->4 on other ports)
RULES6=$TMP/rules6.conf
cat - "$RULES" >"$RULES6" <<EOF
forward eth0 udp 5000-5255 to [$S_IP6]:5000-5255
forward eth0 udp 7000-7255 to $S_IP:7000-7255 family ipv6
EOF

# xmasq_up MODE [CTMAX]: through libxmasq's attach (xbench xmasq-attach: the
# CLI cannot size the flow table yet), rules with `xmasq apply`.
# xmasq_up MODE [CT_MAX [RULES [BUILD_DIR]]]: attach and apply with the
# build in BUILD_DIR (default this one's)
xmasq_up() {
	local xb=$XB xm=$XMASQ rules=${3:-$RULES}
	[ -z "${3:-}" ] && [ -n "$TOPO6" ] && rules=$RULES6
	if [ -n "${4:-}" ]; then
		xb=$4/bench/xbench xm=$4/xmasq
		# an older build has no flows-per-source (the quota this file
		# sets out of reach), maybe no IPv6: the same rules without them
		if [ -z "${BASE_IPV6:-}" ]; then
			grep -v -e '^set flows-per-source' -e '\[' -e 'family ipv6' "$rules" >"$TMP/rules-base.conf"
			rules=$TMP/rules-base.conf
		fi
	fi
	nsx "$NS_R" "$xb" xmasq-attach --pin-dir "$PIN" --mode "$1" --ct-max "${2:-$CT_DEFAULT}" \
		${5:+--ct6-max "$5"} eth0 eth1 >"$TMP/attach.log" 2>&1 ||
		{ cat "$TMP/attach.log" >&2; return 1; }
	nsx "$NS_R" "$xm" --pin-dir "$PIN" apply "$rules" >/dev/null
}
# xmasq_of SYSTEM: the xmasq command of the build SYSTEM runs
xmasq_of() { if [ "$1" = xmasq-xdp-base ]; then echo "$BASE/xmasq"; else echo "$XMASQ"; fi; }

iptables_up() {
	nsx "$NS_R" sysctl -qw net.ipv4.ip_forward=1 || return 1
	{
		printf '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n'
		[ -n "${EXTRA_RULES:-}" ] && cat "$EXTRA_RULES.ipt"
		cat <<EOF
-A PREROUTING -i eth0 -p udp --dport 5000:5255 -j DNAT --to-destination $S_IP
-A PREROUTING -i eth0 -p tcp -m multiport --dports 5201,7000 -j DNAT --to-destination $S_IP
-A PREROUTING -i eth0 -p tcp --dport $CPS_PORT -j DNAT --to-destination $S_IP:80
-A POSTROUTING -d $S_IP -j MASQUERADE
COMMIT
EOF
	} | nsx "$NS_R" iptables-restore || return 1
	[ -n "$TOPO6" ] || return 0
	# IPv6: the same recipe in ip6tables (6->6 only: no NAT64)
	nsx "$NS_R" sysctl -qw net.ipv6.conf.all.forwarding=1 || return 1
	nsx "$NS_R" ip6tables-restore <<EOF
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i eth0 -p udp --dport 5000:5255 -j DNAT --to-destination $S_IP6
-A POSTROUTING -d $S_IP6 -j MASQUERADE
COMMIT
EOF
}

nftables_up() {
	nsx "$NS_R" sysctl -qw net.ipv4.ip_forward=1 || return 1
	{
		printf 'table ip xbench {\n\tchain pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n'
		[ -n "${EXTRA_RULES:-}" ] && cat "$EXTRA_RULES.nft"
		cat <<EOF
		iifname "eth0" udp dport 5000-5255 dnat to $S_IP
		iifname "eth0" tcp dport { 5201, 7000 } dnat to $S_IP
		iifname "eth0" tcp dport $CPS_PORT dnat to $S_IP:80
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip daddr $S_IP masquerade
	}
}
EOF
	} | nsx "$NS_R" nft -f - || return 1
	[ -n "$TOPO6" ] || return 0
	nsx "$NS_R" sysctl -qw net.ipv6.conf.all.forwarding=1 || return 1
	nsx "$NS_R" nft -f - <<EOF
table ip6 xbench6 {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "eth0" udp dport 5000-5255 dnat to $S_IP6
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip6 daddr $S_IP6 masquerade
	}
}
EOF
}

system_up() {
	case "$1" in
	bare) nsx "$NS_R" "$XB" bare attach eth0 eth1 $G_MAC $S_MAC >/dev/null ;;
	xmasq-xdp | xmasq-xdp-aa) xmasq_up xdp "${2:-}" "${3:-}" "" "${4:-}" ;;
	xmasq-xdp-base) xmasq_up xdp "${2:-}" "${3:-}" "$BASE" "${4:-}" ;;
	xmasq-tc) xmasq_up tc "${2:-}" "${3:-}" "" "${4:-}" ;;
	iptables) iptables_up ;;
	nftables) nftables_up ;;
	esac
}

# ---- measurements ----------------------------------------------------------------------
# gen WARMUP WINDOW ARGS...: sink rate in packets/s
gen() {
	local w=$1 t=$2 out
	shift 2
	out=$(nsx "$NS_G" "$XB" gen --dev eth0 --dmac $R0_MAC --src "${GEN_SRC:-$FLOW_SRC}" --dst "${GEN_DST:-$R0_IP}" \
		--sport 10000 --dport "${GEN_DPORT:-5000}" --sink "$SPIN/sink_cnt" --warmup "$w" --time "$t" --cpu 0 "$@") || return 1
	python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pps"])' "$out"
}

# gen2 WARMUP WINDOW ARGS...: the same from two generators at once, one on
# each of CPUs 0 and 1, each with its own flows (another source address
# block): the aggregate rate in packets/s. Both read the one sink counter
# (all CPUs) over windows of the same length started together, so each
# sees the aggregate; their mean is taken.
gen2() {
	local w=$1 t=$2 a b
	shift 2
	gen "$w" "$t" "$@" --cpu 0 >"$TMP/gen-cpu0" &
	FLOW_SRC=198.19.128.1 gen "$w" "$t" "$@" --cpu 1 >"$TMP/gen-cpu1"
	wait
	a=$(cat "$TMP/gen-cpu0") b=$(cat "$TMP/gen-cpu1")
	[ -n "$a" ] && [ -n "$b" ] || return 1
	python3 -c 'import sys; print("%.0f" % ((float(sys.argv[1]) + float(sys.argv[2])) / 2))' "$a" "$b"
}

# gen6 WARMUP WINDOW ARGS...: gen with IPv6 frames, from 2001:db8:100::1
# up, to R's IPv6 address on eth0
gen6() { GEN_SRC=$FLOW_SRC6 GEN_DST=$R0_IP6 gen "$@"; }

mpps() { python3 -c 'import sys; print("%.6g" % (float(sys.argv[1]) / 1e6))' "$1"; }

# udp_scenario NAME SYSTEM: one run of a live UDP scenario
udp_scenario() {
	local pps
	case "$1" in
	udp64-1flow) pps=$(gen "$WARM" "$WIN" --flows 1) ;;
	udp64-10kflows) pps=$(gen "$WARM" "$WIN" --flows 10000 --dport-bits 8) ;;
	# both CPUs, 5,000 flows each: nothing written per packet may be
	# shared between them (counters, flow entries, the sweeper) if this is
	# to come out near 2x udp64-10kflows
	udp64-10kflows-2cpu) pps=$(gen2 "$WARM" "$WIN" --flows 5000 --dport-bits 8) ;;
	# every packet a new flow: indices far above the other scenarios'
	# every packet a new flow: 0.5 s + 1 s (QUICK 0.3 + 0.7), so that a
	# run's flows (< 2M) fit xmasq's CT_NEW table and nothing is measured
	# against a full table
	newflows | rules-*) pps=$(gen "$NF_WARM" "$NF_WIN" --flows 0 --first 16777216 --dport-bits 8) ;;
	# the same, sent straight to S's ports 6000-6255, which no forward
	# takes (a forward on eth0 matches any destination address), and
	# masqueraded: each host address:port opens 256 flows (one per
	# destination port), so 1 in 256 new flows makes a mapping and the
	# others reuse it
	newflows-masq) pps=$(GEN_DST=$S_IP GEN_DPORT=6000 gen "$NF_WARM" "$NF_WIN" --flows 0 --first 33554432 --dport-bits 8) ;;
	# IPv6: 6->6 to ports 5000-5255, 6->4 to 7000-7255
	udp6-1flow) pps=$(gen6 "$WARM" "$WIN" --flows 1) ;;
	udp6-10kflows) pps=$(gen6 "$WARM" "$WIN" --flows 10000 --dport-bits 8) ;;
	udp6to4-1flow) pps=$(GEN_DPORT=7000 gen6 "$WARM" "$WIN" --flows 1) ;;
	udp6to4-10kflows) pps=$(GEN_DPORT=7000 gen6 "$WARM" "$WIN" --flows 10000 --dport-bits 8) ;;
	# bursts of BURST new flows, rated while they flow (no warm-up or
	# window: the rate between the sink's 10 % and 90 % of the burst)
	newflows-60k) pps=$(gen 0 0 --flows 0 --first 16777216 --dport-bits 8 --packets $BURST) ;;
	newflows6-60k) pps=$(gen6 0 0 --flows 0 --first 16777216 --dport-bits 8 --packets $BURST) ;;
	newflows6to4-60k) pps=$(GEN_DPORT=7000 gen6 0 0 --flows 0 --first 16777216 --dport-bits 8 --packets $BURST) ;;
	# newflows in IPv6, 6->6 and 6->4 (xmasq's tables sized as newflows')
	newflows6) pps=$(gen6 "$NF_WARM" "$NF_WIN" --flows 0 --first 16777216 --dport-bits 8) ;;
	newflows6to4) pps=$(GEN_DPORT=7000 gen6 "$NF_WARM" "$NF_WIN" --flows 0 --first 16777216 --dport-bits 8) ;;
	flows-1k) pps=$(gen "$WARM" "$WIN" --flows 1000 --dport-bits 8) ;;
	flows-100k) pps=$(gen 2 "$WIN" --flows 100000 --dport-bits 8) ;;
	flows-1m) pps=$(gen 4 "$WIN" --flows 1000000 --dport-bits 8) ;;
	esac
	[ -n "$pps" ] || { log "$1 on $2: no result"; return 1; }
	record "$1" "$2" "$(mpps "$pps")"
	log "$1 $2: $(mpps "$pps") Mpps"
}

# tcp_scenario NAME SYSTEM: one result; a failed or empty transfer is
# retried once and, if it fails again, left out (logged in tcp-errors.log)
tcp_scenario() {
	local dst=$R0_IP v try
	[ "$2" = bare ] && dst=$S_IP # no NAT: straight to the server
	for try in 1 2; do
		case "$1" in
		tcp-bulk-1 | tcp-bulk-8)
			v=$(nsx "$NS_G" timeout 60 iperf3 -c "$dst" -p 5201 -t "$TCP_T" -P "${1#tcp-bulk-}" -J 2>>"$OUT/tcp-errors.log" |
				python3 -c 'import json,sys
d = json.load(sys.stdin)
bps = d.get("end", {}).get("sum_received", {}).get("bits_per_second", 0)
if bps <= 0:
    sys.exit("iperf3: %s" % d.get("error", "nothing received"))
print("%.3f" % (bps / 1e9))' 2>>"$OUT/tcp-errors.log") ;;
		tcp-rr)
			v=$(nsx "$NS_G" timeout 60 "$XB" rr client "$dst" 7000 "$TCP_T" 2>>"$OUT/tcp-errors.log" |
				python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["tps"] / 1e3))' 2>/dev/null) ;;
		esac
		[ -n "$v" ] && break
		echo "$(date +%T) $1 on $2: attempt $try failed" >>"$OUT/tcp-errors.log"
	done
	[ -n "$v" ] || { log "$1 on $2: no result (see $OUT/tcp-errors.log)"; return 1; }
	record "$1" "$2" "$v"
	log "$1 $2: $v"
}

# prog ARGS...: a program's own cost in ns a packet through the wrapper in
# R: PROG_ROUNDS short test runs of it alternated with runs of the wrapper
# alone on the same frames, the median of the differences (xbench prog
# --rounds), so drift between two long runs cannot turn a cost negative.
# Sets PROG_WRAPPER to the wrapper's own median.
prog() {
	local out
	out=$(nsx "$NS_R" "$XB" prog --repeat "$PROG_REPEAT" --rounds "$PROG_ROUNDS" "$@") || return 1
	out=$(python3 -c 'import json,sys
d = json.loads(sys.argv[1])
if d["retval"] != int(sys.argv[2]):
    sys.exit("unexpected XDP action %d (wanted %s): %s" % (d["retval"], sys.argv[2], sys.argv[1]))
print("%.1f %.1f" % (d["ns"], d["wrapper_ns"]))' "$out" "$PROG_WANT") || return 1
	PROG_WRAPPER=${out#* }
	echo "${out% *}"
}

prog_phase() {
	local b b6 fast fast6 reply new new6 new64 est1m orig="--dev eth0 --dmac $R0_MAC --smac $G_MAC --src $FLOW_SRC --dst $R0_IP"
	local orig6="--dev eth0 --dmac $R0_MAC --smac $G_MAC --src $FLOW_SRC6 --dst $R0_IP6"
	# the IPv6 topology: IPv4 as in udp's, and a 6->6 forward beside
	topo_up udp6 || die "topology"
	xmasq_up xdp || die "xmasq attach"
	PROG_WANT=4
	# (command substitutions run in subshells: the wrapper's figure is
	# taken from a measurement made in this shell)
	prog --target bare --bare-out eth1 --bare-dmac $S_MAC $orig >"$TMP/prog" || die "prog bare"
	b=$(cat "$TMP/prog")
	record prog-ns-wrapper wrapper "$PROG_WRAPPER"
	b6=$(prog --target bare --bare-out eth1 --bare-dmac $S_MAC $orig6) || die "prog bare IPv6"
	# the flow first (one packet), then its fast path and its replies
	nsx "$NS_R" "$XB" prog --repeat 1 --target "$PIN/prog_xdp" $orig >/dev/null || die "prog prime"
	fast=$(prog --target "$PIN/prog_xdp" $orig) || die "prog fastpath"
	reply=$(prog --target "$PIN/prog_xdp" --dev eth1 --dmac $R1_MAC --smac $S_MAC \
		--src $S_IP --dst $R1_IP --sport 5000 --dport 10000) || die "prog reply"
	# an IPv6 6->6 flow's fast path
	nsx "$NS_R" "$XB" prog --repeat 1 --target "$PIN/prog_xdp" $orig6 >/dev/null || die "prog prime IPv6"
	fast6=$(prog --target "$PIN/prog_xdp" $orig6) || die "prog fastpath IPv6"
	record prog-ns-fastpath6 bare "$b6"
	record prog-ns-fastpath6 xmasq-xdp "$fast6"
	# 10^6 new IPv6 flows, in an IPv6 table that holds them (its sources'
	# last 32 bits count up, as IPv4's sources do below)
	topo_down
	topo_up udp6 || die "topology"
	xmasq_up xdp "$CT_DEFAULT" "" "" $CT_1M || die "xmasq attach"
	new6=$(prog --target "$PIN/prog_xdp" $orig6 --flows 0 --first 16777216 --dport-bits 8) || die "prog newflow IPv6"
	record prog-ns-newflow6 bare "$b6"
	record prog-ns-newflow6 xmasq-xdp "$new6"
	# and 10^6 new 6->4 flows (ports 7000-7255), on fresh tables: each
	# also has a stub in the IPv4 table
	xmasq_up xdp $CT_1M "" "" $CT_1M || die "xmasq attach"
	new64=$(prog --target "$PIN/prog_xdp" $orig6 --dport 7000 --flows 0 --first 16777216 --dport-bits 8) || die "prog newflow 6->4"
	record prog-ns-newflow6to4 bare "$b6"
	record prog-ns-newflow6to4 xmasq-xdp "$new64"
	# 10^6 new flows need a table that holds them
	topo_down
	topo_up udp || die "topology"
	xmasq_up xdp $CT_1M || die "xmasq attach"
	new=$(prog --target "$PIN/prog_xdp" $orig --flows 0 --first 16777216 --dport-bits 8) || die "prog newflow"
	# the same 10^6 packets again: established flows, each packet another
	# one (no cache holds the table): the fast path's memory cost at scale
	est1m=$(prog --target "$PIN/prog_xdp" $orig --flows 0 --first 16777216 --dport-bits 8) || die "prog 1m"
	record prog-ns-fastpath-1m xmasq-xdp "$est1m"
	log "prog-ns (ns, wrapper $PROG_WRAPPER ns taken out): bare $b fast $fast reply $reply new $new 1m $est1m; IPv6: bare $b6 fast $fast6 new $new6 new 6->4 $new64"
	for s in prog-ns-bare prog-ns-fastpath prog-ns-newflow prog-ns-reply; do
		record "$s" bare "$b"
	done
	record prog-ns-fastpath xmasq-xdp "$fast"
	record prog-ns-reply xmasq-xdp "$reply"
	record prog-ns-newflow xmasq-xdp "$new"
	topo_down
}

# The generator and sink alone (the sink on R's eth0, no router): their
# cost is in every rate above, so results.md can show the routers' own.
direct_baseline() {
	local out
	topo_up "$([ -n "$UDP6_SCEN" ] && [ -n "$DIRECT6" ] && echo udp6 || echo udp)" || die "topology"
	nsx "$NS_R" "$XB" sink attach eth0 "$SPIN/direct_cnt" >/dev/null || die "direct sink"
	out=$(nsx "$NS_G" "$XB" gen --dev eth0 --dmac $R0_MAC --src $FLOW_SRC --dst "${GEN_DST:-$R0_IP}" \
		--sink "$SPIN/direct_cnt" --warmup "$WARM" --time "$WIN" --cpu 0) || die "direct gen"
	record gen-sink-direct direct "$(mpps "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pps"])' "$out")")"
	if [ -n "$UDP6_SCEN" ] && [ -n "$DIRECT6" ]; then
		out=$(nsx "$NS_G" "$XB" gen --dev eth0 --dmac $R0_MAC --src $FLOW_SRC6 --dst $R0_IP6 \
			--sink "$SPIN/direct_cnt" --warmup "$WARM" --time "$WIN" --cpu 0) || die "direct gen (IPv6)"
		record gen-sink-direct6 direct "$(mpps "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pps"])' "$out")")"
	fi
	ip -n "$NS_R" link set eth0 xdp off
	topo_down
}

# ---- apply-100k ---------------------------------------------------------------------------
# 100k forward rules (tcp and udp, 50000 ports each); the change: one
# rule's backend port. xmasq: the time `xmasq apply` reports; iptables /
# nftables: wall time of restoring the changed file, as an operator would.
apply_files() {
	local v=$1 f=$TMP/apply-$1
	[ -e "$f.conf" ] && return 0
	python3 - "$f" "$v" "$S_IP" <<'EOF'
import sys
f, v, s = sys.argv[1], int(sys.argv[2]), sys.argv[3]
first = 80 if v else 10000  # the one change: tcp 10000's backend port
x = open(f + ".conf", "w"); i = open(f + ".ipt", "w"); n = open(f + ".nft", "w")
i.write("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
n.write("table ip xbapply\nflush table ip xbapply\ntable ip xbapply {\n chain pre {\n  type nat hook prerouting priority dstnat; policy accept;\n")
for proto in ("tcp", "udp"):
    for p in range(10000, 60000):
        to = first if (proto == "tcp" and p == 10000) else p
        x.write("forward eth0 %s %d to %s:%d\n" % (proto, p, s, to))
        i.write("-A PREROUTING -i eth0 -p %s --dport %d -j DNAT --to-destination %s:%d\n" % (proto, p, s, to))
        n.write("  iifname \"eth0\" %s dport %d dnat to %s:%d\n" % (proto, p, s, to))
x.write("set conntrack-max 262144\n")
i.write("-A POSTROUTING -d %s -j MASQUERADE\nCOMMIT\n" % s)
n.write(" }\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  ip daddr %s masquerade\n }\n}\n" % s)
EOF
}

us_of() { # wall time of a command in us
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null || return 1
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
}

apply_phase() {
	local r v us t0 t1
	apply_files 0 && apply_files 1
	topo_up udp || die "topology"
	xmasq_up xdp 262144 "$TMP/apply-0.conf" || die "xmasq apply-100k setup"
	nsx "$NS_R" iptables-restore <"$TMP/apply-0.ipt" || die "iptables 100k"
	nsx "$NS_R" nft -f "$TMP/apply-0.nft" || die "nft 100k"
	# each repetition applies the other version: exactly one rule changes
	for r in $(seq 1 "$APPLY_REPS"); do
		v=$((r % 2))
		t0=$(date +%s%N)
		us=$(nsx "$NS_R" "$XMASQ" --pin-dir "$PIN" apply "$TMP/apply-$v.conf" | sed -n 's/.* in \([0-9.]*\) us$/\1/p')
		t1=$(date +%s%N)
		[ -n "$us" ] && record apply-100k xmasq-xdp "$us" && record apply-100k-cmd xmasq-xdp $(((t1 - t0) / 1000))
		log "apply-100k rep $r: xmasq ${us:-?} us"
		us=$(us_of nsx "$NS_R" iptables-restore "$TMP/apply-$v.ipt") && record apply-100k iptables "$us"
		us=$(us_of nsx "$NS_R" nft -f "$TMP/apply-$v.nft") && record apply-100k nftables "$us"
	done
	topo_down
}

# ---- rules-N: new flows with N rules, ours the last ----------------------------------------
rules_files() {
	local n=$1
	[ -e "$TMP/rules-$n.conf" ] && return 0
	python3 - "$TMP/rules-$n" "$n" "$S_IP" "$RULES" <<'EOF'
import sys
f, n, s, base = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
x = open(f + ".conf", "w"); i = open(f + ".ipt", "w"); t = open(f + ".nft", "w")
for k in range(n - 1):  # filler: tcp ports, then udp ports above ours
    proto, port = ("tcp", 10000 + k) if k < 50000 else ("udp", 10000 + k - 50000)
    x.write("forward eth0 %s %d to %s:%d\n" % (proto, port, s, port))
    i.write("-A PREROUTING -i eth0 -p %s --dport %d -j DNAT --to-destination %s:%d\n" % (proto, port, s, port))
    t.write("\t\tiifname \"eth0\" %s dport %d dnat to %s:%d\n" % (proto, port, s, port))
x.write(open(base).read())
EOF
}

rules_phase() {
	local r sys n
	for n in 1 1000 100000; do rules_files $n; done
	for r in 1 2 3; do
		for n in 1 1000 100000; do
			for sys in xmasq-xdp xmasq-tc iptables nftables; do
				topo_up udp || die "topology"
				EXTRA_RULES=$TMP/rules-$n \
					system_up "$sys" $CT_NEW "$TMP/rules-$n.conf" || die "$sys with $n rules"
				udp_scenario "rules-$(case $n in 1) echo 1 ;; 1000) echo 1k ;; *) echo 100k ;; esac)" "$sys"
				topo_down
			done
		done
	done
}

# ---- flows-N: established flows cycled through ------------------------------------------------
# map_fields PIN FIELD...: those fields of `bpftool map show` (JSON) for
# the map pinned at PIN, on one line
map_fields() {
	local pin=$1
	shift
	bpftool -j map show pinned "$pin" 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(*(d.get(f, 0) for f in sys.argv[1:]))' "$@"
}

ct_bytes_note() {
	# xmasq: the flow table's memory, per flow it is made for (its
	# conntrack-max: 3.5 slots of 64 bytes a flow) and per live flow of
	# flows-1m (10^6 flows in the CT_1M table)
	set -- $(map_fields "$PIN/flows" bytes_memlock max_entries)
	echo "$1 $(((${2:-31} - 31) / 7 * 2)) 1000000" >"$TMP/ct_mem_xmasq"
}

flows_phase() {
	local r sys s
	for r in 1 2; do
		for sys in bare xmasq-xdp xmasq-tc iptables nftables; do
			topo_up udp || die "topology"
			system_up "$sys" || die "$sys up"
			for s in flows-1k flows-100k flows-1m; do
				case "$sys:$s" in
				# nf_conntrack_max is a host-wide setting (262144 here)
				# this benchmark does not change: 1M kernel flows cannot exist
				iptables:flows-1m | nftables:flows-1m) continue ;;
				xmasq-*:flows-1m)
					topo_down
					topo_up udp || die "topology"
					system_up "$sys" $CT_1M || die "$sys up"
					;;
				esac
				udp_scenario "$s" "$sys"
			done
			[ "$sys" = xmasq-xdp ] && ct_bytes_note
			topo_down
		done
	done
}

# ---- tcp-cps: new TCP connections per second ----------------------------------------------
# nginx_up: nginx on S's tcp/80 answering every request with "ok", one
# worker per core, its files in this run's temp dir
nginx_up() {
	local d=$TMP/nginx i
	mkdir -p "$d"
	cat >"$d/nginx.conf" <<EOF
worker_processes $(nproc);
pid $d/nginx.pid;
error_log $d/error.log;
daemon off;
events { worker_connections 16384; }
http {
	access_log off;
	client_body_temp_path $d;
	proxy_temp_path $d;
	fastcgi_temp_path $d;
	uwsgi_temp_path $d;
	scgi_temp_path $d;
	server {
		listen $S_IP:80 backlog=4096 reuseport;
		location / { return 200 "ok\n"; }
	}
}
EOF
	nsenter --net="/run/netns/$NS_S" nginx -c "$d/nginx.conf" -p "$d" >"$d/stdout" 2>&1 &
	PIDS+=($!)
	for i in $(seq 50); do
		[ -n "$(nsx "$NS_S" ss -Htln "sport = :80")" ] && return 0
		sleep 0.1
	done
	cat "$d/stdout" "$d/error.log" >&2
	return 1
}

# cps_up: the clients' addresses on G, then nginx
cps_up() {
	local i
	for i in $(seq "$CPS_CLIENTS"); do
		ip -n "$NS_G" addr add 192.0.2.$((10 + i))/24 dev eth0 || return 1
	done
	nginx_up
}

# cps_run SECONDS FILE: CPS_CLIENTS ab processes at once, one per client
# address, each opening a new connection per request (no -k) for SECONDS;
# writes FILE.json: connections, cps, failed (ab's failed requests and
# non-2xx answers, plus one per ab that did not end normally, e.g. 10 s
# without any answer), slow (connections that took over 1 s: a SYN or
# segment lost and resent), longest_ms. Returns 1 without a result.
cps_run() {
	local t=$1 f=$2 i pids=() rc
	for i in $(seq "$CPS_CLIENTS"); do
		# -n: room for 50k connections/s per client (-t stops it first)
		nsenter --net="/run/netns/$NS_G" timeout --kill-after=5 $((t + 30)) \
			ab -q -t "$t" -n $((t * 50000)) -c $((CPS_CONC / CPS_CLIENTS)) -s 10 -r \
			-B 192.0.2.$((10 + i)) -g "$f.$i.tsv" "http://$R0_IP:$CPS_PORT/" >"$f.$i.txt" 2>&1 &
		pids+=($!)
	done
	for i in $(seq "$CPS_CLIENTS"); do
		wait "${pids[$((i - 1))]}"
		echo "exit $?" >>"$f.$i.txt"
	done
	python3 "$ROOT/tools/bench/cps_sum.py" "$f" "$CPS_CLIENTS"
	rc=$?
	rm -f "$f".*.tsv
	return $rc
}

# json_field FILE FIELD
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# cps_why FILE.json LABEL: what ab said about the failures, if any
cps_why() {
	python3 -c 'import json,sys
for w in json.load(open(sys.argv[1]))["why"]:
    print("%s: %s" % (sys.argv[2], w))' "$1" "$2"
}

# cps_scenario SYSTEM: one tcp-cps run on the router set up now: the rate
# (thousands of connections/s), its failures and slow connections
cps_scenario() {
	local f=$TMP/cps-$1 k v
	cps_run "$CPS_T" "$f" || { log "tcp-cps on $1: no result"; return 1; }
	while read -r k v; do
		record "$k" "$1" "$v"
	done < <(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print("tcp-cps %.3f" % (d["cps"] / 1e3))
for k in ("failed", "slow", "longest_ms"):
    print("tcp-cps-%s %s" % (k.replace("_", "-"), d[k]))
for w in d["why"]:
    sys.stderr.write("tcp-cps on %s: %s\n" % (sys.argv[2], w))
open(sys.argv[1] + ".log", "w").write("%(cps).0f conn/s, %(connections)d connections, %(failed)d failed, "
                                      "%(slow)d over 1 s (longest %(longest_ms).0f ms)" % d)' "$f.json" "$1" 2>>"$OUT/tcp-errors.log")
	log "tcp-cps $1: $(cat "$f.json.log")"
}

# udp_order: a system's UDP scenarios in the order they run: those on
# established flows first (IPv4's, then IPv6's, all on one table of the
# default size), then the new-flow ones, each on a fresh router
udp_order() {
	local s est="" new=""
	for s in $UDP_SCEN $UDP6_SCEN; do
		case "$s" in newflows*) new="$new $s" ;; *) est="$est $s" ;; esac
	done
	echo $est $new
}
# is_v6 SCENARIO: one of UDP6_SCEN, which run on an IPv6 topology
# (newflows-60k, IPv4's yardstick for the IPv6 bursts, may be one of them, on
# an IPv4 one)
is_v6() { case " $UDP6_SCEN " in *" $1 "*) return 0 ;; esac; return 1; }
# udp_runs SYSTEM SCENARIO: whether SYSTEM has SCENARIO. IPv6's only on
# UDP6_SYSTEMS; 6->4 is xmasq's alone (no NAT64 in the kernel; bare's
# redirect of those frames would be udp6-*'s again); another build (BASE)
# may not have IPv6.
udp_runs() {
	if is_v6 "$2"; then
		case " $UDP6_SYSTEMS " in *" $1 "*) ;; *) return 1 ;; esac
	fi
	case "$1:$2" in
	bare:*6to4* | iptables:*6to4* | nftables:*6to4*) return 1 ;;
	xmasq-xdp-base:udp6-* | xmasq-xdp-base:udp6to4-* | xmasq-xdp-base:newflows6*)
		[ -n "${BASE_IPV6:-}" ] || return 1 ;;
	esac
	return 0
}
# udp_topo SYSTEM [SCENARIO]: the topology the scenario (default: the
# system's established-flow ones) needs: udp6 if it is IPv6
udp_topo() {
	local s
	if [ -n "${2:-}" ]; then
		case "$2" in udp6* | newflows6*) echo udp6 ;; *) echo udp ;; esac
		return
	fi
	for s in $UDP6_SCEN; do
		case "$s" in newflows*) continue ;; esac
		udp_runs "$1" "$s" && { echo udp6; return; }
	done
	echo udp
}

# sourced with BENCH_LIB=1 (debugging, soak.sh): functions only
[ -n "${BENCH_LIB:-}" ] && return 0

# ---- main ---------------------------------------------------------------------------------------
# PHASES (default: all of this mode's) picks phases, e.g. PHASES="rules
# flows"; APPEND=1 adds to the last run's raw.tsv instead of starting over.
PHASES=${PHASES:-udp prog tcp cps apply $EXTRA}
has() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }
# rotate N WORD...: the words, starting at the Nth (wrapping around)
rotate() {
	local n=$1
	shift
	n=$(((n - 1) % $#))
	echo "${@:n+1}" "${@:1:n}"
}
mkdir -p "$OUT"
[ -n "${APPEND:-}" ] || { : >"$RAW"; rm -f "$OUT/tcp-errors.log"; }
START=$(date +%s)
log "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; ${QUICK:+QUICK }reps $REPS; phases: $PHASES"
for r in $(seq 1 "$REPS"); do
	if has udp; then
		log "repetition $r/$REPS: UDP"
		for sys in $(rotate "$r" $UDP_SYSTEMS); do
			topo_up "$(udp_topo "$sys")" || die "topology"
			system_up "$sys" || die "$sys up"
			prev=established
			for s in $(udp_order); do
				udp_runs "$sys" "$s" || continue
				# why xmasq dropped what it dropped (kept for the report):
				# its counters after the scenarios on one table
				case "$sys:$s" in xmasq-*:newflows*)
					nsx "$NS_R" "$(xmasq_of "$sys")" --pin-dir "$PIN" stats --json >"$OUT/stats-$sys-$prev-rep$r.json" 2>/dev/null ;;
				esac
				# a fresh router: xmasq's for newflows and newflows-masq
				# (over a million flows: a bigger table), every system's
				# for a burst (newflows-60k, ...: a table of the default
				# size as the established flows', an empty conntrack)
				case "$sys:$s" in xmasq-*:newflows | xmasq-*:newflows-masq | *:newflows-60k | *:newflows6*)
					topo_down
					topo_up "$(udp_topo "$sys" "$s")" || die "topology"
					case "$s" in
					newflows | newflows-masq) system_up "$sys" $CT_NEW || die "$sys up" ;;
					newflows6 | newflows6to4) system_up "$sys" $CT_NEW "" $CT_NEW || die "$sys up" ;;
					*) system_up "$sys" || die "$sys up" ;;
					esac
					prev=$s
					;;
				esac
				udp_scenario "$s" "$sys"
			done
			case "$sys" in xmasq-*) nsx "$NS_R" "$(xmasq_of "$sys")" --pin-dir "$PIN" stats --json >"$OUT/stats-$sys-$prev-rep$r.json" 2>/dev/null ;; esac
			topo_down
		done
		direct_baseline
	fi
	if has prog; then
		log "repetition $r/$REPS: prog-ns"
		prog_phase
	fi
done
# tcp-cps runs on the TCP phase's routers, after the other TCP scenarios;
# not on bare: no NAT, so no port forward to S's nginx (nothing would send
# the replies back either)
if has tcp || has cps; then
	for r in $(seq 1 "$TCP_REPS"); do
		log "repetition $r/$TCP_REPS: TCP"
		for sys in $SYSTEMS; do
			has tcp || [ "$sys" != bare ] || continue
			topo_up tcp || die "topology"
			system_up "$sys" || die "$sys up"
			if has cps && [ "$sys" != bare ]; then
				cps_up || die "nginx"
			fi
			# nsenter itself in the background (not the nsx function,
			# which would fork a subshell): $! is then the server
			nsenter --net="/run/netns/$NS_S" iperf3 -s -B $S_IP -p 5201 >/dev/null 2>&1 &
			PIDS+=($!)
			nsenter --net="/run/netns/$NS_S" "$XB" rr server 7000 &
			PIDS+=($!)
			sleep 0.3
			if has tcp; then
				for s in $TCP_SCEN; do tcp_scenario "$s" "$sys"; done
			fi
			if has cps && [ "$sys" != bare ]; then
				cps_scenario "$sys"
				case "$sys" in xmasq-*) nsx "$NS_R" "$XMASQ" --pin-dir "$PIN" stats --json >"$OUT/stats-$sys-cps-rep$r.json" 2>/dev/null ;; esac
			fi
			topo_down
		done
	done
fi
for x in apply rules flows; do
	has $x || continue
	log "$x"
	"${x}_phase"
done
log "done in $(($(date +%s) - START)) s; writing results"
python3 "$ROOT/tools/bench/report.py" "$RAW" "$OUT" "$TMP/ct_mem_xmasq" ${QUICK:+--quick}
