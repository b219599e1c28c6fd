// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The flow table from user space: the same open-addressing scheme as
 * bpf/ct.h, over the array map mapped into memory, with the same atomic
 * steps (the data plane keeps running meanwhile). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

/* Both tables' slots begin with their key's 8-byte words, the last one
 * holding the state byte at the same place (xmasq_abi.h), and the entry
 * right after: one implementation of the probing serves both. */
_Static_assert(offsetof(struct xm_flow_key, ct_state) == 8 + 5, "state byte");
_Static_assert(offsetof(struct xm_flow6_key, ct_state) == 8 * (XM_CT6_WORDS - 1) + 5, "as IPv4");

static uint64_t *slot_words(const struct xm_slots *t, size_t i)
{
	return (uint64_t *)((char *)t->base + i * t->stride);
}

static uint64_t load_state(const uint64_t *w, int nw)
{
	return __atomic_load_n(&w[nw - 1], __ATOMIC_ACQUIRE);
}

static int state_of(uint64_t sw)
{
	union xm_ct_words u = { .w = { 0, sw } };

	return u.key.ct_state;
}

/* Whether slot words w hold key words kw (the state word apart). */
static int key_equal(const uint64_t *w, const __u64 *kw, int nw)
{
	for (int i = 0; i < nw - 1; i++)
		if (w[i] != kw[i])
			return 0;
	return 1;
}

int xm_slots_map(struct xm_slots *t, int map_fd, size_t stride, int nw, int writable,
		 struct bpf_map_info *info, const char *what, char *err, size_t errlen)
{
	__u32 len = sizeof(*info);
	long page = sysconf(_SC_PAGESIZE);
	void *mem;

	memset(t, 0, sizeof(*t));
	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(map_fd, info, &len)) {
		snprintf(err, errlen, "%s: cannot read its map info: %s", what, strerror(errno));
		return -1;
	}
	if (info->type != BPF_MAP_TYPE_ARRAY || info->value_size != stride ||
	    info->max_entries < XM_CT_PROBES)
		return -2; /* the caller says what it is instead */
	t->len = ((size_t)info->max_entries * stride + (size_t)page - 1) & ~((size_t)page - 1);
	mem = mmap(NULL, t->len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, map_fd, 0);
	if (mem == MAP_FAILED) {
		snprintf(err, errlen, "%s: cannot map it into memory: %s", what, strerror(errno));
		return -1;
	}
	t->base = mem;
	t->stride = stride;
	t->nslots = info->max_entries;
	t->nw = nw;
	return 0;
}

long xm_slots_find(const struct xm_slots *t, const __u64 *kw, uint32_t home)
{
	uint64_t live = xm_ct_state_word(kw[t->nw - 1], XM_CT_LIVE), sw;

	for (uint32_t i = 0; i < XM_CT_PROBES && home + i < t->nslots; i++) {
		const uint64_t *w = slot_words(t, home + i);

		sw = load_state(w, t->nw);
		if (sw == live && key_equal(w, kw, t->nw))
			return (long)(home + i);
		if (sw == 0)
			return -1; /* EMPTY: the chain ends here */
	}
	return -1;
}

