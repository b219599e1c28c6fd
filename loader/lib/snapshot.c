// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Reading the live state: config, counters, interfaces, rules, flows. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include "ifinfo.h"
#include "xmasq_internal.h"

/* Per-CPU values are summed field by field: every struct read here is made
 * of __u64 only. */
int xm_read_percpu_u64s(int fd, __u32 key, int ncpus, void *out, size_t size)
{
	size_t words = size / sizeof(__u64);
	__u64 *vals = calloc((size_t)ncpus, size), *sum = out;

	if (!vals)
		return -1;
	memset(out, 0, size);
	if (bpf_map_lookup_elem(fd, &key, vals)) {
		free(vals);
		return -1;
	}
	for (int c = 0; c < ncpus; c++)
		for (size_t w = 0; w < words; w++)
			sum[w] += vals[(size_t)c * words + w];
	free(vals);
	return 0;
}

/* Entries per batch call: bounded buffers (a chunk of rule_stats is
 * XM_BATCH * ncpus * 40 bytes) for one syscall where there were XM_BATCH;
 * fewer on many CPUs, so that the buffer stays under XM_BATCH_BYTES: a
 * larger one is mmapped (xmasqd's malloc threshold is 256 kB) and its
 * pages are fresh at every read, 160 faults for 2 CPUs at 8,192. */
#define XM_BATCH       8192
#define XM_BATCH_BYTES (200u * 1024)

/* Reads the per-CPU array entries [first, first + *n) of fd in one batch
 * call into vals (*n * ncpus values of size bytes, CPU by CPU) and their
 * indexes into keys; *n is how many it read (fewer at the end of the
 * array). 0, or -1 (errno). */
static int percpu_array_batch(int fd, __u32 first, __u32 *n, __u32 *keys, void *vals)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 in = first - 1, out = 0;
	int rc;

	/* A batch goes on after the key in_batch (the last one the call
	 * before returned: the map's next key of it), from the first key
	 * without one. Given first itself it began at first + 1: from the
	 * second batch on, each rule got the next id's counters. */
	rc = bpf_map_lookup_batch(fd, first ? &in : NULL, &out, keys, vals, n, &opts);
	if (rc && errno == ENOENT)
		rc = 0; /* the end of the array: *n says how many came */
	if (!rc && *n && keys[0] != first) {
		errno = EPROTO; /* not where asked: a lookup per rule instead */
		return -1;
	}
	return rc;
}

/* The `from` lists of the rules [0, n) that have one, and their
 * refusals: the trie is read only when some rule names a list, once
 * (*lists, the caller frees it). 0, or -1 out of memory. */
static int read_rule_lists(struct xm_handle *h, struct xm_rule_info *rules, size_t n,
			   struct xm_src_list **lists)
{
	for (size_t i = 0; i < n; i++) {
		struct xm_rule_info *ri = &rules[i];
		__u32 lid = XM_RULE_META_ALLOW(ri->meta.flags);

		if (!lid || (ri->meta.flags & XM_RULE_MASQUERADE))
			continue;
		if (!*lists && xm_allow_lists_read(h, lists, NULL, NULL))
			return -1;
		xm_read_percpu_u64s(h->fd[XM_MAP_RULE_REFUSED], ri->id, h->ncpus, &ri->refused,
				    sizeof(ri->refused));
		if (lid >= XM_ALLOW_LISTS || !(*lists)[lid].n)
			continue;
		ri->from.pfx = malloc((*lists)[lid].n * sizeof((*lists)[lid].pfx[0]));
		if (!ri->from.pfx)
			return -1;
		memcpy(ri->from.pfx, (*lists)[lid].pfx,
		       (*lists)[lid].n * sizeof((*lists)[lid].pfx[0]));
		ri->from.n = (*lists)[lid].n;
		ri->from.v6 = (*lists)[lid].v6;
	}
	return 0;
}

/* The batch calls' buffers: keys and values of batch entries. */
struct stats_buf {
	__u32 *keys;
	__u64 *vals;
	__u32 batch;
};

