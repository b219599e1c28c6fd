/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * BPF_PROG_TEST_RUN test of the data plane, second part (the first is
 * test_bpf.c): masquerade rules, ICMP echo through masquerade, ICMP errors
 * (RFC 5508), fragments of masqueraded datagrams, keep-source rules,
 * hairpin, path MTU at tc, the sweeper, and masquerade ports in use and
 * exhausted (port_exhausted, libxmasq's scan). Output frames are compared
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
#include "bpf_fixture.h"
#include <time.h>

static const uint8_t MAC_LAN0[6] = { 0x02, 0, 0, 0, 0x04, 0x01 };
static const uint8_t MAC_HP[6] = { 0x02, 0, 0, 0, 0x00, 0x05 };	 /* 198.18.0.5 */
static const uint8_t MAC_RTR[6] = { 0x02, 0, 0, 0, 0x00, 0xfd }; /* 198.18.0.254 */
static const uint8_t MAC_GW[6] = { 0x02, 0, 0, 0, 0x00, 0xfe };	 /* 192.0.2.254 */
static const uint8_t MAC_LAN10[6] = { 0x02, 0, 0, 0, 0x00, 0x30 };
static const uint8_t MAC_LAN11[6] = { 0x02, 0, 0, 0, 0x00, 0x31 };
static const uint8_t MAC_LAN1_10[6] = { 0x02, 0, 0, 0, 0x00, 0x32 }; /* 198.19.1.10 */
static const uint8_t MAC_LAN13[6] = { 0x02, 0, 0, 0, 0x00, 0x33 };   /* 198.19.0.13 */

#define A_GW	  IPV4(192, 0, 2, 254)
#define A_OUT	  IPV4(198, 18, 200, 5)
#define A_HP	  IPV4(198, 18, 0, 5)
#define A_RTR	  IPV4(198, 18, 0, 254)
#define A_LAN0	  IPV4(198, 19, 0, 1)
#define A_LAN10	  IPV4(198, 19, 0, 10)
#define A_LAN11	  IPV4(198, 19, 0, 11)
#define A_LAN1_10 IPV4(198, 19, 1, 10)
#define A_LAN13	  IPV4(198, 19, 0, 13) /* paired with the other address of test_masq_as's list */

enum {
	RULE_TCP = 1,	/* pub0 tcp 8080 -> backend:80 */
	RULE_UDP = 2,	/* pub0 udp 5000 -> backend:5000 */
	RULE_KEEP = 3,	/* pub0 tcp 8090 -> backend:90, keep source */
	RULE_MASQ = 20, /* masquerade 198.19.0.0/24 out of pub0 */
};

#define LOCAL_PORT_LO 32768 /* the kernel's default ephemeral range */
#define LOCAL_PORT_HI 60999

static int if_lan0;

/* ---- setup ------------------------------------------------------------- */

static int setup_netns(void)
{
	int err = 0;

	if (fixture_netns())
		return -1;
	err |= sh("ip link add lan0 address 02:00:00:00:04:01 type veth peer name lan0p address "
		  "02:00:00:00:04:02");
	err |= sh("ip addr add 198.19.0.1/16 dev lan0");
	err |= sh("ip link set lan0 up && ip link set lan0p up");
	err |= write_file("/proc/sys/net/ipv4/conf/lan0/forwarding", "1");
	err |= sh("ip route add default via 192.0.2.254 dev pub0");
	err |= sh("ip neigh add 192.0.2.254 lladdr 02:00:00:00:00:fe dev pub0 nud permanent");
	err |= sh("ip neigh add 198.18.0.5 lladdr 02:00:00:00:00:05 dev bk0 nud permanent");
	err |= sh("ip neigh add 198.19.0.10 lladdr 02:00:00:00:00:30 dev lan0 nud permanent");
	err |= sh("ip neigh add 198.19.0.11 lladdr 02:00:00:00:00:31 dev lan0 nud permanent");
	err |= sh("ip neigh add 198.19.0.13 lladdr 02:00:00:00:00:33 dev lan0 nud permanent");
	err |= sh("ip neigh add 198.19.1.10 lladdr 02:00:00:00:00:32 dev lan0 nud permanent");
	if_lan0 = (int)if_nametoindex("lan0");
	if (!if_lan0)
		err = -1;
	return err ? -1 : 0;
}

/* The base configuration with the local port range; timeout_all, when not
 * 0, for every timeout. */
static int set_config(uint32_t timeout_all)
{
	struct xm_config c = fixture_config();

	c.local_port_lo = LOCAL_PORT_LO;
	c.local_port_hi = LOCAL_PORT_HI;
	if (timeout_all)
		for (int i = 0; i < XM_TO_MAX; i++)
			c.timeouts[i] = timeout_all;
	return fixture_set_config(&c);
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
	int err = 0;

	err |= set_config(timeout_all);
	err |= fixture_base_ifaces();
	err |= fixture_iface(if_lan0, A_LAN0, MAC_LAN0, 2, 0);
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

static int setup_base_maps(void)
{
	return setup_maps(0);
}

static void frags_clear(void)
{
	struct xm_frag_key k;

	while (bpf_map_get_next_key(fd_frags, NULL, &k) == 0)
		if (bpf_map_delete_elem(fd_frags, &k))
			break;
}

/* ---- frames ------------------------------------------------------------ */

/* Private host -> anywhere (as received on lan0). */
static struct pkt_spec lan_spec(uint8_t proto, uint32_t src, const uint8_t *smac, uint16_t sport,
				uint32_t dst, uint16_t dport, uint8_t flags)
{
	struct pkt_spec s = spec_between(proto, smac, src, sport, MAC_LAN0, dst, dport, flags);

	s.ip_id = 0x5678;
	return s;
}

/* Masqueraded: out of pub0 to the default gateway, from pub0's address. */
static struct pkt_spec masq_of(struct pkt_spec s, uint16_t new_sport)
{
	return spec_rewritten(s, MAC_GW, MAC_PUB0, A_PUB0, s.daddr, new_sport, s.dport);
}

/* Outside host -> pub0's address (as received on pub0 from the gateway). */
static struct pkt_spec out_spec(uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct pkt_spec s =
		spec_between(proto, MAC_GW, A_OUT, sport, MAC_PUB0, A_PUB0, dport, flags);

	s.ttl = 55;
	s.ip_id = 0x9abc;
	return s;
}

/* A masquerade reply translated back to the private host. */
static struct pkt_spec unmasq_of(struct pkt_spec s, uint32_t host, const uint8_t *hmac,
				 uint16_t new_dport)
{
	return spec_rewritten(s, hmac, MAC_LAN0, s.saddr, host, s.sport, new_dport);
}

/* The MACs and addresses an ICMP error travels with. */
struct icmp_path {
	const uint8_t *dmac, *smac;
	uint32_t saddr, daddr;
};

/* An ICMP error frame quoting the IP packet of `quoted` (untagged), its
 * first qlen bytes (0 = all of it). */
static struct frame icmp_err(struct icmp_path p, uint8_t ttl, uint8_t type, uint8_t code,
			     uint32_t rest, const struct frame *quoted, size_t qlen)
{
	uint8_t msg[PKT_MAX];
	struct pkt_view v = pkt_view(quoted->b, quoted->len);
	struct pkt_spec s = spec_between(IPPROTO_ICMP, p.smac, p.saddr, 0, p.dmac, p.daddr, 0, 0);

	s.ttl = ttl;
	s.ip_id = 0x0e0e;
	s.raw_l4 = 1;
	if (!qlen)
		qlen = quoted->len - v.l3;
	s.plen = pkt_icmp_msg(msg, sizeof(msg), type, code, rest, quoted->b + v.l3, qlen);
	s.payload = msg;
	return F(s);
}

/* The packet as it is quoted after one hop (a quote keeps the TTL the
 * packet had when the error was raised). */
static struct pkt_spec hop_on(struct pkt_spec s)
{
	s.ttl--;
	return s;
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

static void check_icmperr_whole(const char *what, const struct frame *f)
{
	check_icmperr(what, f, 1);
}

static void check_icmperr_cut(const char *what, const struct frame *f)
{
	check_icmperr(what, f, 0);
}

/* A frag-needed from the router 198.18.0.254 keeps its source and MTU. */
static void check_rtr_frag_needed(const char *what, const struct frame *got)
{
	struct pkt_view v = pkt_view(got->b, got->len);
	uint32_t sa = 0;

	if (v.ok)
		memcpy(&sa, got->b + v.l3 + 12, 4);
	tap_ok(v.ok && sa == A_RTR && pkt_get16(got->b + v.l4 + 6) == 1400,
	       "%s: outer source stays 198.18.0.254, MTU field stays 1400", what);
	check_icmperr_cut(what, got);
}

/* An ICMP error about a flow's packet: it arrives by `in` quoting `sent`
 * (as the far side got it) and must leave by `out` quoting `orig` (as the
 * near side sent it), quoted alike: qlen bytes, 0 = the whole packet
 * (then the quoted L4 checksum is checked too). Counted as icmp_error. */
static struct frame_case icmp_err_case(const char *name, int tc, int ifindex, struct icmp_path in,
				       struct icmp_path out, uint8_t type, uint8_t code,
				       uint32_t rest, const struct frame *sent,
				       const struct frame *orig, size_t qlen)
{
	struct frame_case c = {
		.name = name,
		.tc = tc,
		.ifindex = ifindex,
		.in = icmp_err(in, 64, type, code, rest, sent, qlen),
		.verdict = tc ? TC_ACT_REDIRECT : XDP_REDIRECT,
		.out = OUT_FRAME,
		.want = icmp_err(out, 63, type, code, rest, orig, qlen),
		.check = qlen ? check_icmperr_cut : check_icmperr_whole,
		.counts = { COUNTS(XM_C_ICMP_ERROR, 1) },
	};
	return c;
}

/* The case with n bytes after the IP packet in both frames (Ethernet
 * trailer), which must stay as they are. */
static struct frame_case padded(struct frame_case c, size_t n)
{
	memset(c.in.b + c.in.len, 0xa5, n);
	c.in.len += n;
	memset(c.want.b + c.want.len, 0xa5, n);
	c.want.len += n;
	return c;
}

/* ---- 1. masquerade rules ----------------------------------------------- */

static void test_masq(void)
{
	struct pkt_spec kept = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12345, A_OUT, 443,
					TCP_SYN),
			kept_reply = with_payload(
				out_spec(IPPROTO_TCP, 443, 12345, TCP_SYN | TCP_ACK), 13),
			local_port = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 40000, A_OUT, 443,
					      TCP_SYN),
			udp = with_payload(
				lan_spec(IPPROTO_UDP, A_LAN11, MAC_LAN11, 5353, A_OUT, 53, 0), 17),
			udp_reply = with_payload(out_spec(IPPROTO_UDP, 53, 5353, 0), 30),
			udp_local_port = with_payload(
				lan_spec(IPPROTO_UDP, A_LAN11, MAC_LAN11, 45000, A_OUT, 53, 0), 5),
			s;
	struct xm_flow f;
	uint16_t port;
	const char *w;
	int n;

	flows_clear();
	w = run_frame_case(with_count(redirect_case("XDP masq tcp SYN 198.19.0.10:12345 -> "
						    "198.18.200.5:443 on lan0 (port outside "
						    "32768-60999: kept)",
						    0, if_lan0, kept, masq_of(kept, 12345)),
				      XM_C_FLOW_NEW, 1));
	TAP_EQ(flows_count(), 2, "%s: two flow entries", w);
	tap_ok(flow_get(A_LAN10, A_OUT, 12345, 443, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_PUB0, A_OUT, 12345, 443, if_pub0, MAC_GW, 0,
			       XM_FLOW_L2_VALID | XM_FLOW_NAT_MAPPED, RULE_MASQ),
	       "%s: original entry rewrites to 192.0.2.1:12345 -> 198.18.200.5:443 via pub0 to the "
	       "gateway's MAC, and uses its host's mapping",
	       w);
	tap_ok(flow_get(A_OUT, A_PUB0, 443, 12345, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_OUT, A_LAN10, 443, 12345, if_lan0, MAC_LAN10, 0,
			       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_MASQ),
	       "%s: reply entry {198.18.200.5:443 -> 192.0.2.1:12345} rewrites back to "
	       "198.19.0.10:12345 via lan0",
	       w);

	w = run_frame_case(redirect_case("XDP masq tcp SYN-ACK 198.18.200.5:443 -> 192.0.2.1:12345 "
					 "on pub0 (reply)",
					 0, if_pub0, kept_reply,
					 unmasq_of(kept_reply, A_LAN10, MAC_LAN10, 12345)));
	flow_get(A_LAN10, A_OUT, 12345, 443, IPPROTO_TCP, &f);
	TAP_EQ(f.state, XM_ST_ESTABLISHED, "%s: flow ESTABLISHED", w);

	/* TCP keeps a port of the router's ephemeral range too: no router
	 * socket has it (a SYN-ACK of one that takes it later is the
	 * router's: xm_tcp_guard). */
	run_frame_case(redirect_case("XDP masq tcp SYN 198.19.0.10:40000 -> 198.18.200.5:443 (port "
				     "in 32768-60999, no router socket: kept)",
				     0, if_lan0, local_port, masq_of(local_port, 40000)));
	s = out_spec(IPPROTO_TCP, 443, 40000, TCP_SYN | TCP_ACK);
	{
		const struct frame_case cases[] = {
			redirect_case("XDP masq reply to the kept port", 0, if_pub0, s,
				      unmasq_of(s, A_LAN10, MAC_LAN10, 40000)),
			redirect_case("XDP masq udp 198.19.0.11:5353 -> 198.18.200.5:53 (kept)", 0,
				      if_lan0, udp, masq_of(udp, 5353)),
			redirect_case("XDP masq udp reply 198.18.200.5:53 -> 192.0.2.1:5353", 0,
				      if_pub0, udp_reply,
				      unmasq_of(udp_reply, A_LAN11, MAC_LAN11, 5353)),
		};

		FRAME_CASES_RUN(NULL, cases);
	}

	port = run_picking_port("tc masq udp 198.19.0.11:45000 -> 198.18.200.5:53 (port in "
				"32768-60999: replaced)",
				1, if_lan0, udp_local_port, masq_of(udp_local_port, 0));
	tap_ok(port < LOCAL_PORT_LO || port > LOCAL_PORT_HI,
	       "tc masq udp from 45000: the port picked, %u, is outside the router's ephemeral "
	       "range %u-%u",
	       port, LOCAL_PORT_LO, LOCAL_PORT_HI);
	s = out_spec(IPPROTO_UDP, 53, port, 0);
	run_frame_case(redirect_case("tc masq udp reply to the replaced port", 1, if_pub0, s,
				     unmasq_of(s, A_LAN11, MAC_LAN11, 45000)));

	/* Not masqueraded. */
	n = flows_count();
	{
#define NOT_MASQ(desc, spec)                                                             \
	with_count(with_count(pass_case(desc, 0, if_lan0, spec), XM_C_PASS_NOT_OURS, 1), \
		   XM_C_FLOW_NEW, 0)
		const struct frame_case cases[] = {
			NOT_MASQ("XDP tcp SYN 198.19.0.10 -> 198.19.0.1:22 (the router's own lan0 "
				 "address)",
				 lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12346, A_LAN0, 22,
					  TCP_SYN)),
			NOT_MASQ("XDP tcp SYN 198.19.0.10 -> 192.0.2.1:22 (the router's own pub0 "
				 "address)",
				 lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12347, A_PUB0, 22,
					  TCP_SYN)),
			NOT_MASQ("XDP udp 198.19.0.10 -> 198.19.0.1:53 (the router's own address)",
				 lan_spec(IPPROTO_UDP, A_LAN10, MAC_LAN10, 12348, A_LAN0, 53, 0)),
			NOT_MASQ("XDP tcp SYN from 198.19.1.10 (outside the prefix 198.19.0.0/24) "
				 "to 198.18.200.5",
				 lan_spec(IPPROTO_TCP, A_LAN1_10, MAC_LAN1_10, 12349, A_OUT, 443,
					  TCP_SYN)),
			NOT_MASQ("XDP udp from 198.19.1.10 (outside the prefix) to 198.18.200.5",
				 lan_spec(IPPROTO_UDP, A_LAN1_10, MAC_LAN1_10, 12349, A_OUT, 53,
					  0)),
			NOT_MASQ("XDP tcp SYN 198.19.0.10 -> 198.18.0.2:80 (routed out of bk0, the "
				 "rule names pub0)",
				 lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12350, A_BACKEND, 80,
					  TCP_SYN)),
			NOT_MASQ("XDP udp 198.19.0.10 -> 198.51.100.2 (routed out of unmanaged "
				 "pub1)",
				 lan_spec(IPPROTO_UDP, A_LAN10, MAC_LAN10, 12350, A_PUB1_PEER, 53,
					  0)),
		};
