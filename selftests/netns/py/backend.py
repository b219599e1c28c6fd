#!/usr/bin/env python3
"""Backend services for the xmasq namespace tests (python3 stdlib only).

  HTTP  ADDR:80    files from --dir (index.html, big.bin, ...) and /whoami,
                   which answers "IP:PORT" of the peer the backend saw
  UDP   ADDR:5000  echo: replies "echo:<peer ip>:<payload>"
  TCP   ADDR:81    records every accepted connection ("IP:PORT" a line) in
                   --log/tcp81.log, then closes it

Every HTTP request and UDP datagram is logged too (--log/http.log,
--log/udp.log).  When all sockets listen, --log/ready is created.
"""
import argparse
import http.server
import os
import socket
import socketserver
import sys
import threading


def append(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")
        f.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--http-port", type=int, default=80)
    ap.add_argument("--udp-port", type=int, default=5000)
    ap.add_argument("--tcp-log-port", type=int, default=81)
    a = ap.parse_args()

    http_log = os.path.join(a.log, "http.log")
    udp_log = os.path.join(a.log, "udp.log")
    tcp_log = os.path.join(a.log, "tcp81.log")
    for p in (http_log, udp_log, tcp_log):
        open(p, "a").close()

    class Handler(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __init__(self, *args, **kw):
            super().__init__(*args, directory=a.dir, **kw)

        def do_GET(self):
            peer = "%s:%d" % self.client_address[:2]
            append(http_log, "%s %s" % (peer, self.path))
            if self.path == "/whoami":
                body = (peer + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def log_message(self, fmt, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    httpd = Server((a.addr, a.http_port), Handler)

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind((a.addr, a.udp_port))

    def udp_loop():
        while True:
            data, peer = udp.recvfrom(65535)
            append(udp_log, "%s:%d %r" % (peer[0], peer[1], data[:64]))
            udp.sendto(b"echo:" + peer[0].encode() + b":" + data, peer)

    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((a.addr, a.tcp_log_port))
    tcp.listen(64)

    def tcp_loop():
        while True:
            c, peer = tcp.accept()
            append(tcp_log, "%s:%d" % peer[:2])
            c.close()

    for fn in (udp_loop, tcp_loop):
        threading.Thread(target=fn, daemon=True).start()
    open(os.path.join(a.log, "ready"), "w").close()
    sys.stdout.flush()
    httpd.serve_forever()


if __name__ == "__main__":
    main()
