/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * BPF_PROG_TEST_RUN tests of the IPv6 path (xmasq_tc6, reached from
 * xmasq_tc by a tail call): 6->6 forwards, TCP and UDP, both directions.
 * Every rewritten field is compared with the expected frame byte for
 * byte, and every L4 checksum with a full recomputation.
 *
 * Topology (the base one, with IPv6 added):
 *   pub0 2001:db8:1::1/64  client 2001:db8:1::10 (and ::11), MAC_CLIENT
 *   bk0  fd00:8::1/64      backend fd00:8::2, MAC_BACKEND
 */
#include "bpf_fixture.h"
#include "pkt6.h"
#include <sys/mman.h>

static const uint8_t MAC_CLIENT2[6] = { 0x02, 0, 0, 0, 0x00, 0x11 };

static struct addr6 a_pub0, a_client, a_client2, a_bk0, a_backend, a_other;

static struct spec6 client6(uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct spec6 s = {
		.src = a_client,
		.dst = a_pub0,
		.proto = proto,
		.hop = 64,
		.tcp_flags = flags,
		.sport = sport,
		.dport = dport,
		.payload = 16,
	};

	memcpy(s.dmac, MAC_PUB0, 6);
	memcpy(s.smac, MAC_CLIENT, 6);
	return s;
}

/* The same packet as it leaves towards the backend. */
static struct spec6 to_backend(struct spec6 s, struct addr6 src, uint16_t sport, uint16_t dport)
{
	memcpy(s.dmac, MAC_BACKEND, 6);
	memcpy(s.smac, MAC_BK0, 6);
	s.src = src;
	s.dst = a_backend;
	s.sport = sport;
	s.dport = dport;
	s.hop--;
	return s;
}

/* Spec s as the router sends it on to the client from pub0: from src
 * (the address the client knows it by), source port sport. */
static struct spec6 to_client(struct spec6 s, struct addr6 src, uint16_t sport)
{
	memcpy(s.dmac, MAC_CLIENT, 6);
	memcpy(s.smac, MAC_PUB0, 6);
	s.src = src;
	s.dst = a_client;
	s.sport = sport;
	s.hop--;
	return s;
}

/* An answer to a masqueraded host (fd00:8::2) as the router sends it on
 * by bk0. */
static struct spec6 to_host(struct spec6 s)
{
	memcpy(s.dmac, MAC_BACKEND, 6);
	memcpy(s.smac, MAC_BK0, 6);
	s.dst = a_backend;
	s.hop--;
	return s;
}

static struct spec6 backend6(uint8_t proto, uint16_t sport, struct addr6 dst, uint16_t dport,
			     uint8_t flags)
{
	struct spec6 s = {
		.src = a_backend,
		.dst = dst,
		.proto = proto,
		.hop = 64,
		.tcp_flags = flags,
		.sport = sport,
		.dport = dport,
		.payload = 24,
	};

	memcpy(s.dmac, MAC_BK0, 6);
	memcpy(s.smac, MAC_BACKEND, 6);
	return s;
}

/* Checks the L4 checksum of an IPv6 frame against full recomputation. */
static int check_csum6(const char *what, const struct frame *f)
{
	const uint8_t *ip = f->b + 14;
	size_t l4len;
	uint8_t proto;
	size_t at;
	uint16_t got, want;

	if (f->len < 14 + 40 + 8)
		return tap_ok(0, "%s: frame long enough for a checksum (%zu bytes)", what, f->len);
	l4len = (size_t)ip[4] << 8 | ip[5];
	proto = ip[6];
	at = proto == IPPROTO_TCP ? 16 : proto == 58 ? 2 : 6;
	got = (uint16_t)(ip[40 + at] << 8 | ip[40 + at + 1]);
	want = l4_csum6(ip, l4len, proto, at);
	return tap_ok(got == want, "%s: %s checksum 0x%04x equals full recomputation 0x%04x", what,
		      proto == IPPROTO_TCP ? "TCP" :
		      proto == 58	   ? "ICMPv6" :
					     "UDP",
		      got, want);
}

/* One frame through xmasq_tc (which tail-calls xmasq_tc6); the verdict,
 * the frame byte for byte (want NULL: untouched) and its checksum. */
static int run6(const char *what, int ifindex, struct spec6 in, uint32_t verdict,
		const struct spec6 *want, struct frame *got)
{
	struct frame fin = F6(in), fwant;
	int ok;

	if (want)
		fwant = F6(*want);
	ok = run_case(1, what, ifindex, &fin, verdict,
		      want		   ? &fwant :
		      verdict == TC_ACT_OK ? &fin :
					     NULL,
		      got);
	if (want)
		ok &= check_csum6(what, got);
	return ok;
}

/* flows6 (our own table, bpf/ct6.h) seen through memory. */
static struct xm_ct6_slot *flows6_slots(void)
{
	static struct xm_ct6_slot *slots;
	size_t len = (size_t)bpf_map__max_entries(skel->maps.flows6) * sizeof(*slots);

	if (!slots) {
		slots = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			     bpf_map__fd(skel->maps.flows6), 0);
		if (slots == MAP_FAILED)
			slots = NULL;
	}
	return slots;
}

/* The live slot of the flow entry with this key, or NULL: its home from
 * the table's hash, then linear probing (xmasq_abi.h). */
static struct xm_ct6_slot *flow6_slot(struct addr6 s, struct addr6 d, uint16_t sport,
				      uint16_t dport, uint8_t proto)
{
	union xm_ct6_words k = {
		.key = { .sport = htons(sport), .dport = htons(dport), .proto = proto }
	};
	struct xm_ct6_slot *slots = flows6_slots();
	uint32_t home;

	memcpy(k.key.saddr, s.b, 16);
	memcpy(k.key.daddr, d.b, 16);
	home = xm_ct6_home(k.w, skel->rodata->xm_ct_seed, skel->rodata->xm_ct6_homes);
	for (uint32_t i = 0; slots && i < XM_CT_PROBES; i++) {
		struct xm_ct6_slot *sl = &slots[home + i];
		union xm_ct6_words got;

		memcpy(&got.key, &sl->key, sizeof(got.key));
		if (got.key.ct_state == XM_CT_EMPTY)
			return NULL;
		got.key.ct_state = 0;
		if (sl->key.ct_state == XM_CT_LIVE && !memcmp(&got.key, &k.key, sizeof(k.key)))
			return sl;
	}
	return NULL;
}

static int flow6_get(struct addr6 s, struct addr6 d, uint16_t sport, uint16_t dport, uint8_t proto,
		     struct xm_flow6 *out)
{
	struct xm_ct6_slot *sl = flow6_slot(s, d, sport, dport, proto);

	memset(out, 0, sizeof(*out));
	if (!sl)
		return -1;
	*out = sl->flow;
	return 0;
}

/* Live entries in flows6. */
static int flows6_count(void)
{
	struct xm_ct6_slot *slots = flows6_slots();
	uint32_t n = bpf_map__max_entries(skel->maps.flows6);
	int live = 0;

	for (uint32_t i = 0; slots && i < n; i++)
		live += __atomic_load_n(&slots[i].key.ct_state, __ATOMIC_ACQUIRE) == XM_CT_LIVE;
	return live;
}

static int add_rule6(uint32_t id, int ifindex, const struct addr6 *daddr, uint16_t dport,
		     uint8_t proto, struct addr6 to, uint16_t to_port, uint32_t flags,
		     uint16_t allow_list)
{
	struct xm_rule6_key k = {
		.ifindex = (uint32_t)ifindex,
		.dport = htons(dport),
		.proto = proto,
	};
	struct xm_rule6_value v = {
		.rule_id = id,
		.to_port = htons(to_port),
		.allow_list = allow_list,
		.flags = flags | XM_RULE_V6,
	};

	if (daddr)
		memcpy(k.daddr, daddr->b, 16);
	memcpy(v.to_addr, to.b, 16);
	return bpf_map_update_elem(bpf_map__fd(skel->maps.rules6), &k, &v, BPF_NOEXIST);
}

static int set_addr6(uint32_t slot, struct addr6 a)
{
	struct xm_iface6 v;

	memcpy(v.addr, a.b, 16);
	return bpf_map_update_elem(bpf_map__fd(skel->maps.iface_addrs6), &slot, &v, BPF_ANY);
}

static int netns6(void)
{
	int err = fixture_netns();

	err |= sh("sysctl -qw net.ipv6.conf.all.forwarding=1");
	err |= sh("ip -6 addr add 2001:db8:1::1/64 dev pub0 nodad");
	err |= sh("ip -6 addr add fd00:8::1/64 dev bk0 nodad");
	err |= sh("ip -6 neigh add fd00:8::2 lladdr 02:00:00:00:00:02 dev bk0 nud permanent");
	err |= sh("ip -6 neigh add 2001:db8:1::10 lladdr 02:00:00:00:00:10 dev pub0 nud "
		  "permanent");
	/* fd00:9::/64 is routed by a neighbour whose MAC is not known */
	err |= sh("ip -6 route add fd00:9::/64 via fd00:8::9 dev bk0");
	return err ? -1 : 0;
}

#define RULE_TCP     7
#define RULE_UDP     8
#define RULE_KEEP    9
#define RULE_ALLOW   10
#define RULE_NONEIGH 11
#define RULE_MASQ    12
#define RULE_64_TCP  13
#define RULE_64_UDP  14
#define ALLOW_LIST   3

static int maps6(void)
{
	struct xm_config c = fixture_config();
	uint32_t idx = XM_PROGS6_TC, prog = (uint32_t)bpf_program__fd(skel->progs.xmasq_tc6);
	struct xm_allow_key ak = { .prefixlen = 32 + 64, .list = htonl(ALLOW_LIST) };
	uint32_t one = 1;
	int err = 0;

	a_pub0 = A6("2001:db8:1::1");
	a_client = A6("2001:db8:1::10");
	a_client2 = A6("2001:db8:1::11");
	a_bk0 = A6("fd00:8::1");
	a_backend = A6("fd00:8::2");
	a_other = A6("2001:db8:2::10");
	/* the router's own ephemeral ports, as the loader sets them */
	c.local_port_lo = 32768;
	c.local_port_hi = 60999;
	err |= fixture_set_config(&c);
	err |= fixture_base_ifaces();
	err |= set_addr6(0, a_pub0);
	err |= set_addr6(1, a_bk0);
	err |= add_rule6(RULE_TCP, if_pub0, NULL, 80, IPPROTO_TCP, a_backend, 8080, 0, 0);
	err |= add_rule6(RULE_UDP, if_pub0, &a_pub0, 5353, IPPROTO_UDP, a_backend, 53, 0, 0);
	err |= add_rule6(RULE_KEEP, if_pub0, NULL, 81, IPPROTO_TCP, a_backend, 8081,
			 XM_RULE_KEEP_SOURCE, 0);
	err |= add_rule6(RULE_ALLOW, if_pub0, NULL, 443, IPPROTO_TCP, a_backend, 8443, 0,
			 ALLOW_LIST);
	err |= add_rule6(RULE_NONEIGH, if_pub0, NULL, 90, IPPROTO_UDP, A6("fd00:9::5"), 9000, 0, 0);
	{ /* masquerade fd00:8::/64 out pub0: bk0's hosts reach the outside */
		struct xm_masq6_key mk = { .prefixlen = 32 + 64, .gen = 0 };
		struct xm_masq_value mv = { .rule_id = RULE_MASQ,
					    .out_ifindex = (uint32_t)if_pub0 };

		memcpy(mk.saddr, a_bk0.b, 16);
		memset((uint8_t *)mk.saddr + 8, 0, 8);
		err |= bpf_map_update_elem(bpf_map__fd(skel->maps.masq_rules6), &mk, &mv, BPF_ANY);
	}
	/* 6->4: IPv6 clients of the IPv4 backend 198.18.0.2 */
	err |= add_rule6(RULE_64_TCP, if_pub0, NULL, 8443, IPPROTO_TCP, A6("::ffff:198.18.0.2"), 80,
			 XM_RULE_TO_V4, 0);
	err |= add_rule6(RULE_64_UDP, if_pub0, &a_pub0, 5354, IPPROTO_UDP, A6("::ffff:198.18.0.2"),
			 53, XM_RULE_TO_V4, 0);
	memcpy(ak.addr, a_client.b, 16);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.allow_lists), &ak, &one, BPF_ANY);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.progs6), &idx, &prog, BPF_ANY);
	idx = XM_PROGS46_TC;
	prog = (uint32_t)bpf_program__fd(skel->progs.xmasq_tc46);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.progs46), &idx, &prog, BPF_ANY);
	idx = XM_PROGS6_XDP;
	prog = (uint32_t)bpf_program__fd(skel->progs.xmasq_xdp6);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.progs6_xdp), &idx, &prog, BPF_ANY);
	idx = XM_PROGS46_XDP;
	prog = (uint32_t)bpf_program__fd(skel->progs.xmasq_xdp46);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.progs6_xdp), &idx, &prog, BPF_ANY);
	idx = XM_PROGS6_NEW_XDP;
	prog = (uint32_t)bpf_program__fd(skel->progs.xmasq_xdp6_new);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.progs6_xdp), &idx, &prog, BPF_ANY);
	return err ? -1 : 0;
}

/* The same frame through XDP (xmasq_xdp, which tail-calls xmasq_xdp6):
 * redirected, byte for byte as tc sends it, counted as XDP's. */
static void xdp6(const char *what, int ifindex, struct spec6 in, const struct spec6 *want)
{
	struct frame fin = F6(in), fwant = F6(*want), got;
	char name[160];

	snprintf(name, sizeof(name), "%s, by XDP", what);
	cnt_mark();
	run_case(0, name, ifindex, &fin, XDP_REDIRECT, &fwant, &got);
	check_csum6(name, &got);
	cnt_check(XM_C_FWD_XDP, 1, name);
	cnt_check(XM_C_PASS_IPV6_TO_TC, 0, name);
}

/* Puts the pseudo-header sum where the L4 checksum goes, as a local
 * sender's CHECKSUM_PARTIAL skb has it. */
static void set_partial_csum6(struct frame *f)
{
	uint8_t *ip = f->b + 14, pseudo[40] = { 0 };
	size_t l4len = (size_t)ip[4] << 8 | ip[5], at = ip[6] == IPPROTO_TCP ? 16 : 6;
	uint16_t c;

	memcpy(pseudo, ip + 8, 32);
	pseudo[34] = (uint8_t)(l4len >> 8);
	pseudo[35] = (uint8_t)l4len;
	pseudo[39] = ip[6];
	c = csum_fold32(csum_add_bytes(0, pseudo, sizeof(pseudo)));
	ip[40 + at] = (uint8_t)(c >> 8);
	ip[40 + at + 1] = (uint8_t)c;
}

/* Makes frame f's whole L4 checksum equal the pseudo-header sum (as an
 * unfinished one would be) by its last two payload bytes: 1 in 65536
 * packets is such. 1 when it did. */
static int set_csum_like_partial6(struct frame *f)
{
	uint8_t *ip = f->b + 14, pseudo[40] = { 0 };
	size_t l4len = (size_t)ip[4] << 8 | ip[5], at = ip[6] == IPPROTO_TCP ? 16 : 6;
	uint16_t p, c0, w;

	memcpy(pseudo, ip + 8, 32);
	pseudo[34] = (uint8_t)(l4len >> 8);
	pseudo[35] = (uint8_t)l4len;
	pseudo[39] = ip[6];
	p = csum_fold32(csum_add_bytes(0, pseudo, sizeof(pseudo)));
	ip[40 + l4len - 2] = ip[40 + l4len - 1] = 0;
	c0 = l4_csum6(ip, l4len, ip[6], at);
	/* the sum with w is ~p: w = ~p - (~c0) in ones' complement */
	w = csum_fold32((uint32_t)(uint16_t)~p + c0);
	ip[40 + l4len - 2] = (uint8_t)(w >> 8);
	ip[40 + l4len - 1] = (uint8_t)w;
	ip[40 + at] = (uint8_t)(p >> 8);
	ip[40 + at + 1] = (uint8_t)p;
	return l4_csum6(ip, l4len, ip[6], at) == p;
}

/* A TCP connection both ways: SYN, SYN-ACK, ACK, FIN, FIN, last ACK. */
static void test_tcp6(void)
{
	struct spec6 syn = client6(IPPROTO_TCP, 20000, 80, TCP_SYN);
	struct spec6 fwd = to_backend(syn, a_bk0, 20000, 8080);
	struct spec6 synack = backend6(IPPROTO_TCP, 8080, a_bk0, 20000, TCP_SYN | TCP_ACK);
	struct spec6 back = synack;
	struct xm_flow6 o = { 0 }, r = { 0 };
	struct frame got;

	back = to_client(back, a_pub0, 80);

	cnt_mark();
	run6("tcp6 SYN to [2001:db8:1::1]:80 -> [fd00:8::2]:8080", if_pub0, syn, TC_ACT_REDIRECT,
	     &fwd, &got);
	cnt_check(XM_C_FLOW_NEW, 1, "tcp6 SYN");
	cnt_check(XM_C_FLOW_NEW_IPV6, 1, "tcp6 SYN");
	cnt_check(XM_C_FWD_TC, 1, "tcp6 SYN");
	cnt_check(XM_C_RX_IPV6, 1, "tcp6 SYN");
	cnt_check(XM_C_RX, 1, "tcp6 SYN");
	TAP_EQ(flows6_count(), 2, "tcp6: a flow is two entries in flows6");
	if (tap_ok(flow6_get(a_client, a_pub0, 20000, 80, IPPROTO_TCP, &o) == 0, "tcp6: original "
										 "entry under the "
										 "client's "
										 "tuple")) {
		TAP_EQ(o.state, XM_ST_SYN_SENT, "tcp6: original entry SYN_SENT");
		TAP_EQ(o.rule_id, RULE_TCP, "tcp6: original entry's rule");
		TAP_EQ(o.flags & XM_FLOW_REPLY, 0, "tcp6: original entry is not the reply");
		TAP_EQ(o.packets, 1, "tcp6: original entry counted the SYN");
		TAP_EQ(o.nat_flags, XM_FLOW6_NAT_KNOWN,
		       "tcp6: original entry uses no NAT66 mapping, and says so (the sweeper "
		       "asks nat_mappings6 nothing for it)");
	}
	tap_ok(flow6_get(a_backend, a_bk0, 8080, 20000, IPPROTO_TCP, &r) == 0, "tcp6: reply entry "
									       "under backend -> "
									       "[fd00:8::1]:20000 "
									       "(the client's port "
									       "kept)");

	run6("tcp6 SYN-ACK back to the client by pub0", if_bk0, synack, TC_ACT_REDIRECT, &back,
	     &got);
	flow6_get(a_client, a_pub0, 20000, 80, IPPROTO_TCP, &o);
	flow6_get(a_backend, a_bk0, 8080, 20000, IPPROTO_TCP, &r);
	TAP_EQ(o.state, XM_ST_ESTABLISHED, "tcp6: SYN-ACK: original entry ESTABLISHED");
	TAP_EQ(r.state, XM_ST_ESTABLISHED, "tcp6: SYN-ACK: reply entry ESTABLISHED");

	syn.tcp_flags = TCP_ACK;
	syn.payload = 40;
	fwd = to_backend(syn, a_bk0, 20000, 8080);
	run6("tcp6 data to the backend", if_pub0, syn, TC_ACT_REDIRECT, &fwd, &got);
	xdp6("tcp6 data to the backend", if_pub0, syn, &fwd);
	synack.tcp_flags = back.tcp_flags = TCP_ACK;
	xdp6("tcp6 data back to the client", if_bk0, synack, &back);
	syn.tcp_flags = TCP_FIN | TCP_ACK;
	syn.payload = 0;
	fwd = to_backend(syn, a_bk0, 20000, 8080);
	run6("tcp6 client FIN", if_pub0, syn, TC_ACT_REDIRECT, &fwd, &got);
	synack.tcp_flags = back.tcp_flags = TCP_FIN | TCP_ACK;
	run6("tcp6 backend FIN", if_bk0, synack, TC_ACT_REDIRECT, &back, &got);
	flow6_get(a_client, a_pub0, 20000, 80, IPPROTO_TCP, &o);
	TAP_EQ(o.state, XM_ST_FIN, "tcp6: FINs both ways: FIN");
	TAP_EQ(!!(o.flags & XM_FLOW_FIN_BOTH), 1, "tcp6: FINs both ways noted");
	syn.tcp_flags = TCP_ACK;
	fwd = to_backend(syn, a_bk0, 20000, 8080);
	run6("tcp6 last ACK", if_pub0, syn, TC_ACT_REDIRECT, &fwd, &got);
	flow6_get(a_client, a_pub0, 20000, 80, IPPROTO_TCP, &o);
	flow6_get(a_backend, a_bk0, 8080, 20000, IPPROTO_TCP, &r);
	TAP_EQ(o.state, XM_ST_CLOSE, "tcp6: last ACK: CLOSE (original)");
	TAP_EQ(r.state, XM_ST_CLOSE, "tcp6: last ACK: CLOSE (reply)");
	{
		struct xm_rule_stats rs = rule_stats_read(RULE_TCP);

		TAP_EQ(rs.flows, 1, "tcp6: rule counted one flow");
		TAP_EQ(rs.packets[XM_DIR_ORIG], 5,
		       "tcp6: rule counted 5 packets to the backend (1 by XDP)");
		TAP_EQ(rs.packets[XM_DIR_REPLY], 3, "tcp6: rule counted 3 packets back (1 by XDP)");
	}
}

/* A second client on the same source port: the backend would see two
 * connections on one tuple, so the second gets another port. */
