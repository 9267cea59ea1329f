/* HashiCorp Vault store: a provider of the network-store engine (netstore.h).
 *
 * Auth (token, approle with optional wrapped secret_id, cert) keeps one token in a secure
 * buffer, renews it at 2/3 of its TTL and logs in again when Vault refuses it (the engine
 * replays the refused request once). KV reads are the engine's shared reads (vault_kv.c);
 * any other mount is leased (vault_lease.c). Faults (transport, 5xx, 429, sealed,
 * malformed) put the whole store in the engine's backoff; while it lasts, requests fail at
 * once with the reason. */
#include "vault.h"
#include "backoff.h"
#include "cleanup.h"
#include "storeopts.h"
#include "log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FILE_CAP 16384

enum auth_method { AUTH_TOKEN, AUTH_APPROLE, AUTH_CERT };

struct vault {
	lb_nst *ns;
	char *address, *ns_header;
	enum auth_method method;
	char *token_file, *role_id_file, *secret_id_file, *auth_mount, *auth_name;
	bool secret_id_wrapped;

	lb_secbuf *secret_id; /* unwrapped once, kept for later logins */
	lb_secbuf *token;
	bool token_capped;
	int64_t token_expire, token_ttl; /* 0 = never expires */
	lb_timer *token_timer;
	uint64_t next_relogin_ms;

	struct vault_kv *kv;
	struct vault_leases *leases;
};

static void token_schedule(struct vault *v);

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

struct vault_kv *vault_kv_of(lb_nst *ns)
{
	return ((struct vault *)lb_nst_data(ns))->kv;
}

struct vault_leases *vault_leases_of(lb_nst *ns)
{
	return ((struct vault *)lb_nst_data(ns))->leases;
}

lb_vault_reply vault_reply(const lb_nst_reply *r)
{
	lb_vault_reply v = {.status = r->status, .json = r->json};

	v.kind = r->verdict == LB_NST_OK      ? LB_VAULT_OK
		 : r->verdict == LB_NST_FAULT ? LB_VAULT_FAULT
					      : LB_VAULT_ERR;
	snprintf(v.err, sizeof(v.err), "%s", r->err.msg);
	return v;
}

/* --- requests --- */

#define F_XTOKEN 1 /* req.xcred instead of the store's token (unwrap) */

static void vault_call_x(lb_nst *ns, const char *method, const char *path, json_t *body,
			 enum lb_nst_cred cred, lb_secbuf *xtoken, vault_cb cb, void *ctx)
{
	lb_nst_req req = {.cred = cred};

	snprintf(req.method, sizeof(req.method), "%s", method);
	snprintf(req.path, sizeof(req.path), "%s", path);
	snprintf(req.audit_path, sizeof(req.audit_path), "%s", path);
	req.audit_path[strcspn(req.audit_path, "?")] = '\0';
	snprintf(req.what, sizeof(req.what), "%s %s", method, req.audit_path);
	req.auth = cred == LB_NST_NOCRED || xtoken;
	if (xtoken) {
		req.xcred = xtoken;
		req.flags = F_XTOKEN;
	}
	if (body && !(req.body = lb_vault_secbuf_from_json(body))) {
		lb_log(LB_ERROR, "vault store %s: %s: out of secure memory", lb_nst_name(ns),
		       req.what);
		lb_secbuf_free(xtoken);
		return;
	}
	lb_nst_call_start(ns, &req, cb, ctx);
}

void vault_call(lb_nst *ns, const char *method, const char *path, json_t *body,
		enum lb_nst_cred cred, vault_cb cb, void *ctx)
{
	vault_call_x(ns, method, path, body, cred, NULL, cb, ctx);
}

