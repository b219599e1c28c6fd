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
#include "nat.h"
#include "quota.h"
#include "time_wait.h"

/* Whether the router itself has a socket that a packet with tuple t (as
 * received; len: its ipv4 or ipv6 part) and protocol proto would reach: a
 * connection, a listener, or a bound UDP socket. The kernel knows nothing
 * of xmasq's ports, so xmasq asks it. */
static __always_inline int xm_router_socket_tuple(void *ctx, struct bpf_sock_tuple *t, __u32 len,
						  __u8 proto)
{
	struct bpf_sock *sk;

	if (proto == IPPROTO_TCP)
		sk = (struct bpf_sock *)bpf_skc_lookup_tcp(ctx, t, len, BPF_F_CURRENT_NETNS, 0);
	else if (proto == IPPROTO_UDP)
		sk = bpf_sk_lookup_udp(ctx, t, len, BPF_F_CURRENT_NETNS, 0);
	else
		return 0;
	if (!sk)
		return 0;
	bpf_sk_release(sk);
	return 1;
}

/* xm_router_socket_tuple for IPv4 flow key k. */
static __always_inline int xm_router_socket(void *ctx, const struct xm_flow_key *k)
{
	/* The key starts as bpf_sock_tuple's ipv4 part does: no copy on a
	 * stack that is nearly full. */
	struct bpf_sock_tuple *t = (struct bpf_sock_tuple *)k;

	_Static_assert(offsetof(struct xm_flow_key, saddr) ==
				       offsetof(struct bpf_sock_tuple, ipv4.saddr) &&
			       offsetof(struct xm_flow_key, dport) ==
				       offsetof(struct bpf_sock_tuple, ipv4.dport),
		       "xm_flow_key must begin like bpf_sock_tuple.ipv4");
	return xm_router_socket_tuple(ctx, t, sizeof(t->ipv4), k->proto);
}

/* A flow key's words (xm_flow_key: saddr, daddr | sport, dport, proto,
 * ct_state) taken apart and put together without a copy of the key on
 * the stack, which the port search cannot afford: BPF is little-endian
 * here, so the first field is the low half of a word. Ports in host
 * order. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "xm_flow_key words: little-endian");
#define XM_W1_SPORT(w1) bpf_ntohs((__u16)(w1))
#define XM_W1_DPORT(w1) bpf_ntohs((__u16)((w1) >> 16))
#define XM_W1_PROTO(w1) ((__u8)((w1) >> 32))

static __always_inline __u64 xm_w1_with_ports(__u64 w1, __u32 sport, __u32 dport)
{
	return (w1 & ~0xffffffffull) | bpf_htons((__u16)sport) |
	       (__u64)bpf_htons((__u16)dport) << 16;
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

	s = xm_ct_find_in(&u.key, &idx, 1);
	if (!s)
		return -1;
	if (!any && (u.key.proto != IPPROTO_TCP || s->flow.state != XM_ST_CLOSE))
		return -1;
	xm_flow_partner_key(&s->flow, u.key.proto, &pk);
	/* The flow's source (its ORIG entry's) and whether that entry is the
	 * partner, in the key already on the frame: the slot may be another
	 * flow's once removed. Whoever removes the ORIG entry takes the flow
	 * off its source's count, so two removers count it once. */
	if (s->flow.flags & XM_FLOW_REPLY) {
		u.key.saddr = s->flow.new_daddr;
		u.key.ct_state = 1;
	}
	if (xm_ct_remove(s, xm_ct_state_word(w1, XM_CT_LIVE)))
		return -1;
	ps = xm_ct_find_in(&pk, &pidx, 1);
	if (ps && xm_ct_remove(ps, xm_ct_state_word(xm_key_w1(&pk), XM_CT_LIVE)) == 0)
		u.key.ct_state = u.key.ct_state ? 2 : 0;
	if (u.key.ct_state != 1)
		xm_source_add_inline(u.key.saddr, -1);
	return 0;
}

