// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A VLAN edge for tests on kernels without 802.1Q devices (no
 * CONFIG_VLAN_8021Q, as this project's test machines): on a NIC's tc
 * egress it tags what the host sends with VLAN 100, on its ingress it
 * takes tag 100 off what comes in (the kernel holds a received tag in the
 * skb by then) and drops every other frame, untagged ones too, so that
 * the host's own stack, untagged, talks VLAN 100 on the wire, and an
 * answer that lost its tag on the way never reaches it. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define VLAN_ID 100

SEC("tc")
int vlan_edge(struct __sk_buff *skb)
{
	/* received on this NIC (a forwarded packet leaving it came in on
	 * another) */
	if (skb->ingress_ifindex == skb->ifindex) {
		if (!skb->vlan_present)
			return TC_ACT_SHOT; /* untagged: not VLAN 100's */
		if ((skb->vlan_tci & 0xfff) != VLAN_ID)
			return TC_ACT_SHOT;
		return bpf_skb_vlan_pop(skb) ? TC_ACT_SHOT : TC_ACT_OK;
	}
	if (skb->vlan_present)
		return TC_ACT_OK;
	return bpf_skb_vlan_push(skb, bpf_htons(0x8100), VLAN_ID) ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
