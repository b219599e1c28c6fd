/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by xmasqd's files only (loader/xmasqd/). xmasqd is a front end on
 * libxmasq like the CLI: it never touches the maps itself.
 *
 * One thread: the main loop (main.c) polls the HTTPS and health daemons
 * (libmicrohttpd in external epoll mode), a signalfd and any extra sources
 * (the NIC follower's netlink socket), so a request, a SIGHUP and a NIC
 * event never run at the same time and nothing needs a lock. */
#ifndef XMASQD_H
#define XMASQD_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include "xmasq.h"

#define XMD_EXIT_USAGE 2
/* A request body: the rules text (at most XM_RULES_FILE_MAX) JSON-escaped. */
#define XMD_BODY_MAX   (XM_RULES_FILE_MAX + (1u << 20))
#define XMD_SHA256_HEX 65 /* 64 hex digits and the NUL */

struct xmd_options {
	const char *pin_dir;
	const char *rules;
	const char *network, *site; /* --network FILE --site NAME: derived rules too */
	const char *listen;
	const char *cert, *key;
	const char *client_ca, *allow_keys;
	const char *origin;
	const char *audit_log;
	const char *health;
	const char *etcd; /* the fleet: etcd URLs, or NULL */
	const char *router_id, *ruleset, *cache;
	char **ifaces;
	int n_ifaces;
};

/* What /healthz reports: the interfaces the daemon manages (those named
 * on its command line and those attached when it started) and how the
 * last apply went. */
struct xmd_state {
	struct xmd_options opt;
	char origin[512];	    /* --origin (without :443), or https://LISTEN */
	char origin_host[512];	    /* its HOST:PORT: the Host header wanted */
	char origin_host_bare[512]; /* HOST alone when the port is 443, else "" */
	char listen_host[512];	    /* LISTEN as a Host header may give it */
	char **managed;		    /* interface names */
	size_t n_managed;
	int last_apply_ok;
	char last_apply_err[1024];
	FILE *audit; /* --audit-log, or NULL */
	int served;  /* a request completed since the last tick */
};
extern struct xmd_state xmd;

/* ---- addr.c ---- */
/* "ADDR:PORT" ("[V6]:PORT" for IPv6) into *ss; -1 with err filled. */
int xmd_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
		       size_t errlen);
/* "ADDR:PORT" of a socket address, IPv6 in brackets. */
void xmd_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len);

/* ---- tls.c: the handshake refuses clients the operator does not trust ---- */
/* Loads --cert/--key, --client-ca (its PEM stays in *ca_pem for
 * MHD_OPTION_HTTPS_MEM_TRUST) and --allow-keys. -1 with err filled. */
int xmd_tls_init(const struct xmd_options *o, char **ca_pem, char *err, size_t errlen);
/* For MHD_OPTION_HTTPS_CERT_CALLBACK: gives the server certificate, and
 * makes the session require a client one and verify it on receipt. */
int xmd_tls_retrieve_cert(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
			  const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
			  gnutls_pcert_st **pcert, unsigned int *pcert_length,
			  gnutls_privkey_t *pkey);
/* The client's identity of a verified session: its certificate's subject
 * and the SHA-256 of its SubjectPublicKeyInfo (what --allow-keys lists). */
struct xmd_client {
	char subject[512];
	char key_sha256[XMD_SHA256_HEX];
	char from[64]; /* ADDR:PORT */
};
void xmd_tls_client(gnutls_session_t session, struct xmd_client *c);
void xmd_sha256_hex(const void *data, size_t len, char out[XMD_SHA256_HEX]);

/* ---- store.c: the rules file, never lost ---- */
/* Reads FILE whole (at most XM_RULES_FILE_MAX); free *text. -1 with err. */
int xmd_rules_read(const char *path, char **text, size_t *len, char *err, size_t errlen);
/* Writes text to FILE.tmp beside FILE (a full or read-only disk fails
 * here): nothing else changes. -1 with err naming the file and the
 * reason (*errnum: errno). */
int xmd_rules_stage(const char *path, const char *text, size_t len, int *errnum, char *err,
		    size_t errlen);
/* fsyncs FILE.tmp, keeps FILE as FILE.prev, renames FILE.tmp over FILE,
 * fsyncs the dir. -1: not saved (FILE.tmp removed, FILE as it was), -2:
 * saved but the directory's fsync failed; err says which. */
int xmd_rules_commit(const char *path, const char *text, size_t len, char *err, size_t errlen);
/* Creates FILE.tmp with len bytes reserved (fallocate: a full or read-only
 * disk fails here) for xmd_rules_commit to write text into. 0, 1 when the
 * file system cannot reserve (then xmd_rules_stage), or -1 as stage. */
