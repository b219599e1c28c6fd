// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Applying a rule set to the live data plane. The rules map holds two
 * generations; the next one is written beside the live one and a single
 * write of config.active_gen switches every CPU over, so a packet sees the
 * old rule set or the new one, never a mix. Unchanged rules keep their id
 * (and so their counters); flows of any rule keep their translation.
 *
 * IPv6 forwards (XM_RULE_V6) go the same way, their port entries in map
 * rules6: rule_meta holds them with daddr and to_addr 0, their addresses
 * in rule_addrs6 at the same id. A rule's identity (what keeps its id) is
 * its meta and, for IPv6, those addresses (struct xm_rule_addrs6 beside
 * each meta below).
 *
 * Forwards for IPv6 clients of an IPv4 backend (6->4, XM_RULE_TO_V4) are
 * in rules6 too, to the backend IPv4-mapped (::ffff:a.b.c.d), which
 * rule_addrs6[id].to_addr holds as well. rule_meta tells the two kinds
 * apart as struct xm_rule does (rules.h): XM_RULE_V6 | XM_RULE_TO_V4 is
 * for IPv6 clients only, its addresses in rule_addrs6 as any IPv6
 * forward's; XM_RULE_TO_V4 alone is `family any`, an IPv4 rule in
 * rule_meta (daddr 0, to_addr the backend) with entries in both maps
 * under one id, so one set of counters.
 *
 * IPv6 masquerades (XM_RULE_MASQUERADE | XM_RULE_V6) go to the LPM trie
 * masq_rules6 as IPv4 ones go to masq_rules; their meta has daddr 0 and
 * prefix_len, the prefix in rule_addrs6[id].daddr.
 *
 * `as` lists: rule_meta.addr_set indexes addr_sets, or addr_sets6 for a
 * rule whose flows leave by IPv6 (a 6->6 forward, an IPv6 masquerade:
 * xm_flags_leave_v6), one index space for both (addr_sets.c).
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* The kernel's ephemeral port range in this network namespace. */
void xm_read_local_port_range(struct xm_config *cfg)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned lo, hi;

	if (f && fscanf(f, "%u %u", &lo, &hi) == 2 && lo <= hi && hi <= 65535) {
		cfg->local_port_lo = (__u16)lo;
		cfg->local_port_hi = (__u16)hi;
	}
	if (f)
		fclose(f);
}

void xm_meta_from_rule(const struct xm_rule *r, __u32 ifindex, struct xm_rule_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->in_use = 1;
	m->ifindex = ifindex;
	snprintf(m->ifname, sizeof(m->ifname), "%s", r->ifname);
	if (!xm_rule_is_v6(r)) {
		m->daddr = r->local_addr;
		m->to_addr = r->to_addr;
	}
	m->from_port_lo = r->from_lo;
	m->from_port_hi = r->from_hi;
	m->to_port_lo = r->to_lo;
	m->to_port_hi = r->to_hi;
	m->proto = r->proto;
	m->flags = r->flags;
	m->line = r->line;
}

void xm_addrs6_from_rule(const struct xm_rule *r, struct xm_rule_addrs6 *a6)
{
	struct in6_addr mapped;

	memset(a6, 0, sizeof(*a6));
	if (xm_rule_is_v6(r)) {
		memcpy(a6->daddr, &r->local_addr6, sizeof(a6->daddr));
		memcpy(a6->to_addr, &r->to_addr6, sizeof(a6->to_addr));
	} else if (xm_rule_to_v4(r)) { /* family any: its IPv6 clients' backend */
		xm_ipv4_mapped(r->to_addr, &mapped);
		memcpy(a6->to_addr, &mapped, sizeof(a6->to_addr));
	}
}

/* The IPv6 addresses of two metas agree (or are not to be compared). */
static int addrs6_same(const struct xm_rule_meta *a, const struct xm_rule_addrs6 *a6,
		       const struct xm_rule_addrs6 *b6)
{
	return !(a->flags & XM_RULE_V6) || !a6 || !b6 || memcmp(a6, b6, sizeof(*a6)) == 0;
}

static int daddr6_same(const struct xm_rule_meta *a, const struct xm_rule_addrs6 *a6,
		       const struct xm_rule_addrs6 *b6)
{
	return !(a->flags & XM_RULE_V6) || !a6 || !b6 ||
	       memcmp(a6->daddr, b6->daddr, sizeof(a6->daddr)) == 0;
}

/* Same rule, whatever line it is on. */
int xm_meta_same(const struct xm_rule_meta *a, const struct xm_rule_addrs6 *a6,
		 const struct xm_rule_meta *b, const struct xm_rule_addrs6 *b6)
{
	return addrs6_same(a, a6, b6) && a->ifindex == b->ifindex && a->daddr == b->daddr &&
	       a->to_addr == b->to_addr && a->from_port_lo == b->from_port_lo &&
	       a->from_port_hi == b->from_port_hi && a->to_port_lo == b->to_port_lo &&
	       a->to_port_hi == b->to_port_hi && a->proto == b->proto && a->flags == b->flags &&
	       a->prefix_len == b->prefix_len && a->addr_set == b->addr_set &&
	       strcmp(a->ifname, b->ifname) == 0;
}

static void meta_from_masq(const struct xm_masq *q, __u32 ifindex, struct xm_rule_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->in_use = 1;
	m->ifindex = ifindex;
	snprintf(m->ifname, sizeof(m->ifname), "%s", q->out_ifname);
	if (!xm_masq_is_v6(q))
		m->daddr = q->prefix;
	m->prefix_len = q->prefix_len;
	m->flags = XM_RULE_MASQUERADE | (q->flags & XM_RULE_V6);
	m->line = q->line;
}

/* An IPv6 masquerade's prefix where rule_addrs6 keeps it (daddr). */
static void addrs6_from_masq(const struct xm_masq *q, struct xm_rule_addrs6 *a6)
{
	memset(a6, 0, sizeof(*a6));
	if (xm_masq_is_v6(q))
		memcpy(a6->daddr, &q->prefix6, sizeof(a6->daddr));
}

/* Forward rules and masquerade rules share one id space: item i is
 * rules[i] for i < n_rules, then masqs[i - n_rules]. */
static size_t n_items(const struct xm_ruleset *rs)
{
	return rs->n_rules + rs->n_masqs;
}

/* What each item of a rule set refers to beside itself: its `as` list
 * (set_of) and its `from` list (list_of), by index. */
struct item_refs {
	const __u16 *set_of;
	const __u16 *list_of;
};