/* `how` of the search, and what it tells xm_ct_claim_reply. */
#define XM_PORT_KEEP	    1	 /* keep-source: the client's port or nothing */
#define XM_PORT_ROUTER_SOCK 2	 /* the router has a socket on the client's port */
#define XM_PORT_RECLAIM	    1	 /* (claim_reply) a closed TCP flow's tuple may go */
#define XM_PORT_NOTED	    0x80 /* (claim_reply) ... and a tuple noted in time_waits */
#define XM_PORT_NAT	    4	 /* a masqueraded host's flow (its endpoint: scratch) */
/* (claim_port) not on the key's address but on the `as` list's address
 * XM_PORT_TRIED places after it; the rule above XM_PORT_RULE_SHIFT */
#define XM_PORT_NEXT	    8
#define XM_PORT_TRIED_SHIFT 4 /* 3 bits: 1..XM_ADDR_SET_MAX - 1 */
#define XM_PORT_TRIED(how)  (((how) >> XM_PORT_TRIED_SHIFT) & 7)
#define XM_PORT_RULE_SHIFT  8
_Static_assert(XM_ADDR_SET_MAX <= 8 && XM_MAX_RULES <= 1u << (32 - XM_PORT_RULE_SHIFT),
	       "xm_ct_claim_port's `how` holds the tries and the rule");

/* Claims key (w0, w1) for a new flow's reply entry: free, or held by a
 * closed TCP flow, which goes (netfilter reuses TIME_WAIT tuples the
 * same way; a late segment of the old connection is dropped by
 * xm_tcp_guard, not translated into the new one). For a masqueraded
 * host's flow (XM_PORT_NAT), never a public port another host's mapping
 * holds. Global: called in the port search's loop. */
