// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Masquerade ports in use per (protocol, masquerade address, peer), from
 * the mapped flow table, and the peers that ran out (map port_exhausted). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

/* UDP skips the router's ephemeral ports: the part of [slo, shi] within
 * [lo, hi], as bpf/ports.h's xm_ct_claim_port computes it. 0 if none. */
static uint32_t udp_skip(const struct xm_config *cfg, uint32_t *slo, uint32_t *shi)
{
	uint32_t lo = cfg->port_lo, hi = cfg->port_hi;

	*slo = cfg->local_port_lo;
	*shi = cfg->local_port_hi;
	if (!*shi || *slo > hi || *shi < lo)
		return 0;
	if (*slo < lo)
		*slo = lo;
	if (*shi > hi)
		*shi = hi;
	return *shi - *slo + 1;
}

uint32_t xm_port_capacity(const struct xm_config *cfg, uint8_t proto)
{
	uint32_t range, skip = 0, slo, shi;

	if (cfg->port_hi < cfg->port_lo)
		return 0;
	range = (uint32_t)cfg->port_hi - cfg->port_lo + 1;
	if (proto == 17 /* UDP */)
		skip = udp_skip(cfg, &slo, &shi);
	return range > skip ? range - skip : 0;
}

/* Whether a random port pick could have given `port` (in host order). */
static int port_in_capacity(const struct xm_config *cfg, uint8_t proto, uint32_t port)
{
	uint32_t slo, shi;

	if (port < cfg->port_lo || port > cfg->port_hi)
		return 0;
	return proto != 17 || !udp_skip(cfg, &slo, &shi) || port < slo || port > shi;
}

/* The groups seen so far: open addressing, linear probing, a power of two
 * of slots, at most half full. */
struct group_set {
	struct xm_port_group *g;
	size_t cap, n;
};

static size_t peer_hash(const struct xm_port_peer *p, size_t cap)
{
	uint64_t w0 = ((uint64_t)p->peer << 32) | p->addr;
	uint64_t w1 = ((uint64_t)p->peer_port << 8) | p->proto;

	return (size_t)(xm_ct_hash(w0, w1, 0) & (cap - 1));
}

static int same_peer(const struct xm_port_peer *a, const struct xm_port_peer *b)
{
	return a->peer == b->peer && a->addr == b->addr && a->peer_port == b->peer_port &&
	       a->proto == b->proto;
}

static struct xm_port_group *group_find(struct group_set *s, const struct xm_port_peer *p)
{
	size_t i = peer_hash(p, s->cap);

	while (s->g[i].capacity && !same_peer(&s->g[i].peer, p))
		i = (i + 1) & (s->cap - 1);
	return &s->g[i];
}

/* Doubles the set; -1 when out of memory. */
static int group_grow(struct group_set *s)
{
	struct group_set big = { .cap = s->cap ? s->cap * 2 : 256 };

	big.g = calloc(big.cap, sizeof(*big.g));
	if (!big.g)
		return -1;
	for (size_t i = 0; i < s->cap; i++)
		if (s->g[i].capacity)
			*group_find(&big, &s->g[i].peer) = s->g[i];
	big.n = s->n;
	free(s->g);
	*s = big;
	return 0;
}

/* Busiest first: the larger share, then more flows, then the peer. */
static int busier(const struct xm_port_group *a, const struct xm_port_group *b)
{
	if (a->share != b->share)
		return a->share > b->share;
	if (a->in_use != b->in_use)
		return a->in_use > b->in_use;
	return memcmp(&a->peer, &b->peer, sizeof(a->peer)) < 0;
}

/* Keeps the XM_PORT_USE_BUSIEST busiest groups, in order. */
static void keep_if_busy(struct xm_port_use *pu, const struct xm_port_group *g)
{
	size_t i = pu->n_busiest;

	if (i == XM_PORT_USE_BUSIEST) {
		if (!busier(g, &pu->busiest[i - 1]))
			return;
		i--;
	} else {
		pu->n_busiest++;
	}
	for (; i > 0 && busier(g, &pu->busiest[i - 1]); i--)
		pu->busiest[i] = pu->busiest[i - 1];
	pu->busiest[i] = *g;
}

/* The groups; with st, the flows' sources on the same walk. */
static int scan(const struct xm_ct_table *t, const struct xm_config *cfg, struct xm_port_use *pu,
		struct xm_source_tally *st, char *err, size_t errlen)
{
	struct group_set set = { 0 };

