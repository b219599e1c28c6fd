// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq attach [--mode MODE] [--fresh] [--migrate] [--rules FILE] IFACE...`.
 *
 * With --rules, everything about FILE that can be known before attaching is
 * checked before attaching (grammar, interfaces exist, each rule's interface
 * is attached already or named on this command line), so a wrong file
 * leaves the machine as it was: exit 2 and nothing attached. Checking
 * against the router itself (xm_apply with check_only) cannot happen yet:
 * the interfaces being attached are not in its maps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

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
		return cli_exit_status(rc);
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

struct attach_opts {
	struct xm_attach_opts lib;
	const char *rules;
};

static int set_mode(void *opts, const struct cli_option *opt, const char *arg)
{
	static const struct {
		const char *name;
		enum xm_mode mode;
	} modes[] = {
		{ "auto", XM_MODE_AUTO },
		{ "xdp", XM_MODE_XDP },
		{ "xdp-generic", XM_MODE_XDP_GENERIC },
		{ "tc", XM_MODE_TC },
	};

	(void)opt;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(arg, modes[i].name)) {
			((struct attach_opts *)opts)->lib.mode = modes[i].mode;
			return 0;
		}
	}
	return cli_usage_error(&cli_cmd_attach,
			       "unknown mode '%s': expected auto, xdp, xdp-generic or tc", arg);
}

/* Attaches and, with --rules, applies the file checked already. */
static int attach_and_apply(const char *pin_dir, struct attach_opts *o, const struct xm_ruleset *rs,
			    char **ifnames, int n)
{
	struct xm_apply_opts apply = { 0 };
	char err[1024];
	int rc;

	rc = xm_attach_ex(pin_dir, ifnames, n, &o->lib, stdout, err, sizeof(err));
	if (rc)
		return cli_fail(rc, err, NULL);
	if (!rs)
		return 0;
	rc = xm_cli_apply(pin_dir, rs, o->rules, &apply);
	/* Unlikely after the pre-check, but possible (an interface vanished
	 * meanwhile): say what state the machine is in. */
	if (rc)
		fprintf(stderr,
			"xmasq: attach: the interfaces are attached but %s was not applied (the "
			"rules live before stay); fix it and run: xmasq apply %s\n",
			o->rules, o->rules);
	return rc;
}

static int run_attach(const struct cli_global *g, void *opts, int argc, char **argv)
{
	struct attach_opts *o = opts;
	struct xm_ruleset rs;
	char err[1024];
	int rc;

	if (argc == 0)
		return cli_usage_error(&cli_cmd_attach, "no interface given");
	if (!o->rules)
		return attach_and_apply(g->pin_dir, o, NULL, argv, argc);
	if (xm_rules_parse_file(o->rules, &rs, err, sizeof(err))) {
		fprintf(stderr, "%s; nothing was attached\n", err);
		return EXIT_USAGE;
	}
	rc = precheck(g->pin_dir, &rs, o->rules, argv, argc, o->lib.fresh);
	if (rc)
		goto cleanup;
	/* A new flow table gets the size the file asks for. */
	o->lib.ct_max = rs.settings.ct_max;
	o->lib.ct6_max = rs.settings.ct6_max;
	rc = attach_and_apply(g->pin_dir, o, &rs, argv, argc);
cleanup:
	xm_ruleset_free(&rs);
	return rc;
}

static const struct cli_option attach_options[] = {
	{ "mode", 'm', "MODE",
	  "auto (the default): an interface managed already keeps its mode; a new veth gets "
	  "tc (XDP on a veth costs TCP its TSO and GRO: bulk TCP 0.6x); any other NIC native "
	  "XDP, or tc if its driver has none. xdp: native XDP plus tc; xdp-generic: generic "
	  "XDP plus tc; tc: tc only",
	  set_mode, 0 },
	CLI_FLAG("fresh", 0, struct attach_opts, lib.fresh,
		 "drop the pinned maps first: flows and counters start over (the way to resize "
		 "the flow tables to the file's set conntrack-max and conntrack6-max)"),
	CLI_FLAG("migrate", 0, struct attach_opts, lib.migrate,
		 "convert pinned maps of layout 1 (builds before the flow table of layout 2) "
		 "to this layout under traffic, keeping rules, counters and flows; needed only "
		 "when attach says the pinned layout differs"),
	CLI_STRING("rules", 0, "FILE", struct attach_opts, rules,
		   "then apply FILE, as `xmasq apply FILE` does. FILE is validated before "
		   "anything is attached (grammar, every interface it names exists and is "
		   "attached already or named here): if it is wrong, nothing is attached and "
		   "the exit status is 2. Its set conntrack-max and conntrack6-max size the flow "
		   "tables when the maps are created"),
	{ 0 },
};

const struct cli_command cli_cmd_attach = {
	.name = "attach",
	.operands = "IFACE...",
	.summary = "load, pin and attach the data plane (and apply FILE)",
	.description = "Loads the data plane once, pins its maps under the pin dir (reusing "
		       "them if present, so flows survive), and attaches it to each IFACE: XDP "
		       "(native, or generic) plus tc ingress, or tc only. Enables IPv4 "
		       "forwarding on each IFACE. Then checks, per interface, whether XDP can "
		       "transmit into it (see `xmasq status`).",
	.options = attach_options,
	.opts = &(struct attach_opts){ .lib = { .mode = XM_MODE_AUTO } },
	.run = run_attach,
};
