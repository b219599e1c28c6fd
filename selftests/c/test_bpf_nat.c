/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * BPF_PROG_TEST_RUN test of the data plane, second part (the first is
 * test_bpf.c): masquerade rules, ICMP echo through masquerade, ICMP errors
 * (RFC 5508), fragments of masqueraded datagrams, keep-source rules,
 * hairpin, path MTU at tc, and the sweeper. Output frames are compared
 * byte for byte with frames built independently here; checksums are
 * verified by full recomputation (pkt.h), never incrementally.
 *
 * Runs as root in a private network namespace (unshare(CLONE_NEWNET)) with
 *   pub0 (192.0.2.1/24)    "public" NIC; clients 192.0.2.10/.11, default
 *                          route via 192.0.2.254 (outside: 198.18.200.5)
 *   bk0  (198.18.0.1/24)   backend side: backend 198.18.0.2, another host
 *                          198.18.0.5 (hairpin), a router 198.18.0.254
 *   lan0 (198.19.0.1/16)   private side: hosts 198.19.0.10/.11 (masquerade
 *                          prefix 198.19.0.0/24), 198.19.1.10 (outside it)
 *   pub1 (198.51.100.1/24) an interface xmasq does not manage
 * with permanent neighbours. Nothing leaves the namespace.
 */
#include "bpf_env.h"
#include <time.h>

static const uint8_t MAC_PUB0[6] = { 0x02, 0, 0, 0, 0x01, 0x01 };
static const uint8_t MAC_BK0[6] = { 0x02, 0, 0, 0, 0x02, 0x01 };
static const uint8_t MAC_LAN0[6] = { 0x02, 0, 0, 0, 0x04, 0x01 };
static const uint8_t MAC_BACKEND[6] = { 0x02, 0, 0, 0, 0x00, 0x02 };
static const uint8_t MAC_HP[6] = { 0x02, 0, 0, 0, 0x00, 0x05 };	 /* 198.18.0.5 */
static const uint8_t MAC_RTR[6] = { 0x02, 0, 0, 0, 0x00, 0xfd }; /* 198.18.0.254 */
static const uint8_t MAC_CLIENT[6] = { 0x02, 0, 0, 0, 0x00, 0x10 };
static const uint8_t MAC_GW[6] = { 0x02, 0, 0, 0, 0x00, 0xfe }; /* 192.0.2.254 */
static const uint8_t MAC_LAN10[6] = { 0x02, 0, 0, 0, 0x00, 0x30 };
static const uint8_t MAC_LAN11[6] = { 0x02, 0, 0, 0, 0x00, 0x31 };
static const uint8_t MAC_LAN1_10[6] = { 0x02, 0, 0, 0, 0x00, 0x32 }; /* 198.19.1.10 */

static uint32_t A_PUB0, A_CLIENT, A_GW, A_OUT, A_BK0, A_BACKEND, A_HP, A_RTR, A_LAN0, A_LAN10,
	A_LAN11, A_LAN1_10, A_PUB1_PEER;

enum {
	RULE_TCP = 1,	/* pub0 tcp 8080 -> backend:80 */
	RULE_UDP = 2,	/* pub0 udp 5000 -> backend:5000 */
	RULE_KEEP = 3,	/* pub0 tcp 8090 -> backend:90, keep source */
	RULE_MASQ = 20, /* masquerade 198.19.0.0/24 out of pub0 */
};

#define LOCAL_PORT_LO 32768 /* the kernel's default ephemeral range */
#define LOCAL_PORT_HI 60999

static int if_pub0, if_bk0, if_lan0, if_pub1;

static const uint8_t PAYLOAD[] = "xmasq selftest payload, 41 bytes long...";

/* ---- setup ------------------------------------------------------------- */

static int setup_netns(void)
{
	int err = 0;

	if (env_base_netns())
		return -1;
	err |= sh("ip link add lan0 address 02:00:00:00:04:01 type veth peer name lan0p address "
		  "02:00:00:00:04:02");
	err |= sh("ip addr add 198.19.0.1/16 dev lan0");
	err |= sh("ip link set lan0 up && ip link set lan0p up");
	err |= write_file("/proc/sys/net/ipv4/conf/lan0/forwarding", "1");
	err |= sh("ip route add default via 192.0.2.254 dev pub0");
	err |= sh("ip neigh add 192.0.2.254 lladdr 02:00:00:00:00:fe dev pub0 nud permanent");
	err |= sh("ip neigh add 192.0.2.10 lladdr 02:00:00:00:00:10 dev pub0 nud permanent");
	err |= sh("ip neigh add 198.18.0.2 lladdr 02:00:00:00:00:02 dev bk0 nud permanent");
	err |= sh("ip neigh add 198.18.0.5 lladdr 02:00:00:00:00:05 dev bk0 nud permanent");
	err |= sh("ip neigh add 198.19.0.10 lladdr 02:00:00:00:00:30 dev lan0 nud permanent");
	err |= sh("ip neigh add 198.19.0.11 lladdr 02:00:00:00:00:31 dev lan0 nud permanent");
	err |= sh("ip neigh add 198.19.1.10 lladdr 02:00:00:00:00:32 dev lan0 nud permanent");
	err |= sh("ip neigh add 198.51.100.2 lladdr 02:00:00:00:00:20 dev pub1 nud permanent");
	if_pub0 = (int)if_nametoindex("pub0");
	if_bk0 = (int)if_nametoindex("bk0");
	if_lan0 = (int)if_nametoindex("lan0");
	if_pub1 = (int)if_nametoindex("pub1");
	if (!if_pub0 || !if_bk0 || !if_lan0 || !if_pub1)
		err = -1;
	return err ? -1 : 0;
}

static int set_config(uint32_t timeout_all)
{
	static const uint32_t to[XM_TO_MAX] = { 120, 7440, 120, 10, 30, 180, 30 };
	struct xm_config c = {
		.layout_version = XM_LAYOUT_VERSION,
		.active_gen = 0,
		.port_lo = XM_DEFAULT_PORT_LO,
		.port_hi = XM_DEFAULT_PORT_HI,
		.ct_max = XM_CT_DEFAULT_MAX,
		.local_port_lo = LOCAL_PORT_LO,
		.local_port_hi = LOCAL_PORT_HI,
	};
	uint32_t zero = 0;
	int i;

	memcpy(c.timeouts, to, sizeof(to));
	if (timeout_all)
		for (i = 0; i < XM_TO_MAX; i++)
			c.timeouts[i] = timeout_all;
	return bpf_map_update_elem(fd_config, &zero, &c, BPF_ANY);
}

static int set_iface_mtu(int ifindex, uint32_t addr, const uint8_t *mac, uint8_t slot, uint16_t mtu)
{
	struct xm_iface v = {
		.ifindex = (uint32_t)ifindex,
		.addr = addr,
		.slot = slot,
		.flags = XM_IFACE_XDP_TX_OK | XM_IFACE_XDP_ATTACHED,
		.mtu = mtu,
	};

	memcpy(v.mac, mac, 6);
	return store_iface(&v);
}

static int add_masq(uint32_t id, uint32_t prefix, uint32_t len, uint8_t gen, int out_if)
{
	struct xm_masq_key k = {
		.prefixlen = 32 + len,
		.gen = htonl(gen),
		.saddr = prefix,
	};
	struct xm_masq_value v = { .rule_id = id, .out_ifindex = (uint32_t)out_if };

	return bpf_map_update_elem(fd_masq_rules, &k, &v, BPF_ANY);
}

static int add_local(uint32_t addr, int ifindex)
{
	uint32_t v = (uint32_t)ifindex;

	return bpf_map_update_elem(fd_local_addrs, &addr, &v, BPF_ANY);
}

static int setup_maps(uint32_t timeout_all)
{
	int ifs[3] = { if_pub0, if_bk0, if_lan0 }, i, err = 0;
	uint32_t k;

	err |= set_config(timeout_all);
	err |= set_iface_mtu(if_pub0, A_PUB0, MAC_PUB0, 0, 0);
	err |= set_iface_mtu(if_bk0, A_BK0, MAC_BK0, 1, 0);
	err |= set_iface_mtu(if_lan0, A_LAN0, MAC_LAN0, 2, 0);
	for (i = 0; i < 3; i++) {
		k = (uint32_t)ifs[i];
		err |= bpf_map_update_elem(fd_txp, &k, &k, BPF_ANY);
	}
	err |= add_local(A_PUB0, if_pub0);
	err |= add_local(A_BK0, if_bk0);
	err |= add_local(A_LAN0, if_lan0);
	err |= add_rule(RULE_TCP, if_pub0, 0, 8080, IPPROTO_TCP, 0, A_BACKEND, 80, 0);
	err |= add_rule(RULE_UDP, if_pub0, 0, 5000, IPPROTO_UDP, 0, A_BACKEND, 5000, 0);
	err |= add_rule(RULE_KEEP, if_pub0, 0, 8090, IPPROTO_TCP, 0, A_BACKEND, 90,
			XM_RULE_KEEP_SOURCE);
	err |= add_masq(RULE_MASQ, A_LAN0 & htonl(0xffffff00), 24, 0, if_pub0);
	return err ? -1 : 0;
}