#undef NOT_MASQ

		FRAME_CASES_RUN("not masqueraded", cases);
	}
	TAP_EQ(flows_count(), n, "traffic not masqueraded: no flow created");

	/* A masquerade rule matches source and egress, not the ingress
	 * (like -s PREFIX -o IFACE -j MASQUERADE). */
	s = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12351, A_OUT, 443, TCP_SYN);
	s.dmac = MAC_BK0;
	w = run_frame_case(redirect_case("tc masq tcp SYN 198.19.0.10:12351 -> 198.18.200.5:443 "
					 "arriving on bk0 (ingress not part of the rule)",
					 1, if_bk0, s, masq_of(s, 12351)));
	tap_ok(flow_get(A_OUT, A_PUB0, 443, 12351, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_OUT, A_LAN10, 443, 12351, if_bk0, MAC_LAN10, 0,
			       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_MASQ),
	       "%s: reply entry goes back out of bk0", w);
}

/* ---- 2. ICMP echo through masquerade ------------------------------------ */

/* An echo request from a private host, or an echo reply from outside. */
static struct pkt_spec echo_request(uint32_t host, const uint8_t *hmac, uint16_t id, size_t plen)
{
	return with_payload(lan_spec(IPPROTO_ICMP, host, hmac, id, A_OUT, 0, 0), plen);
}

static struct pkt_spec echo_reply(uint16_t id, size_t plen)
{
	struct pkt_spec s = with_payload(out_spec(IPPROTO_ICMP, id, 0, 0), plen);

	s.echo_reply = 1;
	return s;
}

/* ---- 1b. a masquerade `as` list ------------------------------------------ */

/* The source address and port of a translated frame (untagged IPv4). */
static void frame_source(const struct frame *f, uint32_t *addr, uint16_t *port)
{
	memcpy(addr, f->b + 14 + 12, 4);
	*port = frame_sport(f);
}

/* The list index xm_addr_set_pick gives a masqueraded host (its address
 * as stored, network order, is the seed). */
static unsigned paired_index(uint32_t host, unsigned n)
{
	return (unsigned)(((uint64_t)host * 0x9e3779b97f4a7c15ull) >> 32) % n;
}

/* One masquerade port (20000) on two addresses: every flow of a host
 * leaves with its paired address (RFC 4787 REQ-2), to any destination;
 * a flow whose paired address has no port left for its peer leaves with
 * the other address, and its reply comes back; the host's next flow
 * still tries its paired address first; a flow for which neither address
 * has a port is refused (drop_no_port, once). */
static void test_masq_as(void)
{
	const uint32_t a2 = IPV4(192, 0, 2, 3);
	const uint32_t hosts[2] = { A_LAN10, A_LAN13 };
	const uint8_t *macs[2] = { MAC_LAN10, MAC_LAN13 };
	struct xm_addr_set set = { .n = 2, .addr = { A_PUB0, a2 } };
	struct xm_config c = fixture_config();
	struct xm_rule_meta meta = { 0 };
	uint32_t sid = 1, id = RULE_MASQ, saddr;
	uint16_t sport;
	struct frame f, got;
	const unsigned h1 = 0, h2 = 1;
	const unsigned p1 = paired_index(hosts[h1], 2);
	/* in order: each flow finds the ports the ones before it took */
	const struct {
		unsigned h;
		uint16_t port;
		uint32_t peer;
		int paired; /* 1: the host's paired address, 0: the other one */
		int refused;
	} flows[] = {
		{ 0, 45000, IPV4(198, 18, 200, 5), 1, 0 },
		{ 0, 45001, IPV4(198, 18, 200, 6), 1, 0 },
		/* the paired address's port is taken for this peer: the other */
		{ 0, 45002, IPV4(198, 18, 200, 5), 0, 0 },
		/* h2's paired address is h1's other: taken, and h1's too */
		{ 1, 45003, IPV4(198, 18, 200, 5), 0, 1 },
		/* a new peer: the paired address first again */
		{ 0, 45004, IPV4(198, 18, 200, 7), 1, 0 },
	};
	char what[200];

	flows_clear();
	c.local_port_lo = LOCAL_PORT_LO;
	c.local_port_hi = LOCAL_PORT_HI;
	c.port_lo = c.port_hi = 20000;
	c.flags |= XM_CFG_ADDR_SETS;
	meta.in_use = 1;
	meta.flags = XM_RULE_MASQUERADE;
	meta.addr_set = 1;
	if (!tap_ok(paired_index(hosts[h1], 2) != paired_index(hosts[h2], 2) &&
			    fixture_set_config(&c) == 0 &&
			    bpf_map_update_elem(bpf_map__fd(skel->maps.addr_sets), &sid, &set,
						BPF_ANY) == 0 &&
			    bpf_map_update_elem(bpf_map__fd(skel->maps.rule_meta), &id, &meta,
						BPF_ANY) == 0,
		    "masq as: one port, the list 192.0.2.1,192.0.2.3 on the masquerade rule"))
		return;
	for (size_t i = 0; i < sizeof(flows) / sizeof(flows[0]); i++) {
		unsigned h = flows[i].h, pi = paired_index(hosts[h], 2);
		uint32_t want = set.addr[flows[i].paired ? pi : 1 - pi];
		struct pkt_spec in = lan_spec(IPPROTO_UDP, hosts[h], macs[h], flows[i].port,
					      flows[i].peer, 53, 0);

		snprintf(what, sizeof(what), "XDP masq as: udp from host %u port %u to %08x:53", h,
			 flows[i].port, ntohl(flows[i].peer));
		f = F(with_payload(in, 8));
		cnt_mark();
		if (flows[i].refused) {
			run_case(0, what, if_lan0, &f, XDP_DROP, NULL, &got);
			TAP_EQ(cnt_delta(XM_C_DROP_NO_PORT), 1,
			       "%s: neither address has a port for this peer: drop_no_port", what);
			continue;
		}
		saddr = 0;
		sport = 0;
		if (run_case(0, what, if_lan0, &f, XDP_REDIRECT, NULL, &got))
			frame_source(&got, &saddr, &sport);
		check_csums(what, &got);
		tap_ok(saddr == want && sport == 20000,
		       "%s: leaves from the host's %s address %08x, port 20000 (got %08x:%u)", what,
		       flows[i].paired ? "paired" : "other", ntohl(want), ntohl(saddr), sport);
		TAP_EQ(cnt_delta(XM_C_DROP_NO_PORT), 0, "%s: drop_no_port unchanged", what);
	}
	{
		struct pkt_spec r = out_spec(IPPROTO_UDP, 53, 20000, 0);

		r.daddr = set.addr[1 - p1];
		run_frame_case(
			redirect_case("XDP masq as: the reply to the other address comes back to "
				      "45002",
				      0, if_pub0, with_payload(r, 8),
				      unmasq_of(with_payload(r, 8), hosts[h1], macs[h1], 45002)));
		r.daddr = set.addr[p1];
		run_frame_case(
			redirect_case("XDP masq as: the reply to the paired address comes back to "
				      "45000",
				      0, if_pub0, with_payload(r, 8),
				      unmasq_of(with_payload(r, 8), hosts[h1], macs[h1], 45000)));
	}
	meta.addr_set = 0;
	bpf_map_update_elem(bpf_map__fd(skel->maps.rule_meta), &id, &meta, BPF_ANY);
	set_config(0);
	flows_clear();
}

