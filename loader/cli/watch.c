// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* One screen of `xmasq stats --watch N`: totals and rates per second since
 * the previous screen, like top. Rates need a previous sample of the same
 * object: an interface is matched by ifindex, a rule by id AND by its
 * definition (apply may give a freed id to another rule), and a counter
 * that went backwards (maps re-created by detach --all + attach) shows no
 * rate rather than a nonsense one. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cli.h"

/* "-" when there is no previous value or the counter went backwards, else
 * the rate with an SI suffix so that columns stay narrow. */
static const char *rate(char *buf, size_t len, int have_prev, __u64 prev, __u64 cur, double secs)
{
	static const char *const unit[] = { "", "k", "M", "G", "T" };
	double r;
	int u = 0;

	if (!have_prev || cur < prev || secs <= 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	r = (double)(cur - prev) / secs;
	while (r >= 1000 && u < 4) {
		r /= 1000;
		u++;
	}
	if (u == 0 && r == (double)(__u64)r)
		snprintf(buf, len, "%.0f", r);
	else
		snprintf(buf, len, "%.1f%s", r, unit[u]);
	return buf;
}

static const struct xm_iface_info *prev_iface(const struct xm_snapshot *p, __u32 ifindex)
{
	for (size_t i = 0; p && i < p->n_ifaces; i++)
		if (p->ifaces[i].iface.ifindex == ifindex)
			return &p->ifaces[i];
	return NULL;
}

static const struct xm_rule_info *prev_rule(const struct xm_snapshot *p,
					    const struct xm_rule_info *r)
{
	for (size_t i = 0; p && i < p->n_rules; i++)
		if (p->rules[i].id == r->id &&
		    !memcmp(&p->rules[i].meta, &r->meta, sizeof(r->meta)))
			return &p->rules[i];
	return NULL;
}

static void ifaces(FILE *o, const struct xm_snapshot *p, const struct xm_snapshot *s, double secs)
{
	char r1[16], r2[16], r3[16], r4[16];

	fprintf(o, "%-12s %12s %9s %9s %12s %9s %9s %12s %12s\n", "INTERFACE", "RX PKTS", "PKT/S",
		"BYTE/S", "TX PKTS", "PKT/S", "BYTE/S", "TX BY XDP", "TX BY TC");
	for (size_t i = 0; i < s->n_ifaces; i++) {
		const struct xm_iface_info *ii = &s->ifaces[i],
					   *pi = prev_iface(p, ii->iface.ifindex);
		const struct xm_iface_stats *a = pi ? &pi->st : NULL, *b = &ii->st;

		fprintf(o, "%-12s %12llu %9s %9s %12llu %9s %9s %12llu %12llu\n", ii->name,
			(unsigned long long)b->rx_packets,
			rate(r1, sizeof(r1), !!a, a ? a->rx_packets : 0, b->rx_packets, secs),
			rate(r2, sizeof(r2), !!a, a ? a->rx_bytes : 0, b->rx_bytes, secs),
			(unsigned long long)b->tx_packets,
			rate(r3, sizeof(r3), !!a, a ? a->tx_packets : 0, b->tx_packets, secs),
			rate(r4, sizeof(r4), !!a, a ? a->tx_bytes : 0, b->tx_bytes, secs),
			(unsigned long long)b->tx_xdp, (unsigned long long)b->tx_tc);
	}
}

static void rules(FILE *o, const struct xm_snapshot *p, const struct xm_snapshot *s, double secs)
{
	char text[320], r0[16], r1[16], r2[16], r3[16], r4[16];

	fprintf(o, "\n%4s %-44s %7s %7s %10s %8s %8s %10s %8s %8s\n", "ID", "RULE", "FLOWS",
		"FLOW/S", "PKTS IN", "PKT/S", "BYTE/S", "PKTS BACK", "PKT/S", "BYTE/S");
	if (!s->n_rules)
		fprintf(o, "     (no rules: xmasq apply FILE)\n");
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct xm_rule_info *ri = &s->rules[i], *pr = prev_rule(p, ri);
		const struct xm_rule_stats *a = pr ? &pr->st : NULL, *b = &ri->st;

		xm_rule_meta_format(&ri->meta, &ri->addrs6, &ri->as, &ri->as6, &ri->from, text,
				    sizeof(text));
		fprintf(o, "%4u %-44s %7llu %7s %10llu %8s %8s %10llu %8s %8s\n", ri->id, text,
			(unsigned long long)b->flows,
			rate(r0, sizeof(r0), !!a, a ? a->flows : 0, b->flows, secs),
			(unsigned long long)b->packets[XM_DIR_ORIG],
			rate(r1, sizeof(r1), !!a, a ? a->packets[XM_DIR_ORIG] : 0,
			     b->packets[XM_DIR_ORIG], secs),
			rate(r2, sizeof(r2), !!a, a ? a->bytes[XM_DIR_ORIG] : 0,
			     b->bytes[XM_DIR_ORIG], secs),
			(unsigned long long)b->packets[XM_DIR_REPLY],
			rate(r3, sizeof(r3), !!a, a ? a->packets[XM_DIR_REPLY] : 0,
			     b->packets[XM_DIR_REPLY], secs),
			rate(r4, sizeof(r4), !!a, a ? a->bytes[XM_DIR_REPLY] : 0,
			     b->bytes[XM_DIR_REPLY], secs));
	}
}

/* Only counters that are not zero: on a healthy router that is a handful,
 * and a drop reason appearing is what the operator watches for. */
static void counters(FILE *o, const struct xm_snapshot *p, const struct xm_snapshot *s, double secs)
{
	char r1[16];
	int shown = 0;

	fprintf(o, "\n%-22s %12s %9s  %s\n", "COUNTER (not zero)", "PACKETS", "PKT/S", "MEANING");
	for (int c = 0; c < XM_C_MAX; c++) {
		__u64 v = s->counters[c].packets;

		if (!v)
			continue;
		fprintf(o, "%-22s %12llu %9s  %s\n", xm_counter_names[c], (unsigned long long)v,
			rate(r1, sizeof(r1), !!p, p ? p->counters[c].packets : 0, v, secs),
			xm_counter_help[c]);
		shown++;
	}
	if (!shown)
		fprintf(o, "(every counter is zero)\n");
}

void xm_print_watch(FILE *o, const char *pin_dir, double interval, const struct xm_snapshot *prev,
		    const struct xm_snapshot *s, const struct xm_port_use *pu, double secs)
{
	char when[32], r[16];
	time_t now = time(NULL);
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
	fprintf(o, "xmasq stats, every %gs, %s, %s (Ctrl-C quits)\n", interval, when, pin_dir);
	fprintf(o, "flows %lu of %lu (%.1f%%)  %s new/s   rules %zu (%lu port entries)\n", s->flows,
		s->flows_max, s->flows_max ? 100.0 * (double)s->flows / (double)s->flows_max : 0.0,
		rate(r, sizeof(r), !!prev, prev ? prev->counters[XM_C_FLOW_NEW].packets : 0,
		     s->counters[XM_C_FLOW_NEW].packets, secs),
		s->n_rules, s->rule_ports);
	xm_print_port_use_text(o, pu, 0);
	fputc('\n', o);
	ifaces(o, prev, s, secs);
	rules(o, prev, s, secs);
	counters(o, prev, s, secs);
}
