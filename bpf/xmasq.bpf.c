// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xmasq data plane: the XDP and tc entry points over one core (parse ->
 * flow lookup or creation from a rule -> rewrite -> send).
 *
 * XDP is the fast path. It hands a packet to the tc program on the same
 * NIC (XDP_PASS with a mark in the metadata) whenever XDP cannot deliver it
 * correctly: the egress NIC cannot take redirected frames (a veth whose
 * peer has neither XDP nor GRO drops them silently), the next hop's MAC is
 * not known yet (tc uses bpf_redirect_neigh, which resolves it), or the L4
 * checksum is a CHECKSUM_PARTIAL one that only the skb path can finish.
 */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xmasq_abi.h"
#include "maps.h"
#include "ct.h"
#include "parse.h"
#include "stats.h"
#include "sweep.h"
#include "fib.h"
#include "flow.h"
#include "rewrite.h"
#include "pmtu.h"
#include "mtu.h"
#include "v6_flow.h"
#include "v6_pmtu.h"
#include "v64_xlat.h"
#include "v6_icmp.h"
#include "v6_xdp.h"
#include "v6_frag.h"
#include "v64_xdp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* XDP -> tc hand-over, in the metadata area in front of the frame. */
#define XM_META_MAGIC_SEEN  0x786d7331u /* "xms1": XDP counted it, not ours */
#define XM_META_MAGIC_TO_TC 0x786d7332u /* "xms2": ours, tc must send it */

static __always_inline int xm_parse_counter(int rc)
{
	return rc == XM_PARSE_NOT_IPV4	? XM_C_PASS_NOT_IPV4 :
	       rc == XM_PARSE_MALFORMED ? XM_C_PASS_MALFORMED :
					  XM_C_PASS_NOT_OURS;
}

/* A later fragment: the flow its first fragment used, if recorded. */
static __always_inline int xm_classify_later_frag(const struct xm_pkt *p, __u64 len,
						  struct xm_flow **f)
{
	struct xm_frag_key fk = {
		.saddr = p->key.saddr,
		.daddr = p->key.daddr,
		.ip_id = p->ip_id,
		.proto = p->key.proto,
	};
	struct xm_frag_value *fv = bpf_map_lookup_elem(&frags, &fk);
	struct xm_masq_key mk;
	__u32 zero = 0;
	struct xm_config *cfg;

	if (fv) {
		*f = xm_flow_find(&fv->flow);
		if (*f) {
			xm_count(XM_C_FRAG_LATER, len);
			return XM_LK_FLOW;
		}
	}
	/* Unknown: for the router itself the kernel reassembles (or times
	 * out) — never forwards it; from a masqueraded source it would be
	 * forwarded untranslated, so drop it. */
	cfg = bpf_map_lookup_elem(&config, &zero);
	if (cfg && !bpf_map_lookup_elem(&local_addrs, &p->key.daddr)) {
		mk.prefixlen = 64;
		mk.gen = bpf_htonl(cfg->active_gen & 1);
		mk.saddr = p->key.saddr;
		if (bpf_map_lookup_elem(&masq_rules, &mk)) {
			xm_count(XM_C_DROP_FRAG_UNKNOWN, len);
			return XM_LK_DROP;
		}
	}
	xm_count(XM_C_PASS_FRAGMENT, len);
	return XM_LK_PASS;
}

/* Finds the packet's flow, or creates one from a rule; without may_create
 * (xmasq_tc) a packet that would make one is XM_LK_NEW. */
static __always_inline int xm_classify(void *ctx, int is_xdp, struct xm_pkt *p, __u32 ifindex,
				       __u64 len, struct xm_flow **f, int may_create)
{
	int rc;

	/* A packet that may not be forwarded is the kernel's: it delivers it
	 * if it is for the router, else answers time-exceeded (traceroute). No
	 * flow is made for it. */
	if (p->ip->ttl <= 1) {
		xm_count(XM_C_PASS_TTL, len);
		return XM_LK_PASS;
	}
	if (p->frag == XM_FRAG_LATER)
		return xm_classify_later_frag(p, len, f);
	*f = xm_flow_find(&p->key);
	if (*f) {
		rc = p->key.proto == IPPROTO_TCP ? xm_tcp_guard(ctx, is_xdp, p, *f, len) :
						   XM_LK_FLOW;
	} else if (p->icmp_error) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return XM_LK_PASS; /* about nothing of ours */
	} else if (!may_create) {
		return XM_LK_NEW;
	} else {
		rc = xm_flow_create(ctx, is_xdp, p, ifindex, p->vlan_tci, len, f);
	}
	if (rc == XM_LK_FLOW && p->frag == XM_FRAG_FIRST) {
		struct xm_frag_key fk = {
			.saddr = p->key.saddr,
			.daddr = p->key.daddr,
			.ip_id = p->ip_id,
			.proto = p->key.proto,
		};
		struct xm_frag_value fv = { .flow = p->key, .created_s = xm_clock_s() };

		bpf_map_update_elem(&frags, &fk, &fv, BPF_ANY);
	}
	return rc;
}

/* Re-resolve a flow's next hop (a FIB lookup) every 4 s while it is busy,
 * not every second: with 10^6 flows each is touched about once a second,
 * which made it a lookup on nearly every packet. The second of the
 * 4 depends on the flow, so flows spread their lookups; a flow idle for
 * 4 s or more, or still without a next-hop MAC, is always re-resolved. */
#define XM_RESOLVE_EVERY_S 4

static __always_inline int xm_flow_resolve_due(const struct xm_flow *f, const struct xm_pkt *p,
					       __u32 now)
{
	__u32 spread = bpf_ntohs(p->key.sport) + bpf_ntohs(p->key.dport) + bpf_ntohl(p->key.saddr);

	return !(f->flags & XM_FLOW_L2_VALID) || now - f->last_seen_s >= XM_RESOLVE_EVERY_S ||
	       (now + spread) % XM_RESOLVE_EVERY_S == 0;
}

/* Per-packet flow upkeep shared by both hooks: state, idle time, and the
 * forward direction's next hop, re-resolved now and then. */
static __always_inline void xm_flow_touch(void *ctx, int is_xdp, struct xm_flow *f,
					  const struct xm_pkt *p, __u32 ifindex, __u32 out_ifindex)
{
	__u32 now = xm_clock_s();

	if (p->icmp_error)
		return; /* says nothing about the connection's state */
	if (f->last_seen_s != now) {
		if (!(f->flags & XM_FLOW_REPLY) && p->frag != XM_FRAG_LATER &&
		    xm_flow_resolve_due(f, p, now))
			xm_flow_resolve(ctx, f, p, ifindex, out_ifindex);
		f->last_seen_s = now;
	}
	/* After the stamp: a RST may stamp the flow back (bpf/track.h). */
	xm_flow_track(ctx, is_xdp, f, p);
}

/* The flow's egress interface: its slot (an array lookup). NULL if the
 * slot is free: the interface was detached (which removes its flows) just
 * now. */
static __always_inline struct xm_iface *xm_flow_egress(const struct xm_flow *f)
{
	__u32 slot = f->out_slot;
	struct xm_iface *oif = bpf_map_lookup_elem(&iface_slots, &slot);

	return oif && oif->ifindex ? oif : NULL;
}

