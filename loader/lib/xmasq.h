/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* libxmasq: the API front ends (the xmasq CLI, tools, tests) use for
 * everything they do to the data plane (attach, apply, status, stats,
 * conntrack). Nothing else touches the maps. */
#ifndef XMASQ_H
#define XMASQ_H

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/limits.h>
#include "xmasq_abi.h"
#include "rules.h"

/* AUTO: an interface managed already keeps its mode; a new veth gets tc
 * (XDP on a veth costs its sender TSO and its receiver GRO: bulk TCP is
 * slower than with tc); anything else native XDP, or tc if its driver has none. */
enum xm_mode { XM_MODE_XDP = 0, XM_MODE_XDP_GENERIC, XM_MODE_TC, XM_MODE_AUTO };

/* Pin names, indexed by enum xm_map_id. */
extern const char *const xm_map_pin_names[XM_MAP_MAX];
/* Counter names and help, indexed by enum xm_counter_id. */
extern const char *const xm_counter_names[XM_C_MAX];
extern const char *const xm_counter_help[XM_C_MAX];

/* Open pinned maps of one router instance. */
struct xm_handle {
	char pin_dir[PATH_MAX];
	int fd[XM_MAP_MAX];
	int ncpus;
};

/* Errors, throughout the library (rules.h too): a function that takes an
 * err buffer returns 0 on success, -1 on a runtime failure or -2 on a
 * usage or rules error, with one line in err naming the object, the
 * reason and the fix. Functions without one (counts, lookups, predicates)
 * say what they return beside them. The library never prints: progress
 * goes to the caller's `log` stream (NULL: none), and only libbpf's own
 * warnings while the program loads (the verifier's log) reach stderr. */
int xm_open(struct xm_handle *h, const char *pin_dir, char *err, size_t errlen);
void xm_close(struct xm_handle *h);

/* Loads the program (reusing pinned maps when present), pins it, and
 * attaches XDP (unless mode is tc) and tc ingress on each interface.
 * Progress lines go to log. */
struct xm_attach_opts {
	enum xm_mode mode;
	int fresh;	  /* drop pinned maps, start over */
	int migrate;	  /* convert maps of an older layout */
	unsigned ct_max;  /* flows, when the table is created (0: default) */
	unsigned ct6_max; /* IPv6 flows, when flows6 is created (0: default) */
};
int xm_attach_ex(const char *pin_dir, char *const *ifnames, int n, const struct xm_attach_opts *o,
		 FILE *log, char *err, size_t errlen);

/* Detaches the given interfaces, or all of them and removes the pins. */
int xm_detach(const char *pin_dir, char *const *ifnames, int n, int all, FILE *log, char *err,
	      size_t errlen);

/* Re-checks which managed interfaces XDP_REDIRECT delivers into and
 * updates their XM_IFACE_XDP_TX_OK flag. */
void xm_refresh_tx_paths(struct xm_handle *h, FILE *log);

struct xm_apply_result {
	unsigned added, removed, kept;
	unsigned changed;	   /* same match, new target (not in added/removed) */
	unsigned long flows_reset; /* flows dropped by reset_flows */
	unsigned ports;		   /* rule map entries now live */
	double usecs;		   /* time from first write to the switch */
	double switched_at;	   /* CLOCK_MONOTONIC time of the switch, in us */
	int incremental;	   /* applied by xm_live_rules_apply, line by line */
	unsigned nics_updated;	   /* managed NICs whose entry changed (read afresh) */
};
/* Validates rs against the live router (interfaces attached, ...) and, if
 * check_only is 0, applies the difference. Nothing changes on error. */
int xm_apply(struct xm_handle *h, const struct xm_ruleset *rs, const char *filename, int check_only,
	     struct xm_apply_result *res, char *err, size_t errlen);

/* Keeps libbpf/libxdp quiet but for warnings. */
void xm_quiet_libs(void);

