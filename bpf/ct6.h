/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The IPv6 flow table: bpf/ct.h's scheme (open addressing, linear
 * probing, the same slot states and lock-free steps; read its top) over
 * the array map "flows6", whose keys are five 8-byte words, the last
 * holding the slot's state. Keys are passed by pointer: five words do not
 * fit a BPF call's registers. */
#ifndef XMASQ_BPF_CT6_H
#define XMASQ_BPF_CT6_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "ct.h"

/* Set by the loader from the table it loads against. */
const volatile __u32 xm_ct6_homes = XM_CT_SLOTS(XM_CT6_DEFAULT_MAX) - (XM_CT_PROBES - 1);

#define XM_CT6_W(s, i)	(((__u64 *)&(s)->key)[i])
#define XM_CT6_STATE(s) (((volatile __u64 *)&(s)->key)[XM_CT6_WORDS - 1])

static __always_inline __u64 xm_key6_w(const struct xm_flow6_key *k, int i)
{
	return ((const __u64 *)k)[i];
}

static __always_inline __u32 xm_ct6_home_of(const struct xm_flow6_key *k)
{
	return xm_ct6_home((const __u64 *)k, xm_ct_seed, xm_ct6_homes);
}

/* Whether slot s holds key k's address words (the state word apart). */
static __always_inline int xm_ct6_addrs_equal(struct xm_ct6_slot *s, const struct xm_flow6_key *k)
{
	return XM_CT6_W(s, 0) == xm_key6_w(k, 0) && XM_CT6_W(s, 1) == xm_key6_w(k, 1) &&
	       XM_CT6_W(s, 2) == xm_key6_w(k, 2) && XM_CT6_W(s, 3) == xm_key6_w(k, 3);
}

/* The live slot of key k from probe `from` of its chain on: its index,
 * or -1. */
static __always_inline int xm_ct6_probe(const struct xm_flow6_key *k, __u32 home, __u32 from)
{
	__u64 live = xm_ct6_state_word(xm_key6_w(k, 4), XM_CT_LIVE), sw;
	struct xm_ct6_slot *s;
	__u32 idx;

	for (__u32 i = from; i < XM_CT_PROBES; i++) {
		idx = home + i;
		s = bpf_map_lookup_elem(&flows6, &idx);
		if (!s)
			return -1;
		sw = XM_CT6_STATE(s);
		if (sw == live && xm_ct6_addrs_equal(s, k))
			return (int)idx;
		if (sw == 0)
			return -1; /* EMPTY: the chain ends here */
	}
	return -1;
}

/* xm_ct6_probe as a global function: verified once. */
__noinline int xm_ct6_find_from(const struct xm_flow6_key *k, __u32 home, __u32 from)
{
	if (!k) /* a global function's pointer may be NULL to the verifier */
		return -1;
	return xm_ct6_probe(k, home, from);
}

/* The slot holding key k, or NULL; the home slot is checked inline, the
 * rest of the chain by xm_ct6_find_from, or inline when `nocall` (a
 * global function deep in a call chain has no call level left). */
static __always_inline struct xm_ct6_slot *xm_ct6_find_slot_in(const struct xm_flow6_key *k,
							       int nocall)
{
	__u32 home = xm_ct6_home_of(k);
	struct xm_ct6_slot *s = bpf_map_lookup_elem(&flows6, &home);
	__u64 sw;
	int at;

	if (!s)
		return NULL;
	sw = XM_CT6_STATE(s);
	if (sw == xm_ct6_state_word(xm_key6_w(k, 4), XM_CT_LIVE) && xm_ct6_addrs_equal(s, k))
		return s;
	if (sw == 0)
		return NULL;
	at = nocall ? xm_ct6_probe(k, home, 1) : xm_ct6_find_from(k, home, 1);
	if (at < 0)
		return NULL;
	home = (__u32)at;
	return bpf_map_lookup_elem(&flows6, &home);
}

static __always_inline struct xm_ct6_slot *xm_ct6_find_slot(const struct xm_flow6_key *k)
{
	return xm_ct6_find_slot_in(k, 0);
}

/* The entry of key k, or NULL (what bpf_map_lookup_elem on the kernel's
 * hash map gave). */
static __always_inline struct xm_flow6 *xm_ct6_find_in(const struct xm_flow6_key *k, int nocall)
{
	struct xm_ct6_slot *s = xm_ct6_find_slot_in(k, nocall);

	if (!s)
		return NULL;
	asm volatile("" : "+r"(s)); /* the null check before the offset (ct.h) */
	return &s->flow;
}

static __always_inline struct xm_flow6 *xm_ct6_find(const struct xm_flow6_key *k)
{
	return xm_ct6_find_in(k, 0);
}

/* Claims a free slot for key k: its index, WRITING and holding the key,
 * or XM_CT_ERR_* (as xm_ct_claim). */
