# shellcheck shell=bash
# tools/demo_page.sh — the web page part of `make demo`, sourced by tools/demo.sh
# (after selftests/netns/lib.sh, once the router is attached and its rules applied).
#
#   demo_page_up    starts build/xmasqd in the router's namespace, reachable from
#                   this machine at https://127.0.0.1:PORT through a socat relay
#                   (TLS stays end to end), and prints the URL and the client
#                   certificate to import; returns 1 (and says why) if it cannot
#   demo_page_wait  on a terminal, keeps the lab up until Enter so the page can be
#                   looked at; otherwise returns at once (the demo is not slower)
#
# The certificates stay in build/demo-page/ and are reused by the next demo, so
# the browser needs them imported only once. Nothing here waits on anything slow:
# a few milliseconds of openssl the first time, and xmasqd's start.

XMASQD="${XMASQD:-$XM_ROOT/build/xmasqd}"
DEMO_PAGE_DIR="$XM_ROOT/build/demo-page"
DEMO_PAGE_PORT="${XM_DEMO_PAGE_PORT:-18443}"
DEMO_PAGE_INNER=8443 # inside the router's namespace, on its eth2 address
DEMO_PAGE_URL=""

# demo_page_certs: CA, server (127.0.0.1 and the router's address), client (.p12)
demo_page_certs() {
	local d=$DEMO_PAGE_DIR ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	mkdir -p "$d" || return 1
	if [ ! -s "$d/ca.pem" ] || [ ! -s "$d/client.p12" ]; then
		openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 825 \
			-subj "/CN=xmasq demo CA" -addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || return 1
		openssl req "${ec[@]}" -keyout "$d/client.key" -out "$d/client.csr" -subj "/CN=xmasq demo operator" \
			2>/dev/null || return 1
		printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' \
			>"$d/client.ext"
		openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 825 \
			-extfile "$d/client.ext" -out "$d/client.pem" 2>/dev/null || return 1
		openssl rand -hex 6 >"$d/client.p12.password" || return 1
		openssl pkcs12 -export -in "$d/client.pem" -inkey "$d/client.key" -name "xmasq demo operator" \
			-passout "file:$d/client.p12.password" -out "$d/client.p12" || return 1
		chmod 600 "$d"/*.key "$d/client.p12" "$d/client.p12.password"
	fi
	# the server's certificate names this run's addresses: made every time
	openssl req "${ec[@]}" -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=127.0.0.1" \
		2>/dev/null || return 1
	printf 'subjectAltName=IP:127.0.0.1,IP:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' \
		"$R_ADDR2" >"$d/server.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
		-extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
}

demo_page_up() {
	[ -x "$XMASQD" ] || { echo "build/xmasqd is not built: no page (make all)"; return 1; }
	command -v openssl >/dev/null && command -v socat >/dev/null ||
		{ echo "openssl and socat are needed for the page (tools/deps.sh)"; return 1; }
	demo_page_certs || { echo "could not make the certificates in $DEMO_PAGE_DIR"; return 1; }
	local p
	for p in $(seq "$DEMO_PAGE_PORT" $((DEMO_PAGE_PORT + 9))); do
		ss -Hltn "src 127.0.0.1:$p" | grep -q . || break
	done
	DEMO_PAGE_PORT=$p
	DEMO_PAGE_URL="https://127.0.0.1:$p/"
	nsx "$NS_R" "$XMASQD" --pin-dir "$XM_PIN" --rules "$XM_RULES_FILE" \
		--listen "$R_ADDR2:$DEMO_PAGE_INNER" --cert "$DEMO_PAGE_DIR/server.pem" \
		--key "$DEMO_PAGE_DIR/server.key" --client-ca "$DEMO_PAGE_DIR/ca.pem" \
		--origin "https://127.0.0.1:$p" --audit-log "$XM_TMP/audit.log" >"$XM_TMP/xmasqd.log" 2>&1 &
	XM_PIDS+=($!)
	# a TCP relay from this machine's loopback into the router's namespace
	socat "TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr,fork" \
		"EXEC:nsenter --net=/run/netns/$NS_R socat STDIO TCP\:$R_ADDR2\:$DEMO_PAGE_INNER" 2>/dev/null &
	XM_PIDS+=($!)
	if ! wait_port "$NS_R" tcp "$R_ADDR2" "$DEMO_PAGE_INNER" 5; then
		echo "xmasqd did not start: $(tail -n 3 "$XM_TMP/xmasqd.log")"
		return 1
	fi
}

# demo_page_print: where the page is and what to import
demo_page_print() {
	local d=$DEMO_PAGE_DIR
	cat <<EOF
   the page:           $DEMO_PAGE_URL   (xmasqd in the router's namespace; a socat relay on 127.0.0.1)
   import into the browser (once; kept for the next demo):
     client certificate  $d/client.p12   password $(cat "$d/client.p12.password")
                         (the same as PEM: $d/client.pem + $d/client.key)
     trusted CA          $d/ca.pem   (or accept the warning about the server's certificate)
   from another machine: ssh -L $DEMO_PAGE_PORT:127.0.0.1:$DEMO_PAGE_PORT root@THIS-HOST, then open the same URL
   without the certificate the TLS handshake itself is refused: that is the lock.
EOF
}

demo_page_wait() {
	[ -t 0 ] && [ -t 1 ] || return 0
	printf '\n   The page stays up until you press Enter (then everything is removed). '
	read -r _
}
