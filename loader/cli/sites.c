// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq sites check FILE` and `xmasq sites derive --site NAME FILE`: the
 * network file, and the rules one site's router derives from it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "cli.h"
#include "sites.h"

struct sites_opts {
	const char *site;
};

static int read_network(const char *file, struct xm_network *net)
{
	char err[1024], *text;
	size_t len;
	int rc;

	rc = xm_text_read_file(file, &text, &len, err, sizeof(err));
	if (!rc) {
		rc = xm_network_parse(text, len, file, net, err, sizeof(err));
		free(text);
	}
	if (rc)
		fprintf(stderr, "%s\n", err);
	return rc;
}

static void print_summary(const char *file, const struct xm_network *net)
{
	char a[16];

	printf("%s: %zu sites, %zu services, %zu imports OK\n", file, net->n_sites, net->n_services,
	       net->n_imports);
	for (size_t i = 0; i < net->n_sites; i++) {
		const struct xm_site *st = &net->sites[i];
		unsigned exports = 0, imports = 0;

		for (size_t j = 0; j < net->n_services; j++)
			exports += net->services[j].site == i;
		for (size_t j = 0; j < net->n_imports; j++)
			imports += net->imports[j].site == i;
		inet_ntop(AF_INET, &st->public_addr[0], a, sizeof(a));
		printf("  site %-12s public %-15s exports %u, imports %u\n", st->name, a, exports,
		       imports);
	}
}

static int run_sites(const struct cli_global *g, void *opts, int argc, char **argv)
{
	const struct sites_opts *o = opts;
	struct xm_network net;
	struct xm_derived d;
	char err[1024];
	int rc;

	(void)g;
	if (argc != 2 || (strcmp(argv[0], "check") && strcmp(argv[0], "derive")))
		return cli_usage_error(&cli_cmd_sites, "expected check FILE or derive --site NAME "
						       "FILE");
	if (!strcmp(argv[0], "derive") && !o->site)
		return cli_usage_error(&cli_cmd_sites, "derive needs --site NAME");
	if (read_network(argv[1], &net))
		return EXIT_USAGE;
	if (!strcmp(argv[0], "check")) {
		print_summary(argv[1], &net);
		xm_network_free(&net);
		return 0;
	}
	rc = xm_network_derive(&net, argv[1], o->site, &d, err, sizeof(err));
	xm_network_free(&net);
	if (rc)
		return cli_fail(rc, err, argv[1]);
	fputs(d.text, stdout);
	xm_derived_free(&d);
	return 0;
}

static const struct cli_option sites_options[] = {
	CLI_STRING("site", 0, "NAME", struct sites_opts, site,
		   "the site whose router's rules derive prints"),
	{ 0 },
};

const struct cli_command cli_cmd_sites = {
	.name = "sites",
	.operands = "check|derive FILE",
	.summary = "a network file of sites: check it, or print a site's derived rules",
	.description = "check: validates the network FILE (sites, services, imports) and lists "
		       "its sites. derive --site NAME: prints the rules NAME's router derives "
		       "from FILE (each with a comment naming FILE's line); `xmasq apply "
		       "--network FILE --site NAME` applies them with the router's own rules. "
		       "See xmasq-sites(5).",
	.options = sites_options,
	.opts = &(struct sites_opts){ 0 },
	.run = run_sites,
};
