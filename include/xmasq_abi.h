/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xmasq ABI: every structure, counter id, limit and pin name shared by the
 * BPF data plane (bpf/) and userspace (loader/, tools/, selftests/).
 *
 * Rules for this file:
 *  - fixed-width types only, explicit padding, no implicit holes, so the
 *    layout is identical for clang -target bpf and gcc x86_64;
 *  - addresses and ports stored as they are on the wire are __be*, anything
 *    else is host order;
 *  - any change to a map's key or value layout bumps XM_LAYOUT_VERSION:
 *    pinned maps of an older layout are then refused, never reinterpreted;
 *    except for maps attach carries over itself, entry by entry, from the
 *    older shape it knows (counters, rule_meta, flows6).
 */
#ifndef XMASQ_ABI_H
#define XMASQ_ABI_H

#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_timer */

#define XM_LAYOUT_VERSION 2

/* ---- limits (map sizes) ------------------------------------------------ */
#define XM_MAX_IFACES	   64	    /* managed interfaces                  */
#define XM_MAX_RULES	   131072   /* forward rules (ids 1..MAX-1)        */
#define XM_MAX_RULE_PORTS  524288   /* port entries, both generations      */
#define XM_ADDR_SET_MAX	   8	    /* addresses of one rule's `as` list     */
#define XM_ADDR_SETS	   1024	    /* distinct `as` lists live at once      */
#define XM_ALLOW_LIST_MAX  64	    /* prefixes of one rule's `from` list    */
#define XM_ALLOW_LISTS	   65536    /* `from` list ids (1..MAX-1)            */
#define XM_ALLOW_PREFIXES  65536    /* `from` prefixes, old and new lists    */
#define XM_MAX_MASQ_RULES  8192	    /* masquerade prefixes, both generations */
#define XM_MAX_FRAGS	   8192	    /* datagrams being fragmented at once  */
#define XM_CT_DEFAULT_MAX  262144   /* flows (each flow = 2 map entries)   */
#define XM_CT_MAX_LIMIT	   16777216 /* the largest `set conntrack-max`     */
#define XM_PORT_PROBES	   32	    /* bounded probes when a port is taken */
#define XM_DEFAULT_PORT_LO 1024	    /* masquerade ports: every unprivileged  */
#define XM_DEFAULT_PORT_HI 65535    /* one (UDP skips the router's ephemeral) */

/* ---- maps: the one list -------------------------------------------------
 * Every map bpf/maps.h defines, as X(ID, name): the name is the map's name
 * in the program and its pin name under the pin directory (default
 * /sys/fs/bpf/xmasq). Userspace opens, pins and removes the maps from this
 * list (enum xm_map_id, xm_map_pin_names); selftests/c/test_maps.c fails
 * when the program and the list differ. config comes first: it tells the
 * layout of the others. */
#define XM_MAP_LIST(X)                    \
	X(CONFIG, config)                 \
	X(IFACES, ifaces)                 \
	X(TX_PORTS, tx_ports)             \
	X(RULES, rules)                   \
	X(RULE_META, rule_meta)           \
	X(RULE_STATS, rule_stats)         \
	X(IFACE_STATS, iface_stats)       \
	X(COUNTERS, counters)             \
	X(FLOWS, flows)                   \
	X(MASQ_RULES, masq_rules)         \
	X(LOCAL_ADDRS, local_addrs)       \
	X(FRAGS, frags)                   \
	X(SWEEPER, sweeper)               \
	X(IFACE_SLOTS, iface_slots)       \
	X(IFACE_INDEX, iface_index)       \
	X(SWEEP_GROUPS, sweep_groups)     \
	X(ADDR_SETS, addr_sets)           \
	X(PORT_EXHAUSTED, port_exhausted) \
	X(NAT_MAPPINGS, nat_mappings)     \
	X(SCRATCH, scratch)               \
	X(ALLOW_LISTS, allow_lists)       \
	X(RULE_REFUSED, rule_refused)     \
	X(SOURCE_FLOWS, source_flows)     \
	X(TIME_WAITS, time_waits)         \
	X(TIME_WAIT_TS, time_wait_ts)     \
	X(PROGS6, progs6)                 \
	X(RULES6, rules6)                 \
	X(RULE_ADDRS6, rule_addrs6)       \
	X(IFACE_ADDRS6, iface_addrs6)     \
	X(FLOWS6, flows6)                 \
	X(SWEEPER6, sweeper6)             \
	X(SWEEP6_GROUPS, sweep6_groups)   \
	X(MASQ_RULES6, masq_rules6)       \
	X(PROGS46, progs46)               \
	X(PROGS6_XDP, progs6_xdp)         \
	X(FRAGS6, frags6)                 \
	X(CENSUS, census)                 \
	X(REFRAG, refrag)                 \
	X(ADDR_SETS6, addr_sets6)         \
	X(PROGS4, progs4)                 \
	X(NAT_MAPPINGS6, nat_mappings6)

#define XM_MAP_ENUM(id, name) XM_MAP_##id,
enum xm_map_id { XM_MAP_LIST(XM_MAP_ENUM) XM_MAP_MAX };
#undef XM_MAP_ENUM

/* ---- pins that are not maps -------------------------------------------- */
#define XM_PIN_DIR_DEFAULT "/sys/fs/bpf/xmasq"
#define XM_PIN_PROG_XDP	   "prog_xdp"
#define XM_PIN_PROG_TC	   "prog_tc"
#define XM_PIN_PROG_CENSUS "prog_census"

/* ---- global configuration: array map "config", one element ------------- */
enum xm_timeout_id {
	XM_TO_TCP_SYN = 0, /* SYN seen, no reply yet        (netfilter: 120) */
	XM_TO_TCP_EST,	   /* established                   (432000 -> 7440) */
	XM_TO_TCP_FIN,	   /* FIN seen one or both ways     (120)            */
	XM_TO_TCP_CLOSE,   /* RST or both FINs acked        (10)             */
	XM_TO_UDP,	   /* UDP, one direction only       (30)             */
	XM_TO_UDP_ASSURED, /* UDP, replies seen             (180)            */
	XM_TO_ICMP,	   /* ICMP echo                     (30)             */
	XM_TO_MAX,
};

/* config.flags */
#define XM_CFG_GEN_DIRTY \
	(1u << 0) /* the inactive rule generation may differ
                                      from the active one (apply interrupted):
                                      the next apply rebuilds it whole */
#define XM_CFG_ADDR_RULES \
	(1u << 1) /* a generation may hold forward rules for
                                       one local address: look those up first
                                       (without any, a new flow makes one rule
                                       lookup instead of two) */

#define XM_CFG_ADDR_SETS \
	(1u << 2) /* some rule has an `as` list: new flows look
	                                       their rule's up (addr_sets) */
/* `set nat-filtering`: which outside hosts may open a flow to a live
 * mapping of a masqueraded host (RFC 4787 section 5). Neither bit:
 * address-and-port-dependent (only the hosts and ports it sent to, which
 * needs no lookup: their flows exist). */
#define XM_CFG_NAT_FILTER_ADDR	      (1u << 3) /* address-dependent */
#define XM_CFG_NAT_FILTER_ANY	      (1u << 4) /* endpoint-independent */
/* `set nat-inbound-refresh no`: a masqueraded UDP flow's timer is refreshed
 * by its outbound packets only (RFC 4787 REQ-6). */
#define XM_CFG_NAT_NO_INBOUND_REFRESH (1u << 5)
/* No IPv6 forward of either generation names a local address: a new IPv6
 * flow looks rules6 up once (any address of its NIC), not twice. The
 * reverse of XM_CFG_ADDR_RULES's sense, so that a config written before
 * the bit (a router attached by an older build) keeps both lookups. */
#define XM_CFG_NO_ADDR_RULES6	      (1u << 6)

/* ---- `as` lists: array map "addr_sets", index = rule_meta.addr_set ------
 * The addresses a rule's flows may leave with. An index holds one list
 * for as long as a live rule uses it: apply writes a new list under an
 * index no live rule uses, before the switch. Index 0 is never used. */
struct xm_addr_set {
	__u32 n; /* 1..XM_ADDR_SET_MAX */
	__be32 addr[XM_ADDR_SET_MAX];
};

/* IPv6 `as` lists: array map "addr_sets6", in the same index space. A
 * rule whose flows leave by IPv6 (XM_RULE_V6 without XM_RULE_TO_V4: a
 * 6->6 forward or an IPv6 masquerade) reads its addr_set here, any other
 * in addr_sets; an index holds one family's list at a time. */
