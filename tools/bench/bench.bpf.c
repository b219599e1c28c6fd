// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark programs for `make bench` (userspace: tools/bench/xbench.c).
 *
 *  xb_gen   traffic generator, run by BPF_PROG_TEST_RUN with
 *           BPF_F_TEST_XDP_LIVE_FRAMES: builds one 64-byte UDP frame per
 *           run and redirects it out of the generator's veth.
 *  xb_wrap  the same frame builder in front of a tail call: lets a plain
 *           (not live) test run time another XDP program (xmasq's, the
 *           bare router) on a fresh frame every repetition.
 *  xb_gen6, xb_wrap6  the same with the UDP datagram in IPv6 (84 bytes on
 *           the wire); programs of their own, so the IPv4 generator's
 *           code is what it was.
 *  xb_drop  the tail-call target that only drops: the wrapper's own cost.
 *  xb_sink  counts UDP frames (IPv4 or IPv6) per CPU and drops them (the
 *           traffic sink).
 *  xb_bare  the "bare" router: rewrites MACs, decrements TTL (IPv6: the
 *           hop limit) and redirects through a devmap. No NAT, no state:
 *           the floor of XDP routing.
 *
 * Why the whole frame is written on every run: live-frame pages are
 * recycled with whatever the last consumer left in them (a router doing
 * NAT rewrites them in place), and a non-live test run with repeat > 1
 * runs the program again on the frame it has just rewritten. Writing the
 * complete frame each time is the only way every packet is the one meant.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by xbench before load: what to send. Not `const volatile`
 * (.rodata): the byte arrays would be copied through a cast that drops
 * volatile, and clang then folds them to the zeros of the initialiser. */
struct xb_gen_cfg gen_cfg = {};

/* Index of the next packet's flow (one generator thread: no atomics). */
__u64 gen_seq = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xb_target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} xb_sink_cnt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct xb_bare_port);
} xb_bare_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} xb_bare_tx SEC(".maps");

static __always_inline __u32 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	return (s & 0xffff) + (s >> 16);
}

/* The next flow: flow i maps to dport = base + (i mod 2^dport_bits),
 * then sport and the source address from the rest: distinct flows have
 * distinct (sport, dport), so a NAT that keeps the client's port never has
 * to search for a free one. Returns what flow i adds to the first source
 * address (to its last 32 bits in IPv6). */
static __always_inline __u32 xb_next_flow(__u32 *sport, __u32 *dport)
{
	__u64 i = gen_seq;

	if (gen_cfg.nflows)
		gen_seq = i + 1 >= gen_cfg.nflows ? 0 : i + 1;
	else
		gen_seq = i + 1; /* every packet a new flow */
	i += gen_cfg.first;
	*dport = gen_cfg.dport + (i & ((1u << gen_cfg.dport_bits) - 1));
	i >>= gen_cfg.dport_bits;
	*sport = gen_cfg.sport + (i & 0x7fff);
	return (__u32)(i >> 15);
}

/* Writes the complete IPv4 frame for the next flow. Returns -1 when the
 * frame buffer is too short. */
static __always_inline int xb_write(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = (void *)(ip + 1);
	__u32 dport, sport, saddr, daddr = gen_cfg.daddr, sum;
	__u16 *w;

	if ((void *)udp + XB_UDP_LEN > data_end)
		return -1;
	saddr = gen_cfg.saddr + xb_next_flow(&sport, &dport); /* host order */

	__builtin_memcpy(eth->h_dest, gen_cfg.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, gen_cfg.smac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(sizeof(*ip) + XB_UDP_LEN);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000); /* DF */
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = bpf_htonl(saddr);
	ip->daddr = bpf_htonl(daddr);
	ip->check = 0;
	/* Header checksum from the 16-bit words just written. */
	w = (__u16 *)ip;
	sum = 0;
#pragma unroll
	for (int k = 0; k < 10; k++)
		sum += w[k];
	ip->check = (__u16)~fold(sum);

	udp->source = bpf_htons(sport);
	udp->dest = bpf_htons(dport);
	udp->len = bpf_htons(XB_UDP_LEN);
	/* Payload: fixed bytes whose sum userspace precomputed. */
	__builtin_memcpy((void *)(udp + 1), gen_cfg.payload, XB_PAYLOAD_LEN);
	/* A real checksum (not 0), so the NAT under test has to update it. */
	sum = gen_cfg.payload_sum + (saddr >> 16) + (saddr & 0xffff) + (daddr >> 16) +
	      (daddr & 0xffff) + IPPROTO_UDP + 2 * XB_UDP_LEN + sport + dport;
	sum = (__u16)~fold(sum);
	udp->check = bpf_htons(sum ? sum : 0xffff);
	return 0;
}

