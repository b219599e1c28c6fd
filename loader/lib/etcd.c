// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* etcd v3 over its JSON gateway: requests are JSON objects POSTed to
 * /v3/..., keys and values base64 in them, 64-bit numbers as strings. A
 * watch is one streaming POST whose response is a sequence of JSON
 * objects, read one at a time with jansson (JSON_DISABLE_EOF_CHECK tells
 * where each ends). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include "etcd.h"

#define CONNECT_TIMEOUT_MS 700

int xm_etcd_init(struct xm_etcd *e, const char *urls, char *err, size_t errlen)
{
	const char *p = urls;

	memset(e, 0, sizeof(*e));
	e->timeout_ms = 1500;
	while (*p) {
		size_t len = strcspn(p, ",");

		if (len == 0 || (strncmp(p, "http://", 7) && strncmp(p, "https://", 8)) ||
		    memchr(p, ' ', len)) {
			snprintf(err, errlen,
				 "etcd endpoint '%.*s' is not http://HOST:PORT (give URLs "
				 "separated "
				 "by commas, e.g. http://192.0.2.10:2379,http://192.0.2.11:2379)",
				 (int)len, p);
			goto fail;
		}
		if (e->n == XM_ETCD_MAX_ENDPOINTS) {
			snprintf(err, errlen, "more than %d etcd endpoints: give at most %d",
				 XM_ETCD_MAX_ENDPOINTS, XM_ETCD_MAX_ENDPOINTS);
			goto fail;
		}
		while (len > 0 && p[len - 1] == '/')
			len--;
		e->urls[e->n] = strndup(p, len);
		if (!e->urls[e->n]) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		e->n++;
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	if (e->n == 0) {
		snprintf(err, errlen, "no etcd endpoint given (e.g. http://192.0.2.10:2379)");
		return -1;
	}
	return 0;
fail:
	xm_etcd_free(e);
	return -1;
}

void xm_etcd_free(struct xm_etcd *e)
{
	for (int i = 0; i < e->n; i++)
		free(e->urls[i]);
	e->n = 0;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	e->curl = e->headers = NULL;
}

void xm_etcd_kvs_free(struct xm_etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; kvs && i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

/* ---- base64 and numbers as the gateway writes them ---- */
static json_t *b64(const void *data, size_t len)
{
	gnutls_datum_t in = { (unsigned char *)data, (unsigned)len }, out = { 0 };
	json_t *s;

	if (len == 0)
		return json_string("");
	if (gnutls_base64_encode2(&in, &out))
		return NULL;
	s = json_stringn((const char *)out.data, out.size);
	gnutls_free(out.data);
	return s;
}

/* A base64 string into a malloc'd NUL-terminated buffer; "" or absent
 * gives an empty one. NULL when it is not base64. */
static char *unb64(json_t *s, size_t *len)
{
	gnutls_datum_t in, out = { 0 };
	char *buf;

	*len = 0;
	if (!json_is_string(s) || json_string_length(s) == 0)
		return calloc(1, 1);
	in.data = (unsigned char *)json_string_value(s);
	in.size = (unsigned)json_string_length(s);
	if (gnutls_base64_decode2(&in, &out))
		return NULL;
	buf = malloc(out.size + 1);
	if (buf) {
		memcpy(buf, out.data, out.size);
		buf[out.size] = 0;
		*len = out.size;
	}
	gnutls_free(out.data);
	return buf;
}

/* int64 fields come as strings ("42"); absent means 0. */
static int64_t num(json_t *o, const char *field)
{
	json_t *v = json_object_get(o, field);

	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return json_integer_value(v);
	return 0;
}

static json_t *num_json(int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	return json_string(s);
}

static int kv_from_json(json_t *j, struct xm_etcd_kv *kv)
{
	size_t klen;

	memset(kv, 0, sizeof(*kv));
	kv->key = unb64(json_object_get(j, "key"), &klen);
	kv->value = unb64(json_object_get(j, "value"), &kv->len);
	kv->mod_revision = num(j, "mod_revision");
	kv->lease = num(j, "lease");
	if (!kv->key || !kv->value) {
		free(kv->key);
		free(kv->value);
		return -1;
	}
	return 0;
}

/* ---- one request, endpoints in turn ---- */
struct buf {
	char *data;
	size_t len, cap;
};

static int buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n) ? 0 : size * n;
}

