// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq stats [--json|--prometheus] [--watch N]`. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

static const char usage_stats[] =
	"usage: xmasq stats [--json | --prometheus] [--watch SECONDS]\n"
	"Packets and bytes per interface and per rule, flows, and every counter\n"
	"with the reason it counts.\n"
	"  --json          one JSON object (the keys scripts rely on never change)\n"
	"  --prometheus    Prometheus text exposition format (e.g. for node_exporter's\n"
	"                  textfile collector)\n"
	"  --watch SECONDS refresh every SECONDS (0.1 to 86400) like top: totals and\n"
	"                  rates per second, non-zero counters, conntrack use; with\n"
	"                  --json, one JSON object a line instead. Ctrl-C ends it.\n";

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

static int watch(struct xm_handle *h, double interval, int json, char *err, size_t errlen)
{
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
		if (json) {
			xm_print_stats(stdout, &snap[cur], 1);
		} else {
			/* Clear and home only on a terminal: piped into a file
			 * or a test, the screens simply follow each other. */
			if (tty)
				fputs("\033[H\033[2J", stdout);
			xm_print_watch(stdout, h->pin_dir, interval, have_prev ? &snap[!cur] : NULL,
				       &snap[cur], t[cur] - t[!cur]);
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
	return rc;
}

/* SECONDS: a plain decimal number, 0.1 to 86400. */
static int parse_interval(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.1 && v <= 86400))
		return -1;
	*out = v;
	return 0;
}

int xm_cmd_stats(int argc, char **argv, const char *pin_dir)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "watch", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, json = 0, prom = 0, rc;
	double interval = 0;
	struct xm_snapshot s;
	struct xm_handle h;
	char err[512];

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_stats, stdout);
			return 0;
		case 'j':
			json = 1;
			break;
		case 'p':
			prom = 1;
			break;
		case 'w':
			if (parse_interval(optarg, &interval)) {
				fprintf(stderr,
					"xmasq stats: --watch '%s' is not a number of seconds from "
					"0.1 to 86400\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			fputs(usage_stats, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "xmasq stats: unexpected argument '%s'\n%s", argv[optind],
			usage_stats);
		return EXIT_USAGE;
	}
	if (json && prom) {
		fprintf(stderr, "xmasq stats: --json and --prometheus exclude each other (pick one "
				"format)\n");
		return EXIT_USAGE;
	}
	if (prom && interval > 0) {
		fprintf(stderr, "xmasq stats: --prometheus prints one scrape; it does not --watch "
				"(let the scraper or a timer run it)\n");
		return EXIT_USAGE;
	}
	xm_quiet_libs();
	rc = xm_open(&h, pin_dir, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "xmasq: %s\n", err);
		return rc == -2 ? EXIT_USAGE : 1;
	}
	if (interval > 0) {
		rc = watch(&h, interval, json, err, sizeof(err));
	} else {
		rc = xm_snapshot_read(&h, &s, err, sizeof(err));
		if (rc == 0) {
			if (prom)
				xm_print_prometheus(stdout, &s);
			else
				xm_print_stats(stdout, &s, json);
			xm_snapshot_free(&s);
		}
	}
	xm_close(&h);
	if (rc) {
		fprintf(stderr, "xmasq: %s\n", err);
		return rc == -2 ? EXIT_USAGE : 1;
	}
	return 0;
}
