#!/usr/bin/env python3
"""Traffic of selftests/netns/netns_live.sh (python3 stdlib only).

Senders stop when --stop-file appears (or after --max-secs); servers and
receivers run until SIGTERM or --stop-file and keep a JSON status file up
to date (rewritten atomically every 0.2 s and at the end).

  sweep-send  --dst IP --lo PORT --n N --pps R --sport-base P --out FILE
      datagram number seq goes to port lo + perm_k[seq % n], where sweep
      k = seq // n has its own source port (sport-base + k) and its own
      pseudo-random order of the n ports: every datagram is a new flow
      (a 5-tuple never seen before), and a sweep visits the whole range.
  sweep-recv  --ifname IF --lo PORT --n N --log FILE
      AF_PACKET capture on IF: for every UDP datagram to lo..lo+n-1 logs
      "seq daddr dport" (the destination it arrived at); also binds those
      UDP ports so the kernel answers no port-unreachable.
  sweep-check --log FILE --sent FILE --lo --n --applies K --dst-a IP --dst-b IP
      the invariant, see check_sweep(); --selftest runs it on synthetic
      logs (a clean one must pass, half-applied ones must fail).
  tcp-serve   --port P --dir DIR          per tagged connection DIR/tcp-TAG.json
  tcp-send    --dst IP --port P --tag T --rate BYTES_PER_S
  udp-serve   --port P --dir DIR          per tag DIR/udp-TAG.json
  udp-send    --dst IP --port P --tag T --pps R --out FILE
"""
import argparse
import json
import os
import random
import resource
import select
import signal
import socket
import struct
import sys
import threading
import time

# Set by SIGTERM. A plain flag, not a threading.Event: Event.set takes a
# lock, and a second SIGTERM handled inside the first one's set() waits
# for that lock forever.
stopping = False
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value


def on_term(*_):
    global stopping
    stopping = True


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def stopped(a):
    return stopping or (a.stop_file and os.path.exists(a.stop_file))


class Pacer:
    """Sleeps so that the n-th unit goes out at t0 + n / rate."""

    def __init__(self, rate):
        self.rate = float(rate)
        self.t0 = time.monotonic()

    def wait(self, n):
        ahead = self.t0 + n / self.rate - time.monotonic()
        if ahead > 0.0005:
            time.sleep(ahead)


# ------------------------------------------------------------ byte pattern
# The byte at stream offset o is PAT[o % PLEN]: a gap, a duplicate or a
# reordering of anything but a multiple of PLEN bytes changes what a
# position holds. PLEN is prime, so no chunk size lines up with it.
PLEN = 1000003
PAT = random.Random(20240607).randbytes(PLEN)
PAT2 = PAT + PAT


def pattern_at(off, n):
    out = bytearray()
    while n > 0:
        s = off % PLEN
        k = min(n, PLEN - s)
        out += PAT2[s:s + k]
        off += k
        n -= k
    return bytes(out)


# ------------------------------------------------------------ sweeps (check 1)
def sweep_perm(k, n):
    p = list(range(n))
    random.Random(k * 7919 + 1).shuffle(p)
    return p


def sweep_send(a):
    s_list = {}
    sent = 0
    pacer = Pacer(a.pps)
    t_end = time.monotonic() + a.max_secs
    perm = None
    sock = None
    while not stopped(a) and time.monotonic() < t_end:
        k, i = divmod(sent, a.n)
        if i == 0:
            if sock:
                sock.close()
            if k >= a.max_sweeps:
                break
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((a.src, a.sport_base + k))
            perm = sweep_perm(k, a.n)
        port = a.lo + perm[i]
        sock.sendto(struct.pack("!IIH", sent, k, port) + b"sweep", (a.dst, port))
        sent += 1
        if sent == 1 and a.started:
            open(a.started, "w").close()
        if sent % 64 == 0:
            pacer.wait(sent)
    with open(a.out, "w") as f:
        f.write("%d\n" % sent)
    del s_list
    return 0


