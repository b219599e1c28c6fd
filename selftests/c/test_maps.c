// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The one list of maps (XM_MAP_LIST in xmasq_abi.h) against the program:
 * every map the skeleton holds is in the list, and every map of the list is
 * in the skeleton. The loader opens, pins and removes maps from the list
 * only: a map missing from it would be left behind by `attach --fresh` and
 * `detach --all`, and never opened. Needs no privileges: the object is
 * opened, not loaded.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "tap.h"
#include "xmasq.h"
#include "xmasq.skel.h"

static int list_index(const char *name)
{
	for (int i = 0; i < XM_MAP_MAX; i++)
		if (strcmp(xm_map_pin_names[i], name) == 0)
			return i;
	return -1;
}

int main(void)
{
	struct xmasq_bpf *skel;
	struct bpf_map *map;
	int in_skel = 0, dups = 0;

	libbpf_set_print(NULL);
	skel = xmasq_bpf__open();
	if (!tap_ok(skel != NULL, "the embedded BPF object opens")) {
		tap_diag("xmasq_bpf__open: %s", strerror(errno));
		return tap_done();
	}
	tap_ok(XM_MAP_CONFIG == 0 && strcmp(xm_map_pin_names[XM_MAP_CONFIG], "config") == 0,
	       "config is the list's first map (xm_open reads the layout from it)");
	bpf_object__for_each_map(map, skel->obj)
	{
		const char *name = bpf_map__name(map);

		if (bpf_map__is_internal(map))
			continue; /* .rodata, .bss: private to each load, never pinned */
		in_skel++;
		tap_ok(list_index(name) >= 0, "program map %s is in XM_MAP_LIST", name);
	}
	for (int i = 0; i < XM_MAP_MAX; i++) {
		const char *name = xm_map_pin_names[i];
		struct bpf_map *m = bpf_object__find_map_by_name(skel->obj, name);

		tap_ok(m && !bpf_map__is_internal(m), "XM_MAP_LIST entry %d, %s, is a program map",
		       i, name ? name : "(none)");
		dups += list_index(name) != i;
	}
	tap_ok(dups == 0 && in_skel == XM_MAP_MAX,
	       "one entry a map: %d in the program, %d in the list, %d named twice", in_skel,
	       XM_MAP_MAX, dups);
	xmasq_bpf__destroy(skel);
	return tap_done();
}
