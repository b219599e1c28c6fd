/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Applying a flow's translation to a packet. Two ways:
 *  - direct writes with incremental checksums (RFC 1624), for XDP and for
 *    what tc sees with complete checksums (ICMP, later fragments);
 *  - the skb checksum helpers, for TCP/UDP at tc, which keep
 *    CHECKSUM_PARTIAL skbs right.
 * Both rewrite source/destination address and port (ICMP echo: the id),
 * TTL - 1, and for ICMP errors the quoted packet too (RFC 5508). */
#ifndef XMASQ_BPF_REWRITE_H
#define XMASQ_BPF_REWRITE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"
#include "parse.h"
#include "csum.h"

/* After a bounds check on an offset: masks it with `mask` (a power of two
 * minus one at or above the bound checked, so the value is unchanged) in
 * an instruction clang cannot drop. clang may spill an offset before its
 * check and reload the unchecked stack copy after it; 6.1's verifier does
 * not carry a bound from a register to its stack copy (newer kernels do)
 * and refuses the packet access. The mask bounds whatever copy is used. */
#define xm_keep_bound(v, mask) asm volatile("%[x] &= %[m]" : [x] "+r"(v) : [m] "i"(mask))
_Static_assert(XM_MAX_L3_OFF <= 0x1f && XM_MAX_L4_OFF + 16 <= 0x7f && XM_MAX_INNER_L3_OFF <= 0xff &&
		       XM_MAX_INNER_L4_OFF <= 0xff,
	       "the masks of xm_keep_bound below must cover the offsets' bounds");
/* ---- direct writes ----------------------------------------------------- */

/* A frame from a local sender through a veth with checksum offload carries
 * only the folded pseudo-header sum in its L4 checksum (CHECKSUM_PARTIAL);
 * XDP has no way to finish it after a redirect, so such flows go by tc,
 * whose helpers handle it. Decided once per flow direction (the sender's
 * offload does not change within a flow), so a flow's packets all take one
 * path and stay in order. */

/* The sum of IPv4 packet ip's TCP/UDP pseudo-header (addresses, protocol,
 * L4 length), not folded. */
static __always_inline __u32 xm_pseudo4(const struct iphdr *ip)
{
	__u32 sum = csum_add32(ip->saddr, ip->daddr);

	sum = csum_add32(sum, bpf_htons((__u16)ip->protocol));
	return csum_add32(sum, bpf_htons(bpf_ntohs(ip->tot_len) - ip->ihl * 4));
}

/* The L4 checksum field holds exactly the pseudo-header sum. */
static __always_inline int xm_csum_looks_partial(void *data, void *data_end, const struct xm_pkt *p,
						 __u32 *pseudo)
{
	__u32 csum_off = p->csum_off, l3_off = p->l3_off;
	struct iphdr *ip;
	__u16 *check;
	__u32 sum;

	if ((p->key.proto != IPPROTO_TCP && p->key.proto != IPPROTO_UDP) || p->udp_csum_zero ||
	    p->icmp_error || p->frag != XM_FRAG_NONE || l3_off > XM_MAX_L3_OFF ||
	    csum_off > XM_MAX_L4_OFF + 16)
		return 0;
	xm_keep_bound(l3_off, 0x1f);
	xm_keep_bound(csum_off, 0x7f);
	ip = data + l3_off;
	check = data + csum_off;
	if ((void *)(ip + 1) > data_end || (void *)(check + 1) > data_end)
		return 0;
	sum = xm_pseudo4(ip);
	*pseudo = sum;
	return csum_fold32(sum) == *check;
}

#define XM_CSUM_CHUNK	   256
/* 1536 bytes of L4: a 1500-byte MTU. A longer frame whose checksum looks
 * partial is taken to be partial: it goes by tc, which is right either way. */
#define XM_CSUM_MAX_CHUNKS 6

/* Sums n bytes (n < 2 * step) at data + *off into *sum, step bytes at a
 * time if there are that many. */
#define XM_CSUM_STEP(step)                                              \
	do {                                                            \
		if (*left >= (step)) {                                  \
			void *q = data + (*off & 0x3fff);               \
			if (q + (step) > data_end)                      \
				return -1;                              \
			*sum = bpf_csum_diff(NULL, 0, q, (step), *sum); \
			*off += (step);                                 \
			*left -= (step);                                \
		}                                                       \
	} while (0)