static void test_masq_echo(void)
{
	struct pkt_spec first = echo_request(A_LAN10, MAC_LAN10, 0x0777, 16),
			second = echo_request(A_LAN11, MAC_LAN11, 0x0777, 16),
			second_again = echo_request(A_LAN11, MAC_LAN11, 0x0777, 3), /* odd length */
		reply = echo_reply(0x0777, 16), reply2, want2;
	struct xm_flow f;
	uint16_t id2;
	const char *w;

	flows_clear();
	w = run_frame_case(with_count(redirect_case("XDP masq ICMP echo request 198.19.0.10 id "
						    "0x0777 -> 198.18.200.5",
						    0, if_lan0, first, masq_of(first, 0x0777)),
				      XM_C_FLOW_NEW, 1));
	tap_ok(flow_get(A_OUT, A_PUB0, 0x0777, 0x0777, IPPROTO_ICMP, &f) == 0 &&
		       flow_eq(&f, A_OUT, A_LAN10, 0x0777, 0x0777, if_lan0, MAC_LAN10, 0,
			       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_MASQ),
	       "%s: reply entry keyed on id 0x0777 (sport = dport = id)", w);

	w = "XDP masq ICMP echo request 198.19.0.11 with the same id 0x0777";
	cnt_mark();
	id2 = run_picking_port(w, 0, if_lan0, second, masq_of(second, 0));
	cnt_check(XM_C_FLOW_NEW, 1, w);
	tap_ok(id2 != 0x0777, "%s: gets another id (0x%04x = %u)", w, id2, id2);

	reply2 = echo_reply(id2, 16);
	want2 = unmasq_of(reply2, A_LAN11, MAC_LAN11, 0);
	want2.sport = 0x0777;
	{
		/* No new flow for them. */
		const struct frame_case cases[] = {
			with_count(redirect_case("XDP masq ICMP echo reply 198.18.200.5 -> "
						 "192.0.2.1 id 0x0777",
						 0, if_pub0, reply,
						 unmasq_of(reply, A_LAN10, MAC_LAN10, 0)),
				   XM_C_FLOW_NEW, 0),
			with_count(redirect_case("XDP masq ICMP echo reply with the second host's "
						 "translated id",
						 0, if_pub0, reply2, want2),
				   XM_C_FLOW_NEW, 0),
			with_count(redirect_case("tc masq ICMP echo request 198.19.0.11 id 0x0777 "
						 "again (existing flow)",
						 1, if_lan0, second_again,
						 masq_of(second_again, id2)),
				   XM_C_FLOW_NEW, 0),
		};

		FRAME_CASES_RUN(NULL, cases);
	}
	run_frame_case((struct frame_case){
		.name = "XDP ICMP echo reply 198.18.200.5 -> 192.0.2.1 with an id of no flow",
		.ifindex = if_pub0,
		.in = F(echo_reply(0x0999, 0)),
		.verdict = XDP_PASS,
		.out = OUT_UNTOUCHED,
	});
}

/* ---- 3. ICMP errors (RFC 5508) ------------------------------------------ */

static void test_icmp_errors(void)
{
	const struct icmp_path from_backend = { MAC_BK0, MAC_BACKEND, A_BACKEND, A_BK0 },
			       to_client = { MAC_CLIENT, MAC_PUB0, A_PUB0, A_CLIENT },
			       from_rtr = { MAC_BK0, MAC_RTR, A_RTR, A_BK0 },
			       rtr_to_client = { MAC_CLIENT, MAC_PUB0, A_RTR, A_CLIENT },
			       from_gw = { MAC_PUB0, MAC_GW, A_GW, A_PUB0 },
			       gw_to_lan11 = { MAC_LAN11, MAC_LAN0, A_GW, A_LAN11 },
			       from_out = { MAC_PUB0, MAC_GW, A_OUT, A_PUB0 },
			       out_to_lan11 = { MAC_LAN11, MAC_LAN0, A_OUT, A_LAN11 };
	struct pkt_spec tcp = client_spec(IPPROTO_TCP, 12000, 8080, TCP_SYN),
			syn_ack = backend_spec(IPPROTO_TCP, 80, 12000, TCP_SYN | TCP_ACK),
			udp = with_payload(client_spec(IPPROTO_UDP, 12001, 5000, 0), 9),
			echo = with_payload(lan_spec(IPPROTO_ICMP, A_LAN11, MAC_LAN11, 0x0888,
						     A_OUT, 0, 0),
					    12);
	struct frame got, tcp_sent = F(fwd_of(tcp, 12000, 80)), tcp_orig = F(hop_on(tcp)),
			  udp_sent = F(fwd_of(udp, 12001, 5000)), udp_orig = F(hop_on(udp)),
			  echo_sent, echo_orig = F(hop_on(echo));
	struct xm_flow f;
	uint16_t id2 = 0;

	flows_clear();
	{
		/* An established forwarded TCP flow, a UDP flow, echo flows
		 * through masquerade (the second with a translated id). */
		const struct frame_case setup[] = {
			{ .name = "tcp SYN 192.0.2.10:12000 -> :8080",
			  .ifindex = if_pub0,
			  .in = F(tcp),
			  .verdict = XDP_REDIRECT,
			  .out = OUT_FRAME,
			  .want = tcp_sent },
			{ .name = "SYN-ACK from the backend",
			  .ifindex = if_bk0,
			  .in = F(syn_ack),
			  .verdict = XDP_REDIRECT,
			  .out = OUT_FRAME,
			  .want = F(rev_of(syn_ack, A_CLIENT, MAC_CLIENT, 8080, 12000)) },
			{ .name = "udp 192.0.2.10:12001 -> :5000",
			  .ifindex = if_pub0,
			  .in = F(udp),
			  .verdict = XDP_REDIRECT,
			  .out = OUT_FRAME,
			  .want = udp_sent },
			{ .name = "echo 198.19.0.10 id 0x0888",
			  .ifindex = if_lan0,
			  .in = F(lan_spec(IPPROTO_ICMP, A_LAN10, MAC_LAN10, 0x0888, A_OUT, 0, 0)),
			  .verdict = XDP_REDIRECT },
			{ .name = "echo 198.19.0.11 id 0x0888",
			  .ifindex = if_lan0,
			  .in = F(echo),
			  .verdict = XDP_REDIRECT },
		};
		size_t n = sizeof(setup) / sizeof(setup[0]);

		frame_cases_run("ICMP errors set-up", setup, n - 1);
		if (frame_case_run("ICMP errors set-up", &setup[n - 1], &got))
			id2 = frame_sport(&got);
	}
	tap_ok(id2 && id2 != 0x0888, "ICMP errors set-up: second echo got id 0x%04x (translated)",
	       id2);
	echo_sent = F(masq_of(echo, id2));

	{
		/* (a) Port unreachable from the backend about what the router
		 * sent: the client must see an error from the public address
		 * about the packet it sent. (b) From an intermediate router: its
		 * address stays. (c) About an echo flow: the quoted echo id is
		 * translated back. */
		const struct frame_case cases[] = {
			icmp_err_case("XDP ICMP port unreachable from the backend about the "
				      "forwarded tcp SYN (TCP header quoted whole)",
				      0, if_bk0, from_backend, to_client, 3, 3, 0, &tcp_sent,
				      &tcp_orig, 0),
			icmp_err_case("XDP ICMP port unreachable about the tcp SYN, quote = IP "
				      "header + 8 bytes",
				      0, if_bk0, from_backend, to_client, 3, 3, 0, &tcp_sent,
				      &tcp_orig, 28),
			/* The quoted TCP checksum field would lie in the trailer:
			 * not rewritten (found by selftests/fuzz). */
			padded(icmp_err_case("XDP ICMP port unreachable about the tcp SYN, quote "
					     "= IP header + 8 bytes, 24 bytes of trailer",
					     0, if_bk0, from_backend, to_client, 3, 3, 0, &tcp_sent,
					     &tcp_orig, 28),
			       24),
			padded(icmp_err_case("tc the same with 24 bytes of trailer", 1, if_bk0,
					     from_backend, to_client, 3, 3, 0, &tcp_sent, &tcp_orig,
					     28),
			       24),
			icmp_err_case("XDP ICMP port unreachable from the backend about the "
				      "forwarded udp datagram (quoted whole)",
				      0, if_bk0, from_backend, to_client, 3, 3, 0, &udp_sent,
				      &udp_orig, 0),
			icmp_err_case("tc the same udp port unreachable", 1, if_bk0, from_backend,
				      to_client, 3, 3, 0, &udp_sent, &udp_orig, 0),
			with_check(icmp_err_case("XDP ICMP frag-needed (MTU 1400) from "
						 "198.18.0.254 about the tcp SYN",
						 0, if_bk0, from_rtr, rtr_to_client, 3, 4, 1400,
						 &tcp_sent, &tcp_orig, 28),
				   check_rtr_frag_needed),
			icmp_err_case("XDP ICMP time exceeded from 198.18.0.254 about the udp "
				      "datagram",
				      0, if_bk0, from_rtr, rtr_to_client, 11, 0, 0, &udp_sent,
				      &udp_orig, 0),
			icmp_err_case("XDP ICMP host unreachable from 192.0.2.254 about the second "
				      "host's echo (id translated)",
				      0, if_pub0, from_gw, gw_to_lan11, 3, 1, 0, &echo_sent,
				      &echo_orig, 0),
			icmp_err_case("XDP ICMP port unreachable from 198.18.200.5 itself about "
				      "the echo (outer source = it)",
				      0, if_pub0, from_out, out_to_lan11, 3, 3, 0, &echo_sent,
				      &echo_orig, 28),
		};

		FRAME_CASES_RUN(NULL, cases);
	}
	flow_get(A_CLIENT, A_PUB0, 12000, 8080, IPPROTO_TCP, &f);
	TAP_EQ(f.state, XM_ST_ESTABLISHED, "ICMP errors leave the tcp flow's state ESTABLISHED");

	{
		struct pkt_spec unknown_tcp = client_spec(IPPROTO_TCP, 12999, 8080, TCP_SYN),
				unknown_udp = client_spec(IPPROTO_UDP, 12001, 5001, 0);
		struct frame unknown_tcp_sent = F(fwd_of(unknown_tcp, 12999, 80)),
			     unknown_udp_sent = F(fwd_of(unknown_udp, 12001, 5001));
#define ICMP_PASS(desc, tc, quoted, qlen)                                         \
	with_count(pass_frame(desc, tc, if_bk0,                                   \
			      icmp_err(from_backend, 64, 3, 3, 0, quoted, qlen)), \
		   XM_C_ICMP_ERROR, 0)
		/* (d) About no flow. (e) Quote too short. */
		const struct frame_case cases[] = {
			with_count(ICMP_PASS("XDP ICMP port unreachable about a tcp segment of no "
					     "flow",
					     0, &unknown_tcp_sent, 0),
				   XM_C_PASS_NOT_OURS, 1),
			with_count(ICMP_PASS("tc ICMP port unreachable about a udp datagram of no "
					     "flow",
					     1, &unknown_udp_sent, 0),
				   XM_C_PASS_NOT_OURS, 1),
			ICMP_PASS("XDP ICMP port unreachable quoting the IP header + 2 bytes "
				  "(ports cut)",
				  0, &tcp_sent, 22),
			ICMP_PASS("XDP ICMP port unreachable quoting 12 bytes of the IP header", 0,
				  &tcp_sent, 12),
			ICMP_PASS("tc ICMP port unreachable quoting the IP header + 2 bytes", 1,
				  &tcp_sent, 22),
		};
#undef ICMP_PASS

		FRAME_CASES_RUN("pass", cases);
	}
}

