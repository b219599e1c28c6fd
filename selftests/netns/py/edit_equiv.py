#!/usr/bin/env python3
"""Random line edits through xmasqd's PATCH /api/rules (router A, applied
line by line where it can be) against a full parse and apply of the same
edited text by `xmasq apply` (router B, another namespace with the same
interfaces): after every edit both routers must hold the same rules (ids,
lines, text), the same rules-map entries in each generation and the same
config flags; an edit refused by one is refused by the other at the same
line and column with the same message, and changes nothing.

Prints TAP-ish lines "ok"/"not ok" with a description; exits 0 when all
passed. The edits are reproducible from --seed."""
import argparse
import json
import random
import re
import subprocess
import sys

p = argparse.ArgumentParser()
p.add_argument("--ns-a", required=True)
p.add_argument("--pin-a", required=True)
p.add_argument("--ns-b", required=True)
p.add_argument("--pin-b", required=True)
p.add_argument("--rules-b", required=True)
p.add_argument("--xmasq", required=True)
p.add_argument("--certs", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--to", default="198.18.0.2")
p.add_argument("--steps", type=int, default=40)
p.add_argument("--seed", type=int, default=1)
a = p.parse_args()
rnd = random.Random(a.seed)
URL = "https://router.test:%d" % a.port
failures = []


def run(ns, *cmd, data=None):
    r = subprocess.run(["nsenter", "--net=/run/netns/" + ns, *cmd], input=data,
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


changes = 0


def api(method, path, body=None):
    # two operators' keys in turn: xmasqd allows each 30 changes at once
    global changes
    who = "client" if changes % 2 == 0 else "client2"
    if method != "GET":
        changes += 1
    cmd = ["curl", "-sS", "--cacert", a.certs + "/ca.pem", "--resolve",
           "router.test:%d:127.0.0.1" % a.port, "--cert", a.certs + "/%s.pem" % who,
           "--key", a.certs + "/%s.key" % who, "-X", method, "-w", "\n%{http_code}"]
    if body is not None:
        cmd += ["-H", "Origin: " + URL, "-H", "Content-Type: application/json",
                "-H", "Sec-Fetch-Site: same-origin", "--data-binary", "@-"]
    rc, out, err = run(a.ns_a, *cmd, URL + path, data=json.dumps(body) if body is not None else None)
    text, _, status = out.rpartition("\n")
    try:
        return int(status), json.loads(text) if text else None
    except ValueError:
        return 0, {"raw": out + err}


def xm(ns, pin, *args):
    return run(ns, a.xmasq, "--pin-dir", pin, *args)


def ifnames(ns):
    _, out, _ = run(ns, "ip", "-j", "link")
    return {l["ifindex"]: l["ifname"] for l in json.loads(out)}


def dump(ns, pin, name):
    rc, out, err = run(ns, "bpftool", "-j", "map", "dump", "pinned", pin + "/" + name)
    if rc:
        raise RuntimeError("bpftool map dump %s: %s" % (name, err))
    return [e.get("formatted", e) for e in json.loads(out)]


def state(ns, pin):
    """What must be equal: rules (id, text, line), the rules map by
    generation (active or not), the config's flags."""
    rc, out, err = xm(ns, pin, "stats", "--json")
    if rc:
        raise RuntimeError("stats: " + err)
    st = json.loads(out)
    rules = sorted((r["id"], r["rule"], r["line"]) for r in st["rules"])
    cfg = dump(ns, pin, "config")[0]["value"]
    names = ifnames(ns)
    entries = []
    for e in dump(ns, pin, "rules"):
        k, v = dict(e["key"]), e["value"]
        k["ifindex"] = names.get(k["ifindex"], k["ifindex"])
        k["gen"] = "active" if k["gen"] == cfg["active_gen"] else "inactive"
        entries.append(json.dumps([k, v], sort_keys=True))
    return {"rules": rules, "entries": sorted(entries), "flags": cfg["flags"]}


def check(ok, what, detail=""):
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        failures.append(what)
        for l in str(detail).splitlines()[:30]:
            print("#   " + l)


def diff_states(x, y):
    out = []
    for k in x:
        if x[k] != y[k]:
            xs, ys = x[k], y[k]
            if isinstance(xs, list):
                out.append("%s: only A %s; only B %s" % (k, [i for i in xs if i not in ys][:5],
                                                         [i for i in ys if i not in xs][:5]))
            else:
                out.append("%s: A %s B %s" % (k, xs, ys))
    return "\n".join(out)


# ---- the rules and the edits ----
used_ports = set()


def new_port():
    while True:
        pt = rnd.randrange(20000, 40000)
        if pt not in used_ports:
            used_ports.add(pt)
            return pt


def forward(port=None):
    pt = port if port is not None else new_port()
    proto = rnd.choice(["tcp", "udp"])
    return "forward eth1 %s %d to %s:%d%s" % (proto, pt, a.to, rnd.randrange(1, 65535),
                                             rnd.choice(["", "", " keep-source"]))


def is_plain(line):
    """A line the line-by-line path may take: blank, comment, or a forward
    without `as`/`from` lists."""
    s = line.split("#")[0].strip()
    return not s or (s.startswith("forward ") and " as " not in s and " from " not in s)


lines = ["# rules for the edit test", "set timeout udp 60",
         "masquerade 192.0.2.0/24 out eth2",
         "forward eth1 tcp 41000 to %s:80 from 192.0.2.0/25" % a.to, ""]
lines += [forward() for _ in range(150)]

# both start empty: the same ids free on both
status, cur = api("GET", "/api/rules")
status, r = api("PUT", "/api/rules", {"text": "", "version": cur["version"]})
check(status == 200, "PUT no rules to A", r)
open(a.rules_b, "w").write("")
rc, out, err = xm(a.ns_b, a.pin_b, "apply", a.rules_b)
check(rc == 0, "no rules on B", err)
status, cur = api("GET", "/api/rules")
status, r = api("PUT", "/api/rules", {"text": "\n".join(lines) + "\n", "version": cur["version"]})
check(status == 200, "PUT the first rules (%d forwards)" % (len(lines) - 4), r)
open(a.rules_b, "w").write("\n".join(lines) + "\n")
rc, out, err = xm(a.ns_b, a.pin_b, "apply", a.rules_b)
check(rc == 0, "router B applies them with xmasq apply", err)
sa, sb = state(a.ns_a, a.pin_a), state(a.ns_b, a.pin_b)
check(sa == sb, "after the PUT both routers hold the same rules and entries", diff_states(sa, sb))


def make_edit(lines):
    """(edits for PATCH, the edited lines, kind)."""
    n = len(lines)
    kind = rnd.choice(["replace", "replace", "insert", "delete", "same", "move", "bad",
                       "overlap", "full"])
    fwd = [i for i, l in enumerate(lines) if l.startswith("forward") and is_plain(l)]
    if kind == "replace" and fwd:
        i = rnd.choice(fwd)
        new = [forward()]
        return [{"line": i + 1, "delete": 1, "insert": new}], lines[:i] + new + lines[i + 1:], kind
    if kind == "insert":
        i = rnd.randrange(0, n + 1)
        new = [rnd.choice([forward(), forward(), "# a comment", ""]) for _ in range(rnd.randrange(1, 4))]
        return [{"line": i + 1, "delete": 0, "insert": new}], lines[:i] + new + lines[i:], kind
    if kind == "delete" and fwd:
        i = rnd.choice(fwd)
        k = 1 if i + 1 >= n or not is_plain(lines[i + 1]) else rnd.randrange(1, 3)
        return [{"line": i + 1, "delete": k}], lines[:i] + lines[i + k:], kind
    if kind == "same" and fwd:
        i = rnd.choice(fwd)
        return [{"line": i + 1, "delete": 1, "insert": [lines[i]]}], lines, kind
    if kind == "move" and len(fwd) > 2:
        i, j = sorted(rnd.sample(fwd, 2))
        # line i goes after line j: two hunks, in order
        e = [{"line": i + 1, "delete": 1}, {"line": j + 2, "delete": 0, "insert": [lines[i]]}]
        return e, lines[:i] + lines[i + 1:j + 1] + [lines[i]] + lines[j + 1:], kind
    if kind == "bad":
        i = rnd.randrange(0, n + 1)
        new = [forward(), "forward eth1 tcp 99999 to %s" % a.to]
        return [{"line": i + 1, "delete": 0, "insert": new}], lines[:i] + new + lines[i:], kind
    if kind == "overlap" and fwd:
        i = rnd.randrange(0, n + 1)
        other = lines[rnd.choice(fwd)].split()
        new = ["forward eth1 %s %s to %s:7" % (other[2], other[3], a.to)]
        return [{"line": i + 1, "delete": 0, "insert": new}], lines[:i] + new + lines[i:], kind
    # a line the full path owns: the set line changed
    i = lines.index([l for l in lines if l.startswith("set timeout udp")][0])
    new = ["set timeout udp %d" % rnd.randrange(30, 300)]
    return [{"line": i + 1, "delete": 1, "insert": new}], lines[:i] + new + lines[i + 1:], "full"


incremental = plain_edits = 0
for step in range(a.steps):
    status, cur = api("GET", "/api/rules")
    lines = cur["text"].split("\n")[:-1]
    before = state(a.ns_a, a.pin_a)
    edits, new_lines, kind = make_edit(lines)
    status, r = api("PATCH", "/api/rules", {"version": cur["version"], "edits": edits})
    open(a.rules_b, "w").write("\n".join(new_lines) + "\n")
    rc, out, err = xm(a.ns_b, a.pin_b, "apply", a.rules_b)
    what = "step %d (%s %s)" % (step, kind, json.dumps(edits)[:160])
    if status == 200:
        touched_plain = all(is_plain(lines[e["line"] - 1 + k]) for e in edits
                            for k in range(e.get("delete", 0))) and \
            all(is_plain(l) for e in edits for l in e.get("insert", []))
        plain_edits += touched_plain
        incremental += bool(r.get("incremental"))
        if touched_plain and not r.get("incremental"):
            check(False, what + ": an edit of plain lines was applied line by line", r)
        check(rc == 0, what + ": 200, and xmasq apply of the edited text too", err)
        sa, sb = state(a.ns_a, a.pin_a), state(a.ns_b, a.pin_b)
        check(sa == sb, what + ": both routers hold the same rules and entries", diff_states(sa, sb))
        _, now = api("GET", "/api/rules")
        check(now["text"] == "\n".join(new_lines) + "\n", what + ": the file is the edited text")
    else:
        m = re.search(r":(\d+):(\d+): (.*)$", err.strip().splitlines()[-1] if err.strip() else "")
        e = (r or {}).get("errors", [{}])[0]
        same = status == 422 and rc != 0 and m is not None and \
            (e.get("line"), e.get("col"), e.get("message")) == (int(m.group(1)), int(m.group(2)), m.group(3))
        check(same, what + ": refused by both at the same place (%s %s / %s)" % (status, e, err.strip()[-200:]), r)
        after = state(a.ns_a, a.pin_a)
        check(after == before, what + ": nothing changed on A", diff_states(before, after))
        # B back to the file A has
        open(a.rules_b, "w").write(cur["text"])
        xm(a.ns_b, a.pin_b, "apply", a.rules_b)

check(incremental > 0 and incremental >= plain_edits,
      "%d of %d edits applied line by line (every one of the %d touching plain lines only)" %
      (incremental, a.steps, plain_edits))
sys.exit(1 if failures else 0)
