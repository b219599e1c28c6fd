#!/bin/bash
# Source allow-lists (`forward ... from PREFIX[,PREFIX...]`) with real TCP,
# in xdp and tc modes, on lib.sh's topology. Client namespace C0 has two
# sources: 192.0.2.2 (its link address) and 198.19.0.10 (on lo).
#
#  1. the forward admits 192.0.2.0/25 only: curl from 192.0.2.2 gets the
#     page, curl from 198.19.0.10 does not, drop_not_allowed and the rule's
#     refused count (stats --json, Prometheus) say so;
#  2. apply --diff shows the list's change as a changed rule;
#  3. a connection opened while its source was admitted carries on after
#     the list no longer holds it (as netfilter keeps established flows),
#     while a new connection from it is refused; a source the new list
#     admits connects;
#  4. the list removed: every source connects again.
# TAP output; exit 1 when a check fails. Needs root.
. "$(dirname "$0")/lib.sh"
xm_init curl bpftool
need_xmasq
ensure_bpffs || exit 1
cp "$XMASQ" "$XM_TMP/xmasq" && XMASQ="$XM_TMP/xmasq" || exit 1

ECHO_PORT=7000
OK_SRC=$C0_ADDR  # 192.0.2.2, in 192.0.2.0/25
BAD_SRC=$C0_SRC  # 198.19.0.10

rules() { # rules FROM_OPTION: the rule set, with that `from` on both forwards
	printf '%s\n' "forward eth0 tcp 8080 to $B_ADDR:80 $1" \
		"forward eth0 tcp $ECHO_PORT to $B_ADDR:$ECHO_PORT $1" >"$XM_TMP/rules.conf"
}
apply_rules() { rules "$1" && xm apply "$XM_TMP/rules.conf" >/dev/null; }
get() { nsx "$NS_C0" curl -sS --max-time 3 --interface "$1" "http://$R_ADDR0:8080/" 2>&1; }
tcp_connect() { pyrun "$NS_C0" 10 guard.py connect --dst $R_ADDR0 --port $ECHO_PORT --src "$1" --timeout 2; }
stats_get() { xm stats --json >"$XM_TMP/st.json" 2>/dev/null && json_get "$XM_TMP/st.json" "$1"; }
refused_of() { stats_get "[r['refused'] for r in d['rules'] if r['rule'].startswith('forward eth0 tcp 8080 ')][0]"; }

run_mode() {
	local mode=$1 out rc n0 n1 r1 d go
	topo_up plain "$mode" || { tap_not_ok "$mode: topology"; return; }
	backend_up || { tap_not_ok "$mode: backend"; return; }
	pyrun_bg "$NS_B" 0 guard.py echo-server --addr $B_ADDR --port $ECHO_PORT --ready "$XM_TMP/echo-$mode"
	wait_for 10 test -e "$XM_TMP/echo-$mode"
	router_xmasq_vars
	xm attach --mode "$mode" eth0 eth1 eth2 >/dev/null || { tap_not_ok "$mode: attach"; return; }

	apply_rules "from 192.0.2.0/25,203.0.113.9"
	tap_result $? "$mode: apply a forward with a from list"
	out=$(get $OK_SRC)
	grep -q xmasq-test-index <<<"$out"
	tap_result $? "$mode: curl from $OK_SRC (in the list) gets the page" "$out"
	n0=$(stats_get "d['counters']['drop_not_allowed']['packets']")
	out=$(get $BAD_SRC)
	! grep -q xmasq-test-index <<<"$out"
	tap_result $? "$mode: curl from $BAD_SRC (not in the list) gets nothing" "$out"
	n1=$(stats_get "d['counters']['drop_not_allowed']['packets']")
	r1=$(refused_of)
	[ -n "$n1" ] && [ "$n1" -gt "${n0:-0}" ] && [ -n "$r1" ] && [ "$r1" -ge 1 ]
	tap_result $? "$mode: drop_not_allowed ($n0 -> $n1) and the rule's refused ($r1) count the SYNs"
	xm stats --prometheus >"$XM_TMP/prom" 2>&1
	grep -q '^xmasq_rule_refused_total{rule="forward eth0 tcp 8080 to 198.18.0.2:80 from 192.0.2.0/25,203.0.113.9",.*} [1-9]' "$XM_TMP/prom"
	tap_result $? "$mode: Prometheus has xmasq_rule_refused_total for the rule" "$(grep refused "$XM_TMP/prom")"

	# 2. --diff
	rules "from 192.0.2.128/25"
	out=$(xm apply --diff "$XM_TMP/rules.conf" 2>&1)
	grep -qF "~ forward eth0 tcp 8080 to $B_ADDR:80 from 192.0.2.0/25,203.0.113.9 => forward eth0 tcp 8080 to $B_ADDR:80 from 192.0.2.128/25" <<<"$out"
	tap_result $? "$mode: apply --diff shows the list's change" "$out"
	d=$(nsx "$NS_R" bpftool -j map dump pinned "$XM_PIN/allow_lists" >"$XM_TMP/al.json" 2>/dev/null &&
		json_get "$XM_TMP/al.json" "len(d)")
	[ "$d" = 2 ]
	tap_result $? "$mode: allow_lists holds the one shared list's 2 prefixes ($d)"

	# 3. established flow survives the list shrinking; new ones refused
	go="$XM_TMP/go-$mode"
	pyrun "$NS_C0" 30 guard.py hold --dst $R_ADDR0 --port $ECHO_PORT --src $OK_SRC --go "$go" \
		--timeout 5 --ready "$go.up" >"$XM_TMP/hold-$mode" 2>&1 &
	local hold=$!
	wait_for 10 test -e "$go.up"
	apply_rules "from 192.0.2.128/25"
	tap_result $? "$mode: apply the list without $OK_SRC while its connection is open"
	touch "$go"
	wait "$hold"
	tap_result $? "$mode: the open connection from $OK_SRC carries on" "$(cat "$XM_TMP/hold-$mode")"
	out=$(tcp_connect $OK_SRC)
	tap_result $((!$?)) "$mode: a new connection from $OK_SRC is refused now" "$out"
	nsx "$NS_C0" ip addr add 192.0.2.200/32 dev lo
	out=$(tcp_connect 192.0.2.200)
	tap_result $? "$mode: a new connection from 192.0.2.200 (in the new list) is admitted" "$out"

	# 4. no list: any source
	apply_rules ""
	out=$(tcp_connect $BAD_SRC)
	tap_result $? "$mode: without a from list $BAD_SRC connects" "$out"
	d=$(nsx "$NS_R" bpftool -j map dump pinned "$XM_PIN/allow_lists" >"$XM_TMP/al.json" 2>/dev/null &&
		json_get "$XM_TMP/al.json" "len(d)")
	[ "${d:-1}" = 0 ]
	tap_result $? "$mode: the lists no rule names are gone from allow_lists ($d left)"
	xm detach --all >/dev/null
	topo_down
}

for m in ${GUARD_MODES:-xdp tc}; do
	run_mode "$m"
done
tap_done
