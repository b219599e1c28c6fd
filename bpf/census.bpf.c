// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The flow census (xmasq_abi.h): the kernel walks the flow table for a
 * reader and copies out the entries it looks at, so that the reader
 * need not map the whole table. An object of its own, loaded after the
 * data plane's on its maps (loader/lib/census.c): a kernel that refuses
 * it costs readers the mapped walk, never the data plane. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "ct_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct xm_census_walk {
	__u32 entries; /* written, at 1 on */
	__u32 full;
};

/* XM_SWEEP_GROUP slots from `base`: a live ORIG entry, or a 6->4 flow's
 * stub (a REPLY entry whose slots are XM_SLOT_IPV6_FLOW), is copied to
 * census entry 1 + entries, the next. The copy is checked, not the slot:
 * a slot that changes meanwhile is taken as it was copied. Returns the
 * entries written now, or -1 when the census is full. Global: verified
 * once, with `entries` any number (inline, each path's count is a state
 * of its own). */
__noinline int xm_census_slots(__u32 base, __u32 entries)
{
	struct xm_ct_slot *s, *out;
	__u32 idx, at;

	for (__u32 i = 0; i < XM_SWEEP_GROUP; i++) {
		idx = base + i;
		s = bpf_map_lookup_elem(&flows, &idx);
		if (!s)
			break; /* past the table's end */
		if (s->key.ct_state != XM_CT_LIVE)
			continue;
		at = 1 + entries;
		out = bpf_map_lookup_elem(&census, &at);
		if (!out)
			return -1;
		__builtin_memcpy(out, s, sizeof(*out));
		if (out->key.ct_state != XM_CT_LIVE)
			continue;
		if ((out->flow.flags & XM_FLOW_REPLY) &&
		    !(out->flow.out_slot == XM_SLOT_IPV6_FLOW &&
		      out->flow.in_slot == XM_SLOT_IPV6_FLOW))
			continue;
		entries++;
	}
	return (int)entries;
}

static long xm_census_group(void *map, __u32 *g, __u32 *val, struct xm_census_walk *w)
{
	int n;

	(void)map;
	(void)val;
	n = xm_census_slots(*g * XM_SWEEP_GROUP, w->entries);
	if (n < 0) {
		w->full = 1;
		return 1;
	}
	w->entries = (__u32)n;
	return 0;
}

SEC("syscall")
int xmasq_census(struct xm_census_run *run)
{
	__u32 zero = 0, now = (__u32)(bpf_ktime_get_ns() / 1000000000ull), held, token = run->token;
	struct xm_census_head *head = bpf_map_lookup_elem(&census, &zero);
	struct xm_census_walk w = {};

	if (!head || !token)
		return 1;
	held = head->owner;
	if (held && held != token && now - head->since_s < XM_CENSUS_HOLD_S) {
		run->result = XM_CENSUS_BUSY;
		return 0;
	}
	if (__sync_val_compare_and_swap(&head->owner, held, token) != held) {
		run->result = XM_CENSUS_BUSY;
		return 0;
	}
	head->since_s = now;
	bpf_for_each_map_elem(&sweep_groups, xm_census_group, &w, 0);
	run->entries = w.entries;
	run->result = w.full ? XM_CENSUS_FULL : 0;
	if (w.full) /* nothing for the reader to read: free again */
		__sync_val_compare_and_swap(&head->owner, token, 0);
	return 0;
}
