/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Test helpers: crafting Ethernet/802.1Q/IPv4/TCP/UDP/ICMP frames with
 * fully computed checksums, and verifying checksums of a frame by full
 * recomputation (never incrementally), independent of the data plane. */
#ifndef XMASQ_SELFTEST_PKT_H
#define XMASQ_SELFTEST_PKT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>

#define PKT_MAX 2048 /* room for a 1500-byte IP packet (PMTU tests) */

struct frame {
	uint8_t b[PKT_MAX];
	size_t len;
};

enum pkt_l4cs {
	L4CS_FULL = 0, /* correct full checksum (UDP: 0 sent as 0xffff) */
	L4CS_ZERO,     /* UDP: no checksum (0) */
	L4CS_PARTIAL,  /* folded pseudo-header sum, as CHECKSUM_PARTIAL leaves it */
};

struct pkt_spec {
	const uint8_t *dmac, *smac;
	int tagged; /* one 802.1Q tag with tci */
	uint16_t tci;
	uint16_t tpid;	       /* 0 = 0x8100 */
	uint32_t saddr, daddr; /* network order */
	uint16_t sport, dport; /* host order; ICMP echo: sport = id */
	uint8_t proto;
	uint8_t ttl;
	uint8_t tcp_flags;
	uint8_t nopts;		 /* IPv4 option words (NOP NOP NOP EOL each) */
	uint8_t tcp_optlen;	 /* TCP options: a multiple of 4 bytes, at most 40 */
	const uint8_t *tcp_opts; /* ... and their bytes */
	uint16_t frag;		 /* frag_off field, host order (flags + offset) */
	uint16_t ip_id;
	const uint8_t *payload;
	size_t plen;
	int l4cs;	/* enum pkt_l4cs */
	int raw_l4;	/* payload is the whole L4 part (fragments) */
	int echo_reply; /* ICMP: echo reply (type 0) instead of request */
	uint8_t tos;
};

/* ---- Internet checksum, computed the slow and obvious way --------------- */
static inline uint32_t pkt_sum(const uint8_t *p, size_t n, uint32_t acc)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}

static inline uint16_t pkt_fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static inline uint16_t pkt_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void pkt_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void pkt_put32(uint8_t *p, uint32_t v)
{
	pkt_put16(p, (uint16_t)(v >> 16));
	pkt_put16(p + 2, (uint16_t)v);
}

/* Linux's SYN options (20 bytes): MSS, SACK permitted, timestamps, NOP,
 * window scale wscale. */
static inline void pkt_linux_syn_opts(uint8_t o[20], uint8_t wscale)
{
	static const uint8_t base[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
					  0, 1, 0,    0,    0, 0, 1, 3,	 3, 0 };

	memcpy(o, base, sizeof(base));
	o[19] = wscale;
}

/* Pseudo-header sum (unfolded) for an IPv4 header at ip. */
static inline uint32_t pkt_pseudo(const uint8_t *ip, uint16_t l4len)
{
	uint32_t acc = pkt_sum(ip + 12, 8, 0);

	acc += ip[9];
	acc += l4len;
	return acc;
}

/* Full IPv4 header checksum (check field treated as zero). */
static inline uint16_t pkt_ip_csum(const uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
	uint8_t h[60];

	memcpy(h, ip, ihl);
	h[10] = h[11] = 0;
	return (uint16_t)~pkt_fold(pkt_sum(h, ihl, 0));
}

/* Full L4 (TCP/UDP/ICMP) checksum over the segment at l4 of length l4len,
 * with the field at csum_off (relative to l4) treated as zero. */
static inline uint16_t pkt_l4_csum(const uint8_t *ip, const uint8_t *l4, uint16_t l4len,
				   size_t csum_off)
{
	uint32_t acc = 0;

	if (ip[9] != IPPROTO_ICMP)
		acc = pkt_pseudo(ip, l4len);
	acc = pkt_sum(l4, csum_off, acc);
	acc = pkt_sum(l4 + csum_off + 2, l4len - csum_off - 2, acc);
	return (uint16_t)~pkt_fold(acc);
}

