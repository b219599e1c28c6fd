#!/usr/bin/env python3
"""The peers of selftests/netns/netns_cli.sh (python3 stdlib only).

  cli_peer.py serve ADDR READY_FILE   TCP echo on ADDR:80, UDP echo on ADDR:5000;
                                      touches READY_FILE once both listen
  cli_peer.py talk ADDR PORT SECS     talks through the router for SECS
                                      (1 KiB every 10 ms, each echoed back, so
                                      rates are clearly non-zero); prints the
                                      bytes echoed
  cli_peer.py udp ADDR PORT MSG       one datagram, prints the echo (up to 3
                                      tries; tries taken go to stderr)
"""
import socket, sys, threading, time

def serve(addr, ready):
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, 80)); t.listen(16)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((addr, 5000))
    def echo(c):
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                c.sendall(d)
    def udp():
        while True:
            d, peer = u.recvfrom(65536)
            u.sendto(d, peer)
    threading.Thread(target=udp, daemon=True).start()
    open(ready, "w").close()
    while True:
        c, _ = t.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()

def talk(addr, port, secs):
    s = socket.create_connection((addr, int(port)), timeout=5)
    end, n, chunk = time.time() + float(secs), 0, b"x" * 1024
    while time.time() < end:
        s.sendall(chunk)
        got = 0
        while got < len(chunk):
            d = s.recv(65536)
            if not d:
                raise SystemExit("connection closed by the backend")
            got += len(d)
        n += got
        time.sleep(0.01)
    print(n)

def udp(addr, port, msg):
    # A datagram may be lost, as any UDP client knows: up to 3 tries, and
    # the tries it took go to stderr so that a loss is visible in the log.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
    for i in range(3):
        s.sendto(msg.encode(), (addr, int(port)))
        try:
            print(s.recvfrom(65536)[0].decode())
            if i:
                print("answered on try %d" % (i + 1), file=sys.stderr)
            return
        except socket.timeout:
            pass
    raise SystemExit("no answer to 3 datagrams")

{"serve": serve, "talk": talk, "udp": udp}[sys.argv[1]](*sys.argv[2:])
