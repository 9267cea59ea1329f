/* GCP Secret Manager store (gcp-sm).
 *
 * GET {endpoint}/v1/projects/P/secrets/S/versions/V:access; payload.data is base64 and its
 * payload.dataCrc32c (CRC32C) is checked before the value is used. Tokens come from a
 * service-account JSON key (RS256 JWT signed with OpenSSL, exchanged at the key's token_uri)
 * or, without credentials_file, from the metadata server (GCE_METADATA_HOST overrides
 * metadata.google.internal). The private key and the tokens live only in secure buffers. */
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

#define KEY_FILE_CAP	  65536
#define DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define SCOPE		  "https://www.googleapis.com/auth/cloud-platform"
#define JWT_LIFETIME_S	  3600

struct gcp {
	char *project, *endpoint, *credentials_file;
	char *client_email, *private_key_id, *token_uri;
	lb_secbuf *private_key; /* PEM */
	char metadata_host[256];
	lb_oauth_token tok;
};

static void gcp_free(void *p)
{
	struct gcp *g = p;

	if (!g)
		return;
	free(g->project);
	free(g->endpoint);
	free(g->credentials_file);
	free(g->client_email);
	free(g->private_key_id);
	free(g->token_uri);
	lb_secbuf_free(g->private_key);
	lb_oauth_token_drop(&g->tok);
	free(g);
}

/* Secret ids: [A-Za-z0-9_-]{1,255}; versions: a number, "latest" or an alias (same set). */
static bool gcp_name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

static void gcp_authenticate(lb_nst *ns)
{
	struct gcp *g = lb_nst_data(ns);
	_cleanup_json_ json_t *hdr = NULL, *claims = NULL;
	_cleanup_json_str_ char *h = NULL, *cl = NULL;
	_cleanup_secbuf_ lb_secbuf *jwt = NULL;
	lb_secbuf *form = NULL;
	static const char grant[] = "urn:ietf:params:oauth:grant-type:jwt-bearer";
	int64_t now = (int64_t)time(NULL);
	char url[1024];
	lb_err e = {0};

	if (!g->private_key) {
		snprintf(g->tok.source, sizeof(g->tok.source), "metadata server");
		snprintf(g->tok.header, sizeof(g->tok.header), "Metadata-Flavor: Google");
		snprintf(url, sizeof(url),
			 "http://%s/computeMetadata/v1/instance/service-accounts/default/token",
			 g->metadata_host);
		lb_oauth_token_fetch(ns, &g->tok, url, NULL);
		return;
	}
	snprintf(g->tok.source, sizeof(g->tok.source), "service account key");
	hdr = json_pack("{s:s,s:s}", "alg", "RS256", "typ", "JWT");
	claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", g->client_email, "scope", SCOPE, "aud",
			   g->token_uri, "iat", (json_int_t)now, "exp",
			   (json_int_t)now + JWT_LIFETIME_S);
	if (hdr && claims && g->private_key_id)
		json_object_set_new(hdr, "kid", json_string(g->private_key_id));
	h = hdr ? json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	cl = claims ? json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!h || !cl) {
		lb_oauth_token_fail(ns, &g->tok, "out of memory");
		return;
	}
	if (lb_oauth_jwt_rs256(g->private_key, h, cl, &jwt, &e)) {
		lb_oauth_token_fail(ns, &g->tok, e.msg);
		return;
	}
	if (lb_oauth_form_add(&form, "grant_type", grant, sizeof(grant) - 1) ||
	    lb_oauth_form_add(&form, "assertion", jwt->data, jwt->len)) {
		lb_secbuf_free(form);
		lb_oauth_token_fail(ns, &g->tok, "out of secure memory");
		return;
	}
	lb_oauth_token_fetch(ns, &g->tok, g->token_uri, form);
}

static int gcp_read_request(lb_nst *ns, const lb_source *src, const char *target, lb_nst_req *req,
			    lb_err *e)
{
	struct gcp *g = lb_nst_data(ns);
	const char *ver = src->version[0] ? src->version : "latest";

	(void)target;
	if (!gcp_name_ok(src->path, 255))
		return lb_fail(e, 0, "not a secret id ([A-Za-z0-9_-], at most 255)");
	if (!gcp_name_ok(ver, 63))
		return lb_fail(e, 0, "not a version (a number, latest or an alias)");
	snprintf(req->method, sizeof(req->method), "GET");
	snprintf(req->path, sizeof(req->path), "%s/v1/projects/%s/secrets/%s/versions/%s:access",
		 g->endpoint, g->project, src->path, ver);
	snprintf(req->what, sizeof(req->what), "read %s", src->path);
	req->cred = LB_NST_CRED;
	return 0;
}

static int gcp_prepare(lb_nst *ns, const lb_nst_req *req, lb_nst_http *h, lb_err *e)
{
	struct gcp *g = lb_nst_data(ns);

	snprintf(h->url, sizeof(h->url), "%s", req->path);
	return lb_oauth_prepare(&g->tok, req, h, e);
}

static void gcp_classify(lb_nst *ns, const lb_nst_req *req, const lb_http_resp *resp,
			 lb_nst_reply *r)
{
	(void)ns;
	lb_oauth_classify(req, resp, r, lb_gcp_error);
}

