/* OAuth 2 / JWT helpers (see oauth.h). */
#include "oauth.h"
#include "netstore.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

char *lb_oauth_b64url(const void *p, size_t len)
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

int lb_oauth_jwt_rs256(const lb_secbuf *key_pem, const char *header_json, const char *claims_json,
		       lb_secbuf **out, lb_err *e)
{
	_cleanup_(bio_freep) BIO *bio = NULL;
	_cleanup_(evp_pkey_freep) EVP_PKEY *key = NULL;
	_cleanup_(evp_md_ctx_freep) EVP_MD_CTX *md = NULL;
	_cleanup_free_ char *h = lb_oauth_b64url(header_json, strlen(header_json));
	_cleanup_free_ char *cl = lb_oauth_b64url(claims_json, strlen(claims_json));
	_cleanup_free_ unsigned char *sig = NULL;
	_cleanup_free_ char *sig64 = NULL;
	_cleanup_free_ char *input = NULL;
	size_t siglen = 0, ilen;
	lb_secbuf *jwt;

	if (!h || !cl)
		// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees h and cl
		return lb_fail(e, ENOMEM, "out of memory");
	if (key_pem->len > INT32_MAX)
		return lb_fail(e, 0, "private key too large");
	bio = BIO_new_mem_buf(key_pem->data, (int)key_pem->len);
	if (bio)
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!key)
		return lb_fail(e, 0, "no PEM private key could be read");
	if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA)
		return lb_fail(e, 0, "the private key is not an RSA key (RS256 needs one)");
	ilen = strlen(h) + 1 + strlen(cl);
	input = malloc(ilen + 1);
	if (!input)
		return lb_fail(e, ENOMEM, "out of memory");
	snprintf(input, ilen + 1, "%s.%s", h, cl);
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, ilen) != 1 ||
	    !(sig = malloc(siglen)) ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, ilen) != 1)
		// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees sig
		return lb_fail(e, 0, "RS256 signing failed");
	sig64 = lb_oauth_b64url(sig, siglen);
	if (!sig64)
		return lb_fail(e, ENOMEM, "out of memory");
	jwt = lb_secbuf_new(ilen + 1 + strlen(sig64));
	if (!jwt)
		// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees sig64
		return lb_fail(e, ENOMEM, "out of secure memory");
	memcpy(jwt->data, input, ilen);
	jwt->data[ilen] = '.';
	memcpy(jwt->data + ilen + 1, sig64, strlen(sig64));
	jwt->data[jwt->len] = '\0';
	*out = jwt;
	return 0;
}

int lb_oauth_form_add(lb_secbuf **body, const char *name, const void *value, size_t len)
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

int lb_oauth_token_parse(json_t *reply, lb_secbuf **token, int64_t *ttl, lb_err *e)
{
	json_t *tok = json_object_get(reply, "access_token");
	json_t *exp = json_object_get(reply, "expires_in");
	int64_t t = 0;

	*token = NULL;
	/* Azure IMDS sends expires_in as a string; OAuth servers as a number. */
	if (json_is_integer(exp))
		t = json_integer_value(exp);
	else if (json_is_string(exp))
		t = strtoll(json_string_value(exp), NULL, 10);
	if (!json_is_string(tok) || json_string_length(tok) == 0 || t <= 0)
		return lb_fail(e, 0, "malformed token reply (no access_token or expires_in)");
	*token = lb_secbuf_dup(json_string_value(tok), json_string_length(tok));
	if (!*token)
		return lb_fail(e, ENOMEM, "out of secure memory");
	*ttl = t;
	return 0;
}

void lb_oauth_error(json_t *reply, long status, char *buf, size_t cap)
{
	json_t *err = json_object_get(reply, "error");
	const char *code = json_string_value(err);
	const char *desc = json_string_value(json_object_get(reply, "error_description"));

	if (!code && json_is_object(err)) { /* Google APIs' {"error":{"status","message"}} */
		code = json_string_value(json_object_get(err, "status"));
		desc = json_string_value(json_object_get(err, "message"));
	}
	if (code)
		snprintf(buf, cap, "%s%s%.300s (HTTP %ld)", code, desc ? ": " : "",
			 desc ? desc : "", status);
	else
		snprintf(buf, cap, "HTTP %ld", status);
	lb_nst_printable(buf);
}

/* --- the bearer token --- */

#include "log.h"
#include <time.h>

#define TOKEN_MAX_BODY	 (64 * 1024)
#define REFRESH_MARGIN_S 300

static void on_token(lb_nst *ns, void *ctx, const lb_nst_reply *r)
{
	lb_oauth_token *t = ctx;
	lb_secbuf *tok = NULL;
	int64_t ttl = 0, margin;
	lb_err e = {0};
	char msg[600];

	if (r->verdict != LB_NST_OK || lb_oauth_token_parse(r->json, &tok, &ttl, &e)) {
		snprintf(msg, sizeof(msg), "token from %s: %s", t->source,
			 r->verdict != LB_NST_OK ? r->err.msg : e.msg);
		lb_nst_cred_fail(ns, false, -1, "", "", msg);
		return;
	}
	lb_secbuf_free(t->token);
	t->token = tok;
	t->fetched++;
	t->ttl = ttl;
	t->expire = (int64_t)time(NULL) + ttl;
	lb_log(LB_INFO, "%s store %s: token from %s, expires in %llds", lb_nst_kind(ns),
	       lb_nst_name(ns), t->source, (long long)ttl);
	/* Refresh a third of the way before expiry, at most REFRESH_MARGIN_S early. */
	margin = ttl / 3 < REFRESH_MARGIN_S ? ttl / 3 : REFRESH_MARGIN_S;
	lb_nst_cred_ok(ns, t->expire - margin, true);
}

