/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flows per source (`set flows-per-source`): the counts in source_flows,
 * a count-min sketch (layout and bounds in xmasq_abi.h). */
#ifndef XMASQ_BPF_QUOTA_H
#define XMASQ_BPF_QUOTA_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "ct.h"

/* Adds d (1: a flow made, -1: a flow removed) to source saddr's buckets. */
static __always_inline void xm_source_add_inline(__u32 saddr, __s32 d)
{
	for (__u32 row = 0; row < XM_SOURCE_ROWS; row++) {
		__u32 slot = xm_source_slot(saddr, xm_ct_seed, row);
		__s64 *c = bpf_map_lookup_elem(&source_flows, &slot);

		if (c)
			__sync_fetch_and_add(c, d);
	}
}

/* The same as a global function, for the paths with call levels to spare.
 * xm_ct_remove_flow (bpf/ports.h), at the end of the deepest chain, takes
 * the inline one: 6.1 rounds every frame up to 32 bytes, and one more
 * level there is 544 of its 512. */
__noinline int xm_source_add(__u32 saddr, __s32 d)
{
	xm_source_add_inline(saddr, d);
	return 0;
}

/* Whether source saddr holds fewer than quota flows: its smallest bucket
 * is below it. */
static __always_inline int xm_source_below(__u32 saddr, __u32 quota)
{
	for (__u32 row = 0; row < XM_SOURCE_ROWS; row++) {
		__u32 slot = xm_source_slot(saddr, xm_ct_seed, row);
		__s64 *c = bpf_map_lookup_elem(&source_flows, &slot);

		if (!c || *c < (__s64)quota)
			return 1;
	}
	return 0;
}

#endif
