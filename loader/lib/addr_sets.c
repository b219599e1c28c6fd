// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `as ADDR[,ADDR...]` lists: checked against the router's addresses, and
 * given indexes of the addr_sets map (IPv4 lists) or addr_sets6 (IPv6
 * lists: rules whose flows leave by IPv6), one index space for both.
 * Identical lists of one family share an index; an index keeps its list
 * while a live rule uses it, so a new list only ever goes to an index no
 * packet can be reading (bpf/ports.h), whichever family it held. */
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

/* Whether the address of family af at addr (network order) is an
 * address of ifname, or of any interface when ifname is NULL. */
static int is_local(const struct ifaddrs *all, const char *ifname, int af, const void *addr)
{
	for (const struct ifaddrs *a = all; a; a = a->ifa_next) {
		if (!a->ifa_addr || a->ifa_addr->sa_family != af)
			continue;
		if (af == AF_INET &&
		    memcmp(&((const struct sockaddr_in *)a->ifa_addr)->sin_addr, addr, 4))
			continue;
		if (af == AF_INET6 &&
		    memcmp(&((const struct sockaddr_in6 *)a->ifa_addr)->sin6_addr, addr, 16))
			continue;
		if (!ifname || strcmp(a->ifa_name, ifname) == 0)
			return 1;
	}
	return 0;
}

static int check_list(const struct ifaddrs *all, const struct xm_addr_list *l, const char *ifname,
		      const char *filename, unsigned line, char *err, size_t errlen)
{
	/* the command that adds one: IPv6 without duplicate address
	 * detection, so that it is usable at once */
	const char *ip = l->v6 ? "ip -6 addr add" : "ip addr add";
	const char *plen = l->v6 ? "/128" : "/32", *nodad = l->v6 ? " nodad" : "";
	int af = l->v6 ? AF_INET6 : AF_INET;
	char a[INET6_ADDRSTRLEN];

	for (unsigned i = 0; i < l->n; i++) {
		const void *addr = l->v6 ? (const void *)&l->addr6[i] : (const void *)&l->addr[i];

		if (is_local(all, ifname, af, addr))
			continue;
		inet_ntop(af, addr, a, sizeof(a));
		if (ifname)
			snprintf(err, errlen,
				 "%s:%u:%u: %s is not an address of %s (a masquerade leaves by its "
				 "interface: add it there, e.g. %s %s%s dev %s%s, or an IP "
				 "configuration of the NIC in the cloud)",
				 filename, line, l->col, a, ifname, ip, a, plen, ifname, nodad);
		else
			snprintf(err, errlen,
				 "%s:%u:%u: %s is not an address of this router (replies must come "
				 "back to it: add it to an interface, e.g. %s %s%s dev "
				 "IFACE%s)",
				 filename, line, l->col, a, ip, a, plen, nodad);
		return -2;
	}
	return 0;
}

