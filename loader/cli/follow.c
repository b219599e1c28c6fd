// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq follow [--once]`: the NIC follower of libxmasq in the foreground,
 * one line per event: the way to follow NICs without xmasqd (which runs
 * the same follower in its poll loop). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cli.h"

#define FOLLOW_EVENTS 128

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void print_events(const struct xm_follow_event *ev, int n)
{
	char line[512], when[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (int i = 0; i < n; i++) {
		xm_follow_event_format(&ev[i], line, sizeof(line));
		printf("%s %s\n", when, line);
	}
	fflush(stdout);
}

struct follow_opts {
	int once;
};

static int run_follow(const struct cli_global *g, void *opts, int argc, char **argv)
{
	const struct follow_opts *o = opts;
	struct xm_follow_event ev[FOLLOW_EVENTS];
	struct sigaction sa = { .sa_handler = on_signal };
	struct xm_follow f;
	struct xm_handle h;
	char err[512];
	int rc, n;

	if (argc > 0)
		return cli_usage_error(&cli_cmd_follow, "unexpected argument '%s'", argv[0]);
	rc = xm_open(&h, g->pin_dir, err, sizeof(err));
	if (rc)
		return cli_fail(rc, err, NULL);
	rc = xm_follow_open(&f, &h, err, sizeof(err));
	if (rc) {
		xm_close(&h);
		return cli_fail(rc, err, NULL);
	}
	/* What changed before we listened: one full pass first. */
	n = xm_follow_resync(&f, ev, FOLLOW_EVENTS, err, sizeof(err));
	print_events(ev, n > 0 ? n : 0);
	if (o->once)
		goto out;
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	printf("following the managed NICs of %s (address, IPv6 address, MAC, MTU, link, deleted "
	       "and back); "
	       "Ctrl-C stops\n",
	       g->pin_dir);
	fflush(stdout);
	while (!stop) {
		struct pollfd p = { .fd = xm_follow_fd(&f), .events = POLLIN };
		int r = poll(&p, 1, 1000), stale;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, sizeof(err), "poll: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (r > 0) {
			n = xm_follow_process(&f, ev, FOLLOW_EVENTS, err, sizeof(err));
			if (n < 0) {
				rc = -1;
				break;
			}
			print_events(ev, n);
			continue;
		}
		/* Quiet second: are these still the router's maps? */
		stale = xm_follow_stale(&f);
		if (!stale)
			continue;
		if (stale < 0) {
			printf("%s: the router was detached (no pinned maps): stopping\n",
			       g->pin_dir);
			break;
		}
		xm_close(&h);
		rc = xm_open(&h, g->pin_dir, err, sizeof(err));
		if (rc)
			break;
		printf("%s: new maps (attached again with --fresh): following them\n", g->pin_dir);
		n = xm_follow_resync(&f, ev, FOLLOW_EVENTS, err, sizeof(err));
		print_events(ev, n > 0 ? n : 0);
	}
out:
	xm_follow_close(&f);
	xm_close(&h);
	return cli_fail(rc, err, NULL);
}

static const struct cli_option follow_options[] = {
	CLI_FLAG("once", 0, struct follow_opts, once,
		 "read every managed NIC afresh once, print what changed, and exit"),
	{ 0 },
};

const struct cli_command cli_cmd_follow = {
	.name = "follow",
	.summary = "follow the managed NICs (address, IPv6 address, MAC, MTU, link, hot-plug) in "
		   "the foreground",
	.description = "Listens to the kernel's link and IPv4 address notifications "
		       "(rtnetlink) and keeps the maps true to the managed NICs within a "
		       "second, without an apply: a new primary address (DHCP), MAC or MTU, "
		       "link down and up, and a NIC deleted (status then says it is gone) and "
		       "created again under its name (attached again, same mode, slot and "
		       "rules). One line per event; the counters nic_* count them. xmasqd "
		       "does the same in its own loop; this is the way without it.",
	.options = follow_options,
	.opts = &(struct follow_opts){ 0 },
	.run = run_follow,
};