__noinline int xm_ct_claim_reply(__u64 w0, __u64 w1, __u32 how)
{
	__u32 zero = 0;
	struct xm_scratch *sc;
	int rc;

	/* Free ports first means free at the peer too: a key whose peer may
	 * hold it in TIME_WAIT for another client is passed over, unless the
	 * search is pressed (its second half: XM_PORT_NOTED) or has no other
	 * choice (keep-source: XM_PORT_RECLAIM). */
	if (!(how & (XM_PORT_RECLAIM | XM_PORT_NOTED)) && XM_W1_PROTO(w1) == IPPROTO_TCP) {
		sc = bpf_map_lookup_elem(&scratch, &zero);
		if (sc && xm_time_wait_other(w0, w1, sc->client, sc->client_port)) {
			xm_count(XM_C_FLOW_PORT_TIME_WAIT, 0);
			return XM_CT_ERR_EXIST;
		}
	}

	/* Pressed for ports (the search's second half), a port may serve
	 * two hosts towards different peers, as netfilter's would: their
	 * flows' tuples still differ, only the second host's flow has no
	 * mapping of its own (nat_mapping_split). */
	if ((how & (XM_PORT_NAT | XM_PORT_NOTED | XM_PORT_RECLAIM)) == XM_PORT_NAT &&
	    xm_nat_port_taken(w0, w1))
		return XM_CT_ERR_EXIST;
	rc = xm_ct_claim(w0, w1);
	if (rc != XM_CT_ERR_EXIST || !(how & XM_PORT_RECLAIM) || xm_ct_remove_flow(w0, w1, 0))
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
#define XM_PORT_ERR_NO_PORT (-1)
#define XM_PORT_ERR_FULL    (-2)
#define XM_PORT_ERR_NO_ADDR (-3) /* XM_PORT_NEXT: the list has no further address */

/* The index of rule rule_id's `as` list (in addr_sets, or addr_sets6 for
 * a rule whose flows leave by IPv6), 0 when it has none. */
static __always_inline __u32 xm_addr_set_id(__u32 rule_id)
{
	__u32 zero = 0;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct xm_rule_meta *m;

	if (!cfg || !(cfg->flags & XM_CFG_ADDR_SETS))
		return 0;
	m = bpf_map_lookup_elem(&rule_meta, &rule_id);
	return m ? m->addr_set : 0;
}

/* Rule rule_id's `as` list, or NULL when it has none (or a bad one). */
static __always_inline struct xm_addr_set *xm_addr_set_of(__u32 rule_id)
{
	__u32 sid = xm_addr_set_id(rule_id);
	struct xm_addr_set *set;

	if (!sid)
		return NULL;
	set = bpf_map_lookup_elem(&addr_sets, &sid);
	if (!set || set->n == 0 || set->n > XM_ADDR_SET_MAX)
		return NULL;
	return set;
}

/* Which of a list's n addresses seed picks: all of seed's bits count. */
static __always_inline __u32 xm_addr_set_index(__u32 seed, __u32 n)
{
	return (__u32)(((__u64)seed * 0x9e3779b97f4a7c15ull) >> 32) % n;
}

/* The address a new flow of rule rule_id tries first, from the rule's
 * `as` list: the one `seed` picks (a masquerade passes the client's
 * address, so a host keeps one public address for all its flows, RFC 4787
 * REQ-2; a forward a random number, so even one busy client spreads over
 * every address). 0 when the rule has no list. When that address has no
 * port left for the flow's peer, the flow tries the list's others in
 * order (xm_addr_set_next); a host's later flows still try its paired
 * address first, where its mapping lives. Global: verified once. */
__noinline __u32 xm_addr_set_pick(__u32 rule_id, __u32 seed)
{
	struct xm_addr_set *set = xm_addr_set_of(rule_id);
	__u32 n, i;

	if (!set)
		return 0;
	n = set->n;
	if (n == 0)
		return 0;
	i = xm_addr_set_index(seed, n);
	/* Hide what clang knows of i (below n), so the bound check stays
	 * for the verifier, which does not know n <= XM_ADDR_SET_MAX. */
	asm volatile("" : "+r"(i));
	if (i >= XM_ADDR_SET_MAX)
		return 0;
	return set->addr[i];
}

/* The address `tried` places after `first` in rule rule_id's `as` list,
 * wrapping (for a new flow that found no port on the `tried` addresses
 * from `first` on): 0 once it has tried all, or when the rule has no list
 * or first is not on it (a hairpinned flow's address, or the list
 * changed). Global: verified once. */
__noinline __u32 xm_addr_set_next(__u32 rule_id, __u32 first, __u32 tried)
{
	struct xm_addr_set *set = xm_addr_set_of(rule_id);
	__u32 n, at;

	if (!set)
		return 0;
	n = set->n;
	if (tried >= n)
		return 0;
	for (__u32 i = 0; i < XM_ADDR_SET_MAX && i < n; i++) {
		if (set->addr[i] != first)
			continue;
		at = (i + tried) % n;
		asm volatile("" : "+r"(at)); /* as in xm_addr_set_pick */
		if (at >= XM_ADDR_SET_MAX)
			return 0;
		return set->addr[at];
	}
	return 0;
}

/* Claims the reply entry's slot for the flow of masqueraded host `host`
 * on its live mapping's port (endpoint-independent mapping; a closed
 * flow's tuple may be taken over). XM_CT_ERR_EXIST when the host has no
 * mapping on this address or that tuple is taken: the search
 * (xm_ct_claim_port) comes next. */
static __always_inline int xm_ct_claim_on_mapping(__u64 w0, __u64 w1, __u64 host)
{
	__u32 port = xm_nat_port_of(host, (__u32)(w0 >> 32));

	if (!port)
		return XM_CT_ERR_EXIST;
	return xm_ct_claim_reply(
		w0,
		xm_w1_with_ports(w1, XM_W1_PROTO(w1) == IPPROTO_ICMP ? port : XM_W1_SPORT(w1),
				 port),
		XM_PORT_NAT | XM_PORT_RECLAIM);
}

/* xm_ct_claim_on_mapping, global, called from the packet: the search's
 * frame has no room for it. */
__noinline int xm_ct_claim_mapped(__u64 w0, __u64 w1, __u64 host)
{
	return xm_ct_claim_on_mapping(w0, w1, host);
}

/* Claims the reply entry's slot on one address: (w0, w1) is the reply key
 * with the client's address and port. Tries that port (see above), then,
 * unless XM_PORT_KEEP, up to
 * XM_PORT_PROBES ports of the range (the last quarter may take a closed
 * flow's): from a random start in random odd steps, so a range of up to
 * XM_PORT_PROBES ports is tried whole (a small range's last free port is
 * found, not missed by chance). A host's new mapping never takes a port
 * another host's mapping holds (xm_ct_claim_reply). Returns the slot (its
 * key holds the address and port), or XM_PORT_ERR_*.
 *
 * With XM_PORT_NEXT, not on the key's address (the one the flow tried
 * first) but on the `as` list's address XM_PORT_TRIED(how) places after
 * it (xm_addr_set_next; XM_PORT_ERR_NO_ADDR after the last): there a
 * masqueraded host's live mapping goes first, and the caller sets
 * XM_PORT_ROUTER_SOCK (the router's sockets were asked about the first
 * address only). The packet calls this once an address, so the list costs
 * its verification one call a step.
 *
 * Global: the loop is verified once, and the choice adds no paths to the
 * packet's. The deepest call chain (packet, this, xm_ct_claim_reply,
 * xm_ct_remove_flow) just fits 6.1's 512 bytes, where every frame is
 * rounded up to 32: no further level, and this frame must stay within 64
 * bytes (the host waits in scratch, the rule and the step ride in `how`). */
__noinline int xm_ct_claim_port(__u64 w0, __u64 w1, __u32 how)
{
	__u32 zero = 0, lo, hi, slo, shi, skip = 0, range, own, port, at, step;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	__u8 proto = XM_W1_PROTO(w1);
	struct xm_scratch *sc;
	int rc;

	if (!cfg)
		return XM_PORT_ERR_FULL;
	if (how & XM_PORT_NEXT) {
		__u32 next = xm_addr_set_next(how >> XM_PORT_RULE_SHIFT, (__u32)(w0 >> 32),
					      XM_PORT_TRIED(how));

		if (!next)
			return XM_PORT_ERR_NO_ADDR;
		w0 = (__u32)w0 | (__u64)next << 32;
		sc = (how & XM_PORT_NAT) ? bpf_map_lookup_elem(&scratch, &zero) : NULL;
		if (sc) {
			rc = xm_ct_claim_on_mapping(w0, w1, sc->nat_host);
			if (rc >= 0)
				return rc;
			if (rc != XM_CT_ERR_EXIST)
				return XM_PORT_ERR_FULL;
		}
	}
	lo = cfg->port_lo;
	hi = cfg->port_hi;
	slo = cfg->local_port_lo;
	shi = cfg->local_port_hi;
	own = XM_W1_DPORT(w1);
	/* UDP skips the router's ephemeral ports: [slo, shi] within [lo, hi] */
	if (proto == IPPROTO_UDP && shi && slo <= hi && shi >= lo) {
		slo = slo < lo ? lo : slo;
		shi = shi > hi ? hi : shi;
		skip = shi - slo + 1;
	}
	/* Free ports first, the ports of closed flows only in the last
	 * quarter of the search (or for keep-source, which has no other): the
	 * backend may still hold a closed connection's tuple in TIME_WAIT, and
	 * refuses a new SYN on it unless its sequence or timestamp happens to
	 * be higher. In the first half "free" includes free at the backend: no
	 * TIME_WAIT of another client noted (time_waits); then any free port;
	 * then a closed flow's, whose TIME_WAIT is the youngest. */
	if ((how & XM_PORT_KEEP) || proto == IPPROTO_ICMP ||
	    (!(how & XM_PORT_ROUTER_SOCK) &&
	     (proto == IPPROTO_TCP || !cfg->local_port_hi || own < cfg->local_port_lo ||
	      own > cfg->local_port_hi))) {
		rc = xm_ct_claim_reply(w0, w1, how & (XM_PORT_KEEP | XM_PORT_NAT));
		if (rc >= 0)
			return rc;
		if (rc != XM_CT_ERR_EXIST)
			return XM_PORT_ERR_FULL;
	}
	if ((how & XM_PORT_KEEP) || hi < lo || hi - lo + 1 <= skip)
		return XM_PORT_ERR_NO_PORT;
	range = hi - lo + 1 - skip;
	at = bpf_get_prandom_u32() % range;
	step = (bpf_get_prandom_u32() % range) | 1;
	if (step >= range)
		step = 1;
	for (int i = 0; i < XM_PORT_PROBES; i++) {
		port = lo + at;
		if (skip && port >= slo)
			port += skip;
		/* No port free at the backend too (every one noted: more new
		 * connections than the ports hold for 60 s): the client's own
		 * port first again, whose last user was often this client. */
		if (i == XM_PORT_PROBES / 2 && proto == IPPROTO_TCP && !(how & XM_PORT_ROUTER_SOCK))
			port = own;
		rc = xm_ct_claim_reply(
			w0,
			xm_w1_with_ports(w1, proto == IPPROTO_ICMP ? port : XM_W1_SPORT(w1), port),
			(how & XM_PORT_NAT) | (i >= XM_PORT_PROBES / 2 ? XM_PORT_NOTED : 0) |
				(i >= XM_PORT_PROBES * 3 / 4 ? XM_PORT_RECLAIM : 0));
		if (rc >= 0)
			return rc;
		if (rc != XM_CT_ERR_EXIST)
			return XM_PORT_ERR_FULL;
		at = (at + step) % range;
	}
	return XM_PORT_ERR_NO_PORT;
}

/* Claims the reply entry's slot on rkey's address, its host's mapping's
 * port first for the flow of masqueraded host `host` (XM_NAT_HOST, or 0:
 * xm_ct_claim_mapped), else or then the search (xm_ct_claim_port). When
 * the address has no port left, the next addresses of rule rule_id's `as`
 * list are searched in turn (XM_PORT_NEXT) until one has: a list exists
 * to give a peer more ports. Puts the address and port it got into rkey.
 * `keep`: keep-source. Returns 0 with *idx set, or the counter id of the
 * reason it failed. */
static __always_inline int xm_alloc_port(void *ctx, struct xm_flow_key *rkey, __be32 client,
					 __be16 client_port, __u64 host, int keep, __u32 rule_id,
					 __u32 *idx)
{
	__u64 w0 = xm_key_w0(rkey), w1 = xm_key_w1(rkey);
	__u32 how = keep ? XM_PORT_KEEP : 0, zero = 0;
	struct xm_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	struct xm_ct_slot *s;
	int rc = XM_CT_ERR_EXIST;

	/* The search's frames have no room for the client and the host: they
	 * wait here. */
	if (!sc)
		return XM_C_DROP_NO_PORT;
	sc->client = client;
	sc->client_port = client_port;
	if (host) {
		sc->nat_host = host;
		how = XM_PORT_NAT;
		rc = xm_ct_claim_mapped(w0, w1, host);
	}
	if (rc == XM_CT_ERR_EXIST) {
		if (!keep && xm_router_socket(ctx, rkey))
			how |= XM_PORT_ROUTER_SOCK;
		rc = xm_ct_claim_port(w0, w1, how);
	} else if (rc < 0) {
		rc = XM_PORT_ERR_FULL;
	}
	how = (how & XM_PORT_NAT) | XM_PORT_ROUTER_SOCK | XM_PORT_NEXT |
	      rule_id << XM_PORT_RULE_SHIFT;
	/* the step shifted into place: one counter for the verifier to walk */
	for (__u32 step = 1u << XM_PORT_TRIED_SHIFT;
	     rc == XM_PORT_ERR_NO_PORT && step < XM_ADDR_SET_MAX << XM_PORT_TRIED_SHIFT;
	     step += 1u << XM_PORT_TRIED_SHIFT)
		rc = xm_ct_claim_port(w0, w1, how | step);
	if (rc == XM_PORT_ERR_FULL)
		return XM_C_DROP_CT_FULL;
	if (rc < 0) {
		xm_count_port_exhausted(w0, w1);
		return XM_C_DROP_NO_PORT;
	}
	*idx = (__u32)rc;
	s = bpf_map_lookup_elem(&flows, idx);
	if (!s)
		return XM_C_DROP_CT_FULL;
	rkey->daddr = s->key.daddr;
	rkey->sport = s->key.sport;
	rkey->dport = s->key.dport;
	return 0;
}

#endif
