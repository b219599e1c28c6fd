// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq stats --prometheus`: the Prometheus text exposition format, for a
 * node_exporter textfile collector or any scraper that runs a command.
 *
 * Every family gets one # HELP and one # TYPE line, then all its samples
 * together (the format forbids a family appearing twice). Counters end in
 * _total. A family with no samples (no rules yet) is left out entirely so
 * that no parser has to accept an empty family. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "xmasq_internal.h"
#include "text.h"

/* Label values: backslash, double quote and newline are the only escapes
 * the format defines; every other byte (UTF-8 included) passes as is.
 * Written into dst (room for 2 * strlen(s) + 3), returns the length. */
static size_t label_escape(char *dst, const char *s)
{
	size_t n = 0;

	dst[n++] = '"';
	/* runs without an escape copied whole (a rule's text for each of
	 * 100,000 rules: byte by byte was a fifth of the rendering) */
	for (;;) {
		size_t run = strcspn(s, "\\\"\n");

		memcpy(dst + n, s, run);
		n += run;
		s += run;
		if (!*s)
			break;
		dst[n++] = '\\';
		dst[n++] = *s == '\n' ? 'n' : *s;
		s++;
	}
	dst[n++] = '"';
	return n;
}

static void label_value(FILE *o, const char *s)
{
	char buf[2 * 512 + 3];

	if (strlen(s) < 512) {
		fwrite(buf, 1, label_escape(buf, s), o);
		return;
	}
	for (fputc('"', o); *s; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n')
			fputc('\\', o);
		fputc(*s == '\n' ? 'n' : *s, o);
	}
	fputc('"', o);
}

/* HELP text: only backslash and newline are escaped there. */
static void family(FILE *o, const char *name, const char *type, const char *help)
{
	fprintf(o, "# HELP %s ", name);
	for (; *help; help++) {
		if (*help == '\\')
			fputs("\\\\", o);
		else if (*help == '\n')
			fputs("\\n", o);
		else
			fputc(*help, o);
	}
	fprintf(o, "\n# TYPE %s %s\n", name, type);
}

static void iface_families(FILE *o, const struct xm_snapshot *s)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} f[] = {
		{ "xmasq_iface_rx_packets_total",
		  "Packets received on the interface and translated by xmasq.",
		  offsetof(struct xm_iface_stats, rx_packets) },
		{ "xmasq_iface_rx_bytes_total",
		  "Bytes received on the interface and translated by xmasq.",
		  offsetof(struct xm_iface_stats, rx_bytes) },
		{ "xmasq_iface_tx_bytes_total",
		  "Bytes xmasq translated and sent out of the interface.",
		  offsetof(struct xm_iface_stats, tx_bytes) },
	};
	char idx[16];

	if (!s->n_ifaces)
		return;
	family(o, "xmasq_iface_info", "gauge",
	       "Interface managed by xmasq (always 1): attach mode, and the path translated "
	       "packets leave it by.");
	for (size_t i = 0; i < s->n_ifaces; i++) {
		const struct xm_iface_info *ii = &s->ifaces[i];

		snprintf(idx, sizeof(idx), "%u", ii->iface.ifindex);
		fputs("xmasq_iface_info{iface=", o);
		label_value(o, ii->name);
		fputs(",ifindex=", o);
		label_value(o, idx);
		fprintf(o, ",mode=\"%s\",tx_path=\"%s\"} 1\n", xm_iface_mode_name(&ii->iface),
			ii->tx_path);
	}
	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
		family(o, f[k].name, "counter", f[k].help);
		for (size_t i = 0; i < s->n_ifaces; i++) {
			const struct xm_iface_info *ii = &s->ifaces[i];
			const __u64 *v = (const __u64 *)((const char *)&ii->st + f[k].off);

			fprintf(o, "%s{iface=", f[k].name);
			label_value(o, ii->name);
			fprintf(o, "} %llu\n", (unsigned long long)*v);
		}
	}
	/* The data plane counts tx packets once, and once more by the path
	 * (tx_xdp + tx_tc == tx_packets): the path is a label, so that
	 * sum without(path) is the total and no series is counted twice. */
	family(o, "xmasq_iface_tx_packets_total", "counter",
	       "Packets xmasq translated and sent out of the interface, by the path that sent them "
	       "(xdp or tc).");
	for (size_t i = 0; i < s->n_ifaces; i++) {
		const struct xm_iface_info *ii = &s->ifaces[i];

		fputs("xmasq_iface_tx_packets_total{iface=", o);
		label_value(o, ii->name);
		fprintf(o, ",path=\"xdp\"} %llu\n", (unsigned long long)ii->st.tx_xdp);
		fputs("xmasq_iface_tx_packets_total{iface=", o);
		label_value(o, ii->name);
		fprintf(o, ",path=\"tc\"} %llu\n", (unsigned long long)ii->st.tx_tc);
	}
}

