/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IPv6 at XDP: a known flow's packet rewritten in place (addresses,
 * ports or an echo's id, hop limit, the L4 checksum by difference, the
 * MACs), as xm6_tc_rewrite does with the skb helpers. */
#ifndef XMASQ_BPF_V6_XDP_H
#define XMASQ_BPF_V6_XDP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"
#include "csum.h"
#include "v6_parse.h"
#include "rewrite.h"

/* Whether the L4 checksum holds exactly the pseudo-header sum (*pseudo,
 * unfolded): a packet from a local socket whose checksum the skb path
 * would finish (CHECKSUM_PARTIAL through a veth). A difference applied to
 * it would add the ports twice. 1, 0, or -1: headers not where p says. */
static __always_inline int xm6_csum_looks_partial(void *data, void *data_end,
						  const struct xm_pkt6 *p, __u32 *pseudo)
{
	__u32 csum_off = p->csum_off, sum = 0;
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	__u16 *check;

	if (csum_off > sizeof(struct ethhdr) + XM_IPV6_HDR_LEN + 16)
		return -1;
	check = data + csum_off;
	if ((void *)(ip6 + 1) > data_end || (void *)(check + 1) > data_end)
		return -1;
	for (int i = 0; i < 4; i++) {
		sum = csum_add32(sum, ip6->saddr.in6_u.u6_addr32[i]);
		sum = csum_add32(sum, ip6->daddr.in6_u.u6_addr32[i]);
	}
	sum = csum_add32(sum, bpf_htons(p->payload_len));
	sum = csum_add32(sum, bpf_htons((__u16)p->key.proto));
	*pseudo = sum;
	return csum_fold32(sum) == *check;
}

/* Whether this direction of flow f has unfinished checksums (its packets
 * go by tc), classified on its first TCP or UDP packet at XDP and noted
 * in the flow, so later packets skip the 40 address bytes' sum: a
 * checksum that only looks unfinished (1 in 65536) is summed whole. */
static __always_inline int xm6_flow_csum_partial(struct xdp_md *ctx, void *data, void *data_end,
						 const struct xm_pkt6 *p, struct xm_flow6 *f)
{
	__u32 pseudo = 0;
	__u8 flags = XM_FLOW6_CSUM_CHECKED;
	int rc;

	if (f->flags & XM_FLOW6_CSUM_CHECKED)
		return (f->flags & XM_FLOW6_CSUM_PARTIAL) != 0;
	if (p->key.proto != IPPROTO_TCP && p->key.proto != IPPROTO_UDP)
		return 0; /* an echo's checksum is always whole */
	rc = xm6_csum_looks_partial(data, data_end, p, &pseudo);
	if (rc < 0)
		return 1; /* tc's, and no verdict on the flow */
	if (rc && !xm_xdp_csum_complete_ok(ctx, p->l4_off, p->payload_len, pseudo))
		flags |= XM_FLOW6_CSUM_PARTIAL;
	f->flags |= flags;
	return (flags & XM_FLOW6_CSUM_PARTIAL) != 0;
}

/* Rewrites the packet p of flow f for egress MAC smac. 0, or -1. */
static __always_inline int xm6_xdp_rewrite(void *data, void *data_end, const struct xm_pkt6 *p,
					   const struct xm_flow6 *f, const __u8 *smac)
{
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + sizeof(*eth);
	__u32 csum_off = p->csum_off, l4_off = p->l4_off;
	__u64 sdiff = 0, ddiff = 0, diff; /* two chains of adds, not one (csum.h) */
	__be16 *ports, *check;

	if ((void *)(ip6 + 1) > data_end ||
	    csum_off > sizeof(struct ethhdr) + XM_IPV6_HDR_LEN + 16 ||
	    l4_off != sizeof(struct ethhdr) + XM_IPV6_HDR_LEN)
		return -1;
	ports = data + sizeof(struct ethhdr) + XM_IPV6_HDR_LEN;
	check = data + csum_off;
	if ((void *)(ports + 3) > data_end || (void *)(check + 1) > data_end)
		return -1;
	for (int i = 0; i < 4; i++) {
		sdiff = csum64_diff32(sdiff, ip6->saddr.in6_u.u6_addr32[i], f->new_saddr[i]);
		ddiff = csum64_diff32(ddiff, ip6->daddr.in6_u.u6_addr32[i], f->new_daddr[i]);
		ip6->saddr.in6_u.u6_addr32[i] = f->new_saddr[i];
		ip6->daddr.in6_u.u6_addr32[i] = f->new_daddr[i];
	}
	diff = sdiff + ddiff;
	if (p->key.proto == XM_NEXTHDR_ICMPV6) { /* the echo id, after type, code, sum */
		diff = csum64_diff16(diff, ports[2], f->new_sport);
		ports[2] = f->new_sport;
	} else {
		diff = csum64_diff16(diff, ports[0], f->new_sport);
		diff = csum64_diff16(diff, ports[1], f->new_dport);
		ports[0] = f->new_sport;
		ports[1] = f->new_dport;
	}
	*check = csum64_apply(*check, diff);
	if (p->key.proto == IPPROTO_UDP && !*check)
		*check = 0xffff; /* a computed zero is sent as ones (RFC 8200 8.1) */
	ip6->hop_limit--;
	__builtin_memcpy(eth->h_dest, f->out_dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	return 0;
}

#endif
