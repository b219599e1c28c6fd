/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing shared by the XDP and tc entry points: Ethernet, one
 * 802.1Q tag, IPv4 with options, TCP, UDP, ICMP echo and ICMP errors (with
 * the header they quote), fragments. */
#ifndef XMASQ_BPF_PARSE_H
#define XMASQ_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"

#define XM_ETH_P_IP	0x0800
#define XM_ETH_P_8021Q	0x8100
#define XM_ETH_P_8021AD 0x88A8
#define XM_IP_MF	0x2000
#define XM_IP_OFFSET	0x1fff

#define XM_ICMP_ECHOREPLY     0
#define XM_ICMP_DEST_UNREACH  3
#define XM_ICMP_ECHO	      8
#define XM_ICMP_TIME_EXCEEDED 11
#define XM_ICMP_PARAMETERPROB 12

struct xm_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct xm_icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id; /* echo; for errors: unused / MTU */
	__be16 seq;
};

enum xm_frag {
	XM_FRAG_NONE = 0,
	XM_FRAG_FIRST, /* offset 0, more fragments: has the L4 header */
	XM_FRAG_LATER, /* offset > 0: no L4 header */
};

struct xm_pkt {
	struct ethhdr *eth;
	struct iphdr *ip;
	__u32 l3_off; /* from the start of the frame */
	__u32 l4_off;
	__u32 csum_off;	    /* L4 checksum field, from frame start */
	__u32 inner_l3_off; /* ICMP error: the quoted IPv4 header */
	__u32 inner_l4_off;
	__u16 vlan_tci; /* tag found in the frame (host order), 0 = none */
	__u8 has_vlan;	/* the tag is in the frame data (XDP) */
	__u8 tcp_flags;
	__u8 udp_csum_zero; /* UDP without checksum: keep it zero */
	__u8 icmp_type;
	__u8 icmp_error; /* an ICMP error quoting a TCP/UDP/echo packet */
	__u8 frag;	 /* enum xm_frag */
	__be16 ip_id;
	__u8 tcp_data;	      /* the TCP segment carries payload */
	__u8 tcp_rst_inexact; /* a RST in the window, not exact (bpf/flow.h) */
	/* The flow lookup key: the packet's tuple, or for an ICMP error the
	 * reverse of the quoted packet's tuple (the entry that would carry a
	 * reply to it). ICMP echo: the id is both ports. */
	struct xm_flow_key key;
};

/* A lookup key's second word: both ports as they sit in the L4 header
 * (source first), and the protocol; ct_state 0. Little-endian, as the
 * words are everywhere (bpf/ports.h). */
static __always_inline __u64 xm_key_w1_of(__u32 ports, __u8 proto)
{
	return (__u64)ports | (__u64)proto << 32;
}

static __always_inline void xm_key_set(struct xm_flow_key *k, __u64 w0, __u64 w1)
{
	((__u64 *)k)[0] = w0;
	((__u64 *)k)[1] = w1;
}

enum xm_parse_result {
	XM_PARSE_OK = 0,
	XM_PARSE_NOT_IPV4,
	XM_PARSE_OTHER, /* IPv4 but nothing we translate */
	XM_PARSE_MALFORMED,
};

/* len, 1 to max (a power of two: the buffer's size; the caller has
 * checked both ends), as a helper's size argument 6.1's verifier can
 * bound: clang may merge the caller's checks into one compare of a copy,
 * which that verifier does not carry over to len. */
static __always_inline __u32 xm_len_bounded(__u32 len, __u32 max)
{
	__u32 n = len - 1;

	asm volatile("" : "+r"(n));
	return (n & (max - 1)) + 1;
}