/* The output of the rule families: one growing buffer written with
 * memcpy (30 MB for 100,000 rules; a FILE stream costs a call per piece). */
struct prom_buf {
	char *p;
	size_t len, cap;
	int oom;
};

static int pb_reserve(struct prom_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 1 << 16;
	char *np;

	if (b->oom)
		return -1;
	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	np = realloc(b->p, cap);
	if (!np) {
		b->oom = 1;
		return -1;
	}
	b->p = np;
	b->cap = cap;
	xm_hugepage_hint(np, cap);
	return 0;
}

static void pb_put(struct prom_buf *b, const void *data, size_t n)
{
	if (n == 0)
		return; /* nothing, and b->p may not exist yet: memcpy wants pointers */
	if (pb_reserve(b, n) == 0) {
		memcpy(b->p + b->len, data, n);
		b->len += n;
	}
}

/* Text written through a stream (the small families, where a FILE's
 * convenience costs nothing), then appended to b by pb_close. */
struct pb_text {
	char *text;
	size_t len;
	FILE *o;
};

static FILE *pb_open(struct prom_buf *b, struct pb_text *t)
{
	t->text = NULL;
	t->len = 0;
	t->o = b->oom ? NULL : open_memstream(&t->text, &t->len);
	if (!t->o)
		b->oom = 1;
	return t->o;
}

static void pb_close(struct prom_buf *b, struct pb_text *t)
{
	if (fclose(t->o))
		b->oom = 1;
	else
		pb_put(b, t->text, t->len);
	free(t->text);
}

/* HELP and TYPE of a family into b (the few families of the rules). */
static void pb_family(struct prom_buf *b, const char *name, const char *type, const char *help)
{
	struct pb_text t;

	if (!pb_open(b, &t))
		return;
	family(t.o, name, type, help);
	pb_close(b, &t);
}

/* xmasq_rule_info{id="N",rule="TEXT",iface="IFACE"} 1: the one series
 * that carries a rule's text, written once per rule. The rule series
 * carry its id only (a rule's text five times over was 55 MB at 100,000
 * rules): PromQL joins them, * on(id) group_left(rule, iface). */
static void rule_info_rows(struct prom_buf *b, const struct xm_rule_info *rules, size_t n)
{
	static const char head[] = "xmasq_rule_info{id=\"";

	for (size_t i = 0; i < n && !b->oom; i++) {
		const struct xm_rule_info *ri = &rules[i];
		char text[XM_RULE_TEXT_MAX], name[XM_IFNAMSIZ + 1], d[20], *id, *p;
		size_t tl, il;

		xm_rule_meta_format(&ri->meta, &ri->addrs6, &ri->as, &ri->as6, &ri->from, text,
				    sizeof(text));
		tl = strlen(text);
		/* ifname need not end within its XM_IFNAMSIZ bytes */
		il = strnlen(ri->meta.ifname, XM_IFNAMSIZ);
		memcpy(name, ri->meta.ifname, il);
		name[il] = 0;
		id = xm_u64_digits(d, ri->id);
		/* head, id, the escaped text and name (each byte at most two),
		 * the rest of the punctuation */
		if (pb_reserve(b, sizeof(head) + sizeof(d) + 2 * (tl + il) + 32))
			return;
		p = b->p + b->len;
		memcpy(p, head, sizeof(head) - 1);
		p += sizeof(head) - 1;
		memcpy(p, id, (size_t)(d + sizeof(d) - id));
		p += d + sizeof(d) - id;
		memcpy(p, "\",rule=", 7);
		p += 7;
		p += label_escape(p, text);
		memcpy(p, ",iface=", 7);
		p += 7;
		p += label_escape(p, name);
		memcpy(p, "} 1\n", 4);
		p += 4;
		b->len = (size_t)(p - b->p);
	}
}