static int gcp_read_parse(lb_nst *ns, const lb_source *src, const lb_nst_reply *r,
			  lb_fetch_result *res, lb_err *e)
{
	bool no_crc = false;

	if (r->verdict != LB_NST_OK)
		return lb_fail(e, 0, "%s", r->err.msg);
	if (lb_gcp_access_parse(r->json, &res->value, res->version, sizeof(res->version), &no_crc,
				e))
		return -1;
	if (no_crc)
		lb_log(LB_WARN, "gcp-sm store %s: %s: reply has no payload.dataCrc32c",
		       lb_nst_name(ns), src->path);
	res->structured = lb_nst_is_json_object(res->value);
	return 0;
}

static void gcp_cred_drop(lb_nst *ns)
{
	struct gcp *g = lb_nst_data(ns);

	lb_oauth_token_drop(&g->tok);
}

static json_t *gcp_health(lb_nst *ns)
{
	struct gcp *g = lb_nst_data(ns);
	json_t *h = json_pack("{s:s,s:s}", "project", g->project, "endpoint", g->endpoint);

	if (h)
		lb_oauth_health(&g->tok, h);
	return h;
}

static const lb_nst_provider gcp_provider = {
    .kind = "gcp-sm",
    .unauth_health = "authenticating",
    .authenticate = gcp_authenticate,
    .cred_drop = gcp_cred_drop,
    .prepare = gcp_prepare,
    .classify = gcp_classify,
    .read_request = gcp_read_request,
    .read_parse = gcp_read_parse,
    .health = gcp_health,
    .free = gcp_free,
};

static int gcp_load_key(struct gcp *g, lb_err *e)
{
	_cleanup_secbuf_ lb_secbuf *raw = NULL;
	_cleanup_json_ json_t *j = NULL;
	const char *type, *pk;
	json_error_t je;

	if (lb_nst_read_secret_file(g->credentials_file, KEY_FILE_CAP, false, &raw, e))
		return lb_fail_wrap(e, "credentials_file");
	j = json_loadb((const char *)raw->data, raw->len, 0, &je);
	if (!json_is_object(j))
		return lb_fail(e, 0, "credentials_file %s: not a JSON object (line %d)",
			       g->credentials_file, je.line);
	type = json_string_value(json_object_get(j, "type"));
	if (!type || strcmp(type, "service_account") != 0)
		return lb_fail(e, 0,
			       "credentials_file %s: type is \"%s\", expected \"service_account\"",
			       g->credentials_file, type ? type : "");
	pk = json_string_value(json_object_get(j, "private_key"));
	g->client_email = lb_opt_str(j, NULL, "client_email");
	g->private_key_id = lb_opt_str(j, NULL, "private_key_id");
	g->token_uri = lb_opt_str(j, NULL, "token_uri");
	if (!pk || !g->client_email)
		return lb_fail(e, 0, "credentials_file %s: needs private_key and client_email",
			       g->credentials_file);
	if (!g->token_uri && !(g->token_uri = strdup(DEFAULT_TOKEN_URI)))
		return lb_fail(e, ENOMEM, "out of memory");
	if (strncmp(g->token_uri, "https://", 8) != 0)
		return lb_fail(e, 0, "credentials_file %s: token_uri must be an https:// URL",
			       g->credentials_file);
	g->private_key = lb_secbuf_dup(pk, strlen(pk));
	if (!g->private_key)
		return lb_fail(e, ENOMEM, "out of secure memory");
	return 0;
}

static int gcp_open(lb_store *s, lb_err *e)
{
	json_t *o = s->cfg->opts;
	struct gcp *g = calloc(1, sizeof(*g));
	_cleanup_free_ char *ca_file = lb_opt_str(o, &lb_gcp_sm_schema.opts, "ca_file");
	const char *mh = getenv("GCE_METADATA_HOST");

	if (!g)
		return lb_fail(e, ENOMEM, "out of memory");
	g->project = lb_opt_str(o, &lb_gcp_sm_schema.opts, "project");
	g->endpoint = lb_opt_str(o, &lb_gcp_sm_schema.opts, "endpoint");
	g->credentials_file = lb_opt_str(o, &lb_gcp_sm_schema.opts, "credentials_file");
	if (!g->project || !g->endpoint) {
		gcp_free(g);
		return lb_fail(e, 0, "needs \"project\"");
	}
	if (!gcp_name_ok(g->project, 63) || strncmp(g->endpoint, "https://", 8) != 0) {
		gcp_free(g);
		return lb_fail(e, 0, "bad project id or endpoint (must be https://)");
	}
	while (strlen(g->endpoint) > 8 && g->endpoint[strlen(g->endpoint) - 1] == '/')
		g->endpoint[strlen(g->endpoint) - 1] = '\0';
	snprintf(g->metadata_host, sizeof(g->metadata_host), "%s",
		 mh && *mh ? mh : "metadata.google.internal");
	if (g->credentials_file && gcp_load_key(g, e)) {
		gcp_free(g);
		return -1;
	}
	lb_log(LB_INFO, "gcp-sm store %s: project %s, credentials from %s", s->name, g->project,
	       g->credentials_file ? g->credentials_file : g->metadata_host);
	return lb_nst_open(s, &gcp_provider, g, &(lb_nst_tls){.ca_file = ca_file}, e);
}

const lb_store_ops lb_gcp_sm_ops = {
    .type = "gcp-sm",
    .per_target = false,
    .open = gcp_open,
    .fetch = lb_nst_store_fetch,
    .health = lb_nst_store_health,
    .close = lb_nst_store_close,
};