/* ---- 4. fragments of masqueraded datagrams ------------------------------ */

static void test_masq_frags(void)
{
	struct pkt_spec s = with_payload(
				lan_spec(IPPROTO_UDP, A_LAN10, MAC_LAN10, 5400, A_OUT, 53, 0), 40),
			unseen, to_lan0, to_pub0, unmasqueraded;
	struct udp_fragments fr;
	struct xm_frag_key fk = {
		.saddr = A_LAN10,
		.daddr = A_OUT,
		.ip_id = htons(0x6161),
		.proto = IPPROTO_UDP,
	};
	struct xm_frag_value fv;
	const char *w;

	flows_clear();
	frags_clear();
	udp_fragments(&fr, s, masq_of(s, 5400), 0x6161);
	/* The first fragment's UDP checksum is of the whole datagram, the
	 * later one's payload is not the frame's to check: the IPv4 header
	 * checksum only. */
	w = run_frame_case(with_count(with_check(redirect_case("XDP masq first fragment (MF, "
							       "offset 0) of udp 198.19.0.10:5400 "
							       "-> 198.18.200.5:53",
							       0, if_lan0, fr.first, fr.first_t),
						 check_ip_csum),
				      XM_C_FLOW_NEW, 1));
	TAP_EQ(flows_count(), 2, "%s: flow created (two entries)", w);
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
	run_frame_case(with_count(with_check(redirect_case("XDP masq later fragment (offset 24, "
							   "same IP id): addresses, TTL, IP "
							   "checksum only",
							   0, if_lan0, fr.later, fr.later_t),
					     check_ip_csum),
				  XM_C_FRAG_LATER, 1));

	unseen = fr.later;
	unseen.ip_id = 0x6262;
	to_lan0 = unseen;
	to_lan0.daddr = A_LAN0;
	to_pub0 = unseen;
	to_pub0.daddr = A_PUB0;
	unmasqueraded = unseen;
	unmasqueraded.saddr = A_LAN1_10;
	unmasqueraded.smac = MAC_LAN1_10;
	{
#define NO_FLOW(desc, spec)                                                              \
	with_count(with_count(pass_case(desc, 0, if_lan0, spec), XM_C_PASS_FRAGMENT, 1), \
		   XM_C_DROP_FRAG_UNKNOWN, 0)
		const struct frame_case cases[] = {
			{ .name = "tc the same later fragment",
			  .tc = 1,
			  .ifindex = if_lan0,
			  .in = F(fr.later),
			  .verdict = TC_ACT_REDIRECT,
			  .out = OUT_FRAME,
			  .want = F(fr.later_t) },
			{ .name = "XDP masq later fragment whose first was not seen (198.19.0.10 "
				  "-> 198.18.200.5, id 0x6262)",
			  .ifindex = if_lan0,
			  .in = F(unseen),
			  .verdict = XDP_DROP,
			  .counts = { COUNTS(XM_C_DROP_FRAG_UNKNOWN, 1) } },
			{ .name = "tc the same unknown later fragment",
			  .tc = 1,
			  .ifindex = if_lan0,
			  .in = F(unseen),
			  .verdict = TC_ACT_SHOT },
			/* Not of a masqueraded source, or for the router. */
			NO_FLOW("XDP later fragment of no flow from 198.19.0.10 to the router's "
				"own 198.19.0.1",
				to_lan0),
			NO_FLOW("XDP later fragment of no flow from 198.19.0.10 to the router's "
				"own 192.0.2.1",
				to_pub0),
			NO_FLOW("XDP later fragment of no flow from 198.19.1.10 (not masqueraded) "
				"to 198.18.200.5",
				unmasqueraded),
		};
#undef NO_FLOW

		FRAME_CASES_RUN(NULL, cases);
	}
}

/* ---- 5. keep-source rule ------------------------------------------------ */

static void test_keep_source(void)
{
	struct pkt_spec syn = client_spec(IPPROTO_TCP, 12100, 8090, TCP_SYN),
			reply = with_payload(
				backend_spec(IPPROTO_TCP, 90, 12100, TCP_SYN | TCP_ACK), 6),
			local_port_syn = client_spec(IPPROTO_TCP, 40000, 8090, TCP_SYN),
			local_port_reply = backend_spec(IPPROTO_TCP, 90, 40000, TCP_SYN | TCP_ACK);
	struct xm_flow f;

	reply.daddr = local_port_reply.daddr = A_CLIENT;
	{
		/* The source is kept. The router's own connections cannot
		 * collide with a tuple that has the client's address: the port
		 * is kept even in the local range. */
		const struct frame_case cases[] = {
			redirect_case("XDP keep-source rule: tcp SYN 192.0.2.10:12100 -> :8090", 0,
				      if_pub0, syn,
				      spec_rewritten(syn, MAC_BACKEND, MAC_BK0, A_CLIENT, A_BACKEND,
						     12100, 90)),
			redirect_case("XDP keep-source reply backend:90 -> 192.0.2.10:12100", 0,
				      if_bk0, reply,
				      rev_of(reply, A_CLIENT, MAC_CLIENT, 8090, 12100)),
			redirect_case("tc keep-source rule: tcp SYN 192.0.2.10:40000 (in "
				      "32768-60999) -> :8090",
				      1, if_pub0, local_port_syn,
				      spec_rewritten(local_port_syn, MAC_BACKEND, MAC_BK0, A_CLIENT,
						     A_BACKEND, 40000, 90)),
			redirect_case("tc keep-source reply backend:90 -> 192.0.2.10:40000", 1,
				      if_bk0, local_port_reply,
				      rev_of(local_port_reply, A_CLIENT, MAC_CLIENT, 8090, 40000)),
		};

		flows_clear();
		FRAME_CASES_RUN(NULL, cases);
		tap_ok(flow_get(A_CLIENT, A_PUB0, 12100, 8090, IPPROTO_TCP, &f) == 0 &&
			       flow_eq(&f, A_CLIENT, A_BACKEND, 12100, 90, if_bk0, MAC_BACKEND, 0,
				       XM_FLOW_L2_VALID | XM_FLOW_KEEP_SOURCE, RULE_KEEP),
		       "%s: original entry keeps the client's address and port, KEEP_SOURCE",
		       cases[0].name);
		tap_ok(flow_get(A_BACKEND, A_CLIENT, 90, 12100, IPPROTO_TCP, &f) == 0 &&
			       flow_eq(&f, A_PUB0, A_CLIENT, 8090, 12100, if_pub0, MAC_CLIENT, 0,
				       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_KEEP),
		       "%s: reply entry keyed {backend:90 -> 192.0.2.10:12100}", cases[0].name);
	}
}

/* ---- 6. hairpin --------------------------------------------------------- */

/* The host 198.18.0.5 on bk0 -> pub0's address (as received on bk0). */
static struct pkt_spec hairpin_spec(uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct pkt_spec s = spec_between(proto, MAC_HP, A_HP, sport, MAC_BK0, A_PUB0, dport, flags);

	s.ip_id = 0x4321;
	return s;
}

static void test_hairpin(void)
{
	struct pkt_spec syn = hairpin_spec(IPPROTO_TCP, 12200, 8080, TCP_SYN),
			reply = backend_spec(IPPROTO_TCP, 80, 12200, TCP_SYN | TCP_ACK),
			udp = with_payload(hairpin_spec(IPPROTO_UDP, 12201, 5000, 0), 4);
	const struct frame_case cases[] = {
		/* Forwarded from bk0's address. */
		redirect_case("XDP hairpin: tcp SYN 198.18.0.5:12200 on bk0 -> 192.0.2.1:8080 "
			      "(pub0's forward rule)",
			      0, if_bk0, syn, fwd_of(syn, 12200, 80)),
		redirect_case("XDP hairpin reply backend:80 -> 198.18.0.1:12200", 0, if_bk0, reply,
			      spec_rewritten(reply, MAC_HP, MAC_BK0, A_PUB0, A_HP, 8080, 12200)),
		redirect_case("tc hairpin: udp 198.18.0.5:12201 on bk0 -> 192.0.2.1:5000", 1,
			      if_bk0, udp, fwd_of(udp, 12201, 5000)),
		{ .name = "XDP tcp SYN 198.18.0.5 -> 192.0.2.1:8082 (no rule: for the router)",
		  .ifindex = if_bk0,
		  .in = F(hairpin_spec(IPPROTO_TCP, 12202, 8082, TCP_SYN)),
		  .verdict = XDP_PASS,
		  .out = OUT_UNTOUCHED },
	};
	struct xm_flow f;

	flows_clear();
	FRAME_CASES_RUN(NULL, cases);
	tap_ok(flow_get(A_BACKEND, A_BK0, 80, 12200, IPPROTO_TCP, &f) == 0 &&
		       flow_eq(&f, A_PUB0, A_HP, 8080, 12200, if_bk0, MAC_HP, 0,
			       XM_FLOW_REPLY | XM_FLOW_L2_VALID, RULE_TCP),
	       "%s: reply entry sends back to 198.18.0.5 via bk0 as 192.0.2.1:8080", cases[0].name);
}

/* ---- NAT behaviour: endpoint-independent mapping, filtering, hairpin ----- */

#define A_OUT2	 IPV4(198, 18, 200, 6)
#define A_STRNGR IPV4(198, 18, 200, 99) /* an outside host no private host sent to */

static void nat_mappings_clear(void)
{
	int fd = bpf_map__fd(skel->maps.nat_mappings);
	struct xm_nat_key k;

	while (bpf_map_get_next_key(fd, NULL, &k) == 0)
		if (bpf_map_delete_elem(fd, &k))
			break;
}

static int set_nat_filtering(uint32_t flags)
{
	struct xm_config c;
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(fd_config, &zero, &c))
		return -1;
	c.flags = (c.flags & ~(XM_CFG_NAT_FILTER_ADDR | XM_CFG_NAT_FILTER_ANY)) | flags;
	return bpf_map_update_elem(fd_config, &zero, &c, BPF_ANY);
}