/* JSON bodies; no "Expect: 100-continue" (curl sends it before a large
 * body and waits a round trip for the go-ahead). */
static struct curl_slist *json_headers(void)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json"), *h2;

	if (!h)
		return NULL;
	h2 = curl_slist_append(h, "Expect:");
	if (!h2)
		curl_slist_free_all(h);
	return h2;
}

static void easy_setup(CURL *c, const char *url, const char *body, struct curl_slist *hdr)
{
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
}

static CURL *easy(const char *url, const char *body, struct curl_slist *hdr)
{
	CURL *c = curl_easy_init();

	if (c)
		easy_setup(c, url, body, hdr);
	return c;
}

/* The gateway's error text: {"error": "...", "message": "..."} */
static void gateway_error(const char *data, char *out, size_t len)
{
	json_t *j = json_loads(data, 0, NULL);
	const char *m = json_string_value(json_object_get(j, "message"));

	if (!m)
		m = json_string_value(json_object_get(j, "error"));
	snprintf(out, len, "%.200s", m ? m : data);
	json_decref(j);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Answers after which etcd did not apply the request: it refused it
 * before proposing (no leader, overloaded) or it was malformed. */
static int definite_refusal(long code, const char *message)
{
	return code == 400 || code == 404 || strstr(message, "no leader") ||
	       strstr(message, "too many requests") || strstr(message, "not capable") ||
	       strstr(message, "too large");
}

/* POSTs body (consumed) to path; the response object, or NULL with err
 * (and e->ambiguous). Endpoints in turn, the last one that answered
 * first; one curl handle, so a connection is reused while it lives. */
static json_t *call(struct xm_etcd *e, const char *path, json_t *body, char *err, size_t errlen)
{
	char *text = json_dumps(body, JSON_COMPACT);
	char why[XM_ETCD_MAX_ENDPOINTS][400];
	json_t *res = NULL;
	int ambiguous = -1; /* the attempt that was sent and not answered */

	json_decref(body);
	e->ambiguous = 0;
	if (!e->headers)
		e->headers = json_headers();
	if (!e->curl)
		e->curl = curl_easy_init();
	if (!text || !e->headers || !e->curl) {
		snprintf(err, errlen, "out of memory");
		free(text);
		return NULL;
	}
	for (int i = 0; i < e->n && !res; i++) {
		int k = (e->cur + i) % e->n, last = i == e->n - 1;
		char url[512];
		struct buf b = { 0 };
		long code = 0, sent = 0, timeout = e->timeout_ms;
		CURL *c = e->curl;
		CURLcode rc;

		if (e->deadline_ms) {
			uint64_t now = mono_ms();

			if (now + 50 >= e->deadline_ms && i > 0) {
				snprintf(why[i], sizeof(why[i]), "%s: not tried (out of time)",
					 e->urls[k]);
				last = 1;
				goto next;
			}
			if (now + (uint64_t)timeout > e->deadline_ms)
				timeout = now + 50 >= e->deadline_ms ? 50 :
								       (long)(e->deadline_ms - now);
		}
		snprintf(url, sizeof(url), "%s%s", e->urls[k], path);
		easy_setup(c, url, text, e->headers);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		rc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent);
		if (rc != CURLE_OK) {
			snprintf(why[i], sizeof(why[i]), "%s: %s", e->urls[k],
				 curl_easy_strerror(rc));
			/* Sent and no answer: the member may have applied it. */
			if (sent > 0 && rc != CURLE_COULDNT_CONNECT &&
			    rc != CURLE_COULDNT_RESOLVE_HOST)
				ambiguous = i;
		} else if (code != 200) {
			char m[220];

			gateway_error(b.data ? b.data : "", m, sizeof(m));
			snprintf(why[i], sizeof(why[i]), "%.100s: HTTP %ld: %.220s", e->urls[k],
				 code, m);
			if (!definite_refusal(code, m))
				ambiguous = i;
		} else if (!(res = json_loadb(b.data ? b.data : "", b.len, 0, NULL))) {
			snprintf(why[i], sizeof(why[i]), "%s: the answer is not JSON", e->urls[k]);
			ambiguous = i;
		} else {
			e->cur = k;
		}
		free(b.data);
next:
		if (res && ambiguous >= 0) {
			e->ambiguous = 1;
			snprintf(err, errlen, "%s", why[ambiguous]);
		}
		if (!res && last) {
			size_t off = (size_t)snprintf(err, errlen, "no etcd member took it:");

			e->ambiguous = ambiguous >= 0;
			for (int w = 0; w <= i && off < errlen; w++)
				off += (size_t)snprintf(err + off, errlen - off, "%s %s",
							w ? ";" : "", why[w]);
			break;
		}
	}
	free(text);
	return res;
}

