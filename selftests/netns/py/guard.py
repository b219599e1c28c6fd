#!/usr/bin/env python3
"""TCP helpers for selftests/netns/netns_guard.sh (python3 stdlib only).

  echo-server --addr A --port P        line echo, one thread a connection;
                                       creates --ready FILE when listening
  connect --dst A --port P --src S     one connection, one line echoed:
                                       exit 0, else 1 (refused or timed out)
  hold --dst A --port P --src S --go FILE [--ready FILE]
                                       a connection that echoes a line,
                                       creates --ready, waits for FILE, then echoes another
                                       on the same connection: exit 0 when
                                       both came back
"""
import argparse
import os
import socket
import socketserver
import sys
import time


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def exchange(f, text):
    f.write((text + "\n").encode())
    f.flush()
    return f.readline().decode().strip() == text


def dial(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    s.bind((a.src, 0))
    s.connect((a.dst, a.port))
    return s, s.makefile("rwb")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=["echo-server", "connect", "hold"])
    ap.add_argument("--addr", default="")
    ap.add_argument("--dst", default="")
    ap.add_argument("--src", default="")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ready", default="")
    ap.add_argument("--go", default="")
    ap.add_argument("--timeout", type=float, default=3.0)
    a = ap.parse_args()

    if a.op == "echo-server":
        srv = Server((a.addr, a.port), Echo)
        if a.ready:
            open(a.ready, "w").close()
        srv.serve_forever()
        return 0
    try:
        s, f = dial(a)
        if not exchange(f, "first"):
            print("no echo")
            return 1
        if a.op == "hold":
            if a.ready:
                open(a.ready, "w").close()
            end = time.time() + 60
            while not os.path.exists(a.go) and time.time() < end:
                time.sleep(0.05)
            if not exchange(f, "second"):
                print("no echo after the change")
                return 1
        s.close()
    except OSError as e:
        print("%s: %s" % (type(e).__name__, e))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