static int stats_buf_alloc(struct xm_handle *h, struct stats_buf *b)
{
	size_t per = XM_BATCH_BYTES / ((size_t)h->ncpus * sizeof(struct xm_rule_stats));

	b->batch = per < 64 ? 64 : per > XM_BATCH ? XM_BATCH : (__u32)per;
	/* filled by the kernel: no need to zero them */
	b->keys = malloc(b->batch * sizeof(*b->keys));
	b->vals = malloc((size_t)b->batch * h->ncpus * sizeof(struct xm_rule_stats));
	return b->keys && b->vals ? 0 : -1;
}

static void stats_buf_free(struct stats_buf *b)
{
	free(b->keys);
	free(b->vals);
	b->keys = NULL;
	b->vals = NULL;
}

/* Each rule's counters of rules [0, n_rules) (ids ascending), summed
 * over the CPUs: a batch call per batch of ids from the first rule's,
 * else a lookup per rule. buf: the batch buffers to use (a window's, used
 * again: 200 kB freed at the heap's top is given back to the system, and
 * its pages were fresh at every window), or NULL: its own. */
static void read_rule_stats(struct xm_handle *h, struct xm_rule_info *rules, size_t n_rules,
			    struct stats_buf *buf)
{
	int fd = h->fd[XM_MAP_RULE_STATS];
	size_t words = sizeof(struct xm_rule_stats) / sizeof(__u64), r = 0;
	struct stats_buf own = { 0 }, *b = buf;

	if (!b || !b->keys) {
		b = buf ? buf : &own;
		stats_buf_alloc(h, b);
	}
	for (__u32 first = n_rules ? rules[0].id : 0;
	     b->keys && b->vals && r < n_rules && first < XM_MAX_RULES;) {
		/* up to the last rule's id only (a window of rules is a few) */
		__u32 n = rules[n_rules - 1].id - first + 1 < b->batch ?
				  rules[n_rules - 1].id - first + 1 :
				  b->batch;

		if (percpu_array_batch(fd, first, &n, b->keys, b->vals) || !n)
			break;
		for (; r < n_rules && rules[r].id < first + n; r++) {
			const __u64 *v = b->vals + (size_t)(rules[r].id - first) * h->ncpus * words;
			__u64 *sum = (__u64 *)&rules[r].st;

			memset(sum, 0, sizeof(rules[r].st));
			for (int c = 0; c < h->ncpus; c++)
				for (size_t w = 0; w < words; w++)
					sum[w] += v[(size_t)c * words + w];
		}
		first += n;
	}
	/* No batch operations (before 5.6), or no memory: one at a time. */
	for (; r < n_rules; r++)
		xm_read_percpu_u64s(fd, rules[r].id, h->ncpus, &rules[r].st, sizeof(rules[r].st));
	stats_buf_free(&own);
}

/* map_len 0: the kept mapping, which stays */
static void rule_meta_done(const char *base, struct xm_rule_meta *copy, size_t map_len)
{
	if (copy)
		free(copy);
	else if (map_len)
		munmap((void *)base, map_len);
}

__u32 xm_map_id(int fd)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	return fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

struct xm_snapshot_keep *xm_snapshot_keep_new(void)
{
	return calloc(1, sizeof(struct xm_snapshot_keep));
}

void xm_snapshot_keep_drop(struct xm_snapshot_keep *k)
{
	if (!k)
		return;
	if (k->ct_k.map_id && !k->ct_k.busy) {
		xm_ct_close(&k->ct);
		k->ct_k.map_id = 0;
	}
	free(k->rules);
	k->rules = NULL;
	k->rules_cap = 0;
	/* rule_meta is busy while a windowed snapshot (/metrics) uses it */
	if (k->meta_k.map_id && !k->meta_k.busy) {
		munmap((void *)k->meta, k->meta_len);
		k->meta = NULL;
		k->meta_k.map_id = 0;
	}
}

void xm_snapshot_keep_free(struct xm_snapshot_keep *k)
{
	xm_snapshot_keep_drop(k);
	free(k);
}

int xm_snapshot_keep_ct_get(struct xm_snapshot_keep *k, struct xm_handle *h,
			    const struct xm_ct_table **t, char *err, size_t errlen)
{
	__u32 id = xm_map_id(h->fd[XM_MAP_FLOWS]);
	int rc;

	*t = NULL;
	if (!id)
		return 0;
	if (k->ct_k.map_id && k->ct_k.map_id != id) {
		if (k->ct_k.busy)
			return 0; /* the old table is still walked: map one of your own */
		xm_ct_close(&k->ct);
		k->ct_k.map_id = 0;
	}
	if (!k->ct_k.map_id) {
		rc = xm_ct_open_handle(&k->ct, h, 0, err, errlen);
		if (rc)
			return rc;
		k->ct_k.map_id = id;
	}
	k->ct_k.busy++;
	*t = &k->ct;
	return 0;
}

