/* HashiCorp Vault store.
 *
 * Auth (token, approle with optional wrapped secret_id, cert) keeps one token in a secure
 * buffer, renews it at 2/3 of its TTL and logs in again when Vault refuses it. KV reads are
 * shared: every fetch of one (path, version) that arrives while a read is in flight joins it,
 * so a refresh of 1,000 targets costs one request. Any other mount is leased: one lease per
 * (target, path), renewed at 2/3 of its duration, revoked on release, and its id (never its
 * value) persisted in state_dir/vault-STORE.json so that a restarted broker renews or
 * revokes it. Faults (transport, 5xx, 429, sealed, malformed) put the whole store in a capped
 * exponential backoff with jitter; while it lasts, requests fail at once with the reason. */
#include "store.h"
#include "vault_parse.h"
#include "cleanup.h"
#include "fsutil.h"
#include "layout.h"
#include "log.h"

#include <ctype.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REQ_TIMEOUT_MS	 10000
#define REQ_MAX_BODY	 (1024 * 1024)
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS	 60000
#define FILE_CAP	 16384
#define STATE_CAP	 (8 * 1024 * 1024)
#define MIN_TIMER_MS	 1000

struct vault;

typedef void (*call_cb)(struct vault *v, void *ctx, const lb_vault_reply *r);

enum call_flags {
	C_NOTOKEN = 1,	/* no X-Vault-Token (logins) */
	C_RAWTOKEN = 2, /* our token even while authenticating; no re-login on refusal */
	C_XTOKEN = 4,	/* xtoken instead of ours (unwrap) */
};

struct call {
	struct vault *v;
	lb_http_req *req;
	char method[8];
	char path[1024]; /* after /v1/, with the query */
	lb_secbuf *body;
	lb_secbuf *xtoken;
	unsigned flags;
	bool relogged;
	unsigned token_gen; /* v->token_gen when sent */
	call_cb cb;
	void *ctx;
	struct call *next;
};

/* One fetch the broker is waiting for. */
struct waiter {
	lb_fetch_cb cb;
	void *ctx;
	lb_source src;
	char target[LB_NAME_MAX + 1];
	struct waiter *next;
};

struct mount {
	char path[512]; /* "secret/" */
	bool kv;
	int version;
	struct mount *next;
};

/* A KV read in flight, shared by every fetch of the same (path, version). */
struct kvread {
	char path[512];
	char version[64];
	char vpath[1024]; /* the request path, e.g. secret/data/web */
	struct mount *mount;
	struct waiter *waiters;
	struct kvread *next;
};

struct lease {
	char target[LB_NAME_MAX + 1];
	char path[512];
	char id[600];
	char version[64];
	int64_t expire, ttl, rotate_at; /* Unix seconds, seconds, Unix seconds */
	bool renewable, capped, retiring, reading, released;
	bool rotate_due;  /* its rotate point passed: the next fetch reads new credentials */
	lb_secbuf *value; /* NULL for a lease restored from state_dir */
	lb_timer *timer;
	struct waiter *waiters;
	struct vault *v;
	struct lease *next;
};

struct revoke {
	char id[600];
	char path[512];
	char target[LB_NAME_MAX + 1];
	int64_t expire;
	bool busy;
	struct revoke *next;
};

/* A target the broker is asked to refresh (request_refresh), sent from a timer. */
struct refreq {
	char target[LB_NAME_MAX + 1];
	struct refreq *next;
};

enum auth_method { AUTH_TOKEN, AUTH_APPROLE, AUTH_CERT };

struct vault {
	lb_store *s;
	char *address, *ca_file, *ca_dir, *client_cert, *client_key, *ns;
	int kv_version;
	enum auth_method method;
	char *token_file, *role_id_file, *secret_id_file, *auth_mount, *auth_name;
	bool secret_id_wrapped;
	unsigned char hkey[crypto_generichash_KEYBYTES];

	lb_secbuf *secret_id; /* unwrapped once, kept for later logins */
	lb_secbuf *token;
	unsigned token_gen;
	bool authed, authing, token_capped;
	int64_t token_expire, token_ttl; /* 0 = never expires */
	lb_timer *token_timer;
	bool token_relogin_due;
	uint64_t next_relogin_ms;

	uint64_t backoff_until, backoff_ms;
	bool degraded;
	char last_error[512];

	struct call *calls; /* in flight */
	struct call *auth_queue;
	struct mount *mounts;
	bool mount_busy;
	struct waiter *mount_waiters;
	char mount_error_path[512];
	struct kvread *kvreads;
	struct lease *leases;
	struct revoke *revokes;
	lb_timer *revoke_timer, *persist_timer, *refresh_timer;
	struct refreq *refreqs;
	bool dirty, closing;
	char state_name[128];
};

static void call_start(struct vault *v, const char *method, const char *path, json_t *body,
		       unsigned flags, call_cb cb, void *ctx);
static void auth_begin(struct vault *v);
static void call_send(struct call *c);
static void dispatch(struct vault *v, struct waiter *w);
static void lease_schedule(struct lease *l);
static void revoke_start(struct vault *v, struct revoke *rv);

/* --- small helpers --- */

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static void fill_err(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fill_err(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

static int read_secret_file(const char *path, lb_secbuf **out, char *err, size_t cap)
{
	lb_err e = {0};
	lb_secbuf *b = NULL;

	if (lb_read_secret_at(AT_FDCWD, path, FILE_CAP, &b, &e)) {
		fill_err(err, cap, "%s", e.msg);
		return -1;
	}
	while (b->len && isspace(b->data[b->len - 1]))
		b->data[--b->len] = '\0';
	if (b->len == 0) {
		lb_secbuf_free(b);
		fill_err(err, cap, "%s is empty", path);
		return -1;
	}
	*out = b;
	return 0;
}

static void waiter_reply(struct waiter *w, lb_fetch_result *r)
{
	w->cb(w->ctx, r);
	free(w);
}

static void waiter_fail(struct vault *v, struct waiter *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void waiter_fail(struct vault *v, struct waiter *w, const char *fmt, ...)
{
	lb_fetch_result r = {.status = -1};
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(r.error, sizeof(r.error), "vault store \"%s\": %s: %s", v->s->name, w->src.path,
		 msg);
	waiter_reply(w, &r);
}

static void waiters_fail(struct vault *v, struct waiter *list, const char *msg)
{
	while (list) {
		struct waiter *w = list;
		list = w->next;
		waiter_fail(v, w, "%s", msg);
	}
}

static void append_waiter(struct waiter **list, struct waiter *w)
{
	w->next = NULL;
	while (*list)
		list = &(*list)->next;
	*list = w;
}

/* --- state file: lease ids, never values --- */

static void persist_now(struct vault *v)
{
	_cleanup_json_ json_t *root = json_object(), *ls = json_array(), *rs = json_array();
	char *dump;
	lb_err e = {0};

	v->dirty = false;
	if (!root || !ls || !rs)
		return;
	for (struct lease *l = v->leases; l; l = l->next) {
		if (!l->id[0])
			continue;
		json_array_append_new(
		    ls, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:b,s:b,s:b}", "target", l->target,
				  "path", l->path, "lease_id", l->id, "version", l->version,
				  "expire", (json_int_t)l->expire, "ttl", (json_int_t)l->ttl,
				  "rotate_at", (json_int_t)l->rotate_at, "renewable", l->renewable,
				  "capped", l->capped, "retiring", l->retiring));
	}
	for (struct revoke *r = v->revokes; r; r = r->next)
		json_array_append_new(rs, json_pack("{s:s,s:s,s:s,s:I}", "lease_id", r->id, "path",
						    r->path, "target", r->target, "expire",
						    (json_int_t)r->expire));
	json_object_set(root, "leases", ls);
	json_object_set(root, "revoke", rs);
	dump = json_dumps(root, JSON_INDENT(1));
	if (!dump)
		return;
	if (lb_write_replace_at(v->s->env.state_dirfd, v->state_name, dump, strlen(dump), 0600, &e))
		lb_log(LB_ERROR, "vault store %s: saving lease ids: %s", v->s->name, e.msg);
	lb_json_free(dump);
}

static void on_persist_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	persist_now(ctx);
}

