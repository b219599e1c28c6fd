/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv6 forwards applied to the maps of the real BPF object (loaded, never
 * attached nor pinned; no network namespace: the rules name the
 * loopback interface, recorded as managed in this object's maps only):
 * rules6 and rule_addrs6 hold what apply.c writes, rule_meta has
 * XM_RULE_V6 with daddr and to_addr 0, the `from` list is in allow_lists
 * with IPv6 keys, the live set read back diffs empty against the file and
 * formats as the file does, a change is a "~" line with the IPv4 rule
 * kept, and a router without the IPv6 maps refuses the file whole.
 * IPv6 masquerades likewise: masq_rules6 in both generations, their
 * prefix in rule_addrs6, read back, removed (--reset-flows), refused
 * without masq_rules6. IPv6 `as` lists (in a private network namespace
 * whose loopback holds the addresses): in addr_sets6, in the index space
 * of addr_sets, refused when not the router's or without addr_sets6.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_env.h"
#include "xmasq_internal.h"

#define FN "rules.conf"

static struct xmasq_bpf *skel;
static int reset_flows; /* apply --reset-flows */
static struct xm_handle h;
static unsigned ifindex_lo;

static struct in6_addr ip6(const char *s)
{
	struct in6_addr a;

	if (inet_pton(AF_INET6, s, &a) != 1)
		abort();
	return a;
}

/* The loaded object's maps as a router's handle; loopback managed. */
static int setup(void)
{
	struct xm_config c = {
		.layout_version = XM_LAYOUT_VERSION,
		.port_lo = XM_DEFAULT_PORT_LO,
		.port_hi = XM_DEFAULT_PORT_HI,
		.ct_max = XM_CT_DEFAULT_MAX,
	};
	struct xm_iface lo = { 0 };
	__u32 zero = 0;

	skel = xmasq_bpf__open_and_load();
	if (!skel) {
		tap_diag("xmasq_bpf__open_and_load: %s", strerror(errno));
		return -1;
	}
	memset(&h, 0, sizeof(h));
	snprintf(h.pin_dir, sizeof(h.pin_dir), "(test object)");
	h.ncpus = libbpf_num_possible_cpus();
	for (int i = 0; i < XM_MAP_MAX; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(skel->obj, xm_map_pin_names[i]);

		h.fd[i] = m ? bpf_map__fd(m) : -1;
		if (h.fd[i] < 0) {
			tap_diag("map %s not in the object", xm_map_pin_names[i]);
			return -1;
		}
	}
	ifindex_lo = if_nametoindex("lo");
	lo.ifindex = ifindex_lo;
	lo.addr = htonl(INADDR_LOOPBACK);
	return ifindex_lo && bpf_map_update_elem(h.fd[XM_MAP_CONFIG], &zero, &c, BPF_ANY) == 0 &&
			       bpf_map_update_elem(h.fd[XM_MAP_IFACES], &ifindex_lo, &lo,
						   BPF_ANY) == 0 ?
		       0 :
		       -1;
}

static int parse(const char *text, struct xm_ruleset *rs)
{
	char err[512];

	if (xm_rules_parse(text, strlen(text), FN, rs, err, sizeof(err))) {
		tap_diag("parse: %s", err);
		return -1;
	}
	return 0;
}

/* Applies text (diff_only: computes and prints the change only); the
 * diff lines in diff[]. Returns the apply's result code. */
static int apply(struct xm_handle *hd, const char *text, int diff_only, struct xm_apply_result *res,
		 char *diff, size_t difflen, char *err, size_t errlen)
{
	struct xm_apply_opts o = { .diff_only = diff_only, .reset_flows = reset_flows };
	struct xm_ruleset rs;
	FILE *f = fmemopen(diff, difflen, "w");
	int rc;

	memset(diff, 0, difflen);
	if (!f || parse(text, &rs)) {
		if (f)
			fclose(f);
		return -99;
	}
	o.diff_out = f;
	rc = xm_apply_ex(hd, &rs, FN, &o, res, err, errlen);
	fclose(f);
	xm_ruleset_free(&rs);
	return rc;
}

static unsigned count_keys(int fd, size_t key_size)
{
	char k[64], prev[64];
	unsigned n = 0;

	if (key_size > sizeof(k))
		return 0;
	while (bpf_map_get_next_key(fd, n ? prev : NULL, k) == 0) {
		memcpy(prev, k, key_size);
		n++;
	}
	return n;
}

static unsigned meta_in_use(void)
{
	struct xm_rule_meta m;
	unsigned n = 0;

	for (__u32 id = 1; id < 64; id++)
		if (bpf_map_lookup_elem(h.fd[XM_MAP_RULE_META], &id, &m) == 0 && m.in_use)
			n++;
	return n;
}

static int lookup6(__u8 gen, const char *daddr, __u16 port, __u8 proto, struct xm_rule6_value *v)
{
	struct xm_rule6_key k;
	struct in6_addr a = ip6(daddr);

	memset(&k, 0, sizeof(k));
	k.ifindex = ifindex_lo;
	k.dport = htons(port);
	k.proto = proto;
	k.gen = gen;
	memcpy(k.daddr, &a, sizeof(k.daddr));
	return bpf_map_lookup_elem(h.fd[XM_MAP_RULES6], &k, v);
}

/* Inserts an entry into the router's flows6 (ct6_table.c, as the data
 * plane would): 0, or a negative errno. */
static int flow6_insert(const struct xm_flow6_key *k, const struct xm_flow6 *f)
{
	struct xm_ct6_table t;
	char err[256];
	int rc;

	if (xm_ct6_open_handle(&t, &h, 1, err, sizeof(err))) {
		tap_diag("%s", err);
		return -EINVAL;
	}
	rc = xm_ct6_insert(&t, k, f);
	xm_ct6_close(&t);
	return rc;
}

/* Whether flows6 holds key k live; removes it; its live entries. */
static int flow6_there(const struct xm_flow6_key *k)
{
	struct xm_ct6_table t;
	char err[256];
	int there;

	if (xm_ct6_open_handle(&t, &h, 0, err, sizeof(err)))
		return 0;
	there = xm_ct6_lookup(&t, k) != NULL;
	xm_ct6_close(&t);
	return there;
}

static void flow6_delete(const struct xm_flow6_key *k)
{
	struct xm_ct6_table t;
	char err[256];

	if (xm_ct6_open_handle(&t, &h, 1, err, sizeof(err)) == 0) {
		xm_ct6_delete(&t, k);
		xm_ct6_close(&t);
	}
}

static unsigned flows6_entries(void)
{
	struct xm_ct6_table t;
	char err[256];
	size_t n;

	if (xm_ct6_open_handle(&t, &h, 0, err, sizeof(err)))
		return 0;
	n = xm_ct6_table_count(&t, 0);
	xm_ct6_close(&t);
	return (unsigned)n;
}

/* flows6 entries of rule ids[i], from port sport0 + i: the first two a
 * pair (the second the REPLY entry, each one's partner key the other's),
 * the rest ORIG entries alone. 1 when each was written. */
static int put_flows6(const __u32 *ids, int n, __u16 sport0, __u8 proto)
{
	struct xm_flow6_key k;
	struct xm_flow6 f;
	int ok = 1;

	for (int i = 0; i < n; i++) {
		memset(&k, 0, sizeof(k));
		memset(&f, 0, sizeof(f));
		k.sport = htons((__u16)(sport0 + i));
		k.proto = proto;
		f.rule_id = ids[i];
		f.flags = i == 1 ? XM_FLOW_REPLY : 0;
		if (i < 2)
			f.new_dport = htons((__u16)(sport0 + 1 - i));
		ok &= flow6_insert(&k, &f) == 0;
	}
	return ok;
}

/* The file's statement on line, formatted as the file's rule text. */
static void file_rule_format(const struct xm_ruleset *rs, unsigned line, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < rs->n_rules; i++)
		if (rs->rules[i].line == line)
			xm_rule_format(&rs->rules[i], buf, len);
	for (size_t i = 0; i < rs->n_masqs; i++)
		if (rs->masqs[i].line == line)
			xm_masq_format(&rs->masqs[i], buf, len);
}

/* The live set read back after text was applied: status (a snapshot)
 * formats each of its n rules as text's statement on the rule's line
 * (check same_name), and Prometheus' rule labels hold label1 and label2
 * (check prom_name, made only where the snapshot was read). */
static void check_read_back(const char *text, size_t n, const char *label1, const char *label2,
			    const char *prom_name, const char *same_name)
{
	struct xm_snapshot s;
	struct xm_ruleset rs;
	char got[XM_RULE_TEXT_MAX], want[XM_RULE_TEXT_MAX], err[512];
	char *prom = NULL;
	size_t plen = 0;
	int same;

	if (parse(text, &rs) || xm_snapshot_read(&h, &s, err, sizeof(err))) {
		xm_ruleset_free(&rs);
		tap_ok(0, "%s", same_name);
		return;
	}
	same = s.n_rules == n;
	for (size_t i = 0; same && i < s.n_rules; i++) {
		const struct xm_rule_info *ri = &s.rules[i];

		xm_rule_meta_format(&ri->meta, &ri->addrs6, &ri->as, &ri->as6, &ri->from, got,
				    sizeof(got));
		file_rule_format(&rs, ri->meta.line, want, sizeof(want));
		if (strcmp(got, want)) {
			tap_diag("live '%s', file '%s'", got, want);
			same = 0;
		}
	}
	tap_ok(xm_render_prometheus(&s, NULL, &prom, &plen) == 0 && prom && strstr(prom, label1) &&
		       strstr(prom, label2),
	       "%s", prom_name);
	free(prom);
	xm_snapshot_free(&s);
	xm_ruleset_free(&rs);
	tap_ok(same, "%s", same_name);
}

static const char text_a[] = "forward lo tcp 8080 to 198.18.0.2:80\n"
			     "forward lo tcp 443 to [fd00:8::2]:8443\n"
			     "forward lo:[2001:db8:1::1] udp 5000-5002 to [fd00:8::3] from "
			     "2001:db8:100::/48,2001:db8:200::7\n";

