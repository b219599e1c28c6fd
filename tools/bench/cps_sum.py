#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""tools/bench/cps_sum.py PREFIX N

Sums the N ab runs of one tcp-cps measurement (bench.sh cps_run):
PREFIX.I.txt is ab's report with a last line "exit CODE", PREFIX.I.tsv its
-g file (one line per connection). Writes PREFIX.json: connections, cps
(the clients' rates added), failed (failed requests, non-2xx answers, and
one per ab that did not end normally), slow (connections that took over
1 s), longest_ms, why (ab's lines about the failures). Exit 1 when no connection completed.
"""
import json
import sys


def main():
    f, n = sys.argv[1], int(sys.argv[2])
    conns = failed = slow = 0
    why = []
    rate = longest = 0.0
    for i in range(1, n + 1):
        v = {}
        text = open("%s.%d.txt" % (f, i)).read()
        for line in text.splitlines():
            k, _, rest = line.partition(":")
            w = rest.split()
            if k in ("Complete requests", "Failed requests", "Non-2xx responses") and w:
                v[k] = int(w[0])
            elif k == "Time taken for tests" and w:
                v["t"] = float(w[0])
            elif line.startswith("exit "):
                v["exit"] = int(line.split()[1])
        done = v.get("Complete requests", 0)
        conns += done
        failed += v.get("Failed requests", 0) + v.get("Non-2xx responses", 0)
        for line in text.splitlines():
            # ab's breakdown: "(Connect: 0, Receive: 2, Length: 0, Exceptions: 0)"
            if line.startswith("   (Connect:") or line.startswith("Non-2xx") or "apr_" in line:
                why.append("ab %d: %s" % (i, line.strip()))
        if v.get("exit", 1) != 0 or not v.get("t"):
            # ab gave up (or was killed): what it had open is lost
            failed += 1
            why.append("ab %d exit %s: %s" % (i, v.get("exit", "?"), text[-300:].strip()))
        else:
            rate += done / v["t"]
        try:  # ab -g: tab-separated, ttime (ms, connect to close) 5th
            with open("%s.%d.tsv" % (f, i)) as g:
                next(g)
                for line in g:
                    ms = float(line.split("\t")[4])
                    slow += ms > 1000
                    longest = max(longest, ms)
        except (OSError, StopIteration, IndexError, ValueError):
            pass
    with open(f + ".json", "w") as out:
        json.dump({"connections": conns, "cps": round(rate, 1), "failed": failed,
                   "slow": slow, "longest_ms": longest, "why": why}, out)
    sys.exit(0 if conns else 1)


if __name__ == "__main__":
    main()