void xm_snapshot_keep_ct_put(struct xm_snapshot_keep *k)
{
	if (k && k->ct_k.busy)
		k->ct_k.busy--;
}

/* rule_meta mapped: the kept mapping (made now if there is none, or if
 * the map is another one), else one for this read (*map_len set: munmap
 * it after). NULL when the map cannot be mapped. */
static const char *meta_map(struct xm_handle *h, struct xm_snapshot_keep *k, size_t *stride,
			    size_t *map_len)
{
	__u32 id;

	*map_len = 0;
	if (!k)
		return xm_rule_meta_map(h, stride, map_len);
	id = xm_map_id(h->fd[XM_MAP_RULE_META]);
	if (k->meta_k.map_id && k->meta_k.map_id != id && k->meta_k.busy)
		return xm_rule_meta_map(h, stride, map_len); /* the old one is still read */
	if (k->meta_k.map_id && k->meta_k.map_id != id) {
		munmap((void *)k->meta, k->meta_len);
		k->meta = NULL;
		k->meta_k.map_id = 0;
	}
	if (!k->meta_k.map_id && id) {
		k->meta = xm_rule_meta_map(h, &k->meta_stride, &k->meta_len);
		if (k->meta)
			k->meta_k.map_id = id;
	}
	if (!k->meta_k.map_id)
		return xm_rule_meta_map(h, stride, map_len);
	*stride = k->meta_stride;
	return k->meta;
}

/* ri: rule id, its metadata m; with text, its `as` list and IPv6
 * addresses too (all6: rule_addrs6 read whole, or NULL: looked up). */
static void rule_fill(struct xm_handle *h, struct xm_rule_info *ri, __u32 id,
		      const struct xm_rule_meta *m, const struct xm_rule_addrs6 *all6, int text)
{
	ri->id = id;
	ri->meta = *m;
	memset(&ri->as, 0, sizeof(ri->as));
	ri->as6.n = 0; /* the rest is read only up to n: 140 bytes a rule not written */
	memset(&ri->from, 0, sizeof(ri->from));
	memset(&ri->addrs6, 0, sizeof(ri->addrs6));
	ri->refused = 0;
	if (!text)
		return;
	/* the list of the family its flows leave by: IPv6 in addr_sets6 */
	if (m->addr_set && xm_flags_leave_v6(m->flags)) {
		__u32 sid = m->addr_set;

		if (h->fd[XM_MAP_ADDR_SETS6] < 0 ||
		    bpf_map_lookup_elem(h->fd[XM_MAP_ADDR_SETS6], &sid, &ri->as6))
			ri->as6.n = 0;
	} else if (m->addr_set) {
		__u32 sid = m->addr_set;

		bpf_map_lookup_elem(h->fd[XM_MAP_ADDR_SETS], &sid, &ri->as);
	}
	if ((m->flags & XM_RULE_V6) && all6)
		ri->addrs6 = all6[id];
	else if ((m->flags & XM_RULE_V6) && h->fd[XM_MAP_RULE_ADDRS6] >= 0)
		bpf_map_lookup_elem(h->fd[XM_MAP_RULE_ADDRS6], &id, &ri->addrs6);
}

/* XM_SNAP_RULE_WINDOW: rule_meta as the read found it (mapped or a
 * copy), held until the snapshot is freed, and a cursor over its ids. */
struct xm_rule_window {
	struct xm_handle *h;
	const char *base;
	size_t stride, map_len; /* map_len: a mapping of its own */
	struct xm_rule_meta *copy;
	struct xm_snapshot_keep *keep; /* base is keep's mapping, marked busy */
	struct xm_src_list *lists;     /* the `from` lists, read once */
	struct stats_buf stats;	       /* the counters' batch buffers */
	__u32 next_id;		       /* where the rule numbered next is looked for */
	size_t next;
	size_t filled; /* entries of s->rules filled (their from.pfx to free) */
};

