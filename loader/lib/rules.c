/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Rules file parser: the one definition of the rules grammar.
 *
 *   forward IFACE[:LOCALADDR] PROTO PORT[-PORT] to ADDR[:PORT[-PORT]]
 *           [keep-source] [allow-special] [as ADDR[,ADDR...]]
 *           [from PREFIX[,PREFIX...]] [family ipv4|ipv6|any]
 *     (an IPv6 address is written in brackets, as in URLs: eth0:[2001:db8::1],
 *     to [fd00:8::2]:8443; `from` prefixes need none: 2001:db8:100::/48.
 *     family: the clients served, by default the local address's family,
 *     else the backend's; IPv6 clients of an IPv4 backend are 6->4)
 *   masquerade PREFIX/LEN out IFACE [as ADDR[,ADDR...]]
 *     (an IPv6 prefix is written bare, fd00:1::/64, or [fd00:1::]/64)
 *   `as` addresses are of the family the flows leave by: IPv6 for an IPv6
 *     masquerade and a forward to an IPv6 backend (bare or in brackets:
 *     as 2001:db8:1::10,[2001:db8:1::11]), else IPv4
 *   set conntrack-max N
 *   set conntrack6-max N
 *   set port-range LO-HI
 *   set timeout NAME SECONDS
 *   set nat-filtering address-port-dependent|address-dependent|endpoint-independent
 *   set nat-inbound-refresh yes|no
 *   set flows-per-source N
 *
 * One statement a line, words separated by spaces or tabs, `#` starts a
 * comment anywhere. The parser never copies a word into a fixed buffer: a
 * word is a (pointer, length) view into the caller's text, so a line or a
 * word of any length is safe. The first error stops the parse and is
 * reported as "FILE:LINE:COL: what is wrong (expected ...)".
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "parse_text.h"
#include "rules.h"
#include "text.h"

#define XM_RULES_MAX_RULES  (XM_MAX_RULES - 1)	    /* rule id 0 is unused */
#define XM_RULES_MAX_PORTS  (XM_MAX_RULE_PORTS / 2) /* one generation */
#define XM_RULES_MAX_MASQS6 (XM_MAX_MASQ_RULES / 2) /* masq_rules6, one generation */
#define XM_CT_MAX_MIN	    1024u
#define XM_CT_MAX_MAX	    16777216u
#define XM_PORT_RANGE_MIN   1024u
#define XM_PORT_RANGE_PORTS 16u
#define XM_TIMEOUT_MAX	    2592000u /* 30 days */

#define FWD_SYNTAX    "forward IFACE PROTO PORT to ADDR[:PORT]"
#define MASQ_SYNTAX   "masquerade PREFIX/LEN out IFACE [as ADDR[,ADDR...]]"
#define MASQ6_EXAMPLE "fd00:1::/64"
#define AS4_EXAMPLE   "192.0.2.1"
#define AS6_EXAMPLE   "2001:db8:1::10"
#define AS_SYNTAX     "as ADDR[,ADDR...] such as as 192.0.2.1,192.0.2.5"
#define AS6_SYNTAX    "as ADDR[,ADDR...] such as as 2001:db8:1::10,2001:db8:1::11"
#define FROM_SYNTAX   "from PREFIX[,PREFIX...] such as from 192.0.2.0/25,198.51.100.7"
#define FROM6_SYNTAX                       \
	"from PREFIX[,PREFIX...] such as " \
	"from 2001:db8:100::/48,2001:db8:200::7"
#define LOCAL6_FORM "IFACE:[ADDR] such as eth0:[2001:db8:1::1]"
#define TO6_FORM    "[ADDR] or [ADDR]:PORT such as [fd00:8::2]:8443"
#define SET_SYNTAX                                                          \
	"set conntrack-max N, set conntrack6-max N, set port-range LO-HI, " \
	"set timeout NAME SECONDS, "                                        \
	"set nat-filtering MODE, set nat-inbound-refresh yes|no or set flows-per-source N"
#define NAT_FILTERING_NAMES "address-port-dependent, address-dependent or endpoint-independent"
#define TIMEOUT_NAMES                                    \
	"tcp-syn, tcp-established, tcp-fin, tcp-close, " \
	"udp, udp-assured or icmp"
#define IFNAME_CHARS "letters, digits, '_', '.', '@' or '-'"

const char *const xm_timeout_names[XM_TO_MAX] = {
	[XM_TO_TCP_SYN] = "tcp-syn", [XM_TO_TCP_EST] = "tcp-established",
	[XM_TO_TCP_FIN] = "tcp-fin", [XM_TO_TCP_CLOSE] = "tcp-close",
	[XM_TO_UDP] = "udp",	     [XM_TO_UDP_ASSURED] = "udp-assured",
	[XM_TO_ICMP] = "icmp",
};

const char *xm_nat_filtering_name(uint32_t nat_flags)
{
	if (nat_flags & XM_CFG_NAT_FILTER_ANY)
		return "endpoint-independent";
	if (nat_flags & XM_CFG_NAT_FILTER_ADDR)
		return "address-dependent";
	return "address-port-dependent";
}

void xm_settings_default(struct xm_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->ct_max = XM_CT_DEFAULT_MAX;
	s->ct6_max = XM_CT6_DEFAULT_MAX;
	s->port_lo = XM_DEFAULT_PORT_LO;
	s->port_hi = XM_DEFAULT_PORT_HI;
	s->timeouts[XM_TO_TCP_SYN] = 120;
	s->timeouts[XM_TO_TCP_EST] = 7440;
	s->timeouts[XM_TO_TCP_FIN] = 120;
	s->timeouts[XM_TO_TCP_CLOSE] = 10;
	s->timeouts[XM_TO_UDP] = 30;
	s->timeouts[XM_TO_UDP_ASSURED] = 180;
	s->timeouts[XM_TO_ICMP] = 30;
	s->flows_per_source = XM_FLOWS_PER_SOURCE_AUTO;
}

const char *xm_special_addr_reason(uint32_t addr)
{
	uint32_t h = ntohl(addr);

	/* The exact addresses first: they sit inside wider blocks below. */
	if (h == 0xa9fea9feu) /* 169.254.169.254 */
		return "cloud metadata service";
	if (h == 0xa83f8110u) /* 168.63.129.16 */
		return "cloud metadata service (Azure wire server)";
	if ((h >> 24) == 0) /* 0.0.0.0/8 */
		return "unspecified";
	if ((h >> 24) == 127) /* 127.0.0.0/8 */
		return "loopback";
	if ((h >> 16) == 0xa9feu) /* 169.254.0.0/16 */
		return "link-local";
	if ((h >> 28) == 0xeu) /* 224.0.0.0/4 */
		return "multicast";
	if (h == 0xffffffffu)
		return "broadcast";
	if ((h >> 28) == 0xfu) /* 240.0.0.0/4 */
		return "reserved";
	return NULL;
}

const char *xm_special_addr6_reason(const struct in6_addr *addr)
{
	static const struct in6_addr metadata = { { { 0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0,
						      0, 0, 0, 0x02, 0x54 } } };
	const uint8_t *b = addr->s6_addr;

	if (memcmp(addr, &metadata, sizeof(metadata)) == 0) /* fd00:ec2::254 (AWS) */
		return "cloud metadata service";
	if (IN6_IS_ADDR_UNSPECIFIED(addr))
		return "unspecified";
	if (IN6_IS_ADDR_LOOPBACK(addr))
		return "loopback";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 */
		return "link-local";
	if (b[0] == 0xff) /* ff00::/8 */
		return "multicast";
	if (IN6_IS_ADDR_V4MAPPED(addr)) /* ::ffff:0:0/96 */
		return "IPv4-mapped";
	return NULL;
}

bool xm_ipv6_parse(const char *s, size_t len, struct in6_addr *out)
{
	char buf[INET6_ADDRSTRLEN];

	/* inet_pton needs the text NUL-terminated; nothing longer is an address */
	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, out) == 1;
}

void xm_ipv6_format(const struct in6_addr *addr, char *buf, size_t len)
{
	if (!buf || len == 0)
		return;
	if (!inet_ntop(AF_INET6, addr, buf, (socklen_t)len))
		buf[0] = '\0';
}

static bool addr6_is_zero(const struct in6_addr *a)
{
	return IN6_IS_ADDR_UNSPECIFIED(a);
}

bool xm_rule_has_local_addr(const struct xm_rule *r)
{
	return xm_rule_is_v6(r) ? !addr6_is_zero(&r->local_addr6) : r->local_addr != 0;
}

/* ---- small helpers ----------------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool tok_is(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len == n && memcmp(s, word, n) == 0;
}

/* Decimal digits only (no sign, no spaces). The value saturates just above
 * UINT32_MAX, which every caller treats as out of range. */
static bool parse_num(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return false;
		if (v <= UINT32_MAX)
			v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Strict dotted quad: four decimal parts 0-255, no leading zeros (which
 * other tools read as octal). Result in host order. */
static bool parse_ipv4(const char *s, size_t len, uint32_t *out)
{
	uint32_t v = 0;
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t start;
		unsigned n = 0;

		if (part) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		start = i;
		while (i < len && is_digit(s[i]) && i - start < 3)
			n = n * 10 + (unsigned)(s[i++] - '0');
		if (i == start || (i < len && is_digit(s[i])))
			return false;
		if (s[start] == '0' && i - start > 1)
			return false;
		if (n > 255)
			return false;
		v = v << 8 | n;
	}
	if (i != len)
		return false;
	*out = v;
	return true;
}

static void fmt_addr(char *buf, size_t len, uint32_t addr_be)
{
	struct xm_text t = xm_text_at(buf, len);

	xm_text_ipv4(&t, addr_be);
}

/* A word as shown inside an error: at most QUOTE_MAX source bytes, bytes
 * that are not printable ASCII written as \xNN. */
