/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The fixture of the BPF_PROG_TEST_RUN programs (test_bpf.c,
 * test_bpf_nat.c, test_ct.c), on top of bpf_env.h: the base topology's
 * hosts, the skeleton opened, loaded and bound, the base configuration
 * and interfaces, the frames between client, router and backend, and
 * named frame cases run from tables. A program adds its own interfaces,
 * rules and cases, and hands its test functions to fixture_main().
 *
 * The base topology (env_base_netns) with its neighbours:
 *   pub0 192.0.2.1     client 192.0.2.10
 *   bk0  198.18.0.1    backend 198.18.0.2
 *   pub1 198.51.100.1  peer 198.51.100.2 (pub1 is not managed by xmasq)
 */
#ifndef XMASQ_SELFTEST_BPF_FIXTURE_H
#define XMASQ_SELFTEST_BPF_FIXTURE_H

#include "bpf_env.h"

static ENV_UNUSED const uint8_t MAC_PUB0[6] = { 0x02, 0, 0, 0, 0x01, 0x01 };
static ENV_UNUSED const uint8_t MAC_BK0[6] = { 0x02, 0, 0, 0, 0x02, 0x01 };
static ENV_UNUSED const uint8_t MAC_BACKEND[6] = { 0x02, 0, 0, 0, 0x00, 0x02 };
static ENV_UNUSED const uint8_t MAC_CLIENT[6] = { 0x02, 0, 0, 0, 0x00, 0x10 };

#define A_PUB0	    IPV4(192, 0, 2, 1)
#define A_CLIENT    IPV4(192, 0, 2, 10)
#define A_BK0	    IPV4(198, 18, 0, 1)
#define A_BACKEND   IPV4(198, 18, 0, 2)
#define A_PUB1_PEER IPV4(198, 51, 100, 2)

static ENV_UNUSED int if_pub0, if_bk0, if_pub1;

static ENV_UNUSED const uint8_t PAYLOAD[] = "xmasq selftest payload, 41 bytes long...";

/* ---- setup ------------------------------------------------------------- */

/* The base namespace, its neighbours and the ifindexes of its NICs. */
static ENV_UNUSED int fixture_netns(void)
{
	int err = 0;

	if (env_base_netns())
		return -1;
	err |= sh("ip neigh add 198.18.0.2 lladdr 02:00:00:00:00:02 dev bk0 nud permanent");
	err |= sh("ip neigh add 192.0.2.10 lladdr 02:00:00:00:00:10 dev pub0 nud permanent");
	err |= sh("ip neigh add 198.51.100.2 lladdr 02:00:00:00:00:20 dev pub1 nud permanent");
	if_pub0 = (int)if_nametoindex("pub0");
	if_bk0 = (int)if_nametoindex("bk0");
	if_pub1 = (int)if_nametoindex("pub1");
	if (!if_pub0 || !if_bk0 || !if_pub1)
		err = -1;
	return err ? -1 : 0;
}

/* The configuration every test starts from: generation 0, the default
 * port range and table size, the loader's default timeouts. */
static ENV_UNUSED struct xm_config fixture_config(void)
{
	static const uint32_t timeouts[XM_TO_MAX] = { 120, 7440, 120, 10, 30, 180, 30 };
	struct xm_config c = {
		.layout_version = XM_LAYOUT_VERSION,
		.port_lo = XM_DEFAULT_PORT_LO,
		.port_hi = XM_DEFAULT_PORT_HI,
		.ct_max = XM_CT_DEFAULT_MAX,
	};

	memcpy(c.timeouts, timeouts, sizeof(timeouts));
	return c;
}

static ENV_UNUSED int fixture_set_config(const struct xm_config *c)
{
	uint32_t zero = 0;

	return bpf_map_update_elem(fd_config, &zero, c, BPF_ANY);
}

/* A managed interface that takes XDP frames (mtu 0: no limit), and its
 * tx_ports entry for bpf_redirect_map. */
