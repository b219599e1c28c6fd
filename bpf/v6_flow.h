/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IPv6 flows for xmasq_tc6: a forward's new flow (DNAT + masquerade to
 * the egress NIC's IPv6 address, with a port of its own), its state and
 * its accounting. Table: map "flows6" (xmasq_abi.h). */
#ifndef XMASQ_BPF_V6_FLOW_H
#define XMASQ_BPF_V6_FLOW_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <linux/in.h>
#include <stddef.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "clock.h"
#include "stats.h"
#include "fib.h"
#include "quota.h"
#include "ports.h"
#include "tcp_window.h"
#include "track.h"
#include "v6_parse.h"
#include "v6_sweep.h"
#include "v6_nat.h"

#define XM_AF_INET6 10

static __always_inline int xm6_addr_zero(const __be32 *a)
{
	return !(a[0] | a[1] | a[2] | a[3]);
}

static __always_inline int xm6_addr_equal(const __be32 *a, const __be32 *b)
{
	return !((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]));
}

static __always_inline void xm6_addr_copy(__be32 *dst, const __be32 *src)
{
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
	dst[3] = src[3];
}

/* The forward rule for a new packet: one for its destination address
 * (unless cfg_flags say no rule has one), else one for any address of
 * its ingress NIC. */
static __always_inline struct xm_rule6_value *xm6_rule_find(const struct xm_pkt6 *p, __u32 ifindex,
							    __u32 gen, __u32 cfg_flags)
{
	struct xm_rule6_key rk = {
		.ifindex = ifindex,
		.dport = p->key.dport,
		.proto = p->key.proto,
		.gen = gen,
	};
	struct xm_rule6_value *rv;

	if (!(cfg_flags & XM_CFG_NO_ADDR_RULES6)) {
		xm6_addr_copy(rk.daddr, p->key.daddr);
		rv = bpf_map_lookup_elem(&rules6, &rk);
		if (rv)
			return rv;
		rk.daddr[0] = rk.daddr[1] = rk.daddr[2] = rk.daddr[3] = 0;
	}
	return bpf_map_lookup_elem(&rules6, &rk);
}

static __always_inline int xm6_fib(void *ctx, struct bpf_fib_lookup *fib, const __be32 *src,
				   const __be32 *dst, __u8 proto, __be16 sport, __be16 dport,
				   __u32 ifindex)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = XM_AF_INET6;
	fib->l4_protocol = proto;
	fib->sport = sport;
	fib->dport = dport;
	xm6_addr_copy(fib->ipv6_src, src);
	xm6_addr_copy(fib->ipv6_dst, dst);
	fib->ifindex = ifindex;
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
}

/* 1 when `from` list `list` holds the IPv6 source, else 0, counted. */
static __always_inline int xm6_allow_admit(__u32 list, __u32 rule_id, const __be32 *saddr,
					   __u64 len)
{
	struct xm_allow_key k = {
		.prefixlen = 32 + 128,
		.list = bpf_htonl(list),
	};
	__u64 *refused;

	xm6_addr_copy(k.addr, saddr);
	if (bpf_map_lookup_elem(&allow_lists, &k))
		return 1;
	refused = bpf_map_lookup_elem(&rule_refused, &rule_id);
	if (refused)
		*refused += 1;
	xm_count(XM_C_DROP_NOT_ALLOWED, len);
	return 0;
}

/* Is `port` (host order) one the router's own connections may use? */
static __always_inline int xm6_port_local(const struct xm_config *cfg, __u16 port)
{
	return port >= cfg->local_port_lo && port <= cfg->local_port_hi;
}

/* xm_router_socket_tuple (bpf/ports.h) for IPv6 flow key k. */
static __always_inline int xm6_router_socket(void *ctx, const struct xm_flow6_key *k)
{
	/* The key starts as bpf_sock_tuple's ipv6 part does: no copy */
	struct bpf_sock_tuple *t = (struct bpf_sock_tuple *)k;

	_Static_assert(offsetof(struct xm_flow6_key, saddr) ==
				       offsetof(struct bpf_sock_tuple, ipv6.saddr) &&
			       offsetof(struct xm_flow6_key, daddr) ==
				       offsetof(struct bpf_sock_tuple, ipv6.daddr) &&
			       offsetof(struct xm_flow6_key, dport) ==
				       offsetof(struct bpf_sock_tuple, ipv6.dport),
		       "xm_flow6_key must begin like bpf_sock_tuple.ipv6");
	return xm_router_socket_tuple(ctx, t, sizeof(t->ipv6), k->proto);
}

/* Where the port search of reply entry f's flow starts, from its client's
 * address and port: the same for every flow of that endpoint, so while
 * the port is free towards each peer all its flows leave with one port
 * (endpoint-independent mapping as a STUN client sees it, and as
 * netfilter's masquerade gives it), yet not guessable without the table's
 * secret seed (RFC 6056's hash-based choice). Global: its frame is not
 * the new flow's, which has no room. */
