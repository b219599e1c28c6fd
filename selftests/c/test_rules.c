/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Unit test of the rules parser (loader/lib/rules.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "rules.h"

#define FN "rules.conf"

static uint32_t ip(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a.s_addr;
}

/* Parses text that must be valid; reports the error otherwise. */
static int parse_ok(const char *text, size_t len, struct xm_ruleset *rs, const char *what)
{
	char err[512] = "";
	int r = xm_rules_parse(text, len, FN, rs, err, sizeof(err));

	if (r != 0)
		tap_diag("%s: unexpected error: %s", what, err);
	return r == 0;
}

static void bad_n(const char *text, size_t len, const char *want, const char *what)
{
	char err[512];
	struct xm_ruleset rs;
	int r, ok;

	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	r = xm_rules_parse(text, len, FN, &rs, err, sizeof(err));
	ok = r == -2 && strcmp(err, want) == 0 && rs.n_rules == 0 && !rs.rules && rs.n_masqs == 0 &&
	     !rs.masqs;
	if (!tap_ok(ok, "rejects %s", what)) {
		tap_diag("got:  %d '%s'", r, err);
		tap_diag("want: -1 '%s'", want);
	}
	xm_ruleset_free(&rs);
}

#define bad(text, want, what) bad_n(text, strlen(text), want, what)

static struct in6_addr ip6(const char *s)
{
	struct in6_addr a;

	if (inet_pton(AF_INET6, s, &a) != 1)
		abort();
	return a;
}

/* The parser zeroes a rule first: an IPv4 rule's addresses are the first
 * 4 bytes of the IPv6 fields and the rest is zero, so 16 bytes compare
 * either family. */
static int same_rule(const struct xm_rule *a, const struct xm_rule *b)
{
	return strcmp(a->ifname, b->ifname) == 0 &&
	       memcmp(&a->local_addr6, &b->local_addr6, 16) == 0 && a->proto == b->proto &&
	       a->from_lo == b->from_lo && a->from_hi == b->from_hi &&
	       memcmp(&a->to_addr6, &b->to_addr6, 16) == 0 && a->to_lo == b->to_lo &&
	       a->to_hi == b->to_hi && a->flags == b->flags && a->as.n == b->as.n &&
	       a->as.v6 == b->as.v6 && memcmp(a->as.addr6, b->as.addr6, sizeof(a->as.addr6)) == 0 &&
	       xm_src_list_same(&a->from, &b->from);
}

/* ---- valid input ------------------------------------------------------- */

static void test_single_rule(void)
{
	static const char t[] = "forward eth0 tcp 8080 to 198.18.0.2:80\n";
	struct xm_ruleset rs;
	char buf[128];
	const struct xm_rule *r;

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "single"), "single forward rule parses"))
		return;
	r = &rs.rules[0];
	tap_ok(rs.n_rules == 1 && rs.n_masqs == 0 && rs.total_ports == 1, "single rule: one rule, "
									  "one port, no "
									  "masquerade");
	tap_ok(strcmp(r->ifname, "eth0") == 0 && r->local_addr == 0 && r->proto == IPPROTO_TCP &&
		       r->from_lo == 8080 && r->from_hi == 8080 && r->to_addr == ip("198.18.0.2") &&
		       r->to_lo == 80 && r->to_hi == 80 && r->flags == 0,
	       "single rule: fields (eth0, any address, tcp 8080 -> "
	       "198.18.0.2:80)");
	tap_ok(r->line == 1 && r->iface_col == 9, "single rule: line 1, interface at column 9");
	xm_rule_format(r, buf, sizeof(buf));
	tap_ok(strcmp(buf, "forward eth0 tcp 8080 to 198.18.0.2:80") == 0,
	       "single rule: canonical form '%s'", buf);
	xm_ruleset_free(&rs);
}

static void test_range_local_keep(void)
{
	static const char t[] = "forward eth1:198.51.100.4 udp 5000-5010 to 198.18.0.7 "
				"keep-source\n";
	struct xm_ruleset rs;
	char buf[128];
	const struct xm_rule *r;

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "range"), "range rule with local address and "
							  "keep-source parses"))
		return;
	r = &rs.rules[0];
	tap_ok(strcmp(r->ifname, "eth1") == 0 && r->local_addr == ip("198.51.100.4") &&
		       r->proto == IPPROTO_UDP && r->from_lo == 5000 && r->from_hi == 5010 &&
		       r->to_lo == 5000 && r->to_hi == 5010 && r->to_addr == ip("198.18.0.7") &&
		       r->flags == XM_RULE_KEEP_SOURCE && rs.total_ports == 11,
	       "range rule: omitted destination port = same ports, "
	       "keep-source flag, 11 ports");
	xm_rule_format(r, buf, sizeof(buf));
	tap_ok(strcmp(buf, "forward eth1:198.51.100.4 udp 5000-5010 to "
			   "198.18.0.7:5000-5010 keep-source") == 0,
	       "range rule: canonical form prints the destination ports");
	xm_ruleset_free(&rs);
}

static void test_port_mappings(void)
{
	static const char t[] = "forward eth0 tcp 8000-8009 to 10.0.0.1:9000-9009\n"
				"forward eth0 tcp 7000-7009 to 10.0.0.1:443\n"
				"forward eth0 tcp 7010-7019 to 10.0.0.1:7010-7019\n";
	struct xm_ruleset rs;

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "mappings"), "1:1, many-to-one and adjacent ranges "
							     "parse"))
		return;
	tap_ok(rs.n_rules == 3 && rs.total_ports == 30, "mappings: 3 rules, total_ports is the sum "
							"of source ranges");
	tap_ok(rs.rules[0].to_lo == 9000 && rs.rules[0].to_hi == 9009, "mappings: 1:1 destination "
								       "range kept");
	tap_ok(rs.rules[1].to_lo == 443 && rs.rules[1].to_hi == 443 &&
		       rs.rules[1].from_lo == 7000 && rs.rules[1].from_hi == 7009,
	       "mappings: many-to-one keeps a single destination port");
	TAP_EQ(rs.rules[2].line, 3, "mappings: third rule on line 3");
	xm_ruleset_free(&rs);
}

static void test_no_overlap(void)
{
	static const char t[] = "forward eth0 tcp 80 to 10.0.0.1\n"
				"forward eth0:192.0.2.1 tcp 80 to 10.0.0.2\n"
				"forward eth0:192.0.2.2 tcp 80 to 10.0.0.3\n"
				"forward eth0 udp 80 to 10.0.0.4\n"
				"forward eth1 tcp 80 to 10.0.0.5\n";
	struct xm_ruleset rs;

	tap_ok(parse_ok(t, strlen(t), &rs, "no overlap") && rs.n_rules == 5, "same port "
									     "with/without local "
									     "address, other "
									     "protocol or "
									     "other interface is "
									     "not an overlap");
	xm_ruleset_free(&rs);
}

static void test_allow_special(void)
{
	static const char t[] = "forward eth0 tcp 80 to 169.254.169.254 allow-special "
				"keep-source\n"
				"forward eth0 tcp 81 to 127.0.0.1:8081 allow-special\n";
	struct xm_ruleset rs;
	char buf[128];

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "allow-special"), "allow-special lets a special "
								  "destination through"))
		return;
	TAP_EQ(rs.rules[0].flags, XM_RULE_ALLOW_SPECIAL | XM_RULE_KEEP_SOURCE,
	       "allow-special: both option flags set, in any order");
	xm_rule_format(&rs.rules[0], buf, sizeof(buf));
	tap_ok(strcmp(buf, "forward eth0 tcp 80 to 169.254.169.254:80 "
			   "keep-source allow-special") == 0,
	       "allow-special: canonical form lists options in fixed order");
	xm_ruleset_free(&rs);
}

static void test_masquerade(void)
{
	static const char t[] = "masquerade 10.0.0.0/16 out eth0\n"
				"masquerade\t0.0.0.0/0  out  wan.5@x-y_z  # everything\n"
				"masquerade 192.0.2.7/32 out eth1\n";
	struct xm_ruleset rs;
	char buf[128];
	const struct xm_masq *m;

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "masquerade"), "masquerade statements parse"))
		return;
	m = rs.masqs;
	tap_ok(rs.n_masqs == 3 && rs.n_rules == 0, "masquerade: 3 entries");
	tap_ok(m[0].prefix == ip("10.0.0.0") && m[0].prefix_len == 16 &&
		       strcmp(m[0].out_ifname, "eth0") == 0 && m[0].line == 1 &&
		       m[0].iface_col == 28,
	       "masquerade: 10.0.0.0/16 out eth0, line 1, iface column 28");
	tap_ok(m[1].prefix == 0 && m[1].prefix_len == 0 &&
		       strcmp(m[1].out_ifname, "wan.5@x-y_z") == 0 && m[1].iface_col == 28,
	       "masquerade: /0, tab counted as one column, all iface chars");
	tap_ok(m[2].prefix == ip("192.0.2.7") && m[2].prefix_len == 32, "masquerade: /32 host "
									"prefix");
	xm_masq_format(&m[0], buf, sizeof(buf));
	tap_ok(strcmp(buf, "masquerade 10.0.0.0/16 out eth0") == 0,
	       "masquerade: canonical form '%s'", buf);
	xm_ruleset_free(&rs);
}

/* `as ADDR[,ADDR...]` on forwards and masquerades. */
static void test_as_lists(void)
{
	static const char t[] = "forward eth0 tcp 8080 to 198.18.8.2:80 as 198.18.0.1,198.18.0.3\n"
				"masquerade 198.19.0.0/16 out eth0 as 192.0.2.1\n";
	struct xm_ruleset rs;
	char buf[256];

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "as"), "as: lists on a forward and a masquerade"))
		return;
	tap_ok(rs.rules[0].as.n == 2 && rs.rules[0].as.addr[0] == ip("198.18.0.1") &&
		       rs.rules[0].as.addr[1] == ip("198.18.0.3") && rs.rules[0].as.col == 43,
	       "as: forward's list in the file's order, column 43");
	tap_ok(rs.masqs[0].as.n == 1 && rs.masqs[0].as.addr[0] == ip("192.0.2.1"), "as: "
										   "masquerade's "
										   "list");
	xm_masq_format(&rs.masqs[0], buf, sizeof(buf));
	tap_ok(strcmp(buf, "masquerade 198.19.0.0/16 out eth0 as 192.0.2.1") == 0,
	       "as: masquerade's canonical form '%s'", buf);
	xm_ruleset_free(&rs);
}

/* Whether masquerades a and b are the same (the parser zeroes them first). */
static int same_masq(const struct xm_masq *a, const struct xm_masq *b)
{
	return memcmp(&a->prefix6, &b->prefix6, 16) == 0 && a->prefix_len == b->prefix_len &&
	       a->flags == b->flags && strcmp(a->out_ifname, b->out_ifname) == 0 &&
	       a->as.n == b->as.n && a->as.v6 == b->as.v6 &&
	       memcmp(a->as.addr6, b->as.addr6, sizeof(a->as.addr6)) == 0;
}

/* `as` lists of IPv6 addresses: a 6->6 forward's and an IPv6
 * masquerade's, bare or in brackets, kept in the file's order, printed
 * bare in canonical form; a 6->4 forward's list stays IPv4. */
static void test_as6_lists(void)
{
	static const char t[] =
		"forward eth0 tcp 443 to [fd00:8::2]:8443 as 2001:db8:1::10,[2001:DB8:1:0::11]\n"
		"masquerade fd00:1::/64 out eth0 as [2001:db8:1::11],2001:db8:1::10\n"
		"masquerade [fd00:2::]/64 out eth1 as 2001:db8:2::1\n"
		"forward eth0:[2001:db8::1] tcp 80 to 198.18.0.2 as 192.0.2.1 family ipv6\n"
		"forward eth1 tcp 443 to [fd00:8::3] as [2001:db8:2::1] family ipv6\n";
	static const char *const canon[] = {
		"forward eth0 tcp 443 to [fd00:8::2]:8443 as 2001:db8:1::10,2001:db8:1::11",
		"forward eth0:[2001:db8::1] tcp 80 to 198.18.0.2:80 as 192.0.2.1",
		"forward eth1 tcp 443 to [fd00:8::3]:443 as 2001:db8:2::1",
		"masquerade fd00:1::/64 out eth0 as 2001:db8:1::11,2001:db8:1::10",
		"masquerade fd00:2::/64 out eth1 as 2001:db8:2::1",
	};
	struct in6_addr a10 = ip6("2001:db8:1::10"), a11 = ip6("2001:db8:1::11");
	struct xm_ruleset rs, rs2;
	char buf[XM_RULE_TEXT_MAX], all[1024] = "";
	const struct xm_addr_list *l;
	struct xm_rule r;
	enum xm_line_kind kind;
	char err[256];

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "as6"), "as6: IPv6 lists on forwards and "
							"masquerades parse"))
		return;
	if (!tap_ok(rs.n_rules == 3 && rs.n_masqs == 2, "as6: 3 forwards, 2 masquerades")) {
		xm_ruleset_free(&rs);
		return;
	}
	l = &rs.rules[0].as;
	tap_ok(l->v6 && l->n == 2 && memcmp(&l->addr6[0], &a10, 16) == 0 &&
		       memcmp(&l->addr6[1], &a11, 16) == 0 && l->col == 45,
	       "as6: 6->6 forward: bare and bracketed addresses, the file's order, column 45");
	l = &rs.masqs[0].as;
	tap_ok(l->v6 && l->n == 2 && memcmp(&l->addr6[0], &a11, 16) == 0 &&
		       memcmp(&l->addr6[1], &a10, 16) == 0 && l->col == 36,
	       "as6: IPv6 masquerade: bracketed first, the file's order, column 36");
	l = &rs.rules[1].as;
	tap_ok(!l->v6 && l->n == 1 && l->addr[0] == ip("192.0.2.1") &&
		       rs.rules[1].flags == (XM_RULE_V6 | XM_RULE_TO_V4),
	       "as6: a 6->4 forward's list stays IPv4 (its backend is)");
	tap_ok(rs.rules[2].as.v6 && rs.rules[2].flags == XM_RULE_V6, "as6: 'family ipv6' after the "
								     "list of a 6->6 forward");
	tap_ok(xm_flags_leave_v6(rs.rules[0].flags) && !xm_flags_leave_v6(rs.rules[1].flags) &&
		       xm_flags_leave_v6(rs.masqs[0].flags) && !xm_flags_leave_v6(XM_RULE_TO_V4) &&
		       !xm_flags_leave_v6(0) &&
		       xm_flags_leave_v6(XM_RULE_MASQUERADE | XM_RULE_V6 | (7u << 16)),
	       "as6: xm_flags_leave_v6: 6->6 forwards and IPv6 masquerades (meta flags too)");
	for (size_t i = 0; i < 5; i++) {
		if (i < 3)
			xm_rule_format(&rs.rules[i], buf, sizeof(buf));
		else
			xm_masq_format(&rs.masqs[i - 3], buf, sizeof(buf));
		if (!tap_ok(strcmp(buf, canon[i]) == 0, "as6: canonical form of statement %zu",
			    i + 1))
			tap_diag("got '%s', want '%s'", buf, canon[i]);
		strcat(all, buf);
		strcat(all, "\n");
	}
	xm_addr_list_format(&rs.masqs[0].as, buf, sizeof(buf));
	tap_ok(strcmp(buf, " as 2001:db8:1::11,2001:db8:1::10") == 0,
	       "as6: xm_addr_list_format writes IPv6 addresses bare ('%s')", buf);
	if (tap_ok(parse_ok(all, strlen(all), &rs2, "as6 round trip"), "as6: canonical forms "
								       "parse again")) {
		int same = rs2.n_rules == 3 && rs2.n_masqs == 2;

		for (size_t i = 0; same && i < 3; i++)
			same = same_rule(&rs.rules[i], &rs2.rules[i]);
		for (size_t i = 0; same && i < 2; i++)
			same = same_masq(&rs.masqs[i], &rs2.masqs[i]);
		tap_ok(same, "as6: round trip gives the same rules and masquerades");
		xm_ruleset_free(&rs2);
	}
	xm_ruleset_free(&rs);
	tap_ok(xm_rules_parse_line("forward eth0 tcp 443 to [fd00:8::2] as 2001:db8:1::10", 53, 3,
				   FN, &r, &kind, err, sizeof(err)) == 0 &&
		       kind == XM_LINE_OTHER,
	       "as6: parse_line: a 6->6 forward with a list takes the full path");
}

