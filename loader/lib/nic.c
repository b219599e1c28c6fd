// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Keeping the managed NICs' entries true to the kernel: a new address,
 * MAC or MTU; a NIC deleted (gone) and created again under its name. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"
#include "ifinfo.h"

static const char *const kind_names[XM_FOLLOW_KINDS] = {
	[XM_FOLLOW_ADDRESS] = "address",
	[XM_FOLLOW_MAC] = "mac",
	[XM_FOLLOW_MTU] = "mtu",
	[XM_FOLLOW_DOWN] = "down",
	[XM_FOLLOW_UP] = "up",
	[XM_FOLLOW_GONE] = "gone",
	[XM_FOLLOW_BACK] = "back",
	[XM_FOLLOW_RESYNC] = "resync",
	[XM_FOLLOW_NO_ADDRESS] = "no-address",
	[XM_FOLLOW_ERROR] = "error",
	[XM_FOLLOW_ADDRESS6] = "address6",
};

/* The counter each kind adds to (XM_C_MAX: none); an IPv6 address
 * change counts as an address change. */
static const enum xm_counter_id kind_counter[XM_FOLLOW_KINDS] = {
	[XM_FOLLOW_ADDRESS] = XM_C_NIC_ADDRESS,
	[XM_FOLLOW_MAC] = XM_C_NIC_MAC,
	[XM_FOLLOW_MTU] = XM_C_NIC_MTU,
	[XM_FOLLOW_DOWN] = XM_C_NIC_DOWN,
	[XM_FOLLOW_UP] = XM_C_NIC_UP,
	[XM_FOLLOW_GONE] = XM_C_NIC_GONE,
	[XM_FOLLOW_BACK] = XM_C_NIC_BACK,
	[XM_FOLLOW_RESYNC] = XM_C_NIC_RESYNC,
	[XM_FOLLOW_NO_ADDRESS] = XM_C_MAX,
	[XM_FOLLOW_ERROR] = XM_C_MAX,
	[XM_FOLLOW_ADDRESS6] = XM_C_NIC_ADDRESS,
};

const char *xm_follow_kind_name(enum xm_follow_kind k)
{
	return k < XM_FOLLOW_KINDS ? kind_names[k] : "?";
}

static const char *ip_str(__be32 a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN) ? buf : "?";
}

static const char *mac_str(const uint8_t *m, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return buf;
}

void xm_follow_event_format(const struct xm_follow_event *ev, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], ma[18], mb[18];

	switch (ev->kind) {
	case XM_FOLLOW_ADDRESS:
		snprintf(buf, len,
			 "%s: address %s -> %s (maps updated, %lu flows of the old one "
			 "dropped)",
			 ev->name, ip_str(ev->old_addr, a), ip_str(ev->new_addr, b),
			 ev->flows_dropped);
		break;
	case XM_FOLLOW_ADDRESS6: {
		char a6[INET6_ADDRSTRLEN], b6[INET6_ADDRSTRLEN];

		xm_ip6_str(ev->old_addr6, a6, sizeof(a6));
		xm_ip6_str(ev->new_addr6, b6, sizeof(b6));
		snprintf(buf, len,
			 "%s: IPv6 address %s -> %s (maps updated, %lu flows of the old one "
			 "dropped%s)",
			 ev->name, a6, b6, ev->flows_dropped,
			 b6[0] == '-' ? "; new IPv6 flows out of it are dropped until it has a "
					"global address" :
					"");
		break;
	}
	case XM_FOLLOW_MAC:
		snprintf(buf, len, "%s: mac %s -> %s (maps updated)", ev->name,
			 mac_str(ev->old_mac, ma), mac_str(ev->new_mac, mb));
		break;
	case XM_FOLLOW_MTU:
		snprintf(buf, len, "%s: mtu %u -> %u (maps updated)", ev->name, ev->old_mtu,
			 ev->new_mtu);
		break;
	case XM_FOLLOW_DOWN:
		snprintf(buf, len, "%s: down (link not up and running)", ev->name);
		break;
	case XM_FOLLOW_UP:
		snprintf(buf, len, "%s: up", ev->name);
		break;
	case XM_FOLLOW_GONE:
		snprintf(buf, len,
			 "%s: gone (deleted, ifindex %u; its slot and flows are kept for it to "
			 "come back under its name)",
			 ev->name, ev->ifindex);
		break;
	case XM_FOLLOW_BACK:
		snprintf(buf, len,
			 "%s: back (ifindex %u, was %u): attached again in %s mode, address %s",
			 ev->name, ev->ifindex, ev->old_ifindex, ev->detail,
			 ip_str(ev->new_addr, a));
		break;
	case XM_FOLLOW_RESYNC:
		snprintf(buf, len, "netlink overran: every managed NIC read afresh");
		break;
	case XM_FOLLOW_NO_ADDRESS:
		snprintf(buf, len,
			 "%s: has no IPv4 address now: masquerades with %s until it gets one",
			 ev->name, ip_str(ev->old_addr, a));
		break;
	default:
		snprintf(buf, len, "%s: %s", ev->name[0] ? ev->name : "follow", ev->detail);
		break;
	}
}

