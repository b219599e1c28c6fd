/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Network file parser: sites, the services they export, who imports them.
 *
 *   site NAME public ADDR[,ADDR...] on IFACE private IFACE
 *   service NAME at SITE PROTO PORT[-PORT] to ADDR[:PORT[-PORT]]
 *   import SERVICE into SITE at ADDR[:PORT]
 *
 * A site and a service are declared before they are named. One statement a
 * line, words separated by spaces or tabs, `#` starts a comment. Errors
 * read "FILE:LINE:COL: what is wrong (expected ...)" like the rules
 * parser's; the derived rules are checked again by that parser.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "parse_text.h"
#include "sites.h"

#define SITE_SYNTAX    "site NAME public ADDR[,ADDR...] on IFACE private IFACE"
#define SERVICE_SYNTAX "service NAME at SITE PROTO PORT[-PORT] to ADDR[:PORT[-PORT]]"
#define IMPORT_SYNTAX  "import SERVICE into SITE at ADDR[:PORT]"
#define NAME_CHARS     "lower-case letters, digits, '_' or '-'"
#define SHOW_MAX       40		 /* bytes of a word shown in an error */
#define FROM_MAX       XM_ALLOW_LIST_MAX /* addresses in one `from` list */

struct word {
	const char *s;
	size_t len;
	size_t col; /* 1-based */
};

struct net_parser {
	struct xm_parse_at at; /* file, line, error buffer (parse_text.h) */
	size_t eol_col;
	const char *s; /* the current line, comment cut */
	size_t len, pos;
	struct xm_network net;
	size_t sites_cap, services_cap, imports_cap;
};

/* An error at column col of the line being parsed, "FILE:LINE:COL: ..." */
#define fail(p, col, ...) xm_parse_fail(&(p)->at, (col), __VA_ARGS__)
#define fail_oom(p)	  xm_parse_oom(&(p)->at)

static bool next_word(struct net_parser *p, struct word *w)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
		p->pos++;
	if (p->pos >= p->len)
		return false;
	w->s = p->s + p->pos;
	w->col = p->pos + 1;
	while (p->pos < p->len && p->s[p->pos] != ' ' && p->s[p->pos] != '\t')
		p->pos++;
	w->len = (size_t)(p->s + p->pos - w->s);
	return true;
}

static bool word_is(const struct word *w, const char *lit)
{
	return w->len == strlen(lit) && memcmp(w->s, lit, w->len) == 0;
}

/* Printable ASCII already (parse_line refuses control characters). */
static int shown(const struct word *w)
{
	return w->len > SHOW_MAX ? SHOW_MAX : (int)w->len;
}

/* The next word, which must be the keyword lit. */
static int expect(struct net_parser *p, const char *lit, const char *syntax)
{
	struct word w;

	if (!next_word(p, &w))
		return fail(p, p->eol_col, "missing '%s' (expected: %s)", lit, syntax);
	if (!word_is(&w, lit))
		return fail(p, w.col, "missing '%s' before '%.*s' (expected: %s)", lit, shown(&w),
			    w.s, syntax);
	return 0;
}

static int need_word(struct net_parser *p, struct word *w, const char *what, const char *syntax)
{
	if (!next_word(p, w))
		return fail(p, p->eol_col, "missing %s (expected: %s)", what, syntax);
	return 0;
}

static bool parse_addr(const char *s, size_t len, uint32_t *out)
{
	char buf[16];

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* inet_pton takes dotted quads only, without leading zeros */
	return inet_pton(AF_INET, buf, out) == 1;
}

static bool parse_u16(const char *s, size_t len, unsigned min, uint16_t *out)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < min || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* PORT or LO-HI, 1-65535. */
static int parse_ports(struct net_parser *p, const char *s, size_t len, size_t col, uint16_t *lo,
		       uint16_t *hi)
{
	const char *dash = memchr(s, '-', len);
	size_t llen = dash ? (size_t)(dash - s) : len;

	if (!parse_u16(s, llen, 1, lo) || (dash && !parse_u16(dash + 1, len - llen - 1, 1, hi)))
		return fail(p, col,
			    "invalid port '%.*s' (expected a port 1-65535 or a range such as "
			    "5000-5010)",
			    (int)(len > SHOW_MAX ? SHOW_MAX : len), s);
	if (!dash)
		*hi = *lo;
	if (*lo > *hi)
		return fail(p, col, "port range %u-%u is reversed (expected %u-%u)", *lo, *hi, *hi,
			    *lo);
	return 0;
}