static ENV_UNUSED int fixture_iface(int ifindex, uint32_t addr, const uint8_t *mac, uint8_t slot,
				    uint16_t mtu)
{
	uint32_t k = (uint32_t)ifindex;

	if (set_iface_mtu(ifindex, addr, mac, slot, XM_IFACE_XDP_TX_OK | XM_IFACE_XDP_ATTACHED,
			  mtu))
		return -1;
	return bpf_map_update_elem(fd_txp, &k, &k, BPF_ANY);
}

/* pub0 in slot 0 and bk0 in slot 1, both taking XDP frames. */
static ENV_UNUSED int fixture_base_ifaces(void)
{
	return fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, 0) |
	       fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 0);
}

/* Opens the skeleton; a program may set read-only data and map sizes
 * between this and fixture_load(). */
static ENV_UNUSED int fixture_open(void)
{
	ncpus = libbpf_num_possible_cpus();
	skel = xmasq_bpf__open();
	if (!skel || ncpus <= 0) {
		tap_diag("xmasq_bpf__open: %s (%d CPUs)", strerror(errno), ncpus);
		return -1;
	}
	return 0;
}

/* Loads the opened skeleton (not pinned) and binds its fds. */
static ENV_UNUSED int fixture_load(void)
{
	if (xmasq_bpf__load(skel)) {
		tap_diag("xmasq_bpf__load: %s", strerror(errno));
		return -1;
	}
	env_bind_fds();
	return 0;
}

/* What a test program fills in for fixture_main(). */
struct fixture {
	const char *netns_what; /* the TAP line of the namespace set-up */
	int (*netns)(void);
	int (*before_load)(void); /* rodata and map sizes; may be NULL */
	const char *maps_what;
	int (*maps)(void);
	void (*const *tests)(void); /* NULL-terminated */
};

/* A BPF test program's main(): namespace, skeleton, maps, then each test
 * in turn; the exit status for main(). */
static ENV_UNUSED int fixture_main(const struct fixture *fx)
{
	if (env_start())
		return 0;
	if (!tap_ok(fx->netns() == 0, "%s", fx->netns_what))
		return tap_done();
	if (!tap_ok(fixture_open() == 0 && (!fx->before_load || fx->before_load() == 0) &&
			    fixture_load() == 0,
		    "skeleton opens and loads (not pinned)"))
		goto out;
	if (!tap_ok(fx->maps() == 0, "%s", fx->maps_what)) {
		tap_diag("map update: %s", strerror(errno));
		goto out;
	}
	for (void (*const *test)(void) = fx->tests; *test; test++)
		(*test)();
out:
	if (skel) {
		flows_clear();
		xm_ct_close(&ct_tab);
		xmasq_bpf__destroy(skel);
	}
	return tap_done();
}

/* ---- frames ------------------------------------------------------------ */

/* An IPv4 packet from smac/saddr:sport to dmac/daddr:dport, TTL 64. */
static ENV_UNUSED struct pkt_spec spec_between(uint8_t proto, const uint8_t *smac, uint32_t saddr,
					       uint16_t sport, const uint8_t *dmac, uint32_t daddr,
					       uint16_t dport, uint8_t tcp_flags)
{
	struct pkt_spec s = {
		.dmac = dmac,
		.smac = smac,
		.saddr = saddr,
		.daddr = daddr,
		.sport = sport,
		.dport = dport,
		.proto = proto,
		.ttl = 64,
		.tcp_flags = tcp_flags,
	};
	return s;
}

/* The same packet after a router rewrote it: new MACs and addresses and
 * ports, one hop less, sent untagged. */
static ENV_UNUSED struct pkt_spec spec_rewritten(struct pkt_spec s, const uint8_t *dmac,
						 const uint8_t *smac, uint32_t saddr,
						 uint32_t daddr, uint16_t sport, uint16_t dport)
{
	s.dmac = dmac;
	s.smac = smac;
	s.tagged = 0;
	s.saddr = saddr;
	s.daddr = daddr;
	s.sport = sport;
	s.dport = dport;
	s.ttl--;
	return s;
}

