/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the two line parsers, the rules' (rules.c) and the network file's
 * (sites.c), share: their errors, read "FILE:LINE:COL: what is wrong
 * (expected ...)", into the caller's buffer; arrays that grow; the text
 * file they read. */
#ifndef XMASQ_PARSE_TEXT_H
#define XMASQ_PARSE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Where a parser is, and where its error goes. */
struct xm_parse_at {
	const char *fname;
	char *err; /* the caller's buffer (NULL or errlen 0: no message) */
	size_t errlen;
	size_t line; /* 1-based, the line being parsed */
	bool oom;    /* failed for want of memory, not for the text */
};

/* "FILE:LINE:COL: " and the message in at->err. Returns -1. */
__attribute__((format(printf, 3, 4))) int xm_parse_fail(struct xm_parse_at *at, size_t col,
							const char *fmt, ...);

/* "FILE: out of memory" in at->err, at->oom set. Returns -1. */
int xm_parse_oom(struct xm_parse_at *at);

/* *arr with room for need elements of elem bytes (the room doubled as
 * needed); false, *arr as it was, when memory or size_t runs out. */
bool xm_parse_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* Reads a text file of at most XM_RULES_FILE_MAX bytes into *text (NUL
 * appended, free it). 0, -2 when too big ("FILE: file is larger than 16
 * MiB (expected WHAT of at most 16 MiB)", what "a rules file" or NULL:
 * "(expected at most 16 MiB)"), -1 on an I/O error ("FILE: reason"). */
int xm_parse_read_file(const char *path, const char *what, char **text, size_t *len, char *err,
		       size_t errlen);

#endif
