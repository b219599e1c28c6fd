// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The IPv6 flow table "flows6" (our own table, two entries a flow:
 * xmasq_abi.h, ct6_table.c): read, counted and emptied for conntrack,
 * status and detach. A router attached by an older build has no
 * flows6: every function here then sees an empty table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

const char *xm_ip6_str(const __be32 a[4], char *buf, size_t len)
{
	static const __be32 zero[4];

	if (!memcmp(a, zero, sizeof(zero)) || !inet_ntop(AF_INET6, a, buf, (socklen_t)len))
		snprintf(buf, len, "-");
	return buf;
}

unsigned long xm_ct6_count(struct xm_handle *h)
{
	struct xm_ct6_table t;
	unsigned long flows;
	char err[256];

	/* an older build's hash map (before attach converts it) reads as
	 * empty here; conntrack says why */
	if (xm_ct6_open_handle(&t, h, 0, err, sizeof(err)))
		return 0;
	flows = xm_ct6_table_count(&t, 1); /* a flow by its ORIG entry */
	xm_ct6_close(&t);
	return flows;
}

unsigned long xm_ct6_max(const struct xm_handle *h)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	if (h->fd[XM_MAP_FLOWS6] < 0 || bpf_obj_get_info_by_fd(h->fd[XM_MAP_FLOWS6], &info, &len))
		return 0;
	if (info.type != BPF_MAP_TYPE_ARRAY)
		return info.max_entries / 2; /* an older build's hash map: two entries a flow */
	return info.max_entries > XM_CT_PROBES ? XM_CT_FLOWS_OF(info.max_entries) : 0;
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
 * its key is the reply entry's (rkey), addresses unmapped. The IPv4
 * table is opened when the first such flow goes (*t4_state: 0 not yet,
 * 1 open, -1 cannot be). */
static void remove_stub(struct xm_handle *h, struct xm_ct_table *t4, int *t4_state,
			const struct xm_flow6_key *rkey)
{
	struct xm_flow_key k;
	char err[256];

	if (*t4_state == 0)
		*t4_state = xm_ct_open_handle(t4, h, 1, err, sizeof(err)) == 0 ? 1 : -1;
	if (*t4_state < 0)
		return;
	memset(&k, 0, sizeof(k));
	k.saddr = rkey->saddr[3];
	k.daddr = rkey->daddr[3];
	k.sport = rkey->sport;
	k.dport = rkey->dport;
	k.proto = rkey->proto;
	xm_ct_remove_stub(t4, &k);
}

/* Removes the live slot s if it still holds key k: 0, or -1. */
static int remove_slot_of(struct xm_ct6_slot *s, const struct xm_flow6_key *k)
{
	struct xm_flow6_key now;
	struct xm_flow6 f;

	if (!xm_ct6_slot_copy(s, &now, &f) || memcmp(&now, k, sizeof(now)))
		return -1;
	return xm_ct6_slot_remove(s);
}

long xm_ct6_remove_if(struct xm_handle *h,
		      int (*doomed)(const struct xm_flow6_key *k, const struct xm_flow6 *orig,
				    void *arg),
		      void *arg, char *err, size_t errlen)
{
	struct xm_ct6_table t;
	struct xm_ct_table t4;
	struct xm_flow6_key k, pk;
	struct xm_flow6 f;
	long removed = 0;
	uint64_t seed = 0;
	int64_t *sources = NULL;
	int t4_state = 0, rc = xm_ct6_open_handle(&t, h, 1, err, errlen);

	if (rc)
		return rc == 1 ? 0 : -1;
	for (size_t i = 0; i < t.nslots; i++) {
		if (!xm_ct6_slot_copy(&t.slots[i], &k, &f) || (f.flags & XM_FLOW_REPLY) ||
		    (doomed && !doomed(&k, &f, arg)))
			continue;
		/* The reply entry first: it holds the masquerade port, and
		 * the data plane inserts it first too (xmasq_abi.h). */
		xm_flow6_partner_key(&f, k.proto, &pk);
		xm_ct6_delete(&t, &pk);
		/* then its stub, which claimed the port among IPv4 flows, as
		 * the IPv6 sweeper does */
		if (f.flags & XM_FLOW6_TO_V4)
			remove_stub(h, &t4, &t4_state, &pk);
		if (remove_slot_of(&t.slots[i], &k))
			continue; /* expired meanwhile: the sweeper took its count */
		removed++;
		/* its source holds one flow less, as when the sweeper expires
		 * it (atomic, as the data plane's additions are) */
		if (!sources)
			sources = source_flows_map(h, &seed);
		for (uint32_t row = 0; sources && row < XM_SOURCE_ROWS; row++)
			__atomic_fetch_sub(
				&sources[xm_source_slot(xm_source6_id(k.saddr), seed, row)], 1,
				__ATOMIC_SEQ_CST);
	}
	/* A flush also takes reply entries whose original is gone (a half
	 * pair the sweeper has not reached yet). */
	for (size_t i = 0; !doomed && i < t.nslots; i++)
		if (xm_ct6_slot_copy(&t.slots[i], &k, &f) && (f.flags & XM_FLOW_REPLY) &&
		    remove_slot_of(&t.slots[i], &k) == 0 && (f.flags & XM_FLOW6_TO_V4))
			remove_stub(h, &t4, &t4_state, &k);
	if (t4_state > 0)
		xm_ct_close(&t4);
	if (sources)
		munmap(sources, (size_t)XM_SOURCE_SLOTS * sizeof(int64_t));
	xm_ct6_close(&t);
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
	struct xm_ct6_table t;
	size_t cap = *n, at = *n;
	struct xm_conn *all = *conns;
	int rc = xm_ct6_open_handle(&t, h, 0, err, errlen);

	if (rc)
		return rc == 1 ? 0 : -1;
	for (size_t i = 0; i < t.nslots; i++) {
		struct xm_flow6_key k, rk;
		struct xm_flow6 f;
		const struct xm_ct6_slot *r;
		struct xm_conn *c;
		uint32_t last, timeout;

		if (!xm_ct6_slot_copy(&t.slots[i], &k, &f) || (f.flags & XM_FLOW_REPLY))
			continue; /* listed by its ORIG entry */
		if (at == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct xm_conn *nc = realloc(all, ncap * sizeof(*nc));

			if (!nc) {
				*conns = all;
				*n = at;
				xm_ct6_close(&t);
				snprintf(err, errlen, "out of memory reading %s/flows6",
					 h->pin_dir);
				return -1;
			}
			all = nc;
			cap = ncap;
		}
		c = &all[at++];
		memset(c, 0, sizeof(*c));
		c->v6 = 1;
		c->orig6_key = k;
		c->orig6 = f;
		xm_flow6_partner_key(&f, k.proto, &c->reply6_key);
		r = xm_ct6_lookup(&t, &c->reply6_key);
		if (r && xm_ct6_slot_copy(r, &rk, &c->reply6))
			c->have_reply = 1;
		c->orig_key.proto = c->orig6_key.proto;
		c->orig.state = f.state;
		c->orig.rule_id = f.rule_id;
		last = c->orig6.last_seen_s;
		if (c->have_reply && c->reply6.last_seen_s > last)
			last = c->reply6.last_seen_s;
		c->idle_s = now > last ? now - last : 0;
		timeout = flow6_timeout_s(cfg, c->orig6_key.proto, c->orig6.state);
		c->expires_s = c->idle_s < timeout ? timeout - c->idle_s : 0;
	}
	*conns = all;
	*n = at;
	xm_ct6_close(&t);
	return 0;
}
