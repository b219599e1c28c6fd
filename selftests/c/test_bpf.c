/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * BPF_PROG_TEST_RUN test of the data plane (bpf/xmasq.bpf.c): crafted
 * frames through xmasq_xdp and xmasq_tc, output frames compared byte for
 * byte with frames built independently here (checksums by full
 * recomputation, never incrementally), conntrack entries and counters
 * checked in the maps.
 *
 * Runs as root in a private network namespace (unshare(CLONE_NEWNET)) with
 *   pub0 (192.0.2.1/24)     <-> pub0p   "public" NIC, clients 192.0.2.10/.11
 *   bk0  (198.18.0.1/24)    <-> bk0p    backend side, backend 198.18.0.2
 *   pub1 (198.51.100.1/24)  <-> pub1p   an interface xmasq does not manage
 * and permanent neighbours, so bpf_fib_lookup has routes and MACs. Nothing
 * leaves the namespace: test runs never transmit (no live frames), and the
 * namespace with its veths is gone when the process exits.
 *
 * The skeleton is loaded without pinning and the maps are filled here the
 * way the loader would (one rules entry per port of a range).
 */
#include "bpf_fixture.h"

static const uint8_t MAC_CLIENT2[6] = { 0x02, 0, 0, 0, 0x00, 0x11 };

#define A_CLIENT2 IPV4(192, 0, 2, 11)
#define A_OTHER	  IPV4(192, 0, 2, 99)
#define A_NONEIGH IPV4(198, 18, 0, 3)
#define A_NOROUTE IPV4(198, 19, 200, 1)

enum {
	RULE_TCP = 1,	       /* pub0 tcp 8080 -> backend:80 */
	RULE_UDP = 2,	       /* pub0 udp 5000 -> backend:5000 */
	RULE_RANGE = 3,	       /* pub0 tcp 6000-6009 -> backend:7000-7009 */
	RULE_NONEIGH = 4,      /* pub0 tcp 9001 -> 198.18.0.3:80 (no neighbour) */
	RULE_NOROUTE = 5,      /* pub0 tcp 9002 -> 198.19.200.1:80 (no route) */
	RULE_UNMANAGED = 6,    /* pub0 tcp 9003 -> 198.51.100.2:80 (via pub1) */
	RULE_DADDR = 7,	       /* pub0:192.0.2.1 tcp 8443 -> backend:443 */
	RULE_OTHER_ADDR = 8,   /* pub0:192.0.2.99 tcp 8444 -> backend:444 */
	RULE_GEN1 = 9,	       /* gen 1 only: pub0 tcp 8081 -> backend:81 */
	RULE_UDP_PARTIAL = 10, /* pub0 udp 5001 -> backend:5001 */
};

/* ---- setup ------------------------------------------------------------- */

/* ---- a closed TCP flow's port ------------------------------------------ */

static int set_config(uint32_t gen);

/* The state both entries of client 192.0.2.10:port's flow through RULE_TCP
 * hold, -1 if they are gone or disagree. */
static int tcp_flow_state(uint32_t client, uint16_t port, uint16_t masq_port)
{
	struct xm_flow o, r;

	if (flow_get(client, A_PUB0, port, 8080, IPPROTO_TCP, &o) ||
	    flow_get(A_BACKEND, A_BK0, 80, masq_port, IPPROTO_TCP, &r) || o.state != r.state)
		return -1;
	return o.state;
}

/* The frames of a forwarded TCP connection on kept port 20000 and its
 * close, and a second client's SYN from the same port. */
struct tcp_close_frames {
	struct pkt_spec syn, synack, cfin, bfin, cack, back, syn2;
};

static struct tcp_close_frames tcp_close_frames(void)
{
	struct tcp_close_frames f = {
		.syn = client_spec(IPPROTO_TCP, 20000, 8080, TCP_SYN),
		.synack = backend_spec(IPPROTO_TCP, 80, 20000, TCP_SYN | TCP_ACK),
		.cfin = client_spec(IPPROTO_TCP, 20000, 8080, TCP_FIN | TCP_ACK),
		.bfin = backend_spec(IPPROTO_TCP, 80, 20000, TCP_FIN | TCP_ACK),
		.cack = client_spec(IPPROTO_TCP, 20000, 8080, TCP_ACK),
		.back = backend_spec(IPPROTO_TCP, 80, 20000, TCP_ACK),
		.syn2 = client_spec(IPPROTO_TCP, 20000, 8080, TCP_SYN),
	};

	f.syn2.saddr = A_CLIENT2;
	f.syn2.smac = MAC_CLIENT2;
	return f;
}

/* FINs both ways and the last ACK close a flow at once; with one port in
 * the range, a new client on the same port then takes the closed flow's
 * reply key (free ports are tried first: none is), and the backend's late
 * FIN or data of the old connection is not translated into the new one
 * before its SYN-ACK. */
static void test_tcp_close_reuse(void)
{
	const struct tcp_close_frames f = tcp_close_frames();
	struct pkt_spec late_fin = backend_spec(IPPROTO_TCP, 80, 20000, TCP_FIN | TCP_ACK),
			late_data = with_payload(backend_spec(IPPROTO_TCP, 80, 20000, TCP_ACK), 20),
			bare_ack = backend_spec(IPPROTO_TCP, 80, 20000, TCP_ACK),
			synack2 = backend_spec(IPPROTO_TCP, 80, 20000, TCP_SYN | TCP_ACK);

	struct xm_config c = fixture_config();

	c.flags = XM_CFG_ADDR_RULES;
	c.port_lo = c.port_hi = 20000;
	if (!tap_ok(fixture_set_config(&c) == 0, "close: the port range is 20000 alone"))
		return;
	flows_clear();
	{
		const struct frame_case cases[] = {
			redirect_case("close: tcp SYN 192.0.2.10:20000 -> :8080 (port kept)", 0,
				      if_pub0, f.syn, fwd_of(f.syn, 20000, 80)),
			redirect_case("close: SYN-ACK", 0, if_bk0, f.synack,
				      rev_of(f.synack, A_CLIENT, MAC_CLIENT, 8080, 20000)),
			redirect_case("close: the client's FIN", 0, if_pub0, f.cfin,
				      fwd_of(f.cfin, 20000, 80)),
			redirect_case("close: the backend's FIN", 0, if_bk0, f.bfin,
				      rev_of(f.bfin, A_CLIENT, MAC_CLIENT, 8080, 20000)),
		};

		FRAME_CASES_RUN(NULL, cases);
	}
	TAP_EQ(tcp_flow_state(A_CLIENT, 20000, 20000), XM_ST_FIN,
	       "close: FINs both ways, no last ACK yet: FIN");
	run_frame_case(redirect_case("close: the last ACK", 0, if_pub0, f.cack,
				     fwd_of(f.cack, 20000, 80)));
	TAP_EQ(tcp_flow_state(A_CLIENT, 20000, 20000), XM_ST_CLOSE,
	       "close: after the last ACK both entries are CLOSE");

	run_frame_case(with_count(redirect_case("close: another client's SYN from port 20000 "
						"takes the closed flow's port",
						0, if_pub0, f.syn2, fwd_of(f.syn2, 20000, 80)),
				  XM_C_FLOW_PORT_REUSED, 1));
	TAP_EQ(tcp_flow_state(A_CLIENT, 20000, 20000), -1, "close: the closed flow is gone");
	TAP_EQ(tcp_flow_state(A_CLIENT2, 20000, 20000), XM_ST_SYN_SENT,
	       "close: the new flow holds port 20000, SYN_SENT");
	{
		const struct frame_case cases[] = {
			with_count(drop_case("close: a late FIN of the old connection is dropped",
					     0, if_bk0, late_fin),
				   XM_C_DROP_STALE_SEGMENT, 1),
			with_count(drop_case("close: late data of the old connection is dropped", 1,
					     if_bk0, late_data),
				   XM_C_DROP_STALE_SEGMENT, 1),
			redirect_case("close: a bare ACK (a TIME_WAIT answer) still reaches the "
				      "new "
				      "client",
				      0, if_bk0, bare_ack,
				      rev_of(bare_ack, A_CLIENT2, MAC_CLIENT2, 8080, 20000)),
			redirect_case("close: the new connection's SYN-ACK", 0, if_bk0, synack2,
				      rev_of(synack2, A_CLIENT2, MAC_CLIENT2, 8080, 20000)),
		};

		FRAME_CASES_RUN(NULL, cases);
	}
	TAP_EQ(tcp_flow_state(A_CLIENT2, 20000, 20000), XM_ST_ESTABLISHED,
	       "close: the new flow ESTABLISHED");
	flows_clear();
	set_config(0);
}