__noinline __u32 xm6_port_start(const struct xm_flow6 *f)
{
	__u64 h = xm_ct_seed ^ 0x706f72747336ull; /* "ports6": apart from the homes' hash */

	if (!f)
		return 0;
	for (int i = 0; i < 4; i++) {
		h = (h ^ f->new_daddr[i]) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	h = (h ^ f->new_dport) * 0x9e3779b97f4a7c15ull;
	return (__u32)(h >> 32);
}

/* How xm6_claim_port may use the client's own port. */
#define XM6_CLAIM_OWN  1 /* try it first (free, not the router's, in the range) */
#define XM6_CLAIM_ONLY 2 /* keep-source: that port or none */

/* Inserts the reply entry *rval under *rkey on rkey's address: the
 * client's port (or its mapping's) first when `how` says so, else ports
 * of the range from the client endpoint's start, XM_PORT_PROBES at most;
 * for a masqueraded host (scratch's nat6) none another host's mapping
 * holds. 0, or the counter of the refusal. Global: verified once, not
 * once an address of an `as` list (the new flow's claim loops over the
 * list). */
__noinline int xm6_claim_port(const struct xm_config *cfg, struct xm_flow6_key *rkey,
			      const struct xm_flow6 *rval, __u32 how)
{
	__u32 span, rnd;
	__u16 port;
	int rc; /* 6.1's map update returns an int: its upper half is not the sign */

	if (!cfg || !rkey || !rval)
		return XM_C_DROP_CT_FULL;
	/* The client endpoint's own start (xm6_port_start), then a large odd
	 * stride (distinct ports for the default range). A random start gave
	 * each destination another port: address- and port-dependent
	 * mapping where ip6tables gives endpoint-independent. One insert
	 * for the client's port (i -1) and the search's: this frame holds
	 * one call's worth, 6.1's 512 bytes the whole chain. */
	rnd = xm6_port_start(rval);
	for (int i = (how & (XM6_CLAIM_OWN | XM6_CLAIM_ONLY)) ? -1 : 0; i < XM_PORT_PROBES; i++) {
		if (i >= 0) {
			if ((how & XM6_CLAIM_ONLY) || cfg->port_hi < cfg->port_lo)
				return XM_C_DROP_NO_PORT;
			span = (__u32)cfg->port_hi - cfg->port_lo + 1;
			port = cfg->port_lo + (rnd + (__u32)i * 40503u) % span;
			if (xm6_port_local(cfg, port) &&
			    span > (__u32)cfg->local_port_hi - cfg->local_port_lo + 1)
				continue;
			rkey->dport = bpf_htons(port);
			if (rkey->proto == XM_NEXTHDR_ICMPV6) /* an echo id is both "ports" */
				rkey->sport = rkey->dport;
		}
		if (xm6_nat_port_taken(rkey))
			continue;
		rc = xm_ct6_insert(rkey, rval);
		if (!rc)
			return 0;
		if (rc != -17 /* EEXIST */)
			return XM_C_DROP_CT_FULL;
	}
	return XM_C_DROP_NO_PORT;
}

/* xm6_claim_port on rkey's address (its ports the client's), keeping the
 * client's port when it is free there, neither one of the router's
 * ephemeral ports nor one a socket of the router's holds towards this
 * peer (asked here: the kernel's lookup wants the program's ctx). For
 * a masqueraded host (nat) its live mapping's port on that address is
 * tried first instead of its own (the port it has towards every peer
 * while its flows live; when that tuple is taken towards this peer the
 * flow leaves with another, nat_mapping_split). */
static __always_inline int xm6_claim_reply(void *ctx, const struct xm_config *cfg,
					   struct xm_flow6_key *rkey, const struct xm_flow6 *rval,
					   int nat)
{
	__u32 how = 0;
	__u16 port = nat ? (__u16)xm6_nat_port_of(rkey, rval) : 0;

	if (port) {
		rkey->dport = port;
		if (rkey->proto == XM_NEXTHDR_ICMPV6)
			rkey->sport = port;
	}
	port = bpf_ntohs(rkey->dport);

	if (port >= cfg->port_lo && port <= cfg->port_hi && !xm6_port_local(cfg, port) &&
	    !xm6_router_socket(ctx, rkey))
		how |= XM6_CLAIM_OWN;
	return xm6_claim_port(cfg, rkey, rval, how);
}

/* Writes to k->daddr an address of rule rule_id's IPv6 `as` list
 * (addr_sets6): for a new flow's first try (tried 0), the one seed picks
 * (a masquerade passes its host's address, so a host leaves with one
 * address for all its flows, RFC 4787 REQ-2 "paired"; a forward a random
 * number, so even one busy client spreads over all); for its try `tried`
 * after that, the one after k->daddr, wrapping (as xm_addr_set_next does
 * for IPv4). 0, or -1: the rule has no list, `tried` has been through
 * it, or k->daddr is not on it (the list changed). Global: verified once,
 * and the new flow's frame keeps no seed across its tries. */
__noinline int xm6_addr_set_at(__u32 rule_id, __u32 seed, __u32 tried, struct xm_flow6_key *k)
{
	__u32 sid = xm_addr_set_id(rule_id), n, at = XM_ADDR_SET_MAX;
	struct xm_addr_set6 *set;

	if (!k || !sid)
		return -1;
	set = bpf_map_lookup_elem(&addr_sets6, &sid);
	if (!set)
		return -1;
	n = set->n;
	if (n == 0 || n > XM_ADDR_SET_MAX || tried >= n)
		return -1;
	if (tried == 0)
		at = xm_addr_set_index(seed, n);
	for (__u32 i = 0; tried && i < XM_ADDR_SET_MAX && i < n; i++)
		if (xm6_addr_equal(set->addr[i], k->daddr)) {
			at = (i + 1) % n;
			break;
		}
	asm volatile("" : "+r"(at)); /* as in xm_addr_set_pick */
	if (at >= XM_ADDR_SET_MAX)
		return -1;
	xm6_addr_copy(k->daddr, set->addr[at]);
	return 0;
}

/* Which rule a new IPv6 flow is for. Where it goes (a forward's backend,
 * or, for a host of a masqueraded prefix, where it sent to, leaving by
 * the rule's NIC) is written to the reply key's source: kept in memory,
 * not in registers the flow's making would spill word by word. */
struct xm6_target {
	__u16 allow_list; /* a forward's `from` list, 0: any source */
	__u16 _pad;
	__u32 rule_id;
	__u32 flags;	   /* XM_RULE_*: XM_RULE_MASQUERADE for a masquerade */
	__u32 out_ifindex; /* masquerade: the egress the rule names */
};

/* xm6_target_find: a flow from outside to a masqueraded host's mapping,
 * admitted by nat-filtering (with XM_RULE_KEEP_SOURCE: the source is
 * kept, only the destination becomes the host's). */
#define XM6_TARGET_INBOUND  (1u << 17)
/* ... a masqueraded host's flow to a mapping's public address:port
 * (another host's, or its own from another port): hairpinned to that
 * host, from the sender's own mapping */
#define XM6_TARGET_HAIRPIN  (1u << 18)
/* xm6_flow_make: the masqueraded flow counts in its host's mapping
 * (xm6_nat_note took it): its ORIG entry is marked XM_FLOW6_NAT_MAPPED */
#define XM6_TARGET_MAPPED   (1u << 19)
/* ... no target: nat-filtering refused the packet (pass_nat_filtered) */
#define XM6_TARGET_FILTERED 1

/* A new packet from outside that no rule takes: a masqueraded host's
 * mapping of its destination may, as nat-filtering (cfg_flags) admits it:
 * the host's masquerade rule (rkey's source written: the host), or -1:
 * no mapping, or -2: filtered. Only a TCP SYN or UDP may open such a
 * flow (the router's own connections' segments pay no lookup). Global:
 * the new flow's frame has no room for its work. */
__noinline __s64 xm6_target_mapping(const struct xm_pkt6 *p, __u32 cfg_flags, __u32 gen,
				    struct xm_flow6_key *rkey)
{
	struct xm_masq6_key mk = { .prefixlen = 32 + 128, .gen = bpf_htonl(gen) };
	struct xm_masq_value *mv;
	int rc;

	if (!p || !rkey)
		return -1;
	if (p->key.proto != IPPROTO_UDP &&
	    (p->key.proto != IPPROTO_TCP ||
	     (p->tcp_flags & (XM_TCP_SYN | XM_TCP_ACK | XM_TCP_RST)) != XM_TCP_SYN))
		return -1;
	rc = xm6_nat_inbound(&p->key, rkey,
			     cfg_flags & (XM_CFG_NAT_FILTER_ADDR | XM_CFG_NAT_FILTER_ANY));
	if (rc != 2)
		return rc == 1 ? -2 : -1;
	/* counted under the host's masquerade rule, which must still be live */
	xm6_addr_copy(mk.saddr, rkey->saddr);
	mv = bpf_map_lookup_elem(&masq_rules6, &mk);
	return mv ? mv->rule_id : -1;
}

/* The packet's target: a forward of its ingress NIC first, else a
 * masquerade of its source, else (a TCP SYN or UDP from outside) a
 * masqueraded host's mapping of its destination as nat-filtering
 * (cfg_flags) admits it, never when a socket of the router's own holds
 * that tuple; its address and port to rkey's saddr and sport. 0, or -1:
 * none, or XM6_TARGET_FILTERED. */
static __always_inline int xm6_target_find(void *ctx, const struct xm_pkt6 *p, __u32 ifindex,
					   __u32 gen, __u32 cfg_flags, struct xm6_target *t,
					   struct xm_flow6_key *rkey)
{
	struct xm_rule6_value *rule = xm6_rule_find(p, ifindex, gen, cfg_flags);
	struct xm_masq6_key mk = { .prefixlen = 32 + 128, .gen = bpf_htonl(gen) };
	struct xm_masq_value *mv;
	__s64 rc;

	if (rule) {
		xm6_addr_copy(rkey->saddr, rule->to_addr);
		rkey->sport = rule->to_port;
		t->allow_list = rule->allow_list;
		t->rule_id = rule->rule_id;
		t->flags = rule->flags;
		t->out_ifindex = 0;
		return 0;
	}
	xm6_addr_copy(mk.saddr, p->key.saddr);
	mv = bpf_map_lookup_elem(&masq_rules6, &mk);
	if (!mv) {
		rc = xm6_target_mapping(p, cfg_flags, gen, rkey);
		if (rc == -2)
			return XM6_TARGET_FILTERED;
		if (rc < 0 || xm6_router_socket(ctx, &p->key))
			return -1;
		t->allow_list = 0;
		t->rule_id = (__u32)rc;
		t->flags = XM_RULE_KEEP_SOURCE | XM6_TARGET_INBOUND;
		t->out_ifindex = 0;
		return 0;
	}
	t->allow_list = 0;
	t->rule_id = mv->rule_id;
	t->flags = XM_RULE_MASQUERADE;
	t->out_ifindex = mv->out_ifindex;
	/* Hairpin: to another host's mapping (not filtered: both ends are
	 * behind the router), unless the router's own socket holds the
	 * tuple. Not to the host's own: the flow's two keys would be one. */
	if (p->key.proto != XM_NEXTHDR_ICMPV6 &&
	    xm6_nat_inbound(&p->key, rkey, XM_CFG_NAT_FILTER_ANY) == 2 &&
	    (rkey->sport != p->key.sport || !xm6_addr_equal(rkey->saddr, p->key.saddr)) &&
	    !xm6_router_socket(ctx, &p->key)) {
		t->flags = XM_RULE_MASQUERADE | XM6_TARGET_HAIRPIN;
		t->out_ifindex = 0;
		return 0;
	}
	xm6_addr_copy(rkey->saddr, p->key.daddr);
	rkey->sport = p->key.dport;
	return 0;
}

/* What xm6_flow_new did. */
enum xm6_new {
	XM6_NEW_FLOW = 0, /* the flow exists now (made here, or by another CPU) */
	XM6_NEW_PASS,	  /* not ours: to the kernel (counted) */
	XM6_NEW_DROP,	  /* refused (counted) */
	XM6_NEW_TO_V4,	  /* a forward to an IPv4 backend: xm64_flow_new's */
};

/* Creates both entries of a new flow for a packet that matches an IPv6
 * forward: the reply key first (it claims the port), then the original;
 * a reply packet cannot come before the original is in. ctx: the
 * program's, for the route lookup. Made global below, once per program
 * type: its buffers on a frame of their own (the packet program's would
 * not hold them and a Packet Too Big's on 6.1); the caller looks the
 * flow up. */
static __always_inline int xm6_flow_make(void *ctx, struct xm_pkt6 *p, __u32 ifindex, __u32 len)
{
	__u32 zero = 0, now = xm_clock_s(), slot;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct xm6_target t;
	struct xm_iface *in_if, *out_if;
	struct xm_iface6 *masq;
	struct xm_flow6_key rkey = {};
	struct xm_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	struct xm_flow6 *v;
	struct xm_rule_stats *rs;
	__u32 rule_id, out_ifindex, tried = XM_ADDR_SET_MAX; /* XM_ADDR_SET_MAX: no `as` list */
	__u8 state, dmac[6];
	int rc, why, masquerade;

	if (!p || !cfg || !sc)
		return XM6_NEW_PASS;
	/* the entry is made in scratch: 6.1's stack has no room for it
	 * beside the table's calls */
	v = &sc->flow6;
	__builtin_memset(v, 0, sizeof(*v));
	rc = xm6_target_find(ctx, p, ifindex, cfg->active_gen & 1, cfg->flags, &t, &rkey);
	if (rc) {
		xm_count(rc == XM6_TARGET_FILTERED ? XM_C_PASS_NAT_FILTERED : XM_C_PASS_NOT_OURS,
			 len);
		return XM6_NEW_PASS;
	}
	if (t.flags & XM_RULE_TO_V4)
		return XM6_NEW_TO_V4;
	masquerade = (t.flags & XM_RULE_MASQUERADE) != 0;
	sc->nat6 = masquerade;
	/* Only a TCP SYN opens a TCP flow, an echo request an ICMPv6 one
	 * (a forward never matches ICMPv6: its rules are TCP and UDP). */
	if ((p->key.proto == IPPROTO_TCP &&
	     (p->tcp_flags & (XM_TCP_SYN | XM_TCP_ACK | XM_TCP_RST)) != XM_TCP_SYN) ||
	    (p->key.proto == XM_NEXTHDR_ICMPV6 && p->icmp_type != XM_ICMPV6_ECHO_REQUEST)) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return XM6_NEW_PASS;
	}
	in_if = xm_iface_of(ifindex);
	if (!in_if) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return XM6_NEW_PASS;
	}
	rule_id = t.rule_id;
	{ /* in scratch: 6.1's 512 bytes of stack hold this frame's chain
	   * of calls only without it */
		struct bpf_fib_lookup *fib = &sc->fib6;

		rc = xm6_fib(ctx, fib, p->key.saddr, rkey.saddr, p->key.proto, p->key.sport,
			     rkey.sport, ifindex);
		out_ifindex = fib->ifindex;
		__builtin_memcpy(dmac, fib->dmac, 6);
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	    rc != BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		if (masquerade) { /* not routed out (for the router itself, say): the kernel's */
			xm_count(XM_C_PASS_NOT_OURS, len);
			return XM6_NEW_PASS;
		}
		xm_count(XM_C_DROP_NO_ROUTE, len);
		return XM6_NEW_DROP;
	}
	/* A masqueraded host's packet leaving by another NIC than the
	 * rule's: not this rule's. */
	if (masquerade && t.out_ifindex && out_ifindex != t.out_ifindex) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return XM6_NEW_PASS;
	}
	out_if = xm_iface_of(out_ifindex);
	if (!out_if) {
		xm_count(XM_C_PASS_EGRESS_UNMANAGED, len);
		return XM6_NEW_PASS;
	}
	if (t.allow_list && !xm6_allow_admit(t.allow_list, rule_id, p->key.saddr, len)) {
		return XM6_NEW_DROP;
	}
	if (cfg->flows_per_source &&
	    !xm_source_below(xm_source6_id(p->key.saddr), cfg->flows_per_source)) {
		xm_count(XM_C_DROP_SOURCE_QUOTA, len);
		return XM6_NEW_DROP;
	}
	state = p->key.proto == IPPROTO_TCP ? XM_ST_SYN_SENT : XM_ST_NONE;

	/* Reply direction: backend -> masquerade address:port. The address:
	 * the client's (keep-source), one of the rule's `as` list, or the
	 * egress NIC's. */
	rkey.dport = p->key.sport;
	rkey.proto = p->key.proto;
	if (t.flags & (XM_RULE_KEEP_SOURCE | XM6_TARGET_HAIRPIN)) {
		/* keep-source: the client's; hairpin: the public address it
		 * sent to, where its own mapping is */
		xm6_addr_copy(rkey.daddr,
			      (t.flags & XM_RULE_KEEP_SOURCE) ? p->key.saddr : p->key.daddr);
	} else if (!(cfg->flags & XM_CFG_ADDR_SETS) || /* no rule has a list: no call */
		   xm6_addr_set_at(rule_id,
				   masquerade ? p->key.saddr[0] ^ p->key.saddr[1] ^
							p->key.saddr[2] ^ p->key.saddr[3] :
						bpf_get_prandom_u32(),
				   0, &rkey)) {
		slot = out_if->slot;
		masq = bpf_map_lookup_elem(&iface_addrs6, &slot);
		if (!masq || xm6_addr_zero(masq->addr)) {
			xm_count(XM_C_DROP_NO_IPV6_ADDR, len);
			return XM6_NEW_DROP;
		}
		xm6_addr_copy(rkey.daddr, masq->addr);
	} else {
		tried = 1; /* the list's next addresses may follow */
	}
	xm6_addr_copy(v->new_saddr, p->key.daddr);
	xm6_addr_copy(v->new_daddr, p->key.saddr);
	v->new_sport = p->key.dport;
	v->new_dport = p->key.sport;
	__builtin_memcpy(v->out_dmac, p->src_mac, 6);
	v->out_vlan = p->vlan_tci; /* back with the tag it came with */
	v->flags = XM_FLOW_REPLY | XM_FLOW_L2_VALID;
	v->state = state;
	v->in_slot = out_if->slot;
	v->out_slot = in_if->slot;
	v->rule_id = rule_id;
	v->last_seen_s = now;
	/* An `as` list: its next address while this one has no port left
	 * towards the peer; refused only when none has. Unrolled: clang
	 * enters such a loop in its middle, and 6.1 refuses a loop closed
	 * by a fall-through ("back-edge from insn"). */
