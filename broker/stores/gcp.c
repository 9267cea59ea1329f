/* GCP Secret Manager store (gcp-sm).
 *
 * GET {endpoint}/v1/projects/P/secrets/S/versions/V:access; payload.data is base64 and its
 * payload.dataCrc32c (CRC32C) is checked before the value is used. Tokens come from a
 * service-account JSON key (RS256 JWT signed with OpenSSL, exchanged at the key's token_uri)
 * or, without credentials_file, from the metadata server (GCE_METADATA_HOST overrides
 * metadata.google.internal). The private key and the tokens live only in secure buffers. */
#include "gcp_azure_common.h"
#include "cleanup.h"
#include "log.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_FILE_CAP	  65536
#define DEFAULT_ENDPOINT  "https://secretmanager.googleapis.com"
#define DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define SCOPE		  "https://www.googleapis.com/auth/cloud-platform"
#define JWT_LIFETIME_S	  3600

struct gcp {
	char *project, *endpoint, *credentials_file;
	char *client_email, *private_key_id, *token_uri;
	lb_secbuf *private_key; /* PEM */
	char metadata_host[256];
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

static int gcp_token_request(lbc *c, lbc_token_req *tr, char *err, size_t cap)
{
	struct gcp *g = lbc_impl_data(c);
	_cleanup_json_ json_t *hdr = NULL, *claims = NULL;
	_cleanup_json_str_ char *h = NULL, *cl = NULL;
	_cleanup_secbuf_ lb_secbuf *jwt = NULL;
	static const char grant[] = "urn:ietf:params:oauth:grant-type:jwt-bearer";
	int64_t now = (int64_t)time(NULL);

	if (!g->private_key) {
		snprintf(tr->source, sizeof(tr->source), "metadata server");
		snprintf(tr->url, sizeof(tr->url),
			 "http://%s/computeMetadata/v1/instance/service-accounts/default/token",
			 g->metadata_host);
		snprintf(tr->header, sizeof(tr->header), "Metadata-Flavor: Google");
		return 0;
	}
	snprintf(tr->source, sizeof(tr->source), "service account key");
	snprintf(tr->url, sizeof(tr->url), "%s", g->token_uri);
	hdr = json_pack("{s:s,s:s}", "alg", "RS256", "typ", "JWT");
	claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", g->client_email, "scope", SCOPE, "aud",
			   g->token_uri, "iat", (json_int_t)now, "exp",
			   (json_int_t)(now + JWT_LIFETIME_S));
	if (!hdr || !claims)
		return snprintf(err, cap, "out of memory"), -1;
	if (g->private_key_id)
		json_object_set_new(hdr, "kid", json_string(g->private_key_id));
	h = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
	cl = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
	if (!h || !cl)
		return snprintf(err, cap, "out of memory"), -1;
	if (lbc_jwt_rs256(g->private_key, h, cl, &jwt, err, cap))
		return -1;
	if (lbc_form_add(&tr->body, "grant_type", grant, sizeof(grant) - 1) ||
	    lbc_form_add(&tr->body, "assertion", jwt->data, jwt->len))
		return snprintf(err, cap, "out of secure memory"), -1;
	return 0;
}

static int gcp_read_url(lbc *c, const lb_source *src, char *url, size_t cap, char *err, size_t ecap)
{
	struct gcp *g = lbc_impl_data(c);
	const char *ver = src->version[0] ? src->version : "latest";

	if (!gcp_name_ok(src->path, 255))
		return snprintf(err, ecap, "not a secret id ([A-Za-z0-9_-], at most 255)"), -1;
	if (!gcp_name_ok(ver, 63))
		return snprintf(err, ecap, "not a version (a number, latest or an alias)"), -1;
	snprintf(url, cap, "%s/v1/projects/%s/secrets/%s/versions/%s:access", g->endpoint,
		 g->project, src->path, ver);
	return 0;
}

