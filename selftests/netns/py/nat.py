#!/usr/bin/env python3
"""NAT behaviour checks for netns_nat.sh (python3 stdlib only).

  nat.py seen-server ADDR PORT          TCP: answer each connection with the
                                        peer "ip:port" it came from; runs
                                        until killed
  nat.py tcp-map --lport P A1:P1 A2:P2  two TCP connections from one bound
     [--src ADDR]                       local address:port to two servers;
                                        prints the two "ip:port" they saw
  nat.py rendezvous ADDR PORT           UDP: records each peer's public
                                        "ip:port" by name ("hello NAME"); a
                                        peer asking "who OTHER" gets OTHER's
  nat.py punch NAME OTHER SERVER:PORT   UDP peer: registers with the
                                        rendezvous, learns OTHER's public
                                        endpoint, sends to it until OTHER's
                                        greeting arrives; prints "got NAME"
     [--lport P] [--outbound-first]     (--outbound-first: a few greetings
     [--listen-only]                    leave before it listens; --listen-only:
                                        it greets nobody, only answers)

Every client operation has a deadline (--timeout); exit 1 on failure.
"""
import argparse
import socket
import sys
import time


def seen_server(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    while True:
        c, peer = s.accept()
        try:
            c.sendall(("%s:%d\n" % peer).encode())
        finally:
            c.close()


def tcp_map(src, lport, servers, timeout):
    seen = []
    for hp in servers:
        host, port = hp.rsplit(":", 1)
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.settimeout(timeout)
        c.bind((src, lport))
        c.connect((host, int(port)))
        seen.append(c.makefile().readline().strip())
        c.close()  # close first: the peer holds TIME_WAIT, the next
        # connection goes to another server, so the tuples differ
    print(" ".join(seen))


def rendezvous(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    peers = {}
    while True:
        data, peer = s.recvfrom(2048)
        words = data.decode(errors="replace").split()
        if len(words) == 2 and words[0] == "hello":
            peers[words[1]] = peer
            s.sendto(("you %s:%d" % peer).encode(), peer)
        elif len(words) == 2 and words[0] == "who" and words[1] in peers:
            s.sendto(("peer %s:%d" % peers[words[1]]).encode(), peer)


def punch(name, other, server, lport, outbound_first, listen_only, timeout):
    host, port = server.rsplit(":", 1)
    srv = (host, int(port))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", lport))
    s.settimeout(0.2)
    deadline = time.monotonic() + timeout
    target = None
    # Learn OTHER's public endpoint from the rendezvous (both register).
    while target is None:
        if time.monotonic() > deadline:
            print("no peer endpoint from the rendezvous", file=sys.stderr)
            return 1
        s.sendto(("hello %s" % name).encode(), srv)
        s.sendto(("who %s" % other).encode(), srv)
        time.sleep(0.1)
        try:
            data, _ = s.recvfrom(2048)
        except socket.timeout:
            continue
        words = data.decode(errors="replace").split()
        if len(words) == 2 and words[0] == "peer":
            h, p = words[1].rsplit(":", 1)
            target = (h, int(p))
    # Punch: greet OTHER until its greeting or its ack arrives; a greeting
    # is acked. --listen-only: greet nobody, wait for OTHER's greeting.
    # --outbound-first: a few greetings leave before this side listens.
    got = None
    sent = 0
    last_hello = time.monotonic()
    while time.monotonic() < deadline and got is None:
        if not listen_only:
            s.sendto(("greet %s" % name).encode(), target)
            sent += 1
            if outbound_first and sent < 3:
                time.sleep(0.05)
                continue
        elif time.monotonic() - last_hello > 1:
            s.sendto(("hello %s" % name).encode(), srv)  # keep the mapping alive
            last_hello = time.monotonic()
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            continue
        words = data.decode(errors="replace").split()
        if words[1:] != [other]:
            continue
        if words[0] == "greet":
            got = peer
            for _ in range(3):
                s.sendto(("ack %s" % name).encode(), peer)
        elif words[0] == "ack":
            got = peer
    if got:
        print("got %s from %s:%d" % (other, got[0], got[1]))
        return 0
    print("nothing from %s at %s:%d" % (other, target[0], target[1]), file=sys.stderr)
    return 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("op")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--lport", type=int, default=0)
    ap.add_argument("--src", default="0.0.0.0")
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--outbound-first", action="store_true")
    ap.add_argument("--listen-only", action="store_true")
    a = ap.parse_intermixed_args()
    if a.op == "seen-server":
        seen_server(a.args[0], int(a.args[1]))
    elif a.op == "tcp-map":
        tcp_map(a.src, a.lport, a.args, a.timeout)
    elif a.op == "rendezvous":
        rendezvous(a.args[0], int(a.args[1]))
    elif a.op == "punch":
        return punch(a.args[0], a.args[1], a.args[2], a.lport, a.outbound_first, a.listen_only,
                     a.timeout)
    else:
        ap.error("unknown op %s" % a.op)
    return 0


if __name__ == "__main__":
    sys.exit(main())
