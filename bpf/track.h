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
#include "tcp_window.h"
#include "clock.h"
#include "maps.h"
#include "time_wait.h"
#include "ts_shift.h"

/* The window scales once the SYN-ACK (of entry f) is seen: synack_ws is
 * its option (shift + 1, 0 = none), the partner's tcp_win holds the SYN's.
 * Without the option on both, neither side scales (RFC 7323 section
 * 1.3); with it on the SYN-ACK only (the SYN's unseen), the scales stay
 * unknown. */
static __always_inline void xm_tcp_scales_set_at(__u16 *f_win, __u32 *f_ack, __u16 *partner_win,
						 __u32 synack_ws)
{
	__u16 syn_ws = *partner_win >> XM_TCP_WIN_SCALE_SHIFT;

	if (synack_ws && syn_ws) {
		*f_win = synack_ws << XM_TCP_WIN_SCALE_SHIFT;
	} else if (!synack_ws) {
		*f_win = 1 << XM_TCP_WIN_SCALE_SHIFT;
		*partner_win = (*partner_win & XM_TCP_WIN_MASK) | 1 << XM_TCP_WIN_SCALE_SHIFT;
	} else {
		*f_win = 0;
		*partner_win &= XM_TCP_WIN_MASK;
	}
	*f_ack = 0;
}

static __always_inline void xm_tcp_scales_set(struct xm_flow *f, struct xm_flow *partner,
					      __u32 synack_ws)
{
	xm_tcp_scales_set_at(&f->tcp_win, &f->tcp_ack, &partner->tcp_win, synack_ws);
}

/* After a RST in the window but not exact, the state stays (the
 * endpoint may answer with a challenge ACK), but the flow is stamped as
 * if idle for all of its established timeout but tcp-close's: it expires
 * as a closed one would unless another packet comes (as netfilter does).
 * f_seen, partner_seen: both entries' last_seen_s (IPv4 or IPv6). */
static __always_inline void xm_tcp_rst_inexact_timeout(__u32 *f_seen, __u32 *partner_seen)
{
	__u32 zero = 0, now = xm_clock_s(), back;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);

	if (!cfg || cfg->timeouts[XM_TO_TCP_EST] <= cfg->timeouts[XM_TO_TCP_CLOSE])
		return;
	back = cfg->timeouts[XM_TO_TCP_EST] - cfg->timeouts[XM_TO_TCP_CLOSE];
	if (now <= back)
		return;
	*f_seen = now - back;
	*partner_seen = now - back;
}

#define XM_TRACK_SYNACK	     0x100 /* synack_ws: the packet is the SYN-ACK */
#define XM_TRACK_RST_INEXACT 0x200 /* ... a RST in the window, not exact */

/* What a TCP segment (flags fl, header th; reply: of the reply
 * direction; old: the flow's state) shows of its sender's receive window,
 * into that direction's entry (tcp_ack, tcp_win): an ACK's number and
 * window, the client's SYN's window scale. For the SYN-ACK, the value for
 * XM_TRACK_SYNACK (its window scale option, to be set on both entries);
 * else 0. IPv4 and IPv6 entries alike. */
static __always_inline __u32 xm_tcp_window_seen(__u32 *tcp_ack, __u16 *tcp_win, struct tcphdr *th,
						void *end, __u8 fl, int reply, __u8 old)
{
	if ((fl & (XM_TCP_SYN | XM_TCP_ACK)) == XM_TCP_ACK) {
		xm_tcp_window_note_at(tcp_ack, tcp_win, th);
	} else if ((fl & (XM_TCP_SYN | XM_TCP_ACK)) == XM_TCP_SYN && !reply) {
		/* The client's SYN: its window scale option, until the SYN-ACK
		 * tells whether both use one. */
		*tcp_win = xm_tcp_syn_wscale(th, end) << XM_TCP_WIN_SCALE_SHIFT;
		*tcp_ack = 0;
	} else if (reply && old == XM_ST_SYN_SENT && (fl & XM_TCP_SYN)) {
		return XM_TRACK_SYNACK | xm_tcp_syn_wscale(th, end);
	}
	return 0;
}

/* A TCP flow's next state from a segment's flags (old: the state now;
 * reply: of the reply direction; flags: the entry's XM_FLOW_* FIN notes).
 * *first_fin: set when the segment is this direction's first FIN. The
 * last ACK of a close is the move from FIN to CLOSE without a RST. */