/* Counts a translated packet on its way out, by either hook. */
static __always_inline void xm_sent(struct xm_flow *f, const struct xm_pkt *p, __u64 len,
				    int by_xdp)
{
	if (p->icmp_error)
		xm_count(XM_C_ICMP_ERROR, len);
	xm_account(f, len, by_xdp);
	xm_count(by_xdp ? XM_C_FWD_XDP : XM_C_FWD_TC, len);
}

static __always_inline void xm_set_meta(struct xdp_md *ctx, __u32 magic)
{
	void *data, *meta;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(__u32)))
		return; /* driver without metadata: tc just classifies again */
	data = (void *)(long)ctx->data;
	meta = (void *)(long)ctx->data_meta;
	if (meta + sizeof(__u32) > data)
		return;
	*(__u32 *)meta = magic;
}

/* Whether a tagged frame carries IPv6 under its (one) tag. */
static __always_inline int xm_vlan_inner_is_ipv6(void *data, void *data_end)
{
	struct xm_vlan_hdr *vh = data + sizeof(struct ethhdr);

	return (void *)(vh + 1) <= data_end && vh->proto == bpf_htons(XM_ETH_P_IPV6);
}

static __always_inline int xm_xdp_to_tc(struct xdp_md *ctx, __u32 counter, __u64 len)
{
	xm_count(counter, len);
	xm_set_meta(ctx, XM_META_MAGIC_TO_TC);
	return XDP_PASS;
}

SEC("xdp")
int xmasq_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	__u32 ifindex = ctx->ingress_ifindex;
	struct xm_pkt p = {};
	struct xm_flow *f;
	struct xm_iface *oif;
	__u32 out;
	int rc;

	xm_count(XM_C_RX, len);
	rc = xm_parse(data, data_end, len, &p);
	if (rc != XM_PARSE_OK) {
		/* IPv6 is translated on the tc path (xmasq_tc6). */
		if (rc == XM_PARSE_NOT_IPV4 && p.eth &&
		    p.eth->h_proto == bpf_htons(XM_ETH_P_IPV6)) {
			xm_count(XM_C_RX_IPV6, len);
			/* the IPv6 fast path, verified on its own */
			bpf_tail_call(ctx, &progs6_xdp, XM_PROGS6_XDP);
			return xm_xdp_to_tc(ctx, XM_C_PASS_IPV6_TO_TC, len);
		}
		/* Tagged IPv6: tc's, where the kernel has taken the tag off */
		if (rc == XM_PARSE_NOT_IPV4 && p.has_vlan &&
		    xm_vlan_inner_is_ipv6(data, data_end)) {
			xm_count(XM_C_RX_IPV6, len);
			return xm_xdp_to_tc(ctx, XM_C_PASS_IPV6_TO_TC, len);
		}
		xm_count(xm_parse_counter(rc), len);
		xm_set_meta(ctx, XM_META_MAGIC_SEEN);
		return XDP_PASS;
	}

	rc = xm_classify(ctx, 1, &p, ifindex, len, &f, 1);
	if (rc == XM_LK_DROP)
		return XDP_DROP;
	if (rc == XM_LK_PASS) {
		xm_set_meta(ctx, XM_META_MAGIC_SEEN);
		return XDP_PASS;
	}
	/* An IPv6 client's flow: its replies are translated by xmasq_xdp46,
	 * or else by tc (xmasq_tc46). */
	if (f->out_slot == XM_SLOT_IPV6_FLOW) {
		bpf_tail_call(ctx, &progs6_xdp, XM_PROGS46_XDP);
		return xm_xdp_to_tc(ctx, XM_C_PASS_6TO4_TO_TC, len);
	}
	if (xm_flow_csum_partial(ctx, data, data_end, &p, f))
		return xm_xdp_to_tc(ctx, XM_C_PASS_CSUM_PARTIAL, len);
	oif = xm_flow_egress(f);
	if (!oif || !(oif->flags & XM_IFACE_XDP_TX_OK))
		return xm_xdp_to_tc(ctx, XM_C_PASS_TO_TC, len);
	out = oif->ifindex;
	/* tc answers it with frag-needed (DF), or sends it in two fragments */
	{
		__u32 l3_len = bpf_ntohs(p.ip->tot_len), mtu = xm_egress_mtu_xdp(ctx, oif, l3_len);

		if (mtu && l3_len > mtu)
			return xm_xdp_to_tc(ctx, XM_C_PASS_TOO_BIG, len);
	}
	xm_flow_touch(ctx, 1, f, &p, ifindex, out);
	if (!(f->flags & XM_FLOW_L2_VALID))
		return xm_xdp_to_tc(ctx, XM_C_PASS_NO_NEIGH, len);

	if (xm_ts_shift_due(f, &p))
		xm_ts_packet_xdp(ctx, p.l4_off, f->packets, f->flags & XM_FLOW_REPLY);
	if (xm_rewrite_direct(data, data_end, &p, f) ||
	    xm_xdp_write_l2(ctx, p.has_vlan, f, oif->mac)) {
		xm_count(XM_C_DROP_REDIRECT, len);
		return XDP_DROP;
	}
	xm_sent(f, &p, len, 1);
	return bpf_redirect_map(&tx_ports, out, 0);
}

/* Sends packet p of flow f at XDP: a 6->6 flow's rewritten, a 6->4
 * flow's original direction translated to IPv4, and redirected to the
 * flow's egress when that takes XDP frames and its next hop is known;
 * else the packet goes to tc (pass_ipv6_to_tc), which does the rest.
 * touch: stamp the flow and follow its state (a flow made for this very
 * packet has both already). */
static __always_inline int xm6_xdp_send(struct xdp_md *ctx, struct xm_pkt6 *p, struct xm_flow6 *f,
					int touch)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct xm_iface *oif;
	__u32 slot, out, hdr, mtu;
	int to_v4, rc;

	/* tc's: a tag to push (a flow of a tagged client) */
	if (!(f->flags & XM_FLOW_L2_VALID) || f->out_vlan ||
	    (f->flags & (XM_FLOW6_TO_V4 | XM_FLOW_REPLY)) == (XM_FLOW6_TO_V4 | XM_FLOW_REPLY))
		return xm_xdp_to_tc(ctx, XM_C_PASS_IPV6_TO_TC, len);
	to_v4 = (f->flags & XM_FLOW6_TO_V4) != 0;
	hdr = to_v4 ? sizeof(struct iphdr) : XM_IPV6_HDR_LEN; /* the header it leaves with */
	slot = f->out_slot;
	oif = bpf_map_lookup_elem(&iface_slots, &slot);
	if (!oif || !oif->ifindex || !(oif->flags & XM_IFACE_XDP_TX_OK))
		return xm_xdp_to_tc(ctx, XM_C_PASS_IPV6_TO_TC, len);
	mtu = xm_egress_mtu_xdp(ctx, oif, hdr + p->payload_len);
	if ((mtu && hdr + p->payload_len > mtu) || xm6_flow_csum_partial(ctx, data, data_end, p, f))
		return xm_xdp_to_tc(ctx, XM_C_PASS_IPV6_TO_TC, len);
	out = oif->ifindex;
	if (touch) {
		if (xm6_flow_touch(ctx, 1, f, p, ctx->ingress_ifindex, out, len))
			return XDP_DROP;
		if (!(f->flags & XM_FLOW_L2_VALID)) /* the re-resolve just lost it */
			return xm_xdp_to_tc(ctx, XM_C_PASS_IPV6_TO_TC, len);
	}
	rc = to_v4 ? xm64_xdp_to_v4(ctx, p, f, oif->mac) :
		     xm6_xdp_rewrite(data, data_end, p, f, oif->mac);
	if (rc) {
		xm_count(XM_C_DROP_REDIRECT, len);
		return XDP_DROP;
	}
	xm6_account(f, len, 1);
	xm_count(XM_C_FWD_XDP, len);
	return bpf_redirect_map(&tx_ports, out, 0);
}