struct xm_addr_set6 {
	__u32 n; /* 1..XM_ADDR_SET_MAX */
	__u32 pad[3];
	__be32 addr[XM_ADDR_SET_MAX][4];
};

struct xm_config {
	__u32 layout_version; /* XM_LAYOUT_VERSION of whoever created the maps */
	__u32 active_gen;     /* rule generation packets use: 0 or 1 */
	__u16 port_lo;	      /* masquerade port range, host order */
	__u16 port_hi;
	__u32 ct_max;		   /* flow limit (pairs); the map holds 2x entries */
	__u32 flags;		   /* XM_CFG_* */
	__u32 timeouts[XM_TO_MAX]; /* seconds */
	__u16 local_port_lo;	   /* the kernel's ephemeral ports (ip_local_port_range): */
	__u16 local_port_hi;	   /* a client port in it is never kept, it could collide
	                          with the router's own connections */
	__u32 flows_per_source;	   /* `set flows-per-source`: 0 = no limit */
	__u64 ct_seed;		   /* flow table: hash seed, random per table */
};

/* ---- managed interfaces: hash map "ifaces", ifindex -> xm_iface --------- */
#define XM_IFACE_XDP_TX_OK    (1u << 0) /* XDP_REDIRECT into it delivers      */
#define XM_IFACE_TC_ATTACHED  (1u << 1) /* tc ingress program present        */
#define XM_IFACE_XDP_ATTACHED (1u << 2)
#define XM_IFACE_XDP_GENERIC  (1u << 3) /* attached in generic (skb) mode    */
#define XM_IFACE_FWD_BY_US \
	(1u << 4)		       /* xmasq turned forwarding on: detach
                                          turns it off again               */
#define XM_IFACE_AUTO_VETH   (1u << 5) /* attach --mode auto chose tc: veth */
#define XM_IFACE_AUTO_NO_XDP (1u << 6) /* ... chose tc: no native XDP      */
/* The NIC was deleted: its entry keeps its slot (and the flows through
 * it) for a NIC of the same name to come back to; iface_index and
 * iface_slots no longer hold it, so no packet path finds it. */
#define XM_IFACE_GONE	     (1u << 7)

struct xm_iface {
	__u32 ifindex;
	__be32 addr; /* primary IPv4 address: masquerade source */
	__u8 mac[6];
	__u8 slot;   /* index into iface_stats */
	__u8 flags;  /* XM_IFACE_* */
	__u16 mtu;   /* the NIC's MTU as last read (0: none checked) */
	__u8 flags6; /* XM_IFACE6_*: what attach changed of the NIC's IPv6 sysctls */
	__u8 _pad;
};

/* A packet of up to this many bytes (IP header on) is checked against
 * xm_iface.mtu, a longer one against the NIC's MTU as it is (bpf/mtu.h):
 * IPv6's minimum MTU, below which only an IPv4-only NIC goes. */
#define XM_MTU_FITS_ALL 1280

/* xm_iface.flags6 (an older build leaves 0: it changed nothing). Attach
 * sets net.ipv6.conf.IFACE.forwarding=1 (bpf_fib_lookup refuses AF_INET6
 * otherwise), and accept_ra 1 -> 2 first so the NIC keeps its default
 * route from router advertisements; detach restores what these say. */
#define XM_IFACE6_FWD_BY_US (1u << 0) /* forwarding was 0: detach sets 0 */
#define XM_IFACE6_RA_BY_US  (1u << 1) /* accept_ra was 1: detach sets 1 */

/* Array map "iface_slots": the same records indexed by xm_iface.slot, so
 * the per-packet path reaches its egress interface with an array lookup
 * (a flow stores the slot); ifindex 0 marks a free slot.
 * Array map "iface_index": the same records indexed by ifindex, for
 * interfaces numbered below XM_IFINDEX_DIRECT (the NICs of a VM are 2, 3,
 * ...): a new flow finds its two interfaces with array lookups instead of
 * two hash lookups. Higher ifindexes use the hash. */
#define XM_IFINDEX_DIRECT 1024

/* ---- forward rules ------------------------------------------------------
 * Hash map "rules": one entry per (generation, ingress, local address,
 * protocol, port). A port range is expanded to one entry per port, so the
 * packet path is a single exact-match lookup whatever the number of rules.
 * Two generations exist so that `apply` can change the inactive one and
 * switch with one write of config.active_gen. Both hold the same rule set
 * between applies, so an apply writes only the difference, twice.
 */
struct xm_rule_key {
	__u32 ifindex; /* ingress interface */
	__be32 daddr;  /* local address matched, 0 = any of the iface's */
	__be16 dport;
	__u8 proto; /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 gen;   /* 0 or 1 */
};

#define XM_RULE_KEEP_SOURCE   (1u << 0) /* DNAT only, no masquerade */
#define XM_RULE_ALLOW_SPECIAL (1u << 1) /* loader-side check was waived */
#define XM_RULE_MASQUERADE    (1u << 2) /* rule_meta: a masquerade rule */
#define XM_RULE_V6 \
	(1u << 3) /* rule_meta: an IPv6 forward; its addresses are in
	             rule_addrs6 (rule_meta.daddr and to_addr are 0) */

struct xm_rule_value {
	__u32 rule_id; /* index into rule_stats / rule_meta */
	__be32 to_addr;
	__be16 to_port;	  /* backend port for exactly this dport */
	__u16 allow_list; /* `from` list: its id in allow_lists, 0 = any source */
	__u32 flags;	  /* XM_RULE_* */
};

/* ---- `from` lists: LPM trie "allow_lists" -------------------------------
 * The sources a forward admits. One trie holds every list: the key is the
 * list id (always matched in full) and a source address, so a new flow's
 * check is one lookup whatever the number of rules and prefixes. Sources
 * are 128 bits: an IPv4 source is stored IPv4-mapped (::ffff:a.b.c.d), so
 * IPv6 prefixes fit later without a new map shape. prefixlen = 32 (list)
 * + 96 + IPv4 prefix length. Identical lists share an id; apply writes a
 * new list under an id no live rule uses, before the rules that name it,
 * and removes an old one after the rules that named it are gone. */
struct xm_allow_key {
	__u32 prefixlen;
	__be32 list;	/* bpf_htonl(list id) */
	__be32 addr[4]; /* IPv6, or IPv4-mapped: 0, 0, htonl(0xffff), IPv4 */
};
#define XM_ALLOW_V4_PLEN(len) (32 + 96 + (len)) /* key prefixlen of an IPv4 /len */

/* rule_meta.flags bits 16-31: the rule's `from` list id (0: none), so that
 * the rule's identity, and so --diff, covers its list. */
#define XM_RULE_META_ALLOW_SHIFT  16
#define XM_RULE_META_ALLOW(flags) ((__u16)((flags) >> XM_RULE_META_ALLOW_SHIFT))

/* ---- masquerade rules: LPM trie "masq_rules" ---------------------------
 * Source prefix -> egress interface. The generation is the first 32 bits
 * of the key, always matched in full (prefixlen = 32 + prefix length). */
struct xm_masq_key {
	__u32 prefixlen;
	__be32 gen; /* bpf_htonl(0 or 1) */
	__be32 saddr;
};
struct xm_masq_value {
	__u32 rule_id;
	__u32 out_ifindex;
};

/* Hash map "local_addrs": address of a managed interface -> its ifindex,
 * so a private host can reach a forwarded public address (hairpin). */

/* Array map "rule_meta", indexed by rule_id: the rule as written, so that
 * userspace (CLI, xmasqd, bpftool users) can list and diff the live set.
 * The data plane never reads it. */
#define XM_IFNAMSIZ 16
struct xm_rule_meta {
	__u32 in_use; /* 0 = free slot */
	__u32 ifindex;
	char ifname[XM_IFNAMSIZ];
	__be32 daddr; /* 0 = any */
	__be32 to_addr;
	__u16 from_port_lo, from_port_hi;
	__u16 to_port_lo, to_port_hi;
	__u8 proto;
	__u8 prefix_len; /* masquerade rules: daddr holds the prefix */
	__u16 addr_set;	 /* `as` list: index into addr_sets, 0 = none */
	__u32 flags;	 /* XM_RULE_* */
	__u32 line;	 /* line in the rules file it came from */
};

