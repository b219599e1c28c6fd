#!/bin/bash
# tools/bench/xmasqd_bench.sh — xmasqd's own figures (issue 11, reported,
# never asserted), part of `make bench`; about a minute.
#
#   client ns C eth0 ── eth0 router R (xmasqd) eth1 ── eth0 backend ns S
#   192.0.2.2             192.0.2.1    198.18.0.1        198.18.0.2
#
# xmasqd attaches eth0 eth1 in R and serves HTTPS on 127.0.0.1 there
# (certificates made here with openssl); curl runs in R too. Measures:
#  - PUT /api/rules changing one rule's backend port, on a 1-rule and on a
#    100,000-rule file (tcp and udp, 50,000 ports each): the server's own
#    `us` (apply, first write to the switch), its `request_us` (from the
#    whole request read to the switch: JSON, parse, checks, the temp file
#    written, apply), its `saved_us` (to the file fsynced and renamed), curl's
#    round trip (from the request's first byte to the answer's last, TLS
#    handshake not included) and xmasqd's CPU time for the request
#    (its CPU clock, all threads: less sensitive to the machine's load), REPS of
#    each, median [min-max]
#  - PATCH /api/rules replacing that rule's line (the page's way), on the
#    same two files: the same figures (line by line: `incremental`)
#  - GET /api/status and GET /metrics with 100,000 rules: the same round
#    trip, xmasqd's CPU time, and the body size
#  - xmasqd idle with 100,000 rules: CPU over IDLE_S (10 s) from
#    /proc/PID/stat, resident memory (VmRSS, and the peak VmHWM)
#  - then GET /api/status and GET /metrics once each, each after IDLE_S
#    idle: what a scraper that comes every 15-60 s gets (xmasqd lets go
#    of what it keeps between requests after 5 s without one)
# Results: build/bench/xmasqd.json and xmasqd.md (also printed); the
# daemon's log in xmasqd-bench.log.
# XMASQD_WRAP="perf record -g -o FILE" runs xmasqd under a profiler.
# Everything carries this shell's pid and is removed on every exit path.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XMASQD=${XMASQD:-$ROOT/build/xmasqd}
OUT=$ROOT/build/bench
ID=$$
NS_R=xdb-r-$ID NS_C=xdb-c-$ID NS_S=xdb-s-$ID
PIN=/sys/fs/bpf/xmasqd-bench-$ID
TMP=$(mktemp -d /tmp/xmasqd-bench.$ID.XXXXXX)
PORT=8443 URL=https://router.test:8443
REPS=${REPS:-7} IDLE_S=${IDLE_S:-10}
XMD_PID=""

log() { echo "xmasqd-bench: $*" >&2; }
die() {
	log "$*"
	exit 1
}
cleanup() {
	# the whole group: under XMASQD_WRAP the pid is the wrapper's, and a
	# strace killed alone leaves xmasqd running
	[ -n "$XMD_PID" ] && kill -- -"$XMD_PID" 2>/dev/null && wait "$XMD_PID" 2>/dev/null
	[ -e "$TMP/xmasqd.log" ] && cp "$TMP/xmasqd.log" "$OUT/xmasqd-bench.log"
	[ -e "$PIN" ] && nsenter --net="/run/netns/$NS_R" "$ROOT/build/xmasq" --pin-dir "$PIN" detach --all >/dev/null 2>&1
	rm -rf "$PIN"
	for ns in "$NS_R" "$NS_C" "$NS_S"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, BPF)"
