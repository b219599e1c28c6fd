/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Expiry: the sweeper timer that removes idle flows and keeps the clock
 * (bpf/clock.h) flows are stamped with. */
#ifndef XMASQ_BPF_SWEEP_H
#define XMASQ_BPF_SWEEP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "ct.h"
#include "stats.h"
#include "quota.h"
#include "clock.h"
#include "nat.h"

static __always_inline __u32 xm_flow_timeout(const struct xm_config *cfg, __u8 proto, __u8 state)
{
	__u32 id = xm_timeout_id(proto, state);

	if (id >= XM_TO_MAX)
		return 30;
	return cfg->timeouts[id] ? cfg->timeouts[id] : 30;
}

/* ---- expiry: one sweeper timer, no daemon ------------------------------
 * A single bpf_timer (map "sweeper") walks the whole flow table, removes
 * flows idle (both directions) for longer than their state's timeout and
 * turns DEAD slots back into EMPTY ones (bpf/ct.h). One timer instead of
 * one per flow: no allocation per new flow (which fails under a high rate
 * of new flows on some kernels), 16 bytes less per entry, and state
 * changes need no re-arming.
 *
 * The walk goes 64 slots a callback (map "sweep_groups": a callback per
 * slot costs more than the slot's work) and a slice of the table a timer
 * run, 1 ms apart: no run holds its CPU's softirq for long (a big table in
 * one go would). When a walk is done, the next one waits 24 times as long
 * as the walk took (measured each time, so it holds on any machine), at
 * least 1 s and at most 15 s: at most about 4 % of one CPU at any table
 * size. Not more often: a walk reads the whole table through the caches.
 * After the table has refused a flow (xm_sweep_hurry), the next walk
 * starts after 250 ms. */
#define XM_SWEEP_MIN_NS	      (1000ull * 1000 * 1000)
#define XM_SWEEP_HURRY_NS     (250ull * 1000 * 1000)
#define XM_SWEEP_MAX_NS	      (15ull * 1000 * 1000 * 1000)
#define XM_SWEEP_SLICE_GAP_NS (1000ull * 1000)
#define XM_SWEEP_SLICE_MIN    2048  /* groups a run, at least; or 1/16 of the table */
#define XM_SWEEP_MAX_EXPIRE   16384 /* flows removed per run at most */

/* The wait after a walk, in walk lengths (a test stretches it). */
const volatile __u32 xm_sweep_idle_factor = 24;
/* Groups a run, if not 0 (a test walks a small table in several runs). */
const volatile __u32 xm_sweep_slice = 0;

static __always_inline int xm_sweep_no_inbound_refresh(void)
{
	__u32 zero = 0;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);

	return cfg && (cfg->flags & XM_CFG_NAT_NO_INBOUND_REFRESH);
}

/* Removes the flow of the idle entry in slot idx, both entries, unless its
 * other direction is busy. 1 if a flow went. A reply entry is judged with
 * its ORIG entry, and only goes alone when that one is gone (an insert
 * that lost a race). Global: verified once. */
__noinline int xm_sweep_expire(__u32 idx, __u32 now, __u32 timeout)
{
	struct xm_ct_slot *s = bpf_map_lookup_elem(&flows, &idx), *ps;
	struct xm_flow_key pk;
	__u32 last, pidx;
	__u64 w1;

	if (!s)
		return 0;
	w1 = XM_CT_W1(s);
	if (s->key.ct_state != XM_CT_LIVE)
		return 0;
	xm_flow_partner_key(&s->flow, s->key.proto, &pk);
	ps = xm_ct_find(&pk, &pidx);
	if (s->flow.flags & XM_FLOW_REPLY) {
		/* a 6->4 flow's stub has no partner here: it goes with its
		 * flow, by the IPv6 sweeper (v6_sweep.h) */
		if (!ps && s->flow.out_slot != XM_SLOT_IPV6_FLOW)
			xm_ct_remove(s, w1);
		return 0;
	}
	/* `set nat-inbound-refresh no`: a masqueraded host's UDP flow lives
	 * by what it sends (RFC 4787 REQ-6), not by what comes in. */
	if (ps &&
	    !(s->key.proto == IPPROTO_UDP &&
	      (s->flow.flags & (XM_FLOW_NAT_MAPPED | XM_FLOW_KEEP_SOURCE)) == XM_FLOW_NAT_MAPPED &&
	      xm_sweep_no_inbound_refresh())) {
		last = ps->flow.last_seen_s;
		if (last >= now || now - last < timeout)
			return 0;
	}
	if ((s->flow.flags & (XM_FLOW_NAT_MAPPED | XM_FLOW_KEEP_SOURCE)) == XM_FLOW_NAT_MAPPED)
		xm_nat_unref(XM_NAT_HOST(s->key.saddr, s->key.sport, s->key.proto),
			     s->flow.new_saddr | (__u64)s->flow.new_sport << 32);
	if (ps)
		xm_ct_remove(ps, xm_ct_state_word(xm_key_w1(&pk), XM_CT_LIVE));
	pk.saddr = s->key.saddr; /* the source, before the slot may be reused */
	if (xm_ct_remove(s, w1))
		return 0;
	xm_source_add(pk.saddr, -1);
	return 1;
}

