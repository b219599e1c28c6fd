/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Path MTU discovery through the router for IPv6 flows: IPv6 routers
 * never fragment (RFC 8200 section 5), so a packet too big for the egress
 * MTU is turned, in place, into the ICMPv6 Packet Too Big (RFC 4443
 * section 3.2) its sender must get, and sent back out of the NIC it came
 * in on. As bpf/pmtu.h does for IPv4 (GSO packets judged by their
 * segments; a CHECKSUM_PARTIAL quote's checksum field set to the value
 * finishing it leaves alone). The quote is the IPv6 header and the first
 * L4 bytes (TCP: 20, UDP and ICMPv6 echo: 8): what the sender's stack needs to find the
 * connection; RFC 4443 allows less than the 1280 bytes it suggests. */
#ifndef XMASQ_BPF_V6_PMTU_H
#define XMASQ_BPF_V6_PMTU_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "csum.h"
#include "pmtu.h"
#include "v6_parse.h"

#define XM_ICMPV6	     58
#define XM_ICMPV6_PKT_TOOBIG 2
#define XM_IPV6_MIN_MTU	     1280
#define XM_IPV6_HLEN	     40

/* Length of the IPv6 packets the egress will send for this one: the
 * whole packet, or for a GSO/GRO packet its first segment. */
static __always_inline __u32 xm6_wire_len(struct __sk_buff *skb, const struct xm_pkt6 *p,
					  void *data, void *data_end)
{
	__u32 whole = XM_IPV6_HLEN + p->payload_len, gso_size = skb->gso_size, seg;
	__u32 hdrs = p->l4_off - p->l3_off; /* extension headers too: every segment has them */

	if (!gso_size)
		return whole;
	if (p->key.proto == IPPROTO_TCP) {
		struct tcphdr *th = data + p->l4_off;

		if (p->l4_off > XM_L4_OFF6_MAX || (void *)(th + 1) > data_end)
			return 0;
		seg = hdrs + th->doff * 4 + gso_size;
	} else {
		seg = hdrs + 8 + gso_size;
	}
	return whole < seg ? whole : seg;
}

/* Turns the too-big packet whose IPv6 header is at l3_off into the
 * Packet Too Big its sender must get: from the router's address on the
 * NIC it came in by (iface_addrs6[in_slot]; none: the address it was
 * sent to), MTU mtu, quoting the header (payload
 * length as its first segment had it, seg_len) and the first L4 bytes; the
 * MACs swapped. 0 if the skb is that ICMPv6 now, -1 on failure (the skb
 * may be cut: drop it). Global: its buffers on a frame of its own. */
__noinline int xm6_tc_packet_too_big(struct __sk_buff *skb, __u32 l3_off, __u32 mtu, __u32 seg_len,
				     __u32 in_slot)
{
	struct xm_iface6 *own = bpf_map_lookup_elem(&iface_addrs6, &in_slot);
	struct {
		struct ipv6hdr ip6;
		__u8 type, code;
		__sum16 checksum;
		__be32 mtu;
		struct ipv6hdr qip;
	} m = {};
	__be32 pseudo[2];
	__u16 ql4[XM_QUOTE_L4_MAX / 2] = {};
	__u8 macs[12];
	__u32 l4_len, icmp_len;
	__s64 sum;

	if (!skb || l3_off > 64 || bpf_skb_load_bytes(skb, l3_off, &m.qip, sizeof(m.qip)) ||
	    m.qip.version != 6)
		return -1;
	l4_len = m.qip.nexthdr == IPPROTO_TCP ? XM_QUOTE_L4_TCP : XM_QUOTE_L4_MIN;
	if (bpf_skb_load_bytes(skb, l3_off + XM_IPV6_HLEN, ql4, l4_len))
		return -1;
	/* Back to where it came from: the MACs swapped. */
	if (bpf_skb_load_bytes(skb, 0, macs, 12) || bpf_skb_store_bytes(skb, 0, macs + 6, 6, 0) ||
	    bpf_skb_store_bytes(skb, 6, macs, 6, 0))
		return -1;

	/* The quoted header as its (first) segment left the sender. */
	m.qip.payload_len = bpf_htons((__u16)(seg_len - XM_IPV6_HLEN));
	if (m.qip.nexthdr == IPPROTO_TCP)
		ql4[XM_QUOTE_TCP_CSUM] = xm_quote_csum_fixed(ql4, l4_len / 2, XM_QUOTE_TCP_CSUM);
	else if (m.qip.nexthdr == IPPROTO_UDP) /* (an ICMPv6 echo's sum is whole) */
		ql4[XM_QUOTE_UDP_CSUM] = xm_quote_csum_fixed(ql4, l4_len / 2, XM_QUOTE_UDP_CSUM);

	/* Shrink first: it also drops any GSO state. */
	icmp_len = 8 + XM_IPV6_HLEN + l4_len;
	if (bpf_skb_change_tail(skb, l3_off + XM_IPV6_HLEN + l4_len, 0) ||
	    bpf_skb_adjust_room(skb, XM_IPV6_HLEN + 8, BPF_ADJ_ROOM_MAC, 0))
		return -1;

	m.ip6.version = 6;
	m.ip6.payload_len = bpf_htons((__u16)icmp_len);
	m.ip6.nexthdr = XM_ICMPV6;
	m.ip6.hop_limit = 64;
	/* From the router's own address on the NIC the packet came in by; a
	 * NIC without one: the address the packet was sent to (a forward's
	 * is the router's anyway). */
	if (own && (own->addr[0] | own->addr[1] | own->addr[2] | own->addr[3]))
		__builtin_memcpy(&m.ip6.saddr, own->addr, 16);
	else
		m.ip6.saddr = m.qip.daddr;
	m.ip6.daddr = m.qip.saddr;
	m.type = XM_ICMPV6_PKT_TOOBIG;
	m.mtu = bpf_htonl(mtu);
	/* RFC 4443 section 2.3: the pseudo-header (addresses, length, next
	 * header), the message and the quote. */
	pseudo[0] = bpf_htonl(icmp_len);
	pseudo[1] = bpf_htonl(XM_ICMPV6);
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&m.ip6.saddr, 32, 0);
	if (sum >= 0)
		sum = bpf_csum_diff(NULL, 0, pseudo, sizeof(pseudo), (__u32)sum);
	if (sum >= 0)
		sum = bpf_csum_diff(NULL, 0, (__be32 *)&m.type, 8 + XM_IPV6_HLEN, (__u32)sum);
	if (sum >= 0)
		sum = bpf_csum_diff(NULL, 0, (__be32 *)ql4, l4_len, (__u32)sum);
	if (sum < 0)
		return -1;
	m.checksum = ~csum_fold32((__u32)sum);

	if (bpf_skb_store_bytes(skb, l3_off, &m, sizeof(m), 0) ||
	    bpf_skb_store_bytes(skb, l3_off + sizeof(m), ql4, l4_len, 0))
		return -1;
	return 0;
}

#endif