/* Per-CPU array "rule_refused", indexed by rule_id: new flows its `from`
 * list refused (__u64). Apart from rule_stats, whose shape stays. */

/* Per-CPU array "rule_stats", indexed by rule_id. */
enum xm_dir { XM_DIR_ORIG = 0, XM_DIR_REPLY = 1, XM_DIR_MAX = 2 };
struct xm_rule_stats {
	__u64 packets[XM_DIR_MAX];
	__u64 bytes[XM_DIR_MAX];
	__u64 flows; /* flows created */
};

/* Per-CPU array "iface_stats", indexed by xm_iface.slot. */
struct xm_iface_stats {
	__u64 rx_packets; /* seen by the program on this interface */
	__u64 rx_bytes;
	__u64 tx_packets; /* translated and sent out of this interface */
	__u64 tx_bytes;
	__u64 tx_xdp; /* ... of which by XDP redirect */
	__u64 tx_tc;  /* ... of which by tc redirect */
};

/* ---- global counters: per-CPU array "counters", indexed by xm_counter_id
 * One X-macro is the only list of counters: ids, names and help text.
 * New counters go at the end: an id keeps its meaning across builds, so
 * attach carries a pinned map's counts over to a newer build's. The map
 * has XM_COUNTER_SLOTS entries, room for counters to come without a new
 * map shape. Every packet a program sees counts in rx and in exactly one
 * outcome counter, named pass_*, drop_*, fwd_* or frag_needed_sent (the
 * others are notes about a packet counted there, or not about packets):
 * selftests/fuzz/fuzz_dataplane checks it by these names. */
#define XM_COUNTER_LIST(X)                                                                        \
	X(RX, "rx", "packets seen")                                                               \
	X(PASS_NOT_IPV4, "pass_not_ipv4", "passed: neither IPv4 nor IPv6 (ARP, ...)")             \
	X(PASS_NOT_OURS, "pass_not_ours", "passed: no rule or flow matches")                      \
	X(PASS_FRAGMENT, "pass_fragment", "passed: fragment of no flow of ours")                  \
	X(PASS_TO_TC, "pass_to_tc", "XDP handed to tc: egress cannot take XDP frames")            \
	X(PASS_NO_NEIGH, "pass_no_neigh", "XDP handed to tc: next-hop MAC unknown")               \
	X(PASS_CSUM_PARTIAL, "pass_csum_partial",                                                 \
	  "XDP handed to tc: L4 checksum not yet computed (sent by a local veth with checksum "   \
	  "offload)")                                                                             \
	X(PASS_MALFORMED, "pass_malformed",                                                       \
	  "passed untouched: truncated or bad IPv4/TCP/UDP header")                               \
	X(PASS_TOO_BIG, "pass_too_big",                                                           \
	  "XDP handed to tc: too big for the egress MTU (tc answers frag-needed, or splits it)")  \
	X(PASS_TTL, "pass_ttl", "passed untouched: TTL expires here (the kernel answers it)")     \
	X(PASS_EGRESS_UNMANAGED, "pass_egress_unmanaged",                                         \
	  "passed: route leaves by an interface xmasq does not manage")                           \
	X(FLOW_NEW, "flow_new", "flows created")                                                  \
	X(FLOW_RACE, "flow_race", "flow created by another CPU first")                            \
	X(FWD_XDP, "fwd_xdp", "translated and redirected at XDP")                                 \
	X(FWD_TC, "fwd_tc", "translated and redirected at tc")                                    \
	X(FRAG_NEEDED_SENT, "frag_needed_sent",                                                   \
	  "too big for the egress MTU (DF): ICMP frag-needed, IPv6 Packet Too Big, sent back")    \
	X(ICMP_ERROR, "icmp_error", "ICMP errors about a flow translated (RFC 5508)")             \
	X(FRAG_LATER, "frag_later", "later fragments translated like their first")                \
	X(DROP_FRAG_UNKNOWN, "drop_frag_unknown",                                                 \
	  "dropped: later fragment of a masqueraded flow whose first fragment was not seen")      \
	X(DROP_NO_ROUTE, "drop_no_route", "dropped: no route to the backend")                     \
	X(DROP_CT_FULL, "drop_ct_full", "dropped: new flow, conntrack table full")                \
	X(DROP_NO_PORT, "drop_no_port", "dropped: new flow, no free masquerade port")             \
	X(FLOW_EXPIRED, "flow_expired", "flows removed after their idle timeout")                 \
	X(DROP_TOO_BIG, "drop_too_big",                                                           \
	  "dropped: too big for the egress MTU without DF, and not to be sent in two fragments "  \
	  "(more than two's worth, GSO, IP options, an unfinished checksum)")                     \
	X(DROP_REDIRECT, "drop_redirect", "dropped: redirect failed")                             \
	X(DROP_TC_REWRITE, "drop_tc_rewrite", "dropped: tc could not rewrite the packet")         \
	X(FLOW_PORT_REUSED, "flow_port_reused",                                                   \
	  "new flows on the port of a closed TCP flow (RST, or FINs both ways and the last ACK)") \
	X(PASS_ROUTER_PORT, "pass_router_port",                                                   \
	  "passed: SYN-ACK for the router's own connection on a port a closed flow held")         \
	X(DROP_STALE_SEGMENT, "drop_stale_segment",                                               \
	  "dropped: FIN or data from the backend before its SYN-ACK (an older connection's)")     \
	X(FLOW_NAT_INBOUND, "flow_nat_inbound",                                                   \
	  "flows an outside host opened to a masqueraded host's mapping (nat-filtering)")         \
	X(FLOW_HAIRPIN, "flow_hairpin",                                                           \
	  "flows from a masqueraded host to a mapped public address:port (hairpin)")              \
	X(NAT_MAPPING_NEW, "nat_mapping_new",                                                     \
	  "mappings made: a masqueraded host's address:port got its public port")                 \
	X(NAT_MAPPING_SPLIT, "nat_mapping_split",                                                 \
	  "new flows that could not use their host's mapping (tuple taken) and left with "        \
	  "another port")                                                                         \
	X(PASS_NAT_FILTERED, "pass_nat_filtered",                                                 \
	  "passed: new packet from outside to a mapping that nat-filtering does not admit")       \
	X(NIC_ADDRESS, "nic_address",                                                             \
	  "NIC events (not packets): a managed NIC's primary IPv4 address changed, maps updated") \
	X(NIC_MAC, "nic_mac", "NIC events: a managed NIC's MAC address changed, maps updated")    \
	X(NIC_MTU, "nic_mtu", "NIC events: a managed NIC's MTU changed, maps updated")            \
	X(NIC_DOWN, "nic_down", "NIC events: a managed NIC's link went down")                     \
	X(NIC_UP, "nic_up", "NIC events: a managed NIC's link came up")                           \
	X(NIC_GONE, "nic_gone", "NIC events: a managed NIC was deleted")                          \
	X(NIC_BACK, "nic_back",                                                                   \
	  "NIC events: a deleted NIC came back under its name and was attached again")            \
	X(NIC_RESYNC, "nic_resync",                                                               \
	  "NIC events: netlink overran (ENOBUFS): every managed NIC read afresh")                 \
	X(DROP_NOT_ALLOWED, "drop_not_allowed",                                                   \
	  "dropped: new flow to a forward whose `from` list does not hold its source")            \
	X(DROP_SOURCE_QUOTA, "drop_source_quota",                                                 \
	  "dropped: new flow from a source that holds flows-per-source flows already")            \
	X(DROP_TCP_RST_OUT_OF_WINDOW, "drop_tcp_rst_out_of_window",                               \
	  "dropped: TCP RST whose sequence number is outside the receiver's window")              \
	X(TCP_RST_IN_WINDOW_INEXACT, "tcp_rst_in_window_inexact",                                 \
	  "passed, state kept: TCP RST in the receiver's window but not exact (RFC 5961: the "    \
	  "endpoint answers with a challenge ACK)")                                               \
	X(DROP_TCP_FIN_OUT_OF_WINDOW, "drop_tcp_fin_out_of_window",                               \
	  "dropped: TCP FIN whose sequence number is outside the receiver's window")              \
	X(TCP_SYN_ON_ESTABLISHED, "tcp_syn_on_established",                                       \
	  "passed, state kept: TCP SYN on an established flow (the endpoint answers it)")         \
	X(FLOW_PORT_TIME_WAIT, "flow_port_time_wait",                                             \
	  "ports a new TCP flow passed over: its peer may still hold the tuple in TIME_WAIT "     \
	  "for another client")                                                                   \
	X(FLOW_TS_SHIFTED, "flow_ts_shifted",                                                     \
	  "new TCP flows on a tuple their peer may hold in TIME_WAIT for another client: their "  \
	  "timestamps shifted past the old connection's")                                         \
	X(RX_IPV6, "rx_ipv6", "IPv6 packets seen (of rx)")                                        \
	X(PASS_IPV6_TO_TC, "pass_ipv6_to_tc", "XDP handed to tc: IPv6 (tc translates it)")        \
	X(PASS_IPV6_EXT, "pass_ipv6_ext",                                                         \
	  "passed untouched: IPv6 with extension headers (not walked yet)")                       \
	X(DROP_NO_IPV6_ADDR, "drop_no_ipv6_addr",                                                 \
	  "dropped: new IPv6 flow, the egress NIC has no global IPv6 address to leave with")      \
	X(FLOW_NEW_IPV6, "flow_new_ipv6", "flows created for IPv6 clients (of flow_new)")         \
	X(FLOW_NEW_6TO4, "flow_new_6to4",                                                         \
	  "flows created for IPv6 clients of IPv4 backends (of flow_new_ipv6)")                   \
	X(PASS_6TO4_TO_TC, "pass_6to4_to_tc",                                                     \
	  "XDP handed to tc: an IPv4 reply to an IPv6 client (tc translates it to IPv6)")         \
	X(DROP_6TO4_UNTRANSLATABLE, "drop_6to4_untranslatable",                                   \
	  "dropped: a 6->4 flow's packet that has no form in the other family here (an IPv4 "     \
	  "source route with addresses left or options that do not parse, extension headers "     \
	  "after a fragment header, an ICMP message RFC 7915 drops)")                             \
	X(FRAG_SPLIT_6TO4, "frag_split_6to4",                                                     \
	  "IPv4 packets of 6->4 flows without DF, too big for the client's side as IPv6, sent "   \
	  "to it in two IPv6 fragments")                                                          \
	X(FRAG_SPLIT, "frag_split",                                                               \
	  "IPv4 packets without DF too big for the egress MTU, sent in two fragments (as the "    \
	  "kernel's forward path fragments them)")