/* A router attached by an older build: no rules6, no rule_addrs6. */
static void test_missing_maps(void)
{
	struct xm_handle old = h;
	struct xm_apply_result res;
	char diff[4096], err[512];
	int rc;

	old.fd[XM_MAP_RULES6] = -1;
	old.fd[XM_MAP_RULE_ADDRS6] = -1;
	rc = apply(&old, text_a, 0, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == -2 && strcmp(err, FN ":2:9: IPv6 forward, but the router's maps have no "
					       "IPv6 "
					       "rules (it was attached by an older build: run "
					       "xmasq "
					       "attach again to load the IPv6 maps; nothing was "
					       "changed)") == 0,
		    "no IPv6 maps: a file with IPv6 forwards is refused, at its first one"))
		tap_diag("got %d '%s'", rc, err);
	tap_ok(meta_in_use() == 0 &&
		       count_keys(h.fd[XM_MAP_RULES], sizeof(struct xm_rule_key)) == 0,
	       "no IPv6 maps: nothing was changed (no rule_meta, no rules entry)");
	rc = apply(&old, "forward lo tcp 8080 to 198.18.0.2:80\n", 0, &res, diff, sizeof(diff), err,
		   sizeof(err));
	if (!tap_ok(rc == 0 && res.added == 1 &&
			    count_keys(h.fd[XM_MAP_RULES], sizeof(struct xm_rule_key)) == 2,
		    "no IPv6 maps: a file without IPv6 forwards applies as before"))
		tap_diag("got %d '%s'", rc, err);
}

static __u32 id_of_line(unsigned line)
{
	struct xm_rule_meta m;

	for (__u32 id = 1; id < 64; id++)
		if (bpf_map_lookup_elem(h.fd[XM_MAP_RULE_META], &id, &m) == 0 && m.in_use &&
		    m.line == line)
			return id;
	return 0;
}

static void test_apply_v6(void)
{
	struct xm_apply_result res;
	struct xm_rule6_value v;
	struct xm_rule_meta m;
	struct xm_rule_addrs6 a6;
	struct in6_addr b2 = ip6("fd00:8::2"), b3 = ip6("fd00:8::3"), l1 = ip6("2001:db8:1::1");
	char diff[4096], err[512];
	__u32 id4 = id_of_line(1), id443, idudp;
	int rc, ok = 1;

	rc = apply(&h, text_a, 0, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && res.added == 2 && res.kept == 1 && res.removed == 0, "apply: two "
										    "IPv6 forwards "
										    "added beside "
										    "the IPv4 one, "
										    "kept"))
		tap_diag("got %d '%s' added %u kept %u", rc, err, res.added, res.kept);
	if (!tap_ok(strcmp(diff, "+ forward lo tcp 443 to [fd00:8::2]:8443\n"
				 "+ forward lo:[2001:db8:1::1] udp 5000-5002 to "
				 "[fd00:8::3]:5000-5002 from "
				 "2001:db8:100::/48,2001:db8:200::7\n") == 0,
		    "apply: the diff shows the IPv6 forwards in brackets"))
		tap_diag("diff:\n%s", diff);
	TAP_EQ(id_of_line(1), id4, "apply: the IPv4 forward keeps its id");
	id443 = id_of_line(2);
	idudp = id_of_line(3);
	tap_ok(id443 && idudp && id443 != idudp && id443 != id4, "apply: ids for the new forwards");

	/* rules6: one entry per port per generation, any address as zero */
	for (__u8 gen = 0; gen < 2; gen++) {
		ok &= lookup6(gen, "::", 443, IPPROTO_TCP, &v) == 0 && v.rule_id == id443 &&
		      v.to_port == htons(8443) && !memcmp(v.to_addr, &b2, 16) &&
		      v.allow_list == 0 && v.flags == XM_RULE_V6;
		for (__u16 p = 5000; p <= 5002; p++)
			ok &= lookup6(gen, "2001:db8:1::1", p, IPPROTO_UDP, &v) == 0 &&
			      v.rule_id == idudp && v.to_port == htons(p) &&
			      !memcmp(v.to_addr, &b3, 16) && v.allow_list != 0 &&
			      v.flags == XM_RULE_V6;
	}
	tap_ok(ok, "rules6: 443 (any address) and 5000-5002 (2001:db8:1::1) in both generations");
	TAP_EQ(count_keys(h.fd[XM_MAP_RULES6], sizeof(struct xm_rule6_key)), 8,
	       "rules6: 4 ports x 2 generations, nothing else");
	TAP_EQ(count_keys(h.fd[XM_MAP_RULES], sizeof(struct xm_rule_key)), 2,
	       "rules: the IPv4 forward only");

	/* rule_meta and rule_addrs6 */
	ok = bpf_map_lookup_elem(h.fd[XM_MAP_RULE_META], &idudp, &m) == 0 &&
	     (m.flags & XM_RULE_V6) && m.daddr == 0 && m.to_addr == 0 && m.ifindex == ifindex_lo &&
	     m.from_port_lo == 5000 && m.from_port_hi == 5002 && m.proto == IPPROTO_UDP &&
	     XM_RULE_META_ALLOW(m.flags) == v.allow_list && m.line == 3;
	tap_ok(ok, "rule_meta: XM_RULE_V6, daddr and to_addr 0, its list id, line 3");
	ok = bpf_map_lookup_elem(h.fd[XM_MAP_RULE_ADDRS6], &idudp, &a6) == 0 &&
	     !memcmp(a6.daddr, &l1, 16) && !memcmp(a6.to_addr, &b3, 16);
	tap_ok(ok, "rule_addrs6: local 2001:db8:1::1, backend fd00:8::3");
	ok = bpf_map_lookup_elem(h.fd[XM_MAP_RULE_ADDRS6], &id443, &a6) == 0 &&
	     !memcmp(a6.to_addr, &b2, 16) && a6.daddr[0] == 0 && a6.daddr[3] == 0;
	tap_ok(ok, "rule_addrs6: any local address (zero), backend fd00:8::2");

	/* allow_lists: the list's two prefixes, IPv6 keys */
	{
		struct xm_allow_key k;
		struct in6_addr src = ip6("2001:db8:100:ab::9"), other = ip6("2001:db8:200::8");
		__u32 val;

		memset(&k, 0, sizeof(k));
		k.prefixlen = 32 + 128;
		k.list = htonl(v.allow_list);
		memcpy(k.addr, &src, 16);
		ok = bpf_map_lookup_elem(h.fd[XM_MAP_ALLOW_LISTS], &k, &val) == 0;
		memcpy(k.addr, &other, 16);
		ok &= bpf_map_lookup_elem(h.fd[XM_MAP_ALLOW_LISTS], &k, &val) != 0;
		tap_ok(ok, "allow_lists: 2001:db8:100:ab::9 in the list, 2001:db8:200::8 not");
		TAP_EQ(count_keys(h.fd[XM_MAP_ALLOW_LISTS], sizeof(k)), 2,
		       "allow_lists: two entries (/48 and /128)");
	}

	/* the live set read back: an empty diff, the same texts */
	rc = apply(&h, text_a, 1, &res, diff, sizeof(diff), err, sizeof(err));
	tap_ok(rc == 0 && diff[0] == 0 && res.added == 0 && res.removed == 0 && res.changed == 0 &&
		       res.kept == 3,
	       "read back: the same file diffs empty against the live rules");
	check_read_back(text_a, 3, "rule=\"forward lo tcp 443 to [fd00:8::2]:8443\"",
			"rule=\"forward lo:[2001:db8:1::1] udp 5000-5002 to "
			"[fd00:8::3]:5000-5002 from 2001:db8:100::/48,2001:db8:200::7\"",
			"read back: Prometheus' rule labels show the IPv6 forwards",
			"read back: status formats each live rule as the file's rule");

	/* a NIC that came back under another ifindex (nic.c) */
	{
		unsigned lo = ifindex_lo, moved = 0;

		xm_rules6_move_iface(&h, lo, 4242);
		ifindex_lo = 4242;
		for (__u8 gen = 0; gen < 2; gen++)
			moved += lookup6(gen, "::", 443, IPPROTO_TCP, &v) == 0 &&
				 lookup6(gen, "2001:db8:1::1", 5001, IPPROTO_UDP, &v) == 0;
		ifindex_lo = lo;
		xm_rules6_move_iface(&h, 4242, lo);
		tap_ok(moved == 2 && lookup6(0, "::", 443, IPPROTO_TCP, &v) == 0 &&
			       count_keys(h.fd[XM_MAP_RULES6], sizeof(struct xm_rule6_key)) == 8,
		       "xm_rules6_move_iface: the IPv6 entries under the new ifindex, and back");
	}

	/* flows6 entries: a pair of the udp forward, the ORIG entry of one of
	 * 443's, one of the IPv4 rule's id (kept: it stays) */
	{
		const __u32 ids[4] = { idudp, idudp, id443, id4 };

		tap_ok(put_flows6(ids, 4, 40000, IPPROTO_TCP), "flows6: four entries made for "
							       "--reset-flows");
	}

	/* a change: new backend for 443, the udp forward gone */
	reset_flows = 1;
	rc = apply(&h,
		   "forward lo tcp 8080 to 198.18.0.2:80\n"
		   "forward lo tcp 443 to [fd00:8::9]:8443\n",
		   0, &res, diff, sizeof(diff), err, sizeof(err));
	reset_flows = 0;
	tap_ok(rc == 0 && res.changed == 1 && res.removed == 1 && res.added == 0 && res.kept == 1,
	       "change: one changed, one removed, the IPv4 forward kept");
	tap_ok(res.flows_reset == 2 && flows6_entries() == 1, "change --reset-flows: the IPv6 "
							      "flows of the changed and removed "
							      "rules gone (2 "
							      "flows, 3 entries), the kept rule's "
							      "entry stays");
	if (!tap_ok(strcmp(diff, "~ forward lo tcp 443 to [fd00:8::2]:8443 => forward lo tcp 443 "
				 "to [fd00:8::9]:8443\n"
				 "- forward lo:[2001:db8:1::1] udp 5000-5002 to "
				 "[fd00:8::3]:5000-5002 from "
				 "2001:db8:100::/48,2001:db8:200::7\n") == 0,
		    "change: the diff pairs the IPv6 change and lists the removal"))
		tap_diag("diff:\n%s", diff);
	TAP_EQ(id_of_line(1), id4, "change: the IPv4 forward still has its id");
	{
		struct in6_addr b9 = ip6("fd00:8::9");

		ok = 1;
		for (__u8 gen = 0; gen < 2; gen++)
			ok &= lookup6(gen, "::", 443, IPPROTO_TCP, &v) == 0 &&
			      !memcmp(v.to_addr, &b9, 16) && v.rule_id == id_of_line(2);
		tap_ok(ok, "change: rules6 443 -> fd00:8::9 in both generations");
	}
	TAP_EQ(count_keys(h.fd[XM_MAP_RULES6], sizeof(struct xm_rule6_key)), 2,
	       "change: the udp forward's 6 entries gone");
	TAP_EQ(count_keys(h.fd[XM_MAP_ALLOW_LISTS], sizeof(struct xm_allow_key)), 0,
	       "change: its from list gone from allow_lists");
	rc = apply(&h, "", 0, &res, diff, sizeof(diff), err, sizeof(err));
	tap_ok(rc == 0 && res.removed == 2 && meta_in_use() == 0 &&
		       count_keys(h.fd[XM_MAP_RULES6], sizeof(struct xm_rule6_key)) == 0,
	       "an empty file removes every forward, IPv6 ones included");
}