/* Changes of one loop iteration are written together (1,000 new leases: one write). */
static void persist_soon(struct vault *v)
{
	v->dirty = true;
	if (!lb_timer_armed(v->persist_timer))
		lb_timer_arm(v->persist_timer, 1);
}

/* --- refresh requests to the broker --- */

/* Window in which requests are gathered: renewals restored after a restart, or leases
 * issued together, then ask in one loop iteration, so that the KV reads of the refreshed
 * targets join one request. */
#define REFRESH_GATHER_MS 250

static void on_refresh_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct vault *v = ctx;
	struct refreq *list = v->refreqs;

	(void)loop;
	(void)t;
	/* The broker fetches from inside request_refresh: take the list first. */
	v->refreqs = NULL;
	while (list) {
		struct refreq *q = list;
		list = q->next;
		if (v->s->env.request_refresh && !v->closing)
			v->s->env.request_refresh(v->s->env.owner, q->target);
		free(q);
	}
}

/* Never calls the broker directly: it would fetch (and re-enter this store) at once. */
static void refresh_request(struct vault *v, const char *target)
{
	struct refreq *q, **p;

	if (!v->s->env.request_refresh || !target[0])
		return;
	for (p = &v->refreqs; *p; p = &(*p)->next)
		if (strcmp((*p)->target, target) == 0)
			return;
	q = calloc(1, sizeof(*q));
	if (!q)
		return;
	snprintf(q->target, sizeof(q->target), "%s", target);
	*p = q;
	if (!lb_timer_armed(v->refresh_timer))
		lb_timer_arm(v->refresh_timer, REFRESH_GATHER_MS);
}

static void refresh_forget(struct vault *v, const char *target)
{
	for (struct refreq **p = &v->refreqs; *p;) {
		struct refreq *q = *p;
		if (strcmp(q->target, target) == 0) {
			*p = q->next;
			free(q);
		} else {
			p = &q->next;
		}
	}
}

/* --- requests --- */

static void note_ok(struct vault *v)
{
	v->backoff_ms = 0;
	v->backoff_until = 0;
	v->degraded = false;
}

static void note_fault(struct vault *v, const char *method, const char *path, const char *reason,
		       long retry_after_s)
{
	uint64_t wait;
	char p[600];

	snprintf(p, sizeof(p), "%s", path);
	p[strcspn(p, "?")] = '\0';
	v->backoff_ms = v->backoff_ms ? v->backoff_ms * 2 : BACKOFF_FIRST_MS;
	if (v->backoff_ms > BACKOFF_MAX_MS)
		v->backoff_ms = BACKOFF_MAX_MS;
	wait = lb_store_jitter_ms(v->backoff_ms);
	if (retry_after_s > 0 && (uint64_t)retry_after_s * 1000 > wait)
		wait = (uint64_t)retry_after_s * 1000;
	if (wait > 10 * BACKOFF_MAX_MS)
		wait = 10 * BACKOFF_MAX_MS;
	v->backoff_until = lb_now_ms() + wait;
	v->degraded = true;
	snprintf(v->last_error, sizeof(v->last_error), "%s %s: %s", method, p, reason);
	lb_log(LB_WARN, "vault store %s: %s %s: %s; backing off %llu ms", v->s->name, method, p,
	       reason, (unsigned long long)wait);
	lb_audit("store_error", json_pack("{s:s,s:s,s:s,s:I}", "store", v->s->name, "path", p,
					  "reason", reason, "backoff_ms", (json_int_t)wait));
}

static void unlink_call(struct call **list, struct call *c)
{
	for (; *list; list = &(*list)->next)
		if (*list == c) {
			*list = c->next;
			return;
		}
}

static void call_free(struct call *c)
{
	lb_secbuf_free(c->body);
	lb_secbuf_free(c->xtoken);
	free(c);
}

static void call_finish(struct call *c, lb_vault_reply *r)
{
	struct vault *v = c->v;

	c->cb(v, c->ctx, r);
	json_decref(r->json);
	call_free(c);
}

static void call_fail_now(struct call *c, enum lb_vault_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void call_fail_now(struct call *c, enum lb_vault_kind kind, const char *fmt, ...)
{
	lb_vault_reply r = {.kind = kind};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r.err, sizeof(r.err), fmt, ap);
	va_end(ap);
	call_finish(c, &r);
}

static void on_http(void *ctx, const lb_http_resp *resp)
{
	struct call *c = ctx;
	struct vault *v = c->v;
	lb_vault_reply r = {.status = resp->status};

	unlink_call(&v->calls, c);
	c->req = NULL;
	if (resp->curl_code != 0) {
		r.kind = LB_VAULT_FAULT;
		snprintf(r.err, sizeof(r.err), "%s", resp->error);
	} else {
		lb_vault_reply_parse(&r, resp->status, resp->body ? resp->body->data : NULL,
				     resp->body ? resp->body->len : 0);
	}
	if (r.kind == LB_VAULT_ERR && r.status == 403 && strstr(r.err, "invalid token") &&
	    !(c->flags & (C_NOTOKEN | C_RAWTOKEN | C_XTOKEN)) && !c->relogged) {
		/* Our token is gone (revoked, expired): log in again, then replay once. */
		json_decref(r.json);
		c->relogged = true;
		if (v->authed && c->token_gen == v->token_gen) {
			lb_log(LB_WARN,
			       "vault store %s: token refused (invalid token); logging in again",
			       v->s->name);
			v->authed = false;
		}
		if (v->authed) {
			call_send(c); /* sent with a token that has been replaced since */
			return;
		}
		c->next = v->auth_queue;
		v->auth_queue = c;
		auth_begin(v);
		return;
	}
	if (r.kind == LB_VAULT_FAULT)
		note_fault(v, c->method, c->path, r.err, resp->retry_after_s);
	else
		note_ok(v);
	call_finish(c, &r);
}

