// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness of the data plane: frames through xmasq_xdp and
 * xmasq_tc by BPF_PROG_TEST_RUN, on the real BPF object loaded as the
 * selftests load it (bpf_fixture.h), in a private network namespace with
 * a fixed small rule set: a forward, a forward of a port range, a
 * keep-source forward, a UDP forward and a masquerade.
 *
 * An input is up to MAX_RECORDS packets, run in order on a table emptied
 * first (so a SYN can open a flow its SYN-ACK then uses). Each packet is
 * either raw bytes, or one of the templates below (frames the selftests
 * build: both directions of each rule, ICMP errors, fragments, VLAN, IP
 * options) with up to 15 mutations (a byte set or flipped, truncation,
 * IHL, IP options inserted, TCP flags, fragment bits, VLAN tags added or
 * removed, tot_len, TTL, protocol, ICMP type, ports, the quoted header of
 * an ICMP error, addresses, doff), its checksums then made right again
 * unless the record says not to.
 *
 * Invariants checked on every packet:
 *  - the verdict is PASS, DROP or REDIRECT (XDP), OK, SHOT or REDIRECT (tc);
 *  - a passed frame is byte-identical to the input;
 *  - the counters add up: rx moves by one, and exactly one outcome counter
 *    (pass_*, drop_*, fwd_*, frag_needed_sent) by one, and it agrees with
 *    the verdict;
 *  - a redirected frame has IPv4, L4 (and for ICMP errors, quoted IPv4)
 *    checksums equal to a full recomputation whenever the input's were,
 *    and it belongs to a flow: the entry its input matched (by its tuple,
 *    its first fragment, or for an ICMP error the quoted tuple) rewrites
 *    to exactly the output's tuple. An ICMP frag-needed xmasq built has
 *    correct checksums whatever the input.
 *
 * The BPF program's coverage is invisible to libFuzzer: what each packet
 * did (program, outcome, notes such as flow_new, the flow's state) feeds
 * it through libFuzzer's extra counters.
 *
 * FUZZ_DATAPLANE_TRACE=1 prints each packet's outcome; FUZZ_DATAPLANE_COARSE=1
 * feeds libFuzzer only (outcome, template, hook), for -merge.
 * FUZZ_DATAPLANE_SEEDS=DIR writes the seed inputs (one per template and
 * the usual conversations) into DIR and exits.
 */
#include "bpf_fixture.h"
#include "pkt6.h"
#include <sys/stat.h>

/* ---- topology and rules ------------------------------------------------ */

static const uint8_t MAC_LAN0[6] = { 0x02, 0, 0, 0, 0x04, 0x01 };
static const uint8_t MAC_LAN10[6] = { 0x02, 0, 0, 0, 0x00, 0x30 };
static const uint8_t MAC_GW[6] = { 0x02, 0, 0, 0, 0x00, 0xfe };

#define A_LAN0	IPV4(198, 19, 0, 1)
#define A_LAN10 IPV4(198, 19, 0, 10)
#define A_GW	IPV4(192, 0, 2, 254)

enum {
	RULE_TCP = 1,
	RULE_UDP,
	RULE_KEEP,
	RULE_RANGE,
	RULE_TCP6,
	RULE_UDP6,
	RULE_TCP64,
	RULE_MASQ = 20
};

#define BK0_MTU 1000 /* frames longer go the too-big ways */
#define SLOTS	XM_CT_SLOTS(2048)

static int if_lan0;

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
	err |= sh("ip neigh add 198.19.0.10 lladdr 02:00:00:00:00:30 dev lan0 nud permanent");
	/* IPv6: client 2001:db8:1::10 on pub0, backend fd00:8::2 on bk0 */
	err |= sh("sysctl -qw net.ipv6.conf.all.forwarding=1");
	err |= sh("ip -6 addr add 2001:db8:1::1/64 dev pub0 nodad");
	err |= sh("ip -6 addr add fd00:8::1/64 dev bk0 nodad");
	err |= sh("ip -6 addr add fd00:19::1/64 dev lan0 nodad");
	err |= sh("ip -6 neigh add fd00:8::2 lladdr 02:00:00:00:00:02 dev bk0 nud permanent");
	err |= sh("ip -6 neigh add 2001:db8:1::10 lladdr 02:00:00:00:00:10 dev pub0 nud "
		  "permanent");
	if_lan0 = (int)if_nametoindex("lan0");
	return err || !if_lan0 ? -1 : 0;
}

static int small_table(void)
{
	bpf_map__set_max_entries(skel->maps.flows, SLOTS);
	skel->rodata->xm_ct_homes = SLOTS - (XM_CT_PROBES - 1);
	skel->rodata->xm_ct_seed = 0xf022;
	return 0;
}

/* IPv6 forwards: tcp 8080 and udp 5000 of pub0 to [fd00:8::2], and
 * xmasq_tc6 behind xmasq_tc. */
static int setup_maps6(void)
{
	uint32_t idx = XM_PROGS6_TC, prog = (uint32_t)bpf_program__fd(skel->progs.xmasq_tc6);
	struct xm_iface6 a0, a1;
	struct xm_rule6_key k = { .ifindex = (uint32_t)if_pub0, .proto = IPPROTO_TCP };
	struct xm_rule6_value v = { .rule_id = RULE_TCP6, .flags = XM_RULE_V6 };
	uint32_t s0 = 0, s1 = 1;
	int err = 0;

	inet_pton(AF_INET6, "2001:db8:1::1", a0.addr);
	inet_pton(AF_INET6, "fd00:8::1", a1.addr);
	inet_pton(AF_INET6, "fd00:8::2", v.to_addr);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.iface_addrs6), &s0, &a0, BPF_ANY);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.iface_addrs6), &s1, &a1, BPF_ANY);
	k.dport = htons(8080);
	v.to_port = htons(80);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.rules6), &k, &v, BPF_ANY);
	k.proto = IPPROTO_UDP;
	k.dport = htons(5000);
	v.to_port = htons(5000);
	v.rule_id = RULE_UDP6;
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.rules6), &k, &v, BPF_ANY);
	{ /* masquerade fd00:19::/64 out pub0 */
		struct xm_masq6_key mk = { .prefixlen = 32 + 64 };
		struct xm_masq_value mv = { .rule_id = RULE_MASQ,
					    .out_ifindex = (uint32_t)if_pub0 };

		inet_pton(AF_INET6, "fd00:19::", mk.saddr);
		err |= bpf_map_update_elem(bpf_map__fd(skel->maps.masq_rules6), &mk, &mv, BPF_ANY);
	}
	/* 6->4: pub0 tcp 8443 to 198.18.0.2:80 family ipv6 */
	k.proto = IPPROTO_TCP;
	k.dport = htons(8443);
	v.to_port = htons(80);
	v.rule_id = RULE_TCP64;
	v.flags = XM_RULE_V6 | XM_RULE_TO_V4;
	inet_pton(AF_INET6, "::ffff:198.18.0.2", v.to_addr);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.rules6), &k, &v, BPF_ANY);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.progs6), &idx, &prog, BPF_ANY);
	prog = (uint32_t)bpf_program__fd(skel->progs.xmasq_tc46);
	idx = XM_PROGS46_TC;
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.progs46), &idx, &prog, BPF_ANY);
	prog = (uint32_t)bpf_program__fd(skel->progs.xmasq_xdp6);
	idx = XM_PROGS6_XDP;
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.progs6_xdp), &idx, &prog, BPF_ANY);
	idx = XM_PROGS46_XDP;
	prog = (uint32_t)bpf_program__fd(skel->progs.xmasq_xdp46);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.progs6_xdp), &idx, &prog, BPF_ANY);
	idx = XM_PROGS6_NEW_XDP;
	prog = (uint32_t)bpf_program__fd(skel->progs.xmasq_xdp6_new);
	err |= bpf_map_update_elem(bpf_map__fd(skel->maps.progs6_xdp), &idx, &prog, BPF_ANY);
	return err;
}

