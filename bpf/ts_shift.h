/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* TCP timestamps shifted for a flow that reuses a reply key its peer may
 * still hold in TIME_WAIT for another client (map time_waits): the peer
 * takes the new SYN only if its timestamp is newer than the last one of
 * the old connection (RFC 6191), and another client's clock is unrelated.
 * Such a flow adds a constant to every TSval its client sends and takes
 * it off every TSecr the peer sends back (XM_FLOW_HI_TS_SHIFT marks its
 * entries, which hold the constant where they counted packets), so the
 * peer sees one clock going on from the old connection's and the client
 * its own. Other flows pay one bit test a packet. */
#ifndef XMASQ_BPF_TS_SHIFT_H
#define XMASQ_BPF_TS_SHIFT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <linux/tcp.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "csum.h"
#include "parse.h"
#include "stats.h"
#include "tcp_window.h"
#include "clock.h"
#include "ct.h"
#include "time_wait.h"

/* Added to the old connection's last timestamp: its client may send a
 * little more (a resent FIN) while the peer waits, at most 60 s of a
 * 1 kHz clock. */
#define XM_TS_SHIFT_MARGIN 65536u

/* The usual layout of all segments but the SYN: NOP, NOP, timestamps
 * (the first four option bytes as loaded, little-endian). */
#define XM_TCP_OPTS_NOP_NOP_TS 0x0a080101u

/* The timestamps option of the TCP header at th (frame end `end`): its
 * offset from the header's start, 0 if none. The usual layout is checked
 * first, without the walk. */
static __always_inline __u32 xm_tcp_ts_off(struct tcphdr *th, void *end)
{
	__u32 n = th->doff * 4 - 20;
	void *o = th + 1;
	int at;

	if (th->doff <= 5 || o + 4 > end)
		return 0;
	if (*(__u32 *)o == XM_TCP_OPTS_NOP_NOP_TS)
		return 20 + 2;
	at = xm_tcp_opts_scan(xm_tcp_opts_word(o, end, 0, n), xm_tcp_opts_word(o, end, 8, n),
			      xm_tcp_opts_word(o, end, 16, n), xm_tcp_opts_word(o, end, 24, n),
			      xm_tcp_opts_word(o, end, 32, n)) >>
		     8 &
	     0xff;
	return at < 1 || at > XM_TCP_OPTS_MAX - XM_TCP_OPT_TS_LEN + 1 ? 0 : 20 + (__u32)at - 1;
}

/* TSval (tsecr 0) or TSecr (1) of the TCP header at th, in host order;
 * 0 when the segment has none (or it is not in the frame). A value of 0
 * counts as none: a shift chosen without it changes nothing but one
 * tick. */
static __always_inline __u32 xm_tcp_ts_get(struct tcphdr *th, void *end, int tsecr)
{
	__u32 off = xm_tcp_ts_off(th, end);
	void *v;

	if (!off)
		return 0;
	v = (void *)th + (off & 63) + 2 + (tsecr ? 4 : 0);
	if (v + 4 > end)
		return 0;
	return bpf_ntohl(*(__u32 *)v);
}

/* Shifts the TCP header at th: TSval + delta (the client's direction) or
 * TSecr - delta (reply). Returns the checksum's difference, folded, in
 * the header's own 16-bit words (a field at an odd offset has its bytes
 * swapped in them); 0 when the segment has no timestamps. */
static __always_inline __u32 xm_tcp_ts_shift(struct tcphdr *th, void *end, __u32 delta, int reply)
{
	__u32 off = xm_tcp_ts_off(th, end), old, new, d;
	void *v;

	if (!off)
		return 0;
	off = (off & 63) + 2 + (reply ? 4 : 0);
	v = (void *)th + off;
	if (v + 4 > end)
		return 0;
	old = *(__u32 *)v;
	new = bpf_htonl(bpf_ntohl(old) + (reply ? -delta : delta));
	*(__u32 *)v = new;
	d = csum_fold32(csum_diff32(0, old, new));
	if (off & 1)
		d = ((d >> 8) | (d << 8)) & 0xffff;
	return d;
}

/* Seconds a note still counts for a shift after its TIME_WAIT should have
 * ended: the clock counts whole seconds, and a port search beyond the
 * ports' capacity takes tuples just as their TIME_WAIT ends. A shift on
 * a tuple the peer has let go is harmless. */
#define XM_TS_SHIFT_SLACK_S 5

/* Whether reply key (w0, w1), just taken by client `client`:`port`, is
 * noted in TIME_WAIT for another client with the old connection's last
 * timestamp: only then is the SYN's own looked for (one lookup a new TCP
 * flow, the options walk only for these). */
static __always_inline int xm_ts_shift_noted(__u64 w0, __u64 w1, __u32 client, __u32 port)
{
	__u32 slot = xm_time_wait_slot(w0, w1);
	struct xm_time_wait *tw = bpf_map_lookup_elem(&time_waits, &slot);

	return tw && (tw->flags & XM_TIME_WAIT_HAS_TS) &&
	       (tw->client != client || tw->client_port != (__u16)port) &&
	       (__s32)(tw->until_s + XM_TS_SHIFT_SLACK_S - xm_clock_s()) > 0;
}

/* The shift for a new flow taking reply key (w0, w1) whose SYN carries
 * timestamp tsval (0: none), the key already found noted for another
 * client (xm_ts_shift_noted): the delta that puts tsval past the old
 * connection's last timestamp; 0 when it is past already. */