enum xm_counter_id {
#define XM_COUNTER_ENUM(id, name, help) XM_C_##id,
	XM_COUNTER_LIST(XM_COUNTER_ENUM)
#undef XM_COUNTER_ENUM
		XM_C_MAX
};

#define XM_COUNTER_SLOTS 64
_Static_assert(XM_C_MAX <= XM_COUNTER_SLOTS, "more counters than the counters map holds");

struct xm_counter {
	__u64 packets;
	__u64 bytes;
};

/* ---- conntrack: array map "flows", our own open-addressing table ------
 * Every flow is two entries installed together: the original direction
 * (client -> public address:port as received) and the reply direction
 * (backend -> masquerade address:port). Each entry says how to rewrite a
 * packet matching its key and where to send it. For ICMP echo the id is
 * stored in both sport and dport.
 *
 * An entry is one 64-byte slot (one cache line): its key and what to do.
 * A key's home slot comes from xm_ct_home() over the table's "homes": all
 * slots but the last XM_CT_PROBES - 1, so no probe wraps. It lives there
 * or in one of the next XM_CT_PROBES - 1 slots (linear probing), and a
 * lookup stops at the first empty slot (at conntrack-max, 1.7 slots on
 * average). Why not the kernel's hash map: a lookup there is
 * three calls and two to three cache lines (bucket, 128-byte element), an
 * insert takes a bucket lock and a free-list pop, and each entry costs
 * 144 bytes; here a lookup is inline code and usually one line, and the
 * table holds 3.5 slots a flow: 224 bytes (make bench measures all this).
 *
 * A slot's state is the byte `ct_state` of its key, so the 8-byte word
 * holding ports, protocol and state is claimed, published and removed
 * with one atomic operation each (bpf/ct.h). Lookup keys have it 0.
 */
struct xm_flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 ct_state; /* in the table: XM_CT_*; in a lookup key: 0 */
	__u8 _pad[2];
} __attribute__((aligned(8))); /* read as two 8-byte words (BPF stack
                                  accesses must be aligned) */

enum xm_ct_state {
	XM_CT_EMPTY = 0, /* never used since the last clean-up: ends a probe */
	XM_CT_LIVE = 1,
	XM_CT_WRITING = 2, /* claimed, being filled in: not matched yet */
	XM_CT_DEAD = 3,	   /* removed: probes go on past it, inserts reuse it */
};

#define XM_CT_PROBES 64 /* slots a key may be from its home, at most */
#define XM_CT_SLOTS_PER_FLOW_X2 \
	7 /* 3.5 slots a flow: at conntrack-max the
                                     table is 4/7 full (2 entries a flow) */
/* Slots of the table for conntrack-max `flows`. */
#define XM_CT_SLOTS(flows)    ((flows) / 2 * XM_CT_SLOTS_PER_FLOW_X2 + XM_CT_PROBES - 1)
/* ... and back: the conntrack-max a table of `slots` slots is for. */
#define XM_CT_FLOWS_OF(slots) (((slots) - (XM_CT_PROBES - 1)) / XM_CT_SLOTS_PER_FLOW_X2 * 2)

#define XM_FLOW_REPLY	     (1u << 0) /* this entry is the reply direction */
#define XM_FLOW_L2_VALID     (1u << 1) /* out_dmac is known */
#define XM_FLOW_KEEP_SOURCE  (1u << 2)
#define XM_FLOW_CSUM_CHECKED (1u << 3) /* XDP has classified this direction's */
#define XM_FLOW_CSUM_PARTIAL \
	(1u << 4)		   /* ... L4 checksums as unfinished:
                                          all its packets go by tc, in order */
#define XM_FLOW_FIN_SENT (1u << 5) /* TCP: this direction has sent a FIN */
#define XM_FLOW_FIN_BOTH (1u << 6) /* TCP: both directions have */
#define XM_FLOW_NAT_MAPPED \
	(1u << 7) /* ORIG entry of a masqueraded flow that
	                                      uses its host's mapping (nat_mappings):
	                                      the sweeper keeps the mapping alive */

enum xm_tcp_state {
	XM_ST_NONE = 0, /* UDP/ICMP: no replies yet */
	XM_ST_SYN_SENT,
	XM_ST_ESTABLISHED,
	XM_ST_FIN,
	XM_ST_CLOSE,
	XM_ST_ASSURED, /* UDP/ICMP: replies seen */
};

/* How long a flow in `state` may stay idle: config.timeouts[this]. The
 * data plane's sweep and the loader's `conntrack list` both use it. */
static inline __u32 xm_timeout_id(__u8 proto, __u8 state)
{
	if (proto == 6 /* TCP */)
		return state == XM_ST_ESTABLISHED ? XM_TO_TCP_EST :
		       state == XM_ST_FIN	  ? XM_TO_TCP_FIN :
		       state == XM_ST_CLOSE	  ? XM_TO_TCP_CLOSE :
						    XM_TO_TCP_SYN;
	if (proto == 17 /* UDP */)
		return state == XM_ST_ASSURED ? XM_TO_UDP_ASSURED : XM_TO_UDP;
	return XM_TO_ICMP;
}

/* 48 bytes, so that key and value share one cache line. The egress is the
 * interface in slot out_slot (iface_slots): its ifindex and its MAC as the
 * source; a slot is not given to another interface while flows use it
 * (detach removes them). */
struct xm_flow {
	__be32 new_saddr; /* rewrite: source address and port */
	__be32 new_daddr; /* rewrite: destination address and port */
	__be16 new_sport;
	__be16 new_dport;
	__u8 out_dmac[6]; /* next hop (reply: the neighbour it came from) */
	__u16 out_vlan;	  /* 802.1Q TCI to send with, 0 = untagged */
	__u8 flags;	  /* XM_FLOW_* */
	__u8 state;	  /* xm_tcp_state, the same in both entries */
	__u8 in_slot;	  /* iface_slots / iface_stats slots */
	__u8 out_slot;
	__u32 rule_id;
	__u32 last_seen_s; /* CLOCK_MONOTONIC seconds */
	__u32 packets;	   /* wraps at 2^32 */
	/* TCP, what this direction (the sender of this entry's packets) has
	 * shown of its receive window (bpf/track.h): tcp_ack, the last ACK it
	 * sent (where it expects its peer's data next); tcp_win, its largest
	 * advertised window, XM_TCP_WIN_*. Both 0: nothing seen yet. */
	__u32 tcp_ack;
	__u32 bytes_lo; /* bytes: 47 bits, bytes_hi:bytes_lo (xm_flow_bytes) */
	__u16 bytes_hi; /* and XM_FLOW_HI_TS_SHIFT */
	__u16 tcp_win;
};

