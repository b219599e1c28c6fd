/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* 6->4 at XDP: a known 6->4 flow's packets translated in place (RFC
 * 7915, as bpf/v64_xlat.h does on the skb): the L4 checksum and ports by
 * difference where they lie, then 20 bytes of header taken off the front
 * (IPv6 -> IPv4) or put on (IPv4 -> IPv6) with bpf_xdp_adjust_head, and
 * the new Ethernet and IP headers written there. */
#ifndef XMASQ_BPF_V64_XDP_H
#define XMASQ_BPF_V64_XDP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"
#include "csum.h"
#include "v6_parse.h"
#include "v64_xlat.h"

/* The L4 ports and checksum at l4 (csum_at bytes in), by the difference
 * diff the addresses make plus the ports'. 0, or -1. */
static __always_inline int xm64_xdp_l4(void *l4, void *data_end, __u32 csum_at, __u8 proto,
				       __u32 diff, __be16 sport, __be16 dport)
{
	__be16 *ports = l4, *check;

	if (csum_at > 16)
		return -1;
	check = l4 + csum_at;
	if ((void *)(ports + 2) > data_end || (void *)(check + 1) > data_end)
		return -1;
	diff = csum_diff16(diff, ports[0], sport);
	diff = csum_diff16(diff, ports[1], dport);
	ports[0] = sport;
	ports[1] = dport;
	*check = csum_apply(*check, diff);
	if (proto == IPPROTO_UDP && !*check)
		*check = 0xffff;
	return 0;
}

/* A 6->4 flow's IPv6 packet p (no extension header) to IPv4, for egress
 * MAC smac. 0, or -1 (the frame may be half done: drop it). */
static __always_inline int xm64_xdp_to_v4(struct xdp_md *ctx, const struct xm_pkt6 *p,
					  const struct xm_flow6 *f, const __u8 *smac)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	struct iphdr h = {}, *ip;
	struct ethhdr *eth;
	__u32 diff = 0;

	if ((void *)(ip6 + 1) > data_end)
		return -1;
	for (int i = 0; i < 4; i++) {
		diff = csum_add32(diff, ~ip6->saddr.in6_u.u6_addr32[i]);
		diff = csum_add32(diff, ~ip6->daddr.in6_u.u6_addr32[i]);
	}
	diff = csum_add32(csum_add32(diff, f->new_saddr[3]), f->new_daddr[3]);
	if (xm64_xdp_l4(data + sizeof(struct ethhdr) + XM_IPV6_HDR_LEN, data_end,
			p->csum_off - p->l4_off, p->key.proto, diff, f->new_sport, f->new_dport))
		return -1;
	xm64_ipv4_header(&h, p, f->new_saddr[3], f->new_daddr[3], NULL);
	if (bpf_xdp_adjust_head(ctx, XM_V64_HDR_DIFF))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, f->out_dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	eth->h_proto = bpf_htons(XM_ETH_P_IP);
	*ip = h;
	return 0;
}

/* A 6->4 flow's IPv4 reply (its reply entry f, IPv4 header ip without
 * options, L4 header right after) to IPv6, for egress MAC smac. 0, or -1
 * (the frame may be half done: drop it). */
static __always_inline int xm64_xdp_to_v6(struct xdp_md *ctx, const struct xm_flow6 *f,
					  __u32 csum_at, const __u8 *smac)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct ipv6hdr h = {}, *ip6;
	struct ethhdr *eth;
	__u32 diff;

	if ((void *)(ip + 1) > data_end)
		return -1;
	diff = csum_add32(~ip->saddr, ~ip->daddr);
	for (int i = 0; i < 4; i++) {
		diff = csum_add32(diff, f->new_saddr[i]);
		diff = csum_add32(diff, f->new_daddr[i]);
	}
	h.version = 6;
	h.priority = ip->tos >> 4;
	h.flow_lbl[0] = (ip->tos & 0x0f) << 4;
	h.payload_len = bpf_htons(bpf_ntohs(ip->tot_len) - sizeof(struct iphdr));
	h.nexthdr = ip->protocol;
	h.hop_limit = ip->ttl - 1;
	__builtin_memcpy(&h.saddr, f->new_saddr, 16);
	__builtin_memcpy(&h.daddr, f->new_daddr, 16);
	if (xm64_xdp_l4(data + sizeof(struct ethhdr) + sizeof(struct iphdr), data_end, csum_at,
			ip->protocol, diff, f->new_sport, f->new_dport))
		return -1;
	if (bpf_xdp_adjust_head(ctx, -XM_V64_HDR_DIFF))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip6 = data + sizeof(*eth);
	if ((void *)(ip6 + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, f->out_dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	eth->h_proto = bpf_htons(XM_ETH_P_IPV6);
	*ip6 = h;
	return 0;
}

#endif