static void test_port_clash6(void)
{
	struct spec6 a = client6(IPPROTO_TCP, 21000, 80, TCP_SYN);
	struct spec6 b = a, want;
	struct frame got;
	uint16_t port;

	b.src = a_client2;
	memcpy(b.smac, MAC_CLIENT2, 6);
	want = to_backend(a, a_bk0, 21000, 8080);
	run6("tcp6 clash: first client keeps port 21000", if_pub0, a, TC_ACT_REDIRECT, &want, &got);
	want = to_backend(b, a_bk0, 21000, 8080);
	{
		struct frame fin = F6(b);
		uint32_t rc;

		cnt_mark();
		run_tc(if_pub0, &fin, &got, &rc);
		if (!TAP_EQ(rc, TC_ACT_REDIRECT, "tcp6 clash: second client redirected"))
			cnt_diag();
	}
	port = (uint16_t)(got.b[14 + 40] << 8 | got.b[14 + 41]);
	tap_ok(port != 21000 && port >= XM_DEFAULT_PORT_LO && (port < 32768 || port > 60999),
	       "tcp6 clash: second client got port %u: not 21000, in the range, not one of the "
	       "router's own",
	       port);
	want.sport = port;
	{
		struct frame fw = F6(want);

		tap_ok(same_frame(&got, &fw), "tcp6 clash: second client's frame as expected");
	}
	check_csum6("tcp6 clash: second client", &got);

	/* a client port among the router's own ephemeral ports (32768-60999
	 * here) is not kept: the router's connections could collide */
	a = client6(IPPROTO_TCP, 40000, 80, TCP_SYN);
	{
		struct frame fin = F6(a);
		uint32_t rc;

		run_tc(if_pub0, &fin, &got, &rc);
		TAP_EQ(rc, TC_ACT_REDIRECT, "tcp6 from port 40000: redirected");
	}
	port = (uint16_t)(got.b[14 + 40] << 8 | got.b[14 + 41]);
	tap_ok(port != 40000 && (port < 32768 || port > 60999),
	       "tcp6 from port 40000 (the router's ephemeral range): left with port %u outside it",
	       port);
}

static void test_udp6(void)
{
	struct spec6 q = client6(IPPROTO_UDP, 5000, 5353, 0);
	struct spec6 fwd = to_backend(q, a_bk0, 5000, 53);
	struct spec6 ans = backend6(IPPROTO_UDP, 53, a_bk0, 5000, 0), back = ans;
	struct spec6 other = q;
	struct xm_flow6 o;
	struct frame got;

	back = to_client(back, a_pub0, 5353);
	run6("udp6 to [2001:db8:1::1]:5353 (rule for that address) -> [fd00:8::2]:53", if_pub0, q,
	     TC_ACT_REDIRECT, &fwd, &got);
	run6("udp6 answer back to the client", if_bk0, ans, TC_ACT_REDIRECT, &back, &got);
	xdp6("udp6 answer back to the client", if_bk0, ans, &back);
	xdp6("udp6 to [2001:db8:1::1]:5353", if_pub0, q, &fwd);
	flow6_get(a_client, a_pub0, 5000, 5353, IPPROTO_UDP, &o);
	TAP_EQ(o.state, XM_ST_ASSURED, "udp6: answered: ASSURED");
	other.dst = A6("2001:db8:1::99");
	cnt_mark();
	run6("udp6 to another address of pub0: the rule is for 2001:db8:1::1 only", if_pub0, other,
	     TC_ACT_OK, NULL, &got);
	cnt_check(XM_C_PASS_NOT_OURS, 1, "udp6 other address");
	/* a next hop whose MAC is unknown: sent through the kernel's
	 * neighbour code (bpf_redirect_neigh), its MACs left to it */
	q = client6(IPPROTO_UDP, 5001, 90, 0);
	fwd = to_backend(q, a_bk0, 5001, 9000);
	fwd.dst = A6("fd00:9::5");
	memcpy(fwd.dmac, MAC_PUB0, 6); /* untouched by xmasq */
	memcpy(fwd.smac, MAC_CLIENT, 6);
	run6("udp6 to a backend whose next hop is unresolved: redirected by neighbour", if_pub0, q,
	     TC_ACT_REDIRECT, &fwd, &got);
}

static void test_keep_source6(void)
{
	struct spec6 syn = client6(IPPROTO_TCP, 22000, 81, TCP_SYN);
	struct spec6 fwd = to_backend(syn, a_client, 22000, 8081);
	struct frame got;

	run6("tcp6 keep-source: the backend sees the client's address", if_pub0, syn,
	     TC_ACT_REDIRECT, &fwd, &got);
	tap_ok(flow6_get(a_backend, a_client, 8081, 22000, IPPROTO_TCP, &(struct xm_flow6){ 0 }) ==
		       0,
	       "tcp6 keep-source: reply entry to the client's own address");
}

static void test_allow6(void)
{
	struct spec6 syn = client6(IPPROTO_TCP, 23000, 443, TCP_SYN);
	struct spec6 fwd = to_backend(syn, a_bk0, 23000, 8443);
	struct spec6 bad = syn;
	struct frame got;

	run6("tcp6 from-list: a source in 2001:db8:1::/64 admitted", if_pub0, syn, TC_ACT_REDIRECT,
	     &fwd, &got);
	bad.src = a_other;
	cnt_mark();
	run6("tcp6 from-list: 2001:db8:2::10 refused", if_pub0, bad, TC_ACT_SHOT, NULL, &got);
	cnt_check(XM_C_DROP_NOT_ALLOWED, 1, "tcp6 from-list refusal");
}

/* Frame f with an extension header of type `type` (its bytes hdr, len
 * a multiple of 8, its next-header byte set here) between the IPv6
 * header and what followed it. */
static struct frame with_ext(struct frame f, uint8_t type, const uint8_t *hdr, size_t len)
{
	uint8_t *ip = f.b + 14;
	size_t plen = (size_t)ip[4] << 8 | ip[5];

	memmove(ip + 40 + len, ip + 40, f.len - 54);
	memcpy(ip + 40, hdr, len);
	ip[40] = ip[6];
	ip[6] = type;
	plen += len;
	ip[4] = (uint8_t)(plen >> 8);
	ip[5] = (uint8_t)plen;
	f.len += len;
	return f;
}

static void test_pass6(void)
{
	struct spec6 ack = client6(IPPROTO_TCP, 44000, 80, TCP_ACK);
	struct spec6 ttl = client6(IPPROTO_TCP, 44001, 80, TCP_SYN);
	struct spec6 hbh = client6(IPPROTO_UDP, 44002, 5353, 0);
	struct spec6 icmp = client6(IPPROTO_UDP, 0, 0, 0);
	struct frame got, fin;
	uint32_t rc;

	cnt_mark();
	run6("tcp6 ACK without a flow: passed", if_pub0, ack, TC_ACT_OK, NULL, &got);
	cnt_check(XM_C_PASS_NOT_OURS, 1, "tcp6 ACK without a flow");
	ttl.hop = 1;
	cnt_mark();
	run6("tcp6 SYN with hop limit 1: the kernel's (time exceeded)", if_pub0, ttl, TC_ACT_OK,
	     NULL, &got);
	cnt_check(XM_C_PASS_TTL, 1, "hop limit 1");
	{ /* a hop-by-hop header with a router alert: every router's to act on */
		static const uint8_t alert[8] = { 0, 0, 5, 2, 0, 0, 1, 0 };

		fin = with_ext(F6(hbh), 0, alert, sizeof(alert));
	}
	cnt_mark();
	run_tc(if_pub0, &fin, &got, &rc);
	TAP_EQ(rc, TC_ACT_OK, "ipv6 with a hop-by-hop router alert: passed");
	tap_ok(same_frame(&fin, &got), "ipv6 with a hop-by-hop router alert: untouched");
	cnt_check(XM_C_PASS_IPV6_EXT, 1, "hop-by-hop router alert");
	/* ICMPv6 (a neighbour solicitation, say): the kernel's */
	fin = F6(icmp);
	fin.b[14 + 6] = 58;
	cnt_mark();
	run_tc(if_pub0, &fin, &got, &rc);
	TAP_EQ(rc, TC_ACT_OK, "icmpv6: passed");
	tap_ok(same_frame(&fin, &got), "icmpv6: untouched");
	cnt_check(XM_C_PASS_NOT_OURS, 1, "icmpv6");
	/* payload length past the frame */
	fin = F6(client6(IPPROTO_UDP, 44003, 5353, 0));
	fin.b[14 + 5] += 8;
	cnt_mark();
	run_tc(if_pub0, &fin, &got, &rc);
	TAP_EQ(rc, TC_ACT_OK, "ipv6 longer than its frame: passed");
	cnt_check(XM_C_PASS_MALFORMED, 1, "ipv6 longer than its frame");
}

/* Too big for the egress (bk0 at MTU 1280 here): the client gets an
 * ICMPv6 Packet Too Big from the address it sent to, by pub0; a GSO
 * packet whose segments fit goes on. */
static void test_too_big6(void)
{
	struct spec6 syn = client6(IPPROTO_TCP, 24000, 80, TCP_SYN), big;
	struct spec6 fwd = to_backend(syn, a_bk0, 24000, 8080);
	struct frame fin, got;
	const uint8_t *ip, *icmp;
	uint32_t rc;
	struct pkt6_icmp_csum c;

	run6("tcp6 too-big: the flow's SYN", if_pub0, syn, TC_ACT_REDIRECT, &fwd, &got);
	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 1280);
	big = syn;
	big.tcp_flags = TCP_ACK;
	big.payload = 1300; /* 1360 bytes of IPv6 */
	fin = F6(big);
	cnt_mark();
	run_tc(if_pub0, &fin, &got, &rc);
	if (!TAP_EQ(rc, TC_ACT_REDIRECT, "tcp6 1360 bytes to a 1280-byte egress: sent back"))
		cnt_diag();
	cnt_check(XM_C_FRAG_NEEDED_SENT, 1, "tcp6 too big");
	ip = got.b + 14;
	icmp = ip + 40;
	TAP_EQ(got.len, 14 + 40 + 8 + 40 + 20, "packet too big: Ethernet, IPv6, ICMPv6, 60 quoted");
	tap_ok(!memcmp(got.b, MAC_CLIENT, 6) && !memcmp(got.b + 6, MAC_PUB0, 6), "packet too big: "
										 "to the client's "
										 "MAC, from "
										 "pub0's");
	tap_ok(ip[0] >> 4 == 6 && ip[6] == 58 && ip[7] == 64 && (ip[4] << 8 | ip[5]) == 68,
	       "packet too big: IPv6, next header ICMPv6, hop limit 64, payload 68");
	tap_ok(!memcmp(ip + 8, a_pub0.b, 16) && !memcmp(ip + 24, a_client.b, 16), "packet too big: "
										  "from "
										  "[2001:db8:1::1] "
										  "(where the "
										  "client sent), "
										  "to the client");
	tap_ok(icmp[0] == 2 && icmp[1] == 0 &&
		       (uint32_t)(icmp[4] << 24 | icmp[5] << 16 | icmp[6] << 8 | icmp[7]) == 1280,
	       "packet too big: type 2 code 0, MTU 1280");
	tap_ok(!memcmp(icmp + 8, fin.b + 14, 40) && !memcmp(icmp + 48, fin.b + 54, 16) &&
		       !memcmp(icmp + 66, fin.b + 72, 2),
	       "packet too big: quotes the packet as sent (IPv6 header, TCP header but its "
	       "checksum)");
	c = pkt6_icmp_csum(&got);
	tap_ok(c.ok && c.got == c.want,
	       "packet too big: ICMPv6 checksum 0x%04x equals full "
	       "recomputation 0x%04x",
	       c.got, c.want);

	/* GSO: 1300 bytes in segments of 1000 (1060 bytes of IPv6 each) */
	tc_gso_size = 1000;
	tc_gso_segs = 2;
	cnt_mark();
	run_tc(if_pub0, &fin, &got, &rc);
	tc_gso_size = tc_gso_segs = 0;
	TAP_EQ(rc, TC_ACT_REDIRECT, "tcp6 GSO whose segments fit 1280: forwarded");
	cnt_check(XM_C_FWD_TC, 1, "tcp6 GSO segments fit");
	TAP_EQ(got.len, fin.len, "tcp6 GSO: forwarded whole (the egress cuts it)");
	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 0);
}

/* Frame in from bk0 through xmasq_tc (xdp 0) or xmasq_xdp: the verdict
 * in *rc, and the source port it left with. */
static uint16_t sport_out6(int xdp, struct spec6 in, uint32_t *rc)
{
	struct frame fin = F6(in), got;

	if (xdp)
		run_xdp(if_bk0, &fin, &got, rc);
	else
		run_tc(if_bk0, &fin, &got, rc);
	return (uint16_t)(got.b[14 + 40] << 8 | got.b[14 + 41]);
}

/* A masqueraded host's UDP from a port it cannot keep (the router's
 * ephemeral range) leaves with one port towards every peer, by tc and by
 * XDP, as netfilter's masquerade keeps a free port: what a STUN client
 * reads as endpoint-independent mapping. */
static void test_port_per_endpoint6(void)
{
	static const struct {
		int xdp;
		uint16_t dport;
		int second_client;
	} peers[] = { { 0, 53, 0 }, { 0, 53, 1 }, { 1, 54, 0 } };
	uint16_t first = 0, sport;
	uint32_t rc;

	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		struct spec6 in = backend6(IPPROTO_UDP, 40010,
					   peers[i].second_client ? a_client2 : a_client,
					   peers[i].dport, 0);

		sport = sport_out6(peers[i].xdp, in, &rc);
		if (i == 0)
			first = sport;
		tap_ok(rc == (peers[i].xdp ? XDP_REDIRECT : TC_ACT_REDIRECT) && sport != 40010 &&
			       sport == first,
		       "udp6 masquerade from [fd00:8::2]:40010 (not kept) to peer %zu by %s: port "
		       "%u, "
		       "the endpoint's one (%u)",
		       i + 1, peers[i].xdp ? "XDP" : "tc", sport, first);
	}
}

/* bk0's MTU changed since xmasq read it, with no follower running: an
 * IPv6 packet longer than 1280 bytes is checked against the NIC's MTU as
 * it is now, at XDP and at tc (bpf/mtu.h), not against the record. */
static void test_mtu_live6(void)
{
	struct spec6 syn = client6(IPPROTO_TCP, 24100, 80, TCP_SYN), big;
	struct spec6 fwd = to_backend(syn, a_bk0, 24100, 8080);
	struct frame fin, got;
	const uint8_t *icmp;
	uint32_t rc;

	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 1500);
	run6("tcp6 live MTU: the flow's SYN", if_pub0, syn, TC_ACT_REDIRECT, &fwd, &got);
	big = syn;
	big.tcp_flags = TCP_ACK;
	big.payload = 1340; /* 1400 bytes of IPv6 */
	fin = F6(big);

	set_dev_mtu(if_bk0, 1300); /* lowered: the record still says 1500 */
	cnt_mark();
	run_xdp(if_pub0, &fin, &got, &rc);
	TAP_EQ(rc, XDP_PASS, "tcp6 1400 bytes by XDP, bk0 lowered to 1300 (record 1500): to tc");
	cnt_check(XM_C_PASS_IPV6_TO_TC, 1, "tcp6 1400 bytes by XDP, bk0 lowered");
	cnt_mark();
	run_tc(if_pub0, &fin, &got, &rc);
	icmp = got.b + 14 + 40;
	tap_ok(rc == TC_ACT_REDIRECT && got.len > 14 + 48 && icmp[0] == 2 &&
		       (uint32_t)(icmp[4] << 24 | icmp[5] << 16 | icmp[6] << 8 | icmp[7]) == 1300,
	       "tcp6 1400 bytes by tc, bk0 lowered to 1300 (record 1500): Packet Too Big, MTU "
	       "1300, to the client");
	cnt_check(XM_C_FRAG_NEEDED_SENT, 1, "tcp6 1400 bytes by tc, bk0 lowered");

	/* raised: the record still says 1300 */
	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 1300);
	set_dev_mtu(if_bk0, 1500);
	fwd = to_backend(big, a_bk0, 24100, 8080);
	cnt_mark();
	run6("tcp6 1400 bytes by tc, bk0 raised to 1500 (record 1300): forwarded", if_pub0, big,
	     TC_ACT_REDIRECT, &fwd, &got);
	cnt_check(XM_C_FRAG_NEEDED_SENT, 0, "tcp6 1400 bytes by tc, bk0 raised");
	xdp6("tcp6 1400 bytes, bk0 raised to 1500 (record 1300): forwarded", if_pub0, big, &fwd);
	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 0);
}

/* masquerade fd00:8::/64 out pub0: the backend's network reaches the
 * client's with pub0's address, and the answers come back. */
static void test_masquerade6(void)
{
	struct spec6 out = backend6(IPPROTO_TCP, 30000, a_client, 443, TCP_SYN), want = out;
	struct spec6 back = client6(IPPROTO_TCP, 443, 30000, TCP_SYN | TCP_ACK), wantb;
	struct spec6 local = backend6(IPPROTO_UDP, 30001, a_bk0, 53, 0);
	struct spec6 lan = backend6(IPPROTO_UDP, 30002, A6("fd00:8::5"), 53, 0);
	struct xm_flow6 o;
	struct frame got;

	want = to_client(want, a_pub0, want.sport);
	cnt_mark();
	run6("tcp6 masquerade: [fd00:8::2]:30000 -> [2001:db8:1::10]:443 leaves pub0 as "
	     "[2001:db8:1::1]:30000",
	     if_bk0, out, TC_ACT_REDIRECT, &want, &got);
	cnt_check(XM_C_FLOW_NEW_IPV6, 1, "tcp6 masquerade");
	if (tap_ok(flow6_get(a_backend, a_client, 30000, 443, IPPROTO_TCP, &o) == 0, "tcp6 "
										     "masquerade: "
										     "the flow's "
										     "original "
										     "entry"))
		TAP_EQ(o.rule_id, RULE_MASQ, "tcp6 masquerade: counted under the masquerade rule");
	/* the answer, to the router's address, back to the host */
	back.dst = a_pub0;
	back.src = a_client;
	wantb = to_host(back);
	run6("tcp6 masquerade: the answer goes back to [fd00:8::2]:30000 by bk0", if_pub0, back,
	     TC_ACT_REDIRECT, &wantb, &got);
	cnt_mark();
	run6("udp6 from a masqueraded host to the router itself: the kernel's", if_bk0, local,
	     TC_ACT_OK, NULL, &got);
	cnt_check(XM_C_PASS_NOT_OURS, 1, "udp6 to the router");
	cnt_mark();
	run6("udp6 from a masqueraded host to its own network (routed back by bk0, not the "
	     "rule's pub0): not masqueraded",
	     if_bk0, lan, TC_ACT_OK, NULL, &got);
	cnt_check(XM_C_PASS_NOT_OURS, 1, "udp6 to the host's own network");

	/* ping: the echo id is the port; the reply finds its way back */
	{
		struct spec6 ping = backend6(58, 0x4242, a_client, 0x4242, 0), wp, pong, wpong;
		struct xm_flow6 r;

		ping.payload = 24;
		wp = ping;
		wp = to_client(wp, a_pub0, wp.sport);
		run6("icmp6 echo from a masqueraded host: leaves pub0 as [2001:db8:1::1], id "
		     "0x4242 "
		     "kept",
		     if_bk0, ping, TC_ACT_REDIRECT, &wp, &got);
		tap_ok(flow6_get(a_client, a_pub0, 0x4242, 0x4242, 58, &r) == 0, "icmp6 echo: "
										 "reply entry "
										 "keyed by the id "
										 "in both ports");
		pong = client6(58, 0x4242, 0x4242, 0);
		pong.icmp_type = 129;
		pong.dst = a_pub0;
		pong.payload = 24;
		wpong = to_host(pong);
		run6("icmp6 echo reply: back to [fd00:8::2] by bk0", if_pub0, pong, TC_ACT_REDIRECT,
		     &wpong, &got);
		/* a second host pinging with the same id gets another */
		ping.src = A6("fd00:8::3");
		{
			struct frame fin = F6(ping);
			uint32_t rc;
			uint16_t id;

			run_tc(if_bk0, &fin, &got, &rc);
			id = (uint16_t)(got.b[14 + 44] << 8 | got.b[14 + 45]);
			tap_ok(rc == TC_ACT_REDIRECT && id != 0x4242,
			       "icmp6 echo: a second host with the same id leaves with id 0x%04x",
			       id);
			check_csum6("icmp6 echo: a second host", &got);
		}
		cnt_mark();
		pong.icmp_type = 128; /* a request from outside to the router: the kernel's */
		pong.sport = pong.dport = 0x5151;
		run6("icmp6 echo request from outside to the router: the kernel's", if_pub0, pong,
		     TC_ACT_OK, NULL, &got);
	}
}

/* A socket of the router's own on [::]:port (TCP: listening), for
 * xm6_router_socket to find; -1 when it could not be made. */
