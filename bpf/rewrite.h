/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Applying a flow's translation to a packet: the XDP way (direct writes,
 * incremental checksums, L2 header rebuilt) and the tc way (skb helpers,
 * which keep CHECKSUM_PARTIAL skbs right). Both do the same rewrite:
 * source/destination address and port, TTL - 1, MACs and VLAN tag. */
#ifndef XMASQ_BPF_REWRITE_H
#define XMASQ_BPF_REWRITE_H

#define XM_MAX_L4_OFF (sizeof(struct ethhdr) + 4 + 60)

/* ---- XDP --------------------------------------------------------------- */

/* A frame from a local sender through a veth with checksum offload carries
 * only the folded pseudo-header sum in its L4 checksum (CHECKSUM_PARTIAL);
 * XDP has no way to finish it after a redirect, so such frames go to tc,
 * whose helpers handle it. A full checksum equal to that value (1 in 65536)
 * also goes to tc, which is merely slower. */
static __always_inline int xm_xdp_csum_partial(struct xdp_md *ctx, const struct xm_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 csum_off = p->csum_off, l3_off = p->l3_off;
	struct iphdr *ip;
	__u16 *check;
	__u32 sum;

	if (p->udp_csum_zero || l3_off > sizeof(struct ethhdr) + 4 ||
	    csum_off > XM_MAX_L4_OFF + 16)
		return 0;
	ip = data + l3_off;
	check = data + csum_off;
	if ((void *)(ip + 1) > data_end || (void *)(check + 1) > data_end)
		return 0;
	sum = csum_add32(ip->saddr, ip->daddr);
	sum = csum_add32(sum, bpf_htons((__u16)ip->protocol));
	sum = csum_add32(sum, bpf_htons(bpf_ntohs(ip->tot_len) - ip->ihl * 4));
	return csum_fold32(sum) == *check;
}

/* Rewrites IPv4 and TCP/UDP headers in place. Returns 0 or -1 when the
 * headers are no longer where parse found them (cannot happen, but the
 * verifier needs the bounds). */
static __always_inline int xm_xdp_rewrite_l34(struct xdp_md *ctx,
					      const struct xm_pkt *p,
					      const struct xm_flow *f)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3_off = p->l3_off, l4_off = p->l4_off;
	struct iphdr *ip;
	__u32 ip_diff = 0, l4_diff;
	__u16 old_ttl_word, new_ttl_word;

	if (l3_off > sizeof(struct ethhdr) + 4 || l4_off > XM_MAX_L4_OFF)
		return -1;
	ip = data + l3_off;
	if ((void *)(ip + 1) > data_end)
		return -1;

	ip_diff = csum_diff32(ip_diff, ip->saddr, f->new_saddr);
	ip_diff = csum_diff32(ip_diff, ip->daddr, f->new_daddr);
	l4_diff = ip_diff; /* the addresses are in the L4 pseudo-header too */
	ip->saddr = f->new_saddr;
	ip->daddr = f->new_daddr;
	old_ttl_word = *(__u16 *)&ip->ttl;
	ip->ttl--;
	new_ttl_word = *(__u16 *)&ip->ttl;
	ip_diff = csum_diff16(ip_diff, old_ttl_word, new_ttl_word);
	ip->check = csum_apply(ip->check, ip_diff);

	if (p->key.proto == IPPROTO_TCP) {
		struct tcphdr *th = data + l4_off;

		if ((void *)(th + 1) > data_end)
			return -1;
		l4_diff = csum_diff16(l4_diff, th->source, f->new_sport);
		l4_diff = csum_diff16(l4_diff, th->dest, f->new_dport);
		th->source = f->new_sport;
		th->dest = f->new_dport;
		th->check = csum_apply(th->check, l4_diff);
	} else {
		struct udphdr *uh = data + l4_off;

		if ((void *)(uh + 1) > data_end)
			return -1;
		l4_diff = csum_diff16(l4_diff, uh->source, f->new_sport);
		l4_diff = csum_diff16(l4_diff, uh->dest, f->new_dport);
		uh->source = f->new_sport;
		uh->dest = f->new_dport;
		/* Zero means "no checksum": keep it so; a computed zero is
		 * sent as 0xffff (RFC 768). */
		if (uh->check) {
			uh->check = csum_apply(uh->check, l4_diff);
			if (!uh->check)
				uh->check = 0xffff;
		}
	}
	return 0;
}

/* Rebuilds the Ethernet header: the flow's MACs, and the VLAN tag the
 * flow leaves with (none for the forward direction, the client's tag for
 * replies). Must run after xm_xdp_rewrite_l34: it moves the frame start. */
static __always_inline int xm_xdp_write_l2(struct xdp_md *ctx, int had_vlan,
					   const struct xm_flow *f)
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
	__builtin_memcpy(eth->h_source, f->out_smac, ETH_ALEN);
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

/* ---- tc ---------------------------------------------------------------- */

#define XM_IP_CSUM_OFF(p)  ((p)->l3_off + offsetof(struct iphdr, check))
#define XM_IP_TTL_OFF(p)   ((p)->l3_off + offsetof(struct iphdr, ttl))
#define XM_IP_SADDR_OFF(p) ((p)->l3_off + offsetof(struct iphdr, saddr))
#define XM_IP_DADDR_OFF(p) ((p)->l3_off + offsetof(struct iphdr, daddr))

static __always_inline int xm_tc_rewrite_l34(struct __sk_buff *skb,
					     const struct xm_pkt *p,
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
		err |= bpf_l4_csum_replace(skb, p->csum_off, old_sport, f->new_sport,
					   l4_flags | 2);
		err |= bpf_l4_csum_replace(skb, p->csum_off, old_dport, f->new_dport,
					   l4_flags | 2);
	}
	err |= bpf_skb_store_bytes(skb, XM_IP_SADDR_OFF(p), &f->new_saddr, 4, 0);
	err |= bpf_skb_store_bytes(skb, XM_IP_DADDR_OFF(p), &f->new_daddr, 4, 0);
	err |= bpf_skb_store_bytes(skb, XM_IP_TTL_OFF(p), &new_ttl_word, 2, 0);
	err |= bpf_skb_store_bytes(skb, sport_off, &f->new_sport, 2, 0);
	err |= bpf_skb_store_bytes(skb, dport_off, &f->new_dport, 2, 0);
	return err ? -1 : 0;
}

/* VLAN tag and MACs. A tag may sit in the skb metadata (the usual case on
 * receive) or still in the frame (tagged frames in BPF_PROG_TEST_RUN). */
static __always_inline int xm_tc_write_l2(struct __sk_buff *skb, int had_vlan,
					  __u16 had_tci, const struct xm_flow *f,
					  int write_macs)
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
		    bpf_skb_store_bytes(skb, ETH_ALEN, f->out_smac, ETH_ALEN, 0))
			return -1;
	}
	return 0;
}

#endif