static void frags_clear(void)
{
	struct xm_frag_key k;

	while (bpf_map_get_next_key(fd_frags, NULL, &k) == 0)
		if (bpf_map_delete_elem(fd_frags, &k))
			break;
}

/* ---- frames ------------------------------------------------------------ */

/* Client -> pub0 (as received on pub0). */
static struct pkt_spec client_spec(uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct pkt_spec s = {
		.dmac = MAC_PUB0,
		.smac = MAC_CLIENT,
		.saddr = A_CLIENT,
		.daddr = A_PUB0,
		.sport = sport,
		.dport = dport,
		.proto = proto,
		.ttl = 64,
		.tcp_flags = flags,
	};
	return s;
}

/* The forward translation of a client frame: to the backend from bk0. */
static struct pkt_spec fwd_of(struct pkt_spec s, uint16_t new_sport, uint16_t new_dport)
{
	s.dmac = MAC_BACKEND;
	s.smac = MAC_BK0;
	s.saddr = A_BK0;
	s.daddr = A_BACKEND;
	s.sport = new_sport;
	s.dport = new_dport;
	s.ttl--;
	return s;
}

/* Backend -> bk0 (as received on bk0). */
static struct pkt_spec backend_spec(uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct pkt_spec s = {
		.dmac = MAC_BK0,
		.smac = MAC_BACKEND,
		.saddr = A_BACKEND,
		.daddr = A_BK0,
		.sport = sport,
		.dport = dport,
		.proto = proto,
		.ttl = 64,
		.tcp_flags = flags,
		.ip_id = 0x4321,
	};
	return s;
}

/* The reply translation: back to the client (addr, mac) from pub0's address. */
static struct pkt_spec rev_of(struct pkt_spec s, uint32_t client, const uint8_t *cmac,
			      uint16_t new_sport, uint16_t new_dport)
{
	s.dmac = cmac;
	s.smac = MAC_PUB0;
	s.saddr = A_PUB0;
	s.daddr = client;
	s.sport = new_sport;
	s.dport = new_dport;
	s.ttl--;
	return s;
}

/* Private host -> anywhere (as received on lan0). */
static struct pkt_spec lan_spec(uint8_t proto, uint32_t src, const uint8_t *smac, uint16_t sport,
				uint32_t dst, uint16_t dport, uint8_t flags)
{
	struct pkt_spec s = {
		.dmac = MAC_LAN0,
		.smac = smac,
		.saddr = src,
		.daddr = dst,
		.sport = sport,
		.dport = dport,
		.proto = proto,
		.ttl = 64,
		.tcp_flags = flags,
		.ip_id = 0x5678,
	};
	return s;
}

/* Masqueraded: out of pub0 to the default gateway, from pub0's address. */
static struct pkt_spec masq_of(struct pkt_spec s, uint16_t new_sport)
{
	s.dmac = MAC_GW;
	s.smac = MAC_PUB0;
	s.saddr = A_PUB0;
	s.sport = new_sport;
	s.ttl--;
	return s;
}

/* Outside host -> pub0's address (as received on pub0 from the gateway). */
static struct pkt_spec out_spec(uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct pkt_spec s = {
		.dmac = MAC_PUB0,
		.smac = MAC_GW,
		.saddr = A_OUT,
		.daddr = A_PUB0,
		.sport = sport,
		.dport = dport,
		.proto = proto,
		.ttl = 55,
		.tcp_flags = flags,
		.ip_id = 0x9abc,
	};
	return s;
}

/* A masquerade reply translated back to the private host. */
static struct pkt_spec unmasq_of(struct pkt_spec s, uint32_t host, const uint8_t *hmac,
				 uint16_t new_dport)
{
	s.dmac = hmac;
	s.smac = MAC_LAN0;
	s.daddr = host;
	s.dport = new_dport;
	s.ttl--;
	return s;
}

/* An ICMP error frame quoting the IP packet of `quoted` (untagged), its
 * first qlen bytes (0 = all of it). */
static struct frame icmp_err(const uint8_t *dmac, const uint8_t *smac, uint32_t saddr,
			     uint32_t daddr, uint8_t ttl, uint8_t type, uint8_t code, uint32_t rest,
			     const struct frame *quoted, size_t qlen)
{
	uint8_t msg[PKT_MAX];
	struct pkt_view v = pkt_view(quoted->b, quoted->len);
	struct pkt_spec s = {
		.dmac = dmac,
		.smac = smac,
		.saddr = saddr,
		.daddr = daddr,
		.proto = IPPROTO_ICMP,
		.ttl = ttl,
		.ip_id = 0x0e0e,
		.raw_l4 = 1,
	};

	if (!qlen)
		qlen = quoted->len - v.l3;
	s.plen = pkt_icmp_msg(msg, sizeof(msg), type, code, rest, quoted->b + v.l3, qlen);
	s.payload = msg;
	return F(s);
}

/* Source port (TCP/UDP) or echo id (ICMP) of a frame; 0 if unparsable. */
static uint16_t frame_sport(const struct frame *f)
{
	struct pkt_view v = pkt_view(f->b, f->len);

	if (!v.ok || v.l4len < 8)
		return 0;
	return pkt_get16(f->b + v.l4 + (v.proto == IPPROTO_ICMP ? 4 : 0));
}

/* All checksums of a translated ICMP error by full recomputation. */
static void check_icmperr(const char *what, const struct frame *f, int want_inner_l4)
{
	struct pkt_icmperr_csums c = pkt_check_icmperr(f->b, f->len);

	if (!tap_ok(c.ok && c.ip_got == c.ip_want,
		    "%s: outer IPv4 header checksum equals full recomputation", what))
		tap_diag("stored 0x%04x, computed 0x%04x (parse ok %d)", c.ip_got, c.ip_want, c.ok);
	if (!tap_ok(c.ok && c.icmp_got == c.icmp_want,
		    "%s: ICMP checksum (whole message) equals full recomputation", what))
		tap_diag("stored 0x%04x, computed 0x%04x", c.icmp_got, c.icmp_want);
	if (!tap_ok(c.ok && c.in_ip_got == c.in_ip_want,
		    "%s: quoted IPv4 header checksum equals full recomputation", what))
		tap_diag("stored 0x%04x, computed 0x%04x", c.in_ip_got, c.in_ip_want);
	if (want_inner_l4 && !tap_ok(c.ok && c.inner_l4_full && c.in_l4_got == c.in_l4_want,
				     "%s: quoted %s checksum equals full recomputation", what,
				     c.inner_proto == IPPROTO_TCP ? "TCP" :
				     c.inner_proto == IPPROTO_UDP ? "UDP" :
								    "ICMP"))
		tap_diag("stored 0x%04x, computed 0x%04x (whole datagram quoted: %d)", c.in_l4_got,
			 c.in_l4_want, c.inner_l4_full);
}

/* ---- 1. masquerade rules ----------------------------------------------- */

