/* Azure Key Vault store (azure-kv).
 *
 * GET {vault}/secrets/NAME[/VERSION]?api-version=7.4 -> {"value", "id": ".../NAME/VERSION"}.
 * Tokens: client credentials against Entra ID ({authority_host}/TENANT/oauth2/v2.0/token)
 * with a client secret file, or a client certificate file (PEM key + certificate) whose
 * RS256 client assertion carries the certificate's x5t; without a client credential, the
 * managed identity through IMDS (AZURE_IMDS_ENDPOINT overrides http://169.254.169.254).
 * The token's resource is the vault's DNS suffix (https://vault.azure.net for
 * x.vault.azure.net, as the 401 challenge of Key Vault names it); a 401 (the challenge, a
 * token the vault no longer takes) gets a new token and one replay. */
#include "cloud_parse.h"
#include "netstore.h"
#include "oauth.h"
#include "cleanup.h"
#include "storeopts.h"
#include "log.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define API_VERSION	 "7.4"
#define CRED_FILE_CAP	 65536
#define DEFAULT_IMDS	 "http://169.254.169.254"
#define ASSERTION_LIFE_S 600

enum azure_cred { CRED_SECRET, CRED_CERT, CRED_IMDS };

struct azure {
	char *vault_url, *endpoint, *tenant_id, *client_id, *secret_file, *cert_file;
	char *authority;
	char resource[256];
	char imds[256];
	enum azure_cred cred;
	lb_oauth_token tok;
};

static void azure_free(void *p)
{
	struct azure *a = p;

	if (!a)
		return;
	free(a->vault_url);
	free(a->endpoint);
	free(a->tenant_id);
	free(a->client_id);
	free(a->secret_file);
	free(a->cert_file);
	free(a->authority);
	lb_oauth_token_drop(&a->tok);
	free(a);
}

static bool azure_chars_ok(const char *s, size_t min, size_t max, bool dash)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !(dash && *s == '-'))
			return false;
	return true;
}

static void bio_freep(BIO **b)
{
	BIO_free(*b);
}
static void x509_freep(X509 **x)
{
	X509_free(*x);
}

/* x5t: base64url of the SHA-1 of the certificate's DER, as Entra ID expects. */
static int cert_x5t(const lb_secbuf *pem, char **out, lb_err *e)
{
	_cleanup_(bio_freep) BIO *bio = NULL;
	_cleanup_(x509_freep) X509 *x = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (pem->len > INT32_MAX)
		return lb_fail(e, 0, "certificate file too large");
	bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	if (bio)
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!x)
		return lb_fail(e, 0, "client_certificate_file has no PEM certificate");
	if (X509_digest(x, EVP_sha1(), md, &mdlen) != 1)
		return lb_fail(e, 0, "certificate digest failed");
	*out = lb_oauth_b64url(md, mdlen);
	return *out ? 0 : lb_fail(e, ENOMEM, "out of memory");
}

static int client_assertion(struct azure *a, const char *aud, lb_secbuf **jwt, lb_err *e)
{
	_cleanup_secbuf_ lb_secbuf *pem = NULL;
	_cleanup_free_ char *x5t = NULL;
	_cleanup_json_ json_t *hdr = NULL, *claims = NULL;
	_cleanup_json_str_ char *h = NULL, *cl = NULL;
	unsigned char rnd[16];
	char jti[33];
	int64_t now = (int64_t)time(NULL);

	if (lb_nst_read_secret_file(a->cert_file, CRED_FILE_CAP, false, &pem, e) ||
	    cert_x5t(pem, &x5t, e))
		return -1;
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(jti, sizeof(jti), rnd, sizeof(rnd));
	hdr = json_pack("{s:s,s:s,s:s}", "alg", "RS256", "typ", "JWT", "x5t", x5t);
	claims = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "aud", aud, "iss", a->client_id, "sub",
			   a->client_id, "jti", jti, "nbf", (json_int_t)now, "iat", (json_int_t)now,
			   "exp", (json_int_t)now + ASSERTION_LIFE_S);
	if (!hdr || !claims)
		return lb_fail(e, ENOMEM, "out of memory");
	h = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
	cl = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
	if (!h || !cl)
		return lb_fail(e, ENOMEM, "out of memory");
	return lb_oauth_jwt_rs256(pem, h, cl, jwt, e);
}

