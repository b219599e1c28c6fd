/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A small etcd v3 client over its JSON gateway (/v3/kv/range, /v3/kv/txn,
 * /v3/watch, /v3/lease/grant, /v3/lease/keepalive) with libcurl and
 * jansson. Endpoints are tried in turn: a member that is down or cannot
 * answer within a short timeout (a minority member, a partition) gives way
 * to the next, and the one that answered is tried first next time. Any
 * member serves reads and forwards writes to the leader, so a leader
 * change needs nothing but a retry. One object per thread: it keeps one
 * curl handle, so its requests reuse their connections. Functions return
 * 0 or -1 with err naming the endpoints and the reason. */
#ifndef XMASQ_ETCD_H
#define XMASQ_ETCD_H
#include <stddef.h>
#include <stdint.h>

#define XM_ETCD_MAX_ENDPOINTS 16
#define XM_FLEET_PREFIX	      "/xmasq/v1/"

struct xm_etcd {
	char *urls[XM_ETCD_MAX_ENDPOINTS]; /* "http://HOST:PORT", no trailing / */
	int n, cur;
	long timeout_ms; /* one request on one endpoint (default 1500) */
	/* 0, or a CLOCK_MONOTONIC time in ms that no request outlasts and
	 * after which no further endpoint is tried. */
	uint64_t deadline_ms;
	/* After a call: 1 when a member took the request and no definite
	 * answer came back from it (a timeout, "leader changed"), so a write
	 * may have landed there even if another member answered after (err
	 * then says what happened); 0 when every failure was certain (refused
	 * connections, "no leader"). */
	int ambiguous;
	void *curl; /* the handle requests share (connections kept alive) */
	void *headers;
};

/* "URL[,URL...]": -1 with err when a URL is not http(s)://HOST:PORT. */
int xm_etcd_init(struct xm_etcd *e, const char *urls, char *err, size_t errlen);
void xm_etcd_free(struct xm_etcd *e);

struct xm_etcd_kv {
	char *key, *value; /* malloc'd, NUL-terminated (value may hold NULs: len) */
	size_t len;
	int64_t mod_revision;
	int64_t lease;
};
void xm_etcd_kvs_free(struct xm_etcd_kv *kvs, size_t n);

/* Reads key (XM_ETCD_PREFIX: every key starting with it; XM_ETCD_KEYS_ONLY:
 * without their values). *kvs (n of them) and *revision, the store's
 * revision of the read. */
#define XM_ETCD_PREFIX	  1
#define XM_ETCD_KEYS_ONLY 2
int xm_etcd_range(struct xm_etcd *e, const char *key, int flags, struct xm_etcd_kv **kvs, size_t *n,
		  int64_t *revision, char *err, size_t errlen);

/* Writes key in one transaction, under lease (0: none). if_mod_revision
 * >= 0: only when the key's mod_revision is still that (0: the key does
 * not exist). 0 written (*revision: the new revision), 1 refused
 * (*revision: the key's mod_revision now, 0 if absent), -1 error. */
int xm_etcd_put(struct xm_etcd *e, const char *key, const char *value, size_t len, int64_t lease,
		int64_t if_mod_revision, int64_t *revision, char *err, size_t errlen);

int xm_etcd_lease_grant(struct xm_etcd *e, int ttl_s, int64_t *id, char *err, size_t errlen);
/* *ttl: the seconds left, 0 when the lease has expired (grant a new one). */
int xm_etcd_lease_keepalive(struct xm_etcd *e, int64_t id, int64_t *ttl, char *err, size_t errlen);

/* One watch stream on key (prefix: every key under it) from start_revision, on the first endpoint that
 * takes it. on_event(kv, deleted, arg) for each change (kv->mod_revision
 * its revision), in order, and once with kv NULL when the stream is
 * established; returning non-zero ends the watch. keep_going(arg) is asked
 * about once a second: 0 ends it; idle_ms > 0 ends a watch
 * that has received nothing for that long (so a silent partition is seen).
 * Returns 0 when ended by a callback or idle, 1 when start_revision was
 * compacted (*compact_revision set: read the key whole instead), -1 on
 * error (every endpoint failed or the stream broke). *created: the stream
 * was established (the store was reached). */
int xm_etcd_watch(struct xm_etcd *e, const char *key, int prefix, int64_t start_revision,
		  long idle_ms,
		  int (*on_event)(const struct xm_etcd_kv *kv, int deleted, void *arg),
		  int (*keep_going)(void *arg), void *arg, int *created, int64_t *compact_revision,
		  char *err, size_t errlen);

/* Where xmasqd --etcd keeps its fleet state for `xmasq status` (a JSON
 * file: ruleset, router_id, applied_revision, stale, error, pid): under
 * /run/xmasq/, named after the pin dir, since bpffs holds no files. */
#define XM_FLEET_STATE_DIR "/run/xmasq"
void xm_fleet_state_path(const char *pin_dir, char *out, size_t len);

#endif