int xm_slots_remove(void *slot, int nw)
{
	uint64_t *w = slot, sw = load_state(w, nw);

	if (state_of(sw) != XM_CT_LIVE)
		return -1;
	return __atomic_compare_exchange_n(&w[nw - 1], &sw, xm_ct_state_word(0, XM_CT_DEAD), 0,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ?
		       0 :
		       -1;
}

int xm_slots_insert(const struct xm_slots *t, const __u64 *kw, uint32_t home, const void *val,
		    size_t val_len)
{
	int nw = t->nw;
	uint64_t live = xm_ct_state_word(kw[nw - 1], XM_CT_LIVE);
	uint64_t dead = xm_ct_state_word(0, XM_CT_DEAD), sw;

	for (int attempt = 0; attempt < 4; attempt++) {
		uint64_t *free_slot = NULL, seen = 0;

		for (uint32_t i = 0; i < XM_CT_PROBES && home + i < t->nslots; i++) {
			uint64_t *w = slot_words(t, home + i);

			sw = load_state(w, nw);
			if (sw == live && key_equal(w, kw, nw))
				return -EEXIST;
			if ((sw == 0 || sw == dead) && !free_slot) {
				free_slot = w;
				seen = sw;
			}
			if (sw == 0)
				break;
		}
		if (!free_slot)
			return -ENOSPC;
		if (!__atomic_compare_exchange_n(&free_slot[nw - 1], &seen,
						 xm_ct_state_word(kw[nw - 1], XM_CT_WRITING), 0,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			continue; /* taken by the data plane meanwhile */
		for (int i = 0; i < nw - 1; i++)
			free_slot[i] = kw[i];
		memcpy(free_slot + nw, val, val_len);
		__atomic_store_n(&free_slot[nw - 1], live, __ATOMIC_SEQ_CST);
		return 0;
	}
	return -EAGAIN;
}

/* The IPv4 table as a struct xm_slots, and a key's words (state 0). */
static struct xm_slots slots_of(const struct xm_ct_table *t)
{
	return (struct xm_slots){
		.base = t->slots, .stride = sizeof(*t->slots), .nslots = t->nslots, .nw = 2
	};
}

static void key_words(const struct xm_flow_key *k, __u64 kw[2])
{
	union xm_ct_words u = { .key = *k };

	u.key.ct_state = 0;
	kw[0] = u.w[0];
	kw[1] = u.w[1];
}

int xm_ct_open(struct xm_ct_table *t, int map_fd, uint64_t seed, int writable, char *err,
	       size_t errlen)
{
	struct bpf_map_info info;
	struct xm_slots s;
	int rc = xm_slots_map(&s, map_fd, sizeof(struct xm_ct_slot), 2, writable, &info,
			      "flow table", err, errlen);

	memset(t, 0, sizeof(*t));
	if (rc == -2)
		snprintf(err, errlen,
			 "flow table: map type %u with %u-byte values is not this build's table "
			 "(layout %d): attach --migrate",
			 info.type, info.value_size, XM_LAYOUT_VERSION);
	if (rc)
		return rc;
	t->slots = s.base;
	t->nslots = s.nslots;
	t->homes = (uint32_t)s.nslots - (XM_CT_PROBES - 1);
	t->map_len = s.len;
	t->seed = seed;
	return 0;
}

void xm_ct_close(struct xm_ct_table *t)
{
	if (t->slots)
		munmap(t->slots, t->map_len);
	if (t->source_flows)
		munmap(t->source_flows, t->source_flows_len);
	t->slots = NULL;
	t->source_flows = NULL;
}

int xm_ct_slot_live(const struct xm_ct_slot *s)
{
	return xm_slots_live(s, 2);
}

struct xm_ct_slot *xm_ct_lookup(const struct xm_ct_table *t, const struct xm_flow_key *k)
{
	struct xm_slots s = slots_of(t);
	__u64 kw[2];
	long at;

	key_words(k, kw);
	at = xm_slots_find(&s, kw, xm_ct_home(kw[0], kw[1], t->seed, t->homes));
	return at < 0 ? NULL : &t->slots[at];
}

/* Removes a live entry: 0, or -1 if it was not live. */
static int ct_remove(struct xm_ct_slot *s)
{
	return xm_slots_remove(s, 2);
}

int xm_ct_insert(struct xm_ct_table *t, const struct xm_flow_key *k, const struct xm_flow *f)
{
	struct xm_slots s = slots_of(t);
	__u64 kw[2];

	key_words(k, kw);
	return xm_slots_insert(&s, kw, xm_ct_home(kw[0], kw[1], t->seed, t->homes), f, sizeof(*f));
}

size_t xm_ct_count(const struct xm_ct_table *t, int orig_only)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nslots; i++) {
		const struct xm_ct_slot *s = &t->slots[i];

		if (xm_ct_slot_live(s) && (!orig_only || !(s->flow.flags & XM_FLOW_REPLY)))
			n++;
	}
	return n;
}

/* A removed flow's source holds one flow less (xmasq_abi.h,
 * source_flows): atomic, as the data plane's additions are. */
static void source_take(const struct xm_ct_table *t, uint32_t saddr)
{
	if (!t->source_flows)
		return;
	for (uint32_t row = 0; row < XM_SOURCE_ROWS; row++)
		__atomic_fetch_sub(&t->source_flows[xm_source_slot(saddr, t->seed, row)], 1,
				   __ATOMIC_SEQ_CST);
}

int xm_ct_remove_stub(struct xm_ct_table *t, const struct xm_flow_key *k)
{
	struct xm_ct_slot *s = xm_ct_lookup(t, k);

	return s && xm_ct_is_stub(&s->flow) ? ct_remove(s) : -1;
}

long xm_ct_remove_if(struct xm_ct_table *t, int (*doomed)(const struct xm_ct_slot *orig, void *arg),
		     void *arg)
{
	long removed = 0;

	for (size_t i = 0; i < t->nslots; i++) {
		struct xm_ct_slot *s = &t->slots[i], *partner;
		struct xm_flow_key pk;
		uint32_t saddr;

		if (!xm_ct_slot_live(s) || (s->flow.flags & XM_FLOW_REPLY) || !doomed(s, arg))
			continue;
		xm_flow_partner_key(&s->flow, s->key.proto, &pk);
		partner = xm_ct_lookup(t, &pk);
		if (partner)
			ct_remove(partner);
		saddr = s->key.saddr;
		if (ct_remove(s) == 0) {
			source_take(t, saddr);
			removed++;
		}
	}
	return removed;
}

int xm_source_tally_start(struct xm_source_tally *st, size_t max_sources, struct xm_ct_sources *out)
{
	size_t cap = 1024;

	memset(out, 0, sizeof(*out));
	while (cap < 2 * (max_sources + 1))
		cap *= 2;
	st->tab = calloc(cap, sizeof(*st->tab));
	st->cap = cap;
	st->n = 0;
	st->out = out;
	return st->tab ? 0 : -1;
}

void xm_source_tally_add(struct xm_source_tally *st, uint32_t saddr)
{
	size_t mask = st->cap - 1, at = (size_t)(saddr * 2654435761u) & mask;
	struct xm_ct_sources *out = st->out;

	out->flows++;
	while (st->tab[at].flows && st->tab[at].addr != saddr)
		at = (at + 1) & mask;
	if (!st->tab[at].flows) {
		if (2 * (st->n + 1) > st->cap)
			return; /* more sources than the table's flows allow */
		st->tab[at].addr = saddr;
		st->n++;
	}
	if (++st->tab[at].flows > out->busiest_flows) {
		out->busiest_flows = st->tab[at].flows;
		out->busiest = saddr;
	}
}

void xm_source_tally_end(struct xm_source_tally *st)
{
	st->out->sources = st->n;
	free(st->tab);
	st->tab = NULL;
}

int xm_ct_sources(const struct xm_ct_table *t, struct xm_ct_sources *out)
{
	return xm_ct_sources_of(t, xm_ct_max_sources(t), out);
}

int xm_ct_sources_of(const struct xm_ct_table *t, size_t max_sources, struct xm_ct_sources *out)
{
	struct xm_source_tally st;

	if (xm_source_tally_start(&st, max_sources, out))
		return -1;
	for (size_t i = 0; i < t->nslots; i++) {
		const struct xm_ct_slot *s = &t->slots[i];

		if (xm_ct_slot_live(s) && !(s->flow.flags & XM_FLOW_REPLY))
			xm_source_tally_add(&st, s->key.saddr);
	}
	xm_source_tally_end(&st);
	return 0;
}

long xm_ct_clear(struct xm_ct_table *t)
{
	long removed = 0;

	for (size_t i = 0; i < t->nslots; i++) {
		struct xm_ct_slot *s = &t->slots[i];
		uint32_t saddr = s->key.saddr;
		int orig = !(s->flow.flags & XM_FLOW_REPLY);

		if (ct_remove(s) == 0) {
			if (orig)
				source_take(t, saddr);
			removed++;
		}
	}
	return removed;
}

int xm_ct_open_handle(struct xm_ct_table *t, struct xm_handle *h, int writable, char *err,
		      size_t errlen)
{
	struct xm_config cfg;
	__u32 zero = 0;
	size_t len;
	void *mem;
	int rc;

	if (bpf_map_lookup_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg)) {
		snprintf(err, errlen, "%s/config: cannot read it: %s", h->pin_dir, strerror(errno));
		return -1;
	}
	if (cfg.layout_version != XM_LAYOUT_VERSION) {
		snprintf(err, errlen,
			 "%s: maps have layout %u, this build uses %u: attach --migrate first",
			 h->pin_dir, cfg.layout_version, XM_LAYOUT_VERSION);
		return -2;
	}
	rc = xm_ct_open(t, h->fd[XM_MAP_FLOWS], cfg.ct_seed, writable, err, errlen);
	if (rc || !writable || h->fd[XM_MAP_SOURCE_FLOWS] < 0)
		return rc;
	/* Without it (maps of an older build) flows still go; no count to keep. */
	len = (size_t)XM_SOURCE_SLOTS * sizeof(int64_t);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, h->fd[XM_MAP_SOURCE_FLOWS], 0);
	if (mem != MAP_FAILED) {
		t->source_flows = mem;
		t->source_flows_len = len;
	}
	return 0;
}
