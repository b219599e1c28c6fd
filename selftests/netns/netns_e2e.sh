#!/bin/bash
# End-to-end test of build/xmasq in network namespaces.
#
# For each veth peer variant — "gro" (GRO on the peers: xmasq transmits by
# XDP_REDIRECT) and "plain" (no GRO, no XDP on the peers: xmasq must use its
# tc path) — attach xmasq on the router's eth0 eth1 eth2, apply the rules
# and run the same checks as the iptables baseline (netns_iptables.sh)
# through each client NIC, plus xmasq's own: status (modes, program ids,
# tx_path), per-interface and per-rule counters, a broken rules file
# refused with exit 2 and nothing changed, a live rule removal, detach.
#
# Env: VARIANTS="gro plain"  XMASQ=build/xmasq  BIG_MB=50
#      XM_MODE=xdp|xdp-generic|tc (attach mode; the tx_path and tx_xdp/tx_tc
#      expectations are for xdp)
# TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
xm_init
need_xmasq

ST="$XM_TMP/status.json"
S0="$XM_TMP/stats0.json"
S1="$XM_TMP/stats1.json"

# if_field JSON IFACE FIELD
if_field() { json_get "$1" "[i['$3'] for i in d['interfaces'] if i['name'] == '$2'][0]" 2>/dev/null; }
# rule_field JSON LINE FIELD  (rules are identified by their line in the file)
rule_field() { json_get "$1" "[r['$3'] for r in d['rules'] if r['line'] == $2][0]" 2>/dev/null; }
# delta OLD_JSON NEW_JSON IFACE FIELD
if_delta() {
	local a b
	a=$(if_field "$1" "$3" "$4")
	b=$(if_field "$2" "$3" "$4")
	echo $((${b:-0} - ${a:-0}))
}

stats_json() { xm stats --json >"$1" 2>"$XM_TMP/stats.err" && json_get "$1" 'd["counters"]' >/dev/null; }

# counters that are not zero, one "name=packets" per line (diagnostics)
nonzero_counters() {
	json_get "$1" '" ".join("%s=%s" % (k, v["packets"]) for k, v in sorted(d["counters"].items()) if v.get("packets"))'
}

# check_status VARIANT: after attach, every interface has XDP + tc programs
# and the tx path expected for the variant
check_status() {
	local want=xdp ifc mode xid tid path reason out
	[ "$1" = plain ] && want=tc
	[ "${XM_MODE:-xdp}" = tc ] && want=tc
	# generic XDP's redirect transmits through the stack: any device takes it
	[ "${XM_MODE:-xdp}" = xdp-generic ] && want=xdp
	if ! out=$(xm status --json 2>&1) || ! printf '%s\n' "$out" >"$ST" || ! json_get "$ST" 'd["interfaces"]' >/dev/null 2>&1; then
		tap_not_ok "$1: xmasq status --json"
		diag "$out"
		return
	fi
	for ifc in eth0 eth1 eth2; do
		mode=$(if_field "$ST" $ifc mode)
		xid=$(if_field "$ST" $ifc xdp_prog_id)
		tid=$(if_field "$ST" $ifc tc_prog_id)
		path=$(if_field "$ST" $ifc tx_path)
		reason=$(if_field "$ST" $ifc tx_path_reason)
		if [ "$mode" = "${XM_MODE:-xdp}" ] && { [ "${xid:-0}" -gt 0 ] || [ "$mode" = tc ]; } && [ "${tid:-0}" -gt 0 ]; then
			tap_ok "$1: status: $ifc attached, mode $mode, XDP prog $xid, tc prog $tid"
		else
			tap_not_ok "$1: status: $ifc attached, mode ${XM_MODE:-xdp}, XDP and tc programs"
			diag "mode=$mode xdp_prog_id=$xid tc_prog_id=$tid" "$(cat "$ST")"
		fi
		tap_result "$([ "$path" = "$want" ] && echo 0 || echo 1)" \
			"$1: status: $ifc tx_path is $want ($reason)" "tx_path=$path, want $want"
	done
	local rules
	rules=$(json_get "$ST" 'd["rules"]')
	tap_result "$([ "$rules" = 4 ] && echo 0 || echo 1)" "$1: status: 4 rules loaded" "rules=$rules"
}

