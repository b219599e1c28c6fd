// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The NIC follower in the daemon: libxmasq's xm_follow_* (the same as
 * `xmasq follow`) run from the poll loop. Its netlink socket is a source;
 * each event is one line of the daemon's log (not the audit log: nobody
 * asked for it). Once a second the tick checks the follower still has the
 * router's maps: after `xmasq attach --fresh` it takes the new ones, after
 * `xmasq detach --all` it waits for a router to come back. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "xmasqd.h"

#define FOLLOW_EVENTS 128

static struct {
	struct xm_follow f; /* open for the daemon's life: its socket is a poll source */
	struct xm_handle h; /* the router's maps; f points at it */
	int have_h;	    /* 0 while the router is detached */
} fol;

static void log_events(const struct xm_follow_event *ev, int n)
{
	char line[512];

	for (int i = 0; i < n; i++) {
		xm_follow_event_format(&ev[i], line, sizeof(line));
		printf("nic: %s\n", line);
	}
	fflush(stdout);
}

/* A full pass: what changed while nobody listened. */
static void resync(void)
{
	struct xm_follow_event ev[FOLLOW_EVENTS];
	char err[512];
	int n = xm_follow_resync(&fol.f, ev, FOLLOW_EVENTS, err, sizeof(err));

	if (n < 0)
		fprintf(stderr, "xmasqd: the NIC follower's full pass: %s\n", err);
	else
		log_events(ev, n);
}

static void on_readable(void *arg)
{
	struct xm_follow_event ev[FOLLOW_EVENTS];
	char err[512];
	int n;

	(void)arg;
	if (!fol.have_h) {
		/* No router to update: drop the messages (the full pass when
		 * one is attached again reads every NIC afresh). */
		char buf[8192];

		while (recv(xm_follow_fd(&fol.f), buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		return;
	}
	n = xm_follow_process(&fol.f, ev, FOLLOW_EVENTS, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "xmasqd: the NIC follower: %s\n", err);
		return;
	}
	log_events(ev, n);
}

static void on_tick(void *arg)
{
	char err[512];
	int stale;

	(void)arg;
	if (!fol.have_h) {
		if (xm_open(&fol.h, xmd.opt.pin_dir, err, sizeof(err)))
			return; /* still detached */
		fol.have_h = 1;
		printf("nic: %s: a router is attached again: following its NICs\n",
		       xmd.opt.pin_dir);
		resync();
		return;
	}
	stale = xm_follow_stale(&fol.f);
	if (!stale)
		return;
	xm_close(&fol.h);
	fol.have_h = 0;
	if (stale < 0 || xm_open(&fol.h, xmd.opt.pin_dir, err, sizeof(err))) {
		printf("nic: %s: the router was detached (no pinned maps): following again when "
		       "it is attached\n",
		       xmd.opt.pin_dir);
		fflush(stdout);
		return;
	}
	fol.have_h = 1;
	printf("nic: %s: new maps (attached again with --fresh): following them\n",
	       xmd.opt.pin_dir);
	resync();
}

int xmd_follow_start(char *err, size_t errlen)
{
	if (xm_open(&fol.h, xmd.opt.pin_dir, err, errlen))
		return -1;
	if (xm_follow_open(&fol.f, &fol.h, err, errlen)) {
		xm_close(&fol.h);
		return -1;
	}
	fol.have_h = 1;
	if (xmd_add_source(xm_follow_fd(&fol.f), on_readable, NULL) ||
	    xmd_add_tick(on_tick, NULL)) {
		snprintf(err, errlen, "the NIC follower: too many poll sources (a bug)");
		xm_follow_close(&fol.f);
		xm_close(&fol.h);
		return -1;
	}
	printf("following the managed NICs (address, IPv6 address, MAC, MTU, link, deleted and "
	       "back)\n");
	resync();
	return 0;
}
