/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IPv6 clients of IPv4 backends (6->4): the new flow, and the header
 * translation both ways (RFC 7915: IPv6 <-> IPv4 headers; the state is
 * the flow's, RFC 6146). The layout of such a flow: xmasq_abi.h, above
 * XM_RULE_TO_V4. The IPv6 -> IPv4 direction runs in xmasq_tc6, the
 * IPv4 -> IPv6 one in xmasq_tc46. */
#ifndef XMASQ_BPF_V64_XLAT_H
#define XMASQ_BPF_V64_XLAT_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "ct6.h"
#include "ct.h"
#include "ports.h"
#include "fib.h"
#include "quota.h"
#include "v6_flow.h"
#include "csum.h"
#include "parse.h"
#include "pmtu.h"

#define XM_ETH_P_IP	 0x0800
#define XM_V64_HDR_DIFF	 20 /* an IPv6 header is 20 bytes longer than IPv4's */
#define XM_IP_DF_BE	 bpf_htons(0x4000)
#define XM_V4MAPPED_WORD bpf_htonl(0xffff)
#define XM_FRAG6_HDR_LEN 8
#define XM_IPV6_MIN_MTU	 1280
#define XM_IP_FRAG_BE	 bpf_htons(0x3fff) /* MF and the offset: a fragment */
#define XM_IP_OFFSET_BE	 bpf_htons(0x1fff) /* an offset: a later fragment */

/* addr := ::ffff:v4, the form 6->4 flows keep IPv4 addresses in. */
static __always_inline void xm64_map(__be32 *addr, __be32 v4)
{
	addr[0] = 0;
	addr[1] = 0;
	addr[2] = XM_V4MAPPED_WORD;
	addr[3] = v4;
}

/* Step 1 of a new 6->4 flow for the IPv6 packet p: its forward (with
 * XM_RULE_TO_V4), the route to the backend, the NICs, `from` and the
 * source's quota; the outcome into scratch's plan. XM6_NEW_FLOW: go on.
 * Global, as the two steps after it: xmasq_tc6's chain with
 * xm6_flow_new fills 6.1's 512 bytes, and a flow made in one frame would
 * not fit beside the IPv4 port search's. */
static __always_inline int xm64_flow_plan_in(void *ctx, struct xm_pkt6 *p, __u32 ifindex, __u32 len)
{
	__u32 zero = 0, out_ifindex;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct xm_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	struct xm_rule6_value *rule;
	struct xm_iface *in_if, *out_if;
	struct bpf_fib_lookup fib;
	int rc;

	if (!p || !cfg || !sc)
		return XM6_NEW_PASS;
	rule = xm6_rule_find(p, ifindex, cfg->active_gen & 1, cfg->flags);
	if (!rule || !(rule->flags & XM_RULE_TO_V4)) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return XM6_NEW_PASS;
	}
	sc->plan.backend = rule->to_addr[3];
	sc->plan.to_port = rule->to_port;
	sc->plan.rule_id = rule->rule_id;
	if (rule->allow_list &&
	    !xm6_allow_admit(rule->allow_list, rule->rule_id, p->key.saddr, len))
		return XM6_NEW_DROP;
	if (p->key.proto == IPPROTO_TCP &&
	    (p->tcp_flags & (XM_TCP_SYN | XM_TCP_ACK | XM_TCP_RST)) != XM_TCP_SYN) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return XM6_NEW_PASS;
	}
	in_if = xm_iface_of(ifindex);
	if (!in_if) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return XM6_NEW_PASS;
	}
	rc = xm_fib(ctx, &fib, 0, sc->plan.backend, p->key.proto, p->key.sport, sc->plan.to_port, 0,
		    ifindex);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	    rc != BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		xm_count(XM_C_DROP_NO_ROUTE, len);
		return XM6_NEW_DROP;
	}
	out_ifindex = fib.ifindex;
	out_if = xm_iface_of(out_ifindex);
	if (!out_if) {
		xm_count(XM_C_PASS_EGRESS_UNMANAGED, len);
		return XM6_NEW_PASS;
	}
	sc->plan.router = out_if->addr;
	/* A rule with an `as` list: one of its addresses, as for IPv4
	 * clients (the port search goes on along the list, xm64_flow_make). */
	if (cfg->flags & XM_CFG_ADDR_SETS) {
		__be32 a = xm_addr_set_pick(rule->rule_id, bpf_get_prandom_u32());

		if (a)
			sc->plan.router = a;
	}
	if (!sc->plan.router) { /* no IPv4 address to leave with: no route for it */
		xm_count(XM_C_DROP_NO_ROUTE, len);
		return XM6_NEW_DROP;
	}
	if (cfg->flows_per_source &&
	    !xm_source_below(xm_source6_id(p->key.saddr), cfg->flows_per_source)) {
		xm_count(XM_C_DROP_SOURCE_QUOTA, len);
		return XM6_NEW_DROP;
	}
	sc->plan.in_slot = in_if->slot;
	sc->plan.out_slot = out_if->slot;
	sc->plan.l2_valid = xm_fib_l2_found(rc);
	__builtin_memcpy(sc->plan.dmac, fib.dmac, 6);
	/* the port search's TIME_WAIT check: an IPv6 client stands there as
	 * its /64's id */
	sc->client = xm_source6_id(p->key.saddr);
	sc->client_port = p->key.sport;
	return XM6_NEW_FLOW;
}