/* The IPv6 packet at ctx parsed, if XDP may take it: TCP, UDP or an
 * ICMPv6 echo with a bare IPv6 header, not an error, a fragment or at
 * its last hop. 0, or -1: tc's. */
static __always_inline int xm6_xdp_parse(struct xdp_md *ctx, struct xm_pkt6 *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (xm_parse6(data, data_end, data_end - data, p) != XM_PARSE6_OK || p->hop_limit <= 1 ||
	    p->icmp_error || p->frag_hdr_off ||
	    p->l4_off != sizeof(struct ethhdr) + XM_IPV6_HDR_LEN)
		return -1;
	return 0;
}

/* IPv6 at XDP, reached from xmasq_xdp by a tail call (progs6_xdp; rx
 * and rx_ipv6 counted there): a known flow's packet (TCP, UDP, ICMPv6
 * echo; 6->6, or 6->4 translated to IPv4) whose egress takes XDP frames,
 * next hop known, is rewritten and redirected here; a packet of no flow
 * goes on to xmasq_xdp6_new; everything else goes to tc as before
 * (pass_ipv6_to_tc): ICMPv6 errors, Packet Too Big, extension headers,
 * fragments, a checksum that looks unfinished. */
SEC("xdp")
int xmasq_xdp6(struct xdp_md *ctx)
{
	__u64 len = ctx->data_end - ctx->data;
	struct xm_pkt6 p = {};
	struct xm_flow6 *f;

	if (xm6_xdp_parse(ctx, &p))
		return xm_xdp_to_tc(ctx, XM_C_PASS_IPV6_TO_TC, len);
	f = xm_ct6_find(&p.key);
	if (!f) {
		bpf_tail_call(ctx, &progs6_xdp, XM_PROGS6_NEW_XDP);
		return xm_xdp_to_tc(ctx, XM_C_PASS_IPV6_TO_TC, len);
	}
	return xm6_xdp_send(ctx, &p, f, 1);
}

/* A new IPv6 flow at XDP, reached from xmasq_xdp6 by a tail call
 * (progs6_xdp) for a packet of no flow: the flow is made as on tc (a
 * 6->6 forward or masquerade, or 6->4) and its first packet sent here
 * when it can be; a packet that is not ours goes to the kernel with tc
 * told so, a refused one is dropped (both counted). Its own program: the
 * flow's making needs a frame the fast path's would not leave room for
 * on 6.1. */
SEC("xdp")
int xmasq_xdp6_new(struct xdp_md *ctx)
{
	__u64 len = ctx->data_end - ctx->data;
	__u32 ifindex = ctx->ingress_ifindex;
	struct xm_pkt6 p = {};
	struct xm_flow6 *f;
	int rc;

	if (xm6_xdp_parse(ctx, &p))
		return xm_xdp_to_tc(ctx, XM_C_PASS_IPV6_TO_TC, len);
	rc = xm6_flow_new_xdp(ctx, &p, ifindex, (__u32)len);
	if (rc == XM6_NEW_TO_V4)
		rc = xm64_flow_new_xdp(ctx, &p, ifindex, (__u32)len);
	if (rc == XM6_NEW_DROP)
		return XDP_DROP;
	if (rc != XM6_NEW_FLOW) { /* the kernel's: tc leaves it alone */
		xm_set_meta(ctx, XM_META_MAGIC_SEEN);
		return XDP_PASS;
	}
	f = xm_ct6_find(&p.key);
	if (!f) /* removed meanwhile (a flush): tc makes it again */
		return xm_xdp_to_tc(ctx, XM_C_PASS_IPV6_TO_TC, len);
	/* xmasq_xdp6 sends what this frame has no room for on 6.1: a 6->4
	 * flow's translation, a TCP SYN's window scale noted (xm6_flow_track) */
	if ((f->flags & XM_FLOW6_TO_V4) || p.key.proto == IPPROTO_TCP) {
		bpf_tail_call(ctx, &progs6_xdp, XM_PROGS6_XDP);
		return xm_xdp_to_tc(ctx, XM_C_PASS_IPV6_TO_TC, len);
	}
	return xm6_xdp_send(ctx, &p, f, 0);
}

/* The IPv4 replies of 6->4 flows at XDP, reached from xmasq_xdp by a tail
 * call (progs6_xdp) when the IPv4 table's entry is a stub (rx counted
 * there): TCP and UDP without IP options or fragments, to an egress that
 * takes XDP frames, translated to IPv6 and redirected here; the rest goes
 * to tc as before (pass_6to4_to_tc): ICMP errors, a packet too big for
 * the client's side, a checksum that looks unfinished. */
SEC("xdp")
int xmasq_xdp46(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	void *l4 = data + sizeof(*eth) + sizeof(*ip);
	struct xm_pkt6 p = {};
	struct xm_flow6 *f;
	struct xm_iface *oif;
	__u32 slot, out, csum_at, pseudo;
	__u16 *check;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(XM_ETH_P_IP) || ip->ihl != 5 ||
	    (ip->frag_off & bpf_htons(0x3fff)) || ip->ttl <= 1 ||
	    (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP))
		return xm_xdp_to_tc(ctx, XM_C_PASS_6TO4_TO_TC, len);
	csum_at = ip->protocol == IPPROTO_TCP ? 16 : 6;
	check = l4 + csum_at;
	if ((void *)(check + 1) > data_end || (void *)(l4 + 14) > data_end || !*check)
		return xm_xdp_to_tc(ctx, XM_C_PASS_6TO4_TO_TC, len);
	/* a local sender's unfinished checksum (the pseudo-header sum alone) */
	pseudo = xm_pseudo4(ip);
	if (csum_fold32(pseudo) == *check)
		return xm_xdp_to_tc(ctx, XM_C_PASS_6TO4_TO_TC, len);
	p.key.proto = ip->protocol;
	p.key.sport = ((__be16 *)l4)[0];
	p.key.dport = ((__be16 *)l4)[1];
	if (ip->protocol == IPPROTO_TCP)
		p.tcp_flags = ((__u8 *)l4)[13];
	xm64_map(p.key.saddr, ip->saddr);
	xm64_map(p.key.daddr, ip->daddr);
	f = xm_ct6_find(&p.key);
	if (!f || !(f->flags & XM_FLOW6_TO_V4) || !(f->flags & XM_FLOW_L2_VALID) || f->out_vlan)
		return xm_xdp_to_tc(ctx, XM_C_PASS_6TO4_TO_TC, len);
	slot = f->out_slot;
	oif = bpf_map_lookup_elem(&iface_slots, &slot);
	if (!oif || !oif->ifindex || !(oif->flags & XM_IFACE_XDP_TX_OK))
		return xm_xdp_to_tc(ctx, XM_C_PASS_6TO4_TO_TC, len);
	{
		__u32 l3_len = bpf_ntohs(ip->tot_len) + XM_V64_HDR_DIFF,
		      mtu = xm_egress_mtu_xdp(ctx, oif, l3_len);

		if (mtu && l3_len > mtu)
			return xm_xdp_to_tc(ctx, XM_C_PASS_6TO4_TO_TC, len);
	}
	out = oif->ifindex;
	p.l4_off = sizeof(*eth) + sizeof(*ip);
	if (xm6_flow_touch(ctx, 1, f, &p, ctx->ingress_ifindex, out, len))
		return XDP_DROP;
	if (xm64_xdp_to_v6(ctx, f, csum_at, oif->mac)) {
		xm_count(XM_C_DROP_REDIRECT, len);
		return XDP_DROP;
	}
	xm6_account(f, len, 1);
	xm_count(XM_C_FWD_XDP, len);
	return bpf_redirect_map(&tx_ports, out, 0);
}

