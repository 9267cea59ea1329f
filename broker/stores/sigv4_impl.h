/* Internal to the SigV4 signer: sigv4.c (canonical request, string to sign, signature) and
 * sigv4_util.c (the bounded string builder, character classes, input checks, SHA-256 and
 * HMAC). */
#ifndef LB_SIGV4_IMPL_H
#define LB_SIGV4_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "cleanup.h"
#include "sigv4.h"

#define SHA256_LEN 32

/* A string that refuses to grow past LB_SIGV4_MAX_CANONICAL. Errors are sticky so that a
 * sequence of appends is checked once; the text may hold the session token, so it is
 * zeroed when freed. */
struct sb {
	char *buf;
	size_t len, cap;
	int err; /* 0, E2BIG or ENOMEM */
};

void sv4_sb_free(struct sb *b);
#define _cleanup_sb_ _cleanup_(sv4_sb_free)
void sv4_sb_add(struct sb *b, const void *p, size_t n);
void sv4_sb_adds(struct sb *b, const char *s);
void sv4_sb_addc(struct sb *b, char c);
int sv4_sb_check(const struct sb *b, const char *what, lb_err *e);
int sv4_sb_steal(struct sb *b, const char *what, char **out, lb_err *e);
void sv4_freez(const char *p);
bool sv4_is_alnum(unsigned char c);
bool sv4_is_unreserved(unsigned char c);
bool sv4_is_tchar(unsigned char c);
bool sv4_is_ctl(unsigned char c);
bool sv4_is_lower_hex(const char *s, size_t n);
int sv4_hex_value(unsigned char c);
void sv4_to_hex(const unsigned char *p, size_t n, char *out);
void sv4_sb_add_encoded(struct sb *b, const char *p, size_t n, bool keep_slash);
int sv4_check_len(const char *s, size_t max, bool allow_empty, const char *what, size_t *len,
		  lb_err *e);
bool sv4_is_timestamp(const char *t);
int sv4_check_scope(const lb_sigv4_request *req, lb_err *e);
int sv4_check_creds_present(const lb_sigv4_request *req, lb_err *e);
int sv4_session_token(const lb_sigv4_request *req, const char **tok, lb_err *e);
int sv4_check_key_id(const lb_sigv4_request *req, lb_err *e);
int sv4_sha256_hex(const void *p, size_t n, char out[LB_SIGV4_HEX_SIZE], lb_err *e);
int sv4_hmac_sha256(const unsigned char *key, size_t keylen, const void *msg, size_t msglen,
		    unsigned char out[SHA256_LEN], lb_err *e);
int sv4_payload_hash(const lb_sigv4_request *req, char out[LB_SIGV4_HEX_SIZE], lb_err *e);

#endif