/* s's window over rule_meta at base (stride, map_len, copy as the read
 * made them: the window owns them now). 0, or -1 without memory (the
 * caller lets go of base). */
static int window_new(struct xm_handle *h, struct xm_snapshot_keep *k, struct xm_snapshot *s,
		      const char *base, size_t stride, size_t map_len, struct xm_rule_meta *copy)
{
	struct xm_rule_window *w = calloc(1, sizeof(*w));

	s->rules = calloc(XM_RULE_WINDOW, sizeof(*s->rules)); /* from.pfx NULL */
	if (!w || !s->rules) {
		free(w);
		free(s->rules);
		s->rules = NULL;
		return -1;
	}
	s->rules_cap = XM_RULE_WINDOW;
	*w = (struct xm_rule_window){ .h = h,
				      .base = base,
				      .stride = stride,
				      .map_len = map_len,
				      .copy = copy,
				      .next_id = 1 };
	if (k && !copy && !map_len && base == k->meta) {
		w->keep = k;
		k->meta_k.busy++;
	}
	s->win = w;
	return 0;
}

static void window_free_entries(struct xm_snapshot *s)
{
	for (size_t i = 0; i < s->win->filled; i++) {
		free(s->rules[i].from.pfx);
		memset(&s->rules[i].from, 0, sizeof(s->rules[i].from));
	}
	s->win->filled = 0;
}

static void window_free(struct xm_snapshot *s)
{
	struct xm_rule_window *w = s->win;

	window_free_entries(s);
	xm_allow_lists_free(w->lists);
	stats_buf_free(&w->stats);
	if (w->keep)
		w->keep->meta_k.busy--;
	else
		rule_meta_done(w->base, w->copy, w->map_len);
	free(w);
	s->win = NULL;
}

const struct xm_rule_info *xm_snapshot_rules_at(struct xm_snapshot *s, size_t from, size_t *n,
						unsigned what)
{
	struct xm_rule_window *w = s->win;
	size_t want = from < s->n_rules ? s->n_rules - from : 0, got = 0;
	__u32 id;

	if (want > *n)
		want = *n;
	if (!w) {
		*n = want;
		return s->rules + from;
	}
	if (want > XM_RULE_WINDOW)
		want = XM_RULE_WINDOW;
	window_free_entries(s);
	if (from != w->next) { /* not the window after the last: count from the start */
		w->next_id = 1;
		w->next = 0;
	}
	for (id = w->next_id; id < XM_MAX_RULES && got < want; id++) {
		const struct xm_rule_meta *m =
			(const struct xm_rule_meta *)(w->base + (size_t)id * w->stride);

		if (!m->in_use)
			continue;
		if (w->next < from) { /* before the window asked for */
			w->next++;
			continue;
		}
		if (what & (XM_RULES_AT_TEXT | XM_RULES_AT_FROM))
			rule_fill(w->h, &s->rules[got], id, m, NULL, !!(what & XM_RULES_AT_TEXT));
		else /* the counters' families read the id and st only */
			s->rules[got].id = id;
		got++;
		w->next++;
	}
	w->next_id = id;
	w->filled = got;
	if (what & XM_RULES_AT_STATS)
		read_rule_stats(w->h, s->rules, got, &w->stats);
	if ((what & (XM_RULES_AT_TEXT | XM_RULES_AT_FROM)) &&
	    read_rule_lists(w->h, s->rules, got, &w->lists)) {
		w->filled = got; /* their lists so far are freed with the window */
		return NULL;
	}
	*n = got;
	return s->rules;
}

/* What NIC ii says now against its entry, judged as the follower judges
 * it (xm_nic_changes). A NIC that cannot be read is left as it is: the
 * follower reports that. */
static void nic_compare(struct xm_iface_info *ii)
{
	char err[160];

	if (!xm_ifinfo_read(ii->name, &ii->nic, err, sizeof(err)))
		ii->nic_changed = xm_nic_changes(&ii->iface, &ii->nic);
}

int xm_snapshot_read_rules(struct xm_handle *h, struct xm_snapshot *s, char *err, size_t errlen)
{
	return xm_snapshot_read_rules_opts(h, NULL, s, err, errlen);
}

int xm_snapshot_read_rules_opts(struct xm_handle *h, const struct xm_snapshot_opts *o,
				struct xm_snapshot *s, char *err, size_t errlen)
{
	static const struct xm_snapshot_opts none;
	__u32 zero = 0, key, walked, *prev = NULL;

