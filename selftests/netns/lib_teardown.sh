# shellcheck shell=bash
# teardown_sets PINS PIDS NETNS: undoes what a suite created, given the names
# of its three arrays: PINS ("NS DIR" xmasq pin directories: detach --all in
# NS, then the directory goes if it is one of ours), PIDS (background
# processes: killed and reaped) and NETNS (namespaces: whatever still runs
# inside is ours and is killed, then they are deleted). Empties the arrays.
# Sourced by lib.sh and lib_ct.sh.
teardown_sets() {
	local -n td_pins=$1 td_pids=$2 td_netns=$3
	local p ns pin
	for pin in "${td_pins[@]}"; do
		ns=${pin%% *}
		p=${pin#* }
		if [ -e "/run/netns/$ns" ] && [ -x "$XMASQ" ]; then
			timeout 30 nsenter --net="/run/netns/$ns" "$XMASQ" --pin-dir "$p" detach --all >/dev/null 2>&1
		fi
		case "$p" in /sys/fs/bpf/xmasq-*) rm -rf "$p" ;; esac
	done
	for p in "${td_pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for ns in "${td_netns[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill "$p" 2>/dev/null
		done
	done
	for p in "${td_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	for ns in "${td_netns[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	td_pins=() td_pids=() td_netns=()
	return 0
}
