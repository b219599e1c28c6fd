/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * BPF_PROG_TEST_RUN test of who may open a flow: a forward's `from` list
 * (allow_lists, bpf/guard.h). In the namespace of test_bpf.c (bpf_fixture.h):
 * clients 192.0.2.10 and 192.0.2.11 on pub0, the backend on bk0.
 *   rule 1: pub0 tcp 8080 -> backend:80, from list 5
 *   rule 2: pub0 tcp 8081 -> backend:81, no list
 * List 6 holds 192.0.2.11: a list's entries never admit to another list.
 * Then the flows-per-source quota (source_flows, bpf/quota.h): refusals,
 * and counts that go back to 0 when the sweeper expires the flows or the
 * loader removes them.
 */
#include "bpf_fixture.h"
#include <sys/mman.h>
#include <time.h>

static const uint8_t MAC_CLIENT2[6] = { 0x02, 0, 0, 0, 0x00, 0x11 };
#define A_CLIENT2 IPV4(192, 0, 2, 11)

enum { RULE_LISTED = 1, RULE_OPEN = 2 };
#define LIST_RULE  5
#define LIST_OTHER 6

static int setup_netns(void)
{
	if (fixture_netns())
		return -1;
	return sh("ip neigh add 192.0.2.11 lladdr 02:00:00:00:00:11 dev pub0 nud permanent");
}

/* Adds (add 1) or removes (0) addr/len to list `list`. */
static int list_entry(uint32_t list, uint32_t addr, unsigned len, int add)
{
	struct xm_allow_key k = {
		.prefixlen = XM_ALLOW_V4_PLEN(len),
		.list = htonl(list),
		.addr = { 0, 0, htonl(0xffff), addr },
	};
	uint32_t one = 1;
	int fd = bpf_map__fd(skel->maps.allow_lists);

	return add ? bpf_map_update_elem(fd, &k, &one, BPF_ANY) : bpf_map_delete_elem(fd, &k);
}

static int setup_maps(void)
{
	struct xm_config c = fixture_config();
	struct xm_rule_key k = { .ifindex = (uint32_t)if_pub0,
				 .dport = htons(8080),
				 .proto = IPPROTO_TCP };
	struct xm_rule_value v = {
		.rule_id = RULE_LISTED,
		.to_addr = A_BACKEND,
		.to_port = htons(80),
		.allow_list = LIST_RULE,
	};
	int err = 0;

	err |= fixture_set_config(&c);
	err |= fixture_base_ifaces();
	err |= bpf_map_update_elem(fd_rules, &k, &v, BPF_NOEXIST);
	err |= add_rule(RULE_OPEN, if_pub0, 0, 8081, IPPROTO_TCP, 0, A_BACKEND, 81, 0);
	err |= list_entry(LIST_RULE, A_CLIENT, 32, 1);
	err |= list_entry(LIST_OTHER, A_CLIENT2, 32, 1);
	return err ? -1 : 0;
}

/* The rule's refusals, summed over CPUs. */
static uint64_t refused_of(uint32_t rule)
{
	uint64_t v[ncpus], sum = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.rule_refused), &rule, v))
		return ~0ull;
	for (int i = 0; i < ncpus; i++)
		sum += v[i];
	return sum;
}

static struct pkt_spec from2(uint16_t sport, uint16_t dport, uint8_t flags)
{
	return spec_between(IPPROTO_TCP, MAC_CLIENT2, A_CLIENT2, sport, MAC_PUB0, A_PUB0, dport,
			    flags);
}

static void test_listed_source(void)
{
	struct pkt_spec syn = client_spec(IPPROTO_TCP, 40000, 8080, TCP_SYN);
	struct frame_case cases[] = {
		with_count(redirect_case("SYN 192.0.2.10 -> :8080 (in the list): new flow", 0,
					 if_pub0, syn, fwd_of(syn, 40000, 80)),
			   XM_C_FLOW_NEW, 1),
		with_count(with_count(drop_case("SYN 192.0.2.11 -> :8080 (not in the list): "
						"dropped",
						0, if_pub0, from2(40001, 8080, TCP_SYN)),
				      XM_C_DROP_NOT_ALLOWED, 1),
			   XM_C_FLOW_NEW, 0),
		with_count(drop_case("tc: SYN 192.0.2.11 -> :8080 (not in the list): dropped", 1,
				     if_pub0, from2(40002, 8080, TCP_SYN)),
			   XM_C_DROP_NOT_ALLOWED, 1),
		with_count(redirect_case("SYN 192.0.2.11 -> :8081 (rule without a list): new flow",
					 0, if_pub0, from2(40003, 8081, TCP_SYN),
					 spec_rewritten(from2(40003, 8081, TCP_SYN), MAC_BACKEND,
							MAC_BK0, A_BK0, A_BACKEND, 40003, 81)),
			   XM_C_DROP_NOT_ALLOWED, 0),
	};

	flows_clear();
	FRAME_CASES_RUN("from", cases);
	TAP_EQ(refused_of(RULE_LISTED), 2, "from: rule 1 counts its 2 refusals");
	TAP_EQ(refused_of(RULE_OPEN), 0, "from: rule 2 (no list) counts none");
	TAP_EQ(flows_count(), 4, "from: 2 flows (4 entries), none for the refused source");
}

