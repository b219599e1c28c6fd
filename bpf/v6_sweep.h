/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Expiry of IPv6 flows: a timer of its own (map "sweeper6"), armed by
 * the first new IPv6 flow, walks "flows6" (bpf/ct6.h) as the IPv4
 * sweeper walks "flows" (bpf/sweep.h, read its top): XM_SWEEP_GROUP
 * slots a callback (map "sweep6_groups"), a slice of the table a timer
 * run 1 ms apart, at most XM_SWEEP_MAX_EXPIRE flows removed a run. It
 * removes flows idle (both directions) past their state's timeout and
 * turns DEAD runs followed by an EMPTY slot back into EMPTY ones. A walk
 * starts XM_SWEEP6_EVERY_S after the last one started, or
 * xm_sweep_idle_factor walk lengths after it ended when that is later
 * (a big table). Until 2026-12-02 a walk was one callback per slot, the
 * whole table in one timer run: a softirq held for as long as the table
 * is big, which `set conntrack6-max` made unbounded. */
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
#include "v6_nat.h"

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

/* Groups a run, if not 0 (a test walks a small table in several runs). */
const volatile __u32 xm_sweep6_slice = 0;

/* Removes the flow of the idle entry in slot idx, both entries, unless
 * its other direction is busy: 1 if a flow went. A reply entry goes alone
 * only when its original is gone (an insert that lost a race). A 6->4
 * flow's IPv4 stub goes with it. Global: verified once. */
__noinline int xm6_sweep_expire(__u32 idx, __u32 now, __u32 timeout)
{
	struct xm_ct6_slot *s = bpf_map_lookup_elem(&flows6, &idx), *ps;
	struct xm_flow6_key key, pk;
	__u32 last;
	__u64 sw;
	__u8 flags;

	if (!s)
		return 0;
	sw = XM_CT6_STATE(s);
	if (sw != xm_ct6_state_word(sw, XM_CT_LIVE))
		return 0;
	__builtin_memcpy(&key, &s->key, sizeof(key));
	key.ct_state = 0;
	flags = s->flow.flags;
	last = s->flow.last_seen_s;
	xm_flow6_partner_key(&s->flow, key.proto, &pk);
	ps = xm_ct6_find_slot(&pk);
	if (flags & XM_FLOW_REPLY) {
		if (!ps && xm_ct6_remove(s, sw) == 0 && (flags & XM_FLOW6_TO_V4))
			xm64_stub_remove(&key);
		return 0;
	}
	/* `set nat-inbound-refresh no`: a masqueraded host's UDP flow lives
	 * by what it sends (RFC 4787 REQ-6), not by what comes in */
	if (ps && ps->flow.last_seen_s > last &&
	    !(key.proto == IPPROTO_UDP && xm_sweep_no_inbound_refresh() &&
	      xm6_nat_mapped(&key, &s->flow)))
		last = ps->flow.last_seen_s;
	if (last >= now || now - last < timeout)
		return 0;
	if (flags & XM_FLOW6_TO_V4)
		xm64_stub_remove(&pk);
	else
		xm6_nat_unref(&key, &s->flow);
	if (ps)
		xm_ct6_remove(ps, xm_ct6_state_word(xm_key6_w(&pk, XM_CT6_WORDS - 1), XM_CT_LIVE));
	if (xm_ct6_remove(s, sw))
		return 0; /* removed meanwhile: whoever did took its count */
	xm_source_add(xm_source6_id(key.saddr), -1);
	return 1;
}

/* XM_SWEEP_GROUP slots of flows6 from `base`, as xm_sweep_slots does for
 * flows: XM_SWEEP_PREV_DEAD, XM_SWEEP_CAPPED. Global: verified once. */
