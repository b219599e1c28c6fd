// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The flow census (bpf/census.h, loader/lib/census.c): the kernel copies
 * out the flow entries readers look at, and status and /metrics read
 * those instead of mapping the whole table. Checked against the mapped
 * walk on the same table: the same entries, the same flows, sources and
 * ports in use through libxmasq's own read (xm_snapshot_port_use_read,
 * with the census and with its program unpinned); two readers at once
 * (the second is refused, or takes over a census held too long, and the
 * first then knows); more flows than the census holds (the mapped walk).
 */
#include "bpf_fixture.h"
#include "xmasq_internal.h"
#include <sys/stat.h>

#define N_FLOWS	  300 /* masqueraded, both entries */
#define N_SOURCES 7
#define N_STUBS	  5 /* 6->4 flows' stubs */

static char pin_dir[64];

static int setup_maps(void)
{
	struct xm_config c = fixture_config();

	return fixture_set_config(&c) | fixture_base_ifaces();
}

/* The census program, loaded on the test's maps as attach does. */
static int census_pin(const char *path)
{
	char err[256];

	if (xm_census_load(bpf_map__fd(skel->maps.flows), bpf_map__fd(skel->maps.sweep_groups),
			   bpf_map__fd(skel->maps.census), path, err, sizeof(err))) {
		tap_diag("xm_census_load: %s", err);
		return -1;
	}
	return 0;
}

/* Pins the loaded maps and the census program under pin_dir, as attach
 * does, so that libxmasq opens them as a router's. */
static int pin_all(void)
{
	char path[PATH_MAX];

	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/test_census_%d", (int)getpid());
	if (mkdir(pin_dir, 0700) && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", pin_dir, XM_PIN_PROG_CENSUS);
	return bpf_object__pin_maps(skel->obj, pin_dir) || census_pin(path);
}

static void unpin_all(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, XM_PIN_PROG_CENSUS);
	unlink(path);
	bpf_object__unpin_maps(skel->obj, pin_dir);
	rmdir(pin_dir);
}

static int open_handle(struct xm_handle *h)
{
	char err[512];

	if (xm_open(h, pin_dir, err, sizeof(err))) {
		tap_diag("xm_open: %s", err);
		return -1;
	}
	return 0;
}

static struct xm_census_head census_head(void)
{
	struct xm_census_head head = { 0 };
	uint32_t zero = 0;

	bpf_map_lookup_elem(bpf_map__fd(skel->maps.census), &zero, &head);
	return head;
}

static void census_head_set(const struct xm_census_head *head)
{
	uint32_t zero = 0;

	bpf_map_update_elem(bpf_map__fd(skel->maps.census), &zero, head, BPF_ANY);
}

/* Masqueraded flow n, both entries, as the data plane makes them: host
 * 198.19.x.y (one of nsources) -> 198.18.200.5+ :443, leaving as
 * A_PUB0:port. Keys are unique up to 60,000 x 64,000 flows. */
static int insert_flow(uint32_t n, uint32_t nsources)
{
	struct xm_flow_key o = {
		.saddr = htonl(0xc6130000u | (1 + n % nsources)),
		.daddr = htonl(0xc612c805u + n / 60000),
		.sport = htons((uint16_t)(1024 + n / nsources)),
		.dport = htons(443),
		.proto = IPPROTO_TCP,
	};
	struct xm_flow f = {
		.new_saddr = A_PUB0,
		.new_daddr = o.daddr,
		.new_sport = htons((uint16_t)(1024 + n % 60000)),
		.new_dport = o.dport,
		.in_slot = 1,
		.out_slot = 0,
	};
	struct xm_flow_key r = {
		.saddr = o.daddr,
		.daddr = A_PUB0,
		.sport = o.dport,
		.dport = f.new_sport,
		.proto = IPPROTO_TCP,
	};
	struct xm_flow rf = {
		.new_saddr = o.daddr,
		.new_daddr = o.saddr,
		.new_sport = o.dport,
		.new_dport = o.sport,
		.flags = XM_FLOW_REPLY,
		.in_slot = 0,
		.out_slot = 1,
	};

	return xm_ct_insert(&ct_tab, &o, &f) | xm_ct_insert(&ct_tab, &r, &rf);
}