/* xm_flow.bytes_hi: its top bit marks a flow whose TCP timestamps are
 * shifted (bpf/ts_shift.h; the flags byte is full), the rest counts.
 * Such an entry holds the shift's delta in `packets` (added to TSval in
 * the client's direction, taken off TSecr in the reply's) and counts no
 * packets: the delta lives and goes with the flow, and the fast path
 * reads it from the cache line it has in hand. */
#define XM_FLOW_BYTES_HI_MASK 0x7fffu
#define XM_FLOW_HI_TS_SHIFT   0x8000u

_Static_assert(sizeof(struct xm_flow) == 48, "a flow entry and its key share one cache line");

/* xm_flow.tcp_win: the low 12 bits the largest raw (unscaled) window
 * seen, in units of 32 bytes rounded up, plus 1 (0: none seen yet); the
 * top 4 bits the window scale (RFC 7323) plus 1, known once the SYN and
 * the SYN-ACK were seen (0: not known, taken as the largest, 14). */
#define XM_TCP_WIN_UNIT_SHIFT  5
#define XM_TCP_WIN_MASK	       0x0fffu
#define XM_TCP_WIN_SCALE_SHIFT 12
#define XM_TCP_WSCALE_MAX      14

/* A flow entry's byte count. */
static inline __u64 xm_flow_bytes(const struct xm_flow *f)
{
	return (__u64)(f->bytes_hi & XM_FLOW_BYTES_HI_MASK) << 32 | f->bytes_lo;
}

struct xm_ct_slot {
	struct xm_flow_key key;
	struct xm_flow flow;
};

/* ---- the flow census: program xmasq_census, array map "census" --------
 * Readers of every flow (status, /metrics: the flows, their sources, the
 * ports in use) ask the kernel to walk the table for them: a fresh
 * mapping of the table costs a first touch of each 4 kB page (on some
 * VMs 1.7 us each: 25 ms for the default 56 MiB, against 3.5 ms for the
 * kernel's walk). The program (BPF_PROG_TYPE_SYSCALL, pinned as
 * prog_census, run by BPF_PROG_TEST_RUN with a struct xm_census_run)
 * copies each flow's entry that readers look at (a live ORIG entry, or a
 * 6->4 flow's stub) into census entries 1 on, and counts them; the reader
 * maps what was written (mmapable). Entry 0 is struct xm_census_head,
 * the owner: a run takes it unless another reader took it less than
 * XM_CENSUS_HOLD_S ago (then XM_CENSUS_BUSY), and the reader gives it
 * back once it has read the entries (the token still its own: nothing
 * was written over them). More entries than XM_CENSUS_MAX: the reader
 * maps the table itself. */
#define XM_CENSUS_MAX	 65536
#define XM_CENSUS_HOLD_S 2
#define XM_CENSUS_BUSY	 1
#define XM_CENSUS_FULL	 2

struct xm_census_run {
	__u32 token;   /* in: the reader's, not 0 */
	__u32 result;  /* out: 0, XM_CENSUS_BUSY or XM_CENSUS_FULL */
	__u32 entries; /* out: entries written (at 1 on) */
	__u32 _pad;
};

struct xm_census_head {
	__u32 owner;   /* a reader's token; 0: free */
	__u32 since_s; /* when it took it (CLOCK_MONOTONIC s) */
	__u8 _pad[56];
};

_Static_assert(sizeof(struct xm_census_head) == sizeof(struct xm_ct_slot), "the census' head is "
									   "entry 0");

/* Where a key lives: shared by the data plane and the loader, which must
 * agree bit for bit. A multiply-xorshift mix of the key's two words with a
 * per-table random seed (clients choose their ports: a fixed hash would let
 * them pile flows onto one home), then a multiply-shift into [0, homes),
 * which uses the top bits: the mix ends with a multiply and takes the high
 * half. Simulated on make bench's keys at conntrack-max (4/7 full), it
 * spreads them as well as random homes do, and no chain needs more than
 * XM_CT_PROBES slots; a weaker two-multiply mix refused 1 key in 6,000
 * (32 probes then). */
static inline __u32 xm_ct_hash(__u64 w0, __u64 w1, __u64 seed)
{
	__u64 h = (w0 ^ seed) * 0x9e3779b97f4a7c15ull;

	h ^= h >> 32;
	h ^= w1;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	h *= 0x94d049bb133111ebull;
	return (__u32)(h >> 32);
}

/* The key of the other direction's entry: the reverse of the tuple this
 * entry rewrites packets to. Both sides need it to pair a flow's entries. */
static inline void xm_flow_partner_key(const struct xm_flow *f, __u8 proto, struct xm_flow_key *pk)
{
	*pk = (struct xm_flow_key){
		.saddr = f->new_daddr,
		.daddr = f->new_saddr,
		.sport = f->new_dport,
		.dport = f->new_sport,
		.proto = proto,
	};
}

/* The key's two words, and the second word of the key with state `st`. */
union xm_ct_words {
	struct xm_flow_key key;
	__u64 w[2];
};

static inline __u64 xm_ct_state_word(__u64 w1, __u8 st)
{
	union xm_ct_words u = { .w = { 0, w1 } };

	u.key.ct_state = st;
	return u.w[1];
}

static inline __u32 xm_ct_home(__u64 w0, __u64 w1, __u64 seed, __u32 homes)
{
	return (__u32)(((__u64)xm_ct_hash(w0, w1, seed) * homes) >> 32);
}

/* ---- expiry: array map "sweeper", one element --------------------------
 * A timer that ticks every second (the packets' clock) and walks the flow
 * table now and then, removing idle flows (bpf/sweep.h). */
struct xm_sweep {
	struct bpf_timer timer;
	__u32 epoch;		/* the program generation running it */
	__u32 seen;		/* entries the last walk visited */
	__u32 runs;		/* walks */
	__u32 ticks_to_walk;	/* clock ticks (1 s) left before the next walk */
	__u64 expired;		/* flows removed */
	__u32 now;		/* CLOCK_MONOTONIC s, set every second: the clock
	                          packets stamp flows with (one load instead of
	                          a helper call per packet) and walks use */
	__u32 last_walk_ns;	/* how long the last walk took */
	__u32 expired_at_start; /* `expired` (low 32 bits) when this run began */
	__u32 refused;		/* new flows refused, table full, since the last walk */
	__u32 next_group;	/* where the walk goes on (0: between walks) */
	__u32 walk_ns;		/* the walk's time so far, over its runs */
};

/* Array map "sweep_groups": one element per XM_SWEEP_GROUP slots of the
 * flow table, the sweep's iteration space (a callback per group, not per
 * slot). The elements hold nothing. */
#define XM_SWEEP_GROUP 64

/* ---- fragments: LRU hash "frags" ----------------------------------------
 * The first fragment of a translated datagram records its flow, so later
 * fragments (which carry no ports) are translated the same way. */
struct xm_frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 ip_id;
	__u8 proto;
	__u8 _pad;
};
struct xm_frag_value {
	struct xm_flow_key flow; /* the flow entry the first fragment used */
	__u32 created_s;
};

/* ---- masquerade port exhaustion: LRU hash "port_exhausted" ---------------
 * One entry per peer a new flow found no free masquerade port for (counter
 * drop_no_port), so that status can say which backend ran out. A peer is
 * what a flow's reply key shares with every other flow that competes for
 * the same ports: protocol, peer address and port (the backend, or the
 * destination of a masqueraded host; 0 for ICMP echo, whose ids are shared
 * by the whole address) and the masquerade address. LRU: peers quiet for
 * long give way to new ones. */
#define XM_MAX_PORT_EXHAUSTED 1024

struct xm_port_peer {
	__be32 peer; /* backend or destination address */
	__be32 addr; /* masquerade address */
	__be16 peer_port;
	__u8 proto;
	__u8 _pad;
};