/* A list that no longer holds a source stops its new flows only: its
 * established one carries on (netfilter's behaviour). */
static void test_list_shrinks(void)
{
	struct pkt_spec data = with_payload(client_spec(IPPROTO_TCP, 40000, 8080, TCP_ACK), 20),
			syn = client_spec(IPPROTO_TCP, 40010, 8080, TCP_SYN);
	struct frame_case after[] = {
		with_count(redirect_case("list without 192.0.2.10: its established flow "
					 "carries on",
					 0, if_pub0, data, fwd_of(data, 40000, 80)),
			   XM_C_DROP_NOT_ALLOWED, 0),
		with_count(drop_case("list without 192.0.2.10: its new SYN is dropped", 0, if_pub0,
				     syn),
			   XM_C_DROP_NOT_ALLOWED, 1),
	};
	struct pkt_spec syn_pfx = client_spec(IPPROTO_TCP, 40011, 8080, TCP_SYN);

	tap_ok(list_entry(LIST_RULE, A_CLIENT, 32, 0) == 0 &&
		       list_entry(LIST_RULE, A_CLIENT2, 32, 1) == 0,
	       "from: list 5 now holds 192.0.2.11 instead of 192.0.2.10");
	FRAME_CASES_RUN("from", after);
	run_frame_case(
		with_count(redirect_case("SYN 192.0.2.11 -> :8080 (in the new list): new "
					 "flow",
					 0, if_pub0, from2(40012, 8080, TCP_SYN),
					 spec_rewritten(from2(40012, 8080, TCP_SYN), MAC_BACKEND,
							MAC_BK0, A_BK0, A_BACKEND, 40012, 80)),
			   XM_C_FLOW_NEW, 1));
	/* A prefix: the longest match of the list's own id. */
	tap_ok(list_entry(LIST_RULE, IPV4(192, 0, 2, 0), 28, 1) == 0, "from: list 5 gets "
								      "192.0.2.0/28");
	run_frame_case(with_count(redirect_case("SYN 192.0.2.10 -> :8080 (in 192.0.2.0/28): new "
						"flow",
						0, if_pub0, syn_pfx, fwd_of(syn_pfx, 40011, 80)),
				  XM_C_DROP_NOT_ALLOWED, 0));
	/* The other list's /0 admits nothing to rule 1. */
	tap_ok(list_entry(LIST_RULE, IPV4(192, 0, 2, 0), 28, 0) == 0 &&
		       list_entry(LIST_RULE, A_CLIENT2, 32, 0) == 0 &&
		       list_entry(LIST_OTHER, 0, 0, 1) == 0,
	       "from: list 5 emptied, list 6 gets 0.0.0.0/0");
	run_frame_case(with_count(drop_case("SYN 192.0.2.11 -> :8080 (list 5 empty, list 6 "
					    "admits any): dropped",
					    0, if_pub0, from2(40013, 8080, TCP_SYN)),
				  XM_C_DROP_NOT_ALLOWED, 1));
	flows_clear();
}

/* The sweeper runs under this program: flows of the quota test expire. */
static int before_load(void)
{
	skel->rodata->xm_prog_epoch = 0x5eed00a1;
	return 0;
}

/* Source saddr's count: its smallest bucket (what the quota compares). */
static int64_t source_count(uint32_t saddr)
{
	int fd = bpf_map__fd(skel->maps.source_flows);
	int64_t min = INT64_MAX;

	for (uint32_t row = 0; row < XM_SOURCE_ROWS; row++) {
		uint32_t slot = xm_source_slot(saddr, skel->rodata->xm_ct_seed, row);
		int64_t v;

		if (bpf_map_lookup_elem(fd, &slot, &v))
			return -999;
		if (v < min)
			min = v;
	}
	return min;
}

static void source_zero(uint32_t saddr)
{
	int fd = bpf_map__fd(skel->maps.source_flows);
	int64_t zero = 0;

	for (uint32_t row = 0; row < XM_SOURCE_ROWS; row++) {
		uint32_t slot = xm_source_slot(saddr, skel->rodata->xm_ct_seed, row);

		bpf_map_update_elem(fd, &slot, &zero, BPF_ANY);
	}
}

static int set_quota(uint32_t quota, uint32_t timeout)
{
	struct xm_config c = fixture_config();

	c.flows_per_source = quota;
	if (timeout)
		for (int i = 0; i < XM_TO_MAX; i++)
			c.timeouts[i] = timeout;
	return fixture_set_config(&c);
}

static struct pkt_spec open_syn(uint32_t client, uint16_t sport)
{
	return client == A_CLIENT ? client_spec(IPPROTO_TCP, sport, 8081, TCP_SYN) :
				    from2(sport, 8081, TCP_SYN);
}

