/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef XMASQ_IFINFO_H
#define XMASQ_IFINFO_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "xmasq_abi.h"

/* Fills ifindex, MAC and primary IPv4 address. 0, -1 runtime, -2 usage. */
int xm_ifinfo_get(const char *ifname, struct xm_iface *out, char *err, size_t errlen);
/* The same, but an interface without an IPv4 address is no error (addr 0). */
int xm_ifinfo_read(const char *ifname, struct xm_iface *out, char *err, size_t errlen);
/* 1 if the link is up and running (IFF_UP and IFF_RUNNING), else 0. */
int xm_ifinfo_running(const char *ifname);
/* Sets net.ipv4.conf.IFNAME.forwarding=1, saying so on log when changed.
 * Returns 1 if it changed it, 0 if it was on already, -1 on failure. */
int xm_sysctl_forwarding_on(const char *ifname, FILE *log, char *err, size_t errlen);
/* The interface's MTU, 0 if unknown. */
uint16_t xm_ifinfo_mtu(const char *ifname);
/* 1 if the interface is a veth (ethtool driver name), else 0. */
int xm_ifinfo_is_veth(const char *ifname);
int xm_sysctl_forwarding_off(const char *ifname, FILE *log);

/* The IPv6 address flows leave ifindex with: keep, the one they leave
 * with now (NULL or all zero: none), while it is still a usable address
 * of the NIC; else its first global-scope address that is neither
 * temporary, tentative nor failed DAD, a non-deprecated one preferred.
 * Kept, not the first (the kernel lists the newest first): an address
 * added beside it, for an `as` list say, must not move the NIC's flows.
 * *keep_on (NULL: not asked): whether keep is still an address of the
 * NIC, deprecated or not (the replies to its flows still arrive). 1
 * found, 0 none (out all zero), -1 the kernel could not be asked (err).
 * out must not be keep. */
int xm_ifinfo_addr6(uint32_t ifindex, const __be32 keep[4], __be32 out[4], int *keep_on, char *err,
		    size_t errlen);
/* Sets net.ipv6.conf.IFNAME.forwarding=1 and, when accept_ra is 1, first
 * accept_ra=2 (forwarding=1 would make the NIC ignore router
 * advertisements and purge the default routes they gave). Returns the
 * XM_IFACE6_* bits of what it changed, 0 when nothing (IPv6 disabled on
 * the NIC included), -1 on failure (err). */
int xm_sysctl_ipv6_on(const char *ifname, FILE *log, char *err, size_t errlen);
/* Undoes what xm_sysctl_ipv6_on changed (its XM_IFACE6_* bits). */
void xm_sysctl_ipv6_off(const char *ifname, uint8_t changed, FILE *log);
#endif
