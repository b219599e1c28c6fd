/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Masquerade port allocation: the client's own port where it is free and
 * the router's own sockets cannot collide with it, else a random one of
 * the range; a closed TCP flow's port is taken over at once. */
#ifndef XMASQ_BPF_PORTS_H
#define XMASQ_BPF_PORTS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <linux/in.h>
#include <stddef.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "ct.h"
#include "stats.h"

/* Whether the router itself has a socket that a packet with tuple k (as
 * received) would reach: a connection, a listener, or a bound UDP socket.
 * The kernel knows nothing of xmasq's ports, so xmasq asks it. */
static __always_inline int xm_router_socket(void *ctx, const struct xm_flow_key *k)
{
	/* The key starts as bpf_sock_tuple's ipv4 part does: no copy on a
	 * stack that is nearly full. */
	struct bpf_sock_tuple *t = (struct bpf_sock_tuple *)k;
	struct bpf_sock *sk;

	_Static_assert(offsetof(struct xm_flow_key, saddr) ==
				       offsetof(struct bpf_sock_tuple, ipv4.saddr) &&
			       offsetof(struct xm_flow_key, dport) ==
				       offsetof(struct bpf_sock_tuple, ipv4.dport),
		       "xm_flow_key must begin like bpf_sock_tuple.ipv4");
	if (k->proto == IPPROTO_TCP)
		sk = (struct bpf_sock *)bpf_skc_lookup_tcp(ctx, t, sizeof(t->ipv4),
							   BPF_F_CURRENT_NETNS, 0);
	else if (k->proto == IPPROTO_UDP)
		sk = bpf_sk_lookup_udp(ctx, t, sizeof(t->ipv4), BPF_F_CURRENT_NETNS, 0);
	else
		return 0;
	if (!sk)
		return 0;
	bpf_sk_release(sk);
	return 1;
}

/* Removes the flow whose entry has key (w0, w1), both entries, if it is
 * a TCP flow in CLOSE (RST seen, or FINs both ways and the last ACK), or
 * any flow when `any`. 0 if it went. The entry found goes first: from
 * then on its key is free. Global: verified once, not in every loop that
 * calls it. */
__noinline int xm_ct_remove_flow(__u64 w0, __u64 w1, __u32 any)
{
	union xm_ct_words u = { .w = { w0, w1 } };
	struct xm_ct_slot *s, *ps;
	struct xm_flow_key pk;
	__u32 idx, pidx;

	s = xm_ct_find(&u.key, &idx);
	if (!s)
		return -1;
	if (!any && (u.key.proto != IPPROTO_TCP || s->flow.state != XM_ST_CLOSE))
		return -1;
	xm_flow_partner_key(&s->flow, u.key.proto, &pk);
	if (xm_ct_remove(s, xm_ct_state_word(w1, XM_CT_LIVE)))
		return -1;
	ps = xm_ct_find(&pk, &pidx);
	if (ps)
		xm_ct_remove(ps, xm_ct_state_word(xm_key_w1(&pk), XM_CT_LIVE));
	return 0;
}

/* Claims key (w0, w1) for a new flow's reply entry: free, or held by a
 * closed TCP flow, which goes (netfilter reuses TIME_WAIT tuples the
 * same way; a late segment of the old connection is dropped by
 * xm_tcp_guard, not translated into the new one). Global: called in the
 * port search's loop. */
__noinline int xm_ct_claim_reply(__u64 w0, __u64 w1)
{
	int rc = xm_ct_claim(w0, w1);

	if (rc != XM_CT_ERR_EXIST || xm_ct_remove_flow(w0, w1, 0))
		return rc;
	rc = xm_ct_claim(w0, w1);
	if (rc >= 0)
		xm_count(XM_C_FLOW_PORT_REUSED, 0);
	return rc;
}

/* Which ports a flow may take: its reply key must be unique (per backend
 * or destination address and port) and must never be a tuple the
 * router's own sockets use or will use. The client's port is kept when
 * free and the router has no socket on it (the kernel is asked:
 * xm_router_socket). TCP may take any port of the range: the kernel may
 * still pick one for a new connection of the router's own, but its
 * SYN-ACK is then recognised (xm_tcp_guard) and the lingering flow gives
 * way. A UDP reply cannot be told apart, so UDP stays out of the router's
 * ephemeral range (ip_local_port_range), kept or random. ICMP echo ids
 * are no ports: the client's is always tried first. */
