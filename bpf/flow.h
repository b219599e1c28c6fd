/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow creation: a packet that matches a forward or masquerade rule gets
 * both entries of a new flow (DNAT + masquerade with port allocation).
 * Shared by the XDP and tc entry points; `ctx` is whichever context the
 * caller has. */
#ifndef XMASQ_BPF_FLOW_H
#define XMASQ_BPF_FLOW_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <linux/in.h>
#include <linux/if_ether.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "ct.h"
#include "parse.h"
#include "stats.h"
#include "sweep.h"
#include "fib.h"
#include "track.h"
#include "rule_match.h"
#include "ports.h"
#include "guard.h"
#include "ts_shift.h"

/* Outcome of looking a packet up: use the flow, or pass / drop it. */
enum xm_lookup {
	XM_LK_FLOW = 0,
	XM_LK_PASS,
	XM_LK_DROP,
	XM_LK_NEW, /* no flow; the caller may not make one (xm_classify) */
};

/* What a reply-direction TCP segment of a known flow may not do:
 * - a SYN-ACK on a flow that sent no SYN: the router's own connection
 *   got a port a lingering flow still held (the kernel cannot see
 *   xmasq's ports). The flow gives way and the kernel gets the packet.
 * - a FIN or data in SYN_SENT: a late segment of the connection that held
 *   this port before (xm_ct_claim_reply) must not reach the new one.
 * A pure ACK still passes: a backend in TIME_WAIT answers the new SYN
 * with one, the client's RST ends that TIME_WAIT and its next SYN opens
 * the connection. Costs two flag tests on other segments. */
static __always_inline int xm_tcp_guard(void *ctx, int is_xdp, struct xm_pkt *p, struct xm_flow *f,
					__u64 len)
{
	__u8 fl = p->tcp_flags;
	struct tcphdr *th;
	void *end;
	int rc;

	if (p->icmp_error)
		return XM_LK_FLOW;
	/* A RST, FIN or SYN on an established or closing flow: in the
	 * receiver's window, or it changes nothing (bpf/tcp_window.h). Not a
	 * SYN-ACK from the backend: that is for the check below. */
	if (xm_tcp_seq_due(fl, f->state, (f->flags & XM_FLOW_REPLY) != 0)) {
		th = xm_tcp_header(ctx, is_xdp, p, &end);
		rc = th ? xm_tcp_seq_check(xm_key_w0(&p->key), xm_key_w1(&p->key),
					   bpf_ntohl(th->seq), fl, (__u32)len) :
			  XM_SEQ_OK;
		if (rc == XM_SEQ_DROP)
			return XM_LK_DROP;
		if (rc == XM_SEQ_KEEP) {
			p->tcp_rst_inexact = (fl & XM_TCP_RST) != 0;
			p->tcp_flags = fl = 0; /* forwarded, but tracked as nothing */
		}
	}
	if (!(f->flags & XM_FLOW_REPLY))
		return XM_LK_FLOW;
	if ((fl & (XM_TCP_SYN | XM_TCP_ACK)) == (XM_TCP_SYN | XM_TCP_ACK)) {
		if (f->state == XM_ST_SYN_SENT || !xm_router_socket(ctx, &p->key) ||
		    xm_ct_remove_flow(xm_key_w0(&p->key), xm_key_w1(&p->key), 1))
			return XM_LK_FLOW;
		xm_count(XM_C_PASS_ROUTER_PORT, len);
		return XM_LK_PASS;
	}
	if (f->state == XM_ST_SYN_SENT && !(fl & (XM_TCP_SYN | XM_TCP_RST)) &&
	    ((fl & XM_TCP_FIN) || p->tcp_data)) {
		xm_count(XM_C_DROP_STALE_SEGMENT, len);
		return XM_LK_DROP;
	}
	return XM_LK_FLOW;
}

/* Creates both entries of a new flow for a packet matching a forward or
 * masquerade rule. Both slots are claimed before either is published, so
 * no half of a pair is ever seen alone. Returns XM_LK_FLOW with *out set,
 * or PASS/DROP (counted). */