/* The range request for key, or for every key under it. */
static json_t *range_req(const char *key, int prefix)
{
	json_t *r = json_object();
	size_t len = strlen(key);

	json_object_set_new(r, "key", b64(key, len));
	if (prefix) {
		/* range_end: the prefix with its last byte + 1 */
		char *end = strdup(key);

		if (end && len) {
			end[len - 1]++;
			json_object_set_new(r, "range_end", b64(end, len));
		}
		free(end);
	}
	return r;
}

int xm_etcd_range(struct xm_etcd *e, const char *key, int flags, struct xm_etcd_kv **kvs, size_t *n,
		  int64_t *revision, char *err, size_t errlen)
{
	json_t *req = range_req(key, flags & XM_ETCD_PREFIX), *res, *arr;
	size_t i;

	if (flags & XM_ETCD_KEYS_ONLY)
		json_object_set_new(req, "keys_only", json_true());
	res = call(e, "/v3/kv/range", req, err, errlen);

	*kvs = NULL;
	*n = 0;
	if (!res)
		return -1;
	*revision = num(json_object_get(res, "header"), "revision");
	arr = json_object_get(res, "kvs");
	*kvs = calloc(json_array_size(arr) + 1, sizeof(**kvs));
	for (i = 0; *kvs && i < json_array_size(arr); i++) {
		if (kv_from_json(json_array_get(arr, i), &(*kvs)[*n]) == 0)
			(*n)++;
	}
	json_decref(res);
	if (!*kvs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int xm_etcd_put(struct xm_etcd *e, const char *key, const char *value, size_t len, int64_t lease,
		int64_t if_mod_revision, int64_t *revision, char *err, size_t errlen)
{
	json_t *txn = json_object(), *put = json_object(), *res, *rr;
	int ok;

	json_object_set_new(put, "key", b64(key, strlen(key)));
	json_object_set_new(put, "value", b64(value, len));
	if (lease)
		json_object_set_new(put, "lease", num_json(lease));
	json_object_set_new(txn, "success", json_pack("[{s:o}]", "request_put", put));
	if (if_mod_revision >= 0) {
		json_t *cmp = json_object();

		json_object_set_new(cmp, "key", b64(key, strlen(key)));
		json_object_set_new(cmp, "target", json_string("MOD"));
		json_object_set_new(cmp, "result", json_string("EQUAL"));
		json_object_set_new(cmp, "mod_revision", num_json(if_mod_revision));
		json_object_set_new(txn, "compare", json_pack("[o]", cmp));
		json_object_set_new(txn, "failure",
				    json_pack("[{s:o}]", "request_range", range_req(key, 0)));
	}
	res = call(e, "/v3/kv/txn", txn, err, errlen);
	if (!res)
		return -1;
	ok = json_is_true(json_object_get(res, "succeeded"));
	*revision = num(json_object_get(res, "header"), "revision");
	if (!ok) {
		/* responses[0].response_range.kvs[0].mod_revision */
		rr = json_object_get(json_array_get(json_object_get(res, "responses"), 0), "respons"
											   "e_"
											   "range");
		*revision = num(json_array_get(json_object_get(rr, "kvs"), 0), "mod_revision");
	}
	json_decref(res);
	return ok ? 0 : 1;
}

int xm_etcd_lease_grant(struct xm_etcd *e, int ttl_s, int64_t *id, char *err, size_t errlen)
{
	json_t *res = call(e, "/v3/lease/grant", json_pack("{s:I}", "TTL", (json_int_t)ttl_s), err,
			   errlen);

	if (!res)
		return -1;
	*id = num(res, "ID");
	json_decref(res);
	if (*id == 0) {
		snprintf(err, errlen, "etcd granted no lease");
		return -1;
	}
	return 0;
}

int xm_etcd_lease_keepalive(struct xm_etcd *e, int64_t id, int64_t *ttl, char *err, size_t errlen)
{
	json_t *res =
		call(e, "/v3/lease/keepalive", json_pack("{s:o}", "ID", num_json(id)), err, errlen);

	if (!res)
		return -1;
	/* The gateway streams: {"result": {"ID", "TTL"}} */
	*ttl = num(json_object_get(res, "result"), "TTL");
	json_decref(res);
	return 0;
}

/* ---- watch ---- */
struct watch {
	struct buf b;
	size_t off, tried; /* tried: what was unparsed at the last try */
	int created, stop, failed, compacted;
	int64_t compact_revision;
	char error[256];
	int (*on_event)(const struct xm_etcd_kv *kv, int deleted, void *arg);
	int (*keep_going)(void *arg);
	void *arg;
	long idle_ms;
	struct timespec last;
};

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* One message: {"result": {"created", "events": [...], "compact_revision",
 * "canceled"}} or {"error": ...}. */
static void watch_message(struct watch *w, json_t *m)
{
	json_t *r = json_object_get(m, "result"), *ev;
	size_t i;

	if (!r) {
		json_t *e = json_object_get(m, "error");
		const char *msg = json_string_value(json_object_get(e, "message"));

		snprintf(w->error, sizeof(w->error), "watch failed: %s", msg ? msg : "(no reason)");
		w->failed = 1;
		return;
	}
	if (json_is_true(json_object_get(r, "created"))) {
		w->created = 1;
		if (w->on_event(NULL, 0, w->arg))
			w->stop = 1;
	}
	if (num(r, "compact_revision") > 0) {
		w->compact_revision = num(r, "compact_revision");
		w->compacted = 1;
		return;
	}
	if (json_is_true(json_object_get(r, "canceled"))) {
		const char *why = json_string_value(json_object_get(r, "cancel_reason"));

		snprintf(w->error, sizeof(w->error), "watch canceled by etcd: %s",
			 why ? why : "(no reason)");
		w->failed = 1;
		return;
	}
	json_array_foreach(json_object_get(r, "events"), i, ev)
	{
		struct xm_etcd_kv kv;
		const char *type = json_string_value(json_object_get(ev, "type"));

		if (kv_from_json(json_object_get(ev, "kv"), &kv))
			continue;
		if (w->on_event(&kv, type && !strcmp(type, "DELETE"), w->arg))
			w->stop = 1;
		free(kv.key);
		free(kv.value);
		if (w->stop)
			return;
	}
}

static size_t watch_data(char *p, size_t size, size_t n, void *arg)
{
	struct watch *w = arg;
	int delimited = memchr(p, '\n', size * n) != NULL;

	if (buf_add(&w->b, p, size * n))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &w->last);
	/* The gateway ends each message with a newline: parse when one came,
	 * or when the unparsed part has doubled since the last try, so a
	 * message of megabytes is not parsed again at each piece of it. */
	if (!delimited && w->tried && w->b.len - w->off < 2 * w->tried)
		return size * n;
	for (;;) {
		json_error_t je;
		json_t *m;

		w->off += strspn(w->b.data + w->off, " \r\n\t");
		if (w->off >= w->b.len)
			break;
		m = json_loadb(w->b.data + w->off, w->b.len - w->off, JSON_DISABLE_EOF_CHECK, &je);
		if (!m) {
			w->tried = w->b.len - w->off; /* the rest of it has not come yet */
			break;
		}
		w->tried = 0;
		w->off += (size_t)je.position;
		watch_message(w, m);
		json_decref(m);
		if (w->stop || w->failed || w->compacted)
			return 0;
	}
	if (w->off == w->b.len) {
		w->b.len = w->off = 0;
	} else if (w->off > (1u << 20)) {
		memmove(w->b.data, w->b.data + w->off, w->b.len - w->off);
		w->b.len -= w->off;
		w->off = 0;
	}
	return size * n;
}

static int watch_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct watch *w = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	if (w->keep_going && !w->keep_going(w->arg)) {
		w->stop = 1;
		return 1;
	}
	if (w->idle_ms > 0 && ms_since(&w->last) > w->idle_ms) {
		w->stop = 1;
		return 1;
	}
	return 0;
}

