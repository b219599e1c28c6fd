/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Conntrack: flow lookup, creation from a forward rule (DNAT + masquerade
 * with port allocation), next-hop resolution and accounting. Shared by the
 * XDP and tc entry points; `ctx` is whichever context the caller has. */
#ifndef XMASQ_BPF_FLOW_H
#define XMASQ_BPF_FLOW_H

#define XM_TCP_FIN 0x01
#define XM_TCP_SYN 0x02
#define XM_TCP_RST 0x04
#define XM_TCP_ACK 0x10

/* Outcome of looking a packet up: use the flow, or pass / drop it. */
enum xm_lookup {
	XM_LK_FLOW = 0,
	XM_LK_PASS,
	XM_LK_DROP,
};

static __always_inline void xm_count_n(__u32 id, __u64 n, __u64 bytes)
{
	struct xm_counter *c = bpf_map_lookup_elem(&counters, &id);

	if (c) {
		c->packets += n;
		c->bytes += bytes;
	}
}

static __always_inline void xm_count(__u32 id, __u64 bytes)
{
	xm_count_n(id, 1, bytes);
}

/* A managed interface by ifindex, or NULL. */
static __always_inline struct xm_iface *xm_iface_of(__u32 ifindex)
{
	struct xm_iface *v;

	if (ifindex < XM_IFINDEX_DIRECT) {
		v = bpf_map_lookup_elem(&iface_index, &ifindex);
		return v && v->ifindex == ifindex ? v : NULL;
	}
	return bpf_map_lookup_elem(&ifaces, &ifindex);
}

static __always_inline __u32 xm_now_s(void)
{
	return (__u32)(bpf_ktime_get_coarse_ns() / 1000000000ull);
}

static __always_inline int xm_fib(void *ctx, struct bpf_fib_lookup *fib, __be32 src, __be32 dst,
				  __u8 proto, __be16 sport, __be16 dport, __u16 tot_len,
				  __u32 ifindex)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = 2; /* AF_INET */
	fib->l4_protocol = proto;
	fib->sport = sport;
	fib->dport = dport;
	fib->tot_len = tot_len;
	fib->ipv4_src = src;
	fib->ipv4_dst = dst;
	fib->ifindex = ifindex;
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
}

static __always_inline void xm_copy_mac(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, 6);
}

/* Re-resolves the next hop of an original-direction flow (now and then,
 * so a changed neighbour or route is picked up). Routed like the flow's
 * first packet: translated destination, the client's source (as the
 * kernel routes a DNATed packet before masquerading it). */
static __always_inline void xm_flow_resolve(void *ctx, struct xm_flow *f, const struct xm_pkt *p,
					    __u32 in_ifindex, __u32 out_ifindex)
{
	struct bpf_fib_lookup fib;
	int rc;

	rc = xm_fib(ctx, &fib, p->key.saddr, f->new_daddr, p->key.proto, p->key.sport, f->new_dport,
		    0, in_ifindex);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS && fib.ifindex == out_ifindex) {
		xm_copy_mac(f->out_dmac, fib.dmac);
		f->flags |= XM_FLOW_L2_VALID;
	} else {
		f->flags &= ~XM_FLOW_L2_VALID;
	}
}

static __always_inline __u32 xm_flow_timeout(const struct xm_config *cfg, __u8 proto, __u8 state)
{
	__u32 id = xm_timeout_id(proto, state);

	if (id >= XM_TO_MAX)
		return 30;
	return cfg->timeouts[id] ? cfg->timeouts[id] : 30;
}