/* The longest rule: an IPv6 local address and backend, 8 IPv6 `as`
 * addresses and 64 IPv6 `from` prefixes, all of the longest text, fit
 * XM_RULE_TEXT_MAX whole and read back the same. */
static void test_as6_longest(void)
{
	char text[8192], buf[XM_RULE_TEXT_MAX];
	struct xm_ruleset rs, rs2;
	size_t at;

	/* in canonical form already (keep-source excludes `as`) */
	at = (size_t)snprintf(text, sizeof(text),
			      "forward abcdefghijklmno:[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff] "
			      "tcp 65000-65535 to "
			      "[fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1000-1535 "
			      "allow-special as ");
	for (int i = 0; i < XM_ADDR_SET_MAX; i++)
		at += (size_t)snprintf(text + at, sizeof(text) - at,
				       "%s2001:db8:ffff:ffff:ffff:ffff:ffff:fff%x", i ? "," : "",
				       i);
	at += (size_t)snprintf(text + at, sizeof(text) - at, " from ");
	for (int i = 0; i < XM_ALLOW_LIST_MAX; i++)
		at += (size_t)snprintf(text + at, sizeof(text) - at,
				       "%s2001:db8:ffff:ffff:ffff:ffff:ffff:ff%02x/127",
				       i ? "," : "", 2 * i);
	snprintf(text + at, sizeof(text) - at, "\n");
	if (!tap_ok(parse_ok(text, strlen(text), &rs, "longest"), "as6: the longest rule parses"))
		return;
	xm_rule_format(&rs.rules[0], buf, sizeof(buf));
	tap_ok(strlen(buf) == at && strncmp(buf, text, at) == 0,
	       "as6: the longest rule formats whole in XM_RULE_TEXT_MAX (%zu bytes of %zu)",
	       strlen(buf), sizeof(buf));
	if (tap_ok(parse_ok(buf, strlen(buf), &rs2, "longest again"), "as6: and parses again")) {
		tap_ok(same_rule(&rs.rules[0], &rs2.rules[0]) &&
			       rs2.rules[0].as.n == XM_ADDR_SET_MAX,
		       "as6: the longest rule round-trips");
		xm_ruleset_free(&rs2);
	}
	xm_ruleset_free(&rs);
}

/* Wrong IPv6 `as` lists, and the other family in a list, each error at
 * its line and column. */
static void test_bad_as6(void)
{
	static const struct {
		const char *text, *want, *what;
	} t[] = {
		{ "masquerade fd00:1::/64 out eth0 as 2001:db8:1::10,192.0.2.1",
		  ":1:51: IPv4 address '192.0.2.1' after 'as' of an IPv6 masquerade (expected IPv6 "
		  "addresses of eth0 such as as 2001:db8:1::10: its flows leave by IPv6)",
		  "an IPv4 address in an IPv6 masquerade's list, at the address" },
		{ "forward eth0 tcp 80 to [fd00::1] as 2001:db8::1,192.0.2.1",
		  ":1:49: IPv4 address '192.0.2.1' after 'as' of an IPv6 forward (expected IPv6 "
		  "addresses of the router such as as 2001:db8:1::10: its flows leave by IPv6)",
		  "an IPv4 address in a 6->6 forward's list" },
		{ "forward eth0 tcp 80 to 10.0.0.1 as 192.0.2.1,2001:db8::1",
		  ":1:46: IPv6 address '2001:db8::1' after 'as' of a forward to an IPv4 backend "
		  "(expected IPv4 addresses of the router such as as 192.0.2.1: its flows leave by "
		  "IPv4)",
		  "an IPv6 address in an IPv4 forward's list" },
		{ "forward eth0:[2001:db8::1] tcp 80 to 198.18.0.2 as [2001:db8::5]",
		  ":1:52: IPv6 address '[2001:db8::5]' after 'as' of a forward to an IPv4 backend "
		  "(expected IPv4 addresses of the router such as as 192.0.2.1: its flows leave by "
		  "IPv4)",
		  "an IPv6 address in a 6->4 forward's list (its backend is IPv4)" },
		{ "forward eth0 tcp 80 to 198.18.0.2 family ipv6 as 2001:db8::5",
		  ":1:50: IPv6 address '2001:db8::5' after 'as' of a forward to an IPv4 backend "
		  "(expected IPv4 addresses of the router such as as 192.0.2.1: its flows leave by "
		  "IPv4)",
		  "an IPv6 address in a family ipv6 forward's list to an IPv4 backend" },
		{ "masquerade 10.0.0.0/8 out eth0 as 2001:db8::5",
		  ":1:35: IPv6 address '2001:db8::5' after 'as' of an IPv4 masquerade (expected "
		  "IPv4 "
		  "addresses of eth0 such as as 192.0.2.1: its flows leave by IPv4)",
		  "an IPv6 address in an IPv4 masquerade's list" },
		{ "masquerade fd00:1::/64 out eth0 as 2001:db8:1::10,[2001:DB8:1:0::10]",
		  ":1:51: address 2001:db8:1::10 twice after 'as' (expected each once)",
		  "an IPv6 address twice however written (canonical form compared)" },
		{ "forward eth0 tcp 80 to [fd00::1] as ::1:1,::1:2,::1:3,::1:4,::1:5,::1:6,::1:7,"
		  "::1:8,::1:9",
		  ":1:85: more than 8 addresses after 'as' (expected at most 8)",
		  "nine IPv6 addresses after 'as'" },
		{ "forward eth0 tcp 80 to [fd00::1] as 2001:db8::1,fe80::1",
		  ":1:49: cannot leave with fe80::1 after 'as': link-local address (expected a "
		  "global "
		  "or unique local address of the router such as 2001:db8:1::10)",
		  "a link-local 'as' address" },
		{ "masquerade fd00:1::/64 out eth0 as ::",
		  ":1:36: cannot leave with :: after 'as': unspecified address (expected a global "
		  "or "
		  "unique local address of eth0 such as 2001:db8:1::10)",
		  "'as ::'" },
		{ "masquerade fd00:1::/64 out eth0 as [::1]",
		  ":1:36: cannot leave with ::1 after 'as': loopback address (expected a global or "
		  "unique local address of eth0 such as 2001:db8:1::10)",
		  "a loopback 'as' address" },
		{ "masquerade fd00:1::/64 out eth0 as ff02::1",
		  ":1:36: cannot leave with ff02::1 after 'as': multicast address (expected a "
		  "global "
		  "or unique local address of eth0 such as 2001:db8:1::10)",
		  "a multicast 'as' address" },
		{ "forward eth0 tcp 80 to [fd00::1] as ::ffff:192.0.2.1",
		  ":1:37: cannot leave with ::ffff:192.0.2.1 after 'as': IPv4-mapped address "
		  "(expected a global or unique local address of the router such as "
		  "2001:db8:1::10)",
		  "an IPv4-mapped 'as' address" },
		{ "forward eth0 tcp 80 to [fd00::1] keep-source as 2001:db8::1",
		  ":1:49: 'as' and keep-source exclude each other (keep-source sends the client's "
		  "own address; drop one)",
		  "an IPv6 'as' list with keep-source" },
		{ "forward eth0 tcp 80 to [fd00::1] as",
		  ":1:36: missing addresses after 'as' (expected as ADDR[,ADDR...] such as as "
		  "2001:db8:1::10,2001:db8:1::11)",
		  "an IPv6 forward's 'as' without addresses (an IPv6 example)" },
		{ "masquerade fd00:1::/64 out eth0 as 2001:db8::1,2001:db8::zz",
		  ":1:48: invalid address '2001:db8::zz' after 'as' (expected as ADDR[,ADDR...] "
		  "such "
		  "as as 2001:db8:1::10,2001:db8:1::11)",
		  "an invalid IPv6 'as' address" },
		{ "masquerade fd00:1::/64 out eth0 as [2001:db8::1",
		  ":1:36: unclosed '[' in '[2001:db8::1' after 'as' (expected [ADDR] or ADDR such "
		  "as "
		  "2001:db8:1::10)",
		  "an unclosed '[' in an 'as' list" },
		{ "masquerade fd00:1::/64 out eth0 as 2001:db8::1,",
		  ":1:48: invalid address '' after 'as' (expected as ADDR[,ADDR...] such as as "
		  "2001:db8:1::10,2001:db8:1::11)",
		  "a trailing comma in an IPv6 'as' list" },
	};
	char want[512], what[160];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(want, sizeof(want), FN "%s", t[i].want);
		snprintf(what, sizeof(what), "%s", t[i].what);
		bad(t[i].text, want, what);
	}
}

static void test_settings(void)
{
	static const char t[] = "set conntrack-max 1024\n"
				"set conntrack6-max 4194304\n"
				"set port-range 40000-40015\n"
				"set timeout tcp-syn 60\n"
				"set timeout tcp-established 86400\n"
				"set timeout udp-assured 2592000   # 30 days\n";
	struct xm_ruleset rs;
	struct xm_settings d;
	const struct xm_settings *s = &rs.settings;

	xm_settings_default(&d);
	tap_ok(d.ct_max == XM_CT_DEFAULT_MAX && d.ct6_max == 65536 && d.port_lo == 1024 &&
		       d.port_hi == 65535 && d.timeouts[XM_TO_TCP_SYN] == 120 &&
		       d.timeouts[XM_TO_TCP_EST] == 7440 && d.timeouts[XM_TO_TCP_FIN] == 120 &&
		       d.timeouts[XM_TO_TCP_CLOSE] == 10 && d.timeouts[XM_TO_UDP] == 30 &&
		       d.timeouts[XM_TO_UDP_ASSURED] == 180 && d.timeouts[XM_TO_ICMP] == 30,
	       "settings: documented defaults");
	tap_ok(strcmp(xm_timeout_names[XM_TO_TCP_EST], "tcp-established") == 0 &&
		       strcmp(xm_timeout_names[XM_TO_ICMP], "icmp") == 0,
	       "settings: timeout names indexed by id");
	if (!tap_ok(parse_ok(t, strlen(t), &rs, "settings"), "set statements parse"))
		return;
	tap_ok(s->ct_max == 1024 && s->ct6_max == 4194304 && s->port_lo == 40000 &&
		       s->port_hi == 40015 && s->timeouts[XM_TO_TCP_SYN] == 60 &&
		       s->timeouts[XM_TO_TCP_EST] == 86400 &&
		       s->timeouts[XM_TO_UDP_ASSURED] == 2592000,
	       "settings: values set (minimum ct, maximum ct6, 16-port range, max timeout)");
	tap_ok(s->timeouts[XM_TO_UDP] == 30 && s->timeouts[XM_TO_ICMP] == 30 &&
		       s->timeouts[XM_TO_TCP_CLOSE] == 10,
	       "settings: unset timeouts keep their defaults");
	TAP_EQ(s->nat_flags, 0u,
	       "settings: nat-filtering address-port-dependent and inbound refresh "
	       "by default");
	xm_ruleset_free(&rs);

	{
		static const struct {
			const char *text;
			uint32_t flags;
			const char *name;
		} nat[] = {
			{ "set nat-filtering address-port-dependent\n", 0,
			  "address-port-dependent" },
			{ "set nat-filtering address-dependent\n", XM_CFG_NAT_FILTER_ADDR,
			  "address-dependent" },
			{ "set nat-filtering endpoint-independent\n", XM_CFG_NAT_FILTER_ANY,
			  "endpoint-independent" },
			{ "set nat-inbound-refresh no\n", XM_CFG_NAT_NO_INBOUND_REFRESH,
			  "address-port-dependent" },
			{ "set nat-inbound-refresh yes\nset nat-filtering endpoint-independent\n",
			  XM_CFG_NAT_FILTER_ANY, "endpoint-independent" },
		};

		for (size_t i = 0; i < sizeof(nat) / sizeof(nat[0]); i++) {
			if (!tap_ok(parse_ok(nat[i].text, strlen(nat[i].text), &rs, "settings"),
				    "settings: '%.*s' parses", (int)strcspn(nat[i].text, "\n"),
				    nat[i].text))
				continue;
			TAP_EQ(rs.settings.nat_flags, nat[i].flags,
			       "settings: '%.*s' sets its flags", (int)strcspn(nat[i].text, "\n"),
			       nat[i].text);
			tap_ok(strcmp(xm_nat_filtering_name(rs.settings.nat_flags), nat[i].name) ==
				       0,
			       "settings: '%.*s' is shown as nat-filtering %s",
			       (int)strcspn(nat[i].text, "\n"), nat[i].text, nat[i].name);
			xm_ruleset_free(&rs);
		}
	}
}

static void test_empty_and_comments(void)
{
	static const char t[] = "# only comments\n\n   \t \n#forward eth0 tcp 1 to 1.2.3.4\n";
	struct xm_ruleset rs;

	tap_ok(parse_ok("", 0, &rs, "empty") && rs.n_rules == 0 && rs.n_masqs == 0 &&
		       rs.total_ports == 0 && rs.settings.ct_max == XM_CT_DEFAULT_MAX,
	       "empty file: valid, zero rules, default settings");
	xm_ruleset_free(&rs);
	tap_ok(parse_ok(NULL, 0, &rs, "NULL") && rs.n_rules == 0, "NULL text of length 0: valid, "
								  "zero rules");
	xm_ruleset_free(&rs);
	tap_ok(parse_ok(t, strlen(t), &rs, "comments") && rs.n_rules == 0, "comments, blank and "
									   "whitespace-only lines: "
									   "zero rules");
	xm_ruleset_free(&rs);
}

static void test_layout(void)
{
	static const char t[] = "# header\n"
				"\t forward\teth0  tcp\t22 to 10.0.0.5#no space before comment\n"
				"\n"
				"forward eth0 tcp 23 to 10.0.0.5"; /* no final newline */
	struct xm_ruleset rs;

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "layout"), "tabs, comments after statements, no "
							   "final newline"))
		return;
	tap_ok(rs.n_rules == 2 && rs.rules[0].line == 2 && rs.rules[0].iface_col == 11 &&
		       rs.rules[0].from_lo == 22 && rs.rules[0].to_addr == ip("10.0.0.5") &&
		       rs.rules[1].line == 4 && rs.rules[1].from_lo == 23,
	       "layout: lines 2 and 4, iface column 11 with tabs");
	xm_ruleset_free(&rs);
}

