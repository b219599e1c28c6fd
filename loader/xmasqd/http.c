// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The HTTPS daemon: every request is checked before it is routed.
 *
 * - Host must be --origin's HOST:PORT or --listen's ADDR:PORT (a page of
 *   another name resolved to this address, DNS rebinding, gets 421).
 * - A state-changing request (PUT, POST) needs Origin equal to --origin,
 *   Sec-Fetch-Site same-origin when the browser sends it (403 otherwise),
 *   and Content-Type application/json (415 otherwise): a cross-site form
 *   post or a no-cors fetch can send neither, and no CORS header is ever
 *   sent, so no preflight can succeed.
 * - The API refuses Sec-Fetch-Site cross-site and same-site reads too.
 * - Bodies: at most XMD_BODY_MAX (413).
 * - Every response: Content-Security-Policy default-src 'self';
 *   frame-ancestors 'none', X-Content-Type-Options nosniff, Cache-Control
 *   no-store. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <microhttpd.h>
#include "xmasqd.h"

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* Every response: no framing, no sniffing, no caching, nothing loaded
 * from elsewhere (the page's assets are all served here). */
static void add_security_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; frame-ancestors 'none'");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

int xmd_reply_response(struct xmd_req *q, unsigned status, const char *type, struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	add_security_headers(r);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow",
					!strcmp(q->url, "/api/rules") ? "GET, HEAD, PUT, PATCH" :
					!strcmp(q->url, "/api/rules/check") ? "POST" :
									      "GET, HEAD");
	if (q->extra_name[0])
		MHD_add_response_header(r, q->extra_name, q->extra_value);
	if (q->audit) {
		json_t *ev = q->audit;

		q->audit = NULL;
		json_object_set_new(ev, "status", json_integer(status));
		if (!json_object_get(ev, "result"))
			json_object_set_new(ev, "result", json_string("refused"));
		xmd_audit_write(ev);
	}
	ret = MHD_queue_response(q->conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

int xmd_reply(struct xmd_req *q, unsigned status, const char *type, char *body, size_t len)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(body ? len : 0, body ? body : (char *)"",
					    body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	return xmd_reply_response(q, status, type, r);
}

int xmd_reply_json(struct xmd_req *q, unsigned status, void *json)
{
	char *s = json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
	size_t len;

	json_decref(json);
	if (!s)
		return xmd_reply(q, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, 0);
	len = strlen(s);
	s = realloc(s, len + 2);
	if (!s)
		return MHD_NO;
	s[len++] = '\n';
	s[len] = 0;
	return xmd_reply(q, status, "application/json", s, len);
}

int xmd_reply_error(struct xmd_req *q, unsigned status, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (q->audit)
		json_object_set_new(q->audit, "error", json_string(msg));
	j = json_pack("{s:s}", "error", msg);
	if (!j) /* not UTF-8: say it without the quoted bytes */
		j = json_pack("{s:s}", "error", "request refused (message not UTF-8)");
	return xmd_reply_json(q, status, j);
}

static int is_api(const char *url)
{
	return !strncmp(url, "/api/", 5) || !strcmp(url, "/metrics");
}

static int changes_state(const char *method)
{
	return strcmp(method, "GET") && strcmp(method, "HEAD");
}

/* "application/json", optionally with parameters ("; charset=utf-8"). */
static int is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	return ct && !strncasecmp(ct, "application/json", n) &&
	       (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

/* The checks on the headers alone; 0 to go on, else the reply was queued. */
static int check_headers(struct xmd_req *q, int *queued)
{
	struct MHD_Connection *c = q->conn;
	const char *host = header(c, "Host"), *site = header(c, "Sec-Fetch-Site");
	const char *origin = header(c, "Origin"), *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);

	*queued = 1;
	if (!host || (strcasecmp(host, xmd.origin_host) && strcasecmp(host, xmd.listen_host) &&
		      (!xmd.origin_host_bare[0] || strcasecmp(host, xmd.origin_host_bare))))
		return xmd_reply_error(q, 421,
				       "Host '%s' is not this server's (expected %s, as in "
				       "--origin)",
				       host ? host : "", xmd.origin_host);
	if (changes_state(q->method)) {
		if (!origin || strcasecmp(origin, xmd.origin))
			return xmd_reply_error(q, MHD_HTTP_FORBIDDEN,
					       "a change needs Origin %s (got '%s'): cross-site "
					       "requests are refused",
					       xmd.origin, origin ? origin : "none");
		if (site && strcmp(site, "same-origin"))
			return xmd_reply_error(q, MHD_HTTP_FORBIDDEN,
					       "a change needs Sec-Fetch-Site same-origin (got "
					       "'%s')",
					       site);
		if (!is_json_type(header(c, MHD_HTTP_HEADER_CONTENT_TYPE)))
			return xmd_reply_error(q, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
					       "a change needs Content-Type application/json");
		if (cl && strtoull(cl, NULL, 10) > XMD_BODY_MAX)
			return xmd_reply_error(q, MHD_HTTP_CONTENT_TOO_LARGE,
					       "the body is larger than %u bytes", XMD_BODY_MAX);
	} else if (is_api(q->url) && site && strcmp(site, "same-origin") && strcmp(site, "none")) {
		return xmd_reply_error(q, MHD_HTTP_FORBIDDEN,
				       "the API answers the page only (Sec-Fetch-Site '%s')", site);
	}
	*queued = 0;
	return MHD_YES;
}

static int serve_asset(struct xmd_req *q)
{
	const struct xmd_asset *a = xmd_asset_find(q->url);
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!a)
		return xmd_reply_error(q, MHD_HTTP_NOT_FOUND, "%s: no such page or endpoint",
				       q->url);
	if (changes_state(q->method))
		return xmd_reply_error(q, MHD_HTTP_METHOD_NOT_ALLOWED, "%s: GET only", q->url);
	/* The embedded bytes live as long as the program: no copy. */
	r = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", xmd_content_type(a->path));
	add_security_headers(r);
	ret = MHD_queue_response(q->conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static const struct route {
	const char *method, *url;
	int (*run)(struct xmd_req *q);
} routes[] = {
	{ "GET", "/api/status", xmd_api_status },
	{ "GET", "/api/stats", xmd_api_stats },
	{ "GET", "/api/conntrack", xmd_api_conntrack },
	{ "GET", "/api/rules", xmd_api_rules_get },
	{ "PUT", "/api/rules", xmd_api_rules_put },
	{ "PATCH", "/api/rules", xmd_api_rules_patch },
	{ "POST", "/api/rules/check", xmd_api_rules_check },
	{ "GET", "/metrics", xmd_api_metrics },
};

static int route(struct xmd_req *q)
{
	int path_known = 0;
	const char *m = strcmp(q->method, "HEAD") ? q->method : "GET";

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].url, q->url))
			continue;
		path_known = 1;
		if (!strcmp(routes[i].method, m))
			return routes[i].run(q);
	}
	if (path_known)
		return xmd_reply_error(q, MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: method not allowed",
				       q->method, q->url);
	if (is_api(q->url))
		return xmd_reply_error(q, MHD_HTTP_NOT_FOUND, "%s: no such endpoint", q->url);
	return serve_asset(q);
}

