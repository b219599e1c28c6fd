#!/bin/bash
# Publish-to-live latency of the fleet (part of `make bench`; alone: make
# bench-fleet): a local 3-member etcd (each member in its own namespace,
# data on this machine's disk, fsync on) and 3 routers running xmasqd
# --etcd. Each round changes one rule (the first rule's backend port) and
# runs `xmasq publish --wait`, which returns when every router's status
# says the revision is applied (the status is written right after the
# apply; publish watches the status keys). Two sets: a 1,000-rule set
# (ROUNDS, default 100) and a 100,000-rule set (tcp and udp, 50,000 ports
# each; ROUNDS_100K, default 20). Per set: median and p99 of the whole
# command (process start, parse, write, wait), and of its parts as publish
# prints them (the write: etcd's commit; then until every router's status
# came back), the routers' apply times from their logs, and the members'
# WAL fsync and backend commit means from their /metrics.
# The data plane meanwhile (issue 13: its rates unchanged while rule sets
# stream in): router 1 forwards a UDP load (xbench gen from its client,
# 1,000 flows to the 100,000-rule set's UDP forwards, through xmasq's XDP,
# to xbench's sink on its backend, which counts and drops UDP only), in
# 1 s windows: DP_WINDOWS of them with nothing published, then windows
# for as long as ROUNDS_100K more rounds of the 100,000-rule set run
# (after the latency phases, which are not pinned). The generator and the packet path
# (the sender's softirq) are on CPU 0; etcd, the routers' xmasqd and
# publish are moved to CPU 1 (taskset), so what the rate shows is the rule
# updates' own effect on the data plane, not two processes sharing a CPU.
# Results: build/bench/fleet.json and fleet.md (also printed); the routers'
# logs in fleet-xmasqd{1,2,3}.log.
# QUICK=1 (CI's smoke run): 20 and 4 rounds, enough to prove it works.
# Usage: tools/bench/fleet_bench.sh
. "$(dirname "$0")/../../selftests/netns/lib.sh"
. "$(dirname "$0")/../../selftests/netns/fleet_lib.sh"
if [ "${QUICK:-0}" = 1 ]; then
	ROUNDS=${ROUNDS:-20}
	ROUNDS_100K=${ROUNDS_100K:-4}
	DP_WINDOWS=${DP_WINDOWS:-3}
fi
ROUNDS=${ROUNDS:-100}
ROUNDS_100K=${ROUNDS_100K:-20}
DP_WINDOWS=${DP_WINDOWS:-10}
XB=$XM_ROOT/build/bench/xbench
OUT=$XM_ROOT/build/bench
xm_init etcd etcdctl curl
need_xmasq
ensure_bpffs || exit 1
mkdir -p "$OUT"

# gen N PORT FILE: N forwards (tcp, then udp, 50,000 ports each at most), the first to PORT
gen() {
	"$XM_PY" - "$1" "$2" "$3" <<'EOF'
import sys
n, port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with open(path, "w") as f:
    for i in range(n):
        proto, p = ("tcp", 10000 + i) if i < 50000 else ("udp", 10000 + i - 50000)
        f.write("forward eth0 %s %d to 198.18.0.2:%d\n" % (proto, p, port if i == 0 else 9000))
EOF
}

# etcd's own view, summed over the members: "FSYNC_SUM FSYNC_COUNT COMMIT_SUM COMMIT_COUNT"
member_metrics() {
	local i
	for i in $(seq 1 "$FL_MEMBERS"); do
		nsx "$FL_SW" curl -s --max-time 5 "http://$FL_NET.1$i:2379/metrics"
	done | awk '/^etcd_disk_wal_fsync_duration_seconds_sum/ {fs += $2}
		/^etcd_disk_wal_fsync_duration_seconds_count/ {fc += $2}
		/^etcd_disk_backend_commit_duration_seconds_sum/ {cs += $2}
		/^etcd_disk_backend_commit_duration_seconds_count/ {cc += $2}
		END {print fs + 0, fc + 0, cs + 0, cc + 0}'
}