static void test_crlf(void)
{
	static const char t[] = "forward eth0 tcp 80 to 10.0.0.1\r\n"
				"\r\n"
				"set conntrack-max 2048\r\n"
				"masquerade 10.0.0.0/8 out eth0 # c\r\n";
	struct xm_ruleset rs;

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "crlf"), "CRLF line endings parse"))
		return;
	tap_ok(rs.n_rules == 1 && rs.rules[0].to_addr == ip("10.0.0.1") &&
		       rs.settings.ct_max == 2048 && rs.n_masqs == 1 &&
		       strcmp(rs.masqs[0].out_ifname, "eth0") == 0,
	       "CRLF: no carriage return left in values");
	xm_ruleset_free(&rs);
}

static void test_round_trip(void)
{
	static const char *const lines[] = {
		"forward eth0 tcp 8080 to 198.18.0.2:80",
		"forward eth1:198.51.100.4 udp 5000-5010 to 198.18.0.7",
		"forward eth2 tcp 1-65535 to 10.1.2.3 keep-source",
		"forward a@b.c-d_e tcp 7000-7009 to 10.0.0.1:443",
		"forward abcdefghijklmno tcp 1 to 10.0.0.1",
		"forward eth3 udp 65535 to 127.0.0.1:1 allow-special",
		("forward lo1:192.0.2.255 tcp 9-10 to 10.0.0.1:20-21 "
		 "allow-special keep-source"),
		"forward eth0 tcp 80 to 10.0.0.1 as 192.0.2.1,192.0.2.5",
		("forward eth0 tcp 81 to 10.0.0.1 allow-special as 1.1.1.1,2.2.2.2,3.3.3.3,"
		 "4.4.4.4,5.5.5.5,6.6.6.6,7.7.7.7,255.255.255.255"),
		"forward eth0 tcp 443 to [fd00:8::2]:8443",
		"forward eth0:[2001:db8:1::1] udp 5000-5010 to [fd00:8::2]",
		"forward eth0 tcp 22 to [fd00:8::5] keep-source from "
		"2001:db8:100::/48,2001:db8:200::7",
		"forward eth0:[2001:DB8:0:0::1] tcp 9-10 to [FD00:0:0::1]:20-21 from [2001:db8::7]",
		"forward eth0 tcp 80 to [::1] allow-special from ::/0",
		"forward eth0 tcp 80 to 198.18.0.2 from 192.0.2.0/25,198.51.100.7",
		"forward eth0 tcp 443 to [fd00:8::2] as 2001:db8:1::10,[2001:DB8:1:0::11]",
		"forward eth0:[2001:db8::1] tcp 80 to 198.18.0.2 as 192.0.2.1",
	};
	int all = 1;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct xm_ruleset a, b;
		char buf[XM_RULE_TEXT_MAX];
		int ok;

		if (!parse_ok(lines[i], strlen(lines[i]), &a, "round trip")) {
			all = 0;
			continue;
		}
		xm_rule_format(&a.rules[0], buf, sizeof(buf));
		ok = parse_ok(buf, strlen(buf), &b, "round trip again");
		if (ok) {
			ok = b.n_rules == 1 && same_rule(&a.rules[0], &b.rules[0]);
			xm_ruleset_free(&b);
		}
		if (!ok) {
			tap_diag("round trip of '%s' via '%s'", lines[i], buf);
			all = 0;
		}
		xm_ruleset_free(&a);
	}
	tap_ok(all, "canonical form round-trips: parse -> format -> parse "
		    "gives the same rule (17 rules, 15-char iface, as lists of 2 and 8, IPv6 "
		    "ones with and without local address, from lists of both families, an "
		    "IPv6 as list, a 6->4 forward's IPv4 one)");
}

static void test_format_small_buffer(void)
{
	static const char t[] = "forward eth0 tcp 8080 to 198.18.0.2:80";
	struct xm_ruleset rs;
	char buf[12];

	if (!parse_ok(t, strlen(t), &rs, "small buffer"))
		return;
	memset(buf, 'x', sizeof(buf));
	xm_rule_format(&rs.rules[0], buf, 8);
	tap_ok(strcmp(buf, "forward") == 0 && buf[8] == 'x', "format truncates to the buffer and "
							     "terminates it");
	xm_ruleset_free(&rs);
}

static void test_special_reasons(void)
{
	static const struct {
		const char *a, *why;
	} t[] = {
		{ "0.0.0.0", "unspecified" },
		{ "0.255.1.2", "unspecified" },
		{ "127.0.0.1", "loopback" },
		{ "127.255.255.254", "loopback" },
		{ "169.254.169.254", "cloud metadata service" },
		{ "168.63.129.16", "cloud metadata service (Azure wire server)" },
		{ "169.254.0.1", "link-local" },
		{ "224.0.0.1", "multicast" },
		{ "239.255.255.255", "multicast" },
		{ "255.255.255.255", "broadcast" },
		{ "240.0.0.1", "reserved" },
		{ "255.255.255.254", "reserved" },
		{ "10.0.0.1", NULL },
		{ "1.0.0.0", NULL },
		{ "168.63.129.17", NULL },
		{ "169.253.255.255", NULL },
		{ "223.255.255.255", NULL },
	};
	int all = 1;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *r = xm_special_addr_reason(ip(t[i].a));

		if (!(r == t[i].why || (r && t[i].why && strcmp(r, t[i].why) == 0))) {
			tap_diag("%s: got %s, want %s", t[i].a, r ? r : "NULL",
				 t[i].why ? t[i].why : "NULL");
			all = 0;
		}
	}
	tap_ok(all, "xm_special_addr_reason: every special block and its "
		    "edges (17 addresses)");
}

/* ---- invalid input: exact messages ------------------------------------- */

static void test_bad_statements(void)
{
	bad("forwrd eth0 tcp 80 to 10.0.0.1\n",
	    FN ":1:1: unknown statement 'forwrd' (expected forward, "
	       "masquerade or set)",
	    "an unknown statement");
	bad("forward eth0 tcp 80 to 10.0.0.1\n"
	    "# comment\n"
	    "\n"
	    "  bogus\n",
	    FN ":4:3: unknown statement 'bogus' (expected forward, "
	       "masquerade or set)",
	    "a bad line after good ones (line 4)");
	bad("forward eth0 tcpp 80 to 10.0.0.1\n",
	    FN ":1:14: unknown protocol 'tcpp' (expected tcp or udp)", "an unknown protocol");
	bad("forward eth0 TCP 80 to 10.0.0.1\n",
	    FN ":1:14: unknown protocol 'TCP' (expected tcp or udp)", "an upper-case protocol");
}

static void test_bad_ports(void)
{
	bad("forward eth0 tcp 70000 to 10.0.0.1\n",
	    FN ":1:18: port 70000 out of range (expected 1-65535)", "a port above 65535");
	bad("forward eth0 tcp 0 to 10.0.0.1\n", FN ":1:18: port 0 out of range (expected 1-65535)",
	    "port 0");
	bad("forward eth0 tcp 80-99999999999999999999999 to 10.0.0.1\n",
	    FN ":1:21: port 99999999999999999999999 out of range "
	       "(expected 1-65535)",
	    "a huge range end (column of the end)");
	bad("forward eth0 tcp 90-80 to 10.0.0.1\n",
	    FN ":1:18: port range 90-80 is reversed (expected 80-90)", "a reversed port range");
	bad("forward eth0 tcp http to 10.0.0.1\n",
	    FN ":1:18: invalid port 'http' (expected a port 1-65535 or a "
	       "range such as 5000-5010)",
	    "a non-numeric port");
	bad("forward eth0 tcp 80- to 10.0.0.1\n",
	    FN ":1:18: invalid port '80-' (expected a port 1-65535 or a "
	       "range such as 5000-5010)",
	    "a range without its end");
	bad("forward eth0 tcp +80 to 10.0.0.1\n",
	    FN ":1:18: invalid port '+80' (expected a port 1-65535 or a "
	       "range such as 5000-5010)",
	    "a signed port");
}

static void test_bad_forward_shape(void)
{
	bad("forward\n",
	    FN ":1:8: missing interface (expected: forward IFACE PROTO PORT "
	       "to ADDR[:PORT])",
	    "forward without anything");
	bad("forward eth0   # comment\n",
	    FN ":1:13: missing protocol (expected: forward IFACE PROTO PORT "
	       "to ADDR[:PORT])",
	    "a missing protocol (column at end of words)");
	bad("forward eth0 udp\n",
	    FN ":1:17: missing port (expected: forward IFACE PROTO PORT to "
	       "ADDR[:PORT])",
	    "a missing port");
	bad("forward eth0 tcp 8080-8090\n",
	    FN ":1:27: missing 'to' (expected: forward IFACE PROTO PORT to "
	       "ADDR[:PORT])",
	    "a missing 'to' at end of line");
	bad("forward eth0 tcp 8080 10.0.0.1\n",
	    FN ":1:23: missing 'to' before '10.0.0.1' (expected: forward "
	       "IFACE PROTO PORT to ADDR[:PORT])",
	    "a missing 'to' before the "
	    "address");
	bad("forward eth0 tcp 8080 to\n",
	    FN ":1:25: missing destination address (expected: forward IFACE "
	       "PROTO PORT to ADDR[:PORT])",
	    "a missing destination");
	bad("forward eth0 tcp 80 to 10.0.0.256\n",
	    FN ":1:24: invalid destination address '10.0.0.256' (expected an "
	       "IPv4 address such as 198.18.0.2)",
	    "an octet above 255");
	bad("forward eth0 tcp 80 to 10.0.0.01\n",
	    FN ":1:24: invalid destination address '10.0.0.01' (expected an "
	       "IPv4 address such as 198.18.0.2)",
	    "an octet with a leading 0");
	bad("forward eth0 tcp 80 to example.com:80\n",
	    FN ":1:24: invalid destination address 'example.com' (expected "
	       "an IPv4 address such as 198.18.0.2)",
	    "a host name");
	bad("forward eth0 tcp 80 to :80\n",
	    FN ":1:24: missing destination address before ':' (expected "
	       "ADDR:PORT such as 198.18.0.2:80)",
	    "a destination port alone");
	bad("forward eth0 tcp 80 to 10.0.0.1:\n",
	    FN ":1:32: missing destination port after ':' (expected "
	       "ADDR:PORT such as 198.18.0.2:80)",
	    "an empty destination port");
	bad("forward eth0 tcp 80 to 10.0.0.1:65536\n",
	    FN ":1:33: destination port 65536 out of range (expected "
	       "1-65535)",
	    "a destination port above 65535");
	bad("forward eth0 tcp 80 to 10.0.0.1:x\n",
	    FN ":1:33: invalid destination port 'x' (expected a port 1-65535 "
	       "or a range such as 80-90)",
	    "a non-numeric destination port");
	bad("forward eth0 tcp 8000-8009 to 10.0.0.1:80-85\n",
	    FN ":1:40: destination range 80-85 has 6 ports but the source "
	       "has 10 (expected the same number of ports, or a single "
	       "destination port)",
	    "a destination range of another length");
	bad("forward eth0 tcp 80 to 10.0.0.1 extra\n",
	    FN ":1:33: unexpected 'extra' after the rule (expected "
	       "keep-source, allow-special, as, from or family)",
	    "an unknown option");
	bad("forward eth0 tcp 80 to 10.0.0.1 keep-source keep-source\n",
	    FN ":1:45: duplicate option 'keep-source' (expected each option "
	       "at most once)",
	    "a duplicated option");
}

static void test_bad_iface(void)
{
	bad("forward eth0123456789abc tcp 80 to 10.0.0.1\n",
	    FN ":1:9: interface name 'eth0123456789abc' is too long (expected "
	       "at most 15 characters)",
	    "a 16-character interface name");
	bad("forward et/h0 tcp 80 to 10.0.0.1\n",
	    FN ":1:9: invalid character '/' in interface name 'et/h0' "
	       "(expected letters, digits, '_', '.', '@' or '-')",
	    "a '/' in an interface name");
	bad("forward .. tcp 80 to 10.0.0.1\n",
	    FN ":1:9: invalid interface name '..' (expected a name other "
	       "than '.' and '..')",
	    "interface name '..'");
	bad("forward :192.0.2.1 tcp 80 to 10.0.0.1\n",
	    FN ":1:9: missing interface name before ':' (expected IFACE:ADDR "
	       "such as eth1:198.51.100.4)",
	    "a local address without interface");
	bad("forward eth1: tcp 80 to 10.0.0.1\n",
	    FN ":1:13: missing local address after ':' (expected IFACE:ADDR "
	       "such as eth1:198.51.100.4, or IFACE alone)",
	    "an empty local address");
	bad("forward eth1:192.0.2 tcp 80 to 10.0.0.1\n",
	    FN ":1:14: invalid local address '192.0.2' (expected an IPv4 "
	       "address such as 198.51.100.4)",
	    "a short local address");
	bad("forward eth1:0.0.0.0 tcp 80 to 10.0.0.1\n",
	    FN ":1:14: local address 0.0.0.0 is not an address (expected one "
	       "of the interface's addresses, or IFACE alone for any)",
	    "local address 0.0.0.0");
	bad("forward eth\xc3\xa9 tcp 80 to 10.0.0.1\n",
	    FN ":1:9: invalid character '\\xc3' in interface name "
	       "'eth\\xc3\\xa9' (expected letters, digits, '_', '.', '@' or '-')",
	    "a non-ASCII interface name (bytes escaped)");
}

static void test_bad_special(void)
{
	bad("forward eth0 tcp 80 to 169.254.169.254\n",
	    FN ":1:24: refusing to forward to 169.254.169.254: cloud metadata "
	       "service (add allow-special to the rule if this is really "
	       "wanted)",
	    "the cloud metadata address");
	bad("forward eth0 tcp 80 to 127.0.0.1:8080 keep-source\n",
	    FN ":1:24: refusing to forward to 127.0.0.1: loopback (add "
	       "allow-special to the rule if this is really wanted)",
	    "a loopback destination");
	bad("forward eth0 udp 53 to 168.63.129.16\n",
	    FN ":1:24: refusing to forward to 168.63.129.16: cloud metadata "
	       "service (Azure wire server) (add allow-special to the rule if "
	       "this is really wanted)",
	    "the Azure wire server");
}

static void test_bad_overlap(void)
{
	bad("forward eth0 tcp 8080-8090 to 10.0.0.1\n"
	    "forward eth0 udp 8080-8090 to 10.0.0.1\n"
	    "forward eth0 tcp 8000-8085 to 10.0.0.2:9000\n",
	    FN ":3:18: ports 8080-8085 overlap the rule on line 1 (expected "
	       "each eth0 tcp port in one rule only)",
	    "overlapping port ranges (names the earlier line)");
	bad("set conntrack-max 4096\n"
	    "forward eth1:192.0.2.1 udp 53 to 10.0.0.1\n"
	    "forward eth1:192.0.2.1 udp 53 to 10.0.0.2\n",
	    FN ":3:28: port 53 overlaps the rule on line 2 (expected each "
	       "eth1:192.0.2.1 udp port in one rule only)",
	    "the same port twice on a local address");
}

