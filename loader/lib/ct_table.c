// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The flow table from user space: the same open-addressing scheme as
 * bpf/ct.h, over the array map mapped into memory, with the same atomic
 * steps (the data plane keeps running meanwhile). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

#define W0(s) (((uint64_t *)&(s)->key)[0])
#define W1(s) (((uint64_t *)&(s)->key)[1])

static uint64_t key_w0(const struct xm_flow_key *k)
{
	union xm_ct_words u = { .key = *k };

	return u.w[0];
}

static uint64_t key_w1(const struct xm_flow_key *k)
{
	union xm_ct_words u = { .key = *k };

	u.key.ct_state = 0;
	return u.w[1];
}

static uint64_t load_w1(const struct xm_ct_slot *s)
{
	return __atomic_load_n(&((const uint64_t *)&s->key)[1], __ATOMIC_ACQUIRE);
}

int xm_ct_open(struct xm_ct_table *t, int map_fd, uint64_t seed, int writable, char *err,
	       size_t errlen)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	void *mem;

	memset(t, 0, sizeof(*t));
	if (bpf_obj_get_info_by_fd(map_fd, &info, &len)) {
		snprintf(err, errlen, "flow table: cannot read its map info: %s", strerror(errno));
		return -1;
	}
	if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != sizeof(struct xm_ct_slot) ||
	    info.max_entries < XM_CT_PROBES) {
		snprintf(err, errlen,
			 "flow table: map type %u with %u-byte values is not this build's table "
			 "(layout %d): attach --migrate",
			 info.type, info.value_size, XM_LAYOUT_VERSION);
		return -2;
	}
	t->nslots = info.max_entries;
	t->homes = info.max_entries - (XM_CT_PROBES - 1);
	t->map_len = ((size_t)info.max_entries * sizeof(struct xm_ct_slot) + (size_t)page - 1) &
		     ~((size_t)page - 1);
	mem = mmap(NULL, t->map_len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, map_fd,
		   0);
	if (mem == MAP_FAILED) {
		snprintf(err, errlen, "flow table: cannot map it into memory: %s", strerror(errno));
		return -1;
	}
	t->slots = mem;
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
	union xm_ct_words u;

	u.w[1] = load_w1(s);
	return u.key.ct_state == XM_CT_LIVE;
}

struct xm_ct_slot *xm_ct_lookup(const struct xm_ct_table *t, const struct xm_flow_key *k)
{
	uint64_t w0 = key_w0(k), w1 = key_w1(k), live = xm_ct_state_word(w1, XM_CT_LIVE), sw1;
	uint32_t home = xm_ct_home(w0, w1, t->seed, t->homes);

	for (uint32_t i = 0; i < XM_CT_PROBES && home + i < t->nslots; i++) {
		struct xm_ct_slot *s = &t->slots[home + i];

		sw1 = load_w1(s);
		if (sw1 == live && W0(s) == w0)
			return s;
		if (sw1 == 0)
			return NULL;
	}
	return NULL;
}

/* Removes a live entry: 0, or -1 if it was not live. */
static int ct_remove(struct xm_ct_slot *s)
{
	uint64_t w1 = load_w1(s);
	union xm_ct_words u = { .w = { 0, w1 } };

	if (u.key.ct_state != XM_CT_LIVE)
		return -1;
	return __atomic_compare_exchange_n(&W1(s), &w1, xm_ct_state_word(0, XM_CT_DEAD), 0,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ?
		       0 :
		       -1;
}

int xm_ct_insert(struct xm_ct_table *t, const struct xm_flow_key *k, const struct xm_flow *f)
{
	uint64_t w0 = key_w0(k), w1 = key_w1(k), live = xm_ct_state_word(w1, XM_CT_LIVE);
	uint64_t dead = xm_ct_state_word(0, XM_CT_DEAD), sw1;
	uint32_t home = xm_ct_home(w0, w1, t->seed, t->homes);

	for (int attempt = 0; attempt < 4; attempt++) {
		struct xm_ct_slot *free_slot = NULL;
		uint64_t seen = 0;

		for (uint32_t i = 0; i < XM_CT_PROBES && home + i < t->nslots; i++) {
			struct xm_ct_slot *s = &t->slots[home + i];

			sw1 = load_w1(s);
			if (sw1 == live && W0(s) == w0)
				return -EEXIST;
			if ((sw1 == 0 || sw1 == dead) && !free_slot) {
				free_slot = s;
				seen = sw1;
			}
			if (sw1 == 0)
				break;
		}
		if (!free_slot)
			return -ENOSPC;
		if (!__atomic_compare_exchange_n(&W1(free_slot), &seen,
						 xm_ct_state_word(w1, XM_CT_WRITING), 0,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			continue; /* taken by the data plane meanwhile */
		W0(free_slot) = w0;
		free_slot->flow = *f;
		__atomic_store_n(&W1(free_slot), live, __ATOMIC_SEQ_CST);
		return 0;
	}
	return -EAGAIN;
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
