/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IPv6 header parsing for xmasq_tc6: Ethernet (untagged: a tag is in
 * skb->vlan_tci on the tc path, and XDP hands tagged IPv6 to tc), the
 * fixed IPv6 header, TCP and UDP. */
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
	/* a fragment: its fragment header's offset in the frame (0: not a
	 * fragment); a later fragment (no L4 header) has csum_off 0 and no
	 * ports in key */
	__u8 frag_hdr_off;
	/* the 802.1Q TCI the packet came with (tc: the tag the kernel took
	 * off, skb->vlan_tci), 0: untagged; a new flow's reply leaves with it */
	__u16 vlan_tci;
	/* The flow lookup key: the packet's tuple; ICMPv6 echo: its id as
	 * both ports, as for IPv4's ICMP echo. */
	struct xm_flow6_key key;
	__u8 src_mac[6];
	__u8 tcp_rst_inexact; /* a RST in the window, not exact (xm6_tcp_segment) */
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

/* The key's last word (ports, protocol; ct_state and padding 0) in one
 * 8-byte store: the flow table reads the key as five words, and a load
 * is forwarded from the store buffer only from one store that covers it
 * (after the port and protocol stores of before, each lookup's read of
 * it waited for them to reach the cache: 4-6 % of the IPv6 fast path). */
static __always_inline void xm6_key_l4_set(struct xm_flow6_key *k, __be16 sport, __be16 dport,
					   __u8 proto)
{
	union {
		struct {
			__be16 sport, dport;
			__u8 proto, ct_state, pad[2];
		} f;
		__u64 w;
	} u = { .f = { .sport = sport, .dport = dport, .proto = proto } };

	*(__u64 *)&k->sport = u.w;
}

/* An ICMPv6 error (type 1-4): about a flow of ours when its quote is one
 * of our packets as it left. The key becomes the quoted tuple reversed:
 * the direction the error travels, as for IPv4 (xm_parse_icmp_error).
 * A quote without its ports (or an echo's id) is the kernel's; so is one
 * that reaches them only past the datagram's end (l4_len: the ICMPv6
 * message's length), in bytes the frame carries after it. */
static __always_inline int xm_parse6_icmp_error(void *data, void *data_end, struct xm_pkt6 *p,
						__u8 type, __u32 l4_len)
{
	struct ipv6hdr *in6 = data + p->l4_off + XM_ICMP6_QUOTE;
	__u8 *l4 = (__u8 *)(in6 + 1);

	if ((void *)(l4 + 4) > data_end || in6->version != 6 ||
	    XM_ICMP6_QUOTE + sizeof(*in6) + 4 > l4_len)
		return XM_PARSE6_OTHER;
	__builtin_memcpy(p->key.saddr, &in6->daddr, 16);
	__builtin_memcpy(p->key.daddr, &in6->saddr, 16);
	if (in6->nexthdr == IPPROTO_TCP || in6->nexthdr == IPPROTO_UDP) {
		xm6_key_l4_set(&p->key, *(__be16 *)(l4 + 2), *(__be16 *)l4, in6->nexthdr);
	} else if (in6->nexthdr == XM_NEXTHDR_ICMPV6 && (void *)(l4 + 8) <= data_end &&
		   XM_ICMP6_QUOTE + sizeof(*in6) + 8 <= l4_len &&
		   (l4[0] == XM_ICMPV6_ECHO_REQUEST || l4[0] == XM_ICMPV6_ECHO_REPLY)) {
		xm6_key_l4_set(&p->key, *(__be16 *)(l4 + 4), *(__be16 *)(l4 + 4), in6->nexthdr);
	} else {
		p->key.proto = in6->nexthdr;
		return XM_PARSE6_OTHER;
	}
	p->icmp_type = type;
	p->icmp_error = 1;
	p->csum_off = p->l4_off + 2;
	return XM_PARSE6_OK;
}

#define XM_EXT6_MAX	  4   /* extension headers walked, at most */
#define XM_EXT6_BYTES_MAX 128 /* ... and bytes of them */
#define XM_L4_OFF6_MAX	  (14 + XM_IPV6_HDR_LEN + XM_EXT6_BYTES_MAX)
#define XM_L4_OFF6_MASK	  0xff /* covers XM_L4_OFF6_MAX */

/* A hop-by-hop header every router must act on (router alert, say) is
 * the kernel's: one of 8 bytes holding padding only is walked. */
static __always_inline int xm6_hbh_padding_only(const __u8 *h, void *data_end)
{
	__u64 w; /* the header's 8 bytes, byte n at bits 8n (little-endian BPF) */
	__u32 i = 2;

	if ((void *)(h + 8) > data_end || h[1] != 0)
		return 0;
	__builtin_memcpy(&w, h, 8);
	for (int n = 0; n < 6 && i < 8; n++) {
		__u8 type = (__u8)(w >> (8 * (i & 7)));

		if (type == 0) { /* Pad1 */
			i++;
		} else if (type == 1 && i + 1 < 8) { /* PadN: its length next */
			i += 2 + (__u8)(w >> (8 * ((i + 1) & 7)));
		} else {
			return 0;
		}
	}
	return i == 8;
}

/* Walks the extension headers from p->l4_off (RFC 8200 section 4):
 * hop-by-hop (padding only, first), destination options, a routing
 * header with no segments left, a fragment header; at most XM_EXT6_MAX
 * of them and XM_EXT6_BYTES_MAX bytes. p->l4_off and p->key.proto then
 * name the upper layer. XM_PARSE6_OK to go on, XM_PARSE6_EXT to pass the
 * packet untouched (anything else: ESP, AH, a routing header to act
 * on, ...), or 1 for a later fragment (no L4 header in it). */