static void test_bad_as(void)
{
	bad("forward eth0 tcp 80 to 10.0.0.1 as\n",
	    FN ":1:35: missing addresses after 'as' (expected as ADDR[,ADDR...] such as as "
	       "192.0.2.1,192.0.2.5)",
	    "'as' without addresses");
	bad("forward eth0 tcp 80 to 10.0.0.1 as 192.0.2.1,,192.0.2.2\n",
	    FN ":1:46: invalid address '' after 'as' (expected as ADDR[,ADDR...] such as as "
	       "192.0.2.1,192.0.2.5)",
	    "an empty address in an 'as' list");
	bad("forward eth0 tcp 80 to 10.0.0.1 as 192.0.2.1,\n",
	    FN ":1:46: invalid address '' after 'as' (expected as ADDR[,ADDR...] such as as "
	       "192.0.2.1,192.0.2.5)",
	    "a trailing comma in an 'as' list");
	bad("forward eth0 tcp 80 to 10.0.0.1 as 192.0.2.300\n",
	    FN ":1:36: invalid address '192.0.2.300' after 'as' (expected as ADDR[,ADDR...] "
	       "such as as 192.0.2.1,192.0.2.5)",
	    "a bad address in an 'as' list");
	bad("forward eth0 tcp 80 to 10.0.0.1 as 192.0.2.1,192.0.2.1\n",
	    FN ":1:46: address 192.0.2.1 twice after 'as' (expected each once)",
	    "an address twice in an 'as' list");
	bad("forward eth0 tcp 80 to 10.0.0.1 as 1.0.0.1,1.0.0.2,1.0.0.3,1.0.0.4,1.0.0.5,1.0.0.6,"
	    "1.0.0.7,1.0.0.8,1.0.0.9\n",
	    FN ":1:100: more than 8 addresses after 'as' (expected at most 8)",
	    "nine addresses after 'as'");
	bad("forward eth0 tcp 80 to 10.0.0.1 as 192.0.2.1 as 192.0.2.2\n",
	    FN ":1:46: duplicate option 'as' (expected each option at most once)",
	    "two 'as' lists");
	bad("forward eth0 tcp 80 to 10.0.0.1 keep-source as 192.0.2.1\n",
	    FN ":1:48: 'as' and keep-source exclude each other (keep-source sends the client's "
	       "own address; drop one)",
	    "'as' with keep-source");
	bad("masquerade 10.0.0.0/8 out eth0 as 192.0.2.1 extra\n",
	    FN ":1:45: unexpected 'extra' after the rule (expected as or end of line)",
	    "a word after a masquerade's 'as' list");
}

static void test_bad_masquerade(void)
{
	bad("masquerade\n",
	    FN ":1:11: missing prefix (expected: masquerade PREFIX/LEN out "
	       "IFACE [as ADDR[,ADDR...]])",
	    "masquerade without a prefix");
	bad("masquerade 10.0.0.1/16 out eth0\n",
	    FN ":1:12: prefix 10.0.0.1/16 has host bits set (expected "
	       "10.0.0.0/16)",
	    "a prefix with host bits set");
	bad("masquerade 10.0.0.0/33 out eth0\n",
	    FN ":1:21: prefix length 33 out of range (expected 0-32)", "a prefix length of 33");
	bad("masquerade 10.0.0.0/ out eth0\n",
	    FN ":1:20: missing prefix length after '/' (expected 0-32)", "an empty prefix length");
	bad("masquerade 10.0.0.0 out eth0\n",
	    FN ":1:20: missing prefix length after '10.0.0.0' (expected "
	       "PREFIX/LEN such as 10.0.0.0/16)",
	    "a prefix without /LEN");
	bad("masquerade 10.0.0/8 out eth0\n",
	    FN ":1:12: invalid prefix address '10.0.0' (expected an IPv4 "
	       "address such as 10.0.0.0)",
	    "a short prefix address");
	bad("masquerade 10.0.0.0/8 via eth0\n",
	    FN ":1:23: missing 'out' before 'via' (expected: masquerade "
	       "PREFIX/LEN out IFACE [as ADDR[,ADDR...]])",
	    "a wrong word for 'out'");
	bad("masquerade 10.0.0.0/8 out\n",
	    FN ":1:26: missing interface (expected: masquerade PREFIX/LEN out "
	       "IFACE [as ADDR[,ADDR...]])",
	    "masquerade without an interface");
	bad("masquerade 10.0.0.0/8 out eth0 eth1\n",
	    FN ":1:32: unexpected 'eth1' after the rule (expected as or end of "
	       "line)",
	    "words after a masquerade");
	bad("masquerade 10.0.0.0/8 out eth0:1\n",
	    FN ":1:27: invalid character ':' in interface name 'eth0:1' "
	       "(expected letters, digits, '_', '.', '@' or '-')",
	    "an interface alias as masquerade output");
}

static void test_bad_settings(void)
{
	bad("set\n",
	    FN ":1:4: missing setting (expected: set conntrack-max N, set conntrack6-max N, "
	       "set port-range LO-HI, set timeout NAME SECONDS, set nat-filtering MODE, set "
	       "nat-inbound-refresh yes|no or set flows-per-source N)",
	    "set without a name");
	bad("set max-flows 10\n",
	    FN ":1:5: unknown setting 'max-flows' (expected conntrack-max, conntrack6-max, "
	       "port-range, timeout, nat-filtering, nat-inbound-refresh or flows-per-source)",
	    "an unknown setting");
	bad("set nat-filtering full-cone\n",
	    FN ":1:19: unknown nat-filtering 'full-cone' (expected address-port-dependent, "
	       "address-dependent or endpoint-independent)",
	    "an unknown nat-filtering");
	bad("set nat-filtering\n",
	    FN ":1:18: missing value (expected address-port-dependent, address-dependent or "
	       "endpoint-independent)",
	    "nat-filtering without a value");
	bad("set nat-filtering address-dependent\nset nat-filtering endpoint-independent\n",
	    FN ":2:5: nat-filtering already set on line 1 (expected each setting once)",
	    "nat-filtering twice");
	bad("set nat-inbound-refresh maybe\n",
	    FN ":1:25: unknown nat-inbound-refresh 'maybe' (expected yes or no)",
	    "an unknown nat-inbound-refresh");
	bad("set nat-filtering endpoint-independent extra\n",
	    FN ":1:40: unexpected 'extra' after the setting (expected end of line)",
	    "words after nat-filtering");
	bad("set conntrack-max 1023\n",
	    FN ":1:19: conntrack-max 1023 out of range (expected "
	       "1024-16777216)",
	    "conntrack-max below the minimum");
	bad("set conntrack-max 16777217\n",
	    FN ":1:19: conntrack-max 16777217 out of range (expected "
	       "1024-16777216)",
	    "conntrack-max above the maximum");
	bad("set conntrack-max 1e6\n",
	    FN ":1:19: invalid conntrack-max '1e6' (expected a number "
	       "1024-16777216)",
	    "a non-decimal conntrack-max");
	bad("set conntrack-max\n",
	    FN ":1:18: missing value (expected: set conntrack-max N with N "
	       "1024-16777216)",
	    "conntrack-max without a value");
	bad("set conntrack6-max 1023\n",
	    FN ":1:20: conntrack6-max 1023 out of range (expected 1024-4194304)",
	    "conntrack6-max below the minimum");
	bad("set conntrack6-max 4194305\n",
	    FN ":1:20: conntrack6-max 4194305 out of range (expected 1024-4194304)",
	    "conntrack6-max above the maximum");
	bad("set conntrack6-max 64k\n",
	    FN ":1:20: invalid conntrack6-max '64k' (expected a number 1024-4194304)",
	    "a non-decimal conntrack6-max");
	bad("set conntrack6-max 65536\nset conntrack6-max 65536\n",
	    FN ":2:5: conntrack6-max already set on line 1 (expected each setting once)",
	    "conntrack6-max twice");
	bad("set conntrack-max 4096\n"
	    "set conntrack-max 8192\n",
	    FN ":2:5: conntrack-max already set on line 1 (expected each "
	       "setting once)",
	    "a repeated set (names the earlier line)");
	bad("set port-range 20000-20014\n",
	    FN ":1:16: port range 20000-20014 has only 15 ports (expected at "
	       "least 16)",
	    "a port range of 15 ports");
	bad("set port-range 1000-2000\n", FN ":1:16: port 1000 out of range (expected 1024-65535)",
	    "a port range below 1024");
	bad("set port-range 20000\n",
	    FN ":1:16: invalid port range '20000' (expected LO-HI such as "
	       "20000-32767)",
	    "a port range of one number");
	bad("set port-range\n",
	    FN ":1:15: missing value (expected: set port-range LO-HI such as "
	       "20000-32767)",
	    "port-range without a value");
	bad("set port-range 20000-30000\nset port-range 40000-50000\n",
	    FN ":2:5: port-range already set on line 1 (expected each setting "
	       "once)",
	    "a repeated port-range");
	bad("set timeout tcp-sin 10\n",
	    FN ":1:13: unknown timeout 'tcp-sin' (expected tcp-syn, "
	       "tcp-established, tcp-fin, tcp-close, udp, udp-assured or icmp)",
	    "an unknown timeout name");
	bad("set timeout udp 0\n", FN ":1:17: timeout udp 0 out of range (expected 1-2592000)",
	    "a timeout of 0");
	bad("set timeout icmp\n",
	    FN ":1:17: missing value (expected: set timeout icmp SECONDS with "
	       "SECONDS 1-2592000)",
	    "a timeout without seconds");
	bad("set timeout udp 10\nset timeout tcp-fin 10\nset timeout udp 20\n",
	    FN ":3:13: timeout udp already set on line 1 (expected each "
	       "setting once)",
	    "a repeated timeout");
	bad("set timeout udp 10 seconds\n",
	    FN ":1:20: unexpected 'seconds' after the setting (expected end "
	       "of line)",
	    "words after a setting");
}

static void test_bad_bytes(void)
{
	static const char nul[] = "forward eth0 tcp 80 to 10.0.0.1\n"
				  "forward eth0 tcp 81\0 to 10.0.0.1\n";
	static const char nul_comment[] = "# a comment with \0 inside\n";

	bad_n(nul, sizeof(nul) - 1, FN ":2:20: NUL byte in the text (expected a text file)",
	      "a NUL byte (column of the byte)");
	bad_n(nul_comment, sizeof(nul_comment) - 1,
	      FN ":1:18: NUL byte in the text (expected a text file)",
	      "a NUL byte inside a comment");
	bad("forward eth0 tcp 80\x0bto 10.0.0.1\n",
	    FN ":1:20: control character 0x0b in the text (expected printable "
	       "text, words separated by spaces or tabs)",
	    "a vertical tab between words");
	bad("forward eth0 tcp 80 to 10.0.0.1\r\nforward\teth0\ttcp\t99999\r\n",
	    FN ":2:18: port 99999 out of range (expected 1-65535)",
	    "an error on a CRLF line, tabs one column each");
	bad("forward eth0 tcp 80 to 10.0.0.1\r\rx\n",
	    FN ":1:32: control character 0x0d in the text (expected printable "
	       "text, words separated by spaces or tabs)",
	    "a carriage return inside a line");
}

static void test_bad_long(void)
{
	size_t n = 1 << 20;
	char *t = malloc(n + 16);
	char want[256];

	if (!t)
		abort();
	memset(t, 'a', n);
	memcpy(t + n, " tcp\n", 6);
	bad_n(t, n + 5,
	      FN ":1:1: unknown statement 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "...' (expected forward, masquerade or set)",
	      "a 1 MiB word (quoted word truncated)");
	memcpy(t, "forward ", 8);
	bad_n(t, n + 5,
	      FN ":1:9: interface name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "...' is too long (expected at most 15 characters)",
	      "a 1 MiB interface name");
	memcpy(t, "forward eth0 tcp 80 to 10.0.0.1 ", 32);
	snprintf(want, sizeof(want),
		 FN ":1:33: unexpected '%.40s...' after "
		    "the rule (expected keep-source, allow-special, as, from or family)",
		 t + 32);
	bad_n(t, n + 5, want, "a 1 MiB option word");
	free(t);
}

/* Many generated rules: limits on the number of rules and of ports. */
static char *gen_rules(size_t n, size_t *len, void (*line)(char *buf, size_t sz, size_t i))
{
	size_t cap = n * 64 + 1, o = 0;
	char *t = malloc(cap);

	if (!t)
		abort();
	for (size_t i = 0; i < n; i++) {
		line(t + o, cap - o, i);
		o += strlen(t + o);
	}
	*len = o;
	return t;
}

static void one_port_line(char *buf, size_t sz, size_t i)
{
	snprintf(buf, sz, "forward e%zu %s %zu to 10.0.0.1\n", i / 131070,
		 (i / 65535) % 2 ? "udp" : "tcp", i % 65535 + 1);
}

static void full_range_line(char *buf, size_t sz, size_t i)
{
	if (i < 4)
		snprintf(buf, sz, "forward e%zu %s 1-65535 to 10.0.0.1\n", i / 2,
			 i % 2 ? "udp" : "tcp");
	else if (i == 4)
		snprintf(buf, sz, "forward e9 tcp 1-4 to 10.0.0.1\n");
	else
		snprintf(buf, sz, "forward e9 tcp 5 to 10.0.0.1\n");
}

static void test_limits(void)
{
	struct xm_ruleset rs;
	size_t len;
	char *t;

	t = gen_rules(XM_MAX_RULES - 1, &len, one_port_line);
	tap_ok(parse_ok(t, len, &rs, "max rules") && rs.n_rules == XM_MAX_RULES - 1 &&
		       rs.total_ports == XM_MAX_RULES - 1,
	       "limits: %d one-port rules accepted", XM_MAX_RULES - 1);
	xm_ruleset_free(&rs);
	free(t);

	t = gen_rules(XM_MAX_RULES, &len, one_port_line);
	bad_n(t, len,
	      FN ":131072:1: too many forward rules (expected at most "
		 "131071)",
	      "one rule more than the limit (on that line)");
	free(t);

	t = gen_rules(5, &len, full_range_line);
	tap_ok(parse_ok(t, len, &rs, "max ports") && rs.total_ports == XM_MAX_RULE_PORTS / 2,
	       "limits: exactly %d forwarded ports accepted", XM_MAX_RULE_PORTS / 2);
	xm_ruleset_free(&rs);
	free(t);

	t = gen_rules(6, &len, full_range_line);
	bad_n(t, len,
	      FN ":6:16: too many forwarded ports: 262145 with this "
		 "rule (expected at most 262144 in all rules together)",
	      "one port more than the limit (on that line)");
	free(t);
}

/* ---- files ------------------------------------------------------------- */