int xm_etcd_watch(struct xm_etcd *e, const char *key, int prefix, int64_t start_revision,
		  long idle_ms,
		  int (*on_event)(const struct xm_etcd_kv *kv, int deleted, void *arg),
		  int (*keep_going)(void *arg), void *arg, int *created, int64_t *compact_revision,
		  char *err, size_t errlen)
{
	json_t *cr = range_req(key, prefix), *req;
	struct curl_slist *hdr = json_headers();
	char *text, why[XM_ETCD_MAX_ENDPOINTS][400];
	int rc = -1;

	*created = 0;
	*compact_revision = 0;
	json_object_set_new(cr, "start_revision", num_json(start_revision));
	req = json_pack("{s:o}", "create_request", cr);
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	for (int i = 0; i < e->n && text; i++) {
		int k = (e->cur + i) % e->n;
		struct watch w = { .on_event = on_event,
				   .keep_going = keep_going,
				   .arg = arg,
				   .idle_ms = idle_ms };
		char url[512];
		CURLcode cc;
		long code = 0;
		CURL *c;

		snprintf(url, sizeof(url), "%s/v3/watch", e->urls[k]);
		c = easy(url, text, hdr);
		if (!c)
			break;
		clock_gettime(CLOCK_MONOTONIC, &w.last);
		/* a revision of 100,000 rules is a message of about 6 MB */
		curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_data);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, watch_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, &w);
		cc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_cleanup(c);
		free(w.b.data);
		if (w.created)
			*created = 1;
		if (w.compacted) {
			*compact_revision = w.compact_revision;
			e->cur = k;
			rc = 1;
			break;
		}
		if (w.stop) {
			e->cur = k;
			rc = 0;
			break;
		}
		if (w.failed)
			snprintf(why[i], sizeof(why[i]), "%.100s: %.256s", e->urls[k], w.error);
		else if (cc != CURLE_OK)
			snprintf(why[i], sizeof(why[i]), "%s: %s", e->urls[k],
				 curl_easy_strerror(cc));
		else
			snprintf(why[i], sizeof(why[i]), "%s: the watch stream ended (HTTP %ld)",
				 e->urls[k], code);
		if (w.created) {
			/* It was up: the caller resumes from what it saw. */
			e->cur = (k + 1) % e->n;
			snprintf(err, errlen, "etcd watch broke: %s", why[i]);
			break;
		}
		if (i == e->n - 1) {
			size_t off = (size_t)snprintf(err, errlen, "etcd unreachable:");

			e->cur = (k + 1) % e->n;
			for (int x = 0; x <= i && off < errlen; x++)
				off += (size_t)snprintf(err + off, errlen - off, "%s %s",
							x ? ";" : "", why[x]);
		}
	}
	if (!text)
		snprintf(err, errlen, "out of memory");
	curl_slist_free_all(hdr);
	free(text);
	return rc;
}
