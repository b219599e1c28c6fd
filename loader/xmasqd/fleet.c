// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The fleet agent (xmasqd --etcd URLS --router-id ID --ruleset NAME):
 * follows /xmasq/v1/rulesets/NAME in etcd and keeps status/ID there.
 *
 * Two threads talk to the store, so a slow or unreachable member never
 * stalls the daemon's loop: the watcher reads the key and watches it from
 * the revision after, and hands each new text to the main thread through
 * an eventfd; the keeper holds the lease (grant, keepalive) and writes the
 * status under it. The main thread applies a text whole through the same
 * diff/apply as PUT and SIGHUP (rules_apply.c), so the rules change only
 * on the main thread, as before; a text that does not apply leaves the
 * old rules live and its error in the status. Between them, one mutex
 * over struct fleet. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include "etcd.h"
#include "xmasqd.h"

#define LEASE_TTL_S	   15
#define KEEPALIVE_EVERY_MS 5000
#define WATCH_IDLE_MS	   10000
#define RETRY_MS	   500
#define STATUS_RETRY_MS	   100

static struct fleet {
	pthread_mutex_t mu;
	pthread_cond_t wake; /* the keeper: the status changed */
	int efd;	     /* the main thread: a text is pending */
	const char *urls;
	char key[512], status_key[512], state_path[512];

	/* watcher -> main */
	char *pending;
	size_t pending_len;
	int64_t pending_rev;
	uint64_t pending_ms; /* when the watch brought it (monotonic) */
	int64_t seen_rev;    /* the last revision of the key seen */

	/* main -> keeper */
	int64_t applied_rev, error_rev;
	char sha256[XMD_SHA256_HEX];
	char error[1024];
	int dirty;

	/* the store as the threads see it */
	int watch_ok, lease_ok;
	int rewatch; /* the keeper reached the store again: restart the watch */
	char store_error[1024];
	int stopping; /* xmasqd is exiting: the state file stays removed */
} fl = { .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .efd = -1 };

int xmd_fleet_on(void)
{
	return xmd.opt.etcd != NULL;
}

