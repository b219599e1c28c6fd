/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by the CLI's files only (loader/cli/); libxmasq never sees it. */
#ifndef XMASQ_CLI_H
#define XMASQ_CLI_H
#include <stddef.h>
#include <stdio.h>
#include "xmasq.h"

#define EXIT_USAGE	 2
#define XM_DEFAULT_RULES "/etc/xmasq/rules.conf"

/* ---- command and option tables (params.c) ----
 * Every command is one struct cli_command and its options one table of
 * struct cli_option: the parser, `--help` and the usage in `xmasq --help`
 * are all made from them, so what is documented is what is accepted. */
struct cli_option;
/* Stores one option's value into the command's options struct; returns 0,
 * or EXIT_USAGE after printing why the value is wrong. */
typedef int (*cli_option_handler)(void *opts, const struct cli_option *opt, const char *arg);

struct cli_option {
	const char *name;	   /* long name, without the leading "--" */
	char letter;		   /* short form (-m), or 0 */
	const char *arg;	   /* its argument's name in the usage; NULL: a flag */
	const char *help;	   /* wrapped at 80 columns in the usage */
	cli_option_handler handle; /* cli_set_flag, cli_set_string or the command's own */
	size_t field;		   /* offset in the options struct, for the shared handlers */
};

/* The options everything runs with: given before the command. */
struct cli_global {
	const char *pin_dir;
	int verbose; /* -v: libbpf's and libxdp's messages; -vv: their debug ones too */
};

struct cli_command {
	const char *name;
	const char *operands;	 /* after the options in the synopsis: "IFACE...", "[FILE]" */
	const char *summary;	 /* its line in `xmasq --help` */
	const char *description; /* the paragraph of `xmasq COMMAND --help` */
	const struct cli_option *options; /* ends with an all-zero entry */
	void *opts;			  /* the options struct, with its defaults */
	/* Runs with the operands left after the options (argv[0] is the
	 * first operand); returns the exit status. */
	int (*run)(const struct cli_global *g, void *opts, int argc, char **argv);
};

/* Shared handlers: set the int at opt->field to 1; store arg in the
 * const char * at opt->field. */
int cli_set_flag(void *opts, const struct cli_option *opt, const char *arg);
int cli_set_string(void *opts, const struct cli_option *opt, const char *arg);
#define CLI_FLAG(name, letter, type, field, help)                             \
	{                                                                     \
		name, letter, NULL, help, cli_set_flag, offsetof(type, field) \
	}
#define CLI_STRING(name, letter, arg, type, field, help)                       \
	{                                                                      \
		name, letter, arg, help, cli_set_string, offsetof(type, field) \
	}

/* Parses the options of cmd (global options when cmd is NULL: they stop
 * at the first operand, the command) from argv[1..]. Returns the index of
 * the first operand, or -1 with *exit_status set: 0 after --help, 2 after
 * an error it has printed. */
int cli_parse(const struct cli_command *cmd, const struct cli_option *options, void *opts, int argc,
	      char **argv, int *exit_status);
/* `xmasq --help` and `xmasq COMMAND --help`. */
void cli_usage_main(FILE *o, const struct cli_command *const *cmds,
		    const struct cli_option *global_options);
void cli_usage_command(FILE *o, const struct cli_command *cmd);
/* A usage error about cmd (NULL: none): prints "xmasq: CMD: MESSAGE (see
 * xmasq CMD --help)" and returns EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- exit status ----
 * The one mapping from a libxmasq result to the exit status: 0 ok, -2 (a
 * usage or rules error) 2, anything else (a runtime failure) 1. */
int cli_exit_status(int lib_rc);
/* For a failed result: prints "xmasq: ERR" (ERR as is when it names its own
 * place, FILE:LINE:COL, i.e. begins with prefix) and returns the status. */
int cli_fail(int lib_rc, const char *err, const char *prefix);

/* watch.c: one `stats --watch` screen; rates are computed against prev
 * (NULL on the first screen), secs apart. */
void xm_print_watch(FILE *o, const char *pin_dir, double interval, const struct xm_snapshot *prev,
		    const struct xm_snapshot *cur, const struct xm_port_use *pu, double secs);

/* fleet_status.c: `xmasq status` with the fleet agent's state (xmasqd
 * --etcd on this pin dir): its rule set, revision, and whether it is stale. */
void cli_print_status_fleet(const char *pin_dir, struct xm_handle *h, const struct xm_snapshot *s,
			    const struct xm_port_use *pu, int json);

/* publish_wait.c: `xmasq publish --wait`: 0 when every live router bound
 * to name has applied revision within secs, 1 otherwise (printed). */
struct xm_etcd;
int cli_publish_wait(struct xm_etcd *e, const char *name, int64_t revision, double secs);

/* clock.c: the monotonic clock and a sleep, in seconds */
double cli_now_s(void);
void cli_sleep_s(double s);

/* The commands, each in its own file with its options table. */
extern const struct cli_command cli_cmd_attach;	   /* attach.c */
extern const struct cli_command cli_cmd_apply;	   /* apply.c */
extern const struct cli_command cli_cmd_stats;	   /* stats.c */
extern const struct cli_command cli_cmd_detach;	   /* main.c */
extern const struct cli_command cli_cmd_status;	   /* main.c */
extern const struct cli_command cli_cmd_publish;   /* publish.c */
extern const struct cli_command cli_cmd_conntrack; /* main.c */
extern const struct cli_command cli_cmd_follow;	   /* follow.c */
extern const struct cli_command cli_cmd_sites;	   /* sites.c */

/* apply.c: applies (or with o->check_only validates) a parsed rules file
 * on the router at pin_dir and prints the outcome; returns an exit status.
 * Used by `apply` and `attach --rules`. */
int xm_cli_apply(const char *pin_dir, const struct xm_ruleset *rs, const char *file,
		 const struct xm_apply_opts *o);
#endif
