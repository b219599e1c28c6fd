// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xbench: the measuring half of `make bench` (tools/bench/bench.sh drives it).
 *
 *   xbench gen  ...         live-frame UDP generator (IPv4, or IPv6 when the
 *                           addresses are); reports the rate the sink
 *                           counted over a window after a warm-up, or
 *                           within a burst of --packets N
 *   xbench sink attach DEV PIN | sink read PIN
 *   xbench bare attach IN OUT IN_PEER_MAC OUT_PEER_MAC
 *   xbench prog ...         BPF_PROG_TEST_RUN timing of a program (xmasq's
 *                           pinned XDP program, the bare router, or nothing)
 *   xbench xmasq-attach ... libxmasq's attach with a conntrack size
 *   xbench rr server PORT | rr client ADDR PORT SECONDS
 *   xbench ct-slots PIN_DIR  the flow table's slots by state (make soak:
 *                           nothing may stay live or half-written)
 *
 * Every command prints one line of JSON on success (what bench.sh parses)
 * and exits 0; errors go to stderr with exit status 1 (2: usage).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench.h"
#include "bench.skel.h"
#include "xmasq.h"

static int usage(void)
{
	fputs("usage: xbench gen --dev IF --dmac MAC --smac MAC --src IP --dst IP\n"
	      "                  [--sport N] [--dport N] [--dport-bits B] [--flows N (0: all "
	      "new)]\n"
	      "                  [--first N] [--warmup S] [--time S | --packets N] --sink PIN\n"
	      "                  [--cpu N]   (--src/--dst IPv6: IPv6 frames)\n"
	      "       xbench sink attach DEV PIN | sink read PIN\n"
	      "       xbench bare attach IN OUT IN_PEER_MAC OUT_PEER_MAC\n"
	      "       xbench prog --target PIN|bare|drop --dev IF [packet options as gen]\n"
	      "                   [--repeat N] [--rounds K] [--bare-out IF --bare-dmac MAC]\n"
	      "       xbench xmasq-attach --pin-dir DIR [--mode xdp|tc] [--ct-max N] [--ct6-max N] "
	      "IF...\n"
	      "       xbench rr server PORT | rr client ADDR PORT SECONDS\n"
	      "       xbench timer-probe N\n"
	      "       xbench ct-slots PIN_DIR\n",
	      stderr);
	return 2;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_mac(const char *s, __u8 *mac)
{
	unsigned b[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (__u8)b[i];
	return 0;
}

/* An IPv4 address (into *host, host order) or, with a colon, an IPv6
 * one (into a6, network order). 4 or 6, or -1. */
static int parse_ip(const char *s, __u32 *host, __u8 *a6)
{
	struct in_addr a;

	if (strchr(s, ':'))
		return inet_pton(AF_INET6, s, a6) == 1 ? 6 : -1;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*host = ntohl(a.s_addr);
	return 4;
}

static int if_index(const char *name)
{
	int i = (int)if_nametoindex(name);

	if (!i)
		fprintf(stderr, "xbench: no interface %s in this network namespace\n", name);
	return i;
}

/* By ioctl, not /sys/class/net: under `nsenter --net` sysfs still shows
 * the namespace it was mounted in. */
static int if_mac(const char *name, __u8 *mac)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
	close(fd);
	if (rc)
		return -1;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

static struct bench_bpf *open_skel(void)
{
	struct bench_bpf *skel = bench_bpf__open();

	if (!skel)
		fprintf(stderr, "xbench: cannot open the BPF object: %s\n", strerror(errno));
	return skel;
}

static int load_skel(struct bench_bpf *skel)
{
	int err = bench_bpf__load(skel);

	if (err)
		fprintf(stderr, "xbench: cannot load the BPF object: %s\n", strerror(-err));
	return err;
}

/* ---- packet options shared by gen and prog ------------------------------ */

struct pkt_opts {
	struct xb_gen_cfg cfg;
	int have_dmac, have_smac, have_src, have_dst; /* have_src, _dst: 4 or 6 */
	int v6;					      /* IPv6 frames (pkt_finish) */
	const char *dev;
};

enum {
	O_DEV = 256,
	O_DMAC,
	O_SMAC,
	O_SRC,
	O_DST,
	O_SPORT,
	O_DPORT,
	O_DBITS,
	O_FLOWS,
	O_FIRST,
	O_WARMUP,
	O_TIME,
	O_SINK,
	O_CPU,
	O_TARGET,
	O_REPEAT,
	O_BARE_OUT,
	O_BARE_DMAC,
	O_ROUNDS,
	O_PACKETS,
};

static const struct option pkt_longopts[] = {
	{ "dev", required_argument, NULL, O_DEV },
	{ "dmac", required_argument, NULL, O_DMAC },
	{ "smac", required_argument, NULL, O_SMAC },
	{ "src", required_argument, NULL, O_SRC },
	{ "dst", required_argument, NULL, O_DST },
	{ "sport", required_argument, NULL, O_SPORT },
	{ "dport", required_argument, NULL, O_DPORT },
	{ "dport-bits", required_argument, NULL, O_DBITS },
	{ "flows", required_argument, NULL, O_FLOWS },
	{ "first", required_argument, NULL, O_FIRST },
	{ "warmup", required_argument, NULL, O_WARMUP },
	{ "time", required_argument, NULL, O_TIME },
	{ "sink", required_argument, NULL, O_SINK },
	{ "cpu", required_argument, NULL, O_CPU },
	{ "target", required_argument, NULL, O_TARGET },
	{ "repeat", required_argument, NULL, O_REPEAT },
	{ "bare-out", required_argument, NULL, O_BARE_OUT },
	{ "bare-dmac", required_argument, NULL, O_BARE_DMAC },
	{ "rounds", required_argument, NULL, O_ROUNDS },
	{ "packets", required_argument, NULL, O_PACKETS },
	{ 0 },
};

/* Handles a packet option; 1 if it was one, 0 if not, -1 if bad. */
static int pkt_opt(struct pkt_opts *p, int c, const char *arg)
{
	switch (c) {
	case O_DEV:
		p->dev = arg;
		return 1;
	case O_DMAC:
		p->have_dmac = 1;
		return parse_mac(arg, p->cfg.dmac) ? -1 : 1;
	case O_SMAC:
		p->have_smac = 1;
		return parse_mac(arg, p->cfg.smac) ? -1 : 1;
	case O_SRC:
		p->have_src = parse_ip(arg, &p->cfg.saddr, p->cfg.saddr6);
		return p->have_src < 0 ? -1 : 1;
	case O_DST:
		p->have_dst = parse_ip(arg, &p->cfg.daddr, p->cfg.daddr6);
		return p->have_dst < 0 ? -1 : 1;
	case O_SPORT:
		p->cfg.sport = (__u16)strtoul(arg, NULL, 0);
		return 1;
	case O_DPORT:
		p->cfg.dport = (__u16)strtoul(arg, NULL, 0);
		return 1;
	case O_DBITS:
		p->cfg.dport_bits = (__u32)strtoul(arg, NULL, 0);
		return p->cfg.dport_bits > 15 ? -1 : 1;
	case O_FLOWS:
		p->cfg.nflows = (__u32)strtoul(arg, NULL, 0);
		return 1;
	case O_FIRST:
		p->cfg.first = strtoull(arg, NULL, 0);
		return 1;
	default:
		return 0;
	}
}

static int pkt_finish(struct pkt_opts *p)
{
	static const char payload[XB_PAYLOAD_LEN] = "xmasq-bench-frame";
	__u32 sum = 0;

	if (!p->dev || !p->have_dmac || !p->have_src || !p->have_dst) {
		fprintf(stderr, "xbench: --dev, --dmac, --src and --dst are required\n");
		return -1;
	}
	if (p->have_src != p->have_dst) {
		fprintf(stderr, "xbench: --src and --dst of different families\n");
		return -1;
	}
	p->v6 = p->have_src == 6;
	if (!p->have_smac && if_mac(p->dev, p->cfg.smac)) {
		fprintf(stderr, "xbench: cannot read the MAC of %s\n", p->dev);
		return -1;
	}
	memcpy(p->cfg.payload, payload, XB_PAYLOAD_LEN);
	/* The payload never changes: its checksum share is summed once here
	 * (big-endian 16-bit words, as the BPF side adds host-order fields). */
	for (int i = 0; i < XB_PAYLOAD_LEN; i += 2)
		sum += (__u32)(__u8)payload[i] << 8 | (__u8)payload[i + 1];
	p->cfg.payload_sum = sum;
	/* IPv6's fixed share: the source but its last 32 bits (which the
	 * flow index changes), the destination, the pseudo-header's length
	 * and next header, the UDP length field, the payload. */
	for (int i = 0; i < 16; i += 2) {
		if (i < 12)
			sum += (__u32)p->cfg.saddr6[i] << 8 | p->cfg.saddr6[i + 1];
		sum += (__u32)p->cfg.daddr6[i] << 8 | p->cfg.daddr6[i + 1];
	}
	p->cfg.sum6 = sum + 2 * XB_UDP_LEN + IPPROTO_UDP;
	return 0;
}

/* The frame's length: IPv4's or IPv6's. */
static __u32 frame_len(const struct pkt_opts *p)
{
	return p->v6 ? XB_FRAME6_LEN : XB_FRAME_LEN;
}

static int set_gen_cfg(struct bench_bpf *skel, const struct xb_gen_cfg *cfg)
{
	memcpy(&skel->bss->gen_cfg, cfg, sizeof(*cfg));
	return 0;
}

/* Sum of the sink's per-CPU counter. */
static int sink_read(int fd, __u64 *total)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *v;
	__u32 zero = 0;

	if (ncpu <= 0)
		return -1;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -1;
	if (bpf_map_lookup_elem(fd, &zero, v)) {
		free(v);
		return -1;
	}
	*total = 0;
	for (int i = 0; i < ncpu; i++)
		*total += v[i];
	free(v);
	return 0;
}

/* ---- gen ---------------------------------------------------------------- */

/* --packets: the sink counter sampled by a thread of its own while one
 * live test run sends the burst, so that the rate is taken while frames
 * flow, without the run's fixed set-up and tear-down (~10 ms) in it. */
#define BURST_SAMPLES 65536

struct burst_sampler {
	int fd;
	volatile int stop;
	int n;
	double t[BURST_SAMPLES];
	__u64 c[BURST_SAMPLES];
};

static void *burst_sample(void *arg)
{
	struct burst_sampler *b = arg;
	struct timespec nap = { .tv_nsec = 100000 };
	double t0;

	while (!b->stop && b->n < BURST_SAMPLES) {
		t0 = now_s();
		if (sink_read(b->fd, &b->c[b->n]))
			break;
		b->t[b->n] = (t0 + now_s()) / 2;
		b->n++;
		nanosleep(&nap, NULL);
	}
	return NULL;
}

/* Keeps the sampler off the generator's CPU (it inherits the process's
 * affinity): on that CPU it would not run until the burst is over. */
static void burst_affinity(pthread_t th, int gen_cpu)
{
	int n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (gen_cpu < 0 || n < 2)
		return;
	CPU_ZERO(&set);
	for (int i = 0; i < n && i < CPU_SETSIZE; i++)
		if (i != gen_cpu)
			CPU_SET(i, &set);
	pthread_setaffinity_np(th, sizeof(set), &set);
}

/* One live run of `packets` frames. The rate: between the samples where
 * the sink had counted 10 % and 90 % of what it received in the burst
 * (frames the router dropped are not in it). */
static int gen_burst(int prog_fd, struct bpf_test_run_opts *o, int sink_fd, __u32 packets, int cpu)
{
	struct burst_sampler *b = calloc(1, sizeof(*b));
	__u64 base, last, lo, hi;
	double ts, te, pps;
	int a = -1, z = -1, rc = 1;
	pthread_t th;

	if (!b)
		return 1;
	b->fd = sink_fd;
	if (sink_read(sink_fd, &base))
		goto out_read;
	if (pthread_create(&th, NULL, burst_sample, b)) {
		fprintf(stderr, "xbench: sampler thread: %s\n", strerror(errno));
		goto out;
	}
	burst_affinity(th, cpu);
	usleep(2000);
	o->repeat = packets;
	ts = now_s();
	if (bpf_prog_test_run_opts(prog_fd, o)) {
		fprintf(stderr, "xbench: live test run: %s\n", strerror(errno));
		b->stop = 1;
		pthread_join(th, NULL);
		goto out;
	}
	te = now_s();
	usleep(2000); /* the last frames' softirq, on a CPU the sampler sees */
	b->stop = 1;
	pthread_join(th, NULL);
	if (sink_read(sink_fd, &last))
		goto out_read;
	lo = base + (last - base) / 10;
	hi = base + (last - base) * 9 / 10;
	for (int i = 0; i < b->n; i++) {
		if (a < 0 && b->c[i] >= lo && b->c[i] > base)
			a = i;
		if (z < 0 && b->c[i] >= hi) {
			z = i;
			break;
		}
	}
	if (a >= 0 && z > a && b->t[z] > b->t[a])
		pps = (double)(b->c[z] - b->c[a]) / (b->t[z] - b->t[a]);
	else /* too few samples in the burst: the whole run's time */
		pps = (double)(last - base) / (te - ts);
	printf("{\"pps\": %.0f, \"sent_pps\": %.0f, \"window_s\": %.4f, \"received\": %llu, "
	       "\"sent\": %u, \"run_s\": %.4f, \"samples\": %d}\n",
	       pps, packets / (te - ts), z > a && a >= 0 ? b->t[z] - b->t[a] : te - ts,
	       (unsigned long long)(last - base), packets, te - ts, b->n);
	rc = 0;
	goto out;
out_read:
	fprintf(stderr, "xbench: cannot read the sink counter: %s\n", strerror(errno));
out:
	free(b);
	return rc;
}

static int cmd_gen(int argc, char **argv)
{
	struct pkt_opts p = { .cfg = { .nflows = 1, .sport = 10000, .dport = 5000 } };
	double warmup = 1, window = 2, t0 = 0, t1 = 0, tstart, t;
	const char *sink = NULL;
	__u64 c0 = 0, c1 = 0, sent = 0, sent0 = 0, sent1 = 0;
	unsigned char frame[XB_FRAME_MAX] = { 0 };
	struct xdp_md ctx_in = { 0 };
	struct bench_bpf *skel;
	int c, r, sink_fd, cpu = -1, rc = 1;
	__u32 packets = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", pkt_longopts, NULL)) != -1) {
		r = pkt_opt(&p, c, optarg);
		if (r < 0)
			return usage();
		if (r)
			continue;
		if (c == O_WARMUP)
			warmup = atof(optarg);
		else if (c == O_TIME)
			window = atof(optarg);
		else if (c == O_SINK)
			sink = optarg;
		else if (c == O_CPU)
			cpu = atoi(optarg);
		else if (c == O_PACKETS)
			packets = (__u32)strtoul(optarg, NULL, 0);
		else
			return usage();
	}
	if (!sink || pkt_finish(&p))
		return usage();
	ctx_in.data_end = frame_len(&p);
	p.cfg.out_ifindex = (__u32)if_index(p.dev);
	if (!p.cfg.out_ifindex)
		return 1;
	sink_fd = bpf_obj_get(sink);
	if (sink_fd < 0) {
		fprintf(stderr, "xbench: sink map %s: %s\n", sink, strerror(errno));
		return 1;
	}
	if (cpu >= 0) {
		/* The whole path (generator, veth, router, sink) runs in the
		 * softirqs of this CPU: pinning keeps runs comparable. */
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	skel = open_skel();
	if (!skel)
		return 1;
	set_gen_cfg(skel, &p.cfg);
	if (load_skel(skel))
		goto out;
	/* The frame's ingress device is the generator's own veth: live
	 * frames need one, and redirecting to it sends them to its peer. */
	ctx_in.ingress_ifindex = p.cfg.out_ifindex;
	{
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = frame_len(&p),
			    .ctx_in = &ctx_in, .ctx_size_in = sizeof(ctx_in),
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .repeat = 64);
		int fd = bpf_program__fd(p.v6 ? skel->progs.xb_gen6 : skel->progs.xb_gen);
		double tc, per_pkt;

		if (packets) {
			rc = gen_burst(fd, &o, sink_fd, packets, cpu);
			goto out;
		}
		tstart = now_s();
		for (;;) {
			/* A live test run sends all its frames through the whole
			 * path before it returns, and each run has a fixed cost
			 * (~10 ms here: the frame pool is set up and torn down)
			 * during which nothing is sent. Runs are therefore sized
			 * to last ~0.25 s whatever the router's speed (from one
			 * packet a few us with 100k iptables rules to 2 Mpps). */
			tc = now_s();
			if (bpf_prog_test_run_opts(fd, &o)) {
				fprintf(stderr, "xbench: live test run: %s\n", strerror(errno));
				goto out;
			}
			sent += o.repeat;
			t = now_s();
			per_pkt = (t - tc) / o.repeat;
			if (per_pkt > 0) {
				double want = 0.25 / per_pkt;

				o.repeat = want > (1 << 22) ? (1 << 22) :
					   want < 64	    ? 64 :
							      (__u32)want;
			}
			if (!t0 && t - tstart >= warmup) {
				if (sink_read(sink_fd, &c0))
					goto out_read;
				t0 = now_s();
				sent0 = sent;
			} else if (t0 && t - t0 >= window) {
				if (sink_read(sink_fd, &c1))
					goto out_read;
				t1 = now_s();
				sent1 = sent;
				break;
			}
		}
	}
	printf("{\"pps\": %.0f, \"sent_pps\": %.0f, \"window_s\": %.3f, \"received\": %llu}\n",
	       (double)(c1 - c0) / (t1 - t0), (double)(sent1 - sent0) / (t1 - t0), t1 - t0,
	       (unsigned long long)(c1 - c0));
	rc = 0;
	goto out;
out_read:
	fprintf(stderr, "xbench: cannot read the sink counter: %s\n", strerror(errno));
out:
	bench_bpf__destroy(skel);
	close(sink_fd);
	return rc;
}

