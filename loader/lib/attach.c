// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Loading, pinning and attaching the data plane; detaching it. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <linux/if_link.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "xmasq_internal.h"
#include "ifinfo.h"
#include "xmasq.skel.h"

#define XM_TC_HANDLE	 0x786d /* "xm" */
#define XM_TC_PRIORITY	 1
#define XM_XDP_PROG_NAME "xmasq_xdp"

/* libbpf warnings are shown only around our own load: libxdp's probing of
 * kernel features fails noisily by design. */
static int show_libbpf_warnings;

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN || !show_libbpf_warnings)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int quiet_xdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

void xm_quiet_libs(void)
{
	if (xm_log_verbosity() > 0)
		return; /* the operator asked for their messages (log.c) */
	libbpf_set_print(quiet_print);
	libxdp_set_print(quiet_xdp_print);
}

/* bpffs must be mounted where the pins go; mount it at /sys/fs/bpf if not. */
static int ensure_pin_dir(const char *pin_dir, char *err, size_t errlen)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st) || st.f_type != BPF_FS_MAGIC) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			snprintf(err, errlen, "/sys/fs/bpf: cannot mount bpffs: %s",
				 strerror(errno));
			return -1;
		}
	}
	if (mkdir(pin_dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create pin directory: %s", pin_dir,
			 strerror(errno));
		return -1;
	}
	if (statfs(pin_dir, &st) || st.f_type != BPF_FS_MAGIC) {
		snprintf(err, errlen,
			 "%s: not on a bpf filesystem (use a directory under /sys/fs/bpf)",
			 pin_dir);
		return -2;
	}
	return 0;
}

/* The kernel adds BPF_F_RDONLY_PROG to every devmap it creates, so libbpf's
 * pin reuse (which compares flags) refuses a pinned devmap; we check the
 * shape ourselves and hand libbpf the fd. */
static int reuse_devmap(struct bpf_map *map, const char *path, char *err, size_t errlen)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd, rc;

	if (bpf_map__type(map) != BPF_MAP_TYPE_DEVMAP_HASH)
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0; /* not pinned yet: libbpf creates and pins it */
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_MAP_TYPE_DEVMAP_HASH ||
	    info.key_size != bpf_map__key_size(map) ||
	    info.value_size != bpf_map__value_size(map) ||
	    info.max_entries != bpf_map__max_entries(map)) {
		snprintf(err, errlen,
			 "%s: pinned map has another layout (detach --all, then attach again)",
			 path);
		close(fd);
		return -1;
	}
	rc = bpf_map__reuse_fd(map, fd);
	close(fd);
	if (rc) {
		snprintf(err, errlen, "%s: cannot reuse pinned map: %s", path, strerror(-rc));
		return -1;
	}
	return 0;
}

/* Prog arrays unpinned by this attach, held open until it ends. The
 * kernel empties a prog array when its last user reference (a pin or an
 * fd) goes, though programs still tail-call through it: the previous
 * build's, attached until this attach replaces them on every NIC, would
 * find nothing there (IPv6 and new flows passed to the kernel, 6->4
 * replies reset) for as long as that takes. */
struct held_arrays {
	int fd[XM_MAP_MAX];
	int n;
};

static void held_arrays_close(struct held_arrays *held)
{
	for (int i = 0; i < held->n; i++)
		close(held->fd[i]);
	held->n = 0;
}

/* Unpins the map at path when its value size or size differs from
 * map's (a prog array's fd kept in held). */
static void drop_pin_of_other_size(struct bpf_map *map, const char *path, struct held_arrays *held)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	    (info.value_size != bpf_map__value_size(map) ||
	     info.max_entries != bpf_map__max_entries(map)) &&
	    unlink(path) == 0 && info.type == BPF_MAP_TYPE_PROG_ARRAY && held->n < XM_MAP_MAX) {
		held->fd[held->n++] = fd;
		return;
	}
	close(fd);
}

/* flows6's size: the pinned table's (resizing drops its flows), else
 * conntrack6-max (0: the default); the sweep's groups cover it. An older
 * build's hash map is no table to keep: its flows are carried into one
 * of conntrack6-max (flows6_carry.c). */
static void size_flows6(struct xmasq_bpf *skel, const char *pin_dir, unsigned ct6_max, FILE *log)
{
	char path[PATH_MAX + 64];
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info), slots = XM_CT_SLOTS(ct6_max ? ct6_max : XM_CT6_DEFAULT_MAX);
	int fd;

	snprintf(path, sizeof(path), "%s/flows6", pin_dir);
	fd = bpf_obj_get(path);
	if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	    info.type == BPF_MAP_TYPE_ARRAY && info.value_size == sizeof(struct xm_ct6_slot) &&
	    info.max_entries >= XM_CT_PROBES) {
		if (ct6_max && info.max_entries != slots && log)
			fprintf(log,
				"%s: conntrack6-max stays %u while flows are kept "
				"(attach --fresh to resize)\n",
				pin_dir, XM_CT_FLOWS_OF(info.max_entries));
		slots = info.max_entries;
	}
	if (fd >= 0)
		close(fd);
	bpf_map__set_max_entries(skel->maps.flows6, slots);
	bpf_map__set_max_entries(skel->maps.sweep6_groups,
				 (slots + XM_SWEEP_GROUP - 1) / XM_SWEEP_GROUP);
}

/* The size of pinned map `name` under pin_dir, or `fallback` when there is
 * none: a pinned map is reused only with its own shape. */
static __u32 pinned_max_entries(const char *pin_dir, const char *name, __u32 fallback)
{
	char path[PATH_MAX + 64];
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return fallback;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || !info.max_entries)
		info.max_entries = fallback;
	close(fd);
	return info.max_entries;
}