#define QUOTE_MAX 40
#define QBUF	  (QUOTE_MAX * 4 + 8)
static const char *quote(char buf[QBUF], const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c >= 0x7f) {
			snprintf(buf + o, 5, "\\x%02x", c);
			o += 4;
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* ---- parser state ------------------------------------------------------ */

struct tok {
	const char *s;
	size_t len;
	size_t col; /* 1-based */
};

struct lex {
	const char *s; /* the line without comment and line ending */
	size_t len;
	size_t pos;
};

/* Port table for overlap checks: open addressing, one slot per forwarded
 * (iface, local address, proto, port), value = rule index + 1. */
struct port_slot {
	uint32_t rule1; /* 0 = empty */
	uint16_t port;
	bool v6; /* the rule's IPv6 clients (a `family any` rule has a slot for each) */
};

struct parser {
	struct xm_parse_at at; /* file, line, error buffer (parse_text.h) */
	size_t eol_col;	       /* column just after the last word */
	struct xm_ruleset rs;
	size_t rules_cap, masqs_cap;
	size_t n_masqs6; /* IPv6 masquerades so far */
	size_t set_line_ct, set_line_ct6, set_line_ports, set_line_to[XM_TO_MAX];
	size_t set_line_filtering, set_line_refresh, set_line_quota;
	struct port_slot *ht;
	size_t ht_cap, ht_n;
};

static bool next_tok(struct lex *lx, struct tok *t)
{
	size_t start;

	while (lx->pos < lx->len && (lx->s[lx->pos] == ' ' || lx->s[lx->pos] == '\t'))
		lx->pos++;
	if (lx->pos >= lx->len)
		return false;
	start = lx->pos;
	while (lx->pos < lx->len && lx->s[lx->pos] != ' ' && lx->s[lx->pos] != '\t')
		lx->pos++;
	t->s = lx->s + start;
	t->len = lx->pos - start;
	t->col = start + 1;
	return true;
}

/* An error at column col of the line being parsed, "FILE:LINE:COL: ..." */
#define fail(ps, col, ...) xm_parse_fail(&(ps)->at, (col), __VA_ARGS__)
#define fail_oom(ps)	   xm_parse_oom(&(ps)->at)

/* ---- word checkers ----------------------------------------------------- */

static int check_ifname(struct parser *ps, const char *s, size_t len, size_t col)
{
	char q[QBUF], qc[QBUF];

	if (len >= XM_IFNAMSIZ)
		return fail(ps, col,
			    "interface name '%s' is too long "
			    "(expected at most %d characters)",
			    quote(q, s, len), XM_IFNAMSIZ - 1);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
		    c == '.' || c == '@' || c == '-')
			continue;
		return fail(ps, col,
			    "invalid character '%s' in interface "
			    "name '%s' (expected " IFNAME_CHARS ")",
			    quote(qc, s + i, 1), quote(q, s, len));
	}
	if (tok_is(s, len, ".") || tok_is(s, len, ".."))
		return fail(ps, col,
			    "invalid interface name '%s' (expected "
			    "a name other than '.' and '..')",
			    quote(q, s, len));
	return 0;
}

struct range_words {
	const char *word; /* "port", "destination port" */
	const char *form; /* what a valid one looks like */
	unsigned min, max;
	bool single_ok;
};

/* PORT or LO-HI, each in [min, max], LO <= HI. */
static int parse_range(struct parser *ps, const struct tok *t, const struct range_words *w,
		       uint16_t *lo, uint16_t *hi)
{
	char q[QBUF];
	const char *dash = memchr(t->s, '-', t->len);
	size_t llen = dash ? (size_t)(dash - t->s) : t->len;
	const char *hs = dash ? dash + 1 : NULL;
	size_t hlen = dash ? t->len - llen - 1 : 0;
	uint64_t a, b;

	if (!parse_num(t->s, llen, &a) || (dash && !parse_num(hs, hlen, &b)) ||
	    (!dash && !w->single_ok))
		return fail(ps, t->col, "invalid %s '%s' (expected %s)",
			    w->single_ok ? w->word : "port range", quote(q, t->s, t->len), w->form);
	if (a < w->min || a > w->max)
		return fail(ps, t->col, "%s %s out of range (expected %u-%u)", w->word,
			    quote(q, t->s, llen), w->min, w->max);
	if (!dash)
		b = a;
	else if (b < w->min || b > w->max)
		return fail(ps, t->col + llen + 1, "%s %s out of range (expected %u-%u)", w->word,
			    quote(q, hs, hlen), w->min, w->max);
	if (a > b)
		return fail(ps, t->col,
			    "%s range %u-%u is reversed (expected "
			    "%u-%u)",
			    w->word, (unsigned)a, (unsigned)b, (unsigned)b, (unsigned)a);
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

/* ---- overlap table ----------------------------------------------------- */

/* Whether r serves clients of that family (a `family any` rule both). */
static bool rule_serves(const struct xm_rule *r, bool v6)
{
	return v6 ? xm_rule_v6_clients(r) : xm_rule_v4_clients(r);
}

/* The IPv6 local address r's IPv6 clients come to (all zero: any). */
static const struct in6_addr *local6_of(const struct xm_rule *r)
{
	static const struct in6_addr any6;

	return xm_rule_is_v6(r) ? &r->local_addr6 : &any6;
}

/* Hash of (iface, local address, proto, port) for r's clients of one
 * family. */
static uint32_t rule_hash(const struct xm_rule *r, uint16_t port, bool v6)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < XM_IFNAMSIZ && r->ifname[i]; i++)
		h = (h ^ (uint8_t)r->ifname[i]) * 16777619u;
	if (v6) {
		/* an IPv6 key never meets an IPv4 one: a different hash too */
		for (size_t i = 0; i < 16; i++)
			h = (h ^ local6_of(r)->s6_addr[i]) * 16777619u;
		h = (h ^ 6u) * 16777619u;
	} else {
		h = (h ^ r->local_addr) * 16777619u;
	}
	h = (h ^ r->proto) * 16777619u;
	h = (h ^ port) * 16777619u;
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
}

/* Same (iface, local address, proto) for clients of one family: an IPv4
 * and an IPv6 forward never overlap; a `family any` rule meets both. */
static bool same_key(const struct xm_rule *a, const struct xm_rule *b, bool v6)
{
	if (!rule_serves(a, v6) || !rule_serves(b, v6) || a->proto != b->proto)
		return false;
	if (v6 ? memcmp(local6_of(a), local6_of(b), 16) != 0 : a->local_addr != b->local_addr)
		return false;
	return strncmp(a->ifname, b->ifname, XM_IFNAMSIZ) == 0;
}

/* Index of the rule already holding (r's key, port) for clients of one
 * family, or -1. */
static long ht_find(const struct parser *ps, const struct xm_rule *r, uint16_t port, bool v6)
{
	size_t mask = ps->ht_cap - 1;

	if (!ps->ht_cap)
		return -1;
	for (size_t i = rule_hash(r, port, v6) & mask;; i = (i + 1) & mask) {
		const struct port_slot *s = &ps->ht[i];

		if (!s->rule1)
			return -1;
		if (s->port == port && s->v6 == v6 && same_key(&ps->rs.rules[s->rule1 - 1], r, v6))
			return (long)s->rule1 - 1;
	}
}

static void ht_put(struct port_slot *tab, size_t cap, const struct xm_rule *r, uint32_t rule1,
		   uint16_t port, bool v6)
{
	size_t mask = cap - 1;
	size_t i = rule_hash(r, port, v6) & mask;

	while (tab[i].rule1)
		i = (i + 1) & mask;
	tab[i].rule1 = rule1;
	tab[i].port = port;
	tab[i].v6 = v6;
}

static bool ht_reserve(struct parser *ps, size_t n)
{
	size_t cap = ps->ht_cap ? ps->ht_cap : 1024;
	struct port_slot *tab;

	while ((ps->ht_n + n) * 2 > cap)
		cap *= 2;
	if (cap == ps->ht_cap)
		return true;
	tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return false;
	for (size_t i = 0; i < ps->ht_cap; i++)
		if (ps->ht[i].rule1)
			ht_put(tab, cap, &ps->rs.rules[ps->ht[i].rule1 - 1], ps->ht[i].rule1,
			       ps->ht[i].port, ps->ht[i].v6);
	free(ps->ht);
	ps->ht = tab;
	ps->ht_cap = cap;
	return true;
}

/* ---- statements -------------------------------------------------------- */

/* What an `as` list belongs to, for its errors. */
struct as_owner {
	bool v6;	    /* its flows leave by IPv6: IPv6 addresses */
	const char *what;   /* "an IPv6 masquerade", "a forward to an IPv4 backend" */
	const char *ifname; /* a masquerade's out interface; NULL: a forward's (any of
			       the router's) */
};

/* An `as` list's item at column col that is no address of the owner's
 * family: one of the other family (other_family), or none at all. */
static int fail_as_item(struct parser *ps, const char *item, size_t n, size_t col,
			const struct as_owner *o, bool other_family)
{
	const char *want = o->v6 ? "IPv6" : "IPv4";
	char q[QBUF];

	if (other_family)
		return fail(ps, col,
			    "%s address '%s' after 'as' of %s (expected %s addresses of %s such as "
			    "as %s: its flows leave by %s)",
			    o->v6 ? "IPv4" : "IPv6", quote(q, item, n), o->what, want,
			    o->ifname ? o->ifname : "the router", o->v6 ? AS6_EXAMPLE : AS4_EXAMPLE,
			    want);
	return fail(ps, col, "invalid address '%s' after 'as' (expected %s)", quote(q, item, n),
		    o->v6 ? AS6_SYNTAX : AS_SYNTAX);
}

/* One IPv6 address of an `as` list, bare or in brackets ([ADDR], as in a
 * `from` list), at column col: 0 with *out, or the error. */
static int parse_as_item6(struct parser *ps, const char *item, size_t n, size_t col,
			  const struct as_owner *o, struct in6_addr *out)
{
	char q[QBUF], a[INET6_ADDRSTRLEN];
	const char *s = item;
	size_t len = n;
	uint32_t v4;
	const char *reason;

	if (len && s[0] == '[') {
		if (len < 2 || s[len - 1] != ']')
			return fail(ps, col,
				    "unclosed '[' in '%s' after 'as' (expected [ADDR] or ADDR such "
				    "as " AS6_EXAMPLE ")",
				    quote(q, item, n));
		s++;
		len -= 2;
	}
	if (!xm_ipv6_parse(s, len, out))
		return fail_as_item(ps, item, n, col, o, parse_ipv4(s, len, &v4));
	/* a source its flows can leave with and get replies to */
	reason = xm_special_addr6_reason(out);
	if (reason) {
		xm_ipv6_format(out, a, sizeof(a));
		return fail(ps, col,
			    "cannot leave with %s after 'as': %s address (expected a global or "
			    "unique local address of %s such as " AS6_EXAMPLE ")",
			    a, reason, o->ifname ? o->ifname : "the router");
	}
	return 0;
}