static void item_meta(const struct xm_ruleset *rs, const __u32 *ifindex,
		      const struct item_refs *refs, size_t i, struct xm_rule_meta *m,
		      struct xm_rule_addrs6 *a6)
{
	const __u16 *set_of = refs->set_of;

	memset(a6, 0, sizeof(*a6));
	if (i < rs->n_rules) {
		xm_meta_from_rule(&rs->rules[i], ifindex[i], m);
		xm_addrs6_from_rule(&rs->rules[i], a6);
		m->flags |= (__u32)refs->list_of[i] << XM_RULE_META_ALLOW_SHIFT;
	} else {
		meta_from_masq(&rs->masqs[i - rs->n_rules], ifindex[i], m);
		addrs6_from_masq(&rs->masqs[i - rs->n_rules], a6);
	}
	m->addr_set = set_of[i];
}

void xm_rule_meta_format(const struct xm_rule_meta *m, const struct xm_rule_addrs6 *a6,
			 const struct xm_addr_set *as, const struct xm_addr_set6 *as6,
			 const struct xm_src_list *from, char *buf, size_t len)
{
	struct xm_rule r = { 0 };
	struct xm_addr_list l = { 0 };

	/* the list of the family its flows leave by, as the parser reads it */
	if (xm_flags_leave_v6(m->flags) && as6 && as6->n <= XM_ADDR_SET_MAX) {
		l.n = (uint8_t)as6->n;
		l.v6 = true;
		memcpy(l.addr6, as6->addr, as6->n * sizeof(as6->addr[0]));
	} else if (!xm_flags_leave_v6(m->flags) && as && as->n <= XM_ADDR_SET_MAX) {
		l.n = (uint8_t)as->n;
		memcpy(l.addr, as->addr, as->n * sizeof(as->addr[0]));
	}
	if (m->flags & XM_RULE_MASQUERADE) {
		struct xm_masq q = { 0 };

		if (m->flags & XM_RULE_V6) {
			/* without its prefix (a router without rule_addrs6)
			 * it shows as ::/LEN, never as an IPv4 one */
			q.flags = XM_RULE_V6;
			if (a6)
				memcpy(&q.prefix6, a6->daddr, sizeof(q.prefix6));
		} else {
			q.prefix = m->daddr;
		}
		q.prefix_len = m->prefix_len;
		snprintf(q.out_ifname, sizeof(q.out_ifname), "%s", m->ifname);
		q.as = l;
		xm_masq_format(&q, buf, len);
		return;
	}
	r.as = l;
	if (from && XM_RULE_META_ALLOW(m->flags))
		r.from = *from;

	/* not snprintf: /metrics formats every rule on each scrape */
	memcpy(r.ifname, m->ifname, strnlen(m->ifname, sizeof(r.ifname) - 1));
	r.proto = m->proto;
	r.from_lo = m->from_port_lo;
	r.from_hi = m->from_port_hi;
	r.to_lo = m->to_port_lo;
	r.to_hi = m->to_port_hi;
	r.flags = m->flags & ~(~0u << XM_RULE_META_ALLOW_SHIFT);
	if (m->flags & XM_RULE_V6) {
		/* without its addresses (a router without rule_addrs6) it
		 * shows as to [::], never as an IPv4 rule */
		if (a6) {
			memcpy(&r.local_addr6, a6->daddr, sizeof(r.local_addr6));
			memcpy(&r.to_addr6, a6->to_addr, sizeof(r.to_addr6));
		}
	} else {
		r.local_addr = m->daddr;
		r.to_addr = m->to_addr;
	}
	xm_rule_format(&r, buf, len);
}

