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

/* The flow table and rule_meta stay mapped between requests, and are let
 * go after a few seconds without one (xmd_api_idle): see
 * xm_snapshot_keep in libxmasq. */
static struct xm_snapshot_keep *keep;

void xmd_api_idle(void)
{
	xm_snapshot_keep_drop(keep);
}

static const struct xm_snapshot_opts *snap_opts(unsigned flags)
{
	static struct xm_snapshot_opts o;

	if (!keep)
		keep = xm_snapshot_keep_new(); /* NULL: each read maps its own */
	o = (struct xm_snapshot_opts){ .keep = keep, .flags = flags };
	return &o;
}

/* /metrics is sent as it is made (xm_prom_stream): 30 MB at 100,000
 * rules never in memory at once, and TLS and the client at work on the
 * first parts while the rest is rendered; the flow table is walked (in a
 * thread) while the rules' series go out, and waited for only before the
 * families that show it. What it is made from lives as long as the
 * response. */
struct metrics {
	struct xm_handle h;
	struct xm_snapshot s;
	struct xm_port_use pu;
	struct xm_snapshot_walk *walk; /* until finished */
	int walk_failed;
	struct xm_prom_stream *g;
	const char *data; /* the part being sent, avail bytes left */
	size_t avail;
	char *fleet; /* the xmasq_fleet_* lines, sent last */
	size_t fleet_len;
};

/* The walk's end (the stream's wait): 0, or -1 (s and pu freed: the
 * answer ends with an error, what was sent stays incomplete). */
static int metrics_walk_done(void *cls)
{
	struct metrics *m = cls;
	char err[512];

	if (!m->walk)
		return m->walk_failed;
	if (xm_snapshot_finish(m->walk, err, sizeof(err))) {
		fprintf(stderr, "xmasqd: /metrics: %s\n", err);
		m->walk_failed = -1;
	}
	m->walk = NULL;
	return m->walk_failed;
}

static void metrics_free(void *cls)
{
	struct metrics *m = cls;

	xm_prom_stream_free(m->g);
	metrics_walk_done(m); /* a client gone before the end */
	if (!m->walk_failed) {
		xm_port_use_free(&m->pu);
		xm_snapshot_free_keep(keep, &m->s);
	}
	xm_close(&m->h);
	free(m->fleet);
	free(m);
}