static __always_inline int xm_parse6_ext(void *data, void *data_end, struct xm_pkt6 *p)
{
	__u32 off = p->l4_off, len;
	__u8 nh = p->key.proto;

	for (int i = 0; i < XM_EXT6_MAX; i++) {
		__u8 *h;

		if (off > XM_L4_OFF6_MAX - 8)
			return XM_PARSE6_EXT;
		h = data + off;
		if ((void *)(h + 8) > data_end)
			return XM_PARSE6_EXT;
		if (nh == XM_NEXTHDR_HOP) {
			if (i || !xm6_hbh_padding_only(h, data_end))
				return XM_PARSE6_EXT;
			len = 8;
		} else if (nh == XM_NEXTHDR_DEST) {
			len = (h[1] + 1) * 8;
		} else if (nh == XM_NEXTHDR_ROUTING) {
			if (h[3]) /* segments left: the destination would change */
				return XM_PARSE6_EXT;
			len = (h[1] + 1) * 8;
		} else if (nh == XM_NEXTHDR_FRAGMENT) {
			__u16 frag = bpf_ntohs(*(__be16 *)(h + 2));

			if (p->frag_hdr_off)
				return XM_PARSE6_EXT;
			p->frag_hdr_off = (__u8)off;
			len = 8;
			if (frag & 0xfff8) { /* an offset: a later fragment */
				p->key.proto = h[0];
				p->l4_off = off + len;
				return 1;
			}
			if (!(frag & 1)) /* offset 0 and no more: an atomic fragment */
				p->frag_hdr_off = 0;
		} else {
			return XM_PARSE6_EXT;
		}
		nh = h[0];
		off += len;
		if (!xm_nexthdr_is_ext(nh)) {
			if (off > XM_L4_OFF6_MAX)
				return XM_PARSE6_EXT;
			p->l4_off = off;
			p->key.proto = nh;
			return XM_PARSE6_OK;
		}
	}
	return XM_PARSE6_EXT;
}

/* len: the whole frame's length (skb->len, which may reach past data_end). */
static __always_inline int xm_parse6(void *data, void *data_end, __u64 len, struct xm_pkt6 *p)
{
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6;
	__u32 l3_off = sizeof(*eth), l4_off, l4_len;

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
	if (xm_nexthdr_is_ext(ip6->nexthdr)) {
		int rc = xm_parse6_ext(data, data_end, p);

		if (rc == 1)
			return XM_PARSE6_OK; /* a later fragment: no ports */
		if (rc != XM_PARSE6_OK)
			return rc;
	}
	l4_off = p->l4_off;
	if (l4_off > XM_L4_OFF6_MAX)
		return XM_PARSE6_EXT;
	/* the bytes past the IPv6 header that are not extension headers */
	if (l4_off - l3_off - sizeof(*ip6) > p->payload_len)
		return XM_PARSE6_MALFORMED;
	/* the bytes past the IPv6 header that are not extension headers */
	l4_len = p->payload_len - (l4_off - l3_off - sizeof(*ip6));
	if (p->key.proto == IPPROTO_TCP) {
		struct tcphdr *th = data + l4_off;

		if ((void *)(th + 1) > data_end || th->doff < 5 || l4_len < th->doff * 4)
			return XM_PARSE6_MALFORMED;
		xm6_key_l4_set(&p->key, th->source, th->dest, IPPROTO_TCP);
		p->csum_off = l4_off + offsetof(struct tcphdr, check);
		p->tcp_flags = ((__u8 *)th)[13];
		return XM_PARSE6_OK;
	}
	if (p->key.proto == IPPROTO_UDP) {
		struct udphdr *uh = data + l4_off;

		if ((void *)(uh + 1) > data_end || l4_len < sizeof(*uh))
			return XM_PARSE6_MALFORMED;
		/* No checksum is invalid in IPv6 (RFC 8200 section 8.1): the
		 * kernel's to drop, not ours to mend. */
		if (uh->check == 0)
			return XM_PARSE6_MALFORMED;
		xm6_key_l4_set(&p->key, uh->source, uh->dest, IPPROTO_UDP);
		p->csum_off = l4_off + offsetof(struct udphdr, check);
		return XM_PARSE6_OK;
	}
	/* ICMPv6 echo (masqueraded hosts' pings) and errors about our flows
	 * (without extension headers); every other ICMPv6 message (NDP,
	 * router advertisements) is the kernel's. */
	if (p->key.proto == XM_NEXTHDR_ICMPV6) {
		__u8 *ih = data + l4_off;

		if ((void *)(ih + 8) > data_end || l4_len < 8)
			return XM_PARSE6_MALFORMED;
		if (ih[0] >= 1 && ih[0] <= XM_ICMPV6_ERROR_MAX)
			return l4_off == l3_off + sizeof(*ip6) && !p->frag_hdr_off ?
				       xm_parse6_icmp_error(data, data_end, p, ih[0], l4_len) :
				       XM_PARSE6_OTHER;
		if (ih[0] != XM_ICMPV6_ECHO_REQUEST && ih[0] != XM_ICMPV6_ECHO_REPLY)
			return XM_PARSE6_OTHER;
		p->icmp_type = ih[0];
		xm6_key_l4_set(&p->key, *(__be16 *)(ih + 4), *(__be16 *)(ih + 4),
			       XM_NEXTHDR_ICMPV6);
		p->csum_off = l4_off + 2;
		return XM_PARSE6_OK;
	}
	return XM_PARSE6_OTHER;
}

#endif