static int check_name(struct net_parser *p, const struct word *w, const char *what)
{
	if (w->len >= XM_SITE_NAME_MAX)
		return fail(p, w->col,
			    "%s name '%.*s' is too long (expected at most %d characters)", what,
			    shown(w), w->s, XM_SITE_NAME_MAX - 1);
	for (size_t i = 0; i < w->len; i++) {
		char c = w->s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
			continue;
		return fail(p, w->col + i,
			    "invalid character '%c' in %s name '%.*s' (expected " NAME_CHARS ")", c,
			    what, shown(w), w->s);
	}
	return 0;
}

static int check_ifname(struct net_parser *p, const struct word *w)
{
	if (w->len >= XM_IFNAMSIZ)
		return fail(p, w->col,
			    "interface name '%.*s' is too long (expected at most %d characters)",
			    shown(w), w->s, XM_IFNAMSIZ - 1);
	for (size_t i = 0; i < w->len; i++) {
		char c = w->s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '@' || c == '-')
			continue;
		return fail(p, w->col + i,
			    "invalid character '%c' in interface name '%.*s' (expected letters, "
			    "digits, '_', '.', '@' or '-')",
			    c, shown(w), w->s);
	}
	return 0;
}

static void fmt_addr(char buf[16], uint32_t addr)
{
	inet_ntop(AF_INET, &addr, buf, 16);
}

/* Refuses an address the rules would refuse (loopback, metadata...). */
static int check_special(struct net_parser *p, uint32_t addr, size_t col, const char *what)
{
	const char *reason = xm_special_addr_reason(addr);
	char a[16];

	if (!reason)
		return 0;
	fmt_addr(a, addr);
	return fail(p, col, "%s %s is not usable: %s (expected an ordinary unicast address)", what,
		    a, reason);
}

/* A declared site by name; fails naming the statement that declares one. */
static int find_site(struct net_parser *p, const struct word *w, size_t *idx)
{
	for (size_t i = 0; i < p->net.n_sites; i++)
		if (word_is(w, p->net.sites[i].name)) {
			*idx = i;
			return 0;
		}
	return fail(p, w->col,
		    "unknown site '%.*s' (expected a site declared above: " SITE_SYNTAX ")",
		    shown(w), w->s);
}

