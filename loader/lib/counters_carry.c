// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A newer build may have a counters map with more entries than the one a
 * running router pinned (an older build counted fewer reasons): libbpf
 * cannot reuse a map of another size. Its counts are carried over
 * instead: read before the load, the pin replaced by the new map, and
 * written back once the new program is loaded. Counter ids only grow at
 * the end of XM_COUNTER_LIST, so an id means the same in both. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xmasq_internal.h"

int xm_counters_carry_take(struct xm_counters_carry *c, const char *path, __u32 entries, char *err,
			   size_t errlen)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd;

	memset(c, 0, sizeof(*c));
	c->old_fd = -1;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0; /* not pinned: a fresh map */
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.max_entries == entries) {
		close(fd);
		return 0; /* libbpf reuses it as it is */
	}
	if (info.type != BPF_MAP_TYPE_PERCPU_ARRAY || info.key_size != sizeof(__u32) ||
	    info.value_size != sizeof(struct xm_counter) || info.max_entries > entries) {
		snprintf(err, errlen,
			 "%s: pinned counters map has another layout (attach --fresh starts the "
			 "counters over)",
			 path);
		close(fd);
		return -1;
	}
	c->ncpus = libbpf_num_possible_cpus();
	c->n = info.max_entries;
	c->vals = calloc((size_t)c->n * (c->ncpus > 0 ? c->ncpus : 1), sizeof(*c->vals));
	if (c->ncpus <= 0 || !c->vals) {
		snprintf(err, errlen, "%s: cannot read the counters to carry them over: %s", path,
			 strerror(c->ncpus <= 0 ? -c->ncpus : ENOMEM));
		free(c->vals);
		close(fd);
		return -1;
	}
	for (__u32 id = 0; id < c->n; id++)
		bpf_map_lookup_elem(fd, &id, c->vals + (size_t)id * c->ncpus);
	if (unlink(path)) {
		snprintf(err, errlen, "%s: cannot replace the pinned counters map: %s", path,
			 strerror(errno));
		free(c->vals);
		close(fd);
		return -1;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->old_fd = fd;
	return 0;
}

void xm_counters_carry_put(struct xm_counters_carry *c, int new_fd)
{
	if (c->old_fd < 0)
		return;
	/* Counts the old program added since the read are lost: a few
	 * milliseconds' worth. */
	for (__u32 id = 0; id < c->n; id++)
		bpf_map_update_elem(new_fd, &id, c->vals + (size_t)id * c->ncpus, BPF_ANY);
	close(c->old_fd);
	free(c->vals);
	c->old_fd = -1;
}

void xm_counters_carry_abort(struct xm_counters_carry *c)
{
	if (c->old_fd < 0)
		return;
	bpf_obj_pin(c->old_fd, c->path); /* the running router keeps its map */
	close(c->old_fd);
	free(c->vals);
	c->old_fd = -1;
}
