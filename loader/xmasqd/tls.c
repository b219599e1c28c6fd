// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Only clients the operator trusts get past the TLS handshake.
 *
 * libmicrohttpd only *requests* a client certificate when given a trust
 * list, and leaves verifying it to the request handler, after the request
 * has been read. Instead, xmasqd gives the server certificate itself
 * (MHD_OPTION_HTTPS_CERT_CALLBACK: GnuTLS calls it while it reads the
 * ClientHello, before it sends its CertificateRequest), and there marks
 * the session to require a client certificate and to verify it the moment
 * it arrives (gnutls_session_set_verify_function). A client without one,
 * with one that does not chain to --client-ca, is expired, lacks the
 * clientAuth purpose, or whose key is not in --allow-keys fails the
 * handshake: no request of it is ever read. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include "xmasqd.h"

#define MAX_CHAIN 8

static gnutls_pcert_st server_chain[MAX_CHAIN];
static unsigned server_chain_len;
static gnutls_privkey_t server_key;
static int check_ca;			/* --client-ca given: chain, expiry, purpose */
static char (*allowed)[XMD_SHA256_HEX]; /* --allow-keys */
static size_t n_allowed;
static int check_keys;

void xmd_sha256_hex(const void *data, size_t len, char out[XMD_SHA256_HEX])
{
	unsigned char d[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d) < 0) {
		out[0] = 0;
		return;
	}
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int read_file(const char *path, gnutls_datum_t *d, char *err, size_t errlen)
{
	int rc = gnutls_load_file(path, d);

	if (rc < 0)
		snprintf(err, errlen, "%s: cannot read it: %s", path,
			 errno ? strerror(errno) : gnutls_strerror(rc));
	return rc < 0 ? -1 : 0;
}

/* --allow-keys FILE: one SHA-256 (64 hex digits) of a SubjectPublicKeyInfo
 * a line; '#' starts a comment; blank lines are fine. */
static int load_allow_keys(const char *path, char *err, size_t errlen)
{
	char line[512];
	unsigned lineno = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;
		size_t n;

		lineno++;
		line[strcspn(line, "#\n")] = 0;
		while (isspace((unsigned char)*p))
			p++;
		end = p + strlen(p);
		while (end > p && isspace((unsigned char)end[-1]))
			*--end = 0;
		if (!*p)
			continue;
		n = strspn(p, "0123456789abcdefABCDEF");
		if (n != 64 || p[n]) {
			snprintf(err, errlen,
				 "%s:%u: '%s' is not a SHA-256 in hex (expected 64 hex digits: "
				 "openssl x509 -in CERT -pubkey -noout | openssl pkey -pubin "
				 "-outform DER | sha256sum)",
				 path, lineno, p);
			fclose(f);
			return -1;
		}
		allowed = realloc(allowed, (n_allowed + 1) * sizeof(*allowed));
		if (!allowed) {
			snprintf(err, errlen, "%s: out of memory", path);
			fclose(f);
			return -1;
		}
		for (size_t i = 0; i <= 64; i++)
			allowed[n_allowed][i] = (char)tolower((unsigned char)p[i]);
		n_allowed++;
	}
	fclose(f);
	if (!n_allowed) {
		snprintf(err, errlen, "%s: no key listed (every client would be refused)", path);
		return -1;
	}
	return 0;
}

int xmd_tls_init(const struct xmd_options *o, char **ca_pem, char *err, size_t errlen)
{
	gnutls_datum_t d = { 0 };
	int rc;

	*ca_pem = NULL;
	if (read_file(o->cert, &d, err, errlen))
		return -1;
	server_chain_len = MAX_CHAIN;
	rc = gnutls_pcert_list_import_x509_raw(server_chain, &server_chain_len, &d,
					       GNUTLS_X509_FMT_PEM, 0);
	gnutls_free(d.data);
	if (rc < 0) {
		snprintf(err, errlen, "%s: not a PEM certificate chain: %s", o->cert,
			 gnutls_strerror(rc));
		return -1;
	}
	if (read_file(o->key, &d, err, errlen))
		return -1;
	gnutls_privkey_init(&server_key);
	rc = gnutls_privkey_import_x509_raw(server_key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_free(d.data);
	if (rc < 0) {
		snprintf(err, errlen, "%s: not an unencrypted PEM private key: %s", o->key,
			 gnutls_strerror(rc));
		return -1;
	}
	if (o->client_ca) {
		if (read_file(o->client_ca, &d, err, errlen))
			return -1;
		*ca_pem = malloc(d.size + 1);
		if (!*ca_pem) {
			gnutls_free(d.data);
			snprintf(err, errlen, "%s: out of memory", o->client_ca);
			return -1;
		}
		memcpy(*ca_pem, d.data, d.size);
		(*ca_pem)[d.size] = 0;
		gnutls_free(d.data);
		check_ca = 1;
	}
	if (o->allow_keys) {
		if (load_allow_keys(o->allow_keys, err, errlen))
			return -1;
		check_keys = 1;
	}
	return 0;
}

/* The SHA-256 of the SubjectPublicKeyInfo of crt (DER). */
static int key_sha256(gnutls_x509_crt_t crt, char out[XMD_SHA256_HEX])
{
	gnutls_pubkey_t pub;
	gnutls_datum_t der = { 0 };
	int rc;

	out[0] = 0;
	if (gnutls_pubkey_init(&pub) < 0)
		return -1;
	rc = gnutls_pubkey_import_x509(pub, crt, 0);
	if (rc >= 0)
		rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der);
	if (rc >= 0)
		xmd_sha256_hex(der.data, der.size, out);
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pub);
	return rc < 0 ? -1 : 0;
}

