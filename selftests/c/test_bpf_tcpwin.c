/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TCP window checks through BPF_PROG_TEST_RUN (bpf/tcp_window.h): on an
 * established flow a RST or FIN changes the state only when its sequence
 * number lies in the receiver's window as the router saw it; an exact RST
 * closes the flow, an inexact one in the window is passed with the state
 * kept, one outside is dropped and counted; a SYN changes nothing. Both
 * directions, both hooks, with window scales from the SYN and SYN-ACK.
 */
#include "bpf_fixture.h"

enum { RULE_TCP = 1 }; /* pub0 tcp 8080 -> backend:80 */

#define CLIENT_ISN  1000u
#define BACKEND_ISN 5000u

static int setup_maps(void)
{
	struct xm_config c = fixture_config();
	int err = 0;

	err |= fixture_set_config(&c);
	err |= fixture_base_ifaces();
	err |= add_rule(RULE_TCP, if_pub0, 0, 8080, IPPROTO_TCP, 0, A_BACKEND, 80, 0);
	return err ? -1 : 0;
}

/* A TCP frame of spec s with the given sequence, acknowledgment and
 * window, and options (n bytes, a multiple of 4) before no payload. */
static struct frame tcp_frame(struct pkt_spec s, uint32_t seq, uint32_t ack, uint16_t win,
			      const uint8_t *opts, size_t n)
{
	struct frame f;
	struct pkt_view v;
	uint8_t *ip, *l4;
	uint16_t l4len;

	s.payload = opts;
	s.plen = n;
	f = F(s);
	v = pkt_view(f.b, f.len);
	ip = f.b + v.l3;
	l4 = f.b + v.l4;
	l4len = (uint16_t)(f.len - v.l4);
	l4[4] = (uint8_t)(seq >> 24);
	l4[5] = (uint8_t)(seq >> 16);
	l4[6] = (uint8_t)(seq >> 8);
	l4[7] = (uint8_t)seq;
	l4[8] = (uint8_t)(ack >> 24);
	l4[9] = (uint8_t)(ack >> 16);
	l4[10] = (uint8_t)(ack >> 8);
	l4[11] = (uint8_t)ack;
	l4[12] = (uint8_t)((5 + n / 4) << 4);
	pkt_put16(l4 + 14, win);
	pkt_put16(l4 + 16, 0);
	pkt_put16(l4 + 16, pkt_l4_csum(ip, l4, l4len, 16));
	return f;
}

static int flow_state(uint16_t port)
{
	struct xm_flow o, r;

	if (flow_get(A_CLIENT, A_PUB0, port, 8080, IPPROTO_TCP, &o) ||
	    flow_get(A_BACKEND, A_BK0, 80, port, IPPROTO_TCP, &r) || o.state != r.state)
		return -1;
	return o.state;
}

/* The whole story on one hook, client port `port`. The client scales by
 * 7, the backend by 2: the client's window of 100 is 12800 bytes (16384 as
 * kept, in units of 32), the backend's of 1000 is 4000 (4096). */