/* The time_waits slot of backend:80 -> the router's bk0 address:port. */
static uint32_t time_wait_slot_of(uint16_t masq_port)
{
	struct xm_flow_key k = {
		.saddr = A_BACKEND,
		.daddr = A_BK0,
		.sport = htons(80),
		.dport = htons(masq_port),
		.proto = IPPROTO_TCP,
	};

	return xm_time_wait_slot(((uint64_t *)&k)[0], ((uint64_t *)&k)[1]);
}

/* Its note, or until_s 0 when it cannot be read. */
static struct xm_time_wait time_wait_of(uint16_t masq_port)
{
	uint32_t slot = time_wait_slot_of(masq_port);
	struct xm_time_wait tw = { 0 };

	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.time_waits), &slot, &tw))
		tw.until_s = 0;
	return tw;
}

static void time_wait_forget(uint16_t masq_port)
{
	uint32_t slot = time_wait_slot_of(masq_port);
	struct xm_time_wait none = { 0 };

	bpf_map_update_elem(bpf_map__fd(skel->maps.time_waits), &slot, &none, BPF_ANY);
}

static uint64_t counter_now(int id)
{
	uint64_t c[XM_C_MAX];

	counters_read(c);
	return c[id];
}

/* A close whose last ACK comes from the backend (it closed first: it
 * holds the tuple in TIME_WAIT for 60 s) is noted; another client's new
 * flow then passes over that port while a free one is left, the same
 * client's (address and port) does not, and the note ends after 60 s. A close the client
 * ended is not noted. */
static void test_tcp_time_wait(void)
{
	const struct tcp_close_frames f = tcp_close_frames();
	struct xm_config c = fixture_config();
	struct xm_time_wait tw;
	uint64_t before;
	uint32_t now;

	c.flags = XM_CFG_ADDR_RULES;
	c.port_lo = 20000;
	c.port_hi = 20001;
	if (!tap_ok(fixture_set_config(&c) == 0, "time-wait: the port range is 20000-20001"))
		return;
	flows_clear();
	time_wait_forget(20000);
	time_wait_forget(20001);
	{
		const struct frame_case cases[] = {
			redirect_case("time-wait: tcp SYN 192.0.2.10:20000 (port kept)", 0, if_pub0,
				      f.syn, fwd_of(f.syn, 20000, 80)),
			redirect_case("time-wait: SYN-ACK", 0, if_bk0, f.synack,
				      rev_of(f.synack, A_CLIENT, MAC_CLIENT, 8080, 20000)),
			redirect_case("time-wait: the backend's FIN first", 0, if_bk0, f.bfin,
				      rev_of(f.bfin, A_CLIENT, MAC_CLIENT, 8080, 20000)),
			redirect_case("time-wait: the client's FIN", 0, if_pub0, f.cfin,
				      fwd_of(f.cfin, 20000, 80)),
		};

		FRAME_CASES_RUN(NULL, cases);
	}
	TAP_EQ(time_wait_of(20000).until_s, 0, "time-wait: nothing noted before the last ACK");
	run_frame_case(redirect_case("time-wait: the backend's last ACK", 0, if_bk0, f.back,
				     rev_of(f.back, A_CLIENT, MAC_CLIENT, 8080, 20000)));
	TAP_EQ(tcp_flow_state(A_CLIENT, 20000, 20000), XM_ST_CLOSE, "time-wait: the flow is CLOSE");
	tw = time_wait_of(20000);
	now = mono_s() + skel->bss->xm_clock_ahead_s;
	TAP_EQ(tw.client, A_CLIENT, "time-wait: the backend's TIME_WAIT noted with the client");
	TAP_EQ(ntohs(tw.client_port), 20000, "time-wait: ... and the client's port");
	tap_ok(tw.until_s >= now + XM_TIME_WAIT_S - 1 && tw.until_s <= now + XM_TIME_WAIT_S + 1,
	       "time-wait: ... for 60 s (until %u, now %u)", tw.until_s, now);

	/* The flow expires; the port is free in the table, not at the backend. */
	flows_clear();
	before = counter_now(XM_C_FLOW_PORT_TIME_WAIT);
	run_frame_case(redirect_case("time-wait: another client's SYN from port 20000 gets 20001",
				     0, if_pub0, f.syn2, fwd_of(f.syn2, 20001, 80)));
	tap_ok(counter_now(XM_C_FLOW_PORT_TIME_WAIT) > before, "time-wait: flow_port_time_wait "
							       "counted the port passed over");
	flows_clear();
	before = counter_now(XM_C_FLOW_PORT_TIME_WAIT);
	run_frame_case(redirect_case("time-wait: the same client's SYN keeps port 20000", 0,
				     if_pub0, f.syn, fwd_of(f.syn, 20000, 80)));
	TAP_EQ(counter_now(XM_C_FLOW_PORT_TIME_WAIT), before,
	       "time-wait: ... passing over nothing");

	/* Pressed (one port, noted): the search's second half takes it. */
	flows_clear();
	c.port_hi = 20000;
	fixture_set_config(&c);
	run_frame_case(redirect_case("time-wait: with no other port, another client still gets "
				     "20000",
				     0, if_pub0, f.syn2, fwd_of(f.syn2, 20000, 80)));

	/* 60 s later the note is over. */
	flows_clear();
	c.port_hi = 20001;
	fixture_set_config(&c);
	skel->bss->xm_clock_ahead_s += XM_TIME_WAIT_S + 1;
	before = counter_now(XM_C_FLOW_PORT_TIME_WAIT);
	run_frame_case(redirect_case("time-wait: 61 s on, another client keeps port 20000", 0,
				     if_pub0, f.syn2, fwd_of(f.syn2, 20000, 80)));
	TAP_EQ(counter_now(XM_C_FLOW_PORT_TIME_WAIT), before,
	       "time-wait: ... passing over nothing");

	/* The client closes first: it holds the TIME_WAIT, the backend none. */
	flows_clear();
	time_wait_forget(20000);
	{
		const struct frame_case cases[] = {
			redirect_case("time-wait: client-first close: SYN", 0, if_pub0, f.syn,
				      fwd_of(f.syn, 20000, 80)),
			redirect_case("time-wait: client-first close: SYN-ACK", 0, if_bk0, f.synack,
				      rev_of(f.synack, A_CLIENT, MAC_CLIENT, 8080, 20000)),
			redirect_case("time-wait: client-first close: the client's FIN", 0, if_pub0,
				      f.cfin, fwd_of(f.cfin, 20000, 80)),
			redirect_case("time-wait: client-first close: the backend's FIN", 0, if_bk0,
				      f.bfin, rev_of(f.bfin, A_CLIENT, MAC_CLIENT, 8080, 20000)),
			redirect_case("time-wait: client-first close: the client's last ACK", 0,
				      if_pub0, f.cack, fwd_of(f.cack, 20000, 80)),
		};

		FRAME_CASES_RUN(NULL, cases);
	}
	TAP_EQ(tcp_flow_state(A_CLIENT, 20000, 20000), XM_ST_CLOSE,
	       "time-wait: client-first close: CLOSE");
	TAP_EQ(time_wait_of(20000).until_s, 0, "time-wait: client-first close: nothing noted");
	flows_clear();
	set_config(0);
}

/* ---- timestamps shifted on a tuple in TIME_WAIT ------------------------ */

/* TCP options: a SYN's (MSS, SACK permitted, timestamps, NOP, window
 * scale: TSval at option byte 8), the usual NOP NOP timestamps (TSval at
 * 4), and one with the timestamps at an odd offset (NOP, timestamps, NOP:
 * TSval at 3, its checksum words straddled). */
struct ts_opts {
	uint8_t b[20];
	uint8_t len;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static struct ts_opts ts_syn(uint32_t tsval)
{
	struct ts_opts o = { { 2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7 },
			     20 };

	put32(o.b + 8, tsval);
	return o;
}

static struct ts_opts ts_usual(uint32_t tsval, uint32_t tsecr)
{
	struct ts_opts o = { { 1, 1, 8, 10 }, 12 };

	put32(o.b + 4, tsval);
	put32(o.b + 8, tsecr);
	return o;
}

static struct ts_opts ts_odd(uint32_t tsval, uint32_t tsecr)
{
	struct ts_opts o = { { 1, 8, 10 }, 12 };