static void azure_authenticate(lb_nst *ns)
{
	struct azure *a = lb_nst_data(ns);
	_cleanup_secbuf_ lb_secbuf *secret = NULL, *jwt = NULL;
	static const char atype[] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
	lb_secbuf *form = NULL;
	char scope[300], url[1024];
	lb_err e = {0};
	int rc = 0;

	if (a->cred == CRED_IMDS) {
		lb_secbuf *q = NULL;
		snprintf(a->tok.source, sizeof(a->tok.source), "managed identity");
		snprintf(a->tok.header, sizeof(a->tok.header), "Metadata: true");
		/* The query, encoded as a form ("resource=https%3A%2F%2F..."). */
		if (lb_oauth_form_add(&q, "resource", a->resource, strlen(a->resource)) ||
		    (a->client_id &&
		     lb_oauth_form_add(&q, "client_id", a->client_id, strlen(a->client_id)))) {
			lb_secbuf_free(q);
			lb_oauth_token_fail(ns, &a->tok, "out of secure memory");
			return;
		}
		snprintf(url, sizeof(url),
			 "%s/metadata/identity/oauth2/token?api-version=2018-02-01&%s", a->imds,
			 (const char *)q->data);
		lb_secbuf_free(q);
		lb_oauth_token_fetch(ns, &a->tok, url, NULL);
		return;
	}
	a->tok.header[0] = '\0';
	snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/token", a->authority, a->tenant_id);
	snprintf(scope, sizeof(scope), "%s/.default", a->resource);
	if (a->cred == CRED_SECRET) {
		snprintf(a->tok.source, sizeof(a->tok.source), "client secret");
		if (lb_nst_read_secret_file(a->secret_file, CRED_FILE_CAP, true, &secret, &e)) {
			lb_oauth_token_fail(ns, &a->tok, e.msg);
			return;
		}
	} else {
		snprintf(a->tok.source, sizeof(a->tok.source), "client certificate");
		if (client_assertion(a, url, &jwt, &e)) {
			lb_oauth_token_fail(ns, &a->tok, e.msg);
			return;
		}
	}
	rc |= lb_oauth_form_add(&form, "grant_type", "client_credentials", 18);
	rc |= lb_oauth_form_add(&form, "client_id", a->client_id, strlen(a->client_id));
	rc |= lb_oauth_form_add(&form, "scope", scope, strlen(scope));
	if (secret) {
		rc |= lb_oauth_form_add(&form, "client_secret", secret->data, secret->len);
	} else if (jwt) {
		rc |= lb_oauth_form_add(&form, "client_assertion_type", atype, sizeof(atype) - 1);
		rc |= lb_oauth_form_add(&form, "client_assertion", jwt->data, jwt->len);
	} else {
		rc = -1; /* neither credential was read: cannot happen */
	}
	if (rc) {
		lb_secbuf_free(form);
		lb_oauth_token_fail(ns, &a->tok, "out of secure memory");
		return;
	}
	lb_oauth_token_fetch(ns, &a->tok, url, form);
}

static int azure_read_request(lb_nst *ns, const lb_source *src, const char *target, lb_nst_req *req,
			      lb_err *e)
{
	struct azure *a = lb_nst_data(ns);

	(void)target;
	if (!azure_chars_ok(src->path, 1, 127, true))
		return lb_fail(e, 0, "not a Key Vault secret name ([0-9a-zA-Z-], 1-127)");
	if (src->version[0] && !azure_chars_ok(src->version, 1, 63, false))
		return lb_fail(e, 0, "not a Key Vault secret version");
	snprintf(req->method, sizeof(req->method), "GET");
	snprintf(req->path, sizeof(req->path), "%s/secrets/%s%s%s?api-version=" API_VERSION,
		 a->endpoint ? a->endpoint : a->vault_url, src->path, src->version[0] ? "/" : "",
		 src->version);
	snprintf(req->what, sizeof(req->what), "read %s", src->path);
	req->cred = LB_NST_CRED;
	return 0;
}

static int azure_prepare(lb_nst *ns, const lb_nst_req *req, lb_nst_http *h, lb_err *e)
{
	struct azure *a = lb_nst_data(ns);

	snprintf(h->url, sizeof(h->url), "%s", req->path);
	return lb_oauth_prepare(&a->tok, req, h, e);
}

static void azure_classify(lb_nst *ns, const lb_nst_req *req, const lb_http_resp *resp,
			   lb_nst_reply *r)
{
	(void)ns;
	lb_oauth_classify(req, resp, r, lb_azure_error);
}

static int azure_read_parse(lb_nst *ns, const lb_source *src, const lb_nst_reply *r,
			    lb_fetch_result *res, lb_err *e)
{
	(void)ns;
	(void)src;
	if (r->verdict != LB_NST_OK)
		return lb_fail(e, 0, "%s", r->err.msg);
	if (lb_azure_secret_parse(r->json, &res->value, res->version, sizeof(res->version), e))
		return -1;
	res->structured = lb_nst_is_json_object(res->value);
	return 0;
}

static void azure_cred_drop(lb_nst *ns)
{
	struct azure *a = lb_nst_data(ns);

	lb_oauth_token_drop(&a->tok);
}

static json_t *azure_health(lb_nst *ns)
{
	struct azure *a = lb_nst_data(ns);
	json_t *h = json_pack("{s:s,s:s}", "vault_url", a->vault_url, "resource", a->resource);

	if (h)
		lb_oauth_health(&a->tok, h);
	return h;
}