void xm_count_event(struct xm_handle *h, enum xm_counter_id id)
{
	struct xm_counter *vals = calloc((size_t)h->ncpus, sizeof(*vals));
	__u32 key = id;

	/* No program writes these ids: a read-modify-write of CPU 0's. */
	if (vals && bpf_map_lookup_elem(h->fd[XM_MAP_COUNTERS], &key, vals) == 0) {
		vals[0].packets++;
		bpf_map_update_elem(h->fd[XM_MAP_COUNTERS], &key, vals, BPF_ANY);
	}
	free(vals);
}

struct xm_follow_event *xm_follow_emit(struct xm_handle *h, struct xm_follow_event *ev, size_t max,
				       size_t *n, enum xm_follow_kind kind, const char *name,
				       __u32 ifindex)
{
	struct xm_follow_event *e;

	if (kind_counter[kind] != XM_C_MAX)
		xm_count_event(h, kind_counter[kind]);
	if (!ev || *n >= max)
		return NULL;
	e = &ev[(*n)++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->ifindex = ifindex;
	snprintf(e->name, sizeof(e->name), "%s", name);
	return e;
}

/* ---- iface_names ---- */
static int names_fd(const char *pin_dir, int create)
{
	char path[PATH_MAX + 32];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, XM_PIN_IFACE_NAMES);
	fd = bpf_obj_get(path);
	if (fd >= 0 || !create)
		return fd;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xm_iface_names", sizeof(__u32), XM_IFNAMSIZ,
			    XM_MAX_IFACES, NULL);
	if (fd < 0)
		return -1;
	if (bpf_obj_pin(fd, path)) {
		close(fd);
		return bpf_obj_get(path); /* pinned by another attach meanwhile */
	}
	return fd;
}

int xm_iface_name_set(const char *pin_dir, __u8 slot, const char *name)
{
	char v[XM_IFNAMSIZ] = { 0 };
	__u32 key = slot;
	int fd = names_fd(pin_dir, 1), rc;

	if (fd < 0)
		return -1;
	snprintf(v, sizeof(v), "%s", name);
	rc = bpf_map_update_elem(fd, &key, v, BPF_ANY);
	close(fd);
	return rc ? -1 : 0;
}

int xm_iface_name_get(const char *pin_dir, __u8 slot, char name[XM_IFNAMSIZ])
{
	__u32 key = slot;
	int fd = names_fd(pin_dir, 0), rc;

	if (fd < 0)
		return -1;
	rc = bpf_map_lookup_elem(fd, &key, name);
	close(fd);
	if (rc)
		return -1;
	name[XM_IFNAMSIZ - 1] = 0;
	return name[0] ? 0 : -1;
}

int xm_nic_gone_by_name(struct xm_handle *h, const char *name, struct xm_iface *out)
{
	__u32 keys[XM_MAX_IFACES];
	char known[XM_IFNAMSIZ];
	int n = xm_iface_keys(h, keys);

	for (int k = 0; k < n; k++) {
		if (bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &keys[k], out) == 0 &&
		    (out->flags & XM_IFACE_GONE) &&
		    xm_iface_name_get(h->pin_dir, out->slot, known) == 0 && !strcmp(known, name))
			return 1;
	}
	return 0;
}

