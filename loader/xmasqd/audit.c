// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* --audit-log FILE: one JSON object a line per change (who, from where,
 * before, after, result), appended and synced before the response goes. */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "xmasqd.h"

int xmd_audit_open(const char *path, char *err, size_t errlen)
{
	xmd.audit = fopen(path, "ae");
	if (!xmd.audit) {
		snprintf(err, errlen,
			 "--audit-log %s: %s (its directory must exist and be writable)", path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

void xmd_audit_write(void *event)
{
	json_t *ev = event;
	char when[64], *line;
	struct timespec ts;
	struct tm tm;

	if (!ev)
		return;
	if (!xmd.audit) {
		json_decref(ev);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	json_object_set_new(ev, "time", json_string(when));
	line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
	json_decref(ev);
	if (!line)
		return;
	if (fprintf(xmd.audit, "%s\n", line) < 0 || fflush(xmd.audit) ||
	    fdatasync(fileno(xmd.audit)))
		fprintf(stderr, "xmasqd: --audit-log %s: cannot append: %s\n", xmd.opt.audit_log,
			strerror(errno));
	free(line);
}

void xmd_audit_apply(const char *who, const char *from, const char *what, const char *after,
		     const struct xmd_apply *a)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "who", who, "from", from, "what", what,
			       "after", after, "result", a->rc ? "failed" : "applied");

	if (ev && a->rc)
		json_object_set_new(ev, "error", json_string(a->err));
	if (ev && a->diff)
		json_object_set_new(ev, "diff", json_stringn(a->diff, a->diff_len));
	xmd_audit_write(ev);
}
