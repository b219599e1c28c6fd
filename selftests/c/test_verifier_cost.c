// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * How much work the kernel's verifier does for each program: the
 * instructions it processed, read from the verifier's statistics (log
 * level 4) as the embedded object loads. The limit is 1,000,000 a
 * program; each must stay under three quarters of it, so that an older
 * kernel's verifier, which may prune less, still accepts it, and so that
 * loading stays quick where verification is slow (the 6.1 VM emulates
 * the CPU: every test program there loads the object, some several
 * times). xmasq_tc was at 911,000 on 6.1 (2026-12-03) before the
 * flow's making left it for xmasq_tc_new (and its sending for a new
 * flow, xmasq_tc_flow). A loop that inlines another loop (an `as` list's addresses around a
 * port search, 2026-12-03) quadrupled the IPv6 new-flow programs'
 * count to 940,000: this fails on such a change at once, where the VM
 * only timed out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "tap.h"
#include "xmasq.skel.h"

#define VERIFIER_LIMIT	   1000000L
#define VERIFIER_STATS_LEN 4096

#define VERIFIER_BUDGET (VERIFIER_LIMIT * 3 / 4)

int main(void)
{
	struct xmasq_bpf *skel;
	struct bpf_program *prog;
	char(*logs)[VERIFIER_STATS_LEN];
	size_t n = 0, i = 0;
	int err;

	libbpf_set_print(NULL);
	skel = xmasq_bpf__open();
	if (!tap_ok(skel != NULL, "the embedded BPF object opens")) {
		tap_diag("xmasq_bpf__open: %s", strerror(errno));
		return tap_done();
	}
	bpf_object__for_each_program(prog, skel->obj) n++;
	logs = calloc(n ? n : 1, sizeof(*logs));
	if (!tap_ok(logs != NULL, "room for %zu programs' statistics", n)) {
		xmasq_bpf__destroy(skel);
		return tap_done();
	}
	bpf_object__for_each_program(prog, skel->obj)
	{
		bpf_program__set_log_buf(prog, logs[i], sizeof(logs[i]));
		bpf_program__set_log_level(prog, 4); /* statistics only */
		i++;
	}
	err = xmasq_bpf__load(skel);
	if (!tap_ok(err == 0, "the embedded BPF object loads (run as root)")) {
		tap_diag("xmasq_bpf__load: %s", strerror(-err));
		goto out;
	}
	i = 0;
	bpf_object__for_each_program(prog, skel->obj)
	{
		const char *at = strstr(logs[i], "processed ");
		long insns = at ? strtol(at + strlen("processed "), NULL, 10) : -1;

		long budget = VERIFIER_BUDGET;

		if (!tap_ok(insns > 0 && insns < budget,
			    "%s: the verifier processed %ld instructions (under %ld of its %ld)",
			    bpf_program__name(prog), insns, budget, VERIFIER_LIMIT) &&
		    insns <= 0)
			tap_diag("no statistics in the verifier's log: '%.200s'", logs[i]);
		i++;
	}
out:
	free(logs);
	xmasq_bpf__destroy(skel);
	return tap_done();
}
