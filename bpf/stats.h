/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Counting: the global counters (ids in xmasq_abi.h), and per flow, per
 * interface and per rule packets and bytes. */
#ifndef XMASQ_BPF_STATS_H
#define XMASQ_BPF_STATS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "maps.h"

static __always_inline void xm_count_n(__u32 id, __u64 n, __u64 bytes)
{
	struct xm_counter *c = bpf_map_lookup_elem(&counters, &id);

	if (c) {
		c->packets += n;
		c->bytes += bytes;
	}
}

static __always_inline void xm_count(__u32 id, __u64 bytes)
{
	xm_count_n(id, 1, bytes);
}

static __always_inline void xm_account(struct xm_flow *f, __u64 len, int by_xdp)
{
	__u32 slot = f->out_slot, id = f->rule_id;
	struct xm_iface_stats *is;
	struct xm_rule_stats *rs;
	int dir = (f->flags & XM_FLOW_REPLY) ? XM_DIR_REPLY : XM_DIR_ORIG;

	f->packets++;
	f->bytes += len;
	is = bpf_map_lookup_elem(&iface_stats, &slot);
	if (is) {
		is->tx_packets++;
		is->tx_bytes += len;
		if (by_xdp)
			is->tx_xdp++;
		else
			is->tx_tc++;
	}
	slot = f->in_slot;
	is = bpf_map_lookup_elem(&iface_stats, &slot);
	if (is) {
		is->rx_packets++;
		is->rx_bytes += len;
	}
	rs = bpf_map_lookup_elem(&rule_stats, &id);
	if (rs) {
		rs->packets[dir & 1]++;
		rs->bytes[dir & 1] += len;
	}
}

#endif
