/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Text put together piece by piece into a fixed buffer, without snprintf:
 * /metrics formats every rule (100,000 of them) on each scrape, and
 * snprintf's reading of its format string was most of that time.
 *
 * Like snprintf, it writes at most cap - 1 bytes, always ends the text
 * with a NUL (when cap > 0) and counts in len what did not fit too, so
 * len >= cap says the text was cut. */
#ifndef XMASQ_TEXT_H
#define XMASQ_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

struct xm_text {
	char *buf;
	size_t cap, len;
};

static inline struct xm_text xm_text_at(char *buf, size_t cap)
{
	if (cap)
		buf[0] = 0;
	return (struct xm_text){ .buf = buf, .cap = cap, .len = 0 };
}

static inline void xm_text_put(struct xm_text *t, const char *s, size_t n)
{
	if (t->len + 1 < t->cap) {
		size_t room = t->cap - 1 - t->len;

		memcpy(t->buf + t->len, s, n < room ? n : room);
		t->buf[t->len + (n < room ? n : room)] = 0;
	}
	t->len += n;
}

static inline void xm_text_str(struct xm_text *t, const char *s)
{
	xm_text_put(t, s, strlen(s));
}

/* At most n bytes of s (s need not end within them): "%.*s". */
static inline void xm_text_strn(struct xm_text *t, const char *s, size_t n)
{
	xm_text_put(t, s, strnlen(s, n));
}

/* Decimal digits of v at the end of a 20-byte buffer; returns the first. */
static inline char *xm_u64_digits(char end[20], uint64_t v)
{
	char *p = end + 20;

	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	return p;
}

static inline void xm_text_u64(struct xm_text *t, uint64_t v)
{
	char d[20], *p = xm_u64_digits(d, v);

	xm_text_put(t, p, (size_t)(d + sizeof(d) - p));
}

/* An IPv4 address in network byte order as a.b.c.d. */
static inline void xm_text_ipv4(struct xm_text *t, uint32_t addr_be)
{
	const unsigned char *b = (const unsigned char *)&addr_be;
	char a[16], *p = a;

	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (i)
			*p++ = '.';
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
	}
	xm_text_put(t, a, (size_t)(p - a));
}

/* An IPv6 address (16 bytes, network order) in its canonical form
 * (inet_ntop: RFC 5952), without brackets. */
static inline void xm_text_ipv6(struct xm_text *t, const void *addr16)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(AF_INET6, addr16, a, sizeof(a)))
		a[0] = 0;
	xm_text_str(t, a);
}

#endif