#pragma clang loop unroll(full)
	for (int i = 0; i < XM_ADDR_SET_MAX; i++) {
		if (t.flags & XM_RULE_KEEP_SOURCE)
			why = xm6_claim_port(cfg, &rkey, v, XM6_CLAIM_ONLY);
		else
			why = xm6_claim_reply(ctx, cfg, &rkey, v, t.flags & XM_RULE_MASQUERADE);
		if (why != XM_C_DROP_NO_PORT || tried >= XM_ADDR_SET_MAX ||
		    xm6_addr_set_at(rule_id, 0, tried++, &rkey))
			break;
		rkey.dport = p->key.sport; /* the search changed it (an echo id: both) */
		if (rkey.proto == XM_NEXTHDR_ICMPV6)
			rkey.sport = rkey.dport;
	}
	if (why) {
		xm_count(why, len);
		return XM6_NEW_DROP;
	}
	/* A masqueraded host's mapping: made, or stamped (bpf/v6_nat.h) */
	if ((t.flags & XM_RULE_MASQUERADE) && !xm6_nat_note(&rkey, v, cfg->flags))
		t.flags |= XM6_TARGET_MAPPED;

	/* Original direction: client -> the address it sent to. */
	xm6_addr_copy(v->new_saddr, rkey.daddr);
	xm6_addr_copy(v->new_daddr, rkey.saddr);
	v->new_sport = rkey.dport;
	v->new_dport = rkey.sport;
	v->flags = 0;
	v->out_vlan = 0; /* routed: the egress NIC's own frames */
	/* whether the sweeper keeps a mapping alive for it (bpf/v6_nat.h) */
	v->nat_flags = XM_FLOW6_NAT_KNOWN;
	if (t.flags & (XM6_TARGET_MAPPED | XM6_TARGET_INBOUND))
		v->nat_flags |= XM_FLOW6_NAT_MAPPED;
	if (xm_fib_l2_found(rc)) {
		__builtin_memcpy(v->out_dmac, dmac, 6);
		v->flags |= XM_FLOW_L2_VALID;
	}
	if (t.flags & XM_RULE_KEEP_SOURCE)
		v->flags |= XM_FLOW_KEEP_SOURCE;
	v->in_slot = in_if->slot;
	v->out_slot = out_if->slot;
	/* the original key: the reply entry's key reversed, before the
	 * rewrite (6.1: a map key must be on the stack, p is not) */
	xm6_addr_copy(rkey.saddr, p->key.saddr);
	xm6_addr_copy(rkey.daddr, p->key.daddr);
	rkey.sport = p->key.sport;
	rkey.dport = p->key.dport;
	if (xm_ct6_insert(&rkey, v)) {
		/* Another CPU made this flow meanwhile, or the table is full:
		 * give the reply entry back. */
		if (xm_ct6_find(&rkey))
			rc = XM6_NEW_FLOW;
		else
			rc = XM6_NEW_DROP;
		xm_flow6_partner_key(v, rkey.proto, &rkey);
		xm_ct6_delete(&rkey);
		if (rc == XM6_NEW_FLOW) {
			xm_count(XM_C_FLOW_RACE, 0);
			return XM6_NEW_FLOW;
		}
		xm_count(XM_C_DROP_CT_FULL, len);
		return XM6_NEW_DROP;
	}
	xm_source_add_inline(xm_source6_id(p->key.saddr), 1);
	xm6_sweep_ensure();
	rs = bpf_map_lookup_elem(&rule_stats, &rule_id);
	if (rs)
		rs->flows++;
	xm_count(XM_C_FLOW_NEW, 0);
	xm_count(XM_C_FLOW_NEW_IPV6, 0);
	if (t.flags & XM6_TARGET_INBOUND)
		xm_count(XM_C_FLOW_NAT_INBOUND, 0);
	if (t.flags & XM6_TARGET_HAIRPIN)
		xm_count(XM_C_FLOW_HAIRPIN, 0);
	return XM6_NEW_FLOW;
}

