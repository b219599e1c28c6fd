/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv6 test frames (Ethernet, IPv6, TCP or UDP, payload) with correct
 * checksums, and the L4 checksum recomputed in full to check what a
 * program sent: test_bpf6.c and the data-plane fuzzer.
 */
#ifndef XMASQ_SELFTEST_PKT6_H
#define XMASQ_SELFTEST_PKT6_H

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "pkt.h"

#define TCP_HDR_LEN 20
#define UDP_HDR_LEN 8

struct addr6 {
	uint8_t b[16];
};

static inline struct addr6 A6(const char *s) {
	struct addr6 a;

	if (inet_pton(AF_INET6, s, a.b) != 1)
		abort();
	return a;
}

/* What a test frame is: Ethernet, IPv6, TCP or UDP, payload. */
struct spec6 {
	uint8_t dmac[6], smac[6];
	struct addr6 src, dst;
	uint8_t proto, hop, tcp_flags; /* proto 58: an ICMPv6 echo, sport its id */
	uint8_t icmp_type;	       /* 128 request (0: 128), 129 reply */
	uint16_t sport, dport;
	size_t payload;
	uint8_t nexthdr; /* 0: proto (no extension header) */
	uint8_t tclass;	 /* traffic class */
	/* TCP: seq, ack and window as given (tcp_given; else seq 0x11000000,
	 * see F6) and optlen bytes of options (a multiple of 4) */
	uint8_t tcp_given, optlen;
	uint16_t win;
	uint32_t seq, ack;
	uint8_t opts[20];
};

static inline uint16_t csum_fold32(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static inline uint32_t csum_add_bytes(uint32_t sum, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	return sum;
}

/* The L4 checksum of an IPv6 packet (RFC 8200 section 8.1), computed over
 * everything: what the checksum field must hold. */
static inline uint16_t l4_csum6(const uint8_t *ip6, size_t l4len, uint8_t proto, size_t csum_at)
{
	uint8_t pseudo[40] = { 0 };
	uint32_t sum;
	uint16_t c;
	uint8_t l4[PKT_MAX];

	memcpy(pseudo, ip6 + 8, 32);
	pseudo[34] = (uint8_t)(l4len >> 8);
	pseudo[35] = (uint8_t)l4len;
	pseudo[39] = proto;
	memcpy(l4, ip6 + 40, l4len);
	l4[csum_at] = l4[csum_at + 1] = 0;
	sum = csum_add_bytes(0, pseudo, sizeof(pseudo));
	sum = csum_add_bytes(sum, l4, l4len);
	c = (uint16_t)~csum_fold32(sum);
	return proto == IPPROTO_UDP && c == 0 ? 0xffff : c;
}

/* A payload that is not all zeros (a checksum must cover it). */
static inline void pkt6_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)('a' + i % 26);
}