/* Client -> pub0 (as received on pub0). */
static ENV_UNUSED struct pkt_spec client_spec(uint8_t proto, uint16_t sport, uint16_t dport,
					      uint8_t flags)
{
	return spec_between(proto, MAC_CLIENT, A_CLIENT, sport, MAC_PUB0, A_PUB0, dport, flags);
}

/* Backend -> bk0 (as received on bk0). */
static ENV_UNUSED struct pkt_spec backend_spec(uint8_t proto, uint16_t sport, uint16_t dport,
					       uint8_t flags)
{
	struct pkt_spec s =
		spec_between(proto, MAC_BACKEND, A_BACKEND, sport, MAC_BK0, A_BK0, dport, flags);

	s.ip_id = 0x4321;
	return s;
}

/* The forward translation of a client frame: to the backend from bk0. */
static ENV_UNUSED struct pkt_spec fwd_of(struct pkt_spec s, uint16_t new_sport, uint16_t new_dport)
{
	return spec_rewritten(s, MAC_BACKEND, MAC_BK0, A_BK0, A_BACKEND, new_sport, new_dport);
}

/* The reply translation: back to a client (addr, mac) from pub0's address. */
static ENV_UNUSED struct pkt_spec rev_of(struct pkt_spec s, uint32_t client, const uint8_t *cmac,
					 uint16_t new_sport, uint16_t new_dport)
{
	return spec_rewritten(s, cmac, MAC_PUB0, A_PUB0, client, new_sport, new_dport);
}

/* The spec with the first n bytes of PAYLOAD. */
static ENV_UNUSED struct pkt_spec with_payload(struct pkt_spec s, size_t n)
{
	s.payload = PAYLOAD;
	s.plen = n;
	return s;
}

/* The spec with an 802.1Q tag. */
static ENV_UNUSED struct pkt_spec with_tag(struct pkt_spec s, uint16_t tci)
{
	s.tagged = 1;
	s.tci = tci;
	return s;
}

/* A UDP datagram of 48 bytes (8 + 40 of PAYLOAD) in two fragments of 24,
 * as sent (first, later) and as translated (first_t, later_t): the first
 * carries the translated UDP header with the checksum of the whole
 * datagram, the later one only new addresses and TTL. The specs point
 * into the struct: keep it alive while they are used. */
struct udp_fragments {
	uint8_t l4[48], l4_t[48];
	struct pkt_spec first, later, first_t, later_t;
};

/* whole: the datagram (payload 40 bytes); whole_t: its translation. */
static ENV_UNUSED void udp_fragments(struct udp_fragments *fr, struct pkt_spec whole,
				     struct pkt_spec whole_t, uint16_t ip_id)
{
	struct frame f = F(whole), t = F(whole_t);
	struct pkt_view v = pkt_view(f.b, f.len), vt = pkt_view(t.b, t.len);

	memcpy(fr->l4, f.b + v.l4, sizeof(fr->l4));
	memcpy(fr->l4_t, t.b + vt.l4, sizeof(fr->l4_t));
	whole.raw_l4 = whole_t.raw_l4 = 1;
	whole.ip_id = whole_t.ip_id = ip_id;
	whole.plen = whole_t.plen = 24;
	whole.frag = whole_t.frag = 0x2000; /* MF, offset 0 */
	fr->first = whole;
	fr->first.payload = fr->l4;
	fr->first_t = whole_t;
	fr->first_t.payload = fr->l4_t;
	whole.frag = whole_t.frag = 3; /* offset 24 bytes, last */
	fr->later = whole;
	fr->later.payload = fr->l4 + 24;
	fr->later_t = whole_t;
	fr->later_t.payload = fr->l4 + 24; /* payload untouched */
}

/* ---- frame cases ------------------------------------------------------- */