static void test_masq(void)
{
	struct pkt_spec s, r;
	struct frame in, want, got;
	struct xm_flow f;
	uint16_t port;
	const char *w;
	int n;

	flows_clear();
	cnt_mark();
	w = "XDP masq tcp SYN 198.19.0.10:12345 -> 198.18.200.5:443 on lan0 (port outside "
	    "32768-60999: kept)";
	s = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12345, A_OUT, 443, TCP_SYN);
	in = F(s);
	want = F(masq_of(s, 12345));
	run_case(0, w, if_lan0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);
	cnt_check(XM_C_FLOW_NEW, 1, w);
	tap_ok(flows_count() == 2, "%s: two flow entries", w);
	tap_ok(flow_get(A_LAN10, A_OUT, 12345, 443, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_PUB0, A_OUT, 12345, 443, if_pub0, MAC_GW, 0, XM_FLOW_L2_VALID,
			       RULE_MASQ),
	       "%s: original entry rewrites to 192.0.2.1:12345 -> 198.18.200.5:443 via pub0 to the "
	       "gateway's MAC",
	       w);
	tap_ok(flow_get(A_OUT, A_PUB0, 443, 12345, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_OUT, A_LAN10, 443, 12345, if_lan0, MAC_LAN10, 0,
			       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_MASQ),
	       "%s: reply entry {198.18.200.5:443 -> 192.0.2.1:12345} rewrites back to "
	       "198.19.0.10:12345 via lan0",
	       w);

	w = "XDP masq tcp SYN-ACK 198.18.200.5:443 -> 192.0.2.1:12345 on pub0 (reply)";
	r = out_spec(IPPROTO_TCP, 443, 12345, TCP_SYN | TCP_ACK);
	r.payload = PAYLOAD;
	r.plen = 13;
	in = F(r);
	want = F(unmasq_of(r, A_LAN10, MAC_LAN10, 12345));
	run_case(0, w, if_pub0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);
	flow_get(A_LAN10, A_OUT, 12345, 443, IPPROTO_TCP, &f);
	tap_ok(f.state == XM_ST_ESTABLISHED, "%s: flow ESTABLISHED (state %u)", w, f.state);

	w = "XDP masq tcp SYN 198.19.0.10:40000 -> 198.18.200.5:443 (port in 32768-60999: "
	    "replaced)";
	s = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 40000, A_OUT, 443, TCP_SYN);
	in = F(s);
	port = 0;
	if (run_case(0, w, if_lan0, &in, XDP_REDIRECT, NULL, &got))
		port = frame_sport(&got);
	if (!tap_ok(port >= XM_DEFAULT_PORT_LO && port <= XM_DEFAULT_PORT_HI,
		    "%s: source port %u from port_lo..port_hi %u-%u", w, port, XM_DEFAULT_PORT_LO,
		    XM_DEFAULT_PORT_HI))
		pkt_hex("got", got.b, got.len, diag_fmt);
	want = F(masq_of(s, port));
	if (!tap_ok(same_frame(&got, &want), "%s: rest of the frame as expected", w))
		hexdiff(&got, &want);
	check_csums(w, &got);
	w = "XDP masq reply to the replaced port";
	r = out_spec(IPPROTO_TCP, 443, port, TCP_SYN | TCP_ACK);
	in = F(r);
	want = F(unmasq_of(r, A_LAN10, MAC_LAN10, 40000));
	run_case(0, w, if_pub0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);

	w = "XDP masq udp 198.19.0.11:5353 -> 198.18.200.5:53 (kept)";
	s = lan_spec(IPPROTO_UDP, A_LAN11, MAC_LAN11, 5353, A_OUT, 53, 0);
	s.payload = PAYLOAD;
	s.plen = 17;
	in = F(s);
	want = F(masq_of(s, 5353));
	run_case(0, w, if_lan0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);
	w = "XDP masq udp reply 198.18.200.5:53 -> 192.0.2.1:5353";
	r = out_spec(IPPROTO_UDP, 53, 5353, 0);
	r.payload = PAYLOAD;
	r.plen = 30;
	in = F(r);
	want = F(unmasq_of(r, A_LAN11, MAC_LAN11, 5353));
	run_case(0, w, if_pub0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);

	w = "tc masq udp 198.19.0.11:45000 -> 198.18.200.5:53 (port in 32768-60999: replaced)";
	s = lan_spec(IPPROTO_UDP, A_LAN11, MAC_LAN11, 45000, A_OUT, 53, 0);
	s.payload = PAYLOAD;
	s.plen = 5;
	in = F(s);
	port = 0;
	if (run_case(1, w, if_lan0, &in, TC_ACT_REDIRECT, NULL, &got))
		port = frame_sport(&got);
	if (!tap_ok(port >= XM_DEFAULT_PORT_LO && port <= XM_DEFAULT_PORT_HI,
		    "%s: source port %u from port_lo..port_hi", w, port))
		pkt_hex("got", got.b, got.len, diag_fmt);
	want = F(masq_of(s, port));
	if (!tap_ok(same_frame(&got, &want), "%s: rest of the frame as expected", w))
		hexdiff(&got, &want);
	check_csums(w, &got);
	w = "tc masq udp reply to the replaced port";
	r = out_spec(IPPROTO_UDP, 53, port, 0);
	in = F(r);
	want = F(unmasq_of(r, A_LAN11, MAC_LAN11, 45000));
	run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, &want, &got);
	check_csums(w, &got);

	/* Not masqueraded. */
	n = flows_count();
	cnt_mark();
	s = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12346, A_LAN0, 22, TCP_SYN);
	in = F(s);
	run_case(0, "XDP tcp SYN 198.19.0.10 -> 198.19.0.1:22 (the router's own lan0 address)",
		 if_lan0, &in, XDP_PASS, &in, &got);
	s = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12347, A_PUB0, 22, TCP_SYN);
	in = F(s);
	run_case(0, "XDP tcp SYN 198.19.0.10 -> 192.0.2.1:22 (the router's own pub0 address)",
		 if_lan0, &in, XDP_PASS, &in, &got);
	s = lan_spec(IPPROTO_UDP, A_LAN10, MAC_LAN10, 12348, A_LAN0, 53, 0);
	in = F(s);
	run_case(0, "XDP udp 198.19.0.10 -> 198.19.0.1:53 (the router's own address)", if_lan0, &in,
		 XDP_PASS, &in, &got);
	s = lan_spec(IPPROTO_TCP, A_LAN1_10, MAC_LAN1_10, 12349, A_OUT, 443, TCP_SYN);
	in = F(s);
	run_case(0,
		 "XDP tcp SYN from 198.19.1.10 (outside the prefix 198.19.0.0/24) to 198.18.200.5",
		 if_lan0, &in, XDP_PASS, &in, &got);
	s = lan_spec(IPPROTO_UDP, A_LAN1_10, MAC_LAN1_10, 12349, A_OUT, 53, 0);
	in = F(s);
	run_case(0, "XDP udp from 198.19.1.10 (outside the prefix) to 198.18.200.5", if_lan0, &in,
		 XDP_PASS, &in, &got);
	s = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12350, A_BACKEND, 80, TCP_SYN);
	in = F(s);
	run_case(0,
		 "XDP tcp SYN 198.19.0.10 -> 198.18.0.2:80 (routed out of bk0, the rule names "
		 "pub0)",
		 if_lan0, &in, XDP_PASS, &in, &got);
	s = lan_spec(IPPROTO_UDP, A_LAN10, MAC_LAN10, 12350, A_PUB1_PEER, 53, 0);
	in = F(s);
	run_case(0, "XDP udp 198.19.0.10 -> 198.51.100.2 (routed out of unmanaged pub1)", if_lan0,
		 &in, XDP_PASS, &in, &got);
	cnt_check(XM_C_PASS_NOT_OURS, 7, "traffic not masqueraded");
	cnt_check(XM_C_FLOW_NEW, 0, "traffic not masqueraded");
	tap_ok(flows_count() == n, "traffic not masqueraded: no flow created (%d entries, was %d)",
	       flows_count(), n);

	/* A masquerade rule matches source and egress, not the ingress
	 * (like -s PREFIX -o IFACE -j MASQUERADE). */
	w = "tc masq tcp SYN 198.19.0.10:12351 -> 198.18.200.5:443 arriving on bk0 (ingress not "
	    "part of the rule)";
	s = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12351, A_OUT, 443, TCP_SYN);
	s.dmac = MAC_BK0;
	in = F(s);
	want = F(masq_of(s, 12351));
	run_case(1, w, if_bk0, &in, TC_ACT_REDIRECT, &want, &got);
	check_csums(w, &got);
	tap_ok(flow_get(A_OUT, A_PUB0, 443, 12351, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_OUT, A_LAN10, 443, 12351, if_bk0, MAC_LAN10, 0,
			       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_MASQ),
	       "%s: reply entry goes back out of bk0", w);
}

/* ---- 2. ICMP echo through masquerade ------------------------------------ */