/* ---- sink ---------------------------------------------------------------- */

static int cmd_sink(int argc, char **argv)
{
	struct bench_bpf *skel;
	__u64 total;
	int rc = 1, ifindex, fd;

	if (argc == 3 && !strcmp(argv[1], "read")) {
		fd = bpf_obj_get(argv[2]);
		if (fd < 0 || sink_read(fd, &total)) {
			fprintf(stderr, "xbench: sink map %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		printf("{\"packets\": %llu}\n", (unsigned long long)total);
		return 0;
	}
	if (argc != 4 || strcmp(argv[1], "attach"))
		return usage();
	ifindex = if_index(argv[2]);
	if (!ifindex)
		return 1;
	skel = open_skel();
	if (!skel || load_skel(skel))
		goto out;
	if (bpf_map__pin(skel->maps.xb_sink_cnt, argv[3])) {
		fprintf(stderr, "xbench: pin %s: %s\n", argv[3], strerror(errno));
		goto out;
	}
	/* Native mode: a veth with an XDP program takes redirected frames. */
	if (bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.xb_sink), XDP_FLAGS_DRV_MODE,
			   NULL)) {
		fprintf(stderr, "xbench: attach the sink to %s: %s\n", argv[2], strerror(errno));
		bpf_map__unpin(skel->maps.xb_sink_cnt, argv[3]);
		goto out;
	}
	printf("{\"sink\": \"%s\"}\n", argv[2]);
	rc = 0;
out:
	bench_bpf__destroy(skel);
	return rc;
}

