// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The xmasq command line: the command table, the global options and
 * dispatch, and the small commands (detach, status, conntrack); attach,
 * apply and stats live in attach.c, apply.c and stats.c, the parser and
 * the usage texts in params.c. Exit codes: 0 ok, 1 runtime failure, 2
 * usage or rules error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* ---- detach ---- */
struct detach_opts {
	int all;
};

static int run_detach(const struct cli_global *g, void *opts, int argc, char **argv)
{
	const struct detach_opts *o = opts;
	char err[512];
	int rc;

	if (o->all == (argc > 0))
		return cli_usage_error(&cli_cmd_detach, "give either interfaces or --all");
	rc = xm_detach(g->pin_dir, argv, argc, o->all, stdout, err, sizeof(err));
	return cli_fail(rc, err, NULL);
}

static const struct cli_option detach_options[] = {
	CLI_FLAG("all", 0, struct detach_opts, all,
		 "detach from every interface and remove the pins: flows and counters are "
		 "lost"),
	{ 0 },
};

const struct cli_command cli_cmd_detach = {
	.name = "detach",
	.operands = "[IFACE...]",
	.summary = "detach from the interfaces (--all: from every one, and remove the pins)",
	.description = "Detaches xmasq from each IFACE; the flows through it are removed, the "
		       "other interfaces and their flows are untouched. Give interfaces or "
		       "--all, not both.",
	.options = detach_options,
	.opts = &(struct detach_opts){ 0 },
	.run = run_detach,
};

/* ---- status ---- */
struct status_opts {
	int json;
};

static int run_status(const struct cli_global *g, void *opts, int argc, char **argv)
{
	const struct status_opts *o = opts;
	struct xm_snapshot s;
	struct xm_handle h;
	char err[512];
	int rc;

	if (argc > 0)
		return cli_usage_error(&cli_cmd_status, "unexpected argument '%s'", argv[0]);
	rc = xm_open(&h, g->pin_dir, err, sizeof(err));
	if (rc)
		return cli_fail(rc, err, NULL);
	{
		struct xm_port_use pu;

		rc = xm_snapshot_port_use_read(&h, &s, &pu, err, sizeof(err));
		if (rc == 0) {
			cli_print_status_fleet(g->pin_dir, &h, &s, &pu, o->json);
			xm_port_use_free(&pu);
			xm_snapshot_free(&s);
		}
	}
	xm_close(&h);
	return cli_fail(rc, err, NULL);
}

static const struct cli_option status_options[] = {
	CLI_FLAG("json", 0, struct status_opts, json, "one JSON object instead of the table"),
	{ 0 },
};

const struct cli_command cli_cmd_status = {
	.name = "status",
	.summary = "interfaces, modes, program ids, usage",
	.description = "Managed interfaces, attach modes, program ids, XDP or tc transmit "
		       "path, rule and conntrack usage, the expiry sweep, and masquerade ports "
		       "in use per masquerade address and peer (the busiest, a WARNING above 80 % "
		       "of a peer's ports, the peers that ran out: drop_no_port).",
	.options = status_options,
	.opts = &(struct status_opts){ 0 },
	.run = run_status,
};

/* ---- conntrack ---- */
struct conntrack_opts {
	int json;
};

static int conntrack_list(struct xm_handle *h, int json, char *err, size_t errlen)
{
	struct xm_conn *c;
	size_t n;
	int rc;

	rc = xm_conntrack_read(h, &c, &n, err, errlen);
	if (rc == 0) {
		xm_print_conntrack(stdout, c, n, json);
		free(c);
	}
	return rc;
}

static int conntrack_count(struct xm_handle *h, int json, char *err, size_t errlen)
{
	struct xm_snapshot s;
	int rc;

	rc = xm_snapshot_read(h, &s, err, errlen);
	if (rc == 0) {
		if (json)
			printf("{\"flows\":%lu,\"flows_max\":%lu,\"flows6\":%lu,\"flows6_max\":%lu}"
			       "\n",
			       s.flows, s.flows_max, s.flows6, s.flows6_max);
		else if (s.flows6_max)
			printf("%lu flows of %lu, %lu IPv6 flows of %lu\n", s.flows, s.flows_max,
			       s.flows6, s.flows6_max);
		else
			printf("%lu flows of %lu\n", s.flows, s.flows_max);
		xm_snapshot_free(&s);
	}
	return rc;
}

static int conntrack_flush(struct xm_handle *h, int json, char *err, size_t errlen)
{
	unsigned long removed;
	int rc;

	rc = xm_conntrack_flush(h, &removed, err, errlen);
	if (rc == 0) {
		if (json)
			printf("{\"removed\":%lu}\n", removed);
		else
			printf("removed %lu flows\n", removed);
	}
	return rc;
}