struct xm_apply_opts {
	int check_only;	 /* validate only */
	int diff_only;	 /* compute and print the change, apply nothing */
	int reset_flows; /* drop the flows of removed and changed rules */
	FILE *diff_out;	 /* where "+ rule", "- rule", "~ old => new" go */
	FILE *log;	 /* NICs read afresh that changed: one line each */
};
int xm_apply_ex(struct xm_handle *h, const struct xm_ruleset *rs, const char *filename,
		const struct xm_apply_opts *o, struct xm_apply_result *res, char *err,
		size_t errlen);

/* ---- a rule set kept between applies (xmasqd's line edits) ----
 * What the last apply made live, line by line (each line's rule id, the
 * ids in use, an index of the forwarded ports), so that an edit of a few
 * lines of a large file is parsed, checked and applied alone, with the
 * result, the diff and the errors of a full parse and apply of the edited
 * text. Lines holding a `set`, a masquerade or a forward with an `as` or
 * `from` list are left to the full path. */
struct xm_live_rules;

/* Lines old_line.. old_line + del - 1 of the old text replaced by the ins
 * lines from new_line of the new text, which start at byte new_off. Hunks
 * come in order and do not overlap. */
struct xm_text_hunk {
	unsigned old_line, del;
	unsigned new_line, ins;
	size_t new_off;
};

/* After a successful full apply of rs, parsed from a text of n_lines
 * lines: what is live now. NULL when it cannot be kept (out of memory, a
 * rule_meta map that cannot be mapped, the live rules not those of rs). */
struct xm_live_rules *xm_live_rules_build(struct xm_handle *h, const struct xm_ruleset *rs,
					  unsigned n_lines);
void xm_live_rules_free(struct xm_live_rules *lr);

/* Applies the edits (hunks) that made new_text of the text lr was built
 * for: 0 applied (res; the diff to o->diff_out; lr follows), -2 a rules
 * error in err as the full parse gives it, nothing changed, -1 a runtime
 * error (err; lr is stale: free it), or 1: not possible line by line (an
 * edited line the full path owns, an error whose report needs the whole
 * text, the live rules changed by someone else): parse and apply the
 * whole text instead, and free lr. */
int xm_live_rules_apply(struct xm_live_rules *lr, struct xm_handle *h, const char *new_text,
			size_t new_len, const struct xm_text_hunk *hunks, size_t n_hunks,
			const char *filename, const struct xm_apply_opts *o,
			struct xm_apply_result *res, char *err, size_t errlen);

/* ---- reading state ---- */
struct xm_iface_info {
	struct xm_iface iface;
	char name[XM_IFNAMSIZ]; /* "#IFINDEX" if gone with no name on record */
	int gone;		/* deleted (XM_IFACE_GONE, or its ifindex no longer exists) */
	uint32_t xdp_prog_id, tc_prog_id;
	const char *tx_path;	  /* "xdp" or "tc" */
	struct xm_iface_stats st; /* summed over CPUs */
	__be32 addr6[4];	  /* iface_addrs6: its IPv6 address, all zero: none */
	/* What the NIC says now where it differs from its entry (XM_NIC_*,
	 * 0: in step): changed since xmasq last read it, with no follower
	 * (xmasqd, xmasq follow) running to catch it. */
	unsigned nic_changed;
	struct xm_iface nic; /* the NIC as read (addr, mac, mtu), when nic_changed */
};
#define XM_NIC_ADDR 1u
#define XM_NIC_MAC  2u
#define XM_NIC_MTU  4u
struct xm_rule_info {
	uint32_t id;
	struct xm_rule_meta meta;
	struct xm_rule_stats st;      /* summed over CPUs */
	struct xm_addr_set as;	      /* its IPv4 `as` list (n 0: none) */
	struct xm_addr_set6 as6;      /* its IPv6 `as` list, when its flows leave by IPv6
					 (xm_flags_leave_v6; n 0: none) */
	struct xm_src_list from;      /* its `from` list (n 0: none; pfx freed with the snapshot) */
	struct xm_rule_addrs6 addrs6; /* XM_RULE_V6 in meta.flags: its addresses (rule_addrs6) */
	uint64_t refused;	      /* new flows its `from` list refused, summed over CPUs */
};
/* The sources (ORIG directions' source addresses) of the flows: how
 * many, and the one with the most flows (xm_ct_sources); and the flows
 * (ORIG entries), counted on the same walk of the table. */