/* ---- bare router ---------------------------------------------------------- */

/* Frames arriving on `in` leave by `out` towards out_peer. */
static int bare_port(struct bench_bpf *skel, int in, int out, const char *out_name,
		     const __u8 *out_peer)
{
	struct xb_bare_port v = { .out_ifindex = (__u32)out };
	__u32 k = (__u32)in, o = (__u32)out;

	if (if_mac(out_name, v.smac)) {
		fprintf(stderr, "xbench: cannot read the MAC of %s\n", out_name);
		return -1;
	}
	memcpy(v.dmac, out_peer, 6);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.xb_bare_ports), &k, &v, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.xb_bare_tx), &o, &o, BPF_ANY)) {
		fprintf(stderr, "xbench: bare router maps: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int cmd_bare(int argc, char **argv)
{
	struct bench_bpf *skel;
	__u8 in_peer[6], out_peer[6];
	int in, out, rc = 1, fd;

	if (argc != 6 || strcmp(argv[1], "attach") || parse_mac(argv[4], in_peer) ||
	    parse_mac(argv[5], out_peer))
		return usage();
	in = if_index(argv[2]);
	out = if_index(argv[3]);
	if (!in || !out)
		return 1;
	skel = open_skel();
	if (!skel || load_skel(skel))
		goto out;
	if (bare_port(skel, in, out, argv[3], out_peer) ||
	    bare_port(skel, out, in, argv[2], in_peer))
		goto out;
	fd = bpf_program__fd(skel->progs.xb_bare);
	/* Both directions, so TCP (with its ACKs) works through it too. */
	if (bpf_xdp_attach(in, fd, XDP_FLAGS_DRV_MODE, NULL) ||
	    bpf_xdp_attach(out, fd, XDP_FLAGS_DRV_MODE, NULL)) {
		fprintf(stderr, "xbench: attach the bare router: %s\n", strerror(errno));
		bpf_xdp_detach(in, XDP_FLAGS_DRV_MODE, NULL);
		goto out;
	}
	printf("{\"bare\": \"%s -> %s\"}\n", argv[2], argv[3]);
	rc = 0;
out:
	bench_bpf__destroy(skel);
	return rc;
}

/* ---- prog: BPF_PROG_TEST_RUN timing ---------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The value at quantile q (0..1) of n sorted values, interpolated. */
static double quantile(const double *sorted, int n, double q)
{
	double pos = q * (n - 1);
	int lo = (int)pos;

	if (lo >= n - 1)
		return sorted[n - 1];
	return sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]);
}

