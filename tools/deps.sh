#!/bin/sh
# Installs xmasq's build and test dependencies from Debian's archive.
# --if-missing: do nothing when every needed command and header is present.
set -e
PKGS="clang clang-format llvm make gcc libc6-dev libbpf-dev libxdp-dev libelf-dev zlib1g-dev bpftool \
      iproute2 iptables nftables ethtool socat tcpdump python3 util-linux procps iputils-ping \
      qemu-system-x86 busybox-static cpio kmod gnuplot-nox iperf3 prometheus mandoc systemd \
      apache2-utils nginx-light"

missing() {
	for c in clang clang-format llc bpftool ip tc iptables nft ethtool socat tcpdump python3 nsenter ping qemu-system-x86_64 busybox cpio depmod promtool mandoc systemd-analyze ab nginx; do
		command -v "$c" >/dev/null 2>&1 || return 0
	done
	for h in /usr/include/bpf/libbpf.h /usr/include/xdp/libxdp.h /usr/include/gelf.h /usr/include/zlib.h; do
		[ -e "$h" ] || return 0
	done
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
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
echo "tools/deps.sh: dependencies installed"
