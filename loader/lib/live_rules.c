// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Line-by-line applies: an edit of a few lines of a large rules file
 * (xmasqd's PATCH) parsed, checked and applied alone, with the result of
 * a full parse and apply of the edited text (apply.c):
 *
 * - the same rule ids: an edited rule identical to a removed one keeps its
 *   id, a new one takes the lowest id free before the apply, in line order;
 * - the same maps: the removed rules' port entries go and the new ones'
 *   come in the inactive generation, the switch, then the other one;
 *   rule_meta written as apply.c writes it (lines of moved rules too);
 * - the same diff and counts, and the same errors: a line that is wrong
 *   on its own is reported here only when no error of another kind could
 *   come before it in the file; any other error (an overlap, a limit, an
 *   interface) goes to the full path, which reports it at its place.
 *
 * What it keeps (struct xm_live_rules) is only valid for the rule_meta it
 * was built on, unchanged since: rule_meta slot 0 counts every change
 * (xm_meta_stamp), so an apply by another process is noticed and the full
 * path runs. rule_meta is read and its `line`s written through a mapping
 * (the map is BPF_F_MMAPABLE), never copied whole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "xmasq_internal.h"

/* line_id: a line the full path owns (set, masquerade, forward with a
 * list, IPv6 forward); the low bits keep its rule id, if any, to move its
 * line. */
#define LINE_FULL  (1u << 31)
#define LINE_ID(v) ((v) & ~LINE_FULL)

/* The most rules an edit adds line by line (they are checked against
 * each other pair by pair). */
#define XM_LIVE_EDIT_MAX 1024

/* One forwarded port of a live IPv4 rule: the parser's overlap key
 * (interface name, local address, protocol, port) read from rule_meta.
 * IPv6 rules are not indexed: they never overlap an IPv4 one, and their
 * lines are the full path's. */
struct port_ent {
	__u32 id; /* 0: empty */
	__u16 port;
};

struct xm_live_rules {
	__u32 map_id; /* rule_meta's (another map: another router) */
	__u32 stamp;  /* xm_meta_stamp after the last apply */
	char *map;    /* rule_meta, mapped while in use (its pages are not kept
		       * resident between edits) */
	size_t stride, map_len;
	__u32 *line_id; /* [1..n_lines]: the rule id on the line, 0, LINE_FULL */
	unsigned n_lines;
	unsigned char *used; /* [id]: in rule_meta */
	struct port_ent *ports;
	size_t ports_cap, ports_n;
	unsigned n_rules, n_masqs, total_ports, n_addr_rules;
	int as_any;
	int stale; /* a failure after a switch left it behind the live rules */
	struct xm_settings settings;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static struct xm_rule_meta *meta_at(const struct xm_live_rules *lr, __u32 id)
{
	return (struct xm_rule_meta *)(lr->map + (size_t)id * lr->stride);
}

/* ---- the port index -------------------------------------------------- */

static size_t port_hash(const char *ifname, __u32 daddr, __u8 proto, __u16 port)
{
	__u64 h = 1469598103934665603ull;

	for (size_t i = 0; i < XM_IFNAMSIZ && ifname[i]; i++)
		h = (h ^ (unsigned char)ifname[i]) * 1099511628211ull;
	h = (h ^ daddr) * 1099511628211ull;
	h = (h ^ proto) * 1099511628211ull;
	h = (h ^ port) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

static size_t ent_hash(const struct xm_live_rules *lr, const struct port_ent *e)
{
	const struct xm_rule_meta *m = meta_at(lr, e->id);

	return port_hash(m->ifname, m->daddr, m->proto, e->port);
}

static int same_port_key(const struct xm_rule_meta *m, const char *ifname, __u32 daddr, __u8 proto)
{
	return m->proto == proto && m->daddr == daddr &&
	       strncmp(m->ifname, ifname, XM_IFNAMSIZ) == 0;
}

/* The live rule forwarding (ifname, daddr, proto, port), or 0. */
static __u32 port_find(const struct xm_live_rules *lr, const char *ifname, __u32 daddr, __u8 proto,
		       __u16 port)
{
	size_t mask = lr->ports_cap - 1;

	if (!lr->ports_cap)
		return 0;
	for (size_t i = port_hash(ifname, daddr, proto, port) & mask; lr->ports[i].id;
	     i = (i + 1) & mask)
		if (lr->ports[i].port == port &&
		    same_port_key(meta_at(lr, lr->ports[i].id), ifname, daddr, proto))
			return lr->ports[i].id;
	return 0;
}

static void ent_put(struct port_ent *tab, size_t cap, size_t hash, struct port_ent e)
{
	size_t i = hash & (cap - 1);

	while (tab[i].id)
		i = (i + 1) & (cap - 1);
	tab[i] = e;
}

/* Room for n more entries (at most half full). 0, or -1. */
static int ports_reserve(struct xm_live_rules *lr, size_t n)
{
	size_t cap = lr->ports_cap ? lr->ports_cap : 1024;
	struct port_ent *tab;

	while ((lr->ports_n + n) * 2 > cap)
		cap *= 2;
	if (cap == lr->ports_cap)
		return 0;
	tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return -1;
	for (size_t i = 0; i < lr->ports_cap; i++)
		if (lr->ports[i].id)
			ent_put(tab, cap, ent_hash(lr, &lr->ports[i]), lr->ports[i]);
	free(lr->ports);
	lr->ports = tab;
	lr->ports_cap = cap;
	return 0;
}

/* Indexes rule id's ports (its rule_meta written). 0, or -1. */
static int ports_add(struct xm_live_rules *lr, __u32 id)
{
	const struct xm_rule_meta *m = meta_at(lr, id);
	unsigned n = (unsigned)m->from_port_hi - m->from_port_lo + 1u;

	if (ports_reserve(lr, n))
		return -1;
	for (unsigned p = m->from_port_lo; p <= m->from_port_hi; p++) {
		struct port_ent e = { .id = id, .port = (__u16)p };

		ent_put(lr->ports, lr->ports_cap, ent_hash(lr, &e), e);
	}
	lr->ports_n += n;
	return 0;
}

/* Forgets rule id's ports (its rule_meta still there), shifting back the
 * entries after each so that no probe chain breaks. */
static void ports_remove(struct xm_live_rules *lr, __u32 id)
{
	const struct xm_rule_meta *m = meta_at(lr, id);
	size_t mask = lr->ports_cap - 1;

	if (!lr->ports_cap)
		return;
	for (unsigned p = m->from_port_lo; p <= m->from_port_hi; p++) {
		size_t i = port_hash(m->ifname, m->daddr, m->proto, (__u16)p) & mask, j;

		while (lr->ports[i].id && !(lr->ports[i].id == id && lr->ports[i].port == p))
			i = (i + 1) & mask;
		if (!lr->ports[i].id)
			continue;
		for (j = i;;) {
			size_t home;

			j = (j + 1) & mask;
			if (!lr->ports[j].id)
				break;
			home = ent_hash(lr, &lr->ports[j]) & mask;
			/* entry j may move to i when its home is not in (i, j] */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
				lr->ports[i] = lr->ports[j];
				i = j;
			}
		}
		lr->ports[i].id = 0;
		lr->ports_n--;
	}
}

/* ---- building it after a full apply ------------------------------------ */

static int map_meta(struct xm_live_rules *lr, int fd)
{
	lr->map = mmap(NULL, lr->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (lr->map == MAP_FAILED) {
		lr->map = NULL;
		return -1;
	}
	return 0;
}

static void unmap_meta(struct xm_live_rules *lr)
{
	if (lr->map)
		munmap(lr->map, lr->map_len);
	lr->map = NULL;
}

void xm_live_rules_free(struct xm_live_rules *lr)
{
	if (!lr)
		return;
	if (lr->map)
		munmap(lr->map, lr->map_len);
	free(lr->line_id);
	free(lr->used);
	free(lr->ports);
	free(lr);
}

/* The live meta of rule id is that of r (whatever its line; an IPv6
 * rule's addresses, in rule_addrs6, are not compared). */
static int meta_is_rule(const struct xm_rule_meta *m, const struct xm_rule *r)
{
	struct xm_rule_meta want;

	xm_meta_from_rule(r, m->ifindex, &want);
	want.flags |= m->flags & (~0u << XM_RULE_META_ALLOW_SHIFT);
	want.addr_set = m->addr_set;
	want.prefix_len = m->prefix_len;
	return xm_meta_same(m, NULL, &want, NULL);
}

struct xm_live_rules *xm_live_rules_build(struct xm_handle *h, const struct xm_ruleset *rs,
					  unsigned n_lines)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned live_rules = 0, live_masqs = 0;
	struct xm_live_rules *lr;
	int fd = h->fd[XM_MAP_RULE_META];

	if (bpf_obj_get_info_by_fd(fd, &info, &len) || !(info.map_flags & BPF_F_MMAPABLE) ||
	    info.max_entries < XM_MAX_RULES || info.value_size != sizeof(struct xm_rule_meta))
		return NULL;
	lr = calloc(1, sizeof(*lr));
	if (!lr)
		return NULL;
	lr->map_id = info.id;
	lr->stride = (sizeof(struct xm_rule_meta) + 7) & ~(size_t)7;
	lr->map_len = ((size_t)info.max_entries * lr->stride + page - 1) & ~(page - 1);
	if (map_meta(lr, fd))
		goto fail;
	lr->n_lines = n_lines;
	lr->line_id = calloc((size_t)n_lines + 2, sizeof(*lr->line_id));
	lr->used = calloc(XM_MAX_RULES, 1);
	if (!lr->line_id || !lr->used)
		goto fail;
	lr->stamp = meta_at(lr, 0)->line;
	for (__u32 id = 1; id < XM_MAX_RULES; id++) {
		const struct xm_rule_meta *m = meta_at(lr, id);

		if (!m->in_use)
			continue;
		lr->used[id] = 1;
		if (m->line < 1 || m->line > n_lines || lr->line_id[m->line])
			goto fail; /* not the rules of this text */
		if (m->flags & XM_RULE_MASQUERADE) {
			lr->line_id[m->line] = id | LINE_FULL;
			live_masqs++;
		} else {
			lr->line_id[m->line] = id;
			live_rules++;
		}
	}
	if (live_rules != rs->n_rules || live_masqs != rs->n_masqs)
		goto fail;
	for (size_t i = 0; i < rs->n_rules; i++) {
		const struct xm_rule *r = &rs->rules[i];
		__u32 v = r->line <= n_lines ? lr->line_id[r->line] : 0;

		if (!v || (v & LINE_FULL) || !meta_is_rule(meta_at(lr, v), r) ||
		    (xm_rule_v4_clients(r) && ports_add(lr, v)))
			goto fail;
		if (r->as.n || r->from.n || xm_rule_v6_clients(r))
			lr->line_id[r->line] |= LINE_FULL;
		if (r->as.n)
			lr->as_any = 1;
		if (!xm_rule_is_v6(r) && r->local_addr) /* as apply.c's has_addr_rules */
			lr->n_addr_rules++;
	}
	for (size_t i = 0; i < rs->n_masqs; i++) {
		const struct xm_masq *q = &rs->masqs[i];

		if (q->line > n_lines || !(lr->line_id[q->line] & LINE_FULL))
			goto fail;
		if (q->as.n)
			lr->as_any = 1;
	}
	for (size_t i = 0; i < rs->n_set_lines; i++) {
		if (rs->set_line[i] > n_lines || lr->line_id[rs->set_line[i]])
			goto fail;
		lr->line_id[rs->set_line[i]] = LINE_FULL;
	}
	lr->n_rules = (unsigned)rs->n_rules;
	lr->n_masqs = (unsigned)rs->n_masqs;
	lr->total_ports = rs->total_ports;
	lr->settings = rs->settings;
	unmap_meta(lr);
	return lr;
fail:
	xm_live_rules_free(lr);
	return NULL;
}

/* ---- applying an edit -------------------------------------------------- */

struct added {
	struct xm_rule r; /* r.line: its line in the new text */
	__u32 ifindex;
	__u32 id;
	int reused; /* id: a removed rule's, identical (only its line moves) */
};

struct edit {
	__u32 *removed; /* ids of the deleted lines' rules */
	size_t n_removed;
	struct added *added;
	size_t n_added, cap_added;
	unsigned char *gone; /* [id]: 1 removed, 2 removed and reused */
	unsigned added_ports, removed_ports, added_addr_rules, removed_addr_rules;
	unsigned added_addr_rules6; /* IPv6 forwards for one address added */
};

static void edit_free(struct edit *e)
{
	free(e->removed);
	free(e->added);
	free(e->gone);
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static int ranges_meet(const struct xm_rule *a, const struct xm_rule *b)
{
	return a->proto == b->proto && a->local_addr == b->local_addr &&
	       strncmp(a->ifname, b->ifname, XM_IFNAMSIZ) == 0 && a->from_lo <= b->from_hi &&
	       b->from_lo <= a->from_hi;
}

/* Whether a rule of the edit overlaps a rule kept or another of the edit. */
static int edit_overlaps(const struct xm_live_rules *lr, const struct edit *e)
{
	for (size_t i = 0; i < e->n_added; i++) {
		const struct xm_rule *r = &e->added[i].r;

		for (unsigned p = r->from_lo; p <= r->from_hi; p++) {
			__u32 id = port_find(lr, r->ifname, r->local_addr, r->proto, (__u16)p);

			if (id && !e->gone[id])
				return 1;
		}
		for (size_t j = 0; j < i; j++)
			if (ranges_meet(r, &e->added[j].r))
				return 1;
	}
	return 0;
}

/* The edit's lines: the deleted ones' rule ids, the inserted ones parsed.
 * 0, 1 (the full path's), -2 (a line wrong on its own: err), -1. */
static int read_edit(const struct xm_live_rules *lr, const char *text, size_t text_len,
		     const struct xm_text_hunk *hunks, size_t n_hunks, const char *filename,
		     struct edit *e, char *err, size_t errlen)
{
	size_t cap_removed = 0;
	int bad = 0;

	e->gone = calloc(XM_MAX_RULES, 1);
	if (!e->gone)
		goto oom;
	for (size_t k = 0; k < n_hunks && !bad; k++) {
		const struct xm_text_hunk *hk = &hunks[k];
		size_t pos = hk->new_off;

		if (hk->old_line < 1 || hk->old_line + hk->del > lr->n_lines + 1 ||
		    (k && hk->old_line < hunks[k - 1].old_line + hunks[k - 1].del))
			return 1;
		for (unsigned l = hk->old_line; l < hk->old_line + hk->del; l++) {
			__u32 v = lr->line_id[l];

			if (v & LINE_FULL)
				return 1;
			if (!v)
				continue;
			if (e->n_removed == cap_removed) {
				size_t nc = cap_removed ? cap_removed * 2 : 16;
				__u32 *p = realloc(e->removed, nc * sizeof(*p));

				if (!p)
					goto oom;
				e->removed = p;
				cap_removed = nc;
			}
			e->removed[e->n_removed++] = v;
			e->gone[v] = 1;
			e->removed_ports += (unsigned)meta_at(lr, v)->from_port_hi -
					    meta_at(lr, v)->from_port_lo + 1u;
			e->removed_addr_rules += meta_at(lr, v)->daddr != 0;
		}
		for (unsigned l = 0; l < hk->ins; l++) {
			const char *s = text + pos, *nl;
			size_t len;
			enum xm_line_kind kind = XM_LINE_BLANK;
			struct xm_rule r = { 0 };
			int rc;

			if (pos > text_len)
				return 1;
			nl = memchr(s, '\n', text_len - pos);
			len = nl ? (size_t)(nl - s) : text_len - pos;
			pos += len + 1;
			rc = xm_rules_parse_line(s, len, hk->new_line + l, filename, &r, &kind, err,
						 errlen);
			if (rc == -1)
				goto oom;
			if (rc == -2) {
				bad = 1; /* the first wrong line: nothing after it counts */
				break;
			}
			if (kind == XM_LINE_OTHER)
				return 1;
			if (kind == XM_LINE_BLANK)
				continue;
			if (e->n_added == XM_LIVE_EDIT_MAX)
				return 1; /* a new file more than an edit: checked whole */
			if (e->n_added == e->cap_added) {
				size_t nc = e->cap_added ? e->cap_added * 2 : 16;
				struct added *p = realloc(e->added, nc * sizeof(*p));

				if (!p)
					goto oom;
				e->added = p;
				e->cap_added = nc;
			}
			memset(&e->added[e->n_added], 0, sizeof(e->added[0]));
			e->added[e->n_added++].r = r;
			e->added_ports += (unsigned)r.from_hi - r.from_lo + 1u;
			e->added_addr_rules += r.local_addr != 0;
			e->added_addr_rules6 += xm_rule_addr6(&r);
		}
	}
	/* Only lines before the wrong one were read: an overlap among them
	 * (or with a rule kept) is reported at a line before it, by the
	 * full path, which knows the columns of every line. */
	if (edit_overlaps(lr, e))
		return 1;
	return bad ? -2 : 0;
oom:
	snprintf(err, errlen, "%s: out of memory", filename);
	return -1;
}

/* The removed rules' entries out of generation gen, the new ones in. */
static int write_gen_delta(struct xm_live_rules *lr, struct xm_handle *h, const struct edit *e,
			   __u8 gen, unsigned *bad_line)
{
	int fd = h->fd[XM_MAP_RULES], rc;

	for (size_t i = 0; i < e->n_removed; i++)
		if (e->gone[e->removed[i]] == 1)
			xm_delete_rule_ports(fd, meta_at(lr, e->removed[i]), gen);
	for (size_t i = 0; i < e->n_added; i++) {
		const struct added *a = &e->added[i];

		if (a->reused)
			continue;
		rc = xm_insert_rule_ports(fd, &a->r, a->ifindex, a->id, 0, gen);
		if (rc) {
			*bad_line = a->r.line;
			return rc;
		}
	}
	return 0;
}

/* "+ new", "~ old => new", "- old" as apply.c's report_changes writes
 * them, and the counts it makes. */
static void report_edit(const struct xm_live_rules *lr, struct edit *e, FILE *out,
			struct xm_apply_result *res)
{
	char a[XM_RULE_TEXT_MAX], b[XM_RULE_TEXT_MAX];
	unsigned char *paired = calloc(e->n_removed + 1, 1);
	struct xm_rule_meta m;

	qsort(e->removed, e->n_removed, sizeof(e->removed[0]), cmp_u32);
	for (size_t i = 0; i < e->n_added; i++) {
		const struct added *ad = &e->added[i];
		int changed = 0;

		if (ad->reused)
			continue;
		xm_meta_from_rule(&ad->r, ad->ifindex, &m);
		xm_rule_meta_format(&m, NULL, NULL, NULL, NULL, b, sizeof(b));
		for (size_t k = 0; paired && k < e->n_removed; k++) {
			const struct xm_rule_meta *old = meta_at(lr, e->removed[k]);

			if (e->gone[e->removed[k]] != 1 || paired[k] ||
			    !xm_meta_same_match(old, NULL, &m, NULL))
				continue;
			paired[k] = 1;
			changed = 1;
			xm_rule_meta_format(old, NULL, NULL, NULL, NULL, a, sizeof(a));
			if (out)
				fprintf(out, "~ %s => %s\n", a, b);
			break;
		}
		if (changed) {
			res->changed++;
			res->added--;
			res->removed--;
		} else if (out) {
			fprintf(out, "+ %s\n", b);
		}
	}
	for (size_t k = 0; out && k < e->n_removed; k++) {
		if (e->gone[e->removed[k]] != 1 || (paired && paired[k]))
			continue;
		xm_rule_meta_format(meta_at(lr, e->removed[k]), NULL, NULL, NULL, NULL, a,
				    sizeof(a));
		fprintf(out, "- %s\n", a);
	}
	free(paired);
}

/* The lines after the edit: each kept rule's id at its new line, whose
 * rule_meta says so; the inserted rules at theirs. */
static int move_lines(struct xm_live_rules *lr, const struct xm_text_hunk *hunks, size_t n_hunks,
		      const struct edit *e)
{
	long total = 0;
	unsigned n_new, out = 1, in = 1;
	__u32 *nl;

	for (size_t k = 0; k < n_hunks; k++)
		total += (long)hunks[k].ins - (long)hunks[k].del;
	n_new = (unsigned)((long)lr->n_lines + total);
	nl = calloc((size_t)n_new + 2, sizeof(*nl));
	if (!nl)
		return -1;
	for (size_t k = 0; k <= n_hunks; k++) {
		unsigned upto = k < n_hunks ? hunks[k].old_line : lr->n_lines + 1;

		for (; in < upto; in++, out++) {
			__u32 v = lr->line_id[in], id = LINE_ID(v);

			nl[out] = v;
			if (id && in != out)
				meta_at(lr, id)->line = out;
		}
		if (k < n_hunks) {
			in += hunks[k].del;
			out += hunks[k].ins;
		}
	}
	for (size_t i = 0; i < e->n_added; i++) {
		nl[e->added[i].r.line] = e->added[i].id;
		if (e->added[i].reused)
			meta_at(lr, e->added[i].id)->line = e->added[i].r.line;
	}
	free(lr->line_id);
	lr->line_id = nl;
	lr->n_lines = n_new;
	return 0;
}

int xm_live_rules_apply(struct xm_live_rules *lr, struct xm_handle *h, const char *new_text,
			size_t new_len, const struct xm_text_hunk *hunks, size_t n_hunks,
			const char *filename, const struct xm_apply_opts *o,
			struct xm_apply_result *res, char *err, size_t errlen)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info), zero = 0, free_id = 1;
	struct xm_rule_stats *zero_stats = NULL;
	__u64 *zero_refused = NULL;
	struct edit e = { 0 };
	struct xm_config cfg;
	struct xm_rule_meta m;
	unsigned bad_line = 0, n_rules, n_ports, n_addr_rules;
	__u8 cur, next;
	double t0;
	int rc;

	memset(res, 0, sizeof(*res));
	if (!lr || lr->stale || o->check_only || o->diff_only || o->reset_flows)
		return 1;
	/* Still the rule_meta it was built on, changed by nobody else. */
	if (bpf_obj_get_info_by_fd(h->fd[XM_MAP_RULE_META], &info, &len) || info.id != lr->map_id ||
	    map_meta(lr, h->fd[XM_MAP_RULE_META]))
		return 1;
	rc = 1;
	if (meta_at(lr, 0)->line != lr->stamp)
		goto out;
	if (bpf_map_lookup_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg) ||
	    (cfg.flags & XM_CFG_GEN_DIRTY))
		goto out; /* the full path rebuilds the inactive generation */
	rc = read_edit(lr, new_text, new_len, hunks, n_hunks, filename, &e, err, errlen);
	if (rc && rc != -2)
		goto out;
	n_rules = lr->n_rules - (unsigned)e.n_removed + (unsigned)e.n_added;
	n_ports = lr->total_ports - e.removed_ports + e.added_ports;
	n_addr_rules = lr->n_addr_rules - e.removed_addr_rules + e.added_addr_rules;
	if (n_rules > XM_MAX_RULES - 1 || n_ports > XM_MAX_RULE_PORTS / 2) {
		rc = 1; /* the parser's limit errors, which may come first */
		goto out;
	}
	if (rc)
		goto out; /* a line wrong on its own, the first error */
	rc = 1;
	/* The interfaces, as the full path checks them (it reports the
	 * first wrong one of the whole file). */
	for (size_t i = 0; i < e.n_added; i++) {
		struct added *a = &e.added[i];

		if (xm_resolve_iface(h, filename, a->r.ifname, a->r.line, a->r.iface_col,
				     &a->ifindex, err, errlen))
			goto out;
	}
	/* Ids: a rule identical to a removed one keeps that one's id (few
	 * rules on either side: pairs compared), the others take the lowest
	 * ids free before the apply, in line order. */
	if (e.n_removed > XM_LIVE_EDIT_MAX)
		goto out;
	for (size_t i = 0; i < e.n_added; i++) {
		struct added *a = &e.added[i];

		xm_meta_from_rule(&a->r, a->ifindex, &m);
		for (size_t k = 0; k < e.n_removed; k++) {
			__u32 id = e.removed[k];

			if (e.gone[id] == 1 && xm_meta_same(meta_at(lr, id), NULL, &m, NULL)) {
				a->id = id;
				a->reused = 1;
				e.gone[id] = 2;
				break;
			}
		}
	}
	for (size_t i = 0; i < e.n_added; i++) {
		struct added *a = &e.added[i];

		if (a->reused)
			continue;
		while (free_id < XM_MAX_RULES && lr->used[free_id])
			free_id++;
		if (free_id >= XM_MAX_RULES)
			goto out; /* the full path's "more than N rules live" */
		a->id = free_id++;
		res->added++;
	}
	for (size_t k = 0; k < e.n_removed; k++)
		res->removed += e.gone[e.removed[k]] == 1;
	res->kept = n_rules + lr->n_masqs - res->added;
	report_edit(lr, &e, o->diff_out, res);
	res->ports = n_ports;

	rc = -1;
	zero_stats = calloc(h->ncpus, sizeof(*zero_stats));
	zero_refused = calloc(h->ncpus, sizeof(*zero_refused));
	if (!zero_stats || !zero_refused) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	xm_apply_refresh_nics(h, o->log, res);
	cur = cfg.active_gen & 1;
	next = cur ^ 1;
	cfg.flags |= XM_CFG_GEN_DIRTY; /* as apply.c: an apply that dies is redone whole */
	if (n_addr_rules)
		cfg.flags |= XM_CFG_ADDR_RULES;
	/* Cleared only: an edit that takes the last such rule away leaves
	 * both lookups until the next full apply sets it again. */
	if (e.added_addr_rules6)
		cfg.flags &= ~XM_CFG_NO_ADDR_RULES6;
	if (lr->as_any)
		cfg.flags |= XM_CFG_ADDR_SETS;
	if (bpf_map_update_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg, BPF_ANY)) {
		snprintf(err, errlen, "%s/config: %s (nothing was changed)", h->pin_dir,
			 strerror(errno));
		goto out;
	}
	t0 = now_us();
	rc = write_gen_delta(lr, h, &e, next, &bad_line);
	if (rc) {
		snprintf(err, errlen,
			 "%s:%u: cannot add rule to the data plane: %s (nothing was changed)",
			 filename, bad_line, strerror(-rc));
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < e.n_added; i++) {
		struct added *a = &e.added[i];

		if (a->reused)
			continue;
		xm_meta_from_rule(&a->r, a->ifindex, &m);
		bpf_map_update_elem(h->fd[XM_MAP_RULE_STATS], &a->id, zero_stats, BPF_ANY);
		bpf_map_update_elem(h->fd[XM_MAP_RULE_REFUSED], &a->id, zero_refused, BPF_ANY);
		bpf_map_update_elem(h->fd[XM_MAP_RULE_META], &a->id, &m, BPF_ANY);
	}

	/* The switch: one write, the settings as the file has them. */
	cfg.active_gen = next;
	cfg.port_lo = lr->settings.port_lo;
	cfg.port_hi = lr->settings.port_hi;
	memcpy(cfg.timeouts, lr->settings.timeouts, sizeof(cfg.timeouts));
	cfg.flags = (cfg.flags & ~XM_CFG_NAT_MASK) | lr->settings.nat_flags;
	cfg.flows_per_source = lr->settings.flows_per_source == XM_FLOWS_PER_SOURCE_AUTO ?
				       cfg.ct_max / XM_FLOWS_PER_SOURCE_SHARE :
				       lr->settings.flows_per_source;
	xm_read_local_port_range(&cfg);
	if (bpf_map_update_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg, BPF_ANY)) {
		snprintf(err, errlen, "%s/config: %s (nothing was changed)", h->pin_dir,
			 strerror(errno));
		goto out;
	}
	res->switched_at = now_us();
	res->usecs = res->switched_at - t0;
	res->incremental = 1;

	/* Live. Then as apply.c: the moved lines, the other generation, the
	 * removed rules' meta; and what is kept here follows (out of memory
	 * from here on: the next edit takes the full path). */
	rc = 0;
	if (move_lines(lr, hunks, n_hunks, &e))
		lr->stale = 1;
	if (write_gen_delta(lr, h, &e, cur, &bad_line) == 0) {
		cfg.flags &= ~XM_CFG_GEN_DIRTY;
		if (!n_addr_rules)
			cfg.flags &= ~XM_CFG_ADDR_RULES;
		if (!lr->as_any)
			cfg.flags &= ~XM_CFG_ADDR_SETS;
		bpf_map_update_elem(h->fd[XM_MAP_CONFIG], &zero, &cfg, BPF_ANY);
	}
	memset(&m, 0, sizeof(m));
	for (size_t k = 0; k < e.n_removed; k++) {
		__u32 id = e.removed[k];

		if (e.gone[id] != 1)
			continue;
		ports_remove(lr, id);
		bpf_map_update_elem(h->fd[XM_MAP_RULE_META], &id, &m, BPF_ANY);
		lr->used[id] = 0;
	}
	for (size_t i = 0; i < e.n_added; i++) {
		if (e.added[i].reused)
			continue;
		lr->used[e.added[i].id] = 1;
		if (ports_add(lr, e.added[i].id))
			lr->stale = 1;
	}
	lr->n_rules = n_rules;
	lr->total_ports = n_ports;
	lr->n_addr_rules = n_addr_rules;
	xm_meta_stamp_bump(h);
	lr->stamp = meta_at(lr, 0)->line;
out:
	unmap_meta(lr);
	free(zero_stats);
	free(zero_refused);
	edit_free(&e);
	return rc;
}
