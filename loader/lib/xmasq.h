/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* libxmasq: everything the CLI and xmasqd do to the data plane goes through
 * here (attach, apply, status, stats). Nothing else touches the maps. */
#ifndef XMASQ_H
#define XMASQ_H

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/limits.h>
#include "xmasq_abi.h"
#include "rules.h"

/* AUTO: an interface managed already keeps its mode; a new veth gets tc
 * (XDP on a veth costs its sender TSO and its receiver GRO: TCP bulk runs
 * at 0.6x of tc); anything else native XDP, or tc if its driver has none. */
enum xm_mode { XM_MODE_XDP = 0, XM_MODE_XDP_GENERIC, XM_MODE_TC, XM_MODE_AUTO };

enum xm_map_id {
	XM_MAP_CONFIG = 0,
	XM_MAP_IFACES,
	XM_MAP_TX_PORTS,
	XM_MAP_RULES,
	XM_MAP_RULE_META,
	XM_MAP_RULE_STATS,
	XM_MAP_IFACE_STATS,
	XM_MAP_COUNTERS,
	XM_MAP_FLOWS,
	XM_MAP_MASQ_RULES,
	XM_MAP_LOCAL_ADDRS,
	XM_MAP_FRAGS,
	XM_MAP_SWEEPER,
	XM_MAP_IFACE_SLOTS,
	XM_MAP_IFACE_INDEX,
	XM_MAP_SWEEP_GROUPS,
	XM_MAP_MAX,
};

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

/* Errors: functions returning int give 0 on success, -1 on a runtime
 * failure and -2 on a usage/rules error, with one line in err. */
int xm_open(struct xm_handle *h, const char *pin_dir, char *err, size_t errlen);
void xm_close(struct xm_handle *h);
/* Records an interface in both the ifindex hash and the slot array the
 * data plane reads per packet; forgets it from both. */
int xm_iface_store(struct xm_handle *h, const struct xm_iface *v);
/* The ifindexes of the managed interfaces, listed before anything changes
 * them: storing an entry while walking the hash can revisit keys without
 * end. Returns how many. */
int xm_iface_keys(struct xm_handle *h, __u32 keys[XM_MAX_IFACES]);
void xm_iface_forget(struct xm_handle *h, __u32 ifindex);
/* Deletes every key of map fd (keys of key_size <= 64 bytes) for which
 * doomed() is true; returns how many were deleted, -1 on a bad size. */
long xm_map_delete_if(int fd, size_t key_size, int (*doomed)(int fd, const void *key, void *arg),
		      void *arg);
/* Every rule_meta slot (XM_MAX_RULES of them) into all. */
int xm_read_rule_meta(struct xm_handle *h, struct xm_rule_meta *all);

/* Loads the program (reusing pinned maps when present), pins it, and
 * attaches XDP (unless mode is tc) and tc ingress on each interface.
 * Progress lines go to log. */
int xm_attach(const char *pin_dir, char *const *ifnames, int n, enum xm_mode mode, FILE *log,
	      char *err, size_t errlen);
struct xm_attach_opts {
	enum xm_mode mode;
	int fresh;	 /* drop pinned maps, start over */
	int migrate;	 /* convert maps of an older layout */
	unsigned ct_max; /* flows, when the table is created (0: default) */
};
int xm_attach_ex(const char *pin_dir, char *const *ifnames, int n, const struct xm_attach_opts *o,
		 FILE *log, char *err, size_t errlen);
/* attach --migrate from layout 1 (migrate.c): prepare sets the changed
 * pins aside before the load, finish converts into the new maps, abort
 * puts the old pins back. */
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

/* Detaches the given interfaces, or all of them and removes the pins. */
int xm_detach(const char *pin_dir, char *const *ifnames, int n, int all, FILE *log, char *err,
	      size_t errlen);

/* Re-checks which managed interfaces XDP_REDIRECT delivers into and
 * updates their XM_IFACE_XDP_TX_OK flag. */
int xm_refresh_tx_paths(struct xm_handle *h, FILE *log);
/* Whether XDP frames redirected into ifname are delivered: 1 yes, 0 no,
 * with a short reason. */
int xm_probe_xdp_tx(const char *ifname, int ifindex, int ingress_generic, char *why, size_t whylen);

struct xm_apply_result {
	unsigned added, removed, kept;
	unsigned changed;	   /* same match, new target (not in added/removed) */
	unsigned long flows_reset; /* flows dropped by reset_flows */
	unsigned ports;		   /* rule map entries now live */
	double usecs;		   /* time from first write to the switch */
};
/* Validates rs against the live router (interfaces attached, ...) and, if
 * check_only is 0, applies the difference. Nothing changes on error. */
int xm_apply(struct xm_handle *h, const struct xm_ruleset *rs, const char *filename, int check_only,
	     struct xm_apply_result *res, char *err, size_t errlen);

