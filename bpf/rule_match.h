/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Which rule a new flow follows: a forward rule of its ingress interface
 * (or, for hairpin, of the interface owning the address), else a
 * masquerade rule of its source. */
#ifndef XMASQ_BPF_RULE_MATCH_H
#define XMASQ_BPF_RULE_MATCH_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <linux/in.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"
#include "nat.h"
#include "ports.h"
#include "track.h"

static __always_inline struct xm_rule_value *xm_rule_find(const struct xm_pkt *p, __u32 ifindex,
							  __u32 gen, __u32 cfg_flags)
{
	struct xm_rule_key rk = {
		.ifindex = ifindex,
		.daddr = p->key.daddr,
		.dport = p->key.dport,
		.proto = p->key.proto,
		.gen = gen,
	};
	struct xm_rule_value *rv;

	if (cfg_flags & XM_CFG_ADDR_RULES) {
		rv = bpf_map_lookup_elem(&rules, &rk);
		if (rv)
			return rv;
	}
	rk.daddr = 0;
	return bpf_map_lookup_elem(&rules, &rk);
}

/* Where a new flow goes: from a forward rule, or from a masquerade rule
 * (destination unchanged, leaves by the rule's interface), or to a
 * masqueraded host through its mapping (XM_TARGET_*). */
#define XM_TARGET_HAIRPIN (1u << 16) /* from a host behind the router */
#define XM_TARGET_INBOUND (1u << 17) /* from outside, admitted by nat-filtering */

struct xm_target {
	__be32 to_addr;
	__be16 to_port;
	__u16 allow_list; /* the forward's `from` list, 0: any source */
	__u32 rule_id;
	__u32 flags;	   /* XM_RULE_* */
	__u32 out_ifindex; /* masquerade: the egress the rule names (0: any) */
};

/* xm_target_find: no target because nat-filtering refused the packet
 * (counted pass_nat_filtered, not pass_not_ours: one outcome a packet). */
#define XM_TARGET_FILTERED 1

/* A new TCP or UDP packet to one of the router's addresses that no forward
 * takes: a masqueraded host's mapping may (xm_nat_inbound). From a host
 * behind the router (mv: its masquerade rule) it is hairpinned, from
 * outside admitted as nat-filtering says; never when the router itself
 * has a socket for it. */
static __always_inline int xm_target_mapping(void *ctx, const struct xm_pkt *p,
					     const struct xm_config *cfg, struct xm_masq_key *mk,
					     struct xm_masq_value *mv, struct xm_target *t)
{
	__u32 filter = mv ? XM_CFG_NAT_FILTER_ANY :
			    cfg->flags & (XM_CFG_NAT_FILTER_ADDR | XM_CFG_NAT_FILTER_ANY);
	__u64 host;

	host = xm_nat_inbound(xm_key_w0(&p->key), xm_key_w1(&p->key), filter);
	if (!host || xm_router_socket(ctx, &p->key))
		return -1;
	if (host == 1)
		return XM_TARGET_FILTERED;
	t->to_addr = XM_NAT_HOST_ADDR(host);
	t->to_port = XM_NAT_HOST_PORT(host);
	t->out_ifindex = 0;
	if (mv) {
		t->rule_id = mv->rule_id;
		t->flags = XM_RULE_MASQUERADE | XM_TARGET_HAIRPIN;
		return 0;
	}
	/* Counted under the host's masquerade rule, which must still be live. */
	mk->saddr = t->to_addr;
	mv = bpf_map_lookup_elem(&masq_rules, mk);
	if (!mv)
		return -1;
	t->rule_id = mv->rule_id;
	t->flags = XM_RULE_KEEP_SOURCE | XM_TARGET_INBOUND;
	return 0;
}

static __always_inline int xm_target_find(void *ctx, const struct xm_pkt *p, __u32 ifindex,
					  const struct xm_config *cfg, struct xm_target *t)
{
	__u32 gen = cfg->active_gen & 1, cfg_flags = cfg->flags;
	struct xm_rule_value *rule = NULL;
	struct xm_masq_value *mv;
	struct xm_masq_key mk;
	__u32 *local_if;

	/* The rule first: the usual new flow needs no other lookup (the
	 * local-address one is only wanted when no rule matched). */
	if (p->key.proto != IPPROTO_ICMP)
		rule = xm_rule_find(p, ifindex, gen, cfg_flags);
	local_if = rule ? NULL : bpf_map_lookup_elem(&local_addrs, &p->key.daddr);
	/* Hairpin: a host behind another NIC connecting to a forwarded
	 * public address matches the rules of the NIC owning it. */
	if (!rule && local_if && *local_if != ifindex && p->key.proto != IPPROTO_ICMP)
		rule = xm_rule_find(p, *local_if, gen, cfg_flags);
	if (rule) {
		t->to_addr = rule->to_addr;
		t->to_port = rule->to_port;
		t->rule_id = rule->rule_id;
		t->flags = rule->flags;
		t->allow_list = rule->allow_list;
		t->out_ifindex = 0;
		return 0;
	}
	if (p->key.proto == IPPROTO_ICMP && (local_if || p->icmp_type != XM_ICMP_ECHO))
		return -1;
	/* Only a TCP SYN may open a flow to a mapping: the router's own
	 * connections' segments pay no lookup. */
	if (local_if && p->key.proto == IPPROTO_TCP &&
	    (p->tcp_flags & (XM_TCP_SYN | XM_TCP_ACK | XM_TCP_RST)) != XM_TCP_SYN)
		return -1;
	mk.prefixlen = 64;
	mk.gen = bpf_htonl(gen);
	mk.saddr = p->key.saddr;
	mv = bpf_map_lookup_elem(&masq_rules, &mk);
	if (local_if) /* for the router itself, or a mapping */
		return xm_target_mapping(ctx, p, cfg, &mk, mv, t);
	if (!mv)
		return -1;
	t->to_addr = p->key.daddr;
	t->to_port = p->key.dport;
	t->rule_id = mv->rule_id;
	t->flags = XM_RULE_MASQUERADE;
	t->out_ifindex = mv->out_ifindex;
	return 0;
}

#endif