	pu->groups = pu->over_warn = 0;
	pu->n_busiest = 0;
	if (group_grow(&set))
		goto oom;
	/* Each flow by its ORIG entry: its flags say keep-source, and the
	 * reply key follows from it (xm_flow_partner_key) without a lookup.
	 * A 6->4 flow by its stub, whose key is the reply key: its port is
	 * one of the IPv4 ports (its source is IPv6: not in st). */
	for (size_t i = 0; i < t->nslots; i++) {
		const struct xm_ct_slot *s = &t->slots[i];
		struct xm_flow f = s->flow;
		struct xm_flow_key rk;
		struct xm_port_peer p;
		struct xm_port_group *g;

		if (!xm_ct_slot_live(s))
			continue;
		if (xm_ct_is_stub(&f)) {
			rk = s->key;
		} else {
			if (f.flags & XM_FLOW_REPLY)
				continue;
			if (st)
				xm_source_tally_add(st, s->key.saddr);
			if (f.flags & XM_FLOW_KEEP_SOURCE)
				continue;
			xm_flow_partner_key(&f, s->key.proto, &rk);
		}
		p = (struct xm_port_peer){
			.peer = rk.saddr,
			.addr = rk.daddr,
			.peer_port = rk.proto == 1 /* ICMP */ ? 0 : rk.sport,
			.proto = rk.proto,
		};
		g = group_find(&set, &p);
		if (!g->capacity) {
			if (2 * (set.n + 1) > set.cap) {
				if (group_grow(&set))
					goto oom;
				g = group_find(&set, &p);
			}
			g->peer = p;
			/* 0 marks a free slot: a group of capacity 0 is kept
			 * as 1 here and put right below. */
			g->capacity = xm_port_capacity(cfg, p.proto) ?: 1;
			set.n++;
		}
		g->in_use++;
		if (port_in_capacity(cfg, p.proto, ntohs(rk.dport)))
			g->in_range++;
	}
	for (size_t i = 0; i < set.cap; i++) {
		struct xm_port_group *g = &set.g[i];

		if (!g->capacity)
			continue;
		g->capacity = xm_port_capacity(cfg, g->peer.proto);
		g->share = g->capacity ? (double)g->in_range / g->capacity : 1.0;
		if (g->share > XM_PORT_USE_WARN)
			pu->over_warn++;
		keep_if_busy(pu, g);
	}
	pu->groups = set.n;
	free(set.g);
	return 0;
oom:
	free(set.g);
	snprintf(err, errlen, "flow table: out of memory counting the ports in use");
	return -1;
}

int xm_port_use_scan(const struct xm_ct_table *t, const struct xm_config *cfg,
		     struct xm_port_use *pu, char *err, size_t errlen)
{
	return scan(t, cfg, pu, NULL, err, errlen);
}

static int most_drops_first(const void *a, const void *b)
{
	const struct xm_port_exhaustion *x = a, *y = b;

	if (x->drops != y->drops)
		return x->drops < y->drops ? 1 : -1;
	return x->ago_s < y->ago_s ? -1 : x->ago_s > y->ago_s;
}

/* Every entry of port_exhausted, most drops first. */
static int read_exhausted(struct xm_handle *h, struct xm_port_use *pu, char *err, size_t errlen)
{
	int fd = h->fd[XM_MAP_PORT_EXHAUSTED];
	struct xm_port_peer key, next, *prev = NULL;
	struct xm_port_exhausted v;
	struct timespec ts;
	uint32_t now;

	/* The data plane's clock: bpf_ktime_get_coarse_ns(). */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint32_t)ts.tv_sec;
	if (fd < 0)
		return 0; /* attached by a build without the map (xm_open) */
	pu->exhausted = calloc(XM_MAX_PORT_EXHAUSTED, sizeof(*pu->exhausted));
	if (!pu->exhausted) {
		snprintf(err, errlen, "%s/port_exhausted: out of memory reading it", h->pin_dir);
		return -1;
	}
	while (pu->n_exhausted < XM_MAX_PORT_EXHAUSTED &&
	       bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
			struct xm_port_exhaustion *e = &pu->exhausted[pu->n_exhausted++];

			e->peer = next;
			e->drops = v.drops;
			e->ago_s = now > v.last_s ? now - v.last_s : 0;
		}
		key = next;
		prev = &key;
	}
	qsort(pu->exhausted, pu->n_exhausted, sizeof(*pu->exhausted), most_drops_first);
	return 0;
}

/* The groups of table t (with table_slots slots: t may be a census of
 * it) into pu; with s, its flows and their sources into s too, from the
 * same walk. */
static int port_use_scan(const struct xm_ct_table *t, size_t table_slots,
			 const struct xm_config *cfg, struct xm_port_use *pu, struct xm_snapshot *s,
			 size_t max_sources, char *err, size_t errlen)
{
	struct xm_source_tally st;
	int rc;

	if (s && xm_source_tally_start(&st, max_sources, &s->sources)) {
		snprintf(err, errlen, "flow table: out of memory counting the sources");
		return -1;
	}
	rc = scan(t, cfg, pu, s ? &st : NULL, err, errlen);
	if (s) {
		xm_source_tally_end(&st);
		s->flows = s->sources.flows;
		s->flows_max = XM_CT_FLOWS_OF(table_slots);
	}
	return rc;
}

/* port_use_scan over the table mapped for this scan. */
static int port_use_scan_mapped(struct xm_handle *h, const struct xm_config *cfg,
				struct xm_port_use *pu, struct xm_snapshot *s, char *err,
				size_t errlen)
{
	struct xm_ct_table own;
	int rc = xm_ct_open_handle(&own, h, 0, err, errlen);

	if (rc)
		return rc;
	rc = port_use_scan(&own, own.nslots, cfg, pu, s, xm_ct_max_sources(&own), err, errlen);
	xm_ct_close(&own);
	return rc;
}