static void call_send(struct call *c)
{
	struct vault *v = c->v;
	_cleanup_secbuf_ lb_secbuf *tokhdr = NULL;
	const lb_secbuf *tok = (c->flags & C_XTOKEN) ? c->xtoken : v->token;
	const char *headers[4];
	char nshdr[300], url[1600];
	size_t nh = 0;
	lb_http_opts o = {0};
	lb_err e = {0};

	if (v->backoff_until && lb_now_ms() < v->backoff_until) {
		call_fail_now(c, LB_VAULT_FAULT, "backing off for %llu s after: %s",
			      (unsigned long long)((v->backoff_until - lb_now_ms() + 999) / 1000),
			      v->last_error);
		return;
	}
	c->token_gen = v->token_gen;
	headers[nh++] = "X-Vault-Request: true";
	if (!(c->flags & C_NOTOKEN) && tok) {
		static const char name[] = "X-Vault-Token: ";
		tokhdr = lb_secbuf_new(sizeof(name) - 1 + tok->len);
		if (!tokhdr) {
			call_fail_now(c, LB_VAULT_ERR, "out of secure memory");
			return;
		}
		memcpy(tokhdr->data, name, sizeof(name) - 1);
		memcpy(tokhdr->data + sizeof(name) - 1, tok->data, tok->len);
		tokhdr->data[tokhdr->len] = '\0';
		headers[nh++] = (const char *)tokhdr->data;
	}
	if (v->ns) {
		snprintf(nshdr, sizeof(nshdr), "X-Vault-Namespace: %s", v->ns);
		headers[nh++] = nshdr;
	}
	snprintf(url, sizeof(url), "%s/v1/%s", v->address, c->path);
	o.method = c->method;
	o.url = url;
	o.headers = headers;
	o.nheaders = nh;
	if (c->body) {
		o.body = c->body->data;
		o.body_len = c->body->len;
		headers[nh++] = "Content-Type: application/json";
		o.nheaders = nh;
	}
	o.ca_file = v->ca_file;
	o.ca_dir = v->ca_dir;
	o.client_cert = v->client_cert;
	o.client_key = v->client_key;
	o.timeout_ms = REQ_TIMEOUT_MS;
	o.max_body = REQ_MAX_BODY;
	c->next = v->calls;
	v->calls = c;
	c->req = lb_http_start(v->s->env.http, &o, on_http, c, &e);
	if (!c->req) {
		unlink_call(&v->calls, c);
		call_fail_now(c, LB_VAULT_FAULT, "%s", e.msg);
	}
}

/* cb may run before this returns (backoff, a failed login): callers start calls last. */
static void call_start(struct vault *v, const char *method, const char *path, json_t *body,
		       unsigned flags, call_cb cb, void *ctx)
{
	struct call *c = calloc(1, sizeof(*c));
	lb_vault_reply oom = {.kind = LB_VAULT_ERR};

	if (!c) {
		snprintf(oom.err, sizeof(oom.err), "out of memory");
		cb(v, ctx, &oom);
		return;
	}
	c->v = v;
	c->flags = flags;
	c->cb = cb;
	c->ctx = ctx;
	snprintf(c->method, sizeof(c->method), "%s", method);
	snprintf(c->path, sizeof(c->path), "%s", path);
	if (body) {
		c->body = lb_vault_secbuf_from_json(body);
		if (!c->body) {
			call_fail_now(c, LB_VAULT_ERR, "out of secure memory");
			return;
		}
	}
	if (!(flags & (C_NOTOKEN | C_RAWTOKEN | C_XTOKEN)) && !v->authed) {
		c->next = v->auth_queue;
		v->auth_queue = c;
		auth_begin(v);
		return;
	}
	call_send(c);
}

/* Drops the calls whose ctx is ctx, without their callbacks. */
static void calls_cancel_for(struct vault *v, void *ctx)
{
	struct call **lists[] = {&v->calls, &v->auth_queue};

	for (size_t i = 0; i < 2; i++)
		for (struct call **p = lists[i]; *p;) {
			struct call *c = *p;
			if (c->ctx != ctx) {
				p = &c->next;
				continue;
			}
			*p = c->next;
			if (c->req)
				lb_http_cancel(c->req);
			call_free(c);
		}
}

/* --- auth --- */

static void token_schedule(struct vault *v);

static void auth_done(struct vault *v, enum lb_vault_kind kind, const char *err)
{
	struct call *q = v->auth_queue;

	v->authing = false;
	v->auth_queue = NULL;
	if (kind == LB_VAULT_OK) {
		v->authed = true;
		lb_log(LB_INFO, "vault store %s: authenticated, token ttl %llds", v->s->name,
		       (long long)v->token_ttl);
		token_schedule(v);
	} else {
		v->authed = false;
		lb_secbuf_free(v->token);
		v->token = NULL;
		/* A refused login backs off like a fault, so that waiting renewals and
		 * fetches cannot turn it into a loop; a fault has done so already. */
		if (kind != LB_VAULT_FAULT)
			note_fault(v, "POST", "login", err, -1);
		snprintf(v->last_error, sizeof(v->last_error), "login: %s", err);
	}
	/* Oldest first; each call may complete (and free) synchronously. */
	{
		struct call *rev = NULL;
		while (q) {
			struct call *n = q->next;
			q->next = rev;
			rev = q;
			q = n;
		}
		while (rev) {
			struct call *c = rev;
			rev = c->next;
			c->next = NULL;
			if (kind == LB_VAULT_OK)
				call_send(c);
			else
				call_fail_now(c, LB_VAULT_FAULT, "login failed: %s", err);
		}
	}
}

static void set_token_times(struct vault *v, int64_t ttl)
{
	v->token_ttl = ttl;
	v->token_expire = ttl > 0 ? now_s() + ttl : 0;
}

static void on_lookup_self(struct vault *v, void *ctx, const lb_vault_reply *r)
{
	json_t *d = json_object_get(r->json, "data");

	(void)ctx;
	if (r->kind != LB_VAULT_OK) {
		char msg[500];
		snprintf(msg, sizeof(msg), "token from %s: lookup-self: %s", v->token_file, r->err);
		auth_done(v, r->kind, msg);
		return;
	}
	set_token_times(v, json_integer_value(json_object_get(d, "ttl")));
	if (json_integer_value(json_object_get(d, "creation_ttl")) > 0 && !v->token_capped)
		v->token_ttl = json_integer_value(json_object_get(d, "creation_ttl"));
	v->token_expire = json_integer_value(json_object_get(d, "ttl")) > 0
			      ? now_s() + json_integer_value(json_object_get(d, "ttl"))
			      : 0;
	if (!json_is_true(json_object_get(d, "renewable")))
		v->token_capped = true;
	auth_done(v, LB_VAULT_OK, NULL);
}

static void on_login(struct vault *v, void *ctx, const lb_vault_reply *r)
{
	lb_secbuf *tok = NULL;
	int64_t ttl = 0;
	bool renewable = false;

	(void)ctx;
	if (r->kind != LB_VAULT_OK || lb_vault_login_parse(r->json, &tok, &ttl, &renewable) != 0) {
		if (r->kind == LB_VAULT_ERR && v->method == AUTH_APPROLE && v->secret_id_wrapped) {
			/* A new wrapped secret_id may have been put in the file since. */
			lb_secbuf_free(v->secret_id);
			v->secret_id = NULL;
		}
		auth_done(v, r->kind == LB_VAULT_OK ? LB_VAULT_ERR : r->kind,
			  r->kind == LB_VAULT_OK ? "login reply without a usable auth.client_token"
						 : r->err);
		return;
	}
	lb_secbuf_free(v->token);
	v->token = tok;
	v->token_capped = !renewable;
	set_token_times(v, ttl);
	auth_done(v, LB_VAULT_OK, NULL);
}

static void approle_login(struct vault *v)
{
	_cleanup_secbuf_ lb_secbuf *role = NULL, *sid = NULL;
	_cleanup_json_ json_t *body = NULL;
	char err[400], path[600];

	if (read_secret_file(v->role_id_file, &role, err, sizeof(err))) {
		auth_done(v, LB_VAULT_ERR, err);
		return;
	}
	if (!v->secret_id && read_secret_file(v->secret_id_file, &sid, err, sizeof(err))) {
		auth_done(v, LB_VAULT_ERR, err);
		return;
	}
	body = json_pack("{s:s%,s:s%}", "role_id", (const char *)role->data, role->len, "secret_id",
			 (const char *)(v->secret_id ? v->secret_id : sid)->data,
			 (v->secret_id ? v->secret_id : sid)->len);
	if (!body) {
		auth_done(v, LB_VAULT_ERR, "role_id or secret_id is not valid UTF-8");
		return;
	}
	snprintf(path, sizeof(path), "auth/%s/login", v->auth_mount ? v->auth_mount : "approle");
	call_start(v, "POST", path, body, C_NOTOKEN, on_login, NULL);
}

