/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Shared environment of the BPF_PROG_TEST_RUN tests (test_bpf*.c, test_ct.c): the
 * loaded skeleton and its map fds, counters, flow-table helpers, running
 * a frame through xmasq_xdp / xmasq_tc and comparing the output byte for
 * byte. bpf_fixture.h builds the shared topology and set-up on it.
 *
 * Everything here is static and marked unused: a program uses what it
 * needs.
 */
#ifndef XMASQ_SELFTEST_BPF_ENV_H
#define XMASQ_SELFTEST_BPF_ENV_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tap.h"
#include "pkt.h"
#include "xmasq_abi.h"
#include "xmasq.h"
#include "xmasq.skel.h"

#define IPV4(a, b, c, d) \
	htonl((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

#define ENV_UNUSED __attribute__((unused))

/* A packet socket seeing the frames that arrive at veth ifname (a test
 * NIC's peer): what the programs send out of that NIC beside the frame a
 * test run returns (bpf_clone_redirect's copies). -1 if it cannot be
 * made. */
static ENV_UNUSED int peer_tap(const char *ifname)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)if_nametoindex(ifname),
	};
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The next frame tap fd sees within about a second that match() takes
 * (given arg), into f: 0, or -1 if none came. */
static ENV_UNUSED int tap_frame(int fd, int (*match)(const struct frame *, const void *),
				const void *arg, struct frame *f)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (int i = 0; fd >= 0 && i < 20;) {
		ssize_t n = recv(fd, f->b, sizeof(f->b), 0);

		if (n > 0) {
			f->len = (size_t)n;
			if (match(f, arg))
				return 0;
		} else if (poll(&pfd, 1, 50) == 0) {
			i++;
		}
	}
	return -1;
}

static ENV_UNUSED struct xmasq_bpf *skel;
static ENV_UNUSED int fd_xdp, fd_tc, fd_config, fd_ifaces, fd_txp, fd_rules, fd_rule_stats,
	fd_iface_stats, fd_counters, fd_flows, fd_masq_rules, fd_local_addrs, fd_frags, fd_sweeper;
static ENV_UNUSED int ncpus;
static ENV_UNUSED int tc_ingress_ifindex_ok = 1;

static ENV_UNUSED const char *const counter_names[XM_C_MAX] = {
#define XM_COUNTER_NAME(id, name, help) name,
	XM_COUNTER_LIST(XM_COUNTER_NAME)
#undef XM_COUNTER_NAME
};

/* ---- setup ------------------------------------------------------------- */

__attribute__((format(printf, 1, 2))) static ENV_UNUSED int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		tap_diag("command failed (status %d): %s", rc, cmd);
	return rc == 0 ? 0 : -1;
}

static ENV_UNUSED int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		tap_diag("open %s: %s", path, strerror(errno));
		return -1;
	}
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Enters a private network namespace with the router's three NICs every
 * BPF test uses: pub0 192.0.2.1/24, bk0 198.18.0.1/24, pub1
 * 198.51.100.1/24 (veth pairs, fixed MACs, up, forwarding on). A test adds
 * its own interfaces, routes and neighbours after it. */
static ENV_UNUSED int env_base_netns(void)
{
	static const char *const fwd[] = { "all", "default", "pub0", "bk0", "pub1" };
	char path[128];
	size_t i;
	int err = 0;

	if (unshare(CLONE_NEWNET)) {
		tap_diag("unshare(CLONE_NEWNET): %s", strerror(errno));
		return -1;
	}
	err |= sh("ip link set lo up");
	err |= sh("ip link add pub0 address 02:00:00:00:01:01 type veth peer name pub0p address "
		  "02:00:00:00:01:02");
	err |= sh("ip link add bk0 address 02:00:00:00:02:01 type veth peer name bk0p address "
		  "02:00:00:00:02:02");
	err |= sh("ip link add pub1 address 02:00:00:00:03:01 type veth peer name pub1p address "
		  "02:00:00:00:03:02");
	err |= sh("ip addr add 192.0.2.1/24 dev pub0");
	err |= sh("ip addr add 198.18.0.1/24 dev bk0");
	err |= sh("ip addr add 198.51.100.1/24 dev pub1");
	err |= sh("for d in pub0 pub0p bk0 bk0p pub1 pub1p; do ip link set $d up || exit 1; done");
	for (i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
		snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", fwd[i]);
		err |= write_file(path, "1");
	}
	return err ? -1 : 0;
}

