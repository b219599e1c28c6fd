#!/usr/bin/env python3
"""Where a prog-ns scenario's time goes, by BPF source line.

profile.py PERF_SCRIPT JITLINES NS_PER_PACKET TITLE > report.md

PERF_SCRIPT: `perf script -F ip,sym` of a recording of the task that ran
the test (with -g, only samples inside bpf_test_run count; idle ones are
left out). JITLINES: build/bench/jitlines's output (each BPF function's
address range, each source line's address). NS_PER_PACKET: the
scenario's time per repetition, to turn shares into nanoseconds. A sample
inside a BPF function is given to the source line whose code starts last
at or before it; any other sample to its kernel symbol.
"""
import bisect
import collections
import sys

# What the test harness itself costs (BPF_PROG_TEST_RUN's loop, the
# bench's wrapper program): left out of the program's share.
HARNESS = ("xb_wrap", "bpf_test_run", "bpf_test_timer", "__local_bh_enable_ip",
           "bpf_dispatcher_xdp", "bpf_prog_test_run", "__cond_resched")


def read_jitlines(path):
    funcs, lines = [], []
    with open(path) as f:
        for row in f:
            p = row.rstrip("\n").split("\t")
            if p[0] == "F" and len(p) >= 5:
                start = int(p[1], 16)
                funcs.append((start, start + int(p[2]), p[3], p[4]))
            elif p[0] == "L" and len(p) >= 4:
                lines.append((int(p[1], 16), p[3], p[4] if len(p) > 4 else ""))
    funcs.sort()
    lines.sort()
    return funcs, lines


def read_samples(path):
    """The samples: (address, symbol) of each. perf script prints a sample
    a line, or with call chains (perf record -g) a block of frames, leaf
    first, blocks apart by blank lines: then only the samples taken inside
    the test run (a frame in bpf_test_run) count, not the loading and
    freeing of the harness's own maps around it."""
    with open(path) as f:
        rows = [r.split() for r in f]
    chains = any(not r for r in rows)
    blocks, frames = [], []
    for p in rows + [[]]:
        if not p or not chains:
            if frames:
                blocks.append(frames)
            frames = []
        if not p:
            continue
        try:
            frames.append((int(p[0], 16), p[1] if len(p) > 1 else "[unknown]"))
        except ValueError:
            continue
    if chains:
        blocks = [b for b in blocks if any(sym == "bpf_test_run" for _, sym in b)]
    return [b[0] for b in blocks]


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    funcs, lines = read_jitlines(sys.argv[2])
    samples = read_samples(sys.argv[1])
    ns = float(sys.argv[3])
    title = sys.argv[4]
    if not samples:
        sys.exit("profile.py: no samples in %s (was perf recording the test's task?)" % sys.argv[1])
    starts = [f[0] for f in funcs]
    line_at = [l[0] for l in lines]
    by_func, by_line, by_file, by_kernel = (collections.Counter() for _ in range(4))
    harness = idle = bpf = 0
    for ip, sym in samples:
        i = bisect.bisect_right(starts, ip) - 1
        if i >= 0 and ip < funcs[i][1]:
            start, _, prog, fname = funcs[i]
            if prog.startswith("xb_"):
                harness += 1
                continue
            bpf += 1
            by_func["%s (%s)" % (fname, prog)] += 1
            j = bisect.bisect_right(line_at, ip) - 1
            if j >= 0 and line_at[j] >= start:
                by_line[(lines[j][1], lines[j][2].strip()[:80])] += 1
                by_file[lines[j][1].split(":")[0]] += 1
            else:
                by_line[("?", fname)] += 1
                by_file["?"] += 1
        elif "idle" in sym or "halt" in sym:
            idle += 1
        elif sym.startswith(HARNESS) or any(sym.startswith("bpf_prog_") and h in sym for h in HARNESS):
            harness += 1
        else:
            by_kernel[sym] += 1
    total = len(samples) - idle
    if total <= 0:
        sys.exit("profile.py: every sample was idle: perf recorded something else")
    kernel = sum(by_kernel.values())

    def share(n):
        return 100.0 * n / total

    def est(n):
        return ns * n / total

    print("# %s\n" % title)
    print("%d samples of the test's task (%d idle left out); %.0f ns a repetition. "
          "Shares are of the busy samples; ns are those shares of the repetition's time.\n"
          % (len(samples), idle, ns))
    print("| part | share | ns |\n|---|---|---|")
    print("| xmasq's BPF code | %.1f %% | %.1f |" % (share(bpf), est(bpf)))
    print("| kernel functions it calls (helpers, FIB, socket lookups, ...) | %.1f %% | %.1f |"
          % (share(kernel), est(kernel)))
    print("| the harness (BPF_PROG_TEST_RUN, the bench's wrapper) | %.1f %% | %.1f |\n"
          % (share(harness), est(harness)))
    print("## BPF functions\n\n| function | share | ns |\n|---|---|---|")
    for k, n in by_func.most_common(20):
        print("| %s | %.1f %% | %.1f |" % (k, share(n), est(n)))
    print("\n## Source files (BPF)\n\n| file | share | ns |\n|---|---|---|")
    for k, n in by_file.most_common():
        print("| %s | %.1f %% | %.1f |" % (k, share(n), est(n)))
    print("\n## Kernel functions\n\n| function | share | ns |\n|---|---|---|")
    for k, n in by_kernel.most_common(15):
        print("| %s | %.1f %% | %.1f |" % (k, share(n), est(n)))
    print("\n## Source lines (BPF), the busiest 40\n\n| line | share | ns | source |\n|---|---|---|---|")
    for (loc, src), n in by_line.most_common(40):
        print("| %s | %.1f %% | %.1f | `%s` |" % (loc, share(n), est(n), src.replace("|", "\\|").replace("`", "'")))


if __name__ == "__main__":
    main()
