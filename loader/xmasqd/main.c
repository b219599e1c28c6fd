// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xmasqd: attaches (with IFACEs) or takes over the router under the pin
 * dir, applies --rules FILE, then serves the page and the API over HTTPS
 * (--listen) and /healthz over HTTP (--health) from one thread. SIGHUP
 * applies FILE again; SIGTERM and SIGINT end it. Exiting never detaches:
 * the data plane forwards on without the daemon. Exit codes as xmasq: 0
 * ok, 1 runtime failure, 2 usage or rules error. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <microhttpd.h>
#include "etcd.h"
#include "xmasqd.h"

struct xmd_state xmd;

/* ---- the command line: one table gives the parser and the usage ---- */
struct option_spec {
	const char *name, *arg, *help;
	size_t field; /* offset of the const char * in struct xmd_options */
};

#define OPT(name, arg, field, help)                                  \
	{                                                            \
		name, arg, help, offsetof(struct xmd_options, field) \
	}
static const struct option_spec options[] = {
	OPT("pin-dir", "DIR", pin_dir,
	    "where the maps and programs are pinned (default " XM_PIN_DIR_DEFAULT ")"),
	OPT("rules", "FILE", rules,
	    "the rules file: applied at start and on SIGHUP, shown and saved by the page"),
	OPT("network", "FILE", network,
	    "a network file of sites (xmasq-sites(5)): the rules --site derives from it follow "
	    "--rules FILE's, read again whenever FILE is"),
	OPT("site", "NAME", site,
	    "this router's site in --network's file; with --etcd and no --network, the rule "
	    "set is a network file and the rules are derived for NAME"),
	OPT("listen", "ADDR:PORT", listen, "serve the page and the API over HTTPS there only"),
	OPT("cert", "FILE", cert, "the server's certificate chain (PEM)"),
	OPT("key", "FILE", key, "its private key (PEM, unencrypted)"),
	OPT("client-ca", "FILE", client_ca,
	    "admit clients whose certificate chains to this CA (PEM) with the clientAuth "
	    "purpose"),
	OPT("allow-keys", "FILE", allow_keys,
	    "admit clients whose public key's SHA-256 (of the SubjectPublicKeyInfo, hex) is "
	    "listed, one a line"),
	OPT("origin", "URL", origin,
	    "https://HOST:PORT the page is opened at (default https://LISTEN): changes "
	    "must come from it"),
	OPT("audit-log", "FILE", audit_log, "append every change there, one JSON line each"),
	OPT("health", "ADDR:PORT", health, "plain HTTP GET /healthz for load balancers"),
	OPT("etcd", "URLS", etcd,
	    "take the rules from this etcd cluster (client URLs, comma-separated): the fleet"),
	OPT("router-id", "ID", router_id, "this router's name in the fleet (status/ID)"),
	OPT("ruleset", "NAME", ruleset, "the rule set it follows (rulesets/NAME)"),
	OPT("cache", "FILE", cache,
	    "the last applied revision, booted from when the store is down (default: the "
	    "--rules FILE)"),
	{ 0 },
};

/* Writes text from column `indent`, wrapped at 80 columns. */
static void wrap(FILE *o, const char *text, int indent)
{
	int col = indent;

	while (*text) {
		int word = (int)strcspn(text, " ");

		if (col > indent && col + 1 + word > 80) {
			fprintf(o, "\n%*s", indent, "");
			col = indent;
		}
		fprintf(o, " %.*s", word, text);
		col += 1 + word;
		text += word;
		text += strspn(text, " ");
	}
	fputc('\n', o);
}

static void usage(FILE *o)
{
	fputs("usage: xmasqd [--pin-dir DIR] --rules FILE\n"
	      "              [--listen ADDR:PORT --cert FILE --key FILE\n"
	      "               (--client-ca FILE | --allow-keys FILE)]\n"
	      "              [--origin https://HOST:PORT] [--audit-log FILE]\n"
	      "              [--health ADDR:PORT]\n"
	      "              [--etcd URL[,URL...] --router-id ID --ruleset NAME [--cache FILE]]\n"
	      "              [IFACE...]\n\n"
	      "The xmasq daemon: attaches IFACEs (else manages what is attached under the\n"
	      "pin dir), applies FILE, serves the page and JSON API over HTTPS to clients\n"
	      "holding a trusted key, and /healthz. SIGHUP applies FILE again. Exiting\n"
	      "never detaches. See xmasqd(8).\n\noptions:\n",
	      o);
	for (const struct option_spec *s = options; s->name; s++) {
		char item[48];

		snprintf(item, sizeof(item), "--%s %s", s->name, s->arg);
		fprintf(o, "  %-20s", item);
		wrap(o, s->help, 22);
	}
	fprintf(o, "  %-20s", "--help");
	wrap(o, "print this help and exit", 22);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("xmasqd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see xmasqd --help)\n", stderr);
	return XMD_EXIT_USAGE;
}

