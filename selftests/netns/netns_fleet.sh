#!/bin/bash
# The fleet on etcd (xmasq publish, xmasqd --etcd): three etcd members
# (Debian's etcd-server, each in its own namespace), three routers with a
# client and a backend each. A 1,000-port change published while clients
# probe (each router shows the old set whole, then the new set whole);
# two publishers from one revision (one wins); a revision that does not
# parse (kept out, its error in the status); the leader killed (publishes
# still reach every router); a router cut off while the majority writes and
# compacts, then healed (it equals the store); every member killed
# (connections old and new keep working, status stale, a restarted router
# boots from its cache); a router joining (reaches the head) and one
# killed (its status key goes with its lease).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet_lib.sh"
. "$(dirname "$0")/xmasqd_lib.sh"
xm_init etcd etcdctl iptables
need_xmasq
[ -x "$XMASQD" ] || skip_all "$XMASQD not built (make)"
ensure_bpffs || skip_all "no bpffs"

rules() { # FILE FIRST_PORT [EXTRA_PORT...]: 1,000 forwards from FIRST_PORT, and the extras
	local f=$1 first=$2
	shift 2
	"$XM_PY" -c 'import sys
first = int(sys.argv[1])
for p in list(range(first, first + 1000)) + [int(x) for x in sys.argv[2:]]:
    print("forward eth0 tcp %d to 198.18.0.2:9000" % p)' "$first" "$@" >"$f"
}
OLD=$XM_TMP/old.rules NEW=$XM_TMP/new.rules
rules "$OLD" 20000
rules "$NEW" 21000

XMD_CERTS="$XM_TMP/certs" FL_TLS="$XM_TMP/certs"
xmasqd_certs "$XMD_CERTS" || skip_all "openssl could not make the test certificates"
# page GET|PUT PATH [CURL ARGS...]: r1's page and API
page() {
	xmasqd_curl "$(router_ns 1)" 8443 client -X "$1" -H "Origin: https://127.0.0.1:8443" \
		-H "Host: 127.0.0.1:8443" "${@:3}" "https://router.test:8443$2"
}
metric_is() { page GET /metrics | grep -x "$1 $2" >/dev/null; } # NAME VALUE

fleet_up 3 || { tap_not_ok "three etcd members up"; diag "$(tail -n 5 "$XM_TMP"/etcd*.log)"; tap_done; exit 1; }
tap_ok "three etcd members up (each in its own namespace)"

out=$(publish --ruleset web "$OLD" 2>&1)
tap_result $? "publish: the first revision" "$out"
for i in 1 2; do
	router_up "$i" "$OLD" || { tap_not_ok "router r$i up"; diag "$(cat "${FL_XLOG[$i]}")"; tap_done; exit 1; }
done
rev0=$(head_rev)
ok=0
for i in 1 2; do
	wait_for 20 store_is "$i" 'd["applied_revision"]' "$rev0" || ok=1
done
tap_result $ok "both routers report revision $rev0 applied (status under their lease)" \
	"$(fleet_ctl get --prefix /xmasq/v1/status/ 2>&1)"

# ---- a 1,000-port change while clients probe ----
for i in 1 2; do
	nsx "$(client_ns "$i")" "$XM_PY" "$XM_DATA/fleet_probe.py" probe 192.0.2.1 20000-20999 21000-21999 \
		"$XM_TMP/probe$i" "$XM_TMP/probe.stop" &
	XM_PIDS+=($!)
done
wait_for 20 lines_over "$XM_TMP/probe1" 100
wait_for 20 lines_over "$XM_TMP/probe2" 100
out=$(publish --ruleset web --wait 30 "$NEW" 2>&1)
tap_result $? "publish --wait: 1,000 ports changed, applied by every router" "$out"
rev1=$(head_rev)
n1=$(wc -l <"$XM_TMP/probe1") n2=$(wc -l <"$XM_TMP/probe2")
wait_for 20 lines_over "$XM_TMP/probe1" $((n1 + 100))
wait_for 20 lines_over "$XM_TMP/probe2" $((n2 + 100))
touch "$XM_TMP/probe.stop"
for i in 1 2; do
	out=$("$XM_PY" "$XM_DATA/fleet_probe.py" check "$XM_TMP/probe$i")
	tap_result $? "router r$i: every probe saw the old set whole or the new set whole ($out)" "$out"
done
wait_for 10 cmp -s "$XM_TMP/r1.cache" "$NEW"
tap_result $? "the applied revision is written to the cache file"
grep -q "\"who\":\"fleet revision $rev1\"" "$XM_TMP/r1.audit" &&
	grep -q "fleet revision $rev1: applied" "${FL_XLOG[1]}"