/* One IPv4 address of an `as` list: 0 with *out (network order), or the
 * error. */
static int parse_as_item4(struct parser *ps, const char *item, size_t n, size_t col,
			  const struct as_owner *o, uint32_t *out)
{
	struct in6_addr a6;
	bool bracketed = n >= 2 && item[0] == '[' && item[n - 1] == ']';
	uint32_t addr;

	if (!parse_ipv4(item, n, &addr)) {
		return fail_as_item(ps, item, n, col, o,
				    xm_ipv6_parse(item + bracketed, n - 2 * bracketed, &a6));
	}
	*out = htonl(addr);
	return 0;
}

/* The list after `as`: up to XM_ADDR_SET_MAX addresses of the family the
 * owner's flows leave by, separated by commas, no spaces, each once. That
 * they are the router's own is checked when the rules are applied. */
static int parse_as(struct parser *ps, struct lex *lx, size_t as_col, const struct as_owner *o,
		    struct xm_addr_list *l)
{
	char a[INET6_ADDRSTRLEN];
	struct tok t;
	size_t at = 0, n;

	if (l->n)
		return fail(ps, as_col,
			    "duplicate option 'as' (expected each option at most once)");
	if (!next_tok(lx, &t))
		return fail(ps, ps->eol_col, "missing addresses after 'as' (expected %s)",
			    o->v6 ? AS6_SYNTAX : AS_SYNTAX);
	l->col = (unsigned)t.col;
	l->v6 = o->v6;
	while (at <= t.len) {
		const char *comma = memchr(t.s + at, ',', t.len - at);
		size_t col = t.col + at;
		struct in6_addr addr6;
		uint32_t addr = 0;
		bool dup = false;

		n = comma ? (size_t)(comma - (t.s + at)) : t.len - at;
		if (o->v6 ? parse_as_item6(ps, t.s + at, n, col, o, &addr6) :
			    parse_as_item4(ps, t.s + at, n, col, o, &addr))
			return -1;
		if (l->n == XM_ADDR_SET_MAX)
			return fail(ps, col,
				    "more than %d addresses after 'as' (expected at most %d)",
				    XM_ADDR_SET_MAX, XM_ADDR_SET_MAX);
		/* the same address however written: compared as parsed */
		for (unsigned i = 0; i < l->n && !dup; i++)
			dup = o->v6 ? memcmp(&l->addr6[i], &addr6, sizeof(addr6)) == 0 :
				      l->addr[i] == addr;
		if (dup) {
			if (o->v6)
				xm_ipv6_format(&addr6, a, sizeof(a));
			else
				fmt_addr(a, sizeof(a), addr);
			return fail(ps, col, "address %s twice after 'as' (expected each once)", a);
		}
		if (o->v6)
			l->addr6[l->n++] = addr6;
		else
			l->addr[l->n++] = addr;
		at += n + 1;
	}
	return 0;
}

static int cmp_src_prefix(const void *a, const void *b)
{
	const struct xm_src_prefix *x = a, *y = b;
	uint32_t ax = ntohl(x->addr), ay = ntohl(y->addr);

	if (ax != ay)
		return ax < ay ? -1 : 1;
	return (int)x->len - (int)y->len;
}

static int cmp_src_prefix6(const void *a, const void *b)
{
	const struct xm_src_prefix *x = a, *y = b;
	int c = memcmp(&x->addr6, &y->addr6, sizeof(x->addr6));

	return c ? c : (int)x->len - (int)y->len;
}

/* Keeps the first plen bits of a; whether any bit went. */
static bool mask6(struct in6_addr *a, unsigned plen)
{
	bool had_host_bits = false;

	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = plen >= 8 * (i + 1) ? 8 : plen > 8 * i ? plen - 8 * i : 0;
		uint8_t m = (uint8_t)(keep ? 0xff << (8 - keep) : 0);

		if (a->s6_addr[i] & ~m)
			had_host_bits = true;
		a->s6_addr[i] &= m;
	}
	return had_host_bits;
}

/* How a `from` list's items are read: the rule's one family (FROM_V6_TO_V4:
 * IPv6 clients of an IPv4 backend), or either while the rule's family is
 * not known yet (`family` may follow `from`): IPv4 prefixes then stored
 * IPv4-mapped, and settle_from decides once the line is read. */
enum from_mode { FROM_V4, FROM_V6, FROM_V6_TO_V4, FROM_EITHER };

/* The first IPv4 and the first IPv6 item of a list (len 0: none), for the
 * errors only the rule's family can tell. */
struct from_seen {
	struct tok v4, v6;
};

/* One IPv6 item of a `from` list: ADDR[/LEN], the address also in
 * brackets ([ADDR]/LEN) as elsewhere. 0 with *p, or the error. */
static int parse_from_item6(struct parser *ps, const char *item, size_t n, size_t col,
			    enum from_mode mode, struct xm_src_prefix *p)
{
	char q[QBUF], a1[INET6_ADDRSTRLEN], a2[INET6_ADDRSTRLEN];
	const char *slash = memchr(item, '/', n);
	size_t alen = slash ? (size_t)(slash - item) : n;
	const char *a = item;
	size_t al = alen;
	uint64_t plen = 128;
	uint32_t v4;
	struct in6_addr net;

	if (al && a[0] == '[') {
		if (al < 2 || a[al - 1] != ']')
			return fail(ps, col,
				    "unclosed '[' in '%s' after 'from' (expected [ADDR] or "
				    "ADDR, such as 2001:db8:200::7)",
				    quote(q, item, n));
		a++;
		al -= 2;
	}
	if (!xm_ipv6_parse(a, al, &p->addr6)) {
		if (parse_ipv4(a, al, &v4) && mode == FROM_V6_TO_V4)
			return fail(ps, col,
				    "IPv4 prefix '%s' in the 'from' list of a forward for IPv6 "
				    "clients (expected IPv6 prefixes such as 2001:db8:100::/48: "
				    "an IPv6 local address admits IPv6 clients only)",
				    quote(q, item, n));
		if (parse_ipv4(a, al, &v4))
			return fail(ps, col,
				    "IPv4 prefix '%s' in the 'from' list of an IPv6 forward "
				    "(expected IPv6 prefixes such as 2001:db8:100::/48: a forward "
				    "admits clients of its backend's family)",
				    quote(q, item, n));
		return fail(ps, col, "invalid address '%s' after 'from' (expected %s)",
			    quote(q, a, al), mode == FROM_EITHER ? FROM_SYNTAX : FROM6_SYNTAX);
	}
	if (slash &&
	    (n - alen - 1 == 0 || !parse_num(slash + 1, n - alen - 1, &plen) || plen > 128))
		return fail(ps, col + alen + 1,
			    "invalid prefix length '%s' after 'from' (expected 0-128)",
			    quote(q, slash + 1, n - alen - 1));
	/* The trie stores IPv4 sources IPv4-mapped: such a prefix would read
	 * back as an IPv4 one. An IPv6 client never has such a source. */
	if (IN6_IS_ADDR_V4MAPPED(&p->addr6) && plen >= 96 && mode == FROM_EITHER)
		return fail(ps, col,
			    "IPv4-mapped prefix '%s' in the 'from' list (expected IPv6 "
			    "prefixes such as 2001:db8:100::/48, or the IPv4 prefix written as "
			    "one, such as 192.0.2.0/24)",
			    quote(q, item, n));
	if (IN6_IS_ADDR_V4MAPPED(&p->addr6) && plen >= 96)
		return fail(ps, col,
			    "IPv4-mapped prefix '%s' in the 'from' list of an IPv6 forward "
			    "(expected IPv6 prefixes such as 2001:db8:100::/48)",
			    quote(q, item, n));
	net = p->addr6;
	if (mask6(&net, (unsigned)plen)) {
		xm_ipv6_format(&p->addr6, a1, sizeof(a1));
		xm_ipv6_format(&net, a2, sizeof(a2));
		return fail(ps, col,
			    "prefix %s/%u after 'from' has host bits set (expected %s/%u, "
			    "or %s alone for one host)",
			    a1, (unsigned)plen, a2, (unsigned)plen, a1);
	}
	p->len = (uint8_t)plen;
	return 0;
}

/* One IPv4 item of a `from` list: ADDR[/LEN]. 0 with *p (IPv4-mapped
 * for FROM_EITHER), or the error. */
static int parse_from_item4(struct parser *ps, const char *item, size_t n, size_t col,
			    enum from_mode mode, struct xm_src_prefix *p)
{
	char q[QBUF], a1[16], a2[16];
	const char *slash = memchr(item, '/', n);
	size_t alen = slash ? (size_t)(slash - item) : n;
	uint64_t plen = 32;
	uint32_t addr, mask;

	if (!parse_ipv4(item, alen, &addr)) {
		struct in6_addr a6;
		bool bracketed = alen >= 2 && item[0] == '[' && item[alen - 1] == ']';

		if (mode == FROM_V4 && xm_ipv6_parse(item + bracketed, alen - 2 * bracketed, &a6))
			return fail(ps, col,
				    "IPv6 prefix '%s' in the 'from' list of an IPv4 forward "
				    "(expected IPv4 prefixes such as 192.0.2.0/25: an IPv4 local "
				    "address admits IPv4 clients only)",
				    quote(q, item, n));
		return fail(ps, col, "invalid address '%s' after 'from' (expected %s)",
			    quote(q, item, alen), FROM_SYNTAX);
	}
	if (slash && (n - alen - 1 == 0 || !parse_num(slash + 1, n - alen - 1, &plen) || plen > 32))
		return fail(ps, col + alen + 1,
			    "invalid prefix length '%s' after 'from' (expected 0-32)",
			    quote(q, slash + 1, n - alen - 1));
	mask = plen ? ~0u << (32 - plen) : 0;
	if (addr & ~mask) {
		fmt_addr(a1, sizeof(a1), htonl(addr));
		fmt_addr(a2, sizeof(a2), htonl(addr & mask));
		return fail(ps, col,
			    "prefix %s/%u after 'from' has host bits set (expected %s/%u, "
			    "or %s alone for one host)",
			    a1, (unsigned)plen, a2, (unsigned)plen, a1);
	}
	if (mode == FROM_EITHER) {
		xm_ipv4_mapped(htonl(addr), &p->addr6);
		p->len = (uint8_t)(96 + plen);
	} else {
		p->addr = htonl(addr);
		p->len = (uint8_t)plen;
	}
	return 0;
}

