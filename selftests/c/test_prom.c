// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The Prometheus text of the rules (render_prom.c) from a snapshot made
 * here, no router needed: each rule's text and interface once, in
 * xmasq_rule_info; its counters labelled by id only; label values escaped;
 * one HELP and TYPE per family. And the rule formatter it uses (rules.c,
 * without snprintf): the canonical texts, cut as snprintf cuts. */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "xmasq.h"
#include "tap.h"

static uint32_t ip(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static struct xm_rule_meta forward(const char *ifname, uint8_t proto, uint16_t lo, uint16_t hi,
				   const char *to, uint16_t to_lo, uint16_t to_hi)
{
	struct xm_rule_meta m = { .in_use = 1, .proto = proto };

	/* all of its XM_IFNAMSIZ bytes, not NUL-ended when that long */
	memcpy(m.ifname, ifname, strnlen(ifname, sizeof(m.ifname)));
	m.to_addr = ip(to);
	m.from_port_lo = lo;
	m.from_port_hi = hi;
	m.to_port_lo = to_lo;
	m.to_port_hi = to_hi;
	return m;
}

/* Lines of text that start with prefix. */
static int count_lines(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += strncmp(p, prefix, strlen(prefix)) == 0;
	return n;
}

/* The line is in text, whole. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

static void test_rule_series(void)
{
	struct xm_src_prefix pfx[2] = { { .addr = ip("192.0.2.0"), .len = 25 },
					{ .addr = ip("203.0.113.9"), .len = 32 } };
	struct xm_rule_info r[3] = { 0 };
	struct xm_snapshot s = { 0 };
	char *buf = NULL;
	size_t len = 0;

	r[0].id = 3;
	r[0].meta = forward("eth0", 6, 8080, 8080, "198.18.0.2", 80, 80);
	r[0].st = (struct xm_rule_stats){ .packets = { 5, 4 }, .bytes = { 500, 400 }, .flows = 2 };
	/* an interface name with a quote and a backslash (Linux allows both),
	 * a port range, a from list, counters at their largest */
	r[1].id = 70000;
	r[1].meta = forward("we\"ird\\", 17, 5000, 5010, "198.18.0.7", 5000, 5010);
	r[1].meta.daddr = ip("198.51.100.4");
	r[1].meta.flags = XM_RULE_KEEP_SOURCE | 1u << XM_RULE_META_ALLOW_SHIFT;
	r[1].from = (struct xm_src_list){ .n = 2, .pfx = pfx };
	r[1].refused = 9;
	r[1].st.bytes[1] = UINT64_MAX;
	r[2].id = 9;
	r[2].meta = (struct xm_rule_meta){ .in_use = 1,
					   .ifname = "eth1",
					   .daddr = ip("198.18.0.0"),
					   .prefix_len = 15,
					   .flags = XM_RULE_MASQUERADE };
	r[2].as = (struct xm_addr_set){ .n = 2, .addr = { ip("192.0.2.1"), ip("192.0.2.3") } };
	s.rules = r;
	s.n_rules = 3;

	{
		int rc = xm_render_prometheus(&s, NULL, &buf, &len);

		if (!tap_ok(rc == 0 && buf && strlen(buf) == len, "render: the text, %zu bytes",
			    len))
			return;
	}
	tap_ok(has_line(buf, "xmasq_rule_info{id=\"3\",rule=\"forward eth0 tcp 8080 to "
			     "198.18.0.2:80\",iface=\"eth0\"} 1"),
	       "xmasq_rule_info: id, text and interface of a rule");
	tap_ok(has_line(buf, "xmasq_rule_info{id=\"70000\",rule=\"forward "
			     "we\\\"ird\\\\:198.51.100.4 "
			     "udp 5000-5010 to 198.18.0.7:5000-5010 keep-source from "
			     "192.0.2.0/25,203.0.113.9\",iface=\"we\\\"ird\\\\\"} 1"),
	       "xmasq_rule_info: quote and backslash escaped, local address, range, from list");
	tap_ok(has_line(buf, "xmasq_rule_info{id=\"9\",rule=\"masquerade 198.18.0.0/15 out eth1 as "
			     "192.0.2.1,192.0.2.3\",iface=\"eth1\"} 1"),
	       "xmasq_rule_info: a masquerade with its as list");
	tap_ok(has_line(buf, "xmasq_rule_packets_total{id=\"3\",dir=\"orig\"} 5") &&
		       has_line(buf, "xmasq_rule_packets_total{id=\"3\",dir=\"reply\"} 4") &&
		       has_line(buf, "xmasq_rule_bytes_total{id=\"3\",dir=\"orig\"} 500") &&
		       has_line(buf, "xmasq_rule_bytes_total{id=\"3\",dir=\"reply\"} 400") &&
		       has_line(buf, "xmasq_rule_flows_total{id=\"3\"} 2"),
	       "rule series: labelled by id (and dir), their values");
	tap_ok(has_line(buf, "xmasq_rule_bytes_total{id=\"70000\",dir=\"reply\"} "
			     "18446744073709551615"),
	       "rule series: a counter at 2^64-1 in full");
	tap_ok(has_line(buf, "xmasq_rule_refused_total{id=\"70000\"} 9") &&
		       count_lines(buf, "xmasq_rule_refused_total{") == 1,
	       "xmasq_rule_refused_total: only for the rule with a from list");
	TAP_EQ(count_lines(buf, "xmasq_rule_info{"), 3, "xmasq_rule_info: one series per rule");
	TAP_EQ(count_lines(buf, "xmasq_rule_packets_total{"), 6, "packets: two series per rule");
	{
		int texts = 0;

		for (const char *p = strstr(buf, "rule=\""); p; p = strstr(p + 1, "rule=\""))
			texts++;
		TAP_EQ(texts, 3, "a rule's text appears once, in xmasq_rule_info only");
	}
	{
		static const char *const fam[] = { "xmasq_rule_info", "xmasq_rule_packets_total",
						   "xmasq_rule_bytes_total",
						   "xmasq_rule_flows_total",
						   "xmasq_rule_refused_total" };
		int ok = 1;

		for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
			char help[64], type[64];

			snprintf(help, sizeof(help), "# HELP %s ", fam[i]);
			snprintf(type, sizeof(type), "# TYPE %s ", fam[i]);
			if (count_lines(buf, help) != 1 || count_lines(buf, type) != 1) {
				tap_diag("%s: %d HELP, %d TYPE", fam[i], count_lines(buf, help),
					 count_lines(buf, type));
				ok = 0;
			}
		}
		tap_ok(ok, "one HELP and one TYPE line per rule family");
	}
	free(buf);
}