static int parse_site(struct net_parser *p)
{
	struct xm_site st;
	struct word w;
	size_t at = 0;
	char a[16];

	memset(&st, 0, sizeof(st));
	st.line = (unsigned)p->at.line;
	if (need_word(p, &w, "site name", SITE_SYNTAX) || check_name(p, &w, "site"))
		return -1;
	for (size_t i = 0; i < p->net.n_sites; i++)
		if (word_is(&w, p->net.sites[i].name))
			return fail(p, w.col,
				    "site '%s' already declared on line %u (expected each site "
				    "once)",
				    p->net.sites[i].name, p->net.sites[i].line);
	memcpy(st.name, w.s, w.len);

	if (expect(p, "public", SITE_SYNTAX) || need_word(p, &w, "public address", SITE_SYNTAX))
		return -1;
	while (at <= w.len) {
		const char *comma = memchr(w.s + at, ',', w.len - at);
		size_t n = comma ? (size_t)(comma - (w.s + at)) : w.len - at;
		uint32_t addr;

		if (!parse_addr(w.s + at, n, &addr))
			return fail(p, w.col + at,
				    "invalid public address '%.*s' (expected an IPv4 address such "
				    "as 198.51.100.10, or several separated by commas)",
				    (int)(n > SHOW_MAX ? SHOW_MAX : n), w.s + at);
		if (check_special(p, addr, w.col + at, "public address"))
			return -1;
		if (st.n_public == XM_SITE_ADDRS_MAX)
			return fail(p, w.col + at,
				    "more than %d public addresses (expected at most %d)",
				    XM_SITE_ADDRS_MAX, XM_SITE_ADDRS_MAX);
		for (size_t i = 0; i < p->net.n_sites; i++)
			for (unsigned j = 0; j < p->net.sites[i].n_public; j++)
				if (p->net.sites[i].public_addr[j] == addr) {
					fmt_addr(a, addr);
					return fail(p, w.col + at,
						    "public address %s is site %s's already (line "
						    "%u; expected each site's own addresses)",
						    a, p->net.sites[i].name, p->net.sites[i].line);
				}
		for (unsigned j = 0; j < st.n_public; j++)
			if (st.public_addr[j] == addr) {
				fmt_addr(a, addr);
				return fail(p, w.col + at,
					    "public address %s twice (expected each once)", a);
			}
		st.public_addr[st.n_public++] = addr;
		at += n + 1;
	}

	if (expect(p, "on", SITE_SYNTAX) || need_word(p, &w, "public interface", SITE_SYNTAX) ||
	    check_ifname(p, &w))
		return -1;
	memcpy(st.public_if, w.s, w.len);
	if (expect(p, "private", SITE_SYNTAX) ||
	    need_word(p, &w, "private interface", SITE_SYNTAX) || check_ifname(p, &w))
		return -1;
	if (word_is(&w, st.public_if))
		return fail(p, w.col,
			    "private interface %s is the public one (expected the NIC facing the "
			    "site's hosts)",
			    st.public_if);
	memcpy(st.private_if, w.s, w.len);
	if (next_word(p, &w))
		return fail(p, w.col,
			    "unexpected '%.*s' (expected end of line after: " SITE_SYNTAX ")",
			    shown(&w), w.s);
	if (!xm_parse_grow((void **)&p->net.sites, &p->sites_cap, p->net.n_sites + 1, sizeof(st)))
		return fail_oom(p);
	p->net.sites[p->net.n_sites++] = st;
	return 0;
}

static int parse_service(struct net_parser *p)
{
	struct xm_service sv;
	struct word w, ports;
	const char *colon;
	size_t alen;

	memset(&sv, 0, sizeof(sv));
	sv.line = (unsigned)p->at.line;
	if (need_word(p, &w, "service name", SERVICE_SYNTAX) || check_name(p, &w, "service"))
		return -1;
	for (size_t i = 0; i < p->net.n_services; i++)
		if (word_is(&w, p->net.services[i].name))
			return fail(p, w.col,
				    "service '%s' already declared on line %u (expected each "
				    "service name once)",
				    p->net.services[i].name, p->net.services[i].line);
	memcpy(sv.name, w.s, w.len);
	if (expect(p, "at", SERVICE_SYNTAX) || need_word(p, &w, "site", SERVICE_SYNTAX) ||
	    find_site(p, &w, &sv.site))
		return -1;
	if (need_word(p, &w, "protocol", SERVICE_SYNTAX))
		return -1;
	if (word_is(&w, "tcp"))
		sv.proto = IPPROTO_TCP;
	else if (word_is(&w, "udp"))
		sv.proto = IPPROTO_UDP;
	else
		return fail(p, w.col, "unknown protocol '%.*s' (expected tcp or udp)", shown(&w),
			    w.s);
	if (need_word(p, &ports, "port", SERVICE_SYNTAX) ||
	    parse_ports(p, ports.s, ports.len, ports.col, &sv.port_lo, &sv.port_hi))
		return -1;
	for (size_t i = 0; i < p->net.n_services; i++) {
		const struct xm_service *o = &p->net.services[i];

		if (o->site == sv.site && o->proto == sv.proto && o->port_lo <= sv.port_hi &&
		    sv.port_lo <= o->port_hi)
			return fail(p, ports.col,
				    "port %.*s overlaps service %s on line %u (expected each of "
				    "site %s's public ports in one service)",
				    shown(&ports), ports.s, o->name, o->line,
				    p->net.sites[sv.site].name);
	}
	if (expect(p, "to", SERVICE_SYNTAX) || need_word(p, &w, "backend address", SERVICE_SYNTAX))
		return -1;
	colon = memchr(w.s, ':', w.len);
	alen = colon ? (size_t)(colon - w.s) : w.len;
	if (!parse_addr(w.s, alen, &sv.to_addr))
		return fail(p, w.col,
			    "invalid backend address '%.*s' (expected the service's address at "
			    "its site, such as 10.1.0.5:5432)",
			    (int)(alen > SHOW_MAX ? SHOW_MAX : alen), w.s);
	if (check_special(p, sv.to_addr, w.col, "backend address"))
		return -1;
	if (colon) {
		if (parse_ports(p, colon + 1, w.len - alen - 1, w.col + alen + 1, &sv.to_lo,
				&sv.to_hi))
			return -1;
		if (sv.to_lo != sv.to_hi && sv.to_hi - sv.to_lo != sv.port_hi - sv.port_lo)
			return fail(p, w.col + alen + 1,
				    "backend range %u-%u has %u ports but the service %u "
				    "(expected as many, or one backend port)",
				    sv.to_lo, sv.to_hi, sv.to_hi - sv.to_lo + 1u,
				    sv.port_hi - sv.port_lo + 1u);
	} else {
		sv.to_lo = sv.port_lo;
		sv.to_hi = sv.port_hi;
	}
	if (next_word(p, &w))
		return fail(p, w.col,
			    "unexpected '%.*s' (expected end of line after: " SERVICE_SYNTAX ")",
			    shown(&w), w.s);
	if (!xm_parse_grow((void **)&p->net.services, &p->services_cap, p->net.n_services + 1,
			   sizeof(sv)))
		return fail_oom(p);
	p->net.services[p->net.n_services++] = sv;
	return 0;
}

