/* AWS Secrets Manager (aws-sm) and SSM Parameter Store (aws-ssm) stores.
 *
 * JSON 1.1 over HTTPS (POST /, X-Amz-Target), signed with SigV4 (sigv4.c). Reads of one
 * (name, version) in flight are shared by every fetch that arrives meanwhile. Credentials
 * come from the first source that has them: the store's files, lockboxd's AWS_* environment,
 * the shared credentials file, ECS container credentials, EC2 IMDSv2; temporary ones are
 * fetched again before their Expiration (at the first request after the refresh point, so
 * an idle broker never wakes up). Errors are classified by the reply's __type, not its HTTP
 * status (AWS answers throttling and signature errors alike with 400): throttling and
 * server faults put the store in a capped exponential backoff with jitter; an expired token
 * refreshes the credentials and replays the request once; a refused signature or key drops
 * the credentials (re-read at the next attempt) and backs off, so it is never retried in a
 * loop. Secret keys, session tokens and values live only in lb_secbuf. */
#include "store.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "sigv4.h"

#include <ctype.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REQ_TIMEOUT_MS	 10000
#define META_TIMEOUT_MS	 3000
#define REQ_MAX_BODY	 (1024 * 1024)
#define META_MAX_BODY	 (64 * 1024)
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS	 60000
#define FILE_CAP	 16384
#define SHARED_FILE_CAP	 (256 * 1024)
#define REFRESH_MARGIN_S 300
#define IMDS_TOKEN_TTL	 "21600"
#define ECS_HOST	 "http://169.254.170.2"
#define IMDS_HOST	 "http://169.254.169.254"
#define JSON_CT		 "application/x-amz-json-1.1"

struct aws;

struct waiter {
	lb_fetch_cb cb;
	void *ctx;
	lb_source src;
	struct waiter *next;
};

/* One GetSecretValue / GetParameter, shared by the fetches of one (name, version). */
struct read {
	struct aws *a;
	char name[512];
	char version[64];
	struct waiter *waiters;
	lb_http_req *req;
	bool replayed;	   /* sent again after ExpiredTokenException */
	unsigned cred_gen; /* the credentials it was signed with */
	struct read *next;
};

enum cred_step { CS_NONE, CS_ECS, CS_IMDS_TOKEN, CS_IMDS_ROLE, CS_IMDS_CREDS };

struct aws {
	lb_store *s;
	bool ssm;
	const char *service, *target_op, *kind;
	char *region, *endpoint, *host, *path, *ca_file;
	char *akid_cfg, *secret_file, *token_file;

	/* Current credentials. */
	bool have_creds;
	char akid[LB_SIGV4_MAX_KEY_ID + 1];
	lb_secbuf *secret, *token;
	int64_t expire, refresh_at; /* Unix seconds, 0 = static */
	char cred_source[48];
	unsigned cred_gen; /* bumped whenever new credentials are set */

	/* Credential fetch over HTTP (ECS, IMDS). */
	enum cred_step step;
	lb_http_req *cred_req;
	lb_secbuf *imds_token;
	char imds_base[512];
	char role[256];

	uint64_t backoff_until, backoff_ms;
	bool degraded, closing;
	char last_error[512];

	struct read *reads;	/* sent, waiting for the reply */
	struct read *cred_wait; /* waiting for credentials */
};

static void read_send(struct read *r);
static void creds_begin(struct aws *a);

/* --- small helpers --- */

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* Text from the server never reaches a log line with control bytes. */
static void printable(char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			*s = ' ';
}

static void append_waiter(struct waiter **list, struct waiter *w)
{
	w->next = NULL;
	while (*list)
		list = &(*list)->next;
	*list = w;
}

static void waiter_fail(struct aws *a, struct waiter *w, const char *msg)
{
	lb_fetch_result r = {.status = -1};

	snprintf(r.error, sizeof(r.error), "%s store \"%s\": %s: %s", a->kind, a->s->name,
		 w->src.path, msg);
	w->cb(w->ctx, &r);
	free(w);
}