static void config_defaults(struct xm_config *c)
{
	struct xm_settings s;

	xm_settings_default(&s);
	memset(c, 0, sizeof(*c));
	c->layout_version = XM_LAYOUT_VERSION;
	c->port_lo = s.port_lo;
	c->port_hi = s.port_hi;
	c->ct_max = s.ct_max;
	memcpy(c->timeouts, s.timeouts, sizeof(c->timeouts));
}

static int pin_prog(struct bpf_program *prog, const char *pin_dir, const char *name, char *err,
		    size_t errlen)
{
	char path[PATH_MAX + 64];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	unlink(path);
	rc = bpf_program__pin(prog, path);
	if (rc) {
		snprintf(err, errlen, "%s: cannot pin program: %s", path, strerror(-rc));
		return -1;
	}
	return 0;
}

/* The xmasq XDP program attached to ifindex, if any (caller closes mp). */
static struct xdp_program *find_our_xdp(int ifindex, struct xdp_multiprog **mpp)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p;

	*mpp = NULL;
	if (!mp || libxdp_get_error(mp))
		return NULL;
	*mpp = mp;
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		if (p && strcmp(xdp_program__name(p), XM_XDP_PROG_NAME) == 0)
			return p;
		return NULL;
	}
	for (p = xdp_multiprog__next_prog(NULL, mp); p; p = xdp_multiprog__next_prog(p, mp))
		if (strcmp(xdp_program__name(p), XM_XDP_PROG_NAME) == 0)
			return p;
	return NULL;
}

static int detach_xdp(int ifindex, const char *ifname, FILE *log)
{
	struct xdp_multiprog *mp;
	struct xdp_program *p = find_our_xdp(ifindex, &mp);
	int rc = 0;

	if (p) {
		if (xdp_multiprog__is_legacy(mp))
			rc = xdp_multiprog__detach(mp);
		else
			rc = xdp_program__detach(p, ifindex, xdp_multiprog__attach_mode(mp), 0);
		if (rc && log)
			fprintf(log, "%s: detaching XDP program failed: %s\n", ifname,
				strerror(-rc));
	}
	if (mp)
		xdp_multiprog__close(mp);
	return rc;
}

static int attach_tc(int ifindex, int prog_fd, const char *ifname, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XM_TC_HANDLE, .priority = XM_TC_PRIORITY,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int rc = bpf_tc_hook_create(&hook);

	if (rc && rc != -EEXIST) {
		snprintf(err, errlen, "%s: cannot create clsact qdisc: %s", ifname, strerror(-rc));
		return -1;
	}
	rc = bpf_tc_attach(&hook, &opts);
	if (rc) {
		snprintf(err, errlen, "%s: cannot attach tc ingress program: %s", ifname,
			 strerror(-rc));
		return -1;
	}
	return 0;
}

static void detach_tc(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XM_TC_HANDLE, .priority = XM_TC_PRIORITY);

	bpf_tc_detach(&hook, &opts);
}

uint32_t xm_tc_prog_id(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XM_TC_HANDLE, .priority = XM_TC_PRIORITY);

	if (bpf_tc_query(&hook, &opts))
		return 0;
	return opts.prog_id;
}

uint32_t xm_xdp_prog_id(int ifindex)
{
	struct xdp_multiprog *mp;
	struct xdp_program *p = find_our_xdp(ifindex, &mp);
	uint32_t id = p ? xdp_program__id(p) : 0;

	if (mp)
		xdp_multiprog__close(mp);
	return id;
}

static int attach_xdp(int ifindex, int prog_fd, int generic, const char *ifname, char *err,
		      size_t errlen)
{
	struct xdp_program *prog = xdp_program__from_fd(prog_fd);
	enum xdp_attach_mode mode = generic ? XDP_MODE_SKB : XDP_MODE_NATIVE;
	int rc;

	if (!prog || libxdp_get_error(prog)) {
		snprintf(err, errlen, "%s: libxdp cannot use the program", ifname);
		errno = EINVAL;
		return -1;
	}
	rc = xdp_program__attach(prog, ifindex, mode, 0);
	xdp_program__close(prog);
	if (rc) {
		snprintf(err, errlen, "%s: cannot attach XDP in %s mode: %s%s", ifname,
			 generic ? "generic" : "native", strerror(-rc),
			 generic ? "" : " (try --mode xdp-generic or --mode tc)");
		errno = -rc; /* auto mode tells "no native XDP" from other failures */
		return -1;
	}
	return 0;
}

/* Slot in iface_stats: the interface's own if it has one, else the lowest
 * free one. */
static int pick_slot(int ifaces_fd, __u32 ifindex)
{
	unsigned char used[XM_MAX_IFACES] = { 0 };
	__u32 key, *prev = NULL;
	struct xm_iface v;

	while (bpf_map_get_next_key(ifaces_fd, prev, &key) == 0) {
		if (bpf_map_lookup_elem(ifaces_fd, &key, &v) == 0) {
			if (key == ifindex)
				return v.slot;
			if (v.slot < XM_MAX_IFACES)
				used[v.slot] = 1;
		}
		prev = &key;
	}
	for (int i = 0; i < XM_MAX_IFACES; i++)
		if (!used[i])
			return i;
	return -1;
}

static void zero_iface_stats(struct xm_handle *h, __u32 slot)
{
	struct xm_iface_stats *z = calloc(h->ncpus, sizeof(*z));

	if (z) {
		bpf_map_update_elem(h->fd[XM_MAP_IFACE_STATS], &slot, z, BPF_ANY);
		free(z);
	}
}

/* Swaps our XDP program for prog_fd in one step where the kernel allows it
 * (legacy attachment, same mode: XDP_FLAGS_REPLACE), so no packet sees the
 * interface without a program; else detaches and attaches (tc, attached
 * first, carries the traffic in between). */
