// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The option parser and the usage texts, both made from the tables of
 * cli.h. Parsing is getopt_long's, as it always was here: unique prefixes
 * (--pro), --opt=value, options after operands, "--" ending the options. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define CLI_MAX_OPTIONS 16
#define CLI_WIDTH	80
/* getopt_long's value for a long option without a letter: above any char */
#define CLI_LONG_ONLY	256

static const struct cli_option help_option = {
	"help", 'h', NULL, "print this help and exit", NULL, 0,
};

int cli_set_flag(void *opts, const struct cli_option *opt, const char *arg)
{
	(void)arg;
	*(int *)((char *)opts + opt->field) = 1;
	return 0;
}

int cli_set_string(void *opts, const struct cli_option *opt, const char *arg)
{
	*(const char **)((char *)opts + opt->field) = arg;
	return 0;
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("xmasq: ", stderr);
	if (cmd)
		fprintf(stderr, "%s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see xmasq %s%s--help)\n", cmd ? cmd->name : "", cmd ? " " : "");
	return EXIT_USAGE;
}

/* The long options starting with the len bytes of text: how many, and the
 * names of the first two in *first, *second. */
static int prefix_matches(const struct cli_option *options, const char *text, size_t len,
			  const char **first, const char **second)
{
	int n = 0;

	for (const struct cli_option *o = options; o->name; o++) {
		if (strncmp(o->name, text, len))
			continue;
		if (strlen(o->name) == len)
			return *first = o->name, 1; /* an exact match wins */
		if (n == 0)
			*first = o->name;
		else if (n == 1)
			*second = o->name;
		n++;
	}
	return n;
}

/* After getopt_long returned c ('?' or ':'): says what was wrong. Long
 * options always move optind past themselves; a short one is in optopt. */
static int bad_option(const struct cli_command *cmd, const struct cli_option *options,
		      const struct cli_option *by_val[], int c, char **argv)
{
	const char *text = argv[optind - 1], *first = NULL, *second = NULL;
	const struct cli_option *opt = NULL;
	int matches = 0;
	size_t len;

	if (optopt >= CLI_LONG_ONLY)
		opt = by_val[optopt - CLI_LONG_ONLY];
	else if (optopt == help_option.letter)
		opt = &help_option;
	else if (optopt > 0) {
		for (const struct cli_option *o = options; o->name; o++)
			if (o->letter == optopt)
				opt = o;
		if (!opt && c == '?')
			return cli_usage_error(cmd, "unknown option '-%c'", optopt);
	}
	if (opt && c == ':')
		return cli_usage_error(cmd, "option '--%s' needs an argument (%s)", opt->name,
				       opt->arg);
	if (opt)
		return cli_usage_error(cmd, "option '--%s' takes no argument", opt->name);
	/* An unknown or ambiguous long option: name it without any =VALUE. */
	len = strcspn(text, "=");
	if (strncmp(text, "--", 2) == 0)
		matches = prefix_matches(options, text + 2, len - 2, &first, &second);
	if (matches > 1)
		return cli_usage_error(cmd, "ambiguous option '%.*s': --%s%s--%s%s", (int)len, text,
				       first, matches > 2 ? ", " : " or ", second,
				       matches > 2 ? " and more" : "");
	return cli_usage_error(cmd, "unknown option '%.*s'", (int)len, text);
}

int cli_parse(const struct cli_command *cmd, const struct cli_option *options, void *opts, int argc,
	      char **argv, int *exit_status)
{
	struct option longopts[CLI_MAX_OPTIONS + 2];
	const struct cli_option *by_val[CLI_MAX_OPTIONS];
	char shortopts[3 + 2 * CLI_MAX_OPTIONS + 2];
	size_t n = 0, s = 0;
	int c;

	/* "+": global options end at the command; a command's options may
	 * follow its operands. ":": a missing argument is told apart. */
	if (!cmd)
		shortopts[s++] = '+';
	shortopts[s++] = ':';
	for (const struct cli_option *o = options; o->name; o++, n++) {
		if (n == CLI_MAX_OPTIONS)
			abort(); /* a table grew past CLI_MAX_OPTIONS */
		by_val[n] = o;
		longopts[n] = (struct option){ o->name, o->arg ? required_argument : no_argument,
					       NULL,
					       o->letter ? o->letter : CLI_LONG_ONLY + (int)n };
		if (o->letter) {
			shortopts[s++] = o->letter;
			if (o->arg)
				shortopts[s++] = ':';
		}
	}
	longopts[n++] = (struct option){ help_option.name, no_argument, NULL, help_option.letter };
	longopts[n] = (struct option){ 0 };
	shortopts[s++] = help_option.letter;
	shortopts[s] = '\0';

	opterr = 0;
	optind = 0; /* 0, not 1: glibc then forgets any earlier parse */
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct cli_option *opt = NULL;
		int rc;

		if (c == '?' || c == ':') {
			*exit_status = bad_option(cmd, options, by_val, c, argv);
			return -1;
		}
		if (c == help_option.letter) {
			*exit_status = 0;
			return -1;
		}
		if (c >= CLI_LONG_ONLY)
			opt = by_val[c - CLI_LONG_ONLY];
		for (const struct cli_option *o = options; !opt && o->name; o++)
			if (o->letter == c)
				opt = o;
		rc = opt->handle(opts, opt, optarg);
		if (rc) {
			*exit_status = rc;
			return -1;
		}
	}
	return optind;
}

