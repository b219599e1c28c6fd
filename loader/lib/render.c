// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Status, stats and conntrack output: tables for people, JSON for scripts.
 * Written to the caller's stream: `xmasq` prints it, xmasqd sends it as a
 * response body, the same bytes either way. */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "xmasq.h"

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

/* 12345678 -> "12,345,678": port counts are read at a glance. */
static const char *thousands(char *buf, size_t len, unsigned long long v)
{
	char digits[24];
	size_t n = (size_t)snprintf(digits, sizeof(digits), "%llu", v), o = 0;

	for (size_t i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = 0;
	return buf;
}

static const char *proto_name(__u8 proto)
{
	return proto == 6  ? "tcp" :
	       proto == 17 ? "udp" :
	       proto == 1  ? "icmp" :
	       proto == 58 ? "icmp6" :
			     "?";
}

/* "198.18.0.2:80/tcp" (ICMP: "198.18.0.2/icmp"). */
static const char *peer_str(const struct xm_port_peer *p, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	if (p->proto == 1)
		snprintf(buf, len, "%s/%s", ip_str(p->peer, a), proto_name(p->proto));
	else
		snprintf(buf, len, "%s:%u/%s", ip_str(p->peer, a), ntohs(p->peer_port),
			 proto_name(p->proto));
	return buf;
}

/* "13 of 16 (81 %)", and the flows on kept client ports outside the
 * range, which take nothing from the capacity. */
static void group_use(FILE *o, const struct xm_port_group *g)
{
	char n1[32], n2[32];

	fprintf(o, "%s of %s (%.0f %%)", thousands(n1, sizeof(n1), g->in_range),
		thousands(n2, sizeof(n2), g->capacity), 100.0 * g->share);
	if (g->in_use > g->in_range)
		fprintf(o, " + %s on kept client ports outside the range",
			thousands(n1, sizeof(n1), g->in_use - g->in_range));
}

void xm_print_port_use_text(FILE *o, const struct xm_port_use *pu, int table)
{
	char a[INET_ADDRSTRLEN], peer[48], n1[32];
	size_t shown = table ? XM_PORT_USE_BUSIEST : 3; /* exhausted peers */

	if (!pu)
		return;
	fprintf(o, "port use    %lu peer%s", pu->groups, pu->groups == 1 ? "" : "s");
	if (pu->n_busiest) {
		fprintf(o, "; busiest %s -> %s ", ip_str(pu->busiest[0].peer.addr, a),
			peer_str(&pu->busiest[0].peer, peer, sizeof(peer)));
		group_use(o, &pu->busiest[0]);
	}
	fputc('\n', o);
	for (size_t i = table ? 1 : pu->n_busiest; i < pu->n_busiest; i++) {
		fprintf(o, "            %s -> %s ", ip_str(pu->busiest[i].peer.addr, a),
			peer_str(&pu->busiest[i].peer, peer, sizeof(peer)));
		group_use(o, &pu->busiest[i]);
		fputc('\n', o);
	}
	for (size_t i = 0; i < pu->n_busiest; i++) {
		const struct xm_port_group *g = &pu->busiest[i];

		if (g->share <= XM_PORT_USE_WARN)
			break;
		fprintf(o,
			"WARNING     %s -> %s uses %.0f %% of its masquerade ports: new flows "
			"are refused (drop_no_port) as it nears 100 %%; widen `set port-range` "
			"or spread the load over more backends\n",
			ip_str(g->peer.addr, a), peer_str(&g->peer, peer, sizeof(peer)),
			100.0 * g->share);
	}
	if (pu->over_warn > pu->n_busiest)
		fprintf(o, "WARNING     %lu more peers above %.0f %%\n",
			pu->over_warn - pu->n_busiest, 100 * XM_PORT_USE_WARN);
	for (size_t i = 0; i < pu->n_exhausted && i < shown; i++) {
		const struct xm_port_exhaustion *e = &pu->exhausted[i];

		fprintf(o, "drop_no_port %s via %s: %s (last %u s ago)\n",
			peer_str(&e->peer, peer, sizeof(peer)), ip_str(e->peer.addr, a),
			thousands(n1, sizeof(n1), e->drops), e->ago_s);
	}
	if (pu->n_exhausted > shown)
		fprintf(o, "drop_no_port %zu more peers (--json lists them all)\n",
			pu->n_exhausted - shown);
}

void xm_print_port_use_json(FILE *o, const struct xm_port_use *pu)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	if (!pu)
		return;
	fprintf(o, "\"ports\":{\"peers\":%lu,\"over_warn\":%lu,\"busiest\":[", pu->groups,
		pu->over_warn);
	for (size_t i = 0; i < pu->n_busiest; i++) {
		const struct xm_port_group *g = &pu->busiest[i];

		fprintf(o,
			"%s{\"proto\":\"%s\",\"addr\":\"%s\",\"peer\":\"%s\",\"port\":%u,"
			"\"in_use\":%u,\"in_range\":%u,\"capacity\":%u,\"share\":%.4f}",
			i ? "," : "", proto_name(g->peer.proto), ip_str(g->peer.addr, a),
			ip_str(g->peer.peer, b), ntohs(g->peer.peer_port), g->in_use, g->in_range,
			g->capacity, g->share);
	}
	fprintf(o, "],\"exhausted\":[");
	for (size_t i = 0; i < pu->n_exhausted; i++) {
		const struct xm_port_exhaustion *e = &pu->exhausted[i];

		fprintf(o,
			"%s{\"proto\":\"%s\",\"addr\":\"%s\",\"peer\":\"%s\",\"port\":%u,"
			"\"drops\":%llu,\"last_s_ago\":%u}",
			i ? "," : "", proto_name(e->peer.proto), ip_str(e->peer.addr, a),
			ip_str(e->peer.peer, b), ntohs(e->peer.peer_port),
			(unsigned long long)e->drops, e->ago_s);
	}
	fprintf(o, "]}");
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

/* A managed NIC that was deleted: said plainly, not a stale row. */
#define XM_GONE_NOTE                                                                          \
	"gone (deleted; xmasq re-attaches it if it comes back under xmasqd or xmasq follow, " \
	"or: xmasq attach NAME; xmasq detach NAME forgets it)"

/* A NIC that changed since xmasq last read it (no follower running):
 * what the NIC says and what the maps still hold, and how to catch up. */
static const struct {
	unsigned bit;
	const char *name;
} nic_fields[] = { { XM_NIC_ADDR, "address" }, { XM_NIC_MAC, "mac" }, { XM_NIC_MTU, "mtu" } };

static void print_nic_changed_json(FILE *o, const struct xm_iface_info *ii)
{
	int first = 1;

	for (size_t k = 0; k < sizeof(nic_fields) / sizeof(nic_fields[0]); k++) {
		if (!(ii->nic_changed & nic_fields[k].bit))
			continue;
		fprintf(o, "%s\"%s\"", first ? "" : ",", nic_fields[k].name);
		first = 0;
	}
}

static void print_nic_changed_text(FILE *o, const struct xm_iface_info *ii)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	const uint8_t *m = ii->nic.mac, *v = ii->iface.mac;

	if (ii->nic_changed & XM_NIC_ADDR)
		fprintf(o, "%s: its address is %s now, xmasq still uses %s\n", ii->name,
			ip_str(ii->nic.addr, a), ip_str(ii->iface.addr, b));
	if (ii->nic_changed & XM_NIC_MAC)
		fprintf(o,
			"%s: its MAC is %02x:%02x:%02x:%02x:%02x:%02x now, xmasq still sends with "
			"%02x:%02x:%02x:%02x:%02x:%02x\n",
			ii->name, m[0], m[1], m[2], m[3], m[4], m[5], v[0], v[1], v[2], v[3], v[4],
			v[5]);
	/* longer packets are checked against the NIC's MTU itself (bpf/mtu.h) */
	if ((ii->nic_changed & XM_NIC_MTU) &&
	    (ii->nic.mtu < XM_MTU_FITS_ALL || ii->iface.mtu < XM_MTU_FITS_ALL))
		fprintf(o,
			"%s: its MTU is %u now, xmasq still checks packets of up to %u bytes "
			"against %u\n",
			ii->name, ii->nic.mtu, XM_MTU_FITS_ALL, ii->iface.mtu);
	else if (ii->nic_changed & XM_NIC_MTU)
		fprintf(o,
			"%s: its MTU is %u now, xmasq read %u (harmless: packets over %u bytes are "
			"checked against the NIC's own)\n",
			ii->name, ii->nic.mtu, ii->iface.mtu, XM_MTU_FITS_ALL);
}

