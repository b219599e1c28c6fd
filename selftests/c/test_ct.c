// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The flow table (bpf/ct.h) under crowding: a table of 8 homes + 63 slots,
 * so that every flow shares its chain with others. Real packets through
 * BPF_PROG_TEST_RUN fill it to refusal, find every flow through its chain,
 * find them again after flows in front of them were removed (DEAD slots),
 * reuse those slots, and let the sweeper expire flows and clean DEAD slots
 * up (one group of 64 slots a timer run, so a walk takes two runs)
 * without ever cutting a chain. After each step the table is checked
 * against the invariant lookups rely on: between a live entry's home and
 * the entry, no slot is EMPTY.
 */
#include "bpf_env.h"
#include <time.h>

static const uint8_t MAC_PUB0[6] = { 0x02, 0, 0, 0, 0x01, 0x01 };
static const uint8_t MAC_BK0[6] = { 0x02, 0, 0, 0, 0x02, 0x01 };
static const uint8_t MAC_BACKEND[6] = { 0x02, 0, 0, 0, 0x00, 0x02 };
static const uint8_t MAC_CLIENT[6] = { 0x02, 0, 0, 0, 0x00, 0x10 };

#define HOMES	   8
#define SLOTS	   (HOMES + XM_CT_PROBES - 1)
#define RULE_UDP   1
#define FIRST_PORT 1000
#define MAX_TRIES  45

static uint32_t A_PUB0, A_CLIENT, A_BK0, A_BACKEND;
static int if_pub0, if_bk0;
/* Client ports that got a flow, in order. */
static uint16_t ports[MAX_TRIES];
static int nports;

static int setup(void)
{
	static const uint32_t to[XM_TO_MAX] = { 120, 7440, 120, 10, 30, 180, 30 };
	struct xm_config c = {
		.layout_version = XM_LAYOUT_VERSION,
		.port_lo = XM_DEFAULT_PORT_LO,
		.port_hi = XM_DEFAULT_PORT_HI,
		.ct_max = XM_CT_FLOWS_OF(SLOTS),
		.ct_seed = 0x5eed,
	};
	uint32_t zero = 0, k, v;
	int err = 0;

	if (env_base_netns())
		return -1;
	err |= sh("ip neigh add 198.18.0.2 lladdr 02:00:00:00:00:02 dev bk0 nud permanent");
	err |= sh("ip neigh add 192.0.2.10 lladdr 02:00:00:00:00:10 dev pub0 nud permanent");
	if_pub0 = (int)if_nametoindex("pub0");
	if_bk0 = (int)if_nametoindex("bk0");
	ncpus = libbpf_num_possible_cpus();
	skel = xmasq_bpf__open();
	if (!skel || !if_pub0 || !if_bk0 || ncpus <= 0)
		return -1;
	bpf_map__set_max_entries(skel->maps.flows, SLOTS);
	skel->rodata->xm_ct_homes = HOMES;
	skel->rodata->xm_ct_seed = c.ct_seed;
	skel->rodata->xm_prog_epoch = 0x5eed0003; /* the sweeper runs */
	skel->rodata->xm_sweep_slice = 1;	  /* a walk of two runs, 64 slots each */
	if (xmasq_bpf__load(skel)) {
		tap_diag("xmasq_bpf__load: %s", strerror(errno));
		return -1;
	}
	env_bind_fds();
	memcpy(c.timeouts, to, sizeof(to));
	err |= bpf_map_update_elem(fd_config, &zero, &c, BPF_ANY);
	err |= set_iface(if_pub0, A_PUB0, MAC_PUB0, 0, XM_IFACE_XDP_TX_OK | XM_IFACE_XDP_ATTACHED);
	err |= set_iface(if_bk0, A_BK0, MAC_BK0, 1, XM_IFACE_XDP_TX_OK | XM_IFACE_XDP_ATTACHED);
	k = v = (uint32_t)if_pub0;
	err |= bpf_map_update_elem(fd_txp, &k, &v, BPF_ANY);
	k = v = (uint32_t)if_bk0;
	err |= bpf_map_update_elem(fd_txp, &k, &v, BPF_ANY);
	err |= add_rule(RULE_UDP, if_pub0, 0, 5000, IPPROTO_UDP, 0, A_BACKEND, 5000, 0);
	return err ? -1 : 0;
}

static struct pkt_spec client_udp(uint16_t sport)
{
	struct pkt_spec s = {
		.dmac = MAC_PUB0,
		.smac = MAC_CLIENT,
		.saddr = A_CLIENT,
		.daddr = A_PUB0,
		.sport = sport,
		.dport = 5000,
		.proto = IPPROTO_UDP,
		.ttl = 64,
	};
	return s;
}

/* The client's datagram as the backend gets it (the client port is kept:
 * it is free in the masquerade table). */
static struct frame forwarded(uint16_t sport)
{
	struct pkt_spec s = client_udp(sport);

	s.dmac = MAC_BACKEND;
	s.smac = MAC_BK0;
	s.saddr = A_BK0;
	s.daddr = A_BACKEND;
	s.ttl--;
	return F(s);
}