static inline struct frame F6(struct spec6 s) {
	struct frame f = { 0 };
	uint8_t *ip = f.b + 14, *l4 = ip + 40;
	size_t l4len = (s.proto == IPPROTO_TCP ? TCP_HDR_LEN + s.optlen : UDP_HDR_LEN) +
		       s.payload; /* 8: UDP, ICMPv6 */
	uint16_t c;

	memcpy(f.b, s.dmac, 6);
	memcpy(f.b + 6, s.smac, 6);
	f.b[12] = 0x86;
	f.b[13] = 0xdd;
	ip[0] = (uint8_t)(0x60 | s.tclass >> 4);
	ip[1] = (uint8_t)(s.tclass << 4);
	ip[4] = (uint8_t)(l4len >> 8);
	ip[5] = (uint8_t)l4len;
	ip[6] = s.nexthdr ? s.nexthdr : s.proto;
	ip[7] = s.hop;
	memcpy(ip + 8, s.src.b, 16);
	memcpy(ip + 24, s.dst.b, 16);
	l4[0] = (uint8_t)(s.sport >> 8);
	l4[1] = (uint8_t)s.sport;
	l4[2] = (uint8_t)(s.dport >> 8);
	l4[3] = (uint8_t)s.dport;
	if (s.proto == IPPROTO_TCP) {
		l4[4] = 0x11; /* seq */
		/* the ACK number equals the sequence number, as pkt.h's: both
		 * sides' segments lie exactly at the other's last ACK, and the
		 * router's window checks (bpf/tcp_window.h) take them */
		l4[8] = (s.tcp_flags & 0x10) ? 0x11 : 0x22;
		l4[12] = (uint8_t)((5 + s.optlen / 4) << 4);
		l4[13] = s.tcp_flags;
		l4[14] = 0xfa;
		if (s.tcp_given) {
			pkt_put32(l4 + 4, s.seq);
			pkt_put32(l4 + 8, s.ack);
			pkt_put16(l4 + 14, s.win);
		}
		memcpy(l4 + TCP_HDR_LEN, s.opts, s.optlen);
		pkt6_fill(l4 + TCP_HDR_LEN + s.optlen, s.payload);
		c = l4_csum6(ip, l4len, IPPROTO_TCP, 16);
		l4[16] = (uint8_t)(c >> 8);
		l4[17] = (uint8_t)c;
	} else if (s.proto == 58) {
		l4[0] = s.icmp_type ? s.icmp_type : 128;
		l4[4] = (uint8_t)(s.sport >> 8); /* id */
		l4[5] = (uint8_t)s.sport;
		l4[7] = 1; /* seq */
		pkt6_fill(l4 + 8, s.payload);
		c = l4_csum6(ip, l4len, 58, 2);
		l4[2] = (uint8_t)(c >> 8);
		l4[3] = (uint8_t)c;
	} else {
		l4[4] = (uint8_t)(l4len >> 8);
		l4[5] = (uint8_t)l4len;
		pkt6_fill(l4 + UDP_HDR_LEN, s.payload);
		c = l4_csum6(ip, l4len, IPPROTO_UDP, 6);
		l4[6] = (uint8_t)(c >> 8);
		l4[7] = (uint8_t)c;
	}
	f.len = 14 + 40 + l4len;
	return f;
}

/* 1 when f is an IPv6 TCP, UDP or ICMPv6 echo frame (no extension header) whose L4
 * checksum equals full recomputation; 0 when it is one whose checksum is
 * wrong; -1 when it is not one. */
static inline int
pkt6_csum_ok(const struct frame *f)
{
	const uint8_t *ip = f->b + 14;
	size_t l4len;
	size_t at;

	if (f->len < 14 + 40 + 8 || f->b[12] != 0x86 || f->b[13] != 0xdd)
		return -1;
	l4len = (size_t)ip[4] << 8 | ip[5];
	if (ip[6] != IPPROTO_TCP && ip[6] != IPPROTO_UDP && ip[6] != 58)
		return -1;
	if (14 + 40 + l4len > f->len || l4len < (ip[6] == IPPROTO_TCP ? 20u : 8u))
		return -1;
	if (ip[6] == 58 && ip[40] != 128 && ip[40] != 129)
		return -1; /* ICMPv6 echo only */
	at = ip[6] == IPPROTO_TCP ? 16 : ip[6] == 58 ? 2 : 6;
	return (uint16_t)(ip[40 + at] << 8 | ip[40 + at + 1]) == l4_csum6(ip, l4len, ip[6], at);
}

/* The ICMPv6 checksum of an IPv6 frame without extension headers,
 * as it is and as full recomputation gives it (RFC 4443 section 2.3). */
struct pkt6_icmp_csum {
	int ok; /* the frame is IPv6 + ICMPv6, whole */
	uint16_t got, want;
};

static inline struct pkt6_icmp_csum pkt6_icmp_csum(const struct frame *f)
{
	struct pkt6_icmp_csum c = { 0 };
	const uint8_t *ip = f->b + 14;
	size_t len;

	if (f->len < 14 + 40 + 8 || f->b[12] != 0x86 || f->b[13] != 0xdd || ip[6] != 58)
		return c;
	len = (size_t)ip[4] << 8 | ip[5];
	if (14 + 40 + len > f->len || len < 8)
		return c;
	c.ok = 1;
	c.got = (uint16_t)(ip[42] << 8 | ip[43]);
	c.want = l4_csum6(ip, len, 58, 2);
	return c;
}

#endif
