#!/bin/bash
# The NIC side of IPv6 (attach, status, apply, the follower, conntrack,
# detach), in network namespaces:
#
#   client C ── wan 192.0.2.1, 2001:db8:1::1 (and ::5, deprecated)  router R
#               lan 198.18.8.1 (no IPv6 address)  ── backend B
#
#  1. attach: net.ipv6.conf.wan.forwarding 0 -> 1 and accept_ra 1 -> 2 (so
#     wan keeps its default route from RAs), lan's forwarding 0 -> 1 with
#     its accept_ra 0 untouched; progs6 holds xmasq_tc6; status (text and
#     --json) shows wan's IPv6 address (the non-deprecated one) and none
#     for lan; a second attach replaces the progs6 entry;
#  2. wan's IPv6 address changed, `xmasq apply` reads it afresh; an
#     address added beside it leaves it in use (the kernel lists the new
#     one first), it moves on when deprecated;
#  3. under `xmasq follow`: changed again, then removed, each in the map
#     within a second, logged and counted (nic_address); then the same
#     under xmasqd's follower (its log, its /api/status-equivalent
#     status --json);
#  4. conntrack: an IPv6 flow written into flows6 is listed once with its
#     addresses in brackets (text and --json), counted, and flushed (both
#     entries);
#  5. a router attached by an older build (the six IPv6 maps unpinned):
#     status and conntrack work; `xmasq attach` creates the maps again and
#     keeps the IPv4 flow table;
#  6. detach: both NICs' IPv6 sysctls as they were.
# TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init bpftool unshare
need_xmasq
XMASQD="${XMASQD:-$XM_ROOT/build/xmasqd}"
[ -x "$XMASQD" ] || skip_all "$XMASQD not built (make)"
ensure_bpffs || exit 1
[ -d /proc/sys/net/ipv6 ] || skip_all "the kernel has no IPv6 (ipv6.disable=1)"

NS_R="xm6nic-r-$$" NS_C="xm6nic-c-$$" NS_B="xm6nic-b-$$"
XM_PIN="/sys/fs/bpf/xmasq-ipv6nic-$$"
XM_PINS+=("$NS_R $XM_PIN")
FOLLOW_LOG="$XM_TMP/follow.log"
A1=2001:db8:1::1 A2=2001:db8:1::2 A3=2001:db8:1::3 ADEP=2001:db8:1::5