static int replace_xdp(int ifindex, int prog_fd, int generic, const char *ifname, char *err,
		       size_t errlen)
{
	struct xdp_multiprog *mp;
	struct xdp_program *old = find_our_xdp(ifindex, &mp);
	int rc = -1;

	if (old && xdp_multiprog__is_legacy(mp) &&
	    (xdp_multiprog__attach_mode(mp) == XDP_MODE_SKB) == !!generic) {
		int old_fd = bpf_prog_get_fd_by_id(xdp_program__id(old));
		LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = old_fd);

		if (old_fd >= 0) {
			rc = bpf_xdp_attach(ifindex, prog_fd,
					    XDP_FLAGS_REPLACE | (generic ? XDP_FLAGS_SKB_MODE :
									   XDP_FLAGS_DRV_MODE),
					    &opts);
			close(old_fd);
		}
	}
	if (mp)
		xdp_multiprog__close(mp);
	if (rc == 0)
		return 0;
	detach_xdp(ifindex, ifname, NULL);
	return attach_xdp(ifindex, prog_fd, generic, ifname, err, errlen);
}

static enum xm_mode mode_of(const struct xm_iface *v)
{
	if (!(v->flags & XM_IFACE_XDP_ATTACHED))
		return XM_MODE_TC;
	return (v->flags & XM_IFACE_XDP_GENERIC) ? XM_MODE_XDP_GENERIC : XM_MODE_XDP;
}

/* The programs other programs hand packets to by tail calls: xmasq_tc6
 * (IPv6 from the tc program), xmasq_tc46 (6->4 replies, likewise),
 * xmasq_tc_new and xmasq_tc_flow (new IPv4 flows at tc), xmasq_xdp6,
 * xmasq_xdp46 and xmasq_xdp6_new (the same, and new IPv6 flows, from the
 * XDP programs), each into its prog array. */
static int store_tail_progs(struct xmasq_bpf *skel, const char *pin_dir, char *err, size_t errlen)
{
	const struct {
		struct bpf_map *map;
		int map_id;
		__u32 idx;
		struct bpf_program *prog;
		const char *what;
	} tails[] = {
		{ skel->maps.progs6, XM_MAP_PROGS6, XM_PROGS6_TC, skel->progs.xmasq_tc6,
		  "the IPv6 program xmasq_tc6" },
		{ skel->maps.progs46, XM_MAP_PROGS46, XM_PROGS46_TC, skel->progs.xmasq_tc46,
		  "the 6->4 program xmasq_tc46" },
		{ skel->maps.progs4, XM_MAP_PROGS4, XM_PROGS4_TC_NEW, skel->progs.xmasq_tc_new,
		  "the IPv4 program for new flows xmasq_tc_new" },
		{ skel->maps.progs4, XM_MAP_PROGS4, XM_PROGS4_TC_FLOW, skel->progs.xmasq_tc_flow,
		  "the IPv4 program for a new flow's first packet xmasq_tc_flow" },
		{ skel->maps.progs6_xdp, XM_MAP_PROGS6_XDP, XM_PROGS6_XDP, skel->progs.xmasq_xdp6,
		  "the IPv6 XDP program xmasq_xdp6" },
		{ skel->maps.progs6_xdp, XM_MAP_PROGS6_XDP, XM_PROGS46_XDP, skel->progs.xmasq_xdp46,
		  "the 6->4 XDP program xmasq_xdp46" },
		{ skel->maps.progs6_xdp, XM_MAP_PROGS6_XDP, XM_PROGS6_NEW_XDP,
		  skel->progs.xmasq_xdp6_new, "the IPv6 XDP program for new flows xmasq_xdp6_new" },
	};

	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		int fd = bpf_program__fd(tails[i].prog);

		if (bpf_map_update_elem(bpf_map__fd(tails[i].map), &tails[i].idx, &fd, BPF_ANY)) {
			snprintf(err, errlen,
				 "%s/%s: cannot store %s in it: %s (attach --fresh if the pinned "
				 "map "
				 "has another shape)",
				 pin_dir, xm_map_pin_names[tails[i].map_id], tails[i].what,
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The new program takes the flow expiry timer over now (the old one stops
 * at its next run), not only at the next new flow. Best effort: a new flow
 * arms it anyway. */
static void start_sweeper(struct xmasq_bpf *skel, FILE *log)
{
	unsigned char frame[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = 1);

	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xmasq_sweep_start), &t) && log)
		fprintf(log, "note: flow expiry starts with the next new flow (%s)\n",
			strerror(errno));
}