/* The list after `from`: up to XM_ALLOW_LIST_MAX prefixes (a bare address
 * is a /32 or /128) separated by commas, no spaces, each once, host bits
 * zero (a typo such as 192.0.2.1/24 is refused, not widened). Sorted: the
 * order written does not matter to the check. */
static int parse_from(struct parser *ps, struct lex *lx, size_t from_col, enum from_mode mode,
		      struct xm_src_prefix pfx[XM_ALLOW_LIST_MAX], struct xm_src_list *l,
		      struct from_seen *seen)
{
	/* until `family` says otherwise, a forward to an IPv4 backend is
	 * for IPv4 clients */
	const char *syntax = mode == FROM_V4 || mode == FROM_EITHER ? FROM_SYNTAX : FROM6_SYNTAX;
	int (*cmp)(const void *, const void *) = mode == FROM_V4 ? cmp_src_prefix : cmp_src_prefix6;
	char q[QBUF];
	struct tok t;
	size_t at = 0;

	if (l->col)
		return fail(ps, from_col,
			    "duplicate option 'from' (expected each option at most once)");
	if (!next_tok(lx, &t))
		return fail(ps, ps->eol_col, "missing prefixes after 'from' (expected %s)", syntax);
	l->col = (unsigned)t.col;
	l->v6 = mode != FROM_V4;
	while (at <= t.len) {
		const char *comma = memchr(t.s + at, ',', t.len - at);
		size_t n = comma ? (size_t)(comma - (t.s + at)) : t.len - at;
		const char *item = t.s + at, *slash = memchr(item, '/', n);
		size_t alen = slash ? (size_t)(slash - item) : n;
		struct tok item_tok = { .s = item, .len = n, .col = t.col + at };
		struct xm_src_prefix p;
		int rc;

		if (n == 0)
			return fail(ps, t.col + at,
				    "missing prefix %s ',' after 'from' (expected %s)",
				    at == 0 ? "before" : "after", syntax);
		memset(&p, 0, sizeof(p));
		/* an IPv6 address always has a ':', an IPv4 one never */
		if (mode == FROM_V6 || mode == FROM_V6_TO_V4 ||
		    (mode == FROM_EITHER && memchr(item, ':', alen))) {
			rc = parse_from_item6(ps, item, n, t.col + at, mode, &p);
			if (!rc && !seen->v6.len)
				seen->v6 = item_tok;
		} else {
			rc = parse_from_item4(ps, item, n, t.col + at, mode, &p);
			if (!rc && !seen->v4.len)
				seen->v4 = item_tok;
		}
		if (rc)
			return -1;
		if (l->n == XM_ALLOW_LIST_MAX)
			return fail(ps, t.col + at,
				    "more than %d prefixes after 'from' (expected at most %d: a "
				    "shorter prefix covers several)",
				    XM_ALLOW_LIST_MAX, XM_ALLOW_LIST_MAX);
		for (unsigned i = 0; i < l->n; i++)
			if (cmp(&pfx[i], &p) == 0)
				return fail(ps, t.col + at,
					    "prefix '%s' twice after 'from' (expected each once)",
					    quote(q, item, n));
		pfx[l->n++] = p;
		at += n + 1;
	}
	qsort(pfx, l->n, sizeof(pfx[0]), cmp);
	return 0;
}

/* An IPv4-mapped list (read FROM_EITHER) as the IPv4 list it is: the
 * same trie keys, printed and compared as IPv4. */
static void from_list_to_v4(struct xm_src_prefix *pfx, struct xm_src_list *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		uint32_t v4 = xm_ipv4_of_mapped(&pfx[i].addr6);
		uint8_t len = (uint8_t)(pfx[i].len - 96);

		memset(&pfx[i], 0, sizeof(pfx[i]));
		pfx[i].addr = v4;
		pfx[i].len = len;
	}
	l->v6 = 0;
}

/* "[ADDR]" at the start of s (len bytes, s[0] == '['): the IPv6 address,
 * and in *used the bytes up to and with ']'. what names it in errors,
 * form says how it is written. */
static int parse_bracketed6(struct parser *ps, const char *s, size_t len, size_t col,
			    const char *what, const char *form, struct in6_addr *out, size_t *used)
{
	char q[QBUF];
	const char *close = memchr(s, ']', len);
	size_t alen;

	if (!close)
		return fail(ps, col, "unclosed '[' in %s '%s' (expected %s)", what,
			    quote(q, s, len), form);
	alen = (size_t)(close - s) - 1;
	if (alen == 0)
		return fail(ps, col, "missing %s inside '[]' (expected %s)", what, form);
	if (!xm_ipv6_parse(s + 1, alen, out))
		return fail(ps, col + 1, "invalid %s '%s' (expected an IPv6 address in %s)", what,
			    quote(q, s + 1, alen), form);
	*used = alen + 2;
	return 0;
}

/* IFACE[:ADDR] with the local address for the error text: "eth0",
 * "eth0:198.51.100.4", "eth0:[2001:db8::1]". */
static void text_iface_local(struct xm_text *t, const struct xm_rule *r)
{
	xm_text_strn(t, r->ifname, XM_IFNAMSIZ - 1);
	if (xm_rule_is_v6(r) && !addr6_is_zero(&r->local_addr6)) {
		xm_text_str(t, ":[");
		xm_text_ipv6(t, &r->local_addr6);
		xm_text_put(t, "]", 1);
	} else if (!xm_rule_is_v6(r) && r->local_addr) {
		xm_text_put(t, ":", 1);
		xm_text_ipv4(t, r->local_addr);
	}
}

/* `family ipv4|ipv6|any`: the clients a forward serves. */
enum rule_family { FAMILY_DEFAULT, FAMILY_IPV4, FAMILY_IPV6, FAMILY_ANY };
static const char *const family_names[] = { "", "ipv4", "ipv6", "any" };

static int parse_family(struct parser *ps, struct lex *lx, const struct tok *kw,
			struct tok *family_tok, enum rule_family *family)
{
	char q[QBUF];
	struct tok t;

	if (*family != FAMILY_DEFAULT)
		return fail(ps, kw->col,
			    "duplicate option 'family' (expected each option at most once)");
	if (!next_tok(lx, &t))
		return fail(ps, ps->eol_col,
			    "missing family after 'family' (expected ipv4, ipv6 or any)");
	for (int f = FAMILY_IPV4; f <= FAMILY_ANY; f++)
		if (tok_is(t.s, t.len, family_names[f])) {
			*family = (enum rule_family)f;
			*family_tok = t;
			return 0;
		}
	return fail(ps, t.col, "unknown family '%s' (expected ipv4, ipv6 or any)",
		    quote(q, t.s, t.len));
}

/* Once a forward's line is read: which clients it serves (the `family`
 * given, else the local address's, else the backend's), checked against
 * its local address and options, and r's flags, addresses and `from`
 * list laid out for it (struct xm_rule). local6: the IPv6 local address,
 * or NULL. */
static int settle_family(struct parser *ps, struct xm_rule *r, enum rule_family family,
			 const struct tok *family_tok, bool local4, const struct in6_addr *local6,
			 const struct tok *keep_tok, const struct from_seen *seen,
			 struct xm_src_prefix *from)
{
	int ifl = (int)strnlen(r->ifname, XM_IFNAMSIZ);
	const char *name = family_names[family];
	char q[QBUF];
	uint32_t backend;

	if (xm_rule_is_v6(r)) {
		if (family == FAMILY_IPV4 || family == FAMILY_ANY)
			return fail(ps, family_tok->col,
				    "IPv4 clients of an IPv6 backend are not supported (expected "
				    "family ipv6, or no family: a forward to an IPv6 backend "
				    "serves IPv6 clients)");
		return 0;
	}
	if (local4 && (family == FAMILY_IPV6 || family == FAMILY_ANY))
		return fail(ps, family_tok->col,
			    "family %s with an IPv4 local address (expected family ipv4, an "
			    "IPv6 local address such as %.*s:[2001:db8:1::1] for IPv6 clients, "
			    "or %.*s alone for family any)",
			    name, ifl, r->ifname, ifl, r->ifname);
	if (local6 && (family == FAMILY_IPV4 || family == FAMILY_ANY))
		return fail(ps, family_tok->col,
			    "family %s with an IPv6 local address (expected family ipv6, an "
			    "IPv4 local address for IPv4 clients, or %.*s alone for family any)",
			    name, ifl, r->ifname);
	if (family == FAMILY_DEFAULT)
		family = local6 ? FAMILY_IPV6 : FAMILY_IPV4;
	name = family_names[family];
	if (family == FAMILY_IPV4) {
		if (seen->v6.len)
			return fail(ps, seen->v6.col,
				    "IPv6 prefix '%s' in the 'from' list of a forward for IPv4 "
				    "clients (expected IPv4 prefixes such as 192.0.2.0/25, or "
				    "family any to admit IPv6 clients too)",
				    quote(q, seen->v6.s, seen->v6.len));
		if (r->from.n && r->from.v6)
			from_list_to_v4(from, &r->from);
		return 0;
	}

