#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""tools/bench/report.py RAW OUTDIR [CT_MEM_FILE] [--quick]

Turns bench.sh's raw measurements (lines "scenario<TAB>system<TAB>value")
into results.json (the shape other tools read), results.md (table with
ratios ours/iptables and ours/bare; IPv6 against IPv4, the kernel and
bare) and results.png (gnuplot).
"""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

# name -> (unit, higher_is_better, what it measures); order = table order
SCENARIOS = [
    ("udp64-1flow", "Mpps", True, "64-byte UDP, one established flow"),
    ("udp64-10kflows", "Mpps", True, "64-byte UDP over 10,000 flows"),
    ("udp64-10kflows-2cpu", "Mpps", True, "the same from both CPUs at once, 5,000 flows each"),
    ("newflows", "Mpps", True, "64-byte UDP, every packet a new flow"),
    ("newflows-masq", "Mpps", True, "the same masqueraded (no forward): 256 flows a mapping"),
    ("udp6-1flow", "Mpps", True, "IPv6 6->6, the same UDP datagram (84-byte frame), one flow"),
    ("udp6-10kflows", "Mpps", True, "IPv6 6->6 over 10,000 flows"),
    ("udp6to4-1flow", "Mpps", True, "IPv6 clients of an IPv4 backend (6->4), one flow; xmasq only"),
    ("udp6to4-10kflows", "Mpps", True, "6->4 over 10,000 flows"),
    ("newflows6", "Mpps", True, "IPv6 6->6, every packet a new flow (newflows in IPv6)"),
    ("newflows6to4", "Mpps", True, "6->4, every packet a new flow"),
    ("newflows-60k", "Mpps", True, "IPv4, bursts of 60,000 new flows (the IPv6 bursts' yardstick)"),
    ("newflows6-60k", "Mpps", True, "IPv6 6->6, bursts of 60,000 new flows"),
    ("newflows6to4-60k", "Mpps", True, "6->4, bursts of 60,000 new flows"),
    ("rules-1", "Mpps", True, "new flows with 1 forward rule"),
    ("rules-1k", "Mpps", True, "new flows with 1,000 rules (ours last)"),
    ("rules-100k", "Mpps", True, "new flows with 100,000 rules (ours last)"),
    ("flows-1k", "Mpps", True, "64-byte UDP cycling over 1,000 flows"),
    ("flows-100k", "Mpps", True, "... over 100,000 flows"),
    ("flows-1m", "Mpps", True, "... over 1,000,000 flows"),
    ("tcp-bulk-1", "Gbit/s", True, "iperf3, one TCP stream"),
    ("tcp-bulk-8", "Gbit/s", True, "iperf3, 8 TCP streams"),
    ("tcp-rr", "k trans/s", True, "1-byte TCP request/response"),
    ("tcp-cps", "k conn/s", True, "HTTP to nginx, a new TCP connection per request (no bare: no NAT)"),
    ("apply-100k", "us", False, "apply one changed rule on a 100k-rule set"),
    ("prog-ns-bare", "ns/pkt", False, "BPF_PROG_TEST_RUN: bare redirect program"),
    ("prog-ns-fastpath", "ns/pkt", False, "test run: xmasq XDP, established flow"),
    ("prog-ns-newflow", "ns/pkt", False, "test run: xmasq XDP, every packet a new flow"),
    ("prog-ns-reply", "ns/pkt", False, "test run: xmasq XDP, reply direction"),
    ("prog-ns-fastpath6", "ns/pkt", False, "test run: xmasq XDP, established IPv6 6->6 flow"),
    ("prog-ns-newflow6", "ns/pkt", False, "test run: xmasq XDP, every packet a new IPv6 6->6 flow"),
    ("prog-ns-newflow6to4", "ns/pkt", False, "test run: xmasq XDP, every packet a new 6->4 flow"),
]
SYSTEMS = ["bare", "xmasq-xdp", "xmasq-tc", "iptables", "nftables"]
OURS = ["xmasq-xdp", "xmasq-tc"]
AA = "xmasq-xdp-aa"  # xmasq-xdp measured again as if another system
BASE = "xmasq-xdp-base"  # another build's xmasq-xdp (bench.sh BASE=DIR)
# The A/A control's allowed spread: its median ratio must be within this of
# 1.00 on every live scenario, or differences this size can't be judged.
AA_SPREAD = 0.05
# IPv6 (issue 14): each IPv6 scenario against xmasq's own IPv4 rate, the
# kernel's (ip6tables) and bare's (its redirect of IPv6 frames), each from
# the row named: 6->4 has no kernel or bare row of its own (no NAT64; bare
# would redirect the same IPv6 frames as in 6->6).
V6_ROWS = [  # IPv6 row, IPv4 row, kernel row, bare row
    ("udp6-1flow", "udp64-1flow", "udp6-1flow", "udp6-1flow"),
    ("udp6-10kflows", "udp64-10kflows", "udp6-10kflows", "udp6-10kflows"),
    ("newflows6", "newflows", "newflows6", "newflows6"),
    ("newflows6-60k", "newflows-60k", "newflows6-60k", "newflows6-60k"),
    ("udp6to4-1flow", "udp64-1flow", "udp6-1flow", "udp6-1flow"),
    ("udp6to4-10kflows", "udp64-10kflows", "udp6-10kflows", "udp6-10kflows"),
    ("newflows6to4", "newflows", "newflows6", "newflows6"),
    ("newflows6to4-60k", "newflows-60k", "newflows6-60k", "newflows6-60k"),
]
V6_NAMES = {r[0] for r in V6_ROWS}
V6_OVER_V4 = 0.9  # target: IPv6 at least 0.9x xmasq's own IPv4 rate
V6_OVER_KERNEL = 5  # ... and at least 5x the kernel's


def cpu_info():
    """The CPU model, microcode and the kernel's mitigations, which decide
    what a call, a return or a TLB miss costs (and so these figures)."""
    cpu, microcode = "?", "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and cpu == "?":
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("microcode") and microcode == "?":
                microcode = line.split(":", 1)[1].strip()
    vulns = {}
    vdir = "/sys/devices/system/cpu/vulnerabilities"
    if os.path.isdir(vdir):
        for name in sorted(os.listdir(vdir)):
            try:
                vulns[name] = open(os.path.join(vdir, name)).read().strip()
            except OSError:
                pass
    return {"cpu": cpu, "microcode": microcode, "kernel": platform.release(),
            "cores": os.cpu_count(), "vulnerabilities": vulns}


def machine(info):
    return "%s, %s, %d cores" % (info["kernel"], info["cpu"], info["cores"])


def mitigations_line(vulns):
    """The mitigations that put work on every call or return (retpolines,
    return thunks, IBRS...) in one line: the rest are listed in the JSON."""
    keep = ("spectre_v2", "retbleed", "spec_rstack_overflow", "srbds", "gather_data_sampling",
            "its", "mds", "tsa")
    return "; ".join("%s: %s" % (k, vulns[k]) for k in keep if k in vulns) or "-"


def quantiles(vals):
    """Median and quartiles (inclusive method: defined for 2+ values)."""
    if len(vals) < 2:
        return vals[0], vals[0], vals[0]
    q1, q2, q3 = statistics.quantiles(vals, n=4, method="inclusive")
    return q1, q2, q3


def stats(vals):
    q1, med, q3 = quantiles(vals)
    return {"median": round(med, 4), "q1": round(q1, 4), "q3": round(q3, 4),
            "min": round(min(vals), 4), "max": round(max(vals), 4), "runs": len(vals)}


def paired_ratios(data, other):
    """Per live scenario: the ratio xmasq-xdp / OTHER of each repetition
    (paired in order: both ran in the same rotation), with its median and
    quartiles and whether the median is within AA_SPREAD of 1."""
    rows = []
    for name, unit, _, _ in SCENARIOS:
        d = data.get(name, {})
        if unit != "Mpps" or "xmasq-xdp" not in d or other not in d:
            continue
        pairs = [a / b for a, b in zip(d["xmasq-xdp"], d[other]) if b > 0]
        if not pairs:
            continue
        q1, med, q3 = quantiles(pairs)
        rows.append({"scenario": name, "median": round(med, 4), "q1": round(q1, 4),
                     "q3": round(q3, 4), "within": abs(med - 1) <= AA_SPREAD})
    return rows


def pair_stats(a, b):
    """Median and quartiles of the per-repetition ratios a[i] / b[i] (the
    i-th runs of both: the same repetition), or None."""
    pairs = [x / y for x, y in zip(a, b) if y > 0]
    if not pairs:
        return None
    q1, med, q3 = quantiles(pairs)
    return {"median": round(med, 4), "q1": round(q1, 4), "q3": round(q3, 4), "pairs": len(pairs)}


def ipv6_ratios(data):
    """Per IPv6 scenario and xmasq mode: IPv6 / IPv4 (xmasq's own), / the
    kernel (ip6tables, and nft), / bare, each paired by repetition."""
    rows = []
    for v6, v4, kern, bare in V6_ROWS:
        d6 = data.get(v6, {})
        for ours in OURS:
            if ours not in d6:
                continue
            row = {"scenario": v6, "system": ours,
                   "mpps": round(statistics.median(d6[ours]), 4)}
            for key, ref, other in (("over_ipv4", v4, ours), ("over_iptables", kern, "iptables"),
                                    ("over_nftables", kern, "nftables"), ("over_bare", bare, "bare")):
                ps = pair_stats(d6[ours], data.get(ref, {}).get(other, []))
                if ps:
                    ps["against"] = "%s %s" % (ref, other)
                    row[key] = ps
            rows.append(row)
    return rows


def aa_control(data):
    """The A/A control's pairs, and whether the run can judge differences
    of AA_SPREAD (every scenario's A/A median within it)."""
    rows = paired_ratios(data, AA)
    return rows, all(r["within"] for r in rows)


def fmt(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.3g" % v


def bytes_per_flow(path):
    """A "bytes_memlock conntrack_max live_flows" file of the flow table as
    (bytes per flow of its size, bytes per live flow), or None."""
    if not path or not os.path.exists(path):
        return None
    try:
        mem, flows, live = (int(x) for x in open(path).read().split())
        return round(mem / flows, 1), round(mem / live, 1)
    except (ValueError, ZeroDivisionError):
        return None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    raw, out = args[0], args[1]
    ct_mem = args[2] if len(args) > 2 else None
    data = {}
    with open(raw) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                continue
            try:
                data.setdefault(parts[0], {}).setdefault(parts[1], []).append(float(parts[2]))
            except ValueError:
                pass
    date = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    info = cpu_info()
    doc = {"date": date, "machine": machine(info), "machine_detail": info, "scenarios": []}
    aa_rows, aa_ok = aa_control(data)
    if aa_rows:
        doc["aa_control"] = {"spread": AA_SPREAD, "judgeable": aa_ok, "scenarios": aa_rows}
    base_rows = paired_ratios(data, BASE)
    if base_rows:
        doc["base_comparison"] = {"spread": AA_SPREAD, "scenarios": base_rows}
    v6_rows = ipv6_ratios(data)
    if v6_rows:
        doc["ipv6"] = {"cpu": info["cpu"], "targets": {"over_ipv4": V6_OVER_V4,
                                                       "over_iptables": V6_OVER_KERNEL},
                       "rows": v6_rows}
    for name, unit, hib, _ in SCENARIOS:
        if name not in data:
            continue
        res = {s: stats(data[name][s]) for s in SYSTEMS + [AA, BASE] if s in data[name]}
        if name == "tcp-cps":
            # every run's failures and slow connections, summed: a figure
            # with any failure is suspect
            for s in res:
                for k in ("failed", "slow"):
                    res[s][k] = int(sum(data.get("tcp-cps-" + k, {}).get(s, [])))
                res[s]["longest_ms"] = max(data.get("tcp-cps-longest-ms", {}).get(s, [0]))
                res[s]["suspect"] = res[s]["failed"] > 0
        doc["scenarios"].append({"name": name, "unit": unit, "higher_is_better": hib, "results": res})
    extra = {}
    if "prog-ns-wrapper" in data:
        extra["prog_ns_wrapper_ns"] = stats(data["prog-ns-wrapper"]["wrapper"])
    if "gen-sink-direct" in data:
        extra["gen_sink_direct_mpps"] = stats(data["gen-sink-direct"]["direct"])
    if "gen-sink-direct6" in data:
        extra["gen_sink_direct6_mpps"] = stats(data["gen-sink-direct6"]["direct"])
    if "apply-100k-cmd" in data:
        extra["apply_100k_xmasq_command_us"] = stats(data["apply-100k-cmd"]["xmasq-xdp"])
    per_flow = bytes_per_flow(ct_mem)
    if per_flow is not None:
        extra["xmasq_flow_table_bytes_per_flow"] = per_flow[0]
        extra["xmasq_flow_table_bytes_per_live_flow_flows_1m"] = per_flow[1]
    if "prog-ns-fastpath-1m" in data:
        extra["prog_ns_fastpath_1m_flows_ns"] = stats(data["prog-ns-fastpath-1m"]["xmasq-xdp"])
    if extra:
        doc["notes"] = extra
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    # ---- markdown ----
    lines = ["Date: %s  " % date, "Machine: %s  " % doc["machine"],
             "Microcode %s; mitigations: %s  " % (info["microcode"], mitigations_line(info["vulnerabilities"])),
             "Run: %s; value = median of the runs, [interquartile range] below it.\n" % (
                 "QUICK=1" if quick else "full")]
    if aa_rows:
        worst = max(aa_rows, key=lambda x: abs(x["median"] - 1))
        if aa_ok:
            lines.append("**A/A control: judgeable.** xmasq-xdp measured twice as two systems came out "
                         "within ±%d %% of itself on every live scenario (worst %s: %.3fx), so "
                         "differences larger than that are not noise.\n" % (
                             AA_SPREAD * 100, worst["scenario"], worst["median"]))
        else:
            lines.append("**A/A control: TOO NOISY TO JUDGE.** xmasq-xdp measured twice as two systems "
                         "differs from itself by more than ±%d %% (%s: %.3fx, IQR %.3f-%.3f): "
                         "differences of that size in this run are noise; run again on a quieter "
                         "machine.\n" % (AA_SPREAD * 100, worst["scenario"], worst["median"],
                                         worst["q1"], worst["q3"]))
    lines += ["| scenario | unit | " + " | ".join(SYSTEMS) + " | xdp/iptables | xdp/bare | tc/iptables |",
              "|---|---|" + "---|" * len(SYSTEMS) + "---|---|---|"]
    for sc in doc["scenarios"]:
        r = sc["results"]
        cells = []
        for s in SYSTEMS:
            if s in r:
                cells.append("%s%s<br>[%s-%s]" % (fmt(r[s]["median"]), " (!)" if r[s].get("suspect") else "",
                                                  fmt(r[s]["q1"]), fmt(r[s]["q3"])))
            else:
                cells.append("-")

        def ratio(a, b):
            if a not in r or b not in r or not r[b]["median"] or not r[a]["median"]:
                return "-"
            x = r[a]["median"] / r[b]["median"]
            # "x better": for costs (lower is better) the ratio is inverted
            return "%.2fx" % (x if sc["higher_is_better"] else 1 / x)
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            sc["name"], sc["unit"], " | ".join(cells), ratio("xmasq-xdp", "iptables"),
            ratio("xmasq-xdp", "bare"), ratio("xmasq-tc", "iptables")))
    if any(sc["name"] in V6_NAMES for sc in doc["scenarios"]):
        lines.append("\nIPv6 rows: `iptables` is ip6tables and `nftables` nft's `table ip6`, each "
                     "DNAT + MASQUERADE; `bare` is the bare program's redirect of IPv6 frames. "
                     "udp6to4-* and newflows6to4 (6->4) are xmasq's alone: the kernel has no NAT64.")
    cps = next((sc for sc in doc["scenarios"] if sc["name"] == "tcp-cps"), None)
    if cps:
        r = cps["results"]
        lines.append("\ntcp-cps, all runs: failed connections (refused, reset, timed out, non-2xx; "
                     "(!) above: any failure makes the figure suspect), connections over 1 s "
                     "(a SYN or segment lost and resent), the longest:\n")
        lines.append("| | " + " | ".join(s for s in SYSTEMS if s in r) + " |")
        lines.append("|---|" + "---|" * len(r))
        for k, what in (("failed", "failed"), ("slow", "over 1 s"), ("longest_ms", "longest (ms)")):
            lines.append("| %s | %s |" % (what, " | ".join("%d" % r[s][k] for s in SYSTEMS if s in r)))
    # The live rates include the generator's and the sink's work (all on
    # one CPU); without them, what each router costs a packet:
    direct = extra.get("gen_sink_direct_mpps", {}).get("median")
    direct6 = extra.get("gen_sink_direct6_mpps", {}).get("median")
    live = [sc for sc in doc["scenarios"] if sc["unit"] == "Mpps" and
            (direct6 or sc["name"] not in V6_NAMES)]
    if direct and live:
        lines.append("\nRouter's own cost, ns per packet = 1000/Mpps - 1000/%.3g "
                     "(the generator and sink alone, no router: %.3g Mpps%s):\n" % (
                         direct, direct, "; IPv6 rows: 1000/%.3g, IPv6 frames" % direct6
                         if direct6 else ""))
        lines.append("| scenario | " + " | ".join(SYSTEMS) + " | iptables/xdp | xdp/bare |")
        lines.append("|---|" + "---|" * len(SYSTEMS) + "---|---|")
        for sc in live:
            r = sc["results"]
            d = direct6 if sc["name"] in V6_NAMES else direct
            cost = {s: 1000 / r[s]["median"] - 1000 / d for s in SYSTEMS
                    if s in r and r[s]["median"] > 0}
            cells = ["%.0f" % cost[s] if s in cost else "-" for s in SYSTEMS]
            def cr(a, b):
                if a in cost and b in cost and cost[b] > 0:
                    return "%.2fx" % (cost[a] / cost[b])
                return "-"
            lines.append("| %s | %s | %s | %s |" % (sc["name"], " | ".join(cells),
                                                    cr("iptables", "xmasq-xdp"), cr("bare", "xmasq-xdp")))
    lines.append("\nRatios are \"times as good\": rate ratios for rates, inverse ratios for costs "
                 "(ns, us), so > 1 always means xmasq is better.")
    one, two = (next((sc["results"] for sc in doc["scenarios"] if sc["name"] == n), None)
                for n in ("udp64-10kflows", "udp64-10kflows-2cpu"))
    if one and two:
        lines.append("\nTwo cores: udp64-10kflows-2cpu / udp64-10kflows (target 1.9x; below it, something "
                     "written per packet is shared between the CPUs):\n")
        lines.append("| " + " | ".join(s for s in SYSTEMS if s in one and s in two) + " |")
        lines.append("|" + "---|" * len([s for s in SYSTEMS if s in one and s in two]))
        lines.append("| " + " | ".join("%.2fx" % (two[s]["median"] / one[s]["median"]) for s in SYSTEMS
                                       if s in one and s in two and one[s]["median"]) + " |")
    if v6_rows:
        def cell(row, key, target=None):
            ps = row.get(key)
            if not ps:
                return "-"
            mark = ""
            if target is not None:
                mark = " met" if ps["median"] >= target else " **missed**"
            return "%.2fx [%.2f-%.2f]%s" % (ps["median"], ps["q1"], ps["q3"], mark)
        lines.append("\nIPv6 against its targets (%s; each a median of the per-repetition ratios "
                     "[IQR]; IPv6/IPv4: xmasq's own IPv4 row in the same mode, target >= %.1fx; "
                     "/ip6tables: target >= %dx; udp6to4 rows against the 6->6 row's ip6tables "
                     "and bare; newflows6 and newflows6to4 against newflows, the *-60k bursts against newflows-60k):\n"
                     % (info["cpu"], V6_OVER_V4, V6_OVER_KERNEL))
        lines.append("| scenario | system | Mpps | IPv6/IPv4 | /ip6tables | /nft ip6 | /bare (IPv6) |")
        lines.append("|---|---|---|---|---|---|---|")
        for row in v6_rows:
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                row["scenario"], row["system"], fmt(row["mpps"]),
                cell(row, "over_ipv4", V6_OVER_V4), cell(row, "over_iptables", V6_OVER_KERNEL),
                cell(row, "over_nftables"), cell(row, "over_bare")))
    if aa_rows:
        lines.append("\nA/A control (xmasq-xdp / %s, each repetition's pair; must be 1.00 ± %.2f):\n"
                     % (AA, AA_SPREAD))
        lines.append("| scenario | median | IQR | within |")
        lines.append("|---|---|---|---|")
        for a in aa_rows:
            lines.append("| %s | %.3fx | %.3f-%.3f | %s |" % (a["scenario"], a["median"], a["q1"], a["q3"],
                                                          "yes" if a["within"] else "**no**"))
    if base_rows:
        lines.append("\nThis build against another (xmasq-xdp / %s, each repetition's pair, the same "
                     "rotation; within = median within 1.00 ± %.2f%s):\n"
                     % (BASE, AA_SPREAD, "" if aa_ok or not aa_rows else
                        "; the A/A control above says this run cannot judge that"))
        lines.append("| scenario | this build, Mpps | other build, Mpps | ratio (median) | IQR | within |")
        lines.append("|---|---|---|---|---|---|")
        for b in base_rows:
            r = next(sc["results"] for sc in doc["scenarios"] if sc["name"] == b["scenario"])
            lines.append("| %s | %s | %s | %.3fx | %.3f-%.3f | %s |" % (
                b["scenario"], fmt(r["xmasq-xdp"]["median"]), fmt(r[BASE]["median"]), b["median"],
                b["q1"], b["q3"], "yes" if b["within"] else "**no**"))
    if extra:
        lines.append("\nNotes: " + json.dumps(extra))
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")

    # ---- plot: each scenario's medians relative to the best system ----
    dat = os.path.join(out, "results.dat")
    with open(dat, "w") as f:
        f.write("scenario " + " ".join(SYSTEMS) + "\n")
        for sc in doc["scenarios"]:
            r = sc["results"]
            vals = [r[s]["median"] for s in SYSTEMS if s in r and r[s]["median"] > 0]
            if not vals:
                continue
            best = max(vals) if sc["higher_is_better"] else min(vals)
            row = []
            for s in SYSTEMS:
                if s in r and r[s]["median"] > 0:
                    m = r[s]["median"]
                    row.append("%.4f" % (m / best if sc["higher_is_better"] else best / m))
                else:
                    row.append("0")
            f.write("%s %s\n" % (sc["name"], " ".join(row)))
    gp = """set terminal pngcairo size 1400,600 font "sans,10"
set output '%s'
set title "xmasq bench %s (%s): each scenario relative to its best system (1 = best)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set yrange [0:1.1]
set ylabel "relative performance"
set xtics rotate by -35
set key outside right top
set grid ytics
plot for [i=2:%d] '%s' using i:xtic(1) title columnheader(i)
""" % (os.path.join(out, "results.png"), date, doc["machine"].replace('"', ""), len(SYSTEMS) + 1, dat)
    gpf = os.path.join(out, "results.gp")
    with open(gpf, "w") as f:
        f.write(gp)
    subprocess.run(["gnuplot", gpf], check=False)
    print("\n".join(lines))
    print("\nwritten: %s/results.json results.md results.png" % out)


if __name__ == "__main__":
    main()