/* A rule sample is put together from pieces copied PIECE bytes at a time
 * (constant-size copies, which the compiler inlines: calls to memcpy for
 * a few bytes each were a fourth of the rendering), the end then moved by
 * each piece's own length. So every source holds PIECE readable bytes
 * and the buffer has PIECE bytes of room past the last line. */
#define PIECE 32

struct piece {
	char s[PIECE];
	size_t len;
};

static struct piece piece_of(const char *a, const char *b)
{
	struct piece pc = { { 0 }, 0 };

	pc.len = (size_t)snprintf(pc.s, sizeof(pc.s), "%s%s", a, b);
	return pc;
}

static char *put_piece(char *p, const char *s, size_t len)
{
	memcpy(p, s, PIECE);
	return p + len;
}

/* The digits of v in buf (20 + PIECE bytes): their length; *at is their
 * start, with PIECE bytes readable from there. */
static size_t digits_in(char *buf, uint64_t v, const char **at)
{
	*at = xm_u64_digits(buf, v);
	return (size_t)(buf + 20 - *at);
}

/* NAME{id="ID"DIR} V and a newline at p (head: NAME{id=", tail: "DIR} ) */
static char *rule_sample(char *p, const struct piece *head, const char *id, size_t id_len,
			 const struct piece *tail, uint64_t v)
{
	char num[20 + PIECE];
	const char *d;
	size_t dl = digits_in(num, v, &d);

	p = put_piece(p, head->s, head->len);
	p = put_piece(p, id, id_len);
	p = put_piece(p, tail->s, tail->len);
	p = put_piece(p, d, dl);
	*p++ = '\n';
	return p;
}

static const struct rule_family {
	const char *name, *help;
	int what; /* 0 packets, 1 bytes, 2 flows, 3 refused */
} rule_fams[] = {
	{ "xmasq_rule_packets_total",
	  "Packets translated by the rule (xmasq_rule_info gives its text); dir orig is "
	  "client to backend, reply is backend to client.",
	  0 },
	{ "xmasq_rule_bytes_total",
	  "Bytes translated by the rule; dir orig is client to backend, reply is backend "
	  "to client.",
	  1 },
	{ "xmasq_rule_flows_total", "Flows (connections) the rule created.", 2 },
	{ "xmasq_rule_refused_total",
	  "New flows the rule's from list refused: their source is not in it (rules with "
	  "a from list only).",
	  3 },
};
#define N_RULE_FAMS (sizeof(rule_fams) / sizeof(rule_fams[0]))

/* The samples of rule family f for the n rules. */
static void rule_rows(struct prom_buf *b, const struct xm_rule_info *rules, size_t n,
		      const struct rule_family *f)
{
	struct piece head = piece_of(f->name, "{id=\""), plain = piece_of("\"", "} ");
	struct piece dir[XM_DIR_MAX] = { piece_of("\"", ",dir=\"orig\"} "), piece_of("\"", ",dir="
											   "\"reply"
											   "\"}"
											   " ") };
	/* name, id, dir, value and punctuation: the most a series takes;
	 * and a piece's room past the last */
	size_t room = (head.len + 64) * n * XM_DIR_MAX + PIECE;
	char *p;

	if (pb_reserve(b, room))
		return;
	p = b->p + b->len;
	for (size_t i = 0; i < n; i++) {
		const struct xm_rule_stats *st = &rules[i].st;
		char idb[20 + PIECE];
		const char *id;
		size_t il = digits_in(idb, rules[i].id, &id);

		if (f->what == 2) {
			p = rule_sample(p, &head, id, il, &plain, st->flows);
			continue;
		}
		if (f->what == 3) {
			if (rules[i].from.n)
				p = rule_sample(p, &head, id, il, &plain, rules[i].refused);
			continue;
		}
		for (int d = 0; d < XM_DIR_MAX; d++)
			p = rule_sample(p, &head, id, il, &dir[d],
					f->what ? st->bytes[d] : st->packets[d]);
	}
	b->len = (size_t)(p - b->p);
}