static int parse_import(struct net_parser *p)
{
	struct xm_import im;
	const struct xm_service *sv;
	struct word w;
	const char *colon;
	size_t alen;
	unsigned n_ports;
	char a[16];

	memset(&im, 0, sizeof(im));
	im.line = (unsigned)p->at.line;
	if (need_word(p, &w, "service", IMPORT_SYNTAX))
		return -1;
	im.service = p->net.n_services;
	for (size_t i = 0; i < p->net.n_services; i++)
		if (word_is(&w, p->net.services[i].name))
			im.service = i;
	if (im.service == p->net.n_services)
		return fail(p, w.col,
			    "unknown service '%.*s' (expected a service declared "
			    "above: " SERVICE_SYNTAX ")",
			    shown(&w), w.s);
	sv = &p->net.services[im.service];
	n_ports = sv->port_hi - sv->port_lo + 1u;
	if (expect(p, "into", IMPORT_SYNTAX) || need_word(p, &w, "site", IMPORT_SYNTAX) ||
	    find_site(p, &w, &im.site))
		return -1;
	if (im.site == sv->site)
		return fail(p, w.col,
			    "site %s exports %s itself (expected another site: %s's hosts reach "
			    "the service at its own address)",
			    p->net.sites[im.site].name, sv->name, p->net.sites[im.site].name);
	for (size_t i = 0; i < p->net.n_imports; i++)
		if (p->net.imports[i].service == im.service && p->net.imports[i].site == im.site)
			return fail(p, w.col,
				    "site %s imports %s already on line %u (expected each import "
				    "once)",
				    p->net.sites[im.site].name, sv->name, p->net.imports[i].line);
	if (expect(p, "at", IMPORT_SYNTAX) || need_word(p, &w, "private address", IMPORT_SYNTAX))
		return -1;
	colon = memchr(w.s, ':', w.len);
	alen = colon ? (size_t)(colon - w.s) : w.len;
	if (!parse_addr(w.s, alen, &im.vip))
		return fail(p, w.col,
			    "invalid private address '%.*s' (expected the address the site's hosts "
			    "use for the service, such as 10.2.255.1)",
			    (int)(alen > SHOW_MAX ? SHOW_MAX : alen), w.s);
	if (check_special(p, im.vip, w.col, "private address"))
		return -1;
	im.vip_lo = sv->port_lo;
	if (colon && !parse_u16(colon + 1, w.len - alen - 1, 1, &im.vip_lo))
		return fail(p, w.col + alen + 1,
			    "invalid port '%.*s' (expected the first port 1-65535 at the private "
			    "address)",
			    (int)(w.len - alen - 1 > SHOW_MAX ? SHOW_MAX : w.len - alen - 1),
			    colon + 1);
	if ((unsigned)im.vip_lo + n_ports - 1 > 65535)
		return fail(p, w.col + alen + 1,
			    "ports %u-%u run past 65535 (service %s has %u ports; expected a lower "
			    "first port)",
			    im.vip_lo, im.vip_lo + n_ports - 1, sv->name, n_ports);
	for (size_t i = 0; i < p->net.n_imports; i++) {
		const struct xm_import *o = &p->net.imports[i];
		const struct xm_service *osv = &p->net.services[o->service];
		unsigned o_hi = o->vip_lo + (unsigned)(osv->port_hi - osv->port_lo);

		if (o->site == im.site && o->vip == im.vip && osv->proto == sv->proto &&
		    o->vip_lo <= im.vip_lo + n_ports - 1 && im.vip_lo <= o_hi) {
			fmt_addr(a, im.vip);
			return fail(p, w.col,
				    "%s port %u at %s is service %s's already (line %u; expected "
				    "another address or port)",
				    sv->proto == IPPROTO_TCP ? "tcp" : "udp", im.vip_lo, a,
				    osv->name, o->line);
		}
	}
	if (next_word(p, &w))
		return fail(p, w.col,
			    "unexpected '%.*s' (expected end of line after: " IMPORT_SYNTAX ")",
			    shown(&w), w.s);
	if (!xm_parse_grow((void **)&p->net.imports, &p->imports_cap, p->net.n_imports + 1,
			   sizeof(im)))
		return fail_oom(p);
	p->net.imports[p->net.n_imports++] = im;
	return 0;
}

