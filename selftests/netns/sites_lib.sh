# shellcheck shell=bash
# selftests/netns/sites_lib.sh — three sites on one "internet", for
# netns_sites.sh and tools/demo_sites.sh (source lib.sh first):
#
#   paris host 198.18.1.2 ─ eth1 [router paris]  eth0 198.51.100.10 ┐
#   berlin host 198.18.2.2 ─ eth1 [router berlin] eth0 198.51.100.20 ├ bridge "internet"
#   rome host 198.18.3.2 ─ eth1 [router rome]   eth0 198.51.100.30 ┘
#
# Each host's default route is its router (198.18.N.1); the routers know
# only their own LAN and 198.51.100.0/24: nothing routes one site's private
# addresses to another, so whatever crosses does it through xmasq. paris
# runs a database-like TCP service (answers each line, on :5432), berlin a web site
# (python's http.server on :8080); rome runs nothing and imports nothing.
# The network file SITES_NET makes paris and berlin import each other's.

SITES=(paris berlin rome)
declare -A SITE_N=([paris]=1 [berlin]=2 [rome]=3)
site_public() { echo "198.51.100.$((SITE_N[$1] * 10))"; }
site_host() { echo "198.18.${SITE_N[$1]}.2"; }
# the private addresses the imports get: outside the hosts' subnet, so the
# hosts send them to their gateway (the router) and no address is added
DB_VIP=198.19.2.10  # berlin's hosts reach paris's database here
WEB_VIP=198.19.1.80 # paris's hosts reach berlin's web site here

sites_network() {
	cat <<NET
# The network: three sites, what each exports and who imports it.
site paris  public $(site_public paris) on eth0 private eth1
site berlin public $(site_public berlin) on eth0 private eth1
site rome   public $(site_public rome) on eth0 private eth1

service db  at paris  tcp 5432 to $(site_host paris)        # database-like: a line echo
service web at berlin tcp 80   to $(site_host berlin):8080   # a web site

import db  into berlin at $DB_VIP
import web into paris  at $WEB_VIP
NET
}

# site_xm SITE ARGS...: build/xmasq in SITE's router with its pin dir
site_xm() {
	local s=$1
	shift
	timeout --kill-after=5 60 nsenter --net="/run/netns/${SITE_R[$s]}" "$XMASQ" \
		--pin-dir "${SITE_PIN[$s]}" "$@"
}

# sites_up TAG: the namespaces, links, addresses and services; sets
# SITE_R[site] SITE_H[site] SITE_PIN[site] NS_NET SITES_NET (the file)
declare -A SITE_R SITE_H SITE_PIN
sites_up() {
	local tag=$1 s n
	NS_NET="xm-net-$$-$tag"
	ns_add "$NS_NET" || return 1
	ip -n "$NS_NET" link add internet type bridge || return 1
	ip -n "$NS_NET" link set internet up || return 1
	for s in "${SITES[@]}"; do
		n=${SITE_N[$s]}
		SITE_R[$s]="xm-$s-r-$$-$tag"
		SITE_H[$s]="xm-$s-h-$$-$tag"
		SITE_PIN[$s]="/sys/fs/bpf/xmasq-test-$$-$tag-$s"
		XM_PINS+=("${SITE_R[$s]} ${SITE_PIN[$s]}")
		ns_add "${SITE_R[$s]}" "${SITE_H[$s]}" || return 1
		ip -n "${SITE_R[$s]}" link add eth0 type veth peer name "$s" netns "$NS_NET" || return 1
		ip -n "$NS_NET" link set "$s" master internet up || return 1
		ip -n "${SITE_R[$s]}" link add eth1 type veth peer name eth0 netns "${SITE_H[$s]}" || return 1
		ip -n "${SITE_R[$s]}" addr add "$(site_public "$s")/24" dev eth0
		ip -n "${SITE_R[$s]}" addr add "198.18.$n.1/24" dev eth1
		ip -n "${SITE_H[$s]}" addr add "$(site_host "$s")/24" dev eth0
		ip -n "${SITE_R[$s]}" link set eth0 up
		ip -n "${SITE_R[$s]}" link set eth1 up
		ip -n "${SITE_H[$s]}" link set eth0 up
		ip -n "${SITE_H[$s]}" route add default via "198.18.$n.1" || return 1
	done
	SITES_NET="$XM_TMP/sites-$tag.net"
	sites_network >"$SITES_NET"
	mkdir -p "$XM_TMP/www-$tag"
	echo "hello from berlin's web site" >"$XM_TMP/www-$tag/index.html"
	cat >"$XM_TMP/db-$tag.py" <<'PY'
import socketserver, sys
class Db(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(b"paris db answers: " + line)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer((sys.argv[1], 5432), Db).serve_forever()
PY
	nsx "${SITE_H[paris]}" "$XM_PY" "$XM_TMP/db-$tag.py" "$(site_host paris)" >/dev/null 2>&1 &
	XM_PIDS+=($!)
	nsx "${SITE_H[berlin]}" "$XM_PY" -m http.server --bind "$(site_host berlin)" \
		--directory "$XM_TMP/www-$tag" 8080 >/dev/null 2>&1 &
	XM_PIDS+=($!)
	wait_port "${SITE_H[paris]}" tcp "$(site_host paris)" 5432 &&
		wait_port "${SITE_H[berlin]}" tcp "$(site_host berlin)" 8080
}

# sites_attach: xmasq on every router's two NICs (no rules yet)
sites_attach() {
	local s
	ensure_bpffs || return 1
	for s in "${SITES[@]}"; do
		site_xm "$s" attach --mode xdp eth0 eth1 >/dev/null || return 1
	done
}

# sites_apply: every router applies the network file as its own site
# (the one command a change takes without the fleet; with it, one
# `xmasq publish`)
sites_apply() {
	local s rc=0
	for s in "${SITES[@]}"; do
		site_xm "$s" apply --network "$SITES_NET" --site "$s" || rc=1
	done
	return $rc
}

# db_query FROM_SITE ADDR: one line through the database-like service
db_query() {
	echo "select 1" | nsx "${SITE_H[$1]}" timeout 10 socat -t 3 -T 5 - "TCP:$2:5432,connect-timeout=3"
}

# web_get FROM_SITE URL
web_get() { nsx "${SITE_H[$1]}" curl -sS --max-time 5 "$2"; }
