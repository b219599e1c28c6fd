/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by tools/bench/bench.bpf.c and tools/bench/xbench.c. */
#ifndef XMASQ_BENCH_H
#define XMASQ_BENCH_H

#include <linux/types.h>

/* 64 bytes on the wire: 14 Ethernet + 20 IPv4 + 8 UDP + 18 payload + FCS. */
#define XB_FRAME_LEN   60
#define XB_PAYLOAD_LEN 18
#define XB_UDP_LEN     (8 + XB_PAYLOAD_LEN)
/* The IPv6 frame: the same UDP datagram behind a 40-byte IPv6 header,
 * 84 bytes on the wire (IPv6 has no 64-byte UDP frame with a payload). */
#define XB_FRAME6_LEN  (14 + 40 + XB_UDP_LEN)
#define XB_FRAME_MAX   XB_FRAME6_LEN

/* What the generator sends. Addresses and ports in host order. */
struct xb_gen_cfg {
	__u8 dmac[6];
	__u8 smac[6];
	__u32 saddr; /* first source address */
	__u32 daddr;
	__u16 sport;	  /* first source port */
	__u16 dport;	  /* first destination port */
	__u32 dport_bits; /* flows spread over 2^dport_bits dports */
	__u32 nflows;	  /* flows cycled through; 0 = every packet new */
	__u32 _pad;
	__u64 first;	   /* index of the first flow */
	__u32 out_ifindex; /* xb_gen redirects here */
	__u32 payload_sum; /* ones' complement sum of the payload words */
	__u8 payload[XB_PAYLOAD_LEN];
	__u8 _pad2[6];
	/* IPv6 (xb_gen6, xb_wrap6): the addresses in network order; flow i
	 * adds to the last 32 bits of saddr6 as to saddr. sum6: the ones'
	 * complement sum (host-order words) of what the UDP checksum covers
	 * and no flow changes: saddr6 but its last 32 bits, daddr6, the
	 * pseudo-header's length and next header, the UDP length, the
	 * payload. */
	__u8 saddr6[16];
	__u8 daddr6[16];
	__u32 sum6;
	__u32 _pad3;
};

/* Bare router: where a frame arriving on an interface leaves. */
struct xb_bare_port {
	__u32 out_ifindex;
	__u8 smac[6];
	__u8 dmac[6];
};

#endif
