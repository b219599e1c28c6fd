/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* NAT behaviour for masqueraded IPv6 hosts (NAT66), as bpf/nat.h's for
 * IPv4: one public port per host address:port for every destination
 * while it has flows (endpoint-independent mapping), and outside hosts
 * admitted to a mapping as `set nat-filtering` says. The mappings live in
 * nat_mappings6 (layout: xmasq_abi.h). Every function here is global: the
 * new flow's chain of frames is at 6.1's 512 bytes, so the keys are built
 * in scratch, not on a frame.
 *
 * A flow's entry says whether it uses its host's mapping (nat_flags:
 * IPv4's XM_FLOW_NAT_MAPPED, in a byte of its own since flows6' flags are
 * full), so the sweeper asks nat_mappings6 only for those: a lookup in a
 * table as big as flows6, a cache miss a live flow a walk. A flow made
 * before the byte was written (nat_flags 0) is asked as then: it keeps
 * the mapping its public address and port name when that mapping is its
 * host's. */
#ifndef XMASQ_BPF_V6_NAT_H
#define XMASQ_BPF_V6_NAT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "stats.h"
#include "clock.h"

static __always_inline int xm6_nat_live(const struct xm_nat6_value *v, __u32 now)
{
	return v->last_s >= now || now - v->last_s < XM_NAT_LEASE_S;
}

static __always_inline int xm6_nat_owned_by(const struct xm_nat6_value *v, const __be32 *addr,
					    __be16 port)
{
	return v->port == port && !((v->addr[0] ^ addr[0]) | (v->addr[1] ^ addr[1]) |
				    (v->addr[2] ^ addr[2]) | (v->addr[3] ^ addr[3]));
}

static __always_inline void xm6_nat_key_set(struct xm_nat6_key *k, const __be32 *addr,
					    const __be32 *peer, __be16 port, __u8 proto, __u8 kind)
{
	for (int i = 0; i < 4; i++) {
		k->addr[i] = addr[i];
		k->peer[i] = peer ? peer[i] : 0;
	}
	k->port = port;
	k->proto = proto;
	k->kind = kind;
}

/* The EXT entry of public address:port `rkey`'s destination (a reply
 * key: daddr, dport), live, or NULL. */
static __always_inline struct xm_nat6_value *xm6_nat_ext(struct xm_nat6_key *k,
							 const struct xm_flow6_key *rkey, __u32 now)
{
	struct xm_nat6_value *v;

	xm6_nat_key_set(k, rkey->daddr, NULL, rkey->dport, rkey->proto, XM_NAT_EXT);
	v = bpf_map_lookup_elem(&nat_mappings6, k);
	return v && xm6_nat_live(v, now) ? v : NULL;
}

/* The public port (network order) that the host of the reply entry
 * being made (rval: new_daddr, new_dport) has a live mapping for on
 * public address rkey->daddr, or 0. Both halves must agree, as for
 * IPv4 (xm_nat_port_of). */
__noinline int xm6_nat_port_of(const struct xm_flow6_key *rkey, const struct xm_flow6 *rval)
{
	__u32 zero = 0, now = xm_clock_s();
	struct xm_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	struct xm_nat6_value *v;
	__be16 port;

	if (!sc || !rkey || !rval)
		return 0;
	xm6_nat_key_set(&sc->nat6_key, rval->new_daddr, rkey->daddr, rval->new_dport, rkey->proto,
			XM_NAT_INT);
	v = bpf_map_lookup_elem(&nat_mappings6, &sc->nat6_key);
	if (!v || !xm6_nat_live(v, now))
		return 0;
	port = v->port;
	xm6_nat_key_set(&sc->nat6_key, rkey->daddr, NULL, port, rkey->proto, XM_NAT_EXT);
	v = bpf_map_lookup_elem(&nat_mappings6, &sc->nat6_key);
	if (!v || !xm6_nat_live(v, now) || !xm6_nat_owned_by(v, rval->new_daddr, rval->new_dport))
		return 0;
	return port;
}

/* Whether the public address and port of reply key rkey (its
 * destination) belong to another host's live mapping than the one of
 * the new flow being made, when that is a masqueraded host's (scratch:
 * nat6, and flow6, its reply entry, whose destination is the host). A
 * new flow must not take it: an outside host sending to it could not be
 * told which host it meant. */
__noinline int xm6_nat_port_taken(const struct xm_flow6_key *rkey)
{
	__u32 zero = 0;
	struct xm_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	struct xm_nat6_value *v;

	if (!sc || !rkey || !sc->nat6)
		return 0;
	v = xm6_nat_ext(&sc->nat6_key, rkey, xm_clock_s());
	return v && !xm6_nat_owned_by(v, sc->flow6.new_daddr, sc->flow6.new_dport);
}