static void tcpwin_story(int tc, uint16_t port)
{
	const char *hook = tc ? "tc" : "XDP";
	uint32_t c1 = CLIENT_ISN + 1, b1 = BACKEND_ISN + 1;
	struct pkt_spec cs = client_spec(IPPROTO_TCP, port, 8080, 0),
			bs = backend_spec(IPPROTO_TCP, 80, port, 0);
	uint8_t copt[20], bopt[20];
	struct xm_flow o, r;
	uint32_t stamp;
	char what[160];

	/* The clock reads as at least 3 hours after boot: an inexact RST
	 * stamps the flow 7430 s back, which a kernel booted minutes ago (the
	 * 6.1 VM) cannot go; the stamps stay and the check below would fail
	 * on uptime, not on the data plane. */
	if (skel->bss->xm_clock_ahead_s < 3 * 3600)
		skel->bss->xm_clock_ahead_s = 3 * 3600;

#define CS(fl) (cs.tcp_flags = (fl), cs)
#define BS(fl) (bs.tcp_flags = (fl), bs)
#define W(...) (snprintf(what, sizeof(what), "%s %u: " __VA_ARGS__), what)

	pkt_linux_syn_opts(copt, 7);
	pkt_linux_syn_opts(bopt, 2);
	run_sent_or_dropped(W("%s", hook, port, "SYN with window scale 7"), tc, if_pub0,
			    tcp_frame(CS(TCP_SYN), CLIENT_ISN, 0, 64240, copt, 20), 1,
			    XM_C_FLOW_NEW);
	run_sent_or_dropped(W("%s", hook, port, "SYN-ACK with window scale 2"), tc, if_bk0,
			    tcp_frame(BS(TCP_SYN | TCP_ACK), BACKEND_ISN, c1, 65160, bopt, 20), 1,
			    -1);
	run_sent_or_dropped(W("%s", hook, port, "the client's ACK, window 100"), tc, if_pub0,
			    tcp_frame(CS(TCP_ACK), c1, b1, 100, NULL, 0), 1, -1);
	run_sent_or_dropped(W("%s", hook, port, "the backend's ACK, window 1000"), tc, if_bk0,
			    tcp_frame(BS(TCP_ACK), b1, c1, 1000, NULL, 0), 1, -1);
	TAP_EQ(flow_state(port), XM_ST_ESTABLISHED, "%s %u: ESTABLISHED", hook, port);
	flow_get(A_CLIENT, A_PUB0, port, 8080, IPPROTO_TCP, &o);
	flow_get(A_BACKEND, A_BK0, 80, port, IPPROTO_TCP, &r);
	tap_ok(o.tcp_win >> XM_TCP_WIN_SCALE_SHIFT == 8 &&
		       r.tcp_win >> XM_TCP_WIN_SCALE_SHIFT == 3 && o.tcp_ack == b1 &&
		       r.tcp_ack == c1,
	       "%s %u: scales 7 and 2 known, last ACKs kept (client %#x ack %u, backend %#x "
	       "ack %u)",
	       hook, port, o.tcp_win, o.tcp_ack, r.tcp_win, r.tcp_ack);

	/* Outside the window: dropped, counted, nothing changes. */
	run_sent_or_dropped(W("%s", hook, port, "RST to the client 1 MB past its window: dropped"),
			    tc, if_bk0, tcp_frame(BS(TCP_RST), b1 + 1000000, 0, 0, NULL, 0), 0,
			    XM_C_DROP_TCP_RST_OUT_OF_WINDOW);
	run_sent_or_dropped(
		W("%s", hook, port, "RST to the backend 100 kB past its window: dropped"), tc,
		if_pub0, tcp_frame(CS(TCP_RST | TCP_ACK), c1 + 100000, b1, 0, NULL, 0), 0,
		XM_C_DROP_TCP_RST_OUT_OF_WINDOW);
	run_sent_or_dropped(W("%s", hook, port,
			      "RST to the client just behind its last ACK: dropped"),
			    tc, if_bk0, tcp_frame(BS(TCP_RST), b1 - 1, 0, 0, NULL, 0), 0,
			    XM_C_DROP_TCP_RST_OUT_OF_WINDOW);
	run_sent_or_dropped(W("%s", hook, port, "FIN to the backend 50 kB ahead: dropped"), tc,
			    if_pub0, tcp_frame(CS(TCP_FIN | TCP_ACK), c1 + 50000, b1, 100, NULL, 0),
			    0, XM_C_DROP_TCP_FIN_OUT_OF_WINDOW);
	run_sent_or_dropped(W("%s", hook, port, "FIN to the client 100 kB behind: dropped"), tc,
			    if_bk0,
			    tcp_frame(BS(TCP_FIN | TCP_ACK), b1 - 100000, c1, 1000, NULL, 0), 0,
			    XM_C_DROP_TCP_FIN_OUT_OF_WINDOW);
	/* The backend's window is scaled by 2, not 7 or 14: 10000 is out. */
	run_sent_or_dropped(W("%s", hook, port,
			      "RST to the backend 10000 ahead (window 4000): dropped"),
			    tc, if_pub0, tcp_frame(CS(TCP_RST), c1 + 10000, 0, 0, NULL, 0), 0,
			    XM_C_DROP_TCP_RST_OUT_OF_WINDOW);
	/* A spoofed ACK far ahead does not move the backend's last ACK. */
	run_sent_or_dropped(
		W("%s", hook, port, "a spoofed ACK from the backend 1 MB ahead is sent on"), tc,
		if_bk0, tcp_frame(BS(TCP_ACK), b1, c1 + 1000000, 1000, NULL, 0), 1, -1);
	run_sent_or_dropped(W("%s", hook, port, "... and a RST at that ACK is still dropped"), tc,
			    if_pub0, tcp_frame(CS(TCP_RST), c1 + 1000000, 0, 0, NULL, 0), 0,
			    XM_C_DROP_TCP_RST_OUT_OF_WINDOW);
	TAP_EQ(flow_state(port), XM_ST_ESTABLISHED,
	       "%s %u: still ESTABLISHED after the out-of-window segments", hook, port);

	/* In the window but not exact: sent on, the state kept, and the flow
	 * stamped to expire by tcp-close's timeout unless more comes. */
	flow_get(A_CLIENT, A_PUB0, port, 8080, IPPROTO_TCP, &o);
	stamp = o.last_seen_s;
	run_sent_or_dropped(W("%s", hook, port,
			      "RST to the client 10000 ahead (window 12800): sent on"),
			    tc, if_bk0, tcp_frame(BS(TCP_RST), b1 + 10000, 0, 0, NULL, 0), 1,
			    XM_C_TCP_RST_IN_WINDOW_INEXACT);
	flow_get(A_CLIENT, A_PUB0, port, 8080, IPPROTO_TCP, &o);
	flow_get(A_BACKEND, A_BK0, 80, port, IPPROTO_TCP, &r);
	tap_ok(stamp - o.last_seen_s >= 7430 - 1 && stamp - r.last_seen_s >= 7430 - 1 &&
		       stamp - o.last_seen_s <= 7430 + 1,
	       "%s %u: after the inexact RST both entries look idle for 7440 - 10 s (stamps %u, "
	       "%u; %u before)",
	       hook, port, o.last_seen_s, r.last_seen_s, stamp);
	run_sent_or_dropped(W("%s", hook, port, "the client's next ACK"), tc, if_pub0,
			    tcp_frame(CS(TCP_ACK), c1, b1, 100, NULL, 0), 1, -1);
	flow_get(A_CLIENT, A_PUB0, port, 8080, IPPROTO_TCP, &o);
	tap_ok(o.last_seen_s >= stamp, "%s %u: ... and the next packet stamps it afresh (%u)", hook,
	       port, o.last_seen_s);
	run_sent_or_dropped(W("%s", hook, port,
			      "RST to the backend 3000 ahead (window 4000): sent on"),
			    tc, if_pub0, tcp_frame(CS(TCP_RST), c1 + 3000, 0, 0, NULL, 0), 1,
			    XM_C_TCP_RST_IN_WINDOW_INEXACT);
	run_sent_or_dropped(W("%s", hook, port, "a SYN on the established flow: sent on"), tc,
			    if_pub0, tcp_frame(CS(TCP_SYN), CLIENT_ISN + 77777, 0, 64240, copt, 20),
			    1, XM_C_TCP_SYN_ON_ESTABLISHED);
	TAP_EQ(flow_state(port), XM_ST_ESTABLISHED,
	       "%s %u: still ESTABLISHED after inexact RSTs and a SYN", hook, port);

	/* Exact: the flow closes. The XDP story ends with the client's RST,
	 * the tc one with the backend's. */
	if (!tc)
		run_sent_or_dropped(W("%s", hook, port, "the client's exact RST: sent on"), tc,
				    if_pub0, tcp_frame(CS(TCP_RST | TCP_ACK), c1, b1, 0, NULL, 0),
				    1, -1);
	else
		run_sent_or_dropped(W("%s", hook, port, "the backend's exact RST: sent on"), tc,
				    if_bk0, tcp_frame(BS(TCP_RST), b1, 0, 0, NULL, 0), 1, -1);
	TAP_EQ(flow_state(port), XM_ST_CLOSE, "%s %u: an exact RST closes the flow", hook, port);
#undef CS
#undef BS
#undef W
}