static int setup_maps(void)
{
	struct xm_config c = fixture_config();
	struct xm_masq_key mk = { .prefixlen = 32 + 24, .gen = 0, .saddr = A_LAN0 & htonl(~0xffu) };
	struct xm_masq_value mv = { .rule_id = RULE_MASQ, .out_ifindex = (uint32_t)if_pub0 };
	uint32_t locals[3][2] = { { A_PUB0, (uint32_t)if_pub0 },
				  { A_BK0, (uint32_t)if_bk0 },
				  { A_LAN0, (uint32_t)if_lan0 } };
	int err = 0;

	c.ct_max = XM_CT_FLOWS_OF(SLOTS);
	c.ct_seed = skel->rodata->xm_ct_seed;
	c.local_port_lo = 32768;
	c.local_port_hi = 60999;
	err |= fixture_set_config(&c);
	err |= fixture_iface(if_pub0, A_PUB0, MAC_PUB0, 0, 0);
	err |= fixture_iface(if_bk0, A_BK0, MAC_BK0, 1, BK0_MTU);
	err |= fixture_iface(if_lan0, A_LAN0, MAC_LAN0, 2, 0);
	for (int i = 0; i < 3; i++)
		err |= bpf_map_update_elem(fd_local_addrs, &locals[i][0], &locals[i][1], BPF_ANY);
	err |= add_rule(RULE_TCP, if_pub0, 0, 8080, IPPROTO_TCP, 0, A_BACKEND, 80, 0);
	err |= add_rule(RULE_UDP, if_pub0, 0, 5000, IPPROTO_UDP, 0, A_BACKEND, 5000, 0);
	err |= add_rule(RULE_KEEP, if_pub0, 0, 8090, IPPROTO_TCP, 0, A_BACKEND, 90,
			XM_RULE_KEEP_SOURCE);
	for (uint16_t p = 6000; p <= 6009; p++)
		err |= add_rule(RULE_RANGE, if_pub0, 0, p, IPPROTO_TCP, 0, A_BACKEND,
				(uint16_t)(p + 1000), 0);
	err |= bpf_map_update_elem(fd_masq_rules, &mk, &mv, BPF_ANY);
	err |= setup_maps6();
	return err ? -1 : 0;
}

/* ---- templates --------------------------------------------------------- */

static int ifindex_of[4];
#define IN_PUB0 0
#define IN_BK0	1
#define IN_LAN0 2
#define IN_PUB1 3

/* An ICMP error from smac/saddr to dmac/daddr quoting the first 28 bytes
 * (IPv4 header + 8) of the packet `quoted`. */
static struct frame icmp_error(const uint8_t *smac, uint32_t saddr, const uint8_t *dmac,
			       uint32_t daddr, uint8_t type, uint8_t code, uint32_t rest,
			       struct pkt_spec quoted)
{
	static uint8_t msg[8 + 28];
	struct frame q = F(quoted);
	struct pkt_view v = pkt_view(q.b, q.len);
	struct pkt_spec s = spec_between(IPPROTO_ICMP, smac, saddr, 0, dmac, daddr, 0, 0);

	s.raw_l4 = 1;
	s.payload = msg;
	s.plen = pkt_icmp_msg(msg, sizeof(msg), type, code, rest, q.b + v.l3, 28);
	return F(s);
}

struct template
{
	const char *name;
	int in; /* IN_* */
	struct frame f;
};

#define NTEMPLATES 38
static struct template templates[NTEMPLATES];