static int append_body(struct xmd_req *q, const char *data, size_t n)
{
	if (q->too_big || q->len + n > XMD_BODY_MAX) {
		q->too_big = 1;
		return 0;
	}
	if (q->len + n + 1 > q->cap) {
		size_t cap = q->cap ? q->cap : 16384;
		char *p;

		while (cap < q->len + n + 1)
			cap *= 2;
		p = realloc(q->body, cap);
		if (!p)
			return -1;
		q->body = p;
		q->cap = cap;
	}
	memcpy(q->body + q->len, data, n);
	q->len += n;
	q->body[q->len] = 0;
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct xmd_req *q = *con_cls;
	int queued;

	(void)cls;
	(void)version;
	if (!q) {
		const union MHD_ConnectionInfo *ci;

		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		*con_cls = q;
		q->conn = conn;
		q->url = url;
		q->method = method;
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		if (ci && ci->tls_session)
			xmd_tls_client(ci->tls_session, &q->client);
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		xmd_format_sockaddr(ci ? ci->client_addr : NULL, q->client.from,
				    sizeof(q->client.from));
		if ((!strcmp(method, "PUT") || !strcmp(method, "PATCH")) && !strcmp(url, "/api/"
											 "rules"))
			q->audit = json_pack("{s:s, s:s, s:s, s:s+}", "who", q->client.subject,
					     "key_sha256", q->client.key_sha256, "from",
					     q->client.from, "what", method, " /api/rules");
		/* Never reached: the handshake refuses a client without a
		 * verified certificate. Kept so a mistake there fails closed. */
		if (!q->client.key_sha256[0])
			return (enum MHD_Result)xmd_reply_error(q, MHD_HTTP_FORBIDDEN,
								"no verified client certificate");
		/* Refused on the headers: answered now, the body is never read. */
		queued = 0;
		{
			int ret = check_headers(q, &queued);

			if (queued)
				return (enum MHD_Result)ret;
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (append_body(q, upload_data, *upload_data_size))
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (q->started)
		return MHD_YES; /* answered already */
	q->started = 1;
	if (q->too_big)
		return (enum MHD_Result)xmd_reply_error(q, MHD_HTTP_CONTENT_TOO_LARGE,
							"the body is larger than %u bytes",
							XMD_BODY_MAX);
	return (enum MHD_Result)route(q);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct xmd_req *q = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!q)
		return;
	if (q->audit)
		json_decref(q->audit);
	free(q->body);
	free(q);
	*con_cls = NULL;
	xmd.served = 1;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("xmasqd: https: ", stderr);
	vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *xmd_https_start(const char *ca_pem, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct MHD_OptionItem opts[12];
	struct MHD_Daemon *d;
	socklen_t len;
	int n = 0;

	if (xmd_parse_hostport(xmd.opt.listen, &ss, &len, err, errlen))
		return NULL;
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, &ss };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
					     (void *)xmd_tls_retrieve_cert };
	/* TLS 1.2 and 1.3 only. */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
					     (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" };
	if (ca_pem)
		opts[n++] =
			(struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, (void *)ca_pem };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed,
					     NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, 128, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT, 32, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_TLS | MHD_USE_ERROR_LOG |
				     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
			     0, NULL, NULL, on_request, NULL, MHD_OPTION_ARRAY, opts,
			     MHD_OPTION_END);
	if (!d)
		snprintf(err, errlen,
			 "--listen %s: cannot serve HTTPS there (address in use, not one of this "
			 "host's, or the TLS setup failed: see the messages above)",
			 xmd.opt.listen);
	return d;
}