/* libbpf's warnings as TAP comments, every line of them: a verifier log
 * comes as one message of many lines, its reason at the end. */
static ENV_UNUSED int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[16384], *line, *save = NULL;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		printf("# libbpf: %s\n", line);
	return 0;
}

/* An interface record into the ifindex hash and the slot and ifindex
 * arrays, as the loader stores it (flows reach their egress by slot). */
static ENV_UNUSED int store_iface(const struct xm_iface *v)
{
	uint32_t k = v->ifindex, slot = v->slot;

	if (bpf_map_update_elem(fd_ifaces, &k, v, BPF_ANY))
		return -1;
	if (k < XM_IFINDEX_DIRECT &&
	    bpf_map_update_elem(bpf_map__fd(skel->maps.iface_index), &k, v, BPF_ANY))
		return -1;
	return bpf_map_update_elem(bpf_map__fd(skel->maps.iface_slots), &slot, v, BPF_ANY);
}

/* Sets NIC ifindex's own MTU (what the data plane reads live for long
 * packets, bpf/mtu.h); 0 when done or when ifindex is no NIC here. */
static ENV_UNUSED int set_dev_mtu(int ifindex, unsigned int mtu)
{
	struct ifreq ifr;
	int fd, err = 0;

	memset(&ifr, 0, sizeof(ifr));
	if (!if_indextoname((unsigned int)ifindex, ifr.ifr_name))
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu != (int)mtu) {
		ifr.ifr_mtu = (int)mtu;
		err = ioctl(fd, SIOCSIFMTU, &ifr);
		if (err)
			tap_diag("%s: MTU %u: %s", ifr.ifr_name, mtu, strerror(errno));
	}
	close(fd);
	return err;
}

/* An interface record as the loader stores it, MTU mtu (0: none); the
 * NIC itself gets that MTU too, as xmasq would have read it, where a NIC
 * with IPv6 can have it (1280 or more: less would take its IPv6
 * addresses, and a packet up to 1280 bytes long is checked against the
 * record alone), else 1500. */
static ENV_UNUSED int set_iface_mtu(int ifindex, uint32_t addr, const uint8_t *mac, uint8_t slot,
				    uint8_t flags, uint16_t mtu)
{
	struct xm_iface v = {
		.ifindex = (uint32_t)ifindex,
		.addr = addr,
		.slot = slot,
		.flags = flags,
		.mtu = mtu,
	};

	memcpy(v.mac, mac, 6);
	if (set_dev_mtu(ifindex, mtu >= 1280 ? mtu : 1500))
		return -1;
	return store_iface(&v);
}

static ENV_UNUSED int set_iface(int ifindex, uint32_t addr, const uint8_t *mac, uint8_t slot,
				uint8_t flags)
{
	return set_iface_mtu(ifindex, addr, mac, slot, flags, 0);
}

static ENV_UNUSED int add_rule(uint32_t id, int ifindex, uint32_t daddr, uint16_t dport,
			       uint8_t proto, uint8_t gen, uint32_t to_addr, uint16_t to_port,
			       uint32_t flags)
{
	struct xm_rule_key k = {
		.ifindex = (uint32_t)ifindex,
		.daddr = daddr,
		.dport = htons(dport),
		.proto = proto,
		.gen = gen,
	};
	struct xm_rule_value v = {
		.rule_id = id,
		.to_addr = to_addr,
		.to_port = htons(to_port),
		.flags = flags,
	};

	return bpf_map_update_elem(fd_rules, &k, &v, BPF_NOEXIST);
}

/* ---- map helpers ------------------------------------------------------- */

/* How long a test waits for the expiry sweeper: the next walk waits 24
 * times as long as the last one took, up to 15 s (bpf/sweep.h), so on a
 * loaded machine one may come that late. A wait ends as soon as what it
 * waits for holds: this bounds only a failure. */
