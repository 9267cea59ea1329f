/* The credential chain of the aws-sm and aws-ssm providers (see aws.h): the first source
 * that has credentials wins; temporary ones are fetched again before their Expiration (at
 * the first request after the refresh point, so an idle broker never wakes up). Secret
 * keys and session tokens live only in lb_secbuf. */
#include "aws.h"
#include "aws_parse.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"

#include <ctype.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define META_TIMEOUT_MS	 3000
#define META_MAX_BODY	 (64 * 1024)
#define FILE_CAP	 16384
#define SHARED_FILE_CAP	 (256 * 1024)
#define REFRESH_MARGIN_S 300
#define IMDS_TOKEN_TTL	 "21600"
#define ECS_HOST	 "http://169.254.170.2"
#define IMDS_HOST	 "http://169.254.169.254"

static int64_t now_s(void);

void aws_creds_clear(struct aws *a)
{
	a->have_creds = false;
	sodium_memzero(a->akid, sizeof(a->akid));
	lb_secbuf_free(a->secret);
	lb_secbuf_free(a->token);
	a->secret = a->token = NULL;
	a->expire = a->refresh_at = 0;
}

bool aws_akid_ok(const char *s, size_t n)
{
	if (n == 0 || n > LB_SIGV4_MAX_KEY_ID)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]))
			return false;
	return true;
}

/* Takes ownership of secret and token. */
static int creds_set(struct aws *a, const char *akid, size_t akid_len, lb_secbuf *secret,
		     lb_secbuf *token, int64_t expire, const char *source, lb_err *e)
{
	if (!aws_akid_ok(akid, akid_len) || !secret || !secret->len ||
	    secret->len > LB_SIGV4_MAX_SECRET_KEY || (token && token->len > LB_SIGV4_MAX_TOKEN)) {
		lb_secbuf_free(secret);
		lb_secbuf_free(token);
		return lb_fail(e, 0, "credentials from %s are malformed", source);
	}
	aws_creds_clear(a);
	memcpy(a->akid, akid, akid_len);
	a->akid[akid_len] = '\0';
	a->secret = secret;
	a->token = token && token->len ? token : NULL;
	if (token && !token->len)
		lb_secbuf_free(token);
	a->expire = expire;
	if (expire) {
		int64_t left = expire - now_s(), margin = left / 3;
		if (margin > REFRESH_MARGIN_S)
			margin = REFRESH_MARGIN_S;
		a->refresh_at = expire - (margin > 0 ? margin : 0);
	}
	a->have_creds = true;
	snprintf(a->cred_source, sizeof(a->cred_source), "%s", source);
	lb_log(LB_INFO, "%s store %s: credentials from %s%s", a->kind, lb_nst_name(a->ns), source,
	       expire ? " (temporary)" : "");
	return 0;
}

static void trim(lb_secbuf *b)
{
	while (b->len && isspace(b->data[b->len - 1]))
		b->data[--b->len] = '\0';
}

static int read_small_secret(const char *path, lb_secbuf **out, lb_err *e)
{
	if (lb_read_secret_at(AT_FDCWD, path, FILE_CAP, out, e))
		return -1;
	trim(*out);
	return 0;
}

static int creds_from_config(struct aws *a, lb_err *e)
{
	lb_secbuf *secret = NULL, *token = NULL;

	if (read_small_secret(a->secret_file, &secret, e))
		return -1;
	if (a->token_file && read_small_secret(a->token_file, &token, e)) {
		lb_secbuf_free(secret);
		return -1;
	}
	return creds_set(a, a->akid_cfg, strlen(a->akid_cfg), secret, token, 0, "store config", e);
}

/* 1: found, 0: not configured there, -1: error (e says why). */
static int creds_from_env(struct aws *a, lb_err *e)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN");
	lb_secbuf *secret, *token = NULL;

	if (!id || !*id || !sk || !*sk)
		return 0;
	secret = lb_secbuf_dup(sk, strlen(sk));
	if (tok && *tok)
		token = lb_secbuf_dup(tok, strlen(tok));
	if (!secret || (tok && *tok && !token)) {
		lb_secbuf_free(secret);
		lb_secbuf_free(token);
		return lb_fail(e, ENOMEM, "out of secure memory");
	}
	return creds_set(a, id, strlen(id), secret, token, 0, "environment", e) ? -1 : 1;
}