/* xm6_flow_make for tc and for XDP: 6.1 takes a global function's
 * context argument only under the program type's own name. */
__noinline int xm6_flow_new(struct __sk_buff *ctx, struct xm_pkt6 *p, __u32 ifindex, __u32 len)
{
	return xm6_flow_make(ctx, p, ifindex, len);
}

__noinline int xm6_flow_new_xdp(struct xdp_md *ctx, struct xm_pkt6 *p, __u32 ifindex, __u32 len)
{
	return xm6_flow_make(ctx, p, ifindex, len);
}

/* Writes a state change (and the FIN notes) to both entries of the flow
 * whose entry f has key `key`, and the window scales or a RST's stamp
 * (synack_ws: XM_TRACK_SYNACK and the SYN-ACK's option, or
 * XM_TRACK_RST_INEXACT), as xm_flow_state_set does for IPv4. Global:
 * runs a few times a connection. */
__noinline int xm6_state_set(struct xm_flow6_key *key, __u32 new, __u32 first_fin, __u32 synack_ws)
{
	struct xm_flow6 *f, *partner;
	struct xm_flow6_key k, pk;

	if (!key)
		return 0;
	__builtin_memcpy(&k, key, sizeof(k)); /* 6.1: a map key must be on the stack */
	f = xm_ct6_find_in(&k, 1);
	if (!f)
		return 0;
	xm_flow6_partner_key(f, k.proto, &pk);
	partner = xm_ct6_find_in(&pk, 1);
	f->state = new;
	if (partner)
		partner->state = new;
	if (first_fin) {
		f->flags |= XM_FLOW_FIN_SENT;
		if (partner && (partner->flags & XM_FLOW_FIN_SENT)) {
			f->flags |= XM_FLOW_FIN_BOTH;
			partner->flags |= XM_FLOW_FIN_BOTH;
		}
	}
	if (new == XM_ST_SYN_SENT) {
		f->flags &= ~(XM_FLOW_FIN_SENT | XM_FLOW_FIN_BOTH);
		if (partner) {
			partner->flags &= ~(XM_FLOW_FIN_SENT | XM_FLOW_FIN_BOTH);
			partner->tcp_win = 0; /* the old connection's */
			partner->tcp_ack = 0;
		}
	}
	if (!partner)
		return 0;
	if (synack_ws & XM_TRACK_SYNACK)
		xm_tcp_scales_set_at(&f->tcp_win, &f->tcp_ack, &partner->tcp_win, synack_ws & 0xff);
	if (synack_ws & XM_TRACK_RST_INEXACT)
		xm_tcp_rst_inexact_timeout(&f->last_seen_s, &partner->last_seen_s);
	return 0;
}

