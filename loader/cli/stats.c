// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq stats [--json] [--prometheus] [--watch SECONDS]`. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

/* Set by SIGINT/SIGTERM: the watch loop ends between two screens, so the
 * terminal is never left half-drawn and the exit status is 0. */
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until `until` (monotonic seconds) or a stop signal. No SA_RESTART
 * on the handlers, so the signal interrupts nanosleep at once. */
static void sleep_until(double until)
{
	double left;

	while (!stop && (left = until - mono_now()) > 0) {
		struct timespec ts = { .tv_sec = (time_t)left,
				       .tv_nsec = (long)((left - (double)(time_t)left) * 1e9) };

		nanosleep(&ts, NULL);
	}
}

/* A walk of the whole flow table for the ports in use: at most this often
 * whatever the --watch interval (56 MB at the default conntrack-max). */
#define PORT_USE_EVERY_S 1.0

static int watch(struct xm_handle *h, double interval, int json, char *err, size_t errlen)
{
	struct xm_port_use pu = { 0 };
	double pu_at = -PORT_USE_EVERY_S;
	struct xm_snapshot snap[2];
	struct sigaction sa = { .sa_handler = on_signal };
	int cur = 0, have_prev = 0, tty = isatty(STDOUT_FILENO), rc = 0;
	double t[2] = { 0, 0 }, next = mono_now();

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop) {
		rc = xm_snapshot_read(h, &snap[cur], err, errlen);
		if (rc)
			break;
		t[cur] = mono_now();
		if (t[cur] - pu_at >= PORT_USE_EVERY_S * 0.95) {
			xm_port_use_free(&pu);
			rc = xm_port_use_read(h, &pu, err, errlen);
			if (rc) {
				xm_snapshot_free(&snap[cur]);
				break;
			}
			pu_at = t[cur];
		}
		if (json) {
			xm_print_stats(stdout, &snap[cur], &pu, 1);
		} else {
			/* Clear and home only on a terminal: piped into a file
			 * or a test, the screens simply follow each other. */
			if (tty)
				fputs("\033[H\033[2J", stdout);
			xm_print_watch(stdout, h->pin_dir, interval, have_prev ? &snap[!cur] : NULL,
				       &snap[cur], &pu, t[cur] - t[!cur]);
			if (!tty)
				fputs("\n", stdout);
		}
		fflush(stdout);
		if (have_prev)
			xm_snapshot_free(&snap[!cur]);
		have_prev = 1;
		cur = !cur;
		/* Fixed cadence: a slow snapshot does not push the next one. */
		next += interval;
		if (next < mono_now())
			next = mono_now();
		sleep_until(next);
	}
	if (have_prev)
		xm_snapshot_free(&snap[!cur]);
	xm_port_use_free(&pu);
	return rc;
}

struct stats_opts {
	int json, prometheus;
	double interval; /* --watch; 0: one snapshot */
};

/* --watch SECONDS: a plain decimal number, 0.1 to 86400. */
static int set_interval(void *opts, const struct cli_option *opt, const char *arg)
{
	char *end;
	double v;

	(void)opt;
	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= 0.1 && v <= 86400))
		return cli_usage_error(&cli_cmd_stats,
				       "--watch '%s' is not a number of seconds from 0.1 to 86400",
				       arg);
	((struct stats_opts *)opts)->interval = v;
	return 0;
}

static int run_stats(const struct cli_global *g, void *opts, int argc, char **argv)
{
	const struct stats_opts *o = opts;
	struct xm_snapshot s;
	struct xm_handle h;
	char err[512];
	int rc;

	if (argc > 0)
		return cli_usage_error(&cli_cmd_stats, "unexpected argument '%s'", argv[0]);
	if (o->json && o->prometheus)
		return cli_usage_error(&cli_cmd_stats, "--json and --prometheus exclude each other "
						       "(pick one format)");
	if (o->prometheus && o->interval > 0)
		return cli_usage_error(&cli_cmd_stats, "--prometheus prints one scrape; it does "
						       "not --watch (let the "
						       "scraper or a timer run it)");
	rc = xm_open(&h, g->pin_dir, err, sizeof(err));
	if (rc)
		return cli_fail(rc, err, NULL);
	if (o->interval > 0) {
		rc = watch(&h, o->interval, o->json, err, sizeof(err));
	} else {
		struct xm_port_use pu;

		rc = xm_snapshot_port_use_read(&h, &s, &pu, err, sizeof(err));
		if (rc == 0) {
			if (o->prometheus)
				xm_print_prometheus(stdout, &s, &pu);
			else
				xm_print_stats(stdout, &s, &pu, o->json);
			xm_port_use_free(&pu);
			xm_snapshot_free(&s);
		}
	}
	xm_close(&h);
	return cli_fail(rc, err, NULL);
}

static const struct cli_option stats_options[] = {
	CLI_FLAG("json", 0, struct stats_opts, json,
		 "one JSON object (the keys scripts rely on never change)"),
	CLI_FLAG("prometheus", 0, struct stats_opts, prometheus,
		 "Prometheus text exposition format (e.g. for node_exporter's textfile "
		 "collector)"),
	{ "watch", 0, "SECONDS",
	  "refresh every SECONDS (0.1 to 86400) like top: totals and rates per second, "
	  "non-zero counters, conntrack and port use; with --json, one JSON object a line "
	  "instead. The ports in use are counted at most once a second (a walk of the whole "
	  "flow table): shorter intervals repeat the last count. Ctrl-C ends it",
	  set_interval, 0 },
	{ 0 },
};

const struct cli_command cli_cmd_stats = {
	.name = "stats",
	.summary = "counters per interface, rule, reason",
	.description = "Packets and bytes per interface and per rule, flows, masquerade ports in "
		       "use (the busiest peer, a WARNING above 80 % of its ports, the peers that "
		       "ran out: drop_no_port), and every counter with the reason it counts.",
	.options = stats_options,
	.opts = &(struct stats_opts){ 0 },
	.run = run_stats,
};