/* Run once by the loader (BPF_PROG_TEST_RUN) right after each load, so
 * the expiry sweep goes on under the new program even while no new flow
 * comes to arm it. */
SEC("xdp")
int xmasq_sweep_start(struct xdp_md *ctx)
{
	(void)ctx;
	xm_sweep_ensure();
	xm6_sweep_ensure(); /* IPv6's, if flows6 holds flows from before */
	return XDP_PASS;
}

/* What XDP said about this packet, if it ran. */
static __always_inline __u32 xm_tc_meta(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *meta = (void *)(long)skb->data_meta;

	if (meta + sizeof(__u32) > data)
		return 0;
	return *(__u32 *)meta;
}

#define XM_TC_PULL_LEN (XM_MAX_INNER_L4_OFF + 20)

/* Too big for the egress: frag-needed back to the sender if it set DF (or
 * sent TCP segments, which always do), else dropped: xmasq does not
 * fragment. seg_len: the length of the packet (of a GSO packet, its first
 * segment) on the wire. A frag-needed that cannot be made is counted and
 * the packet dropped: passing it to the kernel would be worse (for a
 * forward it is addressed to the router itself, whose stack answers a
 * TCP segment with a RST; translated, the kernel's own frag-needed would
 * go to the masquerade address). The sender retransmits, and its flow
 * stays (xm_flow_touch ran). */
static __always_inline int xm_tc_too_big(struct __sk_buff *skb, const struct xm_pkt *p,
					 __u32 ifindex, __u16 mtu, __u32 seg_len, __u64 len)
{
	struct xm_iface *in_if = xm_iface_of(ifindex);

	if (!(p->ip->frag_off & bpf_htons(XM_IP_DF))) {
		xm_count(XM_C_DROP_TOO_BIG, len);
		return TC_ACT_SHOT;
	}
	if (!in_if || xm_tc_frag_needed(skb, p->l3_off, in_if->addr, mtu, seg_len)) {
		xm_count(XM_C_DROP_TC_REWRITE, len);
		return TC_ACT_SHOT;
	}
	xm_count(XM_C_FRAG_NEEDED_SENT, len);
	return bpf_redirect(ifindex, 0);
}

/* IPv4 at tc. again 0: xmasq_tc, every packet tc sees; a packet of no
 * flow goes on to xmasq_tc_new by a tail call. again 1: xmasq_tc_flow,
 * which xmasq_tc_new hands the packet whose flow it made to (rx and the
 * parse's outcome counted by xmasq_tc already). Three programs, one job
 * each, as the verifier sees them: the flow's making inside xmasq_tc,
 * walked for every path that reached it and every path on from it, took
 * 6.1's verifier to 911,000 of its 1,000,000 instructions. */
static __always_inline int xm_tc4(struct __sk_buff *skb, const int again)
{
	__u32 meta = xm_tc_meta(skb);
	__u32 ifindex = skb->ingress_ifindex ? skb->ingress_ifindex : skb->ifindex;
	__u64 len = skb->len;
	struct xm_pkt p = {};
	struct xm_flow *f;
	struct xm_iface *oif;
	void *data, *data_end;
	int rc, had_vlan, write_macs, split; /* split: 0, or the MTU to cut for */
	__u16 had_tci;
	__u32 out;

	if (meta == XM_META_MAGIC_SEEN && !again)
		return TC_ACT_OK;
	/* IPv6: its own program, verified on its own. cb[0] tells it
	 * whether XDP counted the packet already. */
	if (!again && skb->protocol == bpf_htons(XM_ETH_P_IPV6)) {
		skb->cb[0] = meta == XM_META_MAGIC_TO_TC;
		bpf_tail_call(skb, &progs6, XM_PROGS6_TC);
		/* No IPv6 program (maps of an older attach): passed, as before. */
		if (meta != XM_META_MAGIC_TO_TC) {
			xm_count(XM_C_RX, len);
			xm_count(XM_C_PASS_NOT_OURS, len);
		}
		return TC_ACT_OK;
	}
	if (meta != XM_META_MAGIC_TO_TC && !again)
		xm_count(XM_C_RX, len);

	/* Headers must be linear for direct access. */
	bpf_skb_pull_data(skb, len < XM_TC_PULL_LEN ? len : XM_TC_PULL_LEN);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	rc = xm_parse(data, data_end, len, &p);
	if (rc != XM_PARSE_OK) {
		if (meta != XM_META_MAGIC_TO_TC && !again)
			xm_count(xm_parse_counter(rc), len);
		return TC_ACT_OK;
	}
	had_vlan = p.has_vlan;
	had_tci = p.vlan_tci;
	if (skb->vlan_present) {
		had_vlan = 1;
		had_tci = skb->vlan_tci;
		p.vlan_tci = had_tci;
	}

	rc = xm_classify(skb, 0, &p, ifindex, len, &f, 0);
	if (rc == XM_LK_NEW && !again) {
		bpf_tail_call(skb, &progs4, XM_PROGS4_TC_NEW);
		xm_count(XM_C_PASS_NOT_OURS, len); /* no xmasq_tc_new: cannot be (attach) */
		return TC_ACT_OK;
	}
	if (rc == XM_LK_NEW) { /* made, and removed meanwhile (a flush) */
		xm_count(XM_C_PASS_NOT_OURS, len);
		return TC_ACT_OK;
	}
	if (rc == XM_LK_DROP)
		return TC_ACT_SHOT;
	if (rc == XM_LK_PASS)
		return TC_ACT_OK;
	if (f->out_slot == XM_SLOT_IPV6_FLOW) { /* a reply to an IPv6 client */
		bpf_tail_call(skb, &progs46, XM_PROGS46_TC);
		xm_count(XM_C_PASS_NOT_OURS, len); /* no xmasq_tc46: maps of an older attach */
		return TC_ACT_OK;
	}
	oif = xm_flow_egress(f);
	if (!oif) {
		xm_count(XM_C_PASS_EGRESS_UNMANAGED, len);
		return TC_ACT_OK;
	}
	out = oif->ifindex;
	/* Before the MTU check: a packet answered by frag-needed keeps its
	 * flow alive too, as netfilter's conntrack sees it before the
	 * forward path's MTU check. */
	xm_flow_touch(skb, 0, f, &p, ifindex, out);
	write_macs = (f->flags & XM_FLOW_L2_VALID) != 0;
	split = 0;
	if (oif->mtu && !p.icmp_error) {
		__u32 seg_len = xm_tc_wire_len(skb, &p, (void *)(long)skb->data,
					       (void *)(long)skb->data_end),
		      mtu = xm_egress_mtu_tc(skb, oif, seg_len);

		/* Too big without DF: in two fragments after the rewrite, as
		 * the kernel's forward path fragments it (xm_tc_split4);
		 * not a GSO packet, one with IP options, or one whose checksum
		 * a local sender left unfinished (the copy sent would stay so). */
		if (mtu && seg_len > mtu) {
			__u32 pseudo;

			if (p.ip->frag_off & bpf_htons(XM_IP_DF) || skb->gso_size ||
			    p.ip->ihl != 5 || p.l3_off != sizeof(struct ethhdr) ||
			    xm_csum_looks_partial((void *)(long)skb->data,
						  (void *)(long)skb->data_end, &p, &pseudo))
				return xm_tc_too_big(skb, &p, ifindex, mtu, seg_len, len);
			split = mtu; /* the MTU the fragments are cut for */
		}
	}

	/* TCP/UDP may carry a CHECKSUM_PARTIAL sum: the helpers handle it.
	 * ICMP, ICMP errors and later fragments have complete checksums. */
	if ((p.key.proto == IPPROTO_TCP || p.key.proto == IPPROTO_UDP) && !p.icmp_error &&
	    p.frag != XM_FRAG_LATER) {
		if (xm_ts_shift_due(f, &p))
			xm_ts_packet_tc(skb, p.l4_off, f->packets, f->flags & XM_FLOW_REPLY);
		rc = xm_tc_rewrite_l34(skb, &p, f);
	} else
		rc = xm_rewrite_direct((void *)(long)skb->data, (void *)(long)skb->data_end, &p, f);
	if (rc || xm_tc_write_l2(skb, had_vlan, had_tci, f, oif->mac, write_macs)) {
		xm_count(XM_C_DROP_TC_REWRITE, len);
		return TC_ACT_SHOT;
	}
	/* Its next hop not known yet: the kernel's neighbour code resolves it
	 * (for the sender's next try), the packet itself is too big to go */
	if (split && !write_macs) {
		xm_count(XM_C_DROP_TOO_BIG, len);
		return bpf_redirect_neigh(out, NULL, 0, 0);
	}
	if (split) {
		rc = xm_tc_split4(skb, sizeof(struct ethhdr), split, out);
		if (rc) { /* 1: more than two fragments' worth */
			xm_count(rc > 0 ? XM_C_DROP_TOO_BIG : XM_C_DROP_TC_REWRITE, len);
			return TC_ACT_SHOT;
		}
		xm_count(XM_C_FRAG_SPLIT, len);
	}
	xm_sent(f, &p, len, 0);
	if (write_macs)
		return bpf_redirect(out, 0);
	/* Next hop unknown: let the kernel's neighbour code resolve it. */
	return bpf_redirect_neigh(out, NULL, 0, 0);
}

