/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Counting: the global counters (ids in xmasq_abi.h), per flow, per
 * interface and per rule packets and bytes, and the peers that ran out
 * of masquerade ports. */
#ifndef XMASQ_BPF_STATS_H
#define XMASQ_BPF_STATS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <linux/in.h>
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

/* A translated packet's share of its interfaces' and its rule's counts
 * (both families): out of out_slot, into in_slot, direction dir. */
static __always_inline void xm_account_paths(__u32 out_slot, __u32 in_slot, __u32 id, int dir,
					     __u64 len, int by_xdp)
{
	__u32 slot = out_slot;
	struct xm_iface_stats *is;
	struct xm_rule_stats *rs;

	is = bpf_map_lookup_elem(&iface_stats, &slot);
	if (is) {
		is->tx_packets++;
		is->tx_bytes += len;
		if (by_xdp)
			is->tx_xdp++;
		else
			is->tx_tc++;
	}
	slot = in_slot;
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

static __always_inline void xm_account(struct xm_flow *f, __u64 len, int by_xdp)
{
	int dir = (f->flags & XM_FLOW_REPLY) ? XM_DIR_REPLY : XM_DIR_ORIG;
	__u32 b = f->bytes_lo + (__u32)len;

	f->packets += !(f->bytes_hi & XM_FLOW_HI_TS_SHIFT); /* else the delta */
	if (b < f->bytes_lo) /* the top bit is no count (XM_FLOW_HI_TS_SHIFT) */
		f->bytes_hi = (f->bytes_hi & ~XM_FLOW_BYTES_HI_MASK) |
			      ((f->bytes_hi + 1) & XM_FLOW_BYTES_HI_MASK);
	f->bytes_lo = b;
	xm_account_paths(f->out_slot, f->in_slot, f->rule_id, dir, len, by_xdp);
}

/* Records in port_exhausted that a new flow with reply key (w0, w1) got
 * no port: drop_no_port alone does not say which backend ran out. Rare
 * (the flow is dropped anyway), so a map update is fine; global: adds no
 * paths to the packet's. The clock is the one conntrack list reads. */
__noinline int xm_count_port_exhausted(__u64 w0, __u64 w1)
{
	union xm_ct_words u = { .w = { w0, w1 } };
	struct xm_port_peer k = {
		.peer = u.key.saddr,
		.addr = u.key.daddr,
		.peer_port = u.key.proto == IPPROTO_ICMP ? 0 : u.key.sport,
		.proto = u.key.proto,
	};
	struct xm_port_exhausted first = { .drops = 1 }, *v;
	__u32 now = (__u32)(bpf_ktime_get_coarse_ns() / 1000000000ull);

	v = bpf_map_lookup_elem(&port_exhausted, &k);
	if (!v) {
		first.last_s = now;
		if (!bpf_map_update_elem(&port_exhausted, &k, &first, BPF_NOEXIST))
			return 0;
		v = bpf_map_lookup_elem(&port_exhausted, &k); /* another CPU's */
		if (!v)
			return -1;
	}
	__sync_fetch_and_add(&v->drops, 1);
	v->last_s = now;
	return 0;
}

#endif