static void on_unwrap(struct vault *v, void *ctx, const lb_vault_reply *r)
{
	const char *sid =
	    json_string_value(json_object_get(json_object_get(r->json, "data"), "secret_id"));
	char msg[500];

	(void)ctx;
	if (r->kind != LB_VAULT_OK || !sid) {
		snprintf(msg, sizeof(msg), "unwrapping the secret_id in %s: %s", v->secret_id_file,
			 r->kind == LB_VAULT_OK ? "reply has no data.secret_id" : r->err);
		auth_done(v, r->kind == LB_VAULT_OK ? LB_VAULT_ERR : r->kind, msg);
		return;
	}
	v->secret_id = lb_secbuf_dup(sid, strlen(sid));
	if (!v->secret_id) {
		auth_done(v, LB_VAULT_ERR, "out of secure memory");
		return;
	}
	lb_log(LB_INFO, "vault store %s: unwrapped the secret_id (single use)", v->s->name);
	approle_login(v);
}

static void auth_begin(struct vault *v)
{
	char err[400], path[600];

	if (v->authing || v->closing)
		return;
	v->authing = true;
	v->authed = false;
	v->token_gen++;
	v->token_relogin_due = false;
	lb_timer_disarm(v->token_timer);
	v->next_relogin_ms = lb_now_ms() + 5000;
	if (v->backoff_until > lb_now_ms()) {
		auth_done(v, LB_VAULT_FAULT, v->last_error);
		return;
	}
	switch (v->method) {
	case AUTH_TOKEN: {
		lb_secbuf *tok = NULL;

		if (read_secret_file(v->token_file, &tok, err, sizeof(err))) {
			auth_done(v, LB_VAULT_ERR, err);
			return;
		}
		/* The same token again stays capped; a new one starts afresh. */
		if (!v->token || v->token->len != tok->len ||
		    sodium_memcmp(v->token->data, tok->data, tok->len) != 0)
			v->token_capped = false;
		lb_secbuf_free(v->token);
		v->token = tok;
		call_start(v, "GET", "auth/token/lookup-self", NULL, C_RAWTOKEN, on_lookup_self,
			   NULL);
		return;
	}
	case AUTH_APPROLE:
		lb_secbuf_free(v->token);
		v->token = NULL;
		v->token_capped = false;
		if (v->secret_id_wrapped && !v->secret_id) {
			lb_secbuf *wrap = NULL;
			struct call *c;

			if (read_secret_file(v->secret_id_file, &wrap, err, sizeof(err))) {
				auth_done(v, LB_VAULT_ERR, err);
				return;
			}
			c = calloc(1, sizeof(*c));
			if (!c) {
				lb_secbuf_free(wrap);
				auth_done(v, LB_VAULT_ERR, "out of memory");
				return;
			}
			c->v = v;
			c->flags = C_XTOKEN;
			c->xtoken = wrap;
			c->cb = on_unwrap;
			snprintf(c->method, sizeof(c->method), "POST");
			snprintf(c->path, sizeof(c->path), "sys/wrapping/unwrap");
			call_send(c);
			return;
		}
		approle_login(v);
		return;
	case AUTH_CERT: {
		lb_secbuf_free(v->token);
		v->token = NULL;
		v->token_capped = false;
		_cleanup_json_ json_t *body =
		    v->auth_name ? json_pack("{s:s}", "name", v->auth_name) : json_object();
		snprintf(path, sizeof(path), "auth/%s/login",
			 v->auth_mount ? v->auth_mount : "cert");
		call_start(v, "POST", path, body, C_NOTOKEN, on_login, NULL);
		return;
	}
	}
}

static void on_renew_self(struct vault *v, void *ctx, const lb_vault_reply *r)
{
	int64_t d =
	    json_integer_value(json_object_get(json_object_get(r->json, "auth"), "lease_duration"));

	(void)ctx;
	if (r->kind == LB_VAULT_FAULT) {
		token_schedule(v); /* after the backoff */
		return;
	}
	if (r->kind == LB_VAULT_ERR || d <= 0) {
		lb_log(LB_WARN, "vault store %s: token renewal refused (%s); logging in again",
		       v->s->name, r->err[0] ? r->err : "no lease_duration");
		auth_begin(v);
		return;
	}
	if (d < v->token_ttl) {
		/* Capped at the token's max TTL: the next step is a new login before expiry. */
		v->token_capped = true;
		lb_log(LB_INFO, "vault store %s: token near its max TTL (%llds left)", v->s->name,
		       (long long)d);
	}
	v->token_expire = now_s() + d;
	token_schedule(v);
}

static void on_token_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct vault *v = ctx;
	char inc[32];
	_cleanup_json_ json_t *body = NULL;

	(void)loop;
	(void)t;
	if (v->token_relogin_due || !v->authed || v->token_capped) {
		auth_begin(v);
		return;
	}
	snprintf(inc, sizeof(inc), "%llds", (long long)v->token_ttl);
	body = json_pack("{s:s}", "increment", inc);
	call_start(v, "POST", "auth/token/renew-self", body, C_RAWTOKEN, on_renew_self, NULL);
}

/* Renew at 2/3 of the remaining TTL; when the token cannot be extended any more, log in
 * again at that point instead (a token from token_file is re-read). */
static void token_schedule(struct vault *v)
{
	int64_t left;
	uint64_t ms;

	lb_timer_disarm(v->token_timer);
	if (!v->token_expire || v->closing)
		return;
	left = v->token_expire - now_s();
	ms = left > 0 ? lb_store_jitter_ms((uint64_t)left * 1000 * 2 / 3) : 0;
	if (v->backoff_until > lb_now_ms() && v->backoff_until - lb_now_ms() > ms)
		ms = v->backoff_until - lb_now_ms();
	if (v->token_capped && lb_now_ms() + ms < v->next_relogin_ms)
		ms = v->next_relogin_ms - lb_now_ms(); /* a re-read token may be the same one */
	if (ms < 100)
		ms = 100;
	lb_timer_arm(v->token_timer, ms);
}

/* --- mounts --- */

static struct mount *mount_find(struct vault *v, const char *path)
{
	struct mount *best = NULL;

	for (struct mount *m = v->mounts; m; m = m->next) {
		size_t n = strlen(m->path);
		if ((strncmp(path, m->path, n) == 0 ||
		     (strncmp(path, m->path, n - 1) == 0 && path[n - 1] == '\0')) &&
		    (!best || n > strlen(best->path)))
			best = m;
	}
	return best;
}

static struct mount *mount_add(struct vault *v, const char *path, bool kv, int version)
{
	struct mount *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	snprintf(m->path, sizeof(m->path), "%s%s", path,
		 path[0] && path[strlen(path) - 1] == '/' ? "" : "/");
	m->kv = kv;
	m->version = version;
	m->next = v->mounts;
	v->mounts = m;
	lb_log(LB_INFO, "vault store %s: mount %s is %s%s", v->s->name, m->path,
	       kv ? "kv v" : "leased", kv ? (version == 2 ? "2" : "1") : "");
	return m;
}

