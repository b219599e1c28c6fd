/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The flow table: open addressing with linear probing over the array map
 * "flows" (layout in xmasq_abi.h). Lock-free:
 *  - an insert claims a free slot by compare-and-swap of its key's second
 *    word (EMPTY/DEAD -> WRITING), fills it in, and publishes it with an
 *    exchange (-> LIVE, a full barrier, so readers that see LIVE see the
 *    rest on every architecture);
 *  - a removal is a compare-and-swap LIVE -> DEAD; DEAD slots keep probe
 *    chains intact and are reused by inserts;
 *  - the sweeper turns DEAD slots back into EMPTY when an EMPTY one follows
 *    them (then no chain passes through), re-checking that follower so an
 *    insert that claimed it meanwhile is never cut off; an insert in turn
 *    re-checks its chain after publishing and moves up if a slot before it
 *    became EMPTY (xm_ct_settle).
 * Unlike the kernel's hash map, nothing serializes two CPUs inserting the
 * same key at the same moment (the first packets of one flow on two CPUs):
 * both may succeed. Lookups then find the first entry; the other pair
 * gets no packets and expires. */
#ifndef XMASQ_BPF_CT_H
#define XMASQ_BPF_CT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "maps.h"

/* Set by the loader from the table it loads against (config.ct_seed, the
 * map's size); constants to the verifier and the JIT. */
const volatile __u64 xm_ct_seed = 0;
const volatile __u32 xm_ct_homes = XM_CT_SLOTS(XM_CT_DEFAULT_MAX) - (XM_CT_PROBES - 1);

#define XM_CT_W0(s) (((__u64 *)&(s)->key)[0])
#define XM_CT_W1(s) (((volatile __u64 *)&(s)->key)[1])

static __always_inline __u64 xm_key_w0(const struct xm_flow_key *k)
{
	return ((const __u64 *)k)[0];
}

static __always_inline __u64 xm_key_w1(const struct xm_flow_key *k)
{
	return ((const __u64 *)k)[1];
}

static __always_inline __u32 xm_ct_home_of(__u64 w0, __u64 w1)
{
	return xm_ct_home(w0, w1, xm_ct_seed, xm_ct_homes);
}

/* The live entry for (w0, w1) from probe `from` of its chain on: its slot
 * index, or -1. */
static __always_inline int xm_ct_probe(__u64 w0, __u64 w1, __u32 home, __u32 from)
{
	__u64 live = xm_ct_state_word(w1, XM_CT_LIVE), sw1;
	struct xm_ct_slot *s;
	__u32 idx;

	for (__u32 i = from; i < XM_CT_PROBES; i++) {
		idx = home + i;
		s = bpf_map_lookup_elem(&flows, &idx);
		if (!s)
			return -1;
		sw1 = XM_CT_W1(s);
		if (sw1 == live && XM_CT_W0(s) == w0)
			return (int)idx;
		if (sw1 == 0)
			return -1; /* EMPTY: the chain ends here */
	}
	return -1;
}

/* xm_ct_probe as a global function: the verifier checks its loop once,
 * not at every call site. */
__noinline int xm_ct_find_from(__u64 w0, __u64 w1, __u32 home, __u32 from)
{
	return xm_ct_probe(w0, w1, home, from);
}

/* The slot holding key k, or NULL; *idx gets its index. The home slot is
 * checked inline: the usual case is a hit (or an EMPTY home) there; the
 * rest of the chain by xm_ct_find_from, or inline when `nocall` (a global
 * function at the end of the deepest call chain has no call level left,
 * bpf/ports.h). */