# check_client_counters VARIANT N: what xmasq counted during client N's checks
check_client_counters() {
	local variant=$1 path=tx_xdp other d dp db dx d2
	client_vars "$2"
	[ "$variant" = plain ] && path=tx_tc
	[ "${XM_MODE:-xdp}" = tc ] && path=tx_tc
	other=eth1
	[ "$CIF" = eth1 ] && other=eth0
	if ! stats_json "$S1"; then
		tap_not_ok "$CLABEL: xmasq stats --json"
		diag "$(cat "$XM_TMP/stats.err" "$S1")"
		return
	fi
	dp=$(if_delta "$S0" "$S1" "$CIF" tx_packets)
	db=$(if_delta "$S0" "$S1" "$CIF" tx_bytes)
	dx=$(if_delta "$S0" "$S1" "$CIF" "$path")
	# generic XDP: locally sent (checksum-partial) frames go by tc anyway
	[ "${XM_MODE:-xdp}" = xdp-generic ] && path="tx_xdp+tx_tc" && dx=$(($(if_delta "$S0" "$S1" "$CIF" tx_xdp) + $(if_delta "$S0" "$S1" "$CIF" tx_tc)))
	d2=$(if_delta "$S0" "$S1" eth2 tx_packets)
	d=$(if_delta "$S0" "$S1" "$other" tx_packets)
	# the big download alone is BIG_MB MiB of replies
	tap_result "$([ "$db" -gt $((BIG_MB * 1048576)) ] && echo 0 || echo 1)" \
		"$CLABEL: xmasq sent the replies out of $CIF (tx_packets +$dp, tx_bytes +$db)" \
		"$CIF tx_bytes delta $db (want > $((BIG_MB * 1048576)))"
	tap_result "$([ "$dx" -gt 0 ] && echo 0 || echo 1)" \
		"$CLABEL: ... by the ${path//tx_/} path ($path +$dx)" \
		"$CIF $path delta $dx" "$(json_get "$S1" 'd["interfaces"]')"
	tap_result "$([ "$d2" -gt 0 ] && echo 0 || echo 1)" \
		"$CLABEL: xmasq sent the requests out of eth2 (tx_packets +$d2)" "eth2 tx_packets delta $d2"
	tap_result "$([ "$d" -eq 0 ] && echo 0 || echo 1)" \
		"$CLABEL: nothing of it left by $other (tx_packets +$d)" "$other tx_packets delta $d"
	diag "backend TCP retransmissions during the transfer: $LAST_RETRANS; counters now: $(nonzero_counters "$S1")"
	cp "$S1" "$S0"
}

# check_rule_counters VARIANT: every rule was used both ways
check_rule_counters() {
	local line po pr f rule
	stats_json "$S1" || { tap_not_ok "$1: xmasq stats --json"; return; }
	for line in 1 2 3 4; do
		rule=$(sed -n "${line}p" "$XM_RULES_FILE")
		po=$(rule_field "$S1" $line packets_orig)
		pr=$(rule_field "$S1" $line packets_reply)
		f=$(rule_field "$S1" $line flows)
		tap_result "$([ "${po:-0}" -gt 0 ] && [ "${pr:-0}" -gt 0 ] && echo 0 || echo 1)" \
			"$1: rule line $line '$rule' counted (orig $po, reply $pr packets, $f flows)" \
			"$(json_get "$S1" 'd["rules"]')"
	done
	local drops
	drops=$(json_get "$S1" '" ".join("%s=%s" % (k, v["packets"]) for k, v in sorted(d["counters"].items()) if k.startswith("drop") and v.get("packets"))')
	tap_result "$([ -z "$drops" ] && echo 0 || echo 1)" "$1: no packet dropped by xmasq (drop_* counters all 0)" "$drops"
}

