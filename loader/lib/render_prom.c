// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq stats --prometheus`: the Prometheus text exposition format, for a
 * node_exporter textfile collector or any scraper that runs a command.
 *
 * Every family gets one # HELP and one # TYPE line, then all its samples
 * together (the format forbids a family appearing twice). Counters end in
 * _total. A family with no samples (no rules yet) is left out entirely so
 * that no parser has to accept an empty family. */
#include <stdio.h>
#include <arpa/inet.h>
#include "xmasq.h"

/* Label values: backslash, double quote and newline are the only escapes
 * the format defines; every other byte (UTF-8 included) passes as is. */
static void label_value(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(o, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", o);
		else
			fputc(*s, o);
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

/* rule="...",id="N",iface="..." — the labels every rule series carries. */
static void rule_labels(FILE *o, const struct xm_rule_info *ri)
{
	char text[320], id[16];

	xm_rule_meta_format(&ri->meta, &ri->as, text, sizeof(text));
	snprintf(id, sizeof(id), "%u", ri->id);
	fputs("rule=", o);
	label_value(o, text);
	fputs(",id=", o);
	label_value(o, id);
	fputs(",iface=", o);
	label_value(o, ri->meta.ifname);
}

static void rule_families(FILE *o, const struct xm_snapshot *s)
{
	static const char *const dir_name[XM_DIR_MAX] = { "orig", "reply" };

	if (!s->n_rules)
		return;
	family(o, "xmasq_rule_packets_total", "counter",
	       "Packets translated by the rule; dir orig is client to backend, reply is backend to "
	       "client.");
	for (size_t i = 0; i < s->n_rules; i++)
		for (int d = 0; d < XM_DIR_MAX; d++) {
			fputs("xmasq_rule_packets_total{", o);
			rule_labels(o, &s->rules[i]);
			fprintf(o, ",dir=\"%s\"} %llu\n", dir_name[d],
				(unsigned long long)s->rules[i].st.packets[d]);
		}
	family(o, "xmasq_rule_bytes_total", "counter",
	       "Bytes translated by the rule; dir orig is client to backend, reply is backend to "
	       "client.");
	for (size_t i = 0; i < s->n_rules; i++)
		for (int d = 0; d < XM_DIR_MAX; d++) {
			fputs("xmasq_rule_bytes_total{", o);
			rule_labels(o, &s->rules[i]);
			fprintf(o, ",dir=\"%s\"} %llu\n", dir_name[d],
				(unsigned long long)s->rules[i].st.bytes[d]);
		}
	family(o, "xmasq_rule_flows_total", "counter", "Flows (connections) the rule created.");
	for (size_t i = 0; i < s->n_rules; i++) {
		fputs("xmasq_rule_flows_total{", o);
		rule_labels(o, &s->rules[i]);
		fprintf(o, "} %llu\n", (unsigned long long)s->rules[i].st.flows);
	}
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
}
