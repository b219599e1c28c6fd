/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* libxmasq's own declarations, shared between its files: not for front
 * ends, which use xmasq.h only. Same error convention as xmasq.h. */
#ifndef XMASQ_INTERNAL_H
#define XMASQ_INTERNAL_H

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/limits.h>
#include "xmasq_abi.h"
#include "xmasq.h"

/* ---- interfaces (handle.c, probe.c) ---- */
/* Records an interface in both the ifindex hash and the slot array the
 * data plane reads per packet (0, or -1 with errno); forgets it from both. */
int xm_iface_store(struct xm_handle *h, const struct xm_iface *v);
/* iface_addrs6[slot]: the NIC's IPv6 address (all zero: none). A router
 * attached by an older build has no such map: store does nothing (0),
 * get gives all zero and -1. 0, or -1 with errno. */
int xm_iface6_store(struct xm_handle *h, __u8 slot, const __be32 addr[4]);
int xm_iface6_get(const struct xm_handle *h, __u8 slot, __be32 addr[4]);
/* ---- the open-addressing scheme both flow tables share (ct_table.c) ----
 * A slot begins with its key's nw 8-byte words, the last holding the
 * state byte, and the entry follows them; the steps are bpf/ct.h's. */
struct bpf_map_info;
struct xm_slots {
	void *base;
	size_t stride; /* bytes a slot */
	size_t nslots;
	size_t len; /* mapped bytes */
	int nw;	    /* the key's words */
};
/* Maps array map_fd of stride-byte slots (info: what it is). 0; -1 (err,
 * `what` naming the map); -2: not such an array (err left to the caller). */
int xm_slots_map(struct xm_slots *t, int map_fd, size_t stride, int nw, int writable,
		 struct bpf_map_info *info, const char *what, char *err, size_t errlen);
/* Whether the slot is LIVE (inline: walks ask it of every slot). */
static inline int xm_slots_live(const void *slot, int nw)
{
	union xm_ct_words u = { .w = { 0, __atomic_load_n(&((const __u64 *)slot)[nw - 1],
							  __ATOMIC_ACQUIRE) } };

	return u.key.ct_state == XM_CT_LIVE;
}

/* Key words kw (state byte 0) from its home on: the slot's index, or -1. */
long xm_slots_find(const struct xm_slots *t, const __u64 *kw, uint32_t home);
/* Live -> dead by one compare-and-swap: 0, or -1 if it was not live. */
int xm_slots_remove(void *slot, int nw);
/* 0, -EEXIST, -ENOSPC (no free slot within XM_CT_PROBES), -EAGAIN; see
 * xm_ct_insert for when it may be used. */
int xm_slots_insert(const struct xm_slots *t, const __u64 *kw, uint32_t home, const void *val,
		    size_t val_len);

/* ---- the IPv6 flow table flows6, mapped into memory (ct6_table.c) ---- */
struct xm_ct6_table {
	struct xm_ct6_slot *slots;
	size_t nslots;
	size_t map_len;
	uint32_t homes; /* nslots - (XM_CT_PROBES - 1) */
	uint64_t seed;	/* config.ct_seed: the IPv4 table's */
};
/* Maps flows6 (read-only unless writable). -2: the map is not this
 * build's table (an older build's hash map: attach converts it). */
int xm_ct6_open(struct xm_ct6_table *t, int map_fd, uint64_t seed, int writable, char *err,
		size_t errlen);
/* The router's flows6 with the seed from its config: 0; 1 when it has no
 * flows6 (an older attach: an empty table); -1, -2 (err). */
int xm_ct6_open_handle(struct xm_ct6_table *t, struct xm_handle *h, int writable, char *err,
		       size_t errlen);
void xm_ct6_close(struct xm_ct6_table *t);
int xm_ct6_slot_live(const struct xm_ct6_slot *s);
/* A live slot's key (state byte 0) and entry as one consistent copy: 1,
 * or 0 when the slot is not live (or changed while copied). */