/* The IPv6 addresses' words, folded into a hash (none for IPv4). */
static __u64 addrs6_hash(__u64 h, const struct xm_rule_meta *m, const struct xm_rule_addrs6 *a6,
			 int daddr_only)
{
	const __u32 *w = (const __u32 *)a6;
	size_t n = daddr_only ? 4 : 8;

	if (!(m->flags & XM_RULE_V6) || !a6)
		return h;
	for (size_t i = 0; i < n; i++) {
		h ^= w[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* Identity hash of a rule: every field meta_same compares. */
static __u64 meta_hash(const struct xm_rule_meta *m, const struct xm_rule_addrs6 *a6)
{
	__u64 h = 1469598103934665603ull;
	__u64 parts[] = { m->ifindex,
			  m->daddr,
			  m->to_addr,
			  (__u64)m->from_port_lo << 16 | m->from_port_hi,
			  (__u64)m->to_port_lo << 16 | m->to_port_hi,
			  (__u64)m->addr_set << 48 | (__u64)m->proto << 40 |
				  (__u64)m->prefix_len << 32 | m->flags };

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		h ^= parts[i];
		h *= 1099511628211ull;
	}
	return addrs6_hash(h, m, a6, 0);
}

/* For each new rule, the id of an identical live rule (ids[i], keep[id]=1),
 * found through an open-addressing table of the live rules. */
static int match_live(const struct xm_rule_meta *live, const struct xm_rule_addrs6 *live6,
		      const struct xm_ruleset *rs, const __u32 *ifindex,
		      const struct item_refs *refs, __u32 *ids, unsigned char *keep,
		      struct xm_apply_result *res)
{
	size_t cap = 2 * XM_MAX_RULES, mask = cap - 1;
	__u32 *table = calloc(cap, sizeof(*table));
	struct xm_rule_meta m;
	struct xm_rule_addrs6 a6;

	if (!table)
		return -1;
	for (__u32 id = 1; id < XM_MAX_RULES; id++) {
		if (!live[id].in_use)
			continue;
		size_t slot = meta_hash(&live[id], &live6[id]) & mask;

		while (table[slot])
			slot = (slot + 1) & mask;
		table[slot] = id;
	}
	for (size_t i = 0; i < n_items(rs); i++) {
		item_meta(rs, ifindex, refs, i, &m, &a6);
		for (size_t slot = meta_hash(&m, &a6) & mask; table[slot];
		     slot = (slot + 1) & mask) {
			__u32 id = table[slot];

			if (!keep[id] && xm_meta_same(&live[id], &live6[id], &m, &a6)) {
				ids[i] = id;
				keep[id] = 1;
				res->kept++;
				break;
			}
		}
	}
	free(table);
	return 0;
}

/* Deletes every rules-map entry of generation gen. */
static int rule_key_of_gen(int fd, const void *key, void *gen)
{
	(void)fd;
	return ((const struct xm_rule_key *)key)->gen == *(__u8 *)gen;
}

static int rule6_key_of_gen(int fd, const void *key, void *gen)
{
	(void)fd;
	return ((const struct xm_rule6_key *)key)->gen == *(__u8 *)gen;
}

static void delete_gen(int fd, int fd6, __u8 gen)
{
	xm_map_delete_if(fd, sizeof(struct xm_rule_key), rule_key_of_gen, &gen);
	if (fd6 >= 0)
		xm_map_delete_if(fd6, sizeof(struct xm_rule6_key), rule6_key_of_gen, &gen);
}

/* Deletes every masquerade entry of generation gen. */
static int masq_key_of_gen(int fd, const void *key, void *gen)
{
	(void)fd;
	return ((const struct xm_masq_key *)key)->gen == htonl(*(__u8 *)gen);
}

static void delete_masq_gen(int fd, __u8 gen)
{
	xm_map_delete_if(fd, sizeof(struct xm_masq_key), masq_key_of_gen, &gen);
}

static int masq6_key_of_gen(int fd, const void *key, void *gen)
{
	(void)fd;
	return ((const struct xm_masq6_key *)key)->gen == htonl(*(__u8 *)gen);
}

static void delete_masq6_gen(int fd6, __u8 gen)
{
	if (fd6 >= 0)
		xm_map_delete_if(fd6, sizeof(struct xm_masq6_key), masq6_key_of_gen, &gen);
}

/* An IPv6 masquerade's key in masq_rules6: prefix (16 bytes) of plen bits. */
static void masq6_key(struct xm_masq6_key *k, const void *prefix, __u8 plen, __u8 gen)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = 32 + plen;
	k->gen = htonl(gen);
	memcpy(k->saddr, prefix, sizeof(k->saddr));
}

static int insert_masq(int fd, int fd6, const struct xm_masq *q, __u32 ifindex, __u32 id, __u8 gen)
{
	if (xm_masq_is_v6(q)) {
		struct xm_masq6_key k6;
		struct xm_masq_value v6 = { .rule_id = id, .out_ifindex = ifindex };

		masq6_key(&k6, &q->prefix6, q->prefix_len, gen);
		return bpf_map_update_elem(fd6, &k6, &v6, BPF_ANY) ? -errno : 0;
	}

	struct xm_masq_key k = { .prefixlen = 32 + q->prefix_len,
				 .gen = htonl(gen),
				 .saddr = q->prefix };
	struct xm_masq_value v = { .rule_id = id, .out_ifindex = ifindex };

	return bpf_map_update_elem(fd, &k, &v, BPF_ANY) ? -errno : 0;
}

/* The entries in rules6 of a forward's IPv6 clients: as
 * xm_insert_rule_ports's. A `family any` rule's are for any address of
 * the interface, to its backend IPv4-mapped. */
static int insert_rule6_ports(int fd6, const struct xm_rule *r, __u32 ifindex, __u32 id,
			      __u16 allow_list, __u8 gen)
{
	struct xm_rule_addrs6 a6;
	__u32 flags = r->flags;

	xm_addrs6_from_rule(r, &a6);
	if (xm_rule_to_v4(r))
		flags |= XM_RULE_V6;
	for (unsigned p = r->from_lo; p <= r->from_hi; p++) {
		unsigned to = r->to_lo == r->to_hi ? r->to_lo : r->to_lo + (p - r->from_lo);
		struct xm_rule6_key k;
		struct xm_rule6_value v;

		memset(&k, 0, sizeof(k)); /* no padding left to chance: it is hashed */
		memset(&v, 0, sizeof(v));
		k.ifindex = ifindex;
		k.dport = htons((__u16)p);
		k.proto = r->proto;
		k.gen = gen;
		memcpy(k.daddr, a6.daddr, sizeof(k.daddr));
		v.rule_id = id;
		v.to_port = htons((__u16)to);
		v.allow_list = allow_list;
		memcpy(v.to_addr, a6.to_addr, sizeof(v.to_addr));
		v.flags = flags;
		if (bpf_map_update_elem(fd6, &k, &v, BPF_ANY))
			return -errno;
	}
	return 0;
}

static void delete_rule6_ports(int fd6, const struct xm_rule_meta *m,
			       const struct xm_rule_addrs6 *a6, __u8 gen)
{
	for (unsigned p = m->from_port_lo; p <= m->from_port_hi; p++) {
		struct xm_rule6_key k;

		memset(&k, 0, sizeof(k));
		k.ifindex = m->ifindex;
		k.dport = htons((__u16)p);
		k.proto = m->proto;
		k.gen = gen;
		memcpy(k.daddr, a6->daddr, sizeof(k.daddr));
		bpf_map_delete_elem(fd6, &k);
	}
}

/* IPv6 masquerades out of from_ifindex leave by to_ifindex (their value:
 * the key holds no interface, so each is rewritten in place). */
static void move_masq6_iface(struct xm_handle *h, __u32 from_ifindex, __u32 to_ifindex)
{
	int fd = h->fd[XM_MAP_MASQ_RULES6];
	struct xm_masq6_key k, *prev = NULL, *keys = NULL;
	struct xm_masq_value v;
	size_t n = 0, cap = 0;

	if (fd < 0)
		return;
	while (bpf_map_get_next_key(fd, prev, &k) == 0) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct xm_masq6_key *nk = realloc(keys, ncap * sizeof(*nk));

			if (!nk)
				break;
			keys = nk;
			cap = ncap;
		}
		keys[n++] = k;
		prev = &keys[n - 1];
	}
	for (size_t i = 0; i < n; i++)
		if (bpf_map_lookup_elem(fd, &keys[i], &v) == 0 && v.out_ifindex == from_ifindex) {
			v.out_ifindex = to_ifindex;
			bpf_map_update_elem(fd, &keys[i], &v, BPF_EXIST);
		}
	free(keys);
}

void xm_rules6_move_iface(struct xm_handle *h, __u32 from_ifindex, __u32 to_ifindex)
{
	int fd = h->fd[XM_MAP_RULES6];
	struct xm_rule6_key k, *prev = NULL, *keys = NULL;
	struct xm_rule6_value v;
	size_t n = 0, cap = 0;

	if (fd < 0)
		return;
	/* Keys listed before anything changes: storing while walking a hash
	 * can revisit keys without end. */
	while (bpf_map_get_next_key(fd, prev, &k) == 0) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct xm_rule6_key *nk = realloc(keys, ncap * sizeof(*nk));

			if (!nk)
				break;
			keys = nk;
			cap = ncap;
		}
		keys[n++] = k;
		prev = &keys[n - 1];
	}
	/* Copies under the new ifindex first, then the old keys go. */
	for (size_t i = 0; i < n; i++) {
		struct xm_rule6_key nk = keys[i];

		if (keys[i].ifindex != from_ifindex || bpf_map_lookup_elem(fd, &keys[i], &v))
			continue;
		nk.ifindex = to_ifindex;
		bpf_map_update_elem(fd, &nk, &v, BPF_ANY);
	}
	for (size_t i = 0; i < n; i++)
		if (keys[i].ifindex == from_ifindex)
			bpf_map_delete_elem(fd, &keys[i]);
	free(keys);
	move_masq6_iface(h, from_ifindex, to_ifindex);
}

