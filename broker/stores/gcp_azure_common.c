/* Token cache, shared reads and backoff for the gcp-sm and azure-kv stores (see the header). */
#include "gcp_azure_common.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"

#include <ctype.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define REQ_TIMEOUT_MS	 10000
#define REQ_MAX_BODY	 (1024 * 1024)
#define TOKEN_MAX_BODY	 (64 * 1024)
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS	 60000
#define REFRESH_MARGIN_S 300

struct waiter {
	lb_fetch_cb cb;
	void *ctx;
	lb_source src;
	struct waiter *next;
};

/* One read in flight (or waiting for a token), shared by every fetch of (path, version). */
struct read {
	lbc *c;
	char path[512];
	char version[64];
	struct waiter *waiters;
	lb_http_req *req;
	bool replayed; /* sent again once after a 401 */
	bool probe;    /* the one read sent after a backoff */
	unsigned token_gen;
	struct read *next;
};

struct lbc {
	lb_store *s;
	const lbc_impl *impl;
	void *ip;
	char *ca_file;

	lb_secbuf *token;
	unsigned token_gen;
	int64_t token_expire, token_refresh_at, token_ttl;
	char token_source[32];
	lb_http_req *auth_req;
	bool authing;
	unsigned tokens_fetched;

	uint64_t backoff_until, backoff_ms; /* backoff_ms > 0: in a run of faults */
	bool degraded;
	bool probing;	  /* the one read sent after a backoff is in flight */
	bool token_fault; /* the last fault was a token request's */
	char last_error[512];

	struct read *reads;   /* in flight */
	struct read *waiting; /* for a token */
	bool closing;
};

static void read_send(struct read *r);
static void auth_begin(lbc *c);

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

void lbc_clean_text(char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			*s = ' ';
}

void *lbc_impl_data(lbc *c)
{
	return c->ip;
}

const char *lbc_store_name(lbc *c)
{
	return c->s->name;
}

bool lbc_is_json_object(const lb_secbuf *v)
{
	json_t *j = json_loadb((const char *)v->data, v->len, 0, NULL);
	bool obj = json_is_object(j);

	json_decref(j);
	return obj;
}

/* --- helpers --- */

char *lbc_b64url(const void *p, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = malloc(cap);

	if (out)
		sodium_bin2base64(out, cap, p, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

static void evp_pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);
}
static void evp_md_ctx_freep(EVP_MD_CTX **m)
{
	EVP_MD_CTX_free(*m);
}
static void bio_freep(BIO **b)
{
	BIO_free(*b);
}

int lbc_jwt_rs256(const lb_secbuf *key_pem, const char *header_json, const char *claims_json,
		  lb_secbuf **out, char *err, size_t cap)
{
	_cleanup_(bio_freep) BIO *bio = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *key = NULL;
	_cleanup_(evp_md_ctx_freep) EVP_MD_CTX *md = NULL;
	_cleanup_free_ char *h = lbc_b64url(header_json, strlen(header_json));
	_cleanup_free_ char *cl = lbc_b64url(claims_json, strlen(claims_json));
	_cleanup_free_ unsigned char *sig = NULL;
	_cleanup_free_ char *sig64 = NULL;
	_cleanup_free_ char *input = NULL;
	size_t siglen = 0, ilen;
	lb_secbuf *jwt;

	if (!h || !cl)
		return snprintf(err, cap, "out of memory"), -1;
	if (key_pem->len > INT32_MAX)
		return snprintf(err, cap, "private key too large"), -1;
	bio = BIO_new_mem_buf(key_pem->data, (int)key_pem->len);
	if (bio)
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!key)
		return snprintf(err, cap, "no PEM private key could be read"), -1;
	if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA)
		return snprintf(err, cap, "the private key is not an RSA key (RS256 needs one)"),
		       -1;
	ilen = strlen(h) + 1 + strlen(cl);
	input = malloc(ilen + 1);
	if (!input)
		return snprintf(err, cap, "out of memory"), -1;
	snprintf(input, ilen + 1, "%s.%s", h, cl);
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, ilen) != 1 ||
	    !(sig = malloc(siglen)) ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, ilen) != 1)
		return snprintf(err, cap, "RS256 signing failed"), -1;
	sig64 = lbc_b64url(sig, siglen);
	if (!sig64)
		return snprintf(err, cap, "out of memory"), -1;
	jwt = lb_secbuf_new(ilen + 1 + strlen(sig64));
	if (!jwt)
		return snprintf(err, cap, "out of secure memory"), -1;
	memcpy(jwt->data, input, ilen);
	jwt->data[ilen] = '.';
	memcpy(jwt->data + ilen + 1, sig64, strlen(sig64));
	jwt->data[jwt->len] = '\0';
	*out = jwt;
	return 0;
}