	/* IPv6 clients of the IPv4 backend (6->4) */
	if (keep_tok->len)
		return fail(ps, keep_tok->col,
			    "keep-source on a forward for IPv6 clients of an IPv4 backend "
			    "(family %s): an IPv6 client's address cannot be an IPv4 packet's "
			    "source (drop keep-source, or family ipv4 for IPv4 clients only)",
			    name);
	if (family == FAMILY_ANY) {
		r->flags |= XM_RULE_TO_V4;
		if (r->from.n && !seen->v6.len)
			from_list_to_v4(from, &r->from);
		return 0;
	}
	if (seen->v4.len)
		return fail(ps, seen->v4.col,
			    "IPv4 prefix '%s' in the 'from' list of a forward for IPv6 clients "
			    "only (family ipv6) would admit no one (expected IPv6 prefixes such as "
			    "2001:db8:100::/48, or family any to admit IPv4 clients too)",
			    quote(q, seen->v4.s, seen->v4.len));
	backend = r->to_addr;
	r->flags |= XM_RULE_V6 | XM_RULE_TO_V4;
	xm_ipv4_mapped(backend, &r->to_addr6);
	memset(&r->local_addr6, 0, sizeof(r->local_addr6));
	if (local6)
		r->local_addr6 = *local6;
	return 0;
}

static int parse_forward(struct parser *ps, struct lex *lx)
{
	static const struct range_words src_words = {
		"port", "a port 1-65535 or a range such as 5000-5010", 1, 65535, true,
	};
	static const struct range_words dst_words = {
		"destination port", "a port 1-65535 or a range such as 80-90", 1, 65535, true,
	};
	char q[QBUF], a1[INET6_ADDRSTRLEN], key[XM_IFNAMSIZ + INET6_ADDRSTRLEN + 4];
	struct xm_src_prefix from[XM_ALLOW_LIST_MAX];
	struct xm_rule r;
	struct tok t, port_tok, to_tok;
	const char *colon, *reason;
	size_t iflen, local_col = 0;
	uint32_t addr, local4 = 0;
	struct in6_addr local6, to6;
	bool local_v6 = false, v6 = false;
	struct from_seen seen = { 0 };
	struct tok family_tok = { 0 }, keep_tok = { 0 };
	enum rule_family family = FAMILY_DEFAULT;
	enum from_mode from_mode;
	unsigned nports, nfamilies = 0;

	memset(&r, 0, sizeof(r));
	r.line = (unsigned)ps->at.line;

	/* IFACE[:LOCALADDR] */
	if (!next_tok(lx, &t))
		return fail(ps, ps->eol_col, "missing interface (expected: " FWD_SYNTAX ")");
	colon = memchr(t.s, ':', t.len);
	iflen = colon ? (size_t)(colon - t.s) : t.len;
	if (iflen == 0)
		return fail(ps, t.col,
			    "missing interface name before ':' "
			    "(expected IFACE:ADDR such as eth1:198.51.100.4)");
	if (check_ifname(ps, t.s, iflen, t.col))
		return -1;
	memcpy(r.ifname, t.s, iflen);
	r.iface_col = (unsigned)t.col;
	if (colon) {
		const char *as = colon + 1;
		size_t alen = t.len - iflen - 1;

		local_col = t.col + iflen + 1;
		if (alen == 0)
			return fail(ps, t.col + iflen,
				    "missing local address "
				    "after ':' (expected IFACE:ADDR such as "
				    "eth1:198.51.100.4, or IFACE alone)");
		if (as[0] == '[') {
			size_t used;

			if (parse_bracketed6(ps, as, alen, local_col, "local address", LOCAL6_FORM,
					     &local6, &used))
				return -1;
			if (used != alen)
				return fail(ps, local_col + used,
					    "unexpected '%s' after ']' (expected " LOCAL6_FORM ")",
					    quote(q, as + used, alen - used));
			if (addr6_is_zero(&local6))
				return fail(ps, local_col + 1,
					    "local address :: is not an address (expected one of "
					    "the interface's addresses, or IFACE alone for any)");
			local_v6 = true;
		} else if (!parse_ipv4(as, alen, &addr)) {
			if (xm_ipv6_parse(as, alen, &local6))
				return fail(ps, local_col,
					    "IPv6 local address '%s' without brackets (expected "
					    "IFACE:[ADDR] such as %.*s:[%s])",
					    quote(q, as, alen), (int)iflen, t.s,
					    quote(q, as, alen));
			return fail(ps, local_col,
				    "invalid local "
				    "address '%s' (expected an IPv4 address "
				    "such as 198.51.100.4)",
				    quote(q, as, alen));
		} else if (addr == 0) {
			return fail(ps, local_col,
				    "local address "
				    "0.0.0.0 is not an address (expected one "
				    "of the interface's addresses, or IFACE "
				    "alone for any)");
		} else {
			local4 = htonl(addr);
		}
	}

	/* PROTO */
	if (!next_tok(lx, &t))
		return fail(ps, ps->eol_col, "missing protocol (expected: " FWD_SYNTAX ")");
	if (tok_is(t.s, t.len, "tcp"))
		r.proto = IPPROTO_TCP;
	else if (tok_is(t.s, t.len, "udp"))
		r.proto = IPPROTO_UDP;
	else
		return fail(ps, t.col,
			    "unknown protocol '%s' (expected tcp "
			    "or udp)",
			    quote(q, t.s, t.len));

	/* PORT[-PORT] */
	if (!next_tok(lx, &port_tok))
		return fail(ps, ps->eol_col, "missing port (expected: " FWD_SYNTAX ")");
	if (parse_range(ps, &port_tok, &src_words, &r.from_lo, &r.from_hi))
		return -1;

	/* to */
	if (!next_tok(lx, &t))
		return fail(ps, ps->eol_col, "missing 'to' (expected: " FWD_SYNTAX ")");
	if (!tok_is(t.s, t.len, "to"))
		return fail(ps, t.col, "missing 'to' before '%s' (expected: " FWD_SYNTAX ")",
			    quote(q, t.s, t.len));

	/* ADDR[:PORT[-PORT]] */
	if (!next_tok(lx, &to_tok))
		return fail(ps, ps->eol_col,
			    "missing destination address "
			    "(expected: " FWD_SYNTAX ")");
	if (to_tok.s[0] == '[') {
		size_t used;

		if (parse_bracketed6(ps, to_tok.s, to_tok.len, to_tok.col, "destination address",
				     TO6_FORM, &to6, &used))
			return -1;
		if (used < to_tok.len && to_tok.s[used] != ':')
			return fail(ps, to_tok.col + used,
				    "unexpected '%s' after ']' (expected " TO6_FORM ")",
				    quote(q, to_tok.s + used, to_tok.len - used));
		v6 = true;
		iflen = used;
		colon = used < to_tok.len ? to_tok.s + used : NULL;
	} else {
		colon = memchr(to_tok.s, ':', to_tok.len);
		iflen = colon ? (size_t)(colon - to_tok.s) : to_tok.len;
		if (iflen == 0)
			return fail(ps, to_tok.col,
				    "missing destination address "
				    "before ':' (expected ADDR:PORT such as "
				    "198.18.0.2:80)");
		if (!parse_ipv4(to_tok.s, iflen, &addr)) {
			if (xm_ipv6_parse(to_tok.s, to_tok.len, &to6))
				return fail(ps, to_tok.col,
					    "IPv6 destination address '%s' without brackets "
					    "(expected [%s] or [%s]:PORT)",
					    quote(q, to_tok.s, to_tok.len),
					    quote(q, to_tok.s, to_tok.len),
					    quote(q, to_tok.s, to_tok.len));
			return fail(ps, to_tok.col,
				    "invalid destination address '%s' "
				    "(expected an IPv4 address such as 198.18.0.2)",
				    quote(q, to_tok.s, iflen));
		}
		r.to_addr = htonl(addr);
	}
	/* The backend's family is the forward's unless `family` says more
	 * (checked once the options are read): IPv4 clients are never sent
	 * to an IPv6 backend. */
	if (local4 && v6)
		return fail(ps, to_tok.col,
			    "IPv4 clients to an IPv6 backend are not supported (expected an IPv4 "
			    "backend, or an IPv6 local address such as %.*s:[2001:db8:1::1])",
			    (int)strnlen(r.ifname, XM_IFNAMSIZ), r.ifname);
	if (v6) {
		r.flags |= XM_RULE_V6;
		r.to_addr6 = to6;
		if (local_v6)
			r.local_addr6 = local6;
	} else {
		r.local_addr = local4;
	}
	from_mode = v6 ? FROM_V6 : local_v6 ? FROM_V6_TO_V4 : local4 ? FROM_V4 : FROM_EITHER;
	if (colon) {
		struct tok pt = {
			.s = colon + 1,
			.len = to_tok.len - iflen - 1,
			.col = to_tok.col + iflen + 1,
		};

		if (pt.len == 0)
			return fail(ps, to_tok.col + iflen,
				    "missing "
				    "destination port after ':' (expected %s)",
				    v6 ? "[ADDR]:PORT such as [fd00:8::2]:8443" :
					 "ADDR:PORT such as 198.18.0.2:80");
		if (parse_range(ps, &pt, &dst_words, &r.to_lo, &r.to_hi))
			return -1;
		if (r.to_lo != r.to_hi && r.to_hi - r.to_lo != r.from_hi - r.from_lo)
			return fail(ps, pt.col,
				    "destination range %u-%u has "
				    "%u ports but the source has %u (expected "
				    "the same number of ports, or a single "
				    "destination port)",
				    r.to_lo, r.to_hi, r.to_hi - r.to_lo + 1u,
				    r.from_hi - r.from_lo + 1u);
	} else {
		r.to_lo = r.from_lo;
		r.to_hi = r.from_hi;
	}

	/* options */
	while (next_tok(lx, &t)) {
		uint32_t flag;

		if (tok_is(t.s, t.len, "family")) {
			if (parse_family(ps, lx, &t, &family_tok, &family))
				return -1;
			continue;
		}
		if (tok_is(t.s, t.len, "as")) {
			/* the backend's family is the one flows leave by (a
			 * 6->4 forward's are IPv4) */
			const struct as_owner owner = {
				.v6 = v6,
				.what = v6 ? "an IPv6 forward" : "a forward to an IPv4 backend",
			};

			if (parse_as(ps, lx, t.col, &owner, &r.as))
				return -1;
			continue;
		}
		if (tok_is(t.s, t.len, "from")) {
			if (parse_from(ps, lx, t.col, from_mode, from, &r.from, &seen))
				return -1;
			continue;
		}
		if (tok_is(t.s, t.len, "keep-source")) {
			flag = XM_RULE_KEEP_SOURCE;
			keep_tok = t;
		} else if (tok_is(t.s, t.len, "allow-special")) {
			flag = XM_RULE_ALLOW_SPECIAL;
		} else {
			return fail(ps, t.col,
				    "unexpected '%s' after the rule "
				    "(expected keep-source, allow-special, as, from or family)",
				    quote(q, t.s, t.len));
		}
		if (r.flags & flag)
			return fail(ps, t.col,
				    "duplicate option '%s' "
				    "(expected each option at most once)",
				    quote(q, t.s, t.len));
		r.flags |= flag;
	}
	if (r.as.n && (r.flags & XM_RULE_KEEP_SOURCE))
		return fail(ps, r.as.col,
			    "'as' and keep-source exclude each other (keep-source sends the "
			    "client's own address; drop one)");

	/* the backend checked in its own family, before a 6->4 rule holds it
	 * IPv4-mapped */
	reason = v6 ? xm_special_addr6_reason(&r.to_addr6) : xm_special_addr_reason(r.to_addr);
	if (reason && !(r.flags & XM_RULE_ALLOW_SPECIAL)) {
		if (v6)
			xm_ipv6_format(&r.to_addr6, a1, sizeof(a1));
		else
			fmt_addr(a1, sizeof(a1), r.to_addr);
		return fail(ps, to_tok.col,
			    "refusing to forward to %s%s%s: %s "
			    "(add allow-special to the rule if this is really "
			    "wanted)",
			    v6 ? "[" : "", a1, v6 ? "]" : "", reason);
	}
	if (settle_family(ps, &r, family, &family_tok, local4 != 0, local_v6 ? &local6 : NULL,
			  &keep_tok, &seen, from))
		return -1;

	/* limits, checked before any per-port work */
	nports = (unsigned)r.from_hi - r.from_lo + 1u;
	if (ps->rs.n_rules >= XM_RULES_MAX_RULES)
		return fail(ps, 1,
			    "too many forward rules (expected at most "
			    "%u)",
			    (unsigned)XM_RULES_MAX_RULES);
	if (ps->rs.total_ports + nports > XM_RULES_MAX_PORTS)
		return fail(ps, port_tok.col,
			    "too many forwarded ports: %u "
			    "with this rule (expected at most %u in all rules "
			    "together)",
			    ps->rs.total_ports + nports, (unsigned)XM_RULES_MAX_PORTS);

	/* overlap with an earlier rule of the same iface, address, proto,
	 * for each family of clients the rule serves */
	for (int fam = 0; fam < 2; fam++) {
		bool fv6 = fam == 1;

		if (!rule_serves(&r, fv6))
			continue;
		nfamilies++;
		for (unsigned p = r.from_lo; p <= r.from_hi; p++) {
			const struct xm_rule *o;
			unsigned lo, hi;
			long other = ht_find(ps, &r, (uint16_t)p, fv6);
			struct xm_text kt = xm_text_at(key, sizeof(key));

			if (other < 0)
				continue;
			o = &ps->rs.rules[other];
			lo = p;
			hi = o->from_hi < r.from_hi ? o->from_hi : r.from_hi;
			if (fv6)
				xm_text_str(&kt, "IPv6 ");
			text_iface_local(&kt, &r);
			if (lo == hi)
				return fail(ps, port_tok.col,
					    "port %u overlaps the "
					    "rule on line %u (expected each %s %s "
					    "port in one rule only)",
					    lo, o->line, key,
					    r.proto == IPPROTO_TCP ? "tcp" : "udp");
			return fail(ps, port_tok.col,
				    "ports %u-%u overlap the rule "
				    "on line %u (expected each %s %s port in one "
				    "rule only)",
				    lo, hi, o->line, key, r.proto == IPPROTO_TCP ? "tcp" : "udp");
		}
	}

	if (!xm_parse_grow((void **)&ps->rs.rules, &ps->rules_cap, ps->rs.n_rules + 1, sizeof(r)) ||
	    !ht_reserve(ps, (size_t)nports * nfamilies))
		return fail_oom(ps);
	if (r.from.n) {
		r.from.pfx = malloc(r.from.n * sizeof(r.from.pfx[0]));
		if (!r.from.pfx)
			return fail_oom(ps);
		memcpy(r.from.pfx, from, r.from.n * sizeof(r.from.pfx[0]));
	}
	ps->rs.rules[ps->rs.n_rules++] = r;
	for (int fam = 0; fam < 2; fam++)
		for (unsigned p = r.from_lo; rule_serves(&r, fam == 1) && p <= r.from_hi; p++)
			ht_put(ps->ht, ps->ht_cap, &r, (uint32_t)ps->rs.n_rules, (uint16_t)p,
			       fam == 1);
	ps->ht_n += (size_t)nports * nfamilies;
	ps->rs.total_ports += nports;
	return 0;
}