static void test_xdp(void)
{
	tcpwin_story(0, 30001);
}

static void test_tc(void)
{
	tcpwin_story(1, 30002);
}

/* A FIN in the window goes on and moves the flow to FIN. */
static void test_fin_in_window(void)
{
	uint16_t port = 30003;
	uint32_t c1 = CLIENT_ISN + 1, b1 = BACKEND_ISN + 1;
	struct pkt_spec cs = client_spec(IPPROTO_TCP, port, 8080, 0),
			bs = backend_spec(IPPROTO_TCP, 80, port, 0);

	cs.tcp_flags = TCP_SYN;
	run_sent_or_dropped("fin 30003: SYN without options", 0, if_pub0,
			    tcp_frame(cs, CLIENT_ISN, 0, 64240, NULL, 0), 1, XM_C_FLOW_NEW);
	bs.tcp_flags = TCP_SYN | TCP_ACK;
	run_sent_or_dropped("fin 30003: SYN-ACK without options", 0, if_bk0,
			    tcp_frame(bs, BACKEND_ISN, c1, 65160, NULL, 0), 1, -1);
	cs.tcp_flags = TCP_ACK;
	run_sent_or_dropped("fin 30003: ACK, window 60000 unscaled", 0, if_pub0,
			    tcp_frame(cs, c1, b1, 60000, NULL, 0), 1, -1);
	bs.tcp_flags = TCP_ACK;
	run_sent_or_dropped("fin 30003: ACK, window 2000 unscaled", 0, if_bk0,
			    tcp_frame(bs, b1, c1, 2000, NULL, 0), 1, -1);
	cs.tcp_flags = TCP_FIN | TCP_ACK;
	run_sent_or_dropped("fin 30003: FIN 100000 ahead of an unscaled window: dropped", 0,
			    if_pub0, tcp_frame(cs, c1 + 100000, b1, 60000, NULL, 0), 0,
			    XM_C_DROP_TCP_FIN_OUT_OF_WINDOW);
	run_sent_or_dropped("fin 30003: FIN 1000 ahead (window 2000): sent on", 1, if_pub0,
			    tcp_frame(cs, c1 + 1000, b1, 60000, NULL, 0), 1, -1);
	TAP_EQ(flow_state(port), XM_ST_FIN, "fin 30003: an in-window FIN moves the flow to FIN");
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_xdp,
		test_tc,
		test_fin_in_window,
		NULL,
	};
	static const struct fixture fx = {
		.netns_what = "private network namespace with pub0, bk0, pub1, routes and "
			      "neighbours",
		.netns = fixture_netns,
		.maps_what = "config, ifaces, tx_ports and the rule populated",
		.maps = setup_maps,
		.tests = tests,
	};

	return fixture_main(&fx);
}