static void build_templates(void)
{
	struct pkt_spec lan_udp = spec_between(IPPROTO_UDP, MAC_LAN10, A_LAN10, 23000, MAC_LAN0,
					       A_CLIENT, 53, 0),
			lan_tcp = spec_between(IPPROTO_TCP, MAC_LAN10, A_LAN10, 33001, MAC_LAN0,
					       A_CLIENT, 443, TCP_SYN),
			lan_echo = spec_between(IPPROTO_ICMP, MAC_LAN10, A_LAN10, 0x77, MAC_LAN0,
						A_CLIENT, 0, 0),
			fwd_udp = fwd_of(client_spec(IPPROTO_UDP, 21000, 5000, 0), 21000, 5000),
			out_tcp = spec_between(IPPROTO_TCP, MAC_PUB0, A_PUB0, 33001, MAC_GW,
					       A_CLIENT, 443, TCP_SYN);
	struct udp_fragments fr;
	struct pkt_spec echo_reply =
		spec_between(IPPROTO_ICMP, MAC_CLIENT, A_CLIENT, 0x77, MAC_PUB0, A_PUB0, 0, 0);
	int i = 0;

	echo_reply.echo_reply = 1;
	udp_fragments(&fr, with_payload(client_spec(IPPROTO_UDP, 21002, 5000, 0), 40),
		      with_payload(client_spec(IPPROTO_UDP, 21002, 5000, 0), 40), 0x5151);
#define T(n, i_, fr_) templates[i++] = (struct template){ n, i_, fr_ }
	T("client tcp SYN to the forward", IN_PUB0,
	  F(client_spec(IPPROTO_TCP, 40000, 8080, TCP_SYN)));
	T("client tcp ACK with data", IN_PUB0,
	  F(with_payload(client_spec(IPPROTO_TCP, 40000, 8080, TCP_ACK | TCP_PSH), 41)));
	T("backend tcp SYN-ACK", IN_BK0,
	  F(backend_spec(IPPROTO_TCP, 80, 40000, TCP_SYN | TCP_ACK)));
	T("backend tcp ACK with data", IN_BK0,
	  F(with_payload(backend_spec(IPPROTO_TCP, 80, 40000, TCP_ACK | TCP_PSH), 30)));
	T("client tcp FIN-ACK", IN_PUB0,
	  F(client_spec(IPPROTO_TCP, 40000, 8080, TCP_FIN | TCP_ACK)));
	T("client tcp RST", IN_PUB0, F(client_spec(IPPROTO_TCP, 40000, 8080, TCP_RST)));
	T("client udp to the forward", IN_PUB0,
	  F(with_payload(client_spec(IPPROTO_UDP, 21000, 5000, 0), 20)));
	T("backend udp reply", IN_BK0,
	  F(with_payload(backend_spec(IPPROTO_UDP, 5000, 21000, 0), 20)));
	T("client tcp SYN keep-source", IN_PUB0, F(client_spec(IPPROTO_TCP, 40001, 8090, TCP_SYN)));
	T("backend SYN-ACK keep-source", IN_BK0,
	  F(spec_between(IPPROTO_TCP, MAC_BACKEND, A_BACKEND, 90, MAC_BK0, A_CLIENT, 40001,
			 TCP_SYN | TCP_ACK)));
	T("client tcp SYN to the range", IN_PUB0,
	  F(client_spec(IPPROTO_TCP, 40002, 6005, TCP_SYN)));
	T("lan udp masqueraded", IN_LAN0, F(with_payload(lan_udp, 12)));
	T("outside udp reply to the masquerade", IN_PUB0,
	  F(spec_between(IPPROTO_UDP, MAC_GW, A_CLIENT, 53, MAC_PUB0, A_PUB0, 23000, 0)));
	T("lan tcp SYN masqueraded", IN_LAN0, F(lan_tcp));
	T("lan icmp echo masqueraded", IN_LAN0, F(lan_echo));
	T("outside icmp echo reply", IN_PUB0, F(echo_reply));
	T("backend icmp port unreachable about the udp forward", IN_BK0,
	  icmp_error(MAC_BACKEND, A_BACKEND, MAC_BK0, A_BK0, 3, 3, 0, fwd_udp));
	T("gateway frag-needed about the masqueraded tcp", IN_PUB0,
	  icmp_error(MAC_GW, A_GW, MAC_PUB0, A_PUB0, 3, 4, 576, out_tcp));
	T("client udp first fragment", IN_PUB0, F(fr.first));
	T("client udp later fragment", IN_PUB0, F(fr.later));
	T("client tcp SYN tagged", IN_PUB0,
	  F(with_tag(client_spec(IPPROTO_TCP, 40003, 8080, TCP_SYN), 100)));
	{
		struct pkt_spec s = client_spec(IPPROTO_TCP, 40004, 8080, TCP_SYN);

		s.nopts = 3;
		T("client tcp SYN with IP options", IN_PUB0, F(s));
	}
	T("client icmp echo to the router", IN_PUB0,
	  F(spec_between(IPPROTO_ICMP, MAC_CLIENT, A_CLIENT, 9, MAC_PUB0, A_PUB0, 0, 0)));
	T("lan tcp SYN hairpin to the forward", IN_LAN0,
	  F(spec_between(IPPROTO_TCP, MAC_LAN10, A_LAN10, 33002, MAC_LAN0, A_PUB0, 8080, TCP_SYN)));
	T("client udp to the forward, 1100 bytes (over bk0's MTU)", IN_PUB0,
	  F(with_payload(client_spec(IPPROTO_UDP, 21001, 5000, 0), 0)));
	T("peer tcp SYN on an unmanaged NIC", IN_PUB1,
	  F(spec_between(IPPROTO_TCP, MAC_CLIENT, A_PUB1_PEER, 40005, MAC_PUB0, A_PUB0, 8080,
			 TCP_SYN)));
	{
		struct spec6 c6 = { .src = A6("2001:db8:1::10"),
				    .dst = A6("2001:db8:1::1"),
				    .proto = IPPROTO_TCP,
				    .hop = 64,
				    .tcp_flags = TCP_SYN,
				    .sport = 20000,
				    .dport = 8080,
				    .payload = 0 };
		struct spec6 b6 = { .src = A6("fd00:8::2"),
				    .dst = A6("fd00:8::1"),
				    .proto = IPPROTO_TCP,
				    .hop = 64,
				    .tcp_flags = TCP_SYN | TCP_ACK,
				    .sport = 80,
				    .dport = 20000,
				    .payload = 0 };

		memcpy(c6.dmac, MAC_PUB0, 6);
		memcpy(c6.smac, MAC_CLIENT, 6);
		memcpy(b6.dmac, MAC_BK0, 6);
		memcpy(b6.smac, MAC_BACKEND, 6);
		T("client tcp6 SYN to the IPv6 forward", IN_PUB0, F6(c6));
		T("backend tcp6 SYN-ACK", IN_BK0, F6(b6));
		c6.proto = IPPROTO_UDP;
		c6.dport = 5000;
		c6.payload = 20;
		T("client udp6 to the IPv6 forward", IN_PUB0, F6(c6));
		c6.payload = 1100;
		T("client udp6 to the IPv6 forward, 1100 bytes (over bk0's MTU)", IN_PUB0, F6(c6));
		c6.src = A6("fd00:19::10");
		c6.dst = A6("2001:db8:1::10");
		memcpy(c6.dmac, MAC_LAN0, 6);
		memcpy(c6.smac, MAC_LAN10, 6);
		c6.proto = 58;
		c6.sport = c6.dport = 0x77;
		c6.payload = 16;
		T("lan icmp6 echo masqueraded", IN_LAN0, F6(c6));
		c6.proto = IPPROTO_TCP;
		c6.tcp_flags = TCP_SYN;
		c6.sport = 33003;
		c6.dport = 443;
		c6.payload = 0;
		T("lan tcp6 SYN masqueraded", IN_LAN0, F6(c6));
		/* 6->4, its reply; an ICMPv6 error about the IPv6 forward; a
		 * destination options header; a datagram in two fragments */
		c6.src = A6("2001:db8:1::10");
		c6.dst = A6("2001:db8:1::1");
		memcpy(c6.dmac, MAC_PUB0, 6);
		memcpy(c6.smac, MAC_CLIENT, 6);
		c6.sport = 20100;
		c6.dport = 8443;
		T("client tcp6 SYN to the 6->4 forward", IN_PUB0, F6(c6));
		T("backend tcp SYN-ACK to the 6->4 client", IN_BK0,
		  F(spec_between(IPPROTO_TCP, MAC_BACKEND, A_BACKEND, 80, MAC_BK0, A_BK0, 20100,
				 TCP_SYN | TCP_ACK)));
		{
			struct spec6 sent = b6;
			struct frame q, e;

			sent.src = A6("fd00:8::1");
			sent.dst = A6("fd00:8::2");
			sent.sport = 20000;
			sent.dport = 80;
			sent.tcp_flags = TCP_ACK;
			sent.payload = 1300;
			q = F6(sent);
			sent.src = A6("fd00:8::99");
			sent.dst = A6("fd00:8::1");
			sent.proto = 58;
			sent.icmp_type = 2;
			sent.payload = 0;
			e = F6(sent); /* the header; the message built below */
			e.b[14 + 40] = 2;
			e.b[14 + 40 + 1] = 0;
			memset(e.b + 14 + 44, 0, 4);
			e.b[14 + 46] = 0x05; /* MTU 1280 */
			memcpy(e.b + 14 + 48, q.b + 14, 40 + 20);
			e.b[14 + 4] = 0;
			e.b[14 + 5] = 8 + 60;
			e.len = 14 + 40 + 8 + 60;
			{
				uint16_t c = l4_csum6(e.b + 14, 68, 58, 2);

				e.b[14 + 42] = (uint8_t)(c >> 8);
				e.b[14 + 43] = (uint8_t)c;
			}
			T("router icmp6 packet too big about the IPv6 forward", IN_BK0, e);
		}
		c6.proto = IPPROTO_UDP;
		c6.sport = 21005;
		c6.dport = 5000;
		c6.payload = 40;
		{
			struct frame u = F6(c6), d = u, f1 = u, f2 = u;
			uint8_t *ip = d.b + 14;

			/* destination options (PadN) between the header and UDP */
			memmove(ip + 48, ip + 40, u.len - 54);
			memcpy(ip + 40, (const uint8_t[8]){ IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0 }, 8);
			ip[6] = 60;
			ip[5] += 8;
			d.len += 8;
			T("client udp6 with destination options", IN_PUB0, d);
			/* fragments: 16 and 32 bytes of the 48 bytes of UDP */
			for (int n = 0; n < 2; n++) {
				struct frame *f = n ? &f2 : &f1;
				size_t from = n ? 16 : 0, len = n ? 32 : 16;

				ip = f->b + 14;
				memcpy(ip + 48, u.b + 54 + from, len);
				memcpy(ip + 40,
				       (const uint8_t[8]){ IPPROTO_UDP, 0, 0, (uint8_t)(from | !n),
							   0, 0, 0x52, 0x52 },
				       8);
				ip[6] = 44;
				ip[4] = 0;
				ip[5] = (uint8_t)(8 + len);
				f->len = 54 + 8 + len;
			}
			T("client udp6 first fragment", IN_PUB0, f1);
			T("client udp6 later fragment", IN_PUB0, f2);
		}
	}
#undef T
	/* The big one: 1100 bytes of UDP payload, DF set. */
	{
		static uint8_t big[1100];
		struct pkt_spec s = client_spec(IPPROTO_UDP, 21001, 5000, 0);

		memset(big, 0xab, sizeof(big));
		s.payload = big;
		s.plen = sizeof(big);
		s.frag = 0x4000;
		templates[24].f = F(s);
	}
	if (i != NTEMPLATES)
		abort();
}