sysctl6() { nsx "$NS_R" cat "/proc/sys/net/ipv6/conf/$1/$2"; }
# iface_json NAME FIELD: the field of interface NAME in status --json
iface_json() {
	xm status --json >"$XM_TMP/st.json" 2>/dev/null &&
		json_get "$XM_TMP/st.json" "[i['$2'] for i in d['interfaces'] if i['name'] == '$1'][0]"
}
addr6_is() { [ "$(iface_json "$1" addr6)" = "$2" ]; }
logged() { grep -q -- "$1" "$FOLLOW_LOG"; }
# progs6_id: the id of the program in progs6[0] (empty: none)
progs6_id() {
	bpftool -j map dump pinned "$XM_PIN/progs6" 2>/dev/null |
		"$XM_PY" -c 'import json,sys
d = json.load(sys.stdin)
v = d[0]["value"] if d else ""
# without BTF the value comes as its bytes ("0x80", ...), little-endian
print(int.from_bytes(bytes(int(x, 16) for x in v), "little") if isinstance(v, list) else v)'
}
map_id() { bpftool -j map show pinned "$XM_PIN/$1" 2>/dev/null | "$XM_PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

topo() {
	ns_add "$NS_R" "$NS_C" "$NS_B" || return 1
	# IPv6 back on in the router (ns_add turns it off everywhere)
	nsx "$NS_R" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 || return 1
	ip -n "$NS_R" link add wan type veth peer name eth0 netns "$NS_C" || return 1
	ip -n "$NS_R" link add lan type veth peer name eth0 netns "$NS_B" || return 1
	nsx "$NS_R" sysctl -qw net.ipv6.conf.wan.forwarding=0 net.ipv6.conf.wan.accept_ra=1 \
		net.ipv6.conf.lan.forwarding=0 net.ipv6.conf.lan.accept_ra=0 || return 1
	ip -n "$NS_R" addr add 192.0.2.1/24 dev wan && ip -n "$NS_R" addr add 198.18.8.1/24 dev lan || return 1
	# the deprecated one first: the one chosen must still be $A1
	ip -n "$NS_R" addr add $ADEP/64 dev wan nodad preferred_lft 0 || return 1
	ip -n "$NS_R" addr add $A1/64 dev wan nodad || return 1
	ip -n "$NS_R" link set wan up && ip -n "$NS_R" link set lan up &&
		ip -n "$NS_C" link set eth0 up && ip -n "$NS_B" link set eth0 up
}
if ! topo; then
	echo "Bail out! cannot build the namespace topology"
	exit 1
fi
RULES="$XM_TMP/rules.conf"
echo "forward wan tcp 8080 to 198.18.8.2:80" >"$RULES"

# ---- 1. attach -------------------------------------------------------------
out=$(xm attach wan lan 2>&1)
rc=$?
tap_result $rc "attach wan lan" "$out"
[ $rc -eq 0 ] || { tap_done; exit 1; }
grep -q "set net.ipv6.conf.wan.accept_ra=2 (was 1)" <<<"$out" &&
	grep -q "set net.ipv6.conf.wan.forwarding=1 (was 0)" <<<"$out" &&
	grep -q "set net.ipv6.conf.lan.forwarding=1 (was 0)" <<<"$out" &&
	! grep -q "lan.accept_ra" <<<"$out"
tap_result $? "attach says what it changed of the IPv6 sysctls" "$out"
[ "$(sysctl6 wan forwarding)" = 1 ] && [ "$(sysctl6 wan accept_ra)" = 2 ] &&
	[ "$(sysctl6 lan forwarding)" = 1 ] && [ "$(sysctl6 lan accept_ra)" = 0 ]
tap_result $? "wan: forwarding 1, accept_ra 2; lan: forwarding 1, accept_ra 0 (untouched)" \
	"wan $(sysctl6 wan forwarding)/$(sysctl6 wan accept_ra), lan $(sysctl6 lan forwarding)/$(sysctl6 lan accept_ra)"

id1=$(progs6_id)
name=$(bpftool -j prog show id "${id1:-0}" 2>/dev/null | "$XM_PY" -c 'import json,sys; print(json.load(sys.stdin)["name"])' 2>/dev/null)
[ -n "$id1" ] && [ "$name" = xmasq_tc6 ]
tap_result $? "progs6[0] holds xmasq_tc6 (id ${id1:-none})" "$(bpftool map dump pinned "$XM_PIN/progs6" 2>&1)"

addr6_is wan "$A1"
tap_result $? "status --json: wan's addr6 is $A1 (not the deprecated $ADEP)" "$(cat "$XM_TMP/st.json")"
addr6_is lan null
tap_result $? "status --json: lan has no IPv6 address (addr6 null)" "$(cat "$XM_TMP/st.json")"
st=$(xm status 2>&1)
grep -Eq "^wan +[0-9]+ +192\.0\.2\.1 +$A1 +tc " <<<"$st" && grep -Eq "^lan +[0-9]+ +198\.18\.8\.1 +- +tc " <<<"$st" &&
	grep -Eq "^flows6 +0 of [0-9]+ \(IPv6\)" <<<"$st"
tap_result $? "status: the IPV6 ADDRESS column and the flows6 line" "$st"

out=$(xm attach wan 2>&1)
id2=$(progs6_id)
[ -n "$id2" ] && [ "$id2" != "$id1" ]
tap_result $? "attach again: the progs6 entry replaced by the new load's xmasq_tc6 ($id1 -> ${id2:-none})" "$out"
[ "$(sysctl6 wan accept_ra)" = 2 ] && ! grep -q "ipv6" <<<"$out"
tap_result $? "attach again: nothing more changed, what the first attach changed still recorded" "$out"

# ---- 2. apply reads the NICs afresh ------------------------------------------
ip -n "$NS_R" addr del $A1/64 dev wan && ip -n "$NS_R" addr add $A2/64 dev wan nodad
out=$(xm apply "$RULES" 2>&1)
rc=$?
grep -q "wan: IPv6 address $A1 -> $A2" <<<"$out" || rc=1
tap_result $rc "xmasq apply reads wan afresh: 'wan: IPv6 address $A1 -> $A2'" "$out"
addr6_is wan "$A2"
tap_result $? "status --json: wan's addr6 is $A2" "$(cat "$XM_TMP/st.json")"
# an address added beside it (for an `as` list, say) and listed first by
# the kernel: wan keeps the one its flows leave with
ip -n "$NS_R" addr add $A3/64 dev wan nodad
out=$(xm apply "$RULES" 2>&1)
rc=$?
grep -q "IPv6 address" <<<"$out" && rc=1
addr6_is wan "$A2" || rc=1
tap_result $rc "$A3 added beside $A2: xmasq apply keeps $A2 (the kernel lists $A3 first)" "$out" \
	"$(cat "$XM_TMP/st.json")" "$(nsx "$NS_R" ip -6 addr show dev wan)"
# deprecated: the other one from then on
ip -n "$NS_R" addr change $A2/64 dev wan preferred_lft 0
out=$(xm apply "$RULES" 2>&1)
rc=$?
grep -q "wan: IPv6 address $A2 -> $A3" <<<"$out" || rc=1
tap_result $rc "$A2 deprecated: xmasq apply moves wan to $A3" "$out"
ip -n "$NS_R" addr del $A3/64 dev wan && ip -n "$NS_R" addr change $A2/64 dev wan preferred_lft forever
out=$(xm apply "$RULES" 2>&1)
rc=$?
grep -q "wan: IPv6 address $A3 -> $A2" <<<"$out" || rc=1
tap_result $rc "$A3 removed, $A2 preferred again: back to $A2" "$out"

# ---- 3. the follower -----------------------------------------------------------
n0=$(counter nic_address)
timeout --kill-after=3 120 nsenter --net="/run/netns/$NS_R" "$XMASQ" --pin-dir "$XM_PIN" follow >"$FOLLOW_LOG" 2>&1 &
XM_PIDS+=("$!")
wait_for 5 logged "following the managed NICs"
tap_result $? "xmasq follow runs" "$(cat "$FOLLOW_LOG")"
ip -n "$NS_R" addr add $A3/64 dev wan nodad && ip -n "$NS_R" addr del $A2/64 dev wan
wait_for 1 addr6_is wan "$A3"
tap_result $? "follower: wan's new IPv6 address $A3 in the map within a second" "$(cat "$XM_TMP/st.json")"
wait_for 1 logged "wan: IPv6 address $A2 -> $A3"
tap_result $? "follower: logged 'wan: IPv6 address $A2 -> $A3'" "$(cat "$FOLLOW_LOG")"
# the deprecated one first: with it left, wan would still have an address
ip -n "$NS_R" addr del $ADEP/64 dev wan && ip -n "$NS_R" addr del $A3/64 dev wan
wait_for 1 addr6_is wan null
tap_result $? "follower: wan without a global IPv6 address: addr6 null within a second" "$(cat "$XM_TMP/st.json")"
wait_for 1 logged "wan: IPv6 address $A3 -> -"
tap_result $? "follower: logged 'wan: IPv6 address $A3 -> -'" "$(cat "$FOLLOW_LOG")"
n1=$(counter nic_address)
[ $((n1 - n0)) -ge 2 ]
tap_result $? "nic_address counted the IPv6 changes ($n0 -> $n1)"
ip -n "$NS_R" addr add $A1/64 dev wan nodad
wait_for 1 addr6_is wan "$A1"
tap_result $? "follower: $A1 back on wan, in the map" "$(cat "$XM_TMP/st.json")"
kill "${XM_PIDS[-1]}" 2>/dev/null

# xmasqd's follower (the daemon without its HTTPS page: --health only)
unshare -m --propagation private nsenter --net="/run/netns/$NS_R" "$XMASQD" --pin-dir "$XM_PIN" \
	--rules "$RULES" --health 127.0.0.1:8080 >"$XM_TMP/xmasqd.out" 2>"$XM_TMP/xmasqd.err" &
XM_PIDS+=("$!")
FOLLOW_LOG="$XM_TMP/xmasqd.out"
wait_for 10 logged "following the managed NICs"
tap_result $? "xmasqd runs and follows the NICs" "$(cat "$XM_TMP"/xmasqd.*)"
ip -n "$NS_R" addr add $A2/64 dev wan nodad && ip -n "$NS_R" addr del $A1/64 dev wan
wait_for 1 addr6_is wan "$A2"
tap_result $? "xmasqd: wan's new IPv6 address $A2 in the map within a second" "$(cat "$XM_TMP/st.json")"
wait_for 1 logged "nic: wan: IPv6 address $A1 -> $A2"
tap_result $? "xmasqd: logged 'nic: wan: IPv6 address $A1 -> $A2'" "$(cat "$XM_TMP"/xmasqd.*)"
ip -n "$NS_R" addr add $A1/64 dev wan nodad && ip -n "$NS_R" addr del $A2/64 dev wan
wait_for 1 addr6_is wan "$A1"
tap_result $? "xmasqd: $A1 back on wan, in the map" "$(cat "$XM_TMP/st.json")"
kill "${XM_PIDS[-1]}" 2>/dev/null

# ---- 4. conntrack --------------------------------------------------------------
rc=0
FLOW6=(6 2001:db8:9::10 40000 "$A1" 443 2001:db8:8::1 50000 2001:db8:8::2 80 2 0 1)
while read -r entry; do
	# shellcheck disable=SC2086 # key hex .. value hex .. as separate words
	bpftool map update pinned "$XM_PIN/flows6" $entry || rc=1
done < <("$XM_PY" "$XM_DATA/flow6_entry.py" "$XM_PIN" "${FLOW6[@]}" || echo fail) # a line bpftool refuses
live6=$("$XM_PY" "$XM_DATA/flow6_entry.py" --live "$XM_PIN" "${FLOW6[@]}" 2>&1)
[ $rc -eq 0 ] && [ "$live6" = "2 live" ]
tap_result $? "an IPv6 TCP flow written into flows6 (both entries, their slots live)" "$live6"
out=$(xm conntrack list 2>&1)
[ "$(grep -c '^tcp ' <<<"$out")" = 1 ] &&
	grep -Eq "^tcp +established +\[2001:db8:9::10\]:40000 -> \[$A1\]:443 +\[2001:db8:8::2\]:80 -> \[2001:db8:8::1\]:50000 +[0-9]+s +[0-9]+s +10 +1000 +5 +500$" <<<"$out"
tap_result $? "conntrack list: the flow once, addresses in brackets, state, packets and bytes both ways" "$out"
xm conntrack list --json >"$XM_TMP/ct.json" 2>&1
json_get "$XM_TMP/ct.json" "len(d) == 1 and d[0]['family'] == 6 and d[0]['original'] == '[2001:db8:9::10]:40000 -> [$A1]:443' and d[0]['reply_entry'] and d[0]['expires_s'] > 7000 or exit(1)" >/dev/null
tap_result $? "conntrack list --json: family 6, tuples, reply entry, expiry by tcp-established" "$(cat "$XM_TMP/ct.json")"
xm conntrack count --json >"$XM_TMP/count.json" 2>&1
json_get "$XM_TMP/count.json" "d['flows6'] == 1 and d['flows6_max'] > 0 and d['flows'] == 0 or exit(1)" >/dev/null
tap_result $? "conntrack count --json: flows6 1" "$(cat "$XM_TMP/count.json")"
xm stats --prometheus 2>/dev/null | grep -q '^xmasq_flows6 1$'
tap_result $? "Prometheus: xmasq_flows6 1"
out=$(xm conntrack flush 2>&1)
live6=$("$XM_PY" "$XM_DATA/flow6_entry.py" --live "$XM_PIN" "${FLOW6[@]}" 2>&1)
rc=$?
grep -q "^removed 1 flows" <<<"$out" && [ $rc -eq 0 ]
tap_result $? "conntrack flush: 1 flow removed, neither of its flows6 slots live (both entries)" "$out" "$live6"

# ---- 5. a router attached by an older build -------------------------------------
flows_id=$(map_id flows)
for m in progs6 rules6 rule_addrs6 iface_addrs6 flows6 sweeper6; do rm -f "$XM_PIN/$m"; done
out=$(xm status 2>&1) && ! grep -q "^flows6" <<<"$out" && xm conntrack list >/dev/null 2>&1 &&
	xm conntrack count >/dev/null 2>&1
tap_result $? "without the IPv6 maps (an older build's router): status and conntrack work" "$out"
# flows6 as the build before 2026-12-02 made it (a hash map), holding the flow
rc=0
bpftool map create "$XM_PIN/flows6" type hash key 40 value 72 entries 131072 name flows6 || rc=1
while read -r entry; do
	# shellcheck disable=SC2086 # key hex .. value hex .. as separate words
	bpftool map update pinned "$XM_PIN/flows6" $entry || rc=1
done < <("$XM_PY" "$XM_DATA/flow6_entry.py" --hash "$XM_PIN" "${FLOW6[@]}" || echo fail)
out=$(xm conntrack list 2>&1)
[ $rc -eq 0 ] && grep -q "flows6: .*run xmasq attach to convert it" <<<"$out"
tap_result $? "the previous build's flows6 (a hash map): conntrack says attach converts it" "$out"
out=$(xm attach wan lan 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -n "$(progs6_id)" ] && [ "$(map_id flows)" = "$flows_id" ] && addr6_is wan "$A1"
tap_result $? "attach upgrades it: the IPv6 maps created, progs6 filled, wan's addr6 set, the flow table kept (id $flows_id)" "$out"
ct=$(xm conntrack list 2>&1)
grep -q "flows6: 2 IPv6 flow entries carried into the new table" <<<"$out" &&
	grep -Eq "^tcp +established +\[2001:db8:9::10\]:40000 -> \[$A1\]:443 +\[2001:db8:8::2\]:80 -> \[2001:db8:8::1\]:50000 .* 10 +1000 +5 +500$" <<<"$ct"
tap_result $? "attach carries the hash map's IPv6 flow into the new table (both entries: its reply found)" "$out" "$ct"

# ---- 6. detach -----------------------------------------------------------------
out=$(xm detach wan lan 2>&1)
[ "$(sysctl6 wan forwarding)" = 0 ] && [ "$(sysctl6 wan accept_ra)" = 1 ] &&
	[ "$(sysctl6 lan forwarding)" = 0 ] && [ "$(sysctl6 lan accept_ra)" = 0 ] &&
	grep -q "set net.ipv6.conf.wan.accept_ra=1 (as before attach)" <<<"$out"
tap_result $? "detach: wan forwarding 0, accept_ra 1; lan forwarding 0, accept_ra 0 (as before)" "$out"
tap_done