static void mount_lookup_start(struct vault *v, const char *path);

static void on_mount(struct vault *v, void *ctx, const lb_vault_reply *r)
{
	struct waiter *list = v->mount_waiters;
	char err[500] = "", mpath[512];
	bool kv = false;
	int version = 1;

	(void)ctx;
	v->mount_busy = false;
	v->mount_waiters = NULL;
	if (r->kind == LB_VAULT_OK && lb_vault_mount_parse(r->json, v->mount_error_path, mpath,
							   sizeof(mpath), &kv, &version) == 0) {
		mount_add(v, mpath, kv, version);
	} else if (r->kind == LB_VAULT_ERR && r->status == 403 && v->kv_version) {
		char first[512];
		snprintf(first, sizeof(first), "%s", v->mount_error_path);
		first[strcspn(first, "/")] = '\0';
		lb_log(LB_INFO,
		       "vault store %s: mount of %s not readable (%s); using kv_version %d for %s/",
		       v->s->name, v->mount_error_path, r->err, v->kv_version, first);
		mount_add(v, first, true, v->kv_version);
	} else if (r->kind == LB_VAULT_ERR && r->status == 403) {
		snprintf(err, sizeof(err),
			 "cannot tell whether this is KV v1, KV v2 or a leased secret: reading "
			 "sys/internal/ui/mounts/%s was refused (%s); grant read on it or set "
			 "\"kv_version\" in the store's configuration",
			 v->mount_error_path, r->err);
	} else {
		snprintf(err, sizeof(err), "looking up its mount: %s",
			 r->kind == LB_VAULT_OK ? "reply without data" : r->err);
	}
	while (list) {
		struct waiter *w = list;
		list = w->next;
		w->next = NULL;
		if (err[0] &&
		    (r->kind == LB_VAULT_FAULT || strcmp(w->src.path, v->mount_error_path) == 0))
			waiter_fail(v, w, "%s", err);
		else
			dispatch(v, w);
	}
}

static void mount_lookup_start(struct vault *v, const char *path)
{
	char p[700];

	v->mount_busy = true;
	snprintf(v->mount_error_path, sizeof(v->mount_error_path), "%s", path);
	snprintf(p, sizeof(p), "sys/internal/ui/mounts/%s", path);
	call_start(v, "GET", p, NULL, 0, on_mount, NULL);
}

/* --- KV --- */

static void kv_version_hash(struct vault *v, const lb_secbuf *val, char *out, size_t cap)
{
	unsigned char h[8];
	char hex[17];

	crypto_generichash(h, sizeof(h), val->data, val->len, v->hkey, sizeof(v->hkey));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, cap, "kv1-%s", hex);
}

static void on_kv(struct vault *v, void *ctx, const lb_vault_reply *r)
{
	struct kvread *kr = ctx;
	struct waiter *list = kr->waiters;
	lb_fetch_result res = {.status = -1, .structured = true};
	char err[400] = "";

	for (struct kvread **p = &v->kvreads; *p; p = &(*p)->next)
		if (*p == kr) {
			*p = kr->next;
			break;
		}
	if (lb_vault_kv_parse(r, kr->mount->version, kr->version, kr->vpath, &res.value,
			      res.version, sizeof(res.version), err, sizeof(err)) == 0) {
		res.status = 0;
		if (kr->mount->version != 2)
			kv_version_hash(v, res.value, res.version, sizeof(res.version));
	} else if (!err[0]) {
		snprintf(err, sizeof(err), "read failed");
	}
	while (list) {
		struct waiter *w = list;
		list = w->next;
		if (err[0]) {
			waiter_fail(v, w, "%s", err);
		} else {
			lb_fetch_result one = res;
			waiter_reply(w, &one);
		}
	}
	lb_fetch_result_clear(&res);
	free(kr);
}

static void kv_fetch(struct vault *v, struct mount *m, struct waiter *w)
{
	struct kvread *kr;
	const char *rest = w->src.path + strlen(m->path);
	char path[1024];

	if (strlen(w->src.path) < strlen(m->path) || !*rest) {
		waiter_fail(v, w, "names the mount %s itself, not a secret in it", m->path);
		return;
	}
	if (w->src.version[0] && m->version != 2) {
		waiter_fail(v, w, "?version=%s needs a KV v2 mount; %s is KV v1", w->src.version,
			    m->path);
		return;
	}
	for (kr = v->kvreads; kr; kr = kr->next)
		if (strcmp(kr->path, w->src.path) == 0 &&
		    strcmp(kr->version, w->src.version) == 0) {
			append_waiter(&kr->waiters, w);
			return;
		}
	kr = calloc(1, sizeof(*kr));
	if (!kr) {
		waiter_fail(v, w, "out of memory");
		return;
	}
	snprintf(kr->path, sizeof(kr->path), "%s", w->src.path);
	snprintf(kr->version, sizeof(kr->version), "%s", w->src.version);
	kr->mount = m;
	kr->waiters = w;
	w->next = NULL;
	kr->next = v->kvreads;
	v->kvreads = kr;
	if (m->version == 2)
		snprintf(path, sizeof(path), "%sdata/%s%s%s", m->path, rest,
			 kr->version[0] ? "?version=" : "", kr->version);
	else
		snprintf(path, sizeof(path), "%s", w->src.path);
	snprintf(kr->vpath, sizeof(kr->vpath), "%s", path);
	kr->vpath[strcspn(kr->vpath, "?")] = '\0';
	call_start(v, "GET", path, NULL, 0, on_kv, kr);
}

/* --- leases --- */

static void lease_free(struct lease *l)
{
	calls_cancel_for(l->v, l);
	lb_timer_free(l->timer);
	lb_secbuf_free(l->value);
	free(l);
}

static void lease_unlink(struct vault *v, struct lease *l)
{
	for (struct lease **p = &v->leases; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			return;
		}
}

static void lease_result(struct lease *l, lb_fetch_result *res)
{
	res->status = 0;
	res->structured = true;
	res->value = l->value;
	res->not_after = l->expire;
	snprintf(res->version, sizeof(res->version), "%s", l->version);
}

static void revoke_add(struct vault *v, const struct lease *l)
{
	struct revoke *rv = calloc(1, sizeof(*rv));

	if (!rv)
		return;
	snprintf(rv->id, sizeof(rv->id), "%s", l->id);
	snprintf(rv->path, sizeof(rv->path), "%s", l->path);
	snprintf(rv->target, sizeof(rv->target), "%s", l->target);
	rv->expire = l->expire;
	rv->next = v->revokes;
	v->revokes = rv;
	persist_soon(v);
	revoke_start(v, rv);
}