int xm_as_check(const struct xm_ruleset *rs, const char *filename, char *err, size_t errlen)
{
	struct ifaddrs *all = NULL;
	int rc = 0, any = 0;

	for (size_t i = 0; i < rs->n_rules && !any; i++)
		any = rs->rules[i].as.n > 0;
	for (size_t i = 0; i < rs->n_masqs && !any; i++)
		any = rs->masqs[i].as.n > 0;
	if (!any)
		return 0;
	if (getifaddrs(&all)) {
		snprintf(err, errlen, "%s: cannot list the router's addresses: %s", filename,
			 strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < rs->n_rules && !rc; i++)
		rc = check_list(all, &rs->rules[i].as, NULL, filename, rs->rules[i].line, err,
				errlen);
	for (size_t i = 0; i < rs->n_masqs && !rc; i++)
		rc = check_list(all, &rs->masqs[i].as, rs->masqs[i].out_ifname, filename,
				rs->masqs[i].line, err, errlen);
	freeifaddrs(all);
	return rc;
}

/* Whether index sid holds list l (of l's family). */
static int same_list(const struct xm_as_table *t, __u32 sid, const struct xm_addr_list *l)
{
	if (t->v6[sid] != l->v6)
		return 0;
	if (l->v6)
		return t->set6[sid].n == l->n &&
		       memcmp(t->set6[sid].addr, l->addr6, l->n * sizeof(l->addr6[0])) == 0;
	return t->set[sid].n == l->n &&
	       memcmp(t->set[sid].addr, l->addr, l->n * sizeof(l->addr[0])) == 0;
}

static const struct xm_addr_list *item_list(const struct xm_ruleset *rs, size_t i)
{
	return i < rs->n_rules ? &rs->rules[i].as : &rs->masqs[i - rs->n_rules].as;
}

/* The lists the live rules use, each from the map of its rule's family:
 * addr_sets6 for a rule whose flows leave by IPv6, else addr_sets. */
static void read_live(struct xm_as_table *t, struct xm_handle *h, const struct xm_rule_meta *live)
{
	for (__u32 id = 1; id < XM_MAX_RULES; id++) {
		__u32 sid = live[id].addr_set;
		int v6 = xm_flags_leave_v6(live[id].flags);

		if (!live[id].in_use || !sid || sid >= XM_ADDR_SETS || t->used[sid])
			continue;
		/* used even when it cannot be read (an empty list then, which
		 * no new one matches): a packet may be reading it */
		t->used[sid] = 1;
		t->v6[sid] = (unsigned char)v6;
		if (v6 && (h->fd[XM_MAP_ADDR_SETS6] < 0 ||
			   bpf_map_lookup_elem(h->fd[XM_MAP_ADDR_SETS6], &sid, &t->set6[sid]) ||
			   t->set6[sid].n > XM_ADDR_SET_MAX))
			memset(&t->set6[sid], 0, sizeof(t->set6[sid]));
		if (!v6 && (bpf_map_lookup_elem(h->fd[XM_MAP_ADDR_SETS], &sid, &t->set[sid]) ||
			    t->set[sid].n > XM_ADDR_SET_MAX))
			memset(&t->set[sid], 0, sizeof(t->set[sid]));
	}
}

int xm_as_assign(struct xm_as_table *t, struct xm_handle *h, const struct xm_rule_meta *live,
		 const struct xm_ruleset *rs, __u16 *set_of, const char *filename, char *err,
		 size_t errlen)
{
	size_t n = rs->n_rules + rs->n_masqs;
	__u32 next_free = 1;

	memset(t, 0, sizeof(*t));
	if (h)
		read_live(t, h, live);
	for (size_t i = 0; i < n; i++) {
		const struct xm_addr_list *l = item_list(rs, i);
		__u32 sid;

		set_of[i] = 0;
		if (!l->n)
			continue;
		for (sid = 1; sid < XM_ADDR_SETS; sid++)
			if ((t->used[sid] || t->fresh[sid]) && same_list(t, sid, l))
				break;
		if (sid == XM_ADDR_SETS) {
			/* never an index a live rule reads, of either family */
			while (next_free < XM_ADDR_SETS &&
			       (t->used[next_free] || t->fresh[next_free]))
				next_free++;
			if (next_free >= XM_ADDR_SETS) {
				snprintf(err, errlen,
					 "%s: more than %d different 'as' lists live at once (use "
					 "the same list in more rules)",
					 filename, XM_ADDR_SETS - 1);
				return -2;
			}
			sid = next_free;
			t->fresh[sid] = 1;
			t->v6[sid] = l->v6;
			if (l->v6) {
				t->set6[sid].n = l->n;
				memcpy(t->set6[sid].addr, l->addr6, l->n * sizeof(l->addr6[0]));
			} else {
				t->set[sid].n = l->n;
				memcpy(t->set[sid].addr, l->addr, l->n * sizeof(l->addr[0]));
			}
		}
		set_of[i] = (__u16)sid;
		t->any = 1;
	}
	return 0;
}

int xm_as_write(const struct xm_as_table *t, struct xm_handle *h, const char **map)
{
	for (__u32 sid = 1; sid < XM_ADDR_SETS; sid++) {
		int id = t->v6[sid] ? XM_MAP_ADDR_SETS6 : XM_MAP_ADDR_SETS;
		const void *val = t->v6[sid] ? (const void *)&t->set6[sid] :
					       (const void *)&t->set[sid];

		if (!t->fresh[sid])
			continue;
		*map = xm_map_pin_names[id];
		if (h->fd[id] < 0)
			return -ENOENT;
		if (bpf_map_update_elem(h->fd[id], &sid, val, BPF_ANY))
			return -errno;
	}
	return 0;
}

const struct xm_addr_set *xm_as_of(const struct xm_as_table *t, __u16 sid)
{
	return sid && sid < XM_ADDR_SETS && (t->used[sid] || t->fresh[sid]) && !t->v6[sid] ?
		       &t->set[sid] :
		       NULL;
}

const struct xm_addr_set6 *xm_as_of6(const struct xm_as_table *t, __u16 sid)
{
	return sid && sid < XM_ADDR_SETS && (t->used[sid] || t->fresh[sid]) && t->v6[sid] ?
		       &t->set6[sid] :
		       NULL;
}
