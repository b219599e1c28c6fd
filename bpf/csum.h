/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Incremental Internet checksum update (RFC 1624, eqn. 3:
 * HC' = ~(~HC + ~m + m')), accumulated over all changed fields. */
#ifndef XMASQ_BPF_CSUM_H
#define XMASQ_BPF_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

static __always_inline __u32 csum_add32(__u32 a, __u32 b)
{
	__u64 s = (__u64)a + b;

	return (__u32)((s & 0xffffffff) + (s >> 32));
}

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* Adds the change of one 32-bit field (as stored, any byte order) to acc. */
static __always_inline __u32 csum_diff32(__u32 acc, __u32 from, __u32 to)
{
	return csum_add32(csum_add32(acc, ~from), to);
}

static __always_inline __u32 csum_diff16(__u32 acc, __u16 from, __u16 to)
{
	return csum_add32(csum_add32(acc, (__u16)~from), to);
}

/* Applies an accumulated diff to a stored checksum field. */
static __always_inline __u16 csum_apply(__u16 check, __u32 diff)
{
	return (__u16)~csum_fold32(csum_add32((__u16)~check, diff));
}

/* The same sums in a 64-bit accumulator: 32-bit words added without
 * folding each carry back in (2^32 words before it could overflow), one
 * fold at the end. The chain of dependent adds is a third as long: the
 * IPv4 fast path's address, port and TTL diffs were a long serial chain.
 * The result is the one the folding adds give (both are the sum modulo
 * 0xffff, and 0 only when every word is). */
static __always_inline __u64 csum64_diff32(__u64 acc, __u32 from, __u32 to)
{
	return acc + (__u32)~from + to;
}

static __always_inline __u64 csum64_diff16(__u64 acc, __u16 from, __u16 to)
{
	return acc + (__u16)~from + to;
}

/* A 64-bit sum folded to 32 bits (for callers that go on in 32). */
static __always_inline __u32 csum64_to32(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	return (__u32)((sum & 0xffffffff) + (sum >> 32));
}

static __always_inline __u16 csum64_fold(__u64 sum)
{
	sum = (sum & 0xffff) + ((sum >> 16) & 0xffff) + ((sum >> 32) & 0xffff) + (sum >> 48);
	return csum_fold32((__u32)sum);
}

static __always_inline __u16 csum64_apply(__u16 check, __u64 diff)
{
	return (__u16)~csum64_fold(diff + (__u16)~check);
}

#endif