/* An IPv6 masquerade's PREFIX6/LEN, the address bare or in brackets
 * ([ADDR]/LEN, as in a `from` list): 0 with m->prefix6 and m->prefix_len,
 * or the error. */
static int parse_masq_prefix6(struct parser *ps, const struct tok *t, struct xm_masq *m)
{
	char q[QBUF], a1[INET6_ADDRSTRLEN], a2[INET6_ADDRSTRLEN];
	const char *slash = memchr(t->s, '/', t->len);
	size_t alen = slash ? (size_t)(slash - t->s) : t->len;
	const char *a = t->s;
	size_t al = alen, acol = t->col;
	uint64_t plen;
	struct in6_addr net;

	if (al && a[0] == '[') {
		if (al < 2 || a[al - 1] != ']')
			return fail(ps, t->col,
				    "unclosed '[' in prefix '%s' (expected ADDR/LEN or [ADDR]/LEN "
				    "such as " MASQ6_EXAMPLE ")",
				    quote(q, t->s, t->len));
		a++;
		al -= 2;
		acol++;
	}
	if (!xm_ipv6_parse(a, al, &m->prefix6))
		return fail(ps, acol,
			    "invalid IPv6 prefix address '%s' (expected an IPv6 address such as "
			    "fd00:1::)",
			    quote(q, a, al));
	if (!slash)
		return fail(ps, t->col + t->len,
			    "missing prefix length after '%s' (expected PREFIX/LEN such "
			    "as " MASQ6_EXAMPLE ")",
			    quote(q, t->s, t->len));
	if (t->len - alen - 1 == 0)
		return fail(ps, t->col + alen, "missing prefix length after '/' (expected 0-128)");
	if (!parse_num(slash + 1, t->len - alen - 1, &plen))
		return fail(ps, t->col + alen + 1, "invalid prefix length '%s' (expected 0-128)",
			    quote(q, slash + 1, t->len - alen - 1));
	if (plen > 128)
		return fail(ps, t->col + alen + 1, "prefix length %s out of range (expected 0-128)",
			    quote(q, slash + 1, t->len - alen - 1));
	net = m->prefix6;
	if (mask6(&net, (unsigned)plen)) {
		xm_ipv6_format(&m->prefix6, a1, sizeof(a1));
		xm_ipv6_format(&net, a2, sizeof(a2));
		return fail(ps, t->col, "prefix %s/%u has host bits set (expected %s/%u)", a1,
			    (unsigned)plen, a2, (unsigned)plen);
	}
	m->prefix_len = (uint8_t)plen;
	m->flags = XM_RULE_V6;
	return 0;
}