/* The global counters are two families labelled by counter name. A family
 * has one HELP line, so each counter's own meaning is exported as the
 * help label of xmasq_reason_info (the usual "info metric" idiom). */
static void counter_families(FILE *o, const struct xm_snapshot *s)
{
	family(o, "xmasq_packets_total", "counter",
	       "Packets counted by the data plane, by counter; xmasq_reason_info gives each "
	       "counter's meaning.");
	for (int c = 0; c < XM_C_MAX; c++)
		fprintf(o, "xmasq_packets_total{counter=\"%s\"} %llu\n", xm_counter_names[c],
			(unsigned long long)s->counters[c].packets);
	family(o, "xmasq_bytes_total", "counter",
	       "Bytes of the packets counted by the data plane, by counter.");
	for (int c = 0; c < XM_C_MAX; c++)
		fprintf(o, "xmasq_bytes_total{counter=\"%s\"} %llu\n", xm_counter_names[c],
			(unsigned long long)s->counters[c].bytes);
	family(o, "xmasq_reason_info", "gauge",
	       "Meaning of each counter of xmasq_packets_total (always 1).");
	for (int c = 0; c < XM_C_MAX; c++) {
		fprintf(o, "xmasq_reason_info{counter=\"%s\",help=", xm_counter_names[c]);
		label_value(o, xm_counter_help[c]);
		fputs("} 1\n", o);
	}
}

/* proto="tcp",addr="MASQUERADE",peer="PEER",port="P": a peer's labels. */
static void peer_labels(FILE *o, const struct xm_port_peer *p)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	struct in_addr ia = { .s_addr = p->addr }, ib = { .s_addr = p->peer };

	inet_ntop(AF_INET, &ia, a, sizeof(a));
	inet_ntop(AF_INET, &ib, b, sizeof(b));
	fprintf(o, "proto=\"%s\",addr=\"%s\",peer=\"%s\",port=\"%u\"",
		p->proto == 6  ? "tcp" :
		p->proto == 17 ? "udp" :
				 "icmp",
		a, b, ntohs(p->peer_port));
}

/* Only the busiest groups get series (their number stays bounded whatever
 * the number of peers); the exhausted peers all do, at most the size of
 * port_exhausted. */
static void port_families(FILE *o, const struct xm_port_use *pu)
{
	static const struct {
		const char *name, *help;
		int what; /* 0 in_use, 1 capacity, 2 share */
	} f[] = {
		{ "xmasq_ports_in_use",
		  "Masquerade ports held by flows to the peer from the masquerade address (the "
		  "busiest peers only).",
		  0 },
		{ "xmasq_ports_capacity",
		  "Masquerade ports a new flow to the peer may get: the port range (UDP: without "
		  "the router's ephemeral ports).",
		  1 },
		{ "xmasq_ports_used_ratio",
		  "Share of the capacity in use (ports inside the range over the capacity); new "
		  "flows are refused as it nears 1.",
		  2 },
	};

	family(o, "xmasq_port_peers", "gauge",
	       "Peers (protocol, masquerade address, backend or destination) with flows now.");
	fprintf(o, "xmasq_port_peers %lu\n", pu->groups);
	for (size_t k = 0; pu->n_busiest && k < sizeof(f) / sizeof(f[0]); k++) {
		family(o, f[k].name, "gauge", f[k].help);
		for (size_t i = 0; i < pu->n_busiest; i++) {
			const struct xm_port_group *g = &pu->busiest[i];

			fprintf(o, "%s{", f[k].name);
			peer_labels(o, &g->peer);
			if (f[k].what == 2)
				fprintf(o, "} %.4f\n", g->share);
			else
				fprintf(o, "} %u\n", f[k].what ? g->capacity : g->in_use);
		}
	}
	if (!pu->n_exhausted)
		return;
	family(o, "xmasq_port_exhausted_drops_total", "counter",
	       "New flows to the peer dropped for want of a free masquerade port (drop_no_port "
	       "by peer).");
	for (size_t i = 0; i < pu->n_exhausted; i++) {
		fputs("xmasq_port_exhausted_drops_total{", o);
		peer_labels(o, &pu->exhausted[i].peer);
		fprintf(o, "} %llu\n", (unsigned long long)pu->exhausted[i].drops);
	}
}