/* A RST, FIN or SYN on an established or closing IPv6 flow (its entry's
 * key), checked against the receiver's window as IPv4's are
 * (xm_tcp_seq_check): XM_SEQ_OK, XM_SEQ_KEEP or XM_SEQ_DROP (counted).
 * Global: a few segments a connection come here. */
__noinline int xm6_tcp_seq_check(struct xm_flow6_key *key, __u32 seq, __u32 fl, __u32 len)
{
	struct xm_flow6 *f, *r;
	struct xm_flow6_key k, pk;

	if (!key)
		return XM_SEQ_OK;
	__builtin_memcpy(&k, key, sizeof(k));
	f = xm_ct6_find_in(&k, 1);
	if (!f)
		return XM_SEQ_OK;
	if (fl & XM_TCP_SYN)
		return xm_tcp_syn_judge(f->state, len);
	xm_flow6_partner_key(f, k.proto, &pk);
	r = xm_ct6_find_in(&pk, 1);
	return r ? xm_tcp_seq_judge(r->tcp_win, r->tcp_ack, seq, fl, len) : XM_SEQ_OK;
}

/* A TCP segment of IPv6 flow f (entry of p->key), as IPv4's are
 * (bpf/flow.h's xm_tcp_guard, first part, and bpf/track.h):
 *  - a RST, FIN or SYN on an established or closing flow must lie in the
 *    receiver's window: -1, drop it (counted); one that changes nothing
 *    (a SYN, a RST in the window but not exact) is sent on and tracked as
 *    nothing (p->tcp_rst_inexact: the flow is stamped back, the caller
 *    leaves the stamp alone);
 *  - then the state from its flags, and what its direction shows of its
 *    receive window (its ACK and window, its SYN's window scale): 0.
 * ctx: the packet (is_xdp: a constant), TCP at p->l4_off. */
