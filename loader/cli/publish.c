// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq publish --etcd URLS --ruleset NAME [--if-revision R] [--wait S]
 * FILE`: validates FILE with the rules parser, writes it whole to
 * /xmasq/v1/rulesets/NAME in one etcd transaction (compared on the key's
 * mod_revision with --if-revision, so of two publishers from the same
 * revision exactly one wins), retrying through member failures and leader
 * elections, and with --wait watches the routers' status keys until every
 * live router bound to NAME has applied it or said why not. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <jansson.h>
#include "cli.h"
#include "etcd.h"
#include "rules.h"
#include "sites.h"

struct publish_opts {
	const char *etcd, *ruleset, *if_revision, *wait, *timeout;
	int network;
};

static int valid_name(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._"
			       "-") == strlen(s);
}

/* ---- the write, through failovers and leader elections ---- */
enum publish_result {
	PUB_DONE,	   /* written: p->revision */
	PUB_REFUSED,	   /* --if-revision: the key is at p->revision */
	PUB_NOT_PUBLISHED, /* not in the store (p->err says why) */
	PUB_UNKNOWN,	   /* a write went unanswered and the store could not be read since */
};

struct pub {
	struct xm_etcd *e;
	const char *key, *text;
	size_t len;
	int64_t if_rev; /* -1: none */
	double deadline;
	int64_t revision;
	int64_t unanswered_base; /* the base of the first unanswered write, or -1 */
	int64_t checked_at;	 /* the store's revision when a read said it had not landed */
	int found_back;		 /* PUB_DONE by a read after an unanswered write */
	int tries;
	char err[2048];	 /* the last failure */
	char lost[1024]; /* the failure of the first write that got no answer */
};

/* The key now: *mod its mod_revision (0: absent), *ours when it holds
 * our text, *at the store's revision of the read. The value (megabytes
 * for 100,000 rules) is read only when a write of ours got no answer. */
static int read_key(struct pub *p, int64_t *mod, int *ours, int64_t *at)
{
	int flags = p->unanswered_base >= 0 ? 0 : XM_ETCD_KEYS_ONLY;
	struct xm_etcd_kv *kvs;
	size_t n;

	if (xm_etcd_range(p->e, p->key, flags, &kvs, &n, at, p->err, sizeof(p->err)))
		return -1;
	*mod = n ? kvs[0].mod_revision : 0;
	*ours = n && kvs[0].len == p->len && !memcmp(kvs[0].value, p->text, p->len);
	xm_etcd_kvs_free(kvs, n);
	return 0;
}

/* Each write compares the key's mod_revision with the one read before it,
 * so a write that got no answer and a retry cannot both land, and a
 * refused retry tells, by reading the key, whether the first one did.
 * Members that are down, have no leader or time out are retried (the
 * endpoints in turn, pausing a little longer each round) until
 * p->deadline. */
static enum publish_result publish_text(struct pub *p)
{
	int64_t base = -1;
	int unanswered = 0; /* a write got no answer and no read since said what became of it */
	double pause = 0.05;

	p->unanswered_base = -1;
	p->checked_at = 0;
	for (;;) {
		int64_t mod, at, rev;
		double left = p->deadline - cli_now_s();
		int ours, rc;

		if (left <= 0)
			return unanswered ? PUB_UNKNOWN : PUB_NOT_PUBLISHED;
		if (base < 0) {
			if (read_key(p, &mod, &ours, &at)) {
				cli_sleep_s(pause < left ? pause : left);
				pause = pause * 2 < 0.5 ? pause * 2 : 0.5;
				continue;
			}
			if (p->unanswered_base >= 0 && ours && mod > p->unanswered_base) {
				p->revision = mod;
				p->found_back = 1;
				return PUB_DONE;
			}
			if (unanswered) {
				unanswered = 0;
				p->checked_at = at;
			}
			if (p->if_rev >= 0 && mod != p->if_rev) {
				p->revision = mod;
				return PUB_REFUSED;
			}
			base = p->if_rev >= 0 ? p->if_rev : mod;
		}
		p->tries++;
		rc = xm_etcd_put(p->e, p->key, p->text, p->len, 0, base, &rev, p->err,
				 sizeof(p->err));
		if (rc == 0) {
			p->revision = rev;
			return PUB_DONE;
		}
		/* A member took it and did not answer, whatever came after. */
		if (p->e->ambiguous && p->unanswered_base < 0) {
			p->unanswered_base = base;
			snprintf(p->lost, sizeof(p->lost), "%.1000s", p->err);
		}
		if (rc == 1) {
			/* someone wrote since the read, or an unanswered write of
			 * ours landed: the next read tells */
			base = -1;
			continue;
		}
		if (p->e->ambiguous) {
			unanswered = 1;
			base = -1;
		}
		left = p->deadline - cli_now_s();
		cli_sleep_s(pause < left ? pause : left);
		pause = pause * 2 < 0.5 ? pause * 2 : 0.5;
	}
}

static int run_publish(const struct cli_global *g, void *opts, int argc, char **argv)
{
	const struct publish_opts *o = opts;
	char err[2048], key[512], *text, *end;
	int64_t if_rev = -1;
	double wait_s = 0, timeout_s = 10, t0;
	struct xm_ruleset rs;
	struct xm_etcd e;
	struct pub p;
	size_t len;
	int rc;

	(void)g;
	if (argc != 1)
		return cli_usage_error(&cli_cmd_publish, "give one rules FILE");
	if (!o->etcd || !o->ruleset)
		return cli_usage_error(&cli_cmd_publish, "--etcd URLS and --ruleset NAME are "
							 "needed");
	if (!valid_name(o->ruleset))
		return cli_usage_error(&cli_cmd_publish,
				       "--ruleset '%s': use letters, digits, '.', '_' and '-'",
				       o->ruleset);
	if (o->if_revision) {
		errno = 0;
		if_rev = strtoll(o->if_revision, &end, 10);
		if (errno || *end || if_rev < 0)
			return cli_usage_error(&cli_cmd_publish,
					       "--if-revision '%s' is not a revision (a number; 0: "
					       "the ruleset must not exist yet)",
					       o->if_revision);
	}
	if (o->wait) {
		wait_s = strtod(o->wait, &end);
		if (*end || wait_s <= 0 || wait_s > 86400)
			return cli_usage_error(&cli_cmd_publish, "--wait '%s' is not seconds",
					       o->wait);
	}
	if (o->timeout) {
		timeout_s = strtod(o->timeout, &end);
		if (*end || timeout_s <= 0 || timeout_s > 86400)
			return cli_usage_error(&cli_cmd_publish, "--timeout '%s' is not seconds",
					       o->timeout);
	}
	if (xm_text_read_file(argv[0], &text, &len, err, sizeof(err))) {
		fprintf(stderr, "xmasq: publish: %s\n", err);
		return 1;
	}
	/* The same parser as apply: nothing is written when a line is wrong. */
	if (o->network) {
		struct xm_network net;

		rc = xm_network_parse(text, len, argv[0], &net, err, sizeof(err));
		if (rc == 0)
			xm_network_free(&net);
	} else {
		rc = xm_rules_parse(text, len, argv[0], &rs, err, sizeof(err));
		if (rc == 0)
			xm_ruleset_free(&rs);
	}
	if (rc) {
		free(text);
		fprintf(stderr, "xmasq: publish: %s; nothing was published\n", err);
		return EXIT_USAGE;
	}
	if (xm_etcd_init(&e, o->etcd, err, sizeof(err))) {
		free(text);
		return cli_usage_error(&cli_cmd_publish, "--etcd: %s", err);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(key, sizeof(key), XM_FLEET_PREFIX "rulesets/%s", o->ruleset);
	t0 = cli_now_s();
	p = (struct pub){ .e = &e, .key = key, .text = text, .len = len, .if_rev = if_rev };
	p.deadline = t0 + timeout_s;
	/* no request outlasts it */
	e.deadline_ms = (uint64_t)(p.deadline * 1000);
	switch (publish_text(&p)) {
	case PUB_DONE:
		printf("published ruleset %s: revision %lld (%.0f ms)\n", o->ruleset,
		       (long long)p.revision, (cli_now_s() - t0) * 1000);
		fflush(stdout);
		if (p.found_back)
			fprintf(stderr,
				"xmasq: publish: no answer came to a write (%s); reading ruleset "
				"%s back found this file's text at revision %lld\n",
				p.lost, o->ruleset, (long long)p.revision);
		e.deadline_ms = 0;
		rc = o->wait ? cli_publish_wait(&e, o->ruleset, p.revision, wait_s) : 0;
		break;
	case PUB_REFUSED:
		if (p.revision)
			fprintf(stderr,
				"xmasq: publish: refused: ruleset %s was published at revision "
				"%lld, not %lld as --if-revision says (someone published since: "
				"read it, merge your change, and publish again with --if-revision "
				"%lld)\n",
				o->ruleset, (long long)p.revision, (long long)if_rev,
				(long long)p.revision);
		else
			fprintf(stderr,
				"xmasq: publish: refused: ruleset %s does not exist, so it is not "
				"at revision %lld (publish with --if-revision 0 to create it)\n",
				o->ruleset, (long long)if_rev);
		rc = 1;
		break;
	case PUB_NOT_PUBLISHED:
		if (p.checked_at)
			fprintf(stderr,
				"xmasq: publish: %s; nothing was published within %.0f s (a write "
				"got no answer, but the store did not have it at revision %lld, "
				"read after it; the tries since did not get in: publish again)\n",
				p.err, timeout_s, (long long)p.checked_at);
		else
			fprintf(stderr,
				"xmasq: publish: %s; nothing was published (no member took the "
				"write within %.0f s: publish again when the store is reachable, "
				"or give more --timeout)\n",
				p.err, timeout_s);
		rc = 1;
		break;
	case PUB_UNKNOWN:
		fprintf(stderr,
			"xmasq: publish: ruleset %s: a write was sent and no answer came (%s), "
			"and the store could not be read back within %.0f s (%s): the write "
			"MAY HAVE LANDED. Find out with 'etcdctl get %s -w json' (its "
			"mod_revision above %lld and this file's text: it did), or publish "
			"again with --if-revision %lld (refused if it did)\n",
			o->ruleset, p.lost, timeout_s, p.err, key, (long long)p.unanswered_base,
			(long long)p.unanswered_base);
		rc = 3;
		break;
	}
	free(text);
	xm_etcd_free(&e);
	curl_global_cleanup();
	return rc;
}

static const struct cli_option publish_options[] = {
	CLI_STRING("etcd", 0, "URLS", struct publish_opts, etcd,
		   "the etcd members' client URLs, comma-separated (http://HOST:2379,...)"),
	CLI_STRING("ruleset", 0, "NAME", struct publish_opts, ruleset,
		   "the rule set to write (/xmasq/v1/rulesets/NAME)"),
	CLI_STRING("if-revision", 0, "R", struct publish_opts, if_revision,
		   "only if the rule set is still at revision R (its mod_revision; 0: only if it "
		   "does not exist): refused when someone published since"),
	CLI_STRING("wait", 0, "SECONDS", struct publish_opts, wait,
		   "then wait until every live router bound to NAME has applied it; exit 1 "
		   "naming those that did not, and why"),
	CLI_FLAG("network", 0, struct publish_opts, network,
		 "FILE is a network file of sites (xmasq-sites(5)), validated as one: routers "
		 "running xmasqd --etcd --site NAME derive their rules from it"),
	CLI_STRING("timeout", 0, "SECONDS", struct publish_opts, timeout,
		   "how long to keep trying the write through member failures and leader "
		   "elections (default 10)"),
	{ 0 },
};

const struct cli_command cli_cmd_publish = {
	.name = "publish",
	.operands = "FILE",
	.summary = "validate FILE and publish it to the fleet's etcd as a new revision",
	.description = "Validates FILE with the same parser as apply (nothing is written when a "
		       "line is wrong), writes it whole to /xmasq/v1/rulesets/NAME in one etcd "
		       "transaction and prints the new revision. Routers running xmasqd --etcd "
		       "--ruleset NAME apply it. Members down and leader elections are retried "
		       "for --timeout seconds. Exit 1 when refused (--if-revision), when nothing "
		       "was published, or when --wait sees a router fail it or time out; exit 3 "
		       "when a write got no answer and the store could not be read since, so it "
		       "may have landed (the message says how to find out).",
	.options = publish_options,
	.opts = &(struct publish_opts){ 0 },
	.run = run_publish,
};