/* A 6->4 flow's stub: its IPv4 reply tuple, claiming the port. */
static int insert_stub(uint32_t n)
{
	struct xm_flow_key k = {
		.saddr = A_BACKEND,
		.daddr = A_BK0,
		.sport = htons(80),
		.dport = htons((uint16_t)(30000 + n)),
		.proto = IPPROTO_TCP,
	};
	struct xm_flow f = {
		.flags = XM_FLOW_REPLY,
		.in_slot = XM_SLOT_IPV6_FLOW,
		.out_slot = XM_SLOT_IPV6_FLOW,
	};

	return xm_ct_insert(&ct_tab, &k, &f);
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct xm_ct_slot *)a)->key, &((const struct xm_ct_slot *)b)->key,
		      sizeof(struct xm_flow_key));
}

/* The entries a census must hold, from the mapped table: live, and ORIG
 * or a stub. Sorted by key into *out (free it); their number. */
static size_t wanted_entries(struct xm_ct_slot **out)
{
	size_t n = 0;

	*out = calloc(ct_tab.nslots, sizeof(**out));
	for (size_t i = 0; *out && i < ct_tab.nslots; i++) {
		const struct xm_ct_slot *s = &ct_tab.slots[i];

		if (xm_ct_slot_live(s) &&
		    (!(s->flow.flags & XM_FLOW_REPLY) || xm_ct_is_stub(&s->flow)))
			(*out)[n++] = *s;
	}
	if (*out)
		qsort(*out, n, sizeof(**out), key_cmp);
	return n;
}

/* What a reader gets: flows, sources and the ports in use. */
struct reading {
	struct xm_snapshot s;
	struct xm_port_use pu;
};

static int read_all(struct xm_handle *h, struct reading *r)
{
	char err[512];

	memset(r, 0, sizeof(*r));
	if (xm_snapshot_port_use_read(h, &r->s, &r->pu, err, sizeof(err))) {
		tap_diag("xm_snapshot_port_use_read: %s", err);
		return -1;
	}
	return 0;
}

static void reading_free(struct reading *r)
{
	xm_port_use_free(&r->pu);
	xm_snapshot_free(&r->s);
}

static int same_reading(const struct reading *a, const struct reading *b)
{
	int same = a->s.flows == b->s.flows && a->s.flows_max == b->s.flows_max &&
		   !memcmp(&a->s.sources, &b->s.sources, sizeof(a->s.sources)) &&
		   a->pu.groups == b->pu.groups && a->pu.over_warn == b->pu.over_warn &&
		   a->pu.n_busiest == b->pu.n_busiest;

	for (size_t i = 0; same && i < a->pu.n_busiest; i++)
		same = !memcmp(&a->pu.busiest[i], &b->pu.busiest[i], sizeof(a->pu.busiest[i]));
	if (!same)
		tap_diag("census: flows %lu, sources %lu, busiest %lu, groups %lu; mapped: flows "
			 "%lu, sources %lu, busiest %lu, groups %lu",
			 a->s.flows, a->s.sources.sources, a->s.sources.busiest_flows, a->pu.groups,
			 b->s.flows, b->s.sources.sources, b->s.sources.busiest_flows,
			 b->pu.groups);
	return same;
}

/* The census' entries are the mapped table's; libxmasq's read through
 * it says what the mapped walk says. */