/* 0 to run, else the exit status (after --help: 0 with *done set). */
static int parse_args(int argc, char **argv, struct xmd_options *o, int *done)
{
	struct option longopts[sizeof(options) / sizeof(options[0]) + 1];
	size_t n = 0;
	int c;

	for (const struct option_spec *s = options; s->name; s++, n++)
		longopts[n] = (struct option){ s->name, required_argument, NULL, 256 + (int)n };
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[n] = (struct option){ 0 };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			*done = 1;
			return 0;
		}
		if (c == ':')
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		if (c == '?')
			return usage_error("unknown option '%s'", argv[optind - 1]);
		*(const char **)((char *)o + options[c - 256].field) = optarg;
	}
	o->ifaces = argv + optind;
	o->n_ifaces = argc - optind;
	if (o->etcd && (!o->router_id || !o->ruleset))
		return usage_error("--etcd needs --router-id ID and --ruleset NAME");
	if (!o->etcd && (o->router_id || o->ruleset || o->cache))
		return usage_error("--router-id, --ruleset and --cache go with --etcd");
	if (o->etcd) {
		struct xm_etcd e;
		char err[512];

		if (xm_etcd_init(&e, o->etcd, err, sizeof(err)))
			return usage_error("--etcd: %s", err);
		xm_etcd_free(&e);
	}
	if (!o->rules)
		return usage_error("--rules FILE is required");
	if (o->network && !o->site)
		return usage_error("--network FILE needs --site NAME");
	if (o->site && !o->network && !o->etcd)
		return usage_error("--site NAME goes with --network FILE, or with --etcd (the "
				   "rule set is then a network file: xmasq publish --network)");
	if (o->listen && (!o->cert || !o->key))
		return usage_error("--listen needs --cert FILE and --key FILE");
	if (o->listen && !o->client_ca && !o->allow_keys)
		return usage_error("--listen needs --client-ca FILE or --allow-keys FILE: the page "
				   "is only for clients holding a key you trust");
	if (!o->listen && (o->cert || o->key || o->client_ca || o->allow_keys || o->origin))
		return usage_error("--cert, --key, --client-ca, --allow-keys and --origin go with "
				   "--listen");
	for (int i = 0; i < 2; i++) {
		const char *hp = i ? o->health : o->listen;
		struct sockaddr_storage ss;
		socklen_t len;
		char err[300];

		if (hp && xmd_parse_hostport(hp, &ss, &len, err, sizeof(err)))
			return usage_error("--%s %s", i ? "health" : "listen", err);
	}
	if (o->origin &&
	    (strncmp(o->origin, "https://", 8) || !o->origin[8] || strchr(o->origin + 8, '/')))
		return usage_error("--origin '%s' is not https://HOST:PORT", o->origin);
	return 0;
}

static void copy_str(char *dst, size_t size, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la >= size)
		la = size - 1;
	if (lb >= size - la)
		lb = size - la - 1;
	memcpy(dst, a, la);
	memcpy(dst + la, b, lb);
	dst[la + lb] = 0;
}

/* The Origin a browser sends for --origin, and the Host headers it may
 * send: a browser leaves the default port 443 out of both. */
static void origin_setup(void)
{
	const struct xmd_options *o = &xmd.opt;
	char given[512], *colon, *bracket;

	if (!o->listen)
		return;
	copy_str(given, sizeof(given), o->origin ? o->origin + 8 : o->listen, "");
	colon = strrchr(given, ':');
	bracket = strrchr(given, ']');
	if (colon && bracket && colon < bracket)
		colon = NULL; /* [2001:db8::1] without a port */
	if (!colon || !strcmp(colon, ":443")) {
		if (colon)
			*colon = 0;
		copy_str(xmd.origin, sizeof(xmd.origin), "https://", given);
		copy_str(xmd.origin_host, sizeof(xmd.origin_host), given, ":443");
		copy_str(xmd.origin_host_bare, sizeof(xmd.origin_host_bare), given, "");
	} else {
		copy_str(xmd.origin, sizeof(xmd.origin), "https://", given);
		copy_str(xmd.origin_host, sizeof(xmd.origin_host), given, "");
	}
	copy_str(xmd.listen_host, sizeof(xmd.listen_host), o->listen, "");
}

