#!/bin/bash
# Faults under traffic (issue 12, item 5), in network namespaces, on
# follow_lib.sh's topology (client C, router R with wan/lan/vf0, backends
# B behind lan and B2 behind vf0):
#
#  1. `xmasq attach` killed (SIGKILL) at random points, then run again: it
#     works, and leaves exactly the pins and attachments of a clean attach;
#  then under traffic counted to the byte (follow_lib.sh's streams_up: UDP
#  through the forward and the masquerade, TCP through the forward):
#  2. `xmasq apply` killed at random points 100 times, alternating between
#     two rule sets that share the streams' rules and differ in 300 others
#     and in the target of wan udp 5002 (B in A, B2 in B); a probe opens a
#     new flow to wan udp 5002 every 10 ms: each is answered by B or B2,
#     never by nothing (no half set); the next complete apply heals
#     (`apply --diff` finds nothing left to change);
#  3. vf0 deleted (no follower running) with a TCP stream through it: the
#     streams through wan and lan carry on, `status` says vf0 is gone, its
#     flows expire and their masquerade ports are freed (conntrack, the
#     ports in status); vf0 created again and attached: tcp/8081 works;
#  4. lan's MTU (and its peer's) lowered to 1280 under the streams,
#     `xmasq follow` running: DF datagrams of 1400 B through the forward get
#     frag-needed back (the client's path MTU becomes 1280) and
#     frag_needed_sent counts; the streams carry on. Then a bulk TCP
#     transfer (GSO packets of a TSO sender, CHECKSUM_PARTIAL) when the
#     MTU drops: frag-needed reaches the client, which lowers its path MTU
#     and carries on (was reset: issue 12 item 5, bpf/pmtu.h);
#  then the streams stop: not one datagram or byte lost over 1-4;
#  5. a pinned map removed by hand: status and apply fail naming the map
#     and `--fresh`; attach --fresh heals;
#  6. bpffs not mounted (a private mount namespace): status says so and
#     that attach mounts it; attach mounts it and works.
# TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init unshare bpftool
need_xmasq
ensure_bpffs || exit 1

NS_R="xmflt-r-$$" NS_C="xmflt-c-$$" NS_B="xmflt-b-$$" NS_B2="xmflt-b2-$$" NS_X="xmflt-x-$$"
XM_PIN="/sys/fs/bpf/xmasq-faults-$$"
XM_PINS+=("$NS_R $XM_PIN")
FOLLOW_LOG="$XM_TMP/follow.log"
# shellcheck source=selftests/netns/follow_lib.sh
. "$(dirname "$0")/follow_lib.sh"
follow_up

# xmasq in R, started by nsenter itself: $! is xmasq's pid (for kill -9)
xm_bg() { nsenter --net="/run/netns/$NS_R" "$XMASQ" --pin-dir "$XM_PIN" "$@" >/dev/null 2>&1 & }
# rand_sleep MAX_US: sleeps a random time up to MAX_US microseconds
rand_sleep() {
	local us=$(((RANDOM * 32768 + RANDOM) % ($1 + 1)))
	sleep "$(printf '%d.%06d' $((us / 1000000)) $((us % 1000000)))"
}
now_us() { echo $(($(date +%s%N) / 1000)); }
# the pins and the attachments (program names, no ids) of this router
router_shape() {
	ls "$XM_PIN" 2>/dev/null | sort
	nsx "$NS_R" bpftool -j net show 2>/dev/null | "$XM_PY" -c 'import json,sys
for kind in json.load(sys.stdin):
    for name, l in sorted(kind.items()):
        for e in l:
            print(name, e.get("devname"), e.get("kind", e.get("mode", "")), e.get("name", "").split(":")[0])'
}

