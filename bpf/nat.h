/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* NAT behaviour for masqueraded hosts (RFC 4787, 5382): one public port
 * per host address:port for every destination while it has flows
 * (endpoint-independent mapping), outside hosts admitted to a mapping as
 * `set nat-filtering` says, and hairpinning. The mappings live in
 * nat_mappings (layout and lifetime: xmasq_abi.h). Every function here is
 * global, called with scalars: verified once, and the keys live on their
 * own small frames, not on the packet's, which has no room. */
#ifndef XMASQ_BPF_NAT_H
#define XMASQ_BPF_NAT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <linux/in.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "stats.h"
#include "clock.h"

/* A host endpoint in one word: address, port (network order) and
 * protocol, bit 56 set so that a real endpoint is never 0. */
#define XM_NAT_HOST(addr, port, proto)                                                    \
	((__u64)(__u32)(addr) | (__u64)(__u16)(port) << 32 | (__u64)(__u8)(proto) << 48 | \
	 1ull << 56)
#define XM_NAT_HOST_ADDR(h)  ((__be32)(__u32)(h))
#define XM_NAT_HOST_PORT(h)  ((__be16)((h) >> 32))
#define XM_NAT_HOST_PROTO(h) ((__u8)((h) >> 48))

/* Stamped less than XM_NAT_LEASE_S ago; a stamp ahead of `now` was made
 * by another CPU after this one read the clock. */
static __always_inline int xm_nat_live(const struct xm_nat_value *v, __u32 now)
{
	return v->last_s >= now || now - v->last_s < XM_NAT_LEASE_S;
}

static __always_inline int xm_nat_owned_by(const struct xm_nat_value *v, __u64 host)
{
	return v->addr == XM_NAT_HOST_ADDR(host) && v->port == XM_NAT_HOST_PORT(host);
}

/* The public port (host order) host's live mapping on public address ext
 * has, or 0. Both halves must agree: an EXT entry the LRU gave away, or
 * one another host took after this mapping lapsed, ends the mapping. */
__noinline __u32 xm_nat_port_of(__u64 host, __u32 ext)
{
	__u32 now = xm_clock_s();
	struct xm_nat_key k = {
		.addr = XM_NAT_HOST_ADDR(host),
		.peer = ext,
		.port = XM_NAT_HOST_PORT(host),
		.proto = XM_NAT_HOST_PROTO(host),
		.kind = XM_NAT_INT,
	};
	struct xm_nat_value *v = bpf_map_lookup_elem(&nat_mappings, &k);
	__be16 port;

	if (!v || !xm_nat_live(v, now))
		return 0;
	port = v->port;
	k.addr = ext;
	k.peer = 0;
	k.port = port;
	k.kind = XM_NAT_EXT;
	v = bpf_map_lookup_elem(&nat_mappings, &k);
	if (!v || !xm_nat_live(v, now) || !xm_nat_owned_by(v, host))
		return 0;
	return bpf_ntohs(port);
}

/* Whether the public port of reply key (w0, w1) (its destination: public
 * address and port) belongs to a live mapping of another host than the
 * one in scratch (the new flow's, bpf/ports.h). A new mapping must not
 * take it: an outside host sending to it could not be told which host it
 * meant. */
__noinline int xm_nat_port_taken(__u64 w0, __u64 w1)
{
	__u32 now = xm_clock_s(), zero = 0;
	struct xm_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	struct xm_nat_key k = {
		.addr = (__u32)(w0 >> 32),
		.port = (__u16)(w1 >> 16),
		.proto = (__u8)(w1 >> 32),
		.kind = XM_NAT_EXT,
	};
	struct xm_nat_value *v = bpf_map_lookup_elem(&nat_mappings, &k);

	return sc && v && xm_nat_live(v, now) && !xm_nat_owned_by(v, sc->nat_host);
}