static int vault_prepare(lb_nst *ns, const lb_nst_req *req, lb_nst_http *h, lb_err *e)
{
	struct vault *v = lb_nst_data(ns);
	const lb_secbuf *tok = (req->flags & F_XTOKEN) ? req->xcred : v->token;
	static const char json[] = "application/json";

	if (lb_nst_http_header(h, "X-Vault-Request", "true", 4) ||
	    ((req->cred != LB_NST_NOCRED || (req->flags & F_XTOKEN)) && tok &&
	     lb_nst_http_header(h, "X-Vault-Token", tok->data, tok->len)) ||
	    (v->ns_header &&
	     lb_nst_http_header(h, "X-Vault-Namespace", v->ns_header, strlen(v->ns_header))) ||
	    (req->body && lb_nst_http_header(h, "Content-Type", json, sizeof(json) - 1)))
		return lb_fail(e, ENOMEM, "out of secure memory");
	snprintf(h->url, sizeof(h->url), "%s/v1/%s", v->address, req->path);
	return 0;
}

static void vault_classify(lb_nst *ns, const lb_nst_req *req, const lb_http_resp *resp,
			   lb_nst_reply *r)
{
	lb_vault_reply vr = {0};

	(void)ns;
	(void)req;
	lb_vault_reply_parse(&vr, resp->status, resp->body ? resp->body->data : NULL,
			     resp->body ? resp->body->len : 0);
	r->json = vr.json;
	snprintf(r->err.msg, sizeof(r->err.msg), "%s", vr.err);
	r->verdict = vr.kind == LB_VAULT_OK	 ? LB_NST_OK
		     : vr.kind == LB_VAULT_FAULT ? LB_NST_FAULT
						 : LB_NST_FINAL;
	/* Our token is gone (revoked, expired): log in again, then replay once. */
	if (vr.kind == LB_VAULT_ERR && vr.status == 403 && strstr(vr.err, "invalid token"))
		r->verdict = LB_NST_REFRESH;
}

/* --- auth --- */

/* kind: of the reply that ended it; err NULL when authenticated. */
static void auth_done(struct vault *v, enum lb_vault_kind kind, const char *err)
{
	char msg[600];

	if (kind == LB_VAULT_OK) {
		lb_log(LB_INFO, "vault store %s: authenticated, token ttl %llds",
		       lb_nst_name(v->ns), (long long)v->token_ttl);
		lb_nst_cred_ok(v->ns, 0, true);
		token_schedule(v);
		return;
	}
	lb_secbuf_free(v->token);
	v->token = NULL;
	/* A refused login backs off like a fault, so that waiting renewals and fetches cannot
	 * turn it into a loop; a fault has done so already. */
	snprintf(msg, sizeof(msg), "login failed: %s", err);
	lb_nst_cred_fail(v->ns, kind != LB_VAULT_FAULT, -1, "login", err, msg);
}

static void set_token_times(struct vault *v, int64_t ttl)
{
	v->token_ttl = ttl;
	v->token_expire = ttl > 0 ? now_s() + ttl : 0;
}

static void on_lookup_self(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	struct vault *v = lb_nst_data(ns);
	json_t *d = json_object_get(nr->json, "data");
	json_int_t ttl = json_integer_value(json_object_get(d, "ttl"));
	json_int_t creation = json_integer_value(json_object_get(d, "creation_ttl"));

	(void)ctx;
	if (nr->verdict != LB_NST_OK) {
		char msg[600];
		snprintf(msg, sizeof(msg), "token from %s: lookup-self: %s", v->token_file,
			 nr->err.msg);
		auth_done(v, vault_reply(nr).kind, msg);
		return;
	}
	set_token_times(v, ttl);
	if (creation > 0 && !v->token_capped)
		v->token_ttl = creation;
	if (!json_is_true(json_object_get(d, "renewable")))
		v->token_capped = true;
	auth_done(v, LB_VAULT_OK, NULL);
}

