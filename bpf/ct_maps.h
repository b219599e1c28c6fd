/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The flow table's maps: the table, its sweep groups and its census.
 * Apart from maps.h because the census program (census.bpf.c), an object
 * of its own, uses them too and nothing else. */
#ifndef XMASQ_BPF_CT_MAPS_H
#define XMASQ_BPF_CT_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"

/* Conntrack: our own hash table (bpf/ct.h) in an array, so the kernel
 * never evicts one half of a pair; a full table refuses new flows instead.
 * Mappable: the loader lists and removes flows through memory, not a
 * system call per slot. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_CT_SLOTS(XM_CT_DEFAULT_MAX));
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xm_ct_slot);
} flows SEC(".maps");

/* Sized with the flow table by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, (XM_CT_SLOTS(XM_CT_DEFAULT_MAX) + XM_SWEEP_GROUP - 1) / XM_SWEEP_GROUP);
	__type(key, __u32);
	__type(value, __u32);
} sweep_groups SEC(".maps");

/* The flow census (xmasq_abi.h): entry 0 its head, then the entries a
 * run copied out of flows. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 + XM_CENSUS_MAX);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xm_ct_slot);
} census SEC(".maps");

#endif