static int peer_crt(gnutls_session_t session, gnutls_x509_crt_t *crt)
{
	const gnutls_datum_t *certs;
	unsigned n = 0;

	certs = gnutls_certificate_get_peers(session, &n);
	if (!certs || !n || gnutls_x509_crt_init(crt) < 0)
		return -1;
	if (gnutls_x509_crt_import(*crt, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(*crt);
		return -1;
	}
	return 0;
}

/* Says why in the log and to the client: a fatal alert, so that it sees
 * a TLS error (libmicrohttpd would only close the connection). */
static void refuse(gnutls_session_t session, gnutls_alert_description_t alert, const char *why)
{
	struct xmd_client c;

	xmd_tls_client(session, &c);
	fprintf(stderr, "xmasqd: TLS: refused the client certificate '%s' (key sha256 %s): %s\n",
		c.subject, c.key_sha256[0] ? c.key_sha256 : "?", why);
	gnutls_alert_send(session, GNUTLS_AL_FATAL, alert);
}

/* Runs when the client's Certificate message arrives; non-zero ends the
 * handshake with an alert. */
static int verify_client(gnutls_session_t session)
{
	unsigned n = 0;

	if (!gnutls_certificate_get_peers(session, &n) || !n) {
		fprintf(stderr, "xmasqd: TLS: refused a client without a certificate\n");
		gnutls_alert_send(session, GNUTLS_AL_FATAL,
				  gnutls_protocol_get_version(session) == GNUTLS_TLS1_3 ?
					  GNUTLS_A_CERTIFICATE_REQUIRED :
					  GNUTLS_A_HANDSHAKE_FAILURE);
		return -1;
	}
	if (check_ca) {
		gnutls_typed_vdata_st purpose = {
			.type = GNUTLS_DT_KEY_PURPOSE_OID,
			.data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
		};
		unsigned status = 0;
		gnutls_datum_t why = { 0 };
		int rc = gnutls_certificate_verify_peers(session, &purpose, 1, &status);

		if (rc < 0 || status) {
			gnutls_alert_description_t alert =
				(status & GNUTLS_CERT_EXPIRED) ? GNUTLS_A_CERTIFICATE_EXPIRED :
				(status & GNUTLS_CERT_SIGNER_NOT_FOUND) ? GNUTLS_A_UNKNOWN_CA :
									  GNUTLS_A_BAD_CERTIFICATE;

			if (rc < 0)
				refuse(session, alert, gnutls_strerror(rc));
			else if (gnutls_certificate_verification_status_print(
					 status, GNUTLS_CRT_X509, &why, 0) >= 0)
				refuse(session, alert, (const char *)why.data);
			else
				refuse(session, alert, "not trusted");
			gnutls_free(why.data);
			return -1;
		}
	}
	if (check_keys) {
		gnutls_x509_crt_t crt;
		char sha[XMD_SHA256_HEX];
		int ok = 0;

		if (peer_crt(session, &crt)) {
			refuse(session, GNUTLS_A_BAD_CERTIFICATE, "unreadable certificate");
			return -1;
		}
		if (key_sha256(crt, sha) == 0)
			for (size_t i = 0; i < n_allowed && !ok; i++)
				ok = !strcmp(sha, allowed[i]);
		gnutls_x509_crt_deinit(crt);
		if (!ok) {
			refuse(session, GNUTLS_A_ACCESS_DENIED, "its key is not in --allow-keys");
			return -1;
		}
	}
	return 0;
}

int xmd_tls_retrieve_cert(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
			  const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
			  gnutls_pcert_st **pcert, unsigned int *pcert_length,
			  gnutls_privkey_t *pkey)
{
	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	/* REQUEST, not REQUIRE: GnuTLS would end a handshake without a
	 * client certificate silently; verify_client refuses it with an
	 * alert the client can show. */
	gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
	gnutls_session_set_verify_function(session, verify_client);
	*pcert = server_chain;
	*pcert_length = server_chain_len;
	*pkey = server_key;
	return 0;
}

void xmd_tls_client(gnutls_session_t session, struct xmd_client *c)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = { 0 };

	snprintf(c->subject, sizeof(c->subject), "?");
	c->key_sha256[0] = 0;
	if (peer_crt(session, &crt))
		return;
	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
		size_t n = dn.size < sizeof(c->subject) - 1 ? dn.size : sizeof(c->subject) - 1;

		/* Printable ASCII only: it goes into logs and JSON as is. */
		for (size_t i = 0; i < n; i++)
			c->subject[i] = dn.data[i] >= 0x20 && dn.data[i] < 0x7f ? (char)dn.data[i] :
										  '?';
		c->subject[n] = 0;
	}
	gnutls_free(dn.data);
	key_sha256(crt, c->key_sha256);
	gnutls_x509_crt_deinit(crt);
}