/* Everything but the rule families: small, written through a stream. */
static void other_families(FILE *o, const struct xm_snapshot *s, const struct xm_port_use *pu)
{
	counter_families(o, s);
	family(o, "xmasq_flows", "gauge", "Flows (connections) in the conntrack table now.");
	fprintf(o, "xmasq_flows %lu\n", s->flows);
	family(o, "xmasq_flows_max", "gauge", "Size of the conntrack table, in flows.");
	fprintf(o, "xmasq_flows_max %lu\n", s->flows_max);
	family(o, "xmasq_flows6", "gauge", "IPv6 flows (connections) in the flows6 table now.");
	fprintf(o, "xmasq_flows6 %lu\n", s->flows6);
	family(o, "xmasq_flows6_max", "gauge",
	       "Size of the IPv6 flow table flows6, in flows (0: not created yet).");
	fprintf(o, "xmasq_flows6_max %lu\n", s->flows6_max);
	family(o, "xmasq_sources", "gauge",
	       "Source addresses holding flows (their ORIG direction's).");
	fprintf(o, "xmasq_sources %lu\n", s->sources.sources);
	family(o, "xmasq_source_flows_busiest", "gauge",
	       "Flows of the source holding the most (set flows-per-source caps it).");
	fprintf(o, "xmasq_source_flows_busiest %lu\n", s->sources.busiest_flows);
	family(o, "xmasq_flows_per_source", "gauge",
	       "The flows-per-source quota in force (0: no limit).");
	fprintf(o, "xmasq_flows_per_source %u\n", s->config.flows_per_source);
	family(o, "xmasq_rules", "gauge", "Rules live in the data plane (forward and masquerade).");
	fprintf(o, "xmasq_rules %zu\n", s->n_rules);
	family(o, "xmasq_rule_port_entries", "gauge",
	       "Port entries of the live forward rules (a port range counts one per port).");
	fprintf(o, "xmasq_rule_port_entries %lu\n", s->rule_ports);
	if (pu)
		port_families(o, pu);
}

/* The interface families (iface), or the ones after the rules, appended to b. */
static void pb_stream(struct prom_buf *b, const struct xm_snapshot *s, const struct xm_port_use *pu,
		      int iface)
{
	struct pb_text t;

	if (!pb_open(b, &t))
		return;
	if (iface)
		iface_families(t.o, s);
	else
		other_families(t.o, s, pu);
	pb_close(b, &t);
}

/* The text is made a step at a time: the interface families, the rules'
 * families RULES_A_STEP rules at a time, then the rest. One whole text
 * (xm_render_prometheus) is the steps appended to one buffer; a stream
 * (xm_prom_stream_next, xmasqd's /metrics) hands out each step's text
 * from a buffer used again, so 30 MB are never in memory at once and
 * sending starts while the rest is still to be made. */
#define RULES_A_STEP XM_RULE_WINDOW

enum prom_phase { PH_IFACE, PH_RULE_INFO, PH_RULES, PH_OTHER, PH_END };

struct xm_prom_stream {
	struct xm_snapshot *s; /* its rules window moves (XM_SNAP_RULE_WINDOW) */
	const struct xm_port_use *pu;
	enum prom_phase phase;
	size_t k, i; /* the rule family, the next rule */
	struct prom_buf step;
	int (*wait)(void *arg); /* before the families after the rules */
	void *wait_arg;
	int failed;
};

/* What each rule family reads of the rules (XM_RULES_AT_*). */
static unsigned rules_at_what(const struct rule_family *f)
{
	return f->what == 3 ? XM_RULES_AT_FROM : XM_RULES_AT_STATS;
}

/* The next step's text appended to out: 1, or 0 when there is no more
 * (or on failure: g->failed). */