void lb_oauth_token_fetch(lb_nst *ns, lb_oauth_token *t, const char *url, lb_secbuf *form)
{
	lb_nst_req req = {.cred = LB_NST_NOCRED, .auth = true, .flags = LB_OAUTH_TOKEN_REQ};

	snprintf(req.method, sizeof(req.method), "%s", form ? "POST" : "GET");
	snprintf(req.path, sizeof(req.path), "%s", url);
	snprintf(req.what, sizeof(req.what), "token from %s", t->source);
	req.body = form;
	lb_nst_call_start(ns, &req, on_token, t);
}

void lb_oauth_token_fail(lb_nst *ns, lb_oauth_token *t, const char *reason)
{
	char msg[600];

	snprintf(msg, sizeof(msg), "token from %s: %s", t->source, reason);
	lb_nst_cred_fail(ns, true, -1, "token", reason, msg);
}

int lb_oauth_prepare(const lb_oauth_token *t, const lb_nst_req *req, lb_nst_http *h, lb_err *e)
{
	static const char json[] = "application/json";
	static const char form[] = "application/x-www-form-urlencoded";

	if (req->flags & LB_OAUTH_TOKEN_REQ) {
		const char *colon = strchr(t->header, ':');

		snprintf(h->url, sizeof(h->url), "%s", req->path);
		h->opts.max_body = TOKEN_MAX_BODY;
		if (lb_nst_http_header(h, "Accept", json, sizeof(json) - 1) ||
		    (colon && lb_nst_http_header_line(h, t->header)) ||
		    (req->body && lb_nst_http_header(h, "Content-Type", form, sizeof(form) - 1)))
			return lb_fail(e, ENOMEM, "out of secure memory");
		return 0;
	}
	if (!t->token)
		return lb_fail(e, 0, "no token");
	{
		static const char bearer[] = "Bearer ";
		_cleanup_secbuf_ lb_secbuf *v = lb_secbuf_new(sizeof(bearer) - 1 + t->token->len);

		if (!v)
			return lb_fail(e, ENOMEM, "out of secure memory");
		memcpy(v->data, bearer, sizeof(bearer) - 1);
		memcpy(v->data + sizeof(bearer) - 1, t->token->data, t->token->len);
		v->data[v->len] = '\0';
		if (lb_nst_http_header(h, "Authorization", v->data, v->len) ||
		    lb_nst_http_header(h, "Accept", json, sizeof(json) - 1))
			return lb_fail(e, ENOMEM, "out of secure memory");
	}
	return 0;
}

void lb_oauth_classify(const lb_nst_req *req, const lb_http_resp *resp, lb_nst_reply *r,
		       void (*errfmt)(long status, json_t *j, char *buf, size_t cap))
{
	long st = resp->status;

	if (resp->body && resp->body->len)
		r->json = json_loadb((const char *)resp->body->data, resp->body->len, 0, NULL);
	if (r->json && !json_is_object(r->json)) {
		json_decref(r->json);
		r->json = NULL;
	}
	if (req->flags & LB_OAUTH_TOKEN_REQ) {
		lb_secbuf *tok = NULL;
		int64_t ttl;

		r->verdict = LB_NST_FAULT;
		if (st < 200 || st > 299)
			lb_oauth_error(r->json, st, r->err.msg, sizeof(r->err.msg));
		else if (lb_oauth_token_parse(r->json, &tok, &ttl, &r->err) == 0)
			r->verdict = LB_NST_OK;
		lb_secbuf_free(tok);
		return;
	}
	if (st == 401) {
		errfmt(st, r->json, r->err.msg, sizeof(r->err.msg));
		r->verdict = LB_NST_REFRESH;
	} else if (st == 429 || st >= 500) {
		errfmt(st, r->json, r->err.msg, sizeof(r->err.msg));
		r->verdict = LB_NST_FAULT;
	} else if (st < 200 || st > 299) {
		errfmt(st, r->json, r->err.msg, sizeof(r->err.msg));
		r->verdict = LB_NST_FINAL;
	} else if (!r->json) {
		lb_fail(&r->err, 0, "malformed JSON reply (HTTP %ld)", st);
		r->verdict = LB_NST_FAULT;
	} else {
		r->verdict = LB_NST_OK;
	}
}

void lb_oauth_token_drop(lb_oauth_token *t)
{
	lb_secbuf_free(t->token);
	t->token = NULL;
}

void lb_oauth_health(const lb_oauth_token *t, json_t *h)
{
	json_object_set_new(h, "credentials", json_string(t->source[0] ? t->source : "none"));
	json_object_set_new(h, "authenticated", json_boolean(t->token != NULL));
	json_object_set_new(h, "tokens_fetched", json_integer(t->fetched));
	if (t->token)
		json_object_set_new(h, "token_ttl", json_integer(t->expire - (int64_t)time(NULL)));
}