static struct frame backend_reply(uint16_t dport)
{
	struct pkt_spec s = {
		.dmac = MAC_BK0,
		.smac = MAC_BACKEND,
		.saddr = A_BACKEND,
		.daddr = A_BK0,
		.sport = 5000,
		.dport = dport,
		.proto = IPPROTO_UDP,
		.ttl = 64,
	};
	return F(s);
}

/* One datagram from the client; its verdict. */
static uint32_t send_client(uint16_t sport, struct frame *got)
{
	struct frame in = F(client_udp(sport));
	uint32_t rc = 0;

	if (run_xdp(if_pub0, &in, got, &rc))
		return (uint32_t)-1;
	return rc;
}

static uint32_t slot_home(const struct xm_ct_slot *s)
{
	union xm_ct_words u = { .key = s->key };

	u.key.ct_state = 0;
	return xm_ct_home(u.w[0], u.w[1], ct_tab.seed, ct_tab.homes);
}

static uint8_t slot_state(uint32_t i)
{
	union xm_ct_words u;

	u.w[1] = __atomic_load_n(&((uint64_t *)&ct_tab.slots[i].key)[1], __ATOMIC_ACQUIRE);
	return u.key.ct_state;
}

/* The invariant: no EMPTY slot between a live entry and its home. Also
 * counts live entries, DEAD slots, and entries away from their home. */
static int chains_whole(const char *what, int *live, int *dead, int *displaced)
{
	int ok = 1;

	*live = *dead = *displaced = 0;
	for (uint32_t i = 0; i < ct_tab.nslots; i++) {
		uint8_t st = slot_state(i);
		uint32_t home;

		if (st == XM_CT_DEAD)
			(*dead)++;
		if (st != XM_CT_LIVE)
			continue;
		(*live)++;
		home = slot_home(&ct_tab.slots[i]);
		if (home != i)
			(*displaced)++;
		for (uint32_t j = home; j < i; j++)
			if (slot_state(j) == XM_CT_EMPTY) {
				tap_diag("%s: slot %u is EMPTY between home %u and entry %u", what,
					 j, home, i);
				ok = 0;
			}
	}
	return ok;
}

static void check_chains(const char *what)
{
	int live, dead, displaced, whole = chains_whole(what, &live, &dead, &displaced);

	tap_ok(whole, "%s: no chain is cut (%d live, %d DEAD, %d away from home)", what, live, dead,
	       displaced);
}

/* Every flow in ports[] forwards both ways through the XDP path. */
static int all_flows_forward(const char *what)
{
	struct frame got, want, in;
	uint32_t rc;
	int bad = 0;

	for (int i = 0; i < nports; i++) {
		want = forwarded(ports[i]);
		if (send_client(ports[i], &got) != XDP_REDIRECT || !same_frame(&got, &want))
			bad++;
		in = backend_reply(ports[i]);
		if (run_xdp(if_bk0, &in, &got, &rc) || rc != XDP_REDIRECT)
			bad++;
	}
	if (bad)
		tap_diag("%s: %d of %d flows were not forwarded both ways", what, bad, 2 * nports);
	return bad == 0;
}

static void test_fill(void)
{
	const char *w = "8-home table filled by new UDP flows";
	struct frame got;
	int refused = 0, live, dead, displaced;
	uint32_t rc;

	flows_clear();
	cnt_mark();
	nports = 0;
	for (int i = 0; i < MAX_TRIES; i++) {
		uint16_t port = (uint16_t)(FIRST_PORT + i);

		rc = send_client(port, &got);
		if (rc == XDP_REDIRECT)
			ports[nports++] = port;
		else if (rc == XDP_DROP)
			refused++;
	}
	/* SLOTS slots hold SLOTS / 2 pairs at most; a key reaches only the
	 * XM_CT_PROBES slots from its home on, so when the first is refused
	 * at least those are full. */
	tap_ok(nports >= XM_CT_PROBES / 2 && nports <= SLOTS / 2 && nports + refused == MAX_TRIES,
	       "%s: %d flows made, the other %d refused", w, nports, refused);
	cnt_check(XM_C_DROP_CT_FULL, (uint64_t)refused, w);
	cnt_check(XM_C_FLOW_NEW, (uint64_t)nports, w);
	chains_whole(w, &live, &dead, &displaced);
	tap_ok(live == 2 * nports && displaced >= live - HOMES,
	       "%s: %d live entries, %d of them away from their home (chains exist)", w, live,
	       displaced);
	check_chains(w);
	tap_ok(all_flows_forward(w), "%s: every flow found through its chain, both directions", w);
	{
		int found = 0;

		for (int i = 0; i < nports; i++) {
			struct xm_flow f;

			found += flow_get(A_CLIENT, A_PUB0, ports[i], 5000, IPPROTO_UDP, &f) == 0 &&
				 flow_get(A_BACKEND, A_BK0, 5000, ports[i], IPPROTO_UDP, &f) == 0;
		}
		tap_ok(found == nports,
		       "%s: user space finds every entry with the same hash (%d of %d)", w, found,
		       nports);
	}
}