int xm_ct6_slot_copy(const struct xm_ct6_slot *s, struct xm_flow6_key *k, struct xm_flow6 *f);
/* The live slot of key k (its state byte is ignored), or NULL. */
struct xm_ct6_slot *xm_ct6_lookup(const struct xm_ct6_table *t, const struct xm_flow6_key *k);
/* As xm_ct_insert: 0, -EEXIST, -ENOSPC, -EAGAIN. */
int xm_ct6_insert(struct xm_ct6_table *t, const struct xm_flow6_key *k, const struct xm_flow6 *f);
/* Removes slot s's entry: 0, or -1 if it was not live. */
int xm_ct6_slot_remove(struct xm_ct6_slot *s);
/* Removes key k's entry: 0, or -1 if it is not in the table. */
int xm_ct6_delete(struct xm_ct6_table *t, const struct xm_flow6_key *k);
/* Live entries (orig_only: ORIG entries, i.e. flows). */
size_t xm_ct6_table_count(const struct xm_ct6_table *t, int orig_only);

/* ---- flows6 for conntrack, status and detach (ct6.c); no map (an older
 * attach): an empty table ---- */
/* Flows (ORIG entries) in flows6, and how many it holds at most. */
unsigned long xm_ct6_count(struct xm_handle *h);
unsigned long xm_ct6_max(const struct xm_handle *h);
/* Removes each flow (both entries) whose ORIG entry doomed() picks, or,
 * doomed NULL, every entry; returns how many flows, -1 when flows6
 * cannot be mapped (err). */
long xm_ct6_remove_if(struct xm_handle *h,
		      int (*doomed)(const struct xm_flow6_key *k, const struct xm_flow6 *orig,
				    void *arg),
		      void *arg, char *err, size_t errlen);
/* Appends the IPv6 flows to (*conns, *n) as xm_conntrack_read lists them. */
int xm_ct6_conns(struct xm_handle *h, const struct xm_config *cfg, uint32_t now,
		 struct xm_conn **conns, size_t *n, char *err, size_t errlen);

/* A pinned flows6 of the previous build's shape (the kernel's hash map,
 * 40-byte keys, 72-byte entries) carried into the new table
 * (flows6_carry.c), so that an upgrade keeps the IPv6 connections: take
 * before the load (the old table held open, its pin gone), put after it
 * (its entries read and inserted, just before the programs are swapped
 * in), abort if the load failed (the pin back). */
struct xm_flows6_carry {
	int old_fd; /* -1: nothing to carry */
	size_t n;
	struct xm_flow6_key *keys;
	unsigned char *vals; /* XM_FLOW6_HASHED_SIZE bytes an entry */
	char path[4096];
};
/* 0 (nothing pinned, or a pinned flows6 of the new shape: nothing to do),
 * or -1 (err; nothing changed). */
int xm_flows6_carry_take(struct xm_flows6_carry *c, const char *path, char *err, size_t errlen);
/* Inserts the entries into the new table new_fd hashed with seed and logs
 * how many (one line; entries that do not fit are counted, not fatal).
 * Returns how many were carried. */
size_t xm_flows6_carry_put(struct xm_flows6_carry *c, int new_fd, uint64_t seed, FILE *log);
void xm_flows6_carry_abort(struct xm_flows6_carry *c);
/* 1 if map id may be missing under a layout-2 pin dir (added within the
 * layout: a router attached by an older build has none until attached
 * again; xm_open leaves its fd -1 and the readers go without it). */
int xm_map_optional(int id);
/* The ifindexes of the managed interfaces, listed before anything changes
 * them: storing an entry while walking the hash can revisit keys without
 * end. Returns how many. */
int xm_iface_keys(struct xm_handle *h, __u32 keys[XM_MAX_IFACES]);
void xm_iface_forget(struct xm_handle *h, __u32 ifindex);
/* Whether XDP frames redirected into ifname are delivered: 1 yes, 0 no,
 * with a short reason. */
int xm_probe_xdp_tx(const char *ifname, int ifindex, int ingress_generic, char *why, size_t whylen);
/* Program ids attached to an interface by xmasq, 0 when none. */
uint32_t xm_xdp_prog_id(int ifindex);
uint32_t xm_tc_prog_id(int ifindex);

/* ---- NICs (nic.c) ----
 * iface_names: an array map of userspace's own (no program reads it),
 * pinned beside the others, slot -> interface name, so that a NIC that
 * is gone can still be named and found again by its name. */
#define XM_PIN_IFACE_NAMES "iface_names"
int xm_iface_name_set(const char *pin_dir, __u8 slot, const char *name);
/* 0 and name filled, or -1 (none on record). */
int xm_iface_name_get(const char *pin_dir, __u8 slot, char name[XM_IFNAMSIZ]);
/* The gone entry recorded under name: 1 (out filled), or 0. */
int xm_nic_gone_by_name(struct xm_handle *h, const char *name, struct xm_iface *out);
/* Marks a managed NIC that no longer exists gone (see xmasq.h): 1 and ev
 * filled if it was not already, else 0. */