	put32(o.b + 3, tsval);
	put32(o.b + 7, tsecr);
	o.b[11] = 1;
	return o;
}

static struct pkt_spec with_opts(struct pkt_spec s, const struct ts_opts *o)
{
	s.tcp_opts = o->b;
	s.tcp_optlen = o->len;
	return s;
}

static uint32_t time_wait_ts_of(uint16_t masq_port)
{
	uint32_t slot = time_wait_slot_of(masq_port), v = 0;

	bpf_map_lookup_elem(bpf_map__fd(skel->maps.time_wait_ts), &slot, &v);
	return v;
}

/* A connection on the one port 20000 the backend closes first: its last
 * ACK notes the client's last timestamp it took (TSecr 1001). A second
 * client then takes that port with a SYN whose own clock is behind
 * (TSval 500): its timestamps go out shifted past 1001 (+ 65,536), the
 * backend's TSecr come back unshifted, in every option layout, with
 * checksums equal to full recomputation; both entries hold the delta.
 * By XDP (tc 0) and by tc (tc 1). */
static void test_tcp_ts_shift(int tc)
{
	const char *hook = tc ? "ts-shift tc" : "ts-shift xdp";
	const struct tcp_close_frames f = tcp_close_frames();
	const uint32_t delta = 1001 + 65536 - 500;
	struct ts_opts a_syn = ts_syn(1000), b_synack = ts_usual(5000, 1000),
		       b_fin = ts_usual(5001, 1000), a_fin = ts_usual(1001, 5001),
		       b_ack = ts_usual(5002, 1001), c_syn = ts_syn(500),
		       c_syn_out = ts_syn(500 + delta), s_synack = ts_usual(6000, 500 + delta),
		       s_synack_out = ts_usual(6000, 500), c_ack = ts_usual(501, 6000),
		       c_ack_out = ts_usual(501 + delta, 6000), c_odd = ts_odd(502, 6001),
		       c_odd_out = ts_odd(502 + delta, 6001), s_odd = ts_odd(6002, 502 + delta),
		       s_odd_out = ts_odd(6002, 502);
	struct pkt_spec c_data = with_payload(with_opts(f.syn2, &c_odd), 20),
			c_ack_in = with_opts(f.syn2, &c_ack),
			c_ack_in_out = with_opts(f.syn2, &c_ack_out);
	struct xm_config c = fixture_config();
	char w[160];

	c_data.tcp_flags = c_ack_in.tcp_flags = c_ack_in_out.tcp_flags = TCP_ACK;
	c.flags = XM_CFG_ADDR_RULES;
	c.port_lo = c.port_hi = 20000;
	snprintf(w, sizeof(w), "%s: the port range is 20000 alone", hook);
	if (!tap_ok(fixture_set_config(&c) == 0, "%s", w))
		return;
	flows_clear();
	time_wait_forget(20000);
	{
		const struct frame_case cases[] = {
			redirect_case("ts-shift: the first client's SYN, TSval 1000: unshifted", tc,
				      if_pub0, with_opts(f.syn, &a_syn),
				      fwd_of(with_opts(f.syn, &a_syn), 20000, 80)),
			redirect_case("ts-shift: SYN-ACK", tc, if_bk0,
				      with_opts(f.synack, &b_synack),
				      rev_of(with_opts(f.synack, &b_synack), A_CLIENT, MAC_CLIENT,
					     8080, 20000)),
			redirect_case("ts-shift: the backend's FIN first", tc, if_bk0,
				      with_opts(f.bfin, &b_fin),
				      rev_of(with_opts(f.bfin, &b_fin), A_CLIENT, MAC_CLIENT, 8080,
					     20000)),
			redirect_case("ts-shift: the client's FIN, TSval 1001", tc, if_pub0,
				      with_opts(f.cfin, &a_fin),
				      fwd_of(with_opts(f.cfin, &a_fin), 20000, 80)),
			redirect_case("ts-shift: the backend's last ACK, TSecr 1001", tc, if_bk0,
				      with_opts(f.back, &b_ack),
				      rev_of(with_opts(f.back, &b_ack), A_CLIENT, MAC_CLIENT, 8080,
					     20000)),
		};

		FRAME_CASES_RUN(hook, cases);
	}
	{
		struct xm_flow o, r;
		int rc = flow_get(A_CLIENT, A_PUB0, 20000, 8080, IPPROTO_TCP, &o) |
			 flow_get(A_BACKEND, A_BK0, 80, 20000, IPPROTO_TCP, &r);

		snprintf(w, sizeof(w), "%s: the closed first flow is not shifted", hook);
		tap_ok(rc == 0 && !((o.bytes_hi | r.bytes_hi) & XM_FLOW_HI_TS_SHIFT) &&
			       o.packets == 2 && r.packets == 3,
		       "%s (bytes_hi %#x %#x, packets %u %u)", w, o.bytes_hi, r.bytes_hi, o.packets,
		       r.packets);
	}
	snprintf(w, sizeof(w), "%s: the note has the timestamp 1001 the backend took last", hook);
	tap_ok((time_wait_of(20000).flags & XM_TIME_WAIT_HAS_TS) && time_wait_ts_of(20000) == 1001,
	       "%s (flags %u, ts %u)", w, time_wait_of(20000).flags, time_wait_ts_of(20000));
	{
		const struct frame_case cases[] = {
			with_count(redirect_case("ts-shift: another client's SYN from port 20000, "
						 "TSval 500: out as 66,537",
						 tc, if_pub0, with_opts(f.syn2, &c_syn),
						 fwd_of(with_opts(f.syn2, &c_syn_out), 20000, 80)),
				   XM_C_FLOW_TS_SHIFTED, 1),
			redirect_case("ts-shift: its SYN-ACK, TSecr 66,537: back as 500", tc,
				      if_bk0, with_opts(f.synack, &s_synack),
				      rev_of(with_opts(f.synack, &s_synack_out), A_CLIENT2,
					     MAC_CLIENT2, 8080, 20000)),
			redirect_case("ts-shift: its ACK (NOP NOP timestamps): TSval shifted, "
				      "TSecr "
				      "not",
				      tc, if_pub0, c_ack_in, fwd_of(c_ack_in_out, 20000, 80)),
			redirect_case("ts-shift: data with the timestamps at an odd offset: "
				      "shifted, "
				      "checksum right",
				      tc, if_pub0, c_data,
				      fwd_of(with_opts(c_data, &c_odd_out), 20000, 80)),
			redirect_case("ts-shift: the backend's reply at an odd offset: TSecr back",
				      tc, if_bk0, with_opts(f.back, &s_odd),
				      rev_of(with_opts(f.back, &s_odd_out), A_CLIENT2, MAC_CLIENT2,
					     8080, 20000)),
		};

		FRAME_CASES_RUN(hook, cases);
	}
	/* Both entries marked, the delta where they counted packets. */
	{
		struct xm_flow o, r;
		int rc = flow_get(A_CLIENT2, A_PUB0, 20000, 8080, IPPROTO_TCP, &o) |
			 flow_get(A_BACKEND, A_BK0, 80, 20000, IPPROTO_TCP, &r);

		snprintf(w, sizeof(w), "%s: both entries marked shifted, holding the delta %u",
			 hook, delta);
		tap_ok(rc == 0 && (o.bytes_hi & r.bytes_hi & XM_FLOW_HI_TS_SHIFT) &&
			       o.packets == delta && r.packets == delta,
		       "%s (orig %u, reply %u)", w, o.packets, r.packets);
	}
	/* ... and still after the close, FINs both ways and the last ACK. */
	{
		struct ts_opts bf = ts_usual(6003, 503 + delta), bf_out = ts_usual(6003, 503),
			       cf = ts_usual(503, 6003), cf_out = ts_usual(503 + delta, 6003),
			       ba = ts_usual(6004, 504 + delta), ba_out = ts_usual(6004, 504);
		struct pkt_spec cfin = with_opts(f.syn2, &cf),
				cfin_out = with_opts(f.syn2, &cf_out);
		struct xm_flow o, r;
		int rc;

		cfin.tcp_flags = cfin_out.tcp_flags = TCP_FIN | TCP_ACK;
		{
			const struct frame_case cases[] = {
				redirect_case("ts-shift: the backend's FIN", tc, if_bk0,
					      with_opts(f.bfin, &bf),
					      rev_of(with_opts(f.bfin, &bf_out), A_CLIENT2,
						     MAC_CLIENT2, 8080, 20000)),
				redirect_case("ts-shift: the client's FIN", tc, if_pub0, cfin,
					      fwd_of(cfin_out, 20000, 80)),
				redirect_case("ts-shift: the backend's last ACK", tc, if_bk0,
					      with_opts(f.back, &ba),
					      rev_of(with_opts(f.back, &ba_out), A_CLIENT2,
						     MAC_CLIENT2, 8080, 20000)),
			};

			FRAME_CASES_RUN(hook, cases);
		}
		rc = flow_get(A_CLIENT2, A_PUB0, 20000, 8080, IPPROTO_TCP, &o) |
		     flow_get(A_BACKEND, A_BK0, 80, 20000, IPPROTO_TCP, &r);
		snprintf(w, sizeof(w), "%s: closed, both entries still hold the delta", hook);
		tap_ok(rc == 0 && (o.bytes_hi & r.bytes_hi & XM_FLOW_HI_TS_SHIFT) &&
			       o.packets == delta && r.packets == delta,
		       "%s (orig %u, reply %u, state %u)", w, o.packets, r.packets, o.state);
	}
	flows_clear();
	set_config(0);
}

static void test_tcp_ts_shift_xdp(void)
{
	test_tcp_ts_shift(0);
}

static void test_tcp_ts_shift_tc(void)
{
	test_tcp_ts_shift(1);
}

static int setup_netns(void)
{
	if (fixture_netns())
		return -1;
	return sh("ip neigh add 192.0.2.11 lladdr 02:00:00:00:00:11 dev pub0 nud permanent");
}

static int set_config(uint32_t gen)
{
	struct xm_config c = fixture_config();

	c.active_gen = gen;
	c.flags = XM_CFG_ADDR_RULES; /* RULE_DADDR is for one address */
	return fixture_set_config(&c);
}

static int setup_maps(void)
{
	int err = 0, p;

	err |= set_config(0);
	err |= fixture_base_ifaces();
	err |= add_rule(RULE_TCP, if_pub0, 0, 8080, IPPROTO_TCP, 0, A_BACKEND, 80, 0);
	err |= add_rule(RULE_UDP, if_pub0, 0, 5000, IPPROTO_UDP, 0, A_BACKEND, 5000, 0);
	for (p = 6000; p <= 6009; p++)
		err |= add_rule(RULE_RANGE, if_pub0, 0, (uint16_t)p, IPPROTO_TCP, 0, A_BACKEND,
				(uint16_t)(p + 1000), 0);
	err |= add_rule(RULE_NONEIGH, if_pub0, 0, 9001, IPPROTO_TCP, 0, A_NONEIGH, 80, 0);
	err |= add_rule(RULE_NOROUTE, if_pub0, 0, 9002, IPPROTO_TCP, 0, A_NOROUTE, 80, 0);
	err |= add_rule(RULE_UNMANAGED, if_pub0, 0, 9003, IPPROTO_TCP, 0, A_PUB1_PEER, 80, 0);
	err |= add_rule(RULE_DADDR, if_pub0, A_PUB0, 8443, IPPROTO_TCP, 0, A_BACKEND, 443, 0);
	err |= add_rule(RULE_OTHER_ADDR, if_pub0, A_OTHER, 8444, IPPROTO_TCP, 0, A_BACKEND, 444, 0);
	err |= add_rule(RULE_GEN1, if_pub0, 0, 8081, IPPROTO_TCP, 1, A_BACKEND, 81, 0);
	err |= add_rule(RULE_UDP_PARTIAL, if_pub0, 0, 5001, IPPROTO_UDP, 0, A_BACKEND, 5001, 0);
	return err ? -1 : 0;
}

/* ---- XDP cases --------------------------------------------------------- */

static void test_xdp_tcp(void)
{
	struct pkt_spec syn = client_spec(IPPROTO_TCP, 40000, 8080, TCP_SYN),
			syn_ack = backend_spec(IPPROTO_TCP, 80, 40000, TCP_SYN | TCP_ACK),
			data = with_payload(client_spec(IPPROTO_TCP, 40000, 8080,
							TCP_ACK | TCP_PSH),
					    sizeof(PAYLOAD) - 1),
			s, r;
	const struct frame_case syn_case =
		with_count(with_count(redirect_case("XDP tcp SYN 192.0.2.10:40000 -> "
						    "192.0.2.1:8080 (forward)",
						    0, if_pub0, syn, fwd_of(syn, 40000, 80)),
				      XM_C_FLOW_NEW, 1),
			   XM_C_FWD_XDP, 1);
	const struct frame_case syn_ack_case = with_count(
		redirect_case("XDP tcp SYN-ACK 198.18.0.2:80 -> 198.18.0.1:40000 (reply)", 0,
			      if_bk0, syn_ack, rev_of(syn_ack, A_CLIENT, MAC_CLIENT, 8080, 40000)),
		XM_C_FLOW_NEW, 0);
	const struct frame_case data_case =
		redirect_case("XDP tcp ACK with 41-byte payload on the established flow", 0,
			      if_pub0, data, fwd_of(data, 40000, 80));
	struct frame got;
	struct xm_flow f;
	struct xm_rule_stats rs0, rs1;
	struct xm_iface_stats is0a, is1a, is0b, is1b;
	uint16_t port;
	const char *w;

	flows_clear();
	rs0 = rule_stats_read(RULE_TCP);
	is0a = iface_stats_read(0);
	is1a = iface_stats_read(1);

	w = syn_case.name;
	frame_case_run(NULL, &syn_case, &got);
	TAP_EQ(flows_count(), 2, "%s: two flow entries (original + reply)", w);
	tap_ok(flow_get(A_CLIENT, A_PUB0, 40000, 8080, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_BK0, A_BACKEND, 40000, 80, if_bk0, MAC_BACKEND, 0,
			       XM_FLOW_L2_VALID, RULE_TCP) &&
		       f.state == XM_ST_SYN_SENT && f.packets == 1,
	       "%s: original entry {client:40000 -> pub0:8080} rewrites to bk0:40000 -> backend:80 "
	       "via bk0, SYN_SENT, 1 packet",
	       w);
	tap_ok(flow_get(A_BACKEND, A_BK0, 80, 40000, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_PUB0, A_CLIENT, 8080, 40000, if_pub0, MAC_CLIENT, 0,
			       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_TCP),
	       "%s: reply entry {backend:80 -> bk0:40000} rewrites to pub0:8080 -> client:40000 "
	       "via pub0, client's MACs",
	       w);

	w = syn_ack_case.name;
	frame_case_run(NULL, &syn_ack_case, &got);
	TAP_EQ(flows_count(), 2, "%s: still two flow entries", w);
	/* Both entries carry the TCP state (bpf/flow.h: a change is written to
	 * both; the sweeper reads the ORIG one). */
	flow_get(A_CLIENT, A_PUB0, 40000, 8080, IPPROTO_TCP, &f);
	TAP_EQ(f.state, XM_ST_ESTABLISHED,
	       "%s: original entry's TCP state is ESTABLISHED after the reply", w);
	flow_get(A_BACKEND, A_BK0, 80, 40000, IPPROTO_TCP, &f);
	TAP_EQ(f.state, XM_ST_ESTABLISHED,
	       "%s: reply entry's TCP state is ESTABLISHED after the reply", w);

	frame_case_run(NULL, &data_case, &got);

	rs1 = rule_stats_read(RULE_TCP);
	TAP_EQ(rs1.flows - rs0.flows, 1, "rule_stats of the tcp rule: 1 flow");
	TAP_EQ(rs1.packets[XM_DIR_ORIG] - rs0.packets[XM_DIR_ORIG], 2,
	       "rule_stats of the tcp rule: 2 original packets");
	TAP_EQ(rs1.packets[XM_DIR_REPLY] - rs0.packets[XM_DIR_REPLY], 1,
	       "rule_stats of the tcp rule: 1 reply packet");
	is0b = iface_stats_read(0);
	is1b = iface_stats_read(1);
	TAP_EQ(is0b.rx_packets - is0a.rx_packets, 2, "iface_stats: pub0 rx 2");
	TAP_EQ(is0b.tx_packets - is0a.tx_packets, 1, "iface_stats: pub0 tx 1");
	TAP_EQ(is1b.rx_packets - is1a.rx_packets, 1, "iface_stats: bk0 rx 1");
	TAP_EQ(is1b.tx_packets - is1a.tx_packets, 2, "iface_stats: bk0 tx 2");
	TAP_EQ(is1b.tx_xdp - is1a.tx_xdp, 2, "iface_stats: bk0 tx 2 by XDP");

	/* A second client with the same source port: the masquerade tuple
	 * (tcp, 198.18.0.1:40000, backend:80) is taken, so another port. */
	w = "XDP tcp SYN 192.0.2.11:40000 -> :8080 (client port already taken)";
	s = client_spec(IPPROTO_TCP, 40000, 8080, TCP_SYN);
	s.smac = MAC_CLIENT2;
	s.saddr = A_CLIENT2;
	port = run_picking_port(w, 0, if_pub0, s, fwd_of(s, 0, 80));
	tap_ok(flows_count() == 4 && flow_get(A_BACKEND, A_BK0, 80, port, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_PUB0, A_CLIENT2, 8080, 40000, if_pub0, MAC_CLIENT2, 0,
			       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_TCP),
	       "%s: reply entry keyed on the new port, back to 192.0.2.11:40000", w);

	r = backend_spec(IPPROTO_TCP, 80, port, TCP_SYN | TCP_ACK);
	run_frame_case(redirect_case("XDP tcp reply to the reallocated port", 0, if_bk0, r,
				     rev_of(r, A_CLIENT2, MAC_CLIENT2, 8080, 40000)));
}

/* A client datagram to 5000 with a 10-byte payload in pl whose last word
 * is chosen so that the forwarded datagram's checksum computes to 0,
 * which must be sent as 0xffff (RFC 768). The spec; *ok 0 when no word
 * does it. */
static struct pkt_spec udp_summing_to_zero(uint16_t sport, uint8_t pl[10], int *ok)
{
	struct pkt_spec s = client_spec(IPPROTO_UDP, sport, 5000, 0);
	struct frame t;
	struct pkt_view v;

