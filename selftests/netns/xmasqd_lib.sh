# shellcheck shell=bash
# selftests/netns/xmasqd_lib.sh — what the xmasqd suites share (source it
# after lib.sh): certificates made with the openssl CLI, the daemon started
# in the router's namespace, curl with a client certificate.
#
#   xmasqd_certs DIR   DIR/ca.pem (+ ca.key), server.pem/.key (router.test,
#                      127.0.0.1), client.pem/.key (clientAuth, CN=operator),
#                      client2 (clientAuth, CN=second operator), other
#                      (clientAuth, another CA), srvonly (serverAuth only),
#                      expired (clientAuth, expired in 2020), allow.txt (the
#                      SHA-256 of client's public key, for --allow-keys);
#                      spki_sha256 CERT prints such a hash
#   xmasqd_bg NS ARGS...   build/xmasqd in NS, in its own mount namespace
#                      (so a test can remount a directory read-only for it
#                      alone), registered; XMD_PID its pid; its output in
#                      $XMD_LOG.out and $XMD_LOG.err
#   xmasqd_curl NS PORT CERT ARGS...   curl https://router.test:PORT in NS
#                      (resolved to 127.0.0.1) trusting ca.pem, presenting
#                      CERT (none: no client certificate)

XMASQD="${XMASQD:-$XM_ROOT/build/xmasqd}"

spki_sha256() {
	openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}

xmasqd_certs() {
	local d=$1 ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
	mkdir -p "$d/cadb" || return 1
	# shellcheck disable=SC2086
	openssl req -x509 $ec -keyout "$d/ca.key" -out "$d/ca.pem" -days 30 -subj "/CN=xmasq test CA" 2>/dev/null &&
		openssl req -x509 $ec -keyout "$d/ca2.key" -out "$d/ca2.pem" -days 30 -subj "/CN=another CA" 2>/dev/null || return 1
	# leaf NAME CA EKU CN [SAN]
	leaf() {
		# shellcheck disable=SC2086
		openssl req $ec -keyout "$d/$1.key" -out "$d/$1.csr" -subj "/CN=$4" 2>/dev/null &&
			printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=%s\n%s\n' "$3" "${5:+subjectAltName=$5}" >"$d/$1.ext" &&
			openssl x509 -req -in "$d/$1.csr" -CA "$d/$2.pem" -CAkey "$d/$2.key" -CAcreateserial \
				-days 30 -out "$d/$1.pem" -extfile "$d/$1.ext" 2>/dev/null
	}
	leaf server ca serverAuth router.test "DNS:router.test,IP:127.0.0.1" &&
		leaf client ca clientAuth operator &&
		leaf client2 ca clientAuth "second operator" &&
		leaf other ca2 clientAuth intruder &&
		leaf srvonly ca serverAuth server-only || return 1
	# Expired: this openssl (3.0) has no x509 -not_after; `openssl ca`
	# takes any dates.
	: >"$d/cadb/index.txt"
	echo 01 >"$d/cadb/serial"
	cat >"$d/ca.cnf" <<EOC
[ ca ]
default_ca = tca
[ tca ]
dir = $d/cadb
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = pol
[ pol ]
commonName = supplied
[ cli ]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
EOC
	# shellcheck disable=SC2086
	openssl req $ec -keyout "$d/expired.key" -out "$d/expired.csr" -subj "/CN=expired" 2>/dev/null &&
		openssl ca -batch -config "$d/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" -in "$d/expired.csr" \
			-out "$d/expired.pem" -startdate 20200101000000Z -enddate 20200201000000Z -extensions cli \
			-notext >/dev/null 2>&1 || return 1
	{ echo "# the operator's key"; spki_sha256 "$d/client.pem"; } >"$d/allow.txt"
}

xmasqd_bg() {
	local ns=$1
	shift
	XMD_N=$((${XMD_N:-0} + 1))
	XMD_LOG="$XM_TMP/xmasqd-$XMD_N"
	unshare -m --propagation private nsenter --net="/run/netns/$ns" "$XMASQD" "$@" \
		>"$XMD_LOG.out" 2>"$XMD_LOG.err" &
	XMD_PID=$!
	XM_PIDS+=("$XMD_PID")
}

xmasqd_curl() {
	local ns=$1 port=$2 cert=$3
	shift 3
	local c=()
	[ "$cert" != none ] && c=(--cert "$XMD_CERTS/$cert.pem" --key "$XMD_CERTS/$cert.key")
	timeout 30 nsenter --net="/run/netns/$ns" curl -sS --cacert "$XMD_CERTS/ca.pem" \
		--resolve "router.test:$port:127.0.0.1" "${c[@]}" "$@"
}
