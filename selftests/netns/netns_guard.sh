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
#  5. set flows-per-source 5: one source floods new connections until
#     refused (5 open, the rest refused, drop_source_quota counts), another
#     source still connects, an established connection carries on; once
#     the flows close and expire (short timeouts) status counts no source
#     and the first source opens 5 again.
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
	# the rule's text is in xmasq_rule_info, its counters carry its id
	id=$(sed -n 's/^xmasq_rule_info{id="\([0-9]*\)",rule="forward eth0 tcp 8080 to 198.18.0.2:80 from 192.0.2.0\/25,203.0.113.9",iface="eth0"} 1$/\1/p' "$XM_TMP/prom")
	[ -n "$id" ] && grep -q "^xmasq_rule_refused_total{id=\"$id\"} [1-9]" "$XM_TMP/prom"
	tap_result $? "$mode: Prometheus has xmasq_rule_refused_total for the rule (id ${id:-none} in xmasq_rule_info)" \
		"$(grep 'refused\|rule_info' "$XM_TMP/prom")"

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
	run_quota "$mode"
	xm detach --all >/dev/null
	topo_down
}

json_status() { xm status --json >"$XM_TMP/status.json" 2>/dev/null && json_get "$XM_TMP/status.json" "$1"; }
no_sources() { [ "$(json_status "d['sources']")" = 0 ]; }

# flood MODE N: OK_SRC opens N connections to the echo port (guard.py,
# each given 1 s), holding those that opened until flood_end MODE; waits
# (up to 30 s) for its report. Sets FLOOD_OUT ("opened A refused B"),
# FLOOD_PID.
flood() {
	rm -f "$XM_TMP/flood-$1" "$XM_TMP/flood-go-$1"
	pyrun "$NS_C0" 60 guard.py flood --dst $R_ADDR0 --port $ECHO_PORT --src $OK_SRC --n "$2" \
		--timeout 1 --ready "$XM_TMP/flood-$1" --go "$XM_TMP/flood-go-$1" \
		>"$XM_TMP/flood-out-$1" 2>&1 &
	FLOOD_PID=$!
	wait_for 30 test -e "$XM_TMP/flood-$1"
	FLOOD_OUT=$(cat "$XM_TMP/flood-$1" 2>/dev/null)
}

# flood_end MODE: the flood's connections let go; its exit status
flood_end() {
	touch "$XM_TMP/flood-go-$1"
	wait "$FLOOD_PID"
}

run_quota() {
	local mode=$1 out n0 n1
	printf '%s\n' "forward eth0 tcp $ECHO_PORT to $B_ADDR:$ECHO_PORT" "set flows-per-source 5" \
		"set timeout tcp-syn 2" "set timeout tcp-fin 2" "set timeout tcp-close 1" \
		"set timeout tcp-established 30" >"$XM_TMP/quota.conf"
	xm apply "$XM_TMP/quota.conf" >/dev/null
	tap_result $? "$mode: apply set flows-per-source 5"
	[ "$(json_status "d['flows_per_source']")" = 5 ]
	tap_result $? "$mode: status --json says flows_per_source 5"
	# the earlier checks' connections (all closed) expire first
	wait_for 30 no_sources
	tap_result $? "$mode: the earlier connections expired (short timeouts)"
	n0=$(stats_get "d['counters']['drop_source_quota']['packets']")
	flood "$mode" 8
	[ "$FLOOD_OUT" = "opened 5 refused 3" ]
	tap_result $? "$mode: $OK_SRC floods 8 connections: 5 open, 3 refused ($FLOOD_OUT)"
	n1=$(stats_get "d['counters']['drop_source_quota']['packets']")
	[ -n "$n1" ] && [ "$n1" -ge $((${n0:-0} + 3)) ]
	tap_result $? "$mode: drop_source_quota counts the refused SYNs ($n0 -> $n1)"
	[ "$(json_status "d['busiest_source_flows']")" = 5 ] && [ "$(json_status "d['busiest_source']")" = $OK_SRC ]
	tap_result $? "$mode: status names $OK_SRC the busiest source, 5 flows" "$(cat "$XM_TMP/status.json")"
	out=$(tcp_connect $BAD_SRC)
	tap_result $? "$mode: another source ($BAD_SRC) still connects" "$out"
	flood_end "$mode"
	tap_result $? "$mode: an established connection of the flooding source carries on" "$(cat "$XM_TMP/flood-out-$mode")"
	wait_for 30 no_sources
	tap_result $? "$mode: the flows closed and expired: status counts no source ($(json_status "d['sources']"))"
	flood "$mode" 5
	flood_end "$mode"
	[ "$FLOOD_OUT" = "opened 5 refused 0" ]
	tap_result $? "$mode: its counts went back to 0: $OK_SRC opens 5 again ($FLOOD_OUT)"
}

for m in ${GUARD_MODES:-xdp tc}; do
	run_mode "$m"
done
tap_done