/* For tc and for XDP (a global function's context has its program type's
 * name on 6.1), as xm6_flow_new. */
__noinline int xm64_flow_plan(struct __sk_buff *ctx, struct xm_pkt6 *p, __u32 ifindex, __u32 len)
{
	return xm64_flow_plan_in(ctx, p, ifindex, len);
}

__noinline int xm64_flow_plan_xdp(struct xdp_md *ctx, struct xm_pkt6 *p, __u32 ifindex, __u32 len)
{
	return xm64_flow_plan_in(ctx, p, ifindex, len);
}

/* Step 3: the flow's two flows6 entries (the reply first), then the
 * stub in slot idx, claimed by step 2, is published. XM6_NEW_*. */
__noinline int xm64_flow_insert(struct xm_pkt6 *p, __u32 idx, __u32 len)
{
	__u32 zero = 0, now = xm_clock_s(), rule_id;
	struct xm_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	struct xm_ct_slot *s = bpf_map_lookup_elem(&flows, &idx);
	struct xm_flow6_key k6 = {};
	struct xm_flow6 *v;
	struct xm_rule_stats *rs;
	__u64 w1;
	int rc;

	if (!p || !sc || !s) {
		if (s)
			xm_ct_release(idx);
		xm_count(XM_C_DROP_CT_FULL, len);
		return XM6_NEW_DROP;
	}
	rule_id = sc->plan.rule_id;
	v = &sc->flow6; /* in scratch: no room on 6.1's stack beside the table's calls */
	__builtin_memset(v, 0, sizeof(*v));
	__builtin_memset(&s->flow, 0, sizeof(s->flow));
	s->flow.flags = XM_FLOW_REPLY;
	s->flow.in_slot = XM_SLOT_IPV6_FLOW;
	s->flow.out_slot = XM_SLOT_IPV6_FLOW;
	s->flow.rule_id = rule_id;
	s->flow.last_seen_s = now;

	/* Reply direction: backend -> the router's IPv4 address and port. */
	xm64_map(k6.saddr, s->key.saddr);
	xm64_map(k6.daddr, s->key.daddr);
	k6.sport = s->key.sport;
	k6.dport = s->key.dport;
	k6.proto = p->key.proto;
	xm6_addr_copy(v->new_saddr, p->key.daddr);
	xm6_addr_copy(v->new_daddr, p->key.saddr);
	v->new_sport = p->key.dport;
	v->new_dport = p->key.sport;
	__builtin_memcpy(v->out_dmac, p->src_mac, 6);
	v->out_vlan = p->vlan_tci; /* back with the tag it came with */
	v->flags = XM_FLOW_REPLY | XM_FLOW_L2_VALID | XM_FLOW6_TO_V4;
	v->state = p->key.proto == IPPROTO_TCP ? XM_ST_SYN_SENT : XM_ST_NONE;
	v->in_slot = sc->plan.out_slot;
	v->out_slot = sc->plan.in_slot;
	v->rule_id = rule_id;
	v->last_seen_s = now;
	if (xm_ct6_insert(&k6, v)) {
		xm_ct_release(idx);
		xm_count(XM_C_DROP_CT_FULL, len);
		return XM6_NEW_DROP;
	}

	/* Original direction: client -> the IPv4 backend. */
	xm6_addr_copy(v->new_saddr, k6.daddr);
	xm6_addr_copy(v->new_daddr, k6.saddr);
	v->new_sport = k6.dport;
	v->new_dport = k6.sport;
	v->flags = XM_FLOW6_TO_V4 | (sc->plan.l2_valid ? XM_FLOW_L2_VALID : 0);
	v->out_vlan = 0; /* routed: the egress NIC's own frames */
	__builtin_memcpy(v->out_dmac, sc->plan.dmac, 6);
	v->in_slot = sc->plan.in_slot;
	v->out_slot = sc->plan.out_slot;
	/* 6.1: a map key must be on the stack, p is not */
	xm6_addr_copy(k6.saddr, p->key.saddr);
	xm6_addr_copy(k6.daddr, p->key.daddr);
	k6.sport = p->key.sport;
	k6.dport = p->key.dport;
	if (xm_ct6_insert(&k6, v)) {
		/* Another CPU made this flow meanwhile, or the table is full:
		 * give the reply entry and the stub back. */
		rc = xm_ct6_find(&k6) ? XM6_NEW_FLOW : XM6_NEW_DROP;
		xm_flow6_partner_key(v, k6.proto, &k6);
		xm_ct6_delete(&k6);
		xm_ct_release(idx);
		if (rc == XM6_NEW_FLOW) {
			xm_count(XM_C_FLOW_RACE, 0);
			return XM6_NEW_FLOW;
		}
		xm_count(XM_C_DROP_CT_FULL, len);
		return XM6_NEW_DROP;
	}
	/* published, as xm_ct_publish does (the key is the slot's) */
	w1 = xm_ct_state_word(XM_CT_W1(s), 0);
	__sync_lock_test_and_set(&XM_CT_W1(s), xm_ct_state_word(w1, XM_CT_LIVE));
	xm_ct_settle(XM_CT_W0(s), w1, idx);
	xm_source_add_inline(xm_source6_id(p->key.saddr), 1);
	xm6_sweep_ensure();
	rs = bpf_map_lookup_elem(&rule_stats, &rule_id);
	if (rs)
		rs->flows++;
	xm_count(XM_C_FLOW_NEW, 0);
	xm_count(XM_C_FLOW_NEW_IPV6, 0);
	xm_count(XM_C_FLOW_NEW_6TO4, 0);
	return XM6_NEW_FLOW;
}

