// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq publish --etcd URLS --ruleset NAME [--if-revision R] [--wait S]
 * FILE`: validates FILE with the rules parser, writes it whole to
 * /xmasq/v1/rulesets/NAME in one etcd transaction (compared on the key's
 * mod_revision with --if-revision, so of two publishers from the same
 * revision exactly one wins), and with --wait follows the routers' status
 * keys until every live router bound to NAME has applied it or said why
 * not. */
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

struct publish_opts {
	const char *etcd, *ruleset, *if_revision, *wait;
};

static int read_file(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t cap = 65536, n = 0;
	char *buf = NULL;

	if (!f)
		return -1;
	for (;;) {
		char *p = realloc(buf, cap + 1);

		if (!p) {
			free(buf);
			fclose(f);
			errno = ENOMEM;
			return -1;
		}
		buf = p;
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap || cap > XM_RULES_FILE_MAX)
			break;
		cap *= 2;
	}
	if (ferror(f) || n > XM_RULES_FILE_MAX) {
		int e = ferror(f) ? EIO : EFBIG;

		free(buf);
		fclose(f);
		errno = e;
		return -1;
	}
	fclose(f);
	buf[n] = 0;
	*text = buf;
	*len = n;
	return 0;
}

static int valid_name(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._"
			       "-") == strlen(s);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Follows the status keys until each router bound to name has applied revision
 * or failed it; 0 all applied, 1 otherwise (printed). */
static int wait_applied(struct xm_etcd *e, const char *name, int64_t revision, double secs)
{
	double deadline = now_s() + secs;
	const size_t plen = strlen(XM_FLEET_PREFIX "status/");
	char err[1024];

	for (;;) {
		struct xm_etcd_kv *kvs;
		size_t n, bound = 0, done = 0, failed = 0;
		int64_t rev;
		int last = now_s() >= deadline;
		char pending[4096] = "", failures[4096] = "";

		if (xm_etcd_range(e, XM_FLEET_PREFIX "status/", 1, &kvs, &n, &rev, err,
				  sizeof(err))) {
			if (last) {
				fprintf(stderr, "xmasq: publish: --wait: %s\n", err);
				return 1;
			}
			n = 0;
			kvs = NULL;
		}
		for (size_t i = 0; i < n; i++) {
			json_t *st = json_loadb(kvs[i].value, kvs[i].len, 0, NULL);
			const char *rs = json_string_value(json_object_get(st, "ruleset"));
			const char *id = kvs[i].key + plen;
			json_int_t applied = json_integer_value(json_object_get(st, "applied_"
										    "revision"));
			json_int_t err_rev = json_integer_value(json_object_get(st, "error_"
										    "revision"));
			const char *why = json_string_value(json_object_get(st, "error"));
			int stale = json_is_true(json_object_get(st, "stale"));

			if (st && rs && !strcmp(rs, name)) {
				bound++;
				if (applied >= revision) {
					done++;
				} else if (err_rev >= revision && why && *why) {
					failed++;
					snprintf(failures + strlen(failures),
						 sizeof(failures) - strlen(failures),
						 "  %s did not apply revision %lld: %s\n", id,
						 (long long)err_rev, why);
				} else {
					snprintf(pending + strlen(pending),
						 sizeof(pending) - strlen(pending),
						 "  %s has not applied it (it has revision "
						 "%lld%s)\n",
						 id, (long long)applied,
						 stale ? ", and it is cut off from the store" : "");
				}
			}
			json_decref(st);
		}
		xm_etcd_kvs_free(kvs, n);
		if (kvs && done + failed == bound) {
			if (bound == 0)
				printf("no live router is bound to ruleset %s\n", name);
			else
				printf("applied by %zu of %zu routers bound to %s\n", done, bound,
				       name);
			if (failed)
				fprintf(stderr, "xmasq: publish: revision %lld failed:\n%s",
					(long long)revision, failures);
			return failed ? 1 : 0;
		}
		if (last) {
			fprintf(stderr,
				"xmasq: publish: revision %lld is not live everywhere after %.0f s "
				"(%zu of %zu routers bound to %s applied it):\n%s%s",
				(long long)revision, secs, done, bound, name, failures, pending);
			return 1;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static int run_publish(const struct cli_global *g, void *opts, int argc, char **argv)
{
	const struct publish_opts *o = opts;
	char err[2048], key[512], *text, *end;
	int64_t if_rev = -1, revision = 0;
	double wait_s = 0;
	struct xm_ruleset rs;
	struct xm_etcd e;
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
	if (read_file(argv[0], &text, &len)) {
		fprintf(stderr, "xmasq: publish: %s: cannot read it: %s\n", argv[0],
			strerror(errno));
		return 1;
	}
	/* The same parser as apply: nothing is written when a line is wrong. */
	rc = xm_rules_parse(text, len, argv[0], &rs, err, sizeof(err));
	if (rc) {
		free(text);
		fprintf(stderr, "xmasq: publish: %s; nothing was published\n", err);
		return EXIT_USAGE;
	}
	xm_ruleset_free(&rs);
	if (xm_etcd_init(&e, o->etcd, err, sizeof(err))) {
		free(text);
		return cli_usage_error(&cli_cmd_publish, "--etcd: %s", err);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(key, sizeof(key), XM_FLEET_PREFIX "rulesets/%s", o->ruleset);
	rc = xm_etcd_put(&e, key, text, len, 0, if_rev, &revision, err, sizeof(err));
	free(text);
	if (rc < 0) {
		fprintf(stderr, "xmasq: publish: %s; nothing was published\n", err);
		rc = 1;
	} else if (rc == 1) {
		if (revision)
			fprintf(stderr,
				"xmasq: publish: refused: ruleset %s was published at revision "
				"%lld, "
				"not %lld as --if-revision says (someone published since: read it, "
				"merge your change, and publish again with --if-revision %lld)\n",
				o->ruleset, (long long)revision, (long long)if_rev,
				(long long)revision);
		else
			fprintf(stderr,
				"xmasq: publish: refused: ruleset %s does not exist, so it is not "
				"at "
				"revision %lld (publish with --if-revision 0 to create it)\n",
				o->ruleset, (long long)if_rev);
		rc = 1;
	} else {
		printf("published ruleset %s: revision %lld\n", o->ruleset, (long long)revision);
		fflush(stdout);
		rc = o->wait ? wait_applied(&e, o->ruleset, revision, wait_s) : 0;
	}
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
	{ 0 },
};

const struct cli_command cli_cmd_publish = {
	.name = "publish",
	.operands = "FILE",
	.summary = "validate FILE and publish it to the fleet's etcd as a new revision",
	.description = "Validates FILE with the same parser as apply (nothing is written when a "
		       "line is wrong), writes it whole to /xmasq/v1/rulesets/NAME in one etcd "
		       "transaction and prints the new revision. Routers running xmasqd --etcd "
		       "--ruleset NAME apply it. Exit 1 when refused (--if-revision) or when "
		       "--wait sees a router fail it or time out.",
	.options = publish_options,
	.opts = &(struct publish_opts){ 0 },
	.run = run_publish,
};
