/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Unit test of the network file and the rules derived from it (loader/lib/sites.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "sites.h"

#define NET "net.conf"

static const char two_sites[] = "# paris and berlin exchange a database and a web site; rome is a "
				"member\n"
				"site paris  public 198.51.100.10 on eth0 private eth1\n"
				"site berlin public 198.51.100.20 on eth0 private lan0\n"
				"site rome   public 198.51.100.30,198.51.100.31 on wan private "
				"lan\n"
				"\n"
				"service db  at paris  tcp 5432 to 10.1.0.5   # the database\n"
				"service web at berlin tcp 80   to 10.2.0.7:8080\n"
				"service dns at berlin udp 5300-5301 to 10.2.0.9:53\n"
				"import db  into berlin at 10.2.255.1\n"
				"import web into paris  at 10.1.255.1:8080\n"
				"import db  into rome   at 10.3.255.1\n";

static int derive(const char *text, const char *site, struct xm_derived *d, char *err,
		  size_t errlen)
{
	struct xm_network net;
	int rc = xm_network_parse(text, strlen(text), NET, &net, err, errlen);

	if (rc)
		return rc;
	rc = xm_network_derive(&net, NET, site, d, err, errlen);
	xm_network_free(&net);
	return rc;
}

static void derives(const char *text, const char *site, const char *want, size_t n_rules,
		    const char *what)
{
	struct xm_derived d;
	char err[512] = "";
	int rc = derive(text, site, &d, err, sizeof(err));

	if (!tap_ok(rc == 0 && !strcmp(d.text, want) && d.n_rules == n_rules, "derives %s", what)) {
		tap_diag("rc %d err '%s'", rc, err);
		tap_diag("got:\n%s", rc ? "" : d.text);
		tap_diag("want:\n%s", want);
	}
	if (!rc)
		xm_derived_free(&d);
}

static void test_derive_each_site(void)
{
	struct xm_derived d;
	char err[256];

	derives(two_sites, "paris",
		"# derived for site paris from net.conf: change net.conf, not these lines\n"
		"forward eth0 tcp 5432 to 10.1.0.5:5432 from 198.51.100.20,198.51.100.30,"
		"198.51.100.31 # net.conf:6: service db for berlin,rome\n"
		"forward eth1:10.1.255.1 tcp 8080 to 198.51.100.20:80 # net.conf:10: service web "
		"from berlin\n",
		2, "paris: the export for two sites' addresses, the import at its VIP and port");
	derives(two_sites, "berlin",
		"# derived for site berlin from net.conf: change net.conf, not these lines\n"
		"forward eth0 tcp 80 to 10.2.0.7:8080 from 198.51.100.10 # net.conf:7: service "
		"web for paris\n"
		"# net.conf:8: service dns: no site imports it, not forwarded\n"
		"forward lan0:10.2.255.1 tcp 5432 to 198.51.100.10:5432 # net.conf:9: service db "
		"from paris\n",
		2, "berlin: an export, an unimported service left out, an import");
	derives(two_sites, "rome",
		"# derived for site rome from net.conf: change net.conf, not these lines\n"
		"forward lan:10.3.255.1 tcp 5432 to 198.51.100.10:5432 # net.conf:11: service db "
		"from paris\n",
		1, "rome: one import on its own private NIC");

	TAP_EQ(derive(two_sites, "berlin", &d, err, sizeof(err)), 0, "berlin derives");
	TAP_EQ(d.n_lines, 4, "berlin: four lines");
	TAP_EQ(d.line_of[2], 7, "the export's line is the service's");
	TAP_EQ(d.line_of[4], 9, "the import's line is the import's");
	xm_derived_free(&d);

	TAP_EQ(derive(two_sites, "madrid", &d, err, sizeof(err)), -2, "an unknown site");
	tap_ok(!strcmp(err, "net.conf: no site 'madrid' (expected one of: paris, berlin, rome)"),
	       "the error lists the sites: %s", err);
}

static void bad(const char *text, const char *want, const char *what)
{
	struct xm_network net;
	char err[512];
	int rc;

	memset(&net, 0x5a, sizeof(net));
	rc = xm_network_parse(text, strlen(text), NET, &net, err, sizeof(err));
	if (!tap_ok(rc == -2 && !strcmp(err, want) && !net.sites && !net.services && !net.imports,
		    "rejects %s", what)) {
		tap_diag("got:  %d '%s'", rc, err);
		tap_diag("want: '%s'", want);
	}
}

#define S1 "site a public 192.0.2.1 on eth0 private eth1\n"
#define S2 "site b public 192.0.2.2 on eth0 private eth1\n"
#define SV "service db at a tcp 5432 to 10.1.0.5\n"

static void test_errors(void)
{
	bad("sight a\n",
	    "net.conf:1:1: unknown statement 'sight' (expected site, service or import)",
	    "an unknown statement");
	bad("site a public 192.0.2.1 on eth0\n",
	    "net.conf:1:32: missing 'private' (expected: site NAME public ADDR[,ADDR...] on IFACE "
	    "private IFACE)",
	    "a site without its private NIC (column at the line's end)");
	bad("site Paris public 192.0.2.1 on eth0 private eth1\n",
	    "net.conf:1:6: invalid character 'P' in site name 'Paris' (expected lower-case "
	    "letters, "
	    "digits, '_' or '-')",
	    "an upper-case site name");
	bad(S1 "site a public 192.0.2.2 on eth0 private eth1\n",
	    "net.conf:2:6: site 'a' already declared on line 1 (expected each site once)",
	    "a site twice");
	bad(S1 "site b public 192.0.2.3,192.0.2.1 on eth0 private eth1\n",
	    "net.conf:2:25: public address 192.0.2.1 is site a's already (line 1; expected each "
	    "site's own addresses)",
	    "an address of two sites");
	bad("site a public 192.0.2.01 on eth0 private eth1\n",
	    "net.conf:1:15: invalid public address '192.0.2.01' (expected an IPv4 address such as "
	    "198.51.100.10, or several separated by commas)",
	    "a leading zero");
	bad("site a public 127.0.0.1 on eth0 private eth1\n",
	    "net.conf:1:15: public address 127.0.0.1 is not usable: loopback (expected an ordinary "
	    "unicast address)",
	    "a loopback public address");
	bad("site a public 192.0.2.1 on eth0 private eth0\n",
	    "net.conf:1:41: private interface eth0 is the public one (expected the NIC facing the "
	    "site's hosts)",
	    "one NIC for both sides");
	bad(S1 "site b public 192.0.2.2 on eth0 private eth1 extra\n",
	    "net.conf:2:46: unexpected 'extra' (expected end of line after: site NAME public "
	    "ADDR[,ADDR...] on IFACE private IFACE)",
	    "a word after a site");
	bad(S1 "service db at z tcp 5432 to 10.1.0.5\n",
	    "net.conf:2:15: unknown site 'z' (expected a site declared above: site NAME public "
	    "ADDR[,ADDR...] on IFACE private IFACE)",
	    "a service at an unknown site");
	bad(S1 "service db at a sctp 5432 to 10.1.0.5\n",
	    "net.conf:2:17: unknown protocol 'sctp' (expected tcp or udp)", "an unknown protocol");
	bad(S1 "service db at a tcp 70000 to 10.1.0.5\n",
	    "net.conf:2:21: invalid port '70000' (expected a port 1-65535 or a range such as "
	    "5000-5010)",
	    "a port out of range");
	bad(S1 SV "service db2 at a tcp 5000-6000 to 10.1.0.6\n",
	    "net.conf:3:22: port 5000-6000 overlaps service db on line 2 (expected each of site "
	    "a's "
	    "public ports in one service)",
	    "two services on one public port");
	bad(S1 SV "service db at a tcp 5433 to 10.1.0.6\n",
	    "net.conf:3:9: service 'db' already declared on line 2 (expected each service name "
	    "once)",
	    "a service name twice");
	bad(S1 "service md at a tcp 80 to 169.254.169.254\n",
	    "net.conf:2:27: backend address 169.254.169.254 is not usable: cloud metadata service "
	    "(expected an ordinary unicast address)",
	    "the metadata service as a backend");
	bad(S1 "service r at a tcp 80-81 to 10.1.0.5:90-92\n",
	    "net.conf:2:38: backend range 90-92 has 3 ports but the service 2 (expected as many, "
	    "or "
	    "one backend port)",
	    "unequal port ranges");
	bad(S1 SV "import db into a at 10.1.255.1\n",
	    "net.conf:3:16: site a exports db itself (expected another site: a's hosts reach the "
	    "service at its own address)",
	    "an import by the exporting site");
	bad(S1 S2 SV "import dc into b at 10.2.255.1\n",
	    "net.conf:4:8: unknown service 'dc' (expected a service declared above: service NAME "
	    "at SITE PROTO PORT[-PORT] to ADDR[:PORT[-PORT]])",
	    "an unknown service");
	bad(S1 S2 SV "import db into b at 10.2.255.1\nimport db into b at 10.2.255.2\n",
	    "net.conf:5:16: site b imports db already on line 4 (expected each import once)",
	    "an import twice");
	bad(S1 S2 SV "service pg at a tcp 5433 to 10.1.0.6:5432\n"
		     "import db into b at 10.2.255.1\nimport pg into b at 10.2.255.1:5432\n",
	    "net.conf:6:21: tcp port 5432 at 10.2.255.1 is service db's already (line 5; expected "
	    "another address or port)",
	    "two imports on one private address and port");
	bad(S1 S2 "service r at a tcp 100-200 to 10.1.0.5\nimport r into b at 10.2.255.1:65500\n",
	    "net.conf:4:31: ports 65500-65600 run past 65535 (service r has 101 ports; expected a "
	    "lower first port)",
	    "an import's ports past 65535");
	bad(S1 S2 SV "import db into b at 10.2.255.1 please\n",
	    "net.conf:4:32: unexpected 'please' (expected end of line after: import SERVICE into "
	    "SITE at ADDR[:PORT])",
	    "a word after an import");
	bad(S1 "site b public 192.0.2.2 on eth0 private \x01th1\n",
	    "net.conf:2:41: byte 0x01 in the text (expected printable ASCII, words separated by "
	    "spaces or tabs)",
	    "a control character");
}

static void test_too_many_importers(void)
{
	char *text = malloc(16384);
	struct xm_derived d;
	char err[512];
	size_t at = 0;

	at += (size_t)sprintf(text + at, S1 SV);
	for (int i = 0; i < 65; i++)
		at += (size_t)sprintf(text + at,
				      "site s%d public 198.18.0.%d on eth0 private eth1\n"
				      "import db into s%d at 10.9.0.1\n",
				      i, i + 1, i);
	TAP_EQ(derive(text, "a", &d, err, sizeof(err)), -2, "65 importers refused");
	tap_ok(!strcmp(err, "net.conf:2:1: service db has more than 64 importing addresses "
			    "(expected at most 64: a `from` list's limit)"),
	       "the error names the service: %s", err);
	free(text);
}

static void test_with_own_rules(void)
{
	static const char own[] = "masquerade 10.1.0.0/16 out eth0\nforward eth0 tcp 22 to "
				  "10.1.0.2";
	static const char clash[] = "forward eth0 tcp 5432 to 10.1.0.9\n";
	static const char bad_own[] = "forward eth0 tcp 22 to\n";
	struct xm_ruleset rs;
	struct xm_derived d;
	unsigned own_lines;
	char err[512];
	int rc;

	rc = xm_rules_parse_with_network(bad_own, strlen(bad_own), "rules.conf", two_sites,
					 strlen(two_sites), NET, "paris", &rs, &d, &own_lines, err,
					 sizeof(err));
	tap_ok(rc == -2 && !strncmp(err, "rules.conf:1:23: missing destination address", 44),
	       "an error in the router's own rules names its file: %s", err);

	rc = xm_rules_parse_with_network(own, strlen(own), "rules.conf", two_sites,
					 strlen(two_sites), NET, "paris", &rs, &d, &own_lines, err,
					 sizeof(err));
	if (!tap_ok(rc == 0, "own rules and the derived ones parse as one set"))
		tap_diag("%s", err);
	TAP_EQ(own_lines, 2, "two own lines (the last without a newline)");
	TAP_EQ(rs.n_rules, 3, "one own forward and two derived");
	TAP_EQ(rs.n_masqs, 1, "the own masquerade");
	if (rs.n_rules == 3) {
		TAP_EQ(rs.rules[1].line, 4, "the first derived rule is on line 4 of the whole");
		TAP_EQ(d.line_of[rs.rules[1].line - own_lines], 6,
		       "which maps to the service's line");
	}
	xm_ruleset_free(&rs);
	xm_derived_free(&d);

	rc = xm_rules_parse_with_network(clash, strlen(clash), "rules.conf", two_sites,
					 strlen(two_sites), NET, "paris", &rs, &d, &own_lines, err,
					 sizeof(err));
	tap_ok(rc == -2 && !strcmp(err, "net.conf:6:1: in the rules derived for site paris: port "
					"5432 overlaps the rule on line 1 (expected each eth0 tcp "
					"port in one rule only) (the line named is rules.conf's)"),
	       "a derived rule clashing with an own one names the network file's line: %s", err);
}

int main(void)
{
	test_derive_each_site();
	test_errors();
	test_too_many_importers();
	test_with_own_rules();
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