/* xmasqd's line-by-line applies (live_rules.c) with IPv6 forwards in the
 * file: an edit of an IPv6 line goes to the full path, one of an IPv4 line
 * is applied alone and leaves the IPv6 forwards as they were. */
static void test_line_edits(void)
{
	static const char edited[] = "forward lo tcp 8081 to 198.18.0.2:80\n"
				     "forward lo tcp 443 to [fd00:8::2]:8443\n"
				     "forward lo:[2001:db8:1::1] udp 5000-5002 to [fd00:8::3] from "
				     "2001:db8:100::/48,2001:db8:200::7\n";
	static const char edited6[] = "forward lo tcp 8080 to 198.18.0.2:80\n"
				      "forward lo tcp 444 to [fd00:8::2]:8443\n"
				      "forward lo:[2001:db8:1::1] udp 5000-5002 to [fd00:8::3] "
				      "from "
				      "2001:db8:100::/48,2001:db8:200::7\n";
	struct xm_apply_opts o = { 0 };
	struct xm_apply_result res;
	struct xm_live_rules *lr;
	struct xm_ruleset rs;
	char diff[4096], err[512];
	size_t line2 = strchr(edited6, '\n') - edited6 + 1;
	struct xm_text_hunk first = { 1, 1, 1, 1, 0 }, second = { 2, 1, 2, 1, line2 };
	int rc;

	rc = apply(&h, text_a, 0, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && parse(text_a, &rs) == 0, "line edits: the file applied whole"))
		return;
	lr = xm_live_rules_build(&h, &rs, 3);
	xm_ruleset_free(&rs);
	if (!tap_ok(lr != NULL, "line edits: the live rules kept with IPv6 forwards among them"))
		return;
	rc = xm_live_rules_apply(lr, &h, edited6, strlen(edited6), &second, 1, FN, &o, &res, err,
				 sizeof(err));
	TAP_EQ(rc, 1, "line edits: an edited IPv6 line goes to the full path");
	rc = xm_live_rules_apply(lr, &h, edited, strlen(edited), &first, 1, FN, &o, &res, err,
				 sizeof(err));
	if (!tap_ok(rc == 0 && res.incremental && res.changed == 0 && res.added == 1 &&
			    res.removed == 1,
		    "line edits: an edited IPv4 line is applied alone"))
		tap_diag("got %d '%s'", rc, err);
	TAP_EQ(count_keys(h.fd[XM_MAP_RULES6], sizeof(struct xm_rule6_key)), 8,
	       "line edits: the IPv6 forwards' entries untouched");
	rc = apply(&h, edited, 1, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && diff[0] == 0 && res.kept == 3, "line edits: the edited file diffs "
							      "empty against the live rules"))
		tap_diag("got %d '%s' diff '%s'", rc, err, diff);
	xm_live_rules_free(lr);
	apply(&h, "", 0, &res, diff, sizeof(diff), err, sizeof(err));
}

/* More IPv6 forwards than XM_ADDRS6_BATCH_FROM: apply and status read
 * rule_addrs6 whole, in one call. */
static void test_many_v6(void)
{
	const int n = XM_ADDRS6_BATCH_FROM + 44;
	size_t cap = (size_t)n * 64, at = 0;
	char *text = malloc(cap), diff[4096], err[512];
	struct xm_apply_result res;
	struct xm_snapshot s;
	int rc, same = 1;

	if (!text)
		return;
	for (int i = 0; i < n; i++)
		at += (size_t)snprintf(text + at, cap - at,
				       "forward lo tcp %d to [fd00:9::%x]:80\n", 10000 + i, i + 1);
	rc = apply(&h, text, 0, &res, diff, sizeof(diff), err, sizeof(err));
	tap_ok(rc == 0 && res.added == (unsigned)n, "many: %d IPv6 forwards applied", n);
	{
		struct xm_rule_addrs6 *all = calloc(XM_MAX_RULES, sizeof(*all));
		struct in6_addr want = ip6("fd00:9::1");
		__u32 id = id_of_line(1);

		tap_ok(all && xm_rule_addrs6_read_all(&h, all) == 0 && id &&
			       memcmp(all[id].to_addr, &want, 16) == 0,
		       "many: xm_rule_addrs6_read_all reads the array in one call");
		free(all);
	}
	rc = apply(&h, text, 1, &res, diff, sizeof(diff), err, sizeof(err));
	tap_ok(rc == 0 && diff[0] == 0 && res.kept == (unsigned)n && res.added == 0, "many: read "
										     "back whole, "
										     "the same "
										     "file diffs "
										     "empty");
	if (xm_snapshot_read(&h, &s, err, sizeof(err)) == 0) {
		same = s.n_rules == (size_t)n;
		for (size_t i = 0; same && i < s.n_rules; i++) {
			char got[XM_RULE_TEXT_MAX], want[XM_RULE_TEXT_MAX];
			unsigned line = s.rules[i].meta.line;

			xm_rule_meta_format(&s.rules[i].meta, &s.rules[i].addrs6, NULL, NULL, NULL,
					    got, sizeof(got));
			snprintf(want, sizeof(want), "forward lo tcp %u to [fd00:9::%x]:80",
				 10000 + line - 1, line);
			same = strcmp(got, want) == 0;
			if (!same)
				tap_diag("line %u: '%s', want '%s'", line, got, want);
		}
		xm_snapshot_free(&s);
	} else {
		same = 0;
	}
	tap_ok(same, "many: status shows every rule with its addresses");
	/* one backend changed: only it in the diff */
	at = (size_t)(strstr(text, "[fd00:9::7]") - text);
	memcpy(text + at, "[fd00:9::f]", 11);
	rc = apply(&h, text, 0, &res, diff, sizeof(diff), err, sizeof(err));
	tap_ok(rc == 0 && res.changed == 1 && res.kept == (unsigned)n - 1 &&
		       strcmp(diff, "~ forward lo tcp 10006 to [fd00:9::7]:80 => forward lo tcp "
				    "10006 to [fd00:9::f]:80\n") == 0,
	       "many: one changed backend is the one '~' line");
	apply(&h, "", 0, &res, diff, sizeof(diff), err, sizeof(err));
	free(text);
}

/* xmasqd's /metrics reads the rules a window at a time
 * (XM_SNAP_RULE_WINDOW) while it streams them: over 2.5 windows of
 * rules of every kind (IPv4 and IPv6 forwards, `from` and `as` lists,
 * masquerades) with counters, its text is the whole snapshot's, byte for
 * byte, with and without the kept mappings; windows asked out of order
 * hold the right rules; the kept rule_meta mapping is not let go while a
 * windowed snapshot reads it. */
