// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The monotonic clock in seconds, and a sleep in seconds: publish's
 * retries and its wait share them. */
#include <time.h>
#include "cli.h"

double cli_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	if (s > 0)
		nanosleep(&ts, NULL);
}
