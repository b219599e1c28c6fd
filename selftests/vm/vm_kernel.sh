#!/bin/bash
# Boots Debian 12's own kernel (6.1) under QEMU and runs build/xmasq in
# it: the BPF programs must pass the 6.1 verifier and attach (native XDP on
# veth, tc), apply rules, report program ids and detach cleanly.  Then the C
# test programs (build/tests/test_*) run in the VM, a kernel booted moments
# before (uptime of seconds, not days), and 6.1's BPF_PROG_TEST_RUN; their
# TAP lines come out here renumbered, named "vm 6.1: test_ct: ...".
#
# The kernel package is fetched with `apt-get download` (never installed into
# the host's /boot) and cached in VM_CACHE, together with the few modules
# the test loads (veth, sch_ingress, cls_bpf and their dependencies): outside
# build/, so that `make clean` and a fresh clone (CI) do not download and
# unpack the same 70 MB package again (about 15 s of this suite).  The
# initramfs (busybox-static, build/xmasq, the C tests, iproute2's ip/tc,
# their libraries, selftests/vm/init.sh as /init) is rebuilt on every run.
#
# Needs: qemu-system-x86_64 (KVM when it can boot a stock kernel, else TCG
# emulation), busybox (static), dash, cpio, gzip, dpkg-deb,
# apt-get, depmod (kmod), python3, iproute2.  Missing tools or an unknown
# kernel package make it skip, not fail.
#
# Env: XMASQ=build/xmasq  VM_DIR=build/vm (work directories, console logs)
#      VM_CACHE=~/.cache/xmasq-vm (kernel packages; VM_DIR when that
#      cannot be created)  VM_TIMEOUT=600 (seconds)
#      VM_CTESTS="build/tests/test_ct ..." (default: every build/tests/test_*
#      but test_apply6, which loads the whole object (18 s under TCG, the
#      verifier's part already covered by test_bpf*) only to check what
#      apply writes into maps; empty: none)
#      VM_ACCEL=auto|kvm|tcg  VM_BOOT_DEADLINE=30 (seconds for KVM to reach init)
#      VM_APPEND="..." (more kernel arguments)  VM_KEEP=1 (keep build/vm/run.*)
#      VM_KERNEL_PKG=linux-image-6.1.0-NN-amd64 (default: what linux-image-amd64
#      depends on if that is 6.1, else the newest 6.1 image apt knows)
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XMASQ="${XMASQ:-$ROOT/build/xmasq}"
VM_DIR="${VM_DIR:-$ROOT/build/vm}"
VM_TIMEOUT="${VM_TIMEOUT:-600}"
VM_CTESTS="${VM_CTESTS-$(ls "$ROOT"/build/tests/test_* 2>/dev/null | grep -v '/test_apply6$')}"
INIT="$ROOT/selftests/vm/init.sh"
MODULES="veth sch_ingress cls_bpf"   # module names; built-in ones are skipped

# TAP: tap_ok, tap_not_ok, tap_skip, diag, tap_done of the tests' library
. "$ROOT/selftests/netns/lib.sh"
skip_all() {
	echo "ok 1 - xmasq on Debian's 6.1 kernel in a VM # SKIP $*"
	echo "1..1"
	exit 0
}
bail() { # a setup step that should have worked did not
	tap_not_ok "$1"
	shift
	[ $# -gt 0 ] && diag "$@"
	echo "1..$T_NUM"
	exit 1
}

WORK="" CTMP=""
cleanup() {
	[ -n "$WORK" ] && [ -z "${VM_KEEP:-}" ] && rm -rf "$WORK"
	[ -n "$CTMP" ] && rm -rf "$CTMP"
}
trap cleanup EXIT

# ---- prerequisites ------------------------------------------------------------
[ -x "$XMASQ" ] || skip_all "$XMASQ not built (make)"
[ -f "$INIT" ] || bail "selftests/vm/init.sh exists"
for c in qemu-system-x86_64 busybox dash cpio gzip dpkg-deb depmod python3 timeout; do
	command -v "$c" >/dev/null 2>&1 || skip_all "$c not installed"
done
mkdir -p "$VM_DIR" || bail "create $VM_DIR"
VM_CACHE="${VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/xmasq-vm}"
mkdir -p "$VM_CACHE" 2>/dev/null && [ -w "$VM_CACHE" ] || VM_CACHE=$VM_DIR
WORK=$(mktemp -d "$VM_DIR/run.XXXXXX") || bail "create a work directory under $VM_DIR"

# ---- kernel package -----------------------------------------------------------
KPKG="${VM_KERNEL_PKG:-}"
if [ -z "$KPKG" ] && command -v apt-cache >/dev/null 2>&1; then
	KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-6\.1\.[0-9]*-[0-9]*-amd64\)$/\1/p' | head -n1)
	[ -n "$KPKG" ] || KPKG=$(apt-cache search --names-only '^linux-image-6\.1\.[0-9]+-[0-9]+-amd64$' 2>/dev/null |
		awk '{print $1}' | sort -V | tail -n1)