static void test_masq_echo(void)
{
	struct pkt_spec s, r;
	struct frame in, want, got;
	struct xm_flow f;
	uint16_t id2 = 0;
	const char *w;

	flows_clear();
	cnt_mark();
	w = "XDP masq ICMP echo request 198.19.0.10 id 0x0777 -> 198.18.200.5";
	s = lan_spec(IPPROTO_ICMP, A_LAN10, MAC_LAN10, 0x0777, A_OUT, 0, 0);
	s.payload = PAYLOAD;
	s.plen = 16;
	in = F(s);
	want = F(masq_of(s, 0x0777));
	run_case(0, w, if_lan0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);
	tap_ok(flow_get(A_OUT, A_PUB0, 0x0777, 0x0777, IPPROTO_ICMP, &f) == 0 &&
		       flow_eq(&f, A_OUT, A_LAN10, 0x0777, 0x0777, if_lan0, MAC_LAN10, 0,
			       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_MASQ),
	       "%s: reply entry keyed on id 0x0777 (sport = dport = id)", w);

	w = "XDP masq ICMP echo request 198.19.0.11 with the same id 0x0777";
	s = lan_spec(IPPROTO_ICMP, A_LAN11, MAC_LAN11, 0x0777, A_OUT, 0, 0);
	s.payload = PAYLOAD;
	s.plen = 16;
	in = F(s);
	if (run_case(0, w, if_lan0, &in, XDP_REDIRECT, NULL, &got))
		id2 = frame_sport(&got);
	if (!tap_ok(id2 != 0x0777 && id2 >= XM_DEFAULT_PORT_LO && id2 <= XM_DEFAULT_PORT_HI,
		    "%s: gets another id (0x%04x = %u, from port_lo..port_hi)", w, id2, id2))
		pkt_hex("got", got.b, got.len, diag_fmt);
	want = F(masq_of(s, id2));
	if (!tap_ok(same_frame(&got, &want), "%s: rest of the frame as expected", w))
		hexdiff(&got, &want);
	check_csums(w, &got);

	w = "XDP masq ICMP echo reply 198.18.200.5 -> 192.0.2.1 id 0x0777";
	r = out_spec(IPPROTO_ICMP, 0x0777, 0, 0);
	r.echo_reply = 1;
	r.payload = PAYLOAD;
	r.plen = 16;
	in = F(r);
	want = F(unmasq_of(r, A_LAN10, MAC_LAN10, 0));
	run_case(0, w, if_pub0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);

	w = "XDP masq ICMP echo reply with the second host's translated id";
	r = out_spec(IPPROTO_ICMP, id2, 0, 0);
	r.echo_reply = 1;
	r.payload = PAYLOAD;
	r.plen = 16;
	in = F(r);
	r = unmasq_of(r, A_LAN11, MAC_LAN11, 0);
	r.sport = 0x0777;
	want = F(r);
	run_case(0, w, if_pub0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);

	w = "tc masq ICMP echo request 198.19.0.11 id 0x0777 again (existing flow)";
	s = lan_spec(IPPROTO_ICMP, A_LAN11, MAC_LAN11, 0x0777, A_OUT, 0, 0);
	s.payload = PAYLOAD;
	s.plen = 3; /* odd length */
	in = F(s);
	want = F(masq_of(s, id2));
	run_case(1, w, if_lan0, &in, TC_ACT_REDIRECT, &want, &got);
	check_csums(w, &got);
	cnt_check(XM_C_FLOW_NEW, 2, "masq ICMP echo");

	s = out_spec(IPPROTO_ICMP, 0x0999, 0, 0);
	s.echo_reply = 1;
	in = F(s);
	run_case(0, "XDP ICMP echo reply 198.18.200.5 -> 192.0.2.1 with an id of no flow", if_pub0,
		 &in, XDP_PASS, &in, &got);
}

/* ---- 3. ICMP errors (RFC 5508) ------------------------------------------ */

static void test_icmp_errors(void)
{
	struct pkt_spec s, r, t;
	struct frame in, want, got, sent, orig;
	struct xm_flow f;
	uint16_t id2 = 0;
	const char *w;
	uint64_t nerr = 0;

	flows_clear();
	/* An established forwarded TCP flow. */
	s = client_spec(IPPROTO_TCP, 12000, 8080, TCP_SYN);
	in = F(s);
	want = F(fwd_of(s, 12000, 80));
	run_case(0, "ICMP errors set-up: tcp SYN 192.0.2.10:12000 -> :8080", if_pub0, &in,
		 XDP_REDIRECT, &want, &got);
	r = backend_spec(IPPROTO_TCP, 80, 12000, TCP_SYN | TCP_ACK);
	in = F(r);
	want = F(rev_of(r, A_CLIENT, MAC_CLIENT, 8080, 12000));
	run_case(0, "ICMP errors set-up: SYN-ACK from the backend", if_bk0, &in, XDP_REDIRECT,
		 &want, &got);
	/* A UDP flow. */
	s = client_spec(IPPROTO_UDP, 12001, 5000, 0);
	s.payload = PAYLOAD;
	s.plen = 9;
	in = F(s);
	want = F(fwd_of(s, 12001, 5000));
	run_case(0, "ICMP errors set-up: udp 192.0.2.10:12001 -> :5000", if_pub0, &in, XDP_REDIRECT,
		 &want, &got);
	/* Echo flows through masquerade, the second with a translated id. */
	s = lan_spec(IPPROTO_ICMP, A_LAN10, MAC_LAN10, 0x0888, A_OUT, 0, 0);
	in = F(s);
	run_case(0, "ICMP errors set-up: echo 198.19.0.10 id 0x0888", if_lan0, &in, XDP_REDIRECT,
		 NULL, &got);
	s = lan_spec(IPPROTO_ICMP, A_LAN11, MAC_LAN11, 0x0888, A_OUT, 0, 0);
	s.payload = PAYLOAD;
	s.plen = 12;
	in = F(s);
	if (run_case(0, "ICMP errors set-up: echo 198.19.0.11 id 0x0888", if_lan0, &in,
		     XDP_REDIRECT, NULL, &got))
		id2 = frame_sport(&got);
	tap_ok(id2 && id2 != 0x0888, "ICMP errors set-up: second echo got id 0x%04x (translated)",
	       id2);
	cnt_mark();

	/* (a) Port unreachable from the backend about the SYN the router sent,
	 * whole TCP header quoted. The client must see an error from the
	 * public address about the packet it sent. */
	w = "XDP ICMP port unreachable from the backend about the forwarded tcp SYN (TCP header "
	    "quoted whole)";
	s = client_spec(IPPROTO_TCP, 12000, 8080, TCP_SYN);
	sent = F(fwd_of(s, 12000, 80)); /* as the backend got it */
	t = s;
	t.ttl = 63;  /* the quote keeps the hop */
	orig = F(t); /* what the client sent */
	in = icmp_err(MAC_BK0, MAC_BACKEND, A_BACKEND, A_BK0, 64, 3, 3, 0, &sent, 0);
	want = icmp_err(MAC_CLIENT, MAC_PUB0, A_PUB0, A_CLIENT, 63, 3, 3, 0, &orig, 0);
	run_case(0, w, if_bk0, &in, XDP_REDIRECT, &want, &got);
	check_icmperr(w, &got, 1);
	nerr++;

	w = "XDP ICMP port unreachable about the tcp SYN, quote = IP header + 8 bytes";
	in = icmp_err(MAC_BK0, MAC_BACKEND, A_BACKEND, A_BK0, 64, 3, 3, 0, &sent, 28);
	want = icmp_err(MAC_CLIENT, MAC_PUB0, A_PUB0, A_CLIENT, 63, 3, 3, 0, &orig, 28);
	run_case(0, w, if_bk0, &in, XDP_REDIRECT, &want, &got);
	check_icmperr(w, &got, 0);
	nerr++;

	w = "XDP ICMP port unreachable from the backend about the forwarded udp datagram (quoted "
	    "whole)";
	s = client_spec(IPPROTO_UDP, 12001, 5000, 0);
	s.payload = PAYLOAD;
	s.plen = 9;
	sent = F(fwd_of(s, 12001, 5000));
	t = s;
	t.ttl = 63;
	orig = F(t);
	in = icmp_err(MAC_BK0, MAC_BACKEND, A_BACKEND, A_BK0, 64, 3, 3, 0, &sent, 0);
	want = icmp_err(MAC_CLIENT, MAC_PUB0, A_PUB0, A_CLIENT, 63, 3, 3, 0, &orig, 0);
	run_case(0, w, if_bk0, &in, XDP_REDIRECT, &want, &got);
	check_icmperr(w, &got, 1);
	nerr++;
	w = "tc the same udp port unreachable";
	run_case(1, w, if_bk0, &in, TC_ACT_REDIRECT, &want, &got);
	check_icmperr(w, &got, 1);
	nerr++;

	/* (b) From an intermediate router: its address stays. */
	w = "XDP ICMP frag-needed (MTU 1400) from 198.18.0.254 about the tcp SYN";
	s = client_spec(IPPROTO_TCP, 12000, 8080, TCP_SYN);
	sent = F(fwd_of(s, 12000, 80));
	t = s;
	t.ttl = 63;
	orig = F(t);
	in = icmp_err(MAC_BK0, MAC_RTR, A_RTR, A_BK0, 64, 3, 4, 1400, &sent, 28);
	want = icmp_err(MAC_CLIENT, MAC_PUB0, A_RTR, A_CLIENT, 63, 3, 4, 1400, &orig, 28);
	run_case(0, w, if_bk0, &in, XDP_REDIRECT, &want, &got);
	{
		struct pkt_view v = pkt_view(got.b, got.len);
		uint32_t sa = 0;

		if (v.ok)
			memcpy(&sa, got.b + v.l3 + 12, 4);
		tap_ok(v.ok && sa == A_RTR && pkt_get16(got.b + v.l4 + 6) == 1400,
		       "%s: outer source stays 198.18.0.254, MTU field stays 1400", w);
	}
	check_icmperr(w, &got, 0);
	nerr++;

	w = "XDP ICMP time exceeded from 198.18.0.254 about the udp datagram";
	s = client_spec(IPPROTO_UDP, 12001, 5000, 0);
	s.payload = PAYLOAD;
	s.plen = 9;
	sent = F(fwd_of(s, 12001, 5000));
	t = s;
	t.ttl = 63;
	orig = F(t);
	in = icmp_err(MAC_BK0, MAC_RTR, A_RTR, A_BK0, 64, 11, 0, 0, &sent, 0);
	want = icmp_err(MAC_CLIENT, MAC_PUB0, A_RTR, A_CLIENT, 63, 11, 0, 0, &orig, 0);
	run_case(0, w, if_bk0, &in, XDP_REDIRECT, &want, &got);
	check_icmperr(w, &got, 1);
	nerr++;

	/* (c) About an echo flow: the quoted echo id is translated back. */
	w = "XDP ICMP host unreachable from 192.0.2.254 about the second host's echo (id "
	    "translated)";
	s = lan_spec(IPPROTO_ICMP, A_LAN11, MAC_LAN11, 0x0888, A_OUT, 0, 0);
	s.payload = PAYLOAD;
	s.plen = 12;
	sent = F(masq_of(s, id2));
	t = s;
	t.ttl = 63;
	orig = F(t);
	in = icmp_err(MAC_PUB0, MAC_GW, A_GW, A_PUB0, 64, 3, 1, 0, &sent, 0);
	want = icmp_err(MAC_LAN11, MAC_LAN0, A_GW, A_LAN11, 63, 3, 1, 0, &orig, 0);
	run_case(0, w, if_pub0, &in, XDP_REDIRECT, &want, &got);
	check_icmperr(w, &got, 1);
	nerr++;
	w = "XDP ICMP port unreachable from 198.18.200.5 itself about the echo (outer source = it)";
	in = icmp_err(MAC_PUB0, MAC_GW, A_OUT, A_PUB0, 64, 3, 3, 0, &sent, 28);
	want = icmp_err(MAC_LAN11, MAC_LAN0, A_OUT, A_LAN11, 63, 3, 3, 0, &orig, 28);
	run_case(0, w, if_pub0, &in, XDP_REDIRECT, &want, &got);
	check_icmperr(w, &got, 0);
	nerr++;

	cnt_check(XM_C_ICMP_ERROR, nerr, "ICMP errors about flows");
	flow_get(A_CLIENT, A_PUB0, 12000, 8080, IPPROTO_TCP, &f);
	tap_ok(f.state == XM_ST_ESTABLISHED,
	       "ICMP errors leave the tcp flow's state ESTABLISHED (state %u)", f.state);

	/* (d) About no flow. */
	cnt_mark();
	s = client_spec(IPPROTO_TCP, 12999, 8080, TCP_SYN);
	sent = F(fwd_of(s, 12999, 80));
	in = icmp_err(MAC_BK0, MAC_BACKEND, A_BACKEND, A_BK0, 64, 3, 3, 0, &sent, 0);
	run_case(0, "XDP ICMP port unreachable about a tcp segment of no flow", if_bk0, &in,
		 XDP_PASS, &in, &got);
	s = client_spec(IPPROTO_UDP, 12001, 5001, 0);
	sent = F(fwd_of(s, 12001, 5001));
	in = icmp_err(MAC_BK0, MAC_BACKEND, A_BACKEND, A_BK0, 64, 3, 3, 0, &sent, 0);
	run_case(1, "tc ICMP port unreachable about a udp datagram of no flow", if_bk0, &in,
		 TC_ACT_OK, &in, &got);
	cnt_check(XM_C_PASS_NOT_OURS, 2, "ICMP errors about no flow");

	/* (e) Quote too short. */
	s = client_spec(IPPROTO_TCP, 12000, 8080, TCP_SYN);
	sent = F(fwd_of(s, 12000, 80));
	in = icmp_err(MAC_BK0, MAC_BACKEND, A_BACKEND, A_BK0, 64, 3, 3, 0, &sent, 22);
	run_case(0, "XDP ICMP port unreachable quoting the IP header + 2 bytes (ports cut)", if_bk0,
		 &in, XDP_PASS, &in, &got);
	in = icmp_err(MAC_BK0, MAC_BACKEND, A_BACKEND, A_BK0, 64, 3, 3, 0, &sent, 12);
	run_case(0, "XDP ICMP port unreachable quoting 12 bytes of the IP header", if_bk0, &in,
		 XDP_PASS, &in, &got);
	in = icmp_err(MAC_BK0, MAC_BACKEND, A_BACKEND, A_BK0, 64, 3, 3, 0, &sent, 22);
	run_case(1, "tc ICMP port unreachable quoting the IP header + 2 bytes", if_bk0, &in,
		 TC_ACT_OK, &in, &got);
	cnt_check(XM_C_ICMP_ERROR, 0, "ICMP errors about no flow or with a short quote");
}

