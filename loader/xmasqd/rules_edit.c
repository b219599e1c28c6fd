// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* PATCH /api/rules: line edits made to the rules file's text, so that a
 * change to one rule of 100,000 sends and audits that rule, not 3.5 MB.
 *
 * Edits are [{"line": N, "delete": K, "insert": ["text", ...]}, ...]:
 * each removes K lines from line N (1-based, of the file as read, the one
 * "version" names) and puts the inserted lines there; N may be one past the
 * last line (an append). The edits come in increasing order of line and do
 * not overlap, so each one's numbers stay those of the file the client read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "xmasqd.h"

/* Where each line of text starts (n + 1 offsets: the last is the end).
 * 32-bit offsets (a rules file is at most XM_RULES_FILE_MAX bytes): the
 * cache keeps them for 100,000 lines. */
uint32_t *xmd_line_starts(const char *text, size_t len, size_t *n)
{
	size_t cap = 1024, count = 0, pos = 0;
	uint32_t *s = len <= UINT32_MAX ? malloc(cap * sizeof(*s)) : NULL, *fit;

	while (s) {
		const char *nl;

		if (count + 2 > cap) {
			uint32_t *ns = realloc(s, (cap *= 2) * sizeof(*s));

			if (!ns) {
				free(s);
				return NULL;
			}
			s = ns;
		}
		if (pos >= len)
			break;
		s[count++] = (uint32_t)pos;
		nl = memchr(text + pos, '\n', len - pos);
		pos = nl ? (size_t)(nl - text) + 1 : len;
	}
	if (!s)
		return NULL;
	s[count] = (uint32_t)len;
	*n = count;
	/* no room kept beyond the lines: the array stays for the next edit */
	fit = realloc(s, (count + 1) * sizeof(*s));
	return fit ? fit : s;
}

static int edit_fields(json_t *e, size_t i, json_int_t *line, json_int_t *del, json_t **ins,
		       char *err, size_t errlen)
{
	json_t *l = json_object_get(e, "line"), *d = json_object_get(e, "delete");

	*ins = json_object_get(e, "insert");
	if (!json_is_object(e) || !json_is_integer(l) || (d && !json_is_integer(d)) ||
	    (*ins && !json_is_array(*ins))) {
		snprintf(err, errlen,
			 "edit %zu: expected {\"line\": N, \"delete\": K, \"insert\": [LINES]}", i);
		return -1;
	}
	*line = json_integer_value(l);
	*del = d ? json_integer_value(d) : 0;
	for (size_t k = 0; *ins && k < json_array_size(*ins); k++) {
		json_t *t = json_array_get(*ins, k);

		if (!json_is_string(t) ||
		    memchr(json_string_value(t), '\n', json_string_length(t)) ||
		    memchr(json_string_value(t), 0, json_string_length(t))) {
			snprintf(err, errlen,
				 "edit %zu: insert[%zu] is not one line of text (a string without "
				 "newline)",
				 i, k);
			return -1;
		}
	}
	return 0;
}

