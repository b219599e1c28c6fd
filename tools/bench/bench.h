/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by tools/bench/bench.bpf.c and tools/bench/xbench.c. */
#ifndef XMASQ_BENCH_H
#define XMASQ_BENCH_H

#include <linux/types.h>

/* 64 bytes on the wire: 14 Ethernet + 20 IPv4 + 8 UDP + 18 payload + FCS. */
#define XB_FRAME_LEN   60
#define XB_PAYLOAD_LEN 18
#define XB_UDP_LEN     (8 + XB_PAYLOAD_LEN)

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
};

/* Bare router: where a frame arriving on an interface leaves. */
struct xb_bare_port {
	__u32 out_ifindex;
	__u8 smac[6];
	__u8 dmac[6];
};

#endif
