#!/bin/busybox sh
# /init of the initramfs that selftests/vm/vm_kernel.sh boots under QEMU.
#
# Loads the modules listed in /modules.load, builds a veth pair, runs xmasq
# attach / apply / status / stats / detach on it, then every C test program
# in /tests (their TAP output, minutes after boot: a kernel this young is
# what "uptime of a few seconds" means), and prints everything to the serial
# console between markers the host side parses:
#
#   XMASQ-KERNEL <uname -r>
#   XMASQ-BEGIN <step>   ... output of the step ...   XMASQ-END <step> rc=<N>
#   XMASQ-RESULT attach_xdp=N attach_tc=N apply=N status=N stats=N detach=N
#   XMASQ-UPTIME <step> <seconds>      (before each C test)
#   XMASQ-DONE
#
# Then it powers the VM off (QEMU runs with -no-reboot, so a panic ends it too).

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# The initramfs may lack a /dev/console node (built without root): reopen it.
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo 1 >/proc/sys/kernel/printk 2>/dev/null

echo
echo "XMASQ-KERNEL $(uname -r)"

end() {
	sync
	poweroff -f
	echo o >/proc/sysrq-trigger
	sleep 5
}

# step NAME CMD...: the command's output between markers, returns its status
step() {
	name=$1
	shift
	echo "XMASQ-BEGIN $name"
	"$@"
	rc=$?
	echo "XMASQ-END $name rc=$rc"
	return $rc
}

mods() {
	[ -f /modules.load ] || return 0
	rc=0
	while read -r m; do
		[ -n "$m" ] || continue
		insmod "/lib/modules/$m" || { echo "insmod $m failed"; rc=1; }
	done </modules.load
	return $rc
}

net() {
	set -e
	/usr/sbin/ip link set lo up
	/usr/sbin/ip link add xa type veth peer name xb
	/usr/sbin/ip addr add 192.0.2.1/24 dev xa
	/usr/sbin/ip addr add 198.18.0.1/24 dev xb
	/usr/sbin/ip link set xa up
	/usr/sbin/ip link set xb up
	set +e
	/usr/sbin/ip -br addr
}

step modules mods
# xmasq on the veth pair: attach, apply, status, stats, detach
xmasq_steps() {
	printf 'forward xa tcp 8080 to 198.18.0.2:80\n' >/tmp/rules.conf

	step attach-xdp /usr/bin/xmasq attach --mode xdp xa
	r_attach_xdp=$?
	step attach-tc /usr/bin/xmasq attach --mode tc xb
	r_attach_tc=$?
	step apply /usr/bin/xmasq apply /tmp/rules.conf
	r_apply=$?
	step status /usr/bin/xmasq status --json
	r_status=$?
	step stats /usr/bin/xmasq stats --json
	r_stats=$?
	# For diagnostics: what the kernel itself says is attached.
	step ip-link /usr/sbin/ip -d link show xa
	step tc-filters sh -c '/usr/sbin/tc filter show dev xa ingress; /usr/sbin/tc filter show dev xb ingress'
	step detach /usr/bin/xmasq detach --all
	r_detach=$?
	# After detach: nothing attached, no pins left.
	left=0
	/usr/sbin/ip link show xa | grep -q ' xdp' && { echo "xa still has XDP"; left=1; }
	for d in xa xb; do
		[ -n "$(/usr/sbin/tc filter show dev $d ingress 2>/dev/null)" ] && { echo "$d still has a tc filter"; left=1; }
	done
	[ -e /sys/fs/bpf/xmasq ] && { echo "pins left:"; ls /sys/fs/bpf/xmasq; left=1; }
	echo "XMASQ-POSTDETACH left=$left"

	echo "XMASQ-RESULT attach_xdp=$r_attach_xdp attach_tc=$r_attach_tc apply=$r_apply status=$r_status stats=$r_stats detach=$r_detach"
}

if step net net; then
	xmasq_steps
else
	echo "XMASQ-RESULT net=1"
fi

# The C tests: each enters its own network namespace, so the veth pair
# above does not matter to them.
for t in /tests/test_*; do
	[ -x "$t" ] || continue
	echo "XMASQ-UPTIME ctest-${t##*/} $(cut -d' ' -f1 /proc/uptime)"
	step "ctest-${t##*/}" "$t"
done
echo "XMASQ-DONE"
end