uint32_t lbc_crc32c(const void *p, size_t len)
{
	static uint32_t table[256];
	static bool ready;
	const unsigned char *b = p;
	uint32_t crc = 0xffffffffu;

	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
		ready = true;
	}
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

int lbc_form_add(lb_secbuf **body, const char *name, const void *value, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *v = value;
	size_t old = *body ? (*body)->len : 0;
	size_t need = old + (old ? 1 : 0) + strlen(name) + 1 + 3 * len;
	lb_secbuf *b = lb_secbuf_new(need);
	size_t o = 0;

	if (!b)
		return -1;
	if (old) {
		memcpy(b->data, (*body)->data, old);
		o = old;
		b->data[o++] = '&';
	}
	memcpy(b->data + o, name, strlen(name));
	o += strlen(name);
	b->data[o++] = '=';
	for (size_t i = 0; i < len; i++) {
		if (isalnum(v[i]) || v[i] == '-' || v[i] == '.' || v[i] == '_' || v[i] == '~') {
			b->data[o++] = v[i];
		} else {
			b->data[o++] = '%';
			b->data[o++] = (unsigned char)hex[v[i] >> 4];
			b->data[o++] = (unsigned char)hex[v[i] & 15];
		}
	}
	b->len = o;
	b->data[o] = '\0';
	lb_secbuf_free(*body);
	*body = b;
	return 0;
}

int lbc_read_secret_file(const char *path, size_t cap, bool trim, lb_secbuf **out, char *err,
			 size_t ecap)
{
	lb_err e = {0};
	lb_secbuf *b = NULL;

	if (lb_read_secret_at(AT_FDCWD, path, cap, &b, &e)) {
		snprintf(err, ecap, "%s", e.msg);
		return -1;
	}
	while (trim && b->len && isspace(b->data[b->len - 1]))
		b->data[--b->len] = '\0';
	if (b->len == 0) {
		lb_secbuf_free(b);
		snprintf(err, ecap, "%s is empty", path);
		return -1;
	}
	*out = b;
	return 0;
}

/* --- results --- */

