/* What the gcp-sm and azure-kv stores share: an OAuth bearer token kept in a secure buffer
 * and refreshed before it expires, reads shared by every fetch of one (name, version) while
 * they are in flight, a store-wide capped exponential backoff with jitter after 429/5xx and
 * transport faults, one replay after a 401 with a new token; and the crypto both need (RS256
 * JWTs with OpenSSL, base64url, CRC32C, form encoding). The provider supplies a small table
 * of callbacks. No leases: every store built on this has per_target = false. */
#ifndef LB_GCP_AZURE_COMMON_H
#define LB_GCP_AZURE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "store.h"

typedef struct lbc lbc;

/* One token request, filled by the provider. */
typedef struct lbc_token_req {
	char url[1024];
	lb_secbuf *body;  /* form body (POST); NULL = GET. Owned by the engine afterwards. */
	char header[128]; /* one extra header, e.g. "Metadata-Flavor: Google", or "" */
	char source[32];  /* where the token comes from, for logs and health */
} lbc_token_req;

typedef struct lbc_impl {
	const char *kind; /* "gcp-sm" */
	int (*token_request)(lbc *c, lbc_token_req *tr, char *err, size_t cap);
	/* The URL that reads src; -1 with err for a name the provider cannot have. */
	int (*read_url)(lbc *c, const lb_source *src, char *url, size_t cap, char *err,
			size_t ecap);
	/* A 2xx reply to a result (value, version, structured); -1 with err. */
	int (*read_ok)(lbc *c, const lb_source *src, json_t *j, lb_fetch_result *res, char *err,
		       size_t ecap);
	/* An error reply (4xx but 401/429) to a message naming the provider's error. */
	void (*read_error)(lbc *c, const lb_source *src, long status, json_t *j, char *err,
			   size_t ecap);
	void (*free_impl)(void *impl);
	json_t *(*health_extra)(lbc *c);
} lbc_impl;

int lbc_open(lb_store *s, const lbc_impl *impl, void *ip, const char *ca_file, lb_err *e);
void *lbc_impl_data(lbc *c);
const char *lbc_store_name(lbc *c);
void lbc_fetch(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb, void *ctx);
json_t *lbc_health(lb_store *s);
void lbc_close(lb_store *s);

/* --- helpers --- */

/* URL-safe base64 without padding; returns a malloc'd string (not for secrets). */
char *lbc_b64url(const void *p, size_t len);
/* header.claims.signature with RS256; key_pem is a PEM private key (RSA). */
int lbc_jwt_rs256(const lb_secbuf *key_pem, const char *header_json, const char *claims_json,
		  lb_secbuf **out, char *err, size_t cap);
/* CRC32C (Castagnoli), as GCP's dataCrc32c. */
uint32_t lbc_crc32c(const void *p, size_t len);
/* Append "name=urlencoded(value)" (with '&' when not first) to a secure buffer. */
int lbc_form_add(lb_secbuf **body, const char *name, const void *value, size_t len);
/* A file that holds a secret, trailing whitespace cut; -1 with err. */
int lbc_read_secret_file(const char *path, size_t cap, bool trim, lb_secbuf **out, char *err,
			 size_t ecap);
/* Replace bytes a log line must not carry with spaces; cut at cap. */
void lbc_clean_text(char *s);
/* Does a value parse as a JSON object? (for #field selection) */
bool lbc_is_json_object(const lb_secbuf *v);
/* For strings json_dumps made (jansson's zeroing allocator). */
static inline void lbc_json_freep(char **p)
{
	lb_json_free(*p);
}
#define _cleanup_json_str_ _cleanup_(lbc_json_freep)

#endif