int xm_insert_rule_ports(int fd, const struct xm_rule *r, __u32 ifindex, __u32 id, __u16 allow_list,
			 __u8 gen)
{
	for (unsigned p = r->from_lo; p <= r->from_hi; p++) {
		unsigned to = r->to_lo == r->to_hi ? r->to_lo : r->to_lo + (p - r->from_lo);
		struct xm_rule_key k = {
			.ifindex = ifindex,
			.daddr = r->local_addr,
			.dport = htons((__u16)p),
			.proto = r->proto,
			.gen = gen,
		};
		/* a `family any` rule's IPv4 clients: an IPv4 forward's entry */
		struct xm_rule_value v = {
			.rule_id = id,
			.to_addr = r->to_addr,
			.to_port = htons((__u16)to),
			.allow_list = allow_list,
			.flags = r->flags & ~XM_RULE_TO_V4,
		};

		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			return -errno;
	}
	return 0;
}

int xm_resolve_iface(struct xm_handle *h, const char *filename, const char *ifname, unsigned line,
		     unsigned col, __u32 *ifindex, char *err, size_t errlen)
{
	struct xm_iface v;
	__u32 idx = if_nametoindex(ifname);

	if (!idx) {
		snprintf(err, errlen, "%s:%u:%u: interface '%s' does not exist (see: ip -br link)",
			 filename, line, col, ifname);
		return -2;
	}
	if (h && bpf_map_lookup_elem(h->fd[XM_MAP_IFACES], &idx, &v)) {
		snprintf(err, errlen,
			 "%s:%u:%u: interface '%s' is not attached (run: xmasq attach %s)",
			 filename, line, col, ifname, ifname);
		return -2;
	}
	*ifindex = idx;
	return 0;
}

/* Every rule's interface must be managed; ifindex[i] for item i. Names
 * are resolved once each: a large rule set names few interfaces. */
static int resolve_ifaces(struct xm_handle *h, const struct xm_ruleset *rs, const char *filename,
			  __u32 *ifindex, char *err, size_t errlen)
{
	struct {
		const char *name;
		__u32 idx;
	} seen[XM_MAX_IFACES];
	size_t n_seen = 0;

	for (size_t i = 0; i < n_items(rs); i++) {
		const char *name;
		unsigned line, col;
		size_t k;
		int rc;

		if (i < rs->n_rules) {
			name = rs->rules[i].ifname;
			line = rs->rules[i].line;
			col = rs->rules[i].iface_col;
		} else {
			name = rs->masqs[i - rs->n_rules].out_ifname;
			line = rs->masqs[i - rs->n_rules].line;
			col = rs->masqs[i - rs->n_rules].iface_col;
		}
		for (k = 0; k < n_seen && strcmp(seen[k].name, name); k++)
			;
		if (k < n_seen) {
			ifindex[i] = seen[k].idx;
			continue;
		}
		rc = xm_resolve_iface(h, filename, name, line, col, &ifindex[i], err, errlen);
		if (rc)
			return rc;
		if (n_seen < XM_MAX_IFACES) {
			seen[n_seen].name = name;
			seen[n_seen].idx = ifindex[i];
			n_seen++;
		}
	}
	return 0;
}

/* The rule a live meta entry describes, to find its map keys again. */
static void rule_from_meta(const struct xm_rule_meta *m, struct xm_rule *r, struct xm_masq *q)
{
	memset(r, 0, sizeof(*r));
	memset(q, 0, sizeof(*q));
	r->local_addr = m->daddr;
	r->proto = m->proto;
	r->from_lo = m->from_port_lo;
	r->from_hi = m->from_port_hi;
	r->to_addr = m->to_addr;
	r->to_lo = m->to_port_lo;
	r->to_hi = m->to_port_hi;
	r->flags = m->flags;
	q->prefix = m->daddr;
	q->prefix_len = m->prefix_len;
}

void xm_delete_rule_ports(int fd, const struct xm_rule_meta *m, __u8 gen)
{
	for (unsigned p = m->from_port_lo; p <= m->from_port_hi; p++) {
		struct xm_rule_key k = {
			.ifindex = m->ifindex,
			.daddr = m->daddr,
			.dport = htons((__u16)p),
			.proto = m->proto,
			.gen = gen,
		};

		bpf_map_delete_elem(fd, &k);
	}
}

/* Makes generation gen hold the new rule set: from scratch when full, else
 * by deleting the removed rules' entries and adding the new ones (kept
 * rules are there already). Returns 0 or -errno, *bad_line the rule. */