/* One test run of the wrapper (of the frame's family: ctx_in->data_end
 * is its length) with `target_fd` behind its tail call: ns per
 * repetition, or -1. */
static double prog_run(struct bench_bpf *skel, int target_fd, unsigned char *frame,
		       struct xdp_md *ctx_in, unsigned long repeat, __u32 *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = ctx_in->data_end,
		    .ctx_in = ctx_in, .ctx_size_in = sizeof(*ctx_in), .repeat = (int)repeat);
	struct bpf_program *wrap = ctx_in->data_end == XB_FRAME6_LEN ? skel->progs.xb_wrap6 :
								       skel->progs.xb_wrap;
	__u32 zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(skel->maps.xb_target), &zero, &target_fd, BPF_ANY)) {
		fprintf(stderr, "xbench: tail-call target: %s\n", strerror(errno));
		return -1;
	}
	if (bpf_prog_test_run_opts(bpf_program__fd(wrap), &o)) {
		fprintf(stderr, "xbench: test run: %s\n", strerror(errno));
		return -1;
	}
	*retval = o.retval;
	return o.duration;
}

/* The program's own cost, measured so that noise cannot make it negative
 * by construction of the method rather than by luck: `rounds` short runs
 * of the target alternate with runs of the wrapper alone (the drop target)
 * on the same frames (the generator's sequence is rewound after each
 * baseline run), and the answer is the median of the per-round
 * differences. Drift (frequency, a neighbour's load) hits both halves of
 * a round alike; one slow round moves the median little. */