/* XM_SWEEP_GROUP slots from `base`: expires idle flows, counts live
 * entries, cleans DEAD slots up. prev_dead: the slot before `base` is
 * DEAD. Returns XM_SWEEP_PREV_DEAD if the group's last slot is DEAD, and
 * XM_SWEEP_CAPPED when the run reached XM_SWEEP_MAX_EXPIRE. Global:
 * verified once, whatever calls it. */
#define XM_SWEEP_PREV_DEAD 1
#define XM_SWEEP_CAPPED	   2
__noinline int xm_sweep_slots(__u32 base, __u32 prev_dead)
{
	__u64 dead = xm_ct_state_word(0, XM_CT_DEAD), w1;
	__u32 last_slot = xm_ct_homes + XM_CT_PROBES - 2, idx, last, timeout, zero = 0;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct xm_sweep *sw = bpf_map_lookup_elem(&sweeper, &zero);
	struct xm_ct_slot *s;

	if (!cfg || !sw)
		return 0;
	for (__u32 i = 0; i < XM_SWEEP_GROUP; i++) {
		idx = base + i;
		if (idx > last_slot)
			break;
		s = bpf_map_lookup_elem(&flows, &idx);
		if (!s)
			break;
		w1 = XM_CT_W1(s);
		if (w1 == 0) {
			if (prev_dead)
				xm_ct_clean_before(idx);
			prev_dead = 0;
			continue;
		}
		if (w1 == dead) {
			prev_dead = 1;
			/* The last slot: no chain goes past it, so it counts as
			 * followed by an EMPTY one (a table once full has no
			 * other place to start). */
			if (idx == last_slot &&
			    __sync_val_compare_and_swap(&XM_CT_W1(s), dead, 0) == dead)
				xm_ct_clean_before(idx);
			continue;
		}
		prev_dead = 0;
		if (s->key.ct_state != XM_CT_LIVE)
			continue;
		sw->seen++;
		if ((s->flow.flags & (XM_FLOW_NAT_MAPPED | XM_FLOW_REPLY)) == XM_FLOW_NAT_MAPPED)
			xm_nat_keep(idx, sw->now);
		/* A packet on another CPU may have stamped the flow after this
		 * walk read the clock: such a flow is busy, not idle for ~2^32 s. */
		timeout = xm_flow_timeout(cfg, s->key.proto, s->flow.state);
		last = s->flow.last_seen_s;
		if (last >= sw->now || sw->now - last < timeout)
			continue; /* busy: the other direction need not be looked at */
		if (xm_sweep_expire(idx, sw->now, timeout)) {
			sw->expired++;
			/* Bounded work per run: a mass expiry is spread over runs. */
			if ((__u32)sw->expired - sw->expired_at_start >= XM_SWEEP_MAX_EXPIRE)
				return XM_SWEEP_CAPPED;
		}
	}
	return prev_dead ? XM_SWEEP_PREV_DEAD : 0;
}

struct xm_sweep_ctx {
	__u32 first, end; /* this run's groups */
	__u32 next;	  /* the group to go on from */
	__u32 prev_dead;  /* the slot before the next group is DEAD */
	__u32 capped;	  /* stopped at XM_SWEEP_MAX_EXPIRE */
};

static long xm_sweep_group(void *map, __u32 *g, __u32 *val, struct xm_sweep_ctx *c)
{
	int rc;

	(void)map;
	(void)val;
	if (*g < c->first)
		return 0;
	if (*g >= c->end)
		return 1;
	rc = xm_sweep_slots(*g * XM_SWEEP_GROUP, c->prev_dead);
	if (rc & XM_SWEEP_CAPPED) {
		c->capped = 1;
		c->next = *g;
		return 1;
	}
	c->prev_dead = rc & XM_SWEEP_PREV_DEAD;
	c->next = *g + 1;
	return 0;
}

