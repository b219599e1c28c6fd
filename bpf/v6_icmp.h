/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ICMPv6 errors about IPv6 flows (6->6 forwards and masquerades): a
 * router, or the peer itself, answers one of our packets as it left;
 * the error goes to the flow's other end rewritten as the flow's packets
 * are (RFC 4443 errors; what NAT66 does with them, as netfilter's). */
#ifndef XMASQ_BPF_V6_ICMP_H
#define XMASQ_BPF_V6_ICMP_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "ct6.h"
#include "csum.h"
#include "v6_parse.h"

/* The L4 checksum's offset in a quoted TCP, UDP or ICMPv6 header. */
static __always_inline __u32 xm6_quote_csum_at(__u8 proto)
{
	return proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;
}

/* Rewrites the ICMPv6 error p about the flow entry under p->key (the
 * quote's tuple reversed: the direction the error travels) for the
 * flow's other end: the outer destination, and the outer source when the
 * peer itself reported; the quote's addresses and ports (an echo's id)
 * back to what that end sent or was sent, the quote's L4 checksum when
 * quoted; the ICMPv6 checksum by difference; hop limit - 1. 0, or -1:
 * drop. Global: its buffers on a frame of its own. */
__noinline int xm6_tc_icmp_error(struct __sk_buff *skb, const struct xm_pkt6 *p)
{
	struct {
		__be32 osrc[4], odst[4]; /* outer, adjacent as in the header */
		__be32 isrc[4], idst[4]; /* quoted */
	} old, new;
	struct xm_flow6_key k;
	struct xm_flow6 *f;
	__u32 in_l3, in_l4, quoted, csum_at, pseudo_diff, msg_diff, inner_diff;
	__be16 ports_old[2], ports_new[2];
	__u16 qsum_old, qsum_new;
	__u8 hop;
	__s64 d;

	if (!skb || !p)
		return -1;
	__builtin_memcpy(&k, &p->key, sizeof(k)); /* 6.1: a map key must be on the stack */
	f = xm_ct6_find(&k);
	if (!f)
		return -1;
	in_l3 = p->l4_off + XM_ICMP6_QUOTE;
	in_l4 = in_l3 + XM_IPV6_HDR_LEN;
	quoted = p->payload_len > XM_ICMP6_QUOTE + XM_IPV6_HDR_LEN ?
			 p->payload_len - XM_ICMP6_QUOTE - XM_IPV6_HDR_LEN :
			 0;
	if (bpf_skb_load_bytes(skb, p->l3_off + offsetof(struct ipv6hdr, saddr), old.osrc, 32) ||
	    bpf_skb_load_bytes(skb, in_l3 + offsetof(struct ipv6hdr, saddr), old.isrc, 32))
		return -1;
	__builtin_memcpy(new.osrc, old.osrc, 16);
	/* the peer itself reported (port unreachable, say): from the address
	 * the other end knows it by */
	if (old.osrc[0] == old.idst[0] && old.osrc[1] == old.idst[1] &&
	    old.osrc[2] == old.idst[2] && old.osrc[3] == old.idst[3])
		__builtin_memcpy(new.osrc, f->new_saddr, 16);
	__builtin_memcpy(new.odst, f->new_daddr, 16);
	__builtin_memcpy(new.isrc, f->new_daddr, 16);
	__builtin_memcpy(new.idst, f->new_saddr, 16);

	/* the quote's ports: sport, dport; an echo's id once (at +4) */
	if (k.proto == XM_NEXTHDR_ICMPV6) {
		ports_old[0] = ports_old[1] = k.sport;
		ports_new[0] = ports_new[1] = f->new_dport;
	} else {
		ports_old[0] = k.dport;
		ports_old[1] = k.sport;
		ports_new[0] = f->new_dport;
		ports_new[1] = f->new_sport;
	}
	d = bpf_csum_diff(old.isrc, 32, new.isrc, 32, 0);
	if (d < 0)
		return -1;
	inner_diff = csum_diff16((__u32)d, ports_old[0], ports_new[0]);
	if (k.proto != XM_NEXTHDR_ICMPV6)
		inner_diff = csum_diff16(inner_diff, ports_old[1], ports_new[1]);
	msg_diff = inner_diff;

	/* The quote's own checksum, if quoted: as the flow's rewrite would
	 * have left it. */
	csum_at = xm6_quote_csum_at(k.proto);
	if (quoted >= csum_at + 2) {
		if (bpf_skb_load_bytes(skb, in_l4 + csum_at, &qsum_old, 2))
			return -1;
		qsum_new = csum_apply(qsum_old, inner_diff);
		if (k.proto == IPPROTO_UDP && !qsum_new)
			qsum_new = 0xffff;
		msg_diff = csum_diff16(msg_diff, qsum_old, qsum_new);
		if (bpf_skb_store_bytes(skb, in_l4 + csum_at, &qsum_new, 2, 0))
			return -1;
	}
	d = bpf_csum_diff(old.osrc, 32, new.osrc, 32, 0);
	if (d < 0)
		return -1;
	pseudo_diff = (__u32)d;
	hop = p->hop_limit - 1;
	if (bpf_l4_csum_replace(skb, p->csum_off, 0, pseudo_diff, BPF_F_PSEUDO_HDR) ||
	    bpf_l4_csum_replace(skb, p->csum_off, 0, msg_diff, 0) ||
	    bpf_skb_store_bytes(skb, p->l3_off + offsetof(struct ipv6hdr, saddr), new.osrc, 32,
				0) ||
	    bpf_skb_store_bytes(skb, in_l3 + offsetof(struct ipv6hdr, saddr), new.isrc, 32, 0) ||
	    bpf_skb_store_bytes(skb, p->l3_off + offsetof(struct ipv6hdr, hop_limit), &hop, 1, 0))
		return -1;
	if (k.proto == XM_NEXTHDR_ICMPV6)
		return bpf_skb_store_bytes(skb, in_l4 + 4, ports_new, 2, 0) ? -1 : 0;
	return bpf_skb_store_bytes(skb, in_l4, ports_new, 4, 0) ? -1 : 0;
}

#endif