static void test_format_cut(void)
{
	struct xm_rule r = { .ifname = "eth0",
			     .proto = 6,
			     .from_lo = 8080,
			     .from_hi = 8080,
			     .to_lo = 80,
			     .to_hi = 80 };
	char buf[64], cut[11];

	r.to_addr = ip("255.255.255.255");
	xm_rule_format(&r, buf, sizeof(buf));
	tap_ok(strcmp(buf, "forward eth0 tcp 8080 to 255.255.255.255:80") == 0,
	       "xm_rule_format: '%s'", buf);
	memset(cut, 'x', sizeof(cut));
	xm_rule_format(&r, cut, sizeof(cut));
	tap_ok(strcmp(cut, "forward et") == 0, "xm_rule_format: cut to 10 bytes and a NUL ('%s')",
	       cut);
	cut[0] = 'x';
	xm_rule_format(&r, cut, 1);
	tap_ok(cut[0] == 0, "xm_rule_format: a 1-byte buffer gets the NUL only");
}

/* /metrics is sent a part at a time (xmasqd): the parts make the same
 * text, over more rules than one part holds. */
static void test_stream(void)
{
	size_t n = 2500, len = 0, got = 0, parts = 0;
	struct xm_rule_info *r = calloc(n, sizeof(*r));
	struct xm_snapshot s = { 0 };
	struct xm_prom_stream *g;
	char *whole = NULL, *joined;
	const char *part;
	ssize_t k;
	int same = 0;

	for (size_t i = 0; r && i < n; i++) {
		r[i].id = (uint32_t)i + 1;
		r[i].meta = forward("eth0", i % 2 ? 17 : 6, (uint16_t)(1000 + i),
				    (uint16_t)(1000 + i), "198.18.0.2", 80, 80);
		r[i].st.packets[0] = i * 7;
		r[i].st.bytes[1] = i * 1000;
	}
	s.rules = r;
	s.n_rules = n;
	if (!r || xm_render_prometheus(&s, NULL, &whole, &len)) {
		tap_ok(0, "stream: the whole text to compare with");
		free(r);
		return;
	}
	joined = malloc(len + 1);
	g = xm_prom_stream_new(&s, NULL);
	while (g && joined && (k = xm_prom_stream_next(g, &part)) > 0 && got + (size_t)k <= len) {
		memcpy(joined + got, part, (size_t)k);
		got += (size_t)k;
		parts++;
	}
	same = g && joined && got == len && !memcmp(joined, whole, len);
	tap_ok(same && parts > 5, "stream: %zu parts make the same %zu bytes as the whole text",
	       parts, len);
	xm_prom_stream_free(g);
	free(joined);
	free(whole);
	free(r);
}