struct xm_port_exhausted {
	__u64 drops;  /* new flows refused for want of a port */
	__u32 last_s; /* CLOCK_MONOTONIC_COARSE seconds of the last one */
	__u32 _pad;
};

/* ---- NAT mappings: LRU hash "nat_mappings" ------------------------------
 * Endpoint-independent mapping (RFC 4787 REQ-1, RFC 5382 REQ-1): while a
 * masqueraded host's address:port has flows, all of them leave with one
 * public address:port. Three kinds of entry:
 *   INT  (host address, public address, host port) -> public port
 *   EXT  (public address, 0, public port)          -> host address and port
 *   PEER (public address, remote address, public port) -> - : the mapping
 *        has sent to that address (address-dependent filtering only)
 * A flow carries its whole translation, so the mappings only steer new
 * flows: which port, and who may come in. They live while a flow uses
 * them: new flows and the sweeper (for every XM_FLOW_NAT_MAPPED flow on
 * each walk, at most XM_SWEEP_MAX_NS apart) stamp them, and one not
 * stamped for XM_NAT_LEASE_S is free. The sweeper removes a mapping at
 * once when it expires the last flow that counted in its refs; flows
 * removed otherwise (a closed flow's port taken over, a flush, a NIC
 * gone) leave it to the lease. LRU: a full map evicts the longest
 * unstamped first; a mapping lost that way costs only its independence. */
enum xm_nat_kind {
	XM_NAT_INT = 1,
	XM_NAT_EXT = 2,
	XM_NAT_PEER = 3,
};
#define XM_NAT_LEASE_S 30

struct xm_nat_key {
	__be32 addr;
	__be32 peer;
	__be16 port;
	__u8 proto;
	__u8 kind; /* xm_nat_kind */
};

struct xm_nat_value {
	__be32 addr; /* EXT: host address */
	__be16 port; /* INT: public port; EXT: host port */
	__u16 _pad;
	__u32 last_s; /* stamp: clock seconds */
	__u32 refs;   /* EXT: the host's flows that use it and expire by the sweeper */
};

/* ---- NAT66 mappings: LRU hash "nat_mappings6" ---------------------------
 * nat_mappings' three kinds for masqueraded IPv6 hosts (IPv6 masquerade),
 * with IPv6 addresses: INT (host address, public address, host port) ->
 * public port; EXT (public address, ::, public port) -> host address and
 * port; PEER (public address, remote address, public port). The same
 * lease (XM_NAT_LEASE_S), stamps, refs and LRU; sized with flows6. */
struct xm_nat6_key {
	__be32 addr[4];
	__be32 peer[4];
	__be16 port;
	__u8 proto;
	__u8 kind; /* xm_nat_kind */
};

struct xm_nat6_value {
	__be32 addr[4]; /* EXT: host address */
	__be16 port;	/* INT: public port; EXT: host port */
	__u16 _pad;
	__u32 last_s; /* stamp: clock seconds */
	__u32 refs;   /* EXT: the host's flows that use it and expire by the sweeper */
};

_Static_assert(sizeof(struct xm_nat6_key) == 36, "nat_mappings6 key layout");
_Static_assert(sizeof(struct xm_nat6_value) == 28, "nat_mappings6 value layout");

/* ---- flows per source: array map "source_flows" (mmapable) ------------
 * How many flows each source (the ORIG direction's source address) holds,
 * for `set flows-per-source`, as a count-min sketch: XM_SOURCE_ROWS rows
 * of XM_SOURCE_BUCKETS signed 64-bit counters, a source counting in one bucket
 * of each row (keyed by the table's random seed: a client cannot aim at
 * another's buckets). A flow adds 1 to its source's buckets when it is
 * made and takes 1 when it is removed, whoever removes it (the sweeper, a
 * port takeover, conntrack flush, a NIC gone, detach); every flow counts,
 * quota or not, so the counts are right when a quota is set. A source
 * is refused when its smallest bucket is at the quota. No entry is ever
 * made, so no number of sources fills anything up or evicts a count: a
 * bucket holds at least its sources' flows, never fewer. An innocent
 * source is refused only when both its buckets are full of others' flows:
 * the flows of a row add up to at most conntrack-max, so at most
 * conntrack-max / quota buckets of a row are full (16 of 65536 at the
 * defaults): a chance of (16 / 65536)^2 = 6e-8 a source. IPv6 sources will
 * hash into the same counters. */
#define XM_SOURCE_ROWS		  2
#define XM_SOURCE_BUCKETS	  65536
#define XM_SOURCE_SLOTS		  (XM_SOURCE_ROWS * XM_SOURCE_BUCKETS)
/* The default quota: a 16th of conntrack-max (16384 of 262144), so that
 * 16 hosts at least share a full table and one host never holds more than
 * 6 %. */
#define XM_FLOWS_PER_SOURCE_SHARE 16

static inline __u32 xm_source_slot(__u32 saddr, __u64 seed, __u32 row)
{
	__u64 h = ((__u64)saddr ^ seed ^ ((__u64)(row + 1) << 32)) * 0x9e3779b97f4a7c15ull;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return row * XM_SOURCE_BUCKETS + (__u32)(h >> 48);
}

/* The per-source count of an IPv6 client (source_flows): its /64, the
 * block one host or one site gets (RFC 6177), folded to 32 bits (raw
 * words, as they are in the packet). The data plane and the loader, which
 * takes a removed flow's count off, must agree. */
static inline __u32 xm_source6_id(const __be32 *saddr)
{
	return saddr[0] ^ saddr[1] ^ 0x36000000u;
}

/* ---- array map "time_waits": tuples a peer may hold in TIME_WAIT --------
 * A TCP endpoint that closes first keeps the connection's tuple in
 * TIME_WAIT (Linux: 60 s) and takes a new SYN on it only if the SYN's
 * timestamp (or sequence number) is higher (RFC 6191). A client's
 * timestamps go on only within one of its own tuples (Linux 6.18 offsets
 * them by a hash of the 4-tuple; older kernels by the address pair), so
 * through the router a public port's next connection is safe only from
 * the client address and port that left the TIME_WAIT; from another, the
 * peer refuses the SYN about half the time (PAWS), and the client waits
 * for it to be resent, or fails. When a flow's reply side (the backend of
 * a forward, the server a masqueraded host talked to) sends the last ACK
 * of a close, it closed first: the flow's reply key is noted here with
 * its client's address and port and when the TIME_WAIT ends. The port
 * search passes over a key noted for another client in its first half
 * (free ports first), so a free one goes to a client whose SYN the peer
 * takes, and a busy port space still gets every port. An array indexed by
 * a hash of the key: a collision only overwrites an older note, and a
 * note only steers a choice, so nothing is ever full or wrong. */
#define XM_TIME_WAIT_SLOTS (1u << 19) /* 6 MiB */
#define XM_TIME_WAIT_S	   60	      /* Linux's TCP_TIMEWAIT_LEN */

struct xm_time_wait {
	__u32 until_s;	    /* clock seconds; 0: nothing noted */
	__be32 client;	    /* the closed flow's client (its ORIG source) */
	__be16 client_port; /* ... and its port */
	__u16 flags;	    /* XM_TIME_WAIT_* */
};

/* The last ACK carried timestamps: the TSecr, the last TSval the peer
 * took from the old connection, is in the same slot of array map
 * "time_wait_ts" (__u32; a map of its own, added within layout 2). */
#define XM_TIME_WAIT_HAS_TS 1

/* The note's slot for a reply key's words (xm_flow_key: saddr, daddr |
 * sport, dport, proto; the slot state byte left out). */
static inline __u32 xm_time_wait_slot(__u64 w0, __u64 w1)
{
	__u64 h = (w0 ^ ((w1 & 0xffffffffffull) << 13)) * 0x9e3779b97f4a7c15ull;

	h ^= h >> 32;
	h *= 0xbf58476d1ce4e5b9ull;
	return (__u32)(h >> 45) & (XM_TIME_WAIT_SLOTS - 1);
}

/* ---- per-CPU array "scratch", one element ----------------------------
 * Room the new-flow path needs where its stack has none: the deepest call
 * chain fills 6.1's 512 bytes (bpf/ports.h). A program run is not
 * preempted by another on its CPU, so one element a CPU serves all. */
/* A 6->4 flow being made (bpf/v64_xlat.h), between the steps whose
 * frames would not hold it together on 6.1's stack. */
