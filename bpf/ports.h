/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Masquerade port allocation (RFC 4787 endpoint-independent mapping):
 * the client's own port where free, else a random one of the range. */
#ifndef XMASQ_BPF_PORTS_H
#define XMASQ_BPF_PORTS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <linux/in.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "ct.h"

/* Claims the reply entry's slot on a free masquerade port (ICMP: echo
 * id): first the client's own port if `try_own`, then up to
 * XM_PORT_PROBES random ones in [lo, hi] unless XM_PORT_KEEP. (w0, w1):
 * the reply key with the client's port. Returns the slot (its key holds
 * the port), or XM_PORT_ERR_*. Global: the loop is verified once, not in
 * every program (inline, every try multiplied the instructions the
 * verifier walks). */
#define XM_PORT_TRY_OWN	    1
#define XM_PORT_KEEP	    2 /* the client's port or nothing */
#define XM_PORT_ICMP	    4 /* the id is both "ports" */
#define XM_PORT_ERR_NO_PORT (-1)
#define XM_PORT_ERR_FULL    (-2)
__noinline int xm_ct_claim_port(__u64 w0, __u64 w1, __u32 lo_hi, __u32 how)
{
	__u32 lo = lo_hi & 0xffff, range = (lo_hi >> 16) - lo + 1;
	union xm_ct_words u = { .w = { w0, w1 } };
	int rc;

	if (how & XM_PORT_TRY_OWN) {
		rc = xm_ct_claim(w0, w1);
		if (rc >= 0)
			return rc;
		if (rc != XM_CT_ERR_EXIST)
			return XM_PORT_ERR_FULL;
	}
	if ((how & XM_PORT_KEEP) || (lo_hi >> 16) < lo)
		return XM_PORT_ERR_NO_PORT;
	for (int i = 0; i < XM_PORT_PROBES; i++) {
		u.key.dport = bpf_htons((__u16)(lo + bpf_get_prandom_u32() % range));
		if (how & XM_PORT_ICMP)
			u.key.sport = u.key.dport;
		rc = xm_ct_claim(w0, u.w[1]);
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
static __always_inline int xm_alloc_port(struct xm_flow_key *rkey, const struct xm_config *cfg,
					 int keep_port, __u32 *idx)
{
	__u16 client_port = bpf_ntohs(rkey->dport);
	__u32 how = keep_port ? XM_PORT_KEEP : 0;
	struct xm_ct_slot *s;
	int rc;

	/* First try: the client's own port, unless the router's own
	 * connections could be using it (ICMP ids are no ports: always). */
	if (keep_port || rkey->proto == IPPROTO_ICMP || !cfg->local_port_hi ||
	    client_port < cfg->local_port_lo || client_port > cfg->local_port_hi)
		how |= XM_PORT_TRY_OWN;
	if (rkey->proto == IPPROTO_ICMP)
		how |= XM_PORT_ICMP;
	rc = xm_ct_claim_port(xm_key_w0(rkey), xm_key_w1(rkey),
			      cfg->port_lo | (__u32)cfg->port_hi << 16, how);
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

#endif
