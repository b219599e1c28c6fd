// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Opening the pinned maps of one router instance. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xmasq_internal.h"

#define XM_MAP_PIN_NAME(id, name) [XM_MAP_##id] = #name,
const char *const xm_map_pin_names[XM_MAP_MAX] = { XM_MAP_LIST(XM_MAP_PIN_NAME) };
#undef XM_MAP_PIN_NAME

#define XM_COUNTER_NAME(id, name, help) [XM_C_##id] = name,
#define XM_COUNTER_HELP(id, name, help) [XM_C_##id] = help,
const char *const xm_counter_names[XM_C_MAX] = { XM_COUNTER_LIST(XM_COUNTER_NAME) };
const char *const xm_counter_help[XM_C_MAX] = { XM_COUNTER_LIST(XM_COUNTER_HELP) };
#undef XM_COUNTER_NAME
#undef XM_COUNTER_HELP

/* Whether pin_dir holds anything: some pins, so a missing one was removed. */
static int pin_dir_has_pins(const char *pin_dir)
{
	DIR *d = opendir(pin_dir);
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d)))
		found = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return found;
}

/* Whether pin_dir (or, when it does not exist, its parent) is on bpffs. */
static int on_bpffs(const char *pin_dir)
{
	char parent[PATH_MAX];
	struct statfs st;

	if (statfs(pin_dir, &st) == 0)
		return st.f_type == BPF_FS_MAGIC;
	snprintf(parent, sizeof(parent), "%s", pin_dir);
	return statfs(dirname(parent), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

int xm_map_optional(int id)
{
	switch (id) {
	case XM_MAP_PORT_EXHAUSTED:
	case XM_MAP_NAT_MAPPINGS:
	case XM_MAP_SCRATCH:
	case XM_MAP_TIME_WAITS:
	case XM_MAP_TIME_WAIT_TS:
	case XM_MAP_PROGS6:
	case XM_MAP_RULES6:
	case XM_MAP_RULE_ADDRS6:
	case XM_MAP_IFACE_ADDRS6:
	case XM_MAP_FLOWS6:
	case XM_MAP_MASQ_RULES6:
	case XM_MAP_SWEEPER6:
	case XM_MAP_SWEEP6_GROUPS:
	case XM_MAP_PROGS46:
	case XM_MAP_PROGS6_XDP:
	case XM_MAP_FRAGS6:
	case XM_MAP_CENSUS:
	case XM_MAP_REFRAG:
	case XM_MAP_ADDR_SETS6:
	case XM_MAP_PROGS4:
	case XM_MAP_NAT_MAPPINGS6:
		return 1;
	default:
		return 0;
	}
}

int xm_open(struct xm_handle *h, const char *pin_dir, char *err, size_t errlen)
{
	char path[PATH_MAX + 64];
	struct xm_config cfg;
	__u32 zero = 0;

	memset(h, 0, sizeof(*h));
	for (int i = 0; i < XM_MAP_MAX; i++)
		h->fd[i] = -1;
	snprintf(h->pin_dir, sizeof(h->pin_dir), "%s", pin_dir);
	h->ncpus = libbpf_num_possible_cpus();
	if (h->ncpus <= 0) {
		snprintf(err, errlen, "cannot count possible CPUs: %s", strerror(-h->ncpus));
		return -1;
	}
	for (int i = 0; i < XM_MAP_MAX; i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, xm_map_pin_names[i]);
		h->fd[i] = bpf_obj_get(path);
		if (h->fd[i] < 0) {
			int e = errno;

			/* Added within layout 2: a router attached by an older
			 * build has none until attached again, and the readers
			 * go without it (status must not fail on an upgrade). */
			if (e == ENOENT && xm_map_optional(i))
				continue;
			/* A map this layout added, missing: maps of an older one. */
			if (e == ENOENT && i > XM_MAP_CONFIG &&
			    bpf_map_lookup_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg) == 0 &&
			    cfg.layout_version != XM_LAYOUT_VERSION)
				break;
			xm_close(h);
			if (e == ENOENT && pin_dir_has_pins(pin_dir))
				snprintf(err, errlen,
					 "%s: pinned map missing (removed by hand?): the router's "
					 "maps "
					 "are incomplete; run: xmasq attach --fresh IFACE... "
					 "(drops "
					 "flows and counters), then apply the rules again",
					 path);
			else if (e == ENOENT && !on_bpffs(pin_dir))
				snprintf(err, errlen,
					 "%s: xmasq is not attached here: no bpffs is mounted on "
					 "/sys/fs/bpf (xmasq attach mounts it; or: mount -t bpf "
					 "bpf "
					 "/sys/fs/bpf)",
					 pin_dir);
			else if (e == ENOENT)
				snprintf(err, errlen,
					 "%s: xmasq is not attached here (no pinned maps; run: "
					 "xmasq attach IFACE...)",
					 pin_dir);
			else
				snprintf(err, errlen, "%s: %s", path, strerror(e));
			return -1;
		}
	}
	if (bpf_map_lookup_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg)) {
		snprintf(err, errlen, "%s/%s: %s", pin_dir, xm_map_pin_names[XM_MAP_CONFIG],
			 strerror(errno));
		xm_close(h);
		return -1;
	}
	if (cfg.layout_version == 0) {
		snprintf(err, errlen,
			 "%s: an attach did not finish (the maps were never configured): run "
			 "xmasq attach IFACE... again",
			 pin_dir);
		xm_close(h);
		return -1;
	}
	if (cfg.layout_version != XM_LAYOUT_VERSION) {
		snprintf(err, errlen,
			 "%s: maps have layout version %u, this xmasq uses %u (attach --migrate "
			 "IFACE... converts them%s)",
			 pin_dir, cfg.layout_version, XM_LAYOUT_VERSION,
			 cfg.layout_version == 1 ? "" :
						   " if it knows how; attach --fresh starts over");
		xm_close(h);
		return -1;
	}
	return 0;
}