/* A new 6->4 flow: the plan, the reply tuple's port from the IPv4 search
 * (the client's port first; its stub claims the tuple, so no IPv4 flow
 * can take it), the entries. XM6_NEW_*. */
static __always_inline int xm64_flow_make(void *ctx, int is_xdp, struct xm_pkt6 *p, __u32 ifindex,
					  __u32 len)
{
	__u32 zero = 0, idx;
	struct xm_scratch *sc;
	struct xm_flow_key rkey = {};
	int rc;

	if (!p)
		return XM6_NEW_PASS;
	rc = is_xdp ? xm64_flow_plan_xdp(ctx, p, ifindex, len) :
		      xm64_flow_plan(ctx, p, ifindex, len);
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (rc != XM6_NEW_FLOW || !sc)
		return rc;
	rkey.saddr = sc->plan.backend;
	rkey.daddr = sc->plan.router;
	rkey.sport = sc->plan.to_port;
	rkey.dport = p->key.sport;
	rkey.proto = p->key.proto;
	/* IPv4's search: the client's port first, then along the rule's `as`
	 * list; a refusal recorded under the backend (port_exhausted) */
	rc = xm_alloc_port(ctx, &rkey, sc->client, sc->client_port, 0, 0, sc->plan.rule_id, &idx);
	if (rc) {
		xm_count(rc, len);
		return XM6_NEW_DROP;
	}
	return xm64_flow_insert(p, idx, len);
}

__noinline int xm64_flow_new(struct __sk_buff *ctx, struct xm_pkt6 *p, __u32 ifindex, __u32 len)
{
	return xm64_flow_make(ctx, 0, p, ifindex, len);
}

__noinline int xm64_flow_new_xdp(struct xdp_md *ctx, struct xm_pkt6 *p, __u32 ifindex, __u32 len)
{
	return xm64_flow_make(ctx, 1, p, ifindex, len);
}

/* The bytes of extension headers between p's IPv6 header and its upper
 * layer (a later fragment's: its fragment header's end), none of which
 * stays in the IPv4 packet (RFC 7915 section 5.1: hop-by-hop, destination
 * options and a routing header with no segments left are ignored; a
 * fragment header becomes IPv4's fragment fields). */
static __always_inline __u32 xm64_ext_len(const struct xm_pkt6 *p)
{
	return p->l4_off - p->l3_off - XM_IPV6_HDR_LEN;
}

/* Whether 6->4 can translate p's extension headers: any but a fragment
 * header followed by more of them (those are in the fragmentable part,
 * which every fragment's offset counts: they cannot go). */
static __always_inline int xm64_ext_translatable(const struct xm_pkt6 *p)
{
	return !p->frag_hdr_off || p->frag_hdr_off + XM_FRAG6_HDR_LEN == p->l4_off;
}

/* The IPv4 header RFC 7915 section 5.1 makes of IPv6 packet p's, with
 * the flow's addresses: the traffic class as TOS, hop limit - 1 as TTL,
 * DF set (an IPv6 sender expects no fragmentation on the way), ID 0, its
 * checksum. A fragment (fh: its 8-byte fragment header, else NULL;
 * section 5.1.1): ID the low 16 bits of its identification, MF and the
 * offset copied, DF clear; extension headers (the fragment header too)
 * not counted in the length: they do not stay. */
static __always_inline void xm64_ipv4_header(struct iphdr *h, const struct xm_pkt6 *p, __be32 saddr,
					     __be32 daddr, const __u8 *fh)
{
	__u32 sum = 0, *w = (__u32 *)h;

	__builtin_memset(h, 0, sizeof(*h));
	h->version = 4;
	h->ihl = 5;
	h->tos = p->tclass;
	h->tot_len = bpf_htons(p->payload_len - xm64_ext_len(p) + sizeof(struct iphdr));
	h->frag_off = XM_IP_DF_BE;
	if (fh) {
		__u16 frag = (__u16)fh[2] << 8 | fh[3]; /* offset << 3 | M */

		__builtin_memcpy(&h->id, fh + 6, 2);
		h->frag_off = bpf_htons(frag >> 3 | (frag & 1) << 13);
	}
	h->ttl = p->hop_limit - 1;
	h->protocol = p->key.proto;
	h->saddr = saddr;
	h->daddr = daddr;
	for (int i = 0; i < 5; i++)
		sum = csum_add32(sum, w[i]);
	h->check = ~csum_fold32(sum);
}

/* Translates the IPv6 packet p of a 6->4 flow's original direction to
 * IPv4 in place (RFC 7915 section 5.1): the L4 checksum by difference
 * (pseudo-header addresses, ports), then the header: 20 bytes fewer
 * (bpf_skb_change_proto, which also turns a TCPv6 GSO packet into a
 * TCPv4 one), version 4, the traffic class as TOS, hop limit - 1 as TTL,
 * DF set (an IPv6 sender expects no fragmentation on the way), ID 0, the
 * header checksum. The Ethernet type too; the MACs are the caller's.
 * Extension headers go (xm64_ext_translatable says which packets may
 * have them); a fragment keeps its identity as IPv4's (xm64_ipv4_header);
 * a later one has no L4 header to touch (the first's checksum covers
 * the whole datagram).
 * saddr/daddr: the flow's IPv4 addresses, ports: new sport | dport << 16.
 * 0, or -1: drop (the skb may be half done). Global: a frame of its own. */
