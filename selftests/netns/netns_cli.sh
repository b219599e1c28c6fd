#!/bin/bash
# The xmasq command line as an operator uses it, in network namespaces:
#
#   client C 192.0.2.2 ── eth0 192.0.2.1  router R  eth1 198.18.0.1 ── backend B 198.18.0.2
#                        (default via R)                             (no route back)
#
#  - every command's --help exits 0 and lists exactly its options, an
#    unknown option or command exits 2 naming it, a runtime failure exits
#    1; -v shows libbpf's messages;
#  - attach --rules: a wrong rules file attaches nothing (exit 2); a good
#    one attaches and applies in one go;
#  - real TCP and UDP traffic through the router, then
#    stats --prometheus passes `promtool check metrics` (or, without
#    promtool, the strict checker py/promcheck.py) with non-zero values for the rule
#    used; stats --json parses; stats --watch 1 refreshes and shows rates;
#  - make install DESTDIR=...: binary, man page (mandoc -T lint, else groff
#    warnings), systemd unit (systemd-analyze verify), /etc files never
#    overwritten, the example rules file valid; make uninstall.
#
# Everything lives in namespaces and a pin directory named with $$, removed
# by the EXIT trap. TAP output; exit 1 when a check fails.
# Env: XMASQ=build/xmasq  PROMTOOL=promtool (empty: skip it)
. "$(dirname "$0")/lib.sh"
xm_init tc
need_xmasq
ensure_bpffs || exit 1
PROMTOOL=${PROMTOOL-promtool}
# the names this suite's checks use for the library's
ROOT=$XM_ROOT PY=$XM_PY TMP=$XM_TMP
ok() { tap_ok "$@"; }
not_ok() { tap_not_ok "$1"; shift; [ $# -gt 0 ] && diag "$@"; }
skip() { tap_skip "$@"; }
result() { tap_result "$@"; }

NS_R="xmcli-r-$$"
NS_C="xmcli-c-$$"
NS_B="xmcli-b-$$"
PIN="/sys/fs/bpf/xmasq-cli-$$"
PIN_NONE="/sys/fs/bpf/xmasq-cli-$$-none" # never attached: "no router here"
XM_PIN=$PIN # lib.sh's xm
XM_PINS+=("$NS_R $PIN" "$NS_R $PIN_NONE")
R0=192.0.2.1 C=192.0.2.2 R1=198.18.0.1 B=198.18.0.2

xm_none() { timeout 30 nsenter --net="/run/netns/$NS_R" "$XMASQ" --pin-dir "$PIN_NONE" "$@"; }

# ---- topology -------------------------------------------------------------
cli_topo_up() {
	ns_add "$NS_R" "$NS_C" "$NS_B" || return 1
	ip -n "$NS_R" link add eth0 type veth peer name eth0 netns "$NS_C" || return 1
	ip -n "$NS_R" link add eth1 type veth peer name eth0 netns "$NS_B" || return 1
	ip -n "$NS_R" addr add $R0/24 dev eth0 && ip -n "$NS_R" addr add $R1/24 dev eth1 &&
		ip -n "$NS_C" addr add $C/24 dev eth0 && ip -n "$NS_B" addr add $B/24 dev eth0 || return 1
	ip -n "$NS_R" link set eth0 up && ip -n "$NS_R" link set eth1 up &&
		ip -n "$NS_C" link set eth0 up && ip -n "$NS_B" link set eth0 up || return 1
	ip -n "$NS_C" route add default via $R0 || return 1
}

if ! cli_topo_up; then
	echo "Bail out! cannot build the namespace topology"
	exit 1
fi
nsx "$NS_B" "$PY" "$XM_DATA/cli_peer.py" serve $B "$TMP/ready" >"$TMP/backend.log" 2>&1 &
XM_PIDS+=("$!")
for _ in $(seq 50); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
if [ ! -e "$TMP/ready" ]; then
	echo "Bail out! the backend did not start: $(cat "$TMP/backend.log")"
	exit 1
fi

# ---- 1. --help and unknown options -------------------------------------------
rc=0 bad=""
for cmd in "" attach detach apply status stats conntrack follow; do
	# shellcheck disable=SC2086
	xm $cmd --help >/dev/null 2>&1 || { rc=1; bad="$bad '$cmd --help'"; }
	# shellcheck disable=SC2086
	xm $cmd --no-such-option >/dev/null 2>&1
	[ $? -eq 2 ] || { rc=1; bad="$bad '$cmd --no-such-option'"; }
done
result $rc "--help of xmasq and of every command exits 0, an unknown option exits 2" "wrong:$bad"

rc=0 bad=""
for args in "stats --watch 0" "stats --watch x" "stats --json --prometheus" "stats --prometheus --watch 1" \
	"attach --rules" "attach --mode foo eth0" "stats extra"; do
	# shellcheck disable=SC2086
	xm $args >/dev/null 2>&1
	[ $? -eq 2 ] || { rc=1; bad="$bad '$args'"; }
done
result $rc "bad option values (--watch 0, --json with --prometheus, ...) exit 2" "not 2:$bad"

# help_options TEXT: the options a --help text lists, one a line ("-m --mode")
help_options() { sed -nE 's/^(  -[a-z], |      )(--[a-z-]+).*/\1\2/p' <<<"$1" | tr -d ',' | sed 's/^ *//'; }
# Every command's --help lists exactly the options of its table (the ones
# scripts rely on: none may go), `xmasq help CMD` prints the same, and the
# command accepts each option it lists.
declare -A OPTS=(
	[attach]="-m --mode|--fresh|--migrate|--rules|-h --help"
	[detach]="--all|-h --help"
	[apply]="--check|--diff|--reset-flows|--network|--site|-h --help"
	[status]="--json|-h --help"
	[stats]="--json|--prometheus|--watch|-h --help"
	[conntrack]="--json|-h --help"
	[follow]="--once|-h --help"
	[sites]="--site|-h --help"
	[publish]="--etcd|--ruleset|--if-revision|--wait|--network|--timeout|-h --help"
)
rc=0 bad=""
for cmd in attach detach apply status stats conntrack follow sites publish; do
	h=$(xm "$cmd" --help 2>&1)
	got=$(help_options "$h" | paste -sd '|')
	[ "$got" = "${OPTS[$cmd]}" ] || { rc=1; bad="$bad $cmd:[$got]"; }
	[ "$(xm help "$cmd" 2>&1)" = "$h" ] || { rc=1; bad="$bad 'help $cmd' differs"; }
	grep -q "^usage: xmasq .*$cmd" <<<"$h" || { rc=1; bad="$bad $cmd:no-usage-line"; }
	for o in $(help_options "$h" | awk '{ print $NF }'); do
		[ "$o" = --help ] && continue
		# against the pin dir with no router, no interface named: harmless
		e=$(xm_none "$cmd" "$o" x 2>&1)
		grep -q "unknown option\|ambiguous option\|takes no argument" <<<"$e" &&
			{ rc=1; bad="$bad '$cmd $o' refused: $e"; }
	done
done
h=$(xm --help 2>&1)
got=$(help_options "$h" | paste -sd '|')
[ "$got" = "--pin-dir|-v --verbose|-h --help" ] || { rc=1; bad="$bad global:[$got]"; }
cmds=$(sed -n '/^commands:/,/^$/p' <<<"$h" | awk '/^  [a-z]/ { print $1 }' | paste -sd ' ')
[ "$cmds" = "attach detach apply status stats conntrack follow sites publish" ] || { rc=1; bad="$bad commands:[$cmds]"; }
result $rc "every command's --help (and xmasq help CMD) lists exactly its table's options, each accepted" \
	"wrong:$bad"

# An unknown option or command: exit 2, a message that names it and points
# to the right --help.
rc=0 bad=""
for cmd in attach detach apply status stats conntrack follow publish; do
	e=$(xm "$cmd" --no-such-option 2>&1 >/dev/null)
	r=$?
	[ $r -eq 2 ] && grep -q "^xmasq: $cmd: unknown option '--no-such-option' (see xmasq $cmd --help)$" <<<"$e" ||
		{ rc=1; bad="$bad [$cmd: exit $r: $e]"; }
done
for args in "--no-such-option status" "no-such-command" "help no-such-command"; do
	# shellcheck disable=SC2086
	e=$(xm $args 2>&1 >/dev/null)
	r=$?
	w=${args%% status}
	w=${w##help }
	[ $r -eq 2 ] && grep -q -- "'$w'.*(see xmasq --help)$" <<<"$e" || { rc=1; bad="$bad [$args: exit $r: $e]"; }
done
e=$(xm attach --m eth0 2>&1)
r=$?
[ $r -eq 2 ] && grep -q -- "ambiguous option '--m': --mode or --migrate" <<<"$e" || { rc=1; bad="$bad [attach --m: exit $r: $e]"; }
e=$(xm attach --rules 2>&1)
r=$?
[ $r -eq 2 ] && grep -q -- "option '--rules' needs an argument (FILE)" <<<"$e" || { rc=1; bad="$bad [attach --rules: exit $r: $e]"; }
result $rc "an unknown option or command exits 2 naming it and pointing to its --help" "wrong:$bad"

# A runtime failure (no router at the pin dir) exits 1 and says where.
rc=0 bad=""
for args in "status" "stats --json" "conntrack count" "detach --all" "apply --diff $ROOT/etc/rules.conf.example"; do
	# shellcheck disable=SC2086
	e=$(xm_none $args 2>&1 >/dev/null)
	r=$?
	[ $r -eq 1 ] && grep -q "$PIN_NONE" <<<"$e" || { rc=1; bad="$bad [$args: exit $r: $e]"; }
done
result $rc "a runtime failure (no router at the pin dir) exits 1 and names the pin dir" "wrong:$bad"

# ---- 2. attach --rules ---------------------------------------------------------
# nothing_attached: no XDP or tc program on the router's NICs, no pins
nothing_attached() {
	! ip -n "$NS_R" -d link show eth0 | grep -q 'prog/xdp' &&
		! ip -n "$NS_R" -d link show eth1 | grep -q 'prog/xdp' &&
		[ -z "$(nsx "$NS_R" tc filter show dev eth0 ingress 2>/dev/null)" ] &&
		[ ! -e "$PIN/config" ]
}
# attach_refused CONF WANT CHECK NIC...: `xmasq attach --rules CONF NIC...`
# exits 2, its message matching WANT (grep), and nothing is attached
attach_refused() {
	local conf=$1 want=$2 check=$3 out rc r=0
	shift 3
	out=$(xm attach --rules "$conf" "$@" 2>&1)
	rc=$?
	[ $rc -eq 2 ] && grep -q "$want" <<<"$out" && nothing_attached || r=1
	result $r "$check" "exit $rc: $out"
}
printf 'forward eth0 tcp 8080 to %s:80\nforward eth0 tcp 80x to %s:80\n' $B $B >"$TMP/bad-grammar.conf"
attach_refused "$TMP/bad-grammar.conf" "bad-grammar.conf:2:" \
	"attach --rules with a grammar error: exit 2, FILE:LINE:COL message, nothing attached" eth0 eth1
printf 'forward eth0 tcp 8080 to %s:80\nforward eth1 tcp 8081 to %s:80\n' $B $B >"$TMP/unnamed-if.conf"
attach_refused "$TMP/unnamed-if.conf" "unnamed-if.conf:2:.*eth1" \
	"attach --rules naming an interface not being attached: exit 2, nothing attached" eth0
printf 'forward eth9 tcp 8080 to %s:80\n' $B >"$TMP/no-such-if.conf"
attach_refused "$TMP/no-such-if.conf" "eth9" \
	"attach --rules naming an interface that does not exist: exit 2, nothing attached" eth0 eth1

RULES="$TMP/rules.conf"
printf '# test rules\nforward eth0 tcp 8080 to %s:80\nforward eth0 udp 5000 to %s:5000\n' $B $B >"$RULES"
out=$(xm attach --mode xdp --rules "$RULES" eth0 eth1 2>&1)
rc=$?
st=$(xm status --json 2>&1)
r=0
[ $rc -eq 0 ] && grep -q "^applied: +2 " <<<"$out" &&
	[ "$("$PY" -c 'import json,sys; d=json.load(sys.stdin); print(len(d["interfaces"]), d["rules"])' <<<"$st" 2>/dev/null)" = "2 2" ] || r=1
result $r "attach --rules FILE attaches eth0 eth1 and applies 2 rules in one go" "exit $rc: $out" "status: $st"

# The flow expiry sweep runs from attach on, before any flow exists, and
# status shows what it does. Its first walk comes 250 ms after attach, or
# later on a loaded machine: waited for.
sweep_walked() {
	xm status 2>/dev/null | grep -Eq "^expiry +[1-9][0-9]* walks"
}
wait_for 10 sweep_walked
st=$(xm status 2>&1)
w=$(xm status --json 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["expiry"]["walks"])' 2>&1)
r=0
[ "${w:-0}" -ge 1 ] 2>/dev/null && grep -Eq "^expiry +[0-9]+ walks, the last over 0 entries in [0-9.]+ ms; 0 flows expired" <<<"$st" || r=1
result $r "the expiry sweep runs from attach on, with no traffic yet ($w walks); status shows it" "$st"

# ---- 3. traffic -----------------------------------------------------------------
out=$(timeout 20 nsenter --net="/run/netns/$NS_C" "$PY" "$XM_DATA/cli_peer.py" talk $R0 8080 0.5 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "${out:-0}" -gt 0 ] 2>/dev/null || rc=1
result $rc "TCP echo through the router (tcp/8080 -> $B:80)" "$out"
out=$(timeout 10 nsenter --net="/run/netns/$NS_C" "$PY" "$XM_DATA/cli_peer.py" udp $R0 5000 hello-$$ 2>"$TMP/udp.err")
rc=$?
[ "$out" = "hello-$$" ] || rc=1
result $rc "UDP echo through the router (udp/5000)" "$out" "$(cat "$TMP/udp.err")" "$(xm stats 2>&1)"
[ -s "$TMP/udp.err" ] && [ $rc -eq 0 ] && sed 's/^/# note: /' "$TMP/udp.err"

# ---- 4. stats --prometheus ---------------------------------------------------------
PROM="$TMP/metrics.prom"
xm stats --prometheus >"$PROM" 2>"$TMP/prom.err"
rc=$?
out=$("$PY" "$XM_DATA/promcheck.py" <"$PROM" 2>&1)
prc=$?
[ $rc -eq 0 ] && [ $prc -eq 0 ] && rc2=0 || rc2=1
result "$rc2" "stats --prometheus passes the strict text-format checker" "$out" "$(cat "$TMP/prom.err")"
if [ -n "$PROMTOOL" ] && command -v "$PROMTOOL" >/dev/null 2>&1; then
	out=$("$PROMTOOL" check metrics <"$PROM" 2>&1)
	prc=$?
	[ $rc -eq 0 ] && [ $prc -eq 0 ] && [ -z "$out" ] || rc=1
	result $rc "stats --prometheus: promtool check metrics reports no problem" "exit $prc: $out"
else
	skip "stats --prometheus: promtool check metrics" "promtool not installed (apt-get install prometheus)"
fi

# metric NAME LABEL-SUBSTRING: the value of the first sample of NAME whose
# labels contain the substring
metric() { awk -v n="$1" -v l="$2" 'index($0, n "{") == 1 && index($0, l) { print $NF; exit } index($0, n " ") == 1 && l == "" { print $NF; exit }' "$PROM"; }
# The rule's series carry its id; xmasq_rule_info carries its text
rule_id=$(awk -v t="rule=\"forward eth0 tcp 8080 to $B:80\"" 'index($0, "xmasq_rule_info{id=\"") == 1 && index($0, t) { split($0, a, "\""); print a[2]; exit }' "$PROM")
rule_lbl="{id=\"${rule_id:-none}\""
r=0 why=""
grep -q "^xmasq_rule_info{id=\"${rule_id:-none}\",rule=\"forward eth0 tcp 8080 to $B:80\",iface=\"eth0\"} 1$" "$PROM" ||
	{ r=1; why="$why rule_info"; }
# the long labels only there: no rule series repeats the text
grep '^xmasq_rule_[a-z_]*_total{' "$PROM" | grep -q 'rule=\|iface=' && { r=1; why="$why text-in-series"; }
for fam in xmasq_iface_info xmasq_iface_rx_packets_total xmasq_iface_rx_bytes_total xmasq_iface_tx_packets_total \
	xmasq_iface_tx_bytes_total xmasq_rule_info xmasq_rule_packets_total xmasq_rule_bytes_total xmasq_rule_flows_total \
	xmasq_packets_total xmasq_bytes_total xmasq_reason_info xmasq_flows xmasq_flows_max; do
	grep -q "^# TYPE $fam " "$PROM" || { r=1; why="$why missing:$fam"; }
done
for chk in "xmasq_rule_packets_total|$rule_lbl|dir=\"orig\"" "xmasq_rule_packets_total|$rule_lbl|dir=\"reply\"" \
	"xmasq_rule_bytes_total|$rule_lbl|dir=\"orig\"" "xmasq_rule_flows_total|$rule_lbl|" \
	"xmasq_iface_rx_packets_total|iface=\"eth0\"|" "xmasq_packets_total|counter=\"flow_new\"|" \
	"xmasq_flows_max||"; do
	IFS='|' read -r name l1 l2 <<<"$chk"
	v=$(awk -v n="$name" -v a="$l1" -v b="$l2" '(index($0, n "{") == 1 || index($0, n " ") == 1) && index($0, a) && index($0, b) { print $NF; exit }' "$PROM")
	[ -n "$v" ] && [ "$v" != 0 ] || { r=1; why="$why $name{$l1$l2}=${v:-absent}"; }
done
grep -q '^xmasq_iface_tx_packets_total{iface="eth1",path="\(xdp\|tc\)"} [1-9]' "$PROM" || { r=1; why="$why tx-eth1"; }
grep -q '^# HELP xmasq_packets_total ' "$PROM" &&
	grep -q "^xmasq_reason_info{counter=\"drop_ct_full\",help=\"dropped: new flow, conntrack table full\"} 1$" "$PROM" ||
	{ r=1; why="$why counter-help"; }
result $r "stats --prometheus: every family present, non-zero packets/bytes/flows for the rule used" \
	"$why" "$(grep -v '^#' "$PROM" | head -40)"

# ---- 5. stats --json --------------------------------------------------------------
J="$TMP/stats.json"
xm stats --json >"$J" 2>&1
rc=$?
out=$("$PY" - "$J" "$B" <<'EOF' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
assert set(d) >= {"counters", "interfaces", "rules", "flows", "flows_max"}, sorted(d)
for k in ("rx", "flow_new", "drop_ct_full"):
    assert set(d["counters"][k]) == {"packets", "bytes", "help"}, k
    assert d["counters"][k]["help"], k
i = {x["name"]: x for x in d["interfaces"]}
for k in ("ifindex", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "tx_xdp", "tx_tc"):
    assert k in i["eth0"], k
r = [x for x in d["rules"] if x["rule"] == "forward eth0 tcp 8080 to %s:80" % sys.argv[2]][0]
for k in ("id", "line", "packets_orig", "bytes_orig", "packets_reply", "bytes_reply", "flows"):
    assert k in r, k
assert r["packets_orig"] > 0 and r["packets_reply"] > 0 and r["flows"] > 0, r
EOF
)
[ $rc -eq 0 ] && [ -z "$out" ] || rc=1
result $rc "stats --json parses, keeps every key, counts the traffic" "$out" "$(head -c 600 "$J")"

# ---- 6. stats --watch --------------------------------------------------------------
timeout 30 nsenter --net="/run/netns/$NS_C" "$PY" "$XM_DATA/cli_peer.py" talk $R0 8080 6 >"$TMP/talk.out" 2>&1 &
talk=$!
XM_PIDS+=("$talk")
sleep 0.5
W="$TMP/watch.out"
# SIGINT as from Ctrl-C; --preserve-status: the exit status is xmasq's own
timeout --preserve-status -s INT -k 5 2.5 nsenter --net="/run/netns/$NS_R" "$XMASQ" --pin-dir "$PIN" \
	stats --watch 1 >"$W" 2>&1
wrc=$?
wait $talk
screens=$(grep -c '^xmasq stats, every 1s' "$W")
# the eth0 row's RX PKT/S and the rule row's PKT/S IN on screens after the first
rates=$(awk '/^xmasq stats, every/ { s++ } s >= 2 && $1 == "eth0" { print "if=" $3 } s >= 2 && $3 == "eth0" && $4 == "tcp" && $5 == "8080" { print "rule=" $(NF-4) }' "$W" | sort -u | tr '\n' ' ')
r=0
[ "$screens" -ge 2 ] || r=1
grep -Eq 'if=[0-9.]+[kMG]?( |$)' <<<"$rates" && ! grep -Eq 'if=0 ' <<<"$rates" || r=1
grep -Eq 'rule=[0-9.]*[1-9][0-9.]*[kMG]?( |$)' <<<"$rates" || r=1
result $r "stats --watch 1 for 2.5 s: $screens screens, non-zero rates while traffic flows ($rates)" "$(cat "$W")"
result "$wrc" "stats --watch ends cleanly on SIGINT (exit 0)" "exit $wrc"
timeout --preserve-status -s TERM -k 5 1.5 nsenter --net="/run/netns/$NS_R" "$XMASQ" --pin-dir "$PIN" \
	stats --watch 0.5 --json >"$TMP/watch.json" 2>&1
wrc=$?
out=$("$PY" -c 'import json,sys
n = 0
for line in open(sys.argv[1]):
    json.loads(line); n += 1
assert n >= 2, n' "$TMP/watch.json" 2>&1)
[ $wrc -eq 0 ] && [ -z "$out" ] || wrc=1
result $wrc "stats --watch --json: one JSON object a line, ends cleanly on SIGTERM" "$out" "$(head -c 300 "$TMP/watch.json")"

# ---- 7. apply --check with and without a router ---------------------------------------
EX="$ROOT/etc/rules.conf.example"
# the commented-out statements ("#forward ...", no space) are the examples
sed -E 's/^#(forward|masquerade|set) /\1 /' "$EX" >"$TMP/example-active.conf"
nex=$(grep -cE '^(forward|masquerade|set) ' "$TMP/example-active.conf")
out=$(xm_none apply --check "$EX" 2>&1)
rc=$?
result $rc "etc/rules.conf.example as installed passes apply --check (no router: grammar and interfaces)" "$out"
out=$(xm_none apply --check "$TMP/example-active.conf" 2>&1)
rc=$?
[ "$nex" -ge 10 ] || rc=1
result $rc "etc/rules.conf.example with its $nex statements uncommented passes apply --check (no router)" "$out"
out=$(xm apply --check "$TMP/example-active.conf" 2>&1)
rc=$?
result $rc "... and passes apply --check against the attached router" "$out"
out=$(xm_none apply "$RULES" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "not attached" <<<"$out" || rc=9
[ $rc -eq 1 ] && rc=0
result $rc "apply (not --check) without a router: exit 1, says so" "$out"

# ---- 7b. attach --fresh --rules: the file's conntrack-max sizes the new table
printf 'set conntrack-max 4096\nforward eth0 tcp 8080 to %s:80\n' $B >"$TMP/ctmax.conf"
out=$(xm attach --fresh --rules "$TMP/ctmax.conf" eth0 eth1 2>&1)
rc=$?
max=$(xm stats --prometheus 2>&1 | awk '$1 == "xmasq_flows_max" { print $2 }')
[ "$max" = 4096 ] || rc=1
result $rc "attach --fresh --rules: set conntrack-max 4096 sizes the new flow table (xmasq_flows_max $max)" "$out"

# ---- 7c. attach's default mode, auto -------------------------------------------------
# mode_of IFACE: "MODE|REASON" from status --json
mode_of() {
	xm status --json 2>/dev/null | "$PY" -c 'import json,sys
for i in json.load(sys.stdin)["interfaces"]:
    if i["name"] == sys.argv[1]: print(i["mode"] + "|" + i["tx_path_reason"])' "$1"
}
m=$(mode_of eth0)
case "$m" in "tc|tc mode, chosen by auto for a veth"*) rc=0 ;; *) rc=1 ;; esac
result $rc "attach without --mode (auto) on a veth: tc, and status says why" "eth0: $m" "attach said: $out"
grep -q "eth0: attached (tc, chosen for a veth" <<<"$out" || rc=1
result $rc "... and attach's own output says so too" "$out"
out=$(xm attach --mode xdp eth0 2>&1)
m=$(mode_of eth0)
case "$m" in "xdp|"*) rc=0 ;; *) rc=1 ;; esac
result $rc "attach --mode xdp on that veth: xdp" "eth0: $m" "$out"
out=$(xm attach eth0 2>&1)
m=$(mode_of eth0)
case "$m" in "xdp|"*) rc=0 ;; *) rc=1 ;; esac
result $rc "attach again without --mode: the managed interface keeps its mode (xdp)" "eth0: $m" "$out"
ip -n "$NS_R" link add dm0 type bridge && ip -n "$NS_R" addr add 198.51.100.1/24 dev dm0 && ip -n "$NS_R" link set dm0 up
out=$(xm attach dm0 2>&1)
rc=$?
m=$(mode_of dm0)
case "$m" in "tc|tc mode, chosen by auto: the driver has no native XDP") ;; *) rc=1 ;; esac
result $rc "attach without --mode on a bridge (no native XDP): tc only, said in status" "dm0: $m" "$out"
out=$(xm attach --mode xdp dm0 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "dm0: cannot attach XDP in native mode" <<<"$out" && rc=0 || rc=1
result $rc "attach --mode xdp on it fails and names the interface" "$out"
xm detach dm0 >/dev/null 2>&1
ip -n "$NS_R" link del dm0

# ---- 7d. -v: libbpf's and libxdp's own messages ----------------------------------
# Without -v they stay quiet (only warnings while the program loads); -v
# shows them, -vv their debug messages too (libbpf's object loading).
quiet=$(xm attach eth0 2>&1)
rc=$?
verbose=$(xm -v attach eth0 2>&1)
rv=$?
debug=$(xm --verbose -v attach eth0 2>&1)
rd=$?
nq=$(grep -cE '^lib(bpf|xdp): ' <<<"$quiet")
nv=$(grep -cE '^lib(bpf|xdp): ' <<<"$verbose")
r=0
[ $rc -eq 0 ] && [ $rv -eq 0 ] && [ $rd -eq 0 ] && [ "$nq" -eq 0 ] && [ "$nv" -ge 1 ] &&
	grep -q "^libbpf: loading object" <<<"$debug" && ! grep -q "^libbpf: loading object" <<<"$verbose" || r=1
result $r "-v shows libbpf/libxdp messages attach hides without it ($nq without, $nv with -v); -vv their debug ones" \
	"without -v (exit $rc): $quiet" "with -v (exit $rv): $verbose" "-vv (exit $rd): $(head -5 <<<"$debug")"

# ---- 8. make install / uninstall ----------------------------------------------------
D="$TMP/destdir"
# -o: never rebuild here (the binary under test is the one installed)
out=$(make -s -C "$ROOT" -o build/xmasq -o build/xmasqd install DESTDIR="$D" 2>&1)
rc=$?
r=0 why=""
for f in usr/local/sbin/xmasq usr/local/share/man/man8/xmasq.8 usr/local/lib/systemd/system/xmasq.service \
	etc/xmasq/rules.conf etc/default/xmasq; do
	[ -f "$D/$f" ] || { r=1; why="$why missing:$f"; }
done
[ -x "$D/usr/local/sbin/xmasq" ] || r=1
cmp -s "$D/etc/xmasq/rules.conf" "$EX" || { r=1; why="$why rules.conf-differs"; }
[ $rc -eq 0 ] || r=1
result $r "make install DESTDIR=...: binary, man page, unit, /etc/xmasq/rules.conf, /etc/default/xmasq" "$why" "$out"

if command -v mandoc >/dev/null 2>&1; then
	out=$(mandoc -T lint -W all "$D/usr/local/share/man/man8/xmasq.8" 2>&1)
	rc=$?
	[ -z "$out" ] || rc=1
	result $rc "man page: mandoc -T lint -W all reports nothing" "$out"
elif command -v groff >/dev/null 2>&1; then
	out=$(groff -man -Tutf8 -ww -z "$D/usr/local/share/man/man8/xmasq.8" 2>&1)
	rc=$?
	[ -z "$out" ] || rc=1
	result $rc "man page: groff -man -ww reports no warning (mandoc not installed)" "$out"
else
	skip "man page lint" "neither mandoc nor groff installed"
fi
r=0 why=""
for s in NAME SYNOPSIS DESCRIPTION COMMANDS "RULES FILE" FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
	grep -q "^\.SH \"\?$s\"\?$" "$D/usr/local/share/man/man8/xmasq.8" || { r=1; why="$why $s"; }
done
for w in "forward" "masquerade" "set port\\\\-range" "set conntrack\\\\-max" "set timeout" "keep\\\\-source" \
	"allow\\\\-special" "tcp\\\\-established" "udp\\\\-assured" "\\\\-\\\\-prometheus" "\\\\-\\\\-watch" "\\\\-\\\\-rules" "bpftool"; do
	grep -q "$w" "$D/usr/local/share/man/man8/xmasq.8" || { r=1; why="$why '$w'"; }
done
result $r "man page has every section and documents every statement, option and new flag" "missing:$why"

UNIT="$D/usr/local/lib/systemd/system/xmasq.service"
if command -v systemd-analyze >/dev/null 2>&1; then
	# The unit names /usr/local/sbin/xmasq, which exists only under
	# DESTDIR here: verify a copy pointing there (everything else it
	# names, /bin/sh and the targets, is the host's).
	mkdir -p "$TMP/unit"
	sed "s|/usr/local/sbin/xmasq|$D/usr/local/sbin/xmasq|g" "$UNIT" >"$TMP/unit/xmasq.service"
	out=$(systemd-analyze verify --man=no "$TMP/unit/xmasq.service" 2>&1)
	rc=$?
	[ -z "$out" ] || rc=1
	result $rc "systemd unit: systemd-analyze verify reports nothing" "$out"
else
	skip "systemd unit verify" "systemd-analyze not installed (apt-get install systemd)"
fi
r=0
# shellcheck disable=SC2016 # the unit's own text, not expanded here
grep -q '^ExecStart=/usr/local/sbin/xmasq attach --mode ${XMASQ_MODE} --rules /etc/xmasq/rules.conf $XMASQ_IFACES$' "$UNIT" &&
	grep -q '^ExecReload=/usr/local/sbin/xmasq apply /etc/xmasq/rules.conf$' "$UNIT" &&
	grep -q '^ExecStop=/usr/local/sbin/xmasq detach --all$' "$UNIT" &&
	grep -q '^EnvironmentFile=-/etc/default/xmasq$' "$UNIT" &&
	grep -q '^Type=oneshot$' "$UNIT" && grep -q '^RemainAfterExit=yes$' "$UNIT" || r=1
result $r "unit: oneshot, attach --rules on start, apply on reload, detach --all on stop" "$(cat "$UNIT")"

# the operator's files are never overwritten; uninstall keeps them
echo "# operator's edit" >>"$D/etc/xmasq/rules.conf"
echo "XMASQ_IFACES=\"eth0\"" >>"$D/etc/default/xmasq"
cp "$D/etc/xmasq/rules.conf" "$TMP/rules.before"
cp "$D/etc/default/xmasq" "$TMP/default.before"
out=$(make -s -C "$ROOT" -o build/xmasq -o build/xmasqd install DESTDIR="$D" 2>&1)
rc=$?
cmp -s "$D/etc/xmasq/rules.conf" "$TMP/rules.before" && cmp -s "$D/etc/default/xmasq" "$TMP/default.before" || rc=1
result $rc "a second make install keeps the operator's /etc/xmasq/rules.conf and /etc/default/xmasq" "$out"
out=$(make -s -C "$ROOT" uninstall DESTDIR="$D" 2>&1)
rc=$?
left=$(cd "$D" && find . -type f | sort | tr '\n' ' ')
[ "$left" = "./etc/default/xmasq ./etc/default/xmasqd ./etc/xmasq/rules.conf " ] || rc=1
result $rc "make uninstall removes what install added except the /etc files" "left: $left" "$out"

# ---- done --------------------------------------------------------------------------
tap_done