# check_broken_apply VARIANT: a wrong rules file is refused with exit 2 and
# the running rules keep forwarding
check_broken_apply() {
	local bad="$XM_TMP/broken.conf" out rc
	printf '%s\n' "$XM_RULES" >"$bad"
	printf '%s\n' "forward eth1 tcp 9090 to 198.18.0.2:80" "forward eth0 tcp 70000 to nowhere:80" >>"$bad"
	out=$(xm apply --check "$XM_RULES_FILE" 2>&1)
	tap_result $? "$1: apply --check of the good rules file exits 0" "$out"
	out=$(xm apply --check "$bad" 2>&1)
	rc=$?
	tap_result "$([ $rc = 2 ] && echo 0 || echo 1)" "$1: apply --check of a broken rules file exits 2" "exit $rc: $out"
	out=$(xm apply "$bad" 2>&1)
	rc=$?
	tap_result "$([ $rc = 2 ] && echo 0 || echo 1)" "$1: apply of a broken rules file exits 2" "exit $rc: $out"
	tap_result "$(grep -q 'broken.conf:6:' <<<"$out" && echo 0 || echo 1)" \
		"$1: the error names the file and line (broken.conf:6:...)" "$out"
	xm status --json >"$ST" 2>/dev/null
	rc=$(json_get "$ST" 'd["rules"]' 2>/dev/null)
	tap_result "$([ "$rc" = 4 ] && echo 0 || echo 1)" "$1: still 4 rules after the refused apply" "rules=$rc"
	check_forwarding_works 0 "still forwarded after the refused apply"
	check_forwarding_works 1 "still forwarded after the refused apply"
	out=$(cli "$NS_C1" tcp --timeout 2 --src $C1_SRC $R_ADDR1 9090 2>&1)
	tap_result "$([ "$out" != connected ] && echo 0 || echo 1)" \
		"$1: the refused file's first, valid new rule (tcp/9090) was not applied either" "connect: $out"
}