SEC("tc")
int xmasq_tc(struct __sk_buff *skb)
{
	return xm_tc4(skb, 0);
}

/* A new IPv4 flow at tc: reached from xmasq_tc by a tail call (progs4,
 * XM_PROGS4_TC_NEW) for a packet of no flow. The flow is made here and
 * the packet handed on to xmasq_tc_flow, which sends it; one not ours
 * goes to the kernel, one refused is dropped (both counted). */
SEC("tc")
int xmasq_tc_new(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ingress_ifindex ? skb->ingress_ifindex : skb->ifindex;
	__u64 len = skb->len;
	struct xm_pkt p = {};
	struct xm_flow *f;
	int rc;

	/* xmasq_tc pulled the headers and parsed them as this does */
	if (xm_parse((void *)(long)skb->data, (void *)(long)skb->data_end, len, &p) != XM_PARSE_OK)
		return TC_ACT_OK;
	if (skb->vlan_present)
		p.vlan_tci = skb->vlan_tci;
	/* Straight to the making: xmasq_tc found no flow, and the packet is
	 * no ICMP error, later fragment or last hop (xm_classify). A flow
	 * another CPU made meanwhile is found there (flow_race); a first
	 * fragment is noted by xmasq_tc_flow, which finds the flow. */
	rc = xm_flow_create(skb, 0, &p, ifindex, p.vlan_tci, len, &f);
	if (rc == XM_LK_DROP)
		return TC_ACT_SHOT;
	if (rc != XM_LK_FLOW)
		return TC_ACT_OK;
	bpf_tail_call(skb, &progs4, XM_PROGS4_TC_FLOW);
	xm_count(XM_C_PASS_NOT_OURS, len); /* no xmasq_tc_flow: cannot be (attach) */
	return TC_ACT_OK;
}

/* The packet xmasq_tc_new made a flow for: sent as xmasq_tc sends a known
 * flow's (progs4, XM_PROGS4_TC_FLOW). */
SEC("tc")
int xmasq_tc_flow(struct __sk_buff *skb)
{
	return xm_tc4(skb, 1);
}

/* ---- IPv6 (bpf/v6_*.h) ------------------------------------------------ */

/* Rewrites an IPv6 packet of flow f in place: addresses, ports, hop
 * limit, the L4 checksum by difference (the helpers also keep a
 * CHECKSUM_PARTIAL sum right). No IPv4 header checksum to mend. */
static __always_inline int xm6_tc_rewrite(struct __sk_buff *skb, const struct xm_pkt6 *p,
					  const struct xm_flow6 *f)
{
	__u64 mangled0 = p->key.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u8 hop_limit = p->hop_limit - 1;
	__s64 diff;

	/* A later fragment: addresses only; the L4 checksum in the first
	 * fragment covers them. */
	if (!p->csum_off)
		return bpf_skb_store_bytes(skb, p->l3_off + offsetof(struct ipv6hdr, saddr),
					   f->new_saddr, 32, 0) ||
				       bpf_skb_store_bytes(
					       skb, p->l3_off + offsetof(struct ipv6hdr, hop_limit),
					       &hop_limit, 1, 0) ?
			       -1 :
			       0;
	/* saddr and daddr are adjacent in the key, the entry and the header */
	diff = bpf_csum_diff((__be32 *)p->key.saddr, 32, (__be32 *)f->new_saddr, 32, 0);
	if (diff < 0 ||
	    bpf_l4_csum_replace(skb, p->csum_off, 0, diff, BPF_F_PSEUDO_HDR | mangled0) ||
	    bpf_skb_store_bytes(skb, p->l3_off + offsetof(struct ipv6hdr, saddr), f->new_saddr, 32,
				0) ||
	    bpf_skb_store_bytes(skb, p->l3_off + offsetof(struct ipv6hdr, hop_limit), &hop_limit, 1,
				0))
		return -1;
	/* ICMPv6 echo: the id, once, after type, code and checksum */
	if (p->key.proto == XM_NEXTHDR_ICMPV6)
		return bpf_l4_csum_replace(skb, p->csum_off, p->key.sport, f->new_sport, 2) ||
				       bpf_skb_store_bytes(skb, p->l4_off + 4, &f->new_sport, 2,
							   0) ?
			       -1 :
			       0;
	if (bpf_l4_csum_replace(skb, p->csum_off, p->key.sport, f->new_sport, 2 | mangled0) ||
	    bpf_l4_csum_replace(skb, p->csum_off, p->key.dport, f->new_dport, 2 | mangled0) ||
	    bpf_skb_store_bytes(skb, p->l4_off, &f->new_sport, 4, 0))
		return -1;
	return 0;
}