[ -x "$XMASQD" ] || die "$XMASQD not built (make)"
for c in curl openssl python3 nsenter; do command -v $c >/dev/null || die "needs $c (tools/deps.sh)"; done
mkdir -p "$OUT"
nsx() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# ---- topology and certificates -----------------------------------------------------------
ip netns add "$NS_R" && ip netns add "$NS_C" && ip netns add "$NS_S" || die "cannot make namespaces"
ip -n "$NS_R" link add eth0 type veth peer name eth0 netns "$NS_C" &&
	ip -n "$NS_R" link add eth1 type veth peer name eth0 netns "$NS_S" &&
	ip -n "$NS_R" addr add 192.0.2.1/24 dev eth0 && ip -n "$NS_R" addr add 198.18.0.1/24 dev eth1 &&
	ip -n "$NS_C" addr add 192.0.2.2/24 dev eth0 && ip -n "$NS_S" addr add 198.18.0.2/24 dev eth0 &&
	ip -n "$NS_R" link set lo up || die "cannot build the topology"
ip -n "$NS_R" link set eth0 up && ip -n "$NS_R" link set eth1 up && ip -n "$NS_C" link set eth0 up &&
	ip -n "$NS_S" link set eth0 up || die "cannot bring the links up"
mount | grep -q '^bpf on /sys/fs/bpf' || mount -t bpf bpf /sys/fs/bpf || die "no bpffs"

ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
# shellcheck disable=SC2086
{
	openssl req -x509 $ec -keyout "$TMP/ca.key" -out "$TMP/ca.pem" -days 2 -subj "/CN=bench CA" &&
		openssl req $ec -keyout "$TMP/server.key" -out "$TMP/server.csr" -subj "/CN=router.test" &&
		printf 'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:router.test\n' >"$TMP/server.ext" &&
		openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
			-days 2 -extfile "$TMP/server.ext" -out "$TMP/server.pem" &&
		openssl req $ec -keyout "$TMP/client.key" -out "$TMP/client.csr" -subj "/CN=bench" &&
		printf 'extendedKeyUsage=clientAuth\n' >"$TMP/client.ext" &&
		openssl x509 -req -in "$TMP/client.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
			-days 2 -extfile "$TMP/client.ext" -out "$TMP/client.pem"
} >/dev/null 2>&1 || die "openssl could not make the certificates"

