#!/bin/bash
# tools/demo_sites.sh — sites joined into one private network without a VPN,
# run by `make demo-sites` (as root): three sites' routers in network
# namespaces on this machine, one network file, each router deriving its
# own rules from it; services reached both ways through private addresses,
# a site that imports nothing refused, and a change applied at every site.
cd "$(dirname "$0")/.." || exit 2
. selftests/netns/lib.sh
. selftests/netns/sites_lib.sh

if [ "$(id -u)" != 0 ]; then
	echo "demo-sites: run as root (it creates network namespaces and loads BPF programs)" >&2
	exit 1
fi
if [ ! -x "$XMASQ" ]; then
	echo "demo-sites: $XMASQ is missing; run 'make all' first" >&2
	exit 1
fi
xm_init socat curl >/dev/null

if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'; else B='' G='' R='' D='' N=''; fi
FAILS=0
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
say() { local l; for l in "$@"; do printf '   %s\n' "$l"; done; }
good() { printf '   %s✓ %s%s\n' "$G" "$*" "$N"; }
bad() { printf '   %s✗ %s%s\n' "$R" "$*" "$N"; FAILS=$((FAILS + 1)); }
indent() { sed 's/^/     /'; }
# apply_everywhere: the one command a change takes without the fleet
apply_everywhere() {
	local s
	for s in "${SITES[@]}"; do
		printf '   %s[%s]$ xmasq apply --network %s --site %s%s\n' "$D" "$s" \
			"${SITES_NET##*/}" "$s" "$N"
		site_xm "$s" apply --network "$SITES_NET" --site "$s" 2>&1 | indent
		[ "${PIPESTATUS[0]}" = 0 ] || return 1
	done
}

cat <<EOF
${B}xmasq demo: sites${N} — private hosts of several sites reach chosen services of
each other, both ways, without a VPN. Each router forwards what its site
exports on its public address, admitting only the importing sites' public
addresses, and gives its own hosts a private address for what it imports.

   paris host 198.18.1.2 ─ [router paris  198.51.100.10] ┐
   berlin host 198.18.2.2 ─ [router berlin 198.51.100.20] ├ "the internet"
   rome host 198.18.3.2 ─ [router rome   198.51.100.30] ┘

   paris runs a database-like service (198.18.1.2:5432), berlin a web site
   (198.18.2.2:8080); rome imports nothing. No route joins the private
   networks: whatever crosses does so through xmasq.
EOF

step "1. Build the three sites"
if sites_up demo && sites_attach; then
	good "routers, hosts and the internet bridge up; xmasq attached to each router's eth0 and eth1"
else
	bad "could not build the sites"
	exit 1
fi

step "2. One network file for every site"
indent <"$SITES_NET"

step "3. What each router derives from it, by its site name"
for s in "${SITES[@]}"; do
	printf '   %s$ xmasq sites derive --site %s %s%s\n' "$D" "$s" "${SITES_NET##*/}" "$N"
	(cd "$XM_TMP" && "$XMASQ" sites derive --site "$s" "${SITES_NET##*/}") | indent
done
say "" "rome exports nothing and imports nothing: no rules." \
	"The exporter's forward admits only the importers' public addresses (from);" \
	"the importer's forward gives the service a private address, masqueraded to its public one."

step "4. Apply it at every router"
if apply_everywhere; then good "applied at paris, berlin and rome"; else bad "apply failed"; fi

step "5. Both ways"
out=$(db_query berlin $DB_VIP 2>&1)
if [ "$out" = "paris db answers: select 1" ]; then
	good "berlin's host -> $DB_VIP:5432 (berlin's private address for paris's db): '$out'"
else
	bad "berlin's host could not query paris's db at $DB_VIP: $out"
fi
out=$(web_get paris "http://$WEB_VIP/" 2>&1)
if [ "$out" = "hello from berlin's web site" ]; then
	good "paris's host -> http://$WEB_VIP/ (paris's private address for berlin's web): '$out'"
else
	bad "paris's host could not get berlin's web site at $WEB_VIP: $out"
fi

step "6. rome imports nothing: refused"
out=$(db_query rome "$(site_public paris)" 2>&1)
if [[ "$out" != *answers* ]]; then
	good "rome's host -> $(site_public paris):5432 (paris's public db port): no answer"
else
	bad "rome's host reached paris's db: $out"
fi
out=$(web_get rome "http://$(site_public berlin)/" 2>&1)
if [[ "$out" != *hello* ]]; then
	good "rome's host -> http://$(site_public berlin)/ (berlin's public web port): no answer"
else
	bad "rome's host reached berlin's web site: $out"
fi
say "paris's rules and what each has refused (xmasq stats):"
site_xm paris stats 2>&1 | sed -n '/^ *ID /,/^$/p' | indent

step "7. A change, published once, live at every site"
cat >>"$SITES_NET" <<NET
service files at berlin tcp 8081 to $(site_host berlin):8080   # new
import files into paris at 198.19.1.81:80                      # new
NET
say "two lines added to the network file:" ""
tail -2 "$SITES_NET" | indent
say "" "Without the fleet, one loop applies the file at every router; with the fleet" \
	"(etcd) it is one 'xmasq publish --ruleset NAME FILE' and each router derives its own."
if apply_everywhere; then good "applied everywhere"; else bad "apply failed"; fi
out=$(web_get paris "http://198.19.1.81/" 2>&1)
if [ "$out" = "hello from berlin's web site" ]; then
	good "paris's host -> http://198.19.1.81/ (the new import): '$out'"
else
	bad "the new service is not live at paris: $out"
fi

step "8. Clean up"
topo_down
good "namespaces and pins removed"
if [ "$FAILS" = 0 ]; then
	printf '\n%sdemo-sites: everything worked%s\n' "$B" "$N"
else
	printf '\n%sdemo-sites: %d step(s) failed%s\n' "$R" "$FAILS" "$N"
	exit 1
fi
