// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The rules file is never lost: a new text is written whole to FILE.tmp
 * beside FILE before anything else happens: a full or read-only disk fails
 * here (write(2) reserves the blocks), with nothing live changed. Once the
 * rules are live, FILE.tmp is fsynced, the old FILE kept as FILE.prev (a
 * hard link, so FILE itself never goes missing) and FILE.tmp renamed over
 * FILE, then the directory is fsynced. A SIGKILL at any moment leaves FILE
 * old or new, whole.
 *
 * Why the fsync after the switch and not before: it costs more than the
 * whole line-by-line apply (a few ms on this disk, more for a large file),
 * and what it can still find wrong (an I/O error, a file system that
 * reserves no blocks on write) is rare: then the caller puts the previous
 * rules back live (api.c), so a failed save still ends with nothing
 * changed, after a moment with the new rules live. A line-by-line edit
 * (api.c) only reserves FILE.tmp's blocks before the switch (fallocate:
 * a full disk fails there all the same) and writes the text after it. */
#define _GNU_SOURCE /* fallocate */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "xmasqd.h"

int xmd_rules_read(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*text = NULL;
	*len = 0;
	if (fd < 0 || !buf)
		goto fail;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *p;

			if (cap > XM_RULES_FILE_MAX) {
				errno = EFBIG;
				goto fail;
			}
			p = realloc(buf, cap * 2);
			if (!p)
				goto fail;
			buf = p;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*text = buf;
	*len = n;
	return 0;
fail:
	snprintf(err, errlen, "%s: cannot read it: %s", path, strerror(errno));
	free(buf);
	if (fd >= 0)
		close(fd);
	return -1;
}

static void sibling(char *out, size_t len, const char *path, const char *suffix)
{
	snprintf(out, len, "%s%s", path, suffix);
}

static int fsync_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd, rc;

	snprintf(copy, sizeof(copy), "%s", path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int xmd_rules_stage(const char *path, const char *text, size_t len, int *errnum, char *err,
		    size_t errlen)
{
	char tmp[PATH_MAX];
	struct stat st;
	mode_t mode = 0644;
	size_t off = 0;
	int fd;

	sibling(tmp, sizeof(tmp), path, ".tmp");
	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		off += (size_t)w;
	}
	if (close(fd)) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	*errnum = errno;
	snprintf(err, errlen,
		 "cannot save the rules: %s: %s (nothing was applied; the rules live and %s are "
		 "unchanged; free space or make its directory writable, then try again)",
		 tmp, strerror(*errnum), path);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = *errnum;
	return -1;
}

int xmd_rules_reserve(const char *path, size_t len, int *errnum, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct stat st;
	mode_t mode = 0644;
	int fd;

	sibling(tmp, sizeof(tmp), path, ".tmp");
	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		goto fail;
	if (len && fallocate(fd, 0, 0, (off_t)len)) {
		if (errno == EOPNOTSUPP) {
			close(fd);
			return 1;
		}
		goto fail;
	}
	if (close(fd)) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	*errnum = errno;
	snprintf(err, errlen,
		 "cannot save the rules: %s: %s (nothing was applied; the rules live and %s are "
		 "unchanged; free space or make its directory writable, then try again)",
		 tmp, strerror(*errnum), path);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = *errnum;
	return -1;
}

void xmd_rules_unstage(const char *path)
{
	char tmp[PATH_MAX];

	sibling(tmp, sizeof(tmp), path, ".tmp");
	unlink(tmp);
}

int xmd_rules_commit(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
	size_t off = 0;
	char tmp[PATH_MAX], prev[PATH_MAX], prev_tmp[PATH_MAX];

	int fd;

	sibling(tmp, sizeof(tmp), path, ".tmp");
	sibling(prev, sizeof(prev), path, ".prev");
	sibling(prev_tmp, sizeof(prev_tmp), path, ".prev.tmp");
	fd = open(tmp, O_WRONLY | O_CLOEXEC);
	while (fd >= 0 && text && off < len) {
		ssize_t w = pwrite(fd, text + off, len - off, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			snprintf(err, errlen, "cannot save the rules: write %s: %s", tmp,
				 strerror(errno));
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)w;
	}
	if (fd < 0 || fsync(fd)) {
		snprintf(err, errlen, "cannot save the rules: fsync %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	/* FILE.prev: a second name of the old FILE, swapped in whole. Not
	 * fatal: the new rules are live and are what FILE must say. */
	unlink(prev_tmp);
	if (link(path, prev_tmp) == 0 && rename(prev_tmp, prev))
		unlink(prev_tmp);
	if (rename(tmp, path)) {
		snprintf(err, errlen, "cannot save the rules: rename %s to %s: %s", tmp, path,
			 strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (fsync_dir(path)) {
		snprintf(err, errlen, "saved %s, but fsync of its directory failed: %s", path,
			 strerror(errno));
		return -2;
	}
	return 0;
}
