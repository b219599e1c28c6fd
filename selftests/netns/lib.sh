# shellcheck shell=bash
# selftests/netns/lib.sh — the one library of the namespace suites
# (selftests/netns/netns_*.sh) and tools/demo.sh:
#
#   TAP            tap_ok, tap_not_ok, tap_skip, tap_result, tap_check, diag, tap_done
#   lifetime       xm_init (root, tools, traps, temp dir), ns_add (a namespace,
#                  registered), pyrun / pyrun_bg (selftests/netns/py/*.py in a
#                  namespace, background ones registered), topo_down (undo
#                  everything registered), host_sysctl_min (a global host
#                  sysctl a check relies on)
#   helpers        nsx, xm, wait_for, json_get, link_stat, tcp_retrans, ...
#   reference      topo_up: an Azure-like VM with two public NICs in front of
#   topology       a backend, its backend services, the two routers (xmasq
#                  and the seed's iptables recipe) and ONE set of end-to-end
#                  checks both must pass; topo6_pub_up: its public side
#                  with IPv6 too, and the IPv6 clients' helpers
#
#   client0 C0 ─ eth0 ┐                     ┌ eth2 ─ backend B 198.18.0.2
#   192.0.2.2         │  router R           │  (no default route)
#   src 198.19.0.10   ├ eth0 192.0.2.1 ─────┤
#                     ├ eth1 198.51.100.1   └ eth2 198.18.0.1
#   client1 C1 ─ eth0 ┘  default via 192.0.2.2 dev eth0, no ip rules
#   198.51.100.2, src 198.19.1.10
#
# Replies to C1 reach it only if the router sends them out of eth1 although
# its routing table says eth0: that proves the per-NIC return path.
#
# Everything stays inside namespaces created here (names carry $$), and
# xm_cleanup (installed as EXIT trap by xm_init) removes namespaces,
# background processes (by pid), xmasq pin directories and temp files.
#
# Usage: source it, call xm_init, then topo_up VARIANT (gro|plain), or
# build another topology with ns_add.

XM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XM_DATA="$XM_ROOT/selftests/netns/py"
XMASQ="${XMASQ:-$XM_ROOT/build/xmasq}"
if [ -x /usr/bin/python3 ]; then XM_PY=/usr/bin/python3; else XM_PY=$(command -v python3); fi

# ---- addresses (RFC 5737 / RFC 2544 only) --------------------------------
R_ADDR0=192.0.2.1      # router eth0  ("public IP" 1)
R_ADDR1=198.51.100.1   # router eth1  ("public IP" 2)
R_ADDR2=198.18.0.1     # router eth2  (towards the backend)
C0_ADDR=192.0.2.2      # client0's link address (router's default gateway)
C1_ADDR=198.51.100.2   # client1's link address
C0_SRC=198.19.0.10     # "internet client" behind C0
C1_SRC=198.19.1.10     # "internet client" behind C1
B_ADDR=198.18.0.2      # backend
BIG_MB=${BIG_MB:-50}   # size of the big download

# ---- TAP ----------------------------------------------------------------------
# Numbered ok / not ok lines, diagnostics as "# " lines, and tap_done to print
# the plan and turn failures into the exit status.
T_NUM=0
T_FAILED=0

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

tap_ok() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - $*"; }

tap_not_ok() { T_NUM=$((T_NUM + 1)); T_FAILED=$((T_FAILED + 1)); echo "not ok $T_NUM - $*"; }

tap_skip() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - $1 # SKIP ${2:-}"; }

# tap_result RC DESC [DIAG...]: ok when RC is 0, else not ok plus diagnostics
tap_result() {
	local rc=$1 desc=$2
	shift 2
	if [ "$rc" -eq 0 ]; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc"
		[ $# -gt 0 ] && diag "$@"
	fi
	return "$rc"
}

tap_done() {
	echo "1..$T_NUM"
	[ "$T_FAILED" -eq 0 ]
}

# tap_check DESC CMD...: runs CMD, ok when it exits 0 (output shown on failure)
tap_check() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	tap_result "$rc" "$desc" "${out:-(no output, exit $rc)}"
}

# ---- bookkeeping and teardown ---------------------------------------------
XM_NETNS=()   # namespaces we created
XM_PIDS=()    # background processes we started
XM_PINS=()    # "NS DIR" xmasq pin directories
XM_TMP=""     # temp dir (backend files, logs)