static int router_socket6(int type, uint16_t port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int fd = socket(AF_INET6, type, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (type == SOCK_STREAM && listen(fd, 1))) {
		tap_diag("router socket on port %u: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* A masqueraded host's new flow from `port` (in the range, outside the
 * router's ephemeral ports) leaves with that port unless the router has
 * a socket on it, by tc and by XDP: the peer's answers would otherwise
 * reach the host, not the router's socket (as the kernel's NAT, which
 * sees the router's own connections in conntrack). */
static void test_router_socket6(void)
{
	static const struct {
		int xdp, type;
		uint16_t port;
	} cases[] = {
		{ 0, SOCK_DGRAM, 30010 },
		{ 0, SOCK_STREAM, 30011 },
		{ 1, SOCK_DGRAM, 30012 },
		{ 1, SOCK_STREAM, 30013 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int tcp = cases[i].type == SOCK_STREAM;
		const char *by = cases[i].xdp ? "XDP" : "tc", *proto = tcp ? "tcp6" : "udp6";
		uint32_t ok_rc = cases[i].xdp ? XDP_REDIRECT : TC_ACT_REDIRECT, rc;
		uint16_t port = cases[i].port, other = (uint16_t)(port + 100), sport;
		struct spec6 in = backend6(tcp ? IPPROTO_TCP : IPPROTO_UDP, port, a_client,
					   tcp ? 443 : 53, tcp ? TCP_SYN : 0);
		int fd = router_socket6(cases[i].type, port);

		if (!tap_ok(fd >= 0, "%s masquerade by %s: the router's own socket on port %u",
			    proto, by, port))
			continue;
		sport = sport_out6(cases[i].xdp, in, &rc);
		tap_ok(rc == ok_rc && sport != port,
		       "%s masquerade by %s: from port %u, where the router has a socket: leaves "
		       "with port %u",
		       proto, by, port, sport);
		close(fd);
		/* the same without a socket: the host's port is kept */
		in.sport = other;
		sport = sport_out6(cases[i].xdp, in, &rc);
		tap_ok(rc == ok_rc && sport == other,
		       "%s masquerade by %s: from port %u, no socket there: the port is kept (%u)",
		       proto, by, other, sport);
	}
}

/* flows6 as `set conntrack6-max 1024` makes it (3,647 slots, 57 groups),
 * walked SWEEP6_SLICE groups a timer run: a walk is 15 runs. */
#define CT6_TEST_MAX 1024
#define SWEEP6_SLICE 4
static int size_flows6(void)
{
	uint32_t slots = XM_CT_SLOTS(CT6_TEST_MAX);

	skel->rodata->xm_ct6_homes = slots - (XM_CT_PROBES - 1);
	skel->rodata->xm_sweep6_slice = SWEEP6_SLICE;
	return bpf_map__set_max_entries(skel->maps.flows6, slots) |
	       bpf_map__set_max_entries(skel->maps.sweep6_groups,
					(slots + XM_SWEEP_GROUP - 1) / XM_SWEEP_GROUP);
}

/* Live entries in flows6's slots [from, to). */
static int flows6_count_in(uint32_t from, uint32_t to)
{
	struct xm_ct6_slot *slots = flows6_slots();
	int live = 0;

	for (uint32_t i = from; slots && i < to; i++)
		live += slots[i].key.ct_state == XM_CT_LIVE;
	return live;
}

/* The sweeper: flows idle past their timeout go, both entries, wherever
 * their slots are: the walk goes the table in slices, a timer run each. */
/* Sweeper6 runs (walks) so far. */
static uint32_t sweep6_runs(void)
{
	struct xm_sweep6 sw;
	uint32_t zero = 0;

	memset(&sw, 0, sizeof(sw));
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.sweeper6), &zero, &sw);
	return sw.runs;
}

/* `set nat-inbound-refresh no` on IPv6: a masqueraded host's UDP flow
 * that only the outside keeps busy goes at its timeout; a forward's
 * in the same state stays (what comes in keeps it). The clock moved
 * 1000 s on, both reply entries stamped then. */
static void test_no_inbound_refresh6(void)
{
	struct spec6 m_out = backend6(IPPROTO_UDP, 30120, a_client, 7000, 0);
	struct spec6 m_in = client6(IPPROTO_UDP, 7000, 30120, 0);
	struct spec6 f_in = client6(IPPROTO_UDP, 7001, 5353, 0);
	struct spec6 f_back = backend6(IPPROTO_UDP, 53, a_pub0, 0, 0);
	struct xm_config c = fixture_config();
	struct xm_ct6_slot *m_reply, *f_reply;
	struct xm_flow6 fo;
	struct frame fin, got;
	uint32_t rc, runs;
	int gone = 0;

	c.local_port_lo = 32768;
	c.local_port_hi = 60999;
	c.flags |= XM_CFG_NAT_NO_INBOUND_REFRESH;
	if (!tap_ok(fixture_set_config(&c) == 0, "nat66 inbound refresh: set to no"))
		return;
	sport_out6(0, m_out, &rc);
	run6("nat66 inbound refresh: the host's UDP flow, answered", if_pub0, m_in, TC_ACT_REDIRECT,
	     NULL, &got);
	run6("nat66 inbound refresh: a forward's UDP flow", if_pub0, f_in, TC_ACT_REDIRECT, NULL,
	     &got);
	if (!tap_ok(flow6_get(a_client, a_pub0, 7001, 5353, IPPROTO_UDP, &fo) == 0, "nat66 inbound "
										    "refresh: the "
										    "forward's "
										    "flow"))
		return;
	memcpy(f_back.dst.b, fo.new_saddr, 16);
	f_back.dport = ntohs(fo.new_sport);
	fin = F6(f_back);
	run_tc(if_bk0, &fin, &got, &rc);
	m_reply = flow6_slot(a_client, a_pub0, 7000, 30120, IPPROTO_UDP);
	f_reply = flow6_slot(a_backend, f_back.dst, 53, f_back.dport, IPPROTO_UDP);
	if (!tap_ok(m_reply && f_reply && rc == TC_ACT_REDIRECT, "nat66 inbound refresh: both "
								 "flows answered, their reply "
								 "entries"))
		return;
	m_reply->flow.last_seen_s += 1000;
	f_reply->flow.last_seen_s += 1000;
	skel->bss->xm_clock_ahead_s = 1000;
	for (int i = 0; i < SWEEP_WAIT_MS / 100 && !gone; i++) {
		usleep(100 * 1000);
		gone = !flow6_slot(a_backend, a_client, 30120, 7000, IPPROTO_UDP);
	}
	TAP_EQ(gone, 1,
	       "nat66 inbound refresh no: the host's UDP flow idle 1000 s on its side goes, though "
	       "answers keep coming");
	runs = sweep6_runs();
	for (int i = 0; i < SWEEP_WAIT_MS / 100 && sweep6_runs() < runs + 2; i++)
		usleep(100 * 1000);
	tap_ok(sweep6_runs() >= runs + 2 &&
		       flow6_slot(a_client, a_pub0, 7001, 5353, IPPROTO_UDP) != NULL,
	       "nat66 inbound refresh no: a forward's flow kept busy by its reply stays (two walks "
	       "later)");
	skel->bss->xm_clock_ahead_s = 0;
	c.flags = fixture_config().flags;
	fixture_set_config(&c);
}

static int nat6_mappings_left(void);

static void test_expiry6(void)
{
	uint32_t zero = 0, slots = bpf_map__max_entries(skel->maps.flows6);
	uint32_t groups = (slots + XM_SWEEP_GROUP - 1) / XM_SWEEP_GROUP;
	int n = flows6_count(), left = n, last_half = flows6_count_in(slots / 2, slots);
	struct xm_sweep6 sw, after;

	tap_ok(bpf_map_lookup_elem(bpf_map__fd(skel->maps.sweeper6), &zero, &sw) == 0 &&
		       sw.epoch == skel->rodata->xm_prog_epoch + 1,
	       "sweeper6 armed by the first IPv6 flow");
	tap_ok(n > 0 && last_half > 0,
	       "flows6 holds the tests' flows (%d entries, %d in the table's second half)", n,
	       last_half);
	/* 3 hours on: past every timeout but tcp-established's (2 h 4 min) */
	skel->bss->xm_clock_ahead_s = 3 * 3600;
	for (int i = 0; i < SWEEP_WAIT_MS / 100 && left; i++) {
		usleep(100 * 1000);
		left = flows6_count();
	}
	TAP_EQ(left, 0, "sweeper6: every idle IPv6 flow removed, both entries, within %d s",
	       SWEEP_WAIT_MS / 1000);
	TAP_EQ(nat6_mappings_left(), 0,
	       "sweeper6: the last flow of each NAT66 mapping took the mapping with it "
	       "(test_nat_mapping6's)");
	skel->bss->xm_clock_ahead_s = 0;
	memset(&after, 0, sizeof(after));
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.sweeper6), &zero, &after);
	tap_ok(after.slices - sw.slices >= groups / SWEEP6_SLICE && after.expired > sw.expired,
	       "sweeper6: the walk went in slices of %d groups (%u runs for %u groups, "
	       "%llu flows expired)",
	       SWEEP6_SLICE, after.slices - sw.slices, groups,
	       (unsigned long long)(after.expired - sw.expired));
}

/* A masqueraded host's packet too big for the way out: the Packet Too
 * Big comes from the router's address on the host's side (bk0), not
 * from the remote the host sent to. */
static void test_too_big_masq6(void)
{
	struct spec6 u = backend6(IPPROTO_UDP, 30100, a_client, 53, 0);
	struct frame fin, got;
	uint32_t rc;

	u.payload = 1300;
	fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, 1280);
	fin = F6(u);
	cnt_mark();
	run_tc(if_bk0, &fin, &got, &rc);
	TAP_EQ(rc, TC_ACT_REDIRECT,
	       "udp6 masqueraded, 1356 bytes to a 1280-byte egress: sent back");
	cnt_check(XM_C_FRAG_NEEDED_SENT, 1, "udp6 masqueraded too big");
	tap_ok(got.len > 54 && !memcmp(got.b + 14 + 8, a_bk0.b, 16) &&
		       !memcmp(got.b + 14 + 24, a_backend.b, 16) && got.b[54] == 2,
	       "packet too big to a masqueraded host: from the router's [fd00:8::1] (bk0), to "
	       "the host");
	fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, 0);
}

/* ---- 6->4: IPv6 clients of an IPv4 backend ---------------------------- */

/* The IPv4 frame 6->4 makes of IPv6 frame `in`: every field checked
 * against what RFC 7915 says it must be, the L4 bytes past the ports
 * unchanged but the checksum, both checksums against full recomputation. */
static void check_to_v4(const char *what, const struct frame *in, const struct frame *got,
			uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport)
{
	const uint8_t *ip6 = in->b + 14, *ip = got->b + 14;
	size_t l4len = (size_t)ip6[4] << 8 | ip6[5], coff = ip6[6] == IPPROTO_TCP ? 16 : 6;
	struct pkt_csums c;

	if (!tap_ok(got->len == in->len - 20, "%s: IPv4 frame 20 bytes shorter (%zu -> %zu)", what,
		    in->len, got->len))
		return;
	tap_ok(memcmp(got->b, MAC_BACKEND, 6) == 0 && memcmp(got->b + 6, MAC_BK0, 6) == 0,
	       "%s: to the backend's MAC from bk0's", what);
	TAP_EQ(pkt_get16(got->b + 12), 0x0800, "%s: Ethernet type IPv4", what);
	TAP_EQ(ip[0], 0x45, "%s: version 4, 20-byte header", what);
	TAP_EQ(ip[1], (uint8_t)(ip6[0] << 4 | ip6[1] >> 4), "%s: TOS = traffic class", what);
	TAP_EQ(pkt_get16(ip + 2), l4len + 20, "%s: total length = payload length + 20", what);
	TAP_EQ(pkt_get16(ip + 4), 0, "%s: ID 0", what);
	TAP_EQ(pkt_get16(ip + 6), 0x4000, "%s: DF set, no fragment", what);
	TAP_EQ(ip[8], ip6[7] - 1, "%s: TTL = hop limit - 1", what);
	TAP_EQ(ip[9], ip6[6], "%s: protocol = next header", what);
	tap_ok(memcmp(ip + 12, &saddr, 4) == 0 && memcmp(ip + 16, &daddr, 4) == 0,
	       "%s: addresses router's IPv4 -> backend", what);
	TAP_EQ(pkt_get16(ip + 20), sport, "%s: source port", what);
	TAP_EQ(pkt_get16(ip + 22), dport, "%s: destination port", what);
	tap_ok(memcmp(ip + 24, ip6 + 44, coff - 4) == 0 &&
		       memcmp(ip + 20 + coff + 2, ip6 + 40 + coff + 2, l4len - coff - 2) == 0,
	       "%s: the rest of the L4 bytes unchanged", what);
	c = pkt_check_csums(got->b, got->len);
	tap_ok(c.ok && c.ip_got == c.ip_want, "%s: IPv4 header checksum 0x%04x, recomputed 0x%04x",
	       what, c.ip_got, c.ip_want);
	tap_ok(c.ok && c.l4_got == c.l4_want, "%s: L4 checksum 0x%04x, recomputed 0x%04x", what,
	       c.l4_got, c.l4_want);
}

/* Frame in through XDP (xmasq_xdp, which hands it to xmasq_xdp6 or
 * xmasq_xdp46): redirected, byte for byte what tc made of it (want),
 * counted as XDP's. */
static void xdp64(const char *what, int ifindex, const struct frame *in, const struct frame *want)
{
	char name[160];
	struct frame got;

	snprintf(name, sizeof(name), "%s, by XDP: the same bytes as by tc", what);
	cnt_mark();
	run_case(0, name, ifindex, in, XDP_REDIRECT, want, &got);
	cnt_check(XM_C_FWD_XDP, 1, name);
}

/* The IPv6 frame 6->4 makes of IPv4 frame `in` (a reply to the client). */
static void check_to_v6(const char *what, const struct frame *in, const struct frame *got,
			struct addr6 src, struct addr6 dst, uint16_t sport, uint16_t dport)
{
	const uint8_t *ip = in->b + 14, *ip6 = got->b + 14;
	size_t l4len = pkt_get16(ip + 2) - 20u, coff = ip[9] == IPPROTO_TCP ? 16 : 6;

	if (!tap_ok(got->len == in->len + 20, "%s: IPv6 frame 20 bytes longer (%zu -> %zu)", what,
		    in->len, got->len))
		return;
	tap_ok(memcmp(got->b, MAC_CLIENT, 6) == 0 && memcmp(got->b + 6, MAC_PUB0, 6) == 0,
	       "%s: to the client's MAC from pub0's", what);
	TAP_EQ(pkt_get16(got->b + 12), 0x86dd, "%s: Ethernet type IPv6", what);
	TAP_EQ(ip6[0] >> 4, 6, "%s: version 6", what);
	TAP_EQ((uint8_t)(ip6[0] << 4 | ip6[1] >> 4), ip[1], "%s: traffic class = TOS", what);
	tap_ok((ip6[1] & 0x0f) == 0 && ip6[2] == 0 && ip6[3] == 0, "%s: flow label 0", what);
	TAP_EQ(pkt_get16(ip6 + 4), l4len, "%s: payload length = total length - 20", what);
	TAP_EQ(ip6[6], ip[9], "%s: next header = protocol", what);
	TAP_EQ(ip6[7], ip[8] - 1, "%s: hop limit = TTL - 1", what);
	tap_ok(memcmp(ip6 + 8, src.b, 16) == 0 && memcmp(ip6 + 24, dst.b, 16) == 0,
	       "%s: addresses: from the one the client used, to the client", what);
	TAP_EQ(pkt_get16(ip6 + 40), sport, "%s: source port", what);
	TAP_EQ(pkt_get16(ip6 + 42), dport, "%s: destination port", what);
	tap_ok(memcmp(ip6 + 44, ip + 24, coff - 4) == 0 &&
		       memcmp(ip6 + 40 + coff + 2, ip + 20 + coff + 2, l4len - coff - 2) == 0,
	       "%s: the rest of the L4 bytes unchanged", what);
	check_csum6(what, got);
}

/* The IPv4 backend's packet to the router's daddr, as a spec (a payload
 * of 24 bytes) */
static struct pkt_spec backend4_spec(uint32_t daddr, uint8_t proto, uint16_t sport, uint16_t dport,
				     uint8_t flags, uint8_t tos)
{
	static const uint8_t payload[24] = "reply from an IPv4 host";
	struct pkt_spec ps = {
		.dmac = MAC_BK0,
		.smac = MAC_BACKEND,
		.saddr = A_BACKEND,
		.daddr = daddr,
		.sport = sport,
		.dport = dport,
		.proto = proto,
		.ttl = 64,
		.tcp_flags = flags,
		.frag = 0x4000,
		.payload = payload,
		.plen = sizeof(payload),
		.tos = tos,
	};

	return ps;
}

/* ... as a frame (backend4: to bk0's address) */
static struct frame backend4_to(uint32_t daddr, uint8_t proto, uint16_t sport, uint16_t dport,
				uint8_t flags, uint8_t tos)
{
	struct pkt_spec ps = backend4_spec(daddr, proto, sport, dport, flags, tos);
	struct frame f;

	pkt_build(&f, &ps);
	return f;
}

static struct frame backend4(uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags,
			     uint8_t tos)
{
	return backend4_to(A_BK0, proto, sport, dport, flags, tos);
}

static uint64_t v4_flows_live(void)
{
	uint64_t n = 0;

	for (size_t i = 0; i < ct_tab.nslots; i++)
		if (ct_tab.slots[i].key.ct_state == XM_CT_LIVE)
			n++;
	return n;
}

static void test_6to4_tcp(void)
{
	struct spec6 syn = client6(IPPROTO_TCP, 24000, 8443, TCP_SYN);
	struct frame in = F6(syn), got, back;
	struct xm_flow6 o = { 0 }, r = { 0 };
	struct xm_flow stub;
	uint64_t v4_before = v4_flows_live();
	uint32_t rc;

	syn.tclass = 0x28;
	in = F6(syn);
	cnt_mark();
	run_case(1, "6->4 tcp SYN [2001:db8:1::1]:8443 -> 198.18.0.2:80", if_pub0, &in,
		 TC_ACT_REDIRECT, NULL, &got);
	check_to_v4("6->4 tcp SYN", &in, &got, A_BK0, A_BACKEND, 24000, 80);
	cnt_check(XM_C_FLOW_NEW_6TO4, 1, "6->4 tcp SYN");
	cnt_check(XM_C_FLOW_NEW_IPV6, 1, "6->4 tcp SYN");
	cnt_check(XM_C_FWD_TC, 1, "6->4 tcp SYN");
	if (tap_ok(flow6_get(a_client, a_pub0, 24000, 8443, IPPROTO_TCP, &o) == 0, "6->4: original "
										   "entry under "
										   "the client's "
										   "IPv6 tuple")) {
		TAP_EQ(o.flags & (XM_FLOW6_TO_V4 | XM_FLOW_REPLY), XM_FLOW6_TO_V4,
		       "6->4: original entry flagged 6->4, not reply");
		tap_ok(memcmp(o.new_saddr, A6("::ffff:198.18.0.1").b, 16) == 0 &&
			       memcmp(o.new_daddr, A6("::ffff:198.18.0.2").b, 16) == 0,
		       "6->4: original entry rewrites to ::ffff:198.18.0.1 -> ::ffff:198.18.0.2");
		TAP_EQ(o.rule_id, RULE_64_TCP, "6->4: original entry's rule");
	}
	if (tap_ok(flow6_get(A6("::ffff:198.18.0.2"), A6("::ffff:198.18.0.1"), 80, 24000,
			     IPPROTO_TCP, &r) == 0,
		   "6->4: reply entry under the IPv4 reply tuple, mapped (client's port kept)"))
		TAP_EQ(r.flags & (XM_FLOW6_TO_V4 | XM_FLOW_REPLY), XM_FLOW6_TO_V4 | XM_FLOW_REPLY,
		       "6->4: reply entry flagged 6->4 and reply");
	if (tap_ok(flow_get(A_BACKEND, A_BK0, 80, 24000, IPPROTO_TCP, &stub) == 0, "6->4: the IPv4 "
										   "table holds "
										   "the stub under "
										   "the reply "
										   "tuple")) {
		tap_ok(stub.out_slot == XM_SLOT_IPV6_FLOW && stub.in_slot == XM_SLOT_IPV6_FLOW &&
			       stub.flags == XM_FLOW_REPLY && stub.rule_id == RULE_64_TCP &&
			       !stub.new_saddr && !stub.new_daddr,
		       "6->4: stub: slots 0xff, reply, the rule, nothing else (slots %u/%u flags "
		       "0x%x)",
		       stub.out_slot, stub.in_slot, stub.flags);
	}
	TAP_EQ(v4_flows_live(), v4_before + 1, "6->4: one entry in the IPv4 table (the stub)");

	/* the backend's SYN-ACK, IPv4: xmasq_tc finds the stub and hands it
	 * to xmasq_tc46, which sends it to the client as IPv6 */
	in = backend4(IPPROTO_TCP, 80, 24000, TCP_SYN | TCP_ACK, 0x28);
	cnt_mark();
	run_case(1, "6->4 tcp SYN-ACK from 198.18.0.2 back to the client", if_bk0, &in,
		 TC_ACT_REDIRECT, NULL, &back);
	check_to_v6("6->4 tcp SYN-ACK", &in, &back, a_pub0, a_client, 8443, 24000);
	cnt_check(XM_C_FWD_TC, 1, "6->4 tcp SYN-ACK");
	flow6_get(a_client, a_pub0, 24000, 8443, IPPROTO_TCP, &o);
	flow6_get(A6("::ffff:198.18.0.2"), A6("::ffff:198.18.0.1"), 80, 24000, IPPROTO_TCP, &r);
	TAP_EQ(o.state, XM_ST_ESTABLISHED, "6->4 tcp SYN-ACK: original entry ESTABLISHED");
	TAP_EQ(r.packets, 1, "6->4 tcp SYN-ACK: reply entry counted it");

	/* XDP (xmasq_xdp46) translates it to the same bytes */
	xdp64("6->4 tcp SYN-ACK", if_bk0, &in, &back);

	/* data both ways */
	syn.tcp_flags = TCP_ACK;
	syn.payload = 100;
	in = F6(syn);
	run_case(1, "6->4 tcp data to the backend", if_pub0, &in, TC_ACT_REDIRECT, NULL, &got);
	check_to_v4("6->4 tcp data", &in, &got, A_BK0, A_BACKEND, 24000, 80);
	xdp64("6->4 tcp data to the backend", if_pub0, &in, &got);
	in = backend4(IPPROTO_TCP, 80, 24000, TCP_ACK | TCP_PSH, 0);
	run_case(1, "6->4 tcp data back", if_bk0, &in, TC_ACT_REDIRECT, NULL, &back);
	check_to_v6("6->4 tcp data back", &in, &back, a_pub0, a_client, 8443, 24000);
	xdp64("6->4 tcp data back", if_bk0, &in, &back);
	{ /* the backend's own unfinished checksum: XDP leaves it to tc */
		struct frame partial = in;
		uint8_t *ip = partial.b + 14;
		uint32_t sum = pkt_sum(ip + 12, 8, 0) + IPPROTO_TCP + (pkt_get16(ip + 2) - 20u);

		pkt_put16(ip + 20 + 16, pkt_fold(sum));
		cnt_mark();
		run_xdp(if_bk0, &partial, &got, &rc);
		TAP_EQ(rc, XDP_PASS, "6->4 reply with an unfinished checksum by XDP: to tc");
		cnt_check(XM_C_PASS_6TO4_TO_TC, 1, "6->4 reply with an unfinished checksum by XDP");
	}

	/* a second client on the same port: another masquerade port, from the
	 * IPv4 allocator */
	{
		struct spec6 b = client6(IPPROTO_TCP, 24000, 8443, TCP_SYN);
		uint16_t port;

		b.src = a_client2;
		memcpy(b.smac, MAC_CLIENT2, 6);
		in = F6(b);
		run_case(1, "6->4 tcp second client from port 24000", if_pub0, &in, TC_ACT_REDIRECT,
			 NULL, &got);
		port = pkt_get16(got.b + 14 + 20);
		tap_ok(port != 24000 && port >= XM_DEFAULT_PORT_LO,
		       "6->4 tcp second client: got port %u, not 24000", port);
		check_to_v4("6->4 tcp second client", &in, &got, A_BK0, A_BACKEND, port, 80);
		tap_ok(flow_get(A_BACKEND, A_BK0, 80, port, IPPROTO_TCP, &stub) == 0 &&
			       stub.out_slot == XM_SLOT_IPV6_FLOW,
		       "6->4 tcp second client: its stub under port %u", port);
	}
}