/* Attaches (or re-attaches) one interface and records it. */
int xm_attach_iface(struct xm_handle *h, int xdp_fd, int tc_fd, const char *ifname,
		    struct xm_iface *ifc, enum xm_mode mode, FILE *log, char *err, size_t errlen)
{
	struct xm_iface old, gone = { 0 };
	int had = bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &ifc->ifindex, &old) == 0;
	/* A NIC deleted and created again under its name (hot-plug): its
	 * slot, mode and rules, so that its flows go on. */
	int back = !had && xm_nic_gone_by_name(h, ifname, &gone);
	int slot = back ? gone.slot : pick_slot(h->fd[XM_MAP_IFACES], ifc->ifindex);
	__be32 addr6[4], cur6[4];
	char a6[INET6_ADDRSTRLEN];
	int rc, auto_xdp = 0;

	if (slot < 0) {
		snprintf(err, errlen, "%s: already %d interfaces managed", ifname, XM_MAX_IFACES);
		return -1;
	}
	ifc->slot = (__u8)slot;
	rc = xm_sysctl_forwarding_on(ifname, log, err, errlen);
	if (rc < 0)
		return rc;
	/* Re-attach: remember who turned it on the first time. */
	if (rc == 1 || (had && (old.flags & XM_IFACE_FWD_BY_US)))
		ifc->flags |= XM_IFACE_FWD_BY_US;
	if (had)
		ifc->flags |= old.flags & XM_IFACE_XDP_TX_OK; /* until re-probed */
	rc = xm_sysctl_ipv6_on(ifname, log, err, errlen);
	if (rc < 0)
		return rc;
	ifc->flags6 = (__u8)rc;
	if (had)
		ifc->flags6 |= old.flags6 & (XM_IFACE6_FWD_BY_US | XM_IFACE6_RA_BY_US);
	if (mode == XM_MODE_AUTO && (had || back)) {
		mode = mode_of(had ? &old : &gone);
		ifc->flags |= (had ? old.flags : gone.flags) &
			      (XM_IFACE_AUTO_VETH | XM_IFACE_AUTO_NO_XDP);
	} else if (mode == XM_MODE_AUTO && xm_ifinfo_is_veth(ifname)) {
		mode = XM_MODE_TC;
		ifc->flags |= XM_IFACE_AUTO_VETH;
	} else if (mode == XM_MODE_AUTO) {
		auto_xdp = 1;
		mode = XM_MODE_XDP;
	}
	/* Its rules first: no packet comes in by the new ifindex before the
	 * programs are there, none by the old one any more. */
	if (back)
		xm_rules_move_iface(h, gone.ifindex, ifc->ifindex);

	/* tc first: while XDP is being replaced, tc handles the traffic. */
	rc = attach_tc(ifc->ifindex, tc_fd, ifname, err, errlen);
	if (rc)
		return rc;
	ifc->flags |= XM_IFACE_TC_ATTACHED;
	if (mode == XM_MODE_TC) {
		detach_xdp(ifc->ifindex, ifname, NULL);
	} else {
		rc = replace_xdp(ifc->ifindex, xdp_fd, mode == XM_MODE_XDP_GENERIC, ifname, err,
				 errlen);
		if (rc && auto_xdp && errno == EOPNOTSUPP) {
			/* auto: a driver without native XDP gets tc only */
			if (log)
				fprintf(log, "%s: no native XDP (%s): tc only\n", ifname, err);
			err[0] = 0;
			detach_xdp(ifc->ifindex, ifname, NULL);
			mode = XM_MODE_TC;
			ifc->flags |= XM_IFACE_AUTO_NO_XDP;
		} else if (rc) {
			return rc;
		} else {
			ifc->flags |= XM_IFACE_XDP_ATTACHED;
			if (mode == XM_MODE_XDP_GENERIC)
				ifc->flags |= XM_IFACE_XDP_GENERIC;
		}
	}
	if (bpf_map_update_elem(h->fd[XM_MAP_TX_PORTS], &ifc->ifindex, &ifc->ifindex, BPF_ANY)) {
		snprintf(err, errlen, "%s: cannot add to the redirect map: %s", ifname,
			 strerror(errno));
		return -1;
	}
	if (!had && !back)
		zero_iface_stats(h, ifc->slot);
	/* The new address is the router's before the entry says so, and the
	 * old one stops being it only after: no packet sees neither. */
	if (bpf_map_update_elem(h->fd[XM_MAP_LOCAL_ADDRS], &ifc->addr, &ifc->ifindex, BPF_ANY)) {
		snprintf(err, errlen, "%s: cannot record its address: %s", ifname, strerror(errno));
		return -1;
	}
	/* Its IPv6 address before the entry: xmasq_tc6 finds the NIC by
	 * the entry, then its address by the slot; attached again, the one
	 * its flows leave with while the NIC has it (a new slot's is zero). */
	xm_iface6_get(h, ifc->slot, cur6);
	if (xm_ifinfo_addr6(ifc->ifindex, cur6, addr6, NULL, err, errlen) < 0)
		return -1;
	if (xm_iface6_store(h, ifc->slot, addr6)) {
		snprintf(err, errlen, "%s: cannot record its IPv6 address in %s/%s: %s", ifname,
			 h->pin_dir, xm_map_pin_names[XM_MAP_IFACE_ADDRS6], strerror(errno));
		return -1;
	}
	if (xm_iface_store(h, ifc)) {
		snprintf(err, errlen, "%s: cannot record the interface: %s", ifname,
			 strerror(errno));
		return -1;
	}
	if ((had || back) && (had ? old.addr : gone.addr) != ifc->addr)
		xm_nic_addr_moved(h, ifc, had ? old.addr : gone.addr);
	if (back) {
		__u32 gone_ifindex = gone.ifindex;

		bpf_map_delete_elem(h->fd[XM_MAP_IFACES], &gone_ifindex);
	}
	xm_iface_name_set(h->pin_dir, ifc->slot, ifname);
	if (log)
		fprintf(log, "%s: %s (%s%s), %s%s%s%s%s\n", ifname,
			had  ? "program replaced" :
			back ? "attached again (it had been deleted; same slot, mode and rules)" :
			       "attached",
			mode == XM_MODE_TC	    ? "tc" :
			mode == XM_MODE_XDP_GENERIC ? "xdp-generic + tc" :
						      "xdp + tc",
			(ifc->flags & XM_IFACE_AUTO_VETH)   ? ", chosen for a veth: --mode xdp for "
							      "packet rate" :
			(ifc->flags & XM_IFACE_AUTO_NO_XDP) ? ", the driver has no native XDP" :
							      "",
			ifc->addr ? "address " : "no IPv4 address",
			ifc->addr ? inet_ntoa((struct in_addr){ .s_addr = ifc->addr }) : "",
			ifc->addr ? " masquerades" : "",
			xm_ip6_str(addr6, a6, sizeof(a6))[0] == '-' ? " (no global IPv6 address)" :
								      ", IPv6 ",
			a6[0] == '-' ? "" : a6);
	return 0;
}

