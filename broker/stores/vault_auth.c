/* The vault provider's auth (see vault.h): token (from a file, looked up), approle (with an
 * optional wrapped secret_id), cert, and the workload logins: jwt and kubernetes (a JWT from
 * a file, re-read at each login) and aws (IAM, vault_auth_aws.c). One token in a secure
 * buffer, renewed at 2/3 of its TTL; when it cannot be extended any more (or Vault refuses
 * it) the store logs in again through the engine (lb_nst_cred_refresh), which replays a
 * refused request once. */
#include "vault.h"
#include "backoff.h"
#include "cleanup.h"
#include "storeopts.h"
#include "log.h"
#include "metrics.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FILE_CAP	 16384
#define JWT_CAP		 (64 * 1024)
#define RELOGIN_MARGIN_S 10
#define K8S_TOKEN_FILE	 "/var/run/secrets/kubernetes.io/serviceaccount/token"

enum auth_method { AUTH_TOKEN, AUTH_APPROLE, AUTH_CERT, AUTH_JWT, AUTH_K8S, AUTH_AWS };
static const char *const method_names[] = {"token", "approle", "cert", "jwt", "kubernetes", "aws"};

struct vault_auth {
	lb_nst *ns;
	enum auth_method method;
	char *token_file, *role_id_file, *secret_id_file, *mount, *name, *role, *jwt_file;
	bool secret_id_wrapped;
	struct vault_aws *aws;

	lb_secbuf *secret_id; /* unwrapped once, kept for later logins */
	lb_secbuf *token;
	bool token_capped;
	int64_t token_expire, token_ttl; /* 0 = never expires */
	/* Leases die with the token they were taken with: when a login brings a different
	 * token (changed), the old token's leases are replaced (vault_leases_orphan) before
	 * old_end, its expiry (now when Vault refused it: refused; 0 = it had none). */
	bool changed, refused;
	int64_t old_end;
	lb_timer *token_timer;
	uint64_t next_relogin_ms;
};

static void token_schedule(struct vault_auth *a);

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* Every file a login reads (token, role_id, secret_id, JWT) is read here, again at each
 * login: the one place that decides how (issue 15 routes it through the root side). */
static int auth_file(const char *path, size_t cap, lb_secbuf **out, lb_err *e)
{
	return lb_nst_read_secret_file(path, cap, true, out, e);
}

/* "jwt login (role web, mount jwt)": what a workload login's errors start with. */
static const char *login_what(const struct vault_auth *a, char *buf, size_t cap)
{
	const char *def = method_names[a->method];

	snprintf(buf, cap, "%s login (role %s, mount %s)", def, a->role ? a->role : "?",
		 a->mount ? a->mount : def);
	return buf;
}

static bool workload(const struct vault_auth *a)
{
	return a->method == AUTH_JWT || a->method == AUTH_K8S || a->method == AUTH_AWS;
}

/* kind: of the reply that ended it; err NULL when authenticated. */
static void auth_done(struct vault_auth *a, enum lb_vault_kind kind, const char *err)
{
	char msg[600];

	if (kind == LB_VAULT_OK) {
		lb_log(LB_INFO, "vault store %s: authenticated, token ttl %llds",
		       lb_nst_name(a->ns), (long long)a->token_ttl);
		lb_nst_cred_ok(a->ns, 0, a->changed);
		if (a->changed)
			vault_leases_orphan(a->ns, a->old_end);
		a->changed = a->refused = false;
		token_schedule(a);
		return;
	}
	lb_secbuf_free(a->token);
	a->token = NULL;
	/* A refused login backs off like a fault, so that waiting renewals and fetches cannot
	 * turn it into a loop; a fault has done so already. */
	snprintf(msg, sizeof(msg), "login failed: %s", err);
	lb_nst_cred_fail(a->ns, kind != LB_VAULT_FAULT, -1, "login", err, msg);
}

static void set_token_times(struct vault_auth *a, int64_t ttl)
{
	a->token_ttl = ttl;
	a->token_expire = ttl > 0 ? now_s() + ttl : 0;
}