/* xmasqd's /metrics: the flow table's walk ends while the rules' series
 * are sent (xm_prom_stream_wait): the wait comes once, after every rule
 * series and before the families that show the walk's figures, which
 * then have what the wait filled in; a failed wait ends the stream. */
struct walk_end {
	struct xm_snapshot *s;
	size_t *got; /* bytes streamed so far */
	size_t at;   /* ... when the wait came */
	int calls, fail;
};

static int walk_end(void *arg)
{
	struct walk_end *w = arg;

	w->calls++;
	w->at = *w->got;
	w->s->flows = 4242;
	return w->fail ? -1 : 0;
}

static void test_stream_wait(void)
{
	size_t n = 1500, got = 0;
	struct xm_rule_info *r = calloc(n, sizeof(*r));
	struct xm_snapshot s = { 0 };
	struct walk_end w = { .s = &s, .got = &got };
	struct xm_prom_stream *g;
	char *text = malloc(4 << 20);
	const char *part, *last_rule, *flows;
	ssize_t k = 0;

	for (size_t i = 0; r && i < n; i++) {
		r[i].id = (uint32_t)i + 1;
		r[i].meta = forward("eth0", 6, (uint16_t)(1000 + i), (uint16_t)(1000 + i),
				    "198.18.0.2", 80, 80);
	}
	s.rules = r;
	s.n_rules = n;
	g = xm_prom_stream_new(&s, NULL);
	if (!r || !text || !g) {
		tap_ok(0, "stream wait: set up");
		goto out;
	}
	xm_prom_stream_wait(g, walk_end, &w);
	while ((k = xm_prom_stream_next(g, &part)) > 0 && got + (size_t)k < (4 << 20)) {
		memcpy(text + got, part, (size_t)k);
		got += (size_t)k;
	}
	text[got] = 0;
	last_rule = strstr(text, "xmasq_rule_flows_total{id=\"1500\"}");
	flows = strstr(text, "\nxmasq_flows 4242\n");
	tap_ok(k == 0 && w.calls == 1 && last_rule && last_rule < text + w.at && flows &&
		       flows >= text + w.at - 1,
	       "stream wait: once (%d), after the rules' series (%zu of %zu bytes), before "
	       "xmasq_flows, which shows what it filled in",
	       w.calls, w.at, got);
	xm_prom_stream_free(g);

	got = 0;
	w = (struct walk_end){ .s = &s, .got = &got, .fail = 1 };
	g = xm_prom_stream_new(&s, NULL);
	if (g)
		xm_prom_stream_wait(g, walk_end, &w);
	while (g && (k = xm_prom_stream_next(g, &part)) > 0)
		got += (size_t)k;
	tap_ok(g && k == -1 && w.calls == 1 && got == w.at, "stream wait: a failed wait ends the "
							    "stream with -1, nothing after it");
out:
	xm_prom_stream_free(g);
	free(text);
	free(r);
}

int main(void)
{
	test_rule_series();
	test_stream();
	test_stream_wait();
	test_format_cut();
	return tap_done();
}