static void unlink_read(struct read **list, struct read *r)
{
	for (; *list; list = &(*list)->next)
		if (*list == r) {
			*list = r->next;
			return;
		}
}

/* Answers every waiter of r (with res, or with err) and frees r; r is on no list. */
static void read_done(struct read *r, lb_fetch_result *res, const char *err)
{
	struct waiter *list = r->waiters;

	r->waiters = NULL;
	while (list) {
		struct waiter *w = list;
		list = w->next;
		if (err) {
			waiter_fail(r->a, w, err);
		} else {
			lb_fetch_result one = *res;
			w->cb(w->ctx, &one);
			free(w);
		}
	}
	free(r);
}

static void read_fail(struct read *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void read_fail(struct read *r, const char *fmt, ...)
{
	char msg[450];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	read_done(r, NULL, msg);
}

/* --- backoff --- */

static void note_ok(struct aws *a)
{
	a->backoff_ms = 0;
	a->backoff_until = 0;
	a->degraded = false;
}

static void note_fault(struct aws *a, const char *what, const char *reason, long retry_after_s)
{
	uint64_t wait;

	a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : BACKOFF_FIRST_MS;
	if (a->backoff_ms > BACKOFF_MAX_MS)
		a->backoff_ms = BACKOFF_MAX_MS;
	wait = lb_store_jitter_ms(a->backoff_ms);
	if (retry_after_s > 0 && (uint64_t)retry_after_s * 1000 > wait)
		wait = (uint64_t)retry_after_s * 1000;
	if (wait > 10 * BACKOFF_MAX_MS)
		wait = 10 * BACKOFF_MAX_MS;
	a->backoff_until = lb_now_ms() + wait;
	a->degraded = true;
	snprintf(a->last_error, sizeof(a->last_error), "%s: %s", what, reason);
	lb_log(LB_WARN, "%s store %s: %s: %s; backing off %llu ms", a->kind, a->s->name, what,
	       reason, (unsigned long long)wait);
	lb_audit("store_error", json_pack("{s:s,s:s,s:s,s:I}", "store", a->s->name, "path", what,
					  "reason", reason, "backoff_ms", (json_int_t)wait));
}

/* --- credentials --- */

static void creds_clear(struct aws *a)
{
	a->have_creds = false;
	sodium_memzero(a->akid, sizeof(a->akid));
	lb_secbuf_free(a->secret);
	lb_secbuf_free(a->token);
	a->secret = a->token = NULL;
	a->expire = a->refresh_at = 0;
}

static bool akid_ok(const char *s, size_t n)
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
		     lb_secbuf *token, int64_t expire, const char *source, char *err, size_t cap)
{
	if (!akid_ok(akid, akid_len) || !secret || !secret->len ||
	    secret->len > LB_SIGV4_MAX_SECRET_KEY || (token && token->len > LB_SIGV4_MAX_TOKEN)) {
		lb_secbuf_free(secret);
		lb_secbuf_free(token);
		snprintf(err, cap, "credentials from %s are malformed", source);
		return -1;
	}
	creds_clear(a);
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
	a->cred_gen++;
	snprintf(a->cred_source, sizeof(a->cred_source), "%s", source);
	lb_log(LB_INFO, "%s store %s: credentials from %s%s", a->kind, a->s->name, source,
	       expire ? " (temporary)" : "");
	return 0;
}

static bool creds_usable(struct aws *a)
{
	return a->have_creds && (!a->refresh_at || now_s() < a->refresh_at);
}

static void trim(lb_secbuf *b)
{
	while (b->len && isspace(b->data[b->len - 1]))
		b->data[--b->len] = '\0';
}

static int read_small_secret(const char *path, lb_secbuf **out, char *err, size_t cap)
{
	lb_err e = {0};

	if (lb_read_secret_at(AT_FDCWD, path, FILE_CAP, out, &e)) {
		snprintf(err, cap, "%s", e.msg);
		return -1;
	}
	trim(*out);
	return 0;
}