#define XM_MAX_L3_OFF  (sizeof(struct ethhdr) + sizeof(struct xm_vlan_hdr))
#define XM_MAX_L4_OFF  (XM_MAX_L3_OFF + 60)
#define XM_L4_OFF_MASK 0x7f /* covers XM_MAX_L4_OFF */
_Static_assert(XM_MAX_L4_OFF <= XM_L4_OFF_MASK, "XM_L4_OFF_MASK covers every L4 offset");
/* The quoted header of an ICMP error starts 8 bytes after the outer L4. */
#define XM_MAX_INNER_L3_OFF (XM_MAX_L4_OFF + 8)
#define XM_MAX_INNER_L4_OFF (XM_MAX_INNER_L3_OFF + 60)

/* Ports (or echo id) at l4 for proto; 0 ok, -1 truncated, 1 not ours. */
static __always_inline int xm_parse_ports(void *data, void *data_end, __u32 l4_off, __u8 proto,
					  __be16 *sport, __be16 *dport)
{
	if (l4_off > XM_MAX_INNER_L4_OFF)
		return -1;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		__be16 *ports = data + l4_off;

		if ((void *)(ports + 2) > data_end)
			return -1;
		*sport = ports[0];
		*dport = ports[1];
		return 0;
	}
	if (proto == IPPROTO_ICMP) {
		struct xm_icmp_hdr *ih = data + l4_off;

		if ((void *)(ih + 1) > data_end)
			return -1;
		if (ih->type != XM_ICMP_ECHO && ih->type != XM_ICMP_ECHOREPLY)
			return 1;
		*sport = ih->id;
		*dport = ih->id;
		return 0;
	}
	return 1;
}

/* The packet quoted by an ICMP error (RFC 792: IP header + 8 bytes),
 * which must end by ip_end, the outer datagram's end: a frame's Ethernet
 * padding is no part of the quote (a quote cut short there read its
 * ports from the padding, and was translated as if whole). */
static __always_inline int xm_parse_icmp_error(void *data, void *data_end, __u32 ip_end,
					       struct xm_pkt *p)
{
	__u32 inner_l3 = p->l4_off + sizeof(struct xm_icmp_hdr);
	struct iphdr *in;
	__be16 sport, dport;
	__u32 ihl;
	int rc;

	if (inner_l3 > XM_MAX_INNER_L3_OFF)
		return XM_PARSE_MALFORMED;
	in = data + inner_l3;
	if ((void *)(in + 1) > data_end)
		return XM_PARSE_OTHER; /* too short to be about anything */
	ihl = in->ihl * 4;
	if (in->version != 4 || ihl < sizeof(*in))
		return XM_PARSE_OTHER;
	/* the ports, or the echo's header, within the datagram */
	if (inner_l3 + ihl + (in->protocol == IPPROTO_ICMP ? sizeof(struct xm_icmp_hdr) : 4) >
	    ip_end)
		return XM_PARSE_OTHER;
	rc = xm_parse_ports(data, data_end, inner_l3 + ihl, in->protocol, &sport, &dport);
	if (rc)
		return XM_PARSE_OTHER;
	p->icmp_error = 1;
	p->inner_l3_off = inner_l3;
	p->inner_l4_off = inner_l3 + ihl;
	/* We sent the quoted packet; a reply to it would carry the reverse. */
	p->key.saddr = in->daddr;
	p->key.daddr = in->saddr;
	p->key.sport = dport;
	p->key.dport = sport;
	p->key.proto = in->protocol;
	return XM_PARSE_OK;
}

/* len: the whole frame's length (XDP: data_end - data; tc: skb->len,
 * which may reach past data_end). */
