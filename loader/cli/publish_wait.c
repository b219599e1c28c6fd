// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq publish --wait`: the routers' status keys (/xmasq/v1/status/ID),
 * read once and then watched from the revision after that read, until
 * every live router bound to the rule set has applied the revision or
 * said why not. Each status write arrives as it lands: no polling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "cli.h"
#include "etcd.h"

struct router_status {
	char *id;
	json_t *st;
};

struct waiter {
	const char *name;
	int64_t revision;
	double deadline;
	struct router_status *r;
	size_t n;
	int64_t next; /* the revision to watch from */
	int answered; /* every router bound to name applied or failed it */
};

static const size_t status_plen = sizeof(XM_FLEET_PREFIX "status/") - 1;

static void waiter_clear(struct waiter *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->r[i].id);
		json_decref(w->r[i].st);
	}
	free(w->r);
	w->r = NULL;
	w->n = 0;
}

/* A status key written (its value) or deleted (value NULL). */
static void waiter_set(struct waiter *w, const char *key, const char *value, size_t len)
{
	const char *id = strlen(key) > status_plen ? key + status_plen : key;
	size_t i;

	for (i = 0; i < w->n && strcmp(w->r[i].id, id); i++)
		;
	if (i < w->n) {
		json_decref(w->r[i].st);
		w->r[i].st = NULL;
		if (!value) {
			free(w->r[i].id);
			w->r[i] = w->r[--w->n];
			return;
		}
	} else {
		struct router_status *r;

		if (!value || !(r = realloc(w->r, (w->n + 1) * sizeof(*r))))
			return;
		w->r = r;
		w->r[i].id = strdup(id);
		w->r[i].st = NULL;
		if (!w->r[i].id)
			return;
		w->n++;
	}
	w->r[i].st = json_loadb(value, len, 0, NULL);
}

struct tally {
	size_t bound, done, failed;
	char pending[4096], failures[4096];
};

static void waiter_tally(const struct waiter *w, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < w->n; i++) {
		json_t *st = w->r[i].st;
		const char *rs = json_string_value(json_object_get(st, "ruleset"));
		const char *id = w->r[i].id;
		json_int_t applied = json_integer_value(json_object_get(st, "applied_revision"));
		json_int_t err_rev = json_integer_value(json_object_get(st, "error_revision"));
		const char *why = json_string_value(json_object_get(st, "error"));
		int stale = json_is_true(json_object_get(st, "stale"));

		if (!st || !rs || strcmp(rs, w->name))
			continue;
		t->bound++;
		if (applied >= w->revision) {
			t->done++;
		} else if (err_rev >= w->revision && why && *why) {
			t->failed++;
			snprintf(t->failures + strlen(t->failures),
				 sizeof(t->failures) - strlen(t->failures),
				 "  %s did not apply revision %lld: %s\n", id, (long long)err_rev,
				 why);
		} else {
			snprintf(t->pending + strlen(t->pending),
				 sizeof(t->pending) - strlen(t->pending),
				 "  %s has not applied it (it has revision %lld%s)\n", id,
				 (long long)applied,
				 stale ? ", and it is cut off from the store" : "");
		}
	}
}

static int all_answered(const struct waiter *w)
{
	struct tally t;

	waiter_tally(w, &t);
	return t.done + t.failed == t.bound;
}

static int on_status(const struct xm_etcd_kv *kv, int deleted, void *arg)
{
	struct waiter *w = arg;

	if (!kv)
		return 0; /* the watch is up */
	waiter_set(w, kv->key, deleted ? NULL : kv->value, kv->len);
	w->next = kv->mod_revision + 1;
	w->answered = all_answered(w);
	return w->answered;
}

static int before_deadline(void *arg)
{
	const struct waiter *w = arg;

	return cli_now_s() < w->deadline;
}

/* Reads every status key whole: 0, or -1 with err. */
static int waiter_read(struct xm_etcd *e, struct waiter *w, char *err, size_t errlen)
{
	struct xm_etcd_kv *kvs;
	size_t n;
	int64_t rev;

	if (xm_etcd_range(e, XM_FLEET_PREFIX "status/", XM_ETCD_PREFIX, &kvs, &n, &rev, err,
			  errlen))
		return -1;
	waiter_clear(w);
	for (size_t i = 0; i < n; i++)
		waiter_set(w, kvs[i].key, kvs[i].value, kvs[i].len);
	xm_etcd_kvs_free(kvs, n);
	w->next = rev + 1;
	w->answered = all_answered(w);
	return 0;
}

/* Until each router bound to name has applied revision or failed it: the
 * status keys read once, then watched from the revision after that read
 * (each router's status write arrives as it lands; no polling). 0 all
 * applied, 1 otherwise (printed). */
int cli_publish_wait(struct xm_etcd *e, const char *name, int64_t revision, double secs)
{
	struct waiter w = { .name = name, .revision = revision, .deadline = cli_now_s() + secs };
	double t0 = cli_now_s();
	int have = 0; /* w holds every status key as of w.next - 1 */
	int ever = 0; /* w was read once at least */
	char err[2048] = "";
	struct tally t;

	e->deadline_ms = (uint64_t)(w.deadline * 1000);
	for (;;) {
		int created, rc;
		int64_t compacted;

		if (!have) {
			have = waiter_read(e, &w, err, sizeof(err)) == 0;
			ever |= have;
			if (!have)
				cli_sleep_s(0.1);
		}
		if ((have && w.answered) || cli_now_s() >= w.deadline)
			break;
		if (!have)
			continue;
		rc = xm_etcd_watch(e, XM_FLEET_PREFIX "status/", 1, w.next, 0, on_status,
				   before_deadline, &w, &created, &compacted, err, sizeof(err));
		if (rc != 0) {
			have = 0; /* compacted or broken: read it whole again */
			if (rc < 0)
				cli_sleep_s(0.05);
		}
	}
	if (!ever) {
		fprintf(stderr, "xmasq: publish: --wait: %s\n", err);
		waiter_clear(&w);
		return 1;
	}
	waiter_tally(&w, &t);
	waiter_clear(&w);
	if (t.done + t.failed == t.bound) {
		if (t.bound == 0)
			printf("no live router is bound to ruleset %s\n", name);
		else
			printf("applied by %zu of %zu routers bound to %s (%.0f ms after "
			       "publishing)\n",
			       t.done, t.bound, name, (cli_now_s() - t0) * 1000);
		if (t.failed)
			fprintf(stderr, "xmasq: publish: revision %lld failed:\n%s",
				(long long)revision, t.failures);
		return t.failed ? 1 : 0;
	}
	fprintf(stderr,
		"xmasq: publish: revision %lld is not live everywhere after %.0f s "
		"(%zu of %zu routers bound to %s applied it):\n%s%s",
		(long long)revision, secs, t.done, t.bound, name, t.failures, t.pending);
	return 1;
}