/* ---- an address that is no longer the NIC's ---- */
struct masq_via {
	__u8 slot;
	__be32 addr;
};

static int flow_masqueraded_via(const struct xm_ct_slot *orig, void *arg)
{
	const struct masq_via *m = arg;

	return orig->flow.out_slot == m->slot && orig->flow.new_saddr == m->addr;
}

/* Whether another managed NIC (not gone) has addr. */
static int addr_of_other(struct xm_handle *h, __be32 addr, __u32 ifindex)
{
	__u32 keys[XM_MAX_IFACES];
	struct xm_iface v;
	int n = xm_iface_keys(h, keys);

	for (int k = 0; k < n; k++)
		if (keys[k] != ifindex &&
		    bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &keys[k], &v) == 0 &&
		    !(v.flags & XM_IFACE_GONE) && v.addr == addr)
			return 1;
	return 0;
}

unsigned long xm_nic_addr_moved(struct xm_handle *h, const struct xm_iface *ifc, __be32 old_addr)
{
	struct masq_via m = { .slot = ifc->slot, .addr = old_addr };
	struct xm_ct_table t;
	char err[256];
	long n;

	if (!old_addr || old_addr == ifc->addr)
		return 0;
	if (!addr_of_other(h, old_addr, ifc->ifindex))
		bpf_map_delete_elem(h->fd[XM_MAP_LOCAL_ADDRS], &old_addr);
	if (xm_ct_open_handle(&t, h, 1, err, sizeof(err)))
		return 0;
	n = xm_ct_remove_if(&t, flow_masqueraded_via, &m);
	xm_ct_close(&t);
	return n > 0 ? (unsigned long)n : 0;
}

/* ---- gone ---- */
int xm_nic_mark_gone(struct xm_handle *h, __u32 ifindex, const char *name,
		     struct xm_follow_event *ev)
{
	struct xm_iface v, none = { 0 };
	__u32 slot;

	if (bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &ifindex, &v) || (v.flags & XM_IFACE_GONE))
		return 0;
	/* No new flow finds it by ifindex or address. Its slot keeps the
	 * entry (without the XDP path): packets of its flows are dropped by
	 * the failed redirect, not handed untranslated to the kernel, which
	 * would reset the connections a NIC coming back could carry on. */
	if (ifindex < XM_IFINDEX_DIRECT)
		bpf_map_update_elem(h->fd[XM_MAP_IFACE_INDEX], &ifindex, &none, BPF_ANY);
	if (v.addr && !addr_of_other(h, v.addr, ifindex))
		bpf_map_delete_elem(h->fd[XM_MAP_LOCAL_ADDRS], &v.addr);
	bpf_map_delete_elem(h->fd[XM_MAP_TX_PORTS], &ifindex);
	v.flags = (v.flags | XM_IFACE_GONE) & ~XM_IFACE_XDP_TX_OK;
	slot = v.slot;
	bpf_map_update_elem(h->fd[XM_MAP_IFACE_SLOTS], &slot, &v, BPF_ANY);
	bpf_map_update_elem(h->fd[XM_MAP_IFACES], &ifindex, &v, BPF_ANY);
	if (ev) {
		memset(ev, 0, sizeof(*ev));
		ev->kind = XM_FOLLOW_GONE;
		ev->ifindex = ifindex;
		ev->old_addr = v.addr;
		if (name && name[0])
			snprintf(ev->name, sizeof(ev->name), "%s", name);
		else if (xm_iface_name_get(h->pin_dir, v.slot, ev->name))
			snprintf(ev->name, sizeof(ev->name), "#%u", ifindex);
	}
	return 1;
}

/* ---- an IPv6 address that is no longer the NIC's ---- */
struct masq6_via {
	__u8 slot;
	__be32 addr[4];
};

static int flow6_masqueraded_via(const struct xm_flow6_key *k, const struct xm_flow6 *orig,
				 void *arg)
{
	const struct masq6_via *m = arg;

	(void)k;
	return orig->out_slot == m->slot && !memcmp(orig->new_saddr, m->addr, sizeof(m->addr));
}