static void test_files(void)
{
	char path[] = "/tmp/xmasq-test-rules-XXXXXX";
	static const char t[] = "forward eth0 tcp 80 to 10.0.0.1\nset foo\n";
	struct xm_ruleset rs;
	char err[512], want[600];
	int fd, r;

	fd = mkstemp(path);
	if (fd < 0 || write(fd, t, 32) != 32) {
		tap_ok(0, "files: cannot create a temporary file: %s", strerror(errno));
		return;
	}
	r = xm_rules_parse_file(path, &rs, err, sizeof(err));
	tap_ok(r == 0 && rs.n_rules == 1 && rs.rules[0].from_lo == 80, "files: a valid file "
								       "parses");
	xm_ruleset_free(&rs);

	if (write(fd, t + 32, sizeof(t) - 33) != (ssize_t)sizeof(t) - 33)
		abort();
	r = xm_rules_parse_file(path, &rs, err, sizeof(err));
	snprintf(want, sizeof(want),
		 "%s:2:5: unknown setting 'foo' "
		 "(expected conntrack-max, conntrack6-max, port-range, timeout, nat-filtering, "
		 "nat-inbound-refresh or flows-per-source)",
		 path);
	tap_ok(r == -2 && strcmp(err, want) == 0 && rs.n_rules == 0, "files: errors name the file "
								     "path");
	xm_ruleset_free(&rs);

	if (ftruncate(fd, (16 << 20) + 1) != 0)
		abort();
	r = xm_rules_parse_file(path, &rs, err, sizeof(err));
	snprintf(want, sizeof(want),
		 "%s: file is larger than 16 MiB "
		 "(expected a rules file of at most 16 MiB)",
		 path);
	tap_ok(r == -2 && strcmp(err, want) == 0, "files: a file over 16 MiB is refused");
	xm_ruleset_free(&rs);
	close(fd);
	unlink(path);

	r = xm_rules_parse_file(path, &rs, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	tap_ok(r == -1 && strcmp(err, want) == 0, "files: a missing file is reported with "
						  "strerror");
	xm_ruleset_free(&rs);

	r = xm_rules_parse_file("/", &rs, err, sizeof(err));
	snprintf(want, sizeof(want), "/: %s", strerror(EISDIR));
	tap_ok(r == -1 && strcmp(err, want) == 0, "files: a directory is reported with strerror");
	xm_ruleset_free(&rs);
}

static void test_small_err_buffer(void)
{
	struct xm_ruleset rs;
	char err[8];

	memset(err, 'x', sizeof(err));
	tap_ok(xm_rules_parse("bogus", 5, FN, &rs, err, sizeof(err)) == -2 && strcmp(err, "rules."
											  "c") == 0,
	       "a short error buffer is filled and terminated");
	TAP_EQ(xm_rules_parse("bogus", 5, FN, &rs, NULL, 0), -2,
	       "no error buffer: still fails cleanly");
}

/* xm_rules_error_place: the parser's own error, and what it must leave
 * alone (another file's name, a prefix of the name, no place). */
static void test_error_place(void)
{
	const char *text = "forward eth0 tcp 80 to 198.18.0.2:80\nforward eth0 tcp 81 to "
			   "1.2.3:80\n";
	unsigned line, col;
	const char *msg;
	char err[512];

	TAP_EQ(xm_rules_parse(text, strlen(text), FN, NULL, err, sizeof(err)), -2,
	       "error place: the parser refuses line 2");
	TAP_EQ(xm_rules_error_place(err, FN, &line, &col, &msg), 1, "error place: found in '%s'",
	       err);
	TAP_EQ(line, 2, "error place: line");
	TAP_EQ(col, 24, "error place: column");
	tap_ok(strcmp(msg, err + strlen(FN ":2:24: ")) == 0, "error place: the message after it");
	TAP_EQ(xm_rules_error_place(err, "rules", &line, &col, &msg), 0,
	       "error place: another file name: none");
	TAP_EQ(xm_rules_error_place(err, "rules.con", &line, &col, &msg), 0,
	       "error place: a prefix of the name: none");
	tap_ok(msg == err && line == 0 && col == 0, "error place: none leaves the whole message");
	TAP_EQ(xm_rules_error_place(FN ": No such file or directory", FN, &line, &col, &msg), 0,
	       "error place: an I/O error has none");
}

static void test_from_lists(void)
{
	static const char t[] = "forward eth0 tcp 22 to 10.0.0.5 from 198.51.100.7,192.0.2.0/25\n"
				"forward eth0 tcp 23 to 10.0.0.5 as 192.0.2.1 from 0.0.0.0/0\n"
				"forward eth0 tcp 24 to 10.0.0.5 from 192.0.2.0/25,192.0.2.0/24\n";
	struct xm_ruleset rs, rs2;
	char buf[XM_RULE_TEXT_MAX], err[256];
	const struct xm_src_list *l;

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "from"), "from lists parse"))
		return;
	l = &rs.rules[0].from;
	tap_ok(l->n == 2 && l->col == 38 && l->pfx[0].addr == ip("192.0.2.0") &&
		       l->pfx[0].len == 25 && l->pfx[1].addr == ip("198.51.100.7") &&
		       l->pfx[1].len == 32,
	       "from: sorted by address, a bare address is a /32, column of the list");
	xm_rule_format(&rs.rules[0], buf, sizeof(buf));
	tap_ok(strcmp(buf, "forward eth0 tcp 22 to 10.0.0.5:22 from 192.0.2.0/25,198.51.100.7") ==
		       0,
	       "from: canonical form '%s'", buf);
	xm_rule_format(&rs.rules[1], buf, sizeof(buf));
	tap_ok(strcmp(buf, "forward eth0 tcp 23 to 10.0.0.5:23 as 192.0.2.1 from 0.0.0.0/0") == 0,
	       "from: after as, /0 kept ('%s')", buf);
	tap_ok(rs.rules[2].from.n == 2 && rs.rules[2].from.pfx[0].len == 24, "from: nested "
									     "prefixes are two "
									     "prefixes, the "
									     "shorter first");
	tap_ok(rs.rules[0].flags == 0, "from: no option flag");
	/* The canonical form parses back to the same list. */
	xm_rule_format(&rs.rules[0], buf, sizeof(buf));
	strcat(buf, "\n");
	tap_ok(xm_rules_parse(buf, strlen(buf), FN, &rs2, err, sizeof(err)) == 0 &&
		       xm_src_list_same(&rs2.rules[0].from, &rs.rules[0].from),
	       "from: canonical form round-trips");
	xm_ruleset_free(&rs2);
	tap_ok(!xm_src_list_same(&rs.rules[0].from, &rs.rules[2].from), "from: different lists "
									"differ");
	xm_ruleset_free(&rs);
}

static void test_from_max(void)
{
	char text[2048];
	size_t at;
	struct xm_ruleset rs;

	at = (size_t)snprintf(text, sizeof(text), "forward eth0 tcp 22 to 10.0.0.5 from ");
	for (int i = 0; i < XM_ALLOW_LIST_MAX; i++)
		at += (size_t)snprintf(text + at, sizeof(text) - at, "%s198.51.100.%d",
				       i ? "," : "", i);
	snprintf(text + at, sizeof(text) - at, "\n");
	if (tap_ok(parse_ok(text, strlen(text), &rs, "64 prefixes"),
		   "from: %d prefixes are accepted", XM_ALLOW_LIST_MAX)) {
		char buf[XM_RULE_TEXT_MAX];

		xm_rule_format(&rs.rules[0], buf, sizeof(buf));
		tap_ok(strstr(buf, "198.51.100.63") != NULL, "from: the longest list formats "
							     "whole");
		xm_ruleset_free(&rs);
	}
	snprintf(text + at, sizeof(text) - at, ",198.51.100.64\n");
	bad(text,
	    FN ":1:924: more than 64 prefixes after 'from' (expected at most 64: a shorter "
	       "prefix covers several)",
	    "65 prefixes after 'from'");
}

static void test_bad_from(void)
{
	bad("forward eth0 tcp 22 to 10.0.0.5 from\n",
	    FN ":1:37: missing prefixes after 'from' (expected from PREFIX[,PREFIX...] such as "
	       "from 192.0.2.0/25,198.51.100.7)",
	    "'from' without prefixes");
	bad("forward eth0 tcp 22 to 10.0.0.5 from 192.0.2.0/25,,198.51.100.7\n",
	    FN ":1:51: missing prefix after ',' after 'from' (expected from PREFIX[,PREFIX...] "
	       "such as from 192.0.2.0/25,198.51.100.7)",
	    "an empty prefix in a 'from' list");
	bad("forward eth0 tcp 22 to 10.0.0.5 from ,192.0.2.1\n",
	    FN ":1:38: missing prefix before ',' after 'from' (expected from PREFIX[,PREFIX...] "
	       "such as from 192.0.2.0/25,198.51.100.7)",
	    "a leading comma in a 'from' list");
	bad("forward eth0 tcp 22 to 10.0.0.5 from 192.0.2.1,\n",
	    FN ":1:48: missing prefix after ',' after 'from' (expected from PREFIX[,PREFIX...] "
	       "such as from 192.0.2.0/25,198.51.100.7)",
	    "a trailing comma in a 'from' list");
	bad("forward eth0 tcp 22 to 10.0.0.5 from 192.0.2.300/32\n",
	    FN ":1:38: invalid address '192.0.2.300' after 'from' (expected from "
	       "PREFIX[,PREFIX...] such as from 192.0.2.0/25,198.51.100.7)",
	    "a bad address in a 'from' list");
	bad("forward eth0 tcp 22 to 10.0.0.5 from 192.0.2.0/33\n",
	    FN ":1:48: invalid prefix length '33' after 'from' (expected 0-32)",
	    "a prefix length over 32");
	bad("forward eth0 tcp 22 to 10.0.0.5 from 192.0.2.0/\n",
	    FN ":1:48: invalid prefix length '' after 'from' (expected 0-32)",
	    "a '/' without a length");
	bad("forward eth0 tcp 22 to 10.0.0.5 from 192.0.2.1/24\n",
	    FN ":1:38: prefix 192.0.2.1/24 after 'from' has host bits set (expected "
	       "192.0.2.0/24, or 192.0.2.1 alone for one host)",
	    "host bits set in a 'from' prefix");
	bad("forward eth0 tcp 22 to 10.0.0.5 from 192.0.2.7,192.0.2.7/32\n",
	    FN ":1:48: prefix '192.0.2.7/32' twice after 'from' (expected each once)",
	    "the same prefix twice (bare and /32)");
	bad("forward eth0 tcp 22 to 10.0.0.5 from 192.0.2.7 from 192.0.2.8\n",
	    FN ":1:48: duplicate option 'from' (expected each option at most once)",
	    "two 'from' lists");
	bad("forward eth0 tcp 22 to 10.0.0.5 from 192.0.2.7 192.0.2.8\n",
	    FN ":1:48: unexpected '192.0.2.8' after the rule (expected keep-source, allow-special, "
	       "as, from or family)",
	    "a space inside a 'from' list");
	bad("masquerade 10.0.0.0/8 out eth0 from 192.0.2.1\n",
	    FN ":1:32: unexpected 'from' after the rule (expected as or end of line)",
	    "'from' on a masquerade");
}

static void test_flows_per_source(void)
{
	struct xm_ruleset rs;
	static const char t[] = "set flows-per-source 100\n", off[] = "set flows-per-source 0\n";

	if (tap_ok(parse_ok(t, strlen(t), &rs, "flows-per-source"), "set flows-per-source parses"))
		TAP_EQ(rs.settings.flows_per_source, 100, "flows-per-source: 100");
	xm_ruleset_free(&rs);
	if (tap_ok(parse_ok(off, strlen(off), &rs, "flows-per-source 0"), "set flows-per-source 0 "
									  "parses"))
		TAP_EQ(rs.settings.flows_per_source, 0, "flows-per-source: 0 (no limit)");
	xm_ruleset_free(&rs);
	if (tap_ok(parse_ok("", 0, &rs, "empty"), "empty rules parse"))
		TAP_EQ(rs.settings.flows_per_source, XM_FLOWS_PER_SOURCE_AUTO,
		       "flows-per-source: default is the table's share (AUTO)");
	xm_ruleset_free(&rs);
	bad("set flows-per-source 10\nset flows-per-source 20\n",
	    FN ":2:5: flows-per-source already set on line 1 (expected each setting once)",
	    "flows-per-source twice");
	bad("set flows-per-source 16777217\n",
	    FN ":1:22: flows-per-source 16777217 out of range (expected 0-16777216)",
	    "flows-per-source over the largest table");
	bad("set flows-per-source many\n",
	    FN ":1:22: invalid flows-per-source 'many' (expected a number 0-16777216)",
	    "flows-per-source not a number");
}

/* One line parsed alone (line-by-line applies): the kind, the rule, and
 * the very error the whole text gives for that line; the `set` lines of a
 * whole parse recorded. */
static void test_parse_line(void)
{
	static const char *const wrong[] = {
		"forward eth0 tcp 99999 to 198.18.0.2",
		"forward eth0 tcp 80 to 127.0.0.1",
		"forwrd eth0 tcp 80 to 198.18.0.2",
		"forward eth0 tcp 80 to 198.18.0.2 as 192.0.2.1 keep-source",
	};
	const char *prefix = "# first\nforward eth1 udp 53 to 198.18.0.3\n";
	char err[512], want[512], text[256];
	enum xm_line_kind kind;
	struct xm_ruleset rs;
	struct xm_rule r;
	int rc;

	rc = xm_rules_parse_line("forward eth0:192.0.2.1 tcp 8080-8081 to 198.18.0.2:80-81 "
				 "keep-source",
				 68, 7, FN, &r, &kind, err, sizeof(err));
	tap_ok(rc == 0 && kind == XM_LINE_FORWARD && r.line == 7 && r.from_lo == 8080 &&
		       r.from_hi == 8081 && r.to_lo == 80 && r.local_addr == ip("192.0.2.1") &&
		       r.flags == XM_RULE_KEEP_SOURCE && strcmp(r.ifname, "eth0") == 0,
	       "parse_line: a forward, at the line given");
	rc = xm_rules_parse_line("  # only a comment", 18, 3, FN, &r, &kind, err, sizeof(err));
	tap_ok(rc == 0 && kind == XM_LINE_BLANK, "parse_line: a comment is blank");
	rc = xm_rules_parse_line("set timeout udp 60", 18, 3, FN, &r, &kind, err, sizeof(err));
	tap_ok(rc == 0 && kind == XM_LINE_OTHER, "parse_line: a set is the full path's");
	rc = xm_rules_parse_line("masquerade 10.0.0.0/8 out eth1", 30, 3, FN, &r, &kind, err,
				 sizeof(err));
	tap_ok(rc == 0 && kind == XM_LINE_OTHER, "parse_line: a masquerade is the full path's");
	rc = xm_rules_parse_line("forward eth0 tcp 80 to 198.18.0.2 from 192.0.2.0/24", 51, 3, FN,
				 &r, &kind, err, sizeof(err));
	tap_ok(rc == 0 && kind == XM_LINE_OTHER, "parse_line: a forward with `from` is the full "
						 "path's");
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		snprintf(text, sizeof(text), "%s%s\n", prefix, wrong[i]);
		xm_rules_parse(text, strlen(text), FN, &rs, want, sizeof(want));
		rc = xm_rules_parse_line(wrong[i], strlen(wrong[i]), 3, FN, &r, &kind, err,
					 sizeof(err));
		if (!tap_ok(rc == -2 && strcmp(err, want) == 0,
			    "parse_line: the whole parse's error for '%s'", wrong[i]))
			tap_diag("alone: %d '%s'; whole: '%s'", rc, err, want);
	}
	snprintf(text, sizeof(text), "set port-range 20000-30000\n%s\nset timeout udp 9\n", prefix);
	rc = parse_ok(text, strlen(text), &rs, "set lines");
	tap_ok(rc && rs.n_set_lines == 2 && rs.set_line[0] == 1 && rs.set_line[1] == 5,
	       "the parser records the lines of its `set` statements");
	xm_ruleset_free(&rs);
}