static __always_inline int xm_csum_tail(void *data, void *data_end, __u32 *off, __u32 *left,
					__u32 *sum)
{
	XM_CSUM_STEP(128);
	XM_CSUM_STEP(64);
	XM_CSUM_STEP(32);
	XM_CSUM_STEP(16);
	XM_CSUM_STEP(8);
	XM_CSUM_STEP(4);
	if (*left) { /* 1 to 3 bytes: pad to a word with zeroes */
		__u8 *b = data + (*off & 0x3fff);
		__u32 word = 0;

		if ((void *)(b + 1) > data_end)
			return -1;
		((__u8 *)&word)[0] = b[0];
		if (*left > 1) {
			if ((void *)(b + 2) > data_end)
				return -1;
			((__u8 *)&word)[1] = b[1];
		}
		if (*left > 2) {
			if ((void *)(b + 3) > data_end)
				return -1;
			((__u8 *)&word)[2] = b[2];
		}
		*sum = csum_add32(*sum, word);
	}
	return 0;
}

/* Whether the packet's L4 checksum, taken as complete, is right: the sum
 * of pseudo-header and segment folds to 0xffff. Only asked for the first
 * packet of a direction whose checksum looks partial. A global function:
 * the verifier checks its loop once, apart from the caller's states. */
__noinline int xm_xdp_csum_complete_ok(struct xdp_md *ctx, __u32 off, __u32 left, __u32 pseudo)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 sum = pseudo;

	if (!ctx || off > XM_MAX_L4_OFF || left > XM_CSUM_CHUNK * XM_CSUM_MAX_CHUNKS)
		return 0;
	for (int i = 0; i < XM_CSUM_MAX_CHUNKS && left >= XM_CSUM_CHUNK; i++) {
		void *q = data + (off & 0x3fff);

		if (q + XM_CSUM_CHUNK > data_end)
			return 0;
		sum = bpf_csum_diff(NULL, 0, q, XM_CSUM_CHUNK, sum);
		off += XM_CSUM_CHUNK;
		left -= XM_CSUM_CHUNK;
	}
	if (xm_csum_tail(data, data_end, &off, &left, &sum))
		return 0;
	return csum_fold32(sum) == 0xffff;
}

/* Classifies this direction of the flow on its first packet at XDP. */
static __always_inline int xm_flow_csum_partial(struct xdp_md *ctx, void *data, void *data_end,
						const struct xm_pkt *p, struct xm_flow *f)
{
	__u32 pseudo = 0;

	if (!(f->flags & XM_FLOW_CSUM_CHECKED)) {
		__u8 flags = XM_FLOW_CSUM_CHECKED;

		if (xm_csum_looks_partial(data, data_end, p, &pseudo) &&
		    !xm_xdp_csum_complete_ok(ctx, p->l4_off,
					     bpf_ntohs(p->ip->tot_len) - p->ip->ihl * 4, pseudo))
			flags |= XM_FLOW_CSUM_PARTIAL;
		f->flags |= flags;
	}
	return (f->flags & XM_FLOW_CSUM_PARTIAL) && !p->icmp_error;
}

/* Rewrites the addresses (and TTL) of an IPv4 header; returns the diff the
 * addresses make to an L4 pseudo-header checksum. */
static __always_inline __u64 xm_rewrite_ip(struct iphdr *ip, __be32 saddr, __be32 daddr,
					   int dec_ttl)
{
	__u64 pseudo, ip_diff;

	pseudo = csum64_diff32(0, ip->saddr, saddr) + csum64_diff32(0, ip->daddr, daddr);
	ip_diff = pseudo;
	ip->saddr = saddr;
	ip->daddr = daddr;
	if (dec_ttl) {
		/* TTL and protocol as one checksum word, TTL the low byte
		 * (little-endian, bpf/ports.h), above 1 (xm_classify): the new
		 * word made in a register, not read back after the byte store
		 * (a 2-byte load over a 1-byte store is not forwarded: a stall) */
		__u16 word = *(__u16 *)&ip->ttl, dec = word - 1;

		ip->ttl = (__u8)dec;
		ip_diff = csum64_diff16(ip_diff, word, dec);
	}
	ip->check = csum64_apply(ip->check, ip_diff);
	return pseudo;
}