/* ---- 4. fragments of masqueraded datagrams ------------------------------ */

static void test_masq_frags(void)
{
	struct pkt_spec s, f1, f2, e1, e2;
	struct frame whole, whole_t, in1, in2, want1, want2, got;
	struct xm_frag_key fk = { 0 };
	struct xm_frag_value fv;
	struct pkt_view v;
	uint8_t u[48], ut[48];
	const char *w;

	flows_clear();
	frags_clear();
	/* One UDP datagram of 48 bytes, fragmented 24 + 24. */
	s = lan_spec(IPPROTO_UDP, A_LAN10, MAC_LAN10, 5400, A_OUT, 53, 0);
	s.payload = PAYLOAD;
	s.plen = 40;
	whole = F(s);
	v = pkt_view(whole.b, whole.len);
	memcpy(u, whole.b + v.l4, sizeof(u));
	whole_t = F(masq_of(s, 5400));
	v = pkt_view(whole_t.b, whole_t.len);
	memcpy(ut, whole_t.b + v.l4, sizeof(ut));

	f1 = s;
	f1.raw_l4 = 1;
	f1.ip_id = 0x6161;
	f1.frag = 0x2000; /* MF, offset 0 */
	f1.payload = u;
	f1.plen = 24;
	f2 = f1;
	f2.frag = 3; /* offset 24 bytes, last */
	f2.payload = u + 24;
	in1 = F(f1);
	in2 = F(f2);
	e1 = masq_of(f1, 5400);
	e1.payload = ut;	/* translated UDP header, checksum of the whole */
	e2 = masq_of(f2, 5400); /* L3 only: payload untouched */
	want1 = F(e1);
	want2 = F(e2);

	cnt_mark();
	w = "XDP masq first fragment (MF, offset 0) of udp 198.19.0.10:5400 -> 198.18.200.5:53";
	run_case(0, w, if_lan0, &in1, XDP_REDIRECT, &want1, &got);
	cnt_check(XM_C_FLOW_NEW, 1, w);
	tap_ok(flows_count() == 2, "%s: flow created (two entries)", w);
	fk.saddr = A_LAN10;
	fk.daddr = A_OUT;
	fk.ip_id = htons(0x6161);
	fk.proto = IPPROTO_UDP;
	memset(&fv, 0, sizeof(fv));
	if (!tap_ok(bpf_map_lookup_elem(fd_frags, &fk, &fv) == 0 && fv.flow.saddr == A_LAN10 &&
			    fv.flow.daddr == A_OUT && fv.flow.sport == htons(5400) &&
			    fv.flow.dport == htons(53) && fv.flow.proto == IPPROTO_UDP,
		    "%s: frags entry {198.19.0.10, 198.18.200.5, id 0x6161, udp} -> flow "
		    "198.19.0.10:5400 -> 198.18.200.5:53",
		    w))
		tap_diag("lookup: %s; flow %08x:%u -> %08x:%u proto %u", strerror(errno),
			 ntohl(fv.flow.saddr), ntohs(fv.flow.sport), ntohl(fv.flow.daddr),
			 ntohs(fv.flow.dport), fv.flow.proto);

	w = "XDP masq later fragment (offset 24, same IP id): addresses, TTL, IP checksum only";
	run_case(0, w, if_lan0, &in2, XDP_REDIRECT, &want2, &got);
	cnt_check(XM_C_FRAG_LATER, 1, w);
	v = pkt_view(got.b, got.len);
	tap_ok(v.ok && pkt_ip_csum(got.b + v.l3) == pkt_get16(got.b + v.l3 + 10),
	       "%s: IPv4 header checksum equals full recomputation", w);
	w = "tc the same later fragment";
	run_case(1, w, if_lan0, &in2, TC_ACT_REDIRECT, &want2, &got);

	cnt_mark();
	w = "XDP masq later fragment whose first was not seen (198.19.0.10 -> 198.18.200.5, id "
	    "0x6262)";
	f2.ip_id = 0x6262;
	in2 = F(f2);
	run_case(0, w, if_lan0, &in2, XDP_DROP, NULL, &got);
	cnt_check(XM_C_DROP_FRAG_UNKNOWN, 1, w);
	w = "tc the same unknown later fragment";
	run_case(1, w, if_lan0, &in2, TC_ACT_SHOT, NULL, &got);

	cnt_mark();
	w = "XDP later fragment of no flow from 198.19.0.10 to the router's own 198.19.0.1";
	f2.daddr = A_LAN0;
	in2 = F(f2);
	run_case(0, w, if_lan0, &in2, XDP_PASS, &in2, &got);
	w = "XDP later fragment of no flow from 198.19.0.10 to the router's own 192.0.2.1";
	f2.daddr = A_PUB0;
	in2 = F(f2);
	run_case(0, w, if_lan0, &in2, XDP_PASS, &in2, &got);
	w = "XDP later fragment of no flow from 198.19.1.10 (not masqueraded) to 198.18.200.5";
	f2.daddr = A_OUT;
	f2.saddr = A_LAN1_10;
	f2.smac = MAC_LAN1_10;
	in2 = F(f2);
	run_case(0, w, if_lan0, &in2, XDP_PASS, &in2, &got);
	cnt_check(XM_C_PASS_FRAGMENT, 3,
		  "later fragments not of a masqueraded source or for the router");
	cnt_check(XM_C_DROP_FRAG_UNKNOWN, 0,
		  "later fragments not of a masqueraded source or for the router");
}

