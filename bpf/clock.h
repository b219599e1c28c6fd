/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The clock flows and mappings are stamped with: the sweeper (bpf/sweep.h)
 * sets it every second. */
#ifndef XMASQ_BPF_CLOCK_H
#define XMASQ_BPF_CLOCK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"
#include "maps.h"

/* Seconds added to the kernel's clock: always 0 but in tests, which age
 * flows by moving the clock forward (never by moving a stamp back: the
 * clock counts from boot, and a stamp moved back past 0 wraps into the
 * future, where a flow looks busy), or make it read as just after boot.
 * Read by the sweeper's tick once a second; per packet only until this
 * program runs the sweeper (xm_clock_s). */
volatile __u32 xm_clock_ahead_s = 0;

/* The kernel's CLOCK_MONOTONIC_COARSE in seconds (conntrack list reads the
 * same clock), plus xm_clock_ahead_s. */
static __always_inline __u32 xm_now_s(void)
{
	return (__u32)(bpf_ktime_get_coarse_ns() / 1000000000ull) + xm_clock_ahead_s;
}

/* The loader sets this before load; a sweeper armed by an older program
 * stops re-arming itself and the newer program takes the timer over. */
const volatile __u32 xm_prog_epoch = 0;

#define XM_CLOCK_TICK_NS (1000ull * 1000 * 1000)

/* The clock flows are stamped with, in seconds: the sweeper's, which it
 * sets every second, read with one load: the clock helper was a large
 * share of the established-flow fast path. Until this program runs the
 * sweeper (just loaded, or an older program still attached during an
 * upgrade), the kernel's clock. */
static __always_inline __u32 xm_clock_s(void)
{
	__u32 zero = 0;
	struct xm_sweep *sw = bpf_map_lookup_elem(&sweeper, &zero);

	if (sw && sw->epoch == xm_prog_epoch && sw->now)
		return sw->now;
	return xm_now_s();
}

#endif
