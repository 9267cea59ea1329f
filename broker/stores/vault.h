/* Internal to the vault provider: vault.c (options, requests, routing), vault_auth.c (logins,
 * the token and its renewals), vault_kv.c (mounts and shared KV reads) and vault_lease.c (one
 * lease per (target, path), renewals, revocation, the state file). Each file owns its own
 * struct. */
#ifndef LB_VAULT_H
#define LB_VAULT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "netstore.h"
#include "vault_parse.h"

struct vault_auth;
struct vault_kv;
struct vault_leases;

/* The engine's reply as vault_parse.c's: OK, ERR (final) or FAULT. */
lb_vault_reply vault_reply(const lb_nst_reply *r);

typedef void (*vault_cb)(lb_nst *ns, void *ctx, const lb_nst_reply *r);
/* One request to Vault, path after /v1/ (with the query); body may be NULL; cred says
 * which token it carries (LB_NST_CRED: the store's, refused -> log in again, replay once). */
void vault_call(lb_nst *ns, const char *method, const char *path, json_t *body,
		enum lb_nst_cred cred, vault_cb cb, void *ctx);
/* A request carrying xtoken (owned) instead of the store's token (sys/wrapping/unwrap). */
void vault_call_xtoken(lb_nst *ns, const char *method, const char *path, json_t *body,
		       lb_secbuf *xtoken, vault_cb cb, void *ctx);
struct vault_auth *vault_auth_of(lb_nst *ns);
struct vault_kv *vault_kv_of(lb_nst *ns);
struct vault_leases *vault_leases_of(lb_nst *ns);

/* --- vault_auth.c --- */
/* From the store's "auth" options; NULL with e when the method lacks its files
 * (client_cert: the store has a client certificate and key, for the cert method). */
struct vault_auth *vault_auth_new(json_t *auth, bool client_cert, lb_err *e);
/* Once the engine's store is open (the token's timer, the aws login). -1 with e. */
int vault_auth_start(struct vault_auth *a, lb_nst *ns, json_t *auth, lb_err *e);
void vault_auth_free(struct vault_auth *a);
/* The provider's authenticate(). */
void vault_authenticate(lb_nst *ns);
/* The store's token, or NULL. */
const lb_secbuf *vault_auth_token(struct vault_auth *a);
void vault_auth_health(struct vault_auth *a, json_t *h);
/* Closing: stop the token's timer. */
void vault_auth_close(struct vault_auth *a);
/* The login's role ("" for token, approle and cert). */
const char *vault_auth_role(struct vault_auth *a);
/* The provider's cred_drop(): Vault refused the token (it is gone, with its leases). */
void vault_auth_drop(lb_nst *ns);
/* The token comes from a file and stays the same over restarts (method token). */
bool vault_auth_static(struct vault_auth *a);

/* --- vault_auth_aws.c: the aws (IAM) login's body --- */
struct vault_aws;
/* body: the login's JSON (borrowed), or NULL and err says why. */
typedef void (*vault_aws_cb)(lb_nst *ns, json_t *body, const char *err);
struct vault_aws *vault_aws_new(lb_nst *ns, json_t *auth, vault_aws_cb cb, lb_err *e);
/* Get credentials from the AWS chain, sign, then cb (which may run before this returns). */
void vault_aws_login(struct vault_aws *x);
void vault_aws_cancel(struct vault_aws *x);
void vault_aws_free(struct vault_aws *x);

/* --- vault_kv.c --- */
struct vault_kv *vault_kv_new(int kv_version);
void vault_kv_free(struct vault_kv *kv);
/* Route a fetch: look up its mount (once), then a shared KV read or a lease. */
void vault_kv_dispatch(lb_nst *ns, lb_nst_waiter *w);
int vault_kv_read_request(lb_nst *ns, const lb_source *src, const char *target, lb_nst_req *req,
			  lb_err *e);
int vault_kv_read_parse(lb_nst *ns, const lb_source *src, const lb_nst_reply *r,
			lb_fetch_result *res, lb_err *e);
/* "kv1-<keyed hash>": a version for values Vault gives none. */
void vault_kv_version_hash(struct vault_kv *kv, const lb_secbuf *val, char *out, size_t cap);
/* Closing: fail the fetches waiting for a mount lookup. */
void vault_kv_close(lb_nst *ns);

/* A target is gone: its leases and certificates (the provider's release). */
void vault_kv_release(lb_nst *ns, const char *target);

/* --- vault_pki.c: certificates (MOUNT/issue/ROLE); kept in struct vault_kv --- */
struct vault_pki;
struct vault_pki *vault_pki_of(lb_nst *ns);
struct vault_pki *vault_pki_new(void);
void vault_pki_free(struct vault_pki *p);
/* Is path MOUNT/issue/ROLE on that (non-KV) mount? */
bool vault_pki_is_issue(const char *mount, const char *path);
void vault_pki_fetch(lb_nst *ns, lb_nst_waiter *w);
void vault_pki_release(lb_nst *ns, const char *target);
/* Closing: fail the waiters, stop the timers. */
void vault_pki_close(lb_nst *ns);

/* --- vault_lease.c --- */
struct vault_leases *vault_leases_new(lb_nst *ns, const char *store_name);
void vault_leases_free(struct vault_leases *ls);
/* Restore lease ids from the state file (renewed at once). same_token: they were taken
 * with the token the store will use (method token); else they belong to a token of the
 * last run and are replaced after the first login. */
void vault_leases_load(lb_nst *ns, bool same_token);
/* A login brought a new token: every lease taken with an older one is replaced now (its
 * target asked to refresh, the next fetch takes a new lease) and forgotten by
 * old_token_end, when Vault revokes it with its token (0: unknown). */
void vault_leases_orphan(lb_nst *ns, int64_t old_token_end);
void vault_lease_fetch(lb_nst *ns, lb_nst_waiter *w);
void vault_lease_release(lb_nst *ns, const char *target);
/* Closing: fail the waiters, drop reads in flight, save the state file. */
void vault_leases_close(lb_nst *ns);
void vault_leases_health(struct vault_leases *ls, json_t *h);

#endif