static int prog_alternate(struct bench_bpf *skel, int tfd, unsigned char *frame,
			  struct xdp_md *ctx_in, unsigned long repeat, int rounds)
{
	int drop_fd = bpf_program__fd(skel->progs.xb_drop), k, rc = 1;
	double *diff = calloc(rounds, sizeof(*diff)), *tgt = calloc(rounds, sizeof(*tgt));
	double *base = calloc(rounds, sizeof(*base));
	unsigned long each = repeat / rounds ? repeat / rounds : 1;
	__u32 retval = 0, drop_ret;

	if (!diff || !tgt || !base)
		goto out;
	for (k = 0; k < rounds; k++) {
		__u64 seq = skel->bss->gen_seq;

		/* Alternate which half goes first, so that a trend inside a
		 * round does not always favour one side. */
		if (k & 1) {
			base[k] = prog_run(skel, drop_fd, frame, ctx_in, each, &drop_ret);
			skel->bss->gen_seq = seq;
			tgt[k] = prog_run(skel, tfd, frame, ctx_in, each, &retval);
		} else {
			tgt[k] = prog_run(skel, tfd, frame, ctx_in, each, &retval);
			seq = skel->bss->gen_seq;
			base[k] = prog_run(skel, drop_fd, frame, ctx_in, each, &drop_ret);
			skel->bss->gen_seq = seq;
		}
		if (tgt[k] < 0 || base[k] < 0)
			goto out;
		diff[k] = tgt[k] - base[k];
	}
	qsort(diff, rounds, sizeof(*diff), cmp_double);
	qsort(tgt, rounds, sizeof(*tgt), cmp_double);
	qsort(base, rounds, sizeof(*base), cmp_double);
	printf("{\"ns\": %.1f, \"ns_q1\": %.1f, \"ns_q3\": %.1f, \"target_ns\": %.1f, "
	       "\"wrapper_ns\": %.1f, \"retval\": %u, \"repeat\": %lu, \"rounds\": %d}\n",
	       quantile(diff, rounds, 0.5), quantile(diff, rounds, 0.25),
	       quantile(diff, rounds, 0.75), quantile(tgt, rounds, 0.5),
	       quantile(base, rounds, 0.5), retval, each * rounds, rounds);
	rc = 0;
out:
	free(diff);
	free(tgt);
	free(base);
	return rc;
}