static __always_inline int xm_parse(void *data, void *data_end, __u64 len, struct xm_pkt *p)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u16 proto, frag_off;
	__u32 l3_off = sizeof(*eth);
	__u32 ihl, ip_len;
	__u64 w0;
	int rc;

	if ((void *)(eth + 1) > data_end)
		return XM_PARSE_NOT_IPV4;
	p->eth = eth;
	proto = bpf_ntohs(eth->h_proto);
	if (proto == XM_ETH_P_8021Q || proto == XM_ETH_P_8021AD) {
		struct xm_vlan_hdr *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > data_end)
			return XM_PARSE_MALFORMED;
		p->has_vlan = 1;
		p->vlan_tci = bpf_ntohs(vh->tci);
		proto = bpf_ntohs(vh->proto);
		l3_off += sizeof(*vh);
	}
	if (proto != XM_ETH_P_IP)
		return XM_PARSE_NOT_IPV4;

	ip = data + l3_off;
	if ((void *)(ip + 1) > data_end)
		return XM_PARSE_MALFORMED;
	ihl = ip->ihl * 4;
	if (ip->version != 4 || ihl < sizeof(*ip))
		return XM_PARSE_MALFORMED;
	if (bpf_ntohs(ip->tot_len) < ihl)
		return XM_PARSE_MALFORMED;
	/* Longer than the frame: the kernel drops it (ip_rcv), so must a
	 * router; translated, it would leave with the length a lie. */
	if (l3_off + bpf_ntohs(ip->tot_len) > len)
		return XM_PARSE_MALFORMED;
	ip_len = bpf_ntohs(ip->tot_len);
	p->ip = ip;
	p->l3_off = l3_off;
	p->l4_off = l3_off + ihl;
	p->ip_id = ip->id;
	/* The key is written as the two words the flow lookup reads: a load
	 * that spans several narrower stores waits for them to retire (no
	 * store forwarding), which cost the fast path a stall a word. */
	w0 = *(__u64 *)&ip->saddr; /* saddr, daddr */
	xm_key_set(&p->key, w0, xm_key_w1_of(0, ip->protocol));

	frag_off = bpf_ntohs(ip->frag_off);
	if (frag_off & XM_IP_OFFSET) {
		p->frag = XM_FRAG_LATER;
		return XM_PARSE_OK; /* no L4 header: found through the frags map */
	}
	if (frag_off & XM_IP_MF)
		p->frag = XM_FRAG_FIRST;

	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = data + p->l4_off;

		/* the header within the datagram, not in the frame's padding */
		if ((void *)(th + 1) > data_end || th->doff < 5 || ihl + sizeof(*th) > ip_len)
			return XM_PARSE_MALFORMED;
		xm_key_set(&p->key, w0, xm_key_w1_of(*(__u32 *)th, IPPROTO_TCP));
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
		p->tcp_flags = ((__u8 *)th)[13];
		p->tcp_data = bpf_ntohs(ip->tot_len) > ihl + th->doff * 4;
		return XM_PARSE_OK;
	}
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = data + p->l4_off;

		if ((void *)(uh + 1) > data_end || ihl + sizeof(*uh) > ip_len)
			return XM_PARSE_MALFORMED;
		xm_key_set(&p->key, w0, xm_key_w1_of(*(__u32 *)uh, IPPROTO_UDP));
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
		p->udp_csum_zero = uh->check == 0;
		return XM_PARSE_OK;
	}
	if (ip->protocol == IPPROTO_ICMP) {
		struct xm_icmp_hdr *ih = data + p->l4_off;

		if ((void *)(ih + 1) > data_end || ihl + sizeof(*ih) > ip_len)
			return XM_PARSE_MALFORMED;
		p->icmp_type = ih->type;
		p->csum_off = p->l4_off + offsetof(struct xm_icmp_hdr, checksum);
		if (ih->type == XM_ICMP_ECHO || ih->type == XM_ICMP_ECHOREPLY) {
			xm_key_set(&p->key, w0,
				   xm_key_w1_of((__u32)ih->id | (__u32)ih->id << 16, IPPROTO_ICMP));
			return XM_PARSE_OK;
		}
		if ((ih->type == XM_ICMP_DEST_UNREACH || ih->type == XM_ICMP_TIME_EXCEEDED ||
		     ih->type == XM_ICMP_PARAMETERPROB) &&
		    p->frag == XM_FRAG_NONE) {
			rc = xm_parse_icmp_error(data, data_end, l3_off + ip_len, p);
			return rc;
		}
		return XM_PARSE_OTHER;
	}
	return XM_PARSE_OTHER;
}

#endif
