// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The fleet part of `xmasq status`: xmasqd --etcd keeps its state in a
 * file named after the pin dir (xm_fleet_state_path); a file whose daemon
 * is gone is said to be so, since its stale flag can no longer change. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"
#include "etcd.h"

static json_t *fleet_state(const char *pin_dir)
{
	char path[600];
	json_t *j;
	json_int_t pid;

	xm_fleet_state_path(pin_dir, path, sizeof(path));
	j = json_load_file(path, 0, NULL);
	if (!j)
		return NULL;
	pid = json_integer_value(json_object_get(j, "pid"));
	if (pid <= 0 || (kill((pid_t)pid, 0) && errno == ESRCH)) {
		json_object_set_new(j, "stale", json_true());
		json_object_set_new(j, "store_error",
				    json_string("xmasqd is not running: nothing follows the "
						"store"));
	}
	return j;
}

void cli_print_status_fleet(const char *pin_dir, struct xm_handle *h, const struct xm_snapshot *s,
			    const struct xm_port_use *pu, int json)
{
	json_t *f = fleet_state(pin_dir), *st;
	char *buf = NULL, *out;
	size_t len = 0;
	FILE *o;

	if (!json || !f) {
		xm_print_status(stdout, h, s, pu, json);
		if (f) {
			const char *err = json_string_value(json_object_get(f, "error"));
			const char *serr = json_string_value(json_object_get(f, "store_error"));
			const char *sha = json_string_value(json_object_get(f, "sha256"));

			printf("fleet: ruleset %s as router %s, revision %lld applied (sha256 "
			       "%.12s), store seen at revision %lld%s\n",
			       json_string_value(json_object_get(f, "ruleset")),
			       json_string_value(json_object_get(f, "router_id")),
			       (long long)json_integer_value(json_object_get(f, "applied_"
										"revision")),
			       sha && *sha ? sha : "-",
			       (long long)json_integer_value(json_object_get(f, "seen_revision")),
			       json_is_true(json_object_get(f, "stale")) ? ", STALE: the store is "
									   "unreachable "
									   "(forwarding with these "
									   "rules)" :
									   "");
			if (serr && *serr && json_is_true(json_object_get(f, "stale")))
				printf("fleet: %s\n", serr);
			if (err && *err)
				printf("fleet: revision %lld did not apply: %s\n",
				       (long long)json_integer_value(json_object_get(f, "error_"
											"revisio"
											"n")),
				       err);
		}
		json_decref(f);
		return;
	}
	o = open_memstream(&buf, &len);
	if (!o) {
		json_decref(f);
		xm_print_status(stdout, h, s, pu, json);
		return;
	}
	xm_print_status(o, h, s, pu, json);
	fclose(o);
	st = json_loadb(buf, len, 0, NULL);
	if (st) {
		json_object_set(st, "fleet", f);
		out = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s\n", out ? out : buf);
		free(out);
		json_decref(st);
	} else {
		fwrite(buf, 1, len, stdout);
	}
	free(buf);
	json_decref(f);
}