/* The shared credentials file (INI): [PROFILE] with aws_access_key_id,
 * aws_secret_access_key and optional aws_session_token. */
static int creds_from_shared_file(struct aws *a, lb_err *err)
{
	const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE"), *home = getenv("HOME");
	const char *profile = getenv("AWS_PROFILE");
	_cleanup_secbuf_ lb_secbuf *buf = NULL;
	char path[1024], src[48];
	const char *id = NULL, *sk = NULL, *tok = NULL;
	size_t id_len = 0, sk_len = 0, tok_len = 0;
	bool in = false;
	lb_err e = {0};
	char *line, *save = NULL;

	lb_secbuf *secret, *token = NULL;

	if (!profile || !*profile)
		profile = "default";
	if (file && *file)
		snprintf(path, sizeof(path), "%s", file);
	else if (home && *home)
		snprintf(path, sizeof(path), "%s/.aws/credentials", home);
	else
		return 0;
	if (lb_read_secret_at(AT_FDCWD, path, SHARED_FILE_CAP, &buf, &e)) {
		if (e.sys == ENOENT)
			return 0;
		*err = e;
		return -1;
	}
	for (line = strtok_r((char *)buf->data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *end, *eq, *k, *v;

		while (isspace((unsigned char)*line))
			line++;
		end = line + strlen(line);
		while (end > line && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (!*line || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			char *name = line + 1, *close = strchr(name, ']');
			if (!close)
				continue;
			*close = '\0';
			while (isspace((unsigned char)*name))
				name++;
			while (close > name && isspace((unsigned char)close[-1]))
				*--close = '\0';
			in = strcmp(name, profile) == 0;
			continue;
		}
		if (!in || !(eq = strchr(line, '=')))
			continue;
		k = line;
		v = eq + 1;
		*eq = '\0';
		while (eq > k && isspace((unsigned char)eq[-1]))
			*--eq = '\0';
		while (isspace((unsigned char)*v))
			v++;
		if (strcasecmp(k, "aws_access_key_id") == 0)
			id = v, id_len = strlen(v);
		else if (strcasecmp(k, "aws_secret_access_key") == 0)
			sk = v, sk_len = strlen(v);
		else if (strcasecmp(k, "aws_session_token") == 0)
			tok = v, tok_len = strlen(v);
	}
	if (!id || !sk)
		return 0;
	secret = lb_secbuf_dup(sk, sk_len);
	if (tok && tok_len)
		token = lb_secbuf_dup(tok, tok_len);
	if (!secret || (tok && tok_len && !token)) {
		lb_secbuf_free(secret);
		lb_secbuf_free(token);
		return lb_fail(err, ENOMEM, "out of secure memory");
	}
	snprintf(src, sizeof(src), "shared credentials file");
	return creds_set(a, id, id_len, secret, token, 0, src, err) ? -1 : 1;
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* err NULL: credentials are set. */
static void creds_finish(struct aws *a, const char *err)
{
	char msg[600];

	a->step = CS_NONE;
	a->cred_req = NULL;
	lb_secbuf_free(a->imds_token);
	a->imds_token = NULL;
	if (err && a->have_creds && a->expire > now_s() + 10) {
		/* The refresh failed but the current credentials still hold for a while. */
		lb_log(LB_WARN, "%s store %s: refreshing credentials: %s; using the current ones",
		       a->kind, lb_nst_name(a->ns), err);
		a->refresh_at = now_s() + 10 < a->expire ? now_s() + 10 : a->expire;
		if (a->done)
			a->done(a->done_ctx, NULL);
		else
			lb_nst_cred_ok(a->ns, a->refresh_at, false);
		return;
	}
	if (err) {
		aws_creds_clear(a);
		snprintf(msg, sizeof(msg), "no credentials: %s", err);
		if (a->done)
			a->done(a->done_ctx, msg);
		else
			lb_nst_cred_fail(a->ns, true, -1, "credentials", err, msg);
		return;
	}
	if (a->done)
		a->done(a->done_ctx, NULL);
	else
		lb_nst_cred_ok(a->ns, a->refresh_at, true);
}

/* ECS and IMDS answer in one shape (aws_parse.c). */
static void creds_from_json(struct aws *a, const lb_http_resp *resp, const char *source)
{
	lb_aws_creds c;
	lb_err e = {0};

	if (lb_aws_creds_parse(resp->body ? resp->body->data : NULL,
			       resp->body ? resp->body->len : 0, source, &c, &e)) {
		creds_finish(a, e.msg);
		return;
	}
	if (creds_set(a, c.akid, strlen(c.akid), c.secret, c.token, c.expire, source, &e)) {
		sodium_memzero(c.akid, sizeof(c.akid));
		creds_finish(a, e.msg);
		return;
	}
	sodium_memzero(c.akid, sizeof(c.akid));
	creds_finish(a, NULL);
}

static void on_cred_http(void *ctx, const lb_http_resp *resp);

static void cred_http(struct aws *a, const char *method, const char *url, const char *const *hdr,
		      size_t nhdr)
{
	lb_http_opts o = {0};
	lb_err e = {0};

	o.method = method;
	o.url = url;
	o.headers = hdr;
	o.nheaders = nhdr;
	if (strcmp(method, "PUT") == 0) {
		o.body = "";
		o.body_len = 0;
	}
	o.timeout_ms = META_TIMEOUT_MS;
	o.max_body = META_MAX_BODY;
	a->cred_req = lb_http_start(lb_nst_store(a->ns)->env.http, &o, on_cred_http, a, &e);
	if (!a->cred_req)
		creds_finish(a, e.msg);
}

/* Header "Name: value" in a secure buffer (tokens). */
static lb_secbuf *secret_header(const char *name, const lb_secbuf *val)
{
	size_t n = strlen(name);
	lb_secbuf *h = lb_secbuf_new(n + 2 + val->len);

	if (!h)
		return NULL;
	memcpy(h->data, name, n);
	memcpy(h->data + n, ": ", 2);
	memcpy(h->data + n + 2, val->data, val->len);
	h->data[h->len] = '\0';
	return h;
}

static void imds_get(struct aws *a, const char *suffix)
{
	_cleanup_secbuf_ lb_secbuf *h = secret_header("X-aws-ec2-metadata-token", a->imds_token);
	const char *hdr[1];
	char url[1024];

	if (!h) {
		creds_finish(a, "out of secure memory");
		return;
	}
	hdr[0] = (const char *)h->data;
	snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/%s", a->imds_base,
		 suffix);
	cred_http(a, "GET", url, hdr, 1);
}

static void on_cred_http(void *ctx, const lb_http_resp *resp)
{
	struct aws *a = ctx;
	const char *src = a->step == CS_ECS ? "ECS container credentials" : "EC2 IMDSv2";
	char err[600];

	a->cred_req = NULL;
	if (resp->curl_code != 0 || resp->status != 200) {
		if (resp->curl_code != 0)
			snprintf(err, sizeof(err), "%s: %s", src, resp->error);
		else
			snprintf(err, sizeof(err), "%s: HTTP %ld%s", src, resp->status,
				 a->step == CS_IMDS_TOKEN ? " for the session token (PUT)" : "");
		creds_finish(a, err);
		return;
	}
	switch (a->step) {
	case CS_ECS:
	case CS_IMDS_CREDS:
		creds_from_json(a, resp, src);
		return;
	case CS_IMDS_TOKEN:
		if (!resp->body || !resp->body->len) {
			creds_finish(a, "EC2 IMDSv2: empty session token");
			return;
		}
		a->imds_token = lb_secbuf_dup(resp->body->data, resp->body->len);
		if (!a->imds_token) {
			creds_finish(a, "out of secure memory");
			return;
		}
		trim(a->imds_token);
		a->step = CS_IMDS_ROLE;
		imds_get(a, "");
		return;
	case CS_IMDS_ROLE: {
		size_t n = resp->body ? strcspn((const char *)resp->body->data, "\r\n") : 0;
		if (n == 0 || n >= sizeof(a->role)) {
			creds_finish(a, "EC2 IMDSv2: the instance has no IAM role");
			return;
		}
		memcpy(a->role, resp->body->data, n);
		a->role[n] = '\0';
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)a->role[i]) && !strchr("+=,.@_-", a->role[i])) {
				creds_finish(a, "EC2 IMDSv2: bad role name");
				return;
			}
		a->step = CS_IMDS_CREDS;
		imds_get(a, a->role);
		return;
	}
	case CS_NONE:
		break;
	}
}