	s.payload = pl;
	s.plen = 10;
	pl[8] = pl[9] = 0;
	t = F(fwd_of(s, sport, 5000));
	v = pkt_view(t.b, t.len);
	/* The sum with a zero checksum field and the last word zero; the
	 * word is its complement. */
	pkt_put16(t.b + v.l4 + 6, 0);
	pkt_put16(pl + 8, (uint16_t)~pkt_fold(
				  pkt_sum(t.b + v.l4, v.l4len, pkt_pseudo(t.b + v.l3, v.l4len))));
	t = F(fwd_of(s, sport, 5000));
	v = pkt_view(t.b, t.len);
	*ok = pkt_l4_csum(t.b + v.l3, t.b + v.l4, v.l4len, 6) == 0 &&
	      pkt_get16(t.b + v.l4 + 6) == 0xffff;
	return s;
}

/* The UDP checksum field of a frame; -1 if unparsable. */
static int udp_csum_field(const struct frame *f)
{
	struct pkt_view v = pkt_view(f->b, f->len);

	return v.ok && v.proto == IPPROTO_UDP ? pkt_get16(f->b + v.l4 + 6) : -1;
}

static void test_xdp_udp(void)
{
	struct pkt_spec udp = with_payload(client_spec(IPPROTO_UDP, 5353, 5000, 0), 9),
			reply = with_payload(backend_spec(IPPROTO_UDP, 5000, 5353, 0), 20),
			no_csum = with_payload(client_spec(IPPROTO_UDP, 5354, 5000, 0), 12), s;
	uint8_t pl[10] = { 'u', 'd', 'p', '-', 'z', 'e', 'r', 'o', 0, 0 };
	struct frame got;
	const char *w;
	int ok;

	no_csum.l4cs = L4CS_ZERO;
	flows_clear();
	w = run_frame_case(redirect_case("XDP udp 192.0.2.10:5353 -> 192.0.2.1:5000 (forward)", 0,
					 if_pub0, udp, fwd_of(udp, 5353, 5000)));
	TAP_EQ(flows_count(), 2, "%s: two flow entries", w);
	run_frame_case(redirect_case("XDP udp 198.18.0.2:5000 -> 198.18.0.1:5353 (reply)", 0,
				     if_bk0, reply,
				     rev_of(reply, A_CLIENT, MAC_CLIENT, 5000, 5353)));
	{
		/* checksum 0 (none) stays 0: not a recomputed one */
		const struct frame_case c =
			with_check(redirect_case("XDP udp with checksum 0 (none)", 0, if_pub0,
						 no_csum, fwd_of(no_csum, 5354, 5000)),
				   NULL);

		frame_case_run(NULL, &c, &got);
		TAP_EQ(udp_csum_field(&got), 0, "%s: translated frame keeps UDP checksum 0",
		       c.name);
	}

	w = "XDP udp whose translated checksum computes to 0";
	s = udp_summing_to_zero(5355, pl, &ok);
	if (!ok) {
		tap_ok(1, "%s # SKIP could not construct the datagram", w);
	} else {
		const struct frame_case c = redirect_case(w, 0, if_pub0, s, fwd_of(s, 5355, 5000));

		frame_case_run(NULL, &c, &got);
		TAP_EQ(udp_csum_field(&got), 0xffff, "%s: sent with checksum 0xffff", w);
	}
}

static void test_xdp_range(void)
{
	struct pkt_spec to6003 = client_spec(IPPROTO_TCP, 40100, 6003, TCP_SYN),
			to6009 = client_spec(IPPROTO_TCP, 40101, 6009, TCP_SYN);
	const struct frame_case cases[] = {
		redirect_case("SYN to 6003", 0, if_pub0, to6003, fwd_of(to6003, 40100, 7003)),
		redirect_case("SYN to 6009 (last port)", 0, if_pub0, to6009,
			      fwd_of(to6009, 40101, 7009)),
		{ .name = "SYN to 6010 (outside the range)",
		  .ifindex = if_pub0,
		  .in = F(client_spec(IPPROTO_TCP, 40102, 6010, TCP_SYN)),
		  .verdict = XDP_PASS,
		  .out = OUT_UNTOUCHED },
	};
	struct xm_flow f;

	flows_clear();
	FRAME_CASES_RUN("XDP port range rule 6000-6009 -> 7000-7009", cases);
	TAP_EQ(flow_get(A_BACKEND, A_BK0, 7003, 40100, IPPROTO_TCP, &f), 0,
	       "XDP port range rule: reply entry backend:7003 exists");
	TAP_EQ(ntohs(f.new_sport), 6003, "XDP port range rule: reply entry restores 6003");
	TAP_EQ(f.rule_id, RULE_RANGE, "XDP port range rule: reply entry of the range rule");
}

static void test_xdp_vlan(void)
{
	/* The reply's L2 header: client MAC, pub0 MAC, 802.1Q VID 100, IPv4. */
	static const uint8_t tagged_l2[18] = {
		0x02, 0,    0,	  0,	0x00, 0x10, 0x02, 0,	0,
		0,    0x01, 0x01, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00,
	};
	struct pkt_spec syn = with_tag(client_spec(IPPROTO_TCP, 41000, 8080, TCP_SYN), 100),
			reply = backend_spec(IPPROTO_TCP, 80, 41000, TCP_SYN | TCP_ACK);
	const struct frame_case forward = redirect_case("XDP tcp SYN tagged 802.1Q VID 100 "
							"(forward leaves untagged)",
							0, if_pub0, syn, fwd_of(syn, 41000, 80)),
				back = redirect_case(
					"XDP tcp reply for the tagged client (leaves tagged VID "
					"100)",
					0, if_bk0, reply,
					with_tag(rev_of(reply, A_CLIENT, MAC_CLIENT, 8080, 41000),
						 100));
	struct frame got;
	struct xm_flow f;

	flows_clear();
	frame_case_run(NULL, &forward, &got);
	tap_ok(got.len == forward.in.len - 4 && got.b[12] == 0x08 && got.b[13] == 0x00 &&
		       got.b[14] == 0x45,
	       "%s: no tag, ethertype 0x0800 at byte 12, IPv4 at byte 14", forward.name);
	tap_ok(flow_get(A_BACKEND, A_BK0, 80, 41000, IPPROTO_TCP, &f) == 0 && f.out_vlan == 100,
	       "%s: reply entry remembers TCI 100", forward.name);

	frame_case_run(NULL, &back, &got);
	tap_ok(got.len == back.in.len + 4 && memcmp(got.b, tagged_l2, sizeof(tagged_l2)) == 0 &&
		       got.b[18] == 0x45,
	       "%s: bytes 0-17 = client MAC, pub0 MAC, 81 00 00 64 08 00; IPv4 at 18", back.name);
}

static void test_xdp_options(void)
{
	struct pkt_spec syn = with_payload(client_spec(IPPROTO_TCP, 42000, 8080, TCP_SYN), 7),
			reply = backend_spec(IPPROTO_TCP, 80, 42000, TCP_SYN | TCP_ACK),
			udp = with_payload(with_tag(client_spec(IPPROTO_UDP, 42001, 5000, 0), 7),
					   3);

	syn.nopts = 1;
	reply.nopts = 2;
	udp.nopts = 10;
	{
		const struct frame_case cases[] = {
			redirect_case("XDP tcp SYN with IPv4 options (ihl=6)", 0, if_pub0, syn,
				      fwd_of(syn, 42000, 80)),
			redirect_case("XDP tcp reply with IPv4 options (ihl=7)", 0, if_bk0, reply,
				      rev_of(reply, A_CLIENT, MAC_CLIENT, 8080, 42000)),
			redirect_case("XDP udp with IPv4 options (ihl=15, 40 bytes of options)", 0,
				      if_pub0, udp, fwd_of(udp, 42001, 5000)),
		};

		flows_clear();
		FRAME_CASES_RUN(NULL, cases);
	}
}

/* The frame of `len` bytes. */
static struct frame raw_frame(const uint8_t *bytes, size_t len)
{
	struct frame f = { .len = len };

