// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The JSON API and /metrics. Status, stats, conntrack and metrics are
 * libxmasq's own renderers (the bytes `xmasq status --json`, `stats
 * --json`, `conntrack list --json` and `stats --prometheus` print); the
 * rules go through libxmasq's parser and diff/apply as `xmasq apply`. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <microhttpd.h>
#include "xmasqd.h"

#define CONNTRACK_DEFAULT 1000
#define CONNTRACK_MAX	  100000

enum render { R_STATUS, R_STATS, R_PROMETHEUS };

/* A snapshot of the router rendered into a buffer. */
static int render(struct xmd_req *q, enum render what)
{
	struct xm_port_use pu;
	struct xm_snapshot s;
	struct xm_handle h;
	char err[512], *buf = NULL;
	size_t len = 0;
	FILE *o;
	int rc, ok = 0;

	rc = xm_open(&h, xmd.opt.pin_dir, err, sizeof(err));
	if (rc)
		return xmd_reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err);
	rc = xm_snapshot_read(&h, &s, err, sizeof(err));
	if (rc == 0) {
		rc = xm_port_use_read(&h, &pu, err, sizeof(err));
		if (rc)
			xm_snapshot_free(&s);
	}
	if (rc) {
		xm_close(&h);
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
	}
	if (what == R_PROMETHEUS) {
		/* The rules' labels outlive the request: the same while the
		 * rules are (most of the rendering at 100,000 rules). */
		static struct xm_prom_cache labels;

		ok = xm_render_prometheus(&s, &pu, &labels, &buf, &len) == 0;
	} else if ((o = open_memstream(&buf, &len))) {
		if (what == R_STATUS)
			xm_print_status(o, &h, &s, &pu, 1);
		else
			xm_print_stats(o, &s, &pu, 1);
		ok = fclose(o) == 0;
	}
	xm_port_use_free(&pu);
	xm_snapshot_free(&s);
	xm_close(&h);
	if (!ok) {
		free(buf);
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	if (xmd_fleet_on())
		buf = xmd_fleet_render(buf, &len, what == R_PROMETHEUS);
	return xmd_reply(q, MHD_HTTP_OK,
			 what == R_PROMETHEUS ? "text/plain; version=0.0.4; charset=utf-8" :
						"application/json",
			 buf, len);
}

int xmd_api_status(struct xmd_req *q)
{
	return render(q, R_STATUS);
}

int xmd_api_stats(struct xmd_req *q)
{
	return render(q, R_STATS);
}

int xmd_api_metrics(struct xmd_req *q)
{
	return render(q, R_PROMETHEUS);
}

/* GET /api/conntrack?limit=N: the first N flows (default 1000, at most
 * 100000) as `xmasq conntrack list --json`; X-Flows says how many there are. */
int xmd_api_conntrack(struct xmd_req *q)
{
	const char *arg = MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "limit");
	unsigned long limit = CONNTRACK_DEFAULT;
	struct xm_handle h;
	struct xm_conn *c;
	char err[512], *buf = NULL, *end;
	size_t n, len = 0;
	FILE *o;
	int rc;

	if (arg) {
		errno = 0;
		limit = strtoul(arg, &end, 10);
		if (errno || !*arg || *end || limit > CONNTRACK_MAX)
			return xmd_reply_error(q, MHD_HTTP_BAD_REQUEST,
					       "limit '%s' is not a number from 0 to %u", arg,
					       CONNTRACK_MAX);
	}
	rc = xm_open(&h, xmd.opt.pin_dir, err, sizeof(err));
	if (rc)
		return xmd_reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err);
	rc = xm_conntrack_read(&h, &c, &n, err, sizeof(err));
	xm_close(&h);
	if (rc)
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
	o = open_memstream(&buf, &len);
	if (o) {
		xm_print_conntrack(o, c, n < limit ? n : limit, 1);
		fclose(o);
	}
	free(c);
	if (!o)
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	snprintf(q->extra_name, sizeof(q->extra_name), "X-Flows");
	snprintf(q->extra_value, sizeof(q->extra_value), "%zu", n);
	return xmd_reply(q, MHD_HTTP_OK, "application/json", buf, len);
}

/* ---- the rules ---- */

/* The rules file now and its version (SHA-256 of the text). */
static int current_rules(struct xmd_req *q, char **text, size_t *len, char version[])
{
	char err[512];

	if (xmd_rules_read(xmd.opt.rules, text, len, err, sizeof(err))) {
		xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
		return -1;
	}
	xmd_sha256_hex(*text, *len, version);
	return 0;
}

int xmd_api_rules_get(struct xmd_req *q)
{
	char *text, version[XMD_SHA256_HEX];
	size_t len;
	json_t *j;

	if (current_rules(q, &text, &len, version))
		return MHD_YES;
	j = json_pack("{s:s%, s:s}", "text", text, len, "version", version);
	free(text);
	if (!j)
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "%s is not UTF-8 text: edit it with xmasq apply",
				       xmd.opt.rules);
	return xmd_reply_json(q, MHD_HTTP_OK, j);
}

/* The body {"text": ..., "version": ...}; 0, or the 400 was queued. */
static int parse_body(struct xmd_req *q, const char **text, size_t *len, const char **version,
		      json_t **doc, int *ret)
{
	json_error_t je;
	json_t *t, *v;

	*doc = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES, &je);
	if (!*doc) {
		*ret = xmd_reply_error(q, MHD_HTTP_BAD_REQUEST,
				       "malformed JSON at line %d column %d: %s (expected "
				       "{\"text\": RULES, \"version\": V})",
				       je.line, je.column, je.text);
		return -1;
	}
	t = json_object_get(*doc, "text");
	v = json_object_get(*doc, "version");
	if (!json_is_string(t) || (version && !json_is_string(v))) {
		*ret = xmd_reply_error(q, MHD_HTTP_BAD_REQUEST,
				       "expected {\"text\": RULES%s} with strings",
				       version ? ", \"version\": V (from GET /api/rules)" : "");
		json_decref(*doc);
		return -1;
	}
	*text = json_string_value(t);
	*len = json_string_length(t);
	if (version)
		*version = json_string_value(v);
	return 0;
}

/* 422 {"errors": [{"line", "col", "message"}]}: a rules error, at its place. */
static int rules_error(struct xmd_req *q, const char *err)
{
	unsigned line, col;
	const char *msg;
	json_t *j;

	xm_rules_error_place(err, xmd.opt.rules, &line, &col, &msg);
	j = json_pack("{s:[{s:I, s:I, s:s}]}", "errors", "line", (json_int_t)line, "col",
		      (json_int_t)col, "message", msg);
	if (q->audit)
		json_object_set_new(q->audit, "error", json_string(err));
	if (!j)
		return xmd_reply_error(q, 422, "%s", err);
	return xmd_reply_json(q, 422, j);
}

static int apply_failed(struct xmd_req *q, const struct xmd_apply *a)
{
	if (a->rc == -2)
		return rules_error(q, a->err);
	return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", a->err);
}

/* "+ rule\n- rule\n" into ["+ rule", "- rule"]. */
static json_t *diff_lines(const char *diff, size_t len)
{
	json_t *arr = json_array();
	size_t pos = 0;

	while (arr && diff && pos < len) {
		const char *nl = memchr(diff + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - diff - pos) : len - pos;

		json_array_append_new(arr, json_stringn(diff + pos, n));
		pos += n + 1;
	}
	return arr;
}

int xmd_api_rules_check(struct xmd_req *q)
{
	struct xm_ruleset rs = { 0 };
	struct xmd_apply a;
	const char *text;
	size_t len;
	json_t *doc;
	int ret;

	if (parse_body(q, &text, &len, NULL, &doc, &ret))
		return ret;
	if (xmd_parse(text, len, xmd.opt.rules, &rs, &a) == 0)
		xmd_apply_ruleset(&rs, xmd.opt.rules, 1, &a);
	json_decref(doc);
	if (a.rc) {
		xm_ruleset_free(&rs);
		return apply_failed(q, &a);
	}
	ret = xmd_reply_json(q, MHD_HTTP_OK,
			     json_pack("{s:b, s:I, s:I, s:I}", "ok", 1, "forwards",
				       (json_int_t)rs.n_rules, "masquerades",
				       (json_int_t)rs.n_masqs, "ports",
				       (json_int_t)rs.total_ports));
	xm_ruleset_free(&rs);
	return ret;
}

/* PUT /api/rules: version check, parse, validate against the router, save
 * FILE.tmp (fsynced), apply, then FILE.tmp over FILE. Any failure before
 * the apply changes nothing; a failed apply removes FILE.tmp. */
static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* 429 when this client's key made too many changes; 0 to go on. */
static int rate_limited(struct xmd_req *q, int *ret)
{
	unsigned retry;

	if (xmd_rate_allow(q->client.key_sha256[0] ? q->client.key_sha256 : "?", &retry))
		return 0;
	snprintf(q->extra_name, sizeof(q->extra_name), "Retry-After");
	snprintf(q->extra_value, sizeof(q->extra_value), "%u", retry);
	*ret = xmd_reply_error(q, MHD_HTTP_TOO_MANY_REQUESTS,
			       "too many changes from this key: try again in %u s", retry);
	return -1;
}

/* 409 with the version now, when the client's is not it (text: the
 * text sent, whose version the audit log keeps; NULL for edits). */
static int stale(struct xmd_req *q, const char *version, const char *cur_version, const char *text,
		 size_t len, int *ret)
{
	char new_version[XMD_SHA256_HEX];

	if (!strcmp(version, cur_version))
		return 0;
	if (q->audit) {
		json_object_set_new(q->audit, "before", json_string(cur_version));
		if (text) {
			xmd_sha256_hex(text, len, new_version);
			json_object_set_new(q->audit, "after", json_string(new_version));
		}
		json_object_set_new(q->audit, "error", json_string("stale version"));
	}
	*ret = xmd_reply_json(q, MHD_HTTP_CONFLICT,
			      json_pack("{s:s, s:s}", "error",
					"the rules changed since you read them: reload them (GET "
					"/api/rules), redo your change and send it with the new "
					"version",
					"version", cur_version));
	return -1;
}

static int replace_rules(struct xmd_req *q, double t0, const char *text, size_t len,
			 const char *cur_version);

int xmd_api_rules_put(struct xmd_req *q)
{
	double t0 = now_us();
	char *cur = NULL, cur_version[XMD_SHA256_HEX];
	const char *text, *version;
	json_t *doc = NULL;
	size_t len, cur_len;
	int ret;

	if (rate_limited(q, &ret) || parse_body(q, &text, &len, &version, &doc, &ret))
		return ret;
	if (current_rules(q, &cur, &cur_len, cur_version)) {
		json_decref(doc);
		return MHD_YES;
	}
	free(cur);
	if (stale(q, version, cur_version, text, len, &ret) == 0)
		ret = replace_rules(q, t0, text, len, cur_version);
	json_decref(doc);
	return ret;
}

/* PATCH /api/rules {"version": V, "edits": [...]}: the edits (rules_edit.c)
 * made to the file V names, then as PUT of the result; the audit log keeps
 * the edits, not the text. */
int xmd_api_rules_patch(struct xmd_req *q)
{
	double t0 = now_us();
	char *cur = NULL, *text = NULL, cur_version[XMD_SHA256_HEX], err[512];
	json_t *doc, *v, *edits;
	json_error_t je;
	size_t len, cur_len;
	int ret;

	if (rate_limited(q, &ret))
		return ret;
	doc = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES, &je);
	v = json_object_get(doc, "version");
	edits = json_object_get(doc, "edits");
	if (!json_is_string(v) || !json_is_array(edits)) {
		json_decref(doc);
		if (doc)
			return xmd_reply_error(q, MHD_HTTP_BAD_REQUEST,
					       "expected {\"version\": V, \"edits\": [{\"line\": "
					       "N, "
					       "\"delete\": K, \"insert\": [LINES]}, ...]}");
		return xmd_reply_error(q, MHD_HTTP_BAD_REQUEST,
				       "malformed JSON at line %d column %d: %s (expected "
				       "{\"version\": V, \"edits\": [...]})",
				       je.line, je.column, je.text);
	}
	if (q->audit)
		json_object_set(q->audit, "edits", edits);
	if (current_rules(q, &cur, &cur_len, cur_version)) {
		json_decref(doc);
		return MHD_YES;
	}
	if (stale(q, json_string_value(v), cur_version, NULL, 0, &ret) == 0) {
		if (xmd_rules_edit(cur, cur_len, edits, &text, &len, err, sizeof(err))) {
			if (q->audit)
				json_object_set_new(q->audit, "before", json_string(cur_version));
			ret = xmd_reply_error(q, MHD_HTTP_BAD_REQUEST, "%s", err);
		} else {
			ret = replace_rules(q, t0, text, len, cur_version);
		}
	}
	free(cur);
	free(text);
	json_decref(doc);
	return ret;
}

/* The new text of the rules, the version checked: parse, validate against
 * the router, save FILE.tmp (fsynced), apply, then FILE.tmp over FILE. */
static int replace_rules(struct xmd_req *q, double t0, const char *text, size_t len,
			 const char *cur_version)
{
	double live_us;
	char new_version[XMD_SHA256_HEX], err[1024];
	struct xm_ruleset rs = { 0 };
	struct xmd_apply a = { 0 };
	json_t *ev = q->audit, *j;
	int ret, errnum = 0;

	xmd_sha256_hex(text, len, new_version);
	if (ev) {
		json_object_set_new(ev, "before", json_string(cur_version));
		json_object_set_new(ev, "after", json_string(new_version));
	}
	if (xmd_parse(text, len, xmd.opt.rules, &rs, &a) ||
	    xmd_apply_ruleset(&rs, xmd.opt.rules, 1, &a)) {
		xm_ruleset_free(&rs);
		return apply_failed(q, &a);
	}
	if (xmd_fleet_on()) {
		/* The store is the source of the rules: publish, not apply. */
		xm_ruleset_free(&rs);
		return xmd_fleet_put(q, text, len);
	}
	if (xmd_rules_stage(xmd.opt.rules, text, len, &errnum, err, sizeof(err))) {
		xm_ruleset_free(&rs);
		return xmd_reply_error(q,
				       errnum == ENOSPC || errnum == EDQUOT ?
					       MHD_HTTP_INSUFFICIENT_STORAGE :
					       MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "%s", err);
	}
	xmd_apply_ruleset(&rs, xmd.opt.rules, 0, &a);
	live_us = now_us() - t0;
	xm_ruleset_free(&rs);
	xmd.last_apply_ok = a.rc == 0;
	snprintf(xmd.last_apply_err, sizeof(xmd.last_apply_err), "%s", a.rc ? a.err : "");
	if (a.rc) {
		xmd_rules_unstage(xmd.opt.rules);
		ret = apply_failed(q, &a);
		xmd_apply_free(&a);
		return ret;
	}
	if (xmd_rules_commit(xmd.opt.rules, err, sizeof(err))) {
		/* Live but not saved: say so plainly (rare: the temp file was
		 * written a moment ago in the same directory). */
		xmd_apply_free(&a);
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "the new rules are live but %s", err);
	}
	fprintf(stderr, "xmasqd: %s (%s) from %s: applied +%u -%u ~%u =%u rules in %.0f us\n",
		q->client.subject, q->client.key_sha256, q->client.from, a.res.added, a.res.removed,
		a.res.changed, a.res.kept, a.res.usecs);
	j = json_pack("{s:b, s:f, s:f, s:s, s:o, s:I, s:I, s:I, s:I, s:I}", "applied", 1, "us",
		      round(a.res.usecs * 10) / 10, "request_us", round(live_us), "version",
		      new_version, "diff", diff_lines(a.diff, a.diff_len), "added",
		      (json_int_t)a.res.added, "removed", (json_int_t)a.res.removed, "changed",
		      (json_int_t)a.res.changed, "kept", (json_int_t)a.res.kept, "ports",
		      (json_int_t)a.res.ports);
	if (ev) {
		json_object_set_new(ev, "result", json_string("applied"));
		json_object_set_new(ev, "diff", diff_lines(a.diff, a.diff_len));
		json_object_set_new(ev, "us", json_real(round(a.res.usecs * 10) / 10));
	}
	xmd_apply_free(&a);
	return xmd_reply_json(q, MHD_HTTP_OK, j);
}