#define SWEEP_WAIT_MS 20000

/* The flow table, mapped (libxmasq's ct_table.c), with the seed the
 * program was loaded with. */
static ENV_UNUSED struct xm_ct_table ct_tab;

static ENV_UNUSED int flows_count(void)
{
	return (int)xm_ct_count(&ct_tab, 0);
}

static ENV_UNUSED void flows_clear(void)
{
	xm_ct_clear(&ct_tab);
}

/* The kernel's monotonic clock in seconds, as the data plane reads it
 * (without xm_clock_ahead_s). */
static ENV_UNUSED uint32_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_sec;
}

static ENV_UNUSED struct xm_ct_slot *flow_slot(uint32_t saddr, uint32_t daddr, uint16_t sport,
					       uint16_t dport, uint8_t proto)
{
	struct xm_flow_key k = {
		.saddr = saddr,
		.daddr = daddr,
		.sport = htons(sport),
		.dport = htons(dport),
		.proto = proto,
	};

	return xm_ct_lookup(&ct_tab, &k);
}

static ENV_UNUSED int flow_get(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
			       uint8_t proto, struct xm_flow *f)
{
	struct xm_ct_slot *s = flow_slot(saddr, daddr, sport, dport, proto);

	memset(f, 0, sizeof(*f));
	if (!s)
		return -1;
	*f = s->flow;
	return 0;
}

/* Moves a flow entry's last packet SECS seconds into the past, as if the
 * flow had been idle that long. 0 on success. */
static ENV_UNUSED int flow_age(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
			       uint8_t proto, uint32_t secs)
{
	struct xm_ct_slot *s = flow_slot(saddr, daddr, sport, dport, proto);

	if (!s)
		return -1;
	s->flow.last_seen_s -= secs;
	return 0;
}

static ENV_UNUSED void counters_read(uint64_t out[XM_C_MAX])
{
	struct xm_counter sum;

	for (uint32_t id = 0; id < XM_C_MAX; id++) {
		xm_read_percpu_u64s(fd_counters, id, ncpus, &sum, sizeof(sum));
		out[id] = sum.packets;
	}
}

static ENV_UNUSED struct xm_rule_stats rule_stats_read(uint32_t id)
{
	struct xm_rule_stats sum;

	xm_read_percpu_u64s(fd_rule_stats, id, ncpus, &sum, sizeof(sum));
	return sum;
}

static ENV_UNUSED struct xm_iface_stats iface_stats_read(uint32_t slot)
{
	struct xm_iface_stats sum;

	xm_read_percpu_u64s(fd_iface_stats, slot, ncpus, &sum, sizeof(sum));
	return sum;
}

/* Counter deltas: snapshot before, compare after. */
static ENV_UNUSED uint64_t cnt_before[XM_C_MAX];

static ENV_UNUSED void cnt_mark(void)
{
	counters_read(cnt_before);
}

static ENV_UNUSED uint64_t cnt_delta(int id)
{
	uint64_t now[XM_C_MAX];

	counters_read(now);
	return now[id] - cnt_before[id];
}

static ENV_UNUSED void cnt_diag(void)
{
	uint64_t now[XM_C_MAX];
	int i;

	counters_read(now);
	for (i = 0; i < XM_C_MAX; i++)
		if (now[i] != cnt_before[i])
			tap_diag("  counter %s +%llu", counter_names[i],
				 (unsigned long long)(now[i] - cnt_before[i]));
}

/* Counter id by name: counters newer than some data plane versions are
 * looked up this way so the test builds against either. -1 if absent. */
static ENV_UNUSED int cnt_id(const char *name)
{
	int i;

	for (i = 0; i < XM_C_MAX; i++)
		if (strcmp(counter_names[i], name) == 0)
			return i;
	return -1;
}

