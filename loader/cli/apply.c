// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq apply [--check] [--diff] [--reset-flows] [FILE]`, and the apply step `attach --rules` shares
 * with it so that both print and fail the same way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "sites.h"

/* With --network: where the derived rules came from, so that an error the
 * apply finds in one of them names the network file's line. */
static const struct derived_from {
	const char *net_file, *site;
	unsigned own_lines;
	const struct xm_derived *d;
} * derived_from;

/* Is there a router (its config map pinned) at pin_dir? Only "no such
 * file" means no: any other error is left for xm_open to report. */
static int router_absent(const char *pin_dir)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, xm_map_pin_names[XM_MAP_CONFIG]);
	return access(path, F_OK) && errno == ENOENT;
}

int xm_cli_apply(const char *pin_dir, const struct xm_ruleset *rs, const char *file,
		 const struct xm_apply_opts *o)
{
	int check_only = o->check_only;
	struct xm_apply_result res;
	struct xm_handle h, *hp = &h;
	char err[1024];
	int rc;

	rc = xm_open(&h, pin_dir, err, sizeof(err));
	if (rc && check_only && router_absent(pin_dir))
		hp = NULL; /* xm_apply then checks without a router */
	else if (rc)
		return cli_fail(rc, err, file);
	{
		struct xm_apply_opts with_log = *o;

		with_log.log = stdout; /* NICs read afresh that changed */
		rc = xm_apply_ex(hp, rs, file, &with_log, &res, err, sizeof(err));
	}
	if (rc == 0 && o->diff_only)
		printf("diff: +%u -%u ~%u =%u rules; nothing applied (--diff)\n", res.added,
		       res.removed, res.changed, res.kept);
	else if (rc == 0 && check_only)
		printf("%s: %zu forward and %zu masquerade rules OK (%u ports)%s; nothing applied "
		       "(--check)\n",
		       file, rs->n_rules, rs->n_masqs, rs->total_ports,
		       hp ? "" : ", interfaces exist (no router attached to check against)");
	else if (rc == 0) {
		printf("applied: +%u -%u ~%u =%u rules (%u port entries) in %.0f us\n", res.added,
		       res.removed, res.changed, res.kept, res.ports, res.usecs);
		if (o->reset_flows)
			printf("reset: %lu flows of removed or changed rules dropped\n",
			       res.flows_reset);
		xm_refresh_tx_paths(&h, NULL);
	}
	if (hp)
		xm_close(hp);
	if (rc && derived_from)
		xm_sites_error_remap(err, sizeof(err), file, derived_from->own_lines,
				     derived_from->d, derived_from->net_file, derived_from->site);
	/* Rules errors read FILE:LINE:COL: ... already; others get our name. */
	if (rc && derived_from &&
	    strncmp(err, derived_from->net_file, strlen(derived_from->net_file)) == 0) {
		fprintf(stderr, "%s\n", err);
		return cli_exit_status(rc);
	}
	return cli_fail(rc, err, file);
}

struct apply_opts {
	int check, diff, reset_flows;
	const char *network, *site;
};

/* The router's own rules (FILE; when not given and absent, none) and the
 * rules derived for --site from --network, parsed as one set. */
static int parse_with_network(const struct apply_opts *o, const char *file, int file_given,
			      struct xm_ruleset *rs, struct xm_derived *d, unsigned *own_lines)
{
	char err[1024], *own = NULL, *net = NULL;
	size_t own_len = 0, net_len = 0;
	int rc;

	rc = xm_text_read_file(file, &own, &own_len, err, sizeof(err));
	if (rc && !file_given && access(file, F_OK) && errno == ENOENT)
		rc = 0; /* the default rules file is optional beside a network */
	if (!rc)
		rc = xm_text_read_file(o->network, &net, &net_len, err, sizeof(err));
	if (!rc)
		rc = xm_rules_parse_with_network(own ? own : "", own_len, file, net, net_len,
						 o->network, o->site, rs, d, own_lines, err,
						 sizeof(err));
	free(own);
	free(net);
	if (rc)
		fprintf(stderr, "%s\n", err);
	return rc;
}

static int run_apply(const struct cli_global *g, void *opts, int argc, char **argv)
{
	const struct apply_opts *o = opts;
	struct xm_apply_opts lib = { .check_only = o->check,
				     .diff_only = o->diff,
				     .reset_flows = o->reset_flows,
				     .diff_out = o->diff ? stdout : NULL };
	const char *file = argc > 0 ? argv[0] : XM_DEFAULT_RULES;
	struct xm_ruleset rs;
	char err[1024];
	int rc;

	if (o->check && (o->diff || o->reset_flows))
		return cli_usage_error(&cli_cmd_apply, "--check applies nothing: it goes with "
						       "neither --diff nor --reset-flows");
	if (argc > 1)
		return cli_usage_error(&cli_cmd_apply, "one rules file at most");
	if (!o->network != !o->site)
		return cli_usage_error(&cli_cmd_apply, "--network and --site go together");
	if (o->network) {
		struct xm_derived d;
		struct derived_from from = { o->network, o->site, 0, &d };

		if (parse_with_network(o, file, argc > 0, &rs, &d, &from.own_lines))
			return EXIT_USAGE;
		if (o->diff || o->check)
			printf("%zu rules derived for site %s from %s (after the %u lines of "
			       "%s):\n%s",
			       d.n_rules, o->site, o->network, from.own_lines, file, d.text);
		derived_from = &from;
		rc = xm_cli_apply(g->pin_dir, &rs, file, &lib);
		derived_from = NULL;
		xm_derived_free(&d);
		xm_ruleset_free(&rs);
		return rc;
	}
	if (xm_rules_parse_file(file, &rs, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return EXIT_USAGE;
	}
	rc = xm_cli_apply(g->pin_dir, &rs, file, &lib);
	xm_ruleset_free(&rs);
	return rc;
}

static const struct cli_option apply_options[] = {
	CLI_FLAG("check", 0, struct apply_opts, check,
		 "only validate: against the router when one is attached at the pin dir, else "
		 "the grammar and that each interface exists"),
	CLI_FLAG("diff", 0, struct apply_opts, diff,
		 "print the change ('+ rule', '- rule', '~ old => new') and apply nothing"),
	CLI_FLAG("reset-flows", 0, struct apply_opts, reset_flows,
		 "also drop the flows of removed and changed rules (by default they keep their "
		 "translation until they end, as netfilter's do)"),
	CLI_STRING("network", 0, "NETFILE", struct apply_opts, network,
		   "also the rules derived for --site from the network file NETFILE (sites, "
		   "services, imports; see xmasq-sites(5)), after FILE's; FILE is then optional"),
	CLI_STRING("site", 0, "NAME", struct apply_opts, site,
		   "this router's site in --network's file"),
	{ 0 },
};

const struct cli_command cli_cmd_apply = {
	.name = "apply",
	.operands = "[FILE]",
	/* with --network: [FILE] --network NETFILE --site NAME */
	.summary = "validate, then apply the difference",
	.description = "Validates FILE (default " XM_DEFAULT_RULES ") and applies the "
		       "difference to the running data plane atomically: a packet sees the old "
		       "rule set or the new one, never a mix. Nothing is applied if any line is "
		       "wrong. Prints 'applied: +ADDED -REMOVED ~CHANGED =KEPT rules ... in N "
		       "us' (the time from the first write to the switch).",
	.options = apply_options,
	.opts = &(struct apply_opts){ 0 },
	.run = run_apply,
};