/* A new flow table's hash seed: random, so that clients cannot choose
 * ports that pile onto one slot. */
static __u64 new_ct_seed(void)
{
	__u64 seed = 0;

	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = ((__u64)ts.tv_nsec << 32) ^ (__u64)ts.tv_sec ^ (__u64)getpid();
	}
	return seed | 1;
}

/* Pinned maps of another layout are never reinterpreted: refused, unless
 * the operator asks for fresh maps. *ct_seed: the pinned flow table's
 * seed, or a new one for a new table. */
static int check_layout(const char *pin_dir, const struct xm_attach_opts *o, __u64 *ct_seed,
			char *err, size_t errlen)
{
	char path[PATH_MAX + 64];
	struct xm_config cfg;
	__u32 zero = 0;
	int fd, rc = 0;

	*ct_seed = new_ct_seed();
	snprintf(path, sizeof(path), "%s/%s", pin_dir, xm_map_pin_names[XM_MAP_CONFIG]);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0; /* nothing pinned: fresh anyway */
	if (!o->fresh && bpf_map_lookup_elem(fd, &zero, &cfg) == 0 &&
	    cfg.layout_version == XM_LAYOUT_VERSION)
		*ct_seed = cfg.ct_seed;
	/* Layout 0: the maps of an attach killed before it configured them
	 * (nothing ran on them yet): this attach finishes the job. */
	if (bpf_map_lookup_elem(fd, &zero, &cfg) == 0 && cfg.layout_version != XM_LAYOUT_VERSION &&
	    cfg.layout_version != 0 && !o->fresh) {
		if (o->migrate && cfg.layout_version == 1)
			rc = 1; /* migrate.c converts it */
		else if (o->migrate)
			snprintf(err, errlen,
				 "%s: maps have layout %u; this build knows no migration from it "
				 "to layout %u (use --fresh: flows and counters are dropped)",
				 pin_dir, cfg.layout_version, XM_LAYOUT_VERSION);
		else
			snprintf(err, errlen,
				 "%s: maps have layout %u, this build uses %u: re-run with "
				 "--migrate to convert them or --fresh to start over (drops flows "
				 "and counters)",
				 pin_dir, cfg.layout_version, XM_LAYOUT_VERSION);
		if (rc == 0)
			rc = -2;
	}
	close(fd);
	return rc;
}

/* --fresh: forget the pinned maps; programs still attached keep theirs
 * until replaced below. */