__noinline int xm64_tc_to_v4(struct __sk_buff *skb, const struct xm_pkt6 *p, __be32 saddr,
			     __be32 daddr, __u32 ports)
{
	__be32 to[2] = { saddr, daddr };
	__be16 sport = (__be16)ports, dport = (__be16)(ports >> 16), eth_type;
	__u8 fh[XM_FRAG6_HDR_LEN];
	__u64 mangled0;
	struct iphdr ip = {};
	__s64 diff;
	__u32 ext;

	if (!skb || !p)
		return -1;
	if (p->frag_hdr_off && bpf_skb_load_bytes(skb, p->frag_hdr_off, fh, sizeof(fh)))
		return -1;
	mangled0 = p->key.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	diff = bpf_csum_diff((__be32 *)p->key.saddr, 32, to, 8, 0);
	if (p->csum_off &&
	    (diff < 0 ||
	     bpf_l4_csum_replace(skb, p->csum_off, 0, diff, BPF_F_PSEUDO_HDR | mangled0) ||
	     bpf_l4_csum_replace(skb, p->csum_off, p->key.sport, sport, 2 | mangled0) ||
	     bpf_l4_csum_replace(skb, p->csum_off, p->key.dport, dport, 2 | mangled0) ||
	     bpf_skb_store_bytes(skb, p->l4_off, &sport, 2, 0) ||
	     bpf_skb_store_bytes(skb, p->l4_off + 2, &dport, 2, 0)))
		return -1;
	/* still IPv6: the room after its 40-byte header, the extension headers
	 * (a GSO packet's segments keep their payload: the MTU check counted
	 * them without) */
	ext = xm64_ext_len(p);
	if (ext > XM_EXT6_BYTES_MAX ||
	    (ext &&
	     bpf_skb_adjust_room(skb, -(__s32)ext, BPF_ADJ_ROOM_NET, BPF_F_ADJ_ROOM_FIXED_GSO)))
		return -1;
	if (bpf_skb_change_proto(skb, bpf_htons(XM_ETH_P_IP), 0))
		return -1;
	xm64_ipv4_header(&ip, p, saddr, daddr, p->frag_hdr_off ? fh : NULL);
	eth_type = bpf_htons(XM_ETH_P_IP);
	if (bpf_skb_store_bytes(skb, p->l3_off, &ip, sizeof(ip), 0) ||
	    bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_proto), &eth_type, 2, 0))
		return -1;
	return 0;
}

/* An IPv4 reply of a 6->4 flow, parsed by xmasq_tc46. */
struct xm64_pkt {
	__u32 csum_off;
	__u16 tot_len;
	__u8 tos;
	__u8 ttl;
	__be32 saddr; /* as sent, before translation */
	__be32 daddr;
	__be16 frag_off; /* as sent: DF, MF, the offset */
	__be16 id;
	__u8 frag_hdr; /* the IPv6 packet gets a fragment header: a fragment,
	                  or a packet xm46_split will send as two */
	__u8 _pad[3];
};

/* Translates the IPv4 packet q (its flow's reply entry f) to IPv6 in
 * place (RFC 7915 section 4.1): the L4 checksum by difference, then 20
 * more bytes of header (bpf_skb_change_proto), version 6, TOS as the
 * traffic class, flow label 0, TTL - 1 as the hop limit, the flow's IPv6
 * addresses, and the Ethernet header to the client's neighbour. A
 * fragment gets a fragment header too (8 bytes more): the IPv4 ID as its
 * identification, the offset and MF copied, the protocol as its next
 * header; a later one (q->csum_off 0) has no L4 header to touch. p: the
 * flow key (ports in it as sent). 0, or -1: drop. Global: its buffers on
 * a frame of its own. */