static int stale_locked(void)
{
	return !fl.watch_ok || !fl.lease_ok;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the watcher ---- */
static void post_text(const char *text, size_t len, int64_t rev)
{
	char *copy = malloc(len + 1);
	uint64_t one = 1;

	if (!copy)
		return;
	memcpy(copy, text, len);
	copy[len] = 0;
	pthread_mutex_lock(&fl.mu);
	/* Only whole revisions, the newest first: one not yet taken is
	 * replaced by the one after it. */
	free(fl.pending);
	fl.pending = copy;
	fl.pending_len = len;
	fl.pending_rev = rev;
	fl.pending_ms = mono_ms();
	pthread_mutex_unlock(&fl.mu);
	if (write(fl.efd, &one, sizeof(one)) < 0) {
		/* the counter is non-zero already: the main thread will look */
	}
}

static void set_store(int *flag, int ok, const char *err)
{
	pthread_mutex_lock(&fl.mu);
	if (*flag != ok)
		fl.dirty = 1;
	*flag = ok;
	if (!ok && err)
		snprintf(fl.store_error, sizeof(fl.store_error), "%s", err);
	else if (!stale_locked())
		fl.store_error[0] = 0;
	pthread_cond_signal(&fl.wake);
	pthread_mutex_unlock(&fl.mu);
}

static int on_event(const struct xm_etcd_kv *kv, int deleted, void *arg)
{
	int64_t *next = arg;

	if (!kv) {
		set_store(&fl.watch_ok, 1, NULL); /* the watch is up: the store is here */
		return 0;
	}
	if (!deleted)
		post_text(kv->value, kv->len, kv->mod_revision);
	else
		fprintf(stderr,
			"xmasqd: fleet: %s was deleted at revision %lld; the rules live stay\n",
			fl.key, (long long)kv->mod_revision);
	*next = kv->mod_revision + 1;
	pthread_mutex_lock(&fl.mu);
	fl.seen_rev = kv->mod_revision;
	pthread_mutex_unlock(&fl.mu);
	set_store(&fl.watch_ok, 1, NULL);
	return 0;
}

static int64_t watch_next; /* the watcher's own: the revision to watch from */

static int keep_watching(void *arg)
{
	int go;

	(void)arg;
	pthread_mutex_lock(&fl.mu);
	go = !fl.rewatch;
	fl.rewatch = 0;
	pthread_mutex_unlock(&fl.mu);
	return go;
}

/* The whole key: after start and after a compaction. 0, or -1. */
static int full_read(struct xm_etcd *e, char *err, size_t errlen)
{
	struct xm_etcd_kv *kvs;
	size_t n;
	int64_t rev;

	if (xm_etcd_range(e, fl.key, 0, &kvs, &n, &rev, err, errlen))
		return -1;
	if (n)
		post_text(kvs[0].value, kvs[0].len, kvs[0].mod_revision);
	else
		fprintf(stderr,
			"xmasqd: fleet: %s does not exist yet (publish it: xmasq publish); "
			"the rules live stay\n",
			fl.key);
	xm_etcd_kvs_free(kvs, n);
	pthread_mutex_lock(&fl.mu);
	fl.seen_rev = rev;
	pthread_mutex_unlock(&fl.mu);
	watch_next = rev + 1;
	return 0;
}

static void *watcher(void *arg)
{
	unsigned h = 0;
	struct xm_etcd e;
	char err[2048];
	int need_read = 1;

	(void)arg;
	if (xm_etcd_init(&e, fl.urls, err, sizeof(err)))
		return NULL;
	/* Routers start their watches on different members: each member's
	 * gateway encodes every event once per watcher (megabytes for a
	 * large rule set). */
	for (const char *c = xmd.opt.router_id; *c; c++)
		h = h * 31 + (unsigned char)*c;
	e.cur = (int)(h % (unsigned)e.n);
	for (;;) {
		int created, rc;
		int64_t compacted;

		if (need_read) {
			if (full_read(&e, err, sizeof(err))) {
				set_store(&fl.watch_ok, 0, err);
				sleep_ms(RETRY_MS);
				continue;
			}
			need_read = 0;
			set_store(&fl.watch_ok, 1, NULL);
		}
		rc = xm_etcd_watch(&e, fl.key, 0, watch_next, WATCH_IDLE_MS, on_event,
				   keep_watching, &watch_next, &created, &compacted, err,
				   sizeof(err));
		if (rc == 1) {
			fprintf(stderr,
				"xmasqd: fleet: revision %lld was compacted (now from %lld): "
				"reading "
				"%s whole\n",
				(long long)watch_next, (long long)compacted, fl.key);
			need_read = 1;
		} else if (rc < 0) {
			set_store(&fl.watch_ok, 0, err);
			if (!created)
				sleep_ms(RETRY_MS);
		}
	}
	return NULL;
}

/* ---- the keeper: lease and status ---- */
/* The status as JSON (malloc'd); under fl.mu. */
static char *status_json_locked(int with_local)
{
	json_t *j = json_pack("{s:s, s:I, s:s, s:s, s:I, s:b, s:I}", "ruleset", xmd.opt.ruleset,
			      "applied_revision", (json_int_t)fl.applied_rev, "sha256", fl.sha256,
			      "error", fl.error, "error_revision", (json_int_t)fl.error_rev,
			      "stale", stale_locked(), "seen_revision", (json_int_t)fl.seen_rev);
	char *s;

	if (j && with_local) {
		json_object_set_new(j, "router_id", json_string(xmd.opt.router_id));
		json_object_set_new(j, "store_error", json_string(fl.store_error));
		json_object_set_new(j, "pid", json_integer(getpid()));
	}
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* For `xmasq status`: written whole (temp file, rename). */
static void write_state_file(const char *text)
{
	char tmp[600];
	FILE *f;

	mkdir(XM_FLEET_STATE_DIR, 0755);
	snprintf(tmp, sizeof(tmp), "%s.tmp", fl.state_path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%s\n", text);
	if (fclose(f) == 0)
		rename(tmp, fl.state_path);
	else
		unlink(tmp);
}

static void *keeper(void *arg)
{
	struct xm_etcd e;
	int64_t lease = 0, ttl;
	uint64_t next_keepalive = 0;
	char err[2048], *last_local = NULL;

	(void)arg;
	if (xm_etcd_init(&e, fl.urls, err, sizeof(err)))
		return NULL;
	for (;;) {
		char *status, *local;
		int dirty = 0, ok = 1, was_ok;

		pthread_mutex_lock(&fl.mu);
		was_ok = fl.lease_ok;
		pthread_mutex_unlock(&fl.mu);
		if (!lease) {
			ok = xm_etcd_lease_grant(&e, LEASE_TTL_S, &lease, err, sizeof(err)) == 0;
			dirty = 1;
			next_keepalive = mono_ms() + KEEPALIVE_EVERY_MS;
		} else if (mono_ms() >= next_keepalive) {
			ok = xm_etcd_lease_keepalive(&e, lease, &ttl, err, sizeof(err)) == 0;
			/* Expired while the store was away: some members say so
			 * with a TTL of 0, others with an error. */
			if (!ok && strstr(err, "lease not found"))
				ok = 1, ttl = 0;
			if (ok && ttl <= 0) {
				/* expired while we were cut off: a new one, status again */
				lease = 0;
				continue;
			}
			next_keepalive = mono_ms() + (ok ? KEEPALIVE_EVERY_MS : RETRY_MS);
		}
		if (!ok && !lease)
			next_keepalive = mono_ms() + RETRY_MS;
		set_store(&fl.lease_ok, ok, err);
		if (ok && !was_ok) {
			pthread_mutex_lock(&fl.mu);
			fl.rewatch = 1; /* a watch on a silent member would wait for its idle end */
			fl.dirty = 1;
			pthread_mutex_unlock(&fl.mu);
		}
		pthread_mutex_lock(&fl.mu);
		dirty = fl.dirty || dirty;
		fl.dirty = 0;
		status = status_json_locked(0);
		local = status_json_locked(1);
		pthread_mutex_unlock(&fl.mu);
		if (local && (!last_local || strcmp(local, last_local))) {
			/* under the lock: xmd_fleet_stop removes the file for good */
			pthread_mutex_lock(&fl.mu);
			if (!fl.stopping)
				write_state_file(local);
			pthread_mutex_unlock(&fl.mu);
			free(last_local);
			last_local = local;
		} else {
			free(local);
		}
		if (dirty && lease && ok && status) {
			int64_t rev;

			if (xm_etcd_put(&e, fl.status_key, status, strlen(status), lease, -1, &rev,
					err, sizeof(err)) < 0) {
				pthread_mutex_lock(&fl.mu);
				fl.dirty = 1;
				pthread_mutex_unlock(&fl.mu);
				/* no leader yet, say: again shortly, not at once */
				sleep_ms(STATUS_RETRY_MS);
			}
		}
		free(status);
		/* Sleep until the next keepalive or a change of status. */
		pthread_mutex_lock(&fl.mu);
		if (!fl.dirty) {
			struct timespec until;
			uint64_t now = mono_ms(),
				 wait = next_keepalive > now ? next_keepalive - now : 0;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += (time_t)(wait / 1000);
			until.tv_nsec += (long)(wait % 1000) * 1000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&fl.wake, &fl.mu, &until);
		}
		pthread_mutex_unlock(&fl.mu);
	}
	return NULL;
}

/* ---- the main thread: apply what the watcher handed over ---- */
static void apply_pending(void *arg)
{
	char who[64], name[600], sha[XMD_SHA256_HEX], err[1024];
	struct xm_ruleset rs;
	struct xmd_apply a = { 0 };
	uint64_t count, came_ms = 0, start_ms, parsed_ms = 0, live_ms;
	int64_t rev;
	size_t len;
	char *text;
	int errnum, same;

	(void)arg;
	if (read(fl.efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&fl.mu);
	text = fl.pending;
	len = fl.pending_len;
	rev = fl.pending_rev;
	came_ms = fl.pending_ms;
	fl.pending = NULL;
	same = text && fl.applied_rev && rev <= fl.applied_rev;
	pthread_mutex_unlock(&fl.mu);
	if (!text || same) {
		free(text);
		return;
	}
	xmd_sha256_hex(text, len, sha);
	snprintf(who, sizeof(who), "fleet revision %lld", (long long)rev);
	snprintf(name, sizeof(name), "%s@%lld", fl.key, (long long)rev);
	pthread_mutex_lock(&fl.mu);
	same = !strcmp(sha, fl.sha256);
	pthread_mutex_unlock(&fl.mu);
	start_ms = mono_ms();
	if (!same && xmd_parse(text, len, name, &rs, &a) == 0) {
		parsed_ms = mono_ms();
		xmd_apply_ruleset(&rs, name, XMD_APPLY_PROBE_LATER, &a);
		xm_ruleset_free(&rs);
	}
	/* The status first: the rules are live now (the keeper tells the
	 * store while the cache is written). */
	live_ms = mono_ms();
	pthread_mutex_lock(&fl.mu);
	if (a.rc == 0) {
		fl.applied_rev = rev;
		snprintf(fl.sha256, sizeof(fl.sha256), "%s", sha);
		fl.error[0] = 0;
		fl.error_rev = 0;
	} else {
		fl.error_rev = rev;
		snprintf(fl.error, sizeof(fl.error), "%s", a.err);
	}
	fl.dirty = 1;
	pthread_cond_signal(&fl.wake);
	pthread_mutex_unlock(&fl.mu);
	if (a.rc == 0 && !same) {
		xmd_probe_tx_paths();
		/* The cache: what the router boots from when the store is down. */
		if (xmd_rules_stage(xmd.opt.rules, text, len, &errnum, err, sizeof(err)) ||
		    xmd_rules_commit(xmd.opt.rules, NULL, 0, err, sizeof(err)))
			fprintf(stderr, "xmasqd: fleet: revision %lld is live but %s\n",
				(long long)rev, err);
		xmd.last_apply_ok = 1;
		xmd.last_apply_err[0] = 0;
		fprintf(stderr,
			"xmasqd: %s: applied +%u -%u ~%u =%u rules in %.0f us (live %llu ms "
			"after the watch brought it: %llu waiting, %llu parsing, %llu "
			"applying)\n",
			who, a.res.added, a.res.removed, a.res.changed, a.res.kept, a.res.usecs,
			(unsigned long long)(live_ms - came_ms),
			(unsigned long long)(start_ms - came_ms),
			(unsigned long long)(parsed_ms - start_ms),
			(unsigned long long)(live_ms - parsed_ms));
	} else if (a.rc) {
		fprintf(stderr, "xmasqd: %s was not applied (the rules live before stay): %s\n",
			who, a.err);
	}
	if (!same)
		xmd_audit_apply(who, "etcd", "apply the fleet's rule set", sha, &a);
	xmd_apply_free(&a);
	free(text);
}

int xmd_fleet_start(const char *live_text, size_t live_len, char *err, size_t errlen)
{
	struct xm_etcd probe;
	pthread_t t;

	if (xm_etcd_init(&probe, xmd.opt.etcd, err, errlen))
		return -1;
	xm_etcd_free(&probe);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fl.urls = xmd.opt.etcd;
	snprintf(fl.key, sizeof(fl.key), XM_FLEET_PREFIX "rulesets/%s", xmd.opt.ruleset);
	snprintf(fl.status_key, sizeof(fl.status_key), XM_FLEET_PREFIX "status/%s",
		 xmd.opt.router_id);
	xm_fleet_state_path(xmd.opt.pin_dir, fl.state_path, sizeof(fl.state_path));
	/* What is live now (the cache): a revision with the same text needs
	 * no apply. */
	if (live_text)
		xmd_sha256_hex(live_text, live_len, fl.sha256);
	fl.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fl.efd < 0 || xmd_add_source(fl.efd, apply_pending, NULL)) {
		snprintf(err, errlen, "fleet: cannot add its eventfd: %s", strerror(errno));
		return -1;
	}
	if (pthread_create(&t, NULL, watcher, NULL) || pthread_detach(t) ||
	    pthread_create(&t, NULL, keeper, NULL) || pthread_detach(t)) {
		snprintf(err, errlen, "fleet: cannot start its threads: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void xmd_fleet_stop(void)
{
	pthread_mutex_lock(&fl.mu);
	fl.stopping = 1;
	if (fl.state_path[0])
		unlink(fl.state_path);
	pthread_mutex_unlock(&fl.mu);
}

/* ---- what the page and /metrics show ---- */
char *xmd_fleet_status_add(char *status_json, size_t *len)
{
	json_t *j = json_loadb(status_json, *len, 0, NULL), *f;
	char *local, *out;

	if (!j)
		return status_json;
	pthread_mutex_lock(&fl.mu);
	local = status_json_locked(1);
	pthread_mutex_unlock(&fl.mu);
	f = local ? json_loads(local, 0, NULL) : NULL;
	free(local);
	json_object_set_new(j, "fleet", f ? f : json_null());
	out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!out)
		return status_json;
	free(status_json);
	*len = strlen(out);
	return out;
}

char *xmd_fleet_metrics(size_t *len)
{
	char *out = NULL;
	size_t n = 0;
	FILE *o = open_memstream(&out, &n);

	if (!o)
		return NULL;
	pthread_mutex_lock(&fl.mu);
	fprintf(o,
		"# HELP xmasq_fleet_stale 1 when the router cannot reach its etcd store (it "
		"forwards with the rules it has)\n"
		"# TYPE xmasq_fleet_stale gauge\nxmasq_fleet_stale %d\n"
		"# HELP xmasq_fleet_applied_revision The etcd revision of the rule set live here\n"
		"# TYPE xmasq_fleet_applied_revision gauge\nxmasq_fleet_applied_revision %lld\n"
		"# HELP xmasq_fleet_error 1 when the latest revision seen did not apply here\n"
		"# TYPE xmasq_fleet_error gauge\nxmasq_fleet_error %d\n",
		stale_locked(), (long long)fl.applied_rev, fl.error[0] != 0);
	pthread_mutex_unlock(&fl.mu);
	if (fclose(o)) {
		free(out);
		return NULL;
	}
	*len = n;
	return out;
}

/* After a write that got no answer: 1 when the key holds text at a
 * revision after base (*rev), 0 when it does not, -1 when it cannot be
 * read. */
static int read_back(struct xm_etcd *e, const char *text, size_t len, int64_t base, int64_t *rev)
{
	struct xm_etcd_kv *kvs;
	size_t n;
	int64_t at;
	char err[1024];
	int landed;

	if (xm_etcd_range(e, fl.key, 0, &kvs, &n, &at, err, sizeof(err)))
		return -1;
	landed = n && kvs[0].mod_revision > base && kvs[0].len == len &&
		 !memcmp(kvs[0].value, text, len);
	if (landed)
		*rev = kvs[0].mod_revision;
	xm_etcd_kvs_free(kvs, n);
	return landed;
}

/* PUT /api/rules with --etcd: the text (validated already) goes to the
 * store as a new revision, compared on the revision live here, and comes
 * back through the watch like any other. */
int xmd_fleet_put(struct xmd_req *q, const char *text, size_t len)
{
	struct xm_etcd e;
	int64_t base, rev = 0;
	char err[2048];
	int rc;

	pthread_mutex_lock(&fl.mu);
	base = fl.applied_rev;
	pthread_mutex_unlock(&fl.mu);
	if (xm_etcd_init(&e, fl.urls, err, sizeof(err)))
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
	e.timeout_ms = 1000;
	rc = xm_etcd_put(&e, fl.key, text, len, 0, base, &rev, err, sizeof(err));
	if (rc != 0 && e.ambiguous) {
		/* A member took the write and did not answer: did it land? */
		int landed = read_back(&e, text, len, base, &rev);

		if (landed < 0) {
			xm_etcd_free(&e);
			return xmd_reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE,
					       "perhaps published: %s, and the store could not be "
					       "read back; reload the rules to see whether rule "
					       "set "
					       "%s moved past revision %lld",
					       err, xmd.opt.ruleset, (long long)base);
		}
		if (landed)
			rc = 0;
	}
	xm_etcd_free(&e);
	if (rc < 0)
		return xmd_reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE,
				       "not published: %s (this router takes its rules from etcd; "
				       "try again when the store is reachable)",
				       err);
	if (rc == 1)
		return xmd_reply_error(q, MHD_HTTP_CONFLICT,
				       "not published: rule set %s is at revision %lld in etcd, "
				       "not "
				       "%lld as live here; reload the rules once this router has "
				       "it, then redo your change",
				       xmd.opt.ruleset, (long long)rev, (long long)base);
	return xmd_reply_json(q, MHD_HTTP_OK,
			      json_pack("{s:b, s:b, s:I, s:s}", "applied", 0, "published", 1,
					"revision", (json_int_t)rev, "ruleset", xmd.opt.ruleset));
}