static int parse_masquerade(struct parser *ps, struct lex *lx)
{
	char q[QBUF], a1[16], a2[16];
	struct xm_masq m;
	struct as_owner owner;
	struct tok t;
	const char *slash;
	size_t alen;
	uint32_t addr, mask;
	uint64_t plen;

	memset(&m, 0, sizeof(m));
	m.line = (unsigned)ps->at.line;

	if (!next_tok(lx, &t))
		return fail(ps, ps->eol_col, "missing prefix (expected: " MASQ_SYNTAX ")");
	m.prefix_col = (unsigned)t.col;
	slash = memchr(t.s, '/', t.len);
	alen = slash ? (size_t)(slash - t.s) : t.len;
	/* IPv6: an address with a ':' (an IPv4 one never has one), or brackets */
	if (t.s[0] == '[' || memchr(t.s, ':', alen)) {
		if (parse_masq_prefix6(ps, &t, &m))
			return -1;
		goto prefix_done;
	}
	if (!parse_ipv4(t.s, alen, &addr))
		return fail(ps, t.col,
			    "invalid prefix address '%s' (expected "
			    "an IPv4 address such as 10.0.0.0)",
			    quote(q, t.s, alen));
	if (!slash)
		return fail(ps, t.col + t.len,
			    "missing prefix length after "
			    "'%s' (expected PREFIX/LEN such as 10.0.0.0/16)",
			    quote(q, t.s, t.len));
	if (t.len - alen - 1 == 0)
		return fail(ps, t.col + alen,
			    "missing prefix length after "
			    "'/' (expected 0-32)");
	if (!parse_num(slash + 1, t.len - alen - 1, &plen))
		return fail(ps, t.col + alen + 1,
			    "invalid prefix length '%s' "
			    "(expected 0-32)",
			    quote(q, slash + 1, t.len - alen - 1));
	if (plen > 32)
		return fail(ps, t.col + alen + 1,
			    "prefix length %s out of "
			    "range (expected 0-32)",
			    quote(q, slash + 1, t.len - alen - 1));
	mask = plen ? ~0u << (32 - plen) : 0;
	if (addr & ~mask) {
		fmt_addr(a1, sizeof(a1), htonl(addr));
		fmt_addr(a2, sizeof(a2), htonl(addr & mask));
		return fail(ps, t.col,
			    "prefix %s/%u has host bits set "
			    "(expected %s/%u)",
			    a1, (unsigned)plen, a2, (unsigned)plen);
	}
	m.prefix = htonl(addr);
	m.prefix_len = (uint8_t)plen;
prefix_done:

	if (!next_tok(lx, &t))
		return fail(ps, ps->eol_col, "missing 'out' (expected: " MASQ_SYNTAX ")");
	if (!tok_is(t.s, t.len, "out"))
		return fail(ps, t.col, "missing 'out' before '%s' (expected: " MASQ_SYNTAX ")",
			    quote(q, t.s, t.len));

	if (!next_tok(lx, &t))
		return fail(ps, ps->eol_col, "missing interface (expected: " MASQ_SYNTAX ")");
	if (check_ifname(ps, t.s, t.len, t.col))
		return -1;
	memcpy(m.out_ifname, t.s, t.len);
	m.iface_col = (unsigned)t.col;

	while (next_tok(lx, &t)) {
		if (!tok_is(t.s, t.len, "as"))
			return fail(ps, t.col,
				    "unexpected '%s' after the rule "
				    "(expected as or end of line)",
				    quote(q, t.s, t.len));
		owner.v6 = xm_masq_is_v6(&m);
		owner.what = owner.v6 ? "an IPv6 masquerade" : "an IPv4 masquerade";
		owner.ifname = m.out_ifname;
		if (parse_as(ps, lx, t.col, &owner, &m.as))
			return -1;
	}

	if (xm_masq_is_v6(&m) && ps->n_masqs6 >= XM_RULES_MAX_MASQS6)
		return fail(ps, 1, "too many IPv6 masquerades (expected at most %u)",
			    (unsigned)XM_RULES_MAX_MASQS6);
	/* IPv6: one trie entry a prefix, so each prefix once (a longer
	 * prefix inside a shorter one is fine: the longest match wins).
	 * Quadratic, but over at most XM_RULES_MAX_MASQS6 of them. */
	for (size_t i = 0; xm_masq_is_v6(&m) && i < ps->rs.n_masqs; i++) {
		const struct xm_masq *o = &ps->rs.masqs[i];
		char p6[INET6_ADDRSTRLEN];

		if (!xm_masq_is_v6(o) || o->prefix_len != m.prefix_len ||
		    memcmp(&o->prefix6, &m.prefix6, sizeof(m.prefix6)))
			continue;
		xm_ipv6_format(&m.prefix6, p6, sizeof(p6));
		return fail(ps, m.prefix_col,
			    "prefix %s/%u is masqueraded by the rule on line %u already (expected "
			    "each IPv6 prefix in one masquerade only)",
			    p6, (unsigned)m.prefix_len, o->line);
	}

	if (!xm_parse_grow((void **)&ps->rs.masqs, &ps->masqs_cap, ps->rs.n_masqs + 1, sizeof(m)))
		return fail_oom(ps);
	ps->rs.masqs[ps->rs.n_masqs++] = m;
	ps->n_masqs6 += xm_masq_is_v6(&m);
	return 0;
}

/* Reads the one value word of a `set`, in [min, max]. label names the
 * setting in errors ("conntrack-max", "timeout udp"), syntax is the statement
 * as it should be written and metavar its value word. */
static int set_value(struct parser *ps, struct lex *lx, const char *label, const char *syntax,
		     const char *metavar, uint32_t min, uint32_t max, uint32_t *out)
{
	char q[QBUF];
	struct tok t;
	uint64_t v;

	if (!next_tok(lx, &t))
		return fail(ps, ps->eol_col,
			    "missing value (expected: %s %s "
			    "with %s %u-%u)",
			    syntax, metavar, metavar, min, max);
	if (!parse_num(t.s, t.len, &v))
		return fail(ps, t.col,
			    "invalid %s '%s' (expected a number "
			    "%u-%u)",
			    label, quote(q, t.s, t.len), min, max);
	if (v < min || v > max)
		return fail(ps, t.col, "%s %s out of range (expected %u-%u)", label,
			    quote(q, t.s, t.len), min, max);
	*out = (uint32_t)v;
	return 0;
}

/* A setting given twice is an error naming the first line: which value
 * wins would otherwise depend on the order of lines. */
static int set_before(struct parser *ps, size_t col, const char *what, size_t line)
{
	if (!line)
		return 0;
	return fail(ps, col, "%s already set on line %zu (expected each setting once)", what, line);
}

static int parse_set(struct parser *ps, struct lex *lx)
{
	static const struct range_words pr_words = {
		"port", "LO-HI such as 20000-32767", XM_PORT_RANGE_MIN, 65535, false,
	};
	char q[QBUF];
	struct tok t, name;
	struct xm_settings *s = &ps->rs.settings;

	if (!next_tok(lx, &name))
		return fail(ps, ps->eol_col, "missing setting (expected: " SET_SYNTAX ")");

	if (tok_is(name.s, name.len, "conntrack-max")) {
		if (set_before(ps, name.col, "conntrack-max", ps->set_line_ct))
			return -1;
		if (set_value(ps, lx, "conntrack-max", "set conntrack-max", "N", XM_CT_MAX_MIN,
			      XM_CT_MAX_MAX, &s->ct_max))
			return -1;
		ps->set_line_ct = ps->at.line;
	} else if (tok_is(name.s, name.len, "conntrack6-max")) {
		if (set_before(ps, name.col, "conntrack6-max", ps->set_line_ct6))
			return -1;
		if (set_value(ps, lx, "conntrack6-max", "set conntrack6-max", "N", XM_CT6_MAX_MIN,
			      XM_CT6_MAX_LIMIT, &s->ct6_max))
			return -1;
		ps->set_line_ct6 = ps->at.line;
	} else if (tok_is(name.s, name.len, "port-range")) {
		uint16_t lo, hi;

		if (set_before(ps, name.col, "port-range", ps->set_line_ports))
			return -1;
		if (!next_tok(lx, &t))
			return fail(ps, ps->eol_col,
				    "missing value (expected: "
				    "set port-range LO-HI such as "
				    "20000-32767)");
		if (parse_range(ps, &t, &pr_words, &lo, &hi))
			return -1;
		if ((unsigned)hi - lo + 1u < XM_PORT_RANGE_PORTS)
			return fail(ps, t.col,
				    "port range %u-%u has only %u "
				    "ports (expected at least %u)",
				    lo, hi, (unsigned)hi - lo + 1u, XM_PORT_RANGE_PORTS);
		s->port_lo = lo;
		s->port_hi = hi;
		ps->set_line_ports = ps->at.line;
	} else if (tok_is(name.s, name.len, "timeout")) {
		char syntax[64];
		int id = -1;

		if (!next_tok(lx, &t))
			return fail(ps, ps->eol_col,
				    "missing timeout name "
				    "(expected " TIMEOUT_NAMES ")");
		for (int i = 0; i < XM_TO_MAX; i++)
			if (tok_is(t.s, t.len, xm_timeout_names[i]))
				id = i;
		if (id < 0)
			return fail(ps, t.col,
				    "unknown timeout '%s' "
				    "(expected " TIMEOUT_NAMES ")",
				    quote(q, t.s, t.len));
		snprintf(syntax, sizeof(syntax), "set timeout %s", xm_timeout_names[id]);
		if (set_before(ps, t.col, syntax + 4, ps->set_line_to[id]))
			return -1;
		if (set_value(ps, lx, syntax + 4, syntax, "SECONDS", 1, XM_TIMEOUT_MAX,
			      &s->timeouts[id]))
			return -1;
		ps->set_line_to[id] = ps->at.line;
	} else if (tok_is(name.s, name.len, "nat-filtering")) {
		static const uint32_t modes[] = { 0, XM_CFG_NAT_FILTER_ADDR,
						  XM_CFG_NAT_FILTER_ANY };
		int mode = -1;

		if (set_before(ps, name.col, "nat-filtering", ps->set_line_filtering))
			return -1;
		if (!next_tok(lx, &t))
			return fail(ps, ps->eol_col,
				    "missing value (expected " NAT_FILTERING_NAMES ")");
		for (int i = 0; i < 3; i++)
			if (tok_is(t.s, t.len, xm_nat_filtering_name(modes[i])))
				mode = i;
		if (mode < 0)
			return fail(ps, t.col,
				    "unknown nat-filtering '%s' (expected " NAT_FILTERING_NAMES ")",
				    quote(q, t.s, t.len));
		s->nat_flags = (s->nat_flags & ~(XM_CFG_NAT_FILTER_ADDR | XM_CFG_NAT_FILTER_ANY)) |
			       modes[mode];
		ps->set_line_filtering = ps->at.line;
	} else if (tok_is(name.s, name.len, "nat-inbound-refresh")) {
		if (set_before(ps, name.col, "nat-inbound-refresh", ps->set_line_refresh))
			return -1;
		if (!next_tok(lx, &t))
			return fail(ps, ps->eol_col, "missing value (expected yes or no)");
		if (tok_is(t.s, t.len, "no"))
			s->nat_flags |= XM_CFG_NAT_NO_INBOUND_REFRESH;
		else if (tok_is(t.s, t.len, "yes"))
			s->nat_flags &= ~XM_CFG_NAT_NO_INBOUND_REFRESH;
		else
			return fail(ps, t.col,
				    "unknown nat-inbound-refresh '%s' (expected yes or no)",
				    quote(q, t.s, t.len));
		ps->set_line_refresh = ps->at.line;
	} else if (tok_is(name.s, name.len, "flows-per-source")) {
		if (set_before(ps, name.col, "flows-per-source", ps->set_line_quota))
			return -1;
		if (set_value(ps, lx, "flows-per-source", "set flows-per-source", "N", 0,
			      XM_CT_MAX_MAX, &s->flows_per_source))
			return -1;
		ps->set_line_quota = ps->at.line;
	} else {
		return fail(ps, name.col,
			    "unknown setting '%s' (expected "
			    "conntrack-max, conntrack6-max, port-range, timeout, nat-filtering, "
			    "nat-inbound-refresh or flows-per-source)",
			    quote(q, name.s, name.len));
	}

	if (next_tok(lx, &t))
		return fail(ps, t.col,
			    "unexpected '%s' after the setting "
			    "(expected end of line)",
			    quote(q, t.s, t.len));
	if (ps->rs.n_set_lines < XM_SET_LINES_MAX)
		ps->rs.set_line[ps->rs.n_set_lines++] = (unsigned)ps->at.line;
	return 0;
}

