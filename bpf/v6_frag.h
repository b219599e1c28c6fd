/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IPv6 fragments (RFC 8200 section 4.5): a router forwards them as they
 * are; only the first carries the L4 header. It is translated with its
 * flow, which "frags6" notes under the datagram's identification; the
 * later ones follow it (addresses rewritten, the checksum being in the
 * first), as for IPv4 (map "frags"). */
#ifndef XMASQ_BPF_V6_FRAG_H
#define XMASQ_BPF_V6_FRAG_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "clock.h"
#include "stats.h"
#include "v6_parse.h"
#include "v6_flow.h"

/* The fragment's datagram: its key in frags6. 0, or -1. */
static __always_inline int xm6_frag_key(struct __sk_buff *skb, const struct xm_pkt6 *p,
					struct xm_frag6_key *fk)
{
	__builtin_memcpy(fk->saddr, p->key.saddr, 16);
	__builtin_memcpy(fk->daddr, p->key.daddr, 16);
	fk->proto = p->key.proto;
	return bpf_skb_load_bytes(skb, p->frag_hdr_off + 4, &fk->id, 4) ? -1 : 0;
}

/* A first fragment's flow, noted for the later ones. Global: a frame
 * of its own. */
__noinline int xm6_frag_note(struct __sk_buff *skb, const struct xm_pkt6 *p)
{
	struct xm_frag6_key fk = {};
	struct xm_frag6_value fv = {};

	if (!skb || !p || xm6_frag_key(skb, p, &fk))
		return 0;
	__builtin_memcpy(&fv.flow, &p->key, sizeof(fv.flow));
	fv.created_s = xm_clock_s();
	bpf_map_update_elem(&frags6, &fk, &fv, BPF_ANY);
	return 0;
}

/* A later fragment: p->key becomes the flow key its first fragment had
 * (XM6_NEW_FLOW). Unknown: for the router itself the kernel reassembles
 * it (XM6_NEW_PASS); from a masqueraded prefix it would leave
 * untranslated, so it is dropped (XM6_NEW_DROP). Counted. */
__noinline int xm6_frag_flow(struct __sk_buff *skb, struct xm_pkt6 *p, __u32 len)
{
	struct xm_frag6_key fk = {};
	struct xm_frag6_value *fv;
	struct xm_masq6_key mk = { .prefixlen = 32 + 128 };
	struct xm_config *cfg;
	__u32 zero = 0;

	if (!skb || !p || xm6_frag_key(skb, p, &fk))
		return XM6_NEW_PASS;
	fv = bpf_map_lookup_elem(&frags6, &fk);
	if (fv) {
		__builtin_memcpy(&p->key, &fv->flow, sizeof(p->key));
		xm_count(XM_C_FRAG_LATER, len);
		return XM6_NEW_FLOW;
	}
	cfg = bpf_map_lookup_elem(&config, &zero);
	if (cfg) {
		mk.gen = bpf_htonl(cfg->active_gen & 1);
		__builtin_memcpy(mk.saddr, p->key.saddr, 16);
		if (bpf_map_lookup_elem(&masq_rules6, &mk)) {
			xm_count(XM_C_DROP_FRAG_UNKNOWN, len);
			return XM6_NEW_DROP;
		}
	}
	xm_count(XM_C_PASS_FRAGMENT, len);
	return XM6_NEW_PASS;
}

#endif
