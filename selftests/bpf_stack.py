#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Each BPF program's deepest chain of calls against the 512 bytes of stack
that Linux 6.1's verifier allows, counted its way (every frame rounded up to
32 bytes), from the object's code: the VM suite finds an overflow only after
minutes of emulation, this finds it at once and names the chain.

Usage: selftests/bpf_stack.py build/xmasq.bpf.o   (TAP: one test a program)
"""
import re
import subprocess
import sys

LIMIT = 512


def frame(depth):
    """A frame as 6.1 counts it: at least 1 byte, rounded up to 32."""
    return (max(depth, 1) + 31) // 32 * 32


def functions(obj):
    """{name: {"section", "start", "stack", "calls"}} from llvm-objdump."""
    out = subprocess.run(["llvm-objdump", "-d", "-r", "--no-show-raw-insn", obj],
                         capture_output=True, text=True, check=True).stdout
    funcs, cur, section, last_imm = {}, None, None, None
    for line in out.splitlines():
        m = re.match(r"Disassembly of section (\S+):", line)
        if m:
            section, cur = m.group(1), None
            continue
        m = re.match(r"^([0-9a-f]+) <([A-Za-z_]\w*)>:", line)
        if m and not m.group(2).startswith("LBB"):
            cur = m.group(2)
            funcs[cur] = {"section": section, "start": int(m.group(1), 16), "stack": 0,
                          "calls": set()}
            continue
        if cur is None:
            continue
        # the deepest byte below the frame pointer the function touches
        for hexd, dec in re.findall(r"r10 - (?:0x([0-9a-f]+)|(\d+))\b", line):
            funcs[cur]["stack"] = max(funcs[cur]["stack"], int(hexd, 16) if hexd else int(dec))
        m = re.search(r"\bcall (-?\d+)$", line)
        if m:
            last_imm = int(m.group(1))
            continue
        m = re.search(r"R_BPF_64_32\s+(\S+)", line)
        if m and last_imm is not None:
            target = m.group(1)
            # a static function: the call's immediate counts instructions
            # after it within .text
            funcs[cur]["calls"].add(("@text", (last_imm + 1) * 8) if target == ".text" else target)
        last_imm = None
    by_start = {(f["section"], f["start"]): name for name, f in funcs.items()}
    for f in funcs.values():
        f["calls"] = {by_start.get((".text", c[1]), "?") if isinstance(c, tuple) else c
                      for c in f["calls"]}
    return funcs


def deepest(funcs, name, seen=()):
    """(bytes, [frames]) of the deepest chain from function name down."""
    f = funcs.get(name)
    if f is None or name in seen:
        return 0, []
    below = max((deepest(funcs, c, seen + (name,)) for c in f["calls"]), default=(0, []))
    return frame(f["stack"]) + below[0], ["%s %d" % (name, frame(f["stack"]))] + below[1]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bpf_stack.py OBJECT")
    funcs = functions(sys.argv[1])
    progs = sorted(n for n, f in funcs.items() if f["section"] != ".text")
    n = 0
    for prog in progs:
        n += 1
        total, chain = deepest(funcs, prog)
        verdict = "ok" if total <= LIMIT else "not ok"
        print("%s %d - %s: deepest call chain %d of %d bytes of stack as 6.1 counts (%s)" %
              (verdict, n, prog, total, LIMIT, " + ".join(chain)))
        if total > LIMIT:
            print("# 6.1 refuses the program: make a frame on that chain smaller (locals"
                  " live across calls; a per-CPU scratch map holds what does not fit)")
    if not progs:
        print("not ok 1 - %s: no BPF program found" % sys.argv[1])
        n = 1
    print("1..%d" % n)


if __name__ == "__main__":
    main()