/* ---- IPv6 forwards (6->6) ---------------------------------------------- */

static void test_v6_forwards(void)
{
	static const char t[] = "forward eth0 tcp 443 to [fd00:8::2]:8443\n"
				"forward eth0:[2001:db8:1::1] udp 5000-5010 to [fd00:8::2]\n"
				"forward eth1 tcp 22 to [fd00:8::5] keep-source from "
				"2001:db8:200::7,2001:db8:100::/48,[2001:db8:300::1]/128\n";
	struct xm_ruleset rs;
	char buf[XM_RULE_TEXT_MAX];
	const struct xm_rule *r;
	struct in6_addr any;

	memset(&any, 0, sizeof(any));
	if (!tap_ok(parse_ok(t, strlen(t), &rs, "v6"), "IPv6 forwards parse"))
		return;
	r = &rs.rules[0];
	tap_ok(rs.n_rules == 3 && rs.total_ports == 13, "v6: 3 rules, 13 ports");
	tap_ok(xm_rule_is_v6(r) && r->flags == XM_RULE_V6 && r->proto == IPPROTO_TCP &&
		       memcmp(&r->local_addr6, &any, 16) == 0 && r->from_lo == 443 &&
		       r->to_lo == 8443 && !xm_rule_has_local_addr(r),
	       "v6: [fd00:8::2]:8443, any local address, XM_RULE_V6 the only flag");
	{
		struct in6_addr want = ip6("fd00:8::2");

		tap_ok(memcmp(&r->to_addr6, &want, 16) == 0, "v6: backend address fd00:8::2");
	}
	xm_rule_format(r, buf, sizeof(buf));
	tap_ok(strcmp(buf, "forward eth0 tcp 443 to [fd00:8::2]:8443") == 0,
	       "v6: canonical form '%s'", buf);
	r = &rs.rules[1];
	{
		struct in6_addr want = ip6("2001:db8:1::1");

		tap_ok(xm_rule_is_v6(r) && memcmp(&r->local_addr6, &want, 16) == 0 &&
			       xm_rule_has_local_addr(r) && r->proto == IPPROTO_UDP &&
			       r->to_lo == 5000 && r->to_hi == 5010 && r->iface_col == 9,
		       "v6: local address 2001:db8:1::1, same ports without a destination port");
	}
	xm_rule_format(r, buf, sizeof(buf));
	tap_ok(strcmp(buf, "forward eth0:[2001:db8:1::1] udp 5000-5010 to "
			   "[fd00:8::2]:5000-5010") == 0,
	       "v6: canonical form with local address '%s'", buf);
	r = &rs.rules[2];
	{
		struct in6_addr p100 = ip6("2001:db8:100::"), p200 = ip6("2001:db8:200::7"),
				p300 = ip6("2001:db8:300::1");

		tap_ok(r->from.n == 3 && r->from.v6 && r->from.col == 53 &&
			       memcmp(&r->from.pfx[0].addr6, &p100, 16) == 0 &&
			       r->from.pfx[0].len == 48 &&
			       memcmp(&r->from.pfx[1].addr6, &p200, 16) == 0 &&
			       r->from.pfx[1].len == 128 &&
			       memcmp(&r->from.pfx[2].addr6, &p300, 16) == 0 &&
			       r->from.pfx[2].len == 128,
		       "v6: from list sorted, bare and bracketed addresses are /128, column 53");
	}
	TAP_EQ(r->flags, XM_RULE_V6 | XM_RULE_KEEP_SOURCE, "v6: keep-source on an IPv6 forward");
	xm_rule_format(r, buf, sizeof(buf));
	tap_ok(strcmp(buf, "forward eth1 tcp 22 to [fd00:8::5]:22 keep-source from "
			   "2001:db8:100::/48,2001:db8:200::7,2001:db8:300::1") == 0,
	       "v6: from list formatted without brackets, /128 bare: '%s'", buf);
	xm_ruleset_free(&rs);
}

static void test_v6_overlap(void)
{
	static const char ok[] = "forward eth0 tcp 80 to 10.0.0.1\n"
				 "forward eth0 tcp 80 to [fd00::1]\n"
				 "forward eth0:[2001:db8::1] tcp 80 to [fd00::2]\n"
				 "forward eth0:[2001:db8::2] tcp 80 to [fd00::3]\n"
				 "forward eth0 udp 80 to [fd00::4]\n"
				 "forward eth1 tcp 80 to [fd00::5]\n"
				 "forward eth0:192.0.2.1 tcp 80 to 10.0.0.2\n";
	struct xm_ruleset rs;

	tap_ok(parse_ok(ok, strlen(ok), &rs, "v6 no overlap") && rs.n_rules == 7,
	       "v6 overlap: an IPv4 and an IPv6 forward of one port do not overlap, nor IPv6 "
	       "ones of other local addresses, protocols or interfaces");
	xm_ruleset_free(&rs);
	bad("forward eth0 tcp 80 to [fd00::1]\nforward eth0 tcp 79-81 to [fd00::2]\n",
	    FN ":2:18: port 80 overlaps the rule on line 1 (expected each IPv6 eth0 tcp port in "
	       "one rule only)",
	    "two IPv6 forwards of one port");
	bad("forward eth0:[2001:db8::1] tcp 80-90 to [fd00::1]\n"
	    "forward eth0:[2001:0db8:0::1] tcp 85-95 to [fd00::1]\n",
	    FN ":2:35: ports 85-90 overlap the rule on line 1 (expected each IPv6 "
	       "eth0:[2001:db8::1] tcp port in one rule only)",
	    "two IPv6 forwards of one local address, written differently");
}

static void test_v6_special_reasons(void)
{
	static const struct {
		const char *a, *why;
	} t[] = {
		{ "::", "unspecified" },
		{ "::1", "loopback" },
		{ "fe80::1", "link-local" },
		{ "febf:ffff::1", "link-local" },
		{ "ff02::1", "multicast" },
		{ "ff05::1:3", "multicast" },
		{ "::ffff:10.0.0.1", "IPv4-mapped" },
		{ "fd00:ec2::254", "cloud metadata service" },
		{ "fec0::1", NULL },
		{ "fe7f:ffff::1", NULL },
		{ "::2", NULL },
		{ "fd00:ec2::253", NULL },
		{ "2001:db8::1", NULL },
		{ "64:ff9b::a00:1", NULL },
	};
	int all = 1;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct in6_addr a = ip6(t[i].a);
		const char *r = xm_special_addr6_reason(&a);

		if (!(r == t[i].why || (r && t[i].why && strcmp(r, t[i].why) == 0))) {
			tap_diag("%s: got %s, want %s", t[i].a, r ? r : "NULL",
				 t[i].why ? t[i].why : "NULL");
			all = 0;
		}
	}
	tap_ok(all, "xm_special_addr6_reason: every special block and its edges (14 addresses)");
}

static void test_v6_helpers(void)
{
	struct in6_addr a, want = ip6("2001:db8::1");
	char buf[INET6_ADDRSTRLEN], small[4];

	tap_ok(xm_ipv6_parse("2001:DB8:0::1]", 13, &a) && memcmp(&a, &want, 16) == 0,
	       "xm_ipv6_parse: the length given, not the NUL, ends the text");
	tap_ok(!xm_ipv6_parse("", 0, &a) && !xm_ipv6_parse("192.0.2.1", 9, &a) &&
		       !xm_ipv6_parse("fe80::1%eth0", 12, &a) &&
		       !xm_ipv6_parse("1:2:3:4:5:6:7:8:9", 17, &a) &&
		       !xm_ipv6_parse("::1\0::", 6, &a) &&
		       !xm_ipv6_parse("1111:2222:3333:4444:5555:6666:7777:8888:9999", 44, &a),
	       "xm_ipv6_parse: refuses empty, IPv4, a zone, 9 groups, a NUL, too long");
	xm_ipv6_format(&want, buf, sizeof(buf));
	tap_ok(strcmp(buf, "2001:db8::1") == 0, "xm_ipv6_format: canonical (RFC 5952) '%s'", buf);
	xm_ipv6_format(&want, small, sizeof(small));
	TAP_EQ(small[0], 0, "xm_ipv6_format: a buffer too small gives \"\"");
}