static void test_same_as_mapped(void)
{
	const char *w = "census";
	struct xm_census_head head = { 0 };
	struct reading by_census, by_map;
	struct xm_snapshot snap_census = { 0 }, snap_map = { 0 };
	struct xm_ct_slot *want, *got;
	char err[512];
	struct xm_handle h;
	struct xm_census c;
	size_t n_want;
	int ok = 1, rc;

	if (!tap_ok(open_handle(&h) == 0, "%s: libxmasq opens the pinned maps", w))
		return;
	rc = xm_census_take(&h, &c);
	tap_ok(rc == 0 && c.view.nslots == 0 && c.table_slots == ct_tab.nslots,
	       "%s: an empty table: no entries (%zu), the table's size (%u of %zu slots)", w,
	       rc ? 0 : c.view.nslots, c.table_slots, ct_tab.nslots);
	TAP_EQ(xm_census_give(&c), 0, "%s: given back intact", w);

	for (uint32_t i = 0; i < N_FLOWS; i++)
		ok &= insert_flow(i, N_SOURCES) == 0;
	for (uint32_t i = 0; i < N_STUBS; i++)
		ok &= insert_stub(i) == 0;
	tap_ok(ok, "%s: %d masqueraded flows from %d hosts and %d 6->4 stubs in the table", w,
	       N_FLOWS, N_SOURCES, N_STUBS);
	n_want = wanted_entries(&want);
	rc = xm_census_take(&h, &c);
	if (tap_ok(rc == 0 && want, "%s: taken", w)) {
		TAP_EQ(c.view.nslots, n_want, "%s: an entry for each ORIG entry and stub (%zu)", w,
		       n_want);
		got = calloc(c.view.nslots + 1, sizeof(*got));
		if (got) {
			memcpy(got, c.view.slots, c.view.nslots * sizeof(*got));
			qsort(got, c.view.nslots, sizeof(*got), key_cmp);
		}
		tap_ok(got && c.view.nslots == n_want && !memcmp(got, want, n_want * sizeof(*got)),
		       "%s: the entries are the table's, byte for byte", w);
		free(got);
		head = census_head();
		tap_ok(head.owner == c.token && head.owner != 0,
		       "%s: its head holds the reader's token (%#x) while read", w, head.owner);
		TAP_EQ(xm_census_give(&c), 0, "%s: given back intact", w);
		TAP_EQ(census_head().owner, 0, "%s: given back: no owner", w);
	}
	free(want);

	/* The reader's own read, with the census and without it. */
	head.owner = 0;
	head.since_s = 0;
	census_head_set(&head);
	rc = read_all(&h, &by_census);
	head = census_head();
	tap_ok(rc == 0 && head.since_s != 0 && head.owner == 0,
	       "%s: xm_snapshot_port_use_read ran the census (taken at %u s) and gave it back", w,
	       head.since_s);
	head.since_s = 0;
	census_head_set(&head);
	rc |= xm_snapshot_read(&h, &snap_census, err, sizeof(err));
	tap_ok(rc == 0 && census_head().since_s != 0,
	       "%s: xm_snapshot_read (stats, conntrack count) ran it too", w);
	xm_close(&h);
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", pin_dir, XM_PIN_PROG_CENSUS);
		unlink(path);
	}
	head.since_s = 0;
	census_head_set(&head);
	rc |= open_handle(&h) | read_all(&h, &by_map);
	rc |= xm_snapshot_read(&h, &snap_map, err, sizeof(err));
	tap_ok(rc == 0 && census_head().since_s == 0,
	       "%s: without prog_census (maps of an older build) the table is mapped instead", w);
	tap_ok(rc == 0 && same_reading(&by_census, &by_map) && by_map.s.flows == N_FLOWS &&
		       by_map.s.sources.sources == N_SOURCES,
	       "%s: the same flows (%lu), sources (%lu), busiest source (%lu flows) and ports in "
	       "use (%lu groups) as the mapped walk",
	       w, by_census.s.flows, by_census.s.sources.sources, by_census.s.sources.busiest_flows,
	       by_census.pu.groups);
	tap_ok(rc == 0 && snap_census.flows == snap_map.flows &&
		       snap_census.flows_max == snap_map.flows_max &&
		       !memcmp(&snap_census.sources, &snap_map.sources, sizeof(snap_map.sources)),
	       "%s: xm_snapshot_read: the same flows (%lu of %lu) and sources (%lu) both ways", w,
	       snap_census.flows, snap_census.flows_max, snap_census.sources.sources);
	xm_snapshot_free(&snap_census);
	xm_snapshot_free(&snap_map);
	reading_free(&by_census);
	reading_free(&by_map);
	xm_close(&h);
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", pin_dir, XM_PIN_PROG_CENSUS);
		tap_ok(census_pin(path) == 0, "%s: prog_census loaded and pinned again", w);
	}
}

/* Two readers: the second is refused while the first holds the census;
 * one held past XM_CENSUS_HOLD_S is taken over, and its reader learns it
 * when it gives it back. */