static __always_inline int xm6_parse_counter(int rc)
{
	return rc == XM_PARSE6_EXT	 ? XM_C_PASS_IPV6_EXT :
	       rc == XM_PARSE6_MALFORMED ? XM_C_PASS_MALFORMED :
					   XM_C_PASS_NOT_OURS;
}

/* headers, and an ICMPv6 error's quoted headers */
#define XM_TC6_PULL_LEN                                                    \
	(sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + XM_ICMP6_QUOTE + \
	 sizeof(struct ipv6hdr) + sizeof(struct tcphdr))

/* Global: the walk of extension headers, off the frame of xmasq_tc6
 * that the new-flow chain stands on. */
__noinline int xm6_tc_parse(struct __sk_buff *skb, struct xm_pkt6 *p)
{
	if (!skb || !p)
		return XM_PARSE6_MALFORMED;
	return xm_parse6((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, p);
}

/* IPv6 on the tc path, reached from xmasq_tc by a tail call (progs6). */
SEC("tc")
int xmasq_tc6(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ingress_ifindex ? skb->ingress_ifindex : skb->ifindex;
	__u64 len = skb->len;
	struct xm_pkt6 p = {};
	struct xm_flow6 *f;
	struct xm_iface *oif;
	int rc;
	__u32 slot, out;

	if (!skb->cb[0]) { /* XDP did not count it */
		xm_count(XM_C_RX, len);
		xm_count(XM_C_RX_IPV6, len);
	}
	bpf_skb_pull_data(skb, len < XM_TC6_PULL_LEN ? len : XM_TC6_PULL_LEN);
	rc = xm6_tc_parse(skb, &p);
	if (rc != XM_PARSE6_OK) {
		xm_count(xm6_parse_counter(rc), len);
		return TC_ACT_OK;
	}
	/* a tag the kernel took off (XDP hands tagged IPv6 here): a new
	 * flow's replies go back with it */
	if (skb->vlan_present)
		p.vlan_tci = skb->vlan_tci;
	/* Not to be forwarded: the kernel answers it (time exceeded), or it
	 * is for the router. */
	if (p.hop_limit <= 1) {
		xm_count(XM_C_PASS_TTL, len);
		return TC_ACT_OK;
	}
	/* A later fragment: the flow its first fragment used, if noted. */
	if (p.frag_hdr_off && !p.csum_off) {
		rc = xm6_frag_flow(skb, &p, (__u32)len);
		if (rc != XM6_NEW_FLOW)
			return rc == XM6_NEW_DROP ? TC_ACT_SHOT : TC_ACT_OK;
	}
	f = xm_ct6_find(&p.key);
	/* An ICMPv6 error about no flow of ours is the kernel's (as one
	 * about a 6->4 flow's client side: it has no IPv6 packets of ours) */
	if (p.icmp_error && (!f || (f->flags & (XM_FLOW6_TO_V4 | XM_FLOW_REPLY)) ==
					   (XM_FLOW6_TO_V4 | XM_FLOW_REPLY))) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return TC_ACT_OK;
	}
	if (!f) {
		rc = xm6_flow_new(skb, &p, ifindex, (__u32)len);
		if (rc == XM6_NEW_TO_V4)
			rc = xm64_flow_new(skb, &p, ifindex, (__u32)len);
		if (rc != XM6_NEW_FLOW)
			return rc == XM6_NEW_DROP ? TC_ACT_SHOT : TC_ACT_OK;
		f = xm_ct6_find(&p.key);
		if (!f) { /* removed meanwhile (a flush): the next packet makes it */
			xm_count(XM_C_PASS_NOT_OURS, len);
			return TC_ACT_OK;
		}
	}
	/* 6->4 translates the IPv6 header and its extension headers to IPv4,
	 * unless a fragment header has more after it */
	if ((f->flags & XM_FLOW6_TO_V4) && !xm64_ext_translatable(&p)) {
		xm_count(XM_C_DROP_6TO4_UNTRANSLATABLE, len);
		return TC_ACT_SHOT;
	}
	if (p.frag_hdr_off)
		xm6_frag_note(skb, &p);
	slot = f->out_slot;
	oif = bpf_map_lookup_elem(&iface_slots, &slot);
	if (!oif || !oif->ifindex) {
		xm_count(XM_C_PASS_EGRESS_UNMANAGED, len);
		return TC_ACT_OK;
	}
	out = oif->ifindex;
	if (p.icmp_error) { /* says nothing about the flow's state; small */
		/* about a 6->4 flow's reply: to its IPv4 backend as ICMPv4 */
		rc = (f->flags & XM_FLOW6_TO_V4) ? xm64_tc_icmp_to_v4(skb, &p, slot) :
						   xm6_tc_icmp_error(skb, &p);
		if (rc) {
			xm_count(rc > 0 ? XM_C_DROP_6TO4_UNTRANSLATABLE : XM_C_DROP_TC_REWRITE,
				 len);
			return TC_ACT_SHOT;
		}
		xm_count(XM_C_ICMP_ERROR, len);
		goto send;
	}
	if (xm6_flow_touch(skb, 0, f, &p, ifindex, out, (__u32)len))
		return TC_ACT_SHOT;
	/* IPv6 routers never fragment: too big for the egress, its sender
	 * gets a Packet Too Big (from the address it sent to), by the NIC it
	 * came in on. A GSO packet is too big only when its segments are. */
	if (oif->mtu) {
		__u32 seg_len =
			xm6_wire_len(skb, &p, (void *)(long)skb->data, (void *)(long)skb->data_end);
		/* 6->4: the IPv4 packet is 20 bytes shorter (the length asked
		 * about is the IPv6 one: it may ask when it need not) */
		__u32 mtu = xm_egress_mtu_tc(skb, oif, seg_len) +
			    (f->flags & XM_FLOW6_TO_V4 ? XM_V64_HDR_DIFF : 0);

		/* ... and the extension headers go too (a fragment header's) */
		if (f->flags & XM_FLOW6_TO_V4)
			seg_len -= xm64_ext_len(&p);
		if (seg_len > mtu) {
			if (xm6_tc_packet_too_big(skb, p.l3_off, mtu, seg_len, f->in_slot)) {
				xm_count(XM_C_DROP_TC_REWRITE, len);
				return TC_ACT_SHOT;
			}
			xm_count(XM_C_FRAG_NEEDED_SENT, len);
			return bpf_redirect(ifindex, 0);
		}
	}
	if (f->flags & XM_FLOW6_TO_V4)
		rc = xm64_tc_to_v4(skb, &p, f->new_saddr[3], f->new_daddr[3],
				   f->new_sport | (__u32)f->new_dport << 16);
	else
		rc = xm6_tc_rewrite(skb, &p, f);
	if (rc) {
		xm_count(XM_C_DROP_TC_REWRITE, len);
		return TC_ACT_SHOT;
	}
send:
	if (xm_tc_vlan_set(skb, f->out_vlan)) {
		xm_count(XM_C_DROP_TC_REWRITE, len);
		return TC_ACT_SHOT;
	}
	xm6_account(f, len, 0);
	xm_count(XM_C_FWD_TC, len);
	if (f->flags & XM_FLOW_L2_VALID) {
		if (bpf_skb_store_bytes(skb, 0, f->out_dmac, ETH_ALEN, 0) ||
		    bpf_skb_store_bytes(skb, ETH_ALEN, oif->mac, ETH_ALEN, 0)) {
			xm_count(XM_C_DROP_TC_REWRITE, len);
			return TC_ACT_SHOT;
		}
		return bpf_redirect(out, 0);
	}
	/* Next hop unknown: the kernel's neighbour code resolves it. */
	return bpf_redirect_neigh(out, NULL, 0, 0);
}

