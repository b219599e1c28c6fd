#!/bin/bash
# netns_xmasqd.sh — xmasqd, the daemon: locked by the client's key, its API,
# safe by construction, never losing the rules file, /healthz.
#
# The reference topology (lib.sh topo_up) with xmasqd in the router's
# namespace attaching eth0 eth1 eth2, HTTPS on 127.0.0.1:8443 there (the
# page's origin https://router.test:8443), /healthz on 127.0.0.1:8080;
# curl runs in the same namespace. Certificates are made here with the
# openssl CLI (xmasqd_lib.sh).
#  1. handshake: the right certificate (TLS 1.3 and 1.2) gets 200; none,
#     another CA's, a serverAuth-only one and an expired one are refused
#     in the handshake (curl exits with a TLS error, no HTTP status);
#     --allow-keys: the listed key in, an unlisted one out
#  2. GET status, stats, conntrack, rules, metrics: the CLI's renderers
#  3. PUT: a new forward goes live (traffic flows through it), the file is
#     saved and the old one kept; a parser error is 422 at its line and
#     column with nothing changed; a stale version 409; two concurrent
#     editors: one wins, the other 409; malformed JSON 400
#  4. safe by construction: body bound (413), Content-Type (415), Origin,
#     Sec-Fetch-Site, a cross-site form post and a no-cors fetch (403), Host
#     (421); security headers on every response, never a CORS header; the
#     audit log; a per-key limit on changes (429)
#  5. the rules file: SIGKILL during saves leaves it whole; a read-only
#     directory and a full disk (a 64 kB tmpfs) give a clear error and
#     change nothing live
#  6. /healthz 200, then 503 after a NIC is detached and after a failed
#     apply (SIGHUP with a wrong file); SIGTERM leaves the data plane
#     forwarding
#  7. install: the binary, man page (lint) and unit (systemd-analyze verify)
BIG_MB=1
# shellcheck source=selftests/netns/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/netns/xmasqd_lib.sh
source "$(dirname "$0")/xmasqd_lib.sh"
xm_init curl openssl unshare
need_xmasq
[ -x "$XMASQD" ] || skip_all "$XMASQD not built (make)"

XMD_CERTS="$XM_TMP/certs"
xmasqd_certs "$XMD_CERTS" || skip_all "openssl could not make the test certificates"
topo_up plain xmd || exit 1
backend_up || exit 1
ensure_bpffs || exit 1
router_xmasq_vars
RULES_DIR="$XM_TMP/etc"
RULES="$RULES_DIR/rules.conf"
AUDIT="$XM_TMP/audit.log"
mkdir -p "$RULES_DIR"
printf '%s\n' "$XM_RULES" >"$RULES"
PORT=8443
URL="https://router.test:$PORT"

xmasqd_bg "$NS_R" --pin-dir "$XM_PIN" --rules "$RULES" --listen 127.0.0.1:$PORT \
	--cert "$XMD_CERTS/server.pem" --key "$XMD_CERTS/server.key" --client-ca "$XMD_CERTS/ca.pem" \
	--origin "$URL" --audit-log "$AUDIT" --health 127.0.0.1:8080 eth0 eth1 eth2
MAIN_PID=$XMD_PID
MAIN_LOG=$XMD_LOG
if ! wait_port "$NS_R" tcp 127.0.0.1 $PORT 20 || ! wait_port "$NS_R" tcp 127.0.0.1 8080; then
	tap_not_ok "xmasqd starts, attaches eth0 eth1 eth2 and listens" "$(cat "$MAIN_LOG".*)"
	tap_done
fi
tap_ok "xmasqd starts, attaches eth0 eth1 eth2, applies the rules and listens"

# api CERT METHOD PATH [CURL ARGS...]: prints the body, then the status on
# a line of its own; OUT_HDR holds the response headers
OUT_HDR="$XM_TMP/headers"
api() {
	local cert=$1 method=$2 path=$3
	shift 3
	xmasqd_curl "$NS_R" $PORT "$cert" -X "$method" -D "$OUT_HDR" -w '\n%{http_code}\n' "$@" "$URL$path"
}
status_of() { tail -n 1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }
# change CERT METHOD PATH JSON [CURL ARGS...]: a state-changing request as
# the page sends it (Origin, Content-Type). The operator's key ("client")
# makes more changes in this suite than its burst (30) holds, and how many
# it has left depends on how fast the suite ran: a 429 for it is waited
# out (Retry-After) and the request sent again, as a client should;
# client2's loop tests the limit itself and sees every 429.
change() {
	local cert=$1 method=$2 path=$3 data=$4 out try retry
	shift 4
	for try in 1 2 3 4; do
		out=$(api "$cert" "$method" "$path" -H "Origin: $URL" -H 'Content-Type: application/json' \
			-H 'Sec-Fetch-Site: same-origin' --data-binary "$data" "$@")
		[ "$cert" = client ] && [ "$(status_of "$out")" = 429 ] || break
		retry=$(grep -i '^Retry-After:' "$OUT_HDR" | tr -dc 0-9)
		diag "change: 429 for the operator's key, waiting ${retry:-2} s (try $try)" >&2
		sleep "${retry:-2}"
	done
	printf '%s\n' "$out"
}
# put_json TEXT VERSION: the body of PUT /api/rules
put_json() {
	"$XM_PY" -c 'import json,sys; print(json.dumps({"text": sys.argv[1], "version": sys.argv[2]}))' "$1" "$2"
}
file_version() { sha256sum "$RULES" | cut -d' ' -f1; }
jq_py() { "$XM_PY" -c "import json,sys; d=json.loads(sys.stdin.read()); print($1)"; }

