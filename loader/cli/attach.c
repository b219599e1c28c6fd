// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq attach [--mode M] [--rules FILE] IFACE...`.
 *
 * With --rules, everything about FILE that can be known before attaching is
 * checked before attaching (grammar, interfaces exist, each rule's interface
 * is attached already or named on this command line), so a wrong file
 * leaves the machine as it was: exit 2 and nothing attached. Checking
 * against the router itself (xm_apply with check_only) cannot happen yet:
 * the interfaces being attached are not in its maps. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static const char usage_attach[] =
	"usage: xmasq attach [--mode auto|xdp|xdp-generic|tc] [--fresh|--migrate] [--rules FILE] "
	"IFACE...\n"
	"Loads the data plane once, pins its maps under the pin dir (reusing them\n"
	"if present, so flows survive), and attaches it to each IFACE: XDP (native,\n"
	"or generic) plus tc ingress, or tc only. Enables IPv4 forwarding on each\n"
	"IFACE. Then checks, per interface, whether XDP can transmit into it\n"
	"(see `xmasq status`).\n"
	"  --mode M      auto (the default): an interface managed already keeps\n"
	"                its mode; a new veth gets tc (XDP on a veth costs TCP its\n"
	"                TSO and GRO: bulk TCP 0.6x); any other NIC native XDP,\n"
	"                or tc if its driver has none. xdp: native XDP plus tc;\n"
	"                xdp-generic; tc: tc only\n"
	"  --fresh       drop the pinned maps first: flows and counters start over\n"
	"  --migrate     convert pinned maps of an older layout (needed only when an\n"
	"                upgrade changes the layout; attach says so)\n"
	"                (the way to resize the flow table to set conntrack-max)\n"
	"  --rules FILE  then apply FILE, as `xmasq apply FILE` does. FILE is\n"
	"                validated before anything is attached (grammar, every\n"
	"                interface it names exists and is attached already or\n"
	"                named here): if it is wrong, nothing is attached and the\n"
	"                exit status is 2. Its set conntrack-max sizes the flow\n"
	"                table when the maps are created.\n";

/* Is ifname among the interfaces named on the command line or those the
 * router at pin_dir already manages (s, may be NULL)? */
static int will_be_managed(const char *ifname, char *const *names, int n,
			   const struct xm_snapshot *s)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(ifname, names[i]))
			return 1;
	for (size_t i = 0; s && i < s->n_ifaces; i++)
		if (!strcmp(ifname, s->ifaces[i].name))
			return 1;
	return 0;
}

static int unmanaged(const char *file, const char *ifname, unsigned line, unsigned col)
{
	fprintf(stderr,
		"%s:%u:%u: interface '%s' is neither attached nor named on this command "
		"(add it: xmasq attach --rules %s ... %s); nothing was attached\n",
		file, line, col, ifname, file, ifname);
	return EXIT_USAGE;
}

/* The checks that need no router: grammar, interfaces exist, and every
 * interface a rule names will be managed once this attach is done. */
static int precheck(const char *pin_dir, const struct xm_ruleset *rs, const char *file,
		    char *const *names, int n, int fresh)
{
	struct xm_apply_result res;
	struct xm_snapshot s, *sp = NULL;
	struct xm_handle h;
	char err[1024];
	int rc;

	rc = xm_apply(NULL, rs, file, 1, &res, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s; nothing was attached\n", err);
		return rc == -2 ? EXIT_USAGE : 1;
	}
	/* A router already there may manage more interfaces than we name
	 * (not after --fresh: its interface map is dropped with the rest). */
	if (!fresh && xm_open(&h, pin_dir, err, sizeof(err)) == 0) {
		if (xm_snapshot_read(&h, &s, err, sizeof(err)) == 0)
			sp = &s;
		xm_close(&h);
	}
	rc = 0;
	for (size_t i = 0; !rc && i < rs->n_rules; i++)
		if (!will_be_managed(rs->rules[i].ifname, names, n, sp))
			rc = unmanaged(file, rs->rules[i].ifname, rs->rules[i].line,
				       rs->rules[i].iface_col);
	for (size_t i = 0; !rc && i < rs->n_masqs; i++)
		if (!will_be_managed(rs->masqs[i].out_ifname, names, n, sp))
			rc = unmanaged(file, rs->masqs[i].out_ifname, rs->masqs[i].line,
				       rs->masqs[i].iface_col);
	if (sp)
		xm_snapshot_free(sp);
	return rc;
}

int xm_cmd_attach(int argc, char **argv, const char *pin_dir)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' }, { "rules", required_argument, NULL, 'r' },
		{ "fresh", no_argument, NULL, 'f' },	  { "migrate", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },	  { 0 },
	};
	struct xm_attach_opts o = { .mode = XM_MODE_AUTO };
	const char *file = NULL;
	struct xm_ruleset rs;
	char err[1024];
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hm:", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_attach, stdout);
			return 0;
		} else if (c == 'm') {
			if (!strcmp(optarg, "xdp"))
				o.mode = XM_MODE_XDP;
			else if (strcmp(optarg, "auto") == 0)
				o.mode = XM_MODE_AUTO;
			else if (!strcmp(optarg, "xdp-generic"))
				o.mode = XM_MODE_XDP_GENERIC;
			else if (!strcmp(optarg, "tc"))
				o.mode = XM_MODE_TC;
			else {
				fprintf(stderr,
					"xmasq attach: unknown mode '%s' (expected auto, xdp, "
					"xdp-generic or tc)\n",
					optarg);
				return EXIT_USAGE;
			}
		} else if (c == 'r') {
			file = optarg;
		} else if (c == 'f') {
			o.fresh = 1;
		} else if (c == 'g') {
			o.migrate = 1;
		} else {
			fputs(usage_attach, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "xmasq attach: no interface given\n%s", usage_attach);
		return EXIT_USAGE;
	}
	if (!file) {
		rc = xm_attach_ex(pin_dir, argv + optind, argc - optind, &o, stdout, err,
				  sizeof(err));
		if (rc)
			fprintf(stderr, "xmasq: %s\n", err);
		return rc == 0 ? 0 : rc == -2 ? EXIT_USAGE : 1;
	}

	if (xm_rules_parse_file(file, &rs, err, sizeof(err))) {
		fprintf(stderr, "%s; nothing was attached\n", err);
		return EXIT_USAGE;
	}
	xm_quiet_libs();
	rc = precheck(pin_dir, &rs, file, argv + optind, argc - optind, o.fresh);
	if (rc == 0) {
		/* A new flow table gets the size the file asks for. */
		o.ct_max = rs.settings.ct_max;
		rc = xm_attach_ex(pin_dir, argv + optind, argc - optind, &o, stdout, err,
				  sizeof(err));
		if (rc) {
			fprintf(stderr, "xmasq: %s\n", err);
			rc = rc == -2 ? EXIT_USAGE : 1;
		} else {
			rc = xm_cli_apply(pin_dir, &rs, file, 0);
			/* Unlikely after the pre-check, but possible (an
			 * interface vanished meanwhile): say what state the
			 * machine is in. */
			if (rc)
				fprintf(stderr,
					"xmasq attach: the interfaces are attached but %s was not "
					"applied "
					"(the rules live before stay); fix it and run: xmasq apply "
					"%s\n",
					file, file);
		}
	}
	xm_ruleset_free(&rs);
	return rc;
}