static int gcp_read_ok(lbc *c, const lb_source *src, json_t *j, lb_fetch_result *res, char *err,
		       size_t ecap)
{
	json_t *payload = json_object_get(j, "payload");
	json_t *data = json_object_get(payload, "data");
	json_t *crc = json_object_get(payload, "dataCrc32c");
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *slash;
	size_t len = 0, b64len;
	long long want = -1;

	(void)c;
	(void)src;
	if (!json_is_string(data))
		return snprintf(err, ecap, "reply has no payload.data"), -1;
	b64len = json_string_length(data);
	res->value = lb_secbuf_new(b64len / 4 * 3 + 3);
	if (!res->value)
		return snprintf(err, ecap, "out of secure memory"), -1;
	if (sodium_base642bin(res->value->data, b64len / 4 * 3 + 3, json_string_value(data), b64len,
			      NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return snprintf(err, ecap, "payload.data is not base64"), -1;
	res->value->len = len;
	res->value->data[len] = '\0';
	/* dataCrc32c is an int64, which JSON (proto3 mapping) carries as a string. */
	if (json_is_string(crc)) {
		char *end;
		want = strtoll(json_string_value(crc), &end, 10);
		if (*end || want < 0)
			return snprintf(err, ecap, "payload.dataCrc32c is not a number"), -1;
	} else if (json_is_integer(crc)) {
		want = json_integer_value(crc);
	}
	if (want >= 0 && (uint32_t)want != lbc_crc32c(res->value->data, len))
		return snprintf(err, ecap,
				"payload checksum mismatch (dataCrc32c): the value was corrupted "
				"in transit"),
		       -1;
	if (want < 0)
		lb_log(LB_WARN, "gcp-sm store %s: %s: reply has no payload.dataCrc32c",
		       lbc_store_name(c), src->path);
	slash = name ? strrchr(name, '/') : NULL;
	snprintf(res->version, sizeof(res->version), "%s", slash ? slash + 1 : "");
	lbc_clean_text(res->version);
	res->structured = lbc_is_json_object(res->value);
	res->status = 0;
	return 0;
}

static void gcp_read_error(lbc *c, const lb_source *src, long status, json_t *j, char *err,
			   size_t ecap)
{
	json_t *e = json_object_get(j, "error");
	const char *st = json_string_value(json_object_get(e, "status"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *name = st;

	(void)c;
	(void)src;
	if (!name) /* no Google error body (a proxy): name the status as the API would */
		name = status == 404   ? "NOT_FOUND"
		       : status == 403 ? "PERMISSION_DENIED"
		       : status == 429 ? "RESOURCE_EXHAUSTED"
		       : status == 401 ? "UNAUTHENTICATED"
		       : status >= 500 ? "UNAVAILABLE"
				       : "error";
	snprintf(err, ecap, "%s: %.300s (HTTP %ld)", name, msg ? msg : "no message", status);
	lbc_clean_text(err);
}

static json_t *gcp_health_extra(lbc *c)
{
	struct gcp *g = lbc_impl_data(c);

	return json_pack("{s:s,s:s}", "project", g->project, "endpoint", g->endpoint);
}

static const lbc_impl gcp_impl = {
    .kind = "gcp-sm",
    .token_request = gcp_token_request,
    .read_url = gcp_read_url,
    .read_ok = gcp_read_ok,
    .read_error = gcp_read_error,
    .free_impl = gcp_free,
    .health_extra = gcp_health_extra,
};

static int gcp_load_key(struct gcp *g, lb_err *e)
{
	_cleanup_secbuf_ lb_secbuf *raw = NULL;
	_cleanup_json_ json_t *j = NULL;
	const char *type, *pk;
	char err[450];
	json_error_t je;

	if (lbc_read_secret_file(g->credentials_file, KEY_FILE_CAP, false, &raw, err, sizeof(err)))
		return lb_fail(e, 0, "credentials_file: %s", err);
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
	g->client_email = lb_store_opt_str(j, "client_email");
	g->private_key_id = lb_store_opt_str(j, "private_key_id");
	g->token_uri = lb_store_opt_str(j, "token_uri");
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
	_cleanup_free_ char *ca_file = lb_store_opt_str(o, "ca_file");
	const char *mh = getenv("GCE_METADATA_HOST");

	if (!g)
		return lb_fail(e, ENOMEM, "out of memory");
	g->project = lb_store_opt_str(o, "project");
	g->endpoint = lb_store_opt_str(o, "endpoint");
	g->credentials_file = lb_store_opt_str(o, "credentials_file");
	if (!g->endpoint)
		g->endpoint = strdup(DEFAULT_ENDPOINT);
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
	return lbc_open(s, &gcp_impl, g, ca_file, e);
}

const lb_store_ops lb_gcp_sm_ops = {
    .type = "gcp-sm",
    .per_target = false,
    .open = gcp_open,
    .fetch = lbc_fetch,
    .health = lbc_health,
    .close = lbc_close,
};