static int write_gen(struct xm_handle *h, const struct xm_ruleset *rs, const __u32 *ifindex,
		     const struct item_refs *refs, const __u32 *ids,
		     const struct xm_rule_meta *live, const struct xm_rule_addrs6 *live6,
		     const unsigned char *keep, __u8 gen, int full, unsigned *bad_line)
{
	int rules_fd = h->fd[XM_MAP_RULES], masq_fd = h->fd[XM_MAP_MASQ_RULES], e;
	int rules6_fd = h->fd[XM_MAP_RULES6], masq6_fd = h->fd[XM_MAP_MASQ_RULES6];

	if (full) {
		delete_gen(rules_fd, rules6_fd, gen);
		delete_masq_gen(masq_fd, gen);
		delete_masq6_gen(masq6_fd, gen);
	} else {
		for (__u32 id = 1; id < XM_MAX_RULES; id++) {
			struct xm_rule r;
			struct xm_masq q;

			if (!live[id].in_use || keep[id])
				continue;
			if ((live[id].flags & XM_RULE_MASQUERADE) &&
			    (live[id].flags & XM_RULE_V6)) {
				struct xm_masq6_key k6;

				masq6_key(&k6, live6[id].daddr, live[id].prefix_len, gen);
				if (masq6_fd >= 0)
					bpf_map_delete_elem(masq6_fd, &k6);
			} else if (live[id].flags & XM_RULE_MASQUERADE) {
				struct xm_masq_key k;

				rule_from_meta(&live[id], &r, &q);
				k.prefixlen = 32 + q.prefix_len;
				k.gen = htonl(gen);
				k.saddr = q.prefix;
				bpf_map_delete_elem(masq_fd, &k);
			} else if (live[id].flags & XM_RULE_V6) {
				if (rules6_fd >= 0)
					delete_rule6_ports(rules6_fd, &live[id], &live6[id], gen);
			} else {
				/* family any: its IPv6 clients' entries are for
				 * any address (daddr all zero) */
				static const struct xm_rule_addrs6 any6;

				xm_delete_rule_ports(rules_fd, &live[id], gen);
				if ((live[id].flags & XM_RULE_TO_V4) && rules6_fd >= 0)
					delete_rule6_ports(rules6_fd, &live[id], &any6, gen);
			}
		}
	}
	for (size_t i = 0; i < rs->n_rules; i++) {
		if (!full && keep[ids[i]] != 2)
			continue;
		e = 0;
		if (xm_rule_v6_clients(&rs->rules[i]))
			e = insert_rule6_ports(rules6_fd, &rs->rules[i], ifindex[i], ids[i],
					       refs->list_of[i], gen);
		if (!e && xm_rule_v4_clients(&rs->rules[i]))
			e = xm_insert_rule_ports(rules_fd, &rs->rules[i], ifindex[i], ids[i],
						 refs->list_of[i], gen);
		if (e) {
			*bad_line = rs->rules[i].line;
			return e;
		}
	}
	for (size_t i = 0; i < rs->n_masqs; i++) {
		size_t item = rs->n_rules + i;

		if (!full && keep[ids[item]] != 2)
			continue;
		e = insert_masq(masq_fd, masq6_fd, &rs->masqs[i], ifindex[item], ids[item], gen);
		if (e) {
			*bad_line = rs->masqs[i].line;
			return e;
		}
	}
	return 0;
}

int xm_apply(struct xm_handle *h, const struct xm_ruleset *rs, const char *filename, int check_only,
	     struct xm_apply_result *res, char *err, size_t errlen)
{
	struct xm_apply_opts o = { .check_only = check_only };

	return xm_apply_ex(h, rs, filename, &o, res, err, errlen);
}

/* Same place in the rule space (what a packet matches), whatever target:
 * a removed and an added rule with the same match are one changed rule. */
int xm_meta_same_match(const struct xm_rule_meta *a, const struct xm_rule_addrs6 *a6,
		       const struct xm_rule_meta *b, const struct xm_rule_addrs6 *b6)
{
	return (a->flags & XM_RULE_V6) == (b->flags & XM_RULE_V6) && daddr6_same(a, a6, b6) &&
	       a->ifindex == b->ifindex && a->daddr == b->daddr && a->proto == b->proto &&
	       a->from_port_lo == b->from_port_lo && a->from_port_hi == b->from_port_hi &&
	       a->prefix_len == b->prefix_len &&
	       (a->flags & XM_RULE_MASQUERADE) == (b->flags & XM_RULE_MASQUERADE);
}

static __u64 match_hash(const struct xm_rule_meta *m, const struct xm_rule_addrs6 *a6)
{
	__u64 h = 1469598103934665603ull;
	__u64 parts[] = { m->ifindex, m->daddr, (__u64)m->from_port_lo << 16 | m->from_port_hi,
			  (__u64)m->proto << 8 | m->prefix_len,
			  m->flags & (XM_RULE_MASQUERADE | XM_RULE_V6) };

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		h ^= parts[i];
		h *= 1099511628211ull;
	}
	return addrs6_hash(h, m, a6, 1);
}

/* Prints the change ("+ new", "- old", "~ old => new") and counts changed
 * rules, pairing added and removed rules by their match through a hash. */
/* Whether any IPv4 forward rule is for one local address (ADDR in
 * IFACE:ADDR): the flag makes the IPv4 path look those up first. */
static int has_addr_rules(const struct xm_ruleset *rs)
{
	for (size_t i = 0; i < rs->n_rules; i++)
		if (!xm_rule_is_v6(&rs->rules[i]) && rs->rules[i].local_addr)
			return 1;
	return 0;
}

/* The same for IPv6 forwards (XM_CFG_NO_ADDR_RULES6 says there are none:
 * bpf/v6_flow.h then makes one lookup). */
static int has_addr_rules6(const struct xm_ruleset *rs)
{
	for (size_t i = 0; i < rs->n_rules; i++)
		if (xm_rule_addr6(&rs->rules[i]))
			return 1;
	return 0;
}

/* An IPv6 `as` list (a 6->6 forward's or an IPv6 masquerade's) needs map
 * addr_sets6, which a router attached by an older build lacks: the first
 * one in the file is refused. */
static int check_as6_map(const struct xm_handle *h, const struct xm_ruleset *rs,
			 const char *filename, char *err, size_t errlen)
{
	const struct xm_rule *fwd = NULL;
	const struct xm_masq *masq = NULL;
	unsigned line, col;

	if (h->fd[XM_MAP_ADDR_SETS6] >= 0)
		return 0;
	/* each kind is in line order */
	for (size_t i = 0; !fwd && i < rs->n_rules; i++)
		if (rs->rules[i].as.n && rs->rules[i].as.v6)
			fwd = &rs->rules[i];
	for (size_t i = 0; !masq && i < rs->n_masqs; i++)
		if (rs->masqs[i].as.n && rs->masqs[i].as.v6)
			masq = &rs->masqs[i];
	if (masq && (!fwd || masq->line < fwd->line)) {
		line = masq->line;
		col = masq->as.col;
	} else if (fwd) {
		line = fwd->line;
		col = fwd->as.col;
	} else {
		return 0;
	}
	snprintf(err, errlen,
		 "%s:%u:%u: IPv6 'as' list, but the router's maps have no IPv6 'as' lists "
		 "(addr_sets6: it was attached by an older build: run xmasq attach again to load "
		 "it; nothing was changed)",
		 filename, line, col);
	return -2;
}

/* An IPv6 forward needs maps rules6 and rule_addrs6, an IPv6 masquerade
 * masq_rules6 and rule_addrs6, which a router attached by an older build
 * lacks (the handle has -1 for them). */
