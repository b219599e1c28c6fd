// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* attach --migrate: pinned maps of layout 1 (a kernel hash map of flows,
 * before the flow table of bpf/ct.h) into this layout. The maps whose
 * shape did not change are reused as they are; config and flows are
 * converted, and frags (a few milliseconds of fragment state) starts
 * over. The old pins are set aside first and put back if anything fails,
 * so a failed upgrade leaves the running router as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

/* Layout 1, as older builds pinned it. */
struct xm_config_v1 {
	__u32 layout_version;
	__u32 active_gen;
	__u16 port_lo, port_hi;
	__u32 ct_max;
	__u32 flags;
	__u32 timeouts[XM_TO_MAX];
	__u16 local_port_lo, local_port_hi;
};

struct xm_flow_key_v1 {
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u8 proto;
	__u8 _pad[3];
};

struct xm_flow_v1 {
	__be32 new_saddr, new_daddr;
	__be16 new_sport, new_dport;
	__u32 out_ifindex;
	__u8 out_dmac[6];
	__u8 out_smac[6];
	__u16 out_vlan;
	__u8 flags, state;
	__u32 rule_id;
	__u8 in_slot, out_slot;
	__u16 _pad;
	__u32 created_s, last_seen_s;
	__u64 packets, bytes;
};

_Static_assert(sizeof(struct xm_config_v1) == 52, "layout 1 config is 52 bytes");
_Static_assert(sizeof(struct xm_flow_key_v1) == 16, "layout 1 flow key is 16 bytes");
_Static_assert(sizeof(struct xm_flow_v1) == 64, "layout 1 flow is 64 bytes");

/* The pins whose shape changed, set aside under NAME_layout1 (bpffs refuses dots). */
static const enum xm_map_id changed_maps[] = { XM_MAP_CONFIG, XM_MAP_FLOWS, XM_MAP_FRAGS,
					       XM_MAP_SWEEPER };
#define N_CHANGED (sizeof(changed_maps) / sizeof(changed_maps[0]))

static void pin_path(char *buf, size_t len, const char *dir, const char *name, int aside)
{
	snprintf(buf, len, "%s/%s%s", dir, name, aside ? "_layout1" : "");
}

int xm_migrate_prepare(const char *pin_dir, struct xm_migration *m, char *err, size_t errlen)
{
	char from[PATH_MAX + 64], to[PATH_MAX + 80];
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info), zero = 0;

	memset(m, 0, sizeof(*m));
	m->flows_fd = -1;
	snprintf(m->pin_dir, sizeof(m->pin_dir), "%s", pin_dir);
	pin_path(from, sizeof(from), pin_dir, xm_map_pin_names[XM_MAP_FLOWS], 0);
	m->flows_fd = bpf_obj_get(from);
	if (m->flows_fd < 0 || bpf_obj_get_info_by_fd(m->flows_fd, &info, &len) ||
	    info.type != BPF_MAP_TYPE_HASH || info.key_size != sizeof(struct xm_flow_key_v1) ||
	    info.value_size != sizeof(struct xm_flow_v1)) {
		snprintf(err, errlen,
			 "%s: not a layout 1 flow map (%s); attach --fresh starts over", from,
			 m->flows_fd < 0 ? strerror(errno) : "another shape");
		xm_migrate_abort(m);
		return -2;
	}
	pin_path(from, sizeof(from), pin_dir, xm_map_pin_names[XM_MAP_CONFIG], 0);
	{
		int fd = bpf_obj_get(from);
		int rc = fd < 0 ? -1 : bpf_map_lookup_elem(fd, &zero, m->old_config);

		if (fd >= 0)
			close(fd);
		if (rc) {
			snprintf(err, errlen, "%s: cannot read it: %s", from, strerror(errno));
			xm_migrate_abort(m);
			return -1;
		}
	}
	for (size_t i = 0; i < N_CHANGED; i++) {
		pin_path(from, sizeof(from), pin_dir, xm_map_pin_names[changed_maps[i]], 0);
		pin_path(to, sizeof(to), pin_dir, xm_map_pin_names[changed_maps[i]], 1);
		if (rename(from, to) && errno != ENOENT) {
			snprintf(err, errlen, "%s: cannot set it aside: %s", from, strerror(errno));
			xm_migrate_abort(m);
			return -1;
		}
	}
	m->set_aside = 1;
	return 0;
}

unsigned xm_migrate_ct_max(const struct xm_migration *m)
{
	unsigned n = ((const struct xm_config_v1 *)m->old_config)->ct_max;

	return n >= 1024 && n <= XM_CT_MAX_LIMIT ? n : XM_CT_DEFAULT_MAX;
}

