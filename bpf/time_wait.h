/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reply keys whose peer closed first and may hold them in TIME_WAIT
 * (map time_waits, xmasq_abi.h): noted at the close, read by the port
 * search. */
#ifndef XMASQ_BPF_TIME_WAIT_H
#define XMASQ_BPF_TIME_WAIT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "maps.h"
#include "clock.h"

/* The flow with reply key (w0, w1) and client `client`:`port` has just
 * closed, its reply side sending the last ACK: that side closed first.
 * tsecr: the ACK's TSecr, the last timestamp that side took (0: none).
 * Global: runs once a connection. */
__noinline int xm_time_wait_note(__u64 w0, __u64 w1, __u32 client, __u32 port, __u32 tsecr)
{
	__u32 slot = xm_time_wait_slot(w0, w1);
	struct xm_time_wait *tw = bpf_map_lookup_elem(&time_waits, &slot);
	__u32 *last = bpf_map_lookup_elem(&time_wait_ts, &slot);

	if (!tw)
		return 0;
	tw->client = client;
	tw->client_port = port;
	tw->flags = tsecr && last ? XM_TIME_WAIT_HAS_TS : 0;
	if (last)
		*last = tsecr;
	tw->until_s = xm_clock_s() + XM_TIME_WAIT_S;
	return 0;
}

/* Whether reply key (w0, w1) may still be in TIME_WAIT at its peer for a
 * client other than `client`:`port`: the peer might refuse that client's
 * SYN. A slot another key's note took answers for it too: a free port
 * passed over, never a wrong translation. */
static __always_inline int xm_time_wait_other(__u64 w0, __u64 w1, __be32 client, __be16 port)
{
	__u32 slot = xm_time_wait_slot(w0, w1);
	struct xm_time_wait *tw = bpf_map_lookup_elem(&time_waits, &slot);

	return tw && (tw->client != client || tw->client_port != port) &&
	       (__s32)(tw->until_s - xm_clock_s()) > 0;
}

#endif
