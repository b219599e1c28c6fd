// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Does XDP_REDIRECT into an interface deliver? Real NIC drivers with
 * ndo_xdp_xmit do; a veth does only while its peer has an XDP program or
 * GRO on (otherwise the kernel drops the frames without any error the
 * redirecting program could see). For a veth we measure: redirect a few
 * harmless frames into it with BPF_PROG_TEST_RUN live frames and watch its
 * tx_queue_*_xdp_xmit counters move.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

static int ethtool_ioctl(const char *ifname, void *cmd)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	rc = ioctl(fd, SIOCETHTOOL, &ifr);
	close(fd);
	return rc;
}

static int driver_is_veth(const char *ifname)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };

	return ethtool_ioctl(ifname, &info) == 0 && strcmp(info.driver, "veth") == 0;
}

/* Sum of the driver statistics whose name ends in suffix; -1 on error. */
static long long ethtool_stat_sum(const char *ifname, const char *suffix)
{
	struct {
		struct ethtool_sset_info hdr;
		__u32 len;
	} sset = {
		.hdr = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ull << ETH_SS_STATS },
	};
	struct ethtool_gstrings *names = NULL;
	struct ethtool_stats *vals = NULL;
	long long sum = -1;
	size_t n, slen = strlen(suffix);

	if (ethtool_ioctl(ifname, &sset) || !sset.hdr.sset_mask)
		return -1;
	n = sset.len;
	names = calloc(1, sizeof(*names) + n * ETH_GSTRING_LEN);
	vals = calloc(1, sizeof(*vals) + n * sizeof(__u64));
	if (!names || !vals)
		goto out;
	names->cmd = ETHTOOL_GSTRINGS;
	names->string_set = ETH_SS_STATS;
	names->len = n;
	vals->cmd = ETHTOOL_GSTATS;
	vals->n_stats = n;
	if (ethtool_ioctl(ifname, names) || ethtool_ioctl(ifname, vals))
		goto out;
	sum = 0;
	for (size_t i = 0; i < n; i++) {
		char name[ETH_GSTRING_LEN + 1] = { 0 };
		size_t len;

		memcpy(name, names->data + i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
		len = strlen(name);
		if (len >= slen && strcmp(name + len - slen, suffix) == 0)
			sum += (long long)vals->data[i];
	}
out:
	free(names);
	free(vals);
	return sum;
}

/* A four-instruction XDP program: return bpf_redirect(ifindex, 0). */
static int load_redirect_prog(int ifindex)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = ifindex },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "xmasq_probe", "GPL", insns,
			     sizeof(insns) / sizeof(insns[0]), NULL);
}

int xm_probe_xdp_tx(const char *ifname, int ifindex, int ingress_generic, char *why, size_t whylen)
{
	/* Broadcast, IEEE "local experimental" EtherType: any stack drops it. */
	unsigned char frame[64] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0, 0x88, 0xb5,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = 8, .flags = BPF_F_TEST_XDP_LIVE_FRAMES, );
	long long before, after;
	int fd, rc;

	if (ingress_generic) {
		snprintf(why, whylen, "generic XDP redirects as skbs, which any device takes");
		return 1;
	}
	if (!driver_is_veth(ifname)) {
		snprintf(why, whylen, "native driver with XDP transmit");
		return 1;
	}
	before = ethtool_stat_sum(ifname, "_xdp_xmit");
	if (before < 0) {
		snprintf(why, whylen,
			 "veth without XDP transmit counters: cannot verify, using tc");
		return 0;
	}
	fd = load_redirect_prog(ifindex);
	if (fd < 0) {
		snprintf(why, whylen, "cannot load probe program (%s): using tc", strerror(errno));
		return 0;
	}
	rc = bpf_prog_test_run_opts(fd, &opts);
	close(fd);
	if (rc) {
		snprintf(why, whylen,
			 "kernel cannot run live-frame probe (%s, needs 5.18+): using tc",
			 strerror(errno));
		return 0;
	}
	after = ethtool_stat_sum(ifname, "_xdp_xmit");
	if (after > before) {
		snprintf(why, whylen, "veth peer accepts XDP frames (peer has XDP or GRO)");
		return 1;
	}
	snprintf(why, whylen, "veth peer has neither XDP nor GRO: XDP frames would be dropped");
	return 0;
}
