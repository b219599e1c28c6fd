// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq apply [--check] [--diff] [--reset-flows] [FILE]`, and the apply step `attach --rules` shares
 * with it so that both print and fail the same way. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

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
	/* Rules errors read FILE:LINE:COL: ... already; others get our name. */
	return cli_fail(rc, err, file);
}

struct apply_opts {
	int check, diff, reset_flows;
};

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
	{ 0 },
};

const struct cli_command cli_cmd_apply = {
	.name = "apply",
	.operands = "[FILE]",
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