static int creds_from_config(struct aws *a, char *err, size_t cap)
{
	lb_secbuf *secret = NULL, *token = NULL;

	if (read_small_secret(a->secret_file, &secret, err, cap))
		return -1;
	if (a->token_file && read_small_secret(a->token_file, &token, err, cap)) {
		lb_secbuf_free(secret);
		return -1;
	}
	return creds_set(a, a->akid_cfg, strlen(a->akid_cfg), secret, token, 0, "store config", err,
			 cap);
}

/* 1: found, 0: not configured there, -1: error (err says why). */
static int creds_from_env(struct aws *a, char *err, size_t cap)
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
		snprintf(err, cap, "out of secure memory");
		return -1;
	}
	return creds_set(a, id, strlen(id), secret, token, 0, "environment", err, cap) ? -1 : 1;
}

/* The shared credentials file (INI): [PROFILE] with aws_access_key_id,
 * aws_secret_access_key and optional aws_session_token. */
static int creds_from_shared_file(struct aws *a, char *err, size_t cap)
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
		snprintf(err, cap, "%s", e.msg);
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
		snprintf(err, cap, "out of secure memory");
		return -1;
	}
	snprintf(src, sizeof(src), "shared credentials file");
	return creds_set(a, id, id_len, secret, token, 0, src, err, cap) ? -1 : 1;
}