/* Brings iface_addrs6[slot] up to date (xm_ifinfo_addr6: the address in
 * use while it is usable): an event when it changed, the flows
 * masqueraded with the old address dropped once the NIC no longer has it
 * (their replies would come to nobody; a deprecated one still gets
 * them). */
static size_t nic_refresh6(struct xm_handle *h, const struct xm_iface *v, const char *name,
			   struct xm_follow_event *ev, size_t max)
{
	static const __be32 none[4];
	struct xm_follow_event *e;
	struct masq6_via m = { .slot = v->slot };
	__be32 now[4];
	char err[160];
	size_t n = 0;
	long dropped = 0;
	int old_on = 0;

	if (h->fd[XM_MAP_IFACE_ADDRS6] < 0)
		return 0; /* an older attach: no IPv6 data plane to tell */
	xm_iface6_get(h, v->slot, m.addr);
	if (xm_ifinfo_addr6(v->ifindex, m.addr, now, &old_on, err, sizeof(err)) < 0) {
		e = xm_follow_emit(h, ev, max, &n, XM_FOLLOW_ERROR, name, v->ifindex);
		if (e)
			snprintf(e->detail, sizeof(e->detail), "cannot read its IPv6 address: %s",
				 err);
		return n;
	}
	if (!memcmp(now, m.addr, sizeof(now)))
		return 0;
	if (xm_iface6_store(h, v->slot, now)) {
		e = xm_follow_emit(h, ev, max, &n, XM_FOLLOW_ERROR, name, v->ifindex);
		if (e)
			snprintf(e->detail, sizeof(e->detail), "cannot record its IPv6 address: %s",
				 strerror(errno));
		return n;
	}
	if (memcmp(m.addr, none, sizeof(none)) && !old_on)
		dropped = xm_ct6_remove_if(h, flow6_masqueraded_via, &m, err, sizeof(err));
	e = xm_follow_emit(h, ev, max, &n, XM_FOLLOW_ADDRESS6, name, v->ifindex);
	if (e) {
		memcpy(e->old_addr6, m.addr, sizeof(e->old_addr6));
		memcpy(e->new_addr6, now, sizeof(e->new_addr6));
		e->flows_dropped = dropped > 0 ? (unsigned long)dropped : 0;
	}
	return n;
}

/* ---- read afresh ---- */
unsigned xm_nic_changes(const struct xm_iface *v, const struct xm_iface *now)
{
	unsigned changes = 0;

	if (memcmp(now->mac, v->mac, sizeof(v->mac)))
		changes |= XM_NIC_MAC;
	if (now->mtu && now->mtu != v->mtu)
		changes |= XM_NIC_MTU;
	if (now->addr && now->addr != v->addr)
		changes |= XM_NIC_ADDR;
	return changes;
}