/* What a case expects of the output frame. */
enum frame_out {
	OUT_ANY,       /* only the verdict is checked */
	OUT_UNTOUCHED, /* the input, byte for byte */
	OUT_FRAME,     /* .want, byte for byte */
};

struct counter_want {
	int set;
	int id;
	uint64_t delta;
};

/* In a case: counter `id` moves by n while the case runs. */
#define COUNTS(counter, n)                              \
	{                                               \
		.set = 1, .id = (counter), .delta = (n) \
	}

/* One frame through one hook, and what must come of it. */
struct frame_case {
	const char *name;
	int tc; /* 0: xmasq_xdp, 1: xmasq_tc */
	int ifindex;
	struct frame in;
	uint32_t verdict;
	enum frame_out out;
	struct frame want;
	/* more checks of the output, e.g. check_csums; may be NULL */
	void (*check)(const char *what, const struct frame *got);
	struct counter_want counts[2];
};

/* A case translated and sent on: the hook's redirect verdict, `want`
 * byte for byte, its checksums equal to full recomputation. */
static ENV_UNUSED struct frame_case redirect_case(const char *name, int tc, int ifindex,
						  struct pkt_spec in, struct pkt_spec want)
{
	struct frame_case c = {
		.name = name,
		.tc = tc,
		.ifindex = ifindex,
		.in = F(in),
		.verdict = tc ? TC_ACT_REDIRECT : XDP_REDIRECT,
		.out = OUT_FRAME,
		.want = F(want),
		.check = check_csums,
	};
	return c;
}

/* A frame passed to the kernel untouched: XDP_PASS or TC_ACT_OK, the
 * input byte for byte. */
static ENV_UNUSED struct frame_case pass_frame(const char *name, int tc, int ifindex,
					       struct frame in)
{
	struct frame_case c = {
		.name = name,
		.tc = tc,
		.ifindex = ifindex,
		.in = in,
		.verdict = tc ? TC_ACT_OK : XDP_PASS,
		.out = OUT_UNTOUCHED,
	};
	return c;
}

static ENV_UNUSED struct frame_case pass_case(const char *name, int tc, int ifindex,
					      struct pkt_spec in)
{
	return pass_frame(name, tc, ifindex, F(in));
}

/* A case the program drops (XDP_DROP / TC_ACT_SHOT). */
static ENV_UNUSED struct frame_case drop_case(const char *name, int tc, int ifindex,
					      struct pkt_spec in)
{
	struct frame_case c = pass_case(name, tc, ifindex, in);

	c.verdict = tc ? TC_ACT_SHOT : XDP_DROP;
	c.out = OUT_ANY;
	return c;
}

/* Only the IPv4 header checksum, where the L4 one is not the frame's
 * own to check (fragments, partial checksums). */
static ENV_UNUSED void check_ip_csum(const char *what, const struct frame *got)
{
	struct pkt_view v = pkt_view(got->b, got->len);

	tap_ok(v.ok && pkt_ip_csum(got->b + v.l3) == pkt_get16(got->b + v.l3 + 10),
	       "%s: IPv4 header checksum equals full recomputation", what);
}

/* The case with another check of its output (NULL: none). */
static ENV_UNUSED struct frame_case
with_check(struct frame_case c, void (*check)(const char *what, const struct frame *got))
{
	c.check = check;
	return c;
}

/* The case with one more counter delta to check. */
static ENV_UNUSED struct frame_case with_count(struct frame_case c, int id, uint64_t delta)
{
	for (size_t i = 0; i < sizeof(c.counts) / sizeof(c.counts[0]); i++)
		if (!c.counts[i].set) {
			c.counts[i] = (struct counter_want)COUNTS(id, delta);
			break;
		}
	return c;
}

/* Runs one case as the subtest "group: name" (group may be NULL); got is
 * the output frame. Its counter deltas are its own: the counters are
 * marked (cnt_mark) as it starts. 1 if every check passed. */
