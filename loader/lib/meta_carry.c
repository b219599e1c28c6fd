// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* rule_meta became BPF_F_MMAPABLE (the library reads the whole array as
 * memory: apply, status). A router attached by an older build pinned it
 * without the flag, and libbpf reuses a pin only with the same flags, so
 * a plain attach would fail to load. Its entries are carried over
 * instead, as the counters are (counters_carry.c): read before the load,
 * the pin replaced by the new map, written back once the new program is
 * loaded and before it is attached. The rules, their ids and so their
 * counters and flows stay as they were. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xmasq_internal.h"

int xm_meta_carry_take(struct xm_meta_carry *c, const char *path, __u32 flags, __u32 entries,
		       char *err, size_t errlen)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd;

	memset(c, 0, sizeof(*c));
	c->old_fd = -1;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0; /* not pinned: a fresh map */
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.map_flags == flags) {
		close(fd);
		return 0; /* libbpf reuses it as it is */
	}
	if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != sizeof(__u32) ||
	    info.value_size != sizeof(struct xm_rule_meta) || info.max_entries != entries) {
		snprintf(err, errlen,
			 "%s: pinned rule_meta map has another layout (attach --fresh starts over: "
			 "apply the rules again)",
			 path);
		close(fd);
		return -1;
	}
	c->n = info.max_entries;
	c->vals = calloc(c->n, sizeof(*c->vals));
	if (!c->vals) {
		snprintf(err, errlen, "%s: cannot read the rules to carry them over: %s", path,
			 strerror(ENOMEM));
		close(fd);
		return -1;
	}
	for (__u32 id = 0; id < c->n; id++)
		if (bpf_map_lookup_elem(fd, &id, &c->vals[id]))
			c->vals[id].in_use = 0;
	if (unlink(path)) {
		snprintf(err, errlen, "%s: cannot replace the pinned rule_meta map: %s", path,
			 strerror(errno));
		free(c->vals);
		close(fd);
		return -1;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->old_fd = fd;
	return 0;
}

int xm_meta_carry_put(struct xm_meta_carry *c, int new_fd, char *err, size_t errlen)
{
	if (c->old_fd < 0)
		return 0;
	/* No apply runs during an attach: the entries read are the live ones. */
	for (__u32 id = 0; id < c->n; id++) {
		if (!c->vals[id].in_use)
			continue;
		if (bpf_map_update_elem(new_fd, &id, &c->vals[id], BPF_ANY)) {
			snprintf(err, errlen, "%s: cannot carry rule %u over: %s", c->path, id,
				 strerror(errno));
			return -1;
		}
	}
	close(c->old_fd);
	free(c->vals);
	c->old_fd = -1;
	return 0;
}

void xm_meta_carry_abort(struct xm_meta_carry *c)
{
	if (c->old_fd < 0)
		return;
	unlink(c->path);		 /* a new map pinned by a load that failed later */
	bpf_obj_pin(c->old_fd, c->path); /* the running router keeps its map */
	close(c->old_fd);
	free(c->vals);
	c->old_fd = -1;
}