def sweep_recv(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = a.n + 64
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, min(hard, need)), hard))
    holders = []
    for p in range(a.lo, a.lo + a.n):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        u.bind(("0.0.0.0", p))
        holders.append(u)
    ETH_P_IP = 0x0800
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    s.bind((a.ifname, ETH_P_IP))
    s.settimeout(0.2)
    out = []
    other = 0
    open(a.log + ".ready", "w").close()
    hi = a.lo + a.n
    while not stopped(a):
        try:
            pkt, addr = s.recvfrom(2048)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        if len(pkt) < 20 or pkt[9] != 17:
            continue
        ihl = (pkt[0] & 15) * 4
        if len(pkt) < ihl + 8 + 10:
            continue
        dport = struct.unpack_from("!H", pkt, ihl + 2)[0]
        if not (a.lo <= dport < hi):
            other += 1
            continue
        seq, k, want = struct.unpack_from("!IIH", pkt, ihl + 8)
        out.append("%d %s %d %d\n" % (seq, socket.inet_ntoa(pkt[16:20]), dport, want))
    # PACKET_STATISTICS: (packets, drops) since the socket was opened
    st = s.getsockopt(263, 6, 8)
    drops = struct.unpack("II", st)[1]
    with open(a.log, "w") as f:
        f.write("# drops %d other %d\n" % (drops, other))
        f.writelines(out)
    return 0