/* IPv4 frame f with n bytes of options (a multiple of 4) after its
 * header's first 20: header length, total length and checksum mended. */
static struct frame with_ip_opts(struct frame f, const uint8_t *opts, size_t n)
{
	uint8_t *ip = f.b + 14;

	memmove(ip + 20 + n, ip + 20, f.len - 34);
	memcpy(ip + 20, opts, n);
	ip[0] = (uint8_t)(0x40 | (20 + n) / 4);
	pkt_put16(ip + 2, (uint16_t)(pkt_get16(ip + 2) + n));
	f.len += n;
	pkt_put16(ip + 10, pkt_ip_csum(ip));
	return f;
}

/* The 6->4 udp flow's answer (53 -> 6000) with IPv4 options: they are
 * not translated (RFC 7915 section 4.1), so the IPv6 packet is the one
 * the answer without them made (`back`); an unexpired source route, or
 * options that do not parse, and the answer is not translated at all. */
static void test_ip_options46(const struct frame *back)
{
	static const struct {
		const char *what;
		uint8_t opt[12];
		size_t n;
		int translated;
	} c[] = {
		{ "no-operation x3, end of list", { 1, 1, 1, 0 }, 4, 1 },
		{ "record route, one address", { 7, 7, 4, 0, 0, 0, 0, 0 }, 8, 1 },
		{ "loose source route done with (pointer past it)",
		  { 0x83, 7, 8, 198, 18, 0, 9, 0 },
		  8,
		  1 },
		{ "loose source route with an address left",
		  { 0x83, 7, 4, 198, 18, 0, 9, 0 },
		  8,
		  0 },
		{ "strict source route with an address left",
		  { 0x89, 7, 4, 198, 18, 0, 9, 0 },
		  8,
		  0 },
		{ "an option of length 1", { 0x44, 1, 0, 0 }, 4, 0 },
		{ "an option longer than the header", { 1, 1, 7, 9, 0, 0, 0, 0 }, 8, 0 },
	};
	struct frame in, got;
	char what[160];
	uint32_t rc;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		in = with_ip_opts(backend4(IPPROTO_UDP, 53, 6000, 0, 0), c[i].opt, c[i].n);
		snprintf(what, sizeof(what), "6->4 udp answer with IPv4 options (%s): %s",
			 c[i].what, c[i].translated ? "translated as without them" : "dropped");
		cnt_mark();
		run_case(1, what, if_bk0, &in, c[i].translated ? TC_ACT_REDIRECT : TC_ACT_SHOT,
			 c[i].translated ? back : NULL, &got);
		cnt_check(c[i].translated ? XM_C_FWD_TC : XM_C_DROP_6TO4_UNTRANSLATABLE, 1, what);
	}
	/* the client's side's MTU: the options are not counted, they go */
	in = with_ip_opts(backend4(IPPROTO_UDP, 53, 6000, 0, 0), c[1].opt, c[1].n);
	fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, (uint16_t)(back->len - 14));
	run_case(1,
		 "6->4 udp answer with 8 bytes of IPv4 options, just fitting the client's side "
		 "without them: translated",
		 if_bk0, &in, TC_ACT_REDIRECT, back, &got);
	fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, (uint16_t)(back->len - 15));
	cnt_mark();
	run_case(1,
		 "6->4 udp answer with IPv4 options, 1 byte too big without them: frag-needed "
		 "back to the backend",
		 if_bk0, &in, TC_ACT_REDIRECT, NULL, &got);
	cnt_check(XM_C_FRAG_NEEDED_SENT, 1, "6->4 answer with IPv4 options, too big");
	tap_ok(got.len > 34 && got.b[14 + 9] == IPPROTO_ICMP && got.b[34] == 3 && got.b[35] == 4 &&
		       pkt_get16(got.b + 34 + 8 + 2) == pkt_get16(in.b + 14 + 2),
	       "6->4 answer with IPv4 options, too big: an ICMP frag-needed quoting its header as "
	       "sent (total length %u)",
	       pkt_get16(in.b + 14 + 2));
	fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, 0);
	in = with_ip_opts(backend4(IPPROTO_UDP, 53, 6000, 0, 0), c[0].opt, c[0].n);
	cnt_mark();
	run_xdp(if_bk0, &in, &got, &rc);
	TAP_EQ(rc, XDP_PASS, "6->4 udp answer with IPv4 options by XDP: to tc");
	cnt_check(XM_C_PASS_6TO4_TO_TC, 1, "6->4 udp answer with IPv4 options by XDP");
}

static void test_6to4_udp(void)
{
	struct spec6 q = client6(IPPROTO_UDP, 6000, 5354, 0);
	struct frame in = F6(q), got, back;
	struct xm_flow6 o;

	run_case(1, "6->4 udp [2001:db8:1::1]:5354 -> 198.18.0.2:53", if_pub0, &in, TC_ACT_REDIRECT,
		 NULL, &got);
	check_to_v4("6->4 udp", &in, &got, A_BK0, A_BACKEND, 6000, 53);
	in = backend4(IPPROTO_UDP, 53, 6000, 0, 0);
	run_case(1, "6->4 udp answer back to the client", if_bk0, &in, TC_ACT_REDIRECT, NULL,
		 &back);
	check_to_v6("6->4 udp answer", &in, &back, a_pub0, a_client, 5354, 6000);
	xdp64("6->4 udp answer back to the client", if_bk0, &in, &back);
	test_ip_options46(&back);
	in = F6(q);
	run_tc(if_pub0, &in, &got, &(uint32_t){ 0 });
	xdp64("6->4 udp to the backend", if_pub0, &in, &got);
	flow6_get(a_client, a_pub0, 6000, 5354, IPPROTO_UDP, &o);
	TAP_EQ(o.state, XM_ST_ASSURED, "6->4 udp: answered: ASSURED");
	/* an IPv4 reply with no flow of ours behind its stub (the flow went):
	 * the kernel's */
	in = backend4(IPPROTO_UDP, 53, 6001, 0, 0);
	cnt_mark();
	run_case(1, "udp from the backend to a port no flow holds: passed", if_bk0, &in, TC_ACT_OK,
		 &in, &got);
	tap_ok(flow_get(A_BACKEND, A_BK0, 53, 6000, IPPROTO_UDP, &(struct xm_flow){ 0 }) == 0,
	       "6->4 udp: its stub in the IPv4 table");
}

/* Fragment `from`..`from + n` of the L4 part of IPv6 frame whole (a
 * fragment header with identification id; more: not the last). */
static struct frame fragment6(const struct frame *whole, size_t from, size_t n, int more,
			      uint32_t id)
{
	struct frame f = { 0 };
	uint8_t *ip = f.b + 14, *fh = ip + 40;
	size_t plen = 8 + n;

	memcpy(f.b, whole->b, 14 + 40);
	fh[0] = whole->b[14 + 6];
	fh[2] = (uint8_t)((from >> 8) & 0xff);
	fh[3] = (uint8_t)((from & 0xf8) | (more ? 1 : 0));
	fh[4] = (uint8_t)(id >> 24);
	fh[5] = (uint8_t)(id >> 16);
	fh[6] = (uint8_t)(id >> 8);
	fh[7] = (uint8_t)id;
	memcpy(fh + 8, whole->b + 54 + from, n);
	ip[6] = 44;
	ip[4] = (uint8_t)(plen >> 8);
	ip[5] = (uint8_t)plen;
	f.len = 14 + 40 + plen;
	return f;
}

/* 6->4 (RFC 7915 section 5.1): hop-by-hop padding, destination options
 * and a routing header with no segments left are ignored, so the IPv4
 * packet is byte for byte the one the same packet without them makes; a
 * routing header with a segment left is not ours to translate. */
static void test_ext_headers64(const uint8_t padn[8], const uint8_t route0[8],
			       const uint8_t route1[8])
{
	static const uint8_t dopts16[16] = { 0, 1, 1, 12 }; /* 16 bytes: PadN of 12 */
	struct frame bare[2] = { F6(client6(IPPROTO_UDP, 6000, 5354, 0)),
				 F6(client6(IPPROTO_TCP, 24100, 8443, TCP_SYN)) };
	const char *name[2] = { "udp", "tcp SYN" };
	struct frame want, in, got;
	char what[160];

	for (int i = 0; i < 2; i++) {
		struct frame ext[3] = {
			with_ext(bare[i], 60, padn, 8),
			with_ext(bare[i], 0, padn, 8),
			with_ext(with_ext(with_ext(bare[i], 60, dopts16, sizeof(dopts16)), 43,
					  route0, 8),
				 0, padn, 8),
		};
		const char *ext_name[3] = {
			"destination options",
			"hop-by-hop padding",
			"hop-by-hop padding, a routing header done with, 16 bytes of destination "
			"options",
		};

		snprintf(what, sizeof(what), "6->4 %s without extension headers", name[i]);
		run_case(1, what, if_pub0, &bare[i], TC_ACT_REDIRECT, NULL, &want);
		for (int e = 0; e < 3; e++) {
			snprintf(what, sizeof(what),
				 "6->4 %s with %s: translated, the IPv4 packet the one without "
				 "them "
				 "makes",
				 name[i], ext_name[e]);
			cnt_mark();
			run_case(1, what, if_pub0, &ext[e], TC_ACT_REDIRECT, &want, &got);
			cnt_check(XM_C_FWD_TC, 1, what);
		}
	}
	in = with_ext(bare[0], 43, route1, 8);
	cnt_mark();
	run_case(1, "6->4 udp with a routing header with a segment left: passed untouched", if_pub0,
		 &in, TC_ACT_OK, &in, &got);
	cnt_check(XM_C_PASS_IPV6_EXT, 1, "6->4, routing header with a segment left");
}

static void test_ext_headers6(void)
{
	static const uint8_t padn[8] = { 0, 0, 1, 4, 0, 0, 0, 0 };   /* PadN, 4 bytes */
	static const uint8_t route0[8] = { 0, 0, 4, 0, 0, 0, 0, 0 }; /* segments left 0 */
	static const uint8_t route1[8] = { 0, 0, 4, 1, 0, 0, 0, 0 }; /* segments left 1 */
	struct spec6 q = client6(IPPROTO_UDP, 7000, 5353, 0);
	struct spec6 fwd = to_backend(q, a_bk0, 7000, 53);
	struct frame in, want, got;
	uint32_t rc;

	/* destination options, hop-by-hop padding, a routing header done
	 * with: walked, the packet forwarded with them in place */
	in = with_ext(F6(q), 60, padn, sizeof(padn));
	want = with_ext(F6(fwd), 60, padn, sizeof(padn));
	run_case(1, "udp6 with destination options: forwarded, the header kept", if_pub0, &in,
		 TC_ACT_REDIRECT, &want, &got);
	cnt_mark();
	run_xdp(if_pub0, &in, &got, &rc);
	TAP_EQ(rc, XDP_PASS, "udp6 with destination options by XDP: to tc");
	cnt_check(XM_C_PASS_IPV6_TO_TC, 1, "udp6 with destination options by XDP");
	in = with_ext(F6(q), 0, padn, sizeof(padn));
	want = with_ext(F6(fwd), 0, padn, sizeof(padn));
	run_case(1, "udp6 with a hop-by-hop header of padding: forwarded", if_pub0, &in,
		 TC_ACT_REDIRECT, &want, &got);
	in = with_ext(with_ext(F6(q), 60, padn, sizeof(padn)), 43, route0, sizeof(route0));
	want = with_ext(with_ext(F6(fwd), 60, padn, sizeof(padn)), 43, route0, sizeof(route0));
	run_case(1,
		 "udp6 with a routing header (no segments left) and destination options: "
		 "forwarded",
		 if_pub0, &in, TC_ACT_REDIRECT, &want, &got);
	in = with_ext(F6(q), 43, route1, sizeof(route1));
	cnt_mark();
	run_case(1, "udp6 with a routing header with a segment left: passed untouched", if_pub0,
		 &in, TC_ACT_OK, &in, &got);
	cnt_check(XM_C_PASS_IPV6_EXT, 1, "routing header with a segment left");
	test_ext_headers64(padn, route0, route1);
}

/* A UDP datagram in two fragments: the first (UDP header) makes the
 * flow, the later one follows it; the datagram reassembled from what
 * leaves has a right checksum for its new addresses and ports. */
static void test_fragments6(void)
{
	struct spec6 q = client6(IPPROTO_UDP, 7100, 5353, 0);
	struct frame whole, f1, f2, o1, o2, in;
	uint8_t re[14 + 40 + 64] = { 0 };
	uint16_t got_sum, want_sum;
	uint32_t rc;

	q.payload = 40; /* 48 bytes of UDP: 16 in the first fragment, 32 in the last */
	whole = F6(q);
	f1 = fragment6(&whole, 0, 16, 1, 0x1234);
	f2 = fragment6(&whole, 16, 32, 0, 0x1234);
	cnt_mark();
	run_case(1, "udp6 first fragment: a new flow, forwarded", if_pub0, &f1, TC_ACT_REDIRECT,
		 NULL, &o1);
	cnt_check(XM_C_FLOW_NEW_IPV6, 1, "udp6 first fragment");
	run_case(1, "udp6 later fragment: follows its first", if_pub0, &f2, TC_ACT_REDIRECT, NULL,
		 &o2);
	cnt_check(XM_C_FRAG_LATER, 1, "udp6 later fragment");
	tap_ok(o1.len == f1.len && o2.len == f2.len && memcmp(o1.b + 14 + 8, a_bk0.b, 16) == 0 &&
		       memcmp(o1.b + 14 + 24, a_backend.b, 16) == 0 &&
		       memcmp(o2.b + 14 + 8, a_bk0.b, 16) == 0 &&
		       memcmp(o2.b + 14 + 24, a_backend.b, 16) == 0,
	       "udp6 fragments: both to [fd00:8::2] from [fd00:8::1]");
	tap_ok(memcmp(o1.b + 54, f1.b + 54, 8) == 0 && memcmp(o2.b + 54, f2.b + 54, 8) == 0,
	       "udp6 fragments: fragment headers unchanged");
	TAP_EQ(pkt_get16(o1.b + 62 + 2), 53, "udp6 first fragment: to port 53");
	tap_ok(memcmp(o2.b + 62, f2.b + 62, 32) == 0, "udp6 later fragment: its data unchanged");
	/* reassembled: the IPv6 header of the first, the two data parts */
	memcpy(re, o1.b, 54);
	re[14 + 6] = IPPROTO_UDP;
	re[14 + 4] = 0;
	re[14 + 5] = 48;
	memcpy(re + 54, o1.b + 62, 16);
	memcpy(re + 54 + 16, o2.b + 62, 32);
	got_sum = pkt_get16(re + 54 + 6);
	want_sum = l4_csum6(re + 14, 48, IPPROTO_UDP, 6);
	tap_ok(got_sum == want_sum,
	       "udp6 fragments: the reassembled datagram's checksum 0x%04x equals full "
	       "recomputation 0x%04x",
	       got_sum, want_sum);
	/* XDP leaves fragments to tc */
	cnt_mark();
	run_xdp(if_pub0, &f2, &o2, &rc);
	TAP_EQ(rc, XDP_PASS, "udp6 later fragment by XDP: to tc");
	/* a later fragment of a datagram never seen: the kernel's (it
	 * reassembles what is for the router itself) */
	in = fragment6(&whole, 16, 32, 0, 0x9999);
	cnt_mark();
	run_case(1, "udp6 later fragment of an unknown datagram: passed", if_pub0, &in, TC_ACT_OK,
		 &in, &o2);
	cnt_check(XM_C_PASS_FRAGMENT, 1, "unknown later fragment");
	/* ... but from a masqueraded prefix it would leave untranslated */
	{
		struct spec6 m = backend6(IPPROTO_UDP, 9100, A6("2001:db8:1::10"), 53, 0);
		struct frame mw = F6(m);

		in = fragment6(&mw, 16, 8, 0, 0x7777);
		cnt_mark();
		run_case(1, "udp6 later fragment from a masqueraded host, unknown: dropped", if_bk0,
			 &in, TC_ACT_SHOT, NULL, &o2);
		cnt_check(XM_C_DROP_FRAG_UNKNOWN, 1,
			  "unknown later fragment from a masqueraded host");
	}
}

/* The IPv4 fragment 6->4 makes of IPv6 fragment `in` (its fragment
 * header right after the IPv6 header): every header field RFC 7915
 * section 5.1.1 sets, the IPv4 header checksum recomputed, its data
 * (past the ports of a first fragment) unchanged but the checksum. */
static void check_frag_to_v4(const char *what, const struct frame *in, const struct frame *got,
			     uint16_t sport, uint16_t dport)
{
	const uint8_t *ip6 = in->b + 14, *fh = ip6 + 40, *ip = got->b + 14;
	size_t dlen = pkt_get16(ip6 + 4) - 8u, from = (size_t)pkt_get16(fh + 2) & 0xfff8;
	int more = fh[3] & 1;

	if (!tap_ok(got->len == in->len - 28, "%s: IPv4 frame 28 bytes shorter (%zu -> %zu)", what,
		    in->len, got->len))
		return;
	tap_ok(memcmp(got->b, MAC_BACKEND, 6) == 0 && memcmp(got->b + 6, MAC_BK0, 6) == 0,
	       "%s: to the backend's MAC from bk0's", what);
	TAP_EQ(pkt_get16(got->b + 12), 0x0800, "%s: Ethernet type IPv4", what);
	TAP_EQ(ip[0], 0x45, "%s: version 4, 20-byte header", what);
	TAP_EQ(ip[1], (uint8_t)(ip6[0] << 4 | ip6[1] >> 4), "%s: TOS = traffic class", what);
	TAP_EQ(pkt_get16(ip + 2), dlen + 20,
	       "%s: total length = payload length - 8 (fragment header) + 20", what);
	TAP_EQ(pkt_get16(ip + 4), pkt_get16(fh + 6), "%s: ID = the identification's low 16 bits",
	       what);
	TAP_EQ(pkt_get16(ip + 6), (more ? 0x2000 : 0) | from / 8,
	       "%s: DF clear, MF %d, offset %zu copied", what, more, from);
	TAP_EQ(ip[8], ip6[7] - 1, "%s: TTL = hop limit - 1", what);
	TAP_EQ(ip[9], fh[0], "%s: protocol = the fragment header's next header", what);
	tap_ok(memcmp(ip + 12, &(uint32_t){ A_BK0 }, 4) == 0 &&
		       memcmp(ip + 16, &(uint32_t){ A_BACKEND }, 4) == 0,
	       "%s: addresses router's IPv4 -> backend", what);
	TAP_EQ(pkt_ip_csum(ip), pkt_get16(ip + 10), "%s: IPv4 header checksum recomputed", what);
	if (from == 0) {
		TAP_EQ(pkt_get16(ip + 20), sport, "%s: source port", what);
		TAP_EQ(pkt_get16(ip + 22), dport, "%s: destination port", what);
		tap_ok(memcmp(ip + 24, fh + 12, 2) == 0 && memcmp(ip + 28, fh + 16, dlen - 8) == 0,
		       "%s: the rest of the data unchanged but the checksum", what);
	} else {
		tap_ok(memcmp(ip + 20, fh + 8, dlen) == 0, "%s: its data unchanged", what);
	}
}

/* The IPv6 fragment 6->4 makes of IPv4 fragment `in` (a reply to the
 * client): every header field RFC 7915 section 4.1 sets, the fragment
 * header's too, its data (past the ports of a first fragment) unchanged
 * but the checksum. */
static void check_frag_to_v6(const char *what, const struct frame *in, const struct frame *got,
			     uint16_t sport, uint16_t dport)
{
	const uint8_t *ip = in->b + 14, *ip6 = got->b + 14, *fh = ip6 + 40;
	size_t dlen = pkt_get16(ip + 2) - 20u, from = (size_t)(pkt_get16(ip + 6) & 0x1fff) * 8;
	int more = (pkt_get16(ip + 6) & 0x2000) != 0;

	if (!tap_ok(got->len == in->len + 28, "%s: IPv6 frame 28 bytes longer (%zu -> %zu)", what,
		    in->len, got->len))
		return;
	tap_ok(memcmp(got->b, MAC_CLIENT, 6) == 0 && memcmp(got->b + 6, MAC_PUB0, 6) == 0,
	       "%s: to the client's MAC from pub0's", what);
	TAP_EQ(pkt_get16(got->b + 12), 0x86dd, "%s: Ethernet type IPv6", what);
	TAP_EQ(ip6[0] >> 4, 6, "%s: version 6", what);
	TAP_EQ((uint8_t)(ip6[0] << 4 | ip6[1] >> 4), ip[1], "%s: traffic class = TOS", what);
	tap_ok((ip6[1] & 0x0f) == 0 && ip6[2] == 0 && ip6[3] == 0, "%s: flow label 0", what);
	TAP_EQ(pkt_get16(ip6 + 4), dlen + 8,
	       "%s: payload length = total length - 20 + 8 (fragment header)", what);
	TAP_EQ(ip6[6], 44, "%s: next header: a fragment header", what);
	TAP_EQ(ip6[7], ip[8] - 1, "%s: hop limit = TTL - 1", what);
	tap_ok(memcmp(ip6 + 8, a_pub0.b, 16) == 0 && memcmp(ip6 + 24, a_client.b, 16) == 0,
	       "%s: addresses: from the one the client used, to the client", what);
	TAP_EQ(fh[0], ip[9], "%s: fragment header: next header = protocol", what);
	TAP_EQ(fh[1], 0, "%s: fragment header: reserved 0", what);
	TAP_EQ(pkt_get16(fh + 2), from | (size_t)more,
	       "%s: fragment header: offset %zu and M %d copied", what, from, more);
	TAP_EQ((uint32_t)fh[4] << 24 | (uint32_t)fh[5] << 16 | pkt_get16(fh + 6), pkt_get16(ip + 4),
	       "%s: fragment header: identification = the IPv4 ID", what);
	if (from == 0) {
		TAP_EQ(pkt_get16(fh + 8), sport, "%s: source port", what);
		TAP_EQ(pkt_get16(fh + 10), dport, "%s: destination port", what);
		tap_ok(memcmp(fh + 12, ip + 24, 2) == 0 && memcmp(fh + 16, ip + 28, dlen - 8) == 0,
		       "%s: the rest of the data unchanged but the checksum", what);
	} else {
		tap_ok(memcmp(fh + 8, ip + 20, dlen) == 0, "%s: its data unchanged", what);
	}
}