static void on_login(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	struct vault *v = lb_nst_data(ns);
	enum lb_vault_kind kind = vault_reply(nr).kind;
	lb_secbuf *tok = NULL;
	int64_t ttl = 0;
	bool renewable = false;

	(void)ctx;
	if (kind != LB_VAULT_OK || lb_vault_login_parse(nr->json, &tok, &ttl, &renewable) != 0) {
		if (kind == LB_VAULT_ERR && v->method == AUTH_APPROLE && v->secret_id_wrapped) {
			/* A new wrapped secret_id may have been put in the file since. */
			lb_secbuf_free(v->secret_id);
			v->secret_id = NULL;
		}
		auth_done(v, kind == LB_VAULT_OK ? LB_VAULT_ERR : kind,
			  kind == LB_VAULT_OK ? "login reply without a usable auth.client_token"
					      : nr->err.msg);
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
	const lb_secbuf *use;
	lb_err e = {0};
	char path[600];

	if (lb_nst_read_secret_file(v->role_id_file, FILE_CAP, true, &role, &e) ||
	    (!v->secret_id &&
	     lb_nst_read_secret_file(v->secret_id_file, FILE_CAP, true, &sid, &e))) {
		auth_done(v, LB_VAULT_ERR, e.msg);
		return;
	}
	use = v->secret_id ? v->secret_id : sid;
	body = json_pack("{s:s%,s:s%}", "role_id", (const char *)role->data, role->len, "secret_id",
			 (const char *)use->data, use->len);
	if (!body) {
		auth_done(v, LB_VAULT_ERR, "role_id or secret_id is not valid UTF-8");
		return;
	}
	snprintf(path, sizeof(path), "auth/%s/login", v->auth_mount ? v->auth_mount : "approle");
	vault_call(v->ns, "POST", path, body, LB_NST_NOCRED, on_login, NULL);
}

static void on_unwrap(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	struct vault *v = lb_nst_data(ns);
	enum lb_vault_kind kind = vault_reply(nr).kind;
	const char *sid =
	    json_string_value(json_object_get(json_object_get(nr->json, "data"), "secret_id"));
	char msg[600];

	(void)ctx;
	if (kind != LB_VAULT_OK || !sid) {
		snprintf(msg, sizeof(msg), "unwrapping the secret_id in %s: %s", v->secret_id_file,
			 kind == LB_VAULT_OK ? "reply has no data.secret_id" : nr->err.msg);
		auth_done(v, kind == LB_VAULT_OK ? LB_VAULT_ERR : kind, msg);
		return;
	}
	v->secret_id = lb_secbuf_dup(sid, strlen(sid));
	if (!v->secret_id) {
		auth_done(v, LB_VAULT_ERR, "out of secure memory");
		return;
	}
	lb_log(LB_INFO, "vault store %s: unwrapped the secret_id (single use)", lb_nst_name(ns));
	approle_login(v);
}

/* The provider's authenticate(). */
static void vault_authenticate(lb_nst *ns)
{
	struct vault *v = lb_nst_data(ns);
	lb_err e = {0};
	char path[600];

	lb_timer_disarm(v->token_timer);
	v->next_relogin_ms = lb_now_ms() + 5000;
	switch (v->method) {
	case AUTH_TOKEN: {
		lb_secbuf *tok = NULL;

		if (lb_nst_read_secret_file(v->token_file, FILE_CAP, true, &tok, &e)) {
			auth_done(v, LB_VAULT_ERR, e.msg);
			return;
		}
		/* The same token again stays capped; a new one starts afresh. */
		if (!v->token || v->token->len != tok->len ||
		    sodium_memcmp(v->token->data, tok->data, tok->len) != 0)
			v->token_capped = false;
		lb_secbuf_free(v->token);
		v->token = tok;
		vault_call(ns, "GET", "auth/token/lookup-self", NULL, LB_NST_RAWCRED,
			   on_lookup_self, NULL);
		return;
	}
	case AUTH_APPROLE:
		lb_secbuf_free(v->token);
		v->token = NULL;
		v->token_capped = false;
		if (v->secret_id_wrapped && !v->secret_id) {
			lb_secbuf *wrap = NULL;

			if (lb_nst_read_secret_file(v->secret_id_file, FILE_CAP, true, &wrap, &e)) {
				auth_done(v, LB_VAULT_ERR, e.msg);
				return;
			}
			vault_call_x(ns, "POST", "sys/wrapping/unwrap", NULL, LB_NST_NOCRED, wrap,
				     on_unwrap, NULL);
			return;
		}
		approle_login(v);
		return;
	case AUTH_CERT: {
		_cleanup_json_ json_t *body =
		    v->auth_name ? json_pack("{s:s}", "name", v->auth_name) : json_object();

		lb_secbuf_free(v->token);
		v->token = NULL;
		v->token_capped = false;
		snprintf(path, sizeof(path), "auth/%s/login",
			 v->auth_mount ? v->auth_mount : "cert");
		vault_call(ns, "POST", path, body, LB_NST_NOCRED, on_login, NULL);
		return;
	}
	}
}

static void on_renew_self(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	struct vault *v = lb_nst_data(ns);
	int64_t d = json_integer_value(
	    json_object_get(json_object_get(nr->json, "auth"), "lease_duration"));

	(void)ctx;
	if (nr->verdict == LB_NST_FAULT) {
		token_schedule(v); /* after the backoff */
		return;
	}
	if (nr->verdict != LB_NST_OK || d <= 0) {
		lb_log(LB_WARN, "vault store %s: token renewal refused (%s); logging in again",
		       lb_nst_name(ns), nr->err.msg[0] ? nr->err.msg : "no lease_duration");
		lb_nst_cred_refresh(ns);
		return;
	}
	if (d < v->token_ttl) {
		/* Capped at the token's max TTL: the next step is a new login before expiry. */
		v->token_capped = true;
		lb_log(LB_INFO, "vault store %s: token near its max TTL (%llds left)",
		       lb_nst_name(ns), (long long)d);
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
	if (!lb_nst_cred_have(v->ns) || v->token_capped) {
		lb_nst_cred_refresh(v->ns);
		return;
	}
	snprintf(inc, sizeof(inc), "%llds", (long long)v->token_ttl);
	body = json_pack("{s:s}", "increment", inc);
	vault_call(v->ns, "POST", "auth/token/renew-self", body, LB_NST_RAWCRED, on_renew_self,
		   NULL);
}

/* Renew at 2/3 of the remaining TTL; when the token cannot be extended any more, log in
 * again at that point instead (a token from token_file is re-read). */
static void token_schedule(struct vault *v)
{
	uint64_t ms, wait = lb_nst_backoff_wait_ms(v->ns);
	int64_t left;

	lb_timer_disarm(v->token_timer);
	if (!v->token_expire || lb_nst_closing(v->ns))
		return;
	left = v->token_expire - now_s();
	ms = left > 0 ? lb_jitter_ms((uint64_t)left * 1000 * 2 / 3) : 0;
	if (wait > ms)
		ms = wait;
	if (v->token_capped && lb_now_ms() + ms < v->next_relogin_ms)
		ms = v->next_relogin_ms - lb_now_ms(); /* a re-read token may be the same one */
	if (ms < 100)
		ms = 100;
	lb_timer_arm(v->token_timer, ms);
}

/* --- the store --- */

static json_t *vault_health(lb_nst *ns)
{
	struct vault *v = lb_nst_data(ns);
	bool authed = lb_nst_cred_have(ns);
	json_t *h = json_pack("{s:s,s:b}", "address", v->address, "authenticated", authed);

	if (!h)
		return NULL;
	vault_leases_health(v->leases, h);
	if (authed)
		json_object_set_new(h, "token_ttl",
				    json_integer(v->token_expire ? v->token_expire - now_s() : 0));
	return h;
}

static void vault_close(lb_nst *ns)
{
	struct vault *v = lb_nst_data(ns);

	if (v->token_timer)
		lb_timer_disarm(v->token_timer);
	vault_kv_close(ns);
	if (v->leases)
		vault_leases_close(ns);
}

static void vault_free(void *p)
{
	struct vault *v = p;

	if (!v)
		return;
	vault_kv_free(v->kv);
	vault_leases_free(v->leases);
	lb_timer_free(v->token_timer);
	lb_secbuf_free(v->token);
	lb_secbuf_free(v->secret_id);
	free(v->address);
	free(v->ns_header);
	free(v->token_file);
	free(v->role_id_file);
	free(v->secret_id_file);
	free(v->auth_mount);
	free(v->auth_name);
	free(v);
}

static const lb_nst_provider vault_provider = {
    .kind = "vault",
    .unauth_health = "authenticating",
    .read_per_target = false,
    .authenticate = vault_authenticate,
    .prepare = vault_prepare,
    .classify = vault_classify,
    .fetch = vault_kv_dispatch,
    .read_request = vault_kv_read_request,
    .read_parse = vault_kv_read_parse,
    .release = vault_lease_release,
    .health = vault_health,
    .close = vault_close,
    .free = vault_free,
};

static int vault_open(lb_store *s, lb_err *e)
{
	json_t *o = s->cfg->opts, *auth = json_object_get(o, "auth");
	const char *method = json_string_value(json_object_get(auth, "method"));
	_cleanup_free_ char *ca_file = lb_opt_str(o, &lb_vault_schema.opts, "ca_file");
	_cleanup_free_ char *ca_dir = lb_opt_str(o, &lb_vault_schema.opts, "ca_dir");
	_cleanup_free_ char *client_cert = lb_opt_str(o, &lb_vault_schema.opts, "client_cert");
	_cleanup_free_ char *client_key = lb_opt_str(o, &lb_vault_schema.opts, "client_key");
	struct vault *v = calloc(1, sizeof(*v));

	if (!v)
		return lb_fail(e, ENOMEM, "out of memory");
	v->address = lb_opt_str(o, &lb_vault_schema.opts, "address");
	v->ns_header = lb_opt_str(o, &lb_vault_schema.opts, "namespace");
	v->token_file = lb_opt_str(auth, NULL, "token_file");
	v->role_id_file = lb_opt_str(auth, NULL, "role_id_file");
	v->secret_id_file = lb_opt_str(auth, NULL, "secret_id_file");
	v->auth_mount = lb_opt_str(auth, NULL, "mount");
	v->auth_name = lb_opt_str(auth, NULL, "name");
	v->secret_id_wrapped = json_is_true(json_object_get(auth, "secret_id_wrapped"));
	v->kv = vault_kv_new((int)json_integer_value(json_object_get(o, "kv_version")));
	if (!v->kv) {
		vault_free(v);
		return lb_fail(e, ENOMEM, "out of memory");
	}
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
	    (v->method == AUTH_CERT && (!client_cert || !client_key))) {
		vault_free(v);
		return lb_fail(e, 0, "auth method %s is missing its files", method ? method : "?");
	}
	if (lb_nst_open(s, &vault_provider, v,
			&(lb_nst_tls){.ca_file = ca_file,
				      .ca_dir = ca_dir,
				      .client_cert = client_cert,
				      .client_key = client_key},
			e))
		return -1;
	v->ns = s->priv;
	v->token_timer = lb_timer_new(s->env.loop, on_token_timer, v);
	v->leases = vault_leases_new(v->ns, s->name);
	if (!v->token_timer || !v->leases) {
		lb_nst_store_close(s);
		return lb_fail(e, ENOMEM, "out of memory");
	}
	vault_leases_load(v->ns);
	/* Log in (or look the token up) now, so that status shows the outcome early. */
	lb_nst_cred_refresh(v->ns);
	return 0;
}

const lb_store_ops lb_vault_ops = {
    .type = "vault",
    .per_target = true,
    .open = vault_open,
    .fetch = lb_nst_store_fetch,
    .release = lb_nst_store_release,
    .health = lb_nst_store_health,
    .close = lb_nst_store_close,
};