	memcpy(f.b, bytes, len);
	return f;
}

static void test_xdp_not_ours(void)
{
	/* ARP request who-has 192.0.2.1 tell 192.0.2.10 */
	static const uint8_t arp[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0,	0,    0, 0x00, 0x10, 0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 6,    4,    0x00, 0x01, 0x02, 0, 0,    0,    0x00, 0x10,
		192,  0,    2,	  10,	0,    0,    0,	  0,	0,    0, 192,  0,    2,	   1,
	};
	/* IPv6 UDP 2001:db8::10 -> 2001:db8::1 port 5000 */
	static const uint8_t ip6[62] = {
		0x02, 0,    0,	  0,	0x01, 0x01, 0x02, 0,	0,    0,    0x00, 0x10, 0x86,
		0xdd, 0x60, 0,	  0,	0,    0x00, 0x08, 17,	64,   0x20, 0x01, 0x0d, 0xb8,
		0,    0,    0,	  0,	0,    0,    0,	  0,	0,    0,    0,	  0x10, 0x20,
		0x01, 0x0d, 0xb8, 0,	0,    0,    0,	  0,	0,    0,    0,	  0,	0,
		0,    0x01, 0x13, 0x88, 0x13, 0x88, 0x00, 0x08, 0x00, 0x00,
	};
#define NOT_OURS(desc, ifindex, spec) \
	with_count(pass_case(desc, 0, ifindex, spec), XM_C_PASS_NOT_OURS, 1)
#define NOT_IPV4(desc, bytes)                                                     \
	with_count(pass_frame(desc, 0, if_pub0, raw_frame(bytes, sizeof(bytes))), \
		   XM_C_PASS_NOT_IPV4, 1)
	const struct frame_case cases[] = {
		NOT_OURS("XDP tcp SYN to a port without a rule (8082)", if_pub0,
			 client_spec(IPPROTO_TCP, 40000, 8082, TCP_SYN)),
		NOT_OURS("XDP udp to 8080 (the rule is tcp)", if_pub0,
			 client_spec(IPPROTO_UDP, 40000, 8080, 0)),
		NOT_OURS("XDP ICMP echo request to 192.0.2.1", if_pub0,
			 with_payload(client_spec(IPPROTO_ICMP, 0x77, 0, 0), 16)),
		NOT_OURS("XDP tcp ACK (no SYN) to 8080 without a flow", if_pub0,
			 client_spec(IPPROTO_TCP, 40000, 8080, TCP_ACK)),
		NOT_OURS("XDP tcp SYN-ACK to 8080 without a flow", if_pub0,
			 client_spec(IPPROTO_TCP, 40000, 8080, TCP_SYN | TCP_ACK)),
		NOT_OURS("XDP tcp RST to 8080 without a flow", if_pub0,
			 client_spec(IPPROTO_TCP, 40000, 8080, TCP_RST)),
		NOT_OURS("XDP tcp SYN to 192.0.2.1:8444 (rule is for 192.0.2.99 only)", if_pub0,
			 client_spec(IPPROTO_TCP, 40000, 8444, TCP_SYN)),
		NOT_OURS("XDP tcp SYN to 8080 arriving on bk0 (rule is for pub0)", if_bk0,
			 client_spec(IPPROTO_TCP, 40000, 8080, TCP_SYN)),
		NOT_IPV4("XDP ARP request", arp),
		/* IPv6 is tc's (xmasq_tc6): XDP hands it over */
		with_count(with_count(pass_frame("XDP IPv6 udp to port 5000", 0, if_pub0,
						 raw_frame(ip6, sizeof(ip6))),
				      XM_C_PASS_IPV6_TO_TC, 1),
			   XM_C_PASS_NOT_IPV4, 0),
	};
#undef NOT_OURS
#undef NOT_IPV4

	flows_clear();
	FRAME_CASES_RUN("pass", cases);
	TAP_EQ(flows_count(), 0,
	       "XDP frames not ours (no rule, no flow, not IPv4) created no flow");
}

/* Fragments. A data plane without fragment tracking (no "frags" map)
 * passes every fragment to the kernel untouched (the kernel reassembles
 * what is addressed to it; nothing is forwarded untranslated). One with
 * it (DESIGN: "a flow's later fragments follow its first one") translates
 * the first fragment like any packet of the flow and later fragments with
 * the same IP id like their first. Either way a later fragment whose first
 * fragment was never seen is not forwarded (passed untouched or dropped). */
static void test_xdp_fragments(void)
{
	int tracked = bpf_object__find_map_by_name(skel->obj, "frags") != NULL;
	struct pkt_spec s = with_payload(client_spec(IPPROTO_UDP, 46000, 5000, 0), 40), f2;
	struct udp_fragments fr;
	struct frame in1, in2, want1, want2, got;
	uint32_t rc;
	const char *w;

	flows_clear();
	tap_diag("fragment tracking (frags map) %s", tracked ? "present" : "absent");
	udp_fragments(&fr, s, fwd_of(s, 46000, 5000), 0x5151);
	f2 = fr.later;
	in1 = F(fr.first);
	in2 = F(fr.later);
	want1 = F(fr.first_t);
	want2 = F(fr.later_t);

	cnt_mark();
	w = "XDP first fragment (MF, offset 0) of a udp datagram to 5000";
	if (tracked)
		run_case(0, w, if_pub0, &in1, XDP_REDIRECT, &want1, &got);
	else
		run_case(0, w, if_pub0, &in1, XDP_PASS, &in1, &got);
	w = "XDP second fragment (offset 24, same IP id) of that datagram";
	if (tracked) {
		int id = cnt_id("frag_later");

		run_case(0, w, if_pub0, &in2, XDP_REDIRECT, &want2, &got);
		if (id >= 0)
			cnt_check(id, 1, w);
	} else {
		run_case(0, w, if_pub0, &in2, XDP_PASS, &in2, &got);
		cnt_check(XM_C_PASS_FRAGMENT, 2, "XDP fragments without fragment tracking");
	}

	w = "XDP later fragment whose first fragment was never seen";
	f2.ip_id = 0x5252;
	in2 = F(f2);
	if (run_xdp(if_pub0, &in2, &got, &rc)) {
		tap_ok(0, "%s: test run", w);
	} else if (!tap_ok((rc == XDP_PASS && same_frame(&got, &in2)) || rc == XDP_DROP,
			   "%s: not forwarded (passed untouched or dropped)", w)) {
		tap_diag("verdict %u (%s)", rc, xdp_name(rc));
		hexdiff(&got, &in2);
	}

	s = client_spec(IPPROTO_TCP, 40000, 8082, TCP_SYN);
	s.frag = 0x2000;
	in1 = F(s);
	run_case(0, "XDP first fragment of a tcp SYN to a port without a rule", if_pub0, &in1,
		 XDP_PASS, &in1, &got);
}

/* The frame cut to its first len bytes. */
static struct frame cut_to(struct frame f, size_t len)
{
	f.len = len;
	return f;
}

/* The frame with byte `at` set to v; the IPv4 header checksum (at 24,
 * untagged) recomputed when fix_csum. */
static struct frame with_byte(struct frame f, size_t at, uint8_t v, int fix_csum)
{
	f.b[at] = v;
	if (fix_csum) {
		pkt_put16(f.b + 24, 0);
		pkt_put16(f.b + 24, pkt_ip_csum(f.b + 14));
	}
	return f;
}

/* Truncated and malformed headers: passed untouched, counted. */
static void test_xdp_malformed(void)
{
	struct pkt_spec tcp = client_spec(IPPROTO_TCP, 40000, 8080, TCP_SYN),
			udp = client_spec(IPPROTO_UDP, 40000, 5000, 0), udp_opts = udp,
			tagged = with_tag(tcp, 100);
	struct frame base = F(tcp), short13 = cut_to(base, 13), got;
	uint32_t rc;

	udp_opts.nopts = 2;
	{
#define MALFORMED(desc, frame) \
	with_count(pass_frame(desc, 0, if_pub0, frame), XM_C_PASS_MALFORMED, 1)
		const struct frame_case cases[] = {
			MALFORMED("IPv4 ethertype, frame ends after Ethernet (14 bytes)",
				  cut_to(base, 14)),
			MALFORMED("frame ends inside the IPv4 header (26 bytes)",
				  cut_to(base, 14 + 12)),
			MALFORMED("ihl=4", with_byte(base, 14, 0x44, 1)),
			MALFORMED("IP version 6 under ethertype 0x0800",
				  with_byte(base, 14, 0x65, 0)),
			/* tot_len 16: its low byte (the high one is 0 already) */
			MALFORMED("tot_len 16 < ihl*4 20", with_byte(base, 17, 16, 1)),
			MALFORMED("frame ends inside the TCP header (10 of 20 bytes)",
				  cut_to(base, 14 + 20 + 10)),
			MALFORMED("TCP doff=4", with_byte(base, 14 + 20 + 12, 4 << 4, 0)),
			/* the frame longer than its datagram (as Ethernet pads
			 * short ones): the header's end is no part of it */
			MALFORMED("tot_len 30: the TCP header ends in the frame's padding",
				  with_byte(base, 17, 30, 1)),
			MALFORMED("tot_len 24: the UDP header ends in the frame's padding",
				  with_byte(F(with_payload(udp, 20)), 17, 24, 1)),
			MALFORMED("frame ends inside the UDP header (4 of 8 bytes)",
				  cut_to(F(udp), 14 + 20 + 4)),
			/* headers whole, the payload cut: tot_len says 20 bytes more
			 * (found by selftests/fuzz: it was translated and sent) */
			MALFORMED("tot_len longer than the frame (UDP payload cut)",
				  cut_to(F(with_payload(udp, 20)), 14 + 20 + 8)),
			/* 4 of the 8 option bytes present */
			MALFORMED("ihl=7, frame ends inside the options",
				  cut_to(F(udp_opts), 14 + 24)),
			MALFORMED("frame ends inside the 802.1Q tag (16 bytes)",
				  cut_to(F(tagged), 16)),
			MALFORMED("tagged, frame ends inside the IPv4 header",
				  cut_to(F(tagged), 18 + 19)),
		};
#undef MALFORMED

		flows_clear();
		FRAME_CASES_RUN("XDP malformed", cases);
	}
	TAP_EQ(flows_count(), 0, "XDP malformed frames created no flow");

	/* BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header, so
	 * a frame cut inside the Ethernet header cannot reach the program
	 * this way (the parser bounds-checks it: see xm_parse()). */
	TAP_EQ(run_xdp(if_pub0, &short13, &got, &rc), -EINVAL,
	       "XDP 13-byte frame (cut inside Ethernet): the kernel refuses it before the program "
	       "(EINVAL)");
}

static void test_xdp_handover(void)
{
	struct pkt_spec partial = client_spec(IPPROTO_TCP, 43000, 8080, TCP_SYN),
			partial_udp = with_payload(client_spec(IPPROTO_UDP, 43001, 5001, 0), 5),
			no_tx = client_spec(IPPROTO_TCP, 43002, 8080, TCP_SYN),
			no_neigh = client_spec(IPPROTO_TCP, 43003, 9001, TCP_SYN),
			no_neigh_out = fwd_of(no_neigh, 43003, 80);
	struct frame in, want, got;
	const char *w;

	/* Partial checksum, as a local veth with tx offload sends it. */
	partial.l4cs = partial_udp.l4cs = L4CS_PARTIAL;
	flows_clear();
	run_frame_case(with_count(pass_case("XDP tcp SYN with a partial checksum (pseudo-header "
					    "sum only)",
					    0, if_pub0, partial),
				  XM_C_PASS_CSUM_PARTIAL, 1));

	/* The tc program then translates it. BPF_PROG_TEST_RUN builds a
	 * CHECKSUM_NONE skb (ip_summed cannot be set from userspace), so the
	 * helpers treat the field as a full checksum: only the L3/L4 rewrite
	 * and the verdict are checked here, not the L4 checksum value; a real
	 * CHECKSUM_PARTIAL skb is a job for the namespace tests. */
	w = "tc the same partial-checksum SYN (after XDP handed it over)";
	in = F(partial);
	want = F(fwd_of(partial, 43000, 80));
	if (run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, NULL, &got)) {
		struct pkt_view v = pkt_view(got.b, got.len);

		if (v.ok && got.len == want.len)
			memcpy(want.b + v.l4 + 16, got.b + v.l4 + 16, 2);
	}
	if (!tap_ok(same_frame(&got, &want),
		    "%s: translated (all bytes but the L4 checksum as expected)", w))
		hexdiff(&got, &want);
	check_ip_csum(w, &got);

