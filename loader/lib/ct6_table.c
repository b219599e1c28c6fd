// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The IPv6 flow table from user space: bpf/ct6.h's scheme over the array
 * map flows6 mapped into memory, by the probing ct_table.c shares
 * (struct xm_slots: the same atomic steps; the data plane keeps
 * running meanwhile). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

static struct xm_slots slots_of(const struct xm_ct6_table *t)
{
	return (struct xm_slots){ .base = t->slots,
				  .stride = sizeof(*t->slots),
				  .nslots = t->nslots,
				  .nw = XM_CT6_WORDS };
}

/* Key k's words as a lookup key: its state byte 0. */
static void key_words(const struct xm_flow6_key *k, __u64 kw[XM_CT6_WORDS])
{
	union xm_ct6_words u = { .key = *k };

	u.key.ct_state = 0;
	memcpy(kw, u.w, sizeof(u.w));
}

int xm_ct6_open(struct xm_ct6_table *t, int map_fd, uint64_t seed, int writable, char *err,
		size_t errlen)
{
	struct bpf_map_info info;
	struct xm_slots s;
	int rc = xm_slots_map(&s, map_fd, sizeof(struct xm_ct6_slot), XM_CT6_WORDS, writable, &info,
			      "flows6", err, errlen);

	memset(t, 0, sizeof(*t));
	if (rc == -2)
		snprintf(err, errlen,
			 "flows6: map type %u with %u-byte values is not this build's IPv6 flow "
			 "table (an array of %zu-byte slots; an older build's hash map): run "
			 "xmasq attach to convert it (its flows are kept)",
			 info.type, info.value_size, sizeof(struct xm_ct6_slot));
	if (rc)
		return rc;
	t->slots = s.base;
	t->nslots = s.nslots;
	t->map_len = s.len;
	t->homes = (uint32_t)s.nslots - (XM_CT_PROBES - 1);
	t->seed = seed;
	return 0;
}

int xm_ct6_open_handle(struct xm_ct6_table *t, struct xm_handle *h, int writable, char *err,
		       size_t errlen)
{
	struct xm_config cfg;
	__u32 zero = 0;

	memset(t, 0, sizeof(*t));
	if (h->fd[XM_MAP_FLOWS6] < 0)
		return 1;
	if (bpf_map_lookup_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg)) {
		snprintf(err, errlen, "%s/config: cannot read it: %s", h->pin_dir, strerror(errno));
		return -1;
	}
	return xm_ct6_open(t, h->fd[XM_MAP_FLOWS6], cfg.ct_seed, writable, err, errlen);
}

void xm_ct6_close(struct xm_ct6_table *t)
{
	if (t->slots)
		munmap(t->slots, t->map_len);
	t->slots = NULL;
}

int xm_ct6_slot_live(const struct xm_ct6_slot *s)
{
	return xm_slots_live(s, XM_CT6_WORDS);
}

int xm_ct6_slot_copy(const struct xm_ct6_slot *s, struct xm_flow6_key *k, struct xm_flow6 *f)
{
	const __u64 *state = &((const __u64 *)&s->key)[XM_CT6_WORDS - 1];
	union xm_ct6_words u = { .w = { 0 } };

	u.w[XM_CT6_WORDS - 1] = __atomic_load_n(state, __ATOMIC_ACQUIRE);
	if (u.key.ct_state != XM_CT_LIVE)
		return 0;
	*k = s->key;
	*f = s->flow;
	k->ct_state = 0;
	/* Removed and claimed again meanwhile: the copy may mix two keys. */
	return __atomic_load_n(state, __ATOMIC_ACQUIRE) == u.w[XM_CT6_WORDS - 1];
}

struct xm_ct6_slot *xm_ct6_lookup(const struct xm_ct6_table *t, const struct xm_flow6_key *k)
{
	struct xm_slots s = slots_of(t);
	__u64 kw[XM_CT6_WORDS];
	long at;

	key_words(k, kw);
	at = xm_slots_find(&s, kw, xm_ct6_home(kw, t->seed, t->homes));
	return at < 0 ? NULL : &t->slots[at];
}

int xm_ct6_insert(struct xm_ct6_table *t, const struct xm_flow6_key *k, const struct xm_flow6 *f)
{
	struct xm_slots s = slots_of(t);
	__u64 kw[XM_CT6_WORDS];

	key_words(k, kw);
	return xm_slots_insert(&s, kw, xm_ct6_home(kw, t->seed, t->homes), f, sizeof(*f));
}

int xm_ct6_slot_remove(struct xm_ct6_slot *s)
{
	return xm_slots_remove(s, XM_CT6_WORDS);
}

int xm_ct6_delete(struct xm_ct6_table *t, const struct xm_flow6_key *k)
{
	struct xm_ct6_slot *s = xm_ct6_lookup(t, k);

	return s ? xm_ct6_slot_remove(s) : -1;
}

size_t xm_ct6_table_count(const struct xm_ct6_table *t, int orig_only)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nslots; i++) {
		const struct xm_ct6_slot *s = &t->slots[i];

		if (xm_ct6_slot_live(s) && (!orig_only || !(s->flow.flags & XM_FLOW_REPLY)))
			n++;
	}
	return n;
}
