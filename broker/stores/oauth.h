/* OAuth 2 and JWT helpers of the gcp-sm and azure-kv providers: RS256 JWTs (OpenSSL),
 * base64url, form encoding into secure buffers, and the token endpoint's reply. The token
 * parsing is pure (no I/O, no logs) so that tests/fuzz/fuzz_oauth_json.c reaches it. */
#ifndef LB_OAUTH_H
#define LB_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "cleanup.h"
#include "err.h"
#include "secmem.h"

/* URL-safe base64 without padding; a malloc'd string (not for secrets). */
char *lb_oauth_b64url(const void *p, size_t len);
/* header.claims.signature with RS256; key_pem is a PEM RSA private key. */
int lb_oauth_jwt_rs256(const lb_secbuf *key_pem, const char *header_json, const char *claims_json,
		       lb_secbuf **out, lb_err *e);
/* Append "name=urlencoded(value)" (with '&' when not first). -1 out of secure memory. */
int lb_oauth_form_add(lb_secbuf **body, const char *name, const void *value, size_t len);

/* A token endpoint's 2xx reply: access_token and expires_in (a number, or a string as
 * Azure IMDS sends it). -1 with e when either is missing or unusable. */
int lb_oauth_token_parse(json_t *reply, lb_secbuf **token, int64_t *ttl, lb_err *e);
/* An error reply ({"error":"invalid_grant","error_description":"..."}, or Google's
 * {"error":{"status","message"}}) as one printable line. */
void lb_oauth_error(json_t *reply, long status, char *buf, size_t cap);

/* For strings json_dumps made (jansson's zeroing allocator). */
static inline void lb_oauth_json_freep(char **p)
{
	lb_json_free(*p);
}
#define _cleanup_json_str_ _cleanup_(lb_oauth_json_freep)

#endif

/* --- the bearer token of a provider (gcp-sm, azure-kv) on the network-store engine --- */

#include "netstore.h"

#define LB_OAUTH_TOKEN_REQ 0x100 /* lb_nst_req.flags of the token request */

typedef struct lb_oauth_token {
	lb_secbuf *token;
	int64_t expire, ttl; /* Unix s, s */
	unsigned fetched;
	char source[32];  /* "metadata server": for logs and health */
	char header[128]; /* one extra header of the token request, or "" */
} lb_oauth_token;

/* From authenticate(): send the token request (POST of form when non-NULL, else GET; the
 * engine owns form). The reply ends in lb_nst_cred_ok or lb_nst_cred_fail. */
void lb_oauth_token_fetch(lb_nst *ns, lb_oauth_token *t, const char *url, lb_secbuf *form);
/* From authenticate(), when the request could not be made (a key that cannot be read). */
void lb_oauth_token_fail(lb_nst *ns, lb_oauth_token *t, const char *reason);
/* From prepare(): the token request itself, or a read with "Authorization: Bearer". */
int lb_oauth_prepare(const lb_oauth_token *t, const lb_nst_req *req, lb_nst_http *h, lb_err *e);
/* From classify(): the token reply, or a read's reply (401: refresh and replay; 429 and
 * 5xx: fault; other errors final, named by errfmt; 2xx without a JSON object: fault). */
void lb_oauth_classify(const lb_nst_req *req, const lb_http_resp *resp, lb_nst_reply *r,
		       void (*errfmt)(long status, json_t *j, char *buf, size_t cap));
void lb_oauth_token_drop(lb_oauth_token *t);
/* credentials, authenticated, tokens_fetched, token_ttl */
void lb_oauth_health(const lb_oauth_token *t, json_t *h);