struct xm_ct_sources {
	unsigned long flows;
	unsigned long sources;
	uint32_t busiest; /* network order; 0 without flows */
	unsigned long busiest_flows;
};
struct xm_rule_window; /* snapshot.c */
struct xm_snapshot {
	struct xm_config config;
	struct xm_counter counters[XM_C_MAX];
	struct xm_iface_info *ifaces;
	size_t n_ifaces;
	struct xm_rule_info *rules;
	size_t n_rules;
	size_t rules_cap;    /* entries rules has room for */
	unsigned long flows; /* flows (ORIG entries) in the table */
	unsigned long flows_max;
	unsigned long flows6;	      /* IPv6 flows (flows6, ORIG entries) */
	unsigned long flows6_max;     /* 0: no flows6 (attached by an older build) */
	struct xm_ct_sources sources; /* of the flows in the table */
	unsigned long rule_ports;     /* live rule map entries */
	struct xm_sweep sweep;	      /* the expiry sweeper's own accounting */
	struct xm_rule_window *win;   /* XM_SNAP_RULE_WINDOW: rules holds a window */
};
/* Sums one per-CPU array element made of __u64 fields (size bytes) over
 * ncpus CPUs into out. 0, or -1 (out zeroed). */
int xm_read_percpu_u64s(int fd, __u32 key, int ncpus, void *out, size_t size);
int xm_snapshot_read(struct xm_handle *h, struct xm_snapshot *s, char *err, size_t errlen);
void xm_snapshot_free(struct xm_snapshot *s);

/* ---- the flow table (bpf/ct.h), mapped into memory ---- */
struct xm_ct_table {
	struct xm_ct_slot *slots;
	size_t nslots;
	size_t map_len;
	uint32_t homes;	       /* nslots - (XM_CT_PROBES - 1) */
	uint64_t seed;	       /* config.ct_seed, or the program's */
	int64_t *source_flows; /* the map source_flows, mapped when writable (or NULL):
				  a flow removed here is taken off its source's count */
	size_t source_flows_len;
};
/* Maps the table of map_fd (read-only unless writable). -2: the map is
 * not this layout's table. */
int xm_ct_open(struct xm_ct_table *t, int map_fd, uint64_t seed, int writable, char *err,
	       size_t errlen);
void xm_ct_close(struct xm_ct_table *t);
struct xm_ct_slot *xm_ct_lookup(const struct xm_ct_table *t, const struct xm_flow_key *k);
/* Live entries (orig_only: ORIG entries, i.e. flows). */
size_t xm_ct_count(const struct xm_ct_table *t, int orig_only);
/* Removes each flow (both entries) whose ORIG entry doomed() picks;
 * returns how many flows. */
long xm_ct_remove_if(struct xm_ct_table *t, int (*doomed)(const struct xm_ct_slot *orig, void *arg),
		     void *arg);
/* Removes every entry; returns how many entries. */
long xm_ct_clear(struct xm_ct_table *t);
/* A 6->4 flow's stub (xmasq_abi.h): a REPLY entry the IPv6 side owns,
 * never an IPv4 flow's. */
static inline int xm_ct_is_stub(const struct xm_flow *f)
{
	return f->out_slot == XM_SLOT_IPV6_FLOW && f->in_slot == XM_SLOT_IPV6_FLOW;
}
/* Removes the stub under k (its IPv4 reply tuple), if there is one: 0,
 * or -1 (none, or the entry there is no stub). */
int xm_ct_remove_stub(struct xm_ct_table *t, const struct xm_flow_key *k);
/* Counts the table's sources into out. 0, or -1 out of memory. */
int xm_ct_sources(const struct xm_ct_table *t, struct xm_ct_sources *out);