/* ---- expiry: one sweeper timer, no daemon ------------------------------
 * A single bpf_timer (map "sweeper") walks the whole flow table, removes
 * flows idle (both directions) for longer than their state's timeout and
 * turns DEAD slots back into EMPTY ones (bpf/ct.h). One timer instead of
 * one per flow: no allocation per new flow (which fails at a few hundred
 * flows a second on some kernels), 16 bytes less per entry, and state
 * changes need no re-arming.
 *
 * The walk goes 64 slots a callback (map "sweep_groups"; a callback per
 * slot cost ~17 ns a slot here) and a slice of the table a timer run, 1 ms
 * apart: no run holds its CPU's softirq for long (one walk over a table of
 * 10^6 flows once took 69 ms in one go). When a walk is done, the next one
 * waits 24 times as long as the walk took (measured, so it holds on any
 * machine), at least 1 s and at most 15 s: at most about 4 % of one CPU
 * at any table size (seen here: 2.7 ms a walk of the default table, 16 ms
 * for 10^6 flows). Not more often: a walk reads the whole table through
 * the caches. After the table has refused a flow (xm_sweep_hurry), the
 * next walk starts after 250 ms. */
#define XM_SWEEP_MIN_NS	      (1000ull * 1000 * 1000)
#define XM_SWEEP_HURRY_NS     (250ull * 1000 * 1000)
#define XM_SWEEP_MAX_NS	      (15ull * 1000 * 1000 * 1000)
#define XM_SWEEP_SLICE_GAP_NS (1000ull * 1000)
#define XM_SWEEP_SLICE_MIN    2048  /* groups a run, at least; or 1/16 of the table */
#define XM_SWEEP_MAX_EXPIRE   16384 /* flows removed per run at most */

/* The loader sets this before load; a sweeper armed by an older program
 * stops re-arming itself and the newer program takes the timer over. */
const volatile __u32 xm_prog_epoch = 0;
/* The wait after a walk, in walk lengths (a test stretches it). */
const volatile __u32 xm_sweep_idle_factor = 24;
/* Groups a run, if not 0 (a test walks a small table in several runs). */
const volatile __u32 xm_sweep_slice = 0;

#define XM_CLOCK_TICK_NS (1000ull * 1000 * 1000)

/* The clock flows are stamped with, in seconds: the sweeper's, which it
 * sets every second, read with one load. The clock helper cost ~18 of the
 * ~78 ns of the established-flow fast path (PROG_TEST_RUN). Until this program runs the sweeper
 * (just loaded, or an older program still attached during an upgrade),
 * the kernel's clock. */
static __always_inline __u32 xm_clock_s(void)
{
	__u32 zero = 0;
	struct xm_sweep *sw = bpf_map_lookup_elem(&sweeper, &zero);

	if (sw && sw->epoch == xm_prog_epoch && sw->now)
		return sw->now;
	return xm_now_s();
}

/* Removes the flow of the idle entry in slot idx, both entries, unless its
 * other direction is busy. 1 if a flow went. A reply entry is judged with
 * its ORIG entry, and only goes alone when that one is gone (an insert
 * that lost a race). Global: verified once. */
__noinline int xm_sweep_expire(__u32 idx, __u32 now, __u32 timeout)
{
	struct xm_ct_slot *s = bpf_map_lookup_elem(&flows, &idx), *ps;
	struct xm_flow_key pk;
	__u32 last, pidx;
	__u64 w1;

	if (!s)
		return 0;
	w1 = XM_CT_W1(s);
	if (s->key.ct_state != XM_CT_LIVE)
		return 0;
	xm_flow_partner_key(&s->flow, s->key.proto, &pk);
	ps = xm_ct_find(&pk, &pidx);
	if (s->flow.flags & XM_FLOW_REPLY) {
		if (!ps)
			xm_ct_remove(s, w1);
		return 0;
	}
	if (ps) {
		last = ps->flow.last_seen_s;
		if (last >= now || now - last < timeout)
			return 0;
		xm_ct_remove(ps, xm_ct_state_word(xm_key_w1(&pk), XM_CT_LIVE));
	}
	return xm_ct_remove(s, w1) == 0;
}

