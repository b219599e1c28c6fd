#!/usr/bin/env python3
"""Traffic of selftests/netns/netns_conntrack.sh (python3 stdlib only).

  ct.py serve --tcp ADDR:PORT... --udp ADDR:PORT... [--log F] [--ready F]
        TCP servers that answer one command line (WHO: the peer they saw;
        GET: a small HTML page naming the peer; HOLD: greet, then echo until
        closed; STREAM N RATE: N pattern bytes at RATE bytes/s; UPLOAD N:
        read N bytes, answer "N sha256") and UDP servers that echo
        "peer\n" + payload; every connection/datagram logged to --log.
  ct.py tcp HOST PORT CMD        one command, print the answer
  ct.py hold / holdmany          keep one / many connections open until
                                 --release exists, then reset them
  ct.py stream / upload          paced download / upload, content checked
  ct.py udp / udpmany            datagram(s) and their echo; exit 2 timeout,
                                 3 refused
  ct.py icmp DST --id N          echo requests with a chosen id
  ct.py flood --iface ...        SYNs from many addresses and ports on an
                                 AF_PACKET socket (full frames, no ARP)
  ct.py progress-check FILE T0 T1
                                 from stream's --progress log: did bytes
                                 keep arriving between T0 and T1?
  ct.py flow-check LIST.json ORIGINAL REPLY
                                 is the flow of conntrack list --json that
                                 conntrack's CLI check expects there?
"""
import argparse, hashlib, json, os, random, select, socket, struct, sys, threading, time


def pattern(n, seed=7):
    r = random.Random(seed)
    return r.randbytes(n)


def log_line(path, line):
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


# ---------------------------------------------------------------- servers
def tcp_conn(c, peer, lport, logf):
    try:
        c.settimeout(60)
        buf = b""
        while b"\n" not in buf:
            d = c.recv(4096)
            if not d:
                return
            buf += d
        line, rest = buf.split(b"\n", 1)
        cmd = line.decode(errors="replace").strip().split()
        who = "%s:%d" % peer
        log_line(logf, "tcp %d %s %s" % (lport, who, " ".join(cmd[:2])))
        if not cmd:
            return
        if cmd[0] == "WHO":
            c.sendall((who + "\n").encode())
        elif cmd[0] == "GET":
            while b"\r\n\r\n" not in rest and b"\n\n" not in rest:
                d = c.recv(4096)
                if not d:
                    break
                rest += d
            body = ("<html><h1>xmasq-ct-page</h1><p>peer=%s</p></html>\n" % who).encode()
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body)
        elif cmd[0] == "HOLD":
            c.sendall(("held " + who + "\n").encode())
            c.settimeout(None)
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)  # echo, so the client can make traffic
        elif cmd[0] == "STREAM":
            n, rate = int(cmd[1]), int(cmd[2])
            data = pattern(n)
            chunk = 8192
            t0 = time.monotonic()
            sent = 0
            while sent < n:
                c.sendall(data[sent:sent + chunk])
                sent += min(chunk, n - sent)
                ahead = sent / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        elif cmd[0] == "UPLOAD":
            n = int(cmd[1])
            h = hashlib.sha256()
            got = len(rest)
            h.update(rest)
            while got < n:
                d = c.recv(65536)
                if not d:
                    break
                h.update(d)
                got += len(d)
            c.sendall(("%d %s\n" % (got, h.hexdigest())).encode())
        c.shutdown(socket.SHUT_WR)
        c.settimeout(5)
        try:
            while c.recv(4096):
                pass
        except OSError:
            pass
    except OSError:
        pass
    finally:
        c.close()


def tcp_server(addr, port, logf):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(512)
    while True:
        c, peer = s.accept()
        threading.Thread(target=tcp_conn, args=(c, peer, port, logf), daemon=True).start()


def udp_server(addr, port, logf):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        d, peer = s.recvfrom(65535)
        who = "%s:%d" % peer
        log_line(logf, "udp %d %s %d" % (port, who, len(d)))
        s.sendto((who + "\n").encode() + d, peer)


def cmd_serve(a):
    for spec in a.tcp or []:
        h, p = spec.rsplit(":", 1)
        threading.Thread(target=tcp_server, args=(h, int(p), a.log), daemon=True).start()
    for spec in a.udp or []:
        h, p = spec.rsplit(":", 1)
        threading.Thread(target=udp_server, args=(h, int(p), a.log), daemon=True).start()
    time.sleep(0.3)
    if a.ready:
        open(a.ready, "w").close()
    while True:
        time.sleep(3600)