fi
if [ -z "$KPKG" ]; then # no package lists: use the newest cached kernel
	KPKG=$(find "$VM_CACHE" -maxdepth 2 -name ready -path '*/linux-image-6.1*' 2>/dev/null |
		sed 's|.*/\(linux-image-[^/]*\)/ready$|\1|' | sort -V | tail -n1)
fi
[ -n "$KPKG" ] || skip_all "no linux-image-6.1 package known to apt (apt-get update?) and none cached in $VM_CACHE"
KDIR="$VM_CACHE/$KPKG"

# Cache layout: $VM_CACHE/<pkg>_<ver>_amd64.deb, and $KDIR/ with vmlinuz,
# config, version, modules/*.ko, modules.load (insmod order), ready.
# Other worktrees' runs share the cache: the package and the kernel
# directory are made in a private directory beside them and renamed into
# place whole (the first to finish wins; the others use its copy).
if [ ! -f "$KDIR/ready" ]; then
	CTMP=$(mktemp -d "$VM_CACHE/.tmp.XXXXXX") || bail "create a directory under $VM_CACHE"
	deb=$(ls "$VM_CACHE/${KPKG}"_*.deb 2>/dev/null | sort -V | tail -n1)
	if [ -z "$deb" ]; then
		command -v apt-get >/dev/null 2>&1 || skip_all "apt-get not available to download $KPKG"
		# apt's _apt sandbox user cannot write the work directory: apt says so and
		# downloads as root instead; that warning is noise here.
		if ! out=$(cd "$CTMP" && apt-get download -q "$KPKG" 2>&1); then
			skip_all "apt-get download $KPKG failed: $(printf '%s' "$out" | grep -E '^(E|W):' | grep -v unsandboxed | head -n2 | tr '\n' ' ')"
		fi
		f=$(ls "$CTMP/${KPKG}"_*.deb 2>/dev/null | head -n1)
		[ -n "$f" ] || skip_all "apt-get download $KPKG produced no .deb"
		mv "$f" "$VM_CACHE/" || bail "move $f into $VM_CACHE"
		deb="$VM_CACHE/$(basename "$f")"
	fi
	x="$CTMP/extract" NEW="$CTMP/kdir"
	mkdir -p "$x"
	dpkg-deb -x "$deb" "$x" || bail "dpkg-deb -x $(basename "$deb")" "remove it to download it again"
	kver=$(ls "$x/lib/modules" 2>/dev/null | head -n1)
	vmlinuz="$x/boot/vmlinuz-$kver"
	[ -n "$kver" ] && [ -f "$vmlinuz" ] || bail "$(basename "$deb") has boot/vmlinuz-* and lib/modules/*"
	mdir="$x/lib/modules/$kver"
	# The .deb has no modules.dep (its postinst runs depmod): make one.
	[ -f "$mdir/modules.dep" ] || depmod -b "$x" "$kver" || bail "depmod -b for $kver"
	mkdir -p "$NEW/modules"
	: >"$NEW/modules.load"
	for m in $MODULES; do
		line=$(grep -E "(^|/)$m\.ko(\.xz|\.zst|\.gz)?:" "$mdir/modules.dep" | head -n1)
		if [ -z "$line" ]; then
			grep -qE "(^|/)$m\.ko\$" "$mdir/modules.builtin" 2>/dev/null && continue
			bail "kernel $kver has module $m (built-in or loadable)"
		fi
		# modules.dep lists the closure of dependencies, the deepest last:
		# load them in reverse order, then the module itself.
		deps=$(printf '%s\n' "${line#*:}" | tr ' ' '\n' | sed '/^$/d' | tac)
		for p in $deps "${line%%:*}"; do
			name=$(basename "$p")
			name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
			grep -qx "$name" "$NEW/modules.load" && continue
			case "$p" in
			*.xz) xz -dc "$mdir/$p" >"$NEW/modules/$name" ;;
			*.zst) zstd -qdc "$mdir/$p" >"$NEW/modules/$name" ;;
			*.gz) gzip -dc "$mdir/$p" >"$NEW/modules/$name" ;;
			*) cp "$mdir/$p" "$NEW/modules/$name" ;;
			esac || bail "unpack module $p"
			echo "$name" >>"$NEW/modules.load"
		done
	done
	cp "$vmlinuz" "$NEW/vmlinuz" && cp "$x/boot/config-$kver" "$NEW/config" &&
		echo "$kver" >"$NEW/version" || bail "copy the kernel into $NEW"
	touch "$NEW/ready"
	# a directory left by a run that stopped half-way (no ready) goes
	[ -e "$KDIR" ] && [ ! -f "$KDIR/ready" ] && rm -rf "$KDIR"
	mv -T "$NEW" "$KDIR" 2>/dev/null || [ -f "$KDIR/ready" ] || bail "move the kernel into $KDIR"
	rm -rf "$CTMP"
	CTMP=""