int xm_nic_mark_gone(struct xm_handle *h, __u32 ifindex, const char *name,
		     struct xm_follow_event *ev);
/* Reads one managed NIC afresh (see xm_nics_refresh): events written. */
size_t xm_nic_refresh(struct xm_handle *h, __u32 ifindex, struct xm_follow_event *ev, size_t max);
/* What a NIC as read now (`now`, xm_ifinfo_read) says differently from
 * its entry v: XM_NIC_* bits. An MTU or address the NIC does not give
 * (0) is no change. The follower and status judge by it alike. */
unsigned xm_nic_changes(const struct xm_iface *v, const struct xm_iface *now);
/* A gone NIC of this name exists again and has an IPv4 address: attach
 * the pinned programs to it in its old mode, in its old slot, and move its
 * rules to its new ifindex. 1 (ev filled), 0 (nothing to do yet), -1. */
int xm_nic_adopt(struct xm_handle *h, const char *name, struct xm_follow_event *ev, char *err,
		 size_t errlen);
/* The rules of from_ifindex (both generations, masquerades, rule_meta)
 * now name to_ifindex. */
void xm_rules_move_iface(struct xm_handle *h, __u32 from_ifindex, __u32 to_ifindex);
/* A managed NIC's address changed from old_addr (its entry, ifc, holds the
 * new one already): old_addr stops being the router's (unless another
 * managed NIC has it) and the flows masqueraded with it through this NIC
 * go (their replies can no longer arrive; the next packet of the client
 * makes a new flow with the new address). Returns the flows removed. */
unsigned long xm_nic_addr_moved(struct xm_handle *h, const struct xm_iface *ifc, __be32 old_addr);
/* Counts an event of kind (XM_C_NIC_*) and fills ev[*n] with its kind,
 * name and ifindex (the rest zero), or returns NULL when ev is full. */
struct xm_follow_event *xm_follow_emit(struct xm_handle *h, struct xm_follow_event *ev, size_t max,
				       size_t *n, enum xm_follow_kind kind, const char *name,
				       __u32 ifindex);
/* Adds one to a counter of userspace's own (XM_C_NIC_*). */
void xm_count_event(struct xm_handle *h, enum xm_counter_id id);

/* ---- attach.c ----
 * Attaches the programs (fds) to one interface and records it; a gone
 * entry of the same name gives its slot, mode and rules (xm_nic_adopt). */
int xm_attach_iface(struct xm_handle *h, int xdp_fd, int tc_fd, const char *ifname,
		    struct xm_iface *ifc, enum xm_mode mode, FILE *log, char *err, size_t errlen);

/* ---- maps (handle.c) ---- */
/* Deletes every key of map fd (keys of key_size <= 64 bytes) for which
 * doomed() is true; returns how many were deleted, -1 on a bad size. */
long xm_map_delete_if(int fd, size_t key_size, int (*doomed)(int fd, const void *key, void *arg),
		      void *arg);
/* Every rule_meta slot (XM_MAX_RULES of them) into all; a slot that
 * cannot be read counts as unused. */
void xm_read_rule_meta(struct xm_handle *h, struct xm_rule_meta *all);
/* A large buffer about to be written through (a /metrics text, a
 * snapshot's rules): backed by 2 MB pages where the kernel's transparent
 * huge pages allow (madvise or always), so that filling it takes a fault
 * per 2 MB, not per 4 kB (12 -> 4 ms for 33 MB here). Only a hint. */
void xm_hugepage_hint(void *p, size_t len);
/* rule_meta mapped read-only: entry id at id * stride (XM_MAX_RULES of
 * them; munmap len bytes after), or NULL when the map is not
 * BPF_F_MMAPABLE: read it with xm_read_rule_meta then. */
const void *xm_rule_meta_map(struct xm_handle *h, size_t *stride, size_t *len);
/* rule_meta slot 0 (id 0 is never a rule) counts the changes to the
 * others in its `line`: every writer adds one, so a copy kept elsewhere
 * (xm_live_rules) knows whether it is still the live one. */
__u32 xm_meta_stamp(struct xm_handle *h);
void xm_meta_stamp_bump(struct xm_handle *h);

