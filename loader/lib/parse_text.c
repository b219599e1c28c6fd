/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The line parsers' shared parts (parse_text.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "parse_text.h"
#include "rules.h"

int xm_parse_fail(struct xm_parse_at *at, size_t col, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!at->err || !at->errlen)
		return -1;
	n = snprintf(at->err, at->errlen, "%s:%zu:%zu: ", at->fname, at->line, col);
	if (n < 0 || (size_t)n >= at->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(at->err + n, at->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

int xm_parse_oom(struct xm_parse_at *at)
{
	at->oom = true;
	if (at->err && at->errlen)
		snprintf(at->err, at->errlen, "%s: out of memory", at->fname);
	return -1;
}

bool xm_parse_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return true;
	ncap = *cap ? *cap : 16;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return false;
		ncap *= 2;
	}
	p = realloc(*arr, ncap * elem);
	if (!p)
		return false;
	*arr = p;
	*cap = ncap;
	return true;
}

int xm_parse_read_file(const char *path, const char *what, char **text, size_t *len, char *err,
		       size_t errlen)
{
	size_t n = 0, cap = 0;
	char *buf = NULL;
	struct stat st;
	int fd, e;

	*text = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto io_err;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)XM_RULES_FILE_MAX)
		goto too_big;
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *q;

			if (cap > XM_RULES_FILE_MAX + 1)
				goto too_big;
			q = realloc(buf, ncap);
			if (!q) {
				errno = ENOMEM;
				goto io_err;
			}
			buf = q;
			cap = ncap;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto io_err;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > XM_RULES_FILE_MAX)
		goto too_big;
	close(fd);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
too_big:
	if (err && errlen)
		snprintf(err, errlen,
			 "%s: file is larger than 16 MiB (expected %s%sat most 16 MiB)", path,
			 what ? what : "", what ? " of " : "");
	free(buf);
	close(fd);
	return -2;
io_err:
	e = errno;
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(e));
	free(buf);
	if (fd >= 0)
		close(fd);
	return -1;
}
