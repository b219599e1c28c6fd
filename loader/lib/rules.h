/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Rules file parser: the one definition of the rules grammar. */
#ifndef XMASQ_RULES_H
#define XMASQ_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>
#include "xmasq_abi.h"

/* `as ADDR[,ADDR...]`: the addresses a rule's flows leave with (each a
 * local address of the router) instead of the egress NIC's primary one.
 * Of the family the flows leave by (xm_flags_leave_v6): IPv6 for a 6->6
 * forward or an IPv6 masquerade, IPv4 for any other rule (a 6->4
 * forward's too: its backend is IPv4). A union, as struct xm_rule's
 * addresses. */
struct xm_addr_list {
	uint8_t n;
	bool v6;					/* the addresses are IPv6 (addr6) */
	union {						/* in the file's order */
		uint32_t addr[XM_ADDR_SET_MAX];		/* IPv4, network order */
		struct in6_addr addr6[XM_ADDR_SET_MAX]; /* IPv6 (v6) */
	};
	unsigned col; /* 1-based column of the list */
};

/* Whether the flows of a rule with these flags (struct xm_rule's,
 * xm_masq's or rule_meta's) leave by IPv6: a 6->6 forward (XM_RULE_V6
 * without XM_RULE_TO_V4) or an IPv6 masquerade. Its `as` list is IPv6
 * then, in map addr_sets6; any other rule's is IPv4, in addr_sets. */
static inline bool xm_flags_leave_v6(uint32_t flags)
{
	return (flags & (XM_RULE_V6 | XM_RULE_TO_V4)) == XM_RULE_V6;
}

/* `from PREFIX[,PREFIX...]`: the sources a forward admits (a bare address
 * is a /32, or a /128). Sorted by address then length, each once, host
 * bits zero. An IPv4 list (v6 0) holds IPv4 prefixes; an IPv6 list may
 * also hold IPv4 ones, IPv4-mapped (::ffff:a.b.c.d/96+LEN), as the
 * `family any` forwards' mixed lists do (the parser refuses such a
 * prefix written as IPv6, so a mapped one is always an IPv4 prefix). */
struct xm_src_prefix {
	union {
		uint32_t addr;	       /* IPv4, network order */
		struct in6_addr addr6; /* IPv6 (the list's v6) */
	};
	uint8_t len; /* 0-32, or 0-128 */
};
struct xm_src_list {
	uint16_t n;		   /* 0: any source */
	uint8_t v6;		   /* the prefixes are IPv6 */
	unsigned col;		   /* 1-based column of the list */
	struct xm_src_prefix *pfx; /* n entries, malloc'd (freed with the rule set) */
};

/* The longest text xm_rule_format writes (an `as` list of
 * XM_ADDR_SET_MAX IPv6 addresses, up to 40 bytes each with its comma,
 * and a `from` list of XM_ALLOW_LIST_MAX prefixes included: IPv6 ones
 * are up to 44 bytes). */
#define XM_RULE_TEXT_MAX (256 + XM_ADDR_SET_MAX * 40 + XM_ALLOW_LIST_MAX * 45)

/* `forward IFACE[:ADDR] PROTO PORT[-PORT] to ADDR[:PORT[-PORT]] [options]`.
 * Which clients it serves (`family`, by default the local address's, else
 * the backend's) decides where its addresses are. Unions, so an IPv4 rule
 * stays small (100,000-rule files):
 *   IPv4 clients, IPv4 backend: flags without XM_RULE_V6 / XM_RULE_TO_V4;
 *     local_addr, to_addr.
 *   IPv6 clients, IPv6 backend: XM_RULE_V6; local_addr6, to_addr6.
 *   IPv6 clients, IPv4 backend (6->4, `family ipv6` or an IPv6 local
 *     address): XM_RULE_V6 | XM_RULE_TO_V4; local_addr6, and to_addr6 the
 *     backend IPv4-mapped (::ffff:a.b.c.d), as rules6 and rule_addrs6
 *     hold it.
 *   both (`family any`, IPv4 backend, no local address): XM_RULE_TO_V4
 *     alone; local_addr (0) and to_addr, as an IPv4 rule, whose IPv6
 *     clients are served by rules6 entries to ::ffff:to_addr.
 * rule_meta's flags are the same (XM_RULE_TO_V4 without XM_RULE_V6 is
 * `family any`). */
struct xm_rule {
	char ifname[XM_IFNAMSIZ];
	union {
		uint32_t local_addr;	     /* IPv4: network order, 0 = any address of ifname */
		struct in6_addr local_addr6; /* IPv6: all zero = any */
	};
	uint8_t proto;		   /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t from_lo, from_hi; /* host order, inclusive */
	union {
		uint32_t to_addr;	  /* IPv4: network order */
		struct in6_addr to_addr6; /* IPv6 */
	};
	uint16_t to_lo, to_hi;	 /* host order; to_hi-to_lo == from_hi-from_lo
	                             (1:1), or to_lo == to_hi (many to one) */
	uint32_t flags;		 /* XM_RULE_KEEP_SOURCE, XM_RULE_ALLOW_SPECIAL, XM_RULE_V6,
				    XM_RULE_TO_V4 */
	struct xm_addr_list as;	 /* `as`: n == 0 without */
	struct xm_src_list from; /* `from`: n == 0 without */
	unsigned line;		 /* 1-based line of the statement */
	unsigned iface_col;	 /* 1-based column of IFACE, for later errors */
};

