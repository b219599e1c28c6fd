/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Expiry of IPv6 flows: a timer of its own (map "sweeper6"), armed by
 * xmasq_tc6's first new flow, walks "flows6" (bpf/ct6.h) every
 * XM_SWEEP6_EVERY_S, removes flows idle (both directions) past their
 * state's timeout, and turns DEAD runs followed by an EMPTY slot back
 * into EMPTY ones, as the IPv4 sweeper does. A walk visits every slot:
 * XM_CT_SLOTS(XM_CT6_MAX) at most. */
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
#include "ct6.h"

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
	__u32 prev_dead; /* the slot before this one was DEAD */
};

static long xm6_sweep_entry(void *map, __u32 *idx, struct xm_ct6_slot *s, struct xm6_walk *w)
{
	__u64 sw = XM_CT6_STATE(s), live = xm_ct6_state_word(sw, XM_CT_LIVE);
	struct xm_flow6 *f = &s->flow, *pf;
	struct xm_flow6_key key, pk;
	__u32 last, timeout;
	int prev_dead = w->prev_dead;

	(void)map;
	w->prev_dead = sw == xm_ct6_state_word(0, XM_CT_DEAD);
	if (sw == 0 && prev_dead) {
		xm_ct6_clean_before(*idx);
		return 0;
	}
	if (sw != live)
		return 0;
	__builtin_memcpy(&key, &s->key, sizeof(key));
	key.ct_state = 0;
	last = f->last_seen_s;
	xm_flow6_partner_key(f, key.proto, &pk);
	pf = xm_ct6_find(&pk);
	if (f->flags & XM_FLOW_REPLY) {
		if (!pf && xm_ct6_remove(s, live) == 0) {
			/* an insert that lost a race, or half a removal */
			if (f->flags & XM_FLOW6_TO_V4)
				xm64_stub_remove(&key);
			w->prev_dead = 1;
		}
		return 0;
	}
	if (pf && pf->last_seen_s > last)
		last = pf->last_seen_s;
	timeout = xm_flow_timeout(w->cfg, key.proto, f->state);
	if (last >= w->now || w->now - last < timeout)
		return 0;
	if (f->flags & XM_FLOW6_TO_V4)
		xm64_stub_remove(&pk);
	if (pf)
		xm_ct6_delete(&pk);
	if (xm_ct6_remove(s, live))
		return 0; /* removed meanwhile: whoever did took its count */
	xm_source_add(xm_source6_id(key.saddr), -1);
	w->prev_dead = 1;
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