__noinline int xm_ct6_claim(const struct xm_flow6_key *k)
{
	__u64 dead = xm_ct6_state_word(0, XM_CT_DEAD), w4, live, sw, seen;
	__u32 home, idx, free_idx;
	struct xm_ct6_slot *s;
	int have_free;

	if (!k)
		return XM_CT_ERR_FULL;
	w4 = xm_key6_w(k, 4);
	live = xm_ct6_state_word(w4, XM_CT_LIVE);
	home = xm_ct6_home_of(k);
	for (int attempt = 0; attempt < 2; attempt++) {
		have_free = 0;
		free_idx = 0;
		seen = 0;
		for (__u32 i = 0; i < XM_CT_PROBES; i++) {
			idx = home + i;
			s = bpf_map_lookup_elem(&flows6, &idx);
			if (!s)
				break;
			sw = XM_CT6_STATE(s);
			if (sw == live && xm_ct6_addrs_equal(s, k))
				return XM_CT_ERR_EXIST;
			if (sw == 0 || sw == dead) {
				if (!have_free) {
					have_free = 1;
					free_idx = idx;
					seen = sw;
				}
				if (sw == 0)
					break;
			}
		}
		if (!have_free)
			return XM_CT_ERR_FULL;
		s = bpf_map_lookup_elem(&flows6, &free_idx);
		if (!s)
			return XM_CT_ERR_FULL;
		if (__sync_val_compare_and_swap(&XM_CT6_STATE(s), seen,
						xm_ct6_state_word(w4, XM_CT_WRITING)) == seen) {
			for (int w = 0; w < XM_CT6_WORDS - 1; w++)
				XM_CT6_W(s, w) = xm_key6_w(k, w);
			return (int)free_idx;
		}
	}
	return XM_CT_ERR_FULL;
}

/* After publishing key k at slot idx: moves it up into a slot of its
 * chain that became EMPTY meanwhile (as xm_ct_settle). Its index. */
__noinline int xm_ct6_settle(const struct xm_flow6_key *k, __u32 idx)
{
	struct xm_ct6_slot *s, *to;
	__u32 home, j;
	__u64 w4;

	if (!k)
		return (int)idx;
	w4 = xm_key6_w(k, 4);
	home = xm_ct6_home_of(k);
	for (__u32 i = 0; i < XM_CT_PROBES; i++) {
		j = home + i;
		if (j >= idx)
			return (int)idx;
		to = bpf_map_lookup_elem(&flows6, &j);
		if (!to)
			return (int)idx;
		if (XM_CT6_STATE(to) != 0)
			continue;
		if (__sync_val_compare_and_swap(&XM_CT6_STATE(to), 0,
						xm_ct6_state_word(w4, XM_CT_WRITING)) != 0)
			continue; /* taken meanwhile: no longer EMPTY either */
		s = bpf_map_lookup_elem(&flows6, &idx);
		if (!s) {
			XM_CT6_STATE(to) = xm_ct6_state_word(0, XM_CT_DEAD);
			return (int)idx;
		}
		for (int w = 0; w < XM_CT6_WORDS - 1; w++)
			XM_CT6_W(to, w) = xm_key6_w(k, w);
		to->flow = s->flow;
		__sync_lock_test_and_set(&XM_CT6_STATE(to), xm_ct6_state_word(w4, XM_CT_LIVE));
		__sync_val_compare_and_swap(&XM_CT6_STATE(s), xm_ct6_state_word(w4, XM_CT_LIVE),
					    xm_ct6_state_word(0, XM_CT_DEAD));
		return (int)j;
	}
	return (int)idx;
}

/* Inserts entry v under key k: 0, or XM_CT_ERR_EXIST (the key is live:
 * what BPF_NOEXIST refused) or XM_CT_ERR_FULL. Inline: its two calls are
 * then one level below the caller (6.1's 512 bytes over a call chain). */
static __always_inline int xm_ct6_insert(const struct xm_flow6_key *k, const struct xm_flow6 *v)
{
	struct xm_ct6_slot *s;
	__u32 idx;
	int at = xm_ct6_claim(k);

	if (at < 0)
		return at;
	idx = (__u32)at;
	s = bpf_map_lookup_elem(&flows6, &idx);
	if (!s)
		return XM_CT_ERR_FULL;
	s->flow = *v;
	__sync_lock_test_and_set(&XM_CT6_STATE(s), xm_ct6_state_word(xm_key6_w(k, 4), XM_CT_LIVE));
	xm_ct6_settle(k, idx);
	return 0;
}

/* Removes slot s's entry if its state word is still `live`: 0, or -1. */
static __always_inline int xm_ct6_remove(struct xm_ct6_slot *s, __u64 live)
{
	return __sync_val_compare_and_swap(&XM_CT6_STATE(s), live,
					   xm_ct6_state_word(0, XM_CT_DEAD)) == live ?
		       0 :
		       -1;
}

/* Removes key k's entry: 0, or -1 when it is not in the table. Its
 * search is inline: a global function with no call below it. */
__noinline int xm_ct6_delete(const struct xm_flow6_key *k)
{
	struct xm_ct6_slot *s;

	if (!k)
		return -1;
	s = xm_ct6_find_slot_in(k, 1);
	if (!s)
		return -1;
	return xm_ct6_remove(s, xm_ct6_state_word(xm_key6_w(k, 4), XM_CT_LIVE));
}

/* Sweeper: slot e is EMPTY, so the DEAD run just before it is passed by
 * no chain: those slots become EMPTY too (as xm_ct_clean_before). */
__noinline int xm_ct6_clean_before(__u32 e)
{
	__u64 dead = xm_ct6_state_word(0, XM_CT_DEAD);
	struct xm_ct6_slot *s, *next;
	__u32 j, n;

	for (__u32 i = 1; i <= XM_CT_PROBES; i++) {
		if (i > e)
			return 0;
		j = e - i;
		n = j + 1;
		s = bpf_map_lookup_elem(&flows6, &j);
		next = bpf_map_lookup_elem(&flows6, &n);
		if (!s || !next || XM_CT6_STATE(s) != dead)
			return 0;
		if (__sync_val_compare_and_swap(&XM_CT6_STATE(s), dead, 0) != dead)
			return 0;
		if (XM_CT6_STATE(next) != 0) {
			__sync_val_compare_and_swap(&XM_CT6_STATE(s), 0, dead);
			return 0;
		}
	}
	return 0;
}

#endif
