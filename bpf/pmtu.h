/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Path MTU discovery through the router: a packet too big for the egress
 * MTU is turned, in place, into the ICMP "fragmentation needed" (RFC 1191)
 * its sender must receive, and sent back out of the NIC it came in on.
 * Done at tc: the skb helpers can shrink a packet and reset GSO state.
 *
 * tc sees GSO packets (from a TSO sender on a veth or tap, or GRO'd by the
 * NIC): skb->len up to 64 KB, each segment gso_size bytes of payload. Such
 * a packet is too big only if its segments are (the egress device cuts
 * it), as the kernel's forward path checks (skb_gso_validate_network_len).
 *
 * Those packets are CHECKSUM_PARTIAL: the L4 checksum field holds only the
 * pseudo-header sum, to be finished (by the device, or skb_checksum_help)
 * over the bytes from the L4 header (csum_start) to the end. Shrinking the
 * packet keeps that state, and bpf_skb_change_tail refuses to cut before
 * the checksum field: the quote must reach it (TCP: 20 bytes of header).
 * The ICMP then still carries the PARTIAL mark, so whoever finishes the
 * "checksum" rewrites the quoted L4 checksum field: xm_quote_csum_fixed
 * puts there the one value that this rewrite leaves as it is. */
#ifndef XMASQ_BPF_PMTU_H
#define XMASQ_BPF_PMTU_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "parse.h"
#include "csum.h"

#define XM_IP_DF	  0x4000
#define XM_IPV4_MIN_MTU	  68 /* RFC 791: every IPv4 link carries it unfragmented */
#define XM_QUOTE_IP_MAX	  60 /* the offending IP header, options and all */
#define XM_QUOTE_L4_MAX	  20 /* and its first L4 bytes: a TCP header without options */
#define XM_QUOTE_L4_TCP	  20
#define XM_QUOTE_L4_MIN	  8 /* RFC 792: at least 64 bits of the datagram */
#define XM_QUOTE_TCP_CSUM 8 /* the checksum field, in 16-bit words of the L4 quote */
#define XM_QUOTE_UDP_CSUM 3

/* Length of the IP packets the egress will send for this one: the whole
 * packet, or for a GSO/GRO packet (gso_size set) its first segment. Not
 * gso_segs: a tap (virtio) leaves it 0 until the packet is segmented. */
static __always_inline __u32 xm_tc_wire_len(struct __sk_buff *skb, const struct xm_pkt *p,
					    void *data, void *data_end)
{
	__u32 tot_len = bpf_ntohs(p->ip->tot_len), gso_size = skb->gso_size, seg;
	__u32 hdrs = p->l4_off - p->l3_off;

	if (!gso_size)
		return tot_len;
	if (p->key.proto == IPPROTO_TCP) {
		__u32 l4_off = p->l4_off;
		struct tcphdr *th;

		if (l4_off > XM_MAX_L4_OFF)
			return 0;
		th = data + l4_off;
		if ((void *)(th + 1) > data_end)
			return 0;
		seg = hdrs + th->doff * 4 + gso_size;
	} else {
		seg = hdrs + sizeof(struct udphdr) + gso_size;
	}
	/* One short segment; 0: a packet over 64 KB (BIG TCP). */
	return tot_len && tot_len < seg ? tot_len : seg;
}

/* The value for the quoted L4 checksum field (word `field` of the l4
 * quote, the other words as they are) that finishing a CHECKSUM_PARTIAL
 * sum over the quote leaves unchanged: F with F == ~(S + F) in ones'
 * complement, S the sum of the other words, i.e. 2F == -S, F = -S / 2,
 * and halving mod 0xffff is a right rotation by one bit. Any byte order:
 * multiplying commutes with the byte swap (itself a multiplication by
 * 2^8). 0xffff, not 0 (the same number), as the kernel writes a zero. */
static __always_inline __u16 xm_quote_csum_fixed(__u16 *l4, __u32 words, __u32 field)
{
	__u32 sum = 0;
	__u16 neg;

#pragma unroll
	for (__u32 i = 0; i < XM_QUOTE_L4_MAX / 2; i++)
		if (i < words && i != field)
			sum += l4[i];
	neg = ~csum_fold32(sum);
	neg = neg >> 1 | neg << 15;
	return neg ? neg : 0xffff;
}

/* Turns the too-big packet whose IP header is at l3_off into the ICMP
 * frag-needed its sender must get: from router_addr, next-hop MTU mtu,
 * quoting the IP header (its total length seg_len: the packet, or a GSO
 * packet's first segment, as it would have left) and the first L4 bytes;
 * the MACs swapped. Returns 0 if the skb is that ICMP now (to be sent out
 * of the NIC it came in on), -1 on failure (the skb may be cut: drop it).
 * Global: verified once, its buffers on a frame of its own, out of the
 * packet program's (whose new-flow chain fills 6.1's stack). */