fi
KVER=$(cat "$KDIR/version")

# ---- initramfs ----------------------------------------------------------------
S="$WORK/root"
mkdir -p "$S"/{bin,sbin,usr/bin,usr/sbin,lib/modules,lib64,dev,proc,sys,tmp,run,etc}

# copy_elf SRC DEST: the file plus every shared library ldd names (and the
# dynamic loader), each at the path the loader will look for it.
copy_elf() {
	cp -L "$1" "$S$2" || return 1
	local lib
	for lib in $(ldd "$1" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p'); do
		[ -e "$S$lib" ] && continue
		mkdir -p "$S$(dirname "$lib")"
		cp -L "$lib" "$S$lib" || return 1
	done
}
copy_elf "$(command -v busybox)" /bin/busybox || bail "copy busybox into the initramfs"
# The C tests run their commands with system(), that is /bin/sh -c: busybox's
# sh would run its own ip applet whatever PATH says, not iproute2's.
copy_elf "$(command -v dash)" /bin/sh || bail "copy dash into the initramfs as /bin/sh (apt-get install dash)"
copy_elf "$XMASQ" /usr/bin/xmasq || bail "copy $XMASQ and its libraries into the initramfs"
mkdir -p "$S/tests"
CTEST_NAMES=""
for t in $VM_CTESTS; do
	[ -x "$t" ] || continue
	copy_elf "$t" "/tests/$(basename "$t")" || bail "copy $t and its libraries into the initramfs"
	CTEST_NAMES="$CTEST_NAMES $(basename "$t")"
done
for t in ip tc; do
	p=$(command -v "$t" 2>/dev/null) && copy_elf "$p" "/usr/sbin/$t"
done
[ -x "$S/usr/sbin/ip" ] || bail "iproute2's ip found (apt-get install iproute2)"
# libxdp's multi-program dispatcher: an object file beside the library.
for lib in $(ldd "$XMASQ" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*libxdp[^ ]*\).*/\1/p'); do
	for d in "$(dirname "$lib")/bpf" "$(dirname "$(readlink -f "$lib")")/bpf"; do
		o="$d/xdp-dispatcher.o"
		[ -f "$o" ] && [ ! -e "$S$o" ] && mkdir -p "$S$d" && cp "$o" "$S$o"
	done
done
cp "$KDIR"/modules/*.ko "$S/lib/modules/" 2>/dev/null
cp "$KDIR/modules.load" "$S/modules.load"
cp "$INIT" "$S/init" && chmod 755 "$S/init" || bail "copy init.sh"
mknod -m 600 "$S/dev/console" c 5 1 2>/dev/null # needs root; init.sh copes without
INITRD="$WORK/initrd.gz"
(cd "$S" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet | gzip -1 >"$INITRD") ||
	bail "build the initramfs (cpio | gzip)"

# ---- boot ---------------------------------------------------------------------
# Accelerator: KVM when /dev/kvm is usable, else QEMU's TCG emulation (the
# kernel boots in seconds either way).  Some hosts' KVM cannot run an ordinary
# guest kernel: PVM ("kvm_pvm", nested KVM that runs only PVM-enabled guests)
# hangs right after the kernel's decompressor.  Such a host gets TCG, and so
# does any KVM boot that has not reached init within VM_BOOT_DEADLINE seconds.
VM_ACCEL="${VM_ACCEL:-auto}"
VM_BOOT_DEADLINE="${VM_BOOT_DEADLINE:-30}"
accel_note=""
if [ "$VM_ACCEL" = auto ]; then
	if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		VM_ACCEL=tcg; accel_note="no usable /dev/kvm"
	elif [ -d /sys/module/kvm_pvm ]; then
		VM_ACCEL=tcg; accel_note="host KVM is PVM (kvm_pvm), which boots no stock kernel"
	else
		VM_ACCEL=kvm
	fi
fi
LOG="$VM_DIR/console-$KVER.log"

# boot ACCEL: run the VM, console into $LOG; sets qrc (qemu's status, 124 on
# timeout, 125 when killed for not reaching init by the boot deadline)
boot() {
	local accel=$1 raw="$WORK/console.raw" pid t=0
	local opts=(-accel tcg)
	[ "$accel" = kvm ] && opts=(-enable-kvm)
	: >"$raw"
	timeout --kill-after=5 "$VM_TIMEOUT" qemu-system-x86_64 "${opts[@]}" -m 1024 -smp 2 \
		-nographic -no-reboot -net none \
		-kernel "$KDIR/vmlinuz" -initrd "$INITRD" \
		-append "console=ttyS0 panic=-1 quiet ${VM_APPEND:-}" </dev/null >"$raw" 2>&1 &
	pid=$!
	qrc=""
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$accel" = kvm ] && [ "$t" -ge $((VM_BOOT_DEADLINE * 2)) ] && ! grep -q 'XMASQ-KERNEL' "$raw"; then
			kill "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			qrc=125
			break
		fi
		sleep 0.5
		t=$((t + 1))
	done
	if [ -z "$qrc" ]; then
		wait "$pid"
		qrc=$?
	fi
	# no CRs, no terminal escapes (SeaBIOS clears the screen)
	tr -d '\r' <"$raw" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1b[A-Za-z]//g' >"$LOG"
}

start=$(date +%s)
boot "$VM_ACCEL"
if [ "$qrc" = 125 ]; then
	cp "$LOG" "$VM_DIR/console-$KVER-kvm.log"
	accel_note="KVM boot did not reach init in ${VM_BOOT_DEADLINE}s (see console-$KVER-kvm.log)"
	VM_ACCEL=tcg
	boot tcg
fi
secs=$(($(date +%s) - start))
ACCEL_DESC="$VM_ACCEL${accel_note:+ ($accel_note)}"

# section STEP: the console lines of one init.sh step
section() { sed -n "/^XMASQ-BEGIN $1\$/,/^XMASQ-END $1 rc=/p" "$LOG" | sed '1d;$d'; }
step_rc() { sed -n "s/^XMASQ-END $1 rc=\([0-9]*\)\$/\1/p" "$LOG" | tail -n1; }
# show LINES...: diagnostics, long outputs (verifier logs) cut in the middle
show() {
	local n
	n=$(printf '%s\n' "$1" | wc -l)
	if [ "$n" -le 120 ]; then
		diag "$1"
	else
		diag "$(printf '%s\n' "$1" | head -n 60)" "... ($((n - 120)) lines omitted, full log: $LOG) ..." \
			"$(printf '%s\n' "$1" | tail -n 60)"
	fi
}

# 1: boot
kline=$(sed -n 's/.*XMASQ-KERNEL //p' "$LOG" | head -n1)
if [ "$kline" = "$KVER" ]; then
	tap_ok "kernel $KVER ($KPKG) boots in QEMU and runs init (${secs}s, $VM_ACCEL)"
	[ -n "$accel_note" ] && diag "accelerator: $ACCEL_DESC"
else
	tap_not_ok "kernel $KVER ($KPKG) boots in QEMU and runs init"
	diag "accelerator: $ACCEL_DESC"
	diag "qemu exit status $qrc after ${secs}s (124: timeout ${VM_TIMEOUT}s); console ($LOG):"
	show "$(tail -n 60 "$LOG")"
	echo "1..$T_NUM"
	exit 1
fi
if [ "$(step_rc modules)" != 0 ]; then
	diag "loading modules failed:" "$(section modules)"
fi

# check_step STEP DESC: ok when the step ran and returned 0
check_step() {
	local rc
	rc=$(step_rc "$1")
	if [ "$rc" = 0 ]; then
		tap_ok "$2"
		return 0
	fi
	tap_not_ok "$2"
	if [ -z "$rc" ]; then
		diag "step '$1' did not finish (qemu status $qrc, ${secs}s); end of console ($LOG):"
		show "$(tail -n 40 "$LOG")"
	else
		diag "step '$1' exited with $rc; its output:"
		show "$(section "$1")"
	fi
	return 1
}

[ "$(step_rc net)" = 0 ] || { diag "creating the veth pair failed:" "$(section net)"; }
check_step attach-xdp "xmasq attach xa (native XDP + tc) on $KVER: the verifier accepts both programs"
check_step attach-tc "xmasq attach --mode tc xb on $KVER"
# libbpf warnings printed during a load that still succeeded (feature probes
# falling back, CO-RE relocations...) are worth seeing too.
w=$( (section attach-xdp; section attach-tc) | grep -i 'libbpf' | sort -u | head -n 20)
[ -n "$w" ] && diag "libbpf said during attach on $KVER:" "$w"
check_step apply "xmasq apply (forward xa tcp 8080 to 198.18.0.2:80)"

# status: program ids as the kernel reports them
if [ "$(step_rc status)" = 0 ]; then
	st=$(section status)
	if why=$(printf '%s\n' "$st" | python3 "$ROOT/selftests/netns/py/vm_status.py" 2>&1); then
		tap_ok "status --json: xa mode xdp with xdp_prog_id and tc_prog_id non-zero, xb mode tc"
	else
		tap_not_ok "status --json: xa mode xdp with xdp_prog_id and tc_prog_id non-zero, xb mode tc"
		diag "$why" "status --json:" "$st"
	fi
else
	check_step status "status --json: xa mode xdp with xdp_prog_id and tc_prog_id non-zero, xb mode tc"
fi

if [ "$(step_rc stats)" = 0 ] && ! section stats | python3 -c 'import json,sys; json.loads(sys.stdin.read())' 2>/dev/null; then
	tap_not_ok "stats --json prints valid JSON"
	diag "$(section stats)"
else
	check_step stats "stats --json prints valid JSON"
fi

left=$(sed -n 's/^XMASQ-POSTDETACH left=//p' "$LOG" | tail -n1)
if [ "$(step_rc detach)" = 0 ] && [ "$left" = 0 ]; then
	tap_ok "detach --all: no XDP, no tc filter, no pins left"
else
	tap_not_ok "detach --all: no XDP, no tc filter, no pins left"
	diag "detach exit status: $(step_rc detach)" "$(section detach)"
	diag "$(sed -n '/^XMASQ-END detach rc=/,/^XMASQ-POSTDETACH/p' "$LOG")"
fi

# ---- the C tests, run in the VM -------------------------------------------------
KSHORT=$(printf '%s' "$KVER" | cut -d. -f1,2)
# relay_ctest NAME: NAME's TAP lines from the console, renumbered into this
# script's and named "vm 6.1: NAME: ..."; its diagnostics pass as they are,
# other output (a stray kernel message) as diagnostics
relay_ctest() {
	local name=$1 rc up line failed=0 label="vm $KSHORT: $1"
	up=$(sed -n "s/^XMASQ-UPTIME ctest-$name //p" "$LOG" | tail -n1)
	if [ -z "$up" ]; then
		tap_not_ok "$label ran in the VM"
		diag "it never started (qemu status $qrc after ${secs}s, VM_TIMEOUT=${VM_TIMEOUT}s); end of console ($LOG):"
		show "$(tail -n 20 "$LOG")"
		return
	fi
	diag "$label: started at uptime ${up}s"
	while IFS= read -r line; do
		if [[ "$line" =~ ^ok\ [0-9]+(\ -)?\ ?(.*)$ ]]; then
			tap_ok "$label: ${BASH_REMATCH[2]}"
		elif [[ "$line" =~ ^not\ ok\ [0-9]+(\ -)?\ ?(.*)$ ]]; then
			tap_not_ok "$label: ${BASH_REMATCH[2]}"
			failed=1
		elif [[ "$line" =~ ^1\.\.0\ *#\ *[Ss][Kk][Ii][Pp]\ *(.*)$ ]]; then
			tap_skip "$label" "${BASH_REMATCH[1]}"
		elif [[ "$line" =~ ^1\.\.[0-9]+ ]]; then
			: # its plan: this script prints its own
		elif [[ "$line" == "#"* ]]; then
			printf '%s\n' "$line"
		else
			diag "$line"
		fi
	done < <(section "ctest-$name")
	rc=$(step_rc "ctest-$name")
	if [ -z "$rc" ]; then
		tap_not_ok "$label ran to its end"
		diag "it did not finish (qemu status $qrc after ${secs}s, VM_TIMEOUT=${VM_TIMEOUT}s); end of console ($LOG):"
		show "$(tail -n 20 "$LOG")"
	elif [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
		tap_not_ok "$label exited with status $rc"
	fi
}
for name in $CTEST_NAMES; do
	relay_ctest "$name"
done

if ! grep -q '^XMASQ-DONE' "$LOG"; then
	diag "init.sh did not finish (qemu status $qrc after ${secs}s)"
fi
diag "kernel $KPKG $KVER, accelerator $VM_ACCEL, VM ran ${secs}s, console log: $LOG"
tap_done