# topo_down: undoes everything registered: pin directories (detach --all in
# their namespace, then the directory goes if it is one of ours), background
# processes (killed and reaped), namespaces (whatever still runs inside is
# ours and is killed, then they are deleted). Runs on exit too.
topo_down() {
	local p ns pin
	for pin in "${XM_PINS[@]}"; do
		ns=${pin%% *}
		p=${pin#* }
		if [ -e "/run/netns/$ns" ] && [ -x "$XMASQ" ]; then
			timeout 30 nsenter --net="/run/netns/$ns" "$XMASQ" --pin-dir "$p" detach --all >/dev/null 2>&1
		fi
		case "$p" in /sys/fs/bpf/xmasq-*) rm -rf "$p" ;; esac
	done
	for p in "${XM_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for ns in "${XM_NETNS[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill "$p" 2>/dev/null
		done
	done
	for p in "${XM_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	for ns in "${XM_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	XM_PINS=() XM_PIDS=() XM_NETNS=()
	return 0
}

xm_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	topo_down
	[ -n "$XM_TMP" ] && case "$XM_TMP" in /tmp/xmasq-test.*) rm -rf "$XM_TMP" ;; esac
	return $rc
}

# skip_all REASON: the whole suite cannot run here (a TAP plan of 0 with the
# reason; run.sh counts it neither passed nor failed)
skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

# xm_init [CMD...]: needs root and ip ethtool nsenter timeout python3 and
# CMD... (else the suite is skipped); sets traps and the temp dir XM_TMP
xm_init() {
	[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces)"
	local c
	for c in ip ethtool nsenter timeout "$XM_PY" "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "missing $c (run tools/deps.sh)"
	done
	trap xm_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	XM_TMP=$(mktemp -d /tmp/xmasq-test.$$.XXXXXX)
}

# need_xmasq: skip the suite when build/xmasq (or $XMASQ) is not built
need_xmasq() { [ -x "$XMASQ" ] || skip_all "$XMASQ not built (make)"; }

# ---- namespace helpers ------------------------------------------------------
# nsx NS CMD...: run CMD in namespace NS (network namespace only, host mounts
# kept, so bpffs pins survive between calls)
nsx() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# What every namespace starts with, whatever the host's sysctls say: a new
# namespace copies the host's net.ipv4.conf.{all,default}.* (the kernel's
# devconf_inherit_init_net 0), so a host that forwards (a container host),
# filters by reverse path or answers ARP differently would otherwise change
# what the suites see. These are the kernel's defaults, except rp_filter
# (off: the clients' sources live on lo). Per-namespace sysctls that are not
# copied (tcp_*, ip_local_port_range, ...) start at the kernel's defaults.
XM_NS_SYSCTLS=()
for c in all default; do
	XM_NS_SYSCTLS+=("net.ipv4.conf.$c.forwarding=0" "net.ipv4.conf.$c.rp_filter=0"
		"net.ipv4.conf.$c.accept_local=0" "net.ipv4.conf.$c.route_localnet=0"
		"net.ipv4.conf.$c.proxy_arp=0" "net.ipv4.conf.$c.arp_ignore=0"
		"net.ipv4.conf.$c.arp_announce=0" "net.ipv4.conf.$c.arp_filter=0"
		"net.ipv4.conf.$c.send_redirects=1" "net.ipv4.conf.$c.accept_redirects=1")
	# no IPv6 chatter (router solicitations, DAD) in the counters; a host
	# booted with ipv6.disable=1 has none to turn off
	[ -d /proc/sys/net/ipv6 ] && XM_NS_SYSCTLS+=("net.ipv6.conf.$c.disable_ipv6=1")
done
unset c

# ns_add NS...: new namespaces, registered for topo_down, each with
# XM_NS_SYSCTLS and lo up
ns_add() {
	local ns
	for ns in "$@"; do
		ip netns add "$ns" || return 1
		XM_NETNS+=("$ns")
		nsx "$ns" sysctl -qw "${XM_NS_SYSCTLS[@]}" || return 1
		ip -n "$ns" link set lo up || return 1
	done
}

# ns_ipv6 NS...: IPv6 back on in namespaces made by ns_add (which turns it
# off), on their links made so far and on those made later, with no
# duplicate address detection (addresses usable at once; add them with
# nodad too) and no router solicitations or advertisements taken. Returns 1
# on a host without IPv6.
ns_ipv6() {
	local ns d s
	[ -d /proc/sys/net/ipv6 ] || return 1
	for ns in "$@"; do
		s=()
		for d in default all $(ip -n "$ns" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
			s+=("net.ipv6.conf.$d.accept_dad=0" "net.ipv6.conf.$d.accept_ra=0"
				"net.ipv6.conf.$d.router_solicitations=0")
		done
		# "all" last: it turns every link's disable_ipv6 off too
		nsx "$ns" sysctl -qw "${s[@]}" net.ipv6.conf.default.disable_ipv6=0 \
			net.ipv6.conf.all.disable_ipv6=0 || return 1
	done
}

# host_sysctl_min NAME MIN: the host's (global, not per-namespace) sysctl
# NAME is at least MIN; else says so on stdout and returns 1
host_sysctl_min() {
	local v
	v=$(sysctl -n "$1" 2>/dev/null) || { echo "the host has no sysctl $1"; return 1; }
	[ "$v" -ge "$2" ] 2>/dev/null && return 0
	echo "the host's $1 is $v, below $2"
	return 1
}

# peers_gro NS:IFACE...: GRO on and TX checksum offload off on these veth
# ends: an XDP_REDIRECT into them is delivered (xmasq's XDP transmit path),
# and what they send carries complete checksums, like a real wire
peers_gro() {
	local p
	for p in "$@"; do
		nsx "${p%%:*}" ethtool -K "${p#*:}" gro on tx off >/dev/null || return 1
	done
}

# pyrun NS SECONDS SCRIPT ARGS...: selftests/netns/py/SCRIPT in NS, killed
# after SECONDS
pyrun() {
	local ns=$1 t=$2 script=$3
	shift 3
	timeout --kill-after=3 "$t" nsenter --net="/run/netns/$ns" "$XM_PY" "$XM_DATA/$script" "$@"
}

# pyrun_bg NS SECONDS SCRIPT ARGS...: the same in the background (SECONDS 0:
# no limit, a server that topo_down stops); registered; sets BG_PID, the pid
# of timeout itself (not of a subshell), so that killing it stops the script
pyrun_bg() {
	local ns=$1 t=$2 script=$3
	shift 3
	timeout --kill-after=3 "$t" nsenter --net="/run/netns/$ns" "$XM_PY" "$XM_DATA/$script" "$@" &
	BG_PID=$!
	XM_PIDS+=("$BG_PID")
}

# cli NS OP [--timeout S] ARGS...: selftests/netns/py/client.py in NS, with a hard timeout
cli() {
	local ns=$1 op=$2 t=10
	shift 2
	if [ "$1" = "--timeout" ]; then t=$2; shift 2; fi
	timeout --kill-after=5 $((t * 3 + 5)) nsenter --net="/run/netns/$ns" \
		"$XM_PY" "$XM_DATA/client.py" "$op" --timeout "$t" "$@"
}

# pid_reaped PID: PID, waited for, off XM_PIDS: topo_down would kill it by
# number, and with pid_max 32768 and other suites running, that number may
# be another process's by then
pid_reaped() {
	local p keep=()
	for p in "${XM_PIDS[@]}"; do
		[ "$p" != "$1" ] && keep+=("$p")
	done
	XM_PIDS=("${keep[@]}")
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# port_listening NS PROTO(tcp|udp) ADDR PORT
port_listening() {
	local flag=-ltn
	[ "$2" = udp ] && flag=-lun
	nsx "$1" ss -H $flag "src $3:$4" | grep -q .
}

# wait_port NS PROTO ADDR PORT [SECONDS]
wait_port() { wait_for "${5:-10}" port_listening "$1" "$2" "$3" "$4"; }

# config_flags: the pinned config's flags byte (xm_config.flags, offset 16)
config_flags() {
	bpftool -j map lookup pinned "$XM_PIN/config" key 0 0 0 0 |
		"$XM_PY" -c 'import json,sys; print(int(json.load(sys.stdin)["value"][16], 16))'
}

# json_get JSON_FILE PY_EXPR: prints eval(PY_EXPR) with d = the parsed JSON
json_get() {
	"$XM_PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1" "$2"
}

# link_stat NS IFACE rx_packets|tx_packets|rx_bytes|tx_bytes|rx_errors|...
# (_dropped too): from the namespace's /proc/net/dev. Not from
# /sys/class/net: under nsenter --net, sysfs (mounted by the host) still
# shows the host's interfaces, so a namespace's eth0 there is the host's.
link_stat() {
	nsx "$1" awk -v dev="$2" -v stat="$3" '
		BEGIN {
			split("bytes packets errors dropped", f)
			for (i = 1; i <= 4; i++) { c["rx_" f[i]] = i; c["tx_" f[i]] = i + 8 }
			if (!(stat in c)) exit 2
		}
		{
			n = index($0, ":")
			name = substr($0, 1, n - 1)
			gsub(/ /, "", name)
			if (n == 0 || name != dev) next
			$0 = substr($0, n + 1)
			print $(c[stat])
			found = 1
		}
		END { exit found ? 0 : 1 }' /proc/net/dev
}

# tcp_retrans NS: the namespace's TCP RetransSegs counter
tcp_retrans() {
	nsx "$1" awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RetransSegs") c = i; h = 1 } else print $c }' /proc/net/snmp
}

# ---- topology ---------------------------------------------------------------
# topo_up VARIANT [TAG]
#   VARIANT gro:   GRO on the client/backend veth ends (XDP_REDIRECT into
#                  them delivers: xmasq's XDP transmit path), and their TX
#                  checksum offload off, so they send complete checksums like
#                  a real wire (a local sender's CHECKSUM_PARTIAL frames are
#                  handed from XDP to tc by xmasq: counter pass_csum_partial)
#   VARIANT plain: default veth ends (no GRO, no XDP, checksum offload on:
#                  xmasq's tc path)
# Sets NS_R NS_C0 NS_C1 NS_B. Namespace names carry $$ and TAG.
topo_up() {
	local variant=$1 tag=${2:-$1} ns
	case "$variant" in gro | plain) ;; *) echo "topo_up: variant gro|plain" >&2; return 2 ;; esac
	TOPO_VARIANT=$variant
	NS_R="xm-r-$$-$tag"
	NS_C0="xm-c0-$$-$tag"
	NS_C1="xm-c1-$$-$tag"
	NS_B="xm-b-$$-$tag"
	ns_add "$NS_R" "$NS_C0" "$NS_C1" "$NS_B" || return 1
	# each peer end is eth0 in its own namespace
	ip -n "$NS_R" link add eth0 type veth peer name eth0 netns "$NS_C0" || return 1
	ip -n "$NS_R" link add eth1 type veth peer name eth0 netns "$NS_C1" || return 1
	ip -n "$NS_R" link add eth2 type veth peer name eth0 netns "$NS_B" || return 1

	ip -n "$NS_R" addr add $R_ADDR0/24 dev eth0
	ip -n "$NS_R" addr add $R_ADDR1/24 dev eth1
	ip -n "$NS_R" addr add $R_ADDR2/24 dev eth2
	ip -n "$NS_C0" addr add $C0_ADDR/24 dev eth0
	ip -n "$NS_C0" addr add $C0_SRC/32 dev lo
	ip -n "$NS_C1" addr add $C1_ADDR/24 dev eth0
	ip -n "$NS_C1" addr add $C1_SRC/32 dev lo
	ip -n "$NS_B" addr add $B_ADDR/24 dev eth0
	for ns in "$NS_R:eth0" "$NS_R:eth1" "$NS_R:eth2" "$NS_C0:eth0" "$NS_C1:eth0" "$NS_B:eth0"; do
		ip -n "${ns%%:*}" link set "${ns#*:}" up || return 1
	done
	if [ "$variant" = gro ]; then
		peers_gro "$NS_C0:eth0" "$NS_C1:eth0" "$NS_B:eth0" || return 1
	fi
	ip -n "$NS_R" route add default via $C0_ADDR dev eth0 || return 1
	ip -n "$NS_C0" route add default via $R_ADDR0 dev eth0 || return 1
	ip -n "$NS_C1" route add default via $R_ADDR1 dev eth0 || return 1
	# the backend has no default route: it can only answer 198.18.0.0/24
}

# ---- IPv6 on the reference topology --------------------------------------------
# topo6_pub_up VARIANT TAG: topo_up's topology with IPv6 on its public side
# (netns_ipv6.sh, netns_ipv6_v4.sh); the backend side is the caller's:
#
#   C0 2001:db8:0:1::2 ── eth0 2001:db8:0:1::1 ┐
#   src 2001:db8:ff00::10 on lo                ├ router R ── eth2 ── B
#   C1 2001:db8:0:2::2 ── eth1 2001:db8:0:2::1 ┘
#   src 2001:db8:ff01::10 on lo
#
# R: IPv6 default route via C0 (eth0) only, no ip -6 rules. Each client's
# source lives on its lo, off every router link: a reply to C1 reaches it
# only if the router sends it out of eth1 although its routing table says
# eth0. IPv6 stays off in B (ns_add's default) until the caller turns it on.
R6_0=2001:db8:0:1::1      # router eth0 (public IPv6 1, default route)
R6_1=2001:db8:0:2::1      # router eth1 (public IPv6 2)
C6_0=2001:db8:0:1::2      # client0's link address (the router's gateway)
C6_1=2001:db8:0:2::2      # client1's link address
C0_SRC6=2001:db8:ff00::10 # "internet client" behind C0
C1_SRC6=2001:db8:ff01::10 # "internet client" behind C1

topo6_pub_up() {
	topo_up "$1" "$2" || return 1
	ns_ipv6 "$NS_R" "$NS_C0" "$NS_C1" || return 1
	local a
	for a in "$NS_R $R6_0/64 eth0" "$NS_R $R6_1/64 eth1" \
		"$NS_C0 $C6_0/64 eth0" "$NS_C0 $C0_SRC6/128 lo" \
		"$NS_C1 $C6_1/64 eth0" "$NS_C1 $C1_SRC6/128 lo"; do
		set -- $a
		ip -n "$1" -6 addr add "$2" dev "$3" nodad || return 1
	done
	ip -n "$NS_R" -6 route add default via $C6_0 dev eth0 || return 1
	ip -n "$NS_C0" -6 route add default via $R6_0 dev eth0 || return 1
	ip -n "$NS_C1" -6 route add default via $R6_1 dev eth0 || return 1
}

# v6x ADDR: the address written out in full (as socat reports peers)
v6x() { "$XM_PY" -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]).exploded)' "$1"; }