/* "2026-11-26T00:15:00Z" (fractions and offsets other than Z are not used by AWS here). */
static int64_t parse_iso8601(const char *s)
{
	struct tm tm = {0};
	const char *end;

	if (!s || !(end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return 0;
	return (int64_t)timegm(&tm);
}

static void creds_finish(struct aws *a, const char *err)
{
	struct read *list = a->cred_wait, *rev = NULL;

	a->step = CS_NONE;
	a->cred_req = NULL;
	lb_secbuf_free(a->imds_token);
	a->imds_token = NULL;
	a->cred_wait = NULL;
	if (err && a->have_creds && a->expire > now_s() + 10) {
		/* The refresh failed but the current credentials still hold for a while. */
		lb_log(LB_WARN, "%s store %s: refreshing credentials: %s; using the current ones",
		       a->kind, a->s->name, err);
		a->refresh_at = now_s() + 10 < a->expire ? now_s() + 10 : a->expire;
		err = NULL;
	} else if (err) {
		creds_clear(a);
		note_fault(a, "credentials", err, -1);
	}
	/* Oldest first; each may complete (and free) synchronously. */
	while (list) {
		struct read *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct read *r = rev;
		rev = r->next;
		r->next = NULL;
		if (err)
			read_fail(r, "no credentials: %s", err);
		else
			read_send(r);
	}
}

/* AccessKeyId, SecretAccessKey, Token, Expiration: the shape of both ECS and IMDS. */
static void creds_from_json(struct aws *a, const lb_http_resp *resp, const char *source)
{
	_cleanup_json_ json_t *j = NULL;
	const char *id, *sk, *tok, *exp, *code;
	lb_secbuf *secret = NULL, *token = NULL;
	char err[300];
	int64_t expire;

	if (resp->body)
		j = json_loadb((const char *)resp->body->data, resp->body->len, 0, NULL);
	id = json_string_value(json_object_get(j, "AccessKeyId"));
	sk = json_string_value(json_object_get(j, "SecretAccessKey"));
	tok = json_string_value(json_object_get(j, "Token"));
	exp = json_string_value(json_object_get(j, "Expiration"));
	code = json_string_value(json_object_get(j, "Code"));
	if (code && strcmp(code, "Success") != 0) {
		snprintf(err, sizeof(err), "%s answered Code %.64s", source, code);
		printable(err);
		creds_finish(a, err);
		return;
	}
	if (!id || !sk) {
		snprintf(err, sizeof(err), "%s: reply has no AccessKeyId/SecretAccessKey", source);
		creds_finish(a, err);
		return;
	}
	expire = parse_iso8601(exp);
	if (exp && !expire) {
		snprintf(err, sizeof(err), "%s: unreadable Expiration", source);
		creds_finish(a, err);
		return;
	}
	secret = lb_secbuf_dup(sk, json_string_length(json_object_get(j, "SecretAccessKey")));
	if (tok)
		token = lb_secbuf_dup(tok, json_string_length(json_object_get(j, "Token")));
	if (!secret || (tok && !token)) {
		lb_secbuf_free(secret);
		lb_secbuf_free(token);
		creds_finish(a, "out of secure memory");
		return;
	}
	if (creds_set(a, id, strlen(id), secret, token, expire, source, err, sizeof(err))) {
		creds_finish(a, err);
		return;
	}
	creds_finish(a, NULL);
}

static void on_cred_http(void *ctx, const lb_http_resp *resp);

static void cred_http(struct aws *a, const char *method, const char *url, const char *const *hdr,
		      size_t nhdr)
{
	lb_http_opts o = {0};
	lb_err e = {0};
	char err[600];

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
	a->cred_req = lb_http_start(a->s->env.http, &o, on_cred_http, a, &e);
	if (!a->cred_req) {
		snprintf(err, sizeof(err), "%s", e.msg);
		creds_finish(a, err);
	}
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
	char url[2048], err[600];

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
		if (read_small_secret(auth_file, &tok, err, sizeof(err))) {
			creds_finish(a, err);
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

/* Resolves credentials; the reads on cred_wait go out (or fail) once they are known. */
static void creds_begin(struct aws *a)
{
	const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *off = getenv("AWS_EC2_METADATA_DISABLED");
	char err[600] = "";
	int rc;

	if (a->step != CS_NONE || a->closing)
		return;
	if (a->akid_cfg) {
		creds_finish(a, creds_from_config(a, err, sizeof(err)) ? err : NULL);
		return;
	}
	if ((rc = creds_from_env(a, err, sizeof(err))) != 0 ||
	    (rc = creds_from_shared_file(a, err, sizeof(err))) != 0) {
		creds_finish(a, rc < 0 ? err : NULL);
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

/* --- reads --- */

/* "com.amazonaws.secretsmanager#ResourceNotFoundException:http://..." -> the bare name. */
static void error_type(json_t *j, char *out, size_t cap)
{
	const char *t = json_string_value(json_object_get(j, "__type"));
	const char *hash;
	size_t n;

	out[0] = '\0';
	if (!t)
		return;
	if ((hash = strrchr(t, '#')))
		t = hash + 1;
	n = strcspn(t, ":");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, t, n);
	out[n] = '\0';
	printable(out);
}

static bool type_in(const char *t, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(t, *list) == 0)
			return true;
	return false;
}

static const char *const THROTTLE_TYPES[] = {"ThrottlingException",
					     "Throttling",
					     "ThrottledException",
					     "TooManyRequestsException",
					     "RequestLimitExceeded",
					     "ServiceUnavailable",
					     "ServiceUnavailableException",
					     "InternalServiceError",
					     "InternalServiceErrorException",
					     "InternalFailure",
					     "InternalServerError",
					     "RequestThrottledException",
					     "ProvisionedThroughputExceededException",
					     NULL};
static const char *const AUTH_TYPES[] = {"InvalidSignatureException",
					 "UnrecognizedClientException",
					 "IncompleteSignature",
					 "IncompleteSignatureException",
					 "InvalidClientTokenId",
					 "MissingAuthenticationToken",
					 "MissingAuthenticationTokenException",
					 "SignatureDoesNotMatch",
					 "RequestExpired",
					 NULL};
static const char *const EXPIRED_TYPES[] = {"ExpiredTokenException", "ExpiredToken", NULL};

static int parse_value(struct aws *a, json_t *j, lb_fetch_result *res, char *err, size_t cap)
{
	json_t *s, *v;

	if (a->ssm) {
		json_t *p = json_object_get(j, "Parameter");
		s = json_object_get(p, "Value");
		v = json_object_get(p, "Version");
		if (!json_is_string(s)) {
			snprintf(err, cap, "reply has no Parameter.Value");
			return -1;
		}
		snprintf(res->version, sizeof(res->version), "%lld",
			 (long long)json_integer_value(v));
	} else {
		json_t *bin = json_object_get(j, "SecretBinary");
		const char *vid = json_string_value(json_object_get(j, "VersionId"));

		s = json_object_get(j, "SecretString");
		if (!json_is_string(s) && !json_is_string(bin)) {
			snprintf(err, cap, "reply has neither SecretString nor SecretBinary");
			return -1;
		}
		snprintf(res->version, sizeof(res->version), "%s", vid ? vid : "");
		printable(res->version);
		if (!json_is_string(s)) {
			const char *b64 = json_string_value(bin);
			size_t blen = json_string_length(bin), outlen = 0;
			lb_secbuf *out = lb_secbuf_new(blen / 4 * 3 + 3);

			if (!out) {
				snprintf(err, cap, "out of secure memory");
				return -1;
			}
			if (sodium_base642bin(out->data, blen / 4 * 3 + 3, b64, blen, "\r\n",
					      &outlen, NULL, sodium_base64_VARIANT_ORIGINAL)) {
				lb_secbuf_free(out);
				snprintf(err, cap, "SecretBinary is not valid base64");
				return -1;
			}
			out->len = outlen;
			out->data[outlen] = '\0';
			res->value = out;
			return 0;
		}
	}
	res->value = lb_secbuf_dup(json_string_value(s), json_string_length(s));
	if (!res->value) {
		snprintf(err, cap, "out of secure memory");
		return -1;
	}
	{
		_cleanup_json_ json_t *obj =
		    json_loadb((const char *)res->value->data, res->value->len, 0, NULL);
		res->structured = json_is_object(obj);
	}
	return 0;
}

static void on_read_http(void *ctx, const lb_http_resp *resp)
{
	struct read *r = ctx;
	struct aws *a = r->a;
	_cleanup_json_ json_t *j = NULL;
	char type[128] = "", msg[300] = "", what[600], err[450] = "";
	lb_fetch_result res = {.status = 0};

	r->req = NULL;
	unlink_read(&a->reads, r);
	snprintf(what, sizeof(what), "%s %s", a->target_op, r->name);
	if (resp->curl_code != 0) {
		note_fault(a, what, resp->error, -1);
		read_fail(r, "%s", resp->error);
		return;
	}
	if (resp->body && resp->body->len)
		j = json_loadb((const char *)resp->body->data, resp->body->len, 0, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	if (resp->status == 200) {
		if (!j) {
			note_fault(a, what, "malformed JSON reply (HTTP 200)", -1);
			read_fail(r, "malformed JSON reply (HTTP 200)");
			return;
		}
		note_ok(a);
		if (parse_value(a, j, &res, err, sizeof(err))) {
			read_fail(r, "%s", err);
			return;
		}
		read_done(r, &res, NULL);
		lb_secbuf_free(res.value);
		return;
	}
	error_type(j, type, sizeof(type));
	{
		const char *m = json_string_value(json_object_get(j, "message"));
		if (!m)
			m = json_string_value(json_object_get(j, "Message"));
		snprintf(msg, sizeof(msg), "%s", m ? m : "");
		printable(msg);
	}
	snprintf(err, sizeof(err), "%s%s%s (HTTP %ld)", type[0] ? type : "error",
		 msg[0] ? ": " : "", msg, resp->status);
	if (type_in(type, EXPIRED_TYPES) && !r->replayed) {
		/* Temporary credentials ran out early: fetch new ones, then replay once. */
		lb_log(LB_WARN, "%s store %s: %s; refreshing credentials", a->kind, a->s->name,
		       err);
		r->replayed = true;
		if (r->cred_gen == a->cred_gen)
			creds_clear(a); /* not already replaced by another reply */
		read_send(r);
		return;
	}
	if (type_in(type, AUTH_TYPES) || type_in(type, EXPIRED_TYPES)) {
		/* Drop the credentials (a fixed file or a new role is read next time) and back
		 * off: a refused signature is never retried in a loop. */
		if (r->cred_gen == a->cred_gen)
			creds_clear(a);
		note_fault(a, what, err, -1);
		read_fail(r, "%s", err);
		return;
	}
	if (type_in(type, THROTTLE_TYPES) || resp->status >= 500 || resp->status == 429 ||
	    (!j && resp->status != 400)) {
		note_fault(a, what, err, resp->retry_after_s);
		read_fail(r, "%s", err);
		return;
	}
	note_ok(a);
	read_fail(r, "%s", err);
}

static lb_secbuf *header_line(const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	lb_secbuf *h = lb_secbuf_new(n + 2 + v);

	if (!h)
		return NULL;
	memcpy(h->data, name, n);
	memcpy(h->data + n, ": ", 2);
	memcpy(h->data + n + 2, value, v);
	h->data[h->len] = '\0';
	return h;
}

/* VersionId: 32..64 of [0-9a-fA-F-] (AWS makes UUIDs); anything else is a staging label. */
static bool is_version_id(const char *v)
{
	size_t n = strlen(v);

	if (n < 32 || n > 64)
		return false;
	for (; *v; v++)
		if (!isxdigit((unsigned char)*v) && *v != '-')
			return false;
	return true;
}

static void read_send(struct read *r)
{
	struct aws *a = r->a;
	_cleanup_json_ json_t *body = NULL;
	char *dump = NULL;
	char target[96], ts[LB_SIGV4_DATE_SIZE], url[1200], name[600];
	lb_sigv4_signed sig = {0};
	lb_secbuf *hl[4 + 4] = {0};
	const char *hdrs[8];
	size_t nh = 0;
	lb_http_opts o = {0};
	lb_err e = {0};

	if (a->closing) {
		read_fail(r, "store closed");
		return;
	}
	if (a->backoff_until && lb_now_ms() < a->backoff_until) {
		read_fail(r, "backing off for %llu s after: %s",
			  (unsigned long long)((a->backoff_until - lb_now_ms() + 999) / 1000),
			  a->last_error);
		return;
	}
	if (!creds_usable(a)) {
		r->next = a->cred_wait;
		a->cred_wait = r;
		creds_begin(a);
		return;
	}
	if (a->ssm) {
		if (strchr(r->name, '/') && r->name[0] != '/' && strncmp(r->name, "arn:", 4) != 0)
			snprintf(name, sizeof(name), "/%s", r->name);
		else
			snprintf(name, sizeof(name), "%s", r->name);
		if (r->version[0])
			snprintf(name + strlen(name), sizeof(name) - strlen(name), ":%s",
				 r->version);
		body = json_pack("{s:s,s:b}", "Name", name, "WithDecryption", 1);
	} else if (r->version[0]) {
		body =
		    json_pack("{s:s,s:s}", "SecretId", r->name,
			      is_version_id(r->version) ? "VersionId" : "VersionStage", r->version);
	} else {
		body = json_pack("{s:s}", "SecretId", r->name);
	}
	dump = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!dump) {
		read_fail(r, "out of memory");
		return;
	}
	snprintf(target, sizeof(target), "X-Amz-Target: %s", a->target_op);
	{
		const lb_sigv4_header sh[] = {
		    {"Host", a->host},
		    {"Content-Type", JSON_CT},
		    {"X-Amz-Target", a->target_op},
		};
		const lb_sigv4_creds creds = {
		    .access_key_id = a->akid,
		    .secret_access_key = a->secret,
		    .session_token = a->token ? (const char *)a->token->data : NULL,
		};
		const lb_sigv4_request req = {
		    .method = "POST",
		    .path = a->path,
		    .headers = sh,
		    .nheaders = 3,
		    .payload = dump,
		    .payload_len = strlen(dump),
		    .region = a->region,
		    .service = a->service,
		    .timestamp = ts,
		    .creds = &creds,
		};

		if (lb_sigv4_timestamp(time(NULL), ts, &e) || lb_sigv4_sign(&req, &sig, &e)) {
			lb_json_free(dump);
			read_fail(r, "signing: %s", e.msg);
			return;
		}
	}
	hl[nh] = header_line("Host", a->host);
	hl[nh + 1] = header_line("Content-Type", JSON_CT);
	hl[nh + 2] = header_line("X-Amz-Target", a->target_op);
	nh = 3;
	for (size_t i = 0; i < sig.nadd; i++)
		hl[nh++] = header_line(sig.add[i].name, sig.add[i].value);
	lb_sigv4_signed_clear(&sig);
	for (size_t i = 0; i < nh; i++) {
		if (!hl[i]) {
			for (size_t k = 0; k < nh; k++)
				lb_secbuf_free(hl[k]);
			lb_json_free(dump);
			read_fail(r, "out of secure memory");
			return;
		}
		hdrs[i] = (const char *)hl[i]->data;
	}
	snprintf(url, sizeof(url), "%s%s", a->endpoint, a->path);
	o.method = "POST";
	o.url = url;
	o.headers = hdrs;
	o.nheaders = nh;
	o.body = dump;
	o.body_len = strlen(dump);
	o.ca_file = a->ca_file;
	o.timeout_ms = REQ_TIMEOUT_MS;
	o.max_body = REQ_MAX_BODY;
	r->cred_gen = a->cred_gen;
	r->req = lb_http_start(a->s->env.http, &o, on_read_http, r, &e);
	for (size_t k = 0; k < nh; k++)
		lb_secbuf_free(hl[k]);
	lb_json_free(dump);
	if (!r->req) {
		read_fail(r, "%s", e.msg);
		return;
	}
	r->next = a->reads;
	a->reads = r;
}

/* --- vtable --- */

static struct read *read_find(struct read *list, const lb_source *src)
{
	for (; list; list = list->next)
		if (strcmp(list->name, src->path) == 0 && strcmp(list->version, src->version) == 0)
			return list;
	return NULL;
}

static void aws_fetch(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb,
		      void *ctx)
{
	struct aws *a = s->priv;
	struct waiter *w = calloc(1, sizeof(*w));
	struct read *r;

	(void)target;
	if (!w) {
		lb_fetch_result res = {.status = -1};
		snprintf(res.error, sizeof(res.error), "%s store \"%s\": out of memory", a->kind,
			 s->name);
		cb(ctx, &res);
		return;
	}
	w->cb = cb;
	w->ctx = ctx;
	w->src = *src;
	if (a->closing) {
		waiter_fail(a, w, "store closed");
		return;
	}
	if ((r = read_find(a->reads, src)) || (r = read_find(a->cred_wait, src))) {
		append_waiter(&r->waiters, w);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		waiter_fail(a, w, "out of memory");
		return;
	}
	r->a = a;
	snprintf(r->name, sizeof(r->name), "%s", src->path);
	snprintf(r->version, sizeof(r->version), "%s", src->version);
	r->waiters = w;
	read_send(r);
}

static json_t *aws_health(lb_store *s)
{
	struct aws *a = s->priv;
	json_t *h =
	    json_pack("{s:s,s:s,s:s,s:b}", "health",
		      a->degraded ? "degraded" : (a->have_creds ? "ok" : "no credentials yet"),
		      "region", a->region, "endpoint", a->endpoint, "credentials", a->have_creds);

	if (!h)
		return NULL;
	if (a->have_creds) {
		json_object_set_new(h, "credentials_source", json_string(a->cred_source));
		if (a->expire)
			json_object_set_new(h, "credentials_expire", json_integer(a->expire));
	}
	if (a->last_error[0])
		json_object_set_new(h, "last_error", json_string(a->last_error));
	if (a->backoff_until > lb_now_ms())
		json_object_set_new(h, "backoff_ms",
				    json_integer((json_int_t)(a->backoff_until - lb_now_ms())));
	return h;
}

static void aws_free(struct aws *a)
{
	creds_clear(a);
	lb_secbuf_free(a->imds_token);
	free(a->region);
	free(a->endpoint);
	free(a->host);
	free(a->path);
	free(a->ca_file);
	free(a->akid_cfg);
	free(a->secret_file);
	free(a->token_file);
	free(a);
}

static int aws_open_kind(lb_store *s, bool ssm, lb_err *e)
{
	json_t *o = s->cfg->opts;
	struct aws *a = calloc(1, sizeof(*a));
	const char *p;
	char def[300];

	if (!a)
		return lb_fail(e, ENOMEM, "out of memory");
	a->s = s;
	a->ssm = ssm;
	a->kind = ssm ? "aws-ssm" : "aws-sm";
	a->service = ssm ? "ssm" : "secretsmanager";
	a->target_op = ssm ? "AmazonSSM.GetParameter" : "secretsmanager.GetSecretValue";
	a->region = lb_store_opt_str(o, "region");
	a->endpoint = lb_store_opt_str(o, "endpoint");
	a->ca_file = lb_store_opt_str(o, "ca_file");
	a->akid_cfg = lb_store_opt_str(o, "access_key_id");
	a->secret_file = lb_store_opt_str(o, "secret_access_key_file");
	a->token_file = lb_store_opt_str(o, "session_token_file");
	if (!a->region || strlen(a->region) > LB_SIGV4_MAX_SCOPE_PART) {
		aws_free(a);
		return lb_fail(e, 0, "region is required");
	}
	if (!a->akid_cfg != !a->secret_file ||
	    (a->akid_cfg && !akid_ok(a->akid_cfg, strlen(a->akid_cfg)))) {
		aws_free(a);
		return lb_fail(e, 0,
			       "access_key_id (letters and digits) and "
			       "secret_access_key_file go together");
	}
	if (!a->endpoint) {
		snprintf(def, sizeof(def), "https://%s.%s.amazonaws.com", a->service, a->region);
		a->endpoint = strdup(def);
	}
	if (!a->endpoint || strncmp(a->endpoint, "https://", 8) != 0) {
		aws_free(a);
		return lb_fail(e, 0, "endpoint must be an https:// URL");
	}
	p = a->endpoint + 8;
	a->host = strndup(p, strcspn(p, "/?#"));
	a->path = strdup(p[strcspn(p, "/?#")] == '/' ? p + strcspn(p, "/?#") : "/");
	if (!a->host || !a->path || !*a->host) {
		aws_free(a);
		return lb_fail(e, 0, "endpoint has no host");
	}
	a->endpoint[8 + strlen(a->host)] = '\0';
	s->priv = a;
	return 0;
}

static int aws_sm_open(lb_store *s, lb_err *e)
{
	return aws_open_kind(s, false, e);
}

static int aws_ssm_open(lb_store *s, lb_err *e)
{
	return aws_open_kind(s, true, e);
}

static void aws_close(lb_store *s)
{
	struct aws *a = s->priv;
	struct read *pending = NULL;

	if (!a)
		return;
	a->closing = true;
	if (a->cred_req)
		lb_http_cancel(a->cred_req);
	a->cred_req = NULL;
	while (a->reads) {
		struct read *r = a->reads;
		a->reads = r->next;
		lb_http_cancel(r->req);
		r->next = pending;
		pending = r;
	}
	while (a->cred_wait) {
		struct read *r = a->cred_wait;
		a->cred_wait = r->next;
		r->next = pending;
		pending = r;
	}
	while (pending) {
		struct read *r = pending;
		pending = r->next;
		read_fail(r, "store closed");
	}
	aws_free(a);
	s->priv = NULL;
}

const lb_store_ops lb_aws_sm_ops = {
    .type = "aws-sm",
    .per_target = false,
    .open = aws_sm_open,
    .fetch = aws_fetch,
    .health = aws_health,
    .close = aws_close,
};

const lb_store_ops lb_aws_ssm_ops = {
    .type = "aws-ssm",
    .per_target = false,
    .open = aws_ssm_open,
    .fetch = aws_fetch,
    .health = aws_health,
    .close = aws_close,
};
