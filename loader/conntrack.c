// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Reading and flushing the flow table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "xmasq.h"

uint32_t xm_monotonic_s(void)
{
	struct timespec ts;

	/* The data plane stamps flows with bpf_ktime_get_coarse_ns(). */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)ts.tv_sec;
}

/* Every key of the flows map; the caller frees *keys. */
static int flow_keys(struct xm_handle *h, struct xm_flow_key **keys, size_t *n)
{
	struct xm_flow_key cur, next, *prev = NULL;
	size_t cap = 0;

	*keys = NULL;
	*n = 0;
	while (bpf_map_get_next_key(h->fd[XM_MAP_FLOWS], prev, &next) == 0) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct xm_flow_key *nk = realloc(*keys, ncap * sizeof(*nk));

			if (!nk) {
				free(*keys);
				*keys = NULL;
				return -1;
			}
			*keys = nk;
			cap = ncap;
		}
		(*keys)[(*n)++] = next;
		cur = next;
		prev = &cur;
	}
	return 0;
}

int xm_conntrack_read(struct xm_handle *h, struct xm_conn **out, size_t *n_out,
		      char *err, size_t errlen)
{
	struct xm_flow_key *keys;
	struct xm_conn *conns;
	size_t n, count = 0;

	*out = NULL;
	*n_out = 0;
	if (flow_keys(h, &keys, &n)) {
		snprintf(err, errlen, "out of memory reading %s/flows", h->pin_dir);
		return -1;
	}
	conns = calloc(n ? n : 1, sizeof(*conns));
	if (!conns) {
		free(keys);
		snprintf(err, errlen, "out of memory reading %s/flows", h->pin_dir);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct xm_conn *c = &conns[count];
		struct xm_flow_key pk = {0};

		if (bpf_map_lookup_elem(h->fd[XM_MAP_FLOWS], &keys[i], &c->orig))
			continue; /* expired meanwhile */
		if (c->orig.flags & XM_FLOW_REPLY)
			continue; /* listed with its ORIG entry */
		c->orig_key = keys[i];
		pk.saddr = c->orig.new_daddr;
		pk.daddr = c->orig.new_saddr;
		pk.sport = c->orig.new_dport;
		pk.dport = c->orig.new_sport;
		pk.proto = keys[i].proto;
		c->reply_key = pk;
		c->have_reply = bpf_map_lookup_elem(h->fd[XM_MAP_FLOWS], &pk, &c->reply) == 0;
		count++;
	}
	free(keys);
	*out = conns;
	*n_out = count;
	return 0;
}

static int any_key(int fd, const void *key, void *arg)
{
	(void)fd; (void)key; (void)arg;
	return 1;
}

int xm_conntrack_flush(struct xm_handle *h, unsigned long *removed, char *err, size_t errlen)
{
	long n = xm_map_delete_if(h->fd[XM_MAP_FLOWS], sizeof(struct xm_flow_key), any_key, NULL);

	(void)err; (void)errlen;
	*removed = n > 0 ? (unsigned long)n / 2 : 0; /* two entries a flow */
	return 0;
}

const char *xm_state_name(uint8_t proto, uint8_t state)
{
	switch (state) {
	case XM_ST_SYN_SENT: return "syn-sent";
	case XM_ST_ESTABLISHED: return "established";
	case XM_ST_FIN: return "fin";
	case XM_ST_CLOSE: return "close";
	case XM_ST_ASSURED: return "assured";
	default: return proto == 6 ? "none" : "unreplied";
	}
}