/* A new flow of host's has claimed reply slot idx, whose key's
 * destination is the public address and port it leaves with, and ORIG
 * slot oidx (both still being written): makes or stamps host's mapping,
 * with address-dependent filtering notes that it sent to the key's
 * source, and marks the flow XM_FLOW_NAT_MAPPED. Not when the flow cannot
 * use the mapping: the host's live mapping has another port (that port's
 * tuple was taken), or another host's holds this one (two CPUs made first
 * flows at once); the flow goes on without it (-1). Nothing for `host`
 * 0 (not a masqueraded host's flow). */
static __always_inline int xm_nat_note_host(__u64 host, __u32 idx, __u32 oidx)
{
	__u32 zero = 0, now = xm_clock_s();
	struct xm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct xm_ct_slot *s = bpf_map_lookup_elem(&flows, &idx);
	struct xm_nat_key k = {
		.addr = XM_NAT_HOST_ADDR(host),
		.port = XM_NAT_HOST_PORT(host),
		.proto = XM_NAT_HOST_PROTO(host),
		.kind = XM_NAT_INT,
	};
	struct xm_nat_value nv = {
		.addr = XM_NAT_HOST_ADDR(host),
		.port = XM_NAT_HOST_PORT(host),
		.last_s = now,
	};
	struct xm_nat_value *v;
	__be32 ext, peer;
	__be16 ext_port;

	if (!host || !s || !cfg)
		return -1;
	ext = s->key.daddr;
	ext_port = s->key.dport;
	peer = s->key.saddr;
	k.peer = ext;
	v = bpf_map_lookup_elem(&nat_mappings, &k);
	if (v && xm_nat_live(v, now) && v->port != ext_port)
		goto split;
	k.addr = ext;
	k.peer = 0;
	k.port = ext_port;
	k.kind = XM_NAT_EXT;
	v = bpf_map_lookup_elem(&nat_mappings, &k);
	if (v && xm_nat_live(v, now)) {
		if (!xm_nat_owned_by(v, host))
			goto split;
		v->last_s = now;
		__sync_fetch_and_add(&v->refs, 1);
	} else {
		nv.refs = 1;
		if (bpf_map_update_elem(&nat_mappings, &k, &nv, BPF_ANY))
			goto split;
		nv.refs = 0;
		xm_count(XM_C_NAT_MAPPING_NEW, 0);
	}
	if (cfg->flags & XM_CFG_NAT_FILTER_ADDR) {
		k.peer = peer;
		k.kind = XM_NAT_PEER;
		bpf_map_update_elem(&nat_mappings, &k, &nv, BPF_ANY);
	}
	k.addr = XM_NAT_HOST_ADDR(host);
	k.peer = ext;
	k.port = XM_NAT_HOST_PORT(host);
	k.kind = XM_NAT_INT;
	nv.port = ext_port;
	bpf_map_update_elem(&nat_mappings, &k, &nv, BPF_ANY);
	s = bpf_map_lookup_elem(&flows, &oidx);
	if (s)
		s->flow.flags |= XM_FLOW_NAT_MAPPED;
	return 0;
split:
	xm_count(XM_C_NAT_MAPPING_SPLIT, 0);
	return -1;
}

/* Every new flow calls it: a forward's (host 0) returns before the body's
 * clock, config and slot lookups (8 ns of a new forward flow in a perf
 * profile of prog-ns-newflow). */
__noinline int xm_nat_note(__u64 host, __u32 idx, __u32 oidx)
{
	if (!host)
		return -1;
	return xm_nat_note_host(host, idx, oidx);
}

/* The host a new packet with key (w0, w1) (outside host -> public address
 * and port) reaches through a live mapping; 0 when there is no mapping, 1
 * when the filter refuses it: with `filter`
 * XM_CFG_NAT_FILTER_ANY any sender, with XM_CFG_NAT_FILTER_ADDR only an
 * address the mapping has sent to. Hairpinned packets (from a host behind
 * this router) pass FILTER_ANY: they are not filtered. */