static ssize_t metrics_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct metrics *m = cls;
	size_t n = 0;

	(void)pos;
	while (n < max) {
		if (!m->avail && m->g) {
			ssize_t got = xm_prom_stream_next(m->g, &m->data);

			if (got < 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			m->avail = (size_t)got;
			if (!got) {
				xm_prom_stream_free(m->g);
				m->g = NULL;
				m->data = m->fleet;
				m->avail = m->fleet_len;
			}
		}
		if (!m->avail)
			break;
		{
			size_t take = m->avail < max - n ? m->avail : max - n;

			memcpy(buf + n, m->data, take);
			m->data += take;
			m->avail -= take;
			n += take;
		}
	}
	return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static int metrics(struct xmd_req *q)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct MHD_Response *r;
	char err[512];

	if (!m)
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	if (xm_open(&m->h, xmd.opt.pin_dir, err, sizeof(err))) {
		free(m);
		return xmd_reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err);
	}
	/* the rules read a window at a time as they are sent: no array of
	 * them all (19 MB of fresh pages at 100,000 rules) */
	if (xm_snapshot_start(&m->h, snap_opts(XM_SNAP_RULE_WINDOW), &m->s, &m->pu, &m->walk, err,
			      sizeof(err))) {
		xm_close(&m->h);
		free(m);
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
	}
	m->g = xm_prom_stream_new(&m->s, &m->pu);
	if (m->g)
		xm_prom_stream_wait(m->g, metrics_walk_done, m);
	if (m->g && xmd_fleet_on() && !(m->fleet = xmd_fleet_metrics(&m->fleet_len))) {
		xm_prom_stream_free(m->g);
		m->g = NULL;
	}
	/* block size: the most asked of metrics_read at once */
	r = m->g ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256 * 1024, metrics_read, m,
						     metrics_free) :
		   NULL;
	if (!r) {
		metrics_free(m);
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	return xmd_reply_response(q, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", r);
}

/* A snapshot of the router rendered into a buffer (/metrics: streamed).
 * Status shows the rules' number only: they are counted, not read. */
static int render(struct xmd_req *q, enum render what)
{
	struct xm_port_use pu;
	struct xm_snapshot s;
	struct xm_handle h;
	char err[512], *buf = NULL;
	size_t len = 0;
	FILE *o;
	int rc, ok = 0;

	if (what == R_PROMETHEUS)
		return metrics(q);
	rc = xm_open(&h, xmd.opt.pin_dir, err, sizeof(err));
	if (rc)
		return xmd_reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err);
	{
		struct xm_snapshot_walk *w;

		rc = xm_snapshot_start(&h, snap_opts(what == R_STATUS ? XM_SNAP_RULE_COUNTS : 0),
				       &s, &pu, &w, err, sizeof(err));
		if (rc == 0)
			rc = xm_snapshot_finish(w, err, sizeof(err));
	}
	if (rc) {
		xm_close(&h);
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
	}
	if ((o = open_memstream(&buf, &len))) {
		if (what == R_STATUS)
			xm_print_status(o, &h, &s, &pu, 1);
		else
			xm_print_stats(o, &s, &pu, 1);
		ok = fclose(o) == 0;
	}
	xm_port_use_free(&pu);
	xm_snapshot_free_keep(keep, &s);
	xm_close(&h);
	if (!ok) {
		free(buf);
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	if (xmd_fleet_on())
		buf = xmd_fleet_status_add(buf, &len);
	return xmd_reply(q, MHD_HTTP_OK, "application/json", buf, len);
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

/* The rules file now and its version (SHA-256 of the text), from
 * rules_cache.c: read and hashed again only when the file changed. */
static int current_rules(struct xmd_req *q, const char **text, size_t *len, const char **version)
{
	char err[512];

	if (xmd_cache_get(text, len, version, err, sizeof(err))) {
		xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
		return -1;
	}
	return 0;
}

int xmd_api_rules_get(struct xmd_req *q)
{
	const char *text, *version;
	size_t len;
	json_t *j;

	if (current_rules(q, &text, &len, &version))
		return MHD_YES;
	j = json_pack("{s:s%, s:s}", "text", text, len, "version", version);
	if (!j)
		return xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "%s is not UTF-8 text: edit it with xmasq apply",
				       xmd.opt.rules);
	return xmd_reply_json(q, MHD_HTTP_OK, j);
}

/* The body {"text": ..., "version": ...}; 0, or the 400 was queued.
 * *doc: what to json_decref after. */
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

/* PUT /api/rules: version check, parse, validate against the router,
 * write FILE.tmp, apply, then the save (store.c). Any failure before the
 * apply changes nothing; a failed apply removes FILE.tmp; a failed save
 * puts the rules before back. */
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

struct prev_rules {
	const char *text; /* the rules file (and live rules) before the change */
	size_t len;
	const char *version;
};

static int replace_rules(struct xmd_req *q, double t0, const char *text, size_t len,
			 const struct prev_rules *prev, int by_lines);

int xmd_api_rules_put(struct xmd_req *q)
{
	double t0 = now_us();
	const char *text, *version;
	struct prev_rules prev;
	json_t *doc = NULL;
	size_t len;
	int ret;

	if (rate_limited(q, &ret) || parse_body(q, &text, &len, &version, &doc, &ret))
		return ret;
	if (current_rules(q, &prev.text, &prev.len, &prev.version)) {
		json_decref(doc);
		return MHD_YES;
	}
	if (stale(q, version, prev.version, text, len, &ret) == 0)
		ret = replace_rules(q, t0, text, len, &prev, 1);
	json_decref(doc);
	return ret;
}

static int patch_fast(struct xmd_req *q, double t0, const struct xmd_edit *ed, const char *given,
		      const struct prev_rules *prev, int *ret);
static char *whole_text(const struct xmd_edit *ed, const char *given,
			const struct prev_rules *prev);

/* PATCH /api/rules {"version": V, "edits": [...]}: the edits (rules_edit.c)
 * made to the file V names. Applied line by line (libxmasq's
 * xm_live_rules) when what is live is known line by line and the edit
 * allows it, else as PUT of the result; the audit log keeps the edits,
 * not the text. */
int xmd_api_rules_patch(struct xmd_req *q)
{
	double t0 = now_us();
	char err[512];
	struct xmd_edit ed = { 0 };
	struct prev_rules prev;
	json_t *doc, *v, *edits;
	json_error_t je;
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
	if (current_rules(q, &prev.text, &prev.len, &prev.version)) {
		json_decref(doc);
		return MHD_YES;
	}
	if (stale(q, json_string_value(v), prev.version, NULL, 0, &ret) == 0) {
		const uint32_t *starts;
		size_t n_lines;

		starts = xmd_cache_line_starts(&n_lines);
		if (xmd_rules_edit(prev.text, prev.len, starts, n_lines, edits, &ed, err,
				   sizeof(err))) {
			if (q->audit)
				json_object_set_new(q->audit, "before", json_string(prev.version));
			ret = xmd_reply_error(q, MHD_HTTP_BAD_REQUEST, "%s", err);
		} else if (patch_fast(q, t0, &ed, NULL, &prev, &ret)) {
			char *text = whole_text(&ed, NULL, &prev);

			ret = text ? replace_rules(q, t0, text, ed.len, &prev, 0) :
				     xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR,
						     "out of memory");
			free(text);
		}
	}
	xmd_edit_free(&ed);
	json_decref(doc);
	return ret;
}