/* Fragments of a 6->4 flow, both ways (RFC 7915 sections 4.1 and
 * 5.1.1): the client's UDP datagram in two IPv6 fragments makes the flow
 * and leaves as two IPv4 fragments, the backend's answer in two IPv4
 * fragments reaches the client as two IPv6 ones; each datagram,
 * reassembled from what left, has a right checksum. */
static void test_6to4_fragments(void)
{
	static const uint8_t padn[8] = { 0, 0, 1, 4, 0, 0, 0, 0 };
	struct spec6 q = client6(IPPROTO_UDP, 6100, 5354, 0);
	struct pkt_spec ps = backend4_spec(A_BK0, IPPROTO_UDP, 53, 6100, 0, 0x28);
	struct frame whole, f1, f2, o1, o2, in;
	uint8_t re[14 + 40 + 64] = { 0 };
	uint32_t rc;
	uint16_t len1;
	struct frame f6whole;

	q.payload = 40; /* 48 bytes of UDP: 16 in the first fragment, 32 in the last */
	q.tclass = 0x28;
	whole = F6(q);
	f6whole = whole;
	f1 = fragment6(&whole, 0, 16, 1, 0xabcd1234);
	f2 = fragment6(&whole, 16, 32, 0, 0xabcd1234);
	cnt_mark();
	run_case(1, "6->4 udp first fragment: a new flow, translated", if_pub0, &f1,
		 TC_ACT_REDIRECT, NULL, &o1);
	cnt_check(XM_C_FLOW_NEW_6TO4, 1, "6->4 udp first fragment");
	check_frag_to_v4("6->4 udp first fragment", &f1, &o1, 6100, 53);
	cnt_mark();
	run_case(1, "6->4 udp later fragment: follows its first (frags6)", if_pub0, &f2,
		 TC_ACT_REDIRECT, NULL, &o2);
	cnt_check(XM_C_FRAG_LATER, 1, "6->4 udp later fragment");
	check_frag_to_v4("6->4 udp later fragment", &f2, &o2, 6100, 53);
	/* reassembled: the first's IPv4 header, unfragmented, the two data parts */
	memcpy(re, o1.b, 34);
	pkt_put16(re + 14 + 2, 20 + 48);
	pkt_put16(re + 14 + 6, 0);
	memcpy(re + 34, o1.b + 34, 16);
	memcpy(re + 34 + 16, o2.b + 34, 32);
	TAP_EQ(pkt_get16(re + 34 + 6), pkt_l4_csum(re + 14, re + 34, 48, 6),
	       "6->4 udp fragments: the reassembled IPv4 datagram's UDP checksum equals full "
	       "recomputation");
	cnt_mark();
	run_xdp(if_pub0, &f1, &o2, &rc);
	TAP_EQ(rc, XDP_PASS, "6->4 udp first fragment by XDP: to tc");
	cnt_check(XM_C_PASS_IPV6_TO_TC, 1, "6->4 udp first fragment by XDP");

	/* the backend's answer: 32 bytes of UDP, 16 in each fragment */
	ps.ip_id = 0x5678;
	pkt_build(&whole, &ps);
	f1 = pkt_fragment4(&whole, 0, 16, 1);
	f2 = pkt_fragment4(&whole, 16, 16, 0);
	cnt_mark();
	run_case(1, "6->4 udp answer, first IPv4 fragment: to the client", if_bk0, &f1,
		 TC_ACT_REDIRECT, NULL, &o1);
	cnt_check(XM_C_FWD_TC, 1, "6->4 udp answer, first fragment");
	check_frag_to_v6("6->4 udp answer, first fragment", &f1, &o1, 5354, 6100);
	cnt_mark();
	run_case(1, "6->4 udp answer, later IPv4 fragment: follows its first (frags)", if_bk0, &f2,
		 TC_ACT_REDIRECT, NULL, &o2);
	cnt_check(XM_C_FRAG_LATER, 1, "6->4 udp answer, later fragment");
	cnt_check(XM_C_FWD_TC, 1, "6->4 udp answer, later fragment");
	check_frag_to_v6("6->4 udp answer, later fragment", &f2, &o2, 5354, 6100);
	/* reassembled: the first's IPv6 header, no fragment header */
	memset(re, 0, sizeof(re));
	memcpy(re, o1.b, 54);
	re[14 + 6] = IPPROTO_UDP;
	pkt_put16(re + 14 + 4, 32);
	memcpy(re + 54, o1.b + 62, 16);
	memcpy(re + 54 + 16, o2.b + 62, 16);
	TAP_EQ(pkt_get16(re + 54 + 6), l4_csum6(re + 14, 32, IPPROTO_UDP, 6),
	       "6->4 udp answer fragments: the reassembled IPv6 datagram's UDP checksum equals "
	       "full recomputation");
	cnt_mark();
	run_xdp(if_bk0, &f1, &o2, &rc);
	TAP_EQ(rc, XDP_PASS, "6->4 udp answer, first fragment by XDP: to tc");
	cnt_check(XM_C_PASS_6TO4_TO_TC, 1, "6->4 udp answer, first fragment by XDP");

	/* 28 bytes more on the client's side: a fragment (no DF) too big
	 * for it is dropped, one that just fits is sent */
	len1 = pkt_get16(f1.b + 14 + 2);
	fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, len1 + 27);
	cnt_mark();
	run_case(1, "6->4 udp answer fragment 1 byte too big for the client's side: dropped",
		 if_bk0, &f1, TC_ACT_SHOT, NULL, &o1);
	cnt_check(XM_C_DROP_TOO_BIG, 1, "6->4 fragment too big");
	fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, len1 + 28);
	run_case(1, "6->4 udp answer fragment that just fits the client's side: sent", if_bk0, &f1,
		 TC_ACT_REDIRECT, NULL, &o1);
	fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, 0);

	/* a later IPv4 fragment of no datagram seen: as before, the kernel's
	 * (it is to the router's own address) */
	ps.ip_id = 0x9999;
	pkt_build(&whole, &ps);
	in = pkt_fragment4(&whole, 16, 16, 0);
	cnt_mark();
	run_case(1, "6->4 later IPv4 fragment of an unknown datagram: passed", if_bk0, &in,
		 TC_ACT_OK, &in, &o1);
	cnt_check(XM_C_PASS_FRAGMENT, 1, "6->4 unknown later IPv4 fragment");

	/* a fragment header after destination options: they go, it becomes
	 * IPv4's fragment fields as without them */
	f1 = fragment6(&f6whole, 0, 16, 1, 0x4444);
	run_case(1, "6->4 udp first fragment of another datagram", if_pub0, &f1, TC_ACT_REDIRECT,
		 NULL, &o1);
	in = with_ext(f1, 60, padn, sizeof(padn));
	run_case(1,
		 "6->4 udp first fragment after destination options: translated as the fragment "
		 "without them",
		 if_pub0, &in, TC_ACT_REDIRECT, &o1, &o2);
	/* ... but not destination options after the fragment header: in the
	 * fragmentable part, which the later fragments' offsets count */
	in = f1;
	memmove(in.b + 62 + 8, in.b + 62, in.len - 62);
	memcpy(in.b + 62, padn, sizeof(padn));
	in.b[62] = in.b[54]; /* their next header: the fragment header's */
	in.b[54] = 60;
	pkt_put16(in.b + 14 + 4, pkt_get16(in.b + 14 + 4) + 8);
	in.len += 8;
	cnt_mark();
	run_case(1,
		 "6->4 udp first fragment with destination options after its fragment header: "
		 "dropped",
		 if_pub0, &in, TC_ACT_SHOT, NULL, &o1);
	cnt_check(XM_C_DROP_6TO4_UNTRANSLATABLE, 1,
		  "6->4 destination options after the fragment header");
}

/* tap_frame's match: an IPv6 fragment of identification *(uint32_t *)id. */
static int is_fragment6(const struct frame *f, const void *id)
{
	return f->len >= 14 + 48 && pkt_get16(f->b + 12) == 0x86dd && f->b[14 + 6] == 44 &&
	       ((uint32_t)pkt_get16(f->b + 58) << 16 | pkt_get16(f->b + 60)) ==
		       *(const uint32_t *)id;
}

/* An IPv6 fragment (got) of the 6->4 answer `in` (IPv4, its UDP data
 * from byte `from` of the datagram on): the header's fields, and its data
 * the answer's from there on (the UDP header translated apart). */
static void check_split_piece(const char *what, const struct frame *in, const struct frame *got,
			      size_t from, size_t n, int more)
{
	const uint8_t *ip = in->b + 14, *ip6 = got->b + 14, *fh = ip6 + 40;
	size_t in_from = (size_t)(pkt_get16(ip + 6) & 0x1fff) * 8;

	if (!tap_ok(got->len == 14 + 48 + n, "%s: %zu bytes of data (frame %zu)", what, n,
		    got->len))
		return;
	tap_ok(memcmp(got->b, MAC_CLIENT, 6) == 0 && memcmp(got->b + 6, MAC_PUB0, 6) == 0,
	       "%s: to the client's MAC from pub0's", what);
	TAP_EQ(pkt_get16(ip6 + 4), 8 + n, "%s: payload length: the fragment header and its data",
	       what);
	TAP_EQ(ip6[6], 44, "%s: next header: a fragment header", what);
	TAP_EQ(ip6[7], ip[8] - 1, "%s: hop limit = TTL - 1", what);
	tap_ok(memcmp(ip6 + 8, a_pub0.b, 16) == 0 && memcmp(ip6 + 24, a_client.b, 16) == 0,
	       "%s: addresses: from the one the client used, to the client", what);
	TAP_EQ(fh[0], IPPROTO_UDP, "%s: fragment header: next header UDP", what);
	TAP_EQ(pkt_get16(fh + 2), (in_from + from) | (size_t)more,
	       "%s: fragment header: offset %zu, M %d", what, in_from + from, more);
	TAP_EQ((uint32_t)fh[4] << 24 | (uint32_t)fh[5] << 16 | pkt_get16(fh + 6), pkt_get16(ip + 4),
	       "%s: fragment header: identification = the IPv4 ID", what);
	if (from == 0 && in_from == 0)
		tap_ok(memcmp(fh + 16, ip + 28, n - 8) == 0,
		       "%s: its data the answer's, the UDP header apart", what);
	else
		tap_ok(memcmp(fh + 8, ip + 20 + from, n) == 0,
		       "%s: its data the answer's from byte %zu", what, from);
}

/* RFC 7915 section 4.1: an IPv4 answer without DF (a whole datagram, or
 * a fragment) too big for the client's side as IPv6 goes to it in two
 * IPv6 fragments: the first (out of pub0 by bpf_clone_redirect, seen at
 * its peer) with as much data as fits (a multiple of 8), the second (the
 * run's own frame) the rest; reassembled, the datagram's UDP checksum is
 * right. With DF the backend gets a frag-needed instead, as before. */
static void test_6to4_split(void)
{
	static uint8_t payload[1400];
	struct frame in, got, first, re6;
	struct pkt_spec ps = backend4_spec(A_BK0, IPPROTO_UDP, 53, 6200, 0, 0);
	struct frame c = F6(client6(IPPROTO_UDP, 6200, 5354, 0));
	int tap = peer_tap("pub0p");
	const size_t d1 = (1280 - 48) & ~7u; /* 1232: the first's data at MTU 1280 */
	size_t l4len = 8 + sizeof(payload);

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	tap_ok(tap >= 0, "a packet socket on pub0's peer (%s)", tap < 0 ? strerror(errno) : "ok");
	run_case(1, "6->4 udp [2001:db8:1::10]:6200 -> :5354 (the flow the answers are of)",
		 if_pub0, &c, TC_ACT_REDIRECT, NULL, &got);
	ps.frag = 0; /* no DF */
	ps.ip_id = 0x7777;
	ps.payload = payload;
	ps.plen = sizeof(payload);
	pkt_build(&in, &ps);
	fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, 1280);
	cnt_mark();
	run_case(1,
		 "6->4 udp answer of 1428 bytes without DF, 1448 as IPv6 over an MTU of 1280: "
		 "the second of two fragments",
		 if_bk0, &in, TC_ACT_REDIRECT, NULL, &got);
	cnt_check(XM_C_FRAG_SPLIT_6TO4, 1, "6->4 answer split in two");
	check_split_piece("6->4 split, the second fragment", &in, &got, d1, l4len - d1, 0);
	if (tap_ok(tap_frame(tap, is_fragment6, &(uint32_t){ 0x7777 }, &first) == 0, "6->4 split: "
										     "the first "
										     "fragment "
										     "went "
										     "out of pub0 "
										     "(seen at its "
										     "peer)")) {
		check_split_piece("6->4 split, the first fragment", &in, &first, 0, d1, 1);
		/* reassembled: the first's IPv6 header, no fragment header */
		memset(&re6, 0, sizeof(re6));
		memcpy(re6.b, first.b, 54);
		re6.b[14 + 6] = IPPROTO_UDP;
		pkt_put16(re6.b + 14 + 4, (uint16_t)l4len);
		memcpy(re6.b + 54, first.b + 62, d1);
		memcpy(re6.b + 54 + d1, got.b + 62, l4len - d1);
		TAP_EQ(pkt_get16(re6.b + 54 + 6), l4_csum6(re6.b + 14, l4len, IPPROTO_UDP, 6),
		       "6->4 split: the reassembled IPv6 datagram's UDP checksum equals full "
		       "recomputation");
	}

	/* a first IPv4 fragment (MF) too big: both halves keep M set */
	in = pkt_fragment4(&in, 0, 1384, 1);
	cnt_mark();
	run_case(1,
		 "6->4 first IPv4 fragment (MF) too big for the client's side: the second of two",
		 if_bk0, &in, TC_ACT_REDIRECT, NULL, &got);
	cnt_check(XM_C_FRAG_SPLIT_6TO4, 1, "6->4 fragment split in two");
	check_split_piece("6->4 fragment split, the second", &in, &got, d1, 1384 - d1, 1);
	if (tap_ok(tap_frame(tap, is_fragment6, &(uint32_t){ 0x7777 }, &first) == 0, "6->4 "
										     "fragment "
										     "split: the "
										     "first went "
										     "out of pub0"))
		check_split_piece("6->4 fragment split, the first", &in, &first, 0, d1, 1);

	/* a local sender's unfinished checksum (CHECKSUM_PARTIAL): the copy
	 * bpf_clone_redirect sends would never be finished */
	ps.l4cs = L4CS_PARTIAL;
	pkt_build(&in, &ps);
	cnt_mark();
	run_case(1,
		 "6->4 udp answer too big without DF, its checksum looking unfinished: not split, "
		 "dropped",
		 if_bk0, &in, TC_ACT_SHOT, NULL, &got);
	cnt_check(XM_C_DROP_TOO_BIG, 1, "6->4 answer with an unfinished checksum");
	cnt_check(XM_C_FRAG_SPLIT_6TO4, 0, "6->4 answer with an unfinished checksum: not split");
	ps.l4cs = L4CS_FULL;

	/* with DF: the backend's to send smaller (frag-needed), as before */
	ps.frag = 0x4000;
	pkt_build(&in, &ps);
	cnt_mark();
	run_case(1, "6->4 udp answer too big with DF: a frag-needed back to the backend", if_bk0,
		 &in, TC_ACT_REDIRECT, NULL, &got);
	cnt_check(XM_C_FRAG_NEEDED_SENT, 1, "6->4 answer too big with DF");
	cnt_check(XM_C_FRAG_SPLIT_6TO4, 0, "6->4 answer too big with DF: not split");
	fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, 0);
	if (tap >= 0)
		close(tap);
}

/* ---- ICMP errors about IPv6 flows ---------------------------------------- */

/* An IPv6 frame with ICMPv6 error type/code (and its 32-bit word: a
 * Packet Too Big's MTU) quoting qlen bytes from quote, its checksum
 * computed whole. */
static struct frame icmp6_err(const uint8_t *dmac, const uint8_t *smac, struct addr6 src,
			      struct addr6 dst, uint8_t hop, uint8_t type, uint8_t code,
			      uint32_t word, const uint8_t *quote, size_t qlen)
{
	struct frame f = { 0 };
	uint8_t *ip = f.b + 14, *m = ip + 40;
	size_t mlen = 8 + qlen;
	uint16_t c;

	memcpy(f.b, dmac, 6);
	memcpy(f.b + 6, smac, 6);
	f.b[12] = 0x86;
	f.b[13] = 0xdd;
	ip[0] = 0x60;
	ip[4] = (uint8_t)(mlen >> 8);
	ip[5] = (uint8_t)mlen;
	ip[6] = 58;
	ip[7] = hop;
	memcpy(ip + 8, src.b, 16);
	memcpy(ip + 24, dst.b, 16);
	m[0] = type;
	m[1] = code;
	m[4] = (uint8_t)(word >> 24);
	m[5] = (uint8_t)(word >> 16);
	m[6] = (uint8_t)(word >> 8);
	m[7] = (uint8_t)word;
	memcpy(m + 8, quote, qlen);
	c = l4_csum6(ip, mlen, 58, 2);
	m[2] = (uint8_t)(c >> 8);
	m[3] = (uint8_t)c;
	f.len = 14 + 40 + mlen;
	return f;
}

/* A router behind bk0, and the backend itself, answer a forwarded UDP
 * packet (the flow of test_udp6) with ICMPv6 errors: the client gets
 * them about the packet it sent, quote and all checksums mended. */
static void test_icmp6_errors(void)
{
	struct spec6 q = client6(IPPROTO_UDP, 5000, 5353, 0);
	struct frame sent = F6(to_backend(q, a_bk0, 5000, 53)), as_client, in, want, got;

	q.hop = 63; /* a quote keeps the hop limit the packet had there */
	as_client = F6(q);
	in = icmp6_err(MAC_BK0, MAC_BACKEND, A6("fd00:8::99"), a_bk0, 64, 2, 0, 1400, sent.b + 14,
		       sent.len - 14);
	want = icmp6_err(MAC_CLIENT, MAC_PUB0, A6("fd00:8::99"), a_client, 63, 2, 0, 1400,
			 as_client.b + 14, as_client.len - 14);
	cnt_mark();
	run_case(1, "icmp6 Packet Too Big from a router behind bk0, to the client", if_bk0, &in,
		 TC_ACT_REDIRECT, &want, &got);
	check_csum6("icmp6 Packet Too Big", &got);
	cnt_check(XM_C_ICMP_ERROR, 1, "icmp6 Packet Too Big");

	/* from the backend itself: from the address the client sent to */
	in = icmp6_err(MAC_BK0, MAC_BACKEND, a_backend, a_bk0, 64, 1, 4, 0, sent.b + 14,
		       sent.len - 14);
	want = icmp6_err(MAC_CLIENT, MAC_PUB0, a_pub0, a_client, 63, 1, 4, 0, as_client.b + 14,
			 as_client.len - 14);
	run_case(1, "icmp6 port unreachable from the backend, to the client from [2001:db8:1::1]",
		 if_bk0, &in, TC_ACT_REDIRECT, &want, &got);
	check_csum6("icmp6 port unreachable", &got);

	/* a quote cut after the ports: no quoted checksum to mend */
	in = icmp6_err(MAC_BK0, MAC_BACKEND, A6("fd00:8::99"), a_bk0, 64, 3, 0, 0, sent.b + 14,
		       40 + 4);
	want = icmp6_err(MAC_CLIENT, MAC_PUB0, A6("fd00:8::99"), a_client, 63, 3, 0, 0,
			 as_client.b + 14, 40 + 4);
	/* the quoted payload length stays as quoted */
	run_case(1, "icmp6 time exceeded, a short quote", if_bk0, &in, TC_ACT_REDIRECT, &want,
		 &got);

	/* the ports past the payload length, in bytes the frame carries
	 * after it: no part of the quote, so about nothing (the kernel's) */
	in = icmp6_err(MAC_BK0, MAC_BACKEND, A6("fd00:8::99"), a_bk0, 64, 3, 0, 0, sent.b + 14,
		       40 + 4);
	{
		uint8_t *ip = in.b + 14;
		uint16_t c;

		ip[5] = 8 + 40 + 2;
		ip[42] = ip[43] = 0;
		c = l4_csum6(ip, 8 + 40 + 2, 58, 2);
		ip[42] = (uint8_t)(c >> 8);
		ip[43] = (uint8_t)c;
	}
	run_case(1,
		 "icmp6 time exceeded whose quote ends before the ports (they trail the payload)",
		 if_bk0, &in, TC_ACT_OK, &in, &got);

	/* about no flow of ours: the kernel's */
	sent = F6(to_backend(client6(IPPROTO_UDP, 5999, 5353, 0), a_bk0, 5999, 53));
	in = icmp6_err(MAC_BK0, MAC_BACKEND, A6("fd00:8::99"), a_bk0, 64, 1, 0, 0, sent.b + 14,
		       sent.len - 14);
	cnt_mark();
	run_case(1, "icmp6 error about no flow: passed", if_bk0, &in, TC_ACT_OK, &in, &got);
	cnt_check(XM_C_PASS_NOT_OURS, 1, "icmp6 error about no flow");
}

/* An ICMPv4 error from 198.18.0.99 about 6->4 flow's packet (the UDP
 * flow of test_6to4_udp) as it left: an ICMPv6 error to the client. */
static struct frame icmp4_err(uint8_t type, uint8_t code, uint32_t rest, const struct frame *quoted)
{
	static uint8_t msg[PKT_MAX];
	struct pkt_spec ps = {
		.dmac = MAC_BK0,
		.smac = MAC_BACKEND,
		.saddr = IPV4(198, 18, 0, 99),
		.daddr = A_BK0,
		.proto = IPPROTO_ICMP,
		.ttl = 64,
		.raw_l4 = 1,
		.payload = msg,
	};
	struct frame f;

	ps.plen =
		pkt_icmp_msg(msg, sizeof(msg), type, code, rest, quoted->b + 14, quoted->len - 14);
	pkt_build(&f, &ps);
	return f;
}