static int prom_step(struct xm_prom_stream *g, struct prom_buf *out)
{
	struct xm_snapshot *s = g->s;
	const struct xm_rule_info *rules = NULL;
	size_t n = RULES_A_STEP, want;

	switch (g->phase) {
	case PH_IFACE:
		pb_stream(out, s, g->pu, 1);
		g->phase = s->n_rules ? PH_RULE_INFO : PH_OTHER;
		return 1;
	case PH_RULE_INFO:
	case PH_RULES:
		rules = xm_snapshot_rules_at(s, g->i, &n,
					     g->phase == PH_RULE_INFO ?
						     XM_RULES_AT_TEXT :
						     rules_at_what(&rule_fams[g->k]));
		if (!rules) {
			g->failed = 1;
			g->phase = PH_END;
			return 0;
		}
		break;
	case PH_OTHER:
		if (g->wait && g->wait(g->wait_arg)) {
			g->failed = 1;
			g->phase = PH_END;
			return 0;
		}
		pb_stream(out, s, g->pu, 0);
		g->phase = PH_END;
		return 1;
	case PH_END:
		return 0;
	}
	if (g->phase == PH_RULE_INFO) {
		if (!g->i)
			pb_family(out, "xmasq_rule_info", "gauge",
				  "Rule live in the data plane (always 1): its text as xmasq "
				  "status "
				  "shows it and its interface. The xmasq_rule_* series carry its "
				  "id "
				  "only; join them with * on(instance, id) group_left(rule, iface) "
				  "xmasq_rule_info.");
		rule_info_rows(out, rules, n);
	} else {
		if (!g->i)
			pb_family(out, rule_fams[g->k].name, "counter", rule_fams[g->k].help);
		rule_rows(out, rules, n, &rule_fams[g->k]);
	}
	/* fewer than asked: the last (rules removed since the count) */
	want = s->n_rules - g->i < RULES_A_STEP ? s->n_rules - g->i : RULES_A_STEP;
	g->i += n;
	if (n < want || g->i >= s->n_rules) {
		g->i = 0;
		if (g->phase == PH_RULE_INFO)
			g->phase = PH_RULES, g->k = 0;
		else if (++g->k == N_RULE_FAMS)
			g->phase = PH_OTHER;
	}
	return 1;
}

int xm_render_prometheus(const struct xm_snapshot *s, const struct xm_port_use *pu, char **buf,
			 size_t *len)
{
	/* only a windowed snapshot is written to: its window moves */
	struct xm_prom_stream g = { .s = (struct xm_snapshot *)s, .pu = pu };
	struct prom_buf b = { 0 };

	/* Room for about all of it at once (~330 bytes a rule): a buffer
	 * doubled from small was moved some ten times; pages not written
	 * are never made resident. */
	if (s->n_rules)
		pb_reserve(&b, s->n_rules * 384);
	while (!b.oom && prom_step(&g, &b))
		;
	if (b.oom || g.failed) {
		free(b.p);
		return -1;
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

struct xm_prom_stream *xm_prom_stream_new(struct xm_snapshot *s, const struct xm_port_use *pu)
{
	struct xm_prom_stream *g = calloc(1, sizeof(*g));

	if (g) {
		g->s = s;
		g->pu = pu;
	}
	return g;
}

void xm_prom_stream_wait(struct xm_prom_stream *g, int (*wait)(void *arg), void *arg)
{
	g->wait = wait;
	g->wait_arg = arg;
}

ssize_t xm_prom_stream_next(struct xm_prom_stream *g, const char **data)
{
	g->step.len = 0;
	while (!g->step.len && !g->step.oom && prom_step(g, &g->step))
		;
	if (g->step.oom || g->failed)
		return -1;
	*data = g->step.p;
	return (ssize_t)g->step.len;
}

void xm_prom_stream_free(struct xm_prom_stream *g)
{
	if (!g)
		return;
	free(g->step.p);
	free(g);
}

void xm_print_prometheus(FILE *o, const struct xm_snapshot *s, const struct xm_port_use *pu)
{
	char *buf;
	size_t len;

	if (xm_render_prometheus(s, pu, &buf, &len) == 0) {
		fwrite(buf, 1, len, o);
		free(buf);
		return;
	}
	/* No memory for the whole text: what needs none (no rule series). */
	iface_families(o, s);
	other_families(o, s, pu);
}
