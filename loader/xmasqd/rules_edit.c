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

/* Whether the edit at line (with lines to insert) adds a newline first:
 * the line before it was the last and had none. */
static int needs_newline(const char *cur, const uint32_t *start, size_t line, size_t n_ins)
{
	return line > 1 && n_ins && cur[start[line - 1] - 1] != '\n';
}

int xmd_rules_edit(const char *cur, size_t cur_len, const uint32_t *cur_starts, size_t cur_lines,
		   void *edits_json, struct xmd_edit *ed, char *err, size_t errlen)
{
	uint32_t *own = NULL;
	const uint32_t *start;
	json_t *edits = edits_json;
	size_t nlines, next = 1; /* the first line not yet passed */
	size_t cap = 1, written = 0, len = 0;
	long shift = 0; /* new line number - old, after the edits so far */
	int rc = -1;

	memset(ed, 0, sizeof(*ed));
	if (!json_is_array(edits) || !json_array_size(edits)) {
		snprintf(err, errlen,
			 "expected \"edits\": [{\"line\": N, \"delete\": K, "
			 "\"insert\": [LINES]}, ...], at least one");
		return -1;
	}
	/* The inserted lines' room, at most, allocated once. */
	for (size_t i = 0; i < json_array_size(edits); i++) {
		json_t *ins = json_object_get(json_array_get(edits, i), "insert");

		for (size_t k = 0; json_is_array(ins) && k < json_array_size(ins); k++)
			cap += json_string_length(json_array_get(ins, k)) + 1;
	}
	if (cur_starts) {
		start = cur_starts;
		nlines = cur_lines;
	} else {
		start = own = xmd_line_starts(cur, cur_len, &nlines);
	}
	ed->hunks = calloc(json_array_size(edits), sizeof(*ed->hunks));
	ed->ins = start && ed->hunks ? malloc(cap) : NULL;
	if (!ed->ins) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(edits); i++) {
		struct xm_text_hunk *hk = &ed->hunks[i];
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
		hk->old_line = (unsigned)line;
		hk->del = (unsigned)del;
		hk->new_line = (unsigned)(line + shift);
		hk->ins = ins ? (unsigned)json_array_size(ins) : 0;
		hk->new_off = written;
		for (size_t k = 0; k < hk->ins; k++) {
			json_t *t = json_array_get(ins, k);

			memcpy(ed->ins + written, json_string_value(t), json_string_length(t));
			written += json_string_length(t);
			ed->ins[written++] = '\n';
		}
		/* the whole text: the untouched lines before, a newline maybe,
		 * the inserted lines */
		len += start[line - 1] - start[next - 1] +
		       needs_newline(cur, start, (size_t)line, hk->ins);
		len += written - hk->new_off;
		shift += (long)hk->ins - (long)del;
		next = (size_t)(line + del);
	}
	len += start[nlines] - start[next - 1];
	if (len > XM_RULES_FILE_MAX) {
		snprintf(err, errlen, "the edited file would be %zu bytes, more than %u", len,
			 XM_RULES_FILE_MAX);
		goto out;
	}
	ed->ins_len = written;
	ed->n_hunks = json_array_size(edits);
	ed->len = len;
	rc = 0;
out:
	free(own);
	if (rc)
		xmd_edit_free(ed);
	return rc;
}

char *xmd_edit_whole(const char *cur, size_t cur_len, const uint32_t *cur_starts, size_t cur_lines,
		     const struct xmd_edit *ed)
{
	uint32_t *own = NULL;
	const uint32_t *start = cur_starts;
	size_t nlines = cur_lines, next = 1, written = 0;
	char *buf;

	if (!start)
		start = own = xmd_line_starts(cur, cur_len, &nlines);
	buf = start ? xmd_cache_room(ed->len + 1) : NULL;
	for (size_t i = 0; buf && i < ed->n_hunks; i++) {
		const struct xm_text_hunk *hk = &ed->hunks[i];
		size_t end = i + 1 < ed->n_hunks ? ed->hunks[i + 1].new_off : ed->ins_len;

		memcpy(buf + written, cur + start[next - 1],
		       start[hk->old_line - 1] - start[next - 1]);
		written += start[hk->old_line - 1] - start[next - 1];
		if (needs_newline(cur, start, hk->old_line, hk->ins))
			buf[written++] = '\n';
		memcpy(buf + written, ed->ins + hk->new_off, end - hk->new_off);
		written += end - hk->new_off;
		next = hk->old_line + hk->del;
	}
	if (buf) {
		memcpy(buf + written, cur + start[next - 1], start[nlines] - start[next - 1]);
		written += start[nlines] - start[next - 1];
		buf[written] = 0;
	}
	free(own);
	return buf;
}

void xmd_edit_free(struct xmd_edit *ed)
{
	free(ed->ins);
	free(ed->hunks);
	memset(ed, 0, sizeof(*ed));
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