# rules N V: the file of N forwards (N = 1, or 100000: tcp and udp ports
# 10000-59999); V (0/1) sets the first rule's backend port, the one change
rules() {
	python3 - "$1" "$2" <<'EOF'
import sys
n, v = int(sys.argv[1]), int(sys.argv[2])
out = []
for proto in ("tcp", "udp"):
    for p in range(10000, 10000 + max(1, n // 2)):
        if len(out) == n:
            break
        to = (81 if v else 80) if not out else p
        out.append("forward eth0 %s %d to 198.18.0.2:%d" % (proto, p, to))
print("\n".join(out))
EOF
}

rules 1 0 >"$TMP/rules.conf"
setsid nsenter --net="/run/netns/$NS_R" ${XMASQD_WRAP:-} "$XMASQD" --pin-dir "$PIN" --rules "$TMP/rules.conf" \
	--listen 127.0.0.1:$PORT --cert "$TMP/server.pem" --key "$TMP/server.key" \
	--client-ca "$TMP/ca.pem" --origin $URL eth0 eth1 >"$TMP/xmasqd.log" 2>&1 &
XMD_PID=$!
for _ in $(seq 100); do
	nsx "$NS_R" ss -Hltn "src 127.0.0.1:$PORT" | grep -q . && break
	sleep 0.1
done
nsx "$NS_R" ss -Hltn "src 127.0.0.1:$PORT" | grep -q . || die "xmasqd did not start: $(cat "$TMP/xmasqd.log")"

# curl_api ARGS...: prints the body, then "STATUS ROUNDTRIP_US" (from the
# request's first byte, after the handshake, to the answer's last). curl
# writes the body to a file: piped through awk line by line, the 30-55 MB
# of /metrics kept curl, and so the server, waiting on awk.
curl_api() {
	rm -f "$TMP/body"
	nsx "$NS_R" curl -sS --cacert "$TMP/ca.pem" --cert "$TMP/client.pem" --key "$TMP/client.key" \
		--resolve "router.test:$PORT:127.0.0.1" -o "$TMP/body" \
		-w '%{http_code} %{time_appconnect} %{time_total}\n' "$@" >"$TMP/curl.w"
	[ -e "$TMP/body" ] && cat "$TMP/body"
	echo
	awk '{ printf "%s %d\n", $1, ($3 - $2) * 1e6 }' "$TMP/curl.w"
}

# xmasqd's CPU time so far, ns
# (the process's CPU clock, clock_getcpuclockid: every thread, those that
# ended too, such as /metrics' walk of the flow table; schedstat has the
# main thread only)
cpu_ns() { python3 -c 'import sys, time; print(time.clock_gettime_ns((~int(sys.argv[1]) << 3) | 2))' "$XMD_PID"; }

# report FILE WHAT CPU_NS: the figures of a PUT or PATCH answer
report() {
	python3 - "$@" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
status, rt = lines[-1].split()
if status != "200":
    sys.exit("%s: %s %s" % (sys.argv[2], status, " ".join(lines[:-1])[:300]))
d = json.loads("\n".join(lines[:-1]))
# request_us, saved_us: not in older xmasqd
print(d["us"], d.get("request_us", "nan"), rt, d.get("saved_us", "nan"), int(sys.argv[3]) / 1000,
      int(bool(d.get("incremental"))))
EOF
}

# put N V: PUT the file `rules N V`; prints "SWITCH_US REQUEST_US
# ROUNDTRIP_US SAVED_US CPU_US INCREMENTAL" (the apply's us, the server's
# request_us, curl's, the server's saved_us, xmasqd's CPU time, 1 if line
# by line)
put() {
	local version
	version=$(curl_api "$URL/api/rules" | sed '$d' | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])') ||
		return 1
	rules "$1" "$2" >"$TMP/text"
	python3 -c 'import json,sys; print(json.dumps({"text": open(sys.argv[1]).read() + "\n", "version": sys.argv[2]}))' \
		"$TMP/text" "$version" >"$TMP/put.json"
	c0=$(cpu_ns)
	curl_api -X PUT -H "Origin: $URL" -H 'Content-Type: application/json' --data-binary @"$TMP/put.json" \
		"$URL/api/rules" >"$TMP/put.out"
	c1=$(cpu_ns)
	report "$TMP/put.out" PUT $((c1 - c0))
}

# patch N V: PATCH /api/rules replacing line 1 by that of `rules N V` (the
# file holds `rules N 1-V`); prints as put
patch() {
	local version
	version=$(curl_api "$URL/api/rules" | sed '$d' | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])') ||
		return 1
	python3 -c 'import json,sys; print(json.dumps({"version": sys.argv[2], "edits": [{"line": 1, "delete": 1, "insert": [sys.argv[1]]}]}))' \
		"$(rules 1 "$2")" "$version" >"$TMP/patch.json"
	c0=$(cpu_ns)
	curl_api -X PATCH -H "Origin: $URL" -H 'Content-Type: application/json' --data-binary @"$TMP/patch.json" \
		"$URL/api/rules" >"$TMP/put.out"
	c1=$(cpu_ns)
	report "$TMP/put.out" PATCH $((c1 - c0))
}

# get PATH: prints "ROUNDTRIP_US BYTES CPU_US FIRSTBYTE_US". curl drops the
# body (-o /dev/null; its size from curl): what is timed is the server's
# answer, not the client writing 33 MB into a file, fresh page-cache pages
# that on this VM cost 20-40 ms of the round trip (a scraper parses the
# text in memory it reuses).
get() {
	local c0 c1 w
	c0=$(cpu_ns)
	w=$(nsx "$NS_R" curl -sS --cacert "$TMP/ca.pem" --cert "$TMP/client.pem" --key "$TMP/client.key" \
		--resolve "router.test:$PORT:127.0.0.1" -o /dev/null \
		-w '%{http_code} %{time_appconnect} %{time_starttransfer} %{time_total} %{size_download}' "$URL$1")
	c1=$(cpu_ns)
	read -r code tls first total size <<<"$w"
	[ "$code" = 200 ] || { echo "GET $1: ${code:-no answer}"; return 1; }
	awk -v t="$tls" -v f="$first" -v e="$total" -v b="$size" -v c=$((c1 - c0)) \
		'BEGIN { printf "%d %d %d %d\n", (e - t) * 1e6, b, c / 1000, (f - t) * 1e6 }'
}