static int check_v6_maps(const struct xm_handle *h, const struct xm_ruleset *rs,
			 const char *filename, char *err, size_t errlen)
{
	const struct xm_rule *fwd = NULL, *fwd64 = NULL;
	const struct xm_masq *masq = NULL;

	if (!h)
		return 0;
	if (h->fd[XM_MAP_RULES6] < 0 || h->fd[XM_MAP_RULE_ADDRS6] < 0)
		for (size_t i = 0; !fwd && i < rs->n_rules; i++)
			if (xm_rule_v6_clients(&rs->rules[i]))
				fwd = &rs->rules[i];
	/* 6->4 needs the program that translates the replies (progs46):
	 * without it, IPv4 replies of such flows would never reach their
	 * clients */
	if (h->fd[XM_MAP_PROGS46] < 0 || h->fd[XM_MAP_FLOWS6] < 0)
		for (size_t i = 0; !fwd64 && i < rs->n_rules; i++)
			if (xm_rule_to_v4(&rs->rules[i]))
				fwd64 = &rs->rules[i];
	if (fwd64 && (!fwd || fwd64->line < fwd->line)) {
		snprintf(err, errlen,
			 "%s:%u:%u: forward for IPv6 clients of an IPv4 backend, but the router's "
			 "maps have no 6->4 translation (progs46: it was attached by an older "
			 "build: run xmasq attach again to load it; nothing was changed)",
			 filename, fwd64->line, fwd64->iface_col);
		return -2;
	}
	if (h->fd[XM_MAP_MASQ_RULES6] < 0 || h->fd[XM_MAP_RULE_ADDRS6] < 0)
		for (size_t i = 0; !masq && i < rs->n_masqs; i++)
			if (xm_masq_is_v6(&rs->masqs[i]))
				masq = &rs->masqs[i];
	/* the first such line of the file */
	if (masq && (!fwd || masq->line < fwd->line)) {
		snprintf(err, errlen,
			 "%s:%u:%u: IPv6 masquerade, but the router's maps have no IPv6 masquerade "
			 "rules (it was attached by an older build: run xmasq attach again to load "
			 "the IPv6 maps; nothing was changed)",
			 filename, masq->line, masq->prefix_col);
		return -2;
	}
	if (fwd) {
		snprintf(err, errlen,
			 "%s:%u:%u: IPv6 forward, but the router's maps have no IPv6 rules "
			 "(it was attached by an older build: run xmasq attach again to "
			 "load the IPv6 maps; nothing was changed)",
			 filename, fwd->line, fwd->iface_col);
		return -2;
	}
	return check_as6_map(h, rs, filename, err, errlen);
}

int xm_rule_addrs6_read_all(struct xm_handle *h, struct xm_rule_addrs6 *all)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 count = XM_MAX_RULES, out_batch = 0;
	__u32 *keys;
	int rc;

	if (h->fd[XM_MAP_RULE_ADDRS6] < 0)
		return -1;
	keys = calloc(XM_MAX_RULES, sizeof(*keys));
	if (!keys)
		return -1;
	/* an array's batch returns every index in order (5.6+) */
	rc = bpf_map_lookup_batch(h->fd[XM_MAP_RULE_ADDRS6], NULL, &out_batch, keys, all, &count,
				  &opts);
	free(keys);
	return (rc == 0 || errno == ENOENT) && count == XM_MAX_RULES ? 0 : -1;
}

/* The addresses of the live IPv6 forwards, by id (zero for the others):
 * rule_meta does not hold them. A lookup each when they are few, else
 * the whole array in one call. */
static void read_live_addrs6(struct xm_handle *h, const struct xm_rule_meta *live,
			     struct xm_rule_addrs6 *live6)
{
	int fd = h->fd[XM_MAP_RULE_ADDRS6];
	size_t n6 = 0;

	if (fd < 0)
		return;
	for (__u32 id = 1; id < XM_MAX_RULES; id++)
		n6 += live[id].in_use && (live[id].flags & XM_RULE_V6);
	if (n6 > XM_ADDRS6_BATCH_FROM && xm_rule_addrs6_read_all(h, live6) == 0)
		return;
	for (__u32 id = 1; n6 && id < XM_MAX_RULES; id++)
		if (live[id].in_use && (live[id].flags & XM_RULE_V6) &&
		    bpf_map_lookup_elem(fd, &id, &live6[id]))
			memset(&live6[id], 0, sizeof(live6[id]));
}

static void report_changes(const struct xm_rule_meta *live, const struct xm_rule_addrs6 *live6,
			   const unsigned char *keep, const struct xm_ruleset *rs,
			   const __u32 *ifindex, const struct item_refs *refs,
			   const struct xm_as_table *as, const struct xm_allow_table *allow,
			   const __u32 *ids, FILE *out, struct xm_apply_result *res)
{
	size_t cap = 2 * XM_MAX_RULES, mask = cap - 1;
	__u32 *removed = calloc(cap, sizeof(*removed));
	unsigned char *paired = calloc(XM_MAX_RULES, 1);
	char a[XM_RULE_TEXT_MAX], b[XM_RULE_TEXT_MAX];
	struct xm_rule_meta m;
	struct xm_rule_addrs6 a6;

	if (!removed || !paired)
		goto out;
	for (__u32 id = 1; id < XM_MAX_RULES; id++) {
		if (!live[id].in_use || keep[id])
			continue;
		size_t slot = match_hash(&live[id], &live6[id]) & mask;

		while (removed[slot])
			slot = (slot + 1) & mask;
		removed[slot] = id;
	}
	for (size_t i = 0; i < n_items(rs); i++) {
		int changed = 0;

		if (keep[ids[i]] != 2)
			continue;
		item_meta(rs, ifindex, refs, i, &m, &a6);
		xm_rule_meta_format(&m, &a6, xm_as_of(as, m.addr_set), xm_as_of6(as, m.addr_set),
				    xm_allow_of(allow, XM_RULE_META_ALLOW(m.flags)), b, sizeof(b));
		for (size_t slot = match_hash(&m, &a6) & mask; removed[slot];
		     slot = (slot + 1) & mask) {
			__u32 id = removed[slot];

			if (!paired[id] && xm_meta_same_match(&live[id], &live6[id], &m, &a6)) {
				paired[id] = 1;
				changed = 1;
				xm_rule_meta_format(
					&live[id], &live6[id], xm_as_of(as, live[id].addr_set),
					xm_as_of6(as, live[id].addr_set),
					xm_allow_of(allow, XM_RULE_META_ALLOW(live[id].flags)), a,
					sizeof(a));
				if (out)
					fprintf(out, "~ %s => %s\n", a, b);
				break;
			}
		}
		if (changed) {
			res->changed++;
			res->added--;
			res->removed--;
		} else if (out) {
			fprintf(out, "+ %s\n", b);
		}
	}
	for (__u32 id = 1; out && id < XM_MAX_RULES; id++) {
		if (live[id].in_use && !keep[id] && !paired[id]) {
			xm_rule_meta_format(&live[id], &live6[id], xm_as_of(as, live[id].addr_set),
					    xm_as_of6(as, live[id].addr_set),
					    xm_allow_of(allow, XM_RULE_META_ALLOW(live[id].flags)),
					    a, sizeof(a));
			fprintf(out, "- %s\n", a);
		}
	}
out:
	free(removed);
	free(paired);
}

