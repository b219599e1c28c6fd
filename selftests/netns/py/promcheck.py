#!/usr/bin/env python3
"""A strict reader of the Prometheus text format (0.0.4), run whether or
not promtool is installed: every family has HELP and TYPE before its
samples, families are contiguous and appear once, names and label names
are valid, label values use only the three escapes, values are numbers,
counters end in _total, no series appears twice.

Reads the metrics on stdin, prints one line per problem; exit 1 if any
(python3 stdlib only). Used by selftests/netns/netns_cli.sh."""
import re, sys
NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*$')
LNAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*$')
errs, help_, type_, done, series, cur = [], {}, {}, set(), set(), None
def err(n, m): errs.append("line %d: %s" % (n, m))
def labels(n, s):
    out, i = [], 0
    while i < len(s):
        m = re.match(r'([a-zA-Z_][a-zA-Z0-9_]*)="', s[i:])
        if not m:
            err(n, "bad label at %r" % s[i:]); return None
        i += m.end(); v = ""
        while True:
            if i >= len(s):
                err(n, "unterminated label value"); return None
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    err(n, "bad escape in label value"); return None
                v += s[i:i + 2]; i += 2
            elif c == '"':
                i += 1; break
            elif c == "\n":
                err(n, "raw newline in label value"); return None
            else:
                v += c; i += 1
        out.append((m.group(1), v))
        if i < len(s):
            if s[i] != ",":
                err(n, "expected ',' between labels"); return None
            i += 1
    names = [k for k, _ in out]
    if len(set(names)) != len(names):
        err(n, "label repeated")
    return tuple(out)
for n, line in enumerate(sys.stdin.read().split("\n"), 1):
    if line == "":
        continue
    if line.startswith("#"):
        p = line.split(" ", 3)
        if len(p) >= 3 and p[1] in ("HELP", "TYPE"):
            fam = p[2]
            if not NAME.match(fam):
                err(n, "bad family name " + fam)
            if fam in done or (cur and cur != fam and fam in help_ and fam in type_):
                err(n, "family %s appears twice" % fam)
            if cur and cur != fam:
                done.add(cur)
            cur = fam
            d = help_ if p[1] == "HELP" else type_
            if fam in d:
                err(n, "second %s for %s" % (p[1], fam))
            d[fam] = p[3] if len(p) > 3 else ""
            if p[1] == "TYPE" and d[fam] not in ("counter", "gauge", "untyped", "summary", "histogram"):
                err(n, "bad type " + d[fam])
            if p[1] == "TYPE" and d[fam] == "counter" and not fam.endswith("_total"):
                err(n, "counter %s does not end in _total" % fam)
            if p[1] == "TYPE" and d[fam] != "counter" and fam.endswith("_total"):
                err(n, "non-counter %s ends in _total" % fam)
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
    if not m:
        err(n, "not a sample: %r" % line); continue
    name, lab, val = m.group(1), m.group(3), m.group(4)
    if name != cur:
        err(n, "sample %s outside its family (current: %s)" % (name, cur))
    if name not in help_ or name not in type_:
        err(n, "sample %s without HELP and TYPE" % name)
    try:
        float(val)
    except ValueError:
        err(n, "value %r is not a number" % val)
    key = (name, labels(n, lab) if lab else ())
    if key in series:
        err(n, "duplicate series %s" % line)
    series.add(key)
for e in errs:
    print(e)
sys.exit(1 if errs else 0)
