/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef XMASQ_CLI_H
#define XMASQ_CLI_H
#include <stdio.h>
#include "xmasq.h"

void xm_print_status(FILE *o, const struct xm_handle *h, const struct xm_snapshot *s, int json);
void xm_print_stats(FILE *o, const struct xm_snapshot *s, int json);
void xm_print_conntrack(FILE *o, const struct xm_conn *c, size_t n, int json);
#endif
