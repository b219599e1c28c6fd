// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `xmasq status` and `xmasq stats` output: tables for people, JSON for
 * scripts. */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "cli.h"

static const char *ip_str(__be32 a, char *buf)
{
	struct in_addr in = { .s_addr = a };

	return inet_ntop(AF_INET, &in, buf, INET_ADDRSTRLEN);
}

/* JSON string: only printable ASCII passes unescaped. */
static void json_str(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(o, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			fprintf(o, "\\u%04x", c);
		else
			fputc(c, o);
	}
	fputc('"', o);
}

const char *xm_iface_mode_name(const struct xm_iface *i)
{
	if (i->flags & XM_IFACE_XDP_GENERIC)
		return "xdp-generic";
	if (i->flags & XM_IFACE_XDP_ATTACHED)
		return "xdp";
	return "tc";
}

static const char *tx_path_reason(const struct xm_iface *i)
{
	if (!(i->flags & XM_IFACE_XDP_ATTACHED))
		return (i->flags & XM_IFACE_AUTO_VETH) ? "tc mode, chosen by auto for a veth (XDP "
							 "would cost TCP its TSO and GRO; attach "
							 "--mode xdp for packet rate)" :
		       (i->flags & XM_IFACE_AUTO_NO_XDP) ? "tc mode, chosen by auto: the driver "
							   "has no native XDP" :
							   "tc mode";
	if (i->flags & XM_IFACE_XDP_TX_OK)
		return "XDP redirect into this interface delivers";
	return "XDP frames into this interface would be dropped (veth peer without XDP or GRO): "
	       "sent by tc";
}

void xm_print_status(FILE *o, const struct xm_handle *h, const struct xm_snapshot *s, int json)
{
	char a[INET_ADDRSTRLEN];

	if (json) {
		fprintf(o, "{\"pin_dir\":");
		json_str(o, h->pin_dir);
		fprintf(o, ",\"layout_version\":%u,\"interfaces\":[", s->config.layout_version);
		for (size_t i = 0; i < s->n_ifaces; i++) {
			const struct xm_iface_info *ii = &s->ifaces[i];

			fprintf(o, "%s{\"name\":", i ? "," : "");
			json_str(o, ii->name);
			fprintf(o,
				",\"ifindex\":%u,\"addr\":\"%s\",\"mode\":\"%s\",\"xdp_prog_id\":%"
				"u,"
				"\"tc_prog_id\":%u,\"tx_path\":\"%s\",\"tx_path_reason\":",
				ii->iface.ifindex, ip_str(ii->iface.addr, a),
				xm_iface_mode_name(&ii->iface), ii->xdp_prog_id, ii->tc_prog_id,
				ii->tx_path);
			json_str(o, tx_path_reason(&ii->iface));
			fprintf(o, "}");
		}
		fprintf(o,
			"],\"rules\":%zu,\"rule_ports\":%lu,\"flows\":%lu,\"flows_max\":%lu,"
			"\"port_range\":\"%u-%u\",\"expiry\":{\"walks\":%llu,\"last_walk_ns\":%u,"
			"\"last_walk_entries\":%u,\"flows_expired\":%llu}}\n",
			s->n_rules, s->rule_ports, s->flows, s->flows_max, s->config.port_lo,
			s->config.port_hi, (unsigned long long)s->sweep.runs, s->sweep.last_walk_ns,
			s->sweep.seen, (unsigned long long)s->sweep.expired);
		return;
	}
	fprintf(o, "pin dir     %s\n", h->pin_dir);
	fprintf(o, "rules       %zu (%lu port entries)\n", s->n_rules, s->rule_ports);
	fprintf(o, "flows       %lu of %lu\n", s->flows, s->flows_max);
	if (s->sweep.runs)
		fprintf(o,
			"expiry      %llu walks, the last over %u entries in %.1f ms; %llu flows "
			"expired\n",
			(unsigned long long)s->sweep.runs, s->sweep.seen,
			s->sweep.last_walk_ns / 1e6, (unsigned long long)s->sweep.expired);
	else
		fprintf(o, "expiry      not started (it starts with the first flow)\n");
	fprintf(o, "ports       %u-%u (masquerade)\n\n", s->config.port_lo, s->config.port_hi);
	fprintf(o, "%-12s %-8s %-15s %-12s %7s %7s  %s\n", "INTERFACE", "IFINDEX", "ADDRESS",
		"MODE", "XDP-ID", "TC-ID", "PACKETS OUT BY");
	for (size_t i = 0; i < s->n_ifaces; i++) {
		const struct xm_iface_info *ii = &s->ifaces[i];

		fprintf(o, "%-12s %-8u %-15s %-12s %7u %7u  %s (%s)\n", ii->name, ii->iface.ifindex,
			ip_str(ii->iface.addr, a), xm_iface_mode_name(&ii->iface), ii->xdp_prog_id,
			ii->tc_prog_id, ii->tx_path, tx_path_reason(&ii->iface));
	}
}