int xmd_rules_edit(const char *cur, size_t cur_len, const uint32_t *cur_starts, size_t cur_lines,
		   void *edits_json, char **out, size_t *out_len, struct xm_text_hunk **hunks_out,
		   size_t *n_hunks, char *err, size_t errlen)
{
	uint32_t *own = NULL;
	const uint32_t *start;
	json_t *edits = edits_json;
	size_t nlines, next = 1; /* the first line not yet copied */
	struct xm_text_hunk *hunks;
	char *buf = NULL;
	size_t len = 0, written = 0;
	long shift = 0; /* new line number - old, after the edits so far */
	size_t cap = cur_len + 1;
	int rc = -1;

	if (!json_is_array(edits) || !json_array_size(edits)) {
		snprintf(err, errlen,
			 "expected \"edits\": [{\"line\": N, \"delete\": K, "
			 "\"insert\": [LINES]}, ...], at least one");
		return -1;
	}
	/* The edited text's room, at most, allocated once (3.5 MB at
	 * 100,000 rules: a stream growing by copies cost 10 ms). */
	for (size_t i = 0; i < json_array_size(edits); i++) {
		json_t *ins = json_object_get(json_array_get(edits, i), "insert");

		cap += 1; /* a newline added to a last line without one */
		for (size_t k = 0; json_is_array(ins) && k < json_array_size(ins); k++)
			cap += json_string_length(json_array_get(ins, k)) + 1;
	}
	if (cur_starts) {
		start = cur_starts;
		nlines = cur_lines;
	} else {
		start = own = xmd_line_starts(cur, cur_len, &nlines);
	}
	hunks = calloc(json_array_size(edits), sizeof(*hunks));
	buf = start && hunks ? xmd_cache_room(cap) : NULL;
	if (!buf) {
		free(own);
		free(hunks);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < json_array_size(edits); i++) {
		json_int_t line, del;
		json_t *ins;

		if (edit_fields(json_array_get(edits, i), i, &line, &del, &ins, err, errlen))
			goto out;
		if (line < (json_int_t)next || line > (json_int_t)nlines + 1 || del < 0 ||
		    del > (json_int_t)nlines + 1 - line) {
			snprintf(err, errlen,
				 "edit %zu: line %lld delete %lld is outside lines %zu to %zu (the "
				 "file has %zu lines; edits go in order of line and do not "
				 "overlap)",
				 i, (long long)line, (long long)del, next, nlines + 1, nlines);
			goto out;
		}
		/* the untouched lines before it, then its own */
		memcpy(buf + written, cur + start[next - 1], start[line - 1] - start[next - 1]);
		written += start[line - 1] - start[next - 1];
		if (line > 1 && cur[start[line - 1] - 1] != '\n' && json_array_size(ins))
			buf[written++] = '\n'; /* the last line had no newline: now it has one */
		hunks[i].old_line = (unsigned)line;
		hunks[i].del = (unsigned)del;
		hunks[i].new_line = (unsigned)(line + shift);
		hunks[i].ins = ins ? (unsigned)json_array_size(ins) : 0;
		hunks[i].new_off = written;
		for (size_t k = 0; ins && k < json_array_size(ins); k++) {
			json_t *t = json_array_get(ins, k);

			memcpy(buf + written, json_string_value(t), json_string_length(t));
			written += json_string_length(t);
			buf[written++] = '\n';
		}
		shift += (long)hunks[i].ins - (long)del;
		next = (size_t)(line + del);
	}
	memcpy(buf + written, cur + start[next - 1], start[nlines] - start[next - 1]);
	written += start[nlines] - start[next - 1];
	len = written;
	rc = 0;
out:
	free(own);
	if (rc == 0 && len > XM_RULES_FILE_MAX) {
		snprintf(err, errlen, "the edited file would be %zu bytes, more than %u", len,
			 XM_RULES_FILE_MAX);
		rc = -1;
	}
	if (rc) {
		free(buf);
		free(hunks);
		return rc;
	}
	*out = buf;
	*out_len = len;
	*hunks_out = hunks;
	*n_hunks = json_array_size(edits);
	return 0;
}

/* Lines in text[0, len): a last one without newline counts. */
static unsigned lines_in(const char *text, size_t len)
{
	unsigned n = 0;

	for (const char *p = text, *end = text + len; p < end; n++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		p = nl ? nl + 1 : end;
	}
	return n;
}

static int line_start(const char *text, size_t pos)
{
	return pos == 0 || text[pos - 1] == '\n';
}

void xmd_text_hunk(const char *old, size_t old_len, const char *new, size_t new_len,
		   struct xm_text_hunk *hk)
{
	size_t max = old_len < new_len ? old_len : new_len, pre = 0, suf = 0;

	/* the whole lines both begin with (blocks first: 3.5 MB to compare) */
	while (pre + 4096 <= max && !memcmp(old + pre, new + pre, 4096))
		pre += 4096;
	while (pre < max && old[pre] == new[pre])
		pre++;
	if (pre < old_len || pre < new_len)
		while (pre && old[pre - 1] != '\n')
			pre--;
	/* the whole lines both end with, after those */
	while (suf + 4096 <= max - pre &&
	       !memcmp(old + old_len - suf - 4096, new + new_len - suf - 4096, 4096))
		suf += 4096;
	while (suf < max - pre && old[old_len - 1 - suf] == new[new_len - 1 - suf])
		suf++;
	while (suf && !(line_start(old, old_len - suf) && line_start(new, new_len - suf)))
		suf--;
	hk->old_line = hk->new_line = lines_in(old, pre) + 1;
	hk->del = lines_in(old + pre, old_len - suf - pre);
	hk->ins = lines_in(new + pre, new_len - suf - pre);
	hk->new_off = pre;
}
