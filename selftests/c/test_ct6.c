// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The IPv6 flow table as conntrack shows and empties it (ct6.c,
 * render.c), on a flows6-shaped hash map made here (no program, no
 * router): each flow listed once, by its original entry, with its reply
 * entry found through xm_flow6_partner_key; addresses in brackets; state,
 * idle and expiry from config.timeouts; a flow without its reply entry
 * marked; removal by slot takes both entries of a flow and no other,
 * and its source's count in source_flows (the sweeper's accounting);
 * a flush leaves nothing, stray reply entries included; a router
 * attached by an older build (no flows6) reads as empty. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"
#include "tap.h"

#define TABLE_FLOWS 8

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
static int add_flow(int fd, uint8_t proto, const char *client, uint16_t cport, const char *pub,
		    uint16_t pport, const char *masq, uint16_t mport, const char *backend,
		    uint16_t bport, uint8_t state, uint8_t in_slot, uint8_t out_slot,
		    uint32_t idle_s, uint64_t packets, int with_reply)
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
		err |= bpf_map_update_elem(fd, &rk, &rv, BPF_NOEXIST);
	err |= bpf_map_update_elem(fd, &ok, &ov, BPF_NOEXIST);
	return err;
}

static size_t entries(int fd)
{
	struct xm_flow6_key k, next, *prev = NULL;
	size_t n = 0;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
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

int main(void)
{
	struct xm_config cfg = { .timeouts = { 120, 7440, 120, 10, 30, 180, 30 } };
	struct xm_handle h;
	struct xm_conn *c = NULL;
	size_t n = 0;
	char err[256] = "", *text;
	__be32 zero[4] = { 0 }, a[4];
	char buf[INET6_ADDRSTRLEN];
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
	TAP_EQ(xm_ct6_remove_if(&h, NULL, NULL), 0, "no flows6 map: a flush removes nothing");
	tap_ok(xm_map_optional(XM_MAP_FLOWS6) && xm_map_optional(XM_MAP_PROGS6) &&
		       xm_map_optional(XM_MAP_IFACE_ADDRS6) && xm_map_optional(XM_MAP_RULES6) &&
		       xm_map_optional(XM_MAP_RULE_ADDRS6) && xm_map_optional(XM_MAP_SWEEPER6) &&
		       !xm_map_optional(XM_MAP_FLOWS),
	       "xm_open goes without the six IPv6 maps (added within layout 2), not without "
	       "flows");

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "flows6", sizeof(struct xm_flow6_key),
			    sizeof(struct xm_flow6), 2 * TABLE_FLOWS, NULL);
	if (!tap_ok(fd >= 0, "a flows6-shaped hash map (needs root)"))
		return tap_done();
	h.fd[XM_MAP_FLOWS6] = fd;
	{
		LIBBPF_OPTS(bpf_map_create_opts, mmapable, .map_flags = BPF_F_MMAPABLE);
		struct xm_config conf = { .layout_version = XM_LAYOUT_VERSION, .ct_seed = 0x5eed };
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
	tap_ok(!add_flow(fd, IPPROTO_TCP, "2001:db8:1::10", 40000, "2001:db8:1::1", 443,
			 "2001:db8:2::1", 50000, "2001:db8:2::2", 80, XM_ST_ESTABLISHED, 3, 4, 5,
			 10, 1) &&
		       !add_flow(fd, IPPROTO_UDP, "2001:db8:7::11", 5353, "2001:db8:1::1", 53,
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
		bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST);
	}
	TAP_EQ(entries(fd), 4, "flows6 holds 4 entries");
	TAP_EQ(xm_ct6_count(&h), 2, "count: 2 flows (by their original entries)");
	TAP_EQ(xm_ct6_max(&h), TABLE_FLOWS, "flows6_max: the map's entries / 2");

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

	TAP_EQ(xm_ct6_remove_if(&h, in_slot3, NULL), 1, "removal by slot: the TCP flow (slot 3)");
	TAP_EQ(entries(fd), 2, "... both its entries gone, the UDP flow and the stray entry kept");
	TAP_EQ(xm_ct6_count(&h), 1, "... 1 flow left");
	TAP_EQ(source_count(h.fd[XM_MAP_SOURCE_FLOWS], "2001:db8:1::10", 0x5eed), 0,
	       "... its source holds no flow any more (source_flows)");
	TAP_EQ(source_count(h.fd[XM_MAP_SOURCE_FLOWS], "2001:db8:7::11", 0x5eed), 1,
	       "... the other source keeps its flow");
	TAP_EQ(xm_ct6_remove_if(&h, NULL, NULL), 1, "flush: 1 flow removed");
	TAP_EQ(entries(fd), 0, "flush: flows6 empty, the stray reply entry too");
	TAP_EQ(source_count(h.fd[XM_MAP_SOURCE_FLOWS], "2001:db8:7::11", 0x5eed), 0,
	       "flush: the flushed flow's source holds none (a stray reply entry takes nothing)");

	tap_ok(!strcmp(xm_ip6_str(zero, buf, sizeof(buf)), "-"), "no IPv6 address shows as -");
	ip6("2001:db8::1", a);
	tap_ok(!strcmp(xm_ip6_str(a, buf, sizeof(buf)), "2001:db8::1"), "an IPv6 address as text");
	return tap_done();
}
