// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The IPv6 flow table as conntrack shows and empties it (ct6.c,
 * render.c), on a flows6-shaped array made here and written through
 * ct6_table.c (no program, no router): each flow listed once, by its original entry, with its reply
 * entry found through xm_flow6_partner_key; addresses in brackets; state,
 * idle and expiry from config.timeouts; a flow without its reply entry
 * marked; removal by slot takes both entries of a flow and no other,
 * and its source's count in source_flows (the sweeper's accounting);
 * a flush leaves nothing, stray reply entries included; a router
 * attached by an older build (no flows6) reads as empty. A 6->4 flow
 * (test_64) lists with its reply tuple as IPv4 and takes its stub in the
 * IPv4 table with it; the IPv4 side never takes the stub for a flow.
 * The table itself (test_table): probing past a taken home, removal
 * leaving a dead slot lookups pass and inserts reuse, a full chain,
 * a map of another shape refused; and the carry of a previous build's
 * hash map into the new table (test_carry). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"
#include "tap.h"

#define TABLE_FLOWS 8
#define SEED	    0x5eedull

static void ip6(const char *s, __be32 out[4])
{
	inet_pton(AF_INET6, s, out);
}

static uint32_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)ts.tv_sec;
}

/* One flow's two entries, as the data plane writes them: client:cport ->
 * pub:pport, masqueraded to masq:mport -> backend:bport. with_reply 0:
 * the original entry alone (a half pair). */
static int add_flow(struct xm_ct6_table *t, uint8_t proto, const char *client, uint16_t cport,
		    const char *pub, uint16_t pport, const char *masq, uint16_t mport,
		    const char *backend, uint16_t bport, uint8_t state, uint8_t in_slot,
		    uint8_t out_slot, uint32_t idle_s, uint64_t packets, int with_reply)
{
	struct xm_flow6_key ok = { .proto = proto }, rk;
	struct xm_flow6 ov = { 0 }, rv = { 0 };
	int err = 0;

	ip6(client, ok.saddr);
	ip6(pub, ok.daddr);
	ok.sport = htons(cport);
	ok.dport = htons(pport);
	ip6(masq, ov.new_saddr);
	ip6(backend, ov.new_daddr);
	ov.new_sport = htons(mport);
	ov.new_dport = htons(bport);
	ov.state = state;
	ov.in_slot = in_slot;
	ov.out_slot = out_slot;
	ov.rule_id = 7;
	ov.last_seen_s = now_s() - idle_s;
	ov.packets = packets;
	ov.bytes = packets * 100;
	xm_flow6_partner_key(&ov, proto, &rk);
	memcpy(rv.new_saddr, ok.daddr, 16);
	memcpy(rv.new_daddr, ok.saddr, 16);
	rv.new_sport = ok.dport;
	rv.new_dport = ok.sport;
	rv.flags = XM_FLOW_REPLY;
	rv.state = state;
	rv.in_slot = out_slot;
	rv.out_slot = in_slot;
	rv.rule_id = 7;
	rv.last_seen_s = ov.last_seen_s;
	rv.packets = packets / 2;
	rv.bytes = packets * 50;
	if (with_reply)
		err |= xm_ct6_insert(t, &rk, &rv);
	err |= xm_ct6_insert(t, &ok, &ov);
	return err;
}

/* Live entries, both directions. */
static size_t entries(const struct xm_ct6_table *t)
{
	return xm_ct6_table_count(t, 0);
}

static char *render(const struct xm_conn *c, size_t n, int json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&text, &len);

	if (!o)
		return NULL;
	xm_print_conntrack(o, c, n, json);
	fclose(o);
	return text;
}

/* source_flows' buckets of an IPv6 source: bpf/v6_sweep.h's id. */
static int64_t source_count(int fd, const char *saddr, uint64_t seed)
{
	__be32 a[4];
	int64_t min = INT64_MAX, v;

	ip6(saddr, a);
	for (uint32_t row = 0; row < XM_SOURCE_ROWS; row++) {
		uint32_t slot = xm_source_slot(a[0] ^ a[1] ^ 0x36000000u, seed, row);

		if (bpf_map_lookup_elem(fd, &slot, &v) == 0 && v < min)
			min = v;
	}
	return min;
}

static void source_set(int fd, const char *saddr, uint64_t seed, int64_t v)
{
	__be32 a[4];

	ip6(saddr, a);
	for (uint32_t row = 0; row < XM_SOURCE_ROWS; row++) {
		uint32_t slot = xm_source_slot(a[0] ^ a[1] ^ 0x36000000u, seed, row);

		bpf_map_update_elem(fd, &slot, &v, BPF_ANY);
	}
}