int xmd_rules_reserve(const char *path, size_t len, int *errnum, char *err, size_t errlen);
void xmd_rules_unstage(const char *path);

/* ---- rules_apply.c: the one way rules go live (startup, SIGHUP, PUT) ---- */
struct xmd_apply {
	int rc;		/* 0, -1 runtime, -2 rules error */
	char err[1024]; /* when rc != 0 */
	struct xm_apply_result res;
	char *diff; /* "+ rule\n- rule\n~ old => new\n" (malloc'd) */
	size_t diff_len;
};
/* Parses text; errors name `filename` (FILE:LINE:COL). 0, or a->rc. */
int xmd_parse(const char *text, size_t len, const char *filename, struct xm_ruleset *rs,
	      struct xmd_apply *a);
/* Validates rs against the router and, unless how has XMD_APPLY_CHECK,
 * applies the difference (a->diff lists it) and probes each NIC's XDP
 * transmit path again, as `xmasq apply` does (XMD_APPLY_PROBE_LATER: the
 * caller calls xmd_probe_tx_paths once it has said the rules are live;
 * on veths the probe takes tens of ms). Nothing changes on error. 0, or
 * a->rc. */
#define XMD_APPLY_CHECK	      1
#define XMD_APPLY_PROBE_LATER 2
int xmd_apply_ruleset(const struct xm_ruleset *rs, const char *filename, int how,
		      struct xmd_apply *a);
void xmd_probe_tx_paths(void);
void xmd_apply_free(struct xmd_apply *a);
/* Applies --rules FILE again (SIGHUP); logs to stderr; records the result. */
void xmd_reapply_file(const char *why);

/* ---- http.c: the HTTPS daemon: checks every request, then routes it ---- */
struct MHD_Daemon;
struct MHD_Connection;
struct MHD_Daemon *xmd_https_start(const char *ca_pem, char *err, size_t errlen);

/* One request while it is read and answered. */
struct xmd_req {
	struct MHD_Connection *conn;
	const char *url, *method;
	char *body; /* the upload, NUL-terminated */
	size_t len, cap;
	int too_big; /* more than XMD_BODY_MAX: 413 at the end */
	int started; /* the first call (headers) is done */
	struct xmd_client client;
	void *audit;	     /* json_t: the audit event of a change, or NULL */
	char extra_name[32]; /* one more response header (Retry-After, X-Flows) */
	char extra_value[64];
};
/* Queue a response (body malloc'd, taken over; NULL for none) with the
 * headers every response carries. Writes q->audit if set, with status. */
int xmd_reply(struct xmd_req *q, unsigned status, const char *type, char *body, size_t len);
/* The same for a response made by the caller (taken over). */
struct MHD_Response;
int xmd_reply_response(struct xmd_req *q, unsigned status, const char *type,
		       struct MHD_Response *r);