void xm_migrate_abort(struct xm_migration *m)
{
	char from[PATH_MAX + 80], to[PATH_MAX + 64];

	if (m->set_aside) {
		for (size_t i = 0; i < N_CHANGED; i++) {
			pin_path(from, sizeof(from), m->pin_dir, xm_map_pin_names[changed_maps[i]],
				 1);
			pin_path(to, sizeof(to), m->pin_dir, xm_map_pin_names[changed_maps[i]], 0);
			unlink(to); /* a new map pinned meanwhile */
			rename(from, to);
		}
	}
	m->set_aside = 0;
	if (m->flows_fd >= 0)
		close(m->flows_fd);
	m->flows_fd = -1;
}

static void convert_flow(const struct xm_flow_v1 *o, struct xm_flow *f)
{
	memset(f, 0, sizeof(*f));
	f->new_saddr = o->new_saddr;
	f->new_daddr = o->new_daddr;
	f->new_sport = o->new_sport;
	f->new_dport = o->new_dport;
	memcpy(f->out_dmac, o->out_dmac, sizeof(f->out_dmac));
	f->out_vlan = o->out_vlan;
	f->flags = o->flags;
	f->state = o->state;
	f->in_slot = o->in_slot;
	f->out_slot = o->out_slot;
	f->rule_id = o->rule_id;
	f->last_seen_s = o->last_seen_s;
	f->packets = (__u32)o->packets;
	f->bytes_lo = (__u32)o->bytes;
	f->bytes_hi = (__u16)(o->bytes >> 32) & XM_FLOW_BYTES_HI_MASK;
}

int xm_migrate_finish(struct xm_migration *m, int config_fd, int flows_fd, uint64_t seed, FILE *log,
		      char *err, size_t errlen)
{
	const struct xm_config_v1 *o = (const struct xm_config_v1 *)m->old_config;
	struct xm_flow_key_v1 key, next, *prev = NULL;
	struct xm_config cfg = { 0 };
	struct xm_ct_table t;
	unsigned long moved = 0, lost = 0;
	char path[PATH_MAX + 80];
	__u32 zero = 0;
	int rc;

	cfg.layout_version = XM_LAYOUT_VERSION;
	cfg.active_gen = o->active_gen;
	cfg.port_lo = o->port_lo;
	cfg.port_hi = o->port_hi;
	/* Layout 1 had no XM_CFG_ADDR_RULES: its rules may have addresses. */
	cfg.flags = o->flags | XM_CFG_ADDR_RULES;
	memcpy(cfg.timeouts, o->timeouts, sizeof(cfg.timeouts));
	cfg.local_port_lo = o->local_port_lo;
	cfg.local_port_hi = o->local_port_hi;
	cfg.ct_seed = seed;
	rc = xm_ct_open(&t, flows_fd, seed, 1, err, errlen);
	if (rc)
		return rc;
	cfg.ct_max = XM_CT_FLOWS_OF(t.nslots);
	if (bpf_map_update_elem(config_fd, &zero, &cfg, BPF_ANY)) {
		snprintf(err, errlen, "%s/config: cannot write the converted config: %s",
			 m->pin_dir, strerror(errno));
		xm_ct_close(&t);
		return -1;
	}
	/* The entries go over one by one; the old program still runs on the
	 * old map until the new one is attached, right after this. */
	while (bpf_map_get_next_key(m->flows_fd, prev, &next) == 0) {
		struct xm_flow_v1 ov;
		struct xm_flow nv;
		struct xm_flow_key nk = { 0 };

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m->flows_fd, &key, &ov))
			continue;
		nk.saddr = key.saddr;
		nk.daddr = key.daddr;
		nk.sport = key.sport;
		nk.dport = key.dport;
		nk.proto = key.proto;
		convert_flow(&ov, &nv);
		rc = xm_ct_insert(&t, &nk, &nv);
		if (rc == 0 || rc == -EEXIST)
			moved++;
		else
			lost++;
	}
	xm_ct_close(&t);
	for (size_t i = 0; i < N_CHANGED; i++) {
		pin_path(path, sizeof(path), m->pin_dir, xm_map_pin_names[changed_maps[i]], 1);
		unlink(path);
	}
	m->set_aside = 0;
	close(m->flows_fd);
	m->flows_fd = -1;
	if (log)
		fprintf(log, "%s: migrated from layout 1 to %d: %lu flow entries carried over\n",
			m->pin_dir, XM_LAYOUT_VERSION, moved);
	if (lost && log)
		fprintf(log, "%s: %lu flow entries did not fit and were dropped\n", m->pin_dir,
			lost);
	return 0;
}
