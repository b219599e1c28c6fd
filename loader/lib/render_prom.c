// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq stats --prometheus`: the Prometheus text exposition format, for a
 * node_exporter textfile collector or any scraper that runs a command.
 *
 * Every family gets one # HELP and one # TYPE line, then all its samples
 * together (the format forbids a family appearing twice). Counters end in
 * _total. A family with no samples (no rules yet) is left out entirely so
 * that no parser has to accept an empty family. */
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "xmasq.h"

/* Label values: backslash, double quote and newline are the only escapes
 * the format defines; every other byte (UTF-8 included) passes as is.
 * Written into dst (room for 2 * strlen(s) + 3), returns the length. */
static size_t label_escape(char *dst, const char *s)
{
	size_t n = 0;

	dst[n++] = '"';
	for (; *s; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			dst[n++] = '\\';
			dst[n++] = *s == '\n' ? 'n' : *s;
		} else {
			dst[n++] = *s;
		}
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

/* " 123\n": a sample's value and the line's end, without printf. */
static void value_line(FILE *o, unsigned long long v)
{
	char buf[24], *p = buf + sizeof(buf);

	*--p = '\n';
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	*--p = ' ';
	fwrite(p, 1, (size_t)(buf + sizeof(buf) - p), o);
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

/* rule="...",id="N",iface="..." — the labels every rule series carries,
 * made once per rule (each rule has five series) into one buffer: *offs
 * (n_rules + 1 offsets) says where each starts. NULL without memory. */
static char *rule_labels(const struct xm_snapshot *s, size_t **offs)
{
	char *all = NULL;
	size_t len = 0, *off = calloc(s->n_rules + 1, sizeof(*off));
	FILE *o = off ? open_memstream(&all, &len) : NULL;

	if (!o) {
		free(off);
		return NULL;
	}
	__fsetlocking(o, FSETLOCKING_BYCALLER);
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct xm_rule_info *ri = &s->rules[i];
		char text[XM_RULE_TEXT_MAX], buf[2 * sizeof(text) + 2 * XM_IFNAMSIZ + 64];
		size_t n;

		xm_rule_meta_format(&ri->meta, &ri->as, &ri->from, text, sizeof(text));
		memcpy(buf, "rule=", 5);
		n = 5 + label_escape(buf + 5, text);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",id=\"%u\",iface=", ri->id);
		n += label_escape(buf + n, ri->meta.ifname);
		fwrite(buf, 1, n, o);
		off[i + 1] = off[i] + n;
	}
	if (fclose(o)) {
		free(all);
		free(off);
		return NULL;
	}
	*offs = off;
	return all;
}

/* NAME{LABELS,dir="D"} V\n, or NAME{LABELS} V\n without dir: put
 * together here and written with one call (a stream copies small writes
 * byte by byte). */
static void rule_sample(FILE *o, const char *name, size_t name_len, const char *labels,
			size_t labels_len, const char *dir, unsigned long long v)
{
	char line[1536], *p;
	size_t dir_len = dir ? strlen(dir) : 0;

	if (name_len + labels_len + dir_len + 40 > sizeof(line)) {
		fwrite(name, 1, name_len, o);
		fputc('{', o);
		fwrite(labels, 1, labels_len, o);
		if (dir)
			fprintf(o, ",dir=\"%s\"", dir);
		fputc('}', o);
		value_line(o, v);
		return;
	}
	memcpy(line, name, name_len);
	p = line + name_len;
	*p++ = '{';
	memcpy(p, labels, labels_len);
	p += labels_len;
	if (dir) {
		memcpy(p, ",dir=\"", 6);
		memcpy(p + 6, dir, dir_len);
		p += 6 + dir_len;
		*p++ = '"';
	}
	*p++ = '}';
	{
		char num[24], *q = num + sizeof(num);

		do
			*--q = (char)('0' + v % 10);
		while (v /= 10);
		*p++ = ' ';
		memcpy(p, q, (size_t)(num + sizeof(num) - q));
		p += num + sizeof(num) - q;
	}
	*p++ = '\n';
	fwrite(line, 1, (size_t)(p - line), o);
}

static void rule_families(FILE *o, const struct xm_snapshot *s)
{
	static const char *const dir_name[XM_DIR_MAX] = { "orig", "reply" };
	static const struct {
		const char *name, *help;
		int what; /* 0 packets, 1 bytes, 2 flows, 3 refused */
	} f[] = {
		{ "xmasq_rule_packets_total",
		  "Packets translated by the rule; dir orig is client to backend, reply is backend "
		  "to client.",
		  0 },
		{ "xmasq_rule_bytes_total",
		  "Bytes translated by the rule; dir orig is client to backend, reply is backend "
		  "to "
		  "client.",
		  1 },
		{ "xmasq_rule_flows_total", "Flows (connections) the rule created.", 2 },
		{ "xmasq_rule_refused_total",
		  "New flows the rule's from list refused: their source is not in it (rules with "
		  "a from list only).",
		  3 },
	};
	size_t *off = NULL;
	char *labels;

	if (!s->n_rules)
		return;
	labels = rule_labels(s, &off);
	if (!labels)
		return; /* out of memory: the families are left out */
	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
		size_t name_len = strlen(f[k].name);

		family(o, f[k].name, "counter", f[k].help);
		for (size_t i = 0; i < s->n_rules; i++) {
			const struct xm_rule_stats *st = &s->rules[i].st;
			const char *l = labels + off[i];
			size_t ll = off[i + 1] - off[i];

			if (f[k].what == 2) {
				rule_sample(o, f[k].name, name_len, l, ll, NULL, st->flows);
				continue;
			}
			if (f[k].what == 3) {
				if (s->rules[i].from.n)
					rule_sample(o, f[k].name, name_len, l, ll, NULL,
						    s->rules[i].refused);
				continue;
			}
			for (int d = 0; d < XM_DIR_MAX; d++)
				rule_sample(o, f[k].name, name_len, l, ll, dir_name[d],
					    f[k].what ? st->bytes[d] : st->packets[d]);
		}
	}
	free(labels);
	free(off);
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

void xm_print_prometheus(FILE *o, const struct xm_snapshot *s, const struct xm_port_use *pu)
{
	/* Millions of small writes (five series a rule): one thread writes
	 * o here, so the stream's lock is taken once, not per call. */
	int locking;

	flockfile(o);
	locking = __fsetlocking(o, FSETLOCKING_BYCALLER);

	iface_families(o, s);
	rule_families(o, s);
	counter_families(o, s);
	family(o, "xmasq_flows", "gauge", "Flows (connections) in the conntrack table now.");
	fprintf(o, "xmasq_flows %lu\n", s->flows);
	family(o, "xmasq_flows_max", "gauge", "Size of the conntrack table, in flows.");
	fprintf(o, "xmasq_flows_max %lu\n", s->flows_max);
	family(o, "xmasq_rules", "gauge", "Rules live in the data plane (forward and masquerade).");
	fprintf(o, "xmasq_rules %zu\n", s->n_rules);
	family(o, "xmasq_rule_port_entries", "gauge",
	       "Port entries of the live forward rules (a port range counts one per port).");
	fprintf(o, "xmasq_rule_port_entries %lu\n", s->rule_ports);
	if (pu)
		port_families(o, pu);
	__fsetlocking(o, locking);
	funlockfile(o);
}
