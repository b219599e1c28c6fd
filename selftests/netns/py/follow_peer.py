#!/usr/bin/env python3
"""The peers of selftests/netns/netns_follow.sh (python3 stdlib only).

  follow_peer.py serve ADDR READY    TCP on ADDR:80 (first line sent: the
                                     client's address as seen, then echo),
                                     UDP echo on ADDR:5000 ("SEEN-ADDR PAYLOAD");
                                     touches READY once both listen
  follow_peer.py who ADDR PORT       one TCP connection: prints the address
                                     the server saw (exit 1 on failure)
  follow_peer.py udp-stream ADDR PORT OUT
                                     a datagram every 20 ms, replies counted;
                                     OUT (JSON, rewritten every 0.1 s):
                                     {"sent", "recv", "seen"} until SIGTERM
                                     (then up to 1 s for the last replies)
  follow_peer.py tcp-stream ADDR PORT OUT [CHUNK]
                                     one TCP connection, CHUNK bytes (1024)
                                     every 20 ms, echoed bytes counted; OUT as
                                     above with "echoed", "error"; on SIGTERM
                                     up to 3 s for the rest of the echo
  follow_peer.py probe ADDR PORT OUT
                                     a new flow every 10 ms (a datagram from a
                                     fresh socket), each waiting up to 1 s for
                                     its answer; OUT: {"sent", "lost",
                                     "seen": {ADDR: answers}} until SIGTERM
  follow_peer.py pmtu ADDR PORT SIZE SECS
                                     DF datagrams of SIZE bytes until the
                                     route's path MTU drops below SIZE+28;
                                     prints the path MTU learnt (exit 1: none)
"""
import json, os, signal, socket, sys, threading, time

# The streams' SIGTERM: write the last status, then exit. A plain flag,
# not a threading.Event: Event.set takes a lock, and a second SIGTERM
# handled inside the first one's set() waits for that lock forever (the
# test's clean-up and `timeout` each send one), leaving the process behind.
stopping = False


def on_term(*_):
    global stopping
    stopping = True


def write_json(path, obj):
    # A stream's last write may come after its test's clean-up removed the
    # directory (the stream drains for up to a second once stopped):
    # nobody is left to read it.
    try:
        with open(path + ".tmp", "w") as f:
            json.dump(obj, f)
        os.replace(path + ".tmp", path)
    except FileNotFoundError:
        pass

def serve(addr, ready):
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, 80)); t.listen(64)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((addr, 5000))
    def echo(c, peer):
        with c:
            try:
                c.sendall((peer[0] + "\n").encode())
                while True:
                    d = c.recv(65536)
                    if not d:
                        return
                    c.sendall(d)
            except OSError:
                return
    def udp():
        while True:
            d, peer = u.recvfrom(65536)
            u.sendto(peer[0].encode() + b" " + d, peer)
    threading.Thread(target=udp, daemon=True).start()
    open(ready, "w").close()
    while True:
        c, peer = t.accept()
        threading.Thread(target=echo, args=(c, peer), daemon=True).start()

def who(addr, port):
    try:
        s = socket.create_connection((addr, int(port)), timeout=2)
        s.settimeout(2)
        line = b""
        while not line.endswith(b"\n"):
            d = s.recv(100)
            if not d:
                break
            line += d
        print(line.decode().strip())
        sys.exit(0 if line.endswith(b"\n") else 1)
    except OSError as e:
        print("failed: %s" % e)
        sys.exit(1)

def udp_stream(addr, port, out):
    signal.signal(signal.SIGTERM, on_term)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    st = {"sent": 0, "recv": 0, "seen": ""}
    last = 0
    while not stopping:
        try:
            s.sendto(b"seq%d" % st["sent"], (addr, int(port)))
            st["sent"] += 1
        except OSError:
            pass
        end = time.time() + 0.02
        while time.time() < end:
            try:
                d, _ = s.recvfrom(2048)
                st["recv"] += 1
                st["seen"] = d.split(b" ")[0].decode()
            except BlockingIOError:
                time.sleep(0.002)
            except OSError:
                time.sleep(0.002)
        if time.time() - last > 0.1:
            write_json(out, st)
            last = time.time()
    end = time.time() + 1
    while st["recv"] < st["sent"] and time.time() < end:
        try:
            s.recvfrom(2048)
            st["recv"] += 1
        except OSError:
            time.sleep(0.01)
    write_json(out, st)

def tcp_stream(addr, port, out, chunk_size=1024):
    signal.signal(signal.SIGTERM, on_term)
    st = {"sent": 0, "echoed": 0, "seen": "", "error": ""}
    try:
        s = socket.create_connection((addr, int(port)), timeout=5)
        s.setblocking(False)
    except OSError as e:
        st["error"] = str(e); write_json(out, st); return
    buf, chunk, last = b"", b"x" * int(chunk_size), 0
    while not stopping:
        try:
            st["sent"] += s.send(chunk)
        except BlockingIOError:
            pass
        except OSError as e:
            st["error"] = str(e); break
        end = time.time() + 0.02
        while time.time() < end:
            try:
                d = s.recv(65536)
                if not d:
                    st["error"] = "closed by the peer"; break
                if not st["seen"]:
                    buf += d
                    if b"\n" in buf:
                        line, rest = buf.split(b"\n", 1)
                        st["seen"] = line.decode(); st["echoed"] += len(rest)
                else:
                    st["echoed"] += len(d)
            except BlockingIOError:
                time.sleep(0.002)
            except OSError as e:
                st["error"] = str(e); break
        if st["error"]:
            break
        if time.time() - last > 0.1:
            write_json(out, st); last = time.time()
    end = time.time() + 3
    while not st["error"] and st["echoed"] < st["sent"] and time.time() < end:
        try:
            d = s.recv(65536)
            if not d:
                st["error"] = "closed by the peer"
            st["echoed"] += len(d)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError as e:
            st["error"] = str(e)
    write_json(out, st)

def probe(addr, port, out):
    signal.signal(signal.SIGTERM, on_term)
    st = {"sent": 0, "lost": 0, "seen": {}}
    last = 0
    while not stopping:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1)
            try:
                s.sendto(b"probe%d" % st["sent"], (addr, int(port)))
                st["sent"] += 1
                d, _ = s.recvfrom(2048)
                seen = d.split(b" ")[0].decode()
                st["seen"][seen] = st["seen"].get(seen, 0) + 1
            except OSError:
                st["lost"] += 1
        if time.time() - last > 0.1:
            write_json(out, st); last = time.time()
        time.sleep(0.01)
    write_json(out, st)

def pmtu(addr, port, size, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO
    s.connect((addr, int(port)))
    end = time.time() + float(secs)
    while time.time() < end:
        try:
            s.send(b"p" * int(size))
        except OSError:
            pass  # EMSGSIZE once the path MTU is known
        mtu = s.getsockopt(socket.IPPROTO_IP, 14)  # IP_MTU
        if mtu < int(size) + 28:
            print(mtu); sys.exit(0)
        time.sleep(0.05)
    print("none (path MTU %d)" % s.getsockopt(socket.IPPROTO_IP, 14)); sys.exit(1)

{"serve": serve, "who": who, "udp-stream": udp_stream, "tcp-stream": tcp_stream,
 "pmtu": pmtu, "probe": probe}[sys.argv[1]](*sys.argv[2:])