#define XM_IP_OPTS_MAX 40 /* bytes of options an IPv4 header holds */
#define XM_TC46_PULL_LEN                                                         \
	(sizeof(struct ethhdr) + 2 * sizeof(struct iphdr) + XM_IP_OPTS_MAX + 8 + \
	 sizeof(struct tcphdr))

/* The walk over a packet's IPv4 options (xm46_options_untranslatable). */
struct xm46_opt_walk {
	__u8 opt[64]; /* the options (XM_IP_OPTS_MAX bytes at most), zeros after */
	__u32 len;
	__u32 at;  /* the next option's offset */
	__u32 bad; /* a reason not to translate */
};

/* One option: 0 to go on to the next, 1 when done. A bpf_loop callback:
 * verified once, where an unrolled walk made 6.1's verifier explore each
 * way the offsets could add up (over its limit). */
static long xm46_opt_step(__u32 n, struct xm46_opt_walk *w)
{
	__u32 at = w->at, olen;
	__u8 type;

	(void)n;
	if (at >= w->len || at >= XM_IP_OPTS_MAX)
		return 1;
	type = w->opt[at & 63];
	if (type == 0) /* end of the list */
		return 1;
	if (type == 1) { /* no operation */
		w->at = at + 1;
		return 0;
	}
	olen = w->opt[(at + 1) & 63];
	if (olen < 2 || at + olen > w->len ||
	    ((type == 0x83 || type == 0x89) && (olen < 3 || w->opt[(at + 2) & 63] <= olen))) {
		w->bad = 1;
		return 1;
	}
	w->at = at + olen;
	return 0;
}

/* Whether the IPv4 options of skb's packet (len bytes after its header's
 * first 20) hold a source route with addresses left (LSRR, SSRR: the
 * pointer within the option), or do not parse: RFC 7915 section 4.1
 * translates a packet as if its options were not there, but not one
 * whose route is not done. Global: its walk on a frame of its own. */
__noinline int xm46_options_untranslatable(struct __sk_buff *skb, __u32 len)
{
	struct xm46_opt_walk w = {};

	if (!skb || len == 0 || len > XM_IP_OPTS_MAX)
		return 1;
	if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + sizeof(struct iphdr), w.opt,
			       xm_len_bounded(len, sizeof(w.opt))))
		return 1;
	w.len = len;
	bpf_loop(XM_IP_OPTS_MAX, xm46_opt_step, &w, 0);
	return w.bad;
}

/* An ICMPv4 error about a 6->4 flow (its quote: our translated packet),
 * to its IPv6 client as ICMPv6 (bpf/v64_xlat.h). */
static __always_inline int xm64_tc46_icmp_error(struct __sk_buff *skb, void *data, void *data_end,
						__u32 l4_off, __u64 len)
{
	__u8 *icmp = data + l4_off;
	struct iphdr *qip = (struct iphdr *)(icmp + 8);
	__be16 *qports = (__be16 *)(qip + 1);
	struct xm_flow6_key k = {};
	struct xm_flow6 *f;
	struct xm_iface *oif;
	__u32 slot;
	int rc;

	if ((void *)(qports + 4) > data_end || qip->ihl != 5 ||
	    (qip->protocol != IPPROTO_TCP && qip->protocol != IPPROTO_UDP)) {
		xm_count(XM_C_DROP_6TO4_UNTRANSLATABLE, len);
		return TC_ACT_SHOT;
	}
	xm64_map(k.saddr, qip->daddr);
	xm64_map(k.daddr, qip->saddr);
	k.sport = qports[1];
	k.dport = qports[0];
	k.proto = qip->protocol;
	f = xm_ct6_find(&k);
	if (!f || !(f->flags & XM_FLOW6_TO_V4)) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return TC_ACT_OK;
	}
	slot = f->out_slot;
	rc = xm64_tc_icmp_to_v6(skb, &k, slot, l4_off);
	/* the client's tag, if it has one (its entry found again: a value
	 * kept across the call would cost 6.1's stack a slot) */
	f = xm_ct6_find(&k);
	if (!rc && xm_tc_vlan_set(skb, f ? f->out_vlan : 0))
		rc = -1;
	if (rc) {
		xm_count(rc > 0 ? XM_C_DROP_6TO4_UNTRANSLATABLE : XM_C_DROP_TC_REWRITE, len);
		return TC_ACT_SHOT;
	}
	if (f)
		xm6_account(f, len, 0);
	xm_count(XM_C_ICMP_ERROR, len);
	xm_count(XM_C_FWD_TC, len);
	oif = bpf_map_lookup_elem(&iface_slots, &slot);
	return oif ? bpf_redirect(oif->ifindex, 0) : TC_ACT_SHOT;
}

/* IPv4 replies of 6->4 flows, reached from xmasq_tc by a tail call
 * (progs46) when the IPv4 table's entry for the packet is a stub
 * (XM_SLOT_IPV6_FLOW): the flow is in flows6 under the mapped tuple.
 * Translated to IPv6 (bpf/v64_xlat.h) and sent to the client by the NIC
 * it came in on. Counted in rx by xmasq_tc already. TCP and UDP without
 * IP options, fragments too (a later one's ports: its first's, noted in
 * frags by xmasq_tc); the rest is dropped, counted: the router itself
 * has no use for it. */
