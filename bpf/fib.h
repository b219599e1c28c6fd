/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Where packets leave: the managed interfaces, the kernel's FIB, and a
 * flow's next hop. */
#ifndef XMASQ_BPF_FIB_H
#define XMASQ_BPF_FIB_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "parse.h"

/* A managed interface by ifindex, or NULL. */
static __always_inline struct xm_iface *xm_iface_of(__u32 ifindex)
{
	struct xm_iface *v;

	if (ifindex < XM_IFINDEX_DIRECT) {
		v = bpf_map_lookup_elem(&iface_index, &ifindex);
		return v && v->ifindex == ifindex ? v : NULL;
	}
	return bpf_map_lookup_elem(&ifaces, &ifindex);
}

static __always_inline int xm_fib(void *ctx, struct bpf_fib_lookup *fib, __be32 src, __be32 dst,
				  __u8 proto, __be16 sport, __be16 dport, __u16 tot_len,
				  __u32 ifindex)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = 2; /* AF_INET */
	fib->l4_protocol = proto;
	fib->sport = sport;
	fib->dport = dport;
	fib->tot_len = tot_len;
	fib->ipv4_src = src;
	fib->ipv4_dst = dst;
	fib->ifindex = ifindex;
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
}

/* Whether lookup result rc found the next hop's MAC. tc's lookup (the
 * skb's) says FRAG_NEEDED when, after a whole lookup, this packet is
 * longer than the egress MTU (xmasq never passes tot_len, so nothing
 * else does): the MAC is filled in all the same, and the packet's size is
 * the caller's business. Taken as not found, a too-big packet sent the
 * flow to tc (pass_no_neigh) until a smaller one resolved it again. */
static __always_inline int xm_fib_l2_found(int rc)
{
	return rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_FRAG_NEEDED;
}

static __always_inline void xm_copy_mac(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, 6);
}

/* Re-resolves the next hop of an original-direction flow (now and then,
 * so a changed neighbour or route is picked up). Routed like the flow's
 * first packet: translated destination, the client's source (as the
 * kernel routes a DNATed packet before masquerading it). */
static __always_inline void xm_flow_resolve(void *ctx, struct xm_flow *f, const struct xm_pkt *p,
					    __u32 in_ifindex, __u32 out_ifindex)
{
	struct bpf_fib_lookup fib;
	int rc;

	rc = xm_fib(ctx, &fib, p->key.saddr, f->new_daddr, p->key.proto, p->key.sport, f->new_dport,
		    0, in_ifindex);
	if (xm_fib_l2_found(rc) && fib.ifindex == out_ifindex) {
		xm_copy_mac(f->out_dmac, fib.dmac);
		f->flags |= XM_FLOW_L2_VALID;
	} else {
		f->flags &= ~XM_FLOW_L2_VALID;
	}
}

#endif
