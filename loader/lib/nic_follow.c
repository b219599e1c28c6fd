// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The NIC follower: rtnetlink link and IPv4/IPv6 address notifications, read
 * with libmnl (Debian's libmnl: the message walking, attribute parsing
 * and bounds checks are its, not ours), turned into map updates (nic.c).
 * Messages are only hints: what a NIC is now is read from the kernel when
 * a burst has been drained, once per NIC, so a burst costs one update and
 * a lost message (overrun) costs a full pass, never a wrong entry. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"
#include "ifinfo.h"

/* What one drained burst asks for. */
struct follow_batch {
	struct xm_follow *f;
	struct xm_follow_event *ev;
	size_t max, n;
	int overrun;
	__u32 dirty[XM_MAX_IFACES]; /* managed NICs to read afresh */
	size_t n_dirty;
	char adopt[XM_MAX_IFACES][XM_IFNAMSIZ]; /* names of NICs that may be gone ones back */
	size_t n_adopt;
};

/* Where the next event goes (NULL: the caller wants none). */
static struct xm_follow_event *next_ev(struct follow_batch *b)
{
	return b->ev ? b->ev + b->n : NULL;
}

static int managed(struct xm_handle *h, __u32 ifindex, struct xm_iface *v)
{
	return bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &ifindex, v) == 0;
}

static void add_dirty(struct follow_batch *b, __u32 ifindex)
{
	for (size_t i = 0; i < b->n_dirty; i++)
		if (b->dirty[i] == ifindex)
			return;
	if (b->n_dirty < XM_MAX_IFACES)
		b->dirty[b->n_dirty++] = ifindex;
}

static void add_adopt(struct follow_batch *b, const char *name)
{
	for (size_t i = 0; i < b->n_adopt; i++)
		if (!strcmp(b->adopt[i], name))
			return;
	if (b->n_adopt < XM_MAX_IFACES)
		snprintf(b->adopt[b->n_adopt++], XM_IFNAMSIZ, "%s", name);
}

/* The follower's record of a NIC's link state: NULL when not known. */
static int *link_state(struct xm_follow *f, __u32 ifindex, int add)
{
	for (int i = 0; i < XM_MAX_IFACES; i++)
		if (f->link[i].ifindex == ifindex)
			return &f->link[i].running;
	for (int i = 0; add && i < XM_MAX_IFACES; i++) {
		if (!f->link[i].ifindex) {
			f->link[i].ifindex = ifindex;
			f->link[i].running = -1;
			return &f->link[i].running;
		}
	}
	return NULL;
}

static void link_forget(struct xm_follow *f, __u32 ifindex)
{
	for (int i = 0; i < XM_MAX_IFACES; i++)
		if (f->link[i].ifindex == ifindex)
			f->link[i].ifindex = 0;
}

/* A managed NIC's link is running or not: an event on each change. */
static void link_seen(struct follow_batch *b, __u32 ifindex, const char *name, int running)
{
	int *st = link_state(b->f, ifindex, 1);

	if (!st)
		return;
	if (*st != -1 && *st != running)
		xm_follow_emit(b->f->h, b->ev, b->max, &b->n,
			       running ? XM_FOLLOW_UP : XM_FOLLOW_DOWN, name, ifindex);
	*st = running;
}

static int ifname_attr(const struct nlattr *attr, void *data)
{
	const char **name = data;

	if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
		*name = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

static void on_link(struct follow_batch *b, const struct nlmsghdr *nlh)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct xm_handle *h = b->f->h;
	const char *name = NULL;
	struct xm_follow_event gone;
	struct xm_iface v;
	__u32 ifindex = (__u32)ifi->ifi_index;

	mnl_attr_parse(nlh, sizeof(*ifi), ifname_attr, &name);
	if (!managed(h, ifindex, &v) || (v.flags & XM_IFACE_GONE)) {
		/* A new NIC: perhaps a gone one back under its name. */
		if (nlh->nlmsg_type == RTM_NEWLINK && name)
			add_adopt(b, name);
		return;
	}
	if (nlh->nlmsg_type == RTM_DELLINK) {
		if (xm_nic_mark_gone(h, ifindex, name, &gone)) {
			struct xm_follow_event *e = xm_follow_emit(
				h, b->ev, b->max, &b->n, XM_FOLLOW_GONE, gone.name, ifindex);
			if (e)
				*e = gone;
		}
		link_forget(b->f, ifindex);
		return;
	}
	if (name) /* renamed: status and a later come-back know it by this name */
		xm_iface_name_set(h->pin_dir, v.slot, name);
	link_seen(b, ifindex, name ? name : "?",
		  (ifi->ifi_flags & IFF_UP) && (ifi->ifi_flags & IFF_RUNNING));
	add_dirty(b, ifindex); /* MAC, MTU: read afresh after the burst */
}

static void on_addr(struct follow_batch *b, const struct nlmsghdr *nlh)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	char name[IF_NAMESIZE];
	struct xm_iface v;

	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return;
	/* IPv6: also the flag changes of an address (tentative -> usable
	 * after DAD, deprecated) come as RTM_NEWADDR. */
	if (managed(b->f->h, ifa->ifa_index, &v) && !(v.flags & XM_IFACE_GONE))
		add_dirty(b, ifa->ifa_index);
	else if (ifa->ifa_family == AF_INET && nlh->nlmsg_type == RTM_NEWADDR &&
		 if_indextoname(ifa->ifa_index, name))
		add_adopt(b, name); /* a NIC back needs its address to be attached */
}

