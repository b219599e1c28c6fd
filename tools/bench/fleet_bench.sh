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
# Results: build/bench/fleet.json and fleet.md (also printed); the routers'
# logs in fleet-xmasqd{1,2,3}.log.
# QUICK=1 (CI's smoke run): 20 and 4 rounds, enough to prove it works.
# Usage: tools/bench/fleet_bench.sh
. "$(dirname "$0")/../../selftests/netns/lib.sh"
. "$(dirname "$0")/../../selftests/netns/fleet_lib.sh"
if [ "${QUICK:-0}" = 1 ]; then
	ROUNDS=${ROUNDS:-20}
	ROUNDS_100K=${ROUNDS_100K:-4}
fi
ROUNDS=${ROUNDS:-100}
ROUNDS_100K=${ROUNDS_100K:-20}
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
phase 1k 1000 "$ROUNDS" || exit 1
phase 100k 100000 "$ROUNDS_100K" || exit 1

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
json.dump(j, open(out + "/fleet.json", "w"), indent=1)
open(out + "/fleet.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