/* ---- conntrack ---- */
struct xm_conn {
	struct xm_flow_key orig_key;  /* client -> public address:port */
	struct xm_flow orig;	      /* rewrite to masquerade -> backend */
	struct xm_flow_key reply_key; /* backend -> masquerade address:port */
	struct xm_flow reply;
	int have_reply;
	uint32_t idle_s;    /* since the last packet either way */
	uint32_t expires_s; /* left before it expires, if idle on */
	/* An IPv6 flow (flows6): its entries are these; of the IPv4 members
	 * only orig_key.proto, orig.state and orig.rule_id are set. */
	int v6;
	struct xm_flow6_key orig6_key, reply6_key;
	struct xm_flow6 orig6, reply6;
};
/* "2001:db8::1"; "-" when all zero. */
const char *xm_ip6_str(const __be32 a[4], char *buf, size_t len);
/* Every flow, by its ORIG entry, IPv4 ones (flows) then IPv6 ones
 * (flows6); free *out. */
int xm_conntrack_read(struct xm_handle *h, struct xm_conn **out, size_t *n, char *err,
		      size_t errlen);
/* Removes every flow, IPv4 and IPv6; *removed counts flows (pairs). */
int xm_conntrack_flush(struct xm_handle *h, unsigned long *removed, char *err, size_t errlen);
const char *xm_state_name(uint8_t proto, uint8_t state);

/* ---- masquerade ports in use (portuse.c) ----
 * Flows that compete for the same masquerade ports form a group: one
 * protocol, masquerade address and peer (struct xm_port_peer: the backend,
 * or a masqueraded host's destination). A new flow keeps its client's port
 * where it can, else takes a random one of the group's capacity: the
 * ports of `set port-range` (UDP: minus the router's ephemeral range).
 * share = in_range / capacity, at most 1; kept client ports outside the
 * range count in in_use only, they take nothing from the capacity. With
 * 32 random probes a new flow starts to be refused above about 90 %. */
#define XM_PORT_USE_BUSIEST 8	 /* groups a read keeps, busiest first */
#define XM_PORT_USE_WARN    0.80 /* share above which front ends warn */

struct xm_port_group {
	struct xm_port_peer peer;
	uint32_t in_use;   /* flows (reply entries), keep-source ones aside */
	uint32_t in_range; /* ... on a port of the capacity */
	uint32_t capacity;
	double share; /* in_range / capacity (1 when capacity is 0) */
};
struct xm_port_exhaustion {
	struct xm_port_peer peer;
	uint64_t drops; /* new flows refused for want of a port */
	uint32_t ago_s; /* since the last one */
};
struct xm_port_use {
	unsigned long groups;	 /* groups with at least one flow */
	unsigned long over_warn; /* ... with a share above XM_PORT_USE_WARN */
	size_t n_busiest;
	struct xm_port_group busiest[XM_PORT_USE_BUSIEST]; /* by share, then in_use */
	struct xm_port_exhaustion *exhausted; /* every peer in port_exhausted, most drops first */
	size_t n_exhausted;
};
/* Ports a new flow of proto may get at a peer (its group's capacity). */
uint32_t xm_port_capacity(const struct xm_config *cfg, uint8_t proto);
/* Groups and the busiest of them from a mapped flow table (reads every
 * slot: 56 MB at the default conntrack-max, about 10 ms), or from a
 * census of it. */
int xm_port_use_scan(const struct xm_ct_table *t, const struct xm_config *cfg,
		     struct xm_port_use *pu, char *err, size_t errlen);
/* The router's groups and its exhausted peers; free with xm_port_use_free. */
int xm_port_use_read(struct xm_handle *h, struct xm_port_use *pu, char *err, size_t errlen);
/* xm_snapshot_read and xm_port_use_read in one, walking the flow table
 * once for both (its flows, their sources, the ports in use), in a thread
 * of its own while the rules are read: a walk is 10-25 ms at the default
 * size. 0, or -1 with nothing to free. */
int xm_snapshot_port_use_read(struct xm_handle *h, struct xm_snapshot *s, struct xm_port_use *pu,
			      char *err, size_t errlen);
