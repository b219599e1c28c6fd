#!/bin/bash
# The fleet on etcd (xmasq publish, xmasqd --etcd): three etcd members
# (Debian's etcd-server, each in its own namespace), three routers with a
# client and a backend each. A 1,000-port change published while clients
# probe (each router shows the old set whole, then the new set whole);
# two publishers from one revision (one wins); a revision that does not
# parse (kept out, its error in the status); the leader killed and a
# publish at once (it gets through the election and reaches every
# router); a write whose answer is lost (read back; or, when nothing can
# be read, said to be unknown); a router cut off while the majority writes and
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
# The status record of DESIGN: applied_revision, sha256 (of the text
# live), error, stale; and the ruleset, error_revision, seen_revision.
sha_old=$(sha256sum "$OLD" | cut -d' ' -f1)
[ "$(fleet_status_field 1 'd["sha256"]')" = "$sha_old" ] &&
	[ "$(fleet_status_field 1 'd["ruleset"], d["error"], d["error_revision"], d["stale"], d["seen_revision"] >= d["applied_revision"]')" = "('web', '', 0, False, True)" ] &&
	rxm 1 status | grep -q "^fleet: ruleset web as router r1, revision $rev0 applied (sha256 ${sha_old:0:12}), store seen at revision [0-9]"
tap_result $? "the status record: sha256 of the text live, ruleset, error, stale, seen revision (store and xmasq status)" \
	"$(fleet_status_field 1 d 2>&1)" "$(rxm 1 status 2>&1 | grep fleet)"

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
# Publish at once, during the election: no member can take a write until
# the two left have a leader, and publish keeps trying (--timeout) until
# one does, each write compared on the revision it read.
leader=$(fleet_leader)
rules "$XM_TMP/l.rules" 21000 22300
member_kill "$leader"
out=$(publish --ruleset web --timeout 25 --wait 25 "$XM_TMP/l.rules" 2>&1)
rc=$?
revl=$(head_rev)
[ $rc -eq 0 ] && echo "$out" | grep -q "published ruleset web: revision $revl " &&
	connects 1 22300 && connects 2 22300
tap_result $? "leader m$leader killed, publish at once: it gets through the election and every router forwards the change" "$out"
diag "$out"
member_start "$leader"
wait_for 30 fleet_healthy

# ---- a write whose answer is lost ----
# In the publisher's namespace, answers to a successful write (the only
# ones that say "succeeded") are dropped: the write lands and publish
# hears nothing from that member.
sw_drop() { nsx "$FL_SW" iptables "$1" INPUT -p tcp --sport 2379 -m string --algo bm --string "$2" -j DROP; }
key_version() { fleet_ctl get "/xmasq/v1/rulesets/$1" -w json | "$XM_PY" -c 'import json,sys; print(json.load(sys.stdin).get("kvs", [{}])[0].get("version", 0))'; }
if sw_drop -I '"succeeded"' 2>/dev/null; then
	sw_drop -D '"succeeded"'
	v0=$(key_version web)
	rules "$XM_TMP/lost.rules" 21000 22300 22310 # keeps 22300 (r2 is checked on it below)
	sw_drop -I '"succeeded"'
	out=$(publish --ruleset web --timeout 25 --wait 25 "$XM_TMP/lost.rules" 2>&1)
	rc=$?
	sw_drop -D '"succeeded"'
	revl=$(head_rev)
	[ $rc -eq 0 ] && echo "$out" | grep -q "published ruleset web: revision $revl " &&
		echo "$out" | grep -q "reading ruleset web back found this file's text at revision $revl" &&
		[ "$(key_version web)" = $((v0 + 1)) ] && connects 1 22310 && connects 2 22310
	tap_result $? "a write whose answer is lost: publish reads the key back, reports that revision, wrote it once" \
		"$out" "version before: $v0, after: $(key_version web)"

	# Answers naming the new key dropped too: after the write nothing
	# can be read back, so publish cannot know and must say so.
	amb=$(printf %s /xmasq/v1/rulesets/amb | base64 -w0)
	sw_drop -I '"succeeded"' && sw_drop -I "$amb"
	out=$(publish --ruleset amb --timeout 5 "$XM_TMP/lost.rules" 2>&1)
	rc=$?
	sw_drop -D '"succeeded"' && sw_drop -D "$amb"
	[ $rc -eq 3 ] && echo "$out" | grep -q "MAY HAVE LANDED" && ! echo "$out" | grep -q "nothing was published" &&
		[ "$(key_version amb)" = 1 ]
	tap_result $? "no answer and no read-back: publish says the write may have landed (exit 3), and it had" "$out"
	fleet_ctl del /xmasq/v1/rulesets/amb >/dev/null
else
	tap_skip "a write whose answer is lost" "iptables' string match is missing"
	tap_skip "no answer and no read-back" "iptables' string match is missing"
fi

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

# ---- sites through the fleet: the rule set is a network file ----
# r3 comes back as site "a" (xmasqd --etcd --site a): it derives its rules
# from each revision of ruleset "net". Its client (192.0.2.2) is site b's
# public address, which a's export admits.
netfile() { # FILE PORT
	printf '%s\n' "site a public 192.0.2.1 on eth0 private eth1" \
		"site b public 192.0.2.2 on eth0 private eth1" \
		"service svc at a tcp $2 to 198.18.0.2:9000" \
		"import svc into b at 198.19.255.1" >"$1"
}
netfile "$XM_TMP/net1.conf" 9100
netfile "$XM_TMP/net2.conf" 9200
out=$(publish --ruleset net --network --wait 20 "$XM_TMP/net1.conf" 2>&1) &&
	! publish --ruleset net "$XM_TMP/net1.conf" >/dev/null 2>&1
tap_result $? "publish --network: a network file is validated as one and published (not as rules)" "$out"
cp "$XM_TMP/net1.conf" "$XM_TMP/r3.rules"
cp "$XM_TMP/net1.conf" "$XM_TMP/r3.cache"
FL_RULESET=net router_xmasqd 3 --site a
wait_for 20 store_is 3 'd["ruleset"], d["applied_revision"] > 0' "('net', True)" && connects 3 9100
tap_result $? "xmasqd --etcd --site a: the rules derived from ruleset net are live" \
	"$(cat "${FL_XLOG[3]}")" "$(rxm 3 status 2>&1 | tail -3)"
out=$(publish --ruleset net --network --wait 20 "$XM_TMP/net2.conf" 2>&1)
[ $? -eq 0 ] && connects 3 9200 && ! connects 3 9100
tap_result $? "the network file changed and published once: site a forwards the moved service" "$out" "$(cat "${FL_XLOG[3]}")"
tap_done