int xmd_reply_json(struct xmd_req *q, unsigned status, void *json); /* json_t, consumed */
int xmd_reply_error(struct xmd_req *q, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- api.c: the endpoints ---- */
int xmd_api_status(struct xmd_req *q);
int xmd_api_stats(struct xmd_req *q);
int xmd_api_conntrack(struct xmd_req *q);
int xmd_api_metrics(struct xmd_req *q);
int xmd_api_rules_get(struct xmd_req *q);
int xmd_api_rules_put(struct xmd_req *q);
int xmd_api_rules_patch(struct xmd_req *q);
int xmd_api_rules_check(struct xmd_req *q);

/* ---- rules_edit.c: PATCH's line edits ---- */
/* Edits of a text, ready to go live before the whole new text is made:
 * a change of one line of 100,000 copies that line, not 3.5 MB, before
 * it is live (the whole text is for the save, after). */
struct xmd_edit {
	char *ins; /* the inserted lines, each with its newline */
	size_t ins_len;
	struct xm_text_hunk *hunks; /* their new_off: into ins */
	size_t n_hunks;
	size_t len; /* the whole new text's */
};
/* The edits (a json_t array, as PATCH /api/rules takes) of the text cur,
 * checked, into ed; 0, or -1 with why in err. cur_starts: cur's line
 * starts (xmd_line_starts), or NULL to find them. */
int xmd_rules_edit(const char *cur, size_t cur_len, const uint32_t *cur_starts, size_t cur_lines,
		   void *edits, struct xmd_edit *ed, char *err, size_t errlen);
/* The whole new text (ed->len bytes and a NUL, from xmd_cache_room), or
 * NULL when out of memory. */
char *xmd_edit_whole(const char *cur, size_t cur_len, const uint32_t *cur_starts, size_t cur_lines,
		     const struct xmd_edit *ed);
void xmd_edit_free(struct xmd_edit *ed);
/* Where each line of text starts (*n lines; n + 1 offsets, the last is
 * the end), malloc'd; NULL when out of memory. */
uint32_t *xmd_line_starts(const char *text, size_t len, size_t *n);

/* The one hunk that makes new of old: the whole lines both begin with
 * and end with kept, those between replaced (a PUT as an edit). */
void xmd_text_hunk(const char *old, size_t old_len, const char *new, size_t new_len,
		   struct xm_text_hunk *hk);

/* ---- rules_cache.c: the rules file's text and version, and the rules
 * live line by line, kept between requests ---- */
/* The file's text and version (read again only when the file changed);
 * the pointers stay valid until the next xmd_cache_* call. -1 with err. */
int xmd_cache_get(const char **text, size_t *len, const char **version, char *err, size_t errlen);
/* The text just saved (taken over, malloc'd) and its version; keep_live:
 * the rules live line by line were brought to it (an edit applied). */
void xmd_cache_put(char *text, size_t len, const char *version, int keep_live);
/* size bytes of malloc'd room for a new text: the text before the last
 * change when it is large enough (its pages already touched), else new.
 * Given to xmd_cache_put or freed. */
char *xmd_cache_room(size_t size);
/* No request for a while: the room kept for the next text is given back. */
void xmd_cache_idle(void);
/* No request for a while: the maps kept mapped for status, stats and
 * /metrics are let go (api.c). */
void xmd_api_idle(void);
/* After a full apply of rs, parsed from the cached text: keep the rules
 * live line by line (libxmasq's xm_live_rules) for the next edit. */
void xmd_cache_live(const struct xm_ruleset *rs);
struct xm_live_rules *xmd_cache_lr(void);
/* The cached text's line starts (xmd_line_starts), or NULL. */
const uint32_t *xmd_cache_line_starts(size_t *n);
void xmd_cache_drop_live(void);

/* ---- health.c: plain HTTP GET /healthz for load balancers ---- */
struct MHD_Daemon *xmd_health_start(char *err, size_t errlen);
/* 1 healthy, 0 not (reason in buf). */
int xmd_health_check(char *reason, size_t len);

/* ---- audit.c ---- */
int xmd_audit_open(const char *path, char *err, size_t errlen);
/* Appends one JSON line: who, from where, what, and the result. ev is a
 * jansson object (consumed). */
void xmd_audit_write(void *ev);
/* Audits an apply not made by a request (a file read at start or on
 * SIGHUP, a fleet revision): who, from, what, the new version, and the
 * result with its error and diff. */
void xmd_audit_apply(const char *who, const char *from, const char *what, const char *after,
		     const struct xmd_apply *a);

/* ---- ratelimit.c: changes per client key ---- */
/* 1 if the client with this key may make a change now; else 0 and
 * *retry_s says when it may. */
int xmd_rate_allow(const char *key_sha256, unsigned *retry_s);

/* ---- www.c: the page, embedded at build time (build/www/www_data.c) ---- */
struct xmd_asset {
	const char *path; /* "/index.html" */
	const unsigned char *data;
	size_t len;
};
extern const struct xmd_asset xmd_assets[]; /* ends with path NULL */
const struct xmd_asset *xmd_asset_find(const char *url);
const char *xmd_content_type(const char *path);

/* ---- main.c: the poll loop's extra sources ----
 * The NIC follower (xm_follow_*, libxmasq) registers its netlink socket
 * here: ready() runs on the main thread when fd is readable. */
struct xmd_source {
	int fd;
	void (*ready)(void *arg);
	void *arg;
};
int xmd_add_source(int fd, void (*ready)(void *arg), void *arg);
/* tick() runs on the main thread about once a second. */
int xmd_add_tick(void (*tick)(void *arg), void *arg);

/* ---- follow.c: the NIC follower (libxmasq's) in the loop ---- */
/* Opens it on the pin dir, adds its socket and tick, and catches up with
 * what changed before it listened (each event a line on stdout). -1 with
 * err. */
int xmd_follow_start(char *err, size_t errlen);

/* ---- fleet.c: the fleet agent (--etcd), in threads of its own ---- */
int xmd_fleet_on(void);
/* Starts following the rule set; live_text: the rules live now. */
int xmd_fleet_start(const char *live_text, size_t live_len, char *err, size_t errlen);
void xmd_fleet_stop(void);
/* /api/status and /api/stats with "fleet" added (takes buf, returns the
 * new one). */
char *xmd_fleet_status_add(char *buf, size_t *len);
/* The xmasq_fleet_* families of /metrics (malloc'd, *len bytes), or NULL. */
char *xmd_fleet_metrics(size_t *len);
/* PUT /api/rules with --etcd: publishes the (valid) text instead. */
int xmd_fleet_put(struct xmd_req *q, const char *text, size_t len);

#endif