SEC("tc")
int xmasq_tc46(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ingress_ifindex ? skb->ingress_ifindex : skb->ifindex;
	__u64 len = skb->len;
	struct xm_pkt6 p = {};
	struct xm64_pkt q = {};
	struct xm_flow6 *f;
	struct xm_iface *oif;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	__u32 slot, l4_off, seg_len, gso, opt_len, split, unfinished = 0;
	int rc;

	/* the backend's tag goes (the client's, if any, comes at the end) */
	if (skb->vlan_present && bpf_skb_vlan_pop(skb)) {
		xm_count(XM_C_DROP_TC_REWRITE, len);
		return TC_ACT_SHOT;
	}
	/* headers, and an ICMP error's quoted ones */
	bpf_skb_pull_data(skb, len < XM_TC46_PULL_LEN ? len : XM_TC46_PULL_LEN);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(XM_ETH_P_IP) || ip->ihl < 5) {
		xm_count(XM_C_DROP_TC_REWRITE, len);
		return TC_ACT_SHOT;
	}
	/* IPv4 options are not translated (RFC 7915 section 4.1): they go */
	opt_len = ip->ihl * 4 - sizeof(*ip);
	if (opt_len && xm46_options_untranslatable(skb, opt_len)) {
		xm_count(XM_C_DROP_6TO4_UNTRANSLATABLE, len);
		return TC_ACT_SHOT;
	}
	l4_off = sizeof(struct ethhdr) + sizeof(struct iphdr) + (opt_len & 63);
	if (ip->ttl <= 1) { /* the kernel answers time exceeded */
		xm_count(XM_C_PASS_TTL, len);
		return TC_ACT_OK;
	}
	p.key.proto = ip->protocol;
	q.tot_len = bpf_ntohs(ip->tot_len);
	q.tos = ip->tos;
	q.ttl = ip->ttl;
	q.saddr = ip->saddr;
	q.daddr = ip->daddr;
	q.frag_off = ip->frag_off;
	q.id = ip->id;
	if ((ip->frag_off & XM_IP_OFFSET_BE) &&
	    (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP)) {
		/* a later fragment: no L4 header, its first's ports (frags) */
		if (xm64_later_frag_ports(&p, &q)) {
			xm_count(XM_C_DROP_FRAG_UNKNOWN, len);
			return TC_ACT_SHOT;
		}
		seg_len = q.tot_len;
	} else if (ip->frag_off & XM_IP_OFFSET_BE) {
		xm_count(XM_C_DROP_6TO4_UNTRANSLATABLE, len);
		return TC_ACT_SHOT;
	} else if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = data + l4_off;

		if ((void *)(th + 1) > data_end) {
			xm_count(XM_C_DROP_TC_REWRITE, len);
			return TC_ACT_SHOT;
		}
		p.key.sport = th->source;
		p.key.dport = th->dest;
		p.tcp_flags = ((__u8 *)th)[13];
		q.csum_off = l4_off + offsetof(struct tcphdr, check);
		seg_len = l4_off - sizeof(struct ethhdr) + th->doff * 4;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = data + l4_off;

		/* IPv6 needs a UDP checksum, a sum by difference needs one */
		if ((void *)(uh + 1) > data_end || !uh->check) {
			xm_count(XM_C_DROP_TC_REWRITE, len);
			return TC_ACT_SHOT;
		}
		p.key.sport = uh->source;
		p.key.dport = uh->dest;
		q.csum_off = l4_off + offsetof(struct udphdr, check);
		seg_len = l4_off - sizeof(struct ethhdr) + sizeof(*uh);
		unfinished = csum_fold32(xm_pseudo4(ip)) == uh->check;
	} else if (ip->protocol == IPPROTO_ICMP && !(ip->frag_off & XM_IP_FRAG_BE)) {
		return xm64_tc46_icmp_error(skb, data, data_end, l4_off, len);
	} else {
		xm_count(XM_C_DROP_6TO4_UNTRANSLATABLE, len);
		return TC_ACT_SHOT;
	}
	xm64_map(p.key.saddr, q.saddr);
	xm64_map(p.key.daddr, q.daddr);
	f = xm_ct6_find(&p.key);
	if (!f || !(f->flags & XM_FLOW6_TO_V4)) { /* the flow went, its stub not yet */
		xm_count(XM_C_PASS_NOT_OURS, len);
		return TC_ACT_OK;
	}
	slot = f->out_slot;
	oif = bpf_map_lookup_elem(&iface_slots, &slot);
	if (!oif || !oif->ifindex) {
		xm_count(XM_C_PASS_EGRESS_UNMANAGED, len);
		return TC_ACT_OK;
	}
	p.l4_off = l4_off;
	/* a later fragment has no L4 header to track */
	if (q.csum_off && xm6_flow_track(skb, 0, f, &p, (__u32)len))
		return TC_ACT_SHOT;
	if (!p.tcp_rst_inexact && f->last_seen_s != xm_clock_s())
		f->last_seen_s = xm_clock_s();
	/* 20 bytes more as IPv6 (a fragment: 28, with its fragment header):
	 * too big for the client's side, the backend gets a frag-needed for
	 * 20 bytes less (it set DF: TCP always does), else the packet goes in
	 * two IPv6 fragments (xm46_split; a fragment has no DF). */
	gso = skb->gso_size;
	seg_len = gso && seg_len + gso < q.tot_len ? seg_len + gso : q.tot_len;
	seg_len -= opt_len;
	if (q.frag_off & XM_IP_FRAG_BE)
		seg_len += XM_FRAG6_HDR_LEN;
	split = 0;
	{
		__u32 mtu = xm_egress_mtu_tc(skb, oif, seg_len + XM_V64_HDR_DIFF);

		if (mtu && seg_len + XM_V64_HDR_DIFF > mtu) {
			/* no DF (a fragment has none): the translator
			 * fragments (RFC 7915 section 4.1), in two; not a GSO
			 * packet, nor one whose checksum a local sender left
			 * unfinished (a copy sent by bpf_clone_redirect would
			 * never be finished) */
			if (!(q.frag_off & XM_IP_DF_BE) || (q.frag_off & XM_IP_FRAG_BE)) {
				if (gso || unfinished) {
					xm_count(XM_C_DROP_TOO_BIG, len);
					return TC_ACT_SHOT;
				}
				split = mtu; /* the MTU the fragments are cut for */
			} else {
				if (xm_tc_frag_needed(skb, sizeof(struct ethhdr), q.daddr,
						      mtu - XM_V64_HDR_DIFF, seg_len + opt_len)) {
					xm_count(XM_C_DROP_TC_REWRITE, len);
					return TC_ACT_SHOT;
				}
				xm_count(XM_C_FRAG_NEEDED_SENT, len);
				return bpf_redirect(ifindex, 0);
			}
		}
	}
	/* the options go: the room after the header's first 20 bytes (a GSO
	 * packet's segments keep their payload: the check above counted
	 * them without) */
	if (opt_len) {
		if (bpf_skb_adjust_room(skb, -(__s32)opt_len, BPF_ADJ_ROOM_NET,
					BPF_F_ADJ_ROOM_FIXED_GSO)) {
			xm_count(XM_C_DROP_TC_REWRITE, len);
			return TC_ACT_SHOT;
		}
		q.tot_len -= opt_len;
		if (q.csum_off)
			q.csum_off -= opt_len;
	}
	q.frag_hdr = (q.frag_off & XM_IP_FRAG_BE) || split;
	if (xm64_tc_to_v6(skb, &p, &q, &p.key, slot)) {
		xm_count(XM_C_DROP_TC_REWRITE, len);
		return TC_ACT_SHOT;
	}
	/* the client's tag, if it has one, before a fragment is sent off */
	f = xm_ct6_find(&p.key);
	if (xm_tc_vlan_set(skb, f ? f->out_vlan : 0)) {
		xm_count(XM_C_DROP_TC_REWRITE, len);
		return TC_ACT_SHOT;
	}
	if (f)
		xm6_account(f, len, 0);
	if (split) {
		rc = xm46_split(skb, split, oif->ifindex);
		if (rc) { /* 1: more than two fragments' worth */
			xm_count(rc > 0 ? XM_C_DROP_TOO_BIG : XM_C_DROP_TC_REWRITE, len);
			return TC_ACT_SHOT;
		}
		xm_count(XM_C_FRAG_SPLIT_6TO4, len);
	}
	xm_count(XM_C_FWD_TC, len);
	return bpf_redirect(oif->ifindex, 0);
}