static void test_metrics_window(void)
{
	const int n = 2 * XM_RULE_WINDOW + XM_RULE_WINDOW / 2;
	size_t cap = (size_t)n * 128, at = 0, wlen = 0;
	char *text = malloc(cap), diff[256], err[512], *whole = NULL;
	struct xm_apply_result res;
	struct xm_snapshot full, s;
	struct xm_snapshot_keep *keep = xm_snapshot_keep_new();
	int rc, ok;

	if (!text || !keep) {
		tap_ok(0, "window: memory for the test");
		free(text);
		xm_snapshot_keep_free(keep);
		return;
	}
	for (int i = 0; i < n; i++) {
		if (i % 5 == 0)
			at += (size_t)snprintf(text + at, cap - at,
					       "forward lo tcp %d to [fd00:9::%x]:80\n", 20000 + i,
					       i + 1);
		else if (i % 7 == 0)
			at += (size_t)snprintf(text + at, cap - at,
					       "forward lo udp %d to 198.18.0.2:53 from "
					       "192.0.2.0/24\n",
					       20000 + i);
		else if (i % 11 == 0)
			at += (size_t)snprintf(text + at, cap - at,
					       "forward lo tcp %d to 198.18.0.3 as 127.0.0.1\n",
					       20000 + i);
		else
			at += (size_t)snprintf(text + at, cap - at,
					       "forward lo tcp %d to 198.18.0.%d:80\n", 20000 + i,
					       2 + i % 200);
	}
	at += (size_t)snprintf(text + at, cap - at, "masquerade fd00:1::/64 out lo\n");
	rc = apply(&h, text, 0, &res, diff, sizeof(diff), err, sizeof(err));
	tap_ok(rc == 0 && res.added == (unsigned)n + 1,
	       "window: %d rules of every kind applied (%s)", n + 1, rc ? err : "ok");
	/* counters on some rules: per CPU, summed by the reads */
	for (__u32 id = 1; id < XM_MAX_RULES; id += 7) {
		struct xm_rule_stats *v = calloc((size_t)h.ncpus, sizeof(*v));

		for (int c = 0; v && c < h.ncpus; c++) {
			v[c].packets[0] = id + (__u64)c;
			v[c].bytes[1] = 1000u * id;
			v[c].flows = 3;
		}
		if (v && bpf_map_update_elem(h.fd[XM_MAP_RULE_STATS], &id, v, BPF_ANY))
			tap_diag("rule_stats %u: %s", id, strerror(errno));
		free(v);
	}
	if (xm_snapshot_read(&h, &full, err, sizeof(err)) ||
	    xm_render_prometheus(&full, NULL, &whole, &wlen)) {
		tap_ok(0, "window: the whole snapshot's text to compare with (%s)", err);
		goto out;
	}
	{
		/* batch reads over several batches: each rule its own counters */
		int own = full.n_rules == (size_t)n + 1;

		for (size_t i = 0; own && i < full.n_rules; i++) {
			struct xm_rule_stats one;

			own = xm_read_percpu_u64s(h.fd[XM_MAP_RULE_STATS], full.rules[i].id,
						  h.ncpus, &one, sizeof(one)) == 0 &&
			      !memcmp(&one, &full.rules[i].st, sizeof(one));
			if (!own)
				tap_diag("rule %u: packets %llu, its own %llu", full.rules[i].id,
					 (unsigned long long)full.rules[i].st.packets[0],
					 (unsigned long long)one.packets[0]);
		}
		tap_ok(own,
		       "window: the snapshot's batch reads give each of %zu rules its own counters",
		       full.n_rules);
	}
	tap_ok(strstr(whole, "as 127.0.0.1") && strstr(whole, "from 192.0.2.0/24") &&
		       strstr(whole, "to [fd00:9::1]:80") &&
		       strstr(whole, "masquerade fd00:1::/64") &&
		       strstr(whole, "xmasq_rule_flows_total{id=\"99\"} 6"),
	       "window: the text compared holds every kind of rule and their counters");
	for (int kept = 0; kept < 3; kept++) {
		struct xm_snapshot_opts o = { .keep = kept ? keep : NULL,
					      .flags = XM_SNAP_RULE_WINDOW };
		struct xm_prom_stream *g;
		char *joined = malloc(wlen + 1);
		const char *part;
		size_t got = 0, parts = 0;
		ssize_t k = -1;

		if (xm_snapshot_read_opts(&h, &o, &s, err, sizeof(err))) {
			tap_ok(0, "window: windowed snapshot read (%s)", err);
			free(joined);
			continue;
		}
		/* the idle daemon lets go of what it keeps: not what is read */
		if (kept)
			xm_snapshot_keep_drop(keep);
		g = xm_prom_stream_new(&s, NULL);
		while (g && joined && (k = xm_prom_stream_next(g, &part)) > 0 &&
		       got + (size_t)k <= wlen) {
			memcpy(joined + got, part, (size_t)k);
			got += (size_t)k;
			parts++;
		}
		ok = g && joined && k == 0 && got == wlen && !memcmp(joined, whole, wlen);
		for (size_t i = 0; !ok && joined && i < got && i < wlen; i++)
			if (joined[i] != whole[i]) {
				tap_diag("differs at byte %zu: '%.80s' want '%.80s'", i, joined + i,
					 whole + i);
				break;
			}
		tap_ok(ok && s.rules_cap == XM_RULE_WINDOW,
		       "window: the windowed text (%s) is the whole one's, %zu of %zu bytes in %zu "
		       "parts",
		       kept == 0 ? "rule_meta mapped for the read" :
		       kept == 1 ? "mapped and kept" :
				   "the kept mapping",
		       got, wlen, parts);
		xm_prom_stream_free(g);
		free(joined);
		if (kept == 2) {
			/* out of order: the last window, the first, then the second */
			size_t starts[] = { 2 * XM_RULE_WINDOW, 0, XM_RULE_WINDOW }, m;
			int right = 1;

			for (int w = 0; w < 3; w++) {
				const struct xm_rule_info *r;

				m = XM_RULE_WINDOW;
				r = xm_snapshot_rules_at(&s, starts[w], &m,
							 XM_RULES_AT_STATS | XM_RULES_AT_FROM);
				right &= r && m == (starts[w] + XM_RULE_WINDOW <= full.n_rules ?
							    XM_RULE_WINDOW :
							    full.n_rules - starts[w]);
				for (size_t i = 0; right && i < m; i++)
					right &= r[i].id == full.rules[starts[w] + i].id &&
						 !memcmp(&r[i].st, &full.rules[starts[w] + i].st,
							 sizeof(r[i].st)) &&
						 r[i].from.n == full.rules[starts[w] + i].from.n;
			}
			tap_ok(right, "window: windows asked out of order hold their rules and "
				      "counters");
		}
		xm_snapshot_free_keep(kept ? keep : NULL, &s);
	}
	xm_snapshot_free(&full);
out:
	free(whole);
	xm_snapshot_keep_free(keep);
	apply(&h, "", 0, &res, diff, sizeof(diff), err, sizeof(err));
	free(text);
}

/* masq_rules6: the rule id and interface of the longest prefix holding
 * src in generation gen; -1 when none. */
static int masq6_lookup(int fd, __u8 gen, const char *src, struct xm_masq_value *v)
{
	struct xm_masq6_key k;
	struct in6_addr a = ip6(src);

	memset(&k, 0, sizeof(k));
	k.prefixlen = 32 + 128;
	k.gen = htonl(gen);
	memcpy(k.saddr, &a, sizeof(k.saddr));
	return bpf_map_lookup_elem(fd, &k, v) ? -1 : 0;
}

/* Whether flows6 holds the UDP entry test_masq6 made with this sport. */
static int flow6_at(__u16 sport)
{
	struct xm_flow6_key k;

	memset(&k, 0, sizeof(k));
	k.sport = htons(sport);
	k.proto = IPPROTO_UDP;
	return flow6_there(&k);
}

/* An IPv6 masquerade and an IPv6 forward, in both orders. */
static const char text_mf[] = "masquerade fd00:1::/64 out lo\n"
			      "forward lo tcp 443 to [fd00:8::2]:8443\n";
static const char text_fm[] = "forward lo tcp 443 to [fd00:8::2]:8443\n"
			      "masquerade fd00:1::/64 out lo\n";

static const char text_m[] = "forward lo tcp 8080 to 198.18.0.2:80\n"
			     "masquerade 10.0.0.0/16 out lo\n"
			     "masquerade fd00:1::/64 out lo\n"
			     "masquerade [2001:db8:100::]/48 out lo\n";

/* IPv6 masquerades: masq_rules6 in both generations, rule_meta with
 * XM_RULE_MASQUERADE | XM_RULE_V6 and the prefix in rule_addrs6, read
 * back as written, a removal (with --reset-flows), and a router without
 * masq_rules6 refusing the file whole. */
