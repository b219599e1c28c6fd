#!/usr/bin/env python3
"""Extension headers and IPv4 options through 6->4, sent by the kernels'
own sockets (RFC 7915 translates neither: they go). Python 3 stdlib only.

  serve ADDR PORT       an IPv4 UDP echo whose replies carry IPv4 options
                        (IP_OPTIONS: three no-operations, an end of list)
  send ADDR PORT SRC N  from SRC (IPv6), N datagrams to [ADDR]:PORT, each
                        with a hop-by-hop header of padding and destination
                        options (IPV6_HOPOPTS, IPV6_DSTOPTS), tried up to 3
                        times until its exact echo comes back; prints
                        "echoed K of N", exits 0 when all N came back
"""
import socket
import sys

import udp_big

# RFC 8200 4.2: an 8-byte options header (next header and length are the
# kernel's to set) holding one PadN option of 4 bytes
PADDING_HEADER = bytes([0, 0, 1, 4, 0, 0, 0, 0])
# RFC 791: no-operation x3, end of option list
NOP_OPTIONS = bytes([1, 1, 1, 0])


def serve(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, NOP_OPTIONS)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def send(addr, port, src, n):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_HOPOPTS, PADDING_HEADER)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, PADDING_HEADER)
    s.bind((src, 0))
    s.settimeout(1.0)
    return udp_big.echo_each(s, addr, port, n, 64)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return 0
    if len(sys.argv) == 6 and sys.argv[1] == "send":
        return send(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