/* ---- building ---------------------------------------------------------- */
static inline void pkt_build(struct frame *f, const struct pkt_spec *s)
{
	uint8_t *b = f->b, *ip, *l4;
	size_t off = 12, ihl = 20 + 4u * s->nopts, l4len, i;
	uint16_t csum;

	memset(f, 0, sizeof(*f));
	memcpy(b, s->dmac, 6);
	memcpy(b + 6, s->smac, 6);
	if (s->tagged) {
		pkt_put16(b + 12, s->tpid ? s->tpid : 0x8100);
		pkt_put16(b + 14, s->tci);
		off = 16;
	}
	pkt_put16(b + off, 0x0800);
	ip = b + off + 2;
	l4 = ip + ihl;
	switch (s->raw_l4 ? 0 : s->proto) {
	case 0:
		l4len = 0;
		break;
	case IPPROTO_TCP:
		l4len = 20 + s->tcp_optlen;
		break;
	case IPPROTO_UDP:
		l4len = 8;
		break;
	default:
		l4len = 8;
		break; /* ICMP echo */
	}
	l4len += s->plen;
	ip[0] = (uint8_t)(0x40 | (ihl / 4));
	ip[1] = s->tos;
	pkt_put16(ip + 2, (uint16_t)(ihl + l4len));
	pkt_put16(ip + 4, s->ip_id ? s->ip_id : 0x1234);
	pkt_put16(ip + 6, s->frag);
	ip[8] = s->ttl ? s->ttl : 64;
	ip[9] = s->proto;
	memcpy(ip + 12, &s->saddr, 4);
	memcpy(ip + 16, &s->daddr, 4);
	for (i = 0; i < s->nopts; i++) {
		ip[20 + 4 * i] = 1; /* NOP */
		ip[21 + 4 * i] = 1;
		ip[22 + 4 * i] = 1;
		ip[23 + 4 * i] = i + 1 == s->nopts ? 0 : 1; /* EOL last */
	}
	pkt_put16(ip + 10, pkt_ip_csum(ip));

	if (s->raw_l4) {
		if (s->plen)
			memcpy(l4, s->payload, s->plen);
		f->len = (size_t)(l4 - b) + l4len;
		return;
	}
	if (s->proto == IPPROTO_TCP) {
		pkt_put16(l4, s->sport);
		pkt_put16(l4 + 2, s->dport);
		l4[4] = 0x11;
		l4[5] = 0x22;
		l4[6] = 0x33;
		l4[7] = 0x44; /* seq */
		/* The ACK number equals the sequence number, so that both
		 * sides' segments lie exactly at the other's last ACK: the
		 * router's window checks (bpf/tcp_window.h) take them. */
		if (s->tcp_flags & 0x10)
			memcpy(l4 + 8, l4 + 4, 4);
		l4[12] = (uint8_t)((5 + s->tcp_optlen / 4) << 4);
		l4[13] = s->tcp_flags;
		pkt_put16(l4 + 14, 64240);
		if (s->tcp_optlen)
			memcpy(l4 + 20, s->tcp_opts, s->tcp_optlen);
		if (s->plen)
			memcpy(l4 + 20 + s->tcp_optlen, s->payload, s->plen);
	} else if (s->proto == IPPROTO_UDP) {
		pkt_put16(l4, s->sport);
		pkt_put16(l4 + 2, s->dport);
		pkt_put16(l4 + 4, (uint16_t)l4len);
		if (s->plen)
			memcpy(l4 + 8, s->payload, s->plen);
	} else {
		l4[0] = s->echo_reply ? 0 : 8; /* echo reply / request */
		pkt_put16(l4 + 4, s->sport);
		pkt_put16(l4 + 6, 1);
		if (s->plen)
			memcpy(l4 + 8, s->payload, s->plen);
	}
	{
		size_t coff = s->proto == IPPROTO_TCP ? 16 : s->proto == IPPROTO_UDP ? 6 : 2;

		if (s->l4cs == L4CS_ZERO)
			csum = 0;
		else if (s->l4cs == L4CS_PARTIAL)
			csum = pkt_fold(pkt_pseudo(ip, (uint16_t)l4len));
		else {
			csum = pkt_l4_csum(ip, l4, (uint16_t)l4len, coff);
			if (csum == 0 && s->proto == IPPROTO_UDP)
				csum = 0xffff;
		}
		pkt_put16(l4 + coff, csum);
	}
	f->len = (size_t)(l4 - b) + l4len;
}

