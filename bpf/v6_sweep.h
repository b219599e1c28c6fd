/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Expiry of IPv6 flows: a timer of its own (map "sweeper6"), armed by
 * xmasq_tc6's first new flow, walks "flows6" every XM_SWEEP6_EVERY_S and
 * removes flows idle (both directions) past their state's timeout. The
 * table is the kernel's hash map, at most 2 * XM_CT6_MAX entries: a walk
 * is bounded by that. */
#ifndef XMASQ_BPF_V6_SWEEP_H
#define XMASQ_BPF_V6_SWEEP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "clock.h"
#include "stats.h"
#include "quota.h"
#include "sweep.h"
#include "ports.h"

/* A 6->4 flow's stub in the IPv4 table (xmasq_abi.h, XM_RULE_TO_V4)
 * goes with the flow: found by the flow's reply key, whose addresses are
 * the IPv4 ones, mapped. xm_ct_remove_flow finds no partner for a stub
 * (its rewrite fields are zero) and counts no source (a reply entry). */
static __always_inline void xm64_stub_remove(const struct xm_flow6_key *reply)
{
	struct xm_flow_key k = {
		.saddr = reply->saddr[3],
		.daddr = reply->daddr[3],
		.sport = reply->sport,
		.dport = reply->dport,
		.proto = reply->proto,
	};

	xm_ct_remove_flow(xm_key_w0(&k), xm_key_w1(&k), 1);
}

struct xm6_walk {
	struct xm_config *cfg;
	__u32 now;
	__u32 expired;
};

static long xm6_sweep_entry(void *map, struct xm_flow6_key *key, struct xm_flow6 *f,
			    struct xm6_walk *w)
{
	struct xm_flow6_key pk;
	struct xm_flow6 *pf;
	__u32 last = f->last_seen_s, timeout;

	(void)map;
	xm_flow6_partner_key(f, key->proto, &pk);
	pf = bpf_map_lookup_elem(&flows6, &pk);
	if (f->flags & XM_FLOW_REPLY) {
		if (!pf) { /* an insert that lost a race, or half a removal */
			if (f->flags & XM_FLOW6_TO_V4)
				xm64_stub_remove(key);
			bpf_map_delete_elem(&flows6, key);
		}
		return 0;
	}
	if (pf && pf->last_seen_s > last)
		last = pf->last_seen_s;
	timeout = xm_flow_timeout(w->cfg, key->proto, f->state);
	if (last >= w->now || w->now - last < timeout)
		return 0;
	xm_source_add(xm_source6_id(key->saddr), -1);
	if (f->flags & XM_FLOW6_TO_V4)
		xm64_stub_remove(&pk);
	if (pf)
		bpf_map_delete_elem(&flows6, &pk);
	bpf_map_delete_elem(&flows6, key);
	w->expired++;
	return 0;
}

static int xm6_sweep_tick(void *map, int *key, struct xm_sweep6 *sw)
{
	__u32 zero = 0;
	struct xm6_walk w = { .now = xm_clock_s() };

	(void)map;
	(void)key;
	if (sw->epoch != xm_prog_epoch + 1)
		return 0; /* a newer program armed it again: its callback goes on */
	w.cfg = bpf_map_lookup_elem(&config, &zero);
	if (!w.cfg)
		return 0;
	bpf_for_each_map_elem(&flows6, xm6_sweep_entry, &w, 0);
	sw->runs++;
	sw->expired += w.expired;
	if (w.expired)
		xm_count_n(XM_C_FLOW_EXPIRED, w.expired, 0);
	bpf_timer_start(&sw->timer, XM_SWEEP6_EVERY_S * XM_CLOCK_TICK_NS, 0);
	return 0;
}

/* Arms the timer once per program generation (epoch + 1: 0 is never). */
static __always_inline void xm6_sweep_ensure(void)
{
	__u32 zero = 0;
	struct xm_sweep6 *sw = bpf_map_lookup_elem(&sweeper6, &zero);

	if (!sw || sw->epoch == xm_prog_epoch + 1)
		return;
	sw->epoch = xm_prog_epoch + 1;
	bpf_timer_init(&sw->timer, &sweeper6, 1 /* CLOCK_MONOTONIC */); /* -EBUSY: armed before */
	bpf_timer_set_callback(&sw->timer, xm6_sweep_tick);
	bpf_timer_start(&sw->timer, XM_SWEEP6_EVERY_S * XM_CLOCK_TICK_NS, 0);
}

#endif