/* ---- frame editing ----------------------------------------------------- */

#define FRAME_CAP 1600

struct layout {
	size_t l3, l4; /* 0: absent */
	int has_ip;
};

static struct layout layout_of(const struct frame *f)
{
	struct layout o = { 0 };
	size_t off = 12;

	if (f->len < 14)
		return o;
	if (pkt_get16(f->b + 12) == 0x8100 || pkt_get16(f->b + 12) == 0x88a8)
		off = 16;
	if (f->len < off + 2 + 20 || pkt_get16(f->b + off) != 0x0800)
		return o;
	o.l3 = off + 2;
	o.l4 = o.l3 + (size_t)(f->b[o.l3] & 0x0f) * 4;
	o.has_ip = 1;
	return o;
}

static void insert_bytes(struct frame *f, size_t at, const uint8_t *b, size_t n)
{
	if (at > f->len || f->len + n > FRAME_CAP)
		return;
	memmove(f->b + at + n, f->b + at, f->len - at);
	memcpy(f->b + at, b, n);
	f->len += n;
}

static void remove_bytes(struct frame *f, size_t at, size_t n)
{
	if (at + n > f->len)
		return;
	memmove(f->b + at, f->b + at + n, f->len - at - n);
	f->len -= n;
}

enum {
	M_SET,
	M_XOR,
	M_TRUNC,
	M_IHL,
	M_OPTIONS,
	M_TCP_FLAGS,
	M_FRAG,
	M_VLAN_ADD,
	M_VLAN_DEL,
	M_TOT_LEN,
	M_GROW,
	M_TTL,
	M_PROTO,
	M_ICMP_TYPE,
	M_PORT,
	M_QUOTED,
	M_ADDR,
	M_DOFF,
	M_MAX
};