static ENV_UNUSED int frame_case_run(const char *group, const struct frame_case *c,
				     struct frame *got)
{
	const struct frame *want = c->out == OUT_FRAME	   ? &c->want :
				   c->out == OUT_UNTOUCHED ? &c->in :
							     NULL;
	char what[256];
	int ok;

	if (group)
		snprintf(what, sizeof(what), "%s: %s", group, c->name);
	else
		snprintf(what, sizeof(what), "%s", c->name);
	cnt_mark();
	ok = run_case(c->tc, what, c->ifindex, &c->in, c->verdict, want, got);
	if (c->check)
		c->check(what, got);
	for (size_t i = 0; i < sizeof(c->counts) / sizeof(c->counts[0]); i++)
		if (c->counts[i].set)
			ok &= cnt_check(c->counts[i].id, c->counts[i].delta, what);
	return ok;
}

/* One case, given by value; its name, for the checks that follow it. */
static ENV_UNUSED const char *run_frame_case(struct frame_case c)
{
	struct frame got;

	frame_case_run(NULL, &c, &got);
	return c.name;
}

/* A table of cases, one after the other. */
static ENV_UNUSED int frame_cases_run(const char *group, const struct frame_case *cases, size_t n)
{
	struct frame got;
	int ok = 1;

	for (size_t i = 0; i < n; i++)
		ok &= frame_case_run(group, &cases[i], &got);
	return ok;
}

#define FRAME_CASES_RUN(group, cases) \
	frame_cases_run(group, cases, sizeof(cases) / sizeof((cases)[0]))

/* One frame through a hook: sent on (redirected) or dropped, and counter
 * `id` (-1: none) moved by one. */
static ENV_UNUSED void run_sent_or_dropped(const char *what, int tc, int ifindex, struct frame in,
					   int sent, int id)
{
	struct frame got;
	uint32_t want = sent ? (tc ? TC_ACT_REDIRECT : XDP_REDIRECT) :
			       (tc ? TC_ACT_SHOT : XDP_DROP);

	cnt_mark();
	run_case(tc, what, ifindex, &in, want, NULL, &got);
	if (id >= 0)
		cnt_check(id, 1, what);
}

/* Source port (TCP/UDP) or echo id (ICMP) of a frame; 0 if unparsable. */
static ENV_UNUSED uint16_t frame_sport(const struct frame *f)
{
	struct pkt_view v = pkt_view(f->b, f->len);

	if (!v.ok || v.l4len < 8)
		return 0;
	return pkt_get16(f->b + v.l4 + (v.proto == IPPROTO_ICMP ? 4 : 0));
}

/* A case whose translation picks the source port (ICMP: the echo id)
 * from port_lo..port_hi instead of keeping the client's: checks the
 * verdict, the port, then the frame as `want` with that port, and its
 * checksums. The port, 0 if none. */
static ENV_UNUSED uint16_t run_picking_port(const char *what, int tc, int ifindex,
					    struct pkt_spec in, struct pkt_spec want)
{
	struct frame f = F(in), got, want_f;
	unsigned int port = 0; /* not uint16_t: port_hi may be 65535 */

	if (run_case(tc, what, ifindex, &f, tc ? TC_ACT_REDIRECT : XDP_REDIRECT, NULL, &got))
		port = frame_sport(&got);
	if (!tap_ok(port >= XM_DEFAULT_PORT_LO && port <= XM_DEFAULT_PORT_HI && port != in.sport,
		    "%s: source port %u from port_lo..port_hi %u-%u, not the client's %u", what,
		    port, XM_DEFAULT_PORT_LO, XM_DEFAULT_PORT_HI, in.sport))
		pkt_hex("got", got.b, got.len, diag_fmt);
	want.sport = port;
	want_f = F(want);
	if (!tap_ok(same_frame(&got, &want_f), "%s: rest of the frame as expected", what))
		hexdiff(&got, &want_f);
	check_csums(what, &got);
	return (uint16_t)port;
}

#endif
