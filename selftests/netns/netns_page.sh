#!/bin/bash
# netns_page.sh — xmasqd's web page in a real browser (Debian's chromium driven
# by playwright-core, selftests/browser/page_test.js), against the daemon in a
# router namespace, with certificates made here by the openssl CLI:
#   - a browser without a client certificate is refused;
#   - the rules table lists every rule (1,000; PAGE_RULES=100000 for a big
#     table) and its search filters them;
#   - a forward added with the page's form goes live: a client namespace then
#     reaches the backend namespace through it (refused before: the control);
#   - a row's Edit and Remove change the text, and Apply makes that live;
#   - a second editor with an old version is told, and nothing is overwritten;
#   - a bad line shows the parser's message at its line and column;
#   - the new rule's packets/s on the page is above 0 while traffic flows;
#   - IPv6 (the links carry IPv6 too, see page6_up): the interfaces table
#     shows each NIC's IPv6 address; an IPv6 forward, a family any forward
#     and an IPv6 masquerade added with the forms go live: C0's IPv6 client
#     then reaches the backend's IPv6 server (nginx) and its IPv4 one
#     (6->4) through the forwards (refused before: the control); the IPv6
#     flows and counters show while IPv6 traffic flows; IPv6 parser errors
#     show at their line and column.
# Screenshots: build/screenshots/page*.png.
export BIG_MB=1
. "$(dirname "$0")/lib.sh"
XMASQD="${XMASQD:-$XM_ROOT/build/xmasqd}"
PW="$XM_ROOT/tools/browser/node_modules/playwright-core"
SHOTS="$XM_ROOT/build/screenshots"

xm_init openssl node curl nginx
[ -d /proc/sys/net/ipv6 ] || skip_all "the kernel has no IPv6 (ipv6.disable=1)"
need_xmasq
[ -x "$XMASQD" ] || skip_all "$XMASQD not built (make)"
[ -d "$PW" ] || skip_all "playwright-core is not installed (tools/deps.sh runs npm ci in tools/browser)"
# the binary itself: /usr/bin/chromium is a wrapper script
CHROMIUM=/usr/lib/chromium/chromium
[ -x "$CHROMIUM" ] || CHROMIUM=$(command -v chromium) || skip_all "chromium is not installed (tools/deps.sh)"

# PAGE_RULES rules in all (the four of lib.sh and generated ones; up to
# 120,000): PAGE_RULES=100000 shows the page at scale, 1,000 keeps it quick
PAGE_RULES=${PAGE_RULES:-1000}
GEN=$((PAGE_RULES - 4))
NEW_PORT=9090                 # the forward the browser adds
NEW_RULE="forward eth0 tcp $NEW_PORT to $B_ADDR:80"
PORT=8443
URL="https://$R_ADDR2:$PORT/"
CERTS="$XM_TMP/certs"

# IPv6 on the links of lib.sh's topology (netns_ipv6.sh's addresses): C0
# and the router's eth0 on 2001:db8:0:1::/64, the router's eth2 and the
# backend on fd00:8::/64; eth1 stays without (the page shows "–")
R6_0=2001:db8:0:1::1
R6_2=fd00:8::1
C6_0=2001:db8:0:1::2
B6=fd00:8::2
NEW6_PORT=9096 # the IPv6 forward the browser adds (to the backend's nginx on [B6]:80)
ANY_PORT=9097  # the family any forward the browser adds (IPv6 clients, IPv4 backend)
NEW6_RULE="forward eth0 tcp $NEW6_PORT to [$B6]:80"
ANY_RULE="forward eth0 tcp $ANY_PORT to $B_ADDR:80 family any"

# ---- certificates: a CA, the server's, the operator's (clientAuth) --------------
make_certs() {
	mkdir -p "$CERTS" && cd "$CERTS" || return 1
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=xmasq test CA $$" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign || return 1
	openssl req "${ec[@]}" -keyout server.key -out server.csr -subj "/CN=$R_ADDR2" || return 1
	printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' \
		"$R_ADDR2" >server.ext
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
		-out server.pem || return 1
	openssl req "${ec[@]}" -keyout client.key -out client.csr -subj "/CN=operator $$" || return 1
	printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' >client.ext
	openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext \
		-out client.pem || return 1
	cd - >/dev/null
}

