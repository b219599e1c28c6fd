// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* How much of what libbpf and libxdp say reaches stderr. By default they
 * are quiet (xm_quiet_libs): libxdp probes kernel features and fails
 * noisily by design, and the library's own errors say what went wrong.
 * When the operator asks (xmasq -v), everything they say is shown: the
 * reasons behind a failed load, the verifier log among them. */
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "xmasq.h"

static int lib_verbosity;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && lib_verbosity < 2)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int print_libxdp(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBXDP_DEBUG && lib_verbosity < 2)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void xm_log_set_verbosity(int verbosity)
{
	lib_verbosity = verbosity;
	if (verbosity <= 0) {
		xm_quiet_libs();
		return;
	}
	libbpf_set_print(print_libbpf);
	libxdp_set_print(print_libxdp);
}

int xm_log_verbosity(void)
{
	return lib_verbosity;
}
