/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Map definitions. Sizes the loader may change before load (flows,
 * rules) are set here to their defaults. Layouts come from xmasq_abi.h. */
#ifndef XMASQ_BPF_MAPS_H
#define XMASQ_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xmasq_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xm_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XM_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct xm_iface);
} ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct xm_iface);
} iface_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_IFINDEX_DIRECT);
	__type(key, __u32);
	__type(value, struct xm_iface);
} iface_index SEC(".maps");

/* Egress interfaces for XDP_REDIRECT. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, XM_MAX_IFACES);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XM_MAX_RULE_PORTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xm_rule_key);
	__type(value, struct xm_rule_value);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_MAX_RULES);
	/* userspace reads the whole array as memory (apply, status): a
	 * copy instead of XM_MAX_RULES kernel copies */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xm_rule_meta);
} rule_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_ADDR_SETS);
	__type(key, __u32);
	__type(value, struct xm_addr_set);
} addr_sets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_ADDR_SETS);
	__type(key, __u32);
	__type(value, struct xm_addr_set6);
} addr_sets6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XM_MAX_RULES);
	__type(key, __u32);
	__type(value, struct xm_rule_stats);
} rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XM_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct xm_iface_stats);
} iface_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XM_COUNTER_SLOTS);
	__type(key, __u32);
	__type(value, struct xm_counter);
} counters SEC(".maps");

#include "ct_maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XM_MAX_MASQ_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xm_masq_key);
	__type(value, struct xm_masq_value);
} masq_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XM_MAX_IFACES * 4);
	__type(key, __be32);
	__type(value, __u32);
} local_addrs SEC(".maps");

/* LRU: a datagram whose last fragment never comes must not hold a slot. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XM_MAX_FRAGS);
	__type(key, struct xm_frag_key);
	__type(value, struct xm_frag_value);
} frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xm_sweep);
} sweeper SEC(".maps");

/* Which peers ran out of masquerade ports (bpf/ports.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XM_MAX_PORT_EXHAUSTED);
	__type(key, struct xm_port_peer);
	__type(value, struct xm_port_exhausted);
} port_exhausted SEC(".maps");

/* Masqueraded hosts' mappings (bpf/nat.h); sized with the flow table by
 * the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XM_CT_DEFAULT_MAX);
	__type(key, struct xm_nat_key);
	__type(value, struct xm_nat_value);
} nat_mappings SEC(".maps");

/* Masqueraded IPv6 hosts' mappings (bpf/v6_nat.h); sized with flows6 by
 * the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XM_CT6_DEFAULT_MAX);
	__type(key, struct xm_nat6_key);
	__type(value, struct xm_nat6_value);
} nat_mappings6 SEC(".maps");

/* A 6->4 reply being split in two fragments (xmasq_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xm_refrag);
} refrag SEC(".maps");

/* Room for the new-flow path (xmasq_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xm_scratch);
} scratch SEC(".maps");

/* `from` lists (xmasq_abi.h): (list id, source) -> the prefix's index in
 * its list, which nothing reads. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XM_ALLOW_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xm_allow_key);
	__type(value, __u32);
} allow_lists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XM_MAX_RULES);
	__type(key, __u32);
	__type(value, __u64);
} rule_refused SEC(".maps");

/* Flows per source (xmasq_abi.h); mappable: the loader takes a removed
 * flow's count off through memory, atomically. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_SOURCE_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __s64);
} source_flows SEC(".maps");

/* Reply keys a peer may hold in TIME_WAIT (xmasq_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_TIME_WAIT_SLOTS);
	__type(key, __u32);
	__type(value, struct xm_time_wait);
} time_waits SEC(".maps");

/* The last timestamp the peer took, for each note of time_waits. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_TIME_WAIT_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} time_wait_ts SEC(".maps");

/* ---- IPv6 (xmasq_abi.h) ---- */

/* xmasq_tc6, which the tc program hands IPv6 packets to. Pinned: a prog
 * array's entries are cleared when its last user reference goes. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} progs6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XM_MAX_RULE_PORTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xm_rule6_key);
	__type(value, struct xm_rule6_value);
} rules6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_MAX_RULES);
	__type(key, __u32);
	__type(value, struct xm_rule_addrs6);
} rule_addrs6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct xm_iface6);
} iface_addrs6 SEC(".maps");

/* IPv6 conntrack: our own table as flows is (bpf/ct6.h), mappable for
 * the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XM_CT_SLOTS(XM_CT6_DEFAULT_MAX));
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xm_ct6_slot);
} flows6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xm_sweep6);
} sweeper6 SEC(".maps");

/* Sized with flows6 by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries,
	       (XM_CT_SLOTS(XM_CT6_DEFAULT_MAX) + XM_SWEEP_GROUP - 1) / XM_SWEEP_GROUP);
	__type(key, __u32);
	__type(value, __u32);
} sweep6_groups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XM_MAX_MASQ_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xm_masq6_key);
	__type(value, struct xm_masq_value);
} masq_rules6 SEC(".maps");

/* xmasq_tc46, which the tc program hands IPv4 replies of 6->4 flows to
 * (xmasq_abi.h). A map of its own, not a second progs6 entry: a pinned
 * map's size is part of its identity, and progs6 exists on routers
 * attached by earlier builds. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} progs46 SEC(".maps");

/* xmasq_tc_new and xmasq_tc_flow, which the IPv4 tc programs hand a
 * packet of no flow and then the packet whose flow was just made to
 * (xmasq_abi.h). A map of its own, not more room in progs46: attach makes
 * a pinned array of another size afresh, and until 2026-12-03 the old
 * one, unpinned, was emptied by the kernel at once (its last user
 * reference gone) while the previous build's tc program still tail-called
 * through it until replaced: its 6->4 replies went to the kernel, which
 * reset them. attach now holds the old array open until every NIC has the
 * new programs (loader/lib/attach.c, held_arrays). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} progs4 SEC(".maps");

/* xmasq_xdp6, xmasq_xdp46 and xmasq_xdp6_new, which the XDP programs
 * hand IPv6 frames, 6->4 replies and new IPv6 flows to (xmasq_abi.h): an
 * XDP program's prog array cannot hold tc programs, nor theirs XDP. Room
 * for one more: a pinned array of another size is made afresh (attach,
 * the old one held open until the new programs are attached). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} progs6_xdp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XM_MAX_FRAGS);
	__type(key, struct xm_frag6_key);
	__type(value, struct xm_frag6_value);
} frags6 SEC(".maps");

#endif
