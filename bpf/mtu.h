/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The MTU a packet leaving by a managed NIC is checked against. xmasq
 * reads each NIC's MTU at attach and apply (xm_iface.mtu), and again only
 * while a follower runs (xmasqd, xmasq follow). A packet longer than
 * XM_MTU_FITS_ALL asks the kernel for the NIC's MTU as it is now
 * (bpf_check_mtu, Linux 5.12): with an MTU lowered and no follower, XDP
 * would redirect frames the NIC then drops unseen, and tc would send
 * them to the same end, where the kernel itself answers frag-needed or
 * fragments. Shorter packets, most of a small-packet load, cost no call. */
#ifndef XMASQ_BPF_MTU_H
#define XMASQ_BPF_MTU_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"

/* NIC ifindex's MTU now, or `known` when the kernel cannot say (the NIC
 * went): the helper sets its MTU argument on both of its answers. Global,
 * called with scalars: its frame holds the argument, not the packet's. */
__noinline __u32 xm_mtu_now_xdp(struct xdp_md *ctx, __u32 ifindex, __u32 known)
{
	__u32 mtu = 0;

	if (!ctx || bpf_check_mtu(ctx, ifindex, &mtu, 0, 0) < 0 || !mtu)
		return known;
	return mtu;
}

__noinline __u32 xm_mtu_now_tc(struct __sk_buff *skb, __u32 ifindex, __u32 known)
{
	__u32 mtu = 0;

	if (!skb || bpf_check_mtu(skb, ifindex, &mtu, 0, 0) < 0 || !mtu)
		return known;
	return mtu;
}

/* The MTU of egress oif for a packet of l3_len bytes as it will leave
 * (0: not checked, as xm_iface.mtu 0 says). */
static __always_inline __u32 xm_egress_mtu_xdp(struct xdp_md *ctx, const struct xm_iface *oif,
					       __u32 l3_len)
{
	if (!oif->mtu || l3_len <= XM_MTU_FITS_ALL)
		return oif->mtu;
	return xm_mtu_now_xdp(ctx, oif->ifindex, oif->mtu);
}

static __always_inline __u32 xm_egress_mtu_tc(struct __sk_buff *skb, const struct xm_iface *oif,
					      __u32 l3_len)
{
	if (!oif->mtu || l3_len <= XM_MTU_FITS_ALL)
		return oif->mtu;
	return xm_mtu_now_tc(skb, oif->ifindex, oif->mtu);
}

#endif