/* An outside host's UDP datagram to pub0's address, port dport. */
static struct pkt_spec from_outside(uint32_t host, uint16_t sport, uint16_t dport)
{
	struct pkt_spec s = with_payload(
		spec_between(IPPROTO_UDP, MAC_GW, host, sport, MAC_PUB0, A_PUB0, dport, 0), 6);

	s.ttl = 55;
	return s;
}

static void test_nat_behaviour(void)
{
	struct pkt_spec a1 = with_payload(
				lan_spec(IPPROTO_UDP, A_LAN11, MAC_LAN11, 45000, A_OUT, 53, 0), 8),
			a2 = with_payload(
				lan_spec(IPPROTO_UDP, A_LAN11, MAC_LAN11, 45000, A_OUT2, 53, 0), 8),
			b = with_payload(
				lan_spec(IPPROTO_UDP, A_LAN10, MAC_LAN10, 45000, A_OUT2, 53, 0), 8),
			in;
	uint16_t p_a, p_b;
	const char *w;

	flows_clear();
	nat_mappings_clear();
	/* 45000 is in the router's ephemeral range: not kept, a port is
	 * picked, and then kept for every destination. */
	p_a = run_picking_port("mapping: udp 198.19.0.11:45000 -> 198.18.200.5:53", 0, if_lan0, a1,
			       masq_of(a1, 0));
	run_frame_case(with_count(with_count(redirect_case("mapping: udp 198.19.0.11:45000 -> "
							   "198.18.200.6:53 (another destination)",
							   1, if_lan0, a2, masq_of(a2, p_a)),
					     XM_C_NAT_MAPPING_NEW, 0),
				  XM_C_NAT_MAPPING_SPLIT, 0));
	p_b = run_picking_port("mapping: udp 198.19.0.10:45000 -> 198.18.200.6:53 (another host, "
			       "same port number)",
			       0, if_lan0, b, masq_of(b, 0));
	tap_ok(p_b != p_a, "mapping: the other host's public port %u is not the first host's %u",
	       p_b, p_a);

	/* Filtering: address-and-port-dependent by default. */
	in = from_outside(A_OUT, 999, p_a);
	run_frame_case(with_count(with_count(pass_case("filtering address-port-dependent: "
						       "198.18.200.5:999 (another port) -> the "
						       "mapping: to the kernel",
						       0, if_pub0, in),
					     XM_C_PASS_NAT_FILTERED, 1),
				  XM_C_FLOW_NEW, 0));
	if (!tap_ok(set_nat_filtering(XM_CFG_NAT_FILTER_ADDR) == 0, "set nat-filtering "
								    "address-dependent"))
		return;
	/* The addresses a mapping sends to are noted by its flows made from
	 * then on: one more to 198.18.200.5, another port. */
	in = with_payload(lan_spec(IPPROTO_UDP, A_LAN11, MAC_LAN11, 45000, A_OUT, 54, 0), 8);
	run_frame_case(redirect_case("filtering address-dependent: udp 198.19.0.11:45000 -> "
				     "198.18.200.5:54 (the mapping's port)",
				     0, if_lan0, in, masq_of(in, p_a)));
	in = from_outside(A_OUT, 999, p_a);
	w = run_frame_case(
		with_count(redirect_case("filtering address-dependent: "
					 "198.18.200.5:999 -> the mapping: to "
					 "198.19.0.11:45000",
					 0, if_pub0, in, unmasq_of(in, A_LAN11, MAC_LAN11, 45000)),
			   XM_C_FLOW_NAT_INBOUND, 1));
	in = from_outside(A_STRNGR, 999, p_a);
	/* Counted once, as filtered: not pass_not_ours too (fuzz_dataplane
	 * found both counting it). */
	run_frame_case(with_count(with_count(pass_case("filtering address-dependent: "
						       "198.18.200.99 (never sent to) -> the "
						       "mapping: to the kernel",
						       0, if_pub0, in),
					     XM_C_PASS_NAT_FILTERED, 1),
				  XM_C_PASS_NOT_OURS, 0));
	if (!tap_ok(set_nat_filtering(XM_CFG_NAT_FILTER_ANY) == 0, "set nat-filtering "
								   "endpoint-independent"))
		return;
	run_frame_case(
		with_count(redirect_case("filtering endpoint-independent: 198.18.200.99 -> "
					 "the mapping: to 198.19.0.11:45000",
					 1, if_pub0, in, unmasq_of(in, A_LAN11, MAC_LAN11, 45000)),
			   XM_C_FLOW_NAT_INBOUND, 1));
	in = from_outside(A_STRNGR, 999, 22222);
	run_frame_case(with_count(pass_case("filtering endpoint-independent: to a port no mapping "
					    "holds: to the kernel",
					    0, if_pub0, in),
				  XM_C_PASS_NAT_FILTERED, 0));
	set_nat_filtering(0);
	(void)w;

	/* Hairpin: 198.19.0.10 sends from 7000 (kept: outside the ephemeral
	 * range) to the first host's mapping; the first host sees it from
	 * 198.19.0.10's own mapping, 192.0.2.1:7000. */
	in = with_payload(lan_spec(IPPROTO_UDP, A_LAN10, MAC_LAN10, 7000, A_PUB0, p_a, 0), 8);
	run_frame_case(with_count(redirect_case("hairpin: udp 198.19.0.10:7000 -> 192.0.2.1 (the "
						"router) at the "
						"first host's mapping: to 198.19.0.11:45000 from "
						"192.0.2.1:7000",
						0, if_lan0, in,
						spec_rewritten(in, MAC_LAN11, MAC_LAN0, A_PUB0,
							       A_LAN11, 7000, 45000)),
				  XM_C_FLOW_HAIRPIN, 1));
	in = with_payload(lan_spec(IPPROTO_UDP, A_LAN11, MAC_LAN11, 45000, A_PUB0, 7000, 0), 8);
	run_frame_case(
		redirect_case("hairpin reply: 198.19.0.11:45000 -> 192.0.2.1:7000: to "
			      "198.19.0.10:7000 from the first host's mapping",
			      1, if_lan0, in,
			      spec_rewritten(in, MAC_LAN10, MAC_LAN0, A_PUB0, A_LAN10, p_a, 7000)));
	flows_clear();
	nat_mappings_clear();
}

/* ---- 7. path MTU at tc -------------------------------------------------- */

/* What finishing a CHECKSUM_PARTIAL sum writes into the checksum field at
 * b + field_off, summing b[0, n) (the kernel's skb_checksum_help). */
static uint16_t csum_finished(const uint8_t *b, size_t n)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += pkt_get16(b + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum ? (uint16_t)~sum : 0xffff;
}

/* The value of the field at b + field_off that csum_finished leaves as it
 * is, found by trying every one. */
static uint16_t csum_fixed_point(uint8_t *b, size_t n, size_t field_off)
{
	uint32_t f;

	for (f = 1; f <= 0xffff; f++) {
		pkt_put16(b + field_off, (uint16_t)f);
		if (csum_finished(b, n) == f)
			return (uint16_t)f;
	}
	return 0;
}

/* got must be the frag-needed (next-hop MTU mtu) for the frame `in` that
 * came in on pub0 from the client: built independently, it quotes in's IP
 * header with the total length seg_len (a GSO packet's first segment),
 * then 20 bytes of TCP header or 8 of UDP, whose checksum field holds the
 * value a checksum offload finishing it over the quote leaves as is. The
 * header fields the sender chooses (TOS, id, flags, TTL) are taken from
 * the output, then the checksum recomputed. */
static void check_frag_needed(const char *w, const struct frame *in, const struct frame *got,
			      uint16_t mtu, uint16_t seg_len)
{
	struct pkt_view v = pkt_view(got->b, got->len), vin = pkt_view(in->b, in->len);
	struct pkt_csums c = pkt_check_csums(got->b, got->len);
	struct pkt_spec e =
		spec_between(IPPROTO_ICMP, MAC_PUB0, A_PUB0, 0, MAC_CLIENT, A_CLIENT, 0, 0);
	size_t ihl = vin.ok ? vin.l4 - vin.l3 : 20, l4q = vin.proto == IPPROTO_TCP ? 20 : 8;
	size_t csum_at = ihl + (vin.proto == IPPROTO_TCP ? 16 : 6), qlen = ihl + l4q;
	uint8_t quote[80], msg[96];
	struct frame want;
	uint32_t sa = 0, da = 0;

	memcpy(quote, in->b + 14, qlen);
	pkt_put16(quote + 2, seg_len);
	pkt_put16(quote + 10, 0);
	pkt_put16(quote + 10, pkt_ip_csum(quote));
	pkt_put16(quote + csum_at, csum_fixed_point(quote + ihl, l4q, csum_at - ihl));
	e.raw_l4 = 1;
	e.plen = pkt_icmp_msg(msg, sizeof(msg), 3, 4, mtu, quote, qlen);
	e.payload = msg;
	want = F(e);
	if (v.ok && got->len == want.len) {
		memcpy(want.b + 14 + 1, got->b + 14 + 1, 1); /* TOS */
		memcpy(want.b + 14 + 4, got->b + 14 + 4, 5); /* id, frag, TTL */
		pkt_put16(want.b + 14 + 10, pkt_ip_csum(want.b + 14));
		memcpy(&sa, got->b + v.l3 + 12, 4);
		memcpy(&da, got->b + v.l3 + 16, 4);
	}
	tap_ok(v.ok && memcmp(got->b, MAC_CLIENT, 6) == 0 && memcmp(got->b + 6, MAC_PUB0, 6) == 0,
	       "%s: MACs swapped (to the client's MAC from pub0's)", w);
	tap_ok(v.ok && sa == A_PUB0 && da == A_CLIENT,
	       "%s: from the ingress interface's address 192.0.2.1 to the client", w);
	if (!tap_ok(v.ok && v.proto == IPPROTO_ICMP && got->b[v.l4] == 3 && got->b[v.l4 + 1] == 4 &&
			    pkt_get16(got->b + v.l4 + 6) == mtu,
		    "%s: ICMP type 3 code 4, next-hop MTU field %u", w, mtu))
		tap_diag("MTU field %u", v.ok ? pkt_get16(got->b + v.l4 + 6) : 0);
	tap_ok(v.ok && v.l4len == 8 + qlen &&
		       memcmp(got->b + v.l4 + 8 + 12, in->b + 14 + 12, 8) == 0 &&
		       memcmp(got->b + v.l4 + 8 + 20, in->b + 14 + 20, csum_at - 20) == 0,
	       "%s: quotes the original addresses and the first %zu bytes of %s", w, l4q,
	       vin.proto == IPPROTO_TCP ? "TCP" : "UDP");
	tap_ok(v.ok && pkt_get16(got->b + v.l4 + 8 + 2) == seg_len,
	       "%s: the quoted total length is %u (the packet as it would have left)", w, seg_len);
	tap_ok(v.ok && v.l4len == 8 + qlen &&
		       csum_finished(got->b + v.l4 + 8 + ihl, l4q) ==
			       pkt_get16(got->b + v.l4 + 8 + csum_at),
	       "%s: finishing the quoted %s checksum (CHECKSUM_PARTIAL) would leave it as it is", w,
	       vin.proto == IPPROTO_TCP ? "TCP" : "UDP");
	tap_ok(v.ok && got->b[v.l3 + 8] > 0, "%s: TTL %u", w, v.ok ? got->b[v.l3 + 8] : 0);
	if (!tap_ok(same_frame(got, &want), "%s: whole frame as built independently", w))
		hexdiff(got, &want);
	if (!tap_ok(c.ok && c.ip_got == c.ip_want && c.l4_got == c.l4_want,
		    "%s: IPv4 and ICMP checksums equal full recomputation", w))
		tap_diag("ip stored 0x%04x computed 0x%04x, icmp stored 0x%04x computed 0x%04x",
			 c.ip_got, c.ip_want, c.l4_got, c.l4_want);
}