/* IPv4 fragment [from, from + n) of the L4 part of IPv4 frame whole (a
 * 20-byte header; more: not the last), its header checksum computed. */
static inline struct frame pkt_fragment4(const struct frame *whole, size_t from, size_t n, int more)
{
	struct frame f = { 0 };
	uint8_t *ip = f.b + 14;

	memcpy(f.b, whole->b, 14 + 20);
	memcpy(ip + 20, whole->b + 34 + from, n);
	pkt_put16(ip + 2, (uint16_t)(20 + n));
	pkt_put16(ip + 6, (uint16_t)((more ? 0x2000 : 0) | from / 8));
	pkt_put16(ip + 10, 0);
	pkt_put16(ip + 10, pkt_ip_csum(ip));
	f.len = 14 + 20 + n;
	return f;
}

/* ---- inspecting -------------------------------------------------------- */
struct pkt_view {
	int ok;
	int vlan; /* TCI or -1 */
	size_t l3, l4;
	uint16_t l4len;
	uint8_t proto;
};

static inline struct pkt_view pkt_view(const uint8_t *b, size_t len)
{
	struct pkt_view v = { .vlan = -1 };
	size_t off = 12;
	const uint8_t *ip;

	if (len < 14)
		return v;
	if (pkt_get16(b + 12) == 0x8100 || pkt_get16(b + 12) == 0x88a8) {
		if (len < 18)
			return v;
		v.vlan = pkt_get16(b + 14);
		off = 16;
	}
	if (pkt_get16(b + off) != 0x0800)
		return v;
	v.l3 = off + 2;
	if (len < v.l3 + 20)
		return v;
	ip = b + v.l3;
	v.l4 = v.l3 + (size_t)(ip[0] & 0x0f) * 4;
	if (pkt_get16(ip + 2) < (ip[0] & 0x0f) * 4)
		return v;
	v.l4len = (uint16_t)(pkt_get16(ip + 2) - (ip[0] & 0x0f) * 4);
	v.proto = ip[9];
	if (v.l4 + v.l4len > len)
		return v;
	v.ok = 1;
	return v;
}

/* Stored vs. fully recomputed checksums of an IPv4 TCP/UDP/ICMP frame
 * (ICMP: over the whole ICMP message, no pseudo-header). */
struct pkt_csums {
	int ok;
	uint16_t ip_got, ip_want, l4_got, l4_want;
};

static inline struct pkt_csums pkt_check_csums(const uint8_t *b, size_t len)
{
	struct pkt_csums c = { 0 };
	struct pkt_view v = pkt_view(b, len);
	size_t coff;

	if (!v.ok || (v.proto != IPPROTO_TCP && v.proto != IPPROTO_UDP && v.proto != IPPROTO_ICMP))
		return c;
	coff = v.proto == IPPROTO_TCP ? 16 : v.proto == IPPROTO_UDP ? 6 : 2;
	if (v.l4len < coff + 2)
		return c;
	c.ok = 1;
	c.ip_got = pkt_get16(b + v.l3 + 10);
	c.ip_want = pkt_ip_csum(b + v.l3);
	c.l4_got = pkt_get16(b + v.l4 + coff);
	c.l4_want = pkt_l4_csum(b + v.l3, b + v.l4, v.l4len, coff);
	if (v.proto == IPPROTO_UDP && c.l4_want == 0)
		c.l4_want = 0xffff; /* RFC 768: a computed zero is sent as ones */
	return c;
}

/* An ICMP message (type, code, the 4 bytes after the checksum, then the
 * quoted bytes) with its checksum computed over all of it, into msg.
 * Returns its length. */