/* --reset-flows: drops the flows of rules that are gone (or changed), both
 * entries of each; everything else keeps flowing. */
struct reset_ctx {
	const struct xm_rule_meta *live;
	const unsigned char *keep;
};

/* A flow of a rule that was live and is not kept. */
static int flow_of_dropped_rule(const struct xm_ct_slot *orig, void *arg)
{
	const struct reset_ctx *c = arg;
	__u32 id = orig->flow.rule_id;

	return id != 0 && id < XM_MAX_RULES && c->live[id].in_use && !c->keep[id];
}

/* An IPv6 flow of a rule that was live and is not kept: both entries of
 * a flow carry its rule id. */
static int flow6_of_dropped_rule(const struct xm_flow6_key *k, const struct xm_flow6 *orig,
				 void *arg)
{
	const struct reset_ctx *c = arg;
	__u32 id = orig->rule_id;

	(void)k;
	return id != 0 && id < XM_MAX_RULES && c->live[id].in_use && !c->keep[id];
}

static unsigned long reset_flows(struct xm_handle *h, const struct xm_rule_meta *live,
				 const unsigned char *keep)
{
	struct reset_ctx c = { .live = live, .keep = keep };
	struct xm_ct_table t;
	char err[256];
	long n = 0, n6;

	if (xm_ct_open_handle(&t, h, 1, err, sizeof(err)) == 0) {
		n = xm_ct_remove_if(&t, flow_of_dropped_rule, &c);
		xm_ct_close(&t);
	}
	n6 = h->fd[XM_MAP_FLOWS6] >= 0 ?
		     xm_ct6_remove_if(h, flow6_of_dropped_rule, &c, err, sizeof(err)) :
		     0;
	return (n > 0 ? (unsigned long)n : 0) + (n6 > 0 ? (unsigned long)n6 : 0);
}

/* The NICs are read afresh on every apply: an address, MAC or MTU that
 * changed since attach is in the maps before the rules go live. */
void xm_apply_refresh_nics(struct xm_handle *h, FILE *log, struct xm_apply_result *res)
{
	struct xm_follow_event ev[XM_MAX_IFACES];
	char line[320], err[256];
	size_t n = 0;

	xm_nics_refresh(h, ev, XM_MAX_IFACES, &n, err, sizeof(err));
	for (size_t i = 0; i < n; i++) {
		if (ev[i].kind != XM_FOLLOW_NO_ADDRESS && ev[i].kind != XM_FOLLOW_ERROR)
			res->nics_updated++;
		if (log) {
			xm_follow_event_format(&ev[i], line, sizeof(line));
			fprintf(log, "%s\n", line);
		}
	}
}

