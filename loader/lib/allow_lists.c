// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `from PREFIX[,PREFIX...]` lists: ids and entries of the allow_lists
 * trie (layout in xmasq_abi.h). Identical lists share an id. An id keeps
 * its prefixes while a live rule names it: a new list goes under an id no
 * live rule names, before any rule names it, and an old one is removed
 * after the switch, so no packet ever sees half a list. An IPv4 list's
 * keys are IPv4-mapped, an IPv6 list's are its prefixes as written, its
 * IPv4 ones (a `family any` forward's mixed list) IPv4-mapped too: the
 * parser refuses IPv4-mapped prefixes written as IPv6, so a list read
 * back with only mapped keys is an IPv4 list, else an IPv6 one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

#define HASH_CAP (2 * XM_ALLOW_LISTS)

static int is_v4_mapped(const struct xm_allow_key *k)
{
	return k->prefixlen >= XM_ALLOW_V4_PLEN(0) && k->prefixlen <= XM_ALLOW_V4_PLEN(32) &&
	       k->addr[0] == 0 && k->addr[1] == 0 && k->addr[2] == htonl(0xffff);
}

/* The trie key's prefix length of an IPv6 /len: the list id, then the
 * address. */
#define ALLOW_V6_PLEN(len) (32 + (len))

static int cmp_prefix(const void *a, const void *b)
{
	const struct xm_src_prefix *x = a, *y = b;
	uint32_t ax = ntohl(x->addr), ay = ntohl(y->addr);

	if (ax != ay)
		return ax < ay ? -1 : 1;
	return (int)x->len - (int)y->len;
}

static int cmp_prefix6(const void *a, const void *b)
{
	const struct xm_src_prefix *x = a, *y = b;
	int c = memcmp(&x->addr6, &y->addr6, sizeof(x->addr6));

	return c ? c : (int)x->len - (int)y->len;
}

static int add_prefix(struct xm_src_list *l, const struct xm_src_prefix *p)
{
	struct xm_src_prefix *np = realloc(l->pfx, (l->n + 1u) * sizeof(*np));

	if (!np)
		return -1;
	l->pfx = np;
	l->pfx[l->n++] = *p;
	return 0;
}

int xm_allow_lists_read(struct xm_handle *h, struct xm_src_list **lists, struct xm_allow_key **keys,
			size_t *n_keys)
{
	struct xm_allow_key k, prev;
	struct xm_src_list *l = calloc(XM_ALLOW_LISTS, sizeof(*l));
	struct xm_allow_key *ks = NULL;
	size_t n = 0, cap = 0;
	int fd = h->fd[XM_MAP_ALLOW_LISTS], first = 1;

	if (!l)
		return -1;
	while (bpf_map_get_next_key(fd, first ? NULL : &prev, &k) == 0) {
		__u32 id = ntohl(k.list);

		first = 0;
		prev = k;
		if (keys) {
			if (n == cap) {
				struct xm_allow_key *nk;

				cap = cap ? 2 * cap : 256;
				nk = realloc(ks, cap * sizeof(*nk));
				if (!nk)
					goto oom;
				ks = nk;
			}
			ks[n++] = k;
		}
		if (id && id < XM_ALLOW_LISTS && l[id].n < XM_ALLOW_LIST_MAX) {
			struct xm_src_prefix p;

			/* every prefix as 128 bits until the list's family is
			 * known (below) */
			memset(&p, 0, sizeof(p));
			if (k.prefixlen < ALLOW_V6_PLEN(0) || k.prefixlen > ALLOW_V6_PLEN(128))
				continue;
			memcpy(&p.addr6, k.addr, sizeof(p.addr6));
			p.len = (uint8_t)(k.prefixlen - ALLOW_V6_PLEN(0));
			if (!is_v4_mapped(&k))
				l[id].v6 = 1;
			if (add_prefix(&l[id], &p))
				goto oom;
		}
	}
	for (__u32 id = 1; id < XM_ALLOW_LISTS; id++)
		for (unsigned i = 0; !l[id].v6 && i < l[id].n; i++) {
			struct xm_src_prefix *p = &l[id].pfx[i];
			uint32_t v4 = xm_ipv4_of_mapped(&p->addr6);
			uint8_t len = (uint8_t)(p->len - 96);

			memset(p, 0, sizeof(*p));
			p->addr = v4;
			p->len = len;
		}
	for (__u32 id = 1; id < XM_ALLOW_LISTS; id++)
		if (l[id].n > 1)
			qsort(l[id].pfx, l[id].n, sizeof(l[id].pfx[0]),
			      l[id].v6 ? cmp_prefix6 : cmp_prefix);
	*lists = l;
	if (keys) {
		*keys = ks;
		*n_keys = n;
	}
	return 0;
oom:
	xm_allow_lists_free(l);
	free(ks);
	return -1;
}

void xm_allow_lists_free(struct xm_src_list *lists)
{
	if (!lists)
		return;
	for (__u32 id = 0; id < XM_ALLOW_LISTS; id++)
		free(lists[id].pfx);
	free(lists);
}

static uint32_t list_hash(const struct xm_src_list *l)
{
	uint32_t h = 2166136261u;

	for (unsigned i = 0; i < l->n; i++) {
		if (l->v6)
			for (unsigned b = 0; b < 16; b++)
				h = (h ^ l->pfx[i].addr6.s6_addr[b]) * 16777619u;
		else
			h = (h ^ l->pfx[i].addr) * 16777619u;
		h = (h ^ l->pfx[i].len) * 16777619u;
	}
	return h;
}

static void hash_put(struct xm_allow_table *t, __u32 id)
{
	size_t i = list_hash(&t->list[id]) % HASH_CAP;

	while (t->by_hash[i])
		i = (i + 1) % HASH_CAP;
	t->by_hash[i] = (__u16)id;
}

static __u32 hash_find(const struct xm_allow_table *t, const struct xm_src_list *l)
{
	for (size_t i = list_hash(l) % HASH_CAP; t->by_hash[i]; i = (i + 1) % HASH_CAP)
		if (xm_src_list_same(&t->list[t->by_hash[i]], l))
			return t->by_hash[i];
	return 0;
}

void xm_allow_free(struct xm_allow_table *t)
{
	xm_allow_lists_free(t->list);
	free(t->keys);
	free(t->used);
	free(t->by_hash);
	memset(t, 0, sizeof(*t));
}

int xm_allow_assign(struct xm_allow_table *t, struct xm_handle *h, const struct xm_rule_meta *live,
		    const struct xm_ruleset *rs, __u16 *list_of, const char *filename, char *err,
		    size_t errlen)
{
	__u32 next_free = 1;

	memset(t, 0, sizeof(*t));
	t->used = calloc(XM_ALLOW_LISTS, 1);
	t->by_hash = calloc(HASH_CAP, sizeof(*t->by_hash));
	if (!t->used || !t->by_hash)
		goto oom;
	if (h) {
		if (xm_allow_lists_read(h, &t->list, &t->keys, &t->n_keys))
			goto oom;
	} else {
		t->list = calloc(XM_ALLOW_LISTS, sizeof(*t->list));
		if (!t->list)
			goto oom;
	}
	for (__u32 id = 1; live && id < XM_MAX_RULES; id++) {
		__u32 lid = XM_RULE_META_ALLOW(live[id].flags);

		if (!live[id].in_use || !lid || (t->used[lid] & XM_ALLOW_USED))
			continue;
		t->used[lid] |= XM_ALLOW_USED;
		t->prefixes += t->list[lid].n;
		hash_put(t, lid);
	}
	for (size_t i = 0; i < rs->n_rules; i++) {
		const struct xm_src_list *l = &rs->rules[i].from;
		__u32 id;

		list_of[i] = 0;
		if (!l->n)
			continue;
		id = hash_find(t, l);
		if (!id) {
			while (next_free < XM_ALLOW_LISTS && t->used[next_free])
				next_free++;
			if (next_free >= XM_ALLOW_LISTS) {
				snprintf(err, errlen,
					 "%s:%u:%u: more than %d different 'from' lists live at "
					 "once (use the same list in more rules)",
					 filename, rs->rules[i].line, l->col, XM_ALLOW_LISTS - 1);
				return -2;
			}
			if (t->prefixes + l->n > XM_ALLOW_PREFIXES) {
				snprintf(err, errlen,
					 "%s:%u:%u: more than %d 'from' prefixes live at once, old "
					 "and new lists together (use the same list in more rules, "
					 "or shorter prefixes)",
					 filename, rs->rules[i].line, l->col, XM_ALLOW_PREFIXES);
				return -2;
			}
			id = next_free;
			free(t->list[id].pfx);
			t->list[id].n = 0;
			t->list[id].pfx = malloc(l->n * sizeof(l->pfx[0]));
			if (!t->list[id].pfx)
				goto oom;
			memcpy(t->list[id].pfx, l->pfx, l->n * sizeof(l->pfx[0]));
			t->list[id].n = l->n;
			t->list[id].v6 = l->v6;
			t->used[id] |= XM_ALLOW_FRESH;
			t->prefixes += l->n;
			hash_put(t, id);
		}
		t->used[id] |= XM_ALLOW_KEPT;
		list_of[i] = (__u16)id;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Removes, of the entries read, those of each id whose used[id] & mask is
 * want (and of ids out of range). */
static void delete_ids(const struct xm_allow_table *t, int fd, unsigned char mask,
		       unsigned char want)
{
	for (size_t i = 0; i < t->n_keys; i++) {
		__u32 id = ntohl(t->keys[i].list);

		if (id >= XM_ALLOW_LISTS || (t->used[id] & mask) == want)
			bpf_map_delete_elem(fd, &t->keys[i]);
	}
}

int xm_allow_write(const struct xm_allow_table *t, struct xm_handle *h)
{
	int fd = h->fd[XM_MAP_ALLOW_LISTS];
	__u32 one = 1;

	/* Lists no live rule names: left by an apply that died half-way. */
	delete_ids(t, fd, XM_ALLOW_USED, 0);
	for (__u32 id = 1; id < XM_ALLOW_LISTS; id++) {
		if (!(t->used[id] & XM_ALLOW_FRESH))
			continue;
		for (unsigned i = 0; i < t->list[id].n; i++) {
			const struct xm_src_prefix *p = &t->list[id].pfx[i];
			struct xm_allow_key k = {
				.prefixlen = XM_ALLOW_V4_PLEN(p->len),
				.list = htonl(id),
				.addr = { 0, 0, htonl(0xffff), p->addr },
			};

			if (t->list[id].v6) {
				k.prefixlen = ALLOW_V6_PLEN(p->len);
				memcpy(k.addr, &p->addr6, sizeof(k.addr));
			}

			if (bpf_map_update_elem(fd, &k, &one, BPF_ANY))
				return -errno;
		}
	}
	return 0;
}

void xm_allow_prune(const struct xm_allow_table *t, struct xm_handle *h)
{
	delete_ids(t, h->fd[XM_MAP_ALLOW_LISTS], XM_ALLOW_USED | XM_ALLOW_KEPT, XM_ALLOW_USED);
}

const struct xm_src_list *xm_allow_of(const struct xm_allow_table *t, __u32 id)
{
	return t && t->list && id && id < XM_ALLOW_LISTS ? &t->list[id] : NULL;
}