	if (!o)
		o = &none;
	memset(s, 0, sizeof(*s));
	if (bpf_map_lookup_elem(h->fd[XM_MAP_CONFIG], &zero, &s->config)) {
		snprintf(err, errlen, "%s/config: %s", h->pin_dir, strerror(errno));
		return -1;
	}
	for (__u32 id = 0; id < XM_C_MAX; id++)
		xm_read_percpu_u64s(h->fd[XM_MAP_COUNTERS], id, h->ncpus, &s->counters[id],
				    sizeof(s->counters[id]));

	s->ifaces = calloc(XM_MAX_IFACES, sizeof(*s->ifaces));
	if (!s->ifaces)
		goto oom;
	while (s->n_ifaces < XM_MAX_IFACES &&
	       bpf_map_get_next_key(h->fd[XM_MAP_IFACES], prev, &key) == 0) {
		struct xm_iface_info *ii = &s->ifaces[s->n_ifaces];

		if (bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &key, &ii->iface) == 0) {
			/* Gone: deleted (the follower marked it), or its
			 * ifindex no longer exists (nothing followed it). */
			ii->gone = (ii->iface.flags & XM_IFACE_GONE) ||
				   !if_indextoname(key, ii->name);
			if (ii->gone && xm_iface_name_get(h->pin_dir, ii->iface.slot, ii->name))
				snprintf(ii->name, sizeof(ii->name), "#%u", key);
			ii->xdp_prog_id = xm_xdp_prog_id((int)key);
			ii->tc_prog_id = xm_tc_prog_id((int)key);
			ii->tx_path = (ii->iface.flags & XM_IFACE_XDP_TX_OK) ? "xdp" : "tc";
			xm_read_percpu_u64s(h->fd[XM_MAP_IFACE_STATS], ii->iface.slot, h->ncpus,
					    &ii->st, sizeof(ii->st));
			xm_iface6_get(h, ii->iface.slot, ii->addr6);
			if (!ii->gone)
				nic_compare(ii);
			s->n_ifaces++;
		}
		walked = key;
		prev = &walked;
	}

	{
		/* rule_meta read where it is (mapped), else copied */
		size_t in_use = 0, n6 = 0, map_len = 0, stride = sizeof(struct xm_rule_meta);
		const char *base;
		struct xm_rule_meta *copy = NULL;
		struct xm_rule_addrs6 *all6 = NULL; /* rule_addrs6 whole, when worth it */

		base = meta_map(h, o->keep, &stride, &map_len);
		if (!base) {
			copy = malloc(XM_MAX_RULES * sizeof(*copy));
			if (!copy)
				goto oom;
			xm_read_rule_meta(h, copy);
			base = (const char *)copy;
			stride = sizeof(*copy);
		}
#define META(id) ((const struct xm_rule_meta *)(base + (size_t)(id)*stride))
		/* The array at its size at once (16 MB at 100,000 rules: grown
		 * 64 rules at a time, it was moved 1,500 times). */
		if (o->flags & (XM_SNAP_RULE_COUNTS | XM_SNAP_RULE_WINDOW)) {
			/* status: how many, and their port entries (below) */
			for (__u32 id = 1; id < XM_MAX_RULES; id++) {
				const struct xm_rule_meta *m = META(id);

				if (!m->in_use)
					continue;
				s->n_rules++;
				if (!(m->flags & XM_RULE_MASQUERADE))
					s->rule_ports += (unsigned long)m->from_port_hi -
							 m->from_port_lo + 1;
			}
			if ((o->flags & XM_SNAP_RULE_COUNTS) ||
			    window_new(h, o->keep, s, base, stride, map_len, copy))
				rule_meta_done(base, copy, map_len);
			if ((o->flags & XM_SNAP_RULE_WINDOW) && !s->win)
				goto oom;
			goto rules_done;
		}
		for (__u32 id = 1; id < XM_MAX_RULES; id++) {
			in_use += !!META(id)->in_use;
			n6 += META(id)->in_use && (META(id)->flags & XM_RULE_V6);
		}
		if (n6 > XM_ADDRS6_BATCH_FROM) {
			all6 = malloc(XM_MAX_RULES * sizeof(*all6));
			if (all6 && xm_rule_addrs6_read_all(h, all6)) {
				free(all6);
				all6 = NULL;
			}
		}
		if (o->keep && o->keep->rules && o->keep->rules_cap >= (in_use ? in_use : 1)) {
			/* the array of the last read: its pages are there */
			s->rules = o->keep->rules;
			s->rules_cap = o->keep->rules_cap;
			o->keep->rules = NULL;
		} else {
			/* kept: room for some more rules next time */
			s->rules_cap = (in_use ? in_use : 1) + (o->keep ? in_use / 16 : 0);
			s->rules = malloc(s->rules_cap * sizeof(*s->rules));
		}
		if (!s->rules) {
			rule_meta_done(base, copy, map_len);
			free(all6);
			goto oom;
		}
		xm_hugepage_hint(s->rules, s->rules_cap * sizeof(*s->rules));
		for (__u32 id = 1; id < XM_MAX_RULES && s->n_rules < in_use; id++) {
			const struct xm_rule_meta *m = META(id);
			struct xm_rule_info *ri = &s->rules[s->n_rules];

			if (!m->in_use)
				continue;
			/* The port entries a forward puts in each rule
			 * generation: one per port of its range (apply.c).
			 * Counted here, not by walking the rules hash: that
			 * walk (half a million buckets) cost more than the
			 * rest of the snapshot. */
			if (!(m->flags & XM_RULE_MASQUERADE))
				s->rule_ports +=
					(unsigned long)m->from_port_hi - m->from_port_lo + 1;
			rule_fill(h, ri, id, m, all6, 1);
			s->n_rules++;
		}
#undef META
		rule_meta_done(base, copy, map_len);
		free(all6);
		read_rule_stats(h, s->rules, s->n_rules, NULL);
		{
			struct xm_src_list *lists = NULL;
			int rc = read_rule_lists(h, s->rules, s->n_rules, &lists);

			xm_allow_lists_free(lists);
			if (rc)
				goto oom;
		}
	}
