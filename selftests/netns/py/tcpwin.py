#!/usr/bin/env python3
"""Traffic of selftests/netns/netns_tcpwin.sh (python3 stdlib only, root).

  tcpwin.py --client-ns NS --backend-ns NS --dst ADDR:PORT|[ADDR6]:PORT
            --src ADDR --backend ADDR --mode far|exact [--wait S]

One process in two namespaces (setns between socket creations): an echo
server in the backend's, a TCP connection from the client's through the
router, and AF_PACKET sniffers on both ends' eth0 that learn the sequence
numbers and the backend-side tuple. Then RSTs are forged on raw sockets
knowing the tuple only:
  far:   one each way, 2^31 away from the next sequence number (outside any
         window); after --wait seconds the connection must still echo:
         exit 0 if it does, 1 if not.
  exact: one from the client's tuple at exactly the sequence number the
         backend expects: the connection must die: exit 0 if it does.

Each side's family follows its addresses (a ':' makes it IPv6), the client's
(--src, --dst) and the backend's (--backend) independently: 4->4, 6->6, and
6->4 (an IPv6 client of an IPv4 backend: the client-side RST is IPv6, the
backend-side one IPv4, to the router's IPv4 address the backend sees).
"""
import argparse, ipaddress, os, socket, struct, sys, threading, time

from netns import enter, family

ETH_P_IP, ETH_P_IPV6 = b"\x08\x00", b"\x86\xdd"


def canonical(addr):
    """The form inet_ntop gives, so that sniffed addresses compare equal."""
    return str(ipaddress.ip_address(addr))


def hostport(addr, port):
    return ("[%s]:%d" if ":" in addr else "%s:%d") % (addr, port)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def send_rst(raw, src, sport, dst, dport, seq):
    """A bare RST (no ACK) from src:sport to dst:dport, its IP header ours:
    raw is an IPPROTO_RAW socket of dst's family, which implies the header
    included for IPv6 as for IPv4, so the source is what we write."""
    af = family(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, 0, 5 << 4, 0x04, 0, 0, 0)
    s, d = socket.inet_pton(af, src), socket.inet_pton(af, dst)
    if af == socket.AF_INET6:
        # RFC 8200 8.1: source, destination, upper-layer length (32 bits),
        # three zero bytes, next header
        pseudo = s + d + struct.pack("!IxxxB", len(tcp), socket.IPPROTO_TCP)
    else:
        pseudo = s + d + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    if af == socket.AF_INET6:
        # version 6, traffic class and flow label 0; payload length, next
        # header TCP (no extension headers), hop limit 64
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), socket.IPPROTO_TCP, 64, s, d)
    else:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0x1234, 0x4000, 64,
                         socket.IPPROTO_TCP, 0, s, d)
    raw.sendto(ip + tcp, (dst, 0))


def sniffer():
    # ETH_P_ALL: a protocol's own taps see only what comes in
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind(("eth0", 0))
    s.setblocking(False)
    return s


def segments(snf):
    """(saddr, sport, daddr, dport, seq, end) of every TCP frame queued,
    IPv4 or IPv6."""
    out = []
    while True:
        try:
            f = snf.recv(65535)
        except BlockingIOError:
            return out
        ethertype, ip = f[12:14], f[14:]
        if ethertype == ETH_P_IP and len(ip) >= 40 and ip[9] == socket.IPPROTO_TCP:
            hlen = (ip[0] & 15) * 4
            tcplen = struct.unpack("!H", ip[2:4])[0] - hlen
            saddr, daddr = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        elif ethertype == ETH_P_IPV6 and len(ip) >= 60 and ip[6] == socket.IPPROTO_TCP:
            # nothing here sends extension headers: TCP follows the fixed header
            hlen = 40
            tcplen = struct.unpack("!H", ip[4:6])[0]
            saddr = socket.inet_ntop(socket.AF_INET6, ip[8:24])
            daddr = socket.inet_ntop(socket.AF_INET6, ip[24:40])
        else:
            continue
        t = ip[hlen:]
        sport, dport, seq = struct.unpack("!HHI", t[:8])
        doff = (t[12] >> 4) * 4
        n = tcplen - doff + (1 if t[13] & 0x03 else 0)  # SYN and FIN take one
        out.append((saddr, sport, daddr, dport, seq, (seq + n) & 0xFFFFFFFF))


