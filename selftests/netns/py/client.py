#!/usr/bin/env python3
"""Client side of the xmasq namespace tests (python3 stdlib only).

  client.py get  --src IP URL                 print the body
  client.py sha  --src IP URL                 print "<sha256> <bytes>"
  client.py udp  --src IP HOST PORT PAYLOAD   print the reply datagram
                 [--size N] [--no-df]         (PAYLOAD padded with 'x' to N bytes;
                                              sent without DF, for a router
                                              to fragment)
  client.py tcp  --src IP HOST PORT           print connected|refused|timeout

Every operation has a timeout (--timeout, seconds); exit 1 on any failure.
"""
import argparse
import hashlib
import http.client
import socket
import sys
import time
import urllib.parse


# <linux/in.h>: Python's socket module does not name them
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0


def http_conn(url, src, timeout):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout,
                                   source_address=(src, 0) if src else None)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    c.request("GET", path)
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError("HTTP status %d" % r.status)
    return c, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=["get", "sha", "udp", "tcp"])
    ap.add_argument("--src", default="")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--chunk-sleep", type=float, default=0.0,
                    help="sha: sleep this long after each 64 KiB (slow reader)")
    ap.add_argument("--size", type=int, default=0, help="udp: pad the payload to this many bytes")
    ap.add_argument("--no-df", action="store_true",
                    help="udp: send without DF (IP_PMTUDISC_DONT)")
    ap.add_argument("args", nargs="+")
    a = ap.parse_args()
    try:
        if a.op == "get":
            c, r = http_conn(a.args[0], a.src, a.timeout)
            sys.stdout.write(r.read().decode(errors="replace"))
        elif a.op == "sha":
            c, r = http_conn(a.args[0], a.src, a.timeout)
            h = hashlib.sha256()
            n = 0
            t0 = time.monotonic()
            while True:
                b = r.read(1 << 16)
                if not b:
                    break
                h.update(b)
                n += len(b)
                if a.chunk_sleep:
                    time.sleep(a.chunk_sleep)
            want = r.getheader("Content-Length")
            if want is not None and int(want) != n:
                raise RuntimeError("short body: %d of %s bytes" % (n, want))
            dt = time.monotonic() - t0
            print("%s %d %.3f" % (h.hexdigest(), n, dt))
        elif a.op == "udp":
            host, port, payload = a.args[0], int(a.args[1]), a.args[2]
            payload += "x" * (a.size - len(payload))
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            if a.no_df:
                s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
            if a.src:
                s.bind((a.src, 0))
            s.settimeout(a.timeout / 3)
            # up to 3 tries: a first datagram may race neighbour resolution
            for i in range(3):
                s.sendto(payload.encode(), (host, port))
                try:
                    data, _ = s.recvfrom(65535)
                    print(data.decode(errors="replace"))
                    break
                except socket.timeout:
                    if i == 2:
                        raise
        elif a.op == "tcp":
            host, port = a.args[0], int(a.args[1])
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if a.src:
                s.bind((a.src, 0))
            s.settimeout(a.timeout)
            try:
                s.connect((host, port))
                print("connected")
            except ConnectionRefusedError:
                print("refused")
                return 1
            except (socket.timeout, TimeoutError):
                print("timeout")
                return 1
    except Exception as e:  # noqa: BLE001 - report anything, exit 1
        print("error: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