static int in_slot3(const struct xm_flow6_key *k, const struct xm_flow6 *orig, void *arg)
{
	(void)k;
	(void)arg;
	return orig->in_slot == 3;
}

/* Marks both entries of the flow whose original key is (client:cport ->
 * pub:pport) as a 6->4 flow's (XM_FLOW6_TO_V4). */
static int mark_64(struct xm_ct6_table *t, uint8_t proto, const char *client, uint16_t cport,
		   const char *pub, uint16_t pport)
{
	struct xm_flow6_key ok = { .proto = proto }, rk;
	struct xm_ct6_slot *os, *rs;

	ip6(client, ok.saddr);
	ip6(pub, ok.daddr);
	ok.sport = htons(cport);
	ok.dport = htons(pport);
	os = xm_ct6_lookup(t, &ok);
	if (!os)
		return -1;
	xm_flow6_partner_key(&os->flow, proto, &rk);
	rs = xm_ct6_lookup(t, &rk);
	if (!rs)
		return -1;
	/* in place, as the data plane changes a live entry */
	os->flow.flags |= XM_FLOW6_TO_V4;
	rs->flow.flags |= XM_FLOW6_TO_V4;
	return 0;
}

static int any_flow(const struct xm_ct_slot *orig, void *arg)
{
	(void)orig;
	(void)arg;
	return 1;
}

static int is_64(const struct xm_flow6_key *k, const struct xm_flow6 *orig, void *arg)
{
	(void)k;
	(void)arg;
	return (orig->flags & XM_FLOW6_TO_V4) != 0;
}

/* A 6->4 flow beside a 6->6 one, with its stub in an IPv4 table (and an
 * IPv4 flow): the stub is no IPv4 flow (count, sources, removal), the
 * 6->4 flow counts and lists among IPv6 flows with its reply tuple as
 * IPv4, and its removal (by filter, or flush) takes its stub. */
