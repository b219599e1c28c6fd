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
 * (destination unchanged, leaves by the rule's interface). */
struct xm_target {
	__be32 to_addr;
	__be16 to_port;
	__u16 _pad;
	__u32 rule_id;
	__u32 flags;	   /* XM_RULE_* */
	__u32 out_ifindex; /* masquerade: the egress the rule names */
};

static __always_inline int xm_target_find(const struct xm_pkt *p, __u32 ifindex,
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
		t->out_ifindex = 0;
		return 0;
	}
	if (local_if)
		return -1; /* for the router itself */
	if (p->key.proto == IPPROTO_ICMP && p->icmp_type != XM_ICMP_ECHO)
		return -1;
	mk.prefixlen = 64;
	mk.gen = bpf_htonl(gen);
	mk.saddr = p->key.saddr;
	mv = bpf_map_lookup_elem(&masq_rules, &mk);
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
