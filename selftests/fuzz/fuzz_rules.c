// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness of the rules parser (loader/lib/rules.c): any bytes as
 * a rules file. Invariants, checked on every input (ASan and UBSan watch
 * for the rest):
 *  - an error is one line "rules:LINE:COL: message" whose place lies in
 *    the input (LINE one of its lines, COL at most one past that line's
 *    end), or "rules: out of memory";
 *  - an accepted text rendered back (xm_rule_format, xm_masq_format and
 *    the settings) parses again to the same rule set, and renders the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

#define FNAME "rules"

static void die(const char *what, const uint8_t *data, size_t len, const char *detail)
{
	fprintf(stderr, "fuzz_rules: %s\n  %s\n  input (%zu bytes): ", what, detail, len);
	for (size_t i = 0; i < len && i < 512; i++)
		fprintf(stderr, "%02x", data[i]);
	fprintf(stderr, "\n");
	abort();
}

/* Length of line `line` (1-based) of the text, without '\n'; -1 past the end. */
static long line_len(const uint8_t *data, size_t len, unsigned line)
{
	size_t pos = 0;

	for (unsigned l = 1;; l++) {
		const uint8_t *nl = pos < len ? memchr(data + pos, '\n', len - pos) : NULL;
		size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;

		if (l == line)
			return pos <= len ? (long)n : -1;
		if (!nl)
			return -1;
		pos += n + 1;
	}
}

static void check_error(const uint8_t *data, size_t len, int rc, const char *err)
{
	unsigned line, col;
	const char *msg;
	long ll;

	if (rc == -1) {
		if (strcmp(err, FNAME ": out of memory"))
			die("-1 without 'out of memory'", data, len, err);
		return;
	}
	if (rc != -2)
		die("parse returned neither 0, -1 nor -2", data, len, err);
	if (strchr(err, '\n'))
		die("error spans lines", data, len, err);
	if (!xm_rules_error_place(err, FNAME, &line, &col, &msg) || !*msg)
		die("error without FILE:LINE:COL: message", data, len, err);
	ll = line_len(data, len, line);
	if (line == 0 || ll < 0)
		die("error line outside the input", data, len, err);
	if (col == 0 || col > (unsigned long)ll + 1)
		die("error column outside its line", data, len, err);
}

/* The canonical text of a rule set: one statement a line. */
static char *render(const struct xm_ruleset *rs, size_t *outlen)
{
	struct xm_settings def;
	size_t cap = 256 + (rs->n_rules + rs->n_masqs) * 256 + XM_TO_MAX * 64, n = 0;
	char *buf;

	/* a `from` list is longer than the rest of its rule: up to 45 bytes a
	 * prefix; an `as` list up to 40 bytes an (IPv6) address */
	for (size_t i = 0; i < rs->n_rules; i++)
		cap += rs->rules[i].from.n * 45u + rs->rules[i].as.n * 40u;
	for (size_t i = 0; i < rs->n_masqs; i++)
		cap += rs->masqs[i].as.n * 40u;
	buf = malloc(cap + 1);
	if (!buf)
		abort();
	xm_settings_default(&def);
	for (size_t i = 0; i < rs->n_rules; i++) {
		xm_rule_format(&rs->rules[i], buf + n, cap - n);
		n += strlen(buf + n);
		buf[n++] = '\n';
	}
	for (size_t i = 0; i < rs->n_masqs; i++) {
		xm_masq_format(&rs->masqs[i], buf + n, cap - n);
		n += strlen(buf + n);
		buf[n++] = '\n';
	}
	const struct xm_settings *s = &rs->settings;
	if (s->ct_max != def.ct_max)
		n += (size_t)snprintf(buf + n, cap - n, "set conntrack-max %u\n", s->ct_max);
	if (s->port_lo != def.port_lo || s->port_hi != def.port_hi)
		n += (size_t)snprintf(buf + n, cap - n, "set port-range %u-%u\n", s->port_lo,
				      s->port_hi);
	for (int i = 0; i < XM_TO_MAX; i++)
		if (s->timeouts[i] != def.timeouts[i])
			n += (size_t)snprintf(buf + n, cap - n, "set timeout %s %u\n",
					      xm_timeout_names[i], s->timeouts[i]);
	if (s->nat_flags & (XM_CFG_NAT_FILTER_ADDR | XM_CFG_NAT_FILTER_ANY))
		n += (size_t)snprintf(buf + n, cap - n, "set nat-filtering %s\n",
				      xm_nat_filtering_name(s->nat_flags));
	if (s->nat_flags & XM_CFG_NAT_NO_INBOUND_REFRESH)
		n += (size_t)snprintf(buf + n, cap - n, "set nat-inbound-refresh no\n");
	if (n >= cap)
		abort();
	buf[n] = '\0'; /* for die() */
	*outlen = n;
	return buf;
}

/* The same rule, ignoring where it was written (and where its `from`
 * list is in memory: the lists are compared by their prefixes). */
static int same_rule(struct xm_rule a, struct xm_rule b)
{
	if (!xm_src_list_same(&a.from, &b.from) || a.from.v6 != b.from.v6)
		return 0;
	a.line = b.line = 0;
	a.iface_col = b.iface_col = 0;
	a.as.col = b.as.col = 0;
	memset(&a.from, 0, sizeof(a.from));
	memset(&b.from, 0, sizeof(b.from));
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static int same_masq(struct xm_masq a, struct xm_masq b)
{
	a.line = b.line = 0;
	a.iface_col = b.iface_col = 0;
	a.prefix_col = b.prefix_col = 0;
	a.as.col = b.as.col = 0;
	return memcmp(&a, &b, sizeof(a)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct xm_ruleset rs, again;
	char err[512], err2[512];
	size_t tlen, tlen2;
	char *text, *text2;
	int rc;

	rc = xm_rules_parse((const char *)data, len, FNAME, &rs, err, sizeof(err));
	if (rc) {
		check_error(data, len, rc, err);
		if (rs.n_rules || rs.n_masqs || rs.rules || rs.masqs)
			die("a failed parse left rules behind", data, len, err);
		return 0;
	}
	text = render(&rs, &tlen);
	rc = xm_rules_parse(text, tlen, FNAME, &again, err2, sizeof(err2));
	if (rc) {
		fprintf(stderr, "rendered:\n%.*s", (int)tlen, text);
		die("the rendered rule set does not parse", data, len, err2);
	}
	if (again.n_rules != rs.n_rules || again.n_masqs != rs.n_masqs ||
	    memcmp(&again.settings, &rs.settings, sizeof(rs.settings)) ||
	    again.total_ports != rs.total_ports)
		die("the rendered rule set parses to another set", data, len, text);
	for (size_t i = 0; i < rs.n_rules; i++)
		if (!same_rule(rs.rules[i], again.rules[i]))
			die("a rendered forward parses to another rule", data, len, text);
	for (size_t i = 0; i < rs.n_masqs; i++)
		if (!same_masq(rs.masqs[i], again.masqs[i]))
			die("a rendered masquerade parses to another rule", data, len, text);
	text2 = render(&again, &tlen2);
	if (tlen2 != tlen || memcmp(text, text2, tlen))
		die("rendering is not a fixed point", data, len, text2);
	free(text);
	free(text2);
	xm_ruleset_free(&rs);
	xm_ruleset_free(&again);
	return 0;
}