# page PHASE ARGS...: page_test.js in the router's namespace; its PASS/FAIL/DIAG
# lines become TAP here (one numbering for the whole suite)
page() {
	local phase=$1 kind rest
	shift
	while read -r kind rest; do
		case "$kind" in
		PASS) tap_ok "page: $rest" ;;
		FAIL) tap_not_ok "page: $rest" ;;
		DIAG) diag "$rest" ;;
		EXIT) [ "$rest" != 0 ] && [ "$T_FAILED" -eq 0 ] && tap_not_ok "page_test.js $phase exited with $rest" ;;
		*) diag "$kind $rest" ;;
		esac
	done < <(
		(timeout --kill-after=5 150 nsenter --net="/run/netns/$NS_R" \
			env NODE_EXTRA_CA_CERTS="$CERTS/ca.pem" CHROMIUM="$CHROMIUM" HOME="$XM_TMP" \
			node "$XM_ROOT/selftests/browser/page_test.js" "$phase" --url "$URL" \
			--cert "$CERTS/client.pem" --key "$CERTS/client.key" --shots "$SHOTS" "$@" 2>&1
		echo "EXIT $?"
	) | tee "$SHOTS/page_test-$phase.log"
	)
}

# page6_up: IPv6 on in the router, C0 and the backend, with the addresses
# above (no duplicate address detection: usable at once); the router's
# IPv6 forwarding is xmasq attach's. Before the attach: it reads the NICs'
# IPv6 addresses.
page6_up() {
	ns_ipv6 "$NS_R" "$NS_C0" "$NS_B" || return 1
	local a
	for a in "$NS_R $R6_0/64 eth0" "$NS_R $R6_2/64 eth2" "$NS_C0 $C6_0/64 eth0" "$NS_B $B6/64 eth0"; do
		set -- $a
		ip -n "$1" -6 addr add "$2" dev "$3" nodad || return 1
	done
}

# backend6_up: nginx on the backend's [B6]:80 answering /whoami with the
# peer's address (backend.py, on its IPv4 address, is IPv4 only)
backend6_up() {
	nginx_www_up "$NS_B" "$XM_TMP/nginx6" server_port "[$B6]:80"
	wait_port "$NS_B" tcp "[$B6]" 80 ||
		{ cat "$XM_TMP/nginx6/stdout" "$XM_TMP/nginx6/error.log" >&2; return 1; }
}

# whoami6 PORT: what the backend saw of C0's IPv6 request to [R6_0]:PORT
whoami6() {
	timeout --kill-after=3 10 nsenter --net="/run/netns/$NS_C0" \
		curl -sS -g -6 --connect-timeout 3 --max-time 5 "http://[$R6_0]:$1/whoami"
}

# new6_forwards_work: the IPv6 forward reaches nginx, masqueraded to the
# router's R6_2; the family any one the IPv4 backend, as the router's R_ADDR2
new6_forwards_work() {
	local a b
	a=$(whoami6 $NEW6_PORT 2>&1) && [ "$a" = "$R6_2" ] &&
		b=$(whoami6 $ANY_PORT 2>&1) && [ "${b%%:*}" = "$R_ADDR2" ]
}

# new_forward_works: a client reaches the backend through the new forward
new_forward_works() {
	local out
	out=$(cli "$NS_C0" get --timeout 3 --src $C0_SRC "http://$R_ADDR0:$NEW_PORT/whoami" 2>&1) &&
		[ "${out%%:*}" = "$R_ADDR2" ]
}

mkdir -p "$SHOTS"
tap_check "test certificates made with openssl (CA, server, clientAuth client)" make_certs

topo_up gro page && page6_up && backend_up && backend6_up ||
	{ tap_not_ok "topology (IPv4 and IPv6) and backends up"; tap_done; exit 1; }
# generated: eth1 tcp 20000-59999, then eth1 udp, then eth2 tcp, same ports
gen_rules() {
	awk -v n="$GEN" -v b="$B_ADDR" 'BEGIN {
		split("eth1 tcp,eth1 udp,eth2 tcp", g, ",")
		for (i = 0; i < n; i++) printf "forward %s %d to %s:80\n", g[int(i / 40000) + 1], 20000 + i % 40000, b
	}'
}
# port_rules PORT: how many generated rules have PORT
port_rules() {
	local g n=0
	for g in 0 1 2; do [ $((g * 40000 + $1 - 20000)) -lt "$GEN" ] && n=$((n + 1)); done
	echo $n
}
XM_RULES+=$'\n'"$(gen_rules)"
ensure_bpffs
router_xmasq_vars # in this shell: tap_check runs router_xmasq_up in a subshell
tap_check "xmasq attached to the router's NICs with $PAGE_RULES rules" router_xmasq_up xdp

nsx "$NS_R" "$XMASQD" --pin-dir "$XM_PIN" --rules "$XM_RULES_FILE" --listen "$R_ADDR2:$PORT" \
	--cert "$CERTS/server.pem" --key "$CERTS/server.key" --client-ca "$CERTS/ca.pem" \
	--origin "https://$R_ADDR2:$PORT" --audit-log "$XM_TMP/audit.log" >"$XM_TMP/xmasqd.log" 2>&1 &
