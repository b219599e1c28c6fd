// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `as ADDR[,ADDR...]` lists: checked against the router's addresses, and
 * given indexes of the addr_sets map. Identical lists share an index; an
 * index keeps its list while a live rule uses it, so a new list only ever
 * goes to an index no packet can be reading (bpf/ports.h). */
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

/* Whether addr (network order) is an address of ifname, or of any
 * interface when ifname is NULL. */
static int is_local(const struct ifaddrs *all, const char *ifname, uint32_t addr)
{
	for (const struct ifaddrs *a = all; a; a = a->ifa_next) {
		if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET)
			continue;
		if (((const struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr != addr)
			continue;
		if (!ifname || strcmp(a->ifa_name, ifname) == 0)
			return 1;
	}
	return 0;
}

static int check_list(const struct ifaddrs *all, const struct xm_addr_list *l, const char *ifname,
		      const char *filename, unsigned line, char *err, size_t errlen)
{
	char a[INET_ADDRSTRLEN];

	for (unsigned i = 0; i < l->n; i++) {
		if (is_local(all, ifname, l->addr[i]))
			continue;
		inet_ntop(AF_INET, &l->addr[i], a, sizeof(a));
		if (ifname)
			snprintf(err, errlen,
				 "%s:%u:%u: %s is not an address of %s (a masquerade leaves by its "
				 "interface: add it there, e.g. ip addr add %s/32 dev %s, or an IP "
				 "configuration of the NIC in the cloud)",
				 filename, line, l->col, a, ifname, a, ifname);
		else
			snprintf(err, errlen,
				 "%s:%u:%u: %s is not an address of this router (replies must come "
				 "back to it: add it to an interface, e.g. ip addr add %s/32 dev "
				 "IFACE)",
				 filename, line, l->col, a, a);
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

static int same_list(const struct xm_addr_set *s, const struct xm_addr_list *l)
{
	if (s->n != l->n)
		return 0;
	for (unsigned i = 0; i < l->n; i++)
		if (s->addr[i] != l->addr[i])
			return 0;
	return 1;
}

static const struct xm_addr_list *item_list(const struct xm_ruleset *rs, size_t i)
{
	return i < rs->n_rules ? &rs->rules[i].as : &rs->masqs[i - rs->n_rules].as;
}

int xm_as_assign(struct xm_as_table *t, struct xm_handle *h, const struct xm_rule_meta *live,
		 const struct xm_ruleset *rs, __u16 *set_of, const char *filename, char *err,
		 size_t errlen)
{
	size_t n = rs->n_rules + rs->n_masqs;
	__u32 next_free = 1;

	memset(t, 0, sizeof(*t));
	for (__u32 id = 1; h && id < XM_MAX_RULES; id++) {
		__u32 sid = live[id].addr_set;

		if (!live[id].in_use || !sid || sid >= XM_ADDR_SETS || t->used[sid])
			continue;
		if (bpf_map_lookup_elem(h->fd[XM_MAP_ADDR_SETS], &sid, &t->set[sid]) == 0)
			t->used[sid] = 1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct xm_addr_list *l = item_list(rs, i);
		__u32 sid;

		set_of[i] = 0;
		if (!l->n)
			continue;
		for (sid = 1; sid < XM_ADDR_SETS; sid++)
			if ((t->used[sid] || t->fresh[sid]) && same_list(&t->set[sid], l))
				break;
		if (sid == XM_ADDR_SETS) {
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
			t->set[sid].n = l->n;
			memcpy(t->set[sid].addr, l->addr, l->n * sizeof(l->addr[0]));
		}
		set_of[i] = (__u16)sid;
		t->any = 1;
	}
	return 0;
}

int xm_as_write(const struct xm_as_table *t, struct xm_handle *h)
{
	for (__u32 sid = 1; sid < XM_ADDR_SETS; sid++)
		if (t->fresh[sid] &&
		    bpf_map_update_elem(h->fd[XM_MAP_ADDR_SETS], &sid, &t->set[sid], BPF_ANY))
			return -errno;
	return 0;
}

const struct xm_addr_set *xm_as_of(const struct xm_as_table *t, __u16 sid)
{
	return sid && sid < XM_ADDR_SETS && (t->used[sid] || t->fresh[sid]) ? &t->set[sid] : NULL;
}