/* tap_frame's match: the first fragment (offset 0, MF) of IPv4 ID *id. */
static int is_first_fragment4(const struct frame *f, const void *id)
{
	return f->len >= 34 && pkt_get16(f->b + 12) == 0x0800 &&
	       pkt_get16(f->b + 18) == *(const uint16_t *)id && pkt_get16(f->b + 20) == 0x2000;
}

/* A forwarded TCP flow from the client's port sport to :8080 (the
 * backend's :80), opened by its SYN (with DF) and the backend's SYN-ACK. */
static void tcp_flow_open(uint16_t sport, const char *what)
{
	struct pkt_spec s = client_spec(IPPROTO_TCP, sport, 8080, TCP_SYN), r;
	struct frame in, want, got;
	char w[160];

	s.frag = 0x4000;
	in = F(s);
	want = F(fwd_of(s, sport, 80));
	snprintf(w, sizeof(w), "%s: tcp SYN 192.0.2.10:%u -> :8080", what, sport);
	run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, &want, &got);
	r = backend_spec(IPPROTO_TCP, 80, sport, TCP_SYN | TCP_ACK);
	in = F(r);
	want = F(rev_of(r, A_CLIENT, MAC_CLIENT, 8080, sport));
	snprintf(w, sizeof(w), "%s: SYN-ACK from the backend", what);
	run_case(1, w, if_bk0, &in, TC_ACT_REDIRECT, &want, &got);
}

static void test_pmtu(void)
{
	static const struct {
		const char *what;
		uint32_t plen, gso_size, gso_segs;
	} gso_fits[] = {
		{ "tc GSO tcp packet of 2 segments of 600 bytes (640 on the wire, 1240 in all), "
		  "mtu 1000: forwarded whole",
		  1200, 600, 2 },
		{ "tc the same with gso_segs 0 (as a tap leaves it): forwarded whole", 1200, 600,
		  0 },
		{ "tc GSO tcp packet of 2 segments of 960 bytes (exactly the mtu on the wire): "
		  "forwarded whole",
		  1920, 960, 2 },
		{ "tc GSO tcp packet of one short segment (940 bytes, gso_size 1448): forwarded",
		  900, 1448, 1 },
	};
	static uint8_t big[2000];
	struct xm_flow f0, f1;
	struct pkt_spec s;
	struct frame in, want, got;
	size_t i;
	const char *w;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	flows_clear();
	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 1280);
	tcp_flow_open(12300, "PMTU set-up (bk0 mtu 1280)");

	cnt_mark();
	w = "tc 1400-byte tcp segment with DF, egress bk0 mtu 1280";
	s = client_spec(IPPROTO_TCP, 12300, 8080, TCP_ACK);
	s.frag = 0x4000;
	s.payload = big;
	s.plen = 1400 - 40;
	in = F(s);
	if (run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, NULL, &got))
		check_frag_needed(w, &in, &got, 1280, 1400);
	cnt_check(XM_C_FRAG_NEEDED_SENT, 1, w);

	/* Its flow lives on while the sender's packets are answered by
	 * frag-needed (netfilter's conntrack sees them before the forward
	 * path's MTU check): else it expires and a retransmission, without a
	 * flow, goes to the router's stack, which resets the connection. */
	/* bk0 itself at 1280 (fixture_iface set it): the kernel's lookup
	 * then says FRAG_NEEDED for this packet, which says nothing against
	 * the next hop */
	w = "tc the 1400-byte segment again, its flow idle for 100 s";
	flow_get(A_CLIENT, A_PUB0, 12300, 8080, IPPROTO_TCP, &f0);
	flow_age(A_CLIENT, A_PUB0, 12300, 8080, IPPROTO_TCP, 100);
	run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, NULL, &got);
	flow_get(A_CLIENT, A_PUB0, 12300, 8080, IPPROTO_TCP, &f1);
	tap_ok(f0.last_seen_s && f1.last_seen_s >= f0.last_seen_s,
	       "%s: answered by frag-needed, it stamps its flow (last seen %u, aged to %u, now %u)",
	       w, f0.last_seen_s, f0.last_seen_s - 100, f1.last_seen_s);
	tap_ok(f1.flags & XM_FLOW_L2_VALID,
	       "%s: its next hop re-resolved and still known (the lookup's FRAG_NEEDED is about "
	       "the packet, not the route)",
	       w);

	/* Without DF it goes in two fragments, as the kernel's forward path
	 * sends it: the first (1256 bytes of data, MF) a copy sent out of bk0
	 * (seen at its peer), the second the run's own frame; each byte for
	 * byte the fragment of the translated packet. */
	cnt_mark();
	w = "tc 1400-byte tcp segment without DF, egress mtu 1280";
	s.frag = 0;
	s.ip_id = 0x4242;
	in = F(s);
	{
		struct frame whole = F(fwd_of(s, 12300, 80)), first;
		struct frame want1 = pkt_fragment4(&whole, 0, 1256, 1);
		struct frame want2 = pkt_fragment4(&whole, 1256, 1380 - 1256, 0);
		int tap = peer_tap("bk0p");

		tap_ok(tap >= 0, "a packet socket on bk0's peer");
		run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, &want2, &got);
		cnt_check(XM_C_FRAG_SPLIT, 1, w);
		cnt_check(XM_C_DROP_TOO_BIG, 0, w);
		cnt_check(XM_C_FRAG_NEEDED_SENT, 0, w);
		if (tap_ok(tap_frame(tap, is_first_fragment4, &(uint16_t){ 0x4242 }, &first) == 0,
			   "%s: the first fragment went out of bk0", w) &&
		    !tap_ok(same_frame(&first, &want1),
			    "%s: the first fragment byte for byte (1256 bytes of data, MF)", w))
			hexdiff(&first, &want1);
		if (tap >= 0)
			close(tap);
	}
	cnt_mark();
	w = "tc 1400-byte tcp segment without DF, with IP options: not split, dropped";
	{
		struct frame o = in;

		memmove(o.b + 38, o.b + 34, o.len - 34);
		memset(o.b + 34, 1, 3); /* no-operation x3, end of list */
		o.b[37] = 0;
		o.b[14] = 0x46;
		pkt_put16(o.b + 16, (uint16_t)(pkt_get16(o.b + 16) + 4));
		o.len += 4;
		pkt_put16(o.b + 24, pkt_ip_csum(o.b + 14));
		run_case(1, w, if_pub0, &o, TC_ACT_SHOT, NULL, &got);
		cnt_check(XM_C_DROP_TOO_BIG, 1, w);
		cnt_check(XM_C_FRAG_SPLIT, 0, w);
	}
	/* a local sender's unfinished checksum (CHECKSUM_PARTIAL): the copy
	 * bpf_clone_redirect sends would never be finished */
	cnt_mark();
	w = "tc 1400-byte tcp segment without DF, its checksum looking unfinished: not split, "
	    "dropped";
	s.l4cs = L4CS_PARTIAL;
	in = F(s);
	run_case(1, w, if_pub0, &in, TC_ACT_SHOT, NULL, &got);
	cnt_check(XM_C_DROP_TOO_BIG, 1, w);
	cnt_check(XM_C_FRAG_SPLIT, 0, w);
	s.l4cs = L4CS_FULL;

	cnt_mark();
	w = "XDP 1400-byte tcp segment with DF (handed to tc untranslated)";
	s.frag = 0x4000;
	in = F(s);
	run_case(0, w, if_pub0, &in, XDP_PASS, &in, &got);
	cnt_check(XM_C_PASS_TOO_BIG, 1, w);
	cnt_mark();
	w = "XDP 1400-byte tcp segment without DF (handed to tc, which splits it)";
	s.frag = 0;
	in = F(s);
	run_case(0, w, if_pub0, &in, XDP_PASS, &in, &got);
	cnt_check(XM_C_PASS_TOO_BIG, 1, w);

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

	/* A GSO packet (GRO'd, or from a TSO sender on a veth) is too big
	 * only if its segments are: the egress device cuts it. */
	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 1000);
	set_dev_mtu(if_bk0, 1000); /* (an IPv4 NIC's: no IPv6 here) */
	s.frag = 0x4000;
	for (i = 0; i < sizeof(gso_fits) / sizeof(gso_fits[0]); i++) {
		w = gso_fits[i].what;
		s.plen = gso_fits[i].plen;
		in = F(s);
		want = F(fwd_of(s, 12300, 80));
		cnt_mark();
		tc_gso_size = gso_fits[i].gso_size;
		tc_gso_segs = gso_fits[i].gso_segs;
		run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, &want, &got);
		tc_gso_size = tc_gso_segs = 0;
		cnt_check(XM_C_FWD_TC, 1, w);
		cnt_check(XM_C_FRAG_NEEDED_SENT, 0, w);
	}
	cnt_mark();
	w = "tc GSO tcp packet of 2 segments of 980 bytes (1020 on the wire), mtu 1000";
	s.plen = 1960;
	in = F(s);
	tc_gso_size = 980;
	tc_gso_segs = 2;
	if (run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, NULL, &got))
		check_frag_needed(w, &in, &got, 1000, 1020);
	tc_gso_size = tc_gso_segs = 0;
	cnt_check(XM_C_FRAG_NEEDED_SENT, 1, w);

	cnt_mark();
	w = "tc 1400-byte udp datagram with DF, mtu 1000";
	s = client_spec(IPPROTO_UDP, 12301, 5000, 0);
	s.frag = 0x4000;
	s.payload = big;
	s.plen = 1400 - 28;
	in = F(s);
	if (run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, NULL, &got))
		check_frag_needed(w, &in, &got, 1000, 1400);
	cnt_check(XM_C_FRAG_NEEDED_SENT, 1, w);
	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 0);
}

/* bk0's MTU changed since xmasq read it, with no follower running:
 * packets longer than 1280 bytes are checked against the NIC's MTU as it
 * is now, at XDP and at tc (bpf/mtu.h), not against the record. */