static void mutate(struct frame *f, const uint8_t m[4])
{
	struct layout o = layout_of(f);
	uint8_t op = m[0] % M_MAX, a = m[1], b = m[2], c = m[3];
	uint8_t *ip = o.has_ip ? f->b + o.l3 : NULL;
	size_t at = ((size_t)a << 8 | b);

	switch (op) {
	case M_SET:
		if (f->len)
			f->b[at % f->len] = c;
		break;
	case M_XOR:
		if (f->len)
			f->b[at % f->len] ^= c ? c : 1;
		break;
	case M_TRUNC:
		f->len = at % (f->len + 1);
		break;
	case M_IHL:
		if (ip)
			ip[0] = (a & 1) ? c : (uint8_t)(0x40 | (c & 0x0f));
		break;
	case M_OPTIONS:
		if (ip) {
			uint8_t opt[40];
			size_t words = c % 11, ihl = (ip[0] & 0x0f) * 4u;

			memset(opt, (a & 1) ? 1 : a, sizeof(opt)); /* NOPs, or garbage */
			if (words == 0 || ihl + words * 4 > 60 || o.l3 + ihl > f->len)
				break;
			insert_bytes(f, o.l3 + ihl, opt, words * 4);
			ip = f->b + o.l3;
			ip[0] = (uint8_t)((ip[0] & 0xf0) | ((ihl + words * 4) / 4));
			pkt_put16(ip + 2, (uint16_t)(pkt_get16(ip + 2) + words * 4));
		}
		break;
	case M_TCP_FLAGS:
		if (o.l4 + 14 <= f->len)
			f->b[o.l4 + 13] = c;
		break;
	case M_FRAG:
		if (ip)
			pkt_put16(ip + 6, (uint16_t)(b << 8 | c));
		break;
	case M_VLAN_ADD: {
		uint8_t tag[4] = { (a & 1) ? 0x88 : 0x81, (a & 1) ? 0xa8 : 0x00, b, c };

		if (f->len >= 12)
			insert_bytes(f, 12, tag, 4);
		break;
	}
	case M_VLAN_DEL:
		if (f->len >= 16 &&
		    (pkt_get16(f->b + 12) == 0x8100 || pkt_get16(f->b + 12) == 0x88a8))
			remove_bytes(f, 12, 4);
		break;
	case M_TOT_LEN:
		if (ip)
			pkt_put16(ip + 2, (uint16_t)(b << 8 | c));
		break;
	case M_GROW: {
		uint8_t fill[256];
		size_t n = (size_t)c * ((b & 3) + 1);

		memset(fill, a, sizeof(fill));
		while (n && f->len < FRAME_CAP) {
			size_t k = n < sizeof(fill) ? n : sizeof(fill);

			if (f->len + k > FRAME_CAP)
				k = FRAME_CAP - f->len;
			insert_bytes(f, f->len, fill, k);
			n -= k;
			if (ip && (b & 4))
				pkt_put16(ip + 2, (uint16_t)(pkt_get16(ip + 2) + k));
		}
		break;
	}
	case M_TTL:
		if (ip)
			ip[8] = c;
		break;
	case M_PROTO:
		if (ip)
			ip[9] = (a & 1) ? c : (uint8_t[]){ 1, 6, 17, 47 }[c & 3];
		break;
	case M_ICMP_TYPE:
		if (o.l4 + 2 <= f->len) {
			f->b[o.l4] = (a & 1) ? b : (uint8_t[]){ 0, 3, 8, 11, 12, 5, 4, 13 }[b & 7];
			f->b[o.l4 + 1] = c;
		}
		break;
	case M_PORT:
		if (o.l4 + 8 <= f->len)
			pkt_put16(f->b + o.l4 + (a & 3) * 2, (uint16_t)(b << 8 | c));
		break;
	case M_QUOTED:
		if (o.l4 + 8 + (a % 48) < f->len)
			f->b[o.l4 + 8 + (a % 48)] = c;
		break;
	case M_ADDR:
		if (ip)
			ip[12 + a % 8] = c;
		break;
	case M_DOFF:
		if (o.l4 + 13 <= f->len)
			f->b[o.l4 + 12] = c;
		break;
	}
}

/* Makes the IPv4 header checksum, the L4 one (not for fragments) and an
 * ICMP error's quoted header checksum right again, where the frame holds
 * them. */
static void fix_csums(struct frame *f)
{
	struct pkt_view v = pkt_view(f->b, f->len);
	uint8_t *ip;
	size_t ihl;

	if (f->len < v.l3 + 20 || !v.l3)
		return;
	ip = f->b + v.l3;
	ihl = (ip[0] & 0x0f) * 4u;
	if (ihl < 20 || v.l3 + ihl > f->len)
		return;
	pkt_put16(ip + 10, pkt_ip_csum(ip));
	if (!v.ok || (pkt_get16(ip + 6) & 0x3fff))
		return;
	if (v.proto == IPPROTO_ICMP && v.l4len >= 8 + 20) {
		uint8_t *in = f->b + v.l4 + 8;
		size_t in_ihl = (in[0] & 0x0f) * 4u;

		if (in_ihl >= 20 && in_ihl <= v.l4len - 8u)
			pkt_put16(in + 10, pkt_ip_csum(in));
	}
	if (v.proto == IPPROTO_TCP && v.l4len >= 20)
		pkt_put16(f->b + v.l4 + 16, pkt_l4_csum(ip, f->b + v.l4, v.l4len, 16));
	else if (v.proto == IPPROTO_UDP && v.l4len >= 8 && pkt_get16(f->b + v.l4 + 6)) {
		uint16_t cs = pkt_l4_csum(ip, f->b + v.l4, v.l4len, 6);

		pkt_put16(f->b + v.l4 + 6, cs ? cs : 0xffff);
	} else if (v.proto == IPPROTO_ICMP && v.l4len >= 4)
		pkt_put16(f->b + v.l4 + 2, pkt_l4_csum(ip, f->b + v.l4, v.l4len, 2));
}

/* ---- decoding an input ------------------------------------------------- */

#define MAX_RECORDS 8
#define R_TC	    0x01
#define R_IN_SHIFT  1
#define R_RAW	    0x08
#define R_NO_FIX    0x10

struct record {
	int tc, in;
	struct frame f;
	int tmpl; /* -1: raw */
};

/* The next record from *p, or 0 at the end. */
static int next_record(const uint8_t **p, const uint8_t *end, struct record *r)
{
	const uint8_t *s = *p;
	uint8_t h;

	if (s >= end)
		return 0;
	h = *s++;
	memset(&r->f, 0, sizeof(r->f));
	r->tc = h & R_TC;
	r->in = (h >> R_IN_SHIFT) & 3;
	if (h & R_RAW) {
		size_t n;

		if (end - s < 2)
			return 0;
		n = (size_t)(s[0] << 8 | s[1]) % (FRAME_CAP + 1);
		s += 2;
		if (n > (size_t)(end - s))
			n = (size_t)(end - s);
		memcpy(r->f.b, s, n);
		r->f.len = n;
		r->tmpl = -1;
		*p = s + n;
		return 1;
	}
	if (end - s < 2)
		return 0;
	r->tmpl = s[0] % NTEMPLATES;
	r->f = templates[r->tmpl].f;
	for (unsigned m = s[1] % 16, k = 0; k < m; k++) {
		if (end - (s + 2) < 4 * (long)(k + 1))
			break;
		mutate(&r->f, s + 2 + 4 * k);
	}
	s += 2 + 4 * (size_t)(s[1] % 16);
	if (s > end)
		s = end;
	if (!(h & R_NO_FIX))
		fix_csums(&r->f);
	*p = s;
	return 1;
}

/* ---- checks ------------------------------------------------------------ */

static int trace; /* FUZZ_DATAPLANE_TRACE: each packet's outcome on stderr */
static const uint8_t *cur_data;
static size_t cur_len;
static int cur_index;

__attribute__((format(printf, 3, 4))) static void
fail(const struct record *r, const struct frame *out, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fuzz_dataplane: packet %d (%s, %s, template %d %s): %s\n", cur_index,
		r->tc ? "tc" : "XDP", (const char *[]){ "pub0", "bk0", "lan0", "pub1" }[r->in],
		r->tmpl, r->tmpl >= 0 ? templates[r->tmpl].name : "raw", buf);
	pkt_hex("input frame", r->f.b, r->f.len, diag_fmt);
	if (out)
		pkt_hex("output frame", out->b, out->len, diag_fmt);
	fflush(stdout);
	abort();
}