# the rule sets: the streams' rules and short timeouts (flows of a deleted
# NIC expire quickly) in both; A sends wan udp 5002 to B, B to B2; 300
# forwards each of their own make an apply long enough to be killed inside
common_rules() {
	cat "$RULES"
	printf 'set timeout %s\n' "udp 3" "udp-assured 3" "tcp-established 4" "tcp-fin 3" "tcp-close 2" "tcp-syn 3" "icmp 3"
}
RULES_A="$XM_TMP/a.conf" RULES_B="$XM_TMP/b.conf"
{
	common_rules
	echo "forward wan udp 5002 to $B:5000"
	for p in $(seq 10000 10299); do echo "forward wan tcp $p to $B:80"; done
} >"$RULES_A"
{
	common_rules
	echo "forward wan udp 5002 to $B2:5000"
	for p in $(seq 20000 20299); do echo "forward wan tcp $p to $B2:80"; done
} >"$RULES_B"

# ---- 1. attach killed half-way ---------------------------------------------------
t0=$(now_us)
if ! out=$(xm attach wan lan vf0 2>&1); then
	echo "Bail out! attach failed: $out"
	exit 1
fi
attach_us=$(($(now_us) - t0))
clean_shape=$(router_shape)
out=$(xm detach --all 2>&1)
[ ! -e "$XM_PIN" ] && ! router_shape | grep -q xmasq
tap_result $? "a clean attach and detach --all (reference: attach took $attach_us us)" "$out" "$(router_shape)"
kills=""
for i in 1 2 3 4 5 6; do
	xm_bg attach wan lan vf0
	pid=$!
	rand_sleep "$attach_us"
	kill -9 "$pid" 2>/dev/null && kills="$kills $i"
	wait "$pid" 2>/dev/null
	# every other one starts from what the killed one left, the rest clean
	[ $((i % 2)) -eq 0 ] && xm detach --all >/dev/null 2>&1
done
diag "attach killed in runs:${kills:- none (they all finished first)}"
out=$(xm attach wan lan vf0 2>&1 && xm apply "$RULES_A" 2>&1)
tap_result $? "attach after attaches killed at random points: works" "$out"
shape=$(router_shape)
[ "$shape" = "$clean_shape" ]
tap_result $? "... and leaves exactly a clean attach's pins and attachments" \
	"$(diff <(echo "$clean_shape") <(echo "$shape"))"
out=$(who 8080)
[ "$out" = "$LAN1" ]
tap_result $? "tcp/8080 through the forward works" "got: $out"

# ---- 2. apply killed 100 times -----------------------------------------------------
streams_up
t0=$(now_us)
out=$(xm apply "$RULES_B" 2>&1 && xm apply "$RULES_A" 2>&1)
tap_result $? "complete applies A -> B -> A" "$out"
apply_us=$((($(now_us) - t0) / 2))
probe_json="$XM_TMP/probe.json"
nsenter --net="/run/netns/$NS_C" timeout 300 "$XM_PY" "$XM_DATA/follow_peer.py" probe $R_WAN 5002 "$probe_json" &
probe_pid=$!
XM_PIDS+=("$probe_pid")
wait_for 5 json_get "$probe_json" "d['seen']['$LAN1'] > 0 or exit(1)"
tap_result $? "a probe opening a new flow to wan udp 5002 every 10 ms is answered (by B)" "$(cat "$probe_json" 2>&1)"
killed=0 finished=0
for i in $(seq 100); do
	f=$RULES_A
	[ $((i % 2)) -eq 1 ] && f=$RULES_B
	xm_bg apply "$f"
	pid=$!
	rand_sleep $((apply_us * 2 / 3))
	if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
	wait "$pid" 2>/dev/null