/* The port use; with s, the flows and their sources into s too, from the
 * same walk of the table: kept, the table mapped already; else the
 * kernel's census of it, or the table mapped here for this read. */
static int port_use_read(struct xm_handle *h, const struct xm_ct_table *kept,
			 struct xm_port_use *pu, struct xm_snapshot *s, char *err, size_t errlen)
{
	struct xm_census census;
	struct xm_config cfg;
	__u32 zero = 0;
	int rc;

	memset(pu, 0, sizeof(*pu));
	if (bpf_map_lookup_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg)) {
		snprintf(err, errlen, "%s/config: cannot read it: %s", h->pin_dir, strerror(errno));
		return -1;
	}
	if (kept) {
		rc = port_use_scan(kept, kept->nslots, &cfg, pu, s, xm_ct_max_sources(kept), err,
				   errlen);
	} else if (xm_census_take(h, &census) == 0) {
		rc = port_use_scan(&census.view, census.table_slots, &cfg, pu, s,
				   census.view.nslots, err, errlen);
		/* another reader's run wrote over it: read the table */
		if (xm_census_give(&census) && rc == 0)
			rc = port_use_scan_mapped(h, &cfg, pu, s, err, errlen);
	} else {
		rc = port_use_scan_mapped(h, &cfg, pu, s, err, errlen);
	}
	if (rc == 0)
		rc = read_exhausted(h, pu, err, errlen);
	if (rc)
		xm_port_use_free(pu);
	return rc;
}

int xm_port_use_read(struct xm_handle *h, struct xm_port_use *pu, char *err, size_t errlen)
{
	return port_use_read(h, NULL, pu, NULL, err, errlen);
}

/* The walk of the flow table, in a thread of its own while the rules are
 * read and, for /metrics, while their series are sent: the two are about
 * as long (100,000 rules, the default table: each 20-30 ms, most of it
 * first touches of mapped and fresh pages) and share nothing but the
 * handle's map fds. It fills pu and part's flow fields. */
struct xm_snapshot_walk {
	struct xm_handle *h;
	struct xm_snapshot_keep *keep; /* kept is its table, busy: put it back */
	const struct xm_ct_table *kept;
	struct xm_snapshot *s;
	struct xm_port_use *pu;
	struct xm_snapshot part;
	pthread_t thread;
	int threaded;
	char err[512];
	int rc;
};

static void *walk_run(void *arg)
{
	struct xm_snapshot_walk *w = arg;

	w->rc = port_use_read(w->h, w->kept, w->pu, &w->part, w->err, sizeof(w->err));
	return NULL;
}

/* The walk's end: 0 with its result in w->pu (free it), or w->rc. */
static int walk_wait(struct xm_snapshot_walk *w)
{
	if (w->threaded)
		pthread_join(w->thread, NULL);
	else
		walk_run(w); /* no thread: one after the other */
	if (w->kept)
		xm_snapshot_keep_ct_put(w->keep);
	return w->rc;
}

int xm_snapshot_start(struct xm_handle *h, const struct xm_snapshot_opts *o, struct xm_snapshot *s,
		      struct xm_port_use *pu, struct xm_snapshot_walk **wp, char *err,
		      size_t errlen)
{
	struct xm_snapshot_walk *w = calloc(1, sizeof(*w));
	int rc;

	*wp = NULL;
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->h = h;
	w->s = s;
	w->pu = pu;
	/* With the census the walk maps no table: none to keep. */
	if (o && o->keep && h->fd[XM_MAP_CENSUS] < 0) {
		rc = xm_snapshot_keep_ct_get(o->keep, h, &w->kept, err, errlen);
		if (rc) {
			free(w);
			return rc;
		}
		w->keep = o->keep;
	}
	w->threaded = pthread_create(&w->thread, NULL, walk_run, w) == 0;
	rc = xm_snapshot_read_rules_opts(h, o, s, err, errlen);
	if (rc) {
		if (walk_wait(w) == 0)
			xm_port_use_free(pu);
		free(w);
		return rc;
	}
	*wp = w;
	return 0;
}

int xm_snapshot_finish(struct xm_snapshot_walk *w, char *err, size_t errlen)
{
	int rc = walk_wait(w);

	if (rc) {
		snprintf(err, errlen, "%s", w->err);
		xm_snapshot_free(w->s);
	} else {
		w->s->sources = w->part.sources;
		w->s->flows = w->part.flows;
		w->s->flows_max = w->part.flows_max;
	}
	free(w);
	return rc;
}

int xm_snapshot_port_use_read(struct xm_handle *h, struct xm_snapshot *s, struct xm_port_use *pu,
			      char *err, size_t errlen)
{
	struct xm_snapshot_walk *w;
	int rc = xm_snapshot_start(h, NULL, s, pu, &w, err, errlen);

	return rc ? rc : xm_snapshot_finish(w, err, errlen);
}

void xm_port_use_free(struct xm_port_use *pu)
{
	free(pu->exhausted);
	pu->exhausted = NULL;
	pu->n_exhausted = 0;
}