/* Outcome counters: every packet a program sees is counted in exactly one
 * (as well as in rx); the others (flow_new, icmp_error, frag_later, ...)
 * are notes about a packet already counted, or not about packets. */
static int outcome_kind[XM_C_MAX]; /* 0 note, 1 pass, 2 drop, 3 sent */

static void classify_counters(void)
{
	for (int i = 0; i < XM_C_MAX; i++) {
		const char *n = counter_names[i];

		outcome_kind[i] = !strncmp(n, "pass_", 5)	 ? 1 :
				  !strncmp(n, "drop_", 5)	 ? 2 :
				  !strncmp(n, "fwd_", 4)	 ? 3 :
				  !strcmp(n, "frag_needed_sent") ? 3 :
								   0;
	}
}

static void counters_now(uint64_t out[XM_C_MAX])
{
	static struct xm_counter vals[XM_C_MAX * 256];
	static uint32_t keys[XM_C_MAX];
	uint32_t count = XM_C_MAX, out_batch;
	LIBBPF_OPTS(bpf_map_batch_opts, o);

	if (ncpus > 256 ||
	    bpf_map_lookup_batch(fd_counters, NULL, &out_batch, keys, vals, &count, &o) ||
	    count != XM_C_MAX) {
		counters_read(out);
		return;
	}
	for (uint32_t i = 0; i < count; i++) {
		out[keys[i]] = 0;
		for (int c = 0; c < ncpus; c++)
			out[keys[i]] += vals[i * ncpus + c].packets;
	}
}

/* The tuple of a frame's packet as the data plane keys it: for ICMP echo
 * the id as both ports. ok 0 when it has none we can read. */
struct tuple {
	int ok;
	struct xm_flow_key k;
};

static struct tuple tuple_at(const uint8_t *ip, size_t avail)
{
	struct tuple t = { 0 };
	size_t ihl;
	const uint8_t *l4;

	if (avail < 20)
		return t;
	ihl = (ip[0] & 0x0f) * 4u;
	/* the ports (4 bytes) or the echo's id (8): what an ICMP error's
	 * quote needs to be about a flow, as for the kernel's NAT */
	if (ihl < 20 || avail < ihl + (ip[9] == IPPROTO_ICMP ? 8 : 4))
		return t;
	l4 = ip + ihl;
	memcpy(&t.k.saddr, ip + 12, 4);
	memcpy(&t.k.daddr, ip + 16, 4);
	t.k.proto = ip[9];
	if (ip[9] == IPPROTO_TCP || ip[9] == IPPROTO_UDP) {
		memcpy(&t.k.sport, l4, 2);
		memcpy(&t.k.dport, l4 + 2, 2);
	} else if (ip[9] == IPPROTO_ICMP) {
		memcpy(&t.k.sport, l4 + 4, 2);
		t.k.dport = t.k.sport;
	} else {
		return t;
	}
	t.ok = 1;
	return t;
}

static void check_flow_of(const struct record *r, const struct frame *out)
{
	struct pkt_view vi = pkt_view(r->f.b, r->f.len), vo = pkt_view(out->b, out->len);
	const uint8_t *ip = r->f.b + vi.l3;
	struct xm_ct_slot *s;
	struct tuple ti, to;
	uint16_t fo;

	if (!vo.ok || vi.l3 == 0 || r->f.len < vi.l3 + 20)
		fail(r, out, "redirected frame without a readable IPv4 packet");
	fo = pkt_get16(ip + 6);
	if (fo & 0x1fff) { /* a later fragment: its first fragment's flow */
		struct xm_frag_key fk = { .ip_id = 0, .proto = ip[9] };
		struct xm_frag_value fv;
		uint32_t osrc, odst;

		memcpy(&fk.saddr, ip + 12, 4);
		memcpy(&fk.daddr, ip + 16, 4);
		memcpy(&fk.ip_id, ip + 4, 2);
		if (bpf_map_lookup_elem(fd_frags, &fk, &fv))
			fail(r, out, "later fragment redirected without a first fragment recorded");
		s = xm_ct_lookup(&ct_tab, &fv.flow);
		if (!s)
			fail(r, out,
			     "later fragment redirected, its first fragment's flow is gone");
		memcpy(&osrc, out->b + vo.l3 + 12, 4);
		memcpy(&odst, out->b + vo.l3 + 16, 4);
		if (osrc != s->flow.new_saddr || odst != s->flow.new_daddr)
			fail(r, out, "later fragment's addresses are not its flow's");
		return;
	}
	ti = tuple_at(ip, r->f.len - vi.l3);
	if (ti.ok) { /* a 6->4 flow's stub: the flow and its rewrite are in flows6 */
		s = xm_ct_lookup(&ct_tab, &ti.k);
		if (s && s->flow.out_slot == XM_SLOT_IPV6_FLOW)
			return;
	}
	if (ip[9] == IPPROTO_ICMP && vi.l4len >= 8 + 24 && ti.ok && r->f.b[vi.l4] != 0 &&
	    r->f.b[vi.l4] != 8) {
		/* An ICMP error: the entry of a reply to the quoted packet,
		 * whose quote ends with the datagram (not the frame's padding) */
		struct tuple q = tuple_at(r->f.b + vi.l4 + 8, vi.l4len - 8), qo;
		struct xm_flow_key k;

		if (!q.ok)
			fail(r, out, "ICMP error redirected, its quote unreadable");
		k = (struct xm_flow_key){ .saddr = q.k.daddr,
					  .daddr = q.k.saddr,
					  .sport = q.k.dport,
					  .dport = q.k.sport,
					  .proto = q.k.proto };
		if (q.k.proto == IPPROTO_ICMP)
			k.sport = k.dport = q.k.sport;
		s = xm_ct_lookup(&ct_tab, &k);
		if (!s)
			fail(r, out, "ICMP error redirected about no flow");
		if (vo.proto != IPPROTO_ICMP || vo.l4len < 8 + 24)
			fail(r, out, "ICMP error redirected as something else");
		qo = tuple_at(out->b + vo.l4 + 8, vo.l4len - 8);
		if (!qo.ok || qo.k.saddr != s->flow.new_daddr || qo.k.daddr != s->flow.new_saddr ||
		    (q.k.proto != IPPROTO_ICMP &&
		     (qo.k.sport != s->flow.new_dport || qo.k.dport != s->flow.new_sport)))
			fail(r, out, "translated ICMP error quotes a tuple its flow does not make");
		return;
	}
	if (!ti.ok)
		fail(r, out, "redirected a packet without ports");
	s = xm_ct_lookup(&ct_tab, &ti.k);
	if (!s)
		fail(r, out, "redirected a packet of no flow");
	to = tuple_at(out->b + vo.l3, out->len - vo.l3);
	if (!to.ok || to.k.saddr != s->flow.new_saddr || to.k.daddr != s->flow.new_daddr ||
	    to.k.sport != s->flow.new_sport || to.k.proto != ti.k.proto ||
	    (ti.k.proto != IPPROTO_ICMP && to.k.dport != s->flow.new_dport))
		fail(r, out, "output tuple is not what its flow rewrites to");
}

