// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The xmasq command line: global options and dispatch, and the small
 * commands (detach, status, conntrack); attach, apply and stats live in
 * cli_attach.c, cli_apply.c and cli_stats.c. Exit codes: 0 ok, 1 runtime
 * failure, 2 usage or rules error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char *pin_dir = XM_PIN_DIR_DEFAULT;

static const char usage_main[] =
	"usage: xmasq [--pin-dir DIR] COMMAND [ARGS]\n"
	"\n"
	"NAPT router on XDP: port forwarding with masquerade, replies out of the\n"
	"interface they came in on.\n"
	"\n"
	"commands:\n"
	"  attach [--mode auto|xdp|xdp-generic|tc] [--fresh] [--rules FILE] IFACE...\n"
	"                                                load, pin, attach (and apply FILE)\n"
	"  detach IFACE... | --all                       detach (--all also removes pins)\n"
	"  apply [--check] [FILE]                        validate, then apply the difference\n"
	"  status [--json]                               interfaces, modes, program ids, usage\n"
	"  stats [--json|--prometheus] [--watch N]       counters per interface, rule, reason\n"
	"  conntrack list|count|flush [--json]           the flow table\n"
	"\n"
	"options:\n"
	"  --pin-dir DIR   where maps and programs are pinned (default " XM_PIN_DIR_DEFAULT ");\n"
	"                  one directory per router instance\n"
	"  -h, --help      this text; COMMAND --help for a command's\n"
	"\n"
	"exit status: 0 ok, 1 runtime failure, 2 usage or rules error\n";

static const char usage_detach[] = "usage: xmasq detach IFACE... | --all\n"
				   "Detaches xmasq from the interfaces. --all detaches every "
				   "interface and\n"
				   "removes the pins (flows and counters are lost).\n";
static const char usage_status[] = "usage: xmasq status [--json]\n"
				   "Managed interfaces, attach modes, program ids, XDP or tc "
				   "transmit path,\n"
				   "rule and conntrack usage.\n";

/* Parses "--json"/"--check"-style flags shared by the simple commands.
 * Returns the index of the first operand, or -1 after printing usage. */
static int parse_flags(int argc, char **argv, const char *usage, const struct option *opts,
		       int *flag_vals, int *help)
{
	int c, idx;

	optind = 1;
	*help = 0;
	while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		if (c == 'h') {
			*help = 1;
			fputs(usage, stdout);
			return -1;
		}
		if (c == 0)
			continue;
		if (c >= 1 && c <= 8) {
			flag_vals[c - 1] = 1;
			continue;
		}
		fputs(usage, stderr);
		return -1;
	}
	return optind;
}

static int finish(int rc, const char *err)
{
	if (rc) {
		fprintf(stderr, "xmasq: %s\n", err);
		return rc == -2 ? EXIT_USAGE : 1;
	}
	return 0;
}

static int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 1 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int flags[8] = { 0 }, help, first;
	char err[512];

	first = parse_flags(argc, argv, usage_detach, opts, flags, &help);
	if (first < 0)
		return help ? 0 : EXIT_USAGE;
	if (flags[0] == (first < argc)) {
		fprintf(stderr, "xmasq detach: give either interfaces or --all\n%s", usage_detach);
		return EXIT_USAGE;
	}
	return finish(xm_detach(pin_dir, argv + first, argc - first, flags[0], stdout, err,
				sizeof(err)),
		      err);
}

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 1 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int flags[8] = { 0 }, help, first, rc;
	struct xm_snapshot s;
	struct xm_handle h;
	char err[512];

	first = parse_flags(argc, argv, usage_status, opts, flags, &help);
	if (first < 0)
		return help ? 0 : EXIT_USAGE;
	if (first < argc) {
		fprintf(stderr, "xmasq status: unexpected argument '%s'\n%s", argv[first],
			usage_status);
		return EXIT_USAGE;
	}
	xm_quiet_libs();
	rc = xm_open(&h, pin_dir, err, sizeof(err));
	if (rc)
		return finish(rc, err);
	rc = xm_snapshot_read(&h, &s, err, sizeof(err));
	if (rc == 0) {
		xm_print_status(stdout, &h, &s, flags[0]);
		xm_snapshot_free(&s);
	}
	xm_close(&h);
	return finish(rc, err);
}

static const char usage_conntrack[] = "usage: xmasq conntrack list|count|flush [--json]\n"
				      "list: every flow with both tuples, state, age, idle time, "
				      "packets and bytes\n"
				      "each way. count: flows in use and the table size. flush: "
				      "remove every flow\n"
				      "(established connections through the router break).\n";

static int cmd_conntrack(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 1 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int flags[8] = { 0 }, help, first, rc;
	struct xm_handle h;
	const char *what;
	char err[512];

	first = parse_flags(argc, argv, usage_conntrack, opts, flags, &help);
	if (first < 0)
		return help ? 0 : EXIT_USAGE;
	if (argc - first != 1 || (strcmp(argv[first], "list") && strcmp(argv[first], "count") &&
				  strcmp(argv[first], "flush"))) {
		fprintf(stderr, "xmasq conntrack: expected list, count or flush\n%s",
			usage_conntrack);
		return EXIT_USAGE;
	}
	what = argv[first];
	rc = xm_open(&h, pin_dir, err, sizeof(err));
	if (rc)
		return finish(rc, err);
	if (!strcmp(what, "list")) {
		struct xm_conn *c;
		size_t n;

		rc = xm_conntrack_read(&h, &c, &n, err, sizeof(err));
		if (rc == 0) {
			xm_print_conntrack(stdout, c, n, flags[0]);
			free(c);
		}
	} else if (!strcmp(what, "count")) {
		struct xm_snapshot s;

		rc = xm_snapshot_read(&h, &s, err, sizeof(err));
		if (rc == 0) {
			if (flags[0])
				printf("{\"flows\":%lu,\"flows_max\":%lu}\n", s.flows, s.flows_max);
			else
				printf("%lu flows of %lu\n", s.flows, s.flows_max);
			xm_snapshot_free(&s);
		}
	} else {
		unsigned long removed;

		rc = xm_conntrack_flush(&h, &removed, err, sizeof(err));
		if (rc == 0) {
			if (flags[0])
				printf("{\"removed\":%lu}\n", removed);
			else
				printf("removed %lu flows\n", removed);
		}
	}
	xm_close(&h);
	return finish(rc, err);
}

int main(int argc, char **argv)
{
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_main, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--pin-dir") && i + 1 < argc) {
			pin_dir = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--pin-dir=", 10)) {
			pin_dir = argv[i] + 10;
			i++;
		} else {
			fprintf(stderr, "xmasq: unknown option '%s'\n%s", argv[i], usage_main);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[i];

	argc -= i;
	argv += i;
	if (!strcmp(cmd, "attach"))
		return xm_cmd_attach(argc, argv, pin_dir);
	if (!strcmp(cmd, "detach"))
		return cmd_detach(argc, argv);
	if (!strcmp(cmd, "apply"))
		return xm_cmd_apply(argc, argv, pin_dir);
	if (!strcmp(cmd, "status"))
		return cmd_status(argc, argv);
	if (!strcmp(cmd, "stats"))
		return xm_cmd_stats(argc, argv, pin_dir);
	if (!strcmp(cmd, "conntrack"))
		return cmd_conntrack(argc, argv);
	if (!strcmp(cmd, "help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	fprintf(stderr,
		"xmasq: unknown command '%s' (expected attach, detach, apply, status, stats or "
		"conntrack)\n",
		cmd);
	return EXIT_USAGE;
}