void xm_print_status(FILE *o, const struct xm_handle *h, const struct xm_snapshot *s,
		     const struct xm_port_use *pu, int json)
{
	char a[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN];
	int changed = 0;

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
				ii->iface.ifindex, ii->iface.addr ? ip_str(ii->iface.addr, a) : "-",
				xm_iface_mode_name(&ii->iface), ii->xdp_prog_id, ii->tc_prog_id,
				ii->tx_path);
			json_str(o, tx_path_reason(&ii->iface));
			fprintf(o, ",\"mtu\":%u,\"gone\":%s,\"nic_changed\":[", ii->iface.mtu,
				ii->gone ? "true" : "false");
			print_nic_changed_json(o, ii);
			fprintf(o, "],\"addr6\":");
			/* null: no IPv6 address, as `-` in the table */
			if (xm_ip6_str(ii->addr6, a6, sizeof(a6))[0] == '-')
				fprintf(o, "null}");
			else
				fprintf(o, "\"%s\"}", a6);
		}
		fprintf(o,
			"],\"rules\":%zu,\"rule_ports\":%lu,\"flows\":%lu,\"flows_max\":%lu,"
			"\"flows6\":%lu,\"flows6_max\":%lu,\"port_range\":\"%u-%u\",\"expiry\":{"
			"\"walks\":%llu,\"last_walk_ns\":%u,"
			"\"last_walk_entries\":%u,\"flows_expired\":%llu},\"flows_per_source\":%u,"
			"\"sources\":%lu,\"busiest_source\":\"%s\",\"busiest_source_flows\":%lu",
			s->n_rules, s->rule_ports, s->flows, s->flows_max, s->flows6, s->flows6_max,
			s->config.port_lo, s->config.port_hi, (unsigned long long)s->sweep.runs,
			s->sweep.last_walk_ns, s->sweep.seen, (unsigned long long)s->sweep.expired,
			s->config.flows_per_source, s->sources.sources,
			ip_str(s->sources.busiest, a), s->sources.busiest_flows);
		if (pu) {
			fputc(',', o);
			xm_print_port_use_json(o, pu);
		}
		fprintf(o, "}\n");
		return;
	}
	fprintf(o, "pin dir     %s\n", h->pin_dir);
	fprintf(o, "rules       %zu (%lu port entries)\n", s->n_rules, s->rule_ports);
	fprintf(o, "flows       %lu of %lu\n", s->flows, s->flows_max);
	if (s->flows6_max)
		fprintf(o, "flows6      %lu of %lu (IPv6)\n", s->flows6, s->flows6_max);
	if (s->sources.sources)
		fprintf(o, "sources     %lu, the busiest %s with %lu flows\n", s->sources.sources,
			ip_str(s->sources.busiest, a), s->sources.busiest_flows);
	if (s->config.flows_per_source)
		fprintf(o, "per source  at most %u flows (set flows-per-source)\n",
			s->config.flows_per_source);
	else
		fprintf(o, "per source  no limit (set flows-per-source 0)\n");
	if (s->sweep.runs)
		fprintf(o,
			"expiry      %llu walks, the last over %u entries in %.1f ms; %llu flows "
			"expired\n",
			(unsigned long long)s->sweep.runs, s->sweep.seen,
			s->sweep.last_walk_ns / 1e6, (unsigned long long)s->sweep.expired);
	else
		fprintf(o, "expiry      not started (it starts with the first flow)\n");
	fprintf(o, "ports       %u-%u (masquerade)\n", s->config.port_lo, s->config.port_hi);
	xm_print_port_use_text(o, pu, 1);
	fputc('\n', o);
	fprintf(o, "%-12s %-8s %-15s %-25s %-12s %7s %7s  %s\n", "INTERFACE", "IFINDEX", "ADDRESS",
		"IPV6 ADDRESS", "MODE", "XDP-ID", "TC-ID", "PACKETS OUT BY");
	for (size_t i = 0; i < s->n_ifaces; i++) {
		const struct xm_iface_info *ii = &s->ifaces[i];

		if (ii->gone) {
			fprintf(o, "%-12s %-8u %-15s %-25s %-12s %7s %7s  %s\n", ii->name,
				ii->iface.ifindex, ii->iface.addr ? ip_str(ii->iface.addr, a) : "-",
				xm_ip6_str(ii->addr6, a6, sizeof(a6)),
				xm_iface_mode_name(&ii->iface), "-", "-", XM_GONE_NOTE);
			continue;
		}
		fprintf(o, "%-12s %-8u %-15s %-25s %-12s %7u %7u  %s (%s)\n", ii->name,
			ii->iface.ifindex, ii->iface.addr ? ip_str(ii->iface.addr, a) : "-",
			xm_ip6_str(ii->addr6, a6, sizeof(a6)), xm_iface_mode_name(&ii->iface),
			ii->xdp_prog_id, ii->tc_prog_id, ii->tx_path, tx_path_reason(&ii->iface));
	}
	for (size_t i = 0; i < s->n_ifaces; i++) {
		if (!s->ifaces[i].nic_changed)
			continue;
		if (!changed++)
			fprintf(o, "\nchanged since xmasq last read them (no xmasqd or xmasq "
				   "follow "
				   "running; xmasq follow --once or xmasq apply catches up):\n");
		print_nic_changed_text(o, &s->ifaces[i]);
	}
}

