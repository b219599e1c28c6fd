// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The IPv6 flow table "flows6" (the kernel's hash map, two entries a
 * flow: xmasq_abi.h): read, counted and emptied for conntrack, status
 * and detach. A router attached by an older build has no flows6: every
 * function here then sees an empty table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

#define CT6_BATCH 4096

const char *xm_ip6_str(const __be32 a[4], char *buf, size_t len)
{
	static const __be32 zero[4];

	if (!memcmp(a, zero, sizeof(zero)) || !inet_ntop(AF_INET6, a, buf, (socklen_t)len))
		snprintf(buf, len, "-");
	return buf;
}

/* Every entry of flows6 by batches (5.6+; one call per 4096 entries),
 * else one lookup per key. 0, or -1 out of memory (err). */
int xm_ct6_read(struct xm_handle *h, struct xm_ct6_entries *out, char *err, size_t errlen)
{
	int fd = h->fd[XM_MAP_FLOWS6];
	size_t cap = 0;
	__u32 out_batch = 0, count;
	void *in_batch = NULL;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int rc, done = 0, batch_ok = 1;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return 0;
	while (!done) {
		if (out->n + CT6_BATCH > cap) {
			size_t ncap = cap ? cap * 2 : CT6_BATCH;
			struct xm_flow6_key *nk = realloc(out->keys, ncap * sizeof(*nk));
			struct xm_flow6 *nv = nk ? realloc(out->vals, ncap * sizeof(*nv)) : NULL;

			if (nk)
				out->keys = nk;
			if (!nk || !nv) {
				xm_ct6_free(out);
				snprintf(err, errlen, "out of memory reading %s/flows6",
					 h->pin_dir);
				return -1;
			}
			out->vals = nv;
			cap = ncap;
		}
		count = CT6_BATCH;
		rc = bpf_map_lookup_batch(fd, in_batch, &out_batch, out->keys + out->n,
					  out->vals + out->n, &count, &opts);
		if (rc && errno != ENOENT) {
			batch_ok = 0;
			break;
		}
		out->n += count;
		done = rc != 0; /* ENOENT: the last batch */
		in_batch = &out_batch;
	}
	if (batch_ok)
		return 0;
	/* No batch operations: key by key, each looked up as it is found
	 * (an entry deleted meanwhile is left out). */
	{
		struct xm_flow6_key k, next, *prev = NULL;

		out->n = 0;
		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			k = next;
			prev = &k;
			if (out->n == cap) {
				size_t ncap = cap ? cap * 2 : CT6_BATCH;
				struct xm_flow6_key *nk = realloc(out->keys, ncap * sizeof(*nk));
				struct xm_flow6 *nv = nk ? realloc(out->vals, ncap * sizeof(*nv)) :
							   NULL;

				if (nk)
					out->keys = nk;
				if (!nk || !nv) {
					xm_ct6_free(out);
					snprintf(err, errlen, "out of memory reading %s/flows6",
						 h->pin_dir);
					return -1;
				}
				out->vals = nv;
				cap = ncap;
			}
			if (bpf_map_lookup_elem(fd, &k, &out->vals[out->n]) == 0)
				out->keys[out->n++] = k;
		}
	}
	return 0;
}

void xm_ct6_free(struct xm_ct6_entries *e)
{
	free(e->keys);
	free(e->vals);
	memset(e, 0, sizeof(*e));
}

unsigned long xm_ct6_count(struct xm_handle *h)
{
	struct xm_ct6_entries e;
	unsigned long flows = 0;
	char err[128];

	if (xm_ct6_read(h, &e, err, sizeof(err)))
		return 0;
	for (size_t i = 0; i < e.n; i++)
		flows += !(e.vals[i].flags & XM_FLOW_REPLY); /* a flow by its ORIG entry */
	xm_ct6_free(&e);
	return flows;
}

unsigned long xm_ct6_max(const struct xm_handle *h)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	if (h->fd[XM_MAP_FLOWS6] < 0 || bpf_obj_get_info_by_fd(h->fd[XM_MAP_FLOWS6], &info, &len))
		return 0;
	return info.max_entries / 2; /* two entries a flow */
}

/* source_flows, writable (NULL without it: maps of an older build, or
 * not mappable), and the seed its slots are hashed with. */
static int64_t *source_flows_map(struct xm_handle *h, uint64_t *seed)
{
	size_t len = (size_t)XM_SOURCE_SLOTS * sizeof(int64_t);
	struct xm_config cfg;
	__u32 zero = 0;
	void *mem;

	if (h->fd[XM_MAP_SOURCE_FLOWS] < 0 ||
	    bpf_map_lookup_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg))
		return NULL;
	*seed = cfg.ct_seed;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, h->fd[XM_MAP_SOURCE_FLOWS], 0);
	return mem == MAP_FAILED ? NULL : mem;
}

/* The stub a 6->4 flow holds in the IPv4 table "flows" goes with it:
 * its key is the reply entry's (rkey), addresses unmapped. */
static void remove_stub(struct xm_ct_table *t, int have_table, const struct xm_flow6_key *rkey)
{
	struct xm_flow_key k;

	if (!have_table)
		return;
	memset(&k, 0, sizeof(k));
	k.saddr = rkey->saddr[3];
	k.daddr = rkey->daddr[3];
	k.sport = rkey->sport;
	k.dport = rkey->dport;
	k.proto = rkey->proto;
	xm_ct_remove_stub(t, &k);
}