/* What a reader that reads again and again (xmasqd) keeps from one read
 * to the next: rule_meta mapped, the flow table too when there is no
 * census of it (census.c), and the rules' array
 * (xm_snapshot_free_keep). On a VM whose pages
 * cost 5-20 us each the first time they are touched after being mapped
 * (this project's test machine), mapping the default 58 MB flow table
 * afresh and walking it took 50-100 ms, walking it mapped already 3-10.
 * The mappings are the kernel's memory shared with the data plane, not
 * a copy, but they count in the reader's resident size (RssFile:
 * 58 + 7 MB at the default sizes): xm_snapshot_keep_drop gives them back
 * (xmasqd: 5 s without a request). Each read checks the maps' ids: a map
 * replaced (attach --migrate) is mapped afresh. One thread only. */
struct xm_snapshot_keep;
struct xm_snapshot_keep *xm_snapshot_keep_new(void);
/* Unmaps what no read in progress uses (the rest at the next drop). */
void xm_snapshot_keep_drop(struct xm_snapshot_keep *k);
void xm_snapshot_keep_free(struct xm_snapshot_keep *k);
/* xm_snapshot_free, the rules' array kept in k for the next read (filling
 * 19 MB of fresh pages at 100,000 rules cost 20-40 ms on that VM). */
void xm_snapshot_free_keep(struct xm_snapshot_keep *k, struct xm_snapshot *s);

/* XM_SNAP_RULE_COUNTS: the rules counted only (n_rules, rule_ports; no
 * s->rules): what status shows, without reading 100,000 rules' counters. */
#define XM_SNAP_RULE_COUNTS 1u
/* XM_SNAP_NO_FLOWS (xm_snapshot_read_opts): the flow table is not walked
 * (flows, flows_max, sources 0): what /healthz needs is the interfaces. */
#define XM_SNAP_NO_FLOWS    2u
/* XM_SNAP_RULE_WINDOW: the rules are counted (n_rules, rule_ports) and
 * read XM_RULE_WINDOW at a time when asked (xm_snapshot_rules_at), into
 * an array used again: /metrics' way. An array of every rule is 19 MB at
 * 100,000 rules, and on a VM whose fresh pages are dear (a hypervisor
 * that takes freed memory back) zeroing it was most of a scrape that
 * came after 5 s idle: 120 ms of its CPU. */
#define XM_SNAP_RULE_WINDOW 4u
#define XM_RULE_WINDOW	    1024
struct xm_snapshot_opts {
	struct xm_snapshot_keep *keep; /* or NULL: map per read */
	unsigned flags;		       /* XM_SNAP_* */
};
int xm_snapshot_read_opts(struct xm_handle *h, const struct xm_snapshot_opts *o,
			  struct xm_snapshot *s, char *err, size_t errlen);
/* xm_snapshot_port_use_read in two steps: start reads the rules and
 * starts the flow table's walk (in a thread); finish waits for it and
 * fills s's flow fields (flows, flows_max, sources) and pu. In between,
 * s's rules may be used (/metrics sends its rule series meanwhile) and h
 * must stay open. start: 0 (then finish, once), or -1 (err; nothing to
 * finish or free). finish: 0, or -1 (err; s and pu freed). */
struct xm_snapshot_walk;
int xm_snapshot_start(struct xm_handle *h, const struct xm_snapshot_opts *o, struct xm_snapshot *s,
		      struct xm_port_use *pu, struct xm_snapshot_walk **w, char *err,
		      size_t errlen);
int xm_snapshot_finish(struct xm_snapshot_walk *w, char *err, size_t errlen);
void xm_port_use_free(struct xm_port_use *pu);
/* The rules [from, from + *n) of s, in id order (*n at most
 * XM_RULE_WINDOW): with XM_SNAP_RULE_WINDOW read now into s's window
 * (what: XM_RULES_AT_*, what the caller reads of them; windows asked from
 * 0 up, in order: a cursor follows), else s->rules + from. *n becomes how
 * many there are: fewer when rules went meanwhile. NULL without memory. */