struct xm64_plan {
	__be32 backend;
	__be32 router; /* the egress NIC's IPv4 address */
	__u32 rule_id;
	__be16 to_port;
	__u8 in_slot;
	__u8 out_slot;
	__u8 dmac[6]; /* the backend's next hop, if l2_valid */
	__u8 l2_valid;
	__u8 _pad;
};

/* struct xm_scratch: below, after struct xm_flow6. */

/* ---- per-CPU array "refrag", one element -------------------------------
 * The second half of a 6->4 reply that xmasq sends to its IPv6 client in
 * two fragments (bpf/v64_xlat.h's xm46_split), kept while the first half
 * goes: a program cannot make a second packet, only send a copy of the
 * one it has (bpf_clone_redirect) and then change that one. */
#define XM_REFRAG_MAX 4096 /* bytes of the second fragment's data, at most */
struct xm_refrag {
	__u8 data[XM_REFRAG_MAX];
};

/* ---- IPv6 -----------------------------------------------------------------
 * Forwards whose clients and backend are IPv6 (6->6), TCP and UDP. Their
 * path is tc's: the tc program hands every IPv6 packet to program
 * xmasq_tc6 (bpf/v6_*.h) through prog array "progs6" (index 0), so the IPv4
 * programs' verification stays as it was; XDP hands IPv6 packets to tc
 * (pass_ipv6_to_tc). Maps added within layout 2. A rule's generation,
 * rule_id, rule_stats, `from` list (allow_lists holds 128-bit sources) and
 * the counters are shared with IPv4. */
#define XM_PROGS6_TC	  0 /* progs6 index of xmasq_tc6 */
/* XDP's IPv6 fast path: xmasq_xdp hands IPv6 frames to xmasq_xdp6
 * through prog array "progs6_xdp" (index XM_PROGS6_XDP), which forwards a
 * known flow's packets itself (6->6, and 6->4 translated to IPv4) and
 * hands the rest to tc as before; and the IPv4 replies of 6->4 flows to
 * xmasq_xdp46 (index XM_PROGS46_XDP), which translates them to IPv6. */
#define XM_PROGS6_XDP	  0
#define XM_PROGS46_XDP	  1
/* xmasq_xdp6 hands a packet of no flow to xmasq_xdp6_new (index
 * XM_PROGS6_NEW_XDP), which makes its flow as tc would and sends it. */
#define XM_PROGS6_NEW_XDP 2

/*
 * IPv6 clients of IPv4 backends (6->4, RFC 7915 header translation with
 * RFC 6146's state): a rules6 entry with XM_RULE_TO_V4, its backend in
 * to_addr as ::ffff:a.b.c.d (rule_addrs6 too). Such a flow's two entries
 * are in flows6 with XM_FLOW6_TO_V4: the original under the client's IPv6
 * tuple, rewritten to IPv4 addresses held as ::ffff:a.b.c.d; the reply
 * under the IPv4 reply tuple, addresses as ::ffff:a.b.c.d. The IPv4 table
 * "flows" holds a stub under the same reply tuple: it claims the
 * masquerade port among IPv4 flows (one allocator for both) and tells
 * the IPv4 programs that a reply is an IPv6 client's. A stub has
 * out_slot = in_slot = XM_SLOT_IPV6_FLOW, flags XM_FLOW_REPLY, state
 * XM_ST_NONE, the rule's rule_id, and nothing else: the IPv4 sweeper
 * leaves it, the IPv6 sweeper removes it with its flow. XDP hands such a
 * reply to tc (pass_6to4_to_tc); the tc program hands it to xmasq_tc46
 * through prog array "progs46" (index XM_PROGS46_TC), which translates it
 * to IPv6.
 */
#define XM_RULE_TO_V4	      (1u << 4) /* rules6 / rule_meta: an IPv6 forward to an IPv4 backend */
#define XM_FLOW6_TO_V4	      (1u << 3) /* flows6: an entry of a 6->4 flow */
/* flows6: XDP has classified this direction's L4 checksums (on its first
 * packet there), as unfinished or not: an unfinished one's packets all go
 * by tc, in order, as for IPv4 */
#define XM_FLOW6_CSUM_CHECKED (1u << 7)
#define XM_FLOW6_CSUM_PARTIAL (1u << 4)
#define XM_SLOT_IPV6_FLOW     0xff /* flows: a 6->4 flow's stub (its slots) */
#define XM_PROGS46_TC	      0	   /* progs46 index of xmasq_tc46 */
/* xmasq_tc hands an IPv4 packet of no flow to xmasq_tc_new (prog array
 * "progs4", XM_PROGS4_TC_NEW), which makes its flow and hands it to
 * xmasq_tc_flow (XM_PROGS4_TC_FLOW), which sends it as xmasq_tc sends a
 * known flow's: verified as one program, they neared 6.1's limit
 * (bpf/xmasq.bpf.c). */
#define XM_PROGS4_TC_NEW      0
#define XM_PROGS4_TC_FLOW     1
_Static_assert(XM_MAX_IFACES < XM_SLOT_IPV6_FLOW, "a stub's slot is no interface's");

/* Hash map "rules6": as "rules", on IPv6 addresses. */
struct xm_rule6_key {
	__u32 ifindex; /* ingress interface */
	__be16 dport;
	__u8 proto;	 /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 gen;	 /* 0 or 1 */
	__be32 daddr[4]; /* local address matched; all zero: any address the
	                    interface receives for */
};

struct xm_rule6_value {
	__u32 rule_id;
	__be16 to_port;	  /* backend port for exactly this dport */
	__u16 allow_list; /* `from` list id (IPv6 prefixes), 0 = any source */
	__be32 to_addr[4];
	__u32 flags; /* XM_RULE_* (XM_RULE_V6 set) */
};

/* LPM trie "masq_rules6": `masquerade PREFIX6/LEN out IFACE`, as
 * "masq_rules" on IPv6 sources: the generation is the first 32 bits of
 * the key, always matched in full (prefixlen = 32 + prefix length); the
 * value is a struct xm_masq_value. Its rule_meta entry has
 * XM_RULE_MASQUERADE | XM_RULE_V6 and prefix_len, the prefix in
 * rule_addrs6[rule_id].daddr. */
struct xm_masq6_key {
	__u32 prefixlen;
	__be32 gen; /* bpf_htonl(0 or 1) */
	__be32 saddr[4];
};

/* Array map "rule_addrs6", indexed by rule_id: an IPv6 forward's
 * addresses as written (rule_meta has XM_RULE_V6), for userspace only;
 * for an IPv6 masquerade, its prefix in daddr. */
struct xm_rule_addrs6 {
	__be32 daddr[4];   /* all zero: any */
	__be32 to_addr[4]; /* backend */
};

/* Array map "iface_addrs6", indexed by xm_iface.slot: the NIC's IPv6
 * address flows leave with (its first global, non-temporary address);
 * all zero: none (new IPv6 flows out of it are dropped, drop_no_ipv6_addr). */
struct xm_iface6 {
	__be32 addr[4];
};

/* Array map "flows6": IPv6 conntrack, our own open-addressing table as
 * "flows" is (bpf/ct6.h; the same slot states, probes and lock-free
 * steps), two entries a flow (original and reply direction): the reply
 * entry first (it claims the masquerade port), then the original. A slot
 * is two cache lines (struct xm_ct6_slot): the 40-byte key and the
 * 88-byte entry. Why not the kernel's hash map (the table until
 * 2026-12-02): a lookup there hashes the 40-byte key with jhash and
 * walks a bucket by calls, about 26 ns of the fast path's 98 (make bench,
 * prog-ns-fastpath6); here it is inline code and one multiply a word.
 * The key's last word holds ports, protocol and the slot's state
 * (ct_state), claimed, published and removed by one atomic operation
 * each. `set conntrack6-max N` flows (XM_CT6_DEFAULT_MAX unless set),
 * 3.5 slots a flow as in "flows"; sized when the table is created. */
#define XM_CT6_DEFAULT_MAX 65536
#define XM_CT6_MAX_MIN	   1024
#define XM_CT6_MAX_LIMIT   4194304 /* 1.8 GB of table: more wants a bigger machine */

struct xm_flow6_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 ct_state; /* in the table: XM_CT_*; in a lookup key: 0 */
	__u8 _pad[2];
} __attribute__((aligned(8))); /* read as five 8-byte words */