__noinline int xm64_tc_to_v6(struct __sk_buff *skb, const struct xm_pkt6 *p,
			     const struct xm64_pkt *q, const struct xm_flow6_key *fk,
			     __u32 out_slot)
{
	struct {
		__u16 align; /* the IPv6 header 4-aligned, as csum_diff reads it */
		__u8 dst[ETH_ALEN];
		__u8 src[ETH_ALEN];
		__be16 type;
		struct ipv6hdr ip6;
		__u8 frag_nexthdr; /* the fragment header, for a fragment only */
		__u8 frag_reserved;
		__be16 frag_off;
		__be32 frag_id;
	} h = {};
	struct xm_flow6_key k;
	struct xm_flow6 *f;
	struct xm_iface *oif;
	__be32 from[2];
	__u64 mangled0;
	__s64 diff;
	__u32 len;
	__u16 frag;

	if (!skb || !p || !q || !fk)
		return -1;
	__builtin_memcpy(&k, fk, sizeof(k)); /* 6.1: a map key must be on the stack */
	f = xm_ct6_find(&k);
	oif = bpf_map_lookup_elem(&iface_slots, &out_slot);
	if (!f || !oif)
		return -1;
	from[0] = q->saddr;
	from[1] = q->daddr;
	mangled0 = p->key.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__builtin_memcpy(&h.ip6.saddr, f->new_saddr, 16);
	__builtin_memcpy(&h.ip6.daddr, f->new_daddr, 16);
	if (q->csum_off) {
		diff = bpf_csum_diff(from, 8, (__be32 *)&h.ip6.saddr, 32, 0);
		if (diff < 0 ||
		    bpf_l4_csum_replace(skb, q->csum_off, 0, diff, BPF_F_PSEUDO_HDR | mangled0) ||
		    bpf_l4_csum_replace(skb, q->csum_off, p->key.sport, f->new_sport,
					2 | mangled0) ||
		    bpf_l4_csum_replace(skb, q->csum_off, p->key.dport, f->new_dport, 2 | mangled0))
			return -1;
		/* the ports are the first 4 bytes of TCP and UDP alike */
		if (bpf_skb_store_bytes(skb, q->csum_off - (p->key.proto == IPPROTO_TCP ? 16 : 6),
					&f->new_sport, 4, 0))
			return -1;
	}
	if (bpf_skb_change_proto(skb, bpf_htons(XM_ETH_P_IPV6), 0))
		return -1;
	__builtin_memcpy(h.dst, f->out_dmac, ETH_ALEN);
	__builtin_memcpy(h.src, oif->mac, ETH_ALEN);
	h.type = bpf_htons(XM_ETH_P_IPV6);
	h.ip6.version = 6;
	h.ip6.priority = q->tos >> 4;
	h.ip6.flow_lbl[0] = (q->tos & 0x0f) << 4;
	h.ip6.payload_len = bpf_htons(q->tot_len - sizeof(struct iphdr));
	h.ip6.nexthdr = p->key.proto;
	h.ip6.hop_limit = q->ttl - 1;
	len = sizeof(h) - sizeof(h.align) - XM_FRAG6_HDR_LEN;
	if (q->frag_hdr) {
		/* now IPv6: the room after its 40-byte header */
		if (bpf_skb_adjust_room(skb, XM_FRAG6_HDR_LEN, BPF_ADJ_ROOM_NET, 0))
			return -1;
		frag = bpf_ntohs(q->frag_off);
		h.frag_nexthdr = p->key.proto;
		h.frag_off = bpf_htons((frag & 0x1fff) << 3 | (frag & 0x2000 ? 1 : 0));
		h.frag_id = bpf_htonl(bpf_ntohs(q->id));
		h.ip6.nexthdr = XM_NEXTHDR_FRAGMENT;
		h.ip6.payload_len = bpf_htons(q->tot_len - sizeof(struct iphdr) + XM_FRAG6_HDR_LEN);
		len += XM_FRAG6_HDR_LEN;
	}
	return bpf_skb_store_bytes(skb, 0, h.dst, len, 0) ? -1 : 0;
}

/* Sends the IPv6 fragment xm64_tc_to_v6 made in skb (its fragment header
 * right after the IPv6 header), too big for mtu, as two fragments that
 * fit (RFC 7915 section 4.1: a translator fragments what the IPv4 sender
 * let be fragmented): the first (its data a multiple of 8 bytes, as big
 * as mtu allows; M set) by bpf_clone_redirect to out_ifindex, and the
 * skb becomes the second (the rest; the offset moved on, M as it was),
 * for the caller to send. The rest is kept in `refrag` meanwhile. 0, 1:
 * the data needs more than two fragments (the skb untouched), or -1: drop
 * (the skb may be half done). Global: verified once, a frame of its own. */
__noinline int xm46_split(struct __sk_buff *skb, __u32 mtu, __u32 out_ifindex)
{
	const __u32 hdrs = sizeof(struct ethhdr) + XM_IPV6_HDR_LEN + XM_FRAG6_HDR_LEN;
	const __u32 fh_at = sizeof(struct ethhdr) + XM_IPV6_HDR_LEN;
	__u32 zero = 0, data_len, first, rest, n;
	struct xm_refrag *buf = bpf_map_lookup_elem(&refrag, &zero);
	__be16 plen, fword;
	__u16 word;

	if (!skb || !buf || skb->len <= hdrs || bpf_skb_load_bytes(skb, fh_at + 2, &fword, 2))
		return -1;
	if (mtu < XM_IPV6_MIN_MTU)
		return 1;
	data_len = skb->len - hdrs;
	first = (mtu - XM_IPV6_HDR_LEN - XM_FRAG6_HDR_LEN) & ~7u;
	rest = data_len > first ? data_len - first : 0;
	word = bpf_ntohs(fword); /* offset in bytes (a multiple of 8) | M */
	if (rest == 0 || rest > first || rest > XM_REFRAG_MAX || (word & 0xfff8) + first > 0xfff8)
		return 1;
	n = xm_len_bounded(rest, XM_REFRAG_MAX);
	if (bpf_skb_load_bytes(skb, hdrs + first, buf->data, n))
		return -1;
	/* the first: as much as fits, more to come */
	plen = bpf_htons(XM_FRAG6_HDR_LEN + first);
	fword = bpf_htons((word & 0xfff8) | 1);
	if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + 4, &plen, 2, 0) ||
	    bpf_skb_store_bytes(skb, fh_at + 2, &fword, 2, 0) ||
	    xm_refrag_send_first(skb, hdrs, first, out_ifindex))
		return -1;
	/* the second: the rest, from where the first ends */
	plen = bpf_htons(XM_FRAG6_HDR_LEN + n);
	fword = bpf_htons(((word & 0xfff8) + first) | (word & 1));
	if (xm_refrag_restore(skb, buf, hdrs, n) ||
	    bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + 4, &plen, 2, 0) ||
	    bpf_skb_store_bytes(skb, fh_at + 2, &fword, 2, 0))
		return -1;
	return 0;
}