static void test_64(struct xm_handle *h, const struct xm_config *cfg, struct xm_ct6_table *t6)
{
	LIBBPF_OPTS(bpf_map_create_opts, mmapable, .map_flags = BPF_F_MMAPABLE);
	struct xm_flow_key stub_k = { .proto = IPPROTO_TCP }, v4_k = { .proto = IPPROTO_TCP },
			   v4_rk = { .proto = IPPROTO_TCP };
	struct xm_flow stub = { .flags = XM_FLOW_REPLY, .rule_id = 9 }, v4 = { .rule_id = 3 },
		       v4r = { .flags = XM_FLOW_REPLY, .rule_id = 3 };
	struct xm_ct_sources src;
	struct xm_ct_table t;
	struct xm_conn *c = NULL;
	size_t n = 0;
	char err[256] = "", *text;

	h->fd[XM_MAP_FLOWS] = bpf_map_create(BPF_MAP_TYPE_ARRAY, "flows", 4,
					     sizeof(struct xm_ct_slot), 64, &mmapable);
	if (!tap_ok(h->fd[XM_MAP_FLOWS] >= 0 && xm_ct_open_handle(&t, h, 1, err, sizeof(err)) == 0,
		    "6->4: an IPv4 flow table (%s)", err))
		return;
	/* the 6->4 flow's stub: 198.18.0.2:443 -> 192.0.2.1:50001 */
	stub_k.saddr = inet_addr("198.18.0.2");
	stub_k.daddr = inet_addr("192.0.2.1");
	stub_k.sport = htons(443);
	stub_k.dport = htons(50001);
	stub.in_slot = stub.out_slot = XM_SLOT_IPV6_FLOW;
	/* an IPv4 flow 10.0.0.5:1000 -> 192.0.2.1:80, reply 198.18.0.3:80 -> 192.0.2.1:50002 */
	v4_k.saddr = inet_addr("10.0.0.5");
	v4_k.daddr = inet_addr("192.0.2.1");
	v4_k.sport = htons(1000);
	v4_k.dport = htons(80);
	v4.new_saddr = inet_addr("192.0.2.1");
	v4.new_daddr = inet_addr("198.18.0.3");
	v4.new_sport = htons(50002);
	v4.new_dport = htons(80);
	xm_flow_partner_key(&v4, IPPROTO_TCP, &v4_rk);
	v4r.new_saddr = v4_k.daddr;
	v4r.new_daddr = v4_k.saddr;
	v4r.new_sport = v4_k.dport;
	v4r.new_dport = v4_k.sport;
	tap_ok(!xm_ct_insert(&t, &stub_k, &stub) && !xm_ct_insert(&t, &v4_rk, &v4r) &&
		       !xm_ct_insert(&t, &v4_k, &v4),
	       "6->4: a stub and an IPv4 flow in the IPv4 table");
	tap_ok(xm_ct_is_stub(&stub) && !xm_ct_is_stub(&v4r), "6->4: xm_ct_is_stub tells them "
							     "apart");
	TAP_EQ(xm_ct_count(&t, 1), 1, "6->4: the IPv4 table counts 1 flow (the stub is none)");
	tap_ok(xm_ct_sources(&t, &src) == 0 && src.flows == 1 && src.sources == 1, "6->4: sources: "
										   "the IPv4 "
										   "flow's only");
	{ /* the stub's port is in use at its peer, as an IPv4 flow's */
		struct xm_config cfg = { .port_lo = 1024, .port_hi = 65535 };
		struct xm_port_use pu = { 0 };
		char perr[256];
		int found = 0;

		tap_ok(xm_port_use_scan(&t, &cfg, &pu, perr, sizeof(perr)) == 0, "6->4: port use "
										 "scanned");
		for (size_t i = 0; i < pu.n_busiest; i++)
			if (pu.busiest[i].peer.peer == inet_addr("198.18.0.2") &&
			    pu.busiest[i].peer.addr == inet_addr("192.0.2.1") &&
			    pu.busiest[i].peer.peer_port == htons(443) && pu.busiest[i].in_use == 1)
				found = 1;
		tap_ok(found,
		       "6->4: the stub's port 50001 counts as in use at 198.18.0.2:443 from "
		       "192.0.2.1 (%zu groups listed)",
		       pu.n_busiest);
	}

	tap_ok(!add_flow(t6, IPPROTO_TCP, "2001:db8:1::10", 40000, "2001:db8:1::1", 443,
			 "::ffff:192.0.2.1", 50001, "::ffff:198.18.0.2", 443, XM_ST_ESTABLISHED, 3,
			 4, 5, 10, 1) &&
		       !mark_64(t6, IPPROTO_TCP, "2001:db8:1::10", 40000, "2001:db8:1::1", 443) &&
		       !add_flow(t6, IPPROTO_TCP, "2001:db8:1::11", 40001, "2001:db8:1::1", 444,
				 "2001:db8:2::1", 50000, "2001:db8:2::2", 80, XM_ST_ESTABLISHED, 3,
				 4, 5, 10, 1),
	       "6->4: a 6->4 flow and a 6->6 flow in flows6");
	TAP_EQ(xm_ct6_count(h), 2, "6->4: the 6->4 flow counts among IPv6 flows");
	tap_ok(xm_ct6_conns(h, cfg, now_s(), &c, &n, err, sizeof(err)) == 0 && n == 2, "6->4: "
										       "conntrack "
										       "lists both "
										       "IPv6 "
										       "flows");
	text = render(c, n, 0);
	tap_ok(text && strstr(text, "[2001:db8:1::10]:40000 -> [2001:db8:1::1]:443") &&
		       strstr(text, " 198.18.0.2:443 -> 192.0.2.1:50001 ") && !strstr(text, "ffff"),
	       "6->4 text: the IPv6 original tuple, the reply tuple as IPv4");
	if (text && !strstr(text, " 198.18.0.2:443 -> 192.0.2.1:50001 "))
		tap_diag("%s", text);
	free(text);
	text = render(c, n, 1);
	tap_ok(text && strstr(text, "\"reply\":\"198.18.0.2:443 -> 192.0.2.1:50001\",") &&
		       strstr(text, "\"family\":6,\"backend_family\":4}") &&
		       strstr(text, "\"family\":6,\"backend_family\":6}"),
	       "6->4 JSON: family 6, backend_family 4 (6 for the 6->6 flow)");
	if (text && !strstr(text, "\"backend_family\":4"))
		tap_diag("%s", text);
	free(text);
	free(c);

	TAP_EQ(xm_ct_remove_if(&t, any_flow, NULL), 1,
	       "6->4: an IPv4 removal of every flow takes the IPv4 flow, not the stub");
	tap_ok(xm_ct_lookup(&t, &stub_k) != NULL, "6->4: ... the stub is left to the IPv6 side");
	TAP_EQ(xm_ct_remove_stub(&t, &v4_rk), -1, "6->4: xm_ct_remove_stub takes no other entry");
	TAP_EQ(xm_ct6_remove_if(h, is_64, NULL, err, sizeof(err)), 1,
	       "6->4: removal of the 6->4 flow by filter");
	tap_ok(xm_ct_lookup(&t, &stub_k) == NULL && entries(t6) == 2, "6->4: ... its stub gone "
								      "with it, the 6->6 flow "
								      "kept");
	tap_ok(!add_flow(t6, IPPROTO_TCP, "2001:db8:1::10", 40000, "2001:db8:1::1", 443,
			 "::ffff:192.0.2.1", 50001, "::ffff:198.18.0.2", 443, XM_ST_ESTABLISHED, 3,
			 4, 5, 10, 1) &&
		       !mark_64(t6, IPPROTO_TCP, "2001:db8:1::10", 40000, "2001:db8:1::1", 443) &&
		       !xm_ct_insert(&t, &stub_k, &stub),
	       "6->4: the flow and its stub again");
	TAP_EQ(xm_ct6_remove_if(h, NULL, NULL, err, sizeof(err)), 2,
	       "6->4: an IPv6 flush removes both flows");
	tap_ok(xm_ct_lookup(&t, &stub_k) == NULL && entries(t6) == 0, "6->4: ... and the stub");
	xm_ct_close(&t);
}

