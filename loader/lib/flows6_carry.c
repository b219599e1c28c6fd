// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* flows6 was the kernel's hash map until 2026-12-02 (xmasq_abi.h): a
 * router attached by such a build has it pinned in that shape, which the
 * new program cannot use. Its entries are carried into the new table
 * instead of being dropped, so that an upgrade keeps the IPv6
 * connections: the pin is replaced by the new map before the load (the
 * old map stays open), and the old map is read and its entries inserted
 * once the new program is loaded, just before it is swapped in, so that
 * flows the old program makes while the new one is verified (a second or
 * so) are carried too. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xmasq_internal.h"

#define CARRY_BATCH 4096

/* Room for n + more entries: 0, or -1 out of memory. */
static int carry_grow(struct xm_flows6_carry *c, size_t *cap, size_t more)
{
	size_t ncap = *cap ? *cap : CARRY_BATCH;
	struct xm_flow6_key *nk;
	unsigned char *nv;

	if (c->n + more <= *cap)
		return 0;
	while (ncap < c->n + more)
		ncap *= 2;
	nk = realloc(c->keys, ncap * sizeof(*nk));
	if (!nk)
		return -1;
	c->keys = nk;
	nv = realloc(c->vals, ncap * XM_FLOW6_HASHED_SIZE);
	if (!nv)
		return -1;
	c->vals = nv;
	*cap = ncap;
	return 0;
}

/* Every entry of hash map fd: by batches (5.6+), else key by key (an
 * entry deleted meanwhile is left out). 0, or -1 out of memory. */
static int read_old(struct xm_flows6_carry *c, int fd)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct xm_flow6_key k, next, *prev = NULL;
	__u32 out_batch = 0, count;
	void *in_batch = NULL;
	size_t cap = 0;
	int rc;

	for (;;) {
		if (carry_grow(c, &cap, CARRY_BATCH))
			return -1;
		count = CARRY_BATCH;
		rc = bpf_map_lookup_batch(fd, in_batch, &out_batch, c->keys + c->n,
					  c->vals + c->n * XM_FLOW6_HASHED_SIZE, &count, &opts);
		if (rc && errno != ENOENT)
			break; /* no batch operations: key by key below */
		c->n += count;
		if (rc)
			return 0; /* ENOENT: that was the last batch */
		in_batch = &out_batch;
	}
	c->n = 0;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (carry_grow(c, &cap, 1))
			return -1;
		if (bpf_map_lookup_elem(fd, &k, c->vals + c->n * XM_FLOW6_HASHED_SIZE) == 0)
			c->keys[c->n++] = k;
	}
	return 0;
}

static void carry_free(struct xm_flows6_carry *c)
{
	free(c->keys);
	free(c->vals);
	c->keys = NULL;
	c->vals = NULL;
	c->n = 0;
}

int xm_flows6_carry_take(struct xm_flows6_carry *c, const char *path, char *err, size_t errlen)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd;

	memset(c, 0, sizeof(*c));
	c->old_fd = -1;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0; /* not pinned: a fresh table */
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_MAP_TYPE_HASH ||
	    info.key_size != sizeof(struct xm_flow6_key) ||
	    info.value_size != XM_FLOW6_HASHED_SIZE) {
		close(fd);
		return 0; /* the new table (libbpf reuses it), or refused at the load */
	}
	if (unlink(path)) {
		snprintf(err, errlen,
			 "%s: cannot replace the pinned IPv6 flow table of the previous build: %s "
			 "(attach --fresh starts the flows over)",
			 path, strerror(errno));
		carry_free(c);
		close(fd);
		return -1;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->old_fd = fd;
	return 0;
}

size_t xm_flows6_carry_put(struct xm_flows6_carry *c, int new_fd, uint64_t seed, FILE *log)
{
	struct xm_ct6_table t;
	size_t carried = 0, full = 0;
	char err[256];

	if (c->old_fd < 0)
		return 0;
	/* Flows the old program adds or changes from here to the swap are
	 * not carried: a few milliseconds' worth. */
	if (read_old(c, c->old_fd)) {
		if (log)
			fprintf(log,
				"%s: out of memory reading the previous build's IPv6 flows: they "
				"are dropped\n",
				c->path);
	} else if (xm_ct6_open(&t, new_fd, seed, 1, err, sizeof(err))) {
		if (log)
			fprintf(log, "%s: the %zu IPv6 flow entries are dropped: %s\n", c->path,
				c->n, err);
	} else {
		for (size_t i = 0; i < c->n; i++) {
			struct xm_flow6 v = { 0 }; /* untagged: what that build knew */
			int rc;

			memcpy(&v, c->vals + i * XM_FLOW6_HASHED_SIZE, XM_FLOW6_HASHED_SIZE);
			rc = xm_ct6_insert(&t, &c->keys[i], &v);

			if (rc == 0)
				carried++;
			else if (rc != -EEXIST)
				full++;
		}
		xm_ct6_close(&t);
		if (log && full)
			fprintf(log,
				"%s: %zu IPv6 flow entries carried into the new table, %zu did not "
				"fit (their connections start over)\n",
				c->path, carried, full);
		else if (log)
			fprintf(log, "%s: %zu IPv6 flow entries carried into the new table\n",
				c->path, carried);
	}
	close(c->old_fd);
	c->old_fd = -1;
	carry_free(c);
	return carried;
}

void xm_flows6_carry_abort(struct xm_flows6_carry *c)
{
	if (c->old_fd < 0)
		return;
	bpf_obj_pin(c->old_fd, c->path); /* the running router keeps its table */
	close(c->old_fd);
	c->old_fd = -1;
	carry_free(c);
}