static struct frame_case open_case(const char *name, uint32_t client, uint16_t sport)
{
	struct pkt_spec s = open_syn(client, sport);

	return redirect_case(name, 0, if_pub0, s,
			     spec_rewritten(s, MAC_BACKEND, MAC_BK0, A_BK0, A_BACKEND, sport, 81));
}

static int flow_all(const struct xm_ct_slot *orig, void *arg)
{
	(void)orig;
	(void)arg;
	return 1;
}

static void test_quota(void)
{
	struct pkt_spec data = with_payload(client_spec(IPPROTO_TCP, 41000, 8081, TCP_ACK), 20);
	struct frame_case cases[] = {
		open_case("192.0.2.10 first flow", A_CLIENT, 41000),
		open_case("192.0.2.10 second flow", A_CLIENT, 41001),
		with_count(with_count(drop_case("192.0.2.10 third flow: over the quota, dropped", 0,
						if_pub0, open_syn(A_CLIENT, 41002)),
				      XM_C_DROP_SOURCE_QUOTA, 1),
			   XM_C_FLOW_NEW, 0),
		with_count(open_case("192.0.2.11 first flow: another source is fine", A_CLIENT2,
				     41003),
			   XM_C_DROP_SOURCE_QUOTA, 0),
		with_count(redirect_case("192.0.2.10 established flow carries on", 0, if_pub0, data,
					 spec_rewritten(data, MAC_BACKEND, MAC_BK0, A_BK0,
							A_BACKEND, 41000, 81)),
			   XM_C_DROP_SOURCE_QUOTA, 0),
	};
	struct xm_ct_table t;
	int n = -1, waited;
	void *mem;

	flows_clear();
	source_zero(A_CLIENT);
	source_zero(A_CLIENT2);
	if (!tap_ok(set_quota(2, 1) == 0, "quota: flows-per-source 2, every timeout 1 s"))
		return;
	FRAME_CASES_RUN("quota", cases);
	TAP_EQ(source_count(A_CLIENT), 2, "quota: 192.0.2.10 counts 2 flows");
	TAP_EQ(source_count(A_CLIENT2), 1, "quota: 192.0.2.11 counts 1 flow");

	/* The sweeper expires them: each takes its flow off its source. */
	for (waited = 0; waited < SWEEP_WAIT_MS; waited += 100) {
		struct timespec ts = { 0, 100 * 1000000 };

		/* A source's count drops just after its flow's entries go. */
		n = flows_count();
		if (n == 0 && source_count(A_CLIENT) == 0 && source_count(A_CLIENT2) == 0)
			break;
		nanosleep(&ts, NULL);
	}
	tap_ok(n == 0, "quota: the sweeper expired every flow (after %d ms, %d entries left)",
	       waited, n);
	TAP_EQ(source_count(A_CLIENT), 0, "quota: after expiry 192.0.2.10 counts 0");
	TAP_EQ(source_count(A_CLIENT2), 0, "quota: after expiry 192.0.2.11 counts 0");

	/* Back under the quota; then the loader's removal (flush, a NIC
	 * gone, detach: xm_ct_remove_if / xm_ct_clear) takes its count off. */
	tap_ok(set_quota(2, 0) == 0, "quota: timeouts back to their defaults");
	run_frame_case(
		with_count(open_case("192.0.2.10 after expiry: admitted again", A_CLIENT, 41004),
			   XM_C_FLOW_NEW, 1));
	TAP_EQ(source_count(A_CLIENT), 1, "quota: 192.0.2.10 counts 1 flow again");
	mem = mmap(NULL, (size_t)XM_SOURCE_SLOTS * sizeof(int64_t), PROT_READ | PROT_WRITE,
		   MAP_SHARED, bpf_map__fd(skel->maps.source_flows), 0);
	if (tap_ok(mem != MAP_FAILED, "quota: source_flows maps into memory")) {
		t = ct_tab;
		t.source_flows = mem;
		TAP_EQ(xm_ct_remove_if(&t, flow_all, NULL), 1,
		       "quota: the loader removes the flow");
		TAP_EQ(source_count(A_CLIENT), 0,
		       "quota: after the loader's removal 192.0.2.10 "
		       "counts 0");
		munmap(mem, (size_t)XM_SOURCE_SLOTS * sizeof(int64_t));
	}
	tap_ok(set_quota(0, 0) == 0, "quota: off");
	flows_clear();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_listed_source, test_list_shrinks, test_quota,
		NULL, /* the list's end: one entry a line */
	};
	static const struct fixture fx = {
		.netns_what = "private network namespace with pub0, bk0, pub1, routes and "
			      "neighbours",
		.netns = setup_netns,
		.before_load = before_load,
		.maps_what = "config, ifaces, tx_ports, rules and allow_lists populated",
		.maps = setup_maps,
		.tests = tests,
	};

	return fixture_main(&fx);
}