static ENV_UNUSED int cnt_check(int id, uint64_t want, const char *what)
{
	uint64_t d = cnt_delta(id);

	if (!tap_ok(d == want, "%s: counter %s +%llu", what, counter_names[id],
		    (unsigned long long)want)) {
		tap_diag("got +%llu; all changed counters:", (unsigned long long)d);
		cnt_diag();
		return 0;
	}
	return 1;
}

/* ---- running the programs ---------------------------------------------- */

static ENV_UNUSED void diag_fmt(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tap_diag("%s", buf);
}

/* XDP run on ingress ifindex. out gets the frame without the metadata the
 * program may have put in front (ctx_out.data is its length). */
static ENV_UNUSED int run_xdp(int ifindex, const struct frame *in, struct frame *out,
			      uint32_t *retval)
{
	static uint8_t buf[4096];
	struct xdp_md ctx = {
		.data = 0,
		.data_end = (uint32_t)in->len,
		.ingress_ifindex = (uint32_t)ifindex,
		.rx_queue_index = 0,
	};
	struct xdp_md ctx_out = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->b, .data_size_in = (uint32_t)in->len,
		    .data_out = buf, .data_size_out = sizeof(buf), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx_out,
		    .ctx_size_out = sizeof(ctx_out), .repeat = 1);
	int err;

	memset(out, 0, sizeof(*out));
	*retval = 0xdead;
	err = bpf_prog_test_run_opts(fd_xdp, &o);
	if (err)
		return -errno;
	*retval = o.retval;
	if (ctx_out.data > o.data_size_out || o.data_size_out - ctx_out.data > PKT_MAX)
		return -ERANGE;
	out->len = o.data_size_out - ctx_out.data;
	memcpy(out->b, buf + ctx_out.data, out->len);
	return 0;
}

/* Set around a tc run_case to make the skb a GSO one (as GRO or a TSO
 * sender on a veth make them): segments of tc_gso_size payload bytes,
 * tc_gso_segs of them (0 as a tap leaves it). */
static ENV_UNUSED uint32_t tc_gso_size, tc_gso_segs;

/* tc (sched_cls) run. BPF_PROG_TEST_RUN takes ifindex (skb->dev, since
 * 5.10) and ingress_ifindex (skb->skb_iif) in the __sk_buff context; the
 * program uses ingress_ifindex, else ifindex, so either is enough. The skb
 * is CHECKSUM_NONE and a VLAN tag stays in the frame data (no hw accel). */
static ENV_UNUSED int run_tc(int ifindex, const struct frame *in, struct frame *out,
			     uint32_t *retval)
{
	static uint8_t buf[4096];
	struct __sk_buff ctx;
	int err;

	memset(out, 0, sizeof(*out));
	*retval = 0xdead;
	for (;;) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->b,
			    .data_size_in = (uint32_t)in->len, .data_out = buf,
			    .data_size_out = sizeof(buf), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);

		memset(&ctx, 0, sizeof(ctx));
		ctx.ifindex = (uint32_t)ifindex;
		if (tc_ingress_ifindex_ok)
			ctx.ingress_ifindex = (uint32_t)ifindex;
		ctx.gso_size = tc_gso_size;
		ctx.gso_segs = tc_gso_segs;
		err = bpf_prog_test_run_opts(fd_tc, &o);
		if (err && errno == EINVAL && tc_ingress_ifindex_ok) {
			tap_diag("kernel refuses __sk_buff.ingress_ifindex in test_run; using "
				 "ifindex only");
			tc_ingress_ifindex_ok = 0;
			continue;
		}
		if (err)
			return -errno;
		if (o.data_size_out > PKT_MAX)
			return -ERANGE;
		*retval = o.retval;
		out->len = o.data_size_out;
		memcpy(out->b, buf, out->len);
		return 0;
	}
}

static ENV_UNUSED const char *xdp_name(uint32_t rc)
{
	switch (rc) {
	case XDP_ABORTED:
		return "XDP_ABORTED";
	case XDP_DROP:
		return "XDP_DROP";
	case XDP_PASS:
		return "XDP_PASS";
	case XDP_TX:
		return "XDP_TX";
	case XDP_REDIRECT:
		return "XDP_REDIRECT";
	default:
		return "?";
	}
}