/* A masqueraded host's new flow has claimed reply key rkey (source: the
 * peer; destination: the public address and port it leaves with), rval
 * its reply entry (new_daddr, new_dport: the host). Makes or stamps the
 * host's mapping, with address-dependent filtering notes the peer. 0, or
 * -1 when the flow cannot use the mapping (the host's has another port,
 * or another host's holds this one: two CPUs made first flows at once);
 * the flow goes on without it, counted nat_mapping_split. */
__noinline int xm6_nat_note(const struct xm_flow6_key *rkey, const struct xm_flow6 *rval,
			    __u32 filter)
{
	__u32 zero = 0, now = xm_clock_s();
	struct xm_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	struct xm_nat6_value *v, *nv;

	if (!sc || !rkey || !rval)
		return -1;
	nv = &sc->nat6_val;
	xm6_nat_key_set(&sc->nat6_key, rval->new_daddr, rkey->daddr, rval->new_dport, rkey->proto,
			XM_NAT_INT);
	v = bpf_map_lookup_elem(&nat_mappings6, &sc->nat6_key);
	if (v && xm6_nat_live(v, now) && v->port != rkey->dport)
		goto split;
	v = xm6_nat_ext(&sc->nat6_key, rkey, now);
	if (v) {
		if (!xm6_nat_owned_by(v, rval->new_daddr, rval->new_dport))
			goto split;
		v->last_s = now;
		__sync_fetch_and_add(&v->refs, 1);
	} else {
		__builtin_memcpy(nv->addr, rval->new_daddr, sizeof(nv->addr));
		nv->port = rval->new_dport;
		nv->_pad = 0;
		nv->last_s = now;
		nv->refs = 1;
		if (bpf_map_update_elem(&nat_mappings6, &sc->nat6_key, nv, BPF_ANY))
			goto split;
		xm_count(XM_C_NAT_MAPPING_NEW, 0);
	}
	nv->refs = 0;
	nv->last_s = now;
	if (filter & XM_CFG_NAT_FILTER_ADDR) {
		xm6_nat_key_set(&sc->nat6_key, rkey->daddr, rkey->saddr, rkey->dport, rkey->proto,
				XM_NAT_PEER);
		bpf_map_update_elem(&nat_mappings6, &sc->nat6_key, nv, BPF_ANY);
	}
	xm6_nat_key_set(&sc->nat6_key, rval->new_daddr, rkey->daddr, rval->new_dport, rkey->proto,
			XM_NAT_INT);
	nv->port = rkey->dport;
	bpf_map_update_elem(&nat_mappings6, &sc->nat6_key, nv, BPF_ANY);
	return 0;
split:
	xm_count(XM_C_NAT_MAPPING_SPLIT, 0);
	return -1;
}

/* A new TCP or UDP packet of key `key` (outside host -> a public address
 * and port) that no rule takes: 0 when no live mapping holds that
 * address and port; 1 when one does but `filter` refuses the sender
 * (XM_CFG_NAT_FILTER_ANY: anyone may send, XM_CFG_NAT_FILTER_ADDR: an
 * address the mapping has sent to, neither: no one new); 2 when it is
 * admitted, the host's address and port written to rkey's source. */
__noinline int xm6_nat_inbound(const struct xm_flow6_key *key, struct xm_flow6_key *rkey,
			       __u32 filter)
{
	__u32 zero = 0, now = xm_clock_s();
	struct xm_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	struct xm_nat6_value *v;

	if (!sc || !key || !rkey)
		return 0;
	v = xm6_nat_ext(&sc->nat6_key, key, now);
	if (!v)
		return 0;
	__builtin_memcpy(rkey->saddr, v->addr, sizeof(rkey->saddr));
	rkey->sport = v->port;
	if (filter & XM_CFG_NAT_FILTER_ANY)
		return 2;
	if (!(filter & XM_CFG_NAT_FILTER_ADDR))
		return 1;
	xm6_nat_key_set(&sc->nat6_key, key->daddr, key->saddr, key->dport, key->proto, XM_NAT_PEER);
	v = bpf_map_lookup_elem(&nat_mappings6, &sc->nat6_key);
	return v && xm6_nat_live(v, now) ? 2 : 1;
}

/* The mapping (its EXT entry, key left in k) of public address ext, port
 * ext_port, when it is host:host_port's; else NULL (not a mapped flow, or
 * the mapping went: LRU). */
static __always_inline struct xm_nat6_value *xm6_nat_ext_of(struct xm_nat6_key *k,
							    const __be32 *ext, __be16 ext_port,
							    __u8 proto, const __be32 *host,
							    __be16 host_port)
{
	struct xm_nat6_value *v;

	xm6_nat_key_set(k, ext, NULL, ext_port, proto, XM_NAT_EXT);
	v = bpf_map_lookup_elem(&nat_mappings6, k);
	return v && xm6_nat_owned_by(v, host, host_port) ? v : NULL;
}