size_t xm_nic_refresh(struct xm_handle *h, __u32 ifindex, struct xm_follow_event *ev, size_t max)
{
	struct xm_iface v, now, nv;
	struct xm_follow_event *e, gone_ev;
	char name[IF_NAMESIZE], err[160];
	size_t n = 0;

	if (bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &ifindex, &v) || (v.flags & XM_IFACE_GONE))
		return 0;
	if (!if_indextoname(ifindex, name)) {
		if (xm_nic_mark_gone(h, ifindex, NULL, &gone_ev)) {
			e = xm_follow_emit(h, ev, max, &n, XM_FOLLOW_GONE, gone_ev.name, ifindex);
			if (e)
				*e = gone_ev;
		}
		return n;
	}
	if (xm_ifinfo_read(name, &now, err, sizeof(err))) {
		e = xm_follow_emit(h, ev, max, &n, XM_FOLLOW_ERROR, name, ifindex);
		if (e)
			snprintf(e->detail, sizeof(e->detail), "cannot read it: %s", err);
		return n;
	}
	n += nic_refresh6(h, &v, name, ev, max);
	nv = v;
	memcpy(nv.mac, now.mac, sizeof(nv.mac));
	if (now.mtu)
		nv.mtu = now.mtu;
	if (now.addr)
		nv.addr = now.addr;
	if (!xm_nic_changes(&v, &now)) {
		/* (a NIC that never had one serves IPv6 only: nothing to say) */
		if (!now.addr && v.addr) {
			e = xm_follow_emit(h, ev, max, &n, XM_FOLLOW_NO_ADDRESS, name, ifindex);
			if (e)
				e->old_addr = v.addr;
		}
		return n;
	}
	/* The new address is the router's before the entry says so; the old
	 * one stops being it after (xm_nic_addr_moved): no packet sees
	 * neither. Each map holds one whole entry at a time. */
	if (nv.addr != v.addr &&
	    bpf_map_update_elem(h->fd[XM_MAP_LOCAL_ADDRS], &nv.addr, &ifindex, BPF_ANY)) {
		e = xm_follow_emit(h, ev, max, &n, XM_FOLLOW_ERROR, name, ifindex);
		if (e)
			snprintf(e->detail, sizeof(e->detail), "cannot record its address: %s",
				 strerror(errno));
		return n;
	}
	if (xm_iface_store(h, &nv)) {
		e = xm_follow_emit(h, ev, max, &n, XM_FOLLOW_ERROR, name, ifindex);
		if (e)
			snprintf(e->detail, sizeof(e->detail), "cannot update its entry: %s",
				 strerror(errno));
		return n;
	}
	if (nv.addr != v.addr) {
		unsigned long dropped = xm_nic_addr_moved(h, &nv, v.addr);

		e = xm_follow_emit(h, ev, max, &n, XM_FOLLOW_ADDRESS, name, ifindex);
		if (e) {
			e->old_addr = v.addr;
			e->new_addr = nv.addr;
			e->flows_dropped = dropped;
		}
	}
	if (memcmp(nv.mac, v.mac, sizeof(v.mac))) {
		e = xm_follow_emit(h, ev, max, &n, XM_FOLLOW_MAC, name, ifindex);
		if (e) {
			memcpy(e->old_mac, v.mac, 6);
			memcpy(e->new_mac, nv.mac, 6);
		}
	}
	if (nv.mtu != v.mtu) {
		e = xm_follow_emit(h, ev, max, &n, XM_FOLLOW_MTU, name, ifindex);
		if (e) {
			e->old_mtu = v.mtu;
			e->new_mtu = nv.mtu;
		}
	}
	return n;
}

int xm_nics_refresh(struct xm_handle *h, struct xm_follow_event *ev, size_t max, size_t *n,
		    char *err, size_t errlen)
{
	__u32 keys[XM_MAX_IFACES];
	int k, count = xm_iface_keys(h, keys);

	(void)err;
	(void)errlen;
	*n = 0;
	for (k = 0; k < count; k++)
		*n += xm_nic_refresh(h, keys[k], ev ? ev + *n : NULL, ev ? max - *n : 0);
	return 0;
}