# ccurl NS SRC ARGS...: curl in NS from SRC, connect within 3 s, bounded
ccurl() {
	local ns=$1 src=$2
	shift 2
	timeout --kill-after=3 60 nsenter --net="/run/netns/$ns" \
		curl -sS -g --interface "$src" --connect-timeout 3 "$@"
}

# client6_vars N: CNS CSRC CR CIF OTHER_NS CLABEL for IPv6 client N (0|1)
client6_vars() {
	if [ "$1" = 0 ]; then
		CNS=$NS_C0 CSRC=$C0_SRC6 CR=$R6_0 CIF=eth0 OTHER_NS=$NS_C1
	else
		CNS=$NS_C1 CSRC=$C1_SRC6 CR=$R6_1 CIF=eth1 OTHER_NS=$NS_C0
	fi
	CLABEL="C$1 [$CSRC] -> [$CR]:8080 ($CIF)"
}

# whoami N [PORT] [MAXTIME]: the address the backend saw for IPv6 client
# N's HTTP request to the router's PORT (8080)
whoami() {
	client6_vars "$1"
	ccurl "$CNS" "$CSRC" --max-time "${3:-5}" "http://[$CR]:${2:-8080}/whoami"
}

# check6_other_quiet L N OTHER0: the replies to IPv6 client N (client6_vars
# N done) came back through the NIC its requests came in on: the client
# got them (FWD_OK[N], its TCP forward answered) and the other client's
# link received at most 20 packets since its eth0 rx_packets were OTHER0
# (MLD and neighbour discovery may send a few)
check6_other_quiet() {
	local other1 rc=0
	other1=$(link_stat "$OTHER_NS" eth0 rx_packets)
	[ $((other1 - $3)) -gt 20 ] && rc=1
	[ "${FWD_OK[$2]}" = 1 ] || rc=1
	tap_result $rc "$1: $CLABEL: replies came back through $CIF, none out of the other NIC ($((other1 - $3)) packets there)" \
		"the other client's eth0 received $((other1 - $3)) packets meanwhile" \
		"TCP through this forward answered: ${FWD_OK[$2]}"
}