/* ---- 5. keep-source rule ------------------------------------------------ */

static void test_keep_source(void)
{
	struct pkt_spec s, r, e;
	struct frame in, want, got;
	struct xm_flow f;
	const char *w;

	flows_clear();
	w = "XDP keep-source rule: tcp SYN 192.0.2.10:12100 -> :8090";
	s = client_spec(IPPROTO_TCP, 12100, 8090, TCP_SYN);
	in = F(s);
	e = fwd_of(s, 12100, 90);
	e.saddr = A_CLIENT; /* source kept */
	want = F(e);
	run_case(0, w, if_pub0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);
	tap_ok(flow_get(A_CLIENT, A_PUB0, 12100, 8090, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_CLIENT, A_BACKEND, 12100, 90, if_bk0, MAC_BACKEND, 0,
			       XM_FLOW_L2_VALID | XM_FLOW_KEEP_SOURCE, RULE_KEEP),
	       "%s: original entry keeps the client's address and port, KEEP_SOURCE", w);
	tap_ok(flow_get(A_BACKEND, A_CLIENT, 90, 12100, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_PUB0, A_CLIENT, 8090, 12100, if_pub0, MAC_CLIENT, 0,
			       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_KEEP),
	       "%s: reply entry keyed {backend:90 -> 192.0.2.10:12100}", w);

	w = "XDP keep-source reply backend:90 -> 192.0.2.10:12100";
	r = backend_spec(IPPROTO_TCP, 90, 12100, TCP_SYN | TCP_ACK);
	r.daddr = A_CLIENT;
	r.payload = PAYLOAD;
	r.plen = 6;
	in = F(r);
	want = F(rev_of(r, A_CLIENT, MAC_CLIENT, 8090, 12100));
	run_case(0, w, if_bk0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);

	/* The router's own connections cannot collide with a tuple that has
	 * the client's address: the port is kept even in the local range. */
	w = "tc keep-source rule: tcp SYN 192.0.2.10:40000 (in 32768-60999) -> :8090";
	s = client_spec(IPPROTO_TCP, 40000, 8090, TCP_SYN);
	in = F(s);
	e = fwd_of(s, 40000, 90);
	e.saddr = A_CLIENT;
	want = F(e);
	run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, &want, &got);
	check_csums(w, &got);
	w = "tc keep-source reply backend:90 -> 192.0.2.10:40000";
	r = backend_spec(IPPROTO_TCP, 90, 40000, TCP_SYN | TCP_ACK);
	r.daddr = A_CLIENT;
	in = F(r);
	want = F(rev_of(r, A_CLIENT, MAC_CLIENT, 8090, 40000));
	run_case(1, w, if_bk0, &in, TC_ACT_REDIRECT, &want, &got);
	check_csums(w, &got);
}

/* ---- 6. hairpin --------------------------------------------------------- */

static void test_hairpin(void)
{
	struct pkt_spec s, r, e;
	struct frame in, want, got;
	struct xm_flow f;
	const char *w;

	flows_clear();
	w = "XDP hairpin: tcp SYN 198.18.0.5:12200 on bk0 -> 192.0.2.1:8080 (pub0's forward rule)";
	s = backend_spec(IPPROTO_TCP, 12200, 8080, TCP_SYN);
	s.smac = MAC_HP;
	s.saddr = A_HP;
	s.daddr = A_PUB0;
	in = F(s);
	e = fwd_of(s, 12200, 80); /* from bk0's address */
	want = F(e);
	run_case(0, w, if_bk0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);
	tap_ok(flow_get(A_BACKEND, A_BK0, 80, 12200, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_PUB0, A_HP, 8080, 12200, if_bk0, MAC_HP, 0,
			       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_TCP),
	       "%s: reply entry sends back to 198.18.0.5 via bk0 as 192.0.2.1:8080", w);

	w = "XDP hairpin reply backend:80 -> 198.18.0.1:12200";
	r = backend_spec(IPPROTO_TCP, 80, 12200, TCP_SYN | TCP_ACK);
	in = F(r);
	e = r;
	e.dmac = MAC_HP;
	e.smac = MAC_BK0;
	e.saddr = A_PUB0;
	e.daddr = A_HP;
	e.sport = 8080;
	e.ttl--;
	want = F(e);
	run_case(0, w, if_bk0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);

	w = "tc hairpin: udp 198.18.0.5:12201 on bk0 -> 192.0.2.1:5000";
	s = backend_spec(IPPROTO_UDP, 12201, 5000, 0);
	s.smac = MAC_HP;
	s.saddr = A_HP;
	s.daddr = A_PUB0;
	s.payload = PAYLOAD;
	s.plen = 4;
	in = F(s);
	want = F(fwd_of(s, 12201, 5000));
	run_case(1, w, if_bk0, &in, TC_ACT_REDIRECT, &want, &got);
	check_csums(w, &got);

	s = backend_spec(IPPROTO_TCP, 12202, 8082, TCP_SYN);
	s.smac = MAC_HP;
	s.saddr = A_HP;
	s.daddr = A_PUB0;
	in = F(s);
	run_case(0, "XDP tcp SYN 198.18.0.5 -> 192.0.2.1:8082 (no rule: for the router)", if_bk0,
		 &in, XDP_PASS, &in, &got);
}

/* ---- 7. path MTU at tc -------------------------------------------------- */