static void unpin_maps(const char *pin_dir)
{
	char path[PATH_MAX + 64];

	for (int i = 0; i < XM_MAP_MAX; i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, xm_map_pin_names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/%s", pin_dir, XM_PIN_IFACE_NAMES);
	unlink(path);
}

static int attach_holding(const char *pin_dir, char *const *ifnames, int n,
			  const struct xm_attach_opts *o, struct held_arrays *held, FILE *log,
			  char *err, size_t errlen);

int xm_attach_ex(const char *pin_dir, char *const *ifnames, int n, const struct xm_attach_opts *o,
		 FILE *log, char *err, size_t errlen)
{
	struct held_arrays held = { .n = 0 };
	int rc = attach_holding(pin_dir, ifnames, n, o, &held, log, err, errlen);

	held_arrays_close(&held);
	return rc;
}

/* xm_attach_ex, prog arrays of another size it unpins held in held. */
static int attach_holding(const char *pin_dir, char *const *ifnames, int n,
			  const struct xm_attach_opts *o, struct held_arrays *held, FILE *log,
			  char *err, size_t errlen)
{
	struct xm_iface info[XM_MAX_IFACES];
	struct xmasq_bpf *skel = NULL;
	struct bpf_map *map;
	struct xm_handle h;
	struct xm_config cfg;
	char path[PATH_MAX + 64];
	__u32 zero = 0, keys[XM_MAX_IFACES];
	__u64 ct_seed = 0;
	struct xm_migration mig;
	unsigned ct_max = o->ct_max;
	struct xm_counters_carry carry = { .old_fd = -1 };
	struct xm_meta_carry meta_carry = { .old_fd = -1 };
	struct xm_flows6_carry flows6_carry = { .old_fd = -1 };
	int managed, migrating = 0, xdp_fd, tc_fd;
	int rc;

	if (n <= 0 || n > XM_MAX_IFACES) {
		snprintf(err, errlen, "attach: give 1 to %d interfaces", XM_MAX_IFACES);
		return -2;
	}
	/* Everything that can be wrong with the request is checked first. */
	for (int i = 0; i < n; i++) {
		rc = xm_ifinfo_get(ifnames[i], &info[i], err, errlen);
		if (rc)
			return rc;
	}
	rc = ensure_pin_dir(pin_dir, err, errlen);
	if (rc)
		return rc;
	rc = check_layout(pin_dir, o, &ct_seed, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		rc = xm_migrate_prepare(pin_dir, &mig, err, errlen);
		if (rc)
			return rc;
		migrating = 1;
		ct_max = o->ct_max ? o->ct_max : xm_migrate_ct_max(&mig);
	}
	if (o->fresh) {
		unpin_maps(pin_dir);
		if (log)
			fprintf(log,
				"%s: fresh maps (flows and counters start over; apply the rules "
				"again)\n",
				pin_dir);
	}

	xm_quiet_libs();
	skel = xmasq_bpf__open();
	if (!skel) {
		snprintf(err, errlen, "cannot open the embedded BPF object: %s", strerror(errno));
		if (migrating)
			xm_migrate_abort(&mig);
		return -1;
	}
	if (ct_max)
		bpf_map__set_max_entries(skel->maps.flows, XM_CT_SLOTS(ct_max));
	size_flows6(skel, pin_dir, o->ct6_max, log);
	/* Each load gets its own non-zero epoch, so the flow sweeper passes
	 * from an older program to this one (bpf/sweep.h). */
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		skel->rodata->xm_prog_epoch =
			((__u32)ts.tv_nsec ^ (__u32)ts.tv_sec ^ (__u32)getpid()) | 1;
	}
	bpf_object__for_each_map(map, skel->obj)
	{
		const char *name = bpf_map__name(map);

		if (bpf_map__is_internal(map))
			continue; /* .rodata and friends are private to each load */
		snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
		if (reuse_devmap(map, path, err, errlen)) {
			xm_counters_carry_abort(&carry);
			xm_meta_carry_abort(&meta_carry);
			xm_flows6_carry_abort(&flows6_carry);
			xmasq_bpf__destroy(skel);
			if (migrating)
				xm_migrate_abort(&mig);
			return -1;
		}
		if (map == skel->maps.counters &&
		    xm_counters_carry_take(&carry, path, bpf_map__max_entries(map), err, errlen)) {
			xm_meta_carry_abort(&meta_carry);
			xm_flows6_carry_abort(&flows6_carry);
			xmasq_bpf__destroy(skel);
			if (migrating)
				xm_migrate_abort(&mig);
			return -1;
		}
		if (map == skel->maps.rule_meta &&
		    xm_meta_carry_take(&meta_carry, path, bpf_map__map_flags(map),
				       bpf_map__max_entries(map), err, errlen)) {
			xm_counters_carry_abort(&carry);
			xm_flows6_carry_abort(&flows6_carry);
			xmasq_bpf__destroy(skel);
			if (migrating)
				xm_migrate_abort(&mig);
			return -1;
		}
		/* scratch holds nothing between packets, nor the prog arrays
		 * between loads (each load fills them), nor sweeper6 more than
		 * its timer (each program arms its own) and the walk's place:
		 * one of another shape (an older build's) is made afresh, not
		 * refused. */
		if (map == skel->maps.scratch || map == skel->maps.progs6 ||
		    map == skel->maps.progs46 || map == skel->maps.progs6_xdp ||
		    map == skel->maps.progs4 || map == skel->maps.census ||
		    map == skel->maps.sweep6_groups || map == skel->maps.sweeper6)
			drop_pin_of_other_size(map, path, held);
		/* The previous build's IPv6 flow table (a hash map) is carried
		 * into the new one (flows6_carry.c). */
		if (map == skel->maps.flows6 &&
		    xm_flows6_carry_take(&flows6_carry, path, err, errlen)) {
			xm_counters_carry_abort(&carry);
			xm_meta_carry_abort(&meta_carry);
			xmasq_bpf__destroy(skel);
			if (migrating)
				xm_migrate_abort(&mig);
			return -1;
		}
		/* The flow tables keep their size while pinned: resizing drops
		 * them. (flows6: size_flows6, before this loop.) */
		if (map == skel->maps.flows) {
			int fd = bpf_obj_get(path);
			struct bpf_map_info info = { 0 };
			__u32 len = sizeof(info);

			if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
				if (ct_max && info.max_entries != XM_CT_SLOTS(ct_max) && log)
					fprintf(log,
						"%s: conntrack-max stays %u while flows are kept "
						"(attach --fresh to resize)\n",
						pin_dir, XM_CT_FLOWS_OF(info.max_entries));
				bpf_map__set_max_entries(map, info.max_entries);
			}
			if (fd >= 0)
				close(fd);
		}
		bpf_map__set_pin_path(map, path);
	}
	/* The mappings hold as many entries as the table holds flows (two a
	 * masqueraded host's address:port, LRU beyond), and keep their size
	 * while pinned, like the flow table. */
	bpf_map__set_max_entries(
		skel->maps.nat_mappings,
		pinned_max_entries(pin_dir, "nat_mappings",
				   XM_CT_FLOWS_OF(bpf_map__max_entries(skel->maps.flows))));
	bpf_map__set_max_entries(
		skel->maps.nat_mappings6,
		pinned_max_entries(pin_dir, "nat_mappings6",
				   XM_CT_FLOWS_OF(bpf_map__max_entries(skel->maps.flows6))));
	/* The sweep's groups cover the table's slots. */
	bpf_map__set_max_entries(skel->maps.sweep_groups,
				 (bpf_map__max_entries(skel->maps.flows) + XM_SWEEP_GROUP - 1) /
					 XM_SWEEP_GROUP);
	/* The flow table's hash: the pinned table's seed, or a new one. */
	skel->rodata->xm_ct_seed = ct_seed;
	skel->rodata->xm_ct_homes = bpf_map__max_entries(skel->maps.flows) - (XM_CT_PROBES - 1);
	skel->rodata->xm_ct6_homes = bpf_map__max_entries(skel->maps.flows6) - (XM_CT_PROBES - 1);
	show_libbpf_warnings = 1;
	rc = xmasq_bpf__load(skel);
	show_libbpf_warnings = 0;
	if (rc == 0 &&
	    xm_meta_carry_put(&meta_carry, bpf_map__fd(skel->maps.rule_meta), err, errlen)) {
		xm_counters_carry_abort(&carry);
		xm_meta_carry_abort(&meta_carry);
		xm_flows6_carry_abort(&flows6_carry);
		xmasq_bpf__destroy(skel);
		if (migrating)
			xm_migrate_abort(&mig);
		return -1;
	}
	if (rc) {
		xm_counters_carry_abort(&carry);
		xm_meta_carry_abort(&meta_carry);
		xm_flows6_carry_abort(&flows6_carry);
	} else {
		xm_counters_carry_put(&carry, bpf_map__fd(skel->maps.counters));
		/* the pinned seed: the IPv4 table's (config.ct_seed) */
		xm_flows6_carry_put(&flows6_carry, bpf_map__fd(skel->maps.flows6), ct_seed, log);
	}
	if (rc) {
		snprintf(err, errlen,
			 "loading the BPF program failed: %s (details above; if pinned maps under "
			 "%s have another shape, attach --fresh)",
			 strerror(-rc), pin_dir);
		xmasq_bpf__destroy(skel);
		if (migrating)
			xm_migrate_abort(&mig);
		return -1;
	}
	if (migrating) {
		rc = xm_migrate_finish(&mig, bpf_map__fd(skel->maps.config),
				       bpf_map__fd(skel->maps.flows), ct_seed, log, err, errlen);
		if (rc) {
			xmasq_bpf__destroy(skel);
			xm_migrate_abort(&mig);
			return rc;
		}
	}
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.config), &zero, &cfg) == 0 &&
	    cfg.layout_version == 0) {
		config_defaults(&cfg);
		cfg.ct_max = XM_CT_FLOWS_OF(bpf_map__max_entries(skel->maps.flows));
		cfg.flows_per_source = cfg.ct_max / XM_FLOWS_PER_SOURCE_SHARE;
		cfg.ct_seed = ct_seed;
		bpf_map_update_elem(bpf_map__fd(skel->maps.config), &zero, &cfg, BPF_ANY);
	}
	start_sweeper(skel, log);
	/* The IPv6 and 6->4 programs into their prog arrays before the
	 * programs that hand packets to them are attached: a new program
	 * never meets an empty entry, and an older program still attached
	 * meets the new ones (same maps). */
	if (store_tail_progs(skel, pin_dir, err, errlen)) {
		xmasq_bpf__destroy(skel);
		return -1;
	}
	if (pin_prog(skel->progs.xmasq_xdp, pin_dir, XM_PIN_PROG_XDP, err, errlen) ||
	    pin_prog(skel->progs.xmasq_tc, pin_dir, XM_PIN_PROG_TC, err, errlen)) {
		xmasq_bpf__destroy(skel);
		return -1;
	}
	{
		char census_err[256];

		snprintf(path, sizeof(path), "%s/%s", pin_dir, XM_PIN_PROG_CENSUS);
		if (xm_census_load(
			    bpf_map__fd(skel->maps.flows), bpf_map__fd(skel->maps.sweep_groups),
			    bpf_map__fd(skel->maps.census), path, census_err, sizeof(census_err)) &&
		    log)
			fprintf(log,
				"%s: the flow census did not load (%s): status and xmasqd read "
				"the flow table mapped instead\n",
				pin_dir, census_err);
	}
	rc = xm_open(&h, pin_dir, err, errlen);
	if (rc) {
		xmasq_bpf__destroy(skel);
		return rc;
	}

	/* NICs deleted since they were attached are marked gone first: one
	 * named here again takes its old slot and rules. */
	{
		size_t nev = 0;

		xm_nics_refresh(&h, NULL, 0, &nev, err, errlen);
		err[0] = 0;
	}
	xdp_fd = bpf_program__fd(skel->progs.xmasq_xdp);
	tc_fd = bpf_program__fd(skel->progs.xmasq_tc);
	for (int i = 0; i < n && rc == 0; i++)
		rc = xm_attach_iface(&h, xdp_fd, tc_fd, ifnames[i], &info[i], o->mode, log, err,
				     errlen);
	/* Interfaces managed already get the new program too, each in the
	 * mode it has: one program version on every NIC. Each is read
	 * afresh (address, MAC, MTU); a gone one back under its name is
	 * attached again. */
	managed = xm_iface_keys(&h, keys);
	for (int k = 0; k < managed && rc == 0; k++) {
		struct xm_iface cur, fresh_info;
		char name[IF_NAMESIZE], why[256];
		__u32 key = keys[k];
		int listed = 0;

		for (int i = 0; i < n; i++)
			listed |= info[i].ifindex == key;
		if (listed || bpf_map_lookup_elem(h.fd[XM_MAP_IFACES], &key, &cur))
			continue;
		if (cur.flags & XM_IFACE_GONE) {
			if (xm_iface_name_get(pin_dir, cur.slot, name) == 0 &&
			    xm_ifinfo_get(name, &fresh_info, why, sizeof(why)) == 0)
				rc = xm_attach_iface(&h, xdp_fd, tc_fd, name, &fresh_info,
						     XM_MODE_AUTO, log, err, errlen);
			continue;
		}
		if (if_indextoname(key, name) &&
		    xm_ifinfo_get(name, &fresh_info, why, sizeof(why)) == 0) {
			fresh_info.flags = cur.flags & (XM_IFACE_FWD_BY_US | XM_IFACE_AUTO_VETH |
							XM_IFACE_AUTO_NO_XDP);
			rc = xm_attach_iface(&h, xdp_fd, tc_fd, name, &fresh_info, mode_of(&cur),
					     log, err, errlen);
		}
	}
	/* XDP transmit paths depend on every interface, so probe them last. */
	if (rc == 0)
		xm_refresh_tx_paths(&h, log);
	xm_close(&h);
	xmasq_bpf__destroy(skel); /* the attachments and pins keep it alive */
	return rc;
}

