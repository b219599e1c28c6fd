// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* What xmasq needs to know of a network interface, and the forwarding
 * sysctls it sets on it (IPv4, and IPv6 with accept_ra). */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/ethtool.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
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
	__be32 addr6[4];
	char why[128];

	/* An IPv6-only NIC serves IPv6 forwards: it needs an address of
	 * either family to leave with. */
	if (rc == 0 && !out->addr &&
	    xm_ifinfo_addr6(out->ifindex, NULL, addr6, NULL, why, sizeof(why)) <= 0) {
		snprintf(err, errlen,
			 "interface '%s' has neither an IPv4 nor a global IPv6 address: masquerade "
			 "needs one (ip addr add ADDR/LEN dev %s)",
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

/* ---- IPv6 ---- */

struct addr6_pick {
	uint32_t ifindex;
	const __be32 *keep; /* the address in use, or NULL */
	int found, found_deprecated;
	int keep_usable; /* keep is there, fit for new flows */
	int keep_on;	 /* keep is there at all (deprecated too) */
	__be32 addr[4], deprecated[4];
};

static int addr6_attr(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (type == IFA_ADDRESS || type == IFA_LOCAL || type == IFA_FLAGS)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int addr6_msg(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1] = { 0 };
	const struct nlattr *a;
	struct addr6_pick *p = data;
	uint32_t flags;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifa)) || ifa->ifa_family != AF_INET6 ||
	    ifa->ifa_index != p->ifindex || ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*ifa), addr6_attr, tb);
	/* IFA_FLAGS holds all 32 bits; ifa_flags only the low 8. */
	flags = tb[IFA_FLAGS] && mnl_attr_get_payload_len(tb[IFA_FLAGS]) >= 4 ?
			mnl_attr_get_u32(tb[IFA_FLAGS]) :
			ifa->ifa_flags;
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	/* Temporary (privacy) addresses change by the hour and tentative or
	 * failed ones cannot be used: flows would break or never start. */
	if (!a || mnl_attr_get_payload_len(a) != 16 ||
	    (flags & (IFA_F_TEMPORARY | IFA_F_TENTATIVE | IFA_F_DADFAILED)))
		return MNL_CB_OK;
	if (p->keep && !memcmp(p->keep, mnl_attr_get_payload(a), 16)) {
		p->keep_on = 1;
		p->keep_usable = !(flags & IFA_F_DEPRECATED);
	}
	if (!(flags & IFA_F_DEPRECATED) && !p->found) {
		memcpy(p->addr, mnl_attr_get_payload(a), 16);
		p->found = 1;
	} else if ((flags & IFA_F_DEPRECATED) && !p->found_deprecated) {
		memcpy(p->deprecated, mnl_attr_get_payload(a), 16);
		p->found_deprecated = 1;
	}
	return MNL_CB_OK;
}

int xm_ifinfo_addr6(uint32_t ifindex, const __be32 keep[4], __be32 out[4], int *keep_on, char *err,
		    size_t errlen)
{
	static const __be32 none[4];
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct addr6_pick pick = {
		.ifindex = ifindex,
		.keep = keep && memcmp(keep, none, sizeof(none)) ? keep : NULL,
	};
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	unsigned int seq = (unsigned int)time(NULL), portid;
	ssize_t len;
	int rc = MNL_CB_OK;

	memset(out, 0, 16);
	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID)) {
		snprintf(err, errlen, "rtnetlink socket (reading IPv6 addresses): %s",
			 strerror(errno));
		if (nl)
			mnl_socket_close(nl);
		return -1;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET6;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		snprintf(err, errlen, "rtnetlink (asking for IPv6 addresses): %s", strerror(errno));
		mnl_socket_close(nl);
		return -1;
	}
	while (rc > MNL_CB_STOP) {
		len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (len < 0) {
			rc = MNL_CB_ERROR;
			break;
		}
		rc = mnl_cb_run(buf, (size_t)len, seq, portid, addr6_msg, &pick);
	}
	if (rc == MNL_CB_ERROR) {
		snprintf(err, errlen, "rtnetlink (reading IPv6 addresses): %s", strerror(errno));
		mnl_socket_close(nl);
		return -1;
	}
	mnl_socket_close(nl);
	if (keep_on)
		*keep_on = pick.keep_on;
	if (pick.keep_usable)
		memcpy(out, pick.keep, 16);
	else if (pick.found)
		memcpy(out, pick.addr, 16);
	else if (pick.found_deprecated)
		memcpy(out, pick.deprecated, 16); /* still usable: better than none */
	return pick.found || pick.found_deprecated;
}