static ENV_UNUSED const char *tc_name(uint32_t rc)
{
	switch (rc) {
	case TC_ACT_OK:
		return "TC_ACT_OK";
	case TC_ACT_SHOT:
		return "TC_ACT_SHOT";
	case TC_ACT_REDIRECT:
		return "TC_ACT_REDIRECT";
	default:
		return "?";
	}
}

static ENV_UNUSED void hexdiff(const struct frame *got, const struct frame *want)
{
	size_t i, n = got->len < want->len ? got->len : want->len;

	pkt_hex("got ", got->b, got->len, diag_fmt);
	pkt_hex("want", want->b, want->len, diag_fmt);
	for (i = 0; i < n; i++)
		if (got->b[i] != want->b[i]) {
			tap_diag("first difference at byte %zu: got %02x want %02x", i, got->b[i],
				 want->b[i]);
			break;
		}
}

static ENV_UNUSED int same_frame(const struct frame *a, const struct frame *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/* Runs one frame through XDP (tc = 0) or tc (tc = 1); checks the verdict
 * and, when want is given, the output frame byte for byte. */
static ENV_UNUSED int run_case(int tc, const char *what, int ifindex, const struct frame *in,
			       uint32_t want_rc, const struct frame *want, struct frame *got)
{
	uint32_t rc;
	int err = tc ? run_tc(ifindex, in, got, &rc) : run_xdp(ifindex, in, got, &rc);
	int ok;

	if (err) {
		tap_ok(0, "%s: %s test run", what, tc ? "tc" : "XDP");
		tap_diag("bpf_prog_test_run_opts: %s", strerror(-err));
		pkt_hex("input", in->b, in->len, diag_fmt);
		return 0;
	}
	ok = tap_ok(rc == want_rc, "%s: returns %s", what,
		    tc ? tc_name(want_rc) : xdp_name(want_rc));
	if (!ok) {
		tap_diag("got %u (%s)", rc, tc ? tc_name(rc) : xdp_name(rc));
		cnt_diag();
	}
	if (want) {
		const char *how = want == in ? "passed untouched (bytes identical)" :
					       "output frame byte-for-byte as expected";

		if (!tap_ok(same_frame(got, want), "%s: %s", what, how)) {
			hexdiff(got, want);
			ok = 0;
		}
	}
	return ok;
}

/* Checks the IPv4 and L4 checksums of a frame against full recomputation. */
static ENV_UNUSED void check_csums(const char *what, const struct frame *f)
{
	struct pkt_csums c = pkt_check_csums(f->b, f->len);
	struct pkt_view v = pkt_view(f->b, f->len);
	const char *l4 = v.proto == IPPROTO_UDP ? "UDP" : v.proto == IPPROTO_ICMP ? "ICMP" : "TCP";

	if (!tap_ok(c.ok && c.ip_got == c.ip_want,
		    "%s: IPv4 header checksum equals full recomputation", what))
		tap_diag("stored 0x%04x, computed 0x%04x (parse ok %d)", c.ip_got, c.ip_want, c.ok);
	if (!tap_ok(c.ok && c.l4_got == c.l4_want, "%s: %s checksum equals full recomputation",
		    what, l4))
		tap_diag("stored 0x%04x, computed 0x%04x (parse ok %d)", c.l4_got, c.l4_want, c.ok);
}

/* The ifindex of the interface in iface slot `slot`, 0 if free. */
static ENV_UNUSED uint32_t slot_ifindex(uint32_t slot)
{
	struct xm_iface v = { 0 };

	bpf_map_lookup_elem(bpf_map__fd(skel->maps.iface_slots), &slot, &v);
	return v.ifindex;
}

/* Whether flow entry f rewrites to ns:nsp -> nd:ndp and leaves by oif
 * (its egress slot's interface) to next hop dmac (NULL: any). */
static ENV_UNUSED int flow_eq(const struct xm_flow *f, uint32_t ns, uint32_t nd, uint16_t nsp,
			      uint16_t ndp, int oif, const uint8_t *dmac, uint16_t vlan,
			      uint8_t flags, uint32_t rule)
{
	uint32_t out_ifindex = slot_ifindex(f->out_slot);
	int ok = f->new_saddr == ns && f->new_daddr == nd && f->new_sport == htons(nsp) &&
		 f->new_dport == htons(ndp) && out_ifindex == (uint32_t)oif &&
		 f->out_vlan == vlan &&
		 /* The checksum-path bits are set by the first packet XDP
		  * handles in a direction: checked on their own, not here. */
		 (f->flags & ~(XM_FLOW_CSUM_CHECKED | XM_FLOW_CSUM_PARTIAL)) == flags &&
		 f->rule_id == rule;

	if (dmac && memcmp(f->out_dmac, dmac, 6))
		ok = 0;
	if (!ok) {
		char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &f->new_saddr, a, sizeof(a));
		inet_ntop(AF_INET, &f->new_daddr, b, sizeof(b));
		tap_diag("flow: %s:%u -> %s:%u out slot %u (ifindex %u) vlan %u flags 0x%x rule %u "
			 "dmac %02x:%02x:%02x:%02x:%02x:%02x state %u",
			 a, ntohs(f->new_sport), b, ntohs(f->new_dport), f->out_slot, out_ifindex,
			 f->out_vlan, f->flags, f->rule_id, f->out_dmac[0], f->out_dmac[1],
			 f->out_dmac[2], f->out_dmac[3], f->out_dmac[4], f->out_dmac[5], f->state);
	}
	return ok;
}