	run_frame_case(
		with_count(pass_case("XDP udp with a partial checksum", 0, if_pub0, partial_udp),
			   XM_C_PASS_CSUM_PARTIAL, 1));

	/* Egress without XDP_TX_OK: XDP hands the packet to tc. */
	flows_clear();
	set_iface(if_bk0, A_BK0, MAC_BK0, 1, XM_IFACE_XDP_ATTACHED);
	{
		const struct frame_case cases[] = {
			with_count(with_count(pass_case("XDP tcp SYN when bk0 lacks "
							"XM_IFACE_XDP_TX_OK",
							0, if_pub0, no_tx),
					      XM_C_PASS_TO_TC, 1),
				   XM_C_FWD_XDP, 0),
			redirect_case("tc the same SYN (egress without XDP_TX_OK)", 1, if_pub0,
				      no_tx, fwd_of(no_tx, 43002, 80)),
		};

		FRAME_CASES_RUN(NULL, cases);
	}
	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 0);

	/* No neighbour for the backend: the flow is made, XDP hands over, tc
	 * lets the kernel resolve the MAC (bpf_redirect_neigh): the MACs are
	 * left untouched, the kernel writes them. */
	flows_clear();
	w = run_frame_case(with_count(pass_case("XDP tcp SYN to 9001 (backend 198.18.0.3 has no "
						"neighbour entry)",
						0, if_pub0, no_neigh),
				      XM_C_PASS_NO_NEIGH, 1));
	TAP_EQ(flows_count(), 2, "%s: flow created (two entries)", w);
	no_neigh_out.daddr = A_NONEIGH;
	no_neigh_out.dmac = MAC_PUB0;
	no_neigh_out.smac = MAC_CLIENT;
	run_frame_case(redirect_case("tc the same SYN (no neighbour: redirect_neigh, MACs left to "
				     "the kernel)",
				     1, if_pub0, no_neigh, no_neigh_out));

	/* The neighbour appears: a flow without a next-hop MAC is resolved
	 * again by its next packet in a later second, which then goes by XDP.
	 * Then its MAC changes: a flow idle for 4 s picks the new one up at
	 * once (a busy one within 4 s, on a second that depends on the flow). */
	no_neigh.tcp_flags = TCP_ACK;
	for (int step = 0; step < 2; step++) {
		static const uint8_t macs[2][6] = { { 0x02, 0, 0, 0, 0, 0x03 },
						    { 0x02, 0, 0, 0, 0, 0x04 } };
		uint32_t idle = step ? 5 : 2;
		struct pkt_spec e = fwd_of(no_neigh, 43003, 80);

		sh("ip neigh replace 198.18.0.3 lladdr 02:00:00:00:00:0%d dev bk0 nud permanent",
		   3 + step);
		TAP_EQ(flow_age(A_CLIENT, A_PUB0, 43003, 9001, IPPROTO_TCP, idle), 0,
		       "flow aged by %u s", idle);
		e.daddr = A_NONEIGH;
		e.dmac = macs[step];
		run_frame_case(redirect_case(step ? "XDP tcp ACK to 9001 after the neighbour's MAC "
						    "changed, flow idle 5 s" :
						    "XDP tcp ACK to 9001 after the backend's "
						    "neighbour appeared",
					     0, if_pub0, no_neigh, e));
	}
	sh("ip neigh del 198.18.0.3 dev bk0");

	/* No route at all. */
	flows_clear();
	w = run_frame_case((struct frame_case){
		.name = "XDP tcp SYN to 9002 (backend 198.19.200.1 has no route)",
		.ifindex = if_pub0,
		.in = F(client_spec(IPPROTO_TCP, 43004, 9002, TCP_SYN)),
		.verdict = XDP_DROP,
		.counts = { COUNTS(XM_C_DROP_NO_ROUTE, 1) },
	});
	TAP_EQ(flows_count(), 0, "%s: no flow", w);

	/* Route leaves by an interface xmasq does not manage. */
	w = run_frame_case(
		with_count(pass_case("XDP tcp SYN to 9003 (backend 198.51.100.2 via unmanaged "
				     "pub1)",
				     0, if_pub0, client_spec(IPPROTO_TCP, 43005, 9003, TCP_SYN)),
			   XM_C_PASS_EGRESS_UNMANAGED, 1));
	TAP_EQ(flows_count(), 0, "%s: no flow", w);
}