static __always_inline int xm6_tcp_segment(void *ctx, int is_xdp, struct xm_flow6 *f,
					   struct xm_pkt6 *p, __u32 len)
{
	int reply, first_fin = 0, synack_ws = 0, rc;
	__u8 old, new, fl;
	struct tcphdr *th;
	void *end;

	if (!f || !p || p->icmp_error)
		return 0;
	reply = (f->flags & XM_FLOW_REPLY) != 0;
	old = new = f->state;
	fl = p->tcp_flags;
	/* past extension headers: a forged RST must not escape the checks
	 * by carrying some */
	th = xm_tcp_header_within(ctx, is_xdp, p->l4_off, XM_L4_OFF6_MAX, XM_L4_OFF6_MASK, &end);
	if (th && xm_tcp_seq_due(fl, old, reply)) {
		rc = xm6_tcp_seq_check(&p->key, bpf_ntohl(th->seq), fl, len);
		if (rc == XM_SEQ_DROP)
			return -1;
		if (rc == XM_SEQ_KEEP) {
			p->tcp_flags = 0; /* sent on, but tracked as nothing */
			if (fl & XM_TCP_RST) {
				p->tcp_rst_inexact = 1;
				xm6_state_set(&p->key, old, 0, XM_TRACK_RST_INEXACT);
			}
			return 0;
		}
	}
	if (th)
		synack_ws = xm_tcp_window_seen(&f->tcp_ack, &f->tcp_win, th, end, fl, reply, old);
	new = xm_tcp_state_next(old, fl, reply, f->flags, &first_fin);
	if (new != old || first_fin || synack_ws)
		xm6_state_set(&p->key, new, first_fin, synack_ws);
	return 0;
}