static __always_inline struct xm_ct_slot *xm_ct_find_in(const struct xm_flow_key *k, __u32 *idx,
							int nocall)
{
	__u64 w0 = xm_key_w0(k), w1 = xm_key_w1(k), sw1;
	__u32 home = xm_ct_home_of(w0, w1);
	struct xm_ct_slot *s = bpf_map_lookup_elem(&flows, &home);
	int at;

	if (!s)
		return NULL;
	sw1 = XM_CT_W1(s);
	if (sw1 == xm_ct_state_word(w1, XM_CT_LIVE) && XM_CT_W0(s) == w0) {
		*idx = home;
		return s;
	}
	if (sw1 == 0)
		return NULL;
	at = nocall ? xm_ct_probe(w0, w1, home, 1) : xm_ct_find_from(w0, w1, home, 1);
	if (at < 0)
		return NULL;
	*idx = (__u32)at;
	return bpf_map_lookup_elem(&flows, idx);
}

static __always_inline struct xm_ct_slot *xm_ct_find(const struct xm_flow_key *k, __u32 *idx)
{
	return xm_ct_find_in(k, idx, 0);
}

static __always_inline struct xm_flow *xm_flow_find(const struct xm_flow_key *k)
{
	__u32 idx;
	struct xm_ct_slot *s = xm_ct_find(k, &idx);

	if (!s)
		return NULL;
	/* Keep the null check before the offset: clang would fold both into
	 * a select the verifier refuses. */
	asm volatile("" : "+r"(s));
	return &s->flow;
}

#define XM_CT_ERR_EXIST (-17) /* EEXIST: the key is in the table */
#define XM_CT_ERR_FULL	(-28) /* ENOSPC: no free slot within XM_CT_PROBES */

/* Claims a slot for key (w0, w1): its index, now WRITING and holding the
 * key, or XM_CT_ERR_*. The chain is read to its end first, so a key
 * already live anywhere in it is found even when a DEAD slot comes first.
 * If another CPU takes the free slot between the read and the claim, the
 * chain is read once more; a second loss counts as no room. */
__noinline int xm_ct_claim(__u64 w0, __u64 w1)
{
	__u64 live = xm_ct_state_word(w1, XM_CT_LIVE), dead = xm_ct_state_word(0, XM_CT_DEAD);
	__u32 home = xm_ct_home_of(w0, w1), idx, free_idx;
	struct xm_ct_slot *s;
	__u64 sw1, seen;
	int have_free;

	for (int attempt = 0; attempt < 2; attempt++) {
		have_free = 0;
		free_idx = 0;
		seen = 0;
		for (__u32 i = 0; i < XM_CT_PROBES; i++) {
			idx = home + i;
			s = bpf_map_lookup_elem(&flows, &idx);
			if (!s)
				break;
			sw1 = XM_CT_W1(s);
			if (sw1 == live && XM_CT_W0(s) == w0)
				return XM_CT_ERR_EXIST;
			if (sw1 == 0 || sw1 == dead) {
				if (!have_free) {
					have_free = 1;
					free_idx = idx;
					seen = sw1;
				}
				if (sw1 == 0)
					break;
			}
		}
		if (!have_free)
			return XM_CT_ERR_FULL;
		s = bpf_map_lookup_elem(&flows, &free_idx);
		if (!s)
			return XM_CT_ERR_FULL;
		if (__sync_val_compare_and_swap(&XM_CT_W1(s), seen,
						xm_ct_state_word(w1, XM_CT_WRITING)) == seen) {
			XM_CT_W0(s) = w0;
			return (int)free_idx;
		}
	}
	return XM_CT_ERR_FULL;
}

/* After publishing key (w0, w1) at slot idx: if a slot between its home
 * and idx has become EMPTY meanwhile (the sweeper cleaned it up while this
 * insert was probing), lookups would stop there, so the entry moves into
 * it. Returns the entry's index. */