/* ---- usage ---- */

/* Writes text from column col, wrapped at CLI_WIDTH, continuation lines
 * (and lines after a '\n' in text) starting at column indent. */
static void wrap(FILE *o, const char *text, int col, int indent)
{
	while (*text) {
		size_t word = strcspn(text, " \n");

		if (col > indent && col + 1 + (int)word > CLI_WIDTH) {
			fprintf(o, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', o);
			col++;
		}
		fprintf(o, "%.*s", (int)word, text);
		col += (int)word;
		text += word;
		if (*text == '\n') {
			fprintf(o, "\n%*s", indent, "");
			col = indent;
		}
		text += strspn(text, " \n");
	}
	fputc('\n', o);
}

/* "--mode MODE" */
static int option_width(const struct cli_option *opt)
{
	return 2 + (int)strlen(opt->name) + (opt->arg ? 1 + (int)strlen(opt->arg) : 0);
}

static void option_list(FILE *o, const struct cli_option *options)
{
	int width = option_width(&help_option);

	for (const struct cli_option *opt = options; opt->name; opt++)
		if (option_width(opt) > width)
			width = option_width(opt);
	for (const struct cli_option *opt = options;; opt++) {
		char item[64];

		if (!opt->name)
			opt = &help_option;
		snprintf(item, sizeof(item), "--%s%s%s", opt->name, opt->arg ? " " : "",
			 opt->arg ? opt->arg : "");
		if (opt->letter)
			fprintf(o, "  -%c, %-*s  ", opt->letter, width, item);
		else
			fprintf(o, "      %-*s  ", width, item);
		wrap(o, opt->help, 6 + width + 2, 6 + width + 2);
		if (opt == &help_option)
			break;
	}
}

/* "attach [--mode MODE] [--fresh] ... IFACE..." */
static void synopsis(FILE *o, const struct cli_command *cmd, int col, int indent)
{
	char item[128];

	fputs(cmd->name, o);
	col += (int)strlen(cmd->name);
	for (const struct cli_option *opt = cmd->options;; opt++) {
		int len;

		if (opt->name)
			len = snprintf(item, sizeof(item), "[--%s%s%s]", opt->name,
				       opt->arg ? " " : "", opt->arg ? opt->arg : "");
		else if (cmd->operands)
			len = snprintf(item, sizeof(item), "%s", cmd->operands);
		else
			break;
		if (col + 1 + len > CLI_WIDTH) {
			fprintf(o, "\n%*s", indent, "");
			col = indent;
		} else {
			fputc(' ', o);
			col++;
		}
		fputs(item, o);
		col += len;
		if (!opt->name)
			break;
	}
	fputc('\n', o);
}

void cli_usage_command(FILE *o, const struct cli_command *cmd)
{
	fputs("usage: xmasq [GLOBAL OPTIONS] ", o);
	synopsis(o, cmd, 30, 8);
	fputc('\n', o);
	wrap(o, cmd->description, 0, 0);
	fputs("\noptions:\n", o);
	option_list(o, cmd->options);
	fputs("\nglobal options (--pin-dir, -v) go before the command: see xmasq --help\n", o);
}

void cli_usage_main(FILE *o, const struct cli_command *const *cmds,
		    const struct cli_option *global_options)
{
	fputs("usage: xmasq [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
	      "       xmasq help [COMMAND]\n"
	      "\n"
	      "NAPT router on XDP: port forwarding with masquerade, replies out of the\n"
	      "interface they came in on.\n"
	      "\n"
	      "commands:\n",
	      o);
	for (; *cmds; cmds++) {
		fputs("  ", o);
		synopsis(o, *cmds, 2, 8);
		fputs("      ", o);
		wrap(o, (*cmds)->summary, 6, 6);
	}
	fputs("\nglobal options:\n", o);
	option_list(o, global_options);
	fputs("\nEvery command takes --help (or: xmasq help COMMAND).\n"
	      "exit status: 0 ok, 1 runtime failure, 2 usage or rules error\n",
	      o);
}

/* ---- exit status ---- */

int cli_exit_status(int lib_rc)
{
	if (lib_rc == 0)
		return 0;
	return lib_rc == -2 ? EXIT_USAGE : EXIT_FAILURE;
}

int cli_fail(int lib_rc, const char *err, const char *prefix)
{
	if (lib_rc == 0)
		return 0;
	if (prefix && strncmp(err, prefix, strlen(prefix)) == 0)
		fprintf(stderr, "%s\n", err);
	else
		fprintf(stderr, "xmasq: %s\n", err);
	return cli_exit_status(lib_rc);
}
