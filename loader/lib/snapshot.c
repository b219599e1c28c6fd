// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Reading the live state: config, counters, interfaces, rules, flows. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
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
 * call into vals (*n * ncpus values of size bytes, CPU by CPU); *n is how
 * many it read (fewer at the end of the array). 0, or -1 (errno). */
static int percpu_array_batch(int fd, __u32 first, __u32 *n, void *keys, void *vals)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 in = first, out = 0;
	int rc;

	/* An array's batch starts at index in_batch and goes in order. */
	rc = bpf_map_lookup_batch(fd, first ? &in : NULL, &out, keys, vals, n, &opts);
	if (rc && errno == ENOENT)
		return 0; /* the end of the array: *n says how many came */
	return rc;
}

/* Each in-use rule's counters, summed over the CPUs: a batch call per
 * XM_BATCH ids, else a lookup per rule. */
/* The `from` lists of the rules that have one, and their refusals: the
 * trie is read only when some rule names a list. 0, or -1 out of memory. */
static int read_rule_lists(struct xm_handle *h, struct xm_snapshot *s)
{
	struct xm_src_list *lists = NULL;

	for (size_t i = 0; i < s->n_rules; i++) {
		struct xm_rule_info *ri = &s->rules[i];
		__u32 lid = XM_RULE_META_ALLOW(ri->meta.flags);

		if (!lid || (ri->meta.flags & XM_RULE_MASQUERADE))
			continue;
		if (!lists && xm_allow_lists_read(h, &lists, NULL, NULL))
			return -1;
		xm_read_percpu_u64s(h->fd[XM_MAP_RULE_REFUSED], ri->id, h->ncpus, &ri->refused,
				    sizeof(ri->refused));
		if (lid >= XM_ALLOW_LISTS || !lists[lid].n)
			continue;
		ri->from.pfx = malloc(lists[lid].n * sizeof(lists[lid].pfx[0]));
		if (!ri->from.pfx) {
			xm_allow_lists_free(lists);
			return -1;
		}
		memcpy(ri->from.pfx, lists[lid].pfx, lists[lid].n * sizeof(lists[lid].pfx[0]));
		ri->from.n = lists[lid].n;
		ri->from.v6 = lists[lid].v6;
	}
	xm_allow_lists_free(lists);
	return 0;
}

static void read_rule_stats(struct xm_handle *h, struct xm_snapshot *s)
{
	int fd = h->fd[XM_MAP_RULE_STATS];
	size_t words = sizeof(struct xm_rule_stats) / sizeof(__u64), r = 0;
	size_t per = XM_BATCH_BYTES / ((size_t)h->ncpus * sizeof(struct xm_rule_stats));
	__u32 batch = per < 64 ? 64 : per > XM_BATCH ? XM_BATCH : (__u32)per;
	__u32 *keys = calloc(batch, sizeof(*keys));
	__u64 *vals = calloc((size_t)batch * h->ncpus, sizeof(struct xm_rule_stats));

	for (__u32 first = 0; keys && vals && r < s->n_rules && first < XM_MAX_RULES;) {
		__u32 n = batch;

		if (percpu_array_batch(fd, first, &n, keys, vals) || !n)
			break;
		for (; r < s->n_rules && s->rules[r].id < first + n; r++) {
			const __u64 *v = vals + (size_t)(s->rules[r].id - first) * h->ncpus * words;
			__u64 *sum = (__u64 *)&s->rules[r].st;

			memset(sum, 0, sizeof(s->rules[r].st));
			for (int c = 0; c < h->ncpus; c++)
				for (size_t w = 0; w < words; w++)
					sum[w] += v[(size_t)c * words + w];
		}
		first += n;
	}
	/* No batch operations (before 5.6), or no memory: one at a time. */
	for (; r < s->n_rules; r++)
		xm_read_percpu_u64s(fd, s->rules[r].id, h->ncpus, &s->rules[r].st,
				    sizeof(s->rules[r].st));
	free(keys);
	free(vals);
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
	/* rule_meta is only used within a read: never busy here */
	if (k->meta_k.map_id) {
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
		if (o->flags & XM_SNAP_RULE_COUNTS) {
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
			rule_meta_done(base, copy, map_len);
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
			ri->id = id;
			ri->meta = *m;
			memset(&ri->as, 0, sizeof(ri->as));
			if (m->addr_set) {
				__u32 sid = m->addr_set;

				bpf_map_lookup_elem(h->fd[XM_MAP_ADDR_SETS], &sid, &ri->as);
			}
			memset(&ri->from, 0, sizeof(ri->from));
			memset(&ri->addrs6, 0, sizeof(ri->addrs6));
			if ((m->flags & XM_RULE_V6) && all6)
				ri->addrs6 = all6[id];
			else if ((m->flags & XM_RULE_V6) && h->fd[XM_MAP_RULE_ADDRS6] >= 0)
				bpf_map_lookup_elem(h->fd[XM_MAP_RULE_ADDRS6], &id, &ri->addrs6);
			ri->refused = 0;
			s->n_rules++;
		}
#undef META
		rule_meta_done(base, copy, map_len);
		free(all6);
		read_rule_stats(h, s);
		if (read_rule_lists(h, s))
			goto oom;
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