def check_sweep(records, sent, n, applies, dst_a, dst_b, lo):
    """The invariant of check 1.

    records: (seq, daddr, dport, wanted_port) of every datagram the backend
    got. Datagram seq is a new flow, so its translation is whatever rule
    generation was active when the router saw it, and the router sees one
    client's datagrams in the order they were sent. So, with the datagrams
    sorted by seq, the backend address is a step function of seq:

      - every datagram arrives at its own port (1:1 range mapping kept)
        and at dst_a or dst_b, nothing else;
      - it starts at dst_a (file A was live when the stream began), and
        changes exactly `applies` times, alternating A, B, A, ... — one
        change per apply (no apply skipped, none seen twice);
      - no datagram is lost, so no flip can hide in a gap.

    A half-applied rule set (ports moved one by one in the live generation)
    shows as extra changes: while it is being written, datagrams of one
    sweep, visiting ports in a random order, find some ports moved and some
    not, and the address flips back and forth within a few seq numbers.
    Returns (ok, list of messages)."""
    msgs = []
    ok = True
    recs = sorted(records)
    seqs = [r[0] for r in recs]
    dup = len(seqs) - len(set(seqs))
    if dup:
        ok = False
        msgs.append("%d datagrams received twice" % dup)
    lost = sent - len(set(seqs))
    if lost != 0:
        ok = False
        msgs.append("%d of %d datagrams did not arrive" % (lost, sent))
    badport = [r for r in recs if r[2] != r[3] or not (lo <= r[2] < lo + n)]
    if badport:
        ok = False
        msgs.append("%d datagrams at the wrong port, e.g. %s" % (len(badport), badport[:3]))
    badaddr = [r for r in recs if r[1] not in (dst_a, dst_b)]
    if badaddr:
        ok = False
        msgs.append("%d datagrams at another address, e.g. %s" % (len(badaddr), badaddr[:3]))
    if not recs:
        return False, msgs + ["nothing received"]
    blocks = []  # [addr, first seq, last seq, count]
    for seq, addr, _, _ in recs:
        if blocks and blocks[-1][0] == addr:
            blocks[-1][2] = seq
            blocks[-1][3] += 1
        else:
            blocks.append([addr, seq, seq, 1])
    changes = len(blocks) - 1
    if blocks[0][0] != dst_a:
        ok = False
        msgs.append("the stream began at %s, not at %s (file A)" % (blocks[0][0], dst_a))
    if changes != applies:
        ok = False
        msgs.append("the destination changed %d times for %d applies" % (changes, applies))
    small = [b for b in blocks[1:-1] if b[3] < n // 4]
    if small:
        msgs.append("short blocks (a flip back within a quarter sweep): %s" % small[:5])
        ok = False
    msgs.append("%d datagrams in %d blocks; block sizes %s" %
                (len(recs), len(blocks), " ".join(str(b[3]) for b in blocks)))
    return ok, msgs


def read_sweep_log(path):
    recs = []
    drops = None
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                w = line.split()
                drops = int(w[2])
                continue
            seq, addr, dport, want = line.split()
            recs.append((int(seq), addr, int(dport), int(want)))
    return recs, drops


def sweep_selftest(n=200, lo=20000):
    """The checker must pass a clean log and fail half-applied ones."""
    A, B = "198.18.0.2", "198.18.0.3"

    def port_of(seq):
        return lo + sweep_perm(seq // n, n)[seq % n]

    def clean(total, flips):
        recs = []
        for seq in range(total):
            g = sum(1 for f in flips if seq >= f) % 2
            p = port_of(seq)
            recs.append((seq, A if g == 0 else B, p, p))
        return recs

    total, flips = 10 * n, [2 * n + 17, 5 * n + 3, 8 * n + 150]
    bad = []
    ok, m = check_sweep(clean(total, flips), total, n, 3, A, B, lo)
    if not ok:
        bad.append("clean log refused: %s" % m)
    # a non-atomic apply: during [f, f + w) each port moves to the new
    # target when the writer reaches it (writer order = port order)
    for w in (4, 20, 100):
        recs = []
        for seq in range(total):
            p = port_of(seq)
            g = 0
            for f in flips:
                if seq >= f + w:
                    g += 1
                elif seq >= f:
                    writer = (seq - f) * n // w   # ports written so far
                    g += 1 if (p - lo) < writer else 0
            recs.append((seq, A if g % 2 == 0 else B, p, p))
        ok, m = check_sweep(recs, total, n, 3, A, B, lo)
        if ok:
            bad.append("half-applied log (window %d) accepted: %s" % (w, m))
    for name, recs, applies in (
        ("one apply missed", clean(total, flips[:2]), 3),
        ("one datagram at the wrong port",
         [(s, a, p + 1 if s == 99 else p, w) for s, a, p, w in clean(total, flips)], 3),
        ("one datagram lost", [r for r in clean(total, flips) if r[0] != 1234], 3),
    ):
        ok, m = check_sweep(recs, total, n, applies, A, B, lo)
        if ok:
            bad.append("%s: accepted" % name)
    return bad


def sweep_check(a):
    if a.selftest:
        bad = sweep_selftest()
        for b in bad:
            print(b)
        print("checker selftest: %s" % ("FAILED" if bad else "ok"))
        return 1 if bad else 0
    recs, drops = read_sweep_log(a.log)
    sent = int(open(a.sent).read().split()[0])
    ok, msgs = check_sweep(recs, sent, a.n, a.applies, a.dst_a, a.dst_b, a.lo)
    if drops:
        msgs.append("(the capture socket itself dropped %d)" % drops)
    for m in msgs:
        print(m)
    return 0 if ok else 1


# ------------------------------------------------------------ TCP stream
def tcp_serve(a):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", a.port))
    ls.listen(64)
    ls.settimeout(0.2)

    def conn(c, peer):
        st = {"peer": "%s:%d" % peer, "local": "%s:%d" % c.getsockname(), "bytes": 0,
              "bad": 0, "first_bad": None, "max_gap_ms": 0, "done": False, "err": None,
              "tag": None}
        path = None
        c.settimeout(0.2)
        buf = b""
        last = time.monotonic()
        last_write = 0
        try:
            while b"\n" not in buf:
                d = c.recv(256)
                if not d:
                    return
                buf += d
            line, buf = buf.split(b"\n", 1)
            st["tag"] = line.decode().split()[1]
            path = os.path.join(a.dir, "tcp-%s.json" % st["tag"])
            pending = buf
            last = time.monotonic()
            while True:
                if pending:
                    d, pending = pending, b""
                else:
                    try:
                        d = c.recv(65536)
                    except socket.timeout:
                        d = None
                now = time.monotonic()
                if d is None:
                    pass
                elif not d:
                    break
                else:
                    st["max_gap_ms"] = max(st["max_gap_ms"], int((now - last) * 1000))
                    last = now
                    if d != pattern_at(st["bytes"], len(d)):
                        exp = pattern_at(st["bytes"], len(d))
                        i = next(j for j in range(len(d)) if d[j] != exp[j])
                        st["bad"] += 1
                        if st["first_bad"] is None:
                            st["first_bad"] = st["bytes"] + i
                    st["bytes"] += len(d)
                if now - last_write > 0.2:
                    st["idle_ms"] = int((now - last) * 1000)
                    write_json(path, st)
                    last_write = now
                if stopping:
                    st["err"] = "server stopped"
                    break
            st["done"] = True
            c.sendall(("RESULT %d %d\n" % (st["bytes"], st["bad"])).encode())
        except OSError as e:
            st["err"] = str(e)
        finally:
            st["idle_ms"] = int((time.monotonic() - last) * 1000)
            if path:
                write_json(path, st)
            c.close()

    open(os.path.join(a.dir, "tcp-%d.ready" % a.port), "w").close()
    while not stopping:
        try:
            c, peer = ls.accept()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        threading.Thread(target=conn, args=(c, peer), daemon=True).start()
    time.sleep(0.3)
    return 0


def tcp_send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if a.src:
        s.bind((a.src, 0))
    s.settimeout(a.timeout)
    res = {"tag": a.tag, "sent": 0, "err": None, "result": None}
    try:
        s.connect((a.dst, a.port))
        res["local"] = "%s:%d" % s.getsockname()
        s.sendall(("LIVE %s\n" % a.tag).encode())
        pacer = Pacer(a.rate)
        t_end = time.monotonic() + a.max_secs
        chunk = a.chunk
        while not stopped(a) and time.monotonic() < t_end:
            s.sendall(pattern_at(res["sent"], chunk))
            res["sent"] += chunk
            pacer.wait(res["sent"])
            if a.out and res["sent"] % (chunk * 16) == 0:
                write_json(a.out + ".progress", res)
        s.shutdown(socket.SHUT_WR)
        buf = b""
        while b"\n" not in buf:
            d = s.recv(256)
            if not d:
                break
            buf += d
        res["result"] = buf.decode().strip()
        w = res["result"].split()
        if len(w) != 3 or w[0] != "RESULT" or int(w[1]) != res["sent"] or int(w[2]) != 0:
            res["err"] = "server says %r for %d bytes sent" % (res["result"], res["sent"])
    except OSError as e:
        res["err"] = "%s: %s" % (type(e).__name__, e)
    if a.out:
        write_json(a.out, res)
    print(json.dumps(res))
    return 0 if res["err"] is None else 1


# ------------------------------------------------------------ UDP stream
def udp_serve(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
    s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    s.bind(("0.0.0.0", a.port))
    s.settimeout(0.2)
    tags = {}
    last_write = 0
    open(os.path.join(a.dir, "udp-%d.ready" % a.port), "w").close()

    def dump():
        for t, st in tags.items():
            out = dict(st)
            out["seen"] = None
            out["dst"] = st["dst"]
            out["lost_so_far"] = st["max_seq"] + 1 - st["count"] + st["dups"]
            write_json(os.path.join(a.dir, "udp-%s.json" % t), out)

    while not stopped(a):
        try:
            d, anc, _, peer = s.recvmsg(2048, 64)
        except socket.timeout:
            d = None
        except InterruptedError:
            d = None
        now = time.monotonic()
        if d:
            w = d.split(b" ", 2)
            if len(w) >= 2:
                tag, seq = w[0].decode(), int(w[1])
                dst = "?"
                for lvl, typ, data in anc:
                    if lvl == socket.IPPROTO_IP and typ == IP_PKTINFO:
                        dst = socket.inet_ntoa(data[8:12])  # ipi_addr
                st = tags.setdefault(tag, {"count": 0, "max_seq": -1, "reordered": 0,
                                           "dups": 0, "dst": {}, "last_dst": None,
                                           "max_gap_ms": 0, "t_last": now,
                                           "peers": {}, "seen": set()})
                if seq in st["seen"]:
                    st["dups"] += 1
                st["seen"].add(seq)
                if seq < st["max_seq"]:
                    st["reordered"] += 1
                st["max_seq"] = max(st["max_seq"], seq)
                st["count"] += 1
                st["dst"][dst] = st["dst"].get(dst, 0) + 1
                if st["last_dst"] != dst:
                    st["dst_first_seq_" + dst] = seq
                st["last_dst"] = dst
                p = "%s:%d" % peer
                st["peers"][p] = st["peers"].get(p, 0) + 1
                if st["count"] > 1:
                    st["max_gap_ms"] = max(st["max_gap_ms"], int((now - st["t_last"]) * 1000))
                st["t_last"] = now
        if now - last_write > 0.2:
            dump()
            last_write = now
    dump()
    return 0


def udp_send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.src:
        s.bind((a.src, a.sport))
    pacer = Pacer(a.pps)
    t_end = time.monotonic() + a.max_secs
    sent = 0
    pad = b"x" * a.size
    err = None
    try:
        while not stopped(a) and time.monotonic() < t_end:
            s.sendto(b"%s %d " % (a.tag.encode(), sent) + pad, (a.dst, a.port))
            sent += 1
            pacer.wait(sent)
            if a.out and sent % 200 == 0:
                write_json(a.out + ".progress", {"sent": sent})
    except OSError as e:
        err = str(e)
    res = {"tag": a.tag, "sent": sent, "err": err, "local": "%s:%d" % s.getsockname()}
    if a.out:
        write_json(a.out, res)
    print(json.dumps(res))
    return 0 if err is None else 1


# ------------------------------------------------------------ checksum collision
def fold(x):
    while x >> 16:
        x = (x & 0xffff) + (x >> 16)
    return x


def words(b):
    if len(b) % 2:
        b += b"\0"
    return sum(struct.unpack("!%dH" % (len(b) // 2), b))


def csum_collide(a):
    """Sends one UDP datagram whose complete, correct checksum equals the
    folded sum of its pseudo-header: what a checksum-partial frame (only
    the pseudo-header sum filled in) looks like. One datagram in 65536 of
    any traffic does this by chance."""
    src = socket.inet_aton(a.src)
    dst = socket.inet_aton(a.dst)
    head = b"%s 0 collide " % a.tag.encode()
    ulen = 8 + len(head) + 2
    P = fold(words(src + dst) + 17 + ulen)
    X = fold(P + a.sport + a.port + ulen + words(head))   # checksum field 0
    w = fold((~P & 0xffff) + (~X & 0xffff))
    payload = head + struct.pack("!H", w)
    c = ~fold(P + a.sport + a.port + ulen + words(payload)) & 0xffff
    if c == 0:
        c = 0xffff
    if c != P:
        print("no collision: checksum %04x, pseudo-header sum %04x" % (c, P))
        return 1
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.src, a.sport))
    s.sendto(payload, (a.dst, a.port))
    print("sent: udp checksum %04x == pseudo-header sum %04x" % (c, P))
    return 0


# ------------------------------------------------------------ verdicts
def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def tcp_verdict(a):
    """The client's result and the server's view of tagged stream a.tag:
    every byte arrived in order and intact, the connection ended cleanly,
    at the expected backend address, and never stalled for --max-gap-ms."""
    cl = load(a.out)
    sv = load(os.path.join(a.dir, "tcp-%s.json" % a.tag))
    bad = []
    if cl is None:
        bad.append("no client result")
    elif cl.get("err"):
        bad.append("client: %s" % cl["err"])
    if sv is None:
        bad.append("no server record")
    else:
        if sv.get("bad"):
            bad.append("%d chunks with wrong bytes, first at offset %s" % (sv["bad"], sv["first_bad"]))
        if cl and sv["bytes"] != cl.get("sent"):
            bad.append("server got %d bytes, client sent %s" % (sv["bytes"], cl.get("sent")))
        if not sv.get("done") or sv.get("err"):
            bad.append("server: done=%s err=%s" % (sv.get("done"), sv.get("err")))
        if a.expect_dst and not sv["local"].startswith(a.expect_dst + ":"):
            bad.append("arrived at %s, want %s" % (sv["local"], a.expect_dst))
        if sv["max_gap_ms"] > a.max_gap_ms:
            bad.append("stalled for %d ms" % sv["max_gap_ms"])
    summ = "%s bytes, max gap %s ms, at %s" % (sv and sv["bytes"], sv and sv["max_gap_ms"],
                                              sv and sv["local"])
    print(summ if not bad else summ + "; " + "; ".join(bad))
    return 1 if bad else 0


def udp_verdict(a):
    """Every datagram of stream a.tag arrived once, in order, at the
    expected backend address, from one router port (one flow)."""
    cl = load(a.out)
    sv = load(os.path.join(a.dir, "udp-%s.json" % a.tag))
    bad = []
    explained = None
    if cl is None or sv is None:
        print("no client result or no server record: %s %s" % (cl, sv))
        return 1
    if cl.get("err"):
        bad.append("client: %s" % cl["err"])
    lost = cl["sent"] - sv["count"] + sv["dups"]
    if lost:
        bad.append("%d lost" % lost)
    if sv["reordered"] > a.reorder_explained:
        bad.append("%d reordered" % sv["reordered"])
    elif sv["reordered"]:
        explained = "%d reordered (as many datagrams were handed to tc)" % sv["reordered"]
    if sv["dups"]:
        bad.append("%d duplicated" % sv["dups"])
    if a.expect_dst and set(sv["dst"]) != {a.expect_dst}:
        bad.append("arrived at %s, want only %s" % (sv["dst"], a.expect_dst))
    if len(sv["peers"]) != 1:
        bad.append("from %d router ports (%s): the flow was re-created" % (len(sv["peers"]), sv["peers"]))
    summ = "sent %d, received %d, max gap %d ms, at %s from %s" % (
        cl["sent"], sv["count"], sv["max_gap_ms"], sv["dst"], ",".join(sv["peers"]))
    if bad:
        print(summ + "; " + "; ".join(bad))
        return 1
    if explained:
        print(summ + "; " + explained)
        return 3
    print(summ)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=["sweep-send", "sweep-recv", "sweep-check", "tcp-serve",
                                   "tcp-send", "udp-serve", "udp-send", "tcp-verdict",
                                   "udp-verdict", "csum-collide"])
    ap.add_argument("--dst", default="")
    ap.add_argument("--src", default="")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--sport", type=int, default=0)
    ap.add_argument("--lo", type=int, default=20000)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--pps", type=float, default=1000)
    ap.add_argument("--rate", type=float, default=5e6)
    ap.add_argument("--chunk", type=int, default=8192)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--sport-base", type=int, default=40000)
    ap.add_argument("--max-sweeps", type=int, default=20000)
    ap.add_argument("--max-secs", type=float, default=60)
    ap.add_argument("--timeout", type=float, default=3)
    ap.add_argument("--stop-file", default="")
    ap.add_argument("--started", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--log", default="")
    ap.add_argument("--sent", default="")
    ap.add_argument("--dir", default="")
    ap.add_argument("--ifname", default="eth0")
    ap.add_argument("--tag", default="t")
    ap.add_argument("--applies", type=int, default=0)
    ap.add_argument("--dst-a", default="")
    ap.add_argument("--dst-b", default="")
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--cpu", type=int, default=-1)
    ap.add_argument("--reorder-explained", type=int, default=0)
    ap.add_argument("--expect-dst", default="")
    ap.add_argument("--max-gap-ms", type=int, default=1000)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if a.op.endswith("-send"):
        # one CPU: a veth without NAPI queues a sent packet on the sending
        # CPU's backlog, so a sender that moves between CPUs could have its
        # own packets overtake each other before the router sees them
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {a.cpu if a.cpu in cpus else cpus[0]})
    fn = {"sweep-send": sweep_send, "sweep-recv": sweep_recv, "sweep-check": sweep_check,
          "tcp-serve": tcp_serve, "tcp-send": tcp_send, "udp-serve": udp_serve,
          "udp-send": udp_send, "tcp-verdict": tcp_verdict, "udp-verdict": udp_verdict,
          "csum-collide": csum_collide}[a.op]
    return fn(a)


if __name__ == "__main__":
    sys.exit(main())
