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
	"usage: xmasq apply [--check] [FILE]\n"
	"Validates FILE (default " XM_DEFAULT_RULES ") and applies the difference to\n"
	"the running data plane atomically. Nothing is applied if any line is\n"
	"wrong. With --check, only validates: against the router when one is\n"
	"attached at the pin dir, else the grammar and that each interface exists.\n";

/* Is there a router (its config map pinned) at pin_dir? Only "no such
 * file" means no: any other error is left for xm_open to report. */
static int router_absent(const char *pin_dir)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, XM_PIN_CONFIG);
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
	struct xm_apply_result res;
	struct xm_handle h, *hp = &h;
	char err[1024];
	int rc;

	rc = xm_open(&h, pin_dir, err, sizeof(err));
	if (rc && check_only && router_absent(pin_dir))
		hp = NULL; /* xm_apply then checks without a router */
	else if (rc)
		return report(rc, err, file);
	rc = xm_apply(hp, rs, file, check_only, &res, err, sizeof(err));
	if (rc == 0 && check_only)
		printf("%s: %zu forward and %zu masquerade rules OK (%u ports)%s; nothing applied (--check)\n",
		       file, rs->n_rules, rs->n_masqs, rs->total_ports,
		       hp ? "" : ", interfaces exist (no router attached to check against)");
	else if (rc == 0) {
		printf("applied: +%u -%u =%u rules (%u port entries) in %.0f us\n", res.added,
		       res.removed, res.kept, res.ports, res.usecs);
		xm_refresh_tx_paths(&h, NULL);
	}
	if (hp)
		xm_close(hp);
	return rc ? report(rc, err, file) : 0;
}

int xm_cmd_apply(int argc, char **argv, const char *pin_dir)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	const char *file = XM_DEFAULT_RULES;
	int c, check = 0, rc;
	struct xm_ruleset rs;
	char err[1024];

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_apply, stdout);
			return 0;
		} else if (c == 'c') {
			check = 1;
		} else {
			fputs(usage_apply, stderr);
			return EXIT_USAGE;
		}
	}
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
	rc = xm_cli_apply(pin_dir, &rs, file, check);
	xm_ruleset_free(&rs);
	return rc;
}