struct xm_flow6 {
	__be32 new_saddr[4]; /* rewrite: source address and port */
	__be32 new_daddr[4]; /* rewrite: destination address and port */
	__be16 new_sport;
	__be16 new_dport;
	__u8 out_dmac[6]; /* next hop (reply: the neighbour it came from) */
	__u8 flags;	  /* XM_FLOW_REPLY, XM_FLOW_L2_VALID, XM_FLOW_KEEP_SOURCE,
	                     XM_FLOW_FIN_SENT, XM_FLOW_FIN_BOTH, XM_FLOW6_TO_V4 */
	__u8 state;	  /* xm_tcp_state, kept in both entries */
	__u8 in_slot;	  /* iface_slots / iface_stats slots */
	__u8 out_slot;
	__u16 tcp_win; /* TCP: as xm_flow's tcp_win (bpf/tcp_window.h) */
	__u32 rule_id;
	__u32 last_seen_s; /* clock seconds (bpf/clock.h) */
	/* packets wraps at 2^32, as xm_flow's: tcp_ack takes the other half
	 * of the layout before the window checks' 64-bit count, so the map
	 * keeps its shape. A flow made by an older build reads as tcp_win 0
	 * (nothing seen: not checked, the checks' leniency); no migration. */
	__u32 packets;
	__u32 tcp_ack; /* TCP: as xm_flow's tcp_ack */
	__u64 bytes;
	/* Since 2026-12-04, in what were the slot's 16 spare bytes (zero in
	 * a flow made before: untagged, as it was then). */
	__u16 out_vlan; /* 802.1Q TCI to send with, 0 = untagged (as xm_flow's) */
	/* Since 2026-12-04 too: XM_FLOW6_NAT_* (0 in a flow made before:
	 * not known, the sweeper asks nat_mappings6 as it did then) */
	__u8 nat_flags;
	__u8 _spare[13];
};

/* xm_flow6.nat_flags: IPv4's XM_FLOW_NAT_MAPPED for flows6, whose flags
 * byte is full. KNOWN: written by a build that marks the flows using a
 * NAT66 mapping; MAPPED (with it): the ORIG entry of such a flow (a
 * masqueraded host's, or one let in through its mapping), whose mapping
 * the sweeper keeps alive and takes with the flow's last. KNOWN alone:
 * no mapping to ask for (a forward's flow, the usual case). */
#define XM_FLOW6_NAT_KNOWN  (1u << 0)
#define XM_FLOW6_NAT_MAPPED (1u << 1)

/* xm_flow6 before out_vlan: flows6's value when it was the kernel's hash
 * map (until 2026-12-02), which an upgrade carries (flows6_carry.c). */
#define XM_FLOW6_HASHED_SIZE 72

_Static_assert(sizeof(struct xm_flow6_key) == 40, "flows6 key layout");
_Static_assert(sizeof(struct xm_flow6) == 88, "flows6 value layout");
_Static_assert(__builtin_offsetof(struct xm_flow6, out_vlan) == XM_FLOW6_HASHED_SIZE, "the hashed "
										      "table's "
										      "values are "
										      "xm_flow6's "
										      "first "
										      "bytes");

/* The per-CPU array "scratch"'s element (above). */
struct xm_scratch {
	__u64 nat_host;	    /* the new flow's host (XM_NAT_HOST), for the port search */
	__be32 client;	    /* the new flow's source address and port, for the */
	__be16 client_port; /* port search (time_waits) */
	__u16 nat6;	    /* the IPv6 flow being made is a masqueraded host's (bpf/v6_nat.h) */
	union {
		struct xm_allow_key allow; /* the new flow's source, for its `from` check */
		struct xm64_plan plan;	   /* an IPv6 client's: 6->4 */
	};
	struct xm_flow6 flow6;	       /* a new IPv6 flow's entry being made (bpf/v6_flow.h) */
	struct xm_nat6_key nat6_key;   /* a key of nat_mappings6 being looked up (bpf/v6_nat.h) */
	struct xm_nat6_value nat6_val; /* ... and a value being written */
	struct bpf_fib_lookup fib6;    /* a new IPv6 flow's route (bpf/v6_flow.h) */
};
_Static_assert(sizeof(struct xm64_plan) == sizeof(struct xm_allow_key), "scratch keeps its size");

/* One slot of flows6: two cache lines (the array's values are 8-byte
 * aligned; 128 bytes keep every slot on its own pair of lines). */
struct xm_ct6_slot {
	struct xm_flow6_key key;
	struct xm_flow6 flow;
};

_Static_assert(sizeof(struct xm_ct6_slot) == 128, "an IPv6 flow slot is two cache lines");

#define XM_CT6_WORDS 5 /* the key's 8-byte words; the last holds ct_state */

/* The key's words, and the last word of the key with state `st`. */
union xm_ct6_words {
	struct xm_flow6_key key;
	__u64 w[XM_CT6_WORDS];
};

static inline __u64 xm_ct6_state_word(__u64 w4, __u8 st)
{
	union xm_ct6_words u = { .w = { 0, 0, 0, 0, w4 } };

	u.key.ct_state = st;
	return u.w[4];
}

/* An IPv6 key's home (xm_ct_home's scheme over five words): each word is
 * mixed into the running hash by a multiply and an xorshift, both
 * bijections, so no two words can be chosen to cancel without knowing the
 * table's seed; the state byte of the last word is left out. The data plane and the loader must agree bit for bit. */
static inline __u32 xm_ct6_hash(const __u64 w[XM_CT6_WORDS], __u64 seed)
{
	__u64 h = seed;

	for (int i = 0; i < XM_CT6_WORDS; i++) {
		h = (h ^ (i < XM_CT6_WORDS - 1 ? w[i] : xm_ct6_state_word(w[i], 0))) *
		    0x9e3779b97f4a7c15ull;
		h ^= h >> 32;
	}
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	h *= 0x94d049bb133111ebull;
	return (__u32)(h >> 32);
}

static inline __u32 xm_ct6_home(const __u64 w[XM_CT6_WORDS], __u64 seed, __u32 homes)
{
	return (__u32)(((__u64)xm_ct6_hash(w, seed) * homes) >> 32);
}

/* LRU hash "frags6": IPv6 datagrams being fragmented (the fragment
 * header's identification), as "frags" for IPv4: the flow their first
 * fragment used, so that the later ones (no L4 header) follow it. */
struct xm_frag6_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be32 id;
	__u8 proto;
	__u8 _pad[3];
};

struct xm_frag6_value {
	struct xm_flow6_key flow;
	__u32 created_s;
	__u32 _pad;
};

/* The other direction's key of an IPv6 flow entry. */
static inline void xm_flow6_partner_key(const struct xm_flow6 *f, __u8 proto,
					struct xm_flow6_key *pk)
{
	for (int i = 0; i < 4; i++) {
		pk->saddr[i] = f->new_daddr[i];
		pk->daddr[i] = f->new_saddr[i];
	}
	pk->sport = f->new_dport;
	pk->dport = f->new_sport;
	pk->proto = proto;
	pk->ct_state = 0;
	pk->_pad[0] = pk->_pad[1] = 0;
}

/* Array map "sweeper6", one element: the timer that removes idle IPv6
 * flows (bpf/v6_sweep.h), armed by xmasq_tc6's first new flow. A walk
 * goes a slice of groups (XM_SWEEP_GROUP slots, map "sweep6_groups") a
 * timer run, as the IPv4 sweeper's does. */
struct xm_sweep6 {
	struct bpf_timer timer;
	__u32 epoch; /* xm_prog_epoch of the program that armed it */
	__u32 runs;  /* walks */
	__u64 expired;
	__u32 next_group;	/* where the walk goes on (0: between walks) */
	__u32 now;		/* the clock (xm_clock_s) of this run */
	__u32 walk_ns;		/* the walk's time so far, over its runs */
	__u32 last_walk_ns;	/* how long the last walk took */
	__u32 expired_at_start; /* `expired` (low 32 bits) when this run began */
	__u32 slices;		/* timer runs, every slice of every walk */
};

/* The least time from one walk's start to the next; longer when a walk
 * takes longer (xm_sweep_idle_factor walk lengths, as IPv4's). */
#define XM_SWEEP6_EVERY_S 2

/* Array map "sweep6_groups": as "sweep_groups", for "flows6". */

#endif /* XMASQ_ABI_H */