static __always_inline __u8 xm_tcp_state_next(__u8 old, __u8 fl, int reply, __u8 flags,
					      int *first_fin)
{
	if (fl & XM_TCP_RST)
		return XM_ST_CLOSE;
	if (fl & XM_TCP_FIN) {
		*first_fin = !(flags & XM_FLOW_FIN_SENT);
		return old == XM_ST_CLOSE ? XM_ST_CLOSE : XM_ST_FIN;
	}
	if ((fl & (XM_TCP_SYN | XM_TCP_ACK)) == XM_TCP_SYN && !reply &&
	    (old == XM_ST_FIN || old == XM_ST_CLOSE))
		return XM_ST_SYN_SENT; /* the client reuses the tuple */
	if (reply && old == XM_ST_SYN_SENT)
		return XM_ST_ESTABLISHED;
	if (old == XM_ST_FIN && (fl & XM_TCP_ACK) && (flags & XM_FLOW_FIN_BOTH))
		return XM_ST_CLOSE; /* the last ACK */
	return old;
}

/* Writes a state change to both entries of the flow whose entry has key
 * (w0, w1) (the packet's), and the FIN notes (first_fin: this direction's
 * first FIN). synack_ws: XM_TRACK_SYNACK and the SYN-ACK's window scale
 * option, or XM_TRACK_RST_INEXACT. Global: it runs a few times a connection, so the packet
 * path stays short for the verifier. */
__noinline int xm_flow_state_set(__u64 w0, __u64 w1, __u32 new, __u32 first_fin, __u32 synack_ws)
{
	union xm_ct_words u = { .w = { w0, w1 } };
	struct xm_flow *f = xm_flow_find(&u.key), *partner;
	struct xm_flow_key pk;

	if (!f)
		return 0;
	xm_flow_partner_key(f, u.key.proto, &pk);
	partner = xm_flow_find(&pk);
	f->state = new;
	if (partner)
		partner->state = new;
	if (first_fin) {
		f->flags |= XM_FLOW_FIN_SENT;
		if (partner && (partner->flags & XM_FLOW_FIN_SENT)) {
			f->flags |= XM_FLOW_FIN_BOTH;
			partner->flags |= XM_FLOW_FIN_BOTH;
		}
	}
	if (new == XM_ST_SYN_SENT) {
		f->flags &= ~(XM_FLOW_FIN_SENT | XM_FLOW_FIN_BOTH);
		if (partner) {
			partner->flags &= ~(XM_FLOW_FIN_SENT | XM_FLOW_FIN_BOTH);
			partner->tcp_win = 0; /* the old connection's */
			partner->tcp_ack = 0;
		}
	}
	if ((synack_ws & XM_TRACK_SYNACK) && partner)
		xm_tcp_scales_set(f, partner, synack_ws & 0xff);
	if ((synack_ws & XM_TRACK_RST_INEXACT) && partner)
		xm_tcp_rst_inexact_timeout(&f->last_seen_s, &partner->last_seen_s);
	return 0;
}

/* Connection state, from the flags of each packet. Both entries carry the
 * state (the sweeper reads the ORIG one). Each entry also notes whether
 * its direction has sent a FIN, and both note when both have: the next
 * ACK from a side then is the last ACK of the close, and the flow moves to
 * CLOSE, where a new flow may take its port (xm_ct_claim_reply). */
static __always_inline void xm_flow_track(void *ctx, int is_xdp, struct xm_flow *f,
					  const struct xm_pkt *p)
{
	int reply = (f->flags & XM_FLOW_REPLY) != 0, first_fin = 0, synack_ws = 0;
	__u8 old = f->state, new = old, fl = p->tcp_flags;
	struct tcphdr *th;
	void *end;

	if (p->frag == XM_FRAG_LATER)
		return; /* no flags, and found through its first fragment's key */
	if (p->key.proto == IPPROTO_TCP) {
		if (p->tcp_rst_inexact) {
			xm_flow_state_set(xm_key_w0(&p->key), xm_key_w1(&p->key), old, 0,
					  XM_TRACK_RST_INEXACT);
			return;
		}
		th = xm_tcp_header(ctx, is_xdp, p, &end);
		if (th)
			synack_ws = xm_tcp_window_seen(&f->tcp_ack, &f->tcp_win, th, end, fl, reply,
						       old);
		new = xm_tcp_state_next(old, fl, reply, f->flags, &first_fin);
		if (new == XM_ST_CLOSE && old == XM_ST_FIN && !(fl & XM_TCP_RST)) {
			/* the last ACK, sent by the side that closed first, now
			 * in TIME_WAIT: the reply entry's new destination is the
			 * client */
			if (reply && is_xdp)
				xm_ts_note_xdp(ctx, p->l4_off, xm_key_w0(&p->key),
					       xm_key_w1(&p->key),
					       (__u64)f->new_daddr << 16 | f->new_dport);
			else if (reply)
				xm_ts_note_tc(ctx, p->l4_off, xm_key_w0(&p->key),
					      xm_key_w1(&p->key),
					      (__u64)f->new_daddr << 16 | f->new_dport);
		}
	} else if (reply && old == XM_ST_NONE) {
		new = XM_ST_ASSURED;
	}
	if (new != old || first_fin || synack_ws)
		xm_flow_state_set(xm_key_w0(&p->key), xm_key_w1(&p->key), new, first_fin,
				  synack_ws);
}

#endif
