#!/usr/bin/env python3
"""Sockets on chosen ports, for selftests/netns/netns_ports.sh (stdlib only).

  ports.py whoami --src IP --sport P URL     GET URL from IP:P, print the body
  ports.py udp --src IP --sport P HOST PORT PAYLOAD
                                             send from IP:P, print the reply
  ports.py hold tcp|udp ADDR PORT            listen (TCP) or bind (UDP) on
                                             ADDR:PORT until killed
  ports.py closed --src IP --sport P HOST PORT
                                             open a TCP connection from IP:P
                                             and close it first (the client's
                                             FIN leads), print "closed"

Every operation has a timeout (--timeout, seconds); exit 1 on any failure.
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


def whoami(a):
    host, _, rest = a.url.partition("//")[2].partition("/")
    addr, _, port = host.partition(":")
    s = bound(socket.SOCK_STREAM, a.src, a.sport)
    s.settimeout(a.timeout)
    s.connect((addr, int(port or 80)))
    s.sendall(("GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n" % (rest, host)).encode())
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n")[0]:
        raise RuntimeError("HTTP: %r" % head[:80])
    print(body.decode().strip())


def udp(a):
    s = bound(socket.SOCK_DGRAM, a.src, a.sport)
    s.settimeout(a.timeout)
    s.sendto(a.payload.encode(), (a.host, a.port))
    data, _ = s.recvfrom(65535)
    print(data.decode())


def hold(a):
    kind = socket.SOCK_STREAM if a.proto == "tcp" else socket.SOCK_DGRAM
    s = bound(kind, a.addr, a.port)
    if a.proto == "tcp":
        s.listen(8)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("holding", flush=True)
    time.sleep(a.timeout)


def closed(a):
    s = bound(socket.SOCK_STREAM, a.src, a.sport)
    s.settimeout(a.timeout)
    s.connect((a.host, a.port))
    s.shutdown(socket.SHUT_WR)  # our FIN first
    while s.recv(4096):  # until the other side's FIN
        pass
    s.close()  # the kernel sends the last ACK
    print("closed")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="op", required=True)
    for name in ("whoami", "udp", "closed"):
        p = sub.add_parser(name)
        p.add_argument("--src", default="")
        p.add_argument("--sport", type=int, required=True)
        p.add_argument("--timeout", type=float, default=5.0)
    sub.choices["whoami"].add_argument("url")
    for name in ("udp", "closed"):
        sub.choices[name].add_argument("host")
        sub.choices[name].add_argument("port", type=int)
    sub.choices["udp"].add_argument("payload")
    p = sub.add_parser("hold")
    p.add_argument("proto", choices=["tcp", "udp"])
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()
    try:
        {"whoami": whoami, "udp": udp, "hold": hold, "closed": closed}[a.op](a)
    except Exception as e:  # the shell test reads the message
        print("%s: %s" % (type(e).__name__, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