#define XM_RULES_AT_TEXT  1u /* as, addrs6, from: the rule's text */
#define XM_RULES_AT_STATS 2u /* st (alone: id and st only) */
#define XM_RULES_AT_FROM  4u /* from.n and refused */
const struct xm_rule_info *xm_snapshot_rules_at(struct xm_snapshot *s, size_t from, size_t *n,
						unsigned what);

/* Canonical text of a live rule (same as xm_rule_format of the source);
 * a6: an IPv6 forward's addresses (xm_rule_info.addrs6; NULL or unused
 * for IPv4), as and as6: its `as` list (xm_rule_info.as, .as6: as6 is
 * read for a rule whose flows leave by IPv6, xm_flags_leave_v6, as for
 * any other), from: its `from` list (xm_rule_info.from), or NULL. buf:
 * XM_RULE_TEXT_MAX holds any rule. */
void xm_rule_meta_format(const struct xm_rule_meta *m, const struct xm_rule_addrs6 *a6,
			 const struct xm_addr_set *as, const struct xm_addr_set6 *as6,
			 const struct xm_src_list *from, char *buf, size_t len);

/* ---- render.c: status, stats and conntrack as tables for people and JSON
 * for scripts; render_prom.c: Prometheus. The CLI and xmasqd both print
 * through these, into the stream they choose (open_memstream for a
 * response body), so their outputs are the same bytes. ---- */
/* pu: the ports in use (xm_port_use_read), NULL to leave them out */
void xm_print_status(FILE *o, const struct xm_handle *h, const struct xm_snapshot *s,
		     const struct xm_port_use *pu, int json);
void xm_print_stats(FILE *o, const struct xm_snapshot *s, const struct xm_port_use *pu, int json);
/* The ports in use as lines of text (table: every busiest group, else the
 * busiest only) with a WARNING per group above XM_PORT_USE_WARN and the
 * peers that ran out; as the JSON member "ports":{...}. */
void xm_print_port_use_text(FILE *o, const struct xm_port_use *pu, int table);
void xm_print_port_use_json(FILE *o, const struct xm_port_use *pu);
void xm_print_conntrack(FILE *o, const struct xm_conn *c, size_t n, int json);
/* "xdp", "xdp-generic" or "tc": how xmasq is attached to the interface */
const char *xm_iface_mode_name(const struct xm_iface *i);

/* render_prom.c: Prometheus text exposition format (version 0.0.4) */
void xm_print_prometheus(FILE *o, const struct xm_snapshot *s, const struct xm_port_use *pu);
/* The same text into *buf (malloc'd, *len bytes). 0, or -1 without memory. */
int xm_render_prometheus(const struct xm_snapshot *s, const struct xm_port_use *pu, char **buf,
			 size_t *len);
/* The same text a part at a time (s and pu must outlive the stream):
 * next points *data at the next part (valid until the next call) and
 * returns its length, 0 at the end, -1 without memory. */
struct xm_prom_stream;
struct xm_prom_stream *xm_prom_stream_new(struct xm_snapshot *s, const struct xm_port_use *pu);
ssize_t xm_prom_stream_next(struct xm_prom_stream *g, const char **data);
/* wait(arg) is called once, before the families after the rules' (the
 * flow table's figures: xm_snapshot_finish), so that the rules' series
 * go out while the walk still runs; nonzero: next returns -1. */
void xm_prom_stream_wait(struct xm_prom_stream *g, int (*wait)(void *arg), void *arg);
void xm_prom_stream_free(struct xm_prom_stream *g);

/* ---- NICs: following their changes (nic.c, nic_follow.c) ----
 * A managed NIC's entry holds what the data plane uses of it: primary
 * IPv4 address (the masquerade source), MAC, MTU, ifindex. attach, apply
 * and the follower read the NICs afresh and bring the entries up to date.
 * A managed NIC that is deleted keeps its entry, flagged XM_IFACE_GONE,
 * and its slot: a NIC created again under the same name is attached again
 * in the same mode and its flows go on. */
