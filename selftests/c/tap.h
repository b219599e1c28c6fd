/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Minimal TAP output for C tests: one "ok N - what" line per check. */
#ifndef XMASQ_TAP_H
#define XMASQ_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

static inline int tap_vok(int cond, const char *fmt, va_list ap)
{
	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

__attribute__((format(printf, 2, 3))) static inline int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cond = tap_vok(cond, fmt, ap);
	va_end(ap);
	return cond;
}

/* One check that two numbers are equal; a failure shows the expression
 * and both values. Through TAP_EQ, which passes the expression's text. */
__attribute__((format(printf, 4, 5))) static inline int
tap_eq(const char *expr, long long actual, long long expected, const char *fmt, ...)
{
	va_list ap;
	int ok;

	va_start(ap, fmt);
	ok = tap_vok(actual == expected, fmt, ap);
	va_end(ap);
	if (!ok)
		printf("# %s: expected %lld, got %lld\n", expr, expected, actual);
	return ok;
}

/* TAP_EQ(actual, expected, "what", ...): both sides as long long, which
 * holds every count, counter delta, port and id the tests compare (a
 * counter that went backwards shows as negative). */
#define TAP_EQ(actual, expected, ...) \
	tap_eq(#actual, (long long)(actual), (long long)(expected), __VA_ARGS__)

/* Diagnostics, shown under a failing check. */
__attribute__((format(printf, 1, 2))) static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Exit status for main(): non-zero when any check failed. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
