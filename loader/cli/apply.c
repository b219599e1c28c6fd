// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq apply [--check] [FILE]`, and the apply step `attach --rules` shares
 * with it so that both print and fail the same way. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static const char usage_apply[] =
	"usage: xmasq apply [--check | --diff] [--reset-flows] [FILE]\n"
	"Validates FILE (default " XM_DEFAULT_RULES ") and applies the difference to\n"
	"the running data plane atomically: a packet sees the old rule set or the\n"
	"new one, never a mix. Nothing is applied if any line is wrong. Prints\n"
	"'applied: +ADDED -REMOVED ~CHANGED =KEPT rules ... in N us' (the time from\n"
	"the first write to the switch).\n"
	"  --check        only validate: against the router when one is attached at\n"
	"                 the pin dir, else the grammar and that each interface exists\n"
	"  --diff         print the change ('+ rule', '- rule', '~ old => new') and\n"
	"                 apply nothing\n"
	"  --reset-flows  also drop the flows of removed and changed rules (by default\n"
	"                 they keep their translation until they end, as netfilter's do)\n";

/* Is there a router (its config map pinned) at pin_dir? Only "no such
 * file" means no: any other error is left for xm_open to report. */
static int router_absent(const char *pin_dir)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, xm_map_pin_names[XM_MAP_CONFIG]);
	return access(path, F_OK) && errno == ENOENT;
}

static int report(int rc, const char *err, const char *file)
{
	/* Rules errors already read FILE:LINE:COL: ...; others get our name. */
	if (strncmp(err, file, strlen(file)) == 0)
		fprintf(stderr, "%s\n", err);
	else
		fprintf(stderr, "xmasq: %s\n", err);
	return rc == -2 ? EXIT_USAGE : 1;
}

int xm_cli_apply(const char *pin_dir, const struct xm_ruleset *rs, const char *file, int check_only)
{
	struct xm_apply_opts o = { .check_only = check_only };

	return xm_cli_apply_ex(pin_dir, rs, file, &o);
}

int xm_cli_apply_ex(const char *pin_dir, const struct xm_ruleset *rs, const char *file,
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
		return report(rc, err, file);
	rc = xm_apply_ex(hp, rs, file, o, &res, err, sizeof(err));
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
	return rc ? report(rc, err, file) : 0;
}

int xm_cmd_apply(int argc, char **argv, const char *pin_dir)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "diff", no_argument, NULL, 'd' },
		{ "reset-flows", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *file = XM_DEFAULT_RULES;
	struct xm_apply_opts o = { .diff_out = stdout };
	int c, rc;
	struct xm_ruleset rs;
	char err[1024];

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_apply, stdout);
			return 0;
		} else if (c == 'c') {
			o.check_only = 1;
		} else if (c == 'd') {
			o.diff_only = 1;
		} else if (c == 'r') {
			o.reset_flows = 1;
		} else {
			fputs(usage_apply, stderr);
			return EXIT_USAGE;
		}
	}
	if (o.check_only && (o.diff_only || o.reset_flows)) {
		fprintf(stderr, "xmasq apply: --check applies nothing: it goes with neither --diff "
				"nor --reset-flows\n");
		return EXIT_USAGE;
	}
	if (!o.diff_only)
		o.diff_out = NULL;
	if (argc - optind > 1) {
		fprintf(stderr, "xmasq apply: one rules file at most\n%s", usage_apply);
		return EXIT_USAGE;
	}
	if (optind < argc)
		file = argv[optind];
	if (xm_rules_parse_file(file, &rs, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return EXIT_USAGE;
	}
	xm_quiet_libs();
	rc = xm_cli_apply_ex(pin_dir, &rs, file, &o);
	xm_ruleset_free(&rs);
	return rc;
}