void xm_refresh_tx_paths(struct xm_handle *h, FILE *log)
{
	__u32 keys[XM_MAX_IFACES];
	struct xm_iface v;
	int ingress_generic = 1, any_xdp = 0, n = xm_iface_keys(h, keys);

	/* Frames are redirected by whichever interface received them: generic
	 * only if every XDP ingress is generic. */
	for (int k = 0; k < n; k++) {
		if (bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &keys[k], &v) == 0 &&
		    (v.flags & XM_IFACE_XDP_ATTACHED)) {
			any_xdp = 1;
			if (!(v.flags & XM_IFACE_XDP_GENERIC))
				ingress_generic = 0;
		}
	}
	for (int k = 0; k < n; k++) {
		__u32 key = keys[k];

		if (bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &key, &v) ||
		    (v.flags & XM_IFACE_GONE))
			continue;
		char name[IF_NAMESIZE] = "?", why[160];
		int ok = 0;

		if_indextoname(key, name);
		if (any_xdp)
			ok = xm_probe_xdp_tx(name, (int)key, ingress_generic, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "no XDP attached");
		__u8 flags = ok ? (v.flags | XM_IFACE_XDP_TX_OK) : (v.flags & ~XM_IFACE_XDP_TX_OK);
		__u16 mtu = xm_ifinfo_mtu(name); /* may have changed since attach */
		if (flags != v.flags || (mtu && mtu != v.mtu)) {
			v.flags = flags;
			if (mtu)
				v.mtu = mtu;
			xm_iface_store(h, &v);
		}
		if (log && any_xdp)
			fprintf(log, "%s: packets leave by %s: %s\n", name,
				ok ? "XDP redirect" : "tc redirect", why);
	}
}

