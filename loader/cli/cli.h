/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by the CLI's files only (loader/cli/); libxmasq never sees it. */
#ifndef XMASQ_CLI_H
#define XMASQ_CLI_H
#include <stdio.h>
#include "xmasq.h"

#define EXIT_USAGE	 2
#define XM_DEFAULT_RULES "/etc/xmasq/rules.conf"

/* cli_print.c: tables for people, JSON for scripts */
void xm_print_status(FILE *o, const struct xm_handle *h, const struct xm_snapshot *s, int json);
void xm_print_stats(FILE *o, const struct xm_snapshot *s, int json);
void xm_print_conntrack(FILE *o, const struct xm_conn *c, size_t n, int json);
/* "xdp", "xdp-generic" or "tc": how xmasq is attached to the interface */
const char *xm_iface_mode_name(const struct xm_iface *i);

/* cli_prom.c: Prometheus text exposition format (version 0.0.4) */
void xm_print_prometheus(FILE *o, const struct xm_snapshot *s);

/* cli_watch.c: one `stats --watch` screen; rates are computed against prev
 * (NULL on the first screen), secs apart. */
void xm_print_watch(FILE *o, const char *pin_dir, double interval, const struct xm_snapshot *prev,
		    const struct xm_snapshot *cur, double secs);

/* The commands in their own files; each returns the exit status. */
int xm_cmd_attach(int argc, char **argv, const char *pin_dir); /* cli_attach.c */
int xm_cmd_apply(int argc, char **argv, const char *pin_dir);  /* cli_apply.c */
int xm_cmd_stats(int argc, char **argv, const char *pin_dir);  /* cli_stats.c */
/* cli_apply.c: applies (or with check_only validates) a parsed rules file
 * on the router at pin_dir and prints the outcome; returns an exit status.
 * Used by `apply` and `attach --rules`. */
int xm_cli_apply(const char *pin_dir, const struct xm_ruleset *rs, const char *file,
		 int check_only);
int xm_cli_apply_ex(const char *pin_dir, const struct xm_ruleset *rs, const char *file,
		    const struct xm_apply_opts *o);
#endif