done
diag "apply (a complete one takes $apply_us us): $killed killed, $finished finished before the kill"
[ "$killed" -ge 10 ]
tap_result $? "at least 10 of the 100 applies were killed before they finished ($killed)"
out=$(xm apply "$RULES_B" 2>&1)
tap_result $? "the next apply completes" "$out"
out=$(xm apply --diff "$RULES_B" 2>&1)
rc=$?
grep -Eq '^[-+~] ' <<<"$out" && rc=1
tap_result $rc "... and heals: apply --diff finds nothing left to change" "$out"
wait_for 5 json_get "$probe_json" "d['seen'].get('$VF', 0) > 0 or exit(1)"
tap_result $? "the probe is answered by B2 after B's set is in" "$(cat "$probe_json" 2>&1)"
kill -TERM "$probe_pid"
wait "$probe_pid" 2>/dev/null
probe=$(cat "$probe_json" 2>&1)
json_get "$probe_json" "d['lost'] == 0 and set(d['seen']) <= {'$LAN1', '$VF'} and d['sent'] > 0 or exit(1)" >/dev/null
tap_result $? "no probe ever met a half set: every new flow answered by B or B2 ($probe)" "$probe"
stream_grows fwd recv && stream_grows masq recv && stream_grows tcp echoed
tap_result $? "the streams carry on" "$(cat "$XM_TMP"/fwd.json "$XM_TMP"/masq.json "$XM_TMP"/tcp.json 2>&1)"

# ---- 3. a managed NIC deleted under traffic ----------------------------------------
nsenter --net="/run/netns/$NS_C" timeout 300 "$XM_PY" "$XM_DATA/follow_peer.py" tcp-stream $R_WAN 8081 "$XM_TMP/vf.json" &
vf_pid=$!
XM_PIDS+=("$vf_pid")
wait_for 5 stream_at_least vf echoed 5000
tap_result $? "a TCP stream through vf0 (tcp/8081 to B2) runs" "$(cat "$XM_TMP/vf.json" 2>&1)"
# flows_to ADDR: flows in the table to ADDR (either direction)
flows_to() {
	xm conntrack --json list >"$XM_TMP/ct.json" 2>/dev/null &&
		json_get "$XM_TMP/ct.json" "len([f for f in (d if isinstance(d, list) else d['flows']) if '$1' in json.dumps(f)])"
}
# ports_to ADDR: masquerade port groups in status toward ADDR
ports_to() {
	xm status --json >"$XM_TMP/st.json" 2>/dev/null &&
		json_get "$XM_TMP/st.json" "len([g for g in d['ports']['busiest'] if g['peer'] == '$1'])"
}
n=$(flows_to $B2)
p=$(ports_to $B2)
[ "${n:-0}" -ge 1 ] && [ "${p:-0}" -ge 1 ]
tap_result $? "before: flows ($n) and a masquerade port group ($p) toward B2" "$(cat "$XM_TMP/ct.json")" "$(cat "$XM_TMP/st.json")"
ip -n "$NS_R" link del vf0
wait_for 3 iface_is vf0 gone true
tap_result $? "vf0 deleted: status --json says it is gone" "$(cat "$XM_TMP/st.json")"
stream_grows fwd recv && stream_grows masq recv && stream_grows tcp echoed
tap_result $? "the streams through wan and lan carry on" "$(cat "$XM_TMP"/fwd.json "$XM_TMP"/masq.json "$XM_TMP"/tcp.json 2>&1)"
kill "$vf_pid" 2>/dev/null
wait "$vf_pid" 2>/dev/null
zero() { [ "$("$@")" = 0 ]; }
wait_for 20 zero flows_to $B2
tap_result $? "vf0's flows expire and are removed" "$(cat "$XM_TMP/ct.json")"
wait_for 5 zero ports_to $B2
tap_result $? "... and their masquerade ports are free" "$(cat "$XM_TMP/st.json")"
vf0_up
out=$(xm attach vf0 2>&1)
tap_result $? "vf0 created again and attached" "$out"
out=$(who 8081)
[ "$out" = "$VF" ]
tap_result $? "tcp/8081 through vf0 works again" "got: $out"