# check_live_change VARIANT: remove the eth1 UDP rule live, then put it
# back, while a slow download runs through C0 (it must not notice)
check_live_change() {
	local f="$XM_TMP/less.conf" out rc bg sha
	grep -v 'eth1 udp' "$XM_RULES_FILE" >"$f"
	# ~3 s: 800 chunks of 64 KiB, 4 ms apart
	cli "$NS_C0" sha --timeout 30 --chunk-sleep 0.004 --src $C0_SRC "http://$R_ADDR0:8080/big.bin" \
		>"$XM_TMP/slow.out" 2>&1 &
	bg=$!
	XM_PIDS+=($bg)
	sleep 0.5
	out=$(xm apply "$f" 2>&1)
	tap_result $? "$1: apply without the eth1 udp rule (during a download)" "$out"
	out=$(cli "$NS_C1" udp --timeout 2 --src $C1_SRC $R_ADDR1 5000 live 2>&1)
	tap_result "$([ "${out#echo:}" = "$out" ] && echo 0 || echo 1)" \
		"$1: C1 udp/5000 no longer forwarded" "got: $out"
	check_forwarding_works 1 "tcp/8080 still forwarded"
	out=$(cli "$NS_C0" udp --timeout 3 --src $C0_SRC $R_ADDR0 5000 live 2>&1)
	tap_result "$([ "$out" = "echo:$R_ADDR2:live" ] && echo 0 || echo 1)" \
		"$1: C0 udp/5000 still forwarded" "got: $out"
	out=$(xm apply "$XM_RULES_FILE" 2>&1)
	tap_result $? "$1: apply the full rules again" "$out"
	out=$(cli "$NS_C1" udp --timeout 3 --src $C1_SRC $R_ADDR1 5000 back 2>&1)
	tap_result "$([ "$out" = "echo:$R_ADDR2:back" ] && echo 0 || echo 1)" \
		"$1: C1 udp/5000 forwarded again" "got: $out"
	check_addr_rule "$1"
	local still=no
	kill -0 $bg 2>/dev/null && still=yes
	wait $bg
	rc=$?
	read -r sha _ <"$XM_TMP/slow.out"
	[ $rc -eq 0 ] && [ "$sha" != "$BIG_SHA" ] && rc=1
	tap_result $rc "$1: the download running across both applies completed intact (still running at the end: $still)" \
		"$(cat "$XM_TMP/slow.out")"
}

# check_addr_rule VARIANT: a forward rule for one local address (IFACE:ADDR)
# works, and only such a rule set makes new flows look rules up by address
# (XM_CFG_ADDR_RULES, bit 1 of the config flags)
check_addr_rule() {
	local f="$XM_TMP/addr.conf" out fl
	{ cat "$XM_RULES_FILE"; echo "forward eth0:$R_ADDR0 tcp 8443 to $B_ADDR:80"; } >"$f"
	out=$(xm apply "$f" 2>&1)
	fl=$(config_flags)
	out=$(cli "$NS_C0" tcp --timeout 3 --src $C0_SRC $R_ADDR0 8443 2>&1)
	tap_result "$([ "$out" = connected ] && [ $((fl & 2)) = 2 ] && echo 0 || echo 1)" \
		"$1: forward eth0:$R_ADDR0 tcp 8443 (one local address) forwards; address lookups on (flags $fl)" "got: $out"
	out=$(xm apply "$XM_RULES_FILE" 2>&1)
	fl=$(config_flags)
	out=$(cli "$NS_C0" tcp --timeout 2 --src $C0_SRC $R_ADDR0 8443 2>&1)
	tap_result "$([ "$out" != connected ] && [ $((fl & 2)) = 0 ] && echo 0 || echo 1)" \
		"$1: without address rules tcp/8443 is gone and new flows skip the address lookup (flags $fl)" "got: $out"
	check_forwarding_works 1 "tcp/8080 still forwarded after the address rule came and went"
}

check_detach() {
	local out rc n
	out=$(xm detach --all 2>&1)
	tap_result $? "$1: detach --all" "$out"
	n=$(nsx "$NS_R" ip -d link show | grep -c -E 'prog/xdp|xdp')
	tap_result "$([ "$n" -eq 0 ] && echo 0 || echo 1)" "$1: no XDP program left on the router's interfaces" \
		"$(nsx "$NS_R" ip -d link show)"
	n=$(for i in eth0 eth1 eth2; do nsx "$NS_R" tc filter show dev $i ingress; done 2>/dev/null | grep -c bpf)
	tap_result "$([ "$n" -eq 0 ] && echo 0 || echo 1)" "$1: no tc program left on the router's interfaces" \
		"$(for i in eth0 eth1 eth2; do nsx "$NS_R" tc filter show dev $i ingress; done 2>&1)"
	check_not_forwarded "after detach --all"
}

# check_nic_changed VARIANT: a NIC's MTU changed with no follower running:
# status says so (the NIC's value and the one xmasq still uses, in text;
# "nic_changed" in JSON) until xmasq follow --once reads it, then no more
check_nic_changed() {
	local out js out2 out3 rc=1
	ip -n "$NS_R" link set eth2 mtu 1400
	out=$(xm status 2>&1)
	js=$(xm status --json 2>&1)
	xm follow --once >/dev/null
	out2=$(xm status 2>&1)
	# below 1280 (an IPv4-only NIC's): short packets still meet the old MTU
	ip -n "$NS_R" link set eth2 mtu 1200
	out3=$(xm status 2>&1)
	ip -n "$NS_R" link set eth2 mtu 1500
	xm follow --once >/dev/null
	grep -q '^eth2: its MTU is 1200 now, xmasq still checks packets of up to 1280 bytes against 1400$' <<<"$out3" &&
		grep -q "^eth2: its MTU is 1400 now, xmasq read 1500 (harmless: packets over 1280 bytes are checked against the NIC's own)\$" <<<"$out" &&
		[ "$(json_get <(echo "$js") "[i['nic_changed'] for i in d['interfaces'] if i['name'] == 'eth2'][0]")" = '["mtu"]' ] &&
		[ "$(json_get <(echo "$js") "[i['nic_changed'] for i in d['interfaces'] if i['name'] == 'eth0'][0]")" = '[]' ] &&
		! grep -q 'changed since' <<<"$out2" && rc=0
	tap_result $rc "$1: eth2's MTU lowered to 1400 with no follower: status says the NIC has 1400 and xmasq read 1500 (JSON nic_changed [\"mtu\"]), until xmasq follow --once; at 1200, that packets of up to 1280 bytes still meet 1400" \
		"before follow: $(grep -A3 'changed since' <<<"$out")" "json: $(echo "$js" | head -c 400)" "after: $(grep -A3 'changed since' <<<"$out2")" \
		"at 1200: $(grep -A3 'changed since' <<<"$out3")"
}

# check_split VARIANT: check_udp_split through each client, as the
# iptables baseline does, and xmasq counted the splits (frag_split), with
# no follower telling it of the MTU change (the data plane reads the NIC's
# MTU itself for packets over 1280 bytes, bpf/mtu.h); the
# gro variant only (see check_udp_split: a plain veth's sender leaves the
# checksum unfinished, which netns_conntrack.sh checks is dropped)
check_split() {
	local c s0 s1
	if [ "$1" != gro ]; then
		tap_skip "$1: a UDP datagram without DF over a smaller MTU" "the plain variant's senders leave checksums unfinished (netns_conntrack.sh: dropped, drop_too_big)"
		return
	fi
	for c in 0 1; do
		s0=$(counter frag_split)
		check_udp_split $c
		s1=$(counter frag_split)
		tap_result "$([ $((${s1:-0} - ${s0:-0})) -ge 1 ] && echo 0 || echo 1)" \
			"$1: C$c's datagram was split by xmasq (frag_split +$((${s1:-0} - ${s0:-0})))" \
			"$(xm stats 2>&1 | grep -E 'frag|too_big|neigh')"
	done
}

for variant in ${VARIANTS:-gro plain}; do
	diag "==== xmasq router, $variant veth peers"
	if ! topo_up "$variant" || ! backend_up; then
		tap_not_ok "$variant: build topology and backend"
		topo_down
		continue
	fi
	# not tap_check: router_xmasq_up sets XM_PIN, it must not run in a subshell
	router_xmasq_vars
	out=$(router_xmasq_up "${XM_MODE:-xdp}" 2>&1 >"$XM_TMP/attach.out"; echo "rc=$?")
	if ! tap_result "${out##*rc=}" "$variant: xmasq attach eth0 eth1 eth2 + apply rules" "$(cat "$XM_TMP/attach.out")" "${out%rc=*}"; then
		topo_down
		continue
	fi
	check_status "$variant"
	# the proof below rests on this: the router's own routing sends C1's
	# replies out of eth0, no policy rule says otherwise
	out=$(nsx "$NS_R" ip route get $C1_SRC from $R_ADDR1 2>&1)
	nrules=$(nsx "$NS_R" ip rule show | grep -vcE '^(0|32766|32767):')
	tap_result "$([ "$nrules" = 0 ] && grep -q 'dev eth0' <<<"$out" && echo 0 || echo 1)" \
		"$variant: router has no ip rules and routes $C1_SRC out of eth0" "$out" "$(nsx "$NS_R" ip rule show)"
	stats_json "$S0" || diag "stats --json failed: $(cat "$XM_TMP/stats.err")"
	for c in 0 1; do
		check_client $c
		check_client_counters "$variant" $c
	done
	check_rule_counters "$variant"
	check_split "$variant"
	check_nic_changed "$variant"
	check_unforwarded
	check_broken_apply "$variant"
	check_live_change "$variant"
	check_detach "$variant"
	topo_down
done
tap_done