# ---- 1. the handshake --------------------------------------------------------
out=$(api client GET /api/status 2>&1)
[ "$(status_of "$out")" = 200 ]
tap_result $? "the operator's certificate (clientAuth, from --client-ca): 200 over TLS 1.3" "$(tail -c 300 <<<"$out")"
out=$(api client GET /api/status --tls-max 1.2 2>&1)
[ "$(status_of "$out")" = 200 ]
tap_result $? "... and over TLS 1.2" "$(tail -c 300 <<<"$out")"
out=$(api client GET /api/status --tls-max 1.1 --tlsv1.1 --ciphers 'DEFAULT@SECLEVEL=0' 2>&1)
rc=$?
[ "$(status_of "$out")" = 000 ] && [ $rc -ne 0 ]
tap_result $? "TLS 1.1 is refused (curl exit $rc)" "$out"

# refused CERT DESC: curl fails with a TLS error and never sees an HTTP
# status: 35 (the handshake), 56 (TLS 1.3: the alert arrives as the client
# reads), or 55 (TLS 1.3 without a certificate: xmasqd closed the
# connection after its alert before curl's first write)
refused() {
	local out rc
	out=$(api "$1" GET /api/status 2>&1)
	rc=$?
	{ [ $rc -eq 35 ] || [ $rc -eq 55 ] || [ $rc -eq 56 ]; } && [ "$(status_of "$out")" = 000 ]
	tap_result $? "$2: refused in the TLS handshake (curl exit $rc: $(head -n 1 <<<"$out" | cut -c1-90))" "$out"
}
refused none "no client certificate"
refused other "a certificate from another CA"
refused srvonly "a certificate of the right CA with the serverAuth purpose only"
refused expired "an expired certificate of the right CA"
out=$(api none GET /api/status --tls-max 1.2 2>&1)
rc=$?
{ [ $rc -eq 35 ] || [ $rc -eq 56 ]; } && [ "$(status_of "$out")" = 000 ]
tap_result $? "no client certificate over TLS 1.2: refused in the handshake (curl exit $rc)" "$out"
grep -q "refused the client certificate 'CN=intruder'" "$MAIN_LOG.err" &&
	grep -q "refused a client without a certificate" "$MAIN_LOG.err"
tap_result $? "xmasqd logs each refusal with the certificate's subject" "$(tail -n 5 "$MAIN_LOG.err")"

# --allow-keys: a second daemon on the same router (no IFACE: it manages
# what is attached), admitting the operator's key only
xmasqd_bg "$NS_R" --pin-dir "$XM_PIN" --rules "$RULES" --listen 127.0.0.1:8444 \
	--cert "$XMD_CERTS/server.pem" --key "$XMD_CERTS/server.key" --allow-keys "$XMD_CERTS/allow.txt"