/* Whether a frame's checksums are right: IPv4 header, and L4 when the
 * frame holds the whole segment (no fragment); UDP 0 counts as right. */
struct csum_state {
	int ip, l4, inner_ip, udp_zero;
};

static struct csum_state csum_state(const struct frame *f)
{
	struct csum_state st = { 0 };
	struct pkt_view v = pkt_view(f->b, f->len);
	const uint8_t *ip = f->b + v.l3;
	struct pkt_csums c;

	if (!v.ok || (ip[0] & 0x0f) < 5)
		return st;
	st.ip = pkt_ip_csum(ip) == pkt_get16(ip + 10);
	if (pkt_get16(ip + 6) & 0x3fff)
		return st;
	c = pkt_check_csums(f->b, f->len);
	if (c.ok) {
		st.udp_zero = v.proto == IPPROTO_UDP && c.l4_got == 0;
		st.l4 = c.l4_got == c.l4_want;
	}
	if (v.proto == IPPROTO_ICMP) {
		struct pkt_icmperr_csums e = pkt_check_icmperr(f->b, f->len);

		st.inner_ip = e.ok && e.in_ip_got == e.in_ip_want;
	}
	return st;
}

/* 1 when frame f is IPv6 (after any tag-free Ethernet header). */
static int is_ipv6(const struct frame *f)
{
	return f->len >= 14 + 40 && f->b[12] == 0x86 && f->b[13] == 0xdd;
}

/* A family changed on the way (6->4): the output's own IP header
 * checksum is right, and its L4 checksum when the input's was. */
static void check_xlat(const struct record *r, const struct frame *out)
{
	if (is_ipv6(out)) {
		struct pkt6_icmp_csum c = pkt6_icmp_csum(out);
		struct csum_state in = csum_state(&r->f);

		if (c.ok ? c.got != c.want : in.l4 && !in.udp_zero && pkt6_csum_ok(out) == 0)
			fail(r, out, "IPv6 checksum wrong after translation from IPv4");
	} else {
		struct csum_state o = csum_state(out);
		struct pkt_view v = pkt_view(out->b, out->len);

		if (!o.ip)
			fail(r, out, "IPv4 header checksum wrong after translation from IPv6");
		if (v.proto == IPPROTO_ICMP ? !o.inner_ip : pkt6_csum_ok(&r->f) == 1 && !o.l4)
			fail(r, out, "checksum wrong after translation from IPv6");
	}
}

/* Whether out starts elsewhere in the datagram than in did: xmasq sent in
 * in two fragments (too big without DF, xm_tc_split4), and the run's own
 * frame is the second, which has no L4 header to check. */
static int split_of(const struct frame *in, const struct frame *out)
{
	struct pkt_view vi = pkt_view(in->b, in->len), vo = pkt_view(out->b, out->len);

	return vi.ok && vo.ok &&
	       (pkt_get16(in->b + vi.l3 + 6) & 0x1fff) != (pkt_get16(out->b + vo.l3 + 6) & 0x1fff);
}

static void check_sent(const struct record *r, const struct frame *out, int built)
{
	struct csum_state in = csum_state(&r->f), o = csum_state(out);

	if (is_ipv6(&r->f) != is_ipv6(out)) {
		check_xlat(r, out);
		return;
	}
	if (is_ipv6(&r->f)) { /* IPv6 (xmasq_tc6, xmasq_xdp6) */
		struct pkt6_icmp_csum c = pkt6_icmp_csum(out);

		if (built && (!c.ok || c.got != c.want))
			fail(r, out,
			     "Packet Too Big built with a wrong ICMPv6 checksum (%04x/%04x)", c.got,
			     c.want);
		else if (!built && pkt6_csum_ok(&r->f) == 1 && pkt6_csum_ok(out) != 1)
			fail(r, out, "IPv6 L4 checksum wrong after translation");
		return;
	}
	if (built) { /* xmasq's own frag-needed */
		struct pkt_icmperr_csums e = pkt_check_icmperr(out->b, out->len);

		if (!e.ok || e.ip_got != e.ip_want || e.icmp_got != e.icmp_want)
			fail(r, out,
			     "frag-needed built with wrong checksums (ip %04x/%04x icmp %04x/%04x)",
			     e.ip_got, e.ip_want, e.icmp_got, e.icmp_want);
		return;
	}
	if (in.ip && !o.ip)
		fail(r, out, "IPv4 header checksum wrong after translation");
	if (split_of(&r->f, out))
		return;
	if (in.udp_zero && !o.udp_zero)
		fail(r, out, "UDP checksum 0 (none) not kept 0");
	if (in.l4 && !in.udp_zero && !o.l4)
		fail(r, out, "L4 checksum wrong after translation");
	if (in.inner_ip && !o.inner_ip)
		fail(r, out, "quoted IPv4 header checksum wrong after translation");
	check_flow_of(r, out);
}

/* ---- feedback ---------------------------------------------------------- */

__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t extra[1 << 14];

/* FUZZ_DATAPLANE_COARSE: only which outcome each template and hook
 * reached, once (for -merge into the small corpus kept in the tree). */
static int coarse;

static void feedback(uint32_t a, uint32_t b)
{
	uint32_t h = (a * 0x9e3779b1u) ^ (b * 0x85ebca6bu);

	h ^= h >> 15;
	if (coarse)
		extra[h % sizeof(extra)] = 1;
	else
		extra[h % sizeof(extra)]++;
}

/* ---- the run ----------------------------------------------------------- */

static void reset_state(void)
{
	const int fds[] = { fd_frags, bpf_map__fd(skel->maps.nat_mappings),
			    bpf_map__fd(skel->maps.nat_mappings6),
			    bpf_map__fd(skel->maps.port_exhausted) };
	uint8_t key[64], next[64];

	memset(ct_tab.slots, 0, ct_tab.nslots * sizeof(*ct_tab.slots));
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		while (!bpf_map_get_next_key(fds[i], NULL, next)) {
			memcpy(key, next, sizeof(key));
			if (bpf_map_delete_elem(fds[i], key))
				break;
		}
}