/* xm6_tcp_segment for tc and XDP. Global: the fast path's frames keep no
 * room for it on 6.1 (bpf_stack.py), and only TCP comes here. */
__noinline int xm6_tcp_segment_tc(struct __sk_buff *ctx, struct xm_flow6 *f, struct xm_pkt6 *p,
				  __u32 len)
{
	return xm6_tcp_segment(ctx, 0, f, p, len);
}

__noinline int xm6_tcp_segment_xdp(struct xdp_md *ctx, struct xm_flow6 *f, struct xm_pkt6 *p,
				   __u32 len)
{
	return xm6_tcp_segment(ctx, 1, f, p, len);
}

/* Connection state, window and checks of a packet of flow f (entry of
 * p->key): TCP's by xm6_tcp_segment (0, or -1: drop it, counted), a UDP
 * or ICMPv6 flow becomes ASSURED at its first reply. Both entries carry
 * the state; the sweeper reads the original's. */
static __always_inline int xm6_flow_track(void *ctx, int is_xdp, struct xm_flow6 *f,
					  struct xm_pkt6 *p, __u32 len)
{
	if (p->key.proto == IPPROTO_TCP)
		return is_xdp ? xm6_tcp_segment_xdp(ctx, f, p, len) :
				xm6_tcp_segment_tc(ctx, f, p, len);
	if ((f->flags & XM_FLOW_REPLY) && f->state == XM_ST_NONE)
		xm6_state_set(&p->key, XM_ST_ASSURED, 0, 0);
	return 0;
}

