/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Path MTU discovery through the router: a packet too big for the egress
 * MTU is turned, in place, into the ICMP "fragmentation needed" (RFC 1191)
 * its sender must receive, and sent back out of the NIC it came in on.
 * Done at tc: the skb helpers can shrink a packet and reset GSO state. */
#ifndef XMASQ_BPF_PMTU_H
#define XMASQ_BPF_PMTU_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"
#include "parse.h"
#include "csum.h"

#define XM_IP_DF     0x4000
#define XM_QUOTE_MAX (60 + 8) /* the offending IP header and 8 bytes */

/* Length of the IP packets the egress will send for this one: the whole
 * packet, or one segment of a GSO/GRO super-packet. */
static __always_inline __u32 xm_tc_wire_len(struct __sk_buff *skb, const struct xm_pkt *p,
					    void *data, void *data_end)
{
	__u32 hdrs = p->l4_off - p->l3_off;

	if (!skb->gso_segs || skb->gso_segs == 1 || !skb->gso_size)
		return bpf_ntohs(p->ip->tot_len);
	if (p->key.proto == IPPROTO_TCP) {
		__u32 l4_off = p->l4_off;
		struct tcphdr *th;

		if (l4_off > XM_MAX_L4_OFF)
			return 0;
		th = data + l4_off;
		if ((void *)(th + 1) > data_end)
			return 0;
		return hdrs + th->doff * 4 + skb->gso_size;
	}
	return hdrs + sizeof(struct udphdr) + skb->gso_size;
}

/* Turns the packet into ICMP frag-needed for its sender; returns 0 if the
 * skb is now that ICMP (to be sent out of in_ifindex), -1 on failure. */
static __always_inline int xm_tc_make_frag_needed(struct __sk_buff *skb, const struct xm_pkt *p,
						  __be32 router_addr, __u16 mtu)
{
	__u8 quote[XM_QUOTE_MAX] = {};
	struct {
		struct iphdr ip;
		struct xm_icmp_hdr icmp;
	} hdr = {};
	__u8 macs[12];
	/* Masked so the verifier sees the bound: ihl * 4 is at most 60. */
	__u32 quote_len = ((p->ip->ihl * 4) & 0x3c) + 8;
	__u32 l3_off = p->l3_off;
	__be32 client = p->key.saddr;
	__s64 sum;

	if (quote_len > XM_QUOTE_MAX || quote_len < 28 || l3_off > XM_MAX_L3_OFF)
		return -1;
	if (bpf_skb_load_bytes(skb, l3_off, quote, quote_len) ||
	    bpf_skb_load_bytes(skb, 0, macs, 12))
		return -1;
	/* Shrink first: it also drops any GSO state. */
	if (bpf_skb_change_tail(skb, l3_off + quote_len, 0) ||
	    bpf_skb_adjust_room(skb, sizeof(hdr), BPF_ADJ_ROOM_MAC, 0))
		return -1;

	hdr.ip.version = 4;
	hdr.ip.ihl = 5;
	hdr.ip.tos = 0xc0; /* internetwork control, as the kernel sends ICMP */
	hdr.ip.tot_len = bpf_htons(sizeof(hdr) + quote_len);
	hdr.ip.ttl = 64;
	hdr.ip.protocol = IPPROTO_ICMP;
	hdr.ip.saddr = router_addr;
	hdr.ip.daddr = client;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&hdr.ip, sizeof(hdr.ip), 0);
	if (sum < 0)
		return -1;
	hdr.ip.check = ~csum_fold32((__u32)sum);

	hdr.icmp.type = XM_ICMP_DEST_UNREACH;
	hdr.icmp.code = 4;	       /* fragmentation needed and DF set */
	hdr.icmp.seq = bpf_htons(mtu); /* next-hop MTU, RFC 1191 */
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&hdr.icmp, sizeof(hdr.icmp), 0);
	if (sum < 0)
		return -1;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)quote, quote_len & 0x7c, (__u32)sum);
	if (sum < 0)
		return -1;
	hdr.icmp.checksum = ~csum_fold32((__u32)sum);

	/* Back to where it came from: swap the MACs. */
	if (bpf_skb_store_bytes(skb, 0, macs + 6, 6, 0) ||
	    bpf_skb_store_bytes(skb, 6, macs, 6, 0) ||
	    bpf_skb_store_bytes(skb, l3_off, &hdr, sizeof(hdr), 0))
		return -1;
	return 0;
}

#endif