# ---- the data plane under the rounds ----------------------------------------------------------
DP_SINK=/sys/fs/bpf/xmasq-test-$$-sink # xmasq-*: lib.sh's teardown removes it
dp_up() {
	local r c b
	r=$(router_ns 1) c=$(client_ns 1) b="xf-b1-$$"
	[ -x "$XB" ] || { echo "fleet-bench: $XB not built (make build/bench/xbench)" >&2; return 1; }
	XM_PINS+=("$b $DP_SINK")
	mkdir -p "$DP_SINK" && nsx "$b" "$XB" sink attach eth0 "$DP_SINK/sink_cnt" >/dev/null || return 1
	# xmasqd's auto mode chose tc for these veths; the measure is of XDP,
	# xmasq's fast mode: attached again in it (xmasqd manages what is
	# attached), the generator's frames then land in its XDP program
	rxm 1 attach --mode xdp eth0 eth1 >/dev/null || return 1
	DP_DMAC=$(nsx "$r" cat /sys/class/net/eth0/address) || return 1
	# the backend's MAC known before the first window (the sink passes ARP)
	nsx "$r" ping -c 1 -W 2 198.18.0.2 >/dev/null
}
# dp_window: one 1 s window's rate through router 1, packets/s
dp_window() {
	local out
	out=$(nsx "$(client_ns 1)" "$XB" gen --dev eth0 --dmac "$DP_DMAC" --src 198.19.0.1 --dst 192.0.2.1 \
		--sport 10000 --dport 10000 --dport-bits 8 --flows 1000 --sink "$DP_SINK/sink_cnt" \
		--warmup 0.2 --time 1 --cpu 0) || return 1
	"$XM_PY" -c 'import json, sys; print(json.loads(sys.argv[1])["pps"])' "$out"
}
# to_cpu1: etcd's members and the routers' xmasqd (every thread) on CPU 1
to_cpu1() {
	local p
	for p in "${FL_EPID[@]}" "${FL_XPID[@]}"; do
		[ -n "$p" ] && taskset -a -p 2 "$p" >/dev/null 2>&1
	done
}

# dp_phase ROUNDS: after the latency phases (which run unpinned), the
# data plane's windows, quiet and then while ROUNDS more 1-rule changes of
# the 100,000-rule set are published one after another
dp_phase() {
	local r f dp_pid
	to_cpu1
	echo "fleet-bench: the data plane: $DP_WINDOWS windows with nothing published" >&2
	for r in $(seq 1 "$DP_WINDOWS"); do dp_window || return 1; done >"$XM_TMP/dp-quiet"
	echo "fleet-bench: the data plane while $1 rounds of the 100,000-rule set are published" >&2
	rm -f "$XM_TMP/dp-stop"
	(while [ ! -e "$XM_TMP/dp-stop" ]; do dp_window || break; done >"$XM_TMP/dp-rounds") &
	dp_pid=$!
	for r in $(seq 1 "$1"); do
		f="$XM_TMP/100k-b.rules"
		[ $((r % 2)) = 0 ] && f="$XM_TMP/100k-a.rules"
		taskset -c 1 timeout 60 nsenter --net="/run/netns/$FL_SW" "$XMASQ" publish --etcd "$FL_URLS" \
			--ruleset web --wait 60 "$f" >/dev/null || { echo "data plane round $r failed" >&2; break; }
	done
	touch "$XM_TMP/dp-stop"
	wait "$dp_pid"
	echo "$1" >"$XM_TMP/dp-published"
}