enum xm_follow_kind {
	XM_FOLLOW_ADDRESS, /* new primary address: maps updated */
	XM_FOLLOW_MAC,
	XM_FOLLOW_MTU,
	XM_FOLLOW_DOWN,	      /* link down (not up and running) */
	XM_FOLLOW_UP,	      /* ... up again */
	XM_FOLLOW_GONE,	      /* deleted */
	XM_FOLLOW_BACK,	      /* created again under its name: attached again */
	XM_FOLLOW_RESYNC,     /* netlink overran: every NIC read afresh */
	XM_FOLLOW_NO_ADDRESS, /* lost its IPv4 address: the old one stays until a new one */
	XM_FOLLOW_ERROR,      /* a change could not be applied: see detail */
	XM_FOLLOW_ADDRESS6,   /* new IPv6 address (or none now): iface_addrs6 updated */
	XM_FOLLOW_KINDS
};
struct xm_follow_event {
	enum xm_follow_kind kind;
	char name[XM_IFNAMSIZ];
	uint32_t ifindex;
	uint32_t old_ifindex; /* BACK: the deleted NIC's */
	__be32 old_addr, new_addr;
	uint8_t old_mac[6], new_mac[6];
	uint16_t old_mtu, new_mtu;
	unsigned long flows_dropped;	   /* ADDRESS(6): flows masqueraded with the old address */
	__be32 old_addr6[4], new_addr6[4]; /* ADDRESS6; all zero: none */
	char detail[192];		   /* ERROR: the reason; BACK: the mode */
};
/* Its kind's name ("address", "mac", ...). */
const char *xm_follow_kind_name(enum xm_follow_kind k);
/* One line: "lan: address 198.18.8.1 -> 198.18.8.7 (maps updated, 2 flows dropped)". */
void xm_follow_event_format(const struct xm_follow_event *ev, char *buf, size_t len);

/* Reads every managed NIC afresh and updates the entries that differ;
 * NICs that vanished are marked gone (their programs went with them).
 * Writes up to max events, *n the number written (more are counted in
 * the counters only). 0, or -1. attach and apply call it. */
int xm_nics_refresh(struct xm_handle *h, struct xm_follow_event *ev, size_t max, size_t *n,
		    char *err, size_t errlen);

/* The follower: an rtnetlink socket (RTMGRP_LINK, RTMGRP_IPV{4,6}_IFADDR).
 * Put xm_follow_fd in a poll() set; when it is readable, call
 * xm_follow_process, which reads every pending message, coalesces them
 * (one refresh per NIC however many messages) and updates the maps. The
 * handle must stay open while the follower is. */
struct xm_follow {
	void *nl; /* struct mnl_socket */
	struct xm_handle *h;
	struct {
		uint32_t ifindex;
		int running;
	} link[XM_MAX_IFACES]; /* last known link state of managed NICs (0: free) */
};
int xm_follow_open(struct xm_follow *f, struct xm_handle *h, char *err, size_t errlen);
int xm_follow_fd(const struct xm_follow *f);
/* Returns the number of events written to ev (at most max), or -1. */
int xm_follow_process(struct xm_follow *f, struct xm_follow_event *ev, size_t max, char *err,
		      size_t errlen);
/* A full pass, as after an overrun: also right after xm_follow_open, to
 * catch what changed before it. Returns events written, or -1. */
int xm_follow_resync(struct xm_follow *f, struct xm_follow_event *ev, size_t max, char *err,
		     size_t errlen);
/* Whether the router's pinned maps are still the handle's: 0 yes; 1 no,
 * `attach --fresh` made new ones (close and open the handle again, then
 * xm_follow_resync); -1 none are pinned any more (`detach --all`). Cheap:
 * call it when poll() times out (every second or so). */
int xm_follow_stale(const struct xm_follow *f);
void xm_follow_close(struct xm_follow *f);

/* ---- log.c: libbpf's and libxdp's own messages ---- */
/* 0 (the default): as xm_quiet_libs; 1: every message but debug ones to
 * stderr; 2: debug ones too. Above 0, xm_quiet_libs (which attach and
 * detach call) leaves the messages on. */
void xm_log_set_verbosity(int verbosity);
int xm_log_verbosity(void);

#endif