static int xm_sweep(void *map, __u32 *key, struct xm_sweep *sw)
{
	__u32 zero = 0, groups, slice, before;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct xm_sweep_ctx c = {};
	__u64 expired_before = sw->expired, wait = XM_SWEEP_MIN_NS, took;
	struct xm_ct_slot *s;

	(void)map;
	(void)key;
	if (sw->epoch != xm_prog_epoch)
		return 0; /* a newer program owns the sweep now */
	sw->now = xm_now_s();
	if (sw->next_group == 0 && sw->ticks_to_walk) {
		sw->ticks_to_walk--;
		bpf_timer_start(&sw->timer, XM_CLOCK_TICK_NS, 0);
		return 0;
	}
	if (!cfg) {
		bpf_timer_start(&sw->timer, XM_SWEEP_MIN_NS, 0);
		return 0;
	}
	groups = (xm_ct_homes + XM_CT_PROBES - 1 + XM_SWEEP_GROUP - 1) / XM_SWEEP_GROUP;
	slice = xm_sweep_slice			 ? xm_sweep_slice :
		groups / 16 > XM_SWEEP_SLICE_MIN ? groups / 16 :
						   XM_SWEEP_SLICE_MIN;
	if (sw->next_group == 0 || sw->next_group >= groups) {
		sw->next_group = 0; /* a walk begins */
		sw->seen = 0;
		sw->walk_ns = 0;
	}
	c.first = sw->next_group;
	c.end = c.first + slice;
	c.next = c.end;
	if (c.first) { /* the slot before this slice, for the DEAD clean-up */
		before = c.first * XM_SWEEP_GROUP - 1;
		s = bpf_map_lookup_elem(&flows, &before);
		c.prev_dead = s && XM_CT_W1(s) == xm_ct_state_word(0, XM_CT_DEAD);
	}
	sw->expired_at_start = (__u32)sw->expired;
	took = bpf_ktime_get_ns();
	bpf_for_each_map_elem(&sweep_groups, xm_sweep_group, &c, 0);
	sw->walk_ns += (__u32)(bpf_ktime_get_ns() - took);
	if (sw->expired != expired_before)
		xm_count_n(XM_C_FLOW_EXPIRED, sw->expired - expired_before, 0);
	if (c.capped || c.next < groups) {
		sw->next_group = c.next; /* the walk goes on soon */
		bpf_timer_start(&sw->timer, XM_SWEEP_SLICE_GAP_NS, 0);
		return 0;
	}
	/* The walk is done. */
	sw->next_group = 0;
	sw->runs++;
	sw->last_walk_ns = sw->walk_ns;
	took = sw->walk_ns;
	if (sw->refused) {
		sw->refused = 0; /* the table refused flows: whatever expires is wanted back soon */
		wait = XM_SWEEP_HURRY_NS;
	} else if (took * xm_sweep_idle_factor > wait)
		wait = took * xm_sweep_idle_factor < XM_SWEEP_MAX_NS ? took * xm_sweep_idle_factor :
								       XM_SWEEP_MAX_NS;
	/* The clock needs a tick every second: a longer wait is counted down
	 * in ticks. */
	if (wait > XM_CLOCK_TICK_NS) {
		sw->ticks_to_walk = wait / XM_CLOCK_TICK_NS - 1;
		wait = XM_CLOCK_TICK_NS;
	}
	bpf_timer_start(&sw->timer, wait, 0);
	return 0;
}

/* A new flow was refused for a full table: the next walk follows the
 * current one at the shortest interval. */
static __always_inline void xm_sweep_hurry(void)
{
	__u32 zero = 0;
	struct xm_sweep *sw = bpf_map_lookup_elem(&sweeper, &zero);

	if (sw)
		sw->refused = 1;
}

/* Arms the sweeper if this program does not run it yet. Called when a flow
 * is created, so it costs nothing per packet; a failure is retried by the
 * next new flow. */
static __noinline void xm_sweep_ensure(void)
{
	__u32 zero = 0;
	struct xm_sweep *sw = bpf_map_lookup_elem(&sweeper, &zero);

	if (!sw || sw->epoch == xm_prog_epoch)
		return;
	bpf_timer_init(&sw->timer, &sweeper, 1 /* CLOCK_MONOTONIC */); /* -EBUSY: inited */
	if (bpf_timer_set_callback(&sw->timer, xm_sweep) == 0 &&
	    bpf_timer_start(&sw->timer, XM_SWEEP_HURRY_NS, 0) == 0)
		sw->epoch = xm_prog_epoch;
}

#endif
