// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The flow census (xmasq_abi.h): the kernel walks the flow table and
 * copies out the entries a reader looks at, so that status and /metrics
 * need not map the whole table (a fresh mapping costs a first touch of
 * every page: 25 ms for the default table on some VMs, 2-4 ms walked in
 * the kernel). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xmasq_internal.h"
#include "census.skel.h"

int xm_census_load(int flows_fd, int groups_fd, int census_fd, const char *pin_path, char *err,
		   size_t errlen)
{
	struct census_bpf *skel = census_bpf__open();
	int rc;

	unlink(pin_path); /* an older program, on maps this attach may replace */
	if (!skel) {
		snprintf(err, errlen, "cannot open the census' BPF object: %s", strerror(errno));
		return -1;
	}
	rc = bpf_map__reuse_fd(skel->maps.flows, flows_fd);
	if (!rc)
		rc = bpf_map__reuse_fd(skel->maps.sweep_groups, groups_fd);
	if (!rc)
		rc = bpf_map__reuse_fd(skel->maps.census, census_fd);
	if (!rc)
		rc = census_bpf__load(skel);
	if (!rc)
		rc = bpf_program__pin(skel->progs.xmasq_census, pin_path);
	if (rc)
		snprintf(err, errlen, "%s", strerror(-rc));
	census_bpf__destroy(skel);
	return rc ? -1 : 0;
}

/* A token no other reader holds now: this process's, and its count. */
static uint32_t census_token(void)
{
	static uint32_t runs;
	uint32_t n = __atomic_add_fetch(&runs, 1, __ATOMIC_RELAXED);

	return ((uint32_t)getpid() * 2654435761u ^ n * 40503u) | 1;
}

/* The pinned census program, if it works on h's own flows and census
 * maps: a pin left by a newer build over maps an older one replaced since
 * (attach --fresh) would walk a table no one uses any more. */
static int census_prog(const struct xm_handle *h)
{
	char path[PATH_MAX + 64];
	__u32 ids[8], len, want_flows = xm_map_id(h->fd[XM_MAP_FLOWS]),
			   want_census = xm_map_id(h->fd[XM_MAP_CENSUS]);
	struct bpf_prog_info info;
	int fd, seen = 0;

	snprintf(path, sizeof(path), "%s/%s", h->pin_dir, XM_PIN_PROG_CENSUS);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (__u64)(unsigned long)ids;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		for (__u32 i = 0; i < info.nr_map_ids && i < sizeof(ids) / sizeof(ids[0]); i++)
			seen |= (want_flows && ids[i] == want_flows) |
				(want_census && ids[i] == want_census) << 1;
	if (seen != 3) {
		close(fd);
		return -1;
	}
	return fd;
}

int xm_census_take(struct xm_handle *h, struct xm_census *c)
{
	struct xm_census_run run = { 0 };
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info), zero = 0;
	struct xm_config cfg;
	long page = sysconf(_SC_PAGESIZE);
	int prog, rc;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &run, .ctx_size_in = sizeof(run));

	memset(c, 0, sizeof(*c));
	if (h->fd[XM_MAP_CENSUS] < 0 || bpf_map_lookup_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg) ||
	    cfg.layout_version != XM_LAYOUT_VERSION ||
	    bpf_obj_get_info_by_fd(h->fd[XM_MAP_FLOWS], &info, &len))
		return -1; /* maps of another build: the mapped walk says why */
	prog = census_prog(h);
	if (prog < 0)
		return -1;
	run.token = census_token();
	rc = bpf_prog_test_run_opts(prog, &opts);
	close(prog);
	if (rc || opts.retval != 0 || run.result != 0)
		return -1; /* busy (another reader), or more entries than it holds */
	c->token = run.token;
	c->table_slots = info.max_entries;
	c->len = ((1 + (size_t)run.entries) * sizeof(struct xm_ct_slot) + page - 1) / page * page;
	c->mem = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_SHARED, h->fd[XM_MAP_CENSUS], 0);
	if (c->mem == MAP_FAILED) {
		c->mem = NULL;
		xm_census_give(c);
		return -1;
	}
	c->view.slots = (struct xm_ct_slot *)c->mem + 1;
	c->view.nslots = run.entries;
	c->view.homes = info.max_entries - (XM_CT_PROBES - 1);
	c->view.seed = cfg.ct_seed;
	return 0;
}

/* The head's owner, as one 32-bit word: compared and swapped atomically
 * against the data plane's run, which does the same. */
static uint32_t *census_owner(void *mem)
{
	return &((struct xm_census_head *)mem)->owner;
}

int xm_census_give(struct xm_census *c)
{
	uint32_t want = c->token;
	int intact = 0;

	if (c->mem) {
		/* Still ours: nobody took it (and wrote over the entries)
		 * while they were read. */
		intact = __atomic_compare_exchange_n(census_owner(c->mem), &want, 0, 0,
						     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		munmap(c->mem, c->len);
	}
	memset(c, 0, sizeof(*c));
	return intact ? 0 : -1;
}

int xm_census_sources(struct xm_handle *h, struct xm_ct_sources *out, unsigned long *flows_max)
{
	struct xm_census c;
	int rc;

	if (xm_census_take(h, &c))
		return -1;
	rc = xm_ct_sources_of(&c.view, c.view.nslots, out);
	*flows_max = XM_CT_FLOWS_OF(c.table_slots);
	return xm_census_give(&c) || rc ? -1 : 0;
}