static int on_message(const struct nlmsghdr *nlh, void *data)
{
	struct follow_batch *b = data;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		if (mnl_nlmsg_ok(nlh, (int)nlh->nlmsg_len) &&
		    nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(struct ifinfomsg)))
			on_link(b, nlh);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(struct ifaddrmsg)))
			on_addr(b, nlh);
		break;
	}
	return MNL_CB_OK;
}

static void adopt(struct follow_batch *b, const char *name)
{
	struct xm_follow_event back, *e;
	char err[512];
	int rc = xm_nic_adopt(b->f->h, name, &back, err, sizeof(err));

	if (rc == 1) {
		link_forget(b->f, back.old_ifindex);
		link_state(b->f, back.ifindex, 1);
		if (b->n < b->max)
			b->ev[b->n++] = back;
	} else if (rc < 0) {
		e = xm_follow_emit(b->f->h, b->ev, b->max, &b->n, XM_FOLLOW_ERROR, name, 0);
		if (e)
			snprintf(e->detail, sizeof(e->detail), "%.*s", (int)sizeof(e->detail) - 1,
				 err);
	}
}

/* Everything, as after an overrun: every managed NIC read afresh (gone
 * ones marked), gone ones back under their name attached again, link
 * states compared. */
static void full_pass(struct follow_batch *b)
{
	struct xm_handle *h = b->f->h;
	__u32 keys[XM_MAX_IFACES];
	char name[XM_IFNAMSIZ], err[256];
	struct xm_iface v;
	size_t got = 0;
	int n;

	xm_nics_refresh(h, next_ev(b), b->max - b->n, &got, err, sizeof(err));
	b->n += got < b->max - b->n ? got : b->max - b->n;
	n = xm_iface_keys(h, keys);
	for (int k = 0; k < n; k++) {
		if (bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &keys[k], &v))
			continue;
		if (v.flags & XM_IFACE_GONE) {
			link_forget(b->f, keys[k]);
			if (xm_iface_name_get(h->pin_dir, v.slot, name) == 0 &&
			    if_nametoindex(name))
				adopt(b, name);
		}
	}
	n = xm_iface_keys(h, keys);
	for (int k = 0; k < n; k++) {
		if (bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &keys[k], &v) ||
		    (v.flags & XM_IFACE_GONE) || !if_indextoname(keys[k], name))
			continue;
		link_seen(b, keys[k], name, xm_ifinfo_running(name));
	}
}

int xm_follow_open(struct xm_follow *f, struct xm_handle *h, char *err, size_t errlen)
{
	struct mnl_socket *nl;
	int rcvbuf = 1 << 20;

	memset(f, 0, sizeof(*f));
	f->h = h;
	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!nl) {
		snprintf(err, errlen, "rtnetlink socket: %s", strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(nl, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
			    MNL_SOCKET_AUTOPID)) {
		snprintf(err, errlen,
			 "rtnetlink: cannot subscribe to link and address changes: %s (needs "
			 "CAP_NET_ADMIN in this network namespace)",
			 strerror(errno));
		mnl_socket_close(nl);
		return -1;
	}
	/* Room for a burst (hot-plug of many VFs); an overrun still only
	 * costs a full pass. */
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	f->nl = nl;
	return 0;
}

int xm_follow_fd(const struct xm_follow *f)
{
	return f->nl ? mnl_socket_get_fd(f->nl) : -1;
}

int xm_follow_resync(struct xm_follow *f, struct xm_follow_event *ev, size_t max, char *err,
		     size_t errlen)
{
	struct follow_batch b = { .f = f, .ev = ev, .max = ev ? max : 0 };

	(void)err;
	(void)errlen;
	full_pass(&b);
	return (int)b.n;
}

int xm_follow_process(struct xm_follow *f, struct xm_follow_event *ev, size_t max, char *err,
		      size_t errlen)
{
	struct follow_batch b;
	char buf[MNL_SOCKET_BUFFER_SIZE * 4];
	ssize_t len;

	memset(&b, 0, sizeof(b));
	b.f = f;
	b.ev = ev;
	b.max = ev ? max : 0;
	/* Drain the burst: every message pending now. */
	for (;;) {
		len = mnl_socket_recvfrom(f->nl, buf, sizeof(buf));
		if (len < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (len < 0 && errno == ENOBUFS) {
			b.overrun = 1; /* messages were lost: read everything afresh */
			continue;
		}
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0) {
			snprintf(err, errlen, "rtnetlink: %s", strerror(errno));
			return -1;
		}
		if (!b.overrun)
			mnl_cb_run(buf, (size_t)len, 0, 0, on_message, &b);
	}
	if (b.overrun) {
		xm_follow_emit(f->h, b.ev, b.max, &b.n, XM_FOLLOW_RESYNC, "", 0);
		full_pass(&b);
		return (int)b.n;
	}
	for (size_t i = 0; i < b.n_adopt; i++)
		adopt(&b, b.adopt[i]);
	for (size_t i = 0; i < b.n_dirty; i++)
		b.n += xm_nic_refresh(f->h, b.dirty[i], next_ev(&b), b.max - b.n);
	return (int)b.n;
}

static __u32 map_id_of_fd(int fd)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	return fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

int xm_follow_stale(const struct xm_follow *f)
{
	char path[PATH_MAX + 16];
	__u32 pinned;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->h->pin_dir, xm_map_pin_names[XM_MAP_CONFIG]);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	pinned = map_id_of_fd(fd);
	close(fd);
	return pinned != map_id_of_fd(f->h->fd[XM_MAP_CONFIG]);
}

void xm_follow_close(struct xm_follow *f)
{
	if (f->nl)
		mnl_socket_close(f->nl);
	f->nl = NULL;
}