/* The n-th key (from *next on) of the tiny table t whose home is `home`. */
static struct xm_flow6_key key_homed(const struct xm_ct6_table *t, uint32_t home, uint16_t *next)
{
	for (;;) {
		struct xm_flow6_key k = { .proto = IPPROTO_UDP, .dport = htons(53) };
		union xm_ct6_words u;

		ip6("2001:db8:5::1", k.saddr);
		ip6("2001:db8:6::1", k.daddr);
		k.sport = htons((*next)++);
		u.key = k;
		if (xm_ct6_home(u.w, t->seed, t->homes) == home)
			return k;
	}
}

static uint8_t state_at(const struct xm_ct6_table *t, size_t i)
{
	return __atomic_load_n(&t->slots[i].key.ct_state, __ATOMIC_ACQUIRE);
}

static long index_of(const struct xm_ct6_table *t, const struct xm_flow6_key *k)
{
	const struct xm_ct6_slot *s = xm_ct6_lookup(t, k);

	return s ? (long)(s - t->slots) : -1;
}

/* The table's own steps on a table of two homes (XM_CT_PROBES + 1
 * slots), where keys collide at will. */
static void test_table(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, mmapable, .map_flags = BPF_F_MMAPABLE);
	struct xm_flow6_key a, b, c, d, e, probe;
	struct xm_flow6 v = { .rule_id = 1 };
	struct xm_ct6_table t;
	char err[512] = "";
	uint16_t next = 1000;
	int fd, rc, fit = 0;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "flows6", 4, sizeof(struct xm_ct6_slot),
			    XM_CT_PROBES + 1, &mmapable);
	if (!tap_ok(fd >= 0 && xm_ct6_open(&t, fd, SEED, 1, err, sizeof(err)) == 0,
		    "table: a tiny flows6 (%u slots) mapped %s", XM_CT_PROBES + 1, err))
		return;
	TAP_EQ(t.homes, 2, "table: 2 homes (the last XM_CT_PROBES - 1 slots are no home)");
	a = key_homed(&t, 0, &next);
	b = key_homed(&t, 0, &next);
	c = key_homed(&t, 0, &next);
	v.rule_id = 1;
	rc = xm_ct6_insert(&t, &a, &v);
	v.rule_id = 2;
	rc |= xm_ct6_insert(&t, &b, &v);
	v.rule_id = 3;
	rc |= xm_ct6_insert(&t, &c, &v);
	TAP_EQ(rc, 0, "table: three keys of home 0 inserted");
	tap_ok(index_of(&t, &a) == 0 && index_of(&t, &b) == 1 && index_of(&t, &c) == 2,
	       "table: lookup after insert finds each, the colliding ones by probing (slots "
	       "%ld %ld %ld)",
	       index_of(&t, &a), index_of(&t, &b), index_of(&t, &c));
	tap_ok(xm_ct6_lookup(&t, &b) && xm_ct6_lookup(&t, &b)->flow.rule_id == 2 &&
		       state_at(&t, 1) == XM_CT_LIVE,
	       "table: the second key's entry, its slot LIVE");
	probe = b;
	probe.ct_state = XM_CT_DEAD;
	TAP_EQ(index_of(&t, &probe), 1, "table: a lookup key's state byte is ignored");
	TAP_EQ(xm_ct6_insert(&t, &b, &v), -EEXIST, "table: inserting a live key again: -EEXIST");
	d = key_homed(&t, 0, &next);
	TAP_EQ(index_of(&t, &d), -1,
	       "table: a key not inserted: not found (the chain ends at "
	       "an EMPTY slot)");

	TAP_EQ(xm_ct6_delete(&t, &b), 0, "table: removal of the second key");
	TAP_EQ(state_at(&t, 1), XM_CT_DEAD, "table: ... leaves its slot DEAD");
	TAP_EQ(index_of(&t, &b), -1, "table: ... it is no longer found");
	TAP_EQ(index_of(&t, &c), 2, "table: ... the key after it still is (lookups pass DEAD)");
	TAP_EQ(xm_ct6_delete(&t, &b), -1, "table: removing it again: -1");
	TAP_EQ(xm_ct6_table_count(&t, 0), 2, "table: 2 live entries counted");
	v.rule_id = 4;
	TAP_EQ(xm_ct6_insert(&t, &d, &v), 0, "table: a fourth key of home 0 inserted");
	tap_ok(index_of(&t, &d) == 1 && state_at(&t, 1) == XM_CT_LIVE &&
		       t.slots[1].flow.rule_id == 4,
	       "table: ... into the DEAD slot, reused (slot %ld)", index_of(&t, &d));
	e = key_homed(&t, 1, &next);
	TAP_EQ(xm_ct6_insert(&t, &e, &v), 0, "table: a key of home 1 inserted");
	TAP_EQ(index_of(&t, &e), 3, "table: ... past home 0's run, in the first free slot");

	/* home 0's chain: slots 0 to XM_CT_PROBES - 1 */
	for (int i = 0; i < 2 * XM_CT_PROBES; i++) {
		struct xm_flow6_key k = key_homed(&t, 0, &next);

		rc = xm_ct6_insert(&t, &k, &v);
		if (rc)
			break;
		fit++;
	}
	TAP_EQ(rc, -ENOSPC, "table: a full chain refuses the next key: -ENOSPC");
	TAP_EQ(fit, XM_CT_PROBES - 4, "table: ... once its XM_CT_PROBES slots are taken");
	xm_ct6_close(&t);
	close(fd);

	/* another shape: the previous build's hash map, an array of other slots */
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "flows6", sizeof(struct xm_flow6_key),
			    XM_FLOW6_HASHED_SIZE, 16, NULL);
	rc = fd >= 0 ? xm_ct6_open(&t, fd, SEED, 0, err, sizeof(err)) : 0;
	tap_ok(rc == -2 && strstr(err, "flows6") && strstr(err, "hash map") &&
		       strstr(err, "xmasq attach to convert it"),
	       "table: open refuses the previous build's hash map, naming flows6 and attach: %s",
	       err);
	if (fd >= 0)
		close(fd);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "flows6", 4, sizeof(struct xm_ct_slot),
			    XM_CT_PROBES + 1, &mmapable);
	rc = fd >= 0 ? xm_ct6_open(&t, fd, SEED, 0, err, sizeof(err)) : 0;
	tap_ok(rc == -2 && strstr(err, "64-byte values"),
	       "table: ... and an array of 64-byte slots: %s", err);
	if (fd >= 0)
		close(fd);
}