static void on_lookup_self(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	struct vault_auth *a = vault_auth_of(ns);
	json_t *d = json_object_get(nr->json, "data");
	json_int_t ttl = json_integer_value(json_object_get(d, "ttl"));
	json_int_t creation = json_integer_value(json_object_get(d, "creation_ttl"));

	(void)ctx;
	if (nr->verdict != LB_NST_OK) {
		char msg[600];
		snprintf(msg, sizeof(msg), "token from %s: lookup-self: %s", a->token_file,
			 nr->err.msg);
		auth_done(a, vault_reply(nr).kind, msg);
		return;
	}
	set_token_times(a, ttl);
	if (creation > 0 && !a->token_capped)
		a->token_ttl = creation;
	if (!json_is_true(json_object_get(d, "renewable")))
		a->token_capped = true;
	auth_done(a, LB_VAULT_OK, NULL);
}

static void on_login(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	struct vault_auth *a = vault_auth_of(ns);
	enum lb_vault_kind kind = vault_reply(nr).kind;
	lb_secbuf *tok = NULL;
	int64_t ttl = 0;
	bool renewable = false;

	(void)ctx;
	if (kind != LB_VAULT_OK || lb_vault_login_parse(nr->json, &tok, &ttl, &renewable) != 0) {
		if (kind == LB_VAULT_ERR && a->method == AUTH_APPROLE && a->secret_id_wrapped) {
			/* A new wrapped secret_id may have been put in the file since. */
			lb_secbuf_free(a->secret_id);
			a->secret_id = NULL;
		}
		const char *why = kind == LB_VAULT_OK
				      ? "login reply without a usable auth.client_token"
				      : nr->err.msg;
		char what[400], msg[600];

		if (workload(a)) {
			snprintf(msg, sizeof(msg), "%s: %s", login_what(a, what, sizeof(what)),
				 why);
			why = msg;
		}
		auth_done(a, kind == LB_VAULT_OK ? LB_VAULT_ERR : kind, why);
		return;
	}
	lb_secbuf_free(a->token);
	a->token = tok;
	a->token_capped = !renewable;
	set_token_times(a, ttl);
	auth_done(a, LB_VAULT_OK, NULL);
}

static void approle_login(struct vault_auth *a)
{
	_cleanup_secbuf_ lb_secbuf *role = NULL, *sid = NULL;
	_cleanup_json_ json_t *body = NULL;
	const lb_secbuf *use;
	lb_err e = {0};
	char path[600];

	if (auth_file(a->role_id_file, FILE_CAP, &role, &e) ||
	    (!a->secret_id && auth_file(a->secret_id_file, FILE_CAP, &sid, &e))) {
		auth_done(a, LB_VAULT_ERR, e.msg);
		return;
	}
	use = a->secret_id ? a->secret_id : sid;
	body = json_pack("{s:s%,s:s%}", "role_id", (const char *)role->data, role->len, "secret_id",
			 (const char *)use->data, use->len);
	if (!body) {
		auth_done(a, LB_VAULT_ERR, "role_id or secret_id is not valid UTF-8");
		return;
	}
	snprintf(path, sizeof(path), "auth/%s/login", a->mount ? a->mount : "approle");
	vault_call(a->ns, "POST", path, body, LB_NST_NOCRED, on_login, NULL);
}

static void on_unwrap(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	struct vault_auth *a = vault_auth_of(ns);
	enum lb_vault_kind kind = vault_reply(nr).kind;
	const char *sid =
	    json_string_value(json_object_get(json_object_get(nr->json, "data"), "secret_id"));
	char msg[600];

	(void)ctx;
	if (kind != LB_VAULT_OK || !sid) {
		snprintf(msg, sizeof(msg), "unwrapping the secret_id in %s: %s", a->secret_id_file,
			 kind == LB_VAULT_OK ? "reply has no data.secret_id" : nr->err.msg);
		auth_done(a, kind == LB_VAULT_OK ? LB_VAULT_ERR : kind, msg);
		return;
	}
	a->secret_id = lb_secbuf_dup(sid, strlen(sid));
	if (!a->secret_id) {
		auth_done(a, LB_VAULT_ERR, "out of secure memory");
		return;
	}
	lb_log(LB_INFO, "vault store %s: unwrapped the secret_id (single use)", lb_nst_name(ns));
	approle_login(a);
}