int xm_apply_ex(struct xm_handle *h, const struct xm_ruleset *rs, const char *filename,
		const struct xm_apply_opts *o, struct xm_apply_result *res, char *err,
		size_t errlen)
{
	int check_only = o->check_only;

	struct xm_rule_meta *live = NULL, m;
	struct xm_rule_addrs6 *live6 = NULL, a6;
	struct xm_rule_stats *zero_stats = NULL;
	struct xm_as_table *as = NULL;
	struct xm_allow_table allow = { 0 };
	__u32 *ifindex = NULL, *ids = NULL, zero = 0;
	__u16 *set_of = NULL, *list_of = NULL;
	struct item_refs refs;
	const char *map_name = "";
	__u64 *zero_refused = NULL;
	unsigned char *keep = NULL;
	struct xm_config cfg;
	unsigned bad_line = 0;
	__u8 cur, next;
	int e, full;
	double t0;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	ifindex = calloc(n_items(rs) + 1, sizeof(*ifindex));
	ids = calloc(n_items(rs) + 1, sizeof(*ids));
	set_of = calloc(n_items(rs) + 1, sizeof(*set_of));
	list_of = calloc(n_items(rs) + 1, sizeof(*list_of));
	refs.set_of = set_of;
	refs.list_of = list_of;
	live = calloc(XM_MAX_RULES, sizeof(*live));
	live6 = calloc(XM_MAX_RULES, sizeof(*live6)); /* touched only for IPv6 rules */
	keep = calloc(XM_MAX_RULES, 1);
	as = calloc(1, sizeof(*as));
	zero_stats = h ? calloc(h->ncpus, sizeof(*zero_stats)) : NULL;
	zero_refused = h ? calloc(h->ncpus, sizeof(*zero_refused)) : NULL;
	if (!ifindex || !ids || !set_of || !list_of || !live || !live6 || !keep || !as ||
	    (h && (!zero_stats || !zero_refused))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = resolve_ifaces(h, rs, filename, ifindex, err, errlen);
	if (!rc)
		rc = xm_as_check(rs, filename, err, errlen);
	if (!rc)
		rc = check_v6_maps(h, rs, filename, err, errlen);
	if (rc || check_only || !h)
		goto out;
	rc = -1;
	if (bpf_map_lookup_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg)) {
		snprintf(err, errlen, "%s/config: %s", h->pin_dir, strerror(errno));
		goto out;
	}
	xm_read_rule_meta(h, live);
	live[0].in_use = 0; /* id 0 is never used */
	read_live_addrs6(h, live, live6);
	rc = xm_as_assign(as, h, live, rs, set_of, filename, err, errlen);
	if (!rc)
		rc = xm_allow_assign(&allow, h, live, rs, list_of, filename, err, errlen);
	if (rc)
		goto out;
	rc = -1;

	/* Match each rule to a live one, or give it a free id. */
	if (match_live(live, live6, rs, ifindex, &refs, ids, keep, res)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	{
		__u32 free_id = 1;

		for (size_t i = 0; i < n_items(rs); i++) {
			if (ids[i])
				continue;
			while (free_id < XM_MAX_RULES && (live[free_id].in_use || keep[free_id]))
				free_id++;
			if (free_id >= XM_MAX_RULES) {
				snprintf(err, errlen, "%s: more than %d rules live at once",
					 filename, XM_MAX_RULES - 1);
				goto out;
			}
			ids[i] = free_id;
			keep[free_id] = 2; /* new */
			free_id++;
			res->added++;
		}
	}
	for (__u32 id = 1; id < XM_MAX_RULES; id++)
		if (live[id].in_use && !keep[id])
			res->removed++;
	report_changes(live, live6, keep, rs, ifindex, &refs, as, &allow, ids, o->diff_out, res);
	if (o->diff_only) {
		rc = 0;
		goto out;
	}
	xm_apply_refresh_nics(h, o->log, res);

	cur = cfg.active_gen & 1;
	next = cur ^ 1;
	full = (cfg.flags & XM_CFG_GEN_DIRTY) != 0;
	/* Marked before the inactive generation is touched: if this apply
	 * dies half-way, the next one rebuilds it instead of trusting it.
	 * Rules for one local address make the data plane look those up
	 * first: the flag is set before such rules can be live and cleared
	 * only once neither generation has any. */
	cfg.flags |= XM_CFG_GEN_DIRTY;
	if (has_addr_rules(rs))
		cfg.flags |= XM_CFG_ADDR_RULES;
	if (has_addr_rules6(rs))
		cfg.flags &= ~XM_CFG_NO_ADDR_RULES6;
	if (as->any)
		cfg.flags |= XM_CFG_ADDR_SETS;
	if (bpf_map_update_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg, BPF_ANY)) {
		snprintf(err, errlen, "%s/config: %s (nothing was changed)", h->pin_dir,
			 strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < rs->n_rules; i++)
		res->ports += rs->rules[i].from_hi - rs->rules[i].from_lo + 1;

	/* rule_meta changes from here, even if this apply fails half-way */
	xm_meta_stamp_bump(h);
	t0 = now_us();
	e = xm_as_write(as, h, &map_name);
	if (e) {
		snprintf(err, errlen, "%s/%s: %s (nothing was changed)", h->pin_dir, map_name,
			 strerror(-e));
		goto out;
	}
	e = xm_allow_write(&allow, h);
	if (e) {
		snprintf(err, errlen, "%s/allow_lists: %s (nothing was changed)", h->pin_dir,
			 strerror(-e));
		goto out;
	}
	e = write_gen(h, rs, ifindex, &refs, ids, live, live6, keep, next, full, &bad_line);
	if (e) {
		snprintf(err, errlen,
			 "%s:%u: cannot add rule to the data plane: %s (nothing was changed)",
			 filename, bad_line, strerror(-e));
		goto out;
	}
	for (size_t i = 0; i < n_items(rs); i++) {
		if (keep[ids[i]] != 2)
			continue;
		item_meta(rs, ifindex, &refs, i, &m, &a6);
		/* the addresses before the meta that says where they are */
		if ((m.flags & (XM_RULE_V6 | XM_RULE_TO_V4)) &&
		    bpf_map_update_elem(h->fd[XM_MAP_RULE_ADDRS6], &ids[i], &a6, BPF_ANY)) {
			snprintf(err, errlen, "%s/rule_addrs6: %s (nothing was changed)",
				 h->pin_dir, strerror(errno));
			goto out;
		}
		bpf_map_update_elem(h->fd[XM_MAP_RULE_STATS], &ids[i], zero_stats, BPF_ANY);
		bpf_map_update_elem(h->fd[XM_MAP_RULE_REFUSED], &ids[i], zero_refused, BPF_ANY);
		bpf_map_update_elem(h->fd[XM_MAP_RULE_META], &ids[i], &m, BPF_ANY);
	}

	/* The switch: one write. */
	cfg.active_gen = next;
	cfg.port_lo = rs->settings.port_lo;
	cfg.port_hi = rs->settings.port_hi;
	memcpy(cfg.timeouts, rs->settings.timeouts, sizeof(cfg.timeouts));
	cfg.flags = (cfg.flags & ~XM_CFG_NAT_MASK) | rs->settings.nat_flags;
	cfg.flows_per_source = rs->settings.flows_per_source == XM_FLOWS_PER_SOURCE_AUTO ?
				       cfg.ct_max / XM_FLOWS_PER_SOURCE_SHARE :
				       rs->settings.flows_per_source;
	xm_read_local_port_range(&cfg);
	if (bpf_map_update_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg, BPF_ANY)) {
		snprintf(err, errlen, "%s/config: %s (nothing was changed)", h->pin_dir,
			 strerror(errno));
		goto out;
	}
	res->switched_at = now_us();
	res->usecs = res->switched_at - t0;

	/* Kept rules that moved to another line of the file. */
	for (size_t i = 0; i < n_items(rs); i++) {
		item_meta(rs, ifindex, &refs, i, &m, &a6);
		if (keep[ids[i]] == 1 && live[ids[i]].line != m.line)
			bpf_map_update_elem(h->fd[XM_MAP_RULE_META], &ids[i], &m, BPF_ANY);
	}
	/* Bring the now inactive generation level with the active one. */
	if (write_gen(h, rs, ifindex, &refs, ids, live, live6, keep, cur, full, &bad_line) == 0) {
		cfg.flags &= ~XM_CFG_GEN_DIRTY;
		if (!has_addr_rules(rs))
			cfg.flags &= ~XM_CFG_ADDR_RULES;
		if (!has_addr_rules6(rs))
			cfg.flags |= XM_CFG_NO_ADDR_RULES6;
		if (!as->any)
			cfg.flags &= ~XM_CFG_ADDR_SETS;
		bpf_map_update_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg, BPF_ANY);
	}
	/* No rule of either generation names them now. */
	xm_allow_prune(&allow, h);
	if (o->reset_flows)
		res->flows_reset = reset_flows(h, live, keep);
	memset(&m, 0, sizeof(m));
	memset(&a6, 0, sizeof(a6));
	for (__u32 id = 1; id < XM_MAX_RULES; id++) {
		if (!live[id].in_use || keep[id])
			continue;
		bpf_map_update_elem(h->fd[XM_MAP_RULE_META], &id, &m, BPF_ANY);
		if ((live[id].flags & (XM_RULE_V6 | XM_RULE_TO_V4)) &&
		    h->fd[XM_MAP_RULE_ADDRS6] >= 0)
			bpf_map_update_elem(h->fd[XM_MAP_RULE_ADDRS6], &id, &a6, BPF_ANY);
	}
	xm_meta_stamp_bump(h);
	rc = 0;
out:
	free(ifindex);
	free(ids);
	free(set_of);
	free(list_of);
	free(zero_refused);
	xm_allow_free(&allow);
	free(as);
	free(live);
	free(live6);
	free(keep);
	free(zero_stats);
	return rc;
}