/* XM_SWEEP_GROUP slots from `base`: expires idle flows, counts live
 * entries, cleans DEAD slots up. prev_dead: the slot before `base` is
 * DEAD. Returns XM_SWEEP_PREV_DEAD if the group's last slot is DEAD, and
 * XM_SWEEP_CAPPED when the run reached XM_SWEEP_MAX_EXPIRE. Global:
 * verified once, whatever calls it. */
#define XM_SWEEP_PREV_DEAD 1
#define XM_SWEEP_CAPPED	   2
__noinline int xm_sweep_slots(__u32 base, __u32 prev_dead)
{
	__u64 dead = xm_ct_state_word(0, XM_CT_DEAD), w1;
	__u32 last_slot = xm_ct_homes + XM_CT_PROBES - 2, idx, last, timeout, zero = 0;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct xm_sweep *sw = bpf_map_lookup_elem(&sweeper, &zero);
	struct xm_ct_slot *s;

	if (!cfg || !sw)
		return 0;
	for (__u32 i = 0; i < XM_SWEEP_GROUP; i++) {
		idx = base + i;
		if (idx > last_slot)
			break;
		s = bpf_map_lookup_elem(&flows, &idx);
		if (!s)
			break;
		w1 = XM_CT_W1(s);
		if (w1 == 0) {
			if (prev_dead)
				xm_ct_clean_before(idx);
			prev_dead = 0;
			continue;
		}
		if (w1 == dead) {
			prev_dead = 1;
			/* The last slot: no chain goes past it, so it counts as
			 * followed by an EMPTY one (a table once full has no
			 * other place to start). */
			if (idx == last_slot &&
			    __sync_val_compare_and_swap(&XM_CT_W1(s), dead, 0) == dead)
				xm_ct_clean_before(idx);
			continue;
		}
		prev_dead = 0;
		if (s->key.ct_state != XM_CT_LIVE)
			continue;
		sw->seen++;
		/* A packet on another CPU may have stamped the flow after this
		 * walk read the clock: such a flow is busy, not idle for ~2^32 s. */
		timeout = xm_flow_timeout(cfg, s->key.proto, s->flow.state);
		last = s->flow.last_seen_s;
		if (last >= sw->now || sw->now - last < timeout)
			continue; /* busy: the other direction need not be looked at */
		if (xm_sweep_expire(idx, sw->now, timeout)) {
			sw->expired++;
			/* Bounded work per run: a mass expiry is spread over runs. */
			if ((__u32)sw->expired - sw->expired_at_start >= XM_SWEEP_MAX_EXPIRE)
				return XM_SWEEP_CAPPED;
		}
	}
	return prev_dead ? XM_SWEEP_PREV_DEAD : 0;
}

struct xm_sweep_ctx {
	__u32 first, end; /* this run's groups */
	__u32 next;	  /* the group to go on from */
	__u32 prev_dead;  /* the slot before the next group is DEAD */
	__u32 capped;	  /* stopped at XM_SWEEP_MAX_EXPIRE */
};

static long xm_sweep_group(void *map, __u32 *g, __u32 *val, struct xm_sweep_ctx *c)
{
	int rc;

	(void)map;
	(void)val;
	if (*g < c->first)
		return 0;
	if (*g >= c->end)
		return 1;
	rc = xm_sweep_slots(*g * XM_SWEEP_GROUP, c->prev_dead);
	if (rc & XM_SWEEP_CAPPED) {
		c->capped = 1;
		c->next = *g;
		return 1;
	}
	c->prev_dead = rc & XM_SWEEP_PREV_DEAD;
	c->next = *g + 1;
	return 0;
}