void xm_print_stats(FILE *o, const struct xm_snapshot *s, const struct xm_port_use *pu, int json)
{
	char rule[XM_RULE_TEXT_MAX];

	if (json) {
		fprintf(o, "{\"counters\":{");
		/* help: the meaning, for readers of the JSON (the web page) */
		for (int c = 0; c < XM_C_MAX; c++) {
			fprintf(o,
				"%s\"%s\":{\"packets\":%llu,\"bytes\":%llu,\"help\":", c ? "," : "",
				xm_counter_names[c], (unsigned long long)s->counters[c].packets,
				(unsigned long long)s->counters[c].bytes);
			json_str(o, xm_counter_help[c]);
			fputc('}', o);
		}
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

			xm_rule_meta_format(&ri->meta, &ri->addrs6, &ri->as, &ri->as6, &ri->from,
					    rule, sizeof(rule));
			fprintf(o, "%s{\"id\":%u,\"rule\":", i ? "," : "", ri->id);
			json_str(o, rule);
			fprintf(o,
				",\"line\":%u,\"packets_orig\":%llu,\"bytes_orig\":%llu,"
				"\"packets_reply\":%llu,\"bytes_reply\":%llu,\"flows\":%llu,"
				"\"refused\":%llu}",
				ri->meta.line, (unsigned long long)ri->st.packets[XM_DIR_ORIG],
				(unsigned long long)ri->st.bytes[XM_DIR_ORIG],
				(unsigned long long)ri->st.packets[XM_DIR_REPLY],
				(unsigned long long)ri->st.bytes[XM_DIR_REPLY],
				(unsigned long long)ri->st.flows, (unsigned long long)ri->refused);
		}
		fprintf(o, "],\"flows\":%lu,\"flows_max\":%lu,\"flows6\":%lu,\"flows6_max\":%lu",
			s->flows, s->flows_max, s->flows6, s->flows6_max);
		if (pu) {
			fputc(',', o);
			xm_print_port_use_json(o, pu);
		}
		fprintf(o, "}\n");
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
	fprintf(o, "\n%4s %-5s %-52s %8s %10s %12s %10s %12s %8s\n", "ID", "LINE", "RULE", "FLOWS",
		"PKTS IN", "BYTES IN", "PKTS BACK", "BYTES BACK", "REFUSED");
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct xm_rule_info *ri = &s->rules[i];

		xm_rule_meta_format(&ri->meta, &ri->addrs6, &ri->as, &ri->as6, &ri->from, rule,
				    sizeof(rule));
		fprintf(o, "%4u %-5u %-52s %8llu %10llu %12llu %10llu %12llu %8llu\n", ri->id,
			ri->meta.line, rule, (unsigned long long)ri->st.flows,
			(unsigned long long)ri->st.packets[XM_DIR_ORIG],
			(unsigned long long)ri->st.bytes[XM_DIR_ORIG],
			(unsigned long long)ri->st.packets[XM_DIR_REPLY],
			(unsigned long long)ri->st.bytes[XM_DIR_REPLY],
			(unsigned long long)ri->refused);
	}
	fprintf(o, "\nflows %lu of %lu\n", s->flows, s->flows_max);
	if (s->flows6_max)
		fprintf(o, "flows6 %lu of %lu (IPv6)\n", s->flows6, s->flows6_max);
	xm_print_port_use_text(o, pu, 0);
	fprintf(o, "\n%-24s %12s %14s  %s\n", "COUNTER", "PACKETS", "BYTES", "MEANING");
	for (int c = 0; c < XM_C_MAX; c++)
		fprintf(o, "%-24s %12llu %14llu  %s\n", xm_counter_names[c],
			(unsigned long long)s->counters[c].packets,
			(unsigned long long)s->counters[c].bytes, xm_counter_help[c]);
}

