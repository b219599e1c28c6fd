// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xmasqd's in-place decoding of {"text": ..., "version": ...} bodies
 * (loader/xmasqd/body_json.c) against jansson: whatever it takes, jansson
 * reads to the same strings; whatever it leaves, it leaves untouched. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "../../loader/xmasqd/body_json.c"
#include "tap.h"

static const char *const names[] = { "text", "version" };

/* 1: taken and the same as jansson's; 0: left whole to jansson; -1: wrong */
static int check(const char *body, size_t len)
{
	char *copy = malloc(len + 1);
	const char *vals[2];
	size_t lens[2];
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *t, *v;
	int rc, ok;

	memcpy(copy, body, len);
	copy[len] = 0;
	rc = xmd_body_strings(copy, len, names, vals, lens, 2);
	if (rc) {
		ok = !memcmp(copy, body, len) ? 0 : -1;
		free(copy);
		json_decref(doc);
		return ok;
	}
	t = json_object_get(doc, "text");
	v = json_object_get(doc, "version");
	ok = json_is_string(t) && json_is_string(v) && json_string_length(t) == lens[0] &&
	     !memcmp(json_string_value(t), vals[0], lens[0]) && !vals[0][lens[0]] &&
	     json_string_length(v) == lens[1] && !memcmp(json_string_value(v), vals[1], lens[1]);
	free(copy);
	json_decref(doc);
	return ok ? 1 : -1;
}

static void cases(void)
{
	static const struct {
		const char *body;
		int taken;
	} c[] = {
		{ "{\"text\": \"forward eth0 tcp 80 to 198.18.0.2\\n\", \"version\": \"ab\"}", 1 },
		{ " {\"version\":\"v\",\"text\":\"\"} \n", 1 },
		{ "{\"text\":\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\",\"version\":\"\"}", 1 },
		{ "{\"text\":\"\\\\\",\"version\":\"\\\"\"}", 1 },
		{ "{\"text\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"version\":\"x\"}", 1 },
		{ "{\"text\":\"x\",\"version\":\"y\",\"note\":\"z\"}", 1 },
		{ "{\"text\":\"\\u00e9\",\"version\":\"y\"}", 0 },	    /* \u: jansson's */
		{ "{\"text\":\"\xc3\",\"version\":\"y\"}", 0 },		    /* cut UTF-8 */
		{ "{\"text\":\"\xc0\xaf\",\"version\":\"y\"}", 0 },	    /* overlong */
		{ "{\"text\":\"\xed\xa0\x80\",\"version\":\"y\"}", 0 },	    /* a surrogate */
		{ "{\"text\":\"\xf4\x90\x80\x80\",\"version\":\"y\"}", 0 }, /* past U+10FFFF */
		{ "{\"text\":\"a\tb\",\"version\":\"y\"}", 0 },		    /* raw control */
		{ "{\"text\":\"x\",\"text\":\"y\",\"version\":\"y\"}", 0 },
		{ "{\"text\":\"x\"}", 0 },
		{ "{\"text\":\"x\",\"version\":1}", 0 },
		{ "{\"text\":\"x\",\"version\":\"y\"} x", 0 },
		{ "{\"text\":\"x\",\"version\":\"y\"", 0 },
		{ "{\"text\":\"x\",\"version\":\"y\",}", 0 },
		{ "{\"text\":\"x\\q\",\"version\":\"y\"}", 0 },
		{ "{\"te\\u0078t\":\"x\",\"version\":\"y\"}", 0 },
		{ "{\"t\\\"\":\"x\",\"text\":\"x\",\"version\":\"y\"}", 0 },
		{ "[\"text\"]", 0 },
		{ "{}", 0 },
		{ "", 0 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int rc = check(c[i].body, strlen(c[i].body));

		tap_ok(rc == c[i].taken, "body %zu: %s", i + 1,
		       rc == 1 ? "taken, as jansson reads it" :
		       rc == 0 ? "left to jansson, untouched" :
				 "WRONG (differs from jansson, or changed)");
	}
}

/* Bodies put together at random from pieces, valid and not. */
static void random_bodies(void)
{
	static const char *const piece[] = {
		"{",
		"}",
		"\"",
		":",
		",",
		" ",
		"\n",
		"\\",
		"\\n",
		"\\\"",
		"\\u0041",
		"text",
		"version",
		"a",
		"\xc3\xa9",
		"\xc3",
		"\x01",
		"1",
		"\"text\":\"",
		"\"version\":\"",
		"\",",
		"\"}",
		"\\\\",
		"\xf0\x9f\x98\x80",
		"\xed\xa0\x80",
	};
	int wrong = 0, taken = 0;
	unsigned seed = 11;

	for (int n = 0; n < 50000; n++) {
		char body[256];
		size_t len = 0;
		int k = 1 + rand_r(&seed) % 14;

		/* mostly the right skeleton, so that many are taken */
		if (rand_r(&seed) % 2)
			len += (size_t)snprintf(body, sizeof(body), "{\"text\":\"");
		while (k-- && len < 200) {
			const char *p = piece[rand_r(&seed) % (sizeof(piece) / sizeof(piece[0]))];

			memcpy(body + len, p, strlen(p));
			len += strlen(p);
		}
		if (rand_r(&seed) % 2)
			len += (size_t)snprintf(body + len, sizeof(body) - len,
						"\",\"version\":\"v\"}");
		switch (check(body, len)) {
		case 1:
			taken++;
			break;
		case -1:
			if (wrong++ < 3)
				tap_diag("wrong: %.*s", (int)len, body);
		}
	}
	tap_ok(!wrong && taken > 1000,
	       "50,000 random bodies: %d taken, as jansson reads them; %d wrong", taken, wrong);
}

int main(void)
{
	cases();
	random_bodies();
	return tap_done();
}