/* The same for IPv6: the UDP datagram of xb_write behind an IPv6 header
 * (no header checksum; the UDP checksum is mandatory, and complete). */
static __always_inline int xb_write6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + sizeof(*eth);
	struct udphdr *udp = (void *)(ip6 + 1);
	__u32 dport, sport, low, sum;

	if ((void *)udp + XB_UDP_LEN > data_end)
		return -1;
	low = bpf_ntohl(*(__u32 *)&gen_cfg.saddr6[12]) + xb_next_flow(&sport, &dport);

	__builtin_memcpy(eth->h_dest, gen_cfg.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, gen_cfg.smac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IPV6);

	*(__be32 *)ip6 = bpf_htonl(6u << 28); /* version, no class or label */
	ip6->payload_len = bpf_htons(XB_UDP_LEN);
	ip6->nexthdr = IPPROTO_UDP;
	ip6->hop_limit = 64;
	__builtin_memcpy(&ip6->saddr, gen_cfg.saddr6, 12);
	ip6->saddr.in6_u.u6_addr32[3] = bpf_htonl(low);
	__builtin_memcpy(&ip6->daddr, gen_cfg.daddr6, 16);

	udp->source = bpf_htons(sport);
	udp->dest = bpf_htons(dport);
	udp->len = bpf_htons(XB_UDP_LEN);
	__builtin_memcpy((void *)(udp + 1), gen_cfg.payload, XB_PAYLOAD_LEN);
	sum = gen_cfg.sum6 + (low >> 16) + (low & 0xffff) + sport + dport;
	sum = (__u16)~fold(sum);
	udp->check = bpf_htons(sum ? sum : 0xffff);
	return 0;
}

/* A test run repeats on one buffer, and the program under test may have
 * moved the frame's head (6->4 takes off the 20 bytes IPv6's header has
 * more, 4->6 adds them): the next repetition's frame gets its length
 * back before it is written. */
static __always_inline void xb_frame_len(struct xdp_md *ctx, int want)
{
	int have = (int)(ctx->data_end - ctx->data);

	if (have != want)
		bpf_xdp_adjust_head(ctx, have - want);
}

SEC("xdp")
int xb_gen(struct xdp_md *ctx)
{
	if (xb_write(ctx))
		return XDP_ABORTED;
	return bpf_redirect(gen_cfg.out_ifindex, 0);
}

/* Written to by a locked add after each frame is built: on x86 a locked
 * instruction waits for the frame's stores to reach the cache, so the
 * program under test reads a frame as it would one a NIC or another CPU
 * wrote. Without it, a load spanning two of the builder's narrower stores
 * (an 8-byte read of both addresses, say) stalls on store forwarding, a
 * cost real traffic never pays, and a program reading the frame with the
 * builder's own field sizes looked cheaper than one that does not. The
 * wrapper alone (xb_drop) pays the fence too: it is taken out with it. */
__u64 xb_fence = 0;

static __always_inline void xb_frame_settle(void)
{
	__sync_fetch_and_add(&xb_fence, 1);
}

SEC("xdp")
int xb_wrap(struct xdp_md *ctx)
{
	xb_frame_len(ctx, XB_FRAME_LEN);
	if (xb_write(ctx))
		return XDP_ABORTED;
	xb_frame_settle();
	bpf_tail_call(ctx, &xb_target, 0);
	return XDP_ABORTED; /* no target installed */
}

SEC("xdp")
int xb_gen6(struct xdp_md *ctx)
{
	if (xb_write6(ctx))
		return XDP_ABORTED;
	return bpf_redirect(gen_cfg.out_ifindex, 0);
}

