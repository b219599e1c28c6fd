/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * BPF_PROG_TEST_RUN test of who may open a flow: a forward's `from` list
 * (allow_lists, bpf/guard.h). In the namespace of test_bpf.c (bpf_fixture.h):
 * clients 192.0.2.10 and 192.0.2.11 on pub0, the backend on bk0.
 *   rule 1: pub0 tcp 8080 -> backend:80, from list 5
 *   rule 2: pub0 tcp 8081 -> backend:81, no list
 * List 6 holds 192.0.2.11: a list's entries never admit to another list.
 */
#include "bpf_fixture.h"

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
	struct xm_rule_key k = {
		.ifindex = (uint32_t)if_pub0, .dport = htons(8080), .proto = IPPROTO_TCP
	};
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
		with_count(drop_case("list without 192.0.2.10: its new SYN is dropped", 0,
				     if_pub0, syn),
			   XM_C_DROP_NOT_ALLOWED, 1),
	};
	struct pkt_spec syn_pfx = client_spec(IPPROTO_TCP, 40011, 8080, TCP_SYN);

	tap_ok(list_entry(LIST_RULE, A_CLIENT, 32, 0) == 0 &&
		       list_entry(LIST_RULE, A_CLIENT2, 32, 1) == 0,
	       "from: list 5 now holds 192.0.2.11 instead of 192.0.2.10");
	FRAME_CASES_RUN("from", after);
	run_frame_case(with_count(redirect_case("SYN 192.0.2.11 -> :8080 (in the new list): new "
						"flow",
						0, if_pub0, from2(40012, 8080, TCP_SYN),
						spec_rewritten(from2(40012, 8080, TCP_SYN),
							       MAC_BACKEND, MAC_BK0, A_BK0,
							       A_BACKEND, 40012, 80)),
				  XM_C_FLOW_NEW, 1));
	/* A prefix: the longest match of the list's own id. */
	tap_ok(list_entry(LIST_RULE, IPV4(192, 0, 2, 0), 28, 1) == 0,
	       "from: list 5 gets 192.0.2.0/28");
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

int main(void)
{
	static void (*const tests[])(void) = {
		test_listed_source,
		test_list_shrinks,
		NULL, /* the list's end: one entry a line */
	};
	static const struct fixture fx = {
		.netns_what = "private network namespace with pub0, bk0, pub1, routes and "
			      "neighbours",
		.netns = setup_netns,
		.maps_what = "config, ifaces, tx_ports, rules and allow_lists populated",
		.maps = setup_maps,
		.tests = tests,
	};

	return fixture_main(&fx);
}