# phase NAME N ROUNDS: the rounds on an N-rule set; lines into $XM_TMP/NAME.tsv
phase() {
	local name=$1 n=$2 rounds=$3 r t0 t1 out
	gen "$n" 9000 "$XM_TMP/$name-a.rules"
	gen "$n" 9001 "$XM_TMP/$name-b.rules"
	echo "fleet-bench: $name: the $n-rule set to every router" >&2
	publish --ruleset web --wait 50 "$XM_TMP/$name-a.rules" >/dev/null || return 1
	for i in 1 2 3; do : >"$XM_TMP/applies$i"; done
	local logpos=()
	for i in 1 2 3; do logpos[i]=$(wc -l <"${FL_XLOG[i]}"); done
	local m0
	m0=$(member_metrics)
	echo "fleet-bench: $name: $rounds rounds of a 1-rule change" >&2
	: >"$XM_TMP/$name.tsv"
	for r in $(seq 1 "$rounds"); do
		f="$XM_TMP/$name-b.rules"
		[ $((r % 2)) = 0 ] && f="$XM_TMP/$name-a.rules"
		t0=$(date +%s%N)
		out=$(publish --ruleset web --wait 60 "$f") || { echo "round $r failed: $out" >&2; return 1; }
		t1=$(date +%s%N)
		# "published ruleset web: revision N (W ms)" / "applied by 3 of 3 ... (A ms after publishing)"
		echo "$(((t1 - t0) / 1000)) $(echo "$out" | sed -n 's/^published.*(\([0-9]*\) ms)$/\1/p') $(echo "$out" | sed -n 's/^applied by 3 of 3 .*(\([0-9]*\) ms after.*/\1/p')" >>"$XM_TMP/$name.tsv"
	done
	echo "$m0 $(member_metrics)" >"$XM_TMP/$name.metrics"
	for i in 1 2 3; do
		tail -n +"$((logpos[i] + 1))" "${FL_XLOG[i]}" |
			sed -n 's/.*fleet revision [0-9]*: applied .* in \([0-9]*\) us (live \([0-9]*\) ms after the watch brought it: \([0-9]*\) waiting, \([0-9]*\) parsing, \([0-9]*\) applying.*/\1 \2 \3 \4 \5/p'
	done >"$XM_TMP/$name.applies"
}

fleet_up 3 || { echo "etcd did not start" >&2; exit 1; }
gen 1000 9000 "$XM_TMP/boot.rules"
publish --ruleset web "$XM_TMP/boot.rules" >/dev/null || exit 1
for i in 1 2 3; do router_up "$i" "$XM_TMP/boot.rules" || { echo "router $i did not start" >&2; exit 1; }; done
dp_up || { echo "fleet-bench: the data plane's generator and sink did not start" >&2; exit 1; }
phase 1k 1000 "$ROUNDS" || exit 1
phase 100k 100000 "$ROUNDS_100K" || exit 1
dp_phase "$ROUNDS_100K" || exit 1

for i in 1 2 3; do cp "${FL_XLOG[i]}" "$OUT/fleet-xmasqd$i.log"; done

# fsync on this disk, outside etcd: 200 4 KiB writes with O_DSYNC
fsync_us=$(dd if=/dev/zero of="$XM_TMP/dsync" bs=4k count=200 oflag=dsync 2>&1 |
	sed -n 's/.* copied, \([0-9.]*\) s.*/\1/p' | awk '{printf "%.0f", $1 * 1e6 / 200}')

"$XM_PY" - "$XM_TMP" "$OUT" "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "$(uname -r)" \
	"$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$fsync_us" <<'EOF'
import json, statistics, sys
tmp, out, cpu, kernel, ncpu, load, fsync_us = sys.argv[1:8]
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))] if v else float("nan")
def med(v):
    return statistics.median(v) if v else float("nan")
j = {"cpu": cpu, "kernel": kernel, "cores": int(ncpu), "load": load,
     "dd_dsync_4k_us": int(fsync_us or 0), "sets": {}}
md = ["fleet publish-to-live, 3 routers, 3 etcd members (fsync on), %s, %s cores, Linux %s, "
      "load average %s; a 4 KiB O_DSYNC write on this disk: %s us" % (cpu, ncpu, kernel, load, fsync_us),
      "", "| set | rounds | publish --wait (whole command) | the write (etcd commit) | "
      "then every router's status | router apply (the switch) | watch to live (median: waiting, parsing, applying) | etcd WAL fsync | etcd backend commit |",
      "|---|---|---|---|---|---|---|---|---|"]