static int cmd_prog(int argc, char **argv)
{
	struct pkt_opts p = { .cfg = { .nflows = 1, .sport = 10000, .dport = 5000 } };
	const char *target = NULL, *bare_out = NULL;
	__u8 bare_dmac[6] = { 0 };
	unsigned char frame[XB_FRAME_MAX] = { 0 };
	struct xdp_md ctx_in = { 0 };
	unsigned long repeat = 1000000;
	struct bench_bpf *skel;
	int c, r, tfd = -1, rc = 1, in, rounds = 1;
	__u32 retval = 0;
	double ns;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", pkt_longopts, NULL)) != -1) {
		r = pkt_opt(&p, c, optarg);
		if (r < 0)
			return usage();
		if (r)
			continue;
		if (c == O_TARGET)
			target = optarg;
		else if (c == O_REPEAT)
			repeat = strtoul(optarg, NULL, 0);
		else if (c == O_ROUNDS)
			rounds = atoi(optarg);
		else if (c == O_BARE_OUT)
			bare_out = optarg;
		else if (c == O_BARE_DMAC) {
			if (parse_mac(optarg, bare_dmac))
				return usage();
		} else
			return usage();
	}
	if (!target || pkt_finish(&p) || rounds < 1 || repeat < 1)
		return usage();
	ctx_in.data_end = frame_len(&p);
	in = if_index(p.dev);
	if (!in)
		return 1;
	skel = open_skel();
	if (!skel)
		return 1;
	set_gen_cfg(skel, &p.cfg);
	if (load_skel(skel))
		goto out;
	if (!strcmp(target, "drop")) {
		tfd = bpf_program__fd(skel->progs.xb_drop);
	} else if (!strcmp(target, "bare")) {
		int out_if = bare_out ? if_index(bare_out) : 0;

		if (!out_if || bare_port(skel, in, out_if, bare_out, bare_dmac))
			goto out;
		tfd = bpf_program__fd(skel->progs.xb_bare);
	} else {
		tfd = bpf_obj_get(target);
		if (tfd < 0) {
			fprintf(stderr, "xbench: program %s: %s\n", target, strerror(errno));
			goto out;
		}
	}
	/* The test run's ingress interface is the one the target expects
	 * frames on: xmasq keys its rules by it. */
	ctx_in.ingress_ifindex = (__u32)in;
	if (rounds > 1) {
		rc = prog_alternate(skel, tfd, frame, &ctx_in, repeat, rounds);
		goto out;
	}
	ns = prog_run(skel, tfd, frame, &ctx_in, repeat, &retval);
	if (ns < 0)
		goto out;
	printf("{\"ns\": %.0f, \"retval\": %u, \"repeat\": %lu}\n", ns, retval, repeat);
	rc = 0;