static int odd_port(const struct xm_ct_slot *orig, void *arg)
{
	(void)arg;
	return ntohs(orig->key.sport) & 1;
}

static void test_remove_and_reuse(void)
{
	const char *w = "every other flow removed";
	struct frame got;
	long removed;
	int kept = 0, made = 0;

	removed = xm_ct_remove_if(&ct_tab, odd_port, NULL);
	for (int i = 0; i < nports; i++)
		if (!(ports[i] & 1))
			ports[kept++] = ports[i];
	tap_ok(removed == nports - kept && flows_count() == 2 * kept,
	       "%s: %ld flows gone, %d entries left", w, removed, flows_count());
	nports = kept;
	check_chains(w);
	tap_ok(all_flows_forward(w), "%s: the flows behind the removed ones are still found", w);

	w = "new flows after the removal";
	for (int i = 0; i < MAX_TRIES && made < (int)removed; i++) {
		uint16_t port = (uint16_t)(FIRST_PORT + 100 + i);

		if (send_client(port, &got) == XDP_REDIRECT) {
			ports[nports++] = port;
			made++;
		}
	}
	tap_ok(made == (int)removed, "%s: the freed slots take %d new flows (%ld freed)", w, made,
	       removed);
	check_chains(w);
	tap_ok(all_flows_forward(w), "%s: old and new flows forward", w);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The data plane's clock now, in seconds (bpf/sweep.h: the kernel's
 * CLOCK_MONOTONIC_COARSE, plus what the test set it ahead by). */
static uint32_t dp_clock_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)ts.tv_sec + skel->bss->xm_clock_ahead_s;
}

/* Stamps both entries of the flow from client port `port` as used
 * `ahead` seconds from now. Stamps only ever move forward: the clock
 * counts from boot, so one moved back could wrap. */
static void flow_stamp_ahead(uint16_t port, uint32_t ahead)
{
	struct xm_ct_slot *o = flow_slot(A_CLIENT, A_PUB0, port, 5000, IPPROTO_UDP);
	struct xm_ct_slot *r = flow_slot(A_BACKEND, A_BK0, 5000, port, IPPROTO_UDP);
	uint32_t at = dp_clock_s() + ahead;

	if (o)
		o->flow.last_seen_s = at;
	if (r)
		r->flow.last_seen_s = at;
}

static void test_sweeper(void)
{
	const char *w = "sweeper over the crowded table";
	int live, dead, displaced, aged = 0, n = -1, waited;

	cnt_mark();
	/* The data plane's clock jumps 1000 s ahead: flows at even positions
	 * of ports[] have been idle that long, the others are stamped at the
	 * new time first (a stamp ahead of the clock is busy). */
	for (int i = 0; i < nports; i++) {
		if (i % 2)
			flow_stamp_ahead(ports[i], 1000);
		else
			aged += flow_slot(A_CLIENT, A_PUB0, ports[i], 5000, IPPROTO_UDP) &&
				flow_slot(A_BACKEND, A_BK0, 5000, ports[i], IPPROTO_UDP);
	}
	skel->bss->xm_clock_ahead_s += 1000;
	for (waited = 0; waited < 4000; waited += 100) {
		sleep_ms(100);
		n = flows_count();
		if (n == 2 * (nports - aged))
			break;
	}
	tap_ok(n == 2 * (nports - aged),
	       "%s: the %d idle flows expire, the others stay (%d entries after %d ms)", w, aged, n,
	       waited);
	cnt_check(XM_C_FLOW_EXPIRED, (uint64_t)aged, w);
	{
		int kept = 0;

		for (int i = 1; i < nports; i += 2)
			ports[kept++] = ports[i];
		nports = kept;
	}
	sleep_ms(600); /* two more walks: the DEAD slots they left are cleaned */
	chains_whole(w, &live, &dead, &displaced);
	{
		int dead_before_empty = 0, empty = 0;

		for (uint32_t i = 0; i < ct_tab.nslots; i++) {
			empty += slot_state(i) == XM_CT_EMPTY;
			dead_before_empty += i + 1 < ct_tab.nslots && slot_state(i) == XM_CT_DEAD &&
					     slot_state(i + 1) == XM_CT_EMPTY;
		}
		tap_ok(dead_before_empty == 0 && empty > 0,
		       "%s: no DEAD slot is followed by an EMPTY one: cleaned up (%d DEAD, %d "
		       "EMPTY)",
		       w, dead, empty);
	}
	check_chains(w);
	tap_ok(all_flows_forward(w), "%s: the flows left still forward", w);
}

int main(void)
{
	if (env_start())
		return 0;
	A_PUB0 = IPV4(192, 0, 2, 1);
	A_CLIENT = IPV4(192, 0, 2, 10);
	A_BK0 = IPV4(198, 18, 0, 1);
	A_BACKEND = IPV4(198, 18, 0, 2);
	if (!tap_ok(setup() == 0, "namespace, a program with an 8-home flow table, one UDP rule"))
		return tap_done();
	test_fill();
	test_remove_and_reuse();
	test_sweeper();
	xm_ct_close(&ct_tab);
	xmasq_bpf__destroy(skel);
	return tap_done();
}
