// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* What xmasq needs to know of a network interface, and the one sysctl it
 * sets on it. */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include "ifinfo.h"

static uint16_t xm_ifinfo_mtu_fd(int fd, const char *ifname)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFMTU, &ifr) || ifr.ifr_mtu <= 0)
		return 0; /* unknown: no MTU check */
	return ifr.ifr_mtu > 65535 ? 65535 : (uint16_t)ifr.ifr_mtu;
}

uint16_t xm_ifinfo_mtu(const char *ifname)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint16_t mtu;

	if (fd < 0)
		return 0;
	mtu = xm_ifinfo_mtu_fd(fd, ifname);
	close(fd);
	return mtu;
}

int xm_ifinfo_is_veth(const char *ifname)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return 0;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&info;
	rc = ioctl(fd, SIOCETHTOOL, &ifr) == 0 && strcmp(info.driver, "veth") == 0;
	close(fd);
	return rc;
}

int xm_ifinfo_get(const char *ifname, struct xm_iface *out, char *err, size_t errlen)
{
	int rc = xm_ifinfo_read(ifname, out, err, errlen);

	if (rc == 0 && !out->addr) {
		snprintf(err, errlen,
			 "interface '%s' has no IPv4 address: masquerade needs one (ip addr add "
			 "ADDR/LEN dev %s)",
			 ifname, ifname);
		return -2;
	}
	return rc;
}

int xm_ifinfo_read(const char *ifname, struct xm_iface *out, char *err, size_t errlen)
{
	struct ifaddrs *ifa_list = NULL, *ifa;
	struct ifreq ifr = { 0 };
	int fd;

	memset(out, 0, sizeof(*out));
	if (strlen(ifname) >= IFNAMSIZ) {
		snprintf(err, errlen, "interface name '%s' is too long (at most %d characters)",
			 ifname, IFNAMSIZ - 1);
		return -2;
	}
	out->ifindex = if_nametoindex(ifname);
	if (!out->ifindex) {
		snprintf(err, errlen,
			 "interface '%s' not found in this network namespace (see: ip -br link)",
			 ifname);
		return -2;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		snprintf(err, errlen, "%s: cannot read MAC address: %s", ifname, strerror(errno));
		close(fd);
		return -1;
	}
	memcpy(out->mac, ifr.ifr_hwaddr.sa_data, 6);
	out->mtu = xm_ifinfo_mtu_fd(fd, ifname);
	close(fd);

	if (getifaddrs(&ifa_list)) {
		snprintf(err, errlen, "getifaddrs: %s", strerror(errno));
		return -1;
	}
	/* The first IPv4 address listed is the primary one. */
	for (ifa = ifa_list; ifa; ifa = ifa->ifa_next) {
		if (ifa->ifa_addr && ifa->ifa_addr->sa_family == AF_INET &&
		    strcmp(ifa->ifa_name, ifname) == 0) {
			out->addr = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr;
			break;
		}
	}
	freeifaddrs(ifa_list);
	return 0;
}

int xm_ifinfo_running(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), up = 0;

	if (fd < 0)
		return 0;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0)
		up = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
	close(fd);
	return up;
}

int xm_sysctl_forwarding_off(const char *ifname, FILE *log)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", ifname);
	f = fopen(path, "w");
	if (!f || fputs("0\n", f) < 0 || fclose(f) != 0) {
		if (log)
			fprintf(log, "%s: could not turn forwarding off again (%s)\n", path,
				strerror(errno));
		return -1;
	}
	if (log)
		fprintf(log, "%s: set net.ipv4.conf.%s.forwarding=0 (as before attach)\n", ifname,
			ifname);
	return 0;
}

int xm_sysctl_forwarding_on(const char *ifname, FILE *log, char *err, size_t errlen)
{
	char path[128], was = '?';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", ifname);
	f = fopen(path, "r");
	if (f) {
		was = (char)fgetc(f);
		fclose(f);
	}
	if (was == '1')
		return 0; /* was already on: not ours to turn off later */
	f = fopen(path, "w");
	if (!f || fputs("1\n", f) < 0 || fclose(f) != 0) {
		snprintf(err, errlen,
			 "%s: cannot enable forwarding (%s); the kernel's FIB lookup refuses to "
			 "route for it otherwise",
			 path, strerror(errno));
		return -1;
	}
	if (log)
		fprintf(log,
			"%s: set net.ipv4.conf.%s.forwarding=1 (was %c), needed to route forwarded "
			"packets; detach turns it off again\n",
			ifname, ifname, was);
	return 1;
}