__noinline int xm_tc_frag_needed(struct __sk_buff *skb, __u32 l3_off, __be32 router_addr, __u32 mtu,
				 __u32 seg_len)
{
	struct {
		struct iphdr ip;
		struct xm_icmp_hdr icmp;
		__u8 qip[XM_QUOTE_IP_MAX];
	} m = {};
	__u16 ql4[XM_QUOTE_L4_MAX / 2] = {};
	struct iphdr *qip = (struct iphdr *)m.qip;
	__u32 ihl, l4_len, quote_len, csum_diff;
	__u8 *macs = (__u8 *)&m.ip; /* m.ip's first 12 bytes, before it is built */
	__s64 sum;

	/* Stored at once, rather than kept in registers the helper calls would
	 * spill to the stack. */
	m.ip.saddr = router_addr;
	m.icmp.seq = bpf_htons((__u16)mtu); /* next-hop MTU, RFC 1191 */
	if (!skb || l3_off > XM_MAX_L3_OFF ||
	    bpf_skb_load_bytes(skb, l3_off, m.qip, sizeof(struct iphdr)) || qip->version != 4)
		return -1;
	/* Masked so the verifier sees the bounds: ihl * 4 is 20 to 60. */
	ihl = (qip->ihl * 4) & 0x3c;
	if (ihl < sizeof(struct iphdr))
		return -1;
	l4_len = qip->protocol == IPPROTO_TCP ? XM_QUOTE_L4_TCP : XM_QUOTE_L4_MIN;
	quote_len = ihl + l4_len;
	if (bpf_skb_load_bytes(skb, l3_off, m.qip, ihl) ||
	    bpf_skb_load_bytes(skb, l3_off + ihl, ql4, l4_len))
		return -1;
	/* Back to where it came from: the MACs swapped (the Ethernet header
	 * moves to the front as the room below is made). */
	if (bpf_skb_load_bytes(skb, 0, macs, 12) || bpf_skb_store_bytes(skb, 0, macs + 6, 6, 0) ||
	    bpf_skb_store_bytes(skb, 6, macs, 6, 0))
		return -1;
	__builtin_memset(macs, 0, 12);

	/* The quoted header as its (first) segment left the sender. */
	csum_diff = csum_diff16(0, qip->tot_len, bpf_htons(seg_len));
	qip->check = csum_apply(qip->check, csum_diff);
	qip->tot_len = bpf_htons(seg_len);
	if (qip->protocol == IPPROTO_TCP)
		ql4[XM_QUOTE_TCP_CSUM] = xm_quote_csum_fixed(ql4, l4_len / 2, XM_QUOTE_TCP_CSUM);
	else if (qip->protocol == IPPROTO_UDP)
		ql4[XM_QUOTE_UDP_CSUM] = xm_quote_csum_fixed(ql4, l4_len / 2, XM_QUOTE_UDP_CSUM);

	/* Shrink first: it also drops any GSO state. */
	if (bpf_skb_change_tail(skb, l3_off + quote_len, 0) ||
	    bpf_skb_adjust_room(skb, sizeof(m.ip) + sizeof(m.icmp), BPF_ADJ_ROOM_MAC, 0))
		return -1;

	m.ip.version = 4;
	m.ip.ihl = 5;
	m.ip.tos = 0xc0; /* internetwork control, as the kernel sends ICMP */
	m.ip.tot_len = bpf_htons(sizeof(m.ip) + sizeof(m.icmp) + quote_len);
	m.ip.ttl = 64;
	m.ip.protocol = IPPROTO_ICMP;
	m.ip.daddr = qip->saddr;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&m.ip, sizeof(m.ip), 0);
	if (sum < 0)
		return -1;
	m.ip.check = ~csum_fold32((__u32)sum);

	m.icmp.type = XM_ICMP_DEST_UNREACH;
	m.icmp.code = 4; /* fragmentation needed and DF set */
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&m.icmp, sizeof(m.icmp) + ihl, 0);
	if (sum < 0)
		return -1;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)ql4, l4_len, (__u32)sum);
	if (sum < 0)
		return -1;
	m.icmp.checksum = ~csum_fold32((__u32)sum);

	if (bpf_skb_store_bytes(skb, l3_off, &m, sizeof(m.ip) + sizeof(m.icmp) + ihl, 0) ||
	    bpf_skb_store_bytes(skb, l3_off + sizeof(m.ip) + sizeof(m.icmp) + ihl, ql4, l4_len, 0))
		return -1;
	return 0;
}

