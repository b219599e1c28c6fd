// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Changes per client key: a token bucket each (RATE_BURST changes at once,
 * then one every RATE_EVERY_S seconds), so one operator's script cannot
 * keep the router re-applying. Buckets of keys idle long enough to be full
 * again are forgotten, so the table stays small. */
#include <string.h>
#include <time.h>
#include "xmasqd.h"

#define RATE_BURST   30
#define RATE_EVERY_S 2.0
#define RATE_KEYS    64

static struct bucket {
	char key[XMD_SHA256_HEX];
	double tokens;
	double at; /* monotonic seconds of the last update */
} buckets[RATE_KEYS];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void refill(struct bucket *b, double now)
{
	b->tokens += (now - b->at) / RATE_EVERY_S;
	if (b->tokens > RATE_BURST)
		b->tokens = RATE_BURST;
	b->at = now;
}

int xmd_rate_allow(const char *key, unsigned *retry_s)
{
	double now = now_s();
	struct bucket *b = NULL, *free_slot = NULL;

	for (int i = 0; i < RATE_KEYS; i++) {
		if (buckets[i].key[0] && !strcmp(buckets[i].key, key)) {
			b = &buckets[i];
			break;
		}
		if (buckets[i].key[0]) {
			refill(&buckets[i], now);
			if (buckets[i].tokens >= RATE_BURST)
				buckets[i].key[0] = 0; /* full again: forget it */
		}
		if (!buckets[i].key[0] && !free_slot)
			free_slot = &buckets[i];
	}
	if (!b) {
		/* Every slot busy: the fullest bucket's key loses its history. */
		if (!free_slot) {
			free_slot = &buckets[0];
			for (int i = 1; i < RATE_KEYS; i++)
				if (buckets[i].tokens > free_slot->tokens)
					free_slot = &buckets[i];
		}
		b = free_slot;
		strcpy(b->key, key);
		b->tokens = RATE_BURST;
		b->at = now;
	}
	refill(b, now);
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return 1;
	}
	*retry_s = (unsigned)((1 - b->tokens) * RATE_EVERY_S) + 1;
	return 0;
}