/* An IPv6 forward (its addresses are local_addr6 and to_addr6). */
static inline bool xm_rule_is_v6(const struct xm_rule *r)
{
	return (r->flags & XM_RULE_V6) != 0;
}

/* An IPv6 forward for one local address (IFACE:[ADDR6]). */
static inline bool xm_rule_addr6(const struct xm_rule *r)
{
	return xm_rule_is_v6(r) && !IN6_IS_ADDR_UNSPECIFIED(&r->local_addr6);
}

/* Serves IPv6 clients of an IPv4 backend (6->4): `family ipv6` or `family
 * any` with an IPv4 backend. */
static inline bool xm_rule_to_v4(const struct xm_rule *r)
{
	return (r->flags & XM_RULE_TO_V4) != 0;
}

/* Serves IPv4 clients (its entries in map rules). */
static inline bool xm_rule_v4_clients(const struct xm_rule *r)
{
	return (r->flags & XM_RULE_V6) == 0;
}

/* Serves IPv6 clients (its entries in map rules6). */
static inline bool xm_rule_v6_clients(const struct xm_rule *r)
{
	return (r->flags & (XM_RULE_V6 | XM_RULE_TO_V4)) != 0;
}

/* The IPv4 address behind an IPv4-mapped one (::ffff:a.b.c.d). */
static inline uint32_t xm_ipv4_of_mapped(const struct in6_addr *a)
{
	uint32_t v4;

	memcpy(&v4, &a->s6_addr[12], sizeof(v4));
	return v4;
}

/* ::ffff:a.b.c.d for an IPv4 address (network order). */
static inline void xm_ipv4_mapped(uint32_t v4, struct in6_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->s6_addr[10] = 0xff;
	out->s6_addr[11] = 0xff;
	memcpy(&out->s6_addr[12], &v4, sizeof(v4));
}

/* Whether r is for one local address (IFACE:ADDR), of either family. */
bool xm_rule_has_local_addr(const struct xm_rule *r);

/* `masquerade PREFIX/LEN out IFACE [as ADDR[,ADDR...]]`. The family is
 * the prefix's: with XM_RULE_V6 in flags, prefix6 (written bare,
 * fd00:1::/64, or in brackets, [fd00:1::]/64; its `as` list IPv6), else
 * prefix. A union, as struct xm_rule's addresses. */
struct xm_masq {
	union {
		uint32_t prefix;	 /* IPv4: network order, host bits zero */
		struct in6_addr prefix6; /* IPv6: host bits zero */
	};
	uint8_t prefix_len; /* 0-32, or 0-128 */
	uint32_t flags;	    /* XM_RULE_V6 or 0 */
	char out_ifname[XM_IFNAMSIZ];
	struct xm_addr_list as; /* of the prefix's family */
	unsigned line;
	unsigned iface_col;
	unsigned prefix_col; /* 1-based column of PREFIX, for later errors */
};

/* An IPv6 masquerade (its prefix is prefix6). */
static inline bool xm_masq_is_v6(const struct xm_masq *m)
{
	return (m->flags & XM_RULE_V6) != 0;
}

/* `set ...` statements; a field keeps its default unless the file sets it. */
struct xm_settings {
	uint32_t ct_max;	      /* set conntrack-max N */
	uint32_t ct6_max;	      /* set conntrack6-max N: IPv6 flows */
	uint16_t port_lo, port_hi;    /* set port-range LO-HI */
	uint32_t timeouts[XM_TO_MAX]; /* set timeout NAME SECONDS */
	uint32_t nat_flags;	      /* set nat-filtering, set nat-inbound-refresh:
					 XM_CFG_NAT_* */
	uint32_t flows_per_source;    /* set flows-per-source N (0: no limit), or
					 XM_FLOWS_PER_SOURCE_AUTO */
};

/* flows-per-source not set: the table's conntrack-max / XM_FLOWS_PER_SOURCE_SHARE. */
#define XM_FLOWS_PER_SOURCE_AUTO UINT32_MAX

/* The config.flags bits the settings own. */
#define XM_CFG_NAT_MASK \
	(XM_CFG_NAT_FILTER_ADDR | XM_CFG_NAT_FILTER_ANY | XM_CFG_NAT_NO_INBOUND_REFRESH)

/* `set nat-filtering` values, indexed by what the flags hold. */
const char *xm_nat_filtering_name(uint32_t nat_flags);

/* Settings a file can hold: conntrack-max, conntrack6-max, port-range,
 * the timeouts, nat-filtering, nat-inbound-refresh, flows-per-source. */
#define XM_SET_LINES_MAX (6 + XM_TO_MAX)