static int xm_sweep(void *map, __u32 *key, struct xm_sweep *sw)
{
	__u32 zero = 0, groups, slice, before;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct xm_sweep_ctx c = {};
	__u64 expired_before = sw->expired, wait = XM_SWEEP_MIN_NS, took;
	struct xm_ct_slot *s;

	(void)map;
	(void)key;
	if (sw->epoch != xm_prog_epoch)
		return 0; /* a newer program owns the sweep now */
	sw->now = xm_now_s();
	if (sw->next_group == 0 && sw->ticks_to_walk) {
		sw->ticks_to_walk--;
		bpf_timer_start(&sw->timer, XM_CLOCK_TICK_NS, 0);
		return 0;
	}
	if (!cfg) {
		bpf_timer_start(&sw->timer, XM_SWEEP_MIN_NS, 0);
		return 0;
	}
	groups = (xm_ct_homes + XM_CT_PROBES - 1 + XM_SWEEP_GROUP - 1) / XM_SWEEP_GROUP;
	slice = xm_sweep_slice			 ? xm_sweep_slice :
		groups / 16 > XM_SWEEP_SLICE_MIN ? groups / 16 :
						   XM_SWEEP_SLICE_MIN;
	if (sw->next_group == 0 || sw->next_group >= groups) {
		sw->next_group = 0; /* a walk begins */
		sw->seen = 0;
		sw->walk_ns = 0;
	}
	c.first = sw->next_group;
	c.end = c.first + slice;
	c.next = c.end;
	if (c.first) { /* the slot before this slice, for the DEAD clean-up */
		before = c.first * XM_SWEEP_GROUP - 1;
		s = bpf_map_lookup_elem(&flows, &before);
		c.prev_dead = s && XM_CT_W1(s) == xm_ct_state_word(0, XM_CT_DEAD);
	}
	sw->expired_at_start = (__u32)sw->expired;
	took = bpf_ktime_get_ns();
	bpf_for_each_map_elem(&sweep_groups, xm_sweep_group, &c, 0);
	sw->walk_ns += (__u32)(bpf_ktime_get_ns() - took);
	if (sw->expired != expired_before)
		xm_count_n(XM_C_FLOW_EXPIRED, sw->expired - expired_before, 0);
	if (c.capped || c.next < groups) {
		sw->next_group = c.next; /* the walk goes on soon */
		bpf_timer_start(&sw->timer, XM_SWEEP_SLICE_GAP_NS, 0);
		return 0;
	}
	/* The walk is done. */
	sw->next_group = 0;
	sw->runs++;
	sw->last_walk_ns = sw->walk_ns;
	took = sw->walk_ns;
	if (sw->refused) {
		sw->refused = 0; /* the table refused flows: whatever expires is wanted back soon */
		wait = XM_SWEEP_HURRY_NS;
	} else if (took * xm_sweep_idle_factor > wait)
		wait = took * xm_sweep_idle_factor < XM_SWEEP_MAX_NS ? took * xm_sweep_idle_factor :
								       XM_SWEEP_MAX_NS;
	/* The clock needs a tick every second: a longer wait is counted down
	 * in ticks. */
	if (wait > XM_CLOCK_TICK_NS) {
		sw->ticks_to_walk = wait / XM_CLOCK_TICK_NS - 1;
		wait = XM_CLOCK_TICK_NS;
	}
	bpf_timer_start(&sw->timer, wait, 0);
	return 0;
}

/* A new flow was refused for a full table: the next walk follows the
 * current one at the shortest interval. */
static __always_inline void xm_sweep_hurry(void)
{
	__u32 zero = 0;
	struct xm_sweep *sw = bpf_map_lookup_elem(&sweeper, &zero);

	if (sw)
		sw->refused = 1;
}

/* Arms the sweeper if this program does not run it yet. Called when a flow
 * is created, so it costs nothing per packet; a failure is retried by the
 * next new flow. */
static __noinline void xm_sweep_ensure(void)
{
	__u32 zero = 0;
	struct xm_sweep *sw = bpf_map_lookup_elem(&sweeper, &zero);

	if (!sw || sw->epoch == xm_prog_epoch)
		return;
	bpf_timer_init(&sw->timer, &sweeper, 1 /* CLOCK_MONOTONIC */); /* -EBUSY: inited */
	if (bpf_timer_set_callback(&sw->timer, xm_sweep) == 0 &&
	    bpf_timer_start(&sw->timer, XM_SWEEP_HURRY_NS, 0) == 0)
		sw->epoch = xm_prog_epoch;
}

