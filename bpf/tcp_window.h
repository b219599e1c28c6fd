/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* TCP windows as the router sees them, so that a RST or FIN changes a
 * flow only when its sequence number lies in the receiver's window
 * (netfilter's tcp_in_window, RFC 5961 section 3): a host that knows a
 * connection's tuple but not its sequence numbers cannot end it.
 *
 * Each entry keeps what its sender showed of its receive window
 * (xm_flow's and xm_flow6's tcp_ack, tcp_win): the last ACK it sent, bounded forward by its
 * largest window (a spoofed ACK cannot move it far), and that window
 * with the scale of the SYN / SYN-ACK options. A RST or FIN is checked
 * against the receiver's entry, looked up only then: the per-packet cost
 * is the bookkeeping in xm_tcp_window_note_at. Lenient as netfilter: until a
 * direction has sent an ACK, nothing is checked against it; an unknown
 * scale counts as the largest. */
#ifndef XMASQ_BPF_TCP_WINDOW_H
#define XMASQ_BPF_TCP_WINDOW_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "ct.h"
#include "parse.h"
#include "stats.h"
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>

#define XM_TCP_FIN 0x01
#define XM_TCP_SYN 0x02
#define XM_TCP_RST 0x04
#define XM_TCP_ACK 0x10

#define XM_TCP_OPTS_MAX 40

/* What xm_tcp_seq_check says of a RST, FIN or SYN. */
enum xm_tcp_seq {
	XM_SEQ_OK = 0, /* in the window: it may change the state */
	XM_SEQ_KEEP,   /* passed on, the state unchanged */
	XM_SEQ_DROP,   /* outside the window: dropped */
};

/* The largest window in bytes an entry's tcp_win stands for. */
static __always_inline __u32 xm_tcp_win_bytes(__u16 w)
{
	__u32 scale = w >> XM_TCP_WIN_SCALE_SHIFT;

	scale = scale ? scale - 1 : XM_TCP_WSCALE_MAX;
	return ((__u32)(w & XM_TCP_WIN_MASK) << XM_TCP_WIN_UNIT_SHIFT) << scale;
}

/* Per ACK segment of an entry's sender: its ACK, if it moves forward by
 * at most the window the sender offered (its peer cannot have sent more),
 * and its window, if the largest yet. SYNs carry unscaled windows: not
 * here. */
static __always_inline void xm_tcp_window_note_at(__u32 *tcp_ack, __u16 *tcp_win,
						  const struct tcphdr *th)
{
	__u16 w = *tcp_win;
	__u32 m = ((__u32)bpf_ntohs(th->window) >> XM_TCP_WIN_UNIT_SHIFT) + 1;
	__u32 ack = bpf_ntohl(th->ack_seq);

	if (!(w & XM_TCP_WIN_MASK) || ack - *tcp_ack <= xm_tcp_win_bytes(w))
		*tcp_ack = ack;
	if (m > (w & XM_TCP_WIN_MASK))
		*tcp_win = (w & ~XM_TCP_WIN_MASK) | m;
}

#define XM_TCP_OPT_WSCALE     3
#define XM_TCP_OPT_WSCALE_LEN 3
#define XM_TCP_OPT_TS	      8
#define XM_TCP_OPT_TS_LEN     10

/* The window scale and timestamps options among a segment's options,
 * given as five words of 8 bytes (byte i in word i / 8, little-endian;
 * zeros past the options): in bits 0-7 the window scale's shift + 1
 * (above 14 counts as 14), in bits 8-15 the timestamps option's offset
 * + 1; 0 where absent. Global, with the bytes as arguments: its loop is
 * verified once, and the caller needs no stack for them. */
__noinline int xm_tcp_opts_scan(__u64 w0, __u64 w1, __u64 w2, __u64 w3, __u64 w4)
{
	__u32 skip = 0, phase = 0, kind = 0, b, found = 0;

	/* Byte by byte, shifting the 40 bytes down (no variable stack
	 * offsets): phase 0 wants a kind, 1 its length, 2 the shift. */
	for (int k = 0; k < XM_TCP_OPTS_MAX; k++) {
		b = w0 & 0xff;
		w0 = w0 >> 8 | w1 << 56;
		w1 = w1 >> 8 | w2 << 56;
		w2 = w2 >> 8 | w3 << 56;
		w3 = w3 >> 8 | w4 << 56;
		w4 >>= 8;
		if (skip) {
			skip--;
		} else if (phase == 2) {
			found |= (b < XM_TCP_WSCALE_MAX ? b : XM_TCP_WSCALE_MAX) + 1;
			phase = 0;
		} else if (phase == 1) {
			if (b < 2)
				return found; /* malformed */
			if (kind == XM_TCP_OPT_WSCALE && b == XM_TCP_OPT_WSCALE_LEN) {
				phase = 2;
				continue;
			}
			if (kind == XM_TCP_OPT_TS && b == XM_TCP_OPT_TS_LEN)
				found |= (__u32)k << 8; /* its kind at k - 1 */
			skip = b - 2;
			phase = 0;
		} else if (b == 0) { /* end of options */
			return found;
		} else if (b != 1) { /* not a no-op */
			kind = b;
			phase = 1;
		}
	}
	return found;
}

/* Eight bytes of TCP options from o (n bytes of options in all), the part
 * past n or the frame's end as zeros. */
static __always_inline __u64 xm_tcp_opts_word(void *o, void *end, __u32 at, __u32 n)
{
	__u64 v = 0;

	if (at + 4 <= n && o + at + 4 <= end)
		v = *(__u32 *)(o + at);
	if (at + 8 <= n && o + at + 8 <= end)
		v |= (__u64) * (__u32 *)(o + at + 4) << 32;
	return v;
}

/* A SYN's window scale option (xm_tcp_opts_scan) from its TCP header at
 * th. */
static __always_inline int xm_tcp_syn_wscale(struct tcphdr *th, void *end)
{
	__u32 n = th->doff * 4 - 20;
	void *o = th + 1;

	if (th->doff <= 5)
		return 0;
	return 0xff &
	       xm_tcp_opts_scan(xm_tcp_opts_word(o, end, 0, n), xm_tcp_opts_word(o, end, 8, n),
				xm_tcp_opts_word(o, end, 16, n), xm_tcp_opts_word(o, end, 24, n),
				xm_tcp_opts_word(o, end, 32, n));
}

/* The TCP header at l4 (at most max, which mask covers: constants) of the
 * packet in ctx, or NULL; end gets the frame's end. is_xdp: a constant
 * where this is inlined. */
static __always_inline struct tcphdr *xm_tcp_header_within(void *ctx, int is_xdp, __u32 l4,
							   __u32 max, __u32 mask, void **end)
{
	void *data, *th;

	if (is_xdp) {
		data = (void *)(long)((struct xdp_md *)ctx)->data;
		*end = (void *)(long)((struct xdp_md *)ctx)->data_end;
	} else {
		data = (void *)(long)((struct __sk_buff *)ctx)->data;
		*end = (void *)(long)((struct __sk_buff *)ctx)->data_end;
	}
	if (l4 > max)
		return NULL;
	/* masked too, behind a barrier clang cannot see through (it would
	 * drop the mask as redundant): a bound the 6.1 verifier keeps
	 * whichever copy of l4 the addition uses */
	asm volatile("" : "+r"(l4));
	th = data + (l4 & mask);
	if (th + sizeof(struct tcphdr) > *end)
		return NULL;
	return th;
}

/* ... of an IPv4 packet (VLAN tag and IP options at most). */
static __always_inline struct tcphdr *xm_tcp_header_at(void *ctx, int is_xdp, __u32 l4, void **end)
{
	return xm_tcp_header_within(ctx, is_xdp, l4, XM_MAX_L4_OFF, XM_L4_OFF_MASK, end);
}

/* The packet's TCP header again (xm_pkt keeps no pointer to it), or NULL. */
static __always_inline struct tcphdr *xm_tcp_header(void *ctx, int is_xdp, const struct xm_pkt *p,
						    void **end)
{
	return xm_tcp_header_at(ctx, is_xdp, p->l4_off, end);
}

/* Whether a segment (flags fl) on a flow in state `state` (reply: its
 * reply direction) is checked against the receiver's window: a RST, FIN or
 * SYN on an established or closing flow, but not the backend's SYN-ACK
 * (bpf/flow.h's xm_tcp_guard has its own check for that). IPv4 and IPv6. */
static __always_inline int xm_tcp_seq_due(__u8 fl, __u8 state, int reply)
{
	return (fl & (XM_TCP_SYN | XM_TCP_RST | XM_TCP_FIN)) &&
	       (state == XM_ST_ESTABLISHED || state == XM_ST_FIN) &&
	       !(reply && (fl & XM_TCP_SYN) && (fl & XM_TCP_ACK));
}

/* A SYN on an established or closing flow (state): see xm_tcp_seq_check. */
static __always_inline int xm_tcp_syn_judge(__u8 state, __u32 len)
{
	if (state != XM_ST_ESTABLISHED)
		return XM_SEQ_OK;
	xm_count(XM_C_TCP_SYN_ON_ESTABLISHED, len);
	return XM_SEQ_KEEP;
}

/* A RST or FIN against its receiver's window as seen (r_win, r_ack: the
 * receiver's entry): see xm_tcp_seq_check. */
static __always_inline int xm_tcp_seq_judge(__u16 r_win, __u32 r_ack, __u32 seq, __u32 fl,
					    __u32 len)
{
	__u32 win, d;

	if (!(r_win & XM_TCP_WIN_MASK))
		return XM_SEQ_OK; /* the receiver has sent no ACK yet */
	win = xm_tcp_win_bytes(r_win);
	d = seq - r_ack;
	if (fl & XM_TCP_RST) {
		if (d == 0)
			return XM_SEQ_OK;
		if (d < win) {
			xm_count(XM_C_TCP_RST_IN_WINDOW_INEXACT, len);
			return XM_SEQ_KEEP;
		}
		xm_count(XM_C_DROP_TCP_RST_OUT_OF_WINDOW, len);
		return XM_SEQ_DROP;
	}
	if (d + win <= 2 * win)
		return XM_SEQ_OK;
	xm_count(XM_C_DROP_TCP_FIN_OUT_OF_WINDOW, len);
	return XM_SEQ_DROP;
}

/* A RST, FIN or SYN (flags fl, sequence number seq, frame length len) on
 * an established or closing flow whose entry has key (w0, w1), checked
 * against the receiver's window as seen (its entry, the partner):
 *  - SYN: changes nothing (RFC 5961 section 4: the endpoint answers with
 *    a challenge ACK), counted;
 *  - RST: exact (seq is the ACK the receiver sent last) OK; else in the
 *    window passed on with the state kept (the endpoint sends a
 *    challenge ACK, or takes it if it is exact by then); else dropped;
 *  - FIN: within a window either side of the receiver's last ACK (a
 *    retransmitted FIN may be behind it) OK, else dropped.
 * Out-of-window segments are dropped rather than passed: netfilter marks
 * them INVALID and does not translate them, and passed untranslated to
 * the router's own stack they would draw a RST from it. Global: a few
 * segments a connection come here. */
__noinline int xm_tcp_seq_check(__u64 w0, __u64 w1, __u32 seq, __u32 fl, __u32 len)
{
	union xm_ct_words u = { .w = { w0, w1 } };
	struct xm_flow *f = xm_flow_find(&u.key), *r;
	struct xm_flow_key pk;

	if (!f)
		return XM_SEQ_OK;
	if (fl & XM_TCP_SYN)
		return xm_tcp_syn_judge(f->state, len);
	xm_flow_partner_key(f, u.key.proto, &pk);
	r = xm_flow_find(&pk);
	return r ? xm_tcp_seq_judge(r->tcp_win, r->tcp_ack, seq, fl, len) : XM_SEQ_OK;
}

#endif
