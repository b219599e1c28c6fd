/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing shared by the XDP and tc entry points: Ethernet, one
 * 802.1Q tag, IPv4 with options, TCP and UDP. */
#ifndef XMASQ_BPF_PARSE_H
#define XMASQ_BPF_PARSE_H

#define XM_ETH_P_IP     0x0800
#define XM_ETH_P_8021Q  0x8100
#define XM_ETH_P_8021AD 0x88A8
#define XM_IP_MF        0x2000
#define XM_IP_OFFSET    0x1fff

struct xm_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct xm_pkt {
	struct ethhdr *eth;
	struct iphdr *ip;
	__u32 l3_off;          /* from the start of the frame */
	__u32 l4_off;
	__u32 csum_off;        /* L4 checksum field, from frame start */
	__u16 vlan_tci;        /* tag found in the frame (host order), 0 = none */
	__u8 has_vlan;         /* the tag is in the frame data (XDP) */
	__u8 tcp_flags;
	__u8 udp_csum_zero;    /* UDP without checksum: keep it zero */
	__u8 _pad[3];
	struct xm_flow_key key;
};

enum xm_parse_result {
	XM_PARSE_OK = 0,
	XM_PARSE_NOT_IPV4,
	XM_PARSE_FRAGMENT,
	XM_PARSE_OTHER,        /* IPv4 but not a protocol we translate */
	XM_PARSE_MALFORMED,
};

static __always_inline int xm_parse(void *data, void *data_end, struct xm_pkt *p)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u16 proto;
	__u32 l3_off = sizeof(*eth);
	__u32 ihl;

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
	p->ip = ip;
	p->l3_off = l3_off;
	p->l4_off = l3_off + ihl;
	if (ip->frag_off & bpf_htons(XM_IP_MF | XM_IP_OFFSET))
		return XM_PARSE_FRAGMENT;

	p->key.saddr = ip->saddr;
	p->key.daddr = ip->daddr;
	p->key.proto = ip->protocol;

	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = data + p->l4_off;

		if ((void *)(th + 1) > data_end || th->doff < 5)
			return XM_PARSE_MALFORMED;
		p->key.sport = th->source;
		p->key.dport = th->dest;
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
		p->tcp_flags = ((__u8 *)th)[13];
		return XM_PARSE_OK;
	}
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = data + p->l4_off;

		if ((void *)(uh + 1) > data_end)
			return XM_PARSE_MALFORMED;
		p->key.sport = uh->source;
		p->key.dport = uh->dest;
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
		p->udp_csum_zero = uh->check == 0;
		return XM_PARSE_OK;
	}
	return XM_PARSE_OTHER;
}

#endif