# ---- 4. MTU lowered under traffic -------------------------------------------------
timeout --kill-after=3 300 nsenter --net="/run/netns/$NS_R" "$XMASQ" --pin-dir "$XM_PIN" follow >"$FOLLOW_LOG" 2>&1 &
XM_PIDS+=("$!")
wait_for 5 logged "following the managed NICs"
tap_result $? "xmasq follow runs" "$(cat "$FOLLOW_LOG")"
fn0=$(counter frag_needed_sent)
ip -n "$NS_R" link set lan mtu 1280 && ip -n "$NS_B" link set eth0 mtu 1280
wait_for 2 iface_is lan mtu 1280
tap_result $? "lan's MTU lowered to 1280 under traffic: in the maps" "$(cat "$XM_TMP/st.json")"
out=$(peer "$NS_C" pmtu $R_WAN 5000 1400 5 2>&1)
[ "$out" = 1280 ]
tap_result $? "DF datagrams of 1400 B through the forward: frag-needed reaches the client, its path MTU is 1280" "got: $out"
fn1=$(counter frag_needed_sent)
[ "${fn1:-0}" -gt "${fn0:-0}" ]
tap_result $? "frag_needed_sent counts them (${fn0:-?} -> ${fn1:-?})"
stream_grows fwd recv && stream_grows masq recv && stream_grows tcp echoed
tap_result $? "the streams carry on" "$(cat "$XM_TMP"/fwd.json "$XM_TMP"/masq.json "$XM_TMP"/tcp.json 2>&1)"
# A TCP transfer with full-size segments when the MTU drops: tc sees the
# client's GSO packets (64 KB, CHECKSUM_PARTIAL); each whose segments are
# too big becomes a frag-needed (it once failed: drop_tc_rewrite, then a
# RST), and the transfer goes on in segments that fit.
ip -n "$NS_R" link set lan mtu 1500 && ip -n "$NS_B" link set eth0 mtu 1500 && wait_for 2 iface_is lan mtu 1500
nsx "$NS_C" ip route flush cache
nsenter --net="/run/netns/$NS_C" timeout 300 "$XM_PY" "$XM_DATA/follow_peer.py" tcp-stream $R_WAN 8080 "$XM_TMP/bulk.json" 65536 &
bulk_pid=$!
XM_PIDS+=("$bulk_pid")
wait_for 5 stream_at_least bulk echoed 1000000
tap_result $? "a bulk TCP transfer through the forward (64 KiB every 20 ms) runs" "$(cat "$XM_TMP/bulk.json" 2>&1)"
fn0=$(counter frag_needed_sent) rw0=$(counter drop_tc_rewrite)
ip -n "$NS_R" link set lan mtu 1280 && ip -n "$NS_B" link set eth0 mtu 1280
v0=$(stream_val bulk echoed)
wait_for 10 stream_at_least bulk echoed $((v0 + 2000000))
tap_result $? "lan's MTU lowered to 1280 under it: the transfer carries on (2 MB more echoed)" "$(cat "$XM_TMP/bulk.json" 2>&1)" \
	"$(xm stats 2>&1 | grep -vE ' 0 +0 ')"
kill -TERM "$bulk_pid" 2>/dev/null
wait "$bulk_pid" 2>/dev/null
json_get "$XM_TMP/bulk.json" "d['error'] == '' and d['echoed'] == d['sent'] > 0 or exit(1)" >/dev/null
tap_result $? "the transfer completes: every byte sent echoed back, no error" "$(cat "$XM_TMP/bulk.json" 2>&1)"
out=$(nsx "$NS_C" ip route get $R_WAN 2>&1)
grep -q 'mtu 1280' <<<"$out"
tap_result $? "the client learnt a path MTU of 1280 toward the forward" "$out"
fn1=$(counter frag_needed_sent) rw1=$(counter drop_tc_rewrite)
[ "${fn1:-0}" -gt "${fn0:-0}" ] && [ "${rw1:-0}" = "${rw0:-0}" ]
tap_result $? "frag_needed_sent counts them (${fn0:-?} -> ${fn1:-?}), drop_tc_rewrite does not move (${rw0:-?} -> ${rw1:-?})"

