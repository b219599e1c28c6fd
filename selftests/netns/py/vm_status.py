#!/usr/bin/env python3
"""Checks `xmasq status --json` (on stdin) after selftests/vm/init.sh's
attaches: xa in mode xdp with an XDP and a tc program id, xb in mode tc with
a tc program id and no XDP program. Prints what is wrong; exit 1 if anything
is (python3 stdlib only)."""
import json
import sys


def main():
    s = json.loads(sys.stdin.read())
    by = {i["name"]: i for i in s.get("interfaces", [])}
    bad = []
    for name, mode, xdp in (("xa", "xdp", True), ("xb", "tc", False)):
        i = by.get(name)
        if i is None:
            bad.append(name + " missing")
            continue
        if i.get("mode") != mode:
            bad.append("%s mode %r, expected %r" % (name, i.get("mode"), mode))
        if not i.get("tc_prog_id"):
            bad.append(name + " tc_prog_id is 0")
        if xdp and not i.get("xdp_prog_id"):
            bad.append(name + " xdp_prog_id is 0")
        if not xdp and i.get("xdp_prog_id"):
            bad.append(name + " has an XDP program in tc mode")
    print("; ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