/* "[2001:db8::1]:443 -> [2001:db8::2]:80": brackets keep the port apart */
static void tuple6_str(const struct xm_flow6_key *k, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	if (!inet_ntop(AF_INET6, k->saddr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	if (!inet_ntop(AF_INET6, k->daddr, b, sizeof(b)))
		snprintf(b, sizeof(b), "?");
	snprintf(buf, len, "[%s]:%u -> [%s]:%u", a, ntohs(k->sport), b, ntohs(k->dport));
}

/* A 6->4 flow's reply tuple, IPv4 held IPv4-mapped: as the IPv4 it is. */
static void tuple64_str(const struct xm_flow6_key *k, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	snprintf(buf, len, "%s:%u -> %s:%u", ip_str(k->saddr[3], a), ntohs(k->sport),
		 ip_str(k->daddr[3], b), ntohs(k->dport));
}

static void tuple_str(const struct xm_flow_key *k, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	snprintf(buf, len, "%s:%u -> %s:%u", ip_str(k->saddr, a), ntohs(k->sport),
		 ip_str(k->daddr, b), ntohs(k->dport));
}

/* A flow entry's packet count as text: "-" (JSON null) for an entry whose
 * timestamps are shifted, which holds the shift's delta there instead. */
static const char *flow_packets_str(const struct xm_flow *f, int json, char *buf, size_t len)
{
	if (f->bytes_hi & XM_FLOW_HI_TS_SHIFT)
		return json ? "null" : "-";
	snprintf(buf, len, "%u", f->packets);
	return buf;
}

void xm_print_conntrack(FILE *o, const struct xm_conn *c, size_t n, int json)
{
	char t1[128], t2[128], po[24], pr[24];

	if (json)
		fprintf(o, "[");
	else
		fprintf(o, "%-5s %-12s %-45s %-45s %6s %6s %10s %12s %10s %12s\n", "PROTO", "STATE",
			"ORIGINAL (client -> router)", "REPLY (backend -> router)", "IDLE",
			"EXPIRES", "PKTS IN", "BYTES IN", "PKTS BACK", "BYTES BACK");
	for (size_t i = 0; i < n; i++) {
		const struct xm_conn *ci = &c[i];
		unsigned long long ob, rb;
		const char *sp, *rp;
		char td[16] = "null";

		if (ci->v6) {
			ob = ci->orig6.bytes;
			rb = ci->have_reply ? ci->reply6.bytes : 0;
			snprintf(po, sizeof(po), "%llu", (unsigned long long)ci->orig6.packets);
			snprintf(pr, sizeof(pr), "%llu",
				 ci->have_reply ? (unsigned long long)ci->reply6.packets : 0ULL);
			sp = po;
			rp = pr;
			tuple6_str(&ci->orig6_key, t1, sizeof(t1));
			if (ci->orig6.flags & XM_FLOW6_TO_V4)
				tuple64_str(&ci->reply6_key, t2, sizeof(t2));
			else
				tuple6_str(&ci->reply6_key, t2, sizeof(t2));
		} else {
			ob = xm_flow_bytes(&ci->orig);
			rb = ci->have_reply ? xm_flow_bytes(&ci->reply) : 0;
			sp = flow_packets_str(&ci->orig, json, po, sizeof(po));
			rp = ci->have_reply ? flow_packets_str(&ci->reply, json, pr, sizeof(pr)) :
					      "0";
			/* both entries hold the same delta */
			if (ci->orig.bytes_hi & XM_FLOW_HI_TS_SHIFT)
				snprintf(td, sizeof(td), "%u", ci->orig.packets);
			tuple_str(&ci->orig_key, t1, sizeof(t1));
			tuple_str(&ci->reply_key, t2, sizeof(t2));
		}
		if (json) {
			fprintf(o,
				"%s{\"proto\":\"%s\",\"state\":\"%s\",\"original\":\"%s\","
				"\"reply\":\"%s\","
				"\"rule_id\":%u,\"idle_s\":%u,\"expires_s\":%u,\"packets_orig\":%s,"
				"\"bytes_orig\":%llu,\"packets_reply\":%s,\"bytes_reply\":%llu,"
				"\"ts_delta\":%s,\"reply_entry\":%s,\"family\":%u,"
				"\"backend_family\":%u}",
				i ? "," : "", proto_name(ci->orig_key.proto),
				xm_state_name(ci->orig_key.proto, ci->orig.state), t1, t2,
				ci->orig.rule_id, ci->idle_s, ci->expires_s, sp, ob, rp, rb, td,
				ci->have_reply ? "true" : "false", ci->v6 ? 6 : 4,
				ci->v6 && !(ci->orig6.flags & XM_FLOW6_TO_V4) ? 6 : 4);
		} else {
			fprintf(o, "%-5s %-12s %-45s %-45s %5us %5us %10s %12llu %10s %12llu\n",
				proto_name(ci->orig_key.proto),
				xm_state_name(ci->orig_key.proto, ci->orig.state), t1,
				ci->have_reply ? t2 : "(missing)", ci->idle_s, ci->expires_s, sp,
				ob, rp, rb);
		}
	}
	if (json)
		fprintf(o, "]\n");
}
