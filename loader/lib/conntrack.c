// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Reading and flushing the flow table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

/* The clock flows are stamped with, in seconds. */
static uint32_t monotonic_s(void)
{
	struct timespec ts;

	/* The data plane stamps flows with bpf_ktime_get_coarse_ns() (or
	 * the sweeper's copy of it, up to 1 s behind). */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)ts.tv_sec;
}

/* Seconds a flow in this state may stay idle: bpf/sweep.h's rule (xm_flow_timeout). */
static uint32_t flow_timeout_s(const struct xm_config *cfg, uint8_t proto, uint8_t state)
{
	__u32 id = xm_timeout_id(proto, state);

	return cfg->timeouts[id] ? cfg->timeouts[id] : 30;
}

int xm_conntrack_read(struct xm_handle *h, struct xm_conn **out, size_t *n_out, char *err,
		      size_t errlen)
{
	struct xm_ct_table t;
	struct xm_config cfg;
	struct xm_conn *conns = NULL;
	size_t count = 0, cap = 0;
	uint32_t now = monotonic_s();
	__u32 zero = 0;
	int rc;

	*out = NULL;
	*n_out = 0;
	rc = xm_ct_open_handle(&t, h, 0, err, errlen);
	if (rc)
		return rc;
	if (bpf_map_lookup_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg))
		memset(&cfg, 0, sizeof(cfg));
	for (size_t i = 0; i < t.nslots; i++) {
		const struct xm_ct_slot *s = &t.slots[i], *r;
		struct xm_conn *c;
		uint32_t last, timeout;

		if (!xm_ct_slot_live(s) || (s->flow.flags & XM_FLOW_REPLY))
			continue; /* a flow is listed by its ORIG entry */
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct xm_conn *nc = realloc(conns, ncap * sizeof(*nc));

			if (!nc) {
				free(conns);
				xm_ct_close(&t);
				snprintf(err, errlen, "out of memory reading %s/flows", h->pin_dir);
				return -1;
			}
			conns = nc;
			cap = ncap;
		}
		c = &conns[count++];
		memset(c, 0, sizeof(*c));
		c->orig_key = s->key;
		c->orig_key.ct_state = 0;
		c->orig = s->flow;
		xm_flow_partner_key(&s->flow, s->key.proto, &c->reply_key);
		r = xm_ct_lookup(&t, &c->reply_key);
		if (r) {
			c->reply = r->flow;
			c->have_reply = 1;
		}
		last = c->orig.last_seen_s;
		if (c->have_reply && c->reply.last_seen_s > last)
			last = c->reply.last_seen_s;
		/* The packets' clock can be a little ahead of this one. */
		c->idle_s = now > last ? now - last : 0;
		timeout = flow_timeout_s(&cfg, c->orig_key.proto, c->orig.state);
		c->expires_s = c->idle_s < timeout ? timeout - c->idle_s : 0;
	}
	xm_ct_close(&t);
	if (xm_ct6_conns(h, &cfg, now, &conns, &count, err, errlen)) {
		free(conns);
		return -1;
	}
	*out = conns;
	*n_out = count;
	return 0;
}

/* Every NAT mapping goes with the flows: a mapping lives only while its
 * flows do. The next key is read before the current one goes. key, next:
 * room for one key of the map's (IPv4's or IPv6's). */
static void flush_map(int fd, void *key, void *next, size_t key_size)
{
	int have = fd >= 0 && bpf_map_get_next_key(fd, NULL, key) == 0;

	while (have) {
		have = bpf_map_get_next_key(fd, key, next) == 0;
		bpf_map_delete_elem(fd, key);
		memcpy(key, next, key_size);
	}
}

static void flush_nat_mappings(const struct xm_handle *h)
{
	struct xm_nat_key k, next;
	struct xm_nat6_key k6, next6;

	flush_map(h->fd[XM_MAP_NAT_MAPPINGS], &k, &next, sizeof(k));
	flush_map(h->fd[XM_MAP_NAT_MAPPINGS6], &k6, &next6, sizeof(k6));
}

int xm_conntrack_flush(struct xm_handle *h, unsigned long *removed, char *err, size_t errlen)
{
	struct xm_ct_table t;
	struct xm_ct6_table t6;
	long n;
	int rc;

	/* Both tables are checked before either is emptied: an IPv6 table
	 * that cannot be flushed (an older build's, until attach converts
	 * it) leaves the IPv4 flows alone too, rather than half a flush. */
	rc = xm_ct6_open_handle(&t6, h, 1, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == 0)
		xm_ct6_close(&t6);
	rc = xm_ct_open_handle(&t, h, 1, err, errlen);
	if (rc)
		return rc;
	n = xm_ct_clear(&t);
	xm_ct_close(&t);
	flush_nat_mappings(h);
	*removed = n > 0 ? (unsigned long)n / 2 : 0; /* two entries a flow */
	n = xm_ct6_remove_if(h, NULL, NULL, err, errlen);
	if (n < 0)
		return -1;
	*removed += (unsigned long)n;
	return 0;
}

const char *xm_state_name(uint8_t proto, uint8_t state)
{
	switch (state) {
	case XM_ST_SYN_SENT:
		return "syn-sent";
	case XM_ST_ESTABLISHED:
		return "established";
	case XM_ST_FIN:
		return "fin";
	case XM_ST_CLOSE:
		return "close";
	case XM_ST_ASSURED:
		return "assured";
	default:
		return proto == 6 ? "none" : "unreplied";
	}
}