long xm_ct6_remove_if(struct xm_handle *h,
		      int (*doomed)(const struct xm_flow6_key *k, const struct xm_flow6 *orig,
				    void *arg),
		      void *arg)
{
	struct xm_ct6_entries e;
	struct xm_flow6_key pk;
	struct xm_ct_table t4;
	char err[128];
	long removed = 0;
	uint64_t seed = 0;
	int64_t *sources;
	int have_t4 = 0;

	if (xm_ct6_read(h, &e, err, sizeof(err)))
		return -1;
	sources = e.n ? source_flows_map(h, &seed) : NULL;
	for (size_t i = 0; !have_t4 && i < e.n; i++)
		if (e.vals[i].flags & XM_FLOW6_TO_V4)
			have_t4 = xm_ct_open_handle(&t4, h, 1, err, sizeof(err)) == 0;
	for (size_t i = 0; i < e.n; i++) {
		if ((e.vals[i].flags & XM_FLOW_REPLY) ||
		    (doomed && !doomed(&e.keys[i], &e.vals[i], arg)))
			continue;
		/* The reply entry first: it holds the masquerade port, and
		 * the data plane inserts it first too (xmasq_abi.h). */
		xm_flow6_partner_key(&e.vals[i], e.keys[i].proto, &pk);
		bpf_map_delete_elem(h->fd[XM_MAP_FLOWS6], &pk);
		/* then its stub, which claimed the port among IPv4 flows, as
		 * the IPv6 sweeper does */
		if (e.vals[i].flags & XM_FLOW6_TO_V4)
			remove_stub(&t4, have_t4, &pk);
		if (bpf_map_delete_elem(h->fd[XM_MAP_FLOWS6], &e.keys[i]))
			continue; /* expired meanwhile: the sweeper took its count */
		removed++;
		/* its source holds one flow less, as when the sweeper expires
		 * it (atomic, as the data plane's additions are) */
		for (uint32_t row = 0; sources && row < XM_SOURCE_ROWS; row++)
			__atomic_fetch_sub(
				&sources[xm_source_slot(xm_source6_id(e.keys[i].saddr), seed, row)],
				1, __ATOMIC_SEQ_CST);
	}
	/* A flush also takes reply entries whose original is gone (a half
	 * pair the sweeper has not reached yet). */
	for (size_t i = 0; !doomed && i < e.n; i++)
		if ((e.vals[i].flags & XM_FLOW_REPLY) &&
		    bpf_map_delete_elem(h->fd[XM_MAP_FLOWS6], &e.keys[i]) == 0 &&
		    (e.vals[i].flags & XM_FLOW6_TO_V4))
			remove_stub(&t4, have_t4, &e.keys[i]);
	if (have_t4)
		xm_ct_close(&t4);
	if (sources)
		munmap(sources, (size_t)XM_SOURCE_SLOTS * sizeof(int64_t));
	xm_ct6_free(&e);
	return removed;
}

/* Seconds a flow in this state may stay idle (as conntrack.c). */
static uint32_t flow6_timeout_s(const struct xm_config *cfg, uint8_t proto, uint8_t state)
{
	__u32 id = xm_timeout_id(proto, state);

	return cfg->timeouts[id] ? cfg->timeouts[id] : 30;
}

int xm_ct6_conns(struct xm_handle *h, const struct xm_config *cfg, uint32_t now,
		 struct xm_conn **conns, size_t *n, char *err, size_t errlen)
{
	struct xm_ct6_entries e;
	size_t flows = 0, at = *n;
	struct xm_conn *all;

	if (xm_ct6_read(h, &e, err, errlen))
		return -1;
	for (size_t i = 0; i < e.n; i++)
		flows += !(e.vals[i].flags & XM_FLOW_REPLY);
	if (!flows) {
		xm_ct6_free(&e);
		return 0;
	}
	all = realloc(*conns, (*n + flows) * sizeof(*all));
	if (!all) {
		xm_ct6_free(&e);
		snprintf(err, errlen, "out of memory reading %s/flows6", h->pin_dir);
		return -1;
	}
	*conns = all;
	for (size_t i = 0; i < e.n; i++) {
		struct xm_conn *c;
		uint32_t last, timeout;

		if (e.vals[i].flags & XM_FLOW_REPLY)
			continue; /* listed by its ORIG entry */
		c = &all[at++];
		memset(c, 0, sizeof(*c));
		c->v6 = 1;
		c->orig6_key = e.keys[i];
		c->orig6 = e.vals[i];
		xm_flow6_partner_key(&e.vals[i], e.keys[i].proto, &c->reply6_key);
		/* looked up, not searched for in what was read: one call */
		if (bpf_map_lookup_elem(h->fd[XM_MAP_FLOWS6], &c->reply6_key, &c->reply6) == 0)
			c->have_reply = 1;
		c->orig_key.proto = e.keys[i].proto;
		c->orig.state = e.vals[i].state;
		c->orig.rule_id = e.vals[i].rule_id;
		last = c->orig6.last_seen_s;
		if (c->have_reply && c->reply6.last_seen_s > last)
			last = c->reply6.last_seen_s;
		c->idle_s = now > last ? now - last : 0;
		timeout = flow6_timeout_s(cfg, e.keys[i].proto, c->orig6.state);
		c->expires_s = c->idle_s < timeout ? timeout - c->idle_s : 0;
	}
	*n = at;
	xm_ct6_free(&e);
	return 0;
}