def after(a, b):
    return ((a - b) & 0xFFFFFFFF) < 0x80000000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client-ns", required=True)
    ap.add_argument("--backend-ns", required=True)
    ap.add_argument("--dst", required=True, help="ADDR:PORT, or [ADDR]:PORT for IPv6")
    ap.add_argument("--src", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--mode", choices=("far", "exact"), required=True)
    ap.add_argument("--wait", type=float, default=2.0)
    a = ap.parse_args()
    raddr, _, port = a.dst.rpartition(":")
    raddr, port = canonical(raddr.strip("[]")), int(port)
    src, backend = canonical(a.src), canonical(a.backend)

    enter(a.backend_ns)
    srv = socket.socket(family(backend))
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((backend, port))
    srv.listen(1)
    b_snf = sniffer()
    b_raw = socket.socket(family(backend), socket.SOCK_RAW, socket.IPPROTO_RAW)

    def echo():
        c, _ = srv.accept()
        with c:
            while True:
                try:
                    d = c.recv(4096)
                except OSError:
                    return
                if not d:
                    return
                c.sendall(d)

    threading.Thread(target=echo, daemon=True).start()
    enter(a.client_ns)
    c_snf = sniffer()
    c_raw = socket.socket(family(src), socket.SOCK_RAW, socket.IPPROTO_RAW)
    cs = socket.socket(family(src))
    cs.bind((src, 0))
    cs.settimeout(5)
    cs.connect((raddr, port))
    cport = cs.getsockname()[1]

    def ping(tag):
        try:
            cs.sendall(tag)
            got = b""
            while len(got) < len(tag):
                d = cs.recv(4096)
                if not d:
                    return "closed"
                got += d
            return "ok" if got == tag else "wrong echo"
        except OSError as e:
            return str(e)

    r = ping(b"hello\n")
    if r != "ok":
        print("# no echo before the forged RSTs: " + r)
        return 2
    time.sleep(0.3)  # the last ACKs on the wire
    c_nxt = b_nxt = None
    mport = None
    for s in segments(c_snf):
        if s[0] == src and s[1] == cport and (c_nxt is None or after(s[5], c_nxt)):
            c_nxt = s[5]
    for s in segments(b_snf):
        if s[0] == backend and s[1] == port:
            mport, bdst = s[3], s[2]
            if b_nxt is None or after(s[5], b_nxt):
                b_nxt = s[5]
    if c_nxt is None or b_nxt is None:
        print("# sniffers saw no segments (client %s, backend %s)" % (c_nxt, b_nxt))
        return 2
    print("# client %s next seq %u; backend side %s -> %s next seq %u"
          % (hostport(src, cport), c_nxt, hostport(backend, port), hostport(bdst, mport), b_nxt))
    if a.mode == "far":
        send_rst(c_raw, src, cport, raddr, port, c_nxt + 0x80000000)
        send_rst(b_raw, backend, port, bdst, mport, b_nxt + 0x80000000)
        time.sleep(a.wait)
        r = ping(b"still there?\n")
        print("# after the forged RSTs: " + r)
        return 0 if r == "ok" else 1
    send_rst(c_raw, src, cport, raddr, port, c_nxt)
    time.sleep(a.wait)
    r = ping(b"still there?\n")
    if r == "ok":  # the first write after a reset may still succeed
        time.sleep(0.5)
        r = ping(b"and now?\n")
    print("# after the exact RST: " + r)
    return 0 if r != "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
