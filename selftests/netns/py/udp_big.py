#!/usr/bin/env python3
"""UDP datagrams bigger than the path MTU, for the 6->4 fragment checks
(python3 stdlib only).

  serve ADDR PORT            an IPv4 echo: every datagram sent back as it
                             came (the kernel fragments a big reply)
  send ADDR PORT SRC N SIZE  from SRC (IPv6), N datagrams of SIZE random
                             bytes to [ADDR]:PORT, one at a time, each
                             tried up to 3 times until its exact echo
                             comes back; prints "echoed K of N" and exits
                             0 when all N came back intact
"""
import os
import socket
import sys


def serve(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def echo_each(s, addr, port, n, size):
    """Sends N datagrams of SIZE random bytes on socket s (1 s timeout),
    each up to 3 times until its exact echo comes back; prints "echoed K
    of N", returns 0 when all N came back."""
    echoed = 0
    for i in range(n):
        data = os.urandom(size)
        for _ in range(3):
            s.sendto(data, (addr, port))
            try:
                got, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            if got == data:
                echoed += 1
                break
            print(f"datagram {i}: echo of {len(got)} bytes differs", file=sys.stderr)
    print(f"echoed {echoed} of {n}")
    return 0 if echoed == n else 1


def send(addr, port, src, n, size):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(1.0)
    return echo_each(s, addr, port, n, size)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return 0
    if len(sys.argv) == 7 and sys.argv[1] == "send":
        return send(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]),
                    int(sys.argv[6]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