static void on_lease_read(struct vault *v, void *ctx, const lb_vault_reply *r)
{
	struct lease *l = ctx;
	struct waiter *list = l->waiters;
	int64_t dur = 0;
	lb_fetch_result res = {0};
	char err[400] = "";

	l->reading = false;
	l->waiters = NULL;
	if (lb_vault_lease_parse(r, l->path, &l->value, l->id, sizeof(l->id), &dur, &l->renewable,
				 err, sizeof(err)) != 0 &&
	    !err[0])
		snprintf(err, sizeof(err), "read failed");
	if (!err[0]) {
		size_t n = strlen(l->id);
		const char *tail = n > 24 ? l->id + n - 24 : l->id;

		l->ttl = dur;
		l->expire = dur > 0 ? now_s() + dur : 0;
		l->rotate_at = dur > 0 ? now_s() + dur * 2 / 3 : 0;
		if (l->id[0])
			snprintf(l->version, sizeof(l->version), "lease-%s", tail);
		else
			kv_version_hash(v, l->value, l->version, sizeof(l->version));
		if (l->id[0]) {
			lb_audit("lease_issued",
				 json_pack("{s:s,s:s,s:s,s:s,s:I}", "store", v->s->name, "target",
					   l->target, "path", l->path, "lease_id", l->id,
					   "lease_duration", (json_int_t)dur));
			persist_soon(v);
		}
	}
	while (list) {
		struct waiter *w = list;
		list = w->next;
		if (err[0]) {
			waiter_fail(v, w, "%s", err);
		} else {
			lease_result(l, &res);
			waiter_reply(w, &res);
		}
	}
	if (err[0] || !l->id[0] || l->released) {
		/* Nothing to keep: a failed read, a secret without a lease (read again next
		 * time), or a target released while the read was in flight. */
		lease_unlink(v, l);
		if (l->id[0] && l->released)
			revoke_add(v, l);
		lease_free(l);
		return;
	}
	lease_schedule(l);
}

static void on_lease_renew(struct vault *v, void *ctx, const lb_vault_reply *r)
{
	struct lease *l = ctx;
	int64_t d = json_integer_value(json_object_get(r->json, "lease_duration"));
	int64_t expire = now_s() + d;

	if (r->kind == LB_VAULT_FAULT) {
		lease_schedule(l);
		return;
	}
	if (r->kind == LB_VAULT_ERR || d <= 0) {
		lb_log(LB_WARN, "vault store %s: target %s: renewing lease of %s refused: %s",
		       v->s->name, l->target, l->path, r->err[0] ? r->err : "no lease_duration");
		lb_audit("lease_lost", json_pack("{s:s,s:s,s:s,s:s,s:s}", "store", v->s->name,
						 "target", l->target, "path", l->path, "lease_id",
						 l->id, "reason", r->err));
		/* Gone at Vault: the target gets new credentials now. */
		refresh_request(v, l->target);
		lease_unlink(v, l);
		persist_soon(v);
		lease_free(l);
		return;
	}
	if (d < l->ttl) {
		l->capped = true;
		lb_log(LB_INFO,
		       "vault store %s: target %s: lease of %s reaches its max TTL in %llds; new "
		       "credentials are read at 2/3 of that",
		       v->s->name, l->target, l->path, (long long)d);
	}
	l->rotate_at = now_s() + d * 2 / 3;
	lb_audit("lease_renewed",
		 json_pack("{s:s,s:s,s:s,s:s,s:I}", "store", v->s->name, "target", l->target,
			   "path", l->path, "lease_id", l->id, "lease_duration", (json_int_t)d));
	/* The target's manifest says when its credentials end: a moved expiry is published. */
	if (l->expire != expire) {
		l->expire = expire;
		refresh_request(v, l->target);
	}
	persist_soon(v);
	lease_schedule(l);
}

/* A lease that cannot be renewed (any more) and whose rotate point is still ahead. */
static bool lease_rotates(const struct lease *l)
{
	return !l->retiring && !l->released && !l->rotate_due && (l->capped || !l->renewable) &&
	       l->rotate_at && l->rotate_at < l->expire;
}

static void on_lease_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct lease *l = ctx;
	struct vault *v = l->v;
	_cleanup_json_ json_t *body = NULL;

	(void)loop;
	(void)t;
	if (l->expire && now_s() >= l->expire) {
		/* Expired: Vault has revoked it; forget it. A target still on it (its rotation
		 * could not be fetched in time) asks again. */
		if (!l->retiring)
			refresh_request(v, l->target);
		lease_unlink(v, l);
		persist_soon(v);
		lease_free(l);
		return;
	}
	if (lease_rotates(l) && now_s() >= l->rotate_at) {
		/* It cannot be extended: the target gets new credentials now, not at its
		 * binding's next refresh, which may come after the expiry. */
		l->rotate_due = true;
		lb_log(LB_INFO, "vault store %s: target %s: lease of %s expires in %llds; rotating",
		       v->s->name, l->target, l->path, (long long)(l->expire - now_s()));
		refresh_request(v, l->target);
		lease_schedule(l);
		return;
	}
	if (l->retiring || l->capped || !l->renewable) {
		lease_schedule(l);
		return;
	}
	body = json_pack("{s:s,s:I}", "lease_id", l->id, "increment", (json_int_t)l->ttl);
	call_start(v, "PUT", "sys/leases/renew", body, 0, on_lease_renew, l);
}

/* Renew at 2/3 of the lease, up to 10% early (jitter); a lease that cannot grow asks for
 * its target's rotation at its rotate point, then waits for its expiry, when it is
 * forgotten. */
static void lease_schedule(struct lease *l)
{
	struct vault *v = l->v;
	int64_t now = now_s();
	bool renew = !l->retiring && !l->capped && l->renewable;
	uint64_t ms;

	if (!l->timer)
		l->timer = lb_timer_new(v->s->env.loop, on_lease_timer, l);
	if (!l->timer || !l->expire)
		return;
	if (lease_rotates(l)) {
		ms = l->rotate_at > now ? (uint64_t)(l->rotate_at - now) * 1000 : 0;
	} else if (renew) {
		int64_t at = l->expire - (l->ttl > 0 ? l->ttl / 3 : 0);
		uint64_t early = l->ttl > 0 ? randombytes_uniform((uint32_t)(l->ttl * 100 + 1)) : 0;

		ms = at > now ? (uint64_t)(at - now) * 1000 : 0;
		ms = ms > early ? ms - early : 0;
	} else {
		ms = l->expire > now ? (uint64_t)(l->expire - now) * 1000 + 500 : 0;
	}
	if (v->backoff_until > lb_now_ms() && v->backoff_until - lb_now_ms() > ms)
		ms = v->backoff_until - lb_now_ms();
	if (ms < 100)
		ms = 100;
	lb_timer_arm(l->timer, ms);
}

static struct lease *lease_current(struct vault *v, const char *target, const char *path)
{
	for (struct lease *l = v->leases; l; l = l->next)
		if (!l->retiring && !l->released && strcmp(l->target, target) == 0 &&
		    strcmp(l->path, path) == 0)
			return l;
	return NULL;
}

static void lease_fetch(struct vault *v, struct waiter *w)
{
	struct lease *l = lease_current(v, w->target, w->src.path);
	int64_t now = now_s();
	lb_fetch_result res = {0};

	if (w->src.version[0]) {
		waiter_fail(v, w, "?version= applies to KV secrets only; this is a leased secret");
		return;
	}
	if (l && l->reading) {
		append_waiter(&l->waiters, w);
		return;
	}
	if (l && (l->capped || !l->renewable) &&
	    (l->rotate_due || (l->rotate_at && now >= l->rotate_at))) {
		/* It cannot be extended: this target gets new credentials now; the old lease
		 * stays until it expires (or is revoked with the target). */
		l->retiring = true;
		lease_schedule(l);
		persist_soon(v);
		l = NULL;
	}
	if (l && l->value) {
		lease_result(l, &res);
		waiter_reply(w, &res);
		return;
	}
	if (l) {
		/* Restored after a restart: Vault cannot give its value back, and the target's
		 * file from it is still good until the lease's (renewed) expiry. */
		res.keep = true;
		res.not_after = l->expire;
		snprintf(res.version, sizeof(res.version), "%s", l->version);
		waiter_reply(w, &res);
		return;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		waiter_fail(v, w, "out of memory");
		return;
	}
	l->v = v;
	snprintf(l->target, sizeof(l->target), "%s", w->target);
	snprintf(l->path, sizeof(l->path), "%s", w->src.path);
	l->reading = true;
	l->waiters = w;
	w->next = NULL;
	l->next = v->leases;
	v->leases = l;
	call_start(v, "GET", w->src.path, NULL, 0, on_lease_read, l);
}