# ---- the streams stop: nothing lost over 1-4 ----------------------------------------
for p in "${XM_PIDS[@]}"; do
	case "$(cat /proc/"$p"/cmdline 2>/dev/null | tr '\0' ' ')" in *-stream*) kill -TERM "$p" ;; esac
done
sleep 0.1
wait_for 5 json_get "$XM_TMP/tcp.json" "d['echoed'] == d['sent'] or exit(1)"
for s in fwd masq; do
	json_get "$XM_TMP/$s.json" "d['recv'] == d['sent'] > 0 or exit(1)" >/dev/null
	tap_result $? "UDP stream $s: every datagram answered ($(cat "$XM_TMP/$s.json"))" "$(cat "$XM_TMP/$s.json")"
done
json_get "$XM_TMP/tcp.json" "d['error'] == '' and d['echoed'] == d['sent'] > 0 or exit(1)" >/dev/null
tap_result $? "TCP stream: every byte echoed, no error ($(cat "$XM_TMP/tcp.json"))" "$(cat "$XM_TMP/tcp.json")"

# ---- 5. a pinned map removed by hand -------------------------------------------------
rm "$XM_PIN/rules"
out=$(xm status 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q -- '--fresh' <<<"$out" && grep -q 'rules' <<<"$out"
tap_result $? "the pinned map 'rules' removed: status fails naming it and --fresh (exit $rc)" "$out"
diag "status: $out"
out=$(xm apply "$RULES_A" 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q -- '--fresh' <<<"$out" && grep -q 'rules' <<<"$out"
tap_result $? "... apply too (exit $rc)" "$out"
out=$(xm attach --fresh wan lan vf0 2>&1 && xm apply "$RULES_A" 2>&1)
tap_result $? "attach --fresh and apply heal" "$out"
out=$(who 8080)
[ "$out" = "$LAN1" ]
tap_result $? "tcp/8080 through the forward works again" "got: $out"

# ---- 6. bpffs not mounted ----------------------------------------------------------------
ns_add "$NS_X" && ip -n "$NS_X" link add x0 type veth peer name x1 && ip -n "$NS_X" link set x0 up &&
	ip -n "$NS_X" link set x1 up && ip -n "$NS_X" addr add 198.18.10.1/24 dev x0
tap_result $? "a namespace with a veth for a router without bpffs"
# in a private mount namespace with every bpffs on /sys/fs/bpf unmounted
# (the host's stays): status, then attach, then status again
XPIN=/sys/fs/bpf/xmasq-faults-nofs-$$
out=$(unshare -m --propagation private sh -c '
	while grep -q " /sys/fs/bpf bpf " /proc/mounts; do umount /sys/fs/bpf || exit 9; done
	n=$1 b=$2 p=$3
	x() { nsenter --net="/run/netns/$n" "$b" --pin-dir "$p" "$@"; }
	x status; echo "rc-status=$?"
	x attach x0 >/dev/null; echo "rc-attach=$?"
	echo "mounts=$(grep -c " /sys/fs/bpf bpf " /proc/mounts)"
	x status >/dev/null; echo "rc-status2=$?"
	x detach --all >/dev/null; echo "rc-detach=$?"
' sh "$NS_X" "$XMASQ" "$XPIN" 2>&1)
grep -q '^rc-status=1$' <<<"$out" && grep -q 'bpffs' <<<"$out" && grep -qi 'attach' <<<"$(grep -v '^rc-' <<<"$out")"
tap_result $? "bpffs not mounted: status fails, saying bpffs is not mounted and that attach mounts it" "$out"
diag "$(grep -v '^rc-\|^mounts=' <<<"$out" | head -n 3)"
grep -q '^rc-attach=0$' <<<"$out" && grep -q '^mounts=1$' <<<"$out" && grep -q '^rc-status2=0$' <<<"$out"
tap_result $? "attach mounts bpffs on /sys/fs/bpf and works; status then works" "$out"
[ ! -e "$XPIN" ]
tap_result $? "the host's bpffs saw none of it (no $XPIN)"

tap_done