# check_big WHAT CURL...: CURL... (a curl command ending in the URL of a
# big.bin) downloads it whole, sha256 BIG_SHA. The check reads "WHAT:
# BIG_MB MB download, sha256 matches (BYTES bytes, SECS s)".
check_big() {
	local what=$1 out rc bytes secs sha
	shift
	rm -f "$XM_TMP/dl.bin"
	out=$("$@" -o "$XM_TMP/dl.bin" -w '%{size_download} %{time_total}' 2>&1)
	rc=$?
	read -r bytes secs <<<"$out"
	sha=$(sha256sum "$XM_TMP/dl.bin" 2>/dev/null | cut -d' ' -f1)
	rm -f "$XM_TMP/dl.bin"
	[ $rc -eq 0 ] && [ "$sha" != "$BIG_SHA" ] && rc=1
	tap_result $rc "$what: ${BIG_MB} MB download, sha256 matches (${bytes:-0} bytes, ${secs:-?} s)" \
		"curl: $out" "got sha256 ${sha:-none}, want $BIG_SHA"
}

# check_ab WHAT NS SRC URL SECS: the suite's AB_N requests for URL, by ab
# in NS from SRC, 8 at a time (within SECS s): all complete, none failed.
# The check reads "WHAT (ab, 8 at a time): N complete, F failed".
check_ab() {
	local out rc ndone failed
	out=$(timeout --kill-after=3 "$5" nsenter --net="/run/netns/$2" \
		ab -q -n "$AB_N" -c 8 -s 5 -B "$3" "$4" 2>&1)
	rc=$?
	ndone=$(awk '/^Complete requests:/ { print $3 }' <<<"$out")
	failed=$(awk '/^Failed requests:/ { print $3 }' <<<"$out")
	[ $rc -eq 0 ] && { [ "$ndone" != "$AB_N" ] || [ "$failed" != 0 ]; } && rc=1
	tap_result $rc "$1 (ab, 8 at a time): ${ndone:-0} complete, ${failed:-?} failed" \
		"$(tail -n 5 <<<"$out")"
}