static void test_two_readers(void)
{
	const char *w = "two readers";
	struct xm_census first, second;
	struct xm_census_head head;
	struct xm_handle h;

	if (!tap_ok(open_handle(&h) == 0, "%s: libxmasq opens the pinned maps", w))
		return;
	if (!tap_ok(xm_census_take(&h, &first) == 0, "%s: the first takes the census", w))
		goto out;
	TAP_EQ(xm_census_take(&h, &second), -1, "%s: the second is refused (busy) meanwhile", w);
	TAP_EQ(xm_census_give(&first), 0, "%s: the first gives it back intact", w);
	if (!tap_ok(xm_census_take(&h, &second) == 0, "%s: then the second takes it", w))
		goto out;
	TAP_EQ(xm_census_give(&second), 0, "%s: and gives it back intact", w);

	if (!tap_ok(xm_census_take(&h, &first) == 0, "%s: the first takes it again", w))
		goto out;
	head = census_head();
	head.since_s -= XM_CENSUS_HOLD_S + 1;
	census_head_set(&head);
	tap_ok(xm_census_take(&h, &second) == 0 && second.token != first.token,
	       "%s: held %d s, the second takes it over", w, XM_CENSUS_HOLD_S + 1);
	TAP_EQ(xm_census_give(&first), -1,
	       "%s: the first learns it was taken over (its entries may be the second's)", w);
	TAP_EQ(xm_census_give(&second), 0, "%s: the second gives it back intact", w);
out:
	xm_close(&h);
}

/* More entries than the census holds: refused, and the reader's read
 * maps the table instead (the same figures). */
static void test_full(void)
{
	const char *w = "full";
	uint32_t n = XM_CENSUS_MAX + 1;
	struct reading r;
	struct xm_census c;
	struct xm_handle h;
	int ok = 1, rc;

	flows_clear();
	for (uint32_t i = 0; i < n; i++)
		ok &= insert_flow(i, 1000) == 0;
	tap_ok(ok, "%s: %u flows from 1000 hosts in the table", w, n);
	if (!tap_ok(open_handle(&h) == 0, "%s: libxmasq opens the pinned maps", w))
		return;
	TAP_EQ(xm_census_take(&h, &c), -1, "%s: the census refuses %u entries (it holds %d)", w, n,
	       XM_CENSUS_MAX);
	TAP_EQ(census_head().owner, 0, "%s: and leaves no owner behind", w);
	rc = read_all(&h, &r);
	tap_ok(rc == 0 && r.s.flows == n && r.s.sources.sources == 1000,
	       "%s: the reader's read maps the table instead: %lu flows, %lu sources", w, r.s.flows,
	       r.s.sources.sources);
	reading_free(&r);
	xm_close(&h);
	flows_clear();
}

/* A census program pinned over other maps (an older build replaced the
 * table since, attach --fresh) is not used: it would walk a table no one
 * uses. */
static void test_stale_pin(void)
{
	const char *w = "stale pin";
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);
	int other = bpf_map_create(BPF_MAP_TYPE_ARRAY, "flows", sizeof(__u32),
				   sizeof(struct xm_ct_slot), 128, &o);
	char path[PATH_MAX], err[256];
	struct xm_census c;
	struct xm_handle h;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, XM_PIN_PROG_CENSUS);
	if (!tap_ok(other >= 0 && xm_census_load(other, bpf_map__fd(skel->maps.sweep_groups),
						 bpf_map__fd(skel->maps.census), path, err,
						 sizeof(err)) == 0,
		    "%s: a census program on another flow table pinned", w))
		goto out;
	if (tap_ok(open_handle(&h) == 0, "%s: libxmasq opens the pinned maps", w)) {
		TAP_EQ(xm_census_take(&h, &c), -1,
		       "%s: not taken (its flow table is not the router's)", w);
		xm_close(&h);
	}
	tap_ok(census_pin(path) == 0, "%s: the right one pinned again", w);
out:
	if (other >= 0)
		close(other);
}

static void test_unpin(void)
{
	unpin_all();
	tap_ok(access(pin_dir, F_OK) != 0, "the test's pins removed");
}

static int setup(void)
{
	return setup_maps() | pin_all();
}

int main(void)
{
	static void (*const tests[])(void) = { test_same_as_mapped, test_two_readers, test_full,
					       test_stale_pin,	    test_unpin,	      NULL };
	static const struct fixture fx = {
		.netns_what = "private network namespace with pub0, bk0, routes and neighbours",
		.netns = fixture_netns,
		.maps_what = "maps set up and pinned under /sys/fs/bpf/test_census_PID",
		.maps = setup,
		.tests = tests,
	};

	return fixture_main(&fx);
}