static void test_masq6(void)
{
	int fd6 = h.fd[XM_MAP_MASQ_RULES6];
	struct in6_addr p64 = ip6("fd00:1::"), p48 = ip6("2001:db8:100::");
	struct xm_apply_result res;
	struct xm_masq_value v;
	struct xm_rule_meta m;
	struct xm_rule_addrs6 a6;
	char diff[4096], err[512];
	__u32 id4, id64, id48;
	int rc, ok = 1;

	rc = apply(&h, text_m, 0, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && res.added == 4 && res.removed == 0, "masq6: a forward, an IPv4 and "
								   "two IPv6 masquerades applied"))
		tap_diag("got %d '%s' added %u removed %u", rc, err, res.added, res.removed);
	if (!tap_ok(strcmp(diff, "+ forward lo tcp 8080 to 198.18.0.2:80\n"
				 "+ masquerade 10.0.0.0/16 out lo\n"
				 "+ masquerade fd00:1::/64 out lo\n"
				 "+ masquerade 2001:db8:100::/48 out lo\n") == 0,
		    "masq6: the diff shows the IPv6 masquerades unbracketed"))
		tap_diag("diff:\n%s", diff);
	id4 = id_of_line(2);
	id64 = id_of_line(3);
	id48 = id_of_line(4);
	tap_ok(id4 && id64 && id48 && id64 != id48 && id4 != id64 && id4 != id48, "masq6: an id "
										  "each");

	/* masq_rules6: longest prefix of a source, both generations */
	for (__u8 gen = 0; gen < 2; gen++) {
		ok &= masq6_lookup(fd6, gen, "fd00:1::5", &v) == 0 && v.rule_id == id64 &&
		      v.out_ifindex == ifindex_lo;
		ok &= masq6_lookup(fd6, gen, "2001:db8:100:7::1", &v) == 0 && v.rule_id == id48 &&
		      v.out_ifindex == ifindex_lo;
		ok &= masq6_lookup(fd6, gen, "fd00:2::1", &v) == -1;
	}
	tap_ok(ok, "masq_rules6: fd00:1::5 -> the /64, 2001:db8:100:7::1 -> the /48, "
		   "fd00:2::1 none, in both generations");
	TAP_EQ(count_keys(fd6, sizeof(struct xm_masq6_key)), 4,
	       "masq_rules6: 2 prefixes x 2 generations, nothing else");
	TAP_EQ(count_keys(h.fd[XM_MAP_MASQ_RULES], sizeof(struct xm_masq_key)), 2,
	       "masq_rules: the IPv4 masquerade only");
	{
		struct xm_masq6_key k;

		memset(&k, 0, sizeof(k));
		k.prefixlen = 32 + 64;
		k.gen = htonl(1);
		memcpy(k.saddr, &p64, 16);
		tap_ok(bpf_map_lookup_elem(fd6, &k, &v) == 0 && v.rule_id == id64, "masq_rules6: "
										   "key {prefixlen "
										   "32 + 64, gen "
										   "htonl(1), "
										   "fd00:1::}");
	}

	/* rule_meta and rule_addrs6 */
	ok = bpf_map_lookup_elem(h.fd[XM_MAP_RULE_META], &id64, &m) == 0 &&
	     m.flags == (XM_RULE_MASQUERADE | XM_RULE_V6) && m.prefix_len == 64 && m.daddr == 0 &&
	     m.to_addr == 0 && m.ifindex == ifindex_lo && strcmp(m.ifname, "lo") == 0 &&
	     m.line == 3 && m.addr_set == 0;
	tap_ok(ok, "rule_meta: MASQUERADE | V6, prefix_len 64, daddr 0, lo, line 3");
	ok = bpf_map_lookup_elem(h.fd[XM_MAP_RULE_ADDRS6], &id64, &a6) == 0 &&
	     !memcmp(a6.daddr, &p64, 16) && !a6.to_addr[0] && !a6.to_addr[1] && !a6.to_addr[2] &&
	     !a6.to_addr[3];
	ok &= bpf_map_lookup_elem(h.fd[XM_MAP_RULE_ADDRS6], &id48, &a6) == 0 &&
	      !memcmp(a6.daddr, &p48, 16);
	tap_ok(ok, "rule_addrs6: daddr the prefix (fd00:1::, 2001:db8:100::), to_addr zero");
	ok = bpf_map_lookup_elem(h.fd[XM_MAP_RULE_META], &id4, &m) == 0 &&
	     m.flags == XM_RULE_MASQUERADE && m.prefix_len == 16 && m.daddr == htonl(0x0a000000);
	tap_ok(ok, "rule_meta: the IPv4 masquerade as before");

	/* the live set read back: an empty diff, the same texts */
	rc = apply(&h, text_m, 1, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && diff[0] == 0 && res.added == 0 && res.removed == 0 &&
			    res.changed == 0 && res.kept == 4,
		    "masq6 read back: the same file diffs empty against the live rules"))
		tap_diag("got %d '%s' diff '%s'", rc, err, diff);
	check_read_back(text_m, 4, "rule=\"masquerade fd00:1::/64 out lo\"",
			"rule=\"masquerade 2001:db8:100::/48 out lo\"",
			"masq6 read back: Prometheus' rule labels show the IPv6 masquerades",
			"masq6 read back: status formats each live rule as the file's");

	/* a NIC that came back under another ifindex (nic.c) */
	xm_rules6_move_iface(&h, ifindex_lo, 4242);
	ok = 1;
	for (__u8 gen = 0; gen < 2; gen++)
		ok &= masq6_lookup(fd6, gen, "fd00:1::5", &v) == 0 && v.out_ifindex == 4242;
	xm_rules6_move_iface(&h, 4242, ifindex_lo);
	ok &= masq6_lookup(fd6, 0, "2001:db8:100::1", &v) == 0 && v.out_ifindex == ifindex_lo &&
	      count_keys(fd6, sizeof(struct xm_masq6_key)) == 4;
	tap_ok(ok, "xm_rules6_move_iface: masq_rules6 leaves by the new ifindex, and back");

	/* flows6: a pair of the /48's, the ORIG entry of one of the /64's */
	{
		const __u32 ids[3] = { id48, id48, id64 };

		tap_ok(put_flows6(ids, 3, 41000, IPPROTO_UDP), "masq6: flows6 entries made for "
							       "--reset-flows");
	}

	/* a removal: the /48 goes */
	reset_flows = 1;
	rc = apply(&h,
		   "forward lo tcp 8080 to 198.18.0.2:80\n"
		   "masquerade 10.0.0.0/16 out lo\n"
		   "masquerade fd00:1::/64 out lo\n",
		   0, &res, diff, sizeof(diff), err, sizeof(err));
	reset_flows = 0;
	if (!tap_ok(rc == 0 && res.removed == 1 && res.kept == 3 && res.added == 0 &&
			    strcmp(diff, "- masquerade 2001:db8:100::/48 out lo\n") == 0,
		    "masq6 removal: one removed, the rest kept, the diff's '-' line"))
		tap_diag("got %d '%s' removed %u kept %u diff '%s'", rc, err, res.removed, res.kept,
			 diff);
	if (!tap_ok(res.flows_reset == 1 && !flow6_at(41000) && !flow6_at(41001) && flow6_at(41002),
		    "masq6 removal --reset-flows: the /48's flow gone (both entries), the /64's "
		    "stays"))
		tap_diag("flows_reset %lu, flows6 entries %u", (unsigned long)res.flows_reset,
			 flows6_entries());
	ok = masq6_lookup(fd6, 0, "2001:db8:100::1", &v) == -1 &&
	     masq6_lookup(fd6, 1, "2001:db8:100::1", &v) == -1 &&
	     masq6_lookup(fd6, 0, "fd00:1::5", &v) == 0 && v.rule_id == id64 &&
	     masq6_lookup(fd6, 1, "fd00:1::5", &v) == 0 && v.rule_id == id64 &&
	     count_keys(fd6, sizeof(struct xm_masq6_key)) == 2;
	tap_ok(ok, "masq6 removal: the /48 gone from both generations, the /64 kept");
	ok = bpf_map_lookup_elem(h.fd[XM_MAP_RULE_META], &id48, &m) == 0 && !m.in_use &&
	     bpf_map_lookup_elem(h.fd[XM_MAP_RULE_ADDRS6], &id48, &a6) == 0 && !a6.daddr[0] &&
	     id_of_line(3) == id64;
	tap_ok(ok, "masq6 removal: its rule_meta and rule_addrs6 cleared, the /64 keeps its id");

	/* a router without masq_rules6 (attached before IPv6 masquerades) */
	{
		struct xm_handle old = h;
		unsigned before = meta_in_use();

		old.fd[XM_MAP_MASQ_RULES6] = -1;
		rc = apply(&old, text_m, 0, &res, diff, sizeof(diff), err, sizeof(err));
		if (!tap_ok(rc == -2 && strcmp(err, FN ":3:12: IPv6 masquerade, but the router's "
						       "maps "
						       "have no IPv6 masquerade rules (it was "
						       "attached "
						       "by an older build: run xmasq attach again "
						       "to "
						       "load the IPv6 maps; nothing was "
						       "changed)") == 0,
			    "no masq_rules6: a file with IPv6 masquerades is refused, at its first "
			    "one's prefix"))
			tap_diag("got %d '%s'", rc, err);
		tap_ok(meta_in_use() == before &&
			       count_keys(fd6, sizeof(struct xm_masq6_key)) == 2 &&
			       count_keys(h.fd[XM_MAP_MASQ_RULES], sizeof(struct xm_masq_key)) ==
				       2 &&
			       id_of_line(3) == id64 && diff[0] == 0,
		       "no masq_rules6: nothing was changed");
		old = h;
		old.fd[XM_MAP_RULE_ADDRS6] = -1;
		rc = apply(&old, text_m, 0, &res, diff, sizeof(diff), err, sizeof(err));
		ok = rc == -2 && strstr(err, "IPv6 masquerade, but the router's maps");
		tap_ok(ok, "no rule_addrs6: refused too");
		old.fd[XM_MAP_RULES6] = -1;
		old.fd[XM_MAP_MASQ_RULES6] = -1;
		rc = apply(&old, text_mf, 0, &res, diff, sizeof(diff), err, sizeof(err));
		ok = rc == -2 && strncmp(err, FN ":1:12: IPv6 masquerade,", 33) == 0;
		tap_ok(ok, "no IPv6 maps: a masquerade before a forward is the one named");
		rc = apply(&old, text_fm, 0, &res, diff, sizeof(diff), err, sizeof(err));
		ok = rc == -2 && strncmp(err, FN ":1:9: IPv6 forward,", 29) == 0;
		tap_ok(ok, "no IPv6 maps: a forward before a masquerade is the one named");
		ok = meta_in_use() == before && id_of_line(3) == id64;
		tap_ok(ok, "no IPv6 maps: still nothing changed");
	}
	rc = apply(&h, "", 0, &res, diff, sizeof(diff), err, sizeof(err));
	tap_ok(rc == 0 && meta_in_use() == 0 && count_keys(fd6, sizeof(struct xm_masq6_key)) == 0 &&
		       count_keys(h.fd[XM_MAP_MASQ_RULES], sizeof(struct xm_masq_key)) == 0,
	       "masq6: an empty file removes every masquerade");
	{
		struct xm_handle old = h;

		old.fd[XM_MAP_MASQ_RULES6] = -1;
		rc = apply(&old, "masquerade 10.0.0.0/16 out lo\n", 0, &res, diff, sizeof(diff),
			   err, sizeof(err));
		tap_ok(rc == 0 && res.added == 1 &&
			       count_keys(h.fd[XM_MAP_MASQ_RULES], sizeof(struct xm_masq_key)) == 2,
		       "no masq_rules6: a file without IPv6 masquerades applies as before");
		apply(&h, "", 0, &res, diff, sizeof(diff), err, sizeof(err));
	}
	{
		struct xm_flow6_key k;

		memset(&k, 0, sizeof(k));
		k.sport = htons(41002);
		k.proto = IPPROTO_UDP;
		flow6_delete(&k);
	}
}

/* xmasqd's line-by-line applies with an IPv6 masquerade in the file: an
 * edit of its line goes to the full path, one of an IPv4 forward's line is
 * applied alone and leaves masq_rules6 as it was. */
static void test_masq6_line_edits(void)
{
	static const char edited[] = "forward lo tcp 8081 to 198.18.0.2:80\n"
				     "masquerade 10.0.0.0/16 out lo\n"
				     "masquerade fd00:1::/64 out lo\n"
				     "masquerade [2001:db8:100::]/48 out lo\n";
	static const char edited6[] = "forward lo tcp 8080 to 198.18.0.2:80\n"
				      "masquerade 10.0.0.0/16 out lo\n"
				      "masquerade fd00:2::/64 out lo\n"
				      "masquerade [2001:db8:100::]/48 out lo\n";
	struct xm_apply_opts o = { 0 };
	struct xm_apply_result res;
	struct xm_live_rules *lr;
	struct xm_ruleset rs;
	char diff[4096], err[512];
	size_t line3 = (size_t)(strstr(edited6, "masquerade fd00:2") - edited6);
	struct xm_text_hunk first = { 1, 1, 1, 1, 0 }, third = { 3, 1, 3, 1, line3 };
	int rc;

	rc = apply(&h, text_m, 0, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && parse(text_m, &rs) == 0, "masq6 line edits: the file applied whole"))
		return;
	lr = xm_live_rules_build(&h, &rs, 4);
	xm_ruleset_free(&rs);
	if (!tap_ok(lr != NULL, "masq6 line edits: the live rules kept with IPv6 masquerades"))
		return;
	rc = xm_live_rules_apply(lr, &h, edited6, strlen(edited6), &third, 1, FN, &o, &res, err,
				 sizeof(err));
	TAP_EQ(rc, 1, "masq6 line edits: an edited IPv6 masquerade line goes to the full path");
	rc = xm_live_rules_apply(lr, &h, edited, strlen(edited), &first, 1, FN, &o, &res, err,
				 sizeof(err));
	if (!tap_ok(rc == 0 && res.incremental && res.added == 1 && res.removed == 1, "masq6 line "
										      "edits: an "
										      "edited IPv4 "
										      "forward "
										      "line is "
										      "applied "
										      "alone"))
		tap_diag("got %d '%s'", rc, err);
	TAP_EQ(count_keys(h.fd[XM_MAP_MASQ_RULES6], sizeof(struct xm_masq6_key)), 4,
	       "masq6 line edits: masq_rules6 untouched");
	rc = apply(&h, edited, 1, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && diff[0] == 0 && res.kept == 4, "masq6 line edits: the edited file "
							      "diffs empty against the live "
							      "rules"))
		tap_diag("got %d '%s' diff '%s'", rc, err, diff);
	xm_live_rules_free(lr);
	apply(&h, "", 0, &res, diff, sizeof(diff), err, sizeof(err));
}