RES=$TMP/results.tsv
: >"$RES"
log "PUT at 1 rule ($REPS times)"
for r in $(seq "$REPS"); do
	x=$(put 1 $((r % 2))) || die "PUT 1 rule failed: $x"
	echo "put-1 $x" >>"$RES"
done
log "PATCH at 1 rule ($REPS times)"
for r in $(seq "$REPS"); do
	x=$(patch 1 $(((r + REPS) % 2))) || die "PATCH 1 rule failed: $x"
	echo "patch-1 $x" >>"$RES"
done
log "PUT of 100,000 rules (from 1)"
x=$(put 100000 0) || die "PUT 100k failed: $x"
echo "put-100k-first $x" >>"$RES"
log "PUT at 100,000 rules, one changed ($REPS times)"
for r in $(seq "$REPS"); do
	x=$(put 100000 $((r % 2))) || die "PUT 100k failed: $x"
	echo "put-100k $x" >>"$RES"
done
log "PATCH at 100,000 rules, one line replaced ($REPS times)"
for r in $(seq "$REPS"); do
	x=$(patch 100000 $(((r + REPS) % 2))) || die "PATCH 100k failed: $x"
	echo "patch-100k $x" >>"$RES"
done
for p in /api/status /metrics; do
	log "GET $p at 100,000 rules ($REPS times)"
	for _ in $(seq "$REPS"); do
		x=$(get $p) || die "GET $p failed: $x"
		echo "get-$(basename $p) $x" >>"$RES"
	done
done
log "xmasqd idle with 100,000 rules (${IDLE_S} s)"
ticks() { awk '{ print $14 + $15 }' "/proc/$XMD_PID/stat"; }
t0=$(ticks) w0=$(date +%s%N)
sleep "$IDLE_S"
t1=$(ticks) w1=$(date +%s%N)
echo "idle-cpu $(((t1 - t0) * 1000000000 / $(getconf CLK_TCK))) $((w1 - w0))" >>"$RES"
# VmRSS counts the mmapped rule_meta map's pages too (kernel memory shared
# with the data plane): the parts say how much is the daemon's own heap.
status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$XMD_PID/status"; }
# Where the resident memory is, by mapping (heap, libraries, BPF maps):
awk '/^[0-9a-f]+-[0-9a-f]+ / { name = NF >= 6 ? $6 : "[anon]" }
	$1 == "Rss:" { kb[name] += $2 }
	END { for (n in kb) if (kb[n] >= 512) printf "%8d kB  %s\n", kb[n], n }' \
	"/proc/$XMD_PID/smaps" | sort -rn >"$OUT/xmasqd-smaps.txt"
log "resident by mapping (>= 512 kB): $(tr -s ' \n' ' ' <"$OUT/xmasqd-smaps.txt")"
echo "rss $(status_kb VmRSS) $(status_kb VmHWM) $(status_kb RssAnon) $(status_kb RssFile) $(status_kb RssShmem)" >>"$RES"
# After the idle time xmasqd has let go of what it keeps between requests
# (the flow table and rule_meta mapped, the snapshot's rules array): the
# first request after it is the one a scraper every 15-60 s gets.
log "GET /api/status and /metrics once each after ${IDLE_S} s idle"
for p in /api/status /metrics; do
	sleep "$IDLE_S"
	x=$(get $p) || die "GET $p failed: $x"
	echo "cold-$(basename $p) $x" >>"$RES"
done

python3 - "$RES" "$OUT" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(uname -r)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json, statistics, sys
res, out, cpu, kernel, ncpu, load = sys.argv[1:]
rows = {}
for line in open(res):
    k, *v = line.split()
    rows.setdefault(k, []).append([float(x) for x in v])