/* The save failed after the switch: the rules before go live again (the
 * full path: what is live is not known line by line any more). */
static void put_back(const struct prev_rules *prev, char *why, size_t whylen)
{
	struct xm_ruleset rs = { 0 };
	struct xmd_apply a;
	size_t n = strlen(why);

	xmd_cache_drop_live();
	if (xmd_parse(prev->text, prev->len, xmd.opt.rules, &rs, &a) == 0)
		xmd_apply_ruleset(&rs, xmd.opt.rules, 0, &a);
	xm_ruleset_free(&rs);
	xmd_apply_free(&a);
	xmd.last_apply_ok = a.rc == 0;
	snprintf(xmd.last_apply_err, sizeof(xmd.last_apply_err), "%s", a.rc ? a.err : "");
	if (a.rc == 0)
		snprintf(why + n, whylen - n, " (nothing was changed: the rules before are live)");
	else
		snprintf(why + n, whylen - n,
			 " (the new rules are live and the rules before could not be put back: "
			 "%s)",
			 a.err);
}

/* After the switch: the save (fsync, rename), the previous rules put back
 * if it fails. 0, or the error reply was queued (*ret). */
static int save_after_switch(struct xmd_req *q, const struct prev_rules *prev, const char *text,
			     size_t len, int *ret)
{
	char err[1400];
	int rc = xmd_rules_commit(xmd.opt.rules, text, len, err, sizeof(err));

	if (rc == 0)
		return 0;
	if (rc == -1) {
		put_back(prev, err, sizeof(err));
		*ret = xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
		return -1;
	}
	/* Live and in FILE, the directory entry maybe not on disk yet. */
	*ret = xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "the new rules are live but %s",
			       err);
	return -1;
}