void xm_print_stats(FILE *o, const struct xm_snapshot *s, int json)
{
	char rule[320];

	if (json) {
		fprintf(o, "{\"counters\":{");
		for (int c = 0; c < XM_C_MAX; c++)
			fprintf(o, "%s\"%s\":{\"packets\":%llu,\"bytes\":%llu}", c ? "," : "",
				xm_counter_names[c], (unsigned long long)s->counters[c].packets,
				(unsigned long long)s->counters[c].bytes);
		fprintf(o, "},\"interfaces\":[");
		for (size_t i = 0; i < s->n_ifaces; i++) {
			const struct xm_iface_info *ii = &s->ifaces[i];

			fprintf(o, "%s{\"name\":", i ? "," : "");
			json_str(o, ii->name);
			fprintf(o,
				",\"ifindex\":%u,\"rx_packets\":%llu,\"rx_bytes\":%llu,\"tx_"
				"packets\":%llu,"
				"\"tx_bytes\":%llu,\"tx_xdp\":%llu,\"tx_tc\":%llu}",
				ii->iface.ifindex, (unsigned long long)ii->st.rx_packets,
				(unsigned long long)ii->st.rx_bytes,
				(unsigned long long)ii->st.tx_packets,
				(unsigned long long)ii->st.tx_bytes,
				(unsigned long long)ii->st.tx_xdp,
				(unsigned long long)ii->st.tx_tc);
		}
		fprintf(o, "],\"rules\":[");
		for (size_t i = 0; i < s->n_rules; i++) {
			const struct xm_rule_info *ri = &s->rules[i];

			xm_rule_meta_format(&ri->meta, &ri->as, rule, sizeof(rule));
			fprintf(o, "%s{\"id\":%u,\"rule\":", i ? "," : "", ri->id);
			json_str(o, rule);
			fprintf(o,
				",\"line\":%u,\"packets_orig\":%llu,\"bytes_orig\":%llu,"
				"\"packets_reply\":%llu,\"bytes_reply\":%llu,\"flows\":%llu}",
				ri->meta.line, (unsigned long long)ri->st.packets[XM_DIR_ORIG],
				(unsigned long long)ri->st.bytes[XM_DIR_ORIG],
				(unsigned long long)ri->st.packets[XM_DIR_REPLY],
				(unsigned long long)ri->st.bytes[XM_DIR_REPLY],
				(unsigned long long)ri->st.flows);
		}
		fprintf(o, "],\"flows\":%lu,\"flows_max\":%lu}\n", s->flows, s->flows_max);
		return;
	}
	fprintf(o, "%-12s %12s %14s %12s %14s %12s %12s\n", "INTERFACE", "RX PKTS", "RX BYTES",
		"TX PKTS", "TX BYTES", "TX BY XDP", "TX BY TC");
	for (size_t i = 0; i < s->n_ifaces; i++) {
		const struct xm_iface_info *ii = &s->ifaces[i];

		fprintf(o, "%-12s %12llu %14llu %12llu %14llu %12llu %12llu\n", ii->name,
			(unsigned long long)ii->st.rx_packets, (unsigned long long)ii->st.rx_bytes,
			(unsigned long long)ii->st.tx_packets, (unsigned long long)ii->st.tx_bytes,
			(unsigned long long)ii->st.tx_xdp, (unsigned long long)ii->st.tx_tc);
	}
	fprintf(o, "\n%4s %-5s %-52s %8s %10s %12s %10s %12s\n", "ID", "LINE", "RULE", "FLOWS",
		"PKTS IN", "BYTES IN", "PKTS BACK", "BYTES BACK");
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct xm_rule_info *ri = &s->rules[i];

		xm_rule_meta_format(&ri->meta, &ri->as, rule, sizeof(rule));
		fprintf(o, "%4u %-5u %-52s %8llu %10llu %12llu %10llu %12llu\n", ri->id,
			ri->meta.line, rule, (unsigned long long)ri->st.flows,
			(unsigned long long)ri->st.packets[XM_DIR_ORIG],
			(unsigned long long)ri->st.bytes[XM_DIR_ORIG],
			(unsigned long long)ri->st.packets[XM_DIR_REPLY],
			(unsigned long long)ri->st.bytes[XM_DIR_REPLY]);
	}
	fprintf(o, "\nflows %lu of %lu\n\n%-24s %12s %14s  %s\n", s->flows, s->flows_max, "COUNTER",
		"PACKETS", "BYTES", "MEANING");
	for (int c = 0; c < XM_C_MAX; c++)
		fprintf(o, "%-24s %12llu %14llu  %s\n", xm_counter_names[c],
			(unsigned long long)s->counters[c].packets,
			(unsigned long long)s->counters[c].bytes, xm_counter_help[c]);
}