PIN_PID=$XMD_PID
if wait_port "$NS_R" tcp 127.0.0.1 8444 20; then
	out=$(xmasqd_curl "$NS_R" 8444 client -o /dev/null -w '%{http_code}' -H "Host: 127.0.0.1:8444" https://router.test:8444/api/status 2>&1)
	[ "$out" = 200 ]
	tap_result $? "--allow-keys: the listed key gets 200" "$out"
	# 55 as in refused(): the server's alert closed the connection before curl wrote
	for c in client2 other; do
		out=$(xmasqd_curl "$NS_R" 8444 $c -o /dev/null -w '%{http_code}' https://router.test:8444/api/status 2>&1)
		rc=$?
		{ [ $rc -eq 35 ] || [ $rc -eq 55 ] || [ $rc -eq 56 ]; } && [ "${out: -3}" = 000 ]
		tap_result $? "--allow-keys: $c's key, not listed, is refused in the handshake (curl exit $rc)" "$out"
	done
else
	tap_not_ok "xmasqd --allow-keys starts" "$(cat "$XMD_LOG".*)"
fi
kill "$PIN_PID" 2>/dev/null
wait "$PIN_PID" 2>/dev/null

# ---- 2. reading ----------------------------------------------------------------
check_forwarding_works 0 "forwarding through the rules xmasqd applied at start"
out=$(api client GET /api/status)
body_of "$out" >"$XM_TMP/api-status.json"
xm status --json >"$XM_TMP/cli-status.json"
"$XM_PY" - "$XM_TMP/api-status.json" "$XM_TMP/cli-status.json" <<'EOF'
import json, sys
a, c = (json.load(open(f)) for f in sys.argv[1:])
for d in (a, c):  # what moves between two reads
    d.pop("expiry"); d.pop("ports"); d.pop("flows")
sys.exit(0 if a == c and len(a["interfaces"]) == 3 else 1)
EOF
tap_result $? "GET /api/status is xmasq status --json (3 interfaces)" "$(head -c 600 "$XM_TMP/api-status.json")"
out=$(api client GET /api/stats)
[ "$(status_of "$out")" = 200 ] && [ "$(body_of "$out" | jq_py 'len(d["rules"]), "drop_no_port" in d["counters"]')" = "4 True" ]
tap_result $? "GET /api/stats is xmasq stats --json (4 rules, the counters)" "$(head -c 400 <<<"$out")"
out=$(api client GET "/api/conntrack?limit=1")
n=$(body_of "$out" | jq_py 'len(d)')
flows=$(grep -i '^X-Flows:' "$OUT_HDR" | tr -dc 0-9)
[ "$(status_of "$out")" = 200 ] && [ "$n" = 1 ] && [ "${flows:-0}" -ge 1 ]
tap_result $? "GET /api/conntrack?limit=1: one flow of $flows (X-Flows)" "$(head -c 400 <<<"$out")"
out=$(api client GET "/api/conntrack?limit=x")
[ "$(status_of "$out")" = 400 ]
tap_result $? "GET /api/conntrack?limit=x: 400" "$out"
out=$(api client GET /metrics)
body_of "$out" >"$XM_TMP/metrics.txt"
r=0
grep -q '^xmasq_rules 4$' "$XM_TMP/metrics.txt" && grep -q '^text/plain; version=0.0.4' <(grep -i '^Content-Type:' "$OUT_HDR" | cut -d' ' -f2-) || r=1
if [ $r -eq 0 ] && command -v promtool >/dev/null 2>&1; then
	promtool check metrics <"$XM_TMP/metrics.txt" >/dev/null 2>&1 || r=1
fi
tap_result $r "GET /metrics: Prometheus text (promtool accepts it), xmasq_rules 4" "$(head -n 5 "$XM_TMP/metrics.txt")"
out=$(api client GET /api/rules)
v=$(body_of "$out" | jq_py 'd["version"]')
t=$(body_of "$out" | jq_py 'd["text"] == open("'"$RULES"'").read()')
[ "$v" = "$(file_version)" ] && [ "$t" = True ]
tap_result $? "GET /api/rules: the file's text and its SHA-256 as version" "$out"

# ---- 3. changing the rules ---------------------------------------------------
out=$(cli "$NS_C0" get --timeout 2 --src $C0_SRC "http://$R_ADDR0:9090/whoami" 2>&1)
[ $? -ne 0 ]
tap_result $? "control: tcp/9090 is not forwarded yet" "$out"
OLD_TEXT=$(cat "$RULES")
NEW_TEXT="$OLD_TEXT
forward eth0 tcp 9090 to $B_ADDR:80"
V0=$(file_version)
out=$(change client PUT /api/rules "$(put_json "$NEW_TEXT" "$V0")")
body_of "$out" >"$XM_TMP/put.json"
[ "$(status_of "$out")" = 200 ] &&
	[ "$(json_get "$XM_TMP/put.json" '"%s|%s|%s|%s" % (d["applied"], d["diff"], d["us"] > 0, d["version"] == "'"$(file_version)"'")')" = \
		"True|['+ forward eth0 tcp 9090 to $B_ADDR:80']|True|True" ]
tap_result $? "PUT /api/rules: 200 {applied, us, version, diff: [+ forward eth0 tcp 9090 ...]}" "$out"
check_forwarding_works_9090() {
	local out
	out=$(cli "$NS_C0" get --timeout 3 --src $C0_SRC "http://$R_ADDR0:9090/whoami" 2>&1) && [ "${out%%:*}" = "$R_ADDR2" ]
}
check_forwarding_works_9090
tap_result $? "traffic flows C0 -> $R_ADDR0:9090 -> backend through the new forward"
[ "$(cat "$RULES")" = "$NEW_TEXT" ] && [ "$(cat "$RULES.prev")" = "$OLD_TEXT" ] && [ ! -e "$RULES.tmp" ]
tap_result $? "the file says the new rules, FILE.prev the old ones, no FILE.tmp left" "$(ls -la "$RULES_DIR")"

V1=$(file_version)
BAD_TEXT="$NEW_TEXT
forward eth0 tcp 9091 to $B_ADDR:80x"
out=$(change client PUT /api/rules "$(put_json "$BAD_TEXT" "$V1")")
[ "$(status_of "$out")" = 422 ] &&
	[ "$(body_of "$out" | jq_py 'd["errors"][0]["line"], d["errors"][0]["col"], "port" in d["errors"][0]["message"]')" = "6 37 True" ]
tap_result $? "a parser error: 422 {errors: [{line 6, col 37, message}]}" "$out"
[ "$(file_version)" = "$V1" ] && [ "$(xm status --json | jq_py 'd["rules"]')" = 5 ]
tap_result $? "... and nothing changed: the file and the 5 live rules"
out=$(change client POST /api/rules/check "$(put_json "$BAD_TEXT" "")")
[ "$(status_of "$out")" = 422 ] && [ "$(body_of "$out" | jq_py 'd["errors"][0]["line"]')" = 6 ]
tap_result $? "POST /api/rules/check: the same 422" "$out"
out=$(change client POST /api/rules/check "$(put_json "$NEW_TEXT
forward eth7 tcp 1 to $B_ADDR" "")")
[ "$(status_of "$out")" = 422 ] && [ "$(body_of "$out" | jq_py 'd["errors"][0]["line"], "eth7" in d["errors"][0]["message"]')" = "6 True" ]
tap_result $? "POST /api/rules/check: an interface that does not exist, 422 at its line" "$out"
out=$(change client POST /api/rules/check "$(put_json "$NEW_TEXT" "")")
[ "$(status_of "$out")" = 200 ] && [ "$(file_version)" = "$V1" ]
tap_result $? "POST /api/rules/check: a good text 200, nothing saved" "$out"
out=$(change client PUT /api/rules "$(put_json "$OLD_TEXT" "$V0")")
[ "$(status_of "$out")" = 409 ] && [ "$(body_of "$out" | jq_py 'd["version"]')" = "$V1" ] && [ "$(file_version)" = "$V1" ]
tap_result $? "a stale version: 409 with the current version, nothing changed" "$out"

# two editors read V1 and send different changes at once
A_TEXT="$NEW_TEXT
forward eth0 tcp 9092 to $B_ADDR:80"
B_TEXT="$NEW_TEXT
forward eth0 tcp 9093 to $B_ADDR:80"
change client PUT /api/rules "$(put_json "$A_TEXT" "$V1")" >"$XM_TMP/edA" 2>&1 &
pa=$!
change client PUT /api/rules "$(put_json "$B_TEXT" "$V1")" >"$XM_TMP/edB" 2>&1 &
pb=$!
wait $pa $pb
sa=$(tail -n 1 "$XM_TMP/edA")
sb=$(tail -n 1 "$XM_TMP/edB")
r=1
if [ "$sa $sb" = "200 409" ]; then [ "$(cat "$RULES")" = "$A_TEXT" ] && r=0; fi
if [ "$sa $sb" = "409 200" ]; then [ "$(cat "$RULES")" = "$B_TEXT" ] && r=0; fi
tap_result $r "two concurrent editors of one version: one wins ($sa/$sb), the other gets 409; the file is the winner's" \
	"$(cat "$XM_TMP/edA" "$XM_TMP/edB")"

# PATCH: line edits of the file a version names (the page's way to change a rule)
# patch_json VERSION EDITS: the body of PATCH /api/rules
patch_json() { printf '{"version": "%s", "edits": %s}' "$1" "$2"; }
VP=$(file_version)
NL=$(grep -c "" "$RULES")
LAST=$(tail -n 1 "$RULES")
out=$(change client PATCH /api/rules "$(patch_json "$VP" '[{"line": '"$NL"', "delete": 1, "insert": ["forward eth0 tcp 9095 to '"$B_ADDR"':80"]}]')")
body_of "$out" >"$XM_TMP/patch.json"
[ "$(status_of "$out")" = 200 ] &&
	[ "$(json_get "$XM_TMP/patch.json" '"%s|%s|%s" % (d["applied"], sorted(d["diff"]), d["version"] == "'"$(file_version)"'")')" = \
		"True|['+ forward eth0 tcp 9095 to $B_ADDR:80', '- $LAST']|True" ] &&
	[ "$(tail -n 1 "$RULES")" = "forward eth0 tcp 9095 to $B_ADDR:80" ] && [ "$(grep -c "" "$RULES")" = "$NL" ]
tap_result $? "PATCH /api/rules: line $NL replaced, 200 {applied, version, diff: [+ 9095, - the old line]}, the file edited" "$out"
# After the PATCH: the new rule's info and series (by its id), none of the
# replaced one's
api client GET /metrics >"$XM_TMP/metrics2.txt"
id=$(sed -n 's/^xmasq_rule_info{id="\([0-9]*\)",rule="forward eth0 tcp 9095 to '"$B_ADDR"':80",iface="eth0"} 1$/\1/p' "$XM_TMP/metrics2.txt")
[ -n "$id" ] && grep -q "^xmasq_rule_flows_total{id=\"$id\"} " "$XM_TMP/metrics2.txt" &&
	! grep -qF "rule=\"$LAST\"" "$XM_TMP/metrics2.txt" &&
	[ "$(grep -c '^xmasq_rule_info{' "$XM_TMP/metrics2.txt")" = "$(grep -c '^xmasq_rule_flows_total{' "$XM_TMP/metrics2.txt")" ]
tap_result $? "GET /metrics after the PATCH: the new rule's info and series (id ${id:-none}), none of the replaced one" \
	"$(grep 'xmasq_rule_flows\|xmasq_rule_info' "$XM_TMP/metrics2.txt")"
VP2=$(file_version)
out=$(change client PATCH /api/rules "$(patch_json "$VP2" '[{"line": 2, "delete": 0, "insert": ["# two lines in", "forward eth0 tcp 9096 to '"$B_ADDR"':80x"]}]')")
[ "$(status_of "$out")" = 422 ] &&
	[ "$(body_of "$out" | jq_py 'd["errors"][0]["line"], d["errors"][0]["col"]')" = "3 37" ] && [ "$(file_version)" = "$VP2" ]
tap_result $? "PATCH: a parser error in an inserted line: 422 at its line in the edited file (3:37), nothing changed" "$out"
out=$(change client PATCH /api/rules "$(patch_json "$VP" '[{"line": 1, "delete": 1}]')")
[ "$(status_of "$out")" = 409 ] && [ "$(body_of "$out" | jq_py 'd["version"]')" = "$VP2" ] && [ "$(file_version)" = "$VP2" ]
tap_result $? "PATCH: a stale version: 409 with the current version, nothing changed" "$out"
r=0 why=""
for e in '[{"line": 3, "delete": 1}, {"line": 2, "delete": 1}]' '[{"line": 1, "delete": 1}, {"line": 1, "delete": 0}]' \
	"[{\"line\": $((NL + 2)), \"delete\": 0}]" "[{\"line\": $NL, \"delete\": 2}]" '[{"line": 1, "insert": ["a\nb"]}]' \
	'[{"line": "1"}]' '[]' '{"line": 1}'; do
	out=$(change client PATCH /api/rules "$(patch_json "$VP2" "$e")")
	[ "$(status_of "$out")" = 400 ] || { r=1; why="$why $e: $out"; }
done
[ "$(file_version)" = "$VP2" ] || r=1
tap_result $r "PATCH: edits out of order, overlapping, past the end, with a newline or malformed: 400, nothing changed" "$why"
out=$(change client PATCH /api/rules "$(patch_json "$VP2" '[{"line": '"$NL"', "delete": 1, "insert": ["'"$LAST"'"]}]')")
[ "$(status_of "$out")" = 200 ] && [ "$(tail -n 1 "$RULES")" = "$LAST" ]
tap_result $? "PATCH: the line put back" "$out"
# Edits in a row that grow and shrink the text: each new text is built in
# the room the text before the last change leaves (rules_cache.c), so a
# reused buffer that kept a stale byte or was still in use would show here.
r=0 why=""
for e in '[{"line": 1, "delete": 0, "insert": ["# a comment of some length, added first", "# and one more"]}]' \
	'[{"line": 1, "delete": 2, "insert": ["#"]}]' \
	'[{"line": 1, "delete": 1, "insert": ["# longer than the one before it, by a good many bytes: ........................................"]}]' \
	'[{"line": 1, "delete": 1}]'; do
	before=$(cat "$RULES"; echo .)
	out=$(change client PATCH /api/rules "$(patch_json "$(file_version)" "$e")")
	want=$("$XM_PY" - "${before%.}" "$e" <<'EOF2'
import json, sys
lines = sys.argv[1].splitlines(keepends=True)
for ed in reversed(json.loads(sys.argv[2])):
    at = ed["line"] - 1
    lines[at:at + ed.get("delete", 0)] = [l + "\n" for l in ed.get("insert", [])]
sys.stdout.write("".join(lines) + ".")
EOF2
)
	got=$(cat "$RULES"; echo .)
	o2=$(api client GET /api/rules)
	served=$(body_of "$o2" | "$XM_PY" -c 'import json,sys; sys.stdout.write(json.loads(sys.stdin.read())["text"] + ".")')
	if [ "$(status_of "$out")" != 200 ] || [ "$got" != "$want" ] || [ "$served" != "$want" ]; then
		r=1 why="$why [$e: $(status_of "$out"), file and GET as expected: $([ "$got" = "$want" ] && echo yes || echo no)]"
	fi
done
tap_result $r "PATCH four times in a row, the text growing and shrinking: the file and GET /api/rules are each edit's exact result" "$why"
# Two edits at once on a file whose last line has no newline: the new text
# is made from the edits after the switch (rules_edit.c), and the old last
# line gets its newline before the appended ones.
ORIG=$(cat "$RULES"; echo .)
ORIG=${ORIG%.}
out=$(change client PUT /api/rules "$(put_json "${ORIG%$'\n'}" "$(file_version)")")
NL=$(grep -c "" "$RULES")
out2=$(change client PATCH /api/rules "$(patch_json "$(file_version)" '[{"line": 1, "delete": 1, "insert": ["# the first line, replaced"]}, {"line": '$((NL + 1))', "delete": 0, "insert": ["forward eth0 tcp 9097 to '"$B_ADDR"':80", "# the last"]}]')")
want="# the first line, replaced
$(tail -n +2 <<<"$ORIG")
forward eth0 tcp 9097 to $B_ADDR:80
# the last
."
got=$(cat "$RULES"; echo .)
[ "$(status_of "$out")" = 200 ] && [ "$(status_of "$out2")" = 200 ] && [ "$got" = "$want" ] &&
	body_of "$out2" | jq_py 'd["incremental"] and d["added"] + d["changed"] >= 1' | grep -qx True &&
	xm stats --json | grep -q 'tcp 9097'
tap_result $? "PATCH of two places at once, the last line without newline: the file is the exact result, line by line, the appended rule live" \
	"$(status_of "$out") $(status_of "$out2") $(body_of "$out2" | head -c 300) file: $(tail -n 3 "$RULES" | tr '\n' '|')"
out=$(change client PUT /api/rules "$(put_json "$ORIG" "$(file_version)")")
[ "$(status_of "$out")" = 200 ] && [ "$(cat "$RULES"; echo .)" = "$ORIG." ]
tap_result $? "... and the file as it was, put back by PUT" "$out"
"$XM_PY" - "$AUDIT" "$VP" "$VP2" <<'EOF2'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"PATCH /api/rules"' in l]
ok = [l for l in lines if l.get("status") == 200 and l["before"] == sys.argv[2] and l["after"] == sys.argv[3]]
sys.exit(0 if ok and ok[0]["edits"][0]["delete"] == 1 and "text" not in ok[0] and "+ forward eth0 tcp 9095" in " ".join(ok[0]["diff"])
         and any(l.get("status") == 422 for l in lines) and any(l.get("status") == 409 for l in lines) else 1)
EOF2
tap_result $? "audit log: each PATCH with its edits (not the text), before, after, diff and result" "$(grep PATCH "$AUDIT" | tail -n 3)"

V2=$(file_version)
out=$(change client PUT /api/rules '{"text": "x", "version": ')
[ "$(status_of "$out")" = 400 ] && grep -q malformed <<<"$out"
tap_result $? "malformed JSON: 400" "$out"
out=$(change client PUT /api/rules '{"text": 5}')
[ "$(status_of "$out")" = 400 ]
tap_result $? "JSON without the string text and version: 400" "$out"

# ---- 4. safe by construction ----------------------------------------------------
head -c $((18 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$XM_TMP/big.json"
out=$(change client PUT /api/rules @"$XM_TMP/big.json")
[ "$(status_of "$out")" = 413 ]
tap_result $? "an 18 MiB body: 413" "$out"
out=$(change client PUT /api/rules @"$XM_TMP/big.json" -H 'Transfer-Encoding: chunked')
[ "$(status_of "$out")" = 413 ]
tap_result $? "an 18 MiB chunked body (no Content-Length): 413" "$out"
J=$(put_json "$OLD_TEXT" "$V2")
out=$(api client PUT /api/rules -H "Origin: $URL" -H 'Content-Type: text/plain' --data-binary "$J")
[ "$(status_of "$out")" = 415 ]
tap_result $? "Content-Type text/plain: 415" "$out"
out=$(api client PUT /api/rules -H 'Content-Type: application/json' --data-binary "$J")
[ "$(status_of "$out")" = 403 ]
tap_result $? "no Origin: 403" "$out"
out=$(api client PUT /api/rules -H 'Origin: https://evil.test' -H 'Content-Type: application/json' --data-binary "$J")
[ "$(status_of "$out")" = 403 ]
tap_result $? "Origin https://evil.test: 403" "$out"
out=$(api client PUT /api/rules -H "Origin: $URL" -H 'Sec-Fetch-Site: same-site' -H 'Content-Type: application/json' --data-binary "$J")
[ "$(status_of "$out")" = 403 ]
tap_result $? "Sec-Fetch-Site same-site (with the right Origin): 403" "$out"
# what a browser sends for a form on another site posting here
out=$(api client POST /api/rules/check -H 'Origin: https://evil.test' -H 'Sec-Fetch-Site: cross-site' \
	-H 'Sec-Fetch-Mode: navigate' -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "text=x&version=$V2")
[ "$(status_of "$out")" = 403 ]
tap_result $? "a cross-site form post: 403" "$out"
# ... and for fetch(url, {mode: "no-cors", method: "PUT"}) from another origin
out=$(api client PUT /api/rules -H 'Origin: https://evil.test' -H 'Sec-Fetch-Site: cross-site' \
	-H 'Sec-Fetch-Mode: no-cors' -H 'Content-Type: text/plain;charset=UTF-8' --data-binary "$J")
[ "$(status_of "$out")" = 403 ]
tap_result $? "a no-cors fetch from another origin: 403" "$out"
out=$(api client GET /api/rules -H 'Sec-Fetch-Site: cross-site' -H 'Sec-Fetch-Mode: no-cors')
[ "$(status_of "$out")" = 403 ]
tap_result $? "a cross-site read of the API (Sec-Fetch-Site cross-site): 403" "$out"
[ "$(file_version)" = "$V2" ]
tap_result $? "none of the refused requests changed the file"
out=$(api client GET /api/status -H 'Host: evil.test:8443')
[ "$(status_of "$out")" = 421 ]
tap_result $? "a Host that is not the origin's: 421 (DNS rebinding)" "$out"
out=$(api client OPTIONS /api/rules -H 'Origin: https://evil.test' -H 'Access-Control-Request-Method: PUT')
grep -qi '^Access-Control-' "$OUT_HDR"
[ $? -ne 0 ] && [ "$(status_of "$out")" != 200 ] && [ "$(status_of "$out")" != 204 ]
tap_result $? "a CORS preflight gets no Access-Control-* header (status $(status_of "$out"))" "$(cat "$OUT_HDR")"
r=0 why=""
for p in /api/status /api/rules /metrics /nothing; do
	api client GET $p >/dev/null
	grep -q "^Content-Security-Policy: default-src 'self'; frame-ancestors 'none'" "$OUT_HDR" &&
		grep -qi '^X-Content-Type-Options: nosniff' "$OUT_HDR" && grep -qi '^Cache-Control: no-store' "$OUT_HDR" &&
		! grep -qi '^Access-Control-' "$OUT_HDR" || { r=1; why="$why $p"; }
done
tap_result $r "CSP, nosniff and no-store on every response (200s and a 404), no CORS header" "missing on:$why" "$(cat "$OUT_HDR")"
if [ -e "$XM_ROOT/loader/xmasqd/www/index.html" ]; then
	out=$(api client GET /)
	[ "$(status_of "$out")" = 200 ] && grep -qi '^Content-Type: text/html' "$OUT_HDR"
	tap_result $? "GET /: the page (text/html), embedded" "$(cat "$OUT_HDR")"
else
	tap_skip "GET /: the page" "no loader/xmasqd/www/index.html in this tree"
fi

key=$(spki_sha256 "$XMD_CERTS/client.pem")
"$XM_PY" - "$AUDIT" "$key" "$V0" "$V1" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
key, v0, v1 = sys.argv[2:]
ok = [l for l in lines if l.get("result") == "applied" and l.get("status") == 200 and l["before"] == v0 and l["after"] == v1]
stale = [l for l in lines if l.get("status") == 409]
bad = [l for l in lines if l.get("status") == 422 and ":6:37:" in l.get("error", "")]
every = all(l["who"] == "CN=operator" and l["key_sha256"] == key and l["from"].startswith("127.0.0.1:") and "time" in l
            for l in lines if l.get("what") == "PUT /api/rules")
sys.exit(0 if ok and stale and bad and every and "+ forward" in ok[0]["diff"][0] else 1)
EOF
tap_result $? "audit log: each PUT with subject, key SHA-256, source, before, after, diff and result" "$(tail -n 3 "$AUDIT")"

# the limit is per key: client2 runs out, the operator does not
n=0 s=""
while [ $n -lt 100 ]; do
	n=$((n + 1))
	out=$(change client2 PUT /api/rules "$(put_json "$OLD_TEXT" stale)")
	s=$(status_of "$out")
	[ "$s" = 429 ] && break
done
retry=$(grep -i '^Retry-After:' "$OUT_HDR" | tr -dc 0-9)
[ "$s" = 429 ] && [ -n "$retry" ]
tap_result $? "changes per key are limited: 429 (Retry-After $retry s) after $n PUTs of one key" "$out"
out=$(change client PUT /api/rules "$(put_json "$OLD_TEXT" stale)")
[ "$(status_of "$out")" = 409 ]
tap_result $? "... another key is not limited by it (409, not 429)" "$out"

# ---- 5. the rules file -----------------------------------------------------------
# read-only: the rules directory remounted read-only in xmasqd's mount
# namespace alone
nsenter -t "$MAIN_PID" -m sh -c "mount --bind '$RULES_DIR' '$RULES_DIR' && mount -o remount,ro,bind '$RULES_DIR'"
V3=$(file_version)
RO_TEXT="$(cat "$RULES")
forward eth0 tcp 9094 to $B_ADDR:80"
out=$(change client PUT /api/rules "$(put_json "$RO_TEXT" "$V3")")
[ "$(status_of "$out")" = 500 ] && grep -q "cannot save the rules.*Read-only file system.*nothing was applied" <<<"$out"
tap_result $? "read-only directory: 500 with a clear error (cannot save ... Read-only file system ... nothing was applied)" "$out"
[ "$(file_version)" = "$V3" ] && ! xm stats --json | grep -q 'tcp 9094'
tap_result $? "... and nothing changed: the file, and no rule for 9094 live"
nsenter -t "$MAIN_PID" -m umount "$RULES_DIR"
out=$(change client PUT /api/rules "$(put_json "$RO_TEXT" "$V3")")
[ "$(status_of "$out")" = 200 ]
tap_result $? "writable again: the same PUT applies" "$out"

# a full disk: the rules directory on a 64 kB tmpfs in xmasqd's mount
# namespace alone, holding the file as it is; a PUT and a PATCH whose
# file does not fit fail before anything goes live (FILE.tmp's room is
# taken first), name the file and ENOSPC, and say what to do
# live_rules: each live rule's id, text and line, as the data plane has them
live_rules() { xm stats --json | jq_py '"\n".join("%d %s @%d" % (r["id"], r["rule"], r["line"]) for r in d["rules"])'; }
V4=$(file_version)
OLD4=$(cat "$RULES")
LIVE4=$(live_rules)
cp "$RULES" "$XM_TMP/rules.before-full"
nsenter -t "$MAIN_PID" -m sh -c "mount -t tmpfs -o size=64k,mode=0755 xmasq-full '$RULES_DIR' &&
	cp '$XM_TMP/rules.before-full' '$RULES'"
full_dir() { nsenter -t "$MAIN_PID" -m sh -c "cd '$RULES_DIR' && ls -A && sha256sum rules.conf"; }
# the request bodies as files (160 kB: too long for one argument)
"$XM_PY" - "$RULES" "$B_ADDR" "$V4" "$XM_TMP/full-put.json" "$XM_TMP/full-patch.json" <<'EOF2'
import json, sys
rules, backend, version, put, patch = sys.argv[1:]
new = ["forward eth0 tcp 9096 to %s:80" % backend] + [
    "# padding %06d %s" % (i, "." * 64) for i in range(2000)]
text = open(rules).read()
text += ("" if text.endswith("\n") else "\n") + "\n".join(new) + "\n"
json.dump({"text": text, "version": version}, open(put, "w"))
json.dump({"version": version, "edits": [{"line": 1, "delete": 0, "insert": new}]}, open(patch, "w"))
EOF2
out=$(change client PUT /api/rules @"$XM_TMP/full-put.json")
[ "$(status_of "$out")" = 507 ] &&
	grep -q "cannot save the rules: $RULES.tmp: No space left on device (nothing was applied.*free space" <<<"$out"
tap_result $? "full disk: PUT of a file that does not fit: 507 naming $(basename "$RULES").tmp, ENOSPC and the fix" "$out"
out=$(api client GET /api/rules)
[ "$(status_of "$out")" = 200 ] &&
	[ "$(body_of "$out" | jq_py 'd["version"]')" = "$V4" ] &&
	[ "$(body_of "$out" | jq_py 'd["text"]')" = "$OLD4" ]
tap_result $? "... GET /api/rules: the old text and version" "$out"
dir=$(full_dir)
[ "$(tail -n 1 <<<"$dir" | cut -d' ' -f1)" = "$V4" ] && ! grep -q 'rules.conf.tmp' <<<"$dir"
tap_result $? "... the file on the full disk unchanged, no rules.conf.tmp left behind" "$dir"
out=$(change client PATCH /api/rules @"$XM_TMP/full-patch.json")
[ "$(status_of "$out")" = 507 ] && grep -q "No space left on device" <<<"$out"
tap_result $? "full disk: PATCH of the same: 507, ENOSPC" "$out"
LIVE_AFTER=$(live_rules)
[ -n "$LIVE4" ] && [ "$LIVE_AFTER" = "$LIVE4" ] && ! grep -q 'tcp 9096' <<<"$LIVE_AFTER"
tap_result $? "... nothing live changed: the same rules (ids, texts, lines), none for 9096" "$LIVE_AFTER"
check_forwarding_works 0 "... the forwards before the full disk still forward"
# Those went the full way (the file read afresh from the tmpfs). A line-
# by-line change takes FILE.tmp's room (fallocate) before the switch:
# a change that fits goes live, the disk is then filled up, and the next
# one fails there, with the one before still live.
out=$(change client PUT /api/rules "$(put_json "$OLD4
forward eth0 tcp 9097 to $B_ADDR:80" "$V4")")
V5=$(nsenter -t "$MAIN_PID" -m sha256sum "$RULES" | cut -d' ' -f1)
nsenter -t "$MAIN_PID" -m sh -c "dd if=/dev/zero of='$RULES_DIR/filler' bs=4k 2>/dev/null; true"
LIVE5=$(live_rules)
out2=$(change client PUT /api/rules "$(put_json "$OLD4
forward eth0 tcp 9098 to $B_ADDR:80" "$V5")")
[ "$(status_of "$out")" = 200 ] && [ "$(status_of "$out2")" = 507 ] &&
	grep -q "cannot save the rules: $RULES.tmp: No space left on device (nothing was applied" <<<"$out2" &&
	[ "$(live_rules)" = "$LIVE5" ] && grep -q 'tcp 9097' <<<"$LIVE5" &&
	[ "$(nsenter -t "$MAIN_PID" -m sha256sum "$RULES" | cut -d' ' -f1)" = "$V5" ]
tap_result $? "full disk, line by line: 507 before the switch (ENOSPC), the change before it still live and in the file" "$out" "$out2" "$LIVE5"
nsenter -t "$MAIN_PID" -m umount "$RULES_DIR"
[ "$(file_version)" = "$V4" ]
tap_result $? "... and the file under the tmpfs is the same too"
out=$(change client PUT /api/rules @"$XM_TMP/full-put.json")
[ "$(status_of "$out")" = 200 ] && xm stats --json | grep -q 'tcp 9096'
tap_result $? "room again: the same PUT applies (9096 live)" "$out"
out=$(change client PUT /api/rules "$(put_json "$OLD4" "$(file_version)")")
[ "$(status_of "$out")" = 200 ]
tap_result $? "... and the rules before put back" "$out"

# SIGKILL during saves: a second daemon, killed at random moments while it
# saves a 1.5 MB rules file; the file is always one of the two texts, whole
"$XM_PY" - "$RULES" "$XM_TMP/textA" "$XM_TMP/textB" <<'EOF'
import sys
base = open(sys.argv[1]).read()
for name, tag in ((sys.argv[2], "A"), (sys.argv[3], "B")):
    open(name, "w").write(base + "".join("# padding %s %06d ........................................\n" % (tag, i) for i in range(24000)))
EOF
cp "$XM_TMP/textA" "$RULES"
SA=$(sha256sum <"$XM_TMP/textA" | cut -d' ' -f1)
SB=$(sha256sum <"$XM_TMP/textB" | cut -d' ' -f1)
kill "$MAIN_PID" 2>/dev/null
wait "$MAIN_PID" 2>/dev/null
r=0 why="" killed_mid=0
for i in $(seq 1 12); do
	xmasqd_bg "$NS_R" --pin-dir "$XM_PIN" --rules "$RULES" --listen 127.0.0.1:8445 \
		--cert "$XMD_CERTS/server.pem" --key "$XMD_CERTS/server.key" --client-ca "$XMD_CERTS/ca.pem"
	wait_port "$NS_R" tcp 127.0.0.1 8445 20 || { r=1; why="$why start$i"; break; }
	cur=$(file_version)
	if [ "$cur" = "$SA" ]; then next="$XM_TMP/textB"; else next="$XM_TMP/textA"; fi
	"$XM_PY" -c 'import json,sys; print(json.dumps({"text": open(sys.argv[1]).read(), "version": sys.argv[2]}))' "$next" "$cur" >"$XM_TMP/kill.json"
	xmasqd_curl "$NS_R" 8445 client -X PUT -H "Origin: https://127.0.0.1:8445" -H 'Content-Type: application/json' \
		-H "Host: 127.0.0.1:8445" --data-binary @"$XM_TMP/kill.json" -o /dev/null -w '%{http_code}' \
		"https://router.test:8445/api/rules" >"$XM_TMP/kill.status" 2>/dev/null &
	cpid=$!
	sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
	kill -9 "$XMD_PID"
	wait "$XMD_PID" 2>/dev/null
	wait $cpid
	[ "$(cat "$XM_TMP/kill.status")" != 200 ] && killed_mid=$((killed_mid + 1))
	now=$(file_version)
	[ "$now" = "$SA" ] || [ "$now" = "$SB" ] || { r=1; why="$why iteration$i:$(wc -c <"$RULES")bytes"; }
done
tap_result $r "SIGKILL at random moments during 12 saves of a 1.5 MB file: always whole, old or new ($killed_mid killed before the answer)" "$why"

# ---- 6. health and signals ------------------------------------------------------------
cp "$XM_TMP/textA" "$RULES"
xmasqd_bg "$NS_R" --pin-dir "$XM_PIN" --rules "$RULES" --health 127.0.0.1:8080 eth0 eth1 eth2
MAIN_PID=$XMD_PID
wait_port "$NS_R" tcp 127.0.0.1 8080 20
health() { timeout 10 nsenter --net="/run/netns/$NS_R" curl -sS -w '\n%{http_code}' http://127.0.0.1:8080/healthz 2>&1; }
out=$(health)
[ "$(status_of "$out")" = 200 ] && [ "$(body_of "$out")" = ok ]
tap_result $? "GET /healthz: 200 ok (plain HTTP, no certificate)" "$out"
xm detach eth2 >/dev/null 2>&1
out=$(health)
[ "$(status_of "$out")" = 503 ] && grep -q eth2 <<<"$out"
tap_result $? "after eth2 is detached: 503 naming eth2" "$out"
xm attach eth2 >/dev/null 2>&1
out=$(health)
[ "$(status_of "$out")" = 200 ]
tap_result $? "eth2 attached again: 200" "$out"
echo "forward eth0 tcp 9095 to $B_ADDR:80x" >>"$RULES"
kill -HUP "$MAIN_PID"
wait_for 5 sh -c "nsenter --net=/run/netns/$NS_R curl -s http://127.0.0.1:8080/healthz | grep -q 'apply failed'"
out=$(health)
[ "$(status_of "$out")" = 503 ] && grep -q "last apply failed" <<<"$out"
tap_result $? "SIGHUP with a wrong rules file: not applied, /healthz 503 (the last apply failed)" "$out"
cp "$XM_TMP/textA" "$RULES"
kill -HUP "$MAIN_PID"
wait_for 5 sh -c "nsenter --net=/run/netns/$NS_R curl -s http://127.0.0.1:8080/healthz | grep -qx ok"
out=$(health)
[ "$(status_of "$out")" = 200 ]
tap_result $? "SIGHUP with the file fixed: applied, 200" "$out"
kill -TERM "$MAIN_PID"
wait "$MAIN_PID"
rc=$?
tap_result $rc "SIGTERM: xmasqd exits 0" "$(cat "$XMD_LOG".*)"
check_forwarding_works 0 "xmasqd gone: the data plane keeps forwarding"
out=$(cd "$XM_TMP" && timeout 10 "$XMASQD" --rules x --listen 127.0.0.1:1 --cert c --key k 2>&1)
[ $? -eq 2 ] && grep -q -- "--client-ca FILE or --allow-keys FILE" <<<"$out"
tap_result $? "--listen without --client-ca or --allow-keys: exit 2 and why" "$out"
XM_PINS+=("$NS_R $XM_PIN-2")
out=$(timeout 30 nsenter --net="/run/netns/$NS_R" "$XMASQD" --pin-dir "$XM_PIN-2" --rules "$RULES" eth0 2>&1)
rc=$?
[ $rc -eq 2 ] && grep -q "rules.conf:2:9: interface 'eth1' is neither attached nor named.*nothing was attached" <<<"$out" &&
	[ ! -e "$XM_PIN-2" ]
tap_result $? "IFACEs that leave a rule's interface unmanaged: exit 2 at its line, nothing attached" "exit $rc: $out"
out=$(timeout 10 "$XMASQD" --rules x --etcd http://192.0.2.9:2379 2>&1)
[ $? -eq 2 ] && grep -q "needs --router-id ID and --ruleset NAME" <<<"$out"
tap_result $? "--etcd without --router-id and --ruleset: exit 2 and why" "$out"

# ---- 7. install ------------------------------------------------------------------------
D="$XM_TMP/destdir"
out=$(make -s -C "$XM_ROOT" -o build/xmasq -o build/xmasqd install DESTDIR="$D" 2>&1)
rc=$?
for f in usr/local/sbin/xmasqd usr/local/share/man/man8/xmasqd.8 usr/local/lib/systemd/system/xmasqd.service; do
	[ -f "$D/$f" ] || rc=1
done
tap_result $rc "make install: build/xmasqd, xmasqd(8) and xmasqd.service" "$out"
if command -v mandoc >/dev/null 2>&1; then
	out=$(mandoc -T lint -W all "$D/usr/local/share/man/man8/xmasqd.8" 2>&1)
	[ -z "$out" ]
	tap_result $? "xmasqd(8): mandoc -T lint -W all reports nothing" "$out"
else
	tap_skip "xmasqd(8) lint" "mandoc not installed"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$XM_TMP/unit"
	sed "s|/usr/local/sbin/|$D/usr/local/sbin/|g" "$D/usr/local/lib/systemd/system/xmasqd.service" >"$XM_TMP/unit/xmasqd.service"
	out=$(systemd-analyze verify --man=no "$XM_TMP/unit/xmasqd.service" 2>&1)
	[ -z "$out" ]
	tap_result $? "xmasqd.service: systemd-analyze verify reports nothing" "$out"
else
	tap_skip "xmasqd.service verify" "systemd-analyze not installed"
fi
tap_done