#define XM_PORT_KEEP	    1 /* keep-source: the client's port or nothing */
#define XM_PORT_ROUTER_SOCK 2 /* the router has a socket on the client's port */
#define XM_PORT_ERR_NO_PORT (-1)
#define XM_PORT_ERR_FULL    (-2)

/* Claims the reply entry's slot: (w0, w1) is the reply key with the
 * client's port. Tries that port (see above), then, unless XM_PORT_KEEP,
 * up to XM_PORT_PROBES random ones of the port range. Returns the slot
 * (its key holds the port), or XM_PORT_ERR_*. Global: the loop is
 * verified once, and the choice adds no paths to the packet's. */
__noinline int xm_ct_claim_port(__u64 w0, __u64 w1, __u32 how)
{
	union xm_ct_words u = { .w = { w0, w1 } };
	__u32 zero = 0, lo, hi, slo, shi, skip = 0, range, port, own;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	__u8 proto = u.key.proto;
	int rc;

	if (!cfg)
		return XM_PORT_ERR_FULL;
	lo = cfg->port_lo;
	hi = cfg->port_hi;
	slo = cfg->local_port_lo;
	shi = cfg->local_port_hi;
	own = bpf_ntohs(u.key.dport);
	/* UDP skips the router's ephemeral ports: [slo, shi] within [lo, hi] */
	if (proto == IPPROTO_UDP && shi && slo <= hi && shi >= lo) {
		slo = slo < lo ? lo : slo;
		shi = shi > hi ? hi : shi;
		skip = shi - slo + 1;
	}
	if ((how & XM_PORT_KEEP) || proto == IPPROTO_ICMP ||
	    (!(how & XM_PORT_ROUTER_SOCK) &&
	     (proto == IPPROTO_TCP || !cfg->local_port_hi || own < cfg->local_port_lo ||
	      own > cfg->local_port_hi))) {
		rc = xm_ct_claim_reply(w0, w1);
		if (rc >= 0)
			return rc;
		if (rc != XM_CT_ERR_EXIST)
			return XM_PORT_ERR_FULL;
	}
	if ((how & XM_PORT_KEEP) || hi < lo || hi - lo + 1 <= skip)
		return XM_PORT_ERR_NO_PORT;
	range = hi - lo + 1 - skip;
	for (int i = 0; i < XM_PORT_PROBES; i++) {
		port = lo + bpf_get_prandom_u32() % range;
		if (skip && port >= slo)
			port += skip;
		u.key.dport = bpf_htons((__u16)port);
		if (proto == IPPROTO_ICMP)
			u.key.sport = u.key.dport;
		rc = xm_ct_claim_reply(w0, u.w[1]);
		if (rc >= 0)
			return rc;
		if (rc != XM_CT_ERR_EXIST)
			return XM_PORT_ERR_FULL;
	}
	return XM_PORT_ERR_NO_PORT;
}

/* Claims the reply entry's slot (xm_ct_claim_port) and puts the port it
 * got into rkey. Returns 0 with *idx set, or the counter id of the reason
 * it failed. */
static __always_inline int xm_alloc_port(void *ctx, struct xm_flow_key *rkey, int keep_port,
					 __u32 *idx)
{
	__u32 how = keep_port ? XM_PORT_KEEP : 0;
	struct xm_ct_slot *s;
	int rc;

	if (!keep_port && xm_router_socket(ctx, rkey))
		how |= XM_PORT_ROUTER_SOCK;
	rc = xm_ct_claim_port(xm_key_w0(rkey), xm_key_w1(rkey), how);
	if (rc == XM_PORT_ERR_FULL)
		return XM_C_DROP_CT_FULL;
	if (rc < 0) {
		xm_count_port_exhausted(xm_key_w0(rkey), xm_key_w1(rkey));
		return XM_C_DROP_NO_PORT;
	}
	*idx = (__u32)rc;
	s = bpf_map_lookup_elem(&flows, idx);
	if (!s)
		return XM_C_DROP_CT_FULL;
	rkey->sport = s->key.sport;
	rkey->dport = s->key.dport;
	return 0;
}

#endif
