#!/usr/bin/env python3
# One IPv6 flow's two flows6 entries (xmasq_abi.h: struct xm_ct6_slot, a
# struct xm_flow6_key and a struct xm_flow6) as bpftool arguments, one
# entry a line:
#   key hex <slot index> value hex <the 128-byte slot, LIVE>
# as the data plane writes them, so that conntrack can be checked without
# IPv6 traffic. flows6 is an open-addressing array: each entry goes to its
# key's home slot (xm_ct6_hash over the key's five words with the
# router's config.ct_seed, read from the pin dir), or the next free one
# when the other entry took it (the table is taken to be empty there).
# --live: how many of these two entries' slots are live; exit 1 if any.
# --hash: the entries as the previous build's flows6 (the kernel's hash
# map) held them: key hex <40-byte key> value hex <72-byte entry>.
# Usage:
#   flow6_entry.py [--live|--hash] PIN_DIR PROTO CLIENT CPORT PUB PPORT MASQ MPORT BACKEND BPORT STATE
#                  IN_SLOT OUT_SLOT
import json
import socket
import struct
import subprocess
import sys
import time

XM_FLOW_REPLY = 1
XM_CT_LIVE = 1
XM_CT_PROBES = 64
CT_SEED_OFFSET = 56  # offsetof(struct xm_config, ct_seed)
CT_STATE_BYTE = 37  # offsetof(struct xm_flow6_key, ct_state)
M64 = (1 << 64) - 1


def a6(s):
    return socket.inet_pton(socket.AF_INET6, s)


def key(saddr, daddr, sport, dport, proto, ct_state=0):
    return a6(saddr) + a6(daddr) + struct.pack("!HH", sport, dport) + bytes([proto, ct_state, 0, 0])


def value(new_saddr, new_daddr, new_sport, new_dport, flags, state, in_slot, out_slot, packets):
    now = int(time.clock_gettime(time.CLOCK_MONOTONIC))
    return (a6(new_saddr) + a6(new_daddr) + struct.pack("!HH", new_sport, new_dport) +
            bytes(6) + bytes([flags, state, in_slot, out_slot]) + bytes(2) +
            struct.pack("=IIQQ", 7, now, packets, packets * 100))


def ct6_hash(k, seed):
    """xmasq_abi.h's xm_ct6_hash: the key's state byte left out."""
    k = k[:CT_STATE_BYTE] + b"\0" + k[CT_STATE_BYTE + 1:]
    h = seed
    for w in struct.unpack("=5Q", k):
        h = ((h ^ w) * 0x9e3779b97f4a7c15) & M64
        h ^= h >> 32
    h = (h * 0xbf58476d1ce4e5b9) & M64
    h ^= h >> 29
    h = (h * 0x94d049bb133111eb) & M64
    return h >> 32


def bpftool(*args):
    return json.loads(subprocess.run(["bpftool", "-j"] + list(args), check=True,
                                     capture_output=True, text=True).stdout)


def raw(v):
    return bytes(int(b, 16) for b in v)


def hexargs(b):
    return " ".join("%02x" % c for c in b)


def main():
    args = sys.argv[1:]
    mode = args.pop(0) if args[0] in ("--live", "--hash") else ""
    (pin, proto, client, cport, pub, pport, masq, mport, backend, bport, state, in_slot,
     out_slot) = args[:13]
    proto, cport, pport, mport, bport = int(proto), int(cport), int(pport), int(mport), int(bport)
    state, in_slot, out_slot = int(state), int(in_slot), int(out_slot)
    if mode == "--hash":
        print("key hex %s value hex %s" % (hexargs(key(backend, masq, bport, mport, proto)),
                                           hexargs(value(pub, client, pport, cport, XM_FLOW_REPLY,
                                                         state, out_slot, in_slot, 5))))
        print("key hex %s value hex %s" % (hexargs(key(client, pub, cport, pport, proto)),
                                           hexargs(value(masq, backend, mport, bport, 0, state,
                                                         in_slot, out_slot, 10))))
        return
    cfg = raw(bpftool("map", "lookup", "pinned", pin + "/config", "key", "0", "0", "0", "0")["value"])
    seed = struct.unpack_from("=Q", cfg, CT_SEED_OFFSET)[0]
    homes = bpftool("map", "show", "pinned", pin + "/flows6")["max_entries"] - (XM_CT_PROBES - 1)
    orig_k = key(client, pub, cport, pport, proto, XM_CT_LIVE)
    orig_v = value(masq, backend, mport, bport, 0, state, in_slot, out_slot, 10)
    reply_k = key(backend, masq, bport, mport, proto, XM_CT_LIVE)
    reply_v = value(pub, client, pport, cport, XM_FLOW_REPLY, state, out_slot, in_slot, 5)
    assert len(orig_k) == 40 and len(orig_v) == 72
    taken = set()
    entries = []
    # the reply entry first, as the data plane inserts them
    for k, v in ((reply_k, reply_v), (orig_k, orig_v)):
        idx = (ct6_hash(k, seed) * homes) >> 32
        while idx in taken:
            idx += 1
        taken.add(idx)
        entries.append((struct.pack("=I", idx), k + v + bytes(16)))
    if mode != "--live":
        for idx, slot in entries:
            assert len(slot) == 128
            print("key hex %s value hex %s" % (hexargs(idx), hexargs(slot)))
        return
    n = 0
    for idx, _ in entries:
        slot = raw(bpftool("map", "lookup", "pinned", pin + "/flows6", "key", "hex",
                           *hexargs(idx).split())["value"])
        n += slot[CT_STATE_BYTE] == XM_CT_LIVE
    print("%d live" % n)
    sys.exit(1 if n else 0)


main()
