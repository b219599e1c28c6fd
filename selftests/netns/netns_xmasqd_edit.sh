#!/bin/bash
# netns_xmasqd_edit.sh — line-by-line applies, and rule_meta carried over
# on an upgrade.
#
# Two routers with the same interfaces (eth0 eth1 eth2, same addresses):
# A in the reference topology's router namespace run by xmasqd, B in a
# namespace of its own run by the xmasq CLI.
#  1. upgrade: B attached and its rules applied by the build before
#     rule_meta became BPF_F_MMAPABLE (selftests/netns/prev_xmasq.sh);
#     this build's attach carries the map over: the same rules with the
#     same ids and lines, the map now mmapable, and an apply works
#  2. random edits through PATCH /api/rules on A (applied line by line
#     where they can be) and the same edited text by `xmasq apply` on B
#     (the full parse and apply): after each, the same rules (ids, lines,
#     text), the same rules-map entries per generation and config flags;
#     an edit refused is refused by both at the same line and column and
#     changes nothing (py/edit_equiv.py)
# shellcheck source=selftests/netns/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/netns/xmasqd_lib.sh
source "$(dirname "$0")/xmasqd_lib.sh"
xm_init curl openssl unshare bpftool
need_xmasq
[ -x "$XMASQD" ] || skip_all "$XMASQD not built (make)"

XMD_CERTS="$XM_TMP/certs"
xmasqd_certs "$XMD_CERTS" || skip_all "openssl could not make the test certificates"
topo_up plain edit || exit 1
ensure_bpffs || exit 1
router_xmasq_vars
RULES="$XM_TMP/rules.conf"
printf '%s\n' "$XM_RULES" >"$RULES"
PORT=8443

# router B: the same interface names and addresses, in a namespace alone
NS_F="xm-f-$$-edit"
ns_add "$NS_F" || exit 1
for i in 0 1 2; do
	ip -n "$NS_F" link add eth$i type veth peer name peer$i || exit 1
	ip -n "$NS_F" link set peer$i up && ip -n "$NS_F" link set eth$i up || exit 1
done
ip -n "$NS_F" addr add $R_ADDR0/24 dev eth0 && ip -n "$NS_F" addr add $R_ADDR1/24 dev eth1 &&
	ip -n "$NS_F" addr add $R_ADDR2/24 dev eth2 || exit 1
PIN_F="/sys/fs/bpf/xmasq-test-$$-edit-full"
XM_PINS+=("$NS_F $PIN_F")
xmf() { timeout --kill-after=5 60 nsenter --net="/run/netns/$NS_F" "${XMF:-$XMASQ}" --pin-dir "$PIN_F" "$@"; }
RULES_F="$XM_TMP/rules-full.conf"
# rules_of: id, line and text of each rule, as stats --json lists them
rules_of() { "$XM_PY" -c 'import json,sys; print(sorted((r["id"], r["line"], r["rule"]) for r in json.load(sys.stdin)["rules"]))'; }
meta_flags() { nsx "$NS_F" bpftool -j map show pinned "$PIN_F/rule_meta" | "$XM_PY" -c 'import json,sys; print(json.load(sys.stdin)["flags"])'; }

# ---- 1. upgrade ----------------------------------------------------------------
{
	echo "masquerade 192.0.2.0/24 out eth2"
	for p in $(seq 30000 30049); do echo "forward eth1 tcp $p to 198.18.0.2:80"; done
	echo "forward eth1 udp 5000 to 198.18.0.2 from 192.0.2.0/25"
} >"$RULES_F"
if ! old=$(selftests/netns/prev_xmasq.sh 2>&1); then
	tap_skip "upgrade: rule_meta carried over" "no build before BPF_F_MMAPABLE: $old"
	out=$(xmf attach eth0 eth1 eth2 2>&1 && xmf apply "$RULES_F" 2>&1)
	tap_result $? "router B attached by this build" "$out"
else
	out=$(XMF=$old xmf attach eth0 eth1 eth2 2>&1 && XMF=$old xmf apply "$RULES_F" 2>&1)
	tap_result $? "upgrade: the build before attaches router B and applies 52 rules" "$out"
	f0=$(meta_flags)
	r0=$(XMF=$old xmf stats --json | rules_of)
	out=$(xmf attach eth0 eth1 eth2 2>&1)
	tap_result $? "upgrade: this build attaches over it" "$out"
	f1=$(meta_flags)
	r1=$(xmf stats --json | rules_of)
	[ -n "$r0" ] && [ "$r0" = "$r1" ] && [ "$(wc -c <<<"$r1")" -gt 1000 ]
	tap_result $? "upgrade: the same rules with the same ids and lines after the carry" "before: ${r0:0:300}
after: ${r1:0:300}"
	[ "$f0" = 0 ] && [ $((f1 & 1024)) = 1024 ]
	tap_result $? "upgrade: rule_meta was not mmapable ($f0), now is (BPF_F_MMAPABLE in $f1)"
	sed -i 's/30049 to 198.18.0.2:80/30049 to 198.18.0.2:81/' "$RULES_F"
	out=$(xmf apply "$RULES_F" 2>&1)
	r2=$(xmf stats --json | rules_of)
	n=$("$XM_PY" -c 'import ast,sys; a, b = set(ast.literal_eval(sys.argv[1])), set(ast.literal_eval(sys.argv[2])); print(len(a ^ b))' "$r1" "$r2")
	grep -q '~1 ' <<<"$out" && [ "$n" = 2 ]
	tap_result $? "upgrade: an apply after it changes the one rule, the others kept ($(tail -n 1 <<<"$out"))" "$out
$n rules differ"
fi

# ---- 2. random edits, line by line against the full path ------------------------
xmasqd_bg "$NS_R" --pin-dir "$XM_PIN" --rules "$RULES" --listen 127.0.0.1:$PORT \
	--cert "$XMD_CERTS/server.pem" --key "$XMD_CERTS/server.key" --client-ca "$XMD_CERTS/ca.pem" \
	--origin "https://router.test:$PORT" eth0 eth1 eth2
if ! wait_port "$NS_R" tcp 127.0.0.1 $PORT 20; then
	tap_not_ok "xmasqd starts on router A" "$(cat "$XMD_LOG".*)"
	tap_done
fi
"$XM_PY" "$XM_DATA/edit_equiv.py" --ns-a "$NS_R" --pin-a "$XM_PIN" --ns-b "$NS_F" --pin-b "$PIN_F" \
	--rules-b "$RULES_F" --xmasq "$XMASQ" --certs "$XMD_CERTS" --port $PORT \
	--steps "${EDIT_STEPS:-40}" --seed "${EDIT_SEED:-$$}" >"$XM_TMP/equiv.out" 2>&1
rc=$?
n_ok=$(grep -c '^ok' "$XM_TMP/equiv.out")
tap_result $rc "random edits (seed ${EDIT_SEED:-$$}): line by line on A, full on B, $n_ok checks equal: $(tail -n 1 "$XM_TMP/equiv.out" | cut -c1-120)" \
	"$(grep -A30 '^not ok' "$XM_TMP/equiv.out" | head -n 60)"
tap_done