/* An apply after one that died half-way (XM_CFG_GEN_DIRTY) rebuilds each
 * generation whole: masq_rules6 included, a stray entry gone. */
static void test_masq6_dirty(void)
{
	int fd6 = h.fd[XM_MAP_MASQ_RULES6];
	struct xm_apply_result res;
	struct xm_masq_value v = { .rule_id = 77, .out_ifindex = 4242 };
	struct xm_masq6_key k;
	struct in6_addr stray = ip6("fd00:99::");
	struct xm_config c;
	char diff[4096], err[512];
	__u32 zero = 0;
	int rc, ok;

	rc = apply(&h, text_m, 0, &res, diff, sizeof(diff), err, sizeof(err));
	memset(&k, 0, sizeof(k));
	k.prefixlen = 32 + 32;
	memcpy(k.saddr, &stray, 16);
	ok = rc == 0 && bpf_map_lookup_elem(h.fd[XM_MAP_CONFIG], &zero, &c) == 0;
	for (__u8 gen = 0; ok && gen < 2; gen++) {
		k.gen = htonl(gen);
		ok = bpf_map_update_elem(fd6, &k, &v, BPF_ANY) == 0;
	}
	c.flags |= XM_CFG_GEN_DIRTY;
	ok = ok && bpf_map_update_elem(h.fd[XM_MAP_CONFIG], &zero, &c, BPF_ANY) == 0;
	if (!tap_ok(ok, "masq6 dirty: a stray entry in each generation, the generations dirty"))
		return;
	rc = apply(&h, text_m, 0, &res, diff, sizeof(diff), err, sizeof(err));
	ok = rc == 0 && res.kept == 4 && count_keys(fd6, sizeof(struct xm_masq6_key)) == 4 &&
	     masq6_lookup(fd6, 0, "fd00:99::1", &v) == -1 &&
	     masq6_lookup(fd6, 1, "fd00:99::1", &v) == -1 &&
	     masq6_lookup(fd6, 0, "fd00:1::1", &v) == 0 && v.rule_id == id_of_line(3) &&
	     masq6_lookup(fd6, 1, "fd00:1::1", &v) == 0 && v.rule_id == id_of_line(3) &&
	     bpf_map_lookup_elem(h.fd[XM_MAP_CONFIG], &zero, &c) == 0 &&
	     !(c.flags & XM_CFG_GEN_DIRTY);
	if (!tap_ok(ok, "masq6 dirty: both generations rebuilt whole, the stray entries gone"))
		tap_diag("got %d '%s', %u entries", rc, err,
			 count_keys(fd6, sizeof(struct xm_masq6_key)));
	apply(&h, "", 0, &res, diff, sizeof(diff), err, sizeof(err));
}

/* IPv6 clients of IPv4 backends (6->4): a `family any` rule in rules (an
 * IPv4 forward's entry) and rules6 (any address, backend IPv4-mapped)
 * under one id, a 6->4 rule for one IPv6 address, their rule_meta and
 * rule_addrs6, a mixed `from` list in allow_lists, the live set diffing
 * empty, a router without progs46 refusing the file whole, and a reset
 * taking a 6->4 flow's stub out of the IPv4 table. */
static const char text_64[] = "forward lo tcp 8080 to 198.18.0.2:80 family any from "
			      "192.0.2.0/24,2001:db8:100::/48\n"
			      "forward lo:[2001:db8:1::1] udp 53 to 198.18.0.3\n";

static int allow_has(__u16 list, const char *src)
{
	struct xm_allow_key k = { .prefixlen = 32 + 128, .list = htonl(list) };
	struct in6_addr a = ip6(src);
	__u32 v;

	memcpy(k.addr, &a, sizeof(k.addr));
	return bpf_map_lookup_elem(h.fd[XM_MAP_ALLOW_LISTS], &k, &v) == 0;
}

/* A 6->4 flow of rule id, as the data plane writes it (xmasq_abi.h):
 * [2001:db8:9::1]:40000 -> [2001:db8:1::1]:8080 masqueraded to
 * 127.0.0.1:mport -> 198.18.0.2:80, and its stub. */
static int add_flow64(__u32 id, __u16 mport, struct xm_flow_key *stub_key)
{
	struct xm_flow6_key ok = { .proto = IPPROTO_TCP }, rk;
	struct xm_flow6 ov = { 0 }, rv = { 0 };
	struct in6_addr client = ip6("2001:db8:9::1"), pub = ip6("2001:db8:1::1"),
			router4 = ip6("::ffff:127.0.0.1"), backend = ip6("::ffff:198.18.0.2");
	struct xm_flow stub = { 0 };
	struct xm_ct_table t;
	char err[256];
	int rc;

	memcpy(ok.saddr, &client, 16);
	memcpy(ok.daddr, &pub, 16);
	ok.sport = htons(40000);
	ok.dport = htons(8080);
	memcpy(ov.new_saddr, &router4, 16);
	memcpy(ov.new_daddr, &backend, 16);
	ov.new_sport = htons(mport);
	ov.new_dport = htons(80);
	ov.flags = XM_FLOW6_TO_V4;
	ov.rule_id = id;
	xm_flow6_partner_key(&ov, IPPROTO_TCP, &rk);
	memcpy(rv.new_saddr, &pub, 16);
	memcpy(rv.new_daddr, &client, 16);
	rv.new_sport = ok.dport;
	rv.new_dport = ok.sport;
	rv.flags = XM_FLOW_REPLY | XM_FLOW6_TO_V4;
	rv.rule_id = id;
	memset(stub_key, 0, sizeof(*stub_key));
	stub_key->saddr = rk.saddr[3];
	stub_key->daddr = rk.daddr[3];
	stub_key->sport = rk.sport;
	stub_key->dport = rk.dport;
	stub_key->proto = IPPROTO_TCP;
	stub.out_slot = stub.in_slot = XM_SLOT_IPV6_FLOW;
	stub.flags = XM_FLOW_REPLY;
	stub.rule_id = id;
	if (xm_ct_open_handle(&t, &h, 1, err, sizeof(err))) {
		tap_diag("%s", err);
		return -1;
	}
	rc = xm_ct_insert(&t, stub_key, &stub);
	xm_ct_close(&t);
	return rc || flow6_insert(&rk, &rv) || flow6_insert(&ok, &ov);
}

static int stub_there(const struct xm_flow_key *k)
{
	struct xm_ct_table t;
	char err[256];
	int there;

	if (xm_ct_open_handle(&t, &h, 0, err, sizeof(err)))
		return -1;
	there = xm_ct_lookup(&t, k) != NULL;
	xm_ct_close(&t);
	return there;
}

