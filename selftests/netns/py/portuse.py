#!/usr/bin/env python3
"""Many connections from chosen ports, for selftests/netns/netns_portuse.sh
(stdlib only).

  portuse.py serve ADDR PORT
        accept TCP connections and keep them open until killed
  portuse.py hold --src IP --sports LO-HI --ready FILE HOST PORT
        connect from IP:LO .. IP:HI, write how many connected to FILE, keep
        them open until killed
  portuse.py try --src IP --sports LO-HI --timeout S HOST PORT
        connect from each port, waiting S seconds at most for each; print how
        many failed
  portuse.py udp --src IP --sport P HOST PORT
        send one datagram (no answer expected)
"""
import argparse
import signal
import socket
import sys
import time


def bound(kind, src, sport):
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, sport))
    return s


def ports(spec):
    lo, _, hi = spec.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def serve(a):
    s = bound(socket.SOCK_STREAM, a.addr, a.port)
    s.listen(128)
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)  # never read, never closed: the flow stays established


def hold(a):
    held = []
    for p in ports(a.sports):
        s = bound(socket.SOCK_STREAM, a.src, p)
        s.settimeout(5)
        try:
            s.connect((a.host, a.port))
            held.append(s)
        except OSError as e:
            print("port %d: %s" % (p, e), file=sys.stderr)
    with open(a.ready, "w") as f:
        f.write("%d\n" % len(held))
    while True:
        time.sleep(3600)


def try_(a):
    failed = 0
    for p in ports(a.sports):
        s = bound(socket.SOCK_STREAM, a.src, p)
        s.settimeout(a.timeout)
        try:
            s.connect((a.host, a.port))
        except OSError:
            failed += 1
        # RST rather than FIN: nothing of this attempt stays open
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        s.close()
    print(failed)


def udp(a):
    s = bound(socket.SOCK_DGRAM, a.src, a.sport)
    s.sendto(b"portuse", (a.host, a.port))


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="op", required=True)
    p = sub.add_parser("serve")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    for name in ("hold", "try", "udp"):
        p = sub.add_parser(name)
        p.add_argument("--src", required=True)
        p.add_argument("host")
        p.add_argument("port", type=int)
    sub.choices["hold"].add_argument("--sports", required=True)
    sub.choices["hold"].add_argument("--ready", required=True)
    sub.choices["try"].add_argument("--sports", required=True)
    sub.choices["try"].add_argument("--timeout", type=float, default=1.5)
    sub.choices["udp"].add_argument("--sport", type=int, required=True)
    a = ap.parse_args()
    {"serve": serve, "hold": hold, "try": try_, "udp": udp}[a.op](a)


if __name__ == "__main__":
    main()