/* A later IPv4 fragment of a 6->4 flow's reply (no L4 header): p->key's
 * ports become those of its first fragment, which xmasq_tc noted in
 * frags (and found again to come here). 0, or -1: not noted (any more). */
__noinline int xm64_later_frag_ports(struct xm_pkt6 *p, const struct xm64_pkt *q)
{
	struct xm_frag_key fk = {};
	struct xm_frag_value *fv;

	if (!p || !q)
		return -1;
	fk.saddr = q->saddr;
	fk.daddr = q->daddr;
	fk.ip_id = q->id;
	fk.proto = p->key.proto;
	fv = bpf_map_lookup_elem(&frags, &fk);
	if (!fv)
		return -1;
	p->key.sport = fv->flow.sport;
	p->key.dport = fv->flow.dport;
	return 0;
}

/* Sends an ICMP message built whole in frame (len bytes from its
 * Ethernet header, the MACs and type filled in here: to the flow's next
 * hop from egress oif) in place of the skb, now of family eth_type. */
static __always_inline int xm64_icmp_emit(struct __sk_buff *skb, __u8 *frame, __u32 len,
					  __u16 eth_type, const struct xm_flow6 *f,
					  const struct xm_iface *oif)
{
	__builtin_memcpy(frame, f->out_dmac, ETH_ALEN);
	__builtin_memcpy(frame + ETH_ALEN, oif->mac, ETH_ALEN);
	*(__be16 *)(frame + 2 * ETH_ALEN) = bpf_htons(eth_type);
	return bpf_skb_change_proto(skb, bpf_htons(eth_type), 0) ||
			       bpf_skb_change_tail(skb, len, 0) ||
			       bpf_skb_store_bytes(skb, 0, frame, len, 0) ?
		       -1 :
		       0;
}

/* RFC 7915 section 4.2: the ICMPv6 type and code of an ICMPv4 error
 * (type << 8 | code), 0 when it has none (dropped); *mtu: a Packet Too
 * Big's, from a frag-needed's next-hop MTU (20 bytes more as IPv6, at
 * least IPv6's minimum, 1280). */
static __always_inline __u32 xm64_icmp_type(__u8 type, __u8 code, __u32 *mtu)
{
	if (type == XM_ICMP_TIME_EXCEEDED)
		return code <= 1 ? 3u << 8 | code : 0;
	if (type != XM_ICMP_DEST_UNREACH)
		return 0;
	switch (code) {
	case 0: /* net, host unreachable and their kin: no route */
	case 1:
	case 5:
	case 6:
	case 7:
	case 8:
	case 11:
	case 12:
		return 1u << 8;
	case 3: /* port unreachable */
		return 1u << 8 | 4;
	case 4: /* fragmentation needed: Packet Too Big */
		*mtu = *mtu + XM_V64_HDR_DIFF < 1280 ? 1280 : *mtu + XM_V64_HDR_DIFF;
		return 2u << 8;
	case 9: /* administratively prohibited */
	case 10:
	case 13:
	case 15:
		return 1u << 8 | 1;
	default:
		return 0;
	}
}

/* Turns an ICMPv4 error about a 6->4 flow (its reply entry's key fk:
 * the quote's tuple reversed, mapped) into the ICMPv6 error its IPv6
 * client must get (RFC 7915 section 4.2): from the address the client
 * sent to (the reporter's IPv4 address has no IPv6 form here), the quote
 * translated back to the packet the client sent, its first 8 L4 bytes
 * (a UDP checksum in them mended), the ICMPv6 checksum computed whole;
 * the Ethernet header to the client's neighbour. The ICMPv4 message is
 * at l4_off. 0, -1: the skb may be half done (drop it), 1: no ICMPv6
 * form. Global: its buffers on a frame of its own. */
