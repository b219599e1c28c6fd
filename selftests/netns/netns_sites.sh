#!/bin/bash
# Sites: three routers on one "internet" (sites_lib.sh), each deriving its
# rules from one network file by its site name (xmasq apply --network FILE
# --site NAME). paris's hosts reach berlin's web site and berlin's hosts
# paris's database, each through a private address of their own site; rome
# imports nothing and is refused by both (the exporters' `from` lists), its
# refusals counted on the exporting rule. Then a change to the network
# file, applied at every router, is live at each; a broken one is refused
# everywhere and the old rules stay. TAP output; exit 1 when a check fails.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sites_lib.sh"
# shellcheck source=selftests/netns/xmasqd_lib.sh
. "$(dirname "$0")/xmasqd_lib.sh"
xm_init socat curl
need_xmasq

if sites_up t && sites_attach; then
	tap_ok "three sites up, xmasq on every router"
else
	tap_not_ok "three sites up, xmasq on every router"
	tap_done
fi

tap_check "xmasq sites check reads the network file" "$XMASQ" sites check "$SITES_NET"

out=$(site_xm paris apply --diff --network "$SITES_NET" --site paris 2>&1)
echo "$out" | grep -q "from 198.51.100.20 # $SITES_NET:6: service db for berlin" &&
	echo "$out" | grep -q "^+ forward eth1:$WEB_VIP tcp 80 to 198.51.100.20:80" &&
	echo "$out" | grep -q "nothing applied (--diff)"
tap_result $? "apply --diff shows paris's derived rules with their network file lines" "$out"

out=$(sites_apply 2>&1)
tap_result $? "every router applies the network file as its own site" "$out"

out=$(db_query berlin $DB_VIP 2>&1)
[ "$out" = "paris db answers: select 1" ]
tap_result $? "berlin's host reaches paris's database at $DB_VIP (berlin's private address)" "$out"

out=$(web_get paris "http://$WEB_VIP/" 2>&1)
[ "$out" = "hello from berlin's web site" ]
tap_result $? "paris's host reaches berlin's web site at $WEB_VIP" "$out"

# refused: rome imports nothing; its host tries both exporters' public addresses
refused_total() { # SITE: the exporting rules' refusals at SITE's router
	site_xm "$1" stats --json >"$XM_TMP/stats-$1.json" 2>/dev/null &&
		json_get "$XM_TMP/stats-$1.json" "sum(r.get('refused', 0) for r in d['rules'])"
}
before=$(refused_total paris)
out=$(db_query rome "$(site_public paris)" 2>&1)
[ -z "$out" ] || [[ "$out" != *"answers"* ]]
tap_result $? "rome's host does not reach paris's database through paris's public address" "$out"
wait_for 5 test "$(refused_total paris)" -gt "${before:-0}"
tap_result $? "paris counts the refusal on its db rule ($before before, $(refused_total paris) after)"
out=$(web_get rome "http://$(site_public berlin)/" 2>&1)
[[ "$out" != *"hello"* ]]
tap_result $? "rome's host does not reach berlin's web site" "$out"

# a change, published once: berlin exports a second service that paris imports
cp "$SITES_NET" "$XM_TMP/sites-before.net"
cat >>"$SITES_NET" <<NET
service files at berlin tcp 8081 to $(site_host berlin):8080
import files into paris at 198.19.1.81:80
NET
out=$(sites_apply 2>&1)
echo "$out" | grep -c "applied: +1 -0 ~0 =2" | grep -qx 2 &&
	echo "$out" | grep -q "applied: +0 -0 ~0 =0"
tap_result $? "the change applies at every router (berlin and paris +1, rome nothing)" "$out"
out=$(web_get paris "http://198.19.1.81/" 2>&1)
[ "$out" = "hello from berlin's web site" ]
tap_result $? "the new service is live: paris's host reaches it at 198.19.1.81" "$out"

# xmasqd derives the same: started on paris with an empty rules file of its
# own, it finds nothing to change; its page's rule table (GET /api/stats,
# what the page draws) lists the derived rules
XMASQD="${XMASQD:-$XM_ROOT/build/xmasqd}"
XMD_CERTS="$XM_TMP/certs"
page_opts=()
xmasqd_certs "$XMD_CERTS" && page_opts=(--listen 127.0.0.1:8443 --cert "$XMD_CERTS/server.pem"
	--key "$XMD_CERTS/server.key" --client-ca "$XMD_CERTS/ca.pem")
: >"$XM_TMP/paris-own.conf"
nsenter --net="/run/netns/${SITE_R[paris]}" "$XMASQD" --pin-dir "${SITE_PIN[paris]}" --rules "$XM_TMP/paris-own.conf" \
	--network "$SITES_NET" --site paris "${page_opts[@]}" >"$XM_TMP/xmasqd-paris.log" 2>&1 &
XM_PIDS+=($!)
wait_for 10 grep -q "^applied: " "$XM_TMP/xmasqd-paris.log"
grep -q "^applied: +0 -0 ~0 =3 rules" "$XM_TMP/xmasqd-paris.log"
tap_result $? "xmasqd --network --site derives paris's rules alike (nothing to change)" \
	"$(cat "$XM_TMP/xmasqd-paris.log")"
if [ ${#page_opts[@]} -gt 0 ]; then
	wait_port "${SITE_R[paris]}" tcp 127.0.0.1 8443
	out=$(xmasqd_curl "${SITE_R[paris]}" 8443 client -H "Host: 127.0.0.1:8443" "https://router.test:8443/api/stats" 2>&1)
	echo "$out" | "$XM_PY" -c 'import json, sys
rules = [r["rule"] for r in json.load(sys.stdin)["rules"]]
want = ["forward eth1:'"$WEB_VIP"' tcp 80 to 198.51.100.20:80"]
sys.exit(0 if len(rules) == 3 and all(w in rules for w in want) and any(" from 198.51.100.20" in r for r in rules) else 1)'
	tap_result $? "the page's rule table (GET /api/stats) lists the 3 derived rules, the import and the export with its from" \
		"$(echo "$out" | head -c 3000)"
else
	tap_skip "the page's rule table lists the derived rules" "openssl could not make the test certificates"
fi
kill "${XM_PIDS[-1]}" 2>/dev/null # xmasqd itself: nsenter execs it

# a broken network file: refused at every router, the old rules stay
echo "import nothing into paris at 198.19.1.99" >>"$SITES_NET"
out=$(sites_apply 2>&1)
rc=$?
[ $rc -ne 0 ] && [ "$(echo "$out" | grep -c "$SITES_NET:13:8: unknown service 'nothing'")" = 3 ]
tap_result $? "a broken network file is refused at every router, naming its line" "$out"
out=$(web_get paris "http://198.19.1.81/" 2>&1)
[ "$out" = "hello from berlin's web site" ]
tap_result $? "and the rules live before stay" "$out"

tap_done