/* --- revocation --- */

static void revoke_schedule(struct vault *v)
{
	uint64_t ms = v->backoff_until > lb_now_ms() ? v->backoff_until - lb_now_ms() : 0;

	if (ms < MIN_TIMER_MS)
		ms = lb_store_jitter_ms(MIN_TIMER_MS);
	lb_timer_arm(v->revoke_timer, ms);
}

static void on_revoke(struct vault *v, void *ctx, const lb_vault_reply *r)
{
	struct revoke *rv = ctx;

	rv->busy = false;
	if (r->kind == LB_VAULT_FAULT && rv->expire > now_s()) {
		revoke_schedule(v);
		return;
	}
	if (r->kind == LB_VAULT_OK)
		lb_audit("lease_revoked",
			 json_pack("{s:s,s:s,s:s,s:s}", "store", v->s->name, "target", rv->target,
				   "path", rv->path, "lease_id", rv->id));
	else
		lb_log(LB_ERROR,
		       "vault store %s: target %s: revoking lease of %s failed: %s (it expires by "
		       "itself; sys/leases/revoke needs a policy rule)",
		       v->s->name, rv->target, rv->path, r->err);
	for (struct revoke **p = &v->revokes; *p; p = &(*p)->next)
		if (*p == rv) {
			*p = rv->next;
			break;
		}
	free(rv);
	persist_soon(v);
}

static void revoke_start(struct vault *v, struct revoke *rv)
{
	_cleanup_json_ json_t *body = json_pack("{s:s}", "lease_id", rv->id);

	if (rv->busy)
		return;
	rv->busy = true;
	call_start(v, "PUT", "sys/leases/revoke", body, 0, on_revoke, rv);
}

static void on_revoke_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct vault *v = ctx;
	struct revoke *rv;

	(void)loop;
	(void)t;
	/* One at a time: each start may complete (and unlink) synchronously. */
	for (rv = v->revokes; rv && rv->busy; rv = rv->next)
		;
	if (!rv)
		return;
	revoke_start(v, rv);
	for (rv = v->revokes; rv && rv->busy; rv = rv->next)
		;
	if (rv && !lb_timer_armed(v->revoke_timer))
		lb_timer_arm(v->revoke_timer, 1);
}

/* --- vtable --- */

static void dispatch(struct vault *v, struct waiter *w)
{
	struct mount *m = mount_find(v, w->src.path);

	if (!m) {
		append_waiter(&v->mount_waiters, w);
		if (!v->mount_busy)
			mount_lookup_start(v, w->src.path);
		return;
	}
	if (m->kv)
		kv_fetch(v, m, w);
	else
		lease_fetch(v, w);
}

static void vault_fetch(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb,
			void *ctx)
{
	struct vault *v = s->priv;
	struct waiter *w = calloc(1, sizeof(*w));

	if (!w) {
		lb_fetch_result r = {.status = -1};
		snprintf(r.error, sizeof(r.error), "vault store \"%s\": out of memory", s->name);
		cb(ctx, &r);
		return;
	}
	w->cb = cb;
	w->ctx = ctx;
	w->src = *src;
	snprintf(w->target, sizeof(w->target), "%s", target ? target : "");
	if (v->closing) {
		waiter_fail(v, w, "store closed");
		return;
	}
	dispatch(v, w);
}

static void vault_release(lb_store *s, const char *target)
{
	struct vault *v = s->priv;

	refresh_forget(v, target);
	for (struct lease **p = &v->leases; *p;) {
		struct lease *l = *p;
		if (strcmp(l->target, target) != 0) {
			p = &l->next;
			continue;
		}
		if (l->reading) {
			l->released = true; /* revoked once the read is in */
			p = &l->next;
			continue;
		}
		*p = l->next;
		if (l->id[0] && (!l->expire || l->expire > now_s()))
			revoke_add(v, l);
		lease_free(l);
		persist_soon(v);
	}
}

static json_t *vault_health(lb_store *s)
{
	struct vault *v = s->priv;
	size_t nleases = 0, nrevokes = 0;
	json_t *h;

	for (struct lease *l = v->leases; l; l = l->next)
		nleases += l->id[0] != '\0';
	for (struct revoke *r = v->revokes; r; r = r->next)
		nrevokes++;
	h = json_pack("{s:s,s:s,s:b,s:i,s:i}", "health",
		      v->degraded ? "degraded" : (v->authed ? "ok" : "authenticating"), "address",
		      v->address, "authenticated", v->authed, "leases", (int)nleases,
		      "pending_revocations", (int)nrevokes);
	if (v->authed)
		json_object_set_new(h, "token_ttl",
				    json_integer(v->token_expire ? v->token_expire - now_s() : 0));
	if (v->last_error[0])
		json_object_set_new(h, "last_error", json_string(v->last_error));
	if (v->backoff_until > lb_now_ms())
		json_object_set_new(h, "backoff_ms",
				    json_integer((json_int_t)(v->backoff_until - lb_now_ms())));
	return h;
}

static void load_state(struct vault *v)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_json_ json_t *root = NULL;
	json_t *x;
	size_t i, len = 0;
	lb_err e = {0};
	int64_t now = now_s();

	if (lb_read_at(v->s->env.state_dirfd, v->state_name, STATE_CAP, &buf, &len, &e))
		return; /* first start */
	root = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(root)) {
		lb_log(LB_ERROR, "vault store %s: %s is not valid JSON; lease ids in it are lost",
		       v->s->name, v->state_name);
		return;
	}
	json_array_foreach (json_object_get(root, "leases"), i, x) {
		struct lease *l;
		const char *id = json_string_value(json_object_get(x, "lease_id"));
		int64_t exp = json_integer_value(json_object_get(x, "expire"));

		if (!id || !*id || (exp && exp <= now))
			continue;
		l = calloc(1, sizeof(*l));
		if (!l)
			break;
		l->v = v;
		snprintf(l->id, sizeof(l->id), "%s", id);
		snprintf(l->target, sizeof(l->target), "%s",
			 json_string_value(json_object_get(x, "target")) ?: "");
		snprintf(l->path, sizeof(l->path), "%s",
			 json_string_value(json_object_get(x, "path")) ?: "");
		snprintf(l->version, sizeof(l->version), "%s",
			 json_string_value(json_object_get(x, "version")) ?: "");
		l->expire = exp;
		l->ttl = json_integer_value(json_object_get(x, "ttl"));
		l->rotate_at = json_integer_value(json_object_get(x, "rotate_at"));
		l->renewable = json_is_true(json_object_get(x, "renewable"));
		l->capped = json_is_true(json_object_get(x, "capped"));
		l->retiring = json_is_true(json_object_get(x, "retiring"));
		l->next = v->leases;
		v->leases = l;
		/* Renew at once: the broker may have been down for most of its TTL. */
		l->timer = lb_timer_new(v->s->env.loop, on_lease_timer, l);
		if (l->timer) {
			if (l->renewable && !l->capped && !l->retiring)
				lb_timer_arm(l->timer, 1 + randombytes_uniform(200));
			else
				lease_schedule(l);
		}
	}
	json_array_foreach (json_object_get(root, "revoke"), i, x) {
		struct revoke *rv;
		const char *id = json_string_value(json_object_get(x, "lease_id"));
		int64_t exp = json_integer_value(json_object_get(x, "expire"));

		if (!id || !*id || (exp && exp <= now))
			continue;
		rv = calloc(1, sizeof(*rv));
		if (!rv)
			break;
		snprintf(rv->id, sizeof(rv->id), "%s", id);
		snprintf(rv->path, sizeof(rv->path), "%s",
			 json_string_value(json_object_get(x, "path")) ?: "");
		snprintf(rv->target, sizeof(rv->target), "%s",
			 json_string_value(json_object_get(x, "target")) ?: "");
		rv->expire = exp;
		rv->next = v->revokes;
		v->revokes = rv;
	}
	if (v->revokes)
		lb_timer_arm(v->revoke_timer, 1);
	lb_log(LB_INFO, "vault store %s: restored lease ids from %s", v->s->name, v->state_name);
}

