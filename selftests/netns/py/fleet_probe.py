#!/usr/bin/env python3
"""Helpers of netns_fleet.sh (the fleet on etcd).

serve ADDR PORT                 TCP echo server (each connection echoed until EOF)
probe HOST OLD NEW OUT STOP     connects in turn to a port only the old rule set
                                forwards and one only the new set forwards
                                (OLD, NEW: LO-HI), one line a probe in OUT
                                ("o 1": old-only port, connected; "n 0": new-only,
                                refused), until the file STOP exists
check OUT                       every probe saw the old set whole or the new set
                                whole: the probes read old...old new...new, both
                                phases present, none lost (exit 1 with why)
hold HOST PORT GO OUT           one connection, echoed once, then held until the
                                file GO exists and echoed again ("up", then "ok"
                                or "fail: ..." in OUT)
"""
import errno
import os
import random
import socket
import socketserver
import sys
import time


def serve(addr, port):
    class Echo(socketserver.BaseRequestHandler):
        def handle(self):
            while True:
                data = self.request.recv(4096)
                if not data:
                    return
                self.request.sendall(data)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer((addr, int(port)), Echo) as srv:
        srv.serve_forever()


def span(s):
    lo, hi = s.split("-")
    return int(lo), int(hi)


def try_connect(host, port):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        return "1"
    except ConnectionRefusedError:
        return "0"
    except OSError as e:
        return "lost:%s" % (errno.errorcode.get(e.errno, e),)
    finally:
        s.close()


def probe(host, old, new, out, stop):
    old, new = span(old), span(new)
    with open(out, "w", buffering=1) as f:
        while not os.path.exists(stop):
            f.write("o %s\n" % try_connect(host, random.randint(*old)))
            f.write("n %s\n" % try_connect(host, random.randint(*new)))


def check(out):
    phases = []
    for i, line in enumerate(open(out)):
        kind, res = line.split()
        if res not in ("0", "1"):
            print("probe %d (%s-only port) was lost: %s" % (i, kind, res))
            return 1
        old_like = (kind == "o") == (res == "1")
        phases.append("old" if old_like else "new")
    if not phases:
        print("no probe was made")
        return 1
    flip = phases.index("new") if "new" in phases else len(phases)
    if flip == 0 or flip == len(phases):
        print("the probes never saw a change: all %d saw the %s set" % (len(phases), phases[0]))
        return 1
    back = [i for i in range(flip, len(phases)) if phases[i] == "old"]
    if back:
        print("probe %d saw the old set after probe %d saw the new one (%d such)" % (back[0], flip, len(back)))
        return 1
    print("%d probes: %d saw the old set whole, then %d the new set whole" % (len(phases), flip, len(phases) - flip))
    return 0


def hold(host, port, go, out):
    with open(out, "w", buffering=1) as f:
        try:
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"a")
            if s.recv(1) != b"a":
                f.write("fail: no first echo\n")
                return 1
            f.write("up\n")
            deadline = time.time() + 300
            while not os.path.exists(go) and time.time() < deadline:
                time.sleep(0.05)
            s.sendall(b"b")
            got = s.recv(1)
            f.write("ok\n" if got == b"b" else "fail: second echo %r\n" % got)
        except OSError as e:
            f.write("fail: %s\n" % e)
    return 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit({"serve": serve, "probe": probe, "check": check, "hold": hold}[cmd](*args) or 0)
