#!/bin/bash
# tools/demo.sh — xmasq in five minutes, run by `make demo` (as root).
#
# Builds a small lab out of network namespaces (nothing leaves them), puts
# xmasq on the "router", sends real traffic through it and explains what
# happened, shows `xmasq status` and `xmasq stats`, then removes everything.
cd "$(dirname "$0")/.." || exit 2
export BIG_MB=10
. selftests/netns/lib.sh

if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (it creates network namespaces and loads BPF programs)" >&2
	exit 1
fi
if [ ! -x "$XMASQ" ]; then
	echo "demo: $XMASQ is missing; run 'make all' first" >&2
	exit 1
fi
xm_init >/dev/null

if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'; else B='' G='' R='' D='' N=''; fi
FAILS=0
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
say() { local l; for l in "$@"; do if [ -n "$l" ]; then printf '   %s\n' "$l"; else echo; fi; done; }
good() { printf '   %s✓ %s%s\n' "$G" "$*" "$N"; }
bad() { printf '   %s✗ %s%s\n' "$R" "$*" "$N"; FAILS=$((FAILS + 1)); }
# shown CMD...: print "$ xmasq ARGS" and run xmasq ARGS in the router
shown() {
	printf '   %s$ xmasq %s%s\n' "$D" "$*" "$N"
	xm "$@" 2>&1 | sed 's/^/     /'
	return "${PIPESTATUS[0]}"
}

cat <<EOF
${B}xmasq demo${N} — port forwarding + masquerade (iptables DNAT+MASQUERADE)
done per packet in XDP/tc, with replies sent back out of the NIC they came in on.

The lab (network namespaces on this machine; no packet leaves them):

   client0                      router                        backend
   198.19.0.10 ─ 192.0.2.2 ─── eth0 192.0.2.1     eth2 198.18.0.1 ─── 198.18.0.2
                               (default route)                        web :80, UDP echo :5000,
   client1                                                            no default route
   198.19.1.10 ─ 198.51.100.2 ─ eth1 198.51.100.1

   Like an Azure VM with two NICs, each with its own public IP. The router's
   only default route points out of eth0, and there is no "ip rule".
EOF

step "1. Build the lab"
if topo_up gro demo && backend_up; then
	good "namespaces up: router $NS_R, clients $NS_C0 and $NS_C1, backend $NS_B"
	good "backend serves a web page, /whoami (tells who connected), a ${BIG_MB} MB file, and a UDP echo"
else
	bad "could not build the lab"
	exit 1
fi

step "2. Attach xmasq to the router's three NICs"
say "(each xmasq command runs inside the router's namespace, with --pin-dir /sys/fs/bpf/xmasq-test-$$-gro)"
ensure_bpffs
router_xmasq_vars
say "(--mode xdp: on veth, a plain attach would choose tc, which keeps TCP's TSO and GRO; this demo shows the XDP path)"
if shown attach --mode xdp eth0 eth1 eth2; then
	good "XDP and tc programs loaded and attached; maps pinned under $XM_PIN"
else
	bad "attach failed"
	exit 1
fi

step "3. Tell it what to forward"
XM_RULES_FILE="$XM_TMP/rules.conf"
cat >"$XM_RULES_FILE" <<EOF
# forward the web service and the UDP echo on both public NICs
forward eth0 tcp 8080 to $B_ADDR:80
forward eth1 tcp 8080 to $B_ADDR:80
forward eth0 udp 5000 to $B_ADDR:5000
forward eth1 udp 5000 to $B_ADDR:5000
EOF
say "rules file:"
sed 's/^/     | /' "$XM_RULES_FILE"
if shown apply "$XM_RULES_FILE"; then
	good "rules live (no reload, existing connections untouched)"
else
	bad "apply failed"
	exit 1
fi

step "4. Real traffic"
for c in 0 1; do
	client_vars $c
	say "" "${B}client $CSRC opens http://$CRADDR:8080/whoami (arrives on $CIF)${N}"
	if out=$(cli "$CNS" get --timeout 5 --src "$CSRC" "http://$CRADDR:8080/whoami" 2>&1); then
		good "answered; the backend says the connection came from ${out%$'\n'}"
		[ "${out%%:*}" = "$R_ADDR2" ] && say "  -> that is the router's own address: masqueraded, the backend needs no route back"
		[ "$c" = 1 ] && say "  -> the answer reached $CSRC through eth1, although the router's routing" \
			"     table sends everything out of eth0: xmasq replies out of the NIC the connection came in on"
	else
		bad "no answer: $out"
	fi
	if out=$(cli "$CNS" get --timeout 5 --src "$CSRC" "http://$CRADDR:8080/" 2>&1) && grep -q xmasq-test-index <<<"$out"; then
		good "index page: $(grep -o '<h1>[^<]*' <<<"$out" | sed 's/<h1>//') ($(wc -c <<<"$out") bytes)"
	else
		bad "index page failed: $out"
	fi
done

for c in 0 1; do
	client_vars $c
	say "" "${B}client $CSRC sends a UDP datagram \"hello\" to $CRADDR:5000${N}"
	if out=$(cli "$CNS" udp --timeout 3 --src "$CSRC" "$CRADDR" 5000 hello 2>&1); then
		good "reply: \"$out\" (the echo server prefixes the sender it saw)"
	else
		bad "no UDP reply: $out"
	fi
done

say "" "${B}client $C0_SRC downloads ${BIG_MB} MB through $R_ADDR0:8080${N}"
if out=$(cli "$NS_C0" sha --timeout 30 --src "$C0_SRC" "http://$R_ADDR0:8080/big.bin" 2>&1); then
	read -r sha bytes secs <<<"$out"
	if [ "$sha" = "$BIG_SHA" ]; then
		good "$bytes bytes in ${secs}s, sha256 identical to the backend's file"
	else
		bad "content differs: got $sha, want $BIG_SHA"
	fi
else
	bad "download failed: $out"
fi

say "" "${B}client $C0_SRC tries $R_ADDR0:8081 (no rule for it)${N}"
out=$(cli "$NS_C0" tcp --timeout 2 --src "$C0_SRC" "$R_ADDR0" 8081 2>&1)
if [ "$out" != connected ]; then
	good "not forwarded ($out): xmasq passes what no rule matches to the router's own kernel"
else
	bad "8081 unexpectedly connected"
fi

step "5. What xmasq reports"
shown status
echo
shown stats

step "6. The web page (xmasqd)"
. tools/demo_page.sh
# in this shell, not $(...): it starts xmasqd and a relay, registered for the clean-up
if demo_page_up >"$XM_TMP/page.why" 2>&1; then
	good "xmasqd serves the page and its API for this router, over TLS locked by a client certificate"
	demo_page_print
	demo_page_wait
else
	say "(no page: $(cat "$XM_TMP/page.why"))"
fi

step "7. Clean up"
topo_down
good "namespaces, programs, pins and processes removed"
echo
if [ "$FAILS" -eq 0 ]; then
	printf '%sdemo finished: everything worked%s\n' "$G" "$N"
else
	printf '%sdemo finished: %d step(s) failed (see above)%s\n' "$R" "$FAILS" "$N"
	exit 1
fi