rules_done:

	if (bpf_map_lookup_elem(h->fd[XM_MAP_SWEEPER], &zero, &s->sweep))
		memset(&s->sweep, 0, sizeof(s->sweep));
	s->flows6 = xm_ct6_count(h);
	s->flows6_max = xm_ct6_max(h);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	xm_snapshot_free(s);
	return -1;
}

int xm_snapshot_read(struct xm_handle *h, struct xm_snapshot *s, char *err, size_t errlen)
{
	return xm_snapshot_read_opts(h, NULL, s, err, errlen);
}

int xm_snapshot_read_opts(struct xm_handle *h, const struct xm_snapshot_opts *o,
			  struct xm_snapshot *s, char *err, size_t errlen)
{
	struct xm_ct_table t;
	char ct_err[256];
	int rc = xm_snapshot_read_rules_opts(h, o, s, err, errlen);

	if (rc || (o && (o->flags & XM_SNAP_NO_FLOWS)))
		return rc;
	if (xm_census_sources(h, &s->sources, &s->flows_max) == 0) {
		s->flows = s->sources.flows;
		return 0;
	}
	if (xm_ct_open_handle(&t, h, 0, ct_err, sizeof(ct_err)) == 0) {
		if (xm_ct_sources(&t, &s->sources) == 0)
			s->flows = s->sources.flows;
		else
			s->flows = xm_ct_count(&t, 1);
		s->flows_max = XM_CT_FLOWS_OF(t.nslots);
		xm_ct_close(&t);
	}
	return 0;
}

void xm_snapshot_free(struct xm_snapshot *s)
{
	xm_snapshot_free_keep(NULL, s);
}

void xm_snapshot_free_keep(struct xm_snapshot_keep *k, struct xm_snapshot *s)
{
	if (s->win) { /* a window: its entries only, and not an array to keep */
		window_free(s);
		k = NULL;
		s->n_rules = 0;
	}
	for (size_t i = 0; s->rules && i < s->n_rules; i++)
		free(s->rules[i].from.pfx);
	if (k && s->rules && !k->rules) {
		k->rules = s->rules;
		k->rules_cap = s->rules_cap;
		s->rules = NULL;
	}
	free(s->ifaces);
	free(s->rules);
	s->ifaces = NULL;
	s->rules = NULL;
}