/* ECS allows plain HTTP only to the link-local agent addresses and loopback. */
static bool ecs_url_ok(const char *url)
{
	static const char *const ok[] = {"http://169.254.170.2", "http://169.254.170.23",
					 "http://127.",		 "http://localhost",
					 "http://[::1]",	 NULL};

	if (strncmp(url, "https://", 8) == 0)
		return true;
	for (size_t i = 0; ok[i]; i++)
		if (strncmp(url, ok[i], strlen(ok[i])) == 0) {
			char c = url[strlen(ok[i])];
			return ok[i][strlen(ok[i]) - 1] == '.' || c == '\0' || c == ':' || c == '/';
		}
	return false;
}

static void creds_from_ecs(struct aws *a, const char *full, const char *rel)
{
	_cleanup_secbuf_ lb_secbuf *tok = NULL, *h = NULL;
	const char *auth = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *auth_file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *hdr[1];
	char url[2048];
	lb_err e = {0};

	if (full && *full) {
		if (!ecs_url_ok(full)) {
			creds_finish(a, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https:// or "
					"http:// on loopback or the ECS agent address");
			return;
		}
		snprintf(url, sizeof(url), "%s", full);
	} else {
		snprintf(url, sizeof(url), "%s%s%s", ECS_HOST, rel[0] == '/' ? "" : "/", rel);
	}
	if (auth_file && *auth_file) {
		if (read_small_secret(auth_file, &tok, &e)) {
			creds_finish(a, e.msg);
			return;
		}
	} else if (auth && *auth) {
		tok = lb_secbuf_dup(auth, strlen(auth));
		if (!tok) {
			creds_finish(a, "out of secure memory");
			return;
		}
	}
	if (tok && !(h = secret_header("Authorization", tok))) {
		creds_finish(a, "out of secure memory");
		return;
	}
	if (h)
		hdr[0] = (const char *)h->data;
	a->step = CS_ECS;
	cred_http(a, "GET", url, hdr, h ? 1 : 0);
}