static void run_record(const struct record *r)
{
	static uint64_t before[XM_C_MAX], after[XM_C_MAX];
	struct frame out;
	uint32_t rc, notes = 0;
	int err, outcome = -1, kind, nout = 0, want_kind;

	/* The kernel's test run refuses frames shorter than an Ethernet
	 * header, and tc's shorter than one with an IPv4 header, or an IPv6
	 * one when the type says IPv6 (EINVAL). */
	if (r->f.len < 14 || (r->tc && r->f.len < 14 + 20) ||
	    (r->tc && r->f.b[12] == 0x86 && r->f.b[13] == 0xdd && r->f.len < 14 + 40))
		return;
	counters_now(before);
	err = r->tc ? run_tc(ifindex_of[r->in], &r->f, &out, &rc) :
		      run_xdp(ifindex_of[r->in], &r->f, &out, &rc);
	if (err)
		fail(r, NULL, "test run failed: %s", strerror(-err));
	counters_now(after);

	for (int i = 0; i < XM_C_MAX; i++) {
		uint64_t d = after[i] - before[i];

		if (!d)
			continue;
		if (outcome_kind[i]) {
			nout += (int)d;
			outcome = i;
		} else if (i != XM_C_RX) {
			notes |= 1u << (i % 32);
		}
	}
	if (after[XM_C_RX] - before[XM_C_RX] != 1)
		fail(r, &out, "rx moved by %llu, not 1",
		     (unsigned long long)(after[XM_C_RX] - before[XM_C_RX]));
	if (nout != 1) {
		for (int i = 0; i < XM_C_MAX; i++)
			if (after[i] != before[i])
				fprintf(stderr, "  counter %s +%llu\n", counter_names[i],
					(unsigned long long)(after[i] - before[i]));
		fail(r, &out, "%d outcome counters moved, not exactly 1 (verdict %u)", nout, rc);
	}
	kind = outcome_kind[outcome];
	if (r->tc)
		want_kind = rc == TC_ACT_OK	  ? 1 :
			    rc == TC_ACT_SHOT	  ? 2 :
			    rc == TC_ACT_REDIRECT ? 3 :
						    0;
	else
		want_kind = rc == XDP_PASS ? 1 : rc == XDP_DROP ? 2 : rc == XDP_REDIRECT ? 3 : 0;
	if (!want_kind)
		fail(r, &out, "verdict %u (%s) is none the program may return", rc,
		     r->tc ? tc_name(rc) : xdp_name(rc));
	if (kind != want_kind)
		fail(r, &out, "counted as %s, verdict %s", counter_names[outcome],
		     r->tc ? tc_name(rc) : xdp_name(rc));
	if (kind == 1 && !same_frame(&out, &r->f))
		fail(r, &out, "passed (%s) but changed", counter_names[outcome]);
	if (kind == 3)
		check_sent(r, &out, outcome == XM_C_FRAG_NEEDED_SENT);

	if (trace)
		fprintf(stderr, "packet %d: %s %s template %d (%s), %zu bytes: %s\n", cur_index,
			r->tc ? "tc" : "XDP",
			(const char *[]){ "pub0", "bk0", "lan0", "pub1" }[r->in], r->tmpl,
			r->tmpl >= 0 ? templates[r->tmpl].name : "raw", r->f.len,
			counter_names[outcome]);
	feedback((uint32_t)outcome << 8 | (uint32_t)r->tc << 4 | (uint32_t)r->in,
		 (uint32_t)(r->tmpl + 1));
	if (coarse)
		return;
	feedback(0x10000u | (uint32_t)outcome << 1 | (uint32_t)r->tc, notes);
	feedback(0x20000u | (uint32_t)cur_index, (uint32_t)outcome);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const uint8_t *p = data, *end = data + len;
	struct record r;

	cur_data = data;
	cur_len = len;
	reset_state();
	for (cur_index = 0; cur_index < MAX_RECORDS && next_record(&p, end, &r); cur_index++)
		run_record(&r);
	return 0;
}

/* ---- seeds ------------------------------------------------------------- */

static void write_seed(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

static void write_seeds(const char *dir)
{
	/* Conversations: (template, hook) pairs. */
	static const uint8_t convs[][8] = {
		{ 0, 2, 1, 3, 4, 5 }, /* tcp forward: SYN, SYN-ACK, data both ways, FIN, RST */
		{ 6, 7, 16 },	      /* udp forward, reply, ICMP error about it */
		{ 8, 9 },	      /* keep-source */
		{ 10 },		      /* the range */
		{ 11, 12 },	      /* masqueraded udp and its reply */
		{ 13, 17 },	      /* masqueraded tcp, frag-needed about it */
		{ 14, 15 },	      /* masqueraded echo and reply */
		{ 18, 19 },	      /* fragments */
		{ 20, 21, 22, 23, 24, 25 },
	};
	uint8_t buf[64];
	char name[64];

	mkdir(dir, 0755);
	for (int t = 0; t < NTEMPLATES; t++)
		for (int tc = 0; tc < 2; tc++) {
			buf[0] = (uint8_t)(tc | templates[t].in << R_IN_SHIFT);
			buf[1] = (uint8_t)t;
			buf[2] = 0;
			snprintf(name, sizeof(name), "t%02d-%s", t, tc ? "tc" : "xdp");
			write_seed(dir, name, buf, 3);
		}
	for (size_t c = 0; c < sizeof(convs) / sizeof(convs[0]); c++)
		for (int tc = 0; tc < 2; tc++) {
			size_t n = 0;

			for (int i = 0; i < 8 && (i == 0 || convs[c][i]); i++) {
				buf[n++] = (uint8_t)(tc | templates[convs[c][i]].in << R_IN_SHIFT);
				buf[n++] = convs[c][i];
				buf[n++] = 0;
			}
			snprintf(name, sizeof(name), "conv%zu-%s", c, tc ? "tc" : "xdp");
			write_seed(dir, name, buf, n);
		}
	/* Raw: the first template's bytes. */
	buf[0] = R_RAW;
	buf[1] = 0;
	buf[2] = (uint8_t)templates[0].f.len;
	memcpy(buf + 3, templates[0].f.b, templates[0].f.len);
	write_seed(dir, "raw-syn", buf, 3 + templates[0].f.len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("FUZZ_DATAPLANE_SEEDS");

	(void)argc;
	(void)argv;
	if (env_start() || setup_netns() || fixture_open() || small_table() || fixture_load() ||
	    setup_maps()) {
		fprintf(stderr, "fuzz_dataplane: set-up failed (needs root): %s\n",
			strerror(errno));
		exit(1);
	}
	ifindex_of[IN_PUB0] = if_pub0;
	ifindex_of[IN_BK0] = if_bk0;
	ifindex_of[IN_LAN0] = if_lan0;
	ifindex_of[IN_PUB1] = if_pub1;
	trace = getenv("FUZZ_DATAPLANE_TRACE") != NULL;
	coarse = getenv("FUZZ_DATAPLANE_COARSE") != NULL;
	classify_counters();
	build_templates();
	if (seeds) {
		write_seeds(seeds);
		exit(0);
	}
	return 0;
}