tap_result $? "the change is logged as 'fleet revision $rev1'"

# ---- two publishers from the same revision ----
rules "$XM_TMP/a.rules" 21000 22100
rules "$XM_TMP/b.rules" 21000 22200
publish --ruleset web --if-revision "$rev1" "$XM_TMP/a.rules" >"$XM_TMP/pa" 2>&1 &
pa=$!
publish --ruleset web --if-revision "$rev1" "$XM_TMP/b.rules" >"$XM_TMP/pb" 2>&1 &
pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
[ $((ra + rb)) -eq 1 ] && grep -q "refused: ruleset web was published at revision" "$XM_TMP/pa" "$XM_TMP/pb"
tap_result $? "two publishers with --if-revision $rev1: exactly one wins, the other is refused" \
	"$(cat "$XM_TMP/pa" "$XM_TMP/pb")"
rev2=$(head_rev)
winner=22100
[ $ra -eq 0 ] || winner=22200
wait_for 20 store_is 1 'd["applied_revision"]' "$rev2" &&
	wait_for 20 store_is 2 'd["applied_revision"]' "$rev2" &&
	connects 1 $winner && connects 2 $winner
tap_result $? "the winner's revision $rev2 is live at every router"

# ---- a revision that does not parse, written around publish ----
printf 'forward eth0 tcp 23000 to 198.18.0.2:9000\nforwrd eth0 tcp 1 to 198.18.0.2:9000\n' |
	fleet_ctl put /xmasq/v1/rulesets/web >/dev/null
rev3=$(head_rev)
ok=0
for i in 1 2; do
	wait_for 20 store_is "$i" 'd["error_revision"]' "$rev3" || ok=1
	fleet_status_field "$i" 'd["error"]' | grep -q ":2:1: unknown statement" || ok=1
	[ "$(fleet_status_field "$i" 'd["applied_revision"]')" = "$rev2" ] || ok=1
	connects "$i" $winner && ! connects "$i" 23000 || ok=1
done
tap_result $ok "an invalid revision (etcdctl put): old rules stay live, the error is in each status" \
	"$(fleet_ctl get --prefix /xmasq/v1/status/ 2>&1)"

metric_is xmasq_fleet_error 1 && metric_is xmasq_fleet_applied_revision "$rev2" && metric_is xmasq_fleet_stale 0
tap_result $? "/metrics: xmasq_fleet_error 1, xmasq_fleet_applied_revision $rev2, xmasq_fleet_stale 0" \
	"$(page GET /metrics | grep fleet)"

# ---- the leader killed ----
leader=$(fleet_leader)
member_kill "$leader"
# Writes wait for the two left to elect a leader (no etcd client can
# write before): publish once they have, as an operator's retry would.
new_leader() { local l; l=$(fleet_leader); [ -n "$l" ] && [ "$l" != "$leader" ]; }
wait_for 30 new_leader
rules "$XM_TMP/l.rules" 21000 22300
out=$(publish --ruleset web --wait 30 "$XM_TMP/l.rules" 2>&1)
rc=$?
[ $rc -eq 0 ] && connects 1 22300 && connects 2 22300
tap_result $? "leader m$leader killed: publish --wait succeeds and every router forwards the change" "$out"
member_start "$leader"
wait_for 30 fleet_healthy

# ---- the page publishes ----
# (r1 edits what it has live: the head, once its watch has it)
head=$(head_rev)
wait_for 30 store_is 1 'd["applied_revision"]' "$head"
page GET /api/rules >"$XM_TMP/get.json"
"$XM_PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(json.dumps({"text": d["text"] + "forward eth0 tcp 22350 to 198.18.0.2:9000\n", "version": d["version"]}))' \
	"$XM_TMP/get.json" >"$XM_TMP/put.json"
page PUT /api/rules -H 'Content-Type: application/json' --data-binary @"$XM_TMP/put.json" >"$XM_TMP/put.out"
revp=$(json_get "$XM_TMP/put.out" 'd["revision"]' 2>/dev/null)
[ -n "$revp" ] && [ "$revp" = "$(head_rev)" ] &&
	wait_for 20 store_is 1 'd["applied_revision"]' "$revp" &&
	wait_for 20 store_is 2 'd["applied_revision"]' "$revp" && connects 2 22350
tap_result $? "PUT /api/rules on r1 publishes to the store (revision $revp) and reaches every router" \
	"$(cat "$XM_TMP/put.out")"

