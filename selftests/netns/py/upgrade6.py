#!/usr/bin/env python3
"""Traffic of selftests/netns/netns_ipv6_upgrade.sh (python3 stdlib only, root).

  upgrade6.py --client-ns NS --backend-ns NS --src ADDR6
              --pair DST_ADDR:PORT=BACKEND_ADDR ... --ready FILE --stop FILE

One process in two namespaces (setns between socket creations): for each
pair an echo server on BACKEND_ADDR:PORT in the backend's namespace (IPv6
or IPv4 by its address) and one TCP connection from ADDR6 in the client's
to DST (the router's IPv6 address and the forward's port). Each connection
sends a numbered line every 0.1 s and must read it back; FILE --ready is
written once every connection has echoed its first line; the lines go on
until FILE --stop appears. Then each pair is tried once more on a new
connection. Prints one JSON object; exit 0 when every line of every
connection came back in order and the new connections echoed, 1 if not.
"""
import argparse, json, os, socket, sys, threading, time

from netns import enter, family


def split_hostport(s):
    host, port = s.rsplit(":", 1)
    return host.strip("[]"), int(port)


def echo_server(ls):
    def serve(c):
        with c:
            while True:
                data = c.recv(4096)
                if not data:
                    return
                c.sendall(data)

    while True:
        try:
            c, _ = ls.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def connect(src, dst, port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    s.connect((dst, port))
    return s


def echo_line(s, line):
    s.sendall(line)
    got = b""
    while not got.endswith(b"\n"):
        data = s.recv(4096)
        if not data:
            raise ConnectionError("closed by the peer")
        got += data
    return got == line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client-ns", required=True)
    ap.add_argument("--backend-ns", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--pair", action="append", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--max-secs", type=float, default=60)
    a = ap.parse_args()

    pairs = []
    enter(a.backend_ns)
    for p in a.pair:
        dst, backend = p.split("=")
        host, port = split_hostport(dst)
        ls = socket.socket(family(backend), socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((backend, port))
        ls.listen(16)
        threading.Thread(target=echo_server, args=(ls,), daemon=True).start()
        pairs.append({"dst": dst, "host": host, "port": port})
    enter(a.client_ns)
    res = {}
    conns = []
    for p in pairs:
        r = res[p["dst"]] = {"sent": 0, "echoed": 0, "error": None, "new_connection": None}
        try:
            conns.append((connect(a.src, p["host"], p["port"]), r))
        except OSError as e:
            r["error"] = "connect: %s" % e
    deadline = time.time() + a.max_secs
    ready = False
    n = 0
    while conns and not os.path.exists(a.stop) and time.time() < deadline:
        n += 1
        for s, r in conns:
            if r["error"]:
                continue
            r["sent"] += 1
            try:
                if echo_line(s, b"line %d\n" % n):
                    r["echoed"] += 1
                else:
                    r["error"] = "line %d came back changed" % n
            except OSError as e:
                r["error"] = "line %d: %s" % (n, e)
        if not ready and all(r["echoed"] for _, r in conns):
            open(a.ready, "w").close()
            ready = True
        time.sleep(0.1)
    for s, _ in conns:
        s.close()
    for p in pairs:
        r = res[p["dst"]]
        try:
            s = connect(a.src, p["host"], p["port"])
            r["new_connection"] = echo_line(s, b"new\n")
            s.close()
        except OSError as e:
            r["new_connection"] = "failed: %s" % e
    print(json.dumps(res))
    ok = all(r["sent"] > 0 and r["echoed"] == r["sent"] and not r["error"]
             and r["new_connection"] is True for r in res.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