# udp6 NS SRC DST PORT PAYLOAD [SPORT]: one datagram from SRC (from port
# SPORT, reused, where given), the reply printed (3 tries of 1 s: a first
# datagram may race neighbour discovery; the first line only: a retry may
# also read the late answer to the try before)
udp6() {
	local i out bind="[$2]"
	[ -n "${6:-}" ] && bind="[$2]:$6,reuseaddr"
	for i in 1 2 3; do
		out=$(printf %s "$5" | timeout --kill-after=2 5 nsenter --net="/run/netns/$1" \
			socat -T 1 - "UDP6:[$3]:$4,bind=$bind" 2>/dev/null | head -n 1)
		[ -n "$out" ] && break
	done
	printf '%s\n' "$out"
	[ -n "$out" ]
}

# udp6_refused NS SRC DST PORT: "refused" when a connected UDP socket from
# SRC to [DST]:PORT is told the port is unreachable (ECONNREFUSED), else
# what happened
udp6_refused() {
	nsx "$1" timeout 10 "$XM_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.connect((sys.argv[2], int(sys.argv[3])))
s.settimeout(2)
for _ in range(3):
    try:
        s.send(b"anyone there?")
        s.recv(100)
        print("answered")
        sys.exit(0)
    except ConnectionRefusedError:
        print("refused")
        sys.exit(0)
    except socket.timeout:
        pass
print("no answer")' "$2" "$3" "$4"
}

# ---- backend services -------------------------------------------------------
# backend_up: index page, $BIG_MB MB random file, /whoami, UDP echo :5000,
# connection recorder on :81. Sets BIG_SHA (sha256 of big.bin).
backend_up() {
	local www="$XM_TMP/www" log="$XM_TMP/log-$NS_B"
	mkdir -p "$www" "$log"
	if [ ! -f "$www/big.bin" ]; then
		echo "<html><body><h1>xmasq-test-index</h1><p>served by the backend 198.18.0.2</p></body></html>" >"$www/index.html"
		head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >"$www/big.bin"
		head -c $((10 * 1024 * 1024)) "$www/big.bin" >"$www/10mb.bin"
	fi
	BIG_SHA=$(sha256sum "$www/big.bin" | cut -d' ' -f1)
	BACKEND_LOG=$log
	nsx "$NS_B" "$XM_PY" "$XM_DATA/backend.py" --addr $B_ADDR --dir "$www" --log "$log" \
		>"$log/stdout" 2>&1 &
	XM_PIDS+=($!)
	if ! wait_for 10 test -e "$log/ready"; then
		echo "backend did not start:" >&2
		cat "$log/stdout" >&2
		return 1
	fi
	wait_port "$NS_B" tcp $B_ADDR 80 && wait_port "$NS_B" tcp $B_ADDR 81 && wait_port "$NS_B" udp $B_ADDR 5000
}