__noinline int xm6_sweep_slots(__u32 base, __u32 prev_dead)
{
	__u64 dead = xm_ct6_state_word(0, XM_CT_DEAD), sw;
	__u32 last_slot = xm_ct6_homes + XM_CT_PROBES - 2, idx, last, timeout, zero = 0;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct xm_sweep6 *w = bpf_map_lookup_elem(&sweeper6, &zero);
	struct xm_ct6_slot *s;

	if (!cfg || !w)
		return 0;
	for (__u32 i = 0; i < XM_SWEEP_GROUP; i++) {
		idx = base + i;
		if (idx > last_slot)
			break;
		s = bpf_map_lookup_elem(&flows6, &idx);
		if (!s)
			break;
		sw = XM_CT6_STATE(s);
		if (sw == 0) {
			if (prev_dead)
				xm_ct6_clean_before(idx);
			prev_dead = 0;
			continue;
		}
		if (sw == dead) {
			prev_dead = 1;
			/* the last slot: no chain goes past it (bpf/sweep.h) */
			if (idx == last_slot &&
			    __sync_val_compare_and_swap(&XM_CT6_STATE(s), dead, 0) == dead)
				xm_ct6_clean_before(idx);
			continue;
		}
		prev_dead = 0;
		if (sw != xm_ct6_state_word(sw, XM_CT_LIVE))
			continue;
		if (!(s->flow.flags & (XM_FLOW_REPLY | XM_FLOW6_TO_V4)) &&
		    !xm6_flow_unmapped(&s->flow))
			xm6_nat_keep(idx, w->now);
		/* a stamp after this run read the clock: busy, not idle */
		timeout = xm_flow_timeout(cfg, s->key.proto, s->flow.state);
		last = s->flow.last_seen_s;
		if (last >= w->now || w->now - last < timeout)
			continue;
		if (xm6_sweep_expire(idx, w->now, timeout)) {
			w->expired++;
			if ((__u32)w->expired - w->expired_at_start >= XM_SWEEP_MAX_EXPIRE)
				return XM_SWEEP_CAPPED;
		}
	}
	return prev_dead ? XM_SWEEP_PREV_DEAD : 0;
}

/* A group's callback: IPv4's (bpf/sweep.h, struct xm_sweep_ctx) over
 * flows6's slots. */
static long xm6_sweep_group(void *map, __u32 *g, __u32 *val, struct xm_sweep_ctx *c)
{
	int rc;

	(void)map;
	(void)val;
	if (*g < c->first)
		return 0;
	if (*g >= c->end)
		return 1;
	rc = xm6_sweep_slots(*g * XM_SWEEP_GROUP, c->prev_dead);
	if (rc & XM_SWEEP_CAPPED) {
		c->capped = 1;
		c->next = *g;
		return 1;
	}
	c->prev_dead = rc & XM_SWEEP_PREV_DEAD;
	c->next = *g + 1;
	return 0;
}

static int xm6_sweep_tick(void *map, int *key, struct xm_sweep6 *sw)
{
	__u32 groups = (xm_ct6_homes + XM_CT_PROBES - 1 + XM_SWEEP_GROUP - 1) / XM_SWEEP_GROUP;
	__u64 expired_before = sw->expired, took, wait = XM_SWEEP6_EVERY_S * XM_CLOCK_TICK_NS;
	struct xm_sweep_ctx c = {};
	struct xm_ct6_slot *s;
	__u32 slice, before;

	(void)map;
	(void)key;
	if (sw->epoch != xm_prog_epoch + 1)
		return 0; /* a newer program armed it again: its callback goes on */
	slice = xm_sweep6_slice			 ? xm_sweep6_slice :
		groups / 16 > XM_SWEEP_SLICE_MIN ? groups / 16 :
						   XM_SWEEP_SLICE_MIN;
	if (sw->next_group == 0 || sw->next_group >= groups) {
		sw->next_group = 0; /* a walk begins */
		sw->walk_ns = 0;
	}
	sw->now = xm_clock_s();
	sw->slices++;
	c.first = sw->next_group;
	c.end = c.first + slice;
	c.next = c.end;
	if (c.first) { /* the slot before this slice, for the DEAD clean-up */
		before = c.first * XM_SWEEP_GROUP - 1;
		s = bpf_map_lookup_elem(&flows6, &before);
		c.prev_dead = s && XM_CT6_STATE(s) == xm_ct6_state_word(0, XM_CT_DEAD);
	}
	sw->expired_at_start = (__u32)sw->expired;
	took = bpf_ktime_get_ns();
	bpf_for_each_map_elem(&sweep6_groups, xm6_sweep_group, &c, 0);
	sw->walk_ns += (__u32)(bpf_ktime_get_ns() - took);
	if (sw->expired != expired_before)
		xm_count_n(XM_C_FLOW_EXPIRED, sw->expired - expired_before, 0);
	if (c.capped || c.next < groups) {
		sw->next_group = c.next; /* the walk goes on soon */
		bpf_timer_start(&sw->timer, XM_SWEEP_SLICE_GAP_NS, 0);
		return 0;
	}
	sw->next_group = 0; /* the walk is done */
	sw->runs++;
	sw->last_walk_ns = sw->walk_ns;
	took = (__u64)sw->walk_ns * xm_sweep_idle_factor;
	if (took > wait)
		wait = took < XM_SWEEP_MAX_NS ? took : XM_SWEEP_MAX_NS;
	bpf_timer_start(&sw->timer, wait, 0);
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
