/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Sites: one network file describes every site's router, the services each
 * exports and which sites import them; each router derives its own rules
 * from it by its site name (see sites.c for the grammar).
 */
#ifndef XMASQ_SITES_H
#define XMASQ_SITES_H

#include <stddef.h>
#include <stdint.h>
#include "rules.h"

#define XM_SITE_NAME_MAX  32 /* bytes with the NUL */
#define XM_SITE_ADDRS_MAX 8  /* public addresses of one site */

/* `site NAME public ADDR[,ADDR...] on IFACE private IFACE` */
struct xm_site {
	char name[XM_SITE_NAME_MAX];
	uint32_t public_addr[XM_SITE_ADDRS_MAX]; /* network order; importers connect to [0] */
	uint8_t n_public;
	char public_if[XM_IFNAMSIZ];
	char private_if[XM_IFNAMSIZ];
	unsigned line;
};

/* `service NAME at SITE PROTO PORT[-PORT] to ADDR[:PORT[-PORT]]` */
struct xm_service {
	char name[XM_SITE_NAME_MAX];
	size_t site;		   /* index in sites */
	uint8_t proto;		   /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port_lo, port_hi; /* on the site's public NIC, host order */
	uint32_t to_addr;	   /* the backend, network order */
	uint16_t to_lo, to_hi;
	unsigned line;
};

/* `import SERVICE into SITE at ADDR[:PORT]` */
struct xm_import {
	size_t service;	 /* index in services */
	size_t site;	 /* index in sites */
	uint32_t vip;	 /* on the site's private NIC, network order */
	uint16_t vip_lo; /* first port at the VIP (as many as the service has) */
	unsigned line;
};

struct xm_network {
	struct xm_site *sites;
	size_t n_sites;
	struct xm_service *services;
	size_t n_services;
	struct xm_import *imports;
	size_t n_imports;
};

/* Parses a whole network text. 0 on success (free *out with
 * xm_network_free); on the first error -2 (-1 when out of memory) and one
 * line "FILE:LINE:COL: what is wrong (expected ...)" in err. */
int xm_network_parse(const char *text, size_t len, const char *filename, struct xm_network *out,
		     char *err, size_t errlen);
void xm_network_free(struct xm_network *net);

/* Index of the site called name, or -1. */
long xm_network_site(const struct xm_network *net, const char *name);

/* The rules one site's router derives: a rules text, one statement a line,
 * each ending with a comment naming the network file's line. */
struct xm_derived {
	char *text;	   /* NUL-terminated */
	size_t len;	   /* without the NUL */
	unsigned *line_of; /* derived line (1-based) -> network file line; [0] unused */
	size_t n_lines;
	size_t n_rules; /* forward statements in text */
};

/* Derives site's rules (filename names the network file in the comments).
 * 0, -2 when the site is unknown or its rules break a limit (err says
 * which), -1 when out of memory. */
int xm_network_derive(const struct xm_network *net, const char *filename, const char *site,
		      struct xm_derived *out, char *err, size_t errlen);
void xm_derived_free(struct xm_derived *d);

/* Reads a text file of at most XM_RULES_FILE_MAX bytes into *text (NUL
 * appended, free it). 0, -2 when too big, -1 on an I/O error ("FILE:
 * reason" in err). */
int xm_text_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen);

/*
 * A router's rule set: its own rules text (may be empty) followed by the
 * rules derived for site from the network text, parsed as one set, so
 * that an overlap between the two is found. Errors point into the file
 * they come from: "RULES:LINE:COL: ..." for the router's own lines,
 * "NETWORK:LINE: in the rules derived for site S: ..." for derived ones.
 * On success *derived (when not NULL) holds the derived rules, for
 * showing; the rules' lines past own_lines are derived ones (see
 * xm_sites_error_remap for errors found later, when applying).
 */
int xm_rules_parse_with_network(const char *rules_text, size_t rules_len, const char *rules_fname,
				const char *net_text, size_t net_len, const char *net_fname,
				const char *site, struct xm_ruleset *out,
				struct xm_derived *derived, unsigned *own_lines, char *err,
				size_t errlen);

/* Rewrites an error "RULES:LINE:COL: msg" whose LINE is past own_lines
 * (a derived rule) to point at the network file's line, in place. */
void xm_sites_error_remap(char *err, size_t errlen, const char *rules_fname, unsigned own_lines,
			  const struct xm_derived *d, const char *net_fname, const char *site);

#endif