void xm_close(struct xm_handle *h)
{
	for (int i = 0; i < XM_MAP_MAX; i++) {
		if (h->fd[i] >= 0)
			close(h->fd[i]);
		h->fd[i] = -1;
	}
}

/* The rule_meta array read through a read-only mapping when the map was
 * made BPF_F_MMAPABLE: a memory copy instead of a kernel copy per entry
 * (each about 0.2 us: 131072 of them were most of a small apply). 0, or
 * -1 when the map cannot be mapped. */
void xm_hugepage_hint(void *p, size_t len)
{
	size_t huge = 2u << 20;
	uintptr_t start = ((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1);
	uintptr_t end = ((uintptr_t)p + len) & ~(uintptr_t)(huge - 1);

	/* only whole huge pages inside the buffer; without THP, EINVAL */
	if (len >= 4 * huge && end > start)
		madvise((void *)start, end - start, MADV_HUGEPAGE);
}

const void *xm_rule_meta_map(struct xm_handle *h, size_t *stride, size_t *len)
{
	struct bpf_map_info info = { 0 };
	__u32 info_len = sizeof(info);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p;

	if (bpf_obj_get_info_by_fd(h->fd[XM_MAP_RULE_META], &info, &info_len) ||
	    !(info.map_flags & BPF_F_MMAPABLE) || info.max_entries < XM_MAX_RULES ||
	    info.value_size != sizeof(struct xm_rule_meta))
		return NULL;
	*stride = (sizeof(struct xm_rule_meta) + 7) & ~(size_t)7; /* an array's element size */
	*len = ((size_t)info.max_entries * *stride + page - 1) & ~(page - 1);
	p = mmap(NULL, *len, PROT_READ, MAP_SHARED, h->fd[XM_MAP_RULE_META], 0);
	return p == MAP_FAILED ? NULL : p;
}

static int read_rule_meta_mmap(struct xm_handle *h, struct xm_rule_meta *all)
{
	size_t stride, len;
	const char *p = xm_rule_meta_map(h, &stride, &len);

	if (!p)
		return -1;
	for (size_t id = 0; id < XM_MAX_RULES; id++)
		memcpy(&all[id], p + id * stride, sizeof(*all));
	munmap((void *)p, len);
	return 0;
}

void xm_read_rule_meta(struct xm_handle *h, struct xm_rule_meta *all)
{
	__u32 *keys;
	__u32 count = XM_MAX_RULES, out_batch = 0;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int rc;

	if (read_rule_meta_mmap(h, all) == 0)
		return;
	keys = calloc(XM_MAX_RULES, sizeof(*keys));
	/* One batch call instead of XM_MAX_RULES lookups (5.6+); the array
	 * returns every index in order. */
	if (keys) {
		rc = bpf_map_lookup_batch(h->fd[XM_MAP_RULE_META], NULL, &out_batch, keys, all,
					  &count, &opts);
		if ((rc == 0 || errno == ENOENT) && count == XM_MAX_RULES) {
			free(keys);
			return;
		}
		free(keys);
	}
	for (__u32 id = 0; id < XM_MAX_RULES; id++)
		if (bpf_map_lookup_elem(h->fd[XM_MAP_RULE_META], &id, &all[id]))
			all[id].in_use = 0;
}

__u32 xm_meta_stamp(struct xm_handle *h)
{
	struct xm_rule_meta m;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(h->fd[XM_MAP_RULE_META], &zero, &m))
		return 0;
	return m.line;
}