backend_tcp81_count() { wc -l <"$BACKEND_LOG/tcp81.log"; }

# nginx_www_up NS DIR PORTVAR LISTEN...: nginx in NS listening on each LISTEN
# (ADDR:PORT, [ADDR6]:PORT), its config, logs and stdout in DIR, serving
# $XM_TMP/www: index.html, big.bin ($BIG_MB MB, made once a run) and
# /whoami (the peer address it saw). Its access log NGX_LOG has a line
# "PEER PORT PATH" a request, PORT nginx's $PORTVAR (server_port or
# remote_port). In a session of its own (setsid: the same pid, no fork): a
# signal to its process group does not reach the script (a run was ended
# by a SIGTERM from the servers' side). Sets WWW, BIG_SHA, NGX_LOG; waits
# for no port.
nginx_www_up() {
	local ns=$1 dir=$2 portvar=$3 listen="" a
	shift 3
	WWW="$XM_TMP/www"
	NGX_LOG="$dir/access.log"
	mkdir -p "$WWW" "$dir"
	if [ ! -f "$WWW/big.bin" ]; then
		echo "<html><body><h1>xmasq-test-index</h1></body></html>" >"$WWW/index.html"
		head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >"$WWW/big.bin"
	fi
	BIG_SHA=$(sha256sum "$WWW/big.bin" | cut -d' ' -f1)
	for a in "$@"; do listen+="		listen $a;"$'\n'; done
	cat >"$dir/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
daemon off;
events { worker_connections 1024; }
http {
	log_format peer '\$remote_addr \$$portvar \$request_uri';
	access_log $NGX_LOG peer;
	client_body_temp_path $dir;
	proxy_temp_path $dir;
	fastcgi_temp_path $dir;
	uwsgi_temp_path $dir;
	scgi_temp_path $dir;
	sendfile on;
	server {
${listen}		root $WWW;
		location = /whoami { default_type text/plain; return 200 "\$remote_addr\n"; }
	}
}
EOF
	nsx "$ns" setsid nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/stdout" 2>&1 &
	XM_PIDS+=($!)
}

# ---- routers ------------------------------------------------------------------
# each_router6 WHAT UP: the IPv6 suites' runs, one a router in ROUTERS
# (ip6tables xdp auto): sets router and variant (the veth peers: GRO ones
# for xdp, plain ones else), runs UP VARIANT ROUTER (the topology and its
# servers; in this shell, not a subshell: it sets NS_* and registers what
# topo_down undoes; its output to topo.out, shown where it fails: then one
# failure "ROUTER: WHAT" and the next router), then run_ip6tables or
# run_xmasq ROUTER (the suite's), then topo_down.
each_router6() {
	local what=$1 up=$2 t0
	for router in ${ROUTERS:-ip6tables xdp auto}; do
		case $router in
		ip6tables | auto) variant=plain ;;
		xdp) variant=gro ;;
		*) echo "unknown router $router (ip6tables|xdp|auto)" >&2; exit 2 ;;
		esac
		diag "==== $router router, $variant veth peers"
		[ "$router" != ip6tables ] && [ ! -x "$XMASQ" ] && { tap_not_ok "$router: $XMASQ not built"; continue; }
		t0=$SECONDS
		if ! "$up" "$variant" "$router" >"$XM_TMP/topo.out" 2>&1; then
			tap_not_ok "$router: $what"
			diag "$(cat "$XM_TMP/topo.out")"
			topo_down
			continue
		fi
		if [ "$router" = ip6tables ]; then
			run_ip6tables
		else
			run_xmasq "$router"
		fi
		topo_down
		diag "$router: $((SECONDS - t0)) s"
	done
}

# The rules xmasq gets (the same forwards the iptables recipe installs).
XM_RULES="forward eth0 tcp 8080 to $B_ADDR:80
forward eth1 tcp 8080 to $B_ADDR:80
forward eth0 udp 5000 to $B_ADDR:5000
forward eth1 udp 5000 to $B_ADDR:5000"

# xm ARGS...: build/xmasq in the router namespace with this run's pin dir
xm() { timeout --kill-after=5 60 nsenter --net="/run/netns/$NS_R" "$XMASQ" --pin-dir "$XM_PIN" "$@"; }

# xm_attach MODE NIC...: xm attach NIC... in MODE (auto: without --mode,
# xmasq chooses)
xm_attach() {
	local mode=$1
	shift
	if [ "$mode" = auto ]; then
		xm attach "$@"
	else
		xm attach --mode "$mode" "$@"
	fi
}

# counter NAME: the packets of xmasq's global counter NAME in this router
counter() {
	xm stats --json >"$XM_TMP/stats.json" 2>/dev/null &&
		json_get "$XM_TMP/stats.json" "d['counters']['$1']['packets']"
}

# router_xmasq_vars: XM_PIN (this router's pin dir, registered for teardown)
# and XM_RULES_FILE. Idempotent; call it in the main shell before anything
# that runs router_xmasq_up in a subshell.
router_xmasq_vars() {
	XM_PIN="/sys/fs/bpf/xmasq-test-$$-$TOPO_VARIANT"
	XM_RULES_FILE="$XM_TMP/rules-$TOPO_VARIANT.conf"
	case " ${XM_PINS[*]} " in *" $XM_PIN "*) ;; *) XM_PINS+=("$NS_R $XM_PIN") ;; esac
}

