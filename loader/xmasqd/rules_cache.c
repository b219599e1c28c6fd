// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* What xmasqd keeps of the rules between requests: the file's text and
 * version while the file is the one it last read or saved (same inode,
 * size, mtime and ctime: an edit by hand, a copy over it or a SIGHUP makes
 * it read again), and libxmasq's line-by-line state of the rules live
 * (xm_live_rules), made after a full apply of that very text. A PATCH of
 * one line of 100,000 then neither reads nor hashes 3.5 MB, nor parses
 * and applies more than that line. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "xmasqd.h"

static struct {
	char *text;
	size_t len;
	char version[XMD_SHA256_HEX];
	struct stat st;
	int known;	  /* st is the file's as text was read or written */
	uint32_t *starts; /* the text's line starts, for the next edit */
	size_t n_lines;
	struct xm_live_rules *lr;
	/* The text before the last change, kept as the room of the next:
	 * an edit of 100,000 rules writes 3.5 MB (after the switch, for the
	 * save), and memory touched for the first time costs a page fault
	 * per 4 kB (20 us each on a VM whose faults are dear). Let go when
	 * xmasqd is idle (xmd_cache_idle). */
	char *spare;
} cache;

/* What a new text's room has beyond its size: lines an edit adds. */
#define ROOM_SLACK (64 * 1024)

/* old, a text the cache lets go of: the next spare when it is larger. */
static void retire(char *old)
{
	if (old && (!cache.spare || malloc_usable_size(old) >= malloc_usable_size(cache.spare))) {
		free(cache.spare);
		cache.spare = old;
	} else {
		free(old);
	}
}

char *xmd_cache_room(size_t size)
{
	char *room = cache.spare;

	if (room && malloc_usable_size(room) >= size) {
		cache.spare = NULL;
		return room;
	}
	/* with room to grow: the next edit's text fits in it as a spare */
	return malloc(size + ROOM_SLACK);
}

void xmd_cache_idle(void)
{
	free(cache.spare);
	cache.spare = NULL;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

void xmd_cache_drop_live(void)
{
	xm_live_rules_free(cache.lr);
	cache.lr = NULL;
}

int xmd_cache_get(const char **text, size_t *len, const char **version, char *err, size_t errlen)
{
	struct stat before, after;
	char *t;
	size_t n;

	if (cache.known && stat(xmd.opt.rules, &before) == 0 && same_file(&before, &cache.st))
		goto done;
	if (stat(xmd.opt.rules, &before))
		memset(&before, 0, sizeof(before));
	if (xmd_rules_read(xmd.opt.rules, &t, &n, err, errlen))
		return -1;
	/* Another text than the one applied: what is live is not known to
	 * be its rules line by line. */
	xmd_cache_drop_live();
	retire(cache.text);
	free(cache.starts);
	cache.text = t;
	cache.len = n;
	cache.starts = xmd_line_starts(t, n, &cache.n_lines);
	xmd_sha256_hex(t, n, cache.version);
	cache.known = stat(xmd.opt.rules, &after) == 0 && same_file(&before, &after);
	cache.st = after;
done:
	*text = cache.text;
	*len = cache.len;
	*version = cache.version;
	return 0;
}

void xmd_cache_put(char *text, size_t len, const char *version, int keep_live)
{
	if (!keep_live)
		xmd_cache_drop_live();
	retire(cache.text);
	free(cache.starts);
	cache.text = text;
	cache.len = len;
	cache.starts = text ? xmd_line_starts(text, len, &cache.n_lines) : NULL;
	snprintf(cache.version, sizeof(cache.version), "%s", version);
	cache.known = text && stat(xmd.opt.rules, &cache.st) == 0;
}

/* Lines as the parser counts them: a last line without newline is one. */
static unsigned count_lines(const char *text, size_t len)
{
	unsigned n = 0;
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		n++;
		p = nl ? nl + 1 : end;
	}
	return n;
}

void xmd_cache_live(const struct xm_ruleset *rs)
{
	struct xm_handle h;
	char err[512];

	xmd_cache_drop_live();
	if (!cache.text || xmd.opt.network || xmd_fleet_on() ||
	    xm_open(&h, xmd.opt.pin_dir, err, sizeof(err)))
		return;
	cache.lr = xm_live_rules_build(&h, rs, count_lines(cache.text, cache.len));
	xm_close(&h);
}

const uint32_t *xmd_cache_line_starts(size_t *n)
{
	*n = cache.n_lines;
	return cache.starts;
}

struct xm_live_rules *xmd_cache_lr(void)
{
	return cache.lr;
}