/* jwt and kubernetes: {"role", "jwt"} with the JWT read from its file now (a CI system or
 * the kubelet replaces it before it expires). */
static void jwt_login(struct vault_auth *a)
{
	_cleanup_secbuf_ lb_secbuf *jwt = NULL;
	_cleanup_json_ json_t *body = NULL;
	const char *file = a->method == AUTH_JWT ? a->jwt_file : a->token_file;
	char what[400], msg[600], path[600];
	lb_err e = {0};

	login_what(a, what, sizeof(what));
	if (auth_file(file, JWT_CAP, &jwt, &e)) {
		snprintf(msg, sizeof(msg), "%s: %s", what, e.msg);
		auth_done(a, LB_VAULT_ERR, msg);
		return;
	}
	/* A JWT is three base64url parts: anything else is not sent (nor logged). */
	for (size_t i = 0; i < jwt->len; i++)
		if (!isalnum(jwt->data[i]) && !strchr("-_.=", jwt->data[i])) {
			snprintf(msg, sizeof(msg), "%s: %s does not hold a JWT", what, file);
			auth_done(a, LB_VAULT_ERR, msg);
			return;
		}
	body = json_pack("{s:s,s:s%}", "role", a->role, "jwt", (const char *)jwt->data, jwt->len);
	if (!body) {
		snprintf(msg, sizeof(msg), "%s: role is not valid UTF-8", what);
		auth_done(a, LB_VAULT_ERR, msg);
		return;
	}
	snprintf(path, sizeof(path), "auth/%s/login",
		 a->mount ? a->mount : method_names[a->method]);
	vault_call(a->ns, "POST", path, body, LB_NST_NOCRED, on_login, NULL);
}

static void on_aws_body(lb_nst *ns, json_t *body, const char *err)
{
	struct vault_auth *a = vault_auth_of(ns);
	char what[400], msg[600], path[600];

	if (!body) {
		snprintf(msg, sizeof(msg), "%s: %s", login_what(a, what, sizeof(what)), err);
		auth_done(a, LB_VAULT_ERR, msg);
		return;
	}
	snprintf(path, sizeof(path), "auth/%s/login", a->mount ? a->mount : "aws");
	vault_call(ns, "POST", path, body, LB_NST_NOCRED, on_login, NULL);
}

/* The provider's authenticate(). */
void vault_authenticate(lb_nst *ns)
{
	struct vault_auth *a = vault_auth_of(ns);
	lb_err e = {0};
	char path[600];

	lb_timer_disarm(a->token_timer);
	a->next_relogin_ms = lb_now_ms() + 5000;
	/* The end of the token being replaced (kept over failed logins). */
	if (a->token)
		a->old_end = a->refused ? now_s() : a->token_expire;
	a->changed = true;
	switch (a->method) {
	case AUTH_TOKEN: {
		lb_secbuf *tok = NULL;

		if (auth_file(a->token_file, FILE_CAP, &tok, &e)) {
			auth_done(a, LB_VAULT_ERR, e.msg);
			return;
		}
		/* The same token again stays capped; a new one starts afresh. */
		a->changed = !a->token || a->token->len != tok->len ||
			     sodium_memcmp(a->token->data, tok->data, tok->len) != 0;
		if (a->changed)
			a->token_capped = false;
		lb_secbuf_free(a->token);
		a->token = tok;
		vault_call(ns, "GET", "auth/token/lookup-self", NULL, LB_NST_RAWCRED,
			   on_lookup_self, NULL);
		return;
	}
	case AUTH_APPROLE:
		lb_secbuf_free(a->token);
		a->token = NULL;
		a->token_capped = false;
		if (a->secret_id_wrapped && !a->secret_id) {
			lb_secbuf *wrap = NULL;

			if (auth_file(a->secret_id_file, FILE_CAP, &wrap, &e)) {
				auth_done(a, LB_VAULT_ERR, e.msg);
				return;
			}
			vault_call_xtoken(ns, "POST", "sys/wrapping/unwrap", NULL, wrap, on_unwrap,
					  NULL);
			return;
		}
		approle_login(a);
		return;
	case AUTH_CERT: {
		_cleanup_json_ json_t *body =
		    a->name ? json_pack("{s:s}", "name", a->name) : json_object();

		lb_secbuf_free(a->token);
		a->token = NULL;
		a->token_capped = false;
		snprintf(path, sizeof(path), "auth/%s/login", a->mount ? a->mount : "cert");
		vault_call(ns, "POST", path, body, LB_NST_NOCRED, on_login, NULL);
		return;
	}
	case AUTH_JWT:
	case AUTH_K8S:
	case AUTH_AWS:
		lb_secbuf_free(a->token);
		a->token = NULL;
		a->token_capped = false;
		if (a->method == AUTH_AWS)
			vault_aws_login(a->aws);
		else
			jwt_login(a);
		return;
	}
}