static int flow_uses_slot(const struct xm_ct_slot *orig, void *arg)
{
	__u8 slot = *(const __u8 *)arg;

	return orig->flow.in_slot == slot || orig->flow.out_slot == slot;
}

static int flow6_uses_slot(const struct xm_flow6_key *k, const struct xm_flow6 *orig, void *arg)
{
	__u8 slot = *(const __u8 *)arg;

	(void)k;
	return orig->in_slot == slot || orig->out_slot == slot;
}

/* Flows name their interfaces by slot, and a slot goes to the next
 * interface attached: the flows through a detached interface go with it
 * (xmasq no longer forwards them anyway). */
static void drop_flows_of_slot(struct xm_handle *h, __u8 slot, const char *name, FILE *log)
{
	struct xm_ct_table t;
	char err[256];
	long n, n6;

	if (xm_ct_open_handle(&t, h, 1, err, sizeof(err))) {
		if (log)
			fprintf(log, "%s: its flows stay in the table: %s\n", name, err);
		return;
	}
	n = xm_ct_remove_if(&t, flow_uses_slot, &slot);
	xm_ct_close(&t);
	n6 = xm_ct6_remove_if(h, flow6_uses_slot, &slot, err, sizeof(err));
	if (n6 < 0 && log)
		fprintf(log, "%s: its IPv6 flows stay in the table: %s\n", name, err);
	if (n6 > 0)
		n = (n > 0 ? n : 0) + n6;
	if (log && n > 0)
		fprintf(log, "%s: %ld flows through it removed\n", name, n);
}

int xm_detach(const char *pin_dir, char *const *ifnames, int n, int all, FILE *log, char *err,
	      size_t errlen)
{
	struct xm_handle h;
	__u32 list[XM_MAX_IFACES];
	int count = 0, rc;

	xm_quiet_libs();
	rc = xm_open(&h, pin_dir, err, errlen);
	if (rc)
		return rc;
	if (all) {
		count = xm_iface_keys(&h, list);
	} else {
		for (int i = 0; i < n; i++) {
			struct xm_iface v;
			__u32 idx = if_nametoindex(ifnames[i]);

			/* A managed NIC that is gone is detached by its name. */
			if (xm_nic_gone_by_name(&h, ifnames[i], &v))
				idx = v.ifindex;
			if (!idx || bpf_map_lookup_elem(h.fd[XM_MAP_IFACES], &idx, &v)) {
				snprintf(err, errlen,
					 "%s: not managed by xmasq (see: xmasq status)",
					 ifnames[i]);
				xm_close(&h);
				return -2;
			}
			list[count++] = idx;
		}
	}
	for (int i = 0; i < count; i++) {
		char name[IF_NAMESIZE] = "?";
		struct xm_iface g;
		int gone = bpf_map_lookup_elem(h.fd[XM_MAP_IFACES], &list[i], &g) == 0 &&
			   (g.flags & XM_IFACE_GONE);

		if (!if_indextoname(list[i], name) &&
		    (!gone || xm_iface_name_get(pin_dir, g.slot, name)))
			snprintf(name, sizeof(name), "#%u", list[i]);
		detach_xdp((int)list[i], name, log);
		detach_tc((int)list[i]);
		{
			struct xm_iface v;
			int had = bpf_map_lookup_elem(h.fd[XM_MAP_IFACES], &list[i], &v) == 0;

			if (had) {
				bpf_map_delete_elem(h.fd[XM_MAP_LOCAL_ADDRS], &v.addr);
				if ((v.flags & XM_IFACE_FWD_BY_US) && !gone)
					xm_sysctl_forwarding_off(name, log);
				if (v.flags6 && !gone)
					xm_sysctl_ipv6_off(name, v.flags6, log);
			}
			xm_iface_forget(&h, list[i]);
			bpf_map_delete_elem(h.fd[XM_MAP_TX_PORTS], &list[i]);
			if (log)
				fprintf(log, "%s: detached\n", name);
			if (had && !all)
				drop_flows_of_slot(&h, v.slot, name, log);
		}
	}
	xm_close(&h);
	if (all) {
		const char *extra[] = { XM_PIN_PROG_XDP, XM_PIN_PROG_TC, XM_PIN_PROG_CENSUS,
					XM_PIN_IFACE_NAMES };
		char path[PATH_MAX + 64];

		for (int i = 0; i < XM_MAP_MAX; i++) {
			snprintf(path, sizeof(path), "%s/%s", pin_dir, xm_map_pin_names[i]);
			unlink(path);
		}
		for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", pin_dir, extra[i]);
			unlink(path);
		}
		if (rmdir(pin_dir) && log)
			fprintf(log, "%s: left in place: %s\n", pin_dir, strerror(errno));
		if (log)
			fprintf(log, "removed all pins under %s (flows and counters are gone)\n",
				pin_dir);
	}
	return 0;
}