/* ---- apply.c's pieces, for the line-by-line apply (live_rules.c) ---- */
void xm_read_local_port_range(struct xm_config *cfg);
/* An IPv6 forward's meta has daddr and to_addr 0: its addresses are
 * beside it (rule_addrs6), and the comparisons take them (NULL: not
 * compared; ignored for IPv4 rules). */
void xm_meta_from_rule(const struct xm_rule *r, __u32 ifindex, struct xm_rule_meta *m);
/* The rule_addrs6 entry of r (all zero for an IPv4 rule). */
void xm_addrs6_from_rule(const struct xm_rule *r, struct xm_rule_addrs6 *a6);
int xm_meta_same(const struct xm_rule_meta *a, const struct xm_rule_addrs6 *a6,
		 const struct xm_rule_meta *b, const struct xm_rule_addrs6 *b6);
int xm_meta_same_match(const struct xm_rule_meta *a, const struct xm_rule_addrs6 *a6,
		       const struct xm_rule_meta *b, const struct xm_rule_addrs6 *b6);
int xm_insert_rule_ports(int fd, const struct xm_rule *r, __u32 ifindex, __u32 id, __u16 allow_list,
			 __u8 gen);
void xm_delete_rule_ports(int fd, const struct xm_rule_meta *m, __u8 gen);
/* The IPv6 forwards' entries of from_ifindex (map rules6, both
 * generations) under to_ifindex: xm_rules_move_iface's IPv6 part (their
 * rule_meta moves with the IPv4 ones'). */
void xm_rules6_move_iface(struct xm_handle *h, __u32 from_ifindex, __u32 to_ifindex);
/* Every rule_addrs6 entry (XM_MAX_RULES of them, 4 MB) into all in one
 * batch call: 0, or -1 (no map, no memory, a kernel before 5.6). Cheaper
 * than a lookup per IPv6 rule above XM_ADDRS6_BATCH_FROM of them. */
#define XM_ADDRS6_BATCH_FROM 256
int xm_rule_addrs6_read_all(struct xm_handle *h, struct xm_rule_addrs6 *all);
int xm_resolve_iface(struct xm_handle *h, const char *filename, const char *ifname, unsigned line,
		     unsigned col, __u32 *ifindex, char *err, size_t errlen);
void xm_apply_refresh_nics(struct xm_handle *h, FILE *log, struct xm_apply_result *res);

/* ---- the flow table (ct_table.c) ---- */
/* The router's table, with its seed from the config map. */
int xm_ct_open_handle(struct xm_ct_table *t, struct xm_handle *h, int writable, char *err,
		      size_t errlen);
int xm_ct_slot_live(const struct xm_ct_slot *s);
/* The flow census (census.c, xmasq_abi.h): the entries a reader of the
 * whole table looks at, copied out by the kernel. view is a table of
 * them (for walks only: no lookups). */
struct xm_census {
	struct xm_ct_table view;
	uint32_t table_slots; /* the flow table's own size */
	uint32_t token;
	void *mem;
	size_t len;
};
/* Loads the census program (its own object) on the data plane's maps and
 * pins it at pin_path: 0, or -1 (err; the pin is gone: readers map the
 * table). */
int xm_census_load(int flows_fd, int groups_fd, int census_fd, const char *pin_path, char *err,
		   size_t errlen);
/* 0 with c->view filled; -1: no census (maps of an older build, another
 * reader's run, more entries than it holds): walk the mapped table. */
int xm_census_take(struct xm_handle *h, struct xm_census *c);
/* Gives it back: 0, or -1 when it was taken over while read (its
 * entries may be another run's: walk the mapped table). */
int xm_census_give(struct xm_census *c);
/* xm_snapshot_read without the flow table's figures (flows, flows_max,
 * sources: 0); xm_snapshot_port_use_read adds them from its own walk. */
int xm_snapshot_read_rules(struct xm_handle *h, struct xm_snapshot *s, char *err, size_t errlen);
int xm_snapshot_read_rules_opts(struct xm_handle *h, const struct xm_snapshot_opts *o,
				struct xm_snapshot *s, char *err, size_t errlen);
/* The kept mappings (snapshot.c). A mapping is used by `busy` reads
 * (walks in their threads): it is unmapped only when none is. */