static void test_bad_v6(void)
{
	static const struct {
		const char *text, *want, *what;
	} t[] = {
		{ "forward eth0:192.0.2.1 tcp 80 to [fd00::1]",
		  ":1:34: IPv4 clients to an IPv6 backend are not supported (expected an IPv4 "
		  "backend, or an IPv6 local address such as eth0:[2001:db8:1::1])",
		  "an IPv4 local address with an IPv6 backend" },
		{ "forward eth0 tcp 80 to [fd00::1]:80 as 192.0.2.1",
		  ":1:40: IPv4 address '192.0.2.1' after 'as' of an IPv6 forward (expected IPv6 "
		  "addresses of the router such as as 2001:db8:1::10: its flows leave by IPv6)",
		  "an IPv4 'as' address on an IPv6 forward" },
		{ "forward eth0 tcp 80 to [fd00::1] from 10.0.0.0/8",
		  ":1:39: IPv4 prefix '10.0.0.0/8' in the 'from' list of an IPv6 forward (expected "
		  "IPv6 prefixes such as 2001:db8:100::/48: a forward admits clients of its "
		  "backend's family)",
		  "an IPv4 prefix in an IPv6 forward's from list" },
		{ "forward eth0 tcp 80 to 10.0.0.1 from 192.0.2.0/24,fd00::/8",
		  ":1:51: IPv6 prefix 'fd00::/8' in the 'from' list of a forward for IPv4 clients "
		  "(expected IPv4 prefixes such as 192.0.2.0/25, or family any to admit IPv6 "
		  "clients too)",
		  "an IPv6 prefix in an IPv4 forward's from list" },
		{ "forward eth0 tcp 80 to [fd00::1] from fd00::/129",
		  ":1:46: invalid prefix length '129' after 'from' (expected 0-128)",
		  "an IPv6 prefix length over 128" },
		{ "forward eth0 tcp 80 to [fd00::1] from fd00::1/64",
		  ":1:39: prefix fd00::1/64 after 'from' has host bits set (expected fd00::/64, or "
		  "fd00::1 alone for one host)",
		  "host bits set in an IPv6 from prefix" },
		{ "forward eth0 tcp 80 to [fd00::1] from ::ffff:10.0.0.0/104",
		  ":1:39: IPv4-mapped prefix '::ffff:10.0.0.0/104' in the 'from' list of an IPv6 "
		  "forward (expected IPv6 prefixes such as 2001:db8:100::/48)",
		  "an IPv4-mapped prefix in an IPv6 from list" },
		{ "forward eth0 tcp 80 to [fd00::1] from 2001:db8::/32,2001:db8:0::/32",
		  ":1:53: prefix '2001:db8:0::/32' twice after 'from' (expected each once)",
		  "one IPv6 prefix twice, written differently" },
		{ "forward eth0 tcp 80 to [fd00::1] from [2001:db8::1",
		  ":1:39: unclosed '[' in '[2001:db8::1' after 'from' (expected [ADDR] or ADDR, "
		  "such "
		  "as 2001:db8:200::7)",
		  "an unclosed bracket in a from list" },
		{ "forward eth0 tcp 80 to [fd00::1] from zz::",
		  ":1:39: invalid address 'zz::' after 'from' (expected from PREFIX[,PREFIX...] "
		  "such "
		  "as from 2001:db8:100::/48,2001:db8:200::7)",
		  "a bad IPv6 address in a from list" },
		{ "forward eth0 tcp 80 to [fd00::1",
		  ":1:24: unclosed '[' in destination address '[fd00::1' (expected [ADDR] or "
		  "[ADDR]:PORT such as [fd00:8::2]:8443)",
		  "an unclosed bracket in the backend" },
		{ "forward eth0 tcp 80 to [fd00::1]x",
		  ":1:33: unexpected 'x' after ']' (expected [ADDR] or [ADDR]:PORT such as "
		  "[fd00:8::2]:8443)",
		  "text after the backend's bracket" },
		{ "forward eth0 tcp 80 to [fd00::g]:80",
		  ":1:25: invalid destination address 'fd00::g' (expected an IPv6 address in "
		  "[ADDR] "
		  "or [ADDR]:PORT such as [fd00:8::2]:8443)",
		  "a bad IPv6 backend address" },
		{ "forward eth0 tcp 80 to [192.0.2.1]:80",
		  ":1:25: invalid destination address '192.0.2.1' (expected an IPv6 address in "
		  "[ADDR] or [ADDR]:PORT such as [fd00:8::2]:8443)",
		  "an IPv4 address in brackets" },
		{ "forward eth0 tcp 80 to []:80",
		  ":1:24: missing destination address inside '[]' (expected [ADDR] or [ADDR]:PORT "
		  "such as [fd00:8::2]:8443)",
		  "empty brackets as the backend" },
		{ "forward eth0 tcp 80 to [fd00::1]:",
		  ":1:33: missing destination port after ':' (expected [ADDR]:PORT such as "
		  "[fd00:8::2]:8443)",
		  "an IPv6 backend's ':' without a port" },
		{ "forward eth0 tcp 80 to [fd00::1]:0",
		  ":1:34: destination port 0 out of range (expected 1-65535)",
		  "an IPv6 backend's port 0" },
		{ "forward eth0 tcp 80 to fd00::1",
		  ":1:24: IPv6 destination address 'fd00::1' without brackets (expected [fd00::1] "
		  "or "
		  "[fd00::1]:PORT)",
		  "an IPv6 backend without brackets" },
		{ "forward eth0:fd00::1 tcp 80 to [fd00::1]",
		  ":1:14: IPv6 local address 'fd00::1' without brackets (expected IFACE:[ADDR] "
		  "such "
		  "as eth0:[fd00::1])",
		  "an IPv6 local address without brackets" },
		{ "forward eth0:[fd00::1 tcp 80 to [fd00::1]",
		  ":1:14: unclosed '[' in local address '[fd00::1' (expected IFACE:[ADDR] such as "
		  "eth0:[2001:db8:1::1])",
		  "an unclosed bracket in the local address" },
		{ "forward eth0:[] tcp 80 to [fd00::1]",
		  ":1:14: missing local address inside '[]' (expected IFACE:[ADDR] such as "
		  "eth0:[2001:db8:1::1])",
		  "empty brackets as the local address" },
		{ "forward eth0:[fd00::1]x tcp 80 to [fd00::1]",
		  ":1:23: unexpected 'x' after ']' (expected IFACE:[ADDR] such as "
		  "eth0:[2001:db8:1::1])",
		  "text after the local address's bracket" },
		{ "forward eth0:[fd00::1]:80 tcp 80 to [fd00::1]",
		  ":1:23: unexpected ':80' after ']' (expected IFACE:[ADDR] such as "
		  "eth0:[2001:db8:1::1])",
		  "a port after the local address" },
		{ "forward eth0:[::] tcp 80 to [fd00::1]",
		  ":1:15: local address :: is not an address (expected one of the interface's "
		  "addresses, or IFACE alone for any)",
		  "the local address ::" },
		{ "forward eth0:[fe80::1%eth0] tcp 80 to [fd00::1]",
		  ":1:15: invalid local address 'fe80::1%eth0' (expected an IPv6 address in "
		  "IFACE:[ADDR] such as eth0:[2001:db8:1::1])",
		  "a zone in the local address" },
		{ "forward eth0 tcp 80 to [::1]",
		  ":1:24: refusing to forward to [::1]: loopback (add allow-special to the rule if "
		  "this is really wanted)",
		  "an IPv6 loopback backend" },
		{ "forward eth0 tcp 80 to [fe80::1]:80",
		  ":1:24: refusing to forward to [fe80::1]: link-local (add allow-special to the "
		  "rule if this is really wanted)",
		  "an IPv6 link-local backend" },
		{ "forward eth0 tcp 80 to [ff02::1]",
		  ":1:24: refusing to forward to [ff02::1]: multicast (add allow-special to the "
		  "rule if this is really wanted)",
		  "an IPv6 multicast backend" },
		{ "forward eth0 tcp 80 to [::ffff:10.0.0.1]",
		  ":1:24: refusing to forward to [::ffff:10.0.0.1]: IPv4-mapped (add allow-special "
		  "to the rule if this is really wanted)",
		  "an IPv4-mapped backend" },
		{ "forward eth0 tcp 80 to [::]",
		  ":1:24: refusing to forward to [::]: unspecified (add allow-special to the rule "
		  "if "
		  "this is really wanted)",
		  "the IPv6 backend ::" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char want[512];

		snprintf(want, sizeof(want), "%s%s", FN, t[i].want);
		bad(t[i].text, want, t[i].what);
	}
}

static void test_v6_parse_line(void)
{
	char err[512];
	enum xm_line_kind kind;
	struct xm_rule r;
	const char *v6 = "forward eth0 tcp 443 to [fd00:8::2]:8443";
	const char *bad6 = "forward eth0 tcp 443 to [fd00:8::2";
	int rc;

	rc = xm_rules_parse_line(v6, strlen(v6), 4, FN, &r, &kind, err, sizeof(err));
	tap_ok(rc == 0 && kind == XM_LINE_OTHER, "parse_line: an IPv6 forward is the full path's "
						 "(line-by-line applies are IPv4)");
	rc = xm_rules_parse_line(bad6, strlen(bad6), 4, FN, &r, &kind, err, sizeof(err));
	if (!tap_ok(rc == -2 && strcmp(err, FN ":4:25: unclosed '[' in destination address "
					       "'[fd00:8::2' (expected [ADDR] or [ADDR]:PORT such "
					       "as "
					       "[fd00:8::2]:8443)") == 0,
		    "parse_line: a wrong IPv6 forward's error at its line"))
		tap_diag("got %d '%s'", rc, err);
}

/* ---- IPv6 masquerades -------------------------------------------------- */

static void test_v6_masquerade(void)
{
	static const char t[] = "masquerade fd00:1::/64 out eth0\n"
				"masquerade [2001:DB8:100::]/48 out eth1\n"
				"masquerade ::/0 out eth0\n"
				"masquerade 2001:db8::7/128 out eth0\n"
				"masquerade fd00::/16 out eth0  # holds fd00:1::/64: longest wins\n"
				"masquerade 0.0.0.0/0 out eth0\n"
				"masquerade fd00:1::/65 out eth1\n";
	static const char *const canon[] = {
		"masquerade fd00:1::/64 out eth0", "masquerade 2001:db8:100::/48 out eth1",
		"masquerade ::/0 out eth0",	   "masquerade 2001:db8::7/128 out eth0",
		"masquerade fd00::/16 out eth0",   "masquerade 0.0.0.0/0 out eth0",
		"masquerade fd00:1::/65 out eth1",
	};
	struct xm_ruleset rs, rs2;
	struct in6_addr p1 = ip6("fd00:1::"), p2 = ip6("2001:db8:100::"), zero6 = ip6("::");
	char buf[128], all[1024];
	const struct xm_masq *m;
	size_t at = 0;
	int same = 1;

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "masquerade6"), "IPv6 masquerades parse (bare, "
								"bracketed, /0, /128, nested, "
								"beside IPv4 /0)"))
		return;
	m = rs.masqs;
	tap_ok(rs.n_masqs == 7 && rs.n_rules == 0, "masquerade6: 7 entries");
	tap_ok(xm_masq_is_v6(&m[0]) && m[0].flags == XM_RULE_V6 &&
		       memcmp(&m[0].prefix6, &p1, 16) == 0 && m[0].prefix_len == 64 &&
		       strcmp(m[0].out_ifname, "eth0") == 0 && m[0].line == 1 &&
		       m[0].prefix_col == 12 && m[0].iface_col == 28 && m[0].as.n == 0,
	       "masquerade6: fd00:1::/64 out eth0, line 1, prefix column 12, iface column 28");
	tap_ok(xm_masq_is_v6(&m[1]) && memcmp(&m[1].prefix6, &p2, 16) == 0 &&
		       m[1].prefix_len == 48 && m[1].prefix_col == 12,
	       "masquerade6: [2001:DB8:100::]/48 in brackets, upper case");
	tap_ok(xm_masq_is_v6(&m[2]) && memcmp(&m[2].prefix6, &zero6, 16) == 0 &&
		       m[2].prefix_len == 0,
	       "masquerade6: ::/0");
	tap_ok(!xm_masq_is_v6(&m[5]) && m[5].flags == 0 && m[5].prefix == 0 && m[5].prefix_len == 0,
	       "masquerade6: the IPv4 /0 beside stays IPv4 (families never overlap)");
	for (size_t i = 0; i < rs.n_masqs; i++) {
		xm_masq_format(&m[i], buf, sizeof(buf));
		if (strcmp(buf, canon[i])) {
			tap_diag("line %zu: '%s', want '%s'", i + 1, buf, canon[i]);
			same = 0;
		}
		at += (size_t)snprintf(all + at, sizeof(all) - at, "%s\n", buf);
	}
	tap_ok(same, "masquerade6: canonical forms (unbracketed, lower case, RFC 5952)");
	if (tap_ok(parse_ok(all, strlen(all), &rs2, "masquerade6 round trip"), "masquerade6: the "
									       "canonical text "
									       "parses again")) {
		same = rs2.n_masqs == rs.n_masqs;
		for (size_t i = 0; same && i < rs.n_masqs; i++)
			same = rs2.masqs[i].flags == m[i].flags &&
			       rs2.masqs[i].prefix_len == m[i].prefix_len &&
			       memcmp(&rs2.masqs[i].prefix6, &m[i].prefix6, 16) == 0 &&
			       strcmp(rs2.masqs[i].out_ifname, m[i].out_ifname) == 0;
		tap_ok(same, "masquerade6: round trip gives the same statements");
		xm_ruleset_free(&rs2);
	}
	xm_ruleset_free(&rs);
}

static void test_bad_v6_masquerade(void)
{
	enum xm_line_kind kind;
	struct xm_rule r;
	char err[512];
	int rc;

	bad("masquerade fd00:1::1/64 out eth0\n",
	    FN ":1:12: prefix fd00:1::1/64 has host bits set (expected fd00:1::/64)",
	    "an IPv6 prefix with host bits set");
	bad("masquerade [fd00:1::1]/64 out eth0\n",
	    FN ":1:12: prefix fd00:1::1/64 has host bits set (expected fd00:1::/64)",
	    "a bracketed IPv6 prefix with host bits set");
	bad("masquerade fd00:1::/129 out eth0\n",
	    FN ":1:21: prefix length 129 out of range (expected 0-128)",
	    "an IPv6 prefix length of 129");
	bad("masquerade fd00:1::/ out eth0\n",
	    FN ":1:20: missing prefix length after '/' (expected 0-128)",
	    "an empty IPv6 prefix length");
	bad("masquerade fd00:1::/6x4 out eth0\n",
	    FN ":1:21: invalid prefix length '6x4' (expected 0-128)",
	    "a non-numeric IPv6 prefix length");
	bad("masquerade fd00:1:: out eth0\n",
	    FN ":1:20: missing prefix length after 'fd00:1::' (expected PREFIX/LEN such as "
	       "fd00:1::/64)",
	    "an IPv6 prefix without /LEN");
	bad("masquerade fd00:1:::/64 out eth0\n",
	    FN ":1:12: invalid IPv6 prefix address 'fd00:1:::' (expected an IPv6 address such as "
	       "fd00:1::)",
	    "an invalid IPv6 prefix address");
	bad("masquerade [fd00:zz::]/64 out eth0\n",
	    FN ":1:13: invalid IPv6 prefix address 'fd00:zz::' (expected an IPv6 address such as "
	       "fd00:1::)",
	    "an invalid bracketed IPv6 prefix address, at its first character");
	bad("masquerade [fd00:1::/64 out eth0\n",
	    FN ":1:12: unclosed '[' in prefix '[fd00:1::/64' (expected ADDR/LEN or [ADDR]/LEN "
	       "such as fd00:1::/64)",
	    "an unclosed '[' in an IPv6 prefix");
	bad("masquerade fd00:1::/64 out eth0 as 192.0.2.1\n",
	    FN ":1:36: IPv4 address '192.0.2.1' after 'as' of an IPv6 masquerade (expected IPv6 "
	       "addresses of eth0 such as as 2001:db8:1::10: its flows leave by IPv6)",
	    "an IPv4 'as' address on an IPv6 masquerade");
	bad("masquerade fd00:1::/64 out eth0 from fd00:1::7\n",
	    FN ":1:33: unexpected 'from' after the rule (expected as or end of line)",
	    "'from' on an IPv6 masquerade");
	bad("masquerade fd00:1::/64 out eth0\n"
	    "masquerade 10.0.0.0/8 out eth0\n"
	    "masquerade  FD00:1:0::/64 out eth1\n",
	    FN ":3:13: prefix fd00:1::/64 is masqueraded by the rule on line 1 already (expected "
	       "each IPv6 prefix in one masquerade only)",
	    "the same IPv6 prefix twice (written otherwise, another interface)");
	bad("masquerade ::/0 out eth0\nmasquerade [::]/0 out eth0\n",
	    FN ":2:12: prefix ::/0 is masqueraded by the rule on line 1 already (expected each "
	       "IPv6 prefix in one masquerade only)",
	    "::/0 twice");
	{
		/* one more than masq_rules6 holds in a generation, all distinct */
		const unsigned n = XM_MAX_MASQ_RULES / 2 + 1;
		size_t cap = (size_t)n * 40, at = 0;
		char *text = malloc(cap), want[128];

		if (text) {
			for (unsigned i = 0; i < n; i++)
				at += (size_t)snprintf(text + at, cap - at,
						       "masquerade fd00:%x::/32 out eth0\n", i);
			snprintf(want, sizeof(want),
				 FN ":%u:1: too many IPv6 masquerades (expected at most %u)", n,
				 n - 1);
			bad_n(text, at, want, "more IPv6 masquerades than masq_rules6 holds");
			free(text);
		}
	}
	rc = xm_rules_parse_line("masquerade fd00:1::/64 out eth1", 31, 4, FN, &r, &kind, err,
				 sizeof(err));
	tap_ok(rc == 0 && kind == XM_LINE_OTHER, "parse_line: an IPv6 masquerade is the full "
						 "path's");
	rc = xm_rules_parse_line("masquerade fd00:1::/64 out eth1 as 192.0.2.1", 44, 4, FN, &r,
				 &kind, err, sizeof(err));
	tap_ok(rc == -2 && strncmp(err, FN ":4:36: IPv4 address '192.0.2.1' after 'as' of an IPv6",
				   strlen(FN ":4:36: IPv4 address '192.0.2.1' after 'as' of an "
					     "IPv6")) == 0,
	       "parse_line: a wrong IPv6 masquerade's error at its line");
}

