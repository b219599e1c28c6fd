// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The file xmasqd --etcd writes its fleet state to and `xmasq status`
 * reads: one per pin dir, since several routers may share a host. */
#include <stdio.h>
#include <string.h>
#include "etcd.h"

void xm_fleet_state_path(const char *pin_dir, char *out, size_t len)
{
	char name[256];
	size_t i;

	snprintf(name, sizeof(name), "%s", pin_dir);
	for (i = 0; name[i]; i++)
		if (name[i] == '/')
			name[i] = '_';
	snprintf(out, len, XM_FLEET_STATE_DIR "/fleet%s.json", name);
}
