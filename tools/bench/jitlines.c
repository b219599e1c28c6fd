// SPDX-License-Identifier: GPL-2.0-only
/* jitlines: where each source line of every loaded BPF program lies in
 * the JIT's code, so a profiler's
 * sampled instruction addresses can be read as source lines
 * (tools/bench/profile.py). bpftool shows the JIT's code only when built
 * with libbfd, which Debian's is not; the kernel gives the addresses and
 * the line table without it.
 *
 *   jitlines
 *
 * Writes tab-separated lines, sorted by nothing in particular:
 *   F <tab> address <tab> length <tab> program <tab> function
 *   L <tab> address <tab> program <tab> file:line <tab> source text
 * (addresses in hex). A program without BTF line info has no L lines.
 * Exit 0; 1 when the kernel refused (not root, no BPF). */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A program's JIT layout, filled by an info call into buffers sized by
 * the program's first one. */
struct jit_layout {
	__u64 *ksyms;	     /* each function's start address */
	__u32 *func_lens;    /* and its length */
	__u32 nr_funcs;	     /* entries in ksyms and func_lens */
	void *func_info;     /* BTF func ids, one per function */
	__u32 func_info_rec; /* bytes per func_info record */
	void *line_info;     /* BTF line records */
	__u32 line_info_rec; /* bytes per line_info record */
	__u64 *jited_lines;  /* the address of each line record's code */
	__u32 nr_lines;	     /* line records with an address */
	__u32 btf_id;
};

static void layout_free(struct jit_layout *l)
{
	free(l->ksyms);
	free(l->func_lens);
	free(l->func_info);
	free(l->line_info);
	free(l->jited_lines);
}

/* sizes: the program's info as its first call gave it (the counts) */
static int layout_read(int fd, const struct bpf_prog_info *sizes, struct jit_layout *l)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	__u32 nr_func_info = sizes->nr_func_info, nr_line_info = sizes->nr_line_info;

	l->nr_funcs = sizes->nr_jited_ksyms < sizes->nr_jited_func_lens ? sizes->nr_jited_ksyms :
									  sizes->nr_jited_func_lens;
	l->nr_lines = sizes->nr_jited_line_info < nr_line_info ? sizes->nr_jited_line_info :
								 nr_line_info;
	l->func_info_rec = sizes->func_info_rec_size;
	l->line_info_rec = sizes->line_info_rec_size;
	l->btf_id = sizes->btf_id;
	l->ksyms = calloc(l->nr_funcs + 1, sizeof(*l->ksyms));
	l->func_lens = calloc(l->nr_funcs + 1, sizeof(*l->func_lens));
	l->func_info = calloc(nr_func_info + 1, l->func_info_rec + 1);
	l->line_info = calloc(nr_line_info + 1, l->line_info_rec + 1);
	l->jited_lines = calloc(sizes->nr_jited_line_info + 1, sizeof(*l->jited_lines));
	if (!l->ksyms || !l->func_lens || !l->func_info || !l->line_info || !l->jited_lines)
		return -ENOMEM;

	info.nr_jited_ksyms = l->nr_funcs;
	info.jited_ksyms = (__u64)(uintptr_t)l->ksyms;
	info.nr_jited_func_lens = l->nr_funcs;
	info.jited_func_lens = (__u64)(uintptr_t)l->func_lens;
	info.nr_func_info = nr_func_info;
	info.func_info_rec_size = l->func_info_rec;
	info.func_info = (__u64)(uintptr_t)l->func_info;
	info.nr_line_info = nr_line_info;
	info.line_info_rec_size = l->line_info_rec;
	info.line_info = (__u64)(uintptr_t)l->line_info;
	info.nr_jited_line_info = l->nr_lines;
	info.jited_line_info_rec_size = sizeof(__u64);
	info.jited_line_info = (__u64)(uintptr_t)l->jited_lines;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.nr_func_info < l->nr_funcs) /* no BTF: functions unnamed */
		l->func_info_rec = 0;
	return 0;
}

/* The last path component of a BTF file name: the line table keeps the
 * compiler's path, which differs between build trees. */
static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	return slash ? slash + 1 : path ? path : "?";
}

/* Source text on one line: tabs and newlines would split the record. */
static void print_flat(const char *s)
{
	for (; s && *s; s++)
		putchar(*s == '\t' || *s == '\n' ? ' ' : *s);
}

static void print_program(const char *name, const struct jit_layout *l, const struct btf *btf)
{
	for (__u32 i = 0; i < l->nr_funcs; i++) {
		const char *fname = name;

		if (btf && l->func_info_rec) {
			const struct bpf_func_info *fi =
				(const void *)((const char *)l->func_info + i * l->func_info_rec);
			const struct btf_type *t = btf__type_by_id(btf, fi->type_id);

			if (t)
				fname = btf__name_by_offset(btf, t->name_off);
		}
		printf("F\t%llx\t%u\t%s\t%s\n", (unsigned long long)l->ksyms[i], l->func_lens[i],
		       name, fname ? fname : "?");
	}
	if (!btf)
		return;
	for (__u32 i = 0; i < l->nr_lines; i++) {
		const struct bpf_line_info *li =
			(const void *)((const char *)l->line_info + i * l->line_info_rec);

		printf("L\t%llx\t%s\t%s:%u\t", (unsigned long long)l->jited_lines[i], name,
		       base_name(btf__name_by_offset(btf, li->file_name_off)),
		       BPF_LINE_INFO_LINE_NUM(li->line_col));
		print_flat(btf__name_by_offset(btf, li->line_off));
		putchar('\n');
	}
}

int main(int argc, char **argv)
{
	__u32 id = 0;
	int seen = 0;

	(void)argv;
	if (argc > 1) {
		fputs("usage: jitlines\n", stderr);
		return 2;
	}
	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info info = {};
		struct jit_layout l = {};
		__u32 len = sizeof(info);
		struct btf *btf = NULL;
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue; /* unloaded meanwhile */
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			close(fd);
			continue;
		}
		if (!layout_read(fd, &info, &l)) {
			if (l.btf_id)
				btf = btf__load_from_kernel_by_id(l.btf_id);
			print_program(info.name, &l, btf);
			btf__free(btf);
			seen++;
		}
		layout_free(&l);
		close(fd);
	}
	if (!seen && errno == EPERM) {
		fputs("jitlines: the kernel refused to list BPF programs: run as root\n", stderr);
		return 1;
	}
	return 0;
}