out:
	bench_bpf__destroy(skel);
	return rc;
}

/* ---- xmasq attach with a flow-table size ----------------------------------- */

static int cmd_xmasq_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "ct-max", required_argument, NULL, 'c' },
		{ "ct6-max", required_argument, NULL, '6' },
		{ 0 },
	};
	struct xm_attach_opts o = { .mode = XM_MODE_XDP, .fresh = 1 };
	const char *pin = NULL;
	char err[1024];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p')
			pin = optarg;
		else if (c == 'm')
			o.mode = !strcmp(optarg, "tc") ? XM_MODE_TC : XM_MODE_XDP;
		else if (c == 'c')
			o.ct_max = (unsigned)strtoul(optarg, NULL, 0);
		else if (c == '6')
			o.ct6_max = (unsigned)strtoul(optarg, NULL, 0);
		else
			return usage();
	}
	if (!pin || optind >= argc)
		return usage();
	if (xm_attach_ex(pin, argv + optind, argc - optind, &o, stderr, err, sizeof(err))) {
		fprintf(stderr, "xbench: xmasq attach: %s\n", err);
		return 1;
	}
	printf("{\"attached\": %d}\n", argc - optind);
	return 0;
}

/* ---- ct-slots: the flow table read through memory, as the library does ---- */

