/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection state, followed from the TCP flags of each packet. */
#ifndef XMASQ_BPF_TRACK_H
#define XMASQ_BPF_TRACK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <linux/in.h>
#include "xmasq_abi.h"
#include "ct.h"
#include "parse.h"

#define XM_TCP_FIN 0x01
#define XM_TCP_SYN 0x02
#define XM_TCP_RST 0x04
#define XM_TCP_ACK 0x10

/* Connection state, from the flags of each packet. Both entries carry the
 * state; a change is written to both (the sweeper reads the ORIG one). */
static __always_inline void xm_flow_track(struct xm_flow *f, const struct xm_pkt *p)
{
	int reply = (f->flags & XM_FLOW_REPLY) != 0;
	__u8 old = f->state, new = old, fl = p->tcp_flags;
	struct xm_flow *partner;
	struct xm_flow_key pk;

	if (p->key.proto == IPPROTO_TCP) {
		if (fl & XM_TCP_RST)
			new = XM_ST_CLOSE;
		else if (fl & XM_TCP_FIN)
			new = old == XM_ST_CLOSE ? XM_ST_CLOSE : XM_ST_FIN;
		else if ((fl & (XM_TCP_SYN | XM_TCP_ACK)) == XM_TCP_SYN && !reply &&
			 (old == XM_ST_FIN || old == XM_ST_CLOSE))
			new = XM_ST_SYN_SENT; /* the client reuses the tuple */
		else if (reply && old == XM_ST_SYN_SENT)
			new = XM_ST_ESTABLISHED;
	} else if (reply && old == XM_ST_NONE) {
		new = XM_ST_ASSURED;
	}
	if (new == old)
		return;
	f->state = new;
	xm_flow_partner_key(f, p->key.proto, &pk);
	partner = xm_flow_find(&pk);
	if (partner)
		partner->state = new;
}

#endif