static const struct {
	const char *name;
	int (*run)(struct xm_handle *h, int json, char *err, size_t errlen);
} conntrack_actions[] = {
	{ "list", conntrack_list },
	{ "count", conntrack_count },
	{ "flush", conntrack_flush },
};

static int run_conntrack(const struct cli_global *g, void *opts, int argc, char **argv)
{
	const struct conntrack_opts *o = opts;
	struct xm_handle h;
	char err[512];
	size_t i;
	int rc;

	for (i = 0; argc == 1 && i < sizeof(conntrack_actions) / sizeof(conntrack_actions[0]); i++)
		if (!strcmp(argv[0], conntrack_actions[i].name))
			break;
	if (argc != 1 || i == sizeof(conntrack_actions) / sizeof(conntrack_actions[0]))
		return cli_usage_error(&cli_cmd_conntrack, "expected list, count or flush");
	rc = xm_open(&h, g->pin_dir, err, sizeof(err));
	if (rc)
		return cli_fail(rc, err, NULL);
	rc = conntrack_actions[i].run(&h, o->json, err, sizeof(err));
	xm_close(&h);
	return cli_fail(rc, err, NULL);
}

static const struct cli_option conntrack_options[] = {
	CLI_FLAG("json", 0, struct conntrack_opts, json, "JSON instead of text"),
	{ 0 },
};

const struct cli_command cli_cmd_conntrack = {
	.name = "conntrack",
	.operands = "list|count|flush",
	.summary = "the flow table",
	.description = "list: every flow with both tuples, state, age, idle time, packets and "
		       "bytes each way. count: flows in use and the table size. flush: remove "
		       "every flow (established connections through the router break).",
	.options = conntrack_options,
	.opts = &(struct conntrack_opts){ 0 },
	.run = run_conntrack,
};

/* ---- the command line ---- */
static const struct cli_command *const commands[] = {
	&cli_cmd_attach,    &cli_cmd_detach, &cli_cmd_apply, &cli_cmd_status,  &cli_cmd_stats,
	&cli_cmd_conntrack, &cli_cmd_follow, &cli_cmd_sites, &cli_cmd_publish, NULL,
};

static int count_verbose(void *opts, const struct cli_option *opt, const char *arg)
{
	(void)opt;
	(void)arg;
	((struct cli_global *)opts)->verbose++;
	return 0;
}

static const struct cli_option global_options[] = {
	CLI_STRING("pin-dir", 0, "DIR", struct cli_global, pin_dir,
		   "where maps and programs are pinned (default " XM_PIN_DIR_DEFAULT "); one "
		   "directory "
		   "per router "
		   "instance"),
	{ "verbose", 'v', NULL,
	  "show libbpf's and libxdp's messages (the verifier log when a load fails); "
	  "twice (-vv): their debug messages too",
	  count_verbose, 0 },
	{ 0 },
};

static const struct cli_command *find_command(const char *name)
{
	for (const struct cli_command *const *c = commands; *c; c++)
		if (!strcmp((*c)->name, name))
			return *c;
	return NULL;
}

static int unknown_command(const char *name)
{
	char names[128] = "";

	for (const struct cli_command *const *c = commands; *c; c++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			 c == commands ? "" :
			 c[1]	       ? ", " :
					 " or ",
			 (*c)->name);
	return cli_usage_error(NULL, "unknown command '%s': expected %s", name, names);
}

/* `xmasq help [COMMAND]` */
static int help(int argc, char **argv)
{
	const struct cli_command *cmd;

	if (argc < 2) {
		cli_usage_main(stdout, commands, global_options);
		return 0;
	}
	if (argc > 2)
		return cli_usage_error(NULL, "help: one command at most");
	cmd = find_command(argv[1]);
	if (!cmd)
		return unknown_command(argv[1]);
	cli_usage_command(stdout, cmd);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli_global g = { .pin_dir = XM_PIN_DIR_DEFAULT };
	const struct cli_command *cmd;
	int first, status;

	first = cli_parse(NULL, global_options, &g, argc, argv, &status);
	if (first < 0) {
		if (status == 0)
			cli_usage_main(stdout, commands, global_options);
		return status;
	}
	if (first >= argc) {
		cli_usage_main(stderr, commands, global_options);
		return EXIT_USAGE;
	}
	/* Without -v, libbpf and libxdp stay quiet but for warnings while
	 * the data plane loads; the library's errors say the rest. */
	xm_log_set_verbosity(g.verbose);
	argc -= first;
	argv += first;
	if (!strcmp(argv[0], "help"))
		return help(argc, argv);
	cmd = find_command(argv[0]);
	if (!cmd)
		return unknown_command(argv[0]);
	first = cli_parse(cmd, cmd->options, cmd->opts, argc, argv, &status);
	if (first < 0) {
		if (status == 0)
			cli_usage_command(stdout, cmd);
		return status;
	}
	return cmd->run(&g, cmd->opts, argc - first, argv + first);
}