void xm_meta_stamp_bump(struct xm_handle *h)
{
	struct xm_rule_meta m = { 0 };
	__u32 zero = 0;

	m.line = xm_meta_stamp(h) + 1;
	bpf_map_update_elem(h->fd[XM_MAP_RULE_META], &zero, &m, BPF_ANY);
}

int xm_iface_keys(struct xm_handle *h, __u32 keys[XM_MAX_IFACES])
{
	__u32 *prev = NULL;
	int n = 0;

	while (n < XM_MAX_IFACES &&
	       bpf_map_get_next_key(h->fd[XM_MAP_IFACES], prev, &keys[n]) == 0) {
		prev = &keys[n];
		n++;
	}
	return n;
}

int xm_iface_store(struct xm_handle *h, const struct xm_iface *v)
{
	__u32 slot = v->slot;

	__u32 ifindex = v->ifindex;

	if (bpf_map_update_elem(h->fd[XM_MAP_IFACE_SLOTS], &slot, v, BPF_ANY))
		return -1;
	if (ifindex < XM_IFINDEX_DIRECT &&
	    bpf_map_update_elem(h->fd[XM_MAP_IFACE_INDEX], &ifindex, v, BPF_ANY))
		return -1;
	return bpf_map_update_elem(h->fd[XM_MAP_IFACES], &v->ifindex, v, BPF_ANY);
}

int xm_iface6_store(struct xm_handle *h, __u8 slot, const __be32 addr[4])
{
	struct xm_iface6 v;
	__u32 key = slot;

	if (h->fd[XM_MAP_IFACE_ADDRS6] < 0)
		return 0; /* maps of an older attach: no IPv6 yet */
	memcpy(v.addr, addr, sizeof(v.addr));
	return bpf_map_update_elem(h->fd[XM_MAP_IFACE_ADDRS6], &key, &v, BPF_ANY) ? -1 : 0;
}

int xm_iface6_get(const struct xm_handle *h, __u8 slot, __be32 addr[4])
{
	struct xm_iface6 v;
	__u32 key = slot;

	memset(addr, 0, sizeof(v.addr));
	if (h->fd[XM_MAP_IFACE_ADDRS6] < 0 ||
	    bpf_map_lookup_elem(h->fd[XM_MAP_IFACE_ADDRS6], &key, &v))
		return -1;
	memcpy(addr, v.addr, sizeof(v.addr));
	return 0;
}

void xm_iface_forget(struct xm_handle *h, __u32 ifindex)
{
	struct xm_iface v, none = { 0 };
	static const __be32 no_addr6[4];
	__u32 slot;

	if (bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &ifindex, &v) == 0) {
		slot = v.slot;
		bpf_map_update_elem(h->fd[XM_MAP_IFACE_SLOTS], &slot, &none, BPF_ANY);
		xm_iface6_store(h, v.slot, no_addr6); /* the slot's next NIC starts clean */
	}
	if (ifindex < XM_IFINDEX_DIRECT)
		bpf_map_update_elem(h->fd[XM_MAP_IFACE_INDEX], &ifindex, &none, BPF_ANY);
	bpf_map_delete_elem(h->fd[XM_MAP_IFACES], &ifindex);
}

long xm_map_delete_if(int fd, size_t key_size, int (*doomed)(int fd, const void *key, void *arg),
		      void *arg)
{
	unsigned char cur[64], next[64], *keys = NULL;
	size_t n = 0, cap = 0;
	void *prev = NULL;
	long deleted = 0;

	if (key_size > sizeof(cur))
		return -1;
	/* Collect first: deleting while walking a hash restarts the walk. */
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(cur, next, key_size);
		prev = cur;
		if (!doomed(fd, next, arg))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			unsigned char *nk = realloc(keys, ncap * key_size);

			if (!nk)
				break;
			keys = nk;
			cap = ncap;
		}
		memcpy(keys + n++ * key_size, next, key_size);
	}
	for (size_t i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, keys + i * key_size) == 0)
			deleted++;
	free(keys);
	return deleted;
}