static void test_pmtu(void)
{
	static uint8_t big[1400];
	struct pkt_spec s, r;
	struct frame in, want, got;
	uint8_t msg[64];
	size_t i;
	const char *w;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	flows_clear();
	set_iface_mtu(if_bk0, A_BK0, MAC_BK0, 1, 1280);
	s = client_spec(IPPROTO_TCP, 12300, 8080, TCP_SYN);
	s.frag = 0x4000;
	in = F(s);
	want = F(fwd_of(s, 12300, 80));
	run_case(1, "PMTU set-up: tcp SYN 192.0.2.10:12300 -> :8080 (bk0 mtu 1280)", if_pub0, &in,
		 TC_ACT_REDIRECT, &want, &got);
	r = backend_spec(IPPROTO_TCP, 80, 12300, TCP_SYN | TCP_ACK);
	in = F(r);
	want = F(rev_of(r, A_CLIENT, MAC_CLIENT, 8080, 12300));
	run_case(1, "PMTU set-up: SYN-ACK from the backend", if_bk0, &in, TC_ACT_REDIRECT, &want,
		 &got);

	cnt_mark();
	w = "tc 1400-byte tcp segment with DF, egress bk0 mtu 1280";
	s = client_spec(IPPROTO_TCP, 12300, 8080, TCP_ACK);
	s.frag = 0x4000;
	s.payload = big;
	s.plen = 1400 - 40;
	in = F(s);
	if (run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, NULL, &got)) {
		struct pkt_view v = pkt_view(got.b, got.len);
		struct pkt_csums c = pkt_check_csums(got.b, got.len);
		struct pkt_spec e = {
			.dmac = MAC_CLIENT,
			.smac = MAC_PUB0,
			.saddr = A_PUB0,
			.daddr = A_CLIENT,
			.proto = IPPROTO_ICMP,
			.raw_l4 = 1,
		};
		uint32_t sa = 0, da = 0;

		/* Built independently: type 3 code 4, next-hop MTU 1280 in bytes
		 * 6-7, the original IP header + 8 bytes quoted. The header fields
		 * the sender chooses (TOS, id, flags, TTL) are taken from the
		 * output, then the checksum recomputed. */
		e.plen = pkt_icmp_msg(msg, sizeof(msg), 3, 4, 1280, in.b + 14, 28);
		e.payload = msg;
		want = F(e);
		if (v.ok && got.len == want.len) {
			memcpy(want.b + 14 + 1, got.b + 14 + 1, 1); /* TOS */
			memcpy(want.b + 14 + 4, got.b + 14 + 4, 5); /* id, frag, TTL */
			pkt_put16(want.b + 14 + 10, pkt_ip_csum(want.b + 14));
			memcpy(&sa, got.b + v.l3 + 12, 4);
			memcpy(&da, got.b + v.l3 + 16, 4);
		}
		tap_ok(v.ok && memcmp(got.b, MAC_CLIENT, 6) == 0 &&
			       memcmp(got.b + 6, MAC_PUB0, 6) == 0,
		       "%s: MACs swapped (to the client's MAC from pub0's)", w);
		tap_ok(v.ok && sa == A_PUB0 && da == A_CLIENT,
		       "%s: from the ingress interface's address 192.0.2.1 to the client", w);
		tap_ok(v.ok && v.proto == IPPROTO_ICMP && got.b[v.l4] == 3 &&
			       got.b[v.l4 + 1] == 4 && pkt_get16(got.b + v.l4 + 6) == 1280,
		       "%s: ICMP type 3 code 4, next-hop MTU field 1280", w);
		tap_ok(v.ok && v.l4len == 8 + 28 && memcmp(got.b + v.l4 + 8, in.b + 14, 28) == 0,
		       "%s: quotes the original IP header + 8 bytes", w);
		tap_ok(v.ok && got.b[v.l3 + 8] > 0, "%s: TTL %u", w, v.ok ? got.b[v.l3 + 8] : 0);
		if (!tap_ok(same_frame(&got, &want), "%s: whole frame as built independently", w))
			hexdiff(&got, &want);
		if (!tap_ok(c.ok && c.ip_got == c.ip_want && c.l4_got == c.l4_want,
			    "%s: IPv4 and ICMP checksums equal full recomputation", w))
			tap_diag("ip stored 0x%04x computed 0x%04x, icmp stored 0x%04x computed "
				 "0x%04x",
				 c.ip_got, c.ip_want, c.l4_got, c.l4_want);
	}
	cnt_check(XM_C_FRAG_NEEDED_SENT, 1, w);

	cnt_mark();
	w = "tc 1400-byte tcp segment without DF";
	s.frag = 0;
	in = F(s);
	run_case(1, w, if_pub0, &in, TC_ACT_SHOT, NULL, &got);
	cnt_check(XM_C_DROP_TOO_BIG, 1, w);
	cnt_check(XM_C_FRAG_NEEDED_SENT, 0, w);

	cnt_mark();
	w = "XDP 1400-byte tcp segment with DF (handed to tc untranslated)";
	s.frag = 0x4000;
	in = F(s);
	run_case(0, w, if_pub0, &in, XDP_PASS, &in, &got);
	cnt_check(XM_C_PASS_TOO_BIG, 1, w);
	w = "XDP 1400-byte tcp segment without DF";
	s.frag = 0;
	in = F(s);
	run_case(0, w, if_pub0, &in, XDP_DROP, NULL, &got);
	cnt_check(XM_C_DROP_TOO_BIG, 1, w);

	w = "XDP 1280-byte tcp segment with DF (exactly the mtu: forwarded)";
	s.frag = 0x4000;
	s.plen = 1280 - 40;
	in = F(s);
	want = F(fwd_of(s, 12300, 80));
	run_case(0, w, if_pub0, &in, XDP_REDIRECT, &want, &got);
	check_csums(w, &got);
	w = "tc 1281-byte tcp segment with DF (one byte over)";
	s.plen = 1281 - 40;
	in = F(s);
	run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, NULL, &got);
	{
		struct pkt_view v = pkt_view(got.b, got.len);

		tap_ok(v.ok && v.proto == IPPROTO_ICMP && got.b[v.l4] == 3 && got.b[v.l4 + 1] == 4,
		       "%s: answered with frag-needed", w);
	}
	set_iface_mtu(if_bk0, A_BK0, MAC_BK0, 1, 0);
}

/* ---- 8. sweeper --------------------------------------------------------- */

static int sweeper_read(struct xm_sweep *sw)
{
	uint32_t zero = 0;

	memset(sw, 0, sizeof(*sw));
	return bpf_map_lookup_elem(fd_sweeper, &zero, sw);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* No sweeper without an epoch: flows stay however idle. */
static void test_sweeper_unarmed(void)
{
	struct xm_sweep sw;
	struct pkt_spec s;
	struct frame in, got;
	uint64_t all[XM_C_MAX];
	const char *w;
	int n;

	int rc;

	counters_read(all);
	tap_ok(all[XM_C_FLOW_EXPIRED] == 0,
	       "no flow expired during the whole test (flow_expired %llu)",
	       (unsigned long long)all[XM_C_FLOW_EXPIRED]);
	rc = sweeper_read(&sw);
	tap_ok(rc == 0 && sw.epoch == 0 && sw.runs == 0 && sw.expired == 0,
	       "sweeper not armed with xm_prog_epoch 0 (epoch %u, runs %llu, expired %llu)",
	       sw.epoch, (unsigned long long)sw.runs, (unsigned long long)sw.expired);

	flows_clear();
	set_config(1);
	w = "masq tcp SYN with all timeouts 1 s, sweeper not armed";
	s = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12400, A_OUT, 443, TCP_SYN);
	in = F(s);
	run_case(0, w, if_lan0, &in, XDP_REDIRECT, NULL, &got);
	sleep_ms(2500);
	n = flows_count();
	tap_ok(n == 2, "%s: both entries still there after 2.5 s idle (%d entries)", w, n);
	set_config(0);
	flows_clear();
}

/* Loads the program again with the sweeper's knobs set (idle_factor 0:
 * the default) and binds the maps. 0 on success, reported as WHAT. */
static int reload_with_sweeper(const char *what, uint32_t epoch, uint32_t idle_factor)
{
	xmasq_bpf__destroy(skel);
	skel = xmasq_bpf__open();
	if (!skel)
		return !tap_ok(0, "%s: skeleton opens", what);
	skel->rodata->xm_prog_epoch = epoch;
	if (idle_factor)
		skel->rodata->xm_sweep_idle_factor = idle_factor;
	if (!tap_ok(xmasq_bpf__load(skel) == 0, "%s: skeleton with xm_prog_epoch 0x%x loads", what,
		    epoch)) {
		tap_diag("xmasq_bpf__load: %s", strerror(errno));
		return -1;
	}
	env_bind_fds();
	return 0;
}

/* With an epoch set before load, the first new flow arms the sweeper,
 * which removes an idle pair (both entries) after its timeout. */