/* ---- start: attach and apply, as `xmasq attach --rules FILE IFACE...` ---- */

/* Every interface a rule names is named here or attached already (s, the
 * router before this start, may be NULL): else attaching would leave the
 * rules unapplicable. 0, or -2 with err. */
static int all_managed(const struct xm_ruleset *rs, const struct xm_snapshot *s, char *err,
		       size_t errlen)
{
	const struct xmd_options *o = &xmd.opt;

	for (size_t i = 0; i < rs->n_rules + rs->n_masqs; i++) {
		int rule = i < rs->n_rules, found = 0;
		const char *name = rule ? rs->rules[i].ifname :
					  rs->masqs[i - rs->n_rules].out_ifname;
		unsigned line = rule ? rs->rules[i].line : rs->masqs[i - rs->n_rules].line;
		unsigned col = rule ? rs->rules[i].iface_col : rs->masqs[i - rs->n_rules].iface_col;

		for (int k = 0; k < o->n_ifaces && !found; k++)
			found = !strcmp(name, o->ifaces[k]);
		for (size_t k = 0; s && k < s->n_ifaces && !found; k++)
			found = !strcmp(name, s->ifaces[k].name);
		if (!found) {
			snprintf(err, errlen,
				 "%s:%u:%u: interface '%s' is neither attached nor named on the "
				 "command line (add it: xmasqd ... %s)",
				 o->rules, line, col, name, name);
			return -2;
		}
	}
	return 0;
}
static int start_router(void)
{
	const struct xmd_options *o = &xmd.opt;
	struct xm_attach_opts ao = { .mode = XM_MODE_AUTO };
	struct xm_apply_result res;
	struct xm_ruleset rs;
	struct xmd_apply a;
	struct xm_snapshot s;
	struct xm_handle h;
	char err[1024];
	int rc;

	if (!o->network && !o->site) {
		if (xm_rules_parse_file(o->rules, &rs, err, sizeof(err))) {
			fprintf(stderr, "xmasqd: %s; nothing was attached\n", err);
			return XMD_EXIT_USAGE;
		}
	} else {
		char *text = NULL;
		size_t len;

		rc = xmd_rules_read(o->rules, &text, &len, err, sizeof(err));
		if (rc == 0) {
			rc = xmd_parse(text, len, o->rules, &rs, &a);
			snprintf(err, sizeof(err), "%s", a.err);
		}
		free(text);
		if (rc) {
			fprintf(stderr, "xmasqd: %s; nothing was attached\n", err);
			return XMD_EXIT_USAGE;
		}
	}
	if (o->n_ifaces) {
		/* The grammar, the interfaces' existence, and that each will
		 * be managed, before attaching anything. */
		rc = xm_apply(NULL, &rs, o->rules, 1, &res, err, sizeof(err));
		if (rc == 0) {
			struct xm_snapshot *sp = NULL;

			if (xm_open(&h, o->pin_dir, err, sizeof(err)) == 0) {
				if (xm_snapshot_read(&h, &s, err, sizeof(err)) == 0)
					sp = &s;
				xm_close(&h);
			}
			rc = all_managed(&rs, sp, err, sizeof(err));
			if (sp)
				xm_snapshot_free(sp);
		}
		if (rc == 0) {
			ao.ct_max = rs.settings.ct_max;
			ao.ct6_max = rs.settings.ct6_max;
			rc = xm_attach_ex(o->pin_dir, o->ifaces, o->n_ifaces, &ao, stdout, err,
					  sizeof(err));
		}
		if (rc) {
			fprintf(stderr, "xmasqd: %s%s\n", err,
				rc == -2 ? "; nothing was attached" : "");
			xm_ruleset_free(&rs);
			return rc == -2 ? XMD_EXIT_USAGE : 1;
		}
	} else if (xm_open(&h, o->pin_dir, err, sizeof(err))) {
		fprintf(stderr,
			"xmasqd: %s (no router at %s: name the interfaces to attach, xmasqd "
			"--rules "
			"%s IFACE..., or attach them first: xmasq attach)\n",
			err, o->pin_dir, o->rules);
		xm_ruleset_free(&rs);
		return 1;
	} else {
		xm_close(&h);
	}
	rc = xmd_apply_ruleset(&rs, o->rules, 0, &a);
	xm_ruleset_free(&rs);
	if (rc) {
		fprintf(stderr, "xmasqd: %s: not applied (the rules live before stay): %s\n",
			o->rules, a.err);
		return rc == -2 ? XMD_EXIT_USAGE : 1;
	}
	printf("applied: +%u -%u ~%u =%u rules (%u port entries) in %.0f us\n", a.res.added,
	       a.res.removed, a.res.changed, a.res.kept, a.res.ports, a.res.usecs);
	xmd_apply_free(&a);
	xmd.last_apply_ok = 1;
	/* The interfaces managed from now on: /healthz watches them. */
	if (xm_open(&h, o->pin_dir, err, sizeof(err)) ||
	    xm_snapshot_read(&h, &s, err, sizeof(err))) {
		fprintf(stderr, "xmasqd: %s\n", err);
		return 1;
	}
	xmd.managed = calloc(s.n_ifaces + 1, sizeof(*xmd.managed));
	for (size_t i = 0; xmd.managed && i < s.n_ifaces; i++)
		xmd.managed[xmd.n_managed++] = strdup(s.ifaces[i].name);
	xm_snapshot_free(&s);
	xm_close(&h);
	return 0;
}