/* Program ids attached to an interface by xmasq, 0 when none. */
uint32_t xm_xdp_prog_id(int ifindex);
uint32_t xm_tc_prog_id(int ifindex);
/* Keeps libbpf/libxdp quiet but for warnings. */
void xm_quiet_libs(void);

struct xm_apply_opts {
	int check_only;	 /* validate only */
	int diff_only;	 /* compute and print the change, apply nothing */
	int reset_flows; /* drop the flows of removed and changed rules */
	FILE *diff_out;	 /* where "+ rule", "- rule", "~ old => new" go */
};
int xm_apply_ex(struct xm_handle *h, const struct xm_ruleset *rs, const char *filename,
		const struct xm_apply_opts *o, struct xm_apply_result *res, char *err,
		size_t errlen);

/* ---- reading state ---- */
struct xm_iface_info {
	struct xm_iface iface;
	char name[XM_IFNAMSIZ];
	uint32_t xdp_prog_id, tc_prog_id;
	const char *tx_path;	  /* "xdp" or "tc" */
	struct xm_iface_stats st; /* summed over CPUs */
};
struct xm_rule_info {
	uint32_t id;
	struct xm_rule_meta meta;
	struct xm_rule_stats st; /* summed over CPUs */
};
struct xm_snapshot {
	struct xm_config config;
	struct xm_counter counters[XM_C_MAX];
	struct xm_iface_info *ifaces;
	size_t n_ifaces;
	struct xm_rule_info *rules;
	size_t n_rules;
	unsigned long flows; /* flows (ORIG entries) in the table */
	unsigned long flows_max;
	unsigned long rule_ports; /* live rule map entries */
	struct xm_sweep sweep;	  /* the expiry sweeper's own accounting */
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
	uint32_t homes; /* nslots - (XM_CT_PROBES - 1) */
	uint64_t seed;	/* config.ct_seed, or the program's */
};
/* Maps the table of map_fd (read-only unless writable). -2: the map is
 * not this layout's table. */
int xm_ct_open(struct xm_ct_table *t, int map_fd, uint64_t seed, int writable, char *err,
	       size_t errlen);
void xm_ct_close(struct xm_ct_table *t);
/* The router's table: its seed from the config map. */
int xm_ct_open_handle(struct xm_ct_table *t, struct xm_handle *h, int writable, char *err,
		      size_t errlen);
int xm_ct_slot_live(const struct xm_ct_slot *s);
struct xm_ct_slot *xm_ct_lookup(const struct xm_ct_table *t, const struct xm_flow_key *k);
/* 0, -EEXIST, -ENOSPC (no free slot within XM_CT_PROBES), -EAGAIN.
 * Unlike the data plane's insert it does not re-check its chain after
 * publishing (bpf/ct.h, xm_ct_settle): only for a table no sweeper is
 * cleaning up yet (attach --migrate fills the new table before its
 * program starts one). */
int xm_ct_insert(struct xm_ct_table *t, const struct xm_flow_key *k, const struct xm_flow *f);
/* Removes a live entry: 0, or -1 if it was not live. */
int xm_ct_remove(struct xm_ct_slot *s);
/* Live entries (orig_only: ORIG entries, i.e. flows). */
size_t xm_ct_count(const struct xm_ct_table *t, int orig_only);
/* Removes each flow (both entries) whose ORIG entry doomed() picks;
 * returns how many flows. */
long xm_ct_remove_if(struct xm_ct_table *t, int (*doomed)(const struct xm_ct_slot *orig, void *arg),
		     void *arg);
/* Removes every entry; returns how many entries. */
long xm_ct_clear(struct xm_ct_table *t);

/* ---- conntrack ---- */
struct xm_conn {
	struct xm_flow_key orig_key;  /* client -> public address:port */
	struct xm_flow orig;	      /* rewrite to masquerade -> backend */
	struct xm_flow_key reply_key; /* backend -> masquerade address:port */
	struct xm_flow reply;
	int have_reply;
	uint32_t idle_s;    /* since the last packet either way */
	uint32_t expires_s; /* left before it expires, if idle on */
};
/* Every flow, by its ORIG entry; free *out. */
int xm_conntrack_read(struct xm_handle *h, struct xm_conn **out, size_t *n, char *err,
		      size_t errlen);
/* Removes every flow; *removed counts flows (pairs). */
int xm_conntrack_flush(struct xm_handle *h, unsigned long *removed, char *err, size_t errlen);
const char *xm_state_name(uint8_t proto, uint8_t state);

/* Canonical text of a live rule (same as xm_rule_format of the source). */
void xm_rule_meta_format(const struct xm_rule_meta *m, char *buf, size_t len);

/* ---- log.c: libbpf's and libxdp's own messages ---- */
/* 0 (the default): as xm_quiet_libs; 1: every message but debug ones to
 * stderr; 2: debug ones too. Above 0, xm_quiet_libs (which attach and
 * detach call) leaves the messages on. */
void xm_log_set_verbosity(int verbosity);
int xm_log_verbosity(void);

#endif