static void test_apply_v64(void)
{
	struct in6_addr m2 = ip6("::ffff:198.18.0.2"), m3 = ip6("::ffff:198.18.0.3"),
			l1 = ip6("2001:db8:1::1");
	struct xm_handle old = h;
	struct xm_apply_result res;
	struct xm_rule6_value v6;
	struct xm_rule_value v4;
	struct xm_rule_meta m;
	struct xm_rule_addrs6 a6;
	struct xm_config cfg;
	struct xm_flow_key stub_key;
	char diff[4096], err[512];
	__u32 zero = 0, id_any, id_64;
	__u8 gen;
	int rc;

	/* an older attach: no progs46 */
	old.fd[XM_MAP_PROGS46] = -1;
	rc = apply(&old, text_64, 0, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == -2 && strcmp(err, FN ":1:9: forward for IPv6 clients of an IPv4 "
					       "backend, but the router's maps have no 6->4 "
					       "translation (progs46: it was attached by an older "
					       "build: run xmasq attach again to load it; nothing "
					       "was changed)") == 0,
		    "v64: no progs46: a file with a 6->4 forward is refused, at its first one"))
		tap_diag("got %d '%s'", rc, err);
	tap_ok(meta_in_use() == 0 &&
		       count_keys(h.fd[XM_MAP_RULES], sizeof(struct xm_rule_key)) == 0 &&
		       count_keys(h.fd[XM_MAP_RULES6], sizeof(struct xm_rule6_key)) == 0,
	       "v64: no progs46: nothing was changed");

	rc = apply(&h, text_64, 0, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && res.added == 2, "v64: family any and a 6->4 rule applied"))
		tap_diag("got %d '%s'", rc, err);
	bpf_map_lookup_elem(h.fd[XM_MAP_CONFIG], &zero, &cfg);
	gen = cfg.active_gen & 1;
	id_any = id_of_line(1);
	id_64 = id_of_line(2);

	/* family any: one id, entries in both maps */
	{
		struct xm_rule_key k = { .ifindex = ifindex_lo,
					 .dport = htons(8080),
					 .proto = IPPROTO_TCP,
					 .gen = gen };

		tap_ok(bpf_map_lookup_elem(h.fd[XM_MAP_RULES], &k, &v4) == 0 &&
			       v4.rule_id == id_any && v4.to_addr == inet_addr("198.18.0.2") &&
			       v4.to_port == htons(80) && v4.flags == 0 && v4.allow_list != 0,
		       "v64: family any: an IPv4 forward's entry in rules (flags 0, its list)");
	}
	tap_ok(lookup6(gen, "::", 8080, IPPROTO_TCP, &v6) == 0 && v6.rule_id == id_any &&
		       v6.flags == (XM_RULE_V6 | XM_RULE_TO_V4) &&
		       memcmp(v6.to_addr, &m2, 16) == 0 && v6.to_port == htons(80) &&
		       v6.allow_list == v4.allow_list,
	       "v64: family any: rules6 entry for any address, V6 | TO_V4, to "
	       "::ffff:198.18.0.2:80, "
	       "the same list");
	tap_ok(lookup6(gen ^ 1, "::", 8080, IPPROTO_TCP, &v6) == 0 && v6.rule_id == id_any,
	       "v64: family any: the other generation too");
	tap_ok(allow_has(v4.allow_list, "::ffff:192.0.2.7") &&
		       allow_has(v4.allow_list, "2001:db8:100::1") &&
		       !allow_has(v4.allow_list, "::ffff:192.0.3.7") &&
		       !allow_has(v4.allow_list, "2001:db8:200::1"),
	       "v64: the mixed list admits 192.0.2.0/24 (IPv4-mapped) and 2001:db8:100::/48");
	tap_ok(bpf_map_lookup_elem(h.fd[XM_MAP_RULE_META], &id_any, &m) == 0 &&
		       (m.flags & 0xffff) == XM_RULE_TO_V4 && m.daddr == 0 &&
		       m.to_addr == inet_addr("198.18.0.2"),
	       "v64: family any's rule_meta: XM_RULE_TO_V4 without XM_RULE_V6, IPv4 addresses");
	tap_ok(bpf_map_lookup_elem(h.fd[XM_MAP_RULE_ADDRS6], &id_any, &a6) == 0 &&
		       memcmp(a6.to_addr, &m2, 16) == 0,
	       "v64: family any's rule_addrs6: the backend IPv4-mapped");

	/* 6->4 for one address */
	tap_ok(lookup6(gen, "2001:db8:1::1", 53, IPPROTO_UDP, &v6) == 0 && v6.rule_id == id_64 &&
		       v6.flags == (XM_RULE_V6 | XM_RULE_TO_V4) &&
		       memcmp(v6.to_addr, &m3, 16) == 0 && v6.to_port == htons(53) &&
		       v6.allow_list == 0,
	       "v64: eth0:[addr6] to an IPv4 backend: rules6 entry, V6 | TO_V4, mapped backend");
	tap_ok(bpf_map_lookup_elem(h.fd[XM_MAP_RULE_META], &id_64, &m) == 0 &&
		       (m.flags & 0xffff) == (XM_RULE_V6 | XM_RULE_TO_V4) && m.to_addr == 0 &&
		       bpf_map_lookup_elem(h.fd[XM_MAP_RULE_ADDRS6], &id_64, &a6) == 0 &&
		       memcmp(a6.daddr, &l1, 16) == 0 && memcmp(a6.to_addr, &m3, 16) == 0,
	       "v64: the 6->4 rule's rule_meta (V6 | TO_V4) and rule_addrs6");
	TAP_EQ(count_keys(h.fd[XM_MAP_RULES], sizeof(struct xm_rule_key)), 2,
	       "v64: rules: the family any rule's port in both generations only");

	/* read back: the same rules */
	rc = apply(&h, text_64, 1, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && res.kept == 2 && res.added == 0 && diff[0] == 0, "v64: the live set "
										"diffs empty "
										"against the file"))
		tap_diag("got %d '%s' diff '%s'", rc, err, diff);
	rc = apply(&h, "forward lo tcp 8080 to 198.18.0.2:80 family ipv6\n", 1, &res, diff,
		   sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 &&
			    strstr(diff, "- forward lo tcp 8080 to 198.18.0.2:80 family any from "
					 "192.0.2.0/24,2001:db8:100::/48\n") &&
			    strstr(diff, "+ forward lo tcp 8080 to 198.18.0.2:80 family ipv6\n") &&
			    strstr(diff, "- forward lo:[2001:db8:1::1] udp 53 to 198.18.0.3:53\n"),
		    "v64: --diff prints the live rules with their family"))
		tap_diag("got %d '%s' diff '%s'", rc, err, diff);

	/* a reset takes the 6->4 flow and its stub (the tables emptied of
	 * the earlier tests' flows first) */
	{
		unsigned long flushed;

		xm_conntrack_flush(&h, &flushed, err, sizeof(err));
	}
	tap_ok(add_flow64(id_any, 50001, &stub_key) == 0 && stub_there(&stub_key) == 1, "v64: a "
											"6->4 flow "
											"in flows6 "
											"and its "
											"stub in "
											"flows");
	reset_flows = 1;
	rc = apply(&h, "forward lo tcp 8080 to 198.18.0.2:80\n", 0, &res, diff, sizeof(diff), err,
		   sizeof(err));
	reset_flows = 0;
	if (!tap_ok(rc == 0 && res.flows_reset == 1 && flows6_entries() == 0 &&
			    stub_there(&stub_key) == 0,
		    "v64: family any -> ipv4 with --reset-flows: the 6->4 flow gone, its stub too"))
		tap_diag("got %d '%s', %lu reset, %u flows6 entries, stub %d", rc, err,
			 (unsigned long)res.flows_reset, flows6_entries(), stub_there(&stub_key));
	TAP_EQ(count_keys(h.fd[XM_MAP_RULES6], sizeof(struct xm_rule6_key)), 0,
	       "v64: family ipv4 again: no rules6 entry left");
	apply(&h, "", 0, &res, diff, sizeof(diff), err, sizeof(err));
}

/* ---- IPv6 `as` lists --------------------------------------------------- */

static const char text_as6[] = "forward lo tcp 8080 to 198.18.0.2:80 as 192.0.2.1\n"
			       "forward lo tcp 443 to [fd00:8::2]:8443 as "
			       "2001:db8:1::10,2001:db8:1::11\n"
			       "masquerade fd00:1::/64 out lo as 2001:db8:1::11,2001:db8:1::10\n"
			       "masquerade [2001:db8:100::]/48 out lo as "
			       "[2001:db8:1::10],2001:db8:1::11\n"
			       "forward lo tcp 9090 to 198.18.0.3 family ipv6 as 192.0.2.1\n";

/* rule_meta.addr_set of the rule on line (0: none, or no rule). */
static __u16 set_of_line(unsigned line)
{
	struct xm_rule_meta m;
	__u32 id = id_of_line(line);

	return id && bpf_map_lookup_elem(h.fd[XM_MAP_RULE_META], &id, &m) == 0 ? m.addr_set : 0;
}

/* addr_sets6[sid] holds n addresses, these (NULL-terminated), in order. */
static int set6_is(__u16 sid, const char *const *addrs)
{
	struct xm_addr_set6 set;
	__u32 k = sid;
	unsigned n = 0;

	if (!sid || bpf_map_lookup_elem(h.fd[XM_MAP_ADDR_SETS6], &k, &set))
		return 0;
	for (; addrs[n]; n++) {
		struct in6_addr a = ip6(addrs[n]);

		if (n >= set.n || memcmp(set.addr[n], &a, 16))
			return 0;
	}
	return set.n == n;
}

/* Every rule_meta entry (ids below 64), to tell that nothing changed. */
static void meta_all(struct xm_rule_meta *all)
{
	for (__u32 id = 0; id < 64; id++)
		if (bpf_map_lookup_elem(h.fd[XM_MAP_RULE_META], &id, &all[id]))
			memset(&all[id], 0, sizeof(all[id]));
}

/* The maps pinned under dir as attach pins them, then addr_sets6's pin
 * taken away: a router attached by a build without IPv6 `as` lists. dir
 * is a bpffs of the test's own, mounted on a fresh directory (whether or
 * not /sys/fs/bpf is one), so nothing outside the test sees the pins. */
static int pin_without_as6(char *dir)
{
	char path[PATH_MAX];

	if (!mkdtemp(dir) || mount("bpf", dir, "bpf", 0, "mode=0700"))
		return -1;
	if (bpf_object__pin_maps(skel->obj, dir))
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, xm_map_pin_names[XM_MAP_ADDR_SETS6]);
	return unlink(path);
}

static void unpin_all(const char *dir)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, skel->obj) if (bpf_map__pin_path(m))
		unlink(bpf_map__pin_path(m));
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}

/* A router without addr_sets6 (its pin gone, xm_open goes without it):
 * a file with an IPv6 `as` list is refused at the list, nothing changed;
 * one with IPv4 lists only applies. */
static void test_as6_old_router(void)
{
	static const char want[] = FN ":2:43: IPv6 'as' list, but the router's maps have no IPv6 "
				      "'as' lists "
				      "(addr_sets6: it was attached by an older build: run xmasq "
				      "attach again to load "
				      "it; nothing was changed)";
	struct xm_rule_meta before[64], after[64];
	struct xm_apply_result res;
	struct xm_handle old;
	struct xm_addr_set6 s6_before, s6_after;
	/* no '.' in it: libbpf writes pin paths' dots as '_' */
	char dir[] = "/tmp/xm_test_apply6_XXXXXX", diff[4096], err[512] = "";
	__u32 k;
	int rc;

	if (!tap_ok(pin_without_as6(dir) == 0 && xm_open(&old, dir, err, sizeof(err)) == 0,
		    "as6, older router: maps pinned without addr_sets6, opened")) {
		tap_diag("%s: %s %s", dir, strerror(errno), err);
		unpin_all(dir);
		return;
	}
	tap_ok(old.fd[XM_MAP_ADDR_SETS6] < 0 && old.fd[XM_MAP_ADDR_SETS] >= 0 &&
		       xm_map_optional(XM_MAP_ADDR_SETS6) && !xm_map_optional(XM_MAP_ADDR_SETS),
	       "as6, older router: xm_open goes without addr_sets6 (optional), not addr_sets");
	meta_all(before);
	k = set_of_line(2);
	bpf_map_lookup_elem(h.fd[XM_MAP_ADDR_SETS6], &k, &s6_before);
	rc = apply(&old,
		   "forward lo tcp 8080 to 198.18.0.2:80 as 192.0.2.1\n"
		   "forward lo tcp 443 to [fd00:8::2]:8443 as 2001:db8:1::11\n",
		   0, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == -2 && strcmp(err, want) == 0, "as6, older router: an IPv6 list refused "
							"at its line and column, 'attach "
							"again'"))
		tap_diag("got %d '%s'", rc, err);
	meta_all(after);
	bpf_map_lookup_elem(h.fd[XM_MAP_ADDR_SETS6], &k, &s6_after);
	tap_ok(memcmp(before, after, sizeof(before)) == 0 && diff[0] == 0 &&
		       memcmp(&s6_before, &s6_after, sizeof(s6_after)) == 0,
	       "as6, older router: nothing was changed (rule_meta, addr_sets6, no diff)");
	rc = apply(&old, "masquerade fd00:1::/64 out lo as 2001:db8:1::10\n", 0, &res, diff,
		   sizeof(diff), err, sizeof(err));
	tap_ok(rc == -2 && strncmp(err, FN ":1:34: IPv6 'as' list,", 27) == 0, "as6, older router: "
									       "an IPv6 "
									       "masquerade's list "
									       "refused too, at "
									       "its column");
	rc = apply(&old, "forward lo tcp 8080 to 198.18.0.2:80 as 192.0.2.1\n", 0, &res, diff,
		   sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && res.added == 0 && res.kept == 1 && res.removed == 4, "as6, older "
										    "router: a "
										    "file with "
										    "IPv4 lists "
										    "only applies"))
		tap_diag("got %d '%s' added %u kept %u removed %u", rc, err, res.added, res.kept,
			 res.removed);
	xm_close(&old);
	unpin_all(dir);
}