static __always_inline int xm_flow_create(void *ctx, int is_xdp, struct xm_pkt *p, __u32 ifindex,
					  __u32 vlan_tci, __u64 len, struct xm_flow **out)
{
	__u32 zero = 0;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct xm_iface *in_if, *out_if;
	struct bpf_fib_lookup fib;
	struct xm_flow_key rkey = {};
	struct xm_flow *rval, *oval;
	struct xm_target t = {};
	struct xm_ct_slot *os;
	__u32 out_ifindex, now = xm_clock_s(), ridx = 0, tsd;
	__u8 state;
	__be32 masq_addr;
	int rc, why, masq, oidx;

	if (!cfg)
		return XM_LK_PASS;
	rc = p->frag == XM_FRAG_LATER || p->icmp_error ? -1 :
							 xm_target_find(ctx, p, ifindex, cfg, &t);
	if (rc) {
		xm_count(rc == XM_TARGET_FILTERED ? XM_C_PASS_NAT_FILTERED : XM_C_PASS_NOT_OURS,
			 len);
		return XM_LK_PASS;
	}
	masq = (t.flags & XM_RULE_MASQUERADE) != 0;
	/* Only a TCP SYN opens a TCP flow: a stray segment of an unknown
	 * connection must not allocate state. */
	if (p->key.proto == IPPROTO_TCP &&
	    (p->tcp_flags & (XM_TCP_SYN | XM_TCP_ACK | XM_TCP_RST)) != XM_TCP_SYN) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return XM_LK_PASS;
	}
	in_if = xm_iface_of(ifindex);
	if (!in_if) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return XM_LK_PASS;
	}

	rc = xm_fib(ctx, &fib, p->key.saddr, t.to_addr, p->key.proto, p->key.sport, t.to_port, 0,
		    ifindex);
	/* FRAG_NEEDED (tc: the kernel found the route, then the packet
	 * longer than the egress MTU) is routed: the egress MTU check below
	 * answers it with frag-needed, as for a flow's later packets. */
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	    rc != BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		if (masq) { /* not routed out: the kernel's business */
			xm_count(XM_C_PASS_NOT_OURS, len);
			return XM_LK_PASS;
		}
		xm_count(XM_C_DROP_NO_ROUTE, len);
		return XM_LK_DROP;
	}
	out_ifindex = fib.ifindex;
	if (masq && t.out_ifindex && out_ifindex != t.out_ifindex) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return XM_LK_PASS;
	}
	out_if = xm_iface_of(out_ifindex);
	if (!out_if) {
		xm_count(XM_C_PASS_EGRESS_UNMANAGED, len);
		return XM_LK_PASS;
	}
	/* A forward with a `from` list admits its sources only, and a source
	 * may hold flows-per-source flows. Here, after the route: earlier, the
	 * branch made the tc program's verification 15 % longer (here 3 %). */
	if ((t.allow_list || cfg->flows_per_source) &&
	    !xm_guard_admit(t.allow_list, t.rule_id, p->key.saddr, (__u32)len))
		return XM_LK_DROP;
	masq_addr = (t.flags & XM_RULE_KEEP_SOURCE) ? p->key.saddr : out_if->addr;
	/* A rule with an `as` list: one of its addresses (xm_addr_set_pick). */
	if (cfg->flags & XM_CFG_ADDR_SETS) {
		__be32 a = xm_addr_set_pick(t.rule_id, masq ? p->key.saddr : bpf_get_prandom_u32());

		if (a)
			masq_addr = a;
	}
	/* Hairpinned: the sender's public address, the one it sent to (its
	 * mapping's). Without a branch, which would double the paths the
	 * verifier walks from here on. */
	masq_addr ^= (masq_addr ^ p->key.daddr) & -(__u32)((t.flags / XM_TARGET_HAIRPIN) & 1);
	state = p->key.proto == IPPROTO_TCP ? XM_ST_SYN_SENT : XM_ST_NONE;

	/* Reply direction: backend -> masquerade address:port. */
	rkey.saddr = t.to_addr;
	rkey.daddr = masq_addr;
	rkey.sport = t.to_port;
	rkey.dport = p->key.sport;
	rkey.proto = p->key.proto;
	if (p->key.proto == IPPROTO_ICMP)
		rkey.sport = p->key.sport;
	/* A masqueraded host keeps one public port for every destination
	 * (endpoint-independent mapping): its host endpoint goes along. An
	 * address with no port left gives way to the next of the `as` list:
	 * rkey.daddr is the one the flow got. */
	why = xm_alloc_port(ctx, &rkey, p->key.saddr, p->key.sport,
			    XM_NAT_HOST(p->key.saddr, p->key.sport, p->key.proto) & -(__u64)masq,
			    t.flags & XM_RULE_KEEP_SOURCE, t.rule_id, &ridx);
	if (why) {
		if (why == XM_C_DROP_CT_FULL)
			xm_sweep_hurry();
		xm_count(why, len);
		return XM_LK_DROP;
	}
	oidx = xm_ct_claim_key(&p->key);
	if (oidx < 0) {
		/* Another CPU created this flow meanwhile, or the table is
		 * full: give our reply slot back. */
		xm_ct_release(ridx);
		if (oidx == XM_CT_ERR_EXIST) {
			*out = xm_flow_find(&p->key);
			if (*out) {
				xm_count(XM_C_FLOW_RACE, len);
				return XM_LK_FLOW;
			}
		}
		xm_sweep_hurry();
		xm_count(XM_C_DROP_CT_FULL, len);
		return XM_LK_DROP;
	}

	/* Both slots are ours (WRITING) until published: filled in place. */
	rval = xm_ct_claimed_value(ridx);
	oval = xm_ct_claimed_value((__u32)oidx);
	if (!rval || !oval) {
		xm_ct_release(ridx);
		xm_ct_release((__u32)oidx);
		xm_count(XM_C_DROP_CT_FULL, len);
		return XM_LK_DROP;
	}
	rval->new_saddr = p->key.daddr;
	rval->new_daddr = p->key.saddr;
	rval->new_sport = p->key.dport;
	rval->new_dport = p->key.sport;
	xm_copy_mac(rval->out_dmac, p->eth->h_source);
	rval->out_vlan = vlan_tci;
	rval->flags = XM_FLOW_REPLY | XM_FLOW_L2_VALID;
	rval->state = state;
	rval->rule_id = t.rule_id;
	rval->in_slot = out_if->slot;
	rval->out_slot = in_if->slot;
	rval->last_seen_s = now;

	/* Original direction: client -> public address:port. */
	oval->new_saddr = rkey.daddr;
	oval->new_daddr = t.to_addr;
	oval->new_sport = rkey.dport;
	oval->new_dport = p->key.proto == IPPROTO_ICMP ? rkey.dport : t.to_port;
	if (xm_fib_l2_found(rc)) {
		xm_copy_mac(oval->out_dmac, fib.dmac);
		oval->flags |= XM_FLOW_L2_VALID;
	}
	if (t.flags & XM_RULE_KEEP_SOURCE)
		oval->flags |= XM_FLOW_KEEP_SOURCE;
	/* A flow let in through a mapping keeps it alive (the sweeper stamps
	 * it while the flow lives); a masqueraded host's flow makes or stamps
	 * its host's mapping and, when it could have its host's port, does
	 * the same (xm_nat_note). Without branches: each would double the
	 * paths the verifier walks from here on. */
	oval->flags |= ((t.flags / XM_TARGET_INBOUND) & 1) * XM_FLOW_NAT_MAPPED;
	xm_nat_note(XM_NAT_HOST(p->key.saddr, p->key.sport, p->key.proto) & -(__u64)masq, ridx,
		    (__u32)oidx);
	oval->state = state;
	oval->rule_id = t.rule_id;
	oval->in_slot = in_if->slot;
	oval->out_slot = out_if->slot;
	oval->last_seen_s = now;
	/* Its reply key in TIME_WAIT for another client: timestamps shifted
	 * (bpf/ts_shift.h), the delta in place before anyone sees the flow.
	 * Found last, when little else is live: the new-flow path's stack is
	 * at 6.1's limit. */
	tsd = 0;
	if (p->key.proto == IPPROTO_TCP)
		tsd = is_xdp ? xm_ts_delta_xdp(ctx, p->l4_off, xm_key_w0(&rkey), xm_key_w1(&rkey),
					       (__u64)p->key.saddr << 16 | p->key.sport) :
			       xm_ts_delta_tc(ctx, p->l4_off, xm_key_w0(&rkey), xm_key_w1(&rkey),
					      (__u64)p->key.saddr << 16 | p->key.sport);
	rval->packets = tsd;
	oval->packets = tsd;
	rval->bytes_hi = tsd ? XM_FLOW_HI_TS_SHIFT : 0;
	oval->bytes_hi = rval->bytes_hi;

	xm_ct_publish(ridx, &rkey);
	os = xm_ct_publish((__u32)oidx, &p->key);
	if (!os)
		return XM_LK_DROP;
	*out = &os->flow;
	xm_source_add(p->key.saddr, 1);
	xm_sweep_ensure();

	{
		__u32 id = t.rule_id;
		struct xm_rule_stats *rs = bpf_map_lookup_elem(&rule_stats, &id);

		if (rs)
			rs->flows++;
	}
	if (t.flags & XM_TARGET_HAIRPIN)
		xm_count(XM_C_FLOW_HAIRPIN, 0);
	else if (t.flags & XM_TARGET_INBOUND)
		xm_count(XM_C_FLOW_NAT_INBOUND, 0);
	if (tsd)
		xm_count(XM_C_FLOW_TS_SHIFTED, 0);
	xm_count(XM_C_FLOW_NEW, len);
	return XM_LK_FLOW;
}

#endif
