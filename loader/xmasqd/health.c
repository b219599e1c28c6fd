// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* --health ADDR:PORT: plain HTTP GET /healthz for load-balancer probes
 * (Azure's cannot present a client certificate). It tells only whether
 * this router forwards: 200 "ok", or 503 and the reason. */
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "xmasqd.h"

static const struct xm_iface_info *find_iface(const struct xm_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->n_ifaces; i++)
		if (!strcmp(s->ifaces[i].name, name))
			return &s->ifaces[i];
	return NULL;
}

static const struct xm_snapshot_opts health_opts = { .flags = XM_SNAP_RULE_COUNTS |
							      XM_SNAP_NO_FLOWS };

int xmd_health_check(char *reason, size_t len)
{
	struct xm_snapshot s;
	struct xm_handle h;
	char err[512];
	int ok = 1;

	if (!xmd.last_apply_ok) {
		snprintf(reason, len, "the last apply failed: %s", xmd.last_apply_err);
		return 0;
	}
	if (xm_open(&h, xmd.opt.pin_dir, err, sizeof(err))) {
		snprintf(reason, len, "%s", err);
		return 0;
	}
	/* The interfaces only: at 100,000 rules reading every rule and
	 * walking the flow table cost ~100 ms a probe. */
	if (xm_snapshot_read_opts(&h, &health_opts, &s, err, sizeof(err))) {
		xm_close(&h);
		snprintf(reason, len, "%s", err);
		return 0;
	}
	for (size_t i = 0; ok && i < xmd.n_managed; i++) {
		const char *name = xmd.managed[i];
		const struct xm_iface_info *ii = find_iface(&s, name);
		unsigned ifindex = if_nametoindex(name);

		if (!ii) {
			snprintf(reason, len, "%s is not attached (xmasq attach %s)", name, name);
			ok = 0;
		} else if (ii->gone || !ifindex || ifindex != ii->iface.ifindex) {
			/* The follower re-attaches it when it comes back. */
			snprintf(reason, len,
				 "%s (ifindex %u) is gone: deleted; it is attached again when it "
				 "comes back under its name",
				 name, ii->iface.ifindex);
			ok = 0;
		} else if (!ii->tc_prog_id ||
			   ((ii->iface.flags & XM_IFACE_XDP_ATTACHED) && !ii->xdp_prog_id)) {
			snprintf(reason, len, "%s has lost its %s program (xmasq attach %s)", name,
				 ii->tc_prog_id ? "XDP" : "tc", name);
			ok = 0;
		}
	}
	xm_snapshot_free(&s);
	xm_close(&h);
	if (ok)
		snprintf(reason, len, "ok");
	return ok;
}

static enum MHD_Result health_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	struct MHD_Response *r;
	unsigned status = MHD_HTTP_OK;
	char body[1100];
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body here means nothing: drop it */
		return MHD_YES;
	}
	if (strcmp(url, "/healthz")) {
		status = MHD_HTTP_NOT_FOUND;
		snprintf(body, sizeof(body), "not found: only GET /healthz is served here\n");
	} else if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		snprintf(body, sizeof(body), "only GET /healthz\n");
	} else {
		char reason[1024];

		if (!xmd_health_check(reason, sizeof(reason)))
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
		snprintf(body, sizeof(body), "%s\n", reason);
	}
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

struct MHD_Daemon *xmd_health_start(char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	socklen_t len;

	if (xmd_parse_hostport(xmd.opt.health, &ss, &len, err, errlen))
		return NULL;
	d = MHD_start_daemon(MHD_USE_EPOLL | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL,
			     NULL, health_request, NULL, MHD_OPTION_SOCK_ADDR, &ss,
			     MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_LIMIT, 32u,
			     MHD_OPTION_END);
	if (!d)
		snprintf(err, errlen,
			 "--health %s: cannot listen there (address in use, or not one of this "
			 "host's?)",
			 xmd.opt.health);
	return d;
}