static void test_xdp_ttl_gen(void)
{
	struct pkt_spec ttl1 = client_spec(IPPROTO_TCP, 44000, 8080, TCP_SYN),
			syn = client_spec(IPPROTO_TCP, 44001, 8080, TCP_SYN), ack_ttl1 = syn,
			ttl2 = client_spec(IPPROTO_TCP, 44002, 8080, TCP_SYN),
			gen1 = client_spec(IPPROTO_TCP, 44003, 8081, TCP_SYN),
			gen0 = client_spec(IPPROTO_TCP, 44004, 8080, TCP_SYN),
			one_addr = client_spec(IPPROTO_TCP, 44005, 8443, TCP_SYN);
	const char *w;

	ttl1.ttl = 1;
	ack_ttl1.tcp_flags = TCP_ACK;
	ack_ttl1.ttl = 1;
	ttl2.ttl = 2;
	flows_clear();
	w = run_frame_case(with_count(pass_case("XDP tcp SYN to 8080 with ttl=1 (passed to the "
						"kernel untouched)",
						0, if_pub0, ttl1),
				      XM_C_PASS_TTL, 1));
	TAP_EQ(flows_count(), 0, "%s: no flow created", w);

	flows_clear();
	{
		const struct frame_case cases[] = {
			{ .name = "XDP tcp SYN 44001 -> 8080 (set-up for the ttl test)",
			  .ifindex = if_pub0,
			  .in = F(syn),
			  .verdict = XDP_REDIRECT },
			with_count(pass_case("XDP tcp ACK with ttl=1 on an established flow", 0,
					     if_pub0, ack_ttl1),
				   XM_C_PASS_TTL, 1),
			redirect_case("XDP tcp SYN with ttl=2 (forwarded with ttl=1)", 0, if_pub0,
				      ttl2, fwd_of(ttl2, 44002, 80)),
		};

		FRAME_CASES_RUN(NULL, cases);
	}

	/* Rule generations: a rule only in generation 1. */
	flows_clear();
	run_frame_case(pass_case("XDP tcp SYN to 8081 while generation 0 is active (rule only in "
				 "gen 1)",
				 0, if_pub0, gen1));
	set_config(1);
	{
		const struct frame_case cases[] = {
			redirect_case("XDP tcp SYN to 8081 after switching config.active_gen to 1",
				      0, if_pub0, gen1, fwd_of(gen1, 44003, 81)),
			pass_case("XDP tcp SYN to 8080 in generation 1 (rule only in gen 0)", 0,
				  if_pub0, gen0),
		};

		FRAME_CASES_RUN(NULL, cases);
	}
	set_config(0);

	run_frame_case(redirect_case("XDP tcp SYN to 192.0.2.1:8443 (rule for that address only)",
				     0, if_pub0, one_addr, fwd_of(one_addr, 44005, 443)));
}