static __always_inline __u32 xm_ts_shift_choose(__u64 w0, __u64 w1, __u32 tsval)
{
	__u32 slot = xm_time_wait_slot(w0, w1);
	__u32 *last = bpf_map_lookup_elem(&time_wait_ts, &slot);

	if (!last || !tsval)
		return 0;
	if ((__s32)(tsval - *last) > (__s32)XM_TS_SHIFT_MARGIN)
		return 0; /* newer already */
	return *last + XM_TS_SHIFT_MARGIN - tsval;
}

/* Whether the packet of flow entry f has timestamps to shift: a TCP
 * segment (not an ICMP error about one, not a later fragment) of a
 * shifted flow. */
static __always_inline int xm_ts_shift_due(const struct xm_flow *f, const struct xm_pkt *p)
{
	return (f->bytes_hi & XM_FLOW_HI_TS_SHIFT) && p->key.proto == IPPROTO_TCP &&
	       !p->icmp_error && p->frag != XM_FRAG_LATER;
}

/* A segment of a shifted flow, its entry's delta `delta`: its timestamps
 * shifted, its TCP checksum with them (XDP: in place; tc: by the helper,
 * which leaves a checksum the device has still to finish,
 * CHECKSUM_PARTIAL, alone). */
static __always_inline int xm_ts_packet(void *ctx, int is_xdp, __u32 l4_off, __u32 delta,
					__u32 reply)
{
	struct tcphdr *th;
	void *end;
	__u32 d;

	th = xm_tcp_header_at(ctx, is_xdp, l4_off, &end);
	if (!th)
		return 0;
	d = xm_tcp_ts_shift(th, end, delta, reply);
	if (!d)
		return 0;
	if (is_xdp)
		th->check = csum_apply(th->check, d);
	else
		bpf_l4_csum_replace(ctx, l4_off + offsetof(struct tcphdr, check), 0, d, 0);
	return 0;
}

/* The last ACK of a close from the reply side of the flow whose reply
 * entry has key (w0, w1) and client client_port (address << 16 | port):
 * noted with its TSecr (xm_time_wait_note). */
static __always_inline int xm_ts_note(void *ctx, int is_xdp, __u32 l4_off, __u64 w0, __u64 w1,
				      __u64 client_port)
{
	struct tcphdr *th;
	void *end;

	th = xm_tcp_header_at(ctx, is_xdp, l4_off, &end);
	return xm_time_wait_note(w0, w1, (__u32)(client_port >> 16), (__u16)client_port,
				 th ? xm_tcp_ts_get(th, end, 1) : 0);
}

/* A new TCP flow's delta, 0 for none: its reply key (w0, w1) noted in
 * TIME_WAIT for another client than client_port (address << 16 | port),
 * the SYN's TSval from the packet in ctx. Called before the flow's
 * entries are published, so no other CPU ever sees them without it. */
static __always_inline __u32 xm_ts_delta(void *ctx, int is_xdp, __u32 l4_off, __u64 w0, __u64 w1,
					 __u64 client_port)
{
	__u32 client = (__u32)(client_port >> 16), port = (__u16)client_port;
	struct tcphdr *th;
	void *end;

	if (!xm_ts_shift_noted(w0, w1, client, port))
		return 0;
	th = xm_tcp_header_at(ctx, is_xdp, l4_off, &end);
	if (!th)
		return 0;
	return xm_ts_shift_choose(w0, w1, xm_tcp_ts_get(th, end, 0));
}

/* The delta, the shift of a packet and the note as global functions, one
 * per hook: each is verified once, and the packet path only calls them,
 * so the paths the verifier walks there do not multiply (6.1's limit of
 * a million instructions). None calls another global function: the
 * new-flow path's combined stack stays within 6.1's 512 bytes. */
__noinline __u32 xm_ts_delta_xdp(struct xdp_md *ctx, __u32 l4_off, __u64 w0, __u64 w1,
				 __u64 client_port)
{
	return xm_ts_delta(ctx, 1, l4_off, w0, w1, client_port);
}

__noinline __u32 xm_ts_delta_tc(struct __sk_buff *skb, __u32 l4_off, __u64 w0, __u64 w1,
				__u64 client_port)
{
	return xm_ts_delta(skb, 0, l4_off, w0, w1, client_port);
}

__noinline int xm_ts_packet_xdp(struct xdp_md *ctx, __u32 l4_off, __u32 delta, __u32 reply)
{
	return xm_ts_packet(ctx, 1, l4_off, delta, reply);
}

__noinline int xm_ts_packet_tc(struct __sk_buff *skb, __u32 l4_off, __u32 delta, __u32 reply)
{
	return xm_ts_packet(skb, 0, l4_off, delta, reply);
}

__noinline int xm_ts_note_xdp(struct xdp_md *ctx, __u32 l4_off, __u64 w0, __u64 w1,
			      __u64 client_port)
{
	return xm_ts_note(ctx, 1, l4_off, w0, w1, client_port);
}

__noinline int xm_ts_note_tc(struct __sk_buff *skb, __u32 l4_off, __u64 w0, __u64 w1,
			     __u64 client_port)
{
	return xm_ts_note(skb, 0, l4_off, w0, w1, client_port);
}

#endif