static void test_6to4_icmp(void)
{
	struct spec6 q = client6(IPPROTO_UDP, 6000, 5354, 0);
	struct frame f6 = F6(q), sent, as_client, in, want, got;
	uint32_t rc;

	run_tc(if_pub0, &f6, &sent, &rc);
	TAP_EQ(rc, TC_ACT_REDIRECT, "6->4 udp again: forwarded (the packet an error will quote)");
	q.hop = 63;
	as_client = F6(q);
	/* frag-needed, MTU 1400 on the IPv4 side: 1420 for IPv6 */
	in = icmp4_err(3, 4, 1400, &sent);
	want = icmp6_err(MAC_CLIENT, MAC_PUB0, a_pub0, a_client, 63, 2, 0, 1420, as_client.b + 14,
			 40 + 8);
	cnt_mark();
	run_case(1, "6->4 frag-needed (MTU 1400) -> ICMPv6 Packet Too Big (MTU 1420)", if_bk0, &in,
		 TC_ACT_REDIRECT, &want, &got);
	check_csum6("6->4 Packet Too Big", &got);
	cnt_check(XM_C_ICMP_ERROR, 1, "6->4 frag-needed");
	cnt_mark();
	run_xdp(if_bk0, &in, &got, &rc);
	TAP_EQ(rc, XDP_PASS, "6->4 frag-needed by XDP: to tc");
	cnt_check(XM_C_PASS_6TO4_TO_TC, 1, "6->4 frag-needed by XDP");
	/* a small MTU: IPv6's minimum */
	in = icmp4_err(3, 4, 576, &sent);
	want = icmp6_err(MAC_CLIENT, MAC_PUB0, a_pub0, a_client, 63, 2, 0, 1280, as_client.b + 14,
			 40 + 8);
	run_case(1, "6->4 frag-needed (MTU 576) -> Packet Too Big with IPv6's minimum, 1280",
		 if_bk0, &in, TC_ACT_REDIRECT, &want, &got);
	in = icmp4_err(3, 3, 0, &sent);
	want = icmp6_err(MAC_CLIENT, MAC_PUB0, a_pub0, a_client, 63, 1, 4, 0, as_client.b + 14,
			 40 + 8);
	run_case(1, "6->4 port unreachable -> ICMPv6 port unreachable", if_bk0, &in,
		 TC_ACT_REDIRECT, &want, &got);
	in = with_ip_opts(in, (const uint8_t[8]){ 7, 7, 4, 0, 0, 0, 0, 0 }, 8);
	run_case(1,
		 "6->4 port unreachable with a record-route option -> the ICMPv6 port unreachable "
		 "it makes without",
		 if_bk0, &in, TC_ACT_REDIRECT, &want, &got);
	in = icmp4_err(11, 0, 0, &sent);
	want = icmp6_err(MAC_CLIENT, MAC_PUB0, a_pub0, a_client, 63, 3, 0, 0, as_client.b + 14,
			 40 + 8);
	run_case(1, "6->4 time exceeded -> ICMPv6 time exceeded", if_bk0, &in, TC_ACT_REDIRECT,
		 &want, &got);
	in = icmp4_err(3, 2, 0, &sent);
	cnt_mark();
	run_case(1, "6->4 protocol unreachable: no ICMPv6 form here, dropped", if_bk0, &in,
		 TC_ACT_SHOT, NULL, &got);
	cnt_check(XM_C_DROP_6TO4_UNTRANSLATABLE, 1, "6->4 protocol unreachable");
}

/* An IPv4 frame as pkt_build makes it, with identification 0. */
static void build_id0(struct frame *f, const struct pkt_spec *ps)
{
	pkt_build(f, ps);
	f->b[14 + 4] = f->b[14 + 5] = 0;
	f->b[14 + 10] = f->b[14 + 11] = 0;
	pkt_put16(f->b + 14 + 10, pkt_ip_csum(f->b + 14));
}

/* An ICMPv6 error from the client's side about a 6->4 flow's reply
 * (a hop with a smaller MTU): an ICMPv4 error to the IPv4 backend about
 * the packet it sent (RFC 7915 section 5.2). */
static void test_6to4_icmp_back(void)
{
	struct frame reply4 = backend4(IPPROTO_UDP, 53, 6000, 0, 0), reply6, in, want, got;
	uint8_t quote4[28], msg[64];
	struct pkt_spec ps = {
		.dmac = MAC_BACKEND,
		.smac = MAC_BK0,
		.saddr = A_BK0,
		.daddr = A_BACKEND,
		.proto = IPPROTO_ICMP,
		.ttl = 63,
		.raw_l4 = 1,
		.payload = msg,
	};
	uint32_t rc;

	run_tc(if_bk0, &reply4, &reply6, &rc);
	TAP_EQ(rc, TC_ACT_REDIRECT, "6->4 udp reply: to the client as IPv6 (to be quoted)");
	/* the quote as the backend sent the reply: its TTL where the error
	 * was raised, the first 8 UDP bytes as sent */
	memcpy(quote4, reply4.b + 14, 28);
	quote4[8] = 63;
	quote4[4] = quote4[5] = 0; /* its identification is not known here */
	quote4[10] = quote4[11] = 0;
	pkt_put16(quote4 + 10, pkt_ip_csum(quote4));
	in = icmp6_err(MAC_PUB0, MAC_CLIENT, A6("2001:db8:1::99"), a_pub0, 64, 2, 0, 1280,
		       reply6.b + 14, reply6.len - 14);
	ps.plen = pkt_icmp_msg(msg, sizeof(msg), 3, 4, 1260, quote4, sizeof(quote4));
	build_id0(&want, &ps);
	cnt_mark();
	run_case(1,
		 "6->4 Packet Too Big (MTU 1280) from the client's side -> frag-needed (MTU "
		 "1260) to the backend",
		 if_pub0, &in, TC_ACT_REDIRECT, &want, &got);
	cnt_check(XM_C_ICMP_ERROR, 1, "6->4 Packet Too Big from the client's side");
	{
		struct pkt_icmperr_csums c = pkt_check_icmperr(got.b, got.len);

		tap_ok(c.ok && c.ip_got == c.ip_want && c.icmp_got == c.icmp_want &&
			       c.in_ip_got == c.in_ip_want,
		       "6->4 frag-needed: outer, ICMP and quoted IPv4 checksums equal full "
		       "recomputation");
	}
	in = icmp6_err(MAC_PUB0, MAC_CLIENT, a_client, a_pub0, 64, 1, 4, 0, reply6.b + 14,
		       reply6.len - 14);
	ps.plen = pkt_icmp_msg(msg, sizeof(msg), 3, 3, 0, quote4, sizeof(quote4));
	build_id0(&want, &ps);
	run_case(1, "6->4 port unreachable from the client -> ICMPv4 port unreachable", if_pub0,
		 &in, TC_ACT_REDIRECT, &want, &got);
	in = icmp6_err(MAC_PUB0, MAC_CLIENT, a_client, a_pub0, 64, 4, 0, 0, reply6.b + 14,
		       reply6.len - 14);
	cnt_mark();
	run_case(1, "6->4 parameter problem (erroneous header field): no ICMPv4 form, dropped",
		 if_pub0, &in, TC_ACT_SHOT, NULL, &got);
	cnt_check(XM_C_DROP_6TO4_UNTRANSLATABLE, 1, "6->4 parameter problem");
}

/* Frame in through XDP: verdict `verdict` (want NULL: untouched), and
 * the counters a new flow moves there. */
static void xdp_new6(const char *what, int ifindex, const struct frame *in, uint32_t verdict,
		     const struct frame *want, struct frame *got)
{
	cnt_mark();
	run_case(0, what, ifindex, in, verdict, want ? want : verdict == XDP_PASS ? in : NULL, got);
}

/* A new flow's first packet `in` at XDP: the flow made there and the
 * packet sent there, as `want`. */
static void xdp_new6_sent(const char *what, int ifindex, struct spec6 in, struct spec6 want)
{
	struct frame fin = F6(in), fwant = F6(want), got;

	xdp_new6(what, ifindex, &fin, XDP_REDIRECT, &fwant, &got);
	check_csum6(what, &got);
	cnt_check(XM_C_FLOW_NEW_IPV6, 1, what);
	cnt_check(XM_C_FWD_XDP, 1, what);
	cnt_check(XM_C_PASS_IPV6_TO_TC, 0, what);
}

/* A new flow's first packet `in` at XDP with an unfinished checksum: the
 * flow is made (counter new_counter), the packet handed to tc. */
static void xdp_new_partial6(const char *what, struct frame in, uint32_t new_counter)
{
	struct frame got;
	uint32_t rc;

	set_partial_csum6(&in);
	cnt_mark();
	run_xdp(if_pub0, &in, &got, &rc);
	TAP_EQ(rc, XDP_PASS, "%s, unfinished checksum, by XDP: made, to tc", what);
	cnt_check(new_counter, 1, what);
	cnt_check(XM_C_PASS_IPV6_TO_TC, 1, what);
}

/* New IPv6 flows made at XDP (xmasq_xdp6 -> xmasq_xdp6_new): the same
 * entries and bytes as tc makes, sent by XDP when the egress and next
 * hop allow; what is not ours goes to the kernel (tc told so), what is
 * refused is dropped, and a flow XDP cannot send goes on by tc. */
static void test_xdp_new6(void)
{
	struct spec6 syn = client6(IPPROTO_TCP, 25000, 80, TCP_SYN), ack, udp;
	struct spec6 fwd = to_backend(syn, a_bk0, 25000, 8080);
	struct spec6 synack = backend6(IPPROTO_TCP, 8080, a_bk0, 25000, TCP_SYN | TCP_ACK), back;
	struct frame in, want, got;
	struct xm_flow6 o = { 0 }, r = { 0 };

	xdp_new6_sent("tcp6 SYN by XDP: a new flow made and sent there", if_pub0, syn, fwd);
	cnt_check(XM_C_FLOW_NEW, 1, "tcp6 SYN by XDP");
	if (tap_ok(flow6_get(a_client, a_pub0, 25000, 80, IPPROTO_TCP, &o) == 0, "tcp6 SYN by XDP: "
										 "original entry "
										 "under the "
										 "client's "
										 "tuple")) {
		TAP_EQ(o.state, XM_ST_SYN_SENT, "tcp6 SYN by XDP: SYN_SENT");
		TAP_EQ(o.packets, 1, "tcp6 SYN by XDP: the SYN counted once");
		TAP_EQ(o.rule_id, RULE_TCP, "tcp6 SYN by XDP: its rule");
	}
	tap_ok(flow6_get(a_backend, a_bk0, 8080, 25000, IPPROTO_TCP, &r) == 0, "tcp6 SYN by XDP: "
									       "reply entry, the "
									       "client's port "
									       "kept");
	back = synack;
	back = to_client(back, a_pub0, 80);
	in = F6(synack);
	want = F6(back);
	xdp_new6("tcp6 SYN-ACK by XDP", if_bk0, &in, XDP_REDIRECT, &want, &got);
	cnt_check(XM_C_FLOW_NEW, 0, "tcp6 SYN-ACK by XDP");
	flow6_get(a_client, a_pub0, 25000, 80, IPPROTO_TCP, &o);
	TAP_EQ(o.state, XM_ST_ESTABLISHED, "tcp6 SYN-ACK by XDP: ESTABLISHED");

	/* UDP to a rule for one address of pub0 */
	udp = client6(IPPROTO_UDP, 5100, 5353, 0);
	xdp_new6_sent("udp6 by XDP: a new flow made and sent there", if_pub0, udp,
		      to_backend(udp, a_bk0, 5100, 53));

	/* masquerade (NAT66) and its ping */
	{
		struct spec6 out = backend6(IPPROTO_UDP, 31000, a_client, 53, 0), wo = out;
		struct spec6 ping = backend6(58, 0x4343, a_client, 0x4343, 0), wp;

		wo = to_client(wo, a_pub0, wo.sport);
		xdp_new6_sent("udp6 masquerade by XDP: [fd00:8::2]:31000 leaves pub0 as "
			      "[2001:db8:1::1]:31000",
			      if_bk0, out, wo);
		ping.payload = 24;
		wp = ping;
		wp = to_client(wp, a_pub0, wp.sport);
		xdp_new6_sent("icmp6 echo masquerade by XDP: id 0x4343 kept", if_bk0, ping, wp);
	}

	/* not ours: to the kernel, counted once, not handed to tc */
	ack = client6(IPPROTO_TCP, 25001, 80, TCP_ACK);
	in = F6(ack);
	xdp_new6("tcp6 ACK of no flow by XDP: the kernel's", if_pub0, &in, XDP_PASS, NULL, &got);
	cnt_check(XM_C_PASS_NOT_OURS, 1, "tcp6 ACK of no flow by XDP");
	cnt_check(XM_C_PASS_IPV6_TO_TC, 0, "tcp6 ACK of no flow by XDP");
	cnt_check(XM_C_FLOW_NEW, 0, "tcp6 ACK of no flow by XDP");
	/* refused by the rule's `from` list: dropped there */
	syn = client6(IPPROTO_TCP, 25002, 443, TCP_SYN);
	syn.src = a_other;
	in = F6(syn);
	xdp_new6("tcp6 SYN from outside the from-list by XDP: dropped", if_pub0, &in, XDP_DROP,
		 NULL, &got);
	cnt_check(XM_C_DROP_NOT_ALLOWED, 1, "tcp6 from-list by XDP");
	cnt_check(XM_C_FLOW_NEW, 0, "tcp6 from-list by XDP");

	/* a next hop not resolved: the flow is made, tc sends the packet
	 * (its neighbour code), and does not make the flow again */
	udp = client6(IPPROTO_UDP, 5101, 90, 0);
	in = F6(udp);
	xdp_new6("udp6 to an unresolved next hop by XDP: flow made, to tc", if_pub0, &in, XDP_PASS,
		 NULL, &got);
	cnt_check(XM_C_FLOW_NEW_IPV6, 1, "udp6 unresolved next hop by XDP");
	cnt_check(XM_C_PASS_IPV6_TO_TC, 1, "udp6 unresolved next hop by XDP");
	{
		struct spec6 wu = to_backend(udp, a_bk0, 5101, 9000);

		wu.dst = A6("fd00:9::5");
		memcpy(wu.dmac, MAC_PUB0, 6);
		memcpy(wu.smac, MAC_CLIENT, 6);
		cnt_mark();
		run6("udp6 to an unresolved next hop, then by tc: redirected by neighbour", if_pub0,
		     udp, TC_ACT_REDIRECT, &wu, &got);
		cnt_check(XM_C_FLOW_NEW, 0, "udp6 unresolved next hop, then by tc");
	}

	/* 6->4: made at XDP, translated there (by xmasq_xdp6), the same
	 * bytes as by tc */
	syn = client6(IPPROTO_TCP, 25003, 8443, TCP_SYN);
	in = F6(syn);
	xdp_new6("6->4 tcp SYN by XDP: a new flow made and translated there", if_pub0, &in,
		 XDP_REDIRECT, NULL, &got);
	check_to_v4("6->4 tcp SYN by XDP", &in, &got, A_BK0, A_BACKEND, 25003, 80);
	cnt_check(XM_C_FLOW_NEW_6TO4, 1, "6->4 tcp SYN by XDP");
	cnt_check(XM_C_FWD_XDP, 1, "6->4 tcp SYN by XDP");
	cnt_check(XM_C_PASS_IPV6_TO_TC, 0, "6->4 tcp SYN by XDP");
	{
		struct xm_flow stub;

		tap_ok(flow_get(A_BACKEND, A_BK0, 80, 25003, IPPROTO_TCP, &stub) == 0 &&
			       stub.out_slot == XM_SLOT_IPV6_FLOW,
		       "6->4 tcp SYN by XDP: its stub in the IPv4 table");
		flow6_get(a_client, a_pub0, 25003, 8443, IPPROTO_TCP, &o);
		TAP_EQ(o.packets, 1, "6->4 tcp SYN by XDP: the SYN counted once");
	}
	/* its next hop re-resolved (as every few seconds, or when it was
	 * not known): by IPv4's route, so it stays on XDP (an IPv6 lookup of
	 * ::ffff:198.18.0.2 found none and sent the flow to tc for good) */
	{
		struct xm_ct6_slot *sl = flow6_slot(a_client, a_pub0, 25003, 8443, IPPROTO_TCP);
		struct frame data = F6(client6(IPPROTO_TCP, 25003, 8443, TCP_ACK)), fwd;
		uint32_t rc;

		tap_ok(sl != NULL, "6->4 tcp: its original entry is in flows6");
		if (sl) { /* as the data plane's own entries change: in place */
			sl->flow.flags &= (uint8_t)~XM_FLOW_L2_VALID;
			memset(sl->flow.out_dmac, 0, 6);
			sl->flow.last_seen_s = 0;
		}
		run_case(1, "6->4 tcp data by tc, next hop not known: re-resolved", if_pub0, &data,
			 TC_ACT_REDIRECT, NULL, &fwd);
		flow6_get(a_client, a_pub0, 25003, 8443, IPPROTO_TCP, &o);
		tap_ok((o.flags & XM_FLOW_L2_VALID) && memcmp(o.out_dmac, MAC_BACKEND, 6) == 0,
		       "6->4 re-resolved: the IPv4 backend's MAC known again (flags 0x%x)",
		       o.flags);
		cnt_mark();
		run_xdp(if_pub0, &data, &got, &rc);
		TAP_EQ(rc, XDP_REDIRECT, "6->4 tcp data after the re-resolve: by XDP again");
	}

	/* Unfinished checksums (a local sender's CHECKSUM_PARTIAL): the
	 * first packet of a flow's direction at XDP decides, and the flow
	 * notes it: such a direction goes by tc from then on, in order. */
	{
		struct spec6 q = client6(IPPROTO_UDP, 5102, 5353, 0);
		struct spec6 ans = backend6(IPPROTO_UDP, 53, a_bk0, 5102, 0), wans = ans;
		struct frame whole = F6(q);
		uint32_t rc;

		xdp_new_partial6("udp6 new flow", F6(q), XM_C_FLOW_NEW_IPV6);
		flow6_get(a_client, a_pub0, 5102, 5353, IPPROTO_UDP, &o);
		TAP_EQ(o.flags & (XM_FLOW6_CSUM_CHECKED | XM_FLOW6_CSUM_PARTIAL),
		       XM_FLOW6_CSUM_CHECKED | XM_FLOW6_CSUM_PARTIAL,
		       "udp6 unfinished checksum: the flow's direction noted unfinished");
		cnt_mark();
		run_xdp(if_pub0, &whole, &got, &rc);
		TAP_EQ(rc, XDP_PASS,
		       "udp6 that direction's next packet by XDP: to tc too (in order)");
		cnt_check(XM_C_FWD_XDP, 0, "udp6 that direction's next packet");
		wans = to_client(wans, a_pub0, 5353);
		xdp6("udp6 the answer to that flow (whole checksum)", if_bk0, ans, &wans);
	}
	{
		struct spec6 q = client6(IPPROTO_UDP, 5103, 5353, 0);
		struct frame in = F6(q);
		uint32_t rc;

		tap_ok(set_csum_like_partial6(&in), "udp6 whole checksum equal to the "
						    "pseudo-header sum: frame made");
		cnt_mark();
		run_xdp(if_pub0, &in, &got, &rc);
		TAP_EQ(rc, XDP_REDIRECT,
		       "udp6 whole checksum that looks unfinished by XDP: summed whole, sent "
		       "there");
		check_csum6("udp6 whole checksum that looks unfinished", &got);
		flow6_get(a_client, a_pub0, 5103, 5353, IPPROTO_UDP, &o);
		TAP_EQ(o.flags & (XM_FLOW6_CSUM_CHECKED | XM_FLOW6_CSUM_PARTIAL),
		       XM_FLOW6_CSUM_CHECKED,
		       "udp6 whole checksum that looks unfinished: noted whole");
	}
	/* 6->4: the same, made by xmasq_xdp6_new, decided by xmasq_xdp6 */
	xdp_new_partial6("6->4 tcp SYN", F6(client6(IPPROTO_TCP, 25004, 8443, TCP_SYN)),
			 XM_C_FLOW_NEW_6TO4);
}

/* After test_expiry6: the IPv6 sweeper removed the 6->4 flows with
 * their stubs. */
static void test_6to4_expiry(void)
{
	struct xm_flow stub;

	tap_ok(flow_get(A_BACKEND, A_BK0, 53, 6000, IPPROTO_UDP, &stub) != 0 &&
		       flow_get(A_BACKEND, A_BK0, 80, 24000, IPPROTO_TCP, &stub) != 0,
	       "6->4: expired by the IPv6 sweeper, their stubs removed with them");
	TAP_EQ(v4_flows_live(), 0, "6->4: no stub left in the IPv4 table");
}

/* A 6->4 forward with an `as` list: its flows leave with the list's
 * addresses, not the NIC's, and replies to them come back; with one port
 * a list address, the port search goes on to the next address, and with
 * both taken the flow is refused and its backend named in
 * port_exhausted. Last: it changes the configuration. */
#define RULE_64_AS 15
#define A_BK0_AS   IPV4(198, 18, 0, 3)
#define A_BK0_AS2  IPV4(198, 18, 0, 4)
#define AS_PORT	   61000