__noinline int xm_ct_settle(__u64 w0, __u64 w1, __u32 idx)
{
	__u64 live = xm_ct_state_word(w1, XM_CT_LIVE);
	__u64 writing = xm_ct_state_word(w1, XM_CT_WRITING);
	__u32 home = xm_ct_home_of(w0, w1), j;
	struct xm_ct_slot *s, *to;

	for (__u32 i = 0; i < XM_CT_PROBES; i++) {
		j = home + i;
		if (j >= idx)
			return (int)idx;
		to = bpf_map_lookup_elem(&flows, &j);
		if (!to)
			return (int)idx;
		if (XM_CT_W1(to) != 0)
			continue;
		if (__sync_val_compare_and_swap(&XM_CT_W1(to), 0, writing) != 0)
			continue; /* taken meanwhile: no longer EMPTY either */
		s = bpf_map_lookup_elem(&flows, &idx);
		if (!s) {
			XM_CT_W1(to) = xm_ct_state_word(0, XM_CT_DEAD);
			return (int)idx;
		}
		XM_CT_W0(to) = w0;
		to->flow = s->flow;
		__sync_lock_test_and_set(&XM_CT_W1(to), live);
		__sync_val_compare_and_swap(&XM_CT_W1(s), live, xm_ct_state_word(0, XM_CT_DEAD));
		return (int)j;
	}
	return (int)idx;
}

/* A slot claimed by xm_ct_claim, its value zeroed to be filled in where
 * it lies (no copy on the stack: the new-flow path's stack is nearly
 * full); NULL if idx is out of the table. */
static __always_inline struct xm_flow *xm_ct_claimed_value(__u32 idx)
{
	struct xm_ct_slot *s = bpf_map_lookup_elem(&flows, &idx);

	if (!s)
		return NULL;
	__builtin_memset(&s->flow, 0, sizeof(s->flow));
	return &s->flow;
}

/* Publishes a slot claimed by xm_ct_claim and filled in; the entry's slot
 * (it may have moved: xm_ct_settle). */
static __always_inline struct xm_ct_slot *xm_ct_publish(__u32 idx, const struct xm_flow_key *k)
{
	struct xm_ct_slot *s = bpf_map_lookup_elem(&flows, &idx);
	__u64 w1 = xm_key_w1(k);

	if (!s)
		return NULL;
	__sync_lock_test_and_set(&XM_CT_W1(s), xm_ct_state_word(w1, XM_CT_LIVE));
	idx = (__u32)xm_ct_settle(xm_key_w0(k), w1, idx);
	return bpf_map_lookup_elem(&flows, &idx);
}

/* Removes the entry in slot s if its second word is still `live` (it was
 * not removed and reused meanwhile). */
static __always_inline int xm_ct_remove(struct xm_ct_slot *s, __u64 live)
{
	return __sync_val_compare_and_swap(&XM_CT_W1(s), live, xm_ct_state_word(0, XM_CT_DEAD)) ==
			       live ?
		       0 :
		       -1;
}

/* Gives back a slot claimed but not published. */
static __always_inline void xm_ct_release(__u32 idx)
{
	struct xm_ct_slot *s = bpf_map_lookup_elem(&flows, &idx);

	if (s)
		__sync_lock_test_and_set(&XM_CT_W1(s), xm_ct_state_word(0, XM_CT_DEAD));
}

static __always_inline int xm_ct_claim_key(const struct xm_flow_key *k)
{
	return xm_ct_claim(xm_key_w0(k), xm_key_w1(k));
}

/* Sweeper: slot `e` is EMPTY, so the DEAD run ending just before it is
 * passed by no chain: those slots become EMPTY too, walking back. Each is
 * restored if its follower was claimed meanwhile (see the top). Global:
 * verified once. */
__noinline int xm_ct_clean_before(__u32 e)
{
	__u64 dead = xm_ct_state_word(0, XM_CT_DEAD);
	struct xm_ct_slot *s, *next;
	__u32 j, n;

	for (__u32 i = 1; i <= XM_CT_PROBES; i++) {
		if (i > e)
			return 0;
		j = e - i;
		n = j + 1;
		s = bpf_map_lookup_elem(&flows, &j);
		next = bpf_map_lookup_elem(&flows, &n);
		if (!s || !next || XM_CT_W1(s) != dead)
			return 0;
		if (__sync_val_compare_and_swap(&XM_CT_W1(s), dead, 0) != dead)
			return 0;
		if (XM_CT_W1(next) != 0) {
			__sync_val_compare_and_swap(&XM_CT_W1(s), 0, dead);
			return 0;
		}
	}
	return 0;
}

#endif