static void on_renew_self(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	struct vault_auth *a = vault_auth_of(ns);
	int64_t d = json_integer_value(
	    json_object_get(json_object_get(nr->json, "auth"), "lease_duration"));

	(void)ctx;
	lb_metric_inc(LB_M_TOKEN_RENEWALS, lb_nst_name(ns),
		      nr->verdict == LB_NST_OK && d > 0 ? "ok" : "failed");
	if (nr->verdict == LB_NST_FAULT) {
		token_schedule(a); /* after the backoff */
		return;
	}
	if (nr->verdict != LB_NST_OK || d <= 0) {
		lb_log(LB_WARN, "vault store %s: token renewal refused (%s); logging in again",
		       lb_nst_name(ns), nr->err.msg[0] ? nr->err.msg : "no lease_duration");
		if (strstr(nr->err.msg, "invalid token"))
			a->refused = true; /* gone now, and its leases with it */
		lb_nst_cred_refresh(ns);
		return;
	}
	if (d < a->token_ttl) {
		/* Capped at the token's max TTL: the next step is a new login before expiry. */
		a->token_capped = true;
		lb_log(LB_INFO, "vault store %s: token near its max TTL (%llds left)",
		       lb_nst_name(ns), (long long)d);
	}
	a->token_expire = now_s() + d;
	token_schedule(a);
}

static void on_token_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct vault_auth *a = ctx;
	char inc[32];
	_cleanup_json_ json_t *body = NULL;

	(void)loop;
	(void)t;
	if (!lb_nst_cred_have(a->ns) || a->token_capped) {
		lb_nst_cred_refresh(a->ns);
		return;
	}
	snprintf(inc, sizeof(inc), "%llds", (long long)a->token_ttl);
	body = json_pack("{s:s}", "increment", inc);
	vault_call(a->ns, "POST", "auth/token/renew-self", body, LB_NST_RAWCRED, on_renew_self,
		   NULL);
}

/* Renew at 2/3 of the remaining TTL; when the token cannot be extended any more, log in
 * again at that point instead (a token from token_file is re-read), and at least 10 s
 * before its end: the leases taken with it are replaced after the new login, before Vault
 * revokes them with the old token. */
static void token_schedule(struct vault_auth *a)
{
	uint64_t ms, wait = lb_nst_backoff_wait_ms(a->ns);
	int64_t left;

	lb_timer_disarm(a->token_timer);
	if (!a->token_expire || lb_nst_closing(a->ns))
		return;
	left = a->token_expire - now_s();
	ms = left > 0 ? lb_jitter_ms((uint64_t)left * 1000 * 2 / 3) : 0;
	if (a->token_capped)
		ms = left > RELOGIN_MARGIN_S ? (ms < (uint64_t)(left - RELOGIN_MARGIN_S) * 1000
						    ? ms
						    : (uint64_t)(left - RELOGIN_MARGIN_S) * 1000)
					     : 0;
	if (wait > ms)
		ms = wait;
	if (a->token_capped && lb_now_ms() + ms < a->next_relogin_ms)
		ms = a->next_relogin_ms - lb_now_ms(); /* a re-read token may be the same one */
	if (ms < 100)
		ms = 100;
	lb_timer_arm(a->token_timer, ms);
}