static const char *proto_name(__u8 proto)
{
	return proto == 6 ? "tcp" : proto == 17 ? "udp" : proto == 1 ? "icmp" : "?";
}

static void tuple_str(const struct xm_flow_key *k, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	snprintf(buf, len, "%s:%u -> %s:%u", ip_str(k->saddr, a), ntohs(k->sport),
		 ip_str(k->daddr, b), ntohs(k->dport));
}

void xm_print_conntrack(FILE *o, const struct xm_conn *c, size_t n, int json)
{
	char t1[64], t2[64];

	if (json)
		fprintf(o, "[");
	else
		fprintf(o, "%-5s %-12s %-45s %-45s %6s %6s %10s %12s %10s %12s\n", "PROTO", "STATE",
			"ORIGINAL (client -> router)", "REPLY (backend -> router)", "IDLE",
			"EXPIRES", "PKTS IN", "BYTES IN", "PKTS BACK", "BYTES BACK");
	for (size_t i = 0; i < n; i++) {
		const struct xm_conn *ci = &c[i];
		unsigned long long rp = ci->have_reply ? ci->reply.packets : 0;
		unsigned long long rb = ci->have_reply ? ci->reply.bytes : 0;

		tuple_str(&ci->orig_key, t1, sizeof(t1));
		tuple_str(&ci->reply_key, t2, sizeof(t2));
		if (json) {
			fprintf(o,
				"%s{\"proto\":\"%s\",\"state\":\"%s\",\"original\":\"%s\","
				"\"reply\":\"%s\","
				"\"rule_id\":%u,\"idle_s\":%u,\"expires_s\":%u,\"packets_orig\":%"
				"llu,"
				"\"bytes_orig\":%llu,\"packets_reply\":%llu,\"bytes_reply\":%llu,"
				"\"reply_entry\":%s}",
				i ? "," : "", proto_name(ci->orig_key.proto),
				xm_state_name(ci->orig_key.proto, ci->orig.state), t1, t2,
				ci->orig.rule_id, ci->idle_s, ci->expires_s,
				(unsigned long long)ci->orig.packets,
				(unsigned long long)ci->orig.bytes, rp, rb,
				ci->have_reply ? "true" : "false");
		} else {
			fprintf(o, "%-5s %-12s %-45s %-45s %5us %5us %10llu %12llu %10llu %12llu\n",
				proto_name(ci->orig_key.proto),
				xm_state_name(ci->orig_key.proto, ci->orig.state), t1,
				ci->have_reply ? t2 : "(missing)", ci->idle_s, ci->expires_s,
				(unsigned long long)ci->orig.packets,
				(unsigned long long)ci->orig.bytes, rp, rb);
		}
	}
	if (json)
		fprintf(o, "]\n");
}