# ---------------------------------------------------------------- clients
def bind_spec(s, spec):
    if spec:
        h, p = spec.rsplit(":", 1)
        s.bind((h, int(p)))


def tcp_connect(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    bind_spec(s, a.bind)
    s.settimeout(a.timeout)
    s.connect((a.host, a.port))
    return s


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def cmd_tcp(a):
    try:
        s = tcp_connect(a)
        s.sendall((a.cmd + "\n").encode())
        if a.cmd.startswith("GET"):
            s.sendall(b"Host: x\r\n\r\n")
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
        s.close()
    except OSError as e:
        print("error: %s" % e)
        return 1
    sys.stdout.write(out.decode(errors="replace"))
    return 0


def cmd_hold(a):
    """Connect, say HOLD, write the greeting to --ready, then stay idle until
    the file --release exists (or --secs pass); optionally send a ping line
    every --ping seconds; close with RST (no TIME_WAIT, port reusable)."""
    try:
        s = tcp_connect(a)
        s.sendall(b"HOLD\n")
        f = s.makefile("rb")
        line = f.readline().decode().strip()
        with open(a.ready + ".tmp", "w") as r:
            r.write(line + "\n")
        os.rename(a.ready + ".tmp", a.ready)
        t0 = time.monotonic()
        last = t0
        while time.monotonic() - t0 < a.secs and not (a.release and os.path.exists(a.release)):
            time.sleep(0.05)
            if a.ping and time.monotonic() - last >= a.ping:
                s.sendall(b"ping\n")
                last = time.monotonic()
        linger0(s)
        s.close()
    except OSError as e:
        print("error: %s" % e)
        return 1
    return 0


def cmd_stream(a):
    """Download N bytes sent at RATE, logging progress; checks the content."""
    try:
        s = tcp_connect(a)
        s.sendall(("STREAM %d %d\n" % (a.n, a.rate)).encode())
        s.settimeout(a.timeout)
        h = hashlib.sha256()
        got = 0
        last = 0
        pf = open(a.progress, "w", buffering=1)
        pf.write("%.3f %d\n" % (time.time(), 0))
        while True:
            d = s.recv(65536)
            if not d:
                break
            h.update(d)
            got += len(d)
            now = time.time()
            if now - last >= 0.1:
                pf.write("%.3f %d\n" % (now, got))
                last = now
        pf.write("%.3f %d\n" % (time.time(), got))
        s.close()
    except OSError as e:
        print("error: %s (after %d bytes)" % (e, got if 'got' in dir() else 0))
        return 1
    want = hashlib.sha256(pattern(a.n)).hexdigest()
    print("%d %s %s" % (got, h.hexdigest(), "match" if got == a.n and h.hexdigest() == want else "MISMATCH"))
    return 0 if got == a.n and h.hexdigest() == want else 1


def cmd_upload(a):
    try:
        s = tcp_connect(a)
        s.settimeout(a.timeout)
        data = pattern(a.n, 11)
        s.sendall(("UPLOAD %d\n" % a.n).encode() + data)
        out = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            out += d
        s.close()
    except OSError as e:
        print("error: %s" % e)
        return 1
    want = "%d %s" % (a.n, hashlib.sha256(data).hexdigest())
    got = out.decode().strip()
    print(got + (" match" if got == want else " MISMATCH"))
    return 0 if got == want else 1


# <linux/in.h>: Python's socket module does not name them
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0


def cmd_udp(a):
    """Send one datagram (payload of --size bytes), expect 'peer\\n'+payload.
    Prints the peer the server saw. exit 0 ok, 2 timeout, 3 refused, 1 other.
    --no-df: sent without DF (IP_PMTUDISC_DONT), for a router to fragment."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.no_df:
        s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    bind_spec(s, a.bind)
    s.settimeout(a.timeout)
    payload = pattern(a.size, a.size) if a.size else b""
    try:
        s.connect((a.host, a.port))
        for _ in range(a.tries):
            s.send(payload)
            try:
                d = s.recv(70000)
                break
            except socket.timeout:
                continue
        else:
            print("timeout")
            return 2
    except ConnectionRefusedError:
        print("refused")
        return 3
    except OSError as e:
        print("error: %s" % e)
        return 1
    head, _, body = d.partition(b"\n")
    if body != payload:
        print("MISMATCH %s len %d want %d" % (head.decode(errors="replace"), len(body), len(payload)))
        return 1
    print(head.decode())
    return 0


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def cmd_icmp(a):
    """Echo requests with a chosen id; counts matching replies."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(0.2)
    tag = a.tag.encode()
    got = set()
    t_end = time.monotonic() + a.timeout
    seq = 0
    next_send = 0
    while time.monotonic() < t_end and len(got) < a.count:
        if time.monotonic() >= next_send and seq < a.count * 3:
            seq += 1
            body = tag + b"-%d" % seq
            hdr = struct.pack("!BBHHH", 8, 0, 0, a.id, seq)
            c = csum(hdr + body)
            s.sendto(struct.pack("!BBHHH", 8, 0, c, a.id, seq) + body, (a.dst, 0))
            next_send = time.monotonic() + a.interval
        try:
            d, peer = s.recvfrom(2000)
        except socket.timeout:
            continue
        ihl = (d[0] & 15) * 4
        typ, code, _, rid, rseq = struct.unpack("!BBHHH", d[ihl:ihl + 8])
        if typ == 0 and rid == a.id and d[ihl + 8:].startswith(tag + b"-") and peer[0] == a.dst:
            got.add(rseq)
    print("%d replies" % len(got))
    return 0 if len(got) >= a.count else 1


def cmd_flood(a):
    """SYNs from many source addresses/ports to DST:DPORTS on an AF_PACKET
    socket (full frames, no ARP). Prints packets sent and seconds."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    smac = open("/sys/class/net/%s/address" % a.iface).read().strip()
    eth = bytes.fromhex(a.dmac.replace(":", "")) + bytes.fromhex(smac.replace(":", "")) + b"\x08\x00"
    dst = socket.inet_aton(a.dst)
    net = socket.inet_aton(a.src_net)
    lo, hi = map(int, a.dports.split("-"))
    slo, shi = map(int, a.sports.split("-"))
    n = 0
    t0 = time.monotonic()
    for dport in range(lo, hi + 1):
        for sport in range(slo, shi + 1):
            if n >= a.max:
                break
            src = net[:3] + bytes([1 + sport % 250])
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, n & 0xffff, 0, 64, 6, 0, src, dst)
            ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
            tcp = struct.pack("!HHIIBBHHH", sport, dport, 1000 + sport, 0, 5 << 4, 2, 64240, 0, 0)
            ph = src + dst + struct.pack("!BBH", 0, 6, 20)
            tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
            try:
                s.send(eth + ip + tcp)
            except OSError:
                time.sleep(0.001)
            n += 1
            if a.rate and n % 50 == 0:
                ahead = n / a.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
    print("%d %.2f" % (n, time.monotonic() - t0))
    return 0


def cmd_udpmany(a):
    """One datagram from each source port LO-HI of --src; prints, per port,
    'PORT PEER-SEEN' or 'PORT timeout'. exit 0 when every port got its echo."""
    lo, hi = map(int, a.ports.split("-"))
    bad = 0
    for port in range(lo, hi + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.src, port))
        s.settimeout(a.timeout)
        payload = b"many-%d" % port
        try:
            s.connect((a.host, a.port))
            s.send(payload)
            d = s.recv(2000)
            head, _, body = d.partition(b"\n")
            print("%d %s" % (port, head.decode() if body == payload else "MISMATCH"))
            bad += body != payload
        except socket.timeout:
            print("%d timeout" % port)
            bad += 1
        except OSError as e:
            print("%d error %s" % (port, e))
            bad += 1
        s.close()
    return 1 if bad else 0


def cmd_holdmany(a):
    """TCP connections from each source port LO-HI of --src, each greeted by
    the server's HOLD; writes the greetings to --ready, waits for --release
    (or --secs), then resets them all."""
    lo, hi = map(int, a.ports.split("-"))
    socks, lines = [], []
    for port in range(lo, hi + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.src, port))
        s.settimeout(a.timeout)
        try:
            s.connect((a.host, a.port))
            s.sendall(b"HOLD\n")
            lines.append("%d %s" % (port, s.makefile("rb").readline().decode().strip()))
            socks.append(s)
        except OSError as e:
            lines.append("%d error %s" % (port, e))
    with open(a.ready + ".tmp", "w") as r:
        r.write("\n".join(lines) + "\n")
    os.rename(a.ready + ".tmp", a.ready)
    t0 = time.monotonic()
    while time.monotonic() - t0 < a.secs and not (a.release and os.path.exists(a.release)):
        time.sleep(0.05)
    for s in socks:
        linger0(s)
        s.close()
    return 0


def cmd_progress_check(a):
    """From stream's --progress log ("TIME BYTES" lines): bytes kept arriving
    between T0 and T1 (no gap of 1 s or more, and growth). Prints the gap and
    the growth; exit 0 when both hold."""
    pts = [tuple(map(float, l.split())) for l in open(a.file) if l.strip()]
    ins = [p for p in pts if a.t0 <= p[0] <= a.t1]
    gap = max((b[0] - a_[0] for a_, b in zip(ins, ins[1:])), default=99)
    grew = ins[-1][1] - ins[0][1] if len(ins) > 1 else 0
    print("gap %.2fs, %d bytes during the %.1fs flood" % (gap, grew, a.t1 - a.t0))
    return 0 if gap < 1.0 and grew > 0 else 1


def cmd_flow_check(a):
    """The flow of `conntrack list --json` whose original tuple is ORIGINAL:
    exactly one, reply tuple REPLY, tcp, established, with its reply entry,
    idle at most 1 s, expiring in 3 s minus idle (tcp-established 3), and
    packets and bytes counted both ways. Exit 0 when all of that holds."""
    d = json.load(open(a.list))
    c = [c for c in d if c["original"] == a.original]
    ok = (len(c) == 1 and c[0]["reply"] == a.reply and c[0]["proto"] == "tcp"
          and c[0]["state"] == "established" and c[0]["reply_entry"] is True
          and c[0]["idle_s"] <= 1 and c[0]["expires_s"] == 3 - c[0]["idle_s"]
          and all(c[0][k] > 0 for k in ("packets_orig", "bytes_orig", "packets_reply", "bytes_reply"))
          and c[0]["bytes_orig"] >= 40 * c[0]["packets_orig"])
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="op", required=True)
    sp = sub.add_parser("serve")
    sp.add_argument("--tcp", action="append")
    sp.add_argument("--udp", action="append")
    sp.add_argument("--log")
    sp.add_argument("--ready")
    for name in ("tcp", "hold", "stream", "upload", "udp"):
        c = sub.add_parser(name)
        c.add_argument("host")
        c.add_argument("port", type=int)
        c.add_argument("--bind")
        c.add_argument("--timeout", type=float, default=5)
        if name == "tcp":
            c.add_argument("cmd")
        if name == "hold":
            c.add_argument("--ready", required=True)
            c.add_argument("--release")
            c.add_argument("--secs", type=float, default=30)
            c.add_argument("--ping", type=float, default=0)
        if name == "stream":
            c.add_argument("n", type=int)
            c.add_argument("rate", type=int)
            c.add_argument("--progress", required=True)
        if name == "upload":
            c.add_argument("n", type=int)
        if name == "udp":
            c.add_argument("--size", type=int, default=16)
            c.add_argument("--tries", type=int, default=1)
            c.add_argument("--no-df", action="store_true")
    for name in ("udpmany", "holdmany"):
        c = sub.add_parser(name)
        c.add_argument("host")
        c.add_argument("port", type=int)
        c.add_argument("--src", required=True)
        c.add_argument("--ports", required=True)
        c.add_argument("--timeout", type=float, default=2)
        if name == "holdmany":
            c.add_argument("--ready", required=True)
            c.add_argument("--release")
            c.add_argument("--secs", type=float, default=30)
    c = sub.add_parser("icmp")
    c.add_argument("dst")
    c.add_argument("--id", type=int, required=True)
    c.add_argument("--tag", required=True)
    c.add_argument("--count", type=int, default=5)
    c.add_argument("--interval", type=float, default=0.2)
    c.add_argument("--timeout", type=float, default=5)
    c = sub.add_parser("flood")
    c.add_argument("--iface", required=True)
    c.add_argument("--dmac", required=True)
    c.add_argument("--dst", required=True)
    c.add_argument("--src-net", required=True)
    c.add_argument("--dports", required=True)
    c.add_argument("--sports", default="1024-32767")  # below the ephemeral range: ports kept
    c.add_argument("--max", type=int, default=1 << 30)
    c.add_argument("--rate", type=int, default=0)
    c = sub.add_parser("progress-check")
    c.add_argument("file")
    c.add_argument("t0", type=float)
    c.add_argument("t1", type=float)
    c = sub.add_parser("flow-check")
    c.add_argument("list")
    c.add_argument("original")
    c.add_argument("reply")
    a = p.parse_args()
    return globals()["cmd_" + a.op.replace("-", "_")](a)


if __name__ == "__main__":
    sys.exit(main())