static void test_6to4_as(void)
{
	struct xm_addr_set set = { .n = 1, .addr = { A_BK0_AS } };
	struct xm_rule_meta meta = { .in_use = 1, .addr_set = 2 };
	struct xm_config c = fixture_config();
	uint32_t sid = 2, id = RULE_64_AS, src[2] = { 0 };
	uint16_t ports[2] = { 0 };
	struct frame in, got, back;
	uint16_t port;
	int fd_sets = bpf_map__fd(skel->maps.addr_sets),
	    fd_exh = bpf_map__fd(skel->maps.port_exhausted);

	c.local_port_lo = 32768;
	c.local_port_hi = 60999;
	c.flags |= XM_CFG_ADDR_SETS;
	if (!tap_ok(fixture_set_config(&c) == 0 &&
			    bpf_map_update_elem(fd_sets, &sid, &set, BPF_ANY) == 0 &&
			    bpf_map_update_elem(bpf_map__fd(skel->maps.rule_meta), &id, &meta,
						BPF_ANY) == 0 &&
			    add_rule6(RULE_64_AS, if_pub0, NULL, 5355, IPPROTO_UDP,
				      A6("::ffff:198.18.0.2"), 53, XM_RULE_TO_V4, 0) == 0,
		    "6->4 as: pub0 udp 5355 -> 198.18.0.2:53 as 198.18.0.3"))
		return;
	in = F6(client6(IPPROTO_UDP, 7000, 5355, 0));
	run_case(1, "6->4 as: udp [2001:db8:1::10]:7000 -> :5355", if_pub0, &in, TC_ACT_REDIRECT,
		 NULL, &got);
	port = pkt_get16(got.b + 14 + 20);
	check_to_v4("6->4 as: leaves with the `as` address 198.18.0.3, not the NIC's", &in, &got,
		    A_BK0_AS, A_BACKEND, port, 53);
	back = backend4_to(A_BK0_AS, IPPROTO_UDP, 53, port, 0, 0);
	run_case(1, "6->4 as: the answer to 198.18.0.3 comes back to the IPv6 client", if_bk0,
		 &back, TC_ACT_REDIRECT, NULL, &got);
	check_to_v6("6->4 as: answer", &back, &got, a_pub0, a_client, 5355, 7000);

	/* one port (AS_PORT) an address, two addresses */
	set.n = 2;
	set.addr[1] = A_BK0_AS2;
	c.port_lo = c.port_hi = AS_PORT;
	if (!tap_ok(fixture_set_config(&c) == 0 &&
			    bpf_map_update_elem(fd_sets, &sid, &set, BPF_ANY) == 0,
		    "6->4 as: ports %u-%u, as 198.18.0.3,198.18.0.4", AS_PORT, AS_PORT))
		goto out;
	for (int i = 0; i < 2; i++) {
		char what[120];

		snprintf(what, sizeof(what), "6->4 as, one port an address: flow %d", i + 1);
		/* in the router's ephemeral ports: never kept, the search's */
		in = F6(client6(IPPROTO_UDP, (uint16_t)(40001 + i), 5355, 0));
		cnt_mark();
		run_case(1, what, if_pub0, &in, TC_ACT_REDIRECT, NULL, &got);
		memcpy(&src[i], got.b + 14 + 12, 4);
		ports[i] = pkt_get16(got.b + 14 + 20);
		cnt_check(XM_C_DROP_NO_PORT, 0, what);
	}
	tap_ok(ports[0] == AS_PORT && ports[1] == AS_PORT && src[0] != src[1] &&
		       (src[0] == A_BK0_AS || src[0] == A_BK0_AS2) &&
		       (src[1] == A_BK0_AS || src[1] == A_BK0_AS2),
	       "6->4 as: the second flow found its port on the list's other address (ports %u "
	       "and %u, from 0x%08x and 0x%08x)",
	       ports[0], ports[1], ntohl(src[0]), ntohl(src[1]));
	in = F6(client6(IPPROTO_UDP, 40003, 5355, 0));
	cnt_mark();
	run_case(1, "6->4 as: both addresses' one port taken: refused", if_pub0, &in, TC_ACT_SHOT,
		 NULL, &got);
	cnt_check(XM_C_DROP_NO_PORT, 1, "6->4 as: both addresses' one port taken");
	{ /* in port_exhausted, under the address it tried first, as IPv4's */
		struct xm_port_peer pk = { .peer = A_BACKEND,
					   .peer_port = htons(53),
					   .proto = IPPROTO_UDP };
		struct xm_port_exhausted v;
		uint64_t drops = 0;

		for (int i = 0; i < 2; i++) {
			pk.addr = set.addr[i];
			if (bpf_map_lookup_elem(fd_exh, &pk, &v) == 0)
				drops += v.drops;
			bpf_map_delete_elem(fd_exh, &pk);
		}
		TAP_EQ(drops, 1, "6->4 as: port_exhausted names the backend (198.18.0.2 udp 53)");
	}
out:
	meta.in_use = 0;
	meta.addr_set = 0;
	bpf_map_update_elem(bpf_map__fd(skel->maps.rule_meta), &id, &meta, BPF_ANY);
	fixture_set_config(&(struct xm_config){ 0 });
	c = fixture_config();
	c.local_port_lo = 32768;
	c.local_port_hi = 60999;
	fixture_set_config(&c);
}

/* Rule rule_id's `as` list: addrs (n of them; 0: none) at addr_sets6
 * index sid. */
static int set_as6(uint32_t rule_id, uint32_t sid, const struct addr6 *addrs, uint32_t n)
{
	struct xm_addr_set6 set = { .n = n };
	struct xm_rule_meta meta = { .in_use = n > 0, .addr_set = (uint16_t)(n ? sid : 0) };

	for (uint32_t i = 0; i < n; i++)
		memcpy(set.addr[i], addrs[i].b, 16);
	return bpf_map_update_elem(bpf_map__fd(skel->maps.addr_sets6), &sid, &set, BPF_ANY) ||
	       bpf_map_update_elem(bpf_map__fd(skel->maps.rule_meta), &rule_id, &meta, BPF_ANY);
}

/* An IPv6 frame's source address and source port (or echo id). */
static struct addr6 src6_of(const struct frame *f)
{
	struct addr6 a;

	memcpy(a.b, f->b + 14 + 8, 16);
	return a;
}

static uint16_t sport6_of(const struct frame *f)
{
	return (uint16_t)(f->b[14 + 40 + (f->b[14 + 6] == 58 ? 4 : 0)] << 8 |
			  f->b[14 + 40 + (f->b[14 + 6] == 58 ? 4 : 0) + 1]);
}

static int addr6_eq(struct addr6 a, struct addr6 b)
{
	return memcmp(a.b, b.b, 16) == 0;
}

/* `as` on IPv6 (addr_sets6): a masquerade's hosts each leave with one
 * address of the list for all their flows (paired), the hosts spread over
 * the list, a flow whose address has no port left towards its peer takes
 * the list's next one and is refused only when none has; a forward's
 * flows leave for the backend with the list's addresses; the answers come
 * back; without XM_CFG_ADDR_SETS the lists are not read. */
static void test_as6(void)
{
	const struct addr6 masq_as[2] = { A6("2001:db8:1::21"), A6("2001:db8:1::22") };
	const struct addr6 fwd_as[2] = { A6("fd00:8::21"), A6("fd00:8::22") };
	struct xm_config c = fixture_config();
	struct addr6 first = { 0 }, used[8];
	int on_list = 1, spread = 0;
	struct frame fin, got;
	uint32_t rc;

	c.local_port_lo = 32768;
	c.local_port_hi = 60999;
	c.flags |= XM_CFG_ADDR_SETS;
	if (!tap_ok(fixture_set_config(&c) == 0 && set_as6(RULE_MASQ, 5, masq_as, 2) == 0 &&
			    set_as6(RULE_UDP, 6, fwd_as, 2) == 0,
		    "as6: masquerade fd00:8::/64 out pub0 as 2001:db8:1::21,2001:db8:1::22; "
		    "forward pub0:[2001:db8:1::1] udp 5353 to [fd00:8::2]:53 as "
		    "fd00:8::21,fd00:8::22"))
		goto out;

	/* eight hosts: each on an address of the list, both addresses used */
	for (int h = 0; h < 8; h++) {
		struct spec6 out = backend6(IPPROTO_UDP, (uint16_t)(31000 + h), a_client, 53, 0);

		out.src.b[15] = (uint8_t)(2 + h);
		fin = F6(out);
		run_tc(if_bk0, &fin, &got, &rc);
		used[h] = src6_of(&got);
		on_list &= rc == TC_ACT_REDIRECT &&
			   (addr6_eq(used[h], masq_as[0]) || addr6_eq(used[h], masq_as[1]));
		spread |= addr6_eq(used[h], masq_as[1]) ? 2 : 1;
		if (rc == TC_ACT_REDIRECT)
			check_csum6("as6 masquerade: a host's UDP", &got);
	}
	first = used[0];
	tap_ok(on_list, "as6 masquerade: eight hosts' UDP leaves pub0 with addresses of the list");
	TAP_EQ(spread, 3, "as6 masquerade: the hosts spread over both addresses");

	/* each host's other flows, by XDP and by tc: its one address */
	{
		struct spec6 ping = backend6(58, 0x4343, a_client, 0x4343, 0);
		struct addr6 src;
		int paired = 0;

		for (int h = 0; h < 8; h++) {
			struct spec6 out =
				backend6(IPPROTO_UDP, (uint16_t)(31100 + h), a_client, 54, 0);

			out.src.b[15] = (uint8_t)(2 + h);
			fin = F6(out);
			run_xdp(if_bk0, &fin, &got, &rc);
			paired += rc == XDP_REDIRECT && addr6_eq(src6_of(&got), used[h]);
		}
		TAP_EQ(paired, 8,
		       "as6 masquerade: each host's second flow, by XDP, leaves with its first "
		       "flow's address (paired)");
		ping.payload = 24;
		fin = F6(ping);
		run_tc(if_bk0, &fin, &got, &rc);
		src = src6_of(&got);
		tap_ok(rc == TC_ACT_REDIRECT && addr6_eq(src, first) && sport6_of(&got) == 0x4343,
		       "as6 masquerade: host fd00:8::2's ping leaves with its address, id kept");
		if (rc == TC_ACT_REDIRECT)
			check_csum6("as6 masquerade: ping", &got);
	}

	/* the answer to the list's address comes back to the host */
	{
		struct spec6 back = client6(IPPROTO_UDP, 53, 31000, 0), want;

		back.dst = first;
		want = to_host(back);
		run6("as6 masquerade: the answer to the list's address goes back to "
		     "[fd00:8::2]:31000",
		     if_pub0, back, TC_ACT_REDIRECT, &want, &got);
		xdp6("as6 masquerade: the answer to the list's address", if_pub0, back, &want);
	}

	/* one port an address: the second flow takes the other address, the
	 * third is refused */
	c.port_lo = c.port_hi = 20000;
	if (!tap_ok(fixture_set_config(&c) == 0, "as6: ports 20000-20000"))
		goto out;
	{
		struct addr6 src[2];
		uint16_t port[2];

		for (int i = 0; i < 2; i++) {
			struct spec6 out =
				backend6(IPPROTO_UDP, (uint16_t)(31201 + i), a_client, 5000, 0);

			fin = F6(out);
			cnt_mark();
			run_tc(if_bk0, &fin, &got, &rc);
			src[i] = src6_of(&got);
			port[i] = sport6_of(&got);
			TAP_EQ(rc, TC_ACT_REDIRECT, "as6, one port an address: flow %d sent",
			       i + 1);
			cnt_check(XM_C_DROP_NO_PORT, 0, "as6, one port an address: flow");
		}
		tap_ok(port[0] == 20000 && port[1] == 20000 && addr6_eq(src[0], first) &&
			       addr6_eq(src[1],
					addr6_eq(first, masq_as[0]) ? masq_as[1] : masq_as[0]),
		       "as6: the host's first flow on its address, port 20000, the second on the "
		       "list's other address, port 20000 (ports %u, %u)",
		       port[0], port[1]);
		fin = F6(backend6(IPPROTO_UDP, 31203, a_client, 5000, 0));
		cnt_mark();
		run_tc(if_bk0, &fin, &got, &rc);
		TAP_EQ(rc, TC_ACT_SHOT, "as6: both addresses' one port taken: refused");
		cnt_check(XM_C_DROP_NO_PORT, 1, "as6: both addresses' one port taken");
	}
	c.port_lo = fixture_config().port_lo;
	c.port_hi = fixture_config().port_hi;
	if (!tap_ok(fixture_set_config(&c) == 0, "as6: the port range back"))
		goto out;

	/* a forward: to the backend from the list's addresses, by tc and XDP,
	 * and its answer back to the client from the address it used */
	for (int xdp = 0; xdp < 2; xdp++) {
		struct spec6 in = client6(IPPROTO_UDP, (uint16_t)(7100 + xdp), 5353, 0), back, want;
		struct addr6 src;
		uint16_t port;

		fin = F6(in);
		if (xdp)
			run_xdp(if_pub0, &fin, &got, &rc);
		else
			run_tc(if_pub0, &fin, &got, &rc);
		src = src6_of(&got);
		port = sport6_of(&got);
		tap_ok(rc == (xdp ? XDP_REDIRECT : TC_ACT_REDIRECT) &&
			       (addr6_eq(src, fwd_as[0]) || addr6_eq(src, fwd_as[1])),
		       "as6 forward: udp [2001:db8:1::10]:%u -> :5353 by %s reaches the backend "
		       "from an address of the list",
		       7100 + xdp, xdp ? "XDP" : "tc");
		back = backend6(IPPROTO_UDP, 53, src, port, 0);
		want = to_client(back, a_pub0, 5353);
		want.dport = (uint16_t)(7100 + xdp);
		run6("as6 forward: the backend's answer to the list's address goes back to the "
		     "client from [2001:db8:1::1]:5353",
		     if_bk0, back, TC_ACT_REDIRECT, &want, &got);
	}

	/* the lists are read only when the config says some rule has one */
	c.flags &= ~XM_CFG_ADDR_SETS;
	if (tap_ok(fixture_set_config(&c) == 0, "as6: config without XM_CFG_ADDR_SETS")) {
		fin = F6(backend6(IPPROTO_UDP, 31300, a_client, 53, 0));
		run_tc(if_bk0, &fin, &got, &rc);
		tap_ok(rc == TC_ACT_REDIRECT && addr6_eq(src6_of(&got), a_pub0), "as6: without "
										 "XM_CFG_ADDR_SETS "
										 "the masquerade "
										 "leaves with "
										 "pub0's address");
	}
out:
	set_as6(RULE_MASQ, 5, NULL, 0);
	set_as6(RULE_UDP, 6, NULL, 0);
	c = fixture_config();
	c.local_port_lo = 32768;
	c.local_port_hi = 60999;
	fixture_set_config(&c);
}

/* ---- TCP windows (bpf/tcp_window.h), as test_bpf_tcpwin.c for IPv4 ---- */

#define TW_CLIENT_ISN  1000u
#define TW_BACKEND_ISN 5000u

/* Spec s as a TCP segment with flags fl, seq, ack and window win, no
 * payload, and SYN options with window scale ws when ws is not 0xff. */
static struct frame tw6(struct spec6 s, uint8_t fl, uint32_t seq, uint32_t ack, uint16_t win,
			uint8_t ws)
{
	s.tcp_flags = fl;
	s.tcp_given = 1;
	s.seq = seq;
	s.ack = ack;
	s.win = win;
	s.payload = 0;
	s.optlen = 0;
	if (ws != 0xff) {
		pkt_linux_syn_opts(s.opts, ws);
		s.optlen = 20;
	}
	return F6(s);
}

/* The IPv4 backend's segment to A_BK0 (6->4), as tw6. */
static struct frame tw4(uint16_t sport, uint16_t dport, uint8_t fl, uint32_t seq, uint32_t ack,
			uint16_t win, uint8_t ws)
{
	uint8_t opts[20];
	struct pkt_spec ps = backend4_spec(A_BK0, IPPROTO_TCP, sport, dport, fl, 0);
	struct frame f;
	uint8_t *ip = f.b + 14, *l4 = ip + 20;
	uint16_t l4len;

	ps.payload = NULL;
	ps.plen = 0;
	if (ws != 0xff) {
		pkt_linux_syn_opts(opts, ws);
		ps.tcp_opts = opts;
		ps.tcp_optlen = 20;
	}
	pkt_build(&f, &ps);
	l4len = (uint16_t)(f.len - 34);
	pkt_put32(l4 + 4, seq);
	pkt_put32(l4 + 8, ack);
	pkt_put16(l4 + 14, win);
	pkt_put16(l4 + 16, 0);
	pkt_put16(l4 + 16, pkt_l4_csum(ip, l4, l4len, 16));
	return f;
}

/* Both entries of a flow: the client's (c, sport -> d, dport) and the
 * reply's (rs, rsport -> rd, port); their common state, or -1. */
struct tw_flow {
	struct addr6 c, d, rs, rd;
	uint16_t cport, dport, rsport;
	struct xm_flow6 o, r;
};

static int tw_read(struct tw_flow *t)
{
	if (flow6_get(t->c, t->d, t->cport, t->dport, IPPROTO_TCP, &t->o) ||
	    flow6_get(t->rs, t->rd, t->rsport, t->cport, IPPROTO_TCP, &t->r) ||
	    t->o.state != t->r.state)
		return -1;
	return t->o.state;
}

/* The IPv4 story of test_bpf_tcpwin.c on an IPv6 flow, on one hook:
 * 6->6 (to4 0) or 6->4 (to4 1, the backend's segments IPv4). The client
 * scales by 7, the backend by 2: the client's window of 100 is 12800
 * bytes, the backend's of 1000 is 4000. */
static void tcpwin6_story(int tc, int to4, uint16_t port)
{
	const char *hook = tc ? "tc" : "XDP", *fam = to4 ? "6->4" : "6->6";
	uint32_t c1 = TW_CLIENT_ISN + 1, b1 = TW_BACKEND_ISN + 1, stamp;
	uint16_t dport = to4 ? 8443 : 80, bport = to4 ? 80 : 8080;
	struct spec6 cs = client6(IPPROTO_TCP, port, dport, 0),
		     bs = backend6(IPPROTO_TCP, bport, a_bk0, port, 0);
	struct tw_flow t = { .c = a_client,
			     .d = a_pub0,
			     .cport = port,
			     .dport = dport,
			     .rs = to4 ? A6("::ffff:198.18.0.2") : a_backend,
			     .rd = to4 ? A6("::ffff:198.18.0.1") : a_bk0,
			     .rsport = bport };
	char what[160];

	/* an inexact RST stamps the flow 7430 s back, which a kernel booted
	 * minutes ago (the 6.1 VM) cannot go */
	if (skel->bss->xm_clock_ahead_s < 3 * 3600)
		skel->bss->xm_clock_ahead_s = 3 * 3600;

#define W(...)			 (snprintf(what, sizeof(what), "%s %s %u: " __VA_ARGS__), what)
#define C(fl, seq, ack, win, ws) tw6(cs, fl, seq, ack, win, ws)
#define B(fl, seq, ack, win, ws) \
	(to4 ? tw4(bport, port, fl, seq, ack, win, ws) : tw6(bs, fl, seq, ack, win, ws))

	run_sent_or_dropped(W("%s", fam, hook, port, "SYN with window scale 7"), tc, if_pub0,
			    C(TCP_SYN, TW_CLIENT_ISN, 0, 64240, 7), 1, XM_C_FLOW_NEW);
	run_sent_or_dropped(W("%s", fam, hook, port, "SYN-ACK with window scale 2"), tc, if_bk0,
			    B(TCP_SYN | TCP_ACK, TW_BACKEND_ISN, c1, 65160, 2), 1, -1);
	run_sent_or_dropped(W("%s", fam, hook, port, "the client's ACK, window 100"), tc, if_pub0,
			    C(TCP_ACK, c1, b1, 100, 0xff), 1, -1);
	run_sent_or_dropped(W("%s", fam, hook, port, "the backend's ACK, window 1000"), tc, if_bk0,
			    B(TCP_ACK, b1, c1, 1000, 0xff), 1, -1);
	TAP_EQ(tw_read(&t), XM_ST_ESTABLISHED, "%s %s %u: ESTABLISHED", fam, hook, port);
	tap_ok(t.o.tcp_win >> XM_TCP_WIN_SCALE_SHIFT == 8 &&
		       t.r.tcp_win >> XM_TCP_WIN_SCALE_SHIFT == 3 && t.o.tcp_ack == b1 &&
		       t.r.tcp_ack == c1,
	       "%s %s %u: scales 7 and 2 known, last ACKs kept (client %#x ack %u, backend %#x "
	       "ack %u)",
	       fam, hook, port, t.o.tcp_win, t.o.tcp_ack, t.r.tcp_win, t.r.tcp_ack);

	/* Outside the window: dropped, counted, nothing changes. */
	run_sent_or_dropped(
		W("%s", fam, hook, port, "RST to the client 1 MB past its window: dropped"), tc,
		if_bk0, B(TCP_RST, b1 + 1000000, 0, 0, 0xff), 0, XM_C_DROP_TCP_RST_OUT_OF_WINDOW);
	run_sent_or_dropped(W("%s", fam, hook, port,
			      "RST to the backend 100 kB past its window: dropped"),
			    tc, if_pub0, C(TCP_RST | TCP_ACK, c1 + 100000, b1, 0, 0xff), 0,
			    XM_C_DROP_TCP_RST_OUT_OF_WINDOW);
	run_sent_or_dropped(W("%s", fam, hook, port, "RST to the backend 2^31 away: dropped"), tc,
			    if_pub0, C(TCP_RST, c1 + 0x80000000u, 0, 0, 0xff), 0,
			    XM_C_DROP_TCP_RST_OUT_OF_WINDOW);
	run_sent_or_dropped(W("%s", fam, hook, port, "FIN to the backend 50 kB ahead: dropped"), tc,
			    if_pub0, C(TCP_FIN | TCP_ACK, c1 + 50000, b1, 100, 0xff), 0,
			    XM_C_DROP_TCP_FIN_OUT_OF_WINDOW);
	run_sent_or_dropped(W("%s", fam, hook, port, "FIN to the client 100 kB behind: dropped"),
			    tc, if_bk0, B(TCP_FIN | TCP_ACK, b1 - 100000, c1, 1000, 0xff), 0,
			    XM_C_DROP_TCP_FIN_OUT_OF_WINDOW);
	/* the backend's window is scaled by 2, not 7 or 14: 10000 is out */
	run_sent_or_dropped(W("%s", fam, hook, port,
			      "RST to the backend 10000 ahead (window 4000): dropped"),
			    tc, if_pub0, C(TCP_RST, c1 + 10000, 0, 0, 0xff), 0,
			    XM_C_DROP_TCP_RST_OUT_OF_WINDOW);
	if (tc && !to4) { /* one behind extension headers is checked too */
		uint8_t dopts[120] = { 0, 14, 1, 116 }; /* destination options: PadN */

		run_sent_or_dropped(W("%s", fam, hook, port,
				      "RST 2^31 away behind 120 bytes of destination options: "
				      "dropped"),
				    tc, if_pub0,
				    with_ext(C(TCP_RST, c1 + 0x80000000u, 0, 0, 0xff), 60, dopts,
					     sizeof(dopts)),
				    0, XM_C_DROP_TCP_RST_OUT_OF_WINDOW);
	}
	/* a spoofed ACK far ahead does not move the backend's last ACK */
	run_sent_or_dropped(W("%s", fam, hook, port,
			      "a spoofed ACK from the backend 1 MB ahead is sent on"),
			    tc, if_bk0, B(TCP_ACK, b1, c1 + 1000000, 1000, 0xff), 1, -1);
	run_sent_or_dropped(W("%s", fam, hook, port, "... and a RST at that ACK is still dropped"),
			    tc, if_pub0, C(TCP_RST, c1 + 1000000, 0, 0, 0xff), 0,
			    XM_C_DROP_TCP_RST_OUT_OF_WINDOW);
	TAP_EQ(tw_read(&t), XM_ST_ESTABLISHED,
	       "%s %s %u: still ESTABLISHED after the out-of-window segments", fam, hook, port);

	/* In the window but not exact: sent on, the state kept, the flow
	 * stamped to expire by tcp-close's timeout unless more comes. */
	stamp = t.o.last_seen_s;
	run_sent_or_dropped(
		W("%s", fam, hook, port, "RST to the client 10000 ahead (window 12800): sent on"),
		tc, if_bk0, B(TCP_RST, b1 + 10000, 0, 0, 0xff), 1, XM_C_TCP_RST_IN_WINDOW_INEXACT);
	tw_read(&t);
	tap_ok(stamp - t.o.last_seen_s >= 7430 - 1 && stamp - t.r.last_seen_s >= 7430 - 1 &&
		       stamp - t.o.last_seen_s <= 7430 + 1 && t.o.state == XM_ST_ESTABLISHED,
	       "%s %s %u: after the inexact RST both entries look idle for 7440 - 10 s, still "
	       "ESTABLISHED (stamps %u, %u; %u before; state %u)",
	       fam, hook, port, t.o.last_seen_s, t.r.last_seen_s, stamp, t.o.state);
	run_sent_or_dropped(W("%s", fam, hook, port, "the client's next ACK"), tc, if_pub0,
			    C(TCP_ACK, c1, b1, 100, 0xff), 1, -1);
	tw_read(&t);
	tap_ok(t.o.last_seen_s >= stamp, "%s %s %u: ... and the next packet stamps it afresh (%u)",
	       fam, hook, port, t.o.last_seen_s);
	run_sent_or_dropped(W("%s", fam, hook, port, "a SYN on the established flow: sent on"), tc,
			    if_pub0, C(TCP_SYN, TW_CLIENT_ISN + 77777, 0, 64240, 7), 1,
			    XM_C_TCP_SYN_ON_ESTABLISHED);
	TAP_EQ(tw_read(&t), XM_ST_ESTABLISHED,
	       "%s %s %u: still ESTABLISHED after an inexact RST and a SYN", fam, hook, port);

	/* Exact: the flow closes (the client's RST on XDP, the backend's on
	 * tc). */
	if (!tc)
		run_sent_or_dropped(W("%s", fam, hook, port, "the client's exact RST: sent on"), tc,
				    if_pub0, C(TCP_RST | TCP_ACK, c1, b1, 0, 0xff), 1, -1);
	else
		run_sent_or_dropped(W("%s", fam, hook, port, "the backend's exact RST: sent on"),
				    tc, if_bk0, B(TCP_RST, b1, 0, 0, 0xff), 1, -1);
	TAP_EQ(tw_read(&t), XM_ST_CLOSE, "%s %s %u: an exact RST closes the flow", fam, hook, port);
#undef W
#undef C
#undef B
}