static int cmd_ct_slots(int argc, char **argv)
{
	unsigned long n[4] = { 0 }, other = 0;
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char path[4096];
	size_t size;
	void *mem;
	int fd;

	if (argc != 2)
		return usage();
	snprintf(path, sizeof(path), "%s/flows", argv[1]);
	fd = bpf_obj_get(path);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "xbench: %s: %s\n", path, strerror(errno));
		return 1;
	}
	size = (size_t)info.max_entries * sizeof(struct xm_ct_slot);
	mem = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "xbench: mmap %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (__u32 i = 0; i < info.max_entries; i++) {
		__u8 st = __atomic_load_n(&((struct xm_ct_slot *)mem)[i].key.ct_state,
					  __ATOMIC_RELAXED);
		if (st < 4)
			n[st]++;
		else
			other++;
	}
	munmap(mem, size);
	close(fd);
	printf("{\"slots\": %u, \"empty\": %lu, \"live\": %lu, \"writing\": %lu, "
	       "\"dead\": %lu, \"other\": %lu}\n",
	       info.max_entries, n[XM_CT_EMPTY], n[XM_CT_LIVE], n[XM_CT_WRITING], n[XM_CT_DEAD],
	       other);
	return 0;
}

/* ---- rr: TCP request/response, one byte each way --------------------------- */

static int cmd_rr(int argc, char **argv)
{
	int one = 1, s, fd;
	char b = 'x';

	if (argc == 3 && !strcmp(argv[1], "server")) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((__u16)atoi(argv[2])) };

		s = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (s < 0 || bind(s, (void *)&a, sizeof(a)) || listen(s, 16)) {
			perror("xbench rr server");
			return 1;
		}
		for (;;) {
			fd = accept(s, NULL, NULL);
			if (fd < 0)
				continue;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			while (read(fd, &b, 1) == 1 && write(fd, &b, 1) == 1)
				;
			close(fd);
		}
	}
	if (argc == 5 && !strcmp(argv[1], "client")) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((__u16)atoi(argv[3])) };
		double secs = atof(argv[4]), t0, t;
		unsigned long n = 0;

		if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1)
			return usage();
		/* The server may still be starting: retry for up to 3 s. */
		for (int tries = 0;; tries++) {
			s = socket(AF_INET, SOCK_STREAM, 0);
			if (s >= 0 && connect(s, (void *)&a, sizeof(a)) == 0)
				break;
			if (s >= 0)
				close(s);
			if (tries >= 30) {
				perror("xbench rr client");
				return 1;
			}
			usleep(100000);
		}
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		t0 = now_s();
		do {
			/* A batch between clock reads keeps the clock cheap. */
			for (int i = 0; i < 64; i++, n++)
				if (write(s, &b, 1) != 1 || read(s, &b, 1) != 1) {
					perror("xbench rr client");
					return 1;
				}
			t = now_s();
		} while (t - t0 < secs);
		printf("{\"tps\": %.0f, \"transactions\": %lu}\n", n / (t - t0), n);
		close(s);
		return 0;
	}
	return usage();
}

/* ---- timer-probe: see xb_timer_probe ------------------------------------- */

static int cmd_timer_probe(int argc, char **argv)
{
	unsigned char frame[XB_FRAME_LEN] = { 0 };
	struct bench_bpf *skel;
	int rc = 1;

	if (argc != 2)
		return usage();
	skel = open_skel();
	if (!skel || load_skel(skel))
		goto out;
	{
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = sizeof(frame),
			    .repeat = atoi(argv[1]));

		if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xb_timer_probe), &o)) {
			fprintf(stderr, "xbench: test run: %s\n", strerror(errno));
			goto out;
		}
	}
	printf("{\"ok\": %llu, \"insert_failed\": %llu, \"enomem\": %llu, \"ebusy\": %llu, "
	       "\"other\": %llu}\n",
	       (unsigned long long)skel->bss->timer_res[0],
	       (unsigned long long)skel->bss->timer_res[1],
	       (unsigned long long)skel->bss->timer_res[2],
	       (unsigned long long)skel->bss->timer_res[3],
	       (unsigned long long)skel->bss->timer_res[4]);
	rc = 0;
out:
	bench_bpf__destroy(skel);
	return rc;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	libbpf_set_print(quiet);
	if (!strcmp(argv[1], "gen"))
		return cmd_gen(argc - 1, argv + 1);
	if (!strcmp(argv[1], "sink"))
		return cmd_sink(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bare"))
		return cmd_bare(argc - 1, argv + 1);
	if (!strcmp(argv[1], "prog"))
		return cmd_prog(argc - 1, argv + 1);
	if (!strcmp(argv[1], "xmasq-attach"))
		return cmd_xmasq_attach(argc - 1, argv + 1);
	if (!strcmp(argv[1], "timer-probe"))
		return cmd_timer_probe(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ct-slots"))
		return cmd_ct_slots(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rr"))
		return cmd_rr(argc - 1, argv + 1);
	return usage();
}