static void creds_from_imds(struct aws *a)
{
	const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *hdr[] = {"X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL};
	char url[700];
	size_t n;

	snprintf(a->imds_base, sizeof(a->imds_base), "%s", ep && *ep ? ep : IMDS_HOST);
	n = strlen(a->imds_base);
	while (n > 8 && a->imds_base[n - 1] == '/')
		a->imds_base[--n] = '\0';
	a->step = CS_IMDS_TOKEN;
	snprintf(url, sizeof(url), "%s/latest/api/token", a->imds_base);
	cred_http(a, "PUT", url, hdr, 1);
}

/* The provider's authenticate(): see aws.h. */
void aws_creds_begin(lb_nst *ns)
{
	aws_chain_get(lb_nst_data(ns));
}

void aws_chain_get(struct aws *a)
{
	const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *off = getenv("AWS_EC2_METADATA_DISABLED");
	lb_err e = {0};
	int rc;

	if (a->step != CS_NONE)
		return;
	if (a->akid_cfg) {
		creds_finish(a, creds_from_config(a, &e) ? e.msg : NULL);
		return;
	}
	if ((rc = creds_from_env(a, &e)) != 0 || (rc = creds_from_shared_file(a, &e)) != 0) {
		creds_finish(a, rc < 0 ? e.msg : NULL);
		return;
	}
	if ((full && *full) || (rel && *rel)) {
		creds_from_ecs(a, full, rel);
		return;
	}
	if (off && strcasecmp(off, "true") == 0) {
		creds_finish(a, "none in the store config, AWS_* environment or shared credentials "
				"file, no ECS container credentials, and IMDS is disabled");
		return;
	}
	creds_from_imds(a);
}

void aws_creds_cancel(struct aws *a)
{
	if (a->cred_req)
		lb_http_cancel(a->cred_req);
	a->cred_req = NULL;
	a->step = CS_NONE;
	lb_secbuf_free(a->imds_token);
	a->imds_token = NULL;
}

struct aws *aws_chain_new(lb_nst *ns, const char *kind, void (*done)(void *ctx, const char *err),
			  void *ctx)
{
	struct aws *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->ns = ns;
	a->kind = kind;
	a->done = done;
	a->done_ctx = ctx;
	return a;
}

void aws_chain_creds(const struct aws *a, lb_sigv4_creds *out)
{
	out->access_key_id = a->akid;
	out->secret_access_key = a->secret;
	out->session_token = a->token ? (const char *)a->token->data : NULL;
}

void aws_chain_free(struct aws *a)
{
	if (!a)
		return;
	aws_creds_cancel(a);
	aws_creds_clear(a);
	free(a);
}