static void waiter_fail(lbc *c, struct waiter *w, const char *msg)
{
	lb_fetch_result r = {.status = -1};

	snprintf(r.error, sizeof(r.error), "%s store \"%s\": %s: %s", c->impl->kind, c->s->name,
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

/* Answers every waiter and frees r; r must be on no list. */
static void read_finish(struct read *r, lb_fetch_result *res, const char *err)
{
	lbc *c = r->c;
	struct waiter *list = r->waiters;

	while (list) {
		struct waiter *w = list;
		list = w->next;
		if (err) {
			waiter_fail(c, w, err);
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
	read_finish(r, NULL, msg);
}

/* --- faults --- */

static void note_ok(lbc *c)
{
	c->backoff_ms = 0;
	c->backoff_until = 0;
	c->degraded = false;
}

static void note_fault(lbc *c, const char *what, const char *reason, long retry_after_s)
{
	uint64_t wait;

	snprintf(c->last_error, sizeof(c->last_error), "%s: %s", what, reason);
	c->token_fault = strncmp(what, "token", 5) == 0;
	/* Replies to requests that were in flight together count as one fault. */
	if (c->backoff_until && lb_now_ms() < c->backoff_until)
		return;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_FIRST_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	wait = lb_store_jitter_ms(c->backoff_ms);
	if (retry_after_s > 0 && (uint64_t)retry_after_s * 1000 > wait)
		wait = (uint64_t)retry_after_s * 1000;
	if (wait > 10 * BACKOFF_MAX_MS)
		wait = 10 * BACKOFF_MAX_MS;
	c->backoff_until = lb_now_ms() + wait;
	c->degraded = true;
	lb_log(LB_WARN, "%s store %s: %s: %s; backing off %llu ms", c->impl->kind, c->s->name, what,
	       reason, (unsigned long long)wait);
	lb_audit("store_error", json_pack("{s:s,s:s,s:s,s:I}", "store", c->s->name, "path", what,
					  "reason", reason, "backoff_ms", (json_int_t)wait));
}

static bool backing_off(lbc *c, char *msg, size_t cap)
{
	if (c->backoff_ms && c->probing) {
		snprintf(msg, cap, "retrying after: %s", c->last_error);
		return true;
	}
	if (!c->backoff_until || lb_now_ms() >= c->backoff_until)
		return false;
	snprintf(msg, cap, "backing off for %llu s after: %s",
		 (unsigned long long)((c->backoff_until - lb_now_ms() + 999) / 1000),
		 c->last_error);
	return true;
}

/* An OAuth error reply ({"error":"invalid_grant","error_description":"..."}) as one line. */
static void oauth_error(json_t *j, long status, char *buf, size_t cap)
{
	json_t *e = json_object_get(j, "error");
	const char *code = json_string_value(e);
	const char *desc = json_string_value(json_object_get(j, "error_description"));

	if (!code && json_is_object(e)) { /* Google APIs' {"error":{"status","message"}} */
		code = json_string_value(json_object_get(e, "status"));
		desc = json_string_value(json_object_get(e, "message"));
	}
	if (code)
		snprintf(buf, cap, "%s%s%.300s (HTTP %ld)", code, desc ? ": " : "",
			 desc ? desc : "", status);
	else
		snprintf(buf, cap, "HTTP %ld", status);
	lbc_clean_text(buf);
}

/* --- token --- */

static bool token_fresh(lbc *c)
{
	return c->token && now_s() < c->token_refresh_at;
}

static void waiting_release(lbc *c, const char *err)
{
	struct read *q = c->waiting, *rev = NULL;

	c->waiting = NULL;
	while (q) { /* oldest first */
		struct read *n = q->next;
		q->next = rev;
		rev = q;
		q = n;
	}
	while (rev) {
		struct read *r = rev;
		rev = r->next;
		r->next = NULL;
		if (err)
			read_fail(r, "%s", err);
		else
			read_send(r);
	}
}

static void on_token(void *ctx, const lb_http_resp *resp)
{
	lbc *c = ctx;
	_cleanup_json_ json_t *j = NULL;
	json_t *tok = NULL, *exp;
	int64_t ttl = 0;
	char err[450] = "", what[64];

	c->auth_req = NULL;
	c->authing = false;
	snprintf(what, sizeof(what), "token from %s", c->token_source);
	if (resp->body && resp->body->len)
		j = json_loadb((const char *)resp->body->data, resp->body->len, 0, NULL);
	if (resp->curl_code != 0) {
		snprintf(err, sizeof(err), "%s", resp->error);
		note_fault(c, what, err, -1);
	} else if (resp->status < 200 || resp->status > 299) {
		oauth_error(j, resp->status, err, sizeof(err));
		note_fault(c, what, err, resp->retry_after_s);
	} else {
		tok = json_object_get(j, "access_token");
		exp = json_object_get(j, "expires_in");
		/* Azure IMDS sends expires_in as a string; OAuth servers as a number. */
		if (json_is_integer(exp))
			ttl = json_integer_value(exp);
		else if (json_is_string(exp))
			ttl = strtoll(json_string_value(exp), NULL, 10);
		if (!json_is_string(tok) || json_string_length(tok) == 0 || ttl <= 0) {
			snprintf(err, sizeof(err),
				 "malformed token reply (no access_token or expires_in)");
			note_fault(c, what, err, -1);
		}
	}
	if (err[0]) {
		char msg[500];
		snprintf(msg, sizeof(msg), "%s: %s", what, err);
		waiting_release(c, msg);
		return;
	}
	/* A new token ends a run of token faults, not one of the secrets API. */
	if (c->token_fault)
		note_ok(c);
	lb_secbuf_free(c->token);
	c->token = lb_secbuf_dup(json_string_value(tok), json_string_length(tok));
	if (!c->token) {
		waiting_release(c, "out of secure memory");
		return;
	}
	c->token_gen++;
	c->tokens_fetched++;
	c->token_ttl = ttl;
	c->token_expire = now_s() + ttl;
	/* Refresh a third of the way before expiry, at most REFRESH_MARGIN_S early. */
	c->token_refresh_at =
	    c->token_expire - (ttl / 3 < REFRESH_MARGIN_S ? ttl / 3 : REFRESH_MARGIN_S);
	lb_log(LB_INFO, "%s store %s: token from %s, expires in %llds", c->impl->kind, c->s->name,
	       c->token_source, (long long)ttl);
	waiting_release(c, NULL);
}

static void auth_begin(lbc *c)
{
	lbc_token_req tr = {0};
	_cleanup_secbuf_ lb_secbuf *body = NULL;
	const char *headers[3];
	size_t nh = 0;
	lb_http_opts o = {0};
	lb_err e = {0};
	char err[450] = "", msg[500];

	if (c->authing)
		return;
	if (backing_off(c, err, sizeof(err))) {
		waiting_release(c, err);
		return;
	}
	if (c->impl->token_request(c, &tr, err, sizeof(err))) {
		body = tr.body;
		snprintf(c->token_source, sizeof(c->token_source), "%s",
			 tr.source[0] ? tr.source : "credentials");
		snprintf(msg, sizeof(msg), "token from %s: %s", c->token_source, err);
		note_fault(c, "token", err, -1);
		waiting_release(c, msg);
		return;
	}
	body = tr.body;
	snprintf(c->token_source, sizeof(c->token_source), "%s", tr.source);
	headers[nh++] = "Accept: application/json";
	if (tr.header[0])
		headers[nh++] = tr.header;
	if (body) {
		headers[nh++] = "Content-Type: application/x-www-form-urlencoded";
		o.method = "POST";
		o.body = body->data;
		o.body_len = body->len;
	}
	o.url = tr.url;
	o.headers = headers;
	o.nheaders = nh;
	o.ca_file = c->ca_file;
	o.timeout_ms = REQ_TIMEOUT_MS;
	o.max_body = TOKEN_MAX_BODY;
	c->authing = true;
	c->auth_req = lb_http_start(c->s->env.http, &o, on_token, c, &e);
	if (!c->auth_req) {
		c->authing = false;
		snprintf(msg, sizeof(msg), "token from %s: %s", c->token_source, e.msg);
		note_fault(c, "token", e.msg, -1);
		waiting_release(c, msg);
	}
}

/* --- reads --- */

static void on_read(void *ctx, const lb_http_resp *resp)
{
	struct read *r = ctx;
	lbc *c = r->c;
	_cleanup_json_ json_t *j = NULL;
	lb_fetch_result res = {.status = 0};
	char err[450] = "", what[600];

	r->req = NULL;
	unlink_read(&c->reads, r);
	if (r->probe)
		c->probing = false;
	snprintf(what, sizeof(what), "read %s", r->path);
	if (resp->body && resp->body->len)
		j = json_loadb((const char *)resp->body->data, resp->body->len, 0, NULL);
	if (resp->curl_code != 0) {
		note_fault(c, what, resp->error, -1);
		read_fail(r, "%s", resp->error);
		return;
	}
	if (resp->status == 401 && !r->replayed) {
		/* The token was refused (expired early, revoked; for Azure the challenge):
		 * get a new one and send once more. */
		r->replayed = true;
		if (r->token_gen == c->token_gen && c->token) {
			lb_log(LB_WARN, "%s store %s: token refused (HTTP 401); getting a new one",
			       c->impl->kind, c->s->name);
			lb_secbuf_free(c->token);
			c->token = NULL;
		}
		if (token_fresh(c)) {
			read_send(r);
			return;
		}
		r->next = c->waiting;
		c->waiting = r;
		auth_begin(c);
		return;
	}
	if (resp->status == 429 || resp->status >= 500) {
		c->impl->read_error(c, &r->waiters->src, resp->status, j, err, sizeof(err));
		note_fault(c, what, err, resp->retry_after_s);
		read_fail(r, "%s", err);
		return;
	}
	if (resp->status < 200 || resp->status > 299) {
		note_ok(c);
		c->impl->read_error(c, &r->waiters->src, resp->status, j, err, sizeof(err));
		read_fail(r, "%s", err);
		return;
	}
	if (!json_is_object(j)) {
		snprintf(err, sizeof(err), "malformed JSON reply (HTTP %ld)", resp->status);
		note_fault(c, what, err, -1);
		read_fail(r, "%s", err);
		return;
	}
	note_ok(c);
	if (c->impl->read_ok(c, &r->waiters->src, j, &res, err, sizeof(err))) {
		lb_fetch_result_clear(&res);
		read_fail(r, "%s", err);
		return;
	}
	read_finish(r, &res, NULL);
	lb_fetch_result_clear(&res);
}

static void read_send(struct read *r)
{
	lbc *c = r->c;
	_cleanup_secbuf_ lb_secbuf *auth = NULL;
	static const char bearer[] = "Authorization: Bearer ";
	const char *headers[2];
	char url[2048], err[450];
	lb_http_opts o = {0};
	lb_err e = {0};

	if (backing_off(c, err, sizeof(err))) {
		read_fail(r, "%s", err);
		return;
	}
	if (!token_fresh(c)) {
		r->next = c->waiting;
		c->waiting = r;
		auth_begin(c);
		return;
	}
	if (c->impl->read_url(c, &r->waiters->src, url, sizeof(url), err, sizeof(err))) {
		read_fail(r, "%s", err);
		return;
	}
	auth = lb_secbuf_new(sizeof(bearer) - 1 + c->token->len);
	if (!auth) {
		read_fail(r, "out of secure memory");
		return;
	}
	memcpy(auth->data, bearer, sizeof(bearer) - 1);
	memcpy(auth->data + sizeof(bearer) - 1, c->token->data, c->token->len);
	auth->data[auth->len] = '\0';
	headers[0] = (const char *)auth->data;
	headers[1] = "Accept: application/json";
	o.url = url;
	o.headers = headers;
	o.nheaders = 2;
	o.ca_file = c->ca_file;
	o.timeout_ms = REQ_TIMEOUT_MS;
	o.max_body = REQ_MAX_BODY;
	r->token_gen = c->token_gen;
	/* After a run of faults one read goes first; the others wait for its outcome. */
	r->probe = c->backoff_ms != 0;
	c->probing = r->probe;
	r->next = c->reads;
	c->reads = r;
	r->req = lb_http_start(c->s->env.http, &o, on_read, r, &e);
	if (!r->req) {
		unlink_read(&c->reads, r);
		c->probing = false;
		note_fault(c, "read", e.msg, -1);
		read_fail(r, "%s", e.msg);
	}
}

void lbc_fetch(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb, void *ctx)
{
	lbc *c = s->priv;
	struct waiter *w = calloc(1, sizeof(*w));
	struct read *r;
	struct read *lists[2] = {c->reads, c->waiting};

	(void)target;
	if (!w) {
		lb_fetch_result res = {.status = -1};
		snprintf(res.error, sizeof(res.error), "%s store \"%s\": out of memory",
			 c->impl->kind, s->name);
		cb(ctx, &res);
		return;
	}
	w->cb = cb;
	w->ctx = ctx;
	w->src = *src;
	if (c->closing) {
		waiter_fail(c, w, "store closed");
		return;
	}
	/* Join a read of the same (name, version) that is under way. */
	for (size_t i = 0; i < 2; i++)
		for (r = lists[i]; r; r = r->next)
			if (strcmp(r->path, src->path) == 0 &&
			    strcmp(r->version, src->version) == 0) {
				struct waiter **p = &r->waiters;
				while (*p)
					p = &(*p)->next;
				*p = w;
				return;
			}
	r = calloc(1, sizeof(*r));
	if (!r) {
		waiter_fail(c, w, "out of memory");
		return;
	}
	r->c = c;
	snprintf(r->path, sizeof(r->path), "%s", src->path);
	snprintf(r->version, sizeof(r->version), "%s", src->version);
	r->waiters = w;
	read_send(r);
}

json_t *lbc_health(lb_store *s)
{
	lbc *c = s->priv;
	json_t *h =
	    json_pack("{s:s,s:s,s:b,s:i}", "health",
		      c->degraded ? "degraded" : (c->token ? "ok" : "authenticating"),
		      "credentials", c->token_source[0] ? c->token_source : "none", "authenticated",
		      c->token != NULL, "tokens_fetched", (int)c->tokens_fetched);

	if (!h)
		return NULL;
	if (c->token)
		json_object_set_new(h, "token_ttl", json_integer(c->token_expire - now_s()));
	if (c->last_error[0])
		json_object_set_new(h, "last_error", json_string(c->last_error));
	if (c->backoff_until > lb_now_ms())
		json_object_set_new(h, "backoff_ms",
				    json_integer((json_int_t)(c->backoff_until - lb_now_ms())));
	if (c->impl->health_extra) {
		json_t *x = c->impl->health_extra(c);
		json_object_update(h, x);
		json_decref(x);
	}
	return h;
}

static void lbc_free(lbc *c)
{
	if (c->impl->free_impl)
		c->impl->free_impl(c->ip);
	lb_secbuf_free(c->token);
	free(c->ca_file);
	free(c);
}

int lbc_open(lb_store *s, const lbc_impl *impl, void *ip, const char *ca_file, lb_err *e)
{
	lbc *c = calloc(1, sizeof(*c));

	if (!c) {
		if (impl->free_impl)
			impl->free_impl(ip);
		return lb_fail(e, ENOMEM, "out of memory");
	}
	c->s = s;
	c->impl = impl;
	c->ip = ip;
	if (ca_file && !(c->ca_file = strdup(ca_file))) {
		lbc_free(c);
		return lb_fail(e, ENOMEM, "out of memory");
	}
	s->priv = c;
	return 0;
}

void lbc_close(lb_store *s)
{
	lbc *c = s->priv;
	struct read *pending = NULL;

	if (!c)
		return;
	c->closing = true;
	if (c->auth_req)
		lb_http_cancel(c->auth_req);
	c->auth_req = NULL;
	while (c->reads) {
		struct read *r = c->reads;
		c->reads = r->next;
		lb_http_cancel(r->req);
		r->next = pending;
		pending = r;
	}
	while (c->waiting) {
		struct read *r = c->waiting;
		c->waiting = r->next;
		r->next = pending;
		pending = r;
	}
	while (pending) {
		struct read *r = pending;
		pending = r->next;
		read_fail(r, "store closed");
	}
	lbc_free(c);
	s->priv = NULL;
}