XM_PIDS+=($!)
wait_port "$NS_R" tcp "$R_ADDR2" "$PORT" 15
tap_result $? "xmasqd listens on $R_ADDR2:$PORT in the router's namespace" "$(tail -n 20 "$XM_TMP/xmasqd.log")" ||
	{ tap_done; exit 1; }

# control: the port the browser will forward is not forwarded yet
! new_forward_works
tap_result $? "control: $R_ADDR0:$NEW_PORT does not reach the backend before the page adds it"
! whoami6 $NEW6_PORT >/dev/null 2>&1 && ! whoami6 $ANY_PORT >/dev/null 2>&1
tap_result $? "control: [$R6_0]:$NEW6_PORT and :$ANY_PORT do not reach the backend before the page adds them"

page edit --rules "$PAGE_RULES" --forward "eth0 tcp $NEW_PORT $B_ADDR:80" \
	--search-port 20500 --search-port-n "$(port_rules 20500)" \
	--edit-ports 20600,65100,20601 --rm-left "$(($(port_rules 20601) - 1))" --search-iface eth0 --search-iface-n 2 --search-addr "$B_ADDR:5000" --search-addr-n 2 \
	--addr6 "eth0=$R6_0,eth2=$R6_2,eth1=–" \
	--forward6 "eth0 tcp $NEW6_PORT [$B6]:80" --forward-any "eth0 tcp $ANY_PORT $B_ADDR:80 any" --masq6 "fd00:1::/64 eth0" \
	--bad "$(printf '[["forward eth0 tcp 99999 to %s:80", "port 99999 out of range", 18],
		["forward eth0 tcp 9098 to [%s", "unclosed '"'"'['"'"' in destination address", 26],
		["forward eth0 tcp 9098 to [%s]:80 family ipv4", "IPv4 clients of an IPv6 backend are not supported", 48]]' \
		"$B_ADDR" "$B6" "$B6")"

wait_for 5 new_forward_works
tap_result $? "the forward added on the page carries traffic: C0 -> $R_ADDR0:$NEW_PORT reaches the backend, masqueraded" \
	"$(cli "$NS_C0" get --timeout 3 --src $C0_SRC "http://$R_ADDR0:$NEW_PORT/whoami" 2>&1)"
grep -qxF "$NEW_RULE" "$XM_RULES_FILE"
tap_result $? "the rules file holds the new forward" "$(tail -n 3 "$XM_RULES_FILE")"
wait_for 5 new6_forwards_work
tap_result $? "the IPv6 forwards added on the page carry traffic: C0 [$C6_0] -> [$R6_0]:$NEW6_PORT reaches [$B6]:80 as $R6_2, -> [$R6_0]:$ANY_PORT reaches $B_ADDR:80 as $R_ADDR2 (6->4)" \
	"$NEW6_PORT: $(whoami6 $NEW6_PORT 2>&1)" "$ANY_PORT: $(whoami6 $ANY_PORT 2>&1)" "$(tail -n 4 "$XM_RULES_FILE")"

# traffic through the new forward while the browser watches the rates
(
	while :; do
		cli "$NS_C0" get --timeout 2 --src $C0_SRC "http://$R_ADDR0:$NEW_PORT/whoami" >/dev/null 2>&1
		whoami6 $NEW6_PORT >/dev/null 2>&1
		whoami6 $ANY_PORT >/dev/null 2>&1
		sleep 0.2
	done
) &
TRAFFIC=$!
XM_PIDS+=($TRAFFIC)
page rates --rule "$NEW_RULE" --search-port $NEW_PORT --chart-ms 6000 \
	--rules6 "$(printf '["%s", "%s"]' "$NEW6_RULE" "$ANY_RULE")"
kill $TRAFFIC 2>/dev/null

# the page sends its edits as PATCH (a line edit, not the whole file); only
# a text whose last line has no newline goes as PUT (the bad line typed at
# the end, refused)
"$XM_PY" - "$XM_TMP/audit.log" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
patches = [l for l in lines if l.get("what") == "PATCH /api/rules" and l.get("status") == 200 and l.get("edits")]
puts = [l for l in lines if l.get("what") == "PUT /api/rules" and l.get("status") == 200]
sys.exit(0 if len(patches) >= 2 and not puts else 1)
EOF
tap_result $? "the page's applies are PATCH /api/rules line edits (the audit log shows their edits), none a PUT" \
	"$(cut -c1-200 "$XM_TMP/audit.log")"
[ -s "$XM_TMP/audit.log" ] && diag "audit log: $(tail -n 2 "$XM_TMP/audit.log" | cut -c1-300)"
tap_done