/* Writes a state change to both entries of the flow whose entry has key
 * (w0, w1) (the packet's), and the FIN notes (first_fin: this direction's
 * first FIN). Global: it runs a few times a connection, so the packet
 * path stays short for the verifier. */
__noinline int xm_flow_state_set(__u64 w0, __u64 w1, __u32 new, __u32 first_fin)
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
		if (partner)
			partner->flags &= ~(XM_FLOW_FIN_SENT | XM_FLOW_FIN_BOTH);
	}
	return 0;
}

/* Connection state, from the flags of each packet. Both entries carry the
 * state (the sweeper reads the ORIG one). Each entry also notes whether
 * its direction has sent a FIN, and both note when both have: the next
 * ACK from a side then is the last ACK of the close, and the flow moves to
 * CLOSE, where a new flow may take its port (xm_ct_claim_reply). */
static __always_inline void xm_flow_track(struct xm_flow *f, const struct xm_pkt *p)
{
	int reply = (f->flags & XM_FLOW_REPLY) != 0, first_fin = 0;
	__u8 old = f->state, new = old, fl = p->tcp_flags;

	if (p->frag == XM_FRAG_LATER)
		return; /* no flags, and found through its first fragment's key */
	if (p->key.proto == IPPROTO_TCP) {
		if (fl & XM_TCP_RST) {
			new = XM_ST_CLOSE;
		} else if (fl & XM_TCP_FIN) {
			new = old == XM_ST_CLOSE ? XM_ST_CLOSE : XM_ST_FIN;
			first_fin = !(f->flags & XM_FLOW_FIN_SENT);
		} else if ((fl & (XM_TCP_SYN | XM_TCP_ACK)) == XM_TCP_SYN && !reply &&
			   (old == XM_ST_FIN || old == XM_ST_CLOSE)) {
			new = XM_ST_SYN_SENT; /* the client reuses the tuple */
		} else if (reply && old == XM_ST_SYN_SENT) {
			new = XM_ST_ESTABLISHED;
		} else if (old == XM_ST_FIN && (fl & XM_TCP_ACK) && (f->flags & XM_FLOW_FIN_BOTH)) {
			new = XM_ST_CLOSE; /* the last ACK */
		}
	} else if (reply && old == XM_ST_NONE) {
		new = XM_ST_ASSURED;
	}
	if (new != old || first_fin)
		xm_flow_state_set(xm_key_w0(&p->key), xm_key_w1(&p->key), new, first_fin);
}

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

static __always_inline struct xm_rule_value *xm_rule_find(const struct xm_pkt *p, __u32 ifindex,
							  __u32 gen, __u32 cfg_flags)
{
	struct xm_rule_key rk = {
		.ifindex = ifindex,
		.daddr = p->key.daddr,
		.dport = p->key.dport,
		.proto = p->key.proto,
		.gen = gen,
	};
	struct xm_rule_value *rv;

	if (cfg_flags & XM_CFG_ADDR_RULES) {
		rv = bpf_map_lookup_elem(&rules, &rk);
		if (rv)
			return rv;
	}
	rk.daddr = 0;
	return bpf_map_lookup_elem(&rules, &rk);
}

/* Where a new flow goes: from a forward rule, or from a masquerade rule
 * (destination unchanged, leaves by the rule's interface). */
struct xm_target {
	__be32 to_addr;
	__be16 to_port;
	__u16 _pad;
	__u32 rule_id;
	__u32 flags;	   /* XM_RULE_* */
	__u32 out_ifindex; /* masquerade: the egress the rule names */
};