static void test_tcpwin6(void)
{
	tcpwin6_story(0, 0, 31001);
	tcpwin6_story(1, 0, 31002);
	tcpwin6_story(0, 1, 31003);
	tcpwin6_story(1, 1, 31004);
}

/* nat_mappings6's entry of kind `kind` for (addr, peer, port) of UDP:
 * 0 and *v, or -1. */
static int nat6_get(struct addr6 addr, const struct addr6 *peer, uint16_t port, uint8_t kind,
		    struct xm_nat6_value *v)
{
	struct xm_nat6_key k = { .port = htons(port), .proto = IPPROTO_UDP, .kind = kind };

	memcpy(k.addr, addr.b, 16);
	if (peer)
		memcpy(k.peer, peer->b, 16);
	return bpf_map_lookup_elem(bpf_map__fd(skel->maps.nat_mappings6), &k, v);
}

static int nat6_put(struct addr6 addr, const struct addr6 *peer, uint16_t port, uint8_t kind,
		    const struct xm_nat6_value *v)
{
	struct xm_nat6_key k = { .port = htons(port), .proto = IPPROTO_UDP, .kind = kind };

	memcpy(k.addr, addr.b, 16);
	if (peer)
		memcpy(k.peer, peer->b, 16);
	return bpf_map_update_elem(bpf_map__fd(skel->maps.nat_mappings6), &k, v, BPF_ANY);
}

/* nat_mappings6's mappings (INT and EXT entries; PEER notes lapse with
 * their lease). */
static int nat6_mappings_left(void)
{
	int fd = bpf_map__fd(skel->maps.nat_mappings6), n = 0;
	struct xm_nat6_key k, next;
	int have = bpf_map_get_next_key(fd, NULL, &k) == 0;

	while (have) {
		n += k.kind == XM_NAT_INT || k.kind == XM_NAT_EXT;
		have = bpf_map_get_next_key(fd, &k, &next) == 0;
		k = next;
	}
	return n;
}

/* The nat_flags of the UDP flow whose ORIG entry is s:sport -> d:dport,
 * or 0xff when there is none. */
static unsigned nat_flags6(struct addr6 s, struct addr6 d, uint16_t sport, uint16_t dport)
{
	struct xm_flow6 f;

	return flow6_get(s, d, sport, dport, IPPROTO_UDP, &f) ? 0xff : f.nat_flags;
}

/* The sweeper keeps host A's mapping ([2001:db8:1::1]:30110, made by
 * test_nat_mapping6, used by A's flows and those let in to it) alive as
 * the flows' nat_flags say: marked flows' is stamped; flows marked as
 * using none are not asked for (no lookup); an older build's flows (0)
 * are asked for as before, and it is stamped. Every live ORIG entry gets
 * the case's nat_flags (their own back at the end). Stamped: the EXT
 * entry's last_s, set to 1, moves on within two walks. */
static void test_nat_keep6(void)
{
	static const struct {
		uint8_t nat_flags;
		int stamped;
		const char *what;
	} cases[] = {
		{ XM_FLOW6_NAT_KNOWN | XM_FLOW6_NAT_MAPPED, 1, "flows marked as using it" },
		{ XM_FLOW6_NAT_KNOWN, 0, "flows marked as using none: not asked for" },
		{ 0, 1, "an older build's flows (nat_flags 0): asked for, as then" },
	};
	struct xm_ct6_slot *slots = flows6_slots();
	uint32_t n = bpf_map__max_entries(skel->maps.flows6), runs;
	uint8_t *own = calloc(n, 1);
	struct xm_nat6_value v;

	if (!tap_ok(own && slots && flow6_slot(a_backend, a_client, 30110, 5000, IPPROTO_UDP) &&
			    nat6_get(a_pub0, NULL, 30110, XM_NAT_EXT, &v) == 0,
		    "nat66 keep: A's flow and mapping from test_nat_mapping6")) {
		free(own);
		return;
	}
	for (uint32_t j = 0; j < n; j++)
		own[j] = slots[j].flow.nat_flags;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (uint32_t j = 0; j < n; j++)
			if (slots[j].key.ct_state == XM_CT_LIVE &&
			    !(slots[j].flow.flags & XM_FLOW_REPLY))
				slots[j].flow.nat_flags = cases[i].nat_flags;
		nat6_get(a_pub0, NULL, 30110, XM_NAT_EXT, &v);
		v.last_s = 1;
		nat6_put(a_pub0, NULL, 30110, XM_NAT_EXT, &v);
		runs = sweep6_runs();
		for (int w = 0; w < SWEEP_WAIT_MS / 100 && sweep6_runs() < runs + 2; w++)
			usleep(100 * 1000);
		v.last_s = 0;
		nat6_get(a_pub0, NULL, 30110, XM_NAT_EXT, &v);
		tap_ok(sweep6_runs() >= runs + 2 && (v.last_s > 1) == cases[i].stamped,
		       "nat66 keep: the sweeper %s A's mapping for %s (last_s %u, two walks later)",
		       cases[i].stamped ? "stamps" : "leaves", cases[i].what, v.last_s);
	}
	for (uint32_t j = 0; j < n; j++)
		if (slots[j].key.ct_state == XM_CT_LIVE)
			slots[j].flow.nat_flags = own[j];
	free(own);
}

/* NAT66's mappings (bpf/v6_nat.h): a masqueraded host's address:port
 * keeps one public port for every peer, no other host takes it, and an
 * outside host may open a flow to it as nat-filtering says. Host A is
 * [fd00:8::2], host B [fd00:8::3]; the peers are outside on pub0. */
static void test_nat_mapping6(void)
{
	struct addr6 host_b = A6("fd00:8::3"), a_host2 = A6("fd00:8::4");
	struct spec6 a1 = backend6(IPPROTO_UDP, 30110, a_client, 5000, 0);
	struct spec6 b1 = backend6(IPPROTO_UDP, 30110, a_client, 5001, 0);
	struct spec6 a2 = backend6(IPPROTO_UDP, 30110, a_client, 5001, 0);
	struct spec6 in, want;
	struct xm_config c = fixture_config();
	struct xm_nat6_value v, ext;
	struct frame got;
	uint16_t sport;
	uint32_t rc;

	c.local_port_lo = 32768;
	c.local_port_hi = 60999;
	c.flags |= XM_CFG_NAT_FILTER_ADDR; /* peers are noted while it is set */
	if (!tap_ok(fixture_set_config(&c) == 0, "nat66 mappings: address-dependent filtering set"))
		return;
	b1.src = host_b;
	cnt_mark();
	sport = sport_out6(0, a1, &rc);
	tap_ok(rc == TC_ACT_REDIRECT && sport == 30110,
	       "nat66 mapping: host A [fd00:8::2]:30110 to [2001:db8:1::10]:5000 leaves with its "
	       "own port (%u)",
	       sport);
	cnt_check(XM_C_NAT_MAPPING_NEW, 1, "nat66 mapping: A's mapping made");
	TAP_EQ(nat_flags6(a_backend, a_client, 30110, 5000),
	       XM_FLOW6_NAT_KNOWN | XM_FLOW6_NAT_MAPPED,
	       "nat66 mapping: A's flow is marked as using its mapping");
	TAP_EQ(nat6_get(a_pub0, NULL, 30110, XM_NAT_EXT, &v) == 0 &&
		       !memcmp(v.addr, a_backend.b, 16) && v.port == htons(30110) && v.refs == 1,
	       1, "nat66 mapping: [2001:db8:1::1]:30110 is host A's :30110, one flow counted");
	sport = sport_out6(0, b1, &rc);
	tap_ok(rc == TC_ACT_REDIRECT && sport != 30110,
	       "nat66 mapping: host B [fd00:8::3]:30110 to [2001:db8:1::10]:5001 does not take A's "
	       "mapped port 30110, though that tuple is free (left with %u)",
	       sport);
	sport = sport_out6(1, a2, &rc);
	tap_ok(rc == XDP_REDIRECT && sport == 30110,
	       "nat66 mapping: host A :30110 to [2001:db8:1::10]:5001 by XDP: its mapping's port "
	       "30110 (%u)",
	       sport);

	/* The mapping's port first, not the host's own: host [fd00:8::4]
	 * whose mapping says 30999 for its port 30200 */
	in = backend6(IPPROTO_UDP, 30200, a_client, 5000, 0);
	in.src = a_host2;
	sport = sport_out6(0, in, &rc);
	TAP_EQ(sport, 30200, "nat66 mapping: host [fd00:8::4]:30200 leaves with its own port");
	if (nat6_get(a_pub0, NULL, 30200, XM_NAT_EXT, &ext) == 0) {
		v = ext;
		v.port = htons(30999);
		nat6_put(a_host2, &a_pub0, 30200, XM_NAT_INT, &v); /* its public port: 30999 */
		v = ext;
		v.refs = 0;
		nat6_put(a_pub0, NULL, 30999, XM_NAT_EXT, &v);
	}
	in.dport = 5002;
	sport = sport_out6(0, in, &rc);
	TAP_EQ(sport, 30999,
	       "nat66 mapping: host [fd00:8::4]:30200 to another peer: its mapping's port, not "
	       "its own");

	/* From outside to A's mapping [2001:db8:1::1]:30110 */
	in = client6(IPPROTO_UDP, 6000, 30110, 0);
	want = to_host(in);
	cnt_mark();
	run6("nat66 address-dependent filtering: [2001:db8:1::10]:6000, an address A sent to, "
	     "reaches A at :30110, its source kept",
	     if_pub0, in, TC_ACT_REDIRECT, &want, &got);
	cnt_check(XM_C_FLOW_NAT_INBOUND, 1, "nat66 inbound flow (address-dependent)");
	TAP_EQ(nat_flags6(a_client, a_pub0, 6000, 30110), XM_FLOW6_NAT_KNOWN | XM_FLOW6_NAT_MAPPED,
	       "nat66 inbound flow: marked as using A's mapping (the sweeper keeps it alive)");
	in = client6(IPPROTO_UDP, 6000, 30110, 0);
	in.src = a_client2;
	cnt_mark();
	run6("nat66 address-dependent filtering: [2001:db8:1::11], an address A never sent to: "
	     "the kernel's",
	     if_pub0, in, TC_ACT_OK, NULL, &got);
	cnt_check(XM_C_PASS_NAT_FILTERED, 1, "nat66 filtered (address-dependent)");
	c.flags = (c.flags & ~XM_CFG_NAT_FILTER_ADDR) | XM_CFG_NAT_FILTER_ANY;
	fixture_set_config(&c);
	want = to_host(in);
	cnt_mark();
	run6("nat66 endpoint-independent filtering: [2001:db8:1::11]:6000 reaches A at :30110",
	     if_pub0, in, TC_ACT_REDIRECT, &want, &got);
	cnt_check(XM_C_FLOW_NAT_INBOUND, 1, "nat66 inbound flow (endpoint-independent)");
	in = client6(IPPROTO_UDP, 6003, 30110, 0);
	cnt_mark();
	xdp_new6_sent("nat66 endpoint-independent filtering by XDP: [2001:db8:1::10]:6003 reaches "
		      "A at :30110",
		      if_pub0, in, to_host(in));
	cnt_check(XM_C_FLOW_NAT_INBOUND, 1, "nat66 inbound flow by XDP");
	c.flags &= ~XM_CFG_NAT_FILTER_ANY;
	fixture_set_config(&c);
	in = client6(IPPROTO_UDP, 6001, 30110, 0);
	cnt_mark();
	run6("nat66 address- and port-dependent filtering: [2001:db8:1::10]:6001, a port A never "
	     "sent to: the kernel's",
	     if_pub0, in, TC_ACT_OK, NULL, &got);
	cnt_check(XM_C_PASS_NAT_FILTERED, 1, "nat66 filtered (address- and port-dependent)");
	in = client6(IPPROTO_UDP, 6002, 30555, 0);
	cnt_mark();
	run6("nat66: to a public port no mapping holds: the kernel's, not filtered", if_pub0, in,
	     TC_ACT_OK, NULL, &got);
	cnt_check(XM_C_PASS_NOT_OURS, 1, "nat66 no mapping");

	/* Hairpin, whatever the filtering: host B to A's mapping reaches A
	 * from B's own mapping, and A's answer goes back to B */
	in = backend6(IPPROTO_UDP, 30130, a_pub0, 30110, 0);
	in.src = host_b;
	want = to_host(in);
	want.src = a_pub0;
	cnt_mark();
	run6("nat66 hairpin: host B [fd00:8::3]:30130 to A's mapping [2001:db8:1::1]:30110 "
	     "reaches A from B's mapping [2001:db8:1::1]:30130",
	     if_bk0, in, TC_ACT_REDIRECT, &want, &got);
	cnt_check(XM_C_FLOW_HAIRPIN, 1, "nat66 hairpin");
	TAP_EQ(nat_flags6(host_b, a_pub0, 30130, 30110), XM_FLOW6_NAT_KNOWN | XM_FLOW6_NAT_MAPPED,
	       "nat66 hairpin: B's flow marked as using B's mapping");
	in = backend6(IPPROTO_UDP, 30110, a_pub0, 30130, 0);
	{
		struct frame fin = F6(in);

		run_tc(if_bk0, &fin, &got, &rc);
		tap_ok(rc == TC_ACT_REDIRECT && got.len > 14 + 44 &&
			       !memcmp(got.b + 14 + 8, a_pub0.b, 16) &&
			       !memcmp(got.b + 14 + 24, host_b.b, 16) &&
			       got.b[14 + 40] << 8 == (30110 & 0xff00) &&
			       got.b[14 + 41] == (30110 & 0xff) &&
			       (got.b[14 + 42] << 8 | got.b[14 + 43]) == 30130,
		       "nat66 hairpin: A's answer reaches B [fd00:8::3]:30130 from A's mapping "
		       "[2001:db8:1::1]:30110");
		check_csum6("nat66 hairpin answer", &got);
	}
	in = backend6(IPPROTO_UDP, 30110, a_pub0, 30110, 0);
	cnt_mark();
	run6("nat66 hairpin: host A to its own mapping: the kernel's", if_bk0, in, TC_ACT_OK, NULL,
	     &got);
	cnt_check(XM_C_FLOW_HAIRPIN, 0, "nat66 no hairpin to its own mapping");
	c.flags = fixture_config().flags;
	fixture_set_config(&c);
}

/* Frame f with an 802.1Q tag (VID vid) after its MAC addresses. */
static struct frame tagged6(const struct frame *f, uint16_t vid)
{
	struct frame t = *f;

	memcpy(t.b + 16, f->b + 12, f->len - 12);
	t.b[12] = 0x81;
	t.b[13] = 0x00;
	t.b[14] = (uint8_t)(vid >> 8);
	t.b[15] = (uint8_t)vid;
	t.len = f->len + 4;
	return t;
}

/* 802.1Q-tagged IPv6: XDP hands it to tc, where the kernel has taken the
 * tag off into the skb (netns_ipv6_vlan.sh runs that part: a test run
 * leaves the tag in the frame), and a flow whose packets must leave
 * tagged (out_vlan, as tc makes it for a tagged client) is sent by tc,
 * which pushes the tag, never by XDP. */
static void test_vlan6(void)
{
	struct spec6 udp = client6(IPPROTO_UDP, 5400, 5353, 0);
	struct spec6 back = backend6(IPPROTO_UDP, 53, a_bk0, 5400, 0);
	struct spec6 want = to_client(back, a_pub0, 5353);
	struct frame in = F6(udp), tagged = tagged6(&in, 100), got;
	struct xm_ct6_slot *sl;
	uint32_t rc = 0;
	int before = flows6_count();

	cnt_mark();
	run_xdp(if_pub0, &tagged, &got, &rc);
	tap_ok(rc == XDP_PASS && got.len == tagged.len && !memcmp(got.b, tagged.b, tagged.len),
	       "tagged udp6 at XDP: passed on untouched (rc %u)", rc);
	cnt_check(XM_C_RX_IPV6, 1, "tagged udp6 at XDP: counted as IPv6");
	cnt_check(XM_C_PASS_IPV6_TO_TC, 1, "tagged udp6 at XDP: handed to tc");
	cnt_check(XM_C_PASS_NOT_IPV4, 0, "tagged udp6 at XDP: not the kernel's");
	TAP_EQ(flows6_count(), before, "tagged udp6 at XDP: no flow made there");

	xdp_new6_sent("udp6 by XDP from an untagged client", if_pub0, udp,
		      to_backend(udp, a_bk0, 5400, 53));
	sl = flow6_slot(a_backend, a_bk0, 53, 5400, IPPROTO_UDP);
	if (!tap_ok(sl != NULL, "udp6 by XDP: its reply entry"))
		return;
	TAP_EQ(sl->flow.out_vlan, 0, "an untagged client's reply entry leaves untagged");
	sl->flow.out_vlan = 100;
	in = F6(back);
	cnt_mark();
	run_xdp(if_bk0, &in, &got, &rc);
	TAP_EQ(rc, XDP_PASS, "the answer to a tagged client at XDP: to tc, which pushes the tag");
	cnt_check(XM_C_PASS_IPV6_TO_TC, 1, "the answer to a tagged client at XDP");
	cnt_check(XM_C_FWD_XDP, 0, "the answer to a tagged client: not sent by XDP");
	run6("the answer to a tagged client by tc (its tag in the skb, not the frame)", if_bk0,
	     back, TC_ACT_REDIRECT, &want, &got);
	sl->flow.out_vlan = 0;

	/* 6->4: the IPv4 answer to a tagged IPv6 client */
	udp = client6(IPPROTO_UDP, 6400, 5354, 0);
	in = F6(udp);
	run_case(1, "6->4 udp from port 6400", if_pub0, &in, TC_ACT_REDIRECT, NULL, &got);
	sl = flow6_slot(A6("::ffff:198.18.0.2"), A6("::ffff:198.18.0.1"), 53, 6400, IPPROTO_UDP);
	if (!tap_ok(sl != NULL, "6->4 udp: the client's entry"))
		return;
	sl->flow.out_vlan = 100;
	in = backend4(IPPROTO_UDP, 53, 6400, 0, 0);
	cnt_mark();
	run_xdp(if_bk0, &in, &got, &rc);
	TAP_EQ(rc, XDP_PASS, "6->4 answer to a tagged client at XDP: to tc");
	cnt_check(XM_C_PASS_6TO4_TO_TC, 1, "6->4 answer to a tagged client at XDP");
	run_case(1, "6->4 answer to a tagged client by tc", if_bk0, &in, TC_ACT_REDIRECT, NULL,
		 &got);
	check_to_v6("6->4 answer to a tagged client", &in, &got, a_pub0, a_client, 5354, 6400);
	sl->flow.out_vlan = 0;
}

static void (*const tests[])(void) = {
	test_tcp6,
	test_port_clash6,
	test_udp6,
	test_keep_source6,
	test_allow6,
	test_pass6,
	test_too_big6,
	test_masquerade6,
	test_too_big_masq6,
	test_6to4_tcp,
	test_6to4_udp,
	test_ext_headers6,
	test_fragments6,
	test_6to4_fragments,
	test_6to4_split,
	test_icmp6_errors,
	test_6to4_icmp,
	test_6to4_icmp_back,
	test_xdp_new6,
	test_nat_mapping6,
	test_nat_keep6,
	test_no_inbound_refresh6,
	test_expiry6,
	test_6to4_expiry,
	test_6to4_as,
	test_tcpwin6,
	test_router_socket6,
	test_mtu_live6,
	test_port_per_endpoint6,
	test_as6,
	test_vlan6,
	NULL,
};

int main(void)
{
	static const struct fixture fx = {
		.netns_what = "network namespace with IPv6 on pub0 and bk0",
		.netns = netns6,
		.before_load = size_flows6,
		.maps_what = "IPv6 forwards, interface addresses and progs6 set",
		.maps = maps6,
		.tests = tests,
	};
	int rc = fixture_main(&fx);

	return rc;
}