static inline size_t pkt_icmp_msg(uint8_t *msg, size_t cap, uint8_t type, uint8_t code,
				  uint32_t rest, const uint8_t *quote, size_t qlen)
{
	if (8 + qlen > cap)
		return 0;
	memset(msg, 0, 8);
	msg[0] = type;
	msg[1] = code;
	msg[4] = (uint8_t)(rest >> 24);
	msg[5] = (uint8_t)(rest >> 16);
	msg[6] = (uint8_t)(rest >> 8);
	msg[7] = (uint8_t)rest;
	if (qlen)
		memcpy(msg + 8, quote, qlen);
	pkt_put16(msg + 2, (uint16_t)~pkt_fold(pkt_sum(msg, 8 + qlen, 0)));
	return 8 + qlen;
}

/* Checksums of an ICMP error frame, each stored vs. fully recomputed: the
 * outer IPv4 header, the ICMP message (whole), the quoted IPv4 header, and
 * the quoted L4 checksum when the quote holds the whole quoted datagram
 * (its tot_len fits; inner_l4_full says so: TCP/UDP/ICMP then checked). */
struct pkt_icmperr_csums {
	int ok; /* an ICMP message with a quoted IPv4 header */
	int inner_l4_full;
	uint8_t inner_proto;
	size_t inner_l3; /* offset in the frame */
	uint16_t ip_got, ip_want, icmp_got, icmp_want;
	uint16_t in_ip_got, in_ip_want, in_l4_got, in_l4_want;
};

static inline struct pkt_icmperr_csums pkt_check_icmperr(const uint8_t *b, size_t len)
{
	struct pkt_icmperr_csums c = { 0 };
	struct pkt_view v = pkt_view(b, len);
	const uint8_t *in;
	size_t in_ihl, qlen, coff;
	uint16_t in_tot;

	if (!v.ok || v.proto != IPPROTO_ICMP || v.l4len < 8 + 20)
		return c;
	c.ip_got = pkt_get16(b + v.l3 + 10);
	c.ip_want = pkt_ip_csum(b + v.l3);
	c.icmp_got = pkt_get16(b + v.l4 + 2);
	c.icmp_want = pkt_l4_csum(b + v.l3, b + v.l4, v.l4len, 2);
	c.inner_l3 = v.l4 + 8;
	in = b + c.inner_l3;
	qlen = v.l4len - 8u;
	in_ihl = (size_t)(in[0] & 0x0f) * 4;
	if ((in[0] >> 4) != 4 || in_ihl < 20 || in_ihl > qlen)
		return c;
	c.ok = 1;
	c.inner_proto = in[9];
	c.in_ip_got = pkt_get16(in + 10);
	c.in_ip_want = pkt_ip_csum(in);
	in_tot = pkt_get16(in + 2);
	coff = in[9] == IPPROTO_TCP ? 16 : in[9] == IPPROTO_UDP ? 6 : 2;
	if (in_tot == qlen && in_tot >= in_ihl + coff + 2 &&
	    (in[9] == IPPROTO_TCP || in[9] == IPPROTO_UDP || in[9] == IPPROTO_ICMP)) {
		c.inner_l4_full = 1;
		c.in_l4_got = pkt_get16(in + in_ihl + coff);
		c.in_l4_want = pkt_l4_csum(in, in + in_ihl, (uint16_t)(in_tot - in_ihl), coff);
		if (in[9] == IPPROTO_UDP && c.in_l4_want == 0)
			c.in_l4_want = 0xffff;
	}
	return c;
}

static inline void pkt_hex(const char *label, const uint8_t *b, size_t len,
			   void (*out)(const char *fmt, ...))
{
	char line[3 * 16 + 1];
	size_t i, n = 0;

	out("%s (%zu bytes):", label, len);
	for (i = 0; i < len; i++) {
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%02x ", b[i]);
		if ((i & 15) == 15 || i + 1 == len) {
			out("  %04zx: %s", i & ~(size_t)15, line);
			n = 0;
		}
	}
}

#endif