/* ---- tc cases ---------------------------------------------------------- */

static void test_tc(void)
{
	struct pkt_spec syn = client_spec(IPPROTO_TCP, 45000, 8080, TCP_SYN),
			reply = with_payload(
				backend_spec(IPPROTO_TCP, 80, 45000, TCP_SYN | TCP_ACK), 11),
			udp0 = with_payload(client_spec(IPPROTO_UDP, 45001, 5000, 0), 8),
			tagged = with_tag(client_spec(IPPROTO_TCP, 45003, 8080, TCP_SYN), 100),
			tagged_reply = backend_spec(IPPROTO_TCP, 80, 45003, TCP_SYN | TCP_ACK),
			opts = client_spec(IPPROTO_TCP, 45004, 8080, TCP_SYN),
			ttl1 = client_spec(IPPROTO_TCP, 45005, 8080, TCP_SYN),
			cut = client_spec(IPPROTO_TCP, 45008, 8080, TCP_SYN), s;
	uint8_t pl[10] = { 't', 'c', '-', 'z', 'e', 'r', 'o', '!', 0, 0 };
	struct xm_flow f;
	const char *w;
	int ok;

	udp0.l4cs = L4CS_ZERO;
	opts.nopts = 1;
	ttl1.ttl = 1;
	flows_clear();
	w = run_frame_case(with_count(redirect_case("tc tcp SYN 192.0.2.10:45000 -> 192.0.2.1:8080 "
						    "(forward, new flow)",
						    1, if_pub0, syn, fwd_of(syn, 45000, 80)),
				      XM_C_FWD_TC, 1));
	TAP_EQ(flows_count(), 2, "%s: two flow entries", w);
	/* xmasq_tc hands a packet of no flow to xmasq_tc_new, which makes
	 * the flow and hands it to xmasq_tc_flow, which sends it: one packet,
	 * counted once on its way in and once on its way out */
	s = client_spec(IPPROTO_TCP, 45009, 8080, TCP_SYN);
	cnt_mark();
	w = run_frame_case(redirect_case("tc tcp SYN 192.0.2.10:45009 -> :8080 (new flow, through "
					 "xmasq_tc_new and xmasq_tc_flow)",
					 1, if_pub0, s, fwd_of(s, 45009, 80)));
	cnt_check(XM_C_RX, 1, w);
	cnt_check(XM_C_FLOW_NEW, 1, w);
	cnt_check(XM_C_FWD_TC, 1, w);
	cnt_check(XM_C_PASS_NOT_OURS, 0, w);
	{
		/* VLAN. In BPF_PROG_TEST_RUN the tag stays in the frame data, so
		 * the forward pop is visible; the reply's push goes into the skb's
		 * hardware-accelerated tag (skb->vlan_tci), which test_run does
		 * not copy out: only the untagged data of the reply can be
		 * checked. */
		const struct frame_case cases[] = {
			redirect_case("tc tcp SYN-ACK 198.18.0.2:80 -> 198.18.0.1:45000 (reply)", 1,
				      if_bk0, reply,
				      rev_of(reply, A_CLIENT, MAC_CLIENT, 8080, 45000)),
			/* checksum 0 (none) stays 0: not a recomputed one */
			with_check(redirect_case("tc udp 192.0.2.10:45001 -> :5000 with checksum 0",
						 1, if_pub0, udp0, fwd_of(udp0, 45001, 5000)),
				   NULL),
			redirect_case("tc tcp SYN tagged VID 100 (forward leaves untagged)", 1,
				      if_pub0, tagged, fwd_of(tagged, 45003, 80)),
			redirect_case("tc reply for the tagged client (tag pushed as skb metadata)",
				      1, if_bk0, tagged_reply,
				      rev_of(tagged_reply, A_CLIENT, MAC_CLIENT, 8080, 45003)),
			redirect_case("tc tcp with IPv4 options (ihl=6)", 1, if_pub0, opts,
				      fwd_of(opts, 45004, 80)),
		};

		FRAME_CASES_RUN(NULL, cases);
	}
	TAP_EQ(flow_get(A_BACKEND, A_BK0, 80, 45003, IPPROTO_TCP, &f), 0,
	       "tc tcp SYN tagged VID 100: reply entry exists");
	TAP_EQ(f.out_vlan, 100, "tc tcp SYN tagged VID 100: reply entry remembers TCI 100");

	w = "tc udp whose translated checksum computes to 0 (sent as 0xffff)";
	s = udp_summing_to_zero(45002, pl, &ok);
	if (!ok)
		tap_ok(1, "%s # SKIP could not construct the datagram", w);
	else
		run_frame_case(redirect_case(w, 1, if_pub0, s, fwd_of(s, 45002, 5000)));

	{
		const struct frame_case cases[] = {
			with_count(pass_case("tc tcp SYN with ttl=1 (passed to the kernel "
					     "untouched)",
					     1, if_pub0, ttl1),
				   XM_C_PASS_TTL, 1),
			pass_case("tc tcp SYN to a port without a rule", 1, if_pub0,
				  client_spec(IPPROTO_TCP, 45006, 8082, TCP_SYN)),
			pass_case("tc tcp ACK to 8080 without a flow", 1, if_pub0,
				  client_spec(IPPROTO_TCP, 45007, 8080, TCP_ACK)),
			pass_case("tc ICMP echo request", 1, if_pub0,
				  client_spec(IPPROTO_ICMP, 0x78, 0, 0)),
			with_count(pass_frame("tc frame cut inside the TCP header", 1, if_pub0,
					      cut_to(F(cut), 14 + 20 + 10)),
				   XM_C_PASS_MALFORMED, 1),
			with_count(pass_frame("tc tot_len < ihl*4", 1, if_pub0,
					      with_byte(F(cut), 17, 16, 0)),
				   XM_C_PASS_MALFORMED, 1),
			with_count(pass_frame("tc tot_len longer than the frame (UDP payload cut)",
					      1, if_pub0,
					      cut_to(F(with_payload(client_spec(IPPROTO_UDP, 45008,
										5000, 0),
								    20)),
						     14 + 20 + 8)),
				   XM_C_PASS_MALFORMED, 1),
		};

		FRAME_CASES_RUN("pass", cases);
	}
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_xdp_tcp,
		test_xdp_udp,
		test_xdp_range,
		test_xdp_vlan,
		test_xdp_options,
		test_xdp_not_ours,
		test_xdp_fragments,
		test_xdp_malformed,
		test_xdp_handover,
		test_xdp_ttl_gen,
		test_tc,
		test_tcp_close_reuse,
		test_tcp_time_wait,
		test_tcp_ts_shift_xdp,
		test_tcp_ts_shift_tc,
		NULL,
	};
	static const struct fixture fx = {
		.netns_what = "private network namespace with pub0, bk0, pub1, routes and "
			      "neighbours",
		.netns = setup_netns,
		.maps_what = "config, ifaces, tx_ports and rules populated",
		.maps = setup_maps,
		.tests = tests,
	};

	return fixture_main(&fx);
}