/* Counts a translated packet: the flow, its interfaces and its rule. */
static __always_inline void xm6_account(struct xm_flow6 *f, __u64 len, int by_xdp)
{
	f->packets++;
	f->bytes += len;
	xm_account_paths(f->out_slot, f->in_slot, f->rule_id,
			 (f->flags & XM_FLOW_REPLY) ? XM_DIR_REPLY : XM_DIR_ORIG, len, by_xdp);
}

/* Per packet: the state and the TCP checks (xm6_flow_track), the stamp,
 * and the original direction's next hop re-resolved every 4 s while busy
 * (a flow without one, at once), as for IPv4. 0, or -1: drop the packet
 * (counted). ctx: the packet (is_xdp: a constant). */
static __always_inline int xm6_flow_touch(void *ctx, int is_xdp, struct xm_flow6 *f,
					  struct xm_pkt6 *p, __u32 ifindex, __u32 out_ifindex,
					  __u32 len)
{
	__u32 now = xm_clock_s();
	struct bpf_fib_lookup fib;
	int rc;

	if (xm6_flow_track(ctx, is_xdp, f, p, len))
		return -1;
	if (p->tcp_rst_inexact)
		return 0; /* stamped back (xm6_tcp_segment) */
	if (f->last_seen_s != now) {
		if (!(f->flags & XM_FLOW_REPLY) &&
		    (!(f->flags & XM_FLOW_L2_VALID) || now % 4 == p->key.sport % 4)) {
			/* a 6->4 flow's next hop is IPv4's (new_daddr: ::ffff:a.b.c.d) */
			if (f->flags & XM_FLOW6_TO_V4)
				rc = xm_fib(ctx, &fib, 0, f->new_daddr[3], p->key.proto,
					    p->key.sport, f->new_dport, 0, ifindex);
			else
				rc = xm6_fib(ctx, &fib, p->key.saddr, f->new_daddr, p->key.proto,
					     p->key.sport, f->new_dport, ifindex);
			if (xm_fib_l2_found(rc) && fib.ifindex == out_ifindex) {
				__builtin_memcpy(f->out_dmac, fib.dmac, 6);
				f->flags |= XM_FLOW_L2_VALID;
			} else {
				f->flags &= ~XM_FLOW_L2_VALID;
			}
		}
		f->last_seen_s = now;
	}
	return 0;
}

#endif