/* Whether flow entry f is known not to use a NAT66 mapping (a flow made
 * since nat_flags, not marked MAPPED): nothing to ask nat_mappings6. */
static __always_inline int xm6_flow_unmapped(const struct xm_flow6 *f)
{
	return (f->nat_flags & (XM_FLOW6_NAT_KNOWN | XM_FLOW6_NAT_MAPPED)) == XM_FLOW6_NAT_KNOWN;
}

/* The sweeper's visit to a live ORIG entry of flows6 (slot idx; its
 * caller leaves out replies, 6->4 flows and xm6_flow_unmapped ones):
 * when its flow uses its host's mapping, stamps it (and its peer note)
 * so it lives while the flow does. A flow opened from outside
 * (keep-source) has the host as its destination. */
__noinline int xm6_nat_keep(__u32 idx, __u32 now)
{
	struct xm_ct6_slot *s = bpf_map_lookup_elem(&flows6, &idx);
	struct xm_nat6_key k;
	struct xm_nat6_value *v;
	const __be32 *host, *ext, *peer;
	__be16 host_port, ext_port;

	if (!s)
		return 0;
	if (s->flow.flags & XM_FLOW_KEEP_SOURCE) {
		host = s->flow.new_daddr;
		host_port = s->flow.new_dport;
		ext = s->key.daddr;
		ext_port = s->key.dport;
		peer = s->key.saddr;
	} else {
		host = s->key.saddr;
		host_port = s->key.sport;
		ext = s->flow.new_saddr;
		ext_port = s->flow.new_sport;
		peer = s->key.daddr;
	}
	v = xm6_nat_ext_of(&k, ext, ext_port, s->key.proto, host, host_port);
	if (!v)
		return 0;
	v->last_s = now;
	xm6_nat_key_set(&k, ext, peer, ext_port, s->key.proto, XM_NAT_PEER);
	v = bpf_map_lookup_elem(&nat_mappings6, &k);
	if (v)
		v->last_s = now;
	xm6_nat_key_set(&k, host, ext, host_port, s->key.proto, XM_NAT_INT);
	v = bpf_map_lookup_elem(&nat_mappings6, &k);
	if (v && v->port == ext_port)
		v->last_s = now;
	return 0;
}

/* The mapping (its EXT entry) that the flow of ORIG entry `key`,
 * rewrite `f`, leaves with, when that is its host's: a masqueraded
 * host's flow that counts in its mapping. Else NULL. */
static __always_inline struct xm_nat6_value *
xm6_nat_of_flow(struct xm_nat6_key *k, const struct xm_flow6_key *key, const struct xm_flow6 *f)
{
	if ((f->flags & (XM_FLOW_REPLY | XM_FLOW_KEEP_SOURCE | XM_FLOW6_TO_V4)) ||
	    xm6_flow_unmapped(f))
		return NULL;
	return xm6_nat_ext_of(k, f->new_saddr, f->new_sport, key->proto, key->saddr, key->sport);
}

/* Whether the flow of ORIG entry `key`, rewrite `f`, is a masqueraded
 * host's that uses its mapping (`set nat-inbound-refresh no` judges
 * such UDP flows by what the host sends). */
__noinline int xm6_nat_mapped(const struct xm_flow6_key *key, const struct xm_flow6 *f)
{
	struct xm_nat6_key k;

	return key && f && xm6_nat_of_flow(&k, key, f) != NULL;
}

/* The sweeper expires the ORIG entry `key`, rewrite `f`, of a
 * masqueraded host's flow: when it counted in its host's mapping, the
 * last one takes the mapping with it, so its port is free at once. */
__noinline int xm6_nat_unref(const struct xm_flow6_key *key, const struct xm_flow6 *f)
{
	struct xm_nat6_key k;
	struct xm_nat6_value *v;
	__be16 ext_port;

	if (!key || !f)
		return 0;
	ext_port = f->new_sport;
	v = xm6_nat_of_flow(&k, key, f);
	if (!v || __sync_fetch_and_add(&v->refs, -1) > 1)
		return 0;
	bpf_map_delete_elem(&nat_mappings6, &k);
	xm6_nat_key_set(&k, key->saddr, f->new_saddr, key->sport, key->proto, XM_NAT_INT);
	v = bpf_map_lookup_elem(&nat_mappings6, &k);
	if (v && v->port == ext_port)
		bpf_map_delete_elem(&nat_mappings6, &k);
	return 0;
}

#endif
