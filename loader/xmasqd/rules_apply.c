// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The one way rules go live in xmasqd (at start, on SIGHUP, by PUT
 * /api/rules): libxmasq's parser and diff/apply, exactly as `xmasq apply`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xmasqd.h"
#include "sites.h"

int xmd_parse(const char *text, size_t len, const char *filename, struct xm_ruleset *rs,
	      struct xmd_apply *a)
{
	char *net = NULL;
	size_t net_len;
	unsigned own_lines;

	memset(a, 0, sizeof(*a));
	if (xmd.opt.site && !xmd.opt.network) {
		/* --etcd --site: the rule set is the network file itself (the
		 * fleet distributes it); this router's rules are derived */
		a->rc = xm_rules_parse_with_network("", 0, filename, text, len, filename,
						    xmd.opt.site, rs, NULL, &own_lines, a->err,
						    sizeof(a->err));
		return a->rc;
	}
	if (!xmd.opt.network) {
		a->rc = xm_rules_parse(text, len, filename, rs, a->err, sizeof(a->err));
		return a->rc;
	}
	/* --network: the derived rules follow, read afresh with the rules */
	a->rc = xm_text_read_file(xmd.opt.network, &net, &net_len, a->err, sizeof(a->err));
	if (a->rc == 0)
		a->rc = xm_rules_parse_with_network(text, len, filename, net, net_len,
						    xmd.opt.network, xmd.opt.site, rs, NULL,
						    &own_lines, a->err, sizeof(a->err));
	free(net);
	return a->rc;
}

int xmd_apply_ruleset(const struct xm_ruleset *rs, const char *filename, int how,
		      struct xmd_apply *a)
{
	int check_only = how & XMD_APPLY_CHECK;
	struct xm_apply_opts o = { .check_only = check_only };
	struct xm_handle h;

	memset(a, 0, sizeof(*a));
	a->rc = xm_open(&h, xmd.opt.pin_dir, a->err, sizeof(a->err));
	if (a->rc)
		return a->rc;
	if (!check_only) {
		o.diff_out = open_memstream(&a->diff, &a->diff_len);
		if (!o.diff_out) {
			snprintf(a->err, sizeof(a->err), "out of memory");
			xm_close(&h);
			return a->rc = -1;
		}
	}
	a->rc = xm_apply_ex(&h, rs, filename, &o, &a->res, a->err, sizeof(a->err));
	if (o.diff_out)
		fclose(o.diff_out);
	if (a->rc == 0 && !check_only && !(how & XMD_APPLY_PROBE_LATER))
		xm_refresh_tx_paths(&h, NULL);
	xm_close(&h);
	return a->rc;
}

void xmd_probe_tx_paths(void)
{
	struct xm_handle h;
	char err[256];

	if (xm_open(&h, xmd.opt.pin_dir, err, sizeof(err)) == 0) {
		xm_refresh_tx_paths(&h, NULL);
		xm_close(&h);
	}
}

void xmd_apply_free(struct xmd_apply *a)
{
	free(a->diff);
	a->diff = NULL;
}

void xmd_reapply_file(const char *why)
{
	struct xm_ruleset rs;
	struct xmd_apply a;
	char *text = NULL, version[XMD_SHA256_HEX] = "";
	size_t len;

	xmd_cache_drop_live();
	if (xmd_rules_read(xmd.opt.rules, &text, &len, a.err, sizeof(a.err))) {
		a.rc = -1;
	} else {
		xmd_sha256_hex(text, len, version);
		if (xmd_parse(text, len, xmd.opt.rules, &rs, &a) == 0) {
			xmd_apply_ruleset(&rs, xmd.opt.rules, 0, &a);
			if (a.rc == 0) {
				/* the text applied is the one the next edit edits */
				xmd_cache_put(text, len, version, 0);
				text = NULL;
				xmd_cache_live(&rs);
			}
			xm_ruleset_free(&rs);
		}
	}
	xmd.last_apply_ok = a.rc == 0;
	if (a.rc) {
		snprintf(xmd.last_apply_err, sizeof(xmd.last_apply_err), "%s", a.err);
		fprintf(stderr, "xmasqd: %s: %s was not applied (the rules live before stay): %s\n",
			why, xmd.opt.rules, a.err);
	} else {
		xmd.last_apply_err[0] = 0;
		fprintf(stderr,
			"xmasqd: %s: applied %s: +%u -%u ~%u =%u rules (%u port entries) in %.0f "
			"us\n",
			why, xmd.opt.rules, a.res.added, a.res.removed, a.res.changed, a.res.kept,
			a.res.ports, a.res.usecs);
	}
	xmd_audit_apply(why, "local", "apply the rules file", version, &a);
	xmd_apply_free(&a);
	free(text);
}