/* ---- the loop ---- */
#define MAX_SOURCES 8
static struct xmd_source sources[MAX_SOURCES];
static int n_sources;

int xmd_add_source(int fd, void (*ready)(void *arg), void *arg)
{
	if (n_sources == MAX_SOURCES)
		return -1;
	sources[n_sources++] = (struct xmd_source){ fd, ready, arg };
	return 0;
}

#define MAX_TICKS 4
static struct xmd_source ticks[MAX_TICKS]; /* fd unused */
static int n_ticks;

int xmd_add_tick(void (*tick)(void *arg), void *arg)
{
	if (n_ticks == MAX_TICKS)
		return -1;
	ticks[n_ticks++] = (struct xmd_source){ -1, tick, arg };
	return 0;
}

/* Seconds without a request before the room kept for the next rules
 * text goes back (xmd_cache_idle): an operator's edits a few seconds
 * apart find it, an idle daemon does not keep it. */
#define IDLE_TICKS	5
#define BUSY_TRIM_TICKS 60

/* Once idle, what was kept goes, and the heap's free memory goes back to
 * the system: a large rules file or /metrics leaves many small blocks
 * freed behind. Not while requests come: the next one would find those
 * pages given back, and touching them again costs a fault each (on the
 * test VM about 13 ms of a PATCH of 100,000 rules when a trim came
 * between two). */
static void trim_tick(void *arg)
{
	static unsigned idle, busy;

	(void)arg;
	if (xmd.served) {
		xmd.served = 0;
		idle = 0;
		/* never idle (a page polling every second): the heap's free
		 * memory still goes back once a minute */
		if (++busy == BUSY_TRIM_TICKS) {
			busy = 0;
			malloc_trim(0);
		}
	} else if (++idle == IDLE_TICKS) {
		busy = 0;
		xmd_cache_idle();
		xmd_api_idle();
		malloc_trim(0);
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int mhd_fd(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);

	return di ? di->epoll_fd : -1;
}

/* A large answer (/metrics: 30 MB) goes out one TLS record (16 kB) per
 * MHD_run: while the daemon has more to do at once (timeout 0), it runs
 * again without a poll in between, a bounded number of times so that
 * signals, the NIC follower and the ticks still get their turn. */
static void run_daemon(struct MHD_Daemon *d)
{
	for (int i = 0; i < 64; i++) {
		MHD_UNSIGNED_LONG_LONG t;

		MHD_run(d);
		if (MHD_get_timeout(d, &t) != MHD_YES || t)
			break;
	}
}

static int loop(struct MHD_Daemon *https, struct MHD_Daemon *health, int sigfd)
{
	struct MHD_Daemon *daemons[2] = { https, health };
	uint64_t next_tick = now_ms() + 1000;

	for (;;) {
		struct pollfd p[3 + MAX_SOURCES];
		uint64_t now = now_ms();
		int np = 0, timeout = now < next_tick ? (int)(next_tick - now) : 0;

		p[np++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		for (int i = 0; i < 2; i++) {
			MHD_UNSIGNED_LONG_LONG t;

			if (!daemons[i])
				continue;
			p[np++] = (struct pollfd){ .fd = mhd_fd(daemons[i]), .events = POLLIN };
			if (MHD_get_timeout(daemons[i], &t) == MHD_YES && t < (unsigned)timeout)
				timeout = (int)t;
		}
		/* The NIC follower (xm_follow_*) adds its netlink socket with
		 * xmd_add_source; its events run here, between requests. */
		for (int i = 0; i < n_sources; i++)
			p[np++] = (struct pollfd){ .fd = sources[i].fd, .events = POLLIN };
		if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR) {
			perror("xmasqd: poll");
			return 1;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					xmd_reapply_file("SIGHUP");
				else
					return 0;
			}
		}
		for (int i = 0; i < 2; i++)
			if (daemons[i])
				run_daemon(daemons[i]);
		for (int i = 0, k = np - n_sources; i < n_sources; i++, k++)
			if (p[k].revents)
				sources[i].ready(sources[i].arg);
		/* Once a second, however busy: the ticks' checks are cheap. */
		if (now_ms() >= next_tick) {
			for (int i = 0; i < n_ticks; i++)
				ticks[i].ready(ticks[i].arg);
			next_tick = now_ms() + 1000;
		}
	}
}