/* The 200 of an applied change, audited. */
static int applied(struct xmd_req *q, double t0, const struct xmd_apply *a, const char *version,
		   double saved_at)
{
	json_t *ev = q->audit, *j;

	fprintf(stderr, "xmasqd: %s (%s) from %s: applied +%u -%u ~%u =%u rules in %.0f us%s\n",
		q->client.subject, q->client.key_sha256, q->client.from, a->res.added,
		a->res.removed, a->res.changed, a->res.kept, a->res.usecs,
		a->res.incremental ? " (line by line)" : "");
	j = json_pack("{s:b, s:f, s:f, s:f, s:b, s:s, s:o, s:I, s:I, s:I, s:I, s:I}", "applied", 1,
		      "us", round(a->res.usecs * 10) / 10, "request_us",
		      round(a->res.switched_at - t0), "saved_us", round(saved_at - t0),
		      "incremental", a->res.incremental, "version", version, "diff",
		      diff_lines(a->diff, a->diff_len), "added", (json_int_t)a->res.added,
		      "removed", (json_int_t)a->res.removed, "changed", (json_int_t)a->res.changed,
		      "kept", (json_int_t)a->res.kept, "ports", (json_int_t)a->res.ports);
	if (ev) {
		json_object_set_new(ev, "result", json_string("applied"));
		json_object_set_new(ev, "diff", diff_lines(a->diff, a->diff_len));
		json_object_set_new(ev, "us", json_real(round(a->res.usecs * 10) / 10));
	}
	return xmd_reply_json(q, MHD_HTTP_OK, j);
}

static int save_failed(struct xmd_req *q, int errnum, const char *err)
{
	return xmd_reply_error(q,
			       errnum == ENOSPC || errnum == EDQUOT ?
				       MHD_HTTP_INSUFFICIENT_STORAGE :
				       MHD_HTTP_INTERNAL_SERVER_ERROR,
			       "%s", err);
}

/* The whole new text, in the cache's room: given's copy, or the edit made
 * to the text before. NULL when out of memory. */
static char *whole_text(const struct xmd_edit *ed, const char *given, const struct prev_rules *prev)
{
	const uint32_t *starts;
	size_t n_lines;
	char *t;

	if (!given) {
		starts = xmd_cache_line_starts(&n_lines);
		return xmd_edit_whole(prev->text, prev->len, starts, n_lines, ed);
	}
	t = xmd_cache_room(ed->len + 1);
	if (t) {
		memcpy(t, given, ed->len);
		t[ed->len] = 0;
	}
	return t;
}

/* The edit line by line: 1 when it cannot be (then the full path), else
 * 0 with the reply queued (*ret). given: the whole new text when the
 * caller has it (a PUT), else NULL: it is made from prev after the switch,
 * so that nothing of the size of the file is written before. */
static int patch_fast(struct xmd_req *q, double t0, const struct xmd_edit *ed, const char *given,
		      const struct prev_rules *prev, int *ret)
{
	struct xm_live_rules *lr = xmd_cache_lr();
	double saved_at;
	int reserved;
	struct xm_apply_opts o = { 0 };
	struct xmd_apply a = { 0 };
	char new_version[XMD_SHA256_HEX], err[1400], *text = NULL;
	struct xm_handle h;
	int errnum = 0;

	if (!lr || xmd_fleet_on() || xmd.opt.network)
		return 1;
	if (xm_open(&h, xmd.opt.pin_dir, a.err, sizeof(a.err)))
		return 1;
	/* FILE.tmp's room first: a full or read-only disk fails before
	 * anything goes live; the text is written after the switch (where
	 * the file system cannot reserve, before: the whole text made now). */
	reserved = xmd_rules_reserve(xmd.opt.rules, ed->len, &errnum, err, sizeof(err));
	if (reserved == 1) {
		text = whole_text(ed, given, prev);
		if (!text)
			snprintf(err, sizeof(err), "out of memory");
		else if (xmd_rules_stage(xmd.opt.rules, text, ed->len, &errnum, err, sizeof(err)))
			reserved = -1;
	}
	if (reserved < 0 || (reserved == 1 && !text)) {
		xm_close(&h);
		free(text);
		*ret = save_failed(q, errnum, err);
		return 0;
	}
	o.diff_out = open_memstream(&a.diff, &a.diff_len);
	if (!o.diff_out) {
		xm_close(&h);
		xmd_rules_unstage(xmd.opt.rules);
		free(text);
		return 1;
	}
	a.rc = xm_live_rules_apply(lr, &h, given ? given : ed->ins, given ? ed->len : ed->ins_len,
				   ed->hunks, ed->n_hunks, xmd.opt.rules, &o, &a.res, a.err,
				   sizeof(a.err));
	fclose(o.diff_out);
	if (a.rc == 0)
		xm_refresh_tx_paths(&h, NULL);
	xm_close(&h);
	if (a.rc) {
		xmd_rules_unstage(xmd.opt.rules);
		free(text);
		/* 1: nothing was touched, what is kept stays right (the full
		 * path drops it if it applies); -1: it may be behind */
		if (a.rc == -1)
			xmd_cache_drop_live();
		if (a.rc == 1) {
			xmd_apply_free(&a);
			return 1;
		}
		if (q->audit)
			json_object_set_new(q->audit, "before", json_string(prev->version));
		*ret = apply_failed(q, &a);
		xmd_apply_free(&a);
		return 0;
	}
	xmd.last_apply_ok = 1;
	xmd.last_apply_err[0] = 0;
	if (!text && !(text = whole_text(ed, given, prev))) {
		/* live, and no memory to save it: as a failed save */
		snprintf(err, sizeof(err), "out of memory making the rules file's new text");
		xmd_rules_unstage(xmd.opt.rules);
		put_back(prev, err, sizeof(err));
		*ret = xmd_reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
		xmd_apply_free(&a);
		return 0;
	}
	if (save_after_switch(q, prev, reserved == 0 ? text : NULL, ed->len, ret)) {
		free(text);
		xmd_apply_free(&a);
		return 0;
	}
	xmd_sha256_hex(text, ed->len, new_version);
	if (q->audit) {
		json_object_set_new(q->audit, "before", json_string(prev->version));
		json_object_set_new(q->audit, "after", json_string(new_version));
	}
	saved_at = now_us();
	xmd_cache_put(text, ed->len, new_version, 1); /* lr follows the new text */
	*ret = applied(q, t0, &a, new_version, saved_at);
	xmd_apply_free(&a);
	return 0;
}