/* A pinned flows6 of the previous build's shape carried into the new
 * table (flows6_carry.c), under a pin dir of this test's own. */
static void test_carry(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, mmapable, .map_flags = BPF_F_MMAPABLE);
	struct xm_flows6_carry carry;
	struct xm_ct6_table t;
	struct xm_flow6_key k[4];
	struct xm_flow6 v[4];
	char dir[64], path[128], err[512] = "", *log_text = NULL;
	size_t log_len = 0, carried;
	FILE *log;
	int old_fd, new_fd, fd, found = 0;

	snprintf(dir, sizeof(dir), "/sys/fs/bpf/test-ct6-carry-%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/flows6", dir);
	old_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "flows6", sizeof(struct xm_flow6_key),
				XM_FLOW6_HASHED_SIZE, 16, NULL);
	if (!tap_ok(old_fd >= 0 && mkdir(dir, 0700) == 0 && bpf_obj_pin(old_fd, path) == 0,
		    "carry: a hash-shaped flows6 pinned at %s", path)) {
		rmdir(dir);
		return;
	}
	for (int i = 0; i < 4; i++) {
		memset(&k[i], 0, sizeof(k[i]));
		memset(&v[i], 0, sizeof(v[i]));
		ip6("2001:db8:1::10", k[i].saddr);
		ip6("2001:db8:1::1", k[i].daddr);
		k[i].sport = htons(40000 + i);
		k[i].dport = htons(443);
		k[i].proto = IPPROTO_TCP;
		v[i].rule_id = 10 + i;
		v[i].packets = 100 + i;
		v[i].bytes = 5000 + i; /* the old layout's last field */
		v[i].flags = i == 2 ? XM_FLOW_REPLY : 0;
		if (i < 3) /* the fourth: made while the new program is verified */
			bpf_map_update_elem(old_fd, &k[i], &v[i], BPF_NOEXIST);
	}

	/* a failed load: the old table is pinned again */
	TAP_EQ(xm_flows6_carry_take(&carry, path, err, sizeof(err)), 0, "carry: take %s", err);
	tap_ok(carry.old_fd >= 0 && access(path, F_OK) != 0, "carry: the old table held open, its "
							     "pin gone");
	xm_flows6_carry_abort(&carry);
	fd = bpf_obj_get(path);
	tap_ok(fd >= 0 && carry.old_fd == -1, "carry: abort pins the old table again");
	if (fd >= 0)
		close(fd);

	TAP_EQ(xm_flows6_carry_take(&carry, path, err, sizeof(err)), 0, "carry: take again %s",
	       err);
	/* the old program goes on between take and put (the new one being
	 * verified): a flow it makes then is carried too */
	tap_ok(carry.old_fd >= 0 &&
		       bpf_map_update_elem(carry.old_fd, &k[3], &v[3], BPF_NOEXIST) == 0,
	       "carry: a fourth flow made in the old table after take");
	new_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "flows6", 4, sizeof(struct xm_ct6_slot),
				XM_CT_SLOTS(TABLE_FLOWS), &mmapable);
	log = open_memstream(&log_text, &log_len);
	carried = new_fd >= 0 && log ? xm_flows6_carry_put(&carry, new_fd, SEED, log) : 0;
	if (log)
		fclose(log);
	TAP_EQ(carried, 4, "carry: put inserts the 4 entries into the new table, the late one too");
	tap_ok(log_text && strstr(log_text, ": 4 IPv6 flow entries carried into the new table"),
	       "carry: ... and logs it: %s", log_text ? log_text : "");
	free(log_text);
	if (new_fd >= 0 && xm_ct6_open(&t, new_fd, SEED, 0, err, sizeof(err)) == 0) {
		for (int i = 0; i < 4; i++) {
			const struct xm_ct6_slot *s = xm_ct6_lookup(&t, &k[i]);

			found += s && s->flow.rule_id == v[i].rule_id &&
				 s->flow.packets == v[i].packets && s->flow.flags == v[i].flags &&
				 s->flow.bytes == v[i].bytes && s->flow.out_vlan == 0;
		}
		xm_ct6_close(&t);
	}
	TAP_EQ(found, 4, "carry: each found in the new table by its key, its entry as it was");

	/* the new table pinned: nothing to carry, its pin stays */
	tap_ok(new_fd >= 0 && bpf_obj_pin(new_fd, path) == 0 &&
		       xm_flows6_carry_take(&carry, path, err, sizeof(err)) == 0 &&
		       carry.old_fd == -1 && access(path, F_OK) == 0,
	       "carry: a pinned table of the new shape is left to libbpf to reuse");

	/* a table too small for them: some do not fit, logged, not fatal */
	unlink(path);
	if (new_fd >= 0)
		close(new_fd);
	{
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		struct xm_flow6_key bk[XM_CT_PROBES + 8];
		/* that build's values: XM_FLOW6_HASHED_SIZE bytes each */
		unsigned char bv[(XM_CT_PROBES + 8) * XM_FLOW6_HASHED_SIZE];
		__u32 count = XM_CT_PROBES + 8;

		fd = bpf_map_create(BPF_MAP_TYPE_HASH, "flows6", sizeof(struct xm_flow6_key),
				    XM_FLOW6_HASHED_SIZE, XM_CT_PROBES + 8, NULL);
		for (__u32 i = 0; i < count; i++) {
			bk[i] = k[0];
			bk[i].sport = htons(1000 + i);
			memcpy(bv + i * XM_FLOW6_HASHED_SIZE, &v[0], XM_FLOW6_HASHED_SIZE);
		}
		tap_ok(fd >= 0 && bpf_map_update_batch(fd, bk, bv, &count, &opts) == 0 &&
			       bpf_obj_pin(fd, path) == 0,
		       "carry: %d entries in a pinned hash-shaped flows6", XM_CT_PROBES + 8);
		if (fd >= 0)
			close(fd);
	}
	new_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "flows6", 4, sizeof(struct xm_ct6_slot),
				XM_CT_PROBES, &mmapable);
	log_text = NULL;
	log = open_memstream(&log_text, &log_len);
	carried = xm_flows6_carry_take(&carry, path, err, sizeof(err)) == 0 && new_fd >= 0 && log ?
			  xm_flows6_carry_put(&carry, new_fd, SEED, log) :
			  0;
	if (log)
		fclose(log);
	tap_ok(carried == XM_CT_PROBES && log_text &&
		       strstr(log_text, "64 IPv6 flow entries carried into the new table, 8 did "
					"not fit"),
	       "carry: into a table of %d slots, %zu carried, the rest logged: %s", XM_CT_PROBES,
	       carried, log_text ? log_text : "");
	free(log_text);
	if (new_fd >= 0)
		close(new_fd);
	close(old_fd);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	struct xm_config cfg = { .timeouts = { 120, 7440, 120, 10, 30, 180, 30 } };
	struct xm_handle h;
	struct xm_conn *c = NULL;
	size_t n = 0;
	char err[256] = "", *text;
	__be32 zero[4] = { 0 }, a[4];
	char buf[INET6_ADDRSTRLEN];
	struct xm_ct6_table t6;
	int fd;

	memset(&h, 0, sizeof(h));
	for (int i = 0; i < XM_MAP_MAX; i++)
		h.fd[i] = -1;
	snprintf(h.pin_dir, sizeof(h.pin_dir), "/sys/fs/bpf/test-ct6");

	/* ---- an older attach: no flows6 ---- */
	TAP_EQ(xm_ct6_count(&h), 0, "no flows6 map (older attach): no IPv6 flows");
	TAP_EQ(xm_ct6_max(&h), 0, "no flows6 map: flows6_max 0 (status leaves the line out)");
	tap_ok(xm_ct6_conns(&h, &cfg, now_s(), &c, &n, err, sizeof(err)) == 0 && n == 0,
	       "no flows6 map: conntrack lists no IPv6 flow, no error");
	TAP_EQ(xm_ct6_remove_if(&h, NULL, NULL, err, sizeof(err)), 0,
	       "no flows6 map: a flush removes nothing");
	tap_ok(xm_map_optional(XM_MAP_FLOWS6) && xm_map_optional(XM_MAP_PROGS6) &&
		       xm_map_optional(XM_MAP_IFACE_ADDRS6) && xm_map_optional(XM_MAP_RULES6) &&
		       xm_map_optional(XM_MAP_RULE_ADDRS6) && xm_map_optional(XM_MAP_SWEEPER6) &&
		       xm_map_optional(XM_MAP_PROGS46) && !xm_map_optional(XM_MAP_FLOWS),
	       "xm_open goes without the IPv6 maps and progs46 (added within layout 2), not "
	       "without flows");

	test_table();
	test_carry();

	{
		LIBBPF_OPTS(bpf_map_create_opts, mmapable, .map_flags = BPF_F_MMAPABLE);

		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "flows6", 4, sizeof(struct xm_ct6_slot),
				    XM_CT_SLOTS(TABLE_FLOWS), &mmapable);
	}
	if (!tap_ok(fd >= 0 && xm_ct6_open(&t6, fd, SEED, 1, err, sizeof(err)) == 0,
		    "a flows6-shaped array, mapped (needs root) %s", err))
		return tap_done();
	h.fd[XM_MAP_FLOWS6] = fd;
	{
		LIBBPF_OPTS(bpf_map_create_opts, mmapable, .map_flags = BPF_F_MMAPABLE);
		struct xm_config conf = { .layout_version = XM_LAYOUT_VERSION, .ct_seed = SEED };
		__u32 zero = 0;

		h.fd[XM_MAP_CONFIG] =
			bpf_map_create(BPF_MAP_TYPE_ARRAY, "config", 4, sizeof(conf), 1, NULL);
		h.fd[XM_MAP_SOURCE_FLOWS] = bpf_map_create(BPF_MAP_TYPE_ARRAY, "source_flows", 4,
							   sizeof(int64_t), XM_SOURCE_SLOTS,
							   &mmapable);
		tap_ok(h.fd[XM_MAP_CONFIG] >= 0 && h.fd[XM_MAP_SOURCE_FLOWS] >= 0 &&
			       !bpf_map_update_elem(h.fd[XM_MAP_CONFIG], &zero, &conf, BPF_ANY),
		       "config and source_flows maps");
		/* the two flows' sources (two /64s), counted as the data plane counts them */
		source_set(h.fd[XM_MAP_SOURCE_FLOWS], "2001:db8:1::10", 0x5eed, 1);
		source_set(h.fd[XM_MAP_SOURCE_FLOWS], "2001:db8:7::11", 0x5eed, 1);
	}

	/* a TCP flow, a UDP one without its reply entry, a stray reply entry */
	tap_ok(!add_flow(&t6, IPPROTO_TCP, "2001:db8:1::10", 40000, "2001:db8:1::1", 443,
			 "2001:db8:2::1", 50000, "2001:db8:2::2", 80, XM_ST_ESTABLISHED, 3, 4, 5,
			 10, 1) &&
		       !add_flow(&t6, IPPROTO_UDP, "2001:db8:7::11", 5353, "2001:db8:1::1", 53,
				 "2001:db8:2::1", 5353, "2001:db8:2::3", 53, XM_ST_NONE, 1, 4, 2, 1,
				 0),
	       "two flows written into flows6");
	{
		struct xm_flow6_key k = { .proto = IPPROTO_UDP,
					  .sport = htons(9),
					  .dport = htons(9) };
		struct xm_flow6 v = { .flags = XM_FLOW_REPLY };

		ip6("2001:db8:2::9", k.saddr);
		ip6("2001:db8:2::1", k.daddr);
		TAP_EQ(xm_ct6_insert(&t6, &k, &v), 0, "a stray reply entry written");
	}
	TAP_EQ(entries(&t6), 4, "flows6 holds 4 entries");
	TAP_EQ(xm_ct6_count(&h), 2, "count: 2 flows (by their original entries)");
	TAP_EQ(xm_ct6_max(&h), TABLE_FLOWS, "flows6_max: the flows the table's slots are for");

	tap_ok(xm_ct6_conns(&h, &cfg, now_s(), &c, &n, err, sizeof(err)) == 0, "flows6 read: %s",
	       err);
	TAP_EQ(n, 2, "conntrack lists each flow once");
	for (size_t i = 0; i < n; i++) {
		if (c[i].orig_key.proto != IPPROTO_TCP)
			continue;
		tap_ok(c[i].v6 && c[i].have_reply, "the TCP flow: IPv6, its reply entry found");
		TAP_EQ(c[i].idle_s >= 5 && c[i].idle_s <= 6, 1, "the TCP flow: idle 5 s (%u)",
		       c[i].idle_s);
		TAP_EQ(c[i].expires_s, 7440 - c[i].idle_s,
		       "the TCP flow: expires by tcp-established's timeout");
		TAP_EQ(c[i].reply6.packets, 5, "the TCP flow: its reply entry's packets");
	}

	text = render(c, n, 0);
	tap_ok(text && strstr(text, "[2001:db8:1::10]:40000 -> [2001:db8:1::1]:443") &&
		       strstr(text, "[2001:db8:2::2]:80 -> [2001:db8:2::1]:50000") &&
		       strstr(text, "established"),
	       "text: the TCP flow's two tuples, addresses in brackets, its state");
	if (text && !strstr(text, "[2001:db8:1::10]"))
		tap_diag("%s", text);
	tap_ok(text && strstr(text, "[2001:db8:7::11]:5353 -> [2001:db8:1::1]:53") &&
		       strstr(text, "(missing)") && strstr(text, "unreplied"),
	       "text: the UDP flow without its reply entry says (missing), unreplied");
	tap_ok(text && !strstr(text, "2001:db8:2::9"), "text: the stray reply entry is no flow");
	free(text);
	text = render(c, n, 1);
	tap_ok(text &&
		       strstr(text, "\"original\":\"[2001:db8:1::10]:40000 -> "
				    "[2001:db8:1::1]:443\"") &&
		       strstr(text, "\"family\":6") && strstr(text, "\"packets_orig\":10,") &&
		       strstr(text, "\"bytes_orig\":1000,") &&
		       strstr(text, "\"packets_reply\":5,") &&
		       strstr(text, "\"state\":\"established\""),
	       "JSON: tuples, family 6, packets and bytes both ways, state");
	if (text && !strstr(text, "\"family\":6"))
		tap_diag("%s", text);
	free(text);
	free(c);

	TAP_EQ(xm_ct6_remove_if(&h, in_slot3, NULL, err, sizeof(err)), 1,
	       "removal by slot: the TCP flow (slot 3)");
	TAP_EQ(entries(&t6), 2, "... both its entries gone, the UDP flow and the stray entry kept");
	TAP_EQ(xm_ct6_count(&h), 1, "... 1 flow left");
	TAP_EQ(source_count(h.fd[XM_MAP_SOURCE_FLOWS], "2001:db8:1::10", 0x5eed), 0,
	       "... its source holds no flow any more (source_flows)");
	TAP_EQ(source_count(h.fd[XM_MAP_SOURCE_FLOWS], "2001:db8:7::11", 0x5eed), 1,
	       "... the other source keeps its flow");
	TAP_EQ(xm_ct6_remove_if(&h, NULL, NULL, err, sizeof(err)), 1, "flush: 1 flow removed");
	TAP_EQ(entries(&t6), 0, "flush: flows6 empty, the stray reply entry too");
	TAP_EQ(source_count(h.fd[XM_MAP_SOURCE_FLOWS], "2001:db8:7::11", 0x5eed), 0,
	       "flush: the flushed flow's source holds none (a stray reply entry takes nothing)");

	test_64(&h, &cfg, &t6);
	xm_ct6_close(&t6);

	tap_ok(!strcmp(xm_ip6_str(zero, buf, sizeof(buf)), "-"), "no IPv6 address shows as -");
	ip6("2001:db8::1", a);
	tap_ok(!strcmp(xm_ip6_str(a, buf, sizeof(buf)), "2001:db8::1"), "an IPv6 address as text");
	return tap_done();
}