static void vault_free(struct vault *v)
{
	while (v->calls) {
		struct call *c = v->calls;
		v->calls = c->next;
		lb_http_cancel(c->req);
		call_free(c);
	}
	while (v->auth_queue) {
		struct call *c = v->auth_queue;
		v->auth_queue = c->next;
		call_free(c);
	}
	while (v->mounts) {
		struct mount *m = v->mounts;
		v->mounts = m->next;
		free(m);
	}
	while (v->leases) {
		struct lease *l = v->leases;
		v->leases = l->next;
		lb_timer_free(l->timer);
		lb_secbuf_free(l->value);
		free(l);
	}
	while (v->revokes) {
		struct revoke *r = v->revokes;
		v->revokes = r->next;
		free(r);
	}
	lb_timer_free(v->token_timer);
	lb_timer_free(v->revoke_timer);
	lb_timer_free(v->persist_timer);
	lb_timer_free(v->refresh_timer);
	while (v->refreqs) {
		struct refreq *q = v->refreqs;
		v->refreqs = q->next;
		free(q);
	}
	lb_secbuf_free(v->token);
	lb_secbuf_free(v->secret_id);
	free(v->address);
	free(v->ca_file);
	free(v->ca_dir);
	free(v->client_cert);
	free(v->client_key);
	free(v->ns);
	free(v->token_file);
	free(v->role_id_file);
	free(v->secret_id_file);
	free(v->auth_mount);
	free(v->auth_name);
	sodium_memzero(v->hkey, sizeof(v->hkey));
	free(v);
}

static int vault_open(lb_store *s, lb_err *e)
{
	json_t *o = s->cfg->opts, *auth = json_object_get(o, "auth");
	const char *method = json_string_value(json_object_get(auth, "method"));
	struct vault *v = calloc(1, sizeof(*v));

	if (!v)
		return lb_fail(e, ENOMEM, "out of memory");
	v->s = s;
	s->priv = v;
	v->address = lb_store_opt_str(o, "address");
	v->ca_file = lb_store_opt_str(o, "ca_file");
	v->ca_dir = lb_store_opt_str(o, "ca_dir");
	v->client_cert = lb_store_opt_str(o, "client_cert");
	v->client_key = lb_store_opt_str(o, "client_key");
	v->ns = lb_store_opt_str(o, "namespace");
	v->kv_version = (int)json_integer_value(json_object_get(o, "kv_version"));
	v->token_file = lb_store_opt_str(auth, "token_file");
	v->role_id_file = lb_store_opt_str(auth, "role_id_file");
	v->secret_id_file = lb_store_opt_str(auth, "secret_id_file");
	v->auth_mount = lb_store_opt_str(auth, "mount");
	v->auth_name = lb_store_opt_str(auth, "name");
	v->secret_id_wrapped = json_is_true(json_object_get(auth, "secret_id_wrapped"));
	randombytes_buf(v->hkey, sizeof(v->hkey));
	snprintf(v->state_name, sizeof(v->state_name), "vault-%s.json", s->name);
	if (!v->address || strncmp(v->address, "https://", 8) != 0) {
		vault_free(v);
		return lb_fail(e, 0, "address must be an https:// URL");
	}
	while (strlen(v->address) > 8 && v->address[strlen(v->address) - 1] == '/')
		v->address[strlen(v->address) - 1] = '\0';
	if (method && strcmp(method, "approle") == 0)
		v->method = AUTH_APPROLE;
	else if (method && strcmp(method, "cert") == 0)
		v->method = AUTH_CERT;
	else
		v->method = AUTH_TOKEN;
	if ((v->method == AUTH_TOKEN && !v->token_file) ||
	    (v->method == AUTH_APPROLE && (!v->role_id_file || !v->secret_id_file)) ||
	    (v->method == AUTH_CERT && (!v->client_cert || !v->client_key))) {
		vault_free(v);
		return lb_fail(e, 0, "auth method %s is missing its files", method ? method : "?");
	}
	v->token_timer = lb_timer_new(s->env.loop, on_token_timer, v);
	v->revoke_timer = lb_timer_new(s->env.loop, on_revoke_timer, v);
	v->persist_timer = lb_timer_new(s->env.loop, on_persist_timer, v);
	v->refresh_timer = lb_timer_new(s->env.loop, on_refresh_timer, v);
	if (!v->token_timer || !v->revoke_timer || !v->persist_timer || !v->refresh_timer) {
		vault_free(v);
		return lb_fail(e, ENOMEM, "out of memory");
	}
	load_state(v);
	/* Log in (or look the token up) now, so that status shows the outcome early. */
	auth_begin(v);
	return 0;
}

static void vault_close(lb_store *s)
{
	struct vault *v = s->priv;
	struct waiter *pending = NULL;

	if (!v)
		return;
	v->closing = true;
	/* No callback of ours runs after this. */
	while (v->calls) {
		struct call *c = v->calls;
		v->calls = c->next;
		lb_http_cancel(c->req);
		call_free(c);
	}
	while (v->auth_queue) {
		struct call *c = v->auth_queue;
		v->auth_queue = c->next;
		call_free(c);
	}
	while (v->kvreads) {
		struct kvread *kr = v->kvreads;
		v->kvreads = kr->next;
		while (kr->waiters) {
			struct waiter *w = kr->waiters;
			kr->waiters = w->next;
			append_waiter(&pending, w);
		}
		free(kr);
	}
	while (v->mount_waiters) {
		struct waiter *w = v->mount_waiters;
		v->mount_waiters = w->next;
		append_waiter(&pending, w);
	}
	/* A lease whose read was in flight was never seen: nothing to keep (Vault expires it
	 * if it was issued). */
	for (struct lease **p = &v->leases; *p;) {
		struct lease *l = *p;
		while (l->waiters) {
			struct waiter *w = l->waiters;
			l->waiters = w->next;
			append_waiter(&pending, w);
		}
		if (l->reading) {
			*p = l->next;
			lease_free(l);
		} else {
			p = &l->next;
		}
	}
	/* Answered while v is still whole; a fetch from inside a callback sees closing. */
	waiters_fail(v, pending, "store closed");
	persist_now(v);
	vault_free(v);
	s->priv = NULL;
}

const lb_store_ops lb_vault_ops = {
    .type = "vault",
    .per_target = true,
    .open = vault_open,
    .fetch = vault_fetch,
    .release = vault_release,
    .health = vault_health,
    .close = vault_close,
};