/* --- the auth's life --- */

const lb_secbuf *vault_auth_token(struct vault_auth *a)
{
	return a->token;
}

const char *vault_auth_role(struct vault_auth *a)
{
	return a->role ? a->role : "";
}

void vault_auth_drop(lb_nst *ns)
{
	vault_auth_of(ns)->refused = true;
}

bool vault_auth_static(struct vault_auth *a)
{
	return a->method == AUTH_TOKEN;
}

void vault_auth_health(struct vault_auth *a, json_t *h)
{
	if (lb_nst_cred_have(a->ns))
		json_object_set_new(h, "token_ttl",
				    json_integer(a->token_expire ? a->token_expire - now_s() : 0));
}

struct vault_auth *vault_auth_new(json_t *auth, bool client_cert, lb_err *e)
{
	const char *method = json_string_value(json_object_get(auth, "method"));
	struct vault_auth *a = calloc(1, sizeof(*a));

	if (!a) {
		lb_fail(e, ENOMEM, "out of memory");
		return NULL;
	}
	a->token_file = lb_opt_str(auth, NULL, "token_file");
	a->role_id_file = lb_opt_str(auth, NULL, "role_id_file");
	a->secret_id_file = lb_opt_str(auth, NULL, "secret_id_file");
	a->mount = lb_opt_str(auth, NULL, "mount");
	a->name = lb_opt_str(auth, NULL, "name");
	a->role = lb_opt_str(auth, NULL, "role");
	a->jwt_file = lb_opt_str(auth, NULL, "jwt_file");
	a->secret_id_wrapped = json_is_true(json_object_get(auth, "secret_id_wrapped"));
	a->method = AUTH_TOKEN;
	for (size_t i = 0; method && i < sizeof(method_names) / sizeof(method_names[0]); i++)
		if (strcmp(method, method_names[i]) == 0)
			a->method = (enum auth_method)i;
	if (a->method == AUTH_K8S && !a->token_file)
		a->token_file = strdup(K8S_TOKEN_FILE);
	if ((a->method == AUTH_TOKEN && !a->token_file) ||
	    (a->method == AUTH_APPROLE && (!a->role_id_file || !a->secret_id_file)) ||
	    (a->method == AUTH_CERT && !client_cert) || (workload(a) && !a->role) ||
	    (a->method == AUTH_JWT && !a->jwt_file) || (a->method == AUTH_K8S && !a->token_file)) {
		vault_auth_free(a);
		lb_fail(e, 0, "auth method %s is missing its files", method ? method : "?");
		return NULL;
	}
	return a;
}

int vault_auth_start(struct vault_auth *a, lb_nst *ns, json_t *auth, lb_err *e)
{
	a->ns = ns;
	a->token_timer = lb_timer_new(lb_nst_store(ns)->env.loop, on_token_timer, a);
	if (!a->token_timer)
		return lb_fail(e, ENOMEM, "out of memory");
	if (a->method == AUTH_AWS && !(a->aws = vault_aws_new(ns, auth, on_aws_body, e)))
		return -1;
	return 0;
}

void vault_auth_close(struct vault_auth *a)
{
	if (a && a->token_timer)
		lb_timer_disarm(a->token_timer);
	if (a)
		vault_aws_cancel(a->aws);
}

void vault_auth_free(struct vault_auth *a)
{
	if (!a)
		return;
	lb_timer_free(a->token_timer);
	lb_secbuf_free(a->token);
	lb_secbuf_free(a->secret_id);
	vault_aws_free(a->aws);
	free(a->role);
	free(a->jwt_file);
	free(a->token_file);
	free(a->role_id_file);
	free(a->secret_id_file);
	free(a->mount);
	free(a->name);
	free(a);
}