__noinline __u64 xm_nat_inbound(__u64 w0, __u64 w1, __u32 filter)
{
	__u32 now = xm_clock_s();
	struct xm_nat_key k = {
		.addr = (__u32)(w0 >> 32),
		.port = (__u16)(w1 >> 16),
		.proto = (__u8)(w1 >> 32),
		.kind = XM_NAT_EXT,
	};
	struct xm_nat_value *v;
	__u64 host;

	v = bpf_map_lookup_elem(&nat_mappings, &k);
	if (!v || !xm_nat_live(v, now))
		return 0;
	host = XM_NAT_HOST(v->addr, v->port, k.proto);
	if (filter & XM_CFG_NAT_FILTER_ANY)
		return host;
	if (!(filter & XM_CFG_NAT_FILTER_ADDR))
		return 1;
	k.peer = (__u32)w0;
	k.kind = XM_NAT_PEER;
	v = bpf_map_lookup_elem(&nat_mappings, &k);
	return v && xm_nat_live(v, now) ? host : 1;
}

/* The sweeper expires a flow of host's that counted in the refs of its
 * mapping on public ext_w (address | port << 32): the last one takes the
 * mapping with it, so its port is free at once. */
__noinline int xm_nat_unref(__u64 host, __u64 ext_w)
{
	struct xm_nat_key k = {
		.addr = (__u32)ext_w,
		.port = (__u16)(ext_w >> 32),
		.proto = XM_NAT_HOST_PROTO(host),
		.kind = XM_NAT_EXT,
	};
	struct xm_nat_value *v = bpf_map_lookup_elem(&nat_mappings, &k);

	if (!v || !xm_nat_owned_by(v, host) || __sync_fetch_and_add(&v->refs, -1) > 1)
		return 0;
	bpf_map_delete_elem(&nat_mappings, &k);
	k.addr = XM_NAT_HOST_ADDR(host);
	k.peer = (__u32)ext_w;
	k.port = XM_NAT_HOST_PORT(host);
	k.kind = XM_NAT_INT;
	v = bpf_map_lookup_elem(&nat_mappings, &k);
	if (v && v->port == (__u16)(ext_w >> 32))
		bpf_map_delete_elem(&nat_mappings, &k);
	return 0;
}

/* The sweeper's visit to the ORIG entry of a flow using a mapping: stamps
 * the mapping (and its peer note) so it lives while the flow does. A flow
 * opened from outside (keep-source) has the host as its destination. */
__noinline int xm_nat_keep(__u32 idx, __u32 now)
{
	struct xm_ct_slot *s = bpf_map_lookup_elem(&flows, &idx);
	struct xm_nat_key k = {};
	struct xm_nat_value *v;
	__be32 host_addr, ext, peer;
	__be16 host_port, ext_port;

	if (!s)
		return 0;
	if (s->flow.flags & XM_FLOW_KEEP_SOURCE) {
		host_addr = s->flow.new_daddr;
		host_port = s->flow.new_dport;
		ext = s->key.daddr;
		ext_port = s->key.dport;
		peer = s->key.saddr;
	} else {
		host_addr = s->key.saddr;
		host_port = s->key.sport;
		ext = s->flow.new_saddr;
		ext_port = s->flow.new_sport;
		peer = s->key.daddr;
	}
	k.proto = s->key.proto;
	k.addr = ext;
	k.port = ext_port;
	k.kind = XM_NAT_EXT;
	v = bpf_map_lookup_elem(&nat_mappings, &k);
	if (!v || v->addr != host_addr || v->port != host_port)
		return 0; /* the mapping went (LRU): the flow lives on alone */
	v->last_s = now;
	k.peer = peer;
	k.kind = XM_NAT_PEER;
	v = bpf_map_lookup_elem(&nat_mappings, &k);
	if (v)
		v->last_s = now;
	k.addr = host_addr;
	k.peer = ext;
	k.port = host_port;
	k.kind = XM_NAT_INT;
	v = bpf_map_lookup_elem(&nat_mappings, &k);
	if (v && v->port == ext_port)
		v->last_s = now;
	return 0;
}

#endif