struct xm_kept_map {
	__u32 map_id; /* 0: nothing mapped */
	unsigned busy;
};
struct xm_snapshot_keep {
	struct xm_kept_map ct_k, meta_k;
	struct xm_ct_table ct;
	const char *meta;
	size_t meta_stride, meta_len;
	struct xm_rule_info *rules; /* the last read's array, for the next */
	size_t rules_cap;
};
/* The id of map fd, or 0. */
__u32 xm_map_id(int fd);
/* The kept flow table of h (mapped now if it is not, or if the map is
 * another one), marked busy: xm_snapshot_keep_ct_put after use. NULL
 * when it cannot be kept (another map's mapping still busy): map one of
 * your own. -1 and err when the map cannot be mapped. */
int xm_snapshot_keep_ct_get(struct xm_snapshot_keep *k, struct xm_handle *h,
			    const struct xm_ct_table **t, char *err, size_t errlen);
void xm_snapshot_keep_ct_put(struct xm_snapshot_keep *k);
/* The sources of the flows, counted as a walk of the table meets their
 * ORIG entries (xm_ct_sources; the port use's walk does it on the way). */
struct xm_source_tally {
	struct {
		uint32_t addr;
		uint32_t flows; /* 0: free */
	} * tab;
	size_t cap, n;
	struct xm_ct_sources *out;
};
/* For up to max_sources sources (more are counted as flows only); out
 * zeroed; 0, or -1 out of memory */
int xm_source_tally_start(struct xm_source_tally *st, size_t max_sources,
			  struct xm_ct_sources *out);
/* xm_ct_sources for a table of up to max_sources sources (a census). */
int xm_ct_sources_of(const struct xm_ct_table *t, size_t max_sources, struct xm_ct_sources *out);
/* The flows and their sources (*out) and the table's size in flows
 * (*flows_max) from a census: 0, or -1 (walk the mapped table). */
int xm_census_sources(struct xm_handle *h, struct xm_ct_sources *out, unsigned long *flows_max);
/* The most sources table t's flows can have (fewer flows than a third
 * of its slots). */
static inline size_t xm_ct_max_sources(const struct xm_ct_table *t)
{
	return t->nslots / 3;
}
void xm_source_tally_add(struct xm_source_tally *st, uint32_t saddr);
void xm_source_tally_end(struct xm_source_tally *st);
/* 0, -EEXIST, -ENOSPC (no free slot within XM_CT_PROBES), -EAGAIN.
 * Unlike the data plane's insert it does not re-check its chain after
 * publishing (bpf/ct.h, xm_ct_settle): only for a table no sweeper is
 * cleaning up yet (attach --migrate fills the new table before its
 * program starts one). */
int xm_ct_insert(struct xm_ct_table *t, const struct xm_flow_key *k, const struct xm_flow *f);

/* ---- attach --migrate from layout 1 (migrate.c) ----
 * prepare sets the changed pins aside before the load, finish converts
 * into the new maps, abort puts the old pins back. */
struct xm_migration {
	char pin_dir[PATH_MAX];
	int flows_fd; /* the layout 1 flow map */
	int set_aside;
	__u32 old_config[16]; /* layout 1 config (52 bytes) */
};
int xm_migrate_prepare(const char *pin_dir, struct xm_migration *m, char *err, size_t errlen);
/* The conntrack-max the old maps were made for. */
unsigned xm_migrate_ct_max(const struct xm_migration *m);
int xm_migrate_finish(struct xm_migration *m, int config_fd, int flows_fd, uint64_t seed, FILE *log,
		      char *err, size_t errlen);
void xm_migrate_abort(struct xm_migration *m);

/* Counts of a pinned counters map of another size, carried into the new
 * one (counters_carry.c): take before the load (the pin goes), put after
 * it, abort if it failed (the old pin comes back). */
struct xm_counters_carry {
	int old_fd; /* -1: nothing to carry */
	int ncpus;
	__u32 n;
	struct xm_counter *vals;
	char path[4096];
};
int xm_counters_carry_take(struct xm_counters_carry *c, const char *path, __u32 entries, char *err,
			   size_t errlen);
void xm_counters_carry_put(struct xm_counters_carry *c, int new_fd);
void xm_counters_carry_abort(struct xm_counters_carry *c);

/* A pinned rule_meta of other flags (an older build's, without
 * BPF_F_MMAPABLE), carried into the new map (meta_carry.c) the same way. */
struct xm_meta_carry {
	int old_fd; /* -1: nothing to carry */
	__u32 n;
	struct xm_rule_meta *vals;
	char path[4096];
};
int xm_meta_carry_take(struct xm_meta_carry *c, const char *path, __u32 flags, __u32 entries,
		       char *err, size_t errlen);