__noinline int xm64_tc_icmp_to_v6(struct __sk_buff *skb, const struct xm_flow6_key *fk,
				  __u32 out_slot, __u32 l4_off)
{
	struct {
		__u16 align; /* the IPv6 headers 4-aligned, as csum_diff reads them */
		__u8 dst[ETH_ALEN];
		__u8 src[ETH_ALEN];
		__be16 type;
		struct ipv6hdr ip6;
		__u8 icmp_type, icmp_code;
		__sum16 icmp_csum;
		__be32 word; /* Packet Too Big: the MTU */
		struct ipv6hdr qip6;
		__u8 ql4[8];
	} m = {};
	struct xm_flow6_key k;
	struct iphdr qip;
	__u8 icmp4[8], ttl;
	__be32 pseudo[2], qaddrs[2];
	struct xm_flow6 *f;
	struct xm_iface *oif;
	__u32 type, mtu, len6 = 8 + XM_IPV6_HDR_LEN + 8, diff;
	__s64 sum;
	__u16 qsum;

	if (!skb || !fk || l4_off > sizeof(struct ethhdr) + 60) /* IPv4 options: up to 40 bytes */
		return -1;
	__builtin_memcpy(&k, fk, sizeof(k)); /* 6.1: a map key must be on the stack */
	f = xm_ct6_find(&k);
	oif = bpf_map_lookup_elem(&iface_slots, &out_slot);
	if (!f || !oif || bpf_skb_load_bytes(skb, l4_off, icmp4, 8) ||
	    bpf_skb_load_bytes(skb, l4_off + 8, &qip, sizeof(qip)) ||
	    bpf_skb_load_bytes(skb, l4_off + 8 + sizeof(qip), m.ql4, 8) ||
	    bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + offsetof(struct iphdr, ttl), &ttl, 1))
		return -1;
	mtu = (__u32)icmp4[6] << 8 | icmp4[7];
	type = xm64_icmp_type(icmp4[0], icmp4[1], &mtu);
	if (!type)
		return 1;
	m.icmp_type = type >> 8;
	m.icmp_code = type & 0xff;
	if (m.icmp_type == 2)
		m.word = bpf_htonl(mtu);

	/* the quote: the packet the client sent (client -> the router's
	 * IPv6 address), as far as the ICMPv4 message quoted it */
	m.qip6.version = 6;
	m.qip6.priority = qip.tos >> 4;
	m.qip6.flow_lbl[0] = (qip.tos & 0x0f) << 4;
	m.qip6.payload_len = bpf_htons(bpf_ntohs(qip.tot_len) - sizeof(struct iphdr));
	m.qip6.nexthdr = qip.protocol;
	m.qip6.hop_limit = qip.ttl;
	__builtin_memcpy(&m.qip6.saddr, f->new_daddr, 16);
	__builtin_memcpy(&m.qip6.daddr, f->new_saddr, 16);
	if (qip.protocol == IPPROTO_UDP) { /* its checksum is in the 8 bytes */
		qaddrs[0] = qip.saddr;
		qaddrs[1] = qip.daddr;
		sum = bpf_csum_diff(qaddrs, 8, (__be32 *)&m.qip6.saddr, 32, 0);
		if (sum < 0)
			return -1;
		diff = csum_diff16((__u32)sum, *(__u16 *)m.ql4, f->new_dport);
		diff = csum_diff16(diff, *(__u16 *)(m.ql4 + 2), f->new_sport);
		__builtin_memcpy(&qsum, m.ql4 + 6, 2);
		if (qsum) {
			qsum = csum_apply(qsum, diff);
			__builtin_memcpy(m.ql4 + 6, qsum ? &qsum : &(__u16){ 0xffff }, 2);
		}
	}
	__builtin_memcpy(m.ql4, &f->new_dport, 2);
	__builtin_memcpy(m.ql4 + 2, &f->new_sport, 2);

	m.ip6.version = 6;
	m.ip6.payload_len = bpf_htons(len6);
	m.ip6.nexthdr = XM_NEXTHDR_ICMPV6;
	m.ip6.hop_limit = ttl > 1 ? ttl - 1 : 1;
	__builtin_memcpy(&m.ip6.saddr, f->new_saddr, 16);
	__builtin_memcpy(&m.ip6.daddr, f->new_daddr, 16);
	/* RFC 4443 section 2.3: the pseudo-header and the message */
	pseudo[0] = bpf_htonl(len6);
	pseudo[1] = bpf_htonl(XM_NEXTHDR_ICMPV6);
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&m.ip6.saddr, 32, 0);
	if (sum >= 0)
		sum = bpf_csum_diff(NULL, 0, pseudo, sizeof(pseudo), (__u32)sum);
	if (sum >= 0)
		sum = bpf_csum_diff(NULL, 0, (__be32 *)&m.icmp_type, len6, (__u32)sum);
	if (sum < 0)
		return -1;
	m.icmp_csum = ~csum_fold32((__u32)sum);
	return xm64_icmp_emit(skb, m.dst, sizeof(m) - sizeof(m.align), XM_ETH_P_IPV6, f, oif);
}

/* RFC 7915 section 5.2: the ICMPv4 type and code of an ICMPv6 error
 * (type << 8 | code), 0 when it has none (dropped); *mtu: a frag-needed's,
 * from a Packet Too Big's (20 bytes less as IPv4). */
static __always_inline __u32 xm46_icmp_type(__u8 type, __u8 code, __u32 *mtu)
{
	if (type == 1) /* destination unreachable */
		return code == 1   ? 3u << 8 | 10 : /* administratively prohibited */
		       code == 4   ? 3u << 8 | 3 :	/* port unreachable */
		       code <= 3   ? 3u << 8 | 1 :	/* no route, beyond scope, address */
				     0;
	if (type == 2) { /* Packet Too Big: fragmentation needed */
		*mtu = *mtu > 68 + XM_V64_HDR_DIFF ? *mtu - XM_V64_HDR_DIFF : 68;
		return 3u << 8 | 4;
	}
	if (type == 3) /* time exceeded */
		return code <= 1 ? 11u << 8 | code : 0;
	if (type == 4 && code == 1) /* unrecognised next header */
		return 3u << 8 | 2;
	return 0;
}

