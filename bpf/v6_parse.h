/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IPv6 header parsing for xmasq_tc6: Ethernet (untagged: a tag is in
 * skb->vlan_tci on the tc path), the fixed IPv6 header, TCP and UDP. */
#ifndef XMASQ_BPF_V6_PARSE_H
#define XMASQ_BPF_V6_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"

#define XM_ETH_P_IPV6 0x86DD

/* Next-header values that are extension headers (RFC 8200 section 4,
 * and the fragment, AH and ESP headers). */
#define XM_NEXTHDR_HOP	    0
#define XM_NEXTHDR_ROUTING  43
#define XM_NEXTHDR_FRAGMENT 44
#define XM_NEXTHDR_ESP	    50
#define XM_NEXTHDR_AUTH	    51
#define XM_NEXTHDR_DEST	    60
#define XM_NEXTHDR_MOBILITY 135
#define XM_NEXTHDR_ICMPV6   58

#define XM_ICMPV6_ECHO_REQUEST 128
#define XM_ICMPV6_ECHO_REPLY   129
#define XM_ICMPV6_ERROR_MAX    4 /* 1-4: unreachable, too big, time exceeded, parameter */
#define XM_IPV6_HDR_LEN	       40
/* An ICMPv6 error's quote starts 8 bytes into the message. */
#define XM_ICMP6_QUOTE	       8

struct xm_pkt6 {
	__u32 l3_off;
	__u32 l4_off;
	__u32 csum_off; /* L4 checksum field, from the frame's start */
	__u16 payload_len;
	__u8 tcp_flags;
	__u8 hop_limit;
	__u8 icmp_type;	 /* ICMPv6 echo: 128 request, 129 reply */
	__u8 tclass;	 /* traffic class (6->4: the IPv4 TOS) */
	__u8 icmp_error; /* an ICMPv6 error: key is its quote's tuple reversed */
	/* The flow lookup key: the packet's tuple; ICMPv6 echo: its id as
	 * both ports, as for IPv4's ICMP echo. */
	struct xm_flow6_key key;
	__u8 src_mac[6];
};

enum xm_parse6_result {
	XM_PARSE6_OK = 0,
	XM_PARSE6_OTHER,     /* IPv6 but nothing we translate (ICMPv6, NDP, ...) */
	XM_PARSE6_EXT,	     /* extension headers: passed untouched */
	XM_PARSE6_MALFORMED, /* truncated or inconsistent */
};

static __always_inline int xm_nexthdr_is_ext(__u8 nh)
{
	return nh == XM_NEXTHDR_HOP || nh == XM_NEXTHDR_ROUTING || nh == XM_NEXTHDR_FRAGMENT ||
	       nh == XM_NEXTHDR_ESP || nh == XM_NEXTHDR_AUTH || nh == XM_NEXTHDR_DEST ||
	       nh == XM_NEXTHDR_MOBILITY;
}

/* An ICMPv6 error (type 1-4): about a flow of ours when its quote is one
 * of our packets as it left. The key becomes the quoted tuple reversed:
 * the direction the error travels, as for IPv4 (xm_parse_icmp_error).
 * A quote without its ports (or an echo's id) is the kernel's. */
static __always_inline int xm_parse6_icmp_error(void *data, void *data_end, struct xm_pkt6 *p,
						__u8 type)
{
	struct ipv6hdr *in6 = data + p->l4_off + XM_ICMP6_QUOTE;
	__u8 *l4 = (__u8 *)(in6 + 1);

	if ((void *)(l4 + 4) > data_end || in6->version != 6)
		return XM_PARSE6_OTHER;
	__builtin_memcpy(p->key.saddr, &in6->daddr, 16);
	__builtin_memcpy(p->key.daddr, &in6->saddr, 16);
	p->key.proto = in6->nexthdr;
	if (in6->nexthdr == IPPROTO_TCP || in6->nexthdr == IPPROTO_UDP) {
		p->key.sport = *(__be16 *)(l4 + 2);
		p->key.dport = *(__be16 *)l4;
	} else if (in6->nexthdr == XM_NEXTHDR_ICMPV6 && (void *)(l4 + 8) <= data_end &&
		   (l4[0] == XM_ICMPV6_ECHO_REQUEST || l4[0] == XM_ICMPV6_ECHO_REPLY)) {
		p->key.sport = *(__be16 *)(l4 + 4);
		p->key.dport = p->key.sport;
	} else {
		return XM_PARSE6_OTHER;
	}
	p->icmp_type = type;
	p->icmp_error = 1;
	p->csum_off = p->l4_off + 2;
	return XM_PARSE6_OK;
}

