#!/bin/sh
# Installs xmasq's build and test dependencies from Debian's archive.
# --if-missing: do nothing when every needed command and header is present.
set -e
PKGS="clang clang-format llvm libclang-rt-dev make gcc libc6-dev libbpf-dev libxdp-dev libelf-dev zlib1g-dev bpftool \
      iproute2 iptables nftables ethtool socat tcpdump python3 util-linux procps iputils-ping \
      qemu-system-x86 busybox-static cpio kmod gnuplot-nox iperf3 prometheus mandoc systemd linux-perf \
      apache2-utils nginx-light coturn libmnl-dev libmicrohttpd-dev libgnutls28-dev libjansson-dev libcurl4-gnutls-dev curl openssl \
      etcd-server etcd-client \
      chromium nodejs"
# The page's browser test: Debian's chromium driven by playwright-core, which
# npm installs into tools/browser/node_modules (pinned by its package-lock.json).
BROWSER_DIR="$(cd "$(dirname "$0")" && pwd)/browser"

missing() {
	for c in clang clang-format llc bpftool ip tc iptables nft ethtool socat tcpdump python3 nsenter ping qemu-system-x86_64 busybox cpio depmod promtool mandoc systemd-analyze perf ab nginx turnserver turnutils_natdiscovery curl openssl chromium node npm etcd etcdctl; do
		command -v "$c" >/dev/null 2>&1 || return 0
	done
	for h in /usr/include/bpf/libbpf.h /usr/include/xdp/libxdp.h /usr/include/gelf.h /usr/include/zlib.h \
		/usr/include/libmnl/libmnl.h /usr/include/microhttpd.h /usr/include/gnutls/gnutls.h /usr/include/jansson.h \
		"/usr/include/$(uname -m)-linux-gnu/curl/curl.h"; do
		[ -e "$h" ] || return 0
	done
	# libFuzzer (make fuzz), from libclang-rt-dev
	[ -e "$(clang --print-runtime-dir 2>/dev/null)/libclang_rt.fuzzer-$(uname -m).a" ] || return 0
	[ -e "$BROWSER_DIR/node_modules/playwright-core/package.json" ] || return 0
	return 1
}

if [ "$1" = "--if-missing" ] && ! missing; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "tools/deps.sh: installing packages needs root (run as root, or install: $PKGS)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# nginx, prometheus, coturn and etcd-server are installed for their programs (the tests
# start nginx, turnserver and etcd members in their own namespaces; promtool checks
# metrics), not as services:
# started on the host they would listen there. Daemons this run installs
# are not started (policy-rc.d), and left disabled under systemd.
new_daemons=""
for d in nginx:nginx prometheus:prometheus turnserver:coturn etcd:etcd; do # program:service
	command -v "${d%%:*}" >/dev/null 2>&1 || new_daemons="$new_daemons ${d#*:}"
done
own_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 0755 /usr/sbin/policy-rc.d
	own_policy=1
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
# npm comes with some builds of nodejs (NodeSource's); Debian's is a package of its own
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
(cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error) >/dev/null
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	for d in $new_daemons; do
		systemctl disable --now "$d" >/dev/null 2>&1 || true
	done
fi
[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
echo "tools/deps.sh: dependencies installed"