/* Rewrites the ports (or echo id) at l4 and the L4 checksum, given the
 * pseudo-header diff. Returns the diff of every 16-bit word changed (for
 * an enclosing ICMP error's checksum), or -1 if out of bounds. A quoted
 * header may end before its checksum field: then only the ports change. */
static __always_inline __s64 xm_rewrite_l4(void *data, void *data_end, __u32 l4_off, __u32 end_off,
					   __u8 proto, __u64 pseudo, __be16 sport, __be16 dport)
{
	__u64 words = 0, l4_diff;

	if (l4_off > XM_MAX_INNER_L4_OFF)
		return -1;
	xm_keep_bound(l4_off, 0xff);
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		__be16 *ports = data + l4_off;
		__sum16 *check;

		if ((void *)(ports + 2) > data_end)
			return -1;
		/* both ports as one 32-bit word */
		words = csum64_diff32(0, *(__u32 *)ports, (__u32)sport | (__u32)dport << 16);
		l4_diff = pseudo + words;
		ports[0] = sport;
		ports[1] = dport;
		check = data + l4_off + (proto == IPPROTO_TCP ? 16 : 6);
		/* A quoted header cut before its checksum: the bytes there, if
		 * the frame goes on, are not the ICMP message's (padding). */
		if ((void *)(check + 1) > data_end ||
		    l4_off + (proto == IPPROTO_TCP ? 18 : 8) > end_off)
			return csum64_to32(words);
		if (proto == IPPROTO_UDP && *check == 0)
			return csum64_to32(words); /* no checksum: keep it so */
		{
			__sum16 old = *check, new = csum64_apply(old, l4_diff);

			/* UDP sends a computed zero as 0xffff (RFC 768). */
			if (proto == IPPROTO_UDP && new == 0)
				new = 0xffff;
			*check = new;
			words = csum64_diff16(words, old, new);
		}
		return csum64_to32(words);
	}
	if (proto == IPPROTO_ICMP) {
		struct xm_icmp_hdr *ih = data + l4_off;
		__u32 d = 0;

		if ((void *)(ih + 1) > data_end)
			return -1;
		/* ICMP has no pseudo-header: only the id counts. */
		d = csum_diff16(d, ih->id, sport);
		words = d;
		ih->id = sport;
		{
			__sum16 old = ih->checksum, new = csum_apply(old, d);

			ih->checksum = new;
			words = csum_diff16(words, old, new);
		}
		return words;
	}
	return 0;
}

/* An ICMP error about a flow: the outer header goes where the flow entry
 * sends packets, the quoted packet becomes the one the far side sent. */
static __always_inline int xm_rewrite_icmp_error(void *data, void *data_end, const struct xm_pkt *p,
						 const struct xm_flow *f)
{
	__u32 l3_off = p->l3_off, l4_off = p->l4_off, in_l3 = p->inner_l3_off;
	struct iphdr *ip, *in;
	struct xm_icmp_hdr *ih;
	__u32 end_off;
	__be32 outer_saddr, in_saddr, in_daddr;
	__u32 icmp_diff, in_ipcheck_old;
	__u64 in_pseudo;
	__s64 words;

	if (l3_off > XM_MAX_L3_OFF || l4_off > XM_MAX_L4_OFF || in_l3 > XM_MAX_INNER_L3_OFF)
		return -1;
	xm_keep_bound(l3_off, 0x1f);
	xm_keep_bound(l4_off, 0x7f);
	xm_keep_bound(in_l3, 0xff);
	ip = data + l3_off;
	ih = data + l4_off;
	in = data + in_l3;
	if ((void *)(ip + 1) > data_end || (void *)(ih + 1) > data_end ||
	    (void *)(in + 1) > data_end)
		return -1;
	end_off = l3_off + bpf_ntohs(ip->tot_len); /* where the ICMP message ends */

	/* An error sent by the quoted packet's destination itself must seem
	 * to come from the address the far side knows it by. */
	outer_saddr = ip->saddr == in->daddr ? f->new_saddr : ip->saddr;
	xm_rewrite_ip(ip, outer_saddr, f->new_daddr, 1);

	/* The quoted packet travelled the other way: its tuple is the
	 * reverse of this entry's rewrite. */
	in_saddr = f->new_daddr;
	in_daddr = f->new_saddr;
	in_ipcheck_old = in->check;
	icmp_diff = csum_diff32(0, in->saddr, in_saddr);
	icmp_diff = csum_diff32(icmp_diff, in->daddr, in_daddr);
	in_pseudo = xm_rewrite_ip(in, in_saddr, in_daddr, 0);
	icmp_diff = csum_diff16(icmp_diff, in_ipcheck_old, in->check);

	words = xm_rewrite_l4(data, data_end, p->inner_l4_off, end_off, p->key.proto, in_pseudo,
			      f->new_dport, f->new_sport);
	if (words < 0)
		return -1;
	icmp_diff = csum_add32(icmp_diff, (__u32)words);
	ih->checksum = csum_apply(ih->checksum, icmp_diff);
	return 0;
}