static ENV_UNUSED struct frame F(struct pkt_spec s) {
	struct frame f;

	pkt_build(&f, &s);
	return f;
}

/* A test program's start: line-buffered TAP, libbpf's messages as TAP
 * comments. Non-zero (a SKIP plan printed) when not root. */
static ENV_UNUSED int
env_start(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (network namespace, BPF)\n");
		return -1;
	}
	libbpf_set_print(libbpf_print);
	return 0;
}

/* The skeleton's program and map fds into the globals above. */
static ENV_UNUSED void env_bind_fds(void)
{
	fd_xdp = bpf_program__fd(skel->progs.xmasq_xdp);
	fd_tc = bpf_program__fd(skel->progs.xmasq_tc);
	fd_config = bpf_map__fd(skel->maps.config);
	fd_ifaces = bpf_map__fd(skel->maps.ifaces);
	fd_txp = bpf_map__fd(skel->maps.tx_ports);
	fd_rules = bpf_map__fd(skel->maps.rules);
	fd_rule_stats = bpf_map__fd(skel->maps.rule_stats);
	fd_iface_stats = bpf_map__fd(skel->maps.iface_stats);
	fd_counters = bpf_map__fd(skel->maps.counters);
	fd_flows = bpf_map__fd(skel->maps.flows);
	fd_masq_rules = bpf_map__fd(skel->maps.masq_rules);
	fd_local_addrs = bpf_map__fd(skel->maps.local_addrs);
	fd_frags = bpf_map__fd(skel->maps.frags);
	fd_sweeper = bpf_map__fd(skel->maps.sweeper);
	{ /* as attach does: xmasq_tc makes no flow itself */
		__u32 idx_new = XM_PROGS4_TC_NEW, idx_flow = XM_PROGS4_TC_FLOW;
		int prog_new = bpf_program__fd(skel->progs.xmasq_tc_new),
		    prog_flow = bpf_program__fd(skel->progs.xmasq_tc_flow);

		if (bpf_map_update_elem(bpf_map__fd(skel->maps.progs4), &idx_new, &prog_new,
					BPF_ANY) ||
		    bpf_map_update_elem(bpf_map__fd(skel->maps.progs4), &idx_flow, &prog_flow,
					BPF_ANY)) {
			fprintf(stderr, "progs4: cannot store xmasq_tc_new, xmasq_tc_flow: %s\n",
				strerror(errno));
			exit(1);
		}
	}
	{
		char err[256];

		xm_ct_close(&ct_tab);
		if (xm_ct_open(&ct_tab, fd_flows, skel->rodata->xm_ct_seed, 1, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			exit(1);
		}
	}
}

#endif