def col(k, i):
    return [r[i] for r in rows.get(k, []) if r[i] == r[i]]  # NaN: not measured

def fmt(v, unit):
    if not v:
        return "-"
    m = statistics.median(v)
    s = lambda x: ("%.2f ms" % (x / 1000)) if unit == "us" else "%d" % x
    return "%s [%s-%s]" % (s(m), s(min(v)), s(max(v))) if len(v) > 1 else s(m)

j = {"cpu": cpu, "kernel": kernel, "cpus": int(ncpu), "loadavg": load}
md = ["| what | switch (`us`) | request read to live (`request_us`) | to saved (`saved_us`) | round trip (curl) | xmasqd CPU |",
      "|---|---|---|---|---|---|"]
for k, what in (("put-1", "PUT /api/rules, 1 rule, one changed"),
                ("put-100k-first", "PUT /api/rules, 1 -> 100,000 rules"),
                ("put-100k", "PUT /api/rules, 100,000 rules, one changed"),
                ("patch-1", "PATCH /api/rules, 1 rule, its line replaced"),
                ("patch-100k", "PATCH /api/rules, 100,000 rules, one line replaced")):
    j[k] = {"switch_us": col(k, 0), "request_us": col(k, 1), "roundtrip_us": col(k, 2),
            "saved_us": col(k, 3), "cpu_us": col(k, 4), "incremental": col(k, 5)}
    inc = col(k, 5)
    what += " (line by line)" if inc and all(inc) else ""
    md.append("| %s | %s | %s | %s | %s | %s |" % (what, fmt(col(k, 0), "us"), fmt(col(k, 1), "us"),
                                                fmt(col(k, 3), "us"), fmt(col(k, 2), "us"), fmt(col(k, 4), "us")))
for k, what in (("get-status", "GET /api/status, 100,000 rules"), ("get-metrics", "GET /metrics, 100,000 rules"),
                ("cold-status", "GET /api/status, 100,000 rules, first after idle"),
                ("cold-metrics", "GET /metrics, 100,000 rules, first after idle")):
    j[k] = {"roundtrip_us": col(k, 0), "bytes": col(k, 1), "cpu_us": col(k, 2), "firstbyte_us": col(k, 3)}
    size = (col(k, 1) or [0])[0]
    size = "%.1f MB" % (size / 1e6) if size >= 1e6 else "%.1f kB" % (size / 1e3)
    md.append("| %s (%s) | | | | %s (first byte %s) | %s |" % (what, size, fmt(col(k, 0), "us"), fmt(col(k, 3), "us"),
                                                              fmt(col(k, 2), "us")))
cpu_ns, wall_ns = rows["idle-cpu"][0]
rss, hwm, anon, file_, shmem = (rows["rss"][0] + [float("nan")] * 5)[:5]
j["idle"] = {"cpu_percent": 100 * cpu_ns / wall_ns, "rss_kb": rss, "peak_rss_kb": hwm,
             "rss_anon_kb": anon, "rss_file_kb": file_, "rss_shmem_kb": shmem}
md.append("")
md.append("xmasqd idle with 100,000 rules: %.2f %% of a CPU over %.0f s; resident %.1f MB (peak %.1f MB, while serving the above); "
          "of the resident: %.1f MB its own heap and stacks (RssAnon), %.1f MB files and libraries (RssFile), %.1f MB shared memory "
          "such as mmapped BPF maps (RssShmem)"
          % (100 * cpu_ns / wall_ns, wall_ns / 1e9, rss / 1024, hwm / 1024, anon / 1024, file_ / 1024, shmem / 1024))
md.append("")
md.append("%s, %s CPUs, Linux %s, load average %s at the end" % (cpu, ncpu, kernel, load))
json.dump(j, open(out + "/xmasqd.json", "w"), indent=1)
open(out + "/xmasqd.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
