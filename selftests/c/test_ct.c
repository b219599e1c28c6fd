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
#include "bpf_fixture.h"
#include <time.h>

#define HOMES	   8
#define SLOTS	   (HOMES + XM_CT_PROBES - 1)
#define RULE_UDP   1
#define FIRST_PORT 1000
#define MAX_TRIES  45

/* Client ports that got a flow, in order. */
static uint16_t ports[MAX_TRIES];
static int nports;

/* A table of SLOTS slots over HOMES homes, and a sweeper that walks it
 * in two runs. */
static int small_table(void)
{
	bpf_map__set_max_entries(skel->maps.flows, SLOTS);
	skel->rodata->xm_ct_homes = HOMES;
	skel->rodata->xm_ct_seed = 0x5eed;
	skel->rodata->xm_prog_epoch = 0x5eed0003; /* the sweeper runs */
	skel->rodata->xm_sweep_slice = 1;	  /* a walk of two runs, 64 slots each */
	return 0;
}

static int setup_maps(void)
{
	struct xm_config c = fixture_config();
	int err = 0;

	c.ct_max = XM_CT_FLOWS_OF(SLOTS);
	c.ct_seed = skel->rodata->xm_ct_seed;
	err |= fixture_set_config(&c);
	err |= fixture_base_ifaces();
	err |= add_rule(RULE_UDP, if_pub0, 0, 5000, IPPROTO_UDP, 0, A_BACKEND, 5000, 0);
	return err ? -1 : 0;
}

static struct pkt_spec client_udp(uint16_t sport)
{
	return client_spec(IPPROTO_UDP, sport, 5000, 0);
}

/* The client's datagram as the backend gets it (the client port is kept:
 * it is free in the masquerade table). */
static struct frame forwarded(uint16_t sport)
{
	return F(fwd_of(client_udp(sport), sport, 5000));
}

static struct frame backend_reply(uint16_t dport)
{
	return F(backend_spec(IPPROTO_UDP, 5000, dport, 0));
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
	TAP_EQ(live, 2 * nports, "%s: %d live entries", w, live);
	tap_ok(displaced >= live - HOMES, "%s: %d of them away from their home (chains exist)", w,
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
		TAP_EQ(found, nports,
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
	TAP_EQ(removed, nports - kept, "%s: %ld flows gone", w, removed);
	TAP_EQ(flows_count(), 2 * kept, "%s: %d entries left", w, 2 * kept);
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
	TAP_EQ(made, removed, "%s: the freed slots take %d new flows (%ld freed)", w, made,
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

/* DEAD slots followed by an EMPTY one (the sweeper turns them EMPTY);
 * *empty is set to the EMPTY slots. */
static int dead_before_empty(int *empty)
{
	int n = 0;

	*empty = 0;
	for (uint32_t i = 0; i < ct_tab.nslots; i++) {
		*empty += slot_state(i) == XM_CT_EMPTY;
		n += i + 1 < ct_tab.nslots && slot_state(i) == XM_CT_DEAD &&
		     slot_state(i + 1) == XM_CT_EMPTY;
	}
	return n;
}

static void test_sweeper(void)
{
	const char *w = "sweeper over the crowded table";
	int live, dead, displaced, aged = 0, n = -1, waited, empty;

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
	for (waited = 0; waited < SWEEP_WAIT_MS; waited += 100) {
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
	/* Later walks clean the DEAD slots up: as many as it takes, within
	 * the bound (a walk is 1 s apart on a calm table). */
	for (waited = 0; waited < SWEEP_WAIT_MS; waited += 100) {
		if (dead_before_empty(&empty) == 0 && empty > 0)
			break;
		sleep_ms(100);
	}
	chains_whole(w, &live, &dead, &displaced);
	tap_ok(dead_before_empty(&empty) == 0 && empty > 0,
	       "%s: no DEAD slot is followed by an EMPTY one: cleaned up (%d DEAD, %d EMPTY, "
	       "after %d ms)",
	       w, dead, empty, waited);
	check_chains(w);
	tap_ok(all_flows_forward(w), "%s: the flows left still forward", w);
}

int main(void)
{
	static void (*const tests[])(void) = { test_fill, test_remove_and_reuse, test_sweeper,
					       NULL };
	static const struct fixture fx = {
		.netns_what = "private network namespace with pub0, bk0, routes and neighbours",
		.netns = fixture_netns,
		.before_load = small_table,
		.maps_what = "a program with an 8-home flow table, one UDP rule",
		.maps = setup_maps,
		.tests = tests,
	};

	return fixture_main(&fx);
}