# router_xmasq_up [MODE]: attach xmasq to eth0 eth1 eth2, apply XM_RULES
router_xmasq_up() {
	local mode=${1:-xdp}
	ensure_bpffs || return 1
	router_xmasq_vars
	printf '%s\n' "$XM_RULES" >"$XM_RULES_FILE"
	xm attach --mode "$mode" eth0 eth1 eth2 || return 1
	xm apply "$XM_RULES_FILE"
}

# bpffs on /sys/fs/bpf (host mount namespace): needed for xmasq's pins
ensure_bpffs() {
	if ! grep -q ' /sys/fs/bpf bpf ' /proc/mounts; then
		mount -t bpf bpf /sys/fs/bpf || return 1
	fi
}

# router_iptables_up [connmark]: the seed's recipe.
#   forwarding, DNAT per ingress NIC, MASQUERADE towards the backend,
#   and source routing for eth1's address (ip rule + table 101).
# With "connmark", also the mark-based return path that DNAT'd replies need
# (the seed's "ip rule from 198.51.100.1" does not match them: the reply's
# source is rewritten to 198.51.100.1 only in POSTROUTING, after routing).
router_iptables_up() {
	local ipt="nsx $NS_R iptables -w" ifc proto
	nsx "$NS_R" sysctl -qw net.ipv4.ip_forward=1 || return 1
	for ifc in eth0 eth1; do
		for proto in tcp:8080:80 udp:5000:5000; do
			IFS=: read -r p from to <<<"$proto"
			$ipt -t nat -A PREROUTING -i $ifc -p "$p" --dport "$from" -j DNAT --to-destination "$B_ADDR:$to" || return 1
		done
	done
	$ipt -t nat -A POSTROUTING -d $B_ADDR -j MASQUERADE || return 1
	ip -n "$NS_R" rule add from $R_ADDR1 table 101 || return 1
	ip -n "$NS_R" route add default via $C1_ADDR dev eth1 table 101 || return 1
	if [ "${1:-}" = connmark ]; then
		$ipt -t mangle -A PREROUTING -i eth1 -m conntrack --ctstate NEW -j CONNMARK --set-mark 101 || return 1
		$ipt -t mangle -A PREROUTING -i eth2 -j CONNMARK --restore-mark || return 1
		ip -n "$NS_R" rule add fwmark 101 table 101 || return 1
	fi
}

router_iptables_down() {
	nsx "$NS_R" iptables -w -t nat -F
}

# ---- the checks (one set, both routers) ---------------------------------------
# client_vars N: sets CNS CSRC CRADDR CIF CLABEL for client N (0|1)
client_vars() {
	if [ "$1" = 0 ]; then
		CNS=$NS_C0 CSRC=$C0_SRC CRADDR=$R_ADDR0 CIF=eth0 OTHER_NS=$NS_C1
	else
		CNS=$NS_C1 CSRC=$C1_SRC CRADDR=$R_ADDR1 CIF=eth1 OTHER_NS=$NS_C0
	fi
	CLABEL="C$1 -> $CRADDR ($CIF)"
}