/* len: the whole frame's length (skb->len, which may reach past data_end). */
static __always_inline int xm_parse6(void *data, void *data_end, __u64 len, struct xm_pkt6 *p)
{
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6;
	__u32 l3_off = sizeof(*eth);

	if ((void *)(eth + 1) > data_end)
		return XM_PARSE6_MALFORMED;
	ip6 = data + l3_off;
	if ((void *)(ip6 + 1) > data_end)
		return XM_PARSE6_MALFORMED;
	if (ip6->version != 6)
		return XM_PARSE6_MALFORMED;
	/* Longer than the frame: the kernel drops it (ipv6_rcv), so must a
	 * router. A jumbogram (payload length 0, hop-by-hop) is an extension. */
	if (l3_off + sizeof(*ip6) + bpf_ntohs(ip6->payload_len) > len)
		return XM_PARSE6_MALFORMED;
	__builtin_memcpy(p->src_mac, eth->h_source, ETH_ALEN);
	p->l3_off = l3_off;
	p->l4_off = l3_off + sizeof(*ip6);
	p->payload_len = bpf_ntohs(ip6->payload_len);
	p->hop_limit = ip6->hop_limit;
	p->tclass = ip6->priority << 4 | ip6->flow_lbl[0] >> 4;
	__builtin_memcpy(p->key.saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->key.daddr, &ip6->daddr, 16);
	p->key.proto = ip6->nexthdr;
	if (xm_nexthdr_is_ext(ip6->nexthdr))
		return XM_PARSE6_EXT;
	if (ip6->nexthdr == IPPROTO_TCP) {
		struct tcphdr *th = data + p->l4_off;

		if ((void *)(th + 1) > data_end || th->doff < 5 || p->payload_len < th->doff * 4)
			return XM_PARSE6_MALFORMED;
		p->key.sport = th->source;
		p->key.dport = th->dest;
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
		p->tcp_flags = ((__u8 *)th)[13];
		return XM_PARSE6_OK;
	}
	if (ip6->nexthdr == IPPROTO_UDP) {
		struct udphdr *uh = data + p->l4_off;

		if ((void *)(uh + 1) > data_end || p->payload_len < sizeof(*uh))
			return XM_PARSE6_MALFORMED;
		/* No checksum is invalid in IPv6 (RFC 8200 section 8.1): the
		 * kernel's to drop, not ours to mend. */
		if (uh->check == 0)
			return XM_PARSE6_MALFORMED;
		p->key.sport = uh->source;
		p->key.dport = uh->dest;
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
		return XM_PARSE6_OK;
	}
	/* ICMPv6 echo (masqueraded hosts' pings) and errors about our flows;
	 * every other ICMPv6 message (NDP, router advertisements) is the
	 * kernel's. */
	if (ip6->nexthdr == XM_NEXTHDR_ICMPV6) {
		__u8 *ih = data + p->l4_off;

		if ((void *)(ih + 8) > data_end || p->payload_len < 8)
			return XM_PARSE6_MALFORMED;
		if (ih[0] >= 1 && ih[0] <= XM_ICMPV6_ERROR_MAX)
			return xm_parse6_icmp_error(data, data_end, p, ih[0]);
		if (ih[0] != XM_ICMPV6_ECHO_REQUEST && ih[0] != XM_ICMPV6_ECHO_REPLY)
			return XM_PARSE6_OTHER;
		p->icmp_type = ih[0];
		p->key.sport = *(__be16 *)(ih + 4);
		p->key.dport = p->key.sport;
		p->csum_off = p->l4_off + 2;
		return XM_PARSE6_OK;
	}
	return XM_PARSE6_OTHER;
}

#endif