static int parse_line(struct net_parser *p, const char *s, size_t len)
{
	const char *hash;
	struct word kw;

	if (len && s[len - 1] == '\r')
		len--;
	hash = memchr(s, '#', len);
	if (hash)
		len = (size_t)(hash - s);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c >= 0x7f)
			return fail(p, i + 1,
				    "byte 0x%02x in the text (expected printable ASCII, words "
				    "separated by spaces or tabs)",
				    c);
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	p->s = s;
	p->len = len;
	p->pos = 0;
	p->eol_col = len + 1;
	if (!next_word(p, &kw))
		return 0;
	if (word_is(&kw, "site"))
		return parse_site(p);
	if (word_is(&kw, "service"))
		return parse_service(p);
	if (word_is(&kw, "import"))
		return parse_import(p);
	return fail(p, kw.col, "unknown statement '%.*s' (expected site, service or import)",
		    shown(&kw), kw.s);
}

void xm_network_free(struct xm_network *net)
{
	if (!net)
		return;
	free(net->sites);
	free(net->services);
	free(net->imports);
	memset(net, 0, sizeof(*net));
}

int xm_network_parse(const char *text, size_t len, const char *filename, struct xm_network *out,
		     char *err, size_t errlen)
{
	struct net_parser p;
	size_t pos = 0;

	memset(&p, 0, sizeof(p));
	memset(out, 0, sizeof(*out));
	p.at.fname = filename ? filename : "network";
	p.at.err = err;
	p.at.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	while (text && pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - (text + pos)) : len - pos;

		p.at.line++;
		if (parse_line(&p, text + pos, llen)) {
			xm_network_free(&p.net);
			return p.at.oom ? -1 : -2;
		}
		pos += llen + 1;
	}
	*out = p.net;
	return 0;
}

