#!/usr/bin/env python3
"""UDP halves of `make soak`'s mixed load (tools/bench/soak.sh).

  soak_load.py echo ADDR PORT_LO PORT_HI
      echo every datagram back, on each port of the range (the backend)
  soak_load.py churn ADDR PORT_LO PORT_HI SECONDS RATE OUT
      RATE new flows a second for SECONDS: each datagram from a fresh
      socket (a new source port: a new flow through the router) to the
      next port of the range; counts the echoes; writes
      {"sent": N, "echoed": N} to OUT at the end (and every second)
"""
import json
import os
import resource
import selectors
import socket
import sys
import time


def echo(addr, lo, hi):
    sel = selectors.DefaultSelector()
    for port in range(lo, hi + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            try:
                data, peer = key.fileobj.recvfrom(2048)
                key.fileobj.sendto(data, peer)
            except OSError:
                pass


def churn(addr, lo, hi, seconds, rate, out):
    sel = selectors.DefaultSelector()
    open_socks = []  # (deadline, socket): waiting for the echo
    sent = echoed = 0
    start = time.monotonic()
    end = start + seconds
    next_report = start + 1
    port = lo

    def report():
        with open(out + ".tmp", "w") as f:
            json.dump({"sent": sent, "echoed": echoed}, f)
        os.replace(out + ".tmp", out)

    while True:
        now = time.monotonic()
        if now >= end and not open_socks:
            break
        due = int((min(now, end) - start) * rate)
        while sent < due:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            try:
                s.sendto(b"soak %d" % sent, (addr, port))
            except OSError:
                pass
            sent += 1
            port = lo if port >= hi else port + 1
            sel.register(s, selectors.EVENT_READ)
            open_socks.append((now + 2, s))
        for key, _ in sel.select(timeout=0.01):
            try:
                key.fileobj.recv(2048)
                echoed += 1
            except OSError:
                pass
            sel.unregister(key.fileobj)
        while open_socks and (open_socks[0][0] <= now or open_socks[0][1].fileno() < 0):
            s = open_socks.pop(0)[1]
            if s.fileno() >= 0:
                try:
                    sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                s.close()
        if now >= next_report:
            report()
            next_report += 1
    report()


def main():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "echo":
        echo(a[1], int(a[2]), int(a[3]))
    elif len(a) == 7 and a[0] == "churn":
        churn(a[1], int(a[2]), int(a[3]), float(a[4]), float(a[5]), a[6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
