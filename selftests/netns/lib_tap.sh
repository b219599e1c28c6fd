# shellcheck shell=bash
# TAP output shared by the shell suites (sourced by lib.sh and lib_ct.sh):
# numbered ok / not ok lines, diagnostics as "# " lines, and tap_done to
# print the plan and turn failures into the exit status.
T_NUM=0
T_FAILED=0

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

tap_ok() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - $*"; }

tap_not_ok() { T_NUM=$((T_NUM + 1)); T_FAILED=$((T_FAILED + 1)); echo "not ok $T_NUM - $*"; }

tap_skip() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - $1 # SKIP ${2:-}"; }

# tap_result RC DESC [DIAG...]: ok when RC is 0, else not ok plus diagnostics
tap_result() {
	local rc=$1 desc=$2
	shift 2
	if [ "$rc" -eq 0 ]; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc"
		[ $# -gt 0 ] && diag "$@"
	fi
	return "$rc"
}

tap_done() {
	echo "1..$T_NUM"
	[ "$T_FAILED" -eq 0 ]
}