SEC("xdp")
int xb_wrap6(struct xdp_md *ctx)
{
	xb_frame_len(ctx, XB_FRAME6_LEN);
	if (xb_write6(ctx))
		return XDP_ABORTED;
	xb_frame_settle();
	bpf_tail_call(ctx, &xb_target, 0);
	return XDP_ABORTED;
}

SEC("xdp")
int xb_drop(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

/* Counts only UDP: ARP, neighbour discovery or anything else the kernel
 * sends still works. IPv4 is tested first, as before IPv6 was counted. */
SEC("xdp")
int xb_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct ipv6hdr *ip6 = (void *)ip;
	__u32 zero = 0;
	__u64 *c;

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		if (ip->protocol != IPPROTO_UDP)
			return XDP_PASS;
	} else if (eth->h_proto != bpf_htons(ETH_P_IPV6) || (void *)(ip6 + 1) > data_end ||
		   ip6->nexthdr != IPPROTO_UDP) {
		return XDP_PASS;
	}
	c = bpf_map_lookup_elem(&xb_sink_cnt, &zero);
	if (c)
		*c += 1;
	return XDP_DROP;
}

/* The bare router's IPv6: hop limit - 1 (no header checksum), MACs,
 * redirect. ICMPv6 stays local (neighbour discovery, as ARP does in
 * IPv4). */
static __always_inline int xb_bare6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + sizeof(*eth);
	__u32 in = ctx->ingress_ifindex;
	struct xb_bare_port *pt;

	if ((void *)(ip6 + 1) > data_end || ip6->hop_limit <= 1 || ip6->nexthdr == IPPROTO_ICMPV6)
		return XDP_PASS;
	pt = bpf_map_lookup_elem(&xb_bare_ports, &in);
	if (!pt)
		return XDP_PASS;
	ip6->hop_limit--;
	__builtin_memcpy(eth->h_dest, pt->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, pt->smac, ETH_ALEN);
	return bpf_redirect_map(&xb_bare_tx, pt->out_ifindex, 0);
}

SEC("xdp")
int xb_bare(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u32 in = ctx->ingress_ifindex, sum;
	struct xb_bare_port *pt;
	__u16 old;

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return eth->h_proto == bpf_htons(ETH_P_IPV6) ? xb_bare6(ctx) : XDP_PASS;
	if (ip->ttl <= 1)
		return XDP_PASS;
	pt = bpf_map_lookup_elem(&xb_bare_ports, &in);
	if (!pt)
		return XDP_PASS;
	/* TTL - 1, header checksum updated incrementally (RFC 1624) over
	 * the 16-bit word holding TTL and protocol. */
	old = *(__u16 *)&ip->ttl;
	ip->ttl--;
	sum = (__u16)~ip->check + (__u16)~old + *(__u16 *)&ip->ttl;
	ip->check = (__u16)~fold(sum);
	__builtin_memcpy(eth->h_dest, pt->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, pt->smac, ETH_ALEN);
	return bpf_redirect_map(&xb_bare_tx, pt->out_ifindex, 0);
}

/* ---- diagnostic: can a program allocate bpf_timers at a high rate? ----
 * xmasq arms one bpf_timer per new flow. `xbench timer-probe N` inserts N
 * elements here, initialising a timer in each, and tallies the result
 * codes, to tell "no memory for the timer" apart from the map itself. */
struct xb_timer_elem {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, __u32);
	__type(value, struct xb_timer_elem);
} xb_timers SEC(".maps");

/* [0] ok, [1] map insert failed, [2] -ENOMEM, [3] -EBUSY, [4] other */
__u64 timer_res[5] = {};
__u32 timer_next = 0;

SEC("xdp")
int xb_timer_probe(struct xdp_md *ctx)
{
	struct xb_timer_elem zero = {}, *e;
	__u32 k = timer_next++;
	long err;

	(void)ctx;
	if (bpf_map_update_elem(&xb_timers, &k, &zero, BPF_NOEXIST)) {
		timer_res[1]++;
		return XDP_DROP;
	}
	e = bpf_map_lookup_elem(&xb_timers, &k);
	if (!e)
		return XDP_DROP;
	err = bpf_timer_init(&e->t, &xb_timers, 1 /* CLOCK_MONOTONIC */);
	timer_res[err == 0 ? 0 : err == -12 ? 2 : err == -16 ? 3 : 4]++;
	return XDP_DROP;
}