/* ---- a NIC that comes back ---- */
void xm_rules_move_iface(struct xm_handle *h, __u32 from_ifindex, __u32 to_ifindex)
{
	int rules_fd = h->fd[XM_MAP_RULES], masq_fd = h->fd[XM_MAP_MASQ_RULES];
	struct xm_rule_key k, next, *prev = NULL, *keys = NULL;
	struct xm_masq_key mk, *mprev = NULL, *mkeys = NULL;
	size_t n = 0, cap = 0, mn = 0, mcap = 0;
	struct xm_rule_value rv;
	struct xm_masq_value mv;
	struct xm_rule_meta *all;

	/* Keys are listed before anything changes: storing while walking a
	 * hash can revisit keys without end. */
	while (bpf_map_get_next_key(rules_fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (k.ifindex != from_ifindex)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct xm_rule_key *nk = realloc(keys, ncap * sizeof(*nk));

			if (!nk)
				break;
			keys = nk;
			cap = ncap;
		}
		keys[n++] = k;
	}
	/* Copies under the new ifindex first, then the old keys go. */
	for (size_t i = 0; i < n; i++) {
		struct xm_rule_key nk = keys[i];

		if (bpf_map_lookup_elem(rules_fd, &keys[i], &rv))
			continue;
		nk.ifindex = to_ifindex;
		bpf_map_update_elem(rules_fd, &nk, &rv, BPF_ANY);
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(rules_fd, &keys[i]);
	free(keys);

	while (bpf_map_get_next_key(masq_fd, mprev, &mk) == 0) {
		if (mn == mcap) {
			size_t ncap = mcap ? mcap * 2 : 64;
			struct xm_masq_key *nk = realloc(mkeys, ncap * sizeof(*nk));

			if (!nk)
				break;
			mkeys = nk;
			mcap = ncap;
		}
		mkeys[mn++] = mk;
		mprev = &mkeys[mn - 1];
	}
	for (size_t i = 0; i < mn; i++) {
		if (bpf_map_lookup_elem(masq_fd, &mkeys[i], &mv) == 0 &&
		    mv.out_ifindex == from_ifindex) {
			mv.out_ifindex = to_ifindex;
			bpf_map_update_elem(masq_fd, &mkeys[i], &mv, BPF_ANY);
		}
	}
	free(mkeys);
	xm_rules6_move_iface(h, from_ifindex, to_ifindex);
	all = calloc(XM_MAX_RULES, sizeof(*all));
	if (!all)
		return;
	xm_read_rule_meta(h, all);
	for (__u32 id = 1; id < XM_MAX_RULES; id++) {
		if (all[id].in_use && all[id].ifindex == from_ifindex) {
			all[id].ifindex = to_ifindex;
			bpf_map_update_elem(h->fd[XM_MAP_RULE_META], &id, &all[id], BPF_ANY);
		}
	}
	free(all);
	xm_meta_stamp_bump(h);
}

static int pinned_prog(const char *pin_dir, const char *name)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	return bpf_obj_get(path);
}

static const char *mode_name(const struct xm_iface *v)
{
	if (!(v->flags & XM_IFACE_XDP_ATTACHED))
		return "tc";
	return (v->flags & XM_IFACE_XDP_GENERIC) ? "xdp-generic" : "xdp";
}

int xm_nic_adopt(struct xm_handle *h, const char *name, struct xm_follow_event *ev, char *err,
		 size_t errlen)
{
	struct xm_iface gone, info;
	char why[256];
	int xdp_fd, tc_fd, rc;

	if (!xm_nic_gone_by_name(h, name, &gone))
		return 0;
	/* Like attach, it needs an address: its NEWADDR brings us back. */
	if (xm_ifinfo_get(name, &info, why, sizeof(why)))
		return 0;
	xdp_fd = pinned_prog(h->pin_dir, XM_PIN_PROG_XDP);
	tc_fd = pinned_prog(h->pin_dir, XM_PIN_PROG_TC);
	if (xdp_fd < 0 || tc_fd < 0) {
		snprintf(err, errlen,
			 "%s: cannot attach it again: the pinned programs under %s are missing "
			 "(%s; run: xmasq attach %s)",
			 name, h->pin_dir, strerror(errno), name);
		rc = -1;
	} else {
		xm_quiet_libs();
		rc = xm_attach_iface(h, xdp_fd, tc_fd, name, &info, XM_MODE_AUTO, NULL, err,
				     errlen);
	}
	if (xdp_fd >= 0)
		close(xdp_fd);
	if (tc_fd >= 0)
		close(tc_fd);
	if (rc)
		return -1;
	xm_refresh_tx_paths(h, NULL);
	xm_count_event(h, XM_C_NIC_BACK);
	if (ev) {
		memset(ev, 0, sizeof(*ev));
		ev->kind = XM_FOLLOW_BACK;
		snprintf(ev->name, sizeof(ev->name), "%s", name);
		ev->ifindex = info.ifindex;
		ev->old_ifindex = gone.ifindex;
		ev->old_addr = gone.addr;
		ev->new_addr = info.addr;
		bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &info.ifindex, &info);
		snprintf(ev->detail, sizeof(ev->detail), "%s", mode_name(&info));
	}
	return 1;
}
