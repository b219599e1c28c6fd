// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The common shape of a rules body, {"text": "...", "version": "..."},
 * decoded in place. jansson reads a character at a time and builds each
 * string in a buffer it grows: for a 100,000-rule file (4 MB of JSON)
 * that was most of PUT /api/rules' time before the switch. Here runs
 * without an escape are found with memchr and moved whole.
 *
 * Only the plainest JSON is taken: an object whose members are all
 * strings, no key twice, UTF-8 throughout, escapes other than \uXXXX.
 * Anything else (\u escapes, numbers, nesting, a syntax error, bytes that
 * are not UTF-8) returns -1 and the caller reads the body with jansson,
 * whose answer, or error message, is then the one given. So what is
 * accepted here is what jansson accepts, to the same strings. */
#include <stdint.h>
#include <string.h>
#include "xmasqd.h"

#define MAX_MEMBERS 16

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF), no
 * control character (JSON wants those escaped): 0 or -1. */
static int check_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], need, min;
		uint32_t cp;

		/* eight ASCII bytes at a time, none a control character */
		if (i + 8 <= n) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if (!(w & 0x8080808080808080ull) &&
			    !((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull)) {
				i += 8;
				continue;
			}
		}
		if (c < 0x20)
			return -1;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, cp = c & 0x07, min = 0x10000;
		else
			return -1;
		if (i + need >= n)
			return -1;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		i += need + 1;
	}
	return 0;
}

/* The byte of the escape \c (one of "\\/bfnrt). */
static char unescape(char c)
{
	switch (c) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	default:
		return c;
	}
}

/* The string starting after the opening quote at *pp; *pp moves past
 * the closing quote. check: its bytes checked, nothing written; else
 * decoded in place (checked before) and ended with a NUL. -1: not taken. */
static int decode_string(char **pp, const char *end, int check, char **out, size_t *len)
{
	char *p = *pp, *w = p;
	const char *q = NULL, *bs = NULL;

	*out = p;
	for (;;) {
		size_t run;

		/* the next quote and backslash, each looked for again only
		 * once passed (a search to the end per escape is quadratic) */
		if (!q || q < p)
			q = memchr(p, '"', (size_t)(end - p));
		if (!q)
			return -1;
		if (bs != end && (!bs || bs < p)) {
			bs = memchr(p, '\\', (size_t)(end - p));
			if (!bs)
				bs = end;
		}
		run = (size_t)((bs < q ? bs : q) - p);
		/* a run between escapes: a UTF-8 sequence never holds a
		 * quote or a backslash, so each run is whole UTF-8 */
		if (check && check_utf8((const unsigned char *)p, run))
			return -1;
		if (!check && w != p)
			memmove(w, p, run);
		w += run;
		p += run;
		if (q < bs) {
			*len = (size_t)(w - *out);
			if (!check)
				*w = 0; /* where the closing quote or before */
			*pp = p + 1;
			return 0;
		}
		if (p + 1 >= end)
			return -1;
		if (!strchr("\"\\/bfnrt", p[1]) || !p[1])
			return -1; /* \u and anything else: jansson's */
		if (!check)
			*w = unescape(p[1]);
		w++;
		p += 2;
	}
}

/* One pass over the object: check (nothing written), or decode. */
static int object(char *body, size_t len, int check, const char *const *names, const char **values,
		  size_t *lens, size_t n_names)
{
	const char *end = body + len;
	char *p = body, *keys[MAX_MEMBERS];
	size_t n_keys = 0, key_lens[MAX_MEMBERS];

	for (size_t i = 0; i < n_names; i++)
		values[i] = NULL;
	p = (char *)skip_ws(p, end);
	if (p == end || *p++ != '{')
		return -1;
	p = (char *)skip_ws(p, end);
	if (p < end && *p == '}')
		return -1; /* no members: jansson says what is missing */
	for (;;) {
		char *key, *val;
		size_t key_len, val_len;

		if (p == end || *p++ != '"' || decode_string(&p, end, check, &key, &key_len) ||
		    n_keys == MAX_MEMBERS)
			return -1;
		/* twice: jansson refuses it (compared as written: a key
		 * with an escape is not taken at all) */
		if (check && memchr(key, '\\', key_len))
			return -1;
		for (size_t i = 0; i < n_keys; i++)
			if (key_lens[i] == key_len && !memcmp(keys[i], key, key_len))
				return -1;
		keys[n_keys] = key;
		key_lens[n_keys++] = key_len;
		p = (char *)skip_ws(p, end);
		if (p == end || *p++ != ':')
			return -1;
		p = (char *)skip_ws(p, end);
		if (p == end || *p++ != '"' || decode_string(&p, end, check, &val, &val_len))
			return -1;
		for (size_t i = 0; i < n_names; i++)
			if (strlen(names[i]) == key_len && !memcmp(names[i], key, key_len)) {
				values[i] = val;
				lens[i] = val_len;
			}
		p = (char *)skip_ws(p, end);
		if (p == end)
			return -1;
		if (*p == '}')
			break;
		if (*p++ != ',')
			return -1;
		p = (char *)skip_ws(p, end);
	}
	if (skip_ws(p + 1, end) != end)
		return -1;
	for (size_t i = 0; i < n_names; i++)
		if (!values[i])
			return -1;
	return 0;
}

int xmd_body_strings(char *body, size_t len, const char *const *names, const char **values,
		     size_t *lens, size_t n_names)
{
	/* checked whole first: a body not taken is left as it came */
	if (object(body, len, 1, names, values, lens, n_names))
		return -1;
	return object(body, len, 0, names, values, lens, n_names);
}