static void test_mtu_live(void)
{
	static uint8_t big[1500];
	struct pkt_spec s;
	struct frame in, want, got;
	const char *w;

	flows_clear();
	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 1500);
	tcp_flow_open(12310, "live MTU set-up");
	s = client_spec(IPPROTO_TCP, 12310, 8080, TCP_ACK);
	s.frag = 0x4000;
	s.payload = big;

	/* lowered: xmasq's record still says 1500 */
	set_dev_mtu(if_bk0, 1300);
	cnt_mark();
	w = "XDP 1400-byte tcp segment with DF, bk0 lowered to 1300 (record 1500)";
	s.plen = 1400 - 40;
	in = F(s);
	run_case(0, w, if_pub0, &in, XDP_PASS, &in, &got);
	cnt_check(XM_C_PASS_TOO_BIG, 1, w);
	cnt_mark();
	w = "tc 1400-byte tcp segment with DF, bk0 lowered to 1300 (record 1500)";
	if (run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, NULL, &got))
		check_frag_needed(w, &in, &got, 1300, 1400);
	cnt_check(XM_C_FRAG_NEEDED_SENT, 1, w);
	w = "XDP 1300-byte tcp segment with DF, bk0 lowered to 1300: forwarded";
	s.plen = 1300 - 40;
	in = F(s);
	want = F(fwd_of(s, 12310, 80));
	run_case(0, w, if_pub0, &in, XDP_REDIRECT, &want, &got);

	/* raised: the record still says 1300 */
	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 1300);
	set_dev_mtu(if_bk0, 1500);
	s.plen = 1400 - 40;
	in = F(s);
	want = F(fwd_of(s, 12310, 80));
	cnt_mark();
	w = "XDP 1400-byte tcp segment with DF, bk0 raised to 1500 (record 1300): forwarded";
	run_case(0, w, if_pub0, &in, XDP_REDIRECT, &want, &got);
	cnt_check(XM_C_PASS_TOO_BIG, 0, w);
	cnt_mark();
	w = "tc 1400-byte tcp segment with DF, bk0 raised to 1500 (record 1300): forwarded";
	run_case(1, w, if_pub0, &in, TC_ACT_REDIRECT, &want, &got);
	cnt_check(XM_C_FRAG_NEEDED_SENT, 0, w);
	fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, 0);
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

/* Gives the loaded program a sweeper that has never run: the element
 * written from here frees its timer, so the next new flow arms it afresh
 * (as a reload would, without the reload's verification: seconds each
 * under emulation, in the 6.1 VM). The data plane's clock reads the
 * kernel's again. 0 on success, reported as WHAT. */