long xm_network_site(const struct xm_network *net, const char *name)
{
	for (size_t i = 0; i < net->n_sites; i++)
		if (strcmp(net->sites[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* ---- derivation -------------------------------------------------------- */

struct out_buf {
	struct xm_derived *d;
	size_t cap, lines_cap;
	bool oom;
};

/* Appends one line (a statement or a comment) that stems from net_line. */
__attribute__((format(printf, 3, 4))) static void emit(struct out_buf *o, unsigned net_line,
						       const char *fmt, ...)
{
	struct xm_derived *d = o->d;
	va_list ap;
	int n;

	if (o->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 ||
	    !xm_parse_grow((void **)&d->line_of, &o->lines_cap, d->n_lines + 2, sizeof(unsigned))) {
		o->oom = true;
		return;
	}
	while (d->len + (size_t)n + 2 > o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 1024;
		char *t = realloc(d->text, ncap);

		if (!t) {
			o->oom = true;
			return;
		}
		d->text = t;
		o->cap = ncap;
	}
	va_start(ap, fmt);
	vsnprintf(d->text + d->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	d->len += (size_t)n;
	d->text[d->len++] = '\n';
	d->text[d->len] = '\0';
	d->line_of[++d->n_lines] = net_line;
}

static void fmt_ports(char buf[12], unsigned lo, unsigned hi)
{
	if (lo == hi)
		snprintf(buf, 12, "%u", lo);
	else
		snprintf(buf, 12, "%u-%u", lo, hi);
}

/* The exporter's rule: the service on its public NIC, for its importers'
 * public addresses only. A service nobody imports is not forwarded. */
static int derive_export(const struct xm_network *net, const char *fname, size_t si,
			 struct out_buf *o, char *err, size_t errlen)
{
	const struct xm_service *sv = &net->services[si];
	const struct xm_site *st = &net->sites[sv->site];
	char from[FROM_MAX * 20] = "", who[512] = "", a[16], ports[12], to_ports[12];
	size_t at = 0, wat = 0;
	unsigned n_from = 0;

	for (size_t i = 0; i < net->n_imports; i++) {
		const struct xm_site *imp = &net->sites[net->imports[i].site];

		if (net->imports[i].service != si)
			continue;
		if (n_from + imp->n_public > FROM_MAX) {
			if (err && errlen)
				snprintf(err, errlen,
					 "%s:%u:1: service %s has more than %d importing addresses "
					 "(expected at most %d: a `from` list's limit)",
					 fname, sv->line, sv->name, FROM_MAX, FROM_MAX);
			return -2;
		}
		for (unsigned j = 0; j < imp->n_public; j++, n_from++) {
			fmt_addr(a, imp->public_addr[j]);
			at += (size_t)snprintf(from + at, sizeof(from) - at, "%s%s",
					       n_from ? "," : "", a);
		}
		if (wat < sizeof(who))
			wat += (size_t)snprintf(who + wat, sizeof(who) - wat, "%s%s",
						wat ? "," : "", imp->name);
	}
	fmt_ports(ports, sv->port_lo, sv->port_hi);
	fmt_ports(to_ports, sv->to_lo, sv->to_hi);
	fmt_addr(a, sv->to_addr);
	if (!n_from) {
		emit(o, sv->line, "# %s:%u: service %s: no site imports it, not forwarded", fname,
		     sv->line, sv->name);
		return 0;
	}
	emit(o, sv->line, "forward %s %s %s to %s:%s from %s # %s:%u: service %s for %s",
	     st->public_if, sv->proto == IPPROTO_TCP ? "tcp" : "udp", ports, a, to_ports, from,
	     fname, sv->line, sv->name, who);
	o->d->n_rules++;
	return 0;
}

/* The importer's rule: the VIP on its private NIC, to the exporter's first
 * public address (the source becomes this router's: masqueraded). */
static void derive_import(const struct xm_network *net, const char *fname,
			  const struct xm_import *im, struct out_buf *o)
{
	const struct xm_service *sv = &net->services[im->service];
	const struct xm_site *me = &net->sites[im->site];
	const struct xm_site *exp = &net->sites[sv->site];
	char vip[16], peer[16], ports[12], peer_ports[12];

	fmt_addr(vip, im->vip);
	fmt_addr(peer, exp->public_addr[0]);
	fmt_ports(ports, im->vip_lo, im->vip_lo + (unsigned)(sv->port_hi - sv->port_lo));
	fmt_ports(peer_ports, sv->port_lo, sv->port_hi);
	emit(o, im->line, "forward %s:%s %s %s to %s:%s # %s:%u: service %s from %s",
	     me->private_if, vip, sv->proto == IPPROTO_TCP ? "tcp" : "udp", ports, peer, peer_ports,
	     fname, im->line, sv->name, exp->name);
	o->d->n_rules++;
}

void xm_derived_free(struct xm_derived *d)
{
	if (!d)
		return;
	free(d->text);
	free(d->line_of);
	memset(d, 0, sizeof(*d));
}

int xm_network_derive(const struct xm_network *net, const char *filename, const char *site,
		      struct xm_derived *out, char *err, size_t errlen)
{
	struct out_buf o = { .d = out };
	const char *fname = filename ? filename : "network";
	long me = xm_network_site(net, site);
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (me < 0) {
		char names[256] = "";
		size_t at = 0;

		for (size_t i = 0; i < net->n_sites && at < sizeof(names); i++)
			at += (size_t)snprintf(names + at, sizeof(names) - at, "%s%s",
					       i ? ", " : "", net->sites[i].name);
		if (err && errlen)
			snprintf(err, errlen, "%s: no site '%s' (expected one of: %s)", fname, site,
				 net->n_sites ? names : "none declared");
		return -2;
	}
	emit(&o, 0, "# derived for site %s from %s: change %s, not these lines", site, fname,
	     fname);
	for (size_t i = 0; !rc && i < net->n_services; i++)
		if (net->services[i].site == (size_t)me)
			rc = derive_export(net, fname, i, &o, err, errlen);
	for (size_t i = 0; !rc && i < net->n_imports; i++)
		if (net->imports[i].site == (size_t)me)
			derive_import(net, fname, &net->imports[i], &o);
	if (o.oom && !rc) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", fname);
		rc = -1;
	}
	if (rc)
		xm_derived_free(out);
	return rc;
}

/* ---- files and the merge with a router's own rules ---------------------- */

int xm_text_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	return xm_parse_read_file(path, NULL, text, len, err, errlen);
}

static unsigned count_lines(const char *text, size_t len)
{
	unsigned n = 0;

	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	return n + (len && text[len - 1] != '\n');
}

void xm_sites_error_remap(char *err, size_t errlen, const char *rules_fname, unsigned own_lines,
			  const struct xm_derived *d, const char *net_fname, const char *site)
{
	unsigned line, col, dl;
	const char *msg;
	char *copy;

	if (!err || !errlen || !xm_rules_error_place(err, rules_fname, &line, &col, &msg) ||
	    line <= own_lines)
		return;
	dl = line - own_lines;
	if (dl > d->n_lines)
		return;
	copy = strdup(msg);
	if (!copy)
		return;
	/* Derived rules never clash with each other (the network parser
	 * refuses that): a line a message names is one of the router's own. */
	snprintf(err, errlen, "%s:%u:1: in the rules derived for site %s: %s%s%s%s", net_fname,
		 d->line_of[dl], site, copy, strstr(copy, " line ") ? " (the line named is " : "",
		 strstr(copy, " line ") ? rules_fname : "", strstr(copy, " line ") ? "'s)" : "");
	free(copy);
}

int xm_rules_parse_with_network(const char *rules_text, size_t rules_len, const char *rules_fname,
				const char *net_text, size_t net_len, const char *net_fname,
				const char *site, struct xm_ruleset *out,
				struct xm_derived *derived, unsigned *own_lines, char *err,
				size_t errlen)
{
	struct xm_network net;
	struct xm_derived d;
	bool nl = rules_len && rules_text[rules_len - 1] != '\n';
	char *all;
	int rc;

	memset(out, 0, sizeof(*out));
	xm_settings_default(&out->settings);
	if (derived)
		memset(derived, 0, sizeof(*derived));
	*own_lines = count_lines(rules_text, rules_len);
	rc = xm_network_parse(net_text, net_len, net_fname, &net, err, errlen);
	if (rc)
		return rc;
	rc = xm_network_derive(&net, net_fname, site, &d, err, errlen);
	xm_network_free(&net);
	if (rc)
		return rc;
	all = malloc(rules_len + nl + d.len + 1);
	if (!all) {
		xm_derived_free(&d);
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", net_fname);
		return -1;
	}
	if (rules_len)
		memcpy(all, rules_text, rules_len);
	if (nl)
		all[rules_len] = '\n';
	memcpy(all + rules_len + nl, d.text, d.len + 1);
	rc = xm_rules_parse(all, rules_len + nl + d.len, rules_fname, out, err, errlen);
	free(all);
	if (rc)
		xm_sites_error_remap(err, errlen, rules_fname, *own_lines, &d, net_fname, site);
	if (rc || !derived)
		xm_derived_free(&d);
	else
		*derived = d;
	return rc;
}