static const lb_nst_provider azure_provider = {
    .kind = "azure-kv",
    .unauth_health = "authenticating",
    .authenticate = azure_authenticate,
    .cred_drop = azure_cred_drop,
    .prepare = azure_prepare,
    .classify = azure_classify,
    .read_request = azure_read_request,
    .read_parse = azure_read_parse,
    .health = azure_health,
    .free = azure_free,
};

static void trim_slashes(char *u)
{
	while (u && strlen(u) > 8 && u[strlen(u) - 1] == '/')
		u[strlen(u) - 1] = '\0';
}

/* https://NAME.vault.azure.net -> https://vault.azure.net (the resource Key Vault's 401
 * challenge names; the same rule covers the sovereign clouds' suffixes). */
static int vault_resource(struct azure *a)
{
	const char *host = a->vault_url + 8;
	size_t hl = strcspn(host, ":/");
	const char *dot = memchr(host, '.', hl);
	size_t rest;

	if (hl == 0)
		return -1;
	if (!dot || !memchr(dot + 1, '.', hl - (size_t)(dot + 1 - host)))
		dot = host - 1; /* no suffix to keep: the host itself */
	rest = hl - (size_t)(dot + 1 - host);
	snprintf(a->resource, sizeof(a->resource), "https://%.*s", (int)rest, dot + 1);
	return 0;
}

static int azure_open(lb_store *s, lb_err *e)
{
	json_t *o = s->cfg->opts;
	struct azure *a = calloc(1, sizeof(*a));
	_cleanup_free_ char *ca_file = lb_opt_str(o, &lb_azure_kv_schema.opts, "ca_file");
	const char *imds = getenv("AZURE_IMDS_ENDPOINT");

	if (!a)
		return lb_fail(e, ENOMEM, "out of memory");
	a->vault_url = lb_opt_str(o, &lb_azure_kv_schema.opts, "vault_url");
	a->endpoint = lb_opt_str(o, &lb_azure_kv_schema.opts, "endpoint");
	a->tenant_id = lb_opt_str(o, &lb_azure_kv_schema.opts, "tenant_id");
	a->client_id = lb_opt_str(o, &lb_azure_kv_schema.opts, "client_id");
	a->secret_file = lb_opt_str(o, &lb_azure_kv_schema.opts, "client_secret_file");
	a->cert_file = lb_opt_str(o, &lb_azure_kv_schema.opts, "client_certificate_file");
	a->authority = lb_opt_str(o, &lb_azure_kv_schema.opts, "authority_host");
	trim_slashes(a->vault_url);
	trim_slashes(a->endpoint);
	trim_slashes(a->authority);
	if (!a->vault_url || strncmp(a->vault_url, "https://", 8) != 0 || !a->authority ||
	    vault_resource(a)) {
		azure_free(a);
		return lb_fail(e, 0, "vault_url must be an https:// URL");
	}
	if ((a->endpoint && strncmp(a->endpoint, "https://", 8) != 0) ||
	    strncmp(a->authority, "https://", 8) != 0) {
		azure_free(a);
		return lb_fail(e, 0, "endpoint and authority_host must be https:// URLs");
	}
	if (a->secret_file && a->cert_file) {
		azure_free(a);
		return lb_fail(e, 0,
			       "client_secret_file and client_certificate_file exclude "
			       "each other");
	}
	a->cred = a->secret_file ? CRED_SECRET : a->cert_file ? CRED_CERT : CRED_IMDS;
	if (a->cred != CRED_IMDS &&
	    (!a->tenant_id || !a->client_id || !azure_chars_ok(a->tenant_id, 1, 64, true))) {
		azure_free(a);
		return lb_fail(e, 0,
			       "a client secret or certificate needs tenant_id and client_id");
	}
	if (imds && *imds)
		snprintf(a->imds, sizeof(a->imds), "%s%s",
			 strncmp(imds, "http://", 7) == 0 ? "" : "http://", imds);
	else
		snprintf(a->imds, sizeof(a->imds), "%s", DEFAULT_IMDS);
	trim_slashes(a->imds);
	lb_log(LB_INFO, "azure-kv store %s: %s, resource %s, credentials: %s", s->name,
	       a->vault_url, a->resource,
	       a->cred == CRED_SECRET ? "client secret"
	       : a->cred == CRED_CERT ? "client certificate"
				      : "managed identity (IMDS)");
	return lb_nst_open(s, &azure_provider, a, &(lb_nst_tls){.ca_file = ca_file}, e);
}

const lb_store_ops lb_azure_kv_ops = {
    .type = "azure-kv",
    .per_target = false,
    .open = azure_open,
    .fetch = lb_nst_store_fetch,
    .health = lb_nst_store_health,
    .close = lb_nst_store_close,
};