for name, label in (("1k", "1 rule changed of 1,000"), ("100k", "1 rule changed of 100,000")):
    rows = [l.split() for l in open("%s/%s.tsv" % (tmp, name)) if l.strip()]
    whole = [int(r[0]) / 1000 for r in rows]
    write = [int(r[1]) for r in rows if len(r) > 1]
    routers = [int(r[2]) for r in rows if len(r) > 2]
    ap = [l.split() for l in open("%s/%s.applies" % (tmp, name)) if l.strip()]
    apply_us = [int(a[0]) for a in ap if len(a) > 1]
    live_ms = [int(a[1]) for a in ap if len(a) > 1]
    parts = [med([int(a[k]) for a in ap if len(a) > k]) for k in (2, 3, 4)]
    m = [float(x) for x in open("%s/%s.metrics" % (tmp, name)).read().split()]
    fs = (m[4] - m[0]) / max(1, m[5] - m[1]) * 1000
    bc = (m[6] - m[2]) / max(1, m[7] - m[3]) * 1000
    s = {"rounds": len(rows),
         "whole_ms": {"median": med(whole), "p99": pct(whole, 0.99), "max": max(whole) if whole else float("nan")},
         "write_ms": {"median": med(write), "p99": pct(write, 0.99)},
         "routers_ms": {"median": med(routers), "p99": pct(routers, 0.99)},
         "apply_us": {"median": med(apply_us), "p99": pct(apply_us, 0.99)},
         "watch_to_live_ms": {"median": med(live_ms), "p99": pct(live_ms, 0.99)},
         "watch_to_live_parts_ms_median": {"waiting": parts[0], "parsing": parts[1], "applying": parts[2]},
         "etcd_wal_fsync_ms_mean": round(fs, 2), "etcd_backend_commit_ms_mean": round(bc, 2)}
    j["sets"][name] = s
    f = lambda d, u="ms": "%.0f / %.0f %s" % (d["median"], d["p99"], u)
    md.append("| %s | %d | %s | %s | %s | %s | %s (%.0f, %.0f, %.0f) | %.1f ms | %.1f ms |" % (
        label, s["rounds"], f(s["whole_ms"]), f(s["write_ms"]), f(s["routers_ms"]),
        f(s["apply_us"], "us"), f(s["watch_to_live_ms"]), parts[0], parts[1], parts[2], fs, bc))
md.append("")
md.append("(median / p99; router apply and watch-to-live over the 3 routers' rounds)")
def rates(name):
    try:
        return [float(l) for l in open("%s/%s" % (tmp, name)) if l.strip()]
    except OSError:
        return []
def quartiles(v):
    v = sorted(v)
    return (pct(v, 0.25), med(v), pct(v, 0.75)) if v else (float("nan"),) * 3
quiet, during = rates("dp-quiet"), rates("dp-rounds")
if quiet and during:
    q, d = quartiles(quiet), quartiles(during)
    j["data_plane_mpps"] = {"quiet": {"q1": q[0] / 1e6, "median": q[1] / 1e6, "q3": q[2] / 1e6, "windows": len(quiet)},
                            "during_100k_rounds": {"q1": d[0] / 1e6, "median": d[1] / 1e6, "q3": d[2] / 1e6, "windows": len(during)},
                            "ratio": d[1] / q[1] if q[1] else float("nan")}
    md.append("")
    md.append("The data plane meanwhile (router 1, UDP, 1,000 flows, XDP; generator and packet path on CPU 0, "
              "etcd, xmasqd and publish on CPU 1), 1 s windows:")
    md.append("")
    md.append("| | windows | Mpps, median [q1-q3] |")
    md.append("|---|---|---|")
    md.append("| nothing published | %d | %.3f [%.3f-%.3f] |" % (len(quiet), q[1] / 1e6, q[0] / 1e6, q[2] / 1e6))
    md.append("| while %s 1-rule changes of the 100,000-rule set are published | %d | %.3f [%.3f-%.3f] |" % (open(tmp + "/dp-published").read().strip(), len(during), d[1] / 1e6, d[0] / 1e6, d[2] / 1e6))
    md.append("| ratio (during / quiet, medians) | | %.3f |" % (d[1] / q[1] if q[1] else float("nan")))
json.dump(j, open(out + "/fleet.json", "w"), indent=1)
open(out + "/fleet.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
