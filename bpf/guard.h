/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Who may open a flow: a forward's `from` list (allow_lists). Checked
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

/* 1 when list `list` holds source saddr, else 0 with the refusal counted
 * (under the rule and drop_not_allowed). One trie lookup, whatever the
 * number of rules and prefixes. Global, called with scalars: verified
 * once, and its key lives in scratch, not on a frame of the new-flow
 * path, which has no room (bpf/ports.h). */
__noinline int xm_allow_admit(__u32 list, __u32 rule_id, __u32 saddr, __u32 len)
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

#endif