/* One physical line, without its '\n'. */
static int parse_line(struct parser *ps, const char *s, size_t len)
{
	char q[QBUF];
	struct lex lx;
	struct tok kw;
	const char *p;
	size_t clen;

	p = memchr(s, '\0', len);
	if (p)
		return fail(ps, (size_t)(p - s) + 1,
			    "NUL byte in the text "
			    "(expected a text file)");
	if (len && s[len - 1] == '\r') /* CRLF */
		len--;
	p = memchr(s, '#', len);
	clen = p ? (size_t)(p - s) : len;
	for (size_t i = 0; i < clen; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(ps, i + 1,
				    "control character 0x%02x in "
				    "the text (expected printable text, words "
				    "separated by spaces or tabs)",
				    c);
	}
	while (clen && (s[clen - 1] == ' ' || s[clen - 1] == '\t'))
		clen--;
	ps->eol_col = clen + 1;

	lx.s = s;
	lx.len = clen;
	lx.pos = 0;
	if (!next_tok(&lx, &kw))
		return 0; /* blank or comment only */
	if (tok_is(kw.s, kw.len, "forward"))
		return parse_forward(ps, &lx);
	if (tok_is(kw.s, kw.len, "masquerade"))
		return parse_masquerade(ps, &lx);
	if (tok_is(kw.s, kw.len, "set"))
		return parse_set(ps, &lx);
	return fail(ps, kw.col,
		    "unknown statement '%s' (expected forward, "
		    "masquerade or set)",
		    quote(q, kw.s, kw.len));
}

void xm_ruleset_free(struct xm_ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n_rules; i++)
		free(rs->rules[i].from.pfx);
	free(rs->rules);
	free(rs->masqs);
	memset(rs, 0, sizeof(*rs));
	xm_settings_default(&rs->settings);
}

int xm_rules_parse(const char *text, size_t len, const char *filename, struct xm_ruleset *out,
		   char *err, size_t errlen)
{
	struct parser ps;
	size_t pos = 0;
	int ret = 0;

	memset(&ps, 0, sizeof(ps));
	ps.at.fname = filename ? filename : "rules";
	ps.at.err = err;
	ps.at.errlen = errlen;
	xm_settings_default(&ps.rs.settings);
	if (err && errlen)
		err[0] = '\0';
	if (!text)
		len = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - (text + pos)) : len - pos;

		ps.at.line++;
		ret = parse_line(&ps, text + pos, llen);
		if (ret)
			break;
		pos += llen + (nl ? 1 : 0);
	}

	free(ps.ht);
	if (ret) {
		xm_ruleset_free(&ps.rs);
		if (out) {
			memset(out, 0, sizeof(*out));
			xm_settings_default(&out->settings);
		}
		return ps.at.oom ? -1 : -2;
	}
	if (!out) {
		xm_ruleset_free(&ps.rs);
		return 0;
	}
	*out = ps.rs;
	return 0;
}

int xm_rules_parse_line(const char *s, size_t len, unsigned line, const char *filename,
			struct xm_rule *r, enum xm_line_kind *kind, char *err, size_t errlen)
{
	struct parser ps;
	int ret;

	memset(&ps, 0, sizeof(ps));
	ps.at.fname = filename ? filename : "rules";
	ps.at.err = err;
	ps.at.errlen = errlen;
	ps.at.line = line;
	xm_settings_default(&ps.rs.settings);
	if (err && errlen)
		err[0] = '\0';
	ret = parse_line(&ps, s, len);
	free(ps.ht);
	*kind = XM_LINE_BLANK;
	/* forwards for IPv6 clients take the full path too (live_rules.c
	 * keeps IPv4 ones) */
	if (ret == 0 && ps.rs.n_rules == 1 && !ps.rs.rules[0].as.n && !ps.rs.rules[0].from.n &&
	    !xm_rule_v6_clients(&ps.rs.rules[0])) {
		*kind = XM_LINE_FORWARD;
		*r = ps.rs.rules[0];
	} else if (ret == 0 && (ps.rs.n_rules || ps.rs.n_masqs || ps.rs.n_set_lines)) {
		*kind = XM_LINE_OTHER;
	}
	xm_ruleset_free(&ps.rs);
	if (ret)
		return ps.at.oom ? -1 : -2;
	return 0;
}

int xm_rules_error_place(const char *err, const char *filename, unsigned *line, unsigned *col,
			 const char **message)
{
	size_t flen = strlen(filename);
	unsigned l, c;
	int used = 0;

	*line = *col = 0;
	*message = err;
	if (strncmp(err, filename, flen) || err[flen] != ':')
		return 0;
	if (sscanf(err + flen, ":%u:%u: %n", &l, &c, &used) != 2 || used == 0)
		return 0;
	*line = l;
	*col = c;
	*message = err + flen + used;
	return 1;
}

int xm_rules_parse_file(const char *path, struct xm_ruleset *out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int ret;

	if (out) {
		memset(out, 0, sizeof(*out));
		xm_settings_default(&out->settings);
	}
	if (err && errlen)
		err[0] = '\0';
	if (!path) {
		if (err && errlen)
			snprintf(err, errlen, "(null): %s", strerror(EINVAL));
		return -2;
	}
	ret = xm_parse_read_file(path, "a rules file", &text, &len, err, errlen);
	if (ret)
		return ret;
	ret = xm_rules_parse(text, len, path, out, err, errlen);
	free(text);
	return ret;
}

/* The lists as rule texts end: " as A,B", " from P,Q/24" (nothing when empty). */
static void text_addr_list(struct xm_text *t, const struct xm_addr_list *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		xm_text_str(t, i ? "," : " as ");
		if (l->v6)
			xm_text_ipv6(t, &l->addr6[i]);
		else
			xm_text_ipv4(t, l->addr[i]);
	}
}

static void text_src_list(struct xm_text *t, const struct xm_src_list *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		/* an IPv6 list's IPv4-mapped prefixes are IPv4 ones (rules.h) */
		bool v4 = !l->v6 || (IN6_IS_ADDR_V4MAPPED(&l->pfx[i].addr6) && l->pfx[i].len >= 96);
		unsigned len = l->v6 && v4 ? l->pfx[i].len - 96u : l->pfx[i].len;

		xm_text_str(t, i ? "," : " from ");
		if (!v4)
			xm_text_ipv6(t, &l->pfx[i].addr6);
		else
			xm_text_ipv4(t,
				     l->v6 ? xm_ipv4_of_mapped(&l->pfx[i].addr6) : l->pfx[i].addr);
		if (len != (v4 ? 32u : 128u)) {
			xm_text_put(t, "/", 1);
			xm_text_u64(t, len);
		}
	}
}

void xm_addr_list_format(const struct xm_addr_list *l, char *buf, size_t len)
{
	struct xm_text t;

	if (!buf || len == 0)
		return;
	t = xm_text_at(buf, len);
	text_addr_list(&t, l);
}

void xm_src_list_format(const struct xm_src_list *l, char *buf, size_t len)
{
	struct xm_text t;

	if (!buf || len == 0)
		return;
	t = xm_text_at(buf, len);
	text_src_list(&t, l);
}

int xm_src_list_same(const struct xm_src_list *a, const struct xm_src_list *b)
{
	if (a->n != b->n || (a->n && a->v6 != b->v6))
		return 0;
	for (unsigned i = 0; i < a->n; i++)
		if ((a->v6 ? cmp_src_prefix6(&a->pfx[i], &b->pfx[i]) :
			     cmp_src_prefix(&a->pfx[i], &b->pfx[i])) != 0)
			return 0;
	return 1;
}

/* PORT or LO-HI */
static void text_ports(struct xm_text *t, uint16_t lo, uint16_t hi)
{
	xm_text_u64(t, lo);
	if (lo != hi) {
		xm_text_put(t, "-", 1);
		xm_text_u64(t, hi);
	}
}

void xm_rule_format(const struct xm_rule *r, char *buf, size_t len)
{
	struct xm_text t;

	if (!buf || len == 0)
		return;
	t = xm_text_at(buf, len);
	xm_text_str(&t, "forward ");
	text_iface_local(&t, r);
	xm_text_str(&t, r->proto == IPPROTO_TCP ? " tcp " :
			r->proto == IPPROTO_UDP ? " udp " :
						  " ? ");
	text_ports(&t, r->from_lo, r->from_hi);
	if (xm_rule_is_v6(r) && !xm_rule_to_v4(r)) {
		xm_text_str(&t, " to [");
		xm_text_ipv6(&t, &r->to_addr6);
		xm_text_str(&t, "]:");
	} else {
		xm_text_str(&t, " to ");
		xm_text_ipv4(&t, xm_rule_is_v6(r) ? xm_ipv4_of_mapped(&r->to_addr6) : r->to_addr);
		xm_text_put(&t, ":", 1);
	}
	text_ports(&t, r->to_lo, r->to_hi);
	/* `family` where it is not the default (settle_family) */
	if (xm_rule_to_v4(r) && !xm_rule_is_v6(r))
		xm_text_str(&t, " family any");
	else if (xm_rule_to_v4(r) && !xm_rule_has_local_addr(r))
		xm_text_str(&t, " family ipv6");
	if (r->flags & XM_RULE_KEEP_SOURCE)
		xm_text_str(&t, " keep-source");
	if (r->flags & XM_RULE_ALLOW_SPECIAL)
		xm_text_str(&t, " allow-special");
	text_addr_list(&t, &r->as);
	text_src_list(&t, &r->from);
}

void xm_masq_format(const struct xm_masq *m, char *buf, size_t len)
{
	struct xm_text t;

	if (!buf || len == 0)
		return;
	t = xm_text_at(buf, len);
	xm_text_str(&t, "masquerade ");
	if (xm_masq_is_v6(m))
		xm_text_ipv6(&t, &m->prefix6);
	else
		xm_text_ipv4(&t, m->prefix);
	xm_text_put(&t, "/", 1);
	xm_text_u64(&t, m->prefix_len);
	xm_text_str(&t, " out ");
	xm_text_strn(&t, m->out_ifname, XM_IFNAMSIZ - 1);
	text_addr_list(&t, &m->as);
}