static __always_inline int xm_target_find(const struct xm_pkt *p, __u32 ifindex,
					  const struct xm_config *cfg, struct xm_target *t)
{
	__u32 gen = cfg->active_gen & 1, cfg_flags = cfg->flags;
	struct xm_rule_value *rule = NULL;
	struct xm_masq_value *mv;
	struct xm_masq_key mk;
	__u32 *local_if;

	/* The rule first: the usual new flow needs no other lookup (the
	 * local-address one cost ~25 ns of ~700). */
	if (p->key.proto != IPPROTO_ICMP)
		rule = xm_rule_find(p, ifindex, gen, cfg_flags);
	local_if = rule ? NULL : bpf_map_lookup_elem(&local_addrs, &p->key.daddr);
	/* Hairpin: a host behind another NIC connecting to a forwarded
	 * public address matches the rules of the NIC owning it. */
	if (!rule && local_if && *local_if != ifindex && p->key.proto != IPPROTO_ICMP)
		rule = xm_rule_find(p, *local_if, gen, cfg_flags);
	if (rule) {
		t->to_addr = rule->to_addr;
		t->to_port = rule->to_port;
		t->rule_id = rule->rule_id;
		t->flags = rule->flags;
		t->out_ifindex = 0;
		return 0;
	}
	if (local_if)
		return -1; /* for the router itself */
	if (p->key.proto == IPPROTO_ICMP && p->icmp_type != XM_ICMP_ECHO)
		return -1;
	mk.prefixlen = 64;
	mk.gen = bpf_htonl(gen);
	mk.saddr = p->key.saddr;
	mv = bpf_map_lookup_elem(&masq_rules, &mk);
	if (!mv)
		return -1;
	t->to_addr = p->key.daddr;
	t->to_port = p->key.dport;
	t->rule_id = mv->rule_id;
	t->flags = XM_RULE_MASQUERADE;
	t->out_ifindex = mv->out_ifindex;
	return 0;
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
	if (rc < 0)
		return rc == XM_PORT_ERR_FULL ? XM_C_DROP_CT_FULL : XM_C_DROP_NO_PORT;
	*idx = (__u32)rc;
	s = bpf_map_lookup_elem(&flows, idx);
	if (!s)
		return XM_C_DROP_CT_FULL;
	rkey->sport = s->key.sport;
	rkey->dport = s->key.dport;
	return 0;
}

/* Creates both entries of a new flow for a packet matching a forward or
 * masquerade rule. Both slots are claimed before either is published, so
 * no half of a pair is ever seen alone. Returns XM_LK_FLOW with *out set,
 * or PASS/DROP (counted). */