static int sweeper_fresh(const char *what)
{
	struct xm_sweep sw;
	uint32_t zero = 0;

	memset(&sw, 0, sizeof(sw));
	skel->bss->xm_clock_ahead_s = 0;
	return tap_ok(bpf_map_update_elem(bpf_map__fd(skel->maps.sweeper), &zero, &sw, BPF_ANY) ==
			      0,
		      "%s: the sweeper reset, its timer freed", what) ?
		       0 :
		       -1;
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
	 * the latest one sweep period after 2 s. */
	for (waited = 0; waited < SWEEP_WAIT_MS;) {
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
	/* A walk is cut into slices 1 ms apart and counted when its last
	 * slice ends: the pair can be gone while its walk still runs. */
	for (waited = 0; waited < SWEEP_WAIT_MS; waited += 10) {
		rc = sweeper_read(&sw);
		if (rc != 0 || sw.runs > 0)
			break;
		sleep_ms(10);
	}
	tap_ok(rc == 0 && sw.expired == 1 && sw.runs > 0,
	       "sweeper: sweeper.expired 1 (%llu), runs > 0 (%llu)", (unsigned long long)sw.expired,
	       (unsigned long long)sw.runs);
}

/* RFC 4787 REQ-6: with `set nat-inbound-refresh no` a masqueraded host's
 * UDP flow lives by what the host sends; by default (as netfilter)
 * inbound packets keep it too. The data plane's clock jumps 1000 s ahead:
 * the host's side has been idle that long, the outside's is stamped as
 * busy. */
static void test_nat_inbound_refresh(void)
{
	struct pkt_spec s = lan_spec(IPPROTO_UDP, A_LAN10, MAC_LAN10, 12700, A_OUT, 53, 0);
	struct frame in = F(s), got;
	struct xm_ct_slot *r;
	struct xm_sweep sw0, sw;
	struct timespec ts;
	int gone = 0, waited;

	if (sweeper_fresh("inbound refresh"))
		return;
	if (!tap_ok(set_config(0) == 0, "inbound refresh: default timeouts"))
		return;
	run_case(0, "inbound refresh: masq udp 198.19.0.10:12700 -> 198.18.200.5:53", if_lan0, &in,
		 XDP_REDIRECT, NULL, &got);
	skel->bss->xm_clock_ahead_s += 1000;
	for (int round = 0; round < 2; round++) {
		uint32_t zero = 0;

		if (round == 1) {
			struct xm_config c;

			bpf_map_lookup_elem(fd_config, &zero, &c);
			c.flags |= XM_CFG_NAT_NO_INBOUND_REFRESH;
			bpf_map_update_elem(fd_config, &zero, &c, BPF_ANY);
		}
		/* The outside's side busy: stamped ahead of the clock. */
		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		r = flow_slot(A_OUT, A_PUB0, 53, 12700, IPPROTO_UDP);
		if (!tap_ok(r != NULL, "inbound refresh: the reply entry is there (round %d)",
			    round))
			return;
		r->flow.last_seen_s = (uint32_t)ts.tv_sec + skel->bss->xm_clock_ahead_s + 10;
		/* Two whole walks, or the flow gone. */
		sweeper_read(&sw0);
		for (waited = 0; waited < SWEEP_WAIT_MS; waited += 100) {
			sleep_ms(100);
			gone = flow_slot(A_LAN10, A_OUT, 12700, 53, IPPROTO_UDP) == NULL;
			if (sweeper_read(&sw) == 0 && sw.runs >= sw0.runs + 3 && round == 0)
				break;
			if (gone)
				break;
		}
		if (round == 0)
			tap_ok(!gone,
			       "inbound refresh yes (default): the flow outlives %llu walks while "
			       "only the outside sends",
			       (unsigned long long)(sw.runs - sw0.runs));
		else
			tap_ok(gone,
			       "inbound refresh no: the flow the host has not used for 1000 s "
			       "expires although the outside sends (after %d ms)",
			       waited);
	}
	flows_clear();
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
	int rc, waited;

	if (reload_with_sweeper("clock", epoch, 1000000000 /* walks 15 s apart */))
		return;
	if (!tap_ok(setup_maps(0) == 0, "clock: maps populated"))
		return;
	s = lan_spec(IPPROTO_UDP, A_LAN10, MAC_LAN10, 12600, A_OUT, 53, 0);
	in = F(s);
	run_case(0, "clock: masq udp arms the sweeper", if_lan0, &in, XDP_REDIRECT, NULL, &got);
	/* The first walk (250 ms after the flow), then 1 s ticks: polled, as
	 * a loaded machine (or the 6.1 VM under emulation) runs timers late. */
	for (waited = 0; waited < SWEEP_WAIT_MS; waited += 100) {
		sleep_ms(100);
		rc = sweeper_read(&sw0);
		if (rc != 0 || sw0.runs >= 1)
			break;
	}
	for (waited = 0; rc == 0 && waited < 10000; waited += 100) {
		sleep_ms(100);
		rc = sweeper_read(&sw1);
		if (rc != 0 || sw1.now >= sw0.now + 2)
			break;
	}
	real = mono_s();
	tap_ok(rc == 0 && sw1.now >= sw0.now + 2 && sw1.now <= real && sw1.now + 2 >= real,
	       "clock: sweeper.now ticks every second (%u -> %u in %d ms; kernel clock %u)",
	       sw0.now, sw1.now, waited, real);
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
	struct xm_sweep sw;
	struct pkt_spec s;
	struct frame in, got;
	struct xm_flow f;
	int n = -1, waited, rc;

	if (sweeper_fresh("boot"))
		return;
	skel->bss->xm_clock_ahead_s = 2 - mono_s();
	if (!tap_ok(set_config(0) == 0, "boot: default timeouts"))
		return;
	s = lan_spec(IPPROTO_TCP, A_LAN10, MAC_LAN10, 12700, A_OUT, 443, TCP_SYN);
	in = F(s);
	run_case(0, "boot: masq tcp SYN with the clock at 2 s", if_lan0, &in, XDP_REDIRECT, NULL,
		 &got);
	rc = flow_get(A_LAN10, A_OUT, 12700, 443, IPPROTO_TCP, &f);
	tap_ok(rc == 0 && f.last_seen_s >= 1 && f.last_seen_s <= 4,
	       "boot: the new flow is stamped %u, the clock just after boot", f.last_seen_s);
	/* The first walk comes 250 ms after the flow; a loaded machine may
	 * run its timer later. */
	for (waited = 0; waited < SWEEP_WAIT_MS; waited += 100) {
		sleep_ms(100);
		rc = sweeper_read(&sw);
		if (rc != 0 || sw.runs >= 1)
			break;
	}
	n = flows_count();
	tap_ok(rc == 0 && sw.runs >= 1 && n == 2 && sw.now >= 1 &&
		       sw.now <= 6 + (uint32_t)waited / 1000,
	       "boot: the flow outlives a walk within its 120 s timeout (sweeper.now %u, %u "
	       "walks, %d entries, after %d ms)",
	       sw.now, sw.runs, n, waited);
	set_config(1);
	for (waited = 0; waited < SWEEP_WAIT_MS;) {
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

/* ---- 8. ports in use, and a peer that runs out ------------------------- */

#define TINY_PORT_LO 20000 /* 16 ports, outside the router's ephemeral range */
#define TINY_PORT_HI 20015

/* The capacity of a group: the port range, UDP without the ephemeral one. */
static void test_port_capacity(void)
{
	struct xm_config c = fixture_config();

	c.local_port_lo = LOCAL_PORT_LO;
	c.local_port_hi = LOCAL_PORT_HI;
	TAP_EQ(xm_port_capacity(&c, IPPROTO_TCP), 64512, "capacity: tcp, ports 1024-65535");
	TAP_EQ(xm_port_capacity(&c, IPPROTO_UDP), 64512 - (LOCAL_PORT_HI - LOCAL_PORT_LO + 1),
	       "capacity: udp, ports 1024-65535 without the ephemeral 32768-60999");
	TAP_EQ(xm_port_capacity(&c, IPPROTO_ICMP), 64512, "capacity: icmp echo ids as ports");
	c.port_lo = 40000;
	c.port_hi = 40099;
	TAP_EQ(xm_port_capacity(&c, IPPROTO_UDP), 0,
	       "capacity: udp, a range inside the ephemeral one leaves none");
	c.local_port_hi = 0;
	TAP_EQ(xm_port_capacity(&c, IPPROTO_UDP), 100,
	       "capacity: udp, ephemeral range unknown: the whole range");
}

/* The group (udp, bk0's address, backend:5000) in a scan of the table. */
static const struct xm_port_group *udp5000_group(struct xm_port_use *pu)
{
	struct xm_config c;
	uint32_t zero = 0;
	char err[256];

	memset(pu, 0, sizeof(*pu));
	if (bpf_map_lookup_elem(fd_config, &zero, &c) ||
	    xm_port_use_scan(&ct_tab, &c, pu, err, sizeof(err))) {
		tap_diag("port use scan: %s", err);
		return NULL;
	}
	for (size_t i = 0; i < pu->n_busiest; i++)
		if (pu->busiest[i].peer.peer == A_BACKEND && pu->busiest[i].peer.addr == A_BK0 &&
		    pu->busiest[i].peer.peer_port == htons(5000) &&
		    pu->busiest[i].peer.proto == IPPROTO_UDP)
			return &pu->busiest[i];
	return NULL;
}

/* A UDP client port in the router's ephemeral range is never kept, so a
 * single client fills a 16-port range with kept ports and then runs out. */
static void test_port_exhaustion(void)
{
	int fd_exh = bpf_map__fd(skel->maps.port_exhausted);
	struct xm_config c = fixture_config();
	struct xm_port_peer k = {
		.peer = A_BACKEND,
		.addr = A_BK0,
		.peer_port = htons(5000),
		.proto = IPPROTO_UDP,
	};
	struct xm_port_exhausted v = { 0 };
	const struct xm_port_group *g;
	struct xm_port_use pu;
	struct timespec ts;
	char name[128];
	int kept = 0, rc;

	c.local_port_lo = LOCAL_PORT_LO;
	c.local_port_hi = LOCAL_PORT_HI;
	c.port_lo = TINY_PORT_LO;
	c.port_hi = TINY_PORT_HI;
	flows_clear();
	if (!tap_ok(fixture_set_config(&c) == 0, "ports: config with port-range %u-%u",
		    TINY_PORT_LO, TINY_PORT_HI))
		return;
	for (uint16_t p = TINY_PORT_LO; p <= TINY_PORT_HI; p++) {
		struct pkt_spec in = with_payload(client_spec(IPPROTO_UDP, p, 5000, 0), 4);
		struct frame_case fc = redirect_case("", 0, if_pub0, in, fwd_of(in, p, 5000));
		struct frame got;

		snprintf(name, sizeof(name), "ports: udp 192.0.2.10:%u -> :5000 keeps its port", p);
		fc.name = name;
		kept += frame_case_run(NULL, &fc, &got);
		if (p == TINY_PORT_LO + 12) {
			g = udp5000_group(&pu);
			tap_ok(g && pu.groups == 1 && g->in_use == 13 && g->in_range == 13 &&
				       g->capacity == 16 && g->share == 13.0 / 16 &&
				       pu.over_warn == 1,
			       "ports: 13 flows: the scan finds 1 group, 13 of 16 in use (81 %%, "
			       "above the warning) (groups %lu, in_use %u, in_range %u, capacity "
			       "%u, "
			       "over_warn %lu)",
			       pu.groups, g ? g->in_use : 0, g ? g->in_range : 0,
			       g ? g->capacity : 0, pu.over_warn);
		}
	}
	TAP_EQ(kept, 16, "ports: 16 flows keep their in-range client ports");
	{
		struct pkt_spec in = with_payload(client_spec(IPPROTO_UDP, 12000, 5000, 0), 4);

		run_frame_case(redirect_case("ports: udp 192.0.2.10:12000 (outside the range) "
					     "keeps its port",
					     0, if_pub0, in, fwd_of(in, 12000, 5000)));
	}
	for (int i = 0; i < 3; i++) {
		struct frame_case fc = {
			.name = "ports: udp 192.0.2.10:40000 (ephemeral: not kept) finds no free "
				"port: dropped",
			.ifindex = if_pub0,
			.in = F(with_payload(client_spec(IPPROTO_UDP, 40000, 5000, 0), 4)),
			.verdict = XDP_DROP,
			.out = OUT_ANY,
			.counts = { COUNTS(XM_C_DROP_NO_PORT, 1), COUNTS(XM_C_FLOW_NEW, 0) },
		};

		run_frame_case(fc);
	}
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	rc = bpf_map_lookup_elem(fd_exh, &k, &v);
	tap_ok(rc == 0 && v.drops == 3 && v.last_s <= (uint32_t)ts.tv_sec &&
		       v.last_s + 2 >= (uint32_t)ts.tv_sec,
	       "ports: port_exhausted {udp, backend:5000, via 198.18.0.1}: 3 drops, the last "
	       "now (drops %llu, last %u, now %u)",
	       (unsigned long long)v.drops, v.last_s, (unsigned)ts.tv_sec);
	g = udp5000_group(&pu);
	tap_ok(g && pu.groups == 1 && g->in_use == 17 && g->in_range == 16 && g->capacity == 16 &&
		       g->share == 1.0,
	       "ports: full: 16 of 16 in the range (100 %%), 17 in use with the kept port "
	       "outside it (in_use %u, in_range %u)",
	       g ? g->in_use : 0, g ? g->in_range : 0);

	/* keep-source flows hold no masquerade port: not counted */
	run_frame_case(redirect_case("ports: keep-source tcp SYN 192.0.2.10:12300 -> :8090", 0,
				     if_pub0, client_spec(IPPROTO_TCP, 12300, 8090, TCP_SYN),
				     spec_rewritten(client_spec(IPPROTO_TCP, 12300, 8090, TCP_SYN),
						    MAC_BACKEND, MAC_BK0, A_CLIENT, A_BACKEND,
						    12300, 90)));
	g = udp5000_group(&pu);
	TAP_EQ(pu.groups, 1, "ports: a keep-source flow makes no group");

	flows_clear();
	bpf_map_delete_elem(fd_exh, &k);
	set_config(0);
}

/* A forward `as` list whose first address is out of ports: a 2-port
 * range; rule RULE_UDP (no list) leaves from bk0's address and takes both
 * of its ports towards backend:5000, then the flows of a forward to the
 * same backend with `as` bk0's address,198.18.0.3 leave from 198.18.0.3
 * whichever address they picked (at random), and their replies come back;
 * with both addresses full the next flow is refused, counted once. Four
 * rounds (XDP, tc), so a pick that only happened to be right passes by
 * chance once in 256. */
#define RULE_AS	 4
#define A_BK0_AS IPV4(198, 18, 0, 3)

static void test_fwd_as_fallback(void)
{
	int fd_exh = bpf_map__fd(skel->maps.port_exhausted);
	struct xm_addr_set set = { .n = 2, .addr = { A_BK0, A_BK0_AS } };
	struct xm_rule_key rk = {
		.ifindex = (uint32_t)if_pub0,
		.dport = htons(6000),
		.proto = IPPROTO_UDP,
	};
	struct xm_port_peer pk = {
		.peer = A_BACKEND,
		.peer_port = htons(5000),
		.proto = IPPROTO_UDP,
	};
	struct xm_port_exhausted v;
	struct xm_config c = fixture_config();
	struct xm_rule_meta meta = { .in_use = 1, .addr_set = 2 };
	uint32_t sid = 2, id = RULE_AS;
	uint64_t drops = 0;
	char what[200];

	c.local_port_lo = LOCAL_PORT_LO;
	c.local_port_hi = LOCAL_PORT_HI;
	c.port_lo = TINY_PORT_LO;
	c.port_hi = TINY_PORT_LO + 1;
	c.flags |= XM_CFG_ADDR_SETS;
	if (!tap_ok(fixture_set_config(&c) == 0 &&
			    bpf_map_update_elem(bpf_map__fd(skel->maps.addr_sets), &sid, &set,
						BPF_ANY) == 0 &&
			    bpf_map_update_elem(bpf_map__fd(skel->maps.rule_meta), &id, &meta,
						BPF_ANY) == 0 &&
			    add_rule(RULE_AS, if_pub0, 0, 6000, IPPROTO_UDP, 0, A_BACKEND, 5000,
				     0) == 0,
		    "fwd as: ports %u-%u, pub0 udp 6000 -> backend:5000 as 198.18.0.1,198.18.0.3",
		    TINY_PORT_LO, TINY_PORT_LO + 1))
		goto out;
	for (int round = 0; round < 4; round++) {
		int tc = round & 1;
		const char *hook = tc ? "tc" : "XDP";
		uint16_t port[2];

		flows_clear();
		for (int i = 0; i < 2; i++) {
			uint16_t cport = (uint16_t)(40000 + 10 * round + i);
			struct pkt_spec in =
				with_payload(client_spec(IPPROTO_UDP, cport, 5000, 0), 4);

			snprintf(what, sizeof(what),
				 "fwd as %s round %d: udp :%u -> :5000 (no list) from 198.18.0.1",
				 hook, round, cport);
			port[i] = run_picking_port(what, tc, if_pub0, in, fwd_of(in, 0, 5000));
		}
		TAP_EQ(port[0] + port[1], 2 * TINY_PORT_LO + 1,
		       "fwd as %s round %d: 198.18.0.1's two ports are taken", hook, round);
		run_frame_case(with_count(
			drop_case("fwd as: a rule without a list has no other address: refused", tc,
				  if_pub0,
				  with_payload(client_spec(IPPROTO_UDP, 40009, 5000, 0), 4)),
			XM_C_DROP_NO_PORT, 1));
		for (int i = 0; i < 2; i++) {
			uint16_t cport = (uint16_t)(40002 + 10 * round + i);
			struct pkt_spec in = with_payload(client_spec(IPPROTO_UDP, cport, 6000, 0),
							  4),
					want = spec_rewritten(in, MAC_BACKEND, MAC_BK0, A_BK0_AS,
							      A_BACKEND, 0, 5000),
					r;

			snprintf(what, sizeof(what),
				 "fwd as %s round %d: udp :%u -> :6000 leaves from 198.18.0.3",
				 hook, round, cport);
			cnt_mark();
			port[i] = run_picking_port(what, tc, if_pub0, in, want);
			TAP_EQ(cnt_delta(XM_C_DROP_NO_PORT), 0, "%s: drop_no_port unchanged", what);
			r = with_payload(backend_spec(IPPROTO_UDP, 5000, port[i], 0), 6);
			r.daddr = A_BK0_AS;
			snprintf(what, sizeof(what),
				 "fwd as %s round %d: the reply to 198.18.0.3:%u comes back to :%u",
				 hook, round, port[i], cport);
			run_frame_case(redirect_case(what, tc, if_bk0, r,
						     rev_of(r, A_CLIENT, MAC_CLIENT, 6000, cport)));
		}
		TAP_EQ(port[0] + port[1], 2 * TINY_PORT_LO + 1,
		       "fwd as %s round %d: 198.18.0.3's two ports are taken", hook, round);
		snprintf(what, sizeof(what),
			 "fwd as %s round %d: with both addresses full a flow is refused", hook,
			 round);
		run_frame_case(with_count(
			with_count(drop_case(what, tc, if_pub0,
					     with_payload(client_spec(IPPROTO_UDP, 40008, 6000, 0),
							  4)),
				   XM_C_DROP_NO_PORT, 1),
			XM_C_FLOW_NEW, 0));
	}
	/* 4 refusals without a list under 198.18.0.1, 4 with it under the
	 * address each picked first */
	for (int i = 0; i < 2; i++) {
		pk.addr = set.addr[i];
		if (bpf_map_lookup_elem(fd_exh, &pk, &v) == 0)
			drops += v.drops;
	}
	TAP_EQ(drops, 8, "fwd as: port_exhausted counts each refused flow once");
out:
	for (int i = 0; i < 2; i++) {
		pk.addr = set.addr[i];
		bpf_map_delete_elem(fd_exh, &pk);
	}
	bpf_map_delete_elem(fd_rules, &rk);
	meta.in_use = 0;
	meta.addr_set = 0;
	bpf_map_update_elem(bpf_map__fd(skel->maps.rule_meta), &id, &meta, BPF_ANY);
	set_config(0);
	flows_clear();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_masq,
		test_masq_as,
		test_masq_echo,
		test_icmp_errors,
		test_masq_frags,
		test_keep_source,
		test_hairpin,
		test_nat_behaviour,
		test_pmtu,
		test_mtu_live,
		test_sweeper_unarmed,
		test_sweeper_armed, /* loads the program with an epoch */
		test_sweeper_boot,
		test_nat_inbound_refresh,
		test_sweeper_clock, /* loads it with walks far apart */
		test_port_capacity,
		test_port_exhaustion,
		test_fwd_as_fallback,
		NULL, /* the list's end: one entry a line */
	};
	static const struct fixture fx = {
		.netns_what = "private network namespace with pub0, bk0, lan0, pub1, routes and "
			      "neighbours",
		.netns = setup_netns,
		.maps_what = "config, ifaces, tx_ports, local_addrs, rules and masq_rules "
			     "populated",
		.maps = setup_base_maps,
		.tests = tests,
	};

	return fixture_main(&fx);
}