# ---- a router cut off (minority), the majority writes and compacts ----
r2=$(router_ns 2)
nsx "$r2" iptables -I OUTPUT -o mgmt0 -j DROP && nsx "$r2" iptables -I INPUT -i mgmt0 -j DROP
wait_for 30 local_is 2 'd["stale"]' True
tap_result $? "router r2 cut off from the store: xmasq status says stale" "$(rxm 2 status 2>&1 | tail -3)"
rules "$XM_TMP/p1.rules" 21000 22400
rules "$XM_TMP/p2.rules" 21000 22500
publish --ruleset web "$XM_TMP/p1.rules" >/dev/null && publish --ruleset web "$XM_TMP/p2.rules" >/dev/null
headp=$(head_rev)
fleet_ctl compact "$headp" >/dev/null
tap_result $? "the majority takes two revisions and compacts to $headp"
connects 2 22300 && ! connects 2 22500
tap_result $? "r2 forwards with the rules it has meanwhile"
nsx "$r2" iptables -D OUTPUT -o mgmt0 -j DROP && nsx "$r2" iptables -D INPUT -i mgmt0 -j DROP
wait_for 40 local_is 2 'd["applied_revision"]' "$headp" &&
	wait_for 20 local_is 2 'd["stale"]' False
ok=$?
fleet_ctl get --print-value-only /xmasq/v1/rulesets/web >"$XM_TMP/store.rules"
[ $ok -eq 0 ] && wait_for 10 cmp -s "$XM_TMP/r2.cache" "$XM_TMP/p2.rules" && connects 2 22500
tap_result $? "healed: r2 catches up (revision $headp) and its rules equal the store's" \
	"$(local_fleet_field 2 'd' 2>&1)" "$(grep fleet "${FL_XLOG[2]}" | tail -5)"

# ---- every member killed ----
nsx "$(client_ns 1)" "$XM_PY" "$XM_DATA/fleet_probe.py" hold 192.0.2.1 22500 "$XM_TMP/hold.go" "$XM_TMP/hold.out" &
XM_PIDS+=($!)
wait_for 10 grep -q up "$XM_TMP/hold.out"
for i in 1 2 3; do member_kill "$i"; done
wait_for 30 local_is 1 'd["stale"]' True &&
	rxm 1 status | grep -q "STALE: the store is unreachable"
tap_result $? "every member killed: xmasq status says stale" "$(rxm 1 status 2>&1 | tail -3)"
metric_is xmasq_fleet_stale 1 && page GET /api/status 2>&1 | "$XM_PY" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["fleet"]["stale"] is True else 1)'
tap_result $? "store down: /metrics says xmasq_fleet_stale 1 and /api/status fleet.stale true"
touch "$XM_TMP/hold.go"
wait_for 10 grep -q "ok\|fail" "$XM_TMP/hold.out"
grep -q ok "$XM_TMP/hold.out" && connects 1 22500 && connects 2 21999
tap_result $? "store down: an existing connection and new ones keep working" "$(cat "$XM_TMP/hold.out")"
kill "${FL_XPID[1]}"
wait "${FL_XPID[1]}" 2>/dev/null
router_xmasqd 1 && connects 1 22500 && ! connects 1 20000 && test "$(local_fleet_field 1 'd["stale"]')" = True
tap_result $? "r1 restarted while the store is down: boots from its cache (the last revision)" \
	"$(cat "${FL_XLOG[1]}")"
for i in 1 2 3; do member_start "$i"; done
wait_for 40 fleet_healthy &&
	wait_for 30 local_is 1 'd["stale"]' False &&
	wait_for 30 local_is 2 'd["stale"]' False
tap_result $? "the store back: no router is stale" "$(local_fleet_field 1 d 2>&1)" "$(local_fleet_field 2 d 2>&1)"

# ---- a router joins; a killed router's status goes with its lease ----
router_up 3 "$OLD" || diag "$(cat "${FL_XLOG[3]}")"
wait_for 30 store_is 3 'd["applied_revision"]' "$(head_rev)" &&
	connects 3 22500 && ! connects 3 20000
tap_result $? "a new router r3 joins and reaches the head revision" "$(fleet_ctl get /xmasq/v1/status/r3 2>&1)"
kill -9 "${FL_XPID[3]}"
wait "${FL_XPID[3]}" 2>/dev/null
wait_for 30 key_gone /xmasq/v1/status/r3
tap_result $? "r3 killed: its status key is gone within the lease (15 s)"
connects 3 22500
tap_result $? "r3's data plane keeps forwarding without its daemon"
# the state file of the daemon killed with SIGKILL (the others remove theirs)
rm -f "/run/xmasq/fleet$(router_pin 3 | tr / _).json"*
tap_done