static void test_sweeper_armed(void)
{
	const uint32_t epoch = 0x5eed0001;
	struct xm_sweep sw;
	struct pkt_spec s;
	struct frame in, got;
	struct xm_flow f;
	const char *w;
	int n = -1, waited, rc;

	if (reload_with_sweeper("sweeper", epoch, 0))
		return;
	if (!tap_ok(setup_maps(1) == 0, "sweeper: maps populated, all timeouts 1 s"))
		return;
	rc = sweeper_read(&sw);
	tap_ok(rc == 0 && sw.epoch == 0, "sweeper: not armed before the first flow (epoch 0x%x)",
	       sw.epoch);
	cnt_mark();
	w = "sweeper: masq tcp SYN 198.19.0.10:12500 -> 198.18.200.5:443";
	s = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12500, A_OUT, 443, TCP_SYN);
	in = F(s);
	run_case(0, w, if_lan0, &in, XDP_REDIRECT, NULL, &got);
	tap_ok(flows_count() == 2, "%s: two entries", w);
	rc = sweeper_read(&sw);
	tap_ok(rc == 0 && sw.epoch == epoch,
	       "sweeper: armed by the new flow, sweeper.epoch = xm_prog_epoch (0x%x)", sw.epoch);
	/* Idle time is counted in whole seconds (coarse clock): with a 1 s
	 * timeout the pair may go as soon as the next second starts, and at
	 * the latest one sweep period (250 ms) after 2 s. Allow 6 s. */
	for (waited = 0; waited < 6000;) {
		sleep_ms(100);
		waited += 100;
		n = flows_count();
		if (n == 0)
			break;
	}
	tap_ok(n == 0 && flow_get(A_LAN10, A_OUT, 12500, 443, IPPROTO_TCP, &f) != 0 &&
		       flow_get(A_OUT, A_PUB0, 443, 12500, IPPROTO_TCP, &f) != 0,
	       "sweeper: idle pair removed, both entries (after %d ms; %d entries left)", waited,
	       n);
	cnt_check(XM_C_FLOW_EXPIRED, 1, "sweeper");
	rc = sweeper_read(&sw);
	tap_ok(rc == 0 && sw.expired == 1 && sw.runs > 0,
	       "sweeper: sweeper.expired 1 (%llu), runs > 0 (%llu)", (unsigned long long)sw.expired,
	       (unsigned long long)sw.runs);
}

static uint32_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_sec;
}

/* The sweeper's timer is also the packets' clock: it ticks every second
 * even when walks are far apart, and new flows are stamped with it. */
static void test_sweeper_clock(void)
{
	const uint32_t epoch = 0x5eed0002;
	struct xm_sweep sw0, sw1;
	struct pkt_spec s;
	struct frame in, got;
	struct xm_flow f;
	uint32_t real, mark;
	int rc;

	if (reload_with_sweeper("clock", epoch, 1000000000 /* walks 15 s apart */))
		return;
	if (!tap_ok(setup_maps(0) == 0, "clock: maps populated"))
		return;
	s = lan_spec(IPPROTO_UDP, A_LAN10, MAC_LAN10, 12600, A_OUT, 53, 0);
	in = F(s);
	run_case(0, "clock: masq udp arms the sweeper", if_lan0, &in, XDP_REDIRECT, NULL, &got);
	sleep_ms(1300); /* the first walk (250 ms), then 1 s ticks */
	rc = sweeper_read(&sw0);
	sleep_ms(2200);
	rc |= sweeper_read(&sw1);
	real = mono_s();
	tap_ok(rc == 0 && sw1.now >= sw0.now + 2 && sw1.now <= real && sw1.now + 2 >= real,
	       "clock: sweeper.now ticks every second (%u -> %u in 2.2 s; kernel clock %u)",
	       sw0.now, sw1.now, real);
	tap_ok(sw1.runs == sw0.runs && sw1.ticks_to_walk > 0,
	       "clock: no walk meanwhile (runs %u -> %u, %u ticks to the next)", sw0.runs, sw1.runs,
	       sw1.ticks_to_walk);
	/* Set the clock far ahead (never back: it counts from boot): a flow
	 * made before the next tick carries it (a tick in between is
	 * retried). */
	mark = real + 100000;
	for (int try = 0; try < 3; try++) {
		uint32_t zero = 0;

		rc = sweeper_read(&sw1);
		sw1.now = mark;
		rc |= bpf_map_update_elem(bpf_map__fd(skel->maps.sweeper), &zero, &sw1, BPF_EXIST);
		s.sport = (uint16_t)(12601 + try);
		in = F(s);
		run_case(0, "clock: a second flow", if_lan0, &in, XDP_REDIRECT, NULL, &got);
		rc |= flow_get(A_LAN10, A_OUT, s.sport, 53, IPPROTO_UDP, &f);
		if (rc || f.last_seen_s == mark)
			break;
	}
	tap_ok(rc == 0 && f.last_seen_s == mark,
	       "clock: a new flow is stamped with the sweeper's clock, %u, not the kernel's "
	       "(stamped %u)",
	       mark, f.last_seen_s);
	flows_clear();
}

/* A router starts at boot, when the clock (seconds since boot) reads a few
 * seconds: flows are stamped with it, outlive walks within their timeout
 * (nothing may compute "now - timeout" for a time before boot) and expire
 * after it, as at any other time. The data plane's clock is set to read
 * 2 s (xm_clock_ahead_s wraps around: kernel clock + it = 2). */
static void test_sweeper_boot(void)
{
	const uint32_t epoch = 0x5eed0004;
	struct xm_sweep sw;
	struct pkt_spec s;
	struct frame in, got;
	struct xm_flow f;
	int n = -1, waited, rc;

	if (reload_with_sweeper("boot", epoch, 0))
		return;
	skel->bss->xm_clock_ahead_s = 2 - mono_s();
	if (!tap_ok(setup_maps(0) == 0, "boot: maps populated, default timeouts"))
		return;
	s = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12700, A_OUT, 443, TCP_SYN);
	in = F(s);
	run_case(0, "boot: masq tcp SYN with the clock at 2 s", if_lan0, &in, XDP_REDIRECT, NULL,
		 &got);
	rc = flow_get(A_LAN10, A_OUT, 12700, 443, IPPROTO_TCP, &f);
	tap_ok(rc == 0 && f.last_seen_s >= 1 && f.last_seen_s <= 4,
	       "boot: the new flow is stamped %u, the clock just after boot", f.last_seen_s);
	sleep_ms(1500); /* the first walk comes 250 ms after the flow */
	rc = sweeper_read(&sw);
	n = flows_count();
	tap_ok(rc == 0 && sw.runs >= 1 && n == 2 && sw.now >= 1 && sw.now <= 6,
	       "boot: the flow outlives a walk within its 120 s timeout (sweeper.now %u, %u "
	       "walks, %d entries)",
	       sw.now, sw.runs, n);
	set_config(1);
	for (waited = 0; waited < 6000;) {
		sleep_ms(100);
		waited += 100;
		n = flows_count();
		if (n == 0)
			break;
	}
	tap_ok(n == 0, "boot: with a 1 s timeout the idle pair goes (after %d ms; %d entries left)",
	       waited, n);
	rc = sweeper_read(&sw);
	tap_ok(rc == 0 && sw.expired == 1 && sw.now <= 15,
	       "boot: sweeper.expired 1 (%llu), its clock still counts from boot (%u)",
	       (unsigned long long)sw.expired, sw.now);
	flows_clear();
}

int main(void)
{
	if (env_start())
		return 0;
	A_PUB0 = IPV4(192, 0, 2, 1);
	A_CLIENT = IPV4(192, 0, 2, 10);
	A_GW = IPV4(192, 0, 2, 254);
	A_OUT = IPV4(198, 18, 200, 5);
	A_BK0 = IPV4(198, 18, 0, 1);
	A_BACKEND = IPV4(198, 18, 0, 2);
	A_HP = IPV4(198, 18, 0, 5);
	A_RTR = IPV4(198, 18, 0, 254);
	A_LAN0 = IPV4(198, 19, 0, 1);
	A_LAN10 = IPV4(198, 19, 0, 10);
	A_LAN11 = IPV4(198, 19, 0, 11);
	A_LAN1_10 = IPV4(198, 19, 1, 10);
	A_PUB1_PEER = IPV4(198, 51, 100, 2);

	if (!tap_ok(setup_netns() == 0, "private network namespace with pub0, bk0, lan0, pub1, "
					"routes and neighbours"))
		return tap_done();
	ncpus = libbpf_num_possible_cpus();
	skel = xmasq_bpf__open_and_load();
	if (!tap_ok(skel != NULL && ncpus > 0, "skeleton opens and loads (not pinned)")) {
		tap_diag("xmasq_bpf__open_and_load: %s", strerror(errno));
		return tap_done();
	}
	env_bind_fds();
	if (!tap_ok(setup_maps(0) == 0, "config, ifaces, tx_ports, local_addrs, rules and "
					"masq_rules populated")) {
		tap_diag("map update: %s", strerror(errno));
		xmasq_bpf__destroy(skel);
		return tap_done();
	}

	test_masq();
	test_masq_echo();
	test_icmp_errors();
	test_masq_frags();
	test_keep_source();
	test_hairpin();
	test_pmtu();
	test_sweeper_unarmed();
	test_sweeper_armed();
	test_sweeper_clock();
	test_sweeper_boot();

	if (skel) {
		flows_clear();
		xmasq_bpf__destroy(skel);
	}
	return tap_done();
}