/* IPv6 `as` lists applied: addr_sets6 under rule_meta.addr_set, in the
 * file's order; identical lists of a family share an index, the two
 * families never do; the live set reads back as the file (status,
 * Prometheus, an empty diff); a changed list goes to an index no live
 * rule uses; an address that is not the router's is refused with nothing
 * changed. In a private network namespace, its loopback holding the
 * addresses. */
static void test_as6(void)
{
	static const char *const l10_11[] = { "2001:db8:1::10", "2001:db8:1::11", NULL };
	static const char *const l11_10[] = { "2001:db8:1::11", "2001:db8:1::10", NULL };
	static const char *const l11[] = { "2001:db8:1::11", NULL };
	struct xm_rule_meta before[64], after[64];
	struct xm_apply_result res;
	struct xm_addr_set set4;
	struct xm_config c;
	char diff[4096], err[512];
	__u16 s1, s2, s3, s4, s5, s2b;
	__u32 zero = 0, k;
	int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), rc;

	if (!tap_ok(orig >= 0 && unshare(CLONE_NEWNET) == 0 && sh("ip link set lo up") == 0 &&
			    sh("ip -6 addr add 2001:db8:1::10/128 dev lo nodad") == 0 &&
			    sh("ip -6 addr add 2001:db8:1::11/128 dev lo nodad") == 0 &&
			    sh("ip addr add 192.0.2.1/32 dev lo") == 0 &&
			    sh("ip link add as6a type veth peer name as6b") == 0 &&
			    sh("ip -6 addr add 2001:db8:2::1/128 dev as6a nodad") == 0,
		    "as6: a private network namespace, the addresses on lo (nodad), one on "
		    "another NIC")) {
		if (orig >= 0)
			close(orig);
		return;
	}

	rc = apply(&h, text_as6, 0, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && res.added == 5, "as6: 2 forwards and 2 masquerades with IPv6 "
					       "lists, 2 forwards with IPv4 ones, applied"))
		tap_diag("got %d '%s'", rc, err);
	if (!tap_ok(strcmp(diff, "+ forward lo tcp 8080 to 198.18.0.2:80 as 192.0.2.1\n"
				 "+ forward lo tcp 443 to [fd00:8::2]:8443 as "
				 "2001:db8:1::10,2001:db8:1::11\n"
				 "+ forward lo tcp 9090 to 198.18.0.3:9090 family ipv6 as "
				 "192.0.2.1\n"
				 "+ masquerade fd00:1::/64 out lo as "
				 "2001:db8:1::11,2001:db8:1::10\n"
				 "+ masquerade 2001:db8:100::/48 out lo as "
				 "2001:db8:1::10,2001:db8:1::11\n") == 0,
		    "as6: the diff shows the IPv6 lists bare"))
		tap_diag("diff:\n%s", diff);
	s1 = set_of_line(1);
	s2 = set_of_line(2);
	s3 = set_of_line(3);
	s4 = set_of_line(4);
	s5 = set_of_line(5);
	tap_ok(set6_is(s2, l10_11), "as6: the 6->6 forward's list in addr_sets6[addr_set]: n 2, "
				    "in the file's order");
	tap_ok(set6_is(s3, l11_10) && s3 != s2, "as6: the masquerade's list (the other order) "
						"under an index of its own");
	TAP_EQ(s4, s2, "as6: identical IPv6 lists (one written bracketed) share an index");
	k = s1;
	tap_ok(s1 && s1 != s2 && s1 != s3 &&
		       bpf_map_lookup_elem(h.fd[XM_MAP_ADDR_SETS], &k, &set4) == 0 && set4.n == 1 &&
		       set4.addr[0] == htonl(0xc0000201),
	       "as6: the IPv4 list in addr_sets, under an index no IPv6 list has");
	TAP_EQ(s5, s1, "as6: a 6->4 forward's IPv4 list is the IPv4 forward's (addr_sets)");
	tap_ok(bpf_map_lookup_elem(h.fd[XM_MAP_CONFIG], &zero, &c) == 0 &&
		       (c.flags & XM_CFG_ADDR_SETS),
	       "as6: config has XM_CFG_ADDR_SETS");

	/* read back */
	rc = apply(&h, text_as6, 1, &res, diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 && diff[0] == 0 && res.kept == 5 && res.added == 0, "as6 read back: "
										"the same file "
										"diffs empty (the "
										"lists read from "
										"both maps)"))
		tap_diag("got %d '%s' diff '%s'", rc, err, diff);
	check_read_back(text_as6, 5,
			"rule=\"forward lo tcp 443 to [fd00:8::2]:8443 as "
			"2001:db8:1::10,2001:db8:1::11\"",
			"rule=\"masquerade fd00:1::/64 out lo as 2001:db8:1::11,2001:db8:1::10\"",
			"as6 read back: Prometheus' rule labels show the IPv6 lists",
			"as6 read back: status formats each live rule as the file's, lists too");

	/* a changed list: a fresh index, the old one kept for line 4 */
	rc = apply(&h,
		   "forward lo tcp 8080 to 198.18.0.2:80 as 192.0.2.1\n"
		   "forward lo tcp 443 to [fd00:8::2]:8443 as 2001:db8:1::11\n"
		   "masquerade fd00:1::/64 out lo as 2001:db8:1::11,2001:db8:1::10\n"
		   "masquerade [2001:db8:100::]/48 out lo as [2001:db8:1::10],2001:db8:1::11\n"
		   "forward lo tcp 9090 to 198.18.0.3 family ipv6 as 192.0.2.1\n",
		   0, &res, diff, sizeof(diff), err, sizeof(err));
	s2b = set_of_line(2);
	if (!tap_ok(rc == 0 && res.changed == 1 && res.kept == 4 &&
			    strcmp(diff, "~ forward lo tcp 443 to [fd00:8::2]:8443 as "
					 "2001:db8:1::10,2001:db8:1::11 => forward lo tcp 443 to "
					 "[fd00:8::2]:8443 as 2001:db8:1::11\n") == 0,
		    "as6 change: one rule changed, the '~' line shows both lists"))
		tap_diag("got %d '%s' changed %u kept %u diff '%s'", rc, err, res.changed, res.kept,
			 diff);
	tap_ok(s2b && s2b != s1 && s2b != s2 && s2b != s3 && set6_is(s2b, l11), "as6 change: the "
										"new list under an "
										"index no live "
										"rule used (of "
										"either family)");
	tap_ok(set_of_line(4) == s2 && set6_is(s2, l10_11) && set_of_line(1) == s1, "as6 change: "
										    "the old list "
										    "stays for the "
										    "rule that "
										    "still uses "
										    "it");

	/* not the router's: refused, nothing changed */
	meta_all(before);
	rc = apply(&h, "masquerade fd00:1::/64 out lo as 2001:db8:1::10,2001:db8:1::99\n", 0, &res,
		   diff, sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == -2 && strcmp(err, FN ":1:34: 2001:db8:1::99 is not an address of lo (a "
					       "masquerade leaves by its interface: add it "
					       "there, e.g. ip -6 addr add 2001:db8:1::99/128 "
					       "dev lo nodad, or an IP configuration of the NIC "
					       "in the cloud)") == 0,
		    "as6: an address not on the masquerade's interface is refused, with the fix"))
		tap_diag("got %d '%s'", rc, err);
	rc = apply(&h, "masquerade fd00:1::/64 out lo as 2001:db8:2::1\n", 0, &res, diff,
		   sizeof(diff), err, sizeof(err));
	tap_ok(rc == -2 && strncmp(err, FN ":1:34: 2001:db8:2::1 is not an address of lo", 44) == 0,
	       "as6: an address of another NIC is refused for a masquerade");
	rc = apply(&h, "forward lo tcp 443 to [fd00:8::2] as 2001:db8:1::99\n", 0, &res, diff,
		   sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == -2 && strcmp(err, FN ":1:38: 2001:db8:1::99 is not an address of this "
					       "router (replies must come back to it: add it to "
					       "an interface, e.g. ip -6 addr add "
					       "2001:db8:1::99/128 dev IFACE nodad)") == 0,
		    "as6: a forward's address on no interface is refused, with the fix"))
		tap_diag("got %d '%s'", rc, err);
	meta_all(after);
	tap_ok(memcmp(before, after, sizeof(before)) == 0 && set6_is(s2b, l11) &&
		       set6_is(s2, l10_11),
	       "as6: refused files changed nothing");
	rc = apply(&h, "forward lo tcp 443 to [fd00:8::2] as 2001:db8:2::1\n", 0, &res, diff,
		   sizeof(diff), err, sizeof(err));
	if (!tap_ok(rc == 0 &&
			    set6_is(set_of_line(1), (const char *const[]){ "2001:db8:2::1", NULL }),
		    "as6: a forward may leave with an address of any NIC"))
		tap_diag("got %d '%s'", rc, err);

	/* the router attached before addr_sets6 */
	apply(&h, text_as6, 0, &res, diff, sizeof(diff), err, sizeof(err));
	test_as6_old_router();

	rc = apply(&h, "", 0, &res, diff, sizeof(diff), err, sizeof(err));
	tap_ok(rc == 0 && meta_in_use() == 0 &&
		       bpf_map_lookup_elem(h.fd[XM_MAP_CONFIG], &zero, &c) == 0 &&
		       !(c.flags & XM_CFG_ADDR_SETS),
	       "as6: an empty file removes every rule, XM_CFG_ADDR_SETS cleared");
	if (setns(orig, CLONE_NEWNET))
		tap_diag("setns: %s", strerror(errno));
	close(orig);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (BPF)\n");
		return 0;
	}
	libbpf_set_print(libbpf_print);
	if (!tap_ok(setup() == 0, "the BPF object loaded, its maps as a router's, lo managed"))
		return tap_done();
	test_missing_maps();
	test_apply_v6();
	test_line_edits();
	test_many_v6();
	test_metrics_window();
	test_masq6();
	test_masq6_line_edits();
	test_masq6_dirty();
	test_apply_v64();
	test_as6();
	xmasq_bpf__destroy(skel);
	return tap_done();
}