/* --etcd: the rules booted from become the cache (a --cache FILE that
 * does not exist yet starts as a copy of --rules FILE). */
static int fleet_start(char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int errnum, rc;

	if (xmd_rules_read(xmd.opt.rules, &text, &len, err, errlen))
		return -1;
	if (xmd.opt.cache && strcmp(xmd.opt.cache, xmd.opt.rules)) {
		if (xmd_rules_stage(xmd.opt.cache, text, len, &errnum, err, errlen) ||
		    xmd_rules_commit(xmd.opt.cache, NULL, 0, err, errlen)) {
			free(text);
			return -1;
		}
		xmd.opt.rules = xmd.opt.cache;
	}
	rc = xmd_fleet_start(text, len, err, errlen);
	free(text);
	return rc;
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *https = NULL, *health = NULL;
	char err[1024], *ca_pem = NULL;
	int done = 0, rc, sigfd;
	sigset_t set;

	/* Buffers up to 32 MB (a rules file and its JSON) from the heap,
	 * which keeps what is freed while requests come: memory mapped
	 * afresh for each large buffer costs a fault per 4 kB page, and on
	 * the test VM a buffer kept in the mapped area kept paying it (a 3.5
	 * MB text written in 13 ms instead of 0.7 after another buffer's
	 * unmapping). The idle trim (trim_tick) gives it all back. A fixed
	 * threshold: glibc's own would rise and fall with the buffers. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	xmd.opt.pin_dir = XM_PIN_DIR_DEFAULT;
	rc = parse_args(argc, argv, &xmd.opt, &done);
	if (rc || done)
		return rc;
	origin_setup();
	/* Signals are read from a signalfd in the loop, never handled
	 * asynchronously; SIGPIPE from a closed client is ignored. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (xmd.opt.listen && xmd_tls_init(&xmd.opt, &ca_pem, err, sizeof(err))) {
		fprintf(stderr, "xmasqd: %s\n", err);
		return XMD_EXIT_USAGE;
	}
	if (xmd.opt.audit_log && xmd_audit_open(xmd.opt.audit_log, err, sizeof(err))) {
		fprintf(stderr, "xmasqd: %s\n", err);
		return 1;
	}
	/* The fleet boots from its cache, so a store that is down does not
	 * stop forwarding; the cache is then what each revision rewrites. */
	if (xmd.opt.etcd && xmd.opt.cache && access(xmd.opt.cache, F_OK) == 0)
		xmd.opt.rules = xmd.opt.cache;
	rc = start_router();
	if (rc)
		return rc;
	if (xmd.opt.etcd && fleet_start(err, sizeof(err))) {
		fprintf(stderr, "xmasqd: %s\n", err);
		return 1;
	}
	/* The NIC follower: a new address, MAC, MTU, link state, a NIC
	 * deleted and back are in the maps within a second, no apply. */
	if (xmd_follow_start(err, sizeof(err))) {
		fprintf(stderr, "xmasqd: %s\n", err);
		return 1;
	}
	if (xmd.opt.listen) {
		https = xmd_https_start(ca_pem, err, sizeof(err));
		if (!https) {
			fprintf(stderr, "xmasqd: %s\n", err);
			return 1;
		}
		printf("serving https://%s (origin %s)\n", xmd.opt.listen, xmd.origin);
	}
	if (xmd.opt.health) {
		health = xmd_health_start(err, sizeof(err));
		if (!health) {
			fprintf(stderr, "xmasqd: %s\n", err);
			return 1;
		}
		printf("serving http://%s/healthz\n", xmd.opt.health);
	}
	xmd_add_tick(trim_tick, NULL);
	fflush(stdout);
	rc = loop(https, health, sigfd);
	if (https)
		MHD_stop_daemon(https);
	if (health)
		MHD_stop_daemon(health);
	free(ca_pem);
	if (xmd.opt.etcd)
		xmd_fleet_stop();
	printf("stopped; the data plane keeps forwarding (xmasq detach to stop it)\n");
	return rc;
}