int xm_meta_carry_put(struct xm_meta_carry *c, int new_fd, char *err, size_t errlen);
void xm_meta_carry_abort(struct xm_meta_carry *c);

/* `as` lists (addr_sets.c). One index space for both families: index
 * sid holds set[sid] (addr_sets) or, with v6[sid], set6[sid] (addr_sets6). */
struct xm_as_table {
	struct xm_addr_set set[XM_ADDR_SETS];
	struct xm_addr_set6 set6[XM_ADDR_SETS];
	unsigned char used[XM_ADDR_SETS];  /* a live rule uses it (read from the map) */
	unsigned char fresh[XM_ADDR_SETS]; /* new in this apply: to write */
	unsigned char v6[XM_ADDR_SETS];	   /* it holds an IPv6 list (set6) */
	int any;			   /* some rule of the new set has a list */
};
/* Every address of every list is the router's: of the masquerade's `out`
 * interface, or of any interface for a forward (IPv6 lists among the
 * IPv6 addresses). -2 with FILE:LINE:COL. */
int xm_as_check(const struct xm_ruleset *rs, const char *filename, char *err, size_t errlen);
/* set_of[i]: the index of item i's list (0: none), reusing the live
 * rules' indexes (h may be NULL: nothing live); a live rule's list is
 * read from addr_sets6 when its flows leave by IPv6 (xm_flags_leave_v6),
 * else from addr_sets. */
int xm_as_assign(struct xm_as_table *t, struct xm_handle *h, const struct xm_rule_meta *live,
		 const struct xm_ruleset *rs, __u16 *set_of, const char *filename, char *err,
		 size_t errlen);
/* Writes the new lists, each to its family's map, before any rule uses
 * them: 0, or -errno with *map the map's pin name. */
int xm_as_write(const struct xm_as_table *t, struct xm_handle *h, const char **map);
/* The IPv4 list under index sid, or NULL (none, or an IPv6 one). */
const struct xm_addr_set *xm_as_of(const struct xm_as_table *t, __u16 sid);
/* The IPv6 list under index sid, or NULL (none, or an IPv4 one). */
const struct xm_addr_set6 *xm_as_of6(const struct xm_as_table *t, __u16 sid);

/* `from` lists (allow_lists.c). used[id]: */
#define XM_ALLOW_USED  1 /* a live rule names it (its entries are in the trie) */
#define XM_ALLOW_FRESH 2 /* new in this apply: to write */
#define XM_ALLOW_KEPT  4 /* a rule of the new set names it */
struct xm_allow_table {
	struct xm_src_list *list;  /* [XM_ALLOW_LISTS]: each id's prefixes */
	unsigned char *used;	   /* [XM_ALLOW_LISTS]: XM_ALLOW_* */
	__u16 *by_hash;		   /* open addressing over the lists' contents */
	struct xm_allow_key *keys; /* every trie entry, as read */
	size_t n_keys;
	size_t prefixes; /* in the trie once the new lists are written */
};
/* list_of[i]: the id of rule i's `from` list (0: none), reusing the live
 * rules' ids (h may be NULL: nothing live). Free with xm_allow_free. */
int xm_allow_assign(struct xm_allow_table *t, struct xm_handle *h, const struct xm_rule_meta *live,
		    const struct xm_ruleset *rs, __u16 *list_of, const char *filename, char *err,
		    size_t errlen);
/* Before any rule names them: removes lists no live rule names, writes
 * the new ones. 0 or -errno. */
int xm_allow_write(const struct xm_allow_table *t, struct xm_handle *h);
/* After the switch and the other generation: removes the lists the new
 * rule set no longer names. */
void xm_allow_prune(const struct xm_allow_table *t, struct xm_handle *h);
void xm_allow_free(struct xm_allow_table *t);
/* The list under id, or NULL. */
const struct xm_src_list *xm_allow_of(const struct xm_allow_table *t, __u32 id);
/* Every list of the trie, by id (lists[XM_ALLOW_LISTS]), and its keys
 * when keys is not NULL. 0, or -1 out of memory. */
int xm_allow_lists_read(struct xm_handle *h, struct xm_src_list **lists, struct xm_allow_key **keys,
			size_t *n_keys);
void xm_allow_lists_free(struct xm_src_list *lists);

#endif