# check_client N: HTTP page, /whoami, big download, UDP through client N.
# Sets LAST_XFER_SECS.
check_client() {
	client_vars "$1"
	local out rc other0 other1 r0 r1 payload
	other0=$(link_stat "$OTHER_NS" eth0 rx_packets)
	r0=$(tcp_retrans "$NS_B")

	out=$(cli "$CNS" get --src $CSRC "http://$CRADDR:8080/" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && ! grep -q xmasq-test-index <<<"$out" && rc=1
	tap_result $rc "$CLABEL: HTTP GET of the index page through tcp/8080" "$out"

	out=$(cli "$CNS" get --src $CSRC "http://$CRADDR:8080/whoami" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "${out%%:*}" != "$R_ADDR2" ] && rc=1
	tap_result $rc "$CLABEL: backend saw the router ($R_ADDR2) as source (masquerade)" "whoami: $out"

	out=$(cli "$CNS" sha --timeout 30 --src $CSRC "http://$CRADDR:8080/big.bin" 2>&1)
	rc=$?
	local sha bytes secs
	[ $rc -eq 0 ] && read -r sha bytes secs <<<"$out"
	LAST_XFER_SECS=$secs
	[ $rc -eq 0 ] && [ "$sha" != "$BIG_SHA" ] && rc=1
	tap_result $rc "$CLABEL: ${BIG_MB} MB download, sha256 matches (${secs:-?} s)" \
		"got: $out" "want: $BIG_SHA $((BIG_MB * 1024 * 1024))"
	r1=$(tcp_retrans "$NS_B")
	LAST_RETRANS=$((r1 - r0))

	payload="hello-$1-$RANDOM"
	out=$(cli "$CNS" udp --timeout 3 --src $CSRC "$CRADDR" 5000 "$payload" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "$out" != "echo:$R_ADDR2:$payload" ] && rc=1
	tap_result $rc "$CLABEL: UDP request/response on udp/5000, backend saw $R_ADDR2" \
		"got: $out" "want: echo:$R_ADDR2:$payload"

	# replies went out of the NIC the traffic came in on: the client got
	# them (checked above) and the other client's link stayed quiet
	other1=$(link_stat "$OTHER_NS" eth0 rx_packets)
	rc=0
	[ $((other1 - other0)) -gt 5 ] && rc=1
	tap_result $rc "$CLABEL: replies did not leak out of the other NIC ($((other1 - other0)) packets there)" \
		"the other client's eth0 received $((other1 - other0)) packets meanwhile"
}

# check_udp_split N: a 1368-byte UDP datagram without DF (the sender's
# IP_PMTUDISC_DONT) through client N's NIC to udp/5000, over a backend link
# of MTU 1300 (both ends): the router sends it on in two fragments (the
# kernel's forward path for iptables, frag_split for xmasq), the backend
# answers in fragments of its own, and the echo comes back intact through
# the same NIC. Only with complete checksums (the gro variant, a real
# wire's): a local sender's unfinished one is the kernel's to fragment.
check_udp_split() {
	client_vars "$1"
	local out rc payload want
	payload="split-$1-$RANDOM-"
	want="echo:$R_ADDR2:$payload$(head -c $((1340 - ${#payload})) /dev/zero | tr '\0' x)"
	ip -n "$NS_R" link set eth2 mtu 1300 && ip -n "$NS_B" link set eth0 mtu 1300
	out=$(cli "$CNS" udp --timeout 3 --src $CSRC --size 1340 --no-df "$CRADDR" 5000 "$payload" 2>&1)
	rc=$?
	ip -n "$NS_R" link set eth2 mtu 1500
	ip -n "$NS_B" link set eth0 mtu 1500
	[ $rc -eq 0 ] && [ "$out" != "$want" ] && rc=1
	tap_result $rc "$CLABEL: a 1368-byte UDP datagram without DF over the backend link's MTU 1300 reaches the backend in fragments, its echo ($((${#want} - 16)) bytes) comes back intact" \
		"got ${#out} bytes: ${out:0:60}..." "want ${#want} bytes: ${want:0:60}..." "$(tail -n 2 "$BACKEND_LOG/udp.log")"
}

# check_unforwarded: a connection to the router's tcp/8081 (no rule) never
# reaches the backend's port-81 recorder; control: the router itself can
# reach that recorder, so the check can fail.
check_unforwarded() {
	local n0 n1 out rc i
	n0=$(backend_tcp81_count)
	out=$(cli "$NS_R" tcp --timeout 3 --src $R_ADDR2 $B_ADDR 81 2>&1)
	rc=$?
	wait_for 3 test "$(backend_tcp81_count)" -gt "$n0"
	n1=$(backend_tcp81_count)
	[ $rc -eq 0 ] && [ "$n1" -le "$n0" ] && rc=1
	tap_result $rc "control: the backend's tcp/81 recorder is reachable from the router and records it" \
		"connect: $out" "records: $n0 -> $n1"
	for i in 0 1; do
		client_vars $i
		n0=$(backend_tcp81_count)
		out=$(cli "$CNS" tcp --timeout 2 --src $CSRC "$CRADDR" 8081 2>&1)
		sleep 0.3
		n1=$(backend_tcp81_count)
		rc=0
		[ "$out" = connected ] && rc=1
		[ "$n1" -ne "$n0" ] && rc=1
		tap_result $rc "C$i -> $CRADDR:8081 (no rule) does not reach the backend (${out:-no answer})" \
			"connect: $out" "backend tcp/81 records: $n0 -> $n1" "$(tail -n 2 "$BACKEND_LOG/tcp81.log")"
	done
}

# check_forwarding_works N DESC: quick HTTP GET through client N
check_forwarding_works() {
	client_vars "$1"
	local out rc
	out=$(cli "$CNS" get --timeout 3 --src $CSRC "http://$CRADDR:8080/whoami" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "${out%%:*}" != "$R_ADDR2" ] && rc=1
	tap_result $rc "$CLABEL: $2" "$out"
}

# check_not_forwarded DESC: neither TCP nor UDP gets through either client
check_not_forwarded() {
	local i out rc n0 u0 u1
	for i in 0 1; do
		client_vars $i
		n0=$(grep -c whoami "$BACKEND_LOG/http.log")
		u0=$(wc -l <"$BACKEND_LOG/udp.log")
		out=$(cli "$CNS" get --timeout 2 --src $CSRC "http://$CRADDR:8080/whoami" 2>&1)
		rc=$?
		local out2 rc2
		out2=$(cli "$CNS" udp --timeout 2 --src $CSRC "$CRADDR" 5000 "after" 2>&1)
		rc2=$?
		u1=$(wc -l <"$BACKEND_LOG/udp.log")
		if [ $rc -ne 0 ] && [ $rc2 -ne 0 ] && [ "$(grep -c whoami "$BACKEND_LOG/http.log")" -eq "$n0" ] && [ "$u1" -eq "$u0" ]; then
			tap_ok "$CLABEL: $1: tcp/8080 and udp/5000 no longer forwarded"
		else
			tap_not_ok "$CLABEL: $1: tcp/8080 and udp/5000 no longer forwarded"
			diag "tcp: rc=$rc $out" "udp: rc=$rc2 $out2" "backend udp log lines $u0 -> $u1"
		fi
	done
}