/* IPv6 clients of IPv4 backends (6->4) and `family`. */
static void test_v64_forwards(void)
{
	static const char t[] = "forward eth0:[2001:db8:1::1] tcp 80 to 198.18.0.2\n"
				"forward eth0 tcp 443 to 198.18.0.2:8443 family ipv6 from "
				"2001:db8::/32\n"
				"forward eth0 udp 53 to 198.18.0.3 family any from "
				"2001:db8::/32,192.0.2.0/24,10.0.0.1\n"
				"forward eth1 udp 53 to 198.18.0.3 from 192.0.2.0/24 family any\n"
				"forward eth1 tcp 22 to 198.18.0.4 family ipv4 from 192.0.2.0/24\n"
				"forward eth1 tcp 25 to 169.254.169.254 family any allow-special\n"
				"forward eth1 tcp 26 to [fd00::1] family ipv6\n"
				"forward eth2:[2001:db8::1] tcp 27 to 198.18.0.5 family ipv6\n"
				"forward eth2 tcp 28 to 198.18.0.6 as 192.0.2.1,192.0.2.9 family "
				"any\n"
				"forward eth2:[2001:db8::2] tcp 29 to 198.18.0.6 as 192.0.2.9\n";
	static const char *const canon[] = {
		"forward eth0:[2001:db8:1::1] tcp 80 to 198.18.0.2:80",
		"forward eth0 tcp 443 to 198.18.0.2:8443 family ipv6 from 2001:db8::/32",
		"forward eth0 udp 53 to 198.18.0.3:53 family any from "
		"10.0.0.1,192.0.2.0/24,2001:db8::/32",
		"forward eth1 udp 53 to 198.18.0.3:53 family any from 192.0.2.0/24",
		"forward eth1 tcp 22 to 198.18.0.4:22 from 192.0.2.0/24",
		"forward eth1 tcp 25 to 169.254.169.254:25 family any allow-special",
		"forward eth1 tcp 26 to [fd00::1]:26",
		"forward eth2:[2001:db8::1] tcp 27 to 198.18.0.5:27",
		"forward eth2 tcp 28 to 198.18.0.6:28 family any as 192.0.2.1,192.0.2.9",
		"forward eth2:[2001:db8::2] tcp 29 to 198.18.0.6:29 as 192.0.2.9",
	};
	struct in6_addr mapped = ip6("::ffff:198.18.0.2"), local = ip6("2001:db8:1::1");
	struct xm_ruleset rs, rs2;
	char buf[XM_RULE_TEXT_MAX], all[4096] = "";
	const struct xm_rule *r;

	if (!tap_ok(parse_ok(t, strlen(t), &rs, "v64"), "6->4 forwards and family parse"))
		return;
	TAP_EQ(rs.n_rules, 10, "v64: 10 rules");
	for (size_t i = 0; i < rs.n_rules && i < 10; i++) {
		xm_rule_format(&rs.rules[i], buf, sizeof(buf));
		if (!tap_ok(strcmp(buf, canon[i]) == 0, "v64: canonical form of rule %zu", i + 1))
			tap_diag("got '%s', want '%s'", buf, canon[i]);
		strcat(all, buf);
		strcat(all, "\n");
	}
	r = &rs.rules[0];
	TAP_EQ(r->flags, XM_RULE_V6 | XM_RULE_TO_V4,
	       "v64: an IPv6 local address and an IPv4 backend: 6->4 (V6 | TO_V4)");
	tap_ok(memcmp(&r->to_addr6, &mapped, 16) == 0 && memcmp(&r->local_addr6, &local, 16) == 0,
	       "v64: backend held as ::ffff:198.18.0.2, local address 2001:db8:1::1");
	tap_ok(xm_rule_v6_clients(r) && !xm_rule_v4_clients(r) && xm_rule_to_v4(r), "v64: 6->4 "
										    "serves IPv6 "
										    "clients only");
	r = &rs.rules[1];
	tap_ok(r->flags == (XM_RULE_V6 | XM_RULE_TO_V4) && !xm_rule_has_local_addr(r) &&
		       r->to_lo == 8443 && r->from.n == 1 && r->from.v6,
	       "v64: family ipv6: 6->4 for any address, IPv6 from list");
	r = &rs.rules[2];
	tap_ok(r->flags == XM_RULE_TO_V4 && r->to_addr == ip("198.18.0.3") && r->local_addr == 0 &&
		       xm_rule_v4_clients(r) && xm_rule_v6_clients(r),
	       "v64: family any: TO_V4 alone, an IPv4 rule serving both families");
	{
		struct in6_addr m10 = ip6("::ffff:10.0.0.1"), p2001 = ip6("2001:db8::");

		tap_ok(r->from.n == 3 && r->from.v6 &&
			       memcmp(&r->from.pfx[0].addr6, &m10, 16) == 0 &&
			       r->from.pfx[0].len == 128 && r->from.pfx[1].len == 96 + 24 &&
			       memcmp(&r->from.pfx[2].addr6, &p2001, 16) == 0 &&
			       r->from.pfx[2].len == 32,
		       "v64: family any mixed list: IPv4 prefixes IPv4-mapped, sorted");
	}
	r = &rs.rules[3];
	tap_ok(r->flags == XM_RULE_TO_V4 && r->from.n == 1 && !r->from.v6 &&
		       r->from.pfx[0].addr == ip("192.0.2.0") && r->from.pfx[0].len == 24,
	       "v64: family any after from; an IPv4-only list stays an IPv4 list");
	r = &rs.rules[4];
	tap_ok(r->flags == 0 && !r->from.v6 && r->from.pfx[0].addr == ip("192.0.2.0"),
	       "v64: family ipv4 is the default for an IPv4 backend (not printed)");
	TAP_EQ(rs.rules[5].flags, XM_RULE_TO_V4 | XM_RULE_ALLOW_SPECIAL,
	       "v64: allow-special waives the IPv4 backend check of family any");
	TAP_EQ(rs.rules[6].flags, XM_RULE_V6, "v64: family ipv6 on an IPv6 backend is the default");
	TAP_EQ(rs.rules[7].flags, XM_RULE_V6 | XM_RULE_TO_V4,
	       "v64: family ipv6 with an IPv6 local address");
	r = &rs.rules[8];
	tap_ok(r->flags == XM_RULE_TO_V4 && r->as.n == 2 && r->as.addr[0] == ip("192.0.2.1") &&
		       r->as.addr[1] == ip("192.0.2.9"),
	       "v64: family any with an `as` list: both families' flows leave with its addresses");
	r = &rs.rules[9];
	tap_ok(r->flags == (XM_RULE_V6 | XM_RULE_TO_V4) && r->as.n == 1 &&
		       r->as.addr[0] == ip("192.0.2.9"),
	       "v64: 6->4 with an IPv6 local address and an `as` address");
	if (tap_ok(parse_ok(all, strlen(all), &rs2, "v64 round trip"), "v64: canonical forms parse "
								       "again")) {
		int same = rs2.n_rules == rs.n_rules;

		for (size_t i = 0; same && i < rs.n_rules; i++)
			same = same_rule(&rs.rules[i], &rs2.rules[i]);
		tap_ok(same, "v64: round trip gives the same rules");
		xm_ruleset_free(&rs2);
	}
	xm_ruleset_free(&rs);
}

static void test_v64_overlap(void)
{
	static const char ok[] = "forward eth0 tcp 80 to [fd00::1]\n"
				 "forward eth0:192.0.2.1 tcp 80 to 10.0.0.2\n"
				 "forward eth0:[2001:db8::1] tcp 80 to 10.0.0.3\n"
				 "forward eth1 tcp 80 to 10.0.0.4 family any\n"
				 "forward eth1:[2001:db8::1] tcp 80 to 10.0.0.5\n"
				 "forward eth1:192.0.2.1 tcp 80 to 10.0.0.6\n";
	struct xm_ruleset rs;

	tap_ok(parse_ok(ok, strlen(ok), &rs, "v64 no overlap") && rs.n_rules == 6,
	       "v64: a family any rule leaves other addresses' rules of both families alone");
	xm_ruleset_free(&rs);
	bad("forward eth0 tcp 80 to [fd00::1]\nforward eth0 tcp 80 to 10.0.0.1 family ipv6\n",
	    FN ":2:18: port 80 overlaps the rule on line 1 (expected each IPv6 eth0 tcp port in "
	       "one rule only)",
	    "a 6->4 rule overlapping a 6->6 rule");
	bad("forward eth0 tcp 80-90 to [fd00::1]\nforward eth0 tcp 85 to 10.0.0.1 family any\n",
	    FN ":2:18: port 85 overlaps the rule on line 1 (expected each IPv6 eth0 tcp port in "
	       "one rule only)",
	    "the IPv6 half of a family any rule overlapping a 6->6 rule");
	bad("forward eth0 tcp 80-90 to 10.0.0.9\nforward eth0 tcp 85-95 to 10.0.0.1 family any\n",
	    FN ":2:18: ports 85-90 overlap the rule on line 1 (expected each eth0 tcp port in one "
	       "rule only)",
	    "the IPv4 half of a family any rule overlapping an IPv4 rule");
	bad("forward eth0 tcp 80 to 10.0.0.1 family any\nforward eth0 tcp 80 to [fd00::1]\n",
	    FN ":2:18: port 80 overlaps the rule on line 1 (expected each IPv6 eth0 tcp port in "
	       "one rule only)",
	    "a 6->6 rule overlapping the IPv6 half of an earlier family any rule");
	bad("forward eth0:[2001:db8::1] tcp 80 to 10.0.0.1\n"
	    "forward eth0:[2001:db8::1] tcp 80 to [fd00::1]\n",
	    FN ":2:32: port 80 overlaps the rule on line 1 (expected each IPv6 "
	       "eth0:[2001:db8::1] tcp port in one rule only)",
	    "two IPv6 rules for one local address, 6->4 and 6->6");
}

static void test_bad_v64(void)
{
	static const struct {
		const char *text, *want, *what;
	} t[] = {
		{ "forward eth0 tcp 443 to 198.18.0.2 family ipv6 keep-source",
		  ":1:48: keep-source on a forward for IPv6 clients of an IPv4 backend (family "
		  "ipv6): an IPv6 client's address cannot be an IPv4 packet's source (drop "
		  "keep-source, or family ipv4 for IPv4 clients only)",
		  "keep-source on a 6->4 rule" },
		{ "forward eth0 tcp 443 to 198.18.0.2 keep-source family any",
		  ":1:36: keep-source on a forward for IPv6 clients of an IPv4 backend (family "
		  "any): an IPv6 client's address cannot be an IPv4 packet's source (drop "
		  "keep-source, or family ipv4 for IPv4 clients only)",
		  "keep-source on a family any rule" },
		{ "forward eth0 tcp 443 to 198.18.0.2 family ipv6 from 192.0.2.0/24,2001:db8::/32",
		  ":1:53: IPv4 prefix '192.0.2.0/24' in the 'from' list of a forward for IPv6 "
		  "clients only (family ipv6) would admit no one (expected IPv6 prefixes such as "
		  "2001:db8:100::/48, or family any to admit IPv4 clients too)",
		  "an IPv4 prefix in a family ipv6 list" },
		{ "forward eth0 tcp 443 to 198.18.0.2 from 192.0.2.0/24 family ipv6",
		  ":1:41: IPv4 prefix '192.0.2.0/24' in the 'from' list of a forward for IPv6 "
		  "clients only (family ipv6) would admit no one (expected IPv6 prefixes such as "
		  "2001:db8:100::/48, or family any to admit IPv4 clients too)",
		  "a list of IPv4 prefixes only, family ipv6 after it" },
		{ "forward eth0:[2001:db8::1] tcp 443 to 198.18.0.2 from 192.0.2.0/24",
		  ":1:55: IPv4 prefix '192.0.2.0/24' in the 'from' list of a forward for IPv6 "
		  "clients (expected IPv6 prefixes such as 2001:db8:100::/48: an IPv6 local "
		  "address admits IPv6 clients only)",
		  "an IPv4 prefix in a 6->4 list with an IPv6 local address" },
		{ "forward eth0 tcp 443 to 198.18.0.2 family ipv4 from 2001:db8::/32",
		  ":1:53: IPv6 prefix '2001:db8::/32' in the 'from' list of a forward for IPv4 "
		  "clients (expected IPv4 prefixes such as 192.0.2.0/25, or family any to admit "
		  "IPv6 clients too)",
		  "an IPv6 prefix in a family ipv4 list" },
		{ "forward eth0:192.0.2.1 tcp 443 to 198.18.0.2 from 2001:db8::/32",
		  ":1:51: IPv6 prefix '2001:db8::/32' in the 'from' list of an IPv4 forward "
		  "(expected IPv4 prefixes such as 192.0.2.0/25: an IPv4 local address admits IPv4 "
		  "clients only)",
		  "an IPv6 prefix in a list of a rule with an IPv4 local address" },
		{ "forward eth0 tcp 443 to 198.18.0.2 family any from ::ffff:10.0.0.0/104",
		  ":1:52: IPv4-mapped prefix '::ffff:10.0.0.0/104' in the 'from' list (expected "
		  "IPv6 prefixes such as 2001:db8:100::/48, or the IPv4 prefix written as one, "
		  "such as 192.0.2.0/24)",
		  "an IPv4-mapped prefix in a family any list" },
		{ "forward eth0 tcp 443 to [fd00::1] family any",
		  ":1:42: IPv4 clients of an IPv6 backend are not supported (expected family ipv6, "
		  "or no family: a forward to an IPv6 backend serves IPv6 clients)",
		  "family any with an IPv6 backend" },
		{ "forward eth0 tcp 443 to [fd00::1] family ipv4",
		  ":1:42: IPv4 clients of an IPv6 backend are not supported (expected family ipv6, "
		  "or no family: a forward to an IPv6 backend serves IPv6 clients)",
		  "family ipv4 with an IPv6 backend" },
		{ "forward eth0:192.0.2.1 tcp 443 to 198.18.0.2 family ipv6",
		  ":1:53: family ipv6 with an IPv4 local address (expected family ipv4, an IPv6 "
		  "local address such as eth0:[2001:db8:1::1] for IPv6 clients, or eth0 alone for "
		  "family any)",
		  "family ipv6 with an IPv4 local address" },
		{ "forward eth0:192.0.2.1 tcp 443 to 198.18.0.2 family any",
		  ":1:53: family any with an IPv4 local address (expected family ipv4, an IPv6 "
		  "local address such as eth0:[2001:db8:1::1] for IPv6 clients, or eth0 alone for "
		  "family any)",
		  "family any with an IPv4 local address" },
		{ "forward eth0:[2001:db8::1] tcp 443 to 198.18.0.2 family ipv4",
		  ":1:57: family ipv4 with an IPv6 local address (expected family ipv6, an IPv4 "
		  "local address for IPv4 clients, or eth0 alone for family any)",
		  "family ipv4 with an IPv6 local address" },
		{ "forward eth0:[2001:db8::1] tcp 443 to 198.18.0.2 family any",
		  ":1:57: family any with an IPv6 local address (expected family ipv6, an IPv4 "
		  "local address for IPv4 clients, or eth0 alone for family any)",
		  "family any with an IPv6 local address" },
		{ "forward eth0 tcp 443 to 198.18.0.2 family any family any",
		  ":1:47: duplicate option 'family' (expected each option at most once)",
		  "family twice" },
		{ "forward eth0 tcp 443 to 198.18.0.2 family",
		  ":1:42: missing family after 'family' (expected ipv4, ipv6 or any)",
		  "family without a value" },
		{ "forward eth0 tcp 443 to 198.18.0.2 family ip6",
		  ":1:43: unknown family 'ip6' (expected ipv4, ipv6 or any)", "an unknown family" },
		{ "forward eth0 tcp 443 to 127.0.0.1 family ipv6",
		  ":1:25: refusing to forward to 127.0.0.1: loopback (add allow-special to the "
		  "rule "
		  "if this is really wanted)",
		  "a 6->4 rule to a loopback backend" },
		{ "forward eth0:[2001:db8::1] tcp 443 to 169.254.169.254",
		  ":1:39: refusing to forward to 169.254.169.254: cloud metadata service (add "
		  "allow-special to the rule if this is really wanted)",
		  "a 6->4 rule to the metadata service" },
	};
	char want[1024];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(want, sizeof(want), FN "%s", t[i].want);
		bad(t[i].text, want, t[i].what);
	}
}

static void test_v64_parse_line(void)
{
	static const char *const lines[] = {
		"forward eth0 tcp 443 to 198.18.0.2 family any",
		"forward eth0 tcp 443 to 198.18.0.2 family ipv6",
		"forward eth0:[2001:db8::1] tcp 443 to 198.18.0.2",
	};
	enum xm_line_kind kind;
	struct xm_rule r;
	char err[256];

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		int rc = xm_rules_parse_line(lines[i], strlen(lines[i]), 3, FN, &r, &kind, err,
					     sizeof(err));

		tap_ok(rc == 0 && kind == XM_LINE_OTHER,
		       "parse_line: '%s' takes the full path (IPv6 clients)", lines[i]);
	}
}

int main(void)
{
	test_single_rule();
	test_range_local_keep();
	test_port_mappings();
	test_no_overlap();
	test_allow_special();
	test_masquerade();
	test_settings();
	test_empty_and_comments();
	test_layout();
	test_crlf();
	test_round_trip();
	test_format_small_buffer();
	test_special_reasons();
	test_bad_statements();
	test_bad_ports();
	test_bad_forward_shape();
	test_bad_iface();
	test_bad_special();
	test_bad_overlap();
	test_bad_masquerade();
	test_bad_settings();
	test_bad_bytes();
	test_bad_long();
	test_as_lists();
	test_bad_as();
	test_as6_lists();
	test_as6_longest();
	test_bad_as6();
	test_from_lists();
	test_from_max();
	test_bad_from();
	test_flows_per_source();
	test_limits();
	test_files();
	test_small_err_buffer();
	test_error_place();
	test_parse_line();
	test_v6_forwards();
	test_v6_overlap();
	test_v6_special_reasons();
	test_v6_helpers();
	test_bad_v6();
	test_v6_parse_line();
	test_v6_masquerade();
	test_bad_v6_masquerade();
	test_v64_forwards();
	test_v64_overlap();
	test_bad_v64();
	test_v64_parse_line();
	return tap_done();
}
