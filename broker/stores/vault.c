/* HashiCorp Vault store: a provider of the network-store engine (netstore.h).
 *
 * Auth and the token's renewals are vault_auth.c's (the engine replays a request Vault
 * refused with "invalid token" once, after a new login). KV reads are the engine's shared
 * reads (vault_kv.c); any other mount is leased (vault_lease.c). Faults (transport, 5xx,
 * 429, sealed, malformed) put the whole store in the engine's backoff; while it lasts,
 * requests fail at once with the reason. */
#include "vault.h"
#include "cleanup.h"
#include "storeopts.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vault {
	lb_nst *ns;
	char *address, *ns_header;
	struct vault_auth *auth;
	struct vault_kv *kv;
	struct vault_leases *leases;
};

struct vault_kv *vault_kv_of(lb_nst *ns)
{
	return ((struct vault *)lb_nst_data(ns))->kv;
}

struct vault_auth *vault_auth_of(lb_nst *ns)
{
	return ((struct vault *)lb_nst_data(ns))->auth;
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

static void call_start(lb_nst *ns, const char *method, const char *path, json_t *body,
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
	call_start(ns, method, path, body, cred, NULL, cb, ctx);
}

void vault_call_xtoken(lb_nst *ns, const char *method, const char *path, json_t *body,
		       lb_secbuf *xtoken, vault_cb cb, void *ctx)
{
	call_start(ns, method, path, body, LB_NST_NOCRED, xtoken, cb, ctx);
}

static int vault_prepare(lb_nst *ns, const lb_nst_req *req, lb_nst_http *h, lb_err *e)
{
	struct vault *v = lb_nst_data(ns);
	const lb_secbuf *tok = (req->flags & F_XTOKEN) ? req->xcred : vault_auth_token(v->auth);
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

/* --- the store --- */

static json_t *vault_health(lb_nst *ns)
{
	struct vault *v = lb_nst_data(ns);
	bool authed = lb_nst_cred_have(ns);
	json_t *h = json_pack("{s:s,s:b}", "address", v->address, "authenticated", authed);

	if (!h)
		return NULL;
	vault_leases_health(v->leases, h);
	vault_auth_health(v->auth, h);
	return h;
}

static void vault_close(lb_nst *ns)
{
	struct vault *v = lb_nst_data(ns);

	vault_auth_close(v->auth);
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
	vault_auth_free(v->auth);
	free(v->address);
	free(v->ns_header);
	free(v);
}

static const lb_nst_provider vault_provider = {
    .kind = "vault",
    .unauth_health = "authenticating",
    .read_per_target = false,
    .authenticate = vault_authenticate,
    .cred_drop = vault_auth_drop,
    .prepare = vault_prepare,
    .classify = vault_classify,
    .fetch = vault_kv_dispatch,
    .read_request = vault_kv_read_request,
    .read_parse = vault_kv_read_parse,
    .release = vault_kv_release,
    .health = vault_health,
    .close = vault_close,
    .free = vault_free,
};

static int vault_open(lb_store *s, lb_err *e)
{
	json_t *o = s->cfg->opts;
	_cleanup_free_ char *ca_file = lb_opt_str(o, &lb_vault_schema.opts, "ca_file");
	_cleanup_free_ char *ca_dir = lb_opt_str(o, &lb_vault_schema.opts, "ca_dir");
	_cleanup_free_ char *client_cert = lb_opt_str(o, &lb_vault_schema.opts, "client_cert");
	_cleanup_free_ char *client_key = lb_opt_str(o, &lb_vault_schema.opts, "client_key");
	struct vault *v = calloc(1, sizeof(*v));

	if (!v)
		return lb_fail(e, ENOMEM, "out of memory");
	v->address = lb_opt_str(o, &lb_vault_schema.opts, "address");
	v->ns_header = lb_opt_str(o, &lb_vault_schema.opts, "namespace");
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
	v->auth = vault_auth_new(json_object_get(o, "auth"), client_cert && client_key, e);
	if (!v->auth) {
		vault_free(v);
		return -1;
	}
	if (lb_nst_open(s, &vault_provider, v,
			&(lb_nst_tls){.ca_file = ca_file,
				      .ca_dir = ca_dir,
				      .client_cert = client_cert,
				      .client_key = client_key},
			e))
		return -1;
	v->ns = s->priv;
	v->leases = vault_leases_new(v->ns, s->name);
	if (!v->leases) {
		lb_nst_store_close(s);
		return lb_fail(e, ENOMEM, "out of memory");
	}
	if (vault_auth_start(v->auth, v->ns, json_object_get(o, "auth"), e)) {
		lb_nst_store_close(s);
		return -1;
	}
	vault_leases_load(v->ns, vault_auth_static(v->auth));
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
