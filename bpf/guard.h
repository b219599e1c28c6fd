/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Who may open a flow: a forward's `from` list (allow_lists), and a
 * source's quota of flows (`set flows-per-source`, bpf/quota.h). Checked
 * when a flow is made, never on a flow's later packets: a flow made while
 * its source was admitted carries on after the list changes, as
 * netfilter's conntrack keeps an established connection. */
#ifndef XMASQ_BPF_GUARD_H
#define XMASQ_BPF_GUARD_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "stats.h"
#include "quota.h"

/* 1 when list `list` holds source saddr, else 0 with the refusal counted
 * (under the rule and drop_not_allowed). One trie lookup, whatever the
 * number of rules and prefixes. Its key lives in scratch, not on a frame
 * of the new-flow path, which has no room (bpf/ports.h). */
static __always_inline int xm_allow_admit(__u32 list, __u32 rule_id, __u32 saddr, __u32 len)
{
	__u32 zero = 0;
	struct xm_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	__u64 *refused;

	if (sc) {
		sc->allow.prefixlen = XM_ALLOW_V4_PLEN(32);
		sc->allow.list = bpf_htonl(list);
		sc->allow.addr[0] = 0;
		sc->allow.addr[1] = 0;
		sc->allow.addr[2] = bpf_htonl(0xffff);
		sc->allow.addr[3] = saddr;
		if (bpf_map_lookup_elem(&allow_lists, &sc->allow))
			return 1;
	}
	refused = bpf_map_lookup_elem(&rule_refused, &rule_id);
	if (refused)
		*refused += 1;
	xm_count(XM_C_DROP_NOT_ALLOWED, len);
	return 0;
}

/* Whether a new flow of rule rule_id from saddr may be made: its `from`
 * list (0: none) holds saddr, and saddr holds fewer flows than the quota.
 * 0 with the refusal counted. Global, called with scalars: verified once,
 * and one call on the new-flow path for both checks. */
__noinline int xm_guard_admit(__u32 list, __u32 rule_id, __u32 saddr, __u32 len)
{
	__u32 zero = 0;
	struct xm_config *cfg;

	if (list && !xm_allow_admit(list, rule_id, saddr, len))
		return 0;
	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->flows_per_source || xm_source_below(saddr, cfg->flows_per_source))
		return 1;
	xm_count(XM_C_DROP_SOURCE_QUOTA, len);
	return 0;
}

#endif