/* Turns the ICMPv6 error p about a 6->4 flow's reply as it reached the
 * client (p->key: the flow's original entry) into the ICMPv4 error its
 * IPv4 backend must get (RFC 7915 section 5.2): from the router's IPv4
 * address, quoting the packet as the backend sent it (its IPv4 header
 * and first 8 L4 bytes, a UDP checksum in them mended), the Ethernet
 * header to the backend's next hop. 0, 1: no ICMPv4 form, -1: the skb may
 * be half done (drop it). Global: its buffers on a frame of its own. */
__noinline int xm64_tc_icmp_to_v4(struct __sk_buff *skb, const struct xm_pkt6 *p, __u32 out_slot)
{
	struct {
		__u16 align; /* the IPv4 headers 4-aligned, as csum_diff reads them */
		__u8 dst[ETH_ALEN];
		__u8 src[ETH_ALEN];
		__be16 type;
		struct iphdr ip;
		__u8 icmp_type, icmp_code;
		__sum16 icmp_csum;
		__be16 unused;
		__be16 mtu; /* frag-needed: the next hop's MTU */
		struct iphdr qip;
		__u8 ql4[8];
	} m = {};
	struct xm_flow6_key k;
	struct ipv6hdr q6;
	__u8 icmp6[8];
	struct xm_flow6 *f;
	struct xm_iface *oif;
	__u32 type, mtu, diff;
	__be32 qaddrs[2];
	__s64 sum;
	__u16 qsum;

	if (!skb || !p || p->l4_off > 64)
		return -1;
	__builtin_memcpy(&k, &p->key, sizeof(k)); /* 6.1: a map key must be on the stack */
	f = xm_ct6_find(&k);
	oif = bpf_map_lookup_elem(&iface_slots, &out_slot);
	if (!f || !oif || bpf_skb_load_bytes(skb, p->l4_off, icmp6, 8) ||
	    bpf_skb_load_bytes(skb, p->l4_off + 8, &q6, sizeof(q6)))
		return -1;
	if (bpf_skb_load_bytes(skb, p->l4_off + 8 + sizeof(q6), m.ql4, 8))
		return 1; /* fewer than 8 quoted bytes: nothing to build an ICMPv4 quote of */
	mtu = (__u32)icmp6[6] << 8 | icmp6[7];
	if (icmp6[4] | icmp6[5])
		mtu = 0xffff;
	type = xm46_icmp_type(icmp6[0], icmp6[1], &mtu);
	if (!type)
		return 1;
	m.icmp_type = type >> 8;
	m.icmp_code = type & 0xff;
	if (m.icmp_type == 3 && m.icmp_code == 4)
		m.mtu = bpf_htons((__u16)mtu);

	/* the quote: the reply as the backend sent it */
	m.qip.version = 4;
	m.qip.ihl = 5;
	m.qip.tos = q6.priority << 4 | q6.flow_lbl[0] >> 4;
	m.qip.tot_len = bpf_htons(bpf_ntohs(q6.payload_len) + sizeof(struct iphdr));
	m.qip.frag_off = XM_IP_DF_BE;
	m.qip.ttl = q6.hop_limit;
	m.qip.protocol = q6.nexthdr;
	m.qip.saddr = f->new_daddr[3];
	m.qip.daddr = f->new_saddr[3];
	if (q6.nexthdr == IPPROTO_UDP) { /* its checksum is in the 8 bytes */
		qaddrs[0] = m.qip.saddr;
		qaddrs[1] = m.qip.daddr;
		sum = bpf_csum_diff((__be32 *)&q6.saddr, 32, qaddrs, 8, 0);
		if (sum < 0)
			return -1;
		diff = csum_diff16((__u32)sum, *(__u16 *)m.ql4, f->new_dport);
		diff = csum_diff16(diff, *(__u16 *)(m.ql4 + 2), f->new_sport);
		__builtin_memcpy(&qsum, m.ql4 + 6, 2);
		qsum = csum_apply(qsum, diff);
		__builtin_memcpy(m.ql4 + 6, qsum ? &qsum : &(__u16){ 0xffff }, 2);
	}
	__builtin_memcpy(m.ql4, &f->new_dport, 2);
	__builtin_memcpy(m.ql4 + 2, &f->new_sport, 2);
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&m.qip, sizeof(m.qip), 0);
	if (sum < 0)
		return -1;
	m.qip.check = ~csum_fold32((__u32)sum);

	m.ip.version = 4;
	m.ip.ihl = 5;
	m.ip.tot_len = bpf_htons(sizeof(m) - sizeof(m.align) - sizeof(struct ethhdr));
	m.ip.ttl = p->hop_limit > 1 ? p->hop_limit - 1 : 1;
	m.ip.protocol = IPPROTO_ICMP;
	m.ip.saddr = f->new_saddr[3];
	m.ip.daddr = f->new_daddr[3];
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&m.ip, sizeof(m.ip), 0);
	if (sum < 0)
		return -1;
	m.ip.check = ~csum_fold32((__u32)sum);
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&m.icmp_type, 8 + sizeof(m.qip) + 8, 0);
	if (sum < 0)
		return -1;
	m.icmp_csum = ~csum_fold32((__u32)sum);
	return xm64_icmp_emit(skb, m.dst, sizeof(m) - sizeof(m.align), XM_ETH_P_IP, f, oif);
}

#endif