/* The whole L3/L4 rewrite with direct writes. */
static __always_inline int xm_rewrite_direct(void *data, void *data_end, const struct xm_pkt *p,
					     const struct xm_flow *f)
{
	struct iphdr *ip;
	__u32 l3_off;
	__u64 pseudo;

	if (p->icmp_error)
		return xm_rewrite_icmp_error(data, data_end, p, f);
	l3_off = p->l3_off;
	if (l3_off > XM_MAX_L3_OFF)
		return -1;
	xm_keep_bound(l3_off, 0x1f);
	ip = data + l3_off;
	if ((void *)(ip + 1) > data_end)
		return -1;
	pseudo = xm_rewrite_ip(ip, f->new_saddr, f->new_daddr, 1);
	if (p->frag == XM_FRAG_LATER)
		return 0; /* no L4 header; the first fragment's checksum covers it */
	return xm_rewrite_l4(data, data_end, p->l4_off, ~0u, p->key.proto, pseudo, f->new_sport,
			     f->new_dport) < 0 ?
		       -1 :
		       0;
}

/* Rebuilds the Ethernet header at XDP: the flow's next hop, the egress
 * interface's own MAC (smac), and the VLAN tag the flow leaves with (none
 * for the forward direction, the client's tag for replies). Runs last: it
 * moves the frame start. */
static __always_inline int xm_xdp_write_l2(struct xdp_md *ctx, int had_vlan,
					   const struct xm_flow *f, const __u8 *smac)
{
	void *data, *data_end;
	int want_vlan = f->out_vlan != 0;
	struct ethhdr *eth;

	if (had_vlan && !want_vlan) {
		if (bpf_xdp_adjust_head(ctx, (int)sizeof(struct xm_vlan_hdr)))
			return -1;
	} else if (!had_vlan && want_vlan) {
		if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct xm_vlan_hdr)))
			return -1;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) + sizeof(struct xm_vlan_hdr) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, f->out_dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	if (want_vlan) {
		struct xm_vlan_hdr *vh = (void *)(eth + 1);

		eth->h_proto = bpf_htons(XM_ETH_P_8021Q);
		vh->tci = bpf_htons(f->out_vlan);
		vh->proto = bpf_htons(XM_ETH_P_IP);
	} else {
		eth->h_proto = bpf_htons(XM_ETH_P_IP);
	}
	return 0;
}

/* ---- tc: skb helpers ---------------------------------------------------- */

#define XM_IP_CSUM_OFF(p)  ((p)->l3_off + offsetof(struct iphdr, check))
#define XM_IP_TTL_OFF(p)   ((p)->l3_off + offsetof(struct iphdr, ttl))
#define XM_IP_SADDR_OFF(p) ((p)->l3_off + offsetof(struct iphdr, saddr))
#define XM_IP_DADDR_OFF(p) ((p)->l3_off + offsetof(struct iphdr, daddr))