/* The steps both splits (IPv4's, 6->4's) share around the header fields
 * each writes, once the second fragment's data (n bytes from hdrs +
 * first: its length through xm_len_bounded, for 6.1's verifier) is kept
 * in refrag: the skb cut after the first's data and a copy of it sent
 * (xm_refrag_send_first); the skb made the headers and the kept data
 * (xm_refrag_restore). */
static __always_inline int xm_refrag_send_first(struct __sk_buff *skb, __u32 hdrs, __u32 first,
						__u32 out_ifindex)
{
	return bpf_skb_change_tail(skb, hdrs + first, 0) || bpf_clone_redirect(skb, out_ifindex, 0);
}

static __always_inline int xm_refrag_restore(struct __sk_buff *skb, const struct xm_refrag *buf,
					     __u32 hdrs, __u32 n)
{
	return bpf_skb_change_tail(skb, hdrs + n, 0) ||
	       bpf_skb_store_bytes(skb, hdrs, buf->data, n, 0);
}

/* Sends the IPv4 packet of skb (its 20-byte header at l3_off: no
 * options), too big for mtu and without DF, as two fragments, as the
 * kernel's forward path would (RFC 791): the first (its data a multiple
 * of 8 bytes, as much as mtu takes; MF) a copy sent to out_ifindex by
 * bpf_clone_redirect, the skb the second (the rest; the offset moved on,
 * MF as it was), for the caller to send. The rest waits in `refrag`
 * meanwhile: a program cannot make a second packet. 0, 1: more than two
 * fragments' worth (the skb untouched), or -1: drop (the skb may be half
 * done). Global: verified once, a frame of its own. */
__noinline int xm_tc_split4(struct __sk_buff *skb, __u32 l3_off, __u32 mtu, __u32 out_ifindex)
{
	__u32 zero = 0, hdrs, data_len, first, rest, n;
	struct xm_refrag *buf = bpf_map_lookup_elem(&refrag, &zero);
	struct iphdr ip;
	__be16 len1, frag1, len2, frag2;
	__u16 frag;

	if (!skb || !buf || l3_off > XM_MAX_L3_OFF ||
	    bpf_skb_load_bytes(skb, l3_off, &ip, sizeof(ip)) || ip.version != 4 || ip.ihl != 5 ||
	    bpf_ntohs(ip.tot_len) <= sizeof(ip))
		return -1;
	hdrs = l3_off + sizeof(ip);
	data_len = bpf_ntohs(ip.tot_len) - sizeof(ip);
	if (mtu < XM_IPV4_MIN_MTU)
		return 1;
	first = (mtu - sizeof(ip)) & ~7u;
	rest = data_len > first ? data_len - first : 0;
	frag = bpf_ntohs(ip.frag_off);
	if (rest == 0 || rest > first || rest > XM_REFRAG_MAX ||
	    (frag & XM_IP_OFFSET) + first / 8 > XM_IP_OFFSET)
		return 1;
	n = xm_len_bounded(rest, XM_REFRAG_MAX);
	if (bpf_skb_load_bytes(skb, hdrs + first, buf->data, n))
		return -1;
	/* the first: as much as fits, more to come */
	len1 = bpf_htons(sizeof(ip) + first);
	frag1 = bpf_htons((frag & XM_IP_OFFSET) | XM_IP_MF);
	if (bpf_l3_csum_replace(skb, l3_off + offsetof(struct iphdr, check), ip.tot_len, len1, 2) ||
	    bpf_l3_csum_replace(skb, l3_off + offsetof(struct iphdr, check), ip.frag_off, frag1,
				2) ||
	    bpf_skb_store_bytes(skb, l3_off + offsetof(struct iphdr, tot_len), &len1, 2, 0) ||
	    bpf_skb_store_bytes(skb, l3_off + offsetof(struct iphdr, frag_off), &frag1, 2, 0) ||
	    xm_refrag_send_first(skb, hdrs, first, out_ifindex))
		return -1;
	/* the second: the rest, from where the first ends */
	len2 = bpf_htons(sizeof(ip) + n);
	frag2 = bpf_htons(((frag & XM_IP_OFFSET) + first / 8) | (frag & XM_IP_MF));
	if (xm_refrag_restore(skb, buf, hdrs, n) ||
	    bpf_l3_csum_replace(skb, l3_off + offsetof(struct iphdr, check), len1, len2, 2) ||
	    bpf_l3_csum_replace(skb, l3_off + offsetof(struct iphdr, check), frag1, frag2, 2) ||
	    bpf_skb_store_bytes(skb, l3_off + offsetof(struct iphdr, tot_len), &len2, 2, 0) ||
	    bpf_skb_store_bytes(skb, l3_off + offsetof(struct iphdr, frag_off), &frag2, 2, 0))
		return -1;
	return 0;
}

#endif