static __always_inline int xm_flow_create(void *ctx, struct xm_pkt *p, __u32 ifindex,
					  __u32 vlan_tci, __u64 len, struct xm_flow **out)
{
	__u32 zero = 0;
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct xm_iface *in_if, *out_if;
	struct bpf_fib_lookup fib;
	struct xm_flow_key rkey = {};
	struct xm_flow rval = {}, oval = {};
	struct xm_target t = {};
	struct xm_ct_slot *os;
	__u32 out_ifindex, now = xm_clock_s(), ridx = 0;
	__u8 state;
	__be32 masq_addr;
	int rc, why, masq, oidx;

	if (!cfg)
		return XM_LK_PASS;
	if (p->frag == XM_FRAG_LATER || p->icmp_error || xm_target_find(p, ifindex, cfg, &t)) {
		xm_count(XM_C_PASS_NOT_OURS, len);
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
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
		if (masq) { /* not routed out: the kernel's business */
			xm_count(XM_C_PASS_NOT_OURS, len);
			return XM_LK_PASS;
		}
		xm_count(XM_C_DROP_NO_ROUTE, len);
		return XM_LK_DROP;
	}
	out_ifindex = fib.ifindex;
	if (masq && out_ifindex != t.out_ifindex) {
		xm_count(XM_C_PASS_NOT_OURS, len);
		return XM_LK_PASS;
	}
	out_if = xm_iface_of(out_ifindex);
	if (!out_if) {
		xm_count(XM_C_PASS_EGRESS_UNMANAGED, len);
		return XM_LK_PASS;
	}
	masq_addr = (t.flags & XM_RULE_KEEP_SOURCE) ? p->key.saddr : out_if->addr;
	state = p->key.proto == IPPROTO_TCP ? XM_ST_SYN_SENT : XM_ST_NONE;

	/* Reply direction: backend -> masquerade address:port. */
	rkey.saddr = t.to_addr;
	rkey.daddr = masq_addr;
	rkey.sport = t.to_port;
	rkey.dport = p->key.sport;
	rkey.proto = p->key.proto;
	if (p->key.proto == IPPROTO_ICMP)
		rkey.sport = p->key.sport;
	why = xm_alloc_port(ctx, &rkey, t.flags & XM_RULE_KEEP_SOURCE, &ridx);
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

	rval.new_saddr = p->key.daddr;
	rval.new_daddr = p->key.saddr;
	rval.new_sport = p->key.dport;
	rval.new_dport = p->key.sport;
	xm_copy_mac(rval.out_dmac, p->eth->h_source);
	rval.out_vlan = vlan_tci;
	rval.flags = XM_FLOW_REPLY | XM_FLOW_L2_VALID;
	rval.state = state;
	rval.rule_id = t.rule_id;
	rval.in_slot = out_if->slot;
	rval.out_slot = in_if->slot;
	rval.last_seen_s = now;

	/* Original direction: client -> public address:port. */
	oval.new_saddr = masq_addr;
	oval.new_daddr = t.to_addr;
	oval.new_sport = rkey.dport;
	oval.new_dport = p->key.proto == IPPROTO_ICMP ? rkey.dport : t.to_port;
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		xm_copy_mac(oval.out_dmac, fib.dmac);
		oval.flags |= XM_FLOW_L2_VALID;
	}
	if (t.flags & XM_RULE_KEEP_SOURCE)
		oval.flags |= XM_FLOW_KEEP_SOURCE;
	oval.state = state;
	oval.rule_id = t.rule_id;
	oval.in_slot = in_if->slot;
	oval.out_slot = out_if->slot;
	oval.last_seen_s = now;

	xm_ct_publish(ridx, &rkey, &rval);
	os = xm_ct_publish((__u32)oidx, &p->key, &oval);
	if (!os)
		return XM_LK_DROP;
	*out = &os->flow;
	xm_sweep_ensure();

	{
		__u32 id = t.rule_id;
		struct xm_rule_stats *rs = bpf_map_lookup_elem(&rule_stats, &id);

		if (rs)
			rs->flows++;
	}
	xm_count(XM_C_FLOW_NEW, len);
	return XM_LK_FLOW;
}

static __always_inline void xm_account(struct xm_flow *f, __u64 len, int by_xdp)
{
	__u32 slot = f->out_slot, id = f->rule_id;
	struct xm_iface_stats *is;
	struct xm_rule_stats *rs;
	int dir = (f->flags & XM_FLOW_REPLY) ? XM_DIR_REPLY : XM_DIR_ORIG;

	f->packets++;
	f->bytes += len;
	is = bpf_map_lookup_elem(&iface_stats, &slot);
	if (is) {
		is->tx_packets++;
		is->tx_bytes += len;
		if (by_xdp)
			is->tx_xdp++;
		else
			is->tx_tc++;
	}
	slot = f->in_slot;
	is = bpf_map_lookup_elem(&iface_stats, &slot);
	if (is) {
		is->rx_packets++;
		is->rx_bytes += len;
	}
	rs = bpf_map_lookup_elem(&rule_stats, &id);
	if (rs) {
		rs->packets[dir & 1]++;
		rs->bytes[dir & 1] += len;
	}
}

#endif