/* TCP/UDP at tc: the helpers update a CHECKSUM_PARTIAL skb's pseudo-header
 * sum and leave the rest to the device, or update a full checksum. */
static __always_inline int xm_tc_rewrite_l34(struct __sk_buff *skb, const struct xm_pkt *p,
					     const struct xm_flow *f)
{
	__u32 l4_flags = p->key.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 sport_off = p->l4_off, dport_off = p->l4_off + 2;
	int skip_l4 = p->udp_csum_zero;
	__u16 old_ttl_word, new_ttl_word;
	__be32 old_saddr = p->key.saddr, old_daddr = p->key.daddr;
	__be16 old_sport = p->key.sport, old_dport = p->key.dport;
	int err = 0;

	if (bpf_skb_load_bytes(skb, XM_IP_TTL_OFF(p), &old_ttl_word, 2))
		return -1;
	new_ttl_word = old_ttl_word;
	((__u8 *)&new_ttl_word)[0]--;

	err |= bpf_l3_csum_replace(skb, XM_IP_CSUM_OFF(p), old_saddr, f->new_saddr, 4);
	err |= bpf_l3_csum_replace(skb, XM_IP_CSUM_OFF(p), old_daddr, f->new_daddr, 4);
	err |= bpf_l3_csum_replace(skb, XM_IP_CSUM_OFF(p), old_ttl_word, new_ttl_word, 2);
	if (!skip_l4) {
		err |= bpf_l4_csum_replace(skb, p->csum_off, old_saddr, f->new_saddr,
					   BPF_F_PSEUDO_HDR | l4_flags | 4);
		err |= bpf_l4_csum_replace(skb, p->csum_off, old_daddr, f->new_daddr,
					   BPF_F_PSEUDO_HDR | l4_flags | 4);
		err |= bpf_l4_csum_replace(skb, p->csum_off, old_sport, f->new_sport, l4_flags | 2);
		err |= bpf_l4_csum_replace(skb, p->csum_off, old_dport, f->new_dport, l4_flags | 2);
	}
	err |= bpf_skb_store_bytes(skb, XM_IP_SADDR_OFF(p), &f->new_saddr, 4, 0);
	err |= bpf_skb_store_bytes(skb, XM_IP_DADDR_OFF(p), &f->new_daddr, 4, 0);
	err |= bpf_skb_store_bytes(skb, XM_IP_TTL_OFF(p), &new_ttl_word, 2, 0);
	err |= bpf_skb_store_bytes(skb, sport_off, &f->new_sport, 2, 0);
	err |= bpf_skb_store_bytes(skb, dport_off, &f->new_dport, 2, 0);
	return err ? -1 : 0;
}

/* The packet's 802.1Q tag made `tci` (0: none), where the kernel keeps a
 * received tag: in the skb, not the frame. 0, or -1. */
static __always_inline int xm_tc_vlan_set(struct __sk_buff *skb, __u16 tci)
{
	if (skb->vlan_present && skb->vlan_tci != tci && bpf_skb_vlan_pop(skb))
		return -1;
	if (tci && !skb->vlan_present && bpf_skb_vlan_push(skb, bpf_htons(XM_ETH_P_8021Q), tci))
		return -1;
	return 0;
}

/* VLAN tag and MACs. A tag may sit in the skb metadata (the usual case on
 * receive) or still in the frame (tagged frames in BPF_PROG_TEST_RUN). */
static __always_inline int xm_tc_write_l2(struct __sk_buff *skb, int had_vlan, __u16 had_tci,
					  const struct xm_flow *f, const __u8 *smac, int write_macs)
{
	if (had_vlan && had_tci != f->out_vlan) {
		if (bpf_skb_vlan_pop(skb))
			return -1;
		had_vlan = 0;
	}
	if (!had_vlan && f->out_vlan &&
	    bpf_skb_vlan_push(skb, bpf_htons(XM_ETH_P_8021Q), f->out_vlan))
		return -1;
	if (write_macs) {
		if (bpf_skb_store_bytes(skb, 0, f->out_dmac, ETH_ALEN, 0) ||
		    bpf_skb_store_bytes(skb, ETH_ALEN, smac, ETH_ALEN, 0))
			return -1;
	}
	return 0;
}

#endif