/* The new text of the rules, the version checked: parse, validate against
 * the router, write FILE.tmp, apply, then save it (fsync, rename over
 * FILE; the rules before put back if that fails). by_lines: first as an
 * edit of the lines between those both texts begin and end with. */
static int replace_rules(struct xmd_req *q, double t0, const char *text, size_t len,
			 const struct prev_rules *prev, int by_lines)
{
	char new_version[XMD_SHA256_HEX], err[1024], *copy;
	struct xm_ruleset rs = { 0 };
	struct xmd_apply a = { 0 };
	json_t *ev = q->audit;
	int ret, errnum = 0;
	double saved_at;

	if (by_lines && xmd_cache_lr() && !xmd_fleet_on() && !xmd.opt.network) {
		struct xm_text_hunk hk;
		struct xmd_edit ed = { .hunks = &hk, .n_hunks = 1, .len = len };

		xmd_text_hunk(prev->text, prev->len, text, len, &hk);
		if (patch_fast(q, t0, &ed, text, prev, &ret) == 0)
			return ret;
	}
	xmd_sha256_hex(text, len, new_version);
	if (ev) {
		json_object_set_new(ev, "before", json_string(prev->version));
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
		return save_failed(q, errnum, err);
	}
	xmd_cache_drop_live();
	xmd_apply_ruleset(&rs, xmd.opt.rules, 0, &a);
	xmd.last_apply_ok = a.rc == 0;
	snprintf(xmd.last_apply_err, sizeof(xmd.last_apply_err), "%s", a.rc ? a.err : "");
	if (a.rc) {
		xm_ruleset_free(&rs);
		xmd_rules_unstage(xmd.opt.rules);
		ret = apply_failed(q, &a);
		xmd_apply_free(&a);
		return ret;
	}
	if (save_after_switch(q, prev, NULL, 0, &ret)) {
		xm_ruleset_free(&rs);
		xmd_apply_free(&a);
		return ret;
	}
	saved_at = now_us();
	copy = malloc(len + 1);
	if (copy) {
		memcpy(copy, text, len);
		xmd_cache_put(copy, len, new_version, 0);
		xmd_cache_live(&rs); /* for the next edit */
	} else {
		xmd_cache_put(NULL, 0, "", 0);
	}
	xm_ruleset_free(&rs);
	ret = applied(q, t0, &a, new_version, saved_at);
	xmd_apply_free(&a);
	return ret;
}
