#!/usr/bin/env python3
# One IPv6 flow's two flows6 entries (xmasq_abi.h: struct xm_flow6_key,
# struct xm_flow6) as bpftool arguments, one entry a line:
#   key hex .. value hex ..
# as the data plane writes them, so that conntrack can be checked without
# IPv6 traffic. Usage:
#   flow6_entry.py PROTO CLIENT CPORT PUB PPORT MASQ MPORT BACKEND BPORT STATE IN_SLOT OUT_SLOT
import socket
import struct
import sys
import time

XM_FLOW_REPLY = 1


def a6(s):
    return socket.inet_pton(socket.AF_INET6, s)


def key(saddr, daddr, sport, dport, proto):
    return a6(saddr) + a6(daddr) + struct.pack("!HH", sport, dport) + bytes([proto, 0, 0, 0])


def value(new_saddr, new_daddr, new_sport, new_dport, flags, state, in_slot, out_slot, packets):
    now = int(time.clock_gettime(time.CLOCK_MONOTONIC))
    return (a6(new_saddr) + a6(new_daddr) + struct.pack("!HH", new_sport, new_dport) +
            bytes(6) + bytes([flags, state, in_slot, out_slot]) + bytes(2) +
            struct.pack("=IIQQ", 7, now, packets, packets * 100))


def hexargs(b):
    return " ".join("%02x" % c for c in b)


def main():
    (proto, client, cport, pub, pport, masq, mport, backend, bport, state, in_slot,
     out_slot) = sys.argv[1:13]
    proto, cport, pport, mport, bport = int(proto), int(cport), int(pport), int(mport), int(bport)
    state, in_slot, out_slot = int(state), int(in_slot), int(out_slot)
    orig_k = key(client, pub, cport, pport, proto)
    orig_v = value(masq, backend, mport, bport, 0, state, in_slot, out_slot, 10)
    reply_k = key(backend, masq, bport, mport, proto)
    reply_v = value(pub, client, pport, cport, XM_FLOW_REPLY, state, out_slot, in_slot, 5)
    assert len(orig_k) == 40 and len(orig_v) == 72
    print("key hex %s value hex %s" % (hexargs(reply_k), hexargs(reply_v)))
    print("key hex %s value hex %s" % (hexargs(orig_k), hexargs(orig_v)))


main()