struct xm_ruleset {
	struct xm_rule *rules;
	size_t n_rules;
	struct xm_masq *masqs;
	size_t n_masqs;
	struct xm_settings settings;
	unsigned total_ports; /* sum of (from_hi - from_lo + 1) */
	/* the lines of the `set` statements (each setting is set once) */
	unsigned set_line[XM_SET_LINES_MAX];
	size_t n_set_lines;
};

/* Fills s with the documented defaults. */
void xm_settings_default(struct xm_settings *s);

/* Names of the timeouts as written in `set timeout NAME`, indexed by
 * enum xm_timeout_id: "tcp-syn", "tcp-established", ... */
extern const char *const xm_timeout_names[XM_TO_MAX];

/*
 * Parses a whole rules text. On success returns 0 and fills *out (free with
 * xm_ruleset_free). On the first error returns -2 (-1 when out of memory),
 * leaves *out empty and writes one line "FILE:LINE:COL: what is wrong
 * (expected ...)" to err.
 */
int xm_rules_parse(const char *text, size_t len, const char *filename, struct xm_ruleset *out,
		   char *err, size_t errlen);

/* What one line is, parsed alone (xm_rules_parse_line). */
enum xm_line_kind {
	XM_LINE_BLANK,	 /* empty, or a comment */
	XM_LINE_FORWARD, /* a forward without `as` or `from` list */
	XM_LINE_OTHER,	 /* anything else: a set, a masquerade, a forward with lists */
};

/*
 * Parses one line (without its newline) as line `line` of filename, alone:
 * what an edit of a few lines of a large file needs. 0 and *kind (*r filled
 * for XM_LINE_FORWARD; XM_LINE_OTHER is not checked further: parse the
 * whole text). -2 with the error xm_rules_parse would give for this line,
 * when the line itself is wrong; -1 when out of memory. What depends on
 * other lines (overlaps, limits, a setting set twice) is not checked.
 */
int xm_rules_parse_line(const char *s, size_t len, unsigned line, const char *filename,
			struct xm_rule *r, enum xm_line_kind *kind, char *err, size_t errlen);

/* The largest rules text read or accepted (a file, or xmasqd's PUT). */
#define XM_RULES_FILE_MAX (16u << 20) /* bytes */

/* Reads and parses a file: -2 for a rules error or a file too big, -1 for
 * an I/O error, reported as "FILE: reason". */
int xm_rules_parse_file(const char *path, struct xm_ruleset *out, char *err, size_t errlen);

void xm_ruleset_free(struct xm_ruleset *rs);

/* The errors of xm_rules_parse and xm_apply that point into the rules
 * read "FILE:LINE:COL: message". For front ends that show the place apart
 * (xmasqd's JSON): 1 with *line, *col and *message (inside err) when err
 * begins with filename and a place, else 0 (*message is err). */
int xm_rules_error_place(const char *err, const char *filename, unsigned *line, unsigned *col,
			 const char **message);

/* Writes the `as` list (" as 192.0.2.1,192.0.2.5", " as 2001:db8:1::10"
 * with IPv6 addresses bare; "" when empty). */
void xm_addr_list_format(const struct xm_addr_list *l, char *buf, size_t len);

/* Writes the `from` list (" from 192.0.2.0/25,198.51.100.7"; "" when
 * empty; /32 and /128 prefixes as bare addresses, IPv6 ones unbracketed). */
void xm_src_list_format(const struct xm_src_list *l, char *buf, size_t len);

/* Same prefixes (lists are kept sorted): 1 or 0. */
int xm_src_list_same(const struct xm_src_list *a, const struct xm_src_list *b);

/* Writes the canonical one-line form of a rule ("forward eth0 tcp 8080 to
 * 198.18.0.2:80"), as used in status, stats and diffs. */
void xm_rule_format(const struct xm_rule *r, char *buf, size_t len);

/* Writes the canonical one-line form of a masquerade statement
 * ("masquerade 10.0.0.0/16 out eth0", "masquerade fd00:1::/64 out eth0":
 * an IPv6 prefix unbracketed). */
void xm_masq_format(const struct xm_masq *m, char *buf, size_t len);

/* Is addr (network order) one xmasq refuses to forward to without
 * allow-special? Returns a short reason ("loopback", "cloud metadata
 * service", ...) or NULL. */
const char *xm_special_addr_reason(uint32_t addr);
/* The same for an IPv6 backend: ::, ::1, fe80::/10, ff00::/8, ::ffff:0:0/96,
 * the cloud metadata address fd00:ec2::254; NULL for the others. */
const char *xm_special_addr6_reason(const struct in6_addr *addr);

/* IPv6 addresses, the project's way (inet_pton / inet_ntop; never by
 * hand). xm_ipv6_parse: the len bytes at s (no brackets, no zone) as an
 * address: true, or false for anything else. xm_ipv6_format: the
 * canonical text (RFC 5952) into buf, which INET6_ADDRSTRLEN bytes hold.
 * In rules and rule listings an address with a port is written in
 * brackets, [ADDR]:PORT, as in URLs. */
bool xm_ipv6_parse(const char *s, size_t len, struct in6_addr *out);
void xm_ipv6_format(const struct in6_addr *addr, char *buf, size_t len);

#endif