/* Reads /proc/sys/net/ipv6/conf/IFNAME/KNOB as a number: 0, or -1 when
 * absent (IPv6 disabled on the NIC, or in the kernel). */
static int ipv6_knob_get(const char *ifname, const char *knob, int *val)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/%s", ifname, knob);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%d", val) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

static int ipv6_knob_set(const char *ifname, const char *knob, int val)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/%s", ifname, knob);
	f = fopen(path, "w");
	if (!f)
		return -1;
	if (fprintf(f, "%d\n", val) < 0) {
		fclose(f);
		return -1;
	}
	return fclose(f) ? -1 : 0;
}

int xm_sysctl_ipv6_on(const char *ifname, FILE *log, char *err, size_t errlen)
{
	int fwd, ra, changed = 0;

	if (ipv6_knob_get(ifname, "forwarding", &fwd))
		return 0; /* IPv6 disabled on this NIC: nothing of it to forward */
	if (fwd == 1)
		return 0; /* on already: not ours, and accept_ra is as the operator set it */
	/* accept_ra 2 first: turning forwarding on purges the default routes
	 * learned from RAs on every NIC whose accept_ra is not 2. */
	if (ipv6_knob_get(ifname, "accept_ra", &ra) == 0 && ra == 1) {
		if (ipv6_knob_set(ifname, "accept_ra", 2)) {
			snprintf(err, errlen,
				 "/proc/sys/net/ipv6/conf/%s/accept_ra: cannot set it to 2 (%s): "
				 "forwarding=1 would make %s ignore router advertisements and "
				 "lose its default route (set it by hand: sysctl -w "
				 "net.ipv6.conf.%s.accept_ra=2)",
				 ifname, strerror(errno), ifname, ifname);
			return -1;
		}
		changed |= XM_IFACE6_RA_BY_US;
		if (log)
			fprintf(log,
				"%s: set net.ipv6.conf.%s.accept_ra=2 (was 1), so it keeps "
				"learning its default route from router advertisements while "
				"forwarding; detach sets 1 again\n",
				ifname, ifname);
	}
	if (ipv6_knob_set(ifname, "forwarding", 1)) {
		snprintf(err, errlen,
			 "/proc/sys/net/ipv6/conf/%s/forwarding: cannot enable IPv6 forwarding "
			 "(%s); the kernel's FIB lookup refuses to route IPv6 for it otherwise",
			 ifname, strerror(errno));
		if (changed & XM_IFACE6_RA_BY_US)
			ipv6_knob_set(ifname, "accept_ra", 1);
		return -1;
	}
	changed |= XM_IFACE6_FWD_BY_US;
	if (log)
		fprintf(log,
			"%s: set net.ipv6.conf.%s.forwarding=1 (was %d), needed to route "
			"forwarded IPv6 packets; detach turns it off again\n",
			ifname, ifname, fwd);
	return changed;
}

void xm_sysctl_ipv6_off(const char *ifname, uint8_t changed, FILE *log)
{
	/* forwarding first: accept_ra 1 with forwarding still on would drop
	 * RAs for a moment. */
	if (changed & XM_IFACE6_FWD_BY_US) {
		if (ipv6_knob_set(ifname, "forwarding", 0)) {
			if (log)
				fprintf(log,
					"%s: could not turn IPv6 forwarding off again (%s; "
					"sysctl -w net.ipv6.conf.%s.forwarding=0)\n",
					ifname, strerror(errno), ifname);
		} else if (log) {
			fprintf(log, "%s: set net.ipv6.conf.%s.forwarding=0 (as before attach)\n",
				ifname, ifname);
		}
	}
	if (changed & XM_IFACE6_RA_BY_US) {
		if (ipv6_knob_set(ifname, "accept_ra", 1)) {
			if (log)
				fprintf(log,
					"%s: could not set accept_ra back to 1 (%s; sysctl -w "
					"net.ipv6.conf.%s.accept_ra=1)\n",
					ifname, strerror(errno), ifname);
		} else if (log) {
			fprintf(log, "%s: set net.ipv6.conf.%s.accept_ra=1 (as before attach)\n",
				ifname, ifname);
		}
	}
}
